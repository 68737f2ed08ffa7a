//! Linking unchanged wheels from the previous release: release 2 equals a fresh --no-link
//! install byte for byte, shares the files read-only, survives release 1's deletion and
//! edits, and a doubtful source release (or wheel) is not used.

use crate::support::*;
use crate::Fixture;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fixture whose artifact is release 1, a second artifact with only the app changed, and
/// the releases directory both go to.
struct Redeploy {
    /// Under the fixture's own directory unless a test gives a root.
    fx: Fixture,
    second: PathBuf,
    root: PathBuf,
    python: PathBuf,
}

impl Redeploy {
    fn new() -> Redeploy {
        let fx = Fixture::new();
        let root = fx.dest("site");
        Redeploy::in_root(fx, &root)
    }

    /// Release 1's artifact is `fx`'s; the second has another app file (and `--build-id 2`).
    fn in_root(fx: Fixture, root: &Path) -> Redeploy {
        std::fs::write(fx.app().join("mysite/views.py"), "VIEW = 2\n").unwrap();
        let second = fx.dir.path().join("mysite-2.sfx");
        ok(fx.build_command(&second).args(["--build-id", "2"]));
        let python = pythons()[0].path.clone();
        Redeploy {
            fx,
            second,
            root: root.to_path_buf(),
            python,
        }
    }

    fn release(&self, name: &str) -> PathBuf {
        self.root.join("releases").join(name)
    }

    fn run(&self, artifact: &Path, name: &str, args: &[&str]) -> Output {
        Command::new(artifact)
            .arg("-d")
            .arg(self.release(name))
            .arg("--python")
            .arg(&self.python)
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    }

    /// Deploys `artifact` to releases/NAME; returns its JSON result.
    fn deploy(&self, artifact: &Path, name: &str, args: &[&str]) -> Value {
        let out = self.run(artifact, name, args);
        assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The second artifact again, from these wheels.
    fn second_with(&self, wheels: &[WheelSpec]) {
        let house = self.fx.dir.path().join("wheelhouse");
        std::fs::remove_dir_all(&house).unwrap();
        std::fs::create_dir_all(&house).unwrap();
        for w in wheels {
            w.write(&house);
        }
        ok(self.fx.build_command(&self.second).args(["--build-id", "2"]));
    }

    /// Release 1 from the first artifact, then release 2 from the second (linking).
    fn two_releases(&self) -> Value {
        self.deploy(&self.fx.artifact, "1", &[]);
        self.deploy(&self.second, "2", &[])
    }

    /// The same artifact's release 2 installed fresh (--no-link) at the same path, for
    /// comparison: the linked release 2 is moved to `linked-2` first.
    fn fresh_beside(&self) -> PathBuf {
        let linked = self.root.join("linked-2");
        std::fs::rename(self.release("2"), &linked).unwrap();
        let v = self.deploy(&self.second, "2", &["--no-link"]);
        assert_eq!(v["linked"], Value::Null);
        linked
    }
}

/// Every entry under a release, relative: type, mode, content (RECORD as a set of lines; the
/// receipt, which records times, left out; a timestamp pyc without its source mtime).
fn snapshot(release: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![release.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(release).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.mode() & 0o7777;
            let (kind, data) = if meta.is_dir() {
                stack.push(p.clone());
                ("dir", Vec::new())
            } else if meta.file_type().is_symlink() {
                (
                    "link",
                    std::fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes(),
                )
            } else {
                ("file", content(&rel, std::fs::read(&p).unwrap()))
            };
            if rel != ".wheelsfx/receipt.json" {
                out.insert(rel, (kind.to_string(), mode, data));
            }
        }
    }
    out
}

fn content(rel: &str, mut data: Vec<u8>) -> Vec<u8> {
    if rel.ends_with("/RECORD") {
        let lines: BTreeSet<&str> = std::str::from_utf8(&data).unwrap().lines().collect();
        return lines.into_iter().collect::<Vec<_>>().join("\n").into_bytes();
    }
    if rel.ends_with(".pyc") && data.len() >= 16 && data[4..8] == [0; 4] {
        data[8..12].fill(0);
    }
    data
}

