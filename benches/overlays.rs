//! Insertion overlays: placing 1 million random insertions, and `row(i)` with a
//! 1-million-insertion overlay against the plain row. `cargo bench --bench overlays`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokpack::{
    DType, Dataset, Overlay, OverlayBuilder, RandomOptions, RowBuffers, RowOptions, Rows,
    SplitMix64, Writer, WriterOptions,
};

const L: u64 = 2048;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data.tpk");
    // 100 M u16 tokens in documents of 2,000 tokens: 48,828 rows of 2048.
    let mut o = WriterOptions::new(50_257);
    o.sync = false;
    let mut w = Writer::create(&path, o).expect("create");
    let mut rng = SplitMix64::new(1);
    let doc: Vec<u32> = (0..2000).map(|_| rng.uniform(50_257) as u32).collect();
    for _ in 0..50_000 {
        w.push_document(&doc, None).expect("push");
    }
    w.finish().expect("finish");
    let ds = Dataset::open(&path).expect("open");
    let rows = Rows::contiguous(&ds, &RowOptions::new(L)).expect("rows");
    let n_rows = rows.num_rows();

    // 1 M sequences of 1..=16 tokens, into the first half of the rows (the second half keeps
    // rows without insertions for the comparison below).
    let seqs: Vec<Vec<u32>> = (0..1_000_000u32)
        .map(|i| vec![i % 50_000; 1 + (i % 16) as usize])
        .collect();
    let place = || {
        let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
        let report = b
            .add_random(&seqs, &RandomOptions::new((0, n_rows / 2), 42))
            .expect("place");
        (b.finish(), report)
    };
    let t = Instant::now();
    let (overlay, report) = place();
    eprintln!(
        "\nplaced {} random insertions ({} collisions) into rows 0..{} in {:.2} s",
        report.placed,
        report.collisions,
        n_rows / 2,
        t.elapsed().as_secs_f64()
    );
    let opath = dir.path().join("overlay.tpk");
    overlay.write(&opath, false).expect("write");
    let opened = Overlay::open(&opath).expect("open overlay");
    let with = Rows::contiguous(&ds, &RowOptions::new(L))
        .expect("rows")
        .with_overlays(&[&opened])
        .expect("bind");

    let mut g = c.benchmark_group("place");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("random_1M", |b| b.iter(|| black_box(place())));
    g.finish();

    let mut r = SplitMix64::new(7);
    let free_rows: Vec<u64> = (0..1024)
        .map(|_| n_rows / 2 + r.uniform(n_rows / 2))
        .collect();
    let busy_rows: Vec<u64> = (0..1024).map(|_| r.uniform(n_rows / 2)).collect();
    let mut buf = RowBuffers::with_seq_len(L as usize);
    let mut g = c.benchmark_group("row_with_1M_insertions");
    g.throughput(Throughput::Elements(1024));
    for (name, view, picks) in [
        ("plain_row", &rows, &free_rows),
        ("overlay_row_without_insertion", &with, &free_rows),
        ("plain_row_busy_rows", &rows, &busy_rows),
        ("overlay_row_with_insertions", &with, &busy_rows),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                for &i in picks {
                    view.row_into(black_box(i), &mut buf).expect("row");
                }
                black_box(buf.labels[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
