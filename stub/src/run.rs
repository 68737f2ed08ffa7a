//! Running the target interpreter: with a scrubbed environment, so the server's PIP_* and
//! PYTHON* settings (an index URL, a user site, PYTHONPATH) cannot change what gets installed.

use crate::error::{Fail, Result};
use std::path::Path;
use std::process::{Command, Output, Stdio};

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
