//! The wheel set of each exact target. Every input (pip, a wheelhouse, a lock file) feeds one
//! pool of wheels; for each target, [`select`] takes the best-ranked wheel per distribution
//! that the target accepts by its tags and by the exact `Requires-Python`, so a wheel the
//! servers' Python would refuse (soupsieve's `>=3.11.5` on 3.11.2) is refused at build. The
//! artifact stores the union once; the manifest's sets name their members.

use crate::collect::Inputs;
use crate::download;
use crate::pip;
use crate::plan::hash_file;
use crate::targets::TargetSpec;
use crate::wheel::{wheels_in, WheelFile};
use crate::BuildArgs;
use crate::{pylock, reqhash};
use pep508_rs::pep440_rs::Version;
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use wheelsfx_payload::layout::WHEELS_DIR;
use wheelsfx_payload::manifest::{parse_xyz, Target, TargetSet};
use wheelsfx_payload::pyversion;
use wheelsfx_payload::tags::Libc;

/// The wheels of a build and, when its targets are known, the set of each.
pub struct Selected {
    /// Each wheel file once: the union of the sets (every wheel when there is no target).
    pub wheels: Vec<WheelFile>,
    /// Empty when no target is known (a wheelhouse alone, no `--python`).
    pub targets: Vec<TargetSpec>,
    /// Per target, indices into `wheels`.
    pub sets: Vec<Vec<usize>>,
    /// Keeps pip's output directories alive until the artifact is written.
    pub scratch: Option<tempfile::TempDir>,
}

/// The targets (`--target-python`, else the interpreter pip runs with or `--python` names),
/// the pool of wheels from pip and the wheelhouse, and each target's set.
pub fn gather(args: &BuildArgs) -> Result<Selected, String> {
    let targets = targets(args)?;
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let mut pool: Vec<WheelFile> = Vec::new();
    // Per target, the pool indices it may choose from.
    let mut candidates: Vec<Vec<usize>> = vec![Vec::new(); targets.len()];
    if let Some(req) = &args.requirements {
        requirements(args, req, &targets, scratch.path(), &mut pool, &mut candidates)?;
    }
    if let Some(lock) = &args.lock {
        // The lock says which wheels, per target; the wheelhouse is only where they are
        // looked for first.
        let dir = scratch.path().join("lock");
        let locked = pylock::collect(lock, args.wheelhouse.as_deref(), args.python(), &dir, &targets)?;
        for (t, set) in targets.iter().zip(&locked.per_target) {
            eprintln!("wheelsfx: {}: {} wheels for {}", lock.display(), set.len(), t.label());
        }
        candidates = locked.per_target;
        pool = locked.wheels;
    } else if let Some(dir) = &args.wheelhouse {
        add(&mut pool, &mut candidates, wheels_in(dir)?, None);
    }
    let pool = once_each(pool, &mut candidates)?;
    if targets.is_empty() {
        return Ok(Selected {
            wheels: pool,
            targets,
            sets: Vec::new(),
            scratch: Some(scratch),
        });
    }
    let sets = select(&pool, &targets, &candidates)?;
    let (wheels, sets) = union(pool, sets);
    Ok(Selected {
        wheels,
        targets,
        sets,
        scratch: Some(scratch),
    })
}

/// The requirements' closure from pip: built on the build interpreter when no target is named,
/// else downloaded as binary wheels per target. With `--hash` lines pip takes published wheels
/// only, and every wheel's sha256 must be listed for its distribution.
fn requirements(
    args: &BuildArgs,
    req: &Path,
    targets: &[TargetSpec],
    scratch: &Path,
    pool: &mut Vec<WheelFile>,
    candidates: &mut [Vec<usize>],
) -> Result<(), String> {
    if args.lock.is_some() {
        return Err("--lock and --requirements both say which wheels to pack; pass one of them".into());
    }
    let hashes = reqhash::read(req)?;
    let checked = |dir: &Path| -> Result<Vec<WheelFile>, String> {
        let got = wheels_in(dir)?;
        if !hashes.is_empty() {
            reqhash::check(&got, &hashes, req)?;
        }
        Ok(got)
    };
    if !args.target_python.is_empty() {
        for (i, t) in targets.iter().enumerate() {
            let dir = scratch.join(i.to_string());
            download::wheels_for(args.python(), t, req, args.wheelhouse.as_deref(), &dir)?;
            add(pool, candidates, checked(&dir)?, Some(i));
        }
    } else {
        if hashes.is_empty() {
            pip::wheel_closure(args.python(), req, scratch)?;
        } else {
            reqhash::download(args.python(), req, scratch)?;
        }
        add(pool, candidates, checked(scratch)?, None);
    }
    Ok(())
}

