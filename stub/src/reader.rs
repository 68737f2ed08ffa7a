//! Opening a payload: find the zip in an artifact, read and check the manifest, check that the
//! zip's entry list is exactly the manifest's, and stream entries while verifying them.

use crate::digest::{artifact_digest, ranges_sha256, HashingReader};
use crate::layout::{DIGEST_COMMENT_LEN, DIGEST_PREFIX, MANIFEST};
use crate::limits::{check_regular, Limits};
use crate::manifest::{Entry, Manifest, Wheel};
use crate::signature::{self, PublicKey, Signature, Verdict};
use crate::slice::FileSlice;
use crate::wheel::{self, Expect};
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
    /// The artifact is intact but its signature is not one this machine trusts.
    Untrusted(String),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::Corrupt(m) | PayloadError::Io(m) | PayloadError::Untrusted(m) => f.write_str(m),
        }
    }
}

pub struct Payload {
    pub path: PathBuf,
    pub manifest: Manifest,
    archive: ZipArchive<File>,
    /// Stored entries, found (and hashed) by `open`: (manifest index, data start, size).
    stored: Vec<(usize, u64, u64)>,
    /// `wheelsfx-sha256:<hex>`: what an embedded signature signs.
    digest_line: String,
    /// Where the zip payload starts: the bytes before it are the stub.
    payload_start: u64,
    signature: Option<Signature>,
}

