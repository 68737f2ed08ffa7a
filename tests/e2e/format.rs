//! The artifact itself: a static stub, a zip any tool reads, reproducible bytes.

use crate::support::*;
use crate::Fixture;
use std::process::Command;

#[test]
fn the_stub_is_static() {
    let fx = Fixture::new();
    let out = ok(Command::new("readelf").arg("-l").arg(&fx.artifact));
    let headers = text(&out.stdout);
    assert!(headers.contains("LOAD"), "readelf saw no program headers:\n{headers}");
    assert!(
        !headers.contains("INTERP"),
        "the stub has an INTERP header (dynamically linked):\n{headers}"
    );
}

#[test]
fn zip_tools_read_the_artifact_cleanly() {
    let fx = Fixture::new();
    let out = ok(Command::new("unzip").arg("-t").arg(&fx.artifact));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("No errors detected"), "{all}");
    // Entry lines are "testing: NAME OK" (a pyc may be named warnings.*.pyc); a warning is not.
    let warned = all
        .lines()
        .any(|l| !l.trim_start().starts_with("testing:") && l.to_lowercase().contains("warning"));
    assert!(!warned, "unzip warned:\n{all}");
    let out = ok(Command::new("python3").args(["-m", "zipfile", "-l"]).arg(&fx.artifact));
    let listing = text(&out.stdout);
    let first = listing.lines().nth(1).unwrap_or("");
    assert!(
        first.starts_with(".wheelsfx/manifest.json"),
        "manifest is not the first entry:\n{listing}"
    );
    for want in [
        "wheels/greet-1.0-py3-none-any.whl",
        "bootstrap_wheels/pip-",
        "mysite/manage.py",
        "static.in/0/font.css",
        "loadenv.py",
        "loadenv-init.pth",
    ] {
        assert!(listing.contains(want), "{want} missing:\n{listing}");
    }
    // The tree's own bytecode caches are left out; the packer's pycs live under bytecode/.
    assert!(
        !listing
            .lines()
            .any(|l| l.contains("__pycache__") && !l.starts_with("bytecode/") || l.contains("junk.pyc")),
        "bytecode caches are packed:\n{listing}"
    );
    let zi = ok(Command::new("zipinfo").arg(&fx.artifact));
    let zi = text(&zi.stdout);
    let wheel_line = zi
        .lines()
        .find(|l| l.ends_with(" wheels/greet-1.0-py3-none-any.whl"))
        .unwrap();
    assert!(
        wheel_line.contains("stor"),
        "wheels must be stored, not deflated: {wheel_line}"
    );
}

#[test]
fn same_inputs_give_the_same_bytes() {
    let fx = Fixture::new();
    fx.build(&[]);
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let build = |out: &str| {
        let path = fx.dir.path().join(out);
        ok(fx.build_command(&path).envs(epoch).args(["--build-id", "42"]));
        std::fs::read(path).unwrap()
    };
    let (a, b) = (build("a.sfx"), build("b.sfx"));
    assert!(a == b, "two builds with the same SOURCE_DATE_EPOCH differ");
    let m = ok(wheelsfx().arg("inspect").arg("--json").arg(fx.dir.path().join("a.sfx")));
    let m: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(m["created"], 1700000000);
    assert_eq!(m["app"]["build_id"], "42");
    for e in m["entries"].as_array().unwrap() {
        assert_eq!(e["sha256"].as_str().unwrap().len(), 64, "{e}");
        assert!(e["size"].is_u64(), "{e}");
    }
}

#[test]
fn inspect_list_verify_and_version() {
    let fx = Fixture::new();
    let inspect = text(&ok(std::process::Command::new(&fx.artifact).arg("--inspect")).stdout);
    assert!(
        inspect.contains("app:        mysite") && inspect.contains("greet 1.0"),
        "{inspect}"
    );
    let list = text(&ok(std::process::Command::new(&fx.artifact).arg("--list")).stdout);
    assert!(list.contains("static.in/0/font.css"), "{list}");
    let verify = text(&ok(std::process::Command::new(&fx.artifact).arg("--verify")).stdout);
    assert!(verify.starts_with("ok: "), "{verify}");
    let verify = text(&ok(wheelsfx().arg("verify").arg(&fx.artifact)).stdout);
    assert!(verify.starts_with("ok: "), "{verify}");
    let version = text(&ok(std::process::Command::new(&fx.artifact).arg("--version")).stdout);
    assert!(
        version.starts_with("mysite ") && version.contains("wheelsfx stub"),
        "{version}"
    );
}

#[test]
fn build_reads_tool_wheelsfx_from_pyproject() {
    let fx = Fixture::new();
    let d = fx.dir.path();
    let config = format!(
        "[project]\nname = \"mysite\"\n\n[tool.wheelsfx]\napp = \"src/mysite\"\nwheelhouse = \"wheelhouse\"\nbootstrap-wheels = {:?}\nextra-static = [\"fonts\"]\noutput = \"from-config.sfx\"\nbuild-id = \"cfg-7\"\n",
        bootstrap_dir().display().to_string()
    );
    std::fs::write(d.join("pyproject.toml"), config).unwrap();
    ok(wheelsfx().arg("build").current_dir(d));
    let m = ok(wheelsfx().args(["inspect", "--json"]).arg(d.join("from-config.sfx")));
    let m: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(m["app"]["build_id"], "cfg-7");
    assert!(m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"] == "static.in/0/font.css"));
    // The command line wins over the file.
    ok(wheelsfx()
        .args(["build", "-o", "cli.sfx", "--build-id", "cli-1"])
        .current_dir(d));
    assert!(d.join("cli.sfx").is_file());

    std::fs::write(
        d.join("pyproject.toml"),
        "[tool.wheelsfx]\napp = \"src/mysite\"\nouput = \"typo.sfx\"\n",
    )
    .unwrap();
    let out = wheelsfx().arg("build").current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("pyproject.toml") && text(&out.stderr).contains("ouput"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_file(d.join("pyproject.toml")).unwrap();
    let out = wheelsfx().arg("build").current_dir(d).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no --app given"), "{}", text(&out.stderr));
}
