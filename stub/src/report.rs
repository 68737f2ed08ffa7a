//! What a run did, or with --dry-run would do: for --json one object, the release's receipt
//! plus `changed`, `actions`, `activated` and `pruned` (what Ansible reports); otherwise a
//! few lines.

use crate::activate::Activation;
use serde_json::{json, Value};
use std::path::PathBuf;

pub struct Report {
    /// The release's receipt (with --dry-run and nothing installed yet, what it would say).
    pub receipt: Value,
    pub dry_run: bool,
    /// A line said before the actions' (the dry run's link decision).
    pub note: Option<String>,
    /// In order, from: installed, hooks, activated, pruned. None: nothing changed.
    actions: Vec<&'static str>,
    activated: Option<Activation>,
    pruned: Vec<PathBuf>,
}

impl Report {
    pub fn new(receipt: Value, dry_run: bool) -> Report {
        Report {
            receipt,
            dry_run,
            note: None,
            actions: Vec::new(),
            activated: None,
            pruned: Vec::new(),
        }
    }

    pub fn did(&mut self, action: &'static str) {
        self.actions.push(action);
    }

    /// Records an activation; only a LINK that changed is an action.
    pub fn activation(&mut self, a: Activation) {
        if a.changed() {
            self.did("activated");
        }
        self.activated = Some(a);
    }

    pub fn pruned(&mut self, pruned: Vec<PathBuf>) {
        if !pruned.is_empty() {
            self.did("pruned");
        }
        self.pruned = pruned;
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.receipt.clone();
        v["changed"] = json!(!self.actions.is_empty());
        v["actions"] = json!(self.actions);
        if let Some(a) = &self.activated {
            v["activated"] = a.to_json();
        }
        v["pruned"] = json!(self.pruned);
        if self.dry_run {
            v["dry_run"] = json!(true);
        }
        v
    }

    /// One line per action (an install and hooks already said so as they ran), or that
    /// nothing changed.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.note.iter().cloned().collect();
        out.extend(self.actions.iter().filter_map(|a| self.line(a)));
        if let Some(a) = self.activated.as_ref().filter(|a| !a.changed()) {
            out.push(format!("{} already points at {}", a.link.display(), a.target.display()));
        }
        if self.actions.is_empty() {
            out.push(
                if self.dry_run {
                    "nothing would change"
                } else {
                    "nothing changed"
                }
                .into(),
            );
        }
        out
    }

    fn line(&self, action: &str) -> Option<String> {
        let pruned = || {
            let names: Vec<String> = self.pruned.iter().map(|p| p.display().to_string()).collect();
            names.join(", ")
        };
        match (action, self.dry_run) {
            ("installed", true) => Some(format!(
                "would install into {}",
                self.receipt["dest"].as_str().unwrap_or("DEST")
            )),
            ("hooks", true) => Some("would run the hooks".into()),
            ("activated", dry_run) => self.activated.as_ref().map(|a| {
                let was = a.previous.as_ref().map(|p| p.display().to_string());
                let was = was.as_deref().unwrap_or("nothing");
                match dry_run {
                    true => format!(
                        "would point {} at {} (it points at {was})",
                        a.link.display(),
                        a.target.display()
                    ),
                    false => format!(
                        "{} now points at {} (it pointed at {was})",
                        a.link.display(),
                        a.target.display()
                    ),
                }
            }),
            ("pruned", true) => Some(format!("would prune {}", pruned())),
            ("pruned", false) => Some(format!("pruned {} (deleted in the background)", pruned())),
            _ => None,
        }
    }
}
