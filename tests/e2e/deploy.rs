//! Deploying: every interpreter, the installed layout, environment.json, symlinked releases.

use crate::support::*;
use crate::Fixture;
use std::path::Path;
use std::process::Command;

/// What an operator checks after a deploy, with `python`'s venv at `dest`.
fn check_release(dest: &Path, py: &Python) {
    let python = dest.join("venv/bin/python");
    let site = dest.join(format!("venv/lib/python3.{}/site-packages", py.minor));
    assert!(site.join("mysite.pth").is_file(), "{}: no mysite.pth", py.label);
    assert!(
        site.join("loadenv.py").is_file() && site.join("loadenv-init.pth").is_file(),
        "{}: no loadenv",
        py.label
    );
    assert!(
        dest.join("static.in/0/font.css").is_file(),
        "{}: no static.in/0",
        py.label
    );
    assert!(dest.join(".wheelsfx/receipt.json").is_file() && dest.join(".wheelsfx/manifest.json").is_file());
    assert!(
        !dest.join("environment.json").exists(),
        "environment.json is the operator's, never shipped"
    );

    let prefix = ok(Command::new(&python).args(["-c", "import sys; print(sys.prefix)"]));
    assert_eq!(
        text(&prefix.stdout).trim(),
        dest.join("venv").to_str().unwrap(),
        "{}",
        py.label
    );
    let imported =
        ok(Command::new(&python).args(["-c", "import mysite, fastthing; print(mysite.NAME, fastthing.SPEED)"]));
    assert_eq!(text(&imported.stdout).trim(), "mysite fast", "{}", py.label);
    let managed = ok(Command::new(&python).arg(dest.join("mysite/manage.py")));
    assert_eq!(text(&managed.stdout).trim(), "mysite", "{}", py.label);

    std::fs::write(dest.join("environment.json"), r#"{"GREETING": "hi"}"#).unwrap();
    let env = ok(Command::new(&python)
        .env_remove("GREETING")
        .args(["-c", "import os; print(os.environ['GREETING'])"]));
    assert_eq!(
        text(&env.stdout).trim(),
        "hi",
        "{}: environment.json not loaded by python -c",
        py.label
    );
    let script = ok(Command::new(dest.join("venv/bin/greet")).env_remove("GREETING"));
    assert_eq!(
        text(&script.stdout).trim(),
        "greeting=hi",
        "{}: not loaded in a console script",
        py.label
    );

    let check = ok(Command::new(&python).args(["-m", "pip", "check"]));
    assert!(text(&check.stdout).contains("No broken requirements"), "{}", py.label);
    std::fs::remove_file(dest.join("environment.json")).unwrap();
}

#[test]
fn deploys_with_every_interpreter_and_both_installers() {
    let fx = Fixture::new();
    let pythons = pythons();
    assert!(!pythons.is_empty(), "no python3 on PATH");
    std::thread::scope(|s| {
        for py in &pythons {
            let fx = &fx;
            s.spawn(move || {
                for installer in ["native", "pip"] {
                    let dest = fx.dest(&format!("py3{}/{installer}/releases/1", py.minor));
                    fx.deploy(&dest, &py.path, &["--installer", installer]);
                    check_release(&dest, py);
                    println!(
                        "deployed ({installer}) and checked with {} ({})",
                        py.label,
                        py.path.display()
                    );
                }
            });
        }
    });
}

#[test]
fn a_release_works_through_a_current_symlink_and_when_moved() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let releases = fx.dest("site/releases");
    fx.deploy(&releases.join("1"), &py.path, &[]);
    let current = fx.dest("site/current");
    std::os::unix::fs::symlink(releases.join("1"), &current).unwrap();
    std::fs::write(current.join("environment.json"), r#"{"GREETING": "via current"}"#).unwrap();
    let out = ok(Command::new(current.join("venv/bin/python")).args([
        "-c",
        "import mysite, os, sys; print(os.environ['GREETING'], mysite.__file__)",
    ]));
    let out = text(&out.stdout);
    assert!(out.starts_with("via current "), "{out}");
    assert!(
        out.trim().ends_with("site/current/mysite/mysite/__init__.py"),
        "app not found through current: {out}"
    );

    let moved = fx.dest("site/moved");
    std::fs::rename(releases.join("1"), &moved).unwrap();
    let out = ok(Command::new(moved.join("venv/bin/python")).args([
        "-c",
        "import mysite, os; print(os.environ['GREETING'], mysite.__file__)",
    ]));
    assert!(
        text(&out.stdout).contains("site/moved/mysite/mysite/__init__.py"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_malformed_environment_json_is_one_clear_line() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let dest = fx.dest("bad-env");
    fx.deploy(&dest, &py.path, &[]);
    for (content, needle) in [
        (r#"{"A": "1",}"#, "is not loaded"),
        (r#"{"A": 1}"#, "values must be strings"),
        ("[1]", "must be a JSON object"),
    ] {
        std::fs::write(dest.join("environment.json"), content).unwrap();
        let out = ok(Command::new(dest.join("venv/bin/python")).args(["-c", "print('started')"]));
        let err = text(&out.stderr);
        assert_eq!(text(&out.stdout).trim(), "started", "the interpreter must still start");
        assert_eq!(err.lines().count(), 1, "want one line, got:\n{err}");
        assert!(
            err.contains(dest.join("environment.json").to_str().unwrap()) && err.contains(needle),
            "{err}"
        );
        assert!(!err.contains("Traceback"), "{err}");
    }
}

#[test]
fn env_file_and_json_result() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let env = fx.dir.path().join("env.json");
    std::fs::write(&env, r#"{"GREETING": "from --env-file"}"#).unwrap();
    let dest = fx.dest("json");
    let out = fx.deploy(&dest, &py.path, &["--json", "--env-file", env.to_str().unwrap()]);
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    assert_eq!(result["ok"], true);
    assert_eq!(result["dest"], dest.to_str().unwrap());
    assert!(
        text(&out.stderr).is_empty(),
        "--json must not print progress: {}",
        text(&out.stderr)
    );
    let script = ok(Command::new(dest.join("venv/bin/greet")).env_remove("GREETING"));
    assert_eq!(text(&script.stdout).trim(), "greeting=from --env-file");
}

#[test]
fn paths_with_spaces_and_long_paths_get_working_launchers() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let long = format!("deep/{}/release", "d".repeat(120));
    for name in ["with space/release 1", long.as_str()] {
        let dest = fx.dest(name);
        fx.deploy(&dest, &py.path, &[]);
        let launcher = std::fs::read_to_string(dest.join("venv/bin/greet")).unwrap();
        assert!(
            launcher.starts_with("#!/bin/sh\n"),
            "{name}: want the /bin/sh trick:\n{launcher}"
        );
        let out = ok(Command::new(dest.join("venv/bin/greet")).env("GREETING", "spaced"));
        assert_eq!(text(&out.stdout).trim(), "greeting=spaced", "{name}");
        let pip = ok(Command::new(dest.join("venv/bin/pip")).arg("--version"));
        assert!(text(&pip.stdout).starts_with("pip "), "{name}: {}", text(&pip.stdout));
    }
}
