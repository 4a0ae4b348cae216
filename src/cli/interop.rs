//! `tokpack import` and `tokpack export`: Megatron-Core, nanoGPT and OLMo-core layouts.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use tokpack::interop::{megatron, nanogpt, olmo, Boundaries, RawDType};
use tokpack::{Writer, WriterOptions};

/// A foreign layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    /// Megatron-Core indexed dataset: X.bin + X.idx.
    Megatron,
    /// nanoGPT: headerless uint16 ids, EOS after each document.
    Nanogpt,
    /// OLMo-core: headerless token array (.npy by name) and optional np.bool_ label mask.
    Olmo,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Megatron => "megatron",
            Layout::Nanogpt => "nanogpt",
            Layout::Olmo => "olmo",
        }
    }
}

fn parse_dtype(s: &str) -> Result<RawDType, String> {
    RawDType::from_name(s).ok_or_else(|| format!("{s:?} is not u8, u16, u32 or u64"))
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The inputs' layout.
    #[arg(long = "from", value_enum)]
    from: Layout,
    /// Inputs, imported in order into one dataset: Megatron prefixes (X, X.idx or X.bin),
    /// nanoGPT .bin files or OLMo token files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the dataset.
    #[arg(short, long)]
    output: PathBuf,
    /// Vocabulary size: every id must be below it. Chooses u8, u16 or u32 storage (and,
    /// for OLMo, the input dtype unless --dtype is given).
    #[arg(long)]
    vocab_size: u64,
    /// End-of-sequence id: ends each document (nanoGPT: required; OLMo: this and/or
    /// --bos-id); stored in the metadata.
    #[arg(long)]
    eos_id: Option<u32>,
    /// Beginning-of-sequence id: OLMo starts a document at each BOS (after an EOS when
    /// --eos-id is also given); stored in the metadata.
    #[arg(long)]
    bos_id: Option<u32>,
    /// Padding id, stored in the metadata.
    #[arg(long)]
    pad_id: Option<u32>,
    /// OLMo label mask (np.bool_, one byte per token), one per input in the same order;
    /// repeatable.
    #[arg(long = "mask", value_name = "FILE")]
    masks: Vec<PathBuf>,
    /// OLMo token dtype: u8, u16, u32 or u64 (default: the smallest holding vocab_size - 1).
    #[arg(long, value_parser = parse_dtype)]
    dtype: Option<RawDType>,
    /// Name of the tokenizer, stored in the metadata.
    #[arg(long)]
    tokenizer: Option<String>,
    /// Skip fsync (faster; durability left to the kernel).
    #[arg(long)]
    no_sync: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The output layout.
    #[arg(long = "to", value_enum)]
    to: Layout,
    /// The dataset file.
    file: PathBuf,
    /// Megatron: the prefix X (writes X.bin and X.idx); nanoGPT and OLMo: the token file.
    #[arg(short, long)]
    output: PathBuf,
    /// nanoGPT and OLMo: the id appended to documents that do not end with it (default:
    /// the dataset's eos_id).
    #[arg(long)]
    eos_id: Option<u32>,
    /// OLMo: also write the loss mask here (np.bool_, one byte per token).
    #[arg(long, value_name = "FILE")]
    mask: Option<PathBuf>,
    /// OLMo token dtype: u8, u16, u32 or u64 (default: the smallest holding vocab_size - 1).
    #[arg(long, value_parser = parse_dtype)]
    dtype: Option<RawDType>,
    /// Skip the full check of the dataset (checksums, token range) before exporting.
    #[arg(long)]
    no_verify: bool,
    /// Skip fsync (faster; durability left to the kernel).
    #[arg(long)]
    no_sync: bool,
}

fn print_notes(notes: &[String]) -> anyhow::Result<()> {
    for n in notes {
        outln!("note: {n}");
    }
    Ok(())
}

