"""The header: 64 bytes at offset 0 (spec section 3)."""

from dataclasses import dataclass

from ..errors import TokpackError
from .layout import crc32, u16, u32, u64

HEADER_SIZE = 64
MAGIC = b"TOKPACK\x00"
MAJOR = 1
MINOR = 0


@dataclass(frozen=True)
class Header:
    """The header's fields, at these byte offsets (all little-endian)."""

    magic: bytes  # 8 bytes, offset 0
    major: int  # u16, offset 8
    minor: int  # u16, offset 10
    flags: int  # u32, offset 12
    dataset_id: bytes  # 16 bytes, offset 16
    file_length: int  # u64, offset 32
    table_offset: int  # u64, offset 40
    section_count: int  # u32, offset 48
    table_crc32: int  # u32, offset 52
    reserved: int  # u32, offset 56
    header_crc32: int  # u32, offset 60

    @classmethod
    def parse(cls, raw: bytes) -> "Header":
        """Decode the first 64 bytes; the caller has checked that they exist."""
        assert len(raw) == HEADER_SIZE, "can't fail: caller checked the length"
        return cls(
            magic=raw[0:8],
            major=u16(raw, 8),
            minor=u16(raw, 10),
            flags=u32(raw, 12),
            dataset_id=raw[16:32],
            file_length=u64(raw, 32),
            table_offset=u64(raw, 40),
            section_count=u32(raw, 48),
            table_crc32=u32(raw, 52),
            reserved=u32(raw, 56),
            header_crc32=u32(raw, 60),
        )


def read_header(raw, real_length: int) -> Header:
    """Spec 6.1 steps 1 and 2: size, magic, version, header CRC, flags, file length."""
    if real_length < HEADER_SIZE:
        raise TokpackError(
            "truncated",
            f"file is {real_length} bytes, shorter than the {HEADER_SIZE}-byte header",
            section="header",
            offset=0,
        )
    head = bytes(raw[:HEADER_SIZE])
    header = Header.parse(head)
    if header.magic != MAGIC:
        raise TokpackError(
            "bad_magic",
            f"magic is {header.magic!r}, expected {MAGIC!r}",
            section="header",
            offset=0,
        )
    if header.major != MAJOR:
        raise TokpackError(
            "unsupported_version",
            f"major version {header.major}.{header.minor} is not supported "
            f"(this reader reads {MAJOR}.x)",
            section="header",
            offset=8,
        )
    actual = crc32(head[:60])
    if actual != header.header_crc32:
        raise TokpackError(
            "header_checksum",
            f"header CRC32 is 0x{actual:08x}, stored 0x{header.header_crc32:08x}",
            section="header",
            offset=60,
        )
    if header.flags != 0:
        raise TokpackError(
            "unknown_flags",
            f"header flags 0x{header.flags:08x} are not known to this reader",
            section="header",
            offset=12,
        )
    if header.file_length != real_length:
        raise TokpackError(
            "file_length",
            f"header declares {header.file_length} bytes, the file has {real_length}",
            section="header",
            offset=32,
        )
    return header
