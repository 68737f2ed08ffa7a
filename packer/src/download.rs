//! pip for an exact target: `pip download` of binary wheels for a Python (and platform) that
//! is not the build machine's, and, when pip fails, the list of every distribution without a
//! wheel for the target (pip stops at the first). Also what the build interpreter is: its
//! exact version and C library, the implicit target.

use crate::targets::TargetSpec;
use std::path::Path;
use std::process::{Command, Stdio};
use wheelsfx_payload::tags::Libc;
use wheelsfx_payload::wheelname::normalize;

/// The build interpreter's exact version and C library.
pub fn interpreter(python: &str) -> Result<([u32; 3], Libc), String> {
    // glibc answers confstr; musl does not, and pip's vendored packaging reads its version
    // from the interpreter's ELF loader.
    const QUERY: &str = r#"
import os, sys
print('%d.%d.%d' % sys.version_info[:3])
try:
    print(os.confstr('CS_GNU_LIBC_VERSION') or '')
except (ValueError, OSError):
    try:
        from pip._vendor.packaging._musllinux import _get_musl_version
        v = _get_musl_version(sys.executable)
        print('musl %d.%d' % (v.major, v.minor) if v else '')
    except Exception:
        print('')
"#;
    let out = Command::new(python)
        .args(["-c", QUERY])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run --python {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!("--python {python} does not run"));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines
        .next()
        .and_then(wheelsfx_payload::manifest::parse_xyz)
        .ok_or_else(|| format!("--python {python} did not say its version"))?;
    Ok((version, libc_of(lines.next().unwrap_or(""))))
}

/// `glibc 2.36` or `musl 1.2` as [`Libc`]; anything else is not known.
fn libc_of(said: &str) -> Libc {
    let nums = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.trim().split_once('.')?;
        Some((a.parse().ok()?, b.split('.').next()?.parse().ok()?))
    };
    match said.split_once(' ') {
        Some(("glibc", v)) => nums(v).map_or(Libc::Unknown, |(a, b)| Libc::Glibc(a, b)),
        Some(("musl", v)) => nums(v).map_or(Libc::Unknown, |(a, b)| Libc::Musl(a, b)),
        _ => Libc::Unknown,
    }
}

