//! Importers and exporters for the layouts other trainers read.
//!
//! - [`megatron`]: Megatron-Core indexed datasets, `X.bin` + `X.idx`. Every Megatron
//!   document (a range of sequences) becomes one tokpack document; export writes one sequence
//!   per document.
//! - [`nanogpt`]: nanoGPT's headerless `uint16` token file, documents ended by an EOS id.
//! - [`olmo`]: OLMo-core's headerless token arrays (named `.npy`, written with `np.memmap`,
//!   no npy header) with an optional parallel label mask (`np.bool_`, one byte per token,
//!   true = target), documents found by EOS and/or BOS ids.
//!
//! Imports stream: the foreign files are mapped, each document is decoded into one reused
//! buffer and pushed into a [`Writer`], so memory is bounded by the largest
//! document, not by the corpus. Several inputs can be pushed into one writer in turn.
//! Foreign files are untrusted input: every count, pointer and length is checked against
//! the real file sizes before use, and every error names the file and the byte offset.
//!
//! Exports read a [`Dataset`](crate::Dataset) document by document and write each output
//! through a temporary file beside it, published by rename only when every file is
//! complete; on error nothing is left at the output paths. They check document offsets as
//! they read and that every id fits the foreign type, but not checksums: call
//! [`Dataset::verify`](crate::Dataset::verify) first (the `tokpack export` command does).
//!
//! ```
//! use tokpack::interop::{megatron, nanogpt};
//! use tokpack::{Dataset, Writer, WriterOptions};
//! # let dir = tempfile::tempdir()?;
//! # let tpk = dir.path().join("corpus.tpk");
//! let mut w = Writer::create(&tpk, WriterOptions::new(50_257))?;
//! w.push_document(&[464, 2068, 50_256], None)?;
//! w.push_document(&[40, 1842, 50_256], None)?;
//! w.finish()?;
//!
//! let ds = Dataset::open(&tpk)?;
//! megatron::export(&ds, &dir.path().join("corpus"), false)?; // corpus.bin + corpus.idx
//! nanogpt::export(&ds, &dir.path().join("train.bin"), 50_256, false)?;
//!
//! let back = dir.path().join("back.tpk");
//! let mut w = Writer::create(&back, WriterOptions::new(50_257))?;
//! let report = megatron::import_into(&mut w, &dir.path().join("corpus"))?;
//! assert_eq!(report.documents, 2);
//! w.finish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::Writer;

pub mod megatron;
pub mod nanogpt;
pub mod olmo;
mod raw;

/// What an import added to the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Documents pushed.
    pub documents: u64,
    /// Tokens pushed.
    pub tokens: u64,
    /// Things the user should know: data that was not carried over, a last document
    /// without EOS, ... Empty when the input mapped one to one.
    pub notes: Vec<String>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Documents written.
    pub documents: u64,
    /// Tokens written, EOS ids added by the export included.
    pub tokens: u64,
    /// The files written, in the order they were published.
    pub files: Vec<PathBuf>,
    /// Things the user should know: a loss mask that the format cannot carry, EOS ids
    /// that were added, ... Empty when the dataset mapped one to one.
    pub notes: Vec<String>,
}

/// An unsigned element type of a headerless token or mask array (nanoGPT, OLMo-core).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RawDType {
    /// `uint8`.
    U8,
    /// `uint16`.
    U16,
    /// `uint32`.
    U32,
    /// `uint64`.
    U64,
}

impl RawDType {
    /// The smallest type that holds `vocab_size - 1`, as OLMo-core chooses it
    /// (`NumpyDatasetConfig.get_dtype`); `U64` above 2^32.
    pub fn for_vocab(vocab_size: u64) -> RawDType {
        match vocab_size {
            0..=256 => RawDType::U8,
            257..=65_536 => RawDType::U16,
            65_537..=4_294_967_296 => RawDType::U32,
            _ => RawDType::U64,
        }
    }

    /// Bytes per element.
    pub fn width(self) -> u64 {
        match self {
            RawDType::U8 => 1,
            RawDType::U16 => 2,
            RawDType::U32 => 4,
            RawDType::U64 => 8,
        }
    }

    /// The largest value the type holds.
    pub fn max(self) -> u64 {
        match self {
            RawDType::U8 => u64::from(u8::MAX),
            RawDType::U16 => u64::from(u16::MAX),
            RawDType::U32 => u64::from(u32::MAX),
            RawDType::U64 => u64::MAX,
        }
    }

    /// numpy's name: `"uint16"`.
    pub fn name(self) -> &'static str {
        match self {
            RawDType::U8 => "uint8",
            RawDType::U16 => "uint16",
            RawDType::U32 => "uint32",
            RawDType::U64 => "uint64",
        }
    }

    /// Parses `u8`/`uint8`, `u16`/`uint16`, `u32`/`uint32`, `u64`/`uint64`.
    pub fn from_name(name: &str) -> Option<RawDType> {
        match name {
            "u8" | "uint8" => Some(RawDType::U8),
            "u16" | "uint16" => Some(RawDType::U16),
            "u32" | "uint32" => Some(RawDType::U32),
            "u64" | "uint64" => Some(RawDType::U64),
            _ => None,
        }
    }
}

