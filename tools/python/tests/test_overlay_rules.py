"""Overlay files (spec 13): one test per rule of 13.2 / 13.3 / the bindings / the row
checks, on files from the spec-derived writer (``overlay_catalog.py``), plus the public
``Overlay`` and damaged files."""

import zlib

import numpy as np
import pytest

import overlay_catalog as cat
import tokpack
from tokpack.mapping import is_mapped

DATASET = tokpack.Dataset.from_buffer(cat.dataset_bytes())
INVALID = cat.invalid_overlays()


def view(*overlays, **kwargs):
    return tokpack.Rows(DATASET, cat.L, overlays=overlays, **kwargs)


def _params(stage):
    return [pytest.param(d, c, id=n) for n, d, c, s in INVALID if s == stage]


@pytest.mark.parametrize("name,data", [pytest.param(n, d, id=n) for n, d in cat.valid_overlays()])
def test_valid_overlay_opens_verifies_and_binds(name, data):
    ov = tokpack.Overlay.from_buffer(data)
    ov.verify()
    rows = view(ov)
    plain = view()
    assert len(rows) == len(plain) == ov.num_rows
    for i in range(len(rows)):
        got, base = rows.row(i), plain.row(i)
        # 13.4 step 3: runs never change.
        assert got["position_ids"].tolist() == base["position_ids"].tolist()
        assert got["cu_seqlens"].tolist() == base["cu_seqlens"].tolist()
    export = ov.export_rows()
    assert sum(len(v) for v in export.values()) == ov.num_insertions


@pytest.mark.parametrize("data,code", _params("open"))
def test_open_refuses(data, code):
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Overlay.from_buffer(data)
    assert info.value.code == code, str(info.value)


@pytest.mark.parametrize("data,code", _params("verify"))
def test_verify_refuses(data, code):
    ov = tokpack.Overlay.from_buffer(data)
    with pytest.raises(tokpack.TokpackError) as info:
        ov.verify()
    assert info.value.code == code, str(info.value)


@pytest.mark.parametrize("data,code", _params("bind"))
def test_binding_refuses(data, code):
    ov = tokpack.Overlay.from_buffer(data)
    ov.verify()
    with pytest.raises(tokpack.TokpackError) as info:
        view(ov)
    assert info.value.code == code, str(info.value)
    with pytest.raises(tokpack.TokpackError) as info:
        ov.check_binding(DATASET, view())
    assert info.value.code == code
    if code == "wrong_dataset":
        # The message names both ids.
        assert DATASET.dataset_id.hex() in str(info.value)
        assert ov.dataset_id.hex() in str(info.value)
    else:
        ov.check_dataset(DATASET)


@pytest.mark.parametrize("data,row,code", [pytest.param(d, r, c, id=n) for n, d, r, c in cat.invalid_rows()])
def test_row_through_unverified_overlay_is_checked(data, row, code):
    ov = tokpack.Overlay.from_buffer(data)
    rows = view(ov)
    with pytest.raises(tokpack.TokpackError) as info:
        rows.row(row)
    assert info.value.code == code, str(info.value)
    with pytest.raises(tokpack.TokpackError):
        ov.verify()
    # Rows without an insertion of the broken kind read as usual.
    for other in range(len(rows)):
        if ov.range_of(other * cat.L, other * cat.L + cat.L) == (0, 0) or other == row:
            continue
        try:
            rows.row(other)
        except tokpack.TokpackError:
            pass


def test_the_catalogue_covers_every_overlay_rule():
    codes = {(c, s) for _, _, c, s in INVALID}
    for code in ("bad_overlay", "unknown_required_section", "unknown_codec", "bad_dtype",
                 "duplicate_section", "missing_section", "section_length", "bad_metadata",
                 "count_mismatch", "vocab_dtype"):
        assert (code, "open") in codes, code
    for code in ("section_checksum", "padding_not_zero", "bad_overlay", "insertion_overlap"):
        assert (code, "verify") in codes, code
    assert ("wrong_dataset", "bind") in codes and ("wrong_view", "bind") in codes
    names = [n for n, *_ in INVALID] + [n for n, _ in cat.valid_overlays()]
    assert len(names) == len(set(names))


# -- the public Overlay ---------------------------------------------------------------


@pytest.fixture
def opened(tmp_path):
    path = tmp_path / "overlay.tpk"
    path.write_bytes(cat.made())
    return tokpack.open_overlay(path)


