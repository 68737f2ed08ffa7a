//! What the packer reads from a wheel: its file name and its `.dist-info/METADATA`.

use rayon::prelude::*;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use wheelsfx_payload::wheelname::{normalize, WheelName};

#[derive(Debug, Clone)]
pub struct WheelFile {
    pub path: PathBuf,
    pub file_name: String,
    pub name: WheelName,
    /// `Name` and `Version` as METADATA spells them.
    pub distribution: String,
    pub version: String,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
}

impl WheelFile {
    /// Reads and cross-checks a wheel: a readable zip whose one top-level `.dist-info`
    /// METADATA names the same distribution and version as the file name.
    pub fn read(path: &Path) -> Result<WheelFile, String> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = path.display();
        let name = WheelName::parse(&file_name)?;
        let file = File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| format!("{shown} is not a readable wheel (zip): {e}"))?;
        let metadata_names: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .filter(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)
            .collect();
        let [metadata_name] = metadata_names.as_slice() else {
            return Err(format!(
                "{shown} must have exactly one top-level *.dist-info/METADATA, found {}",
                metadata_names.len()
            ));
        };
        let mut text = String::new();
        zip.by_name(metadata_name)
            .map_err(|e| format!("{shown}: cannot read {metadata_name}: {e}"))?
            .take(16 << 20)
            .read_to_string(&mut text)
            .map_err(|e| format!("{shown}: cannot read {metadata_name}: {e}"))?;
        let headers = parse_headers(&text);
        let get = |k: &str| {
            headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let distribution = get("Name").ok_or_else(|| format!("{shown}: METADATA has no Name"))?;
        let version = get("Version").ok_or_else(|| format!("{shown}: METADATA has no Version"))?;
        if normalize(&distribution) != name.key() {
            return Err(format!(
                "{shown}: METADATA names {distribution}, the file name {}",
                name.distribution
            ));
        }
        let requires_dist = headers
            .iter()
            .filter(|(h, _)| h.eq_ignore_ascii_case("Requires-Dist"))
            .map(|(_, v)| v.clone())
            .collect();
        Ok(WheelFile {
            requires_dist,
            path: path.to_path_buf(),
            file_name,
            requires_python: get("Requires-Python"),
            distribution,
            version,
            name,
        })
    }
}

/// RFC 822-style headers up to the first blank line, continuation lines folded in.
fn parse_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// Every `*.whl` directly in `dir`, sorted by name; read on every core.
pub fn wheels_in(dir: &Path) -> Result<Vec<WheelFile>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read wheel directory {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    paths.sort();
    paths.par_iter().map(|p| WheelFile::read(p)).collect()
}
