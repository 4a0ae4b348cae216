use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail};
use clap::Args;
use tokpack::Compression;

/// `zstd` or `zstd:LEVEL`.
pub fn parse_compression(s: &str, block_tokens: Option<u32>) -> anyhow::Result<Compression> {
    let level = match s.split_once(':') {
        None if s == "zstd" => 3,
        Some(("zstd", l)) => l
            .parse()
            .map_err(|_| anyhow!("--compress {s:?}: the level {l:?} is not a number"))?,
        _ => bail!("--compress {s:?}: use zstd or zstd:LEVEL (1 to 22)"),
    };
    let mut c = Compression::zstd(level);
    if let Some(b) = block_tokens {
        c.block_tokens = b;
    }
    c.validate()?;
    Ok(c)
}

#[derive(Debug, Args)]
pub struct CompressArgs {
    /// The dataset file.
    file: PathBuf,
    /// Where to write the compressed (or, for decompress, raw) dataset.
    #[arg(short, long)]
    output: PathBuf,
    /// zstd level (1 fastest .. 22 smallest).
    #[arg(long, default_value_t = 3)]
    level: i32,
    /// Tokens per block: the unit a read decompresses (default 4096).
    #[arg(long)]
    block_tokens: Option<u32>,
    /// Skip fsync.
    #[arg(long)]
    no_sync: bool,
}

/// `tokpack compress` (compression `Some`) and `tokpack decompress`.
pub fn run(args: CompressArgs, compress: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let ds = super::open(&args.file)?;
    let compression = if compress {
        Some(parse_compression(
            &format!("zstd:{}", args.level),
            args.block_tokens,
        )?)
    } else {
        None
    };
    if args.output == args.file {
        bail!(
            "{}: write to another path (the input stays mapped while it is read)",
            args.output.display()
        );
    }
    let summary = tokpack::rewrite(&ds, &args.output, compression, !args.no_sync)
        .map_err(|e| anyhow!("{} -> {}: {e}", args.file.display(), args.output.display()))?;
    let before = ds.as_bytes().len() as f64;
    outln!(
        "wrote {}: {} documents, {} tokens, {} bytes ({:.1}% of {} bytes{}) in {:.2} s",
        summary.path.display(),
        summary.num_documents,
        summary.num_tokens,
        summary.file_length,
        100.0 * summary.file_length as f64 / before.max(1.0),
        ds.as_bytes().len(),
        compression
            .map(|c| format!(
                "; zstd level {}, {} tokens per block",
                c.level, c.block_tokens
            ))
            .unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
