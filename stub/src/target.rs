//! Step 3: choose the target interpreter and, for it, one wheel per distribution — before
//! anything is written. An interpreter "fits" when every distribution in the artifact has a
//! wheel whose tags and Requires-Python it accepts.

use crate::error::{Code, Fail, Result};
use crate::locate::find_on_path;
use crate::run;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use wheelsfx_payload::manifest::{Manifest, TargetSet, Wheel};
use wheelsfx_payload::pyversion;
use wheelsfx_payload::tags::{Libc, SupportedTags, TagFacts};
use wheelsfx_payload::wheelname::normalize;

const QUERY: &str = include_str!("query.py");

/// What the stub knows about an interpreter, from one run of `query.py`.
#[derive(Debug, Clone, Deserialize)]
pub struct Interpreter {
    /// The path it was found as (for messages); `executable` is its real file.
    #[serde(skip)]
    pub invoked: PathBuf,
    pub implementation: String,
    pub version: [u32; 3],
    pub abi: String,
    pub machine: String,
    pub libc: Option<(String, String)>,
    pub executable: PathBuf,
    pub is64: bool,
    pub magic: String,
    pub cache_tag: Option<String>,
}

impl Interpreter {
    pub fn xy(&self) -> String {
        format!("{}.{}", self.version[0], self.version[1])
    }

    pub fn describe(&self) -> String {
        let v = self.version;
        format!(
            "{} ({} {}.{}.{})",
            self.invoked.display(),
            self.implementation,
            v[0],
            v[1],
            v[2]
        )
    }

    /// The receipt's `python` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "path": self.invoked,
            "executable": self.executable,
            "version": self.version,
            "implementation": self.implementation,
            "cache_tag": self.cache_tag,
            "pyc_magic": self.magic,
        })
    }

    fn tag_facts(&self) -> TagFacts {
        let libc = match &self.libc {
            Some((name, ver)) => {
                let mut p = ver.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
                let (a, b) = (p.next().unwrap_or(0), p.next().unwrap_or(0));
                if name == "glibc" {
                    Libc::Glibc(a, b)
                } else {
                    Libc::Musl(a, b)
                }
            }
            None => Libc::Unknown,
        };
        let implementation = match self.implementation.as_str() {
            "cpython" => "cp",
            "pypy" => "pp",
            other => other,
        };
        TagFacts {
            implementation: implementation.into(),
            major: self.version[0],
            minor: self.version[1],
            abi: self.abi.clone(),
            arch: self.machine.replace(['-', '.'], "_"),
            libc,
        }
    }
}

/// The interpreter and the wheels chosen for it.
pub struct Target {
    pub python: Interpreter,
    pub wheels: Vec<Wheel>,
    pub bootstrap: Vec<Wheel>,
}

impl Target {
    /// Everything to install, in install order: bootstrap pip/setuptools first, then the
    /// app's wheels (the manifest carries each distribution in one of the two only).
    pub fn all_wheels(&self) -> Vec<Wheel> {
        self.bootstrap.iter().chain(&self.wheels).cloned().collect()
    }
}

/// Finds the interpreter to use: `--python` if given, else `pythonX.Y` for each version the
/// artifact targets, then `python3`; the first that fits wins.
pub fn choose(manifest: &Manifest, requested: Option<&str>) -> Result<Target> {
    let candidates: Vec<String> = match requested {
        Some(r) => vec![r.to_string()],
        None => manifest
            .target
            .python_versions
            .iter()
            .map(|v| format!("python{v}"))
            .chain(std::iter::once("python3".to_string()))
            .collect(),
    };
    let mut tried = Vec::new();
    // The first interpreter that answered: the version to rebuild for, in the refusal.
    let mut first_seen: Option<[u32; 3]> = None;
    for name in &candidates {
        // Each failure names what failed: the name, or the path it was found at.
        let found = resolve(name)
            .map_err(|why| (name.clone(), why.to_string()))
            .and_then(|path| query(&path).map_err(|why| (path.display().to_string(), why)));
        let python = match found {
            Ok(p) => p,
            Err((_, why)) if requested.is_some() => return Err(unusable(name, &why, manifest)),
            Err((who, why)) => {
                tried.push(format!("{who}: {why}"));
                continue;
            }
        };
        first_seen.get_or_insert(python.version);
        match fit(manifest, &python) {
            Ok((wheels, bootstrap)) => {
                return Ok(Target {
                    python,
                    wheels,
                    bootstrap,
                })
            }
            Err(why) => tried.push(format!("{}: {why}", python.describe())),
        }
    }
    if !manifest.target.sets.is_empty() {
        return Err(no_set_fits(manifest, requested.is_some(), &tried, first_seen));
    }
    Err(no_fit(manifest, requested.is_some(), &tried))
}

