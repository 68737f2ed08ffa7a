//! Signed artifacts, in minisign's formats so stock `minisign -V` checks what wheelsfx signs:
//! key ids, public keys, signatures, the fixed-length signature block an artifact's trailer
//! may carry, and the one rule that decides whether a signature is good enough to install.
//!
//! A signature is minisign's prehashed one ("ED"): an Ed25519 signature over the BLAKE2b-512
//! of the message, plus a global signature over that signature and a trusted comment. The
//! signature *embedded* in an artifact signs its digest line (`wheelsfx-sha256:<hex>`, which
//! covers every byte before the hex) and its trusted comment is that same line. Secret keys
//! and signing are the packer's (packer/src/sign.rs): the stub only verifies.

use crate::names::quoted;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::VerifyingKey;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// minisign's algorithm tag of an Ed25519 key (and of a non-prehashed signature).
pub const KEY_ALGORITHM: [u8; 2] = *b"Ed";
/// minisign's tag of a prehashed signature, the only kind wheelsfx writes or accepts.
const PREHASHED: [u8; 2] = *b"ED";
/// Starts the signature block after the digest in an artifact's zip comment.
const BLOCK_PREFIX: &str = " minisign:";
/// The block has a fixed length, so the packer knows the zip comment's length (which the
/// digest covers) before it computes the digest: the prefix, base64 of the 74-byte signature
/// (algorithm, key id, signature), ':', base64 of the 64-byte global signature.
pub const BLOCK_LEN: usize = BLOCK_PREFIX.len() + 100 + 1 + 88;
/// The decoded length of a minisign secret key, to tell one apart from a public key.
pub const SECRET_KEY_LEN: usize = 158;
/// A public key file is two short lines; anything much longer is not one.
const KEY_FILE_LIMIT: u64 = 4096;

/// A key file's text (`what`: "public key", "secret key"): a regular file (a FIFO would
/// hang) of at most a few KiB, as minisign writes them.
pub fn read_key_file(path: &Path, what: &str) -> Result<String, String> {
    let name = quoted(&path.to_string_lossy());
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the {what} {name}: {e}"))?;
    if !meta.is_file() || meta.len() > KEY_FILE_LIMIT {
        return Err(format!(
            "the {what} {name} is not a regular file of at most {KEY_FILE_LIMIT} bytes"
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the {what} {name}: {e}"))
}

/// minisign's key id: 8 random bytes, shown as a little-endian u64 in hex, as minisign does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyId(pub [u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", u64::from_le_bytes(self.0))
    }
}

/// A public key: what `--trust` names and what `wheelsfx keygen` writes to `KEY.pub`.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub id: KeyId,
    key: VerifyingKey,
}

impl PublicKey {
    pub fn new(id: KeyId, key: VerifyingKey) -> PublicKey {
        PublicKey { id, key }
    }

    /// minisign's key line: base64 of "Ed", the key id and the 32-byte key.
    pub fn from_base64(line: &str) -> Result<PublicKey, String> {
        let bytes = BASE64.decode(line.trim()).unwrap_or_default();
        let parsed = (bytes.len() == 42 && bytes[..2] == KEY_ALGORITHM).then(|| {
            let key: [u8; 32] = bytes[10..].try_into().expect("32 bytes");
            VerifyingKey::from_bytes(&key)
                .ok()
                .map(|key| PublicKey::new(KeyId(bytes[2..10].try_into().expect("8 bytes")), key))
        });
        parsed
            .flatten()
            .ok_or_else(|| "is not a minisign Ed25519 public key".to_string())
    }