/// `pip download --only-binary=:all:` of the requirements' closure for one target into `dir`.
/// On failure, the error lists every requirement line that has no wheel for the target.
pub fn wheels_for(
    python: &str,
    target: &TargetSpec,
    requirements: &Path,
    wheelhouse: Option<&Path>,
    dir: &Path,
) -> Result<(), String> {
    eprintln!("wheelsfx: downloading wheels for {}", target.label());
    let mut cmd = pip_download(python, target, wheelhouse, dir);
    cmd.arg("-r").arg(requirements);
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {python} -m pip: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    eprint!("{err}");
    if out.status.success() {
        return Ok(());
    }
    let lines = requirement_lines(requirements)?;
    let scratch = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let missing = without_wheels(python, target, wheelhouse, scratch.path(), lines, &err);
    if missing.is_empty() {
        return Err(format!(
            "pip could not download the wheels of {} for {} ({}); see pip's output above",
            requirements.display(),
            target.label(),
            out.status
        ));
    }
    Err(format!(
        "no wheel for {} of {}: {}; pin versions that publish wheels for it, add wheels for it \
         to a --wheelhouse (pip wheel on a machine like the servers), or build on such a machine \
         without --target-python",
        target.label(),
        plural(missing.len(), "requirement"),
        missing.join(", ")
    ))
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// At most this many extra pip runs look for further requirements without wheels.
const RETRIES: usize = 12;

/// pip names one failing requirement per run: each named one is set aside and the rest tried
/// again (`--no-deps`, one line each), until pip succeeds or the retries are spent.
fn without_wheels(
    python: &str,
    target: &TargetSpec,
    wheelhouse: Option<&Path>,
    dir: &Path,
    mut lines: Vec<String>,
    first_error: &str,
) -> Vec<String> {
    let mut missing = Vec::new();
    let mut err = first_error.to_string();
    for _ in 0..RETRIES {
        let Some(i) = failed_line(&err, &lines) else { break };
        missing.push(lines.remove(i));
        if lines.is_empty() {
            break;
        }
        let mut cmd = pip_download(python, target, wheelhouse, dir);
        let Ok(out) = cmd.arg("--no-deps").args(&lines).stdout(Stdio::null()).output() else {
            break;
        };
        if out.status.success() {
            break;
        }
        err = String::from_utf8_lossy(&out.stderr).into_owned();
    }
    missing
}

/// The requirement line pip's "No matching distribution found for NAME..." names.
fn failed_line(pip_stderr: &str, lines: &[String]) -> Option<usize> {
    let tail = pip_stderr.rsplit("No matching distribution found for ").next()?;
    if tail.len() == pip_stderr.len() {
        return None;
    }
    let name = normalize(&req_name(tail.lines().next()?));
    lines.iter().position(|l| normalize(&req_name(l)) == name)
}

/// The distribution name at the start of a requirement (`markupsafe==2.1.5; ...`).
fn req_name(req: &str) -> String {
    req.trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// The requirement lines of a requirements file: comments, options and hashes left out.
fn requirement_lines(requirements: &Path) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(requirements).map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    Ok(text
        .replace("\\\n", " ")
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
        .map(|l| l.split(" --").next().unwrap_or(l).trim().to_string())
        .collect())
}

/// `python -m pip download` for exactly this target, binary wheels only.
fn pip_download(python: &str, target: &TargetSpec, wheelhouse: Option<&Path>, dir: &Path) -> Command {
    let mut cmd = crate::pip::download_for(python, target);
    if let Some(w) = wheelhouse {
        cmd.arg("--find-links").arg(w);
    }
    cmd.arg("-d").arg(dir);
    cmd
}

/// Every platform tag a machine of `tag` accepts: pip takes `--platform` literally (only the
/// legacy manylinux2010/2014 are widened), so `manylinux_2_36_x86_64` is passed with each
/// older glibc floor down to manylinux1/2014, and `musllinux_1_2` with `musllinux_1_1`, `_1_0`.
pub fn compatible_platforms(tag: &str) -> Vec<String> {
    let legacy = [("manylinux1_", 5), ("manylinux2010_", 12), ("manylinux2014_", 17)];
    let (kind, arch, top) = if let Some((prefix, minor)) = legacy.iter().find(|(p, _)| tag.starts_with(p)) {
        ("manylinux", &tag[prefix.len()..], *minor)
    } else {
        let parsed = ["manylinux_2_", "musllinux_1_"].iter().find_map(|p| {
            let (minor, arch) = tag.strip_prefix(p)?.split_once('_')?;
            Some((&p[..9], arch, minor.parse().ok()?))
        });
        let Some(parsed) = parsed else {
            return vec![tag.to_string()];
        };
        parsed
    };
    let mut out = Vec::new();
    for m in (0..=top).rev() {
        if kind == "musllinux" {
            out.push(format!("musllinux_1_{m}_{arch}"));
            continue;
        }
        let floor = if matches!(arch, "x86_64" | "i686") { 5 } else { 17 };
        if m < floor {
            break;
        }
        out.push(format!("manylinux_2_{m}_{arch}"));
        if let Some((prefix, _)) = legacy.iter().find(|(_, minor)| *minor == m) {
            out.push(format!("{prefix}{arch}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_names_the_failing_line() {
        let lines: Vec<String> = ["MarkupSafe==2.1.5", "docopt==0.6.2"].map(String::from).into();
        let err =
            "ERROR: Could not find a version that satisfies the requirement docopt==0.6.2 (from versions: none)\n\
                   ERROR: No matching distribution found for docopt==0.6.2\n";
        assert_eq!(failed_line(err, &lines), Some(1));
        assert_eq!(failed_line("ERROR: something else", &lines), None);
        assert_eq!(libc_of("glibc 2.36"), Libc::Glibc(2, 36));
        assert_eq!(libc_of("musl 1.2"), Libc::Musl(1, 2));
        assert_eq!(libc_of(""), Libc::Unknown);
    }

    #[test]
    fn platforms_are_widened_for_pip() {
        let p = compatible_platforms("manylinux_2_31_x86_64");
        assert_eq!(p[..2], ["manylinux_2_31_x86_64", "manylinux_2_30_x86_64"]);
        assert!(p.contains(&"manylinux2014_x86_64".to_string()) && p.contains(&"manylinux1_x86_64".to_string()));
        assert!(!p.contains(&"manylinux_2_32_x86_64".to_string()));
        assert_eq!(
            compatible_platforms("manylinux2014_aarch64").last().unwrap(),
            "manylinux2014_aarch64"
        );
        assert_eq!(compatible_platforms("musllinux_1_2_x86_64").len(), 3);
        assert_eq!(compatible_platforms("linux_x86_64"), ["linux_x86_64"]);
    }

    #[test]
    fn requirement_lines_skip_options_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.txt");
        std::fs::write(
            &f,
            "# c\n--index-url x\nfoo==1.0 \\\n    --hash=sha256:ab\nbar>=2 # why\n\n",
        )
        .unwrap();
        assert_eq!(requirement_lines(&f).unwrap(), vec!["foo==1.0", "bar>=2"]);
    }
}
