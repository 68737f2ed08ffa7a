//! The native installer: every chosen wheel installed straight out of the artifact, in
//! parallel, following the binary distribution format. Each file is inflated once, written
//! once to its final place, and checked against the wheel's RECORD on the way.
//!
//! 1. plan (parallel per wheel): read its dist-info (WHEEL, RECORD, entry points), map every
//!    entry to its destination (its bytes were verified with the whole artifact on open);
//! 2. make every directory once, parents first;
//! 3. extract (parallel per file), hashing each file against RECORD;
//! 4. finish each wheel: launchers, INSTALLER, REQUESTED, RECORD.

use super::inflate::{Extractor, RawEntry};
use super::scripts::{self, EntryPoint};
use crate::error::{Code, Context, Fail, Result};
use crate::progress::Progress;
use crate::stage::Stage;
use crate::venv::VenvLayout;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use wheelsfx_payload::layout::check_entry_name;
use wheelsfx_payload::limits::{check_regular, Limits};
use wheelsfx_payload::manifest::Wheel;
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::record::{self, b64_urlsafe_nopad, parse_record};
use wheelsfx_payload::slice::FileSlice;
use wheelsfx_payload::wheelname::normalize;
use zip::CompressionMethod;
use zip::ZipArchive;

/// What the compile step needs to know about one installed wheel.
pub struct Installed {
    /// The wheel's `.dist-info` directory in staging (its RECORD gets the .pyc lines).
    pub dist_info: PathBuf,
    /// Its `.py` files in site-packages, in staging.
    pub py_files: Vec<PathBuf>,
}

/// Where things go in the venv, with DEST's final interpreter for shebangs.
struct Ctx {
    limits: Limits,
    site: PathBuf,
    venv: PathBuf,
    xy: String,
    python: String,
}

/// One file of one wheel, planned.
struct Task {
    wheel: usize,
    raw: RawEntry,
    dest: PathBuf,
    /// Its path in the installed RECORD (relative to site-packages).
    record_path: String,
    /// sha256 (urlsafe b64) and size from the wheel's RECORD.
    expect: Option<(String, u64)>,
    mode: u32,
    /// A `.data/scripts/` file: `#!python` gets rewritten.
    script: bool,
}

impl Task {
    /// A `.py` file in site-packages: what pip byte-compiles.
    fn compiles(&self, ctx: &Ctx) -> bool {
        self.dest.starts_with(&ctx.site) && self.record_path.ends_with(".py")
    }
}

struct WheelPlan {
    file: String,
    dist_info: String,
    entry_points: Vec<EntryPoint>,
}

pub fn install(
    payload: &Payload,
    stage: &Stage,
    layout: &VenvLayout,
    xy: &str,
    wheels: &[Wheel],
    limits: Limits,
    compile: Option<&Sender<PathBuf>>,
    progress: &Progress,
) -> Result<Vec<Installed>> {
    let ctx = Ctx {
        limits,
        site: stage.path(&layout.site_packages),
        venv: stage.path("venv"),
        xy: xy.to_string(),
        python: stage.final_path("venv/bin/python").to_string_lossy().into_owned(),
    };
    let mut ranges = Vec::with_capacity(wheels.len());
    for w in wheels {
        match payload.stored_range(&w.file) {
            Some(r) => ranges.push(r),
            None => {
                return Err(corrupt(
                    &w.file,
                    "is compressed inside the artifact; wheels must be stored",
                ))
            }
        }
    }
    let file = Arc::new(File::open(&payload.path).ctx(|| format!("cannot reopen {}", payload.path.display()))?);
    let planned: Vec<(WheelPlan, Vec<Task>)> = wheels
        .par_iter()
        .zip(&ranges)
        .enumerate()
        .map(|(i, (w, &(start, len)))| plan_wheel(i, w, FileSlice::new(file.clone(), start, len), start, &ctx))
        .collect::<Result<_>>()?;
    let (plans, tasks): (Vec<WheelPlan>, Vec<Vec<Task>>) = planned.into_iter().unzip();
    let tasks: Vec<Task> = tasks.into_iter().flatten().collect();
    let total = payload
        .manifest
        .entries
        .iter()
        .map(|e| e.size)
        .chain(tasks.iter().map(|t| t.raw.size))
        .sum();
    ctx.limits
        .check_total(total)
        .map_err(|m| Fail::new(Code::CorruptArtifact, format!("the artifact is refused: {m}")))?;
    make_dirs(&tasks, &ctx)?;
    progress.start("installing", tasks.len() as u64);
    let lines: Vec<(usize, String)> = tasks
        .par_iter()
        .map(|t| {
            let line = extract(&plans[t.wheel], t, &file, &ctx)?;
            progress.inc();
            if let (Some(tx), true) = (compile, t.compiles(&ctx)) {
                let _ = tx.send(t.dest.clone()); // a closed channel only means no compiling
            }
            Ok((t.wheel, line))
        })
        .collect::<Result<_>>()?;
    let mut per_wheel: Vec<Vec<String>> = vec![Vec::new(); plans.len()];
    for (w, line) in lines {
        per_wheel[w].push(line);
    }
    plans
        .iter()
        .zip(per_wheel)
        .enumerate()
        .map(|(i, (plan, records))| {
            let py_files = tasks
                .iter()
                .filter(|t| t.wheel == i && t.compiles(&ctx))
                .map(|t| t.dest.clone())
                .collect();
            finish(plan, records, &ctx).map(|dist_info| Installed { dist_info, py_files })
        })
        .collect()
}

