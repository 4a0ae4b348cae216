"""Overlay files: opening (spec 13.2) and verifying (spec 13.3), the binding to a
dataset and a view, the export of 13.5, the public ``Overlay``."""

import operator
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .errors import TokpackError
from .format import metadata, overlay_metadata, overlay_sections
from .format.header import read_header
from .format.overlay_metadata import OverlayInfo
from .format.section_table import (
    DTYPES,
    KIND_DOC_OFFSETS,
    KIND_DOC_SOURCES,
    KIND_LOSS_MASK,
    KIND_METADATA,
    KIND_PLAN_ROWS,
    KIND_PLAN_SEGMENTS,
    KIND_TOKENS,
    OVERLAY_KINDS,
    check_checksums,
    check_derived_kinds,
    check_layout,
    check_length,
    check_padding,
    read_table,
)
from .mapping import map_file

#: Kinds that MUST NOT appear in an overlay file (13: ``bad_overlay``): 1, 2, 3, 6, 7
#: and 11 (DOC_SOURCES, whatever its flags; 13's list, which 13.2 step 1 repeats
#: without 11, is taken as the rule).
FORBIDDEN_KINDS = (KIND_TOKENS, KIND_DOC_OFFSETS, KIND_LOSS_MASK, KIND_PLAN_ROWS,
                   KIND_PLAN_SEGMENTS, KIND_DOC_SOURCES)


class Insertion(NamedTuple):
    """One insertion: its global position, its tokens (a view of INS_TOKENS) and
    whether they are loss targets (bit 0 of its flags)."""

    position: int
    tokens: np.ndarray
    target: bool


