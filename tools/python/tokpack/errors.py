"""The one exception the reader raises for a bad file (spec section 6.3), dataset,
plan and overlay files alike."""

from typing import Optional

#: Every error code of spec section 6.3, in the order of its table.
ERROR_CODES = (
    "truncated",
    "bad_magic",
    "unsupported_version",
    "unknown_flags",
    "header_checksum",
    "file_length",
    "bad_section_table",
    "table_checksum",
    "section_misaligned",
    "section_overlap",
    "section_gap",
    "section_out_of_bounds",
    "trailing_bytes",
    "unknown_required_section",
    "unknown_codec",
    "bad_dtype",
    "duplicate_section",
    "missing_section",
    "section_length",
    "count_mismatch",
    "bad_doc_offsets",
    "mask_padding",
    "bad_metadata",
    "vocab_dtype",
    "section_checksum",
    "padding_not_zero",
    "token_out_of_range",
    # Version 1.3, DOC_SOURCES (spec 5.5): verify, or reading a document's source.
    "bad_source",
    # Version 1.4, compressed tokens (codec 1, zstd blocks, spec 5.6).
    "bad_block",
    "bad_plan",
    "wrong_dataset",
    # Version 1.2, overlay files (spec 13) and placing insertions (spec 14).
    "bad_overlay",
    "wrong_view",
    "insertion_overlap",
)


class TokpackError(Exception):
    """A file is not a valid tokpack file.

    ``code`` is one of the spec's error codes (section 6.3). ``section`` names the
    section concerned (``"header"``, ``"section_table"``, ``"tokens"``,
    ``"plan_segments"``, ``"ins_positions"``, ...) and
    ``offset`` the byte offset in the file, when they apply; the message says both.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        section: Optional[str] = None,
        offset: Optional[int] = None,
    ) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown tokpack error code {code!r}")
        self.code = code
        self.detail = detail
        self.section = section
        self.offset = offset
        where = []
        if section is not None:
            where.append(f"section {section!r}")
        if offset is not None:
            where.append(f"at byte {offset}")
        prefix = " ".join(where)
        message = f"{prefix}: {detail}" if prefix else detail
        super().__init__(f"[{code}] {message}")
