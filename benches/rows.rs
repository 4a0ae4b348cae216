//! Training rows: plan quality and build time, and `row(i)` latency per view.
//! `cargo bench --bench rows`. The fill table is printed before the timings.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokpack::{
    make_mixture, make_plan, plan_from_offsets, Corpus, Dataset, DocSources, LongDocs, Metadata,
    MixtureOptions, Plan, PlanOptions, RowBuffers, RowOptions, Rows, Strategy, TokenSlice, Writer,
    WriterOptions,
};
use zerocopy::FromBytes;

/// splitmix64.
struct Rng(u64);

impl Rng {
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
    /// lognormal(mu, sigma) by Box-Muller.
    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        (mu + sigma * z).exp()
    }
}

/// Document lengths lognormal(6, 1) clipped to [16, 32768], as offsets.
fn offsets(n_docs: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n_docs + 1);
    out.push(0u64);
    let mut at = 0u64;
    for _ in 0..n_docs {
        at += rng.lognormal(6.0, 1.0).clamp(16.0, 32_768.0) as u64;
        out.push(at);
    }
    out
}

fn fill_table() {
    let offs = offsets(200_000, 1);
    eprintln!(
        "\nfill on 200,000 documents, lengths lognormal(6, 1) clipped to [16, 32768], {} tokens",
        offs.last().unwrap()
    );
    eprintln!(
        "{:>6}  {:<12} {:>9} {:>8} {:>10} {:>10} {:>8}",
        "L", "strategy", "rows", "fill", "padding", "truncated", "split"
    );
    for l in [2048u64, 4096] {
        for (strategy, long_docs) in [
            (Strategy::Contiguous, LongDocs::Split),
            (Strategy::DocAligned, LongDocs::Split),
            (Strategy::DocAligned, LongDocs::Truncate),
            (Strategy::Bfd, LongDocs::Split),
            (Strategy::Bfd, LongDocs::Truncate),
        ] {
            let mut o = PlanOptions::new(l, strategy);
            o.long_docs = long_docs;
            let p = plan_from_offsets(&offs, [0; 16], &o).expect("plan").info;
            let name = match strategy {
                Strategy::Contiguous => "contiguous".to_string(),
                _ => format!("{}/{}", strategy.name(), long_docs.name()),
            };
            eprintln!(
                "{l:>6}  {name:<12} {:>9} {:>7.2}% {:>10} {:>10} {:>8}",
                p.rows,
                100.0 * p.fill(),
                p.padding_tokens,
                p.truncated_tokens,
                p.split_documents
            );
        }
    }
    let big = offsets(10_000_000, 2);
    for strategy in [Strategy::DocAligned, Strategy::Bfd] {
        let t = Instant::now();
        let p = plan_from_offsets(&big, [0; 16], &PlanOptions::new(2048, strategy)).expect("plan");
        eprintln!(
            "plan of 10,000,000 documents ({} tokens), {} at L = 2048: {:.2} s, {} rows, fill {:.2}%",
            big.last().unwrap(),
            strategy.name(),
            t.elapsed().as_secs_f64(),
            p.info.rows,
            100.0 * p.info.fill()
        );
    }
    eprintln!();
}

/// Document offsets and sources without tokens: what a mixture plan reads (spec 12.6).
struct Skeleton {
    offsets: Vec<u64>,
    sources: DocSources,
    metadata: Metadata,
}

impl Skeleton {
    /// `offsets(n_docs)` with document `d` in source `d % 3` of web, code, chat.
    fn new(n_docs: usize) -> Skeleton {
        Skeleton {
            offsets: offsets(n_docs, 3),
            sources: DocSources {
                names: vec!["web".into(), "code".into(), "chat".into()],
                ids: (0..n_docs).map(|d| (d % 3) as u16).collect(),
            },
            metadata: Metadata::new(100_352),
        }
    }
}

fn no_tokens<T>() -> tokpack::Result<T> {
    Err(tokpack::Error::InvalidArgument(
        "a skeleton has no tokens".into(),
    ))
}

impl Corpus for Skeleton {
    fn corpus_id(&self) -> [u8; 16] {
        [0; 16]
    }
    fn num_tokens(&self) -> u64 {
        *self.offsets.last().unwrap()
    }
    fn num_documents(&self) -> u64 {
        self.offsets.len() as u64 - 1
    }
    fn token_dtype(&self) -> tokpack::DType {
        tokpack::DType::U32
    }
    fn corpus_metadata(&self) -> &Metadata {
        &self.metadata
    }
    fn has_mask(&self) -> bool {
        false
    }
    fn tokens_in<'a>(
        &'a self,
        _: std::ops::Range<u64>,
        _: &'a mut Vec<u32>,
    ) -> tokpack::Result<TokenSlice<'a>> {
        no_tokens()
    }
    fn mask_into(&self, _: u64, _: &mut [u8]) -> tokpack::Result<()> {
        no_tokens()
    }
    fn doc_starts_in(&self, _: u64, _: u64, _: &mut Vec<u64>) -> tokpack::Result<()> {
        no_tokens()
    }
    fn is_doc_start(&self, _: u64) -> tokpack::Result<bool> {
        no_tokens()
    }
    fn all_offsets(&self) -> tokpack::Result<std::borrow::Cow<'_, [u64]>> {
        Ok(std::borrow::Cow::Borrowed(&self.offsets))
    }
    fn sources(&self) -> tokpack::Result<Option<DocSources>> {
        Ok(Some(self.sources.clone()))
    }
}

fn mixture_options(tokens: u64, weights: [f64; 3]) -> MixtureOptions {
    MixtureOptions {
        plan: PlanOptions::new(2048, Strategy::Bfd),
        tokens,
        weights: ["web", "code", "chat"]
            .into_iter()
            .zip(weights)
            .map(|(n, w)| (n.to_string(), w))
            .collect(),
        seed: 0,
    }
}

