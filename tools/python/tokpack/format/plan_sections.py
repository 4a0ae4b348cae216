"""PLAN_ROWS, kind 6 (spec 11.2) and PLAN_SEGMENTS, kind 7 (spec 11.3).

``rows``: ``u64[n_rows + 1]``, row ``r`` is segments ``rows[r] .. rows[r + 1]``.
``segments``: ``u64[2 * n_segments]``, segment ``k`` is ``(start, length) =
(seg[2k], seg[2k + 1])``, the dataset tokens ``start .. start + length``.

Every check here works on ``uint64`` arrays without wrapping: a sum goes through
``layout.sum_u64``, and ``start + length <= n`` is tested as ``length <= n`` and
``start <= n - length``.
"""

from typing import Optional, Tuple

import numpy as np

from ..errors import TokpackError
from .layout import sum_u64
from .section_table import SectionEntry

#: Rows per block in full passes, so that a pass never allocates in proportion to
#: the whole file at once.
CHUNK = 1 << 20


def view(raw: np.ndarray, entry: SectionEntry) -> np.ndarray:
    return raw[entry.offset : entry.end].view("<u8")


def empty_rows() -> np.ndarray:
    return np.zeros(0, dtype="<u8")


def empty_segments() -> np.ndarray:
    return np.zeros((0, 2), dtype="<u8")


def check_counts(rows_entry: SectionEntry, seg_entry: SectionEntry, n_rows: int) -> None:
    """11.4 step 5 (``count_mismatch`` part): PLAN_ROWS ``count == rows + 1``, PLAN_SEGMENTS
    ``count`` even."""
    if rows_entry.count != n_rows + 1:
        raise TokpackError(
            "count_mismatch",
            f"PLAN_ROWS count is {rows_entry.count}, the metadata's rows + 1 is "
            f"{n_rows + 1}",
            section="plan_rows",
            offset=rows_entry.entry_offset + 24,
        )
    if seg_entry.count % 2:
        raise TokpackError(
            "count_mismatch",
            f"PLAN_SEGMENTS count is {seg_entry.count}, not even (2 values per segment)",
            section="plan_segments",
            offset=seg_entry.entry_offset + 24,
        )


def check_ends(rows: np.ndarray, rows_entry: SectionEntry, n_segments: int) -> None:
    """11.4 step 5 (``bad_plan`` part): ``rows[0] == 0`` and ``rows[n_rows] ==
    n_segments`` (two reads)."""
    first = int(rows[0])
    if first != 0:
        raise TokpackError(
            "bad_plan",
            f"rows[0] is {first}, must be 0",
            section="plan_rows",
            offset=rows_entry.offset,
        )
    n_rows = len(rows) - 1
    last = int(rows[n_rows])
    if last != n_segments:
        raise TokpackError(
            "bad_plan",
            f"rows[{n_rows}] is {last}, must be the number of segments {n_segments}",
            section="plan_rows",
            offset=rows_entry.offset + 8 * n_rows,
        )


def row_segments(
    rows: np.ndarray,
    segments: np.ndarray,
    rows_entry: SectionEntry,
    seg_entry: SectionEntry,
    r: int,
    seq_len: int,
    n_tokens: int,
) -> Tuple[np.ndarray, np.ndarray]:
    """Row ``r``'s ``(starts, lengths)`` (uint64 views), after the checks that 11.4
    asks of a row read from an unverified plan: ``rows[r] <= rows[r+1] <= segments``,
    each segment inside the tokens and the lengths adding up to at most ``L``
    (``bad_plan``). Also each length ``>= 1`` (11.3): a reader may refuse a row of an
    invalid plan, and ``tokpack row`` does. Nothing outside a section is read."""
    n_segments = len(segments)
    a, b = int(rows[r]), int(rows[r + 1])
    if not a <= b <= n_segments:
        raise TokpackError(
            "bad_plan",
            f"row {r} spans segments rows[{r}] = {a} to rows[{r + 1}] = {b}, not a range "
            f"inside the {n_segments} segments",
            section="plan_rows",
            offset=rows_entry.offset + 8 * r,
        )
    starts = segments[a:b, 0]
    lengths = segments[a:b, 1]
    bad = np.flatnonzero((lengths == 0) | _past_end(starts, lengths, n_tokens))
    if len(bad):
        k = a + int(bad[0])
        start, length = int(segments[k, 0]), int(segments[k, 1])
        raise TokpackError(
            "bad_plan",
            f"segment {k} (start {start}, length {length}) of row {r} is "
            f"{'empty' if length == 0 else 'not inside the ' + str(n_tokens) + ' tokens'}",
            section="plan_segments",
            offset=seg_entry.offset + 16 * k,
        )
    total = sum_u64(lengths)
    if total > seq_len:
        raise TokpackError(
            "bad_plan",
            f"row {r} holds {total} tokens, more than seq_len {seq_len}",
            section="plan_rows",
            offset=rows_entry.offset + 8 * r,
        )
    return starts, lengths


