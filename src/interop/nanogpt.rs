//! nanoGPT's token files (`data/*/prepare.py`): a flat array of `uint16` ids, no header,
//! with the EOS id (GPT-2's `<|endoftext|>`, 50256) appended after every document.
//!
//! **Import** splits the array after every EOS; the EOS stays the last token of its
//! document, as `prepare.py` appended it. Tokens after the last EOS form one more document
//! (and the import says so in its notes). A file with an odd number of bytes is refused.
//!
//! **Export** writes every document's ids as `uint16` and appends the EOS id to each
//! document that does not already end with it (an empty document becomes a lone EOS), so
//! that importing the file again gives the same documents whenever no document has an EOS
//! before its end (the export counts those in its notes). A vocabulary of more than 65,536
//! ids is refused: `uint16` cannot hold them. The format has no loss mask; a mask with zero
//! bits is reported as dropped.

use std::path::Path;

use super::{raw, Boundaries, ExportReport, ImportReport, RawDType};
use crate::error::Result;
use crate::{Dataset, Writer};

/// Reads the nanoGPT token file at `path` and pushes its documents into `writer`, one per
/// EOS. Ids at or above the writer's vocabulary size are refused with their byte offset.
pub fn import_into(writer: &mut Writer, path: &Path, eos_id: u32) -> Result<ImportReport> {
    raw::import(
        writer,
        path,
        None,
        RawDType::U16,
        Boundaries::Eos(eos_id),
        "nanoGPT",
    )
}

/// Writes `ds` to `path` as nanoGPT's flat `uint16` array, each document ended by `eos_id`.
/// Written through a temporary file and renamed into place; `sync` fsyncs first.
pub fn export<D: AsRef<[u8]>>(
    ds: &Dataset<D>,
    path: &Path,
    eos_id: u32,
    sync: bool,
) -> Result<ExportReport> {
    raw::export(ds, path, None, RawDType::U16, eos_id, sync, "nanoGPT")
}
