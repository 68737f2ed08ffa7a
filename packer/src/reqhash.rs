//! `--requirements` files with `--hash=sha256:...` options (as `pip-compile --generate-hashes`
//! or `uv pip compile --generate-hashes` write them): pip then runs binary-only (a wheel pip
//! builds from an sdist has a hash no requirements file can list), its own `--require-hashes`
//! mode applies, and every wheel it hands back is checked here too against the hashes listed
//! for its distribution, so a wheel from a cache or a find-links folder cannot slip in.

use crate::pip;
use crate::wheel::WheelFile;
use std::collections::BTreeMap;
use std::path::Path;
use wheelsfx_payload::wheelname::normalize;

/// Hashes by normalised distribution name (`""` for requirements named only by a URL or a
/// path), each `(algorithm, hex)`.
pub type Hashes = BTreeMap<String, Vec<(String, String)>>;

/// The hashes a requirements file (and the files it includes with `-r`) lists.
pub fn read(path: &Path) -> Result<Hashes, String> {
    let mut out = Hashes::new();
    read_into(path, &mut out, 0)?;
    Ok(out)
}

fn read_into(path: &Path, out: &mut Hashes, depth: usize) -> Result<(), String> {
    let shown = path.display();
    if depth > 20 {
        return Err(format!("{shown}: -r includes nest more than 20 deep (a loop?)"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read requirements file {shown}: {e}"))?;
    for line in logical_lines(&text) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(file) = include(&words) {
            read_into(&path.parent().unwrap_or(Path::new(".")).join(file), out, depth + 1)?;
            continue;
        }
        if words.first().is_none_or(|w| w.starts_with('-')) {
            continue;
        }
        let hashes = line_hashes(&words).map_err(|e| format!("{shown}: {e}"))?;
        if !hashes.is_empty() {
            out.entry(requirement_name(words[0])).or_default().extend(hashes);
        }
    }
    Ok(())
}

/// Lines with `\` continuations joined and comments (`#` at the start or after a space)
/// removed.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let line = match raw.find('#').filter(|&i| i == 0 || raw[..i].ends_with([' ', '\t'])) {
            Some(i) => &raw[..i],
            None => raw,
        };
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(line);
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    out.push(cur);
    out
}

/// The file of `-r FILE`, `-rFILE`, `--requirement FILE` or `--requirement=FILE`.
fn include<'a>(words: &[&'a str]) -> Option<&'a str> {
    match words {
        ["-r" | "--requirement", file, ..] => Some(file),
        [w, ..] => w
            .strip_prefix("--requirement=")
            .or_else(|| w.strip_prefix("-r"))
            .filter(|f| !f.is_empty()),
        [] => None,
    }
}

/// Every `--hash=ALG:HEX` or `--hash ALG:HEX` of a requirement line.
fn line_hashes(words: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let value = match (*w, w.strip_prefix("--hash=")) {
            (_, Some(v)) => v,
            ("--hash", None) => it.next().copied().unwrap_or(""),
            _ => continue,
        };
        let (alg, hex) = value
            .split_once(':')
            .ok_or_else(|| format!("--hash {value:?} is not ALGORITHM:HEX (e.g. sha256:...)"))?;
        out.push((alg.to_ascii_lowercase(), hex.to_ascii_lowercase()));
    }
    Ok(out)
}

/// The distribution a requirement names (`Django>=4.2;...`, `pkg[extra]==1`, `pkg @ URL`);
/// `""` for a bare URL or path.
fn requirement_name(first: &str) -> String {
    if first.contains("://") || first.starts_with(['.', '/']) {
        return String::new();
    }
    let end = first
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(first.len());
    normalize(&first[..end])
}

/// `pip download --only-binary=:all: -r REQ -d DIR`: the closure as published wheels.
pub fn download(python: &str, requirements: &Path, dir: &Path) -> Result<(), String> {
    let mut cmd = pip::pip(python, "download");
    cmd.args(["--only-binary=:all:", "-r"])
        .arg(requirements)
        .arg("-d")
        .arg(dir);
    pip::run(cmd, |status| {
        format!(
            "pip could not download the wheels for {} ({status}); with --hash lines pip takes \
             published wheels only (no sdist builds); see pip's output above",
            requirements.display()
        )
    })
}

/// Every wheel's sha256 must be one the requirements file lists for its distribution.
pub fn check(wheels: &[WheelFile], hashes: &Hashes, requirements: &Path) -> Result<(), String> {
    let shown = requirements.display();
    let sha256s = |key: &str| -> Vec<&str> {
        hashes
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(alg, _)| alg == "sha256")
            .map(|(_, hex)| hex.as_str())
            .collect()
    };
    for w in wheels {
        let key = normalize(&w.distribution);
        let Some(listed) = hashes.get(&key) else {
            return Err(format!(
                "wheel {} is not listed with a --hash in {shown}; list every requirement with its \
                 hashes (pip-compile --generate-hashes, uv pip compile --generate-hashes)",
                w.file_name
            ));
        };
        let want = sha256s(&key);
        if want.is_empty() && !listed.is_empty() {
            // Only other algorithms (sha384, sha512): pip's --require-hashes mode checked them.
            continue;
        }
        let have = crate::plan::hash_file(&w.path)?.0;
        if !want.contains(&have.as_str()) && !sha256s("").contains(&have.as_str()) {
            return Err(format!(
                "wheel {} has sha256 {have}, {shown} lists {} for {}; the file is not the one \
                 that was pinned: update the hashes or find the right file",
                w.file_name,
                want.join(", "),
                w.distribution
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_continuations_comments_and_includes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base.txt"),
            "# pinned\nsix==1.16.0 \\\n    --hash=sha256:AA \\\n    --hash sha256:bb  # either\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("req.txt"),
            "-r base.txt\n--index-url https://x/simple\nMarkupSafe[x]==2.1.5; python_version>'3' --hash=sha256:cc\nplain==1\n",
        )
        .unwrap();
        let h = read(&dir.path().join("req.txt")).unwrap();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(h["six"], [pair("sha256", "aa"), pair("sha256", "bb")]);
        assert_eq!(h["markupsafe"], [pair("sha256", "cc")]);
        assert!(!h.contains_key("plain"));
        assert_eq!(requirement_name("https://h/x.whl"), "");
    }
}
