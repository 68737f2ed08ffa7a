//! Step "link" (between plan and install): a wheel the previous release installed from the
//! same bytes (same sha256) is linked from it, file by file, instead of inflated out of the
//! artifact, so an app-only redeploy writes only the app, the launchers and the RECORDs.
//!
//! The source release is trusted only after its receipt check ([`check`]): complete, same
//! app, installed natively, its manifest copy consistent and matching its receipt, and the
//! same interpreter as this deploy. A wheel is linked only when every file its installed
//! RECORD lists is still, by lstat, a regular file of the RECORD size with no write bits (the
//! native installer writes every wheel file read-only, so a later release can share the
//! inode; a file someone chmod-ed and edited is caught). Its plan (files, modes, RECORD lines)
//! comes from that RECORD, never from the artifact.
//!
//! The source: `--link-from DIR`, else the newest complete release of the same app beside
//! DEST. That may be DEST itself when --force replaces it: its inodes outlive its deletion.

use crate::error::{Context, Result};
use crate::release::{complete_releases, Receipt};
use crate::stage::{open_new, Stage};
use crate::target::Target;
use crate::venv::VenvLayout;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, SFlag};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use wheelsfx_payload::layout::{check_entry_name, Pyc, PycOwner, MANIFEST};
use wheelsfx_payload::manifest::{Manifest, Wheel};
use wheelsfx_payload::record::{self, parse_record};
use wheelsfx_payload::wheel::{parse_entry_points, target_key, EntryPoint, Scheme};
use wheelsfx_payload::wheelname::normalize;

/// How linked files are made, decided once per deploy on the first file.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// FICLONE: a new inode sharing the extents (btrfs, xfs); nothing is shared after a write.
    Reflink,
    /// linkat: the same inode, read-only in both releases.
    Hardlink,
}

/// One file of a linked wheel, as the source release's RECORD lists it.
pub struct LinkedFile {
    /// Its path in RECORD (relative to site-packages).
    pub record_path: String,
    /// The file in the source release.
    pub from: PathBuf,
    pub hash: String,
    pub size: u64,
    pub executable: bool,
}

/// A wheel to link: what the installer needs to finish it (launchers, INSTALLER, REQUESTED,
/// RECORD) without reading it from the artifact.
pub struct LinkedWheel {
    pub wheel: Wheel,
    pub dist_info: String,
    pub entry_points: Vec<EntryPoint>,
    pub files: Vec<LinkedFile>,
}

/// What the link step decided before anything is written.
#[derive(Default)]
pub struct Selection {
    /// The source release, when one passed the receipt check.
    pub from: Option<PathBuf>,
    pub wheels: Vec<LinkedWheel>,
    /// Why nothing is linked (a source release refused), for one progress line.
    pub note: Option<String>,
}

/// The linked wheels with the method the install uses.
pub struct Linking {
    pub from: PathBuf,
    pub method: Method,
    pub wheels: Vec<LinkedWheel>,
}

/// How this deploy links: `--link-from`, `--no-link`, and whether the installer can.
pub struct Options<'a> {
    pub from: Option<&'a Path>,
    pub off: bool,
    /// The magic of the pycs this deploy installs from the artifact ("build" bytecode), if
    /// any: a source release's build-time pycs are linked only with the same magic.
    pub build_magic: Option<&'a str>,
}

/// The wheels of `target` that can be linked from the source release, decided from the
/// source release alone (the artifact's copy of a linked wheel is never read).
pub fn select(opts: &Options, dest: &Path, app: &str, target: &Target) -> Selection {
    if opts.off {
        return Selection::default();
    }
    let source = match opts.from {
        Some(dir) => fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        None => match newest_release(dest, app) {
            Some(r) => r,
            None => return Selection::default(),
        },
    };
    let layout = VenvLayout::new(&target.python);
    match check(&source, app, target) {
        Ok(checked) => {
            let pycs = pycs_linkable(&checked.receipt, opts.build_magic);
            let wheels = candidates(&source, &checked.wheels, &layout, target, pycs);
            Selection {
                from: Some(source),
                wheels,
                note: None,
            }
        }
        Err(why) => Selection {
            note: Some(format!("not linking from {}: {why}", source.display())),
            ..Selection::default()
        },
    }
}

