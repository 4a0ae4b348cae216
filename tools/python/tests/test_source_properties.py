"""Property tests of source filters (spec 12.5) on seeded random datasets with
source ids (5.5), written by the spec-derived writer.

Each document's tokens come from its source's own id range (source ``k``: ids
``100 k .. 100 k + 99``), so any token shows which source it came from. For random
sets of names ``S``:

- the filtered view equals, row for row (every field), the contiguous view of a
  dataset file holding only the selected documents (12.5: 12.1 applied to the
  filtered stream), for L in 1, 5, 16, tail drop and pad, with and without
  document-boundary masking;
- no input and no label of any row is a token of a document outside ``S``;
- the rows of the dropped-tail view cover the filtered stream in order;
- over a manifest of shards that number their sources differently (15: matched by
  name), the filter equals the one over the single file.
"""

import json

import numpy as np
import pytest

import tokpack
from spec_writer import dataset_sections, write

NAMES = ["web", "code", "smoltalk/everyday", "chat", "a,b"]
SEEDS = range(10)


def random_sourced(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, len(NAMES) + 1))
    names = [NAMES[j] for j in rng.permutation(len(NAMES))[:k]]
    n_docs = int(rng.integers(0, 30))
    ids = rng.integers(0, k, n_docs).tolist()
    docs, masks = [], []
    for s in ids:
        length = 0 if rng.random() < 0.2 else int(rng.integers(1, 25))
        docs.append((100 * s + rng.integers(0, 100, length)).tolist())
        masks.append(rng.integers(0, 2, length).tolist())
    with_mask = bool(rng.random() < 0.6)
    meta = {"vocab_size": 100 * len(NAMES)}
    if rng.random() < 0.5:
        meta["pad_id"] = int(rng.integers(0, 100 * len(NAMES)))
    elif rng.random() < 0.5:
        meta["eos_id"] = int(rng.integers(0, 100 * len(NAMES)))
    return names, ids, docs, masks if with_mask else None, meta, rng


def dataset(docs, masks, meta, names=None, ids=None, did=bytes(range(16))):
    data = write(dataset_sections(docs, meta["vocab_size"], masks, metadata=meta,
                                  sources=names, doc_sources=ids),
                 minor=3 if names is not None else 0, dataset_id=did)
    ds = tokpack.Dataset.from_buffer(data)
    ds.verify()
    return ds, data


def subsets(names, rng, n=4):
    out = [list(names)]
    for _ in range(n):
        size = int(rng.integers(1, len(names) + 1))
        out.append([names[j] for j in rng.permutation(len(names))[:size]])
    return out


def rows_of(rows):
    return [{k: v.tolist() for k, v in rows.row(i).items()} for i in range(len(rows))]


VIEWS = [{}, {"tail": "pad"}, {"mask_document_boundaries": True},
         {"tail": "pad", "mask_document_boundaries": True}]


@pytest.mark.parametrize("seed", SEEDS)
def test_filter_equals_the_dataset_of_the_selected_documents(seed):
    names, ids, docs, masks, meta, rng = random_sourced(seed)
    ds, _ = dataset(docs, masks, meta, names, ids)
    assert ds.document_sources() == [names[s] for s in ids]
    for S in subsets(names, rng, n=2):
        wanted = {names.index(n) for n in S}
        picked = [i for i, s in enumerate(ids) if s in wanted]
        f = ds.source_filter(S)
        assert f.selected_documents.tolist() == picked
        oracle, _ = dataset([docs[i] for i in picked],
                            None if masks is None else [masks[i] for i in picked], meta)
        assert f.num_tokens == oracle.num_tokens
        assert f.tokens.tolist() == oracle.tokens.tolist()
        assert f.ordered_doc_offsets().tolist() == oracle.doc_offsets.tolist()
        for L in (1, 5, 16):
            for view in VIEWS if L > 1 else VIEWS[-1:]:
                got = tokpack.Rows(ds, L, sources=S, **view)
                assert rows_of(got) == rows_of(tokpack.Rows(oracle, L, **view)), (S, L, view)
                if not view:
                    check_no_foreign_token(got, wanted, f.num_tokens)
            # The dropped-tail rows cover the filtered stream in order.
            plain = tokpack.Rows(ds, L, sources=S)
            seen = [t for r in plain for t in r["input_ids"].tolist()]
            assert seen == f.tokens.tolist()[:len(seen)]
            assert len(seen) == max(f.num_tokens - 1, 0) // L * L


