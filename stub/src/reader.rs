//! Opening a payload: find the zip in an artifact, read and check the manifest, check that the
//! zip's entry list is exactly the manifest's, and stream entries while verifying them.

use crate::digest::{artifact_digest, ranges_sha256, HashingReader};
use crate::layout::{DIGEST_COMMENT_LEN, DIGEST_PREFIX, MANIFEST};
use crate::limits::{check_regular, Limits};
use crate::manifest::{Entry, Manifest};
use crate::record::verify_wheel;
use crate::slice::FileSlice;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use zip::ZipArchive;

/// The largest manifest a stub will parse (a real one is a few hundred KiB).
const MANIFEST_LIMIT: u64 = 64 << 20;

/// Why a payload cannot be used: the artifact is damaged, or reading/writing failed.
#[derive(Debug)]
pub enum PayloadError {
    /// The artifact is not a wheelsfx artifact, or is corrupt, truncated or tampered with.
    Corrupt(String),
    /// Reading the artifact or writing the destination failed (disk full, permissions).
    Io(String),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::Corrupt(m) | PayloadError::Io(m) => f.write_str(m),
        }
    }
}

pub struct Payload {
    pub path: PathBuf,
    pub manifest: Manifest,
    archive: ZipArchive<File>,
    /// Stored entries, found (and hashed) by `open`: (manifest index, data start, size).
    stored: Vec<(usize, u64, u64)>,
}

impl Payload {
    /// Opens the artifact at `path` and verifies it: every byte against the digest it ends
    /// with, stored entries (wheels) against the manifest in the same read, the zip's entry
    /// list against the manifest. Deflated entries are checked as they are streamed.
    pub fn open(path: &Path, limits: &Limits) -> Result<Payload, PayloadError> {
        let file = File::open(path)
            .map_err(|e| PayloadError::Io(format!("cannot open the artifact {}: {e}", path.display())))?;
        let (len, want) = read_trailer(&file).map_err(|m| corrupt(path, &m))?;
        // Parse first to learn where the stored entries lie, but judge a parse error only
        // after the digest: a damaged file is then reported as damaged.
        let parsed = file
            .try_clone()
            .map_err(|e| e.to_string())
            .and_then(|f| parse(f, limits));
        let ranges: Vec<(u64, u64)> = parsed
            .as_ref()
            .map(|p| p.stored.iter().map(|s| (s.1, s.2)).collect())
            .unwrap_or_default();
        // A stored entry whose sizes run past the end is damage, judged after the digest.
        let inside = ranges
            .iter()
            .all(|&(start, size)| start.checked_add(size).is_some_and(|end| end <= len));
        let ranges = if inside { ranges } else { Vec::new() };
        let (have, hashes) = rayon::join(|| artifact_digest(&file, len - 64), || ranges_sha256(&file, &ranges));
        let read_err = |e: io::Error| PayloadError::Io(format!("cannot read the artifact {}: {e}", path.display()));
        let (have, hashes) = (have.map_err(read_err)?, hashes.map_err(read_err)?);
        if have != want {
            return Err(corrupt(
                path,
                "its bytes do not match the sha256 it ends with: it is corrupt or has been tampered with",
            ));
        }
        if !inside {
            return Err(corrupt(path, "a stored entry's sizes run past the end of the artifact"));
        }
        let Parsed {
            archive,
            manifest,
            stored,
        } = parsed.map_err(|m| corrupt(path, &m))?;
        for ((index, _, _), sha) in stored.iter().zip(hashes) {
            let entry = &manifest.entries[*index];
            if entry.sha256 != sha {
                return Err(corrupt(
                    path,
                    &format!("entry {} does not match its sha256 in the manifest", entry.path),
                ));
            }
        }
        Ok(Payload {
            path: path.to_path_buf(),
            manifest,
            archive,
            stored,
        })
    }

