//! # tokpack
//!
//! A single-file, memory-mapped container for tokenized training data. One `.tpk` file holds
//! the token stream (u8, u16 or u32 ids, the narrowest that fits the vocabulary), document
//! boundaries, an optional one-bit-per-token loss mask and JSON metadata, in page-aligned,
//! checksummed sections. The byte layout is specified in `spec/FORMAT.md`; this crate is its
//! reference implementation.
//!
//! ## The types
//!
//! - [`Writer`] streams documents into a new file and publishes it atomically.
//! - [`Dataset`] reads a file: [`Dataset::open`] maps it and checks its structure in time
//!   independent of its size; [`Dataset::verify`] reads every byte and checks every checksum.
//! - [`TokenSlice`] and [`TypedView`] give tokens as typed slices straight out of the mapping.
//! - [`Error`] is the one error type; format errors carry the spec's [`ErrorCode`].
//!
//! ## Write, then map and read
//!
//! ```
//! use tokpack::{Dataset, Writer, WriterOptions};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("data.tpk");
//! let mut writer = Writer::create(&path, WriterOptions::new(50_257))?;
//! writer.push_document(&[464, 2068, 7586, 50_256], None)?;
//! writer.push_document(&[1212, 318, 50_256], Some(&[false, true, true]))?;
//! writer.finish()?;
//!
//! let ds = Dataset::open(&path)?;
//! assert_eq!(ds.num_documents(), 2);
//! assert_eq!(ds.dtype().name(), "u16");
//! let doc = ds.typed::<u16>()?.document(1)?; // &[u16] into the mapping, no copy
//! assert_eq!(doc, &[1212, 318, 50_256]);
//! assert_eq!(ds.document_loss_mask(1)?, vec![0, 1, 1]);
//! ds.verify()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Memory and the page cache
//!
//! [`Dataset::open`] maps the file read-only and reads only the header, the section table,
//! the metadata and three single values; the rest is paged in by the kernel as it is
//! touched, and shared between every process that maps the same file (DataLoader workers
//! need no copies). Sections start on 4096-byte boundaries, so typed views are aligned.
//!
//! ## Quirks
//!
//! - Little-endian hosts only: typed views are the file's bytes as they are.
//! - [`Dataset::from_bytes`] needs bytes aligned to 8 (a mapping is; a `Vec<u8>` may not
//!   be): copy into [`AlignedBytes`] first.
//! - Never truncate or rewrite a mapped file in place: tokpack's writers publish by rename,
//!   which keeps existing mappings intact; an in-place truncation makes reads of the lost
//!   pages fault (`SIGBUS`).

#![deny(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(target_endian = "big")]
compile_error!("tokpack reads its little-endian sections as typed slices and supports little-endian targets only");

mod aligned;
mod corpus;
mod error;
pub mod format;
pub mod interop;
mod manifest;
mod mmap;
mod overlay;
mod plan;
mod read;
mod rows;
mod shuffle;
mod sources;
pub mod stats;
pub mod text;
mod write;

pub use aligned::AlignedBytes;
pub use corpus::{AnyCorpus, Corpus};
pub use error::{Error, ErrorCode, FormatError, Result};
pub use format::loss_mask::LossMask;
pub use format::metadata::Metadata;
pub use format::overlay::{OverlayInfo, ViewBinding};
pub use format::plan::{LongDocs, PlanInfo, Strategy, Tail};
pub use format::section_table::{DType, SectionEntry, SectionKind};
pub use format::tokens::{Token, TokenSlice};
pub use format::zstd_blocks::{BlockLayout, Compression};
pub use manifest::{
    DocumentSink, Manifest, ManifestFile, ShardEntry, ShardedWriter, MANIFEST_FORMAT,
};
pub use mmap::MappedFile;
pub use overlay::{
    check_disjoint, view_binding, wrap_eos, CrossRows, InsertionIndex, Overlay, OverlayBuilder,
    PackedOverlay, PlacementReport, RandomOptions, SplitMix64,
};
pub use plan::{
    make_mixture, make_plan, make_plan_for_sources, plan_from_offsets, MixtureOptions,
    MixtureSource, PackedPlan, Plan, PlanOptions,
};
pub use read::{Dataset, TypedView, VerifyReport};
pub use rows::{RowBuffers, RowOptions, Rows, IGNORE_INDEX};
pub use shuffle::{EpochOrder, RankOrder};
pub use sources::{source_counts, DocSources, Filtered, SourceCount};
pub use write::{random_id as random_dataset_id, rewrite, WriteSummary, Writer, WriterOptions};
