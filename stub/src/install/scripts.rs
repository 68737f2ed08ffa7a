//! Executables a wheel brings: console_scripts/gui_scripts launchers from entry_points.txt,
//! and `.data/scripts/` files whose `#!python` line gets the venv's interpreter.

use wheelsfx_payload::wheel::{versioned, EntryPoint};

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

/// pip's own wheel declares `pip` and `pip3`; installers add `pipX.Y` for the target
/// interpreter (and drop any other `pipX.Y`), so `venv/bin/pip3.11` exists as after pip.
/// Each entry point comes with whether this wheel writes its launcher.
pub fn add_versioned_pip(eps: &mut Vec<(EntryPoint, bool)>, xy: &str) {
    eps.retain(|(e, _)| !(versioned(&e.name, "pip") && e.name.contains('.')));
    if let Some((pip, writes)) = eps.iter().find(|(e, _)| e.name == "pip").cloned() {
        let name = format!("pip{xy}");
        eps.push((EntryPoint { name, ..pip }, writes));
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

/// A `.data/scripts/` file whose first line starts with `#!python` (`#!python`, `#!pythonw`,
/// `#!python3.12 -u`, ...) gets the venv's shebang in place of that whole line, as pip and uv
/// do; anything else is left as the wheel has it.
pub fn rewrite_script(data: &[u8], python: &str) -> Option<Vec<u8>> {
    if !data.starts_with(b"#!python") {
        return None;
    }
    let rest = match data.iter().position(|&b| b == b'\n') {
        Some(eol) => &data[eol + 1..],
        None => &[],
    };
    let mut out = shebang(python).into_bytes();
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launchers() {
        let ep = EntryPoint {
            name: "x".into(),
            module: "a.b".into(),
            attr: "C.run".into(),
        };
        let l = launcher(&ep, "/srv/a/venv/bin/python");
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
        for head in ["#!python", "#!pythonw -u", "#!python3", "#!python3.12 -E"] {
            assert_eq!(
                rewrite_script(format!("{head}\nprint(1)\n").as_bytes(), "/v/bin/python").unwrap(),
                b"#!/v/bin/python\nprint(1)\n",
                "{head}"
            );
        }
        assert!(rewrite_script(b"#!/bin/bash\necho\n", "/v/bin/python").is_none());
        assert!(rewrite_script(b"#!/usr/bin/env python3\n", "/v/bin/python").is_none());
    }
}
