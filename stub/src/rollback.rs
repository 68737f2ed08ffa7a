//! `--rollback LINK [--to NAME]`: point LINK back at the previous complete release in its
//! releases directory (the newest installed before the one LINK points at), or at the one
//! named. Judged from receipts alone and needing no payload, so the stub every release keeps
//! (`DEST/.wheelsfx/wheelsfx`) does it after the artifact is deleted.

use crate::activate;
use crate::background;
use crate::error::{Fail, Result};
use crate::prune;
use crate::release::{complete_releases, Release};
use crate::report::Report;
use crate::stage::{absolute, normalize_lexically};
use std::fs;
use std::path::{Component, Path, PathBuf};

pub fn rollback(link: &Path, to: Option<&str>, keep: Option<usize>, dry_run: bool) -> Result<Report> {
    let link = absolute(link, "--rollback")?;
    let current = current(&link)?;
    let dir = current.parent().expect("a release path has a parent");
    if !dry_run {
        background::delete_leftovers(dir);
    }
    let releases = complete_releases(dir);
    let chosen = match to {
        Some(name) => named(&releases, dir, name)?,
        None => previous(&releases, &link, &current)?,
    };
    let mut report = Report::new(chosen.receipt.0.clone(), dry_run);
    report.activation(if dry_run {
        activate::preview(&link, &chosen.path)?
    } else {
        activate::activate(&link, &chosen.path)?
    });
    if let Some(keep) = keep {
        let live = activate::live_after(&chosen.path, Some(&link));
        report.pruned(if dry_run {
            prune::plan(dir, keep, &live, None)
        } else {
            prune::prune(dir, keep, &live)?
        });
    }
    Ok(report)
}

/// The release LINK points at (canonical when it exists; LINK may dangle after a release was
/// deleted by hand, and its directory is still the releases directory).
fn current(link: &Path) -> Result<PathBuf> {
    let target = fs::read_link(link).map_err(|_| {
        let what = if fs::symlink_metadata(link).is_ok() {
            "is not a symlink"
        } else {
            "does not exist"
        };
        Fail::activation(format!(
            "{} {what}, so there is no current release to roll back from; deploy with --activate {} first",
            link.display(),
            link.display()
        ))
    })?;
    let path = normalize_lexically(&link.parent().expect("absolute").join(target));
    Ok(fs::canonicalize(&path).unwrap_or(path))
}

/// The newest complete release installed before `current`.
fn previous(releases: &[Release], link: &Path, current: &Path) -> Result<Release> {
    let Some(at) = releases.iter().position(|r| r.path == current) else {
        return Err(Fail::activation(format!(
            "{} points at {}, which is not a complete wheelsfx release, so there is no telling which came before it; name the release to go back to with --to NAME",
            link.display(),
            current.display()
        )));
    };
    at.checked_sub(1).map(|i| releases[i].clone()).ok_or_else(|| {
        Fail::activation(format!(
            "nothing to roll back to: {} is the oldest complete release in {}; deploy the release you want instead",
            current.display(),
            current.parent().unwrap_or(current).display()
        ))
    })
}

/// The complete release `dir/NAME`.
fn named(releases: &[Release], dir: &Path, name: &str) -> Result<Release> {
    let plain = matches!(
        Path::new(name).components().collect::<Vec<_>>()[..],
        [Component::Normal(_)]
    );
    let found = releases
        .iter()
        .find(|r| plain && r.path.file_name() == Some(name.as_ref()));
    found.cloned().ok_or_else(|| {
        let names: Vec<String> = releases
            .iter()
            .filter_map(|r| Some(r.path.file_name()?.to_string_lossy().into_owned()))
            .collect();
        Fail::activation(format!(
            "--to {name}: {} is not a complete wheelsfx release; the complete ones there are: {}",
            dir.join(name).display(),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        ))
    })
}
