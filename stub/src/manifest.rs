//! `.wheelsfx/manifest.json`: what the artifact holds and how to check it.

use crate::digest::entries_digest;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Payload format version ([`crate::layout::FORMAT_VERSION`]).
    pub format: u32,
    pub app: App,
    /// Seconds since the epoch: SOURCE_DATE_EPOCH when set, else the build time.
    pub created: u64,
    /// `wheelsfx X.Y.Z` that wrote the payload.
    pub packer: String,
    pub target: Target,
    pub wheels: Vec<Wheel>,
    pub bootstrap_wheels: Vec<Wheel>,
    /// Every entry but the manifest, in payload order.
    pub entries: Vec<Entry>,
    /// [`entries_digest`] over `entries`.
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct App {
    /// The project tree's directory name: extracted to `DEST/<name>`, put on sys.path by
    /// `<name>.pth`.
    pub name: String,
    pub build_id: Option<String>,
}

/// The Python the wheels were chosen for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Target {
    /// `X.Y` versions the wheel set was built for (from cpXY tags or the packer's `--python`);
    /// the stub tries `pythonX.Y` for each before plain `python3`.
    pub python_versions: Vec<String>,
    /// Every distinct tag over all wheels.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Wheel {
    /// Entry name inside the payload (`wheels/NAME.whl`).
    pub file: String,
    pub distribution: String,
    pub version: String,
    /// Expanded tags, `py-abi-platform` each.
    pub tags: Vec<String>,
    pub requires_python: Option<String>,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// Unix permission bits (0644 or 0755); setuid/setgid/sticky are never honoured.
    pub mode: u32,
}

impl Manifest {
    pub fn compute_digest(entries: &[Entry]) -> String {
        entries_digest(entries.iter().map(|e| (e.path.as_str(), e.sha256.as_str(), e.size)))
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// Checks the manifest against itself: the format is one this stub reads, the digest
    /// matches the entry list, and every wheel is an entry with the same hash and size.
    pub fn check_consistent(&self) -> Result<(), String> {
        if self.format > crate::layout::FORMAT_VERSION {
            return Err(format!(
                "payload format {} is newer than this stub reads ({})",
                self.format,
                crate::layout::FORMAT_VERSION
            ));
        }
        if Self::compute_digest(&self.entries) != self.digest {
            return Err("the digest over all entries does not match the entry list".into());
        }
        for w in self.wheels.iter().chain(&self.bootstrap_wheels) {
            match self.entry(&w.file) {
                Some(e) if e.sha256 == w.sha256 && e.size == w.size => {}
                _ => return Err(format!("wheel {} is not listed as an entry with its hash", w.file)),
            }
        }
        Ok(())
    }
}
