//! Step 3: write the artifact — the stub, then the zip payload with offsets for the whole
//! file (so `unzip -t` reads it cleanly), the manifest first, entries in `layout::pack_order`, every timestamp
//! fixed and each mode the input's own so the same inputs give the same bytes; last, the zip
//! comment: the chunk index and the digest of every byte before the index (see
//! `layout::DIGEST_PREFIX`) and, with `--sign`, the signature of that digest (a block of fixed
//! length, so the comment's length, which the digest covers, is known beforehand). Written to
//! a temporary sibling and renamed, so a failed build never leaves a half-written artifact at
//! the output path; a signed build also writes `OUTPUT.minisig` for stock minisign. Every
//! input read from a file is hashed again as it is written (wheels plan kept in memory are
//! written from the very bytes it hashed): a file that changed since plan hashed it is an
//! error, not an artifact every stub would refuse.

use crate::collect::Source;
use crate::plan::Plan;
use crate::progress::Progress;
use crate::sign::SecretKey;
use nix::fcntl::OFlag;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use wheelsfx_payload::digest::{chunk_count, chunk_sha256s, hex, root, HashingReader};
use wheelsfx_payload::layout::{CHUNKS_PREFIX, DIGEST_COMMENT_LEN, DIGEST_PREFIX, MANIFEST};
use wheelsfx_payload::manifest::Entry;
use wheelsfx_payload::signature::{self, Signature};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// The static musl stub built by build.rs.
pub const STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wheelsfx-stub"));

pub fn write(plan: &Plan, output: &Path, mtime: u64, signer: Option<&SecretKey>) -> Result<(), String> {
    let tmp = sibling(output, ".", ".wheelsfx-tmp");
    remove_stale(&tmp)?;
    let result = write_to(plan, &tmp, zip_time(mtime), signer).and_then(|detached| match detached {
        Some(sig) => write_detached(output, &sig),
        None => remove_stale_signature(output),
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(match e.get_ref().and_then(|e| e.downcast_ref::<Changed>()) {
            Some(changed) => changed.to_string(),
            None => format!("cannot write {}: {e}", output.display()),
        });
    }
    std::fs::rename(&tmp, output).map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), output.display()))
}

/// A temporary file left by a killed build is ours to replace; anything else there (a symlink
/// planted to redirect the write, another user's file) is refused rather than followed.
fn remove_stale(tmp: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(tmp) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Ok(m) if m.is_file() && m.uid() == nix::unistd::geteuid().as_raw() => {
            std::fs::remove_file(tmp).map_err(|e| format!("cannot remove the stale {}: {e}", tmp.display()))
        }
        Ok(_) => Err(format!(
            "{} is in the way and is not a file this user left (a symlink, or another user's file); remove it and build again",
            tmp.display()
        )),
        Err(e) => Err(format!("cannot check {}: {e}", tmp.display())),
    }
}

/// `dir/<prefix>NAME<suffix>` for `path` = `dir/NAME`.
fn sibling(path: &Path, prefix: &str, suffix: &str) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{prefix}{name}{suffix}"))
}

/// `OUTPUT.minisig`, written (temporary file, rename) before the artifact is renamed into
/// place: a signature never lags behind a new artifact.
fn write_detached(output: &Path, sig: &Signature) -> std::io::Result<()> {
    let path = sibling(output, "", ".minisig");
    let tmp = sibling(&path, ".", ".wheelsfx-tmp");
    let _ = std::fs::remove_file(&tmp); // a link planted there is removed, never followed
    let mut file = create_new(&tmp)?;
    file.write_all(sig.to_minisig().as_bytes())?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, &path)
}

/// A new file, never an existing one or what a symlink planted meanwhile points to.
fn create_new(path: &Path) -> std::io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .mode(0o600)
        .open(path)
}

