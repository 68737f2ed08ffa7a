//! Robustness on the server: planted symlinks and open parents, children that never answer,
//! odd --env-file inputs, --force over a non-directory, sizes that lie, hostile strings in
//! output, clear interpreter messages, closed output, and DEST paths with spaces and quotes.
//! One test per finding of issue 7's "hangs and unclear failures".

use crate::hostile::{refuses, Base};
use crate::support::*;
use crate::{standard_wheels, Fixture};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Waits for `child` at most `limit`; a child still running then is killed and the test fails.
fn finish_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn robust_lock_symlink_and_open_parent_are_refused() {
    let fx = Fixture::new();
    let py = &pythons()[0].path;
    let parent = fx.dir.path().join("srv");
    std::fs::create_dir_all(&parent).unwrap();
    let dest = parent.join("rel");
    let outside = fx.dir.path().join("outside-file");
    std::os::unix::fs::symlink(&outside, parent.join(".rel.wheelsfx-lock")).unwrap();
    let out = fx.install_command(&dest, py).output().unwrap();
    refused(&out, 5, "is not a regular file");
    assert!(!outside.exists(), "the planted lock symlink was followed");
    std::fs::remove_file(parent.join(".rel.wheelsfx-lock")).unwrap();
    nothing_left(&dest);

    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = fx.install_command(&dest, py).output().unwrap();
    refused(&out, 5, "chmod o-w");
    assert!(text(&out.stderr).contains(parent.to_str().unwrap()));
    nothing_left(&dest);
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o1777)).unwrap();
    fx.deploy(&dest, py, &[]);
    assert!(dest.join("venv/bin/python").exists());
}

/// A script that starts a grandchild (its pid into `pidfile`) and then never answers.
fn hanging_python(path: &Path, pidfile: &Path) {
    write_exe(
        path,
        format!("#!/bin/sh\nsleep 1000 &\necho $! > '{}'\nwait\n", pidfile.display()).as_bytes(),
    );
}

/// The process `pidfile` names is gone (or a zombie waiting for init).
fn dead(pidfile: &Path) {
    let pid = std::fs::read_to_string(pidfile).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    let state = stat.rsplit(')').next().unwrap_or("").split_whitespace().next();
    assert!(
        matches!(state, None | Some("Z")),
        "the interpreter's child outlived it: {stat}"
    );
}

