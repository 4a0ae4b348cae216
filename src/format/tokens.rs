//! The TOKENS section (spec 5.1): the concatenated token ids as a typed array.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::section_table::DType;

/// An element type the TOKENS section can hold: `u8`, `u16` or `u32`.
pub trait Token:
    FromBytes + IntoBytes + KnownLayout + Immutable + Copy + Into<u32> + sealed::Sealed + 'static
{
    /// The matching section dtype.
    const DTYPE: DType;
    /// Converts an id already checked to fit.
    fn from_u32_lossy(id: u32) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
}

impl Token for u8 {
    const DTYPE: DType = DType::U8;
    fn from_u32_lossy(id: u32) -> Self {
        id as u8
    }
}
impl Token for u16 {
    const DTYPE: DType = DType::U16;
    fn from_u32_lossy(id: u32) -> Self {
        id as u16
    }
}
impl Token for u32 {
    const DTYPE: DType = DType::U32;
    fn from_u32_lossy(id: u32) -> Self {
        id
    }
}

/// The narrowest token dtype that holds `vocab_size - 1`, or `None` when `vocab_size` is
/// 0 or above 2^32.
pub fn dtype_for_vocab(vocab_size: u64) -> Option<DType> {
    match vocab_size {
        0 => None,
        1..=256 => Some(DType::U8),
        257..=65_536 => Some(DType::U16),
        65_537..=4_294_967_296 => Some(DType::U32),
        _ => None,
    }
}

/// The largest vocabulary a token dtype can serve.
pub fn max_vocab(dtype: DType) -> u64 {
    match dtype {
        DType::U8 => 1 << 8,
        DType::U16 => 1 << 16,
        DType::U32 => 1 << 32,
        _ => 0,
    }
}

/// A slice of tokens of whichever type the file stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSlice<'a> {
    /// `u8` tokens.
    U8(&'a [u8]),
    /// `u16` tokens.
    U16(&'a [u16]),
    /// `u32` tokens.
    U32(&'a [u32]),
}

impl<'a> TokenSlice<'a> {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        match self {
            TokenSlice::U8(s) => s.len(),
            TokenSlice::U16(s) => s.len(),
            TokenSlice::U32(s) => s.len(),
        }
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Token `i` widened to `u32`.
    pub fn get(&self, i: usize) -> Option<u32> {
        match self {
            TokenSlice::U8(s) => s.get(i).map(|&t| u32::from(t)),
            TokenSlice::U16(s) => s.get(i).map(|&t| u32::from(t)),
            TokenSlice::U32(s) => s.get(i).copied(),
        }
    }

    /// A sub-slice.
    #[inline]
    pub fn slice(&self, range: std::ops::Range<usize>) -> TokenSlice<'a> {
        match self {
            TokenSlice::U8(s) => TokenSlice::U8(&s[range]),
            TokenSlice::U16(s) => TokenSlice::U16(&s[range]),
            TokenSlice::U32(s) => TokenSlice::U32(&s[range]),
        }
    }

    /// Appends every token, widened to `u32`, to `out`.
    pub fn extend_u32(&self, out: &mut Vec<u32>) {
        match self {
            TokenSlice::U8(s) => out.extend(s.iter().map(|&t| u32::from(t))),
            TokenSlice::U16(s) => out.extend(s.iter().map(|&t| u32::from(t))),
            TokenSlice::U32(s) => out.extend_from_slice(s),
        }
    }

    /// Every token widened to `u32`, in a new vector.
    pub fn to_vec_u32(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len());
        self.extend_u32(&mut v);
        v
    }

    /// The largest token id and its index, or `None` when empty.
    pub fn max_with_index(&self) -> Option<(usize, u32)> {
        fn go<T: Token>(s: &[T]) -> Option<(usize, u32)> {
            let max = s.iter().map(|&t| t.into()).max()?;
            let idx = s
                .iter()
                .position(|&t| t.into() == max)
                .expect("can't fail: max is in the slice");
            Some((idx, max))
        }
        match self {
            TokenSlice::U8(s) => go(s),
            TokenSlice::U16(s) => go(s),
            TokenSlice::U32(s) => go(s),
        }
    }

    /// The raw little-endian bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            TokenSlice::U8(s) => s,
            TokenSlice::U16(s) => s.as_bytes(),
            TokenSlice::U32(s) => s.as_bytes(),
        }
    }
}