impl Selection {
    /// Drops the linked wheels that write a path another wheel also writes (`others`: every
    /// planned wheel's path keys): one writer per path is decided over plans from the artifact.
    pub fn without_collisions(&mut self, others: &BTreeSet<String>) -> Vec<Wheel> {
        // Each wheel's keys made once (19,000 paths for the corpus), counted by reference.
        let (wheels, wheel_keys): (Vec<LinkedWheel>, Vec<BTreeSet<String>>) = (std::mem::take(&mut self.wheels)
            .into_iter())
        .map(|w| {
            let k = keys(&w);
            (w, k)
        })
        .unzip();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for k in wheel_keys.iter().flatten() {
            *count.entry(k).or_default() += 1;
        }
        let alone = |ks: &BTreeSet<String>| ks.iter().all(|k| count[k.as_str()] == 1 && !others.contains(k));
        let (keep, drop): (Vec<_>, Vec<_>) = (wheels.into_iter())
            .zip(wheel_keys.iter().map(alone))
            .partition(|(_, ok)| *ok);
        self.wheels = keep.into_iter().map(|(w, _)| w).collect();
        drop.into_iter().map(|(w, _)| w.wheel).collect()
    }

    /// The artifact entries this deploy never reads: the linked wheels, and the build-time
    /// pycs (of cache tag `tag`) that come linked with them.
    pub fn unread_entries(&self, tag: Option<&str>) -> HashSet<String> {
        let mut out = HashSet::new();
        for w in &self.wheels {
            out.insert(w.wheel.file.clone());
            let Some(cache_tag) = tag else { continue };
            let owner = PycOwner::Wheel(w.wheel.file_name());
            let pycs = w.files.iter().filter(|f| cached_pyc(&f.record_path));
            out.extend(pycs.map(|f| {
                Pyc {
                    cache_tag,
                    owner,
                    rel: &f.record_path,
                }
                .entry()
            }));
        }
        out
    }

    /// The dry run's `linked`: what would be linked (the method is decided in staging).
    pub fn to_json(&self) -> Value {
        match &self.from {
            Some(from) if !self.wheels.is_empty() => linked_json(from, None, &self.wheels),
            _ => Value::Null,
        }
    }

    /// The dry run's line: what would be linked, or why nothing.
    pub fn describe(&self, of: usize) -> Option<String> {
        match &self.from {
            Some(from) if !self.wheels.is_empty() => Some(format!(
                "would link {} of {of} wheels from {}",
                self.wheels.len(),
                from.display()
            )),
            _ => self.note.clone(),
        }
    }

    /// Decides the method on the first file (reflink, else hard link), in staging; None
    /// when neither works here (the wheels are then installed from the artifact).
    pub fn start(self, stage: &Stage) -> std::result::Result<Linking, Selection> {
        let (Some(from), Some(first)) = (self.from.clone(), self.wheels.first().and_then(|w| w.files.first())) else {
            return Err(self);
        };
        let probe = stage.path(".wheelsfx-link-probe");
        let method = [Method::Reflink, Method::Hardlink]
            .into_iter()
            .find(|m| place(&first.from, &probe, *m, 0o444).is_ok());
        let _ = fs::remove_file(&probe);
        match method {
            Some(method) => Ok(Linking {
                from,
                method,
                wheels: self.wheels,
            }),
            None => Err(self),
        }
    }
}

/// Every path key a linked wheel writes (site-packages files and launchers).
fn keys(w: &LinkedWheel) -> BTreeSet<String> {
    let d = &w.wheel.distribution;
    w.files
        .iter()
        .map(|f| target_key(Scheme::Site, &f.record_path, d))
        .chain(w.entry_points.iter().map(|e| target_key(Scheme::Scripts, &e.name, d)))
        .collect()
}

