"""A catalogue of plan files, one per rule of spec 11.4 / 11.5 / the row checks of
11.4, built by the spec-derived writer and used to compare readers.

Every file cuts the dataset of :func:`dataset_bytes` (8 tokens in 4 documents, one of
them empty, vocab_size 300, with a loss mask). Each invalid entry is
``(name, plan bytes, expected code, stage)`` where ``stage`` is

- ``"open"``: :func:`tokpack.open_plan` refuses it (11.4);
- ``"verify"``: it opens, ``verify()`` refuses it (11.5);
- ``"against"``: it opens and verifies, ``verify_against(dataset)`` refuses it
  (binding, or a segment outside one document);
- ``"row"``: it opens, reading row :data:`ROW_OF` [name] refuses it (the row checks
  at the end of 11.4; the plan is invalid and ``verify()`` refuses it too).
"""

import json

import numpy as np

from spec_writer import (
    Section,
    dataset_sections,
    plan_info,
    plan_metadata,
    plan_sections,
    rows_to_plan,
    write,
    write_plan,
)

DOCS = [[1, 2, 3], [], [4, 5, 250], [7, 8]]
MASKS = [[1, 0, 1], [], [0, 1, 1], [1, 1]]
DATASET_ID = bytes(range(16))
N_TOKENS, N_DOCS, L = 8, 4, 4

#: bfd with L = 4 (spec 12.3): pieces 3 (doc 0), 3 (doc 2), 2 (doc 3).
BFD_ROWS = [[(0, 3)], [(3, 3)], [(6, 2)]]


def dataset_bytes() -> bytes:
    return write(dataset_sections(DOCS, 300, MASKS), dataset_id=DATASET_ID)


def info(strategy="bfd", rows=3, tokens=8, seq_len=L, **kwargs) -> dict:
    return plan_info(DATASET_ID, N_TOKENS, N_DOCS, seq_len, strategy, rows, tokens, **kwargs)


def bfd(rows=BFD_ROWS, plan=None, bounds=None, segments=None, meta=None, **write_kwargs):
    """A bfd plan of ``rows`` ((start, length) lists); ``bounds`` and ``segments``
    override PLAN_ROWS and PLAN_SEGMENTS, ``plan`` the ``"plan"`` object."""
    b, s = rows_to_plan(rows)
    plan = info(rows=len(rows), tokens=sum(n for r in rows for _, n in r)) if plan is None else plan
    sections = plan_sections(plan, b if bounds is None else bounds,
                             s if segments is None else segments, metadata_bytes=meta)
    return sections, write_kwargs


def made(sections_and_kwargs, edit=None) -> bytes:
    sections, kwargs = sections_and_kwargs
    if edit is not None:
        edit(sections)
    return write_plan(sections, **kwargs)


def contiguous(tail="drop", rows=None, sections_edit=None, **kwargs) -> bytes:
    n_rows = {"drop": 1, "pad": 2}[tail] if rows is None else rows
    tokens = min(n_rows * L, N_TOKENS)
    sections = plan_sections(info("contiguous", rows=n_rows, tokens=tokens, tail=tail, **kwargs))
    if sections_edit is not None:
        sections_edit(sections)
    return write_plan(sections)


def _contiguous_keys(**changes) -> bytes:
    """The contiguous drop plan of one row with ``changes`` to its ``"plan"`` object."""
    return write_plan(plan_sections(dict(info("contiguous", rows=1, tokens=4, tail="drop"),
                                         **changes)))


def meta_of(plan: dict, **top) -> bytes:
    return plan_metadata(plan, **top)


def with_plan(**changes) -> dict:
    plan = info(rows=3, tokens=8)
    for key, value in changes.items():
        if value is _DELETE:
            del plan[key]
        else:
            plan[key] = value
    return plan


_DELETE = object()


def raw_meta(text: str) -> bytes:
    """A bfd plan of BFD_ROWS whose metadata is ``text`` (bytes as given)."""
    return made(bfd(meta=text.encode("utf-8")))


def _plan_json(**changes) -> str:
    return json.dumps({"file": "plan", "plan": with_plan(**changes)})


