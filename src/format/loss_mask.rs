//! The LOSS_MASK section (spec 5.3): one bit per token, least significant bit first.

use crate::error::{Error, ErrorCode, Result};

/// Section name for messages.
pub const NAME: &str = "LOSS_MASK";

/// For each byte value, its eight bits as eight 0/1 bytes (least significant first),
/// packed into a little-endian `u64`.
const SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut v = 0u64;
        let mut bit = 0;
        while bit < 8 {
            if b & (1 << bit) != 0 {
                v |= 1 << (8 * bit);
            }
            bit += 1;
        }
        table[b] = v;
        b += 1;
    }
    table
};

/// A view of the loss-mask bits of a whole dataset.
#[derive(Debug, Clone, Copy)]
pub struct LossMask<'a> {
    bytes: &'a [u8],
    len: u64,
}

impl<'a> LossMask<'a> {
    /// A view of `len` bits stored in `bytes`. `bytes.len()` must be `ceil(len / 8)`.
    pub fn new(bytes: &'a [u8], len: u64) -> LossMask<'a> {
        debug_assert_eq!(bytes.len() as u64, len.div_ceil(8));
        LossMask { bytes, len }
    }

    /// Number of bits (= number of tokens).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed bytes, as stored.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether token `i` is a target, or `None` past the end.
    #[inline]
    pub fn get(&self, i: u64) -> Option<bool> {
        if i >= self.len {
            return None;
        }
        Some(self.bytes[(i / 8) as usize] >> (i % 8) & 1 == 1)
    }

    /// Writes bits `start .. start + out.len()` into `out` as 0/1 bytes.
    pub fn unpack_into(&self, start: u64, out: &mut [u8]) -> Result<()> {
        let end = start
            .checked_add(out.len() as u64)
            .filter(|&e| e <= self.len);
        if end.is_none() {
            return Err(Error::IndexOutOfRange {
                what: "loss-mask bit",
                index: start.saturating_add(out.len() as u64),
                len: self.len,
            });
        }
        unpack_bits(self.bytes, start, out);
        Ok(())
    }

    /// Number of set bits (training targets) in `start .. end`.
    pub fn count_ones(&self, start: u64, end: u64) -> u64 {
        let end = end.min(self.len);
        if start >= end {
            return 0;
        }
        let mut n = 0u64;
        let mut i = start;
        while i < end && i % 8 != 0 {
            n += u64::from(self.bytes[(i / 8) as usize] >> (i % 8) & 1);
            i += 1;
        }
        let full_end = end / 8 * 8;
        if i < full_end {
            n += self.bytes[(i / 8) as usize..(full_end / 8) as usize]
                .iter()
                .map(|b| u64::from(b.count_ones()))
                .sum::<u64>();
            i = full_end;
        }
        while i < end {
            n += u64::from(self.bytes[(i / 8) as usize] >> (i % 8) & 1);
            i += 1;
        }
        n
    }
}

/// Unpacks bits `start .. start + out.len()` of `bytes` into 0/1 bytes. The caller has
/// checked the range.
pub fn unpack_bits(bytes: &[u8], start: u64, out: &mut [u8]) {
    let mut bit = start;
    let mut o = 0;
    // Head: up to the next byte boundary.
    while o < out.len() && bit % 8 != 0 {
        out[o] = bytes[(bit / 8) as usize] >> (bit % 8) & 1;
        bit += 1;
        o += 1;
    }
    // Body: eight bits at a time through the table.
    let whole = (out.len() - o) / 8;
    let first = (bit / 8) as usize;
    for (chunk, &b) in out[o..o + whole * 8]
        .chunks_exact_mut(8)
        .zip(&bytes[first..first + whole])
    {
        chunk.copy_from_slice(&SPREAD[b as usize].to_le_bytes());
    }
    o += whole * 8;
    bit += whole as u64 * 8;
    // Tail.
    while o < out.len() {
        out[o] = bytes[(bit / 8) as usize] >> (bit % 8) & 1;
        bit += 1;
        o += 1;
    }
}

/// Checks spec 6.1 step 11: the bits after the last one in the final byte are zero.
pub fn check_padding(bytes: &[u8], len: u64, section_offset: u64) -> Result<()> {
    let used = (len % 8) as u32;
    if used == 0 {
        return Ok(());
    }
    let last = bytes[bytes.len() - 1];
    if last >> used != 0 {
        return Err(Error::format(
            ErrorCode::MaskPadding,
            Some(NAME),
            Some(section_offset + bytes.len() as u64 - 1),
            format!(
                "unused bits of the last byte are not zero (byte is {last:#04x}, {used} bits used)"
            ),
        ));
    }
    Ok(())
}

/// Packs a stream of bits into bytes, least significant first, for the writer.
#[derive(Debug, Default)]
pub struct BitPacker {
    current: u8,
    filled: u32,
}

impl BitPacker {
    /// Appends `bits` and emits each completed byte through `emit`.
    pub fn push(&mut self, bits: &[bool], out: &mut Vec<u8>) {
        let mut rest = bits;
        while self.filled != 0 && !rest.is_empty() {
            self.push_one(rest[0], out);
            rest = &rest[1..];
        }
        let mut chunks = rest.chunks_exact(8);
        for c in &mut chunks {
            let mut b = 0u8;
            for (k, &bit) in c.iter().enumerate() {
                b |= u8::from(bit) << k;
            }
            out.push(b);
        }
        for &bit in chunks.remainder() {
            self.push_one(bit, out);
        }
    }

