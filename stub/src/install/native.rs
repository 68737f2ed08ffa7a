//! The native installer: every chosen wheel installed straight out of the artifact, in
//! parallel, following the binary distribution format. Each file is inflated once, written
//! once to its final place, and checked against the wheel's RECORD on the way.
//!
//! 1. plan: each wheel's validated plan ([`wheelsfx_payload::wheel`]) mapped onto the venv;
//!    a path two wheels claim is written by the later one only;
//! 2. make every directory once, parents first;
//! 3. extract (parallel per file), hashing each file against RECORD, never following a link;
//! 4. finish each wheel: launchers, INSTALLER, REQUESTED, RECORD.

use super::inflate::{Extractor, RawEntry};
use super::{corrupt_wheel, scripts, Planned};
use crate::bytecode::WheelPyc;
use crate::error::{Code, Context, Fail, Result};
use crate::link::{LinkedFile, LinkedWheel, Linking, Method};
use crate::progress::Progress;
use crate::stage::{open_new, Stage};
use crate::venv::VenvLayout;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use wheelsfx_payload::digest::sha256_from_hex;
use wheelsfx_payload::layout::Pyc;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::manifest::Wheel;
use wheelsfx_payload::names::quoted;
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::record::{self, b64_urlsafe_nopad};
use wheelsfx_payload::wheel::{target_key, EntryPoint, PlannedFile, Scheme};
use wheelsfx_payload::wheelname::normalize;

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

/// Where a task's bytes come from.
enum Source<'a> {
    /// Inflated out of the artifact.
    Artifact(RawEntry),
    /// Linked from the previous release (its RECORD gave hash and size).
    Link(&'a LinkedFile, Method),
}

/// One file of one wheel, planned.
struct Task<'a> {
    wheel: usize,
    source: Source<'a>,
    /// Where it is written; None when a later wheel writes the same path (it is still
    /// checked against RECORD and listed in its own wheel's RECORD, as after pip).
    dest: Option<PathBuf>,
    /// Its path in the installed RECORD (relative to site-packages).
    record_path: String,
    /// sha256 (urlsafe b64) and size from the wheel's RECORD.
    expect: Option<(String, u64)>,
    mode: u32,
    /// A `.data/scripts/` file: `#!python` gets rewritten.
    script: bool,
}

impl Task<'_> {
    fn size(&self) -> u64 {
        match &self.source {
            Source::Artifact(raw) => raw.size,
            Source::Link(f, _) => f.size,
        }
    }

    /// A `.py` file written into site-packages: what pip byte-compiles.
    fn compiles(&self, ctx: &Ctx) -> bool {
        self.dest.as_ref().is_some_and(|d| d.starts_with(&ctx.site)) && self.record_path.ends_with(".py")
    }
}

/// A wheel's plan as the installer keeps it: its name for messages, its dist-info, and the
/// launchers it writes (those another wheel also writes are left to that wheel).
struct WheelJob {
    file: String,
    dist_info: String,
    entry_points: Vec<(EntryPoint, bool)>,
}

/// What to install: the wheels planned from the artifact, those linked from an earlier
/// release, and the build-time pycs of each (by wheel file name), checked against the
/// manifest as they are inflated and listed in the wheel's RECORD.
pub struct Wheels<'a> {
    pub planned: Vec<Planned>,
    pub linking: Option<&'a Linking>,
    pub pycs: BTreeMap<String, Vec<WheelPyc>>,
}