pub fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let layout = args.from;
    if !args.masks.is_empty() && layout != Layout::Olmo {
        bail!(
            "--mask is for --from olmo; {} has no loss mask",
            layout.name()
        );
    }
    if args.dtype.is_some() && layout != Layout::Olmo {
        bail!(
            "--dtype is for --from olmo; {} files say their own dtype",
            layout.name()
        );
    }
    if !args.masks.is_empty() && args.masks.len() != args.inputs.len() {
        bail!(
            "{} --mask files for {} inputs: give one per input, in the same order",
            args.masks.len(),
            args.inputs.len()
        );
    }
    let boundaries = Boundaries::new(args.eos_id, args.bos_id);
    match layout {
        Layout::Nanogpt if args.eos_id.is_none() => {
            bail!(
                "--from nanogpt needs --eos-id: nanoGPT ends each document with it (GPT-2: 50256)"
            )
        }
        Layout::Olmo if boundaries.is_none() => {
            bail!("--from olmo needs --eos-id and/or --bos-id to find the documents")
        }
        _ => {}
    }

    let mut options = WriterOptions::new(args.vocab_size);
    let m = &mut options.metadata;
    m.tokenizer = args.tokenizer;
    m.bos_id = args.bos_id;
    m.eos_id = args.eos_id;
    m.pad_id = args.pad_id;
    let inputs: Vec<Value> = args
        .inputs
        .iter()
        .map(|p| Value::String(p.display().to_string()))
        .collect();
    m.extra.insert(
        "imported_from".into(),
        json!({ "format": layout.name(), "inputs": inputs }),
    );
    options.sync = !args.no_sync;

    let mut writer = Writer::create(&args.output, options)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut notes = Vec::new();
    for (i, input) in args.inputs.iter().enumerate() {
        let report = match layout {
            Layout::Megatron => megatron::import_into(&mut writer, input),
            Layout::Nanogpt => nanogpt::import_into(
                &mut writer,
                input,
                args.eos_id.expect("can't fail: checked above"),
            ),
            Layout::Olmo => olmo::import_into(
                &mut writer,
                input,
                args.masks.get(i).map(PathBuf::as_path),
                args.dtype
                    .unwrap_or_else(|| RawDType::for_vocab(args.vocab_size)),
                boundaries.expect("can't fail: checked above"),
            ),
        }
        .map_err(|e| anyhow!("importing {}: {e}", input.display()))?;
        notes.extend(report.notes);
    }
    let summary = writer
        .finish()
        .with_context(|| format!("finishing {}", args.output.display()))?;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "imported {} {} input{} into {}: {} documents, {} tokens, {} bytes{} in {secs:.2} s ({:.0} tokens/s)",
        args.inputs.len(),
        layout.name(),
        if args.inputs.len() == 1 { "" } else { "s" },
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
    print_notes(&notes)?;
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let layout = args.to;
    if args.mask.is_some() && layout != Layout::Olmo {
        bail!(
            "--mask is for --to olmo; {} has no loss mask",
            layout.name()
        );
    }
    if args.dtype.is_some() && layout != Layout::Olmo {
        bail!(
            "--dtype is for --to olmo; {} chooses its own",
            layout.name()
        );
    }
    let ds = super::open(&args.file)?;
    if !args.no_verify {
        ds.verify().map_err(|e| {
            anyhow!(
                "{}: {e} (export refused; --no-verify skips this check)",
                args.file.display()
            )
        })?;
    }
    let eos = || -> anyhow::Result<u32> {
        args.eos_id.or(ds.metadata().eos_id).ok_or_else(|| {
            anyhow!(
                "{} has no eos_id in its metadata: give --eos-id, the id that ends each document in {}",
                args.file.display(),
                layout.name()
            )
        })
    };
    let sync = !args.no_sync;
    let out: &Path = &args.output;
    let report = match layout {
        Layout::Megatron => megatron::export(&ds, out, sync),
        Layout::Nanogpt => nanogpt::export(&ds, out, eos()?, sync),
        Layout::Olmo => olmo::export(&ds, out, args.mask.as_deref(), args.dtype, eos()?, sync),
    }
    .map_err(|e| {
        anyhow!(
            "exporting {} to {}: {e}",
            args.file.display(),
            layout.name()
        )
    })?;
    let secs = started.elapsed().as_secs_f64();
    let files: Vec<String> = report
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    outln!(
        "exported {} to {} ({}): {} documents, {} tokens in {secs:.2} s ({:.0} tokens/s)",
        args.file.display(),
        files.join(" + "),
        layout.name(),
        report.documents,
        report.tokens,
        report.tokens as f64 / secs.max(1e-9)
    );
    print_notes(&report.notes)?;
    Ok(ExitCode::SUCCESS)
}
