//! Signed artifacts: `wheelsfx keygen`, `build --sign`, trust from `--trust`, `WHEELSFX_TRUST`
//! and the trusted directory; refusals of unsigned, foreign, damaged and transplanted
//! signatures before anything is written; stock minisign on both signatures; inspect/verify.

use crate::support::*;
use crate::Fixture;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The signature block after the digest in a signed artifact's zip comment.
const BLOCK_LEN: usize = 199;
const DIGEST_LINE_LEN: usize = 80;

/// A key pair written by `wheelsfx keygen`.
struct Key {
    secret: PathBuf,
    public: PathBuf,
    id: String,
}

impl Key {
    /// The public key's base64 line, which `--trust` takes as well as the file.
    fn line(&self) -> String {
        let text = std::fs::read_to_string(&self.public).unwrap();
        text.lines().nth(1).unwrap().to_string()
    }

    fn public_arg(&self) -> &str {
        self.public.to_str().unwrap()
    }
}

fn keygen(dir: &Path, name: &str) -> Key {
    let secret = dir.join(name);
    ok(wheelsfx().arg("keygen").arg("-o").arg(&secret));
    let public = dir.join(format!("{name}.pub"));
    let text = std::fs::read_to_string(&public).unwrap();
    let id = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("untrusted comment: minisign public key "))
        .unwrap_or_else(|| panic!("not a minisign public key:\n{text}"))
        .to_string();
    Key { secret, public, id }
}

/// The standard fixture, its artifact signed with a fresh key.
fn signed() -> (Fixture, Key) {
    let fx = Fixture::new();
    let key = keygen(fx.dir.path(), "release.key");
    fx.build(&["--sign", key.secret.to_str().unwrap()]);
    (fx, key)
}

/// Trust nothing from the environment or /etc: only what the test passes.
fn hermetic<'a>(cmd: &'a mut Command, fx: &Fixture) -> &'a mut Command {
    let empty = fx.dir.path().join("no-trusted-keys");
    std::fs::create_dir_all(&empty).unwrap();
    cmd.env_remove("WHEELSFX_TRUST").env("WHEELSFX_TRUST_DIR", empty)
}

/// `ARTIFACT -d DEST --python PY --no-compile ARGS`, trusting only what `args` name.
fn install(fx: &Fixture, artifact: &Path, dest: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(artifact);
    cmd.arg("-d")
        .arg(dest)
        .arg("--python")
        .arg(&pythons()[0].path)
        .arg("--no-compile")
        .args(args);
    hermetic(&mut cmd, fx);
    cmd
}

fn receipt(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stdout)))
}

/// Stock minisign; the test fails, saying why, where it is not installed.
fn minisign() -> Command {
    if Command::new("minisign").arg("-v").output().is_err() {
        missing("minisign is not installed");
    }
    Command::new("minisign")
}

#[test]
fn keygen_writes_a_0600_secret_key_and_a_minisign_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k");
    let mode = std::fs::metadata(&key.secret).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the secret key is readable by others");
    assert!(
        key.id.len() == 16 && key.id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
        "{}",
        key.id
    );
    assert!(key.line().starts_with("RW") && key.line().len() == 56, "{}", key.line());

    let before = std::fs::read(&key.secret).unwrap();
    let again = wheelsfx().arg("keygen").arg("-o").arg(&key.secret).output().unwrap();
    refused(&again, 1, "--force");
    assert_eq!(std::fs::read(&key.secret).unwrap(), before, "a key was overwritten");
    ok(wheelsfx().arg("keygen").arg("-o").arg(&key.secret).arg("--force"));
    assert_ne!(std::fs::read(&key.secret).unwrap(), before);
}

/// The secret key is minisign's own unencrypted format: minisign signs with it.
#[test]
#[ignore = "needs Debian's minisign; CI runs it"]
fn stock_minisign_signs_with_a_keygen_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "k");
    let mut minisign = minisign();
    let file = dir.path().join("file.txt");
    std::fs::write(&file, "hello\n").unwrap();
    ok(minisign.arg("-S").arg("-s").arg(&key.secret).arg("-m").arg(&file));
    ok(Command::new("minisign")
        .arg("-Vm")
        .arg(&file)
        .arg("-p")
        .arg(&key.public));
}

