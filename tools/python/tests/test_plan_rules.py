"""Plan files (spec 11): one test per rule of 11.4 / 11.5 and of the row checks, on
files from the spec-derived writer (``plan_catalog.py``), plus the public ``Plan``."""

import json
import zlib

import numpy as np
import pytest

import plan_catalog
import tokpack
from tokpack.mapping import is_mapped
from spec_writer import (
    Section,
    dataset_sections,
    plan_info,
    plan_sections,
    rows_to_plan,
    write,
    write_plan,
)

DATASET = tokpack.Dataset.from_buffer(plan_catalog.dataset_bytes())
INVALID = plan_catalog.invalid_plans()


def _params(stage):
    return [pytest.param(d, c, id=n) for n, d, c, s in INVALID if s == stage]


@pytest.mark.parametrize("name,data", [pytest.param(n, d, id=n) for n, d in plan_catalog.valid_plans()])
def test_valid_plan_opens_verifies_and_reads(name, data):
    plan = tokpack.Plan.from_buffer(data)
    plan.verify()
    plan.verify_against(DATASET)
    rows = tokpack.Rows(DATASET, plan=plan)
    assert len(rows) == plan.num_rows
    for i in range(len(rows)):
        row = rows.row(i)
        assert len(row["input_ids"]) == plan.seq_len


@pytest.mark.parametrize("data,code", _params("open"))
def test_open_refuses(data, code):
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Plan.from_buffer(data)
    assert info.value.code == code, str(info.value)


@pytest.mark.parametrize("data,code", _params("verify"))
def test_verify_refuses(data, code):
    plan = tokpack.Plan.from_buffer(data)
    with pytest.raises(tokpack.TokpackError) as info:
        plan.verify()
    assert info.value.code == code, str(info.value)
    with pytest.raises(tokpack.TokpackError) as info:
        plan.verify_against(DATASET)
    assert info.value.code == code, str(info.value)


@pytest.mark.parametrize("data,code", _params("against"))
def test_verify_against_refuses(data, code):
    plan = tokpack.Plan.from_buffer(data)
    plan.verify()
    with pytest.raises(tokpack.TokpackError) as info:
        plan.verify_against(DATASET)
    assert info.value.code == code, str(info.value)
    if code == "wrong_dataset":
        # 11.4: using a plan with a dataset checks the binding; the message names both ids.
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.Rows(DATASET, plan=plan)
        assert info.value.code == "wrong_dataset"
        assert DATASET.dataset_id.hex() in str(info.value)
        assert plan.dataset_id.hex() in str(info.value)
        with pytest.raises(tokpack.TokpackError):
            plan.check_dataset(DATASET)
    else:
        plan.check_dataset(DATASET)


@pytest.mark.parametrize(
    "data,row,code", [pytest.param(d, r, c, id=n) for n, d, r, c in plan_catalog.invalid_rows()])
def test_row_of_unverified_plan_is_checked(data, row, code):
    plan = tokpack.Plan.from_buffer(data)
    rows = tokpack.Rows(DATASET, plan=plan)
    with pytest.raises(tokpack.TokpackError) as info:
        rows.row(row)
    assert info.value.code == code, str(info.value)
    with pytest.raises(tokpack.TokpackError) as info:
        plan.row_segments(row)
    assert info.value.code == code
    with pytest.raises(tokpack.TokpackError) as info:
        plan.verify()
    assert info.value.code == "bad_plan"


def test_a_segment_across_documents_is_read_without_verify():
    # 11.4's row checks do not look at documents (11.5 with the dataset does): the
    # row reads as 12.2 says, across the boundary.
    name, data, _, _ = next(c for c in INVALID if c[0] == "segment_crosses_documents")
    row = tokpack.Rows(DATASET, plan=tokpack.Plan.from_buffer(data)).row(0)
    assert row["input_ids"].tolist() == [2, 3, 4, 0]
    # Token 3 (the first of document 2) has mask bit 0; the last token of the segment
    # has no target.
    assert row["labels"].tolist() == [3, -100, -100, -100]


