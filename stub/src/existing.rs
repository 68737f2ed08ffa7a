//! What DEST already holds, and what a deploy does about it (judged before anything is
//! written, and again under DEST's lock): this artifact again is not an error (nothing to do,
//! or its hooks to finish), anything else is refused unless --force, and --force never
//! replaces the live release.

use crate::activate::is_live;
use crate::error::{Code, Fail, Result};
use crate::release::{Receipt, State};
use std::fs;
use std::path::{Path, PathBuf};

pub enum Existing {
    /// Nothing at DEST: install.
    Absent,
    /// --force over something else: install, then swap it out.
    Replace,
    /// This artifact, complete: nothing to install.
    Unchanged(Receipt),
    /// This artifact, its hooks pending or failed: run them again, install nothing.
    HooksToRun(Receipt),
}

impl Existing {
    /// Whether the deploy installs a release.
    pub fn installs(&self) -> bool {
        matches!(self, Existing::Absent | Existing::Replace)
    }
}

/// Judges DEST against the artifact whose digest is `digest`. `live` are the releases links
/// point at (canonical), which --force must not replace.
pub fn judge(dest: &Path, digest: &str, force: bool, live: &[PathBuf]) -> Result<Existing> {
    if fs::symlink_metadata(dest).is_err() {
        return Ok(Existing::Absent);
    }
    let receipt = Receipt::read(dest);
    if let Some(r) = receipt.clone().filter(|r| r.artifact_digest() == Some(digest)) {
        match r.state() {
            Some(State::Complete) => return Ok(Existing::Unchanged(r)),
            Some(State::HooksPending | State::HooksFailed) => return Ok(Existing::HooksToRun(r)),
            None => {}
        }
    }
    if !force {
        return Err(refused(format!(
            "{}; deploy into a new release directory, or pass --force to replace it",
            holds(dest, receipt.as_ref(), digest)
        )));
    }
    // Only a directory can be swapped out whole for a release.
    if !fs::metadata(dest).is_ok_and(|m| m.is_dir()) {
        return Err(refused(format!(
            "{} exists and is not a directory, so --force cannot replace it with a release; remove it or choose another DEST",
            dest.display()
        )));
    }
    if is_live(dest, live) {
        return Err(refused(format!(
            "{} is the active release (a symlink points at it), and --force would replace it under the running app; deploy into a new release directory and --activate it instead",
            dest.display()
        )));
    }
    Ok(Existing::Replace)
}

fn refused(msg: String) -> Fail {
    Fail::new(Code::DestExists, msg)
}

/// "DEST already holds mysite build 41, installed ..., from another artifact (sha256 ...)".
fn holds(dest: &Path, receipt: Option<&Receipt>, digest: &str) -> String {
    let Some(r) = receipt else {
        return format!(
            "{} already exists and is not a wheelsfx release (it has no {})",
            dest.display(),
            crate::release::RECEIPT
        );
    };
    let what = match r.artifact_digest() {
        Some(d) if d == digest => format!(
            "from this artifact, in a state this wheelsfx does not know ({})",
            r.0["state"]
        ),
        Some(d) => format!("from another artifact (sha256 {d})"),
        None => "by an older wheelsfx that did not record its artifact".into(),
    };
    format!("{} already holds {}, {what}", dest.display(), r.describe())
}