def _set(index, **fields):
    def edit(sections):
        for key, value in fields.items():
            setattr(sections[index], key, value)
    return edit


def _dataset_section(kind, flags=1, at=1):
    def edit(sections):
        s = [x for x in dataset_sections(DOCS, 300, MASKS) if x.kind == kind][0]
        s.flags = flags
        sections.insert(at if at >= 0 else len(sections), s)
    return edit


def valid_plans():
    """(name, plan bytes) of plans that open, verify and verify against the dataset."""
    doc_aligned_rows = [[(0, 3)], [(3, 3)], [(6, 2)]]
    return [
        ("bfd", made(bfd())),
        ("doc_aligned", write_plan(plan_sections(
            info("doc_aligned", rows=3, tokens=8), *rows_to_plan(doc_aligned_rows)))),
        ("doc_aligned_truncate_l2", write_plan(plan_sections(
            info("doc_aligned", rows=3, tokens=6, seq_len=2, long_docs="truncate"),
            *rows_to_plan([[(0, 2)], [(3, 2)], [(6, 2)]])))),
        ("bfd_two_segments_a_row", write_plan(plan_sections(
            info(rows=2, tokens=8, seq_len=5), *rows_to_plan([[(0, 3), (6, 2)], [(3, 3)]])))),
        ("bfd_split_l1", write_plan(plan_sections(
            info(rows=8, tokens=8, seq_len=1, split=3),
            *rows_to_plan([[(k, 1)] for k in range(8)])))),
        ("contiguous_drop", contiguous("drop")),
        ("contiguous_pad", contiguous("pad")),
        ("contiguous_l7_drop", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=7, seq_len=7, tail="drop")))),
        ("contiguous_l7_pad", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=7, seq_len=7, tail="pad")))),
        ("contiguous_l8_rows_0", write_plan(plan_sections(
            info("contiguous", rows=0, tokens=0, seq_len=8, tail="drop")))),
        ("minor_0", made(bfd(minor=0))),
        ("minor_7", made(bfd(minor=7))),
        ("plan_sections_not_flagged_required",
         made(bfd(), lambda s: [setattr(x, "flags", 0) for x in s])),
        ("unknown_optional_sections", made(bfd(), lambda s: (
            s.insert(1, Section(0x80000001, 9, b"private", 7, codec=3, flags=0xFFFE)),
            s.append(Section(5, 0, b"x" * 5000, 1, flags=0))))),
        ("unknown_keys_in_plan", made(bfd(plan=with_plan(fill=0.9, note={"a": [1]})))),
        # 11.1 names `tail` for contiguous plans only; this reader ignores it elsewhere.
        ("tail_key_on_bfd", made(bfd(plan=with_plan(tail="sideways")))),
        ("long_docs_key_on_contiguous", write_plan(plan_sections(
            dict(info("contiguous", rows=1, tokens=4, tail="drop"), long_docs=7)))),
        ("metadata_5_4_keys", made(bfd(meta=meta_of(
            with_plan(), vocab_size=300, tokenizer="t", bos_id=0, eos_id=299, pad_id=None,
            user={"x": -0})))),
        ("metadata_without_writer", raw_meta(json.dumps({"file": "plan", "plan": with_plan()}))),
        # 11.1: `truncated_tokens` and `split_documents` of doc_aligned and bfd plans
        # are informative, not checked.
        ("truncated_and_split_unchecked", made(bfd(plan=with_plan(
            truncated_tokens=12345, split_documents=99)))),
        ("truncated_and_split_unchecked_doc_aligned", write_plan(plan_sections(
            info("doc_aligned", rows=3, tokens=8, truncated=7, split=2),
            *rows_to_plan([[(0, 3)], [(3, 3)], [(6, 2)]])))),
        # 11.1: seq_len at most 2**24.
        ("seq_len_2_24", write_plan(plan_sections(
            info("contiguous", rows=0, tokens=0, seq_len=2**24, tail="drop")))),
        # 11.1: of 5.4's top-level keys only `file` and `writer` apply in a plan file;
        # the others, whatever their values, are the user's.
        ("vocab_size_float", made(bfd(meta=meta_of(with_plan(), vocab_size=300.0)))),
        ("vocab_size_0", made(bfd(meta=meta_of(with_plan(), vocab_size=0)))),
        ("eos_id_not_below_vocab_size", made(bfd(meta=meta_of(with_plan(), vocab_size=300, eos_id=300)))),
        ("pad_id_minus_zero", raw_meta(_plan_json()[:-1] + ', "pad_id": -0}')),
        ("tokenizer_list", made(bfd(meta=meta_of(with_plan(), tokenizer=["t"])))),
        ("bos_id_string", made(bfd(meta=meta_of(with_plan(), bos_id="1")))),
        ("writer_null", made(bfd(meta=meta_of(with_plan(), writer=None)))),
        # 11.1: `sources` and `mixture` are informative, not checked against anything.
        ("sources_and_mixture_keys", made(bfd(plan=with_plan(
            sources=["web", "code"], mixture={"seed": 1, "tokens_requested": 8, "sources": {
                "web": {"weight": 1.0, "quota": 8, "tokens": 8, "available": 8,
                        "epochs": 1.0, "pieces": 3}}})))),
        ("sources_and_mixture_ill_typed", made(bfd(plan=with_plan(sources=5, mixture="x")))),
        # 12.6: a mixture plan's segments may repeat, and its tokens may exceed the
        # dataset's.
        ("repeated_segments", made(bfd(
            rows=[[(0, 3)], [(0, 3)], [(3, 3), (7, 1)], [(6, 2), (0, 2)], [(3, 3)]],
            plan=info(rows=5, tokens=17, truncated=0)))),
    ]


