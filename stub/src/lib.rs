//! The wheelsfx payload format, shared by the stub (which reads it) and the packer (which
//! writes it). Everything both sides must agree on lives here and nowhere else: entry names,
//! the manifest schema, the digest rule, wheel-filename and tag rules.
//!
//! An artifact is `[static stub][zip payload]`; the zip's offsets are absolute file offsets
//! (as `zip -A` leaves them), so any zip tool reads the artifact directly.

pub mod digest;
pub mod inspect;
pub mod layout;
pub mod limits;
pub mod manifest;
pub mod names;
pub mod pyversion;
pub mod reader;
pub mod record;
pub mod signature;
pub mod slice;
pub mod tags;
pub mod wheel;
pub mod wheelname;
