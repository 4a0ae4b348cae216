//! Compressed token sections (spec 5.6): the trade-off between size and read speed, on real
//! tokenized text. For each dataset file and each (zstd level, block size): the file's size
//! against the raw file, random 2049-token row latency (median and p99), and sequential
//! throughput (rows in order), raw file in the same run.
//!
//! `cargo bench --bench zstd` measures the shipped sample (tools/data/pydoc_topics.jsonl,
//! tokenized here with cl100k_base and r50k_base); `bash tools/bench/zstd_tradeoff.sh` adds a
//! larger corpus (Python's standard library) by passing files in `TOKPACK_ZSTD_FILES`
//! (colon-separated dataset paths).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tokpack::text::{build_text, InputFormat, RecordReader, TextBuildOptions, Tokenizer};
use tokpack::{rewrite, Compression, Dataset, Writer, WriterOptions};

const ROW: u64 = 2049;
const READS: usize = 20_000;

/// Tokenizes the shipped sample with `encoding` into `out`.
fn build_sample(encoding: &str, out: &Path) {
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/data/pydoc_topics.jsonl");
    let tokenizer = Tokenizer::load(encoding).expect("tokenizer");
    let mut o = WriterOptions::new(tokenizer.vocab_size());
    o.sync = false;
    o.metadata.tokenizer = Some(encoding.into());
    o.metadata.eos_id = tokenizer.eos_id();
    let mut w = Writer::create(out, o).expect("create");
    let mut reader = RecordReader::new(vec![input], InputFormat::Jsonl, "text", None);
    let mut opts = TextBuildOptions::new();
    opts.eos = tokenizer.eos_id();
    opts.tokenizer = Some(tokenizer);
    build_text(&mut reader, &mut w, &opts, |_| {}).expect("build");
    w.finish().expect("finish");
}

/// Reads every token of a row (a sum), so that raw and compressed rows are both touched.
fn consume(t: tokpack::TokenSlice<'_>) -> u64 {
    match t {
        tokpack::TokenSlice::U8(s) => s.iter().map(|&x| u64::from(x)).sum(),
        tokpack::TokenSlice::U16(s) => s.iter().map(|&x| u64::from(x)).sum(),
        tokpack::TokenSlice::U32(s) => s.iter().map(|&x| u64::from(x)).sum(),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Median and p99 of one random row read, in µs; rows in order, in M tokens/s.
fn measure(path: &Path, picks: &[u64]) -> (f64, f64, f64) {
    let ds = Dataset::open(path).expect("open");
    let n = ds.num_tokens();
    let mut scratch = Vec::new();
    let mut sink = 0u64;
    // Warm the page cache and the code.
    for &p in picks.iter().take(500) {
        let t = ds
            .tokens_in(p..(p + ROW).min(n), &mut scratch)
            .expect("row");
        sink = sink.wrapping_add(consume(t));
    }
    let mut times = Vec::with_capacity(picks.len());
    for &p in picks {
        let t0 = Instant::now();
        let t = ds
            .tokens_in(p..(p + ROW).min(n), &mut scratch)
            .expect("row");
        sink = sink.wrapping_add(consume(t));
        times.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    // Sequential: every row of L = 2048 in order (L + 1 tokens each), best of 3.
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        let mut p = 0;
        while p < n {
            let t = ds
                .tokens_in(p..(p + ROW).min(n), &mut scratch)
                .expect("row");
            sink = sink.wrapping_add(consume(t));
            p += ROW - 1;
        }
        best = best.min(t0.elapsed().as_secs_f64());
    }
    black_box(sink);
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        n as f64 / best / 1e6,
    )
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken from the command line.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<PathBuf> = match std::env::var("TOKPACK_ZSTD_FILES") {
        Ok(v) if !v.is_empty() => v.split(':').map(PathBuf::from).collect(),
        _ => Vec::new(),
    };
    if files.is_empty() {
        for enc in ["r50k_base", "cl100k_base"] {
            let p = dir.path().join(format!("pydoc_{enc}.tpk"));
            build_sample(enc, &p);
            files.push(p);
        }
    }
    let settings: [(i32, u32); 7] = [
        (1, 16_384),
        (3, 4_096),
        (3, 16_384),
        (3, 65_536),
        (9, 16_384),
        (19, 16_384),
        (19, 65_536),
    ];
    println!(
        "| file | tokens | dtype | level | block tokens | size vs raw | random row median | p99 | sequential | compress |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for file in &files {
        let raw = Dataset::open(file).expect("open raw");
        assert!(!raw.is_compressed(), "{}: give raw files", file.display());
        let n = raw.num_tokens();
        let raw_len = raw.as_bytes().len() as f64;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let picks: Vec<u64> = (0..READS)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % n.saturating_sub(ROW).max(1)
            })
            .collect();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (m, p99, seq) = measure(file, &picks);
        println!(
            "| {name} | {n} | {} | raw | | 100.0% ({:.1} MB) | {m:.2} µs | {p99:.2} µs | {seq:.0} M tok/s | |",
            raw.dtype().name(),
            raw_len / 1e6
        );
        for (level, block) in settings {
            let out = dir.path().join(format!("z_{level}_{block}.tpk"));
            let t0 = Instant::now();
            let s = rewrite(
                &raw,
                &out,
                Some(Compression {
                    level,
                    block_tokens: block,
                }),
                false,
            )
            .expect("compress");
            let secs = t0.elapsed().as_secs_f64();
            let (m, p99, seq) = measure(&out, &picks);
            println!(
                "| {name} | {n} | {} | {level} | {block} | {:.1}% | {m:.2} µs | {p99:.2} µs | {seq:.0} M tok/s | {:.0} M tok/s |",
                raw.dtype().name(),
                100.0 * s.file_length as f64 / raw_len,
                n as f64 / secs / 1e6
            );
            std::fs::remove_file(&out).expect("remove");
        }
    }
}
