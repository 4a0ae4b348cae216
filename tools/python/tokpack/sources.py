"""Sources (spec 5.5, 12.5, 12.6, 15; version 1.3): per-source figures, the source
filter of the contiguous view, and the tokens a plan takes from each source.

- :func:`count_by_source`: documents and tokens of every source name.
- :class:`SourceFilter`: the **filtered stream** of 12.5, the concatenation of the
  selected documents' tokens (each with its loss-mask bit) in document order, with
  document offsets ``0`` and the running sums of their lengths. It has the methods
  :class:`tokpack.Rows` reads (``tokens_range``, ``tokens_at``, ``loss_mask_range``,
  ``loss_mask_at``, ``doc_starts_in``, ``ordered_doc_offsets``), so that 12.1 applies
  to it unchanged: ``tokpack.Rows(ds, L, sources=["web"])``. It keeps one offset and
  one start per selected document (12.5: "it needs one offset per selected
  document"); a row costs two binary searches and one gather.
- :func:`plan_source_tokens`: the tokens of a plan's segments per source (the
  realised shares of a mixture plan, 12.6).

Dataset files and manifests alike: a manifest numbers sources by name across its
shards (15), and gives ``checked_doc_sources()`` in that numbering.
"""

import operator
from typing import Dict, List, Optional, Tuple

import numpy as np

#: Documents per block in full passes over the source ids.
CHUNK = 1 << 22


def _names_of(sources) -> List[str]:
    """The caller's source names: one string, or an iterable of strings. Each
    name once, in the order first given."""
    if isinstance(sources, str):
        sources = [sources]
    out = []
    for name in sources:
        if not isinstance(name, str):
            raise TypeError(f"a source name is a string, not {name!r}")
        if name not in out:
            out.append(name)
    return out


def source_ids_of(names: Tuple[str, ...], sources) -> List[int]:
    """The ids (indexes into ``names``) of the caller's ``sources``. A name the
    dataset does not have is the caller's error (12.5): ``ValueError``, naming the
    dataset's sources. So is an empty set of names (12.5 says nothing of it; a
    filter that selects nothing by construction is taken for a mistake)."""
    wanted = _names_of(sources)
    if not wanted:
        raise ValueError("no source names given; name at least one of "
                         + ", ".join(names))
    index = {name: k for k, name in enumerate(names)}
    for name in wanted:
        if name not in index:
            raise ValueError(f"no source {name!r}; the sources are " + ", ".join(names))
    return [index[name] for name in wanted]


def count_by_source(names, ids: np.ndarray, offsets: np.ndarray,
                    n_tokens: int) -> Dict[str, Dict[str, int]]:
    """``{name: {"documents", "tokens"}}`` in the order of ``names``, from every
    document's (checked) source id and the (non-decreasing) offsets. Exact: token
    sums are float64 only while every partial sum is below 2**53."""
    k = len(names)
    docs = np.zeros(k, dtype=np.int64)
    toks = np.zeros(k, dtype=np.uint64)
    n_docs = len(ids)
    for lo in range(0, n_docs, CHUNK):
        hi = min(lo + CHUNK, n_docs)
        chunk = np.asarray(ids[lo:hi]).astype(np.int64)
        lengths = np.diff(np.asarray(offsets[lo : hi + 1], dtype=np.uint64))
        docs += np.bincount(chunk, minlength=k)[:k]
        if n_tokens < 2**53:
            toks += np.bincount(chunk, weights=lengths.astype(np.float64),
                                minlength=k)[:k].astype(np.uint64)
        else:
            np.add.at(toks, chunk, lengths)
    return {name: {"documents": int(docs[j]), "tokens": int(toks[j])}
            for j, name in enumerate(names)}


