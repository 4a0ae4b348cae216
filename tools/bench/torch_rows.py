"""Rows/s through DataLoader: tokpack.torch.TokpackDataset (contiguous view) vs a plain
np.memmap dataset doing the same slicing.

Like with like: both read the same file (built with the CLI from generated
pre-tokenized JSONL, vocab 100352 -> u32 tokens, no loss mask), return the same two
int64 tensors ``input_ids`` / ``labels`` (TokpackDataset with
``fields=("input_ids", "labels")``), go through the same DataLoader settings (batch
8, the same collate_fn) and read the same rows in the same order (one fixed random
permutation, given as the sampler). Repeats alternate between the datasets; the
medians are printed. For information: the all-five-fields TokpackDataset, and the
baseline slicing a plain ndarray view of its memmap (``np.asarray``, as TokpackDataset
does: slicing the ``np.memmap`` subclass itself runs Python-level ``__getitem__`` /
``__array_finalize__`` per row).

    python tools/bench/torch_rows.py [--tokens 20000000] [--seq-len 2048]
        [--batches 600] [--repeats 7]
"""
import argparse, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
from tokpack.torch import TokpackDataset, collate  # noqa: E402
import tokpack  # noqa: E402

BIN = os.environ.get("TOKPACK_BIN", str(HERE.parents[1] / "target" / "release" / "tokpack"))
VOCAB = 100352
BATCH = 8


class MemmapRows(Dataset):
    """The baseline: row i is tokens[i*L : i*L + L + 1] widened to int64, split into
    input_ids / labels (the contiguous view's drop tail: (n - 1) // L rows)."""

    def __init__(self, path, offset, n, L, ndarray=False):
        self.path, self.offset, self.n, self.L, self.mm = path, offset, n, L, None
        self.ndarray = ndarray  # slice a plain ndarray view of the memmap (information)

    def __len__(self):
        return (self.n - 1) // self.L

    def __getitem__(self, i):
        if self.mm is None:
            self.mm = np.memmap(self.path, dtype=np.uint32, mode="r", offset=self.offset, shape=(self.n,))
            if self.ndarray:
                self.mm = np.asarray(self.mm)
        w = self.mm[i * self.L : i * self.L + self.L + 1].astype(np.int64)
        return {"input_ids": torch.from_numpy(w[:-1]), "labels": torch.from_numpy(w[1:])}

    def __getstate__(self):
        return {**self.__dict__, "mm": None}


def rate(ds, workers, order):
    """Rows/s over ``order`` (after the first batch, which pays worker start-up)."""
    dl = DataLoader(ds, batch_size=BATCH, sampler=order, num_workers=workers, collate_fn=collate)
    it = iter(dl)
    next(it)
    t = time.perf_counter()
    k = 0
    for batch in it:
        k += batch["input_ids"].shape[0]
    return k / (time.perf_counter() - t)


def build(d, tokens):
    rng = np.random.default_rng(0)
    src = Path(d) / "in.jsonl"
    with open(src, "w") as f:
        left = tokens
        while left > 0:
            n = min(left, int(rng.integers(100, 8000)))
            ids = ",".join(map(str, rng.integers(0, VOCAB, n).tolist()))
            f.write('{"input_ids": [' + ids + "]}\n")
            left -= n
    out = Path(d) / "b.tpk"
    subprocess.run([BIN, "build", str(src), "-o", str(out), "--vocab-size", str(VOCAB), "--no-sync"],
                   check=True, capture_output=True)
    src.unlink()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=20_000_000)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batches", type=int, default=600, help="batches per measurement")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = build(d, a.tokens)
        ds = tokpack.open(out)
        tok = ds.sections[0]
        assert ds.dtype == "u32" and not ds.has_loss_mask
        L = a.seq_len
        mine = TokpackDataset(out, L, fields=("input_ids", "labels"))
        five = TokpackDataset(out, L)
        plain = MemmapRows(str(out), tok["offset"], ds.num_tokens, L)
        view = MemmapRows(str(out), tok["offset"], ds.num_tokens, L, ndarray=True)
        assert len(mine) == len(plain) == len(five)
        # Same values, same dtypes, before timing anything.
        for i in (0, 1, len(plain) // 2, len(plain) - 1):
            x, y = mine[i], plain[i]
            for k in ("input_ids", "labels"):
                assert x[k].dtype == y[k].dtype == torch.int64 and torch.equal(x[k], y[k])
        rows = min(a.batches * BATCH, len(plain) // BATCH * BATCH)
        order = np.random.default_rng(1).permutation(len(plain))[:rows].tolist()
        np.asarray(np.memmap(out, dtype=np.uint8, mode="r")).sum()  # page cache warm
        print(f"{ds.num_tokens:,} u32 tokens (vocab {VOCAB}), L={L}, {len(plain)} rows; "
              f"batch {BATCH}, {rows} rows per measurement in one fixed random order, "
              f"median of {a.repeats} alternating repeats; torch {torch.__version__}, "
              f"{os.cpu_count()} CPUs")
        for w in a.workers:
            r_mine, r_plain, r_five, r_view = [], [], [], []
            for _ in range(a.repeats):
                r_mine.append(rate(mine, w, order))
                r_plain.append(rate(plain, w, order))
                r_five.append(rate(five, w, order))
                r_view.append(rate(view, w, order))
            m1, m2, m5, mv = (statistics.median(r) for r in (r_mine, r_plain, r_five, r_view))
            print(f"num_workers={w}: TokpackDataset(fields=input_ids,labels) {m1:,.0f} rows/s, "
                  f"np.memmap {m2:,.0f} rows/s, ratio {m1 / m2:.2f}")
            print(f"    for information: all five fields {m5:,.0f} rows/s (ratio {m5 / m2:.2f}); "
                  f"baseline slicing np.asarray(memmap) {mv:,.0f} rows/s "
                  f"(TokpackDataset / it: {m1 / mv:.2f})")


if __name__ == "__main__":
    main()
