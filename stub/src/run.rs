//! Running the target interpreter: with a scrubbed environment, so the server's PIP_* and
//! PYTHON* settings (an index URL, a user site, PYTHONPATH) cannot change what gets installed.

use crate::error::{Fail, Result};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn python(exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    die_with_parent(&mut cmd);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("PIP_") || k.starts_with("PYTHON") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PYTHONNOUSERSITE", "1")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, and on failure reports `what` with the last lines it printed.
pub fn checked(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .output()
        .map_err(|e| Fail::install(format!("{what}: cannot start it ({e})")))?;
    if out.status.success() {
        return Ok(out);
    }
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(12)..].join("\n    ");
    Err(Fail::install(format!("{what} failed ({}):\n    {tail}", out.status)))
}

/// A child (pip, a compile worker) must not outlive a killed stub: it would go on writing
/// into a staging directory that the next run is about to remove.
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// How `output_within` ended without an exit status of the child's own.
pub enum Outcome {
    Exited(Output),
    TimedOut,
}

/// Runs `cmd` (stdout and stderr captured) for at most `limit`. The child leads its own
/// process group, and on time-out the whole group is killed: a wrapper that never answers
/// must not hang the stub, and what it started must not outlive it.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::io::Result<Outcome> {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGKILL);
            let _ = child.wait();
            return Ok(Outcome::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The child exited; what it started may still hold the pipes: kill the group before
    // collecting, so a lingering grandchild cannot keep us waiting.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGKILL);
    Ok(Outcome::Exited(Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }))
}

/// The most of a child's output kept; the rest is read and dropped.
const KEEP: u64 = 1 << 20;

/// Reads a pipe to its end on a thread of its own, so it can never fill and stall the child,
/// keeping the first [`KEEP`] bytes: a child that writes without end cannot fill our memory.
pub fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.by_ref().take(KEEP).read_to_end(&mut buf);
            let _ = std::io::copy(&mut p, &mut std::io::sink());
        }
        buf
    })
}
