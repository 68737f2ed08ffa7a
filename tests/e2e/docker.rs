//! The container build environment (docker/), as CI uses it where no image registry is
//! reachable: a dockerd of the test's own, a base image imported from a debootstrap bookworm
//! root, the example site's artifact built with docker/build.sh (the static packer, the image
//! from docker/Dockerfile, pip from PyPI inside), then deployed into a fresh bookworm root
//! (chroot) and asked for its page.

use crate::debian::{fresh_root, in_root_ok, require_root, root_tarball};
use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "local/bookworm:test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A dockerd with its own data, exec root, pid file and socket under a temporary directory,
/// and no bridge or iptables rules (builds and runs use the host's network): nothing of the
/// machine's docker is touched. Stopped when dropped, also when the test fails.
struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    fn start() -> Dockerd {
        // Short paths: containerd's sockets live under the exec root (108-byte socket paths).
        let dir = tempfile::Builder::new().prefix("dockerd").tempdir_in("/tmp").unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-p")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("sock").display()))
            .args(["--bridge", "none", "--iptables=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| missing(&format!("cannot run dockerd ({e}): apt-get install docker.io")));
        let mut dockerd = Dockerd { child, dir };
        dockerd.wait_ready();
        dockerd
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("sock").display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.docker().arg("version").output().unwrap().status.success() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dockerd exited ({status}):\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "dockerd not ready in 60 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The docker CLI first on PATH, talking to this daemon.
    fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host());
        cmd
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // dockerd stops its containerd and unmounts its layers on SIGTERM.
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // dockerd leaves its network namespace mounted under the exec root: unmounted, so the
        // temporary directory can go.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let points = mounts.lines().filter_map(|l| l.split(' ').nth(1));
        for point in points.filter(|p| Path::new(p).starts_with(self.dir.path())).rev() {
            let _ = Command::new("umount").arg("--lazy").arg(point).status();
        }
    }
}

