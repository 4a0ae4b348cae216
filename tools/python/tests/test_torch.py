"""PyTorch adapters (tokpack.torch): DataLoader workers, distributed ranks, resume."""

import json
import os
import pickle
import shutil
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tokpack  # noqa: E402
from tokpack.order import RankOrder  # noqa: E402
from tokpack.torch import (  # noqa: E402
    TokpackDataset, TokpackIterableDataset, TokpackSampler, collate, position_to_row,
)
from cli_tool import BINARY, REPO, cli  # noqa: E402

pytestmark = pytest.mark.skipif(BINARY is None, reason="no tokpack binary")
DATA = REPO / "tools" / "data" / "pydoc_chat.jsonl"
L = 64


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("torch")
    args = ("--tokenizer", "r50k_base", "--loss-policy", "assistant_only")
    cli("build", str(DATA), "-o", str(d / "one.tpk"), *args)
    cli("build", str(DATA), "-o", str(d / "sh.manifest.json"), *args, "--shard-tokens", "4000")
    cli("pack", str(d / "sh.manifest.json"), "--seq-len", str(L), "--strategy", "bfd",
        "-o", str(d / "sh.bfd.tpk"))
    if _has_zstandard():
        # Compressed tokens (5.6): blocks of 100 tokens, rows of 64 cross them.
        cli("compress", str(d / "one.tpk"), "-o", str(d / "one.z.tpk"), "--block-tokens", "100")
    return d


def _has_zstandard():
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def loader(ds, **kw):
    return torch.utils.data.DataLoader(ds, collate_fn=collate, **kw)


def test_item_and_pickle(built):
    ds = TokpackDataset(built / "sh.manifest.json", L, mask_document_boundaries=True)
    row = ds[5]
    ref = json.loads(cli("row", str(built / "sh.manifest.json"), "--seq-len", str(L),
                         "--index", "5", "--json", "--mask-boundaries").stdout)
    for k in ref:
        assert row[k].tolist() == ref[k], k
    assert row["input_ids"].dtype == torch.int64 and row["labels"].dtype == torch.int64
    assert row["cu_seqlens"].dtype == torch.int32
    assert len(pickle.dumps(ds)) < 1000  # paths and options only
    assert pickle.loads(pickle.dumps(ds))._view._rows is None


@pytest.mark.parametrize("path, plan", [("one.tpk", None), ("sh.manifest.json", "sh.bfd.tpk")])
def test_dataloader_two_workers_every_row_once(built, path, plan):
    ds = TokpackDataset(built / path, L, plan=None if plan is None else built / plan,
                        return_index=True)
    sampler = TokpackSampler(ds, seed=3, world_size=1, rank=0)
    rows = ds.rows
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        seen = []
        for batch in loader(ds, batch_size=8, sampler=sampler, num_workers=2):
            for b, i in enumerate(batch["index"].tolist()):
                ref = rows.row(i)
                for k in ("input_ids", "labels", "position_ids", "loss_mask"):
                    assert batch[k][b].tolist() == ref[k].tolist()
            seen += batch["index"].tolist()
        assert sorted(seen) == list(range(len(ds)))
        assert seen == RankOrder(len(ds), 3).rows_of_epoch(epoch).tolist()
    extra = ["--plan", str(built / plan)] if plan else []
    for i in seen[:3]:
        ref = json.loads(cli("row", str(built / path), "--seq-len", str(L), "--index", str(i),
                             "--json", *extra).stdout)
        for k in ref:
            assert ds[i][k].tolist() == ref[k]


def test_collate_cu_seqlens(built):
    ds = TokpackDataset(built / "one.tpk", L)
    batch = collate([ds[0], ds[1]])
    assert batch["input_ids"].shape == (2, L)
    c0, c1 = ds[0]["cu_seqlens"].tolist(), ds[1]["cu_seqlens"].tolist()
    assert batch["cu_seqlens"].tolist() == c0 + [c + L for c in c1[1:]]


def test_sampler_resume(built):
    ds = TokpackDataset(built / "one.tpk", L, return_index=True)
    full = TokpackSampler(ds, seed=11, world_size=2, rank=1)
    full.set_epoch(2)
    want = list(full)
    s = TokpackSampler(ds, seed=11, world_size=2, rank=1)
    s.set_epoch(2)
    got = []
    for step, batch in enumerate(loader(ds, batch_size=4, sampler=s, num_workers=2)):
        got += batch["index"].tolist()
        s.advance(4)
        if step == 6:
            break
    state = s.state_dict()
    assert state["epoch"] == 2 and state["consumed"] == 28
    again = TokpackSampler(ds, seed=11, world_size=2, rank=1)
    again.load_state_dict(state)
    again.set_epoch(2)  # same epoch: keeps the position
    assert len(again) == len(want) - 28
    for batch in loader(ds, batch_size=4, sampler=again, num_workers=0):
        got += batch["index"].tolist()
    assert got == want
    again.set_epoch(3)
    assert again.consumed == 0
    with pytest.raises(ValueError):
        TokpackSampler(ds, seed=12, world_size=2, rank=1).load_state_dict(state)


