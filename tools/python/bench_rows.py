#!/usr/bin/env python3
"""Random-row latency of this reader against a raw ``np.memmap`` slice, in one process.

    python tools/python/bench_rows.py [--data DIR] [--corpus DIR] [--samples 20000]
                                      [--seed 0] [--profile]

The files are those of ``tools/bench/compare.sh`` (built there, only read here):
``DIR/corpus.tpk`` (the dataset), ``DIR/corpus.bfd2048.tpk`` (a bfd plan, L = 2048) and
``DIR/corpus.bfd2048.ins.tpk`` (a random insertion overlay of that view), and the
corpus's ``tokens.bin`` (the same uint32 tokens, raw). For each of ``--samples``
random rows, in turn (alternating, so that every reader sees the same machine
state), it times:

- ``np.memmap``: ``tokens[i*L : i*L + L + 1]`` of ``tokens.bin``, copied out (the
  baseline of the targets);
- ``Rows.tokens(i)``: the same ``L + 1`` tokens through the contiguous view, copied
  out the same way;
- ``Rows.row(i)`` of the bfd plan, without and with the overlay (all five fields,
  already owned arrays).

Each read is timed on its own (``perf_counter_ns``), as the side-by-side benchmark
does; it prints the median and p90 in microseconds and the ratio of medians to
``np.memmap``. ``--profile`` then runs ``cProfile`` over the bfd rows with the overlay.
Not a test; numbers depend on the machine (run it twice: the first run may read the
files from disk).
"""

import argparse
import cProfile
import os
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tokpack  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
L = 2048


def own(x):
    """As the side-by-side benchmark: a view is copied once, an owned array taken."""
    if type(x) is np.ndarray and x.base is None:
        return x
    return np.array(x)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join(REPO, "target/bench-compare/data/tokpack"))
    ap.add_argument("--corpus", default=os.path.join(REPO, "target/bench-compare/corpus"))
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)

    raw = np.memmap(os.path.join(args.corpus, "tokens.bin"), dtype=np.uint32, mode="r")
    ds = tokpack.open(os.path.join(args.data, "corpus.tpk"))
    plan = tokpack.open_plan(os.path.join(args.data, "corpus.bfd2048.tpk"))
    overlay = tokpack.open_overlay(os.path.join(args.data, "corpus.bfd2048.ins.tpk"))
    contiguous = tokpack.Rows(ds, L)
    bfd = tokpack.Rows(ds, plan=plan)
    bfd_ins = tokpack.Rows(ds, plan=plan, overlays=[overlay])
    assert len(raw) == ds.num_tokens

    rng = np.random.default_rng(args.seed)
    rows_c = rng.integers(0, len(contiguous), args.samples).tolist()
    rows_p = rng.integers(0, len(bfd), args.samples).tolist()

    def memmap_row(i):
        s = i * L
        return raw[s : s + L + 1]

    readers = {
        "np.memmap slice (L + 1 tokens)": (memmap_row, rows_c),
        "Rows.tokens(i), contiguous": (contiguous.tokens, rows_c),
        "Rows.row(i), bfd plan": (bfd.row, rows_p),
        "Rows.row(i), bfd plan + overlay": (bfd_ins.row, rows_p),
    }
    # Warm up: the pages of every row read, numpy's caches.
    for read, rows in readers.values():
        for i in rows[:2000]:
            own(read(i))
    clock = time.perf_counter_ns
    times = {name: np.empty(args.samples, dtype=np.int64) for name in readers}
    items = list(readers.items())
    for k in range(args.samples):
        for name, (read, rows) in items:
            i = rows[k]
            t0 = clock()
            own(read(i))
            times[name][k] = clock() - t0
    base = float(np.median(times["np.memmap slice (L + 1 tokens)"])) / 1e3
    print(f"{args.samples} random rows, L = {L}, numpy {np.__version__}")
    print(f"{'reader':36} {'median us':>10} {'p90 us':>8} {'x memmap':>9}")
    for name, t in times.items():
        med = float(np.median(t)) / 1e3
        p90 = float(np.percentile(t, 90)) / 1e3
        print(f"{name:36} {med:10.2f} {p90:8.2f} {med / base:9.2f}")

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for i in rows_p:
            bfd_ins.row(i)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