def check_no_foreign_token(rows, wanted, n):
    """12.5: "A filter never yields a token of a document outside S": every input
    that is not padding and every label that is a target is of a source in S."""
    L = rows.seq_len
    for i, row in enumerate(rows):
        real = min(L, n - i * L)  # positions before the padding
        inputs = row["input_ids"][:real]
        labels = row["labels"][row["labels"] != tokpack.IGNORE_INDEX]
        for token in np.concatenate((inputs, labels)).tolist():
            assert token // 100 in wanted, (i, token)


@pytest.mark.parametrize("seed", SEEDS)
def test_source_counts_add_up(seed):
    names, ids, docs, masks, meta, _ = random_sourced(seed)
    ds, _ = dataset(docs, masks, meta, names, ids)
    counts = ds.source_counts()
    assert list(counts) == names
    for k, name in enumerate(names):
        assert counts[name] == {"documents": ids.count(k),
                                "tokens": sum(len(d) for d, s in zip(docs, ids) if s == k)}
    assert sum(c["tokens"] for c in counts.values()) == ds.num_tokens


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_manifest_filter_equals_single_file(tmp_path, seed):
    names, ids, docs, masks, meta, rng = random_sourced(seed)
    one, _ = dataset(docs, masks, meta, names, ids)
    # Cut the documents into shards; each shard names its own sources in a random
    # order (some unused), so the ids differ from shard to shard.
    cuts = sorted(rng.integers(0, len(docs) + 1, int(rng.integers(0, 3))).tolist())
    bounds = [0, *cuts, len(docs)]
    entries, first_seen = [], []
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        used = sorted({names[s] for s in ids[a:b]})
        extra = [n for n in names if n not in used and rng.random() < 0.3]
        local = [x for x in rng.permutation(used + extra).tolist()] or [names[0]]
        first_seen += [n for n in local if n not in first_seen]
        shard, data = dataset(docs[a:b], None if masks is None else masks[a:b], meta,
                              local, [local.index(names[s]) for s in ids[a:b]],
                              did=bytes([k + 1] * 16))
        path = tmp_path / f"s{k}.tpk"
        path.write_bytes(data)
        entries.append({"path": path.name, "dataset_id": shard.dataset_id.hex(),
                        "documents": shard.num_documents, "tokens": shard.num_tokens,
                        "has_loss_mask": shard.has_loss_mask})
    (tmp_path / "m.manifest.json").write_text(json.dumps({
        "format": "tokpack-manifest", "version": 1, "dataset_id": "cd" * 16,
        "metadata": meta, "shards": entries}))
    m = tokpack.open(tmp_path / "m.manifest.json")
    assert list(m.sources) == first_seen
    assert m.document_sources() == one.document_sources()
    counts = m.source_counts()
    assert {n: c for n, c in counts.items() if c["documents"]} == \
        {n: c for n, c in one.source_counts().items() if c["documents"]}
    for S in subsets([n for n in first_seen], rng, n=2):
        known = [n for n in S if n in names]
        if not known:
            continue
        for L in (1, 5, 16):
            for view in VIEWS[-1:] if L == 1 else VIEWS[1:]:
                got = rows_of(tokpack.Rows(m, L, sources=known, **view))
                assert got == rows_of(tokpack.Rows(one, L, sources=known, **view)), (known, L, view)
