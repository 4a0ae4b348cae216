"""compare.md from compare.json: the table (system x figure, ratios to the bare mmap read
of the same bytes), the targets of issue 8 met or missed, details and notes."""

import re
from pathlib import Path

MiB = 1 << 20


def install_failures(log_path):
    """Lines ``FAILED PACKAGE: reason`` that compare.sh wrote while installing."""
    if not log_path or not Path(log_path).exists():
        return {}
    out = {}
    for line in Path(log_path).read_text().splitlines():
        m = re.match(r"FAILED (\S+): (.*)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def us(ns):
    if ns is None:
        return None
    v = ns / 1000
    return f"{v:.2f}" if v < 100 else f"{v:,.0f}"


def dur(ns):
    """A duration in the unit that reads best."""
    if ns is None:
        return "—"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def mtoks(x):
    return "—" if x is None else f"{x / 1e6:,.0f}"


class Doc:
    def __init__(self, doc):
        self.d = doc
        self.r = doc["results"]
        self.meta = doc["corpus"]

    def get(self, key, *path):
        v = self.r.get(key)
        if v is None or "error" in v:
            return None
        for p in path:
            if not isinstance(v, dict) or p not in v or v[p] is None:
                return None
            v = v[p]
        return v

    def error(self, *keys):
        for k in keys:
            v = self.r.get(k)
            if v is not None and "error" in v:
                return f"{k}: {v['error']}"
        return None


def systems(d):
    """(label, dict of figures) in table order; figures in ns / tokens per s / bytes."""
    n = d.meta["n_tokens"]
    out = []

    def write_fig(seconds):
        return None if seconds is None else (seconds, n / seconds)

    for key in d.d.get("variants", ["tokpack"]):
        k = key.replace(" ", "-")
        rust = f"rust.{k}"
        if k == "tokpack":
            out.append(("bare Rust mmap of the .bin (**the limit**)", {
                "write": write_fig(d.get("write.tokpack-rust", "fs_write_s")),
                "write_note": "std::fs::write",
                "open": d.get(f"{rust}.open", "bare_first_ns"),
                "open_repeat": d.get(f"{rust}.open", "bare", "median_ns"),
                "row": d.get(f"{rust}.rows", "bare"),
                "doc": d.get(f"{rust}.docs", "bare"),
                "scan": d.get(f"{rust}.scan", "bare_tokens_per_s"),
                "rss": d.get(f"{rust}.rows", "peak_rss_bytes"),
                "error": d.error(f"{rust}.rows", f"{rust}.docs", f"{rust}.scan"),
                "limit": True,
            }))
        out.append((f"{key}, Rust API: `contiguous_tokens(i)` / `document(i)`", {
            "write": write_fig(d.get("write.tokpack-rust", "tokpack_writer_s"))
            if k == "tokpack" else None,
            "write_note": "Writer, no fsync",
            "open": d.get(f"{rust}.open", "tokpack_first_ns"),
            "open_repeat": d.get(f"{rust}.open", "tokpack", "median_ns"),
            "row": d.get(f"{rust}.rows", "tokpack"),
            "doc": d.get(f"{rust}.docs", "tokpack"),
            "scan": d.get(f"{rust}.scan", "tokpack_tokens_per_s"),
            "rss": d.get(f"{rust}.rows", "peak_rss_bytes"),
            "error": d.error(f"{rust}.rows", f"{rust}.docs", f"{rust}.scan", f"{rust}.open"),
            "target_rust": k == "tokpack",
        }))
        out.append((f"{key}, Rust API: `row_into` contiguous, all 5 fields (info)", {
            "row": d.get(f"{rust}.rows", "tokpack_row_into_contiguous"),
        }))
        if d.get(f"{rust}.rows", "tokpack_row_into_bfd_overlay"):
            out.append((f"{key}, Rust API: `row_into` bfd + overlay, all 5 fields (info)", {
                "row": d.get(f"{rust}.rows", "tokpack_row_into_bfd_overlay"),
            }))
    py = {
        "numpy-ram": ".bin read into RAM (numpy slice)",
        "numpy-memmap": "raw `np.memmap` of the .bin (nanoGPT)",
    }
    for key, label in py.items():
        out.append((label, pyfigs(d, key, write_key="write.numpy-memmap" if key ==
                                  "numpy-memmap" else None)))
    for key in d.d.get("variants", ["tokpack"]):
        k = key.replace(" ", "-")
        out.append((f"{key}, Python reader: `Rows.tokens(i)` / `document(i)`",
                    dict(pyfigs(d, k), target_py=k == "tokpack", write_note="Rust writer")))
        if f"py.{k}-packed.rows" in d.r:
            out.append((f"{key}, Python reader: bfd `Rows.row(i)` + overlay, 5 fields",
                        dict(pyfigs(d, f"{k}-packed"), target_packed=True)))
    for key, label in (("megatron", "Megatron-Core `IndexedDataset`"),
                       ("hf-datasets", "Hugging Face `datasets` (Arrow)"),
                       ("mds", "MosaicML `streaming` (MDS)"),
                       ("litdata", "`litdata`")):
        out.append((label, dict(pyfigs(d, key, write_key=f"write.{key}"), library=True)))
    return out


def pyfigs(d, key, write_key=None):
    n = d.meta["n_tokens"]
    p = f"py.{key}"
    w = d.get(write_key, "write_s") if write_key else None
    errs = [d.error(write_key)] if write_key else []
    errs.append(d.error(f"{p}.open", f"{p}.rows", f"{p}.docs", f"{p}.scan"))
    rss = [d.get(f"{p}.{ph}", "peak_rss_bytes") for ph in ("rows", "docs", "scan")]
    rss = [x for x in rss if x]
    return {
        "write": None if w is None else (w, n / w),
        "open": d.get(f"{p}.open", "first_ns"),
        "open_repeat": d.get(f"{p}.open", "repeat", "median_ns"),
        "row": d.get(f"{p}.rows"),
        "doc": d.get(f"{p}.docs"),
        "scan": d.get(f"{p}.scan", "tokens_per_s"),
        "rss": max(rss) if rss else None,
        "anon": d.get(f"{p}.rows", "rss_anon_bytes"),
        "error": next((e for e in errs if e), None),
    }


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}"


