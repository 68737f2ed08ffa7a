//! The exact targets a build is for: `--target-python X.Y.Z` and `--platform TAG`. One
//! [`TargetSpec`] per target Python; the platforms are shared by all of them. Everything that
//! chooses or checks wheels for a target asks it: the wheel tags it accepts (the stub's own
//! [`SupportedTags`] rules) and the PEP 508 marker environment (for Requires-Dist and lock
//! files).

use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};
use wheelsfx_payload::manifest::parse_xyz;
use wheelsfx_payload::tags::{Libc, SupportedTags, TagFacts};

#[derive(Debug, Clone, PartialEq)]
pub struct TargetSpec {
    /// The exact CPython version, `[X, Y, Z]`.
    pub python: [u32; 3],
    /// Platform tags (`manylinux_2_36_x86_64`); empty means the build machine's
    /// (`host_libc`).
    pub platforms: Vec<String>,
    /// The build machine's C library, used when `platforms` is empty.
    pub host_libc: Libc,
}

impl TargetSpec {
    /// `3.11.2` (exact) or `3.11` (read as 3.11.0, which is the strictest Requires-Python
    /// reading of that X.Y).
    pub fn parse_python(text: &str) -> Result<[u32; 3], String> {
        match parse_xyz(text) {
            Some(v) if v[0] == 3 => Ok(v),
            _ => Err(format!(
                "--target-python {text:?} is not a CPython 3 version like 3.11.2"
            )),
        }
    }

    /// Checks a `--platform` tag: a Linux x86_64 or aarch64 tag the stub's tag rules know.
    pub fn check_platform(tag: &str) -> Result<(), String> {
        platform_facts(tag).map(|_| ()).ok_or_else(|| {
            format!(
                "--platform {tag:?} is not a Linux platform tag like manylinux_2_36_x86_64, \
                 manylinux2014_x86_64 or musllinux_1_2_x86_64"
            )
        })
    }

    pub fn xy(&self) -> String {
        format!("{}.{}", self.python[0], self.python[1])
    }

    pub fn version(&self) -> String {
        let [x, y, z] = self.python;
        format!("{x}.{y}.{z}")
    }

    /// `Python 3.11.2` or `Python 3.11.2 on manylinux_2_36_x86_64`, for messages.
    pub fn label(&self) -> String {
        match self.platforms.as_slice() {
            [] => format!("Python {}", self.version()),
            p => format!("Python {} on {}", self.version(), p.join("/")),
        }
    }

    /// The tag facts of a CPython of this version on each platform.
    fn facts(&self) -> Vec<TagFacts> {
        let cp = |arch: String, libc: Libc| TagFacts {
            implementation: "cp".into(),
            major: self.python[0],
            minor: self.python[1],
            abi: format!("cp{}{}", self.python[0], self.python[1]),
            arch,
            libc,
        };
        if self.platforms.is_empty() {
            return vec![cp("x86_64".into(), self.host_libc)];
        }
        self.platforms
            .iter()
            .filter_map(|p| platform_facts(p))
            .map(|(arch, libc)| cp(arch, libc))
            .collect()
    }

    /// The best rank any of this target's platforms gives a wheel's tags (0 is best); None
    /// when the wheel does not install on the target.
    pub fn rank<S: AsRef<str>>(&self, tags: &[S]) -> Option<usize> {
        self.facts()
            .iter()
            .filter_map(|f| SupportedTags::new(f).rank(tags))
            .min()
    }

    /// The marker environment of a Linux CPython of exactly this version.
    pub fn marker_environment(&self) -> MarkerEnvironment {
        let full = self.version();
        let xy = self.xy();
        let machine = self
            .facts()
            .first()
            .map(|f| f.arch.clone())
            .unwrap_or_else(|| "x86_64".into());
        MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
            implementation_name: "cpython",
            implementation_version: &full,
            os_name: "posix",
            platform_machine: &machine,
            platform_python_implementation: "CPython",
            platform_release: "",
            platform_system: "Linux",
            platform_version: "",
            python_full_version: &full,
            python_version: &xy,
            sys_platform: "linux",
        })
        .expect("a plain X.Y.Z is a valid marker version")
    }
}

/// `(arch, libc)` of a Linux platform tag: `manylinux_2_36_x86_64`, the legacy
/// `manylinux1/2010/2014_ARCH`, `musllinux_1_2_ARCH`, or `linux_ARCH`.
fn platform_facts(tag: &str) -> Option<(String, Libc)> {
    for arch in ["x86_64", "aarch64", "i686", "armv7l", "ppc64le", "s390x"] {
        let Some(head) = tag.strip_suffix(arch).and_then(|h| h.strip_suffix('_')) else {
            continue;
        };
        let nums = |rest: &str| {
            let (a, b) = rest.split_once('_')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        let libc = match head {
            "linux" => Libc::Unknown,
            "manylinux1" => Libc::Glibc(2, 5),
            "manylinux2010" => Libc::Glibc(2, 12),
            "manylinux2014" => Libc::Glibc(2, 17),
            h => match (h.strip_prefix("manylinux_"), h.strip_prefix("musllinux_")) {
                (Some(rest), _) => nums(rest).map(|(a, b)| Libc::Glibc(a, b))?,
                (_, Some(rest)) => nums(rest).map(|(a, b)| Libc::Musl(a, b))?,
                _ => return None,
            },
        };
        return Some((arch.to_string(), libc));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(py: [u32; 3], platforms: &[&str]) -> TargetSpec {
        TargetSpec {
            python: py,
            platforms: platforms.iter().map(|s| s.to_string()).collect(),
            host_libc: Libc::Glibc(2, 36),
        }
    }

    #[test]
    fn platforms_decide_glibc() {
        let t = spec([3, 11, 2], &["manylinux_2_31_x86_64"]);
        assert!(t.rank(&["cp311-cp311-manylinux_2_28_x86_64"]).is_some());
        assert!(t.rank(&["cp311-cp311-manylinux_2_34_x86_64"]).is_none());
        assert!(t.rank(&["cp312-cp312-manylinux_2_28_x86_64"]).is_none());
        assert!(t.rank(&["py3-none-any"]).is_some());
        assert!(spec([3, 11, 2], &["manylinux2014_x86_64"])
            .rank(&["cp311-cp311-manylinux_2_17_x86_64"])
            .is_some());
        assert!(TargetSpec::check_platform("macosx_11_0_arm64").is_err());
        assert!(TargetSpec::check_platform("musllinux_1_2_x86_64").is_ok());
    }

    #[test]
    fn versions() {
        assert_eq!(TargetSpec::parse_python("3.11.2"), Ok([3, 11, 2]));
        assert_eq!(TargetSpec::parse_python("3.12"), Ok([3, 12, 0]));
        assert!(TargetSpec::parse_python("2.7.18").is_err());
        assert!(TargetSpec::parse_python("3.11.x").is_err());
        let env = spec([3, 11, 2], &[]).marker_environment();
        assert_eq!(env.python_full_version().to_string(), "3.11.2");
    }
}
