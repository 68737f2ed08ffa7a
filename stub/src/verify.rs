//! Step 2: open the payload and check its structure and manifest. Entry bytes are checked
//! as they stream (unpack, install), or all at once by `--verify` (`Payload::verify_all`).

use crate::error::Result;
use std::path::Path;
use wheelsfx_payload::reader::Payload;

pub fn open(artifact: &Path) -> Result<Payload> {
    Ok(Payload::open(artifact)?)
}
