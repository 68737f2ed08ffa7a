//! What of a folder is packed. Left out by default: what is never meant for a server (VCS
//! data, bytecode caches, virtualenvs and tool caches inside the tree). The user's rules:
//! `--exclude`/`exclude` leave more out, `--include`/`include` put back what a default or an
//! exclude rule left out (both gitignore syntax, relative to the app tree). Files that look
//! local or secret (`.env`, databases, keys, `node_modules/`, `media/`, what the tree's own
//! `.gitignore` ignores) are packed but named in a warning, until an exclude rule leaves them
//! out or an include rule says they are meant.

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::path::Path;

/// Never meant for a server: left out of the app tree and of every `--extra-static` folder.
const DEFAULTS: &[&str] = &[
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
];

/// Packed, but worth a second look: local settings and data, secrets, build-only folders.
const LOOKS_LOCAL: &[&str] = &[
    ".env",
    ".env.*",
    "*.sqlite3",
    "*.sqlite",
    "*.db",
    "*.pem",
    "*.key",
    "id_rsa*",
    "local_settings.py",
    "node_modules/",
    "media/",
];

/// Lines of the warning before "... and N more".
const MAX_LINES: usize = 20;

/// A virtualenv is a directory holding this file, whatever its name.
const VENV_MARKER: &str = "pyvenv.cfg";

/// Why a path is left out.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Why {
    Default,
    Rule,
}

pub struct Rules {
    defaults: Gitignore,
    exclude: Gitignore,
    include: Gitignore,
    /// None for `--extra-static` folders: static files are public by nature.
    local: Option<Gitignore>,
}

/// What the walks left out and what they packed that looks local, for the warning and the
/// summary. Paths are payload names (`app/...`, `static.in/N/...`).
#[derive(Default)]
pub struct Report {
    pub by_default: Vec<String>,
    pub by_rules: Vec<String>,
    pub local: Vec<Local>,
}

/// A packed file that looks local, or a directory of them (one line however many files).
pub struct Local {
    pub path: String,
    pub dir: bool,
    pub files: u64,
    pub bytes: u64,
}

impl Rules {
    /// The app tree's rules: defaults, the user's patterns, the local-looking list and the
    /// tree's own `.gitignore` (a git-ignored file is usually a local one).
    pub fn app(root: &Path, exclude: &[String], include: &[String]) -> Result<Rules, String> {
        let mut local = GitignoreBuilder::new(root);
        add(&mut local, LOOKS_LOCAL, "a built-in pattern")?;
        let gitignore = root.join(".gitignore");
        if gitignore.is_file() {
            if let Some(e) = local.add(&gitignore) {
                eprintln!(
                    "wheelsfx: warning: {} is not fully readable ({e}); its patterns are not used for the warning",
                    gitignore.display()
                );
            }
        }
        Ok(Rules {
            defaults: build(root, DEFAULTS, "a built-in pattern")?,
            exclude: build(root, exclude, "--exclude (or exclude in [tool.wheelsfx])")?,
            include: build(root, include, "--include (or include in [tool.wheelsfx])")?,
            local: Some(local.build().map_err(|e| format!("{}: {e}", gitignore.display()))?),
        })
    }

    /// An `--extra-static` folder: the default exclusions only.
    pub fn defaults(root: &Path) -> Result<Rules, String> {
        Ok(Rules {
            defaults: build(root, DEFAULTS, "a built-in pattern")?,
            exclude: Gitignore::empty(),
            include: Gitignore::empty(),
            local: None,
        })
    }

    /// Why `rel` (relative to the root) is left out, if it is, given its parent's verdict.
    /// An include rule wins over both kinds of exclusion.
    pub fn left_out(&self, rel: &Path, dir: &Path, is_dir: bool, parent: Option<Why>) -> Option<Why> {
        if self.included(rel, is_dir) {
            return None;
        }
        if parent.is_some() {
            return parent;
        }
        if self.exclude.matched(rel, is_dir).is_ignore() {
            return Some(Why::Rule);
        }
        let venv = is_dir && dir.join(VENV_MARKER).is_file();
        (venv || self.defaults.matched(rel, is_dir).is_ignore()).then_some(Why::Default)
    }

    /// Whether a left-out directory must still be read: only when an include rule could put
    /// back something inside it.
    pub fn may_put_back(&self) -> bool {
        !self.include.is_empty()
    }

    /// Whether a packed `rel` looks local (and no include rule says it is meant).
    pub fn looks_local(&self, rel: &Path, is_dir: bool) -> bool {
        self.local.as_ref().is_some_and(|l| l.matched(rel, is_dir).is_ignore()) && !self.included(rel, is_dir)
    }

