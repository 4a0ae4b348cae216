"""TOKENS, kind 1 (spec section 5.1): the flat array of all token ids. Compressed
tokens (codec 1, 5.6) are read by :mod:`tokpack.format.zstd_blocks`."""

import numpy as np

from ..errors import TokpackError
from .section_table import DTYPES, SectionEntry

#: Values per chunk in full passes, so that a pass never allocates in proportion
#: to the file.
CHUNK = 1 << 22


def dtype_name(entry: SectionEntry) -> str:
    return DTYPES[entry.dtype][0]


def max_id(entry: SectionEntry) -> int:
    """The largest token id the section's dtype can hold."""
    return (1 << (8 * DTYPES[entry.dtype][1])) - 1


def check_vocab_dtype(entry: SectionEntry, vocab_size: int) -> None:
    """Spec 6.1 step 12 (second half): the dtype holds ``vocab_size - 1``."""
    if vocab_size - 1 > max_id(entry):
        raise TokpackError(
            "vocab_dtype",
            f"dtype {dtype_name(entry)} cannot hold token id {vocab_size - 1} "
            f"(vocab_size {vocab_size})",
            section="tokens",
            offset=entry.entry_offset + 4,
        )


def view(raw: np.ndarray, entry: SectionEntry) -> np.ndarray:
    """The tokens as a typed array over the same bytes (zero copy)."""
    return raw[entry.offset : entry.end].view(DTYPES[entry.dtype][2])


def check_ids(tokens: np.ndarray, entry: SectionEntry, vocab_size: int) -> None:
    """Spec 6.2: every token id is ``< vocab_size``."""
    if vocab_size > max_id(entry):
        return
    for start in range(0, len(tokens), CHUNK):
        chunk = tokens[start : start + CHUNK]
        bad = np.flatnonzero(chunk >= vocab_size)
        if len(bad):
            i = start + int(bad[0])
            raise TokpackError(
                "token_out_of_range",
                f"token {i} is {int(tokens[i])}, not < vocab_size {vocab_size}",
                section="tokens",
                offset=entry.offset + i * tokens.itemsize,
            )


def check_block_ids(blocks, entry: SectionEntry, vocab_size: int) -> None:
    """6.2 step 4 for compressed tokens (5.6 "In verify"): every block offset in
    order (``bad_block``), then block by block in order: the block decompressed and
    checked (``bad_block``), then its tokens' range (``token_out_of_range``, naming
    the token's index in the decompressed stream)."""
    blocks.check_offsets()
    check = vocab_size <= max_id(entry)
    for k, block in blocks.blocks():
        if check:
            bad = np.flatnonzero(block >= vocab_size)
            if len(bad):
                j = int(bad[0])
                raise TokpackError(
                    "token_out_of_range",
                    f"token {k * blocks.block_tokens + j} (of the decompressed stream, "
                    f"block {k}) is {int(block[j])}, not < vocab_size {vocab_size}",
                    section="tokens",
                    offset=entry.offset,
                )
