"""The side-by-side benchmark of issue 8, driven by ``bash tools/bench/compare.sh``.

One deterministic corpus (numpy ``default_rng(0)``: document lengths lognormal(6, 1)
clipped to [16, 32768] until ``--tokens`` tokens, the last document cut to fit; token
ids uniform in [0, 100352) as uint32) is written into each system, then each figure of
each system is measured in a fresh process with the system's files in the page cache.
Every failure is recorded against its system and the run goes on. The results go to
``compare.json`` and ``compare.md`` (``--out``), and the table is printed.
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

from common import SEQ_LEN, VOCAB, WARM_READS, Work, n_rows, rows_form, warm_page_cache  # noqa: E402,E501
import report  # noqa: E402

SEED = 0

#: The tokpack files measured with the Rust API and the Python reader: (label, path). The
#: plain file is written by the Rust writer from the corpus. Hook for more variants (e.g.
#: "tokpack zstd", once `tokpack compress` exists): add an entry here, or pass
#: ``--tokpack-variant "tokpack zstd=PATH"`` (a file of the same corpus, made beforehand);
#: each variant gets the Rust rows/docs/scan/open and the Python rows/docs/scan/open.
TOKPACK_VARIANTS = [("tokpack", None)]  # None: data/tokpack/corpus.tpk

#: The Python systems, in table order (child.py's REGISTRY names).
PYTHON_SYSTEMS = ["numpy-ram", "numpy-memmap", "megatron", "hf-datasets", "mds", "litdata"]
#: Systems written by a child process (tokpack is written by the Rust bench).
WRITERS = ["numpy-memmap", "megatron", "hf-datasets", "mds", "litdata"]


def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the corpus ------------------------------------------------------------------------

def make_corpus(work, n_tokens, reads):
    """Writes the corpus and the read indices unless the same ones are there."""
    meta_path = work.corpus / "meta.json"
    want = {"n_tokens": n_tokens, "seed": SEED, "vocab": VOCAB, "reads": reads,
            "warm_reads": WARM_READS}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if all(meta.get(k) == v for k, v in want.items()) and work.bin.exists():
            log(f"corpus: reusing {work.corpus}")
            return meta
    work.corpus.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    rng = np.random.default_rng(SEED)
    lengths, total = [], 0
    while total < n_tokens:
        chunk = np.clip(rng.lognormal(6.0, 1.0, size=1 << 16), 16, 32768).astype(np.int64)
        lengths.append(chunk)
        total += int(chunk.sum())
    lengths = np.concatenate(lengths)
    ends = np.cumsum(lengths)
    n_docs = int(np.searchsorted(ends, n_tokens, side="left")) + 1
    offsets = np.concatenate(([0], ends[:n_docs])).astype(np.int64)
    offsets[-1] = n_tokens  # the last document cut to fit
    tokens = rng.integers(0, VOCAB, size=n_tokens, dtype=np.uint32)
    tokens.tofile(work.bin)
    np.save(work.offsets, offsets)
    r = n_rows(n_tokens)
    rows = rows_form(tokens)
    sum_rows = int(tokens[: r * SEQ_LEN].sum(dtype=np.uint64)) + int(
        rows[:, -1].sum(dtype=np.uint64))
    idx = np.random.default_rng(1)
    np.save(work.corpus / "rows.npy", idx.integers(0, r, size=reads, dtype=np.int64))
    np.save(work.corpus / "docs.npy", idx.integers(0, n_docs, size=reads, dtype=np.int64))
    warm = np.random.default_rng(2)
    np.save(work.corpus / "warm_rows.npy", warm.integers(0, r, size=WARM_READS, dtype=np.int64))
    np.save(work.corpus / "warm_docs.npy",
            warm.integers(0, n_docs, size=WARM_READS, dtype=np.int64))
    lens = np.diff(offsets)
    meta = {**want, "n_docs": n_docs, "n_rows": r, "seq_len": SEQ_LEN,
            "sum_tokens": int(tokens.sum(dtype=np.uint64)), "sum_rows_form": sum_rows,
            "doc_len_mean": float(lens.mean()), "doc_len_median": float(np.median(lens)),
            "doc_len_max": int(lens.max()), "seconds": time.perf_counter() - t}
    meta_path.write_text(json.dumps(meta, indent=1))
    log(f"corpus: {n_tokens:,} tokens, {n_docs:,} documents, {r:,} rows "
        f"({meta['seconds']:.1f} s)")
    return meta


# -- running measurements --------------------------------------------------------------

class Runner:
    def __init__(self, args, work):
        self.a = args
        self.work = work
        self.py = sys.executable
        self.results = {}  # key -> result dict (or {"error": ...})
        work.results.mkdir(parents=True, exist_ok=True)

    def run(self, key, cmd, timeout, parse="RESULT"):
        """Runs one measuring process; its JSON result (or the failure) under ``key``."""
        quiet = wait_quiet(self.a.quiet_wait_each, seconds=1.0, say=False)
        log(f"{key}: {' '.join(shlex.quote(str(c)) for c in cmd[:6])}{' ...' if len(cmd) > 6 else ''}")
        t = time.perf_counter()
        try:
            p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                               timeout=timeout, cwd=REPO)
            out = None
            for line in p.stdout.splitlines():
                if parse == "RESULT" and line.startswith("RESULT "):
                    out = json.loads(line[len("RESULT "):])
                elif parse == "json" and line.startswith("{"):
                    out = json.loads(line)
            if out is None:
                tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
                out = {"error": f"exit {p.returncode}: {tail[:300]}"}
            elif p.returncode != 0 and "error" not in out:
                out["error"] = f"exit {p.returncode}"
        except subprocess.TimeoutExpired:
            out = {"error": f"timed out after {timeout} s"}
            p = None
        out["wall_s"] = time.perf_counter() - t
        out["quiet_before"] = quiet
        if "error" in out:
            log(f"{key}: FAILED: {out['error']}")
            if p is not None and p.stderr:
                (self.work.results / f"{key}.stderr").write_text(p.stderr[-20000:])
        self.results[key] = out
        (self.work.results / f"{key}.json").write_text(json.dumps(out, indent=1))
        return out

    def child(self, key, system, phase, file=None, timeout=1800):
        cmd = [self.py, HERE / "child.py", "--work", self.work.root, "--system", system]
        if file:
            cmd += ["--file", file]
        return self.run(key, cmd + [phase], timeout)

    def rust(self, key, sub, timeout=1800, **kw):
        cmd = [self.a.rust_bench, sub]
        for k, v in kw.items():
            cmd += [f"--{k.replace('_', '-')}", v]
        return self.run(key, cmd, timeout, parse="json")

    def cli(self, key, args, timeout=1800):
        """Times a tokpack CLI command."""
        log(f"{key}: tokpack {' '.join(map(str, args[:4]))} ...")
        os.sync()
        t = time.perf_counter()
        p = subprocess.run([self.a.tokpack_bin, *map(str, args)], capture_output=True,
                           text=True, timeout=timeout)
        s = time.perf_counter() - t
        out = {"seconds": s, "stdout": p.stdout[-2000:], "command": ["tokpack", *map(str, args)]}
        if p.returncode != 0:
            out["error"] = f"exit {p.returncode}: {(p.stderr.strip().splitlines() or [''])[-1]}"
            log(f"{key}: FAILED: {out['error']}")
        self.results[key] = out
        (self.work.results / f"{key}.json").write_text(json.dumps(out, indent=1))
        return out


def system_files(work, name, kind="rows", file=None):
    from child import load_system

    try:
        return load_system(name, work, file).files(kind)
    except Exception:  # an import failure is reported by the measuring process itself
        return []


def tokpack_paths(work):
    d = work.system_dir("tokpack")
    return d / "corpus.tpk", d / "corpus.bfd2048.tpk", d / "corpus.bfd2048.ins.tpk"


# -- the steps -------------------------------------------------------------------------

def write_all(r, work, meta):
    tpk, plan, overlay = tokpack_paths(work)
    r.rust("write.tokpack-rust", "write", bin=work.bin, offsets=work.offsets, out=tpk,
           repeats=7)
    if tpk.exists():
        # The packed view and its overlay, with the CLI (timed for information).
        r.cli("write.tokpack-pack", ["pack", tpk, "--seq-len", SEQ_LEN, "--strategy", "bfd",
                                     "-o", plan, "--no-sync", "--json"])
        canaries = work.system_dir("tokpack") / "canaries.jsonl"
        rng = np.random.default_rng(4)
        n_ins = 2 * meta["n_rows"]
        with open(canaries, "w") as f:
            for _ in range(n_ins):
                ids = rng.integers(0, VOCAB, size=int(rng.integers(8, 65)))
                f.write('{"input_ids": [' + ",".join(map(str, ids.tolist())) + "]}\n")
        rows_of_plan = None
        try:
            sys.path.insert(0, str(REPO / "tools" / "python"))
            import tokpack

            rows_of_plan = tokpack.open_plan(plan).num_rows
        except Exception as e:
            log(f"plan: {e}")
        if rows_of_plan:
            r.cli("write.tokpack-insert",
                  ["insert", tpk, "--seq-len", SEQ_LEN, "--plan", plan, "--random", canaries,
                   "--rows", f"0:{rows_of_plan}", "--seed", 1, "--allow-drop", "-o", overlay,
                   "--no-sync"])
            r.results["write.tokpack-insert"]["insertions_asked"] = n_ins
            g = np.random.default_rng(3)
            np.save(work.corpus / "plan_rows.npy",
                    g.integers(0, rows_of_plan, size=meta["reads"], dtype=np.int64))
            np.save(work.corpus / "plan_warm_rows.npy",
                    g.integers(0, rows_of_plan, size=WARM_READS, dtype=np.int64))
            meta["plan_rows"] = rows_of_plan
    for name in WRITERS:
        if name in r.a.skip:
            continue
        r.child(f"write.{name}", name, "write", timeout=r.a.write_timeout)
    mega = work.data / "megatron" / "corpus_text_document"
    if "error" not in r.results.get("write.megatron", {"error": 1}):
        imported = work.system_dir("tokpack") / "imported.tpk"
        r.cli("write.tokpack-cli-import",
              ["import", "--from", "megatron", mega, "-o", imported, "--vocab-size", VOCAB,
               "--no-sync"])
        imported.unlink(missing_ok=True)


def warm(work, paths):
    paths = [p for p in paths if p and Path(p).exists()]
    return warm_page_cache(paths)


def read_all(r, work):
    tpk_plain, plan, overlay = tokpack_paths(work)
    variants = list(TOKPACK_VARIANTS)
    for v in r.a.tokpack_variant:
        label, _, path = v.partition("=")
        variants.append((label, path))
    for label, path in variants:
        tpk = Path(path) if path else tpk_plain
        key = label.replace(" ", "-")
        if not tpk.exists():
            r.results[f"rust.{key}.rows"] = {"error": f"{tpk} does not exist"}
            continue
        extra = {}
        if tpk == tpk_plain and overlay.exists() and (work.corpus / "plan_rows.npy").exists():
            extra = dict(plan=plan, overlay=overlay, plan_rows=work.corpus / "plan_rows.npy")
        for phase, kw in (("rows", dict(bin=work.bin, tpk=tpk, rows=work.corpus / "rows.npy",
                                        **extra)),
                          ("docs", dict(bin=work.bin, offsets=work.offsets, tpk=tpk,
                                        docs=work.corpus / "docs.npy")),
                          ("scan", dict(bin=work.bin, tpk=tpk, repeats=5)),
                          ("open", dict(bin=work.bin, tpk=tpk, repeats=200))):
            warm(work, [work.bin, tpk, plan, overlay])
            r.rust(f"rust.{key}.{phase}", phase, **kw)
        for phase in ("open", "rows", "docs", "scan", "pair"):
            warm(work, [tpk, work.data / "numpy" / "tokens.bin"])
            r.child(f"py.{key}.{phase}", "tokpack-python", phase,
                    file=None if tpk == tpk_plain else tpk)
        if tpk == tpk_plain:
            for phase in ("open", "rows"):
                warm(work, [tpk, plan, overlay])
                r.child(f"py.{key}-packed.{phase}", "tokpack-python-packed", phase)
    for name in PYTHON_SYSTEMS:
        if name in r.a.skip:
            continue
        if "error" in r.results.get(f"write.{'numpy-memmap' if name == 'numpy-ram' else name}",
                                    {}):
            r.results[f"py.{name}.rows"] = {"error": "not written (see its write)"}
            continue
        for phase in ("open", "rows", "docs", "scan"):
            kind = "docs" if phase == "docs" else "rows"
            warm(work, system_files(work, name, kind))
            r.child(f"py.{name}.{phase}", name, phase, timeout=r.a.read_timeout)


def memory_all(r, work):
    tpk, _, _ = tokpack_paths(work)
    for ds in ("tokpack", "memmap"):
        warm(work, [tpk, work.data / "numpy" / "tokens.bin"])
        r.run(f"memory.{ds}", [r.py, HERE / "memory.py", "--work", work.root, "--dataset", ds,
                               "--workers", 8, "--batches", r.a.memory_batches], 1800)


def open_scaling(r, work):
    """Open time of a ~100 MB and a ~10 GB tokpack file (Rust and Python)."""
    big = work.root / "open-scaling"
    big.mkdir(parents=True, exist_ok=True)
    for label, tokens in (("100MB", 25_000_000), ("10GB", r.a.big_tokens)):
        path = big / f"{label}.tpk"
        made = r.rust(f"open-scaling.make.{label}", "make", out=path, tokens=tokens,
                      timeout=3600)
        if "error" in made:
            continue
        warm(work, [path])
        # --bin: a bare mmap of the same file, the cost of mapping it alone.
        r.rust(f"open-scaling.rust.{label}", "open", tpk=path, bin=path, repeats=200)
        r.child(f"open-scaling.py.{label}", "tokpack-python", "open", file=path)
        path.unlink(missing_ok=True)
    shutil.rmtree(big, ignore_errors=True)


def cpu_busy(seconds=2.0):
    """Fraction of the machine's CPU time spent busy over ``seconds`` (/proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait

    t1, i1 = sample()
    time.sleep(seconds)
    t2, i2 = sample()
    return 1.0 - (i2 - i1) / max(t2 - t1, 1)


