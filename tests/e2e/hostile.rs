//! A generator of malformed artifacts and wheels. Each case asserts the exit code, the
//! message, that DEST does not exist (no staging left either), and that nothing panicked.

use crate::support::*;
use crate::Fixture;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use zip::write::SimpleFileOptions;

/// One payload entry as the generator writes it.
#[derive(Clone)]
pub(crate) struct Ent {
    pub(crate) name: String,
    pub(crate) data: Vec<u8>,
    mode: u32,
    pub(crate) stored: bool,
    /// Raw external attributes (file type bits and all), overriding `mode` in the zip only.
    attrs: Option<u32>,
    symlink: bool,
}

/// The stub and the entries of a real artifact, to rebuild variations of it.
pub(crate) struct Base {
    stub: Vec<u8>,
    pub(crate) manifest: Value,
    pub(crate) entries: Vec<Ent>,
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Base {
    pub(crate) fn of(artifact: &Path) -> Base {
        let bytes = std::fs::read(artifact).unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(artifact).unwrap()).unwrap();
        let stub_len = zip.by_index(0).unwrap().header_start() as usize;
        let mut manifest = String::new();
        zip.by_index(0).unwrap().read_to_string(&mut manifest).unwrap();
        let mut entries = Vec::new();
        for i in 1..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            let stored = f.compression() == zip::CompressionMethod::Stored;
            entries.push(Ent {
                name: f.name().unwrap().to_string(),
                data,
                mode: f.unix_mode().unwrap() & 0o7777,
                stored,
                attrs: None,
                symlink: false,
            });
        }
        Base {
            stub: bytes[..stub_len].to_vec(),
            manifest: serde_json::from_str(&manifest).unwrap(),
            entries,
        }
    }

    /// Replaces entry `name`'s bytes, stored as wheels are (manifest hashes follow in `build`).
    pub(crate) fn replace(&mut self, name: &str, data: Vec<u8>) {
        let e = self
            .entries
            .iter_mut()
            .find(|e| e.name == name)
            .expect("an entry of the base artifact");
        e.data = data;
    }

    pub(crate) fn add(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Ent {
        self.entries.push(Ent {
            name: name.into(),
            data: data.to_vec(),
            mode,
            stored: false,
            attrs: None,
            symlink: false,
        });
        self.entries.last_mut().unwrap()
    }

    /// The artifact: manifest recomputed from the entries (then `tweak`ed), zip written after
    /// the stub, raw bytes `patch`ed, and the trailing digest made valid again, so the checks
    /// behind the digest are what refuses it.
    pub(crate) fn build(&self, tweak: impl FnOnce(&mut Value), patch: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut m = self.manifest.clone();
        for list in ["wheels", "bootstrap_wheels"] {
            for w in m[list].as_array_mut().unwrap() {
                let e = self
                    .entries
                    .iter()
                    .find(|e| e.name == w["file"].as_str().unwrap())
                    .unwrap();
                w["sha256"] = Value::String(hex(&Sha256::digest(&e.data)));
                w["size"] = e.data.len().into();
            }
        }
        let list: Vec<Value> = self
            .entries
            .iter()
            .map(|e| serde_json::json!({"path": e.name, "sha256": hex(&Sha256::digest(&e.data)), "size": e.data.len(), "mode": e.mode}))
            .collect();
        m["entries"] = Value::Array(list);
        tweak(&mut m);
        let mut h = Sha256::new();
        for e in m["entries"].as_array().unwrap() {
            h.update(
                format!(
                    "{}\0{}\0{}\n",
                    e["path"].as_str().unwrap(),
                    e["sha256"].as_str().unwrap(),
                    e["size"]
                )
                .as_bytes(),
            );
        }
        m["digest"] = Value::String(hex(&h.finalize()));

        let mut cur = Cursor::new(self.stub.clone());
        cur.seek(SeekFrom::End(0)).unwrap();
        let mut zip = zip::ZipWriter::new(cur);
        let deflate = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(".wheelsfx/manifest.json", deflate).unwrap();
        zip.write_all(serde_json::to_string(&m).unwrap().as_bytes()).unwrap();
        for e in &self.entries {
            let method = if e.stored {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            let mut opts = deflate.compression_method(method).unix_permissions(e.mode);
            if let Some(a) = e.attrs {
                opts = opts.external_attributes(a);
            }
            if e.symlink {
                zip.add_symlink(e.name.as_str(), "/etc/passwd", opts).unwrap();
            } else {
                zip.start_file(e.name.as_str(), opts).unwrap();
                zip.write_all(&e.data).unwrap();
            }
        }
        zip.set_comment(format!("wheelsfx-sha256:{}", "0".repeat(64))).unwrap();
        let mut bytes = zip.finish().unwrap().into_inner();
        patch(&mut bytes);
        let n = bytes.len() - 64;
        let digest = artifact_digest(&bytes[..n]);
        bytes[n..].copy_from_slice(digest.as_bytes());
        bytes
    }
}

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
        }
        i += 1;
    }
}

