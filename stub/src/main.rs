//! The installer at the head of every wheelsfx artifact: `./artifact -d DEST`.
//!
//! The install reads top to bottom as its steps, one module each:
//! locate -> verify -> target -> stage -> unpack -> venv -> install -> wire (+ shared links,
//! env file) -> compile (+ app tree) -> commit -> hooks.

mod commit;
mod compile;
mod envfile;
mod error;
mod hooks;
mod install;
mod locate;
mod progress;
mod release;
mod run;
mod shared;
mod stage;
mod target;
mod trust;
mod unpack;
mod venv;
mod verify;
mod wire;

use clap::Parser;
use error::{Fail, Result};
use install::Installer;
use serde_json::{json, Value};
use stage::Stage;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use wheelsfx_payload::inspect;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::manifest::Manifest;
use wheelsfx_payload::signature::Verdict;

/// Installs this artifact's Python application into DEST: a virtualenv built with the
/// server's Python, every wheel installed offline, the app and its environment wired in.
#[derive(Parser, Debug)]
#[command(name = "artifact", disable_version_flag = true, after_help = EXIT_CODES)]
struct Cli {
    /// Release directory to create (must not exist, unless --force)
    #[arg(short = 'd', long = "dest", value_name = "DEST")]
    dest: Option<PathBuf>,
    /// Interpreter for the venv: a path or a name on PATH [default: pythonX.Y for the
    /// artifact's X.Y, then python3; the first whose tags fit every wheel]
    #[arg(long, value_name = "PATH_OR_NAME")]
    python: Option<String>,
    /// How to install the wheels
    #[arg(long, value_enum, default_value = "native")]
    installer: Installer,
    /// Replace an existing DEST (atomically: the old release is swapped out whole)
    #[arg(long)]
    force: bool,
    /// If another run is installing into DEST, wait for it instead of failing
    #[arg(long)]
    wait: bool,
    /// Do not byte-compile the installed Python files
    #[arg(long)]
    no_compile: bool,
    /// Copy this flat JSON object of strings to DEST/environment.json (with its mode)
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// DEST/environment.json's mode instead of the --env-file's own (octal, e.g. 0640)
    #[arg(long, value_name = "OCTAL", requires = "env_file", value_parser = envfile::parse_mode)]
    env_mode: Option<u32>,
    /// DEST/environment.json's group (a name or a gid), e.g. the web server's
    #[arg(long, value_name = "GROUP", requires = "env_file")]
    env_group: Option<String>,
    /// Before the hooks, DEST/environment.json must exist and be valid, else they fail (exit 8);
    /// the hooks get WHEELSFX_STRICT_ENV=1, which makes the venv's Python refuse to start
    /// without it
    #[arg(long)]
    strict_env: bool,
    /// After the install, run this shell command in DEST/<app> (after the artifact's own
    /// post-install hooks), with DEST/venv/bin first on PATH and environment.json loaded;
    /// repeatable, in order
    #[arg(long = "run", value_name = "CMD")]
    run: Vec<String>,
    /// Run no hooks (neither the artifact's nor --run's)
    #[arg(long, conflicts_with = "run")]
    no_hooks: bool,
    /// The shared directory for shared paths [default: DEST/../../shared when DEST is in a
    /// releases/ folder]
    #[arg(long, value_name = "DIR")]
    shared: Option<PathBuf>,
    /// Make PATH in the release (e.g. environment.json, media/) a relative symlink to
    /// SHARED/PATH (besides the artifact's own shared paths); a trailing / marks a directory,
    /// made in SHARED when missing; repeatable
    #[arg(long, value_name = "PATH")]
    link_shared: Vec<String>,
    /// Refuse an artifact that would unpack to more than this many bytes (zip-bomb guard)
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_unpacked)]
    max_unpacked_size: u64,
    /// Refuse an entry of 1 MiB or more that inflates more than N:1 (zip-bomb guard)
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_ratio)]
    max_ratio: u64,
    /// Install (or --verify) only if signed by this public key: a .pub file or its key line;
    /// repeatable. Also: WHEELSFX_TRUST (colon-separated), /etc/wheelsfx/trusted.d/*.pub
    /// (WHEELSFX_TRUST_DIR instead). With any trusted key, unsigned artifacts are refused
    #[arg(long, value_name = "PUBKEY", conflicts_with_all = ["inspect", "list"])]
    trust: Vec<String>,
    /// Print one JSON object (the result, or the error) on stdout, and nothing else
    #[arg(long)]
    json: bool,
    /// Show what the artifact holds (with --json: the whole manifest)
    #[arg(long, conflicts_with_all = ["dest", "list", "verify"])]
    inspect: bool,
    /// List every payload entry with its size, mode and sha256
    #[arg(long, conflicts_with_all = ["dest", "verify"])]
    list: bool,
    /// Check every byte against the manifest; write nothing
    #[arg(long, conflicts_with = "dest")]
    verify: bool,
    /// Print the app, its build and the stub's version
    #[arg(long)]
    version: bool,
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 2 bad usage, 3 corrupt, tampered or untrusted artifact, \
4 no fitting interpreter, 5 install failed, 6 DEST exists or is being installed by another run, \
8 a hook failed (the release is installed, not activated).";

