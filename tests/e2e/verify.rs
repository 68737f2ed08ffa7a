//! Deferred verification: the chunk index in the trailer lets a deploy hash only what it
//! reads. A byte flipped in a skipped wheel (its data or its local header: never read) goes
//! unnoticed by `verify_except(skip)` and by nothing else; a forged index, or a flip in the
//! stub, manifest, directory or a read entry (header or data), is refused (exit 3); an
//! artifact without index (older packer) deploys, fully verified.

use crate::support::*;
use crate::{standard_wheels, Fixture};
use std::path::Path;
use std::process::Command;
use wheelsfx_payload::layout::{wheel_file_name, Pyc, PycOwner};
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::reader::{Payload, PayloadError};

const CHUNK: u64 = 4 << 20;
const BIG: &str = "wheels/bigdata-1.0-py3-none-any.whl";
/// Right after BIG in the file, so that with both skipped its local header lies in a chunk
/// that is never read.
const NEXT: &str = "wheels/bigdatb-1.0-py3-none-any.whl";
const SMALL: &str = "wheels/greet-1.0-py3-none-any.whl";

/// The standard fixture plus wheels of 10 MiB (BIG) and 5 MiB (NEXT) that do not compress,
/// so at least one 4 MiB chunk lies entirely inside BIG's data, and the chunk holding NEXT's
/// local header lies entirely inside the two.
fn big_fixture() -> Fixture {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noisy = |name: &'static str, mib: usize| {
        let noise: Vec<u8> = (0..mib << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut wheel = WheelSpec::new(name, "1.0").file(&format!("{name}/__init__.py"), "");
        wheel.files.push((format!("{name}/noise.bin"), noise, false));
        wheel
    };
    let mut wheels = standard_wheels();
    wheels.push(noisy("bigdata", 10));
    wheels.push(noisy("bigdatb", 5));
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

/// Open deferred, then verify skipping the wheels `skip` with their build-time pycs (as a
/// deploy linking them does; the packer writes each wheel's pycs right after it): the payload
/// and how many chunks were hashed.
fn deferred(path: &Path, skip: &[&str]) -> Result<(Payload, usize), PayloadError> {
    let p = Payload::open_deferred(path, &Limits::default())?;
    let skipped = |e: &str| {
        let owner = Pyc::parse(e).ok().map(|p| p.owner);
        (skip.iter()).any(|w| e == *w || owner == Some(PycOwner::Wheel(wheel_file_name(w))))
    };
    let skip = (p.manifest.entries.iter())
        .map(|e| e.path.clone())
        .filter(|e| skipped(e))
        .collect();
    let hashed = p.verify_except(&skip)?;
    Ok((p, hashed))
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
    p.verify_except(&[BIG.to_string()].into()).unwrap();
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
        ("small wheel's local header", small - 10),
        ("directory", directory + 10),
        ("small wheel", small + 5),
    ];
    for (label, at) in places {
        let bad = flipped(&fx, label, &bytes, at);
        corrupt(deferred(&bad, &[BIG]), label);
        corrupt(deferred(&bad, &[]), label);
    }
    // A skipped wheel's local header is never read: a flip there is missed when its chunk
    // lies inside skipped entries (here BIG and NEXT), caught when the wheel is read.
    let (next, next_len) = range(&fx.artifact, NEXT);
    let chunk = (next - 10) / CHUNK * CHUNK;
    assert!(big < chunk && chunk + CHUNK <= next + next_len, "NEXT follows BIG");
    let bad = flipped(&fx, "next header", &bytes, next - 10);
    assert!(deferred(&bad, &[BIG, NEXT]).is_ok(), "a skipped header is not read");
    corrupt(deferred(&bad, &[BIG]), "a read header");
    corrupt(deferred(&bad, &[]), "a read header");

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
fn skipping_every_wheel_hashes_little() {
    let fx = big_fixture();
    let total = std::fs::metadata(&fx.artifact).unwrap().len().div_ceil(CHUNK) as usize;
    let (start, len) = range(&fx.artifact, BIG);
    let inside = ((start + len) / CHUNK).saturating_sub(start.div_ceil(CHUNK)) as usize;
    assert!(inside >= 1);
    let (_, all) = deferred(&fx.artifact, &[]).unwrap();
    assert!(
        all >= total - 1,
        "nothing skipped: every chunk is hashed ({all} of {total})"
    );
    let p = Payload::open(&fx.artifact, &Limits::default()).unwrap();
    let wheels: Vec<&str> = (p.manifest.entries.iter())
        .map(|e| e.path.as_str())
        .filter(|e| e.ends_with(".whl"))
        .collect();
    let (q, few) = deferred(&fx.artifact, &wheels).unwrap();
    assert!(
        few <= all - inside,
        "{few} of {all} chunks hashed, {inside} lie inside the big wheel"
    );
    assert!(matches!(q.stored_range(SMALL), Err(PayloadError::Unverified(_))));
    assert_eq!(
        p.verify_except(&Default::default()).unwrap(),
        0,
        "a full open leaves nothing to hash"
    );
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

/// A build-time pyc skipped with its linked wheel is as unreadable as the wheel (the deploy
/// links it from the previous release); the pycs not skipped are read as usual.
#[test]
fn a_skipped_pyc_is_unreadable_like_its_wheel() {
    let fx = Fixture::new();
    let mut p = Payload::open_deferred(&fx.artifact, &Limits::default()).unwrap();
    let pycs: Vec<String> = (p.manifest.entries.iter())
        .map(|e| e.path.clone())
        .filter(|e| e.starts_with("bytecode/") && e.contains("/wheels/"))
        .collect();
    assert!(pycs.len() >= 2, "the fixture has build-time pycs: {pycs:?}");
    let skip = [SMALL.to_string(), pycs[0].clone()].into();
    p.verify_except(&skip).unwrap();
    assert!(p.skipped(&pycs[0]) && !p.skipped(&pycs[1]));
    assert!(matches!(p.raw_entry(&pycs[0]), Err(PayloadError::Unverified(_))));
    assert!(p.raw_entry(&pycs[1]).unwrap().is_some());
}
