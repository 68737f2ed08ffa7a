//! The lock on a release directory: `.NAME.wheelsfx-lock` beside it, flock'ed for the whole
//! run and removed at its end, so no lock files pile up beside releases.
//!
//! Removing a lock file others may be waiting on is safe because every holder checks, after
//! flock, that the path still names the file it locked: a run that locked a file which was
//! removed meanwhile lets go and tries again on the new one.

use crate::error::{Code, Fail, Result};
use crate::stage::sibling;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub struct Lock {
    path: PathBuf,
    file: Option<Flock<File>>,
}

impl Lock {
    /// Takes the lock on `dest`: None when another run holds it, unless `wait` (then blocks
    /// until that run is done).
    pub fn try_acquire(dest: &Path, wait: bool) -> Result<Option<Lock>> {
        let path = sibling(dest, "lock");
        loop {
            let file = open(&path)?;
            let arg = if wait {
                FlockArg::LockExclusive
            } else {
                FlockArg::LockExclusiveNonblock
            };
            let Ok(file) = Flock::lock(file, arg) else {
                return Ok(None);
            };
            if names_same_file(&path, &file) {
                return Ok(Some(Lock { path, file: Some(file) }));
            }
        }
    }

    /// Takes the lock on `dest`, or fails with exit 7 naming the run that holds it.
    pub fn acquire(dest: &Path, wait: bool) -> Result<Lock> {
        Lock::try_acquire(dest, wait)?.ok_or_else(|| {
            Fail::new(
                Code::Locked,
                format!(
                    "another wheelsfx run is working on {} (it holds {}); wait for it to finish, or pass --wait",
                    dest.display(),
                    sibling(dest, "lock").display()
                ),
            )
        })
    }
}

impl Drop for Lock {
    /// Removes the lock file while still holding it, then lets go: a run waiting on this file
    /// then finds it gone and locks a new one.
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            if names_same_file(&self.path, &file) {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// Whether `path` still names the file `file` has open (not removed, not replaced).
fn names_same_file(path: &Path, file: &File) -> bool {
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Opens (creating) the lock file without following a symlink (a planted one must not make
/// root create a file elsewhere) and without blocking on a FIFO.
fn open(path: &Path) -> Result<File> {
    let not_regular = || {
        Fail::install(format!(
            "the lock file {} is not a regular file (a symlink, FIFO or directory was put there); remove it and run again",
            path.display()
        ))
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP | libc::ENXIO | libc::EISDIR) => not_regular(),
            _ => Fail::install(format!(
                "cannot create the lock file {} (is the parent writable?): {e}",
                path.display()
            )),
        })?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(not_regular());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_exclusive_removed_at_drop_and_a_waiter_follows_the_new_file() {
        let root = crate::stage::scratch_dir("lock");
        let dest = root.join("rel");
        let held = Lock::acquire(&dest, false).unwrap();
        let lock_file = sibling(&dest, "lock");
        assert!(lock_file.is_file());
        let refused = Lock::acquire(&dest, false).err().unwrap();
        assert_eq!(refused.code, Code::Locked);
        // A waiter blocked on the old file must end up holding a file the path still names.
        let waiter = std::thread::spawn({
            let dest = dest.clone();
            move || {
                let lock = Lock::acquire(&dest, true).unwrap();
                let file = lock.file.as_ref().unwrap();
                assert!(names_same_file(&lock.path, file));
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        waiter.join().unwrap();
        assert!(!lock_file.exists(), "the lock file is removed at the end");
        fs::remove_dir_all(&root).unwrap();
    }
}
