//! Subcommands of the `tokpack` tool. Their names, flags and JSON outputs are an interface.

mod build;
mod get;
mod info;
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
    /// Check every checksum and rule of the format; exit 0 when valid.
    Verify {
        /// The dataset file.
        file: PathBuf,
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
        Command::Verify { file } => verify::run(&file),
        Command::Get { file, doc, json } => get::run(&file, doc, json),
    }
}

/// Opens a dataset, naming the file in any error.
fn open(path: &std::path::Path) -> anyhow::Result<tokpack::Dataset> {
    tokpack::Dataset::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
