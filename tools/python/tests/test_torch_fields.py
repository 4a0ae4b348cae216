"""TokpackDataset(fields=...) and its contiguous fast path agree with Rows.row(i)."""

import itertools
import json
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tokpack  # noqa: E402
from tokpack.torch import (  # noqa: E402
    TokpackDataset, TokpackIterableDataset, _ContiguousReader, _KEYS, collate,
)
from cli_tool import BINARY, REPO, cli  # noqa: E402
from spec_writer import write_compressed, write_dataset  # noqa: E402

L = 8
SUBSETS = [None, ("input_ids", "labels"), ("labels",), ("loss_mask",),
           ("position_ids",), ("cu_seqlens", "input_ids"),
           ("loss_mask", "position_ids", "labels"), tuple(reversed(_KEYS))]


def _docs(rng):
    """Documents that cross rows, start exactly at row starts and at the L+1-th token
    of a row (i*L + L), empty ones (repeated offsets), and a stream whose length
    leaves a partial last row."""
    lengths = [3, 5, 0, 8, 1, 0, 0, 7, 9, 2, 16, 4, 4, 0, 11, 1, 1, 1, 6, 13, 5]
    lengths += rng.integers(0, 20, 30).tolist() + [3]
    return [rng.integers(0, 300, n).tolist() for n in lengths]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fields")
    rng = np.random.default_rng(7)
    docs = _docs(rng)
    masks = [rng.integers(0, 2, len(doc)).tolist() for doc in docs]
    (d / "plain.tpk").write_bytes(write_dataset(docs, 300))
    (d / "masked.tpk").write_bytes(write_dataset(docs, 300, masks))
    # n - 1 a multiple of L: the drop and pad tails have the same rows.
    exact = [list(range(2 * L + 1))]
    (d / "exact.tpk").write_bytes(write_dataset(exact, 300))
    # Compressed tokens (5.6): blocks of 1, 3 (rows cross blocks) and one block.
    (d / "plain.z3.tpk").write_bytes(write_compressed(docs, 300, 3))
    (d / "masked.z1.tpk").write_bytes(write_compressed(docs, 300, 1, masks))
    (d / "masked.z1000.tpk").write_bytes(write_compressed(docs, 300, 1000, masks))
    return d


#: Compressed files and the raw file holding the same dataset.
RAW_OF = {"plain.z3.tpk": "plain.tpk", "masked.z1.tpk": "masked.tpk",
          "masked.z1000.tpk": "masked.tpk"}


def _same(got, ref, fields):
    assert list(got) == list(fields)
    for k in fields:
        assert got[k].dtype == torch.from_numpy(ref[k]).dtype, k
        assert got[k].tolist() == ref[k].tolist(), k


@pytest.mark.parametrize("name", ["plain.tpk", "masked.tpk", "exact.tpk", *RAW_OF])
@pytest.mark.parametrize("boundaries", [False, True])
@pytest.mark.parametrize("tail", ["drop", "pad"])
@pytest.mark.parametrize("fields", SUBSETS)
def test_fast_path_equals_rows(files, name, boundaries, tail, fields):
    path = files / name
    ds = TokpackDataset(path, L, mask_document_boundaries=boundaries, tail=tail, fields=fields)
    # A compressed file's rows are the raw file's.
    rows = tokpack.Rows(tokpack.open(files / RAW_OF.get(name, name)), L, tail=tail,
                        mask_document_boundaries=boundaries)
    assert len(ds) == len(rows)
    ds[0]
    assert isinstance(ds._view._read.__self__, _ContiguousReader)
    want = _KEYS if fields is None else fields
    for i in itertools.chain(range(len(rows)), (-1, -len(rows))):
        _same(ds[i], rows.row(i), want)
    with pytest.raises(IndexError):
        ds[len(rows)]
    with pytest.raises(IndexError):
        ds[-len(rows) - 1]