def test_the_catalogue_covers_every_plan_rule():
    codes = {(c, s) for _, _, c, s in INVALID}
    for code in ("bad_plan", "unknown_required_section", "unknown_codec", "bad_dtype",
                 "duplicate_section", "missing_section", "section_length", "bad_metadata",
                 "count_mismatch"):
        assert (code, "open") in codes, code
    for code in ("section_checksum", "padding_not_zero", "bad_plan"):
        assert (code, "verify") in codes, code
    assert ("wrong_dataset", "against") in codes and ("bad_plan", "against") in codes
    names = [n for n, *_ in INVALID] + [n for n, _ in plan_catalog.valid_plans()]
    assert len(names) == len(set(names))


# -- the public Plan ----------------------------------------------------------------


def _bfd_plan(tmp_path):
    path = tmp_path / "plan.tpk"
    path.write_bytes(plan_catalog.made(plan_catalog.bfd()))
    return tokpack.open_plan(path)


def test_plan_properties(tmp_path):
    plan = _bfd_plan(tmp_path)
    assert plan.info == plan_catalog.info(rows=3, tokens=8)
    assert plan.metadata["file"] == "plan" and plan.metadata["plan"] is plan.info
    assert (plan.strategy, plan.seq_len, plan.long_docs, plan.tail) == ("bfd", 4, "split", None)
    assert (plan.num_rows, len(plan), plan.num_segments) == (3, 3, 3)
    assert plan.dataset_id == plan_catalog.DATASET_ID
    assert (plan.dataset_tokens, plan.dataset_documents) == (8, 4)
    assert (plan.tokens, plan.padding_tokens, plan.truncated_tokens, plan.split_documents) == (8, 4, 0, 0)
    assert plan.version == (1, 1)
    assert plan.file_id == bytes(range(16, 32))
    assert [s["name"] for s in plan.sections] == ["metadata", "plan_rows", "plan_segments"]
    assert all(s["known"] for s in plan.sections)
    assert plan.sections[1]["dtype"] == "u64"
    assert "bfd" in repr(plan)


def test_rows_and_segments_are_zero_copy_views(tmp_path):
    plan = _bfd_plan(tmp_path)
    assert type(plan.rows) is np.ndarray and type(plan.segments) is np.ndarray
    assert is_mapped(plan.rows) and is_mapped(plan.segments)
    assert plan.rows.dtype == np.dtype("<u8") and plan.segments.dtype == np.dtype("<u8")
    assert not plan.rows.flags.writeable and not plan.segments.flags.writeable
    assert plan.rows.tolist() == [0, 1, 2, 3]
    assert plan.segments.shape == (3, 2)
    assert plan.segments.tolist() == [[0, 3], [3, 3], [6, 2]]
    starts, lengths = plan.row_segments(2)
    assert (starts.tolist(), lengths.tolist()) == ([6], [2])
    assert np.shares_memory(starts, plan.segments)
    assert plan.row_segments(-1)[0].tolist() == [6]
    for bad in (3, -4):
        with pytest.raises(IndexError):
            plan.row_segments(bad)


def test_contiguous_plan_has_empty_arrays():
    plan = tokpack.Plan.from_buffer(plan_catalog.contiguous("pad"))
    assert plan.rows.shape == (0,) and plan.segments.shape == (0, 2)
    assert plan.rows.dtype == np.dtype("<u8") and plan.segments.dtype == np.dtype("<u8")
    assert (plan.strategy, plan.tail, plan.long_docs, plan.num_rows) == ("contiguous", "pad", None, 2)
    assert plan.row_segments(1)[0].shape == (0,)
    plan.verify_against(DATASET)


def test_a_dataset_is_not_a_plan_and_a_plan_not_a_dataset(tmp_path):
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Plan.from_buffer(plan_catalog.dataset_bytes())
    assert info.value.code == "bad_plan"  # 11.4 step 1: kind 1 in a plan file
    # 6.1: kinds 6 and 7 are unknown (and required) in a dataset file; a contiguous
    # plan has only METADATA, so TOKENS is missing.
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Dataset.from_buffer(plan_catalog.made(plan_catalog.bfd()))
    assert info.value.code == "unknown_required_section"
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Dataset.from_buffer(plan_catalog.contiguous())
    assert info.value.code == "missing_section"