/// docker/build.sh as an unprivileged user (nobody, reaching the test's daemon through the
/// socket's group): the artifact it leaves on the host is that user's. What it runs and reads
/// is copied where that user may read it (a checkout may live in a private directory).
fn build_as_nobody(dockerd: &Dockerd, packer: &Path, work: &Path) {
    const NOBODY: u32 = 65534;
    let home = work.join("nobody");
    std::fs::create_dir_all(home.join("docker")).unwrap();
    for file in ["build.sh", "Dockerfile"] {
        std::fs::copy(repo().join("docker").join(file), home.join("docker").join(file)).unwrap();
    }
    copy_exe(packer, &home.join("wheelsfx"));
    ok(Command::new("cp")
        .arg("-a")
        .arg(repo().join("examples/django"))
        .arg(home.join("site")));
    ok(Command::new("chown")
        .arg("-R")
        .arg(format!("{NOBODY}:{NOBODY}"))
        .arg(&home));
    for dir in [work, dockerd.dir.path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::os::unix::fs::chown(dockerd.dir.path().join("sock"), None, Some(NOBODY)).unwrap();
    ok(Command::new("setpriv")
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(home.join("docker/build.sh"))
        .args(["--base", BASE, "site", "--", "-o", "out/mysite.sfx"])
        .current_dir(&home)
        .env("HOME", &home)
        .env("WHEELSFX_STATIC", home.join("wheelsfx"))
        .env("DOCKER_HOST", dockerd.host())
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PYTHONDONTWRITEBYTECODE"));
    let artifact = std::fs::metadata(home.join("out/mysite.sfx")).unwrap();
    assert_eq!((artifact.uid(), artifact.gid()), (NOBODY, NOBODY));
}

fn docker_cli_present() {
    if Command::new("docker").arg("--version").output().is_err() {
        missing("the docker CLI is not installed (apt-get install docker.io)");
    }
}

/// GET `path` from the deployed site through Django's test client (the whole request stack:
/// WhiteNoise, URLs, the view, the database the migrate hook filled, the collected static
/// manifest): (status, body).
fn get(root: &Path, current: &str, path: &str) -> (u16, String) {
    let script = format!(
        "import os, django; os.chdir('{current}/mysite'); \
         os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings'); django.setup(); \
         from django.test import Client; r = Client().get('{path}', HTTP_HOST='localhost'); \
         print(r.status_code); print(b''.join(r).decode())"
    );
    let out = in_root_ok(root, &[&format!("{current}/venv/bin/python"), "-c", &script]);
    let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
    (status.trim().parse().unwrap(), body.to_string())
}

#[test]
#[ignore = "needs docker.io, debootstrap, root and PyPI; CI runs it"]
fn the_example_built_in_docker_deploys_on_a_fresh_bookworm() {
    require_root();
    docker_cli_present();
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let tarball = root_tarball("bookworm").unwrap_or_else(|why| missing(&format!("bookworm: {why}")));
    let dockerd = Dockerd::start();
    ok(dockerd
        .docker()
        .args(["import", "-"])
        .arg(BASE)
        .stdin(std::fs::File::open(&tarball).unwrap()));
    println!("dockerd started, {BASE} imported: {:.1?}", started.elapsed());

    // The recipe of the README, with the imported base: the image is built from
    // docker/Dockerfile on first use, the static packer by cargo.
    let out = ok(Command::new(repo().join("docker/build.sh"))
        .args(["--base", BASE])
        .arg(repo().join("examples/django"))
        .args(["--", "-o"])
        .arg(w.join("out/mysite.sfx"))
        .env("DOCKER_HOST", dockerd.host())
        .env("WHEELSFX_DOCKER_CACHE", w.join("cache"))
        .env_remove("PIP_FIND_LINKS")
        .env_remove("PYTHONDONTWRITEBYTECODE"));
    let artifact = w.join("out/mysite.sfx");
    assert!(
        text(&out.stdout).contains(&format!("artifact: {}", artifact.display())),
        "{}",
        text(&out.stdout)
    );
    println!("artifact built in the container: {:.1?}", started.elapsed());

    // The packer build.sh found (cargo's) is static: no program interpreter.
    let target_dir = Path::new(env!("CARGO_BIN_EXE_wheelsfx")).ancestors().nth(2).unwrap();
    let packer = target_dir.join("x86_64-unknown-linux-musl/release/wheelsfx");
    let headers = text(&ok(Command::new("readelf").arg("-l").arg(&packer)).stdout);
    assert!(
        !headers.contains("INTERP"),
        "{} is not static:\n{headers}",
        packer.display()
    );
    // Built with the container's Python, bookworm's 3.11.
    let inspect = ok(wheelsfx().arg("inspect").arg(&artifact));
    assert!(text(&inspect.stdout).contains("3.11"), "{}", text(&inspect.stdout));
    // While the server deploys: an unprivileged user builds too, the image's own packer runs
    // (it is the static one), and dockerd stops (tens of seconds: containerd, the layers).
    let (static_packer, work_dir) = (packer.clone(), w.to_path_buf());
    let image = std::thread::spawn(move || {
        build_as_nobody(&dockerd, &static_packer, &work_dir);
        let out = ok(dockerd.docker().args([
            "run",
            "--rm",
            "--network",
            "host",
            "wheelsfx-build:local-bookworm-test",
            "--version",
        ]));
        drop(dockerd);
        println!("image checked, dockerd stopped: {:.1?}", started.elapsed());
        text(&out.stdout)
    });

    // A fresh server of the same release: settings in shared/, the artifact deployed as
    // release 1 and activated (its hooks: collectstatic, migrate).
    let root = w.join("root");
    fresh_root("bookworm", &root);
    std::fs::create_dir_all(root.join("srv/mysite/shared")).unwrap();
    std::fs::write(
        root.join("srv/mysite/shared/environment.json"),
        r#"{"DJANGO_SECRET_KEY": "docker-test-not-secret", "DJANGO_ALLOWED_HOSTS": "localhost"}"#,
    )
    .unwrap();
    copy_exe(&artifact, &root.join("opt/mysite.sfx"));
    in_root_ok(
        &root,
        &[
            "/opt/mysite.sfx",
            "-d",
            "/srv/mysite/releases/1",
            "--activate",
            "/srv/mysite/current",
        ],
    );
    let (status, page) = get(&root, "/srv/mysite/current", "/");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Written by the migrate hook.") && page.contains("release 1"),
        "{page}"
    );
    let href = page
        .split("href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    assert!(href.starts_with("/static/site.") && href.ends_with(".css"), "{page}");
    let (status, css) = get(&root, "/srv/mysite/current", href);
    assert_eq!(status, 200, "{href}: {css}");
    let css_in_tree = std::fs::read_to_string(repo().join("examples/django/assets/site.css")).unwrap();
    assert_eq!(css.trim(), css_in_tree.trim());
    println!("deployed on a fresh bookworm and served: {:.1?}", started.elapsed());
    let version = image.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(version.starts_with("wheelsfx"), "{version}");
    drop(work);
    println!("temporary files removed: {:.1?}", started.elapsed());
}

/// docker/build.sh's refusals, one line each, before anything runs: no project, a project
/// that is not there, no docker CLI, no daemon.
#[test]
fn build_sh_refuses_in_one_sentence() {
    let script = repo().join("docker/build.sh");
    let example = repo().join("examples/django");
    let run = |args: &[&Path], docker: &str| {
        let out = Command::new(&script).args(args).env("DOCKER", docker).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        (out.status.code(), err)
    };
    let (code, err) = run(&[], "docker");
    assert!(code == Some(2) && err.contains("no PROJECT given"), "{err}");
    let (code, err) = run(&[Path::new("/nonexistent/site")], "docker");
    assert!(
        code == Some(1) && err.contains("/nonexistent/site does not exist"),
        "{err}"
    );
    let (code, err) = run(&[&example], "/nonexistent/docker");
    assert!(code == Some(1) && err.contains("docker is not installed"), "{err}");
    // A CLI whose `docker info` fails, as it does when no daemon answers.
    let (code, err) = run(&[&example], "false");
    assert!(
        code == Some(1) && err.contains("cannot reach the docker daemon"),
        "{err}"
    );
}
