//! After commit: the post-install hooks (collectstatic, migrate), the artifact's own
//! (`post_install`, from the build) then `--run`'s, each `/bin/sh -c CMD` in `DEST/<app>`
//! with the release's venv and environment, output streamed with a `[hook N] ` prefix and
//! kept in the receipt. The first failure stops them: the release stays installed and
//! `hooks-failed`, so nothing activates it, and the same artifact run again re-runs them.

use crate::envfile::{self, ENV_JSON};
use crate::error::{Code, Fail, Result};
use crate::release::write_receipt;
use crate::say_err;
use serde::Serialize;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use wheelsfx_payload::names::check_command;

/// Where a hook was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `wheelsfx build --post-install` (the manifest's `post_install`).
    Build,
    /// `--run` on the artifact's command line.
    Deploy,
}

#[derive(Debug, Clone)]
pub struct Hook {
    pub command: String,
    pub from: Origin,
}

/// One hook in the receipt. A hook that did not run (`--no-hooks`, or after a failure) has
/// `skipped` and no exit code.
#[derive(Debug, Serialize)]
pub struct HookRecord {
    command: String,
    from: Origin,
    exit_code: Option<i32>,
    duration_ms: u64,
    /// The last [`OUTPUT_KEPT`] bytes of its stdout and stderr, interleaved as written.
    output: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skipped: bool,
}

impl HookRecord {
    /// A hook that ran, or could not be started (no exit code).
    fn ran(hook: &Hook, ran: &std::io::Result<Ran>) -> HookRecord {
        let mut record = HookRecord {
            skipped: false,
            ..HookRecord::skipped(hook)
        };
        if let Ok(ran) = ran {
            record.exit_code = Some(exit_code(ran.status));
            record.duration_ms = ran.duration.as_millis() as u64;
            record.output = ran.output.clone();
        }
        record
    }

    fn skipped(hook: &Hook) -> HookRecord {
        HookRecord {
            command: hook.command.clone(),
            from: hook.from,
            exit_code: None,
            duration_ms: 0,
            output: String::new(),
            skipped: true,
        }
    }
}

/// What the hooks step does for this run.
pub struct Hooks {
    hooks: Vec<Hook>,
    skip: bool,
    strict_env: bool,
    quiet: bool,
}

impl Hooks {
    /// The artifact's hooks, then `--run`'s (checked as the manifest's are: one line each).
    pub fn new(declared: &[String], run: &[String], skip: bool, strict_env: bool, quiet: bool) -> Result<Hooks> {
        for cmd in run {
            check_command(cmd).map_err(|why| Fail::usage(format!("--run: {why}")))?;
        }
        let hook = |from| {
            move |command: &String| Hook {
                command: command.clone(),
                from,
            }
        };
        let hooks = declared
            .iter()
            .map(hook(Origin::Build))
            .chain(run.iter().map(hook(Origin::Deploy)))
            .collect();
        Ok(Hooks {
            hooks,
            skip,
            strict_env,
            quiet,
        })
    }

    /// Anything to do after commit: hooks to run, or the environment to check.
    fn pending(&self) -> bool {
        self.strict_env || self.will_run()
    }

    /// Whether any hook will run (there are some, and not --no-hooks).
    pub fn will_run(&self) -> bool {
        !self.skip && !self.hooks.is_empty()
    }

    /// The receipt as commit writes it: `hooks-pending` until the hooks have passed, so an
    /// interrupted run never leaves a release that looks complete.
    pub fn at_commit(&self, receipt: &mut Value) {
        receipt["state"] = json!(if self.pending() { "hooks-pending" } else { "complete" });
        let records: Vec<HookRecord> = match self.skip {
            true => self.hooks.iter().map(HookRecord::skipped).collect(),
            false => Vec::new(),
        };
        receipt["hooks"] = json!(records);
    }

    /// Runs the hooks in the committed release and rewrites its receipt with their records
    /// and the state they leave (`complete` or `hooks-failed`). Returns the receipt, or the
    /// failure (exit 8).
    pub fn run_in(&self, dest: &Path, app: &str, mut receipt: Value) -> Result<Value> {
        // A release left hooks-pending or hooks-failed becomes complete even when nothing is
        // left to run (the same artifact again with --no-hooks).
        if !self.pending() && receipt["state"] == "complete" {
            return Ok(receipt);
        }
        let hooks = if self.skip { &[][..] } else { &self.hooks[..] };
        let (records, outcome) = run(dest, app, hooks, self.strict_env, self.quiet);
        if !self.skip {
            receipt["hooks"] = json!(records);
        }
        receipt["state"] = json!(if outcome.is_ok() { "complete" } else { "hooks-failed" });
        write_receipt(dest, &receipt)?;
        outcome.map(|()| receipt)
    }
}

/// Runs `hooks` in order in `DEST/<app>`; the first failure stops them (the rest are recorded
/// as skipped). With `strict_env`, `DEST/environment.json` must be valid first, and the hooks
/// get `WHEELSFX_STRICT_ENV=1` (so their Python refuses to start without it too).
pub fn run(dest: &Path, app: &str, hooks: &[Hook], strict_env: bool, quiet: bool) -> (Vec<HookRecord>, Result<()>) {
    let mut records: Vec<HookRecord> = hooks.iter().map(HookRecord::skipped).collect();
    let env = match environment(dest, strict_env) {
        Ok(env) => env,
        Err(fail) => return (records, Err(fail)),
    };
    let cwd = dest.join(app);
    for (i, hook) in hooks.iter().enumerate() {
        let label = format!("hook {} of {} ({})", i + 1, hooks.len(), hook.command);
        if !quiet {
            say_err(&format!("wheelsfx: running {label}"));
        }
        let ran = run_one(shell(&hook.command, &cwd, &env), &format!("[hook {}] ", i + 1));
        records[i] = HookRecord::ran(hook, &ran);
        let why = match ran {
            Ok(r) if r.status.success() => continue,
            Ok(r) => format!("exited with status {}", exit_code(r.status)),
            Err(e) => format!("could not be started ({e})"),
        };
        return (
            records,
            Err(not_activated(dest, &format!("{label} {why}"), "fix the cause")),
        );
    }
    (records, Ok(()))
}