    /// Appends `n` one bits.
    pub fn push_ones(&mut self, mut n: u64, out: &mut Vec<u8>) {
        while self.filled != 0 && n > 0 {
            self.push_one(true, out);
            n -= 1;
        }
        out.extend(std::iter::repeat_n(0xFF, (n / 8) as usize));
        for _ in 0..n % 8 {
            self.push_one(true, out);
        }
    }

    fn push_one(&mut self, bit: bool, out: &mut Vec<u8>) {
        self.current |= u8::from(bit) << self.filled;
        self.filled += 1;
        if self.filled == 8 {
            out.push(self.current);
            self.current = 0;
            self.filled = 0;
        }
    }

    /// The last, partly filled byte (zero-padded), if any.
    pub fn finish(self) -> Option<u8> {
        (self.filled != 0).then_some(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(bits: &[bool]) -> Vec<u8> {
        let mut p = BitPacker::default();
        let mut out = Vec::new();
        p.push(bits, &mut out);
        out.extend(p.finish());
        out
    }

    #[test]
    fn unpack_matches_get_for_every_start_and_length() {
        let bits: Vec<bool> = (0..77).map(|i| (i * 7 + i / 3) % 5 < 2).collect();
        let bytes = pack(&bits);
        let mask = LossMask::new(&bytes, bits.len() as u64);
        for start in 0..bits.len() {
            for len in 0..=(bits.len() - start) {
                let mut out = vec![9u8; len];
                mask.unpack_into(start as u64, &mut out).unwrap();
                let want: Vec<u8> = bits[start..start + len]
                    .iter()
                    .map(|&b| u8::from(b))
                    .collect();
                assert_eq!(out, want, "start {start} len {len}");
                let ones = want.iter().filter(|&&b| b == 1).count() as u64;
                assert_eq!(mask.count_ones(start as u64, (start + len) as u64), ones);
            }
        }
    }

    #[test]
    fn packer_handles_split_pushes_and_ones() {
        let mut p = BitPacker::default();
        let mut out = Vec::new();
        p.push(&[true, false, true], &mut out);
        p.push_ones(10, &mut out);
        p.push(&[false; 5], &mut out);
        out.extend(p.finish());
        let mut want = vec![true, false, true];
        want.extend([true; 10]);
        want.extend([false; 5]);
        assert_eq!(out, pack(&want));
        assert_eq!(out, vec![0b1111_1101, 0b0001_1111, 0]);
    }

    #[test]
    fn unpack_past_end_is_an_error() {
        let bytes = pack(&[true; 10]);
        let mask = LossMask::new(&bytes, 10);
        assert!(mask.unpack_into(5, &mut [0; 6]).is_err());
        assert!(mask.unpack_into(u64::MAX, &mut [0; 2]).is_err());
    }

    #[test]
    fn padding_bits_must_be_zero() {
        assert!(check_padding(&[0b0000_0111], 3, 0).is_ok());
        let e = check_padding(&[0b0000_1111], 3, 8192).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::MaskPadding));
        assert!(check_padding(&[0xFF], 8, 0).is_ok());
    }
}
