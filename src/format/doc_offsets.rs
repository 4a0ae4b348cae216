//! The DOC_OFFSETS section (spec 5.2): `u64[n_docs + 1]` boundaries into the tokens.

use crate::error::{Error, ErrorCode, Result};

/// Section name for messages.
pub const NAME: &str = "DOC_OFFSETS";

/// Checks the open-time rule of spec 6.1 step 10: the first offset is 0 and the last is the
/// token count. `section_offset` is where the section starts in the file.
pub fn check_ends(offsets: &[u64], n_tokens: u64, section_offset: u64) -> Result<()> {
    let first = offsets[0];
    if first != 0 {
        return Err(Error::format(
            ErrorCode::BadDocOffsets,
            Some(NAME),
            Some(section_offset),
            format!("first offset is {first}, not 0"),
        ));
    }
    let last = offsets[offsets.len() - 1];
    if last != n_tokens {
        return Err(Error::format(
            ErrorCode::BadDocOffsets,
            Some(NAME),
            Some(section_offset + 8 * (offsets.len() as u64 - 1)),
            format!("last offset is {last} but there are {n_tokens} tokens"),
        ));
    }
    Ok(())
}

/// Checks that the offsets never decrease (spec 6.2), naming the first index that does.
pub fn check_monotonic(offsets: &[u64], section_offset: u64) -> Result<()> {
    match offsets.windows(2).position(|w| w[0] > w[1]) {
        None => Ok(()),
        Some(i) => Err(Error::format(
            ErrorCode::BadDocOffsets,
            Some(NAME),
            Some(section_offset + 8 * (i as u64 + 1)),
            format!(
                "offsets not increasing at index {}: {} after {}",
                i + 1,
                offsets[i + 1],
                offsets[i]
            ),
        )),
    }
}

/// The token range of document `i`, checked so that a bad offset can never reach outside the
/// tokens (spec 6.2, last paragraph). `i + 1 < offsets.len()` is the caller's to ensure.
#[inline]
pub fn document_range(
    offsets: &[u64],
    i: usize,
    n_tokens: u64,
    section_offset: u64,
) -> Result<std::ops::Range<usize>> {
    let start = offsets[i];
    let end = offsets[i + 1];
    if start <= end && end <= n_tokens {
        Ok(start as usize..end as usize)
    } else {
        Err(Error::format(
            ErrorCode::BadDocOffsets,
            Some(NAME),
            Some(section_offset + 8 * i as u64),
            format!("document {i} spans {start}..{end}, not inside 0..{n_tokens}"),
        ))
    }
}
