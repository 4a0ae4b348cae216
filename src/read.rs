//! The reader: [`Dataset`] over any bytes, opened cheaply and verified on request.

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use zerocopy::FromBytes;

use crate::error::{Error, ErrorCode, Result};
use crate::format::header::Header;
use crate::format::loss_mask::{self, LossMask};
use crate::format::metadata::Metadata;
use crate::format::section_table::{self, DType, SectionEntry, Sections};
use crate::format::tokens::{Token, TokenSlice};
use crate::format::zstd_blocks::{BlockLayout, CODEC_ZSTD};
use crate::format::{doc_offsets, doc_sources};
use crate::mmap::MappedFile;

/// A tokpack dataset: the token stream, its documents, its loss mask and metadata.
///
/// Generic over where its bytes live: [`Dataset::open`] maps a file, [`Dataset::from_bytes`]
/// takes any `AsRef<[u8]>` (for tests and fuzzing, use [`AlignedBytes`](crate::AlignedBytes)).
/// Opening checks the structure without reading the data; [`Dataset::verify`] reads it all.
#[derive(Debug)]
pub struct Dataset<D = MappedFile> {
    data: D,
    header: Header,
    entries: Vec<SectionEntry>,
    sections: Sections,
    dtype: DType,
    n_tokens: u64,
    metadata: Metadata,
    blocks: Option<Box<Blocks>>,
}

/// How many decompressed blocks a dataset keeps (spec 5.6 allows a small cache).
const CACHED_BLOCKS: usize = 8;

/// Compressed tokens (codec 1): the layout and the most recently used decompressed blocks.
struct Blocks {
    layout: BlockLayout,
    cache: Mutex<BlockCache>,
}

struct BlockCache {
    dctx: zstd::bulk::Decompressor<'static>,
    /// `(block, bytes)`, most recent first.
    recent: std::collections::VecDeque<(u64, Arc<Vec<u8>>)>,
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

fn new_dctx(at: u64) -> Result<zstd::bulk::Decompressor<'static>> {
    zstd::bulk::Decompressor::new().map_err(|e| {
        Error::io(
            "creating a zstd decompressor for",
            format!("TOKENS at byte {at}"),
            e,
        )
    })
}

/// Appends the little-endian tokens in `bytes` to `out` as `u32`.
fn extend_from_le(bytes: &[u8], dtype: DType, out: &mut Vec<u32>) {
    match dtype {
        DType::U8 => out.extend(bytes.iter().map(|&b| u32::from(b))),
        DType::U16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))),
        ),
        _ => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
    }
}

/// What [`Dataset::verify`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyReport {
    /// Sections whose checksum matched.
    pub sections: usize,
    /// Bytes read.
    pub bytes: u64,
}

impl Dataset<MappedFile> {
    /// Maps the file at `path` and checks its structure (spec 6.1): O(number of sections),
    /// no scan of the data.
    pub fn open(path: impl AsRef<Path>) -> Result<Dataset<MappedFile>> {
        let map = MappedFile::open(path.as_ref())?;
        Dataset::from_bytes(map)
    }

    /// Advises the kernel that this dataset is read at random (no read-ahead).
    pub fn advise_random(&self) {
        self.data.advise_random();
    }
}

#[inline]
fn cast<'a, T: FromBytes + zerocopy::Immutable + zerocopy::KnownLayout + 'static>(
    bytes: &'a [u8],
    section: &'static str,
) -> Result<&'a [T]> {
    <[T]>::ref_from_bytes(bytes).map_err(|_| Error::UnalignedBuffer {
        section,
        align: std::mem::align_of::<T>(),
    })
}

