use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};
use tokpack::format::section_table::kind_name;
use tokpack::DType;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sections_json(sections: &[tokpack::SectionEntry]) -> Vec<Value> {
    sections
        .iter()
        .map(|e| {
            json!({
                "kind": kind_name(e.kind.get()),
                "dtype": DType::from_code(e.dtype).map_or_else(|| format!("code {}", e.dtype), |d| d.name().to_owned()),
                "codec": e.codec,
                "offset": e.offset.get(),
                "length": e.length.get(),
                "count": e.count.get(),
                "crc32": format!("{:08x}", e.crc32.get()),
            })
        })
        .collect()
}

/// Documents and tokens per source, as JSON (null without source ids).
pub fn sources_json(counts: &Option<Vec<tokpack::SourceCount>>) -> Value {
    match counts {
        None => Value::Null,
        Some(c) => c
            .iter()
            .map(|s| json!({"name": s.name, "documents": s.documents, "tokens": s.tokens}))
            .collect(),
    }
}

/// Bytes the TOKENS section occupies in the file.
fn tokens_stored(ds: &tokpack::Dataset) -> u64 {
    ds.sections()
        .iter()
        .find(|e| e.kind.get() == tokpack::SectionKind::Tokens.code())
        .map_or(0, |e| e.length.get())
}

/// The compression of a dataset's tokens, as JSON (null for raw tokens).
fn compression_json(ds: &tokpack::Dataset) -> Value {
    match ds.block_layout() {
        None => Value::Null,
        Some(l) => json!({
            "codec": "zstd",
            "block_tokens": l.block_tokens,
            "blocks": l.n_blocks,
            "stored_bytes": tokens_stored(ds),
            "raw_bytes": ds.num_tokens() * ds.dtype().width(),
        }),
    }
}

/// Prints a table of documents and tokens per source with their shares.
pub fn print_sources(counts: &[tokpack::SourceCount]) -> anyhow::Result<()> {
    let docs: u64 = counts.iter().map(|s| s.documents).sum();
    let toks: u64 = counts.iter().map(|s| s.tokens).sum();
    let pct = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    outln!("sources       {}", counts.len());
    for s in counts {
        outln!(
            "  {:<24} {:>12} documents ({:>5.1}%) {:>14} tokens ({:>5.1}%)",
            s.name,
            s.documents,
            pct(s.documents, docs),
            s.tokens,
            pct(s.tokens, toks)
        );
    }
    Ok(())
}

