"""PyTorch adapters: training rows (spec 12, 13.4) as tensors, in the order of spec 16.

torch is an optional dependency (``pip install tokpack[torch]``), imported when this
module is; ``import tokpack`` never imports it.

- :class:`TokpackDataset`: map-style; item ``i`` is row ``i`` of the view as a dict of
  tensors (``input_ids``, ``labels``, ``position_ids`` int64, ``cu_seqlens`` int32,
  ``loss_mask`` uint8), each ``torch.from_numpy`` over the row's numpy arrays (no copy
  beyond the one numpy makes to widen tokens to int64). ``fields=`` picks which of the
  five to build (default all; e.g. ``fields=("input_ids", "labels")``): the others
  are not computed. The contiguous view without overlays has a fast path: the row's
  ``L + 1`` tokens are one zero-copy slice of the mapping (of compressed tokens,
  spec 5.6: a slice of the one or two blocks it touches, decompressed in the worker
  and kept in its block cache), widened to int64 once;
  ``input_ids`` and ``labels`` are views of that one buffer (shifted by one) unless
  labels need masking (a LOSS_MASK section, or document-boundary masking), so copy
  before writing into one of them in place (``collate`` copies anyway). Document
  starts are looked up (one binary search) only for the fields that need them. The
  values are those of ``tokpack.Rows.row(i)``. The file (dataset or manifest,
  plan, overlays) is opened lazily in whichever process reads it first: pickling (to
  DataLoader workers) carries only paths and options. ``sources=["web", ...]``
  restricts the contiguous view to those sources (spec 12.5, ``tokpack.Rows``'s
  ``sources``): rows of the filtered stream, gathered from the selected documents.
- :class:`TokpackSampler`: the rows of this rank for the current epoch (16.2), resumable
  (16.3). DataLoader prefetches ahead of the loop, so the sampler cannot know what the
  loop has consumed: the loop reports it with ``sampler.advance(rows)`` after each step
  (rows of this rank: the per-rank batch size), and ``state_dict()`` is
  ``{"seed", "epoch", "consumed", ...}``. After ``load_state_dict``, the next
  iteration starts at row ``consumed`` of that epoch. ``set_epoch(e)`` with a new
  epoch resets ``consumed`` to 0; with the same epoch it keeps it (so the usual
  ``set_epoch`` at the start of each epoch is harmless after a restart).
- :class:`TokpackIterableDataset`: the same order for ``IterableDataset`` users; the
  rank's rows (from ``consumed``) are split among DataLoader workers in chunks of
  ``batch_size`` rows, worker ``w`` of ``n`` taking every ``n``-th chunk (every
  ``n``-th row when ``batch_size = 1``). Give it the DataLoader's ``batch_size``: the
  DataLoader then returns the rows in the rank's order, so ``consumed`` is a prefix.
- :func:`position_to_row`: the ``(epoch, row)`` pairs of a training step (16.3).
- :func:`collate`: stacks rows into ``[B, L]`` tensors (as ``default_collate`` does,
  into shared memory inside a DataLoader worker); ``cu_seqlens``, when present,
  becomes the batch's flat varlen boundaries (row ``b``'s shifted by ``b * L``).
"""

import operator
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, default_collate, get_worker_info

from .order import RankOrder
from .rows import IGNORE_INDEX

_KEYS = ("input_ids", "labels", "position_ids", "cu_seqlens", "loss_mask")


def _check_fields(fields) -> Tuple[str, ...]:
    """``fields=``: None for all five, else a sequence of distinct names among them."""
    if fields is None:
        return _KEYS
    if isinstance(fields, (str, bytes)):
        raise TypeError(f"fields is a sequence of names, not the string {fields!r}")
    fields = tuple(fields)
    if not fields:
        raise ValueError("fields is empty; name at least one of " + ", ".join(_KEYS))
    for f in fields:
        if f not in _KEYS:
            raise ValueError(f"unknown field {f!r}; fields are " + ", ".join(_KEYS))
    if len(set(fields)) != len(fields):
        raise ValueError(f"fields {fields} names a field twice")
    return fields