/// Runs the artifact `bytes` with `-d DEST ARGS`; asserts a clean refusal.
pub(crate) fn refuses(dir: &Path, label: &str, bytes: &[u8], args: &[&str], code: i32, needle: &str) {
    let exe = dir.join(format!("{label}.sfx"));
    write_exe(&exe, bytes);
    let parent = dir.join(format!("srv-{label}"));
    let dest = parent.join("release");
    let out = Command::new(&exe).arg("-d").arg(&dest).args(args).output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{label}: wanted exit {code}:\n{err}");
    assert!(err.contains(needle), "{label}: stderr lacks {needle:?}:\n{err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("wheelsfx: installing "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "{label}: want one error line (after any progress line):\n{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{label}: {err}"
    );
    nothing_left(&dest);
}

#[test]
fn malformed_payloads_are_refused() {
    let fx = Fixture::new();
    let d = fx.dir.path();
    let base = Base::of(&fx.artifact);
    // The generator itself is sound: an unmodified rebuild installs.
    let good = base.build(|_| {}, |_| {});
    let exe = d.join("rebuilt.sfx");
    write_exe(&exe, &good);
    ok(Command::new(&exe)
        .arg("-d")
        .arg(d.join("rebuilt"))
        .arg("--python")
        .arg(&pythons()[0].path));

    let with = |f: &dyn Fn(&mut Base)| {
        let mut b = Base::of(&fx.artifact);
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            with(&|b| {
                b.add("mysite/../../evil.py", b"x", 0o644);
            })
            .build(|_| {}, |_| {}),
            "'..' path component",
        ),
        (
            "absolute",
            with(&|b| {
                b.add("/tmp/evil.py", b"x", 0o644);
            })
            .build(|_| {}, |_| {}),
            "absolute",
        ),
        (
            "symlink",
            with(&|b| {
                b.add("mysite/link", b"/etc/passwd", 0o777).symlink = true;
            })
            .build(|_| {}, |_| {}),
            "not a regular file",
        ),
        (
            "fifo",
            with(&|b| {
                b.add("mysite/fifo", b"", 0o644).attrs = Some(0o010644 << 16);
            })
            .build(|_| {}, |_| {}),
            "not a regular file",
        ),
        (
            "device",
            with(&|b| {
                b.add("mysite/dev", b"", 0o644).attrs = Some(0o020644 << 16);
            })
            .build(|_| {}, |_| {}),
            "not a regular file",
        ),
        (
            "duplicate",
            with(&|b| {
                b.add("mysite/dupA.txt", b"a", 0o644);
                b.add("mysite/dupB.txt", b"b", 0o644);
            })
            .build(|_| {}, |bytes| replace_all(bytes, b"dupB.txt", b"dupA.txt")),
            "same name",
        ),
        (
            "not-utf8",
            with(&|b| {
                b.add("mysite/badXname.txt", b"a", 0o644);
            })
            .build(|_| {}, |bytes| replace_all(bytes, b"badXname", b"bad\xffname")),
            "not UTF-8",
        ),
        (
            "size-lies",
            base.build(
                |m| {
                    let n = m["entries"][3]["size"].as_u64().unwrap();
                    m["entries"][3]["size"] = (n + 1).into();
                },
                |_| {},
            ),
            "declares",
        ),
        (
            "extra-in-manifest",
            base.build(
                |m| {
                    m["entries"]
                        .as_array_mut()
                        .unwrap()
                        .push(serde_json::json!({"path": "mysite/ghost.py", "sha256": "0".repeat(64), "size": 1, "mode": 420}));
                },
                |_| {},
            ),
            "the manifest lists",
        ),
        (
            "reordered",
            base.build(
                |m| {
                    m["entries"].as_array_mut().unwrap().swap(0, 1);
                },
                |_| {},
            ),
            "but the manifest lists",
        ),
        (
            "wheel-hash",
            base.build(
                |m| {
                    let bad = "1".repeat(64);
                    for e in m["entries"].as_array_mut().unwrap() {
                        if e["path"].as_str().unwrap().starts_with("wheels/greet") {
                            e["sha256"] = bad.clone().into();
                        }
                    }
                    for w in m["wheels"].as_array_mut().unwrap() {
                        if w["file"].as_str().unwrap().starts_with("wheels/greet") {
                            w["sha256"] = bad.clone().into();
                        }
                    }
                },
                |_| {},
            ),
            "does not match its sha256 in the manifest",
        ),
        (
            "tree-hash",
            base.build(
                |m| {
                    for e in m["entries"].as_array_mut().unwrap() {
                        if e["path"] == "mysite/manage.py" {
                            e["sha256"] = "2".repeat(64).into();
                        }
                    }
                },
                |_| {},
            ),
            "entry mysite/manage.py does not match",
        ),
        (
            "zip-bomb",
            with(&|b| {
                b.add("mysite/bomb.bin", &vec![0u8; 64 << 20], 0o644);
            })
            .build(|_| {}, |_| {}),
            "like a zip bomb",
        ),
        (
            "appended",
            {
                let mut g = good.clone();
                g.extend_from_slice(b"trailing junk");
                g
            },
            "has data appended",
        ),
    ];
    for (label, bytes, needle) in &cases {
        refuses(d, label, bytes, &[], 3, needle);
    }
    refuses(
        d,
        "total-cap",
        &good,
        &["--max-unpacked-size", "1000"],
        3,
        "over the limit",
    );
}

