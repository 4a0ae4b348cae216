"""Manifests (spec 15): several dataset files, the shards, read as one logical dataset.

``tokpack.open("NAME.manifest.json")`` gives a :class:`Manifest`: the token stream is
the shards' streams one after the other, its documents the shards' documents in order,
with global token and document indexes. Opening reads only the manifest; a shard is
mapped and opened (spec 6.1) the first time something of it is read, and checked then
against its manifest entry (``dataset_id``, documents, tokens, ``vocab_size``,
``has_loss_mask``): a shard that does not match raises :class:`ManifestError`
("index and shard disagree", naming the shard). :meth:`Manifest.verify` verifies every
shard and names each one that fails.

A manifest has the methods views use (``tokens_range``, ``tokens_at``,
``doc_starts_in``, ``loss_mask_range``, ``loss_mask_at``) and the binding figures of
plans and overlays (``dataset_id``, ``num_tokens``, ``num_documents``, ``vocab_size``,
``dtype``), so ``tokpack.Rows``, plans and overlays work over it as over one file.
"""

import json
import operator
import os
import re
import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import TokpackError

_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
_NP_DTYPES = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32}


class ManifestError(TokpackError):
    """A manifest that cannot be read, or a shard that does not match it.

    ``code`` is ``"bad_manifest"`` (the JSON of spec 15 is wrong),
    ``"shard_mismatch"`` (index and shard disagree), ``"shard_failed"``
    (:meth:`Manifest.verify`: ``failures`` lists ``(index, path, error)`` of every
    failing shard) or ``"missing_sources"`` (sources asked of a manifest in which
    some shards have source ids and others not, 15). Spec 6.3 has no codes for
    manifests; these are this package's.
    A shard whose own bytes are bad raises the shard's :class:`TokpackError` with the
    shard's path in the message.
    """

    CODES = ("bad_manifest", "shard_mismatch", "shard_failed", "missing_sources")

    def __init__(self, code: str, detail: str, failures=None) -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown manifest error code {code!r}")
        Exception.__init__(self, f"[{code}] {detail}")
        self.code = code
        self.detail = detail
        self.section = None
        self.offset = None
        self.failures = list(failures or [])


def _bad(detail: str) -> ManifestError:
    return ManifestError("bad_manifest", detail)


def _no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise _bad(f"key {k!r} twice in one object")
        obj[k] = v
    return obj


def _count(value, what: str) -> int:
    if type(value) is not int or value < 0 or value >= 2**64:
        raise _bad(f"{what} is {value!r}, not an integer in [0, 2^64)")
    return value


def _dtype_of_vocab(vocab_size: int) -> str:
    """5.1: the narrowest dtype that holds ``vocab_size - 1``."""
    if vocab_size <= 256:
        return "u8"
    if vocab_size <= 65536:
        return "u16"
    return "u32"


class _Stream:
    """``manifest.tokens``: slicing gives the tokens of a global range (a view when it
    lies in one shard, else a copy); indexing with an integer array gathers."""

    def __init__(self, manifest: "Manifest") -> None:
        self._m = manifest

    def __len__(self) -> int:
        return self._m.num_tokens

    def __getitem__(self, key):
        m = self._m
        if isinstance(key, slice):
            start, stop, step = key.indices(m.num_tokens)
            if step != 1:
                return m.tokens_range(start, max(start, stop))[::step]
            return m.tokens_range(start, max(start, stop))
        if isinstance(key, (int, np.integer)):
            i = operator.index(key)
            if i < 0:
                i += m.num_tokens
            if not 0 <= i < m.num_tokens:
                raise IndexError(f"token {key} out of range for {m.num_tokens} tokens")
            return m.tokens_at(np.array([i], dtype=np.int64))[0]
        return m.tokens_at(np.asarray(key))


