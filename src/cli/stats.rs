use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::Args;
use serde_json::json;
use tokpack::stats::{length_histogram, token_counts, Remap};
use tokpack::{Writer, WriterOptions};

pub fn run(
    path: &Path,
    top: Option<usize>,
    show: usize,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    let ds = super::open(path)?;
    let started = Instant::now();
    let counts = token_counts(&ds).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let hist = length_histogram(&ds);
    let sources = tokpack::source_counts(&ds).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let ks: Vec<usize> = match top {
        Some(k) => vec![k],
        None => [256usize, 1024, 4096, 16_384, 32_768, 65_536]
            .into_iter()
            .filter(|&k| (k as u64) < ds.vocab_size())
            .collect(),
    };
    if as_json {
        let v = json!({
            "documents": ds.num_documents(),
            "tokens": ds.num_tokens(),
            "vocab_size": ds.vocab_size(),
            "distinct_tokens": counts.by_frequency.len(),
            "sources": super::info::sources_json(&sources),
            "length_histogram": hist.iter().map(|&(b, d, t)| json!({"below": b, "documents": d, "tokens": t})).collect::<Vec<_>>(),
            "top_tokens": counts.by_frequency.iter().take(show).map(|&(id, c)| json!([id, c])).collect::<Vec<_>>(),
            "coverage": ks.iter().map(|&k| json!({"top": k, "coverage": counts.coverage(k), "oov_rate": 1.0 - counts.coverage(k)})).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!("documents        {}", ds.num_documents());
    outln!("tokens           {}", ds.num_tokens());
    outln!(
        "distinct tokens  {} of a vocabulary of {}",
        counts.by_frequency.len(),
        ds.vocab_size()
    );
    outln!("counted in       {secs:.3} s");
    if let Some(c) = &sources {
        super::info::print_sources(c)?;
    }
    outln!("document lengths");
    let mut lower = 0;
    for &(below, docs, toks) in &hist {
        outln!("  [{lower:>7}, {below:>7})  {docs:>10} documents  {toks:>14} tokens");
        lower = below;
    }
    outln!("most frequent tokens");
    let tokenizer = super::get::decoder(ds.metadata(), None).ok();
    for &(id, c) in counts.by_frequency.iter().take(show) {
        let text = tokenizer
            .as_ref()
            .and_then(|t| t.decode(&[id]).ok())
            .map(|s| format!("{s:?}"))
            .unwrap_or_default();
        outln!(
            "  {id:>10}  {c:>12}  {:>6.2}%  {text}",
            100.0 * c as f64 / counts.total.max(1) as f64
        );
    }
    outln!("coverage of the most frequent ids");
    for k in ks {
        let cov = counts.coverage(k);
        outln!(
            "  top {k:>7}: {:>7.3}% coverage, OOV rate {:.3}%",
            100.0 * cov,
            100.0 * (1.0 - cov)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct RemapArgs {
    /// The dataset file.
    file: PathBuf,
    /// Keep the K most frequent ids, renumbered 0..K-1 by frequency.
    #[arg(long)]
    top: usize,
    /// The new vocabulary size V: id K is the unk id, ids K+1..V-1 are reserved and never
    /// produced.
    #[arg(long)]
    total: u64,
    /// Where to write the remapped dataset.
    #[arg(short, long)]
    output: PathBuf,
    /// Skip fsync.
    #[arg(long)]
    no_sync: bool,
}

pub fn remap(args: RemapArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let ds = super::open(&args.file)?;
    let counts = token_counts(&ds).map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let remap = Remap::new(&counts, args.top, args.total)?;
    let mut options = WriterOptions::new(args.total);
    let m = ds.metadata();
    options.metadata.tokenizer = m.tokenizer.as_ref().map(|t| format!("{t} (remapped)"));
    options.metadata.eos_id = m.eos_id.map(|e| remap.map(e));
    options.metadata.bos_id = m.bos_id.map(|b| remap.map(b));
    options.metadata.pad_id = m.pad_id.map(|p| remap.map(p));
    options.metadata.extra = m.extra.clone();
    options.metadata.sources = m.sources.clone();
    options.metadata.extra.insert(
        "remap".into(),
        remap.to_json(ds.vocab_size(), m.tokenizer.as_deref()),
    );
    options.sync = !args.no_sync;
    let mut w = Writer::create(&args.output, options)
        .with_context(|| format!("creating {}", args.output.display()))?;
    remap
        .apply(&ds, &mut w)
        .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let summary = w.finish()?;
    outln!(
        "wrote {}: {} documents, {} tokens over {} ids ({} kept, unk {}, {} reserved); coverage {:.3}%, OOV rate {:.3}% ({:.2} s)",
        summary.path.display(),
        summary.num_documents,
        summary.num_tokens,
        args.total,
        args.top,
        remap.unk_id,
        args.total - args.top as u64 - 1,
        100.0 * counts.coverage(args.top),
        100.0 * (1.0 - counts.coverage(args.top)),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
