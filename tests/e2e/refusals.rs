//! Refusals: each is one clear sentence with its own exit code, and DEST is never created.

use crate::support::*;
use crate::{standard_wheels, Fixture};
use std::process::Command;

#[test]
fn an_existing_dest_is_refused_unless_forced() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let dest = fx.dest("exists");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("old-release"), "x").unwrap();
    let out = fx.run(&["-d", dest.to_str().unwrap()]);
    refused(&out, 6, "already exists and is not a wheelsfx release");
    assert!(dest.join("old-release").exists());
    fx.deploy(&dest, &py.path, &["--force"]);
    assert!(!dest.join("old-release").exists() && dest.join("venv/bin/python").exists());
    // The replaced tree is deleted in the background; nothing else of ours stays beside DEST.
    nothing_left(&fx.dest("absent"));
}

#[test]
fn no_fitting_interpreter_is_refused_before_writing() {
    let mut wheels = standard_wheels();
    let mut future = WheelSpec::new("futureonly", "1.0").file("futureonly.py", "");
    future.tag = "cp399-cp399-manylinux_2_17_x86_64";
    wheels.push(future);
    let fx = Fixture::with_wheels(wheels);
    let dest = fx.dest("never");
    let out = fx.run(&["-d", dest.to_str().unwrap()]);
    refused(&out, 4, "futureonly-1.0-cp399-cp399-manylinux_2_17_x86_64.whl");
    let err = text(&out.stderr);
    assert!(
        err.contains("python3.99: not found on PATH") && err.contains("python3"),
        "interpreters tried are listed: {err}"
    );
    assert!(
        !dest.exists() && !dest.parent().unwrap().exists(),
        "nothing may be written"
    );

    let mut old = WheelSpec::new("needsnew", "1.0").file("needsnew.py", "");
    old.requires_python = Some(">=4.0");
    let fx = Fixture::with_wheels(vec![old]);
    refused(
        &fx.run(&["-d", fx.dest("never").to_str().unwrap()]),
        4,
        "Requires-Python >=4.0",
    );
}

#[test]
fn a_corrupt_artifact_is_refused_and_dest_untouched() {
    let fx = Fixture::new();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    // A flipped bit inside a stored wheel: the zip still opens, the sha256 does not match.
    let (start, len) = {
        let mut z = zip::ZipArchive::new(std::fs::File::open(&fx.artifact).unwrap()).unwrap();
        let f = z.by_name("wheels/greet-1.0-py3-none-any.whl").unwrap();
        (f.data_start().unwrap() as usize, f.compressed_size() as usize)
    };
    let mut flipped = bytes.clone();
    flipped[start + len / 2] ^= 0x10;
    let bad = fx.dir.path().join("flipped.sfx");
    write_exe(&bad, &flipped);
    let dest = fx.dest("corrupt");
    let out = Command::new(&bad)
        .arg("-d")
        .arg(&dest)
        .args(["--installer", "pip"])
        .output()
        .unwrap();
    refused(&out, 3, "do not match the sha256 it ends with");
    assert!(!dest.exists());
    refused(
        &Command::new(&bad).arg("--verify").output().unwrap(),
        3,
        "corrupt or has been tampered with",
    );

    let truncated = fx.dir.path().join("truncated.sfx");
    write_exe(&truncated, &bytes[..bytes.len() - 100]);
    refused(
        &Command::new(&truncated).arg("-d").arg(&dest).output().unwrap(),
        3,
        "truncated or damaged, or has data appended",
    );
    assert!(!dest.exists());
}

#[test]
fn bad_usage_is_exit_2() {
    let fx = Fixture::new();
    refused(&fx.run(&[]), 2, "pass -d DEST");
    refused(&fx.run(&["--bogus"]), 2, "--bogus");
    // With --json, a usage mistake is one JSON object too (Ansible parses stdout).
    let json = fx.run(&["-d", "x", "--bogus", "--json"]);
    assert_eq!(json.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!((v["ok"].as_bool(), v["exit_code"].as_i64()), (Some(false), Some(2)));
    assert!(v["error"].as_str().unwrap().contains("--bogus"), "{v}");
    assert!(ok(&mut Command::new(&fx.artifact).arg("--help")).stdout.len() > 100);
    let env = fx.dir.path().join("env.json");
    std::fs::write(&env, r#"{"A": 1}"#).unwrap();
    let dest = fx.dest("x");
    refused(
        &fx.run(&["-d", dest.to_str().unwrap(), "--env-file", env.to_str().unwrap()]),
        2,
        "values are all strings",
    );
    assert!(!dest.exists());
}

/// `wheelsfx build` on a wheelhouse; returns the output (not asserted).
fn pack(wheels: &[WheelSpec]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let house = dir.path().join("house");
    std::fs::create_dir_all(&house).unwrap();
    for w in wheels {
        w.write(&house);
    }
    wheelsfx()
        .args(["build", "--app"])
        .arg(&app)
        .arg("--wheelhouse")
        .arg(&house)
        .arg("--bootstrap-wheels")
        .arg(bootstrap_dir())
        .arg("-o")
        .arg(dir.path().join("out.sfx"))
        .output()
        .unwrap()
}

#[test]
fn the_packer_refuses_an_incomplete_or_conflicting_wheel_set() {
    let mut needs = WheelSpec::new("needy", "1.0").file("needy.py", "");
    needs.requires_dist = vec!["missingdep>=1", "fastthing>=3", "onlyforextra; extra == 'fancy'"];
    let mut wheels = standard_wheels();
    wheels.push(needs);
    let out = pack(&wheels);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("2 unmet requirements"), "{err}");
    assert!(
        err.contains("needy 1.0 requires missingdep>=1") && err.contains("the set has no missingdep"),
        "{err}"
    );
    assert!(err.contains("the set has fastthing 2.0"), "{err}");
    assert!(
        !err.contains("onlyforextra"),
        "requirements behind an extra are not checked: {err}"
    );

    let mut satisfied = WheelSpec::new("needy", "1.0").file("needy.py", "");
    satisfied.requires_dist = vec!["fastthing>=2,<3", "greet", "backport; python_version < '3'"];
    let mut wheels = standard_wheels();
    wheels.push(satisfied);
    let out = pack(&wheels);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut twin = WheelSpec::new("greet", "2.0").file("greet/__init__.py", "");
    twin.tag = "py3-none-any";
    let mut wheels = standard_wheels();
    wheels.push(twin);
    let out = pack(&wheels);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("are both wheels of greet for py3-none-any; keep one"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[ignore = "needs CPython 3.9 from pyenv; CI runs it"]
fn cp311_wheels_with_python39_are_refused_before_writing() {
    let Some(py39) = pythons().into_iter().find(|p| p.minor == 9) else {
        missing("no CPython 3.9 here (pyenv versions lists none)");
    };
    let mut wheels = standard_wheels();
    let mut native = WheelSpec::new("speedups", "1.0").file("speedups.py", "");
    native.tag = "cp311-cp311-manylinux_2_17_x86_64";
    wheels.push(native);
    let fx = Fixture::with_wheels(wheels);
    let dest = fx.dest("py39");
    let out = fx.run(&["-d", dest.to_str().unwrap(), "--python", py39.path.to_str().unwrap()]);
    refused(&out, 4, "speedups-1.0-cp311-cp311-manylinux_2_17_x86_64.whl (tags)");
    assert!(text(&out.stderr).contains("cpython 3.9"), "{}", text(&out.stderr));
    assert!(!dest.exists() && !dest.parent().unwrap().exists());
}
