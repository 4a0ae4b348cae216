"""A catalogue of overlay files, one per rule of spec 13.2 / 13.3 / the row checks of
13.2 / the bindings, built by the spec-derived writer and used to compare readers.

Every overlay is made for the dataset of :func:`dataset_bytes` (40 tokens in 5
documents, one of them empty, vocab_size 300, u16 tokens, with a loss mask) and its
contiguous view at ``L = 8`` with the tail dropped (4 rows). Each invalid entry is
``(name, overlay bytes, expected code, stage)`` where ``stage`` is

- ``"open"``: :func:`tokpack.open_overlay` refuses it (13.2);
- ``"verify"``: it opens, ``verify()`` refuses it (13.3);
- ``"bind"``: it opens and verifies, using it with the view refuses it (13.2);
- ``"row"``: see :func:`invalid_rows`.
"""

import json

import numpy as np

from spec_writer import (
    Section,
    dataset_sections,
    overlay_info,
    overlay_metadata,
    overlay_sections,
    write,
    write_overlay,
)

DOCS = [list(range(10, 19)), [], list(range(100, 115)), [7, 8, 9, 299], list(range(200, 212))]
MASKS = [[1, 0, 1, 1, 1, 1, 1, 1, 0], [], [1] * 15, [0, 1, 1, 1], [1, 1, 0] * 4]
DATASET_ID = bytes(range(16))
N_TOKENS, N_DOCS, VOCAB, L, ROWS = 40, 5, 300, 8, 4
U16 = 2

#: A valid overlay: a span at offset 2 of row 0, one token (not a target) ending row
#: 1, a whole row, one token touching the end of the view's last row.
INSERTIONS = [(2, [7, 8], 1), (15, [299], 0), (16, [1, 2, 3, 4, 5, 6, 7, 8], 1), (30, [5], 1)]


def dataset_bytes() -> bytes:
    return write(dataset_sections(DOCS, VOCAB, MASKS), dataset_id=DATASET_ID)


def info(ins=INSERTIONS, **changes) -> dict:
    """The ``"overlay"`` object for the insertions ``ins``; ``changes`` override keys."""
    out = overlay_info(DATASET_ID, N_TOKENS, N_DOCS, VOCAB, L, None, ROWS, len(ins),
                       sum(len(t) for _, t, _ in ins))
    out.update(changes)
    return out


def sections(ins=INSERTIONS, code=U16, meta=None, **changes):
    return overlay_sections(info(ins, **changes), ins, code, metadata_bytes=meta)


def made(ins=INSERTIONS, edit=None, code=U16, meta=None, write_kwargs=None, **changes) -> bytes:
    """An overlay of the (position, tokens, flags) triples ``ins`` with INS_TOKENS of
    dtype ``code``; ``edit`` changes the sections before they are written."""
    s = sections(ins, code, meta, **changes)
    if edit is not None:
        edit(s)
    return write_overlay(s, **(write_kwargs or {}))


def raw_meta(text: str) -> bytes:
    return made(meta=text.encode("utf-8"))


def _json(**changes) -> str:
    return json.dumps({"file": "overlay", "overlay": info(**changes)})


def _drop_key(key):
    o = info()
    del o[key]
    return json.dumps({"file": "overlay", "overlay": o})


def _set(index, **fields):
    def edit(s):
        for key, value in fields.items():
            setattr(s[index], key, value)
    return edit


def _body(index, values, dtype="<u8", count=None):
    def edit(s):
        arr = np.asarray(values, dtype=dtype)
        s[index].body = arr.tobytes()
        s[index].count = len(arr) if count is None else count
    return edit


def _dataset_section(kind, flags=1, at=1):
    def edit(s):
        x = [x for x in dataset_sections(DOCS, VOCAB, MASKS) if x.kind == kind][0]
        x.flags = flags
        s.insert(at, x)
    return edit


