//! What the strings an artifact carries may be. Every manifest or wheel string that becomes a
//! path, a command-line argument or generated code is checked here first, as what it is: an
//! app name is one safe path component, a distribution name is a PEP 508 name, a version a
//! PEP 440 version, an entry point a file name and `module:attr` a dotted Python reference.
//! The stub checks them on open, the packer before it writes: nothing is used raw.

/// Names an app may not take: they are the release's own top-level entries, or would make
/// `<app>.pth` collide with a file wheelsfx writes into site-packages.
pub const RESERVED_APP_NAMES: &[&str] = &[
    "venv",
    "wheels",
    "bootstrap_wheels",
    "static.in",
    "environment.json",
    "loadenv",
    "loadenv.py",
    "loadenv-init",
    "loadenv-init.pth",
];

/// The app name becomes `DEST/<name>`, `<name>.pth` and the venv prompt: one path component
/// of ASCII letters, digits, `_`, `.` and `-`, not starting with `.` or `-`, not reserved.
pub fn check_app_name(name: &str) -> Result<(), String> {
    if !is_file_name(name, "_.-", 100) {
        return Err(format!(
            "the app name {} must be one directory name of letters, digits, '_', '.' and '-' \
             (not starting with '.' or '-', at most 100 characters)",
            quoted(name)
        ));
    }
    if RESERVED_APP_NAMES.contains(&name) {
        return Err(format!(
            "the app name {name:?} is reserved for the release's own layout; rename the app directory or pass another name"
        ));
    }
    Ok(())
}

/// One safe file name: ASCII letters, digits and the `extra` characters, starting with a letter,
/// digit or `_` (so never `.`, `..`, a hidden name or an option), at most `max` bytes.
fn is_file_name(name: &str, extra: &str, max: usize) -> bool {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok && name.len() <= max && name.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// PEP 508 names: ASCII letters and digits, with `.`, `_`, `-` inside.
pub fn check_distribution(name: &str) -> Result<(), String> {
    let inner_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if name.len() > 200 || !inner_ok || !ends_ok(name.chars().next()) || !ends_ok(name.chars().last()) {
        return Err(format!(
            "the distribution name {} is not a valid PEP 508 name",
            quoted(name)
        ));
    }
    Ok(())
}

/// A PEP 440 version (any spelling the spec accepts, which normalises to a public version
/// with an optional local label).
pub fn check_version(version: &str) -> Result<(), String> {
    let bad = || format!("the version {} is not a valid PEP 440 version", quoted(version));
    if version.len() > 100 || !version.is_ascii() {
        return Err(bad());
    }
    let v = version.to_ascii_lowercase();
    let (public, local) = match v.split_once('+') {
        Some((p, l)) => (p, Some(l)),
        None => (v.as_str(), None),
    };
    if let Some(l) = local {
        let parts_ok = l
            .split(['.', '-', '_'])
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
        if !parts_ok {
            return Err(bad());
        }
    }
    if Pep440::new(public).public() {
        Ok(())
    } else {
        Err(bad())
    }
}

/// A tiny recursive-descent matcher over the public part of PEP 440's grammar.
struct Pep440<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Pep440<'a> {
    fn new(s: &'a str) -> Self {
        Pep440 { s: s.as_bytes(), i: 0 }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn number(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        self.i > start
    }
    fn sep(&mut self) {
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.i += 1;
        }
    }
    /// `[sep] word [sep] [N]` for the first of `words` that matches here; restores on failure.
    fn labelled(&mut self, words: &[&str]) -> bool {
        let save = self.i;
        self.sep();
        for w in words {
            if self.s[self.i..].starts_with(w.as_bytes()) {
                self.i += w.len();
                let before = self.i;
                self.sep();
                if !self.number() {
                    self.i = before;
                }
                return true;
            }
        }
        self.i = save;
        false
    }
    fn public(mut self) -> bool {
        if self.peek() == Some(b'v') {
            self.i += 1;
        }
        if !self.number() {
            return false;
        }
        if self.peek() == Some(b'!') {
            self.i += 1;
            if !self.number() {
                return false;
            }
        }
        while self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.number();
        }
        self.labelled(&["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"]);
        let save = self.i;
        if !(self.peek() == Some(b'-') && {
            self.i += 1;
            self.number()
        }) {
            self.i = save;
            self.labelled(&["post", "rev", "r"]);
        }
        self.labelled(&["dev"]);
        self.i == self.s.len()
    }
}

