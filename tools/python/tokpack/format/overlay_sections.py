"""The sections of an overlay file (spec 13): INS_POSITIONS (kind 5), INS_OFFSETS
(kind 8), INS_TOKENS (kind 9), INS_FLAGS (kind 10), and their checks: 13.2 steps 3
to 5, the checks of each insertion a row applies (13.2, last paragraph) and the full
pass of 13.3.

``pos``: ``u64[n]``, strictly increasing; ``off``: ``u64[n + 1]``, insertion ``k`` is
``INS_TOKENS[off[k] .. off[k+1]]``; ``flags``: ``u8[n]``, bit 0 = the inserted tokens
are loss targets.

Every check works on ``uint64`` arrays without wrapping: ``a + b <= c`` is tested as
``b <= c - a`` once ``a <= c`` is known.
"""

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..errors import TokpackError
from .section_table import (
    DTYPES,
    KIND_INS_FLAGS,
    KIND_INS_OFFSETS,
    KIND_INS_POSITIONS,
    KIND_INS_TOKENS,
    OVERLAY_KINDS,
    SectionEntry,
    check_length,
)

#: Insertions (or tokens) per block in full passes, so that a pass never allocates
#: in proportion to the whole file at once.
CHUNK = 1 << 20
#: 13.2 step 3: the order in which missing sections are reported.
INS_KINDS = (KIND_INS_POSITIONS, KIND_INS_OFFSETS, KIND_INS_TOKENS, KIND_INS_FLAGS)


@dataclass(frozen=True)
class Arrays:
    """The four INS sections as typed views over the file, and their table entries."""

    pos: np.ndarray
    off: np.ndarray
    tokens: np.ndarray
    flags: np.ndarray
    pos_entry: SectionEntry
    off_entry: SectionEntry
    tok_entry: SectionEntry
    flags_entry: SectionEntry

    @property
    def n(self) -> int:
        return len(self.pos)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)


def check_present_and_lengths(found: Dict[int, SectionEntry], entries) -> None:
    """13.2 step 3: the four INS sections present (``missing_section``, first missing
    in the order 5, 8, 9, 10), then each ``length`` agreeing with ``count`` and
    ``dtype`` (``section_length``, in table order)."""
    for kind in INS_KINDS:
        if kind not in found:
            name = OVERLAY_KINDS[kind].name
            raise TokpackError(
                "missing_section",
                f"an overlay file needs its {name.upper()} section (kind {kind})",
                section=name,
            )
    for e in entries:
        if e.kind in INS_KINDS and found.get(e.kind) is e:
            check_length(e)


def check_counts(found: Dict[int, SectionEntry], insertions: int, tokens: int) -> None:
    """13.2 step 4 (``count_mismatch`` part): INS_POSITIONS and INS_FLAGS ``count ==
    insertions``, INS_OFFSETS ``count == insertions + 1``, INS_TOKENS ``count ==
    tokens``."""
    for kind, want, what in (
        (KIND_INS_POSITIONS, insertions, "insertions"),
        (KIND_INS_FLAGS, insertions, "insertions"),
        (KIND_INS_OFFSETS, insertions + 1, "insertions + 1"),
        (KIND_INS_TOKENS, tokens, "tokens"),
    ):
        e = found[kind]
        if e.count != want:
            raise TokpackError(
                "count_mismatch",
                f"{OVERLAY_KINDS[kind].name} count is {e.count}, the metadata's {what} "
                f"is {want}",
                section=OVERLAY_KINDS[kind].name,
                offset=e.entry_offset + 24,
            )


def check_vocab_dtype(tok_entry: SectionEntry, vocab_size: int) -> None:
    """13.2 step 4 (``vocab_dtype`` part): the INS_TOKENS dtype holds
    ``vocab_size - 1``."""
    width = DTYPES[tok_entry.dtype][1]
    if vocab_size - 1 > (1 << (8 * width)) - 1:
        raise TokpackError(
            "vocab_dtype",
            f"INS_TOKENS dtype {DTYPES[tok_entry.dtype][0]} cannot hold token id "
            f"{vocab_size - 1} (vocab_size {vocab_size})",
            section="ins_tokens",
            offset=tok_entry.entry_offset + 4,
        )


