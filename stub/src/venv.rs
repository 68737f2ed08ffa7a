//! Step 6: make `DEST/venv` natively (no `python -m venv`, no ensurepip, no virtualenv), with
//! DEST's final paths in pyvenv.cfg and the activate scripts.

use crate::error::{Context, Result};
use crate::stage::Stage;
use crate::target::Interpreter;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Paths inside the venv, relative to DEST.
pub struct VenvLayout {
    pub bin: PathBuf,
    pub site_packages: PathBuf,
}

impl VenvLayout {
    pub fn new(python: &Interpreter) -> VenvLayout {
        VenvLayout {
            bin: PathBuf::from("venv/bin"),
            site_packages: PathBuf::from(format!("venv/lib/python{}/site-packages", python.xy())),
        }
    }
}

pub fn create(stage: &Stage, python: &Interpreter, prompt: &str) -> Result<VenvLayout> {
    let layout = VenvLayout::new(python);
    let venv = stage.path("venv");
    let bin = stage.path(&layout.bin);
    fs::create_dir_all(&bin).ctx(|| format!("cannot create {}", bin.display()))?;
    fs::create_dir_all(stage.path(&layout.site_packages)).ctx(|| "cannot create site-packages".into())?;
    fs::create_dir_all(venv.join("include")).ctx(|| "cannot create venv/include".into())?;
    // As `python -m venv` does on 64-bit POSIX, so tools that look in lib64 find the same tree.
    if python.is64 {
        symlink("lib", venv.join("lib64")).ctx(|| "cannot create venv/lib64".into())?;
    }
    link_interpreters(&bin, python)?;
    write_pyvenv_cfg(&venv, python)?;
    install_activate_scripts(stage, python, &bin, prompt)?;
    Ok(layout)
}

/// `python` points at the real interpreter; `python3` and `pythonX.Y` at `python`.
fn link_interpreters(bin: &Path, python: &Interpreter) -> Result<()> {
    symlink(&python.executable, bin.join("python")).ctx(|| "cannot link venv/bin/python".into())?;
    for alias in [format!("python{}", python.version[0]), format!("python{}", python.xy())] {
        symlink("python", bin.join(&alias)).ctx(|| format!("cannot link venv/bin/{alias}"))?;
    }
    Ok(())
}

fn write_pyvenv_cfg(venv: &Path, python: &Interpreter) -> Result<()> {
    let home = python.executable.parent().unwrap_or(Path::new("/"));
    let v = python.version;
    let text = format!(
        "home = {}\ninclude-system-site-packages = false\nversion = {}.{}.{}\nexecutable = {}\ncreated-by = wheelsfx {}\n",
        home.display(),
        v[0],
        v[1],
        v[2],
        python.executable.display(),
        env!("CARGO_PKG_VERSION")
    );
    fs::write(venv.join("pyvenv.cfg"), text).ctx(|| "cannot write venv/pyvenv.cfg".into())
}

/// The interpreter's own activate templates (from its `venv` package), filled in with DEST's
/// final path. An interpreter without the `venv` package gets no activate scripts: nothing
/// a deployment needs depends on them.
fn install_activate_scripts(stage: &Stage, python: &Interpreter, bin: &Path, prompt: &str) -> Result<()> {
    let Some(scripts) = &python.venv_scripts else {
        return Ok(());
    };
    let env_dir = stage.final_path("venv");
    // 3.12 moved the parentheses from the substituted prompt into the templates.
    let prompt = if python.version[1] >= 12 {
        prompt.to_string()
    } else {
        format!("({prompt}) ")
    };
    let exe = env_dir.join("bin/python");
    let vars = [
        ("__VENV_DIR__", env_dir.to_string_lossy().into_owned()),
        ("__VENV_NAME__", "venv".to_string()),
        ("__VENV_PROMPT__", prompt),
        ("__VENV_BIN_NAME__", "bin".to_string()),
        ("__VENV_PYTHON__", exe.to_string_lossy().into_owned()),
    ];
    for sub in ["common", "posix"] {
        let Ok(dir) = fs::read_dir(scripts.join(sub)) else {
            continue;
        };
        for entry in dir.flatten() {
            let Ok(mut text) = fs::read_to_string(entry.path()) else {
                continue;
            };
            for (k, v) in &vars {
                text = text.replace(k, v);
            }
            let out = bin.join(entry.file_name());
            fs::write(&out, text).ctx(|| format!("cannot write {}", out.display()))?;
        }
    }
    Ok(())
}
