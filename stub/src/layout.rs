//! Names of the payload's entries and of the installed layout.

use crate::names::quoted;

/// The manifest: always the first entry of the payload.
pub const MANIFEST: &str = ".wheelsfx/manifest.json";
/// Application wheels, stored as-is.
pub const WHEELS_DIR: &str = "wheels/";
/// pip and setuptools, installed into the venv so `venv/bin/pip` works.
pub const BOOTSTRAP_DIR: &str = "bootstrap_wheels/";
/// Each `--extra-static` folder becomes `static.in/N/`, N its position on the command line.
pub const STATIC_DIR: &str = "static.in/";
/// Support files copied into site-packages: loadenv reads `DEST/environment.json`.
pub const LOADENV_PY: &str = "loadenv.py";
pub const LOADENV_PTH: &str = "loadenv-init.pth";
/// Build-time bytecode: `bytecode/<cache_tag>/wheels/<wheel file>/<site-packages path of the
/// pyc>` and `bytecode/<cache_tag>/app/<path of the pyc under DEST/<app>/>` (see [`Pyc`]).
pub const BYTECODE_DIR: &str = "bytecode/";
/// Every artifact ends with a zip comment whose digest line is this prefix and 64 hex digits:
/// the [`crate::digest::artifact_digest`] (the root) of the covered bytes. It covers what
/// per-entry hashes cannot: headers, timestamps, the directory. An optional signature block
/// (signing this line) follows the hex.
///
/// The zip comment is one of two shapes, the covered region always ending with a 16-byte
/// prefix right after the EOCD record's 22 bytes (so the comment length, which tells the
/// shapes and signed from unsigned apart, is covered):
/// - without index (older packers, or more chunks than a comment holds): `DIGEST_PREFIX hex
///   [block]`, covering every byte before the hex (stub, entries, directories, EOCD, prefix);
/// - with the chunk index: `CHUNKS_PREFIX index DIGEST_PREFIX hex [block]`, covering every
///   byte up to and including `CHUNKS_PREFIX`. The index is the sha256 of each 4 MiB chunk of
///   the covered region, 64 lowercase hex digits each (text: a binary comment could hold a
///   false EOCD signature, and zip tools print the comment), in order; the root is the sha256
///   of their raw bytes, so the index cannot be covered by itself but is bound by the root.
///   With it a deploy verifies only the chunks it reads (`Payload::open_deferred`).
pub const DIGEST_PREFIX: &str = "wheelsfx-sha256:";
pub const DIGEST_COMMENT_LEN: usize = DIGEST_PREFIX.len() + 64;
/// Starts the chunk index (see [`DIGEST_PREFIX`]); as long as it, so both shapes end the
/// covered region the same distance after the EOCD.
pub const CHUNKS_PREFIX: &str = "wheelsfx-chunks:";

/// Version of the payload format; a stub refuses a manifest with a newer one. Format 2 added
/// the target's wheel sets (`target.sets`): a format-1 stub would ignore them and could
/// install a wheel made for another Python.
pub const FORMAT_VERSION: u32 = 2;

/// Where an entry belongs, decided by its name and the app's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Manifest,
    Wheel,
    BootstrapWheel,
    Static,
    /// loadenv.py / loadenv-init.pth: go to site-packages.
    SitePackages,
    /// `<app>/...`: the application tree, extracted to `DEST/<app>/`.
    App,
    /// `bytecode/...`: a pyc compiled at build time ([`Pyc`]).
    Bytecode,
}

/// Who installs the source of a build-time pyc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PycOwner<'a> {
    /// The wheel of this file name (application or bootstrap): the pyc goes to site-packages.
    Wheel(&'a str),
    /// The app tree: the pyc goes under `DEST/<app>/`.
    App,
}

/// A bytecode entry's name, taken apart. The pyc path is always
/// `<dir>/__pycache__/<stem>.<cache_tag>.pyc`, so its source (`<dir>/<stem>.py`) follows from
/// it, and the manifest check can refuse a pyc whose source the artifact does not install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pyc<'a> {
    pub cache_tag: &'a str,
    pub owner: PycOwner<'a>,
    /// The pyc's path relative to site-packages (wheels) or to `DEST/<app>/` (app).
    pub rel: &'a str,
}

