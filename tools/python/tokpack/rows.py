"""Training rows (spec section 12): the contiguous view (12.1) and plan views (12.2),
with insertion overlays applied (13.4).

A row is five arrays, built with numpy operations over the whole row (a row of a
plan view costs a few array operations per row, none per token; each overlay costs
one binary search per row, plus a few array operations when the row has
insertions):

- ``input_ids`` ``int64[L]``: token ids, padding positions hold the pad id;
- ``labels`` ``int64[L]``: the id to predict, or ``-100`` (:data:`IGNORE_INDEX`);
- ``position_ids`` ``int64[L]``: 0 at the start of each run, counting up inside it;
- ``cu_seqlens`` ``int32[runs + 1]`` (``int64`` when ``L >= 2**31``): ``[0, ..., L]``;
- ``loss_mask`` ``uint8[L]``: 1 where ``labels`` is not ``-100``.
"""

import operator
from typing import Dict, Iterator, Optional, Sequence

import numpy as np

from .format.overlay_sections import overlap_error

TAILS = ("drop", "pad")
#: The label of a position without a target (12).
IGNORE_INDEX = -100
#: 12: the caller's pad id is an id in [0, 2**32).
_PAD_ID_END = 2**32


def contiguous_row_count(n_tokens: int, seq_len: int, tail: str) -> int:
    """12.1: ``floor((n - 1) / L)`` rows when the tail is dropped, ``ceil((n - 1) / L)``
    when it is padded, 0 when ``n <= 1``."""
    if n_tokens <= 1:
        return 0
    if tail == "drop":
        return (n_tokens - 1) // seq_len
    return -(-(n_tokens - 1) // seq_len)


class Rows:
    """The training rows of a dataset: ``Rows(ds, L)`` is the contiguous view of
    12.1, ``Rows(ds, plan=plan)`` the view a plan file describes (12.1 for a
    contiguous plan, 12.2 for doc_aligned and bfd).

    - ``seq_len``: ``L``; optional with a plan, and then it must equal the plan's.
    - ``tail``: ``"drop"`` (default) or ``"pad"``, the last partial row of the
      contiguous view. With a plan, the plan's tail applies: a different value is a
      ``ValueError``, and so is any value with a doc_aligned or bfd plan.
    - ``pad_id``: the id of padding positions; default the dataset metadata's
      ``pad_id``, else its ``eos_id``, else 0.
    - ``mask_document_boundaries``: contiguous view only, no target where the next
      token starts another document. Plan views never have a target across a
      segment's end, so it changes nothing there.

    - ``sources``: contiguous view only, restricted to the documents of these
      source names (12.5): the view of the filtered stream (a
      :class:`tokpack.SourceFilter`, :attr:`dataset` then), 12.1 applied to it. The
      dataset (or manifest) needs source ids and every name must be one of its
      sources (else ``ValueError``). Not with a plan (a plan fixes its documents:
      ``tokpack pack --sources`` makes one) nor with overlays (the spec binds
      overlays to a dataset and a view, not to a filtered stream): ``ValueError``.

    - ``overlays``: insertion overlays (:class:`tokpack.Overlay`) applied to every
      row (13.4). Each must be bound to the dataset (``wrong_dataset``) and to this
      view: its ``seq_len``, ``plan_id`` and ``rows`` (``wrong_view``); several
      together must have no two insertions that intersect (``insertion_overlap``,
      checked here over all their insertions).

    A plan must be bound to the dataset (``wrong_dataset``, 11.4), and each row read
    is checked as 11.4 asks of an unverified plan (``bad_plan``), and each insertion
    it applies as 13.2 asks of an unverified overlay (``bad_overlay``, also when the
    row's insertions are out of order or intersect). The contiguous view checks once
    that the dataset's offsets never decrease (``bad_doc_offsets``): it looks runs up
    in them.
    """

    def __init__(
        self,
        dataset,
        seq_len: Optional[int] = None,
        plan=None,
        tail: Optional[str] = None,
        pad_id: Optional[int] = None,
        mask_document_boundaries: bool = False,
        overlays: Sequence = (),
        sources=None,
    ) -> None:
        if sources is not None:
            if plan is not None:
                raise ValueError(
                    "sources restricts the contiguous view; a plan already fixes its "
                    "documents (spec 12.5: a filtered plan records its sources)")
            if tuple(overlays):
                raise ValueError(
                    "overlays are bound to a dataset and a view (13.2), not to a view "
                    "restricted to sources")
            from .sources import SourceFilter

            dataset = SourceFilter(dataset, sources)
        if plan is None:
            if seq_len is None:
                raise TypeError("Rows needs seq_len (or a plan)")
            seq_len = operator.index(seq_len)
            if seq_len < 1:
                raise ValueError(f"seq_len is {seq_len}; L is at least 1")
            tail = "drop" if tail is None else tail
            if tail not in TAILS:
                raise ValueError(f"tail is {tail!r}, not one of {TAILS}")
            strategy = "contiguous"
        else:
            plan.check_dataset(dataset)
            if seq_len is not None and operator.index(seq_len) != plan.seq_len:
                raise ValueError(f"seq_len {seq_len} is not the plan's {plan.seq_len}")
            seq_len = plan.seq_len
            strategy = plan.strategy
            if strategy == "contiguous":
                if tail is not None and tail != plan.tail:
                    raise ValueError(f"tail {tail!r} is not the plan's {plan.tail!r}")
                tail = plan.tail
            elif tail is not None:
                raise ValueError(
                    f"tail applies to the contiguous view, not to a {strategy} plan"
                )
        if pad_id is None:
            pad_id = next((v for v in (dataset.pad_id, dataset.eos_id) if v is not None), 0)
        pad_id = operator.index(pad_id)
        if not 0 <= pad_id < _PAD_ID_END:
            raise ValueError(f"pad_id {pad_id} is not in [0, 2**32) (spec 12)")

        self._dataset = dataset
        self._plan = plan
        self._seq_len = seq_len
        self._strategy = strategy
        self._tail = tail
        self._pad_id = pad_id
        self._mask_boundaries = bool(mask_document_boundaries)
        self._cu_dtype = np.int32 if seq_len < 2**31 else np.int64
        if strategy == "contiguous":
            self._num_rows = contiguous_row_count(dataset.num_tokens, seq_len, tail)
            if not getattr(dataset, "is_manifest", False):
                # A manifest checks each shard's offsets when it opens it (lazily).
                dataset.ordered_doc_offsets()
        else:
            self._num_rows = plan.num_rows
        self._overlays = tuple(overlays)
        for overlay in self._overlays:
            overlay.check_binding(dataset, self)
        if len(self._overlays) > 1:
            _check_disjoint(self._overlays)
        # Lean paths for a raw single-file dataset, whose tokens are a plain ndarray
        # view of the mapping: a contiguous row is one slice (``tokens``), a plan row
        # a few slices and one concatenate (``_plan_row_raw``). Compressed tokens,
        # manifests and source filters take the general paths.
        flat = _raw_tokens(dataset)
        self._flat = flat if strategy == "contiguous" else None
        self._span = seq_len + 1
        self._raw_plan = None
        if strategy != "contiguous" and flat is not None:
            self._raw_plan = (np.asarray(plan.rows), np.asarray(plan.segments), flat,
                              dataset._mask, dataset.num_tokens, len(plan.segments))
            self._arange = np.arange(seq_len, dtype=np.int64)
        self._fast_overlays = tuple(_FastOverlay(ov) for ov in self._overlays)

    # -- what the view is ---------------------------------------------------------

    @property
    def num_rows(self) -> int:
        return self._num_rows

    def __len__(self) -> int:
        return self._num_rows

    @property
    def seq_len(self) -> int:
        return self._seq_len

    @property
    def strategy(self) -> str:
        """``"contiguous"``, ``"doc_aligned"`` or ``"bfd"``."""
        return self._strategy

    @property
    def tail(self) -> Optional[str]:
        """``"drop"`` or ``"pad"`` for the contiguous view, else None."""
        return self._tail

    @property
    def pad_id(self) -> int:
        return self._pad_id

    @property
    def dataset(self):
        """The dataset (or manifest) the rows read."""
        return self._dataset

    @property
    def sources(self) -> Optional[tuple]:
        """The source names the contiguous view is restricted to (12.5), or None."""
        return getattr(self._dataset, "sources", None) if getattr(
            self._dataset, "is_filtered", False) else None

    @property
    def mask_document_boundaries(self) -> bool:
        return self._mask_boundaries

    @property
    def plan(self):
        return self._plan

    @property
    def plan_id(self) -> Optional[bytes]:
        """What an overlay of this view names as ``plan_id`` (13.1): the plan file's
        header ``dataset_id``, or None for the contiguous view without a plan file."""
        return None if self._plan is None else self._plan.file_id

    @property
    def overlays(self) -> tuple:
        return self._overlays

    def _index(self, i: int) -> int:
        n = self._num_rows
        index = operator.index(i)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return index

    # -- rows ---------------------------------------------------------------------

    def tokens(self, i: int) -> np.ndarray:
        """Contiguous view: the ``L + 1`` tokens row ``i`` reads, ``[i*L, i*L + L + 1)``
        (fewer at the end of the stream), as a zero-copy slice of the dataset's
        tokens (a fresh array for compressed tokens, spec 5.6; overlays not
        applied)."""
        flat = self._flat
        if flat is not None and type(i) is int and 0 <= i < self._num_rows:
            start = i * self._seq_len  # the slice clips at the end of the stream
            return flat[start : start + self._span]
        if self._strategy != "contiguous":
            raise ValueError(
                f"tokens(i) is for the contiguous view, not a {self._strategy} plan"
            )
        start = self._index(i) * self._seq_len
        stop = min(start + self._seq_len + 1, self._dataset.num_tokens)
        return self._dataset.tokens_range(start, stop)

    def row(self, i: int) -> Dict[str, np.ndarray]:
        """Row ``i`` as the dict ``input_ids``, ``labels``, ``position_ids``,
        ``cu_seqlens``, ``loss_mask`` (section 12). Negative ``i`` counts from the end;
        ``IndexError`` when out of range."""
        index = self._index(i)
        if self._strategy == "contiguous":
            return self._contiguous_row(index)
        if self._raw_plan is not None:
            return self._plan_row_raw(index)
        return self._plan_row(index)

    def __getitem__(self, i: int) -> Dict[str, np.ndarray]:
        return self.row(i)

    def __iter__(self) -> Iterator[Dict[str, np.ndarray]]:
        read = (self._contiguous_row if self._strategy == "contiguous"
                else self._plan_row_raw if self._raw_plan is not None else self._plan_row)
        for i in range(self._num_rows):
            yield read(i)

    def _contiguous_row(self, i: int) -> Dict[str, np.ndarray]:
        """12.1: positions ``p = i*L + j``; input ``tokens[p]`` (``p < n``), label
        ``tokens[p + 1]`` (``p + 1 < n``, its mask bit 1 and, with boundary masking,
        ``p + 1`` no document's first token); runs start at ``j = 0``, at each document
        start and at the first padding position."""
        ds, L = self._dataset, self._seq_len
        n = ds.num_tokens
        start = i * L
        window = ds.tokens_range(start, min(start + L + 1, n))  # zero copy in one raw file
        inputs = min(L, n - start)  # >= 2: a row starts before n - 1
        targets = min(L, n - start - 1)  # positions whose p + 1 < n
        input_ids = np.full(L, self._pad_id, dtype=np.int64)
        input_ids[:inputs] = window[:inputs]
        labels = np.full(L, IGNORE_INDEX, dtype=np.int64)
        keep = ds.loss_mask_range(start + 1, start + 1 + targets)
        if self._mask_boundaries:
            # Document starts q in [start + 1, start + targets]: j = q - start - 1.
            boundaries = ds.doc_starts_in(start + 1, start + targets + 1) - (start + 1)
            keep[boundaries] = False
        following = window[1 : 1 + targets].astype(np.int64)
        labels[:targets] = np.where(keep, following, IGNORE_INDEX)
        # Run starts: j = 0, and every p in DOC_OFFSETS with start <= p < start + L.
        # offsets[n_docs] == n, so the first padding position is among them.
        inner = ds.doc_starts_in(start, start + L) - start
        run_starts = np.unique(np.concatenate(([0], inner)))
        if self._overlays:
            found = self._row_insertions(i)
            if found:
                # 13.4: "has a target by the structure" of 12.1: p + 1 < n and, with
                # boundary masking, p + 1 no document's first token.
                structure = np.zeros(L, dtype=bool)
                structure[:targets] = True
                if self._mask_boundaries:
                    structure[:targets][boundaries] = False
                _apply(found, input_ids, labels, structure)
        return self._finish(input_ids, labels, run_starts)

    def _plan_row(self, r: int) -> Dict[str, np.ndarray]:
        """12.2: the row's segments in plan order, then padding; each segment a run,
        its last token without a target; padding one more run."""
        ds, L = self._dataset, self._seq_len
        starts, lengths = self._plan.row_segments(r)  # checked: inside tokens, sum <= L
        lengths = lengths.astype(np.int64)
        ends = np.cumsum(lengths)  # row position after each segment
        used = int(ends[-1]) if len(ends) else 0
        firsts = ends - lengths  # row position of each segment's first token
        input_ids = np.full(L, self._pad_id, dtype=np.int64)
        labels = np.full(L, IGNORE_INDEX, dtype=np.int64)
        if used:
            # The stream position of row position j < used.
            stream = np.repeat(starts.astype(np.int64) - firsts, lengths) + np.arange(used)
            input_ids[:used] = ds.tokens_at(stream)
            has_target = np.ones(used, dtype=bool)
            has_target[ends - 1] = False  # the last token of each segment
            j = np.flatnonzero(has_target)
            nxt = stream[j] + 1  # inside the segment, so < n
            keep = ds.loss_mask_at(nxt)
            # The token at stream position p + 1 of the same segment is the row's
            # input at j + 1: read once (one gather, each block decompressed once).
            labels[j] = np.where(keep, input_ids[j + 1], IGNORE_INDEX)
        # A row without segments is one run of padding: [0, L].
        run_starts = firsts if used == L else np.append(firsts, used)
        if self._overlays:
            found = self._row_insertions(r)
            if found:
                # 13.4: "has a target by the structure" of 12.2: j + 1 in the
                # segment of j.
                structure = np.zeros(L, dtype=bool)
                if used:
                    structure[:used] = has_target
                _apply(found, input_ids, labels, structure)
        return self._finish(input_ids, labels, run_starts)

    def _plan_row_raw(self, r: int) -> Dict[str, np.ndarray]:
        """12.2 (and 13.4) for a raw single-file dataset, with as few numpy calls as
        the row allows: the row's segment table read once into Python integers and
        checked there (11.4's checks of an unverified plan; a failing row is handed
        to :meth:`Plan.row_segments`, which names the failure), ``input_ids`` one
        ``np.concatenate`` of the segments' slices written straight into the int64
        row, ``labels`` the same row shifted by one with each segment's last
        position set to -100 (and, with a loss mask, the bits of the row's tokens
        unpacked per segment, one ``np.copyto``), ``position_ids`` one slice of an
        ``arange`` per run, ``cu_seqlens`` from the run ends."""
        rows, segments, flat, mask, n, n_segments = self._raw_plan
        L = self._seq_len
        a, b = rows[r : r + 2].tolist()
        segs = segments[a:b].tolist() if a <= b <= n_segments else None
        used = 0
        if segs is not None:
            for start, length in segs:
                if length < 1 or start + length > n:
                    segs = None
                    break
                used += length
        if segs is None or used > L:
            self._plan.row_segments(r)  # raises bad_plan, naming the row or segment
            return self._plan_row(r)  # pragma: no cover - row_segments raised
        input_ids = np.empty(L, dtype=np.int64)
        labels = np.empty(L, dtype=np.int64)
        position_ids = np.empty(L, dtype=np.int64)
        arange = self._arange
        cu = [0]
        if used:
            if len(segs) == 1:
                start = segs[0][0]
                input_ids[:used] = flat[start : start + used]
            else:
                np.concatenate([flat[start : start + length] for start, length in segs],
                               out=input_ids[:used])
            labels[: used - 1] = input_ids[1:used]
            if mask is not None:
                # The bit of each row token's stream position; label j takes the bit of
                # position j + 1.
                bits = [np.unpackbits(mask[start >> 3 : (start + length + 7) >> 3],
                                      bitorder="little")[start & 7 : (start & 7) + length]
                        for start, length in segs]
                bits = bits[0] if len(bits) == 1 else np.concatenate(bits)
                np.copyto(labels[: used - 1], IGNORE_INDEX, where=bits[1:] == 0)
            at = 0
            for _, length in segs:
                position_ids[at : at + length] = arange[:length]
                at += length
                labels[at - 1] = IGNORE_INDEX  # a segment's last token has no target
                cu.append(at)
        if used < L:
            input_ids[used:] = self._pad_id
            labels[used:] = IGNORE_INDEX
            position_ids[used:] = arange[: L - used]
            cu.append(L)
        if self._overlays:
            found = [ov.row(r, L) for ov in self._fast_overlays]
            if any(got is not None for got in found):
                # 13.4: "has a target by the structure" of 12.2: j + 1 in the segment
                # of j, i.e. j < used and j not a segment's last position.
                ends = cu[1:]
                for got in found:
                    if got is not None:
                        _apply_spans(got, input_ids, labels, used, ends)
        return {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": position_ids,
            "cu_seqlens": np.array(cu, dtype=self._cu_dtype),
            "loss_mask": (labels != IGNORE_INDEX).view(np.uint8),
        }

    def _row_insertions(self, i: int):
        """The insertions of row ``i``, overlay by overlay (one binary search each),
        checked as 13.2 asks of an unverified overlay."""
        found = []
        for overlay in self._overlays:
            got = overlay.row_insertions(i)
            if got is not None:
                found.append(got)
        return found

    def _finish(self, input_ids, labels, run_starts) -> Dict[str, np.ndarray]:
        L = self._seq_len
        cu_seqlens = np.append(run_starts, L).astype(self._cu_dtype)
        run_lengths = np.diff(cu_seqlens).astype(np.int64)
        position_ids = np.arange(L, dtype=np.int64) - np.repeat(
            run_starts.astype(np.int64), run_lengths
        )
        return {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": position_ids,
            "cu_seqlens": cu_seqlens,
            "loss_mask": (labels != IGNORE_INDEX).astype(np.uint8),
        }

    def __repr__(self) -> str:
        view = self._strategy + (f", tail {self._tail}" if self._tail else "")
        if self.sources is not None:
            view += ", sources " + ", ".join(self.sources)
        extra = f", {len(self._overlays)} overlays" if self._overlays else ""
        return f"<tokpack.Rows {view}, L = {self._seq_len}, {self._num_rows} rows{extra}>"


def _apply(found, input_ids: np.ndarray, labels: np.ndarray, structure: np.ndarray) -> None:
    """13.4, for each insertion of the row (offset ``o``, tokens ``t``, target flag
    ``f``): ``input_ids[o + k] = t[k]``; each ``j`` from ``max(o - 1, 0)`` to
    ``o + len - 2`` with a target by the structure of the view gets ``labels[j] =
    input_ids[j + 1]`` when ``f``, else ``-100``. Nothing else changes. Each overlay's
    insertions of the row come in position order without intersecting (checked as
    they were read), and insertions of different overlays never intersect (checked
    when the view was made), so each overlay's insertions are applied on their own;
    ``loss_mask`` follows from the labels."""
    for offsets, lengths, tokens, targets in found:
        total = int(lengths.sum())
        first_token = np.cumsum(lengths) - lengths  # index of each payload in `tokens`
        at = np.repeat(offsets - first_token, lengths) + np.arange(total)
        input_ids[at] = tokens.astype(np.int64)
        # j runs over max(o - 1, 0) .. o + len - 2: len positions, one fewer at o = 0.
        first_j = np.maximum(offsets - 1, 0)
        count = offsets + lengths - 1 - first_j
        j = np.repeat(first_j - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
        f = np.repeat(targets, count)
        keep = structure[j]
        j, f = j[keep], f[keep]
        labels[j] = np.where(f, input_ids[j + 1], IGNORE_INDEX)


def _check_disjoint(overlays) -> None:
    """13.2: several overlays apply to one view together only when no two of their
    insertions intersect (``insertion_overlap``, naming both positions and lengths).
    All insertions sorted by position: if any two intersect, two neighbours do."""
    positions = np.concatenate([np.asarray(ov.positions, dtype=np.uint64) for ov in overlays])
    lengths = np.concatenate([ov.lengths() for ov in overlays])
    owner = np.concatenate([np.full(len(ov), k) for k, ov in enumerate(overlays)])
    order = np.argsort(positions, kind="stable")
    p, n = positions[order], lengths[order].astype(np.uint64)
    # p[k] + n[k] > p[k + 1], without overflow: p[k + 1] - p[k] < n[k].
    clash = np.flatnonzero(p[1:] - p[:-1] < n[:-1])
    if len(clash):
        a, b = order[clash[0]], order[clash[0] + 1]
        raise overlap_error(
            int(positions[b]), int(lengths[b]), int(positions[a]), int(lengths[a]),
            where=f"overlay {int(owner[b])} and overlay {int(owner[a])}: ",
        )


def _raw_tokens(dataset) -> Optional[np.ndarray]:
    """The dataset's tokens when they are a plain ndarray of one raw file (a
    :class:`tokpack.Dataset` with codec 0), else None."""
    from .dataset import Dataset

    if type(dataset) is Dataset and not dataset.is_compressed:
        tokens = dataset.tokens
        if type(tokens) is np.ndarray:
            return tokens
    return None


#: INS_TOKENS checked against ``vocab_size`` in chunks of this many tokens, each the
#: first time a row needs one of its tokens (see ``_FastOverlay``).
_TOKEN_CHUNK = 1 << 16


class _FastOverlay:
    """An overlay as a row reads it: its arrays as plain ndarrays, a reusable uint64
    buffer for the row's binary search, and which chunks of INS_TOKENS are known to
    hold only ids below ``vocab_size``.

    :meth:`row` does the checks 13.2 asks of each insertion a row applies through an
    unverified overlay (payload range, span inside the row, the row's insertions in
    increasing position order without intersecting: Python integers on the row's
    few insertions; tokens below ``vocab_size``: the chunk of INS_TOKENS holding
    them, checked once, vectorized, the first time a row needs it; a chunk holding
    a bad id is never marked, so rows there are checked on their own). When any
    check fails, ``Overlay.row_insertions`` is called, which finds and names the
    failure exactly as before."""

    __slots__ = ("overlay", "pos", "off", "tokens", "flags", "n_tokens", "vocab",
                 "check_vocab", "chunks_ok", "bounds")

    def __init__(self, overlay) -> None:
        self.overlay = overlay
        self.pos = np.asarray(overlay.positions)
        self.off = np.asarray(overlay.payload_offsets)
        self.tokens = np.asarray(overlay.tokens)
        self.flags = np.asarray(overlay.flags)
        self.n_tokens = len(self.tokens)
        self.vocab = overlay.vocab_size
        self.check_vocab = self.vocab <= np.iinfo(self.tokens.dtype).max
        self.chunks_ok = bytearray(-(-self.n_tokens // _TOKEN_CHUNK))
        self.bounds = np.empty(2, dtype=np.uint64)

    def _tokens_ok(self, a: int, b: int) -> bool:
        """Whether INS_TOKENS ``[a, b)`` (non-empty, inside) are below vocab_size,
        checking each chunk they touch once."""
        ok = self.chunks_ok
        for c in range(a // _TOKEN_CHUNK, (b - 1) // _TOKEN_CHUNK + 1):
            if not ok[c]:
                lo = c * _TOKEN_CHUNK
                if int(self.tokens[lo : lo + _TOKEN_CHUNK].max()) >= self.vocab:
                    return int(self.tokens[a:b].max()) < self.vocab
                ok[c] = 1
        return True

    def row(self, row: int, L: int):
        """``(offsets in the row, payload starts, payload ends, targets)`` as Python
        lists, or None when the row has no insertion (one binary search)."""
        base = row * L
        bounds = self.bounds
        bounds[0] = base
        bounds[1] = base + L
        k0, k1 = self.pos.searchsorted(bounds).tolist()
        if k0 == k1:
            return None
        positions = self.pos[k0:k1].tolist()
        off = self.off[k0 : k1 + 1].tolist()
        n_tokens = self.n_tokens
        offsets = []
        end = 0
        ok = True
        for k, p in enumerate(positions):
            a, b = off[k], off[k + 1]
            o = p - base
            if not (a < b <= n_tokens and 0 <= o and o + b - a <= L and o >= end):
                ok = False
                break
            end = o + b - a
            offsets.append(o)
        if ok and self.check_vocab:
            ok = self._tokens_ok(off[0], off[-1])
        if not ok:
            self.overlay.row_insertions(row)  # raises bad_overlay, naming the insertion
            raise AssertionError("row_insertions accepted a row the fast check refused")
        targets = self.flags[k0:k1].tolist()
        return offsets, off, targets, self.tokens


def _apply_spans(got, input_ids: np.ndarray, labels: np.ndarray, limit: int, ends) -> None:
    """13.4 for one overlay's insertions of a plan row (``got`` from
    ``_FastOverlay.row``): ``input_ids[o + k] = t[k]``; each ``j`` from ``max(o - 1,
    0)`` to ``o + len - 2`` with a target by the structure (``j < limit`` and ``j``
    not the last position of a segment, ``ends`` being the segments' ends) gets
    ``labels[j] = input_ids[j + 1]`` when the flag's bit 0 is set, else -100. A
    position without a target by the structure already has the label -100 (12.2),
    so the span is written whole and those positions set back to -100."""
    offsets, off, targets, tokens = got
    for k, o in enumerate(offsets):
        a, b = off[k], off[k + 1]
        stop = o + b - a
        input_ids[o:stop] = tokens[a:b]
        j0 = o - 1 if o else 0
        j1 = min(stop - 1, limit)
        if j0 >= j1:
            continue
        if targets[k] & 1:
            labels[j0:j1] = input_ids[j0 + 1 : j1 + 1]
            for e in ends:
                if j0 < e <= j1:
                    labels[e - 1] = IGNORE_INDEX
        else:
            labels[j0:j1] = IGNORE_INDEX
