//! The build summary printed after every build: what went in, part by part, the largest app
//! files (where a stray dump or database shows first), what was left out, how long it took.

use crate::checked::Tally;
use crate::exclude::Report;
use std::time::Duration;
use wheelsfx_payload::layout::{BOOTSTRAP_DIR, BYTECODE_DIR, STATIC_DIR, WHEELS_DIR};
use wheelsfx_payload::manifest::{Entry, Manifest};

const PARTS: [&str; 6] = ["app", "wheels", "bootstrap", "static", "bytecode", "support"];

/// The summary's lines (after the "wrote ..." line), for stdout.
pub fn summary(
    manifest: &Manifest,
    artifact_bytes: u64,
    stub_bytes: u64,
    excluded: &Report,
    checks: Tally,
    took: Duration,
) -> String {
    let app = format!("{}/", manifest.app.name);
    let mut totals = [(0u64, 0u64); PARTS.len()];
    for e in &manifest.entries {
        let t = &mut totals[part(&e.path, &app)];
        t.0 += 1;
        t.1 += e.size;
    }
    let mut out = String::new();
    for (name, (files, bytes)) in PARTS.iter().zip(totals) {
        out += &format!("  {name:<10} {files:>6} files {:>10}\n", size(bytes));
    }
    out += &format!("  {:<10} {:>6}       {:>10}\n", "stub", "", size(stub_bytes));
    out += &format!("  {:<10} {:>6}       {:>10}\n", "artifact", "", size(artifact_bytes));
    let mut largest: Vec<&Entry> = manifest.entries.iter().filter(|e| e.path.starts_with(&app)).collect();
    largest.sort_by(|a, b| b.size.cmp(&a.size).then(a.path.cmp(&b.path)));
    if !largest.is_empty() {
        out += "  largest app files:\n";
        for e in largest.iter().take(10) {
            out += &format!("    {:>10}  {}\n", size(e.size), e.path);
        }
    }
    out += &format!("  {}\n", excluded.line());
    out += &format!(
        "  wheels checked against their RECORD: {} in full, {} known from the check cache\n",
        checks.full, checks.cached
    );
    out += &format!("  built in {:.2} s", took.as_secs_f64());
    out
}

/// Which of [`PARTS`] an entry belongs to.
fn part(path: &str, app: &str) -> usize {
    if path.starts_with(app) {
        0
    } else if path.starts_with(WHEELS_DIR) {
        1
    } else if path.starts_with(BOOTSTRAP_DIR) {
        2
    } else if path.starts_with(STATIC_DIR) {
        3
    } else if path.starts_with(BYTECODE_DIR) {
        4
    } else {
        5
    }
}

/// Bytes for people: 512 B, 48.2 KB, 73.4 MB (powers of 1000, as `ls -h --si`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::size(512), "512 B");
        assert_eq!(super::size(48_200), "48.2 KB");
        assert_eq!(super::size(73_400_000), "73.4 MB");
    }
}
