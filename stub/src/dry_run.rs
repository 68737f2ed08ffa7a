//! `--dry-run`: what a deploy would do, decided as a deploy decides it (the artifact
//! verified, DEST judged, the interpreter chosen and every wheel planned, LINK and the
//! releases to prune looked at), with nothing written: no lock, no staging, no parent
//! directory. For Ansible's check mode.

use crate::activate;
use crate::error::Result;
use crate::existing::Existing;
use crate::hooks::Hooks;
use crate::prune;
use crate::report::Report;
use crate::Chosen;
use crate::Cli;
use serde_json::json;
use std::path::Path;
use wheelsfx_payload::reader::Payload;

/// The report of a deploy that `existing` judged and that would install as `chosen` (the
/// interpreter, the wheels it would link; None: it installs nothing).
pub fn report(
    cli: &Cli,
    dest: &Path,
    payload: &Payload,
    existing: Existing,
    chosen: Option<Chosen>,
    hooks: &Hooks,
) -> Result<Report> {
    let run_hooks = crate::hooks_due(&existing, cli.rerun_hooks) && hooks.will_run();
    let installs = existing.installs();
    let mut report = match existing {
        Existing::Unchanged(r) | Existing::HooksToRun(r) => Report::new(r.0, true),
        Existing::Absent | Existing::Replace => {
            let m = &payload.manifest;
            let mut report = Report::new(
                json!({
                    "ok": true,
                    "app": m.app.name,
                    "build_id": m.app.build_id,
                    "dest": dest,
                    "digest": m.digest,
                    "artifact_digest": payload.artifact_digest(),
                    "bytecode": chosen.as_ref().map(|c| c.bytecode.to_json()),
                    "python": chosen.as_ref().map(|c| c.target.python.to_json()),
                    "linked": chosen.as_ref().map(|c| c.link.to_json()),
                }),
                true,
            );
            if let Some(c) = &chosen {
                report.note = c.link.describe(c.target.wheels.len() + c.target.bootstrap.len());
            }
            report.did("installed");
            report
        }
    };
    if run_hooks {
        report.did("hooks");
    }
    if let Some(link) = &cli.activate {
        report.activation(activate::preview(link, dest)?);
    }
    if let Some(keep) = cli.keep() {
        let live = activate::live_after(dest, cli.activate.as_deref());
        let parent = dest.parent().expect("an absolute path keeps a parent");
        report.pruned(prune::plan(parent, keep, &live, installs.then_some(dest)));
    }
    Ok(report)
}
