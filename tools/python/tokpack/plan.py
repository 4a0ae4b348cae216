"""Plan files: opening (spec 11.4) and verifying (spec 11.5), the public ``Plan``."""

import operator
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import TokpackError
from .format import metadata, plan_metadata, plan_sections
from .format.header import read_header
from .format.plan_metadata import PlanInfo
from .format.section_table import (
    KIND_DOC_OFFSETS,
    KIND_DOC_SOURCES,
    KIND_LOSS_MASK,
    KIND_METADATA,
    KIND_PLAN_ROWS,
    KIND_PLAN_SEGMENTS,
    KIND_TOKENS,
    PLAN_KINDS,
    SectionEntry,
    check_checksums,
    check_derived_kinds,
    check_layout,
    check_length,
    check_padding,
    read_table,
)
from .mapping import map_file
from .rows import contiguous_row_count

#: Kinds that MUST NOT appear in a plan file (11, 11.4 step 1: ``bad_plan``): the
#: dataset kinds, DOC_SOURCES (version 1.3) included whatever its flags.
DATASET_KINDS = (KIND_TOKENS, KIND_DOC_OFFSETS, KIND_LOSS_MASK, KIND_DOC_SOURCES)


class Plan:
    """A plan file, opened and checked per spec 11.4.

    Build one with :func:`tokpack.open_plan` (memory-mapped file) or
    :meth:`Plan.from_buffer`. :attr:`rows` and :attr:`segments` are views over the
    file; nothing is copied at open. Rows are read through :class:`tokpack.Rows`.
    """

    def __init__(self, raw: np.ndarray) -> None:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise TypeError("Plan needs a one-dimensional uint8 array")
        self._raw = raw
        header = read_header(raw, len(raw))  # 6.1 steps 1 and 2
        entries = read_table(raw, header)  # 6.1 step 3
        check_layout(entries, header)  # 6.1 steps 4 and 5
        found = _check_kinds(entries)  # 11.4 step 1
        # Step 2: METADATA present, its length equal to its count.
        meta_entry = found.get(KIND_METADATA)
        if meta_entry is None:
            raise TokpackError(
                "missing_section",
                "the plan file has no metadata section",
                section="metadata",
            )
        check_length(meta_entry)
        # Step 3: the metadata (bad_metadata), then padding_tokens (bad_plan).
        meta = metadata.parse(
            raw[meta_entry.offset : meta_entry.end], meta_entry, plan_metadata.check_keys
        )
        info = PlanInfo.from_metadata(meta)
        plan_metadata.check_padding(info, meta_entry)
        rows_entry = found.get(KIND_PLAN_ROWS)
        seg_entry = found.get(KIND_PLAN_SEGMENTS)
        if info.strategy == "contiguous":
            # Step 4: no plan sections, the row count of 12.1, the figures of 11.1.
            for e in entries:
                if e.kind in (KIND_PLAN_ROWS, KIND_PLAN_SEGMENTS):
                    raise TokpackError(
                        "bad_plan",
                        f"table entry {e.index}: a contiguous plan has no {e.name} section",
                        section=e.name,
                        offset=e.entry_offset,
                    )
            # 11.1: "A contiguous plan has no `sources` key" (a restricted contiguous
            # view is never stored, 12.5): the key's presence, whatever its value.
            if "sources" in meta["plan"]:
                raise TokpackError(
                    "bad_plan",
                    "a contiguous plan has a 'sources' key: a contiguous view restricted "
                    "to sources is never stored (11.1, 12.5)",
                    section="metadata",
                    offset=meta_entry.offset,
                )
            expected = contiguous_row_count(info.dataset_tokens, info.seq_len, info.tail)
            if info.rows != expected:
                raise TokpackError(
                    "bad_plan",
                    f"rows is {info.rows}, but {info.dataset_tokens} tokens make "
                    f"{expected} contiguous rows of {info.seq_len} (tail {info.tail!r}, "
                    f"spec 12.1)",
                    section="metadata",
                    offset=meta_entry.offset,
                )
            plan_metadata.check_contiguous_figures(info, meta_entry)
            rows, segments = plan_sections.empty_rows(), plan_sections.empty_segments()
        else:
            # Step 5: both sections, their lengths, their counts, the ends of PLAN_ROWS.
            for kind, e in ((KIND_PLAN_ROWS, rows_entry), (KIND_PLAN_SEGMENTS, seg_entry)):
                if e is None:
                    name = PLAN_KINDS[kind].name
                    raise TokpackError(
                        "missing_section",
                        f"a {info.strategy} plan needs a {name} section",
                        section=name,
                    )
            for e in entries:
                if e.kind in (KIND_PLAN_ROWS, KIND_PLAN_SEGMENTS):
                    check_length(e)
            plan_sections.check_counts(rows_entry, seg_entry, info.rows)
            rows = plan_sections.view(raw, rows_entry)
            segments = plan_sections.view(raw, seg_entry).reshape(-1, 2)
            plan_sections.check_ends(rows, rows_entry, len(segments))

        self._header = header
        self._entries = entries
        self._meta_entry = meta_entry
        self._rows_entry = rows_entry
        self._seg_entry = seg_entry
        self._metadata = meta
        self._info = info
        self._rows = rows
        self._segments = segments

    @classmethod
    def from_buffer(cls, data) -> "Plan":
        """Open a plan file held in memory (``bytes``, ``bytearray``, ...)."""
        return cls(np.frombuffer(data, dtype=np.uint8))

    # -- what the file holds ------------------------------------------------------

    @property
    def metadata(self) -> Dict[str, Any]:
        """The whole metadata object as stored (``file``, ``plan``, ``writer``, ...)."""
        return self._metadata

    @property
    def info(self) -> Dict[str, Any]:
        """The ``"plan"`` object of the metadata as stored (11.1), unknown keys too."""
        return self._metadata["plan"]

    @property
    def strategy(self) -> str:
        """``"contiguous"``, ``"doc_aligned"`` or ``"bfd"``."""
        return self._info.strategy

    @property
    def seq_len(self) -> int:
        return self._info.seq_len

    @property
    def tail(self) -> Optional[str]:
        """``"drop"`` or ``"pad"`` for a contiguous plan, else None."""
        return self._info.tail

    @property
    def long_docs(self) -> Optional[str]:
        """``"truncate"`` or ``"split"`` for doc_aligned and bfd plans, else None."""
        return self._info.long_docs

    @property
    def num_rows(self) -> int:
        return self._info.rows

    def __len__(self) -> int:
        return self.num_rows

    @property
    def num_segments(self) -> int:
        return len(self._segments)

    @property
    def dataset_id(self) -> bytes:
        """The ``dataset_id`` of the dataset this plan cuts (from the metadata)."""
        return self._info.dataset_id

    @property
    def dataset_tokens(self) -> int:
        return self._info.dataset_tokens

    @property
    def dataset_documents(self) -> int:
        return self._info.dataset_documents

    @property
    def tokens(self) -> int:
        return self._info.tokens

    @property
    def padding_tokens(self) -> int:
        return self._info.padding_tokens

    @property
    def truncated_tokens(self) -> int:
        return self._info.truncated_tokens

    @property
    def split_documents(self) -> int:
        return self._info.split_documents

    @property
    def sources(self) -> Optional[Any]:
        """The ``"plan"`` object's ``sources`` key as stored (11.1, version 1.3:
        informative, the plan holds only documents of these sources, 12.5), or None
        when absent. Not checked against anything (11.1), its type included."""
        return self.info.get("sources")

    @property
    def mixture(self) -> Optional[Any]:
        """The ``"plan"`` object's ``mixture`` key as stored (11.1, 12.6: ``seed``,
        ``tokens_requested`` and per source ``weight``, ``quota``, ``tokens``,
        ``available``, ``epochs``, ``pieces``), or None when absent. Informative:
        not checked; a mixture plan reads like any plan (its segments may repeat
        documents, and its ``tokens`` may exceed ``dataset_tokens``)."""
        return self.info.get("mixture")

    def source_tokens(self, dataset) -> Dict[str, int]:
        """The tokens of this plan's segments per source of ``dataset`` (a dataset or
        manifest with source ids), each segment as often as the plan holds it: the
        realised mixture of 12.6 (share of ``s`` = ``tokens[s] / self.tokens``).
        :func:`tokpack.plan_source_tokens`."""
        from .sources import plan_source_tokens

        return plan_source_tokens(self, dataset)

    @property
    def rows(self) -> np.ndarray:
        """PLAN_ROWS, ``u64[num_rows + 1]``, a view over the file (empty for a
        contiguous plan). Only its two ends are checked at open."""
        return self._rows

    @property
    def segments(self) -> np.ndarray:
        """PLAN_SEGMENTS as ``u64[num_segments, 2]`` of ``(start, length)``, a view
        over the file (shape ``(0, 2)`` for a contiguous plan). Checked by
        :meth:`verify`, or row by row when rows are read."""
        return self._segments

    @property
    def file_id(self) -> bytes:
        """The plan file's own ``dataset_id`` header field (spec 3)."""
        return self._header.dataset_id

    @property
    def version(self) -> Tuple[int, int]:
        return (self._header.major, self._header.minor)

    @property
    def sections(self) -> List[Dict[str, Any]]:
        """The section table in file order, one dict per entry (unknown kinds too)."""
        return [e.describe(PLAN_KINDS) for e in self._entries]

    def row_segments(self, r: int) -> Tuple[np.ndarray, np.ndarray]:
        """Row ``r``'s segments as ``(starts, lengths)``, uint64 views, after the checks
        11.4 asks of a row read from an unverified plan (``bad_plan``): its range of
        segments inside PLAN_SEGMENTS, each segment non-empty and inside the
        ``dataset_tokens``, the lengths adding up to at most ``seq_len``. Empty arrays
        for a contiguous plan. ``IndexError`` when ``r`` is out of range (negative
        ``r`` counts from the end)."""
        n = self.num_rows
        index = operator.index(r)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"row {r} out of range for {n} rows")
        if self.strategy == "contiguous":
            empty = np.zeros(0, dtype="<u8")
            return empty, empty
        return plan_sections.row_segments(
            self._rows,
            self._segments,
            self._rows_entry,
            self._seg_entry,
            index,
            self.seq_len,
            self.dataset_tokens,
        )

    # -- binding and verify -------------------------------------------------------

    def check_dataset(self, dataset) -> None:
        """11.4: the plan's ``dataset_id``, ``dataset_tokens`` and ``dataset_documents``
        equal the dataset's, else ``wrong_dataset`` naming both ids."""
        ours = (self.dataset_id, self.dataset_tokens, self.dataset_documents)
        theirs = (dataset.dataset_id, dataset.num_tokens, dataset.num_documents)
        if ours != theirs:
            raise TokpackError(
                "wrong_dataset",
                f"the plan was made for dataset {self.dataset_id.hex()} "
                f"({self.dataset_tokens} tokens, {self.dataset_documents} documents), not "
                f"for dataset {dataset.dataset_id.hex()} ({dataset.num_tokens} tokens, "
                f"{dataset.num_documents} documents)",
                section="metadata",
                offset=self._meta_entry.offset,
            )

    def verify(self) -> None:
        """The full pass of spec 11.5, in its order: section CRC32s, zero padding,
        then PLAN_ROWS never decreasing, segment lengths >= 1, segments inside
        ``dataset_tokens``, row lengths adding up to at most ``seq_len``, all lengths
        adding up to ``tokens`` (``bad_plan``), the checks 11.5 asks "for plans with
        segments" (a contiguous plan's figures are checked at open, 11.4 step 4)."""
        check_checksums(self._raw, self._entries)
        check_padding(self._raw, self._header, self._entries)
        if self.strategy != "contiguous":
            plan_sections.verify(
                self._rows,
                self._segments,
                self._rows_entry,
                self._seg_entry,
                self.seq_len,
                self.dataset_tokens,
                self.tokens,
            )

    def verify_against(self, dataset) -> None:
        """:meth:`verify`, then the binding to ``dataset`` (:meth:`check_dataset`), then
        11.5's check with the dataset at hand: each segment inside one document
        (``bad_plan``). Finding a segment's document needs the dataset's offsets in
        order, so they are checked first (``bad_doc_offsets``, as 6.2 step 3)."""
        self.verify()
        self.check_dataset(dataset)
        if self.num_segments:
            plan_sections.check_inside_documents(
                self._segments, self._seg_entry, dataset.ordered_doc_offsets()
            )

    def __repr__(self) -> str:
        extra = f"tail {self.tail}" if self.tail else f"long_docs {self.long_docs}"
        return (
            f"<tokpack.Plan {self.strategy}, L = {self.seq_len}, {self.num_rows} rows, "
            f"{self.num_segments} segments, {extra}, dataset {self.dataset_id.hex()}>"
        )


def _check_kinds(entries: List[SectionEntry]) -> Dict[int, SectionEntry]:
    """11.4 step 1: a dataset kind (``bad_plan``), an unknown kind with the required
    flag, then the codec, dtype and duplicates of the plan file's kinds."""
    return check_derived_kinds(entries, PLAN_KINDS, DATASET_KINDS, "bad_plan", "a plan file")


def open_plan(path) -> Plan:
    """Map the plan file at ``path`` read-only and open it (spec 11.4, cheap).

    Raises ``OSError`` when the file cannot be read and :class:`TokpackError` when it
    is not a valid plan file.
    """
    return Plan(map_file(path))
