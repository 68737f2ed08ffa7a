//! Fresh Debian servers: minimal root filesystems (debootstrap, `python3` only: no
//! python3-venv, no pip) for bullseye (3.9), bookworm (3.11) and trixie (3.13). The example
//! fixture deploys there as root without /proc, as root with /proc, and as an unprivileged
//! user, and runs. Roots are built once and cached as tarballs.

use crate::support::*;
use crate::Fixture;
use std::path::{Path, PathBuf};
use std::process::Command;

const SUITES: &[(&str, u32)] = &[("bullseye", 9), ("bookworm", 11), ("trixie", 13)];

fn roots_cache() -> PathBuf {
    std::env::var_os("WHEELSFX_TEST_ROOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/wheelsfx-test/roots"))
}

/// The configured Debian mirror (deb822 or one-line sources).
fn mirror() -> Option<String> {
    let deb822 = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let classic = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    deb822
        .lines()
        .find_map(|l| {
            l.strip_prefix("URIs:")
                .map(|u| u.split_whitespace().next().unwrap_or("").to_string())
        })
        .or_else(|| {
            classic.lines().find_map(|l| {
                l.strip_prefix("deb ")
                    .and_then(|r| r.split_whitespace().find(|w| w.contains("://")).map(String::from))
            })
        })
}

/// A tarball of a minimal root for `suite`, built on first use.
pub fn root_tarball(suite: &str) -> Result<PathBuf, String> {
    let tar = roots_cache().join(format!("{suite}.tar"));
    if tar.is_file() {
        return Ok(tar);
    }
    if Command::new("debootstrap").arg("--version").output().is_err() {
        return Err("debootstrap is not installed (apt-get install debootstrap)".into());
    }
    let mirror = mirror().ok_or("no Debian mirror is configured in /etc/apt")?;
    std::fs::create_dir_all(roots_cache()).unwrap();
    let build = tempfile::tempdir_in(roots_cache()).unwrap();
    let root = build.path().join("root");
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", "--include=python3", suite])
        .arg(&root)
        .arg(&mirror)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "debootstrap {suite} failed: {}",
            text(&out.stderr).lines().last().unwrap_or("")
        ));
    }
    let partial = tar.with_extension("tar.partial");
    ok(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&partial)
        .arg("."));
    std::fs::rename(&partial, &tar).unwrap();
    Ok(tar)
}

/// A fresh root filesystem of `suite` at `root`, extracted from the cached tarball (built on
/// first use); the test fails saying why when none can be made.
pub fn fresh_root(suite: &str, root: &Path) {
    let tar = root_tarball(suite).unwrap_or_else(|why| missing(&format!("{suite}: {why}")));
    std::fs::create_dir_all(root).unwrap();
    ok(Command::new("tar").arg("-C").arg(root).arg("-xf").arg(&tar));
}

/// chroot and debootstrap need root: a test that uses them fails, saying so, without it.
pub fn require_root() {
    if text(&ok(Command::new("id").arg("-u")).stdout).trim() != "0" {
        missing("chroot and debootstrap need root");
    }
}

fn chroot(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chroot").arg(root).args(args).output().unwrap()
}

pub fn in_root_ok(root: &Path, args: &[&str]) -> String {
    let out = chroot(root, args);
    assert!(
        out.status.success(),
        "chroot {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn check(root: &Path, dest: &str, minor: u32, runner: &[&str]) {
    let py = format!("{dest}/venv/bin/python");
    let version = in_root_ok(
        root,
        &[
            runner,
            &[
                py.as_str(),
                "-c",
                "import sys, mysite, fastthing; print(sys.version_info[1])",
            ],
        ]
        .concat(),
    );
    assert_eq!(version.trim(), minor.to_string());
    std::fs::write(
        root.join(dest.trim_start_matches('/')).join("environment.json"),
        r#"{"GREETING": "hi from debian"}"#,
    )
    .unwrap();
    let greet = in_root_ok(root, &[runner, &[format!("{dest}/venv/bin/greet").as_str()]].concat());
    assert_eq!(greet.trim(), "greeting=hi from debian");
    if pip_runs(minor) {
        let pip = in_root_ok(
            root,
            &[runner, &[format!("{dest}/venv/bin/pip").as_str(), "--version"]].concat(),
        );
        assert!(pip.contains(&format!("python 3.{minor}")), "{pip}");
    }
}

/// pip itself (not wheelsfx) needs the stdlib's full distutils on Python < 3.10, which
/// Debian ships separately (python3-distutils); bullseye's bare python3 has a stub of it.
fn pip_runs(minor: u32) -> bool {
    if minor < 10 {
        println!("bullseye: not running pip itself there: it needs python3-distutils, which a bare server lacks");
    }
    minor >= 10
}

#[test]
#[ignore = "needs root and debootstrap; CI runs it"]
fn deploys_on_fresh_debian_servers() {
    require_root();
    let fx = Fixture::new();
    std::thread::scope(|s| {
        for &(suite, minor) in SUITES {
            let fx = &fx;
            s.spawn(move || {
                let root = fx.dir.path().join(format!("root-{suite}"));
                fresh_root(suite, &root);
                copy_exe(&fx.artifact, &root.join("opt/mysite.sfx"));

                // As root in a chroot with no /proc: the stub finds itself through argv[0].
                assert!(!root.join("proc/self").exists());
                in_root_ok(&root, &["/opt/mysite.sfx", "-d", "/srv/mysite/releases/1"]);
                check(&root, "/srv/mysite/releases/1", minor, &[]);

                // With /proc (and the pip installer, where pip runs).
                let installer = if pip_runs(minor) { "pip" } else { "native" };
                let out = Command::new("unshare")
                    .args(["--mount", "--pid", "--fork"])
                    .arg(format!("--mount-proc={}", root.join("proc").display()))
                    .arg("chroot")
                    .arg(&root)
                    .args([
                        "/opt/mysite.sfx",
                        "-d",
                        "/srv/mysite/releases/2",
                        "--installer",
                        installer,
                    ])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{suite} with /proc: {}", text(&out.stderr));
                check(&root, "/srv/mysite/releases/2", minor, &[]);

                // As an unprivileged user, into a directory it owns.
                in_root_ok(&root, &["useradd", "-m", "deploy"]);
                let user = ["--userspec=deploy:deploy"];
                let out = Command::new("chroot")
                    .args(user)
                    .arg(&root)
                    .args([
                        "env",
                        "HOME=/home/deploy",
                        "/opt/mysite.sfx",
                        "-d",
                        "/home/deploy/site/1",
                    ])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{suite} as deploy: {}", text(&out.stderr));
                let out = Command::new("chroot")
                    .args(user)
                    .arg(&root)
                    .args([
                        "/home/deploy/site/1/venv/bin/python",
                        "-c",
                        "import mysite, greet; print('ok')",
                    ])
                    .output()
                    .unwrap();
                assert_eq!(
                    text(&out.stdout).trim(),
                    "ok",
                    "{suite} as deploy: {}",
                    text(&out.stderr)
                );
                // ... and refused, clearly, where it may not write.
                let out = Command::new("chroot")
                    .args(user)
                    .arg(&root)
                    .args(["/opt/mysite.sfx", "-d", "/srv/other/1"])
                    .output()
                    .unwrap();
                refused(&out, 5, "Permission denied");
                println!("{suite}: deployed and ran as root (with and without /proc) and as an unprivileged user");
            });
        }
    });
}
