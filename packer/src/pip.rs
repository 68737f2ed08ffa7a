//! Running pip at packing time: build/download the requirements' closure as wheels, and
//! download the bootstrap wheels (pip, setuptools) once into a cache.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `python -m pip wheel -r REQ -w DIR`: the full closure, sdists built into wheels.
pub fn wheel_closure(python: &str, requirements: &Path, dir: &Path) -> Result<(), String> {
    let status = Command::new(python)
        .args(["-m", "pip", "wheel", "--disable-pip-version-check", "-r"])
        .arg(requirements)
        .arg("-w")
        .arg(dir)
        .status()
        .map_err(|e| format!("cannot run {python} -m pip: {e}"))?;
    if !status.success() {
        return Err(format!(
            "pip could not build the wheels for {} ({status}); see pip's output above",
            requirements.display()
        ));
    }
    Ok(())
}

/// pip and setuptools wheels for Python `version`, downloaded once into the user's cache.
pub fn bootstrap_wheels(python: &str, version: Option<&str>) -> Result<PathBuf, String> {
    let cache =
        crate::checkcache::cache_root().ok_or("neither XDG_CACHE_HOME nor HOME is set; pass --bootstrap-wheels DIR")?;
    let dir = cache.join("wheelsfx/bootstrap").join(version.unwrap_or("any"));
    let have = |name: &str| {
        std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with(name)))
            .unwrap_or(false)
    };
    if have("pip-") && have("setuptools-") {
        return Ok(dir);
    }
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--no-deps",
        "-d",
    ])
    .arg(&dir);
    if let Some(v) = version {
        cmd.args(["--python-version", v]);
    }
    let status = cmd
        .args(["pip", "setuptools"])
        .status()
        .map_err(|e| format!("cannot run {python} -m pip: {e}"))?;
    if !status.success() {
        return Err(format!(
            "could not download pip and setuptools into {} ({status}); pass --bootstrap-wheels DIR",
            dir.display()
        ));
    }
    Ok(dir)
}
