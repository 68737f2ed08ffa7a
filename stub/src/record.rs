//! Wheel RECORD lines (`path,sha256=<urlsafe-b64-nopad>,size`), per the recording-installed-
//! packages spec: written by installers, read by `pip uninstall` and by verification.

use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One RECORD line for `path` with `data`'s hash and size (no trailing newline). Paths with
/// a comma or quote are quoted as CSV requires.
pub fn line(path: &str, data: &[u8]) -> String {
    line_with(path, &b64_urlsafe_nopad(&Sha256::digest(data)), data.len() as u64)
}

/// A RECORD line from an already computed digest (urlsafe b64) and size.
pub fn line_with(path: &str, digest_b64: &str, size: u64) -> String {
    format!("{},sha256={digest_b64},{size}", csv_field(path))
}

pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn b64_urlsafe_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub type RecordMap = HashMap<String, Option<(String, u64)>>;

/// RECORD rows: path -> (sha256 as urlsafe b64, size); rows with no hash (RECORD itself,
/// .pyc files) map to None.
pub fn parse_record(text: &str) -> std::result::Result<RecordMap, String> {
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields = split_csv(line);
        let [path, hash, size] = &fields[..] else {
            return Err(format!("has a RECORD row that is not path,hash,size: {line:?}"));
        };
        let expect = if hash.is_empty() {
            None
        } else {
            let digest = hash
                .strip_prefix("sha256=")
                .ok_or_else(|| format!("RECORD hashes {path} with {hash:.10}…; only sha256 is accepted"))?;
            let size = size
                .parse()
                .map_err(|_| format!("RECORD gives {path} a bad size {size:?}"))?;
            Some((digest.to_string(), size))
        };
        out.insert(path.clone(), expect);
    }
    Ok(out)
}

/// A CSV row as Python's csv module writes RECORD (quotes only around fields that need them).
pub fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pythons_urlsafe_b64encode() {
        // base64.urlsafe_b64encode(hashlib.sha256(b"hello\n").digest()).rstrip(b"=")
        assert_eq!(
            line("x", b"hello\n"),
            "x,sha256=WJG1tSLV3whtD_CxEPvZ0hu0_HFjrzTQgoai6Eb2vgM,6"
        );
        assert_eq!(b64_urlsafe_nopad(b"ab"), "YWI");
        assert_eq!(
            line("a,b", b""),
            "\"a,b\",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0"
        );
    }
}
