//! Exact targets: `--target-python X.Y.Z` (repeatable) and `--platform TAG`. One artifact with
//! a wheel set per Python, deployed on each of pyenv's interpreters, each getting its own
//! compiled wheel; refused on a Python it was not built for, naming the targets and the
//! rebuild; a wheel the exact target refuses (Requires-Python, glibc) refused at build.

use super::*;
use serde_json::Value;

/// The manifest of `artifact`, as `wheelsfx inspect --json` prints it.
fn manifest(artifact: &Path) -> Value {
    serde_json::from_slice(&ok(wheelsfx().arg("inspect").arg("--json").arg(artifact)).stdout).unwrap()
}

/// pyenv's newest `3.MINOR.*` here: its exact version and its real `python3.MINOR` (not the
/// shim).
fn pyenv(minor: u32) -> Option<(String, PathBuf)> {
    let out = Command::new("pyenv").args(["versions", "--bare"]).output().ok()?;
    let prefix = format!("3.{minor}.");
    let version = text(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|v| v.starts_with(&prefix) && v[prefix.len()..].bytes().all(|b| b.is_ascii_digit()))
        .max_by_key(|v| v[prefix.len()..].parse::<u32>().unwrap_or(0))?
        .to_string();
    let dir = Command::new("pyenv").args(["prefix", &version]).output().ok()?;
    let bin = PathBuf::from(text(&dir.stdout).trim()).join(format!("bin/python3.{minor}"));
    bin.is_file().then_some((version, bin))
}

/// A compiled-looking wheel for CPython 3.MINOR only, which says which Python it was built for.
fn compiled_for(minor: u32) -> WheelSpec {
    let tag: &'static str = Box::leak(format!("cp3{minor}-cp3{minor}-manylinux_2_17_x86_64").into_boxed_str());
    let mut w = WheelSpec::new("speedy", "1.0").file(
        "speedy/__init__.py",
        &format!("import sys\nBUILT_FOR = '3.{minor}'\nassert sys.version_info[:2] == (3, {minor})\n"),
    );
    w.purelib = false;
    w.tag = tag;
    w
}

