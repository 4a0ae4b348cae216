//! The 64-byte file header (spec section 3).

use zerocopy::byteorder::{LE, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::crc32;
use crate::error::{Error, ErrorCode, Result};

/// `TOKPACK` and a zero byte.
pub const MAGIC: [u8; 8] = *b"TOKPACK\0";
/// The major version this crate reads and writes.
pub const MAJOR: u16 = 1;
/// The minor version this crate writes.
pub const MINOR: u16 = 0;
/// Minor version of a dataset file with source ids (DOC_SOURCES, since 1.3).
pub const MINOR_SOURCES: u16 = 3;
/// Minor version of a dataset file with compressed tokens (codec 1, since 1.4).
pub const MINOR_COMPRESSED: u16 = 4;
/// Size of the header in bytes.
pub const HEADER_LEN: u64 = 64;

/// The file header, byte for byte as on disk.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// Major version.
    pub major: U16<LE>,
    /// Minor version.
    pub minor: U16<LE>,
    /// File-wide feature flags; none are defined in 1.0.
    pub flags: U32<LE>,
    /// Identifier made at write time.
    pub dataset_id: [u8; 16],
    /// Length of the whole file.
    pub file_length: U64<LE>,
    /// Where the section table starts (64).
    pub table_offset: U64<LE>,
    /// Number of section table entries.
    pub section_count: U32<LE>,
    /// CRC32 of the section table.
    pub table_crc32: U32<LE>,
    /// Written as zero, ignored.
    pub reserved: U32<LE>,
    /// CRC32 of bytes 0..60.
    pub header_crc32: U32<LE>,
}

const _: () = assert!(std::mem::size_of::<Header>() == HEADER_LEN as usize);

impl Header {
    /// The CRC32 of the first 60 bytes, as `header_crc32` must hold it.
    pub fn compute_crc(&self) -> u32 {
        crc32(&self.as_bytes()[..60])
    }

    /// Sets `header_crc32` from the other fields.
    pub fn seal(&mut self) {
        self.header_crc32 = U32::new(self.compute_crc());
    }

    /// Reads the header from the start of `file` and checks rules 1 and 2 of spec 6.1.
    pub fn parse(file: &[u8]) -> Result<Header> {
        let bad = |code, offset, detail: String| {
            Error::format(code, Some("header"), Some(offset), detail)
        };
        let Ok((header, _)) = Header::read_from_prefix(file) else {
            return Err(bad(
                ErrorCode::Truncated,
                0,
                format!(
                    "file is {} bytes, shorter than the {HEADER_LEN}-byte header",
                    file.len()
                ),
            ));
        };
        if header.magic != MAGIC {
            return Err(bad(
                ErrorCode::BadMagic,
                0,
                format!(
                    "magic is {:02x?}, not \"TOKPACK\\0\": not a tokpack file",
                    header.magic
                ),
            ));
        }
        if header.major.get() != MAJOR {
            return Err(bad(
                ErrorCode::UnsupportedVersion,
                8,
                format!(
                    "format version {}.{} is not supported: this reader reads major version {MAJOR}",
                    header.major.get(),
                    header.minor.get()
                ),
            ));
        }
        let crc = header.compute_crc();
        if crc != header.header_crc32.get() {
            return Err(bad(
                ErrorCode::HeaderChecksum,
                60,
                format!(
                    "header CRC32 is {:#010x} but the header bytes give {crc:#010x}",
                    header.header_crc32.get()
                ),
            ));
        }
        if header.flags.get() != 0 {
            return Err(bad(
                ErrorCode::UnknownFlags,
                12,
                format!("unknown header flags {:#010x}", header.flags.get()),
            ));
        }
        if header.file_length.get() != file.len() as u64 {
            return Err(bad(
                ErrorCode::FileLength,
                32,
                format!(
                    "header declares {} bytes but the file has {} (truncated or appended to)",
                    header.file_length.get(),
                    file.len()
                ),
            ));
        }
        Ok(header)
    }
}
