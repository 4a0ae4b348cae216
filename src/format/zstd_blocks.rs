//! Compressed tokens (spec 5.6, codec 1): the token stream in blocks of `block_tokens`
//! tokens, each one zstd frame, behind a table of block offsets.

use zerocopy::FromBytes;

use crate::error::{Error, ErrorCode, Result};
use crate::format::section_table::DType;

/// The codec number of zstd blocks.
pub const CODEC_ZSTD: u8 = 1;
/// The largest `block_tokens` a reader accepts (it bounds the memory of one block).
pub const MAX_BLOCK_TOKENS: u64 = 1 << 24;
/// Bytes before the block offsets: `block_tokens` (u32) and a reserved u32.
pub const HEAD: u64 = 8;
/// Section name for messages.
const NAME: &str = "TOKENS";
/// The first four bytes of a zstd frame (RFC 8878).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The largest window a frame may declare (spec 5.6).
pub const MAX_WINDOW: u64 = 1 << 27;

/// The window size a zstd frame header declares (RFC 8878 3.1.1.1): from the window
/// descriptor, or the content size for single-segment frames. `None` if the header is cut.
pub fn window_size(frame: &[u8]) -> Option<u64> {
    let fhd = *frame.get(4)?;
    let single_segment = fhd & 0x20 != 0;
    if !single_segment {
        let wd = *frame.get(5)?;
        let log = 10 + u64::from(wd >> 3);
        let base = 1u64 << log;
        return Some(base + (base / 8) * u64::from(wd & 7));
    }
    let did_bytes = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs_bytes = [1usize, 2, 4, 8][usize::from(fhd >> 6)];
    let at = 5 + did_bytes;
    let field = frame.get(at..at + fcs_bytes)?;
    let mut v = [0u8; 8];
    v[..fcs_bytes].copy_from_slice(field);
    let size = u64::from_le_bytes(v);
    Some(if fcs_bytes == 2 { size + 256 } else { size })
}

/// The layout of a codec-1 TOKENS section, checked at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLayout {
    /// Tokens per block.
    pub block_tokens: u64,
    /// Number of blocks.
    pub n_blocks: u64,
    /// Tokens in all.
    pub count: u64,
    /// Bytes per token.
    pub width: u64,
    /// Where the section starts in the file (for messages).
    pub section_offset: u64,
}

fn bad(section_offset: u64, at: u64, detail: String) -> Error {
    Error::format(
        ErrorCode::BadBlock,
        Some(NAME),
        Some(section_offset + at),
        detail,
    )
}

impl BlockLayout {
    /// 6.1 step 8 for codec 1: the section holds at least its 8-byte head.
    pub fn check_head_length(length: u64, section_offset: u64) -> Result<()> {
        if length < HEAD {
            return Err(Error::format(
                ErrorCode::SectionLength,
                Some(NAME),
                Some(section_offset),
                format!("compressed TOKENS of {length} bytes: shorter than its {HEAD}-byte head"),
            ));
        }
        Ok(())
    }

    /// The open-time checks of spec 5.6 on the section's bytes (`section.len()` is its
    /// `length`, at least [`HEAD`]): a fixed number of reads.
    pub fn parse(
        section: &[u8],
        count: u64,
        dtype: DType,
        section_offset: u64,
    ) -> Result<BlockLayout> {
        let length = section.len() as u64;
        let block_tokens = u64::from(u32::from_le_bytes(
            section[0..4].try_into().expect("can't fail: 4 bytes"),
        ));
        if block_tokens == 0 || block_tokens > MAX_BLOCK_TOKENS {
            return Err(bad(
                section_offset,
                0,
                format!("block_tokens is {block_tokens}, not between 1 and {MAX_BLOCK_TOKENS}"),
            ));
        }
        let n_blocks = count.div_ceil(block_tokens);
        let data_start = n_blocks
            .checked_add(1)
            .and_then(|n| n.checked_mul(8))
            .and_then(|n| n.checked_add(HEAD));
        let Some(data_start) = data_start.filter(|&d| d <= length) else {
            return Err(Error::format(
                ErrorCode::SectionLength,
                Some(NAME),
                Some(section_offset),
                format!("{length} bytes cannot hold the offsets of {n_blocks} blocks of {block_tokens} tokens"),
            ));
        };
        let layout = BlockLayout {
            block_tokens,
            n_blocks,
            count,
            width: dtype.width(),
            section_offset,
        };
        let offsets = layout.offsets(section)?;
        if offsets[0] != data_start {
            return Err(bad(
                section_offset,
                HEAD,
                format!(
                    "block_offsets[0] is {}, not {data_start} (the end of the offsets)",
                    offsets[0]
                ),
            ));
        }
        let last = offsets[n_blocks as usize];
        if last != length {
            return Err(bad(
                section_offset,
                HEAD + 8 * n_blocks,
                format!("block_offsets[{n_blocks}] is {last}, not the section length {length}"),
            ));
        }
        Ok(layout)
    }

