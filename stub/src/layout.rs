//! Names of the payload's entries and of the installed layout.

/// The manifest: always the first entry of the payload.
pub const MANIFEST: &str = ".wheelsfx/manifest.json";
/// Application wheels, stored as-is.
pub const WHEELS_DIR: &str = "wheels/";
/// pip and setuptools, installed into the venv so `venv/bin/pip` works.
pub const BOOTSTRAP_DIR: &str = "bootstrap_wheels/";
/// Each `--extra-static` folder becomes `static.in/N/`, N its position on the command line.
pub const STATIC_DIR: &str = "static.in/";
/// Support files copied into site-packages: loadenv reads `DEST/environment.json`.
pub const LOADENV_PY: &str = "loadenv.py";
pub const LOADENV_PTH: &str = "loadenv-init.pth";
/// Every artifact ends with a zip comment of this prefix and 64 hex digits: the
/// [`crate::digest::artifact_digest`] of every byte of the artifact before those digits
/// (stub, entries, zip directories, the prefix). It covers what per-entry hashes cannot: headers, timestamps, the directory.
pub const DIGEST_PREFIX: &str = "wheelsfx-sha256:";
pub const DIGEST_COMMENT_LEN: usize = DIGEST_PREFIX.len() + 64;

/// Version of the payload format; a stub refuses a manifest with a newer one.
pub const FORMAT_VERSION: u32 = 1;

/// Where an entry belongs, decided by its name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Manifest,
    Wheel,
    BootstrapWheel,
    Static,
    /// loadenv.py / loadenv-init.pth: go to site-packages.
    SitePackages,
    /// Everything else: the application tree, extracted to DEST as named.
    App,
}

pub fn entry_kind(name: &str) -> EntryKind {
    if name == MANIFEST {
        EntryKind::Manifest
    } else if name.starts_with(WHEELS_DIR) {
        EntryKind::Wheel
    } else if name.starts_with(BOOTSTRAP_DIR) {
        EntryKind::BootstrapWheel
    } else if name.starts_with(STATIC_DIR) {
        EntryKind::Static
    } else if name == LOADENV_PY || name == LOADENV_PTH {
        EntryKind::SitePackages
    } else {
        EntryKind::App
    }
}

/// Checks that an entry name is a plain relative path that stays inside its target:
/// no absolute path, no `..`, no empty or `.` component, no backslash, no NUL.
pub fn check_entry_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('/') {
        return Err("is an absolute or empty path".into());
    }
    if name.contains('\\') || name.contains('\0') {
        return Err("contains a backslash or NUL byte".into());
    }
    for part in name.trim_end_matches('/').split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("contains an empty, '.' or '..' path component".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_escape_are_refused() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", ""] {
            assert!(check_entry_name(bad).is_err(), "{bad}");
        }
        for good in ["a", "wheels/x.whl", "app/pkg/__init__.py", "static.in/0/"] {
            assert!(check_entry_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn kinds_follow_names() {
        assert_eq!(entry_kind(MANIFEST), EntryKind::Manifest);
        assert_eq!(entry_kind("wheels/a-1-py3-none-any.whl"), EntryKind::Wheel);
        assert_eq!(entry_kind("bootstrap_wheels/pip.whl"), EntryKind::BootstrapWheel);
        assert_eq!(entry_kind("static.in/0/f.css"), EntryKind::Static);
        assert_eq!(entry_kind("loadenv.py"), EntryKind::SitePackages);
        assert_eq!(entry_kind("hello/hello/__init__.py"), EntryKind::App);
    }
}
