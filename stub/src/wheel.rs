//! The one wheel validator: everything read from an untrusted wheel (its dist-info, WHEEL,
//! RECORD, entry points, and where each file would go) is judged here. The native and pip
//! installers, `--verify`, the packer and the fuzz target all run [`plan`], so whatever the
//! installer would refuse, the packer refuses first, with the same sentence.
//!
//! A plan says, for every file of the wheel, its scheme and path inside that scheme; nothing
//! in it can name a place outside the venv, or a file the venv itself owns (the interpreter
//! links, pyvenv.cfg, the activate scripts, wheelsfx's own `.pth` files).

use crate::layout::{check_entry_name, LOADENV_PTH, LOADENV_PY};
use crate::limits::{check_regular, Limits};
use crate::names::{check_object_ref, check_script_name, quoted};
use crate::record::{b64_urlsafe_nopad, parse_record};
use crate::wheelname::normalize;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Seek};
use zip::extra_fields::ExtraField;
use zip::{CompressionMethod, ZipArchive};

/// Who the wheel must be: the manifest's word for it, and the app whose `.pth` it may not touch.
pub struct Expect<'a> {
    pub distribution: &'a str,
    pub version: &'a str,
    pub app: &'a str,
}

/// The install schemes of the binary distribution format, as they map into a venv.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scheme {
    /// purelib and platlib: site-packages.
    Site,
    /// `bin/`.
    Scripts,
    /// `include/site/pythonX.Y/<distribution>/`.
    Headers,
    /// The venv's root.
    Data,
}

/// Where one file of the wheel's zip lies (offsets relative to the wheel's first byte).
#[derive(Debug, Clone, Copy)]
pub struct Raw {
    pub data_start: u64,
    pub compressed: u64,
    pub size: u64,
    pub deflated: bool,
    pub crc32: u32,
}

/// One file of the wheel, planned.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// Its name in the wheel.
    pub name: String,
    pub scheme: Scheme,
    /// Its path inside the scheme's directory.
    pub rel: String,
    /// sha256 (urlsafe b64) and size from the wheel's RECORD (None for signature files).
    pub expect: Option<(String, u64)>,
    pub executable: bool,
    pub raw: Raw,
}

impl PlannedFile {
    /// A `.data/scripts/` file: its `#!python` line is rewritten.
    pub fn is_script(&self) -> bool {
        self.scheme == Scheme::Scripts
    }
}

/// `name = module:attr` of a console_scripts or gui_scripts section.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPoint {
    pub name: String,
    pub module: String,
    pub attr: String,
}

/// A wheel judged installable.
#[derive(Debug, Clone)]
pub struct WheelPlan {
    /// `NAME-VERSION.dist-info`.
    pub dist_info: String,
    pub files: Vec<PlannedFile>,
    pub entry_points: Vec<EntryPoint>,
}

impl WheelPlan {
    /// Every path the wheel would write, as `(scheme, path)`: its files (but its RECORD,
    /// which the installer writes anew) and its launchers.
    pub fn targets(&self) -> impl Iterator<Item = (Scheme, &str)> {
        self.files
            .iter()
            .map(|f| (f.scheme, f.rel.as_str()))
            .chain(self.entry_points.iter().map(|e| (Scheme::Scripts, e.name.as_str())))
    }
}

/// A path two or more wheels would write, as `(scheme key, the wheels' positions)`; the
/// last wheel in install order writes it (as a sequential pip install would leave it).
pub type Collision = (String, Vec<usize>);

