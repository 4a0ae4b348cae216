//! The on-disk format, one module per table of `spec/FORMAT.md`.
//!
//! | spec section | module |
//! |---|---|
//! | 3. Header | [`header`] |
//! | 4. Section table, 6.1 layout rules | [`section_table`] |
//! | 5.1 TOKENS | [`tokens`] |
//! | 5.2 DOC_OFFSETS | [`doc_offsets`] |
//! | 5.3 LOSS_MASK | [`loss_mask`] |
//! | 5.4 METADATA | [`metadata`] |
//! | 5.5 DOC_SOURCES | [`doc_sources`] |
//! | 5.6 Compressed tokens (codec 1) | [`zstd_blocks`] |
//! | 11. Plan files | [`plan`] |
//! | 13. Overlay files | [`overlay`] |

pub mod doc_offsets;
pub mod doc_sources;
pub mod header;
pub mod loss_mask;
pub mod metadata;
pub mod overlay;
pub mod plan;
pub mod section_table;
pub mod tokens;
pub mod zstd_blocks;

/// Sections start at multiples of this many bytes.
pub const PAGE: u64 = 4096;

/// Rounds `x` up to the next multiple of [`PAGE`], or `None` on overflow.
pub fn align_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE - 1).map(|v| v / PAGE * PAGE)
}

/// CRC32 (CRC-32/ISO-HDLC, as zlib) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}
