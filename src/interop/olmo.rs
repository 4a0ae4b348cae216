//! OLMo-core's token arrays (`olmo_core/data/numpy_dataset.py`, `utils.py`).
//!
//! - **Tokens**: a flat array of unsigned ids, named `.npy` but *without* an npy header:
//!   OLMo-core reads them with `np.memmap(path, dtype=...)` and byte ranges, and writes its
//!   own arrays the same way (`memmap_to_write`). The dtype is not stored; OLMo-core takes
//!   the smallest of `uint8`, `uint16`, `uint32`, `uint64` that holds `vocab_size - 1`
//!   ([`RawDType::for_vocab`]) unless its config names one.
//! - **Label mask** (optional, `label_mask_paths`): a parallel headerless `np.bool_` array,
//!   one byte per token, 1 = the token is a target. It maps bit for bit to tokpack's loss
//!   mask (both mark the token being predicted).
//! - **Documents**: found by the EOS id (a document ends with it), by the BOS id (a
//!   document starts with it), or by both (a document ends at an EOS directly followed by a
//!   BOS), as OLMo-core does; see [`Boundaries`].
//!
//! A file that does start with an npy header (`np.save`) is refused, since OLMo-core would
//! read its header as tokens. Tokens after the last EOS form one more document (OLMo-core's
//! own document index skips them; the import keeps them and says so in its notes).
//!
//! **Export** writes the tokens with EOS appended to each document that does not already
//! end with it, and, when asked, the mask with a 1 for every appended EOS.

use std::path::Path;

use super::{raw, Boundaries, ExportReport, ImportReport, RawDType};
use crate::error::Result;
use crate::{Dataset, Writer};

/// Reads the token array at `tokens` (and the label mask at `mask`, if given) and pushes
/// its documents into `writer`. Ids at or above the writer's vocabulary size, mask bytes
/// other than 0 and 1, and a mask of another length are refused with their byte offset.
pub fn import_into(
    writer: &mut Writer,
    tokens: &Path,
    mask: Option<&Path>,
    dtype: RawDType,
    boundaries: Boundaries,
) -> Result<ImportReport> {
    raw::import(writer, tokens, mask, dtype, boundaries, "OLMo-core")
}

/// Writes `ds` to `tokens` as a headerless array of `dtype` (default: the smallest holding
/// `vocab_size - 1`), each document ended by `eos_id`, and its loss mask to `mask` as one
/// byte per token when given. Both files are written through temporary files and renamed
/// into place only when both are complete.
pub fn export<D: AsRef<[u8]>>(
    ds: &Dataset<D>,
    tokens: &Path,
    mask: Option<&Path>,
    dtype: Option<RawDType>,
    eos_id: u32,
    sync: bool,
) -> Result<ExportReport> {
    let dtype = dtype.unwrap_or_else(|| RawDType::for_vocab(ds.vocab_size()));
    raw::export(ds, tokens, mask, dtype, eos_id, sync, "OLMo-core")
}