#[test]
fn robust_an_interpreter_that_never_answers_is_killed_with_its_children() {
    let fx = Fixture::new();
    // --python sets the X.Y of an all-pure set, so the stub tries pythonX.Y first.
    let py = pythons()[0].path.to_string_lossy().into_owned();
    fx.build(&["--python", &py]);
    let dir = fx.dir.path();
    // --python that hangs: refused after the time-out.
    let fake = dir.join("python3.hang");
    hanging_python(&fake, &dir.join("requested.pid"));
    let dest = fx.dest("hang");
    let start = Instant::now();
    let requested = fx
        .install_command(&dest, &fake)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // pythonX.Y on PATH that hangs: given up on, and python3 after it is used.
    let manifest: serde_json::Value =
        serde_json::from_slice(&ok(Command::new(&fx.artifact).args(["--inspect", "--json"])).stdout).unwrap();
    let fakes = dir.join("fakebin");
    std::fs::create_dir_all(&fakes).unwrap();
    let versions = manifest["target"]["python_versions"].as_array().unwrap().clone();
    for v in &versions {
        hanging_python(
            &fakes.join(format!("python{}", v.as_str().unwrap())),
            &dir.join("onpath.pid"),
        );
    }
    let path = format!("{}:{}", fakes.display(), std::env::var("PATH").unwrap());
    let dest2 = fx.dest("next");
    let next = Command::new(&fx.artifact)
        .arg("-d")
        .arg(&dest2)
        .env("PATH", path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let out = finish_within(requested, Duration::from_secs(90), "the stub with a hanging --python");
    refused(&out, 4, "did not answer within 30 s");
    assert!(start.elapsed() < Duration::from_secs(60));
    dead(&dir.join("requested.pid"));
    nothing_left(&dest);
    let out = finish_within(next, Duration::from_secs(120), "the stub with a hanging pythonX.Y");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(dest2.join("venv/bin/python").exists());
    assert!(
        !versions.is_empty(),
        "the fixture targets no X.Y: no pythonX.Y candidate to hang"
    );
    dead(&dir.join("onpath.pid"));
}

#[test]
fn robust_env_file_must_be_a_small_regular_file_and_keeps_its_mode() {
    let fx = Fixture::new();
    let py = &pythons()[0].path;
    let dir = fx.dir.path();
    let fifo = dir.join("env.fifo");
    ok(Command::new("mkfifo").arg(&fifo));
    let big = dir.join("big.json");
    std::fs::write(&big, format!("{{\"A\": \"{}\"}}", "x".repeat(2 << 20))).unwrap();
    let dest = fx.dest("env");
    for (file, needle) in [
        (fifo.as_path(), "not a regular file"),
        (Path::new("/dev/zero"), "not a regular file"),
        (dir, "not a regular file"),
        (big.as_path(), "bytes, over the 1 MiB limit"),
    ] {
        let child = fx
            .install_command(&dest, py)
            .arg("--env-file")
            .arg(file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = finish_within(
            child,
            Duration::from_secs(20),
            &format!("--env-file {}", file.display()),
        );
        refused(&out, 2, needle);
        assert!(text(&out.stderr).contains(file.to_str().unwrap()));
        nothing_left(&dest);
    }
    let secret = dir.join("secret.json");
    std::fs::write(&secret, r#"{"SECRET_KEY": "s3cret"}"#).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    fx.deploy(&dest, py, &["--env-file", secret.to_str().unwrap()]);
    assert_eq!(mode_of(&dest.join("environment.json")), 0o600);
}

#[test]
fn robust_force_over_a_non_directory_is_refused_and_leftovers_never_block() {
    let fx = Fixture::new();
    let py = &pythons()[0].path;
    let parent = fx.dir.path().join("srv");
    std::fs::create_dir_all(&parent).unwrap();
    let file = parent.join("file-rel");
    std::fs::write(&file, "not a release").unwrap();
    let link = parent.join("link-rel");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    for dest in [&file, &link] {
        let out = fx.install_command(dest, py).arg("--force").output().unwrap();
        refused(&out, 6, "is not a directory");
        assert!(!text(&out.stderr).contains("installing"), "work was done first");
        assert_eq!(std::fs::read_to_string(dest).unwrap(), "not a release");
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    // Leftovers of any kind beside DEST (as an interrupted --force leaves) are cleared.
    let dest = parent.join("rel");
    std::fs::write(parent.join(".rel.wheelsfx-old"), "leftover").unwrap();
    std::os::unix::fs::symlink("/nonexistent", parent.join(".rel.wheelsfx-stage")).unwrap();
    fx.deploy(&dest, py, &[]);
    fx.deploy(&dest, py, &["--force"]);
    assert!(dest.join("venv/bin/python").exists());
    nothing_left(&parent.join("absent"));
}

/// Sets the sizes of the zip entry `name` in `zip` (local header and central directory).
fn claim_size(zip: &mut [u8], name: &str, size: u32) {
    let mut hits = 0;
    for at in 0..zip.len().saturating_sub(46) {
        let (sizes, name_len, name_at) = match &zip[at..at + 4] {
            b"PK\x03\x04" => (18, 26, 30),
            b"PK\x01\x02" => (20, 28, 46),
            _ => continue,
        };
        let len = u16::from_le_bytes([zip[at + name_len], zip[at + name_len + 1]]) as usize;
        if zip.get(at + name_at..at + name_at + len) == Some(name.as_bytes()) {
            zip[at + sizes..at + sizes + 4].copy_from_slice(&size.to_le_bytes());
            zip[at + sizes + 4..at + sizes + 8].copy_from_slice(&size.to_le_bytes());
            hits += 1;
        }
    }
    assert_eq!(hits, 2, "{name}: headers not found");
}

/// The wheel `data` with every member stored (not deflated), so a member is a byte range.
fn stored_wheel(data: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(data)).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        w.start_file(f.name().unwrap(), opts).unwrap();
        w.write_all(&buf).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn robust_sizes_running_past_the_end_are_corruption() {
    const TWO_GIB: u32 = 1 << 31;
    let fx = Fixture::with_wheels(standard_wheels().into_iter().take(1).collect());
    let wheel = "wheels/greet-1.0-py3-none-any.whl";
    let base = Base::of(&fx.artifact);
    let entry = base.build(
        |m| {
            for e in m["entries"].as_array_mut().unwrap() {
                if e["path"] == wheel {
                    e["size"] = TWO_GIB.into();
                }
            }
            for w in m["wheels"].as_array_mut().unwrap() {
                if w["file"] == wheel {
                    w["size"] = TWO_GIB.into();
                }
            }
        },
        |bytes| claim_size(bytes, wheel, TWO_GIB),
    );
    refuses(
        fx.dir.path(),
        "entry-2gib",
        &entry,
        &[],
        3,
        // The wheel's pycs follow it (layout::pack_order): its data is judged to run into them.
        "starts inside the data of the one before it",
    );

    let mut base = Base::of(&fx.artifact);
    for e in base.entries.iter_mut().filter(|e| e.name == wheel) {
        e.data = stored_wheel(&e.data);
        claim_size(&mut e.data, "greet/__init__.py", TWO_GIB);
        e.stored = true;
    }
    let member = base.build(
        |m| {
            let sha = m["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["path"] == wheel)
                .map(|e| (e["sha256"].clone(), e["size"].clone()))
                .unwrap();
            for w in m["wheels"].as_array_mut().unwrap() {
                if w["file"] == wheel {
                    w["sha256"] = sha.0.clone();
                    w["size"] = sha.1.clone();
                }
            }
        },
        |_| {},
    );
    let py = pythons()[0].path.to_str().unwrap().to_string();
    refuses(
        fx.dir.path(),
        "member-2gib",
        &member,
        &["--python", &py],
        3,
        "past the end of the artifact",
    );
}

#[test]
fn robust_control_characters_from_the_artifact_are_escaped() {
    let fx = Fixture::new();
    // ESC, BEL, CR and the 8-bit CSI (U+009B), which serde_json leaves raw.
    fx.build(&["--build-id", "b\x1b[31mred\x07\rX\u{9b}2J"]);
    let raw = |all: &[u8]| {
        all.iter().any(|&b| b == 0x1b || b == 0x07 || b == b'\r') || all.windows(2).any(|w| w == [0xc2, 0x9b])
    };
    for args in [
        &["--inspect"][..],
        &["--inspect", "--json"],
        &["--version"],
        &["--list"],
    ] {
        let out = ok(Command::new(&fx.artifact).args(args));
        let all = [out.stdout.clone(), out.stderr].concat();
        assert!(!raw(&all), "{args:?} printed raw control characters: {:?}", text(&all));
        if args == ["--inspect", "--json"] {
            let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(m["app"]["build_id"], "b\x1b[31mred\x07\rX\u{9b}2J");
        } else if args != ["--list"] {
            assert!(text(&all).contains(r"b\u{1b}[31mred\u{7}\rX\u{9b}2J"), "{}", text(&all));
        }
    }
}

#[test]
fn robust_interpreter_messages_say_what_is_wrong() {
    let mut wheels = standard_wheels();
    for name in ["n1", "n2", "n3", "n4", "n5", "n6", "n7"] {
        let mut w = WheelSpec::new(name, "1.0").file(&format!("{name}.py"), "");
        w.tag = "cp399-cp399-manylinux_2_17_x86_64";
        wheels.push(w);
    }
    let fx = Fixture::with_wheels(wheels);
    let dest = fx.dest("msgs");
    let run = |python: &str| fx.run(&["-d", dest.to_str().unwrap(), "--python", python]);

    let out = run("/nonexistent/bin/python3.11");
    refused(&out, 4, "--python /nonexistent/bin/python3.11: does not exist");
    let err = text(&out.stderr);
    assert!(!err.contains("PATH") && !err.contains("pass --python"), "{err}");

    let out = run("/bin/ls");
    refused(&out, 4, "--python /bin/ls: not a Python interpreter");
    assert!(!text(&out.stderr).contains("sysconfig"), "{}", text(&out.stderr));

    let shim = fx.dir.path().join("python3.shim");
    write_exe(
        &shim,
        "#!/bin/sh\necho \"pyenv: python3.9: command not found\" >&2\necho >&2\n\
         echo \"The 'python3.9' command exists in these Python versions:\" >&2\necho '  3.9.18' >&2\n\
         echo 'Note: See pyenv help global for tips on allowing both' >&2\n\
         echo '      python2 and python3 to be found.' >&2\nexit 127\n"
            .as_bytes(),
    );
    let out = run(shim.to_str().unwrap());
    refused(&out, 4, "command not found");
    assert!(
        text(&out.stderr).contains("python2 and python3 to be found."),
        "{}",
        text(&out.stderr)
    );

    let out = run(pythons()[0].path.to_str().unwrap());
    refused(&out, 4, "7 of 11 wheels do not fit");
    let err = text(&out.stderr);
    assert!(
        err.contains("and 2 more") && err.contains("rebuild the artifact for this Python"),
        "{err}"
    );
    assert!(err.lines().all(|l| l.len() < 600), "unreadably long lines:\n{err}");
    nothing_left(&dest);
}

/// Spawns the artifact with stdout (and stderr) piped, for tests that close them early.
fn spawn(fx: &Fixture, args: &[&str]) -> Child {
    Command::new(&fx.artifact)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn robust_closed_output_never_changes_the_outcome() {
    let fx = Fixture::new();
    let py = pythons()[0].path.to_str().unwrap().to_string();
    // `2>&1 | head -1`: the reader goes away after the first line.
    let dest = fx.dest("head");
    let mut child = spawn(&fx, &["-d", dest.to_str().unwrap(), "--python", &py]);
    drop(child.stdout.take());
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("installing"), "{first}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a closed stderr changed the outcome");
    assert!(dest.join("venv/bin/python").exists());

    let dest = fx.dest("json");
    let mut child = spawn(&fx, &["-d", dest.to_str().unwrap(), "--python", &py, "--json"]);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("nothing was installed"));
    assert!(dest.join("venv/bin/python").exists());

    for args in [&["--list"][..], &["--inspect"], &["--inspect", "--json"], &["--verify"]] {
        let mut child = spawn(&fx, args);
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("DEST"), "{args:?}: {}", text(&out.stderr));
    }
}

/// Checks every RECORD row of venv/bin files in `dest` against the files (with its Python).
fn records_match(dest: &Path) {
    let check = r#"
import base64, csv, glob, hashlib, os, sys
site = glob.glob(os.path.join(sys.prefix, "lib/python*/site-packages"))[0]
bad = []
for record in glob.glob(os.path.join(site, "*.dist-info/RECORD")):
    for row in csv.reader(open(record)):
        path = os.path.normpath(os.path.join(site, row[0]))
        if "/bin/" not in path or not row[1]:
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(open(path, "rb").read()).digest()).rstrip(b"=").decode()
        if row[1] != "sha256=" + digest:
            bad.append(path)
print(bad)
sys.exit(1 if bad else 0)
"#;
    ok(Command::new(dest.join("venv/bin/python")).args(["-c", check]));
}

fn long_dest(fx: &Fixture) -> PathBuf {
    let dest = fx.dest(&"l".repeat(140));
    assert!(dest.as_os_str().len() > 127);
    dest
}

#[test]
fn robust_pip_launchers_work_with_spaces_and_long_paths() {
    let fx = Fixture::new();
    let py = &pythons()[0].path;
    for dest in [fx.dest("with space/rel"), long_dest(&fx)] {
        fx.deploy(&dest, py, &["--installer", "pip"]);
        let out = ok(&mut Command::new(dest.join("venv/bin/greet")));
        assert!(text(&out.stdout).contains("greeting="), "{}", text(&out.stdout));
        ok(&mut Command::new(dest.join("venv/bin/pip")).arg("--version"));
        let launcher = std::fs::read_to_string(dest.join("venv/bin/greet")).unwrap();
        assert!(!launcher.contains("wheelsfx-stage"), "{launcher}");
        records_match(&dest);
    }
}

#[test]
fn robust_activate_quotes_dest_for_every_shell() {
    let fx = Fixture::new();
    for py in pythons() {
        let dest = fx.dest(&format!("it's {} here/rel", py.minor));
        fx.deploy(&dest, &py.path, &["--no-compile"]);
        let venv = dest.join("venv");
        let script = r#"source "$0/bin/activate" && python -c "import sys; print(sys.prefix)" && echo "prompt=$PS1" && deactivate && echo "after=${VIRTUAL_ENV:-none}""#;
        let out = ok(Command::new("bash").args(["-c", script]).arg(&venv));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], venv.to_str().unwrap(), "{}: {stdout}", py.label);
        assert!(lines[1].contains("(mysite)"), "{}: {stdout}", py.label);
        assert_eq!(lines[2], "after=none", "{}: {stdout}", py.label);
    }
}