/// The exact targets: each `--target-python` with every `--platform`; without one, the
/// interpreter's own version when pip runs or `--python` is named; else none.
fn targets(args: &BuildArgs) -> Result<Vec<TargetSpec>, String> {
    for p in &args.platform {
        TargetSpec::check_platform(p)?;
    }
    if args.target_python.is_empty() && !args.platform.is_empty() {
        return Err(format!(
            "--platform {} needs --target-python X.Y.Z: the exact Python of the servers",
            args.platform[0]
        ));
    }
    let mut versions = args
        .target_python
        .iter()
        .map(|v| TargetSpec::parse_python(v))
        .collect::<Result<Vec<_>, _>>()?;
    versions.sort();
    versions.dedup();
    // The build machine's interpreter: the implicit target, and the C library of a target
    // without --platform.
    let implicit = args.requirements.is_some() || args.lock.is_some() || args.python.is_some();
    let host = if (versions.is_empty() && implicit) || (!versions.is_empty() && args.platform.is_empty()) {
        let explicit = !versions.is_empty();
        let why = "it tells the build machine's C library: pass --platform TAG for the servers'";
        Some(download::interpreter(args.python()).map_err(|e| if explicit { format!("{e}; {why}") } else { e })?)
    } else {
        None
    };
    if versions.is_empty() {
        versions.extend(host.map(|(v, _)| v));
    }
    let host_libc = host.map_or(Libc::Unknown, |(_, l)| l);
    Ok(versions
        .into_iter()
        .map(|python| TargetSpec {
            python,
            platforms: args.platform.clone(),
            host_libc,
        })
        .collect())
}

/// Adds wheels to the pool, as candidates of one target or of all.
fn add(pool: &mut Vec<WheelFile>, candidates: &mut [Vec<usize>], wheels: Vec<WheelFile>, only: Option<usize>) {
    for w in wheels {
        for (t, c) in candidates.iter_mut().enumerate() {
            if only.is_none_or(|o| o == t) {
                c.push(pool.len());
            }
        }
        pool.push(w);
    }
}

/// One pool entry per file name (pip downloads a shared wheel once per target); two different
/// files under one name are refused.
fn once_each(pool: Vec<WheelFile>, candidates: &mut [Vec<usize>]) -> Result<Vec<WheelFile>, String> {
    let mut first: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<WheelFile> = Vec::new();
    let mut moved = Vec::with_capacity(pool.len());
    for w in pool {
        match first.get(&w.file_name) {
            Some(&i) => {
                let (a, b) = (&out[i].path, &w.path);
                if hash_file(a)? != hash_file(b)? {
                    return Err(format!(
                        "{} and {} are different files with one name; keep one",
                        a.display(),
                        b.display()
                    ));
                }
                moved.push(i);
            }
            None => {
                first.insert(w.file_name.clone(), out.len());
                moved.push(out.len());
                out.push(w);
            }
        }
    }
    for c in candidates.iter_mut() {
        for i in c.iter_mut() {
            *i = moved[*i];
        }
        c.sort();
        c.dedup();
    }
    Ok(out)
}

/// Keeps the wheels some set holds, the sets renumbered.
fn union(pool: Vec<WheelFile>, sets: Vec<Vec<usize>>) -> (Vec<WheelFile>, Vec<Vec<usize>>) {
    let mut new_index = vec![None; pool.len()];
    let mut wheels = Vec::new();
    for (i, w) in pool.into_iter().enumerate() {
        if sets.iter().any(|s| s.contains(&i)) {
            new_index[i] = Some(wheels.len());
            wheels.push(w);
        }
    }
    let sets = sets
        .into_iter()
        .map(|s| s.into_iter().filter_map(|i| new_index[i]).collect())
        .collect();
    (wheels, sets)
}

