"""The section table: 64 bytes per entry at ``table_offset`` (spec section 4),
and the open-time checks on it (spec 6.1 steps 3 to 8, and step 1 of 11.4 and of
13.2 for plan and overlay files).

A dataset file's known kinds are 1 to 4 and, since version 1.3, 11 (DOC_SOURCES,
spec 5.5). Plan and overlay files have their own sets (11, 13); both refuse the
dataset kinds, 11 included (``bad_plan``, ``bad_overlay``).

Codecs: 0 (raw) on every known kind; since version 1.4, 1 (zstd blocks, 5.6) on
TOKENS of a dataset file only (:mod:`tokpack.format.zstd_blocks`)."""

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from ..errors import TokpackError
from .header import HEADER_SIZE, Header
from .layout import PAGE, U64_MAX, align_up, crc32, u16, u32, u64

ENTRY_SIZE = 64
TABLE_OFFSET = 64
MAX_SECTIONS = 1024
FLAG_REQUIRED = 0x0001
CODEC_RAW = 0
#: 5.6 (version 1.4): zstd blocks, on TOKENS only.
CODEC_ZSTD = 1

#: Element types (section 4, ``dtype``): code -> (name, width in bytes, numpy dtype).
DTYPES = {
    0: ("bytes", 1, "u1"),
    1: ("u8", 1, "<u1"),
    2: ("u16", 2, "<u2"),
    3: ("u32", 4, "<u4"),
    4: ("u64", 8, "<u8"),
}

KIND_TOKENS = 1
KIND_DOC_OFFSETS = 2
KIND_LOSS_MASK = 3
KIND_METADATA = 4
KIND_INS_POSITIONS = 5
KIND_PLAN_ROWS = 6
KIND_PLAN_SEGMENTS = 7
KIND_INS_OFFSETS = 8
KIND_INS_TOKENS = 9
KIND_INS_FLAGS = 10
KIND_DOC_SOURCES = 11


@dataclass(frozen=True)
class KindRule:
    """One row of the kind table: the kind's name and the dtypes it allows."""

    name: str
    dtypes: frozenset


#: The kinds this reader knows in a dataset file: 1 to 4 (version 1.0) and 11
#: (DOC_SOURCES, version 1.3: dtype u16 only).
KNOWN_KINDS: Dict[int, KindRule] = {
    KIND_TOKENS: KindRule("tokens", frozenset({1, 2, 3})),
    KIND_DOC_OFFSETS: KindRule("doc_offsets", frozenset({4})),
    KIND_LOSS_MASK: KindRule("loss_mask", frozenset({1})),
    KIND_METADATA: KindRule("metadata", frozenset({0})),
    KIND_DOC_SOURCES: KindRule("doc_sources", frozenset({2})),
}
#: The kinds of a plan file (section 11): METADATA and the two plan sections.
PLAN_KINDS: Dict[int, KindRule] = {
    KIND_METADATA: KindRule("metadata", frozenset({0})),
    KIND_PLAN_ROWS: KindRule("plan_rows", frozenset({4})),
    KIND_PLAN_SEGMENTS: KindRule("plan_segments", frozenset({4})),
}
#: The kinds of an overlay file (section 13): METADATA and the four INS sections.
OVERLAY_KINDS: Dict[int, KindRule] = {
    KIND_METADATA: KindRule("metadata", frozenset({0})),
    KIND_INS_POSITIONS: KindRule("ins_positions", frozenset({4})),
    KIND_INS_OFFSETS: KindRule("ins_offsets", frozenset({4})),
    KIND_INS_TOKENS: KindRule("ins_tokens", frozenset({1, 2, 3})),
    KIND_INS_FLAGS: KindRule("ins_flags", frozenset({1})),
}
#: Kinds the spec names that are unknown in a dataset file (as are kind 0, never
#: written, and every other number): 6 and 7 belong to plan files (section 11), 5 and
#: 8 to 10 to overlay files (section 13).
RESERVED_KIND_NAMES = {
    5: "ins_positions",
    6: "plan_rows",
    7: "plan_segments",
    8: "ins_offsets",
    9: "ins_tokens",
    10: "ins_flags",
}
REQUIRED_KINDS = (KIND_TOKENS, KIND_DOC_OFFSETS, KIND_METADATA)


def kind_name(kind: int) -> str:
    if kind in KNOWN_KINDS:
        return KNOWN_KINDS[kind].name
    if kind in RESERVED_KIND_NAMES:
        return RESERVED_KIND_NAMES[kind]
    return f"kind 0x{kind:08x}"


