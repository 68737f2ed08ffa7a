//! End-to-end: build real artifacts with the real `wheelsfx` binary from wheels the tests
//! write, deploy them with real interpreters, and use the result as an operator would.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

mod ansible;
mod bytecode;
mod confine;
mod corpus;
mod debian;
mod deploy;
mod diff;
mod docker;
mod example;
mod faults;
mod format;
mod hooks;
mod hostile;
mod link;
mod lock;
mod packing;
mod parity;
mod refusals;
mod releases;
mod robust;
mod signing;
mod targets;
mod tree;
mod verify;

/// A project tree, a wheelhouse and the artifact built from them.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub artifact: PathBuf,
}

impl Fixture {
    /// The standard fixture: app `mysite`, a console-script wheel, a platlib wheel.
    pub fn new() -> Fixture {
        Fixture::with_wheels(standard_wheels())
    }

    pub fn with_wheels(wheels: Vec<WheelSpec>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("src/mysite");
        std::fs::create_dir_all(app.join("mysite/__pycache__")).unwrap();
        std::fs::write(app.join("mysite/__init__.py"), "import greet\nNAME = 'mysite'\n").unwrap();
        std::fs::write(app.join("mysite/__pycache__/junk.pyc"), "not packed").unwrap();
        std::fs::write(
            app.join("manage.py"),
            "#!/usr/bin/env python\nimport mysite\nprint(mysite.NAME)\n",
        )
        .unwrap();
        let fonts = dir.path().join("fonts");
        std::fs::create_dir_all(&fonts).unwrap();
        std::fs::write(fonts.join("font.css"), "/* font */\n").unwrap();
        let house = dir.path().join("wheelhouse");
        std::fs::create_dir_all(&house).unwrap();
        for w in &wheels {
            w.write(&house);
        }
        let artifact = dir.path().join("mysite.sfx");
        let fx = Fixture { dir, artifact };
        fx.build(&[]);
        fx
    }

    /// (Re)builds the artifact with extra arguments.
    pub fn build(&self, extra: &[&str]) -> std::process::Output {
        ok(self.build_command(&self.artifact).args(extra))
    }

    /// `wheelsfx build` of this fixture's app, wheelhouse and static folder into `output`.
    pub fn build_command(&self, output: &Path) -> Command {
        self.build_command_with(&self.app(), &bootstrap_dir(), output)
    }

    /// The project tree, `src/mysite`.
    pub fn app(&self) -> PathBuf {
        self.dir.path().join("src/mysite")
    }

    /// `wheelsfx build` of the app tree `app` and the bootstrap wheels in `bootstrap`, with this
    /// fixture's wheelhouse and static folder.
    pub fn build_command_with(&self, app: &Path, bootstrap: &Path, output: &Path) -> Command {
        let d = self.dir.path();
        let mut cmd = wheelsfx();
        cmd.arg("build")
            .arg("--app")
            .arg(app)
            .arg("--wheelhouse")
            .arg(d.join("wheelhouse"));
        cmd.arg("--bootstrap-wheels")
            .arg(bootstrap)
            .arg("--extra-static")
            .arg(d.join("fonts"))
            .arg("-o")
            .arg(output);
        cmd
    }

    pub fn dest(&self, name: &str) -> PathBuf {
        self.dir.path().join("srv").join(name)
    }

    /// `./artifact ARGS`.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.artifact).args(args).output().unwrap()
    }

    /// `./artifact -d DEST --python PY`, to run or spawn.
    pub fn install_command(&self, dest: &Path, python: &Path) -> Command {
        let mut cmd = Command::new(&self.artifact);
        cmd.arg("-d").arg(dest).arg("--python").arg(python);
        cmd
    }

    pub fn deploy(&self, dest: &Path, python: &Path, extra: &[&str]) -> std::process::Output {
        ok(self.install_command(dest, python).args(extra))
    }
}

pub fn standard_wheels() -> Vec<WheelSpec> {
    let mut greet = WheelSpec::new("greet", "1.0").file(
        "greet/__init__.py",
        "import os\n\ndef main():\n    print('greeting=' + os.environ.get('GREETING', '<unset>'))\n",
    );
    greet.entry_points = Some("[console_scripts]\ngreet = greet:main\n");
    let mut fast = WheelSpec::new("fastthing", "2.0").file("fastthing.py", "SPEED = 'fast'\n");
    fast.purelib = false;
    fast.tag = "py3-none-manylinux_2_17_x86_64";
    vec![greet, fast]
}
