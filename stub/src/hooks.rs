//! Step 11: hooks, commands run in the installed release before it is activated
//! (collectstatic, migrate): `/bin/sh -c CMD` in `DEST/<app>`, with the release's venv first
//! on PATH and its environment.json loaded, output streamed as `[hook N] line` on stderr and
//! kept (the last 64 KiB) in the receipt. The first failing hook stops the rest.

use crate::error::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// How much of a hook's output the receipt keeps (its end: where the error is).
const OUTPUT_KEPT: usize = 64 << 10;

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Given at deploy time (`--run`).
    Deploy,
}

pub struct Hook {
    pub command: String,
    pub from: Source,
}

/// A hook as it ran, for the receipt.
#[derive(Debug, Serialize)]
pub struct HookRecord {
    pub command: String,
    pub from: Source,
    /// None when it was killed by a signal.
    pub exit_code: Option<i32>,
    pub duration_ms: u128,
    pub output: String,
}

impl HookRecord {
    pub fn failed(&self) -> bool {
        self.exit_code != Some(0)
    }
}

/// Runs `hooks` in order in the release `dest` of app `app`, until one fails. Returns the
/// records of those that ran (the last one failed if any did).
pub fn run(dest: &Path, app: &str, hooks: &[Hook]) -> Result<Vec<HookRecord>> {
    let mut records = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        let record = run_one(dest, app, hook, i + 1)?;
        let failed = record.failed();
        records.push(record);
        if failed {
            break;
        }
    }
    Ok(records)
}

fn run_one(dest: &Path, app: &str, hook: &Hook, n: usize) -> Result<HookRecord> {
    let start = Instant::now();
    // Close-on-exec: the child gets the write end as its stdout and stderr only, and nothing
    // it starts inherits the pipe by accident.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(std::io::Error::from)
        .ctx(|| "cannot make a pipe for a hook".into())?;
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&hook.command)
        .current_dir(dest.join(app))
        .stdin(Stdio::null())
        .stdout(write.try_clone().ctx(|| "cannot make a pipe for a hook".into())?)
        .stderr(write)
        .envs(environment(dest))
        .env("PATH", search_path(dest))
        .env("VIRTUAL_ENV", dest.join("venv"))
        .env("WHEELSFX_RELEASE", dest);
    let mut child = cmd
        .spawn()
        .ctx(|| format!("cannot start hook {n} ({})", hook.command))?;
    // The write ends now live only in the child (and `cmd`): drop ours so EOF comes.
    drop(cmd);
    let mut kept = VecDeque::new();
    for line in BufReader::new(std::fs::File::from(read))
        .split(b'\n')
        .map_while(|l| l.ok())
    {
        let line = String::from_utf8_lossy(&line);
        crate::say_err(&format!("[hook {n}] {line}"));
        kept.extend(line.bytes().chain([b'\n']));
        let over = kept.len().saturating_sub(OUTPUT_KEPT);
        kept.drain(..over);
    }
    let status = child.wait().ctx(|| format!("cannot wait for hook {n}"))?;
    Ok(HookRecord {
        command: hook.command.clone(),
        from: hook.from,
        exit_code: status.code(),
        duration_ms: start.elapsed().as_millis(),
        output: String::from_utf8_lossy(&Vec::from(kept)).into_owned(),
    })
}

/// The values of DEST/environment.json, if it is a flat object of strings (as loadenv
/// reads it: the file wins over the inherited environment).
fn environment(dest: &Path) -> Vec<(String, String)> {
    let value: Option<Value> = std::fs::read(dest.join("environment.json"))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok());
    let Some(Value::Object(map)) = value else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_string())))
        .collect()
}

/// `DEST/venv/bin`, then the inherited PATH.
fn search_path(dest: &Path) -> std::ffi::OsString {
    let venv = dest.join("venv/bin");
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(venv).chain(std::env::split_paths(&inherited))).unwrap_or(inherited)
}
