"""TOKENS with codec 1: zstd blocks (spec 5.6, version 1.4).

The section is an 8-byte head (``block_tokens`` u32, then a u32 written as 0 and
ignored), ``block_offsets`` (``u64[n_blocks + 1]``, counted from the start of the
section), then the frames: frame ``k`` is the section bytes ``block_offsets[k] ..
block_offsets[k + 1]`` and decompresses to tokens ``k * block_tokens .. min((k + 1) *
block_tokens, count)``, little-endian, ``width(dtype)`` bytes each.

- :func:`check_length`: 6.1 step 8 for this section: ``length >= 8``
  (``section_length``).
- :func:`check_head`: after 6.1 step 10, the rest of 5.6 "at open" in its order:
  ``block_tokens`` in ``[1, 2**24]`` (``bad_block``), the head and offsets fitting
  the section (``section_length``), the first and last block offsets
  (``bad_block``).
- :class:`ZstdTokens`: the token stream, read block by block (5.6 "Reading"), with
  a small per-process LRU cache of decompressed blocks, and the block pass of 6.2
  step 4 (5.6 "In verify").

``zstandard`` (PyPI) is imported the first time a block is decompressed, so that
raw files need numpy only; without it, reading compressed tokens raises an
``ImportError`` that says ``pip install zstandard``.

Decompressing a frame never allocates from a size the frame states: the output
buffer is the block's expected size (``block_tokens * width`` at most). A frame
header that states a content size other than that is refused before anything is
allocated; one without a content size is decompressed with that expected size as
the output limit. A frame that does not decompress without error to exactly the
expected bytes, with no byte left over in its range, is ``bad_block`` naming the
block.
"""

import os
import threading
from collections import OrderedDict
from typing import Iterator, Optional, Tuple

import numpy as np

from ..errors import TokpackError
from .layout import U64_MAX, u32
from .section_table import DTYPES, SectionEntry

CODEC_ZSTD = 1
#: ``block_tokens`` (u32) and a u32 written as 0.
HEAD = 8
#: 5.6: ``1 <= block_tokens <= 2**24``.
MAX_BLOCK_TOKENS = 1 << 24
#: Default byte budget of a dataset's block cache (per process), and its bounds in
#: blocks: at least 2 (a row of the contiguous view touches one or two blocks), at
#: most 16.
CACHE_BYTES = 64 << 20
CACHE_MIN_BLOCKS = 2
CACHE_MAX_BLOCKS = 16
#: 5.6: "A frame whose window size exceeds 2^27 bytes MAY be refused (bad_block):
#: writers never need more than the block's bytes." This reader refuses it (attack
#: 14): for a frame without a content size, zstd's streaming decoder reserves a
#: window buffer of the size the frame header claims, so a 2**31 window would make a
#: few bytes of frame reserve 2 GiB. The window is read from the frame header before
#: decompressing (and zstd is given the same limit). Frames with a content size
#: (what writers of 1.4 write) are decoded straight into the output buffer.
MAX_WINDOW = 1 << 27
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Block offsets checked per chunk in verify's first pass.
CHUNK = 1 << 20

INSTALL_HINT = (
    "this tokpack file stores its tokens compressed (codec 1, zstd blocks, spec 5.6); "
    "reading them needs the zstandard package: pip install zstandard"
)


def _zstandard():
    """The ``zstandard`` module, imported on first use."""
    try:
        import zstandard
    except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
        raise ImportError(INSTALL_HINT) from exc
    return zstandard


