//! Opening a payload: find the zip in an artifact, read and check the manifest, check that the
//! zip's entry list is exactly the manifest's, and stream entries while verifying them.

use crate::digest::{
    artifact_digest, chunk_count, chunks_sha256, ranges_sha256, root, sha256_from_hex, HashingReader, DIGEST_CHUNK,
};
use crate::layout::{CHUNKS_PREFIX, DIGEST_COMMENT_LEN, DIGEST_PREFIX, MANIFEST};
use crate::limits::{check_regular, Limits};
use crate::manifest::{Entry, Manifest, Wheel};
use crate::signature::{self, PublicKey, Signature, Verdict};
use crate::slice::FileSlice;
use crate::wheel::{self, Expect};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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
    /// An entry was read before `verify_except` verified it, or after it was skipped: a bug
    /// in the caller, refused rather than served unverified.
    Unverified(String),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadError::Corrupt(m)
            | PayloadError::Io(m)
            | PayloadError::Untrusted(m)
            | PayloadError::Unverified(m) => f.write_str(m),
        }
    }
}

pub struct Payload {
    pub path: PathBuf,
    pub manifest: Manifest,
    archive: ZipArchive<File>,
    /// `wheelsfx-sha256:<hex>`: what an embedded signature signs.
    digest_line: String,
    /// Where the zip payload starts: the bytes before it are the stub.
    payload_start: u64,
    signature: Option<Signature>,
    /// The chunks a deferred open left for `verify_except` (none after a full open).
    pending: Option<Pending>,
    /// Set once entries may be read (by `open`, or `verify_except`).
    readable: OnceLock<Verified>,
}

/// What may be read: the verified stored entries (manifest index, data start, size), found
/// in place to be read without a copy, and the entries skipped unverified, never to be read.
struct Verified {
    stored: Vec<(usize, u64, u64)>,
    skipped: HashSet<String>,
}

/// What `open_deferred` has not verified yet, with the index (bound to the digest) to check
/// it against: the chunks it did not hash, and each entry's extent, known from the verified
/// directory: (manifest index, local header start, next entry's header or the directory).
struct Pending {
    index: Vec<[u8; 32]>,
    covered: u64,
    chunks: Vec<u64>,
    hashed: usize,
    extents: Vec<(usize, u64, u64)>,
}

impl Payload {
    /// Opens the artifact at `path` and verifies it: every byte against the digest it ends
    /// with, stored entries (wheels) against the manifest in the same read, the zip's entry
    /// list against the manifest. Deflated entries are checked as they are streamed.
    pub fn open(path: &Path, limits: &Limits) -> Result<Payload, PayloadError> {
        let (file, trailer) = open_trailer(path)?;
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
        let (have, hashes) = (
            have.map_err(|e| read_error(path, e))?,
            hashes.map_err(|e| read_error(path, e))?,
        );
        if have != trailer.digest {
            return Err(damaged(path));
        }
        if !inside {
            return Err(corrupt(path, "a stored entry's sizes run past the end of the artifact"));
        }
        let parsed = parsed.map_err(|m| corrupt(path, &m))?;
        check_stored(path, &parsed.manifest, parsed.stored.iter(), hashes)?;
        let payload = Payload::new(
            path,
            parsed.archive,
            parsed.manifest,
            parsed.payload_start,
            trailer,
            None,
        )?;
        let verified = Verified {
            stored: parsed.stored,
            skipped: HashSet::new(),
        };
        let _ = payload.readable.set(verified);
        Ok(payload)
    }

