//! The streaming writer: documents in, one finished file out, published atomically.
//!
//! Tokens stream straight into a temporary file beside the target at the page where the
//! TOKENS section will sit; document offsets and loss-mask bits stream into two anonymous
//! temporary files. `finish()` appends those after the tokens, writes the metadata, then the
//! header and section table at the front, fsyncs and renames over the target. Memory stays
//! bounded by the I/O buffers whatever the size of the corpus.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use zerocopy::byteorder::U64;
use zerocopy::IntoBytes;

use crate::error::{Error, Result};

mod file;
mod pipeline;
use crate::format::header::{HEADER_LEN, MINOR, MINOR_COMPRESSED, MINOR_SOURCES};
use crate::format::loss_mask::BitPacker;
use crate::format::metadata::Metadata;
use crate::format::section_table::{DType, SectionEntry, SectionKind, ENTRY_LEN};
use crate::format::tokens::dtype_for_vocab;
use crate::format::zstd_blocks::{self, Compression};
use crate::format::{align_up, crc32, PAGE};
pub use file::random_id;
use file::{pad_to_page, seal_and_publish, Seal, TempTarget};
pub(crate) use file::{write_small_file, Part};
use pipeline::PipelinedFile;

const BUFFER: usize = 1 << 20;
/// The writer's sections: TOKENS, DOC_OFFSETS, LOSS_MASK, DOC_SOURCES, METADATA.
const MAX_WRITER_SECTIONS: u64 = 5;

/// Settings for a [`Writer`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Metadata to store; `vocab_size` chooses the token type.
    pub metadata: Metadata,
    /// A fixed dataset id for reproducible output; random when `None`.
    pub dataset_id: Option<[u8; 16]>,
    /// fsync the file and its directory before and after the rename (default true).
    /// Turning it off leaves durability to the kernel's write-back.
    pub sync: bool,
    /// Store the tokens as zstd blocks (spec 5.6, codec 1); raw when `None`.
    pub compression: Option<Compression>,
}

impl WriterOptions {
    /// Options for a vocabulary of `vocab_size` ids, everything else default.
    pub fn new(vocab_size: u64) -> WriterOptions {
        WriterOptions {
            metadata: Metadata::new(vocab_size),
            dataset_id: None,
            sync: true,
            compression: None,
        }
    }
}

/// What [`Writer::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// Where the file now is.
    pub path: PathBuf,
    /// Documents written.
    pub num_documents: u64,
    /// Tokens written.
    pub num_tokens: u64,
    /// Size of the file.
    pub file_length: u64,
    /// The dataset id in the header.
    pub dataset_id: [u8; 16],
    /// Whether a loss mask was stored.
    pub has_loss_mask: bool,
    /// The source names stored with the documents' source ids, if any.
    pub sources: Option<Vec<String>>,
}