/// The paths claimed by more than one of `plans` (in install order, with each wheel's
/// distribution name), so that exactly one wheel writes each path, the same one whichever
/// installer runs, and the packer can warn about it. Wheels of the same distribution are
/// alternatives for different targets and never collide.
pub fn collisions(plans: &[(&str, &WheelPlan)]) -> Vec<Collision> {
    let mut claims: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, (dist, plan)) in plans.iter().enumerate() {
        let mut mine: BTreeSet<String> = BTreeSet::new();
        for (scheme, rel) in plan.targets() {
            mine.insert(target_key(scheme, rel, dist));
        }
        for key in mine {
            claims.entry(key).or_default().push(i);
        }
    }
    claims
        .into_iter()
        .filter(|(_, who)| {
            let first = normalize(plans[who[0]].0);
            who.iter().any(|&w| normalize(plans[w].0) != first)
        })
        .collect()
}

/// The venv-relative path a target lands on, with `lib/pythonX.Y/site-packages` folded so a
/// `.data/data/` path and a site-packages path that meet are seen to meet.
pub fn target_key(scheme: Scheme, rel: &str, dist: &str) -> String {
    match scheme {
        Scheme::Site => format!("site-packages/{rel}"),
        Scheme::Scripts => format!("bin/{rel}"),
        Scheme::Headers => format!("include/site/python/{dist}/{rel}"),
        Scheme::Data => {
            let in_python_dir = |prefix: &str, inner: &str| {
                rel.strip_prefix(prefix)
                    .and_then(|r| r.split_once(inner))
                    .filter(|(py, _)| py.starts_with("python"))
                    .map(|(_, r)| r)
            };
            if let Some(r) = in_python_dir("lib/", "/site-packages/") {
                format!("site-packages/{r}")
            } else if let Some(r) = in_python_dir("include/site/", "/") {
                format!("include/site/python/{r}")
            } else {
                rel.to_string()
            }
        }
    }
}

/// Plans a wheel: exactly one dist-info naming the expected distribution and version, a
/// Wheel-Version 1.x WHEEL, a RECORD that lists every file and only those, valid entry
/// points, and a safe destination for every file. Errors read "wheel ... <what>" after the
/// wheel's name.
pub fn plan<R: Read + Seek>(archive: &mut ZipArchive<R>, want: &Expect, limits: &Limits) -> Result<WheelPlan, String> {
    if archive.has_duplicate_names() {
        return Err("has two entries with the same name".into());
    }
    let dist_info = find_dist_info(archive, want)?;
    check_wheel_version(&read_text(archive, &format!("{dist_info}/WHEEL"))?)?;
    let record_name = format!("{dist_info}/RECORD");
    let mut record = parse_record(&read_text(archive, &record_name)?)?;
    let entry_points = match archive.index_for_name(&format!("{dist_info}/entry_points.txt")) {
        Some(_) => parse_entry_points(&read_text(archive, &format!("{dist_info}/entry_points.txt"))?)?,
        None => Vec::new(),
    };
    let data_dir = format!("{}.data/", dist_info.trim_end_matches(".dist-info"));
    let signatures = [format!("{dist_info}/RECORD.jws"), format!("{dist_info}/RECORD.p7s")];
    let mut files = Vec::new();
    for index in 0..archive.len() {
        let Some((name, raw, executable)) = raw_entry(archive, index, limits)? else {
            continue;
        };
        if name == record_name {
            continue; // written anew by the installer
        }
        let expect = match record.remove(&name) {
            Some(None) if !name.ends_with(".pyc") && !signatures.contains(&name) => {
                return Err(format!("lists {} in its RECORD without a hash", quoted(&name)))
            }
            Some(e) => e,
            None if signatures.contains(&name) => None,
            None => return Err(format!("has {}, which its RECORD does not list", quoted(&name))),
        };
        let (scheme, rel) = destination(&name, &data_dir)?;
        check_not_owned(scheme, &rel, want).map_err(|what| format!("ships {}, {what}", quoted(&name)))?;
        files.push(PlannedFile {
            name,
            scheme,
            rel,
            expect,
            executable,
            raw,
        });
    }
    check_one_copy(&files, want.distribution)?;
    if let Some(missing) = record.keys().find(|p| **p != record_name && !p.ends_with('/')) {
        return Err(format!("lists {} in its RECORD, but has no such file", quoted(missing)));
    }
    for ep in &entry_points {
        check_not_owned(Scheme::Scripts, &ep.name, want)
            .map_err(|what| format!("declares the script {}, {what}", quoted(&ep.name)))?;
    }
    Ok(WheelPlan {
        dist_info,
        files,
        entry_points,
    })
}

