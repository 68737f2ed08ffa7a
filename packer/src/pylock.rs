//! `--lock pylock.toml` (PEP 751, as `uv export --format pylock.toml` or `pip lock` write it):
//! the packages whose markers hold for each target, each one's best wheel for that target by
//! its file-name tags, taken from `--wheelhouse` (by file name), from the lock's `path`, or
//! downloaded from its `url` through pip (so the user's pip configuration, proxies and CA
//! bundle apply), and every file's sha256 checked against the lock before it is packed.
//!
//! The result is the union of the chosen wheels (what joins the wheel pool, as a wheelhouse's
//! wheels do) and, per target, the indices of its wheels in that union: a lock can pin other
//! packages (or other versions) for other Pythons, which tags alone cannot tell apart.

use crate::targets::TargetSpec;
use crate::wheel::WheelFile;
use pep508_rs::MarkerTree;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use wheelsfx_payload::pyversion;
use wheelsfx_payload::wheelname::WheelName;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Lock {
    lock_version: String,
    requires_python: Option<String>,
    #[serde(default)]
    environments: Vec<String>,
    #[serde(default)]
    default_groups: Vec<String>,
    #[serde(default)]
    packages: Vec<Package>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    version: Option<String>,
    marker: Option<String>,
    requires_python: Option<String>,
    #[serde(default)]
    wheels: Vec<LockedFile>,
    sdist: Option<toml::Value>,
    vcs: Option<toml::Value>,
    directory: Option<toml::Value>,
    archive: Option<toml::Value>,
}

