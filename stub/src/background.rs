//! Deleting old release trees without making anyone wait: a tree is first renamed to a hidden
//! `.NAME.wheelsfx-old` beside it (instant, and it no longer looks like a release), then a
//! detached child process deletes it while the run goes on and ends.
//!
//! The child is this executable run again in a hidden mode, chosen by an environment
//! variable checked first thing in `main`: a new process, not a fork of this one (whose
//! rayon threads would not survive a fork), in its own session with stdio on /dev/null so
//! it outlives us and holds no pipe a caller (Ansible) waits on.

use crate::locate;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Set (to [`MODE_VALUE`]) only on the child: it deletes the paths it is given and exits.
const MODE_VAR: &str = "WHEELSFX_INTERNAL_DELETE";
const MODE_VALUE: &str = "old-releases";
const SUFFIX: &str = ".wheelsfx-old";

/// In the hidden mode, deletes the retired trees named on the command line and exits;
/// otherwise returns at once. Only names a run gives retired trees are touched.
pub fn serve_if_asked() {
    if std::env::var_os(MODE_VAR).as_deref() != Some(OsStr::new(MODE_VALUE)) {
        return;
    }
    // SAFETY: nice only changes this process's priority. Lower it: the deletion is the work
    // nobody waits for, the next deploy's is.
    unsafe { libc::nice(10) };
    for path in std::env::args_os().skip(1).map(PathBuf::from).filter(|p| is_retired(p)) {
        // Best effort: what is left, the next run hands over again.
        let _ = crate::stage::remove_any(&path);
    }
    std::process::exit(0);
}

fn is_retired(path: &Path) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(SUFFIX))
}

/// Renames `path` to a free `.NAME.wheelsfx-old` beside it (`.NAME.N.wheelsfx-old` while an
/// earlier one is still being deleted) and returns the new name.
pub fn retire(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let mut last = None;
    for n in 0..100 {
        let infix = if n == 0 { String::new() } else { format!(".{n}") };
        let to = path.with_file_name(format!(".{name}{infix}{SUFFIX}"));
        if fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        match fs::rename(path, &to) {
            Ok(()) => return Ok(to),
            // Taken between our look and the rename: try the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists || e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                last = Some(e)
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("every .wheelsfx-old name beside it is taken")))
}

/// Starts the detached deletion of `retired` trees and returns at once. Best effort: if the
/// child cannot start, the trees stay hidden and the next run in their directory deletes them.
pub fn delete(retired: &[PathBuf]) {
    if retired.is_empty() {
        return;
    }
    let Ok(exe) = locate::artifact_path() else {
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.env(MODE_VAR, MODE_VALUE)
        .args(retired)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; it makes the child its own session, so neither
    // our exit nor a terminal hangup takes it down.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let _ = cmd.spawn();
}

/// Hands every `.*.wheelsfx-old` an earlier run left in `dir` (its deleting child killed, or
/// never started) to a new deleting child.
pub fn delete_leftovers(dir: &Path) {
    let left: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| is_retired(p))
        .collect();
    delete(&left);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retire_picks_a_free_hidden_name() {
        let root = crate::stage::scratch_dir("retire");
        for n in ["7/a", ".7.wheelsfx-old/b"] {
            fs::create_dir_all(root.join(n)).unwrap();
        }
        let to = retire(&root.join("7")).unwrap();
        assert_eq!(to, root.join(".7.1.wheelsfx-old"));
        assert!(to.join("a").is_dir() && !root.join("7").exists());
        assert!(is_retired(&to) && !is_retired(&root.join("7")) && !is_retired(Path::new("/x/y.wheelsfx-old")));
        fs::remove_dir_all(&root).unwrap();
    }
}
