"""What every measuring process shares: the work directory's layout, the corpus, timing
of single reads, quantiles, and memory figures.

The work directory (``W``, default ``target/bench-compare``) holds:

- ``corpus/tokens.bin``: the token stream, raw little-endian ``uint32`` (nanoGPT style);
- ``corpus/offsets.npy``: ``int64[n_docs + 1]`` document boundaries into it;
- ``corpus/meta.json``: sizes, seed, sums (to check every system read what it should);
- ``corpus/{rows,docs,warm_rows,warm_docs,plan_rows}.npy``: the seeded indices every
  system reads, in the same order;
- ``data/SYSTEM/``: each system's own files;
- ``results/*.json``: one file per measuring process.
"""

import json
import os
import resource
import time
from pathlib import Path

import numpy as np

SEQ_LEN = 2048
ROW = SEQ_LEN + 1  # a contiguous row reads L + 1 tokens: x = row[:-1], y = row[1:]
VOCAB = 100_352
WARM_READS = 200  # reads (other indices) before timing: lazy opens, caches, imports


class Work:
    """Paths inside the work directory."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.corpus = self.root / "corpus"
        self.data = self.root / "data"
        self.results = self.root / "results"

    @property
    def bin(self):
        return self.corpus / "tokens.bin"

    @property
    def offsets(self):
        return self.corpus / "offsets.npy"

    def meta(self):
        return json.loads((self.corpus / "meta.json").read_text())

    def indices(self, name):
        return np.load(self.corpus / f"{name}.npy")

    def system_dir(self, name):
        d = self.data / name
        d.mkdir(parents=True, exist_ok=True)
        return d


def n_rows(n_tokens):
    """Rows of the contiguous view, tail dropped (spec 12.1): floor((n - 1) / L)."""
    return (n_tokens - 1) // SEQ_LEN


def own(x):
    """The read made into a numpy array that owns its tokens. Every system's result goes
    through this: a view into a mapping (np.memmap, tokpack, Megatron, Arrow) or a torch
    tensor is copied once; an array the library already built for this read is taken
    as it is."""
    if type(x) is np.ndarray and x.base is None:
        return x
    return np.array(x)


def quantiles(ns):
    """Nearest-rank median and p99 (the same definition as benches/compare.rs)."""
    v = np.sort(np.asarray(ns, dtype=np.int64))
    n = len(v)

    def q(p):
        return int(v[min(max(int(np.ceil(p * n)), 1), n) - 1])

    return {"n": n, "median_ns": q(0.5), "p99_ns": q(0.99), "mean_ns": float(v.mean()),
            "min_ns": int(v[0])}


def time_reads(read, indices):
    """Each ``read(i)`` timed on its own with perf_counter_ns, its result made owned."""
    clock = time.perf_counter_ns
    out = np.empty(len(indices), dtype=np.int64)
    last = None
    for k, i in enumerate(indices):
        t0 = clock()
        last = own(read(i))
        out[k] = clock() - t0
    return out, last


def memory():
    """Peak RSS (ru_maxrss) and the current anonymous / file-backed resident memory."""
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                status[k] = int(v.split()[0]) * 1024
    return {
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_anon_bytes": status.get("RssAnon"),
        "rss_file_bytes": status.get("RssFile"),
    }


def warm_page_cache(paths):
    """Read every file once so that it sits in the page cache (a hot-cache benchmark)."""
    total = 0
    for p in paths:
        p = Path(p)
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in files:
            with open(f, "rb", buffering=0) as fh:
                while True:
                    b = fh.read(1 << 24)
                    if not b:
                        break
                    total += len(b)
    return total


def sizes(paths):
    total = 0
    for p in paths:
        p = Path(p)
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(q.stat().st_size for q in p.rglob("*") if q.is_file())
    return total


def sync():
    os.sync()


def rows_form(tokens):
    """The contiguous rows as an ``(R, L + 1)`` strided view of the stream (row ``i`` is
    ``tokens[i*L : i*L + L + 1]``; neighbours share one token). Systems that store fixed
    samples store these."""
    r = n_rows(len(tokens))
    s = tokens.strides[0]
    return np.lib.stride_tricks.as_strided(tokens, shape=(r, ROW), strides=(SEQ_LEN * s, s),
                                           writeable=False)
