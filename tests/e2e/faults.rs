//! Failures from outside: a killed run, a concurrent run, a full disk, a read-only parent,
//! servers without /proc or without python3. DEST is whole or absent, never half there.

use crate::support::*;
use crate::Fixture;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn complete(dest: &Path) -> bool {
    dest.join(".wheelsfx/receipt.json").is_file()
        && Command::new(dest.join("venv/bin/python"))
            .args(["-c", "import mysite, greet"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
}

fn is_root() -> bool {
    text(&ok(Command::new("id").arg("-u")).stdout).trim() == "0"
}

#[test]
fn killed_at_any_moment_then_rerun_succeeds() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let start = Instant::now();
    fx.deploy(&fx.dest("timing"), &py.path, &[]);
    let full = start.elapsed();
    for k in 0..12 {
        let dest = fx.dest(&format!("killed{k}"));
        let mut child = fx
            .install_command(&dest, &py.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full * k / 12);
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            !dest.exists() || complete(&dest),
            "kill {k}: DEST exists but is incomplete"
        );
        // A DEST the killed run committed holds this artifact: the re-run has nothing to do.
        let again = fx.install_command(&dest, &py.path).output().unwrap();
        assert!(
            again.status.success(),
            "kill {k}: re-run failed: {}",
            text(&again.stderr)
        );
        assert!(complete(&dest), "kill {k}: DEST incomplete after the re-run");
        let stage = dest.with_file_name(format!(".killed{k}.wheelsfx-stage"));
        assert!(!stage.exists(), "kill {k}: staging left after the re-run");
    }
}

#[test]
fn concurrent_runs_on_one_dest() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let dest = fx.dest("race");
    let spawn = |extra: &[&str]| {
        fx.install_command(&dest, &py.path)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(&[]), spawn(&[]));
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(7)),
        "want one winner and one exit 7 (locked): {codes:?}"
    );
    let loser = outs.iter().find(|o| o.status.code() == Some(7)).unwrap();
    let err = text(&loser.stderr);
    assert!(err.contains("another wheelsfx run") && err.contains("--wait"), "{err}");
    assert!(complete(&dest));
    nothing_left(&fx.dest("absent"));
    // Waiting instead of failing: both replace the release in turn.
    let (a, b) = (spawn(&["--wait", "--force"]), spawn(&["--wait", "--force"]));
    for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(complete(&dest));
}

/// Runs `body` with a tmpfs mounted at `dir` (options `opts`); fails, saying why, when this
/// process may not mount.
fn with_tmpfs(dir: &Path, opts: &str, body: impl FnOnce()) {
    std::fs::create_dir_all(dir).unwrap();
    if !is_root()
        || !Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success()
    {
        missing("cannot mount a tmpfs here (not root?)");
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    let _ = Command::new("umount").arg(dir).status();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
#[ignore = "needs root to mount a tmpfs; CI runs it"]
fn a_full_disk_is_a_clean_error() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let mnt = fx.dir.path().join("small");
    with_tmpfs(&mnt, "size=2m", || {
        let dest = mnt.join("release");
        let out = fx.install_command(&dest, &py.path).output().unwrap();
        refused(&out, 5, "No space left on device");
        let left: Vec<_> = std::fs::read_dir(&mnt)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    });
}

#[test]
#[ignore = "needs root to mount a tmpfs; CI runs it"]
fn a_read_only_parent_is_a_clean_error() {
    let fx = Fixture::new();
    let mnt = fx.dir.path().join("ro");
    with_tmpfs(&mnt, "ro,size=1m", || {
        let out = Command::new(&fx.artifact)
            .arg("-d")
            .arg(mnt.join("release"))
            .output()
            .unwrap();
        refused(&out, 5, "Read-only file system");
    });
}

#[test]
#[ignore = "needs root for unshare; CI runs it"]
fn without_proc_the_artifact_finds_itself() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    if !is_root() {
        missing("unshare needs root");
    }
    let direct = format!("{} -d", fx.artifact.display());
    no_proc_deploy(&fx, &direct, "noproc", py);
    // Started by name through PATH, with no /proc: argv[0] is resolved on PATH.
    let by_name = format!("PATH={}:$PATH mysite.sfx -d", fx.artifact.parent().unwrap().display());
    no_proc_deploy(&fx, &by_name, "noproc-path", py);
}

/// Runs `INVOCATION DEST --python PY` with an empty /proc in a private mount namespace.
fn no_proc_deploy(fx: &Fixture, invocation: &str, name: &str, py: &Python) {
    let dest = fx.dest(name);
    let script = format!(
        "mount -t tmpfs none /proc && {invocation} {} --python {}",
        dest.display(),
        py.path.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{invocation}: {}", text(&out.stderr));
    assert!(complete(&dest));
}

#[test]
fn odd_environments() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    // No python3 on PATH: a clear refusal, nothing written.
    let dest = fx.dest("nopython");
    let out = Command::new(&fx.artifact)
        .arg("-d")
        .arg(&dest)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    refused(&out, 4, "python3: not found on PATH");
    assert!(!dest.exists());
    // TMPDIR unset or unwritable, C locale, a restrictive umask: nothing depends on them.
    let dest = fx.dest("odd");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 027 && exec {} -d {} --python {}",
            fx.artifact.display(),
            dest.display(),
            py.path.display()
        ))
        .env("TMPDIR", "/nonexistent/tmp")
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(complete(&dest));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join("mysite/manage.py"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640, "the umask was not respected: {mode:o}");
    let mode = std::fs::metadata(dest.join("venv/bin/greet"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o750, "the umask was not respected for scripts: {mode:o}");
}
