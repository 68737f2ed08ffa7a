//! Step 1: collect the inputs — the project tree, the extra static folders, the wheels (from
//! pip or a wheelhouse), the bootstrap wheels and the support files.

use crate::pip;
use crate::{pylock, reqhash};
use crate::tree::walk;
use crate::wheel::{wheels_in, WheelFile};
use crate::BuildArgs;
use std::path::{Path, PathBuf};
use wheelsfx_payload::layout::{LOADENV_PTH, LOADENV_PY, STATIC_DIR};
use wheelsfx_payload::names::check_app_name;

/// Where an entry's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Bytes(&'static [u8]),
}

/// A non-wheel entry: its payload name, its bytes, its mode.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub name: String,
    pub source: Source,
    pub mode: u32,
}

pub struct Inputs {
    pub app_name: String,
    pub build_id: Option<String>,
    pub post_install: Vec<String>,
    pub link_shared: Vec<String>,
    pub files: Vec<TreeFile>,
    pub wheels: Vec<WheelFile>,
    pub bootstrap: Vec<WheelFile>,
    /// X.Y of the interpreter pip ran with, when pip ran.
    pub python_version: Option<String>,
    /// Keeps pip's output directory alive until the artifact is written.
    pub _scratch: Option<tempfile::TempDir>,
}

pub fn collect(args: &BuildArgs) -> Result<Inputs, String> {
    let app_dir = args.app();
    if !app_dir.is_dir() {
        return Err(format!("--app {} is not a directory", app_dir.display()));
    }
    let app_name = app_name(args, app_dir)?;
    let follow = args.follow_symlinks;
    let mut files = walk(app_dir, &app_name, follow)?;
    for (i, dir) in args.extra_static.iter().enumerate() {
        if !dir.is_dir() {
            return Err(format!("--extra-static {} is not a directory", dir.display()));
        }
        files.extend(walk(dir, &format!("{STATIC_DIR}{i}"), follow)?);
    }
    files.push(TreeFile {
        name: LOADENV_PY.into(),
        source: Source::Bytes(include_bytes!("loadenv.py")),
        mode: 0o644,
    });
    files.push(TreeFile {
        name: LOADENV_PTH.into(),
        source: Source::Bytes(include_bytes!("loadenv-init.pth")),
        mode: 0o644,
    });

    let mut wheels = Vec::new();
    // The interpreter's X.Y is the target of an all-pure set whenever it was chosen: by running
    // pip, or by naming it with --python.
    let mut python_version = if args.requirements.is_some() || args.python.is_some() {
        Some(pip::python_version(args.python())?)
    } else {
        None
    };
    let mut scratch = None;
    if let Some(req) = &args.requirements {
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let hashes = reqhash::read(req)?;
        if hashes.is_empty() {
            pip::wheel_closure(args.python(), req, dir.path())?;
        } else {
            reqhash::download(args.python(), req, dir.path())?;
        }
        let got = wheels_in(dir.path())?;
        if !hashes.is_empty() {
            reqhash::check(&got, &hashes, req)?;
        }
        wheels.extend(got);
        scratch = Some(dir);
    }
    if let Some(lock) = &args.lock {
        let locked = lock_wheels(args, lock)?;
        wheels.extend(locked.0);
        python_version = Some(locked.1);
        scratch = locked.2;
    } else if let Some(dir) = &args.wheelhouse {
        wheels.extend(wheels_in(dir)?);
    }
    let bootstrap_dir = match &args.bootstrap_wheels {
        Some(d) => d.clone(),
        None => pip::bootstrap_wheels(args.python(), python_version.as_deref())?,
    };
    let bootstrap = wheels_in(&bootstrap_dir)?
        .into_iter()
        .filter(|w| matches!(w.name.key().as_str(), "pip" | "setuptools"))
        .collect();
    let bootstrap = without_project_pins(bootstrap, &wheels);
    Ok(Inputs {
        app_name,
        build_id: args.build_id.clone(),
        post_install: args.post_install.clone(),
        link_shared: args.link_shared.clone(),
        files,
        wheels,
        bootstrap,
        python_version,
        _scratch: scratch,
    })
}

/// The wheels `--lock` names (`--wheelhouse` is then where they are looked for first, not a
/// set of its own), the first target's X.Y, and the download directory to keep.
fn lock_wheels(args: &BuildArgs, lock: &Path) -> Result<(Vec<WheelFile>, String, Option<tempfile::TempDir>), String> {
    if args.requirements.is_some() {
        return Err("--lock and --requirements both say which wheels to pack; pass one of them".into());
    }
    let targets = pylock::targets(args.python(), &args.target_python, &args.platform)?;
    let locked = pylock::collect(lock, args.wheelhouse.as_deref(), args.python(), &targets)?;
    for (t, set) in targets.iter().zip(&locked.per_target) {
        eprintln!("wheelsfx: {}: {} wheels for {}", lock.display(), set.len(), t.label());
    }
    Ok((locked.wheels, targets[0].xy(), locked.scratch))
}

/// The app's name, `--name` or else the app directory's own name, checked as the stub checks
/// it before anything is read: it becomes `DEST/<name>`, `<name>.pth` and the venv prompt, so
/// `wheels`, `venv` or a name with `$(` would merge the app into the release's own layout or
/// run as shell code on `source activate`.
fn app_name(args: &BuildArgs, app_dir: &Path) -> Result<String, String> {
    if let Some(name) = &args.name {
        check_app_name(name).map_err(|e| format!("--name: {e}"))?;
        return Ok(name.clone());
    }
    let name = app_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| format!("--app {} has no directory name; pass --name NAME", app_dir.display()))?;
    check_app_name(&name).map_err(|e| format!("--app {}: {e}", app_dir.display()))?;
    Ok(name)
}

/// One wheel per distribution in the artifact: when the project's own wheels pin pip or
/// setuptools, that pin is what the project was tested with, so the bootstrap copy is left out
/// (and the build says so).
fn without_project_pins(bootstrap: Vec<WheelFile>, wheels: &[WheelFile]) -> Vec<WheelFile> {
    let pin = |b: &WheelFile| wheels.iter().find(|w| w.name.key() == b.name.key());
    for (b, p) in bootstrap.iter().filter_map(|b| pin(b).map(|p| (b, p))) {
        eprintln!(
            "wheelsfx: using the project's {} {} instead of the bootstrap {} {}",
            p.distribution, p.version, b.distribution, b.version
        );
    }
    bootstrap.into_iter().filter(|b| pin(b).is_none()).collect()
}