fn corrupt(wheel: &str, what: &str) -> Fail {
    Fail::new(
        Code::CorruptArtifact,
        format!("wheel {wheel} {what}; the artifact cannot be trusted, rebuild it"),
    )
}

/// Step 1 for one wheel.
fn plan_wheel(i: usize, w: &Wheel, slice: FileSlice, start: u64, ctx: &Ctx) -> Result<(WheelPlan, Vec<Task>)> {
    let name = w.file.rsplit('/').next().unwrap_or(&w.file).to_string();
    let mut archive = ZipArchive::new(slice).map_err(|e| corrupt(&name, &format!("is not a readable zip ({e})")))?;
    if archive.has_duplicate_names() {
        return Err(corrupt(&name, "has two entries with the same name"));
    }
    let dist_info = find_dist_info(&archive, w).map_err(|m| corrupt(&name, &m))?;
    let wheel_meta = read_text(&mut archive, &format!("{dist_info}/WHEEL")).map_err(|m| corrupt(&name, &m))?;
    check_wheel_version(&wheel_meta).map_err(|m| Fail::install(format!("wheel {name}: {m}")))?;
    let record_text = read_text(&mut archive, &format!("{dist_info}/RECORD")).map_err(|m| corrupt(&name, &m))?;
    let mut record = parse_record(&record_text).map_err(|m| corrupt(&name, &m))?;
    let mut entry_points = match archive.index_for_name(&format!("{dist_info}/entry_points.txt")) {
        Some(_) => {
            let text =
                read_text(&mut archive, &format!("{dist_info}/entry_points.txt")).map_err(|m| corrupt(&name, &m))?;
            scripts::parse_entry_points(&text).map_err(|m| Fail::install(format!("wheel {name}: {m}")))?
        }
        None => Vec::new(),
    };
    if normalize(&w.distribution) == "pip" {
        scripts::add_versioned_pip(&mut entry_points, &ctx.xy);
    }
    let data_dir = format!("{}.data/", dist_info.trim_end_matches(".dist-info"));
    let mut tasks = Vec::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| corrupt(&name, &format!("has an unreadable entry ({e})")))?;
        let path = std::str::from_utf8(entry.name_raw())
            .map_err(|_| corrupt(&name, "has an entry name that is not UTF-8"))?
            .to_string();
        if path.ends_with('/') {
            continue;
        }
        check_entry_name(&path).map_err(|why| corrupt(&name, &format!("has an entry {path:?} that {why}")))?;
        if entry.is_symlink() {
            return Err(corrupt(&name, &format!("has a symlink entry {path}")));
        }
        check_regular(&path, entry.unix_mode()).map_err(|m| corrupt(&name, &m))?;
        ctx.limits
            .check_ratio(&path, entry.size(), entry.compressed_size())
            .map_err(|m| corrupt(&name, &m))?;
        let exec = entry.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let deflated = match entry.compression() {
            CompressionMethod::Deflated => true,
            CompressionMethod::Stored => false,
            other => {
                return Err(Fail::install(format!(
                    "wheel {name}: {path} uses compression {other}; only stored and deflate are supported"
                )))
            }
        };
        let data_start = entry
            .data_start()
            .ok_or_else(|| corrupt(&name, &format!("has no data for {path}")))?;
        let raw = RawEntry {
            data_start: start + data_start,
            compressed: entry.compressed_size(),
            size: entry.size(),
            deflated,
            crc32: entry.crc32(),
        };
        drop(entry);
        let is_record = path == format!("{dist_info}/RECORD");
        let is_signature = path == format!("{dist_info}/RECORD.jws") || path == format!("{dist_info}/RECORD.p7s");
        if is_record {
            continue; // rewritten for the installed paths in `finish`
        }
        let expect = match record.remove(&path) {
            Some(e) => e,
            None if is_signature => None,
            None => return Err(corrupt(&name, &format!("has {path}, which its RECORD does not list"))),
        };
        let (dest, record_path, script) =
            destination(&path, &data_dir, w, ctx).map_err(|m| Fail::install(format!("wheel {name}: {m}")))?;
        let mode = if exec || script { 0o755 } else { 0o644 };
        tasks.push(Task {
            wheel: i,
            raw,
            dest,
            record_path,
            expect,
            mode,
            script,
        });
    }
    let own_record = format!("{dist_info}/RECORD");
    if let Some(missing) = record.keys().find(|p| **p != own_record && !p.ends_with('/')) {
        return Err(corrupt(
            &name,
            &format!("lists {missing} in its RECORD, but has no such file"),
        ));
    }
    Ok((
        WheelPlan {
            file: name,
            dist_info,
            entry_points,
        },
        tasks,
    ))
}

