//! Where the release's bytecode comes from: the pycs compiled at build time (installed with
//! the files, no compile workers), the deploy-time compiler, pip, or none. Build-time pycs are
//! used only for an interpreter of the same cache tag and magic number: CPython would reject
//! (and try to rewrite) a pyc of another magic.

use crate::error::Result;
use crate::install::Installer;
use crate::target::Interpreter;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use wheelsfx_payload::layout::{Pyc, PycOwner};
use wheelsfx_payload::manifest::{Entry, Manifest};
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::wheel::Raw;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The artifact's pycs, installed as files.
    Build,
    /// compile.py workers at deploy.
    Deploy,
    /// pip's own compileall (`--installer pip`); the app tree by the workers.
    Pip,
    /// `--no-compile`.
    None,
}

/// The decision, and why build-time bytecode was not used when the artifact has some.
pub struct Decision {
    pub source: Source,
    pub cache_tag: Option<String>,
    pub magic: String,
    pub why_not: Option<String>,
}

pub fn decide(manifest: &Manifest, python: &Interpreter, installer: Installer, no_compile: bool) -> Decision {
    let tag = python.cache_tag.clone();
    let (source, why_not) = match (no_compile, installer, &tag) {
        (true, _, _) | (_, _, None) => (Source::None, None),
        (_, Installer::Pip, _) => (Source::Pip, None),
        (_, Installer::Native, Some(tag)) => match manifest.bytecode.iter().find(|b| &b.cache_tag == tag) {
            Some(b) if b.magic == python.magic => (Source::Build, None),
            Some(b) => (
                Source::Deploy,
                Some(format!(
                    "the artifact's {tag} bytecode has magic {}, this interpreter's is {}",
                    b.magic, python.magic
                )),
            ),
            None if manifest.bytecode.is_empty() => (Source::Deploy, None),
            None => (Source::Deploy, Some(format!("the artifact has no bytecode for {tag}"))),
        },
    };
    Decision {
        source,
        cache_tag: tag,
        magic: python.magic.clone(),
        why_not,
    }
}

impl Decision {
    /// The receipt's (and --dry-run's) `bytecode` object.
    pub fn to_json(&self) -> Value {
        let source = match self.source {
            Source::Build => "build",
            Source::Deploy => "deploy",
            Source::Pip => "pip",
            Source::None => "none",
        };
        json!({"source": source, "cache_tag": self.cache_tag, "magic": self.magic})
    }

    /// The progress line for a fallback to deploy-time compiling.
    pub fn fallback_line(&self) -> Option<String> {
        self.why_not
            .as_ref()
            .map(|why| format!("byte-compiling at deploy: {why}"))
    }

    /// The magic of the build-time pycs this release installs, if any: a source release's own
    /// build-time pycs are linked only when they have it too.
    pub fn build_magic(&self) -> Option<&str> {
        (self.source == Source::Build).then_some(self.magic.as_str())
    }

    /// The cache tag whose build-time pycs get installed, if any.
    pub fn build_tag(&self) -> Option<&str> {
        (self.source == Source::Build).then_some(self.cache_tag.as_deref()?)
    }
}

/// One build-time pyc of a wheel: its path in site-packages, where its bytes lie, and the
/// manifest's sha256 (hex) and size it is checked against as it is inflated.
pub struct WheelPyc {
    pub rel: String,
    pub raw: Raw,
    pub entry: Entry,
}

/// The wheels' pycs for `tag`, by wheel file name, but for those linked with their wheel
/// (skipped by the payload's verification: never read).
pub fn wheel_pycs(payload: &mut Payload, tag: &str) -> Result<BTreeMap<String, Vec<WheelPyc>>> {
    let mut out: BTreeMap<String, Vec<WheelPyc>> = BTreeMap::new();
    let entries = payload.manifest.entries.clone();
    for e in entries {
        let Ok(Pyc {
            cache_tag,
            owner: PycOwner::Wheel(file),
            rel,
        }) = Pyc::parse(&e.path)
        else {
            continue;
        };
        if cache_tag != tag || payload.skipped(&e.path) {
            continue;
        }
        let Some(raw) = payload.raw_entry(&e.path)? else {
            continue;
        };
        let (file, rel) = (file.to_string(), rel.to_string());
        out.entry(file).or_default().push(WheelPyc { rel, raw, entry: e });
    }
    Ok(out)
}
