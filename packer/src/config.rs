//! `[tool.wheelsfx]` in pyproject.toml, so CI can run plain `wheelsfx build`. Every key is a
//! `build` option (same names); the command line wins; paths are relative to the file.
//!
//! ```toml
//! [tool.wheelsfx]
//! app = "cfgov"
//! requirements = "requirements/deployment.txt"
//! extra-static = ["static.in/cfgov-fonts"]
//! output = "cfgov_current_build"
//! sign = "/secrets/wheelsfx.key"   # optional: build --sign
//! post-install = ["python manage.py collectstatic --noinput", "python manage.py migrate --noinput"]
//! link-shared = ["environment.json", "media/"]
//! exclude = ["media/", "*.sqlite3"]           # gitignore syntax, relative to the app tree
//! include = [".env.example"]
//! ```

use crate::BuildArgs;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use wheelsfx_payload::layout::check_link_paths;
use wheelsfx_payload::names::check_command;

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Config {
    app: Option<PathBuf>,
    name: Option<String>,
    requirements: Option<PathBuf>,
    wheelhouse: Option<PathBuf>,
    lock: Option<PathBuf>,
    bootstrap_wheels: Option<PathBuf>,
    #[serde(default)]
    extra_static: Vec<PathBuf>,
    follow_symlinks: Option<bool>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    include: Vec<String>,
    python: Option<String>,
    build_id: Option<String>,
    output: Option<PathBuf>,
    sign: Option<PathBuf>,
    #[serde(default)]
    post_install: Vec<String>,
    #[serde(default)]
    link_shared: Vec<String>,
}

#[derive(Deserialize)]
struct PyProject {
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    wheelsfx: Option<Config>,
}

/// Fills what the command line left unset from `[tool.wheelsfx]` in `pyproject` (when it
/// exists), then checks that `--app` and `-o` are known.
pub fn merge(args: &mut BuildArgs, pyproject: &Path) -> Result<(), String> {
    let config = if pyproject.is_file() {
        read(pyproject)?
    } else {
        Config::default()
    };
    let base = pyproject.parent().unwrap_or(Path::new("."));
    let rel = |p: Option<PathBuf>| p.map(|p| base.join(p));
    args.app = args.app.take().or(rel(config.app));
    args.name = args.name.take().or(config.name);
    args.requirements = args.requirements.take().or(rel(config.requirements));
    args.wheelhouse = args.wheelhouse.take().or(rel(config.wheelhouse));
    args.lock = args.lock.take().or(rel(config.lock));
    args.bootstrap_wheels = args.bootstrap_wheels.take().or(rel(config.bootstrap_wheels));
    if args.extra_static.is_empty() {
        args.extra_static = config.extra_static.into_iter().map(|p| base.join(p)).collect();
    }
    args.follow_symlinks |= config.follow_symlinks.unwrap_or(false);
    args.python = args.python.take().or(config.python);
    args.build_id = args.build_id.take().or(config.build_id);
    args.output = args.output.take().or(rel(config.output));
    args.sign = args.sign.take().or(rel(config.sign));
    // Lists are taken whole from one place: a hook list merged from two would run in an
    // order nobody wrote down.
    if args.post_install.is_empty() {
        args.post_install = config.post_install;
    }
    if args.link_shared.is_empty() {
        args.link_shared = config.link_shared;
    }
    if args.exclude.is_empty() {
        args.exclude = config.exclude;
    }
    if args.include.is_empty() {
        args.include = config.include;
    }
    check_deploy_steps(args)?;
    let missing = |what: &str| {
        format!(
            "no {what} given: pass it, or set it in [tool.wheelsfx] of {}",
            pyproject.display()
        )
    };
    if args.app.is_none() {
        return Err(missing("--app"));
    }
    if args.output.is_none() {
        return Err(missing("-o/--output"));
    }
    Ok(())
}

/// Hooks and shared paths are checked as the stub checks the manifest, before any work.
fn check_deploy_steps(args: &BuildArgs) -> Result<(), String> {
    for cmd in &args.post_install {
        check_command(cmd).map_err(|why| format!("--post-install (or post-install in [tool.wheelsfx]): {why}"))?;
    }
    check_link_paths(&args.link_shared).map_err(|why| {
        format!("--link-shared (or link-shared in [tool.wheelsfx]): {why}; name a path inside the release")
    })
}

fn read(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: PyProject =
        toml::from_str(&text).map_err(|e| format!("{} is not valid for wheelsfx: {e}", path.display()))?;
    Ok(doc.tool.and_then(|t| t.wheelsfx).unwrap_or_default())
}