def _poke(data: bytes, at: int, value: int = 0x55) -> bytes:
    out = bytearray(data)
    out[at] = value
    return bytes(out)


def valid_overlays():
    """(name, overlay bytes) that open, verify and bind to the view."""
    return [
        ("insertions", made()),
        ("no_insertions", made([])),
        ("touching", made([(2, [1, 2], 1), (4, [3], 1), (5, [4, 5, 6], 0)])),
        ("whole_view", made([(8 * r, [r + 1] * 8, r % 2) for r in range(ROWS)])),
        ("minor_7", made(write_kwargs={"minor": 7})),
        ("sections_not_flagged_required", made(edit=lambda s: [setattr(x, "flags", 0) for x in s])),
        ("unknown_optional_sections", made(edit=lambda s: (
            s.insert(1, Section(0x80000001, 9, b"private", 7, codec=3, flags=0xFFFE)),
            s.append(Section(12, 0, b"x" * 5000, 1, flags=0))))),
        ("sections_reordered", made(edit=lambda s: s.reverse())),
        ("writer_null", made(meta=overlay_metadata(info(), writer=None))),
        ("no_writer", raw_meta(_json())),
        # Of 5.4's top-level keys only `file` and `writer` apply (13.1).
        ("user_keys_of_5_4", made(meta=overlay_metadata(
            info(), vocab_size="x", tokenizer=5, eos_id=-1, pad_id=1e3, bos_id=None))),
        ("unknown_overlay_keys", made(meta=overlay_metadata(dict(info(), note=[1, {"a": -0}])))),
    ]


