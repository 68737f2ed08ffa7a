//! What a release directory says about itself: `.wheelsfx/receipt.json` (which artifact, when,
//! and whether it is complete), and the complete releases in a releases directory.
//!
//! Everything after commit (hooks, activation, rollback, pruning) judges releases by their
//! receipts alone, so it works with the artifact long deleted.

use crate::error::{Context, Result};
use crate::stage::open_new;
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The receipt, relative to the release.
pub const RECEIPT: &str = ".wheelsfx/receipt.json";

/// Where a release stands, as its receipt's `state` says.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Installed, hooks run (or none): may be activated.
    Complete,
    /// Installed; its hooks have not run yet.
    HooksPending,
    /// Installed; a hook failed.
    HooksFailed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Complete => "complete",
            State::HooksPending => "hooks-pending",
            State::HooksFailed => "hooks-failed",
        }
    }
}

/// A release's receipt, kept whole: rewriting it (after hooks) keeps every field.
#[derive(Clone, Debug)]
pub struct Receipt(pub Value);

impl Receipt {
    /// The receipt of `release`, if it has one that parses as a JSON object.
    pub fn read(release: &Path) -> Option<Receipt> {
        let text = fs::read(release.join(RECEIPT)).ok()?;
        serde_json::from_slice::<Value>(&text)
            .ok()
            .filter(Value::is_object)
            .map(Receipt)
    }

    /// None for a state this stub does not know. A receipt without one was written before
    /// releases had states, when every committed release was complete.
    pub fn state(&self) -> Option<State> {
        match self.0.get("state") {
            None => Some(State::Complete),
            Some(s) => [State::Complete, State::HooksPending, State::HooksFailed]
                .into_iter()
                .find(|k| s == k.as_str()),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.state() == Some(State::Complete)
    }

    /// The sha256 hex of the artifact it was installed from (absent in older receipts).
    pub fn artifact_digest(&self) -> Option<&str> {
        self.0.get("artifact_digest")?.as_str()
    }

    /// Unix time of the install.
    pub fn installed_at(&self) -> u64 {
        self.0.get("installed_at").and_then(Value::as_u64).unwrap_or(0)
    }

    pub fn app(&self) -> &str {
        self.0.get("app").and_then(Value::as_str).unwrap_or("?")
    }

    pub fn build_id(&self) -> Option<&str> {
        self.0.get("build_id")?.as_str()
    }

    /// "mysite build 42, installed 2025-01-31 12:00:00 UTC", for sentences.
    pub fn describe(&self) -> String {
        format!(
            "{} build {}, installed {}",
            self.app(),
            self.build_id().unwrap_or("unversioned"),
            utc(self.installed_at())
        )
    }
}

/// Writes `receipt` as `release`'s receipt atomically: a new file beside it, then rename(2),
/// so a reader (or a run killed meanwhile) sees the old receipt or the new, never half.
pub fn write_receipt(release: &Path, receipt: &Value) -> Result<()> {
    let path = release.join(RECEIPT);
    let tmp = path.with_file_name(".receipt.json.tmp");
    let _ = fs::remove_file(&tmp);
    let text = serde_json::to_vec_pretty(receipt).expect("a receipt serialises");
    let mut file = open_new(&tmp, 0o644).ctx(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(&text)
        .ctx(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &path).ctx(|| format!("cannot replace {}", path.display()))
}

/// A complete release found in a releases directory.
#[derive(Clone)]
pub struct Release {
    /// `dir/NAME`, with `dir` canonical.
    pub path: PathBuf,
    pub receipt: Receipt,
    /// Install time, then (for releases installed in the same second) when its manifest copy
    /// was written at commit: a file nothing rewrites later.
    order: (u64, i128),
}

/// The complete releases in `dir`, oldest first: real directories (not symlinks such as
/// `current`, not hidden leftovers) with a complete receipt.
pub fn complete_releases(dir: &Path) -> Vec<Release> {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out: Vec<Release> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()) && !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let path = e.path();
            let receipt = Receipt::read(&path).filter(Receipt::is_complete)?;
            let order = order(&path, &receipt);
            Some(Release { path, receipt, order })
        })
        .collect();
    out.sort_by_key(|r| r.order);
    out
}

fn order(release: &Path, receipt: &Receipt) -> (u64, i128) {
    let committed = fs::metadata(release.join(".wheelsfx/manifest.json"))
        .map(|m| i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()))
        .unwrap_or(0);
    (receipt.installed_at(), committed)
}

/// Unix time as `YYYY-MM-DD HH:MM:SS UTC` (the civil-from-days algorithm; no time zone
/// database in a static stub, and UTC reads the same on every server of a fleet).
pub fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_735_689_599), "2024-12-31 23:59:59 UTC");
    }

    #[test]
    fn states_and_older_receipts() {
        let r = |v: Value| Receipt(v);
        assert!(
            r(serde_json::json!({"app": "a"})).is_complete(),
            "no state: an older stub's release"
        );
        assert!(r(serde_json::json!({"state": "complete"})).is_complete());
        assert_eq!(
            r(serde_json::json!({"state": "hooks-failed"})).state(),
            Some(State::HooksFailed)
        );
        assert_eq!(r(serde_json::json!({"state": "weird"})).state(), None);
        assert!(!r(serde_json::json!({"state": 1})).is_complete());
    }
}