    /// A `.pub` file's text: an `untrusted comment:` line, then the key line.
    pub fn from_file_text(text: &str) -> Result<PublicKey, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        match (lines.next(), lines.next(), lines.next()) {
            (Some(comment), Some(key), None) if comment.starts_with("untrusted comment:") => {
                // A secret key (158 bytes) here means it is about to be copied to servers.
                let secret = BASE64.decode(key).is_ok_and(|b| b.len() == SECRET_KEY_LEN);
                Self::from_base64(key).map_err(|m| {
                    if secret {
                        "is a secret key, not a public key: trust its .pub file, and keep the secret key off servers"
                            .into()
                    } else {
                        m
                    }
                })
            }
            _ => Err("is not a minisign public key file (an 'untrusted comment:' line, then the key)".into()),
        }
    }

    /// A `--trust` value: the key line itself, or the path of a `.pub` file. Errors name it.
    pub fn load(arg: &str) -> Result<PublicKey, String> {
        if let Ok(key) = Self::from_base64(arg) {
            return Ok(key);
        }
        Self::read_file(Path::new(arg))
    }

    /// Reads a `.pub` file: a regular file (a FIFO would hang), small, in minisign's format.
    pub fn read_file(path: &Path) -> Result<PublicKey, String> {
        let text = read_key_file(path, "public key")?;
        let name = quoted(&path.to_string_lossy());
        Self::from_file_text(&text).map_err(|m| format!("the public key {name} {m}"))
    }

    pub fn to_base64(&self) -> String {
        let mut bytes = KEY_ALGORITHM.to_vec();
        bytes.extend_from_slice(&self.id.0);
        bytes.extend_from_slice(self.key.as_bytes());
        BASE64.encode(bytes)
    }

    /// The `.pub` file, exactly as `minisign -G` writes it.
    pub fn to_file_text(&self) -> String {
        format!(
            "untrusted comment: minisign public key {}\n{}\n",
            self.id,
            self.to_base64()
        )
    }
}

/// The BLAKE2b-512 of a message: what a prehashed signature signs.
pub fn prehash(message: &[u8]) -> [u8; 64] {
    Blake2b512::digest(message).into()
}

