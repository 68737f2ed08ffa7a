//! Step 7: install the chosen wheels into the venv. Both installers start from the same
//! validated plans ([`plan`]), so both refuse the same wheels and agree on which wheel writes
//! a path that two of them ship.

mod inflate;
pub mod native;
pub mod pip;
mod scripts;

use crate::error::{Code, Context, Fail, Result};
use clap::ValueEnum;
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::fs::File;
use std::sync::Arc;
use wheelsfx_payload::layout;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::manifest::Wheel;
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::slice::FileSlice;
use wheelsfx_payload::wheel::{self, collisions, Expect, WheelPlan};
use zip::ZipArchive;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    /// In Rust, in parallel, straight out of the artifact, every file checked against RECORD.
    Native,
    /// `venv/bin/python -m pip install --no-index --no-deps`, after bootstrapping pip.
    Pip,
}

/// One wheel to install: its manifest entry, its plan, and where its bytes start in the
/// artifact (wheels are stored, so each is a byte range read in place).
pub struct Planned {
    pub wheel: Wheel,
    pub plan: WheelPlan,
    pub start: u64,
}

/// Plans every wheel (in parallel), in install order, before anything is installed. With
/// `hash_files` every file is also checked against RECORD now (pip cannot be trusted to
/// refuse a file that lies; the native installer checks each as it writes it).
pub fn plan(payload: &Payload, wheels: &[Wheel], limits: &Limits, hash_files: bool) -> Result<Vec<Planned>> {
    let file = Arc::new(File::open(&payload.path).ctx(|| format!("cannot reopen {}", payload.path.display()))?);
    let app = payload.manifest.app.name.as_str();
    wheels
        .par_iter()
        .map(|w| {
            let (start, len) = payload
                .stored_range(&w.file)?
                .ok_or_else(|| corrupt_wheel(&w.file, "is compressed inside the artifact; wheels must be stored"))?;
            let want = Expect {
                distribution: &w.distribution,
                version: &w.version,
                app,
            };
            let plan = ZipArchive::new(FileSlice::new(file.clone(), start, len))
                .map_err(|e| format!("is not a readable zip ({e})"))
                .and_then(|mut zip| match hash_files {
                    true => wheel::check(&mut zip, &want, limits),
                    false => wheel::plan(&mut zip, &want, limits),
                })
                .map_err(|m| corrupt_wheel(&w.file, &m))?;
            Ok(Planned {
                wheel: w.clone(),
                plan,
                start,
            })
        })
        .collect()
}

/// `(wheel position, path key)` for every path a wheel ships but does not write, because a
/// later wheel in install order writes it too.
pub fn losing_targets(planned: &[Planned]) -> BTreeSet<(usize, String)> {
    let mut out = BTreeSet::new();
    for (key, who) in collisions_of(planned) {
        let winner = *who.last().expect("a collision has wheels");
        out.extend(who.into_iter().filter(|&w| w != winner).map(|w| (w, key.clone())));
    }
    out
}

/// Every path the planned wheels write, as [`wheel::target_key`]s: a linked wheel must meet
/// none of them.
pub fn path_keys(planned: &[Planned]) -> BTreeSet<String> {
    planned
        .iter()
        .flat_map(|p| {
            p.plan
                .targets()
                .map(|(scheme, rel)| wheel::target_key(scheme, rel, &p.wheel.distribution))
        })
        .collect()
}

/// The paths two or more of the planned wheels ship ([`collisions`]).
pub fn collisions_of(planned: &[Planned]) -> Vec<wheel::Collision> {
    let plans: Vec<(&str, &WheelPlan)> = planned
        .iter()
        .map(|p| (p.wheel.distribution.as_str(), &p.plan))
        .collect();
    collisions(&plans)
}

pub fn corrupt_wheel(wheel: &str, what: &str) -> Fail {
    let name = layout::wheel_file_name(wheel);
    Fail::new(
        Code::CorruptArtifact,
        format!("wheel {name} {what}; the artifact cannot be trusted, rebuild it"),
    )
}