def invalid_plans():
    cases = [
        # -- 11.4 before step 1: steps 1 to 5 of 6.1 -----------------------------------
        ("truncated_63", made(bfd())[:63], "truncated", "open"),
        ("major_2", made(bfd(major=2)), "unsupported_version", "open"),
        ("cut_last_byte", made(bfd())[:-1], "file_length", "open"),
        ("trailing_bytes", made(bfd(trailing=b"\0")), "trailing_bytes", "open"),
        ("segments_misaligned", made(bfd(), _set(2, offset=8192 + 8)), "section_misaligned", "open"),
        # -- 11.4 step 1 -------------------------------------------------------------
        ("tokens_section", made(bfd(), _dataset_section(1)), "bad_plan", "open"),
        ("doc_offsets_section", made(bfd(), _dataset_section(2)), "bad_plan", "open"),
        ("loss_mask_not_required", made(bfd(), _dataset_section(3, flags=0)), "bad_plan", "open"),
        ("tokens_section_on_contiguous",
         contiguous(sections_edit=_dataset_section(1)), "bad_plan", "open"),
        ("dataset_kind_before_unknown_required", made(bfd(), lambda s: (
            _dataset_section(3, flags=0)(s), s.append(Section(0x80000000, 0, b"x", 1)))),
         "bad_plan", "open"),
        ("unknown_required_before_dataset_kind", made(bfd(), lambda s: (
            s.insert(1, Section(0x80000000, 0, b"x", 1)), _dataset_section(3, at=-1)(s))),
         "unknown_required_section", "open"),
        ("unknown_required_private", made(bfd(), lambda s: s.append(Section(0x80000000, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_kind_5", made(bfd(), lambda s: s.append(Section(5, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_kind_0", made(bfd(), lambda s: s.append(Section(0, 0, b"x", 1))),
         "unknown_required_section", "open"),
        # Version 1.3, clarified in 1.4: kind 11 (DOC_SOURCES) is a dataset kind,
        # refused in a plan file whatever its flags (11, 11.4 step 1).
        ("doc_sources_section_required", made(bfd(), lambda s: s.append(Section(11, 2, b"\0\0", 1))),
         "bad_plan", "open"),
        ("doc_sources_section_optional", made(bfd(), lambda s: s.append(
            Section(11, 2, b"\0\0", 1, flags=0))), "bad_plan", "open"),
        ("doc_sources_before_unknown_required", made(bfd(), lambda s: (
            s.insert(1, Section(11, 2, b"\0\0", 1, flags=0)),
            s.append(Section(0x80000000, 0, b"x", 1)))), "bad_plan", "open"),
        ("unknown_required_before_doc_sources", made(bfd(), lambda s: (
            s.insert(1, Section(0x80000000, 0, b"x", 1)),
            s.append(Section(11, 2, b"\0\0", 1, flags=0)))), "unknown_required_section", "open"),
        ("doc_sources_on_contiguous", contiguous(sections_edit=lambda s: s.append(
            Section(11, 2, b"\0\0", 1, flags=0))), "bad_plan", "open"),
        ("metadata_codec_1", made(bfd(), _set(0, codec=1)), "unknown_codec", "open"),
        ("plan_rows_codec_1", made(bfd(), _set(1, codec=1)), "unknown_codec", "open"),
        ("metadata_dtype_u8", made(bfd(), _set(0, dtype=1)), "bad_dtype", "open"),
        ("plan_rows_dtype_u32", made(bfd(), _set(1, dtype=3)), "bad_dtype", "open"),
        ("plan_segments_dtype_bytes", made(bfd(), _set(2, dtype=0)), "bad_dtype", "open"),
        ("plan_segments_dtype_9", made(bfd(), _set(2, dtype=9)), "bad_dtype", "open"),
        ("duplicate_metadata", made(bfd(), lambda s: s.append(s[0])), "duplicate_section", "open"),
        ("duplicate_plan_rows", made(bfd(), lambda s: s.append(s[1])), "duplicate_section", "open"),
        ("codec_before_unknown_required", made(bfd(), lambda s: (
            _set(1, codec=1)(s), s.append(Section(0x80000000, 0, b"x", 1)))),
         "unknown_codec", "open"),
        ("contiguous_plan_rows_dtype",
         contiguous(sections_edit=lambda s: s.append(Section(6, 3, b"\0" * 4, 1))),
         "bad_dtype", "open"),
        # -- 11.4 step 2 -------------------------------------------------------------
        ("no_metadata", made(bfd(), lambda s: s.pop(0)), "missing_section", "open"),
        ("no_sections", write_plan([]), "missing_section", "open"),
        ("metadata_relabelled_optional", made(bfd(), _set(0, kind=0x80000001, flags=0)),
         "missing_section", "open"),
        ("step1_before_step2", made(bfd(), lambda s: (s.pop(0), _dataset_section(1)(s))),
         "bad_plan", "open"),
        ("metadata_count", made(bfd(), lambda s: setattr(s[0], "count", s[0].count - 1)),
         "section_length", "open"),
        ("metadata_count_before_json", made(bfd(meta=b"not json"),
                                            lambda s: setattr(s[0], "count", 3)),
         "section_length", "open"),
        # -- 11.4 step 3: bad_metadata ------------------------------------------------
        ("metadata_not_json", raw_meta("{"), "bad_metadata", "open"),
        ("metadata_array", raw_meta("[]"), "bad_metadata", "open"),
        ("metadata_5_4_duplicate_key", raw_meta(_plan_json()[:-1] + ', "w": 1, "w": 2}'),
         "bad_metadata", "open"),
        ("metadata_5_4_duplicate_key_in_plan",
         raw_meta(_plan_json().replace('"rows": 3', '"rows": 3, "rows": 3')), "bad_metadata", "open"),
        ("metadata_5_4_too_deep", raw_meta(_plan_json()[:-1] + ', "x": ' + "[" * 64 + "]" * 64 + "}"),
         "bad_metadata", "open"),
        ("metadata_5_4_huge_number", raw_meta(_plan_json()[:-1] + ', "x": 1e400}'),
         "bad_metadata", "open"),
        ("metadata_5_4_lone_surrogate", raw_meta(_plan_json()[:-1] + ', "x": "\\ud800"}'),
         "bad_metadata", "open"),
        ("file_absent", raw_meta(json.dumps({"plan": with_plan()})), "bad_metadata", "open"),
        ("file_dataset", made(bfd(meta=meta_of(with_plan(), file="dataset"))), "bad_metadata", "open"),
        ("file_null", made(bfd(meta=meta_of(with_plan(), file=None))), "bad_metadata", "open"),
        ("file_plan_upper", made(bfd(meta=meta_of(with_plan(), file="Plan"))), "bad_metadata", "open"),
        ("plan_absent", raw_meta('{"file": "plan"}'), "bad_metadata", "open"),
        ("plan_array", raw_meta('{"file": "plan", "plan": []}'), "bad_metadata", "open"),
        ("plan_null", raw_meta('{"file": "plan", "plan": null}'), "bad_metadata", "open"),
        ("dataset_id_upper", made(bfd(plan=with_plan(dataset_id=DATASET_ID.hex().upper()))),
         "bad_metadata", "open"),
        ("dataset_id_31_digits", made(bfd(plan=with_plan(dataset_id=DATASET_ID.hex()[:31]))),
         "bad_metadata", "open"),
        ("dataset_id_not_hex", made(bfd(plan=with_plan(dataset_id="g" * 32))), "bad_metadata", "open"),
        ("dataset_id_number", made(bfd(plan=with_plan(dataset_id=7))), "bad_metadata", "open"),
        ("dataset_id_absent", made(bfd(plan=with_plan(dataset_id=_DELETE))), "bad_metadata", "open"),
        ("seq_len_0", made(bfd(plan=with_plan(seq_len=0, padding_tokens=0, tokens=0))),
         "bad_metadata", "open"),
        ("seq_len_float", raw_meta(_plan_json().replace('"seq_len": 4', '"seq_len": 4.0')),
         "bad_metadata", "open"),
        ("seq_len_exponent", raw_meta(_plan_json().replace('"seq_len": 4', '"seq_len": 4e0')),
         "bad_metadata", "open"),
        ("seq_len_string", made(bfd(plan=with_plan(seq_len="4"))), "bad_metadata", "open"),
        ("seq_len_bool", made(bfd(plan=with_plan(seq_len=True))), "bad_metadata", "open"),
        ("rows_negative", made(bfd(plan=with_plan(rows=-3))), "bad_metadata", "open"),
        ("split_documents_minus_zero",
         raw_meta(_plan_json().replace('"split_documents": 0', '"split_documents": -0')),
         "bad_metadata", "open"),
        ("dataset_tokens_2_64", raw_meta(_plan_json().replace('"dataset_tokens": 8',
                                                              '"dataset_tokens": 18446744073709551616')),
         "bad_metadata", "open"),
        ("truncated_tokens_absent", made(bfd(plan=with_plan(truncated_tokens=_DELETE))),
         "bad_metadata", "open"),
        ("split_documents_absent", made(bfd(plan=with_plan(split_documents=_DELETE))),
         "bad_metadata", "open"),
        ("padding_tokens_null", made(bfd(plan=with_plan(padding_tokens=None))), "bad_metadata", "open"),
        ("strategy_unknown", made(bfd(plan=with_plan(strategy="best_fit"))), "bad_metadata", "open"),
        ("strategy_dash", made(bfd(plan=with_plan(strategy="doc-aligned"))), "bad_metadata", "open"),
        ("strategy_absent", made(bfd(plan=with_plan(strategy=_DELETE))), "bad_metadata", "open"),
        ("long_docs_absent", made(bfd(plan=with_plan(long_docs=_DELETE))), "bad_metadata", "open"),
        ("long_docs_null", made(bfd(plan=with_plan(long_docs=None))), "bad_metadata", "open"),
        ("long_docs_unknown", made(bfd(plan=with_plan(long_docs="wrap"))), "bad_metadata", "open"),
        ("tail_absent", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=4, tail=None))), "bad_metadata", "open"),
        ("tail_unknown", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=4, tail="keep"))), "bad_metadata", "open"),
        # 11.1: of 5.4's top-level keys a plan file uses `file` and `writer` (string
        # or null); the others are the user's.
        ("writer_number", made(bfd(meta=meta_of(with_plan(), writer=5))), "bad_metadata", "open"),
        ("writer_list", made(bfd(meta=meta_of(with_plan(), writer=["w"]))), "bad_metadata", "open"),
        ("seq_len_2_24_plus_1", write_plan(plan_sections(
            info("contiguous", rows=0, tokens=0, seq_len=2**24 + 1, tail="drop"))),
         "bad_metadata", "open"),
        ("seq_len_2_24_plus_1_bfd", made(bfd(plan=with_plan(
            seq_len=2**24 + 1, padding_tokens=3 * (2**24 + 1) - 8))), "bad_metadata", "open"),
        # -- 11.4 step 3: bad_plan ----------------------------------------------------
        ("padding_tokens_wrong", made(bfd(plan=with_plan(padding_tokens=5))), "bad_plan", "open"),
        ("tokens_more_than_rows_times_l",
         made(bfd(plan=with_plan(tokens=13, padding_tokens=0))), "bad_plan", "open"),
        ("rows_times_l_overflows", made(bfd(plan=with_plan(
            rows=2**62, seq_len=4, tokens=8, padding_tokens=2**64 - 8))), "bad_plan", "open"),
        ("rows_times_l_overflows_contiguous", write_plan(plan_sections(dict(
            info("contiguous", rows=1, tokens=4, tail="drop"), rows=2**62,
            padding_tokens=0))), "bad_plan", "open"),
        ("bad_metadata_before_bad_plan",
         made(bfd(plan=with_plan(padding_tokens=5, strategy="x"))), "bad_metadata", "open"),
        ("bad_plan_padding_before_missing_rows",
         made(bfd(plan=with_plan(padding_tokens=5)), lambda s: s.pop(1)), "bad_plan", "open"),
        # -- 11.4 step 4 -------------------------------------------------------------
        ("contiguous_with_plan_rows", contiguous(sections_edit=lambda s: s.append(
            Section(6, 4, np.zeros(1, "<u8").tobytes(), 1))), "bad_plan", "open"),
        ("contiguous_with_plan_segments", contiguous(sections_edit=lambda s: s.append(
            Section(7, 4, b"", 0))), "bad_plan", "open"),
        # 11.1 / 11.4 step 4 (clarified in 1.4): a contiguous plan has no `sources`
        # key, whatever its value (a restricted contiguous view is never stored, 12.5).
        ("contiguous_with_sources", _contiguous_keys(sources=["web"]), "bad_plan", "open"),
        ("contiguous_with_sources_null", _contiguous_keys(sources=None), "bad_plan", "open"),
        ("contiguous_with_sources_ill_typed", _contiguous_keys(sources=5), "bad_plan", "open"),
        ("bad_metadata_before_contiguous_sources",
         _contiguous_keys(sources=["web"], tail="keep"), "bad_metadata", "open"),
        ("contiguous_sources_and_plan_rows", contiguous(sections_edit=lambda s: (
            s.append(Section(6, 4, np.zeros(1, "<u8").tobytes(), 1)),
            s.__setitem__(0, plan_sections(dict(info("contiguous", rows=1, tokens=4, tail="drop"),
                                                sources=["web"]))[0]))), "bad_plan", "open"),
        ("contiguous_with_optional_plan_rows", contiguous(sections_edit=lambda s: s.append(
            Section(6, 4, np.zeros(1, "<u8").tobytes(), 1, flags=0))), "bad_plan", "open"),
        ("contiguous_drop_rows_2", contiguous("drop", rows=2), "bad_plan", "open"),
        ("contiguous_pad_rows_1", contiguous("pad", rows=1), "bad_plan", "open"),
        ("contiguous_drop_rows_0", contiguous("drop", rows=0), "bad_plan", "open"),
        # 11.1: tokens = min(dataset_tokens, rows * L), truncated_tokens =
        # dataset_tokens - tokens, split_documents = 0 (checked at open, 11.4 step 4).
        ("contiguous_tokens_wrong", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=3, tail="drop", truncated=4))), "bad_plan", "open"),
        ("contiguous_tokens_0", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=0, tail="drop", truncated=8))), "bad_plan", "open"),
        ("contiguous_truncated_wrong", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=4, tail="drop", truncated=3))), "bad_plan", "open"),
        ("contiguous_truncated_0", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=4, tail="drop", truncated=0))), "bad_plan", "open"),
        ("contiguous_split_documents_1", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=4, tail="drop", split=1))), "bad_plan", "open"),
        ("contiguous_l7_pad_truncated_0", write_plan(plan_sections(
            info("contiguous", rows=1, tokens=7, seq_len=7, tail="pad", truncated=0))),
         "bad_plan", "open"),
        ("contiguous_row_count_before_tokens", write_plan(plan_sections(
            info("contiguous", rows=2, tokens=3, tail="drop", split=1))), "bad_plan", "open"),
        ("contiguous_l7_pad_rows_2", write_plan(plan_sections(
            info("contiguous", rows=2, tokens=8, seq_len=7, tail="pad"))), "bad_plan", "open"),
        # -- 11.4 step 5 -------------------------------------------------------------
        ("no_plan_rows", made(bfd(), lambda s: s.pop(1)), "missing_section", "open"),
        ("no_plan_segments", made(bfd(), lambda s: s.pop(2)), "missing_section", "open"),
        ("no_plan_sections_doc_aligned", write_plan(plan_sections(
            info("doc_aligned", rows=3, tokens=8))), "missing_section", "open"),
        ("plan_rows_length", made(bfd(), lambda s: setattr(s[1], "count", s[1].count + 1)),
         "section_length", "open"),
        ("plan_segments_length", made(bfd(), lambda s: setattr(s[2], "count", s[2].count - 1)),
         "section_length", "open"),
        ("plan_segments_count_overflow", made(bfd(), _set(2, count=2**61)),
         "section_length", "open"),
        ("missing_before_length", made(bfd(), lambda s: (
            setattr(s[1], "count", 99), s.pop(2))), "missing_section", "open"),
        ("plan_rows_count", made(bfd(plan=with_plan(rows=2, padding_tokens=0))),
         "count_mismatch", "open"),
        ("plan_segments_odd", made(bfd(), lambda s: (
            setattr(s[2], "body", s[2].body + np.zeros(1, "<u8").tobytes()),
            setattr(s[2], "count", s[2].count + 1))), "count_mismatch", "open"),
        ("length_before_count", made(bfd(plan=with_plan(rows=2, padding_tokens=0)),
                                     lambda s: setattr(s[2], "count", 99)),
         "section_length", "open"),
        ("first_row_not_0", made(bfd(bounds=[1, 1, 2, 3])), "bad_plan", "open"),
        ("last_row_not_segments", made(bfd(bounds=[0, 1, 2, 2])), "bad_plan", "open"),
        ("last_row_huge", made(bfd(bounds=[0, 1, 2, 2**64 - 1])), "bad_plan", "open"),
        ("count_before_ends", made(bfd(bounds=[1, 1, 2, 3]), lambda s: (
            setattr(s[2], "body", s[2].body + np.zeros(1, "<u8").tobytes()),
            setattr(s[2], "count", s[2].count + 1))), "count_mismatch", "open"),
        # -- 11.5 ------------------------------------------------------------------------
        ("checksum_metadata", made(bfd(), _set(0, crc32=0)), "section_checksum", "verify"),
        ("checksum_plan_segments", made(bfd(), _set(2, crc32=1)), "section_checksum", "verify"),
        ("checksum_contiguous", contiguous(sections_edit=_set(0, crc32=1)), "section_checksum", "verify"),
        ("checksum_unknown_optional", made(bfd(), lambda s: s.append(
            Section(0x80000001, 0, b"x", 1, flags=0, crc32=0))), "section_checksum", "verify"),
        ("checksum_before_bad_rows", made(bfd(bounds=[0, 2, 1, 3]), _set(1, crc32=1)),
         "section_checksum", "verify"),
        ("padding_not_zero", _poke(made(bfd()), _metadata_end(made(bfd())) + 10),
         "padding_not_zero", "verify"),
        ("padding_after_table", _poke(made(bfd()), 4095), "padding_not_zero", "verify"),
        ("rows_decreasing", made(bfd(bounds=[0, 2, 1, 3])), "bad_plan", "verify"),
        ("segment_empty", made(bfd(rows=[[(0, 3)], [(3, 3), (7, 0)], [(6, 2)]])), "bad_plan", "verify"),
        ("segment_past_end", made(bfd(rows=[[(0, 3)], [(3, 3)], [(7, 2)]], plan=with_plan())),
         "bad_plan", "verify"),
        ("segment_start_past_end", made(bfd(rows=[[(0, 3)], [(3, 3)], [(9, 2)]], plan=with_plan())),
         "bad_plan", "verify"),
        ("segment_end_overflows", made(bfd(rows=[[(0, 3)], [(3, 3)], [(2**64 - 1, 2)]],
                                           plan=with_plan())), "bad_plan", "verify"),
        ("row_longer_than_l", made(bfd(rows=[[(0, 3), (6, 2)], [(3, 3)]],
                                       plan=with_plan(rows=2, padding_tokens=0))),
         "bad_plan", "verify"),
        ("tokens_not_sum", made(bfd(plan=with_plan(tokens=7, padding_tokens=5))), "bad_plan", "verify"),
        ("rows_decreasing_before_empty_segment", made(bfd(
            rows=[[(0, 3)], [(3, 3), (7, 0)], [(6, 2)]], bounds=[0, 3, 1, 4])), "bad_plan", "verify"),
        # -- 11.4 binding and 11.5 with the dataset -----------------------------------
        ("wrong_dataset_id", made(bfd(plan=with_plan(dataset_id="ff" * 16))), "wrong_dataset", "against"),
        ("wrong_dataset_tokens", made(bfd(plan=with_plan(dataset_tokens=9))), "wrong_dataset", "against"),
        ("wrong_dataset_documents", made(bfd(plan=with_plan(dataset_documents=3))),
         "wrong_dataset", "against"),
        ("wrong_dataset_contiguous", write_plan(plan_sections(dict(
            info("contiguous", rows=1, tokens=4, tail="drop"), dataset_id="00" * 16))),
         "wrong_dataset", "against"),
        ("segment_crosses_documents", made(bfd(rows=[[(1, 3)], [(4, 3)], [(0, 1), (7, 1)]])),
         "bad_plan", "against"),
        ("segment_crosses_empty_document", made(bfd(rows=[[(2, 2)], [(4, 2)], [(0, 2), (6, 2)]])),
         "bad_plan", "against"),
    ]
    return cases