/// For each target, the best-ranked wheel per distribution among its candidates that fits it
/// (tags and exact Requires-Python; the later version on a tie). A distribution with no
/// fitting wheel for some target: one error naming each, with why. `candidates`: per target,
/// the pool indices it may choose from.
pub fn select(
    pool: &[WheelFile],
    targets: &[TargetSpec],
    candidates: &[Vec<usize>],
) -> Result<Vec<Vec<usize>>, String> {
    let mut sets = Vec::new();
    let mut problems = Vec::new();
    for (t, cands) in targets.iter().zip(candidates) {
        let mut by_dist: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &i in cands {
            by_dist.entry(pool[i].name.key()).or_default().push(i);
        }
        let mut set = Vec::new();
        let mut misfits = Vec::new();
        for group in by_dist.values() {
            let best = group
                .iter()
                .filter(|&&i| requires_python_ok(&pool[i], t.python))
                .filter_map(|&i| {
                    t.rank(&pool[i].name.tags)
                        .map(|r| (r, std::cmp::Reverse(version(&pool[i])), i))
                })
                .min();
            match best {
                Some((_, _, i)) => set.push(i),
                None => misfits.push(format!(
                    "{} ({})",
                    pool[group[0]].distribution,
                    group
                        .iter()
                        .map(|&i| misfit(&pool[i], t))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
        }
        if !misfits.is_empty() {
            problems.push(format!("no wheel fits {} for {}", t.label(), misfits.join(", ")));
        }
        set.sort();
        sets.push(set);
    }
    if problems.is_empty() {
        return Ok(sets);
    }
    Err(format!(
        "{}; use a release of each that fits (pin an older version, or add wheels built for the \
         target to the wheelhouse), or build for a Python they fit with --target-python",
        problems.join("; ")
    ))
}

fn version(w: &WheelFile) -> Option<Version> {
    Version::from_str(&w.version).ok()
}

fn requires_python_ok(w: &WheelFile, python: [u32; 3]) -> bool {
    w.requires_python
        .as_deref()
        .is_none_or(|spec| pyversion::allows(spec, python).unwrap_or(true))
}

/// Why one wheel does not fit a target.
fn misfit(w: &WheelFile, t: &TargetSpec) -> String {
    if !requires_python_ok(w, t.python) {
        let spec = w.requires_python.as_deref().unwrap_or("");
        return match lowest_fitting(spec, t.python) {
            Some([x, y, z]) => format!(
                "{} has Requires-Python {spec}, the lowest Python it fits is {x}.{y}.{z}",
                w.file_name
            ),
            None => format!(
                "{} has Requires-Python {spec}, which no Python {} or later meets",
                w.file_name,
                t.xy()
            ),
        };
    }
    format!(
        "{} is built for other Pythons or platforms ({})",
        w.file_name,
        w.name.tags.join(" ")
    )
}

/// The lowest `3.Y.Z` at or after `from`'s X.Y.0 that `spec` allows (within reason).
fn lowest_fitting(spec: &str, from: [u32; 3]) -> Option<[u32; 3]> {
    (from[1]..from[1] + 20)
        .flat_map(|y| (0..50).map(move |z| [from[0], y, z]))
        .find(|&v| pyversion::allows(spec, v).unwrap_or(false))
}

/// The lowest `X.Y.Z` of `python`'s X.Y that every wheel accepts (the target itself at worst:
/// the set was chosen to fit it).
pub fn min_python<'a>(wheels: impl Iterator<Item = &'a WheelFile> + Clone, python: [u32; 3]) -> [u32; 3] {
    (0..=python[2])
        .map(|z| [python[0], python[1], z])
        .find(|&v| wheels.clone().all(|w| requires_python_ok(w, v)))
        .unwrap_or(python)
}

/// The glibc floor of a wheel: the lowest over its manylinux tags (it installs from there).
fn glibc_floor(w: &WheelFile) -> Option<(u32, u32)> {
    w.name
        .tags
        .iter()
        .filter_map(|t| manylinux(t.rsplit('-').next()?))
        .min()
}

/// `(2, N)` of a manylinux platform tag (`manylinux_2_N_ARCH`, `manylinux1/2010/2014_ARCH`).
fn manylinux(platform: &str) -> Option<(u32, u32)> {
    let rest = platform.strip_prefix("manylinux")?;
    if let Some(v) = rest.strip_prefix('_') {
        let mut p = v.split('_');
        return Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?));
    }
    match rest.split('_').next()? {
        "1" => Some((2, 5)),
        "2010" => Some((2, 12)),
        "2014" => Some((2, 17)),
        _ => None,
    }
}

