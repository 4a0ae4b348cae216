"""Placing insertions (spec section 14): explicit insertions, EOS wrapping, and
seeded random placement with SplitMix64, so that the same sequences land at the same
positions as in every other implementation. A reader needs only section 13; this is
for making overlays (and checking other implementations' placements).

    from tokpack import placement

    done = placement.place(seq_len=2048, num_rows=len(rows),
                           explicit={8190: [7, 8, 9]}, split_across_rows=True,
                           sequences=[[1, 2, 3], [4]], rows=(0, 100), seed=1234,
                           wrap_eos=2)
    done.insertions        # [(position, [tokens], flags), ...] in position order
    done.rows_dict()       # 13.5's export: {"ROW": [[OFFSET, [tokens]], ...]}

Positions are global: ``p`` is row ``p // L`` at offset ``p % L`` of the view.
Mistakes in the input (a span crossing a row without splitting, a position past the
view, an empty span, a sequence longer than ``L``, a sequence that finds no place)
raise :class:`PlacementError` (a ``ValueError``); two explicit insertions that
intersect raise :class:`tokpack.TokpackError` with code ``insertion_overlap``, as
14 says.
"""

import bisect
import operator
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .format.overlay_sections import overlap_error

MASK64 = 2**64 - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
#: 14: draws per sequence when the user gives no limit.
DEFAULT_MAX_TRIES = 1000


class PlacementError(ValueError):
    """Insertions that cannot be placed as asked (section 14)."""


class SplitMix64:
    """The generator of section 14, with 64-bit wrapping arithmetic (Python integers
    masked to 64 bits); the state starts at the seed."""

    def __init__(self, seed: int) -> None:
        seed = operator.index(seed)
        if not 0 <= seed <= MASK64:
            raise ValueError(f"seed {seed} is not a 64-bit unsigned integer")
        self.state = seed

    def next(self) -> int:
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * MIX1) & MASK64
        z = ((z ^ (z >> 27)) * MIX2) & MASK64
        return z ^ (z >> 31)

    def uniform(self, m: int) -> int:
        """``(next() * m) >> 64``: the high 64 bits of the 128-bit product, in
        ``[0, m)`` for ``1 <= m <= 2**64``."""
        return (self.next() * m) >> 64


def wrap_eos(sequences: Iterable[Sequence[int]], seq_len: int, eos_id: int):
    """EOS wrapping (14), for each sequence in order: an empty sequence or one longer
    than ``L`` is dropped; one of exactly ``L`` tokens is unchanged; otherwise ``e`` is
    appended unless the sequence already ends with ``e``, and then, if it is still
    shorter than ``L``, ``e`` is prepended.

    Returns ``(kept, dropped)``: ``kept`` the ``(index, wrapped tokens)`` of the
    sequences kept, ``dropped`` the indices of those dropped."""
    kept: List[Tuple[int, List[int]]] = []
    dropped: List[int] = []
    for index, seq in enumerate(sequences):
        seq = [operator.index(t) for t in seq]
        if not seq or len(seq) > seq_len:
            dropped.append(index)
            continue
        if len(seq) < seq_len:
            if seq[-1] != eos_id:
                seq.append(eos_id)
            if len(seq) < seq_len:
                seq.insert(0, eos_id)
        kept.append((index, seq))
    return kept, dropped


class Occupied:
    """Disjoint closed intervals ``[p, p + len - 1]``, sorted, for the intersection
    tests of 14 (binary search; adding is linear, fine for what tests place)."""

    def __init__(self) -> None:
        self._starts: List[int] = []
        self._lengths: List[int] = []

    def clash(self, p: int, length: int) -> Optional[Tuple[int, int]]:
        """The occupied ``(position, length)`` that ``[p, p + length - 1]`` intersects,
        or None. Only the interval starting last at or before the span's end can."""
        k = bisect.bisect_right(self._starts, p + length - 1) - 1
        if k >= 0 and self._starts[k] + self._lengths[k] > p:
            return self._starts[k], self._lengths[k]
        return None

    def add(self, p: int, length: int) -> None:
        k = bisect.bisect_right(self._starts, p)
        self._starts.insert(k, p)
        self._lengths.insert(k, length)

    def __len__(self) -> int:
        return len(self._starts)


