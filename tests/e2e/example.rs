//! The README's quickstart, examples/django/demo.sh, run for real (PyPI), then what an operator
//! does next on the tree it leaves: release 2 of a changed build, a HUP that does not switch
//! releases, a restart that does, and a rollback after the artifacts are gone. Each step is
//! checked by asking gunicorn, started from `current` as examples/django/deploy/mysite.service
//! starts it, for the page (rows from the database) and the stylesheet it links.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The row the example's migration writes: on the page, it proves the migrate hook ran.
const NOTE: &str = "Written by the migrate hook.";

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/django")
}

/// gunicorn serving `current`, as the unit starts it (on a free port); stopped with SIGTERM,
/// which takes its workers down too, when dropped.
struct Gunicorn {
    child: Child,
    log: PathBuf,
    addr: String,
}

impl Gunicorn {
    fn start(current: &Path, log: PathBuf) -> Gunicorn {
        let child = Command::new(current.join("venv/bin/gunicorn"))
            .args(["--bind", "127.0.0.1:0", "--no-control-socket", "mysite.wsgi"])
            .current_dir(current)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut g = Gunicorn {
            child,
            log,
            addr: String::new(),
        };
        g.addr = g.wait_for_log(|log| {
            let rest = log.split("Listening at: http://").nth(1)?;
            rest.split_whitespace().next().map(String::from)
        });
        g
    }

    /// Polls the log until `found` sees what it waits for.
    fn wait_for_log<T>(&mut self, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(t) = found(&log) {
                return t;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("gunicorn exited ({status}):\n{log}");
            }
            assert!(Instant::now() < deadline, "gunicorn did not get there in 60 s:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// One HTTP/1.0 GET: (status, body).
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        (
            status.unwrap_or_else(|| panic!("not HTTP: {response}")),
            body.to_string(),
        )
    }

    /// The page and the stylesheet it links, both answering 200.
    fn site(&self) -> (String, String) {
        let (status, page) = self.get("/");
        assert_eq!(status, 200, "{page}");
        let href = page.split("href=\"").nth(1).and_then(|r| r.split('"').next());
        let href = href.unwrap_or_else(|| panic!("no stylesheet link in:\n{page}"));
        // A hashed name: collectstatic wrote the manifest the template tag reads.
        assert!(
            href.starts_with("/static/site.") && href.ends_with(".css") && href != "/static/site.css",
            "{href}"
        );
        let (status, css) = self.get(href);
        assert_eq!(status, 200, "{href}: {css}");
        (page, css)
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn link(path: &Path) -> PathBuf {
    std::fs::read_link(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

#[test]
#[ignore = "needs PyPI; CI runs it"]
fn the_django_quickstart_serves_from_current_upgrades_and_rolls_back() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let root = w.join("srv/mysite");
    let current = root.join("current");
    let css_1 = std::fs::read_to_string(example().join("assets/site.css")).unwrap();

    // The README's first command, with this test's wheelsfx instead of a second `cargo install`.
    let demo = ok(Command::new(example().join("demo.sh"))
        .arg(w)
        .env("WHEELSFX", env!("CARGO_BIN_EXE_wheelsfx")));
    let said = text(&demo.stdout);
    assert!(said.contains(NOTE) && said.contains(css_1.trim()), "{said}");

    // What it left: release 1, complete after both build-time hooks, settings linked from
    // shared/, and `current` a relative link to it.
    let release_1 = root.join("releases/1");
    let receipt: Value =
        serde_json::from_slice(&std::fs::read(release_1.join(".wheelsfx/receipt.json")).unwrap()).unwrap();
    assert_eq!(receipt["state"], "complete", "{receipt:#}");
    let hooks: Vec<(&str, &str, i64)> = receipt["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["command"].as_str().unwrap(),
                h["from"].as_str().unwrap(),
                h["exit_code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hooks,
        [
            ("python manage.py collectstatic --noinput", "build", 0),
            ("python manage.py migrate --noinput", "build", 0)
        ]
    );
    assert_eq!(
        link(&release_1.join("environment.json")),
        Path::new("../../shared/environment.json")
    );
    assert_eq!(link(&current), Path::new("releases/1"));

    // Served from `current`: the note the migrate hook wrote into shared/db.sqlite3, and the
    // stylesheet the collectstatic hook collected from static.in/0, served by WhiteNoise.
    let mut g = Gunicorn::start(&current, w.join("gunicorn-1.log"));
    let (page, css) = g.site();
    assert!(page.contains("release 1") && page.contains(NOTE), "{page}");
    assert_eq!(css, css_1);

    // Release 2: a changed build (another stylesheet), deployed and activated beside release 1.
    let src = w.join("src");
    ok(Command::new("cp").arg("-a").arg(example()).arg(&src));
    let css_2 = "h1 { color: rebeccapurple; }\n";
    std::fs::write(src.join("assets/site.css"), css_2).unwrap();
    let artifact_2 = w.join("mysite-2.sfx");
    ok(wheelsfx()
        .args(["build", "--config"])
        .arg(src.join("pyproject.toml"))
        .arg("-o")
        .arg(&artifact_2));
    let release_2 = root.join("releases/2");
    let deployed = json(&ok(Command::new(&artifact_2)
        .arg("-d")
        .arg(&release_2)
        .arg("--activate")
        .arg(&current)
        .arg("--json")));
    assert_eq!(
        deployed["actions"],
        serde_json::json!(["installed", "hooks", "activated"]),
        "{deployed:#}"
    );
    assert_eq!(deployed["activated"]["previous"], release_1.to_str().unwrap());
    assert_eq!(link(&current), Path::new("releases/2"));

    // A HUP re-forks workers from the running master, which keeps release 1's venv and paths:
    // the new worker still serves release 1. This is why the unit restarts instead.
    g.signal(Signal::SIGHUP);
    g.wait_for_log(|log| {
        let after = log.split_once("Hang up")?.1;
        (after.contains("Booting worker") && after.contains("Worker exiting")).then_some(())
    });
    let (page, css) = g.site();
    assert!(page.contains("release 1"), "{page}");
    assert_eq!(css, css_1);
    drop(g);

    // Restarted, gunicorn serves release 2. The database is shared: release 2's migrate found
    // the migration applied, so the note is there once.
    let g = Gunicorn::start(&current, w.join("gunicorn-2.log"));
    let (page, css) = g.site();
    assert!(page.contains("release 2") && page.matches(NOTE).count() == 1, "{page}");
    assert_eq!(css, css_2);
    drop(g);

    // Rollback with the artifacts gone: the stub release 2 keeps does it.
    std::fs::remove_file(w.join("mysite.sfx")).unwrap();
    std::fs::remove_file(&artifact_2).unwrap();
    ok(Command::new(release_2.join(".wheelsfx/wheelsfx"))
        .arg("--rollback")
        .arg(&current));
    assert_eq!(link(&current), Path::new("releases/1"));
    let g = Gunicorn::start(&current, w.join("gunicorn-3.log"));
    let (page, css) = g.site();
    assert!(page.contains("release 1"), "{page}");
    assert_eq!(css, css_1);
}
