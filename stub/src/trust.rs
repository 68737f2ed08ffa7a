//! Step 2, continued: the keys this machine trusts. `--trust` (repeatable) and
//! `$WHEELSFX_TRUST` (colon-separated) each name a `.pub` file or give its key line; every
//! `*.pub` in `/etc/wheelsfx/trusted.d` and in `$WHEELSFX_TRUST_DIR` (so tests and
//! unprivileged users need not write /etc) is trusted too. One trusted key makes a signature by a trusted
//! key mandatory, so a key that cannot be read is bad usage, never skipped.

use crate::error::{Fail, Result};
use std::env::VarError;
use std::path::{Path, PathBuf};
use wheelsfx_payload::signature::PublicKey;

/// The system directory of trusted keys.
const TRUST_DIR: &str = "/etc/wheelsfx/trusted.d";

/// Every trusted key: from `args` (the `--trust` values), the environment, the directory.
pub fn trusted_keys(args: &[String]) -> Result<Vec<PublicKey>> {
    let env = match std::env::var("WHEELSFX_TRUST") {
        Ok(v) => v,
        Err(VarError::NotPresent) => String::new(),
        Err(VarError::NotUnicode(_)) => return Err(Fail::usage("WHEELSFX_TRUST is not valid UTF-8")),
    };
    let named = args
        .iter()
        .map(String::as_str)
        .chain(env.split(':').filter(|s| !s.is_empty()));
    let mut keys = named
        .map(|arg| {
            PublicKey::load(arg).map_err(|m| {
                Fail::usage(format!(
                    "{m} (--trust and WHEELSFX_TRUST take a .pub file or its key line)"
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    keys.extend(directory_keys()?);
    Ok(keys)
}

/// The keys in the trusted directories, in name order: the system one (which may be absent)
/// and `$WHEELSFX_TRUST_DIR` (which must exist, since someone meant it to hold keys). The
/// variable adds keys, never replaces the system's: whoever can set a deploy's environment
/// must not be able to switch the machine's trust policy off.
fn directory_keys() -> Result<Vec<PublicKey>> {
    let mut keys = keys_in(&PathBuf::from(TRUST_DIR), false)?;
    if let Some(extra) = std::env::var_os("WHEELSFX_TRUST_DIR") {
        keys.extend(keys_in(&PathBuf::from(extra), true)?);
    }
    Ok(keys)
}

fn keys_in(dir: &Path, must_exist: bool) -> Result<Vec<PublicKey>> {
    let entries = match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(Vec::new()),
        r => r.map_err(|e| Fail::usage(format!("cannot read the trusted key directory {}: {e}", dir.display())))?,
    };
    let mut paths = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Fail::usage(format!("cannot read the trusted key directory {}: {e}", dir.display())))?;
    paths.retain(|p| p.extension().is_some_and(|x| x == "pub"));
    paths.sort();
    paths
        .iter()
        .map(|p| PublicKey::read_file(p).map_err(|m| Fail::usage(format!("{m}; fix or remove it"))))
        .collect()
}