def test_overlay_properties(opened):
    ov = opened
    assert ov.info == cat.info()
    assert ov.metadata["file"] == "overlay" and ov.metadata["overlay"] is ov.info
    assert (ov.num_insertions, len(ov), ov.num_tokens) == (4, 4, 12)
    assert (ov.seq_len, ov.num_rows, ov.plan_id, ov.vocab_size) == (8, 4, None, 300)
    assert (ov.dataset_id, ov.dataset_tokens, ov.dataset_documents) == (cat.DATASET_ID, 40, 5)
    assert ov.dtype == "u16" and ov.version == (1, 2)
    assert ov.writer == "tokpack-python tests"
    assert ov.file_id == bytes(range(32, 48))
    assert [s["name"] for s in ov.sections] == [
        "metadata", "ins_positions", "ins_offsets", "ins_tokens", "ins_flags"]
    assert all(s["known"] for s in ov.sections)
    assert "4 insertions" in repr(ov)


def test_arrays_are_zero_copy_typed_views(opened):
    ov = opened
    for array, dtype in ((ov.positions, "<u8"), (ov.payload_offsets, "<u8"),
                         (ov.tokens, "<u2"), (ov.flags, "u1")):
        assert type(array) is np.ndarray and is_mapped(array)
        assert array.dtype == np.dtype(dtype)
        assert not array.flags.writeable
    assert ov.positions.tolist() == [2, 15, 16, 30]
    assert ov.payload_offsets.tolist() == [0, 2, 3, 11, 12]
    assert ov.tokens.tolist() == [7, 8, 299, 1, 2, 3, 4, 5, 6, 7, 8, 5]
    assert ov.flags.tolist() == [1, 0, 1, 1]
    assert ov.lengths().tolist() == [2, 1, 8, 1]


def test_insertion_and_range_of(opened):
    ov = opened
    ins = ov.insertion(2)
    assert (ins.position, ins.tokens.tolist(), ins.target) == (16, [1, 2, 3, 4, 5, 6, 7, 8], True)
    assert np.shares_memory(ins.tokens, ov.tokens)
    assert ov.insertion(1).target is False
    assert ov.insertion(-1).position == 30
    for bad in (4, -5):
        with pytest.raises(IndexError):
            ov.insertion(bad)
    assert ov.range_of(0, 8) == (0, 1)
    assert ov.range_of(8, 16) == (1, 2)
    assert ov.range_of(16, 17) == (2, 3)
    assert ov.range_of(17, 30) == (3, 3)
    assert ov.range_of(0, 2**70) == (0, 4)
    assert ov.range_of(31, 31) == (4, 4)
    with pytest.raises(ValueError):
        ov.range_of(5, 4)


def test_insertion_checks_an_unverified_file():
    for ins, edit, k in (
        ([(32, [1], 1)], None, 0),  # past the view
        ([(7, [1, 2], 1)], None, 0),  # crosses the row end
        ([(2, [1, 300], 1)], None, 0),  # token out of range
        (cat.INSERTIONS, cat._body(2, [0, 2, 2, 11, 12]), 1),  # empty payload
    ):
        ov = tokpack.Overlay.from_buffer(cat.made(ins, edit=edit))
        with pytest.raises(tokpack.TokpackError) as info:
            ov.insertion(k)
        assert info.value.code == "bad_overlay"
        with pytest.raises(tokpack.TokpackError):
            ov.export_rows()


def test_export_rows_is_13_5(opened):
    assert opened.export_rows() == {
        "0": [[2, [7, 8]]],
        "1": [[7, [299]]],
        "2": [[0, [1, 2, 3, 4, 5, 6, 7, 8]]],
        "3": [[6, [5]]],
    }
    assert list(opened.export_rows()) == ["0", "1", "2", "3"]
    assert tokpack.Overlay.from_buffer(cat.made([])).export_rows() == {}


def test_binding_api(opened):
    rows = view()
    opened.check_binding(DATASET, rows)
    assert rows.plan_id is None
    with pytest.raises(tokpack.TokpackError) as info:
        opened.check_view(tokpack.Rows(DATASET, cat.L, tail="pad"))
    assert info.value.code == "wrong_view" and "5 rows" in str(info.value)
    other = tokpack.Dataset.from_buffer(
        cat.write(cat.dataset_sections(cat.DOCS, cat.VOCAB, cat.MASKS), dataset_id=b"\1" * 16))
    with pytest.raises(tokpack.TokpackError) as info:
        opened.check_dataset(other)
    assert info.value.code == "wrong_dataset"


def test_vocab_size_is_part_of_the_binding():
    # 13.2: the dataset binding includes vocab_size; the message names both.
    ov = tokpack.Overlay.from_buffer(cat.made([(2, [500], 1)], vocab_size=1000))
    ov.verify()
    with pytest.raises(tokpack.TokpackError) as info:
        view(ov)
    assert info.value.code == "wrong_dataset"
    assert "vocab_size 1000" in str(info.value) and "vocab_size 300" in str(info.value)