/// Mixture plans over 10 M documents: time and realised shares, printed.
fn mixture_table(skeleton: &Skeleton) {
    eprintln!(
        "mixture plans over 10,000,000 documents ({} tokens, a third per source), bfd at L = 2048:",
        skeleton.num_tokens()
    );
    for (tokens, weights) in [
        (1_000_000_000u64, [0.6, 0.3, 0.1]),
        (10_000_000_000, [0.5, 0.45, 0.05]),
    ] {
        let t = Instant::now();
        let (plan, drawn) = make_mixture(skeleton, &mixture_options(tokens, weights)).expect("mix");
        eprintln!(
            "  N = {tokens}: {:.2} s, {} rows, fill {:.2}%",
            t.elapsed().as_secs_f64(),
            plan.info.rows,
            100.0 * plan.info.fill()
        );
        for d in &drawn {
            let share = d.tokens as f64 / plan.info.tokens as f64;
            eprintln!(
                "    {:<5} weight {:>6.3}%  realised {:>8.5}%  (off by {:.6} points)  epochs {:.3}",
                d.name,
                100.0 * d.weight,
                100.0 * share,
                100.0 * (share - d.weight).abs(),
                d.epochs()
            );
        }
    }
    eprintln!();
}

fn mixture_build(c: &mut Criterion) {
    let skeleton = Skeleton::new(10_000_000);
    mixture_table(&skeleton);
    let mut g = c.benchmark_group("mixture_10M_docs");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("N1e9_L2048_bfd", |b| {
        b.iter(|| {
            black_box(
                make_mixture(&skeleton, &mixture_options(1_000_000_000, [0.6, 0.3, 0.1]))
                    .expect("mix"),
            )
        })
    });
    g.finish();
}

fn plan_build(c: &mut Criterion) {
    fill_table();
    let big = offsets(10_000_000, 2);
    let mut g = c.benchmark_group("plan_10M_docs");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(10_000_000));
    for strategy in [Strategy::DocAligned, Strategy::Bfd] {
        g.bench_function(BenchmarkId::new("L2048", strategy.name()), |b| {
            b.iter(|| {
                black_box(
                    plan_from_offsets(&big, [0; 16], &PlanOptions::new(2048, strategy))
                        .expect("plan"),
                )
            })
        });
    }
    g.finish();
}

fn row_latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rows.tpk");
    let offs = offsets(40_000, 3);
    let mut rng = Rng(4);
    let mut o = WriterOptions::new(50_257);
    o.sync = false;
    o.metadata.eos_id = Some(50_256);
    let mut w = Writer::create(&path, o).expect("create");
    let mut doc = Vec::new();
    let mut mask = Vec::new();
    for win in offs.windows(2) {
        let n = (win[1] - win[0]) as usize;
        doc.clear();
        doc.extend((0..n).map(|_| (rng.next() % 50_257) as u32));
        mask.clear();
        mask.extend((0..n).map(|i| i >= n / 5));
        w.push_document(&doc, Some(&mask)).expect("push");
    }
    w.finish().expect("finish");
    let ds = Dataset::open(&path).expect("open");
    let l = 2048u64;
    let plans: Vec<(Strategy, Plan)> = [Strategy::Contiguous, Strategy::DocAligned, Strategy::Bfd]
        .into_iter()
        .map(|s| {
            let p = dir.path().join(format!("{}.tpk", s.name()));
            make_plan(&ds, &PlanOptions::new(l, s))
                .expect("plan")
                .write(&p, false)
                .expect("write");
            (s, Plan::open(&p).expect("open plan"))
        })
        .collect();

    let picks = |n: u64| -> Vec<u64> {
        let mut r = Rng(5);
        (0..1024).map(|_| r.next() % n).collect()
    };
    let mut g = c.benchmark_group("row_L2048");
    g.throughput(Throughput::Elements(1024));

    // Baseline: the L + 1 tokens of a contiguous row as a raw slice of the same mapping.
    let contiguous = Rows::contiguous(&ds, &RowOptions::new(l)).expect("rows");
    let n_rows = contiguous.num_rows();
    let rows_c = picks(n_rows);
    let tok_entry = ds.sections()[0];
    let raw = <[u16]>::ref_from_bytes(&ds.as_bytes()[tok_entry.range()]).expect("aligned");
    g.bench_function("raw_slice_L_plus_1", |b| {
        b.iter(|| {
            let mut s = 0u64;
            for &i in &rows_c {
                let i = black_box(i) as usize;
                let row = &raw[i * 2048..i * 2048 + 2049];
                s += u64::from(row[0]) + u64::from(row[2048]);
            }
            black_box(s)
        })
    });
    let mut scratch = Vec::new();
    g.bench_function("contiguous_tokens_zero_copy", |b| {
        b.iter(|| {
            let mut s = 0u64;
            for &i in &rows_c {
                let row = contiguous
                    .contiguous_tokens(black_box(i), &mut scratch)
                    .expect("row");
                s += u64::from(row.get(0).unwrap_or(0)) + u64::from(row.get(2048).unwrap_or(0));
            }
            black_box(s)
        })
    });
    let mut buf = RowBuffers::with_seq_len(l as usize);
    for (strategy, plan) in &plans {
        let view = Rows::with_plan(&ds, plan, &RowOptions::new(l)).expect("rows");
        let rows = picks(view.num_rows());
        g.bench_function(BenchmarkId::new("row_into", strategy.name()), |b| {
            b.iter(|| {
                for &i in &rows {
                    view.row_into(black_box(i), &mut buf).expect("row");
                }
                black_box(buf.labels[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, plan_build, mixture_build, row_latency);
criterion_main!(benches);
