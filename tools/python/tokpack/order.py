"""Training order (spec 16): the epoch permutation, ranks, resume and training positions.

Nothing is stored: ``EpochOrder(n, seed, epoch)[i]`` is ``order(i)`` of 16.1, a
balanced Feistel network over ``b`` bits with cycle walking, computed on demand (no
table of ``n`` entries); ``RankOrder`` gives a rank its rows (16.2) and maps global
training positions to ``(epoch, row)`` (16.3). Arithmetic is on u64 and wraps: Python
ints masked to 64 bits (one index), numpy ``uint64`` (many indexes at once).
"""

import operator
from typing import List, Optional, Tuple

import numpy as np

from .placement import SplitMix64

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
ROUNDS = 6


def _u64(value, what: str) -> int:
    value = operator.index(value)
    if not 0 <= value <= MASK64:
        raise ValueError(f"{what} {value} is not a 64-bit unsigned integer")
    return value


def mix(z: int) -> int:
    """SplitMix64's finalizer (16.1), on Python ints masked to 64 bits."""
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def _mix_np(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def round_keys(seed: int, epoch: int) -> List[int]:
    """``k_0 .. k_5``: the first six outputs of SplitMix64 with state
    ``seed XOR (epoch * 0x9E3779B97F4A7C15)`` (wrapping)."""
    gen = SplitMix64(_u64(seed, "seed") ^ ((_u64(epoch, "epoch") * GOLDEN) & MASK64))
    return [gen.next() for _ in range(ROUNDS)]


class EpochOrder:
    """``order(i)`` of 16.1 for ``n >= 1`` rows, a seed and an epoch: a permutation
    of ``[0, n)``. ``o[i]`` / ``o.index(i)`` for one index (Python ints),
    ``o.indexes(array)`` for many (numpy, vectorised), ``list(o)`` for all."""

    def __init__(self, n: int, seed: int = 0, epoch: int = 0) -> None:
        n = _u64(n, "n")
        if n < 1:
            raise ValueError("the epoch permutation needs n >= 1 rows")
        self.n = n
        self.seed = _u64(seed, "seed")
        self.epoch = _u64(epoch, "epoch")
        b = 2
        while (1 << b) < n:
            b += 2
        self.bits = b
        self.half = b // 2
        self.mask = (1 << self.half) - 1
        self.keys = round_keys(self.seed, self.epoch)

    def permute(self, x: int) -> int:
        """``P(x)`` for ``x < 2^b``: six Feistel rounds."""
        h, m = self.half, self.mask
        left, right = x >> h, x & m
        for k in self.keys:
            left, right = right, left ^ (mix(right ^ k) & m)
        return (left << h) | right

    def index(self, i: int) -> int:
        """``order(i)``: ``y = P(i)``, then ``y = P(y)`` while ``y >= n``."""
        i = operator.index(i)
        if not 0 <= i < self.n:
            raise IndexError(f"position {i} out of range for {self.n} rows")
        y = self.permute(i)
        while y >= self.n:
            y = self.permute(y)
        return y

    __getitem__ = index

    def _permute_np(self, x: np.ndarray) -> np.ndarray:
        h, m = np.uint64(self.half), np.uint64(self.mask)
        left, right = x >> h, x & m
        for k in self.keys:
            left, right = right, left ^ (_mix_np(right ^ np.uint64(k)) & m)
        return (left << h) | right

    def indexes(self, positions) -> np.ndarray:
        """``order`` of every position of an integer array, as ``uint64``."""
        pos = np.asarray(positions, dtype=np.uint64)
        if pos.size and int(pos.max()) >= self.n:
            raise IndexError(f"positions out of range for {self.n} rows")
        y = self._permute_np(pos.reshape(-1))
        n = np.uint64(self.n)
        todo = np.flatnonzero(y >= n)
        while len(todo):
            y[todo] = self._permute_np(y[todo])
            todo = todo[y[todo] >= n]
        return y.reshape(pos.shape)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        for i in range(self.n):
            yield self.index(i)


class RankOrder:
    """A rank's rows (16.2) and training positions (16.3) for a view of ``rows`` rows.

    - ``per_rank``: rows each rank takes in an epoch (``floor(n / W)`` with
      ``drop_last``, else ``ceil(n / W)``);
    - ``per_epoch``: ``P = W * per_rank``, the global positions of an epoch;
    - ``row(epoch, k)``: this rank's ``k``-th row of ``epoch``,
      ``order((k * W + rank) mod n)``;
    - ``rows_of_epoch(epoch, start=0, count=None)``: rows ``start ..`` of the rank's
      epoch as an int64 array (resume from ``start``);
    - ``row_at_global(g)``: ``(epoch, row)`` of global training position ``g``
      (whichever rank consumes it).
    """

    def __init__(self, rows: int, seed: int = 0, world_size: int = 1, rank: int = 0,
                 drop_last: bool = False) -> None:
        self.rows = _u64(rows, "rows")
        if self.rows < 1:
            raise ValueError("a training order needs at least one row")
        self.seed = _u64(seed, "seed")
        self.world_size = operator.index(world_size)
        self.rank = operator.index(rank)
        if self.world_size < 1:
            raise ValueError(f"world_size {world_size} is not >= 1")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {rank} is not in [0, {self.world_size})")
        self.drop_last = bool(drop_last)
        n, w = self.rows, self.world_size
        if self.drop_last and n < w:
            # 16.2 would give every rank floor(n / W) = 0 rows; refused, as the CLI does.
            raise ValueError(f"{n} rows cannot give each of {w} ranks a row with drop_last")
        self.per_rank = n // w if self.drop_last else -(-n // w)
        self.per_epoch = w * self.per_rank
        self._cache: Tuple[Optional[int], Optional[EpochOrder]] = (None, None)

    def epoch_order(self, epoch: int) -> EpochOrder:
        e, o = self._cache
        if e != epoch:
            o = EpochOrder(self.rows, self.seed, epoch)
            self._cache = (epoch, o)
        return o

    def row(self, epoch: int, k: int) -> int:
        k = operator.index(k)
        if not 0 <= k < self.per_rank:
            raise IndexError(f"row {k} of the rank's epoch: it has {self.per_rank}")
        return self.epoch_order(epoch).index((k * self.world_size + self.rank) % self.rows)

    def rows_of_epoch(self, epoch: int, start: int = 0, count: Optional[int] = None) -> np.ndarray:
        start = operator.index(start)
        if not 0 <= start <= self.per_rank:
            raise IndexError(f"start {start} outside the rank's {self.per_rank} rows")
        stop = self.per_rank if count is None else min(self.per_rank, start + operator.index(count))
        k = np.arange(start, stop, dtype=np.uint64)
        pos = (k * np.uint64(self.world_size) + np.uint64(self.rank)) % np.uint64(self.rows)
        return self.epoch_order(epoch).indexes(pos).astype(np.int64)

    def row_at_global(self, g: int) -> Tuple[int, int]:
        g = operator.index(g)
        if g < 0:
            raise ValueError(f"global position {g} is negative")
        epoch, pos = divmod(g, self.per_epoch)
        return epoch, self.epoch_order(epoch).index(pos % self.rows)


def position_to_rows(global_batch: int, rows: int, seed: int = 0, world_size: int = 1,
                     drop_last: bool = False, step: Optional[int] = None,
                     tokens_seen: Optional[int] = None, seq_len: Optional[int] = None
                     ) -> List[Tuple[int, int]]:
    """16.3: the ``(epoch, row)`` pairs of training step ``step`` (global positions
    ``[step * B, (step + 1) * B)``), or, with ``tokens_seen`` and ``seq_len``, of the
    step that starts after ``tokens_seen / seq_len`` rows (``tokens_seen`` a multiple
    of ``seq_len * B``)."""
    if (step is None) == (tokens_seen is None):
        raise TypeError("give step or tokens_seen")
    b = operator.index(global_batch)
    if b < 1:
        raise ValueError("global_batch must be >= 1")
    if step is None:
        if seq_len is None:
            raise TypeError("tokens_seen needs seq_len")
        consumed, rem = divmod(operator.index(tokens_seen), operator.index(seq_len))
        if rem or consumed % b:
            raise ValueError(f"{tokens_seen} tokens are not whole steps of {b} rows of {seq_len}")
        step = consumed // b
    o = RankOrder(rows, seed, world_size, 0, drop_last)
    return [o.row_at_global(g) for g in range(step * b, (step + 1) * b)]