/// Two files of one wheel that land on one path (`a.py` and `NAME.data/purelib/a.py`) would
/// be written at once by the parallel installer: refused.
fn check_one_copy(files: &[PlannedFile], dist: &str) -> Result<(), String> {
    let mut seen = std::collections::BTreeMap::new();
    for f in files {
        if let Some(first) = seen.insert(target_key(f.scheme, &f.rel, dist), &f.name) {
            return Err(format!(
                "ships {} and {}, which install to the same path",
                quoted(first),
                quoted(&f.name)
            ));
        }
    }
    Ok(())
}

/// The version of what [`check`] adds to [`plan`] (every file's bytes against its RECORD line):
/// the packer caches that verdict by the wheel's sha256 under this number, so a change to
/// those rules must bump it for every cached verdict to be checked again.
pub const RULES: u32 = 1;

/// Plans the wheel and checks every file's bytes against its RECORD (what `--verify` and the
/// packer run; the native installer hashes while it writes instead). Files are inflated and
/// hashed on every core, each thread through its own clone of the archive; the error named is
/// the first bad file in the wheel's order, as a sequential check would name it.
pub fn check<R: Read + Seek + Clone + Send + Sync>(
    archive: &mut ZipArchive<R>,
    want: &Expect,
    limits: &Limits,
) -> Result<WheelPlan, String> {
    let plan = plan(archive, want, limits)?;
    let shared: &ZipArchive<R> = archive;
    let bad = plan
        .files
        .par_iter()
        .filter(|f| f.expect.is_some())
        .map_init(|| shared.clone(), |zip, f| check_file(zip, f).err())
        .find_map_first(|e| e);
    match bad {
        Some(e) => Err(e),
        None => Ok(plan),
    }
}

/// One file's bytes against its RECORD line.
fn check_file<R: Read + Seek>(archive: &mut ZipArchive<R>, f: &PlannedFile) -> Result<(), String> {
    let Some((digest, size)) = &f.expect else { return Ok(()) };
    let mut entry = archive
        .by_name(&f.name)
        .map_err(|e| format!("has an unreadable entry {} ({e})", quoted(&f.name)))?;
    let mut hasher = Sha256::new();
    let seen =
        std::io::copy(&mut entry, &mut hasher).map_err(|e| format!("has a damaged entry {} ({e})", quoted(&f.name)))?;
    if b64_urlsafe_nopad(&hasher.finalize()) != *digest || seen != *size {
        return Err(format!(
            "has {} whose content does not match its RECORD",
            quoted(&f.name)
        ));
    }
    Ok(())
}

/// One zip entry: its name, where its bytes lie, and whether it is executable; None for a
/// directory entry. Refuses unsafe names, links and devices, bombs, unknown compression.
fn raw_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    index: usize,
    limits: &Limits,
) -> Result<Option<(String, Raw, bool)>, String> {
    let entry = archive
        .by_index_raw(index)
        .map_err(|e| format!("has an unreadable entry ({e})"))?;
    let name = std::str::from_utf8(entry.name_raw())
        .map_err(|_| "has an entry name that is not UTF-8".to_string())?
        .to_string();
    check_entry_name(&name).map_err(|why| format!("has an entry {} that {why}", quoted(&name)))?;
    if entry.is_symlink() {
        return Err(format!("has a symlink entry {}", quoted(&name)));
    }
    // The zip crate renames an entry by its Unicode Path field, Python's zipfile (pip) mostly
    // does not: a wheel with one would be checked under one name and installed under another.
    if entry
        .extra_data_fields()
        .any(|f| matches!(f, ExtraField::UnicodePath(_)))
    {
        return Err(format!(
            "has an entry {} with a Unicode Path extra field, which installers read differently",
            quoted(&name)
        ));
    }
    if name.ends_with('/') {
        return Ok(None);
    }
    check_regular(&quoted(&name), entry.unix_mode())?;
    limits.check_ratio(&quoted(&name), entry.size(), entry.compressed_size())?;
    let deflated = match entry.compression() {
        CompressionMethod::Deflated => true,
        CompressionMethod::Stored => false,
        other => {
            return Err(format!(
                "stores {} with compression {other}; only stored and deflate are supported",
                quoted(&name)
            ))
        }
    };
    let data_start = entry
        .data_start()
        .ok_or_else(|| format!("has no data for {}", quoted(&name)))?;
    let raw = Raw {
        data_start,
        compressed: entry.compressed_size(),
        size: entry.size(),
        deflated,
        crc32: entry.crc32(),
    };
    let executable = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
    Ok(Some((name, raw, executable)))
}