/// The glibc a set of wheels needs: the highest floor over them, `2.N`.
pub fn glibc<'a>(wheels: impl Iterator<Item = &'a WheelFile>) -> Option<(u32, u32)> {
    wheels.filter_map(glibc_floor).max()
}

/// The manifest's sets: per target its version, platforms, min Python, glibc and members.
pub fn target_sets(
    wheels: &[WheelFile],
    bootstrap: &[WheelFile],
    targets: &[TargetSpec],
    sets: &[Vec<usize>],
) -> Vec<TargetSet> {
    targets
        .iter()
        .zip(sets)
        .map(|(t, set)| {
            let members = set.iter().map(|&i| &wheels[i]);
            let [x, y, z] = min_python(members.clone().chain(bootstrap), t.python);
            let mut files: Vec<String> = members
                .clone()
                .map(|w| format!("{WHEELS_DIR}{}", w.file_name))
                .collect();
            files.sort();
            TargetSet {
                python: t.version(),
                platforms: t.platforms.clone(),
                min_python: format!("{x}.{y}.{z}"),
                glibc: glibc(members).map(|(a, b)| format!("{a}.{b}")),
                wheels: files,
            }
        })
        .collect()
}

/// The manifest's `target`: the sets, the X.Y of each, the lowest min Python and the highest
/// glibc over them.
pub fn manifest_target(inputs: &Inputs, mut tags: Vec<String>) -> Target {
    tags.sort();
    tags.dedup();
    let sets = target_sets(&inputs.wheels, &inputs.bootstrap, &inputs.targets, &inputs.sets);
    let mut xys: Vec<[u32; 3]> = inputs.targets.iter().map(|t| [t.python[0], t.python[1], 0]).collect();
    xys.sort_by_key(|v| std::cmp::Reverse(*v));
    xys.dedup();
    let glibc = inputs
        .sets
        .iter()
        .filter_map(|s| glibc(s.iter().map(|&i| &inputs.wheels[i])))
        .max();
    Target {
        python_versions: xys.iter().map(|[x, y, _]| format!("{x}.{y}")).collect(),
        tags,
        min_python: sets
            .iter()
            .filter_map(|s| parse_xyz(&s.min_python))
            .min()
            .map(|[x, y, z]| format!("{x}.{y}.{z}")),
        glibc: glibc.map(|(a, b)| format!("{a}.{b}")),
        sets,
    }
}

/// For the bootstrap (pip, setuptools: shared by every set): per distribution, the newest
/// wheel whose Requires-Python allows every target exactly; none is left out silently (the
/// bootstrap check names what does not fit).
pub fn bootstrap_for(pool: Vec<WheelFile>, targets: &[TargetSpec]) -> Vec<WheelFile> {
    let mut by_dist: BTreeMap<String, Vec<WheelFile>> = BTreeMap::new();
    for w in pool {
        by_dist.entry(w.name.key()).or_default().push(w);
    }
    by_dist
        .into_values()
        .filter_map(|mut group| {
            group.sort_by_key(|w| std::cmp::Reverse(version(w)));
            group.dedup_by(|a, b| a.file_name == b.file_name);
            let fits = group
                .iter()
                .position(|w| targets.iter().all(|t| requires_python_ok(w, t.python)))
                .unwrap_or(0);
            group.into_iter().nth(fits)
        })
        .collect()
}

/// The bootstrap wheels' directories: `--bootstrap-wheels`, else pip and setuptools
/// downloaded for each target's version (one cache directory per version).
pub fn bootstrap_dirs(
    args: &BuildArgs,
    targets: &[TargetSpec],
    xy: Option<&str>,
) -> Result<Vec<std::path::PathBuf>, String> {
    if let Some(d) = &args.bootstrap_wheels {
        return Ok(vec![d.clone()]);
    }
    if targets.is_empty() {
        return Ok(vec![pip::bootstrap_wheels(args.python(), xy)?]);
    }
    targets
        .iter()
        .map(|t| pip::bootstrap_wheels(args.python(), Some(&t.version())))
        .collect()
}

