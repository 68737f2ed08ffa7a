//! Step 7: install the chosen wheels into the venv.

pub mod pip;

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Installer {
    /// `venv/bin/python -m pip install --no-index --no-deps`, after bootstrapping pip.
    Pip,
}