/// [`prehash`] of a stream, so the detached signature over a whole artifact never holds it
/// in memory.
pub fn prehash_reader(mut message: impl Read) -> io::Result<[u8; 64]> {
    let mut hasher = Blake2b512::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match message.read(&mut buf)? {
            0 => return Ok(hasher.finalize().into()),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// One minisign signature: the signature over the prehashed message, and the global
/// signature over that signature and the trusted comment.
#[derive(Clone, Debug)]
pub struct Signature {
    pub key_id: KeyId,
    sig: [u8; 64],
    trusted_comment: String,
    global: [u8; 64],
}

impl Signature {
    /// Signs `message_hash` (from [`prehash`]) and `trusted_comment` with `sign` (the secret
    /// key's Ed25519 signing), so what is signed is decided here, beside what is verified.
    pub fn create(
        key_id: KeyId,
        message_hash: &[u8; 64],
        trusted_comment: &str,
        sign: impl Fn(&[u8]) -> [u8; 64],
    ) -> Signature {
        let sig = sign(message_hash);
        let global = sign(&global_message(&sig, trusted_comment));
        Signature {
            key_id,
            sig,
            trusted_comment: trusted_comment.to_string(),
            global,
        }
    }

    /// Checks both signatures with `key` over the message whose prehash is `message_hash`.
    pub fn verify(&self, key: &PublicKey, message_hash: &[u8; 64]) -> bool {
        let ok = |sig: &[u8; 64], msg: &[u8]| {
            key.key
                .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
                .is_ok()
        };
        key.id == self.key_id
            && ok(&self.sig, message_hash)
            && ok(&self.global, &global_message(&self.sig, &self.trusted_comment))
    }

    /// The `.minisig` file, as `minisign -S` writes it.
    pub fn to_minisig(&self) -> String {
        format!(
            "untrusted comment: signature from wheelsfx secret key {}\n{}\ntrusted comment: {}\n{}\n",
            self.key_id,
            BASE64.encode(self.sig_struct()),
            self.trusted_comment,
            BASE64.encode(self.global)
        )
    }

    /// The block that follows the digest in a signed artifact's zip comment ([`BLOCK_LEN`]
    /// bytes). The trusted comment is not stored: it is the digest line itself.
    pub fn to_block(&self) -> String {
        let block = format!(
            "{BLOCK_PREFIX}{}:{}",
            BASE64.encode(self.sig_struct()),
            BASE64.encode(self.global)
        );
        debug_assert_eq!(block.len(), BLOCK_LEN);
        block
    }

    /// Parses a block written by [`Signature::to_block`] for the digest line `digest_line`.
    pub fn from_block(block: &[u8], digest_line: &str) -> Result<Signature, String> {
        let parsed = std::str::from_utf8(block)
            .ok()
            .and_then(|b| b.strip_prefix(BLOCK_PREFIX))
            .and_then(|b| b.split_once(':'))
            .and_then(|(sig, global)| Some((BASE64.decode(sig).ok()?, BASE64.decode(global).ok()?)));
        match parsed {
            Some((sig, global)) if sig.len() == 74 && sig[..2] == PREHASHED && global.len() == 64 => Ok(Signature {
                key_id: KeyId(sig[2..10].try_into().expect("8 bytes")),
                sig: sig[10..].try_into().expect("64 bytes"),
                trusted_comment: digest_line.to_string(),
                global: global.try_into().expect("64 bytes"),
            }),
            _ => Err("its signature block is damaged".into()),
        }
    }

    /// minisign's signature structure: algorithm, key id, signature.
    fn sig_struct(&self) -> Vec<u8> {
        [&PREHASHED[..], &self.key_id.0, &self.sig].concat()
    }
}

/// What the global signature signs: the signature, then the trusted comment.
fn global_message(sig: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    [&sig[..], trusted_comment.as_bytes()].concat()
}

/// What an artifact's signature amounts to on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Unsigned,
    /// Signed, but no trusted key was configured to check it against.
    Unchecked(KeyId),
    /// Signed by a trusted key, and the signature verifies.
    Trusted(KeyId),
}

impl Verdict {
    /// For people: `unsigned`, or `key <ID>` and whether it was checked.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Unsigned => "unsigned".into(),
            Verdict::Unchecked(id) => format!("key {id} (not checked against a trusted key)"),
            Verdict::Trusted(id) => format!("key {id} (verified with a trusted key)"),
        }
    }

    /// For `--json`: `"unsigned"`, or `{"key": ID, "checked": bool}`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Verdict::Unsigned => "unsigned".into(),
            Verdict::Unchecked(id) => serde_json::json!({"key": id.to_string(), "checked": false}),
            Verdict::Trusted(id) => serde_json::json!({"key": id.to_string(), "checked": true}),
        }
    }
}

/// The rule: with no trusted key, any artifact passes (its signature unchecked); with any
/// trusted key, only one whose signature is by a trusted key and verifies over `message`.
/// The error completes a sentence that starts with the artifact's name.
pub fn check(signature: Option<&Signature>, message: &[u8], trusted: &[PublicKey]) -> Result<Verdict, String> {
    let Some(sig) = signature else {
        return match trusted {
            [] => Ok(Verdict::Unsigned),
            _ => Err(format!(
                "is unsigned, but this machine trusts only artifacts signed by {}: deploy one built with `wheelsfx build --sign`",
                key_list(trusted)
            )),
        };
    };
    if trusted.is_empty() {
        return Ok(Verdict::Unchecked(sig.key_id));
    }
    let Some(key) = trusted.iter().find(|k| k.id == sig.key_id) else {
        return Err(format!(
            "is signed by key {}, which is not trusted here (trusted: {}): deploy an artifact signed by a trusted key, or trust that key's .pub file with --trust",
            sig.key_id,
            key_list(trusted)
        ));
    };
    if !sig.verify(key, &prehash(message)) {
        return Err(format!(
            "has a signature by key {} that does not match its contents: it was changed after it was signed; download or rebuild it",
            sig.key_id
        ));
    }
    Ok(Verdict::Trusted(sig.key_id))
}