/// `/bin/sh -c CMD` in `cwd`, with `env` set (`None`: removed) over the inherited environment.
fn shell(cmd: &str, cwd: &Path, env: &[(OsString, Option<OsString>)]) -> Command {
    let mut shell = Command::new("/bin/sh");
    shell.arg("-c").arg(cmd).current_dir(cwd);
    for (key, value) in env {
        match value {
            Some(v) => shell.env(key, v),
            None => shell.env_remove(key),
        };
    }
    shell
}

/// The failure sentence: what failed, that DEST is installed but not activated, what to do.
fn not_activated(dest: &Path, what: &str, fix: &str) -> Fail {
    Fail::new(
        Code::HookFailed,
        format!(
            "{what}; {} is installed but was not activated; {fix} and run the same artifact again to re-run the hooks",
            dest.display()
        ),
    )
}

/// The hooks' environment on top of the inherited one: environment.json's values (which
/// win, as loadenv does it), then the venv first on PATH, VIRTUAL_ENV, WHEELSFX_RELEASE
/// (DEST), and WHEELSFX_STRICT_ENV=1 with `strict`. PYTHONHOME is dropped, as `activate`
/// does: it would take Python out of the venv.
fn environment(dest: &Path, strict: bool) -> Result<Vec<(OsString, Option<OsString>)>> {
    let path = dest.join(ENV_JSON);
    let vars = if strict || path.exists() {
        match envfile::read(&path) {
            Ok(file) => file.vars,
            Err(why) if strict => {
                return Err(not_activated(
                    dest,
                    &format!("--strict-env: {} is not usable: {why}", path.display()),
                    "place a flat JSON object of strings there",
                ))
            }
            Err(why) => {
                say_err(&format!(
                    "wheelsfx: warning: the hooks run without {}: {why}",
                    path.display()
                ));
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    let inherited_path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let base_path = vars
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or(inherited_path, |(_, v)| v.into());
    let mut path_var = dest.join("venv/bin").into_os_string();
    path_var.push(":");
    path_var.push(base_path);
    let mut env: Vec<(OsString, Option<OsString>)> =
        vars.into_iter().map(|(k, v)| (k.into(), Some(v.into()))).collect();
    env.extend([
        ("PATH".into(), Some(path_var)),
        ("VIRTUAL_ENV".into(), Some(dest.join("venv").into())),
        ("WHEELSFX_RELEASE".into(), Some(dest.into())),
        ("PYTHONHOME".into(), None),
    ]);
    if strict {
        env.push(("WHEELSFX_STRICT_ENV".into(), Some("1".into())));
    }
    Ok(env)
}

/// How much of a hook's output the receipt keeps: its end, where the error is.
const OUTPUT_KEPT: usize = 64 << 10;
/// Longer lines are shown in pieces, so a hook writing without newlines cannot fill memory.
const LINE_MAX: u64 = 16 << 10;
/// After a hook exits, how long its output may take to end: a process it left running in the
/// background may hold the pipe open for ever, and must not hang the deploy.
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How a hook ended.
struct Ran {
    status: ExitStatus,
    /// Until it exited (not until its output ended).
    duration: Duration,
    /// The last [`OUTPUT_KEPT`] bytes of it.
    output: String,
}

/// Runs `cmd` (stdin /dev/null; stdout and stderr one pipe, so lines keep their order),
/// showing each line on our stderr behind `prefix`.
fn run_one(mut cmd: Command, prefix: &str) -> std::io::Result<Ran> {
    let started = Instant::now();
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone()?))
        .stderr(Stdio::from(writer));
    let mut child = cmd.spawn()?;
    // Our copies of the write end go, so the pipe ends when the hook's copies do.
    drop(cmd);
    let tail = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (tail, prefix) = (tail.clone(), prefix.to_string());
        std::thread::spawn(move || {
            pump(File::from(reader), &prefix, &tail);
            let _ = done_tx.send(());
        });
    }
    let status = child.wait()?;
    let duration = started.elapsed();
    let _ = done_rx.recv_timeout(OUTPUT_GRACE);
    let output = tail
        .lock()
        .map(|t| String::from_utf8_lossy(&t[t.len().saturating_sub(OUTPUT_KEPT)..]).into_owned())
        .unwrap_or_default();
    Ok(Ran {
        status,
        duration,
        output,
    })
}

/// Copies the hook's output to our stderr line by line, keeping the last [`OUTPUT_KEPT`] bytes.
fn pump(pipe: File, prefix: &str, tail: &Mutex<Vec<u8>>) {
    let mut pipe = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match pipe.by_ref().take(LINE_MAX).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let shown = String::from_utf8_lossy(&line);
        say_err(&format!("{prefix}{}", shown.trim_end_matches(['\n', '\r'])));
        if let Ok(mut t) = tail.lock() {
            t.extend_from_slice(&line);
            // Trimmed in batches: trimming at every line would move 64 KiB per line.
            if t.len() > 2 * OUTPUT_KEPT {
                let excess = t.len() - OUTPUT_KEPT;
                t.drain(..excess);
            }
        }
    }
}

/// A shell's view of how a process ended: its exit code, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
