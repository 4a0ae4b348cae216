"""Memory of 8 DataLoader workers reading random rows, in a fresh process:
``python memory.py --work W --dataset tokpack|memmap [--file F] [--workers 8]``.

The dataset is ``tokpack.torch.TokpackDataset`` (contiguous view, ``input_ids`` and
``labels``) or the nanoGPT-style ``np.memmap`` dataset doing the same slicing; batch 8,
random rows (``RandomSampler``, seeded), ``tokpack.torch.collate``. After ``--batches``
batches, with the workers still alive, each worker's ``/proc/PID/smaps_rollup`` and its
mapping of the data file (``/proc/PID/smaps``) are read, and the file's page-cache
residency (``fincore``). A worker's own memory is its private memory less the data
file's pages it alone maps (those are page cache, shared with every other reader).
Prints ``RESULT {json}``.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "python"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset, RandomSampler  # noqa: E402

import tokpack  # noqa: E402
from tokpack.torch import TokpackDataset, collate  # noqa: E402

from common import SEQ_LEN, Work  # noqa: E402

FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
          "Anonymous")


class MemmapRows(Dataset):
    """nanoGPT-style: row i is tokens[i*L : i*L + L + 1] widened to int64."""

    def __init__(self, path, offset, n):
        self.path, self.offset, self.n, self.mm = str(path), offset, n, None

    def __len__(self):
        return (self.n - 1) // SEQ_LEN

    def __getitem__(self, i):
        if self.mm is None:
            self.mm = np.memmap(self.path, dtype=np.uint32, mode="r", offset=self.offset,
                                shape=(self.n,))
        w = self.mm[i * SEQ_LEN:i * SEQ_LEN + SEQ_LEN + 1].astype(np.int64)
        return {"input_ids": torch.from_numpy(w[:-1]), "labels": torch.from_numpy(w[1:])}

    def __getstate__(self):
        return {**self.__dict__, "mm": None}


def rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in FIELDS:
                out[k] = int(v.split()[0]) * 1024
    return out


def file_mapping(pid, path):
    """Rss, Pss and private bytes of the process's mappings of ``path``."""
    path = os.path.realpath(path)
    got = {"Rss": 0, "Pss": 0, "Private": 0}
    inside = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                inside = len(head) >= 6 and os.path.realpath(head[5]) == path
                continue
            if inside:
                k, _, v = line.partition(":")
                if k in ("Rss", "Pss"):
                    got[k] += int(v.split()[0]) * 1024
                elif k in ("Private_Clean", "Private_Dirty"):
                    got["Private"] += int(v.split()[0]) * 1024
    return got


def snapshot(pid, path):
    r = rollup(pid)
    m = file_mapping(pid, path)
    r["data_file_rss"] = m["Rss"]
    r["data_file_pss"] = m["Pss"]
    r["data_file_private"] = m["Private"]
    r["own"] = r["Private_Clean"] + r["Private_Dirty"] - m["Private"]
    return r


def page_cache_bytes(path):
    try:
        r = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                           capture_output=True, text=True, check=True)
        return int(r.stdout.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--dataset", choices=["tokpack", "memmap"], required=True)
    ap.add_argument("--file", default=None)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batches", type=int, default=1500)
    a = ap.parse_args()
    work = Work(a.work)
    tpk = Path(a.file) if a.file else work.data / "tokpack" / "corpus.tpk"
    if a.dataset == "tokpack":
        path = tpk
        ds = TokpackDataset(tpk, SEQ_LEN, fields=("input_ids", "labels"))
    else:
        path = work.data / "numpy" / "tokens.bin"
        ds = MemmapRows(path, 0, os.path.getsize(path) // 4)
    n = len(ds)
    batches = min(a.batches, n // 8)
    sampler = RandomSampler(range(n), generator=torch.Generator().manual_seed(0))
    loader = DataLoader(ds, batch_size=8, sampler=sampler, num_workers=a.workers,
                        collate_fn=collate)
    parent_before = rollup(os.getpid())
    it = iter(loader)
    rows = 0
    early = None
    for b in range(batches):
        rows += next(it)["input_ids"].shape[0]
        if b + 1 == batches // 4:
            early = [snapshot(w.pid, path) for w in it._workers]
    workers = [snapshot(w.pid, path) for w in it._workers]
    growth = None if early is None else max(
        w["own"] - e["own"] for w, e in zip(workers, early))
    out = {
        "dataset": a.dataset, "file": str(path), "file_bytes": os.path.getsize(path),
        "workers": a.workers, "batches": batches, "rows_read": rows,
        "page_cache_bytes": page_cache_bytes(path),
        "parent_before": parent_before, "parent": rollup(os.getpid()),
        "per_worker": workers,
        "worker_own_max": max(w["own"] for w in workers),
        "worker_own_growth_max": growth,
        "growth_window": f"batches {batches // 4} to {batches}",
        "worker_own_mean": sum(w["own"] for w in workers) / len(workers),
        "worker_private_dirty_max": max(w["Private_Dirty"] for w in workers),
        "worker_pss_max": max(w["Pss"] for w in workers),
        "workers_data_file_rss_sum": sum(w["data_file_rss"] for w in workers),
        "workers_data_file_pss_sum": sum(w["data_file_pss"] for w in workers),
        "torch": torch.__version__,
    }
    del it
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