class Overlay:
    """An overlay file, opened and checked per spec 13.2.

    Build one with :func:`tokpack.open_overlay` (memory-mapped file) or
    :meth:`Overlay.from_buffer`. :attr:`positions`, :attr:`payload_offsets`,
    :attr:`tokens` and :attr:`flags` are typed views over the file; nothing is
    copied at open. Rows with the overlay applied come from
    ``tokpack.Rows(dataset, ..., overlays=[overlay])`` (13.4).
    """

    def __init__(self, raw: np.ndarray) -> None:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise TypeError("Overlay needs a one-dimensional uint8 array")
        self._raw = raw
        header = read_header(raw, len(raw))  # 6.1 steps 1 and 2
        entries = read_table(raw, header)  # 6.1 step 3
        check_layout(entries, header)  # 6.1 steps 4 and 5
        # Step 1: kinds, codecs, dtypes, duplicates.
        found = check_derived_kinds(
            entries, OVERLAY_KINDS, FORBIDDEN_KINDS, "bad_overlay", "an overlay file"
        )
        # Step 2: METADATA present, its length, the JSON and the keys of 13.1.
        meta_entry = found.get(KIND_METADATA)
        if meta_entry is None:
            raise TokpackError(
                "missing_section", "the overlay file has no metadata section", section="metadata"
            )
        check_length(meta_entry)
        meta = metadata.parse(
            raw[meta_entry.offset : meta_entry.end], meta_entry, overlay_metadata.check_keys
        )
        info = OverlayInfo.from_metadata(meta)
        # Step 3: the four INS sections present, their lengths.
        overlay_sections.check_present_and_lengths(found, entries)
        # Step 4: the counts, then the INS_TOKENS dtype against vocab_size.
        overlay_sections.check_counts(found, info.insertions, info.tokens)
        arrays = overlay_sections.views(raw, found)
        overlay_sections.check_vocab_dtype(arrays.tok_entry, info.vocab_size)
        # Step 5: the ends of INS_OFFSETS.
        overlay_sections.check_ends(arrays)

        self._header = header
        self._entries = entries
        self._meta_entry = meta_entry
        self._metadata = meta
        self._info = info
        self._a = arrays

    @classmethod
    def from_buffer(cls, data) -> "Overlay":
        """Open an overlay file held in memory (``bytes``, ``bytearray``, ...)."""
        return cls(np.frombuffer(data, dtype=np.uint8))

    # -- what the file holds ------------------------------------------------------

    @property
    def metadata(self) -> Dict[str, Any]:
        """The whole metadata object as stored (``file``, ``overlay``, ``writer``, ...)."""
        return self._metadata

    @property
    def info(self) -> Dict[str, Any]:
        """The ``"overlay"`` object of the metadata as stored (13.1), unknown keys too."""
        return self._metadata["overlay"]

    @property
    def positions(self) -> np.ndarray:
        """INS_POSITIONS, ``u64[n]``, a view over the file (in order once verified)."""
        return self._a.pos

    @property
    def payload_offsets(self) -> np.ndarray:
        """INS_OFFSETS, ``u64[n + 1]``, a view over the file: insertion ``k`` is
        ``tokens[off[k]:off[k + 1]]``. Only its two ends are checked at open."""
        return self._a.off

    @property
    def tokens(self) -> np.ndarray:
        """INS_TOKENS, the payloads concatenated, typed as stored (u8, u16 or u32)."""
        return self._a.tokens

    @property
    def flags(self) -> np.ndarray:
        """INS_FLAGS, ``u8[n]``: bit 0 = the insertion's tokens are loss targets."""
        return self._a.flags

    @property
    def num_insertions(self) -> int:
        return self._a.n

    def __len__(self) -> int:
        return self._a.n

    @property
    def num_tokens(self) -> int:
        """Inserted tokens in all (``tokens`` of 13.1)."""
        return self._a.n_tokens

    @property
    def dtype(self) -> str:
        """The INS_TOKENS element type: ``"u8"``, ``"u16"`` or ``"u32"``."""
        return DTYPES[self._a.tok_entry.dtype][0]

    @property
    def seq_len(self) -> int:
        return self._info.seq_len

    @property
    def num_rows(self) -> int:
        """``rows`` of 13.1: the number of rows of the view."""
        return self._info.rows

    @property
    def plan_id(self) -> Optional[bytes]:
        """The plan file's ``dataset_id`` header field of the view, or None for the
        contiguous view without a plan file."""
        return self._info.plan_id

    @property
    def vocab_size(self) -> int:
        return self._info.vocab_size

    @property
    def dataset_id(self) -> bytes:
        return self._info.dataset_id

    @property
    def dataset_tokens(self) -> int:
        return self._info.dataset_tokens

    @property
    def dataset_documents(self) -> int:
        return self._info.dataset_documents

    @property
    def writer(self) -> Optional[str]:
        return self._metadata.get("writer")

    @property
    def file_id(self) -> bytes:
        """The overlay file's own ``dataset_id`` header field (spec 3)."""
        return self._header.dataset_id

    @property
    def version(self) -> Tuple[int, int]:
        return (self._header.major, self._header.minor)

    @property
    def sections(self) -> List[Dict[str, Any]]:
        """The section table in file order, one dict per entry (unknown kinds too)."""
        return [e.describe(OVERLAY_KINDS) for e in self._entries]

    # -- insertions ---------------------------------------------------------------

    def insertion(self, k: int) -> Insertion:
        """Insertion ``k`` after the checks 13.2 asks of an insertion read from an
        unverified overlay (``bad_overlay``): its payload range non-empty and inside
        INS_TOKENS, its span inside one row of the view, its tokens below
        ``vocab_size``. ``IndexError`` when ``k`` is out of range (negative ``k``
        counts from the end)."""
        n = self._a.n
        index = operator.index(k)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"insertion {k} out of range for {n} insertions")
        p, tokens, flags = overlay_sections.insertion(
            self._a, index, self.seq_len, self.num_rows, self.vocab_size
        )
        return Insertion(p, tokens, bool(flags & 1))

    def range_of(self, start: int, stop: int) -> Tuple[int, int]:
        """``(k0, k1)``: the insertions whose positions are in ``start .. stop`` (end
        exclusive) are ``k0 .. k1``, found by binary search (``np.searchsorted``) in
        INS_POSITIONS, which is in order once verified."""
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop:
            raise ValueError(f"not a range of positions: {start}..{stop}")
        bounds = np.array([min(start, 2**64 - 1), min(stop, 2**64 - 1)], dtype=np.uint64)
        k0, k1 = np.searchsorted(self._a.pos, bounds, side="left")
        return int(k0), int(k1)

    def row_insertions(self, row: int):
        """The insertions of ``row`` of the view, checked as 13.2 asks of a row read
        through an unverified overlay: ``(offsets in the row, lengths, tokens,
        targets)`` (see ``format.overlay_sections.row_insertions``), or None when the
        row has none (one binary search)."""
        L = self.seq_len
        k0, k1 = self.range_of(row * L, row * L + L)
        if k0 == k1:
            return None
        return overlay_sections.row_insertions(self._a, k0, k1, row, L, self.vocab_size)

    def lengths(self) -> np.ndarray:
        """Every insertion's length, ``int64[n]`` (payload ranges checked:
        ``bad_overlay``)."""
        off = self._a.off
        starts, stops = off[:-1], off[1:]
        ok = (starts < stops) & (stops <= np.uint64(self.num_tokens))
        if not ok.all():
            raise overlay_sections._payload_error(self._a, int(np.flatnonzero(~ok)[0]))
        return (stops - starts).astype(np.int64)

    def export_rows(self) -> Dict[str, List[list]]:
        """The rows dict of 13.5: ``{"ROW": [[OFFSET, [tokens]], ...], ...}``, decimal
        row numbers as keys in row order, each row's insertions in offset order. Every
        insertion is checked as :meth:`insertion` does (``bad_overlay``)."""
        a, L = self._a, self.seq_len
        k = overlay_sections.first_bad_insertion(a, L, self.num_rows, self.vocab_size)
        if k is not None:
            self.insertion(k)  # raises the insertion's first problem
            raise AssertionError(f"insertion {k} was reported bad but passes every check")
        positions = a.pos.tolist()
        offsets = a.off.tolist()
        tokens = a.tokens.tolist()
        out: Dict[int, List[list]] = {}
        for k, p in enumerate(positions):
            out.setdefault(p // L, []).append([p % L, tokens[offsets[k] : offsets[k + 1]]])
        for row in out.values():
            row.sort(key=lambda item: item[0])
        return {str(row): out[row] for row in sorted(out)}

    # -- binding and verify -------------------------------------------------------

    def check_dataset(self, dataset) -> None:
        """13.2: the dataset binding: ``dataset_id``, ``dataset_tokens``,
        ``dataset_documents``, ``vocab_size``, and INS_TOKENS with the dataset's
        TOKENS dtype, else ``wrong_dataset`` naming both ids."""
        ours = (self.dataset_id, self.dataset_tokens, self.dataset_documents,
                self.vocab_size, self.dtype)
        theirs = (dataset.dataset_id, dataset.num_tokens, dataset.num_documents,
                  dataset.vocab_size, dataset.dtype)
        if ours != theirs:
            def show(ids, tokens, documents, vocab_size, dtype):
                return (f"dataset {ids.hex()} ({tokens} tokens, {documents} documents, "
                        f"vocab_size {vocab_size}, {dtype} tokens)")

            raise TokpackError(
                "wrong_dataset",
                f"the overlay was made for {show(*ours)}, not for {show(*theirs)}",
                section="metadata",
                offset=self._meta_entry.offset,
            )

    def check_view(self, rows_view) -> None:
        """13.2: the view binding: ``seq_len``, ``plan_id`` (the plan file's header
        ``dataset_id``, or null for the contiguous view without a plan file) and
        ``rows``, else ``wrong_view``. ``rows_view`` is a :class:`tokpack.Rows`."""
        theirs = (rows_view.seq_len, rows_view.plan_id, rows_view.num_rows)
        if (self.seq_len, self.plan_id, self.num_rows) != theirs:
            def show(plan_id):
                return "no plan" if plan_id is None else f"plan {plan_id.hex()}"

            raise TokpackError(
                "wrong_view",
                f"the overlay was made for rows of {self.seq_len} with "
                f"{show(self.plan_id)} ({self.num_rows} rows), not rows of "
                f"{rows_view.seq_len} with {show(rows_view.plan_id)} "
                f"({rows_view.num_rows} rows)",
                section="metadata",
                offset=self._meta_entry.offset,
            )

    def check_binding(self, dataset, rows_view) -> None:
        """13.2: the dataset binding (``wrong_dataset``), then the view binding
        (``wrong_view``)."""
        self.check_dataset(dataset)
        self.check_view(rows_view)

    def verify(self) -> None:
        """The full pass of spec 13.3, in its order: section CRC32s, zero padding, then
        insertion by insertion: its payload range (``bad_overlay``), its span inside one
        row of the view (``bad_overlay``), no intersection with the next
        (``insertion_overlap``), its tokens below ``vocab_size`` (``bad_overlay``), its
        flags <= 1 (``bad_overlay``)."""
        check_checksums(self._raw, self._entries)
        check_padding(self._raw, self._header, self._entries)
        overlay_sections.verify(self._a, self.seq_len, self.num_rows, self.vocab_size)

    def __repr__(self) -> str:
        view = "contiguous" if self.plan_id is None else f"plan {self.plan_id.hex()}"
        return (
            f"<tokpack.Overlay {self.num_insertions} insertions of {self.num_tokens} "
            f"{self.dtype} tokens, L = {self.seq_len}, {self.num_rows} rows, {view}, "
            f"dataset {self.dataset_id.hex()}>"
        )


def open_overlay(path) -> Overlay:
    """Map the overlay file at ``path`` read-only and open it (spec 13.2, cheap).

    Raises ``OSError`` when the file cannot be read and :class:`TokpackError` when it
    is not a valid overlay file.
    """
    return Overlay(map_file(path))
