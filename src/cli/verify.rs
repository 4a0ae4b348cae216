use std::path::Path;
use std::process::ExitCode;

use super::Opened;

pub fn run(path: &Path, dataset: Option<&Path>) -> anyhow::Result<ExitCode> {
    let fail = |e: tokpack::Error| anyhow::anyhow!("{}: {e}", path.display());
    match super::open_any(path)? {
        Opened::Dataset(ds) => {
            if dataset.is_some() {
                anyhow::bail!(
                    "{}: --dataset is for plan files; this is a dataset",
                    path.display()
                );
            }
            let report = ds.verify().map_err(fail)?;
            outln!(
                "ok: {}: {} sections, {} bytes, {} documents, {} tokens verified",
                path.display(),
                report.sections,
                report.bytes,
                ds.num_documents(),
                ds.num_tokens()
            );
        }
        Opened::Manifest(m) => {
            let mut bad = 0;
            for (k, r) in m.verify_each().into_iter().enumerate() {
                match r {
                    Ok(_) => {}
                    Err(e) => {
                        bad += 1;
                        eprintln!("error: {}: {e}", path.display());
                        let _ = k;
                    }
                }
            }
            if bad > 0 {
                anyhow::bail!(
                    "{}: {bad} of {} shards failed verification; the others are fine",
                    path.display(),
                    m.num_shards()
                );
            }
            use tokpack::Corpus;
            outln!(
                "ok: {}: manifest of {} shards, {} documents, {} tokens verified",
                path.display(),
                m.num_shards(),
                m.num_documents(),
                m.num_tokens()
            );
        }
        Opened::Overlay(overlay) => {
            let report = overlay.verify().map_err(fail)?;
            let i = overlay.info();
            outln!(
                "ok: {}: overlay, {} insertions of {} tokens for rows of {}, {} sections, {} bytes verified",
                path.display(),
                i.insertions,
                i.tokens,
                i.view.seq_len,
                report.sections,
                report.bytes
            );
        }
        Opened::Plan(plan) => {
            let report = match dataset {
                Some(d) => plan.verify_against(&super::open_corpus(d)?).map_err(fail)?,
                None => plan.verify().map_err(fail)?,
            };
            let i = plan.info();
            outln!(
                "ok: {}: plan ({}, L = {}), {} rows, {} sections, {} bytes verified{}",
                path.display(),
                i.strategy.name(),
                i.seq_len,
                i.rows,
                report.sections,
                report.bytes,
                if dataset.is_some() {
                    " against its dataset"
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
