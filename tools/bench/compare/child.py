"""One measurement in a fresh process: ``python child.py --work W --system NAME PHASE``.

Phases: ``write`` (from the corpus arrays loaded into memory first), ``open``, ``rows``
(random contiguous rows), ``docs`` (random documents), ``scan`` (every token in order,
summed). The driver warms the page cache with the system's files before each. Prints
one line ``RESULT {json}``; on failure ``{"error": ...}`` and exit status 1.
"""

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import ROW, SEQ_LEN, WARM_READS, Work, memory, own, quantiles, sizes, time_reads  # noqa: E402,E501

#: name -> (module, class). Each class: label, uses_rows_form, reopen, files(kind),
#: write(tokens, offsets), open(kind), row_reader(h), doc_reader(h), scan(h).
REGISTRY = {
    "numpy-ram": ("sys_numpy", "NumpyRam"),
    "numpy-memmap": ("sys_numpy", "NumpyMemmap"),
    "tokpack-python": ("sys_tokpack", "TokpackPython"),
    "tokpack-python-packed": ("sys_tokpack", "TokpackPythonPacked"),
    "megatron": ("sys_megatron", "Megatron"),
    "hf-datasets": ("sys_hf", "HFDatasets"),
    "mds": ("sys_mds", "MDS"),
    "litdata": ("sys_litdata", "Litdata"),
}

CHECKED_READS = 50  # reads compared with the corpus after timing


def load_system(name, work, file=None):
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(module), cls)(work, file)


def phase_write(system, work):
    tokens = np.fromfile(work.bin, dtype=np.uint32)
    offsets = np.load(work.offsets)
    out = system.write(tokens, offsets)
    out["bytes_on_disk"] = sizes(system.files("rows") + system.files("docs"))
    return out


def phase_open(system, work):
    t = time.perf_counter_ns()
    h = system.open_dataset() if hasattr(system, "open_dataset") else system.open("rows")
    first = time.perf_counter_ns() - t
    out = {"first_ns": first}
    if system.reopen:
        del h
        runs = []
        for _ in range(20):
            t = time.perf_counter_ns()
            h = system.open_dataset() if hasattr(system, "open_dataset") else system.open("rows")
            runs.append(time.perf_counter_ns() - t)
            del h
        out["repeat"] = quantiles(runs)
    out["bytes_on_disk"] = sizes(system.files("rows"))
    return out


def phase_reads(system, work, kind):
    meta = work.meta()
    packed = kind == "rows" and getattr(system, "packed", False)
    idx_name = {"rows": "plan_rows" if packed else "rows", "docs": "docs"}[kind]
    warm_name = {"rows": "plan_warm_rows" if packed else "warm_rows", "docs": "warm_docs"}[kind]
    idx = work.indices(idx_name).tolist()
    warm = work.indices(warm_name).tolist()
    t = time.perf_counter_ns()
    h = system.open(kind)
    open_ns = time.perf_counter_ns() - t
    read = system.row_reader(h) if kind == "rows" else system.doc_reader(h)
    for i in warm[:WARM_READS]:
        own(read(i))
    ns, _ = time_reads(read, idx)
    out = {"open_ns": open_ns, "reads": len(idx), **quantiles(ns)}
    # Did it read what it should? (After timing; packed rows are checked by the tests.)
    truth = np.memmap(work.bin, dtype=np.uint32, mode="r")
    offsets = np.load(work.offsets)
    bad = 0
    for i in idx[:CHECKED_READS]:
        got = own(read(i))
        if packed:
            ok = got.shape == (SEQ_LEN,)
        elif kind == "rows":
            ok = np.array_equal(got, truth[i * SEQ_LEN:i * SEQ_LEN + ROW])
        else:
            ok = np.array_equal(got, truth[offsets[i]:offsets[i + 1]])
        bad += not ok
    out["checked"] = CHECKED_READS
    out["mismatches"] = bad
    if bad:
        raise AssertionError(f"{bad} of {CHECKED_READS} {kind} differ from the corpus")
    out["n_docs"] = meta["n_docs"]
    return out


def phase_pair(system, work):
    """The Python target pair in one process, alternating index by index as the Rust
    half does: the ``np.memmap`` slice (nanoGPT) and tokpack's ``Rows.tokens(i)``; for
    information, a slice of a plain ndarray view of the same mapping."""
    from sys_numpy import NumpyMemmap

    mm, _ = NumpyMemmap(work).open("rows")
    plain = np.asarray(mm)
    h = system.open("rows")
    tok = system.row_reader(h)
    idx = work.indices("rows").tolist()
    for i in work.indices("warm_rows").tolist():
        own(mm[i * SEQ_LEN:i * SEQ_LEN + ROW]), own(tok(i))
    clock = time.perf_counter_ns
    a, b, c = (np.empty(len(idx), dtype=np.int64) for _ in range(3))
    for k, i in enumerate(idx):
        s = i * SEQ_LEN
        if k % 2 == 0:
            t0 = clock()
            x = own(mm[s:s + ROW])
            t1 = clock()
            y = own(tok(i))
            t2 = clock()
            a[k], b[k] = t1 - t0, t2 - t1
        else:
            t0 = clock()
            y = own(tok(i))
            t1 = clock()
            x = own(mm[s:s + ROW])
            t2 = clock()
            a[k], b[k] = t2 - t1, t1 - t0
        t0 = clock()
        own(plain[s:s + ROW])
        c[k] = clock() - t0
        if k < CHECKED_READS and not np.array_equal(x, y):
            raise AssertionError(f"row {i}: tokpack and np.memmap differ")
    return {"reads": len(idx), "np_memmap": quantiles(a), "tokpack": quantiles(b),
            "ndarray_view": quantiles(c)}


def phase_scan(system, work):
    meta = work.meta()
    t = time.perf_counter_ns()
    h = system.open("scan")
    open_ns = time.perf_counter_ns() - t
    total = count = 0
    t = time.perf_counter()
    for a in system.scan(h):
        a = np.asarray(a)
        total += int(a.sum(dtype=np.uint64))
        count += a.size
    s = time.perf_counter() - t
    want = meta["sum_rows_form"] if system.uses_rows_form else meta["sum_tokens"]
    if total != want:
        raise AssertionError(f"scan sum {total} != {want}")
    return {"open_ns": open_ns, "seconds": s, "tokens": count, "tokens_per_s": count / s,
            "what": "rows form (each row's 2049 tokens)" if system.uses_rows_form
            else "the token stream"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--system", required=True, choices=sorted(REGISTRY))
    ap.add_argument("--file", default=None, help="tokpack file of a variant")
    ap.add_argument("phase", choices=["write", "open", "rows", "docs", "scan", "pair"])
    a = ap.parse_args()
    work = Work(a.work)
    try:
        system = load_system(a.system, work, a.file)
        if a.phase == "write":
            out = phase_write(system, work)
        elif a.phase == "open":
            out = phase_open(system, work)
        elif a.phase == "scan":
            out = phase_scan(system, work)
        elif a.phase == "pair":
            out = phase_pair(system, work)
        else:
            out = phase_reads(system, work, a.phase)
        out.update(memory())
        print("RESULT " + json.dumps(out), flush=True)
    except Exception as e:  # reported to the driver, which marks the system failed
        traceback.print_exc()
        msg = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        print("RESULT " + json.dumps({"error": msg, **memory()}), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
