//! Headerless token arrays (nanoGPT, OLMo-core) and their byte-per-token masks: what the two
//! formats share.

use std::path::Path;

use super::{
    bad_at, mask_dropped_note, publish, push_document, Boundaries, ExportReport, ImportReport,
    PendingFile, RawDType,
};
use crate::error::{Error, Result};
use crate::format::tokens::TokenSlice;
use crate::{Dataset, MappedFile, Writer};

/// The first bytes of a file written by `np.save`.
const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Refuses a file that starts with an npy header: the trainers these layouts come from map
/// the files raw, so they would read the header as data.
fn refuse_npy_header(bytes: &[u8], path: &Path, what: &str) -> Result<()> {
    if bytes.starts_with(NPY_MAGIC) {
        return Err(bad_at(
            path,
            0,
            format!(
                "the file starts with an npy header (written by np.save); {what} files are \
                 headerless raw arrays, read with np.memmap: write them with arr.tofile(path) \
                 or np.memmap(path, mode=\"w+\"), or strip the header"
            ),
        ));
    }
    Ok(())
}

/// Element `i` of a little-endian array of `width`-byte elements; `i` is in range.
#[inline]
fn element(bytes: &[u8], i: usize, width: usize) -> u64 {
    let at = i * width;
    match width {
        1 => u64::from(bytes[at]),
        2 => u64::from(u16::from_le_bytes([bytes[at], bytes[at + 1]])),
        4 => u64::from(u32::from_le_bytes(
            bytes[at..at + 4]
                .try_into()
                .expect("can't fail: a 4-byte slice"),
        )),
        _ => u64::from_le_bytes(
            bytes[at..at + 8]
                .try_into()
                .expect("can't fail: an 8-byte slice"),
        ),
    }
}

/// Imports one headerless token file (and its mask file, if any) into `writer`.
pub(super) fn import(
    writer: &mut Writer,
    tokens_path: &Path,
    mask_path: Option<&Path>,
    dtype: RawDType,
    boundaries: Boundaries,
    format: &str,
) -> Result<ImportReport> {
    for (name, id) in [("EOS", boundaries.eos()), ("BOS", boundaries.bos())] {
        if let Some(id) = id {
            if u64::from(id) > dtype.max() {
                return Err(Error::InvalidArgument(format!(
                    "{name} id {id} cannot occur in a {} file ({} holds at most {})",
                    dtype.name(),
                    dtype.name(),
                    dtype.max()
                )));
            }
        }
    }
    let map = MappedFile::open(tokens_path)?;
    let bytes = map.as_ref();
    refuse_npy_header(bytes, tokens_path, format)?;
    let width = dtype.width() as usize;
    let rest = bytes.len() % width;
    if rest != 0 {
        return Err(bad_at(
            tokens_path,
            (bytes.len() - rest) as u64,
            format!(
                "the file has {} bytes, not a multiple of {width} ({}): its last {rest} bytes are part of a token",
                bytes.len(),
                dtype.name()
            ),
        ));
    }
    let n = bytes.len() / width;

    let mask_map = mask_path.map(MappedFile::open).transpose()?;
    let mask_bytes: Option<(&[u8], &Path)> = match (&mask_map, mask_path) {
        (Some(m), Some(p)) => Some((m.as_ref(), p)),
        _ => None,
    };
    if let Some((m, p)) = mask_bytes {
        refuse_npy_header(m, p, format)?;
        if m.len() != n {
            return Err(bad_at(
                p,
                m.len().min(n) as u64,
                format!(
                    "the label mask has {} bytes but {} has {n} tokens: it needs one byte (np.bool_) per token",
                    m.len(),
                    tokens_path.display()
                ),
            ));
        }
    }

    let eos = boundaries.eos();
    let bos = boundaries.bos();
    let mut report = ImportReport::default();
    let mut doc: Vec<u32> = Vec::new();
    let mut doc_mask: Vec<bool> = Vec::new();
    let mut start = 0usize;
    let mut prev: Option<u32> = None;
    let mut saw_eos = false;
    let mut flush = |doc: &mut Vec<u32>,
                     doc_mask: &mut Vec<bool>,
                     start: usize,
                     report: &mut ImportReport|
     -> Result<()> {
        let mask = mask_bytes.is_some().then_some(doc_mask.as_slice());
        push_document(writer, doc, mask, tokens_path, |k| {
            ((start + k) * width) as u64
        })?;
        report.documents += 1;
        report.tokens += doc.len() as u64;
        doc.clear();
        doc_mask.clear();
        Ok(())
    };
    for i in 0..n {
        let value = element(bytes, i, width);
        let token = u32::try_from(value).map_err(|_| {
            bad_at(
                tokens_path,
                (i * width) as u64,
                format!(
                    "token id {value} does not fit 32 bits (tokpack's largest vocabulary is 2^32)"
                ),
            )
        })?;
        let starts = Some(token) == bos && (eos.is_none() || prev == eos);
        if starts && !doc.is_empty() {
            flush(&mut doc, &mut doc_mask, start, &mut report)?;
            start = i;
        }
        doc.push(token);
        if let Some((m, p)) = mask_bytes {
            doc_mask.push(match m[i] {
                0 => false,
                1 => true,
                b => {
                    return Err(bad_at(
                        p,
                        i as u64,
                        format!("label mask byte is {b}; np.bool_ stores 0 or 1"),
                    ))
                }
            });
        }
        if bos.is_none() && Some(token) == eos {
            flush(&mut doc, &mut doc_mask, start, &mut report)?;
            start = i + 1;
        }
        saw_eos |= Some(token) == eos;
        prev = Some(token);
    }
    if !doc.is_empty() {
        let trailing = doc.len();
        let ends_with_eos = eos.is_some() && doc.last().copied() == eos;
        flush(&mut doc, &mut doc_mask, start, &mut report)?;
        if let (Some(eos), false) = (eos, ends_with_eos) {
            report.notes.push(if !saw_eos {
                format!(
                    "{}: no EOS id {eos} in the file: all its {trailing} tokens became one document",
                    tokens_path.display()
                )
            } else {
                format!(
                    "{}: the last {trailing} tokens have no EOS ({eos}) after them and became the last document",
                    tokens_path.display()
                )
            });
        }
    }
    Ok(report)
}