def _items(inserts) -> List[Tuple[int, List[int], Optional[int]]]:
    """An insert dict of 13.5 (``{"8190": [7, 8]}``, keys decimal positions, digits
    only), or any iterable of ``(position, tokens)`` pairs or ``(position, tokens,
    flag)`` triples, as ``(position, tokens, flag or None)``."""
    if isinstance(inserts, Mapping):
        items = []
        for key, tokens in inserts.items():
            if isinstance(key, str):
                if not key.isascii() or not key.isdigit():
                    raise PlacementError(f"insert dict key {key!r} is not a decimal position")
                key = int(key)
            items.append((operator.index(key), list(tokens), None))
        return items
    out = []
    for item in inserts:
        if len(item) == 2:
            (p, tokens), flag = item, None
        elif len(item) == 3:
            p, tokens, flag = item
            flag = operator.index(flag)
            if flag not in (0, 1):
                raise PlacementError(f"insertion at position {p}: flag {flag} is not 0 or 1")
        else:
            raise PlacementError(f"{item!r} is not (position, tokens) or (position, tokens, flag)")
        out.append((operator.index(p), list(tokens), flag))
    return out


def _explicit(inserts, seq_len: int, num_rows: int, split_across_rows: bool):
    """:func:`explicit_insertions` keeping each insertion's flag (None when not given):
    ``(position, tokens, flag)`` in position order; a split insertion's parts keep
    its flag."""
    out: List[Tuple[int, List[int], Optional[int]]] = []
    for p, tokens, flag in _items(inserts):
        if p < 0:
            raise PlacementError(f"insertion at position {p}: not a position")
        if not tokens:
            raise PlacementError(f"insertion at position {p} has no tokens")
        end = p + len(tokens)  # exclusive
        if (end - 1) // seq_len >= num_rows:
            raise PlacementError(
                f"insertion at position {p} (length {len(tokens)}) ends past the view's "
                f"last row ({num_rows} rows of {seq_len})"
            )
        if p // seq_len != (end - 1) // seq_len:
            if not split_across_rows:
                boundary = (p // seq_len + 1) * seq_len
                raise PlacementError(
                    f"insertion at position {p} (length {len(tokens)}) crosses the "
                    f"boundary of row {p // seq_len} at {boundary}; ask for splitting "
                    f"to cut it"
                )
            at = p
            while at < end:
                stop = min(end, (at // seq_len + 1) * seq_len)
                out.append((at, tokens[at - p : stop - p], flag))
                at = stop
        else:
            out.append((p, tokens, flag))
    out.sort(key=lambda item: item[0])
    for (q, a, _), (p, b, _) in zip(out, out[1:]):
        if q + len(a) > p:
            raise overlap_error(p, len(b), q, len(a))
    return out


def explicit_insertions(
    inserts: Union[Mapping, Iterable],
    seq_len: int,
    num_rows: int,
    split_across_rows: bool = False,
) -> List[Tuple[int, List[int]]]:
    """Explicit insertions (14) take the positions given: a span that crosses a row
    boundary is refused, or with ``split_across_rows`` split at each boundary into
    insertions of the rows it touches; a span past the view's last row is refused
    (:class:`PlacementError`); two that intersect are refused (``insertion_overlap``,
    naming both positions and lengths). ``inserts`` is an insert dict (13.5) or
    ``(position, tokens)`` pairs (or ``(position, tokens, flag)`` triples, flags
    dropped here). Returns ``(position, tokens)`` in position order."""
    return [(p, tokens) for p, tokens, _ in _explicit(inserts, seq_len, num_rows,
                                                      split_across_rows)]


@dataclass
class RandomPlacement:
    """What :func:`place_random` did: the position of each sequence (None when
    dropped), the collisions counted, the indices dropped."""

    positions: List[Optional[int]]
    collisions: int
    dropped: List[int]


def place_random(
    sequences: Sequence[Sequence[int]],
    seq_len: int,
    rows: Tuple[int, int],
    seed: int,
    max_tries: int = DEFAULT_MAX_TRIES,
    occupied: Optional[Occupied] = None,
    allow_drop: bool = False,
    indices: Optional[Sequence[int]] = None,
) -> RandomPlacement:
    """Random insertions (14): the sequences in order, into rows ``[start, end)``,
    avoiding ``occupied`` (which each placed sequence joins). For each sequence of
    length ``len`` (``len > L``: :class:`PlacementError`): draw ``row = start +
    uniform(end - start)``, then ``offset = uniform(L - len + 1)``, ``p = row * L +
    offset``; if ``[p, p + len - 1]`` intersects an occupied interval, count a
    collision and draw again, up to ``max_tries`` draws in all. A sequence not placed
    by then is an error, or with ``allow_drop`` reported by index and skipped (its
    draws consumed). ``indices`` names the sequences in errors and in ``dropped``
    (default: their positions in ``sequences``)."""
    start, end = rows
    if not start < end:
        raise PlacementError(f"rows {start}:{end} are not a non-empty range")
    if max_tries < 0:
        raise PlacementError(f"max_tries {max_tries} is negative")
    rng = SplitMix64(seed)
    occupied = Occupied() if occupied is None else occupied
    names = list(range(len(sequences))) if indices is None else list(indices)
    positions: List[Optional[int]] = []
    collisions = 0
    dropped: List[int] = []
    for name, seq in zip(names, sequences):
        length = len(seq)
        if length == 0:
            raise PlacementError(f"sequence {name} has no tokens")
        if length > seq_len:
            raise PlacementError(
                f"sequence {name} has {length} tokens, more than the row length {seq_len}"
            )
        placed = None
        for _ in range(max_tries):
            row = start + rng.uniform(end - start)
            offset = rng.uniform(seq_len - length + 1)
            p = row * seq_len + offset
            if occupied.clash(p, length) is None:
                placed = p
                break
            collisions += 1
        if placed is None:
            if not allow_drop:
                raise PlacementError(
                    f"sequence {name} ({length} tokens) found no place in {max_tries} "
                    f"draws (rows {start}:{end})"
                )
            dropped.append(name)
        else:
            occupied.add(placed, length)
        positions.append(placed)
    return RandomPlacement(positions, collisions, dropped)


@dataclass
class Placement:
    """The insertions :func:`place` made, and what it reports."""

    seq_len: int
    #: ``(position, tokens, flags)`` in position order; flags 1 = loss targets.
    insertions: List[Tuple[int, List[int], int]]
    explicit: int = 0  # explicit insertions after splitting
    placed: int = 0  # random sequences placed
    collisions: int = 0
    dropped_by_wrapping: List[int] = field(default_factory=list)
    dropped: List[int] = field(default_factory=list)

    @property
    def positions(self) -> List[int]:
        return [p for p, _, _ in self.insertions]

    def rows_dict(self) -> Dict[str, List[list]]:
        """13.5's export: ``{"ROW": [[OFFSET, [tokens]], ...]}``."""
        from .interchange import rows_dict

        return rows_dict(((p, t) for p, t, _ in self.insertions), self.seq_len)


def place(
    seq_len: int,
    num_rows: int,
    explicit=None,
    split_across_rows: bool = False,
    sequences: Optional[Sequence[Sequence[int]]] = None,
    rows: Optional[Tuple[int, int]] = None,
    seed: int = 0,
    max_tries: int = DEFAULT_MAX_TRIES,
    allow_drop: bool = False,
    wrap_eos_id: Optional[int] = None,
    targets: bool = True,
    vocab_size: Optional[int] = None,
) -> Placement:
    """Section 14 end to end for a view of ``num_rows`` rows of ``seq_len``: the
    explicit insertions first (:func:`explicit_insertions`), then the random
    ``sequences`` (EOS-wrapped with ``wrap_eos_id`` when given, :func:`wrap_eos`)
    placed into ``rows`` around them (:func:`place_random`). Every insertion gets
    target flag 1, or 0 when ``targets`` is False (14: the user's choice applies to
    explicit and random insertions alike), except an explicit insertion given as a
    ``(position, tokens, flag)`` triple, which keeps its flag (the form of the
    vectors' ``explicit_first``, spec 10). With ``vocab_size``, every token must be
    below it (:class:`PlacementError`)."""
    seq_len, num_rows = operator.index(seq_len), operator.index(num_rows)
    if seq_len < 1:
        raise PlacementError(f"seq_len {seq_len}: L is at least 1")
    flag = 1 if targets else 0
    fixed = _explicit(explicit or {}, seq_len, num_rows, split_across_rows)
    occupied = Occupied()
    for p, tokens, _ in fixed:
        occupied.add(p, len(tokens))
    made = [(p, tokens, flag if f is None else f) for p, tokens, f in fixed]
    result = Placement(seq_len, [], explicit=len(fixed))
    if sequences is not None:
        if rows is None:
            raise PlacementError("random sequences need rows (start, end)")
        start, end = rows
        if not 0 <= start < end <= num_rows:
            raise PlacementError(
                f"rows {start}:{end} are not a non-empty range inside the view's "
                f"{num_rows} rows"
            )
        if wrap_eos_id is None:
            kept = [(i, [operator.index(t) for t in s]) for i, s in enumerate(sequences)]
        else:
            kept, result.dropped_by_wrapping = wrap_eos(sequences, seq_len, wrap_eos_id)
        done = place_random(
            [s for _, s in kept], seq_len, (start, end), seed, max_tries, occupied,
            allow_drop, indices=[i for i, _ in kept],
        )
        for (_, seq), p in zip(kept, done.positions):
            if p is not None:
                made.append((p, seq, flag))
        result.placed = sum(p is not None for p in done.positions)
        result.collisions = done.collisions
        result.dropped = done.dropped
    made.sort(key=lambda item: item[0])
    if vocab_size is not None:
        for p, tokens, _ in made:
            bad = [t for t in tokens if not 0 <= t < vocab_size]
            if bad:
                raise PlacementError(
                    f"insertion at position {p}: token {bad[0]} is not below the "
                    f"vocabulary size {vocab_size}"
                )
    result.insertions = made
    return result
