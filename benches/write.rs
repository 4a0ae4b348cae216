//! Writer throughput into the page cache, against writing the same bytes with one
//! `std::fs::write` (the limit). `cargo bench --bench write`.
//!
//! Files go to `TOKPACK_BENCH_DIR`, by default `/dev/shm` when it exists: a tmpfs is page
//! cache with no disk behind it, so disk write-back (which throttles a writer once gigabytes
//! are dirty) does not blur the figures. Set `TOKPACK_BENCH_DIR=/tmp` to include it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokpack::{Writer, WriterOptions};

const TOKENS: usize = 32 << 20;

/// Documents with lengths 16..2048 from a fixed generator, ids below `vocab`.
fn corpus(vocab: u32) -> (Vec<u32>, Vec<usize>) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let tokens: Vec<u32> = (0..TOKENS)
        .map(|_| (next() % u64::from(vocab)) as u32)
        .collect();
    let mut lens = Vec::new();
    let mut left = TOKENS;
    while left > 0 {
        let l = (16 + next() % 2032) as usize;
        let l = l.min(left);
        lens.push(l);
        left -= l;
    }
    (tokens, lens)
}

fn write_all(c: &mut Criterion) {
    let base = std::env::var_os("TOKPACK_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let shm = std::path::Path::new("/dev/shm");
            if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            }
        });
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let mut group = c.benchmark_group("write");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, vocab, width) in [("u16", 50_257u32, 2u64), ("u32", 100_352, 4)] {
        let (tokens, lens) = corpus(vocab);
        group.throughput(Throughput::Bytes(TOKENS as u64 * width));
        let path = dir.path().join(format!("{name}.tpk"));
        group.bench_function(BenchmarkId::new("tokpack_writer", name), |b| {
            b.iter(|| {
                let mut o = WriterOptions::new(u64::from(vocab));
                o.sync = false;
                let mut w = Writer::create(&path, o).expect("create");
                let mut at = 0;
                for &l in &lens {
                    w.push_document(&tokens[at..at + l], None).expect("push");
                    at += l;
                }
                black_box(w.finish().expect("finish"));
            })
        });
        // The limit: the same number of bytes, already narrowed, in one write call.
        let narrow: Vec<u8> = match width {
            2 => tokens
                .iter()
                .flat_map(|&t| (t as u16).to_le_bytes())
                .collect(),
            _ => tokens.iter().flat_map(|&t| t.to_le_bytes()).collect(),
        };
        let raw = dir.path().join(format!("{name}.bin"));
        group.bench_function(BenchmarkId::new("fs_write_same_bytes", name), |b| {
            b.iter(|| std::fs::write(&raw, black_box(&narrow)).expect("write"))
        });
    }
    group.finish();
}

criterion_group!(benches, write_all);
criterion_main!(benches);