#[test]
fn a_signed_artifact_deploys_with_trust_and_the_receipt_names_the_key() {
    let (fx, key) = signed();
    for (label, trust) in [("by-file", key.public_arg().to_string()), ("by-line", key.line())] {
        let dest = fx.dest(label);
        let out = ok(&mut install(&fx, &fx.artifact, &dest, &["--trust", &trust, "--json"]));
        let want = json!({"key": key.id, "checked": true});
        assert_eq!(receipt(&out)["signature"], want, "{label}");
        let saved: Value =
            serde_json::from_slice(&std::fs::read(dest.join(".wheelsfx/receipt.json")).unwrap()).unwrap();
        assert_eq!(saved["signature"], want, "{label}");
    }
}

#[test]
fn trust_comes_from_wheelsfx_trust_and_the_trust_directory() {
    let (fx, key) = signed();
    let other = keygen(fx.dir.path(), "other.key");
    let both = format!("{}:{}", other.public.display(), key.line());
    ok(install(&fx, &fx.artifact, &fx.dest("env"), &[]).env("WHEELSFX_TRUST", both));

    let trusted = fx.dir.path().join("trusted.d");
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::copy(&other.public, trusted.join("other.pub")).unwrap();
    std::fs::write(trusted.join("README"), "not a key, and not named *.pub").unwrap();
    let dest = fx.dest("dir-other");
    let out = install(&fx, &fx.artifact, &dest, &[])
        .env("WHEELSFX_TRUST_DIR", &trusted)
        .output()
        .unwrap();
    refused(&out, 3, &format!("signed by key {}, which is not trusted here", key.id));
    assert!(!dest.exists());

    std::fs::copy(&key.public, trusted.join("release.pub")).unwrap();
    ok(install(&fx, &fx.artifact, &fx.dest("dir"), &[]).env("WHEELSFX_TRUST_DIR", &trusted));

    std::fs::write(trusted.join("broken.pub"), "untrusted comment: x\nnot base64\n").unwrap();
    let out = install(&fx, &fx.artifact, &fx.dest("broken"), &[])
        .env("WHEELSFX_TRUST_DIR", &trusted)
        .output()
        .unwrap();
    refused(&out, 2, "broken.pub");
    let missing = fx.dir.path().join("no-such.pub");
    let out = install(
        &fx,
        &fx.artifact,
        &fx.dest("missing"),
        &["--trust", missing.to_str().unwrap()],
    )
    .output()
    .unwrap();
    refused(&out, 2, "no-such.pub");
    let out = install(
        &fx,
        &fx.artifact,
        &fx.dest("secret"),
        &["--trust", key.secret.to_str().unwrap()],
    )
    .output()
    .unwrap();
    refused(&out, 2, "is a secret key, not a public key");
}

#[test]
fn with_trust_unsigned_or_foreign_artifacts_are_refused_before_anything_is_written() {
    let fx = Fixture::new();
    let key = keygen(fx.dir.path(), "release.key");
    let srv = fx.dir.path().join("srv");
    let out = install(&fx, &fx.artifact, &fx.dest("unsigned"), &["--trust", key.public_arg()])
        .output()
        .unwrap();
    refused(&out, 3, "is unsigned");
    assert!(text(&out.stderr).contains(&key.id), "{}", text(&out.stderr));
    assert!(!srv.exists(), "something was written before the refusal");

    let other = keygen(fx.dir.path(), "other.key");
    fx.build(&["--sign", other.secret.to_str().unwrap()]);
    let out = install(&fx, &fx.artifact, &fx.dest("foreign"), &["--trust", key.public_arg()])
        .output()
        .unwrap();
    refused(&out, 3, &format!("signed by key {}", other.id));
    assert!(!srv.exists(), "something was written before the refusal");
}

