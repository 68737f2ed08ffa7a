//! sha256 helpers, and the one rule for the digest over all entries.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// A reader that hashes and counts what passes through it, so an entry is verified while it
/// is streamed to its destination, never read twice.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The sha256 (hex) and byte count of everything read so far.
    pub fn finish(self) -> (String, u64) {
        (hex(&self.hasher.finalize()), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Hashes everything written through it (used by the packer to hash while copying).
#[derive(Default)]
pub struct HashingWriter {
    hasher: Sha256,
    count: u64,
}

impl HashingWriter {
    pub fn finish(self) -> (String, u64) {
        (hex(&self.hasher.finalize()), self.count)
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.count += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The digest over all entries: sha256 of `path NUL sha256 NUL size LF` for each entry in
/// manifest order. It binds the entry list itself, so an entry cannot be added, dropped or
/// reordered without the manifest disagreeing with itself.
pub fn entries_digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str, u64)>) -> String {
    let mut h = Sha256::new();
    for (path, sha, size) in entries {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([0]);
        h.update(size.to_string().as_bytes());
        h.update([b'\n']);
    }
    hex(&h.finalize())
}

/// One sequential read of the first `len` bytes of `file`: their sha256 (hex), and the sha256
/// of each `(start, len)` range within them, so stored entries are verified by the same read
/// that verifies the whole artifact.
pub fn file_sha256_with_ranges(file: &File, len: u64, ranges: &[(u64, u64)]) -> io::Result<(String, Vec<String>)> {
    let mut whole = Sha256::new();
    let mut parts: Vec<Sha256> = ranges.iter().map(|_| Sha256::new()).collect();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < len {
        let n = ((len - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos)?;
        whole.update(&buf[..n]);
        let end = pos + n as u64;
        for ((start, rlen), h) in ranges.iter().zip(parts.iter_mut()) {
            let (a, b) = ((*start).max(pos), (start + rlen).min(end));
            if a < b {
                h.update(&buf[(a - pos) as usize..(b - pos) as usize]);
            }
        }
        pos = end;
    }
    Ok((
        hex(&whole.finalize()),
        parts.into_iter().map(|h| hex(&h.finalize())).collect(),
    ))
}

/// sha256 (hex) of the first `len` bytes of `file`.
pub fn file_prefix_sha256(file: &File, len: u64) -> io::Result<String> {
    Ok(file_sha256_with_ranges(file, len, &[])?.0)
}