def test_fixture_covers_the_cases(files):
    """The rows above cross documents, start at document starts, have a document
    starting at their L+1-th token, have empty documents, and a padded tail."""
    ds = tokpack.open(files / "masked.tpk")
    off = ds.doc_offsets.astype(np.int64)
    n = ds.num_tokens
    assert (off[1:-1] % L == 0).any() and (np.diff(off) == 0).any()
    assert any(r * L + L in set(off.tolist()) for r in range(n // L))
    assert (n - 1) % L != 0
    assert ds.has_loss_mask and not tokpack.open(files / "plain.tpk").has_loss_mask
    crossing = [r for r in range((n - 1) // L)
                if ((off > r * L) & (off < r * L + L)).any()]
    assert len(crossing) > 5


def test_fields_checked_and_picklable(files):
    for bad in ("input_ids", (), ("input_ids", "input_ids"), ("tokens",)):
        with pytest.raises((TypeError, ValueError)):
            TokpackDataset(files / "plain.tpk", L, fields=bad)
    ds = TokpackDataset(files / "plain.tpk", L, fields=["labels", "input_ids"], return_index=True)
    assert list(ds[3]) == ["labels", "input_ids", "index"]
    again = pickle.loads(pickle.dumps(ds))
    assert again._view._read is None and again._view._rows is None
    assert again[3]["labels"].tolist() == ds[3]["labels"].tolist()
    it = TokpackIterableDataset(files / "plain.tpk", L, fields=("input_ids",))
    assert all(list(r) == ["input_ids"] for r in it)


def test_collate_without_cu_seqlens(files):
    ds = TokpackDataset(files / "masked.tpk", L, fields=("input_ids", "labels"))
    rows = tokpack.Rows(tokpack.open(files / "masked.tpk"), L)
    batch = collate([ds[0], ds[4]])
    assert set(batch) == {"input_ids", "labels"}
    assert batch["labels"].tolist() == [rows.row(0)["labels"].tolist(), rows.row(4)["labels"].tolist()]
    full = TokpackDataset(files / "masked.tpk", L)
    c = collate([full[0], full[4]])["cu_seqlens"].tolist()
    c0, c4 = rows.row(0)["cu_seqlens"].tolist(), rows.row(4)["cu_seqlens"].tolist()
    assert c == c0 + [x + L for x in c4[1:]]


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_fields(files, workers):
    ds = TokpackDataset(files / "masked.tpk", L, fields=("input_ids", "labels"),
                        mask_document_boundaries=True, tail="pad", return_index=True)
    rows = tokpack.Rows(tokpack.open(files / "masked.tpk"), L, tail="pad",
                        mask_document_boundaries=True)
    order = np.random.default_rng(1).permutation(len(ds)).tolist()
    dl = torch.utils.data.DataLoader(ds, batch_size=4, sampler=order, num_workers=workers,
                                     collate_fn=collate)
    seen = []
    for batch in dl:
        for b, i in enumerate(batch["index"].tolist()):
            ref = rows.row(i)
            assert batch["input_ids"][b].tolist() == ref["input_ids"].tolist()
            assert batch["labels"][b].tolist() == ref["labels"].tolist()
        seen += batch["index"].tolist()
    assert seen == order


@pytest.mark.skipif(BINARY is None, reason="no tokpack binary")
def test_manifest_and_plan_views(tmp_path):
    """Over a manifest (rows crossing shards) the fast path agrees with Rows too; a
    bfd plan keeps the general reader and still honours fields."""
    data = REPO / "tools" / "data" / "pydoc_chat.jsonl"
    args = ("--tokenizer", "r50k_base", "--loss-policy", "assistant_only")
    man = tmp_path / "sh.manifest.json"
    cli("build", str(data), "-o", str(man), *args, "--shard-tokens", "4000")
    cli("pack", str(man), "--seq-len", "64", "--strategy", "bfd", "-o", str(tmp_path / "p.tpk"))
    m = tokpack.open(man)
    for boundaries in (False, True):
        rows = tokpack.Rows(m, 64, tail="pad", mask_document_boundaries=boundaries)
        for fields in (None, ("input_ids", "labels"), ("position_ids", "loss_mask")):
            ds = TokpackDataset(man, 64, tail="pad", mask_document_boundaries=boundaries,
                                fields=fields)
            for i in range(len(rows)):
                _same(ds[i], rows.row(i), _KEYS if fields is None else fields)
    assert isinstance(ds._view._read.__self__, _ContiguousReader)
    plan = tokpack.open_plan(tmp_path / "p.tpk")
    rows = tokpack.Rows(m, plan=plan)
    ds = TokpackDataset(man, 64, plan=tmp_path / "p.tpk", fields=("labels", "cu_seqlens"))
    for i in range(0, len(rows), 7):
        _same(ds[i], rows.row(i), ("labels", "cu_seqlens"))


def _sourced(d, rng):
    from spec_writer import write_sourced

    docs = _docs(rng)
    masks = [rng.integers(0, 2, len(doc)).tolist() for doc in docs]
    ids = rng.integers(0, 3, len(docs)).tolist()
    path = d / "sourced.tpk"
    path.write_bytes(write_sourced(docs, 300, ["web", "code", "chat"], ids, masks=masks))
    return path


@pytest.mark.parametrize("sources", [["web"], ("code", "chat"), "chat"])
@pytest.mark.parametrize("boundaries, tail", [(False, "drop"), (True, "pad")])
@pytest.mark.parametrize("fields", [None, ("input_ids", "labels"), ("position_ids",)])
def test_sources_option(tmp_path, sources, boundaries, tail, fields):
    """``sources=``: the filtered contiguous view of spec 12.5, the same rows as
    ``Rows(..., sources=...)``, through the contiguous reader (gathering)."""
    path = _sourced(tmp_path, np.random.default_rng(3))
    rows = tokpack.Rows(tokpack.open(path), L, tail=tail, mask_document_boundaries=boundaries,
                        sources=sources)
    ds = TokpackDataset(path, L, tail=tail, mask_document_boundaries=boundaries, fields=fields,
                        sources=sources)
    assert len(ds) == len(rows) > 0 and ds.rows.sources == rows.sources
    want = _KEYS if fields is None else fields
    for i in range(len(rows)):
        _same(ds[i], rows.row(i), want)
    assert isinstance(ds._view._read.__self__, _ContiguousReader)
    again = pickle.loads(pickle.dumps(ds))
    assert again._view._rows is None and again._view.sources == ds._view.sources
    _same(again[1], rows.row(1), want)
    it = TokpackIterableDataset(path, L, tail=tail, mask_document_boundaries=boundaries,
                                fields=fields, sources=sources, seed=4)
    assert len(it) == len(rows)
    for row in it:
        assert list(row) == list(want)


def test_sources_option_refusals(tmp_path):
    path = _sourced(tmp_path, np.random.default_rng(3))
    with pytest.raises(ValueError, match="no source 'nope'"):
        len(TokpackDataset(path, L, sources=["nope"]))
    (tmp_path / "plain.tpk").write_bytes(write_dataset([[1, 2, 3]], 300))
    with pytest.raises(ValueError, match="no source ids"):
        len(TokpackDataset(tmp_path / "plain.tpk", L, sources=["web"]))


@pytest.mark.skipif(BINARY is None, reason="no tokpack binary")
def test_sources_option_equals_cli(tmp_path):
    path = _sourced(tmp_path, np.random.default_rng(5))
    ds = TokpackDataset(path, L, tail="pad", mask_document_boundaries=True, sources=["web", "chat"])
    for i in (0, len(ds) // 2, len(ds) - 1):
        ref = json.loads(cli("row", str(path), "--seq-len", str(L), "--index", str(i), "--json",
                             "--tail", "pad", "--mask-boundaries", "--sources", "web,chat").stdout)
        for k in ref:
            assert ds[i][k].tolist() == ref[k], (i, k)
