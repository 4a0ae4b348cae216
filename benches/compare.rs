//! The Rust half of the side-by-side benchmark (issue 8): tokpack's Rust API against a bare
//! `mmap` of the raw `.bin` holding the same tokens, the hardware limit of the table.
//!
//! `bash tools/bench/compare.sh` drives it, one subcommand per fresh process, and reads the
//! one JSON object each prints on stdout. Run by hand:
//!
//! ```text
//! cargo bench --bench compare -- write --bin T.bin --offsets O.npy --out X.tpk [--repeats 3]
//! cargo bench --bench compare -- open  --bin T.bin --tpk X.tpk [--repeats 200]
//! cargo bench --bench compare -- rows  --bin T.bin --tpk X.tpk --rows R.npy
//!                                      [--plan P.tpk --overlay O.tpk --plan-rows Q.npy]
//! cargo bench --bench compare -- docs  --bin T.bin --offsets O.npy --tpk X.tpk --docs D.npy
//! cargo bench --bench compare -- scan  --bin T.bin --tpk X.tpk [--repeats 5]
//! cargo bench --bench compare -- make  --out X.tpk --tokens N   (a synthetic file, for open)
//! ```
//!
//! Index files (`R.npy`, `D.npy`, `O.npy`) are little-endian `int64`/`uint64` `.npy` arrays.
//! Each read is timed on its own with `Instant` (the TSC), and the bare read and tokpack's
//! alternate index by index in one process, so both see the same machine state. Without a
//! subcommand (as `cargo bench` runs every bench) it prints this usage and exits 0.

use std::collections::HashMap;
use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use memmap2::Mmap;
use serde_json::{json, Value};
use tokpack::{
    Dataset, Overlay, Plan, RowBuffers, RowOptions, Rows, TokenSlice, Writer, WriterOptions,
};
use zerocopy::{FromBytes, IntoBytes};

const VOCAB: u64 = 100_352;
const SEQ_LEN: u64 = 2048;
const ROW: usize = SEQ_LEN as usize + 1;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    // cargo passes `--bench` to harness = false benches.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(cmd) = args.first().cloned() else {
        eprintln!("{}", usage());
        return;
    };
    let opts = match parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => fail(&e),
    };
    let out = match cmd.as_str() {
        "write" => write(&opts),
        "open" => open(&opts),
        "rows" => rows(&opts),
        "docs" => docs(&opts),
        "scan" => scan(&opts),
        "make" => make(&opts),
        _ => Err(format!("unknown subcommand {cmd:?}\n{}", usage()).into()),
    };
    match out {
        Ok(mut v) => {
            v["peak_rss_bytes"] = json!(peak_rss());
            println!("{v}");
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn usage() -> &'static str {
    "compare: the Rust half of tools/bench/compare.sh (see benches/compare.rs); \
     subcommands write, open, rows, docs, scan, make"
}

fn fail(msg: &str) -> ! {
    eprintln!("compare: {msg}");
    std::process::exit(2)
}

struct Opts(HashMap<String, String>);

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut m = HashMap::new();
    let mut it = args.iter();
    while let Some(k) = it.next() {
        let key = k
            .strip_prefix("--")
            .ok_or_else(|| format!("expected --option, got {k:?}"))?;
        let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        m.insert(key.to_string(), v.clone());
    }
    Ok(Opts(m))
}

impl Opts {
    fn path(&self, k: &str) -> Res<PathBuf> {
        Ok(PathBuf::from(
            self.0.get(k).ok_or_else(|| format!("--{k} is required"))?,
        ))
    }
    fn opt_path(&self, k: &str) -> Option<PathBuf> {
        self.0.get(k).map(PathBuf::from)
    }
    fn num(&self, k: &str, default: u64) -> Res<u64> {
        match self.0.get(k) {
            Some(v) => Ok(v.parse().map_err(|_| format!("--{k}: not a number: {v}"))?),
            None => Ok(default),
        }
    }
}

/// The process's peak resident set (ru_maxrss) from /proc/self/status, in bytes.
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A 1-D little-endian 8-byte integer `.npy` array (`<i8` or `<u8`), as u64.
fn read_npy_u64(path: &Path) -> Res<Vec<u64>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{}: not a .npy file", path.display()).into());
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen])?;
    if !(header.contains("'<i8'") || header.contains("'<u8'")) || header.contains("True") {
        return Err(format!(
            "{}: want a C-order <i8 or <u8 array, header {header}",
            path.display()
        )
        .into());
    }
    let body = &bytes[start + hlen..];
    Ok(body
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("can't fail: chunks of 8")))
        .collect())
}

/// The bare baseline: the raw `.bin` mapped read-only, viewed as `&[u32]`.
struct BareMap {
    map: Mmap,
}

