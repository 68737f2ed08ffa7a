//! Release after release, as an operator runs them (the Capistrano layout: `site/releases/N`,
//! `site/current`): re-deploying the same artifact, refusals, the lock, --force, --activate,
//! --keep, --rollback (also with the artifact deleted), hooks finished on a re-run, --dry-run.

use crate::support::*;
use crate::Fixture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fixture, its artifact, and the site the releases go to.
struct Site {
    fx: Fixture,
    python: PathBuf,
}

impl Site {
    fn new() -> Site {
        Site {
            fx: Fixture::new(),
            python: pythons()[0].path.clone(),
        }
    }

    fn root(&self) -> PathBuf {
        self.fx.dest("site")
    }

    fn release(&self, name: &str) -> PathBuf {
        self.root().join("releases").join(name)
    }

    fn current(&self) -> PathBuf {
        self.root().join("current")
    }

    /// A second artifact of the same app (another build id: other bytes, another digest).
    fn other_artifact(&self) -> PathBuf {
        let other = self.fx.dir.path().join("mysite-2.sfx");
        ok(self.fx.build_command(&other).args(["--build-id", "2"]));
        other
    }

    /// `ARTIFACT -d releases/NAME --json`.
    fn command(&self, artifact: &Path, name: &str) -> Command {
        let mut cmd = Command::new(artifact);
        cmd.arg("-d").arg(self.release(name)).arg("--json");
        cmd
    }

    /// `ARTIFACT -d releases/NAME --json --python PY ARGS`, whatever its exit code.
    fn run_with(&self, artifact: &Path, name: &str, args: &[&str]) -> Output {
        self.command(artifact, name)
            .arg("--python")
            .arg(&self.python)
            .args(args)
            .output()
            .unwrap()
    }

    /// Deploys this fixture's artifact to releases/NAME: must succeed; returns its result.
    fn deploy(&self, name: &str, args: &[&str]) -> Value {
        succeeded(&self.run_with(&self.fx.artifact, name, args))
    }

    fn activate_args(&self) -> Vec<String> {
        vec!["--activate".into(), self.current().to_string_lossy().into_owned()]
    }
}

/// The JSON result of a successful run.
fn succeeded(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed ({}): {}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    assert!(
        v["changed"].is_boolean() && v["actions"].is_array() && v["pruned"].is_array(),
        "{v}"
    );
    v
}

/// A refusal under --json: the exit code, one JSON error naming `needle`, no panic.
fn json_refused(out: &Output, code: i32, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("a refusal under --json is one JSON object");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert_eq!(v["exit_code"], code);
}

fn actions(v: &Value) -> Vec<&str> {
    v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

type Listing = BTreeMap<PathBuf, (u32, u64, i64, i64)>;

/// Every path under `root` (never following symlinks) with its mode, size and mtime: equal
/// listings mean nothing was created, removed or written.
fn listing(root: &Path) -> Listing {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        out.insert(p.clone(), (m.mode(), m.len(), m.mtime(), m.mtime_nsec()));
        if m.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        }
    }
    out
}