/// A side stream (offsets, mask bits) in an anonymous temporary file, checksummed as it goes.
struct SideStream {
    out: BufWriter<File>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl SideStream {
    fn new(dir: &Path, what: &str) -> Result<SideStream> {
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| Error::io(format!("creating a temporary file for {what} in"), dir, e))?;
        Ok(SideStream {
            out: BufWriter::with_capacity(BUFFER, file),
            crc: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    /// The finished stream, rewound, with its CRC and length.
    fn into_file(self) -> std::io::Result<(File, u32, u64)> {
        let (file, crc, len) = self.into_parts()?;
        Ok((file, crc.finalize(), len))
    }

    /// As [`into_file`](SideStream::into_file), with the CRC state (for combining).
    fn into_parts(self) -> std::io::Result<(File, crc32fast::Hasher, u64)> {
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        Ok((file, self.crc, self.len))
    }
}

/// Source ids (spec 5.5): the names so far and the ids' side stream.
struct SourceIds {
    names: Vec<String>,
    lookup: std::collections::HashMap<String, u16>,
    stream: Option<SideStream>,
}

/// Compressed tokens in the making (spec 5.6): the current block's bytes, and the frames so
/// far in a side stream.
struct BlockWriter {
    settings: Compression,
    cctx: zstd::bulk::Compressor<'static>,
    block_bytes: usize,
    pending: Vec<u8>,
    narrowed: Vec<u8>,
    frame: Vec<u8>,
    frames: SideStream,
    frame_ends: Vec<u64>,
}

impl BlockWriter {
    fn new(settings: Compression, width: u64, dir: &Path) -> Result<BlockWriter> {
        settings.validate()?;
        let mut cctx = zstd::bulk::Compressor::new(settings.level)
            .map_err(|e| Error::io("creating a zstd compressor for", dir, e))?;
        cctx.include_checksum(true)
            .and_then(|()| cctx.include_contentsize(true))
            .map_err(|e| Error::io("setting up a zstd compressor for", dir, e))?;
        let block_bytes = settings.block_tokens as usize * width as usize;
        Ok(BlockWriter {
            settings,
            cctx,
            block_bytes,
            pending: Vec::with_capacity(block_bytes),
            narrowed: Vec::new(),
            frame: Vec::with_capacity(zstd::zstd_safe::compress_bound(block_bytes)),
            frames: SideStream::new(dir, "compressed tokens")?,
            frame_ends: Vec::new(),
        })
    }

    /// Appends narrowed token bytes, compressing every block that fills up.
    fn push(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let take = (self.block_bytes - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == self.block_bytes {
                self.flush_block()?;
            }
        }
        Ok(())
    }

    fn flush_block(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.frame.clear();
        self.cctx
            .compress_to_buffer(&self.pending, &mut self.frame)?;
        self.frames.write(&self.frame)?;
        self.frame_ends.push(self.frames.len);
        self.pending.clear();
        Ok(())
    }

    /// The section's head and block offsets (spec 5.6), for the frames written.
    fn head_and_offsets(&self) -> Vec<u8> {
        let n = self.frame_ends.len() as u64;
        let data_start = zstd_blocks::HEAD + 8 * (n + 1);
        let mut head = Vec::with_capacity(data_start as usize);
        head.extend_from_slice(&self.settings.block_tokens.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&data_start.to_le_bytes());
        for &end in &self.frame_ends {
            head.extend_from_slice(&(data_start + end).to_le_bytes());
        }
        head
    }
}

struct MaskStream {
    stream: SideStream,
    packer: BitPacker,
    scratch: Vec<u8>,
}

/// Writes a tokpack file one document at a time.
///
/// ```no_run
/// use tokpack::{Writer, WriterOptions};
/// let mut w = Writer::create("data.tpk", WriterOptions::new(50_257))?;
/// w.push_document(&[464, 3290, 50_256], None)?;
/// w.push_document(&[40, 1842, 345, 50_256], Some(&[false, true, true, true]))?;
/// let summary = w.finish()?;
/// assert_eq!(summary.num_documents, 2);
/// # Ok::<(), tokpack::Error>(())
/// ```
///
/// Nothing appears at the target path until [`finish`](Writer::finish) succeeds; dropping the
/// writer, or any error, discards what was written.
pub struct Writer {
    path: PathBuf,
    dir: PathBuf,
    options: WriterOptions,
    dtype: DType,
    tokens: PipelinedFile,
    tokens_crc: crc32fast::Hasher,
    blocks: Option<BlockWriter>,
    n_tokens: u64,
    n_docs: u64,
    offsets: SideStream,
    mask: Option<MaskStream>,
    sources: SourceIds,
    /// Whether documents carry source ids: set by the first document.
    sourced: Option<bool>,
    poisoned: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("dtype", &self.dtype)
            .field("n_tokens", &self.n_tokens)
            .field("n_docs", &self.n_docs)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts a dataset that will be published at `path`.
    pub fn create(path: impl AsRef<Path>, options: WriterOptions) -> Result<Writer> {
        let path = path.as_ref().to_path_buf();
        let mut options = options;
        options.metadata.validate(None)?;
        let names = options.metadata.sources.take().unwrap_or_default();
        let lookup = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u16))
            .collect();
        let dtype = dtype_for_vocab(options.metadata.vocab_size)
            .expect("can't fail: validate checked vocab_size");
        let TempTarget {
            path,
            dir,
            file: tmp,
        } = TempTarget::create(&path)?;
        let mut tokens = PipelinedFile::new(tmp)
            .map_err(|e| Error::io("starting the writing thread for", &dir, e))?;
        // The header and table are written last; reserve their page now.
        tokens
            .write_all(&[0u8; PAGE as usize])
            .map_err(|e| Error::io("writing to", &dir, e))?;
        let blocks = options
            .compression
            .map(|c| BlockWriter::new(c, dtype.width(), &dir))
            .transpose()?;
        let mut offsets = SideStream::new(&dir, "document offsets")?;
        offsets
            .write(&0u64.to_le_bytes())
            .map_err(|e| Error::io("writing document offsets to a temporary file in", &dir, e))?;
        Ok(Writer {
            path,
            dir,
            options,
            dtype,
            tokens,
            tokens_crc: crc32fast::Hasher::new(),
            blocks,
            n_tokens: 0,
            n_docs: 0,
            offsets,
            mask: None,
            sources: SourceIds {
                names,
                lookup,
                stream: None,
            },
            sourced: None,
            poisoned: false,
        })
    }

    /// Element type the tokens are stored as.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Documents pushed so far.
    pub fn num_documents(&self) -> u64 {
        self.n_docs
    }

    /// Tokens pushed so far.
    pub fn num_tokens(&self) -> u64 {
        self.n_tokens
    }

    /// The id of source `name` (spec 5.5), declaring it when new. Names are kept in the
    /// order they are first declared (or as given in the options' metadata).
    pub fn source_id(&mut self, name: &str) -> Result<u16> {
        if let Some(&id) = self.sources.lookup.get(name) {
            return Ok(id);
        }
        let mut names = self.sources.names.clone();
        names.push(name.to_owned());
        crate::format::metadata::check_source_names(&names)
            .map_err(|e| Error::InvalidArgument(format!("source {name:?}: {e}")))?;
        let id = self.sources.names.len() as u16;
        self.sources.names.push(name.to_owned());
        self.sources.lookup.insert(name.to_owned(), id);
        Ok(id)
    }

    /// The source names declared so far, id `k` = `names[k]`.
    pub fn source_names(&self) -> &[String] {
        &self.sources.names
    }

    /// Appends one document of source `source` (an id from [`source_id`](Writer::source_id)).
    /// A file's documents either all have a source or none has: mixing the two is refused.
    pub fn push_sourced_document(
        &mut self,
        source: u16,
        tokens: &[u32],
        mask: Option<&[bool]>,
    ) -> Result<()> {
        if usize::from(source) >= self.sources.names.len() {
            return Err(Error::InvalidArgument(format!(
                "source id {source} is not declared ({} sources are)",
                self.sources.names.len()
            )));
        }
        self.check_sourced(true)?;
        self.push(tokens, mask)?;
        self.sourced = Some(true);
        let stream = match &mut self.sources.stream {
            Some(s) => s,
            None => self
                .sources
                .stream
                .insert(SideStream::new(&self.dir, "source ids")?),
        };
        stream.write(&source.to_le_bytes()).map_err(|e| {
            self.poisoned = true;
            Error::io("writing source ids to a temporary file in", &self.dir, e)
        })
    }

    fn check_sourced(&self, sourced: bool) -> Result<()> {
        match self.sourced {
            Some(s) if s != sourced => Err(Error::InvalidArgument(format!(
                "document {} {}, but the documents before it {}: a file's documents all have a source or none has",
                self.n_docs,
                if sourced { "has a source" } else { "has no source" },
                if s { "have one" } else { "have none" },
            ))),
            _ => Ok(()),
        }
    }

    /// Appends one document. `mask`, when given, has one entry per token (`true` = a
    /// training target); documents without a mask are all targets.
    ///
    /// A document with an id `>= vocab_size` or a mask of the wrong length is refused and
    /// nothing of it is written: the writer stays usable. An I/O error poisons the writer.
    pub fn push_document(&mut self, tokens: &[u32], mask: Option<&[bool]>) -> Result<()> {
        self.check_sourced(false)?;
        self.push(tokens, mask)?;
        self.sourced = Some(false);
        Ok(())
    }

    fn push(&mut self, tokens: &[u32], mask: Option<&[bool]>) -> Result<()> {
        if self.poisoned {
            return Err(Error::WriterPoisoned);
        }
        if let Some(m) = mask {
            if m.len() != tokens.len() {
                return Err(Error::MaskLength {
                    document: self.n_docs,
                    tokens: tokens.len(),
                    mask: m.len(),
                });
            }
        }
        match self.write_tokens(tokens) {
            Ok(true) => {}
            Ok(false) => return Err(self.out_of_vocab(tokens)),
            Err(e) => {
                self.poisoned = true;
                return Err(Error::io(
                    "writing tokens to a temporary file in",
                    &self.dir,
                    e,
                ));
            }
        }
        let result = self.write_rest(tokens, mask);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// Range-checks and writes the tokens in one pass over them; `Ok(false)` when an id is
    /// out of range, in which case nothing was written.
    fn write_tokens(&mut self, tokens: &[u32]) -> std::io::Result<bool> {
        let vocab = self.options.metadata.vocab_size;
        if let Some(b) = &mut self.blocks {
            let mut narrowed = std::mem::take(&mut b.narrowed);
            let ok = narrow_into(tokens, vocab, self.dtype, &mut narrowed);
            let pushed = if ok { b.push(&narrowed) } else { Ok(()) };
            b.narrowed = narrowed;
            return pushed.map(|()| ok);
        }
        let crc = &mut self.tokens_crc;
        match self.dtype {
            DType::U8 => self.tokens.append_with(tokens.len(), |out| {
                let ok = narrow_u8(tokens, vocab, out);
                if ok {
                    crc.update(out);
                }
                ok
            }),
            DType::U16 => self.tokens.append_with(2 * tokens.len(), |out| {
                let ok = narrow_u16(tokens, vocab, out);
                if ok {
                    crc.update(out);
                }
                ok
            }),
            _ => {
                let ok = vocab > u64::from(u32::MAX)
                    || tokens
                        .iter()
                        .fold(0u32, |acc, &t| acc | u32::from(u64::from(t) >= vocab))
                        == 0;
                if ok {
                    let bytes = tokens.as_bytes();
                    crc.update(bytes);
                    self.tokens.write_all(bytes)?;
                }
                Ok(ok)
            }
        }
    }

    #[cold]
    fn out_of_vocab(&self, tokens: &[u32]) -> Error {
        let vocab = self.options.metadata.vocab_size;
        let index = tokens
            .iter()
            .position(|&t| u64::from(t) >= vocab)
            .unwrap_or(0);
        Error::TokenOutOfVocab {
            document: self.n_docs,
            index,
            token: tokens.get(index).copied().unwrap_or(0),
            vocab_size: vocab,
        }
    }

    fn write_rest(&mut self, tokens: &[u32], mask: Option<&[bool]>) -> Result<()> {
        let io_err = |what: &str, dir: &Path, e| {
            Error::io(format!("writing {what} to a temporary file in"), dir, e)
        };
        let before = self.n_tokens;
        self.n_tokens += tokens.len() as u64;
        self.n_docs += 1;
        self.offsets
            .write(&self.n_tokens.to_le_bytes())
            .map_err(|e| io_err("document offsets", &self.dir, e))?;

        if mask.is_some() && self.mask.is_none() {
            // First masked document: every token before it was a target.
            let mut stream = MaskStream {
                stream: SideStream::new(&self.dir, "the loss mask")?,
                packer: BitPacker::default(),
                scratch: Vec::new(),
            };
            let mut remaining = before;
            while remaining > 0 {
                let n = remaining.min(8 * BUFFER as u64);
                stream.packer.push_ones(n, &mut stream.scratch);
                stream
                    .stream
                    .write(&stream.scratch)
                    .map_err(|e| io_err("the loss mask", &self.dir, e))?;
                stream.scratch.clear();
                remaining -= n;
            }
            self.mask = Some(stream);
        }
        if let Some(m) = &mut self.mask {
            match mask {
                Some(bits) => m.packer.push(bits, &mut m.scratch),
                None => m.packer.push_ones(tokens.len() as u64, &mut m.scratch),
            }
            m.stream
                .write(&m.scratch)
                .map_err(|e| io_err("the loss mask", &self.dir, e))?;
            m.scratch.clear();
        }
        Ok(())
    }

    /// Writes the remaining sections, the header and the table, syncs, and renames the file
    /// into place. On error nothing is left at the target path.
    pub fn finish(self) -> Result<WriteSummary> {
        if self.poisoned {
            return Err(Error::WriterPoisoned);
        }
        let Writer {
            path,
            dir,
            options,
            dtype,
            tokens,
            tokens_crc,
            blocks,
            n_tokens,
            n_docs,
            offsets,
            mask,
            sources,
            sourced,
            ..
        } = self;
        if sourced == Some(false) && !sources.names.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "sources {:?} are named but the documents have no source ids",
                sources.names
            )));
        }
        let at_tmp = |action: &str, e| Error::io(format!("{action} a temporary file in"), &dir, e);
        let mut tmp = tokens
            .finish()
            .map_err(|e| at_tmp("writing tokens to", e))?;
        let out = tmp.as_file_mut();
        debug_assert_eq!(
            align_up(HEADER_LEN + ENTRY_LEN * MAX_WRITER_SECTIONS),
            Some(PAGE)
        );

        let compressed = blocks.is_some();
        let (tokens_len, tokens_crc, codec) = match blocks {
            None => (n_tokens * dtype.width(), tokens_crc.finalize(), 0),
            Some(mut b) => {
                b.flush_block()
                    .map_err(|e| at_tmp("compressing tokens into", e))?;
                let head = b.head_and_offsets();
                let (mut frames, frames_crc, frames_len) =
                    b.frames.into_parts().map_err(|e| at_tmp("writing", e))?;
                let mut crc = crc32fast::Hasher::new();
                crc.update(&head);
                crc.combine(&frames_crc);
                out.write_all(&head)
                    .map_err(|e| at_tmp("writing compressed tokens to", e))?;
                let copied = std::io::copy(&mut frames, out)
                    .map_err(|e| at_tmp("copying compressed tokens into", e))?;
                if copied != frames_len {
                    let short = std::io::Error::other(format!(
                        "copied {copied} of {frames_len} bytes of compressed tokens"
                    ));
                    return Err(at_tmp("copying into", short));
                }
                (
                    head.len() as u64 + frames_len,
                    crc.finalize(),
                    zstd_blocks::CODEC_ZSTD,
                )
            }
        };
        let mut entries = vec![SectionEntry::new(
            SectionKind::Tokens,
            dtype,
            n_tokens,
            tokens_len,
            tokens_crc,
        )];
        entries[0].offset = U64::new(PAGE);
        entries[0].codec = codec;
        let mut pos = PAGE + tokens_len;

        let mut sides = vec![(SectionKind::DocOffsets, DType::U64, n_docs + 1, offsets)];
        if let Some(mut m) = mask {
            if let Some(b) = m.packer.finish() {
                m.stream
                    .write(&[b])
                    .map_err(|e| at_tmp("writing the loss mask to", e))?;
            }
            sides.push((SectionKind::LossMask, DType::U8, n_tokens, m.stream));
        }
        let has_loss_mask = sides.len() == 2;
        let has_sources = !sources.names.is_empty();
        if has_sources {
            let stream = match sources.stream {
                Some(s) => s,
                None => SideStream::new(&dir, "source ids")?,
            };
            sides.push((SectionKind::DocSources, DType::U16, n_docs, stream));
        }
        for (kind, dtype, count, stream) in sides {
            pad_to_page(out, &mut pos).map_err(|e| at_tmp("writing", e))?;
            let (mut file, crc, len) = stream.into_file().map_err(|e| at_tmp("writing", e))?;
            // File to file: the kernel copies (copy_file_range) without a trip through us.
            let copied = std::io::copy(&mut file, out).map_err(|e| at_tmp("copying into", e))?;
            if copied != len {
                let short = std::io::Error::other(format!(
                    "copied {copied} of {len} bytes of {}",
                    kind.name()
                ));
                return Err(at_tmp("copying into", short));
            }
            let mut entry = SectionEntry::new(kind, dtype, count, len, crc);
            entry.offset = U64::new(pos);
            if kind == SectionKind::DocSources {
                // Readers that do not know source ids read the rest (spec 4).
                entry.flags = zerocopy::byteorder::U16::new(0);
            }
            entries.push(entry);
            pos += len;
        }

        let mut metadata = options.metadata;
        if has_sources {
            metadata.sources = Some(sources.names);
        }
        metadata
            .writer
            .get_or_insert_with(|| format!("tokpack {}", env!("CARGO_PKG_VERSION")));
        let meta = metadata.to_bytes();
        pad_to_page(out, &mut pos).map_err(|e| at_tmp("writing", e))?;
        out.write_all(&meta)
            .map_err(|e| at_tmp("writing metadata to", e))?;
        let meta_len = meta.len() as u64;
        let mut entry = SectionEntry::new(
            SectionKind::Metadata,
            DType::Bytes,
            meta_len,
            meta_len,
            crc32(&meta),
        );
        entry.offset = U64::new(pos);
        entries.push(entry);
        pos += meta_len;

        let dataset_id = match options.dataset_id {
            Some(id) => id,
            None => random_id()?,
        };
        let seal = Seal {
            entries: &entries,
            file_length: pos,
            minor: if compressed {
                MINOR_COMPRESSED
            } else if has_sources {
                MINOR_SOURCES
            } else {
                MINOR
            },
            dataset_id,
            sync: options.sync,
        };
        seal_and_publish(
            TempTarget {
                path: path.clone(),
                dir,
                file: tmp,
            },
            &seal,
        )?;
        Ok(WriteSummary {
            path,
            num_documents: n_docs,
            num_tokens: n_tokens,
            file_length: pos,
            dataset_id,
            has_loss_mask,
            sources: metadata.sources,
        })
    }
}

