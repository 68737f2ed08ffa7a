//! Progress for a person at a terminal: a bar while the native installer writes files, a
//! spinner while bytecode finishes. Nothing at all when stderr is not a TTY (CI, Ansible) or
//! with --json: those get the plain lines and the receipt.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A bar that may be hidden; the installer's threads tick it through a shared reference.
pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let shown = !quiet && std::io::stderr().is_terminal();
        let bar = ProgressBar::hidden();
        if shown {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Progress(bar)
    }

    /// Counts `total` items under `label` from now on.
    pub fn start(&self, label: &'static str, total: u64) {
        self.0.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        self.0.set_prefix(label);
        self.0.set_length(total);
        self.0.set_position(0);
    }

    /// A spinner for a step with no count.
    pub fn wait(&self, label: &'static str) {
        self.0
            .set_style(ProgressStyle::with_template("{prefix:>14} {spinner} {elapsed}").expect("a valid template"));
        self.0.set_prefix(label);
        self.0.enable_steady_tick(std::time::Duration::from_millis(120));
    }

    pub fn inc(&self) {
        self.0.inc(1);
    }

    pub fn done(&self) {
        self.0.finish_and_clear();
    }
}

/// An error ends the run with a bar on screen: clear it so the error line stands alone.
impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