@dataclass(frozen=True)
class SectionEntry:
    """One table entry, with where it sits in the file."""

    index: int
    entry_offset: int  # where this entry starts in the file
    kind: int  # u32, offset 0
    dtype: int  # u8, offset 4
    codec: int  # u8, offset 5
    flags: int  # u16, offset 6
    offset: int  # u64, offset 8
    length: int  # u64, offset 16
    count: int  # u64, offset 24
    crc32: int  # u32, offset 32
    # reserved: 28 bytes at offset 36, ignored

    @classmethod
    def parse(cls, index: int, entry_offset: int, raw: bytes) -> "SectionEntry":
        return cls(
            index=index,
            entry_offset=entry_offset,
            kind=u32(raw, 0),
            dtype=raw[4],
            codec=raw[5],
            flags=u16(raw, 6),
            offset=u64(raw, 8),
            length=u64(raw, 16),
            count=u64(raw, 24),
            crc32=u32(raw, 32),
        )

    @property
    def name(self) -> str:
        return kind_name(self.kind)

    @property
    def required(self) -> bool:
        return bool(self.flags & FLAG_REQUIRED)

    @property
    def known(self) -> bool:
        return self.kind in KNOWN_KINDS

    @property
    def end(self) -> int:
        return self.offset + self.length

    def describe(self, known_kinds: Optional[Dict[int, KindRule]] = None) -> dict:
        """The entry as a plain dict (for ``Dataset.sections``, ``Plan.sections``);
        ``known_kinds`` is the file's set of known kinds (default: a dataset file's)."""
        known = self.kind in (KNOWN_KINDS if known_kinds is None else known_kinds)
        return {
            "index": self.index,
            "kind": self.kind,
            "name": self.name,
            "known": known,
            "required": self.required,
            # An unknown kind's dtype is not interpreted (spec 4): its raw code.
            "dtype": DTYPES[self.dtype][0]
            if known and self.dtype in DTYPES
            else self.dtype,
            "codec": self.codec,
            "flags": self.flags,
            "offset": self.offset,
            "length": self.length,
            "count": self.count,
            "crc32": self.crc32,
        }


def table_end(header: Header) -> int:
    return TABLE_OFFSET + ENTRY_SIZE * header.section_count


def read_table(raw, header: Header) -> List[SectionEntry]:
    """Spec 6.1 step 3: the table's place, size and CRC; then decode its entries."""
    if header.table_offset != TABLE_OFFSET:
        raise TokpackError(
            "bad_section_table",
            f"table_offset is {header.table_offset}, must be {TABLE_OFFSET}",
            section="header",
            offset=40,
        )
    if header.section_count > MAX_SECTIONS:
        raise TokpackError(
            "bad_section_table",
            f"section_count is {header.section_count}, at most {MAX_SECTIONS} allowed",
            section="header",
            offset=48,
        )
    end = table_end(header)
    if end > header.file_length:
        raise TokpackError(
            "bad_section_table",
            f"the table of {header.section_count} entries ends at byte {end}, "
            f"past the end of the file ({header.file_length} bytes)",
            section="section_table",
            offset=TABLE_OFFSET,
        )
    table = bytes(raw[TABLE_OFFSET:end])
    actual = crc32(table)
    if actual != header.table_crc32:
        raise TokpackError(
            "table_checksum",
            f"section table CRC32 is 0x{actual:08x}, stored 0x{header.table_crc32:08x}",
            section="section_table",
            offset=TABLE_OFFSET,
        )
    return [
        SectionEntry.parse(
            i,
            TABLE_OFFSET + ENTRY_SIZE * i,
            table[ENTRY_SIZE * i : ENTRY_SIZE * (i + 1)],
        )
        for i in range(header.section_count)
    ]


