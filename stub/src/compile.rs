//! Step 9: byte-compile the app tree and what the native installer writes, with the target
//! interpreter, on every core: one long-lived worker process (compile.py) per core, fed file
//! paths while the install is still writing, not one process per wheel. The pyc files are
//! what pip's compileall would write (same bytes, same invalidation mode).

use crate::error::{Context, Fail, Result};
use crate::install::native::Installed;
use crate::run;
use crate::stage::Stage;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wheelsfx_payload::layout::{classify, EntryKind};
use wheelsfx_payload::manifest::Manifest;
use wheelsfx_payload::record::csv_field;

const WORKER: &str = include_str!("compile.py");

/// Compile workers, started before the install and fed each `.py` file as soon as it is
/// written, so byte-compiling (CPU in Python) overlaps extraction (mostly the kernel's file
/// creation). `finish` waits for them and records the pyc files.
pub struct Compiler {
    tx: Option<Sender<PathBuf>>,
    feeders: Vec<JoinHandle<std::io::Result<()>>>,
    workers: Vec<Worker>,
    python: PathBuf,
}

/// One compile worker, its stderr read from the start (so warnings can never fill the pipe
/// and stall it) and kept for the message if it fails.
struct Worker {
    child: Child,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

impl Worker {
    fn new(mut child: Child) -> Worker {
        let stderr = Some(run::drain(child.stderr.take()));
        Worker { child, stderr }
    }

    /// Stops the worker (if it still runs) and returns what it wrote on stderr.
    fn last_words(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let text = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        match String::from_utf8_lossy(&text).trim() {
            "" => "no output".into(),
            t => t.to_string(),
        }
    }
}

impl Compiler {
    /// `stage`/`dest`: the staging directory and DEST, so code objects name final paths.
    pub fn start(python: &Path, stage: &Path, dest: &Path) -> Result<Compiler> {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let rx = Arc::new(Mutex::new(rx));
        let mut compiler = Compiler {
            tx: Some(tx),
            feeders: Vec::new(),
            workers: Vec::new(),
            python: python.into(),
        };
        for _ in 0..workers {
            let mut child = run::python(python)
                .args(["-I", "-c", WORKER])
                .arg(stage)
                .arg(dest)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .ctx(|| format!("cannot start {} to byte-compile", python.display()))?;
            let stdin = child.stdin.take().expect("piped");
            compiler.workers.push(Worker::new(child));
            let rx = rx.clone();
            compiler.feeders.push(std::thread::spawn(move || feed(&rx, stdin)));
        }
        await_ready(&mut compiler.workers, WORKER_START_TIMEOUT)
            .map_err(|why| Fail::install(format!("byte-compiling with {}: {why}", python.display())))?;
        Ok(compiler)
    }

    /// Where to send each `.py` file to compile.
    pub fn sender(&self) -> &Sender<PathBuf> {
        self.tx.as_ref().expect("only finish takes it")
    }

    /// Queues the app tree's `.py` files (unpacked before the workers start), so the app is
    /// byte-compiled with the rest. Their pycs are in no RECORD: no distribution owns the app.
    pub fn compile_app(&self, stage: &Stage, manifest: &Manifest) {
        let app = &manifest.app.name;
        for e in &manifest.entries {
            if e.path.ends_with(".py") && classify(&e.path, app) == Ok(EntryKind::App) {
                let _ = self.sender().send(stage.path(&e.path)); // closed: finish reports why
            }
        }
    }

    pub fn finish(mut self, site: &Path, cache_tag: &str, installed: &[Installed]) -> Result<()> {
        drop(self.tx.take());
        let mut fed = Ok(());
        for feeder in self.feeders.drain(..) {
            let result = feeder
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("feeder thread panicked")));
            fed = fed.and(result);
        }
        // A worker that died is reported with its own words, not as the feeder's broken pipe.
        for w in &mut self.workers {
            let status = w.child.wait().ctx(|| "byte-compiling failed".into())?;
            if !status.success() {
                return Err(Fail::install(format!(
                    "byte-compiling with {} failed: {}",
                    self.python.display(),
                    w.last_words()
                )));
            }
        }
        fed.ctx(|| "cannot feed the byte-compile workers".into())?;
        record_pycs(site, cache_tag, installed)
    }
}

/// A failed install must not leave workers writing into a staging directory being removed.
impl Drop for Compiler {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }
}

/// How long a worker may take to start (import its modules) before the install gives up.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until every worker has said "ready": one that hangs at start (a blocking
/// sitecustomize) fails the install instead of hanging it, and one that dies at start is
/// reported with what it said.
fn await_ready(workers: &mut [Worker], limit: Duration) -> std::result::Result<(), String> {
    let (tx, rx) = mpsc::channel();
    for (i, w) in workers.iter_mut().enumerate() {
        let stdout = w.child.stdout.take().expect("piped");
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send((i, line == "ready\n"));
        });
    }
    let deadline = Instant::now() + limit;
    for _ in 0..workers.len() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((_, true)) => {}
            Ok((i, false)) => return Err(format!("a worker exited at start: {}", workers[i].last_words())),
            Err(_) => return Err(format!("a worker did not start within {} s", limit.as_secs())),
        }
    }
    Ok(())
}

/// Hands paths from the shared channel to one worker, a line each, until the channel closes.
fn feed(rx: &Mutex<Receiver<PathBuf>>, mut stdin: ChildStdin) -> std::io::Result<()> {
    loop {
        let next = rx
            .lock()
            .map_err(|_| std::io::Error::other("a feeder panicked"))?
            .recv();
        let Ok(path) = next else { return Ok(()) };
        let mut line = path.into_os_string().into_vec();
        line.push(b'\n');
        stdin.write_all(&line)?;
    }
}

/// Adds each wheel's new .pyc files to its RECORD (without a hash, which the spec allows
/// for them), so `pip uninstall` removes them too.
fn record_pycs(site: &Path, cache_tag: &str, installed: &[Installed]) -> Result<()> {
    for w in installed {
        let mut lines = String::new();
        for py in &w.py_files {
            let (Some(dir), Some(stem)) = (py.parent(), py.file_stem()) else {
                continue;
            };
            let pyc = dir
                .join("__pycache__")
                .join(format!("{}.{cache_tag}.pyc", stem.to_string_lossy()));
            if let Ok(rel) = pyc.strip_prefix(site) {
                if pyc.is_file() {
                    lines.push_str(&format!("{},,\n", csv_field(&rel.to_string_lossy())));
                }
            }
        }
        let record = w.dist_info.join("RECORD");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&record)
            .ctx(|| format!("cannot open {}", record.display()))?;
        f.write_all(lines.as_bytes())
            .ctx(|| format!("cannot write {}", record.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn worker(script: &str) -> Worker {
        Worker::new(
            Command::new("sh")
                .args(["-c", script])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    #[test]
    fn a_worker_that_never_says_ready_fails_instead_of_hanging() {
        let mut children = vec![worker("echo ready"), worker("sleep 30")];
        let why = await_ready(&mut children, Duration::from_millis(300)).unwrap_err();
        assert!(why.contains("did not start within"), "{why}");
        let _ = children[1].child.kill();
    }

    #[test]
    fn a_worker_that_dies_at_start_is_reported_with_its_error() {
        let mut children = vec![worker("echo boom >&2; exit 1")];
        let why = await_ready(&mut children, Duration::from_secs(10)).unwrap_err();
        assert!(why.contains("exited at start") && why.contains("boom"), "{why}");
    }
}