/// Our activate.fish and activate.csh, sourced by the real shells, with the same DEST.
#[test]
#[ignore = "needs fish and csh (tcsh); CI runs it"]
fn robust_activate_quotes_dest_for_fish_and_csh() {
    let fx = Fixture::new();
    for py in pythons() {
        let dest = fx.dest(&format!("it's {} in fish and csh/rel", py.minor));
        fx.deploy(&dest, &py.path, &["--no-compile"]);
        let venv = dest.join("venv");
        for (shell, file, script) in [
            (
                "fish",
                "activate.fish",
                "source $argv[1]/bin/activate.fish; and python -c 'import sys; print(sys.prefix)'",
            ),
            (
                "csh",
                "activate.csh",
                "source \"$argv[1]\"/bin/activate.csh && python -c 'import sys; print(sys.prefix)'",
            ),
        ] {
            if Command::new(shell).arg("-c").arg("true").output().is_err() {
                missing(&format!("{shell} is not installed: {file} not exercised"));
            }
            let out = ok(Command::new(shell).args(["-c", script]).arg(&venv));
            assert_eq!(text(&out.stdout).trim(), venv.to_str().unwrap(), "{shell}");
        }
    }
}

#[test]
fn robust_app_pth_is_a_python_string_literal() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let dest = fx.dest("pth");
    fx.deploy(&dest, &py.path, &["--no-compile"]);
    let site = std::fs::read_dir(dest.join("venv/lib"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("site-packages");
    let pth = std::fs::read_to_string(site.join("mysite.pth")).unwrap();
    assert_eq!(
        pth,
        "import os, sys; p = os.path.join(os.path.dirname(sys.prefix), \"mysite\"); p in sys.path or sys.path.insert(0, p)\n"
    );
    let out = ok(Command::new(dest.join("venv/bin/python")).args(["-c", "import mysite; print(mysite.NAME)"]));
    assert_eq!(text(&out.stdout).trim(), "mysite");
}