def check_layout(entries: List[SectionEntry], header: Header) -> None:
    """Spec 6.1 steps 4 and 5: each section at ``align_up(previous end)``, inside the
    file, and the file ending where the last section ends."""
    end = table_end(header)
    for e in entries:
        where = f"table entry {e.index} (offset field at byte {e.entry_offset + 8})"
        if e.offset % PAGE != 0:
            raise TokpackError(
                "section_misaligned",
                f"{where}: offset {e.offset} is not a multiple of {PAGE}",
                section=e.name,
                offset=e.offset,
            )
        if e.offset < end:
            raise TokpackError(
                "section_overlap",
                f"{where}: starts at byte {e.offset}, before the previous section "
                f"(or the table) ends at byte {end}",
                section=e.name,
                offset=e.offset,
            )
        if e.offset > align_up(end):
            raise TokpackError(
                "section_gap",
                f"{where}: starts at byte {e.offset}, past the page boundary "
                f"{align_up(end)} after the previous end {end}",
                section=e.name,
                offset=e.offset,
            )
        if e.offset + e.length > U64_MAX:
            raise TokpackError(
                "section_out_of_bounds",
                f"{where}: offset {e.offset} + length {e.length} overflows u64",
                section=e.name,
                offset=e.offset,
            )
        if e.end > header.file_length:
            raise TokpackError(
                "section_out_of_bounds",
                f"{where}: ends at byte {e.end}, past the end of the file "
                f"({header.file_length} bytes)",
                section=e.name,
                offset=e.offset,
            )
        end = e.end
    if header.file_length != end:
        raise TokpackError(
            "trailing_bytes",
            f"{header.file_length - end} bytes after the last section, which ends at "
            f"byte {end}",
            offset=end,
        )


def check_kinds(entries: List[SectionEntry], raw=None) -> Dict[int, SectionEntry]:
    """Spec 6.1 steps 6 to 8. Returns the known sections by kind. (``raw``, the
    file's bytes, is accepted for compatibility; step 8 reads nothing since 1.4's
    rule for codec 1 is ``length >= 8``.)

    Step 6 takes each entry through all its checks before the next entry; step 7
    (missing sections) runs after step 6 has seen every entry, and step 8 (lengths)
    after step 7. Of an unknown kind without the required flag nothing but the
    layout (step 4) and, in verify, its CRC32 is checked: its dtype, codec and count
    are not interpreted."""
    found: Dict[int, SectionEntry] = {}
    # Step 6, entry by entry.
    for e in entries:
        where = f"table entry {e.index}"
        if not e.known:
            if e.required:
                raise TokpackError(
                    "unknown_required_section",
                    f"{where}: {e.name}"
                    f"{f' (kind {e.kind})' if e.kind in RESERVED_KIND_NAMES else ''} "
                    f"is marked required and is "
                    f"unknown in a dataset file"
                    f"{' (a plan file section)' if e.kind in PLAN_KINDS else ''}"
                    f"{' (an overlay file section)' if e.kind in OVERLAY_KINDS else ''}",
                    section=e.name,
                    offset=e.entry_offset,
                )
            continue
        if e.codec != CODEC_RAW and not (e.kind == KIND_TOKENS and e.codec == CODEC_ZSTD):
            raise TokpackError(
                "unknown_codec",
                f"{where}: codec {e.codec} on {e.name} is unknown to this reader "
                f"(0 = raw on every section; 1 = zstd blocks on tokens only)",
                section=e.name,
                offset=e.entry_offset + 5,
            )
        rule = KNOWN_KINDS[e.kind]
        if e.dtype not in rule.dtypes:
            raise TokpackError(
                "bad_dtype",
                f"{where}: dtype {e.dtype} is not allowed for {rule.name} "
                f"(allowed: {sorted(rule.dtypes)})",
                section=e.name,
                offset=e.entry_offset + 4,
            )
        if e.kind in found:
            raise TokpackError(
                "duplicate_section",
                f"{where}: a second {rule.name} section (the first is entry "
                f"{found[e.kind].index})",
                section=e.name,
                offset=e.entry_offset,
            )
        found[e.kind] = e
    # Step 7, first missing in the order TOKENS, DOC_OFFSETS, METADATA.
    for kind in REQUIRED_KINDS:
        if kind not in found:
            raise TokpackError(
                "missing_section",
                f"the file has no {KNOWN_KINDS[kind].name} section",
                section=KNOWN_KINDS[kind].name,
            )
    # Step 8, in table order (``found`` keeps insertion order). For TOKENS with
    # codec 1 the step is ``length >= 8`` (5.6 "At open"; the rest comes after step
    # 10).
    for e in found.values():
        if e.codec == CODEC_ZSTD:
            from .zstd_blocks import check_length as check_blocks_length

            check_blocks_length(raw, e)
        else:
            check_length(e)
    return found