class _ContiguousReader:
    """The contiguous view (12.1) without overlays, building only the asked fields.

    A full row (``i*L + L + 1 <= n``) reads the window ``tokens[i*L : i*L + L + 1]``
    (zero copy in one file), widens it to int64 once, and takes ``input_ids =
    w[:-1]`` and ``labels = w[1:]``. Labels are masked only when the dataset has a
    LOSS_MASK section (known at construction) or boundary masking is on; document
    starts in ``[i*L, i*L + L]`` are found with one ``searchsorted`` and only when
    boundary masking, ``position_ids`` or ``cu_seqlens`` need them. A partial row
    (the padded tail) is read by ``Rows.row``. Same values as ``Rows.row(i)``."""

    def __init__(self, rows, fields) -> None:
        ds = rows.dataset
        self.rows = rows
        self.fields = fields
        self.L = rows.seq_len
        self.num_rows = len(rows)
        self.n = ds.num_tokens
        # A manifest, a source filter (12.5) or compressed tokens (5.6) are read
        # through the dataset's methods (the stream is not one array of the mapping).
        self.manifest = bool(getattr(ds, "is_manifest", False)
                             or getattr(ds, "is_filtered", False))
        self.indirect = self.manifest or bool(getattr(ds, "is_compressed", False))
        self.ds = ds
        # Plain ndarray views of the mapping (zero copy): slicing an np.memmap
        # subclass costs Python-level __getitem__/__array_finalize__ calls per row.
        self.tokens = None if self.indirect else np.asarray(ds.tokens)
        want = set(fields)
        self.want_labels = bool(want & {"labels", "loss_mask"})
        self.want_runs = bool(want & {"position_ids", "cu_seqlens"})
        self.loss_mask = bool(ds.has_loss_mask)
        self.boundaries = rows.mask_document_boundaries
        self.masked = self.want_labels and (self.loss_mask or self.boundaries)
        self.need_starts = self.want_runs or (self.want_labels and self.boundaries)
        # Rows checked at construction that the offsets never decrease.
        self.offsets = (np.asarray(ds.ordered_doc_offsets())
                        if self.need_starts and not self.manifest else None)
        self.cu_dtype = np.int32 if self.L < 2**31 else np.int64
        self.arange = np.arange(self.L, dtype=np.int64) if self.want_runs else None
        self.zero = np.zeros(1, dtype=np.int64)
        self.end = np.full(1, self.L, dtype=np.int64)
        self.ones = np.ones(self.L, dtype=np.uint8)
        self.ones.flags.writeable = False

    def row(self, i: int) -> Dict[str, np.ndarray]:
        n_rows = self.num_rows
        i = operator.index(i)
        if i < 0:
            i += n_rows
        if not 0 <= i < n_rows:
            raise IndexError(f"row {i} out of range for {n_rows} rows")
        L = self.L
        start = i * L
        stop = start + L + 1
        if stop > self.n:  # the padded tail
            row = self.rows.row(i)
            return {k: row[k] for k in self.fields}
        if self.indirect:
            w = self.ds.tokens_range(start, stop).astype(np.int64)
        else:
            w = self.tokens[start:stop].astype(np.int64)
        if self.need_starts:
            # DOC_OFFSETS values p in [start, start + L], relative to start.
            if self.offsets is not None:
                lo, hi = np.searchsorted(self.offsets, np.array((start, stop), dtype=np.uint64))
                rel = self.offsets[lo:hi].astype(np.int64) - start
            else:
                rel = self.ds.doc_starts_in(start, stop) - start
        if self.want_labels:
            if self.masked:
                if self.loss_mask:
                    keep = self.ds.loss_mask_range(start + 1, stop)
                    labels = np.where(keep, w[1:], IGNORE_INDEX)
                else:
                    labels = w[1:].copy()
                if self.boundaries:
                    # A target p + 1 that starts a document: j = p + 1 - start - 1.
                    labels[rel[rel > 0] - 1] = IGNORE_INDEX
            else:
                labels = w[1:]
        if self.want_runs:
            # Runs start at 0 and at each document start p in [start, start + L).
            # rel is sorted; equal values (empty documents) make one run start.
            inner = rel[(rel > 0) & (rel < L)]
            if len(inner) > 1:
                inner = inner[np.concatenate(([True], inner[1:] != inner[:-1]))]
            run_starts = np.concatenate((self.zero, inner))
            cu_seqlens = np.concatenate((run_starts, self.end)).astype(self.cu_dtype)
        out = {}
        for k in self.fields:
            if k == "input_ids":
                out[k] = w[:-1]
            elif k == "labels":
                out[k] = labels
            elif k == "loss_mask":
                if self.masked:
                    out[k] = (labels != IGNORE_INDEX).astype(np.uint8)
                else:
                    out[k] = self.ones.copy()
            elif k == "cu_seqlens":
                out[k] = cu_seqlens
            elif len(run_starts) == 1:  # position_ids, one run
                out[k] = self.arange.copy()
            else:
                lengths = np.diff(cu_seqlens).astype(np.int64)
                out[k] = self.arange - np.repeat(run_starts, lengths)
        return out