/// Release `a` and `b` hold the same entries, byte for byte (modes and types too).
fn assert_parity(a: &Path, b: &Path) {
    let (sa, sb) = (snapshot(a), snapshot(b));
    let ka: BTreeSet<_> = sa.keys().collect();
    let kb: BTreeSet<_> = sb.keys().collect();
    assert_eq!(ka, kb, "the same paths");
    for (k, v) in &sa {
        assert!(
            sb[k] == *v,
            "{k} differs: {:?} vs {:?}",
            (&v.0, v.1),
            (&sb[k].0, sb[k].1)
        );
    }
}

fn site_packages(release: &Path) -> PathBuf {
    let lib = release.join("venv/lib");
    let py = std::fs::read_dir(&lib).unwrap().flatten().next().unwrap().path();
    py.join("site-packages")
}

fn wheel_count(v: &Value) -> u64 {
    v["wheels"].as_array().unwrap().len() as u64
}

#[test]
fn a_redeploy_links_every_unchanged_wheel_and_equals_a_fresh_install() {
    let r = Redeploy::new();
    let v = r.two_releases();
    let linked = &v["linked"];
    assert_eq!(linked["wheels"], wheel_count(&v), "{v}");
    assert!(linked["files"].as_u64().unwrap() > 10, "{v}");
    assert_eq!(linked["from"], r.release("1").to_str().unwrap());
    let method = linked["method"].as_str().unwrap().to_string();
    let (one, two) = (site_packages(&r.release("1")), site_packages(&r.release("2")));
    let f = "greet/__init__.py";
    let shared = std::fs::metadata(one.join(f)).unwrap().ino() == std::fs::metadata(two.join(f)).unwrap().ino();
    assert_eq!(
        shared,
        method == "hardlink",
        "inodes shared only by hard links ({method})"
    );
    assert_eq!(std::fs::metadata(two.join(f)).unwrap().mode() & 0o777, 0o444);
    let record = two.join("greet-1.0.dist-info/RECORD");
    assert_eq!(
        std::fs::metadata(record).unwrap().mode() & 0o777,
        0o644,
        "RECORD is per release"
    );
    ok(&mut Command::new(r.release("2").join("venv/bin/greet")));
    let linked_two = r.fresh_beside();
    assert_parity(&linked_two, &r.release("2"));
}

#[test]
fn editing_a_linked_file_or_deleting_release_1_leaves_the_other_intact() {
    let r = Redeploy::new();
    r.two_releases();
    let f = "greet/__init__.py";
    let (one, two) = (site_packages(&r.release("1")), site_packages(&r.release("2")));
    let before = std::fs::read(one.join(f)).unwrap();
    ok(Command::new("sed").args(["-i", "s/greeting=/hello=/"]).arg(two.join(f)));
    assert_eq!(
        std::fs::read(one.join(f)).unwrap(),
        before,
        "sed -i in release 2 left release 1 alone"
    );
    assert!(text(&std::fs::read(two.join(f)).unwrap()).contains("hello="));
    std::fs::remove_dir_all(r.release("1")).unwrap();
    let py = r.release("2").join("venv/bin/python");
    ok(Command::new(&py).args(["-c", "import greet, fastthing, pip; print(fastthing.SPEED)"]));
    let out = ok(&mut Command::new(r.release("2").join("venv/bin/greet")));
    assert!(text(&out.stdout).contains("hello="), "{}", text(&out.stdout));
}

#[test]
fn no_link_and_dry_run() {
    let r = Redeploy::new();
    r.deploy(&r.fx.artifact, "1", &[]);
    let dry = r.run(&r.second, "2", &["--dry-run"]);
    let v: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(v["linked"]["wheels"], wheel_count(&r.deploy(&r.fx.artifact, "1", &[])));
    let dry = ok(Command::new(&r.second)
        .arg("-d")
        .arg(r.release("2"))
        .args(["--dry-run", "--python"])
        .arg(&r.python));
    assert!(text(&dry.stdout).contains("would link"), "{}", text(&dry.stdout));
    assert!(!r.release("2").exists());
    let pip = r.run(&r.second, "2", &["--installer", "pip", "--link-from", "/nonexistent"]);
    assert_eq!(pip.status.code(), Some(2), "{}", text(&pip.stderr));
    let v: Value = serde_json::from_slice(&pip.stdout).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("--link-from needs the native installer"),
        "{v}"
    );
    assert!(!r.release("2").exists());
    let v = r.deploy(&r.second, "2", &["--no-link"]);
    assert_eq!(v["linked"], Value::Null);
    let one = site_packages(&r.release("1")).join("greet/__init__.py");
    let two = site_packages(&r.release("2")).join("greet/__init__.py");
    assert_ne!(
        std::fs::metadata(one).unwrap().ino(),
        std::fs::metadata(two).unwrap().ino()
    );
}

