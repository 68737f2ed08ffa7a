//! Step 2: open the payload: every byte of the artifact against the digest it ends with,
//! then its structure and manifest, then its signature against the trusted keys, before
//! anything is written. Entries are checked against their manifest hashes again as they
//! stream, and `--verify` also checks every wheel's files against its RECORD
//! (`Payload::verify_all`).

use crate::error::Result;
use std::path::Path;
use wheelsfx_payload::limits::Limits;
use wheelsfx_payload::reader::Payload;
use wheelsfx_payload::signature::{PublicKey, Verdict};

pub fn open(artifact: &Path, limits: &Limits, trusted: &[PublicKey]) -> Result<(Payload, Verdict)> {
    signed(Payload::open(artifact, limits)?, trusted)
}

/// For a deploy: `Payload::open_deferred`, so a deploy hashes only the chunks it reads; it
/// must call `verify_except` before reading any entry.
pub fn open_deferred(artifact: &Path, limits: &Limits, trusted: &[PublicKey]) -> Result<(Payload, Verdict)> {
    signed(Payload::open_deferred(artifact, limits)?, trusted)
}

fn signed(payload: Payload, trusted: &[PublicKey]) -> Result<(Payload, Verdict)> {
    let verdict = payload.check_signature(trusted)?;
    Ok((payload, verdict))
}
