//! sha256 helpers, and the one rule for the digest over all entries.

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The 32 bytes of a sha256 written as 64 lowercase hex digits (as manifests and the chunk
/// index write them), or None for anything else.
pub fn sha256_from_hex(hex: &[u8]) -> Option<[u8; 32]> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
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

/// Chunk size of the artifact digest's first level.
pub const DIGEST_CHUNK: u64 = 4 << 20;

/// The artifact digest over the first `len` bytes of `file`: the sha256 of the sha256s of its
/// 4 MiB chunks (hex). Chunks hash on every core, so verifying every byte costs little wall
/// time; the packer and the stub both compute it here.
pub fn artifact_digest(file: &File, len: u64) -> io::Result<String> {
    Ok(root(&chunk_sha256s(file, len)?))
}

/// The sha256 of each 4 MiB chunk of the first `len` bytes of `file` (the chunk index).
pub fn chunk_sha256s(file: &File, len: u64) -> io::Result<Vec<[u8; 32]>> {
    let chunks: Vec<u64> = (0..chunk_count(len)).collect();
    chunks_sha256(file, len, &chunks)
}

/// How many chunks `len` covered bytes make.
pub fn chunk_count(len: u64) -> u64 {
    len.div_ceil(DIGEST_CHUNK)
}

/// The sha256 of the chunks numbered `which` of the first `len` bytes of `file`, in parallel.
pub fn chunks_sha256(file: &File, len: u64, which: &[u64]) -> io::Result<Vec<[u8; 32]>> {
    which
        .par_iter()
        .map(|i| range_sha256(file, i * DIGEST_CHUNK, DIGEST_CHUNK.min(len - i * DIGEST_CHUNK)))
        .collect()
}

/// The root (hex) over chunk hashes: the sha256 of their raw bytes, in order.
pub fn root(chunks: &[[u8; 32]]) -> String {
    let mut top = Sha256::new();
    for c in chunks {
        top.update(c);
    }
    hex(&top.finalize())
}

/// sha256 (hex) of each `(start, len)` range of `file`, in parallel.
pub fn ranges_sha256(file: &File, ranges: &[(u64, u64)]) -> io::Result<Vec<String>> {
    ranges
        .par_iter()
        .map(|&(start, len)| range_sha256(file, start, len).map(|d| hex(&d)))
        .collect()
}

fn range_sha256(file: &File, start: u64, len: u64) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; (1 << 20).min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let n = ((len - done) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], start + done)?;
        h.update(&buf[..n]);
        done += n as u64;
    }
    Ok(h.finalize().into())
}
