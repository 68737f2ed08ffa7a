//! `wheelsfx diff`: two real builds of the tests' own wheels (an upgrade, a rebuild, an added
//! and a removed wheel, app files changed and added), compared as artifacts and as a deployed
//! release against the new artifact; damaged and unreadable inputs.

use crate::support::*;
use crate::Fixture;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// OLD: a 1.0, b 1.0, c 1.0 (the fixture's artifact). NEW: a 2.0, b 1.0 rebuilt, d 1.0, no c,
/// manage.py edited and mysite/views.py added. Returns the fixture and NEW's path.
fn two_builds() -> (Fixture, std::path::PathBuf) {
    let one = |name: &'static str, version: &'static str, body: &str| {
        WheelSpec::new(name, version).file(&format!("{name}/__init__.py"), body)
    };
    let fx = Fixture::with_wheels(vec![
        one("a", "1.0", "A = 1\n"),
        one("b", "1.0", "B = 1\n"),
        one("c", "1.0", "C = 1\n"),
    ]);
    let house = fx.dir.path().join("wheelhouse");
    for old in ["a-1.0-py3-none-any.whl", "c-1.0-py3-none-any.whl"] {
        std::fs::remove_file(house.join(old)).unwrap();
    }
    for w in [
        one("a", "2.0", "A = 2\n"),
        one("b", "1.0", "B = 'rebuilt'\n"),
        one("d", "1.0", "D = 1\n"),
    ] {
        w.write(&house);
    }
    let app = fx.app();
    std::fs::write(app.join("manage.py"), "#!/usr/bin/env python\nprint('edited')\n").unwrap();
    std::fs::write(app.join("mysite/views.py"), "VIEWS = []\n").unwrap();
    let new = fx.dir.path().join("mysite-new.sfx");
    ok(fx.build_command(&new).args(["--build-id", "2"]));
    (fx, new)
}

fn diff(old: &Path, new: &Path, json: bool) -> Output {
    let mut cmd = wheelsfx();
    cmd.arg("diff").arg(old).arg(new);
    if json {
        cmd.arg("--json");
    }
    ok(&mut cmd)
}

fn diff_json(old: &Path, new: &Path) -> Value {
    serde_json::from_slice(&diff(old, new, true).stdout).unwrap()
}

fn dists(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|w| w[key].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn diff_of_two_artifacts_and_of_a_release_against_an_artifact() {
    let (fx, new) = two_builds();
    let text = text(&diff(&fx.artifact, &new, false).stdout);
    for line in [
        "build id: - -> 2\n",
        "wheels: 1 added, 1 removed, 1 upgraded, 1 rebuilt\n",
        "  + d 1.0\n",
        "  - c 1.0\n",
        "  ~ a 1.0 -> 2.0\n",
        "  ~ b 1.0 rebuilt (sha256 ",
        "app files: 1 added, 1 changed\n",
        "  + mysite/views.py (11 bytes)\n",
        "  ~ manage.py (",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    assert!(
        !text.contains("bootstrap") && !text.contains("static") && !text.contains("target"),
        "{text}"
    );

    let j = diff_json(&fx.artifact, &new);
    assert_eq!(j["equal"], false);
    assert_eq!(dists(&j["wheels"]["added"], "distribution"), ["d"]);
    assert_eq!(dists(&j["wheels"]["removed"], "distribution"), ["c"]);
    assert_eq!(dists(&j["wheels"]["upgraded"], "new_version"), ["2.0"]);
    assert_eq!(dists(&j["wheels"]["rebuilt"], "distribution"), ["b"]);
    assert_eq!(j["wheels"]["downgraded"], serde_json::json!([]));
    assert_eq!(dists(&j["app_files"]["added"], "path"), ["mysite/views.py"]);
    assert_eq!(dists(&j["app_files"]["changed"], "path"), ["manage.py"]);
    assert_eq!(j["build_id"], serde_json::json!({"old": null, "new": "2"}));
    assert_eq!(j["target"], serde_json::json!({}));

    // The other way round: everything reversed, the upgrade a downgrade.
    let back = diff_json(&new, &fx.artifact);
    assert_eq!(dists(&back["wheels"]["downgraded"], "old_version"), ["2.0"]);
    assert_eq!(dists(&back["app_files"]["removed"], "path"), ["mysite/views.py"]);

    // The same build: nothing.
    assert_eq!(text_of(diff(&new, &new, false)), "no differences\n");

    // OLD deployed: the release directory says what its artifact said.
    let dest = fx.dest("mysite");
    fx.deploy(&dest, &pythons()[0].path, &[]);
    assert_eq!(diff_json(&dest, &new), j);
    assert_eq!(text_of(diff(&dest, &new, false)), text);
    let copied = fx.dir.path().join("live-manifest.json");
    std::fs::copy(dest.join(".wheelsfx/manifest.json"), &copied).unwrap();
    assert_eq!(diff_json(&copied, &new), j);
    assert_eq!(text_of(diff(&dest, &fx.artifact, false)), "no differences\n");
}

fn text_of(out: Output) -> String {
    text(&out.stdout)
}

#[test]
fn diff_refuses_damaged_and_unreadable_inputs() {
    let fx = Fixture::new();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    let mut bad = bytes.clone();
    let mid = bytes.len() - bytes.len() / 4;
    bad[mid] ^= 0x55;
    let damaged = fx.dir.path().join("damaged.sfx");
    std::fs::write(&damaged, &bad).unwrap();
    let run = |old: &Path, new: &Path| wheelsfx().arg("diff").arg(old).arg(new).output().unwrap();
    refused(&run(&fx.artifact, &damaged), 3, "damaged.sfx");

    let missing = fx.dir.path().join("no-such.sfx");
    refused(&run(&missing, &fx.artifact), 1, "no-such.sfx");
    // A directory that is no release.
    refused(&run(fx.dir.path(), &fx.artifact), 1, "release directory");

    // A release whose manifest was edited by hand no longer matches its digest.
    let dest = fx.dest("mysite");
    fx.deploy(&dest, &pythons()[0].path, &[]);
    let manifest = dest.join(".wheelsfx/manifest.json");
    let edited = std::fs::read_to_string(&manifest)
        .unwrap()
        .replacen("manage.py", "manage2.py", 1);
    std::fs::write(&manifest, edited).unwrap();
    refused(&run(&dest, &fx.artifact), 3, "manifest.json fails its checks");

    let usage = wheelsfx().arg("diff").arg(&fx.artifact).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
