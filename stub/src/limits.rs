//! Caps against zip bombs: how much a payload and its wheels may unpack to, and how far one
//! entry may inflate. Both can be raised from the command line for an unusual artifact.

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total bytes all entries and all wheel contents may unpack to.
    pub max_unpacked: u64,
    /// Largest uncompressed:compressed ratio for an entry of at least [`RATIO_FLOOR`] bytes.
    pub max_ratio: u64,
}

/// Entries smaller than this are never judged by ratio: small files compress oddly well and
/// cannot do harm.
pub const RATIO_FLOOR: u64 = 1 << 20;

impl Default for Limits {
    /// 16 GiB and 250:1: far above a real site (the 60-wheel Wagtail corpus unpacks to
    /// 192 MiB; its most compressible file inflates about 30:1), far below a bomb.
    fn default() -> Self {
        Limits {
            max_unpacked: 16 << 30,
            max_ratio: 250,
        }
    }
}

impl Limits {
    pub fn check_ratio(&self, name: &str, size: u64, compressed: u64) -> Result<(), String> {
        if size >= RATIO_FLOOR && size / compressed.max(1) > self.max_ratio {
            return Err(format!(
                "{name} inflates {compressed} bytes to {size} (over {}:1, like a zip bomb); if that is expected, pass --max-ratio",
                self.max_ratio
            ));
        }
        Ok(())
    }

    pub fn check_total(&self, total: u64) -> Result<(), String> {
        if total > self.max_unpacked {
            return Err(format!(
                "it would unpack to {total} bytes, over the limit of {}; if that is expected, pass --max-unpacked-size",
                self.max_unpacked
            ));
        }
        Ok(())
    }
}

/// A zip entry's Unix file type, when it records one, must be a regular file: no symlinks,
/// devices, FIFOs or sockets.
pub fn check_regular(name: &str, unix_mode: Option<u32>) -> Result<(), String> {
    match unix_mode.map(|m| m & 0o170000) {
        None | Some(0) | Some(0o100000) => Ok(()),
        Some(kind) => Err(format!("entry {name} is not a regular file (file type {kind:o})")),
    }
}
