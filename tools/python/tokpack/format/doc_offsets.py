"""DOC_OFFSETS, kind 2 (spec section 5.2): ``u64[n_docs + 1]`` document boundaries."""

from typing import Tuple

import numpy as np

from ..errors import TokpackError
from .section_table import SectionEntry

CHUNK = 1 << 22


def view(raw: np.ndarray, entry: SectionEntry) -> np.ndarray:
    return raw[entry.offset : entry.end].view("<u8")


def check_ends(offsets: np.ndarray, entry: SectionEntry, n_tokens: int) -> None:
    """Spec 6.1 step 10: ``offsets[0] == 0`` and ``offsets[n_docs] == n_tokens``
    (two reads)."""
    first = int(offsets[0])
    if first != 0:
        raise TokpackError(
            "bad_doc_offsets",
            f"offsets[0] is {first}, must be 0",
            section="doc_offsets",
            offset=entry.offset,
        )
    n_docs = len(offsets) - 1
    last = int(offsets[n_docs])
    if last != n_tokens:
        raise TokpackError(
            "bad_doc_offsets",
            f"offsets[{n_docs}] is {last}, must be n_tokens = {n_tokens}",
            section="doc_offsets",
            offset=entry.offset + 8 * n_docs,
        )


def document_bounds(
    offsets: np.ndarray, entry: SectionEntry, i: int, n_tokens: int
) -> Tuple[int, int]:
    """Spec 6.2, last paragraph: ``offsets[i] <= offsets[i + 1] <= n_tokens``, checked
    for each document served, verified or not."""
    start = int(offsets[i])
    stop = int(offsets[i + 1])
    if not start <= stop <= n_tokens:
        raise TokpackError(
            "bad_doc_offsets",
            f"document {i} spans offsets[{i}] = {start} to offsets[{i + 1}] = {stop}, "
            f"not a range inside the {n_tokens} tokens",
            section="doc_offsets",
            offset=entry.offset + 8 * i,
        )
    return start, stop


def check_monotonic(offsets: np.ndarray, entry: SectionEntry) -> None:
    """Spec 6.2: the array never decreases."""
    n = len(offsets)
    for start in range(0, n - 1, CHUNK):
        chunk = offsets[start : min(start + CHUNK + 1, n)]
        bad = np.flatnonzero(chunk[1:] < chunk[:-1])
        if len(bad):
            i = start + int(bad[0]) + 1
            raise TokpackError(
                "bad_doc_offsets",
                f"offsets[{i}] = {int(offsets[i])} is less than offsets[{i - 1}] = "
                f"{int(offsets[i - 1])} (offsets must never decrease)",
                section="doc_offsets",
                offset=entry.offset + 8 * i,
            )
