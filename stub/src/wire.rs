//! Step 8: wire the app and its environment into the venv: `<app>.pth`, loadenv, and (after
//! pip) shebangs that point at DEST instead of the staging directory.

use crate::error::{Context, Result};
use crate::stage::{normalize_lexically, write_new, Stage};
use crate::unpack::SUPPORT_DIR;
use crate::venv::VenvLayout;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use wheelsfx_payload::record;

pub fn wire(stage: &Stage, layout: &VenvLayout, app: &str) -> Result<()> {
    let site = stage.path(&layout.site_packages);
    write_app_pth(&site, app)?;
    let support = stage.path(SUPPORT_DIR);
    if let Ok(dir) = fs::read_dir(&support) {
        for entry in dir.flatten() {
            let to = site.join(entry.file_name());
            fs::rename(entry.path(), &to).ctx(|| format!("cannot move {} into site-packages", to.display()))?;
        }
    }
    Ok(())
}

/// `DEST/<app>` first on sys.path (ahead of site-packages and the stdlib; only the script's
/// own directory, added later by Python, comes before it), as `manage.py` gives it: under a
/// console script (gunicorn) an installed distribution named like the app must not shadow it.
/// Computed from sys.prefix at every start, so a release reached through a `current` symlink,
/// or moved, still finds its own tree. Added once: site runs a venv's `.pth` lines twice.
/// The name is a Python string literal written by serde_json: its escaping is valid Python
/// for ASCII (which app names are), unlike Rust's `{:?}` (`\u{..}`).
fn write_app_pth(site: &Path, app: &str) -> Result<()> {
    let literal = serde_json::to_string(app).expect("a string serialises");
    let text = format!(
        "import os, sys; p = os.path.join(os.path.dirname(sys.prefix), {literal}); p in sys.path or sys.path.insert(0, p)\n"
    );
    write_new(&site.join(format!("{app}.pth")), text.as_bytes(), 0o644)
}

/// How far into a launcher pip writes the interpreter's path: `#!PATH` on the first line,
/// or, when PATH is long or has a space, `#!/bin/sh` and an `exec 'PATH'` line after it.
const LAUNCHER_HEAD_LINES: usize = 3;

/// Rewrites the staging path pip wrote into venv/bin launchers (`#!STAGE/venv/bin/python`,
/// or the `/bin/sh` form's exec line) to DEST's, and fixes those files' hashes and sizes in
/// every RECORD. Only the head is touched: a script's own body is left as it is.
pub fn relocate_scripts(stage: &Stage, layout: &VenvLayout) -> Result<()> {
    let bin = stage.path(&layout.bin);
    let from = stage.path("venv/bin/").into_os_string().into_vec();
    let to = stage.final_path("venv/bin/").into_os_string().into_vec();
    let mut changed: Vec<PathBuf> = Vec::new();
    for entry in fs::read_dir(&bin)
        .ctx(|| format!("cannot read {}", bin.display()))?
        .flatten()
    {
        let path = entry.path();
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let Ok(data) = fs::read(&path) else { continue };
        if let Some(fixed) = relocate_head(&data, &from, &to) {
            fs::write(&path, fixed).ctx(|| format!("cannot rewrite {}", path.display()))?;
            changed.push(path);
        }
    }
    if !changed.is_empty() {
        fix_records(&stage.path(&layout.site_packages), &changed)?;
    }
    Ok(())
}

/// `data` with `from` replaced by `to` in its first lines, if it is a script naming `from`.
fn relocate_head(data: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    if !data.starts_with(b"#!") {
        return None;
    }
    let head_len = data
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(LAUNCHER_HEAD_LINES - 1)
        .map_or(data.len(), |(i, _)| i + 1);
    let (head, body) = data.split_at(head_len);
    let mut out = Vec::with_capacity(data.len());
    let mut rest = head;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    if rest.len() == head.len() {
        return None;
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(body);
    Some(out)
}

fn fix_records(site: &Path, changed: &[PathBuf]) -> Result<()> {
    for entry in fs::read_dir(site).ctx(|| "cannot read site-packages".into())?.flatten() {
        let record = entry.path().join("RECORD");
        if !entry.file_name().to_string_lossy().ends_with(".dist-info") || !record.is_file() {
            continue;
        }
        let text = fs::read_to_string(&record).ctx(|| format!("cannot read {}", record.display()))?;
        let mut out = String::with_capacity(text.len());
        let mut dirty = false;
        for line in text.lines() {
            let path = record::split_csv(line).swap_remove(0);
            let target = normalize_lexically(&site.join(&path));
            match changed.iter().find(|c| **c == target) {
                Some(c) => {
                    let data = fs::read(c).ctx(|| format!("cannot read {}", c.display()))?;
                    out.push_str(&record::line(&path, &data));
                    dirty = true;
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        if dirty {
            fs::write(&record, out).ctx(|| format!("cannot write {}", record.display()))?;
        }
    }
    Ok(())
}
