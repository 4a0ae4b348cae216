"""Training order (spec 16) against the CLI's `tokpack order`, and its properties."""

import json

import numpy as np
import pytest

from tokpack.order import EpochOrder, RankOrder, position_to_rows
from cli_tool import BINARY, cli

MAX = 2**64 - 1
NS = [1, 2, 7, 1000, 65537]


def order_cli(*args):
    return json.loads(cli("order", *map(str, args)).stdout)


@pytest.mark.parametrize("n", NS)
def test_permutation(n):
    for seed, epoch in ((0, 0), (MAX, 3)):
        o = EpochOrder(n, seed, epoch)
        got = o.indexes(np.arange(n))
        assert sorted(got.tolist()) == list(range(n))
        sample = range(n) if n < 100 else range(0, n, n // 37)
        assert [o[i] for i in sample] == got[list(sample)].tolist()


@pytest.mark.skipif(BINARY is None, reason="no tokpack binary")
@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("seed", [0, MAX])
def test_ranks_equal_cli(n, seed):
    for epoch in (0, 1, MAX):
        for w, r, drop in ((1, 0, False), (3, 2, False), (3, 1, True), (8, 5, False)):
            args = ["--rows", n, "--seed", seed, "--epoch", epoch, "--world-size", w, "--rank", r]
            args += ["--drop-last"] if drop else []
            if drop and n < w:
                with pytest.raises(ValueError):
                    RankOrder(n, seed, w, r, drop)
                assert cli("order", *map(str, args), check=False).returncode != 0
                continue
            o = RankOrder(n, seed, w, r, drop)
            if n > 1000:
                args += ["--start", 100, "--count", 300]
                mine = o.rows_of_epoch(epoch, 100, 300).tolist()
            else:
                mine = o.rows_of_epoch(epoch).tolist()
            assert mine == order_cli(*args), (n, seed, epoch, w, r, drop)
            assert len(o.rows_of_epoch(epoch)) == o.per_rank
            if o.per_rank:
                assert o.row(epoch, o.per_rank - 1) == o.rows_of_epoch(epoch)[-1]


@pytest.mark.skipif(BINARY is None, reason="no tokpack binary")
@pytest.mark.parametrize("n", NS)
def test_global_positions_equal_cli(n):
    for seed, w, drop in ((0, 1, False), (MAX, 3, True), (7, 4, False)):
        if drop and n < w:
            continue
        o = RankOrder(n, seed, w, 0, drop)
        gs = [0, 1, o.per_epoch - 1, o.per_epoch, 5 * o.per_epoch + 3, 10**6 + 17]
        args = ["--rows", n, "--seed", seed, "--global", ",".join(map(str, gs))]
        if w > 1:
            args += ["--world-size", w] + (["--drop-last"] if drop else [])
        assert [list(o.row_at_global(g)) for g in gs] == order_cli(*args)


def test_ranks_cover_the_epoch():
    n, w = 1000, 3
    for drop in (True, False):
        parts = [RankOrder(n, 9, w, r, drop).rows_of_epoch(4) for r in range(w)]
        allrows = np.concatenate(parts)
        if drop:
            assert len(set(allrows.tolist())) == len(allrows) == w * (n // w)
        else:
            assert set(allrows.tolist()) == set(range(n)) and len(allrows) == w * 334
        # global position g of the epoch is rank g % W's (g // W)-th row
        o = RankOrder(n, 9, w, 0, drop)
        for g in (0, 1, 2, 3, 500, o.per_epoch - 1):
            assert o.row_at_global(4 * o.per_epoch + g) == (4, int(parts[g % w][g // w]))


def test_resume_and_steps():
    o = RankOrder(1000, 1, 2, 1, True)
    full = o.rows_of_epoch(2)
    assert o.rows_of_epoch(2, start=137).tolist() == full[137:].tolist()
    steps = position_to_rows(8, 1000, seed=1, world_size=2, drop_last=True, step=70)
    assert steps == [o.row_at_global(g) for g in range(560, 568)]
    assert steps == position_to_rows(8, 1000, seed=1, world_size=2, drop_last=True,
                                     tokens_seen=70 * 8 * 2048, seq_len=2048)
    assert steps[1] == (0, int(o.rows_of_epoch(0)[280]))
    with pytest.raises(ValueError):
        RankOrder(5, 0, 2, 2)
    with pytest.raises(ValueError):
        EpochOrder(0)
    with pytest.raises(ValueError):
        EpochOrder(5, 2**64)
