//! Building from text: tokens/s of `build_text` (read, tokenize on all cores, write) against
//! reading and tokenizing alone, on the same input. `cargo bench --bench build`.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
use tokpack::text::{build_text, InputFormat, Record, RecordReader, TextBuildOptions, Tokenizer};
use tokpack::{Writer, WriterOptions};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    // The shipped pydoc text, 24 times: 1,896 documents, ~2.5 M cl100k tokens, 11.7 MB.
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tools/data/pydoc_topics.jsonl"
    ))
    .expect("sample");
    let input = dir.path().join("corpus.jsonl");
    let mut f = std::fs::File::create(&input).expect("create");
    for _ in 0..24 {
        f.write_all(&sample).expect("write");
    }
    drop(f);
    let tokenizer = Tokenizer::load("cl100k_base").expect("tokenizer");
    let mut options = TextBuildOptions::new();
    options.eos = tokenizer.eos_id();
    options.tokenizer = Some(tokenizer.clone());

    let reader = || RecordReader::new(vec![input.clone()], InputFormat::Jsonl, "text", None);
    let tokenize_only = || {
        let mut r = reader();
        let mut total = 0u64;
        loop {
            let mut batch = Vec::new();
            let mut bytes = 0;
            while bytes < options.batch_bytes {
                match r.next_record().expect("record") {
                    Some(rec) => {
                        if let Record::Text { text, .. } = &rec {
                            bytes += text.len();
                        }
                        batch.push(rec);
                    }
                    None => break,
                }
            }
            if batch.is_empty() {
                return total;
            }
            let lens: Vec<usize> = batch
                .par_iter()
                .map(|rec| match rec {
                    Record::Text { text, .. } => tokenizer.encode(text).expect("encode").len() + 1,
                    _ => 0,
                })
                .collect();
            total += lens.iter().sum::<usize>() as u64;
        }
    };
    let tokens = tokenize_only();
    let out = dir.path().join("out.tpk");
    let mut g = c.benchmark_group("build_text_cl100k");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(tokens));
    g.bench_function("read_and_tokenize_only", |b| {
        b.iter(|| black_box(tokenize_only()))
    });
    g.bench_function("build_to_file", |b| {
        b.iter(|| {
            let mut o = WriterOptions::new(tokenizer.vocab_size());
            o.sync = false;
            let mut w = Writer::create(&out, o).expect("create");
            let report = build_text(&mut reader(), &mut w, &options, |_| {}).expect("build");
            w.finish().expect("finish");
            black_box(report)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
