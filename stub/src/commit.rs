//! Step 10: write the receipt and make the staging directory DEST, by one rename (or, with
//! --force over an existing DEST, one atomic exchange).

use crate::error::{Context, Result};
use crate::stage::{sibling, Stage};
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
    fs::write(stage.path(MANIFEST), manifest_json).ctx(|| "cannot write the manifest copy".into())?;
    let receipt_json = serde_json::to_vec_pretty(receipt).expect("a receipt serialises");
    fs::write(meta.join("receipt.json"), receipt_json).ctx(|| "cannot write the install receipt".into())?;
    if fs::symlink_metadata(&stage.dest).is_ok() {
        // --force: swap atomically, then delete the old release from where the stage was.
        exchange(&stage.dir, &stage.dest)
            .ctx(|| format!("cannot swap the new release into {}", stage.dest.display()))?;
        stage.committed = true;
        let old = sibling(&stage.dest, "old");
        fs::rename(&stage.dir, &old).ctx(|| "cannot move the replaced release aside".into())?;
        fs::remove_dir_all(&old).ctx(|| format!("cannot remove the replaced release at {}", old.display()))?;
    } else {
        fs::rename(&stage.dir, &stage.dest)
            .ctx(|| format!("cannot rename the staging directory to {}", stage.dest.display()))?;
        stage.committed = true;
    }
    Ok(())
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
