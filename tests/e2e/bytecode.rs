//! Build-time bytecode: pycs packed by the packer, installed as files by the stub (read-only,
//! in RECORD), used by imports without a single new file; a magic mismatch falls back to
//! deploy-time compiling and says why; builds are reproducible.

use crate::hostile::Base;
use crate::support::*;
use crate::{standard_wheels, Fixture};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The standard wheels plus one whose function raises, and an app module that raises.
fn fixture() -> Fixture {
    let mut wheels = standard_wheels();
    wheels.push(WheelSpec::new("boom", "1.0").file("boom/__init__.py", "def fail():\n    raise ValueError('boom')\n"));
    let fx = Fixture::with_wheels(wheels);
    std::fs::write(
        fx.app().join("mysite/oops.py"),
        "def fail():\n    raise KeyError('oops')\n",
    )
    .unwrap();
    fx.build(&[]);
    fx
}

fn python3() -> Python {
    pythons().into_iter().find(|p| p.label == "python3").expect("python3")
}

fn receipt(dest: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dest.join(".wheelsfx/receipt.json")).unwrap()).unwrap()
}

fn manifest(artifact: &Path) -> Value {
    let out = ok(Command::new(artifact).arg("--inspect").arg("--json"));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.get("manifest").cloned().unwrap_or(v)
}

/// Every file under `dir`: path -> (size, mtime, inode).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, u64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.path().symlink_metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), (m.len(), m.mtime(), m.ino()));
            }
        }
    }
    out
}

fn chmod_readonly(dir: &Path) {
    ok(Command::new("chmod").arg("-R").arg("a-w").arg(dir));
}

#[test]
fn build_time_pycs_are_installed_and_imports_write_nothing() {
    let fx = fixture();
    let py = python3();
    let dest = fx.dest("r1");
    fx.deploy(&dest, &py.path, &[]);
    let r = receipt(&dest);
    assert_eq!(r["bytecode"]["source"], "build", "{r}");
    let tag = r["bytecode"]["cache_tag"].as_str().unwrap().to_string();
    let site = dest.join(format!("venv/lib/python3.{}/site-packages", py.minor));
    let pyc = site.join(format!("greet/__pycache__/__init__.{tag}.pyc"));
    let mode = pyc.metadata().unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o444, "a build-time pyc is read-only");
    let record = std::fs::read_to_string(site.join("greet-1.0.dist-info/RECORD")).unwrap();
    let line = format!("greet/__pycache__/__init__.{tag}.pyc,sha256=");
    assert!(record.contains(&line), "RECORD lists the pyc with its hash:\n{record}");
    assert!(dest.join(format!("mysite/mysite/__pycache__/oops.{tag}.pyc")).is_file());
    assert!(dest.join(format!("mysite/__pycache__/manage.{tag}.pyc")).is_file());

    chmod_readonly(&site);
    chmod_readonly(&dest.join("mysite"));
    let before = snapshot(&dest);
    let python = dest.join("venv/bin/python");
    ok(Command::new(&python).args(["-c", "import greet, fastthing, boom, mysite, mysite.oops, loadenv"]));
    // A wheel module's and an app module's traceback name the installed sources.
    let wheel = Command::new(&python)
        .args(["-c", "import boom; boom.fail()"])
        .output()
        .unwrap();
    let shown = format!("File \"{}\"", site.join("boom/__init__.py").display());
    assert!(text(&wheel.stderr).contains(&shown), "{}", text(&wheel.stderr));
    let app = Command::new(&python)
        .args(["-c", "import mysite.oops as o; o.fail()"])
        .output()
        .unwrap();
    let shown = format!("File \"{}\"", dest.join("mysite/mysite/oops.py").display());
    assert!(text(&app.stderr).contains(&shown), "{}", text(&app.stderr));
    assert_eq!(before, snapshot(&dest), "an import wrote or replaced a file under DEST");

    // RECORD lists the pycs, so pip uninstall removes them.
    ok(Command::new("chmod").arg("-R").arg("u+w").arg(&site));
    ok(Command::new(&python).args(["-m", "pip", "uninstall", "-y", "-q", "greet"]));
    assert!(
        !pyc.exists() && !site.join("greet").exists(),
        "pip uninstall left greet's pyc"
    );
}

