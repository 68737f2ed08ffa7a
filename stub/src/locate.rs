//! Step 1: find the artifact file this process was started from.
//!
//! `/proc/self/exe` is exact, but a chroot often has no /proc; then `argv[0]` is resolved the
//! way the shell found it (a path as given, or the first match on PATH).

use crate::error::{Code, Fail, Result};
use std::path::{Path, PathBuf};

pub fn artifact_path() -> Result<PathBuf> {
    if let Ok(p) = std::fs::read_link("/proc/self/exe") {
        if p.is_file() {
            return Ok(p);
        }
    }
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let argv0 = Path::new(&argv0);
    let found = if argv0.components().count() > 1 {
        Some(argv0.to_path_buf()).filter(|p| p.is_file())
    } else {
        find_on_path(argv0.as_os_str())
    };
    found.ok_or_else(|| {
        Fail::new(
            Code::CorruptArtifact,
            format!(
                "cannot find the artifact's own file: /proc is not mounted and {} is not a path or on PATH; run it by its path (./artifact)",
                argv0.display()
            ),
        )
    })
}

/// The first executable regular file named `name` in PATH.
pub fn find_on_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}
