//! (plan) Build-time bytecode: every `.py` a wheel installs into site-packages, and the app
//! tree's, compiled by each build interpreter whose X.Y a target set has, so a deploy only
//! writes files. Long-lived workers (bytecode.py, one per core) get sources over a pipe and
//! answer with checked-hash pycs: no mtime inside, so the same inputs give the same bytes, and
//! an edited source is still noticed at import. co_filename is the path relative to
//! site-packages (wheels) or to DEST (`<app>/x.py`): no build-machine path is packed, and
//! CPython's loader puts the installed path in at import. A wheel's pycs are cached under
//! `~/.cache/wheelsfx/bytecode/<magic>/<wheel sha256>`, so a warm build compiles only the app.

use crate::checked::Checked;
use crate::collect::{Inputs, Source};
use crate::plan::Item;
use crate::wheel::WheelFile;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wheelsfx_payload::layout::{pyc_entry, PycOwner};
use wheelsfx_payload::manifest::{Bytecode, Entry};
use wheelsfx_payload::wheel::Scheme;

const WORKER: &str = include_str!("bytecode.py");
/// The cache file's first line: a file of another layout or mode is not used.
const CACHE_HEADER: &[u8] = b"wheelsfx-bytecode 1 checked-hash\n";

/// What to compile with: the build interpreter first, then `--compile-python`; none with
/// `--no-compile`. `cache`: the bytecode cache's directory, if any.
pub struct Options {
    pub pythons: Vec<String>,
    pub cache: Option<PathBuf>,
}

/// One source to compile: the name its code objects carry, its bytes, its entry name.
struct Job {
    shown: String,
    source: Vec<u8>,
    entry: String,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    fn start(python: &str) -> Result<(Worker, String), String> {
        let mut child = Command::new(python)
            .args(["-I", "-c", WORKER])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {python} to byte-compile: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut hello = String::new();
        stdout.read_line(&mut hello).map_err(|e| e.to_string())?;
        if hello.split(' ').count() != 3 {
            return Err(format!("{python} did not start its byte-compile worker"));
        }
        Ok((Worker { child, stdin, stdout }, hello.trim().to_string()))
    }