    /// Opens the artifact at `path` for a deploy, verifying only what every deploy reads:
    /// the chunk index against the digest, then the chunks covering the stub, the manifest
    /// (header and data) and the central directory with the EOCD. The manifest and the
    /// directory (names, order, kinds, sizes) are checked against each other, but no other
    /// local header is read: a skipped wheel's never is. Nothing can be read from it until
    /// [`Payload::verify_except`] has verified the rest. Without an index (an older packer),
    /// or when anything does not parse or is odd (entries not in directory order), this is
    /// [`Payload::open`], which judges damage first.
    pub fn open_deferred(path: &Path, limits: &Limits) -> Result<Payload, PayloadError> {
        let (file, trailer) = open_trailer(path)?;
        let Some(index) = trailer.index.clone() else {
            return Payload::open(path, limits);
        };
        let covered = trailer.covered;
        let head = file
            .try_clone()
            .map_err(|e| e.to_string())
            .and_then(|f| parse_head(f, limits));
        let Some(head) = head.ok().filter(|h| h.directory <= covered) else {
            return Payload::open(path, limits);
        };
        let read = [(0, head.manifest_end), (head.directory, covered - head.directory)];
        let (now, later): (Vec<u64>, Vec<u64>) =
            (0..chunk_count(covered)).partition(|&i| overlaps(chunk_span(i, covered), &read));
        let hashes = chunks_sha256(&file, covered, &now).map_err(|e| read_error(path, e))?;
        if now.iter().zip(hashes).any(|(&i, h)| index[i as usize] != h) {
            return Err(damaged(path));
        }
        let pending = Pending {
            index,
            covered,
            chunks: later,
            hashed: now.len(),
            extents: head.extents,
        };
        Payload::new(
            path,
            head.archive,
            head.manifest,
            head.payload_start,
            trailer,
            Some(pending),
        )
    }

    /// Verifies what `open_deferred` left, except the entries named in `skip` (wheels this
    /// deploy will not read): every remaining chunk not lying entirely inside the skipped
    /// entries' extents (header and data: never read) against the index; then, from those
    /// verified bytes, the other entries' local headers (their data must end inside their
    /// extent) and their stored data against the manifest, in one parallel read. Then entries
    /// may be read, the skipped ones never. Returns how many chunks the deferred open and
    /// this call hashed. Only the first call counts; after a full open it checks nothing.
    pub fn verify_except(&self, skip: &HashSet<String>) -> Result<usize, PayloadError> {
        if self.readable.get().is_some() {
            return Ok(0);
        }
        let pending = self
            .pending
            .as_ref()
            .expect("only a deferred open leaves entries unreadable");
        let name = |i: usize| self.manifest.entries[i].path.as_str();
        let (skipped, kept): (Vec<_>, Vec<_>) = pending.extents.iter().partition(|e| skip.contains(name(e.0)));
        // The skipped extents merged: a chunk may span two adjacent skipped wheels.
        let mut never: Vec<(u64, u64)> = Vec::new();
        for &&(_, start, end) in &skipped {
            match never.last_mut() {
                Some(last) if last.0 + last.1 == start => last.1 = end - last.0,
                _ => never.push((start, end - start)),
            }
        }
        let chunks: Vec<u64> = (pending.chunks.iter().copied())
            .filter(|&i| !within(chunk_span(i, pending.covered), &never))
            .collect();
        let file = File::open(&self.path).map_err(|e| read_error(&self.path, e))?;
        // The kept entries' headers lie in chunks hashed below: judged after the digest.
        let stored = self.kept_stored(&file, &kept);
        let ranges: Vec<(u64, u64)> =
            (stored.as_ref().map(|s| s.iter().map(|s| (s.1, s.2)).collect())).unwrap_or_default();
        let (have, hashes) = rayon::join(
            || chunks_sha256(&file, pending.covered, &chunks),
            || ranges_sha256(&file, &ranges),
        );
        let have = have.map_err(|e| read_error(&self.path, e))?;
        if chunks.iter().zip(have).any(|(&i, h)| pending.index[i as usize] != h) {
            return Err(damaged(&self.path));
        }
        let stored = stored.map_err(|m| corrupt(&self.path, &m))?;
        let hashes = hashes.map_err(|e| read_error(&self.path, e))?;
        check_stored(&self.path, &self.manifest, stored.iter(), hashes)?;
        let skipped = skipped.iter().map(|s| name(s.0).to_string()).collect();
        let _ = self.readable.set(Verified { stored, skipped });
        Ok(pending.hashed + chunks.len())
    }

    /// The stored entries among `kept` (manifest index, data start, size), from their local
    /// headers; every kept entry's data must end inside its extent, so reading it reads only
    /// verified bytes.
    fn kept_stored(&self, file: &File, kept: &[&(usize, u64, u64)]) -> Result<Vec<(usize, u64, u64)>, String> {
        let mut stored = Vec::new();
        for &&(i, header, end) in kept {
            let entry = self.archive.by_index_data(i + 1).map_err(|e| e.to_string())?;
            let name = &self.manifest.entries[i].path;
            let start = data_start(file, header).map_err(|m| format!("entry {name} {m}"))?;
            if start.checked_add(entry.compressed_size()).is_none_or(|e| e > end) {
                return Err(format!("entry {name} runs into the next entry or the directory"));
            }
            if entry.compression() == zip::CompressionMethod::Stored {
                stored.push((i, start, entry.size()));
            }
        }
        Ok(stored)
    }

