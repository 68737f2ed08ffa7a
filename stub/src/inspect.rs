//! Showing what an artifact holds: `--inspect [--json]`, `--list` and the `--verify` line, for
//! the stub and the packer alike.
//!
//! Every string comes from the artifact, so control characters are escaped; and the text is
//! written in one go with write errors ignored: a reader that closed the pipe (`| head`)
//! has seen what it wanted, and must not turn into a panic.

use crate::manifest::Manifest;
use crate::names::escaped;
use crate::reader::Payload;
use crate::signature::Verdict;
use std::fmt::Write as _;
use std::io::Write as _;

/// The manifest, the artifact's digest (what a release's receipt records as its identity) and
/// the signature; with `json`, the manifest object with `artifact_digest` and `signature` keys.
pub fn inspect(payload: &Payload, signature: Verdict, json: bool) {
    let m = &payload.manifest;
    if json {
        let mut v = serde_json::to_value(m).expect("a manifest serialises");
        v["artifact_digest"] = payload.artifact_digest().into();
        v["signature"] = signature.to_json();
        let text = serde_json::to_string_pretty(&v).expect("a value serialises");
        return emit(&(json_safe(&text) + "\n"));
    }
    let mut out = String::new();
    let total: u64 = m.entries.iter().map(|e| e.size).sum();
    let versions = if m.target.python_versions.is_empty() {
        "any 3.x".into()
    } else {
        m.target.python_versions.join(", ")
    };
    let _ = writeln!(
        out,
        "app:        {} (build {})",
        m.app.name,
        m.app.build_id.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "created:    {} (unix time), by {}", m.created, m.packer);
    let _ = writeln!(out, "python:     {versions}");
    targets(&mut out, m);
    let _ = writeln!(out, "tags:       {}", m.target.tags.join(" "));
    let _ = writeln!(out, "entries:    {} ({} bytes uncompressed)", m.entries.len(), total);
    let _ = writeln!(out, "digest:     sha256:{}", m.digest);
    let _ = writeln!(out, "artifact:   sha256:{}", payload.artifact_digest());
    let _ = writeln!(out, "signature:  {}", signature.describe());
    if !m.link_shared.is_empty() {
        let _ = writeln!(out, "shared:     {}", m.link_shared.join(" "));
    }
    if !m.post_install.is_empty() {
        let _ = writeln!(out, "post-install hooks ({}):", m.post_install.len());
        for (i, cmd) in m.post_install.iter().enumerate() {
            let _ = writeln!(out, "  {}. {cmd}", i + 1);
        }
    }
    for (title, wheels) in [("wheels", &m.wheels), ("bootstrap wheels", &m.bootstrap_wheels)] {
        let _ = writeln!(out, "{title} ({}):", wheels.len());
        for w in wheels {
            let _ = writeln!(out, "  {} {}  {}", w.distribution, w.version, w.file);
        }
    }
    emit(&escaped_lines(&out));
}

/// The exact targets the packer built for, one line per wheel set, and what they need.
fn targets(out: &mut String, m: &Manifest) {
    let t = &m.target;
    if let Some(min) = &t.min_python {
        let glibc = t
            .glibc
            .as_deref()
            .map(|g| format!(", glibc {g} or later"))
            .unwrap_or_default();
        let _ = writeln!(out, "needs:      Python {min} or later{glibc}");
    }
    if t.sets.is_empty() {
        return;
    }
    let _ = writeln!(out, "targets ({}):", t.sets.len());
    for s in &t.sets {
        let platforms = if s.platforms.is_empty() {
            "the build machine's platform".to_string()
        } else {
            s.platforms.join(" ")
        };
        let _ = writeln!(
            out,
            "  Python {}  on {platforms}  min Python {}  glibc {}  {} wheels",
            s.python,
            s.min_python,
            s.glibc.as_deref().unwrap_or("-"),
            s.wheels.len()
        );
    }
}

pub fn list(m: &Manifest) {
    let mut out = String::new();
    for e in &m.entries {
        let sha: String = e.sha256.chars().take(16).collect();
        let _ = writeln!(out, "{:>10}  {:o}  {}  {}", e.size, e.mode, sha, e.path);
    }
    emit(&escaped_lines(&out));
}

/// What `--verify` and `wheelsfx verify` print when every check passed.
pub fn verified(entries: usize, bytes: u64, m: &Manifest, signature: Verdict) -> String {
    format!(
        "ok: {entries} entries, {bytes} bytes match the manifest (digest sha256:{}); signature: {}",
        m.digest,
        signature.describe()
    )
}

/// `text` with control characters escaped in each line (the line breaks are ours).
pub fn escaped_lines(text: &str) -> String {
    text.split('\n').map(escaped).collect::<Vec<_>>().join("\n")
}

/// JSON text with every control character left raw by serde_json (DEL, C1: it escapes only
/// those below 0x20) written as a `\uXXXX` escape, which JSON allows in strings, the only
/// place they can be. Line breaks of pretty-printed JSON are structure and stay.
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn emit(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