def verify(
    rows: np.ndarray,
    segments: np.ndarray,
    rows_entry: SectionEntry,
    seg_entry: SectionEntry,
    seq_len: int,
    dataset_tokens: int,
    tokens: int,
) -> None:
    """11.5 after the CRCs and the padding, check by check in its order: PLAN_ROWS
    never decreasing; every segment length ``>= 1``; ``start + length <=
    dataset_tokens``; each row's lengths adding up to at most ``L``; the sum of all
    lengths equal to ``tokens`` (``bad_plan``, naming the row or segment)."""
    n_rows = len(rows) - 1
    n_segments = len(segments)
    # PLAN_ROWS never decreasing. With rows[0] == 0 and rows[n_rows] == n_segments
    # (checked at open), every row is then a range inside the segments.
    for lo in range(0, n_rows, CHUNK):
        chunk = rows[lo : min(lo + CHUNK, n_rows) + 1]
        bad = np.flatnonzero(chunk[1:] < chunk[:-1])
        if len(bad):
            r = lo + int(bad[0])
            raise TokpackError(
                "bad_plan",
                f"rows[{r + 1}] = {int(rows[r + 1])} is less than rows[{r}] = "
                f"{int(rows[r])} (PLAN_ROWS must never decrease)",
                section="plan_rows",
                offset=rows_entry.offset + 8 * (r + 1),
            )
    # Every segment length >= 1.
    for lo in range(0, n_segments, CHUNK):
        lengths = segments[lo : lo + CHUNK, 1]
        bad = np.flatnonzero(lengths == 0)
        if len(bad):
            k = lo + int(bad[0])
            raise TokpackError(
                "bad_plan",
                f"segment {k} (start {int(segments[k, 0])}) has length 0",
                section="plan_segments",
                offset=seg_entry.offset + 16 * k + 8,
            )
    # start + length <= dataset_tokens, without overflow.
    for lo in range(0, n_segments, CHUNK):
        starts = segments[lo : lo + CHUNK, 0]
        lengths = segments[lo : lo + CHUNK, 1]
        bad = np.flatnonzero(_past_end(starts, lengths, dataset_tokens))
        if len(bad):
            k = lo + int(bad[0])
            raise TokpackError(
                "bad_plan",
                f"segment {k} (start {int(segments[k, 0])}, length "
                f"{int(segments[k, 1])}) ends past the dataset's {dataset_tokens} tokens",
                section="plan_segments",
                offset=seg_entry.offset + 16 * k,
            )
    # Each row's lengths add up to at most L. A row's uint64 sum could wrap around;
    # the sums go through float64 first, as in layout.sum_u64.
    for lo in range(0, n_rows, CHUNK):
        hi = min(lo + CHUNK, n_rows)
        bounds = rows[lo : hi + 1].astype(np.int64)
        r = _first_row_over(segments[:, 1], bounds, seq_len)
        if r is not None:
            raise TokpackError(
                "bad_plan",
                f"row {lo + r} holds more than seq_len {seq_len} tokens",
                section="plan_rows",
                offset=rows_entry.offset + 8 * (lo + r),
            )
    # The sum of all lengths equals `tokens`.
    total = 0
    for lo in range(0, n_segments, CHUNK):
        total += sum_u64(segments[lo : lo + CHUNK, 1])
    if total != tokens:
        raise TokpackError(
            "bad_plan",
            f"the segments hold {total} tokens, the metadata says tokens = {tokens}",
            section="plan_segments",
            offset=seg_entry.offset,
        )


def _past_end(starts: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """``start + length > n`` for uint64 arrays, without computing the sum."""
    limit = np.uint64(n)
    return (lengths > limit) | (starts > limit - np.minimum(lengths, limit))


def _first_row_over(lengths: np.ndarray, bounds: np.ndarray, seq_len: int) -> Optional[int]:
    """The first row (index into ``bounds``) whose lengths add up to more than
    ``seq_len``, or None. ``bounds`` is non-decreasing."""
    counts = np.diff(bounds)
    nonempty = np.flatnonzero(counts)
    if not len(nonempty):
        return None
    starts = bounds[:-1][nonempty]
    seg = lengths[int(bounds[0]) : int(bounds[-1])]
    local = starts - bounds[0]
    approx = np.add.reduceat(seg.astype(np.float64), local)
    exact = np.add.reduceat(seg, local)  # exact where approx < 2**62
    over = np.flatnonzero((approx >= 2.0**62) | (exact > np.uint64(seq_len)))
    for i in over:
        r = int(nonempty[i])
        a, b = int(bounds[r]), int(bounds[r + 1])
        if sum_u64(lengths[a:b]) > seq_len:
            return r
    return None


def check_inside_documents(
    segments: np.ndarray, seg_entry: SectionEntry, offsets: np.ndarray
) -> None:
    """11.5 with the dataset at hand: each segment inside one document (``bad_plan``).
    ``offsets`` is the dataset's non-decreasing DOC_OFFSETS; every segment is already
    known to lie inside the tokens and to have length >= 1."""
    for lo in range(0, len(segments), CHUNK):
        starts = segments[lo : lo + CHUNK, 0]
        ends = starts + segments[lo : lo + CHUNK, 1]  # <= n_tokens: no overflow
        # The document holding `start`: the last d with offsets[d] <= start (empty
        # documents share their offset with the next one).
        doc = np.searchsorted(offsets, starts, side="right") - 1
        doc_end = offsets[np.minimum(doc + 1, len(offsets) - 1)]
        bad = np.flatnonzero(ends > doc_end)
        if len(bad):
            k = lo + int(bad[0])
            d = int(doc[bad[0]])
            raise TokpackError(
                "bad_plan",
                f"segment {k} (start {int(segments[k, 0])}, length {int(segments[k, 1])}) "
                f"runs past the end of document {d} at {int(offsets[d + 1])}",
                section="plan_segments",
                offset=seg_entry.offset + 16 * k,
            )
