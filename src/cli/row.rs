use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;
use tokpack::{RowBuffers, RowOptions, Tail};

#[derive(Debug, Args)]
pub struct RowArgs {
    /// The dataset file.
    file: PathBuf,
    /// Tokens per row, L (must match the plan's when a plan is given).
    #[arg(long)]
    seq_len: u64,
    /// A plan file made by `tokpack pack`; without it the view is contiguous.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Row index.
    #[arg(long)]
    index: u64,
    /// Print {"input_ids", "labels", "position_ids", "cu_seqlens", "loss_mask"} as JSON.
    #[arg(long)]
    json: bool,
    /// Padding id (default: the metadata's pad_id, else eos_id, else 0).
    #[arg(long)]
    pad_id: Option<u32>,
    /// Contiguous view: no target where the next token starts another document.
    #[arg(long)]
    mask_boundaries: bool,
    /// An insertion overlay made by `tokpack insert` for this view (repeatable).
    #[arg(long)]
    overlay: Vec<PathBuf>,
    /// Also print the row's input_ids as text.
    #[arg(long)]
    decode: bool,
    /// The tokenizer to decode with, when the metadata's is not built in.
    #[arg(long)]
    tokenizer: Option<String>,
    /// Contiguous view without a plan: drop or pad the last partial row.
    #[arg(long, default_value = "drop", value_parser = super::pack::parse_tail)]
    tail: Tail,
    /// Contiguous view of only the documents of these sources (comma-separated names).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    sources: Vec<String>,
}

pub fn run(args: RowArgs) -> anyhow::Result<ExitCode> {
    let ds = super::open_corpus(&args.file)?;
    let mut options = RowOptions::new(args.seq_len);
    options.pad_id = args.pad_id;
    options.mask_document_boundaries = args.mask_boundaries;
    options.tail = args.tail;
    if !args.sources.is_empty() {
        if !args.overlay.is_empty() {
            anyhow::bail!(
                "--sources gives a restricted contiguous view, and overlays bind to unrestricted views only (spec 12.5)"
            );
        }
        if args.plan.is_some() {
            anyhow::bail!(
                "--sources restricts the contiguous view; a plan already fixes its documents (make one with `tokpack pack --sources`)"
            );
        }
        let filtered = tokpack::Filtered::new(&ds, &args.sources)
            .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
        let rows = tokpack::Rows::contiguous(&filtered, &options).map_err(|e| anyhow!("{e}"))?;
        return show(&args, tokpack::Corpus::corpus_metadata(&ds), rows);
    }
    let plan = super::open_plan(args.plan.as_deref())?;
    let rows = super::view(&ds, plan.as_ref(), &options)?;
    show(&args, tokpack::Corpus::corpus_metadata(&ds), rows)
}

fn show<C: tokpack::Corpus>(
    args: &RowArgs,
    metadata: &tokpack::Metadata,
    rows: tokpack::Rows<'_, '_, C>,
) -> anyhow::Result<ExitCode> {
    let overlays = args
        .overlay
        .iter()
        .map(|p| tokpack::Overlay::open(p).map_err(|e| anyhow!("{}: {e}", p.display())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let refs: Vec<&tokpack::Overlay> = overlays.iter().collect();
    let rows = rows.with_overlays(&refs).map_err(|e| anyhow!("{e}"))?;
    let mut buf = RowBuffers::with_seq_len(rows.seq_len());
    rows.row_into(args.index, &mut buf)
        .map_err(|e| anyhow!("{}: {e}", args.file.display()))?;
    let text = if args.decode {
        Some(super::get::decode(
            metadata,
            args.tokenizer.as_deref(),
            &buf.input_ids,
        )?)
    } else {
        None
    };
    if args.json {
        let mut v = json!({
            "input_ids": buf.input_ids,
            "labels": buf.labels,
            "position_ids": buf.position_ids,
            "cu_seqlens": buf.cu_seqlens,
            "loss_mask": buf.loss_mask,
        });
        if let Some(t) = &text {
            v["text"] = json!(t);
        }
        outln!("{}", serde_json::to_string(&v)?);
    } else {
        outln!(
            "row {} of {} (L = {})",
            args.index,
            rows.num_rows(),
            rows.seq_len()
        );
        let join = |v: Vec<String>| v.join(" ");
        outln!(
            "input_ids:    {}",
            join(buf.input_ids.iter().map(|x| x.to_string()).collect())
        );
        outln!(
            "labels:       {}",
            join(buf.labels.iter().map(|x| x.to_string()).collect())
        );
        outln!(
            "position_ids: {}",
            join(buf.position_ids.iter().map(|x| x.to_string()).collect())
        );
        outln!(
            "cu_seqlens:   {}",
            join(buf.cu_seqlens.iter().map(|x| x.to_string()).collect())
        );
        outln!(
            "loss_mask:    {}",
            join(buf.loss_mask.iter().map(|x| x.to_string()).collect())
        );
        if let Some(t) = &text {
            outln!("text:\n{t}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
