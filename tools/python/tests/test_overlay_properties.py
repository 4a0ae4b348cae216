"""Property tests of overlays (spec 13.4, 14) on seeded random datasets and views.

Insertions are placed by ``tokpack.placement`` (explicit spans split across rows, then
EOS-wrapped random sequences), written by the spec-derived writer, and read back
through ``tokpack.Rows``. For every row a slow oracle written from the text of 13.4
says what changes: the inserted tokens at their offsets, the labels of the positions
before and inside each span that have a target by the structure of the view, and
nothing else.
"""

import numpy as np
import pytest

import tokpack
from spec_planner import make_plan, random_documents
from spec_writer import dataset_sections, overlay_file, write
from tokpack import placement

DID = bytes(range(16))
# (vocab_size, with a loss mask)
DATASETS = [(200, True), (50_000, False), (2**32, True)]
VIEWS = [("contiguous", {"tail": "drop"}), ("contiguous", {"tail": "pad"}),
         ("doc_aligned", {"long_docs": "split"}), ("bfd", {"long_docs": "truncate"})]


def build(seed, vocab_size, with_mask):
    rng = np.random.default_rng(seed)
    docs, masks = random_documents(rng, vocab_size, int(rng.integers(3, 30)), 40)
    ds = tokpack.Dataset.from_buffer(write(
        dataset_sections(docs, vocab_size, masks if with_mask else None,
                         metadata={"vocab_size": vocab_size, "eos_id": vocab_size - 1}),
        dataset_id=DID))
    return ds, docs, rng


def the_view(ds, docs, strategy, options, seq_len, **kwargs):
    if strategy == "contiguous":
        return tokpack.Rows(ds, seq_len, tail=options["tail"], **kwargs), None
    spec = make_plan([len(d) for d in docs], seq_len, strategy, **options)
    plan = tokpack.Plan.from_buffer(spec.file(DID, ds.num_tokens, ds.num_documents))
    return tokpack.Rows(ds, plan=plan, **kwargs), plan


def structure(rows, plan, ds, i, mask_boundaries):
    """13.4 step 2: which positions j have a target "by the structure of the view"."""
    L, n = rows.seq_len, ds.num_tokens
    if plan is None:
        starts = set(ds.doc_offsets.tolist())
        return [j + 1 < L and i * L + j + 1 < n and not (mask_boundaries and i * L + j + 1 in starts)
                for j in range(L)]
    out = [False] * L
    at = 0
    for _, length in plan.segments[int(plan.rows[i]):int(plan.rows[i + 1])].tolist():
        for t in range(length - 1):
            out[at + t] = True
        at += length
    return out


def random_insertions(rng, ds, rows, seed):
    L, n_rows = rows.seq_len, len(rows)
    explicit = {}
    for _ in range(int(rng.integers(0, 4))):
        p = int(rng.integers(0, n_rows * L))
        length = int(rng.integers(1, 2 * L + 1))
        length = min(length, n_rows * L - p)
        explicit[str(p)] = rng.integers(0, ds.vocab_size, length).tolist()
    # Drop explicit spans that intersect (placement would refuse them).
    kept, taken = {}, []
    for key, toks in sorted(explicit.items(), key=lambda kv: int(kv[0])):
        p = int(key)
        if all(p + len(toks) <= q or q + m <= p for q, m in taken):
            kept[key] = toks
            taken.append((p, len(toks)))
    sequences = [rng.integers(0, ds.vocab_size, int(rng.integers(0, L + 2))).tolist()
                 for _ in range(int(rng.integers(0, 3 * n_rows + 1)))]
    start = int(rng.integers(0, n_rows))
    end = int(rng.integers(start + 1, n_rows + 1))
    done = placement.place(
        L, n_rows, explicit=kept, split_across_rows=True, sequences=sequences,
        rows=(start, end), seed=seed, max_tries=20, allow_drop=True,
        wrap_eos_id=ds.vocab_size - 1, targets=bool(rng.integers(0, 2)), vocab_size=ds.vocab_size)
    return kept, done


CASES = [pytest.param(seed, vocab_size, mask, strategy, options, seq_len,
                      id=f"{seed}-{vocab_size}-{strategy}-{'-'.join(options.values())}-L{seq_len}")
         for seed, (vocab_size, mask) in enumerate(DATASETS)
         for strategy, options in VIEWS for seq_len in (1, 5, 16)]