/// Set while a release is being built and not yet committed: only then may a panic say that
/// nothing was installed.
static BUILDING: AtomicBool = AtomicBool::new(false);

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let dest = if BUILDING.load(Ordering::SeqCst) {
            "; nothing was installed at DEST"
        } else {
            ""
        };
        say_err(&format!("wheelsfx: internal error ({info}){dest}. Please report this."));
        std::process::exit(70);
    }));
    let (json_out, result) = match Cli::try_parse() {
        Ok(cli) => (cli.json, dispatch(cli)),
        Err(e) => (std::env::args_os().any(|a| a == "--json"), Err(usage_error(e))),
    };
    match result {
        Ok(Some(v)) if json_out => say_out(&inspect::json_safe(&v.to_string())),
        Ok(_) => {}
        Err(fail) => {
            if json_out {
                let v = json!({"ok": false, "exit_code": fail.code as i32, "error": fail.msg});
                say_out(&inspect::json_safe(&v.to_string()));
            } else {
                say_err(&format!("wheelsfx: error: {}", fail.msg));
            }
            std::process::exit(fail.code as i32);
        }
    }
}

/// A command line clap refuses: `--help` prints and exits 0 as usual; a real mistake becomes
/// one usage sentence (exit 2), so `--json` callers (Ansible) still get one JSON object.
fn usage_error(e: clap::Error) -> Fail {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    // The first paragraph: clap names the missing arguments on the lines after its first.
    let text = e.to_string();
    let first: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let first = first.join(" ");
    let first = first.trim_start_matches("error: ");
    Fail::usage(format!(
        "{}; see --help",
        if first.is_empty() { "bad usage" } else { first }
    ))
}