    /// Streams `entry` (uncompressed) into `out`, checking its size and sha256 as it goes.
    /// On a mismatch `out` has received unverified bytes: callers write only into staging.
    pub fn copy_verified(&mut self, entry: &Entry, out: &mut dyn Write) -> Result<(), PayloadError> {
        let file = self
            .archive
            .by_name(&entry.path)
            .map_err(|e| corrupt(&self.path, &format!("entry {} cannot be read: {e}", entry.path)))?;
        // One byte past the declared size reveals an entry that lies about its size.
        let mut reader = HashingReader::new(file.take(entry.size + 1));
        if let Err(e) = io::copy(&mut reader, out) {
            return Err(classify(&self.path, &entry.path, e));
        }
        let (sha, size) = reader.finish();
        if size != entry.size || sha != entry.sha256 {
            return Err(corrupt(
                &self.path,
                &format!("entry {} does not match its sha256/size in the manifest", entry.path),
            ));
        }
        Ok(())
    }

    /// Checks every entry against the manifest and every file of every wheel against the
    /// wheel's RECORD, writing nothing; returns the number of entries and bytes checked.
    pub fn verify_all(&mut self) -> Result<(usize, u64), PayloadError> {
        let entries = self.manifest.entries.clone();
        for entry in &entries {
            self.copy_verified(entry, &mut io::sink())?;
        }
        let file = std::sync::Arc::new(File::open(&self.path).map_err(|e| PayloadError::Io(e.to_string()))?);
        let wheels: Vec<String> = self
            .manifest
            .wheels
            .iter()
            .chain(&self.manifest.bootstrap_wheels)
            .map(|w| w.file.clone())
            .collect();
        for name in wheels {
            let Some((start, len)) = self.stored_range(&name) else {
                return Err(corrupt(
                    &self.path,
                    &format!("wheel {name} is compressed; wheels must be stored"),
                ));
            };
            let checked = ZipArchive::new(FileSlice::new(file.clone(), start, len))
                .map_err(|e| format!("it is not a readable zip ({e})"))
                .and_then(|mut wheel| verify_wheel(&mut wheel));
            checked.map_err(|m| corrupt(&self.path, &format!("wheel {name}: {m}")))?;
        }
        Ok((entries.len(), entries.iter().map(|e| e.size).sum()))
    }

    /// Where a stored (uncompressed) entry's bytes lie in the artifact, to read a wheel in
    /// place without a copy: known from `open`. None when the entry is compressed or absent.
    pub fn stored_range(&self, name: &str) -> Option<(u64, u64)> {
        let index = self.manifest.entries.iter().position(|e| e.path == name)?;
        self.stored
            .iter()
            .find(|s| s.0 == index)
            .map(|&(_, start, size)| (start, size))
    }
}

/// An I/O error while copying: a zip-level error (bad CRC, bad deflate) is corruption,
/// anything else is the destination failing.
fn classify(path: &Path, entry: &str, e: io::Error) -> PayloadError {
    if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(path, &format!("entry {entry} is damaged ({e})"))
    } else {
        PayloadError::Io(format!("writing entry {entry} failed: {e}"))
    }
}

fn corrupt(path: &Path, msg: &str) -> PayloadError {
    PayloadError::Corrupt(format!(
        "{} is not a valid wheelsfx artifact: {msg}; download or rebuild it",
        path.display()
    ))
}

/// The artifact's length and the digest it ends with. It must end with the zip's
/// end-of-central-directory record and the digest comment; anything else means it was cut
/// short or had data appended (and a zip reader scanning back from a truncated file could
/// settle on the directory of a wheel stored inside).
fn read_trailer(file: &File) -> Result<(u64, String), String> {
    const EOCD_LEN: u64 = 22;
    let comment = DIGEST_COMMENT_LEN as u64;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read its size ({e})"))?
        .len();
    let mut tail = vec![0u8; (EOCD_LEN + comment) as usize];
    if len < EOCD_LEN + comment || file.read_exact_at(&mut tail, len - EOCD_LEN - comment).is_err() {
        return Err("it is too short to hold a payload (truncated or damaged)".into());
    }
    let (eocd, digest) = tail.split_at(EOCD_LEN as usize);
    let comment_len = u16::from_le_bytes([eocd[20], eocd[21]]) as usize;
    let digest = std::str::from_utf8(digest)
        .ok()
        .and_then(|d| d.strip_prefix(DIGEST_PREFIX));
    match digest {
        Some(d) if eocd[..4] == [0x50, 0x4b, 0x05, 0x06] && comment_len == DIGEST_COMMENT_LEN => {
            Ok((len, d.to_string()))
        }
        _ => Err(
            "it does not end with its payload's directory and digest: it is truncated or damaged, or has data appended"
                .into(),
        ),
    }
}

