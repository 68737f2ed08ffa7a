//! `--lock pylock.toml` (PEP 751) and `--requirements` with `--hash`: hand-written locks over
//! the tests' own wheels (offline), and one lock written by the real `uv` (needs PyPI).

use super::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::Output;

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fixture's wheelhouse, with a wheel only old Pythons get and one no lock names.
fn fixture() -> Fixture {
    let fx = Fixture::new();
    let house = fx.dir.path().join("wheelhouse");
    WheelSpec::new("oldonly", "1.0").file("oldonly.py", "").write(&house);
    WheelSpec::new("stray", "1.0").file("stray.py", "").write(&house);
    fx
}

/// A wheel entry of a lock: by `path` (relative to the lock) or by a `url` that only the
/// wheelhouse can answer (example.invalid never resolves).
fn wheel_entry(fx: &Fixture, file: &str, by_path: bool, sha: Option<&str>) -> String {
    let real = sha256(&fx.dir.path().join("wheelhouse").join(file));
    let sha = sha.unwrap_or(&real);
    match by_path {
        true => format!("{{ path = \"wheelhouse/{file}\", hashes = {{ sha256 = \"{sha}\" }} }}"),
        false => format!("{{ url = \"https://example.invalid/{file}\", hashes = {{ sha256 = \"{sha}\" }} }}"),
    }
}

