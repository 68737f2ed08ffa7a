//! Step 2: plan the payload — check the wheel set, hash every input, and build the manifest
//! that lists every entry in payload order.

use crate::bytecode;
use crate::checkcache::CheckCache;
use crate::checked::{self, Checked, Tally};
use crate::collect::{Inputs, Source};
use crate::progress::Progress;
use crate::requires;
use crate::select;
use crate::wheel::WheelFile;
use std::collections::BTreeMap;
use std::io::Read;
use wheelsfx_payload::digest::HashingWriter;
use wheelsfx_payload::layout::{pack_order, BOOTSTRAP_DIR, FORMAT_VERSION, WHEELS_DIR};
use wheelsfx_payload::manifest::{App, Entry, Manifest, Target, Wheel};
use wheelsfx_payload::wheel;

/// One entry to write: where its bytes come from, and whether to store it as-is.
pub struct Item {
    pub entry: Entry,
    pub source: Source,
    /// Wheels are zips already: deflating them again only costs time on both ends.
    pub stored: bool,
}

pub struct Plan {
    pub manifest: Manifest,
    pub items: Vec<Item>,
    pub tally: Tally,
}

pub fn plan(inputs: &Inputs, created: u64, cache: &CheckCache, compile: &bytecode::Options) -> Result<Plan, String> {
    // With target sets, select.rs chose one wheel per distribution for each set.
    if inputs.sets.is_empty() {
        check_one_per_target(&inputs.wheels)?;
    }
    check_one_per_target(&inputs.bootstrap)?;
    let mut checked = check_wheels(inputs, cache)?;
    let tally = Tally::of(&checked);
    let target = target(inputs);
    if inputs.targets.is_empty() {
        requires::check(&inputs.wheels, &inputs.bootstrap, &target.python_versions)?;
    }
    for (t, set) in inputs.targets.iter().zip(&inputs.sets) {
        let wheels: Vec<WheelFile> = set.iter().map(|&i| inputs.wheels[i].clone()).collect();
        requires::check_target(&wheels, &inputs.bootstrap, t)?;
    }
    let (mut items, bytecode) = bytecode::compile(inputs, &checked, compile)?;
    let project = checked.split_off(inputs.bootstrap.len());
    let wheels = wheel_items(&inputs.wheels, project, WHEELS_DIR, &mut items);
    let bootstrap_wheels = wheel_items(&inputs.bootstrap, checked, BOOTSTRAP_DIR, &mut items);
    for f in &inputs.files {
        let (sha256, size) = hash(&f.source)?;
        items.push(Item {
            entry: Entry {
                path: f.name.clone(),
                sha256,
                size,
                mode: f.mode,
            },
            source: f.source.clone(),
            stored: false,
        });
    }
    // Sorted by name to find two inputs of one name, then into payload order.
    items.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    if let Some(w) = items.windows(2).find(|w| w[0].entry.path == w[1].entry.path) {
        return Err(format!(
            "two inputs would both be packed as {}; rename one",
            w[0].entry.path
        ));
    }
    items.sort_by(|a, b| pack_order(&a.entry.path).cmp(&pack_order(&b.entry.path)));
    let entries: Vec<Entry> = items.iter().map(|i| i.entry.clone()).collect();
    let manifest = Manifest {
        format: FORMAT_VERSION,
        app: App {
            name: inputs.app_name.clone(),
            build_id: inputs.build_id.clone(),
        },
        created,
        packer: format!("wheelsfx {}", env!("CARGO_PKG_VERSION")),
        target,
        digest: Manifest::compute_digest(&entries),
        wheels,
        bootstrap_wheels,
        post_install: inputs.post_install.clone(),
        link_shared: inputs.link_shared.clone(),
        bytecode,
        entries,
    };
    // What the stub would refuse in the manifest (names, versions, layout) is refused here.
    manifest.check_consistent()?;
    Ok(Plan { manifest, items, tally })
}