/// One line on stdout. A closed or failing stdout is ignored: the outcome (the exit code)
/// must not change because a reader went away (`| head -1`).
fn say_out(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One line on stderr, control characters escaped (messages quote strings from the
/// artifact); errors ignored, as for stdout.
fn say_err(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{}", inspect::escaped_lines(line));
}

fn dispatch(cli: Cli) -> Result<Option<Value>> {
    if cli.version {
        print_version();
        return Ok(None);
    }
    if !(cli.inspect || cli.list || cli.verify) {
        let Some(dest) = cli.dest.clone() else {
            return Err(Fail::usage(
                "nothing to do: pass -d DEST to install (or --inspect, --list, --verify; see --help)",
            ));
        };
        return install(&cli, &dest).map(Some);
    }
    // --inspect and --list show any artifact; --verify checks it as an install would.
    let trusted = if cli.verify {
        trust::trusted_keys(&cli.trust)?
    } else {
        Vec::new()
    };
    let (mut payload, verdict) = verify::open(&locate::artifact_path()?, &cli.limits(), &trusted)?;
    if cli.inspect {
        inspect::inspect(&payload.manifest, verdict, cli.json);
    } else if cli.list {
        inspect::list(&payload.manifest);
    } else {
        let (n, bytes) = payload.verify_all(&cli.limits())?;
        let v = json!({"ok": true, "entries": n, "bytes": bytes, "digest": payload.manifest.digest,
                       "signature": verdict.to_json()});
        if !cli.json {
            say_out(&inspect::verified(n, bytes, &payload.manifest, verdict));
        }
        return Ok(Some(v));
    }
    Ok(None)
}

impl Cli {
    fn limits(&self) -> Limits {
        Limits {
            max_unpacked: self.max_unpacked_size,
            max_ratio: self.max_ratio,
        }
    }
}

fn print_version() {
    let stub = env!("CARGO_PKG_VERSION");
    match locate::artifact_path()
        .ok()
        .and_then(|p| verify::open(&p, &Limits::default(), &[]).ok())
    {
        Some((p, _)) => say_out(&inspect::escaped_lines(&format!(
            "{} {} (wheelsfx stub {stub}, packed by {})",
            p.manifest.app.name,
            p.manifest.app.build_id.as_deref().unwrap_or("unversioned"),
            p.manifest.packer
        ))),
        None => say_out(&format!("wheelsfx stub {stub}")),
    }
}

/// Progress lines go to stderr, and not at all with --json (stdout then carries one object).
struct Say {
    quiet: bool,
    start: Instant,
    timings: Vec<(&'static str, u128)>,
    last: Instant,
}

impl Say {
    fn step(&mut self, name: &'static str) {
        let now = Instant::now();
        self.timings.push((name, now.duration_since(self.last).as_millis()));
        self.last = now;
    }
    fn line(&self, msg: &str) {
        if !self.quiet {
            say_err(&format!("wheelsfx: {msg}"));
        }
    }
}

fn install(cli: &Cli, dest: &Path) -> Result<Value> {
    let now = Instant::now();
    let mut say = Say {
        quiet: cli.json,
        start: now,
        timings: Vec::new(),
        last: now,
    };
    stage::check_dest(&stage::absolute_dest(dest)?, cli.force)?;
    let env_file = cli
        .env_file
        .as_deref()
        .map(|f| envfile::prepare(f, cli.env_mode, cli.env_group.as_deref()))
        .transpose()?;
    let trusted = trust::trusted_keys(&cli.trust)?;
    let artifact = locate::artifact_path()?;
    let (mut payload, verdict) = verify::open(&artifact, &cli.limits(), &trusted)?;
    say.step("verify");
    let m = &payload.manifest;
    let hooks = hooks::Hooks::new(&m.post_install, &cli.run, cli.no_hooks, cli.strict_env, cli.json)?;
    let abs_dest = stage::absolute_dest(dest)?;
    let links = shared::plan(
        &abs_dest,
        cli.shared.as_deref(),
        &cli.link_shared,
        &m.link_shared,
        env_file.is_some(),
    )?;
    let target = target::choose(&payload.manifest, cli.python.as_deref())?;
    let hash_files = cli.installer == Installer::Pip;
    let planned = install::plan(&payload, &target.all_wheels(), &cli.limits(), hash_files)?;
    say.step("target");
    BUILDING.store(true, Ordering::SeqCst);
    let mut stage = Stage::prepare(dest, cli.force, cli.wait)?;
    let app = payload.manifest.app.name.clone();
    say.line(&format!(
        "installing {app} ({} wheels; signature: {}) into {} with {}",
        target.wheels.len(),
        verdict.describe(),
        stage.dest.display(),
        target.python.describe()
    ));
    unpack::tree(&mut payload, &stage)?;
    say.step("unpack");
    let layout = venv::create(&stage, &target.python, &app)?;
    say.step("venv");
    let progress = progress::Progress::new(cli.json);
    // Compile workers start now, so bytecode is compiled while the native install writes; with
    // either installer they compile the app tree (pip compiles only what it installs).
    let python = stage.path("venv/bin/python");
    let compiler = match (&target.python.cache_tag, cli.no_compile) {
        (Some(_), false) => Some(compile::Compiler::start(&python, &stage.dir, &stage.dest)?),
        _ => None,
    };
    if let Some(c) = &compiler {
        c.compile_app(&stage, &payload.manifest);
    }
    let installed = match cli.installer {
        Installer::Native => Some(install::native::install(
            &payload,
            &stage,
            &layout,
            &target.python.xy(),
            planned,
            cli.limits(),
            compiler.as_ref().map(|c| c.sender()),
            &progress,
        )?),
        Installer::Pip => {
            unpack::wheels(&mut payload, &stage, &target.all_wheels())?;
            install::pip::install(&stage, &planned, !cli.no_compile)?;
            wire::relocate_scripts(&stage, &layout)?;
            None
        }
    };
    say.step("install");
    wire::wire(&stage, &layout, &app)?;
    if let Some(env) = &env_file {
        envfile::place(&stage, env)?;
    }
    say.step("wire");
    // Wait for the workers (pip compiles what it installs itself; they did the app tree).
    if let (Some(c), Some(tag)) = (compiler, &target.python.cache_tag) {
        progress.wait("byte-compiling");
        c.finish(
            &stage.path(&layout.site_packages),
            tag,
            installed.as_deref().unwrap_or(&[]),
        )?;
        say.step("compile");
    }
    progress.done();
    // After compiling: no worker may write a pyc through a link into the shared directory.
    if let Some(links) = &links {
        shared::link(&stage, links)?;
    }
    let mut receipt = receipt(cli, &stage, &payload.manifest, verdict, &target, &say);
    hooks.at_commit(&mut receipt);
    commit::commit(&mut stage, &payload.manifest, &receipt)?;
    BUILDING.store(false, Ordering::SeqCst);
    say.line(&format!(
        "installed {app} into {} in {:.1} s",
        stage.dest.display(),
        say.start.elapsed().as_secs_f64()
    ));
    hooks.run_in(&stage.dest, &app, receipt)
}

fn receipt(cli: &Cli, stage: &Stage, m: &Manifest, signature: Verdict, t: &target::Target, say: &Say) -> Value {
    let installed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    json!({
        "ok": true,
        "app": m.app.name,
        "build_id": m.app.build_id,
        "dest": stage.dest,
        "digest": m.digest,
        "signature": signature.to_json(),
        "installer": cli.installer,
        "compiled": !cli.no_compile,
        "installed_at": installed_at,
        "python": {
            "path": t.python.invoked,
            "executable": t.python.executable,
            "version": t.python.version,
            "implementation": t.python.implementation,
            "cache_tag": t.python.cache_tag,
            "pyc_magic": t.python.magic,
        },
        "wheels": t.wheels.iter().chain(&t.bootstrap).map(|w| &w.file).collect::<Vec<_>>(),
        "timings_ms": say.timings.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "wheelsfx": env!("CARGO_PKG_VERSION"),
    })
}
