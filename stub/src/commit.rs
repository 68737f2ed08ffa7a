//! Step 10: write the receipt and make the staging directory DEST, by one rename (or, with
//! --force over an existing DEST, one atomic exchange).

use crate::error::{Context, Result};
use crate::stage::{sibling, write_new, Stage};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use wheelsfx_payload::layout::MANIFEST;
use wheelsfx_payload::manifest::Manifest;

pub fn commit(stage: &mut Stage, manifest: &Manifest, receipt: &serde_json::Value) -> Result<()> {
    let meta = stage.path(".wheelsfx");
    for scratch in ["wheels", "support"] {
        let _ = fs::remove_dir_all(meta.join(scratch));
    }
    fs::create_dir_all(&meta).ctx(|| format!("cannot create {}", meta.display()))?;
    let manifest_json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    write_new(&stage.path(MANIFEST), &manifest_json, 0o644)?;
    let receipt_json = serde_json::to_vec_pretty(receipt).expect("a receipt serialises");
    write_new(&meta.join("receipt.json"), &receipt_json, 0o644)?;
    stage.check_unchanged()?;
    if fs::symlink_metadata(&stage.dest).is_ok() {
        // --force: swap atomically, then delete the old release from where the stage was.
        exchange(&stage.dir, &stage.dest)
            .ctx(|| format!("cannot swap the new release into {}", stage.dest.display()))?;
        stage.committed = true;
        discard_replaced(&stage.dir, &sibling(&stage.dest, "old"));
    } else {
        fs::rename(&stage.dir, &stage.dest)
            .ctx(|| format!("cannot rename the staging directory to {}", stage.dest.display()))?;
        stage.committed = true;
    }
    Ok(())
}

/// The new release is in place: removing the old one is best effort, since failing now
/// would misreport a complete install. Whatever is left, the next run removes.
fn discard_replaced(old_at: &Path, old: &Path) {
    if fs::rename(old_at, old).is_ok() {
        let _ = fs::remove_dir_all(old);
    }
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
