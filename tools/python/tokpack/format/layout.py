"""Conventions and page arithmetic (spec sections 1 and 2)."""

import zlib

import numpy as np

PAGE = 4096
U64_MAX = 2**64 - 1
#: Bytes handed to zlib.crc32 at a time, so that a pass over a mapping stays small.
CRC_CHUNK = 1 << 24


def align_up(x: int) -> int:
    """``ceil(x / 4096) * 4096``."""
    return -(-x // PAGE) * PAGE


def crc32(data) -> int:
    """CRC-32/ISO-HDLC of a bytes-like object (a numpy uint8 array works), chunked."""
    view = memoryview(data).cast("B")
    crc = 0
    for start in range(0, len(view), CRC_CHUNK):
        crc = zlib.crc32(view[start : start + CRC_CHUNK], crc)
    return crc


def u16(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 2], "little")


def u32(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 4], "little")


def u64(b: bytes, at: int) -> int:
    return int.from_bytes(b[at : at + 8], "little")


def sum_u64(values) -> int:
    """The exact sum of a ``uint64`` array, as a Python ``int`` (no wrap-around).

    numpy sums ``uint64`` modulo 2**64. A float64 sum first tells whether the exact
    sum can reach 2**63 (its relative error is below ``len(values) * 2**-53``); if not,
    the uint64 sum is exact, else the values are added as Python integers."""
    if len(values) == 0:
        return 0
    if float(values.sum(dtype=np.float64)) < 2.0**62:
        return int(values.sum(dtype=np.uint64))
    return sum(int(v) for v in values)