    fn included(&self, rel: &Path, is_dir: bool) -> bool {
        self.include.matched_path_or_any_parents(rel, is_dir).is_ignore()
    }
}

/// A matcher of `patterns`; an unclosed `[` is an error (git takes it literally, which hides
/// a typo in an option).
fn build(root: &Path, patterns: &[impl AsRef<str>], origin: &str) -> Result<Gitignore, String> {
    let mut b = GitignoreBuilder::new(root);
    b.allow_unclosed_class(false);
    add(&mut b, patterns, origin)?;
    b.build().map_err(|e| format!("{origin}: {e}"))
}

fn add(b: &mut GitignoreBuilder, patterns: &[impl AsRef<str>], origin: &str) -> Result<(), String> {
    for p in patterns {
        b.add_line(None, p.as_ref())
            .map_err(|e| format!("{origin}: {} is not a valid pattern ({e})", p.as_ref()))?;
    }
    Ok(())
}

impl Report {
    /// The build-time warning: what is packed that looks local or secret, and the options
    /// that settle it. Silent when nothing does.
    pub fn warn(&self) {
        if self.local.is_empty() {
            return;
        }
        let mut text = String::from("wheelsfx: warning: these look local or secret and are packed:\n");
        let mut local: Vec<&Local> = self.local.iter().collect();
        local.sort_by(|a, b| a.path.cmp(&b.path));
        // A long list hides its own advice: the first lines say what kind of files these are.
        let more = local.len().saturating_sub(MAX_LINES);
        for l in local.into_iter().take(MAX_LINES) {
            if l.dir {
                let s = if l.files == 1 { "" } else { "s" };
                text += &format!(
                    "  {}/ ({} file{s}, {})\n",
                    l.path,
                    l.files,
                    crate::summary::size(l.bytes)
                );
            } else {
                text += &format!("  {}\n", l.path);
            }
        }
        if more > 0 {
            text += &format!("  ... and {more} more\n");
        }
        text +=
            "  leave them out with --exclude PATTERN (e.g. --exclude '*.sqlite3' --exclude 'media/'), or say they are \
                 meant with --include PATTERN (or exclude/include in [tool.wheelsfx])";
        eprintln!("{text}");
    }

    /// One summary line: how many paths the defaults and the user's rules left out.
    pub fn line(&self) -> String {
        format!(
            "left out: {} by default{}, {} by exclude rules{}",
            self.by_default.len(),
            examples(&self.by_default),
            self.by_rules.len(),
            examples(&self.by_rules)
        )
    }
}

/// ` (a, b, c, ...)`: the first few of `paths`, or nothing.
fn examples(paths: &[String]) -> String {
    match paths.len() {
        0 => String::new(),
        n => {
            let shown: Vec<&str> = paths.iter().take(4).map(String::as_str).collect();
            format!(" ({}{})", shown.join(", "), if n > 4 { ", ..." } else { "" })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Rules, Why};
    use std::path::Path;

    fn verdict(rules: &Rules, rel: &str, is_dir: bool) -> Option<Why> {
        rules.left_out(Path::new(rel), Path::new("/nonexistent"), is_dir, None)
    }

    #[test]
    fn defaults_rules_and_includes() {
        let dir = tempfile::tempdir().unwrap();
        let rules = Rules::app(dir.path(), &["media/".into(), "*.sqlite3".into()], &["keep.pyc".into()]).unwrap();
        assert_eq!(verdict(&rules, ".git", true), Some(Why::Default));
        assert_eq!(verdict(&rules, "pkg/__pycache__", true), Some(Why::Default));
        assert_eq!(verdict(&rules, "pkg/mod.pyc", false), Some(Why::Default));
        assert_eq!(verdict(&rules, "keep.pyc", false), None);
        assert_eq!(verdict(&rules, "media", true), Some(Why::Rule));
        assert_eq!(
            verdict(&rules, "media", false),
            None,
            "a file named media is not the folder"
        );
        assert_eq!(verdict(&rules, "db.sqlite3", false), Some(Why::Rule));
        assert_eq!(verdict(&rules, "app/views.py", false), None);
        assert!(rules.looks_local(Path::new(".env.production"), false));
        assert!(rules.looks_local(Path::new("node_modules"), true));
        assert!(!rules.looks_local(Path::new("settings/base.py"), false));
    }

    #[test]
    fn a_bad_pattern_names_its_option() {
        let dir = tempfile::tempdir().unwrap();
        let err = Rules::app(dir.path(), &["[z-a".into()], &[]).err().unwrap();
        assert!(
            err.starts_with("--exclude (or exclude in [tool.wheelsfx]): [z-a is not a valid pattern"),
            "{err}"
        );
    }
}