def test_iterable_workers_and_resume(built):
    kw = dict(seed=5, world_size=2, rank=0, batch_size=4, return_index=True)
    it = TokpackIterableDataset(built / "sh.manifest.json", L, **kw)
    it.set_epoch(1)
    want = RankOrder(len(it._view.rows), 5, 2, 0, True).rows_of_epoch(1).tolist()
    got = [i for b in loader(it, batch_size=4, num_workers=2) for i in b["index"].tolist()]
    assert got == want
    got = []
    for step, b in enumerate(loader(it, batch_size=4, num_workers=2)):
        got += b["index"].tolist()
        it.advance(4)
        if step == 4:
            break
    state = it.state_dict()
    it2 = TokpackIterableDataset(built / "sh.manifest.json", L, **kw)
    it2.load_state_dict(state)
    got += [i for b in loader(it2, batch_size=4, num_workers=2) for i in b["index"].tolist()]
    assert got == want


def test_position_to_row(built):
    ds = TokpackDataset(built / "one.tpk", L)
    s = TokpackSampler(ds, seed=7, world_size=2, rank=0)
    pairs = position_to_row(3, global_batch=4, sampler=s)
    assert pairs == position_to_row(tokens_seen=3 * 4 * L, seq_len=L, global_batch=4, sampler=s)
    o = RankOrder(len(ds), 7, 2, 0, True)
    # step 3 = global positions 12..15: rank g % 2's row g // 2
    assert pairs[0] == (0, int(o.rows_of_epoch(0)[6]))
    far = position_to_row(10**4, global_batch=4, sampler=s)
    e = (10**4 * 4) // o.per_epoch
    assert far[0][0] == e


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_main(rank, world, port, path, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        ds = TokpackDataset(path, L, return_index=True)
        s = TokpackSampler(ds, seed=2**64 - 1)  # world size and rank from torch.distributed
        s.set_epoch(1)
        got = [i for b in torch.utils.data.DataLoader(ds, batch_size=8, sampler=s,
                                                      collate_fn=collate)
               for i in b["index"].tolist()]
        with open(f"{out}.{rank}", "w") as f:
            json.dump({"rows": got, "world": s.world_size, "rank": s.rank}, f)
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_gloo(built, tmp_path):
    path = str(built / "one.tpk")
    out = str(tmp_path / "rank")
    torch.multiprocessing.spawn(_rank_main, args=(2, _free_port(), path, out), nprocs=2)
    got = [json.load(open(f"{out}.{r}")) for r in range(2)]
    assert [g["rank"] for g in got] == [0, 1] and got[0]["world"] == 2
    a, b = set(got[0]["rows"]), set(got[1]["rows"])
    n = len(tokpack.Rows(tokpack.open(path), L))
    assert not a & b and len(a) == len(b) == n // 2
    assert len(a | b) == 2 * (n // 2)
    assert got[1]["rows"] == RankOrder(n, 2**64 - 1, 2, 1, True).rows_of_epoch(1).tolist()


@pytest.mark.skipif(not _has_zstandard(), reason="needs zstandard")
@pytest.mark.parametrize("plan", [None, "sh.bfd.tpk"])
def test_dataloader_two_workers_on_compressed_tokens(built, plan, tmp_path):
    # Each worker opens the file itself and decompresses into its own block cache
    # (zstd contexts made in the worker, never across fork).
    path = built / "one.z.tpk"
    if plan is not None:
        # A copy of the manifest whose first shard is compressed (same dataset_id).
        shutil.copytree(built, tmp_path / "m")
        path = tmp_path / "m" / "sh.manifest.json"
        first = tmp_path / "m" / json.loads(path.read_text())["shards"][0]["path"]
        cli("compress", str(first), "-o", str(tmp_path / "tmp.tpk"), "--block-tokens", "50")
        os.replace(tmp_path / "tmp.tpk", first)
        assert tokpack.open(first).is_compressed
    ds = TokpackDataset(path, L, plan=None if plan is None else built / plan, return_index=True)
    ref_ds = tokpack.open(built / "one.tpk")
    ref = tokpack.Rows(ref_ds, L) if plan is None else tokpack.Rows(
        tokpack.open(path), plan=tokpack.open_plan(built / plan))
    sampler = TokpackSampler(ds, seed=4, world_size=1, rank=0)
    seen = []
    for batch in loader(ds, batch_size=8, sampler=sampler, num_workers=2):
        for b, i in enumerate(batch["index"].tolist()):
            want = ref.row(i)
            for k in ("input_ids", "labels", "position_ids", "loss_mask"):
                assert batch[k][b].tolist() == want[k].tolist()
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(len(ds)))
    it = TokpackIterableDataset(path, L, plan=None if plan is None else built / plan, seed=4,
                                batch_size=4, return_index=True)
    got = [i for b in loader(it, batch_size=4, num_workers=2) for i in b["index"].tolist()]
    assert got == RankOrder(len(ds), 4).rows_of_epoch(0).tolist()
    if plan is None:
        i = seen[0]
        want = json.loads(cli("row", str(path), "--seq-len", str(L), "--index", str(i),
                              "--json").stdout)
        for k in want:
            assert ds[i][k].tolist() == want[k]