@pytest.mark.parametrize("seed,vocab_size,with_mask,strategy,options,seq_len", CASES)
def test_rows_with_insertions_follow_13_4(seed, vocab_size, with_mask, strategy, options, seq_len):
    ds, docs, rng = build(seed, vocab_size, with_mask)
    base_rows, plan = the_view(ds, docs, strategy, options, seq_len)
    if not len(base_rows):
        return
    explicit, done = random_insertions(rng, ds, base_rows, seed=seq_len * 1000 + seed)
    # Splitting across rows keeps every token, in order.
    for key, toks in explicit.items():
        p = int(key)
        pieces = [t for q, t, _ in done.insertions if p <= q < p + len(toks)]
        assert [x for piece in pieces for x in piece] == toks
    ov = tokpack.Overlay.from_buffer(overlay_file(
        ds, seq_len, len(base_rows), done.insertions,
        plan_id=None if plan is None else plan.file_id))
    ov.verify()
    assert ov.export_rows() == done.rows_dict()
    assert ov.positions.tolist() == done.positions
    boundaries = strategy == "contiguous" and bool(seed % 2)
    rows, _ = the_view(ds, docs, strategy, options, seq_len, overlays=[ov],
                       mask_document_boundaries=boundaries)
    base_rows, _ = the_view(ds, docs, strategy, options, seq_len,
                            mask_document_boundaries=boundaries)
    by_row = {}
    for p, toks, f in done.insertions:
        by_row.setdefault(p // seq_len, []).append((p % seq_len, toks, f))
    for i in range(len(rows)):
        got = {k: v.tolist() for k, v in rows.row(i).items()}
        want = {k: v.tolist() for k, v in base_rows.row(i).items()}
        has_target = structure(rows, plan, ds, i, boundaries)
        for o, toks, f in by_row.get(i, []):  # in position order
            want["input_ids"][o:o + len(toks)] = toks
            for j in range(max(o - 1, 0), o + len(toks) - 1):
                if has_target[j]:
                    want["labels"][j] = want["input_ids"][j + 1] if f else -100
        want["loss_mask"] = [int(x != -100) for x in want["labels"]]
        assert got == want, f"row {i}"
        # The inserted tokens read back exactly at their positions.
        for o, toks, _ in by_row.get(i, []):
            assert got["input_ids"][o:o + len(toks)] == toks


@pytest.mark.parametrize("seed", range(3))
def test_the_same_seed_gives_the_same_overlay(seed):
    ds, docs, rng = build(seed, 300, True)
    rows, _ = the_view(ds, docs, "contiguous", {"tail": "pad"}, 8)
    a = random_insertions(np.random.default_rng(seed), ds, rows, seed=seed)[1]
    b = random_insertions(np.random.default_rng(seed), ds, rows, seed=seed)[1]
    assert a == b
    fa = overlay_file(ds, 8, len(rows), a.insertions)
    fb = overlay_file(ds, 8, len(rows), b.insertions)
    assert fa == fb


@pytest.mark.parametrize("seed", range(3))
def test_several_random_overlays_agree_with_one(seed):
    """Insertions split into two disjoint overlays give the rows of one overlay with
    all of them."""
    ds, docs, rng = build(seed, 300, True)
    rows, _ = the_view(ds, docs, "contiguous", {"tail": "drop"}, 6)
    if not len(rows):
        return
    done = random_insertions(rng, ds, rows, seed=seed)[1]
    half = [x for k, x in enumerate(done.insertions) if k % 2]
    rest = [x for k, x in enumerate(done.insertions) if not k % 2]
    one = tokpack.Overlay.from_buffer(overlay_file(ds, 6, len(rows), done.insertions))
    a = tokpack.Overlay.from_buffer(overlay_file(ds, 6, len(rows), half))
    b = tokpack.Overlay.from_buffer(overlay_file(ds, 6, len(rows), rest))
    together = tokpack.Rows(ds, 6, overlays=[one])
    apart = tokpack.Rows(ds, 6, overlays=[b, a])
    for i in range(len(rows)):
        assert {k: v.tolist() for k, v in together.row(i).items()} == \
            {k: v.tolist() for k, v in apart.row(i).items()}