/// The one top-level `NAME-VERSION.dist-info` whose name and version match the wheel's.
fn find_dist_info(archive: &ZipArchive<FileSlice>, w: &Wheel) -> std::result::Result<String, String> {
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
        .ok_or_else(|| format!("has a malformed dist-info name {dir}"))?;
    if normalize(dist) != normalize(&w.distribution) || normalize(version) != normalize(&w.version) {
        return Err(format!(
            "has {dir}, which does not match {} {}",
            w.distribution, w.version
        ));
    }
    Ok(dir.clone())
}

fn read_text(archive: &mut ZipArchive<FileSlice>, name: &str) -> std::result::Result<String, String> {
    let mut f = archive.by_name(name).map_err(|_| format!("has no {name}"))?;
    let mut s = String::new();
    (&mut f)
        .take(64 << 20)
        .read_to_string(&mut s)
        .map_err(|e| format!("has an unreadable {name} ({e})"))?;
    Ok(s)
}

fn check_wheel_version(wheel_meta: &str) -> std::result::Result<(), String> {
    let version = wheel_meta
        .lines()
        .find_map(|l| l.strip_prefix("Wheel-Version:"))
        .map(str::trim)
        .ok_or("its WHEEL file has no Wheel-Version")?;
    match version.split('.').next() {
        Some("1") => Ok(()),
        _ => Err(format!("Wheel-Version {version} is not one this installer reads (1.x)")),
    }
}

/// Where a wheel entry goes, its RECORD path, and whether it is a `.data/scripts/` file.
fn destination(
    path: &str,
    data_dir: &str,
    w: &Wheel,
    ctx: &Ctx,
) -> std::result::Result<(PathBuf, String, bool), String> {
    let Some(rest) = path.strip_prefix(data_dir) else {
        return Ok((ctx.site.join(path), path.to_string(), false));
    };
    let (key, rest) = rest
        .split_once('/')
        .ok_or_else(|| format!("{path} is not inside a .data scheme directory"))?;
    let (dest, script) = match key {
        "purelib" | "platlib" => return Ok((ctx.site.join(rest), rest.to_string(), false)),
        "scripts" => (ctx.venv.join("bin").join(rest), true),
        "headers" => (
            ctx.venv
                .join(format!("include/site/python{}/{}", ctx.xy, w.distribution))
                .join(rest),
            false,
        ),
        "data" => (ctx.venv.join(rest), false),
        other => return Err(format!("{path} uses the unknown .data scheme {other:?}")),
    };
    let rel = dest.strip_prefix(&ctx.venv).expect("under the venv").to_string_lossy();
    Ok((dest.clone(), format!("../../../{rel}"), script))
}