impl<D: AsRef<[u8]>> Dataset<D> {
    /// Checks the structure of `data` as a tokpack file (spec 6.1) and wraps it.
    pub fn from_bytes(data: D) -> Result<Dataset<D>> {
        let bytes = data.as_ref();
        let header = Header::parse(bytes)?;
        let entries = section_table::parse_table(bytes, &header)?;
        let sections = section_table::classify(&entries)?;
        let dtype = DType::from_code(sections.tokens.dtype)
            .expect("can't fail: classify checked the dtype");
        let n_tokens = sections.tokens.count.get();

        // Step 9: counts across sections.
        let offsets_entry = &sections.doc_offsets;
        if offsets_entry.count.get() == 0 {
            return Err(Error::format(
                ErrorCode::CountMismatch,
                Some(doc_offsets::NAME),
                Some(offsets_entry.offset.get()),
                "DOC_OFFSETS has no entries; it needs at least one (the 0 of an empty dataset)",
            ));
        }
        if let Some(mask) = &sections.loss_mask {
            if mask.count.get() != n_tokens {
                return Err(Error::format(
                    ErrorCode::CountMismatch,
                    Some(loss_mask::NAME),
                    Some(mask.offset.get()),
                    format!("{} mask bits for {n_tokens} tokens", mask.count.get()),
                ));
            }
        }

        if let Some(src) = &sections.doc_sources {
            let n_docs = offsets_entry.count.get() - 1;
            if src.count.get() != n_docs {
                return Err(Error::format(
                    ErrorCode::CountMismatch,
                    Some(doc_sources::NAME),
                    Some(src.offset.get()),
                    format!("{} source ids for {n_docs} documents", src.count.get()),
                ));
            }
        }

        // Typed views must be possible before anything is read through them.
        let token_bytes = &bytes[sections.tokens.range()];
        let compressed = sections.tokens.codec == CODEC_ZSTD;
        match dtype {
            _ if compressed => {}
            DType::U16 => cast::<u16>(token_bytes, "TOKENS").map(drop)?,
            DType::U32 => cast::<u32>(token_bytes, "TOKENS").map(drop)?,
            _ => {}
        }
        let offsets = cast::<u64>(&bytes[offsets_entry.range()], doc_offsets::NAME)?;

        // Step 10 and 11: two reads of offsets, one of the mask.
        doc_offsets::check_ends(offsets, n_tokens, offsets_entry.offset.get())?;
        // Spec 5.6 at open: the block head and the ends of the block offsets.
        let blocks = if compressed {
            let at = sections.tokens.offset.get();
            let layout = BlockLayout::parse(token_bytes, n_tokens, dtype, at)?;
            Some(Box::new(Blocks {
                layout,
                cache: Mutex::new(BlockCache {
                    dctx: new_dctx(at)?,
                    recent: Default::default(),
                }),
            }))
        } else {
            None
        };
        if let Some(mask) = &sections.loss_mask {
            loss_mask::check_padding(&bytes[mask.range()], n_tokens, mask.offset.get())?;
        }

        // Step 12.
        let meta_entry = &sections.metadata;
        let metadata = Metadata::parse(&bytes[meta_entry.range()], meta_entry.offset.get(), dtype)?;
        // Step 13: names and ids come together.
        match (&sections.doc_sources, &metadata.sources) {
            (Some(e), None) => {
                return Err(Error::format(
                    ErrorCode::BadMetadata,
                    Some(crate::format::metadata::NAME),
                    Some(meta_entry.offset.get()),
                    format!(
                        "the file has a DOC_SOURCES section (at byte {}) but no \"sources\" names",
                        e.offset.get()
                    ),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::format(
                    ErrorCode::BadMetadata,
                    Some(crate::format::metadata::NAME),
                    Some(meta_entry.offset.get()),
                    "the metadata names \"sources\" but the file has no DOC_SOURCES section",
                ))
            }
            (Some(e), Some(_)) => {
                cast::<u16>(&bytes[e.range()], doc_sources::NAME)?;
            }
            (None, None) => {}
        }

        Ok(Dataset {
            data,
            header,
            entries,
            sections,
            dtype,
            n_tokens,
            metadata,
            blocks,
        })
    }

    /// The bytes of the whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.data.as_ref()
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `(major, minor)` format version of the file.
    pub fn version(&self) -> (u16, u16) {
        (self.header.major.get(), self.header.minor.get())
    }

    /// The 16-byte id made when the dataset was written.
    pub fn dataset_id(&self) -> [u8; 16] {
        self.header.dataset_id
    }

    /// Every entry of the section table, in file order.
    pub fn sections(&self) -> &[SectionEntry] {
        &self.entries
    }

    /// Element type of the tokens.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The METADATA section's bytes as stored: a JSON object, parsed and checked at open.
    pub fn metadata_bytes(&self) -> &[u8] {
        self.section_bytes(&self.sections.metadata)
    }

    /// The stored metadata as a JSON object, every key as written (including nulls).
    pub fn metadata_json(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_slice(self.metadata_bytes()) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => self.metadata.to_json(),
        }
    }

