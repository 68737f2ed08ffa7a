//! Which wheel tags an interpreter accepts, in preference order (best first), computed
//! natively from a few facts about it, the way pip's vendored `packaging.tags` orders them.

use std::collections::HashMap;

/// The C library an interpreter runs on, which decides the Linux platform tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    Glibc(u32, u32),
    Musl(u32, u32),
    /// Neither detected: only `linux_<arch>` and pure wheels fit.
    Unknown,
}

/// Facts about an interpreter that decide its tags.
#[derive(Debug, Clone)]
pub struct TagFacts {
    /// `cp` for CPython, `pp` for PyPy, ...
    pub implementation: String,
    pub major: u32,
    pub minor: u32,
    /// The interpreter's own ABI tag (`cp311`, `cp313t`, `pypy310_pp73`).
    pub abi: String,
    /// `x86_64`, `aarch64`, ...
    pub arch: String,
    pub libc: Libc,
}

/// The supported tags, each with its rank (0 is best); `rank` looks them up.
pub struct SupportedTags {
    index: HashMap<String, usize>,
}

impl SupportedTags {
    pub fn new(f: &TagFacts) -> SupportedTags {
        let ordered = ordered_tags(f);
        let mut index = HashMap::with_capacity(ordered.len());
        for (i, t) in ordered.iter().enumerate() {
            index.entry(t.clone()).or_insert(i);
        }
        SupportedTags { index }
    }

    /// The best (lowest) rank of any of a wheel's tags; None when none fits.
    pub fn rank<S: AsRef<str>>(&self, wheel_tags: &[S]) -> Option<usize> {
        wheel_tags
            .iter()
            .filter_map(|t| self.index.get(t.as_ref()).copied())
            .min()
    }
}

fn platforms(f: &TagFacts) -> Vec<String> {
    let arch = &f.arch;
    let mut out = Vec::new();
    match f.libc {
        Libc::Glibc(2, minor) => {
            // manylinux_2_5 is the oldest for x86 (manylinux1); other arches start at 2_17.
            let floor = if arch == "x86_64" || arch == "i686" { 5 } else { 17 };
            for m in (floor..=minor).rev() {
                out.push(format!("manylinux_2_{m}_{arch}"));
                let legacy = match m {
                    17 => Some("manylinux2014"),
                    12 => Some("manylinux2010"),
                    5 => Some("manylinux1"),
                    _ => None,
                };
                if let Some(l) = legacy {
                    out.push(format!("{l}_{arch}"));
                }
            }
        }
        Libc::Musl(1, minor) => {
            for m in (0..=minor).rev() {
                out.push(format!("musllinux_1_{m}_{arch}"));
            }
        }
        _ => {}
    }
    out.push(format!("linux_{arch}"));
    out
}

fn ordered_tags(f: &TagFacts) -> Vec<String> {
    let plats = platforms(f);
    let (maj, min) = (f.major, f.minor);
    let imp = format!("{}{maj}{min}", f.implementation);
    let mut out = Vec::new();
    // Interpreter-specific: own ABI, then abi3 (CPython only), then none.
    let mut abis = vec![f.abi.clone()];
    let cpython = f.implementation == "cp";
    let free_threaded = f.abi.ends_with('t');
    if cpython && !free_threaded {
        abis.push("abi3".into());
    }
    abis.push("none".into());
    for abi in &abis {
        for p in &plats {
            out.push(format!("{imp}-{abi}-{p}"));
        }
    }
    // Older CPython minors' abi3 wheels run on newer ones.
    if cpython && !free_threaded {
        for m in (2..min).rev() {
            for p in &plats {
                out.push(format!("cp{maj}{m}-abi3-{p}"));
            }
        }
    }
    // Generic Python tags on this platform, then pure wheels.
    let generic: Vec<String> = std::iter::once(format!("py{maj}{min}"))
        .chain(std::iter::once(format!("py{maj}")))
        .chain((0..min).rev().map(|m| format!("py{maj}{m}")))
        .collect();
    for py in &generic {
        for p in &plats {
            out.push(format!("{py}-none-{p}"));
        }
    }
    out.push(format!("{imp}-none-any"));
    for py in &generic {
        out.push(format!("{py}-none-any"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(minor: u32, libc: Libc) -> SupportedTags {
        SupportedTags::new(&TagFacts {
            implementation: "cp".into(),
            major: 3,
            minor,
            abi: format!("cp3{minor}"),
            arch: "x86_64".into(),
            libc,
        })
    }

    #[test]
    fn cpython_on_glibc() {
        let t = cp(11, Libc::Glibc(2, 36));
        let r = |s: &str| t.rank(&[s]);
        assert!(r("cp311-cp311-manylinux_2_17_x86_64").is_some());
        assert!(r("cp311-cp311-manylinux2014_x86_64").is_some());
        assert!(r("cp311-cp311-manylinux_2_36_x86_64") < r("cp311-cp311-manylinux_2_17_x86_64"));
        assert!(r("cp311-cp311-manylinux_2_37_x86_64").is_none());
        assert!(r("cp38-abi3-manylinux_2_17_x86_64").is_some());
        assert!(r("cp39-cp39-manylinux_2_17_x86_64").is_none());
        assert!(r("cp311-cp311-musllinux_1_2_x86_64").is_none());
        assert!(r("py3-none-any") > r("cp311-none-any"));
        assert!(
            r("py2.py3-none-any").is_none(),
            "compressed sets are expanded by WheelName"
        );
        assert!(t.rank(&["py2-none-any", "py3-none-any"]).is_some());
    }

    #[test]
    fn old_glibc_refuses_new_manylinux() {
        let t = cp(9, Libc::Glibc(2, 31));
        assert!(t.rank(&["cp39-cp39-manylinux_2_34_x86_64"]).is_none());
        assert!(t.rank(&["cp39-cp39-manylinux_2_28_x86_64"]).is_some());
        assert!(t.rank(&["cp39-cp39-manylinux1_x86_64"]).is_some());
    }

    #[test]
    fn musl() {
        let t = cp(12, Libc::Musl(1, 2));
        assert!(t.rank(&["cp312-cp312-musllinux_1_1_x86_64"]).is_some());
        assert!(t.rank(&["cp312-cp312-manylinux_2_17_x86_64"]).is_none());
    }
}
