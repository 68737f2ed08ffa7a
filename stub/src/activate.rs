//! Step 12: point LINK (`current`) at a complete release, and tell which releases are live.
//!
//! LINK is a relative symlink (a releases tree stays valid when moved or mounted elsewhere),
//! made under a hidden name in LINK's directory and renamed over LINK: rename(2) replaces it
//! in one step, so every process resolving LINK sees the old release or the new one.

use crate::error::{Fail, Result};
use crate::stage::{absolute, normalize_lexically, sibling};
use serde_json::{json, Value};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Where LINK pointed and points: `target` and `previous` are canonical release paths.
pub struct Activation {
    pub link: PathBuf,
    pub target: PathBuf,
    pub previous: Option<PathBuf>,
}

impl Activation {
    pub fn changed(&self) -> bool {
        self.previous.as_deref() != Some(self.target.as_path())
    }

    pub fn to_json(&self) -> Value {
        json!({"link": self.link, "target": self.target, "previous": self.previous})
    }
}

/// What activating `release` through `link` would do, without doing it: LINK must be
/// absent or a symlink, in a directory that exists (or that a deploy creates: one above
/// the release, in a --dry-run).
pub fn preview(link: &Path, release: &Path) -> Result<Activation> {
    let link = absolute(link, "LINK")?;
    let dir = link.parent().expect("an absolute path with a file name has a parent");
    if !dir.is_dir() && !release.starts_with(dir) {
        return Err(Fail::activation(format!(
            "cannot create {}: its directory {} does not exist; create it, or name another LINK",
            link.display(),
            dir.display()
        )));
    }
    if fs::symlink_metadata(&link).is_ok_and(|m| !m.file_type().is_symlink()) {
        return Err(Fail::activation(format!(
            "{} is a real file or directory, not a symlink, so it cannot be pointed at a release; move it away (its contents are not a release), then run again",
            link.display()
        )));
    }
    Ok(Activation {
        previous: fs::canonicalize(&link).ok(),
        target: fs::canonicalize(release).unwrap_or_else(|_| normalize_lexically(release)),
        link,
    })
}

/// Points `link` at `release` (a complete release): a relative symlink under a hidden name
/// beside LINK, renamed over it. Nothing is written when LINK already points there.
pub fn activate(link: &Path, release: &Path) -> Result<Activation> {
    let a = preview(link, release)?;
    if !a.changed() {
        return Ok(a);
    }
    let dir = fs::canonicalize(a.link.parent().expect("checked by preview")).map_err(|e| cannot(&a, &e.to_string()))?;
    let tmp = sibling(&a.link, "link");
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(relative(&dir, &a.target), &tmp).map_err(|e| cannot(&a, &e.to_string()))?;
    fs::rename(&tmp, &a.link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        cannot(&a, &e.to_string())
    })?;
    Ok(a)
}

fn cannot(a: &Activation, why: &str) -> Fail {
    Fail::activation(format!(
        "cannot point {} at {}: {why}; check that its directory is writable",
        a.link.display(),
        a.target.display()
    ))
}

/// `to` relative to the directory `from` (both canonical): `releases/42`, `../releases/42`.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let (from, to): (Vec<Component>, Vec<Component>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = std::iter::repeat_n(Component::ParentDir, from.len() - common);
    ups.chain(to[common..].iter().copied()).collect()
}

/// The live releases (canonical): what LINK and the symlinks beside `release` and one level
/// up (`releases/42` and `current` beside `releases/`) point at. A live release is never
/// replaced or pruned.
pub fn live(release: &Path, link: Option<&Path>) -> Vec<PathBuf> {
    let mut live = linked(release, &[release]);
    live.extend(link.and_then(|l| fs::canonicalize(l).ok()));
    live
}

/// The live releases once LINK points at `release`: that one, and what the other symlinks
/// point at (LINK's present target is live only if another symlink points at it too).
pub fn live_after(release: &Path, link: Option<&Path>) -> Vec<PathBuf> {
    let link = link.and_then(|l| absolute(l, "LINK").ok());
    let mut except = vec![release];
    except.extend(link.as_deref());
    let mut live = linked(release, &except);
    live.push(fs::canonicalize(release).unwrap_or_else(|_| release.to_path_buf()));
    live
}

/// What the symlinks in `release`'s directory and the one above point at, except `except`.
fn linked(release: &Path, except: &[&Path]) -> Vec<PathBuf> {
    release
        .ancestors()
        .skip(1)
        .take(2)
        .flat_map(|dir| fs::read_dir(dir).into_iter().flatten().flatten())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .map(|e| e.path())
        .filter(|p| !except.contains(&p.as_path()))
        .filter_map(|p| fs::canonicalize(p).ok())
        .collect()
}

/// Whether `release` is one of `live` (canonical paths).
pub fn is_live(release: &Path, live: &[PathBuf]) -> bool {
    fs::canonicalize(release).is_ok_and(|r| live.contains(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(r("/srv/site", "/srv/site/releases/42"), Path::new("releases/42"));
        assert_eq!(
            r("/srv/site/links", "/srv/site/releases/42"),
            Path::new("../releases/42")
        );
        assert_eq!(r("/a/b", "/c"), Path::new("../../c"));
    }
}