/// Step 2: every directory once, parents first, before the parallel writes.
fn make_dirs(tasks: &[Task], ctx: &Ctx) -> Result<()> {
    let dirs: BTreeSet<&Path> = tasks.iter().filter_map(|t| t.dest.parent()).collect();
    for d in dirs {
        std::fs::create_dir_all(d).ctx(|| format!("cannot create {}", d.display()))?;
    }
    std::fs::create_dir_all(ctx.venv.join("bin")).ctx(|| "cannot create venv/bin".into())
}

thread_local! {
    static EXTRACTOR: RefCell<Extractor> = RefCell::new(Extractor::default());
}

/// Step 3 for one file: inflate straight into its destination, hashing on the way, then
/// check against RECORD; returns the installed RECORD line.
fn extract(plan: &WheelPlan, t: &Task, artifact: &File, ctx: &Ctx) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut script = Vec::new();
    let mut out = if t.script { None } else { Some(create(&t.dest, t.mode)?) };
    let result = EXTRACTOR.with_borrow_mut(|ex| {
        ex.extract(artifact, &t.raw, |chunk| {
            hasher.update(chunk);
            match &mut out {
                Some(f) => f.write_all(chunk),
                None => {
                    script.extend_from_slice(chunk);
                    Ok(())
                }
            }
        })
    });
    if let Err(e) = result {
        return Err(if e.kind() == std::io::ErrorKind::InvalidData {
            corrupt(&plan.file, &format!("has a damaged entry {}: {e}", t.record_path))
        } else {
            Fail::install(format!("cannot write {}: {e}", t.dest.display()))
        });
    }
    let digest = b64_urlsafe_nopad(&hasher.finalize());
    if let Some((want, size)) = &t.expect {
        if *want != digest || *size != t.raw.size {
            return Err(corrupt(
                &plan.file,
                &format!("has {} whose content does not match its RECORD", t.record_path),
            ));
        }
    }
    if out.is_some() {
        return Ok(record::line_with(&t.record_path, &digest, t.raw.size));
    }
    let data = scripts::rewrite_script(&script, &ctx.python).unwrap_or(script);
    write_file(&t.dest, &data, t.mode)?;
    Ok(record::line(&t.record_path, &data))
}

fn create(path: &Path, mode: u32) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .ctx(|| format!("cannot create {}", path.display()))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    create(path, mode)?
        .write_all(data)
        .ctx(|| format!("cannot write {}", path.display()))
}

/// Step 4 for one wheel: launchers for its entry points, then INSTALLER, REQUESTED and the
/// installed RECORD (which lists itself without a hash, as the spec asks).
fn finish(plan: &WheelPlan, mut lines: Vec<String>, ctx: &Ctx) -> Result<PathBuf> {
    for ep in &plan.entry_points {
        let text = scripts::launcher(ep, &ctx.python);
        let path = ctx.venv.join("bin").join(&ep.name);
        write_file(&path, text.as_bytes(), 0o755)?;
        lines.push(record::line(&format!("../../../bin/{}", ep.name), text.as_bytes()));
    }
    let dist_info = ctx.site.join(&plan.dist_info);
    for (name, content) in [("INSTALLER", "wheelsfx\n"), ("REQUESTED", "")] {
        write_file(&dist_info.join(name), content.as_bytes(), 0o644)?;
        lines.push(record::line(&format!("{}/{name}", plan.dist_info), content.as_bytes()));
    }
    lines.sort();
    lines.push(format!(
        "{},,",
        record::csv_field(&format!("{}/RECORD", plan.dist_info))
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    write_file(&dist_info.join("RECORD"), text.as_bytes(), 0o644)?;
    Ok(dist_info)
}
