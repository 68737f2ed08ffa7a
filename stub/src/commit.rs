//! Step 10: write what the release keeps of its artifact (the receipt, the manifest, the stub
//! itself) and make the staging directory DEST, by one rename (or, with --force over an
//! existing DEST, one atomic exchange; the old tree is then deleted in the background).

use crate::background;
use crate::error::{Context, Result};
use crate::release::RECEIPT;
use crate::stage::{open_new, write_new, Stage};
use std::ffi::CString;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use wheelsfx_payload::layout::MANIFEST;
use wheelsfx_payload::reader::Payload;

/// The stub without its payload, kept in every release: rollback and pruning run it after
/// the artifact is deleted.
pub const STUB: &str = ".wheelsfx/wheelsfx";

pub fn commit(stage: &mut Stage, payload: &Payload, receipt: &serde_json::Value) -> Result<()> {
    let meta = stage.path(".wheelsfx");
    for scratch in ["wheels", "support"] {
        let _ = fs::remove_dir_all(meta.join(scratch));
    }
    fs::create_dir_all(&meta).ctx(|| format!("cannot create {}", meta.display()))?;
    let manifest_json = serde_json::to_vec_pretty(&payload.manifest).expect("a manifest serialises");
    write_new(&stage.path(MANIFEST), &manifest_json, 0o644)?;
    copy_stub(payload, &stage.path(STUB))?;
    let receipt_json = serde_json::to_vec_pretty(receipt).expect("a receipt serialises");
    write_new(&stage.path(RECEIPT), &receipt_json, 0o644)?;
    if fs::symlink_metadata(&stage.dest).is_ok() {
        carry_environment(&stage.dest, &stage.path("environment.json"))?;
    }
    stage.check_unchanged()?;
    if fs::symlink_metadata(&stage.dest).is_ok() {
        // --force: swap atomically; the old release is then where the stage was.
        exchange(&stage.dir, &stage.dest)
            .ctx(|| format!("cannot swap the new release into {}", stage.dest.display()))?;
        stage.committed = true;
        // Best effort: the new release is in place, and failing now would misreport it.
        // Left at the staging name, the old tree is removed by the next run.
        if let Ok(old) = background::retire(&stage.dir) {
            background::delete(&[old]);
        }
    } else {
        fs::rename(&stage.dir, &stage.dest)
            .ctx(|| format!("cannot rename the staging directory to {}", stage.dest.display()))?;
        stage.committed = true;
    }
    Ok(())
}

/// Writes the artifact's head, the stub, to `to`, executable.
fn copy_stub(payload: &Payload, to: &Path) -> Result<()> {
    let from = &payload.path;
    let mut stub = File::open(from)
        .ctx(|| format!("cannot reopen {}", from.display()))?
        .take(payload.stub_len());
    let mut out = open_new(to, 0o755).ctx(|| format!("cannot create {}", to.display()))?;
    std::io::copy(&mut stub, &mut out).ctx(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

/// --force over a release: its environment.json (the operator's, not the artifact's) comes
/// along, as the same symlink or a copy with the same mode and group, unless the new release
/// already has one (--env-file, a shared link).
fn carry_environment(old_release: &Path, to: &Path) -> Result<()> {
    let from = old_release.join("environment.json");
    let Ok(meta) = fs::symlink_metadata(&from) else {
        return Ok(());
    };
    if fs::symlink_metadata(to).is_ok() {
        return Ok(());
    }
    let what = || format!("cannot carry {} over to the new release", from.display());
    if meta.file_type().is_symlink() {
        let target = fs::read_link(&from).ctx(what)?;
        return std::os::unix::fs::symlink(target, to).ctx(what);
    }
    let text = fs::read(&from).ctx(what)?;
    write_new(to, &text, meta.mode() & 0o777)?;
    // The group matters (0640 root:www-data for mod_wsgi); only root may give it away.
    let _ = std::os::unix::fs::chown(to, None, Some(meta.gid()));
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o777)).ctx(what)
}

/// renameat2(RENAME_EXCHANGE): both paths swap in one step, so DEST is always a whole
/// release. Called through the raw syscall: musl has no wrapper for it.
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths; the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