    /// Vocabulary size: every token id is below it.
    pub fn vocab_size(&self) -> u64 {
        self.metadata.vocab_size
    }

    /// Number of tokens.
    pub fn num_tokens(&self) -> u64 {
        self.n_tokens
    }

    /// Number of documents.
    pub fn num_documents(&self) -> u64 {
        self.sections.doc_offsets.count.get() - 1
    }

    fn section_bytes(&self, entry: &SectionEntry) -> &[u8] {
        &self.data.as_ref()[entry.range()]
    }

    /// All tokens, as a typed slice straight out of the underlying bytes; for compressed
    /// tokens (codec 1), [`Error::CompressedTokens`]: read them with
    /// [`tokens_in`](Dataset::tokens_in).
    #[inline]
    pub fn tokens(&self) -> Result<TokenSlice<'_>> {
        if self.blocks.is_some() {
            return Err(Error::CompressedTokens);
        }
        Ok(self.raw_tokens())
    }

    /// The raw TOKENS section as a typed slice (the caller knows it is not compressed).
    #[inline]
    fn raw_tokens(&self) -> TokenSlice<'_> {
        let bytes = self.section_bytes(&self.sections.tokens);
        let aligned = "can't fail: alignment checked at open";
        match self.dtype {
            DType::U8 => TokenSlice::U8(bytes),
            DType::U16 => TokenSlice::U16(cast(bytes, "TOKENS").expect(aligned)),
            _ => TokenSlice::U32(cast(bytes, "TOKENS").expect(aligned)),
        }
    }

    /// Whether the tokens are stored compressed (codec 1, spec 5.6).
    pub fn is_compressed(&self) -> bool {
        self.blocks.is_some()
    }

    /// The block layout of compressed tokens.
    pub fn block_layout(&self) -> Option<BlockLayout> {
        self.blocks.as_ref().map(|b| b.layout)
    }

    /// Tokens `range`, raw or compressed: a slice of the mapping for raw tokens, else
    /// decompressed into `scratch` (through a small cache of recent blocks).
    #[inline]
    pub fn tokens_in<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        let n = self.n_tokens;
        if range.start > range.end || range.end > n {
            return Err(Error::IndexOutOfRange {
                what: "token",
                index: range.end,
                len: n,
            });
        }
        match &self.blocks {
            None => Ok(self
                .raw_tokens()
                .slice(range.start as usize..range.end as usize)),
            Some(blocks) => self.tokens_in_blocks(blocks, range, scratch),
        }
    }

    /// [`tokens_in`](Dataset::tokens_in) of compressed tokens: decompressed into `scratch`.
    #[inline(never)]
    fn tokens_in_blocks<'a>(
        &'a self,
        blocks: &Blocks,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        scratch.clear();
        if range.start == range.end {
            return Ok(TokenSlice::U32(scratch));
        }
        let layout = blocks.layout;
        let width = layout.width as usize;
        let first = range.start / layout.block_tokens;
        let last = (range.end - 1) / layout.block_tokens;
        for k in first..=last {
            let bytes = self.block(blocks, k)?;
            let r = layout.block_range(k);
            let a = (range.start.max(r.start) - r.start) as usize;
            let b = (range.end.min(r.end) - r.start) as usize;
            extend_from_le(&bytes[a * width..b * width], self.dtype, scratch);
        }
        Ok(TokenSlice::U32(scratch))
    }

    /// Block `k` decompressed, from the cache or the file.
    fn block(&self, blocks: &Blocks, k: u64) -> Result<Arc<Vec<u8>>> {
        let mut cache = blocks.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = cache.recent.iter().position(|(b, _)| *b == k) {
            let hit = cache.recent.remove(i).expect("can't fail: found");
            cache.recent.push_front(hit.clone());
            return Ok(hit.1);
        }
        let mut out = Vec::new();
        let section = self.section_bytes(&self.sections.tokens);
        blocks
            .layout
            .decompress(section, k, &mut cache.dctx, &mut out)?;
        let out = Arc::new(out);
        cache.recent.push_front((k, out.clone()));
        cache.recent.truncate(CACHED_BLOCKS);
        Ok(out)
    }

    /// The tokens of document `i`, raw or compressed (see [`tokens_in`](Dataset::tokens_in)).
    pub fn document_in<'a>(&'a self, i: u64, scratch: &'a mut Vec<u32>) -> Result<TokenSlice<'a>> {
        let r = self.document_range(i)?;
        self.tokens_in(r, scratch)
    }

    /// Calls `f(start, tokens)` on the whole token stream in order: once with every token
    /// for raw tokens, block by block (decompressed) for compressed ones.
    pub fn visit_tokens(&self, mut f: impl FnMut(u64, TokenSlice<'_>) -> Result<()>) -> Result<()> {
        let Some(blocks) = &self.blocks else {
            return f(0, self.tokens()?);
        };
        let layout = blocks.layout;
        let section = self.section_bytes(&self.sections.tokens);
        let mut dctx = new_dctx(self.sections.tokens.offset.get())?;
        let (mut bytes, mut ids) = (Vec::new(), Vec::new());
        for k in 0..layout.n_blocks {
            layout.decompress(section, k, &mut dctx, &mut bytes)?;
            ids.clear();
            extend_from_le(&bytes, self.dtype, &mut ids);
            f(layout.block_range(k).start, TokenSlice::U32(&ids))?;
        }
        Ok(())
    }

    /// All tokens as `&[T]`, if `T` is the file's token type.
    pub fn tokens_as<T: Token>(&self) -> Result<&[T]> {
        if self.blocks.is_some() {
            return Err(Error::CompressedTokens);
        }
        if T::DTYPE != self.dtype {
            return Err(Error::DtypeMismatch {
                requested: T::DTYPE.name(),
                actual: self.dtype.name(),
            });
        }
        cast(self.section_bytes(&self.sections.tokens), "TOKENS")
    }

    /// The document offsets, `num_documents() + 1` of them.
    pub fn doc_offsets(&self) -> &[u64] {
        cast(
            self.section_bytes(&self.sections.doc_offsets),
            doc_offsets::NAME,
        )
        .expect("can't fail: alignment checked at open")
    }

    fn check_document(&self, i: u64) -> Result<()> {
        let n = self.num_documents();
        if i >= n {
            return Err(Error::IndexOutOfRange {
                what: "document",
                index: i,
                len: n,
            });
        }
        Ok(())
    }

    /// The token range of document `i`.
    pub fn document_range(&self, i: u64) -> Result<Range<u64>> {
        self.check_document(i)?;
        let r = doc_offsets::document_range(
            self.doc_offsets(),
            i as usize,
            self.n_tokens,
            self.sections.doc_offsets.offset.get(),
        )?;
        Ok(r.start as u64..r.end as u64)
    }

    /// The tokens of document `i`, without copying; for compressed tokens,
    /// [`Error::CompressedTokens`] (use [`document_in`](Dataset::document_in)).
    #[inline]
    pub fn document(&self, i: u64) -> Result<TokenSlice<'_>> {
        if self.blocks.is_some() {
            return Err(Error::CompressedTokens);
        }
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        let typed = "can't fail: the dtype matches";
        Ok(match self.dtype {
            DType::U8 => TokenSlice::U8(self.typed::<u8>().expect(typed).document(i)?),
            DType::U16 => TokenSlice::U16(self.typed::<u16>().expect(typed).document(i)?),
            _ => TokenSlice::U32(self.typed::<u32>().expect(typed).document(i)?),
        })
    }

    /// A view with the token type fixed at compile time, for the fastest access.
    pub fn typed<T: Token>(&self) -> Result<TypedView<'_, T>> {
        Ok(TypedView {
            tokens: self.tokens_as::<T>()?,
            offsets: self.doc_offsets(),
            offsets_at: self.sections.doc_offsets.offset.get(),
        })
    }

    /// The names of the sources, when the file has source ids (spec 5.5).
    pub fn source_names(&self) -> Option<&[String]> {
        self.metadata.sources.as_deref()
    }

    /// Every document's source id, straight out of the map, unchecked: an unverified file
    /// may hold ids past the names (use [`document_source`](Dataset::document_source)).
    pub fn document_source_ids(&self) -> Option<&[u16]> {
        self.sections.doc_sources.as_ref().map(|e| {
            cast(self.section_bytes(e), doc_sources::NAME)
                .expect("can't fail: alignment checked at open")
        })
    }

    /// The source id of document `i`, checked against the names; `None` when the file has
    /// no source ids.
    pub fn document_source(&self, i: u64) -> Result<Option<u16>> {
        self.check_document(i)?;
        let (Some(ids), Some(names), Some(e)) = (
            self.document_source_ids(),
            self.source_names(),
            &self.sections.doc_sources,
        ) else {
            return Ok(None);
        };
        doc_sources::source_of(ids, i, names.len(), e.offset.get()).map(Some)
    }

    /// The source name of document `i`; `None` when the file has no source ids.
    pub fn document_source_name(&self, i: u64) -> Result<Option<&str>> {
        Ok(self.document_source(i)?.map(|id| {
            self.source_names()
                .expect("can't fail: ids come with names")[usize::from(id)]
            .as_str()
        }))
    }

    /// The loss mask, if the file has one (absent means every token is a target).
    pub fn loss_mask(&self) -> Option<LossMask<'_>> {
        self.sections
            .loss_mask
            .as_ref()
            .map(|e| LossMask::new(self.section_bytes(e), self.n_tokens))
    }

    /// Whether the file stores a loss mask.
    pub fn has_loss_mask(&self) -> bool {
        self.sections.loss_mask.is_some()
    }

    /// Writes the loss-mask bits of tokens `start .. start + out.len()` into `out` as 0/1
    /// bytes; all ones when the file has no mask.
    pub fn loss_mask_into(&self, start: u64, out: &mut [u8]) -> Result<()> {
        match self.loss_mask() {
            Some(mask) => mask.unpack_into(start, out),
            None => {
                if start
                    .checked_add(out.len() as u64)
                    .is_none_or(|e| e > self.n_tokens)
                {
                    return Err(Error::IndexOutOfRange {
                        what: "loss-mask bit",
                        index: start.saturating_add(out.len() as u64),
                        len: self.n_tokens,
                    });
                }
                out.fill(1);
                Ok(())
            }
        }
    }

    /// The loss mask of document `i` as 0/1 bytes.
    pub fn document_loss_mask(&self, i: u64) -> Result<Vec<u8>> {
        let r = self.document_range(i)?;
        let mut out = vec![0u8; (r.end - r.start) as usize];
        self.loss_mask_into(r.start, &mut out)?;
        Ok(out)
    }

    /// Reads every byte and checks what opening does not (spec 6.2), in this order: every
    /// section's CRC32, zero padding, non-decreasing offsets, token ids below the vocabulary.
    pub fn verify(&self) -> Result<VerifyReport> {
        let bytes = self.data.as_ref();
        section_table::verify_sections(bytes, &self.entries)?;
        doc_offsets::check_monotonic(self.doc_offsets(), self.sections.doc_offsets.offset.get())?;
        if let Some(blocks) = &self.blocks {
            blocks
                .layout
                .check_offsets(self.section_bytes(&self.sections.tokens))?;
        }
        let check_range = self.vocab_size() < crate::format::tokens::max_vocab(self.dtype);
        let compressed = self.blocks.is_some();
        // Compressed blocks are all decompressed (checked) even when no id can be too large.
        if check_range || compressed {
            self.visit_tokens(|start, tokens| {
                let Some((i, token)) = check_range
                    .then(|| first_out_of_range(tokens, self.vocab_size()))
                    .flatten()
                else {
                    return Ok(());
                };
                let index = start + i as u64;
                // The byte of a raw token; for compressed tokens, the section.
                let at = self.sections.tokens.offset.get()
                    + if compressed {
                        0
                    } else {
                        index * self.dtype.width()
                    };
                Err(Error::format(
                    ErrorCode::TokenOutOfRange,
                    Some("TOKENS"),
                    Some(at),
                    format!(
                        "token {index} is {token}, not below vocab_size {}",
                        self.vocab_size()
                    ),
                ))
            })?;
        }
        if let (Some(ids), Some(names), Some(e)) = (
            self.document_source_ids(),
            self.source_names(),
            &self.sections.doc_sources,
        ) {
            doc_sources::check_ids(ids, names.len(), e.offset.get())?;
        }
        Ok(VerifyReport {
            sections: self.entries.len(),
            bytes: bytes.len() as u64,
        })
    }
}

