//! Showing what an artifact holds: `--inspect [--json]`, `--list` and the `--verify` line, for
//! the stub and the packer alike.

use crate::manifest::Manifest;
use crate::signature::Verdict;

/// The manifest and the signature; with `json`, the manifest object with a `signature` key.
pub fn inspect(m: &Manifest, signature: Verdict, json: bool) {
    if json {
        let mut v = serde_json::to_value(m).expect("a manifest serialises");
        v["signature"] = signature.to_json();
        println!("{}", serde_json::to_string_pretty(&v).expect("a value serialises"));
        return;
    }
    let total: u64 = m.entries.iter().map(|e| e.size).sum();
    println!(
        "app:        {} (build {})",
        m.app.name,
        m.app.build_id.as_deref().unwrap_or("-")
    );
    println!("created:    {} (unix time), by {}", m.created, m.packer);
    println!(
        "python:     {}",
        if m.target.python_versions.is_empty() {
            "any 3.x".into()
        } else {
            m.target.python_versions.join(", ")
        }
    );
    println!("tags:       {}", m.target.tags.join(" "));
    println!("entries:    {} ({} bytes uncompressed)", m.entries.len(), total);
    println!("digest:     sha256:{}", m.digest);
    println!("signature:  {}", signature.describe());
    println!("wheels ({}):", m.wheels.len());
    for w in &m.wheels {
        println!("  {} {}  {}", w.distribution, w.version, w.file);
    }
    println!("bootstrap wheels ({}):", m.bootstrap_wheels.len());
    for w in &m.bootstrap_wheels {
        println!("  {} {}  {}", w.distribution, w.version, w.file);
    }
}

pub fn list(m: &Manifest) {
    for e in &m.entries {
        println!(
            "{:>10}  {:o}  {}  {}",
            e.size,
            e.mode,
            &e.sha256[..16.min(e.sha256.len())],
            e.path
        );
    }
}

/// What `--verify` and `wheelsfx verify` print when every check passed.
pub fn verified(entries: usize, bytes: u64, m: &Manifest, signature: Verdict) -> String {
    format!(
        "ok: {entries} entries, {bytes} bytes match the manifest (digest sha256:{}); signature: {}",
        m.digest,
        signature.describe()
    )
}