/// Every wheel through the stub's own validator ([`wheel::check`]): what the installer would
/// refuse is refused here, with the same sentence. Paths that two wheels ship are reported:
/// the stub lets the later wheel in install order (bootstrap first) write them. Returns each
/// wheel's check, bootstrap wheels first (one read of each wheel, and the check cache: see
/// [`checked`]).
fn check_wheels(inputs: &Inputs, cache: &CheckCache) -> Result<Vec<Checked>, String> {
    let all: Vec<&WheelFile> = inputs.bootstrap.iter().chain(&inputs.wheels).collect();
    let checked = checked::check_all(&all, &inputs.app_name, cache, &Progress::new())?;
    let named: Vec<(&str, &wheel::WheelPlan)> = all
        .iter()
        .map(|w| w.distribution.as_str())
        .zip(checked.iter().map(|c| &c.plan))
        .collect();
    for (path, who) in wheel::collisions(&named) {
        let (winner, losers) = who.split_last().expect("a collision has wheels");
        let losers: Vec<&str> = losers.iter().map(|&l| all[l].file_name.as_str()).collect();
        eprintln!(
            "wheelsfx: warning: {path} is shipped by {} and {}; {} is installed last and its copy is kept",
            losers.join(", "),
            all[*winner].file_name,
            all[*winner].file_name
        );
    }
    Ok(checked)
}

/// Two wheels of one distribution may coexist only for different targets (e.g. cp39 and
/// cp311 builds): if any tag is shared, the stub could not tell which to install.
fn check_one_per_target(wheels: &[WheelFile]) -> Result<(), String> {
    let mut seen: BTreeMap<(String, String), &WheelFile> = BTreeMap::new();
    for w in wheels {
        for tag in &w.name.tags {
            if let Some(other) = seen.insert((w.name.key(), tag.clone()), w) {
                if other.path != w.path {
                    return Err(format!(
                        "{} and {} are both wheels of {} for {tag}; keep one",
                        other.file_name, w.file_name, w.distribution
                    ));
                }
            }
        }
    }
    Ok(())
}

fn wheel_items(wheels: &[WheelFile], checked: Vec<Checked>, dir: &str, items: &mut Vec<Item>) -> Vec<Wheel> {
    let mut out = Vec::new();
    for (w, c) in wheels.iter().zip(checked) {
        let source = match c.held {
            Some(bytes) => Source::Held(bytes),
            None => Source::File(w.path.clone()),
        };
        let (sha256, size) = (c.sha256, c.size);
        let file = format!("{dir}{}", w.file_name);
        out.push(Wheel {
            file: file.clone(),
            distribution: w.distribution.clone(),
            version: w.version.clone(),
            tags: w.name.tags.clone(),
            requires_python: w.requires_python.clone(),
            sha256: sha256.clone(),
            size,
        });
        items.push(Item {
            entry: Entry {
                path: file,
                sha256,
                size,
                mode: 0o644,
            },
            source,
            stored: true,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    out
}

/// The Python versions the set targets: those of interpreter-specific (cpXY-cpXY) wheels,
/// else the interpreter pip ran with.
fn target(inputs: &Inputs) -> Target {
    let mut versions: Vec<String> = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for w in &inputs.wheels {
        for t in &w.name.tags {
            tags.push(t.clone());
            // Only interpreter-specific ABIs pin a version: cp310-abi3 means "3.10 or newer".
            let mut parts = t.split('-');
            let (py, abi) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if let Some(v) = py
                .strip_prefix("cp3")
                .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) && abi.starts_with("cp"))
            {
                versions.push(format!("3.{v}"));
            }
        }
    }
    if !inputs.targets.is_empty() {
        return select::manifest_target(inputs, tags);
    }
    if versions.is_empty() {
        versions.extend(inputs.python_version.clone());
    }
    let key = |v: &String| v.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<_>>();
    versions.sort_by_key(|v| std::cmp::Reverse(key(v)));
    versions.dedup();
    tags.sort();
    tags.dedup();
    Target {
        python_versions: versions,
        tags,
        ..Target::default()
    }
}

pub fn hash(source: &Source) -> Result<(String, u64), String> {
    let mut h = HashingWriter::default();
    match source {
        Source::File(p) => return hash_file(p),
        Source::Bytes(b) => {
            std::io::copy(&mut b.take(u64::MAX), &mut h).expect("hashing bytes cannot fail");
        }
        Source::Held(b) => {
            std::io::copy(&mut &b[..], &mut h).expect("hashing bytes cannot fail");
        }
    }
    Ok(h.finish())
}

/// The sha256 (hex) and size of a file: every input the packer hashes goes through here.
pub fn hash_file(path: &std::path::Path) -> Result<(String, u64), String> {
    let mut h = HashingWriter::default();
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    std::io::copy(&mut f, &mut h).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(h.finish())
}