class Manifest:
    """One logical dataset over several shard files (spec 15). Build with
    :func:`tokpack.open` on a ``.json`` path, or :func:`open_manifest`."""

    is_manifest = True

    def __init__(self, path, cache_blocks: Optional[int] = None) -> None:
        path = os.fspath(path)
        self._cache_blocks = cache_blocks
        with open(path, "rb") as f:
            raw = f.read()
        try:
            doc = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except ManifestError:
            raise
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad(f"{path}: not UTF-8 JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _bad(f"{path}: the manifest is not a JSON object")
        if doc.get("format") != "tokpack-manifest":
            raise _bad(f"{path}: format is {doc.get('format')!r}, not 'tokpack-manifest'")
        if type(doc.get("version")) is not int or doc["version"] != 1:
            raise _bad(f"{path}: version is {doc.get('version')!r}, not 1")
        dataset_id = doc.get("dataset_id")
        if not isinstance(dataset_id, str) or not _HEX32.match(dataset_id):
            raise _bad(f"{path}: dataset_id {dataset_id!r} is not 32 lowercase hex digits")
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            raise _bad(f"{path}: metadata is not a JSON object")
        vocab = meta.get("vocab_size")
        if type(vocab) is not int or not 1 <= vocab <= 2**32:
            raise _bad(f"{path}: metadata vocab_size is {vocab!r}")
        for key in ("bos_id", "eos_id", "pad_id"):
            v = meta.get(key)
            if v is not None and (type(v) is not int or v < 0):
                raise _bad(f"{path}: metadata {key} is {v!r}")
        shards = doc.get("shards")
        if not isinstance(shards, list):
            raise _bad(f"{path}: shards is not a list")
        entries = []
        for k, s in enumerate(shards):
            if not isinstance(s, dict):
                raise _bad(f"{path}: shard {k} is not an object")
            spath = s.get("path")
            if not isinstance(spath, str) or not spath:
                raise _bad(f"{path}: shard {k} has no path")
            sid = s.get("dataset_id")
            if not isinstance(sid, str) or not _HEX32.match(sid):
                raise _bad(f"{path}: shard {k} ({spath}) dataset_id {sid!r} is not 32 lowercase hex digits")
            docs = _count(s.get("documents"), f"shard {k} ({spath}) documents")
            toks = _count(s.get("tokens"), f"shard {k} ({spath}) tokens")
            mask = s.get("has_loss_mask")
            if not isinstance(mask, bool):
                raise _bad(f"{path}: shard {k} ({spath}) has_loss_mask is {mask!r}")
            entries.append({"path": spath, "dataset_id": sid, "documents": docs,
                            "tokens": toks, "has_loss_mask": mask})
        self._path = path
        self._dir = os.path.dirname(os.path.abspath(path))
        self._doc = doc
        self._dataset_id = bytes.fromhex(dataset_id)
        self._metadata = meta
        self._entries = entries
        tok = [e["tokens"] for e in entries]
        docs = [e["documents"] for e in entries]
        self._base = np.concatenate(([0], np.cumsum(tok, dtype=np.int64))).astype(np.int64)
        self._doc_base = np.concatenate(([0], np.cumsum(docs, dtype=np.int64))).astype(np.int64)
        self._num_tokens = int(sum(tok))
        self._num_documents = int(sum(docs))
        self._dtype = _dtype_of_vocab(vocab)
        self._shards: List[Optional[Any]] = [None] * len(entries)
        self._lock = threading.Lock()
        self._global_offsets = None
        self._source_map = None  # (names, [per shard: local id -> global id])
        self._global_sources = None

    # -- what the manifest says -----------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def shard_entries(self) -> List[Dict[str, Any]]:
        """The manifest's shard entries (path as written, relative to the manifest)."""
        return [dict(e) for e in self._entries]

    @property
    def num_shards(self) -> int:
        return len(self._entries)

    @property
    def token_bases(self) -> np.ndarray:
        """``base``: prefix sums of the shards' tokens (``num_shards + 1`` values)."""
        return self._base.copy()

    @property
    def document_bases(self) -> np.ndarray:
        return self._doc_base.copy()

    @property
    def dataset_id(self) -> bytes:
        return self._dataset_id

    @property
    def num_tokens(self) -> int:
        return self._num_tokens

    @property
    def num_documents(self) -> int:
        return self._num_documents

    def __len__(self) -> int:
        return self._num_documents

    @property
    def metadata(self) -> Dict[str, Any]:
        return self._metadata

    @property
    def vocab_size(self) -> int:
        return self._metadata["vocab_size"]

    @property
    def dtype(self) -> str:
        """The TOKENS dtype of the shards (5.1's narrowest for ``vocab_size``)."""
        return self._dtype

    @property
    def has_loss_mask(self) -> bool:
        return any(e["has_loss_mask"] for e in self._entries)

    tokenizer = property(lambda self: self._metadata.get("tokenizer"))
    bos_id = property(lambda self: self._metadata.get("bos_id"))
    eos_id = property(lambda self: self._metadata.get("eos_id"))
    pad_id = property(lambda self: self._metadata.get("pad_id"))
    writer = property(lambda self: self._metadata.get("writer"))

    @property
    def tokens(self) -> _Stream:
        """The global token stream: ``m.tokens[a:b]``, ``m.tokens[positions]``."""
        return _Stream(self)

    # -- shards ----------------------------------------------------------------------

    def shard_path(self, k: int) -> str:
        return os.path.join(self._dir, self._entries[k]["path"])

    @property
    def opened_shards(self) -> List[int]:
        """Indexes of the shards mapped so far."""
        return [k for k, s in enumerate(self._shards) if s is not None]

    def shard(self, k: int):
        """Shard ``k`` as a :class:`tokpack.Dataset`, opened (and checked against its
        entry) on first use."""
        got = self._shards[k]
        if got is not None:
            return got
        with self._lock:
            if self._shards[k] is None:
                self._shards[k] = self._open_shard(k)
            return self._shards[k]

    def _open_shard(self, k: int):
        from .dataset import open as open_dataset

        e = self._entries[k]
        path = self.shard_path(k)
        try:
            ds = open_dataset(path, cache_blocks=self._cache_blocks)
        except TokpackError as exc:
            raise type(exc)(exc.code, f"shard {k} ({e['path']}): {exc.detail}",
                            section=exc.section, offset=exc.offset) from None
        except OSError as exc:
            raise OSError(exc.errno, f"shard {k} ({e['path']}): {exc.strerror}", path) from None
        wrong = []
        if ds.dataset_id.hex() != e["dataset_id"]:
            wrong.append(f"dataset_id {ds.dataset_id.hex()} (manifest {e['dataset_id']})")
        if ds.num_documents != e["documents"]:
            wrong.append(f"{ds.num_documents} documents (manifest {e['documents']})")
        if ds.num_tokens != e["tokens"]:
            wrong.append(f"{ds.num_tokens} tokens (manifest {e['tokens']})")
        if ds.vocab_size != self.vocab_size:
            wrong.append(f"vocab_size {ds.vocab_size} (manifest {self.vocab_size})")
        if ds.has_loss_mask != e["has_loss_mask"]:
            wrong.append(f"has_loss_mask {ds.has_loss_mask} (manifest {e['has_loss_mask']})")
        if wrong:
            raise ManifestError(
                "shard_mismatch",
                f"index and shard disagree: shard {k} ({e['path']}) has " + ", ".join(wrong),
            )
        ds.ordered_doc_offsets()  # views look document starts up in them
        return ds

    def _shard_of_token(self, t: int) -> int:
        """The shard ``k`` with ``base[k] <= t < base[k + 1]``."""
        return int(np.searchsorted(self._base, t, side="right")) - 1

    # -- documents -------------------------------------------------------------------

    def _document_index(self, i: int) -> Tuple[int, int]:
        n = self._num_documents
        index = operator.index(i)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {i} out of range for {n} documents")
        k = int(np.searchsorted(self._doc_base, index, side="right")) - 1
        return k, index - int(self._doc_base[k])

    def document(self, i: int) -> np.ndarray:
        """Global document ``i``: a zero-copy slice of its shard's tokens."""
        k, local = self._document_index(i)
        return self.shard(k).document(local)

    def loss_mask(self, i: int) -> np.ndarray:
        k, local = self._document_index(i)
        return self.shard(k).loss_mask(local)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.document(i)

    def document_shard(self, i: int) -> Tuple[int, int]:
        """``(shard, document in the shard)`` of global document ``i``."""
        return self._document_index(i)

    # -- what views read -----------------------------------------------------------

    def _pieces(self, start: int, stop: int):
        """``(k, local_start, local_stop)`` of the shards the range ``[start, stop)`` covers."""
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self._num_tokens:
            raise IndexError(f"token range {start}..{stop} is not inside 0..{self._num_tokens}")
        out = []
        t = start
        while t < stop:
            k = self._shard_of_token(t)
            hi = min(stop, int(self._base[k + 1]))
            out.append((k, t - int(self._base[k]), hi - int(self._base[k])))
            t = hi
        return out

    def tokens_range(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``start .. stop`` of the global stream: a view of one shard's tokens
        when the range lies in one shard of raw tokens, else a fresh array (a
        contiguous row that crosses shards; a compressed shard, 5.6)."""
        stop = max(min(stop, self._num_tokens), 0)
        start = min(start, stop)
        pieces = self._pieces(start, stop)
        if len(pieces) == 1:
            k, a, b = pieces[0]
            return self.shard(k).tokens_range(a, b)
        if not pieces:
            return np.zeros(0, dtype=_NP_DTYPES[self._dtype])
        return np.concatenate([self.shard(k).tokens_range(a, b) for k, a, b in pieces]).astype(
            _NP_DTYPES[self._dtype], copy=False)

    def _gather(self, positions, read):
        positions = np.asarray(positions)
        if positions.dtype.kind not in "iu":
            raise TypeError("positions must be integers")
        flat = positions.reshape(-1).astype(np.int64)
        if flat.size and (int(flat.min()) < 0 or int(flat.max()) >= self._num_tokens):
            raise IndexError(f"token positions outside 0..{self._num_tokens}")
        which = np.searchsorted(self._base, flat, side="right") - 1
        out = None
        for k in np.unique(which):
            k = int(k)
            sel = which == k
            got = read(self.shard(k), flat[sel] - self._base[k])
            if out is None:
                out = np.empty(flat.shape, dtype=got.dtype)
            out[sel] = got
        if out is None:
            out = read(None, None)
        return out.reshape(positions.shape)

    def tokens_at(self, positions) -> np.ndarray:
        """The tokens at global ``positions`` (an integer array), gathered."""
        dt = _NP_DTYPES[self._dtype]
        return self._gather(
            positions,
            lambda ds, p: np.zeros(0, dtype=dt) if ds is None else ds.tokens_at(p).astype(dt, copy=False),
        )

    def loss_mask_range(self, start: int, stop: int) -> np.ndarray:
        """The loss mask of global tokens ``start .. stop`` as a bool array."""
        pieces = self._pieces(start, stop)
        if not pieces:
            return np.ones(0, dtype=bool)
        parts = [self.shard(k).loss_mask_range(a, b) for k, a, b in pieces]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def loss_mask_at(self, positions) -> np.ndarray:
        return self._gather(
            positions,
            lambda ds, p: np.ones(0, dtype=bool) if ds is None else ds.loss_mask_at(p),
        )

    def doc_starts_in(self, start: int, stop: int) -> np.ndarray:
        """Global DOC_OFFSETS values ``p`` with ``start <= p < stop``, sorted, each once.
        Shard boundaries are document starts (a shard's offsets begin at 0 and end at
        its token count); a shard's inner offsets are read only when its tokens
        intersect the range."""
        base = self._base
        found = [base[(base >= start) & (base < stop)]]
        lo = max(int(np.searchsorted(base, start, side="right")) - 1, 0)
        for k in range(lo, len(self._entries)):
            b0, b1 = int(base[k]), int(base[k + 1])
            if b0 >= stop:
                break
            if b1 <= start or b0 == b1:
                continue
            found.append(self.shard(k).doc_starts_in(max(start - b0, 0), stop - b0) + b0)
        return np.unique(np.concatenate(found).astype(np.int64))

    def ordered_doc_offsets(self) -> np.ndarray:
        """The global DOC_OFFSETS (``num_documents + 1`` values, u64): each shard's
        offsets shifted by its base, concatenated, the shared boundaries once. Opens
        every shard."""
        if self._global_offsets is None:
            parts = [np.zeros(1, dtype=np.uint64)]
            for k in range(len(self._entries)):
                off = self.shard(k).ordered_doc_offsets()
                parts.append(np.asarray(off[1:], dtype=np.uint64) + np.uint64(self._base[k]))
            self._global_offsets = np.concatenate(parts)
        return self._global_offsets

    doc_offsets = property(ordered_doc_offsets)

    # -- sources (15: matched by name across shards) ------------------------------------

    def _sources_by_name(self):
        """``(names, maps)``: the manifest's source names, the shards' names in order
        of first appearance, and for each shard an int64 array mapping its ids to
        these. None when no shard has source ids. Opens every shard (each opening is
        cheap, 6.1). A shard without source ids while others have them:
        ``ManifestError("missing_sources")``, naming it."""
        if self._source_map is None:
            names: Dict[str, int] = {}
            maps, without, with_ = [], [], []
            for k in range(len(self._entries)):
                local = self.shard(k).sources
                if local is None:
                    without.append(k)
                    maps.append(None)
                    continue
                with_.append(k)
                maps.append(np.array([names.setdefault(n, len(names)) for n in local],
                                     dtype=np.int64))
            if with_ and without:
                k = without[0]
                raise ManifestError(
                    "missing_sources",
                    f"shard {k} ({self._entries[k]['path']}) has no source ids, but shard "
                    f"{with_[0]} ({self._entries[with_[0]]['path']}) has: sources across a "
                    f"manifest need source ids in every shard (15)"
                    + (f"; shards without: {without}" if len(without) > 1 else ""),
                )
            self._source_map = (tuple(names), maps) if with_ else (None, None)
        return self._source_map

    @property
    def sources(self) -> Optional[Tuple[str, ...]]:
        """The manifest's source names (15): shard 0's in its order, then the names new
        in shard 1, and so on; None when no shard has source ids. Opens every shard;
        ``ManifestError("missing_sources")`` when some shards have source ids and
        others not."""
        return self._sources_by_name()[0]

    @property
    def has_sources(self) -> bool:
        return self.sources is not None

    def _require_sources(self):
        names, maps = self._sources_by_name()
        if names is None:
            raise ValueError("no shard of the manifest has source ids (DOC_SOURCES)")
        return names, maps

    def source_id(self, i: int) -> int:
        """Global document ``i``'s source id in the manifest's numbering (its shard's
        id, checked as 6.2 asks: ``bad_source``, mapped by name)."""
        names, maps = self._require_sources()
        k, local = self._document_index(i)
        return int(maps[k][self.shard(k).source_id(local)])

    def source(self, i: int) -> str:
        return self._require_sources()[0][self.source_id(i)]

    def checked_doc_sources(self) -> np.ndarray:
        """Every global document's source id in the manifest's numbering (int64, one
        per document), each shard's ids checked first (``bad_source``)."""
        names, maps = self._require_sources()
        if self._global_sources is None:
            parts = [np.zeros(0, dtype=np.int64)]
            for k in range(len(self._entries)):
                local = self.shard(k).checked_doc_sources()
                parts.append(maps[k][np.asarray(local).astype(np.int64)])
            self._global_sources = np.concatenate(parts)
        return self._global_sources

    def document_sources(self) -> Optional[List[str]]:
        names = self.sources
        if names is None:
            return None
        return [names[k] for k in self.checked_doc_sources().tolist()]

    def source_counts(self) -> Dict[str, Dict[str, int]]:
        """``{name: {"documents", "tokens"}}`` over all shards, by name (15), in the
        order of :attr:`sources`."""
        from .sources import count_by_source

        names, _ = self._require_sources()
        return count_by_source(names, self.checked_doc_sources(),
                               self.ordered_doc_offsets(), self._num_tokens)

    def source_filter(self, sources):
        """The contiguous stream of 12.5 over the manifest, restricted to ``sources``
        (names in the manifest's numbering): a :class:`tokpack.SourceFilter`."""
        from .sources import SourceFilter

        return SourceFilter(self, sources)

    # -- verify ----------------------------------------------------------------------

    def verify(self) -> None:
        """Open (and check against its entry) and verify (6.2) every shard; raise
        :class:`ManifestError` ``shard_failed`` naming every shard that fails (its
        ``failures``: ``(index, path, error)``). Shards that pass stay readable."""
        failures = []
        for k, e in enumerate(self._entries):
            try:
                self.shard(k).verify()
            except (TokpackError, OSError) as exc:
                failures.append((k, e["path"], exc))
        if failures:
            names = "; ".join(f"shard {k} ({p}): {exc}" for k, p, exc in failures)
            raise ManifestError("shard_failed", f"{len(failures)} of {len(self._entries)} "
                                f"shards fail: {names}", failures)

    # -- pickling: paths only ------------------------------------------------------

    def __getstate__(self):
        return {"path": self._path, "cache_blocks": self._cache_blocks}

    def __setstate__(self, state):
        self.__init__(state["path"], cache_blocks=state.get("cache_blocks"))

    def __repr__(self) -> str:
        return (f"<tokpack.Manifest {self.num_shards} shards, {self._num_documents} "
                f"documents, {self._num_tokens} {self._dtype} tokens, vocab_size "
                f"{self.vocab_size}, {len(self.opened_shards)} opened>")


def open_manifest(path) -> Manifest:
    """Read the manifest at ``path`` (no shard is opened)."""
    return Manifest(path)