#[test]
fn a_magic_mismatch_falls_back_to_compiling_at_deploy_and_says_why() {
    let fx = fixture();
    let py = python3();
    let forged = fx.dir.path().join("forged.sfx");
    let bytes = Base::of(&fx.artifact).build(|m| m["bytecode"][0]["magic"] = "00000000".into(), |_| {});
    write_exe(&forged, &bytes);
    let dest = fx.dest("forged");
    let dry = |artifact: &Path| -> Value {
        let out = ok(Command::new(artifact)
            .arg("-d")
            .arg(&dest)
            .arg("--python")
            .arg(&py.path)
            .args(["--dry-run", "--json"]));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(dry(&fx.artifact)["bytecode"]["source"], "build");
    assert_eq!(dry(&forged)["bytecode"]["source"], "deploy");
    let out = ok(Command::new(&forged).arg("-d").arg(&dest).arg("--python").arg(&py.path));
    let err = text(&out.stderr);
    assert!(
        err.contains("byte-compiling at deploy") && err.contains("magic 00000000"),
        "{err}"
    );
    let r = receipt(&dest);
    assert_eq!(r["bytecode"]["source"], "deploy", "{r}");
    let tag = r["bytecode"]["cache_tag"].as_str().unwrap();
    let site = dest.join(format!("venv/lib/python3.{}/site-packages", py.minor));
    assert!(site.join(format!("greet/__pycache__/__init__.{tag}.pyc")).is_file());
}

#[test]
fn a_pyc_without_its_source_is_refused() {
    let fx = fixture();
    let py = python3();
    let m = manifest(&fx.artifact);
    let tag = m["bytecode"][0]["cache_tag"].as_str().unwrap().to_string();
    let cases = [
        format!("bytecode/{tag}/wheels/greet-1.0-py3-none-any.whl/nothere/__pycache__/x.{tag}.pyc"),
        format!("bytecode/{tag}/app/nothere/__pycache__/x.{tag}.pyc"),
    ];
    for (i, name) in cases.iter().enumerate() {
        let mut base = Base::of(&fx.artifact);
        base.add(name, b"not a pyc", 0o644);
        let bad = fx.dir.path().join(format!("bad{i}.sfx"));
        write_exe(&bad, &base.build(|_| {}, |_| {}));
        let dest = fx.dest(&format!("bad{i}"));
        let out = Command::new(&bad)
            .arg("-d")
            .arg(&dest)
            .arg("--python")
            .arg(&py.path)
            .output()
            .unwrap();
        refused(&out, 3, "source");
        nothing_left(&dest);
    }
}

/// The bytecode entries of an artifact: path -> sha256.
fn pycs(artifact: &Path) -> BTreeMap<String, String> {
    let m = manifest(artifact);
    m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"].as_str().unwrap().starts_with("bytecode/"))
        .map(|e| (e["path"].as_str().unwrap().into(), e["sha256"].as_str().unwrap().into()))
        .collect()
}

#[test]
fn two_builds_give_the_same_bytecode_and_no_compile_packs_none() {
    let fx = fixture();
    let again = fx.dir.path().join("again.sfx");
    ok(fx.build_command(&again).arg("--no-check-cache"));
    let (a, b) = (pycs(&fx.artifact), pycs(&again));
    assert!(a.keys().any(|k| k.contains("/app/mysite/__pycache__/oops.")), "{a:?}");
    assert!(a
        .keys()
        .any(|k| k.contains("/wheels/greet-1.0-py3-none-any.whl/greet/__pycache__/")));
    assert_eq!(a, b, "two builds of the same inputs packed different bytecode");

    let none = fx.dir.path().join("none.sfx");
    ok(fx.build_command(&none).arg("--no-compile"));
    assert!(pycs(&none).is_empty() && manifest(&none).get("bytecode").is_none());
    let py = python3();
    let dest = fx.dest("none");
    ok(Command::new(&none).arg("-d").arg(&dest).arg("--python").arg(&py.path));
    assert_eq!(receipt(&dest)["bytecode"]["source"], "deploy");
}

#[test]
#[ignore = "needs the shared corpus (PyPI) and CPython 3.11; CI runs it"]
fn the_corpus_imports_from_build_time_pycs_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let (py, artifact) = crate::corpus::corpus_artifact(dir.path());
    let dest = dir.path().join("srv/cms");
    ok(Command::new(&artifact)
        .arg("-d")
        .arg(&dest)
        .arg("--python")
        .arg(&py.path));
    assert_eq!(receipt(&dest)["bytecode"]["source"], "build");
    chmod_readonly(&dest.join("venv/lib"));
    chmod_readonly(&dest.join("cms"));
    let before = snapshot(&dest);
    let imports = "import cms, django, django.db.models, wagtail, rest_framework, PIL.Image, lxml.etree, \
                   boto3, pydantic, grpc, psycopg2, jinja2, requests, openpyxl, pip";
    ok(Command::new(dest.join("venv/bin/python")).args(["-c", imports]));
    assert_eq!(before, snapshot(&dest), "an import wrote or replaced a file under DEST");
}