    /// The pyc of one source, or None when it does not compile.
    fn compile(&mut self, job: &Job) -> std::io::Result<Option<Vec<u8>>> {
        writeln!(self.stdin, "{} {}", job.shown.len(), job.source.len())?;
        self.stdin.write_all(job.shown.as_bytes())?;
        self.stdin.write_all(&job.source)?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let len: usize = line.trim().parse().map_err(|_| std::io::Error::other("bad reply"))?;
        let mut pyc = vec![0; len];
        self.stdout.read_exact(&mut pyc)?;
        Ok((len > 0).then_some(pyc))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One interpreter's workers and what it is.
struct Interp {
    workers: Vec<Worker>,
    record: Bytecode,
}

impl Interp {
    fn start(python: &str) -> Result<Interp, String> {
        let (first, hello) = Worker::start(python)?;
        let mut parts = hello.split(' ');
        let (magic, tag, version) = (parts.next(), parts.next(), parts.next());
        let record = Bytecode {
            magic: magic.unwrap_or_default().into(),
            cache_tag: tag.unwrap_or_default().into(),
            python: version.unwrap_or_default().into(),
            invalidation: "checked-hash".into(),
        };
        Ok(Interp {
            workers: vec![first],
            record,
        })
    }

    fn xy(&self) -> String {
        self.record
            .python
            .rsplitn(2, '.')
            .last()
            .unwrap_or_default()
            .to_string()
    }

    /// Compiles every job on every core: one thread per worker, pulling the next job.
    fn compile(&mut self, python: &str, jobs: &[Job]) -> Result<Vec<Option<Vec<u8>>>, String> {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        while self.workers.len() < cores.min(jobs.len().div_ceil(64)).max(1) {
            self.workers.push(Worker::start(python)?.0);
        }
        let next = AtomicUsize::new(0);
        let results: Vec<Vec<(usize, Option<Vec<u8>>)>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .workers
                .iter_mut()
                .map(|w| {
                    let next = &next;
                    s.spawn(move || -> std::io::Result<Vec<(usize, Option<Vec<u8>>)>> {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(job) = jobs.get(i) else { return Ok(out) };
                            out.push((i, w.compile(job)?));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect::<Result<_, _>>()
        })
        .map_err(|e| format!("byte-compiling with {python} failed: {e}"))?;
        let mut all: Vec<Option<Vec<u8>>> = vec![None; jobs.len()];
        for (i, pyc) in results.into_iter().flatten() {
            all[i] = pyc;
        }
        Ok(all)
    }
}

/// The pyc entries and the manifest's bytecode records. `checked`: bootstrap wheels first,
/// then the project's, as plan checked them.
pub fn compile(inputs: &Inputs, checked: &[Checked], opts: &Options) -> Result<(Vec<Item>, Vec<Bytecode>), String> {
    let wheels: Vec<&WheelFile> = inputs.bootstrap.iter().chain(&inputs.wheels).collect();
    let mut items = Vec::new();
    let mut records: Vec<Bytecode> = Vec::new();
    for python in &opts.pythons {
        let mut interp = Interp::start(python)?;
        let tag = interp.record.cache_tag.clone();
        let Some(chosen) = wheels_for(inputs, &interp.xy()) else {
            continue;
        };
        if records.iter().any(|r| r.cache_tag == tag) {
            continue;
        }
        // `wheels` and `checked` list the bootstrap wheels first: every set installs them.
        let project = chosen.into_iter().map(|i| i + inputs.bootstrap.len());
        for i in (0..inputs.bootstrap.len()).chain(project) {
            items.extend(wheel_pycs(&mut interp, python, wheels[i], &checked[i], opts)?);
        }
        items.extend(app_pycs(&mut interp, python, inputs)?);
        records.push(interp.record);
    }
    Ok((items, records))
}

/// Indices (in `inputs.wheels`) of the wheels an interpreter of `xy` compiles, or None when
/// no target is for its X.Y (a build with no known target compiles for the build interpreter).
fn wheels_for(inputs: &Inputs, xy: &str) -> Option<Vec<usize>> {
    if inputs.app_name == "bytecode" {
        return None; // its tree's entries are named bytecode/...: no room for pycs
    }
    if inputs.targets.is_empty() {
        let known = inputs.python_version.as_deref();
        return (known.is_none_or(|v| v == xy)).then(|| (0..inputs.wheels.len()).collect());
    }
    // Two targets of one X.Y (3.11.2 and 3.11.7) share most wheels: each compiled once.
    let sets: Vec<usize> = inputs
        .targets
        .iter()
        .zip(&inputs.sets)
        .filter(|(t, _)| t.xy() == xy)
        .flat_map(|(_, set)| set.iter().copied())
        .collect::<std::collections::BTreeSet<usize>>()
        .into_iter()
        .collect();
    (!sets.is_empty()).then_some(sets)
}

/// One wheel's pycs: from the cache, else compiled (and cached).
fn wheel_pycs(
    interp: &mut Interp,
    python: &str,
    w: &WheelFile,
    c: &Checked,
    opts: &Options,
) -> Result<Vec<Item>, String> {
    let tag = interp.record.cache_tag.clone();
    let cache = opts
        .cache
        .as_ref()
        .map(|d| d.join(&interp.record.magic).join(&c.sha256));
    let pycs = match cache.as_deref().and_then(read_cache) {
        Some(pycs) => pycs,
        None => {
            let jobs = wheel_jobs(w, c)?;
            let done = interp.compile(python, &jobs)?;
            let pycs: Vec<(String, Vec<u8>)> = jobs
                .into_iter()
                .zip(done)
                .filter_map(|(j, pyc)| Some((j.entry, pyc?)))
                .collect();
            if let Some(path) = &cache {
                write_cache(path, &pycs);
            }
            pycs
        }
    };
    Ok(pycs
        .into_iter()
        .map(|(source, pyc)| item(pyc_entry(&tag, PycOwner::Wheel(&w.file_name), &source), pyc))
        .collect())
}

/// A wheel's site-packages `.py` files, read out of its bytes (`entry`: the source path).
fn wheel_jobs(w: &WheelFile, c: &Checked) -> Result<Vec<Job>, String> {
    let bytes: Arc<[u8]> = match &c.held {
        Some(b) => b.clone(),
        None => Arc::from(std::fs::read(&w.path).map_err(|e| format!("cannot read {}: {e}", w.path.display()))?),
    };
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&*bytes)).map_err(|e| e.to_string())?;
    let mut jobs = Vec::new();
    for f in c
        .plan
        .files
        .iter()
        .filter(|f| f.scheme == Scheme::Site && f.rel.ends_with(".py"))
    {
        let mut source = Vec::new();
        zip.by_name(&f.name)
            .and_then(|mut e| Ok(e.read_to_end(&mut source)?))
            .map_err(|e| format!("cannot read {} in {}: {e}", f.name, w.file_name))?;
        jobs.push(Job {
            shown: f.rel.clone(),
            source,
            entry: f.rel.clone(),
        });
    }
    Ok(jobs)
}

/// The app tree's `.py` files, compiled as `<app>/x.py` (their path under DEST).
fn app_pycs(interp: &mut Interp, python: &str, inputs: &Inputs) -> Result<Vec<Item>, String> {
    let prefix = format!("{}/", inputs.app_name);
    let mut jobs = Vec::new();
    for f in &inputs.files {
        let (Some(rel), Source::File(path)) = (f.name.strip_prefix(&prefix), &f.source) else {
            continue;
        };
        if rel.ends_with(".py") {
            let source = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            jobs.push(Job {
                shown: f.name.clone(),
                source,
                entry: rel.to_string(),
            });
        }
    }
    let done = interp.compile(python, &jobs)?;
    let tag = &interp.record.cache_tag;
    Ok(jobs
        .into_iter()
        .zip(done)
        .filter_map(|(j, pyc)| Some(item(pyc_entry(tag, PycOwner::App, &j.entry), pyc?)))
        .collect())
}

fn item(path: String, pyc: Vec<u8>) -> Item {
    let (sha256, size) = crate::plan::hash(&Source::Held(Arc::from(pyc.as_slice()))).expect("bytes hash");
    Item {
        entry: Entry {
            path,
            sha256,
            size,
            mode: 0o644,
        },
        source: Source::Held(Arc::from(pyc)),
        stored: false,
    }
}

/// A cache file: the header, then `SOURCE\nLEN\n` + pyc per file. Damaged or of another
/// layout: not used (compiled again).
fn read_cache(path: &Path) -> Option<Vec<(String, Vec<u8>)>> {
    let bytes = std::fs::read(path).ok()?;
    let mut rest = bytes.strip_prefix(CACHE_HEADER)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (name, r) = split_line(rest)?;
        let (len, r) = split_line(r)?;
        let len: usize = std::str::from_utf8(len).ok()?.parse().ok()?;
        out.push((String::from_utf8(name.to_vec()).ok()?, r.get(..len)?.to_vec()));
        rest = &r[len..];
    }
    Some(out)
}

fn split_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == b'\n')?;
    Some((&b[..i], &b[i + 1..]))
}

