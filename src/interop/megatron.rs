//! Megatron-Core indexed datasets (`megatron/core/datasets/indexed_dataset.py`): `X.bin`
//! holds the tokens, `X.idx` the index.
//!
//! The `.idx`, as `_IndexWriter` writes it: little-endian, no alignment, no padding.
//!
//! ```text
//! offset 0    magic            9 bytes   "MMIDIDX\0\0"
//!        9    version          u64       1
//!        17   dtype code       u8        1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
//!                                        6 float64, 7 float32, 8 uint16
//!        18   sequence count   u64       S
//!        26   document count   u64       D + 1: the length of the document index below,
//!                                        which starts with a 0 (so D documents)
//!        34   lengths          int32[S]  tokens in each sequence
//!             pointers         int64[S]  byte offset of each sequence in X.bin
//!             document index   int64[D+1] document d is sequences index[d] .. index[d+1]
//!             modes            int8[S]   only in multimodal datasets
//! ```
//!
//! **Import**: every Megatron document becomes one tokpack document, the concatenation of
//! its sequences. Everything is checked before use: the header, that the arrays fill the
//! file exactly (optionally followed by one mode byte per sequence, which is not imported),
//! that the document index starts at 0, never decreases and ends at S, that each sequence
//! lies inside `X.bin` and that together they claim no more bytes than `X.bin` has (so no
//! two overlap). Negative ids, ids of more than 32 bits and float dtypes are refused. Each
//! error names the file and the byte offset.
//!
//! **Export**: one sequence per document (a document longer than `i32::MAX` tokens is
//! split into several sequences of the same document), stored as `uint16` (code 8) when
//! the vocabulary has fewer than 65,500 ids and as `int32` (code 4) otherwise, as
//! Megatron's `DType.optimal_dtype(vocab_size)` chooses. The format has no loss mask; a
//! mask with zero bits is reported as dropped.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{
    bad_at, mask_dropped_note, publish, push_document, with_suffix, ExportReport, ImportReport,
    PendingFile,
};
use crate::error::{Error, Result};
use crate::format::tokens::TokenSlice;
use crate::{Dataset, MappedFile, Writer};

/// The first 9 bytes of every `.idx`.
pub const MAGIC: &[u8; 9] = b"MMIDIDX\0\0";
/// Bytes before the lengths array.
pub const HEADER_LEN: u64 = 34;
/// The longest sequence the `int32` lengths can describe.
const MAX_SEQUENCE: u64 = i32::MAX as u64;

/// The element type of a `.bin`, by its code in the `.idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MegatronDType {
    /// Code 1.
    U8,
    /// Code 2.
    I8,
    /// Code 3.
    I16,
    /// Code 4.
    I32,
    /// Code 5.
    I64,
    /// Code 6.
    F64,
    /// Code 7.
    F32,
    /// Code 8.
    U16,
}

impl MegatronDType {
    /// The type of a code, or `None` for a code Megatron does not define.
    pub fn from_code(code: u8) -> Option<MegatronDType> {
        Some(match code {
            1 => MegatronDType::U8,
            2 => MegatronDType::I8,
            3 => MegatronDType::I16,
            4 => MegatronDType::I32,
            5 => MegatronDType::I64,
            6 => MegatronDType::F64,
            7 => MegatronDType::F32,
            8 => MegatronDType::U16,
            _ => return None,
        })
    }

    /// The code stored in the `.idx`.
    pub fn code(self) -> u8 {
        match self {
            MegatronDType::U8 => 1,
            MegatronDType::I8 => 2,
            MegatronDType::I16 => 3,
            MegatronDType::I32 => 4,
            MegatronDType::I64 => 5,
            MegatronDType::F64 => 6,
            MegatronDType::F32 => 7,
            MegatronDType::U16 => 8,
        }
    }

    /// Bytes per element.
    pub fn width(self) -> u64 {
        match self {
            MegatronDType::U8 | MegatronDType::I8 => 1,
            MegatronDType::I16 | MegatronDType::U16 => 2,
            MegatronDType::I32 | MegatronDType::F32 => 4,
            MegatronDType::I64 | MegatronDType::F64 => 8,
        }
    }

    /// numpy's name: `"uint16"`.
    pub fn name(self) -> &'static str {
        match self {
            MegatronDType::U8 => "uint8",
            MegatronDType::I8 => "int8",
            MegatronDType::I16 => "int16",
            MegatronDType::I32 => "int32",
            MegatronDType::I64 => "int64",
            MegatronDType::F64 => "float64",
            MegatronDType::F32 => "float32",
            MegatronDType::U16 => "uint16",
        }
    }

    /// What Megatron stores a vocabulary of `vocab_size` ids as: `uint16` below 65,500,
    /// else `int32` (`DType.optimal_dtype`).
    pub fn for_vocab(vocab_size: u64) -> MegatronDType {
        if vocab_size < 65_500 {
            MegatronDType::U16
        } else {
            MegatronDType::I32
        }
    }
}