def test_a_dataset_is_not_an_overlay_and_an_overlay_not_a_dataset_or_plan():
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Overlay.from_buffer(cat.dataset_bytes())
    assert info.value.code == "bad_overlay"  # 13.2 step 1: kind 1 in an overlay file
    # 6.1: kinds 5, 8, 9, 10 are unknown (and required) in a dataset file; 11.4: and in
    # a plan file.
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Dataset.from_buffer(cat.made())
    assert info.value.code == "unknown_required_section"
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Plan.from_buffer(cat.made())
    assert info.value.code == "unknown_required_section"
    # Not required: skipped, and then TOKENS / the plan object is missing.
    loose = cat.made(edit=lambda s: [setattr(x, "flags", 0) for x in s])
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Dataset.from_buffer(loose)
    assert info.value.code == "missing_section"
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Plan.from_buffer(loose)
    assert info.value.code == "bad_metadata"


def test_open_overlay_errors(tmp_path):
    with pytest.raises(OSError):
        tokpack.open_overlay(tmp_path / "absent.tpk")
    empty = tmp_path / "empty.tpk"
    empty.write_bytes(b"")
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.open_overlay(empty)
    assert info.value.code == "truncated"


def test_overlay_metadata_numbers_follow_5_4():
    import json

    meta = json.dumps({"file": "overlay", "overlay": cat.info(), "u": [1e30, 18446744073709551617]})
    ov = tokpack.Overlay.from_buffer(cat.raw_meta(meta))
    assert ov.metadata["u"] == [1e30, float(2**64)]
    assert type(ov.info["rows"]) is int


def test_verify_is_chunked_and_finds_the_first_bad_insertion(monkeypatch):
    # Small chunks: the checks that look at the next insertion work across a chunk
    # boundary, and the first insertion with a problem is the one reported.
    from tokpack.format import overlay_sections

    monkeypatch.setattr(overlay_sections, "CHUNK", 2)
    ins = [(0, [1], 1), (2, [2], 1), (3, [3, 4], 1), (4, [5], 1), (9, [300], 1)]
    ov = tokpack.Overlay.from_buffer(cat.made(ins))
    with pytest.raises(tokpack.TokpackError) as info:
        ov.verify()
    assert info.value.code == "insertion_overlap"
    assert "position 4 (length 1)" in str(info.value) and "at 3 (length 2)" in str(info.value)
    ov = tokpack.Overlay.from_buffer(cat.made(cat.INSERTIONS))
    ov.verify()
    ov = tokpack.Overlay.from_buffer(cat.made([(0, [1], 1), (2, [2], 1), (3, [300], 1), (6, [1], 2)]))
    with pytest.raises(tokpack.TokpackError) as info:
        ov.verify()
    assert info.value.code == "bad_overlay" and "INS_TOKENS[2]" in str(info.value)


# -- damaged overlay files: TokpackError or success, never another exception ----------


def _use(data: bytes) -> None:
    ov = tokpack.Overlay.from_buffer(data)
    try:
        rows = view(ov)
    except tokpack.TokpackError:
        rows = None
    for k in range(min(len(ov), 16)):
        try:
            ov.insertion(k)
        except tokpack.TokpackError:
            pass
    if rows is not None:
        for r in range(len(rows)):
            try:
                rows.row(r)
            except tokpack.TokpackError:
                pass
    ov.verify()
    ov.export_rows()


def test_every_truncation_is_refused():
    data = cat.made()
    for size in list(range(0, 200)) + list(range(200, len(data), 97)):
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.Overlay.from_buffer(data[:size])
        assert info.value.code == ("truncated" if size < 64 else "file_length"), size


@pytest.mark.parametrize("seed", range(4))
def test_random_damage_raises_only_tokpack_errors(seed):
    rng = np.random.default_rng(seed)
    base = cat.made()
    # The table, the metadata and the four INS sections.
    spots = list(range(64, 64 + 5 * 64)) + list(range(4096, 4096 + 260)) + \
        [page * 4096 + k for page in range(2, 6) for k in range(40)]
    spots = [s for s in spots if s < len(base)]
    for _ in range(150):
        data = bytearray(base)
        for at in rng.choice(spots, size=int(rng.integers(1, 4))):
            data[at] = int(rng.integers(0, 256)) if rng.random() < 0.5 else data[at] ^ (1 << int(rng.integers(0, 8)))
        try:
            _use(_refresh(bytes(data)))
        except tokpack.TokpackError:
            pass


def _refresh(data: bytes) -> bytes:
    """Recompute every CRC so that damage reaches the later checks."""
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