    /// The `n_blocks + 1` block offsets.
    pub fn offsets<'a>(&self, section: &'a [u8]) -> Result<&'a [u64]> {
        let end = (HEAD + 8 * (self.n_blocks + 1)) as usize;
        <[u64]>::ref_from_bytes(&section[HEAD as usize..end]).map_err(|_| Error::UnalignedBuffer {
            section: NAME,
            align: 8,
        })
    }

    /// Tokens of block `k`: `k * block_tokens` up to the next block or the end.
    pub fn block_range(&self, k: u64) -> std::ops::Range<u64> {
        let start = k * self.block_tokens;
        start..(start + self.block_tokens).min(self.count)
    }

    /// Bytes block `k` decompresses to.
    pub fn block_bytes(&self, k: u64) -> usize {
        let r = self.block_range(k);
        ((r.end - r.start) * self.width) as usize
    }

    /// Frame `k`'s bytes, its offsets checked (spec 5.6, reading).
    pub fn frame<'a>(&self, section: &'a [u8], k: u64) -> Result<&'a [u8]> {
        let offsets = self.offsets(section)?;
        let (a, b) = (offsets[k as usize], offsets[k as usize + 1]);
        if a > b || b > section.len() as u64 {
            return Err(bad(
                self.section_offset,
                HEAD + 8 * k,
                format!(
                    "block {k} spans bytes {a}..{b} of a {}-byte section",
                    section.len()
                ),
            ));
        }
        Ok(&section[a as usize..b as usize])
    }

    /// Decompresses block `k` into `out` (resized to the block's bytes), checking that the
    /// frame gives exactly that many bytes.
    pub fn decompress(
        &self,
        section: &[u8],
        k: u64,
        dctx: &mut zstd::bulk::Decompressor<'static>,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let frame = self.frame(section, k)?;
        // Exactly one zstd frame: its magic first, its end at the block's end (no skippable
        // frames, nothing after it).
        let one_frame = frame.starts_with(&ZSTD_MAGIC)
            && zstd::zstd_safe::find_frame_compressed_size(frame).ok() == Some(frame.len());
        if !one_frame {
            return Err(bad(
                self.section_offset,
                HEAD + 8 * k,
                format!("block {k} is not exactly one zstd frame"),
            ));
        }
        if window_size(frame).is_none_or(|w| w > MAX_WINDOW) {
            return Err(bad(
                self.section_offset,
                HEAD + 8 * k,
                format!("block {k}: the frame's window is larger than {MAX_WINDOW} bytes"),
            ));
        }
        let want = self.block_bytes(k);
        // One byte more than needed, so that a frame that decompresses to more is caught.
        out.clear();
        out.resize(want + 1, 0);
        let got = dctx
            .decompress_to_buffer(frame, &mut out[..])
            .map_err(|e| {
                bad(
                    self.section_offset,
                    HEAD + 8 * k,
                    format!("block {k} does not decompress: {e}"),
                )
            })?;
        if got != want {
            return Err(bad(
                self.section_offset,
                HEAD + 8 * k,
                format!("block {k} decompresses to {got} bytes, not {want}"),
            ));
        }
        out.truncate(want);
        Ok(())
    }

    /// Verify's first part (spec 5.6): offsets never decrease.
    pub fn check_offsets(&self, section: &[u8]) -> Result<()> {
        let offsets = self.offsets(section)?;
        match offsets.windows(2).position(|w| w[0] > w[1]) {
            None => Ok(()),
            Some(k) => Err(bad(
                self.section_offset,
                HEAD + 8 * (k as u64 + 1),
                format!(
                    "block_offsets decrease at {}: {} after {}",
                    k + 1,
                    offsets[k + 1],
                    offsets[k]
                ),
            )),
        }
    }
}

/// Compression settings for a writer (spec 5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// zstd level (1 fastest .. 22 smallest; 3 is zstd's default).
    pub level: i32,
    /// Tokens per block: the unit a reader decompresses.
    pub block_tokens: u32,
}

impl Compression {
    /// The default block size: 4,096 tokens (16 KiB of u32 ids per block). A random row of
    /// 2,049 tokens decompresses one or two blocks; on real text (README) larger blocks
    /// save 2 to 4 points of size and cost 2 to 7 times the random-row latency.
    pub const DEFAULT_BLOCK_TOKENS: u32 = 4_096;

    /// zstd at `level` with the default block size.
    pub fn zstd(level: i32) -> Compression {
        Compression {
            level,
            block_tokens: Compression::DEFAULT_BLOCK_TOKENS,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.block_tokens == 0 || u64::from(self.block_tokens) > MAX_BLOCK_TOKENS {
            return Err(Error::InvalidArgument(format!(
                "block size {} tokens is not between 1 and {MAX_BLOCK_TOKENS}",
                self.block_tokens
            )));
        }
        let range = zstd::compression_level_range();
        if !range.contains(&self.level) {
            return Err(Error::InvalidArgument(format!(
                "zstd level {} is not between {} and {}",
                self.level,
                range.start(),
                range.end()
            )));
        }
        Ok(())
    }
}