impl std::fmt::Display for MegatronDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The `.idx` and `.bin` paths of a dataset named by its prefix `X`, or by `X.idx` or
/// `X.bin`.
pub fn paths(input: &Path) -> (PathBuf, PathBuf) {
    let prefix = match input.extension().and_then(OsStr::to_str) {
        Some("idx" | "bin") => input.with_extension(""),
        _ => input.to_path_buf(),
    };
    (with_suffix(&prefix, "idx"), with_suffix(&prefix, "bin"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(
        bytes[at..at + 8]
            .try_into()
            .expect("can't fail: an 8-byte slice"),
    )
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    i64::from_le_bytes(
        bytes[at..at + 8]
            .try_into()
            .expect("can't fail: an 8-byte slice"),
    )
}

fn i32_at(bytes: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(
        bytes[at..at + 4]
            .try_into()
            .expect("can't fail: a 4-byte slice"),
    )
}

/// A checked `.idx`: every read through it is inside the file.
struct Index<'a> {
    bytes: &'a [u8],
    dtype: MegatronDType,
    sequences: usize,
    documents: usize,
    lengths_at: usize,
    pointers_at: usize,
    docs_at: usize,
    has_modes: bool,
    /// Bytes of `.bin` that the sequences claim, in total.
    claimed: u64,
}

impl<'a> Index<'a> {
    /// Checks the whole index against itself and against the `.bin`'s length.
    fn parse(bytes: &'a [u8], path: &Path, bin_len: u64, bin_path: &Path) -> Result<Index<'a>> {
        let len = bytes.len() as u64;
        if len < HEADER_LEN {
            return Err(bad_at(
                path,
                len,
                format!("the file ends after {len} bytes; the header alone has {HEADER_LEN}"),
            ));
        }
        if &bytes[..9] != MAGIC {
            return Err(bad_at(
                path,
                0,
                format!(
                    "not a Megatron index: the magic is {:?}, not \"MMIDIDX\\0\\0\"",
                    String::from_utf8_lossy(&bytes[..9])
                ),
            ));
        }
        let version = u64_at(bytes, 9);
        if version != 1 {
            return Err(bad_at(
                path,
                9,
                format!("index version {version}; only version 1 exists"),
            ));
        }
        let code = bytes[17];
        let dtype = MegatronDType::from_code(code).ok_or_else(|| {
            bad_at(
                path,
                17,
                format!("dtype code {code} is not one of Megatron's (1 to 8)"),
            )
        })?;
        if matches!(dtype, MegatronDType::F32 | MegatronDType::F64) {
            return Err(bad_at(
                path,
                17,
                format!("dtype code {code} ({dtype}) holds no token ids"),
            ));
        }
        let sequences = u64_at(bytes, 18);
        let doc_entries = u64_at(bytes, 26);
        if doc_entries == 0 {
            return Err(bad_at(
                path,
                26,
                "the document index is empty; it always holds at least its leading 0",
            ));
        }
        // Sizes in u64 with overflow checks; anything past the file is refused before use.
        let end = sequences
            .checked_mul(12)
            .and_then(|s| doc_entries.checked_mul(8).and_then(|d| s.checked_add(d)))
            .and_then(|a| a.checked_add(HEADER_LEN));
        let needed = match end {
            Some(e) if e <= len => e,
            _ => {
                return Err(bad_at(
                    path,
                    len,
                    format!(
                        "the header declares {sequences} sequences and {doc_entries} document-index entries, which need {} bytes, but the file has {len}",
                        end.map_or_else(|| "more than 2^64".to_owned(), |e| e.to_string())
                    ),
                ))
            }
        };
        let has_modes = if len == needed {
            false
        } else if len - needed == sequences {
            true
        } else {
            return Err(bad_at(
                path,
                needed,
                format!(
                    "{} bytes follow the document index; expected none, or {sequences} (one int8 mode per sequence)",
                    len - needed
                ),
            ));
        };
        // Every count is now below the file's length, so it fits usize.
        let sequences = sequences as usize;
        let documents = (doc_entries - 1) as usize;
        let lengths_at = HEADER_LEN as usize;
        let pointers_at = lengths_at + 4 * sequences;
        let docs_at = pointers_at + 8 * sequences;

        let mut previous = 0i64;
        for k in 0..=documents {
            let at = docs_at + 8 * k;
            let v = i64_at(bytes, at);
            let problem = if k == 0 && v != 0 {
                Some(format!("the document index starts at {v}, not 0"))
            } else if v < previous {
                Some(format!(
                    "document index entry {k} is {v}, below the entry before it ({previous})"
                ))
            } else if k == documents && v as u64 != sequences as u64 {
                Some(format!(
                    "the document index ends at {v}, not at the sequence count {sequences}"
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                return Err(bad_at(path, at as u64, p));
            }
            previous = v;
        }

        let width = dtype.width();
        let mut claimed = 0u64;
        for s in 0..sequences {
            let length = i32_at(bytes, lengths_at + 4 * s);
            if length < 0 {
                return Err(bad_at(
                    path,
                    (lengths_at + 4 * s) as u64,
                    format!("sequence {s} has a negative length ({length})"),
                ));
            }
            let pointer = i64_at(bytes, pointers_at + 8 * s);
            let size = length as u64 * width;
            let inside = u64::try_from(pointer)
                .ok()
                .and_then(|p| p.checked_add(size))
                .is_some_and(|e| e <= bin_len);
            if !inside {
                return Err(bad_at(
                    path,
                    (pointers_at + 8 * s) as u64,
                    format!(
                        "sequence {s} ({length} tokens at byte {pointer}) is not inside {} ({bin_len} bytes)",
                        bin_path.display()
                    ),
                ));
            }
            claimed += size;
            if claimed > bin_len {
                return Err(bad_at(
                    path,
                    (pointers_at + 8 * s) as u64,
                    format!(
                        "sequences 0 to {s} claim {claimed} bytes of {}, which has {bin_len}: sequences overlap",
                        bin_path.display()
                    ),
                ));
            }
        }
        Ok(Index {
            bytes,
            dtype,
            sequences,
            documents,
            lengths_at,
            pointers_at,
            docs_at,
            has_modes,
            claimed,
        })
    }

    /// The sequences of document `d`.
    fn document(&self, d: usize) -> std::ops::Range<usize> {
        let start = i64_at(self.bytes, self.docs_at + 8 * d) as usize;
        let end = i64_at(self.bytes, self.docs_at + 8 * (d + 1)) as usize;
        start..end
    }

    /// Byte range of sequence `s` in the `.bin`.
    fn sequence(&self, s: usize) -> std::ops::Range<usize> {
        let length = i32_at(self.bytes, self.lengths_at + 4 * s) as usize;
        let pointer = i64_at(self.bytes, self.pointers_at + 8 * s) as usize;
        pointer..pointer + length * self.dtype.width() as usize
    }
}

/// Appends the ids in `bytes` (elements of `dtype`) to `out`, or gives the element index
/// and value of the first that is negative or wider than 32 bits.
fn decode(
    bytes: &[u8],
    dtype: MegatronDType,
    out: &mut Vec<u32>,
) -> std::result::Result<(), (usize, i64)> {
    fn go<const W: usize>(
        bytes: &[u8],
        out: &mut Vec<u32>,
        read: impl Fn([u8; W]) -> i64,
    ) -> std::result::Result<(), (usize, i64)> {
        out.reserve(bytes.len() / W);
        for (k, chunk) in bytes.chunks_exact(W).enumerate() {
            let v = read(chunk.try_into().expect("can't fail: chunks_exact"));
            match u32::try_from(v) {
                Ok(t) => out.push(t),
                Err(_) => return Err((k, v)),
            }
        }
        Ok(())
    }
    match dtype {
        MegatronDType::U8 => go::<1>(bytes, out, |b| i64::from(b[0])),
        MegatronDType::I8 => go::<1>(bytes, out, |b| i64::from(i8::from_le_bytes(b))),
        MegatronDType::U16 => go::<2>(bytes, out, |b| i64::from(u16::from_le_bytes(b))),
        MegatronDType::I16 => go::<2>(bytes, out, |b| i64::from(i16::from_le_bytes(b))),
        MegatronDType::I32 => go::<4>(bytes, out, |b| i64::from(i32::from_le_bytes(b))),
        MegatronDType::I64 => go::<8>(bytes, out, i64::from_le_bytes),
        // Refused by Index::parse.
        MegatronDType::F32 | MegatronDType::F64 => Err((0, 0)),
    }
}

/// Reads the Megatron dataset named by `input` (the prefix `X`, or `X.idx` or `X.bin`) and
/// pushes each of its documents into `writer`. The whole index is checked before the first
/// document is pushed; ids at or above the writer's vocabulary size are refused with their
/// byte offset in `X.bin`.
pub fn import_into(writer: &mut Writer, input: &Path) -> Result<ImportReport> {
    let (idx_path, bin_path) = paths(input);
    let idx_map = MappedFile::open(&idx_path)?;
    let bin_map = MappedFile::open(&bin_path)?;
    let bin = bin_map.as_ref();
    let index = Index::parse(idx_map.as_ref(), &idx_path, bin.len() as u64, &bin_path)?;
    let width = index.dtype.width();

    let mut report = ImportReport::default();
    let mut tokens: Vec<u32> = Vec::new();
    // (first token of the sequence in the document, its byte offset in .bin)
    let mut spans: Vec<(usize, u64)> = Vec::new();
    for d in 0..index.documents {
        tokens.clear();
        spans.clear();
        for s in index.document(d) {
            let range = index.sequence(s);
            let at = range.start as u64;
            spans.push((tokens.len(), at));
            decode(&bin[range], index.dtype, &mut tokens).map_err(|(k, v)| {
                bad_at(
                    &bin_path,
                    at + k as u64 * width,
                    format!(
                        "token id {v} ({}) is {}",
                        index.dtype,
                        if v < 0 {
                            "negative"
                        } else {
                            "wider than 32 bits"
                        }
                    ),
                )
            })?;
        }
        push_document(writer, &tokens, None, &bin_path, |i| {
            let (first, at) = spans
                .iter()
                .rev()
                .find(|(first, _)| *first <= i)
                .copied()
                .unwrap_or((0, 0));
            at + (i - first) as u64 * width
        })?;
        report.documents += 1;
        report.tokens += tokens.len() as u64;
    }
    if index.has_modes && index.sequences > 0 {
        report.notes.push(format!(
            "{}: the index has one int8 mode per sequence (a multimodal dataset); modes are not imported",
            idx_path.display()
        ));
    }
    let unclaimed = bin.len() as u64 - index.claimed;
    if unclaimed > 0 {
        report.notes.push(format!(
            "{}: {unclaimed} of its {} bytes belong to no sequence and were not imported",
            bin_path.display(),
            bin.len()
        ));
    }
    Ok(report)
}

/// Lengths of the sequences a document of `len` tokens is stored as: one, unless it is
/// longer than `max`.
fn sequence_lengths(len: u64, max: u64) -> impl Iterator<Item = u64> {
    let n = if len == 0 { 1 } else { len.div_ceil(max) };
    (0..n).map(move |k| (len - k * max).min(max))
}

/// Appends every token as `dtype` (`U16` or `I32`), or gives the index and id of the first
/// that does not fit.
fn encode(
    doc: TokenSlice<'_>,
    dtype: MegatronDType,
    out: &mut Vec<u8>,
) -> std::result::Result<(), (usize, u32)> {
    let max = match dtype {
        MegatronDType::U16 => u64::from(u16::MAX),
        _ => i32::MAX as u64,
    };
    if let (TokenSlice::U16(_), MegatronDType::U16) = (doc, dtype) {
        out.extend_from_slice(doc.as_bytes());
        return Ok(());
    }
    let width = dtype.width() as usize;
    out.reserve(doc.len() * width);
    for k in 0..doc.len() {
        let t = doc.get(k).expect("can't fail: k < len");
        if u64::from(t) > max {
            return Err((k, t));
        }
        out.extend_from_slice(&t.to_le_bytes()[..width]);
    }
    Ok(())
}

/// Writes `ds` as a Megatron dataset at `output` (the prefix `X`, or `X.idx` or `X.bin`):
/// `X.bin` and `X.idx`, each through a temporary file, renamed into place only when both
/// are complete. `sync` fsyncs them first.
pub fn export<D: AsRef<[u8]>>(ds: &Dataset<D>, output: &Path, sync: bool) -> Result<ExportReport> {
    export_with(ds, output, sync, MAX_SEQUENCE)
}

fn export_with<D: AsRef<[u8]>>(
    ds: &Dataset<D>,
    output: &Path,
    sync: bool,
    max_sequence: u64,
) -> Result<ExportReport> {
    let (idx_path, bin_path) = paths(output);
    let dtype = MegatronDType::for_vocab(ds.vocab_size());
    let width = dtype.width();
    let n_docs = ds.num_documents();

    let mut bin = PendingFile::create(&bin_path)?;
    let mut scratch = Vec::new();
    let mut ids = Vec::new();
    for d in 0..n_docs {
        let doc = ds.document_in(d, &mut ids)?;
        scratch.clear();
        encode(doc, dtype, &mut scratch).map_err(|(k, t)| {
            Error::InvalidArgument(format!(
                "document {d}, token {k}: id {t} does not fit Megatron's {dtype}"
            ))
        })?;
        bin.write(&scratch)?;
    }
    // The index is made from the dataset's offsets, read again in each pass: no memory in
    // proportion to the number of documents.
    let len_of = |d: u64| -> Result<u64> {
        let r = ds.document_range(d)?;
        Ok(r.end - r.start)
    };

    let mut idx = PendingFile::create(&idx_path)?;
    let mut sequences = 0u64;
    let mut long_docs = 0u64;
    for d in 0..n_docs {
        let len = len_of(d)?;
        sequences += sequence_lengths(len, max_sequence).count() as u64;
        long_docs += u64::from(len > max_sequence);
    }
    let mut header = Vec::with_capacity(HEADER_LEN as usize);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&1u64.to_le_bytes());
    header.push(dtype.code());
    header.extend_from_slice(&sequences.to_le_bytes());
    header.extend_from_slice(&(n_docs + 1).to_le_bytes());
    idx.write(&header)?;

    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let flush = |buf: &mut Vec<u8>, idx: &mut PendingFile, force: bool| -> Result<()> {
        if force || buf.len() >= 1 << 16 {
            idx.write(buf)?;
            buf.clear();
        }
        Ok(())
    };
    for d in 0..n_docs {
        for l in sequence_lengths(len_of(d)?, max_sequence) {
            buf.extend_from_slice(&(l as i32).to_le_bytes());
            flush(&mut buf, &mut idx, false)?;
        }
    }
    let mut pointer = 0u64;
    for d in 0..n_docs {
        for l in sequence_lengths(len_of(d)?, max_sequence) {
            buf.extend_from_slice(&(pointer as i64).to_le_bytes());
            pointer += l * width;
            flush(&mut buf, &mut idx, false)?;
        }
    }
    let mut seq = 0u64;
    buf.extend_from_slice(&0i64.to_le_bytes());
    for d in 0..n_docs {
        seq += sequence_lengths(len_of(d)?, max_sequence).count() as u64;
        buf.extend_from_slice(&(seq as i64).to_le_bytes());
        flush(&mut buf, &mut idx, false)?;
    }
    flush(&mut buf, &mut idx, true)?;

    let mut report = ExportReport {
        documents: n_docs,
        tokens: ds.num_tokens(),
        ..ExportReport::default()
    };
    if long_docs > 0 {
        report.notes.push(format!(
            "{long_docs} documents longer than {max_sequence} tokens were split into several sequences each"
        ));
    }
    report.notes.extend(mask_dropped_note(ds, "Megatron"));
    report.files = publish(vec![bin, idx], sync)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_documents_become_several_sequences() {
        let split = |len| sequence_lengths(len, 4).collect::<Vec<_>>();
        assert_eq!(split(0), vec![0]);
        assert_eq!(split(3), vec![3]);
        assert_eq!(split(4), vec![4]);
        assert_eq!(split(9), vec![4, 4, 1]);
    }

    #[test]
    fn split_documents_import_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tpk = dir.path().join("a.tpk");
        let mut w = Writer::create(&tpk, crate::WriterOptions::new(1000)).expect("create");
        w.push_document(&[1, 2, 3, 4, 5, 6, 7, 8, 9], None)
            .expect("push");
        w.push_document(&[], None).expect("push");
        w.push_document(&[10, 11], None).expect("push");
        w.finish().expect("finish");
        let ds = Dataset::open(&tpk).expect("open");
        let prefix = dir.path().join("m");
        let report = export_with(&ds, &prefix, false, 4).expect("export");
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);

        let idx = std::fs::read(with_suffix(&prefix, "idx")).expect("read idx");
        assert_eq!(
            u64_at(&idx, 18),
            5,
            "9 tokens -> 3 sequences, empty -> 1, 2 -> 1"
        );
        assert_eq!(u64_at(&idx, 26), 4);

        let back = dir.path().join("b.tpk");
        let mut w = Writer::create(&back, crate::WriterOptions::new(1000)).expect("create");
        import_into(&mut w, &prefix).expect("import");
        w.finish().expect("finish");
        let ds = Dataset::open(&back).expect("open");
        assert_eq!(ds.num_documents(), 3);
        assert_eq!(
            ds.document(0).expect("doc").to_vec_u32(),
            (1..=9).collect::<Vec<u32>>()
        );
        assert!(ds.document(1).expect("doc").is_empty());
        assert_eq!(ds.document(2).expect("doc").to_vec_u32(), vec![10, 11]);
    }
}