/// An unsigned build removes the `OUTPUT.minisig` of an earlier signed one: it signs other
/// bytes, and beside the new artifact it would only say "tampered with".
fn remove_stale_signature(output: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(sibling(output, "", ".minisig")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes the artifact; with a `signer`, signs it and returns the detached signature.
fn write_to(
    plan: &Plan,
    path: &Path,
    time: DateTime,
    signer: Option<&SecretKey>,
) -> std::io::Result<Option<Signature>> {
    let file = create_new(path)?;
    let mut file = BufWriter::with_capacity(1 << 20, file);
    file.write_all(STUB)?;
    // The writer records absolute positions, so the offsets already count the stub.
    let mut zip = ZipWriter::new(file);
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(time);
    let manifest = serde_json::to_vec_pretty(&plan.manifest).expect("a manifest serialises");
    zip.start_file(MANIFEST, deflated.unix_permissions(0o644))?;
    zip.write_all(&manifest)?;
    let progress = Progress::new();
    progress.start_bytes("writing", plan.items.iter().map(|i| i.entry.size).sum());
    for item in &plan.items {
        let method = if item.stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let opts = deflated
            .compression_method(method)
            .unix_permissions(item.entry.mode)
            .large_file(item.entry.size >= u32::MAX as u64);
        zip.start_file(item.entry.path.as_str(), opts)?;
        match &item.source {
            Source::File(p) => copy_checked(p, &item.entry, &mut zip)?,
            Source::Bytes(b) => zip.write_all(b)?,
            Source::Held(b) => zip.write_all(b)?,
        }
        progress.add(item.entry.size);
    }
    progress.done();
    // The comment's first prefix; the trailer after it goes in last (see `seal`).
    let block = signer.map_or(0, |_| signature::BLOCK_LEN);
    zip.set_comment(CHUNKS_PREFIX)?;
    let mut file = zip.finish()?;
    file.flush()?;
    let mut file = file.into_inner().map_err(|e| e.into_error())?;
    let digest = seal(&file, block)?;
    // The signature block, if any, goes right after the hex (the comment length counts it).
    let block_at = file.metadata()?.len();
    let detached = match signer {
        Some(key) => {
            let line = format!("{DIGEST_PREFIX}{digest}");
            file.write_all_at(key.sign_digest(&line).to_block().as_bytes(), block_at)?;
            file.rewind()?;
            Some(key.sign_file(&file, &line)?)
        }
        None => None,
    };
    file.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    file.sync_all()?;
    Ok(detached)
}

/// Ends a zip finished with the comment [`CHUNKS_PREFIX`] (the covered region ends with it)
/// with the chunk index, then the digest line; the comment length counts a `block`-byte
/// signature block, appended by the caller. Returns the digest. More chunks than a zip comment holds: the prefix becomes
/// [`DIGEST_PREFIX`] and there is no index (the stub then verifies every byte). Either way the
/// comment length is patched into the EOCD before anything is hashed.
fn seal(file: &File, block: usize) -> std::io::Result<String> {
    let covered = file.metadata()?.len();
    let prefix_at = covered - CHUNKS_PREFIX.len() as u64;
    let index_len = 64 * chunk_count(covered) as usize;
    let indexed = CHUNKS_PREFIX.len() + index_len + DIGEST_COMMENT_LEN + block <= u16::MAX as usize;
    let comment_len = match indexed {
        true => CHUNKS_PREFIX.len() + index_len + DIGEST_COMMENT_LEN + block,
        false => {
            file.write_all_at(DIGEST_PREFIX.as_bytes(), prefix_at)?;
            DIGEST_COMMENT_LEN + block
        }
    };
    file.write_all_at(&(comment_len as u16).to_le_bytes(), prefix_at - 2)?;
    let chunks = chunk_sha256s(file, covered)?;
    let digest = root(&chunks);
    let tail = match indexed {
        true => format!(
            "{}{DIGEST_PREFIX}{digest}",
            chunks.iter().map(|c| hex(c)).collect::<String>()
        ),
        false => digest.clone(),
    };
    file.write_all_at(tail.as_bytes(), covered)?;
    Ok(digest)
}

/// An input whose bytes are no longer those plan hashed into the manifest.
#[derive(Debug)]
struct Changed(PathBuf);

impl std::fmt::Display for Changed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} changed while it was being packed; build again", self.0.display())
    }
}

impl std::error::Error for Changed {}

/// Copies `path` into `out`, hashing the bytes actually written, and fails with [`Changed`]
/// when they are not the ones `entry` records (or the file, opened fine by plan, is gone). At
/// most one byte past the recorded size is read, so a file that keeps growing cannot make the
/// build endless.
fn copy_checked(path: &Path, entry: &Entry, out: &mut impl Write) -> std::io::Result<()> {
    let changed = || std::io::Error::other(Changed(path.to_path_buf()));
    let mut reader = HashingReader::new(File::open(path).map_err(|_| changed())?.take(entry.size + 1));
    std::io::copy(&mut reader, out)?;
    let (sha256, size) = reader.finish();
    if sha256 != entry.sha256 || size != entry.size {
        return Err(changed());
    }
    Ok(())
}

/// A Unix time as a zip (DOS) timestamp, clamped to the range zip can express.
fn zip_time(secs: u64) -> DateTime {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(1980, 2107) as u16;
    DateTime::from_date_and_time(y, m, d, (rem / 3600) as u8, (rem / 60 % 60) as u8, (rem % 60) as u8)
        .unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, copy_checked, Changed};
    use wheelsfx_payload::manifest::Entry;

    #[test]
    fn a_changed_input_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.py");
        std::fs::write(&path, "DEBUG = False\n").unwrap();
        let (sha256, size) = crate::plan::hash(&crate::collect::Source::File(path.clone())).unwrap();
        let entry = Entry {
            path: "mysite/settings.py".into(),
            sha256,
            size,
            mode: 0o644,
        };
        let mut out = Vec::new();
        copy_checked(&path, &entry, &mut out).unwrap();
        assert_eq!(out, b"DEBUG = False\n");
        let refusal = || {
            let e = copy_checked(&path, &entry, &mut Vec::new()).unwrap_err();
            e.get_ref()
                .and_then(|e| e.downcast_ref::<Changed>())
                .unwrap()
                .to_string()
        };
        for changed in ["DEBUG = True\n", "DEBUG = False\nX = 1\n", "DEBUG"] {
            std::fs::write(&path, changed).unwrap();
            assert!(refusal().ends_with("settings.py changed while it was being packed; build again"));
        }
        std::fs::remove_file(&path).unwrap();
        assert!(refusal().ends_with("settings.py changed while it was being packed; build again"));
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
