//! Wheel file names (`{dist}-{version}(-{build})?-{python}-{abi}-{platform}.whl`) and
//! distribution-name normalisation, per the binary distribution format spec.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// As written in the file name (underscores for dashes).
    pub distribution: String,
    pub version: String,
    pub build: Option<String>,
    /// Compressed tag sets expanded: every `python-abi-platform` the wheel claims.
    pub tags: Vec<String>,
}

impl WheelName {
    pub fn parse(file_name: &str) -> Result<WheelName, String> {
        let stem = file_name
            .strip_suffix(".whl")
            .ok_or_else(|| format!("{file_name}: a wheel file name must end in .whl"))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (dist, version, build, py, abi, plat) = match parts.as_slice() {
            [d, v, p, a, pl] => (d, v, None, p, a, pl),
            [d, v, b, p, a, pl] => (d, v, Some(b.to_string()), p, a, pl),
            _ => {
                return Err(format!(
                    "{file_name}: not a wheel file name (want NAME-VERSION-PYTHON-ABI-PLATFORM.whl)"
                ))
            }
        };
        if [dist, version, py, abi, plat].iter().any(|s| s.is_empty()) {
            return Err(format!("{file_name}: a wheel file name has an empty part"));
        }
        let mut tags = Vec::new();
        for p in py.split('.') {
            for a in abi.split('.') {
                for pl in plat.split('.') {
                    tags.push(format!("{p}-{a}-{pl}"));
                }
            }
        }
        Ok(WheelName {
            distribution: dist.to_string(),
            version: version.to_string(),
            build,
            tags,
        })
    }

    /// The normalised distribution name: what makes two wheels "the same distribution".
    pub fn key(&self) -> String {
        normalize(&self.distribution)
    }
}

/// PEP 503 normalisation: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compressed_tags_and_builds() {
        let w = WheelName::parse("psycopg2_binary-2.9.10-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
            .unwrap();
        assert_eq!(w.key(), "psycopg2-binary");
        assert_eq!(w.build.as_deref(), Some("1"));
        assert_eq!(
            w.tags,
            ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"]
        );
        assert!(WheelName::parse("nope.whl").is_err());
        assert!(WheelName::parse("a-1-py3-none-any.zip").is_err());
    }

    #[test]
    fn normalises_names() {
        assert_eq!(normalize("Django_Foo.Bar--x"), "django-foo-bar-x");
    }
}
