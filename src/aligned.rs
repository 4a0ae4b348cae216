//! An owned byte buffer aligned for every token type, for reading files from memory.

use zerocopy::IntoBytes;

/// Bytes held in a buffer aligned to 8, so that typed section views are valid.
///
/// [`Dataset::from_bytes`](crate::Dataset::from_bytes) needs its bytes aligned for the token
/// and offset types; a `Vec<u8>` gives no such promise. Copy bytes in with
/// [`AlignedBytes::copy_from`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// An aligned copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> AlignedBytes {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        words.as_mut_bytes()[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes {
            words,
            len: bytes.len(),
        }
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.words.as_bytes()[..self.len]
    }
}

impl From<&[u8]> for AlignedBytes {
    fn from(bytes: &[u8]) -> AlignedBytes {
        AlignedBytes::copy_from(bytes)
    }
}