    fn new(
        path: &Path,
        archive: ZipArchive<File>,
        manifest: Manifest,
        payload_start: u64,
        trailer: Trailer,
        pending: Option<Pending>,
    ) -> Result<Payload, PayloadError> {
        let digest_line = format!("{DIGEST_PREFIX}{}", trailer.digest);
        let signature = trailer
            .signature
            .map(|block| Signature::from_block(&block, &digest_line))
            .transpose()
            .map_err(|m| corrupt(path, &m))?;
        Ok(Payload {
            path: path.to_path_buf(),
            manifest,
            archive,
            digest_line,
            payload_start,
            signature,
            pending,
            readable: OnceLock::new(),
        })
    }

    /// Refuses to read `entry` before `verify_except` verified it or when it skipped it.
    fn readable(&self, entry: &str) -> Result<(), PayloadError> {
        match self.readable.get() {
            Some(v) if !v.skipped.contains(entry) => Ok(()),
            _ => Err(PayloadError::Unverified(format!(
                "internal error: entry {entry} of {} was to be read unverified",
                self.path.display()
            ))),
        }
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
        self.readable(&entry.path)?;
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
            let Some((start, len)) = self.stored_range(&w.file)? else {
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

    /// Whether `verify_except` skipped `entry`: it is never to be read.
    pub fn skipped(&self, entry: &str) -> bool {
        self.readable.get().is_some_and(|v| v.skipped.contains(entry))
    }

    /// Where an entry's (possibly deflated) bytes lie in the artifact, so the installer's
    /// threads can inflate it in place (its sha256 is checked against the manifest by them).
    /// None when it is absent; an error when it is not verified (see [`Payload::readable`]).
    pub fn raw_entry(&mut self, name: &str) -> Result<Option<crate::wheel::Raw>, PayloadError> {
        self.readable(name)?;
        let Ok(e) = self.archive.by_name_raw(name.as_bytes()) else {
            return Ok(None);
        };
        Ok(e.data_start().map(|data_start| crate::wheel::Raw {
            data_start,
            compressed: e.compressed_size(),
            size: e.size(),
            deflated: e.compression() == zip::CompressionMethod::Deflated,
            crc32: e.crc32(),
        }))
    }

    /// Where a stored (uncompressed) entry's bytes lie in the artifact, to read a wheel in
    /// place without a copy: known from `open`. None when the entry is compressed or absent;
    /// an error when it is not verified (see [`Payload::readable`]).
    pub fn stored_range(&self, name: &str) -> Result<Option<(u64, u64)>, PayloadError> {
        self.readable(name)?;
        let Some(index) = self.manifest.entries.iter().position(|e| e.path == name) else {
            return Ok(None);
        };
        let verified = self.readable.get().expect("checked readable");
        Ok(verified
            .stored
            .iter()
            .find(|s| s.0 == index)
            .map(|&(_, start, size)| (start, size)))
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

/// Each stored entry (manifest index, data start, size) against its sha256 in the manifest.
fn check_stored<'a>(
    path: &Path,
    manifest: &Manifest,
    stored: impl Iterator<Item = &'a (usize, u64, u64)>,
    hashes: Vec<String>,
) -> Result<(), PayloadError> {
    for ((index, _, _), sha) in stored.zip(hashes) {
        let entry = &manifest.entries[*index];
        if entry.sha256 != sha {
            return Err(corrupt(
                path,
                &format!("entry {} does not match its sha256 in the manifest", entry.path),
            ));
        }
    }
    Ok(())
}

/// Chunk `i`'s byte range (start, length) within `covered` bytes.
fn chunk_span(i: u64, covered: u64) -> (u64, u64) {
    let start = i * DIGEST_CHUNK;
    (start, DIGEST_CHUNK.min(covered - start))
}

/// Whether `span` shares a byte with one of `ranges`.
fn overlaps((start, len): (u64, u64), ranges: &[(u64, u64)]) -> bool {
    ranges
        .iter()
        .any(|&(s, l)| s < start.saturating_add(len) && start < s.saturating_add(l))
}

/// Where the data of the entry whose local header starts at `at` begins.
fn data_start(file: &File, at: u64) -> Result<u64, String> {
    let mut h = [0u8; 30];
    file.read_exact_at(&mut h, at)
        .map_err(|e| format!("has no readable local header ({e})"))?;
    if h[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return Err("has no local header where the directory says".into());
    }
    let names = u16::from_le_bytes([h[26], h[27]]) as u64 + u16::from_le_bytes([h[28], h[29]]) as u64;
    Ok(at + 30 + names)
}

/// Whether `span` lies entirely inside one of `ranges`.
fn within((start, len): (u64, u64), ranges: &[(u64, u64)]) -> bool {
    ranges
        .iter()
        .any(|&(s, l)| s <= start && start.saturating_add(len) <= s.saturating_add(l))
}

fn read_error(path: &Path, e: io::Error) -> PayloadError {
    PayloadError::Io(format!("cannot read the artifact {}: {e}", path.display()))
}

fn damaged(path: &Path) -> PayloadError {
    corrupt(
        path,
        "its bytes do not match the sha256 it ends with: it is corrupt or has been tampered with",
    )
}

fn corrupt(path: &Path, msg: &str) -> PayloadError {
    PayloadError::Corrupt(format!(
        "{} is not a valid wheelsfx artifact: {msg}; download or rebuild it",
        path.display()
    ))
}

/// What an artifact ends with: the digest, how many bytes it covers, the chunk index (if
/// any; it hashes to the digest) and the signature block after the digest, if signed.
struct Trailer {
    digest: String,
    covered: u64,
    index: Option<Vec<[u8; 32]>>,
    signature: Option<Vec<u8>>,
}

/// Opens the artifact and reads its trailer; an index that does not hash to the digest is
/// damage (cheap: the index is a few KiB).
fn open_trailer(path: &Path) -> Result<(File, Trailer), PayloadError> {
    let file =
        File::open(path).map_err(|e| PayloadError::Io(format!("cannot open the artifact {}: {e}", path.display())))?;
    let trailer = read_trailer(&file).map_err(|m| corrupt(path, &m))?;
    if trailer
        .index
        .as_ref()
        .is_some_and(|index| root(index) != trailer.digest)
    {
        return Err(corrupt(
            path,
            "its chunk index does not match the sha256 it ends with: it is corrupt or has been tampered with",
        ));
    }
    Ok((file, trailer))
}

/// Reads the trailer. The artifact must end with the zip's end-of-central-directory record
/// and its comment (see `layout::DIGEST_PREFIX`), optionally followed by a signature block of
/// fixed length; anything else means it was cut short or had data appended (and a zip reader
/// scanning back from a truncated file could settle on the directory of a wheel stored inside).
fn read_trailer(file: &File) -> Result<Trailer, String> {
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read its size ({e})"))?
        .len();
    if len < EOCD_LEN + DIGEST_COMMENT_LEN as u64 {
        return Err("it is too short to hold a payload (truncated or damaged)".into());
    }
    // The EOCD and the longest comment a zip can have.
    let tail_len = len.min(EOCD_LEN + u16::MAX as u64);
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact_at(&mut tail, len - tail_len)
        .map_err(|e| format!("cannot read its end ({e})"))?;
    [signature::BLOCK_LEN, 0]
        .into_iter()
        .find_map(|block| parse_trailer(&tail, len, block))
        .ok_or_else(|| {
            "it does not end with its payload's directory and digest: it is truncated or damaged, or has data appended"
                .into()
        })
}

const EOCD_LEN: u64 = 22;

/// The trailer, if `tail` (the last bytes of a `len`-byte file) ends with an EOCD whose
/// comment is the digest line (after a chunk index, or not) followed by a `block`-byte
/// signature block (0: unsigned) and nothing else.
fn parse_trailer(tail: &[u8], len: u64, block: usize) -> Option<Trailer> {
    let at = |pos: u64| usize::try_from(pos.checked_sub(len - tail.len() as u64)?).ok();
    let hex_at = len.checked_sub(block as u64 + 64)?;
    let line_at = hex_at.checked_sub(DIGEST_PREFIX.len() as u64)?;
    let line = &tail[at(line_at)?..at(hex_at + 64)?];
    let digest = std::str::from_utf8(line).ok()?.strip_prefix(DIGEST_PREFIX)?.to_string();
    let signature = (block > 0).then(|| tail[tail.len() - block..].to_vec());
    let trailer = |covered, index| Trailer {
        digest: digest.clone(),
        covered,
        index,
        signature: signature.clone(),
    };
    // With an index of n chunks, covering the bytes before it: n is the one that fits.
    let most = chunk_count(line_at);
    for n in (most.saturating_sub(1).max(1)..=most).rev() {
        let Some((index_at, start)) = line_at.checked_sub(64 * n).and_then(|i| Some((i, at(i)?))) else {
            continue;
        };
        if chunk_count(index_at) == n && eocd_before(tail, start, CHUNKS_PREFIX, len - index_at) {
            return index_from_hex(&tail[start..at(line_at)?]).map(|i| trailer(index_at, Some(i)));
        }
    }
    eocd_before(tail, at(hex_at)?, DIGEST_PREFIX, len - hex_at).then(|| trailer(hex_at, None))
}

/// Whether `tail[..end]` ends with an EOCD record and then `prefix`, the EOCD's comment
/// length being the prefix plus the `rest` bytes after `end`.
fn eocd_before(tail: &[u8], end: usize, prefix: &str, rest: u64) -> bool {
    let Some(eocd_at) = end.checked_sub(prefix.len() + EOCD_LEN as usize) else {
        return false;
    };
    let eocd = &tail[eocd_at..eocd_at + EOCD_LEN as usize];
    let comment_len = u16::from_le_bytes([eocd[20], eocd[21]]) as u64;
    eocd[..4] == [0x50, 0x4b, 0x05, 0x06]
        && &tail[end - prefix.len()..end] == prefix.as_bytes()
        && comment_len == prefix.len() as u64 + rest
}

/// The chunk index: 64 lowercase hex digits per chunk.
fn index_from_hex(hex: &[u8]) -> Option<Vec<[u8; 32]>> {
    hex.chunks(64).map(sha256_from_hex).collect()
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

/// What a deferred open reads before verifying: the zip's directory, the manifest, where
/// the zip starts, the manifest's data ends and the directory starts, and each entry's extent
/// (see [`Pending`]), all from the directory and the manifest's own header.
struct Head {
    archive: ZipArchive<File>,
    manifest: Manifest,
    payload_start: u64,
    manifest_end: u64,
    directory: u64,
    extents: Vec<(usize, u64, u64)>,
}

/// Like [`parse`] without reading any local header but the manifest's. Entries must lie in
/// directory order (as the packer writes them) so that extents do not overlap.
fn parse_head(file: File, limits: &Limits) -> Result<Head, String> {
    let mut archive = ZipArchive::new(file).map_err(|e| format!("it has no readable zip payload ({e})"))?;
    if archive.offset() != 0 {
        return Err("its zip offsets are not absolute".into());
    }
    let manifest = read_manifest(&mut archive)?;
    manifest.check_consistent()?;
    check_directory(&archive, &manifest, limits)?;
    let first = archive.by_index_raw(0).map_err(|e| e.to_string())?;
    let manifest_end = (first.data_start())
        .and_then(|s| s.checked_add(first.compressed_size()))
        .ok_or("its manifest has no data")?;
    drop(first);
    let directory = archive.central_directory_start();
    let mut headers = (0..archive.len())
        .map(|i| archive.by_index_data(i).map(|e| e.header_start()))
        .collect::<Result<Vec<u64>, _>>()
        .map_err(|e| e.to_string())?;
    headers.push(directory);
    if headers.windows(2).any(|w| w[0] >= w[1]) {
        return Err("its entries are not in directory order".into());
    }
    let extents = (1..archive.len())
        .map(|i| (i - 1, headers[i], headers[i + 1]))
        .collect();
    Ok(Head {
        archive,
        manifest,
        payload_start: headers[0],
        manifest_end,
        directory,
        extents,
    })
}

/// The zip's directory must list exactly the manifest's entries, in order, as regular files
/// with safe names and the declared sizes: anything extra, missing or odd is refused up front.
fn check_directory(archive: &ZipArchive<File>, m: &Manifest, limits: &Limits) -> Result<(), String> {
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
    for (i, entry) in m.entries.iter().enumerate() {
        let file = archive
            .by_index_data(i + 1)
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
        if file.size() != entry.size {
            return Err(format!(
                "entry {name} declares {} bytes but the manifest says {}",
                file.size(),
                entry.size
            ));
        }
    }
    Ok(())
}

/// [`check_directory`], then every stored entry's data from its local header: nothing may lie
/// inside stored data. Returns the stored entries (manifest index, data start, size), to be
/// hashed in place.
fn check_entries(
    archive: &mut ZipArchive<File>,
    m: &Manifest,
    limits: &Limits,
) -> Result<Vec<(usize, u64, u64)>, String> {
    check_directory(archive, m, limits)?;
    let mut stored = Vec::new();
    // Where the last stored entry's data ends.
    let mut data_end = 0;
    let directory = archive.central_directory_start();
    for i in 0..m.entries.len() {
        let file = archive
            .by_index_raw(i + 1)
            .map_err(|e| format!("entry {} cannot be read ({e})", i + 1))?;
        if file.header_start() < data_end {
            return Err(format!("entry {} starts inside the data of the one before it", i + 1));
        }
        if file.compression() == zip::CompressionMethod::Stored {
            let name = &m.entries[i].path;
            let start = file.data_start().ok_or_else(|| format!("entry {name} has no data"))?;
            stored.push((i, start, file.size()));
            data_end = start.saturating_add(file.size());
        }
    }
    if data_end > directory {
        return Err("a stored entry's data runs into the zip's directory".into());
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::{overlaps, parse_trailer, within, EOCD_LEN};
    use crate::digest::{hex, root};

    /// `pad` bytes, an EOCD (no entries) and `comment`, whose length the EOCD records.
    fn file(pad: usize, comment: &[u8]) -> Vec<u8> {
        let mut b = vec![7u8; pad];
        b.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06]);
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        b.extend_from_slice(comment);
        b
    }

    #[test]
    fn both_trailer_shapes_parse_and_cover_up_to_their_first_prefix() {
        let digest = "ab".repeat(32);
        let old = file(100, format!("wheelsfx-sha256:{digest}").as_bytes());
        let t = parse_trailer(&old, old.len() as u64, 0).unwrap();
        assert_eq!(
            (t.covered, t.index, t.digest.as_str()),
            (100 + EOCD_LEN + 16, None, digest.as_str())
        );

        let chunk = [5u8; 32];
        let comment = format!("wheelsfx-chunks:{}wheelsfx-sha256:{}", hex(&chunk), root(&[chunk]));
        let mut new = file(100, comment.as_bytes());
        new.extend_from_slice(&[b'S'; 10]);
        assert!(
            parse_trailer(&new, new.len() as u64, 10).is_none(),
            "the comment length counts the block"
        );
        let at = 100 + 20;
        new[at..at + 2].copy_from_slice(&(comment.len() as u16 + 10).to_le_bytes());
        let t = parse_trailer(&new, new.len() as u64, 10).unwrap();
        assert_eq!(t.covered, 100 + EOCD_LEN + 16);
        assert_eq!(t.index, Some(vec![chunk]));
        assert_eq!(t.signature.as_deref(), Some(&[b'S'; 10][..]));
    }

    #[test]
    fn a_chunk_is_hashed_unless_entirely_inside_what_is_skipped() {
        let ranges = [(10, 10), (20, 5)];
        assert!(overlaps((0, 11), &ranges) && overlaps((24, 4), &ranges));
        assert!(!overlaps((0, 10), &ranges) && !overlaps((25, 4), &ranges));
        assert!(within((10, 10), &ranges) && within((20, 5), &ranges));
        // Two adjacent ranges count only once merged (as `verify_except` merges extents).
        assert!(!within((15, 10), &ranges) && within((15, 10), &[(10, 15)]));
    }

    #[test]
    fn an_index_of_the_wrong_length_or_not_hex_is_no_trailer() {
        for index in ["00".repeat(31), "zz".repeat(32), "00".repeat(64)] {
            let comment = format!("wheelsfx-chunks:{index}wheelsfx-sha256:{}", "0".repeat(64));
            let f = file(100, comment.as_bytes());
            assert!(parse_trailer(&f, f.len() as u64, 0).is_none(), "{index}");
        }
    }
}
