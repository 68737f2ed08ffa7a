//! Shared paths: what outlives a release (environment.json, media/, uploads) stays in one
//! shared directory, and each release links to it. The links are made in staging, so DEST is
//! committed with them and the hooks already see them.

use crate::envfile::ENV_JSON;
use crate::error::{Context, Fail, Result};
use crate::stage::{normalize_lexically, remove_any, Stage};
use std::fs;
use std::path::{Component, Path, PathBuf};
use wheelsfx_payload::layout::{check_link_path, check_link_paths, link_path_bare};

/// What to link: paths of the release (`media/`, `environment.json`) and the shared
/// directory (absolute) they point into.
pub struct Links {
    shared: PathBuf,
    paths: Vec<String>,
}

/// Decided before staging, so every mistake is found before anything is written: the
/// artifact's `link_shared` then `--link-shared` (each once), the shared directory, each shared
/// file present. `None`: nothing to link. `dest` is absolute.
pub fn plan(
    dest: &Path,
    shared: Option<&Path>,
    cli: &[String],
    declared: &[String],
    env_file: bool,
) -> Result<Option<Links>> {
    let usage = |why: String| Fail::usage(format!("--link-shared: {why}"));
    for p in cli {
        check_link_path(p).map_err(|why| usage(format!("{why}; name a path inside the release")))?;
    }
    let mut paths = declared.to_vec();
    paths.extend(cli.iter().filter(|p| !declared.contains(p)).cloned());
    if paths.is_empty() {
        return Ok(None);
    }
    check_link_paths(&paths).map_err(usage)?;
    let Some(shared) = shared_dir(dest, shared)? else {
        return Err(Fail::usage(format!(
            "the shared paths {} need a shared directory, and there is none: pass --shared DIR (the default, ../../shared, is only for a DEST in a releases/ folder)",
            paths.join(", ")
        )));
    };
    if env_file && paths.iter().any(|p| link_path_bare(p) == ENV_JSON) {
        return Err(Fail::usage(format!(
            "--env-file cannot write {ENV_JSON}: it is linked to {}; put the file there instead",
            shared.join(ENV_JSON).display()
        )));
    }
    if let Some(missing) = paths
        .iter()
        .filter(|p| !p.ends_with('/'))
        .map(|p| shared.join(p))
        .find(|p| fs::metadata(p).is_err())
    {
        return Err(Fail::install(format!(
            "the shared file {} does not exist; create it, or end the path with / to link a directory (made when missing)",
            missing.display()
        )));
    }
    Ok(Some(Links { shared, paths }))
}

/// `--shared DIR` made absolute, else `DEST/../../shared` when DEST's parent is a `releases/`
/// folder (the Capistrano layout), else none.
fn shared_dir(dest: &Path, shared: Option<&Path>) -> Result<Option<PathBuf>> {
    if let Some(dir) = shared {
        let cwd = std::env::current_dir().ctx(|| "cannot read the current directory".into())?;
        return Ok(Some(normalize_lexically(&cwd.join(dir))));
    }
    let releases = dest.parent().filter(|p| p.file_name().is_some_and(|n| n == "releases"));
    Ok(releases.and_then(Path::parent).map(|site| site.join("shared")))
}

/// In staging: each path's directory made in the shared directory if it ends with `/`, what
/// the release has at the path removed, and the path made a relative symlink into the
/// shared directory (relative, so a site moved whole keeps working).
pub fn link(stage: &Stage, links: &Links) -> Result<()> {
    for dir in links.paths.iter().filter(|p| p.ends_with('/')) {
        let at = links.shared.join(dir);
        fs::create_dir_all(&at).ctx(|| format!("cannot create the shared directory {}", at.display()))?;
    }
    // Both ends as the kernel sees them, so `..` steps out of the real directories even when
    // DEST or the shared directory is reached through a symlink.
    let shared = links
        .shared
        .canonicalize()
        .ctx(|| format!("cannot resolve the shared directory {}", links.shared.display()))?;
    let parent = stage.dest.parent().expect("DEST is absolute with a parent");
    let home = parent
        .canonicalize()
        .ctx(|| format!("cannot resolve {}", parent.display()))?
        .join(stage.dest.file_name().expect("DEST has a file name"));
    for path in &links.paths {
        let rel = Path::new(link_path_bare(path));
        let at = stage.path(rel);
        remove_any(&at).ctx(|| format!("cannot replace {} with a shared link", at.display()))?;
        let dir = rel.parent().unwrap_or(Path::new(""));
        fs::create_dir_all(stage.path(dir)).ctx(|| format!("cannot create {} in the release", dir.display()))?;
        let target = relative(&home.join(dir), &shared.join(rel));
        std::os::unix::fs::symlink(&target, &at).ctx(|| {
            format!(
                "cannot link {} to {}",
                stage.final_path(rel).display(),
                target.display()
            )
        })?;
    }
    Ok(())
}

/// The relative path from directory `from` to `to`, both absolute and normalised.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out: PathBuf = from[common..].iter().map(|_| Component::ParentDir).collect();
    out.extend(&to[common..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(
            r("/srv/site/releases/42", "/srv/site/shared/media"),
            Path::new("../../shared/media")
        );
        assert_eq!(
            r("/srv/site/releases/42/mysite", "/srv/site/shared/mysite/media"),
            Path::new("../../../shared/mysite/media")
        );
        assert_eq!(r("/a", "/b/c"), Path::new("../b/c"));
    }

    #[test]
    fn the_default_shared_directory_is_beside_releases() {
        let d = |p: &str| shared_dir(Path::new(p), None).unwrap();
        assert_eq!(d("/srv/site/releases/42"), Some(PathBuf::from("/srv/site/shared")));
        assert_eq!(d("/srv/site/42"), None);
    }
}