/// The newest complete release of `app` beside DEST.
fn newest_release(dest: &Path, app: &str) -> Option<PathBuf> {
    let parent = dest.parent()?;
    complete_releases(parent)
        .into_iter()
        .rev()
        .find(|r| r.receipt.app() == app)
        .map(|r| r.path)
}

/// A source release that passed the receipt check.
struct Checked {
    receipt: Receipt,
    /// The wheels it installed (its manifest's entries, named in its receipt).
    wheels: Vec<Wheel>,
}

/// The receipt check: the source release is used only if it says it is a complete native
/// install of this app with this interpreter, and its manifest copy is whole and its own.
fn check(release: &Path, app: &str, target: &Target) -> std::result::Result<Checked, String> {
    let receipt = Receipt::read(release).ok_or("its receipt is missing or does not parse")?;
    if !receipt.is_complete() {
        return Err("it is not a complete release".into());
    }
    if receipt.app() != app {
        return Err(format!("it holds another app ({})", receipt.app()));
    }
    if receipt.0.get("installer").and_then(Value::as_str) != Some("native") {
        return Err("it was not installed by the native installer".into());
    }
    let text = fs::read(release.join(MANIFEST)).map_err(|e| format!("its manifest copy cannot be read ({e})"))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| format!("its manifest copy does not parse ({e})"))?;
    manifest
        .check_consistent()
        .map_err(|e| format!("its manifest copy is inconsistent ({e})"))?;
    if receipt.0.get("digest").and_then(Value::as_str) != Some(manifest.digest.as_str()) {
        return Err("its manifest copy is not the one its receipt names".into());
    }
    let now = target.python.to_json();
    for field in ["executable", "version", "implementation", "cache_tag", "pyc_magic"] {
        if receipt.0["python"].get(field) != now.get(field) {
            return Err(format!("it was installed with another interpreter ({field} differs)"));
        }
    }
    let listed: BTreeSet<&str> = receipt.0["wheels"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let wheels: Vec<Wheel> = manifest
        .wheels
        .iter()
        .chain(&manifest.bootstrap_wheels)
        .filter(|w| listed.contains(w.file.as_str()))
        .cloned()
        .collect();
    if !target.all_wheels().iter().any(|w| same_bytes(&wheels, w)) {
        return Err("it installed none of these wheels".into());
    }
    Ok(Checked { receipt, wheels })
}

/// Whether `w` is among `installed` (the same sha256: the same bytes, whatever the name).
fn same_bytes(installed: &[Wheel], w: &Wheel) -> bool {
    installed.iter().any(|i| i.sha256 == w.sha256)
}

/// Build-time pycs are linked with their `.py` only when both releases installed build-time
/// bytecode with the same magic; otherwise the linked `.py` files are compiled as in a fresh
/// install. A receipt without `bytecode` (older stubs) never had build-time pycs.
fn pycs_linkable(receipt: &Receipt, build_magic: Option<&str>) -> bool {
    let b = &receipt.0["bytecode"];
    b["source"] == "build" && build_magic.is_some_and(|m| b["magic"] == m)
}

/// The wheels of `target` installed from the same bytes in the source release, and still
/// intact there.
fn candidates(
    source: &Path,
    installed: &[Wheel],
    layout: &VenvLayout,
    target: &Target,
    pycs: bool,
) -> Vec<LinkedWheel> {
    let site = source.join(&layout.site_packages);
    let dist_infos = dist_infos(&site);
    // Files are looked up relative to site-packages: 19,000 lstats walk a short path each.
    let Ok(site_dir) = File::open(&site) else {
        return Vec::new();
    };
    target
        .all_wheels()
        .into_par_iter()
        .filter(|w| same_bytes(installed, w))
        .filter_map(|w| {
            let key = (normalize(&w.distribution), w.version.clone());
            let dist_info = dist_infos.get(&key)?.clone();
            linkable(w, dist_info, (&site, &site_dir), &layout.xy, pycs)
        })
        .collect()
}

