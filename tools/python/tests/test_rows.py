"""Training rows (spec 12) on small datasets worked out by hand, the API of
``tokpack.Rows``, and the numpy recipe of spec 12.4 against this reader."""

import pathlib
import re

import numpy as np
import pytest

import tokpack
from spec_planner import make_plan, random_documents
from spec_writer import dataset_sections, write

ROOT = pathlib.Path(__file__).resolve().parents[3]
DID = bytes(range(16))

# tokens 10..19; offsets [0, 3, 3, 5, 9, 10]; mask bits [1 1 0 | 1 1 | 0 1 1 1 | 1].
DOCS = [[10, 11, 12], [], [13, 14], [15, 16, 17, 18], [19]]
MASKS = [[1, 1, 0], [], [1, 1], [0, 1, 1, 1], [1]]


def dataset(meta=None, docs=DOCS, masks=MASKS, vocab_size=100):
    metadata = {"vocab_size": vocab_size, **(meta or {})}
    return tokpack.Dataset.from_buffer(
        write(dataset_sections(docs, vocab_size, masks, metadata=metadata), dataset_id=DID))


def plan_for(ds, docs, seq_len, strategy, **kwargs):
    spec = make_plan([len(d) for d in docs], seq_len, strategy, **kwargs)
    return tokpack.Plan.from_buffer(spec.file(DID, ds.num_tokens, ds.num_documents))


def as_lists(row):
    return {k: v.tolist() for k, v in row.items()}


def expect(input_ids, labels, position_ids, cu_seqlens):
    return {
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "cu_seqlens": cu_seqlens,
        "loss_mask": [int(x != -100) for x in labels],
    }


# -- 12.1 ---------------------------------------------------------------------------


def test_contiguous_rows_drop():
    rows = tokpack.Rows(dataset(), 4)
    assert (len(rows), rows.num_rows, rows.strategy, rows.tail) == (2, 2, "contiguous", "drop")
    assert as_lists(rows.row(0)) == expect(
        [10, 11, 12, 13], [11, -100, 13, 14], [0, 1, 2, 0], [0, 3, 4])
    # The run starting at p = 5 (document 3); the target of p = 4 has mask bit 0.
    assert as_lists(rows.row(1)) == expect(
        [14, 15, 16, 17], [-100, 16, 17, 18], [0, 0, 1, 2], [0, 1, 4])


def test_contiguous_rows_pad_and_pad_id():
    rows = tokpack.Rows(dataset(), 4, tail="pad")
    assert len(rows) == 3
    # Runs: j = 0, document 4 at p = 9, first padding at p = 10.
    assert as_lists(rows.row(2)) == expect(
        [18, 19, 0, 0], [19, -100, -100, -100], [0, 0, 0, 1], [0, 1, 2, 4])
    assert rows.row(2)["input_ids"].tolist() == rows.row(-1)["input_ids"].tolist()
    # 12: the caller's pad id, else metadata pad_id, else eos_id, else 0.
    assert tokpack.Rows(dataset(), 4, tail="pad", pad_id=7).row(2)["input_ids"].tolist() == [18, 19, 7, 7]
    assert tokpack.Rows(dataset({"eos_id": 99}), 4, tail="pad").pad_id == 99
    assert tokpack.Rows(dataset({"eos_id": 99, "pad_id": 98}), 4, tail="pad").pad_id == 98
    assert tokpack.Rows(dataset({"eos_id": 99, "pad_id": 98}), 4, pad_id=0).pad_id == 0


def test_contiguous_document_boundary_masking():
    rows = tokpack.Rows(dataset(), 4, tail="pad", mask_document_boundaries=True)
    # p + 1 = 3 starts document 2 (after the empty document 1).
    assert rows.row(0)["labels"].tolist() == [11, -100, -100, 14]
    assert rows.row(1)["labels"].tolist() == [-100, 16, 17, 18]
    assert rows.row(2)["labels"].tolist() == [-100, -100, -100, -100]
    assert rows.row(2)["loss_mask"].tolist() == [0, 0, 0, 0]
    # Runs do not depend on the masking.
    assert rows.row(2)["cu_seqlens"].tolist() == [0, 1, 2, 4]


def test_contiguous_row_counts():
    for n, seq_len, drop, pad in [(0, 4, 0, 0), (1, 4, 0, 0), (2, 4, 0, 1), (5, 4, 1, 1),
                                  (6, 4, 1, 2), (10, 1, 9, 9), (10, 9, 1, 1), (10, 10, 0, 1)]:
        ds = dataset(docs=[list(range(n))], masks=None) if n else dataset(docs=[], masks=None)
        assert len(tokpack.Rows(ds, seq_len)) == drop, (n, seq_len)
        assert len(tokpack.Rows(ds, seq_len, tail="pad")) == pad, (n, seq_len)
        assert tokpack.rows.contiguous_row_count(n, seq_len, "drop") == drop
        assert tokpack.rows.contiguous_row_count(n, seq_len, "pad") == pad