impl Payload {
    /// Opens the artifact at `path` and verifies it: every byte against the digest it ends
    /// with, stored entries (wheels) against the manifest in the same read, the zip's entry
    /// list against the manifest. Deflated entries are checked as they are streamed.
    pub fn open(path: &Path, limits: &Limits) -> Result<Payload, PayloadError> {
        let file = File::open(path)
            .map_err(|e| PayloadError::Io(format!("cannot open the artifact {}: {e}", path.display())))?;
        let trailer = read_trailer(&file).map_err(|m| corrupt(path, &m))?;
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
            .all(|&(start, size)| start.checked_add(size).is_some_and(|end| end <= trailer.covered));
        let ranges = if inside { ranges } else { Vec::new() };
        let (have, hashes) = rayon::join(
            || artifact_digest(&file, trailer.covered),
            || ranges_sha256(&file, &ranges),
        );
        let read_err = |e: io::Error| PayloadError::Io(format!("cannot read the artifact {}: {e}", path.display()));
        let (have, hashes) = (have.map_err(read_err)?, hashes.map_err(read_err)?);
        if have != trailer.digest {
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
            payload_start,
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
        let digest_line = format!("{DIGEST_PREFIX}{have}");
        let signature = trailer
            .signature
            .map(|block| Signature::from_block(&block, &digest_line))
            .transpose()
            .map_err(|m| corrupt(path, &m))?;
        Ok(Payload {
            path: path.to_path_buf(),
            manifest,
            archive,
            stored,
            digest_line,
            payload_start,
            signature,
        })
    }

    /// The sha256 hex the artifact ends with (its trailer digest, over the whole file): the
    /// artifact's identity, which a release's receipt records.
    pub fn artifact_digest(&self) -> &str {
        &self.digest_line[DIGEST_PREFIX.len()..]
    }

    /// How many bytes at the head of the artifact are the stub: everything before the zip's
    /// first entry (the manifest; offsets are absolute, so nothing of the zip comes earlier).
    pub fn stub_len(&self) -> u64 {
        self.payload_start
    }

    /// Checks the embedded signature against the `trusted` keys (see [`signature::check`]):
    /// with any trusted key, an unsigned artifact or one not signed by a trusted key is refused.
    pub fn check_signature(&self, trusted: &[PublicKey]) -> Result<Verdict, PayloadError> {
        signature::check(self.signature.as_ref(), self.digest_line.as_bytes(), trusted)
            .map_err(|m| PayloadError::Untrusted(format!("the artifact {} {m}", self.path.display())))
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
    pub fn verify_all(&mut self, limits: &Limits) -> Result<(usize, u64), PayloadError> {
        let entries = self.manifest.entries.clone();
        for entry in &entries {
            self.copy_verified(entry, &mut io::sink())?;
        }
        let file = std::sync::Arc::new(File::open(&self.path).map_err(|e| PayloadError::Io(e.to_string()))?);
        let wheels: Vec<Wheel> = self
            .manifest
            .wheels
            .iter()
            .chain(&self.manifest.bootstrap_wheels)
            .cloned()
            .collect();
        for w in wheels {
            let Some((start, len)) = self.stored_range(&w.file) else {
                return Err(corrupt(
                    &self.path,
                    &format!("wheel {} is compressed; wheels must be stored", w.file),
                ));
            };
            let want = Expect {
                distribution: &w.distribution,
                version: &w.version,
                app: &self.manifest.app.name,
            };
            let checked = ZipArchive::new(FileSlice::new(file.clone(), start, len))
                .map_err(|e| format!("is not a readable zip ({e})"))
                .and_then(|mut zip| wheel::check(&mut zip, &want, limits));
            checked.map_err(|m| corrupt(&self.path, &format!("wheel {} {m}", w.file)))?;
        }
        Ok((entries.len(), entries.iter().map(|e| e.size).sum()))
    }

    /// Where an entry's (possibly deflated) bytes lie in the artifact, so the installer's
    /// threads can inflate it in place (its sha256 is checked against the manifest by them).
    pub fn raw_entry(&mut self, name: &str) -> Option<crate::wheel::Raw> {
        let e = self.archive.by_name_raw(name.as_bytes()).ok()?;
        Some(crate::wheel::Raw {
            data_start: e.data_start()?,
            compressed: e.compressed_size(),
            size: e.size(),
            deflated: e.compression() == zip::CompressionMethod::Deflated,
            crc32: e.crc32(),
        })
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

/// What an artifact ends with: the digest, how many bytes it covers, and the signature block
/// after it, if signed.
struct Trailer {
    digest: String,
    covered: u64,
    signature: Option<Vec<u8>>,
}

/// Reads the trailer. The artifact must end with the zip's end-of-central-directory record
/// and the digest comment, optionally followed by a signature block of fixed length;
/// anything else means it was cut short or had data appended (and a zip reader scanning
/// back from a truncated file could settle on the directory of a wheel stored inside).
fn read_trailer(file: &File) -> Result<Trailer, String> {
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read its size ({e})"))?
        .len();
    if len < EOCD_LEN + DIGEST_COMMENT_LEN as u64 {
        return Err("it is too short to hold a payload (truncated or damaged)".into());
    }
    [signature::BLOCK_LEN, 0]
        .into_iter()
        .find_map(|block| trailer_with(file, len, block))
        .ok_or_else(|| {
            "it does not end with its payload's directory and digest: it is truncated or damaged, or has data appended"
                .into()
        })
}

const EOCD_LEN: u64 = 22;

/// The trailer, if the file ends with an EOCD whose comment is the digest followed by a
/// `block`-byte signature block (0: unsigned) and nothing else.
fn trailer_with(file: &File, len: u64, block: usize) -> Option<Trailer> {
    let comment = DIGEST_COMMENT_LEN + block;
    let start = len.checked_sub(EOCD_LEN + comment as u64)?;
    let mut tail = vec![0u8; EOCD_LEN as usize + comment];
    file.read_exact_at(&mut tail, start).ok()?;
    let (eocd, rest) = tail.split_at(EOCD_LEN as usize);
    let (digest, signature) = rest.split_at(DIGEST_COMMENT_LEN);
    let comment_len = u16::from_le_bytes([eocd[20], eocd[21]]) as usize;
    let digest = std::str::from_utf8(digest).ok()?.strip_prefix(DIGEST_PREFIX)?;
    (eocd[..4] == [0x50, 0x4b, 0x05, 0x06] && comment_len == comment).then(|| Trailer {
        digest: digest.to_string(),
        covered: len - block as u64 - 64,
        signature: (block > 0).then(|| signature.to_vec()),
    })
}

/// The zip, its manifest, the stored entries: (manifest index, data start, size), and
/// where the zip's first entry starts.
struct Parsed {
    archive: ZipArchive<File>,
    manifest: Manifest,
    stored: Vec<(usize, u64, u64)>,
    payload_start: u64,
}

fn parse(file: File, limits: &Limits) -> Result<Parsed, String> {
    let mut archive = ZipArchive::new(file).map_err(|e| format!("it has no readable zip payload ({e})"))?;
    let manifest = read_manifest(&mut archive)?;
    manifest.check_consistent()?;
    let stored = check_entries(&mut archive, &manifest, limits)?;
    let payload_start = archive
        .by_index_raw(0)
        .map_err(|e| format!("its first entry cannot be read ({e})"))?
        .header_start();
    Ok(Parsed {
        archive,
        manifest,
        stored,
        payload_start,
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