class SourceFilter:
    """The contiguous stream of spec 12.5 over ``base`` (a :class:`tokpack.Dataset`
    or :class:`tokpack.Manifest` with source ids) restricted to the documents whose
    source name is in ``sources``.

    Building it reads every document's source id (``bad_source`` when one is out of
    range: 6.2, last paragraph) and the offsets (``bad_doc_offsets`` when they
    decrease). A base without source ids, an unknown name or an empty set of names
    is a ``ValueError`` (12.5: the caller's error, not a file error); a manifest
    with source ids in some shards only is a :class:`tokpack.ManifestError`
    (``missing_sources``, 15).

    Positions, offsets and documents are those of the filtered stream:
    ``num_tokens`` is its length, ``document(i)`` its ``i``-th selected document,
    ``ordered_doc_offsets()`` its offsets. ``selected_documents`` gives their
    indexes in ``base``, ``stream_positions(a, b)`` the base positions of filtered
    positions ``a .. b``.
    """

    is_manifest = False
    #: Views over a filter read it through its methods, never through ``tokens``.
    is_filtered = True

    def __init__(self, base, sources) -> None:
        names = base.sources
        if names is None:
            raise ValueError(
                "the dataset has no source ids (no DOC_SOURCES section, spec 5.5): a "
                "source filter needs them")
        wanted = source_ids_of(tuple(names), sources)
        ids = base.checked_doc_sources()
        offsets = base.ordered_doc_offsets()
        table = np.zeros(len(names), dtype=bool)
        table[wanted] = True
        picked = []
        n_docs = len(ids)
        for lo in range(0, n_docs, CHUNK):
            chunk = np.asarray(ids[lo : lo + CHUNK]).astype(np.int64)
            picked.append(np.flatnonzero(table[chunk]) + lo)
        docs = np.concatenate(picked).astype(np.int64) if picked else np.zeros(0, np.int64)
        starts = np.asarray(offsets[docs], dtype=np.int64) if len(docs) else np.zeros(0, np.int64)
        ends = np.asarray(offsets[docs + 1], dtype=np.int64) if len(docs) else np.zeros(0, np.int64)
        lengths = ends - starts
        self._base = base
        self._names = tuple(names[k] for k in sorted(wanted))
        self._docs = docs
        # The filtered stream's DOC_OFFSETS: 0 and the running sums of the lengths.
        self._offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        # Non-empty documents only, to map a filtered position to a base one: the
        # piece holding q is the last with piece_at <= q.
        keep = lengths > 0
        self._piece_at = self._offsets[:-1][keep]
        self._piece_shift = starts[keep] - self._piece_at  # base = filtered + shift
        self._piece_end = self._offsets[1:][keep]
        self._num_tokens = int(self._offsets[-1])

    # -- what the filter is -----------------------------------------------------------

    @property
    def base(self):
        """The dataset or manifest the filter reads."""
        return self._base

    @property
    def sources(self) -> Tuple[str, ...]:
        """The selected source names, in the base's order of names."""
        return self._names

    @property
    def selected_documents(self) -> np.ndarray:
        """Indexes in the base of the selected documents, in document order (int64)."""
        return self._docs

    @property
    def num_tokens(self) -> int:
        return self._num_tokens

    @property
    def num_documents(self) -> int:
        return len(self._docs)

    def __len__(self) -> int:
        return self.num_documents

    def ordered_doc_offsets(self) -> np.ndarray:
        """The filtered stream's document offsets (int64, ``num_documents + 1``)."""
        return self._offsets

    doc_offsets = property(ordered_doc_offsets)

    # What rows read of the dataset itself: the base's.
    dataset_id = property(lambda self: self._base.dataset_id)
    vocab_size = property(lambda self: self._base.vocab_size)
    dtype = property(lambda self: self._base.dtype)
    metadata = property(lambda self: self._base.metadata)
    has_loss_mask = property(lambda self: self._base.has_loss_mask)
    tokenizer = property(lambda self: self._base.tokenizer)
    bos_id = property(lambda self: self._base.bos_id)
    eos_id = property(lambda self: self._base.eos_id)
    pad_id = property(lambda self: self._base.pad_id)
    writer = property(lambda self: self._base.writer)

    # -- documents ----------------------------------------------------------------------

    def _document_index(self, i: int) -> int:
        n = len(self._docs)
        index = operator.index(i)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {i} out of range for {n} selected documents")
        return int(self._docs[index])

    def document(self, i: int) -> np.ndarray:
        """The ``i``-th selected document (the base's document, zero copy)."""
        return self._base.document(self._document_index(i))

    def loss_mask(self, i: int) -> np.ndarray:
        return self._base.loss_mask(self._document_index(i))

    def source(self, i: int) -> str:
        return self._base.source(self._document_index(i))

    def __getitem__(self, i: int) -> np.ndarray:
        return self.document(i)

    # -- what views read ------------------------------------------------------------------

    def _range(self, start: int, stop: int) -> Tuple[int, int]:
        start, stop = operator.index(start), operator.index(stop)
        stop = max(min(stop, self._num_tokens), 0)
        start = min(max(start, 0), stop)
        return start, stop

    def _one_piece(self, start: int, stop: int) -> Optional[int]:
        """The base position of ``start`` when ``[start, stop)`` (non-empty) lies in
        one selected document, else None."""
        k = int(np.searchsorted(self._piece_at, start, side="right")) - 1
        if stop <= int(self._piece_end[k]):
            return start + int(self._piece_shift[k])
        return None

    def stream_positions(self, start: int, stop: int) -> np.ndarray:
        """Base stream positions (int64) of filtered positions ``start .. stop``."""
        start, stop = self._range(start, stop)
        if start == stop:
            return np.zeros(0, dtype=np.int64)
        k0 = int(np.searchsorted(self._piece_at, start, side="right")) - 1
        k1 = int(np.searchsorted(self._piece_at, stop, side="left"))
        at = self._piece_at[k0:k1].copy()
        at[0] = start
        ends = np.minimum(self._piece_end[k0:k1], stop)
        return np.repeat(self._piece_shift[k0:k1], ends - at) + np.arange(start, stop)

    def _positions(self, positions) -> np.ndarray:
        positions = np.asarray(positions)
        if positions.dtype.kind not in "iu":
            raise TypeError("positions must be integers")
        flat = positions.reshape(-1).astype(np.int64)
        if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= self._num_tokens):
            raise IndexError(f"token positions outside 0..{self._num_tokens}")
        k = np.searchsorted(self._piece_at, flat, side="right") - 1
        return flat + self._piece_shift[k]

    def tokens_range(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``start .. stop`` of the filtered stream: a view of the base's
        tokens when they lie in one selected document, else a copy."""
        start, stop = self._range(start, stop)
        if start < stop:
            at = self._one_piece(start, stop)
            if at is not None:
                return self._base.tokens_range(at, at + stop - start)
        return self._base.tokens_at(self.stream_positions(start, stop))

    def tokens_at(self, positions) -> np.ndarray:
        positions = np.asarray(positions)
        return self._base.tokens_at(self._positions(positions)).reshape(positions.shape)

    @property
    def tokens(self) -> np.ndarray:
        """The whole filtered stream (a copy: it is not stored anywhere)."""
        return self.tokens_range(0, self._num_tokens)

    def loss_mask_range(self, start: int, stop: int) -> np.ndarray:
        """The loss-mask bits of filtered tokens ``start .. stop`` (bool): each token
        carries its own bit (12.5)."""
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self._num_tokens:
            raise IndexError(
                f"token range {start}..{stop} is not inside 0..{self._num_tokens}")
        if start < stop:
            at = self._one_piece(start, stop)
            if at is not None:
                return self._base.loss_mask_range(at, at + stop - start)
        return self._base.loss_mask_at(self.stream_positions(start, stop))

    def loss_mask_at(self, positions) -> np.ndarray:
        positions = np.asarray(positions)
        return self._base.loss_mask_at(self._positions(positions)).reshape(positions.shape)

    def doc_starts_in(self, start: int, stop: int) -> np.ndarray:
        """The filtered stream's offsets ``p`` with ``start <= p < stop``, sorted, each
        once (int64)."""
        off = self._offsets
        lo = np.searchsorted(off, start, side="left")
        hi = np.searchsorted(off, stop, side="left")
        return np.unique(off[lo:hi])

    def __repr__(self) -> str:
        return (f"<tokpack.SourceFilter sources {', '.join(self._names)}: "
                f"{self.num_documents} documents, {self._num_tokens} tokens of {self._base!r}>")


def plan_source_tokens(plan, dataset) -> Dict[str, int]:
    """The tokens of ``plan``'s segments per source name of ``dataset`` (a dataset
    file or manifest with source ids), in the order of ``dataset.sources``: each
    segment counted for the source of the document holding its first token, as
    often as the plan holds it (a mixture plan repeats documents, 12.6). The plan is
    bound to the dataset first (``wrong_dataset``). Segments are read as they are
    stored; :meth:`tokpack.Plan.verify_against` is what checks each lies in one
    document. The realised share of source ``s`` is ``tokens[s] / plan.tokens``."""
    names = dataset.sources
    if names is None:
        raise ValueError("the dataset has no source ids (no DOC_SOURCES section)")
    plan.check_dataset(dataset)
    if plan.strategy == "contiguous":
        raise ValueError("a contiguous plan has no segments: its rows are the stream "
                         "itself (12.1)")
    ids = dataset.checked_doc_sources()
    offsets = np.asarray(dataset.ordered_doc_offsets(), dtype=np.uint64)
    totals = np.zeros(len(names), dtype=np.uint64)
    segments = plan.segments
    for lo in range(0, len(segments), CHUNK):
        starts = np.asarray(segments[lo : lo + CHUNK, 0], dtype=np.uint64)
        lengths = np.asarray(segments[lo : lo + CHUNK, 1], dtype=np.uint64)
        # The document holding `start`: the last d with offsets[d] <= start (empty
        # documents share their offset with the next one).
        doc = np.searchsorted(offsets, starts, side="right") - 1
        doc = np.clip(doc, 0, max(len(ids) - 1, 0))
        if len(ids) == 0:
            if len(starts):
                raise ValueError("the plan has segments but the dataset no documents")
            break
        np.add.at(totals, np.asarray(ids[doc]).astype(np.int64), lengths)
    return {name: int(totals[k]) for k, name in enumerate(names)}
