use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, Context};
use clap::Args;
use tokpack::{make_plan, LongDocs, PlanOptions, Strategy, Tail};

#[derive(Debug, Args)]
pub struct PackArgs {
    /// The dataset file.
    file: PathBuf,
    /// Tokens per row, L.
    #[arg(long)]
    seq_len: u64,
    /// contiguous, doc-aligned or bfd (best-fit decreasing).
    #[arg(long, value_parser = parse_strategy)]
    strategy: Strategy,
    /// Documents longer than L: truncate or split (doc-aligned and bfd).
    #[arg(long, default_value = "split", value_parser = parse_long_docs)]
    long_docs: LongDocs,
    /// The last partial row of the contiguous view: drop or pad.
    #[arg(long, default_value = "drop", value_parser = parse_tail)]
    tail: Tail,
    /// Where to write the plan file; without it, only the figures are printed.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    /// Skip fsync of the plan file.
    #[arg(long)]
    no_sync: bool,
    /// Plan only the documents of these sources (comma-separated names; doc-aligned and
    /// bfd).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    sources: Vec<String>,
}

pub fn parse_strategy(s: &str) -> Result<Strategy, String> {
    Strategy::from_name(s).ok_or_else(|| format!("{s:?} is not contiguous, doc-aligned or bfd"))
}

pub fn parse_long_docs(s: &str) -> Result<LongDocs, String> {
    LongDocs::from_name(s).ok_or_else(|| format!("{s:?} is not truncate or split"))
}

pub fn parse_tail(s: &str) -> Result<Tail, String> {
    Tail::from_name(s).ok_or_else(|| format!("{s:?} is not drop or pad"))
}

pub fn run(args: PackArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let ds = super::open_corpus(&args.file)?;
    let options = PlanOptions {
        seq_len: args.seq_len,
        strategy: args.strategy,
        long_docs: args.long_docs,
        tail: args.tail,
    };
    let plan = if args.sources.is_empty() {
        make_plan(&ds, &options)
    } else {
        tokpack::make_plan_for_sources(&ds, &options, &args.sources)
    }
    .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let planned = started.elapsed().as_secs_f64();
    if let Some(out) = &args.output {
        plan.write(out, !args.no_sync)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let i = &plan.info;
    if args.json {
        let mut v = serde_json::Value::Object(i.to_metadata())["plan"].clone();
        v["fill"] = serde_json::json!(i.fill());
        v["seconds"] = serde_json::json!(secs);
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "strategy          {} (L = {})",
        i.strategy.name(),
        i.seq_len
    );
    outln!("rows              {}", i.rows);
    outln!(
        "fill              {:.2}% (non-padding tokens / (rows x L))",
        100.0 * i.fill()
    );
    outln!("tokens in rows    {}", i.tokens);
    outln!("padding tokens    {}", i.padding_tokens);
    outln!("truncated tokens  {}", i.truncated_tokens);
    outln!("documents split   {}", i.split_documents);
    if let Some(s) = &i.sources {
        outln!("sources           {}", s.join(", "));
    }
    outln!("time              {planned:.3} s to plan, {secs:.3} s in all");
    if let Some(out) = &args.output {
        outln!("wrote             {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}