impl<'a> Pyc<'a> {
    /// Parses `bytecode/<tag>/wheels/<file>/<rel>` or `bytecode/<tag>/app/<rel>`.
    pub fn parse(name: &'a str) -> Result<Pyc<'a>, &'static str> {
        let bad = "is not bytecode/<cache_tag>/wheels/<wheel>/<pyc> or bytecode/<cache_tag>/app/<pyc>";
        let rest = name.strip_prefix(BYTECODE_DIR).ok_or(bad)?;
        let (cache_tag, rest) = rest.split_once('/').ok_or(bad)?;
        let (owner, rel) = if let Some(rest) = rest.strip_prefix("wheels/") {
            let (file, rel) = rest.split_once('/').ok_or(bad)?;
            (file.ends_with(".whl").then_some(PycOwner::Wheel(file)).ok_or(bad)?, rel)
        } else {
            (PycOwner::App, rest.strip_prefix("app/").ok_or(bad)?)
        };
        let pyc = Pyc { cache_tag, owner, rel };
        check_cache_tag(cache_tag)?;
        pyc.source()
            .map(|_| pyc)
            .ok_or("is not a <dir>/__pycache__/<stem>.<cache_tag>.pyc path")
    }

    /// The entry name (the inverse of [`Pyc::parse`]).
    pub fn entry(&self) -> String {
        match self.owner {
            PycOwner::Wheel(file) => format!("{BYTECODE_DIR}{}/wheels/{file}/{}", self.cache_tag, self.rel),
            PycOwner::App => format!("{BYTECODE_DIR}{}/app/{}", self.cache_tag, self.rel),
        }
    }

    /// The `.py` this pyc was compiled from, relative to the same root.
    pub fn source(&self) -> Option<String> {
        let (dir, file) = self.rel.rsplit_once('/').unwrap_or(("", self.rel));
        let parent = match dir {
            "__pycache__" => "",
            d => d.strip_suffix("/__pycache__")?,
        };
        let stem = file
            .strip_suffix(".pyc")?
            .strip_suffix(self.cache_tag)?
            .strip_suffix('.')?;
        if stem.is_empty() {
            return None;
        }
        Some(match parent {
            "" => format!("{stem}.py"),
            p => format!("{p}/{stem}.py"),
        })
    }
}

/// The entry name of a pyc, for the packer (the inverse of [`Pyc::parse`]).
pub fn pyc_entry(cache_tag: &str, owner: PycOwner, source: &str) -> String {
    let (dir, file) = source.rsplit_once('/').map_or(("", source), |(d, f)| (d, f));
    let stem = file.strip_suffix(".py").unwrap_or(file);
    let rel = match dir {
        "" => format!("__pycache__/{stem}.{cache_tag}.pyc"),
        d => format!("{d}/__pycache__/{stem}.{cache_tag}.pyc"),
    };
    Pyc {
        cache_tag,
        owner,
        rel: &rel,
    }
    .entry()
}

/// A wheel entry's file name (`wheels/NAME.whl` -> `NAME.whl`): what pyc entries
/// (`bytecode/<tag>/wheels/NAME.whl/...`), messages, RECORD-keyed maps and pip's links
/// directory use.
pub fn wheel_file_name(entry: &str) -> &str {
    entry.rsplit('/').next().unwrap_or(entry)
}

/// Where an entry is written in the payload, as a sort key: first what every deploy reads (the
/// app tree, its pycs, static folders, the loadenv files), right after the manifest; then each
/// wheel followed by its own pycs, by wheel file name. Why: a deploy that links unchanged wheels
/// from an earlier release verifies only the 4 MiB chunks holding bytes it reads
/// (`Payload::verify_except`); in this order the app shares the chunks the deferred open
/// hashes anyway, and a run of linked wheels with their pycs is one span it never reads.
/// Any order is a valid payload; this one only saves hashing.
pub fn pack_order(name: &str) -> (Option<&str>, &str) {
    let wheel = (name.strip_prefix(WHEELS_DIR))
        .or_else(|| name.strip_prefix(BOOTSTRAP_DIR))
        .filter(|file| !file.contains('/'));
    match (wheel, Pyc::parse(name)) {
        (Some(file), _) => (Some(file), ""),
        (
            None,
            Ok(Pyc {
                owner: PycOwner::Wheel(file),
                ..
            }),
        ) => (Some(file), name),
        _ => (None, name),
    }
}

/// A cache tag (`cpython-311`) becomes a path component and a file name part: a few plain
/// characters only.
pub fn check_cache_tag(tag: &str) -> Result<(), &'static str> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    match !tag.is_empty() && tag.len() <= 32 && tag.bytes().all(plain) {
        true => Ok(()),
        false => Err("has a cache tag that is not a few lowercase letters, digits, - and _"),
    }
}

