//! The installer at the head of every wheelsfx artifact: `./artifact -d DEST`.
//!
//! A deploy reads top to bottom as its steps, one module each:
//! locate -> verify -> existing (what DEST holds) -> target -> lock -> stage -> unpack -> venv
//! -> install -> wire (+ env file) -> compile (+ app tree) -> shared links -> commit -> hooks
//! -> activate -> prune.

mod activate;
mod background;
mod bytecode;
mod commit;
mod compile;
mod dry_run;
mod envfile;
mod error;
mod existing;
mod hooks;
mod install;
mod link;
mod locate;
mod lock;
mod progress;
mod prune;
mod release;
mod report;
mod rollback;
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
use error::{Code, Fail, Result};
use existing::Existing;
use install::{Installer, Planned};
use lock::Lock;
use report::Report;
use serde_json::{json, Value};
use stage::Stage;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use wheelsfx_payload::inspect;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::signature::Verdict;

/// Installs this artifact's Python application into DEST: a virtualenv built with the
/// server's Python, every wheel installed offline, the app and its environment wired in.
#[derive(Parser, Debug)]
#[command(name = "artifact", disable_version_flag = true, after_help = EXIT_CODES)]
struct Cli {
    /// Release directory to create. If it holds this artifact already, nothing is installed
    /// (its hooks are finished if they failed); anything else is refused unless --force
    #[arg(short = 'd', long = "dest", value_name = "DEST")]
    dest: Option<PathBuf>,
    /// Interpreter for the venv: a path or a name on PATH [default: pythonX.Y for the
    /// artifact's X.Y, then python3; the first whose tags fit every wheel]
    #[arg(long, value_name = "PATH_OR_NAME")]
    python: Option<String>,
    /// How to install the wheels
    #[arg(long, value_enum, default_value = "native")]
    installer: Installer,
    /// Replace an existing DEST holding something else (atomically: the old release is swapped
    /// out whole, keeping its environment.json, and deleted in the background); never the
    /// release a symlink points at
    #[arg(long)]
    force: bool,
    /// If another run is installing into DEST, wait for it instead of failing
    #[arg(long)]
    wait: bool,
    /// Do not byte-compile the installed Python files
    #[arg(long)]
    no_compile: bool,
    /// Link unchanged wheels (same sha256) from this release instead of the newest complete
    /// release of the same app beside DEST (reflink, else hard link; files are read-only)
    #[arg(long, value_name = "DIR", conflicts_with = "no_link")]
    link_from: Option<PathBuf>,
    /// Install every wheel from the artifact; link nothing from an earlier release
    #[arg(long)]
    no_link: bool,
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
    /// repeatable, in order. A failing hook leaves the release installed, not activated (exit 8)
    #[arg(long = "run", value_name = "CMD", conflicts_with = "rollback")]
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
    /// On a DEST that already holds this artifact, complete, run the hooks again
    #[arg(long, conflicts_with = "rollback")]
    rerun_hooks: bool,
    /// Then point this symlink at DEST (relative, replaced atomically)
    #[arg(long, value_name = "LINK")]
    activate: Option<PathBuf>,
    /// Then keep the N newest complete releases beside DEST (or beside LINK's release with
    /// --rollback) and delete the older ones in the background; the one installed and any a
    /// symlink points at are never deleted
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    keep: Option<u64>,
    /// Point LINK back at the previous complete release. Needs no payload: after the artifact
    /// is deleted, run DEST/.wheelsfx/wheelsfx --rollback LINK
    #[arg(long, value_name = "LINK", conflicts_with_all = ["dest", "inspect", "list", "verify", "activate"])]
    rollback: Option<PathBuf>,
    /// With --rollback: go back to the release named NAME (a directory beside LINK's release)
    #[arg(long, value_name = "NAME", requires = "rollback")]
    to: Option<String>,
    /// Show what would happen (install, hooks, activation, pruning), having verified the
    /// artifact and chosen the interpreter; write nothing
    #[arg(long, conflicts_with_all = ["inspect", "list", "verify"])]
    dry_run: bool,
}

const EXIT_CODES: &str = "Exit codes: 0 ok (changed or not), 2 bad usage, 3 corrupt, tampered or untrusted \
artifact, 4 no fitting interpreter, 5 install failed, 6 DEST holds something else (another artifact, \
not a release, or --force onto the active release), 7 DEST is locked by another run, 8 a hook failed \
(release installed, not activated), 9 activation, rollback or pruning failed.";

/// Set while a release is being built and not yet committed: only then may a panic say that
/// nothing was installed.
static BUILDING: AtomicBool = AtomicBool::new(false);

