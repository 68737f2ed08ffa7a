//! The pip installer: pip itself, run from its wheel, installs pip and setuptools into the
//! venv; then the venv's pip installs every wheel offline, in one call, or in a few when two
//! wheels ship the same path (the one the native installer lets write it goes last).

use super::{collisions_of, Planned};
use crate::error::{Fail, Result};
use crate::run;
use crate::stage::Stage;
use crate::unpack::WHEEL_DIR;
use std::path::Path;
use wheelsfx_payload::layout::BOOTSTRAP_DIR;
use wheelsfx_payload::manifest::Wheel;
use wheelsfx_payload::wheelname::normalize;

/// `planned`: every wheel in install order, bootstrap wheels first.
pub fn install(stage: &Stage, planned: &[Planned], compile: bool) -> Result<()> {
    let (bootstrap, rounds) = rounds(planned);
    let pip_wheel = bootstrap.iter().find(|w| normalize(&w.distribution) == "pip").ok_or_else(|| {
        Fail::install("the artifact carries no pip wheel, which --installer pip needs; rebuild it with pip in --bootstrap-wheels")
    })?;
    let python = stage.path("venv/bin/python");
    let links = stage.path(WHEEL_DIR);
    let pip_in_wheel = links.join(pip_wheel.file_name()).join("pip");
    // Running pip from its own wheel needs no pip on the server.
    let mut first = run::python(&python);
    first.arg("-I").arg(&pip_in_wheel);
    pip_args(&mut first, &links, &bootstrap, compile);
    run::checked(&mut first, "installing pip and setuptools with pip")?;
    for wheels in rounds.iter().filter(|r| !r.is_empty()) {
        let mut next = run::python(&python);
        next.args(["-I", "-m", "pip"]);
        pip_args(&mut next, &links, wheels, compile);
        run::checked(&mut next, "installing the wheels with pip")?;
    }
    Ok(())
}

/// The bootstrap wheels, then the app's wheels in rounds: a wheel that wins a path two
/// wheels ship is installed in a later pip call than every wheel it wins over, so pip leaves
/// the same bytes there as the native installer.
fn rounds(planned: &[Planned]) -> (Vec<Wheel>, Vec<Vec<Wheel>>) {
    let mut found = collisions_of(planned);
    // Winners in install order, so a wheel's rank is final before it is looked at as a loser.
    found.sort_by_key(|(_, who)| who.last().copied());
    let mut rank = vec![0usize; planned.len()];
    for (_, who) in found {
        let (&winner, losers) = who.split_last().expect("a collision has wheels");
        let after = losers.iter().map(|&l| rank[l] + 1).max().unwrap_or(0);
        rank[winner] = rank[winner].max(after);
    }
    let mut bootstrap = Vec::new();
    let mut rounds: Vec<Vec<Wheel>> = vec![Vec::new(); rank.iter().max().map_or(0, |m| m + 1)];
    for (p, r) in planned.iter().zip(rank) {
        // A project that pins pip ships it in wheels/: that pip bootstraps the venv.
        if p.wheel.file.starts_with(BOOTSTRAP_DIR) || normalize(&p.wheel.distribution) == "pip" {
            bootstrap.push(p.wheel.clone());
        } else {
            rounds[r].push(p.wheel.clone());
        }
    }
    (bootstrap, rounds)
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
    // Names and versions were validated (PEP 508, PEP 440), and `--` ends pip's options anyway.
    cmd.arg("--")
        .args(wheels.iter().map(|w| format!("{}=={}", w.distribution, w.version)));
}
