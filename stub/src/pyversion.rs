//! Just enough of PEP 440 specifiers to evaluate a wheel's `Requires-Python` against an
//! interpreter's `X.Y.Z`: `>=`, `<=`, `>`, `<`, `==` (with `.*`), `!=` (with `.*`), `~=`.

/// Does `spec` (e.g. `>=3.8, !=3.9.*`) allow Python `version`? Unreadable clauses are an
/// error, so a bad specifier is reported rather than silently ignored.
pub fn allows(spec: &str, version: [u32; 3]) -> Result<bool, String> {
    for clause in spec.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if !clause_allows(clause, version).ok_or_else(|| format!("cannot read Requires-Python clause {clause:?}"))? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn clause_allows(clause: &str, v: [u32; 3]) -> Option<bool> {
    let ops = ["===", "~=", "==", "!=", ">=", "<=", ">", "<"];
    let op = ops.iter().find(|op| clause.starts_with(**op))?;
    let rest = clause[op.len()..].trim();
    let (num, wildcard) = match rest.strip_suffix(".*") {
        Some(n) => (n, true),
        None => (rest, false),
    };
    let want: Vec<u32> = num.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if want.is_empty() || want.len() > 3 {
        return None;
    }
    let have = &v[..];
    let cmp = compare(have, &want);
    let prefix_eq = have[..want.len().min(3)] == want[..];
    Some(match (*op, wildcard) {
        ("==", true) => prefix_eq,
        ("!=", true) => !prefix_eq,
        ("==" | "===", false) => cmp.is_eq(),
        ("!=", false) => !cmp.is_eq(),
        (">=", false) => cmp.is_ge(),
        ("<=", false) => cmp.is_le(),
        (">", false) => cmp.is_gt(),
        ("<", false) => cmp.is_lt(),
        ("~=", false) if want.len() >= 2 => {
            let stem = &want[..want.len() - 1];
            cmp.is_ge() && have[..stem.len()] == stem[..]
        }
        _ => return None,
    })
}

/// Compares release numbers, padding the shorter with zeros (3.8 == 3.8.0).
fn compare(a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let get = |s: &[u32], i: usize| s.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| get(a, i).cmp(&get(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::allows;

    #[test]
    fn specifiers() {
        let py = [3, 9, 18];
        assert!(allows(">=3.8", py).unwrap());
        assert!(!allows(">=3.10", py).unwrap());
        assert!(allows(">=3.8, <4", py).unwrap());
        assert!(!allows("!=3.9.*", py).unwrap());
        assert!(allows("==3.*", py).unwrap());
        assert!(allows("~=3.8", py).unwrap());
        assert!(!allows("~=3.10", py).unwrap());
        assert!(allows(">3.9", py).unwrap(), "3.9.18 > 3.9");
        assert!(allows("", py).unwrap());
        assert!(allows(">=banana", py).is_err());
    }
}
