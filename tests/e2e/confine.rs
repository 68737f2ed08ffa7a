//! Confinement: nothing an artifact holds writes outside its release, replaces what the venv
//! owns, or becomes code or arguments unchecked. Each hostile wheel is refused by the packer
//! (exit 1) and, forged into an artifact with a valid digest, by the stub with both
//! installers and by --verify (exit 3), with the same sentence, DEST absent.

use crate::hostile::{hex, refuses, Base};
use crate::support::*;
use crate::{standard_wheels, Fixture};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const GREET: &str = "greet-1.0-py3-none-any.whl";

/// A `greet 1.0` wheel that is hostile but self-consistent (RECORD and all).
fn greet_with(files: &[(&str, &str)], entry_points: Option<&'static str>) -> WheelSpec {
    let mut w = WheelSpec::new("greet", "1.0").file("greet/__init__.py", "def main():\n    pass\n");
    for (path, text) in files {
        w = w.file(path, text);
    }
    w.entry_points = entry_points;
    w
}

/// Rewrites a wheel's zip through `f`, which edits the (name, data) list (RECORD untouched),
/// writing each entry with `options(name)`.
pub(crate) fn rewrite_wheel(
    path: &Path,
    f: &dyn Fn(&mut Vec<(String, Vec<u8>)>),
    options: &dyn Fn(&str) -> zip::write::FullFileOptions<'static, 'static>,
) {
    let mut files = Vec::new();
    {
        let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        for i in 0..z.len() {
            let mut e = z.by_index(i).unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            files.push((e.name().unwrap().to_string(), data));
        }
    }
    f(&mut files);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in &files {
        zip.start_file(name.as_str(), options(name)).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

type Edit = Box<dyn Fn(&mut Vec<(String, Vec<u8>)>)>;

/// How a case makes its hostile `greet` wheel.
enum Bad {
    Spec(WheelSpec),
    Rewrite(Edit),
    /// `greet/__init__.py` gets an Info-ZIP Unicode Path field (0x7075), which the zip crate
    /// and Python's zipfile read differently.
    UnicodePath,
}

/// CRC-32 (IEEE), for the Unicode Path field's check of the header name.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Plain options, but `greet/__init__.py` gets a Unicode Path field naming itself.
fn unicode_path_field(name: &str) -> zip::write::FullFileOptions<'static, 'static> {
    let mut opts = zip::write::FullFileOptions::default();
    if name == "greet/__init__.py" {
        let mut field = vec![1u8];
        field.extend_from_slice(&crc32(name.as_bytes()).to_le_bytes());
        field.extend_from_slice(name.as_bytes());
        opts.add_extra_field(0x7075, field, false).unwrap();
    }
    opts
}

fn bad_wheels() -> Vec<(&'static str, Bad, &'static str)> {
    let owned = "which the venv itself owns";
    let spec = |files: &[(&str, &str)], eps| Bad::Spec(greet_with(files, eps));
    let edit = |f: Edit| Bad::Rewrite(f);
    vec![
        (
            "script-python",
            spec(&[], Some("[console_scripts]\npython = greet:main\n")),
            owned,
        ),
        (
            "script-python3.11",
            spec(&[], Some("[console_scripts]\npython3.11 = greet:main\n")),
            owned,
        ),
        (
            "script-activate",
            spec(&[], Some("[gui_scripts]\nactivate = greet:main\n")),
            owned,
        ),
        (
            "data-scripts-python3",
            spec(&[("greet-1.0.data/scripts/python3", "#!python\n")], None),
            owned,
        ),
        (
            "data-data-bin-python",
            spec(&[("greet-1.0.data/data/bin/python", "x")], None),
            owned,
        ),
        (
            "data-pyvenv-cfg",
            spec(&[("greet-1.0.data/data/pyvenv.cfg", "home = /tmp\n")], None),
            owned,
        ),
        (
            "data-lib64",
            spec(&[("greet-1.0.data/data/lib64/x.py", "x")], None),
            owned,
        ),
        ("app-pth", spec(&[("mysite.pth", "import os\n")], None), owned),
        (
            "loadenv-pth",
            spec(&[("greet-1.0.data/purelib/loadenv-init.pth", "import os\n")], None),
            owned,
        ),
        (
            "ep-code",
            spec(&[], Some("[console_scripts]\nx = os;import y:f\n")),
            "entry point",
        ),
        (
            "ep-space",
            spec(&[], Some("[console_scripts]\nx = greet:main; evil()\n")),
            "entry point",
        ),
        (
            "ep-name-dash",
            spec(&[], Some("[console_scripts]\n-rf = greet:main\n")),
            "entry point name",
        ),
        (
            "ep-name-shell",
            spec(&[], Some("[console_scripts]\na;b$(x) = greet:main\n")),
            "entry point name",
        ),
        (
            "ep-name-tab",
            spec(&[], Some("[console_scripts]\na\tb = greet:main\n")),
            "entry point name",
        ),
        (
            "record-dotdot",
            spec(&[("../evil.py", "x")], None),
            "'..' path component",
        ),
        (
            "ep-double-bracket",
            spec(
                &[],
                Some("[console_scripts]\nok = greet:main\n[[console_scripts]]\n../../x = os:getcwd\n"),
            ),
            "entry point",
        ),
        (
            "ep-semicolon",
            spec(&[], Some("[console_scripts]\n;../../x = os:getcwd\n")),
            "entry point",
        ),
        (
            "other-data-dir",
            spec(&[("other.data/scripts/activate", "echo pwned\n")], None),
            "inside a .data directory that is not",
        ),
        (
            "pip-launcher",
            spec(&[], Some("[console_scripts]\npip3.11 = greet:main\n")),
            "pip's launcher",
        ),
        (
            "record-no-hash",
            edit(Box::new(|f| {
                for (n, d) in f.iter_mut() {
                    if n == "greet-1.0.dist-info/RECORD" {
                        let text = String::from_utf8(d.clone()).unwrap();
                        let fixed: Vec<String> = text
                            .lines()
                            .map(|l| match l.starts_with("greet/__init__.py,") {
                                true => "greet/__init__.py,,".to_string(),
                                false => l.to_string(),
                            })
                            .collect();
                        *d = (fixed.join("\n") + "\n").into_bytes();
                    }
                }
            })),
            "without a hash",
        ),
        ("unicode-path-field", Bad::UnicodePath, "Unicode Path"),
        (
            "same-path-twice",
            spec(
                &[
                    ("greet/x.py", "A = 1\n"),
                    ("greet-1.0.data/purelib/greet/x.py", "A = 2\n"),
                ],
                None,
            ),
            "install to the same path",
        ),
        (
            "data-unknown-scheme",
            spec(&[("greet-1.0.data/etc/passwd", "x")], None),
            "unknown .data scheme",
        ),
        (
            "unlisted",
            edit(Box::new(|f| f.push(("greet/extra.py".into(), b"x".to_vec())))),
            "which its RECORD does not list",
        ),
        (
            "missing",
            edit(Box::new(|f| f.retain(|(n, _)| n != "greet/__init__.py"))),
            "greet/__init__.py",
        ),
        (
            "tampered",
            edit(Box::new(|f| {
                for (n, d) in f.iter_mut() {
                    if n == "greet/__init__.py" {
                        d.extend_from_slice(b"\nimport os; os.system('evil')\n");
                    }
                }
            })),
            "does not match its RECORD",
        ),
        (
            "no-record",
            edit(Box::new(|f| f.retain(|(n, _)| n != "greet-1.0.dist-info/RECORD"))),
            "RECORD",
        ),
    ]
}

fn sha256_file(p: &Path) -> String {
    hex(&Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn hostile_wheels_are_refused_by_the_packer_the_stub_and_verify() {
    let python = std::fs::canonicalize(&pythons()[0].path).unwrap();
    let python_before = sha256_file(&python);
    let mut wheels = standard_wheels();
    wheels.truncate(1);
    let fx = Fixture::with_wheels(wheels);
    let base_artifact = fx.dir.path().join("good.sfx");
    std::fs::copy(&fx.artifact, &base_artifact).unwrap();
    for (label, bad, needle) in bad_wheels() {
        let dir = fx.dir.path().join(format!("bad-{label}"));
        std::fs::create_dir_all(&dir).unwrap();
        let wheel: PathBuf = match &bad {
            Bad::Spec(w) => w.write(&dir),
            Bad::Rewrite(f) => {
                let p = greet_with(&[], None).write(&dir);
                rewrite_wheel(&p, f.as_ref(), &|_| Default::default());
                p
            }
            Bad::UnicodePath => {
                let p = greet_with(&[], None).write(&dir);
                rewrite_wheel(&p, &|_| {}, &unicode_path_field);
                p
            }
        };
        // The packer refuses it first, naming the wheel, with the installer's sentence.
        std::fs::copy(&wheel, fx.dir.path().join("wheelhouse").join(GREET)).unwrap();
        let out = fx.build_command(&dir.join("out.sfx")).output().unwrap();
        refused(&out, 1, needle);
        assert!(text(&out.stderr).contains(GREET), "{label}: {}", text(&out.stderr));
        assert!(!dir.join("out.sfx").exists(), "{label}: the packer wrote an artifact");
        // Forged past the packer, with a valid digest: the stub refuses it too.
        let mut base = Base::of(&base_artifact);
        base.replace(&format!("wheels/{GREET}"), std::fs::read(&wheel).unwrap());
        let bytes = base.build(|_| {}, |_| {});
        refuses(&dir, label, &bytes, &[], 3, needle);
        refuses(
            &dir,
            &format!("{label}-pip"),
            &bytes,
            &["--installer", "pip"],
            3,
            needle,
        );
        let verify = Command::new(dir.join(format!("{label}.sfx")))
            .arg("--verify")
            .output()
            .unwrap();
        refused(&verify, 3, needle);
    }
    assert_eq!(sha256_file(&python), python_before, "the real interpreter changed");
}

#[test]
fn manifest_strings_and_entries_outside_the_layout_are_refused() {
    let fx = Fixture::new();
    let d = fx.dir.path();
    let base = Base::of(&fx.artifact);
    let set = |path: &'static [&'static str], value: &'static str| {
        move |m: &mut Value| {
            let mut v = &mut *m;
            for k in path {
                v = match k.parse::<usize>() {
                    Ok(i) => &mut v[i],
                    Err(_) => &mut v[*k],
                };
            }
            *v = Value::String(value.into());
        }
    };
    let cases: Vec<(&str, Vec<u8>, &[&str], &str)> = vec![
        (
            "app-abs",
            base.build(set(&["app", "name"], "/tmp/evil"), |_| {}),
            &[],
            "app name",
        ),
        (
            "app-dotdot",
            base.build(set(&["app", "name"], "../evil"), |_| {}),
            &[],
            "app name",
        ),
        (
            "app-shell",
            base.build(set(&["app", "name"], "x$(touch f)"), |_| {}),
            &[],
            "app name",
        ),
        (
            "app-reserved",
            base.build(set(&["app", "name"], "venv"), |_| {}),
            &[],
            "reserved",
        ),
        (
            "dist-option",
            base.build(set(&["wheels", "0", "distribution"], "--target=/tmp/x"), |_| {}),
            &["--installer", "pip"],
            "PEP 508",
        ),
        (
            "version-option",
            base.build(set(&["wheels", "0", "version"], "--log=/tmp/x"), |_| {}),
            &["--installer", "pip"],
            "PEP 440",
        ),
        (
            "sha-not-hex",
            base.build(set(&["wheels", "0", "sha256"], "zz"), |_| {}),
            &[],
            "hex",
        ),
        (
            "target-path",
            base.build(
                |m| m["target"]["python_versions"] = serde_json::json!(["3/../../../tmp/evilpy"]),
                |_| {},
            ),
            &[],
            "not 3.N",
        ),
    ];
    for (label, bytes, args, needle) in cases {
        refuses(d, label, &bytes, args, 3, needle);
    }
    for (label, name) in [
        ("venv-pth", "venv/lib/python3.11/site-packages/zz.pth"),
        ("env-json", "environment.json"),
        ("receipt", ".wheelsfx/receipt.json"),
    ] {
        let mut b = Base::of(&fx.artifact);
        b.add(name, b"import os; os.system('touch /tmp/wheelsfx-pwned')\n", 0o644);
        refuses(d, label, &b.build(|_| {}, |_| {}), &[], 3, "outside the layout");
    }
    for (label, name, needle) in [
        ("wheel-subdir", "wheels/sub/x.whl", "directly in wheels/"),
        ("static-unnumbered", "static.in/x/f.css", "numbered static.in/N/"),
    ] {
        let mut b = Base::of(&fx.artifact);
        b.add(name, b"x", 0o644);
        refuses(d, label, &b.build(|_| {}, |_| {}), &[], 3, needle);
    }
}

#[test]
fn one_distribution_in_wheels_and_bootstrap_is_refused() {
    let fx = Fixture::new();
    let mut b = Base::of(&fx.artifact);
    let m = b.manifest.clone();
    let boot = m["bootstrap_wheels"].as_array().unwrap()[0].clone();
    let file = boot["file"].as_str().unwrap().to_string();
    let bytes = b.entries.iter().find(|e| e.name == file).unwrap().data.clone();
    let copy = file.replace("bootstrap_wheels/", "wheels/");
    b.add(&copy, &bytes, 0o644).stored = true;
    let forged = b.build(
        |m| {
            let mut w = boot.clone();
            w["file"] = Value::String(copy.clone());
            m["wheels"].as_array_mut().unwrap().push(w);
        },
        |_| {},
    );
    refuses(
        fx.dir.path(),
        "two-homes",
        &forged,
        &[],
        3,
        "one wheel per distribution",
    );
}

/// Two wheels ship the same path: the later one in install order writes it, whichever
/// installer runs, every time; the build warns naming both.
#[test]
fn a_path_two_wheels_ship_has_one_deterministic_writer() {
    let mut alpha = WheelSpec::new("alpha", "1.0")
        .file("shared/__init__.py", "WHO = 'alpha'\n")
        .file("alpha.py", "def main():\n    print('alpha')\n");
    alpha.entry_points = Some("[console_scripts]\nshared-tool = alpha:main\n");
    let mut beta = WheelSpec::new("beta", "1.0")
        .file("shared/__init__.py", "WHO = 'beta'\n")
        .file("beta.py", "def main():\n    print('beta')\n");
    beta.entry_points = Some("[console_scripts]\nshared-tool = beta:main\n");
    let fx = Fixture::with_wheels(vec![alpha, beta]);
    let out = fx.build(&[]);
    let warn = text(&out.stderr);
    assert!(
        warn.contains("site-packages/shared/__init__.py") && warn.contains("alpha-1.0") && warn.contains("beta-1.0"),
        "no warning naming both wheels and the path:\n{warn}"
    );
    let py = &pythons()[0];
    for (i, installer) in ["native", "native", "native", "pip"].iter().enumerate() {
        let dest = fx.dest(&format!("collide-{i}"));
        fx.deploy(&dest, &py.path, &["--installer", installer]);
        let who = ok(Command::new(dest.join("venv/bin/python")).args(["-c", "import shared; print(shared.WHO)"]));
        assert_eq!(text(&who.stdout).trim(), "beta", "{installer} run {i}");
        let tool = ok(&mut Command::new(dest.join("venv/bin/shared-tool")));
        assert_eq!(text(&tool.stdout).trim(), "beta", "{installer} run {i}: launcher");
    }
}

/// `#!python3`, `#!python3.12 -u`, `#!python -u` are the placeholder too (as for pip and uv):
/// the whole line becomes the venv's shebang, and the scripts run.
#[test]
fn every_python_placeholder_shebang_is_rewritten() {
    let heads = ["#!python3", "#!python3.12 -u", "#!python -u", "#!pythonw"];
    let mut w = WheelSpec::new("scripty", "1.0").file("scripty.py", "X = 1\n");
    for (i, head) in heads.iter().enumerate() {
        w = w.exec_file(
            &format!("scripty-1.0.data/scripts/s{i}"),
            &format!("{head}\nimport sys, scripty\nprint(sys.prefix)\n"),
        );
    }
    let fx = Fixture::with_wheels(vec![w]);
    let py = &pythons()[0];
    for installer in ["native", "pip"] {
        let dest = fx.dest(&format!("shebang-{installer}"));
        fx.deploy(&dest, &py.path, &["--installer", installer]);
        for (i, head) in heads.iter().enumerate() {
            let out = ok(&mut Command::new(dest.join(format!("venv/bin/s{i}"))));
            assert_eq!(
                text(&out.stdout).trim(),
                dest.join("venv").to_str().unwrap(),
                "{installer}: {head}"
            );
        }
    }
}