/// The one top-level `NAME-VERSION.dist-info` whose name and version match the manifest's.
fn find_dist_info<R: Read + Seek>(archive: &ZipArchive<R>, want: &Expect) -> Result<String, String> {
    let dirs: BTreeSet<String> = archive
        .file_names()
        .filter_map(|n| n.ok())
        .filter_map(|n| n.split_once('/').map(|(d, _)| d.to_string()))
        .filter(|d| d.ends_with(".dist-info"))
        .collect();
    let [dir] = dirs.iter().collect::<Vec<_>>()[..] else {
        return Err(format!(
            "has {} top-level .dist-info directories; a wheel has exactly one",
            dirs.len()
        ));
    };
    let stem = dir.trim_end_matches(".dist-info");
    let (dist, version) = stem
        .rsplit_once('-')
        .ok_or_else(|| format!("has a malformed dist-info name {}", quoted(dir)))?;
    if normalize(dist) != normalize(want.distribution) || normalize(version) != normalize(want.version) {
        return Err(format!(
            "has {}, which does not match {} {}",
            quoted(dir),
            want.distribution,
            want.version
        ));
    }
    Ok(dir.clone())
}

fn read_text<R: Read + Seek>(archive: &mut ZipArchive<R>, name: &str) -> Result<String, String> {
    let mut f = archive.by_name(name).map_err(|_| format!("has no {}", quoted(name)))?;
    let mut s = String::new();
    (&mut f)
        .take(64 << 20)
        .read_to_string(&mut s)
        .map_err(|e| format!("has an unreadable {} ({e})", quoted(name)))?;
    Ok(s)
}

fn check_wheel_version(wheel_meta: &str) -> Result<(), String> {
    let version = wheel_meta
        .lines()
        .find_map(|l| l.strip_prefix("Wheel-Version:"))
        .map(str::trim)
        .ok_or("has a WHEEL file with no Wheel-Version")?;
    match version.split('.').next() {
        Some("1") => Ok(()),
        _ => Err(format!(
            "is Wheel-Version {}, which this installer does not read (1.x)",
            quoted(version)
        )),
    }
}

/// The scheme and in-scheme path of a wheel file: `.data/<scheme>/...` or site-packages.
fn destination(name: &str, data_dir: &str) -> Result<(Scheme, String), String> {
    let Some(rest) = name.strip_prefix(data_dir) else {
        // pip takes any top-level `*.data/` as a data directory: only the wheel's own is one.
        if name.split('/').next().is_some_and(|top| top.ends_with(".data")) {
            return Err(format!(
                "has {}, inside a .data directory that is not {}",
                quoted(name),
                quoted(data_dir)
            ));
        }
        return Ok((Scheme::Site, name.to_string()));
    };
    let (key, rest) = rest
        .split_once('/')
        .filter(|(_, r)| !r.is_empty())
        .ok_or_else(|| format!("has {}, which is not inside a .data scheme directory", quoted(name)))?;
    let scheme = match key {
        "purelib" | "platlib" => Scheme::Site,
        "scripts" => Scheme::Scripts,
        "headers" => Scheme::Headers,
        "data" => Scheme::Data,
        other => return Err(format!("uses the unknown .data scheme {}", quoted(other))),
    };
    Ok((scheme, rest.to_string()))
}

