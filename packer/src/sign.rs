//! Signing, on the packer's side only (the stub never holds a secret key): `wheelsfx keygen`,
//! the secret key file, and the two signatures `build --sign` makes. The formats themselves
//! (key ids, public keys, signatures, the trailer block) are `wheelsfx_payload::signature`'s.
//!
//! The secret key file is minisign's unencrypted one (`minisign -G -W`), so `minisign -S -s`
//! signs with it too: base64 of "Ed", KDF "\0\0" (none), checksum "B2", 48 KDF bytes unused
//! without a KDF, the key id, the 64-byte Ed25519 secret key (seed, then public key) and the
//! BLAKE2b-256 of "Ed" || key id || secret key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use ed25519_dalek::{Signer, SigningKey};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use wheelsfx_payload::signature::{
    self, prehash, prehash_reader, KeyId, PublicKey, Signature, KEY_ALGORITHM, SECRET_KEY_LEN,
};

const KDF_NONE: [u8; 2] = [0, 0];
const KDF_SCRYPT: [u8; 2] = *b"Sc";
const CHECKSUM_ALGORITHM: [u8; 2] = *b"B2";
/// A secret key file is two short lines.
pub struct SecretKey {
    id: KeyId,
    key: SigningKey,
}

impl SecretKey {
    fn generate() -> Result<SecretKey, String> {
        let (mut seed, mut id) = ([0u8; 32], [0u8; 8]);
        getrandom::fill(&mut seed)
            .and_then(|()| getrandom::fill(&mut id))
            .map_err(|e| format!("cannot get random bytes from the system: {e}"))?;
        Ok(SecretKey {
            id: KeyId(id),
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::new(self.id, self.key.verifying_key())
    }

    /// Reads a secret key file written by `wheelsfx keygen` or `minisign -G -W`.
    pub fn load(path: &Path) -> Result<SecretKey, String> {
        let text = signature::read_key_file(path, "secret key")?;
        let name = path.display();
        Self::parse(&text).map_err(|m| format!("the secret key {name} {m}"))
    }

    fn parse(text: &str) -> Result<SecretKey, String> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"));
        let b = line.and_then(|l| BASE64.decode(l).ok()).unwrap_or_default();
        if b.len() != SECRET_KEY_LEN || b[..2] != KEY_ALGORITHM || b[4..6] != CHECKSUM_ALGORITHM {
            return Err("is not a minisign secret key (wheelsfx keygen writes one)".into());
        }
        if b[2..4] == KDF_SCRYPT {
            return Err("is encrypted with a password; wheelsfx signs with unencrypted keys (wheelsfx keygen, or minisign -G -W)".into());
        }
        if b[2..4] != KDF_NONE {
            return Err("uses a key derivation minisign does not define".into());
        }
        let id = KeyId(b[54..62].try_into().expect("8 bytes"));
        let secret: [u8; 64] = b[62..126].try_into().expect("64 bytes");
        // minisign -G -W leaves the checksum zero; ours is filled in.
        if b[126..] != checksum(id, &secret) && b[126..].iter().any(|&x| x != 0) {
            return Err("is damaged: its checksum does not match".into());
        }
        let key = SigningKey::from_keypair_bytes(&secret)
            .map_err(|_| "is damaged: its public half does not belong to its secret half".to_string())?;
        Ok(SecretKey { id, key })
    }

    fn to_file_text(&self) -> String {
        let secret = self.key.to_keypair_bytes();
        let bytes = [
            &KEY_ALGORITHM[..],
            &KDF_NONE,
            &CHECKSUM_ALGORITHM,
            &[0u8; 48],
            &self.id.0,
            &secret,
            &checksum(self.id, &secret),
        ]
        .concat();
        format!(
            "untrusted comment: wheelsfx secret key {} (unencrypted: keep it secret)\n{}\n",
            self.id,
            BASE64.encode(bytes)
        )
    }

    /// The signature embedded in an artifact: over its digest line, which is also the
    /// trusted comment (so `minisign -V` shows which digest was signed).
    pub fn sign_digest(&self, digest_line: &str) -> Signature {
        self.sign(&prehash(digest_line.as_bytes()), digest_line)
    }

    /// The detached signature, over every byte of the finished artifact `file`, for stock
    /// `minisign -Vm ARTIFACT`; its trusted comment is the artifact's digest line too.
    pub fn sign_file(&self, file: &File, digest_line: &str) -> std::io::Result<Signature> {
        Ok(self.sign(&prehash_reader(file)?, digest_line))
    }

    fn sign(&self, message_hash: &[u8; 64], trusted_comment: &str) -> Signature {
        Signature::create(self.id, message_hash, trusted_comment, |m| self.key.sign(m).to_bytes())
    }
}

/// The secret key file's checksum: BLAKE2b-256 of "Ed" || key id || secret key.
fn checksum(id: KeyId, secret: &[u8; 64]) -> [u8; 32] {
    Blake2b::<U32>::new()
        .chain_update(KEY_ALGORITHM)
        .chain_update(id.0)
        .chain_update(secret)
        .finalize()
        .into()
}

/// `wheelsfx keygen -o PATH`: a new key pair, the secret key at PATH (0600) and the public
/// key at PATH.pub. Existing files are kept unless `force`: a lost key cannot sign again.
pub fn keygen(path: &Path, force: bool) -> Result<PublicKey, String> {
    let public_path = pub_path(path);
    for p in [path, &public_path] {
        if !force && std::fs::symlink_metadata(p).is_ok() {
            return Err(format!(
                "{} already exists; pass --force to replace it (what it signed can then no longer be checked with it)",
                p.display()
            ));
        }
    }
    let key = SecretKey::generate()?;
    write_new(path, 0o600, &key.to_file_text())?;
    write_new(&public_path, 0o644, &key.public().to_file_text())?;
    Ok(key.public())
}

pub fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// Creates `path` afresh with `mode`: whatever was there (with --force) is removed first and
/// the file is created exclusively, so neither old permissions nor a planted symlink carry over.
fn write_new(path: &Path, mode: u32, text: &str) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `minisign -G -W` (Debian's 0.11), which leaves the checksum zero.
    const MINISIGN_KEY: &str = "untrusted comment: minisign encrypted secret key\nRWQAAEIyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAkQKZ6keFkuuU/0dCfJDghqD1Fod1YXD4ahcdcj6/McV41hbZJce7y+Df2bL0nsPBHIs3j4+r++ODFWZIRpkJJBRrU+bi99knAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    #[test]
    fn reads_minisign_keys_and_its_own() {
        let key = SecretKey::parse(MINISIGN_KEY).unwrap();
        assert_eq!(key.id().to_string(), "EB928547EA990291");
        assert_eq!(
            key.public().to_base64(),
            "RWSRApnqR4WS6+Df2bL0nsPBHIs3j4+r++ODFWZIRpkJJBRrU+bi99kn"
        );
        let ours = SecretKey::generate().unwrap();
        let again = SecretKey::parse(&ours.to_file_text()).unwrap();
        assert_eq!(
            (again.id(), again.public().to_base64()),
            (ours.id(), ours.public().to_base64())
        );
    }

    #[test]
    fn refuses_encrypted_damaged_and_public_keys() {
        let line = MINISIGN_KEY.lines().nth(1).unwrap();
        let tweaked = |at: usize, f: fn(&mut [u8])| {
            let mut b = BASE64.decode(line).unwrap();
            f(&mut b[at..]);
            SecretKey::parse(&BASE64.encode(b)).err().unwrap()
        };
        assert!(tweaked(2, |b| b[..2].copy_from_slice(b"Sc")).contains("encrypted with a password"));
        assert!(tweaked(126, |b| b[0] ^= 1).contains("checksum"));
        assert!(tweaked(100, |b| b[0] ^= 1).contains("public half"));
        let public = "RWSRApnqR4WS6+Df2bL0nsPBHIs3j4+r++ODFWZIRpkJJBRrU+bi99kn";
        assert!(SecretKey::parse(public)
            .err()
            .unwrap()
            .contains("not a minisign secret key"));
    }
}