pub fn install(
    payload: &Payload,
    stage: &Stage,
    layout: &VenvLayout,
    wheels: Wheels,
    limits: Limits,
    compile: Option<&Sender<PathBuf>>,
    progress: &Progress,
) -> Result<Vec<Installed>> {
    let ctx = Ctx {
        limits,
        site: stage.path(&layout.site_packages),
        venv: stage.path("venv"),
        xy: layout.xy.clone(),
        python: stage.final_path("venv/bin/python").to_string_lossy().into_owned(),
    };
    let file = Arc::new(File::open(&payload.path).ctx(|| format!("cannot reopen {}", payload.path.display()))?);
    let Wheels {
        planned,
        linking,
        mut pycs,
    } = wheels;
    let losers = super::losing_targets(&planned);
    let n = planned.len();
    let linked = linking.iter().flat_map(|l| l.wheels.iter().map(|w| (w, l.method)));
    let (plans, tasks): (Vec<WheelJob>, Vec<Vec<Task>>) = planned
        .into_iter()
        .enumerate()
        .map(|(i, p)| tasks_for(i, p, &losers, &ctx))
        .chain(linked.enumerate().map(|(i, (w, m))| linked_tasks(n + i, w, m, &ctx)))
        .enumerate()
        .map(|(i, (job, mut tasks))| {
            let pycs = not_linked(pycs.remove(&job.file).unwrap_or_default(), &tasks);
            tasks.extend(pyc_tasks(i, &job, &tasks, pycs, &ctx)?);
            Ok((job, tasks))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    let tasks: Vec<Task> = tasks.into_iter().flatten().collect();
    let total = payload
        .manifest
        .entries
        .iter()
        .map(|e| e.size)
        .chain(tasks.iter().map(Task::size))
        .sum();
    ctx.limits
        .check_total(total)
        .map_err(|m| Fail::new(Code::CorruptArtifact, format!("the artifact is refused: {m}")))?;
    make_dirs(&tasks, &ctx)?;
    progress.start("installing", tasks.len() as u64);
    let lines: Vec<(usize, String)> = tasks
        .par_iter()
        .map(|t| {
            let line = match &t.source {
                Source::Artifact(raw) => extract(&plans[t.wheel], t, raw, &file, &ctx)?,
                Source::Link(f, method) => crate::link::link(f, *method, &ctx.site)?,
            };
            progress.inc();
            if let (Some(tx), true, Some(dest)) = (compile, t.compiles(&ctx), &t.dest) {
                let _ = tx.send(dest.clone()); // a closed channel only means no compiling
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
                .filter_map(|t| t.dest.clone())
                .collect();
            finish(plan, records, &ctx).map(|dist_info| Installed { dist_info, py_files })
        })
        .collect()
}

/// Step 1 for one wheel: its validated plan mapped onto the venv.
fn tasks_for(i: usize, p: Planned, losers: &BTreeSet<(usize, String)>, ctx: &Ctx) -> (WheelJob, Vec<Task<'static>>) {
    let lost = |key: String| losers.contains(&(i, key));
    let mut entry_points: Vec<(EntryPoint, bool)> = p
        .plan
        .entry_points
        .iter()
        .map(|e| {
            (
                e.clone(),
                !lost(target_key(Scheme::Scripts, &e.name, &p.wheel.distribution)),
            )
        })
        .collect();
    if normalize(&p.wheel.distribution) == "pip" {
        scripts::add_versioned_pip(&mut entry_points, &ctx.xy);
    }
    let tasks = p
        .plan
        .files
        .iter()
        .map(|f| {
            let (dest, record_path) = destination(f, &p.wheel, ctx);
            let writes = !lost(target_key(f.scheme, &f.rel, &p.wheel.distribution));
            Task {
                wheel: i,
                source: Source::Artifact(RawEntry {
                    data_start: p.start + f.raw.data_start,
                    ..f.raw.into()
                }),
                dest: writes.then_some(dest),
                record_path,
                expect: f.expect.clone(),
                // Read-only: a later release may link (share) this inode.
                mode: if f.executable || f.is_script() { 0o555 } else { 0o444 },
                script: f.is_script(),
            }
        })
        .collect();
    let job = WheelJob {
        file: p.wheel.file_name().to_string(),
        dist_info: p.plan.dist_info,
        entry_points,
    };
    (job, tasks)
}

/// Step 1 for a linked wheel: its files as the source release's RECORD lists them (all in
/// site-packages, none shared with another wheel), its launchers written fresh.
fn linked_tasks<'a>(i: usize, w: &'a LinkedWheel, method: Method, ctx: &Ctx) -> (WheelJob, Vec<Task<'a>>) {
    let mut entry_points: Vec<(EntryPoint, bool)> = w.entry_points.iter().map(|e| (e.clone(), true)).collect();
    if normalize(&w.wheel.distribution) == "pip" {
        scripts::add_versioned_pip(&mut entry_points, &ctx.xy);
    }
    let tasks = w
        .files
        .iter()
        .map(|file| Task {
            wheel: i,
            source: Source::Link(file, method),
            dest: Some(ctx.site.join(&file.record_path)),
            record_path: file.record_path.clone(),
            expect: Some((file.hash.clone(), file.size)),
            mode: if file.executable { 0o555 } else { 0o444 },
            script: false,
        })
        .collect();
    let job = WheelJob {
        file: w.wheel.file_name().to_string(),
        dist_info: w.dist_info.clone(),
        entry_points,
    };
    (job, tasks)
}

/// The build-time pycs of wheel `i`, each beside a `.py` the wheel writes into site-packages
/// (one whose `.py` another wheel writes is checked and listed, not written, like that `.py`).
/// A pyc whose `.py` the wheel does not install makes the artifact corrupt. Written read-only.
fn pyc_tasks<'a>(i: usize, job: &WheelJob, tasks: &[Task], pycs: Vec<WheelPyc>, ctx: &Ctx) -> Result<Vec<Task<'a>>> {
    let sources: std::collections::HashMap<&str, bool> = tasks
        .iter()
        .filter(|t| t.record_path.ends_with(".py") && !t.record_path.starts_with("../"))
        .map(|t| (t.record_path.as_str(), t.dest.is_some()))
        .collect();
    pycs.into_iter()
        .map(|p| {
            let source = Pyc::parse(&p.entry.path).ok().and_then(|pyc| pyc.source());
            let writes = *source
                .and_then(|s| sources.get(s.as_str()).copied())
                .as_ref()
                .ok_or_else(|| {
                    corrupt_wheel(
                        &job.file,
                        &format!("has bytecode {} without its source", quoted(&p.rel)),
                    )
                })?;
            let sha = sha256_from_hex(p.entry.sha256.as_bytes()).ok_or_else(|| {
                corrupt_wheel(&job.file, &format!("has bytecode {} without a sha256", quoted(&p.rel)))
            })?;
            Ok(Task {
                wheel: i,
                source: Source::Artifact(p.raw.into()),
                dest: writes.then(|| ctx.site.join(&p.rel)),
                record_path: p.rel,
                expect: Some((b64_urlsafe_nopad(&sha), p.entry.size)),
                mode: 0o444,
                script: false,
            })
        })
        .collect()
}

/// A linked wheel's pycs may have come with it (both releases' build-time pycs, one magic):
/// those are not installed twice.
fn not_linked(pycs: Vec<WheelPyc>, tasks: &[Task]) -> Vec<WheelPyc> {
    let have: std::collections::HashSet<&str> = tasks.iter().map(|t| t.record_path.as_str()).collect();
    pycs.into_iter().filter(|p| !have.contains(p.rel.as_str())).collect()
}

/// Where a planned file goes in the venv, and its RECORD path (relative to site-packages).
fn destination(f: &PlannedFile, w: &Wheel, ctx: &Ctx) -> (PathBuf, String) {
    let dest = match f.scheme {
        Scheme::Site => return (ctx.site.join(&f.rel), f.rel.clone()),
        Scheme::Scripts => ctx.venv.join("bin").join(&f.rel),
        Scheme::Headers => ctx
            .venv
            .join(format!("include/site/python{}/{}", ctx.xy, w.distribution))
            .join(&f.rel),
        Scheme::Data => ctx.venv.join(&f.rel),
    };
    let rel = dest.strip_prefix(&ctx.venv).expect("under the venv").to_string_lossy();
    let record_path = format!("../../../{rel}");
    (dest, record_path)
}

/// Step 2: every directory once, parents first, before the parallel writes.
fn make_dirs(tasks: &[Task], ctx: &Ctx) -> Result<()> {
    let dirs: BTreeSet<&Path> = tasks.iter().filter_map(|t| t.dest.as_deref()?.parent()).collect();
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
fn extract(plan: &WheelJob, t: &Task, raw: &RawEntry, artifact: &File, ctx: &Ctx) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut script = Vec::new();
    let mut out = match &t.dest {
        Some(dest) if !t.script => Some(create(dest, t.mode)?),
        _ => None,
    };
    let result = EXTRACTOR.with_borrow_mut(|ex| {
        ex.extract(artifact, raw, |chunk| {
            hasher.update(chunk);
            match &mut out {
                Some(f) => f.write_all(chunk),
                None if t.script => {
                    script.extend_from_slice(chunk);
                    Ok(())
                }
                None => Ok(()),
            }
        })
    });
    if let Err(e) = result {
        return Err(if e.kind() == std::io::ErrorKind::InvalidData {
            corrupt_wheel(
                &plan.file,
                &format!("has a damaged entry {}: {e}", quoted(&t.record_path)),
            )
        } else {
            Fail::install(format!("cannot write {}: {e}", quoted(&t.record_path)))
        });
    }
    let digest = b64_urlsafe_nopad(&hasher.finalize());
    if let Some((want, size)) = &t.expect {
        if *want != digest || *size != raw.size {
            return Err(corrupt_wheel(
                &plan.file,
                &format!("has {} whose content does not match its RECORD", quoted(&t.record_path)),
            ));
        }
    }
    let (Some(dest), true) = (&t.dest, t.script) else {
        return Ok(record::line_with(&t.record_path, &digest, raw.size));
    };
    let data = scripts::rewrite_script(&script, &ctx.python).unwrap_or(script);
    write_file(dest, &data, t.mode)?;
    Ok(record::line(&t.record_path, &data))
}

/// Creates a new file without following a symlink at `path`: what was there (a file of the
/// same wheel written before its launcher) is removed first, as pip does, so nothing ever
/// writes through a link to a file outside the release.
fn create(path: &Path, mode: u32) -> Result<File> {
    let file = match open_new(path, mode) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(path).and_then(|_| open_new(path, mode))
        }
        other => other,
    };
    file.ctx(|| format!("cannot create {}", path.display()))
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    create(path, mode)?
        .write_all(data)
        .ctx(|| format!("cannot write {}", path.display()))
}

/// Step 4 for one wheel: launchers for its entry points, then INSTALLER, REQUESTED and the
/// installed RECORD (which lists itself without a hash, as the spec asks).
fn finish(plan: &WheelJob, mut lines: Vec<String>, ctx: &Ctx) -> Result<PathBuf> {
    for (ep, writes) in &plan.entry_points {
        let text = scripts::launcher(ep, &ctx.python);
        if *writes {
            write_file(&ctx.venv.join("bin").join(&ep.name), text.as_bytes(), 0o755)?;
        }
        lines.push(record::line(&format!("../../../bin/{}", ep.name), text.as_bytes()));
    }
    let dist_info = ctx.site.join(&plan.dist_info);
    for (name, content) in [("INSTALLER", "wheelsfx\n"), ("REQUESTED", "")] {
        write_file(&dist_info.join(name), content.as_bytes(), 0o644)?;
        lines.push(record::line(&format!("{}/{name}", plan.dist_info), content.as_bytes()));
    }
    lines.sort();
    lines.dedup();
    lines.push(format!(
        "{},,",
        record::csv_field(&format!("{}/RECORD", plan.dist_info))
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    write_file(&dist_info.join("RECORD"), text.as_bytes(), 0o644)?;
    Ok(dist_info)
}