/// Refuses a path the venv or wheelsfx owns: the interpreter links and activate scripts in
/// `bin/`, `pyvenv.cfg`, `lib64`, and wheelsfx's `.pth`/loadenv files in site-packages. A
/// wheel writing there would replace the interpreter (through its symlink) or run code.
fn check_not_owned(scheme: Scheme, rel: &str, want: &Expect) -> Result<(), String> {
    // The same folding as for collisions: `.data/data/bin/x` is `bin/x`, and
    // `.data/data/lib/pythonX.Y/site-packages/x` is site-packages' `x`.
    let key = target_key(scheme, rel, want.distribution);
    if let Some(bin) = key.strip_prefix("bin/") {
        if normalize(want.distribution) != "pip" && versioned(bin, "pip") {
            return Err("which is pip's launcher; only pip's own wheel may ship it".into());
        }
    }
    let owned = match (key.strip_prefix("bin/"), key.strip_prefix("site-packages/")) {
        (Some(bin), _) => owned_in_bin(bin),
        (_, Some(site)) => owned_in_site(site, want.app),
        _ => key == "pyvenv.cfg" || key == "lib64" || key.starts_with("lib64/"),
    };
    if owned {
        Err("which the venv itself owns; such a wheel cannot be installed".into())
    } else {
        Ok(())
    }
}

/// `base` followed by nothing but a version (`pip`, `pip3`, `pip3.11`; `python3.12`).
pub fn versioned(name: &str, base: &str) -> bool {
    name.strip_prefix(base)
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// `python`, `python3`, `python3.12`, `pythonw` and the activate scripts.
fn owned_in_bin(name: &str) -> bool {
    versioned(name, "python")
        || name == "pythonw"
        || name.starts_with("activate")
        || name.eq_ignore_ascii_case("Activate.ps1")
}

fn owned_in_site(rel: &str, app: &str) -> bool {
    rel == LOADENV_PY || rel == LOADENV_PTH || rel == format!("{app}.pth")
}

/// The console_scripts and gui_scripts of an entry_points.txt (both become launchers in bin/
/// on Linux), each name a safe file name and each object a dotted Python reference.
pub fn parse_entry_points(text: &str) -> Result<Vec<EntryPoint>, String> {
    let mut out = Vec::new();
    let mut section: Option<&str> = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = section_header(line) {
            section = Some(name);
            continue;
        }
        // Readers disagree on what is not `[name]` or `name = value` in a section (pip's
        // importlib.metadata takes `[[console_scripts]]` as console_scripts and `;x = y` as an
        // entry; pkg_resources strips `[ console_scripts ]`): anything else is refused, so
        // every reader sees the scripts this one validated.
        let Some(name) = section else {
            return Err(format!(
                "has entry_points.txt line {} outside any section",
                quoted(line)
            ));
        };
        if matches!(name, "console_scripts" | "gui_scripts") {
            out.push(entry_point(line).map_err(|m| format!("has an invalid entry point: {m}"))?);
        } else if !line.contains('=') || line.starts_with(['[', ';']) {
            return Err(format!(
                "has an entry_points.txt line {} that is not name = value",
                quoted(line)
            ));
        }
    }
    Ok(out)
}

/// `[name]` with a plain section name; a line starting with `[` that is anything else
/// (`[[console_scripts]]`, `[ console_scripts ]`, `[a b]`) is refused by the caller as a
/// malformed entry.
fn section_header(line: &str) -> Option<&str> {
    let name = line.strip_prefix('[')?.strip_suffix(']')?;
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    plain.then_some(name)
}