#[test]
fn targets_one_artifact_per_python_each_gets_its_own_wheels() {
    let minors = [9, 11, 12, 13];
    let found: Vec<(u32, String, PathBuf)> = minors
        .iter()
        .filter_map(|&m| pyenv(m).map(|(v, p)| (m, v, p)))
        .collect();
    let old = pyenv(8);
    if found.len() < minors.len() || old.is_none() {
        not_covered("pyenv's 3.8, 3.9, 3.11, 3.12 and 3.13 (one artifact for four Pythons)");
        return;
    }
    let mut wheels = standard_wheels();
    wheels.push(WheelSpec::new("puretool", "1.0").file("puretool.py", "OK = True\n"));
    wheels.extend(minors.iter().map(|&m| compiled_for(m)));
    let fx = Fixture::with_wheels(wheels);
    let mut args = Vec::new();
    for (_, v, _) in &found {
        args.extend(["--target-python", v.as_str()]);
    }
    fx.build(&args);

    let m = manifest(&fx.artifact);
    let sets = m["target"]["sets"].as_array().unwrap();
    let versions: Vec<&str> = sets.iter().map(|s| s["python"].as_str().unwrap()).collect();
    let wanted: Vec<&str> = found.iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(versions, wanted);
    assert_eq!(
        m["target"]["python_versions"],
        serde_json::json!(["3.13", "3.12", "3.11", "3.9"])
    );
    assert_eq!(m["target"]["min_python"], "3.9.0");
    assert_eq!(m["target"]["glibc"], "2.17");
    // Pure wheels are stored once and named by every set; each set has its own compiled one.
    let files: Vec<&str> = m["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files.iter().filter(|f| f.starts_with("wheels/puretool-")).count(),
        1,
        "{files:?}"
    );
    assert_eq!(
        files.iter().filter(|f| f.starts_with("wheels/speedy-")).count(),
        4,
        "{files:?}"
    );
    let entries = m["entries"].as_array().unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["path"] == "wheels/puretool-1.0-py3-none-any.whl")
            .count(),
        1
    );
    for (s, (minor, _, _)) in sets.iter().zip(&found) {
        let members: Vec<&str> = s["wheels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(members.contains(&"wheels/puretool-1.0-py3-none-any.whl"), "{members:?}");
        let own = format!("wheels/speedy-1.0-cp3{minor}-cp3{minor}-manylinux_2_17_x86_64.whl");
        assert!(members.contains(&own.as_str()), "{members:?}");
        assert_eq!(members.len(), 4, "{members:?}");
        assert_eq!(s["min_python"], format!("3.{minor}.0"));
    }
    let shown = text(&ok(wheelsfx().arg("inspect").arg(&fx.artifact)).stdout);
    assert!(shown.contains("targets (4):"), "{shown}");
    assert!(
        shown.contains("needs:      Python 3.9.0 or later, glibc 2.17 or later"),
        "{shown}"
    );
    let line = format!(
        "  Python {}  on the build machine's platform  min Python 3.11.0  glibc 2.17  4 wheels",
        found[1].1
    );
    assert!(shown.contains(&line), "{shown}");

    for (minor, version, python) in &found {
        let dest = fx.dest(&format!("py3{minor}"));
        fx.deploy(&dest, python, &[]);
        let out = ok(Command::new(dest.join("venv/bin/python")).args([
            "-c",
            "import speedy, puretool, greet, sys; print(speedy.BUILT_FOR, '%d.%d.%d' % sys.version_info[:3])",
        ]));
        assert_eq!(text(&out.stdout).trim(), format!("3.{minor} {version}"));
    }

    let (version, python) = old.unwrap();
    let dest = fx.dest("py38");
    let out = fx.install_command(&dest, &python).output().unwrap();
    refused(
        &out,
        4,
        &format!("Rebuild it for this server's Python: wheelsfx build --target-python {version}"),
    );
    let err = text(&out.stderr);
    let built = format!(
        "The artifact was built for Python {} (3.9.0 or later 3.9, glibc 2.17 or later), Python {} (3.11.0",
        found[0].1, found[1].1
    );
    assert!(err.contains(&built), "{err}");
    assert!(err.contains("the artifact has no wheel set for Python 3.8"), "{err}");
    assert!(!dest.exists());
}

#[test]
fn targets_a_wheel_the_exact_python_refuses_is_refused_at_build() {
    let mut soup = WheelSpec::new("soupsieve", "4.1.3").file("soupsieve/__init__.py", "");
    soup.requires_python = Some(">=3.11.5");
    let fx = Fixture::with_wheels(vec![soup]);
    let output = fx.dir.path().join("for-3.11.2.sfx");
    let out = fx
        .build_command(&output)
        .args(["--target-python", "3.11.2"])
        .output()
        .unwrap();
    refused(
        &out,
        1,
        "soupsieve-4.1.3-py3-none-any.whl has Requires-Python >=3.11.5, the lowest Python it fits is 3.11.5",
    );
    let err = text(&out.stderr);
    assert!(err.contains("no wheel fits Python 3.11.2 for soupsieve ("), "{err}");
    assert!(err.contains("pin an older version"), "{err}");
    assert!(!output.exists());
    // For 3.11.7 it fits, and the set records the lowest 3.11 it runs on.
    fx.build(&["--target-python", "3.11.7"]);
    let m = manifest(&fx.artifact);
    assert_eq!(m["target"]["sets"][0]["min_python"], "3.11.5");
    assert_eq!(m["target"]["min_python"], "3.11.5");
}