/// The refusal of an artifact built for exact targets: what it was built for, and that the fix
/// is a build for this server's Python.
fn no_set_fits(manifest: &Manifest, requested: bool, tried: &[String], seen: Option<[u32; 3]>) -> Fail {
    let how = if requested {
        "the requested interpreter does not fit"
    } else {
        "no interpreter on PATH fits"
    };
    let built: Vec<String> = manifest.target.sets.iter().map(describe_set).collect();
    let version = seen.map_or("X.Y.Z".into(), |[x, y, z]| format!("{x}.{y}.{z}"));
    Fail::new(
        Code::NoInterpreter,
        format!(
            "{how} the artifact; tried:\n    {}\n\
             The artifact was built for {}. Rebuild it for this server's Python: \
             wheelsfx build --target-python {version} (repeat --target-python for each Python of the fleet).",
            tried.join("\n    "),
            built.join(", ")
        ),
    )
}

/// `Python 3.11.7 (3.11.0 or later 3.11, glibc 2.17 or later)`.
fn describe_set(s: &TargetSet) -> String {
    let [x, y, _] = s.version();
    let glibc = s
        .glibc
        .as_deref()
        .map(|g| format!(", glibc {g} or later"))
        .unwrap_or_default();
    format!("Python {} ({} or later {x}.{y}{glibc})", s.python, s.min_python)
}

/// The set an interpreter installs: among the sets of its X.Y, the newest built for a version
/// at or below its own, else the oldest.
fn set_for(m: &Manifest, version: [u32; 3]) -> Option<&TargetSet> {
    let same: Vec<&TargetSet> = m
        .target
        .sets
        .iter()
        .filter(|s| s.version()[..2] == version[..2])
        .collect();
    same.iter()
        .filter(|s| s.version() <= version)
        .max_by_key(|s| s.version())
        .or_else(|| same.iter().min_by_key(|s| s.version()))
        .copied()
}

/// `--python NAME` cannot be used at all (missing, not Python, not answering).
fn unusable(name: &str, why: &str, manifest: &Manifest) -> Fail {
    Fail::new(
        Code::NoInterpreter,
        format!(
            "--python {name}: {why}; point it at a Python {} interpreter",
            display_versions(manifest)
        ),
    )
}

/// The refusal when nothing fits: each interpreter tried (one line each), and what to do.
fn no_fit(manifest: &Manifest, requested: bool, tried: &[String]) -> Fail {
    let versions = display_versions(manifest);
    let (how, fix) = if requested {
        ("the requested interpreter does not fit", "Use a Python")
    } else {
        (
            "no interpreter on PATH fits",
            "Install (or pass --python PATH to) a Python",
        )
    };
    Fail::new(
        Code::NoInterpreter,
        format!(
            "{how} the artifact's wheels (built for Python {versions}); tried:\n    {}\n\
             {fix} {versions} the artifact was built for, or rebuild the artifact for this Python.",
            tried.join("\n    "),
        ),
    )
}

/// How many wheels do not fit, and at most five of them with why.
fn misfit_summary(total: usize, misfits: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = format!(
        "{} of {total} wheels do not fit: {}",
        misfits.len(),
        misfits[..misfits.len().min(SHOWN)].join(", ")
    );
    if misfits.len() > SHOWN {
        text.push_str(&format!(" and {} more", misfits.len() - SHOWN));
    }
    text
}

fn display_versions(m: &Manifest) -> String {
    if m.target.python_versions.is_empty() {
        "3, any version".into()
    } else {
        m.target.python_versions.join(" or ")
    }
}

/// A path is used as it is (and must exist); a bare name is looked up on PATH.
fn resolve(name: &str) -> std::result::Result<PathBuf, &'static str> {
    if !name.contains('/') {
        return find_on_path(name.as_ref()).ok_or("not found on PATH");
    }
    let path = PathBuf::from(name);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err("not a file"),
        Err(_) => Err("does not exist"),
    }
}

