//! `DEST/environment.json`, the one file of a release the operator owns: `--env-file` is
//! checked before anything is written and placed with its mode (or `--env-mode`) and group
//! (`--env-group`); the hooks read it as loadenv does; `--strict-env` demands it.

use crate::error::{Context, Fail, Result};
use crate::stage::{open_new, Stage};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Its name in the release (beside `venv/`: loadenv finds it from `sys.prefix`).
pub const ENV_JSON: &str = "environment.json";

/// The most an environment file may hold: an environment is a few KiB; more is a mistake.
const ENV_FILE_MAX: u64 = 1 << 20;

/// An environment file as loadenv accepts it: a flat JSON object of strings.
pub struct EnvFile {
    pub text: Vec<u8>,
    /// Permission bits of the file read.
    pub mode: u32,
    pub vars: Vec<(String, String)>,
}

/// Reads `path` (through symlinks: a shared environment.json is one) if it is what loadenv
/// accepts. Only a regular file of at most 1 MiB is read (a FIFO would hang us, /dev/zero
/// fill memory); opened non-blocking so a FIFO is refused, not waited on. The error says why,
/// as a fragment for the caller to put behind the file's name ("it is not valid JSON").
pub fn read(path: &Path) -> std::result::Result<EnvFile, String> {
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "it does not exist".to_string(),
            _ => format!("cannot open it ({e})"),
        })?;
    let meta = file.metadata().map_err(|e| format!("cannot read it ({e})"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > ENV_FILE_MAX {
        return Err(format!("it is {} bytes, over the 1 MiB limit", meta.len()));
    }
    let mut text = Vec::new();
    file.take(ENV_FILE_MAX + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read it ({e})"))?;
    let value: Value = serde_json::from_slice(&text).map_err(|e| format!("it is not valid JSON ({e})"))?;
    let vars = value
        .as_object()
        .and_then(|o| {
            o.iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or("it must be a flat JSON object whose values are all strings")?;
    Ok(EnvFile {
        text,
        mode: meta.permissions().mode() & 0o777,
        vars,
    })
}

/// `--env-file` checked, with the mode and group it gets in the release.
pub struct Placement {
    text: Vec<u8>,
    mode: u32,
    gid: Option<u32>,
}

/// Everything about `--env-file`, `--env-mode` and `--env-group` that can be wrong is found
/// here, before anything is written (exit 2). Without `--env-mode` the file keeps its own mode
/// (a 0600 secret stays 0600).
pub fn prepare(path: &Path, mode: Option<u32>, group: Option<&str>) -> Result<Placement> {
    let file = read(path).map_err(|why| {
        Fail::usage(format!(
            "--env-file {}: {why}; pass a flat JSON object of strings",
            path.display()
        ))
    })?;
    Ok(Placement {
        mode: mode.unwrap_or(file.mode),
        gid: group.map(group_id).transpose()?,
        text: file.text,
    })
}

/// Writes `environment.json` into staging: created new and private, then given its group and
/// its exact mode (not the umask's: `--env-mode 0640` for a web server's group must be 0640).
pub fn place(stage: &Stage, p: &Placement) -> Result<()> {
    let path = stage.path(ENV_JSON);
    let shown = || stage.final_path(ENV_JSON).display().to_string();
    let mut f = open_new(&path, 0o600).ctx(|| format!("cannot create {}", shown()))?;
    f.write_all(&p.text).ctx(|| format!("cannot write {}", shown()))?;
    if let Some(gid) = p.gid {
        std::os::unix::fs::fchown(&f, None, Some(gid))
            .ctx(|| format!("cannot give {} the group {gid} (--env-group)", shown()))?;
    }
    f.set_permissions(std::fs::Permissions::from_mode(p.mode))
        .ctx(|| format!("cannot set the mode of {}", shown()))
}

/// `--env-mode`: octal permission bits, at most 0777 (no setuid, setgid or sticky bit).
pub fn parse_mode(s: &str) -> std::result::Result<u32, String> {
    u32::from_str_radix(s.strip_prefix("0o").unwrap_or(s), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| "want octal permission bits such as 0640 (at most 0777)".into())
}

/// `--env-group`: a numeric gid, or a name from the group database (/etc/group: the static
/// stub's libc reads it directly).
fn group_id(group: &str) -> Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(Fail::usage(format!(
            "--env-group {group}: no such group in /etc/group; pass an existing group name or a numeric gid"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o750"), Ok(0o750));
        for bad in ["", "8", "4755", "rw-r-----", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups() {
        assert_eq!(group_id("0").unwrap(), 0);
        assert_eq!(group_id("root").unwrap(), 0);
        assert_eq!(group_id("no-such-group-wheelsfx").unwrap_err().code as i32, 2);
    }
}
