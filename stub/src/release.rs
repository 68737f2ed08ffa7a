//! The release after commit: its receipt, rewritten when a later step (the hooks) finishes.

use crate::error::{Context, Result};
use crate::stage::write_new;
use serde_json::Value;
use std::fs;
use std::path::Path;

/// Replaces `DEST/.wheelsfx/receipt.json` atomically (a new file beside it, then rename(2)),
/// so a reader (the next run, Ansible) sees the old receipt or the new one, never half of one.
pub fn rewrite_receipt(dest: &Path, receipt: &Value) -> Result<()> {
    let meta = dest.join(".wheelsfx");
    let tmp = meta.join(".receipt.json.tmp");
    // Left only by a run killed between the two calls below.
    let _ = fs::remove_file(&tmp);
    let text = serde_json::to_vec_pretty(receipt).expect("a receipt serialises");
    write_new(&tmp, &text, 0o644)?;
    let path = meta.join("receipt.json");
    fs::rename(&tmp, &path).ctx(|| format!("cannot replace {}", path.display()))
}
