//! Subcommands of the `tokpack` tool. Their names, flags and JSON outputs are an interface.

/// `println!` that returns an error instead of panicking when stdout is closed
/// (`tokpack info x | head`), so `main` can exit quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?;
    }};
}

mod build;
mod compress;
mod get;
mod info;
mod insert;
mod interop;
mod mix;
mod pack;
mod row;
mod stats;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tokpack: tokenized training data in one memory-mapped file.
#[derive(Debug, Parser)]
#[command(name = "tokpack", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a dataset from pre-tokenized JSON lines: {"input_ids": [...], "loss_mask": [0/1...]}.
    Build(Box<build::BuildArgs>),
    /// Print counts, element type, sections and metadata.
    Info {
        /// The dataset file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check every checksum and rule of the format; exit 0 when valid. Takes a dataset or
    /// a plan file.
    Verify {
        /// The dataset or plan file.
        file: PathBuf,
        /// For a plan file: also check it against this dataset (binding, segments inside
        /// documents).
        #[arg(long)]
        dataset: Option<PathBuf>,
    },
    /// Documents, tokens, document-length histogram, token frequencies, coverage of the top K.
    Stats {
        /// The dataset file.
        file: PathBuf,
        /// Print coverage and OOV rate of the K most frequent ids (default: a ladder of K).
        #[arg(long)]
        top: Option<usize>,
        /// How many of the most frequent tokens to list.
        #[arg(long, default_value_t = 20)]
        show: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the training order of spec 16: a rank's rows of an epoch as a JSON list, or the
    /// epoch and row of global training positions.
    Order {
        /// Rows in the view.
        #[arg(long)]
        rows: u64,
        /// Shuffle seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Epoch.
        #[arg(long, default_value_t = 0)]
        epoch: u64,
        /// Number of ranks.
        #[arg(long, default_value_t = 1)]
        world_size: u64,
        /// This rank.
        #[arg(long, default_value_t = 0)]
        rank: u64,
        /// Drop rows that do not divide evenly among ranks (else pad by wrapping).
        #[arg(long)]
        drop_last: bool,
        /// First position of the rank's epoch to print (resume).
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// How many rows to print (default: to the end of the epoch).
        #[arg(long)]
        count: Option<u64>,
        /// Instead: print [epoch, row] for these global training positions.
        #[arg(long, value_delimiter = ',')]
        global: Vec<u64>,
    },
    /// Join manifests (the parts a job array wrote) and dataset files (built separately)
    /// into one manifest, in the order given.
    Manifest {
        /// The parts: manifests (.json) and dataset files.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Where to write the joined manifest.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Rewrite a dataset onto a compact vocabulary: the K most frequent ids become 0..K-1.
    Remap(stats::RemapArgs),
    /// Cut a dataset into rows of L tokens and store the plan: contiguous, doc-aligned or
    /// best-fit decreasing.
    Pack(pack::PackArgs),
    /// Draw a weighted mixture of sources as a stored plan: each source's share of N tokens
    /// matches its weight; short sources repeat their documents evenly.
    Mix(mix::MixArgs),
    /// Rewrite a dataset with its tokens as independently compressed zstd blocks (same
    /// dataset id: plans and overlays stay valid); every reader reads it the same way.
    Compress(compress::CompressArgs),
    /// Rewrite a compressed dataset with raw tokens (zero-copy typed views again).
    Decompress(compress::CompressArgs),
    /// Print one training row: input_ids, labels, position_ids, cu_seqlens, loss_mask.
    Row(row::RowArgs),
    /// Make an insertion overlay: token spans that overwrite rows at explicit or random
    /// positions of a view.
    Insert(insert::InsertArgs),
    /// Print an overlay's insertions grouped by row: {"ROW": [[OFFSET, [tokens]], ...]}.
    ExportInsertions {
        /// The overlay file.
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print one document.
    Get {
        /// The dataset file.
        file: PathBuf,
        /// Document index.
        #[arg(long)]
        doc: u64,
        /// Print {"input_ids": [...], "loss_mask": [...]} (and "text" with --decode).
        #[arg(long)]
        json: bool,
        /// Print the document as text, decoded with the tokenizer the metadata names.
        #[arg(long)]
        decode: bool,
        /// The tokenizer to decode with, when the metadata's is not built in.
        #[arg(long)]
        tokenizer: Option<String>,
    },
    /// Import Megatron-Core (.bin/.idx), nanoGPT (uint16 .bin) or OLMo-core (token and
    /// label-mask arrays) files into one dataset.
    Import(interop::ImportArgs),
    /// Export a dataset as Megatron-Core (.bin/.idx), nanoGPT (uint16 .bin) or OLMo-core
    /// (token and label-mask arrays) files.
    Export(interop::ExportArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build(args) => build::run(*args),
        Command::Info { file, json } => info::run(&file, json),
        Command::Verify { file, dataset } => verify::run(&file, dataset.as_deref()),
        Command::Pack(args) => pack::run(args),
        Command::Mix(args) => mix::run(args),
        Command::Compress(args) => compress::run(args, true),
        Command::Decompress(args) => compress::run(args, false),
        Command::Stats {
            file,
            top,
            show,
            json,
        } => stats::run(&file, top, show, json),
        Command::Remap(args) => stats::remap(args),
        Command::Order {
            rows,
            seed,
            epoch,
            world_size,
            rank,
            drop_last,
            start,
            count,
            global,
        } => {
            let order = tokpack::RankOrder::new(rows, seed, world_size, rank, drop_last)?;
            let out: Vec<serde_json::Value> = if global.is_empty() {
                let take = count.unwrap_or(u64::MAX) as usize;
                order
                    .rows_of_epoch(epoch, start)?
                    .take(take)
                    .map(serde_json::Value::from)
                    .collect()
            } else {
                global
                    .iter()
                    .map(|&g| {
                        order
                            .row_at_global(g)
                            .map(|(e, r)| serde_json::json!([e, r]))
                    })
                    .collect::<tokpack::Result<_>>()?
            };
            outln!("{}", serde_json::Value::Array(out));
            Ok(ExitCode::SUCCESS)
        }
        Command::Manifest { parts, output } => {
            let id = tokpack::random_dataset_id()?;
            let n = tokpack::Manifest::join(&parts, &output, id)?;
            outln!(
                "wrote {}: {} parts, {n} shards",
                output.display(),
                parts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Row(args) => row::run(args),
        Command::Insert(args) => insert::run(args),
        Command::ExportInsertions { file, output } => insert::export(&file, output.as_deref()),
        Command::Get {
            file,
            doc,
            json,
            decode,
            tokenizer,
        } => get::run(&file, doc, json, decode, tokenizer.as_deref()),
        Command::Import(args) => interop::import(args),
        Command::Export(args) => interop::export(args),
    }
}

/// A tokpack file of any kind.
enum Opened {
    Dataset(Box<tokpack::Dataset>),
    Manifest(tokpack::Manifest),
    Plan(tokpack::Plan),
    Overlay(tokpack::Overlay),
}

/// Which kind of tokpack file `path` holds, from its section kinds and, for a file with only
/// a METADATA section, its `"file"` key. `None` when the header or table cannot be read (the
/// dataset reader then reports why).
fn detect_kind(path: &std::path::Path) -> Option<&'static str> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut head = [0u8; 64];
    file.read_exact_at(&mut head, 0).ok()?;
    let count = u64::from(u32::from_le_bytes(head[48..52].try_into().ok()?)).min(1024);
    let mut prefix = vec![0u8; (64 + 64 * count).min(len) as usize];
    file.read_exact_at(&mut prefix, 0).ok()?;
    // Only the kinds in the table; every check is the chosen reader's.
    let entries: Vec<(u32, u64, u64)> = (0..count as usize)
        .filter_map(|i| {
            let e = prefix.get(64 + 64 * i..128 + 64 * i)?;
            let kind = u32::from_le_bytes(e[0..4].try_into().ok()?);
            let offset = u64::from_le_bytes(e[8..16].try_into().ok()?);
            let length = u64::from_le_bytes(e[16..24].try_into().ok()?);
            Some((kind, offset, length))
        })
        .collect();
    // The metadata's "file" key says what the file is (spec 5.4); the section kinds decide
    // only when the metadata cannot be read.
    let from_meta = entries
        .iter()
        .find(|e| e.0 == 4)
        .and_then(|&(_, offset, length)| {
            let mut meta = vec![0u8; length.min(1 << 24) as usize];
            file.read_exact_at(&mut meta, offset).ok()?;
            let value: serde_json::Value = serde_json::from_slice(&meta).ok()?;
            Some(
                match value.get("file").and_then(serde_json::Value::as_str) {
                    Some("plan") => "plan",
                    Some("overlay") => "overlay",
                    _ => "dataset",
                },
            )
        });
    if from_meta.is_some() {
        return from_meta;
    }
    if entries.iter().any(|e| e.0 == 1) {
        return Some("dataset");
    }
    if entries.iter().any(|e| matches!(e.0, 5 | 8 | 9 | 10)) {
        return Some("overlay");
    }
    if entries.iter().any(|e| matches!(e.0, 6 | 7)) {
        return Some("plan");
    }
    Some("dataset")
}

/// Opens a tokpack file of any kind with the reader its contents call for, so that a bad plan
/// or overlay file is reported by the plan or overlay reader.
fn open_any(path: &std::path::Path) -> anyhow::Result<Opened> {
    let named = |e: tokpack::Error| anyhow::anyhow!("{}: {e}", path.display());
    if path.extension().is_some_and(|e| e == "json") {
        return Ok(Opened::Manifest(
            tokpack::Manifest::open(path).map_err(named)?,
        ));
    }
    Ok(match detect_kind(path) {
        Some("plan") => Opened::Plan(tokpack::Plan::open(path).map_err(named)?),
        Some("overlay") => Opened::Overlay(tokpack::Overlay::open(path).map_err(named)?),
        _ => Opened::Dataset(Box::new(tokpack::Dataset::open(path).map_err(named)?)),
    })
}

/// Opens a dataset file or, for a `.json` path, a manifest of shards, naming the path in any
/// error.
fn open_corpus(path: &std::path::Path) -> anyhow::Result<tokpack::AnyCorpus> {
    tokpack::AnyCorpus::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Opens the plan file named by `--plan`, if any, naming it in any error.
fn open_plan(path: Option<&std::path::Path>) -> anyhow::Result<Option<tokpack::Plan>> {
    path.map(|p| tokpack::Plan::open(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
        .transpose()
}

/// The view a command reads: the plan's, whose length must be `--seq-len`, or the contiguous
/// view.
fn view<'d, 'p>(
    corpus: &'d tokpack::AnyCorpus,
    plan: Option<&'p tokpack::Plan>,
    options: &tokpack::RowOptions,
) -> anyhow::Result<tokpack::Rows<'d, 'p, tokpack::AnyCorpus>> {
    let rows = match plan {
        Some(p) => {
            if p.info().seq_len != options.seq_len {
                anyhow::bail!(
                    "--seq-len {} does not match the plan's sequence length {}",
                    options.seq_len,
                    p.info().seq_len
                );
            }
            tokpack::Rows::with_plan(corpus, p, options)
        }
        None => tokpack::Rows::contiguous(corpus, options),
    };
    rows.map_err(|e| anyhow::anyhow!("{e}"))
}

/// Opens a dataset, naming the file in any error.
fn open(path: &std::path::Path) -> anyhow::Result<tokpack::Dataset> {
    tokpack::Dataset::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