def invalid_overlays():
    base = made()
    cases = [
        # -- 13.2 before step 1: steps 1 to 5 of 6.1 ---------------------------------
        ("truncated_63", base[:63], "truncated", "open"),
        ("major_2", made(write_kwargs={"major": 2}), "unsupported_version", "open"),
        ("cut_last_byte", base[:-1], "file_length", "open"),
        ("trailing_bytes", made(write_kwargs={"trailing": b"\0"}), "trailing_bytes", "open"),
        ("positions_misaligned", made(edit=_set(1, offset=8192 + 8)), "section_misaligned", "open"),
        # -- 13.2 step 1 -------------------------------------------------------------
        ("holds_tokens", made(edit=_dataset_section(1)), "bad_overlay", "open"),
        ("holds_doc_offsets", made(edit=_dataset_section(2)), "bad_overlay", "open"),
        ("holds_loss_mask_optional", made(edit=_dataset_section(3, flags=0, at=5)), "bad_overlay", "open"),
        ("holds_plan_rows", made(edit=lambda s: s.append(Section(6, 4, b"\0" * 8, 1))),
         "bad_overlay", "open"),
        ("holds_plan_segments_optional", made(edit=lambda s: s.append(
            Section(7, 4, b"", 0, flags=0))), "bad_overlay", "open"),
        ("unknown_required_private", made(edit=lambda s: s.append(Section(0x80000000, 0, b"x", 1))),
         "unknown_required_section", "open"),
        # Version 1.3, clarified in 1.4: kind 11 (DOC_SOURCES) MUST NOT appear in an
        # overlay file (13), whatever its flags.
        ("unknown_required_kind_11", made(edit=lambda s: s.insert(0, Section(11, 0, b"x", 1))),
         "bad_overlay", "open"),
        ("holds_doc_sources_optional", made(edit=lambda s: s.append(
            Section(11, 2, b"\0\0", 1, flags=0))), "bad_overlay", "open"),
        ("unknown_required_before_doc_sources", made(edit=lambda s: (
            s.insert(0, Section(0x80000000, 0, b"x", 1)),
            s.append(Section(11, 2, b"\0\0", 1, flags=0)))), "unknown_required_section", "open"),
        ("unknown_required_kind_12", made(edit=lambda s: s.append(Section(12, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_before_forbidden", made(edit=lambda s: (
            s.insert(0, Section(0x80000000, 0, b"x", 1)), _dataset_section(1)(s))),
         "unknown_required_section", "open"),
        ("forbidden_before_unknown_required", made(edit=lambda s: (
            s.append(Section(0x80000000, 0, b"x", 1)), _dataset_section(1, at=0)(s))),
         "bad_overlay", "open"),
        ("ins_tokens_codec_1", made(edit=_set(3, codec=1)), "unknown_codec", "open"),
        ("metadata_codec_2", made(edit=_set(0, codec=2)), "unknown_codec", "open"),
        ("positions_dtype_u32", made(edit=_set(1, dtype=3)), "bad_dtype", "open"),
        ("offsets_dtype_bytes", made(edit=_set(2, dtype=0)), "bad_dtype", "open"),
        ("ins_tokens_dtype_u64", made(edit=_set(3, dtype=4)), "bad_dtype", "open"),
        ("ins_tokens_dtype_bytes", made(edit=_set(3, dtype=0)), "bad_dtype", "open"),
        ("ins_tokens_dtype_9", made(edit=_set(3, dtype=9)), "bad_dtype", "open"),
        ("flags_dtype_u16", made(edit=_set(4, dtype=2)), "bad_dtype", "open"),
        ("metadata_dtype_u8", made(edit=_set(0, dtype=1)), "bad_dtype", "open"),
        ("duplicate_positions", made(edit=lambda s: s.append(s[1])), "duplicate_section", "open"),
        ("duplicate_metadata", made(edit=lambda s: s.append(s[0])), "duplicate_section", "open"),
        ("codec_before_duplicate", made(edit=lambda s: (s.append(s[1]), _set(3, codec=1)(s))),
         "unknown_codec", "open"),
        # -- 13.2 step 2 -------------------------------------------------------------
        ("no_metadata", made(edit=lambda s: s.pop(0)), "missing_section", "open"),
        ("no_sections", write_overlay([]), "missing_section", "open"),
        ("metadata_relabelled_optional", made(edit=_set(0, kind=0x80000001, flags=0)),
         "missing_section", "open"),
        ("metadata_count", made(edit=lambda s: setattr(s[0], "count", s[0].count - 1)),
         "section_length", "open"),
        ("metadata_count_before_missing_ins", made(edit=lambda s: (
            setattr(s[0], "count", 3), s.pop(1))), "section_length", "open"),
        ("metadata_not_json", raw_meta("{"), "bad_metadata", "open"),
        ("metadata_array", raw_meta("[]"), "bad_metadata", "open"),
        ("metadata_duplicate_key", raw_meta(_json()[:-1] + ', "w": 1, "w": 2}'), "bad_metadata", "open"),
        ("metadata_too_deep", raw_meta(_json()[:-1] + ', "x": ' + "[" * 64 + "]" * 64 + "}"),
         "bad_metadata", "open"),
        ("metadata_huge_number", raw_meta(_json()[:-1] + ', "x": 1e400}'), "bad_metadata", "open"),
        ("metadata_lone_surrogate", raw_meta(_json()[:-1] + ', "x": "\\udc00"}'), "bad_metadata", "open"),
        ("metadata_before_missing_ins", made(meta=b"{", edit=lambda s: s.pop(4)), "bad_metadata", "open"),
        ("file_absent", raw_meta(json.dumps({"overlay": info()})), "bad_metadata", "open"),
        ("file_plan", made(meta=overlay_metadata(info(), file="plan")), "bad_metadata", "open"),
        ("file_dataset", made(meta=overlay_metadata(info(), file="dataset")), "bad_metadata", "open"),
        ("file_null", made(meta=overlay_metadata(info(), file=None)), "bad_metadata", "open"),
        ("writer_number", made(meta=overlay_metadata(info(), writer=5)), "bad_metadata", "open"),
        ("overlay_absent", raw_meta('{"file": "overlay"}'), "bad_metadata", "open"),
        ("overlay_array", raw_meta('{"file": "overlay", "overlay": []}'), "bad_metadata", "open"),
        ("dataset_id_upper", made(dataset_id=DATASET_ID.hex().upper()), "bad_metadata", "open"),
        ("dataset_id_31_digits", made(dataset_id=DATASET_ID.hex()[:31]), "bad_metadata", "open"),
        ("dataset_id_absent", raw_meta(_drop_key("dataset_id")), "bad_metadata", "open"),
        ("dataset_tokens_absent", raw_meta(_drop_key("dataset_tokens")), "bad_metadata", "open"),
        ("dataset_documents_string", made(dataset_documents="5"), "bad_metadata", "open"),
        ("vocab_size_absent", raw_meta(_drop_key("vocab_size")), "bad_metadata", "open"),
        ("vocab_size_0", made(vocab_size=0), "bad_metadata", "open"),
        ("vocab_size_2_32_plus_1", made(vocab_size=2**32 + 1), "bad_metadata", "open"),
        ("vocab_size_float", raw_meta(_json().replace('"vocab_size": 300', '"vocab_size": 300.0')),
         "bad_metadata", "open"),
        ("seq_len_0", made(seq_len=0), "bad_metadata", "open"),
        ("seq_len_2_24_plus_1", made(seq_len=2**24 + 1), "bad_metadata", "open"),
        ("seq_len_exponent", raw_meta(_json().replace('"seq_len": 8', '"seq_len": 8e0')),
         "bad_metadata", "open"),
        ("plan_id_absent", raw_meta(_drop_key("plan_id")), "bad_metadata", "open"),
        ("plan_id_31_digits", made(plan_id="ab" * 15 + "a"), "bad_metadata", "open"),
        ("plan_id_not_hex", made(plan_id="g" * 32), "bad_metadata", "open"),
        ("plan_id_upper", made(plan_id="AB" * 16), "bad_metadata", "open"),  # 13.1: lowercase
        ("plan_id_number", made(plan_id=7), "bad_metadata", "open"),
        ("rows_negative", made(rows=-4), "bad_metadata", "open"),
        ("rows_bool", made(rows=True), "bad_metadata", "open"),
        ("insertions_absent", raw_meta(_drop_key("insertions")), "bad_metadata", "open"),
        ("tokens_minus_zero", raw_meta(_json().replace('"tokens": 12', '"tokens": -0')),
         "bad_metadata", "open"),
        ("tokens_2_64", raw_meta(_json().replace('"tokens": 12', '"tokens": 18446744073709551616')),
         "bad_metadata", "open"),
        # -- 13.2 step 3 -------------------------------------------------------------
        ("no_ins_positions", made(edit=lambda s: s.pop(1)), "missing_section", "open"),
        ("no_ins_offsets", made(edit=lambda s: s.pop(2)), "missing_section", "open"),
        ("no_ins_tokens", made(edit=lambda s: s.pop(3)), "missing_section", "open"),
        ("no_ins_flags", made(edit=lambda s: s.pop(4)), "missing_section", "open"),
        ("ins_flags_relabelled_optional", made(edit=_set(4, kind=0x80000002, flags=0)),
         "missing_section", "open"),
        ("missing_before_length", made(edit=lambda s: (
            setattr(s[1], "count", 99), s.pop(4))), "missing_section", "open"),
        ("positions_length", made(edit=lambda s: setattr(s[1], "count", s[1].count + 1)),
         "section_length", "open"),
        ("offsets_length", made(edit=lambda s: setattr(s[2], "count", s[2].count - 1)),
         "section_length", "open"),
        ("ins_tokens_length", made(edit=lambda s: setattr(s[3], "count", s[3].count + 1)),
         "section_length", "open"),
        ("ins_flags_length", made(edit=lambda s: setattr(s[4], "count", s[4].count + 1)),
         "section_length", "open"),
        ("ins_tokens_count_overflow", made(edit=_set(3, count=2**63)), "section_length", "open"),
        ("length_before_count", made(insertions=5, edit=lambda s: setattr(
            s[4], "count", s[4].count + 1)), "section_length", "open"),
        # -- 13.2 step 4 -------------------------------------------------------------
        ("positions_count", made(insertions=5), "count_mismatch", "open"),
        ("flags_count", made(edit=_body(4, [1, 0, 1, 1, 1], "u1")), "count_mismatch", "open"),
        ("offsets_count", made(edit=_body(2, [0, 2, 3, 11, 12, 12])), "count_mismatch", "open"),
        ("ins_tokens_count", made(tokens=13), "count_mismatch", "open"),
        ("positions_count_before_flags", made(edit=lambda s: (
            _body(1, [2, 15, 16, 30, 31])(s), _body(4, [1], "u1")(s))), "count_mismatch", "open"),
        ("vocab_dtype_u8", made(code=1), "vocab_dtype", "open"),
        ("vocab_dtype_u16_70000", made(vocab_size=70000), "vocab_dtype", "open"),
        ("count_before_vocab_dtype", made(code=1, tokens=13), "count_mismatch", "open"),
        # -- 13.2 step 5 -------------------------------------------------------------
        ("first_offset_not_0", made(edit=_body(2, [1, 2, 3, 11, 12])), "bad_overlay", "open"),
        ("last_offset_not_tokens", made(edit=_body(2, [0, 2, 3, 11, 11])), "bad_overlay", "open"),
        ("last_offset_huge", made(edit=_body(2, [0, 2, 3, 11, 2**64 - 1])), "bad_overlay", "open"),
        ("vocab_dtype_before_offsets", made(code=1, edit=_body(2, [1, 2, 3, 11, 12])),
         "vocab_dtype", "open"),
        # -- 13.3 --------------------------------------------------------------------
        ("checksum_ins_tokens", made(edit=_set(3, crc32=0)), "section_checksum", "verify"),
        ("checksum_metadata", made(edit=_set(0, crc32=1)), "section_checksum", "verify"),
        ("checksum_unknown_optional", made(edit=lambda s: s.append(
            Section(0x80000001, 0, b"x", 1, flags=0, crc32=0))), "section_checksum", "verify"),
        ("checksum_before_overlap", made([(2, [1, 2], 1), (3, [3], 1)], edit=_set(2, crc32=0)),
         "section_checksum", "verify"),
        ("padding_after_table", _poke(base, 4095), "padding_not_zero", "verify"),
        ("padding_after_metadata", _poke(base, 4096 + len(overlay_metadata(info())) + 5),
         "padding_not_zero", "verify"),
        ("payload_empty", made(edit=_body(2, [0, 2, 2, 11, 12])), "bad_overlay", "verify"),
        ("payload_decreasing", made(edit=_body(2, [0, 5, 3, 11, 12])), "bad_overlay", "verify"),
        ("payload_past_tokens", made(edit=_body(2, [0, 100, 3, 11, 12])), "bad_overlay", "verify"),
        ("past_last_row", made([(32, [1], 1)]), "bad_overlay", "verify"),
        ("position_2_64_minus_1", made([(2**64 - 1, [1], 1)]), "bad_overlay", "verify"),
        ("crosses_row", made([(7, [1, 2], 1)]), "bad_overlay", "verify"),
        ("crosses_last_row", made([(31, [1, 2], 1)]), "bad_overlay", "verify"),
        ("longer_than_a_row", made([(0, list(range(9)), 1)]), "bad_overlay", "verify"),
        ("overlap", made([(2, [1, 2], 1), (3, [3], 1)]), "insertion_overlap", "verify"),
        ("same_position", made([(2, [1], 1), (2, [3], 1)]), "insertion_overlap", "verify"),
        ("positions_decreasing", made([(20, [1], 1), (2, [3], 1)]), "insertion_overlap", "verify"),
        ("token_out_of_range", made([(2, [7, 300], 1)]), "bad_overlay", "verify"),
        ("token_out_of_range_u32", made([(2, [7, 2**32 - 1], 1)], code=3), "bad_overlay", "verify"),
        ("flags_2", made([(2, [7], 2)]), "bad_overlay", "verify"),
        ("flags_255", made([(2, [7], 1), (4, [8], 255)]), "bad_overlay", "verify"),
        # The first insertion with a problem, its first problem in 13.3's order.
        ("span_before_overlap", made([(7, [1, 2], 1), (8, [3], 1)]), "bad_overlay", "verify"),
        ("overlap_before_token", made([(2, [1, 300], 1), (3, [3], 1)]), "insertion_overlap", "verify"),
        ("overlap_before_flags", made([(2, [1, 2], 3), (3, [3], 1)]), "insertion_overlap", "verify"),
        ("first_insertion_first", made([(2, [1], 2), (3, [3, 4], 1), (4, [5], 1)]),
         "bad_overlay", "verify"),
        ("payload_before_overlap", made([(2, [1, 2], 1), (3, [3], 1)], edit=_body(2, [0, 5, 3])),
         "bad_overlay", "verify"),
        # -- 13.2 bindings -----------------------------------------------------------
        ("wrong_dataset_id", made(dataset_id="ff" * 16), "wrong_dataset", "bind"),
        ("wrong_dataset_tokens", made(dataset_tokens=41), "wrong_dataset", "bind"),
        ("wrong_dataset_documents", made(dataset_documents=4), "wrong_dataset", "bind"),
        ("wrong_token_dtype", made(code=3), "wrong_dataset", "bind"),
        # 13.2: vocab_size is part of the dataset binding.
        ("wrong_vocab_size_larger", made(vocab_size=1000), "wrong_dataset", "bind"),
        ("wrong_vocab_size_smaller", made([(2, [7], 1)], vocab_size=200), "wrong_dataset", "bind"),
        ("wrong_view_seq_len", made(seq_len=16, rows=2), "wrong_view", "bind"),
        ("wrong_view_rows", made(rows=5), "wrong_view", "bind"),
        ("wrong_view_plan_id", made(plan_id="ab" * 16), "wrong_view", "bind"),
        ("dataset_before_view", made(dataset_tokens=41, seq_len=16, rows=2), "wrong_dataset", "bind"),
        # Positions near 2**64 verify when `rows` allows them (no wrap-around in the
        # checks); the view then does not match.
        ("huge_rows_verify_then_wrong_view", made(
            [(2**64 - 16, [1, 2], 1), (2**64 - 8, [3], 1)], rows=2**61), "wrong_view", "bind"),
    ]
    return cases


def invalid_rows():
    """Row reads through an unverified overlay (13.2, last paragraph): (name, overlay
    bytes, row, code). ``verify()`` refuses each file too."""
    return [
        ("payload_empty", made(edit=_body(2, [0, 2, 2, 11, 12])), 1, "bad_overlay"),
        ("payload_decreasing", made(edit=_body(2, [0, 5, 3, 11, 12])), 1, "bad_overlay"),
        ("payload_past_tokens", made(edit=_body(2, [0, 100, 3, 11, 12])), 0, "bad_overlay"),
        ("crosses_row", made([(7, [1, 2], 1)]), 0, "bad_overlay"),
        ("token_out_of_range", made([(9, [7, 300], 1)]), 1, "bad_overlay"),
        # 13.2: the row's insertions in increasing position order without intersecting.
        ("positions_out_of_order", made([(20, [1], 1), (2, [3], 1)]), 0, "bad_overlay"),
        ("positions_out_of_order_in_row", made([(5, [1], 1), (2, [3], 1)]), 0, "bad_overlay"),
        ("positions_equal_in_row", made([(4, [1], 1), (4, [3], 1)]), 0, "bad_overlay"),
        ("overlap_in_row", made([(2, [1, 2, 3], 1), (3, [4], 1)]), 0, "bad_overlay"),
    ]