def table(d):
    rows = systems(d)
    bare = next((f for _, f in rows if f.get("limit")), {})
    bare_row = (bare.get("row") or {}).get("median_ns")
    bare_doc = (bare.get("doc") or {}).get("median_ns")
    mm = dict(rows).get("raw `np.memmap` of the .bin (nanoGPT)", {})
    mm_row = (mm.get("row") or {}).get("median_ns")
    lines = [
        "| system | write s (M tok/s) | open | row median µs | row p99 µs | row ÷ bare mmap "
        "| row ÷ np.memmap | doc median µs | doc p99 µs | doc ÷ bare | scan M tok/s "
        "| peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, f in rows:
        row, doc = f.get("row") or {}, f.get("doc") or {}
        w = f.get("write")
        wtxt = "—" if not w else f"{w[0]:.2f} ({w[1] / 1e6:,.0f})"
        cells = [
            label + (f" — **failed**: {f['error']}" if f.get("error") else ""),
            wtxt,
            dur(f.get("open")),
            us(row.get("median_ns")) or "—",
            us(row.get("p99_ns")) or "—",
            fmt_ratio(ratio(row.get("median_ns"), bare_row)),
            fmt_ratio(ratio(row.get("median_ns"), mm_row)),
            us(doc.get("median_ns")) or "—",
            us(doc.get("p99_ns")) or "—",
            fmt_ratio(ratio(doc.get("median_ns"), bare_doc)),
            mtoks(f.get("scan")),
            "—" if not f.get("rss") else f"{f['rss'] / MiB:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines), rows


def targets(d, rows):
    f = dict(rows)
    get = lambda pred: next((v for _, v in rows if pred(v)), {})  # noqa: E731
    rust = get(lambda v: v.get("target_rust"))
    bare = get(lambda v: v.get("limit"))
    pyc = get(lambda v: v.get("target_py"))
    pyp = get(lambda v: v.get("target_packed"))
    mm = f.get("raw `np.memmap` of the .bin (nanoGPT)", {})
    libs = [(label, v) for label, v in rows if v.get("library")]

    def med(v):
        return (v.get("row") or {}).get("median_ns")

    out = []

    def line(name, value, ok, detail=""):
        mark = "—" if ok is None else ("met" if ok else "**missed**")
        out.append(f"| {name} | {value} | {mark} | {detail} |")

    r = ratio(med(rust), med(bare))
    mapped = d.get("rust.tokpack.rows", "tokpack_mapped", "median_ns")
    mapped_bare = d.get("rust.tokpack.rows", "bare_mapped", "median_ns")
    line("Rust contiguous row within 1.1x of the bare mmap read", fmt_ratio(r),
         None if r is None else r <= 1.1,
         f"{us(med(rust))} vs {us(med(bare))} µs median (p99 "
         f"{us((rust.get('row') or {}).get('p99_ns'))} vs "
         f"{us((bare.get('row') or {}).get('p99_ns'))}); second pass, pages mapped: "
         f"{us(mapped)} vs {us(mapped_bare)} µs ({fmt_ratio(ratio(mapped, mapped_bare))})")
    pair_t = d.get("py.tokpack.pair", "tokpack", "median_ns")
    pair_m = d.get("py.tokpack.pair", "np_memmap", "median_ns")
    pair_v = d.get("py.tokpack.pair", "ndarray_view", "median_ns")
    r = ratio(pair_t, pair_m)
    line("Python contiguous row within 1.1x of the `np.memmap` slice", fmt_ratio(r),
         None if r is None else r <= 1.1,
         f"alternating in one process: {us(pair_t)} vs {us(pair_m)} µs median (a plain "
         f"ndarray view of the same mapping: {us(pair_v)}); separate processes (table): "
         f"{us(med(pyc))} vs {us(med(mm))} ({fmt_ratio(ratio(med(pyc), med(mm)))})")
    r = ratio(med(pyp), med(mm))
    line("Python bfd row (labels, position ids, overlay) within 2x of the `np.memmap` slice",
         fmt_ratio(r), None if r is None else r <= 2.0,
         f"{us(med(pyp))} vs {us(med(mm))} µs median")
    for name, v in (("contiguous", pyc), ("bfd + overlay", pyp)):
        got = [(label, med(lv)) for label, lv in libs if med(lv) is not None]
        if med(v) is None or not got:
            line(f"Python {name} row faster than every other library", "—", None)
            continue
        best = min(got, key=lambda x: x[1])
        line(f"Python {name} row faster than every other library",
             f"{us(med(v))} vs best {us(best[1])} µs", med(v) < best[1],
             f"fastest other: {best[0]}")
    r = ratio(rust.get("scan"), bare.get("scan"))
    line("Rust sequential scan at least 90% of the bare mmap sum",
         "—" if r is None else f"{100 * r:.0f}%", None if r is None else r >= 0.9,
         f"{mtoks(rust.get('scan'))} vs {mtoks(bare.get('scan'))} M tokens/s")
    tw = d.get("write.tokpack-rust", "tokpack_writer_s")
    nw = d.get("write.numpy-memmap", "write_s")
    r = ratio(nw, tw)
    line("Write at least the speed of `ndarray.tofile`", fmt_ratio(r),
         None if r is None else r >= 1.0,
         f"tokpack Writer {tw and f'{tw:.2f}'} s vs tofile {nw and f'{nw:.2f}'} s "
         "(ratio = speed of tokpack / speed of tofile)")
    bare_s = d.get("open-scaling.rust.100MB", "bare", "median_ns")
    bare_l = d.get("open-scaling.rust.10GB", "bare", "median_ns")
    size = ratio(d.get("open-scaling.make.10GB", "file_bytes"),
                 d.get("open-scaling.make.100MB", "file_bytes"))
    for lang, key in (("Rust", "rust"), ("Python", "py")):
        if key == "rust":
            small = d.get("open-scaling.rust.100MB", "tokpack", "median_ns")
            large = d.get("open-scaling.rust.10GB", "tokpack", "median_ns")
        else:
            small = d.get("open-scaling.py.100MB", "repeat", "median_ns")
            large = d.get("open-scaling.py.10GB", "repeat", "median_ns")
        r = ratio(large, small)
        line(f"Open constant in size ({lang}: 10 GB ÷ 100 MB, at most 2 for "
             f"{size or 0:.0f}x the bytes)", fmt_ratio(r),
             None if r is None else r <= 2.0,
             f"{dur(small)} vs {dur(large)} (median of repeats); a bare mmap of the same "
             f"files: {dur(bare_s)} vs {dur(bare_l)}")
    mt = d.get("memory.tokpack")
    mb = d.get("memory.memmap")
    if mt:
        own = mt["worker_own_max"]
        grow = mt.get("worker_own_growth_max")
        base = mb["worker_own_max"] if mb else None
        ok = grow is not None and grow <= 4 * MiB and (base is None or own <= base + 4 * MiB)
        line("8 DataLoader workers: page cache + a small constant each",
             f"max {own / MiB:.1f} MiB own per worker", ok,
             f"grew by at most {(grow or 0) / MiB:.1f} MiB from {mt.get('growth_window')}; "
             + (f"np.memmap dataset: {base / MiB:.1f} MiB own per worker" if base else ""))
    else:
        line("8 DataLoader workers: page cache + a small constant each", "—", None,
             d.error("memory.tokpack") or "")
    return ("| target | value | | detail |\n|---|---|---|---|\n" + "\n".join(out))


def details(d):
    lines = ["| system | documents: write s | rows (2049) pre-chunked: write s | bytes on disk "
             "| how |", "|---|---|---|---|---|"]
    tw = d.r.get("write.tokpack-rust", {})
    if "error" not in tw:
        runs = ", ".join(f"{x:.3f}" for x in tw.get("tokpack_writer_all_s", []))
        lines.append(f"| tokpack (Rust `Writer`) | {tw.get('tokpack_writer_s', 0):.3f} (all: {runs}) "
                     f"| — (contiguous rows need no copy) | {tw.get('file_bytes', 0):,} | "
                     f"median of {tw.get('repeats')} runs, each after `sync`, no fsync; "
                     f"`std::fs::write` of the same bytes, alternating with it: "
                     f"{tw.get('fs_write_s', 0):.3f} s |")
    for key, label in (("write.tokpack-cli-import", "tokpack CLI `import --from megatron`"),
                       ("write.tokpack-pack", "tokpack CLI `pack --strategy bfd` (plan)"),
                       ("write.tokpack-insert", "tokpack CLI `insert --random` (overlay)")):
        v = d.r.get(key)
        if v:
            txt = f"**failed**: {v['error']}" if "error" in v else f"{v['seconds']:.2f}"
            cmd = " ".join(map(str, v.get("command", [])))
            if d.d.get("work"):
                cmd = cmd.replace(d.d["work"] + "/", "")
            lines.append(f"| {label} | {txt} | | | `{cmd}` |")
    for key, label in (("numpy-memmap", "numpy `tofile`"), ("megatron", "Megatron-Core"),
                       ("hf-datasets", "HF datasets"), ("mds", "MDS"), ("litdata", "litdata")):
        v = d.r.get(f"write.{key}")
        if v is None:
            continue
        if "error" in v:
            lines.append(f"| {label} | **failed**: {v['error']} | | | |")
            continue
        rows_s = v.get("rows_write_s")
        runs = v.get("write_all_s")
        extra = f" (all: {', '.join(f'{x:.3f}' for x in runs)})" if runs else ""
        lines.append(f"| {label} | {v['write_s']:.3f}{extra} | "
                     f"{'—' if rows_s is None else f'{rows_s:.2f}'} | "
                     f"{v.get('bytes_on_disk', 0):,} | {v.get('what', '')} |")
    return "\n".join(lines)


def open_table(d):
    lines = ["| file | tokens | Rust `Dataset::open` first / median | bare mmap of the file, "
             "median | Python `tokpack.open` first / median |", "|---|---|---|---|---|"]
    for label in ("100MB", "10GB"):
        m = d.r.get(f"open-scaling.make.{label}", {})
        if "error" in m:
            lines.append(f"| {label} | **failed**: {m['error']} | | | |")
            continue
        ru = d.r.get(f"open-scaling.rust.{label}", {})
        pyo = d.r.get(f"open-scaling.py.{label}", {})
        rtxt = ("**failed**" if "error" in ru else
                f"{dur(ru.get('tokpack_first_ns'))} / {dur((ru.get('tokpack') or {}).get('median_ns'))}")
        ptxt = ("**failed**" if "error" in pyo else
                f"{dur(pyo.get('first_ns'))} / {dur((pyo.get('repeat') or {}).get('median_ns'))}")
        btxt = dur((ru.get("bare") or {}).get("median_ns"))
        lines.append(f"| {m.get('file_bytes', 0) / 1e9:.2f} GB, {m.get('documents', 0):,} docs "
                     f"| {m.get('tokens', 0):,} | {rtxt} | {btxt} | {ptxt} |")
    return "\n".join(lines)


def memory_table(d):
    lines = ["| dataset | rows read | per worker: RSS | PSS | own (private, less the data "
             "file's pages) | data file mapped | page cache of the file | file size |",
             "|---|---|---|---|---|---|---|---|"]
    for key, label in (("memory.tokpack", "tokpack `TokpackDataset`"),
                       ("memory.memmap", "`np.memmap` dataset")):
        v = d.r.get(key)
        if not v:
            continue
        if "error" in v:
            lines.append(f"| {label} | **failed**: {v['error']} | | | | | | |")
            continue
        w = v["per_worker"]

        def span(field):
            a, b = min(x[field] for x in w), max(x[field] for x in w)
            return f"{a / MiB:.0f}–{b / MiB:.0f} MiB"

        pc = v.get("page_cache_bytes")
        lines.append(f"| {label} | {v['rows_read']:,} | {span('Rss')} | {span('Pss')} | "
                     f"{span('own')} | {span('data_file_rss')} | "
                     f"{'—' if pc is None else f'{pc / MiB:.0f} MiB'} | "
                     f"{v['file_bytes'] / MiB:.0f} MiB |")
    return "\n".join(lines)


def markdown(doc):
    d = Doc(doc)
    m = doc["machine"]
    meta = d.meta
    v = m.get("versions", {})
    tbl, rows = table(d)
    ver = ", ".join(f"{k} {x}" for k, x in v.items() if x)
    fails = doc.get("install_failures") or {}
    out = [
        "# tokpack side by side (issue 8)",
        "",
        f"Command: `{doc.get('command') or 'bash tools/bench/compare.sh'}` "
        f"({doc['seconds'] / 60:.0f} min).",
        "",
        f"Machine: {m.get('nproc')} cores ({m.get('cpu', '?')}), "
        f"{(m.get('ram_bytes') or 0) / 2**30:.1f} GiB RAM, Linux {m.get('kernel')}, "
        f"Python {m.get('python')}; {ver}.",
        "",
        f"Load average (1 min) when the run started / ended: {m.get('load_start', '?')} / "
        f"{m.get('load_end', '?')} (the machine is shared: anything above ~0.2 is someone "
        "else's work competing for the 2 cores, and shows as noise, mostly in the p99s); "
        f"before each step the run waited for idle CPUs (at most 2 min), and before each measuring process at most 20 s: {m.get('quiet_before', {})}.",
        "",
        f"Corpus: {meta['n_tokens']:,} uint32 tokens, vocabulary 100,352, "
        f"{meta['n_docs']:,} documents (lognormal(6, 1) lengths clipped to [16, 32768], "
        f"mean {meta['doc_len_mean']:.0f}, median {meta['doc_len_median']:.0f}), seed 0; "
        f"{meta['n_rows']:,} contiguous rows of 2048 (+1 label token). "
        f"{meta['reads']:,} random reads per figure, the same indices for every system, "
        f"after {meta['warm_reads']} warm-up reads of other indices; each read timed alone.",
        "",
        "## Results",
        "",
        tbl,
        "",
        "Ratios are of medians, measured in the same run. `row ÷ bare mmap` divides by the "
        "bare Rust mmap read of the same 2049 tokens (the hardware limit); `row ÷ np.memmap` "
        "by the nanoGPT-style `np.memmap` slice. Open is the first open in a fresh process "
        "(imports done); scan is every token read in order and summed.",
        "",
        "## Targets",
        "",
        targets(d, rows),
        "",
        "## Writing",
        "",
        details(d),
        "",
        "## Open time against file size",
        "",
        open_table(d),
        "",
        "## Memory: 8 DataLoader workers reading random rows",
        "",
        memory_table(d),
        "",
    ]
    busy = sorted((k, v["quiet_before"]["busy"]) for k, v in d.r.items()
                  if isinstance(v, dict) and isinstance(v.get("quiet_before"), dict)
                  and v["quiet_before"].get("busy", 0) > 0.1)
    if busy:
        out += ["Measurements that started while other work kept the CPUs busy (the run "
                "waited up to 20 s for idle CPUs before each): "
                + ", ".join(f"`{k}` ({100 * b:.0f}%)" for k, b in busy) + ".", ""]
    if fails:
        out += ["## Install failures", ""] + [f"- `{k}`: {x}" for k, x in fails.items()] + [""]
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        out += [notes.read_text().strip(), ""]
    return "\n".join(out)
