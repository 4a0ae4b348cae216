//! Reader costs: open, random document lookup against a raw slice of the same mapping,
//! loss-mask unpacking, full verify. `cargo bench --bench read`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokpack::{Dataset, Writer, WriterOptions};
use zerocopy::FromBytes;

const TOKENS: usize = 50 << 20;

fn build(path: &std::path::Path) -> usize {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut o = WriterOptions::new(50_257);
    o.sync = false;
    let mut w = Writer::create(path, o).expect("create");
    let mut doc = Vec::new();
    let mut mask = Vec::new();
    let mut written = 0;
    while written < TOKENS {
        let len = ((16 + next() % 2032) as usize).min(TOKENS - written);
        doc.clear();
        doc.extend((0..len).map(|_| (next() % 50_257) as u32));
        mask.clear();
        mask.extend((0..len).map(|i| i >= len / 4));
        w.push_document(&doc, Some(&mask)).expect("push");
        written += len;
    }
    w.finish().expect("finish").num_documents as usize
}

fn read_all(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.tpk");
    let n_docs = build(&path);
    let ds = Dataset::open(&path).expect("open");
    let mut state = 1u64;
    let picks: Vec<usize> = (0..4096)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n_docs
        })
        .collect();

    let mut g = c.benchmark_group("open");
    g.bench_function("open_100MB", |b| {
        b.iter(|| black_box(Dataset::open(&path).expect("open")))
    });
    g.finish();

    let mut g = c.benchmark_group("document");
    g.throughput(Throughput::Elements(picks.len() as u64));
    // The baseline: a raw slice of the same mapping, offsets read without any check.
    let bytes = ds.as_bytes();
    let tok_entry = ds.sections()[0];
    let off_entry = ds.sections()[1];
    let raw_tokens = <[u16]>::ref_from_bytes(&bytes[tok_entry.range()]).expect("aligned");
    let raw_offsets = <[u64]>::ref_from_bytes(&bytes[off_entry.range()]).expect("aligned");
    g.bench_function("raw_slice", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &i in &picks {
                let i = black_box(i);
                let d = &raw_tokens[raw_offsets[i] as usize..raw_offsets[i + 1] as usize];
                sum += d.len() as u64 + u64::from(d.first().copied().unwrap_or(0));
            }
            black_box(sum)
        })
    });
    let typed = ds.typed::<u16>().expect("u16");
    g.bench_function("typed_document", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &i in &picks {
                let d = typed.document(black_box(i)).expect("doc");
                sum += d.len() as u64 + u64::from(d.first().copied().unwrap_or(0));
            }
            black_box(sum)
        })
    });
    g.bench_function("dataset_document", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for &i in &picks {
                let d = ds.document(black_box(i as u64)).expect("doc");
                sum += d.len() as u64 + u64::from(d.get(0).unwrap_or(0));
            }
            black_box(sum)
        })
    });
    g.finish();

    let mut g = c.benchmark_group("loss_mask");
    let mut out = vec![0u8; 1 << 20];
    g.throughput(Throughput::Elements(out.len() as u64));
    g.bench_function("unpack_1M_bits_unaligned_start", |b| {
        b.iter(|| {
            ds.loss_mask_into(black_box(12_345), &mut out)
                .expect("mask")
        })
    });
    g.finish();

    let mut g = c.benchmark_group("verify");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("verify_100MB", |b| b.iter(|| ds.verify().expect("verify")));
    g.finish();
}

criterion_group!(benches, read_all);
criterion_main!(benches);