def test_open_plan_errors(tmp_path):
    with pytest.raises(OSError):
        tokpack.open_plan(tmp_path / "absent.tpk")
    empty = tmp_path / "empty.tpk"
    empty.write_bytes(b"")
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.open_plan(empty)
    assert info.value.code == "truncated"


def test_verify_against_checks_the_dataset_offsets_first():
    # Finding a segment's document needs ordered offsets: a dataset whose offsets
    # decrease is reported as such (6.2 step 3), not misread.
    sections = dataset_sections(plan_catalog.DOCS, 300, plan_catalog.MASKS)
    sections[1].body = np.asarray([0, 3, 6, 3, 8], "<u8").tobytes()
    bad = tokpack.Dataset.from_buffer(write(sections, dataset_id=plan_catalog.DATASET_ID))
    plan = tokpack.Plan.from_buffer(plan_catalog.made(plan_catalog.bfd()))
    with pytest.raises(tokpack.TokpackError) as info:
        plan.verify_against(bad)
    assert info.value.code == "bad_doc_offsets"


def test_plan_metadata_numbers_follow_5_4():
    meta = json.dumps({"file": "plan", "plan": plan_catalog.with_plan(), "u": [-0, 1e30]})
    plan = tokpack.Plan.from_buffer(plan_catalog.raw_meta(meta.replace("[0,", "[-0,")))
    assert plan.metadata["u"][0] == 0.0 and str(plan.metadata["u"][0]) == "-0.0"
    assert type(plan.info["rows"]) is int


# -- damaged plan files: TokpackError or success, never another exception --------------


def _use(data: bytes) -> None:
    plan = tokpack.Plan.from_buffer(data)
    try:
        rows = tokpack.Rows(DATASET, plan=plan)
    except tokpack.TokpackError:
        rows = None
    for r in range(min(plan.num_rows, 64)):
        try:
            plan.row_segments(r)
            if rows is not None:
                rows.row(r)
        except tokpack.TokpackError:
            pass
    plan.verify()
    plan.verify_against(DATASET)


def test_every_truncation_is_refused():
    data = plan_catalog.made(plan_catalog.bfd())
    for size in list(range(0, 200)) + list(range(200, len(data), 97)):
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.Plan.from_buffer(data[:size])
        assert info.value.code == ("truncated" if size < 64 else "file_length"), size


@pytest.mark.parametrize("seed", range(4))
def test_random_damage_raises_only_tokpack_errors(seed):
    rng = np.random.default_rng(seed)
    base = plan_catalog.made(plan_catalog.bfd(rows=[[(0, 3)], [(3, 3)], [(6, 1), (7, 1)]]))
    # Bytes worth damaging: the table, the metadata and the two plan sections.
    spots = list(range(64, 64 + 3 * 64)) + list(range(4096, 4096 + 300)) + \
        list(range(8192, 8192 + 32)) + list(range(12288, 12288 + 64))
    for _ in range(150):
        data = bytearray(base)
        for at in rng.choice(spots, size=int(rng.integers(1, 4))):
            data[at] = int(rng.integers(0, 256)) if rng.random() < 0.5 else data[at] ^ (1 << int(rng.integers(0, 8)))
        data = _refresh(bytes(data))
        try:
            _use(data)
        except tokpack.TokpackError:
            pass


def _refresh(data: bytes) -> bytes:
    """Recompute every CRC (header, table, sections) so that damage reaches the
    later checks."""
    out = bytearray(data)
    count = min(int.from_bytes(out[48:52], "little"), 8)
    for i in range(count):
        entry = 64 + 64 * i
        offset = int.from_bytes(out[entry + 8 : entry + 16], "little")
        length = int.from_bytes(out[entry + 16 : entry + 24], "little")
        if offset + length <= len(out):
            out[entry + 32 : entry + 36] = zlib.crc32(bytes(out[offset : offset + length])).to_bytes(4, "little")
    table = bytes(out[64 : 64 + 64 * int.from_bytes(out[48:52], "little")])
    out[52:56] = zlib.crc32(table).to_bytes(4, "little")
    out[60:64] = zlib.crc32(bytes(out[:60])).to_bytes(4, "little")
    return bytes(out)
