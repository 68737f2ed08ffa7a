//! Real wheels: the shared 60-wheel Wagtail corpus, installed natively and with pip.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus directory, fetched by ../shared/bench/fetch-corpus.sh.
pub(crate) fn corpus() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/fetch-corpus.sh");
    if !script.is_file() {
        missing(&format!("{} is missing", script.display()));
    }
    let out = Command::new("bash").arg(&script).output().unwrap();
    match out.status.code() {
        Some(0) => PathBuf::from(text(&out.stdout).lines().last().unwrap().trim()),
        Some(3) => missing(&format!("PyPI cannot be reached ({})", text(&out.stderr).trim())),
        _ => panic!("fetch-corpus.sh failed: {}", text(&out.stderr)),
    }
}

/// The corpus packed with an app `cms` in `dir`, and the CPython 3.11 it is for.
pub(crate) fn corpus_artifact(dir: &Path) -> (Python, PathBuf) {
    let corpus = corpus();
    let Some(py) = pythons().into_iter().find(|p| p.minor == 11) else {
        missing("the corpus is for CPython 3.11 and none is installed");
    };
    let app = dir.join("cms");
    std::fs::create_dir_all(app.join("cms")).unwrap();
    std::fs::write(app.join("cms/__init__.py"), "").unwrap();
    let artifact = dir.join("cms.sfx");
    ok(wheelsfx()
        .args(["build", "--app"])
        .arg(&app)
        .arg("--wheelhouse")
        .arg(corpus.join("wagtail"))
        .arg("--bootstrap-wheels")
        .arg(corpus.join("bootstrap"))
        .arg("-o")
        .arg(&artifact));
    (py, artifact)
}

#[test]
#[ignore = "needs the shared corpus (PyPI) and CPython 3.11; CI runs it"]
fn the_wagtail_corpus_installs_natively_like_pip() {
    let dir = tempfile::tempdir().unwrap();
    let (py, artifact) = corpus_artifact(dir.path());
    let (native, pip) = (dir.path().join("native"), dir.path().join("pip"));
    ok(Command::new(&artifact)
        .arg("-d")
        .arg(&native)
        .arg("--python")
        .arg(&py.path));
    ok(Command::new(&artifact)
        .arg("-d")
        .arg(&pip)
        .arg("--python")
        .arg(&py.path)
        .args(["--installer", "pip", "--no-compile"]));

    let list = |d: &PathBuf| text(&ok(Command::new(d.join("venv/bin/python")).args(["-m", "pip", "list"])).stdout);
    assert_eq!(list(&native), list(&pip));
    let check = ok(Command::new(native.join("venv/bin/pip")).arg("check"));
    assert!(
        text(&check.stdout).contains("No broken requirements"),
        "{}",
        text(&check.stdout)
    );
    let imports = "import django, wagtail, psycopg2, lxml.etree, PIL.Image, grpc, pydantic_core, boto3; print('ok')";
    let out = ok(Command::new(native.join("venv/bin/python")).args(["-c", imports]));
    assert_eq!(text(&out.stdout).trim(), "ok");
    let admin = ok(Command::new(native.join("venv/bin/django-admin")).arg("--version"));
    assert!(text(&admin.stdout).starts_with("5."), "{}", text(&admin.stdout));
    let files = |d: &PathBuf| {
        let out =
            ok(Command::new("find")
                .arg(d.join("venv"))
                .args(["-not", "-path", "*__pycache__*", "-printf", "%P %y\n"]));
        let mut v: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
        v.sort();
        v
    };
    let (a, b) = (files(&native), files(&pip));
    let diff: Vec<_> = a
        .iter()
        .filter(|x| !b.contains(x))
        .chain(b.iter().filter(|x| !a.contains(x)))
        .collect();
    assert!(diff.is_empty(), "native and pip trees differ: {diff:?}");
}
