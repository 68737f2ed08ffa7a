//! Step 3: choose the target interpreter and, for it, one wheel per distribution — before
//! anything is written. An interpreter "fits" when every distribution in the artifact has a
//! wheel whose tags and Requires-Python it accepts.

use crate::error::{Code, Fail, Result};
use crate::locate::find_on_path;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wheelsfx_payload::manifest::{Manifest, Wheel};
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
    pub venv_scripts: Option<PathBuf>,
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
    for name in &candidates {
        let Some(path) = resolve(name) else {
            tried.push(format!("{name}: not found on PATH"));
            continue;
        };
        let python = match query(&path) {
            Ok(p) => p,
            Err(why) => {
                tried.push(format!("{}: {why}", path.display()));
                continue;
            }
        };
        match fit(manifest, &python) {
            Ok((wheels, bootstrap)) => {
                return Ok(Target {
                    python,
                    wheels,
                    bootstrap,
                })
            }
            Err(misfits) => tried.push(format!(
                "{}: no wheel fits for {}",
                python.describe(),
                misfits.join(", ")
            )),
        }
    }
    let how = if requested.is_some() {
        "the requested interpreter does not fit"
    } else {
        "no interpreter on PATH fits"
    };
    Err(Fail::new(
        Code::NoInterpreter,
        format!(
            "{how} the artifact's wheels (built for Python {}); tried: {}. Install a matching Python or pass --python PATH",
            display_versions(manifest),
            tried.join("; ")
        ),
    ))
}

fn display_versions(m: &Manifest) -> String {
    if m.target.python_versions.is_empty() {
        "3, any version".into()
    } else {
        m.target.python_versions.join(" or ")
    }
}

fn resolve(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        find_on_path(name.as_ref())
    }
}

/// Runs `query.py` under the interpreter: isolated (-I: no PYTHON* variables, no user site)
/// and without `site`, so a broken sitecustomize cannot mislead us.
pub fn query(path: &Path) -> std::result::Result<Interpreter, String> {
    let mut cmd = Command::new(path);
    crate::run::die_with_parent(&mut cmd);
    let out = cmd
        .args(["-I", "-S", "-c", QUERY])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run it ({e})"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no output").trim().to_string();
        return Err(format!("not a usable Python 3 ({last})"));
    }
    let mut python: Interpreter =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("unexpected answer to the interpreter query ({e})"))?;
    python.invoked = path.to_path_buf();
    Ok(python)
}

/// For each distribution, the best-ranked wheel this interpreter accepts; or the names of
/// the wheels (with their tags) that fit nowhere.
fn fit(m: &Manifest, python: &Interpreter) -> std::result::Result<(Vec<Wheel>, Vec<Wheel>), Vec<String>> {
    let tags = SupportedTags::new(&python.tag_facts());
    let mut misfits = Vec::new();
    let wheels = pick(&m.wheels, &tags, python, &mut misfits);
    let bootstrap = pick(&m.bootstrap_wheels, &tags, python, &mut misfits);
    if misfits.is_empty() {
        Ok((wheels, bootstrap))
    } else {
        Err(misfits)
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
    let file = w.file.rsplit('/').next().unwrap_or(&w.file);
    if !requires_python_ok(w, python) {
        format!(
            "{file} (Requires-Python {})",
            w.requires_python.as_deref().unwrap_or("")
        )
    } else {
        format!("{file} (tags)")
    }
}