/// Writes every document of `ds` as one flat array of `dtype`, appending `eos` to each
/// document that does not already end with it, and the loss mask as one byte per token
/// (1 = target; an added EOS is a target) when `mask_path` is given.
pub(super) fn export<D: AsRef<[u8]>>(
    ds: &Dataset<D>,
    tokens_path: &Path,
    mask_path: Option<&Path>,
    dtype: RawDType,
    eos: u32,
    sync: bool,
    format: &str,
) -> Result<ExportReport> {
    if ds.vocab_size() - 1 > dtype.max() {
        return Err(Error::InvalidArgument(format!(
            "{format} would store ids as {dtype}, which holds at most {}, but the vocabulary has {} ids",
            dtype.max(),
            ds.vocab_size()
        )));
    }
    if u64::from(eos) >= ds.vocab_size() {
        return Err(Error::InvalidArgument(format!(
            "EOS id {eos} is not below the vocabulary size {}",
            ds.vocab_size()
        )));
    }
    let mut tokens_out = PendingFile::create(tokens_path)?;
    let mut mask_out = mask_path.map(PendingFile::create).transpose()?;
    let mut report = ExportReport::default();
    let mut appended = 0u64;
    let mut inner_eos = 0u64;
    let mut scratch: Vec<u8> = Vec::new();
    let mut mask_scratch: Vec<u8> = Vec::new();
    let mut ids = Vec::new();
    for d in 0..ds.num_documents() {
        let doc = ds.document_in(d, &mut ids)?;
        scratch.clear();
        encode(doc, dtype, &mut scratch).map_err(|(k, t)| {
            Error::InvalidArgument(format!(
                "document {d}, token {k}: id {t} does not fit {format}'s {dtype}"
            ))
        })?;
        let n = doc.len();
        let last_is_eos = n > 0 && doc.get(n - 1) == Some(eos);
        let before_end = if last_is_eos { n - 1 } else { n };
        if (0..before_end).any(|k| doc.get(k) == Some(eos)) {
            inner_eos += 1;
        }
        if !last_is_eos {
            push_element(&mut scratch, u64::from(eos), dtype);
            appended += 1;
        }
        tokens_out.write(&scratch)?;
        report.tokens += (scratch.len() as u64) / dtype.width();
        if let Some(out) = &mut mask_out {
            let range = ds.document_range(d)?;
            mask_scratch.clear();
            mask_scratch.resize(n, 0);
            ds.loss_mask_into(range.start, &mut mask_scratch)?;
            if !last_is_eos {
                mask_scratch.push(1);
            }
            out.write(&mask_scratch)?;
        }
        report.documents += 1;
    }
    if appended > 0 {
        report.notes.push(format!(
            "EOS ({eos}) appended to {appended} of {} documents that did not end with it",
            report.documents
        ));
    }
    if inner_eos > 0 {
        report.notes.push(format!(
            "{inner_eos} documents contain EOS ({eos}) before their end: importing the file again splits them there"
        ));
    }
    if mask_path.is_none() {
        report.notes.extend(mask_dropped_note(ds, format));
    }
    let mut files = vec![tokens_out];
    files.extend(mask_out);
    report.files = publish(files, sync)?;
    Ok(report)
}

/// Appends `value` as one little-endian element of `dtype`; the caller checked it fits.
fn push_element(out: &mut Vec<u8>, value: u64, dtype: RawDType) {
    let bytes = value.to_le_bytes();
    out.extend_from_slice(&bytes[..dtype.width() as usize]);
}

/// Appends every token as `dtype`, or gives the index and id of the first that does not fit.
fn encode(
    doc: TokenSlice<'_>,
    dtype: RawDType,
    out: &mut Vec<u8>,
) -> std::result::Result<(), (usize, u32)> {
    match (doc, dtype) {
        (TokenSlice::U8(_), RawDType::U8)
        | (TokenSlice::U16(_), RawDType::U16)
        | (TokenSlice::U32(_), RawDType::U32) => out.extend_from_slice(doc.as_bytes()),
        _ => {
            let max = dtype.max();
            for k in 0..doc.len() {
                let t = doc.get(k).expect("can't fail: k < len");
                if u64::from(t) > max {
                    return Err((k, t));
                }
                push_element(out, u64::from(t), dtype);
            }
        }
    }
    Ok(())
}