def check_derived_kinds(
    entries: List[SectionEntry],
    known_kinds: Dict[int, KindRule],
    forbidden: tuple,
    code: str,
    file_kind: str,
) -> Dict[int, SectionEntry]:
    """Step 1 of 11.4 (plan files) and of 13.2 (overlay files), entry by entry in
    table order: a ``forbidden`` kind (``code``: ``bad_plan`` / ``bad_overlay``), an
    unknown kind with the required flag (``unknown_required_section``), then for the
    file's own kinds the codec (``unknown_codec``), the dtype (``bad_dtype``) and a
    second entry of the same kind (``duplicate_section``). Unknown kinds without the
    required flag are skipped. Returns the known sections by kind."""
    found: Dict[int, SectionEntry] = {}
    for e in entries:
        where = f"table entry {e.index}"
        if e.kind in forbidden:
            raise TokpackError(
                code,
                f"{where}: {file_kind} holds no {e.name} section",
                section=e.name,
                offset=e.entry_offset,
            )
        rule = known_kinds.get(e.kind)
        if rule is None:
            if e.required:
                raise TokpackError(
                    "unknown_required_section",
                    f"{where}: {e.name} is marked required and is unknown in {file_kind}",
                    section=e.name,
                    offset=e.entry_offset,
                )
            continue
        if e.codec != CODEC_RAW:
            raise TokpackError(
                "unknown_codec",
                f"{where}: codec {e.codec} is unknown to this reader (only 0 = raw in "
                f"{file_kind})",
                section=rule.name,
                offset=e.entry_offset + 5,
            )
        if e.dtype not in rule.dtypes:
            allowed = ", ".join(DTYPES[d][0] for d in sorted(rule.dtypes))
            raise TokpackError(
                "bad_dtype",
                f"{where}: dtype {e.dtype} is not allowed for {rule.name} ({allowed})",
                section=rule.name,
                offset=e.entry_offset + 4,
            )
        if e.kind in found:
            raise TokpackError(
                "duplicate_section",
                f"{where}: a second {rule.name} section (the first is entry "
                f"{found[e.kind].index})",
                section=rule.name,
                offset=e.entry_offset,
            )
        found[e.kind] = e
    return found


def check_length(e: SectionEntry) -> None:
    """``length`` agrees with ``count`` and ``dtype`` as the kind table says
    (``section_length``; a ``count * width`` over 64 bits too)."""
    expected = expected_length(e)
    if expected > U64_MAX:
        raise TokpackError(
            "section_length",
            f"table entry {e.index}: count {e.count} of {DTYPES[e.dtype][0]} "
            f"needs {expected} bytes, which overflows 64 bits",
            section=e.name,
            offset=e.entry_offset + 24,
        )
    if e.length != expected:
        raise TokpackError(
            "section_length",
            f"table entry {e.index}: length is {e.length}, but count {e.count} of "
            f"{DTYPES[e.dtype][0]} needs {expected} bytes",
            section=e.name,
            offset=e.entry_offset + 16,
        )


def expected_length(e: SectionEntry) -> int:
    """The ``length`` column of the kind table (exact: Python integers don't wrap)."""
    if e.kind == KIND_LOSS_MASK:
        return -(-e.count // 8)
    return e.count * DTYPES[e.dtype][1]


def check_checksums(raw, entries: List[SectionEntry]) -> None:
    """6.2 step 1 and 11.5: every section's CRC32, in table order, unknown kinds
    included (``section_checksum``)."""
    for e in entries:
        actual = crc32(raw[e.offset : e.end])
        if actual != e.crc32:
            raise TokpackError(
                "section_checksum",
                f"table entry {e.index}: CRC32 of the {e.length} bytes is "
                f"0x{actual:08x}, stored 0x{e.crc32:08x}",
                section=e.name,
                offset=e.offset,
            )


def check_padding(raw, header: Header, entries: List[SectionEntry]) -> None:
    """6.2 step 2 and 11.5: every byte between the table and the first section and
    between sections is zero (``padding_not_zero``)."""
    end = table_end(header)
    for e in entries:
        _check_zero(raw, end, e.offset, e)
        end = e.end


def _check_zero(raw, start: int, stop: int, before: SectionEntry) -> None:
    """The padding ``start .. stop`` (under one page) is all zero bytes."""
    nonzero = np.flatnonzero(raw[start:stop])
    if len(nonzero):
        at = start + int(nonzero[0])
        raise TokpackError(
            "padding_not_zero",
            f"padding byte is 0x{int(raw[at]):02x} in the gap before table entry "
            f"{before.index}",
            section="padding",
            offset=at,
        )
