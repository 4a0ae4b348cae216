//! Subcommands of the `tokpack` tool. Their names, flags and JSON outputs are an interface.

mod build;
mod get;
mod info;
mod insert;
mod pack;
mod row;
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
    Build(build::BuildArgs),
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
    /// Cut a dataset into rows of L tokens and store the plan: contiguous, doc-aligned or
    /// best-fit decreasing.
    Pack(pack::PackArgs),
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
        /// Print {"input_ids": [...], "loss_mask": [...]}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build(args) => build::run(args),
        Command::Info { file, json } => info::run(&file, json),
        Command::Verify { file, dataset } => verify::run(&file, dataset.as_deref()),
        Command::Pack(args) => pack::run(args),
        Command::Row(args) => row::run(args),
        Command::Insert(args) => insert::run(args),
        Command::ExportInsertions { file, output } => insert::export(&file, output.as_deref()),
        Command::Get { file, doc, json } => get::run(&file, doc, json),
    }
}

/// A tokpack file of any kind.
enum Opened {
    Dataset(tokpack::Dataset),
    Plan(tokpack::Plan),
    Overlay(tokpack::Overlay),
}

/// Opens a dataset or, failing that, a plan or overlay file; a file that is none of them
/// gets the dataset reader's error.
fn open_any(path: &std::path::Path) -> anyhow::Result<Opened> {
    match tokpack::Dataset::open(path) {
        Ok(ds) => Ok(Opened::Dataset(ds)),
        Err(e) => {
            if let Ok(plan) = tokpack::Plan::open(path) {
                return Ok(Opened::Plan(plan));
            }
            if let Ok(overlay) = tokpack::Overlay::open(path) {
                return Ok(Opened::Overlay(overlay));
            }
            Err(anyhow::anyhow!("{}: {e}", path.display()))
        }
    }
}

/// Opens a dataset, naming the file in any error.
fn open(path: &std::path::Path) -> anyhow::Result<tokpack::Dataset> {
    tokpack::Dataset::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