/// Narrows `tokens` to the little-endian bytes of `dtype` in `out` (resized) and tells
/// whether every id is below `vocab`.
fn narrow_into(tokens: &[u32], vocab: u64, dtype: DType, out: &mut Vec<u8>) -> bool {
    out.clear();
    out.resize(tokens.len() * dtype.width() as usize, 0);
    match dtype {
        DType::U8 => narrow_u8(tokens, vocab, out),
        DType::U16 => narrow_u16(tokens, vocab, out),
        _ => {
            out.copy_from_slice(tokens.as_bytes());
            vocab > u64::from(u32::MAX) || tokens.iter().all(|&t| u64::from(t) < vocab)
        }
    }
}

/// Narrows `tokens` to bytes in `out` (one per token) and tells whether every id is below
/// `vocab`, in one pass.
fn narrow_u8(tokens: &[u32], vocab: u64, out: &mut [u8]) -> bool {
    let limit = u32::try_from(vocab).expect("can't fail: a u8 vocabulary fits u32");
    let mut out_of_range = 0u32;
    for (d, &t) in out.iter_mut().zip(tokens) {
        out_of_range |= u32::from(t >= limit);
        *d = t as u8;
    }
    out_of_range == 0
}

/// Narrows `tokens` to little-endian `u16` in `out` (two bytes per token) and tells whether
/// every id is below `vocab`, in one pass.
fn narrow_u16(tokens: &[u32], vocab: u64, out: &mut [u8]) -> bool {
    let limit = u32::try_from(vocab).expect("can't fail: a u16 vocabulary fits u32");
    let mut out_of_range = 0u32;
    for (d, &t) in out.chunks_exact_mut(2).zip(tokens) {
        out_of_range |= u32::from(t >= limit);
        d.copy_from_slice(&(t as u16).to_le_bytes());
    }
    out_of_range == 0
}