/// `.dist-info` directories of a site-packages, by (normalized name, version); a name found
/// twice is left out (which one is the wheel's is not knowable without the artifact).
fn dist_infos(site: &Path) -> BTreeMap<(String, String), String> {
    let mut out: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    for e in fs::read_dir(site).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((dist, version)) = name.strip_suffix(".dist-info").and_then(|s| s.rsplit_once('-')) else {
            continue;
        };
        let slot = out.entry((normalize(dist), version.to_string())).or_default();
        *slot = if slot.is_some() { None } else { Some(name.clone()) };
    }
    out.into_iter().filter_map(|(k, v)| Some((k, v?))).collect()
}

/// A wheel's files from its installed RECORD, if every one of them can be linked: listed with
/// a hash, inside site-packages, and by lstat a regular file of that size with no write bit.
/// A file in bin/ that is not one of its launchers (a `.data/scripts` file) or anywhere else
/// outside site-packages makes the wheel not linkable.
fn linkable(w: Wheel, dist_info: String, site: (&Path, &File), xy: &str, pycs: bool) -> Option<LinkedWheel> {
    let (site, site_dir) = site;
    let record = fs::read_to_string(site.join(&dist_info).join("RECORD")).ok()?;
    let record = parse_record(&record).ok()?;
    let entry_points = match fs::read_to_string(site.join(&dist_info).join("entry_points.txt")) {
        Ok(text) => parse_entry_points(&text).ok()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    let launcher = |name: &str| {
        entry_points.iter().any(|e| e.name == name)
            || (normalize(&w.distribution) == "pip" && name == format!("pip{xy}"))
    };
    // In parallel within the wheel too: one wheel (wagtail) holds half the corpus's files.
    let mut files = (record.into_par_iter())
        .filter(|(path, _)| {
            let own = path
                .strip_prefix(&dist_info)
                .is_some_and(|p| ["/RECORD", "/INSTALLER", "/REQUESTED"].contains(&p));
            !(own || path.strip_prefix("../../../bin/").is_some_and(launcher) || (cached_pyc(path) && !pycs))
        })
        .map(|(path, expect)| intact((site, site_dir), path, expect?))
        .collect::<Option<Vec<_>>>()?;
    files.sort_by(|a, b| a.record_path.cmp(&b.record_path));
    Some(LinkedWheel {
        wheel: w,
        dist_info,
        entry_points,
        files,
    })
}

/// A RECORD file of the source release as it can be linked: a safe path to a regular file
/// of the recorded size, with no write bit.
fn intact((site, dir): (&Path, &File), path: String, (hash, size): (String, u64)) -> Option<LinkedFile> {
    check_entry_name(&path).ok()?;
    let meta = fstatat(dir, path.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    let regular = SFlag::from_bits_truncate(meta.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG;
    let intact = regular && meta.st_size as u64 == size && meta.st_mode & 0o222 == 0;
    intact.then(|| LinkedFile {
        from: site.join(&path),
        record_path: path,
        hash,
        size,
        executable: meta.st_mode & 0o111 != 0,
    })
}

/// Whether a RECORD path is a pyc in a `__pycache__` (what build-time bytecode installs): linked
/// only with the source release's build-time pycs of the same magic.
fn cached_pyc(path: &str) -> bool {
    path.contains("__pycache__/") && path.ends_with(".pyc")
}

/// Makes `to` (new, in staging) the file `from` by `method`; a reflink gets `mode` (a hard
/// link keeps the inode's, read-only as checked).
pub fn place(from: &Path, to: &Path, method: Method, mode: u32) -> std::io::Result<()> {
    match method {
        Method::Hardlink => fs::hard_link(from, to),
        Method::Reflink => {
            let src = File::open(from)?;
            let dst = open_new(to, mode)?;
            // SAFETY: two open file descriptors; FICLONE only reads its integer argument.
            let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
            if rc == 0 {
                return dst.set_permissions(fs::Permissions::from_mode(mode));
            }
            let e = std::io::Error::last_os_error();
            drop(dst);
            let _ = fs::remove_file(to);
            Err(e)
        }
    }
}

/// The receipt's `linked`.
fn linked_json(from: &Path, method: Option<Method>, wheels: &[LinkedWheel]) -> Value {
    json!({
        "from": from,
        "method": method,
        "wheels": wheels.len(),
        "files": wheels.iter().map(|w| w.files.len()).sum::<usize>(),
    })
}

impl Linking {
    pub fn to_json(&self) -> Value {
        linked_json(&self.from, Some(self.method), &self.wheels)
    }

    /// "linked N of M wheels from RELEASE (hardlink)".
    pub fn describe(&self, of: usize) -> String {
        format!(
            "linked {} of {of} wheels from {} ({})",
            self.wheels.len(),
            self.from.display(),
            json!(self.method).as_str().unwrap_or("?")
        )
    }
}

/// A linked file into staging (`site`: site-packages there); returns its RECORD line, the
/// source release's. A failed link fails the install with a sentence.
pub fn link(f: &LinkedFile, method: Method, site: &Path) -> Result<String> {
    let to = site.join(&f.record_path);
    let mode = if f.executable { 0o555 } else { 0o444 };
    place(&f.from, &to, method, mode).ctx(|| {
        format!(
            "cannot link {} from {} (deploy again with --no-link)",
            to.display(),
            f.from.display()
        )
    })?;
    Ok(record::line_with(&f.record_path, &f.hash, f.size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wheelsfx_payload::layout::pyc_entry;

    /// The entries a linked wheel leaves unread are spelled as the packer writes them: the
    /// wheel's entry, and its pycs under the bare file name (`wheels/` dropped).
    #[test]
    fn a_linked_wheel_and_its_pycs_are_left_unread_by_their_entry_names() {
        let file = |record_path: &str| LinkedFile {
            record_path: record_path.into(),
            from: PathBuf::new(),
            hash: String::new(),
            size: 0,
            executable: false,
        };
        let wheel: Wheel = serde_json::from_value(json!({
            "file": "wheels/a-1-py3-none-any.whl", "distribution": "a", "version": "1",
            "tags": ["py3-none-any"], "requires_python": null, "sha256": "00", "size": 1
        }))
        .unwrap();
        let selection = Selection {
            from: Some(PathBuf::from("/r/1")),
            wheels: vec![LinkedWheel {
                wheel,
                dist_info: "a-1.dist-info".into(),
                entry_points: Vec::new(),
                files: vec![file("a/b.py"), file("a/__pycache__/b.cpython-311.pyc")],
            }],
            note: None,
        };
        let pyc = pyc_entry("cpython-311", PycOwner::Wheel("a-1-py3-none-any.whl"), "a/b.py");
        let want: HashSet<String> = ["wheels/a-1-py3-none-any.whl".to_string(), pyc].into();
        assert_eq!(selection.unread_entries(Some("cpython-311")), want);
        let wheel_only: HashSet<String> = ["wheels/a-1-py3-none-any.whl".to_string()].into();
        assert_eq!(
            selection.unread_entries(None),
            wheel_only,
            "no build-time pycs installed"
        );
    }

    #[test]
    fn pycs_are_linked_only_between_build_time_bytecode_of_one_magic() {
        let r = |b: Value| Receipt(json!({ "bytecode": b }));
        let build = json!({"source": "build", "magic": "a70d0d0a"});
        assert!(pycs_linkable(&r(build.clone()), Some("a70d0d0a")));
        assert!(!pycs_linkable(&r(build.clone()), Some("cb0d0d0a")), "another magic");
        assert!(!pycs_linkable(&r(build), None), "this deploy compiles its own");
        let deploy = json!({"source": "deploy", "magic": "a70d0d0a"});
        assert!(!pycs_linkable(&r(deploy), Some("a70d0d0a")));
        assert!(
            !pycs_linkable(&Receipt(json!({})), Some("a70d0d0a")),
            "an older receipt"
        );
    }
}