def n_blocks_of(count: int, block_tokens: int) -> int:
    """``ceil(count / block_tokens)`` (0 when ``count == 0``)."""
    return -(-count // block_tokens)


def head_length(n_blocks: int) -> int:
    """``8 + 8 * (n_blocks + 1)``: where the first frame starts."""
    return HEAD + 8 * (n_blocks + 1)


def _block_tokens(raw, entry: SectionEntry) -> int:
    return u32(bytes(raw[entry.offset : entry.offset + 4]), 0)


def check_length(raw, entry: SectionEntry) -> None:
    """6.1 step 8 for TOKENS with codec 1 (5.6 "At open"): ``length >= 8``, the
    head (``section_length``). Nothing of the section is read here: the rest of
    5.6 "At open" comes after step 10 (:func:`check_head`)."""
    if entry.length < HEAD:
        raise TokpackError(
            "section_length",
            f"table entry {entry.index}: compressed TOKENS (codec 1) of {entry.length} "
            f"bytes, shorter than the {HEAD}-byte head of 5.6",
            section="tokens",
            offset=entry.entry_offset + 16,
        )


def frame_window(frame) -> Optional[int]:
    """The window size of a zstd frame's header (RFC 8878 3.1.1.1.2), or None when it
    has no Window_Descriptor (single segment: the window is the content size) or is
    too short to hold one (zstd refuses it then)."""
    if len(frame) < 6 or frame[4] & 0x20 or bytes(frame[:4]) != ZSTD_MAGIC:
        return None
    descriptor = frame[5]
    base = 1 << (10 + (descriptor >> 3))
    return base + (base >> 3) * (descriptor & 7)


class BlockIndex:
    """The head of a codec-1 TOKENS section, checked at open: ``block_tokens``,
    ``n_blocks`` and ``offsets`` (a ``<u8`` view of ``block_offsets`` over the file)."""

    __slots__ = ("block_tokens", "n_blocks", "offsets")

    def __init__(self, block_tokens: int, n_blocks: int, offsets: np.ndarray) -> None:
        self.block_tokens = block_tokens
        self.n_blocks = n_blocks
        self.offsets = offsets


def check_head(raw, entry: SectionEntry) -> BlockIndex:
    """6.1 step 10, after the document offsets: the rest of 5.6 "At open", in its
    order: ``block_tokens`` in ``[1, 2**24]`` (``bad_block``); ``length >= 8 + 8 *
    (n_blocks + 1)`` (``section_length``; Python integers, so no overflow, and a
    need over 64 bits fails too); ``block_offsets[0] == 8 + 8 * (n_blocks + 1)``
    and ``block_offsets[n_blocks] == length`` (``bad_block``). Three reads. Needs
    :func:`check_length` to have passed (step 8)."""
    block_tokens = _block_tokens(raw, entry)
    if not 1 <= block_tokens <= MAX_BLOCK_TOKENS:
        raise TokpackError(
            "bad_block",
            f"block_tokens is {block_tokens}, not from 1 to {MAX_BLOCK_TOKENS} (2**24)",
            section="tokens",
            offset=entry.offset,
        )
    n_blocks = n_blocks_of(entry.count, block_tokens)
    need = head_length(n_blocks)
    if need > U64_MAX or entry.length < need:
        raise TokpackError(
            "section_length",
            f"table entry {entry.index}: {entry.count} tokens in blocks of {block_tokens} "
            f"make {n_blocks} blocks, whose head and {n_blocks + 1} offsets need {need} "
            f"bytes{' (over 64 bits)' if need > U64_MAX else ''}; the section has "
            f"{entry.length}",
            section="tokens",
            offset=entry.entry_offset + 16,
        )
    start = entry.offset + HEAD
    offsets = raw[start : start + 8 * (n_blocks + 1)].view("<u8")
    first, last = int(offsets[0]), int(offsets[n_blocks])
    if first != head_length(n_blocks):
        raise TokpackError(
            "bad_block",
            f"block_offsets[0] is {first}, not {head_length(n_blocks)} (the end of the "
            f"{n_blocks + 1} block offsets)",
            section="tokens",
            offset=start,
        )
    if last != entry.length:
        raise TokpackError(
            "bad_block",
            f"block_offsets[{n_blocks}] is {last}, not the section length {entry.length}",
            section="tokens",
            offset=start + 8 * n_blocks,
        )
    return BlockIndex(block_tokens, n_blocks, offsets)


# -- per-process state ---------------------------------------------------------------

_local = threading.local()


def _decompressor():
    """``(ZstdDecompressor, ZstdError, frame_content_size)`` of this thread, made in
    this process: zstd contexts are never shared across ``fork`` (DataLoader
    workers) nor between threads."""
    pid = os.getpid()
    got = getattr(_local, "dctx", None)
    if got is None or got[0] != pid:
        zstandard = _zstandard()
        dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
        got = (pid, dctx, zstandard.ZstdError, zstandard.frame_content_size)
        _local.dctx = got
    return got[1:]


class _Cache:
    """An LRU of decompressed blocks (read-only arrays) owned by one process."""

    __slots__ = ("pid", "lock", "blocks")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.blocks: "OrderedDict[int, np.ndarray]" = OrderedDict()


class ZstdTokens:
    """The token stream of a TOKENS section with codec 1 (5.6), read block by block.

    Sequence-like: ``len(t)``, ``t.dtype``, ``t[a:b]`` and ``t[positions]`` (fresh
    arrays), ``t[i]`` (a numpy scalar), ``np.asarray(t)`` (the whole stream,
    decompressed: allocates ``count`` tokens). :meth:`range` and :meth:`gather` are
    what views use. Each block is checked before use (5.6: its offsets inside the
    section and in order, the frame decompressing to exactly the expected bytes:
    ``bad_block`` naming the block). The last ``cache_blocks`` blocks read are kept,
    per process (a forked worker starts with an empty cache of its own).
    """

    def __init__(self, raw, entry: SectionEntry, index: BlockIndex,
                 cache_blocks: Optional[int] = None) -> None:
        # Plain ndarray views (no copy): slicing an np.memmap costs Python-level
        # __getitem__ / __array_finalize__ calls on every block read.
        self._section = np.asarray(raw[entry.offset : entry.end])
        self._frames = memoryview(self._section)
        self._entry = entry
        self._length = entry.length
        self._count = entry.count
        self._block_tokens = index.block_tokens
        self._n_blocks = index.n_blocks
        self._offsets = np.asarray(index.offsets)
        self._dtype = np.dtype(DTYPES[entry.dtype][2])
        self._width = self._dtype.itemsize
        block_bytes = min(self._block_tokens, max(self._count, 1)) * self._width
        if cache_blocks is None:
            cache_blocks = min(CACHE_MAX_BLOCKS,
                               max(CACHE_MIN_BLOCKS, CACHE_BYTES // max(block_bytes, 1)))
        if int(cache_blocks) < 0:
            raise ValueError(f"cache_blocks is {cache_blocks}; at least 0")
        self._capacity = int(cache_blocks)
        self._cache: Optional[_Cache] = None

    def __getstate__(self):
        # The cache (and its lock) stays in this process.
        state = dict(self.__dict__)
        state["_cache"] = None
        del state["_frames"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._frames = memoryview(self._section)

    # -- what it is -------------------------------------------------------------------

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def itemsize(self) -> int:
        return self._width

    @property
    def block_tokens(self) -> int:
        return self._block_tokens

    @property
    def num_blocks(self) -> int:
        return self._n_blocks

    @property
    def block_offsets(self) -> np.ndarray:
        """``block_offsets`` as stored (a ``<u8`` view over the file; only the first
        and last checked at open)."""
        return self._offsets

    @property
    def cache_blocks(self) -> int:
        """How many decompressed blocks this process keeps (LRU)."""
        return self._capacity

    @cache_blocks.setter
    def cache_blocks(self, value: int) -> None:
        value = int(value)
        if value < 0:
            raise ValueError(f"cache_blocks is {value}; at least 0")
        self._capacity = value
        cache = self._cache
        if cache is not None and cache.pid == os.getpid():
            with cache.lock:
                while len(cache.blocks) > value:
                    cache.blocks.popitem(last=False)

    def cached_blocks(self) -> Tuple[int, ...]:
        """Indexes of the blocks in this process's cache, least recently used first."""
        cache = self._cache
        if cache is None or cache.pid != os.getpid():
            return ()
        with cache.lock:
            return tuple(cache.blocks)

    def __len__(self) -> int:
        return self._count

    @property
    def shape(self) -> Tuple[int]:
        return (self._count,)

    @property
    def ndim(self) -> int:
        return 1

    @property
    def size(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (f"<tokpack ZstdTokens {self._count} {self._dtype.name} tokens in "
                f"{self._n_blocks} blocks of {self._block_tokens}>")

    # -- one block ----------------------------------------------------------------------

    def _bad(self, k: int, detail: str, at: Optional[int] = None) -> TokpackError:
        return TokpackError(
            "bad_block",
            f"block {k}: {detail}",
            section="tokens",
            offset=self._entry.offset + (HEAD + 8 * k if at is None else at),
        )

    def block_size(self, k: int) -> int:
        """Tokens in block ``k``."""
        bt = self._block_tokens
        return min((k + 1) * bt, self._count) - k * bt

    def _frame_range(self, k: int) -> Tuple[int, int]:
        """5.6: ``block_offsets[k] <= block_offsets[k + 1] <= length`` (``bad_block``)."""
        lo, hi = int(self._offsets[k]), int(self._offsets[k + 1])
        if not lo <= hi <= self._length:
            raise self._bad(
                k, f"block_offsets[{k}] = {lo} and block_offsets[{k + 1}] = {hi} do not make "
                   f"a range inside the section's {self._length} bytes")
        return lo, hi

    def decompress_block(self, k: int) -> np.ndarray:
        """Block ``k`` decompressed and checked (5.6, ``bad_block``), a fresh read-only
        array of :meth:`block_size` tokens; the cache is neither read nor filled."""
        lo, hi = self._frame_range(k)
        expected = self.block_size(k) * self._width
        frame = self._frames[lo:hi]
        window = frame_window(frame)
        if window is not None and window > MAX_WINDOW:
            raise self._bad(k, f"the frame's window is {window} bytes, over 2**27 (5.6: "
                               f"refused; the block holds {expected} bytes)", at=lo)
        dctx, ZstdError, frame_content_size = _decompressor()
        try:
            stated = frame_content_size(frame)
        except (ZstdError, ValueError) as exc:
            raise self._bad(k, f"bytes {lo}..{hi} of the section are not a zstd frame "
                               f"({exc})", at=lo) from None
        # A content size the frame states is not trusted: one other than the block's
        # size is refused before anything is allocated (the frame could not
        # decompress to exactly the expected bytes anyway).
        if stated != -1 and stated != expected:
            raise self._bad(k, f"the frame header states {stated} bytes of content; the "
                               f"block holds {expected} ({self.block_size(k)} tokens)", at=lo)
        try:
            data = dctx.decompress(frame, max_output_size=expected, allow_extra_data=False)
        except (ZstdError, ValueError, MemoryError) as exc:
            raise self._bad(k, f"the frame (bytes {lo}..{hi}) does not decompress to "
                               f"{expected} bytes: {exc}", at=lo) from None
        if len(data) != expected:
            raise self._bad(k, f"the frame (bytes {lo}..{hi}) decompresses to {len(data)} "
                               f"bytes, not {expected}", at=lo)
        return np.frombuffer(data, dtype=self._dtype)

    def _state(self) -> _Cache:
        cache = self._cache
        if cache is None or cache.pid != os.getpid():
            cache = self._cache = _Cache()
        return cache

    def block(self, k: int) -> np.ndarray:
        """Block ``k`` (read-only array), from this process's cache when there."""
        cache = self._state()
        with cache.lock:
            got = cache.blocks.get(k)
            if got is not None:
                cache.blocks.move_to_end(k)
                return got
        got = self.decompress_block(k)
        if self._capacity:
            with cache.lock:
                cache.blocks[k] = got
                cache.blocks.move_to_end(k)
                while len(cache.blocks) > self._capacity:
                    cache.blocks.popitem(last=False)
        return got

    def clear_cache(self) -> None:
        self._cache = None

    # -- what views read --------------------------------------------------------------

    def range(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``start .. stop`` (clipped to the stream), a fresh array: only the
        blocks holding them are decompressed."""
        start, stop = int(start), int(stop)
        stop = max(min(stop, self._count), 0)
        start = min(max(start, 0), stop)
        if start == stop:
            return np.empty(0, dtype=self._dtype)
        bt = self._block_tokens
        k0, k1 = start // bt, (stop - 1) // bt
        if k0 == k1:
            base = k0 * bt
            return self.block(k0)[start - base : stop - base].copy()
        first = self.block(k0)  # a bad first block fails before the output exists
        out = np.empty(stop - start, dtype=self._dtype)
        at = 0
        for k in range(k0, k1 + 1):
            base = k * bt
            blk = first if k == k0 else self.block(k)
            a = max(start, base) - base
            b = min(stop, base + len(blk)) - base
            out[at : at + b - a] = blk[a:b]
            at += b - a
        return out

    def gather(self, positions) -> np.ndarray:
        """The tokens at ``positions`` (any integer array; each in ``[0, count)``, else
        ``IndexError``), a fresh array of the same shape; each block touched is
        decompressed once."""
        positions = np.asarray(positions)
        if positions.dtype.kind not in "iu":
            raise IndexError("token positions must be integers")
        flat = positions.reshape(-1).astype(np.int64, copy=False)
        if flat.size == 0:
            return np.empty(positions.shape, dtype=self._dtype)
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0:
            flat = np.where(flat < 0, flat + self._count, flat)
            lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= self._count:
            raise IndexError(f"token positions outside 0..{self._count}")
        bt = self._block_tokens
        k0, k1 = lo // bt, hi // bt
        if k0 == k1:
            return self.block(k0)[flat - k0 * bt].reshape(positions.shape)
        which = flat // bt
        out = np.empty(flat.shape, dtype=self._dtype)
        for k in np.unique(which).tolist():
            sel = which == k
            out[sel] = self.block(k)[flat[sel] - k * bt]
        return out.reshape(positions.shape)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self._count)
            if step == 1:
                return self.range(start, max(start, stop))
            if step > 0:
                return self.range(start, max(start, stop))[::step].copy()
            return self.gather(np.arange(start, stop, step, dtype=np.int64))
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if i < 0:
                i += self._count
            if not 0 <= i < self._count:
                raise IndexError(f"token {key} out of range for {self._count} tokens")
            k = i // self._block_tokens
            return self.block(k)[i - k * self._block_tokens]
        return self.gather(key)

    def __array__(self, dtype=None, copy=None):
        out = self.range(0, self._count)
        return out if dtype is None else out.astype(dtype, copy=False)

    def __iter__(self):
        for k in range(self._n_blocks):
            yield from self.block(k)

    # -- verify (6.2 step 4, 5.6 "In verify") -------------------------------------------

    def check_offsets(self) -> None:
        """Every ``block_offsets[k] <= block_offsets[k + 1]`` (``bad_block`` naming the
        first block that breaks it). With the two ends checked at open, every frame
        then lies inside the section."""
        off = self._offsets
        for lo in range(0, self._n_blocks, CHUNK):
            hi = min(lo + CHUNK, self._n_blocks)
            part = off[lo : hi + 1]
            bad = np.flatnonzero(part[1:] < part[:-1])
            if len(bad):
                k = lo + int(bad[0])
                raise self._bad(
                    k, f"block_offsets[{k + 1}] = {int(off[k + 1])} is below "
                       f"block_offsets[{k}] = {int(off[k])}", at=HEAD + 8 * (k + 1))

    def blocks(self) -> Iterator[Tuple[int, np.ndarray]]:
        """``(k, tokens of block k)`` for every block in order, each decompressed and
        checked (``bad_block``); the cache is left alone (a full pass)."""
        for k in range(self._n_blocks):
            yield k, self.decompress_block(k)
