//! Running pip at packing time: build/download the requirements' closure as wheels, and
//! download the bootstrap wheels (pip, setuptools) once into a cache.

use crate::download::compatible_platforms;
use crate::targets::TargetSpec;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// `python -m pip SUBCOMMAND`: every pip run of the packer starts here.
pub fn pip(python: &str, subcommand: &str) -> Command {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", subcommand, "--disable-pip-version-check"]);
    cmd
}

/// `pip download` of published wheels for exactly `target`: its version, implementation and
/// ABI, and every platform tag it accepts (pip takes `--platform` literally).
pub fn download_for(python: &str, target: &TargetSpec) -> Command {
    let mut cmd = pip(python, "download");
    cmd.args(["--only-binary=:all:", "--implementation", "cp"])
        .args(["--python-version", &target.version()])
        .args(["--abi", &format!("cp{}{}", target.python[0], target.python[1])]);
    for p in target.platforms.iter().flat_map(|p| compatible_platforms(p)) {
        cmd.args(["--platform", &p]);
    }
    cmd
}

/// Runs a pip command (its output goes to the user); a failure is `failed(status)`.
pub fn run(mut cmd: Command, failed: impl FnOnce(ExitStatus) -> String) -> Result<(), String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd.status().map_err(|e| format!("cannot run {program} -m pip: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(failed(status))
    }
}

/// `python -m pip wheel -r REQ -w DIR`: the full closure, sdists built into wheels.
pub fn wheel_closure(python: &str, requirements: &Path, dir: &Path) -> Result<(), String> {
    let mut cmd = pip(python, "wheel");
    cmd.arg("-r").arg(requirements).arg("-w").arg(dir);
    run(cmd, |status| {
        format!(
            "pip could not build the wheels for {} ({status}); see pip's output above",
            requirements.display()
        )
    })
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
    let mut cmd = pip(python, "download");
    cmd.args(["--only-binary=:all:", "--no-deps", "-d"]).arg(&dir);
    if let Some(v) = version {
        cmd.args(["--python-version", v]);
    }
    cmd.args(["pip", "setuptools"]);
    run(cmd, |status| {
        format!(
            "could not download pip and setuptools into {} ({status}); pass --bootstrap-wheels DIR",
            dir.display()
        )
    })?;
    Ok(dir)
}
