"""Property tests of the row views (spec 12) on seeded random datasets.

Datasets come from the spec-derived writer, plans from the spec-derived planner
(``spec_planner.py``, spec 12.3). For every row this reader gives, a slow
per-position oracle written from the text of 12.1 / 12.2 says what each position
must hold; across all rows, every token of every document is in exactly one row or
counted as truncated.
"""

import itertools

import numpy as np
import pytest

import tokpack
from spec_planner import make_plan, random_documents
from spec_writer import dataset_sections, write

DID = bytes(range(16))
VIEWS = [
    ("contiguous", {"tail": "drop"}),
    ("contiguous", {"tail": "pad"}),
    ("doc_aligned", {"long_docs": "split"}),
    ("doc_aligned", {"long_docs": "truncate"}),
    ("bfd", {"long_docs": "split"}),
    ("bfd", {"long_docs": "truncate"}),
]
# (vocab_size, with a loss mask, pad/eos ids in the metadata)
DATASETS = [(200, True, {}), (256, False, {"eos_id": 255}), (50_000, True, {"pad_id": 7}),
            (70_000, False, {}), (2**32, True, {"eos_id": 2**32 - 1, "pad_id": 2**32 - 2})]


def build(seed, vocab_size, with_mask, meta):
    rng = np.random.default_rng(seed)
    docs, masks = random_documents(rng, vocab_size, int(rng.integers(1, 45)), 40)
    if rng.random() < 0.3:  # runs of empty documents
        docs[1:1] = [[], [], []]
        masks[1:1] = [[], [], []]
    ds = tokpack.Dataset.from_buffer(write(
        dataset_sections(docs, vocab_size, masks if with_mask else None,
                         metadata={"vocab_size": vocab_size, **meta}),
        dataset_id=DID))
    ds.verify()
    return ds, docs


def positions(rows, plan, ds, i):
    """Stream position of each row position (-1 for padding) and the row positions
    where a run must start, from 12.1 / 12.2 directly."""
    L, n = rows.seq_len, ds.num_tokens
    offsets = set(ds.doc_offsets.tolist())
    if rows.strategy == "contiguous":
        pos = [i * L + j if i * L + j < n else -1 for j in range(L)]
        starts = {0} | {j for j in range(L) if pos[j] in offsets} | \
            {next((j for j in range(L) if pos[j] < 0), 0)}
        return pos, starts, None
    pos, starts, last = [], set(), set()
    for s, length in plan.segments[int(plan.rows[i]):int(plan.rows[i + 1])].tolist():
        starts.add(len(pos))
        pos.extend(range(s, s + length))
        last.add(len(pos) - 1)
    if len(pos) < L:
        starts.add(len(pos))
        pos.extend([-1] * (L - len(pos)))
    return pos, starts, last


def check_row(row, pos, starts, last, ds, rows, boundaries):
    L, n = rows.seq_len, ds.num_tokens
    tokens = ds.tokens
    bits = ds.loss_mask_range(0, n)
    offsets = set(ds.doc_offsets.tolist())
    # No row longer than L; padding only at the end.
    for key in ("input_ids", "labels", "position_ids", "loss_mask"):
        assert row[key].shape == (L,)
    used = sum(p >= 0 for p in pos)
    assert all(p >= 0 for p in pos[:used]) and all(p < 0 for p in pos[used:])
    # Inputs.
    want_inputs = [int(tokens[p]) if p >= 0 else rows.pad_id for p in pos]
    assert row["input_ids"].tolist() == want_inputs
    # Runs: cu_seqlens and position ids restarting at 0 at each run start.
    cu = row["cu_seqlens"].tolist()
    assert cu == sorted(starts) + [L]
    position_ids = row["position_ids"].tolist()
    for a, b in zip(cu, cu[1:]):
        assert position_ids[a:b] == list(range(b - a))
    # Labels agree with the mask (and the segment ends, and boundary masking).
    want_labels = []
    for j, p in enumerate(pos):
        if p < 0 or p + 1 >= n or (last is not None and j in last):
            want_labels.append(-100)
        elif not bits[p + 1] or (boundaries and last is None and p + 1 in offsets):
            want_labels.append(-100)
        else:
            want_labels.append(int(tokens[p + 1]))
    assert row["labels"].tolist() == want_labels
    assert row["loss_mask"].tolist() == [int(x != -100) for x in want_labels]
    return [p for p in pos if p >= 0]