/// A lock over the fixture's wheels: greet by path, fastthing by url, oldonly for < 3.10.
fn write_lock(fx: &Fixture, greet_sha: Option<&str>, extra: &str) -> PathBuf {
    let text = format!(
        r#"lock-version = "1.0"
requires-python = ">=3.8"
created-by = "wheelsfx-tests"

[[packages]]
name = "greet"
version = "1.0"
wheels = [{}]

[[packages]]
name = "fastthing"
version = "2.0"
wheels = [{}]

[[packages]]
name = "oldonly"
version = "1.0"
marker = "python_version < '3.10'"
wheels = [{}]
{extra}"#,
        wheel_entry(fx, "greet-1.0-py3-none-any.whl", true, greet_sha),
        wheel_entry(fx, "fastthing-2.0-py3-none-manylinux_2_17_x86_64.whl", false, None),
        wheel_entry(fx, "oldonly-1.0-py3-none-any.whl", true, None),
    );
    let path = fx.dir.path().join("pylock.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn build_with_lock(fx: &Fixture, lock: &Path, extra: &[&str]) -> Output {
    let mut cmd = fx.build_command(&fx.artifact);
    cmd.arg("--lock").arg(lock).args(extra).output().unwrap()
}

fn wheel_files(artifact: &Path) -> Vec<String> {
    let m: Value = serde_json::from_slice(&ok(wheelsfx().arg("inspect").arg("--json").arg(artifact)).stdout).unwrap();
    let mut files: Vec<String> = m["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["file"].as_str().unwrap().rsplit('/').next().unwrap().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn a_lock_selects_by_marker_for_the_target_and_deploys() {
    let fx = fixture();
    let lock = write_lock(&fx, None, "");
    let python = &pythons()[0];
    let py = python.path.to_str().unwrap();
    // For the build interpreter (3.10 or newer here): oldonly's marker is false; stray is in
    // the wheelhouse but not in the lock.
    let out = build_with_lock(&fx, &lock, &["--python", py]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        wheel_files(&fx.artifact),
        [
            "fastthing-2.0-py3-none-manylinux_2_17_x86_64.whl",
            "greet-1.0-py3-none-any.whl"
        ]
    );
    let dest = fx.dest("locked");
    fx.deploy(&dest, &python.path, &[]);
    let got =
        ok(Command::new(dest.join("venv/bin/python")).args(["-c", "import greet, fastthing; print(fastthing.SPEED)"]));
    assert_eq!(text(&got.stdout).trim(), "fast");
    // For 3.9.2 the marker holds and oldonly is packed too.
    let out = build_with_lock(&fx, &lock, &["--python", py, "--target-python", "3.9.2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(wheel_files(&fx.artifact).contains(&"oldonly-1.0-py3-none-any.whl".to_string()));
}

#[test]
fn a_wheel_whose_hash_differs_from_the_lock_is_refused() {
    let fx = fixture();
    let wrong = "0".repeat(64);
    let lock = write_lock(&fx, Some(&wrong), "");
    let out = build_with_lock(&fx, &lock, &[]);
    refused(&out, 1, "wheel greet-1.0-py3-none-any.whl from ");
    refused(&out, 1, &format!("the lock says {wrong}"));
    refused(
        &out,
        1,
        &sha256(&fx.dir.path().join("wheelhouse/greet-1.0-py3-none-any.whl")),
    );
}

#[test]
fn packages_without_a_wheel_are_listed_in_one_error() {
    let fx = fixture();
    let extra = r#"
[[packages]]
name = "onlysdist"
version = "1.0"
sdist = { url = "https://example.invalid/onlysdist-1.0.tar.gz", hashes = { sha256 = "00" } }

[[packages]]
name = "fromgit"
vcs = { type = "git", url = "https://example.invalid/fromgit.git", commit-id = "0123abc" }
"#;
    let lock = write_lock(&fx, None, extra);
    let out = build_with_lock(&fx, &lock, &["--target-python", "3.11.2"]);
    refused(
        &out,
        1,
        "no wheel for onlysdist (Python 3.11.2: only an sdist), fromgit (Python 3.11.2: a VCS checkout)",
    );
    let out = build_with_lock(&fx, &lock, &["--target-python", "3.7.9"]);
    refused(&out, 1, "requires Python >=3.8, the build is for Python 3.7.9");
}

/// pip offline over the fixture's wheelhouse, as `--requirements` with `--hash` lines.
fn build_with_requirements(fx: &Fixture, fast_sha: &str) -> Output {
    let house = fx.dir.path().join("wheelhouse");
    let greet_sha = sha256(&house.join("greet-1.0-py3-none-any.whl"));
    let req = fx.dir.path().join("requirements.txt");
    // greet's first hash is not its own, its second is: the line continuations and both
    // --hash forms are read.
    std::fs::write(
        &req,
        format!(
            "# pinned with hashes\ngreet==1.0 \\\n    --hash=sha256:{} \\\n    --hash sha256:{greet_sha}\nfastthing==2.0 --hash=sha256:{fast_sha}\n",
            "1".repeat(64)
        ),
    )
    .unwrap();
    let bootstrap = bootstrap_dir();
    let mut cmd = wheelsfx();
    cmd.arg("build")
        .arg("--app")
        .arg(fx.app())
        .arg("-r")
        .arg(&req)
        .arg("--bootstrap-wheels")
        .arg(&bootstrap)
        .arg("-o")
        .arg(&fx.artifact)
        .env("PIP_FIND_LINKS", &house)
        .env("PIP_NO_INDEX", "1")
        .env("PIP_NO_CACHE_DIR", "1");
    cmd.output().unwrap()
}

#[test]
fn requirements_hashes_are_checked() {
    let fx = fixture();
    let fast = fx
        .dir
        .path()
        .join("wheelhouse/fastthing-2.0-py3-none-manylinux_2_17_x86_64.whl");
    let out = build_with_requirements(&fx, &sha256(&fast));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        wheel_files(&fx.artifact),
        [
            "fastthing-2.0-py3-none-manylinux_2_17_x86_64.whl",
            "greet-1.0-py3-none-any.whl"
        ]
    );
    let out = build_with_requirements(&fx, &"2".repeat(64));
    // pip's own --require-hashes mode refuses first, naming the file and both hashes.
    refused(&out, 1, "pip could not download the wheels for");
    refused(&out, 1, &"2".repeat(64));
    refused(&out, 1, "fastthing");
}

/// uv from PyPI, in a venv cached across runs (tests/uv-venv.sh).
fn uv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/uv-venv.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    if !out.status.success() {
        missing(&format!("uv from PyPI (tests/uv-venv.sh): {}", text(&out.stderr)));
    }
    PathBuf::from(text(&out.stdout).trim()).join("bin/uv")
}

#[test]
#[ignore = "needs PyPI; CI runs it"]
fn a_pylock_written_by_uv_builds_and_deploys() {
    let uv = uv();
    let fx = Fixture::new();
    let project = fx.dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    // No [build-system]: a virtual project, so the lock holds only its dependencies.
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"locked-site\"\nversion = \"1.0\"\nrequires-python = \">=3.9\"\n\
         dependencies = [\"six\", \"markupsafe\", \"tomli; python_version < '3.11'\"]\n",
    )
    .unwrap();
    let uv_cmd = |args: &[&str]| {
        let mut c = Command::new(&uv);
        c.args(args).current_dir(&project).env_remove("PIP_FIND_LINKS");
        ok(&mut c)
    };
    uv_cmd(&["lock", "--quiet"]);
    uv_cmd(&[
        "export",
        "--quiet",
        "--format",
        "pylock.toml",
        "--no-emit-project",
        "-o",
        "pylock.toml",
    ]);
    let lock = project.join("pylock.toml");
    let python = &pythons()[0];
    let mut cmd = wheelsfx();
    cmd.arg("build")
        .arg("--app")
        .arg(fx.app())
        .arg("--lock")
        .arg(&lock)
        .arg("--python")
        .arg(&python.path)
        .arg("--bootstrap-wheels")
        .arg(bootstrap_dir())
        .arg("-o")
        .arg(&fx.artifact)
        .env_remove("PIP_FIND_LINKS");
    ok(&mut cmd);
    let files = wheel_files(&fx.artifact);
    assert!(files.iter().any(|f| f.starts_with("six-")), "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("markupsafe-") || f.starts_with("MarkupSafe-")),
        "{files:?}"
    );
    // uv writes tomli's marker; the build interpreter decides it.
    assert_eq!(
        files.iter().any(|f| f.starts_with("tomli-")),
        python.minor < 11,
        "{files:?}"
    );
    let dest = fx.dest("uv");
    fx.deploy(&dest, &python.path, &[]);
    ok(Command::new(dest.join("venv/bin/python")).args(["-c", "import six, markupsafe; markupsafe.escape('<')"]));
}