#[test]
fn a_damaged_or_transplanted_signature_is_refused() {
    let (fx, key) = signed();
    let d = fx.dir.path();
    let bytes = std::fs::read(&fx.artifact).unwrap();
    let block_at = bytes.len() - BLOCK_LEN;
    let trust = ["--trust", key.public_arg()];

    // One base64 digit of the signature changed: the block parses, the signature fails.
    let mut flipped = bytes.clone();
    let i = block_at + 60;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    write_exe(&d.join("flipped.sfx"), &flipped);
    let out = install(&fx, &d.join("flipped.sfx"), &fx.dest("flipped"), &trust)
        .output()
        .unwrap();
    refused(&out, 3, "does not match its contents");
    // Not base64 at all: damaged, trusted keys or not.
    flipped[i] = b'!';
    write_exe(&d.join("garbled.sfx"), &flipped);
    let out = install(&fx, &d.join("garbled.sfx"), &fx.dest("garbled"), &[])
        .output()
        .unwrap();
    refused(&out, 3, "signature block is damaged");

    // A forgery: another payload with a valid digest, carrying the old signature.
    let other = d.join("other.sfx");
    ok(fx.build_command(&other).args(["--build-id", "forged"]));
    let mut forged = std::fs::read(&other).unwrap();
    let at = comment_at(&forged);
    let comment_len = u16::from_le_bytes([forged[at - 2], forged[at - 1]]) + BLOCK_LEN as u16;
    forged[at - 2..at].copy_from_slice(&comment_len.to_le_bytes());
    forged.extend_from_slice(&bytes[block_at..]);
    reseal(&mut forged, BLOCK_LEN);
    let exe = d.join("forged.sfx");
    write_exe(&exe, &forged);
    // The digest is valid: without trusted keys it passes every other check...
    ok(hermetic(Command::new(&exe).arg("--verify"), &fx));
    // ...but the signature is for another digest.
    let out = install(&fx, &exe, &fx.dest("forged"), &trust).output().unwrap();
    refused(&out, 3, "does not match its contents");
    assert!(!fx.dir.path().join("srv").exists());

    // Cut off or padded: the trailer no longer fits.
    let padded = [&bytes[..], b"x"].concat();
    for (label, damaged) in [("cut", &bytes[..block_at]), ("padded", &padded[..])] {
        let exe = d.join(format!("{label}.sfx"));
        write_exe(&exe, damaged);
        let out = install(&fx, &exe, &fx.dest(label), &[]).output().unwrap();
        refused(&out, 3, "truncated or damaged, or has data appended");
    }
}

#[test]
fn without_trusted_keys_a_signed_artifact_installs_unchecked() {
    let (fx, key) = signed();
    let dest = fx.dest("unchecked");
    let out = ok(&mut install(&fx, &fx.artifact, &dest, &[]));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("key {} (not checked against a trusted key)", key.id)),
        "{err}"
    );
    let saved: Value = serde_json::from_slice(&std::fs::read(dest.join(".wheelsfx/receipt.json")).unwrap()).unwrap();
    assert_eq!(saved["signature"], json!({"key": key.id, "checked": false}));
}

#[test]
#[ignore = "needs Debian's minisign; CI runs it"]
fn stock_minisign_verifies_both_signatures() {
    let (fx, key) = signed();
    let mut minisign = minisign();
    // The detached signature, over the whole file.
    let out = ok(minisign.arg("-Vm").arg(&fx.artifact).arg("-p").arg(&key.public));
    assert!(
        text(&out.stdout).contains("Trusted comment: wheelsfx-sha256:"),
        "{}",
        text(&out.stdout)
    );
    let changed = fx.dir.path().join("changed.sfx");
    let mut bytes = std::fs::read(&fx.artifact).unwrap();
    bytes.push(0);
    std::fs::write(&changed, &bytes).unwrap();
    let sig = PathBuf::from(format!("{}.minisig", fx.artifact.display()));
    let out = Command::new("minisign")
        .arg("-Vm")
        .arg(&changed)
        .arg("-x")
        .arg(&sig)
        .arg("-p")
        .arg(&key.public)
        .output()
        .unwrap();
    assert!(!out.status.success(), "minisign accepted a changed file");

    // The embedded one signs the digest line, which is also its trusted comment.
    bytes.pop();
    let comment = std::str::from_utf8(&bytes[bytes.len() - BLOCK_LEN - DIGEST_LINE_LEN..]).unwrap();
    let (line, block) = comment.split_at(DIGEST_LINE_LEN);
    let (sig_b64, global_b64) = block.strip_prefix(" minisign:").unwrap().split_once(':').unwrap();
    let message = fx.dir.path().join("digest-line");
    std::fs::write(&message, line).unwrap();
    let embedded = fx.dir.path().join("embedded.minisig");
    std::fs::write(
        &embedded,
        format!("untrusted comment: embedded\n{sig_b64}\ntrusted comment: {line}\n{global_b64}\n"),
    )
    .unwrap();
    ok(Command::new("minisign")
        .arg("-Vm")
        .arg(&message)
        .arg("-x")
        .arg(&embedded)
        .arg("-p")
        .arg(&key.public));
}