def views(raw: np.ndarray, found: Dict[int, SectionEntry]) -> Arrays:
    def view(kind):
        e = found[kind]
        return raw[e.offset : e.end].view(DTYPES[e.dtype][2])

    return Arrays(
        pos=view(KIND_INS_POSITIONS),
        off=view(KIND_INS_OFFSETS),
        tokens=view(KIND_INS_TOKENS),
        flags=view(KIND_INS_FLAGS),
        pos_entry=found[KIND_INS_POSITIONS],
        off_entry=found[KIND_INS_OFFSETS],
        tok_entry=found[KIND_INS_TOKENS],
        flags_entry=found[KIND_INS_FLAGS],
    )


def check_ends(a: Arrays) -> None:
    """13.2 step 5: ``off[0] == 0`` and ``off[n] == tokens`` (two reads,
    ``bad_overlay``)."""
    first = int(a.off[0])
    if first != 0:
        raise TokpackError(
            "bad_overlay",
            f"off[0] is {first}, must be 0",
            section="ins_offsets",
            offset=a.off_entry.offset,
        )
    last = int(a.off[a.n])
    if last != a.n_tokens:
        raise TokpackError(
            "bad_overlay",
            f"off[{a.n}] is {last}, must be the number of inserted tokens {a.n_tokens}",
            section="ins_offsets",
            offset=a.off_entry.offset + 8 * a.n,
        )


# -- one insertion (13.2, last paragraph; 13.3) --------------------------------------


def _payload_error(a: Arrays, k: int) -> TokpackError:
    start, stop = int(a.off[k]), int(a.off[k + 1])
    return TokpackError(
        "bad_overlay",
        f"insertion {k} spans payload {start}..{stop}, not a non-empty range inside the "
        f"{a.n_tokens} inserted tokens",
        section="ins_offsets",
        offset=a.off_entry.offset + 8 * k,
    )


def _span_error(a: Arrays, k: int, seq_len: int, detail: str) -> TokpackError:
    p = int(a.pos[k])
    length = int(a.off[k + 1]) - int(a.off[k])
    return TokpackError(
        "bad_overlay",
        f"insertion {k} at position {p} (length {length}, row {p // seq_len}, offset "
        f"{p % seq_len}) {detail}",
        section="ins_positions",
        offset=a.pos_entry.offset + 8 * k,
    )


def _token_error(a: Arrays, k: int, t: int, vocab_size: int) -> TokpackError:
    return TokpackError(
        "bad_overlay",
        f"insertion {k}: inserted token {t - int(a.off[k])} (INS_TOKENS[{t}]) is "
        f"{int(a.tokens[t])}, not < vocab_size {vocab_size}",
        section="ins_tokens",
        offset=a.tok_entry.offset + t * a.tokens.itemsize,
    )


def _overlap_error(a: Arrays, k: int) -> TokpackError:
    """Insertion ``k + 1`` intersects insertion ``k`` (or comes before it)."""
    return overlap_error(
        int(a.pos[k + 1]),
        int(a.off[k + 2]) - int(a.off[k + 1]),
        int(a.pos[k]),
        int(a.off[k + 1]) - int(a.off[k]),
        offset=a.pos_entry.offset + 8 * (k + 1),
    )


def overlap_error(p: int, length: int, q: int, q_length: int, offset=None,
                  where: str = "") -> TokpackError:
    """``insertion_overlap``, naming both positions and lengths: "insertion at
    position 1002 (length 3) overlaps the insertion at 1000 (length 3)"."""
    return TokpackError(
        "insertion_overlap",
        f"{where}insertion at position {p} (length {length}) overlaps the insertion at "
        f"{q} (length {q_length})",
        section="ins_positions" if offset is not None else None,
        offset=offset,
    )


def _first_bad_token(a: Arrays, start: int, stop: int, vocab_size: int) -> Optional[int]:
    """The first index ``t`` in ``start .. stop`` with ``INS_TOKENS[t] >= vocab_size``."""
    if vocab_size > np.iinfo(a.tokens.dtype).max:
        return None
    for lo in range(start, stop, CHUNK):
        bad = np.flatnonzero(a.tokens[lo : min(lo + CHUNK, stop)] >= vocab_size)
        if len(bad):
            return lo + int(bad[0])
    return None


