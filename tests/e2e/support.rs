//! Test support: real wheels written by the tests themselves (no network), the real
//! `wheelsfx` binary, real interpreters.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use zip::write::SimpleFileOptions;

pub fn wheelsfx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wheelsfx"))
}

/// A wheel to write: files under the root, plus the dist-info that makes it a wheel.
pub struct WheelSpec {
    pub name: &'static str,
    pub version: &'static str,
    pub tag: &'static str,
    pub purelib: bool,
    /// (path, content, executable)
    pub files: Vec<(String, Vec<u8>, bool)>,
    pub entry_points: Option<&'static str>,
    pub requires_python: Option<&'static str>,
    pub requires_dist: Vec<&'static str>,
}

impl WheelSpec {
    pub fn new(name: &'static str, version: &'static str) -> WheelSpec {
        WheelSpec {
            name,
            version,
            tag: "py3-none-any",
            purelib: true,
            files: Vec::new(),
            entry_points: None,
            requires_python: None,
            requires_dist: Vec::new(),
        }
    }

    pub fn file(mut self, path: &str, text: &str) -> WheelSpec {
        self.files.push((path.to_string(), text.as_bytes().to_vec(), false));
        self
    }

    pub fn exec_file(mut self, path: &str, text: &str) -> WheelSpec {
        self.files.push((path.to_string(), text.as_bytes().to_vec(), true));
        self
    }

    pub fn file_name(&self) -> String {
        format!("{}-{}-{}.whl", self.name, self.version, self.tag)
    }

    /// Writes the wheel into `dir`, RECORD hashes and all, and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let dist_info = format!("{}-{}.dist-info", self.name, self.version);
        let mut files = self.files.clone();
        let mut metadata = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
            self.name, self.version
        );
        if let Some(rp) = self.requires_python {
            metadata.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for req in &self.requires_dist {
            metadata.push_str(&format!("Requires-Dist: {req}\n"));
        }
        files.push((format!("{dist_info}/METADATA"), metadata.into_bytes(), false));
        let wheel = format!(
            "Wheel-Version: 1.0\nGenerator: wheelsfx-tests\nRoot-Is-Purelib: {}\nTag: {}\n",
            self.purelib, self.tag
        );
        files.push((format!("{dist_info}/WHEEL"), wheel.into_bytes(), false));
        if let Some(ep) = self.entry_points {
            files.push((format!("{dist_info}/entry_points.txt"), ep.as_bytes().to_vec(), false));
        }
        let mut record = String::new();
        for (path, data, _) in &files {
            record.push_str(&format!(
                "{path},sha256={},{}\n",
                b64(&Sha256::digest(data)),
                data.len()
            ));
        }
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        files.push((format!("{dist_info}/RECORD"), record.into_bytes(), false));

        let path = dir.join(self.file_name());
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (name, data, exec) in &files {
            let mode = if *exec { 0o755 } else { 0o644 };
            zip.start_file(name.as_str(), SimpleFileOptions::default().unix_permissions(mode))
                .unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
        path
    }
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    s
}

/// pip and setuptools wheels for the pip installer, fetched by tests/run.sh (or .ci/run) into
/// $WHEELSFX_TEST_BOOTSTRAP; tests cannot download them themselves.
pub fn bootstrap_dir() -> PathBuf {
    let dir = std::env::var_os("WHEELSFX_TEST_BOOTSTRAP")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/wheelsfx-test/bootstrap"));
    let has = |p: &str| {
        std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with(p)))
            .unwrap_or(false)
    };
    assert!(
        has("pip-") && has("setuptools-"),
        "no pip/setuptools wheels in {}: run tests/run.sh, which fetches them",
        dir.display()
    );
    dir
}

/// Part of what a test covers is absent here (pyenv's interpreters): the test runs with the
/// rest and says what it did not cover; it never counts a missing part as tested in silence.
/// Where `.ci/run` has made the environment complete (`WHEELSFX_TEST_COMPLETE=1`), a missing
/// part fails the test instead.
pub fn not_covered(why: &str) {
    assert!(
        std::env::var_os("WHEELSFX_TEST_COMPLETE").is_none(),
        "cannot run in an environment .ci/run declared complete: {why}"
    );
    println!("not covered here (the test runs without it): {why}");
}

/// The piece a test cannot do without is missing: the test fails saying so. Only tests
/// marked `#[ignore = "needs ..."]` call this; they run when asked for
/// (`tests/run.sh -- --include-ignored`, as `.ci/run` does), never pass without their thing.
pub fn missing(why: &str) -> ! {
    panic!("this test cannot run its real thing here: {why}")
}

/// An interpreter under test: a label and the real binary.
#[derive(Clone, Debug)]
pub struct Python {
    pub label: String,
    pub path: PathBuf,
    pub minor: u32,
}