/// The zip, its manifest, and the stored entries: (manifest index, data start, size).
struct Parsed {
    archive: ZipArchive<File>,
    manifest: Manifest,
    stored: Vec<(usize, u64, u64)>,
}

fn parse(file: File, limits: &Limits) -> Result<Parsed, String> {
    let mut archive = ZipArchive::new(file).map_err(|e| format!("it has no readable zip payload ({e})"))?;
    let manifest = read_manifest(&mut archive)?;
    manifest.check_consistent()?;
    let stored = check_entries(&mut archive, &manifest, limits)?;
    Ok(Parsed {
        archive,
        manifest,
        stored,
    })
}

fn read_manifest(archive: &mut ZipArchive<File>) -> Result<Manifest, String> {
    let mut first = archive
        .by_index(0)
        .map_err(|e| format!("its first entry cannot be read ({e})"))?;
    if first.name_raw() != MANIFEST.as_bytes() {
        return Err(format!("its first entry is not {MANIFEST}"));
    }
    let mut text = Vec::new();
    (&mut first)
        .take(MANIFEST_LIMIT)
        .read_to_end(&mut text)
        .map_err(|e| format!("{MANIFEST} cannot be read ({e})"))?;
    serde_json::from_slice(&text).map_err(|e| format!("{MANIFEST} is not a valid manifest ({e})"))
}

/// The zip must hold exactly the manifest's entries, in order, as regular files with safe
/// names and the declared sizes: anything extra, missing or odd is refused up front.
/// Returns the stored entries (manifest index, data start, size), to be hashed in place.
fn check_entries(
    archive: &mut ZipArchive<File>,
    m: &Manifest,
    limits: &Limits,
) -> Result<Vec<(usize, u64, u64)>, String> {
    limits.check_total(m.entries.iter().map(|e| e.size).sum())?;
    if archive.has_duplicate_names() {
        return Err("it has two entries with the same name".into());
    }
    if archive.len() != m.entries.len() + 1 {
        return Err(format!(
            "the zip has {} entries but the manifest lists {}",
            archive.len() - 1,
            m.entries.len()
        ));
    }
    let mut stored = Vec::new();
    for (i, entry) in m.entries.iter().enumerate() {
        let file = archive
            .by_index_raw(i + 1)
            .map_err(|e| format!("entry {} cannot be read ({e})", i + 1))?;
        let name = std::str::from_utf8(file.name_raw())
            .map_err(|_| format!("entry {} has a name that is not UTF-8", i + 1))?;
        if name != entry.path {
            return Err(format!(
                "entry {} is {name:?} but the manifest lists {:?} there",
                i + 1,
                entry.path
            ));
        }
        if !file.is_file() || file.is_symlink() {
            return Err(format!("entry {name} is not a regular file"));
        }
        check_regular(name, file.unix_mode())?;
        limits.check_ratio(&format!("entry {name}"), file.size(), file.compressed_size())?;
        if file.compression() == zip::CompressionMethod::Stored {
            let start = file.data_start().ok_or_else(|| format!("entry {name} has no data"))?;
            stored.push((i, start, file.size()));
        }
        if file.size() != entry.size {
            return Err(format!(
                "entry {name} declares {} bytes but the manifest says {}",
                file.size(),
                entry.size
            ));
        }
    }
    Ok(stored)
}