fn main() {
    background::serve_if_asked();
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
    // Before anything reads the payload: a release's own stub has none.
    if let Some(link) = &cli.rollback {
        return rollback::rollback(link, cli.to.as_deref(), cli.keep(), cli.dry_run).map(|r| cli.finish(&r));
    }
    if !(cli.inspect || cli.list || cli.verify) {
        let Some(dest) = cli.dest.clone() else {
            return Err(Fail::usage(
                "nothing to do: pass -d DEST to install (or --rollback LINK, --inspect, --list, --verify; see --help)",
            ));
        };
        if cli.link_from.is_some() && cli.installer == Installer::Pip {
            return Err(Fail::usage(
                "--link-from needs the native installer (pip installs every wheel from the artifact): drop one of --link-from and --installer pip",
            ));
        }
        return deploy(&cli, &dest).map(|r| cli.finish(&r));
    }
    // --inspect and --list show any artifact; --verify checks it as an install would.
    let trusted = if cli.verify {
        trust::trusted_keys(&cli.trust)?
    } else {
        Vec::new()
    };
    let (mut payload, verdict) = verify::open(&locate::artifact_path()?, &cli.limits(), &trusted)?;
    if cli.inspect {
        inspect::inspect(&payload, verdict, cli.json);
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

    fn keep(&self) -> Option<usize> {
        self.keep.map(|n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Says what a run did (a dry run on stdout: it is the answer), and returns its result.
    fn finish(&self, report: &Report) -> Option<Value> {
        if !self.json {
            for line in report.lines() {
                match report.dry_run {
                    true => say_out(&inspect::escaped_lines(&format!("dry run: {line}"))),
                    false => say_err(&format!("wheelsfx: {line}")),
                }
            }
        }
        Some(report.to_json())
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
    fn new(quiet: bool) -> Say {
        let now = Instant::now();
        Say {
            quiet,
            start: now,
            timings: Vec::new(),
            last: now,
        }
    }
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

/// A deploy, top to bottom: verify -> what DEST holds -> (interpreter and plan) -> lock ->
/// install and commit (when needed) -> hooks -> activate -> prune. Every refusal that needs no
/// writing comes before anything is written; DEST's lock is then held to the end and removed.
fn deploy(cli: &Cli, dest: &Path) -> Result<Report> {
    let mut say = Say::new(cli.json);
    let dest = stage::absolute(dest, "-d")?;
    let env_file = cli
        .env_file
        .as_deref()
        .map(|f| envfile::prepare(f, cli.env_mode, cli.env_group.as_deref()))
        .transpose()?;
    let trusted = trust::trusted_keys(&cli.trust)?;
    let (mut payload, verdict) = verify::open_deferred(&locate::artifact_path()?, &cli.limits(), &trusted)?;
    say.step("verify");
    let m = &payload.manifest;
    let hooks = hooks::Hooks::new(&m.post_install, &cli.run, cli.no_hooks, cli.strict_env, cli.json)?;
    let links = shared::plan(
        &dest,
        cli.shared.as_deref(),
        &cli.link_shared,
        &m.link_shared,
        env_file.is_some(),
    )?;
    let digest = payload.artifact_digest().to_string();
    let judge = || {
        existing::judge(
            &dest,
            &digest,
            cli.force,
            &activate::live(&dest, cli.activate.as_deref()),
        )
    };
    let existing = judge()?;
    let planned = existing
        .installs()
        .then(|| choose(cli, &mut payload, &dest))
        .transpose()?;
    say.step("target");
    if cli.dry_run {
        return dry_run::report(cli, &dest, &payload, existing, planned, &hooks);
    }
    stage::make_parent(&dest)?;
    let _lock = Lock::acquire(&dest, cli.wait)?;
    let parent = dest.parent().expect("an absolute path keeps a parent");
    background::delete_leftovers(parent);
    // Judged again under the lock: another run may have installed DEST meanwhile.
    let existing = judge()?;
    let run_hooks = hooks_due(&existing, cli.rerun_hooks);
    let mut report = match existing {
        Existing::Absent | Existing::Replace => {
            let planned = planned.map_or_else(|| choose(cli, &mut payload, &dest), Ok)?;
            let built = Built {
                planned,
                env_file,
                links,
            };
            let receipt = install(cli, &dest, payload, verdict, built, &hooks, &mut say)?;
            let mut report = Report::new(receipt, false);
            report.did("installed");
            report
        }
        Existing::Unchanged(r) | Existing::HooksToRun(r) => {
            say.line(&format!(
                "{} already holds this artifact ({})",
                dest.display(),
                r.describe()
            ));
            Report::new(r.0, false)
        }
    };
    if run_hooks {
        let app = report.receipt["app"].as_str().unwrap_or_default().to_string();
        let receipt = std::mem::take(&mut report.receipt);
        report.receipt = hooks.run_in(&dest, &app, receipt)?;
        if hooks.will_run() {
            report.did("hooks");
        }
    }
    if let Some(link) = &cli.activate {
        report.activation(activate::activate(link, &dest)?);
    }
    if let Some(keep) = cli.keep() {
        let live = activate::live_after(&dest, cli.activate.as_deref());
        report.pruned(prune::prune(parent, keep, &live)?);
    }
    Ok(report)
}

/// Whether a deploy runs the hooks step: after an install; on this artifact with its hooks
/// unfinished, always (none left means complete now); on this artifact complete, only with
/// --rerun-hooks.
fn hooks_due(existing: &Existing, rerun: bool) -> bool {
    match existing {
        Existing::Absent | Existing::Replace | Existing::HooksToRun(_) => true,
        Existing::Unchanged(_) => rerun,
    }
}

/// What deploy decided before taking the lock, for the install to build: the interpreter and
/// every wheel's plan, the environment file, the shared links.
struct Built {
    planned: Chosen,
    env_file: Option<envfile::Placement>,
    links: Option<shared::Links>,
}

/// The interpreter, the wheels linked from an earlier release, and the plan of every other
/// wheel.
pub struct Chosen {
    pub target: target::Target,
    pub planned: Vec<Planned>,
    pub link: link::Selection,
    /// Where this release's bytecode comes from (build-time pycs or compiled here).
    pub bytecode: bytecode::Decision,
}

/// The interpreter for the venv, the wheels to link, and every other wheel's plan: all
/// checked before anything is written (and all a --dry-run checks). A linked wheel is not
/// planned from the artifact: its plan is the source release's RECORD.
fn choose(cli: &Cli, payload: &mut Payload, dest: &Path) -> Result<Chosen> {
    let target = target::choose(&payload.manifest, cli.python.as_deref())?;
    let hash_files = cli.installer == Installer::Pip;
    let bytecode = bytecode::decide(&payload.manifest, &target.python, cli.installer, cli.no_compile);
    let opts = link::Options {
        from: cli.link_from.as_deref(),
        off: cli.no_link || hash_files,
        build_magic: bytecode.build_magic(),
    };
    let mut link = link::select(&opts, dest, &payload.manifest.app.name, &target);
    // The wheels (and pycs) linked from the source release are never read from the artifact:
    // the one place a deploy skips verifying bytes (see reader::Payload::verify_except).
    payload.verify_except(&link.unread_entries(bytecode.build_tag()))?;
    let rest: Vec<_> = target
        .all_wheels()
        .into_iter()
        .filter(|w| !link.wheels.iter().any(|l| l.wheel == *w))
        .collect();
    let mut planned = install::plan(payload, &rest, &cli.limits(), hash_files)?;
    let demoted = link.without_collisions(&install::path_keys(&planned));
    if !demoted.is_empty() {
        reopen_in_full(payload, &cli.limits())?;
    }
    planned.extend(install::plan(payload, &demoted, &cli.limits(), hash_files)?);
    let mut chosen = Chosen {
        target,
        planned: Vec::new(),
        link,
        bytecode,
    };
    chosen.set_planned(planned);
    Ok(chosen)
}

/// For the rare wheel chosen for linking and then needed from the artifact after all (a
/// path another wheel writes, or no link possible in staging): the artifact is opened again
/// and verified in full, and must still be the artifact this deploy started with.
fn reopen_in_full(payload: &mut Payload, limits: &Limits) -> Result<()> {
    let again = Payload::open(&payload.path, limits)?;
    if again.artifact_digest() != payload.artifact_digest() {
        return Err(Fail::new(
            Code::CorruptArtifact,
            format!("{} changed during the deploy; run it again", payload.path.display()),
        ));
    }
    *payload = again;
    Ok(())
}

impl Chosen {
    /// Keeps the plans in install order (bootstrap wheels first, then by file name): the
    /// later of two wheels writing one path wins.
    fn set_planned(&mut self, mut planned: Vec<Planned>) {
        let order = self.target.all_wheels();
        planned.sort_by_key(|p| order.iter().position(|w| *w == p.wheel));
        self.planned = planned;
    }

    /// The link method, decided in staging; when no link works there, the selected wheels
    /// are planned from the artifact instead.
    fn start_linking(
        &mut self,
        stage: &Stage,
        payload: &mut Payload,
        cli: &Cli,
        say: &Say,
    ) -> Result<Option<link::Linking>> {
        if let Some(note) = &self.link.note {
            say.line(note);
        }
        match std::mem::take(&mut self.link).start(stage) {
            Ok(linking) => {
                say.line(&linking.describe(self.target.wheels.len() + self.target.bootstrap.len()));
                Ok(Some(linking))
            }
            Err(unused) if unused.wheels.is_empty() => Ok(None),
            Err(unused) => {
                say.line("neither reflinks nor hard links work here: installing every wheel from the artifact");
                let wheels: Vec<_> = unused.wheels.into_iter().map(|w| w.wheel).collect();
                reopen_in_full(payload, &cli.limits())?;
                let mut planned = std::mem::take(&mut self.planned);
                planned.extend(install::plan(payload, &wheels, &cli.limits(), false)?);
                self.set_planned(planned);
                Ok(None)
            }
        }
    }
}

/// Builds the release in staging and commits it as DEST (with DEST's lock held), then runs
/// nothing more: the hooks follow in `deploy`. Returns the receipt as committed.
fn install(
    cli: &Cli,
    dest: &Path,
    mut payload: Payload,
    verdict: Verdict,
    built: Built,
    hooks: &hooks::Hooks,
    say: &mut Say,
) -> Result<Value> {
    let Built {
        planned: mut chosen,
        env_file,
        links,
    } = built;
    BUILDING.store(true, Ordering::SeqCst);
    let mut stage = Stage::prepare(dest)?;
    let linking = chosen.start_linking(&stage, &mut payload, cli, say)?;
    say.step("link");
    let Chosen {
        target,
        planned,
        bytecode,
        ..
    } = chosen;
    let app = payload.manifest.app.name.clone();
    say.line(&format!(
        "installing {app} ({} wheels; signature: {}) into {} with {}",
        target.wheels.len(),
        verdict.describe(),
        stage.dest.display(),
        target.python.describe()
    ));
    if let Some(line) = bytecode.fallback_line() {
        say.line(&line);
    }
    unpack::tree(&mut payload, &stage, bytecode.build_tag())?;
    say.step("unpack");
    let layout = venv::create(&stage, &target.python, &app)?;
    say.step("venv");
    let progress = progress::Progress::new(cli.json);
    // Compile workers start now, so bytecode is compiled while the native install writes; with
    // either installer they compile the app tree (pip compiles only what it installs). With
    // build-time bytecode there is nothing for them to do.
    let python = stage.path("venv/bin/python");
    let compiler = match bytecode.source {
        bytecode::Source::Deploy | bytecode::Source::Pip => {
            Some(compile::Compiler::start(&python, &stage.dir, &stage.dest)?)
        }
        bytecode::Source::Build | bytecode::Source::None => None,
    };
    let pycs = match bytecode.build_tag() {
        Some(tag) => bytecode::wheel_pycs(&mut payload, tag)?,
        None => Default::default(),
    };
    if let Some(c) = &compiler {
        c.compile_app(&stage, &payload.manifest);
    }
    let installed = match cli.installer {
        Installer::Native => Some(install::native::install(
            &payload,
            &stage,
            &layout,
            install::native::Wheels {
                planned,
                linking: linking.as_ref(),
                pycs,
            },
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
    let mut receipt = receipt(cli, &stage, &payload, verdict, &target, say);
    receipt["linked"] = linking.map_or(Value::Null, |l| l.to_json());
    receipt["bytecode"] = bytecode.to_json();
    hooks.at_commit(&mut receipt);
    commit::commit(&mut stage, &payload, &receipt)?;
    BUILDING.store(false, Ordering::SeqCst);
    say.line(&format!(
        "installed {app} into {} in {:.1} s",
        stage.dest.display(),
        say.start.elapsed().as_secs_f64()
    ));
    Ok(receipt)
}

fn receipt(cli: &Cli, stage: &Stage, payload: &Payload, signature: Verdict, t: &target::Target, say: &Say) -> Value {
    let m = &payload.manifest;
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
        "artifact_digest": payload.artifact_digest(),
        "signature": signature.to_json(),
        "installer": cli.installer,
        "compiled": !cli.no_compile,
        "installed_at": installed_at,
        "python": t.python.to_json(),
        "wheels": t.wheels.iter().chain(&t.bootstrap).map(|w| &w.file).collect::<Vec<_>>(),
        "timings_ms": say.timings.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "wheelsfx": env!("CARGO_PKG_VERSION"),
    })
}
