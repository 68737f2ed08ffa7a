//! The native installer against pip: the same wheels give equivalent venvs, and pip can
//! manage a natively installed venv afterwards.

use crate::support::*;
use crate::Fixture;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Wheels that use every feature of the format the installer must handle.
fn feature_wheels() -> Vec<WheelSpec> {
    let mut wheels = crate::standard_wheels();
    wheels[0].entry_points = Some("[console_scripts]\ngreet = greet:main\n[gui_scripts]\ngreet-gui = greet:main\n[other.group]\nnot-a-script = greet:main\n");
    let data = WheelSpec::new("datawheel", "1.0")
        .file("datawheel/__init__.py", "VALUE = 7\n")
        .exec_file("datawheel/tool.sh", "#!/bin/sh\necho tool\n")
        .file(
            "datawheel-1.0.data/scripts/dw-script",
            "#!python\nimport datawheel\nprint('data script', datawheel.VALUE)\n",
        )
        .file("datawheel-1.0.data/scripts/dw-shell", "#!/bin/sh\necho shell script\n")
        .file("datawheel-1.0.data/headers/dw.h", "#define DW 1\n")
        .file("datawheel-1.0.data/data/share/datawheel/info.txt", "data file\n")
        .file("datawheel-1.0.data/purelib/dw_pure.py", "PURE = True\n")
        .file("datawheel-1.0.data/platlib/dw_plat.py", "PLAT = True\n");
    let ns_a = WheelSpec::new("nspkg_a", "1.0").file("nspkg/a/__init__.py", "A = 'a'\n");
    let ns_b = WheelSpec::new("nspkg_b", "1.0").file("nspkg/b/__init__.py", "B = 'b'\n");
    wheels.extend([data, ns_a, ns_b]);
    wheels
}

/// Every file and symlink under DEST/venv, relative, without bytecode caches.
fn tree(venv: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![venv.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if e.file_name() == "__pycache__" {
                continue;
            }
            if t.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(venv).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn run_ok(cmd: &Path, args: &[&str]) -> String {
    text(&ok(Command::new(cmd).args(args)).stdout)
}

#[test]
fn native_and_pip_give_equivalent_venvs() {
    let fx = Fixture::with_wheels(feature_wheels());
    let py = &pythons()[0];
    let (native, pip) = (fx.dest("native"), fx.dest("pip"));
    fx.deploy(&native, &py.path, &["--installer", "native"]);
    fx.deploy(&pip, &py.path, &["--installer", "pip"]);

    let (tn, tp) = (tree(&native.join("venv")), tree(&pip.join("venv")));
    let only_native: Vec<_> = tn.difference(&tp).collect();
    let only_pip: Vec<_> = tp.difference(&tn).collect();
    assert!(
        only_native.is_empty() && only_pip.is_empty(),
        "file sets differ:\nonly native: {only_native:?}\nonly pip: {only_pip:?}"
    );
    for f in &tn {
        let same_bytes = f.contains("site-packages/")
            && !f.ends_with("/RECORD")
            && !f.ends_with("/INSTALLER")
            && !f.ends_with("/direct_url.json");
        if same_bytes {
            let (a, b) = (
                std::fs::read(native.join("venv").join(f)).ok(),
                std::fs::read(pip.join("venv").join(f)).ok(),
            );
            assert!(a == b, "{f} differs between native and pip");
        }
    }
    let site = format!("venv/lib/python3.{}/site-packages", py.minor);
    for dist_info in tn.iter().filter(|f| f.ends_with(".dist-info/RECORD")) {
        let paths = |root: &PathBuf| -> BTreeSet<String> {
            std::fs::read_to_string(root.join("venv").join(dist_info))
                .unwrap()
                .lines()
                .map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string())
                .filter(|p| !p.ends_with(".pyc"))
                .collect()
        };
        assert_eq!(paths(&native), paths(&pip), "RECORD paths differ for {dist_info}");
    }

    let (npy, ppy) = (native.join("venv/bin/python"), pip.join("venv/bin/python"));
    assert_eq!(
        run_ok(&npy, &["-m", "pip", "list"]),
        run_ok(&ppy, &["-m", "pip", "list"])
    );
    assert!(run_ok(&native.join("venv/bin/pip"), &["check"]).contains("No broken requirements"));
    assert_eq!(run_ok(&native.join("venv/bin/greet"), &[]).trim(), "greeting=<unset>");
    assert_eq!(run_ok(&native.join("venv/bin/dw-script"), &[]).trim(), "data script 7");
    assert_eq!(run_ok(&native.join("venv/bin/dw-shell"), &[]).trim(), "shell script");
    let tool = native.join(&site).join("datawheel/tool.sh");
    assert_eq!(
        run_ok(&tool, &[]).trim(),
        "tool",
        "the executable bit from the wheel is kept"
    );
    assert!(run_ok(&npy, &["-c", "import dw_pure, dw_plat, nspkg.a, nspkg.b; print('ok')"]).contains("ok"));
    assert!(native
        .join(format!("venv/include/site/python3.{}/datawheel/dw.h", py.minor))
        .is_file());
    assert!(native.join("venv/share/datawheel/info.txt").is_file());
    let show = run_ok(&npy, &["-m", "pip", "show", "-f", "datawheel"]);
    assert!(
        show.contains("Name: datawheel") && show.contains("../../../bin/dw-script"),
        "{show}"
    );
    let pycs = native.join(&site).join("greet/__pycache__");
    assert!(
        std::fs::read_dir(&pycs).map(|d| d.count() > 0).unwrap_or(false),
        "the native install did not byte-compile"
    );

    // pip uninstall after a native install removes exactly that distribution's files.
    let before = tree(&native.join("venv"));
    ok(Command::new(&npy).args(["-m", "pip", "uninstall", "-y", "greet"]));
    let after = tree(&native.join("venv"));
    let removed: BTreeSet<_> = before.difference(&after).cloned().collect();
    let expected: BTreeSet<String> = before
        .iter()
        .filter(|f| {
            f.contains("/greet/")
                || f.contains("greet-1.0.dist-info")
                || f.ends_with("bin/greet")
                || f.ends_with("bin/greet-gui")
        })
        .cloned()
        .collect();
    assert_eq!(removed, expected, "pip uninstall removed other files than greet's");
    assert!(
        !native.join(&site).join("greet").exists(),
        "greet's __pycache__ was left behind"
    );
}

#[test]
fn no_compile_writes_no_bytecode() {
    let fx = Fixture::new();
    let py = &pythons()[0];
    let dest = fx.dest("nocompile");
    fx.deploy(&dest, &py.path, &["--no-compile"]);
    let site = dest.join(format!("venv/lib/python3.{}/site-packages", py.minor));
    assert!(!site.join("greet/__pycache__").exists(), "--no-compile compiled anyway");
    ok(Command::new(dest.join("venv/bin/python"))
        .args(["-c", "import greet"])
        .env("PYTHONDONTWRITEBYTECODE", "1"));
}
