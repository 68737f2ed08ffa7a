//! Part of planning: every `Requires-Dist` of every wheel must be satisfied by the set, for
//! each Python the artifact targets, so a missing or too-old dependency is a build error
//! naming the wheel, not an ImportError on the server.
//!
//! Markers are evaluated for Linux x86_64 CPython X.Y.0 with no extras: a requirement only an
//! extra asks for is not checked (the set does not say which extras were installed). With no
//! known target version, only unconditional requirements are checked.
//!
//! The bootstrap wheels (pip, setuptools) must also install on each target Python: their
//! `Requires-Python` is what the stub checks, so a bootstrap pip that needs a newer Python
//! would make every deploy fail with "no fitting interpreter".

use crate::targets::TargetSpec;
use crate::wheel::WheelFile;
use pep508_rs::pep440_rs::Version;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VersionOrUrl};
use std::collections::HashMap;
use std::str::FromStr;
use wheelsfx_payload::pyversion;
use wheelsfx_payload::wheelname::normalize;

pub fn check(wheels: &[WheelFile], bootstrap: &[WheelFile], python_versions: &[String]) -> Result<(), String> {
    check_bootstrap(bootstrap, python_versions)?;
    let envs: Vec<(String, Option<MarkerEnvironment>)> = if python_versions.is_empty() {
        vec![("any Python".into(), None)]
    } else {
        python_versions
            .iter()
            .map(|v| (format!("Python {v}"), environment(v)))
            .collect()
    };
    check_envs(wheels, bootstrap, &envs)
}

/// The same for one exact target's set: its bootstrap wheels must allow its exact version,
/// markers are evaluated in its marker environment.
pub fn check_target(wheels: &[WheelFile], bootstrap: &[WheelFile], target: &TargetSpec) -> Result<(), String> {
    check_bootstrap_exact(bootstrap, target)?;
    check_envs(
        wheels,
        bootstrap,
        &[(target.label(), Some(target.marker_environment()))],
    )
}

fn check_envs(
    wheels: &[WheelFile],
    bootstrap: &[WheelFile],
    envs: &[(String, Option<MarkerEnvironment>)],
) -> Result<(), String> {
    let have: HashMap<String, (&WheelFile, Option<Version>)> = wheels
        .iter()
        .chain(bootstrap)
        .map(|w| (normalize(&w.distribution), (w, Version::from_str(&w.version).ok())))
        .collect();
    let mut problems = Vec::new();
    for w in wheels {
        for line in &w.requires_dist {
            let req = Requirement::<pep508_rs::VerbatimUrl>::from_str(line)
                .map_err(|e| format!("{}: cannot read Requires-Dist {line:?}: {e}", w.file_name))?;
            for (label, env) in envs {
                let applies = match env {
                    Some(env) => req.evaluate_markers(env, &[]),
                    None => req.marker.is_true(),
                };
                if applies {
                    if let Some(p) = unmet(w, &req, label, &have) {
                        problems.push(p);
                    }
                }
            }
        }
    }
    problems.dedup();
    match problems.len() {
        0 => Ok(()),
        n => Err(format!(
            "{n} unmet requirement{} in the wheel set: {}; add the missing wheels to the requirements or the wheelhouse",
            if n == 1 { "" } else { "s" },
            problems.join("; ")
        )),
    }
}

fn unmet(
    w: &WheelFile,
    req: &Requirement,
    label: &str,
    have: &HashMap<String, (&WheelFile, Option<Version>)>,
) -> Option<String> {
    let who = format!("{} {} requires {req}", w.distribution, w.version);
    match have.get(&normalize(req.name.as_ref())) {
        None => Some(format!("{who} (for {label}), but the set has no {}", req.name)),
        Some((dep, version)) => match (&req.version_or_url, version) {
            (Some(VersionOrUrl::VersionSpecifier(spec)), Some(v)) if !spec.contains(v) => Some(format!(
                "{who} (for {label}), but the set has {} {}",
                dep.distribution, dep.version
            )),
            _ => None,
        },
    }
}

/// Each bootstrap wheel's `Requires-Python` against each target X.Y: it fits when it allows
/// some X.Y release (X.Y.0 or a late patch, so `>=3.8.1` still fits 3.8).
fn check_bootstrap(bootstrap: &[WheelFile], python_versions: &[String]) -> Result<(), String> {
    let mut problems = Vec::new();
    for w in bootstrap {
        let Some(spec) = &w.requires_python else { continue };
        for xy in python_versions {
            let Some((major, minor)) = xy.split_once('.') else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
                continue;
            };
            let allows =
                |patch| pyversion::allows(spec, [major, minor, patch]).map_err(|e| format!("{}: {e}", w.file_name));
            if !(allows(0)? || allows(999)?) {
                problems.push(format!(
                    "the bootstrap wheel {} requires Python {spec}, but the artifact targets Python {xy}",
                    w.file_name
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}; pass --bootstrap-wheels DIR with pip and setuptools wheels whose Requires-Python allows every target",
        problems.join("; ")
    ))
}

/// Each bootstrap wheel's `Requires-Python` against the target's exact version.
fn check_bootstrap_exact(bootstrap: &[WheelFile], target: &TargetSpec) -> Result<(), String> {
    for w in bootstrap {
        let Some(spec) = &w.requires_python else { continue };
        if !pyversion::allows(spec, target.python).map_err(|e| format!("{}: {e}", w.file_name))? {
            return Err(format!(
                "the bootstrap wheel {} requires Python {spec}, but the artifact targets {}; pass \
                 --bootstrap-wheels DIR with pip and setuptools wheels whose Requires-Python allows every target",
                w.file_name,
                target.label()
            ));
        }
    }
    Ok(())
}

fn environment(xy: &str) -> Option<MarkerEnvironment> {
    let full = format!("{xy}.0");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: "posix",
        platform_machine: "x86_64",
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: &full,
        python_version: xy,
        sys_platform: "linux",
    })
    .ok()
}