/// Release 1 spoiled by `spoil`, then release 2: nothing linked, `why` said.
fn not_used(spoil: impl FnOnce(&Path), why: &str) {
    let r = Redeploy::new();
    r.deploy(&r.fx.artifact, "1", &[]);
    spoil(&r.release("1"));
    let out = Command::new(&r.second)
        .arg("-d")
        .arg(r.release("2"))
        .arg("--python")
        .arg(&r.python)
        .args(["--link-from"])
        .arg(r.release("1"))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("not linking from") && err.contains(why), "{err}");
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(r.release("2").join(".wheelsfx/receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["linked"], Value::Null);
}

fn edit_receipt(release: &Path, edit: impl FnOnce(&mut Value)) {
    let path = release.join(".wheelsfx/receipt.json");
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn a_doubtful_source_release_is_not_used() {
    not_used(
        |r| std::fs::write(r.join(".wheelsfx/receipt.json"), "{not json").unwrap(),
        "receipt is missing or does not parse",
    );
    not_used(
        |r| std::fs::remove_file(r.join(".wheelsfx/manifest.json")).unwrap(),
        "manifest copy cannot be read",
    );
    not_used(
        |r| edit_receipt(r, |v| v["python"]["pyc_magic"] = "00000000".into()),
        "another interpreter",
    );
    not_used(
        |r| edit_receipt(r, |v| v["state"] = "hooks-failed".into()),
        "not a complete release",
    );
    not_used(
        |r| edit_receipt(r, |v| v["digest"] = "0".repeat(64).into()),
        "not the one its receipt names",
    );
}

#[test]
fn a_changed_wheel_is_installed_and_a_tampered_one_too_while_the_rest_are_linked() {
    let r = Redeploy::new();
    let mut wheels = crate::standard_wheels();
    let v1 = r.deploy(&r.fx.artifact, "1", &[]);
    let n = wheel_count(&v1);
    // fastthing changes; greet's file in release 1 is made writable (someone may edit it).
    wheels[1] = WheelSpec::new("fastthing", "2.1").file("fastthing.py", "SPEED = 'faster'\n");
    r.second_with(&wheels);
    let greet = site_packages(&r.release("1")).join("greet/__init__.py");
    std::fs::set_permissions(&greet, std::fs::Permissions::from_mode(0o644)).unwrap();
    let v = r.deploy(&r.second, "2", &[]);
    assert_eq!(v["linked"]["wheels"], n - 2, "{v}");
    let two = site_packages(&r.release("2"));
    assert_ne!(
        std::fs::metadata(two.join("greet/__init__.py")).unwrap().ino(),
        std::fs::metadata(&greet).unwrap().ino()
    );
    let py = r.release("2").join("venv/bin/python");
    let out = ok(Command::new(&py).args(["-c", "import fastthing; print(fastthing.SPEED)"]));
    assert_eq!(text(&out.stdout).trim(), "faster");
    let linked_two = r.fresh_beside();
    assert_parity(&linked_two, &r.release("2"));
}

/// A deploy as uid 65534 into a directory it owns: the linked files are read-only to the
/// user that deploys, so a write through one release cannot reach the other.
#[test]
fn as_a_non_root_user_a_linked_file_cannot_be_opened_for_writing() {
    let python = PathBuf::from("/usr/bin/python3");
    if !python.exists() || Command::new("setpriv").arg("--help").output().is_err() {
        return not_covered("setpriv and /usr/bin/python3 (a python uid 65534 can run)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().to_path_buf();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = base.join("site");
    std::fs::create_dir(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(65534), Some(65534)).unwrap();
    let mut r = Redeploy::in_root(Fixture::new(), &root);
    r.python = python;
    for (from, to) in [(r.fx.artifact.clone(), "a1.sfx"), (r.second.clone(), "a2.sfx")] {
        copy_exe(&from, &base.join(to));
    }
    let nobody = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .args(args);
        cmd.env("HOME", &root);
        cmd
    };
    for (artifact, name) in [("a1.sfx", "1"), ("a2.sfx", "2")] {
        let artifact = base.join(artifact);
        let dest = r.release(name);
        ok(&mut nobody(&[
            artifact.to_str().unwrap(),
            "-d",
            dest.to_str().unwrap(),
            "--python",
            r.python.to_str().unwrap(),
        ]));
    }
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(r.release("2").join(".wheelsfx/receipt.json")).unwrap()).unwrap();
    assert!(receipt["linked"]["wheels"].as_u64().unwrap() > 0, "{receipt}");
    let f = site_packages(&r.release("2")).join("greet/__init__.py");
    let out = nobody(&["sh", "-c", "echo x >> \"$0\"", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "uid 65534 wrote a linked file");
    let one = site_packages(&r.release("1")).join("greet/__init__.py");
    assert_eq!(
        std::fs::read(&f).unwrap(),
        std::fs::read(one).unwrap(),
        "neither release changed"
    );
}

/// Reflinks on a loop-mounted xfs image: release 2's files are new inodes sharing extents,
/// and the result still equals a fresh install.
#[test]
#[ignore = "needs root, loop devices and mkfs.xfs (xfsprogs)"]
fn on_xfs_files_are_reflinked() {
    let img = tempfile::tempdir().unwrap();
    let (file, mnt) = (img.path().join("xfs.img"), img.path().join("mnt"));
    std::fs::create_dir(&mnt).unwrap();
    let made = Command::new("truncate")
        .args(["-s", "320M"])
        .arg(&file)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("mkfs.xfs")
            .arg("-q")
            .arg(&file)
            .status()
            .is_ok_and(|s| s.success())
        && Command::new("mount")
            .args(["-o", "loop"])
            .arg(&file)
            .arg(&mnt)
            .status()
            .is_ok_and(|s| s.success());
    if !made {
        missing("cannot make and loop-mount an xfs image (mkfs.xfs, loop devices, root)");
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let r = Redeploy::in_root(Fixture::new(), &mnt);
    let v = r.two_releases();
    assert_eq!(v["linked"]["method"], "reflink", "{v}");
    let f = "greet/__init__.py";
    let (one, two) = (site_packages(&r.release("1")), site_packages(&r.release("2")));
    assert_ne!(
        std::fs::metadata(one.join(f)).unwrap().ino(),
        std::fs::metadata(two.join(f)).unwrap().ino()
    );
    let linked_two = r.fresh_beside();
    assert_parity(&linked_two, &r.release("2"));
}

/// A linkable wheel that shares a path with a changed one is installed from the artifact
/// after all: the deploy verifies the artifact again in full for it (it was left out of the
/// first verification) and the later wheel still writes the shared path.
#[test]
fn a_linkable_wheel_sharing_a_path_with_a_changed_one_is_installed_from_the_artifact() {
    let shared = |name: &'static str, version: &'static str, text: &str| {
        WheelSpec::new(name, version)
            .file(&format!("{name}.py"), "X = 1\n")
            .file("common_mod/util.py", text)
    };
    let with = |zzb: WheelSpec| {
        let mut wheels = crate::standard_wheels();
        wheels.push(shared("zza", "1.0", "WHO = 'zza'\n"));
        wheels.push(zzb);
        wheels
    };
    let fx = Fixture::with_wheels(with(shared("zzb", "1.0", "WHO = 'zzb'\n")));
    let root = fx.dest("site");
    let r = Redeploy::in_root(fx, &root);
    let v1 = r.deploy(&r.fx.artifact, "1", &[]);
    let n = wheel_count(&v1);
    let wheels = with(shared("zzb", "2.0", "WHO = 'zzb 2'\n"));
    r.second_with(&wheels);
    let v = r.deploy(&r.second, "2", &[]);
    assert_eq!(v["linked"]["wheels"], n - 2, "zza and zzb come from the artifact: {v}");
    let py = r.release("2").join("venv/bin/python");
    let out = ok(Command::new(&py).args(["-c", "import zza, common_mod.util as u; print(u.WHO)"]));
    assert_eq!(text(&out.stdout).trim(), "zzb 2");
    let linked_two = r.fresh_beside();
    assert_parity(&linked_two, &r.release("2"));
}
