"""LOSS_MASK, kind 3 (spec section 5.3): one bit per token, least significant first."""

from typing import Optional

import numpy as np

from ..errors import TokpackError
from .section_table import SectionEntry


def view(raw: np.ndarray, entry: SectionEntry) -> np.ndarray:
    return raw[entry.offset : entry.end]


def check_padding(mask: np.ndarray, entry: SectionEntry) -> None:
    """Spec 6.1 step 11: the bits after bit ``n_tokens - 1`` are zero (one read)."""
    used = entry.count % 8
    if used == 0:
        return
    last = int(mask[-1])
    if last >> used:
        raise TokpackError(
            "mask_padding",
            f"last byte is 0x{last:02x}; its bits {used} to 7 are past the "
            f"{entry.count} tokens and must be zero",
            section="loss_mask",
            offset=entry.end - 1,
        )


def bits(mask: Optional[np.ndarray], start: int, stop: int) -> np.ndarray:
    """The mask of tokens ``start .. stop`` as a bool array; all True without a mask.
    The caller has checked ``0 <= start <= stop <= n_tokens``."""
    if mask is None:
        return np.ones(stop - start, dtype=bool)
    first_byte = start // 8
    packed = mask[first_byte : -(-stop // 8)]
    unpacked = np.unpackbits(packed, bitorder="little")
    skip = start - 8 * first_byte
    return unpacked[skip : skip + (stop - start)].astype(bool)


def bits_at(mask: Optional[np.ndarray], positions: np.ndarray) -> np.ndarray:
    """The mask bits of the tokens at ``positions`` (an integer array) as a bool
    array; all True without a mask. The caller has checked ``0 <= position <
    n_tokens``."""
    if mask is None:
        return np.ones(len(positions), dtype=bool)
    positions = np.asarray(positions, dtype=np.int64)
    return ((mask[positions >> 3] >> (positions & 7).astype(np.uint8)) & 1).astype(bool)