def insertion(a: Arrays, k: int, seq_len: int, rows: int, vocab_size: int):
    """Insertion ``k`` as ``(position, tokens view, flags)`` after the checks 13.2 asks
    of an insertion read from an unverified overlay (``bad_overlay``): ``off[k] <
    off[k+1] <= tokens``, the span inside one row of the view (``p / L < rows``,
    ``p % L + len <= L``), its tokens below ``vocab_size``."""
    start, stop = int(a.off[k]), int(a.off[k + 1])
    if not start < stop <= a.n_tokens:
        raise _payload_error(a, k)
    p = int(a.pos[k])
    if p // seq_len >= rows:
        raise _span_error(a, k, seq_len, f"is past the view's {rows} rows")
    if p % seq_len + (stop - start) > seq_len:
        raise _span_error(a, k, seq_len, f"crosses the end of its row of {seq_len}")
    t = _first_bad_token(a, start, stop, vocab_size)
    if t is not None:
        raise _token_error(a, k, t, vocab_size)
    return p, a.tokens[start:stop], int(a.flags[k])


def row_insertions(a: Arrays, k0: int, k1: int, row: int, seq_len: int, vocab_size: int):
    """Insertions ``k0 .. k1`` (end exclusive), found by binary search for ``row``,
    checked as 13.2 asks of a row read through an unverified overlay (``bad_overlay``):
    ``off[k] < off[k+1] <= tokens``, the span inside the row, its tokens below
    ``vocab_size``, and the row's insertions in increasing position order without
    intersecting. Returns ``(offsets in the row, lengths, tokens, targets)``: int64,
    int64, the payloads concatenated (a view), bool."""
    pos = a.pos[k0:k1]
    off = a.off[k0 : k1 + 1]
    starts, stops = off[:-1], off[1:]
    ok = (starts < stops) & (stops <= np.uint64(a.n_tokens))
    if not ok.all():
        raise _payload_error(a, k0 + int(np.flatnonzero(~ok)[0]))
    lengths = stops - starts
    base = np.uint64(row * seq_len)
    inside = (pos >= base) & (pos - np.minimum(pos, base) < np.uint64(seq_len))
    if not inside.all():
        k = k0 + int(np.flatnonzero(~inside)[0])
        raise _span_error(a, k, seq_len, f"is not in row {row} (positions not in order)")
    offsets = (pos - base).astype(np.int64)
    lengths = lengths.astype(np.int64)
    crossing = offsets + lengths > seq_len
    if crossing.any():
        k = k0 + int(np.flatnonzero(crossing)[0])
        raise _span_error(a, k, seq_len, f"crosses the end of its row of {seq_len}")
    # In increasing position order without intersecting: each ends at or before the
    # next one starts (lengths are >= 1, so this is also strict order).
    clash = np.flatnonzero(offsets[:-1] + lengths[:-1] > offsets[1:])
    if len(clash):
        k = k0 + int(clash[0])
        p, q = int(a.pos[k + 1]), int(a.pos[k])
        raise TokpackError(
            "bad_overlay",
            f"insertion {k + 1} at position {p} (length {int(lengths[clash[0] + 1])}) "
            f"starts before the end of insertion {k} at {q} (length "
            f"{int(lengths[clash[0]])}): the insertions of row {row} are not in "
            f"increasing position order without intersecting",
            section="ins_positions",
            offset=a.pos_entry.offset + 8 * (k + 1),
        )
    # Consecutive insertions of a row share their boundaries: one slice holds them all.
    tokens = a.tokens[int(off[0]) : int(off[-1])]
    if vocab_size <= np.iinfo(tokens.dtype).max:
        bad = np.flatnonzero(tokens >= vocab_size)
        if len(bad):
            t = int(off[0]) + int(bad[0])
            k = k0 + int(np.searchsorted(off, np.uint64(t), side="right")) - 1
            raise _token_error(a, k, t, vocab_size)
    targets = (a.flags[k0:k1] & 1).astype(bool)
    return offsets, lengths, tokens, targets