impl BareMap {
    fn open(path: &Path) -> Res<BareMap> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the benchmark's files are written once before it runs and never changed
        // while mapped; nothing else truncates them.
        let map = unsafe { Mmap::map(&file)? };
        Ok(BareMap { map })
    }
    fn tokens(&self) -> &[u32] {
        <[u32]>::ref_from_bytes(&self.map[..]).expect("a .bin of u32 tokens, page aligned")
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// Sorted nanoseconds -> the figures every system reports (nearest-rank quantiles).
fn summary(mut ns: Vec<u64>) -> Value {
    ns.sort_unstable();
    let n = ns.len();
    let q = |p: f64| ns[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    json!({
        "n": n,
        "median_ns": q(0.5),
        "p99_ns": q(0.99),
        "mean_ns": ns.iter().sum::<u64>() as f64 / n as f64,
        "min_ns": ns[0],
    })
}

fn elapsed_ns(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() - 1) / 2]
}

fn sync_all() {
    let _ = std::process::Command::new("sync").status();
}

/// `write`: the tokens and offsets loaded into memory, then `Writer` pushing every document
/// (no fsync, like `ndarray.tofile`), against `std::fs::write` of the same token bytes.
fn write(o: &Opts) -> Res<Value> {
    let bin = o.path("bin")?;
    let out = o.path("out")?;
    let repeats = o.num("repeats", 7)?;
    let offsets = read_npy_u64(&o.path("offsets")?)?;
    let mut tokens = vec![0u32; (std::fs::metadata(&bin)?.len() / 4) as usize];
    File::open(&bin)?.read_exact(tokens.as_mut_bytes())?;
    let n_docs = offsets.len() - 1;
    if offsets[n_docs] as usize != tokens.len() {
        return Err("offsets do not end at the number of tokens".into());
    }
    let plain = out.with_extension("fswrite.bin");
    let (mut tpk_s, mut fs_s) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&plain);
        sync_all();
        let t = Instant::now();
        std::fs::write(&plain, tokens.as_bytes())?;
        fs_s.push(t.elapsed().as_secs_f64());
        sync_all();
        let t = Instant::now();
        let mut opts = WriterOptions::new(VOCAB);
        opts.sync = false;
        let mut w = Writer::create(&out, opts)?;
        for win in offsets.windows(2) {
            w.push_document(&tokens[win[0] as usize..win[1] as usize], None)?;
        }
        let s = w.finish()?;
        tpk_s.push(t.elapsed().as_secs_f64());
        if s.num_tokens as usize != tokens.len() || s.num_documents as usize != n_docs {
            return Err("the writer's counts differ from the input".into());
        }
    }
    let _ = std::fs::remove_file(&plain);
    let bytes = tokens.len() as f64 * 4.0;
    let (tpk, fsw) = (median_f64(tpk_s.clone()), median_f64(fs_s.clone()));
    Ok(json!({
        "tokens": tokens.len(), "documents": n_docs, "repeats": repeats,
        "tokpack_writer_s": tpk, "tokpack_writer_all_s": tpk_s,
        "tokpack_writer_tokens_per_s": tokens.len() as f64 / tpk,
        "fs_write_s": fsw, "fs_write_all_s": fs_s, "fs_write_bytes_per_s": bytes / fsw,
        "file_bytes": std::fs::metadata(&out)?.len(),
    }))
}