CASES = [
    pytest.param(seed, d, view, seq_len, id=f"seed{seed}-v{d[0]}-{view[0]}-{next(iter(view[1].values()))}-L{seq_len}")
    for seed, (d, view, seq_len) in enumerate(
        itertools.product(DATASETS, VIEWS, (1, 6, 32)))
]


@pytest.mark.parametrize("seed,dataset_case,view,seq_len", CASES)
def test_rows_of_a_random_plan(seed, dataset_case, view, seq_len):
    vocab_size, with_mask, meta = dataset_case
    ds, docs = build(seed, vocab_size, with_mask, meta)
    strategy, options = view
    spec = make_plan([len(d) for d in docs], seq_len, strategy, **options)
    plan = tokpack.Plan.from_buffer(spec.file(DID, ds.num_tokens, ds.num_documents))
    plan.verify_against(ds)
    boundaries = bool(seed % 2)
    rows = tokpack.Rows(ds, plan=plan, mask_document_boundaries=boundaries)
    assert rows.pad_id == meta.get("pad_id", meta.get("eos_id", 0))
    covered = np.zeros(ds.num_tokens, dtype=np.int64)
    for i in range(len(rows)):
        pos, starts, last = positions(rows, plan, ds, i)
        for p in check_row(rows.row(i), pos, starts, last, ds, rows, boundaries):
            covered[p] += 1
    # Every token of every document lands in exactly one row or is truncated.
    assert covered.max(initial=0) <= 1
    assert int((covered == 0).sum()) == plan.truncated_tokens
    assert int(covered.sum()) == plan.tokens
    assert plan.padding_tokens == len(rows) * seq_len - plan.tokens
    if strategy != "contiguous":
        # The truncated tokens are the ends of documents longer than L.
        lengths = [len(d) for d in docs]
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        want = np.ones(ds.num_tokens, dtype=np.int64)
        if options["long_docs"] == "truncate":
            for start, length in zip(offsets, lengths):
                want[start + min(length, seq_len):start + length] = 0
        assert covered.tolist() == want.tolist()
        assert plan.split_documents == (
            sum(length > seq_len for length in lengths) if options["long_docs"] == "split" else 0)
    else:
        # Without a plan, the same view.
        plain = tokpack.Rows(ds, seq_len, tail=options["tail"], mask_document_boundaries=boundaries)
        assert len(plain) == len(rows)
        for i in range(len(rows)):
            a, b = plain.row(i), rows.row(i)
            assert all(a[k].tolist() == b[k].tolist() for k in a)
            assert np.shares_memory(plain.tokens(i), ds.tokens)
            assert plain.tokens(i).tolist() == ds.tokens[i * seq_len:(i + 1) * seq_len + 1].tolist()


@pytest.mark.parametrize("seed", range(6))
def test_planner_rows_fit(seed):
    """The spec planner itself: rows fit in L, BFD rows are opened in order (each
    row's first piece is no longer than an earlier row's first piece), doc_aligned
    rows follow document order."""
    rng = np.random.default_rng(100 + seed)
    lengths = rng.integers(0, 50, size=60).tolist()
    for seq_len in (3, 16, 64):
        for strategy in ("doc_aligned", "bfd"):
            spec = make_plan(lengths, seq_len, strategy)
            assert all(sum(n for _, n in row) <= seq_len for row in spec.rows)
            assert all(row for row in spec.rows)
            firsts = [row[0] for row in spec.rows]
            if strategy == "bfd":
                assert [n for _, n in firsts] == sorted((n for _, n in firsts), reverse=True)
            else:
                flat = [seg for row in spec.rows for seg in row]
                assert flat == sorted(flat)