def test_contiguous_tokens_are_a_zero_copy_slice():
    ds = dataset()
    rows = tokpack.Rows(ds, 4, tail="pad")
    assert rows.tokens(0).tolist() == [10, 11, 12, 13, 14]
    assert rows.tokens(2).tolist() == [18, 19]  # the end of the stream
    assert np.shares_memory(rows.tokens(1), ds.tokens)
    assert rows.tokens(1).dtype == ds.tokens.dtype


def test_no_rows_for_one_token_or_none():
    assert len(tokpack.Rows(dataset(docs=[[5]], masks=None), 1, tail="pad")) == 0
    assert len(tokpack.Rows(dataset(docs=[], masks=None), 3, tail="pad")) == 0
    with pytest.raises(IndexError):
        tokpack.Rows(dataset(docs=[[5]], masks=None), 1).row(0)


def test_row_types():
    for rows in (tokpack.Rows(dataset(), 4, tail="pad"),
                 tokpack.Rows(dataset(), plan=plan_for(dataset(), DOCS, 4, "bfd"))):
        row = rows.row(0)
        assert set(row) == {"input_ids", "labels", "position_ids", "cu_seqlens", "loss_mask"}
        for key in ("input_ids", "labels", "position_ids"):
            assert row[key].dtype == np.int64 and row[key].shape == (4,)
        assert row["cu_seqlens"].dtype == np.int32
        assert row["loss_mask"].dtype == np.uint8
        assert [as_lists(r) for r in rows] == [as_lists(rows.row(i)) for i in range(len(rows))]


def test_large_ids_are_not_mistaken_for_ignore():
    # -100 must not wrap through the token dtype (u8: 156, u32: 4294967196).
    for vocab_size in (256, 2**32):
        top = vocab_size - 1
        ds = dataset(docs=[[top, 156 % vocab_size, top]], masks=[[1, 0, 1]], vocab_size=vocab_size)
        assert tokpack.Rows(ds, 2).row(0)["labels"].tolist() == [-100, top]
        plan = plan_for(ds, [[0, 0, 0]], 3, "bfd")
        assert tokpack.Rows(ds, plan=plan).row(0)["labels"].tolist() == [-100, top, -100]


# -- 12.2 ---------------------------------------------------------------------------


def test_bfd_rows():
    ds = dataset()
    plan = plan_for(ds, DOCS, 4, "bfd")
    # 12.3: pieces 4 (doc 3), 3 (doc 0), 2 (doc 2), 1 (doc 4); the 1 goes to the row
    # of room 1.
    assert plan.segments.tolist() == [[5, 4], [0, 3], [9, 1], [3, 2]]
    rows = tokpack.Rows(ds, plan=plan)
    assert (len(rows), rows.strategy, rows.tail, rows.seq_len) == (3, "bfd", None, 4)
    assert as_lists(rows.row(0)) == expect([15, 16, 17, 18], [16, 17, 18, -100], [0, 1, 2, 3], [0, 4])
    assert as_lists(rows.row(1)) == expect([10, 11, 12, 19], [11, -100, -100, -100], [0, 1, 2, 0], [0, 3, 4])
    assert as_lists(rows.row(2)) == expect([13, 14, 0, 0], [14, -100, -100, -100], [0, 1, 0, 1], [0, 2, 4])
    # Boundary masking changes nothing in a plan view.
    masked = tokpack.Rows(ds, plan=plan, mask_document_boundaries=True, pad_id=3)
    assert as_lists(masked.row(1)) == as_lists(rows.row(1))
    assert masked.row(2)["input_ids"].tolist() == [13, 14, 3, 3]


def test_doc_aligned_truncate_rows():
    ds = dataset()
    plan = plan_for(ds, DOCS, 3, "doc_aligned", long_docs="truncate")
    assert plan.segments.tolist() == [[0, 3], [3, 2], [5, 3], [9, 1]]
    assert (plan.num_rows, plan.truncated_tokens, plan.tokens) == (4, 1, 9)
    rows = tokpack.Rows(ds, plan=plan)
    assert as_lists(rows.row(2)) == expect([15, 16, 17], [16, 17, -100], [0, 1, 2], [0, 3])
    assert as_lists(rows.row(3)) == expect([19, 0, 0], [-100, -100, -100], [0, 0, 1], [0, 1, 3])


def test_plan_view_with_a_contiguous_plan_is_the_contiguous_view():
    ds = dataset()
    for tail in ("drop", "pad"):
        plan = plan_for(ds, DOCS, 4, "contiguous", tail=tail)
        with_plan = tokpack.Rows(ds, plan=plan, mask_document_boundaries=True)
        without = tokpack.Rows(ds, 4, tail=tail, mask_document_boundaries=True)
        assert with_plan.tail == tail and len(with_plan) == len(without)
        for i in range(len(without)):
            assert as_lists(with_plan.row(i)) == as_lists(without.row(i))
            assert with_plan.tokens(i).tolist() == without.tokens(i).tolist()