/// Writes `dataset` again at `path` with its tokens raw (`compression` `None`) or as zstd
/// blocks (spec 5.6): the same documents, loss mask, source ids, metadata and dataset id, so
/// plans and overlays made for one file are valid for the other.
pub fn rewrite<D: AsRef<[u8]>>(
    dataset: &crate::Dataset<D>,
    path: impl AsRef<Path>,
    compression: Option<Compression>,
    sync: bool,
) -> Result<WriteSummary> {
    let mut metadata = dataset.metadata().clone();
    // The writer records itself.
    metadata.writer = None;
    let options = WriterOptions {
        metadata,
        dataset_id: Some(dataset.dataset_id()),
        sync,
        compression,
    };
    let mut w = Writer::create(path, options)?;
    copy_documents(dataset, &mut w, |_| {})?;
    w.finish()
}

/// Pushes every document of `dataset` into `writer` with its loss mask and its source (by
/// name), after `transform` has had its token ids.
pub(crate) fn copy_documents<D: AsRef<[u8]>>(
    dataset: &crate::Dataset<D>,
    writer: &mut Writer,
    mut transform: impl FnMut(&mut [u32]),
) -> Result<()> {
    let (mut scratch, mut ids, mut bits, mut mask) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for d in 0..dataset.num_documents() {
        ids.clear();
        dataset.document_in(d, &mut scratch)?.extend_u32(&mut ids);
        transform(&mut ids);
        let m = if dataset.has_loss_mask() {
            bits.resize(ids.len(), 0);
            dataset.loss_mask_into(dataset.document_range(d)?.start, &mut bits)?;
            mask.clear();
            mask.extend(bits.iter().map(|&b| b == 1));
            Some(mask.as_slice())
        } else {
            None
        };
        match dataset.document_source_name(d)? {
            Some(name) => {
                let id = writer.source_id(name)?;
                writer.push_sourced_document(id, &ids, m)?;
            }
            None => writer.push_document(&ids, m)?,
        }
    }
    Ok(())
}
