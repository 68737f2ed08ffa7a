//! The pip installer: pip itself, run from its wheel, installs pip and setuptools into the
//! venv; then the venv's pip installs every wheel in one call, offline.

use crate::error::{Fail, Result};
use crate::run;
use crate::stage::Stage;
use crate::unpack::WHEEL_DIR;
use std::path::Path;
use wheelsfx_payload::manifest::Wheel;
use wheelsfx_payload::wheelname::normalize;

pub fn install(stage: &Stage, bootstrap: &[Wheel], wheels: &[Wheel], compile: bool) -> Result<()> {
    let pip_wheel = bootstrap.iter().find(|w| normalize(&w.distribution) == "pip").ok_or_else(|| {
        Fail::install("the artifact carries no pip wheel, which --installer pip needs; rebuild it with pip in --bootstrap-wheels")
    })?;
    let python = stage.path("venv/bin/python");
    let links = stage.path(WHEEL_DIR);
    let pip_in_wheel = links.join(file_name(&pip_wheel.file)).join("pip");
    // Running pip from its own wheel needs no pip on the server.
    let mut first = run::python(&python);
    first.arg("-I").arg(&pip_in_wheel);
    pip_args(&mut first, &links, bootstrap, compile);
    run::checked(&mut first, "installing pip and setuptools with pip")?;
    if wheels.is_empty() {
        return Ok(());
    }
    let mut second = run::python(&python);
    second.args(["-I", "-m", "pip"]);
    pip_args(&mut second, &links, wheels, compile);
    run::checked(&mut second, "installing the wheels with pip")?;
    Ok(())
}

/// Wheels are named `dist==version` and found through --find-links: installed "from an
/// index", pip records no direct_url.json pointing into the staging directory.
fn pip_args(cmd: &mut std::process::Command, links: &Path, wheels: &[Wheel], compile: bool) {
    cmd.args([
        "install",
        "--no-index",
        "--no-deps",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--quiet",
    ])
    .arg("--find-links")
    .arg(links);
    if !compile {
        cmd.arg("--no-compile");
    }
    cmd.args(wheels.iter().map(|w| format!("{}=={}", w.distribution, w.version)));
}

fn file_name(entry: &str) -> &str {
    entry.rsplit('/').next().unwrap_or(entry)
}
