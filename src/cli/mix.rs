use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde_json::json;
use tokpack::{make_mixture, LongDocs, MixtureOptions, PlanOptions, Strategy};

#[derive(Debug, Args)]
pub struct MixArgs {
    /// The dataset file, or a manifest (.json) of shards.
    file: PathBuf,
    /// Source weights, NAME=WEIGHT comma-separated (normalised to sum to 1), e.g.
    /// web=0.6,code=0.3,chat=0.1.
    #[arg(long, value_delimiter = ',', value_name = "NAME=W,...")]
    weights: Vec<String>,
    /// Training tokens to draw, N (e.g. 1000000000 or 1e9).
    #[arg(long, value_parser = parse_count)]
    tokens: u64,
    /// Tokens per row, L.
    #[arg(long)]
    seq_len: u64,
    /// How drawn documents are packed into rows: bfd (best-fit decreasing) or doc-aligned.
    #[arg(long, default_value = "bfd", value_parser = super::pack::parse_strategy)]
    strategy: Strategy,
    /// Documents longer than L: truncate or split.
    #[arg(long, default_value = "split", value_parser = super::pack::parse_long_docs)]
    long_docs: LongDocs,
    /// Seed of the draws and of the order of the drawn documents.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to write the plan file; without it, only the figures are printed.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Skip fsync of the plan file.
    #[arg(long)]
    no_sync: bool,
}

/// A count written as digits (`1000000`, `1_000_000`) or in scientific notation (`1e9`).
fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.replace('_', "");
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x < 1.8e19 => Ok(x as u64),
        _ => Err(format!("{s:?} is not a whole number of tokens")),
    }
}

fn parse_weights(items: &[String]) -> anyhow::Result<Vec<(String, f64)>> {
    if items.is_empty() {
        bail!("--weights is empty: give NAME=WEIGHT,...");
    }
    items
        .iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("--weights {kv:?}: expected NAME=WEIGHT"))?;
            let w: f64 = v
                .trim()
                .parse()
                .map_err(|_| anyhow!("--weights {kv:?}: {v:?} is not a number"))?;
            Ok((k.trim().to_owned(), w))
        })
        .collect()
}

pub fn run(args: MixArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let corpus = super::open_corpus(&args.file)?;
    let options = MixtureOptions {
        plan: PlanOptions {
            seq_len: args.seq_len,
            strategy: args.strategy,
            long_docs: args.long_docs,
            tail: tokpack::Tail::Drop,
        },
        tokens: args.tokens,
        weights: parse_weights(&args.weights)?,
        seed: args.seed,
    };
    let (plan, drawn) =
        make_mixture(&corpus, &options).map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let planned = started.elapsed().as_secs_f64();
    if let Some(out) = &args.output {
        plan.write(out, !args.no_sync)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let i = &plan.info;
    let total = i.tokens.max(1) as f64;
    if args.json {
        let v = json!({
            "rows": i.rows,
            "seq_len": i.seq_len,
            "strategy": i.strategy.name(),
            "tokens": i.tokens,
            "tokens_requested": args.tokens,
            "padding_tokens": i.padding_tokens,
            "fill": i.fill(),
            "seconds": secs,
            "sources": drawn.iter().map(|s| json!({
                "name": s.name,
                "weight": s.weight,
                "share": s.tokens as f64 / total,
                "quota": s.quota,
                "tokens": s.tokens,
                "available": s.available,
                "epochs": s.epochs(),
                "pieces": s.pieces,
                "repeats": [s.full_passes, s.full_passes + 1],
            })).collect::<Vec<_>>(),
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "mixture of {} tokens asked, {} drawn, in {} rows of {} ({}, fill {:.2}%)",
        args.tokens,
        i.tokens,
        i.rows,
        i.seq_len,
        i.strategy.name(),
        100.0 * i.fill()
    );
    outln!(
        "  {:<20} {:>8} {:>9} {:>16} {:>16} {:>9}  each document",
        "source",
        "weight",
        "realised",
        "tokens",
        "available",
        "epochs"
    );
    for s in &drawn {
        outln!(
            "  {:<20} {:>7.3}% {:>8.3}% {:>16} {:>16} {:>9.3}  {} or {} times",
            s.name,
            100.0 * s.weight,
            100.0 * s.tokens as f64 / total,
            s.tokens,
            s.available,
            s.epochs(),
            s.full_passes,
            s.full_passes + 1
        );
    }
    outln!("time              {planned:.3} s to plan, {secs:.3} s in all");
    if let Some(out) = &args.output {
        outln!("wrote             {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}