/// Every entry lives under one of the layout's roots: the manifest, `wheels/NAME.whl`,
/// `bootstrap_wheels/NAME.whl`, `static.in/N/...`, the two loadenv files, or `<app>/...`.
/// Anything else (a `venv/...` file, an `environment.json`, `.wheelsfx/...`) is refused, so an
/// artifact can only write where the layout says.
pub fn classify(name: &str, app: &str) -> Result<EntryKind, String> {
    let one_wheel = |rest: &str| !rest.contains('/') && rest.ends_with(".whl");
    let kind = if name == MANIFEST {
        EntryKind::Manifest
    } else if let Some(rest) = name.strip_prefix(WHEELS_DIR) {
        one_wheel(rest)
            .then_some(EntryKind::Wheel)
            .ok_or("is not a wheel file directly in wheels/")?
    } else if let Some(rest) = name.strip_prefix(BOOTSTRAP_DIR) {
        one_wheel(rest)
            .then_some(EntryKind::BootstrapWheel)
            .ok_or("is not a wheel file directly in bootstrap_wheels/")?
    } else if let Some(rest) = name.strip_prefix(STATIC_DIR) {
        let (n, file) = rest.split_once('/').unwrap_or((rest, ""));
        let numbered = !n.is_empty() && n.len() < 6 && n.bytes().all(|b| b.is_ascii_digit());
        (numbered && !file.is_empty())
            .then_some(EntryKind::Static)
            .ok_or("is not inside a numbered static.in/N/ folder")?
    } else if name.starts_with(BYTECODE_DIR) && app != "bytecode" {
        Pyc::parse(name)?;
        EntryKind::Bytecode
    } else if name == LOADENV_PY || name == LOADENV_PTH {
        EntryKind::SitePackages
    } else if name
        .strip_prefix(app)
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    {
        EntryKind::App
    } else {
        return Err(format!(
            "is outside the layout (wheels/, bootstrap_wheels/, static.in/N/, bytecode/, {app}/, the loadenv files)"
        ));
    };
    Ok(kind)
}

/// Checks that an entry name is a plain relative path that stays inside its target:
/// no absolute path, no `..`, no empty or `.` component, no backslash, no NUL.
pub fn check_entry_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('/') {
        return Err("is an absolute or empty path".into());
    }
    if name.contains('\\') || name.chars().any(char::is_control) {
        return Err("contains a backslash or a control character".into());
    }
    for part in name.trim_end_matches('/').split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err("contains an empty, '.' or '..' path component".into());
        }
    }
    Ok(())
}

/// Top-level names of a release that shared links may not replace or reach into: the venv
/// (its interpreter links and site-packages are the install itself) and wheelsfx's own records.
const UNLINKABLE: [&str; 2] = ["venv", ".wheelsfx"];

