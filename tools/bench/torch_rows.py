"""Rows/s through DataLoader: tokpack.torch.TokpackDataset (contiguous view) vs a plain
np.memmap dataset doing the same slicing (input_ids / labels only).

    python tools/bench/torch_rows.py [--tokens 5000000] [--seq-len 2048]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
from tokpack.torch import TokpackDataset, collate  # noqa: E402
import tokpack  # noqa: E402

BIN = os.environ.get("TOKPACK_BIN", str(HERE.parents[1] / "target" / "release" / "tokpack"))


class MemmapRows(Dataset):
    def __init__(self, path, offset, n, L):
        self.path, self.offset, self.n, self.L, self.mm = path, offset, n, L, None
    def __len__(self):
        return (self.n - 1) // self.L
    def __getitem__(self, i):
        if self.mm is None:
            self.mm = np.memmap(self.path, dtype=np.uint32, mode="r", offset=self.offset, shape=(self.n,))
        w = self.mm[i * self.L : i * self.L + self.L + 1].astype(np.int64)
        return {"input_ids": torch.from_numpy(w[:-1]), "labels": torch.from_numpy(w[1:])}
    def __getstate__(self):
        return {**self.__dict__, "mm": None}


def rate(ds, workers, batches, collate_fn=None):
    dl = DataLoader(ds, batch_size=8, num_workers=workers, shuffle=False, collate_fn=collate_fn)
    it = iter(dl); next(it)
    t = time.perf_counter(); k = 0
    for _ in range(batches):
        try: next(it); k += 8
        except StopIteration: break
    return k / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=5_000_000)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        src = Path(d) / "in.jsonl"
        with open(src, "w") as f:
            left = a.tokens
            while left > 0:
                n = min(left, int(rng.integers(100, 8000)))
                f.write(json.dumps({"input_ids": rng.integers(0, 100000, n).tolist()}) + "\n")
                left -= n
        out = Path(d) / "b.tpk"
        subprocess.run([BIN, "build", str(src), "-o", str(out), "--vocab-size", "100000", "--no-sync"],
                       check=True, capture_output=True)
        ds = tokpack.open(out)
        tok = ds.sections[0]
        assert ds.dtype == "u32"
        mine = TokpackDataset(out, a.seq_len)
        plain = MemmapRows(str(out), tok["offset"], ds.num_tokens, a.seq_len)
        batches = min(len(plain) // 8 - 2, 200)
        print(f"{ds.num_tokens} u32 tokens, L={a.seq_len}, {len(plain)} rows, batch 8, {batches} batches")
        for w in (0, 2):
            r1 = [rate(mine, w, batches, collate) for _ in range(a.repeats)]
            r2 = [rate(plain, w, batches) for _ in range(a.repeats)]
            m1, m2 = statistics.median(r1), statistics.median(r2)
            print(f"num_workers={w}: TokpackDataset {m1:,.0f} rows/s, np.memmap {m2:,.0f} rows/s, ratio {m1 / m2:.2f}")


if __name__ == "__main__":
    main()
