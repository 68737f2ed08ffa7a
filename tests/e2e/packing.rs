//! The packer packs what the user meant: symlinks stay inside the tree unless followed on
//! purpose, modes are kept, an input that changes mid-build or a reserved app name is refused,
//! the temporary output never follows a planted symlink, one wheel per distribution, and
//! bootstrap wheels fit every target Python.

use crate::support::*;
use crate::{standard_wheels, Fixture};
use serde_json::Value;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The manifest of `artifact`, as `wheelsfx inspect --json` prints it.
fn manifest(artifact: &Path) -> Value {
    serde_json::from_slice(&ok(wheelsfx().arg("inspect").arg("--json").arg(artifact)).stdout).unwrap()
}

/// The mode the manifest records for the entry `path`, if it is packed.
fn entry_mode(manifest: &Value, path: &str) -> Option<u32> {
    manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .map(|e| e["mode"].as_u64().unwrap() as u32)
}

/// Runs `cmd`, failing the test instead of hanging when it takes over a minute.
fn within_a_minute(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{cmd:?} still runs after a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A build of the fixture into `out.sfx` beside it that must be refused with exit 1 and `needle`,
/// leaving no artifact and no temporary file.
fn build_refused(fx: &Fixture, extra: &[&str], needle: &str) -> String {
    let output = fx.dir.path().join("out.sfx");
    let out = within_a_minute(fx.build_command(&output).args(extra));
    refused(&out, 1, needle);
    assert!(!output.exists(), "a refused build left {}", output.display());
    assert!(!fx.dir.path().join(".out.sfx.wheelsfx-tmp").exists());
    text(&out.stderr)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_symlink_out_of_the_tree_is_refused_unless_followed() {
    let fx = Fixture::new();
    let link = fx.app().join("passwd");
    symlink("/etc/passwd", &link).unwrap();
    let err = build_refused(&fx, &[], "is a symlink to /etc/passwd, outside");
    assert!(
        err.contains(&link.display().to_string()) && err.contains("--follow-symlinks"),
        "{err}"
    );
    std::fs::remove_file(&link).unwrap();

    let static_link = fx.dir.path().join("fonts/hosts");
    symlink("/etc/hosts", &static_link).unwrap();
    let err = build_refused(&fx, &[], "is a symlink to /etc/hosts, outside");
    assert!(err.contains(&static_link.display().to_string()), "{err}");

    symlink("/etc/passwd", &link).unwrap();
    let out = fx.build(&["--follow-symlinks"]);
    let err = text(&out.stderr);
    for (l, target) in [(&link, "/etc/passwd"), (&static_link, "/etc/hosts")] {
        let said = format!("following {} -> {target}", l.display());
        assert!(err.contains(&said), "{said:?} not on stderr:\n{err}");
    }
    let m = manifest(&fx.artifact);
    assert!(entry_mode(&m, "mysite/passwd").is_some() && entry_mode(&m, "static.in/0/hosts").is_some());
}

#[test]
fn follow_symlinks_and_name_come_from_pyproject_too() {
    let fx = Fixture::new();
    symlink("/etc/passwd", fx.app().join("passwd")).unwrap();
    let config = fx.dir.path().join("pyproject.toml");
    std::fs::write(&config, "[tool.wheelsfx]\nfollow-symlinks = true\nname = \"shop\"\n").unwrap();
    let out = fx.build(&["--config", config.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("-> /etc/passwd"), "{}", text(&out.stderr));
    let m = manifest(&fx.artifact);
    assert_eq!(m["app"]["name"], "shop");
    assert!(entry_mode(&m, "shop/passwd").is_some());
}

#[test]
fn symlinks_inside_the_tree_are_packed() {
    let fx = Fixture::new();
    symlink("mysite/__init__.py", fx.app().join("alias.py")).unwrap();
    symlink("mysite", fx.app().join("pkg")).unwrap();
    fx.build(&[]);
    let m = manifest(&fx.artifact);
    for path in ["mysite/alias.py", "mysite/pkg/__init__.py", "mysite/mysite/__init__.py"] {
        assert!(entry_mode(&m, path).is_some(), "{path} not packed");
    }
}

#[test]
fn symlink_loops_are_refused_not_walked_forever() {
    let fx = Fixture::new();
    let own = fx.app().join("itself");
    symlink("itself", &own).unwrap();
    build_refused(&fx, &[], "cannot resolve");
    std::fs::remove_file(&own).unwrap();

    let up = fx.app().join("mysite/up");
    symlink("..", &up).unwrap();
    build_refused(&fx, &[], "leads back to");
    std::fs::remove_file(&up).unwrap();

    // Out of the tree and back in: only the directories being read show the loop.
    let outer = fx.dir.path().join("outer");
    std::fs::create_dir(&outer).unwrap();
    symlink(fx.app(), outer.join("back")).unwrap();
    symlink(&outer, fx.app().join("out")).unwrap();
    build_refused(&fx, &["--follow-symlinks"], "leads back to");
}

#[test]
fn kernel_files_devices_and_fifos_are_refused_even_when_following() {
    let fx = Fixture::new();
    for target in ["/proc/self/environ", "/dev/null"] {
        let link = fx.app().join("leak");
        symlink(target, &link).unwrap();
        let err = build_refused(&fx, &["--follow-symlinks"], "is not a regular file");
        assert!(err.contains("mysite/leak"), "{err}");
        std::fs::remove_file(&link).unwrap();
    }
    ok(Command::new("mkfifo").arg(fx.app().join("pipe")));
    build_refused(&fx, &[], "pipe is not a regular file");
}

#[test]
fn modes_are_kept() {
    let fx = Fixture::new();
    let app = fx.app();
    for (name, mode) in [("secret.txt", 0o600), ("group.cfg", 0o640), ("tool.sh", 0o4755)] {
        std::fs::write(app.join(name), "x\n").unwrap();
        chmod(&app.join(name), mode);
    }
    fx.build(&[]);
    let m = manifest(&fx.artifact);
    let want = [
        ("secret.txt", 0o600),
        ("group.cfg", 0o640),
        ("tool.sh", 0o755),
        ("manage.py", 0o644),
    ];
    for (name, mode) in want {
        assert_eq!(entry_mode(&m, &format!("mysite/{name}")), Some(mode), "{name}");
    }
    let python = &pythons()[0];
    let dest = fx.dest("modes");
    fx.deploy(&dest, &python.path, &[]);
    let mode = |name: &str| {
        std::fs::metadata(dest.join("mysite").join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("secret.txt"), 0o600);
    assert_eq!(mode("group.cfg") & !0o640, 0, "group.cfg is wider than 0640");
    assert_eq!(mode("tool.sh"), 0o755);
}

#[test]
fn a_file_that_changes_while_it_is_packed_is_refused() {
    let fx = Fixture::new();
    let big = fx.app().join("big.bin");
    std::fs::write(&big, vec![0u8; 32 << 20]).unwrap();
    let output = fx.dir.path().join("out.sfx");
    let mut child = fx
        .build_command(&output)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Append a byte every millisecond until the build ends: plan's hash and what write reads
    // cannot agree.
    let mut file = std::fs::OpenOptions::new().append(true).open(&big).unwrap();
    while child.try_wait().unwrap().is_none() {
        std::io::Write::write_all(&mut file, b"+").unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let out = child.wait_with_output().unwrap();
    refused(&out, 1, "big.bin changed while it was being packed; build again");
    assert!(!output.exists() && !fx.dir.path().join(".out.sfx.wheelsfx-tmp").exists());
}

#[test]
fn reserved_and_unsafe_app_names_are_refused() {
    let fx = Fixture::new();
    let output = fx.dir.path().join("out.sfx");
    let app = |name: &str| {
        let dir = fx.dir.path().join("apps").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("x.py"), "X = 1\n").unwrap();
        dir
    };
    for name in [
        "wheels",
        "bootstrap_wheels",
        "venv",
        ".wheelsfx",
        "my site",
        "x$(touch pwned)",
    ] {
        let out = fx
            .build_command_with(&app(name), &bootstrap_dir(), &output)
            .output()
            .unwrap();
        refused(&out, 1, "the app name");
        assert!(text(&out.stderr).contains("--app"), "{}", text(&out.stderr));
        assert!(!output.exists(), "{name:?} built");
    }
    let wheels = app("wheels");
    ok(fx
        .build_command_with(&wheels, &bootstrap_dir(), &output)
        .args(["--name", "shop"]));
    let m = manifest(&output);
    assert_eq!(m["app"]["name"], "shop");
    assert!(entry_mode(&m, "shop/x.py").is_some());
    let out = fx
        .build_command(&fx.artifact)
        .args(["--name", "venv"])
        .output()
        .unwrap();
    refused(&out, 1, "--name: the app name \"venv\" is reserved");
}

#[test]
fn a_planted_symlink_at_the_temporary_output_is_not_followed() {
    let fx = Fixture::new();
    let tmp = fx.dir.path().join(".out.sfx.wheelsfx-tmp");
    let victim = fx.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let nowhere = fx.dir.path().join("nowhere");
    for target in [&victim, &nowhere] {
        symlink(target, &tmp).unwrap();
        let out = fx.build_command(&fx.dir.path().join("out.sfx")).output().unwrap();
        refused(&out, 1, ".out.sfx.wheelsfx-tmp is in the way");
        assert!(tmp.is_symlink(), "the planted symlink was removed");
        std::fs::remove_file(&tmp).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(!nowhere.exists());
    // A temporary file a killed build left is replaced.
    std::fs::write(&tmp, "half an artifact").unwrap();
    ok(&mut fx.build_command(&fx.dir.path().join("out.sfx")));
    assert!(!tmp.exists());
}

/// The version of the bootstrap wheel of `dist` the tests use.
fn bootstrap_version(dist: &str) -> String {
    let prefix = format!("{dist}-");
    std::fs::read_dir(bootstrap_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find_map(|n| Some(n.strip_prefix(&prefix)?.split('-').next()?.to_string()))
        .unwrap()
}

#[test]
fn the_projects_setuptools_pin_wins_over_the_bootstrap_copy() {
    let mut wheels = standard_wheels();
    wheels.push(WheelSpec::new("setuptools", "70.0.0").file("setuptools/__init__.py", "__version__ = '70.0.0'\n"));
    let fx = Fixture::with_wheels(wheels);
    let out = fx.build(&[]);
    let said = format!(
        "using the project's setuptools 70.0.0 instead of the bootstrap setuptools {}",
        bootstrap_version("setuptools")
    );
    assert!(text(&out.stderr).contains(&said), "{}", text(&out.stderr));
    let m = manifest(&fx.artifact);
    let files = |key: &str| {
        m[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["file"].to_string())
            .collect::<String>()
    };
    assert!(
        !files("bootstrap_wheels").contains("setuptools"),
        "{}",
        files("bootstrap_wheels")
    );
    assert!(files("wheels").contains("setuptools-70.0.0"));

    for installer in ["native", "pip"] {
        let dest = fx.dest(installer);
        fx.deploy(&dest, &pythons()[0].path, &["--installer", installer]);
        let import = "import setuptools; print(setuptools.__version__)";
        let out = ok(Command::new(dest.join("venv/bin/python")).args(["-c", import]));
        assert_eq!(text(&out.stdout).trim(), "70.0.0", "{installer}");
        let site = std::fs::read_dir(dest.join("venv/lib"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let dist_infos: Vec<String> = std::fs::read_dir(site.join("site-packages"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("setuptools-"))
            .collect();
        assert_eq!(dist_infos, ["setuptools-70.0.0.dist-info"], "{installer}");
    }
}

#[test]
fn bootstrap_wheels_must_fit_every_target_python() {
    let mut cp38 = WheelSpec::new("fastthing", "2.0").file("fastthing.py", "SPEED = 'fast'\n");
    cp38.purelib = false;
    cp38.tag = "cp38-cp38-manylinux_2_17_x86_64";
    // The test bootstrap wheels (Requires-Python >=3.8) fit a 3.8 target: this builds.
    let fx = Fixture::with_wheels(vec![cp38]);
    let boot = fx.dir.path().join("boot");
    std::fs::create_dir(&boot).unwrap();
    let setuptools = format!("setuptools-{}-py3-none-any.whl", bootstrap_version("setuptools"));
    std::fs::copy(bootstrap_dir().join(&setuptools), boot.join(&setuptools)).unwrap();
    let mut pip = WheelSpec::new("pip", "99.0").file("pip/__init__.py", "");
    pip.requires_python = Some(">=3.9");
    pip.write(&boot);
    let output = fx.dir.path().join("out.sfx");
    let out = fx.build_command_with(&fx.app(), &boot, &output).output().unwrap();
    refused(
        &out,
        1,
        "the bootstrap wheel pip-99.0-py3-none-any.whl requires Python >=3.9, but the artifact targets Python 3.8",
    );
    assert!(text(&out.stderr).contains("--bootstrap-wheels"));
    assert!(!output.exists());
}

#[test]
fn python_is_the_target_of_an_all_pure_set() {
    let fx = Fixture::new();
    let python = &pythons()[0];
    let out = fx.build(&["--python", python.path.to_str().unwrap()]);
    let said = format!("python 3.{})", python.minor);
    assert!(text(&out.stdout).contains(&said), "{}", text(&out.stdout));
    assert_eq!(
        manifest(&fx.artifact)["target"]["python_versions"][0],
        format!("3.{}", python.minor)
    );

    // Markers are then evaluated for that version: a conditional requirement is checked.
    let mut needy = WheelSpec::new("needy", "1.0").file("needy.py", "");
    needy.requires_dist = vec!["tomli; python_version >= \"3.8\""];
    let fx = Fixture::with_wheels(vec![needy]);
    let out = fx
        .build_command(&fx.artifact)
        .args(["--python", python.path.to_str().unwrap()])
        .output()
        .unwrap();
    refused(&out, 1, &format!("(for Python 3.{}.", python.minor));
    assert!(text(&out.stderr).contains("but the set has no tomli"));
}

/// A build of the fixture into `out.sfx` with `cache` as XDG_CACHE_HOME (its check cache under
/// it), and the summary's line on the wheels' RECORD checks.
fn build_cached(fx: &Fixture, cache: &Path, extra: &[&str]) -> (Output, String) {
    let mut cmd = fx.build_command(&fx.dir.path().join("out.sfx"));
    cmd.env("XDG_CACHE_HOME", cache).env_remove("WHEELSFX_NO_CHECK_CACHE");
    let out = cmd.args(extra).output().unwrap();
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.contains("checked against their RECORD"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    (out, line)
}

fn checks(full: usize, cached: usize) -> String {
    format!("wheels checked against their RECORD: {full} in full, {cached} known from the check cache")
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The check cache's entries: wheel sha256s.
fn cache_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache.join("wheelsfx/checked"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_check_cache_checks_each_wheel_in_full_once() {
    let fx = Fixture::new();
    let cache = fx.dir.path().join("cache");
    let n = 2 + std::fs::read_dir(bootstrap_dir()).unwrap().count(); // pip, setuptools
    let (out, line) = build_cached(&fx, &cache, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(line, checks(n, 0));
    // One entry per wheel, named by the sha256 the manifest records for it.
    let m = manifest(&fx.dir.path().join("out.sfx"));
    let mut recorded: Vec<String> = ["wheels", "bootstrap_wheels"]
        .iter()
        .flat_map(|k| m[k].as_array().unwrap().clone())
        .map(|w| w["sha256"].as_str().unwrap().to_string())
        .collect();
    recorded.sort();
    assert_eq!(cache_entries(&cache), recorded);
    let entry = std::fs::read_to_string(cache.join("wheelsfx/checked").join(&recorded[0])).unwrap();
    assert!(entry.starts_with("wheelsfx ") && entry.contains(" rules "), "{entry:?}");
    assert_eq!(build_cached(&fx, &cache, &[]).1, checks(0, n));
    // Other bytes are another wheel: checked in full again, and recorded.
    let mut fast = WheelSpec::new("fastthing", "2.0").file("fastthing.py", "SPEED = 'faster'\n");
    fast.purelib = false;
    fast.tag = "py3-none-manylinux_2_17_x86_64";
    let path = fast.write(&fx.dir.path().join("wheelhouse"));
    assert_eq!(build_cached(&fx, &cache, &[]).1, checks(1, n - 1));
    assert!(cache_entries(&cache).contains(&sha256_hex(&path)));
    assert_eq!(build_cached(&fx, &cache, &[]).1, checks(0, n));
    // Forced full checks neither read nor write the cache.
    assert_eq!(build_cached(&fx, &cache, &["--no-check-cache"]).1, checks(n, 0));
    let fresh = fx.dir.path().join("fresh");
    let mut cmd = fx.build_command(&fx.dir.path().join("out.sfx"));
    let out = ok(cmd.env("XDG_CACHE_HOME", &fresh).env("WHEELSFX_NO_CHECK_CACHE", "1"));
    assert!(text(&out.stdout).contains(&checks(n, 0)), "{}", text(&out.stdout));
    assert!(!fresh.exists(), "--no-check-cache wrote a cache");
}

#[test]
fn a_wheel_that_fails_its_check_is_never_recorded_and_a_planted_entry_only_reaches_the_stub() {
    let fx = Fixture::new();
    let cache = fx.dir.path().join("cache");
    let greet = fx.dir.path().join("wheelhouse/greet-1.0-py3-none-any.whl");
    crate::confine::rewrite_wheel(
        &greet,
        &|files| {
            for (name, data) in files.iter_mut() {
                if name == "greet/__init__.py" {
                    data.extend_from_slice(b"\nimport os; os.system('evil')\n");
                }
            }
        },
        &|_| Default::default(),
    );
    let bad = sha256_hex(&greet);
    for _ in 0..2 {
        let (out, _) = build_cached(&fx, &cache, &[]);
        refused(&out, 1, "does not match its RECORD");
        assert!(!cache_entries(&cache).contains(&bad), "a refused wheel was recorded");
    }
    // An entry planted for it (anyone who can write the cache) lets it into an artifact ...
    let good = cache_entries(&cache);
    let dir = cache.join("wheelsfx/checked");
    std::fs::copy(dir.join(&good[0]), dir.join(&bad)).unwrap();
    let (out, line) = build_cached(&fx, &cache, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(line, checks(0, good.len() + 1));
    // ... which every installer refuses at deploy, and --verify too.
    let bytes = std::fs::read(fx.dir.path().join("out.sfx")).unwrap();
    let needle = "does not match its RECORD";
    crate::hostile::refuses(fx.dir.path(), "planted", &bytes, &[], 3, needle);
    crate::hostile::refuses(fx.dir.path(), "planted-pip", &bytes, &["--installer", "pip"], 3, needle);
    let verify = Command::new(fx.dir.path().join("planted.sfx"))
        .arg("--verify")
        .output()
        .unwrap();
    refused(&verify, 3, needle);
}
