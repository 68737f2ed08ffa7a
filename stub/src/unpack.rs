//! Step 5: extract the project tree, `static.in/N/` and the support files into staging,
//! verifying every entry against the manifest as it streams.

use crate::error::{Context, Result};
use crate::stage::{open_new, Stage};
use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use wheelsfx_payload::layout::{classify, EntryKind, Pyc, PycOwner};
use wheelsfx_payload::manifest::{Entry, Wheel};
use wheelsfx_payload::reader::Payload;

/// Where support files wait for `wire` to move them into site-packages.
pub const SUPPORT_DIR: &str = ".wheelsfx/support";
/// Where wheels wait for pip (the pip installer only; the native one reads them in place).
pub const WHEEL_DIR: &str = ".wheelsfx/wheels";

/// Extracts every entry that is not a wheel or the manifest, and the app tree's build-time
/// pycs of cache tag `pycs` (read-only, beside their sources under `DEST/<app>/`).
pub fn tree(payload: &mut Payload, stage: &Stage, pycs: Option<&str>) -> Result<()> {
    let entries: Vec<Entry> = payload.manifest.entries.clone();
    let app = payload.manifest.app.name.clone();
    for entry in &entries {
        let kind = classify(&entry.path, &app).expect("checked when the payload was opened");
        let rel = match kind {
            EntryKind::App | EntryKind::Static => PathBuf::from(&entry.path),
            EntryKind::SitePackages => Path::new(SUPPORT_DIR).join(&entry.path),
            EntryKind::Bytecode => match Pyc::parse(&entry.path) {
                Ok(Pyc {
                    cache_tag,
                    owner: PycOwner::App,
                    rel,
                }) if Some(cache_tag) == pycs => {
                    let entry = Entry {
                        mode: 0o444,
                        ..entry.clone()
                    };
                    write_entry(payload, &entry, &stage.path(Path::new(&app).join(rel)))?;
                    continue;
                }
                _ => continue,
            },
            EntryKind::Wheel | EntryKind::BootstrapWheel | EntryKind::Manifest => continue,
        };
        write_entry(payload, entry, &stage.path(rel))?;
    }
    Ok(())
}

/// Extracts the chosen wheels (for pip) and returns their paths.
pub fn wheels(payload: &mut Payload, stage: &Stage, wheels: &[Wheel]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(wheels.len());
    for w in wheels {
        let entry = payload
            .manifest
            .entry(&w.file)
            .cloned()
            .expect("manifest consistency was checked");
        let name = Path::new(&w.file).file_name().expect("wheel entries have a file name");
        let path = stage.path(WHEEL_DIR).join(name);
        write_entry(payload, &entry, &path)?;
        out.push(path);
    }
    Ok(out)
}

/// Writes one entry to `path` (which must not exist yet), with its mode minus any
/// setuid/setgid/sticky bits, the umask applying as usual.
pub fn write_entry(payload: &mut Payload, entry: &Entry, path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).ctx(|| format!("cannot create {}", parent.display()))?;
    }
    let file = open_new(path, entry.mode & 0o777).ctx(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(256 << 10, file);
    payload.copy_verified(entry, &mut out)?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .ctx(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