/// `open`: the first open in this fresh process, then the median of `repeats` more, for a
/// bare `File::open` + `mmap` of `--bin` (any file: the `.bin`, or the tokpack file itself
/// for the cost of mapping alone) and `Dataset::open` of the tokpack file.
fn open(o: &Opts) -> Res<Value> {
    let tpk = o.path("tpk")?;
    let bin = o.opt_path("bin");
    let repeats = o.num("repeats", 200)?;
    let t = Instant::now();
    let ds = Dataset::open(&tpk)?;
    let first = elapsed_ns(t);
    let n_tokens = ds.num_tokens();
    drop(ds);
    let mut bare_first = None;
    if let Some(b) = &bin {
        let t = Instant::now();
        let m = BareMap::open(b)?;
        bare_first = Some(elapsed_ns(t));
        black_box(m.len());
    }
    let (mut tok, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..repeats {
        let t = Instant::now();
        let ds = Dataset::open(&tpk)?;
        tok.push(elapsed_ns(t));
        black_box(ds.num_tokens());
        if let Some(b) = &bin {
            let t = Instant::now();
            let m = BareMap::open(b)?;
            bare.push(elapsed_ns(t));
            black_box(m.len());
        }
    }
    Ok(json!({
        "file_bytes": std::fs::metadata(&tpk)?.len(), "tokens": n_tokens,
        "tokpack_first_ns": first, "tokpack": summary(tok),
        "bare_first_ns": bare_first,
        "bare": if bin.is_some() { summary(bare) } else { Value::Null },
    }))
}

fn copy_row(s: TokenSlice<'_>, buf: &mut Vec<u32>) {
    buf.clear();
    match s {
        TokenSlice::U32(s) => buf.extend_from_slice(s),
        TokenSlice::U16(s) => buf.extend(s.iter().map(|&t| u32::from(t))),
        TokenSlice::U8(s) => buf.extend(s.iter().map(|&t| u32::from(t))),
    }
}

/// `rows`: random contiguous rows (`L + 1 = 2049` tokens from `i * 2048`), each copied out
/// into a caller's buffer: the bare slice of the `.bin` and tokpack's
/// `Rows::contiguous_tokens`, alternating index by index. Pass 1 is the figure (a fresh
/// mapping: each first touch of a page is a minor fault); pass 2 repeats the same indices
/// with the pages mapped. Then, for information, `row_into` (all five fields) on the
/// contiguous view and on a bfd plan with an overlay.
fn rows(o: &Opts) -> Res<Value> {
    let bare_map = BareMap::open(&o.path("bin")?)?;
    let bare = bare_map.tokens();
    let ds = Dataset::open(o.path("tpk")?)?;
    let view = Rows::contiguous(&ds, &RowOptions::new(SEQ_LEN))?;
    let idx = read_npy_u64(&o.path("rows")?)?;
    let l = SEQ_LEN as usize;
    let (mut buf_a, mut buf_b, mut scratch) =
        (Vec::with_capacity(ROW), Vec::with_capacity(ROW), Vec::new());
    let mut check = 0u64;
    let mut passes = Vec::new();
    for _pass in 0..2 {
        let (mut t_bare, mut t_tok) = (Vec::with_capacity(idx.len()), Vec::new());
        for (k, &i) in idx.iter().enumerate() {
            let mut bare_read = |i: u64| {
                let t = Instant::now();
                let s = i as usize * l;
                buf_a.clear();
                buf_a.extend_from_slice(&black_box(bare)[s..s + ROW]);
                black_box(&buf_a);
                elapsed_ns(t)
            };
            let (tb, tt);
            if k % 2 == 0 {
                tb = bare_read(i);
                let t = Instant::now();
                copy_row(
                    view.contiguous_tokens(black_box(i), &mut scratch)?,
                    &mut buf_b,
                );
                black_box(&buf_b);
                tt = elapsed_ns(t);
            } else {
                let t = Instant::now();
                copy_row(
                    view.contiguous_tokens(black_box(i), &mut scratch)?,
                    &mut buf_b,
                );
                black_box(&buf_b);
                tt = elapsed_ns(t);
                tb = bare_read(i);
            }
            if buf_a != buf_b {
                return Err(format!("row {i}: tokpack and the .bin differ").into());
            }
            check = check.wrapping_add(u64::from(buf_b[0]) + u64::from(buf_b[l]));
            t_bare.push(tb);
            t_tok.push(tt);
        }
        passes.push((summary(t_bare), summary(t_tok)));
    }
    let mut out = json!({
        "reads": idx.len(), "row_tokens": ROW, "checksum": check,
        "bare": passes[0].0, "tokpack": passes[0].1,
        "bare_mapped": passes[1].0, "tokpack_mapped": passes[1].1,
    });
    // Information: full rows (input_ids, labels, position_ids, cu_seqlens, loss_mask).
    let mut rb = RowBuffers::with_seq_len(l);
    let mut t_full = Vec::with_capacity(idx.len());
    for &i in &idx {
        let t = Instant::now();
        view.row_into(black_box(i), &mut rb)?;
        black_box(&rb);
        t_full.push(elapsed_ns(t));
    }
    out["tokpack_row_into_contiguous"] = summary(t_full);
    if let (Some(p), Some(ov), Some(pr)) = (
        o.opt_path("plan"),
        o.opt_path("overlay"),
        o.opt_path("plan-rows"),
    ) {
        let plan = Plan::open(p)?;
        let overlay = Overlay::open(ov)?;
        let packed = Rows::with_plan(&ds, &plan, &RowOptions::new(SEQ_LEN))?;
        let packed = packed.with_overlays(&[&overlay])?;
        let pidx = read_npy_u64(&pr)?;
        let mut t_packed = Vec::with_capacity(pidx.len());
        for &i in &pidx {
            let t = Instant::now();
            packed.row_into(black_box(i), &mut rb)?;
            black_box(&rb);
            t_packed.push(elapsed_ns(t));
        }
        out["tokpack_row_into_bfd_overlay"] = summary(t_packed);
    }
    Ok(out)
}

/// `docs`: random documents copied out: the bare `.bin` sliced by the offsets array (held in
/// memory) against tokpack's typed `document(i)`, alternating.
fn docs(o: &Opts) -> Res<Value> {
    let bare_map = BareMap::open(&o.path("bin")?)?;
    let bare = bare_map.tokens();
    let offsets = read_npy_u64(&o.path("offsets")?)?;
    let ds = Dataset::open(o.path("tpk")?)?;
    let idx = read_npy_u64(&o.path("docs")?)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut t_bare, mut t_tok) = (Vec::with_capacity(idx.len()), Vec::new());
    let mut tokens = 0u64;
    for (k, &i) in idx.iter().enumerate() {
        let mut bare_read = |i: u64| {
            let t = Instant::now();
            let i = black_box(i) as usize;
            a.clear();
            a.extend_from_slice(&bare[offsets[i] as usize..offsets[i + 1] as usize]);
            black_box(&a);
            elapsed_ns(t)
        };
        let tok_read = |i: u64, b: &mut Vec<u32>| -> Res<u64> {
            let t = Instant::now();
            copy_row(ds.document(black_box(i))?, b);
            black_box(&b);
            Ok(elapsed_ns(t))
        };
        if k % 2 == 0 {
            t_bare.push(bare_read(i));
            t_tok.push(tok_read(i, &mut b)?);
        } else {
            t_tok.push(tok_read(i, &mut b)?);
            t_bare.push(bare_read(i));
        }
        if a != b {
            return Err(format!("document {i}: tokpack and the .bin differ").into());
        }
        tokens += b.len() as u64;
    }
    Ok(json!({
        "reads": idx.len(), "tokens_read": tokens,
        "bare": summary(t_bare), "tokpack": summary(t_tok),
    }))
}

