//! `.wheelsfx/manifest.json`: what the artifact holds and how to check it.

use crate::digest::entries_digest;
use crate::layout::{
    self, check_cache_tag, check_entry_name, check_link_paths, classify, Pyc, PycOwner, BOOTSTRAP_DIR, BYTECODE_DIR,
    WHEELS_DIR,
};
use crate::names::{check_app_name, check_command, check_distribution, check_version, quoted};
use crate::wheelname::normalize;
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
    /// Hooks declared at build time (`--post-install`): shell commands the stub runs in
    /// `DEST/<app>` after the install, before any `--run` ones. Omitted when empty, so
    /// artifacts without hooks keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_install: Vec<String>,
    /// Paths of the release linked to the shared directory (`--link-shared`), as
    /// [`crate::layout::check_link_path`] allows them. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_shared: Vec<String>,
    /// The bytecode compiled at build time, one record per interpreter (cache tag); its pycs
    /// are the `bytecode/<cache_tag>/...` entries. Omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bytecode: Vec<Bytecode>,
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
    /// The lowest interpreter `X.Y.Z` any set accepts (every wheel's Requires-Python met);
    /// shown by `--inspect` and named in the stub's refusal. Omitted when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_python: Option<String>,
    /// The glibc `X.Y` the wheels need (the highest manylinux floor over the sets); omitted
    /// when no wheel is tied to a glibc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
    /// One wheel set per exact target the packer built for (`--target-python`, or the
    /// interpreter pip ran with). When present, the stub installs only the wheels of the set
    /// made for the chosen interpreter's X.Y. Omitted when the build named no target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<TargetSet>,
}

/// The wheels chosen for one exact target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TargetSet {
    /// The exact version built for, `X.Y.Z` (`--target-python`).
    pub python: String,
    /// Platform tags the wheels were fetched for (`--platform`); empty: the build machine's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// The lowest `X.Y.Z` of this X.Y that every wheel of the set accepts.
    pub min_python: String,
    /// The glibc `X.Y` this set needs, if any wheel is tied to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc: Option<String>,
    /// Payload paths (`wheels/NAME.whl`) of the set, each one of `Manifest::wheels`; the
    /// bootstrap wheels are shared by every set.
    pub wheels: Vec<String>,
}

impl TargetSet {
    /// `[X, Y, Z]` of `python` (checked by [`Manifest::check_consistent`]).
    pub fn version(&self) -> [u32; 3] {
        parse_xyz(&self.python).unwrap_or([0, 0, 0])
    }
}

/// `X.Y.Z` (or `X.Y`, read as `X.Y.0`) as three numbers.
pub fn parse_xyz(text: &str) -> Option<[u32; 3]> {
    let parts: Vec<&str> = text.split('.').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse().ok());
    Some([n(0)?, n(1)?, n(2)?])
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

impl Wheel {
    /// The file name without the payload directory (see [`layout::wheel_file_name`]).
    pub fn file_name(&self) -> &str {
        layout::wheel_file_name(&self.file)
    }
}

