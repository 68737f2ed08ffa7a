//! Fuzzes everything the stub parses from an untrusted artifact: the payload reader, full and
//! deferred (with the trailing digest, and the chunk index when the digest line follows one,
//! made valid, so the fuzzer gets past them to the zip and the manifest),
//! the manifest, RECORD files, wheel names, Requires-Python, public keys and signature
//! blocks, and the wheel validator (dist-info, WHEEL, RECORD, entry points, destinations).
//! The first byte picks the target. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::FileExt;
use wheelsfx_payload::digest::{artifact_digest, chunk_count, chunk_sha256s, hex, root};
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::manifest::Manifest;
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::signature::{PublicKey, Signature};
use wheelsfx_payload::wheel::{self, Expect};
use wheelsfx_payload::{pyversion, record, wheelname::WheelName};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 4 {
        0 => artifact(rest),
        1 => {
            if let Ok(m) = serde_json::from_slice::<Manifest>(rest) {
                let _ = m.check_consistent();
            }
        }
        2 => {
            let text = String::from_utf8_lossy(rest);
            let _ = record::parse_record(&text);
            let _ = pyversion::allows(&text, [3, 11, 7]);
            let _ = WheelName::parse(&text);
            let _ = PublicKey::from_file_text(&text);
            let _ = Signature::from_block(rest, "wheelsfx-sha256:");
        }
        _ => {
            if let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(rest)) {
                let want = Expect { distribution: "fuzz", version: "1.0", app: "app" };
                let _ = wheel::check(&mut zip, &want, &Limits::default());
            }
        }
    }
});

fn artifact(bytes: &[u8]) {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
    let mut f = tempfile::NamedTempFile::new_in(dir).unwrap();
    f.write_all(bytes).unwrap();
    seal(f.as_file(), bytes);
    let limits = Limits { max_unpacked: 64 << 20, max_ratio: 250 };
    if let Ok(mut p) = Payload::open(f.path(), &limits) {
        let _ = p.verify_all(&limits);
    }
    // Deferred: skip the first wheel, then read every wheel: the others must be readable (the
    // skipped one is refused, unless the artifact had no index and was verified whole).
    if let Ok(p) = Payload::open_deferred(f.path(), &limits) {
        let wheels: Vec<String> = p.manifest.wheels.iter().map(|w| w.file.clone()).collect();
        let skip: HashSet<String> = wheels.iter().take(1).cloned().collect();
        if p.verify_except(&skip).is_ok() {
            for w in &wheels {
                let read = p.stored_range(w);
                assert!(read.is_ok() || skip.contains(w));
            }
        }
    }
}

/// Makes the trailer's digest valid: over the bytes up to a chunk index that directly
/// precedes the digest line (the index made valid too), else over every byte before the hex.
fn seal(file: &std::fs::File, bytes: &[u8]) {
    let len = bytes.len();
    let Some(line_at) = len.checked_sub(80) else {
        if len >= 64 {
            let digest = artifact_digest(file, len as u64 - 64).unwrap();
            file.write_all_at(digest.as_bytes(), len as u64 - 64).unwrap();
        }
        return;
    };
    let covered = (bytes[..line_at].windows(16).rposition(|w| w == b"wheelsfx-chunks:")).map(|i| i + 16);
    let digest = match covered {
        Some(c) if (line_at - c) as u64 == 64 * chunk_count(c as u64) => {
            let chunks = chunk_sha256s(file, c as u64).unwrap();
            let index: String = chunks.iter().map(|h| hex(h)).collect();
            file.write_all_at(index.as_bytes(), c as u64).unwrap();
            root(&chunks)
        }
        _ => artifact_digest(file, len as u64 - 64).unwrap(),
    };
    file.write_all_at(digest.as_bytes(), len as u64 - 64).unwrap();
}