/// Written to a temporary name and renamed; a cache that cannot be written is no cache.
fn write_cache(path: &Path, pycs: &[(String, Vec<u8>)]) {
    let mut data = CACHE_HEADER.to_vec();
    for (name, pyc) in pycs {
        data.extend_from_slice(format!("{name}\n{}\n", pyc.len()).as_bytes());
        data.extend_from_slice(pyc);
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| std::fs::write(&tmp, &data))
        .and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The summary's lines: pycs per cache tag, their bytes and their bytes in the artifact.
pub fn summary(records: &[Bytecode], output: &Path) -> Vec<String> {
    let Ok(mut zip) = std::fs::File::open(output)
        .map_err(|_| ())
        .and_then(|f| zip::ZipArchive::new(f).map_err(|_| ()))
    else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for r in records {
        let prefix = format!("bytecode/{}/", r.cache_tag);
        let (mut n, mut size, mut packed) = (0, 0, 0);
        for i in 0..zip.len() {
            let Ok(e) = zip.by_index_raw(i) else { continue };
            if e.name_raw().starts_with(prefix.as_bytes()) {
                (n, size, packed) = (n + 1, size + e.size(), packed + e.compressed_size());
            }
        }
        lines.push(format!(
            "bytecode {} (python {}, magic {}): {n} pycs, {} ({} compressed)",
            r.cache_tag,
            r.python,
            r.magic,
            crate::summary::size(size),
            crate::summary::size(packed)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_file_reads_back_and_a_damaged_one_is_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m/sha");
        let pycs = vec![("a/b.py".to_string(), b"\x01\n\x02".to_vec()), ("c.py".into(), vec![])];
        write_cache(&path, &pycs);
        assert_eq!(read_cache(&path), Some(pycs));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 4);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_cache(&path), None);
    }
}