def first_bad_insertion(a: Arrays, seq_len: int, rows: int, vocab_size: int) -> Optional[int]:
    """The first insertion that fails a check of :func:`insertion` (payload range, span
    inside one row of the view, tokens below ``vocab_size``), or None; vectorized, in
    blocks."""
    n, L = a.n, np.uint64(seq_len)
    total = np.uint64(a.n_tokens)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        off = a.off[lo : hi + 1]
        starts, stops = off[:-1], off[1:]
        payload_ok = (starts < stops) & (stops <= total)
        first = _first_false(payload_ok)
        lengths = np.where(payload_ok, stops - np.minimum(starts, stops), 0)
        p = a.pos[lo:hi]
        first = _min(first, _first_false((p // L < np.uint64(rows)) & (lengths <= L - p % L)))
        upto = hi - lo if first is None else first
        t = _first_bad_token(a, int(off[0]), int(off[upto]), vocab_size)
        if t is not None:
            first = _min(first, int(np.searchsorted(off[: upto + 1], np.uint64(t), side="right")) - 1)
        if first is not None:
            return lo + first
    return None


# -- verify (13.3) --------------------------------------------------------------------


def verify(a: Arrays, seq_len: int, rows: int, vocab_size: int) -> None:
    """13.3 after the CRCs and the padding: for each insertion ``k`` in order,
    ``off[k] < off[k+1]`` (also ``<= tokens``, so that nothing is read outside
    INS_TOKENS; ``bad_overlay``), ``p[k] / L < rows`` and ``p[k] % L + len[k] <= L``
    (``bad_overlay``), ``p[k] + len[k] <= p[k+1]`` (``insertion_overlap``), every token
    below ``vocab_size`` (``bad_overlay``), flags ``<= 1`` (``bad_overlay``). The first
    insertion with a problem is reported, with its first problem in that order."""
    n, L = a.n, np.uint64(seq_len)
    total = np.uint64(a.n_tokens)
    for lo in range(0, n, CHUNK):
        hi = min(lo + CHUNK, n)
        pos = a.pos[lo : hi + 1]  # one more, for the overlap check
        off = a.off[lo : hi + 1]
        starts, stops = off[:-1], off[1:]
        payload_ok = (starts < stops) & (stops <= total)
        first = _first_false(payload_ok)
        lengths = np.where(payload_ok, stops - np.minimum(starts, stops), 0)
        p = pos[: hi - lo]
        rem = p % L
        span_ok = (p // L < np.uint64(rows)) & (lengths <= L - rem)
        first = _min(first, _first_false(span_ok))
        if len(pos) > hi - lo:  # p[k+1] for every k of the block
            nxt = pos[1:]
        else:  # the last insertion of the file has no successor
            nxt = np.append(pos[1:], np.uint64(2**64 - 1))
        gap_ok = (nxt >= p) & (nxt - np.minimum(nxt, p) >= lengths)
        if hi == n:
            gap_ok[-1] = True
        first = _min(first, _first_false(gap_ok))
        flags_ok = a.flags[lo:hi] <= 1
        first = _min(first, _first_false(flags_ok))
        # Tokens of the insertions before the first bad payload range: those ranges
        # are in order and inside INS_TOKENS.
        upto = hi - lo if first is None else first
        t = _first_bad_token(a, int(off[0]), int(off[upto]), vocab_size)
        if t is not None:
            k_t = int(np.searchsorted(off[: upto + 1], np.uint64(t), side="right")) - 1
            first = _min(first, k_t)
        if first is not None:
            _raise_first(a, lo + first, seq_len, rows, vocab_size)


def _raise_first(a: Arrays, k: int, seq_len: int, rows: int, vocab_size: int) -> None:
    """Insertion ``k`` has a problem: report its first, in 13.3's order."""
    start, stop = int(a.off[k]), int(a.off[k + 1])
    if not start < stop <= a.n_tokens:
        raise _payload_error(a, k)
    p, length = int(a.pos[k]), stop - start
    if p // seq_len >= rows:
        raise _span_error(a, k, seq_len, f"is past the view's {rows} rows")
    if p % seq_len + length > seq_len:
        raise _span_error(a, k, seq_len, f"crosses the end of its row of {seq_len}")
    if k + 1 < a.n and p + length > int(a.pos[k + 1]):
        raise _overlap_error(a, k)
    t = _first_bad_token(a, start, stop, vocab_size)
    if t is not None:
        raise _token_error(a, k, t, vocab_size)
    flags = int(a.flags[k])
    if flags > 1:
        raise TokpackError(
            "bad_overlay",
            f"insertion {k} has flags 0x{flags:02x}; only bit 0 is defined",
            section="ins_flags",
            offset=a.flags_entry.offset + k,
        )
    raise AssertionError(f"insertion {k} was reported bad but passes every check")


def _first_false(ok: np.ndarray) -> Optional[int]:
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if len(bad) else None


def _min(a: Optional[int], b: Optional[int]) -> Optional[int]:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
