//! Step 8: wire the app and its environment into the venv: `<app>.pth`, loadenv, and (after
//! pip) shebangs that point at DEST instead of the staging directory.

use crate::error::{Context, Result};
use crate::stage::{normalize_lexically, Stage};
use crate::unpack::SUPPORT_DIR;
use crate::venv::VenvLayout;
use std::fs;
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

/// `DEST/<app>` on sys.path, computed from sys.prefix at every start, so a release reached
/// through a `current` symlink, or moved, still finds its own tree.
fn write_app_pth(site: &Path, app: &str) -> Result<()> {
    let text = format!("import os, sys; sys.path.append(os.path.join(os.path.dirname(sys.prefix), {app:?}))\n");
    let path = site.join(format!("{app}.pth"));
    fs::write(&path, text).ctx(|| format!("cannot write {}", path.display()))
}

/// Rewrites `#!STAGE/venv/bin/python` to `#!DEST/venv/bin/python` in venv/bin (pip wrote the
/// staging path), and fixes those files' hashes and sizes in every RECORD.
pub fn relocate_scripts(stage: &Stage, layout: &VenvLayout) -> Result<()> {
    let bin = stage.path(&layout.bin);
    let from = format!("#!{}", stage.path("venv/bin/python").display());
    let to = format!("#!{}", stage.final_path("venv/bin/python").display());
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
        if data.starts_with(from.as_bytes()) {
            let mut fixed = to.clone().into_bytes();
            fixed.extend_from_slice(&data[from.len()..]);
            fs::write(&path, fixed).ctx(|| format!("cannot rewrite {}", path.display()))?;
            changed.push(path);
        }
    }
    if !changed.is_empty() {
        fix_records(&stage.path(&layout.site_packages), &changed)?;
    }
    Ok(())
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