#[derive(Deserialize, Clone)]
struct LockedFile {
    name: Option<String>,
    url: Option<String>,
    path: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

/// The lock's wheels: their union, and for each target (in order) the indices of its wheels.
pub struct Locked {
    pub wheels: Vec<WheelFile>,
    pub per_target: Vec<Vec<usize>>,
}

/// A wheel chosen for at least one target, before its file is found.
struct Chosen {
    file_name: String,
    package: String,
    entry: LockedFile,
    /// The first target that chose it: pip downloads it with that target's tags.
    target: usize,
}

pub fn collect(
    lock_path: &Path,
    wheelhouse: Option<&Path>,
    python: &str,
    download_dir: &Path,
    targets: &[TargetSpec],
) -> Result<Locked, String> {
    let shown = lock_path.display().to_string();
    let text = std::fs::read_to_string(lock_path).map_err(|e| format!("cannot read --lock {shown}: {e}"))?;
    let lock: Lock = toml::from_str(&text).map_err(|e| format!("--lock {shown} is not a PEP 751 lock file: {e}"))?;
    if lock.lock_version.split('.').next() != Some("1") {
        return Err(format!(
            "--lock {shown} has lock-version {:?}; wheelsfx reads version 1 lock files",
            lock.lock_version
        ));
    }
    let (chosen, per_target) = choose(&lock, &shown, targets)?;
    let base = lock_path.parent().unwrap_or(Path::new("."));
    let paths = fetch(&chosen, base, wheelhouse, python, download_dir, targets, &shown)?;
    let mut wheels = Vec::new();
    for (c, path) in chosen.iter().zip(&paths) {
        check_sha256(path, c, &shown)?;
        wheels.push(WheelFile::read(path)?);
    }
    Ok(Locked { wheels, per_target })
}

/// For each target: the packages its markers select, each one's best wheel; every package
/// without a fitting wheel for some target is named in one error.
fn choose(lock: &Lock, shown: &str, targets: &[TargetSpec]) -> Result<(Vec<Chosen>, Vec<Vec<usize>>), String> {
    let mut chosen: Vec<Chosen> = Vec::new();
    let mut per_target = Vec::new();
    let mut missing = Vec::new();
    for (t, target) in targets.iter().enumerate() {
        check_lock_applies(lock, shown, target)?;
        let mut mine = Vec::new();
        for p in &lock.packages {
            if !selected(p, &lock.default_groups, shown, target)? {
                continue;
            }
            let Some(entry) = best_wheel(p, shown, target)? else {
                missing.push(format!("{} ({}: {})", p.name, target.label(), without_wheel(p)));
                continue;
            };
            let file_name = file_name(&entry, &p.name, shown)?;
            let i = match chosen.iter().position(|c| c.file_name == file_name) {
                Some(i) => i,
                None => {
                    chosen.push(Chosen {
                        file_name,
                        package: p.name.clone(),
                        entry,
                        target: t,
                    });
                    chosen.len() - 1
                }
            };
            mine.push(i);
        }
        per_target.push(mine);
    }
    if !missing.is_empty() {
        return Err(format!(
            "--lock {shown}: no wheel for {}; the artifact installs wheels only: lock versions that \
             publish wheels for the target, or build the wheels and pass them with --wheelhouse \
             and a lock that lists them",
            missing.join(", ")
        ));
    }
    Ok((chosen, per_target))
}

/// The lock's `requires-python` and `environments` must admit the target.
fn check_lock_applies(lock: &Lock, shown: &str, target: &TargetSpec) -> Result<(), String> {
    if let Some(spec) = &lock.requires_python {
        let ok = pyversion::allows(spec, target.python).map_err(|e| format!("--lock {shown}: requires-python: {e}"))?;
        if !ok {
            return Err(format!(
                "--lock {shown} requires Python {spec}, the build is for {}; lock for that Python \
                 or pass --target-python with a version the lock allows",
                target.label()
            ));
        }
    }
    if lock.environments.is_empty() {
        return Ok(());
    }
    let env = target.marker_environment();
    for m in &lock.environments {
        if marker(m, shown, "environments")?.evaluate(&env, &[]) {
            return Ok(());
        }
    }
    Err(format!(
        "--lock {shown} was made for environments {:?}, none of which is {}; lock for that \
         environment too",
        lock.environments,
        target.label()
    ))
}

/// Does the package's marker hold for the target? A selected package must also allow the
/// target's Python by its own `requires-python`.
fn selected(p: &Package, groups: &[String], shown: &str, target: &TargetSpec) -> Result<bool, String> {
    if let Some(m) = &p.marker {
        let what = format!("package {}", p.name);
        let m = without_lock_variables(m, groups);
        if !marker(&m, shown, &what)?.evaluate(&target.marker_environment(), &[]) {
            return Ok(false);
        }
    }
    if let Some(spec) = &p.requires_python {
        let ok = pyversion::allows(spec, target.python)
            .map_err(|e| format!("--lock {shown}: package {}: requires-python: {e}", p.name))?;
        if !ok {
            return Err(format!(
                "--lock {shown}: package {} {} requires Python {spec}, the build is for {}; \
                 lock a version that supports it",
                p.name,
                p.version.as_deref().unwrap_or(""),
                target.label()
            ));
        }
    }
    Ok(true)
}

fn marker(text: &str, shown: &str, what: &str) -> Result<MarkerTree, String> {
    MarkerTree::from_str(text).map_err(|e| format!("--lock {shown}: {what}: cannot read marker {text:?}: {e}"))
}

/// PEP 751's marker additions, `'x' in extras` and `'g' in dependency_groups` (with `not in`),
/// decided as a default install does (no extras, the lock's `default-groups`) and written as
/// an always-true or always-false clause that PEP 508 markers can hold.
fn without_lock_variables(text: &str, groups: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(q) = rest.find(['\'', '"']) {
        let quote = rest[q..].chars().next().expect("found a quote");
        out.push_str(&rest[..q]);
        let Some(len) = rest[q + 1..].find(quote) else {
            break;
        };
        let value = &rest[q + 1..q + 1 + len];
        let after = &rest[q + 2 + len..];
        match lock_clause(after) {
            Some((negated, variable, used)) => {
                let member = variable == "dependency_groups" && groups.iter().any(|g| g == value);
                let clause = if member != negated {
                    "python_version >= '0'"
                } else {
                    "python_version < '0'"
                };
                out.push_str(clause);
                rest = &after[used..];
            }
            None => {
                out.push_str(&rest[q..q + 2 + len]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// After a string literal: `[not] in extras|dependency_groups`, as (negated, variable, bytes).
fn lock_clause(after: &str) -> Option<(bool, &'static str, usize)> {
    let words: Vec<&str> = after.split_whitespace().take(3).collect();
    let (negated, variable) = match words.as_slice() {
        ["not", "in", v, ..] => (true, *v),
        ["in", v, ..] => (false, *v),
        _ => return None,
    };
    let variable = ["extras", "dependency_groups"].into_iter().find(|name| {
        variable
            .strip_prefix(name)
            .is_some_and(|tail| tail.is_empty() || tail.starts_with(')'))
    })?;
    let at = after.find(variable)? + variable.len();
    Some((negated, variable, at))
}

/// The package's wheel with the best tag rank for the target (None when none fits).
fn best_wheel(p: &Package, shown: &str, target: &TargetSpec) -> Result<Option<LockedFile>, String> {
    let mut best: Option<(usize, &LockedFile)> = None;
    for w in &p.wheels {
        let name = WheelName::parse(&file_name(w, &p.name, shown)?)
            .map_err(|e| format!("--lock {shown}: package {}: {e}", p.name))?;
        if let Some(rank) = target.rank(&name.tags) {
            if best.is_none_or(|(b, _)| rank < b) {
                best = Some((rank, w));
            }
        }
    }
    Ok(best.map(|(_, w)| w.clone()))
}

/// What the package offers instead of a fitting wheel, for the error.
fn without_wheel(p: &Package) -> &'static str {
    if !p.wheels.is_empty() {
        "its wheels are all for other Pythons or platforms"
    } else if p.sdist.is_some() {
        "only an sdist"
    } else if p.vcs.is_some() {
        "a VCS checkout"
    } else if p.directory.is_some() {
        "a local directory (the project itself? export with --no-emit-project)"
    } else if p.archive.is_some() {
        "an archive"
    } else {
        "no files"
    }
}

/// A wheel entry's file name: `name`, else the last segment of its `path` or `url`.
fn file_name(w: &LockedFile, package: &str, shown: &str) -> Result<String, String> {
    if let Some(n) = &w.name {
        return Ok(n.clone());
    }
    let from = |s: &str| {
        let s = s.split(['?', '#']).next().unwrap_or(s);
        s.rsplit('/').next().map(percent_decode).filter(|n| !n.is_empty())
    };
    w.path
        .as_deref()
        .and_then(from)
        .or_else(|| w.url.as_deref().and_then(from))
        .ok_or_else(|| format!("--lock {shown}: package {package} has a wheel with neither name, path nor url"))
}

/// `%2B` -> `+` (local versions in wheel URLs).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Each chosen wheel's file: from the wheelhouse, the lock's `path`, or downloaded by pip
/// (one pip call per target whose wheels need downloading).
fn fetch(
    chosen: &[Chosen],
    base: &Path,
    wheelhouse: Option<&Path>,
    python: &str,
    dir: &Path,
    targets: &[TargetSpec],
    shown: &str,
) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    let mut downloads: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for c in chosen {
        let local = wheelhouse
            .map(|h| h.join(&c.file_name))
            .filter(|p| p.is_file())
            .or_else(|| c.entry.path.as_ref().map(|p| base.join(p)).filter(|p| p.is_file()));
        match (local, &c.entry.url) {
            (Some(p), _) => paths.push(Some(p)),
            (None, Some(url)) => {
                downloads.entry(c.target).or_default().push(url);
                paths.push(None);
            }
            (None, None) => {
                return Err(format!(
                    "--lock {shown}: package {}: {} is not in --wheelhouse, at its path, nor \
                     given a url; put it in a --wheelhouse folder",
                    c.package, c.file_name
                ))
            }
        }
    }
    if downloads.is_empty() {
        return Ok(paths.into_iter().flatten().collect());
    }
    for (t, urls) in &downloads {
        pip_download(python, &targets[*t], urls, dir, shown)?;
    }
    let mut found = Vec::new();
    for (c, p) in chosen.iter().zip(paths) {
        let p = p.unwrap_or_else(|| dir.join(&c.file_name));
        if !p.is_file() {
            return Err(format!(
                "--lock {shown}: package {}: pip saved no file named {} from its url; put the \
                 wheel in a --wheelhouse folder",
                c.package, c.file_name
            ));
        }
        found.push(p);
    }
    Ok(found)
}

/// `pip download --no-deps` of wheel URLs, with the target's tags (pip refuses a wheel URL
/// that does not fit the interpreter it runs with unless told the target).
fn pip_download(python: &str, target: &TargetSpec, urls: &[&str], dir: &Path, shown: &str) -> Result<(), String> {
    let mut cmd = crate::pip::download_for(python, target);
    cmd.arg("--no-deps").arg("-d").arg(dir).args(urls);
    crate::pip::run(cmd, |status| {
        format!(
            "pip could not download the wheels --lock {shown} names ({status}); see pip's output \
             above, or put the wheels in a --wheelhouse folder"
        )
    })
}

fn check_sha256(path: &Path, c: &Chosen, shown: &str) -> Result<(), String> {
    let Some(want) = c.entry.hashes.get("sha256") else {
        return Err(format!(
            "--lock {shown}: package {}: {} has no sha256 hash in the lock; relock with a tool \
             that records sha256",
            c.package, c.file_name
        ));
    };
    let have = crate::plan::hash_file(path)?.0;
    if !have.eq_ignore_ascii_case(want) {
        return Err(format!(
            "wheel {} from {shown} has sha256 {have}, the lock says {want}; the file is not the \
             one that was locked: replace it ({}) or relock",
            c.file_name,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(py: [u32; 3]) -> TargetSpec {
        TargetSpec {
            python: py,
            platforms: vec![],
            host_libc: wheelsfx_payload::tags::Libc::Glibc(2, 36),
        }
    }

    const LOCK: &str = r#"
lock-version = "1.0"
requires-python = ">=3.8"
created-by = "hand"

[[packages]]
name = "six"
version = "1.16.0"
wheels = [{ url = "https://example.org/six-1.16.0-py2.py3-none-any.whl", hashes = { sha256 = "aa" } }]

[[packages]]
name = "old-only"
version = "1.0"
marker = "python_version < '3.10'"
wheels = [{ name = "old_only-1.0-py3-none-any.whl", path = "w/old_only-1.0-py3-none-any.whl", hashes = { sha256 = "bb" } }]

[[packages]]
name = "fast"
version = "2.0"
wheels = [
  { url = "https://example.org/fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", hashes = { sha256 = "c1" } },
  { url = "https://example.org/fast-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", hashes = { sha256 = "c2" } },
  { url = "https://example.org/fast-2.0-cp311-cp311-musllinux_1_2_x86_64.whl", hashes = { sha256 = "c3" } },
]
"#;

    fn names(lock: &str, targets: &[TargetSpec]) -> Result<Vec<Vec<String>>, String> {
        let lock: Lock = toml::from_str(lock).unwrap();
        let (chosen, per) = choose(&lock, "pylock.toml", targets)?;
        Ok(per
            .iter()
            .map(|ix| ix.iter().map(|&i| chosen[i].file_name.clone()).collect())
            .collect())
    }

    #[test]
    fn markers_and_tags_choose_per_target() {
        let per = names(LOCK, &[target([3, 9, 2]), target([3, 11, 2]), target([3, 12, 1])]);
        let err = per.unwrap_err();
        assert!(
            err.contains("fast (Python 3.9.2: its wheels are all for other"),
            "{err}"
        );
        let per = names(LOCK, &[target([3, 11, 2]), target([3, 12, 1])]).unwrap();
        assert_eq!(
            per[0],
            [
                "six-1.16.0-py2.py3-none-any.whl",
                "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
            ]
        );
        assert_eq!(per[1][1], "fast-2.0-cp312-cp312-manylinux_2_17_x86_64.whl");
        // six is shared: one chosen file for both targets.
        assert_eq!(per[0][0], per[1][0]);
    }

    #[test]
    fn sdist_only_and_requires_python_are_named() {
        let lock = r#"
lock-version = "1.0"
[[packages]]
name = "a"
sdist = { url = "https://example.org/a-1.tar.gz", hashes = { sha256 = "00" } }
[[packages]]
name = "b"
vcs = { type = "git", url = "https://example.org/b.git", commit-id = "abc" }
"#;
        let err = names(lock, &[target([3, 11, 2])]).unwrap_err();
        assert!(
            err.contains("a (Python 3.11.2: only an sdist), b (Python 3.11.2: a VCS checkout)"),
            "{err}"
        );
        let lock = "lock-version = \"1.0\"\nrequires-python = \">=3.12\"\n";
        let err = names(lock, &[target([3, 11, 2])]).unwrap_err();
        assert!(
            err.contains("requires Python >=3.12, the build is for Python 3.11.2"),
            "{err}"
        );
    }

    #[test]
    fn extras_and_groups_are_decided_as_a_default_install() {
        let groups = ["web".to_string()];
        let m = without_lock_variables(
            "'web' in dependency_groups and ('dev' in dependency_groups or \"x\" in extras)",
            &groups,
        );
        assert_eq!(
            m,
            "python_version >= '0' and (python_version < '0' or python_version < '0')"
        );
        let m = without_lock_variables("'dev' not in dependency_groups and sys_platform == 'linux'", &groups);
        assert_eq!(m, "python_version >= '0' and sys_platform == 'linux'");
        let lock = r#"
lock-version = "1.0"
default-groups = ["web"]
[[packages]]
name = "dev-only"
marker = "'dev' in dependency_groups"
sdist = { url = "https://example.org/d-1.tar.gz", hashes = { sha256 = "00" } }
[[packages]]
name = "web"
marker = "'web' in dependency_groups and python_version >= '3.9'"
wheels = [{ url = "https://example.org/web-1-py3-none-any.whl", hashes = { sha256 = "00" } }]
"#;
        assert_eq!(
            names(lock, &[target([3, 11, 2])]).unwrap(),
            [["web-1-py3-none-any.whl"]]
        );
    }

    #[test]
    fn file_names_from_urls() {
        let w = LockedFile {
            name: None,
            url: Some("https://h/x/torch-2.0%2Bcpu-cp311-cp311-linux_x86_64.whl?a=b#sha256=00".into()),
            path: None,
            hashes: BTreeMap::new(),
        };
        assert_eq!(
            file_name(&w, "torch", "l").unwrap(),
            "torch-2.0+cpu-cp311-cp311-linux_x86_64.whl"
        );
    }
}