/// A console/gui script name becomes a file in `venv/bin`: letters, digits and `.`, `_`, `-`,
/// `+`, not starting with `.` or `-` (pip and uv refuse the rest too).
pub fn check_script_name(name: &str) -> Result<(), String> {
    if !is_file_name(name, "_.-+", 200) {
        return Err(format!(
            "the entry point name {} is not a safe script name",
            quoted(name)
        ));
    }
    Ok(())
}

/// `module.sub:attr.path`: dotted Python identifiers on both sides of one colon. The launcher
/// pastes these into Python source, so nothing else may pass.
pub fn check_object_ref(module: &str, attr: &str) -> Result<(), String> {
    let dotted = |s: &str| !s.is_empty() && s.split('.').all(is_identifier);
    if dotted(module) && dotted(attr) {
        Ok(())
    } else {
        Err(format!(
            "the entry point object {} is not module:attribute made of Python identifiers",
            quoted(&format!("{module}:{attr}"))
        ))
    }
}

/// A hook command (`post_install`, `--run`): one line of shell for `/bin/sh -c`, shown in
/// messages and the receipt. Not empty; no control characters but tab, so a command cannot
/// hide lines from the operator reading it (chain commands with `&&` or `;`).
pub fn check_command(cmd: &str) -> Result<(), String> {
    if cmd.trim().is_empty() {
        return Err("the hook command is empty".into());
    }
    if cmd.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the hook command {} contains a line break or another control character; write one line (chain commands with && or ;)",
            quoted(cmd)
        ));
    }
    Ok(())
}

/// Python's identifier rule (XID_Start or `_`, then XID_Continue), so a launcher's `from M
/// import A` never meets a character Python rejects.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || unicode_ident::is_xid_start(c))
        && chars.all(unicode_ident::is_xid_continue)
}

/// A string shown in a message: quoted, with control characters escaped, so a hostile
/// artifact cannot write terminal escape sequences through our output.
pub fn quoted(s: &str) -> String {
    format!("{:?}", s.chars().take(120).collect::<String>())
}

/// A string from an artifact shown as it is, except that control characters (escape
/// sequences, carriage returns, newlines) are written as `\u{1b}`-style escapes, so nothing
/// printed can drive the terminal. For text where a quoted form would be noise (listings).
pub fn escaped(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names() {
        for good in ["mysite", "cfgov", "my_site-2", "a.b"] {
            assert!(check_app_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs",
            "../x",
            "a/b",
            ".wheelsfx",
            "-rf",
            "x$(touch f)",
            "venv",
            "wheels",
            "a b",
            "loadenv-init",
        ] {
            assert!(check_app_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn distributions() {
        for good in ["pip", "Django", "zope.interface", "typing_extensions", "a"] {
            assert!(check_distribution(good).is_ok(), "{good}");
        }
        for bad in ["", "--target=/x", "-x", "a b", "a/b", "x_", "é"] {
            assert!(check_distribution(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for good in [
            "1",
            "1.0",
            "2.9.10",
            "1.0a1",
            "1.0.post1",
            "1.0.dev3",
            "1!2.0",
            "1.0rc1.post2.dev3",
            "1.0+local.7",
            "v1.0",
            "1.0-1",
            "1.0.0-beta.2",
            "2024.1",
        ] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in ["", "a", "1.0 ", "1;x", "--log=/f", "1.0+", "1.0/x", "1..0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commands() {
        for good in ["python manage.py migrate --noinput", "a && b; c\td"] {
            assert!(check_command(good).is_ok(), "{good}");
        }
        for bad in ["", "  ", "a\nb", "a\rb", "\u{1b}[2Jrm -rf x", "a\u{85}b"] {
            assert!(check_command(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn entry_points() {
        assert!(check_script_name("flask").is_ok() && check_script_name("pip3.11").is_ok());
        for bad in ["-rf", "a;b$(x)", "a\tb", "a\nb", "", ".x", "a/b"] {
            assert!(check_script_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_object_ref("a.b", "C.run").is_ok() && check_object_ref("é.mod", "fünf").is_ok());
        for (m, a) in [
            ("a", "main\u{b2}"),
            ("os; import x", "f"),
            ("a", "b c"),
            ("a", "b()"),
            ("", "f"),
            ("a..b", "f"),
        ] {
            assert!(check_object_ref(m, a).is_err(), "{m}:{a}");
        }
    }
}