fn entry_point(line: &str) -> Result<EntryPoint, String> {
    let (name, value) = line
        .split_once('=')
        .ok_or_else(|| format!("the line {} has no '='", quoted(line)))?;
    let (name, value) = (name.trim(), value.trim());
    check_script_name(name)?;
    // Extras (`[extra]`) after the object reference are allowed and ignored, as pip does.
    let object = match value.split_once('[') {
        Some((o, extras)) if extras.trim_end().ends_with(']') => o.trim(),
        Some(_) => return Err(format!("{} has an unclosed extras list", quoted(value))),
        None => value,
    };
    let (module, attr) = object.split_once(':').unwrap_or((object, ""));
    let (module, attr) = (module.trim(), attr.trim());
    check_object_ref(module, attr)?;
    Ok(EntryPoint {
        name: name.to_string(),
        module: module.to_string(),
        attr: attr.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points() {
        let eps = parse_entry_points(
            "[console_scripts]\nflask = flask.cli:main\nx=a.b:C.run [extra]\n[other]\ny = z:w\n[gui_scripts]\ng = m:f\n",
        )
        .unwrap();
        assert_eq!(eps.len(), 3);
        assert_eq!(
            eps[1],
            EntryPoint {
                name: "x".into(),
                module: "a.b".into(),
                attr: "C.run".into()
            }
        );
        for bad in [
            "bad = justamodule",
            "x = os;import y:f",
            "x = a:b c",
            "-rf = a:b",
            "a;b$(x) = a:b",
            "x = a:b [unclosed",
        ] {
            assert!(
                parse_entry_points(&format!("[console_scripts]\n{bad}\n")).is_err(),
                "{bad}"
            );
        }
        for ambiguous in [
            "[console_scripts]\nok = a:b\n[[console_scripts]]\n../x = os:getcwd\n",
            "[ console_scripts ]\nx = a:b\n",
            "[console_scripts]\n;../x = os:getcwd\n",
            "x = a:b\n",
        ] {
            assert!(parse_entry_points(ambiguous).is_err(), "{ambiguous}");
        }
    }

    const WANT: Expect = Expect {
        distribution: "greet",
        version: "1.0",
        app: "mysite",
    };

    #[test]
    fn paths_that_meet_get_one_key() {
        let k = |s, r| target_key(s, r, "hdra");
        assert_eq!(
            k(Scheme::Headers, "x.h"),
            k(Scheme::Data, "include/site/python3.11/hdra/x.h")
        );
        assert_eq!(
            k(Scheme::Site, "a/b.py"),
            k(Scheme::Data, "lib/python3.12/site-packages/a/b.py")
        );
        assert_eq!(k(Scheme::Scripts, "tool"), "bin/tool");
    }

    #[test]
    fn the_venv_keeps_what_it_owns() {
        for (scheme, rel) in [
            (Scheme::Scripts, "python"),
            (Scheme::Scripts, "python3"),
            (Scheme::Scripts, "python3.12"),
            (Scheme::Scripts, "activate"),
            (Scheme::Scripts, "activate.fish"),
            (Scheme::Data, "bin/python"),
            (Scheme::Data, "pyvenv.cfg"),
            (Scheme::Data, "lib64/x"),
            (Scheme::Data, "lib/python3.11/site-packages/mysite.pth"),
            (Scheme::Site, "loadenv-init.pth"),
            (Scheme::Site, "mysite.pth"),
            (Scheme::Scripts, "pip3.11"),
            (Scheme::Data, "bin/pip"),
        ] {
            assert!(check_not_owned(scheme, rel, &WANT).is_err(), "{rel}");
        }
        for (scheme, rel) in [
            (Scheme::Scripts, "python-config-tool"),
            (Scheme::Scripts, "pythonista"),
            (Scheme::Data, "share/x"),
            (Scheme::Site, "other.pth"),
        ] {
            assert!(check_not_owned(scheme, rel, &WANT).is_ok(), "{rel}");
        }
    }
}