/// The first token at or above `vocab_size`, scanning in chunks so the common case (none)
/// runs as a vectorized maximum.
fn first_out_of_range(tokens: TokenSlice<'_>, vocab_size: u64) -> Option<(usize, u32)> {
    fn go<T: Token + Ord>(s: &[T], vocab: u64) -> Option<(usize, u32)> {
        const CHUNK: usize = 1 << 16;
        for (c, chunk) in s.chunks(CHUNK).enumerate() {
            let max: u32 = chunk.iter().copied().max().map_or(0, Into::into);
            if u64::from(max) >= vocab {
                let i = chunk.iter().position(|&t| u64::from(t.into()) >= vocab)?;
                return Some((c * CHUNK + i, chunk[i].into()));
            }
        }
        None
    }
    match tokens {
        TokenSlice::U8(s) => go(s, vocab_size),
        TokenSlice::U16(s) => go(s, vocab_size),
        TokenSlice::U32(s) => go(s, vocab_size),
    }
}

/// Tokens and document offsets with the token type fixed: the fast path for trainers.
#[derive(Debug, Clone, Copy)]
pub struct TypedView<'a, T> {
    tokens: &'a [T],
    offsets: &'a [u64],
    offsets_at: u64,
}

impl<'a, T: Token> TypedView<'a, T> {
    /// All tokens.
    pub fn tokens(&self) -> &'a [T] {
        self.tokens
    }

    /// Number of documents.
    pub fn num_documents(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The tokens of document `i`, without copying; for compressed tokens,
    /// [`Error::CompressedTokens`] (use [`document_in`](Dataset::document_in)).
    #[inline]
    pub fn document(&self, i: usize) -> Result<&'a [T]> {
        // `get` does every check: i in range, start <= end <= number of tokens.
        if let Some(&[start, end]) = self.offsets.get(i..).and_then(|o| o.get(..2)) {
            if let Some(doc) = self.tokens.get(start as usize..end as usize) {
                return Ok(doc);
            }
        }
        Err(self.document_error(i))
    }

    #[cold]
    #[inline(never)]
    fn document_error(&self, i: usize) -> Error {
        if i >= self.offsets.len() - 1 {
            return Error::IndexOutOfRange {
                what: "document",
                index: i as u64,
                len: self.offsets.len() as u64 - 1,
            };
        }
        doc_offsets::document_range(self.offsets, i, self.tokens.len() as u64, self.offsets_at)
            .err()
            .unwrap_or_else(|| Error::InvalidArgument(format!("document {i} could not be sliced")))
    }
}
