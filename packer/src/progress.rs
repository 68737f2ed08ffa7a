//! Build progress on stderr: a bar per step on a terminal (indicatif), one plain line per step
//! otherwise (CI logs), so a log never holds cursor movements. pip prints its own output.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: ProgressBar,
    tty: bool,
}

impl Progress {
    pub fn new() -> Progress {
        let tty = std::io::stderr().is_terminal();
        let bar = ProgressBar::hidden();
        if tty {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Progress { bar, tty }
    }

    /// Counts `total` wheels of the step `label` from now on.
    pub fn start(&self, label: &'static str, total: u64) {
        self.begin(label, total, "wheels", "{pos}/{len}");
    }

    /// Counts `total` bytes of the step `label` from now on.
    pub fn start_bytes(&self, label: &'static str, total: u64) {
        self.begin(label, total, "bytes", "{bytes}/{total_bytes}");
    }

    fn begin(&self, label: &'static str, total: u64, unit: &str, counts: &str) {
        if !self.tty {
            eprintln!("wheelsfx: {label} ({total} {unit})");
            return;
        }
        let template = format!("{{prefix:>10}} [{{bar:30}}] {counts} {{elapsed}}");
        self.bar.set_style(
            ProgressStyle::with_template(&template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        self.bar.set_prefix(label);
        self.bar.set_length(total);
        self.bar.set_position(0);
    }

    pub fn inc(&self) {
        self.bar.inc(1);
    }

    pub fn add(&self, n: u64) {
        self.bar.inc(n);
    }

    pub fn done(&self) {
        self.bar.finish_and_clear();
    }
}

/// An error ends the build with a bar on screen: clear it so the error line stands alone.
impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