/// python3 from PATH, and every CPython 3.8+ that `pyenv versions` lists (the real binaries,
/// not the shims). Prints why pyenv interpreters are skipped when there is no pyenv.
pub fn pythons() -> Vec<Python> {
    let mut out = Vec::new();
    let real = |p: &str| -> Option<PathBuf> {
        let o = Command::new(p)
            .args(["-c", "import os,sys; print(os.path.realpath(sys.executable))"])
            .output()
            .ok()?;
        o.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
    };
    if let Some(p) = real("python3") {
        out.push(Python {
            label: "python3".into(),
            minor: minor_of(&p),
            path: p,
        });
    }
    let Ok(o) = Command::new("pyenv").args(["versions", "--bare"]).output() else {
        not_covered("pyenv interpreters: pyenv is not installed");
        return out;
    };
    for v in String::from_utf8_lossy(&o.stdout).lines().map(str::trim) {
        let mut parts = v.split('.');
        let (Some("3"), Some(minor)) = (parts.next(), parts.next().and_then(|m| m.parse::<u32>().ok())) else {
            continue;
        };
        if minor < 8 || v.contains('/') {
            continue;
        }
        let prefix = Command::new("pyenv").args(["prefix", v]).output().unwrap();
        let bin = PathBuf::from(String::from_utf8_lossy(&prefix.stdout).trim()).join("bin/python3");
        if let Some(p) = real(bin.to_str().unwrap()) {
            if !out.iter().any(|x: &Python| x.path == p) {
                out.push(Python {
                    label: format!("pyenv {v}"),
                    minor,
                    path: p,
                });
            }
        }
    }
    out
}

fn minor_of(p: &Path) -> u32 {
    let o = Command::new(p)
        .args(["-c", "import sys; print(sys.version_info[1])"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// Writes an executable file (a modified artifact, to run).
///
/// The bytes go to a plain file first and `install` copies them into place, so this
/// multi-threaded test process never holds a write descriptor on the executable: a child
/// another test forks meanwhile would inherit it until its exec, and running the file then
/// fails with ETXTBSY ("Text file busy"), which CI hit.
pub fn write_exe(path: &Path, bytes: &[u8]) {
    let draft = path.with_extension("draft");
    std::fs::write(&draft, bytes).unwrap();
    copy_exe(&draft, path);
    std::fs::remove_file(&draft).unwrap();
}

/// Copies `from` to an executable `to` in a child process, for the reason [`write_exe`] gives.
pub fn copy_exe(from: &Path, to: &Path) {
    let out = Command::new("install").arg("-m755").arg(from).arg(to).output().unwrap();
    assert!(out.status.success(), "install {from:?} {to:?}: {}", text(&out.stderr));
}

/// The artifact digest of `bytes` (sha256 over the sha256s of 4 MiB chunks, hex), written
/// independently of the library so the tests check the rule rather than restate it.
pub fn artifact_digest(bytes: &[u8]) -> String {
    let mut top = Sha256::new();
    for chunk in bytes.chunks(4 << 20) {
        top.update(Sha256::digest(chunk));
    }
    top.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the zip comment of artifact `bytes` starts: at its chunk index's prefix, or (no
/// index) at the digest line.
pub fn comment_at(bytes: &[u8]) -> usize {
    let tail = bytes.len().saturating_sub(22 + 65535);
    let find = |needle: &[u8]| bytes[tail..].windows(16).rposition(|w| w == needle).map(|i| tail + i);
    find(b"wheelsfx-chunks:")
        .or_else(|| find(b"wheelsfx-sha256:"))
        .expect("a wheelsfx trailer")
}

/// Seals `bytes` again after an edit: the chunk index (when the comment has one) and the
/// digest, for a trailer ending with a `block`-byte signature block. Written from the rule
/// in layout.rs (the covered bytes end with the comment's first prefix), not the library's code.
pub fn reseal(bytes: &mut [u8], block: usize) {
    let hex_at = bytes.len() - block - 64;
    let line_at = hex_at - 16;
    assert_eq!(&bytes[line_at..hex_at], b"wheelsfx-sha256:");
    let covered = comment_at(bytes) + 16;
    let digest = if covered < line_at {
        let chunks: Vec<_> = bytes[..covered].chunks(4 << 20).map(Sha256::digest).collect();
        let index: String = chunks.iter().flatten().map(|b| format!("{b:02x}")).collect();
        assert_eq!(index.len(), line_at - covered, "one index entry per chunk");
        bytes[covered..line_at].copy_from_slice(index.as_bytes());
        let root = Sha256::digest(chunks.concat());
        root.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        artifact_digest(&bytes[..hex_at])
    };
    bytes[hex_at..hex_at + 64].copy_from_slice(digest.as_bytes());
}

/// Runs a command, returning its output; panics with both streams when it fails.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts a refusal: the exit code, a message containing `needle`, and no panic.
pub fn refused(out: &Output, code: i32, needle: &str) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "wanted exit {code}; stderr:\n{err}");
    assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "a panic:\n{err}"
    );
}

/// Nothing at DEST, and nothing of ours beside it: no staging, no lock (a run removes its
/// own), no old tree (deleted in the background: waited for, up to 30 s).
pub fn nothing_left(dest: &Path) {
    assert!(!dest.exists(), "{} exists", dest.display());
    let ours = || -> Vec<String> {
        std::fs::read_dir(dest.parent().unwrap())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains(".wheelsfx-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let start = std::time::Instant::now();
    while ours().iter().any(|n| n.ends_with(".wheelsfx-old")) && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(ours().is_empty(), "left behind: {:?}", ours());
}
