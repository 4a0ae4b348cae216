use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

pub fn run(path: &Path, doc: u64, as_json: bool) -> anyhow::Result<ExitCode> {
    let ds = super::open(path)?;
    let tokens = ds
        .document(doc)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        .to_vec_u32();
    let mask = ds
        .document_loss_mask(doc)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = std::io::stdout().lock();
    if as_json {
        serde_json::to_writer(&mut out, &json!({ "input_ids": tokens, "loss_mask": mask }))?;
        writeln!(out)?;
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