def _dist_defaults(world_size, rank):
    if world_size is None or rank is None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            world_size = torch.distributed.get_world_size() if world_size is None else world_size
            rank = torch.distributed.get_rank() if rank is None else rank
        else:
            world_size = 1 if world_size is None else world_size
            rank = 0 if rank is None else rank
    return operator.index(world_size), operator.index(rank)


class _View:
    """Paths and options of a view; opens it (``tokpack.Rows``) on first use, once per
    process. Pickles as paths and options only."""

    def __init__(self, path, seq_len, plan, overlays, pad_id, mask_document_boundaries, tail,
                 fields=None, sources=None):
        import os

        self.path = os.fspath(path)
        self.seq_len = seq_len
        self.plan = None if plan is None else os.fspath(plan)
        self.overlays = tuple(os.fspath(o) for o in overlays)
        self.pad_id = pad_id
        self.mask_document_boundaries = bool(mask_document_boundaries)
        self.tail = tail
        self.fields = _check_fields(fields)
        if sources is not None:
            sources = (sources,) if isinstance(sources, str) else tuple(sources)
        self.sources = sources
        self._rows = None
        self._read = None

    @property
    def rows(self):
        if self._rows is None:
            import tokpack

            ds = tokpack.open(self.path)
            plan = None if self.plan is None else tokpack.open_plan(self.plan)
            tail = self.tail
            if plan is not None and (plan.strategy != "contiguous" or tail == "drop"):
                tail = None  # the plan's own
            self._rows = tokpack.Rows(
                ds, self.seq_len, plan=plan, tail=tail, pad_id=self.pad_id,
                mask_document_boundaries=self.mask_document_boundaries,
                overlays=[tokpack.open_overlay(o) for o in self.overlays],
                sources=self.sources,
            )
        return self._rows

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_rows"] = None
        state["_read"] = None
        return state

    def _reader(self):
        """``i -> dict of the asked fields' numpy arrays``: the contiguous fast path
        when the view is contiguous without overlays, else ``Rows.row``."""
        rows = self.rows
        if rows.strategy == "contiguous" and not rows.overlays:
            self._read = _ContiguousReader(rows, self.fields).row
        elif self.fields == _KEYS:
            self._read = rows.row
        else:
            fields = self.fields

            def read(i):
                row = rows.row(i)
                return {k: row[k] for k in fields}

            self._read = read
        return self._read

    def tensors(self, i: int, with_index: bool) -> Dict[str, torch.Tensor]:
        read = self._read or self._reader()
        from_numpy = torch.from_numpy
        out = {k: from_numpy(v) for k, v in read(i).items()}
        if with_index:
            out["index"] = torch.tensor(i, dtype=torch.int64)
        return out


