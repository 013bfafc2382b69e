//! Development tools for this workspace: a Lambda runtime API emulator that runs the real
//! function binaries on loopback, and what is built on it (benchmarks, event checks).

pub mod cors;
pub mod events;
pub mod fuzz;
pub mod gateway;
pub mod runtime_api;

pub use runtime_api::{Function, HarnessError, Invocation, RuntimeApi};

/// Median of `values` (sorted in place); zero for none.
pub fn median<T: Ord + Copy + Default>(values: &mut [T]) -> T {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The `KEY=VALUE` lines of a dotenv file `make dev` reads (`DEV_ENV_FILE`, else `.env`
/// at the workspace root): `#` comments, blank lines and empty values skipped, quotes
/// around values removed. None when there is no such file.
pub fn dotenv() -> Vec<(String, String)> {
    let path = std::env::var("DEV_ENV_FILE").map_or_else(|_| workspace().join(".env"), Into::into);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches('"').trim_matches('\'').to_owned(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// The workspace root (this crate lives in `tools/devtools`).
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The routes of `template.yaml`, read by `tools/template.py` with the project's venv.
pub fn template_routes() -> Result<gateway::Routes, String> {
    let root = workspace();
    let output = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tools/template.py"))
        .arg("routes")
        .output()
        .map_err(|e| {
            format!("cannot run tools/template.py (is the venv set up? infra/venv.sh): {e}")
        })?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("tools/template.py routes: {e}"))
}
