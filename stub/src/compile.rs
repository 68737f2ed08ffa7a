//! Step 9: byte-compile what the native installer wrote, with the target interpreter, on
//! every core: a few long-lived worker processes (compile.py) fed file lists, not one process
//! per wheel. The pyc files are what pip's compileall would write (same invalidation mode).

use crate::error::{Context, Fail, Result};
use crate::install::native::Installed;
use crate::run;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use wheelsfx_payload::record::csv_field;

const WORKER: &str = include_str!("compile.py");

/// `stage`/`dest`: the staging directory and DEST, so code objects name final paths.
pub fn compile(
    python: &Path,
    site: &Path,
    stage: &Path,
    dest: &Path,
    cache_tag: &str,
    installed: &[Installed],
) -> Result<()> {
    let files: Vec<&PathBuf> = installed.iter().flat_map(|w| &w.py_files).collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().max(1));
    let mut children = Vec::with_capacity(workers);
    for _ in 0..workers {
        let child = run::python(python)
            .args(["-I", "-c", WORKER])
            .arg(stage)
            .arg(dest)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ctx(|| format!("cannot start {} to byte-compile", python.display()))?;
        children.push(child);
    }
    // Interleaved, so every worker gets a share of the big packages.
    for (n, child) in children.iter_mut().enumerate() {
        let mut list = Vec::new();
        for f in files.iter().skip(n).step_by(workers) {
            list.extend_from_slice(f.as_os_str().as_bytes());
            list.push(b'\n');
        }
        let mut stdin = child.stdin.take().expect("piped");
        std::thread::spawn(move || stdin.write_all(&list));
    }
    for child in children {
        let out = child.wait_with_output().ctx(|| "byte-compiling failed".into())?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Fail::install(format!(
                "byte-compiling with {} failed: {}",
                python.display(),
                err.trim()
            )));
        }
    }
    record_pycs(site, cache_tag, installed)
}

/// Adds each wheel's new .pyc files to its RECORD (without a hash, which the spec allows
/// for them), so `pip uninstall` removes them too.
fn record_pycs(site: &Path, cache_tag: &str, installed: &[Installed]) -> Result<()> {
    for w in installed {
        let mut lines = String::new();
        for py in &w.py_files {
            let (Some(dir), Some(stem)) = (py.parent(), py.file_stem()) else {
                continue;
            };
            let pyc = dir
                .join("__pycache__")
                .join(format!("{}.{cache_tag}.pyc", stem.to_string_lossy()));
            if let Ok(rel) = pyc.strip_prefix(site) {
                if pyc.is_file() {
                    lines.push_str(&format!("{},,\n", csv_field(&rel.to_string_lossy())));
                }
            }
        }
        let record = w.dist_info.join("RECORD");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&record)
            .ctx(|| format!("cannot open {}", record.display()))?;
        f.write_all(lines.as_bytes())
            .ctx(|| format!("cannot write {}", record.display()))?;
    }
    Ok(())
}