def wait_quiet(limit_s, busy_max=0.1, seconds=2.0, say=True):
    """Waits (up to ``limit_s``) until other work leaves the CPUs idle; returns the seconds
    waited and the last busy fraction seen. The machine may be shared."""
    t = time.perf_counter()
    busy = cpu_busy(seconds)
    while busy > busy_max and time.perf_counter() - t < limit_s:
        if say:
            log(f"waiting for a quiet machine: CPUs {100 * busy:.0f}% busy")
        time.sleep(3)
        busy = cpu_busy(seconds)
    return {"waited_s": round(time.perf_counter() - t, 1), "busy": round(busy, 3)}


def machine(args):
    info = {"nproc": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "platform": platform.platform()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["ram_bytes"] = int(line.split()[1]) * 1024
    except OSError:
        pass
    from importlib import metadata

    versions = {}
    for pkg in ("numpy", "torch", "datasets", "pyarrow", "mosaicml-streaming", "litdata",
                "megatron-core", "zstandard", "huggingface-hub"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        versions["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True,
                                           text=True).stdout.strip()
    except OSError:
        pass
    info["versions"] = versions
    try:
        info["disk"] = subprocess.run(["df", "-h", str(args.work)], capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1]
    except (OSError, IndexError):
        pass
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--tokens", type=int, default=50_000_000)
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--out", required=True, help="directory for compare.json / compare.md")
    ap.add_argument("--rust-bench", required=True, help="the built benches/compare binary")
    ap.add_argument("--tokpack-bin", required=True)
    ap.add_argument("--tokpack-variant", action="append", default=[], metavar="LABEL=PATH")
    ap.add_argument("--skip", action="append", default=[], help="a system to leave out")
    ap.add_argument("--big-tokens", type=int, default=2_500_000_000,
                    help="tokens of the large file of the open-scaling figure (10 GB)")
    ap.add_argument("--memory-batches", type=int, default=1500)
    ap.add_argument("--write-timeout", type=int, default=2400)
    ap.add_argument("--read-timeout", type=int, default=1800)
    ap.add_argument("--command", default="", help="the command line, for the record")
    ap.add_argument("--install-log", default=None)
    ap.add_argument("--steps", default="write,read,memory,open-scaling")
    ap.add_argument("--quiet-wait", type=int, default=120,
                    help="seconds to wait at most for idle CPUs before each step")
    ap.add_argument("--quiet-wait-each", type=int, default=20,
                    help="seconds to wait at most for idle CPUs before each measuring process")
    a = ap.parse_args()
    work = Work(a.work)
    steps = a.steps.split(",")
    if steps == ["report"]:  # re-render compare.md from compare.json (after editing NOTES.md)
        doc = json.loads((Path(a.out) / "compare.json").read_text())
        md = report.markdown(doc)
        (Path(a.out) / "compare.md").write_text(md)
        print(md)
        return
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0]
    meta = make_corpus(work, a.tokens, a.reads)
    r = Runner(a, work)
    # Results of earlier steps in this work dir (when a step is rerun alone).
    for f in work.results.glob("*.json"):
        r.results[f.stem] = json.loads(f.read_text())
    quiet = {}
    if "write" in steps:
        quiet["write"] = wait_quiet(a.quiet_wait)
        write_all(r, work, meta)
    if "read" in steps:
        quiet["read"] = wait_quiet(a.quiet_wait)
        read_all(r, work)
    if "memory" in steps:
        quiet["memory"] = wait_quiet(a.quiet_wait)
        memory_all(r, work)
    if "open-scaling" in steps:
        open_scaling(r, work)
    info = machine(a)
    info["load_start"], info["load_end"] = round(load_start, 2), round(os.getloadavg()[0], 2)
    info["quiet_before"] = quiet
    doc = {
        "command": a.command, "machine": info, "corpus": meta, "work": str(work.root),
        "install_failures": report.install_failures(a.install_log),
        "seconds": time.perf_counter() - t0, "results": r.results,
        "variants": [v[0] for v in TOKPACK_VARIANTS] + [v.split("=")[0] for v in
                                                        a.tokpack_variant],
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    md = report.markdown(doc)
    (out / "compare.md").write_text(md)
    print(md)
    log(f"done in {doc['seconds'] / 60:.1f} min; results in {out}/compare.{{json,md}}")


if __name__ == "__main__":
    main()
