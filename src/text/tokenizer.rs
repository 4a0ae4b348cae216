//! Tokenizers that ship with the binary or load from disk; nothing is fetched at run time.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A tokenizer: one of tiktoken's encodings, or a Hugging Face `tokenizer.json`.
#[derive(Clone)]
pub enum Tokenizer {
    /// A tiktoken encoding embedded in `tiktoken-rs`.
    Tiktoken {
        /// `cl100k_base`, `o200k_base` or `r50k_base`.
        name: &'static str,
        /// The encoder.
        bpe: Arc<tiktoken_rs::CoreBPE>,
        /// Ids are below this (special tokens included).
        vocab_size: u64,
        /// `<|endoftext|>`.
        eos: u32,
    },
    /// A Hugging Face tokenizer loaded from a `tokenizer.json` file.
    HuggingFace {
        /// The file's name, stored in the metadata.
        name: String,
        /// The tokenizer.
        tokenizer: Arc<tokenizers::Tokenizer>,
        /// Ids are below this (added tokens included).
        vocab_size: u64,
        /// End-of-sequence id, if the vocabulary has a recognisable one.
        eos: Option<u32>,
        /// Beginning-of-sequence id, if the vocabulary has a recognisable one.
        bos: Option<u32>,
    },
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.name())
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

const EOS_NAMES: [&str; 5] = ["<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>", "[SEP]"];
const BOS_NAMES: [&str; 4] = ["<s>", "<bos>", "<|begin_of_text|>", "[CLS]"];

impl Tokenizer {
    /// The tiktoken encodings built in: name, vocabulary size, end-of-text id.
    pub const BUILTIN: [(&'static str, u64, u32); 3] = [
        ("cl100k_base", 100_277, 100_257),
        ("o200k_base", 200_019, 199_999),
        ("r50k_base", 50_257, 50_256),
    ];

    /// A built-in encoding by name (`cl100k_base`, `o200k_base`, `r50k_base`), or a
    /// `tokenizer.json` file by path.
    pub fn load(name_or_path: &str) -> Result<Tokenizer> {
        if let Some(&(name, vocab_size, eos)) =
            Tokenizer::BUILTIN.iter().find(|b| b.0 == name_or_path)
        {
            let bpe = match name {
                "cl100k_base" => tiktoken_rs::cl100k_base(),
                "o200k_base" => tiktoken_rs::o200k_base(),
                _ => tiktoken_rs::r50k_base(),
            }
            .map_err(|e| Error::InvalidArgument(format!("loading the {name} encoding: {e}")))?;
            return Ok(Tokenizer::Tiktoken {
                name,
                bpe: Arc::new(bpe),
                vocab_size,
                eos,
            });
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            let names: Vec<&str> = Tokenizer::BUILTIN.iter().map(|b| b.0).collect();
            return Err(Error::InvalidArgument(format!(
                "tokenizer {name_or_path:?} is neither a built-in encoding ({}) nor a tokenizer.json file",
                names.join(", ")
            )));
        }
        let tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|e| {
            Error::InvalidArgument(format!(
                "{}: not a usable tokenizer.json: {e}",
                path.display()
            ))
        })?;
        let vocab_size = tokenizer.get_vocab_size(true) as u64;
        let find = |names: &[&str]| names.iter().find_map(|n| tokenizer.token_to_id(n));
        let eos = find(&EOS_NAMES);
        let bos = find(&BOS_NAMES);
        let name = path.file_name().map_or_else(
            || name_or_path.to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Tokenizer::HuggingFace {
            name,
            tokenizer: Arc::new(tokenizer),
            vocab_size,
            eos,
            bos,
        })
    }

    /// The name stored in a dataset's metadata.
    pub fn name(&self) -> &str {
        match self {
            Tokenizer::Tiktoken { name, .. } => name,
            Tokenizer::HuggingFace { name, .. } => name,
        }
    }

    /// Every id is below this.
    pub fn vocab_size(&self) -> u64 {
        match self {
            Tokenizer::Tiktoken { vocab_size, .. } | Tokenizer::HuggingFace { vocab_size, .. } => {
                *vocab_size
            }
        }
    }

    /// The end-of-sequence id, if known.
    pub fn eos_id(&self) -> Option<u32> {
        match self {
            Tokenizer::Tiktoken { eos, .. } => Some(*eos),
            Tokenizer::HuggingFace { eos, .. } => *eos,
        }
    }

    /// The beginning-of-sequence id, if known (tiktoken encodings have none).
    pub fn bos_id(&self) -> Option<u32> {
        match self {
            Tokenizer::Tiktoken { .. } => None,
            Tokenizer::HuggingFace { bos, .. } => *bos,
        }
    }

    /// Token ids of `text`, with no special tokens added and special-token text treated as
    /// ordinary text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            Tokenizer::Tiktoken { bpe, .. } => Ok(bpe.encode_ordinary(text)),
            Tokenizer::HuggingFace {
                tokenizer, name, ..
            } => tokenizer
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| Error::InvalidArgument(format!("tokenizer {name}: {e}"))),
        }
    }

    /// The text of `ids`; bytes that do not form valid UTF-8 (a token cut in the middle of
    /// a character) come out as U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            Tokenizer::Tiktoken { bpe, .. } => {
                let bytes: Vec<u8> = bpe
                    ._decode_native_and_split(ids.to_vec())
                    .flatten()
                    .collect();
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Tokenizer::HuggingFace {
                tokenizer, name, ..
            } => tokenizer
                .decode(ids, false)
                .map_err(|e| Error::InvalidArgument(format!("tokenizer {name}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_encodings_round_trip_and_know_their_ids() {
        for (name, vocab, eos) in Tokenizer::BUILTIN {
            let t = Tokenizer::load(name).unwrap();
            assert_eq!((t.vocab_size(), t.eos_id()), (vocab, Some(eos)));
            let text = "Hello, world! Ünïcödé <|endoftext|> 12345";
            let ids = t.encode(text).unwrap();
            assert!(ids.iter().all(|&i| u64::from(i) < vocab));
            assert!(
                !ids.contains(&eos),
                "{name}: special text must not become the special id"
            );
            assert_eq!(t.decode(&ids).unwrap(), text);
        }
        assert_eq!(
            Tokenizer::load("cl100k_base")
                .unwrap()
                .encode("hello world")
                .unwrap(),
            vec![15339, 1917]
        );
    }

    #[test]
    fn unknown_names_are_refused_with_the_choices() {
        let e = Tokenizer::load("gpt5_base").unwrap_err().to_string();
        assert!(e.contains("cl100k_base") && e.contains("o200k_base"), "{e}");
    }
}