fn plan_info(path: &Path, plan: &tokpack::Plan, as_json: bool) -> anyhow::Result<ExitCode> {
    let meta = Value::Object(plan.info().to_metadata());
    let (major, minor) = (plan.header_version().0, plan.header_version().1);
    if as_json {
        let info = json!({
            "file": path.display().to_string(),
            "kind": "plan",
            "version": [major, minor],
            "plan": meta["plan"],
            "fill": plan.info().fill(),
            "sections": sections_json(plan.sections()),
        });
        outln!("{}", serde_json::to_string_pretty(&info)?);
    } else {
        let i = plan.info();
        outln!(
            "file          {} (plan file, format {major}.{minor})",
            path.display()
        );
        outln!(
            "for dataset   {} ({} tokens, {} documents)",
            hex(&i.dataset_id),
            i.dataset_tokens,
            i.dataset_documents
        );
        outln!("strategy      {} (L = {})", i.strategy.name(), i.seq_len);
        outln!("rows          {}", i.rows);
        outln!("fill          {:.2}%", 100.0 * i.fill());
        outln!("padding       {} tokens", i.padding_tokens);
        outln!("truncated     {} tokens", i.truncated_tokens);
        outln!("split         {} documents", i.split_documents);
        if let Some(s) = &i.sources {
            outln!("sources       {}", s.join(", "));
        }
        if let Some(m) = &i.mixture {
            outln!("mixture       {}", serde_json::to_string(m)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(path: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let ds = match super::open_any(path)? {
        super::Opened::Dataset(ds) => *ds,
        super::Opened::Plan(plan) => return plan_info(path, &plan, as_json),
        super::Opened::Manifest(m) => {
            use tokpack::Corpus;
            // A manifest whose shards disagree on having source ids still has its info.
            let (counts, sources_error) = match tokpack::source_counts(&m) {
                Ok(c) => (c, None),
                Err(e) => (None, Some(e.to_string())),
            };
            let info = json!({
                "file": path.display().to_string(),
                "kind": "manifest",
                "dataset_id": hex(&m.corpus_id()),
                "num_shards": m.num_shards(),
                "num_documents": m.num_documents(),
                "num_tokens": m.num_tokens(),
                "dtype": m.token_dtype().name(),
                "vocab_size": m.metadata().vocab_size,
                "has_loss_mask": m.has_mask(),
                "metadata": Value::Object(m.metadata().to_json()),
                "shards": m.entries(),
                "sources": sources_json(&counts),
            });
            if as_json {
                outln!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                outln!(
                    "file          {} (manifest of {} shards)",
                    path.display(),
                    m.num_shards()
                );
                outln!("dataset id    {}", hex(&m.corpus_id()));
                outln!("documents     {}", m.num_documents());
                outln!("tokens        {}", m.num_tokens());
                outln!("dtype         {}", m.token_dtype().name());
                outln!("vocab size    {}", m.metadata().vocab_size);
                if let Some(c) = &counts {
                    print_sources(c)?;
                }
                if let Some(e) = &sources_error {
                    outln!("sources       unavailable: {e}");
                }
                for e in m.entries() {
                    outln!(
                        "  {:<40} {:>12} documents {:>14} tokens",
                        e.path,
                        e.documents,
                        e.tokens
                    );
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        super::Opened::Overlay(overlay) => {
            let meta = Value::Object(overlay.info().to_metadata());
            let info = json!({
                "file": path.display().to_string(),
                "kind": "overlay",
                "overlay": meta["overlay"],
                "sections": sections_json(overlay.sections()),
            });
            if as_json {
                outln!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                outln!("file          {} (overlay file)", path.display());
                outln!("overlay       {}", serde_json::to_string(&meta["overlay"])?);
            }
            return Ok(ExitCode::SUCCESS);
        }
    };
    let (major, minor) = ds.version();
    let targets = ds
        .loss_mask()
        .map_or(ds.num_tokens(), |m| m.count_ones(0, m.len()));
    let meta = Value::Object(ds.metadata_json());
    let counts =
        tokpack::source_counts(&ds).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = std::io::stdout().lock();
    if as_json {
        let info = json!({
            "file": path.display().to_string(),
            "file_length": ds.as_bytes().len(),
            "version": [major, minor],
            "dataset_id": hex(&ds.dataset_id()),
            "num_documents": ds.num_documents(),
            "num_tokens": ds.num_tokens(),
            "dtype": ds.dtype().name(),
            "vocab_size": ds.vocab_size(),
            "has_loss_mask": ds.has_loss_mask(),
            "loss_mask_targets": targets,
            "sources": sources_json(&counts),
            "compression": compression_json(&ds),
            "sections": sections_json(ds.sections()),
            "metadata": meta,
        });
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let n = ds.num_tokens();
    writeln!(
        out,
        "file          {} ({} bytes)",
        path.display(),
        ds.as_bytes().len()
    )?;
    writeln!(out, "format        {major}.{minor}")?;
    writeln!(out, "dataset id    {}", hex(&ds.dataset_id()))?;
    writeln!(out, "documents     {}", ds.num_documents())?;
    writeln!(out, "tokens        {n}")?;
    writeln!(out, "dtype         {}", ds.dtype().name())?;
    writeln!(out, "vocab size    {}", ds.vocab_size())?;
    let share = if n == 0 {
        100.0
    } else {
        100.0 * targets as f64 / n as f64
    };
    let mask = if ds.has_loss_mask() {
        "stored"
    } else {
        "absent (all targets)"
    };
    writeln!(
        out,
        "loss mask     {mask}: {targets} target tokens ({share:.1}%)"
    )?;
    if let Some(l) = ds.block_layout() {
        let stored = tokens_stored(&ds);
        let raw = ds.num_tokens() * ds.dtype().width();
        writeln!(
            out,
            "compression   zstd blocks of {} tokens ({} blocks): tokens in {stored} bytes, {:.1}% of {raw} raw",
            l.block_tokens,
            l.n_blocks,
            100.0 * stored as f64 / raw.max(1) as f64
        )?;
    }
    if let Some(c) = &counts {
        drop(out);
        print_sources(c)?;
        out = std::io::stdout().lock();
    }
    writeln!(out, "sections")?;
    writeln!(
        out,
        "  {:<12} {:<6} {:>5} {:>12} {:>14} {:>14}  crc32",
        "kind", "dtype", "codec", "offset", "length", "count"
    )?;
    for e in ds.sections() {
        let dtype = DType::from_code(e.dtype)
            .map_or_else(|| format!("code {}", e.dtype), |d| d.name().to_owned());
        writeln!(
            out,
            "  {:<12} {:<6} {:>5} {:>12} {:>14} {:>14}  {:08x}",
            kind_name(e.kind.get()),
            dtype,
            e.codec,
            e.offset.get(),
            e.length.get(),
            e.count.get(),
            e.crc32.get()
        )?;
    }
    writeln!(out, "metadata      {}", serde_json::to_string(&meta)?)?;
    Ok(ExitCode::SUCCESS)
}
