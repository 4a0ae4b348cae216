use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

/// Decodes `ids` of a dataset with metadata `meta` to text: through the remap in its metadata if it has one (its
/// unk id reads as `<unk>`), with the tokenizer named on the command line or in the metadata.
pub fn decode(
    meta: &tokpack::Metadata,
    explicit: Option<&str>,
    ids: &[u32],
) -> anyhow::Result<String> {
    let Some(remap) = meta.extra.get("remap") else {
        return Ok(decoder(meta, explicit)?.decode(ids)?);
    };
    let name = explicit
        .or(remap["original_tokenizer"].as_str())
        .ok_or_else(|| anyhow::anyhow!("pass --tokenizer to decode"))?;
    let tokenizer = tokpack::text::Tokenizer::load(name)?;
    let old: Vec<u32> = remap["old_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64())
                .map(|v| v as u32)
                .collect()
        })
        .unwrap_or_default();
    let mut text = String::new();
    let mut run = Vec::new();
    for &id in ids {
        match old.get(id as usize) {
            Some(&o) => run.push(o),
            None => {
                text.push_str(&tokenizer.decode(&run)?);
                run.clear();
                text.push_str("<unk>");
            }
        }
    }
    text.push_str(&tokenizer.decode(&run)?);
    Ok(text)
}

/// The tokenizer to decode a dataset with: the one named on the command line, else the one
/// its metadata names.
pub fn decoder(
    meta: &tokpack::Metadata,
    explicit: Option<&str>,
) -> anyhow::Result<tokpack::text::Tokenizer> {
    let name = explicit.or(meta.tokenizer.as_deref()).ok_or_else(|| {
        anyhow::anyhow!("the metadata names no tokenizer; pass --tokenizer NAME_OR_PATH to decode")
    })?;
    tokpack::text::Tokenizer::load(name)
        .map_err(|e| anyhow::anyhow!("decoding: {e}; pass --tokenizer NAME_OR_PATH"))
}

pub fn run(
    path: &Path,
    doc: u64,
    as_json: bool,
    decode: bool,
    tokenizer: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let named = |e: tokpack::Error| anyhow::anyhow!("{}: {e}", path.display());
    let corpus = super::open_corpus(path)?;
    let mut scratch = Vec::new();
    let (tokens, mask, meta) = match &corpus {
        tokpack::AnyCorpus::Dataset(ds) => (
            ds.document_in(doc, &mut scratch)
                .map_err(named)?
                .to_vec_u32(),
            ds.document_loss_mask(doc).map_err(named)?,
            ds.metadata(),
        ),
        tokpack::AnyCorpus::Manifest(m) => (
            m.document_in(doc, &mut scratch)
                .map_err(named)?
                .to_vec_u32(),
            m.document_loss_mask(doc).map_err(named)?,
            m.metadata(),
        ),
    };
    let text = if decode {
        Some(self::decode(meta, tokenizer, &tokens)?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    if as_json {
        let mut v = json!({ "input_ids": tokens, "loss_mask": mask });
        if let Some(t) = &text {
            v["text"] = json!(t);
        }
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else if let Some(t) = &text {
        writeln!(out, "{t}")?;
    } else {
        let ids: Vec<String> = tokens.iter().map(u32::to_string).collect();
        writeln!(out, "document {doc}: {} tokens", tokens.len())?;
        writeln!(out, "input_ids: {}", ids.join(" "))?;
        let bits: String = mask
            .iter()
            .map(|&b| if b == 1 { '1' } else { '0' })
            .collect();
        writeln!(out, "loss_mask: {bits}")?;
    }
    Ok(ExitCode::SUCCESS)
}
