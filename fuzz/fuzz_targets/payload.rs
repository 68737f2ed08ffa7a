//! Fuzzes everything the stub parses from an untrusted artifact: the payload reader (with
//! the trailing digest made valid, so the fuzzer gets past it to the zip and the manifest),
//! the manifest, RECORD files, wheel names, Requires-Python, public keys and signature
//! blocks, and the wheel validator (dist-info, WHEEL, RECORD, entry points, destinations).
//! The first byte picks the target. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;
use std::os::unix::fs::FileExt;
use wheelsfx_payload::digest::artifact_digest;
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
    let len = bytes.len() as u64;
    if len >= 64 {
        let digest = artifact_digest(f.as_file(), len - 64).unwrap();
        f.as_file().write_all_at(digest.as_bytes(), len - 64).unwrap();
    }
    let limits = Limits { max_unpacked: 64 << 20, max_ratio: 250 };
    if let Ok(mut p) = Payload::open(f.path(), &limits) {
        let _ = p.verify_all(&limits);
    }
}
