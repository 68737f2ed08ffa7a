//! Step 1: collect the inputs — the project tree, the extra static folders, the wheels (from
//! pip or a wheelhouse), the bootstrap wheels and the support files.

use crate::pip;
use crate::wheel::{wheels_in, WheelFile};
use crate::BuildArgs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use wheelsfx_payload::layout::{LOADENV_PTH, LOADENV_PY, STATIC_DIR};

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
    pub files: Vec<TreeFile>,
    pub wheels: Vec<WheelFile>,
    pub bootstrap: Vec<WheelFile>,
    /// X.Y of the interpreter pip ran with, when pip ran.
    pub python_version: Option<String>,
    /// Keeps pip's output directory alive until the artifact is written.
    pub _scratch: Option<tempfile::TempDir>,
}

/// Directory names never packed: VCS data and bytecode caches.
const SKIPPED_DIRS: &[&str] = &[".git", ".hg", ".svn", "__pycache__"];

pub fn collect(args: &BuildArgs) -> Result<Inputs, String> {
    let app_dir = args.app();
    if !app_dir.is_dir() {
        return Err(format!("--app {} is not a directory", app_dir.display()));
    }
    let app_name = app_dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .ok_or_else(|| format!("--app {} has no directory name", app_dir.display()))?;
    let mut files = walk(app_dir, &app_name)?;
    for (i, dir) in args.extra_static.iter().enumerate() {
        if !dir.is_dir() {
            return Err(format!("--extra-static {} is not a directory", dir.display()));
        }
        files.extend(walk(dir, &format!("{STATIC_DIR}{i}"))?);
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
    let mut python_version = None;
    let mut scratch = None;
    if let Some(req) = &args.requirements {
        let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        pip::wheel_closure(args.python(), req, dir.path())?;
        python_version = Some(pip::python_version(args.python())?);
        wheels.extend(wheels_in(dir.path())?);
        scratch = Some(dir);
    }
    if let Some(dir) = &args.wheelhouse {
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
    Ok(Inputs {
        app_name,
        build_id: args.build_id.clone(),
        files,
        wheels,
        bootstrap,
        python_version,
        _scratch: scratch,
    })
}

/// Every regular file under `root` (symlinks followed), as `prefix/relative/path`, sorted.
fn walk(root: &Path, prefix: &str) -> Result<Vec<TreeFile>, String> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), prefix.to_string())];
    while let Some((dir, name)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in rd.flatten() {
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else {
                return Err(format!("{}: file names must be UTF-8", entry.path().display()));
            };
            let path = entry.path();
            let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let child = format!("{name}/{file_name}");
            if meta.is_dir() {
                if !SKIPPED_DIRS.contains(&file_name) {
                    stack.push((path, child));
                }
            } else if meta.is_file() {
                if !file_name.ends_with(".pyc") {
                    let mode = if meta.permissions().mode() & 0o111 != 0 {
                        0o755
                    } else {
                        0o644
                    };
                    out.push(TreeFile {
                        name: child,
                        source: Source::File(path),
                        mode,
                    });
                }
            } else {
                return Err(format!(
                    "{} is not a regular file or directory; remove it from the tree",
                    path.display()
                ));
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