#: Row reads of unverified plans (11.4, last paragraph): (name, plan bytes, row, code).
def invalid_rows():
    return [
        ("rows_decreasing", made(bfd(bounds=[0, 2, 1, 3])), 1, "bad_plan"),
        ("rows_decreasing_row_0_too_long", made(bfd(bounds=[0, 2, 1, 3])), 0, "bad_plan"),
        ("row_past_segments", made(bfd(bounds=[0, 5, 2, 3])), 0, "bad_plan"),
        ("row_huge_end", made(bfd(bounds=[0, 2**64 - 1, 2, 3])), 0, "bad_plan"),
        ("segment_past_end", made(bfd(rows=[[(0, 3)], [(3, 3)], [(7, 2)]])), 2, "bad_plan"),
        ("segment_start_past_end", made(bfd(rows=[[(0, 3)], [(3, 3)], [(9, 1)]])), 2, "bad_plan"),
        ("segment_end_overflows", made(bfd(rows=[[(0, 3)], [(3, 3)], [(2**64 - 1, 2)]],
                                           plan=with_plan())), 2, "bad_plan"),
        ("row_longer_than_l", made(bfd(rows=[[(0, 3), (6, 2)], [(3, 3)]],
                                       plan=with_plan(rows=2, padding_tokens=0))), 0, "bad_plan"),
        ("row_lengths_wrap_around", made(bfd(rows=[[(0, 3)], [(3, 3)], [(6, 2), (0, 2**64 - 1)]],
                                             plan=with_plan())), 2, "bad_plan"),
        # 11.3: every length >= 1. The row checks of 11.4 do not list it; this reader
        # (and `tokpack row`) refuse the row anyway.
        ("segment_empty", made(bfd(rows=[[(0, 3)], [(3, 3), (7, 0)], [(6, 2)]])), 1, "bad_plan"),
    ]


def _metadata_end(data: bytes) -> int:
    """Where the first section (METADATA) ends: the padding after it follows."""
    offset = int.from_bytes(data[64 + 8 : 64 + 16], "little")
    return offset + int.from_bytes(data[64 + 16 : 64 + 24], "little")


def _poke(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] = 0x55
    return bytes(out)
