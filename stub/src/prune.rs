//! Step 13: `--keep N`: keep the N newest complete releases in a releases directory and
//! delete the older ones in the background. Never deleted: the release this run installed or
//! rolled back to, any release a symlink points at, anything that is not a complete release
//! (a failed one is the operator's to look at), a release another run holds the lock of.

use crate::activate::is_live;
use crate::background;
use crate::error::{Fail, Result};
use crate::lock::Lock;
use crate::release::complete_releases;
use std::fs;
use std::path::{Path, PathBuf};

/// The releases in `dir` that `--keep keep` removes, sparing `live`. With `new`, the plan is
/// for a run that has not installed yet: `new` counts as the newest complete release.
pub fn plan(dir: &Path, keep: usize, live: &[PathBuf], new: Option<&Path>) -> Vec<PathBuf> {
    let replaced = new.and_then(|n| fs::canonicalize(n).ok());
    let older = complete_releases(dir)
        .into_iter()
        .rev()
        .map(|r| r.path)
        .filter(|p| Some(p) != replaced.as_ref());
    new.map(Path::to_path_buf)
        .into_iter()
        .chain(older)
        .skip(keep)
        .filter(|p| !is_live(p, live))
        .collect()
}

/// Removes what [`plan`] names: each renamed away under its lock (a release another run is
/// working on is left alone), then deleted by a detached child. Returns the releases removed.
pub fn prune(dir: &Path, keep: usize, live: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut pruned = Vec::new();
    let mut retired = Vec::new();
    for release in plan(dir, keep, live, None) {
        // Held by another run, or a lock file we cannot take (a planted one): not ours to touch.
        let Ok(Some(_lock)) = Lock::try_acquire(&release, false) else {
            continue;
        };
        let to = background::retire(&release).map_err(|e| {
            Fail::activation(format!(
                "cannot prune {}: renaming it away failed ({e}); check that {} is writable",
                release.display(),
                dir.display()
            ))
        })?;
        retired.push(to);
        pruned.push(release);
    }
    background::delete(&retired);
    Ok(pruned)
}