/// Asserts that `root` is as `before` listed it, naming what differs.
fn unchanged(root: &Path, before: &Listing, what: &str) {
    let after = listing(root);
    let differ: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(differ.is_empty(), "{what} changed: {differ:?}");
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn link_text(link: &Path) -> PathBuf {
    std::fs::read_link(link).unwrap()
}

#[test]
fn releases_the_same_artifact_again_changes_nothing() {
    let site = Site::new();
    let first = site.deploy("1", &[]);
    assert_eq!(
        (first["changed"].as_bool(), actions(&first)),
        (Some(true), vec!["installed"])
    );
    let dest = site.release("1");
    let bytes = std::fs::read(&site.fx.artifact).unwrap();
    let digest = std::str::from_utf8(&bytes[bytes.len() - 64..]).unwrap();
    assert_eq!(first["artifact_digest"], digest, "the digest the artifact ends with");
    assert_eq!(first["state"], "complete");
    let inspected: Value =
        serde_json::from_slice(&ok(Command::new(&site.fx.artifact).args(["--inspect", "--json"])).stdout).unwrap();
    assert_eq!(inspected["artifact_digest"], digest);
    // The release keeps its stub: the artifact's head, without the payload, executable.
    let stub = std::fs::read(dest.join(".wheelsfx/wheelsfx")).unwrap();
    assert!(stub.len() > 100_000 && stub.len() < bytes.len() / 2 && bytes.starts_with(&stub));
    assert_eq!(
        std::fs::metadata(dest.join(".wheelsfx/wheelsfx")).unwrap().mode() & 0o111,
        0o111
    );
    nothing_left(&site.release("absent"));

    // Only DEST's lock comes and goes beside it (the directory's mtime changes with it).
    let before = listing(&dest);
    let again = site.deploy("1", &[]);
    assert_eq!(again["changed"], false);
    assert!(actions(&again).is_empty());
    assert_eq!(
        again["installed_at"], first["installed_at"],
        "the release's own receipt"
    );
    unchanged(&dest, &before, "a re-deploy of the same artifact");
    // Even with --force: the same artifact, complete, is never reinstalled.
    site.deploy("1", &["--force"]);
    unchanged(&dest, &before, "a re-deploy with --force of the same artifact");
    assert_eq!(names(&site.root().join("releases")), ["1"]);
}

#[test]
fn releases_another_artifact_or_a_held_lock_is_refused_with_its_own_code() {
    let site = Site::new();
    site.deploy("1", &[]);
    let before = listing(&site.release("1"));
    let other = site.other_artifact();
    let out = site.run_with(&other, "1", &[]);
    json_refused(&out, 6, "already holds mysite build unversioned, installed ");
    json_refused(&out, 6, "from another artifact");
    unchanged(&site.release("1"), &before, "a refused deploy");
    assert_eq!(names(&site.root().join("releases")), ["1"]);

    // Another run holds the lock: exit 7, whose sentence says so.
    let lock_path = site.root().join("releases/.2.wheelsfx-lock");
    let lock_file = std::fs::File::create(&lock_path).unwrap();
    let held = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    let out = site.run_with(&site.fx.artifact, "2", &[]);
    json_refused(&out, 7, "another wheelsfx run is working on");
    assert!(!site.release("2").exists());
    drop(held);
    // The lock file left by the holder is reused and removed; a failed run leaves none either.
    site.deploy("2", &[]);
    let out = site
        .command(&site.fx.artifact, "3")
        .args(["--python", "/nonexistent/python3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stdout));
    nothing_left(&site.release("absent"));
}

#[test]
fn releases_force_spares_the_live_release_and_carries_environment_json() {
    let site = Site::new();
    let activate = site.activate_args();
    let activate: Vec<&str> = activate.iter().map(String::as_str).collect();
    site.deploy("1", &[]);
    site.deploy("2", &activate);
    let other = site.other_artifact();

    let before = listing(&site.release("2"));
    let out = site.run_with(&other, "2", &["--force"]);
    json_refused(&out, 6, "is the active release");
    unchanged(&site.release("2"), &before, "a refused --force");
    assert_eq!(link_text(&site.current()), Path::new("releases/2"));
    assert_eq!(names(&site.root().join("releases")), ["1", "2"]);

    let env = site.release("1").join("environment.json");
    std::fs::write(&env, r#"{"GREETING": "kept"}"#).unwrap();
    std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o640)).unwrap();
    let replaced = succeeded(&site.run_with(&other, "1", &["--force"]));
    assert_eq!(actions(&replaced), ["installed"]);
    assert_eq!(replaced["build_id"], "2");
    assert_eq!(std::fs::read_to_string(&env).unwrap(), r#"{"GREETING": "kept"}"#);
    assert_eq!(std::fs::metadata(&env).unwrap().mode() & 0o777, 0o640);
    let greet = ok(Command::new(site.release("1").join("venv/bin/greet")).env_remove("GREETING"));
    assert_eq!(text(&greet.stdout).trim(), "greeting=kept");
    nothing_left(&site.release("absent"));
}

#[test]
fn releases_activate_keep_and_rollback() {
    let site = Site::new();
    let current = site.current();
    let activate = site.activate_args();
    let activate: Vec<&str> = activate.iter().map(String::as_str).collect();
    let first = site.deploy("1", &activate);
    assert_eq!(actions(&first), ["installed", "activated"]);
    assert_eq!(link_text(&current), Path::new("releases/1"), "a relative link");
    assert!(first["activated"]["previous"].is_null());
    let second = site.deploy("2", &activate);
    assert_eq!(link_text(&current), Path::new("releases/2"));
    let canonical = |p: PathBuf| std::fs::canonicalize(p).unwrap();
    assert_eq!(
        second["activated"]["previous"],
        canonical(site.release("1")).to_str().unwrap()
    );
    assert_eq!(
        second["activated"]["target"],
        canonical(site.release("2")).to_str().unwrap()
    );
    // Activating what LINK already points at changes nothing.
    let again = site.deploy("2", &activate);
    assert_eq!((again["changed"].as_bool(), actions(&again)), (Some(false), vec![]));

    // Rollback: to the previous, then nothing older, then by name.
    let rollback = |args: &[&str]| {
        Command::new(&site.fx.artifact)
            .arg("--rollback")
            .arg(&current)
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    };
    let back = succeeded(&rollback(&[]));
    assert_eq!(link_text(&current), Path::new("releases/1"));
    assert_eq!(actions(&back), ["activated"]);
    json_refused(&rollback(&[]), 9, "nothing to roll back to");
    succeeded(&rollback(&["--to", "2"]));
    assert_eq!(link_text(&current), Path::new("releases/2"));
    json_refused(&rollback(&["--to", "9"]), 9, "the complete ones there are: 1, 2");
    json_refused(
        &rollback(&["--to", "../releases/1"]),
        9,
        "is not a complete wheelsfx release",
    );

    // --keep 2 with four releases: the two newest stay, and the active one (1) too.
    succeeded(&rollback(&["--to", "1"]));
    site.deploy("3", &[]);
    let fourth = site.deploy("4", &["--keep", "2"]);
    let releases = canonical(site.root().join("releases"));
    assert_eq!(fourth["pruned"], serde_json::json!([releases.join("2")]));
    assert_eq!(actions(&fourth), ["installed", "pruned"]);
    nothing_left(&site.release("absent"));
    assert_eq!(names(&site.root().join("releases")), ["1", "3", "4"]);

    // A real directory at LINK is never replaced.
    let blocked = site.fx.dest("blocked");
    std::fs::create_dir_all(&blocked).unwrap();
    let out = site.run_with(&site.fx.artifact, "4", &["--activate", blocked.to_str().unwrap()]);
    json_refused(&out, 9, "is a real file or directory, not a symlink");
}

#[test]
fn releases_roll_back_and_prune_with_the_release_stub_after_the_artifact_is_gone() {
    let site = Site::new();
    let activate = site.activate_args();
    let activate: Vec<&str> = activate.iter().map(String::as_str).collect();
    for n in ["1", "2", "3"] {
        site.deploy(n, &activate);
    }
    std::fs::remove_file(&site.fx.artifact).unwrap();
    let stub = site.release("3").join(".wheelsfx/wheelsfx");
    let version = ok(Command::new(&stub).arg("--version"));
    assert!(
        text(&version.stdout).starts_with("wheelsfx stub "),
        "{}",
        text(&version.stdout)
    );
    assert!(text(&ok(Command::new(&stub).arg("--help")).stdout).contains("--rollback"));
    let out = ok(Command::new(&stub)
        .arg("--rollback")
        .arg(site.current())
        .args(["--keep", "1", "--json"]));
    let v = succeeded(&out);
    assert_eq!(link_text(&site.current()), Path::new("releases/2"));
    assert_eq!(v["app"], "mysite");
    // Keep 1: the newest (3) stays, and so does the active one (2); 1 goes.
    assert_eq!(actions(&v), ["activated", "pruned"]);
    nothing_left(&site.release("absent"));
    assert!(!site.release("1").exists() && site.release("2").exists() && site.release("3").exists());
    // Without a payload, installing is refused, clearly.
    let out = Command::new(&stub).arg("-d").arg(site.release("4")).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

#[test]
fn releases_a_failed_hook_is_finished_by_running_the_same_artifact_again() {
    let site = Site::new();
    let activate = site.activate_args();
    let mut args: Vec<&str> = activate.iter().map(String::as_str).collect();
    args.extend(["--run", "echo in $PWD; exit 3"]);
    let out = site.run_with(&site.fx.artifact, "1", &args);
    json_refused(&out, 8, "hook 1 of 1 (echo in $PWD; exit 3) exited with status 3");
    assert!(text(&out.stderr).contains("[hook 1] in "), "{}", text(&out.stderr));
    assert!(std::fs::symlink_metadata(site.current()).is_err(), "not activated");
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(site.release("1").join(".wheelsfx/receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["state"], "hooks-failed");
    assert_eq!(receipt["hooks"][0]["exit_code"], 3);
    nothing_left(&site.release("absent"));

    args.truncate(2);
    args.extend(["--run", "test \"$VIRTUAL_ENV\" = \"$WHEELSFX_RELEASE/venv\""]);
    let fixed = succeeded(&site.run_with(&site.fx.artifact, "1", &args));
    assert_eq!(actions(&fixed), ["hooks", "activated"], "hooks again, no reinstall");
    assert_eq!(fixed["state"], "complete");
    assert_eq!(fixed["installed_at"], receipt["installed_at"]);
}

#[test]
fn releases_dry_run_writes_nothing() {
    let site = Site::new();
    let activate = site.activate_args();
    let mut args: Vec<&str> = activate.iter().map(String::as_str).collect();
    args.extend(["--keep", "1", "--dry-run"]);
    let before = listing(site.fx.dir.path());
    let fresh = succeeded(&site.run_with(&site.fx.artifact, "1", &args));
    assert_eq!(actions(&fresh), ["installed", "activated"]);
    assert_eq!(fresh["dry_run"], true);
    assert!(
        fresh["python"]["version"].is_array(),
        "the interpreter was chosen: {fresh}"
    );
    unchanged(site.fx.dir.path(), &before, "after a --dry-run, the fixture");
    assert!(!site.root().exists());

    site.deploy("1", &args[..2]);
    site.deploy("2", &args[..2]);
    let before = listing(site.fx.dir.path());
    let canonical = |p: PathBuf| std::fs::canonicalize(p).unwrap();
    let plan = succeeded(&site.run_with(&site.fx.artifact, "3", &args));
    assert_eq!(actions(&plan), ["installed", "activated", "pruned"]);
    assert_eq!(
        plan["pruned"],
        serde_json::json!([canonical(site.release("2")), canonical(site.release("1"))]),
        "3 is the one kept, and 2 stops being active"
    );
    let same = succeeded(&site.run_with(&site.fx.artifact, "2", &[args[0], args[1], "--dry-run"]));
    assert_eq!((same["changed"].as_bool(), actions(&same)), (Some(false), vec![]));
    let human = ok(Command::new(&site.fx.artifact)
        .arg("--rollback")
        .arg(site.current())
        .arg("--dry-run"));
    assert!(
        text(&human.stdout).starts_with("dry run: would point "),
        "{}",
        text(&human.stdout)
    );
    unchanged(site.fx.dir.path(), &before, "after a --dry-run, the fixture");
}