#[inline(never)]
fn sum_tokens(s: &[u32]) -> u64 {
    s.iter().map(|&t| u64::from(t)).sum()
}

/// `scan`: the sum of every token through the mapping: the bare `.bin` against tokpack's
/// `tokens_as::<u32>()`. The first pass of each (pages faulted in) is reported, then the
/// median of `repeats` alternating passes.
fn scan(o: &Opts) -> Res<Value> {
    let bare_map = BareMap::open(&o.path("bin")?)?;
    let bare = bare_map.tokens();
    let ds = Dataset::open(o.path("tpk")?)?;
    let tok = ds.tokens_as::<u32>()?;
    let repeats = o.num("repeats", 5)?;
    let n = tok.len() as f64;
    let t = Instant::now();
    let s1 = sum_tokens(black_box(bare));
    let bare_first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s2 = sum_tokens(black_box(tok));
    let tok_first = t.elapsed().as_secs_f64();
    if s1 != s2 {
        return Err("sums differ".into());
    }
    let (mut b, mut k) = (Vec::new(), Vec::new());
    for r in 0..repeats {
        let go = |s: &[u32], v: &mut Vec<f64>| {
            let t = Instant::now();
            black_box(sum_tokens(black_box(s)));
            v.push(t.elapsed().as_secs_f64());
        };
        if r % 2 == 0 {
            go(bare, &mut b);
            go(tok, &mut k);
        } else {
            go(tok, &mut k);
            go(bare, &mut b);
        }
    }
    let (mb, mk) = (median_f64(b), median_f64(k));
    Ok(json!({
        "tokens": tok.len(), "sum": s1, "repeats": repeats,
        "bare_first_tokens_per_s": n / bare_first, "tokpack_first_tokens_per_s": n / tok_first,
        "bare_tokens_per_s": n / mb, "tokpack_tokens_per_s": n / mk,
    }))
}

/// splitmix64, for the synthetic file of `make`.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// `make`: a synthetic file of `tokens` u32 tokens, documents lognormal(6, 1) clipped to
/// [16, 32768] (token ids from a repeated random block: only the size matters here).
fn make(o: &Opts) -> Res<Value> {
    let out = o.path("out")?;
    let n = o.num("tokens", 25_000_000)?;
    let mut rng = SplitMix(o.num("seed", 7)?);
    let block: Vec<u32> = (0..(1 << 22))
        .map(|_| (rng.next() % VOCAB) as u32)
        .collect();
    let mut opts = WriterOptions::new(VOCAB);
    opts.sync = false;
    let t = Instant::now();
    let mut w = Writer::create(&out, opts)?;
    let mut at = 0u64;
    while at < n {
        let (u, v) = (rng.unit(), rng.unit());
        let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        let len = ((6.0 + z).exp().clamp(16.0, 32_768.0) as u64).min(n - at) as usize;
        let from = (rng.next() % (block.len() - 32_768) as u64) as usize;
        w.push_document(&block[from..from + len], None)?;
        at += len as u64;
    }
    let s = w.finish()?;
    Ok(json!({
        "tokens": s.num_tokens, "documents": s.num_documents, "file_bytes": s.file_length,
        "seconds": t.elapsed().as_secs_f64(),
    }))
}