/// Every wheel of the bootstrap directories.
pub fn bootstrap_pool(dirs: &[std::path::PathBuf]) -> Result<Vec<WheelFile>, String> {
    let mut out = Vec::new();
    for d in dirs {
        out.extend(wheels_in(Path::new(d))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    /// Every wheel of the pool a candidate of every target.
    fn everything(pool: &[WheelFile], targets: &[TargetSpec]) -> Vec<Vec<usize>> {
        vec![(0..pool.len()).collect(); targets.len()]
    }
    use super::*;
    use wheelsfx_payload::wheelname::WheelName;

    fn wheel(file: &str, requires_python: Option<&str>) -> WheelFile {
        let name = WheelName::parse(file).unwrap();
        WheelFile {
            path: file.into(),
            file_name: file.into(),
            distribution: name.distribution.clone(),
            version: name.version.clone(),
            name,
            requires_python: requires_python.map(String::from),
            requires_dist: Vec::new(),
        }
    }

    fn target(v: [u32; 3], platforms: &[&str]) -> TargetSpec {
        TargetSpec {
            python: v,
            platforms: platforms.iter().map(|s| s.to_string()).collect(),
            host_libc: Libc::Glibc(2, 36),
        }
    }

    fn pick(pool: &[WheelFile], targets: &[TargetSpec]) -> Result<Vec<Vec<usize>>, String> {
        select(pool, targets, &everything(pool, targets))
    }

    #[test]
    fn one_set_per_target_shared_wheels_once() {
        let pool = vec![
            wheel("fast-1.0-cp39-cp39-manylinux_2_17_x86_64.whl", None),
            wheel("fast-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", None),
            wheel("pure-1.0-py3-none-any.whl", Some(">=3.8")),
            wheel("pure-0.9-py3-none-any.whl", None),
        ];
        let targets = [target([3, 9, 18], &[]), target([3, 11, 2], &[])];
        let sets = pick(&pool, &targets).unwrap();
        assert_eq!(sets, vec![vec![0, 2], vec![1, 2]]);
        let ts = target_sets(&pool, &[], &targets, &sets);
        assert_eq!(ts[0].glibc.as_deref(), Some("2.17"));
        assert_eq!(ts[1].glibc.as_deref(), Some("2.28"));
        assert_eq!(ts[1].min_python, "3.11.0");
    }

    #[test]
    fn exact_requires_python_is_refused_naming_the_fit() {
        let pool = vec![wheel("soupsieve-4.1.3-py3-none-any.whl", Some(">=3.11.5"))];
        let err = pick(&pool, &[target([3, 11, 2], &[])]).unwrap_err();
        assert!(
            err.contains("soupsieve-4.1.3-py3-none-any.whl has Requires-Python >=3.11.5"),
            "{err}"
        );
        assert!(err.contains("the lowest Python it fits is 3.11.5"), "{err}");
        assert!(pick(&pool, &[target([3, 11, 7], &[])]).is_ok());
        let sets = pick(&pool, &[target([3, 11, 7], &[])]).unwrap();
        assert_eq!(
            target_sets(&pool, &[], &[target([3, 11, 7], &[])], &sets)[0].min_python,
            "3.11.5"
        );
    }

    #[test]
    fn platform_refuses_a_newer_glibc() {
        let pool = vec![wheel("fast-1.0-cp311-cp311-manylinux_2_34_x86_64.whl", None)];
        let err = pick(&pool, &[target([3, 11, 2], &["manylinux_2_31_x86_64"])]).unwrap_err();
        assert!(
            err.contains("fast-1.0-cp311-cp311-manylinux_2_34_x86_64.whl is built for other"),
            "{err}"
        );
        assert!(err.contains("Python 3.11.2 on manylinux_2_31_x86_64"), "{err}");
    }

    #[test]
    fn glibc_counts_a_wheels_lowest_tag() {
        let w = wheel("x-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", None);
        assert_eq!(glibc_floor(&w), Some((2, 17)));
        let w = wheel("x-1.0-cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64.whl", None);
        assert_eq!(glibc_floor(&w), Some((2, 5)));
        assert_eq!(glibc_floor(&wheel("x-1.0-py3-none-any.whl", None)), None);
    }
}
