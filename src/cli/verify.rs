use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let ds = super::open(path)?;
    match ds.verify() {
        Ok(report) => {
            println!(
                "ok: {}: {} sections, {} bytes, {} documents, {} tokens verified",
                path.display(),
                report.sections,
                report.bytes,
                ds.num_documents(),
                ds.num_tokens()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    }
}