#[test]
fn every_truncation_and_bit_flip_is_refused() {
    let fx = Fixture::new();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    let payload = Base::of(&fx.artifact).stub.len();
    let span = bytes.len() - payload;
    for k in 0..16 {
        let cut = payload + span * k / 16;
        refuses(
            fx.dir.path(),
            &format!("cut{k}"),
            &bytes[..cut.max(payload + 1)],
            &[],
            3,
            "artifact",
        );
    }
    for k in 0..40 {
        let mut flipped = bytes.clone();
        let at = payload + (span - 1) * k / 39;
        flipped[at] ^= 1 << (k % 8);
        refuses(
            fx.dir.path(),
            &format!("flip{k}"),
            &flipped,
            &[],
            3,
            "is not a valid wheelsfx artifact",
        );
    }
}

#[test]
fn oversized_entries_install_when_the_limit_is_raised_and_setuid_is_stripped() {
    let fx = Fixture::new();
    let mut b = Base::of(&fx.artifact);
    b.add("mysite/bomb.bin", &vec![0u8; 64 << 20], 0o644);
    b.add("mysite/suid.sh", b"#!/bin/sh\necho hi\n", 0o4755);
    let bytes = b.build(|_| {}, |_| {});
    let exe = fx.dir.path().join("big.sfx");
    write_exe(&exe, &bytes);
    let dest = fx.dest("big");
    ok(Command::new(&exe)
        .arg("-d")
        .arg(&dest)
        .args(["--max-ratio", "100000", "--python"])
        .arg(&pythons()[0].path));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join("mysite/suid.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7000, 0, "setuid/setgid survived: {mode:o}");
    assert_eq!(mode & 0o100, 0o100, "the executable bit was lost: {mode:o}");
}
