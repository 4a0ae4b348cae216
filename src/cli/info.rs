use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value};
use tokpack::format::section_table::kind_name;
use tokpack::{DType, Dataset};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sections_json(ds: &Dataset) -> Vec<Value> {
    ds.sections()
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

pub fn run(path: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let ds = super::open(path)?;
    let (major, minor) = ds.version();
    let targets = ds
        .loss_mask()
        .map_or(ds.num_tokens(), |m| m.count_ones(0, m.len()));
    let meta = Value::Object(ds.metadata_json());
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
            "sections": sections_json(&ds),
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
