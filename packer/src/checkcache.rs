//! The check cache: wheels whose every file already matched its RECORD, by the wheel's sha256.
//!
//! [`wheel::check`] is [`wheel::plan`] (dist-info, WHEEL, RECORD, entry points, destinations:
//! what depends on the app and the expected name) plus inflating and hashing every file
//! against its RECORD line, which depends on nothing but the wheel's bytes and is most of a
//! build's time. So once a wheel has passed in full, a later build of the very same bytes runs
//! only `plan` and takes the rest of the verdict from here: one small file per wheel,
//! `checked/<sha256 hex>`, holding the identity of the validator that passed it ([`identity`]:
//! the packer's version and [`wheel::RULES`]), so a packer with other rules checks again.
//!
//! Why it is safe: the key is the sha256 of the exact bytes the build packs (the same hash
//! the manifest records), so an entry speaks for those bytes only. An entry is written only
//! after a full check passed. A planted entry (anyone who can write the user's cache) can at
//! worst let a wheel whose files do not match its RECORD into an artifact; the stub still
//! refuses it at deploy, before anything is committed: the native installer hashes every file
//! against its RECORD line as it inflates it (a file another wheel overwrites included), the
//! pip installer runs the full [`wheel::check`] on every chosen wheel before pip starts, and
//! `--verify` runs it on every wheel. An unreadable or unwritable cache is no cache, never an
//! error.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use wheelsfx_payload::wheel;

/// The user's cache directory: `$XDG_CACHE_HOME`, else `~/.cache`.
pub fn cache_root() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
}

/// What an entry holds: the validator that passed the wheel.
fn identity() -> String {
    format!("wheelsfx {} rules {}\n", env!("CARGO_PKG_VERSION"), wheel::RULES)
}

pub struct CheckCache {
    /// None: every wheel is checked in full and nothing is recorded.
    dir: Option<PathBuf>,
}

impl CheckCache {
    /// The cache under the user's cache directory, or none (`--no-check-cache`, no HOME).
    pub fn open(enabled: bool) -> CheckCache {
        let dir = cache_root().filter(|_| enabled).map(|r| r.join("wheelsfx/checked"));
        CheckCache { dir }
    }

    #[cfg(test)]
    fn in_dir(dir: &Path) -> CheckCache {
        CheckCache {
            dir: Some(dir.to_path_buf()),
        }
    }

    /// The entry's path for a wheel's sha256 (hex), or None when there is no cache.
    fn entry(&self, sha256: &str) -> Option<PathBuf> {
        let hex = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        self.dir.as_ref().filter(|_| hex).map(|d| d.join(sha256))
    }

    /// Whether this packer's rules already passed the wheel with this sha256 in full.
    pub fn knows(&self, sha256: &str) -> bool {
        let Some(path) = self.entry(sha256) else { return false };
        let mut text = String::new();
        let read = std::fs::File::open(path).and_then(|f| f.take(256).read_to_string(&mut text));
        read.is_ok() && text == identity()
    }

    /// Records that the wheel with this sha256 passed a full check: a temporary file renamed
    /// into place, so a reader never sees half an entry. Failing is silent (no cache).
    pub fn record(&self, sha256: &str) {
        let Some(path) = self.entry(sha256) else { return };
        let tmp = path.with_file_name(format!(".{sha256}.{}.tmp", std::process::id()));
        if write_new(&tmp).and_then(|_| std::fs::rename(&tmp, &path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// The identity in a new file at `tmp` (its directory made first).
fn write_new(tmp: &Path) -> std::io::Result<()> {
    if let Some(dir) = tmp.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::File::options().write(true).create_new(true).open(tmp)?;
    f.write_all(identity().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::{identity, CheckCache};

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_recorded_wheel_is_known_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CheckCache::in_dir(&dir.path().join("wheelsfx/checked"));
        assert!(!cache.knows(SHA));
        cache.record(SHA);
        assert!(cache.knows(SHA));
        assert!(!cache.knows(&SHA.replace('9', "8")));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("wheelsfx/checked"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [SHA], "one entry, no temporary file left");
    }

    #[test]
    fn an_entry_by_other_rules_or_damaged_is_not_known() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CheckCache::in_dir(dir.path());
        for other in ["wheelsfx 0.0.1 rules 1\n", "", "x", &identity().repeat(2)] {
            std::fs::write(dir.path().join(SHA), other).unwrap();
            assert!(!cache.knows(SHA), "{other:?}");
        }
        cache.record(SHA); // a stale entry is replaced
        assert!(cache.knows(SHA));
    }

    #[test]
    fn no_cache_and_a_broken_cache_are_no_cache() {
        let none = CheckCache { dir: None };
        none.record(SHA);
        assert!(!none.knows(SHA));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let broken = CheckCache::in_dir(&file.join("checked"));
        broken.record(SHA);
        assert!(!broken.knows(SHA));
    }

    #[test]
    fn only_a_sha256_names_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CheckCache::in_dir(dir.path());
        for bad in ["../x", "", &SHA[..63], &format!("{}/", &SHA[..63])] {
            cache.record(bad);
            assert!(!cache.knows(bad));
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