#[test]
fn targets_platform_refuses_a_wheel_for_a_newer_glibc() {
    let mut fast = WheelSpec::new("fast", "1.0").file("fast.py", "");
    fast.purelib = false;
    fast.tag = "cp311-cp311-manylinux_2_34_x86_64";
    let fx = Fixture::with_wheels(vec![fast]);
    let output = fx.dir.path().join("old-glibc.sfx");
    let out = fx
        .build_command(&output)
        .args(["--target-python", "3.11.2", "--platform", "manylinux_2_31_x86_64"])
        .output()
        .unwrap();
    refused(
        &out,
        1,
        "fast-1.0-cp311-cp311-manylinux_2_34_x86_64.whl is built for other Pythons or platforms",
    );
    assert!(text(&out.stderr).contains("no wheel fits Python 3.11.2 on manylinux_2_31_x86_64 for fast ("));
    assert!(!output.exists());
    fx.build(&["--target-python", "3.11.2", "--platform", "manylinux_2_36_x86_64"]);
    let set = &manifest(&fx.artifact)["target"]["sets"][0];
    assert_eq!(set["platforms"], serde_json::json!(["manylinux_2_36_x86_64"]));
    assert_eq!(set["glibc"], "2.34");
    // A platform without a target Python is a usage mistake, said as such.
    let out = fx
        .build_command(&output)
        .args(["--platform", "manylinux_2_36_x86_64"])
        .output()
        .unwrap();
    refused(&out, 1, "--platform manylinux_2_36_x86_64 needs --target-python X.Y.Z");
}

#[test]
fn targets_a_named_interpreter_is_the_implicit_target() {
    let fx = Fixture::new();
    let python = &pythons()[0];
    fx.build(&["--python", python.path.to_str().unwrap()]);
    let out = ok(Command::new(&python.path).args(["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]));
    let m = manifest(&fx.artifact);
    assert_eq!(m["target"]["sets"][0]["python"], text(&out.stdout).trim());
    assert_eq!(m["target"]["sets"].as_array().unwrap().len(), 1);
}

#[test]
#[ignore = "needs PyPI; CI runs it"]
fn targets_pip_downloads_for_the_servers_python_and_lists_what_has_no_wheel() {
    let reachable = Command::new("python3")
        .args([
            "-c",
            "import urllib.request as u; u.urlopen('https://pypi.org/simple/markupsafe/', timeout=20)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !reachable {
        missing("https://pypi.org is not reachable");
    }
    let fx = Fixture::with_wheels(Vec::new());
    let req = fx.dir.path().join("requirements.txt");
    // docopt 0.6.2 is published as an sdist only; markupsafe has cp311 manylinux wheels.
    std::fs::write(&req, "markupsafe==2.1.5\ndocopt==0.6.2\n").unwrap();
    let build = |output: &Path| {
        let mut cmd = wheelsfx();
        cmd.arg("build").arg("--app").arg(fx.app()).arg("-r").arg(&req);
        cmd.arg("--bootstrap-wheels").arg(bootstrap_dir()).arg("-o").arg(output);
        cmd.args(["--target-python", "3.11.2", "--platform", "manylinux_2_36_x86_64"]);
        cmd.env_remove("PIP_FIND_LINKS").env_remove("PIP_NO_INDEX");
        cmd
    };
    let output = fx.dir.path().join("srv.sfx");
    let out = build(&output).output().unwrap();
    refused(
        &out,
        1,
        "no wheel for Python 3.11.2 on manylinux_2_36_x86_64 of 1 requirement: docopt==0.6.2",
    );
    assert!(!output.exists());
    std::fs::write(&req, "markupsafe==2.1.5\n").unwrap();
    ok(&mut build(&output));
    let m = manifest(&output);
    let set = &m["target"]["sets"][0];
    assert_eq!(set["python"], "3.11.2");
    let members = set["wheels"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    let file = members[0].as_str().unwrap();
    assert!(
        file.starts_with("wheels/MarkupSafe-2.1.5-cp311-cp311-manylinux_2_17_x86_64"),
        "{file}"
    );
    assert_eq!(set["glibc"], "2.17");
}
