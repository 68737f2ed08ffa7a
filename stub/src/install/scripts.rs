//! Executables a wheel brings: console_scripts/gui_scripts launchers from entry_points.txt,
//! and `.data/scripts/` files whose `#!python` line gets the venv's interpreter.

/// The shebang for `python` (DEST's venv interpreter). Linux reads at most 127 bytes of a
/// `#!` line and splits on spaces, so a long path or one with spaces goes through /bin/sh:
/// the shell runs the `exec` line; Python reads the same lines as a string and moves on.
pub fn shebang(python: &str) -> String {
    if python.len() + 3 <= 127 && !python.contains([' ', '\t']) {
        format!("#!{python}\n")
    } else {
        let quoted = python.replace('\'', "'\"'\"'");
        format!("#!/bin/sh\n'''exec' '{quoted}' \"$0\" \"$@\"\n' '''\n")
    }
}

/// One `name = module:attr.path [extras]` line of a scripts section.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPoint {
    pub name: String,
    pub module: String,
    pub attr: String,
}

/// The console_scripts and gui_scripts of an entry_points.txt (both become launchers in bin/
/// on Linux).
pub fn parse_entry_points(text: &str) -> Result<Vec<EntryPoint>, String> {
    let mut out = Vec::new();
    let mut in_scripts = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_scripts = matches!(line, "[console_scripts]" | "[gui_scripts]");
            continue;
        }
        if !in_scripts {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("entry point line {line:?} has no '='"))?;
        let value = value.split('[').next().unwrap_or("").trim();
        let (module, attr) = value
            .split_once(':')
            .map(|(m, a)| (m.trim(), a.trim()))
            .filter(|(m, a)| !m.is_empty() && !a.is_empty())
            .ok_or_else(|| format!("entry point {:?} must name module:function, not {value:?}", name.trim()))?;
        let name = name.trim();
        if name.is_empty() || name.contains('/') {
            return Err(format!("entry point name {name:?} is not a file name"));
        }
        out.push(EntryPoint {
            name: name.to_string(),
            module: module.to_string(),
            attr: attr.to_string(),
        });
    }
    Ok(out)
}

/// pip's own wheel declares `pip` and `pip3`; installers add `pipX.Y` for the target
/// interpreter (and drop any other `pipX.Y`), so `venv/bin/pip3.11` exists as after pip.
pub fn add_versioned_pip(eps: &mut Vec<EntryPoint>, xy: &str) {
    let versioned = |n: &str| {
        n.strip_prefix("pip")
            .is_some_and(|v| v.contains('.') && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    eps.retain(|e| !versioned(&e.name));
    if let Some(pip) = eps.iter().find(|e| e.name == "pip").cloned() {
        eps.push(EntryPoint {
            name: format!("pip{xy}"),
            ..pip
        });
    }
}

/// The launcher script for an entry point.
pub fn launcher(ep: &EntryPoint, python: &str) -> String {
    let head = ep.attr.split('.').next().unwrap_or(&ep.attr);
    format!(
        "{}# wheelsfx launcher for the entry point {} = {}:{}\nimport sys\nfrom {} import {head}\n\nif __name__ == \"__main__\":\n    sys.exit({}())\n",
        shebang(python),
        ep.name,
        ep.module,
        ep.attr,
        ep.module,
        ep.attr
    )
}

/// A `.data/scripts/` file: `#!python` / `#!pythonw` (and any arguments) becomes the venv's
/// shebang; anything else is left as the wheel has it.
pub fn rewrite_script(data: &[u8], python: &str) -> Option<Vec<u8>> {
    let rest = data.strip_prefix(b"#!python".as_slice())?;
    let rest = rest.strip_prefix(b"w".as_slice()).unwrap_or(rest);
    let eol = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let args = String::from_utf8_lossy(&rest[..eol]).trim_end_matches('\r').to_string();
    if !args.is_empty() && !args.starts_with([' ', '\t']) {
        return None; // "#!python3" and the like are not the placeholder.
    }
    let mut line = shebang(python);
    if !args.trim().is_empty() && !line.starts_with("#!/bin/sh") {
        line.insert_str(line.len() - 1, &args);
    }
    let mut out = line.into_bytes();
    out.extend_from_slice(rest.get(eol + 1..).unwrap_or(&[]));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points() {
        let eps = parse_entry_points("[console_scripts]\nflask = flask.cli:main\nx=a.b:C.run [extra]\n[other]\ny = z:w\n[gui_scripts]\ng = m:f\n").unwrap();
        assert_eq!(eps.len(), 3);
        assert_eq!(
            eps[1],
            EntryPoint {
                name: "x".into(),
                module: "a.b".into(),
                attr: "C.run".into()
            }
        );
        assert!(parse_entry_points("[console_scripts]\nbad = justamodule\n").is_err());
        let l = launcher(&eps[1], "/srv/a/venv/bin/python");
        assert!(
            l.starts_with("#!/srv/a/venv/bin/python\n")
                && l.contains("from a.b import C\n")
                && l.contains("sys.exit(C.run())")
        );
    }

    #[test]
    fn long_or_spaced_paths_go_through_sh() {
        assert!(shebang("/srv/my app/venv/bin/python").starts_with("#!/bin/sh\n'''exec' '/srv/my app/venv/bin/python'"));
        assert!(shebang(&format!("/{}/python", "x".repeat(130))).starts_with("#!/bin/sh"));
    }

    #[test]
    fn script_placeholders() {
        assert_eq!(
            rewrite_script(b"#!python\nprint(1)\n", "/v/bin/python").unwrap(),
            b"#!/v/bin/python\nprint(1)\n"
        );
        assert_eq!(
            rewrite_script(b"#!pythonw -u\nx\n", "/v/bin/python").unwrap(),
            b"#!/v/bin/python -u\nx\n"
        );
        assert!(rewrite_script(b"#!/bin/bash\necho\n", "/v/bin/python").is_none());
        assert!(rewrite_script(b"#!python3\n", "/v/bin/python").is_none());
    }
}