#[test]
fn inspect_shows_and_verify_checks_the_signature() {
    let (fx, key) = signed();
    let stub_json = ok(Command::new(&fx.artifact).args(["--inspect", "--json"]));
    let packer_json = ok(wheelsfx().args(["inspect", "--json"]).arg(&fx.artifact));
    for out in [stub_json, packer_json] {
        assert_eq!(receipt(&out)["signature"]["key"], json!(key.id));
    }
    let inspect = text(&ok(Command::new(&fx.artifact).arg("--inspect")).stdout);
    assert!(inspect.contains(&format!("signature:  key {}", key.id)), "{inspect}");

    let other = keygen(fx.dir.path(), "other.key");
    let out = ok(wheelsfx()
        .arg("verify")
        .arg(&fx.artifact)
        .args(["--trust", key.public_arg()]));
    assert!(
        text(&out.stdout).contains("verified with a trusted key"),
        "{}",
        text(&out.stdout)
    );
    let out = wheelsfx()
        .arg("verify")
        .arg(&fx.artifact)
        .args(["--trust", other.public_arg()])
        .output()
        .unwrap();
    refused(&out, 3, "not trusted here");
    let out = wheelsfx()
        .arg("verify")
        .arg(&fx.artifact)
        .args(["--trust", "RWnot-a-key"])
        .output()
        .unwrap();
    refused(&out, 2, "RWnot-a-key");
    ok(hermetic(
        Command::new(&fx.artifact).args(["--verify", "--trust", key.public_arg()]),
        &fx,
    ));
    let out = hermetic(
        Command::new(&fx.artifact).args(["--verify", "--trust", other.public_arg()]),
        &fx,
    )
    .output()
    .unwrap();
    refused(&out, 3, "not trusted here");

    let plain = fx.dir.path().join("plain.sfx");
    ok(&mut fx.build_command(&plain));
    let out = ok(wheelsfx().args(["inspect", "--json"]).arg(&plain));
    assert_eq!(receipt(&out)["signature"], "unsigned");
    let out = wheelsfx()
        .arg("verify")
        .arg(&plain)
        .args(["--trust", key.public_arg()])
        .output()
        .unwrap();
    refused(&out, 3, "is unsigned");
}

#[test]
fn build_signs_from_pyproject_and_refuses_a_bad_key() {
    let fx = Fixture::new();
    let d = fx.dir.path();
    let key = keygen(d, "release.key");
    let config = format!(
        "[tool.wheelsfx]\napp = \"src/mysite\"\nwheelhouse = \"wheelhouse\"\nbootstrap-wheels = {:?}\noutput = \"cfg.sfx\"\nsign = \"release.key\"\n",
        bootstrap_dir().display().to_string()
    );
    std::fs::write(d.join("pyproject.toml"), config).unwrap();
    ok(wheelsfx().arg("build").current_dir(d));
    let out = ok(wheelsfx().args(["inspect", "--json", "cfg.sfx"]).current_dir(d));
    assert_eq!(receipt(&out)["signature"]["key"], json!(key.id));
    assert!(d.join("cfg.sfx.minisig").is_file());
    // An unsigned rebuild leaves no signature of other bytes beside it.
    ok(&mut fx.build_command(&d.join("cfg.sfx")));
    assert!(!d.join("cfg.sfx.minisig").exists(), "a stale .minisig was left");

    let out = wheelsfx()
        .arg("build")
        .args(["--sign", key.public_arg()])
        .current_dir(d)
        .output()
        .unwrap();
    refused(&out, 2, "is not a minisign secret key");
}

#[test]
fn signed_builds_are_reproducible() {
    let fx = Fixture::new();
    let key = keygen(fx.dir.path(), "release.key");
    let build = |name: &str| {
        let out = fx.dir.path().join(name);
        ok(fx
            .build_command(&out)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args(["--sign", key.secret.to_str().unwrap()]));
        let minisig = std::fs::read(format!("{}.minisig", out.display())).unwrap();
        (std::fs::read(&out).unwrap(), minisig)
    };
    assert!(build("a.sfx") == build("b.sfx"), "two signed builds differ");
}
