//! Step 6: make `DEST/venv` natively (no `python -m venv`, no ensurepip, no virtualenv), with
//! DEST's final paths in pyvenv.cfg and the activate scripts.

use crate::error::{Context, Result};
use crate::stage::{write_new, Stage};
use crate::target::Interpreter;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Paths inside the venv, relative to DEST.
pub struct VenvLayout {
    pub bin: PathBuf,
    pub site_packages: PathBuf,
    /// The interpreter's `X.Y` (`pythonX.Y` launchers, `.data/headers` paths).
    pub xy: String,
}

impl VenvLayout {
    pub fn new(python: &Interpreter) -> VenvLayout {
        VenvLayout {
            bin: PathBuf::from("venv/bin"),
            site_packages: PathBuf::from(format!("venv/lib/python{}/site-packages", python.xy())),
            xy: python.xy(),
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
    install_activate_scripts(stage, &bin, prompt)?;
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
    write_new(&venv.join("pyvenv.cfg"), text.as_bytes(), 0o644)
}

/// Our own activate templates (from CPython's venv), one per shell, so a DEST holding a
/// space or a quote works whatever the interpreter: the templates of interpreters patched for
/// CVE-2024-9287 expect quoted values, older ones pasted them raw.
const ACTIVATE: [(&str, &str, Shell); 3] = [
    ("activate", include_str!("activate/activate"), Shell::Posix),
    ("activate.csh", include_str!("activate/activate.csh"), Shell::Csh),
    ("activate.fish", include_str!("activate/activate.fish"), Shell::Fish),
];

#[derive(Clone, Copy)]
enum Shell {
    Posix,
    Csh,
    Fish,
}

impl Shell {
    /// `s` as one single-quoted word of this shell, as uv quotes them.
    fn quote(self, s: &str) -> String {
        match self {
            // sh and csh: close the quote, an escaped quote, reopen.
            Shell::Posix | Shell::Csh => format!("'{}'", s.replace('\'', r"'\''")),
            // fish single quotes take \\ and \' as escapes.
            Shell::Fish => format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'")),
        }
    }
}

/// Writes `activate`, `activate.csh` and `activate.fish` with DEST's final venv path and the
/// app name as the prompt, each value quoted for its shell.
fn install_activate_scripts(stage: &Stage, bin: &Path, prompt: &str) -> Result<()> {
    let env_dir = stage.final_path("venv");
    let env_dir = env_dir.to_string_lossy();
    let prompt = format!("({prompt}) ");
    for (name, template, shell) in ACTIVATE {
        let text = template
            .replace("__VENV_DIR__", &shell.quote(&env_dir))
            .replace("__VENV_BIN_NAME__", &shell.quote("bin"))
            .replace("__VENV_PROMPT__", &shell.quote(&prompt));
        write_new(&bin.join(name), text.as_bytes(), 0o644)?;
    }
    Ok(())
}
