//! Step 4: take the lock and make the staging directory, a hidden sibling of DEST.
//!
//! Everything is built in the staging directory with DEST's final paths written into it, and
//! only `commit` makes it visible, by one rename. A run killed at any moment leaves at most a
//! `.NAME.wheelsfx-stage` directory, which the next run (holding the lock) removes.

use crate::error::{Code, Context, Fail, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub struct Stage {
    /// Absolute DEST, as the operator named it (not canonicalised: a path through a symlink
    /// stays that path in shebangs and pyvenv.cfg).
    pub dest: PathBuf,
    /// The staging directory, renamed to `dest` by `commit`.
    pub dir: PathBuf,
    /// Held until the process exits: a concurrent run on the same DEST fails or waits.
    _lock: Flock<File>,
    pub committed: bool,
}

/// Where a hidden sibling of DEST named `.NAME.wheelsfx-SUFFIX` lives.
pub fn sibling(dest: &Path, suffix: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.wheelsfx-{suffix}"))
}

/// DEST made absolute and normalised lexically (`.`/`..` removed), with a real file name.
pub fn absolute_dest(dest: &Path) -> Result<PathBuf> {
    let joined = if dest.is_absolute() {
        dest.to_path_buf()
    } else {
        std::env::current_dir()
            .ctx(|| "cannot read the current directory".into())?
            .join(dest)
    };
    let out = normalize_lexically(&joined);
    if out.parent().is_none() {
        return Err(Fail::usage(format!(
            "-d {} names the root directory; name a release directory",
            dest.display()
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
    pub fn prepare(dest: &Path, force: bool, wait: bool) -> Result<Stage> {
        let dest = absolute_dest(dest)?;
        let parent = dest.parent().expect("absolute_dest keeps a parent");
        fs::create_dir_all(parent).ctx(|| format!("cannot create the parent directory {}", parent.display()))?;
        let lock_path = sibling(&dest, "lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx(|| {
                format!(
                    "cannot create the lock file {} (is the parent writable?)",
                    lock_path.display()
                )
            })?;
        let arg = if wait {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockExclusiveNonblock
        };
        let lock = Flock::lock(file, arg).map_err(|_| {
            Fail::new(
                Code::DestExists,
                format!(
                    "another wheelsfx run is installing into {} (it holds {}); wait for it to finish, or pass --wait",
                    dest.display(),
                    lock_path.display()
                ),
            )
        })?;
        if fs::symlink_metadata(&dest).is_ok() && !force {
            return Err(Fail::new(
                Code::DestExists,
                format!(
                    "{} already exists; choose a new release directory, or pass --force to replace it",
                    dest.display()
                ),
            ));
        }
        let dir = sibling(&dest, "stage");
        for stale in [&dir, &sibling(&dest, "old")] {
            if fs::symlink_metadata(stale).is_ok() {
                fs::remove_dir_all(stale)
                    .ctx(|| format!("cannot remove {} left by an interrupted run", stale.display()))?;
            }
        }
        fs::create_dir(&dir).ctx(|| format!("cannot create the staging directory {}", dir.display()))?;
        Ok(Stage {
            dest,
            dir,
            _lock: lock,
            committed: false,
        })
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
