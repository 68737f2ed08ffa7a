//! The app tree is packed as meant: what is never meant for a server is left out by default,
//! --exclude/--include (and [tool.wheelsfx]) adjust it, what looks local or secret is named
//! in a warning with the option that settles it, and every build ends with a summary.

use crate::support::*;
use crate::Fixture;
use std::path::Path;

/// An app tree holding what a developer's checkout holds besides the app.
fn cluttered(fx: &Fixture) {
    let app = fx.app();
    let write = |rel: &str, text: &str| {
        let path = app.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(".git/HEAD", "ref: refs/heads/main\n");
    write(".git/objects/ab/cdef", "blob");
    write("mysite/__pycache__/views.cpython-311.pyc", "bytecode");
    write("env/pyvenv.cfg", "home = /usr/bin\n");
    write("env/lib/python3.11/site-packages/x.py", "x = 1\n");
    // A virtualenv's links point out of the tree: left out, they are no reason to refuse.
    std::os::unix::fs::symlink("/usr/bin/python3", app.join("env/python")).unwrap();
    write(".env", "SECRET_KEY=abc\n");
    write("db.sqlite3", "SQLite format 3\0");
    write("media/uploads/a.jpg", "jpeg");
    write("media/uploads/b.jpg", "jpeg");
    write("node_modules/left-pad/index.js", "module.exports = 1;\n");
    write("settings/local.py", "DEBUG = True\n");
    write(".gitignore", "settings/local.py\n");
    write("mysite/big.json", &"x".repeat(200_000));
}

/// The payload paths `ARTIFACT --list` shows under the app.
fn listed(artifact: &Path) -> Vec<String> {
    let out = ok(std::process::Command::new(artifact).arg("--list"));
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|p| p.starts_with("mysite/"))
        .map(str::to_string)
        .collect()
}

fn has(list: &[String], prefix: &str) -> bool {
    list.iter().any(|p| p.starts_with(prefix))
}

#[test]
fn vcs_bytecode_and_virtualenvs_are_left_out_and_local_files_named() {
    let fx = Fixture::new();
    cluttered(&fx);
    let out = fx.build(&[]);
    let list = listed(&fx.artifact);
    for gone in ["mysite/.git/", "mysite/mysite/__pycache__/", "mysite/env/"] {
        assert!(!has(&list, gone), "{gone} was packed: {list:?}");
    }
    for kept in [
        "mysite/.env",
        "mysite/db.sqlite3",
        "mysite/media/",
        "mysite/node_modules/",
        "mysite/settings/local.py",
    ] {
        assert!(has(&list, kept), "{kept} was not packed: {list:?}");
    }
    let err = text(&out.stderr);
    assert!(err.contains("these look local or secret and are packed"), "{err}");
    for named in [
        "  mysite/.env\n",
        "  mysite/db.sqlite3\n",
        "  mysite/media/ (2 files, 8 B)\n",
        "  mysite/node_modules/ (1 file, 20 B)\n",
        "  mysite/settings/local.py\n",
    ] {
        assert!(err.contains(named), "{named:?} not named: {err}");
    }
    assert!(!err.contains("a.jpg"), "a directory's files are one line: {err}");
    assert!(
        err.contains("--exclude PATTERN") && err.contains("--include PATTERN"),
        "{err}"
    );
    let summary = text(&out.stdout);
    assert!(summary.contains("left out: 3 by default (mysite/"), "{summary}");
}

#[test]
fn exclude_and_include_on_the_command_line() {
    let fx = Fixture::new();
    cluttered(&fx);
    let out = fx.build(&[
        "--exclude",
        "media/",
        "--exclude",
        "*.sqlite3",
        "--include",
        ".env",
        "--include",
        "mysite/__pycache__/",
    ]);
    let list = listed(&fx.artifact);
    assert!(
        !has(&list, "mysite/media/") && !has(&list, "mysite/db.sqlite3"),
        "{list:?}"
    );
    assert!(
        has(&list, "mysite/mysite/__pycache__/views.cpython-311.pyc"),
        "{list:?}"
    );
    assert!(has(&list, "mysite/.env"), "{list:?}");
    let err = text(&out.stderr);
    for quiet in ["  mysite/.env\n", "  mysite/media/", "  mysite/db.sqlite3"] {
        assert!(!err.contains(quiet), "{quiet} still warned about: {err}");
    }
    assert!(err.contains("mysite/node_modules/"), "{err}");
    assert!(
        text(&out.stdout).contains("2 by exclude rules (mysite/"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn exclude_and_include_come_from_pyproject_too() {
    let fx = Fixture::new();
    cluttered(&fx);
    let config = fx.dir.path().join("pyproject.toml");
    std::fs::write(
        &config,
        "[tool.wheelsfx]\nexclude = [\"media/\", \"node_modules/\", \".env\", \"*.sqlite3\"]\ninclude = [\"settings/local.py\"]\n",
    )
    .unwrap();
    let out = fx.build(&["--config", config.to_str().unwrap()]);
    let list = listed(&fx.artifact);
    for gone in [
        "mysite/media/",
        "mysite/node_modules/",
        "mysite/.env",
        "mysite/db.sqlite3",
    ] {
        assert!(!has(&list, gone), "{gone} was packed: {list:?}");
    }
    assert!(has(&list, "mysite/settings/local.py"), "{list:?}");
    let err = text(&out.stderr);
    assert!(!err.contains("look local"), "nothing left to warn about: {err}");
}

#[test]
fn a_bad_pattern_is_refused_naming_the_option() {
    let fx = Fixture::new();
    let out = fx
        .build_command(&fx.dir.path().join("out.sfx"))
        .args(["--exclude", "[z-a"])
        .output()
        .unwrap();
    refused(
        &out,
        1,
        "--exclude (or exclude in [tool.wheelsfx]): [z-a is not a valid pattern",
    );
}

#[test]
fn the_summary_shows_the_parts_and_the_largest_app_files_without_bar_codes() {
    let fx = Fixture::new();
    cluttered(&fx);
    // Not a terminal: plain lines, no cursor movement or carriage returns.
    let out = fx.build(&[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    for part in [
        "  app ",
        "  wheels ",
        "  bootstrap ",
        "  static ",
        "  support ",
        "  bytecode ",
        "bytecode cpython-",
        "  artifact ",
        "  built in ",
    ] {
        assert!(stdout.contains(part), "{part:?} missing: {stdout}");
    }
    assert!(stdout.contains("wrote "), "{stdout}");
    let largest = stdout
        .split("largest app files:\n")
        .nth(1)
        .expect("a largest-files list");
    assert!(
        largest
            .lines()
            .next()
            .unwrap()
            .ends_with("200.0 KB  mysite/mysite/big.json"),
        "{stdout}"
    );
    assert!(
        stderr.contains("wheelsfx: checking (") && stderr.contains("wheelsfx: writing ("),
        "{stderr}"
    );
    for s in [&stdout, &stderr] {
        assert!(!s.contains('\r') && !s.contains('\x1b'), "control characters in {s:?}");
    }
}