class TokpackDataset(Dataset):
    """Map-style dataset of the rows of a view: ``path`` a dataset file or a manifest
    (``.json``), ``plan`` a plan file path, ``overlays`` overlay file paths, the rest
    as ``tokpack.Rows`` (``sources``: the contiguous view restricted to these source
    names, spec 12.5). ``fields`` the names of the tensors each item holds (default
    all five; see the module docstring). ``return_index=True`` adds ``"index"`` (the
    row number)."""

    def __init__(self, path, seq_len: Optional[int], plan=None, overlays: Sequence = (),
                 pad_id: Optional[int] = None, mask_document_boundaries: bool = False,
                 tail: str = "drop", return_index: bool = False,
                 fields: Optional[Sequence[str]] = None, sources=None) -> None:
        self._view = _View(path, seq_len, plan, overlays, pad_id, mask_document_boundaries, tail,
                           fields, sources)
        self.return_index = bool(return_index)

    @property
    def rows(self):
        """The ``tokpack.Rows`` view (opened on first use in this process)."""
        return self._view.rows

    def __len__(self) -> int:
        return len(self._view.rows)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        return self._view.tensors(i, self.return_index)

    def __getstate__(self):
        return {"_view": self._view, "return_index": self.return_index}


class TokpackSampler(Sampler):
    """Rows of this rank for the current epoch in spec 16's order; see the module
    docstring for the resume protocol (``advance`` / ``state_dict``)."""

    def __init__(self, dataset_or_num_rows, seed: int = 0, world_size: Optional[int] = None,
                 rank: Optional[int] = None, drop_last: bool = True) -> None:
        if isinstance(dataset_or_num_rows, int):
            n = dataset_or_num_rows
        else:
            n = len(dataset_or_num_rows)
        world_size, rank = _dist_defaults(world_size, rank)
        self.order = RankOrder(n, seed, world_size, rank, drop_last)
        self.epoch = 0
        self.consumed = 0

    num_rows = property(lambda self: self.order.rows)
    seed = property(lambda self: self.order.seed)
    world_size = property(lambda self: self.order.world_size)
    rank = property(lambda self: self.order.rank)
    drop_last = property(lambda self: self.order.drop_last)

    def set_epoch(self, epoch: int) -> None:
        epoch = operator.index(epoch)
        if epoch != self.epoch:
            self.epoch = epoch
            self.consumed = 0

    def advance(self, rows: int) -> None:
        """The loop consumed ``rows`` more rows of this rank's epoch."""
        self.consumed = min(self.consumed + operator.index(rows), self.order.per_rank)

    def __len__(self) -> int:
        return self.order.per_rank - self.consumed

    def __iter__(self):
        return iter(self.order.rows_of_epoch(self.epoch, self.consumed).tolist())

    def state_dict(self) -> Dict[str, Any]:
        return {"seed": self.order.seed, "epoch": self.epoch, "consumed": self.consumed,
                "num_rows": self.order.rows, "world_size": self.order.world_size,
                "rank": self.order.rank, "drop_last": self.order.drop_last}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for key in ("seed", "num_rows", "world_size", "drop_last"):
            mine = self.state_dict()[key]
            if key in state and state[key] != mine:
                raise ValueError(f"state was saved with {key} = {state[key]}, this sampler has {mine}")
        self.epoch = operator.index(state["epoch"])
        self.consumed = operator.index(state["consumed"])


