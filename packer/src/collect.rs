//! Step 1: collect the inputs — the project tree, the extra static folders, the wheels (from
//! pip or a wheelhouse), the bootstrap wheels and the support files.

use crate::exclude::{Report, Rules};
use crate::select;
use crate::targets::TargetSpec;
use crate::tree::walk;
use crate::wheel::WheelFile;
use crate::BuildArgs;
use std::path::{Path, PathBuf};
use wheelsfx_payload::layout::{LOADENV_PTH, LOADENV_PY, STATIC_DIR};
use wheelsfx_payload::names::check_app_name;

/// Where an entry's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Bytes(&'static [u8]),
    /// A wheel's bytes as plan read and hashed them (see checked.rs).
    Held(std::sync::Arc<[u8]>),
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
    /// X.Y of the first target, when one is known.
    pub python_version: Option<String>,
    /// The exact targets (select.rs); empty when none is known.
    pub targets: Vec<TargetSpec>,
    /// Per target, the indices of its wheels in `wheels`.
    pub sets: Vec<Vec<usize>>,
    /// What the tree walks left out, and what they packed that looks local.
    pub excluded: Report,
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
    let mut excluded = Report::default();
    let rules = Rules::app(app_dir, &args.exclude, &args.include)?;
    let mut files = walk(app_dir, &app_name, follow, &rules, &mut excluded)?;
    for (i, dir) in args.extra_static.iter().enumerate() {
        if !dir.is_dir() {
            return Err(format!("--extra-static {} is not a directory", dir.display()));
        }
        files.extend(walk(
            dir,
            &format!("{STATIC_DIR}{i}"),
            follow,
            &Rules::defaults(dir)?,
            &mut excluded,
        )?);
    }
    excluded.warn();
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

    // The wheels: from pip and the wheelhouse, one set per exact target (select.rs).
    let selected = select::gather(args)?;
    let python_version = selected.targets.first().map(|t| t.xy());
    let bootstrap_dirs = select::bootstrap_dirs(args, &selected.targets, python_version.as_deref())?;
    let bootstrap = select::bootstrap_pool(&bootstrap_dirs)?
        .into_iter()
        .filter(|w| matches!(w.name.key().as_str(), "pip" | "setuptools"))
        .collect();
    let bootstrap = select::bootstrap_for(bootstrap, &selected.targets);
    let (wheels, scratch) = (selected.wheels, selected.scratch);
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
        targets: selected.targets,
        sets: selected.sets,
        excluded,
        _scratch: scratch,
    })
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
