//! Step 4: make the staging directory, a hidden sibling of DEST (with DEST's lock held).
//!
//! Everything is built in the staging directory with DEST's final paths written into it, and
//! only `commit` makes it visible, by one rename. A run killed at any moment leaves at most a
//! `.NAME.wheelsfx-stage` directory, which the next run (holding the lock) removes.

use crate::error::{Context, Fail, Result};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct Stage {
    /// Absolute DEST, as the operator named it (not canonicalised: a path through a symlink
    /// stays that path in shebangs and pyvenv.cfg).
    pub dest: PathBuf,
    /// The staging directory, renamed to `dest` by `commit`.
    pub dir: PathBuf,
    /// (device, inode) of the staging directory as created, checked again at commit.
    id: (u64, u64),
    pub committed: bool,
}

/// Creates DEST's parent (and any missing directory above it). A parent any user may write
/// to (without the sticky bit) lets them swap the staging directory or the lock for a symlink
/// between our checks and our writes; refused, as sshd's StrictModes refuses such a home
/// directory.
pub fn make_parent(dest: &Path) -> Result<()> {
    let parent = dest.parent().expect("an absolute path keeps a parent");
    fs::create_dir_all(parent).ctx(|| format!("cannot create the parent directory {}", parent.display()))?;
    let meta = fs::metadata(parent).ctx(|| format!("cannot read {}", parent.display()))?;
    let mode = meta.mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(Fail::install(format!(
            "{} is writable by every user (mode {:o}), so another user could redirect the install; run chmod o-w (or chmod +t) on it, or deploy elsewhere",
            parent.display(),
            mode & 0o7777
        )));
    }
    Ok(())
}

/// Removes whatever is at `path` (a directory, a file, a symlink: never followed), if anything.
pub fn remove_any(path: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// (device, inode) of `dir` if it is a real directory (not a symlink) owned by us.
fn owned_dir(dir: &Path) -> Result<(u64, u64)> {
    let meta = fs::symlink_metadata(dir).ctx(|| format!("cannot read the staging directory {}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(swapped(dir));
    }
    Ok((meta.dev(), meta.ino()))
}

fn swapped(dir: &Path) -> Fail {
    Fail::install(format!(
        "the staging directory {} was replaced by something else while installing; nothing was installed, check who else writes to its parent",
        dir.display()
    ))
}

/// Opens a new file in staging for writing: created exclusively and never through a symlink
/// (O_EXCL with O_NOFOLLOW), with `mode` less the umask. Every file the stub writes goes
/// through here.
pub fn open_new(path: &Path, mode: u32) -> std::io::Result<File> {
    File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Writes a new file in staging ([`open_new`]).
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let mut f = open_new(path, mode).ctx(|| format!("cannot create {}", path.display()))?;
    f.write_all(data).ctx(|| format!("cannot write {}", path.display()))
}

/// Where a hidden sibling of DEST named `.NAME.wheelsfx-SUFFIX` lives.
pub fn sibling(dest: &Path, suffix: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.wheelsfx-{suffix}"))
}

/// `path` (given as `option PATH`) made absolute and normalised lexically (`.`/`..` removed,
/// symlinks not resolved), with a real file name.
pub fn absolute(path: &Path, option: &str) -> Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .ctx(|| "cannot read the current directory".into())?
            .join(path)
    };
    let out = normalize_lexically(&joined);
    if out.parent().is_none() {
        return Err(Fail::usage(format!(
            "{option} {} names the root directory; name a path below it",
            path.display()
        )));
    }
    Ok(out)
}

/// `a/b/../c` -> `a/c` without touching the filesystem (no symlinks resolved).
pub fn normalize_lexically(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

impl Stage {
    /// Makes the staging directory for the absolute `dest`, whose parent exists
    /// ([`make_parent`]) and whose lock the caller holds.
    pub fn prepare(dest: &Path) -> Result<Stage> {
        let dir = sibling(dest, "stage");
        // What an interrupted run left: it must never make later runs fail.
        remove_any(&dir).ctx(|| format!("cannot remove {} left by an interrupted run", dir.display()))?;
        fs::create_dir(&dir).ctx(|| format!("cannot create the staging directory {}", dir.display()))?;
        let id = owned_dir(&dir)?;
        Ok(Stage {
            dest: dest.to_path_buf(),
            dir,
            id,
            committed: false,
        })
    }

    /// At commit: the staging directory must still be the one `prepare` made, not something
    /// swapped in under its name.
    pub fn check_unchanged(&self) -> Result<()> {
        if owned_dir(&self.dir)? == self.id {
            Ok(())
        } else {
            Err(swapped(&self.dir))
        }
    }

    /// A path inside the staging directory.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dir.join(rel)
    }

    /// The same path as it will be after commit.
    pub fn final_path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.dest.join(rel)
    }
}

impl Drop for Stage {
    /// A failed run removes its staging directory; DEST was never touched.
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh, empty directory for a unit test, unique to the test process.
#[cfg(test)]
pub fn scratch_dir(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("wheelsfx-{name}-test-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).expect("a scratch directory");
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staging_directory_swapped_for_a_symlink_is_refused_at_commit() {
        let root = scratch_dir("stage");
        fs::create_dir_all(root.join("elsewhere")).unwrap();
        let dest = root.join("srv/rel");
        make_parent(&dest).unwrap();
        let stage = Stage::prepare(&dest).unwrap();
        assert!(stage.check_unchanged().is_ok());
        fs::rename(&stage.dir, root.join("moved")).unwrap();
        std::os::unix::fs::symlink(root.join("elsewhere"), &stage.dir).unwrap();
        let fail = stage.check_unchanged().unwrap_err();
        assert!(fail.msg.contains("was replaced"), "{}", fail.msg);
        fs::remove_file(&stage.dir).unwrap();
        fs::create_dir(&stage.dir).unwrap();
        assert!(stage.check_unchanged().is_err(), "a new directory under the same name");
        drop(stage);
        fs::remove_dir_all(&root).unwrap();
    }
}
