//! From raw text to a dataset: real tokenizers (tiktoken encodings embedded in
//! `tiktoken-rs`, Hugging Face `tokenizer.json` files), input readers (JSON lines, plain
//! text, chat, gzip and zstd), a chat template with a loss policy, and a build pipeline that
//! tokenizes on all cores and writes in input order.

mod build;
mod chat;
mod input;
mod tokenizer;

pub use build::{build_text, BuildReport, TextBuildOptions};
pub use chat::{ChatTemplate, LossPolicy, Message};
pub use input::{detect_format, open_maybe_compressed, InputFormat, Record, RecordReader};
pub use tokenizer::Tokenizer;
