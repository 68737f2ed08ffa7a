//! `wheelsfx diff OLD NEW [--json]`: what changes between two builds, or between a deployed
//! release and the artifact about to replace it. Each side is an artifact (digest checked, as
//! `inspect` does) or a release directory (its `.wheelsfx/manifest.json`, checked with the
//! manifest's own rules). The comparison itself, [`diff`], is pure: manifest against manifest.
//! Every string comes from the inputs, so control characters are escaped as `inspect` does.

use pep508_rs::pep440_rs::Version;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;
use wheelsfx_payload::inspect::json_safe;
use wheelsfx_payload::layout::{classify, EntryKind, MANIFEST};
use wheelsfx_payload::manifest::{Entry, Manifest, Wheel};
use wheelsfx_payload::names::escaped;
use wheelsfx_payload::wheelname::normalize;

/// App files listed by name in the human report, per kind of change; the rest are counted.
const SHOWN: usize = 10;

/// A value that differs: `{"old": .., "new": ..}` in JSON.
#[derive(Debug, Serialize, PartialEq)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

/// One wheel, as listed.
#[derive(Debug, Serialize, PartialEq)]
pub struct WheelRef {
    pub distribution: String,
    pub version: String,
    pub file: String,
}

/// One distribution's wheel in both: versions (upgrade/downgrade) or hashes (rebuilt).
#[derive(Debug, Serialize, PartialEq)]
pub struct WheelChange {
    pub distribution: String,
    pub old_version: String,
    pub new_version: String,
    pub old_sha256: String,
    pub new_sha256: String,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct WheelDiff {
    pub added: Vec<WheelRef>,
    pub removed: Vec<WheelRef>,
    pub upgraded: Vec<WheelChange>,
    pub downgraded: Vec<WheelChange>,
    /// Same version, other bytes.
    pub rebuilt: Vec<WheelChange>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct FileRef {
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct FileChange {
    pub path: String,
    pub old_size: u64,
    pub new_size: u64,
    pub old_mode: u32,
    pub new_mode: u32,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct FileDiff {
    pub added: Vec<FileRef>,
    pub removed: Vec<FileRef>,
    /// Other sha256 or other mode.
    pub changed: Vec<FileChange>,
}

/// Every key is always present, so scripts can read the object without probing.
#[derive(Debug, Serialize, PartialEq)]
pub struct Diff {
    pub equal: bool,
    pub app: Option<Change<String>>,
    pub build_id: Option<Change<Option<String>>>,
    pub packer: Option<Change<String>>,
    pub wheels: WheelDiff,
    pub bootstrap_wheels: WheelDiff,
    /// Paths relative to the app tree (`<app>/` stripped), so a renamed app still compares.
    pub app_files: FileDiff,
    pub static_files: FileDiff,
    pub support_files: FileDiff,
    /// `manifest.target` key by key (all but `tags`, which follow from the wheels).
    pub target: BTreeMap<String, Change<Value>>,
    pub post_install: Option<Change<Vec<String>>>,
    pub link_shared: Option<Change<Vec<String>>>,
}

/// The comparison: `old` against `new`. Both passed `check_consistent`.
pub fn diff(old: &Manifest, new: &Manifest) -> Diff {
    let mut d = Diff {
        equal: false,
        app: changed(&old.app.name, &new.app.name),
        build_id: changed(&old.app.build_id, &new.app.build_id),
        packer: changed(&old.packer, &new.packer),
        wheels: wheels(&old.wheels, &new.wheels),
        bootstrap_wheels: wheels(&old.bootstrap_wheels, &new.bootstrap_wheels),
        app_files: files(old, new, EntryKind::App),
        static_files: files(old, new, EntryKind::Static),
        support_files: files(old, new, EntryKind::SitePackages),
        target: target(old, new),
        post_install: changed(&old.post_install, &new.post_install),
        link_shared: changed(&old.link_shared, &new.link_shared),
    };
    d.equal = d.is_empty();
    d
}

fn changed<T: PartialEq + Clone>(old: &T, new: &T) -> Option<Change<T>> {
    (old != new).then(|| Change {
        old: old.clone(),
        new: new.clone(),
    })
}

impl WheelDiff {
    fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.upgraded.is_empty()
            && self.downgraded.is_empty()
            && self.rebuilt.is_empty()
    }
}

impl FileDiff {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Diff {
    fn is_empty(&self) -> bool {
        self.app.is_none()
            && self.build_id.is_none()
            && self.packer.is_none()
            && self.wheels.is_empty()
            && self.bootstrap_wheels.is_empty()
            && self.app_files.is_empty()
            && self.static_files.is_empty()
            && self.support_files.is_empty()
            && self.target.is_empty()
            && self.post_install.is_none()
            && self.link_shared.is_none()
    }
}

/// Wheels keyed by distribution; by distribution and tags where either side has several
/// wheels of one distribution (one per target), so each target's wheel is compared with its own.
fn wheels(old: &[Wheel], new: &[Wheel]) -> WheelDiff {
    let count = |list: &[Wheel], dist: &str| list.iter().filter(|w| normalize(&w.distribution) == dist).count();
    let key = |w: &Wheel| {
        let dist = normalize(&w.distribution);
        if count(old, &dist) > 1 || count(new, &dist) > 1 {
            format!("{dist} [{}]", w.tags.join("."))
        } else {
            dist
        }
    };
    let old: BTreeMap<String, &Wheel> = old.iter().map(|w| (key(w), w)).collect();
    let new: BTreeMap<String, &Wheel> = new.iter().map(|w| (key(w), w)).collect();
    let mut d = WheelDiff::default();
    for (k, o) in &old {
        match new.get(k) {
            None => d.removed.push(wheel_ref(o)),
            Some(n) if o.sha256 == n.sha256 => {}
            Some(n) => {
                let change = WheelChange {
                    distribution: n.distribution.clone(),
                    old_version: o.version.clone(),
                    new_version: n.version.clone(),
                    old_sha256: o.sha256.clone(),
                    new_sha256: n.sha256.clone(),
                };
                match compare_versions(&o.version, &n.version) {
                    std::cmp::Ordering::Less => d.upgraded.push(change),
                    std::cmp::Ordering::Greater => d.downgraded.push(change),
                    std::cmp::Ordering::Equal => d.rebuilt.push(change),
                }
            }
        }
    }
    d.added = new
        .iter()
        .filter(|(k, _)| !old.contains_key(*k))
        .map(|(_, w)| wheel_ref(w))
        .collect();
    d
}

fn wheel_ref(w: &Wheel) -> WheelRef {
    WheelRef {
        distribution: w.distribution.clone(),
        version: w.version.clone(),
        file: w.file.clone(),
    }
}

/// PEP 440 order (`1.0` == `1.0.0`); the manifest checked every version, but text order is
/// the fallback should one not parse.
fn compare_versions(old: &str, new: &str) -> std::cmp::Ordering {
    match (Version::from_str(old), Version::from_str(new)) {
        (Ok(o), Ok(n)) => o.cmp(&n),
        _ => old.cmp(new),
    }
}

/// Entries of one kind, by path (app files relative to the app tree), compared by hash and mode.
fn files(old: &Manifest, new: &Manifest, kind: EntryKind) -> FileDiff {
    let pick = |m: &Manifest| -> BTreeMap<String, Entry> {
        m.entries
            .iter()
            .filter(|e| classify(&e.path, &m.app.name).ok() == Some(kind))
            .map(|e| {
                let path = match kind {
                    EntryKind::App => e.path[m.app.name.len() + 1..].to_string(),
                    _ => e.path.clone(),
                };
                (path, e.clone())
            })
            .collect()
    };
    let (old, new) = (pick(old), pick(new));
    let file_ref = |(path, e): (&String, &Entry)| FileRef {
        path: path.clone(),
        size: e.size,
    };
    let mut d = FileDiff {
        removed: old
            .iter()
            .filter(|(p, _)| !new.contains_key(*p))
            .map(file_ref)
            .collect(),
        added: new
            .iter()
            .filter(|(p, _)| !old.contains_key(*p))
            .map(file_ref)
            .collect(),
        changed: Vec::new(),
    };
    for (path, o) in &old {
        if let Some(n) = new.get(path).filter(|n| n.sha256 != o.sha256 || n.mode != o.mode) {
            d.changed.push(FileChange {
                path: path.clone(),
                old_size: o.size,
                new_size: n.size,
                old_mode: o.mode,
                new_mode: n.mode,
            });
        }
    }
    d
}

/// `manifest.target` as JSON, key by key, so fields added to it later are compared too; a key
/// one side lacks is `null` there.
fn target(old: &Manifest, new: &Manifest) -> BTreeMap<String, Change<Value>> {
    let object = |m: &Manifest| match serde_json::to_value(&m.target) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (object(old), object(new));
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "tags")
        .filter_map(|k| {
            let value = |m: &serde_json::Map<String, Value>| m.get(k).cloned().unwrap_or(Value::Null);
            changed(&value(&old), &value(&new)).map(|c| (k.clone(), c))
        })
        .collect()
}

/// The human report: one group per kind of change, short lines, "no differences" when equal.
pub fn render(d: &Diff) -> String {
    if d.equal {
        return "no differences\n".into();
    }
    let mut out = String::new();
    let opt = |v: &Option<String>| v.as_deref().map_or("-".to_string(), |s| escaped(s).into_owned());
    if let Some(c) = &d.app {
        let _ = writeln!(out, "app: {} -> {}", c.old, c.new);
    }
    if let Some(c) = &d.build_id {
        let _ = writeln!(out, "build id: {} -> {}", opt(&c.old), opt(&c.new));
    }
    if let Some(c) = &d.packer {
        let _ = writeln!(out, "packer: {} -> {}", escaped(&c.old), escaped(&c.new));
    }
    render_wheels(&mut out, "wheels", &d.wheels);
    render_wheels(&mut out, "bootstrap wheels", &d.bootstrap_wheels);
    render_files(&mut out, "app files", &d.app_files);
    render_files(&mut out, "static files", &d.static_files);
    render_files(&mut out, "support files", &d.support_files);
    if !d.target.is_empty() {
        let _ = writeln!(out, "target:");
        for (k, c) in &d.target {
            let _ = writeln!(
                out,
                "  {k}: {} -> {}",
                json_safe(&c.old.to_string()),
                json_safe(&c.new.to_string())
            );
        }
    }
    for (title, c) in [
        ("post-install hooks", &d.post_install),
        ("shared paths", &d.link_shared),
    ] {
        if let Some(c) = c {
            let _ = writeln!(out, "{title}:");
            c.old.iter().filter(|x| !c.new.contains(x)).for_each(|x| {
                let _ = writeln!(out, "  - {}", escaped(x));
            });
            c.new.iter().filter(|x| !c.old.contains(x)).for_each(|x| {
                let _ = writeln!(out, "  + {}", escaped(x));
            });
            if c.old.iter().all(|x| c.new.contains(x)) && c.new.iter().all(|x| c.old.contains(x)) {
                let _ = writeln!(out, "  (same {title}, another order)");
            }
        }
    }
    out
}

fn render_wheels(out: &mut String, title: &str, d: &WheelDiff) {
    if d.is_empty() {
        return;
    }
    let counts = [
        (d.added.len(), "added"),
        (d.removed.len(), "removed"),
        (d.upgraded.len(), "upgraded"),
        (d.downgraded.len(), "downgraded"),
        (d.rebuilt.len(), "rebuilt"),
    ];
    let _ = writeln!(out, "{title}: {}", summary(&counts));
    for w in &d.added {
        let _ = writeln!(out, "  + {} {}", w.distribution, w.version);
    }
    for w in &d.removed {
        let _ = writeln!(out, "  - {} {}", w.distribution, w.version);
    }
    for (list, note) in [(&d.upgraded, ""), (&d.downgraded, " (downgrade)")] {
        for c in list {
            let _ = writeln!(
                out,
                "  ~ {} {} -> {}{note}",
                c.distribution, c.old_version, c.new_version
            );
        }
    }
    for c in &d.rebuilt {
        let _ = writeln!(
            out,
            "  ~ {} {} rebuilt (sha256 {} -> {})",
            c.distribution,
            c.new_version,
            &c.old_sha256[..12],
            &c.new_sha256[..12]
        );
    }
}

fn render_files(out: &mut String, title: &str, d: &FileDiff) {
    if d.is_empty() {
        return;
    }
    let counts = [
        (d.added.len(), "added"),
        (d.removed.len(), "removed"),
        (d.changed.len(), "changed"),
    ];
    let _ = writeln!(out, "{title}: {}", summary(&counts));
    let lines = |out: &mut String, n: usize, line: &mut dyn FnMut(usize) -> String| {
        for i in 0..n.min(SHOWN) {
            let _ = writeln!(out, "  {}", line(i));
        }
        if n > SHOWN {
            let _ = writeln!(out, "  ... and {} more", n - SHOWN);
        }
    };
    lines(out, d.added.len(), &mut |i| {
        format!("+ {} ({} bytes)", d.added[i].path, d.added[i].size)
    });
    lines(out, d.removed.len(), &mut |i| {
        format!("- {} ({} bytes)", d.removed[i].path, d.removed[i].size)
    });
    lines(out, d.changed.len(), &mut |i| {
        let c = &d.changed[i];
        let mode = if c.old_mode == c.new_mode {
            String::new()
        } else {
            format!(", mode {:o} -> {:o}", c.old_mode, c.new_mode)
        };
        format!("~ {} ({} -> {} bytes{mode})", c.path, c.old_size, c.new_size)
    });
}

/// `2 added, 1 changed`: the non-zero counts.
fn summary(counts: &[(usize, &str)]) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    parts.join(", ")
}

/// `wheelsfx diff`: reads both sides, prints the report. A difference is not an error (exit 0).
pub fn run(old: &Path, new: &Path, json: bool) -> Result<(), crate::Failure> {
    let d = diff(&load(old)?, &load(new)?);
    let text = if json {
        json_safe(&serde_json::to_string_pretty(&d).expect("a diff serialises")) + "\n"
    } else {
        render(&d)
    };
    // A reader that closed the pipe (`| head`) has seen what it wanted.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// One side's manifest: a release directory's (or a manifest copied out of one, `*.json`), else an
/// artifact's, whose digest (and signature block, if any) `open` checks.
fn load(path: &Path) -> Result<Manifest, crate::Failure> {
    let file = if path.is_dir() {
        path.join(MANIFEST)
    } else if path.extension().is_some_and(|x| x == "json") {
        path.to_path_buf()
    } else {
        let payload = crate::open(path)?;
        payload.check_signature(&[]).map_err(crate::fail)?;
        return Ok(payload.manifest);
    };
    let bytes = std::fs::read(&file).map_err(|e| {
        let what = if path.is_dir() {
            " (a release directory, DEST, has one)"
        } else {
            ""
        };
        (1, format!("cannot read {}{what}: {e}", file.display()))
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| (3, format!("{} is not a wheelsfx manifest: {e}", file.display())))?;
    manifest
        .check_consistent()
        .map_err(|m| (3, format!("{} fails its checks: {m}", file.display())))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelsfx_payload::manifest::{App, Target};

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn wheel(dist: &str, version: &str, tag: &str, hash: char) -> Wheel {
        Wheel {
            file: format!("wheels/{dist}-{version}-{tag}.whl"),
            distribution: dist.into(),
            version: version.into(),
            tags: vec![tag.into()],
            requires_python: None,
            sha256: sha(hash),
            size: 10,
        }
    }

    fn entry(path: &str, hash: char, size: u64) -> Entry {
        Entry {
            path: path.into(),
            sha256: sha(hash),
            size,
            mode: 0o644,
        }
    }

    /// A consistent manifest of app `site` with these wheels and (non-wheel) entries.
    fn manifest(wheels: Vec<Wheel>, files: Vec<Entry>) -> Manifest {
        let mut entries: Vec<Entry> = wheels
            .iter()
            .map(|w| Entry {
                path: w.file.clone(),
                sha256: w.sha256.clone(),
                size: w.size,
                mode: 0o644,
            })
            .collect();
        entries.extend(files);
        let m = Manifest {
            format: 2,
            app: App {
                name: "site".into(),
                build_id: Some("1".into()),
            },
            created: 0,
            packer: "wheelsfx 0.1.0".into(),
            target: Target {
                python_versions: vec!["3.11".into()],
                tags: vec!["py3-none-any".into()],
                ..Target::default()
            },
            wheels,
            bootstrap_wheels: Vec::new(),
            post_install: Vec::new(),
            link_shared: Vec::new(),
            bytecode: Vec::new(),
            digest: Manifest::compute_digest(&entries),
            entries,
        };
        m.check_consistent().unwrap();
        m
    }

    fn names<T>(list: &[T], f: fn(&T) -> &str) -> Vec<&str> {
        list.iter().map(f).collect()
    }

    #[test]
    fn equal_manifests_have_no_differences() {
        let m = manifest(
            vec![wheel("a", "1.0", "py3-none-any", '1')],
            vec![entry("site/x.py", '2', 3)],
        );
        let d = diff(&m, &m.clone());
        assert!(d.equal);
        assert_eq!(render(&d), "no differences\n");
    }

    #[test]
    fn wheels_added_removed_upgraded_downgraded_rebuilt() {
        let any = "py3-none-any";
        let old = manifest(
            vec![
                wheel("a", "1.0", any, '1'),
                wheel("b", "1.0", any, '2'),
                wheel("c", "1.0", any, '3'),
                wheel("e", "2.0", any, '5'),
                wheel("f", "1.0", any, '6'),
            ],
            vec![],
        );
        let new = manifest(
            vec![
                wheel("a", "1.10", any, '7'),
                wheel("b", "1.0", any, '8'),
                wheel("d", "1.0", any, '4'),
                wheel("e", "1.9", any, '9'),
                wheel("F", "1.0", any, '6'),
            ],
            vec![],
        );
        let d = diff(&old, &new).wheels;
        assert_eq!(names(&d.added, |w| &w.distribution), ["d"]);
        assert_eq!(names(&d.removed, |w| &w.distribution), ["c"]);
        // 1.10 > 1.0 in PEP 440, though not as text the other way round.
        assert_eq!(names(&d.upgraded, |w| &w.new_version), ["1.10"]);
        assert_eq!(names(&d.downgraded, |w| &w.distribution), ["e"]);
        assert_eq!(names(&d.rebuilt, |w| &w.distribution), ["b"]);
        let text = render(&diff(&old, &new));
        for line in [
            "  + d 1.0\n",
            "  - c 1.0\n",
            "  ~ a 1.0 -> 1.10\n",
            "  ~ e 2.0 -> 1.9 (downgrade)\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
        assert!(
            text.contains("  ~ b 1.0 rebuilt (sha256 222222222222 -> 888888888888)"),
            "{text}"
        );
        assert!(
            text.starts_with("wheels: 1 added, 1 removed, 1 upgraded, 1 downgraded, 1 rebuilt\n"),
            "{text}"
        );
    }

    #[test]
    fn a_distribution_with_a_wheel_per_target_is_compared_per_tags() {
        let (t1, t2) = ("cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-manylinux_2_17_x86_64");
        let old = manifest(vec![wheel("n", "1.0", t1, '1'), wheel("n", "1.0", t2, '2')], vec![]);
        let new = manifest(vec![wheel("n", "1.0", t1, '1'), wheel("n", "1.1", t2, '3')], vec![]);
        let d = diff(&old, &new).wheels;
        assert!(d.added.is_empty() && d.removed.is_empty() && d.rebuilt.is_empty());
        assert_eq!(names(&d.upgraded, |w| &w.new_version), ["1.1"]);
    }

    #[test]
    fn app_static_and_support_files() {
        let old = manifest(
            vec![],
            vec![
                entry("site/keep.py", '1', 1),
                entry("site/edit.py", '2', 2),
                entry("site/gone.py", '3', 3),
                entry("static.in/0/a.css", '4', 4),
                entry("loadenv.py", '5', 5),
            ],
        );
        let mut new = manifest(
            vec![],
            vec![
                entry("site/keep.py", '1', 1),
                entry("site/edit.py", '6', 20),
                entry("site/new.py", '7', 7),
                entry("static.in/0/a.css", '4', 4),
                entry("loadenv.py", '5', 5),
            ],
        );
        new.entries[0].mode = 0o755;
        let d = diff(&old, &new);
        assert_eq!(names(&d.app_files.added, |f| &f.path), ["new.py"]);
        assert_eq!(names(&d.app_files.removed, |f| &f.path), ["gone.py"]);
        assert_eq!(names(&d.app_files.changed, |f| &f.path), ["edit.py", "keep.py"]);
        assert!(d.static_files.is_empty() && d.support_files.is_empty());
        let text = render(&d);
        assert!(text.contains("app files: 1 added, 1 removed, 2 changed\n"), "{text}");
        assert!(text.contains("  ~ edit.py (2 -> 20 bytes)\n"), "{text}");
        assert!(text.contains("  ~ keep.py (1 -> 1 bytes, mode 644 -> 755)\n"), "{text}");
    }

    #[test]
    fn a_renamed_app_compares_its_files_by_relative_path() {
        let old = manifest(vec![], vec![entry("site/x.py", '1', 1)]);
        let mut new = old.clone();
        new.app.name = "shop".into();
        new.entries[0].path = "shop/x.py".into();
        let d = diff(&old, &new);
        assert_eq!(
            d.app,
            Some(Change {
                old: "site".into(),
                new: "shop".into()
            })
        );
        assert!(d.app_files.is_empty());
    }

    #[test]
    fn many_app_files_are_counted_past_the_first_few() {
        let old = manifest(vec![], vec![]);
        let files = (0..SHOWN + 3)
            .map(|i| entry(&format!("site/f{i:02}.py"), '1', 1))
            .collect();
        let text = render(&diff(&old, &manifest(vec![], files)));
        assert!(text.contains("app files: 13 added\n"), "{text}");
        assert!(text.contains("  ... and 3 more\n"), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("  + ")).count(), SHOWN);
    }

    #[test]
    fn target_is_compared_key_by_key_without_tags() {
        let old = manifest(vec![], vec![]);
        let mut new = old.clone();
        new.target.tags = vec!["cp311-cp311-linux_x86_64".into()];
        assert!(diff(&old, &new).equal, "tags alone follow from the wheels");
        new.target.min_python = Some("3.11.2".into());
        new.target.python_versions = vec!["3.12".into()];
        let d = diff(&old, &new);
        assert_eq!(d.target.keys().collect::<Vec<_>>(), ["min_python", "python_versions"]);
        assert_eq!(d.target["min_python"].old, Value::Null);
        let text = render(&d);
        assert!(text.contains("target:\n  min_python: null -> \"3.11.2\"\n"), "{text}");
    }

    #[test]
    fn hooks_shared_paths_build_id_and_packer() {
        let old = manifest(vec![], vec![]);
        let mut new = old.clone();
        new.post_install = vec!["python manage.py migrate".into()];
        new.link_shared = vec!["media/".into()];
        new.app.build_id = None;
        new.packer = "wheelsfx 0.2.0".into();
        let d = diff(&old, &new);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["post_install"]["new"][0], "python manage.py migrate");
        assert_eq!(json["build_id"]["new"], Value::Null);
        let text = render(&d);
        for line in [
            "build id: 1 -> -\n",
            "packer: wheelsfx 0.1.0 -> wheelsfx 0.2.0\n",
            "post-install hooks:\n  + python manage.py migrate\n",
            "shared paths:\n  + media/\n",
        ] {
            assert!(text.contains(line), "{line:?} not in:\n{text}");
        }
    }

    #[test]
    fn control_characters_from_the_inputs_are_escaped() {
        let old = manifest(vec![], vec![]);
        let mut new = old.clone();
        new.app.build_id = Some("2\u{1b}[2J".into());
        new.target.sets = vec![wheelsfx_payload::manifest::TargetSet {
            python: "3.11.2".into(),
            platforms: vec!["linux\u{9b}31m".into()],
            min_python: "3.11.0".into(),
            ..Default::default()
        }];
        let text = render(&diff(&old, &new));
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    }

    #[test]
    fn the_json_object_always_has_every_key() {
        let m = manifest(vec![], vec![]);
        let json = serde_json::to_value(diff(&m, &m)).unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "app",
                "app_files",
                "bootstrap_wheels",
                "build_id",
                "equal",
                "link_shared",
                "packer",
                "post_install",
                "static_files",
                "support_files",
                "target",
                "wheels"
            ]
        );
        assert_eq!(json["wheels"]["rebuilt"], serde_json::json!([]));
    }
}