# -- the API ------------------------------------------------------------------------


def test_rows_arguments():
    ds = dataset()
    bfd = plan_for(ds, DOCS, 4, "bfd")
    contiguous = plan_for(ds, DOCS, 4, "contiguous", tail="pad")
    with pytest.raises(TypeError):
        tokpack.Rows(ds)
    for bad in (0, -1):
        with pytest.raises(ValueError):
            tokpack.Rows(ds, bad)
    with pytest.raises(TypeError):
        tokpack.Rows(ds, 4.0)
    with pytest.raises(ValueError):
        tokpack.Rows(ds, 4, tail="keep")
    with pytest.raises(ValueError):
        tokpack.Rows(ds, 5, plan=bfd)  # the plan's seq_len applies
    assert tokpack.Rows(ds, 4, plan=bfd).seq_len == 4
    with pytest.raises(ValueError):
        tokpack.Rows(ds, plan=bfd, tail="drop")  # tail is for the contiguous view
    with pytest.raises(ValueError):
        tokpack.Rows(ds, plan=contiguous, tail="drop")  # the plan's tail applies
    assert tokpack.Rows(ds, plan=contiguous, tail="pad").tail == "pad"
    for bad in (-1, 2**32):  # 12: an id in [0, 2**32)
        with pytest.raises(ValueError):
            tokpack.Rows(ds, 4, pad_id=bad)
    assert tokpack.Rows(ds, 4, pad_id=2**32 - 1, tail="pad").row(-1)["input_ids"].tolist()[-1] == 2**32 - 1
    with pytest.raises(ValueError):
        tokpack.Rows(ds, plan=bfd).tokens(0)
    rows = tokpack.Rows(ds, plan=bfd)
    for bad in (3, -4):
        with pytest.raises(IndexError):
            rows.row(bad)
    with pytest.raises(TypeError):
        rows.row(1.0)
    assert "bfd" in repr(rows) and rows.plan is bfd


def test_contiguous_view_checks_the_offsets_once():
    sections = dataset_sections(DOCS, 100, MASKS)
    sections[1].body = np.asarray([0, 3, 5, 3, 9, 10], "<u8").tobytes()
    ds = tokpack.Dataset.from_buffer(write(sections))
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Rows(ds, 4)
    assert info.value.code == "bad_doc_offsets"


def test_dataset_loss_mask_at():
    ds = dataset()
    assert ds.loss_mask_at([0, 2, 5, 9]).tolist() == [True, False, False, True]
    assert ds.loss_mask_at(np.zeros((2, 2), np.int64)).shape == (2, 2)
    for bad in ([-1], [10]):
        with pytest.raises(IndexError):
            ds.loss_mask_at(bad)
    assert dataset(masks=None).loss_mask_at([0, 9]).tolist() == [True, True]


# -- spec 12.4: the recipe, run as printed ------------------------------------------


def recipe():
    spec = (ROOT / "spec" / "FORMAT.md").read_text(encoding="utf-8")
    section = spec[spec.index("### 12.4"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, "spec/FORMAT.md section 12.4", "exec"), namespace)
    return namespace["plan_row"]


def _compare_with_recipe(strategy, seed, tokens_as_int64):
    plan_row = recipe()
    rng = np.random.default_rng(seed)
    docs, masks = random_documents(rng, 500, 30, 20)
    ds = dataset(docs=docs, masks=masks, vocab_size=500)
    mask_bits = ds.loss_mask_range(0, ds.num_tokens).astype(np.uint8)
    tokens = ds.tokens.astype(np.int64) if tokens_as_int64 else ds.tokens
    for seq_len in (1, 7, 16):
        plan = plan_for(ds, docs, seq_len, strategy)
        rows = tokpack.Rows(ds, plan=plan, pad_id=3)
        flat_segments = plan.segments.reshape(-1)
        for r in range(len(rows)):
            want = plan_row(tokens, mask_bits, plan.rows, flat_segments, r, seq_len, 3)
            got = rows.row(r)
            for key, value in zip(("input_ids", "labels", "position_ids", "cu_seqlens", "loss_mask"), want):
                assert got[key].tolist() == np.asarray(value).tolist(), (r, key)


@pytest.mark.parametrize("strategy", ["doc_aligned", "bfd"])
@pytest.mark.parametrize("seed", range(3))
def test_spec_recipe_agrees(strategy, seed):
    """The recipe of 12.4 given int64 tokens."""
    _compare_with_recipe(strategy, seed, tokens_as_int64=True)


@pytest.mark.parametrize("strategy", ["doc_aligned", "bfd"])
def test_spec_recipe_as_printed_on_the_token_view(strategy):
    """The recipe of 12.4 on the file's own token view (u16 here): since version 1.2
    it casts to int64 before ``np.where``, so -100 no longer wraps in the token dtype
    (NumPy >= 2, NEP 50)."""
    _compare_with_recipe(strategy, 0, tokens_as_int64=False)