impl std::fmt::Display for RawDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How documents are found in a flat token array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundaries {
    /// Each EOS ends a document and stays its last token (nanoGPT, OLMo-core's default).
    Eos(u32),
    /// Each BOS starts a document and stays its first token.
    Bos(u32),
    /// A document ends at an EOS that is directly followed by a BOS (OLMo-core's rule when
    /// both ids are given); other EOS and BOS ids stay inside their document.
    EosBos {
        /// End-of-sequence id.
        eos: u32,
        /// Beginning-of-sequence id.
        bos: u32,
    },
}

impl Boundaries {
    /// From optional ids; `None` when both are absent.
    pub fn new(eos: Option<u32>, bos: Option<u32>) -> Option<Boundaries> {
        match (eos, bos) {
            (Some(eos), Some(bos)) => Some(Boundaries::EosBos { eos, bos }),
            (Some(eos), None) => Some(Boundaries::Eos(eos)),
            (None, Some(bos)) => Some(Boundaries::Bos(bos)),
            (None, None) => None,
        }
    }

    fn eos(self) -> Option<u32> {
        match self {
            Boundaries::Eos(eos) | Boundaries::EosBos { eos, .. } => Some(eos),
            Boundaries::Bos(_) => None,
        }
    }

    fn bos(self) -> Option<u32> {
        match self {
            Boundaries::Bos(bos) | Boundaries::EosBos { bos, .. } => Some(bos),
            Boundaries::Eos(_) => None,
        }
    }
}

/// An error in a foreign file: the file, the byte offset, what is wrong.
fn bad_at(path: &Path, offset: u64, what: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{} at byte {offset}: {what}", path.display()))
}

/// `path` with `ext` appended (`X` -> `X.ext`), keeping any dots already in the name.
fn with_suffix(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// Pushes one document, naming the foreign file and byte offset of an id at or above the
/// vocabulary size; `byte_of(i)` is where the document's token `i` is in `path`.
fn push_document(
    writer: &mut Writer,
    tokens: &[u32],
    mask: Option<&[bool]>,
    path: &Path,
    byte_of: impl Fn(usize) -> u64,
) -> Result<()> {
    match writer.push_document(tokens, mask) {
        Err(Error::TokenOutOfVocab {
            index,
            token,
            vocab_size,
            ..
        }) => Err(bad_at(
            path,
            byte_of(index),
            format!("token id {token} is not below the vocabulary size {vocab_size}"),
        )),
        other => other,
    }
}

/// A file being written through a temporary file in its directory.
struct PendingFile {
    target: PathBuf,
    out: BufWriter<NamedTempFile>,
}

impl PendingFile {
    fn create(target: &Path) -> Result<PendingFile> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().ok_or_else(|| {
            Error::InvalidArgument(format!("output path {} has no file name", target.display()))
        })?;
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tokpack-tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(&dir)
            .map_err(|e| Error::io("creating a temporary file in", &dir, e))?;
        Ok(PendingFile {
            target: target.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, tmp),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io("writing a temporary file for", &self.target, e))
    }

    /// Flushes and (if asked) syncs; the file is still temporary.
    fn complete(self, sync: bool) -> Result<(NamedTempFile, PathBuf)> {
        let target = self.target;
        let tmp = self
            .out
            .into_inner()
            .map_err(|e| Error::io("writing a temporary file for", &target, e.into_error()))?;
        if sync {
            tmp.as_file()
                .sync_all()
                .map_err(|e| Error::io("syncing a temporary file for", &target, e))?;
        }
        Ok((tmp, target))
    }
}

/// Completes every file, then renames them into place in order. If a rename fails, the
/// files already renamed are removed again and the rest are discarded.
fn publish(files: Vec<PendingFile>, sync: bool) -> Result<Vec<PathBuf>> {
    let mut completed = Vec::with_capacity(files.len());
    for f in files {
        completed.push(f.complete(sync)?);
    }
    let mut published: Vec<PathBuf> = Vec::with_capacity(completed.len());
    for (tmp, target) in completed {
        if let Err(e) = tmp.persist(&target) {
            for p in &published {
                let _ = std::fs::remove_file(p);
            }
            return Err(Error::io("renaming the finished file to", &target, e.error));
        }
        published.push(target);
    }
    if sync {
        let mut dirs: Vec<PathBuf> = published
            .iter()
            .map(|p| match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        dirs.dedup();
        for d in dirs {
            File::open(&d)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io("syncing directory", &d, e))?;
        }
    }
    Ok(published)
}

/// A note on a loss mask that an export leaves behind, or `None` when it has no zero bit.
fn mask_dropped_note<D: AsRef<[u8]>>(ds: &crate::Dataset<D>, format: &str) -> Option<String> {
    let mask = ds.loss_mask()?;
    let masked = mask.len() - mask.count_ones(0, mask.len());
    (masked > 0).then(|| {
        format!(
            "the loss mask was not exported ({format} has no place for it): {masked} of {} tokens were masked out",
            mask.len()
        )
    })
}
