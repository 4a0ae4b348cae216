//! The DOC_SOURCES section (spec 5.5): `u16[n_docs]`, each document's index into the
//! metadata's `sources` names.

use crate::error::{Error, ErrorCode, Result};

/// Section name for messages.
pub const NAME: &str = "DOC_SOURCES";

/// The error for document `doc` whose id is not below `n_names` (spec 6.2 step 5).
#[cold]
pub fn bad_source(doc: u64, id: u16, n_names: usize, section_offset: u64) -> Error {
    Error::format(
        ErrorCode::BadSource,
        Some(NAME),
        Some(section_offset + 2 * doc),
        format!("document {doc} has source id {id}, but the metadata names {n_names} sources"),
    )
}

/// The source id of document `doc`, checked against the number of names.
#[inline]
pub fn source_of(ids: &[u16], doc: u64, n_names: usize, section_offset: u64) -> Result<u16> {
    let id = ids[doc as usize];
    if usize::from(id) < n_names {
        Ok(id)
    } else {
        Err(bad_source(doc, id, n_names, section_offset))
    }
}

/// Checks every id (spec 6.2 step 5), naming the first document whose id is too large.
pub fn check_ids(ids: &[u16], n_names: usize, section_offset: u64) -> Result<()> {
    // Vectorizes as a maximum; the position is looked for only on failure.
    let max = ids.iter().copied().max().unwrap_or(0);
    if ids.is_empty() || usize::from(max) < n_names {
        return Ok(());
    }
    let doc = ids
        .iter()
        .position(|&id| usize::from(id) >= n_names)
        .expect("can't fail: the maximum is out of range");
    Err(bad_source(doc as u64, ids[doc], n_names, section_offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_document_out_of_range() {
        assert!(check_ids(&[0, 1, 1, 0], 2, 4096).is_ok());
        assert!(check_ids(&[], 1, 4096).is_ok());
        let e = check_ids(&[0, 2, 5], 2, 4096).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadSource));
        assert!(e.to_string().contains("document 1"), "{e}");
        assert_eq!(source_of(&[0, 3], 0, 2, 0).unwrap(), 0);
        assert!(source_of(&[0, 3], 1, 2, 0).is_err());
    }
}
