//! Step 7: install the chosen wheels into the venv.

mod inflate;
pub mod native;
pub mod pip;
mod scripts;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    /// In Rust, in parallel, straight out of the artifact, every file checked against RECORD.
    Native,
    /// `venv/bin/python -m pip install --no-index --no-deps`, after bootstrapping pip.
    Pip,
}