class TokpackIterableDataset(IterableDataset):
    """Iterable rows of this rank for ``epoch``, from row ``consumed`` on, split among
    DataLoader workers in chunks of ``batch_size`` (see the module docstring).
    ``set_epoch``, ``advance``, ``state_dict``, ``load_state_dict`` as the sampler;
    ``fields`` and ``sources`` as :class:`TokpackDataset`."""

    def __init__(self, path, seq_len: Optional[int], plan=None, overlays: Sequence = (),
                 pad_id: Optional[int] = None, mask_document_boundaries: bool = False,
                 tail: str = "drop", seed: int = 0, world_size: Optional[int] = None,
                 rank: Optional[int] = None, drop_last: bool = True, batch_size: int = 1,
                 return_index: bool = False, fields: Optional[Sequence[str]] = None,
                 sources=None) -> None:
        self._view = _View(path, seq_len, plan, overlays, pad_id, mask_document_boundaries, tail,
                           fields, sources)
        self.return_index = bool(return_index)
        self.world_size, self.rank = _dist_defaults(world_size, rank)
        self.seed = seed
        self.drop_last = bool(drop_last)
        self.batch_size = operator.index(batch_size)
        self.epoch = 0
        self.consumed = 0
        self._order = None

    @property
    def order(self) -> RankOrder:
        if self._order is None:
            self._order = RankOrder(len(self._view.rows), self.seed, self.world_size,
                                    self.rank, self.drop_last)
        return self._order

    def __len__(self) -> int:
        return self.order.per_rank - self.consumed

    def set_epoch(self, epoch: int) -> None:
        if operator.index(epoch) != self.epoch:
            self.epoch, self.consumed = operator.index(epoch), 0

    def advance(self, rows: int) -> None:
        self.consumed = min(self.consumed + operator.index(rows), self.order.per_rank)

    def state_dict(self) -> Dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"state was saved with seed {state['seed']}, not {self.seed}")
        self.epoch, self.consumed = operator.index(state["epoch"]), operator.index(state["consumed"])

    def __iter__(self):
        rows = self.order.rows_of_epoch(self.epoch, self.consumed)
        info = get_worker_info()
        if info is not None and info.num_workers > 1:
            b, n, w = self.batch_size, info.num_workers, info.id
            chunk = np.arange(len(rows)) // b
            rows = rows[chunk % n == w]
        for i in rows.tolist():
            yield self._view.tensors(i, self.return_index)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_order"] = None
        return state


def position_to_row(step: Optional[int] = None, tokens_seen: Optional[int] = None, *,
                    global_batch: int, seq_len: Optional[int] = None,
                    sampler=None, num_rows: Optional[int] = None, seed: int = 0,
                    world_size: int = 1, drop_last: bool = True) -> List[Tuple[int, int]]:
    """16.3: the ``(epoch, row)`` pairs of training step ``step`` (global positions
    ``[step * B, (step + 1) * B)``, ``B = global_batch`` rows over all ranks), or of
    the step that follows ``tokens_seen`` tokens of rows of ``seq_len``. The order is
    the ``sampler``'s (its rows, seed, world size, drop_last) or given explicitly.
    "Insert at step 1000": ``position_to_row(1000, global_batch=B, sampler=s)``,
    then positions ``row * L + offset`` of spec 13."""
    from .order import position_to_rows

    if sampler is not None:
        o = sampler.order
        num_rows, seed, world_size, drop_last = o.rows, o.seed, o.world_size, o.drop_last
    if num_rows is None:
        raise TypeError("give a sampler or num_rows")
    return position_to_rows(global_batch, num_rows, seed, world_size, drop_last,
                            step=step, tokens_seen=tokens_seen, seq_len=seq_len)


def collate(rows: List[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Stack rows into ``[B, L]`` tensors (``default_collate``, so into shared memory
    inside a DataLoader worker); ``cu_seqlens``, when the rows have it, is the batch's
    flat varlen boundaries ``[0, ..., B * L]`` (int32), each row's shifted by ``b * L``
    (``L`` its last value)."""
    out = {k: default_collate([r[k] for r in rows]) for k in rows[0] if k != "cu_seqlens"}
    if "cu_seqlens" not in rows[0]:
        return out
    cus = [r["cu_seqlens"].numpy() for r in rows]
    L = int(cus[0][-1])
    shift = np.repeat(np.arange(len(cus), dtype=np.int64) * L, [len(c) - 1 for c in cus])
    flat = np.concatenate([c[1:] for c in cus]).astype(np.int64) + shift
    out["cu_seqlens"] = torch.from_numpy(np.concatenate((cus[0][:1], flat)).astype(np.int32))
    return out