/// Pycs compiled at build time by one interpreter: the stub installs them only for an
/// interpreter of the same cache tag and magic number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Bytecode {
    /// `sys.implementation.cache_tag`, e.g. `cpython-311`.
    pub cache_tag: String,
    /// `importlib.util.MAGIC_NUMBER` in hex, e.g. `a70d0d0a`.
    pub magic: String,
    /// The compiling interpreter's `X.Y.Z`.
    pub python: String,
    /// `checked-hash`: no mtime in the pyc, the source's hash checked at import.
    pub invalidation: String,
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
        check_app_name(&self.app.name)?;
        self.check_target()?;
        for e in &self.entries {
            check_sha256(&e.sha256).map_err(|m| format!("entry {}: {m}", quoted(&e.path)))?;
            check_entry_name(&e.path).map_err(|why| format!("entry {} {why}", quoted(&e.path)))?;
            classify(&e.path, &self.app.name).map_err(|why| format!("entry {} {why}", quoted(&e.path)))?;
        }
        for (list, dir) in [(&self.wheels, WHEELS_DIR), (&self.bootstrap_wheels, BOOTSTRAP_DIR)] {
            for w in list {
                check_wheel(w, dir).map_err(|m| format!("wheel {}: {m}", quoted(&w.file)))?;
                match self.entry(&w.file) {
                    Some(e) if e.sha256 == w.sha256 && e.size == w.size => {}
                    _ => {
                        return Err(format!(
                            "wheel {} is not listed as an entry with its hash",
                            quoted(&w.file)
                        ))
                    }
                }
            }
        }
        self.check_one_home()?;
        self.check_bytecode()?;
        self.check_deploy_steps()
    }

    /// Each bytecode record names a plain cache tag once and a 4-byte magic; each pyc entry
    /// belongs to a record and to a `.py` the artifact installs: a wheel it carries (whose
    /// plan the installer matches it against) or an app tree file.
    fn check_bytecode(&self) -> Result<(), String> {
        for (i, b) in self.bytecode.iter().enumerate() {
            check_cache_tag(&b.cache_tag).map_err(|why| format!("bytecode {}: {why}", quoted(&b.cache_tag)))?;
            let hex = b.magic.len() == 8 && b.magic.bytes().all(|c| c.is_ascii_hexdigit());
            if !hex || self.bytecode[..i].iter().any(|o| o.cache_tag == b.cache_tag) {
                return Err(format!(
                    "bytecode {}: a bad magic or a second record",
                    quoted(&b.cache_tag)
                ));
            }
        }
        let wheel = |file: &str| {
            self.wheels
                .iter()
                .chain(&self.bootstrap_wheels)
                .any(|w| w.file_name() == file)
        };
        let paths: std::collections::HashSet<&str> = self.entries.iter().map(|e| e.path.as_str()).collect();
        for e in self.entries.iter().filter(|e| e.path.starts_with(BYTECODE_DIR)) {
            let Ok(pyc) = Pyc::parse(&e.path) else { continue };
            let known = self.bytecode.iter().any(|b| b.cache_tag == pyc.cache_tag);
            let owned = match pyc.owner {
                PycOwner::Wheel(file) => wheel(file),
                PycOwner::App => pyc
                    .source()
                    .is_some_and(|src| paths.contains(format!("{}/{src}", self.app.name).as_str())),
            };
            if !known || !owned {
                return Err(format!(
                    "bytecode entry {} has no bytecode record or no source in the artifact",
                    quoted(&e.path)
                ));
            }
        }
        Ok(())
    }

    /// The hooks become `/bin/sh -c` commands and the shared paths symlinks in the release:
    /// checked like every other string the stub acts on.
    fn check_deploy_steps(&self) -> Result<(), String> {
        for cmd in &self.post_install {
            check_command(cmd).map_err(|why| format!("post_install: {why}"))?;
        }
        check_link_paths(&self.link_shared).map_err(|why| format!("link_shared: {why}"))
    }

    /// Target versions become candidate names (`pythonX.Y`) the stub runs: `3.N` only, a few.
    fn check_target(&self) -> Result<(), String> {
        let versions = &self.target.python_versions;
        let plain = |v: &String| {
            v.split_once('.').is_some_and(|(a, b)| {
                a == "3" && !b.is_empty() && b.len() <= 3 && b.bytes().all(|c| c.is_ascii_digit())
            })
        };
        match versions.iter().find(|v| !plain(v)) {
            Some(bad) => Err(format!("the target Python version {} is not 3.N", quoted(bad))),
            None if versions.len() > 32 => Err(format!("it targets {} Python versions; at most 32", versions.len())),
            None => self.check_sets(),
        }
    }

    /// Each set names an exact version and only wheels the manifest lists.
    fn check_sets(&self) -> Result<(), String> {
        let t = &self.target;
        for v in t
            .min_python
            .iter()
            .chain(t.sets.iter().flat_map(|s| [&s.python, &s.min_python]))
        {
            parse_xyz(v).ok_or_else(|| format!("the target Python version {} is not X.Y.Z", quoted(v)))?;
        }
        for set in &t.sets {
            if let Some(w) = set.wheels.iter().find(|w| !self.wheels.iter().any(|m| &m.file == *w)) {
                return Err(format!(
                    "the wheel set for Python {} names {}, which is not one of the artifact's wheels",
                    quoted(&set.python),
                    quoted(w)
                ));
            }
        }
        Ok(())
    }

    /// A distribution is either the project's or a bootstrap one: two copies would be two
    /// versions installed over each other.
    fn check_one_home(&self) -> Result<(), String> {
        for b in &self.bootstrap_wheels {
            if let Some(w) = self
                .wheels
                .iter()
                .find(|w| normalize(&w.distribution) == normalize(&b.distribution))
            {
                return Err(format!(
                    "{} is both in wheels/ ({}) and in bootstrap_wheels/ ({}); an artifact carries one wheel per distribution",
                    b.distribution, w.file, b.file
                ));
            }
        }
        Ok(())
    }
}

/// A manifest wheel: its entry in the right folder, its strings valid as what they are.
fn check_wheel(w: &Wheel, dir: &str) -> Result<(), String> {
    if !w.file.starts_with(dir) {
        return Err(format!("a wheel listed here must be in {dir}"));
    }
    check_distribution(&w.distribution)?;
    check_version(&w.version)?;
    check_sha256(&w.sha256)
}

fn check_sha256(hex: &str) -> Result<(), String> {
    if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!("the sha256 {} is not 64 lowercase hex digits", quoted(hex)))
    }
}