/// The trusted key ids, for a message: all when few, else a count.
fn key_list(keys: &[PublicKey]) -> String {
    match keys.len() {
        1 => format!("key {}", keys[0].id),
        2..=4 => format!(
            "keys {}",
            keys.iter().map(|k| k.id.to_string()).collect::<Vec<_>>().join(", ")
        ),
        n => format!("{n} keys ({}, ...)", keys[0].id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn pair(seed: u8) -> (SigningKey, PublicKey) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let pk = PublicKey::new(KeyId([seed, 1, 2, 3, 4, 5, 6, 7]), sk.verifying_key());
        (sk, pk)
    }

    fn sign(sk: &SigningKey, id: KeyId, message: &[u8], comment: &str) -> Signature {
        let hash = prehash(message);
        Signature::create(id, &hash, comment, |m| sk.sign(m).to_bytes())
    }

    #[test]
    fn key_ids_read_as_minisign_shows_them() {
        assert_eq!(
            KeyId([0x91, 0x02, 0x99, 0xEA, 0x47, 0x85, 0x92, 0xEB]).to_string(),
            "EB928547EA990291"
        );
    }

    #[test]
    fn minisign_public_keys_round_trip() {
        // Written by `minisign -G -W` (Debian's 0.11).
        let file = "untrusted comment: minisign public key EB928547EA990291\nRWSRApnqR4WS6+Df2bL0nsPBHIs3j4+r++ODFWZIRpkJJBRrU+bi99kn\n";
        let key = PublicKey::from_file_text(file).unwrap();
        assert_eq!(key.id.to_string(), "EB928547EA990291");
        assert_eq!(key.to_file_text(), file);
        assert_eq!(PublicKey::load(&key.to_base64()).unwrap().id, key.id);
        assert!(PublicKey::from_file_text("RWSRApnqR4WS6+Df2bL0nsPBHIs3j4+r++ODFWZIRpkJJBRrU+bi99kn").is_err());
        assert!(PublicKey::from_base64("RWSRApnqR4WS6+Df2bL0nsPBHIs3j4").is_err());
    }

    #[test]
    fn blocks_round_trip_at_their_fixed_length() {
        let (sk, pk) = pair(7);
        let line = format!("wheelsfx-sha256:{}", "ab".repeat(32));
        let block = sign(&sk, pk.id, line.as_bytes(), &line).to_block();
        assert_eq!(block.len(), BLOCK_LEN);
        let sig = Signature::from_block(block.as_bytes(), &line).unwrap();
        let id = pk.id;
        let trusted = [pk];
        assert_eq!(check(Some(&sig), line.as_bytes(), &trusted), Ok(Verdict::Trusted(id)));
        let other = format!("wheelsfx-sha256:{}", "cd".repeat(32));
        let moved = Signature::from_block(block.as_bytes(), &other).unwrap();
        assert!(check(Some(&moved), other.as_bytes(), &trusted)
            .unwrap_err()
            .contains("does not match"));
        assert!(Signature::from_block(&block.as_bytes()[1..], &line).is_err());
    }

    #[test]
    fn the_rule() {
        let (sk, pk) = pair(1);
        let (_, other) = pair(2);
        let sig = sign(&sk, pk.id, b"m", "c");
        assert_eq!(check(None, b"m", &[]), Ok(Verdict::Unsigned));
        assert_eq!(check(Some(&sig), b"m", &[]), Ok(Verdict::Unchecked(pk.id)));
        let id = pk.id;
        let trusted = [pk];
        assert!(check(None, b"m", &trusted).unwrap_err().starts_with("is unsigned"));
        assert!(check(Some(&sig), b"m", &[other])
            .unwrap_err()
            .contains("not trusted here"));
        assert!(check(Some(&sig), b"x", &trusted).is_err());
        assert_eq!(check(Some(&sig), b"m", &trusted), Ok(Verdict::Trusted(id)));
    }
}
