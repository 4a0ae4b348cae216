use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::Value;
use tokpack::{Writer, WriterOptions};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Pre-tokenized JSON lines, one document per line ("-" reads standard input).
    input: PathBuf,
    /// Where to write the dataset.
    #[arg(short, long)]
    output: PathBuf,
    /// Vocabulary size: every id must be below it. Chooses u8, u16 or u32 storage.
    #[arg(long)]
    vocab_size: u64,
    /// Name of the tokenizer, stored in the metadata.
    #[arg(long)]
    tokenizer: Option<String>,
    /// Beginning-of-sequence id, stored in the metadata.
    #[arg(long)]
    bos_id: Option<u32>,
    /// End-of-sequence id, stored in the metadata.
    #[arg(long)]
    eos_id: Option<u32>,
    /// Padding id, stored in the metadata.
    #[arg(long)]
    pad_id: Option<u32>,
    /// Extra metadata KEY=VALUE (VALUE is parsed as JSON, else kept as a string); repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// A fixed 32-hex-digit dataset id, for reproducible output.
    #[arg(long, value_name = "HEX")]
    dataset_id: Option<String>,
    /// Skip fsync (faster; durability left to the kernel).
    #[arg(long)]
    no_sync: bool,
}

#[derive(Deserialize)]
struct Line {
    input_ids: Vec<u32>,
    #[serde(default)]
    loss_mask: Option<Vec<u8>>,
}

fn parse_id(hex: &str) -> anyhow::Result<[u8; 16]> {
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--dataset-id must be 32 hex digits, got {hex:?}");
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b =
            u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("can't fail: checked hex digits");
    }
    Ok(id)
}

pub fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut options = WriterOptions::new(args.vocab_size);
    let m = &mut options.metadata;
    m.tokenizer = args.tokenizer;
    m.bos_id = args.bos_id;
    m.eos_id = args.eos_id;
    m.pad_id = args.pad_id;
    for kv in &args.meta {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--meta {kv:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        m.extra.insert(k.to_owned(), value);
    }
    options.dataset_id = args.dataset_id.as_deref().map(parse_id).transpose()?;
    options.sync = !args.no_sync;

    let input_name = args.input.display().to_string();
    let (reader, total): (Box<dyn Read>, Option<u64>) = if input_name == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = File::open(&args.input).with_context(|| format!("opening {input_name}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let progress = match total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
            )
            .expect("can't fail: constant template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    let mut input = BufReader::with_capacity(1 << 20, reader);
    let mut writer = Writer::create(&args.output, options)
        .with_context(|| format!("creating {}", args.output.display()))?;

    let mut line = String::new();
    let mut line_no = 0u64;
    let mut read = 0u64;
    let mut mask = Vec::new();
    loop {
        line.clear();
        let n = input
            .read_line(&mut line)
            .with_context(|| format!("{input_name} line {}: reading", line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        read += n as u64;
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: String| anyhow!("{input_name} line {line_no}: {what}");
        let doc: Line = serde_json::from_str(&line).map_err(|e| at(format!("{e}")))?;
        let mask_ref = match &doc.loss_mask {
            None => None,
            Some(bits) => {
                if let Some(i) = bits.iter().position(|&b| b > 1) {
                    return Err(at(format!("loss_mask[{i}] is {}; use 0 or 1", bits[i])));
                }
                mask.clear();
                mask.extend(bits.iter().map(|&b| b == 1));
                Some(mask.as_slice())
            }
        };
        writer
            .push_document(&doc.input_ids, mask_ref)
            .map_err(|e| at(e.to_string()))?;
        if line_no % 4096 == 0 {
            progress.set_position(read);
        }
    }
    progress.finish_and_clear();
    let summary = writer
        .finish()
        .with_context(|| format!("finishing {}", args.output.display()))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "wrote {}: {} documents, {} tokens, {} bytes{} in {secs:.2} s ({:.0} tokens/s)",
        summary.path.display(),
        summary.num_documents,
        summary.num_tokens,
        summary.file_length,
        if summary.has_loss_mask {
            ", with loss mask"
        } else {
            ""
        },
        summary.num_tokens as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
