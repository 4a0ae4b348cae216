use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde::Deserialize;
use tokpack::{wrap_eos, CrossRows, OverlayBuilder, RandomOptions, RowOptions, Tail};

#[derive(Debug, Args)]
pub struct InsertArgs {
    /// The dataset file.
    file: PathBuf,
    /// Tokens per row, L, of the view the positions address.
    #[arg(long)]
    seq_len: u64,
    /// The plan file of the view; without it the view is contiguous.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Contiguous view without a plan: drop or pad the last partial row.
    #[arg(long, default_value = "drop", value_parser = super::pack::parse_tail)]
    tail: Tail,
    /// Explicit insertions: a JSON object {"POSITION": [tokens], ...}.
    #[arg(long, value_name = "INSERTS.json")]
    explicit: Option<PathBuf>,
    /// Explicit insertions crossing a row boundary are split there (default: refused).
    #[arg(long)]
    split_across_rows: bool,
    /// Sequences to place at random: JSON lines {"input_ids": [...]}.
    #[arg(long, value_name = "SEQS.jsonl")]
    random: Option<PathBuf>,
    /// Rows START:END (end exclusive) to place random sequences into.
    #[arg(long, value_name = "START:END")]
    rows: Option<String>,
    /// Seed of the placement generator (SplitMix64).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Draws per sequence before giving up on it.
    #[arg(long, default_value_t = 1000)]
    max_tries: u32,
    /// Skip and report sequences that find no place, instead of failing.
    #[arg(long)]
    allow_drop: bool,
    /// Wrap random sequences in this end-of-sequence id (spec 14).
    #[arg(long, value_name = "ID")]
    wrap_eos: Option<u32>,
    /// The inserted tokens are not loss targets.
    #[arg(long)]
    not_targets: bool,
    /// Where to write the overlay file.
    #[arg(short, long)]
    output: PathBuf,
    /// Skip fsync of the overlay file.
    #[arg(long)]
    no_sync: bool,
}

#[derive(Deserialize)]
struct Seq {
    input_ids: Vec<u32>,
}

fn read_sequences(path: &Path) -> anyhow::Result<Vec<Vec<u32>>> {
    let name = path.display();
    let f = File::open(path).with_context(|| format!("opening {name}"))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("{name} line {}: reading", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let s: Seq =
            serde_json::from_str(&line).map_err(|e| anyhow!("{name} line {}: {e}", i + 1))?;
        out.push(s.input_ids);
    }
    Ok(out)
}

fn read_explicit(path: &Path) -> anyhow::Result<BTreeMap<u64, Vec<u32>>> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
    let raw: BTreeMap<String, Vec<u32>> = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{name}: expected {{\"POSITION\": [tokens], ...}}: {e}"))?;
    raw.into_iter()
        .map(|(k, v)| {
            let p = k
                .parse::<u64>()
                .ok()
                .filter(|_| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| anyhow!("{name}: key {k:?} is not a position (decimal digits)"))?;
            Ok((p, v))
        })
        .collect()
}

pub fn run(args: InsertArgs) -> anyhow::Result<ExitCode> {
    if args.explicit.is_none() && args.random.is_none() {
        bail!("give --explicit INSERTS.json, --random SEQS.jsonl, or both");
    }
    let ds = super::open_corpus(&args.file)?;
    let plan = super::open_plan(args.plan.as_deref())?;
    let mut options = RowOptions::new(args.seq_len);
    options.tail = args.tail;
    let rows = super::view(&ds, plan.as_ref(), &options)?;
    let mut builder = OverlayBuilder::new(rows.view_binding(), tokpack::Corpus::token_dtype(&ds))?;
    let target = !args.not_targets;

    let mut explicit = 0usize;
    if let Some(path) = &args.explicit {
        let cross = if args.split_across_rows {
            CrossRows::Split
        } else {
            CrossRows::Refuse
        };
        for (p, tokens) in read_explicit(path)? {
            builder
                .add_explicit(p, &tokens, target, cross)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?;
            explicit += 1;
        }
        outln!(
            "explicit: {explicit} insertions ({} after splitting at row boundaries)",
            builder.len()
        );
    }
    if let Some(path) = &args.random {
        let range = args
            .rows
            .as_deref()
            .ok_or_else(|| anyhow!("--random needs --rows START:END"))?;
        let (a, b) = range
            .split_once(':')
            .ok_or_else(|| anyhow!("--rows {range:?}: expected START:END"))?;
        let start: u64 = a
            .parse()
            .map_err(|_| anyhow!("--rows {range:?}: START is not a number"))?;
        let end: u64 = b
            .parse()
            .map_err(|_| anyhow!("--rows {range:?}: END is not a number"))?;
        let seqs = read_sequences(path)?;
        let (kept, wrap_dropped) = match args.wrap_eos {
            Some(eos) => wrap_eos(&seqs, args.seq_len, eos),
            None => (seqs.iter().cloned().enumerate().collect(), Vec::new()),
        };
        if !wrap_dropped.is_empty() {
            outln!("dropped by EOS wrapping (empty or longer than {}): {} sequences, indices {wrap_dropped:?}", args.seq_len, wrap_dropped.len());
        }
        let mut opts = RandomOptions::new((start, end), args.seed);
        opts.max_tries = args.max_tries;
        opts.allow_drop = args.allow_drop;
        opts.target = target;
        let report = builder
            .add_random_indexed(&kept, &opts)
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        outln!(
            "random: {} of {} sequences placed in rows {start}:{end} with seed {}",
            report.placed,
            seqs.len(),
            args.seed
        );
        outln!("collisions avoided: {}", report.collisions);
        if report.dropped.is_empty() {
            outln!("dropped: none");
        } else {
            outln!(
                "dropped (no free place): {} sequences, indices {:?}",
                report.dropped.len(),
                report.dropped
            );
        }
    }
    let overlay = builder.finish();
    overlay
        .write(&args.output, !args.no_sync)
        .with_context(|| format!("writing {}", args.output.display()))?;
    outln!(
        "wrote {}: {} insertions, {} tokens, for rows of {}{}",
        args.output.display(),
        overlay.info.insertions,
        overlay.info.tokens,
        args.seq_len,
        if plan.is_some() {
            " with the plan"
        } else {
            " (contiguous view)"
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub fn export(path: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    let overlay = tokpack::Overlay::open(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let rows = overlay
        .export_rows()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let text = serde_json::to_string(&serde_json::Value::Object(rows))?;
    match output {
        Some(out) => std::fs::write(out, text + "\n")
            .with_context(|| format!("writing {}", out.display()))?,
        None => outln!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
