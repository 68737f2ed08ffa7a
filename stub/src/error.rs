//! How the stub fails: one sentence and a distinct exit code per kind of failure.

use wheelsfx_payload::reader::PayloadError;

/// Exit codes, documented in the README. Each kind of refusal has its own, so Ansible and
/// scripts can tell "fix the artifact" from "fix the server" from "someone else is deploying".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Usage = 2,
    /// Also an artifact whose signature is not by a trusted key.
    CorruptArtifact = 3,
    NoInterpreter = 4,
    InstallFailed = 5,
    /// DEST holds another artifact or no release, or --force aims at the active release.
    DestExists = 6,
    /// Another run holds DEST's lock.
    Locked = 7,
    /// A hook failed: the release is installed but was not activated.
    HookFailed = 8,
    /// Activation, rollback or pruning failed (nothing to roll back to, LINK a real directory).
    Activation = 9,
}

#[derive(Debug)]
pub struct Fail {
    pub code: Code,
    pub msg: String,
}

pub type Result<T> = std::result::Result<T, Fail>;

impl Fail {
    pub fn new(code: Code, msg: impl Into<String>) -> Fail {
        Fail { code, msg: msg.into() }
    }
    pub fn usage(msg: impl Into<String>) -> Fail {
        Fail::new(Code::Usage, msg)
    }
    pub fn install(msg: impl Into<String>) -> Fail {
        Fail::new(Code::InstallFailed, msg)
    }
    pub fn activation(msg: impl Into<String>) -> Fail {
        Fail::new(Code::Activation, msg)
    }
}

impl From<PayloadError> for Fail {
    fn from(e: PayloadError) -> Fail {
        match e {
            PayloadError::Corrupt(m) | PayloadError::Untrusted(m) => Fail::new(Code::CorruptArtifact, m),
            PayloadError::Io(m) | PayloadError::Unverified(m) => Fail::install(m),
        }
    }
}

/// Adds "what we were doing" to an I/O error, as an install failure.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Fail::install(format!("{}: {e}", what())))
    }
}
