//! Deferred verification: the chunk index in the trailer lets a deploy hash only what it
//! reads. A byte flipped in a skipped wheel goes unnoticed by `verify_except(skip)` and by
//! nothing else; a forged index, or a flip in the stub, manifest, directory or a read entry,
//! is refused (exit 3); an artifact without index (older packer) deploys, fully verified.

use crate::support::*;
use crate::{standard_wheels, Fixture};
use std::path::Path;
use std::process::Command;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::reader::{Payload, PayloadError};

const CHUNK: u64 = 4 << 20;
const BIG: &str = "wheels/bigdata-1.0-py3-none-any.whl";
const SMALL: &str = "wheels/greet-1.0-py3-none-any.whl";

/// The standard fixture plus a wheel of 10 MiB that does not compress, so at least one 4 MiB
/// chunk lies entirely inside its data.
fn big_fixture() -> Fixture {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..10 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut big = WheelSpec::new("bigdata", "1.0").file("bigdata/__init__.py", "");
    big.files.push(("bigdata/noise.bin".into(), noise, false));
    let mut wheels = standard_wheels();
    wheels.push(big);
    Fixture::with_wheels(wheels)
}

/// Where entry `name`'s data lies in the artifact at `path` (a full open).
fn range(path: &Path, name: &str) -> (u64, u64) {
    let p = Payload::open(path, &Limits::default()).unwrap();
    p.stored_range(name).unwrap().unwrap()
}

/// `bytes` with one bit of byte `at` flipped, written next to the fixture's artifact.
fn flipped(fx: &Fixture, label: &str, bytes: &[u8], at: u64) -> std::path::PathBuf {
    let mut b = bytes.to_vec();
    b[at as usize] ^= 1;
    let path = fx.dir.path().join(format!("{label}.sfx"));
    write_exe(&path, &b);
    path
}

fn corrupt<T>(r: Result<T, PayloadError>, what: &str) {
    match r {
        Err(PayloadError::Corrupt(_)) => {}
        Err(e) => panic!("{what}: refused, but not as corrupt: {e}"),
        Ok(_) => panic!("{what}: not refused"),
    }
}

/// Open deferred, then verify skipping `skip`: the result of the two.
fn deferred(path: &Path, skip: &[&str]) -> Result<Payload, PayloadError> {
    let p = Payload::open_deferred(path, &Limits::default())?;
    p.verify_except(skip)?;
    Ok(p)
}

#[test]
fn a_flip_inside_a_skipped_wheel_is_missed_only_when_skipped() {
    let fx = big_fixture();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    let (start, len) = range(&fx.artifact, BIG);
    let chunk = start.div_ceil(CHUNK);
    assert!((chunk + 1) * CHUNK <= start + len, "a chunk lies inside the wheel");
    let bad = flipped(&fx, "inside", &bytes, chunk * CHUNK + 100);

    let p = Payload::open_deferred(&bad, &Limits::default()).unwrap();
    assert!(
        matches!(p.stored_range(SMALL), Err(PayloadError::Unverified(_))),
        "no entry is readable before verify_except"
    );
    p.verify_except(&[BIG]).unwrap();
    assert!(
        matches!(p.stored_range(BIG), Err(PayloadError::Unverified(_))),
        "a skipped entry stays unreadable"
    );
    assert!(p.stored_range(SMALL).unwrap().is_some());

    corrupt(deferred(&bad, &[]), "verify_except(&[])");
    corrupt(Payload::open(&bad, &Limits::default()), "a full open");
    refused(
        &Command::new(&bad).arg("--verify").output().unwrap(),
        3,
        "do not match the sha256",
    );
    let python = &pythons()[0].path;
    let out = Command::new(&bad)
        .arg("-d")
        .arg(fx.dest("inside"))
        .arg("--python")
        .arg(python)
        .output();
    refused(&out.unwrap(), 3, "do not match the sha256");
    nothing_left(&fx.dest("inside"));
}

#[test]
fn flips_outside_the_skipped_data_and_a_forged_index_are_refused() {
    let fx = big_fixture();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    let stub = Payload::open(&fx.artifact, &Limits::default()).unwrap().stub_len();
    let directory = zip::ZipArchive::new(std::fs::File::open(&fx.artifact).unwrap())
        .unwrap()
        .central_directory_start();
    let (small, _) = range(&fx.artifact, SMALL);
    let (big, _) = range(&fx.artifact, BIG);
    let places = [
        ("stub", 1000),
        ("manifest", stub + 40),
        ("local header", big - 10),
        ("directory", directory + 10),
        ("small wheel", small + 5),
    ];
    for (label, at) in places {
        let bad = flipped(&fx, label, &bytes, at);
        corrupt(deferred(&bad, &[BIG]), label);
    }

    // A wheel changed and the trailer sealed again: the digest holds, the manifest does not.
    let mut resealed = bytes.clone();
    resealed[(small + 5) as usize] ^= 1;
    reseal(&mut resealed, 0);
    let path = fx.dir.path().join("resealed.sfx");
    write_exe(&path, &resealed);
    corrupt(deferred(&path, &[BIG]), "a resealed wheel");

    // One digit of the index changed: it no longer hashes to the digest.
    let at = comment_at(&bytes) + 16;
    let mut forged = bytes.clone();
    forged[at] = if forged[at] == b'0' { b'1' } else { b'0' };
    let path = fx.dir.path().join("forged.sfx");
    write_exe(&path, &forged);
    let python = &pythons()[0].path;
    let out = Command::new(&path)
        .arg("-d")
        .arg(fx.dest("forged"))
        .arg("--python")
        .arg(python)
        .output();
    refused(&out.unwrap(), 3, "chunk index does not match");
    nothing_left(&fx.dest("forged"));
}

#[test]
fn an_artifact_without_index_deploys_fully_verified() {
    let fx = Fixture::new();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    let at = comment_at(&bytes);
    assert_eq!(&bytes[at..at + 16], b"wheelsfx-chunks:", "the packer writes an index");
    // The trailer as an older packer wrote it: the digest line alone.
    let mut old = bytes[..at].to_vec();
    old[at - 2..at].copy_from_slice(&80u16.to_le_bytes());
    old.extend_from_slice(format!("wheelsfx-sha256:{}", "0".repeat(64)).as_bytes());
    reseal(&mut old, 0);
    let path = fx.dir.path().join("old.sfx");
    write_exe(&path, &old);
    ok(Command::new(&path).arg("--verify"));
    let python = &pythons()[0].path;
    ok(Command::new(&path)
        .arg("-d")
        .arg(fx.dest("old"))
        .arg("--python")
        .arg(python));
    assert!(fx.dest("old/venv/bin/greet").exists());
    // A flip in it is refused as before.
    let bad = flipped(&fx, "old-flipped", &old, (at / 2) as u64);
    let out = Command::new(&bad)
        .arg("-d")
        .arg(fx.dest("bad"))
        .arg("--python")
        .arg(python)
        .output();
    refused(&out.unwrap(), 3, "artifact");
}