/// A shared path (`link_shared`, `--link-shared`): relative to the release, replaced by a
/// link to the same path in the shared directory. A trailing `/` says it is a directory (made
/// in the shared directory when missing). Plain components only, and never the venv or
/// `.wheelsfx`, so a link can neither leave the release nor redirect the install's own files.
pub fn check_link_path(path: &str) -> Result<(), String> {
    let bare = link_path_bare(path);
    let why = if bare.ends_with('/') {
        Some("ends with more than one '/'".to_string())
    } else if let Err(why) = check_entry_name(bare) {
        Some(why)
    } else if UNLINKABLE.contains(&bare.split('/').next().unwrap_or(bare)) {
        Some("is in venv/ or .wheelsfx/, which the release itself owns".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(format!("the shared path {} {why}", quoted(path))),
        None => Ok(()),
    }
}

/// A shared path without its directory marker (`media/` -> `media`).
pub fn link_path_bare(path: &str) -> &str {
    path.strip_suffix('/').unwrap_or(path)
}

/// A whole list of shared paths: each valid, none twice, none inside another (the inner link
/// would be made through the outer one, inside the shared directory).
pub fn check_link_paths(paths: &[String]) -> Result<(), String> {
    for (i, a) in paths.iter().enumerate() {
        check_link_path(a)?;
        for b in &paths[..i] {
            let (x, y) = (link_path_bare(a), link_path_bare(b));
            let inside = |inner: &str, outer: &str| inner.strip_prefix(outer).is_some_and(|r| r.starts_with('/'));
            if x == y || inside(x, y) || inside(y, x) {
                return Err(format!(
                    "the shared paths {} and {} overlap; name each path once, and none inside another",
                    quoted(b),
                    quoted(a)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_order_puts_what_every_deploy_reads_first_and_each_wheels_pycs_after_it() {
        let pyc = |owner, source| pyc_entry("cpython-311", owner, source);
        let (a, b) = ("a-1-py3-none-any.whl", "b-1-py3-none-any.whl");
        let mut names = vec![
            format!("{WHEELS_DIR}{b}"),
            pyc(PycOwner::Wheel(b), "b/x.py"),
            pyc(PycOwner::Wheel(a), "a/x.py"),
            format!("{BOOTSTRAP_DIR}{a}"),
            "static.in/0/site.css".to_string(),
            "cms/views.py".to_string(),
            pyc(PycOwner::App, "views.py"),
            LOADENV_PY.to_string(),
        ];
        names.sort_by(|x, y| pack_order(x).cmp(&pack_order(y)));
        let want = [
            pyc(PycOwner::App, "views.py"),
            "cms/views.py".to_string(),
            LOADENV_PY.to_string(),
            "static.in/0/site.css".to_string(),
            format!("{BOOTSTRAP_DIR}{a}"),
            pyc(PycOwner::Wheel(a), "a/x.py"),
            format!("{WHEELS_DIR}{b}"),
            pyc(PycOwner::Wheel(b), "b/x.py"),
        ];
        assert_eq!(names, want);
    }

    #[test]
    fn pyc_names_round_trip_and_name_their_source() {
        let name = pyc_entry("cpython-311", PycOwner::Wheel("a-1-py3-none-any.whl"), "a/b.py");
        assert_eq!(
            name,
            "bytecode/cpython-311/wheels/a-1-py3-none-any.whl/a/__pycache__/b.cpython-311.pyc"
        );
        let pyc = Pyc::parse(&name).unwrap();
        assert_eq!(pyc.owner, PycOwner::Wheel("a-1-py3-none-any.whl"));
        assert_eq!(pyc.source().as_deref(), Some("a/b.py"));
        let top = Pyc::parse("bytecode/cpython-311/app/__pycache__/manage.cpython-311.pyc").unwrap();
        assert_eq!((top.owner, top.source().as_deref()), (PycOwner::App, Some("manage.py")));
        assert_eq!(classify(&name, "site"), Ok(EntryKind::Bytecode));
        for bad in [
            "bytecode/cpython-311/app/a/b.cpython-311.pyc",
            "bytecode/cpython-311/app/a/__pycache__/b.cpython-312.pyc",
            "bytecode/CPY/app/__pycache__/b.CPY.pyc",
            "bytecode/cpython-311/wheels/x/__pycache__/b.cpython-311.pyc",
            "bytecode/cpython-311/other/__pycache__/b.cpython-311.pyc",
        ] {
            assert!(classify(bad, "site").is_err(), "{bad}");
        }
    }

    #[test]
    fn names_that_escape_are_refused() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a\\b", ""] {
            assert!(check_entry_name(bad).is_err(), "{bad}");
        }
        for good in ["a", "wheels/x.whl", "app/pkg/__init__.py", "static.in/0/"] {
            assert!(check_entry_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn shared_paths() {
        for good in ["environment.json", "media/", "mysite/media", "static.in/0/"] {
            assert!(check_link_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/",
            "/etc/x",
            "../x",
            "a/../../x",
            "media//",
            "venv",
            "venv/lib",
            ".wheelsfx/receipt.json",
            "a\nb",
        ] {
            assert!(check_link_path(bad).is_err(), "{bad:?}");
        }
        let list = |v: &[&str]| check_link_paths(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(list(&["media/", "mediax", "environment.json"]).is_ok());
        for bad in [
            &["media/", "media"][..],
            &["media/", "media/x"],
            &["a/b", "a"],
            &["x", "x"],
        ] {
            assert!(list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kinds_follow_names() {
        let k = |n| classify(n, "hello");
        assert_eq!(k(MANIFEST), Ok(EntryKind::Manifest));
        assert_eq!(k("wheels/a-1-py3-none-any.whl"), Ok(EntryKind::Wheel));
        assert_eq!(k("bootstrap_wheels/pip.whl"), Ok(EntryKind::BootstrapWheel));
        assert_eq!(k("static.in/0/f.css"), Ok(EntryKind::Static));
        assert_eq!(k("loadenv.py"), Ok(EntryKind::SitePackages));
        assert_eq!(k("hello/hello/__init__.py"), Ok(EntryKind::App));
        for bad in [
            "venv/lib/python3.11/site-packages/zz.pth",
            "environment.json",
            ".wheelsfx/receipt.json",
            "wheels/sub/x.whl",
            "wheels/x.txt",
            "static.in/x/f",
            "static.in/0",
            "hello",
            "hellox/a.py",
        ] {
            assert!(k(bad).is_err(), "{bad}");
        }
    }
}
