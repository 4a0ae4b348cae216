#!/usr/bin/env python3
"""Random-row latency and sequential-scan throughput of this reader on one tokpack file.

    python tools/python/bench_zstd.py FILE [--seq-len 2048] [--samples 2000] [--seed 0]
                                           [--cache-blocks N] [--scan-rows N]

Run it on a raw file and on the same dataset compressed (``tokpack compress RAW -o Z``,
spec 5.6) and compare. It prints, for FILE (or a manifest):

- random rows: the median (and p90, p99) latency of reading the ``L + 1 = 2049``
  tokens of a random row of the contiguous view (``tokens_range``, what a trainer's
  input and labels come from), and of a whole ``Rows.row(i)`` (five arrays);
- sequential scan: rows read in order, tokens per second (the ``L + 1`` windows, and
  ``Rows`` rows), i.e. decompression throughput with the block cache doing its job.

Not a test; numbers depend on the machine and the page cache (run it twice: the
first run may read the file from disk).
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tokpack  # noqa: E402


def percentiles(ns):
    a = np.sort(np.asarray(ns, dtype=np.float64)) / 1e3
    return {p: float(np.percentile(a, p)) for p in (50, 90, 99)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--seq-len", type=int, default=2048, help="L (rows read L + 1 tokens)")
    ap.add_argument("--samples", type=int, default=2000, help="random rows timed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-blocks", type=int, default=None,
                    help="decompressed blocks kept (compressed files; default: the reader's)")
    ap.add_argument("--scan-rows", type=int, default=None,
                    help="rows read in the sequential scan (default: all)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    ds = tokpack.open(args.file, cache_blocks=args.cache_blocks)
    open_ms = (time.perf_counter() - t0) * 1e3
    L = args.seq_len
    rows = tokpack.Rows(ds, L)
    n_rows = len(rows)
    if n_rows == 0:
        sys.exit(f"{args.file}: fewer than {L + 1} tokens, no row of L = {L}")
    size = os.path.getsize(args.file)
    shards = [ds] if not getattr(ds, "is_manifest", False) else [
        ds.shard(k) for k in range(ds.num_shards)]
    compressed = [s for s in shards if getattr(s, "is_compressed", False)]
    kind = ("compressed (zstd blocks of " + ", ".join(sorted({str(s.block_tokens) for s in compressed}))
            + " tokens)") if compressed else "raw"
    print(f"file           {args.file}")
    print(f"               {size / 2**20:.1f} MiB, {ds.num_tokens} {ds.dtype} tokens "
          f"({size / max(ds.num_tokens, 1):.3f} bytes/token), {ds.num_documents} documents, "
          f"tokens {kind}")
    if compressed:
        print(f"               block cache {compressed[0].cache_blocks} blocks per process")
    print(f"open           {open_ms:.2f} ms")
    print(f"view           contiguous, L = {L}: {n_rows} rows of {L + 1} tokens")

    # Warm-up (imports, zstd context, first pages).
    rng = np.random.default_rng(args.seed)
    for i in rng.integers(0, n_rows, 20).tolist():
        rows.row(i)

    picks = rng.integers(0, n_rows, args.samples).tolist()
    window_ns, row_ns = [], []
    clock = time.perf_counter_ns
    for i in picks:
        start = i * L
        t = clock()
        w = ds.tokens_range(start, start + L + 1)
        window_ns.append(clock() - t)
        assert len(w) == L + 1
    picks = rng.integers(0, n_rows, args.samples).tolist()
    for i in picks:
        t = clock()
        rows.row(i)
        row_ns.append(clock() - t)
    w, r = percentiles(window_ns), percentiles(row_ns)
    print(f"random rows    {args.samples} rows: tokens_range of {L + 1} tokens median "
          f"{w[50]:.1f} us (p90 {w[90]:.1f}, p99 {w[99]:.1f}); Rows.row median "
          f"{r[50]:.1f} us (p90 {r[90]:.1f}, p99 {r[99]:.1f})")

    scan = n_rows if args.scan_rows is None else min(n_rows, args.scan_rows)
    for s in compressed:
        s.tokens.clear_cache()
    t = time.perf_counter()
    total = 0
    for i in range(scan):
        start = i * L
        total += len(ds.tokens_range(start, start + L + 1))
    dt = time.perf_counter() - t
    tokens = scan * L
    print(f"sequential     {scan} rows in order: tokens_range {tokens / dt / 1e6:.1f} M tokens/s "
          f"({tokens * np.dtype(rows_dtype(ds)).itemsize / dt / 2**20:.0f} MiB/s of tokens, "
          f"{dt / scan * 1e6:.1f} us/row)", end="")
    t = time.perf_counter()
    for i in range(scan):
        rows.row(i)
    dt = time.perf_counter() - t
    print(f"; Rows.row {tokens / dt / 1e6:.1f} M tokens/s ({dt / scan * 1e6:.1f} us/row)")


def rows_dtype(ds) -> str:
    return {"u8": "u1", "u16": "u2", "u32": "u4"}[ds.dtype]


if __name__ == "__main__":
    main()
