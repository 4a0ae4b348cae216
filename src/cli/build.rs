use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tokpack::text::{
    build_text, detect_format, ChatTemplate, InputFormat, LossPolicy, RecordReader,
    TextBuildOptions, Tokenizer,
};
use tokpack::{ShardedWriter, Writer, WriterOptions};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Input files, read in order ("-" reads standard input); .gz and .zst are decompressed.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the dataset.
    #[arg(short, long)]
    output: PathBuf,
    /// auto, tokens ({"input_ids": [...], "loss_mask": [...]}), jsonl (a text field),
    /// text (plain text files) or chat ({"messages": [...]}); auto looks at the first line.
    #[arg(long, default_value = "auto")]
    input_format: String,
    /// The tokenizer: cl100k_base, o200k_base, r50k_base, or a tokenizer.json path. For
    /// pre-tokenized input it is only a name stored in the metadata.
    #[arg(long)]
    tokenizer: Option<String>,
    /// Vocabulary size: every id must be below it (default: the tokenizer's).
    #[arg(long)]
    vocab_size: Option<u64>,
    /// The JSON field holding the text (jsonl input).
    #[arg(long, default_value = "text")]
    text_field: String,
    /// Split plain text files on this string (default: one document per file).
    #[arg(long)]
    delimiter: Option<String>,
    /// Beginning-of-sequence id: stored in the metadata, and put before every text or chat
    /// document with --add-bos.
    #[arg(long)]
    bos_id: Option<u32>,
    /// End-of-sequence id (default: the tokenizer's): stored in the metadata and appended to
    /// every text or chat document unless --no-eos.
    #[arg(long)]
    eos_id: Option<u32>,
    /// Put the BOS id before every text or chat document.
    #[arg(long)]
    add_bos: bool,
    /// Do not append the EOS id to text or chat documents.
    #[arg(long)]
    no_eos: bool,
    /// Padding id, stored in the metadata.
    #[arg(long)]
    pad_id: Option<u32>,
    /// Chat input: all (every token a target) or assistant_only.
    #[arg(long, default_value = "all")]
    loss_policy: String,
    /// Chat template: text before each message, {role} replaced by the role.
    #[arg(long, default_value = "<|im_start|>{role}\n")]
    chat_start: String,
    /// Chat template: text after each message.
    #[arg(long, default_value = "<|im_end|>\n")]
    chat_end: String,
    /// Extra metadata KEY=VALUE (VALUE is parsed as JSON, else kept as a string); repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// A fixed 32-hex-digit dataset id, for byte-identical output.
    #[arg(long, value_name = "HEX")]
    dataset_id: Option<String>,
    /// Skip fsync (faster; durability left to the kernel).
    #[arg(long)]
    no_sync: bool,
    /// Write shards of about N tokens each (a shard closes after the document that reaches
    /// N) and a manifest at the output path (NAME.manifest.json; shards NAME-00000.tpk, ...).
    #[arg(long, value_name = "N")]
    shard_tokens: Option<u64>,
    /// This worker's index, with --workers: build only records i, i + n, i + 2n, ... of the
    /// input (the same input for every worker), for job arrays; join the parts' manifests
    /// with `tokpack manifest`.
    #[arg(long, requires = "workers")]
    worker: Option<u64>,
    /// Number of workers splitting the input.
    #[arg(long, requires = "worker")]
    workers: Option<u64>,
    /// Tag documents with a source (stored as a per-document source id): once for every
    /// input file, or once per input file, in order.
    #[arg(long = "source", value_name = "NAME")]
    sources: Vec<String>,
    /// Take each record's source from this string field of its JSON object (wins over
    /// --source). Chat input reads a "source" field without this option.
    #[arg(long, value_name = "KEY")]
    source_field: Option<String>,
    /// Store the tokens as zstd blocks: zstd or zstd:LEVEL (readers decompress only the
    /// blocks a read touches).
    #[arg(long, value_name = "zstd[:LEVEL]")]
    compress: Option<String>,
    /// With --compress: tokens per block (default 4096).
    #[arg(long, requires = "compress")]
    block_tokens: Option<u32>,
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
    let format = match args.input_format.as_str() {
        // Without a tokenizer only pre-tokenized input can be read: its parser then names
        // what is wrong with the line.
        "auto" if args.tokenizer.is_none() => InputFormat::Tokens,
        "auto" => detect_format(&args.inputs[0], &args.text_field)?,
        name => InputFormat::from_name(name).ok_or_else(|| {
            anyhow!("--input-format {name:?}: use auto, tokens, jsonl, text or chat")
        })?,
    };
    let loss = LossPolicy::from_name(&args.loss_policy).ok_or_else(|| {
        anyhow!(
            "--loss-policy {:?}: use all or assistant_only",
            args.loss_policy
        )
    })?;
    let tokenizer = match (&args.tokenizer, format) {
        (Some(name), InputFormat::Tokens) => Tokenizer::load(name).ok(),
        (Some(name), _) => Some(Tokenizer::load(name)?),
        (None, InputFormat::Tokens) => None,
        (None, _) => bail!(
            "text input needs --tokenizer (cl100k_base, o200k_base, r50k_base or a tokenizer.json)"
        ),
    };
    let vocab_size = args
        .vocab_size
        .or(tokenizer.as_ref().map(Tokenizer::vocab_size))
        .ok_or_else(|| {
            anyhow!("--vocab-size is needed for pre-tokenized input with no known tokenizer")
        })?;

    let mut options = WriterOptions::new(vocab_size);
    let m = &mut options.metadata;
    m.tokenizer = args.tokenizer.as_ref().map(|t| {
        tokenizer
            .as_ref()
            .map_or(t.clone(), |k| k.name().to_owned())
    });
    m.bos_id = args
        .bos_id
        .or(tokenizer.as_ref().and_then(Tokenizer::bos_id));
    m.eos_id = args
        .eos_id
        .or(tokenizer.as_ref().and_then(Tokenizer::eos_id));
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
    options.compression = args
        .compress
        .as_deref()
        .map(|c| super::compress::parse_compression(c, args.block_tokens))
        .transpose()?;

    let mut build = TextBuildOptions::new();
    if format != InputFormat::Tokens {
        if args.add_bos {
            build.bos =
                Some(options.metadata.bos_id.ok_or_else(|| {
                    anyhow!("--add-bos needs --bos-id: the tokenizer has no BOS")
                })?);
        }
        if !args.no_eos {
            build.eos = options.metadata.eos_id;
        }
    }
    build.tokenizer = tokenizer;
    build.loss = loss;
    build.chat = ChatTemplate {
        start: args.chat_start.clone(),
        end: args.chat_end.clone(),
    };
    if let (Some(i), Some(n)) = (args.worker, args.workers) {
        if n == 0 || i >= n {
            bail!("--worker {i} --workers {n}: need 0 <= worker < workers");
        }
        build.part = Some((i, n));
    }

    let mut reader = RecordReader::new(
        args.inputs.clone(),
        format,
        &args.text_field,
        args.delimiter.clone(),
    )
    .with_sources(
        args.sources.iter().cloned().map(Some).collect(),
        args.source_field.clone(),
    )?;
    let progress = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .expect("can't fail: constant template"),
    );
    let show = |r: &tokpack::text::BuildReport| {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        progress.set_message(format!(
            "{} documents ({:.0}/s), {} tokens ({:.0}/s)",
            r.documents,
            r.documents as f64 / secs,
            r.tokens,
            r.tokens as f64 / secs
        ));
    };
    let created = |e| anyhow!("creating {}: {e}", args.output.display());
    if let Some(n) = args.shard_tokens {
        let mut writer = ShardedWriter::create(&args.output, n, options).map_err(created)?;
        let report = build_text(&mut reader, &mut writer, &build, show)?;
        progress.finish_and_clear();
        let (manifest, shards) = writer
            .finish()
            .with_context(|| format!("finishing {}", args.output.display()))?;
        let secs = started.elapsed().as_secs_f64();
        outln!(
            "wrote {}: {} shards, {} documents, {} tokens in {secs:.2} s ({:.0} tokens/s)",
            manifest.display(),
            shards.len(),
            report.documents,
            report.tokens,
            report.tokens as f64 / secs.max(1e-9)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut writer = Writer::create(&args.output, options).map_err(created)?;
    let report = build_text(&mut reader, &mut writer, &build, show)?;
    progress.finish_and_clear();
    let summary = writer
        .finish()
        .with_context(|| format!("finishing {}", args.output.display()))?;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "wrote {}: {} documents, {} tokens, {} bytes{}{} in {secs:.2} s ({:.0} tokens/s)",
        summary.path.display(),
        summary.num_documents,
        summary.num_tokens,
        summary.file_length,
        if summary.has_loss_mask {
            ", with loss mask"
        } else {
            ""
        },
        summary
            .sources
            .as_ref()
            .map(|s| format!(", sources {}", s.join(",")))
            .unwrap_or_default(),
        report.tokens as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