/// A candidate that does not answer the query in this time is given up on.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `query.py` under the interpreter: isolated (-I: no PYTHON* variables, no user site)
/// and without `site`, so a broken sitecustomize cannot mislead us; killed (with whatever
/// it started) if it does not answer within [`QUERY_TIMEOUT`].
pub fn query(path: &Path) -> std::result::Result<Interpreter, String> {
    let mut cmd = Command::new(path);
    crate::run::die_with_parent(&mut cmd);
    cmd.args(["-I", "-S", "-c", QUERY]).stdin(Stdio::null());
    let out = match run::output_within(&mut cmd, QUERY_TIMEOUT) {
        Ok(run::Outcome::Exited(out)) => out,
        Ok(run::Outcome::TimedOut) => return Err(format!("did not answer within {} s", QUERY_TIMEOUT.as_secs())),
        Err(e) => return Err(format!("cannot run it ({e})")),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    // Something that is not Python (/bin/ls) complains about the query script itself.
    if err.contains(QUERY.lines().next().unwrap_or_default()) {
        return Err("not a Python interpreter".into());
    }
    if !out.status.success() {
        return Err(format!("not a usable Python 3 ({})", whole_error(&err)));
    }
    let mut python: Interpreter =
        serde_json::from_slice(&out.stdout).map_err(|_| "not a Python interpreter (it did not answer the query)")?;
    python.invoked = path.to_path_buf();
    Ok(python)
}

/// All of what a failing candidate said (a pyenv shim explains itself over several lines),
/// on one line, within reason.
fn whole_error(err: &str) -> String {
    let text = err.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(600) {
        _ if text.is_empty() => "no output".into(),
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// For each distribution, the best-ranked wheel this interpreter accepts; or the names of
/// the wheels (with their tags) that fit nowhere.
/// With target sets, only the wheels of the interpreter's set are candidates.
fn fit(m: &Manifest, python: &Interpreter) -> std::result::Result<(Vec<Wheel>, Vec<Wheel>), String> {
    let tags = SupportedTags::new(&python.tag_facts());
    let members: Vec<Wheel> = if m.target.sets.is_empty() {
        m.wheels.clone()
    } else {
        let Some(set) = set_for(m, python.version) else {
            return Err(format!("the artifact has no wheel set for Python {}", python.xy()));
        };
        m.wheels
            .iter()
            .filter(|w| set.wheels.contains(&w.file))
            .cloned()
            .collect()
    };
    let mut misfits = Vec::new();
    let wheels = pick(&members, &tags, python, &mut misfits);
    let bootstrap = pick(&m.bootstrap_wheels, &tags, python, &mut misfits);
    if misfits.is_empty() {
        Ok((wheels, bootstrap))
    } else {
        Err(misfit_summary(members.len() + m.bootstrap_wheels.len(), &misfits))
    }
}

fn pick(all: &[Wheel], tags: &SupportedTags, python: &Interpreter, misfits: &mut Vec<String>) -> Vec<Wheel> {
    let mut by_dist: BTreeMap<String, Vec<&Wheel>> = BTreeMap::new();
    for w in all {
        by_dist.entry(normalize(&w.distribution)).or_default().push(w);
    }
    let mut chosen = Vec::new();
    for group in by_dist.values() {
        let best = group
            .iter()
            .filter(|w| requires_python_ok(w, python))
            .filter_map(|w| tags.rank(&w.tags).map(|r| (r, *w)))
            .min_by_key(|(r, _)| *r);
        match best {
            Some((_, w)) => chosen.push(w.clone()),
            None => misfits.extend(group.iter().map(|w| misfit_reason(w, python))),
        }
    }
    chosen
}

fn requires_python_ok(w: &Wheel, python: &Interpreter) -> bool {
    match &w.requires_python {
        Some(spec) => pyversion::allows(spec, python.version).unwrap_or(true),
        None => true,
    }
}

fn misfit_reason(w: &Wheel, python: &Interpreter) -> String {
    let file = w.file_name();
    if !requires_python_ok(w, python) {
        format!(
            "{file} (Requires-Python {})",
            w.requires_python.as_deref().unwrap_or("")
        )
    } else {
        format!("{file} (tags)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(sets: &[&str]) -> Manifest {
        let sets = sets
            .iter()
            .map(|v| format!(r#"{{"python":"{v}","min_python":"{v}","wheels":[]}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let json = format!(
            r#"{{"format":2,"app":{{"name":"a","build_id":null}},"created":0,"packer":"t",
            "target":{{"python_versions":[],"tags":[],"sets":[{sets}]}},"wheels":[],"bootstrap_wheels":[],
            "entries":[],"digest":""}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn the_set_of_an_interpreter_is_its_x_y_newest_at_or_below() {
        let m = manifest(&["3.11.2", "3.11.7", "3.12.1"]);
        let of = |v| set_for(&m, v).map(|s| s.python.clone());
        assert_eq!(of([3, 11, 9]).as_deref(), Some("3.11.7"));
        assert_eq!(of([3, 11, 4]).as_deref(), Some("3.11.2"));
        assert_eq!(of([3, 11, 1]).as_deref(), Some("3.11.2"));
        assert_eq!(of([3, 12, 0]).as_deref(), Some("3.12.1"));
        assert_eq!(of([3, 8, 18]), None);
        let set = &m.target.sets[0];
        assert_eq!(describe_set(set), "Python 3.11.2 (3.11.2 or later 3.11)");
    }
}
