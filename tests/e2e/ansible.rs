//! A fleet deployed with Ansible as an operator would: the collection in `ansible/` built and
//! installed with ansible-galaxy, ansible from PyPI (tests/ansible-venv.sh), three hosts that
//! are separate fresh Debian root filesystems (bookworm, trixie, bookworm) driven over the
//! `community.general.chroot` connection, the environment from a vault, the collection's own
//! playbooks with a canary batch (`serial: [1, "100%"]`) and `max_fail_percentage: 50`.
//!
//! The artifacts are built here from the tests' own wheels and declare a post-install hook that
//! fails on a host holding a marker file. The flow: check mode on the new servers (nothing
//! written), first deploy, re-deploy unchanged (changed=0 everywhere), release 2 failing on
//! one host (it stays on 1, the others move), rollback of the moved hosts with no artifact left
//! on them, a failing canary stopping the rollout, release 3 everywhere with keep pruning, and a
//! rollback of everyone followed by release 3 again (no copy: each release's own stub moves
//! `current` forward).
//!
//! systemd is replaced by a `systemctl` that logs each restart with where `current` pointed.

use crate::debian::{fresh_root, in_root_ok, require_root};
use crate::support::*;
use crate::Fixture;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Host name and Debian suite: two Pythons (3.11, 3.13), and the failing host shares its
/// suite with a host that succeeds, so what fails is the hook, not the server.
const HOSTS: &[(&str, &str)] = &[("web1", "bookworm"), ("web2", "trixie"), ("web3", "bookworm")];
/// The role's default root for the app `mysite`, inside each host.
const SITE: &str = "srv/mysite";
/// A host holding this file fails the artifact's hook.
const MARKER: &str = "etc/wheelsfx-test-fail-hook";
/// The build-time hook: fails on a marked host; else runs the app with the venv's python.
const HOOK: &str =
    "if [ -e /etc/wheelsfx-test-fail-hook ]; then echo 'marker found: failing' >&2; exit 1; fi; python manage.py";

/// Stands in for systemd, which a chroot lacks: `show` says the unit runs (so the systemd
/// module restarts it), `restart` logs where `current` points at that moment.
const SYSTEMCTL: &str = "#!/bin/sh
case \"$1\" in
  show) printf 'Id=%s\\nLoadState=loaded\\nActiveState=active\\nSubState=running\\n' \"$2\" ;;
  restart) echo \"$(readlink /srv/mysite/current)\" >>/var/log/restarts ;;
  *) echo \"fake systemctl: $*\" >&2; exit 1 ;;
esac
";

/// The play variables the test's operator passes: a canary, then everyone else; stop when
/// more than half of a batch failed.
const BATCHES: &str = r#"{"wheelsfx_serial": [1, "100%"], "wheelsfx_max_fail_percentage": 50}"#;

struct Fleet {
    dir: PathBuf,
    venv: PathBuf,
}

/// One ansible-playbook run: its exit code, its output, and the PLAY RECAP as host -> counter -> n.
struct Play {
    code: Option<i32>,
    out: String,
    recap: BTreeMap<String, BTreeMap<String, u32>>,
}

impl Play {
    fn count(&self, host: &str, counter: &str) -> u32 {
        let Some(counts) = self.recap.get(host) else {
            panic!("{host} is not in the PLAY RECAP:\n{}", self.out)
        };
        counts[counter]
    }

    fn succeeded(&self) -> &Play {
        assert_eq!(self.code, Some(0), "ansible-playbook failed:\n{}", self.out);
        self
    }

    /// `ansible-playbook` exits 2 when a host failed.
    fn failed(&self) -> &Play {
        assert_eq!(
            self.code,
            Some(2),
            "ansible-playbook should report a failed host:\n{}",
            self.out
        );
        self
    }

    fn changed(&self, hosts: &[&str]) -> &Play {
        for h in hosts {
            assert!(self.count(h, "changed") > 0, "{h} should report changes:\n{}", self.out);
            assert_eq!(self.count(h, "failed"), 0, "{h} failed:\n{}", self.out);
        }
        self
    }

    fn unchanged(&self, hosts: &[&str]) -> &Play {
        for h in hosts {
            assert_eq!(
                self.count(h, "changed"),
                0,
                "{h} should report changed=0:\n{}",
                self.out
            );
            assert_eq!(self.count(h, "failed"), 0, "{h} failed:\n{}", self.out);
        }
        self
    }

    /// The result lines (`ok: [web1]`, `skipping: [web2]`, ...) of every run of the task whose
    /// name starts with `name`, across batches.
    fn task(&self, name: &str) -> String {
        self.out
            .split("\nTASK [")
            .filter(|t| t.split_once(" : ").is_some_and(|(_, rest)| rest.starts_with(name)))
            .collect()
    }

    fn failed_on(&self, host: &str, needle: &str) -> &Play {
        assert_eq!(
            self.count(host, "failed"),
            1,
            "{host} should have failed:\n{}",
            self.out
        );
        assert!(self.out.contains(needle), "the output lacks {needle:?}:\n{}", self.out);
        self
    }
}

fn recap(out: &str) -> BTreeMap<String, BTreeMap<String, u32>> {
    let Some((_, tail)) = out.split_once("PLAY RECAP") else {
        return BTreeMap::new();
    };
    tail.lines()
        .filter_map(|line| line.split_once(" : "))
        .map(|(host, counts)| {
            let counts = counts
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                .collect();
            (host.trim().to_string(), counts)
        })
        .collect()
}

impl Fleet {
    /// Ansible (from PyPI, cached), the collection installed from the repository with
    /// ansible-galaxy, one fresh root per host with the fake systemctl, and the inventory.
    fn new(dir: &Path) -> Fleet {
        require_root();
        std::fs::create_dir_all(dir).unwrap();
        let venv = ansible_venv();
        let fleet = Fleet {
            dir: dir.to_path_buf(),
            venv,
        };
        fleet.install_collection();
        std::thread::scope(|s| {
            for &(host, suite) in HOSTS {
                let root = fleet.host(host);
                s.spawn(move || {
                    fresh_root(suite, &root);
                    write_exe(&root.join("usr/local/sbin/systemctl"), SYSTEMCTL.as_bytes());
                });
            }
        });
        fleet.write_inventory();
        fleet
    }

    fn host(&self, name: &str) -> PathBuf {
        self.dir.join("hosts").join(name)
    }

    fn ansible(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.venv.join("bin").join(tool));
        cmd.current_dir(&self.dir)
            .env("ANSIBLE_COLLECTIONS_PATH", self.dir.join("collections"))
            .env("ANSIBLE_HOME", self.dir.join("ansible-home"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env_remove("ANSIBLE_FORCE_COLOR");
        cmd
    }

    /// As a user would: `ansible-galaxy collection build` of ansible/, then `install` of the tarball.
    fn install_collection(&self) {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ansible");
        ok(self
            .ansible("ansible-galaxy")
            .args(["collection", "build", "--output-path"])
            .arg(&self.dir)
            .arg(&source));
        ok(self
            .ansible("ansible-galaxy")
            .args(["collection", "install", "wheelsfx-deploy-0.1.0.tar.gz", "-p"])
            .arg(self.dir.join("collections")));
    }

    /// hosts.yml, group vars, and the environment's secret in a vault file.
    fn write_inventory(&self) {
        let inv = self.dir.join("inventory");
        let vars = inv.join("group_vars/fleet");
        std::fs::create_dir_all(&vars).unwrap();
        let hosts: String = HOSTS
            .iter()
            .map(|(h, _)| format!("    {h}:\n      ansible_host: {}\n", self.host(h).display()))
            .collect();
        std::fs::write(inv.join("hosts.yml"), format!("fleet:\n  hosts:\n{hosts}")).unwrap();
        std::fs::write(
            vars.join("vars.yml"),
            "ansible_connection: community.general.chroot\n\
             ansible_python_interpreter: /usr/bin/python3\n\
             wheelsfx_root: /srv/mysite\n\
             wheelsfx_keep: 2\n\
             wheelsfx_service: mysite.service\n\
             wheelsfx_strict_env: true\n\
             wheelsfx_environment:\n  GREETING: \"{{ vault_greeting }}\"\n",
        )
        .unwrap();
        std::fs::write(vars.join("vault.yml"), "vault_greeting: hi from the vault\n").unwrap();
        std::fs::write(self.dir.join("vault-password"), "correct horse\n").unwrap();
        ok(self
            .ansible("ansible-vault")
            .args(["encrypt", "--vault-password-file", "vault-password"])
            .arg(vars.join("vault.yml")));
    }

    /// `ansible-playbook -i inventory wheelsfx.deploy.PLAYBOOK ARGS`.
    fn play(&self, playbook: &str, args: &[&str]) -> Play {
        let out = self
            .ansible("ansible-playbook")
            .args(["-i", "inventory", "--vault-password-file", "vault-password"])
            .arg(format!("wheelsfx.deploy.{playbook}"))
            .args(args)
            .output()
            .unwrap();
        let out_text = text(&out.stdout) + &text(&out.stderr);
        Play {
            code: out.status.code(),
            recap: recap(&out_text),
            out: out_text,
        }
    }

    fn deploy(&self, artifact: &Path, extra: &[&str]) -> Play {
        let artifact = format!("wheelsfx_artifact={}", artifact.display());
        self.play("deploy", &[&["-e", &artifact, "-e", BATCHES][..], extra].concat())
    }

    fn site(&self, host: &str) -> PathBuf {
        self.host(host).join(SITE)
    }

    /// Where `current` points on `host` (the relative link the stub writes).
    fn current(&self, host: &str) -> String {
        let link = self.site(host).join("current");
        std::fs::read_link(&link)
            .unwrap_or_else(|e| panic!("{}: {e}", link.display()))
            .to_string_lossy()
            .into_owned()
    }

    fn on_release(&self, hosts: &[&str], release: &str) {
        for h in hosts {
            assert_eq!(self.current(h), format!("releases/{release}"), "{h}'s current");
        }
    }

    fn receipt(&self, host: &str, release: &str) -> serde_json::Value {
        let path = self
            .site(host)
            .join("releases")
            .join(release)
            .join(".wheelsfx/receipt.json");
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    }

    fn releases(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.site(host).join("releases"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Every restart the handler made on `host`: where `current` pointed at each.
    fn restarts(&self, host: &str) -> Vec<String> {
        std::fs::read_to_string(self.host(host).join("var/log/restarts"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The role removes the artifact it copied, whatever happened.
    fn no_artifact_left(&self, host: &str) {
        let left: Vec<String> = std::fs::read_dir(self.site(host))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sfx"))
            .collect();
        assert!(left.is_empty(), "{host} still has {left:?}");
    }

    fn mark(&self, host: &str, fail: bool) {
        let marker = self.host(host).join(MARKER);
        if fail {
            std::fs::write(marker, "").unwrap();
        } else {
            std::fs::remove_file(marker).unwrap();
        }
    }
}

/// The cached venv with ansible from PyPI (tests/ansible-venv.sh makes it on first use).
fn ansible_venv() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ansible-venv.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    if !out.status.success() {
        missing(&format!(
            "could not install ansible from PyPI: {}",
            text(&out.stderr).trim()
        ));
    }
    PathBuf::from(text(&out.stdout).trim())
}

/// The hex digest an (unsigned) artifact ends with.
fn digest_of(artifact: &Path) -> String {
    let bytes = std::fs::read(artifact).unwrap();
    text(&bytes[bytes.len() - 64..])
}

/// Builds release `n` of the fixture's app: build id `n` (the role's release name), the hook.
fn artifact(fx: &Fixture, n: u32) -> PathBuf {
    let out = fx.dir.path().join(format!("mysite-{n}.sfx"));
    ok(fx
        .build_command(&out)
        .args(["--build-id", &n.to_string(), "--post-install", HOOK]));
    out
}

#[test]
#[ignore = "needs root, debootstrap and ansible; CI runs it"]
fn a_fleet_deployed_with_the_ansible_collection() {
    let fx = Fixture::new();
    let fleet = Fleet::new(&fx.dir.path().join("fleet"));
    let [r1, r2, r3] = [1, 2, 3].map(|n| artifact(&fx, n));
    let all = ["web1", "web2", "web3"];

    // Check mode on new servers: the stub's --dry-run runs on every host (the artifact is
    // copied for it, then removed) and says it would install; nothing is installed, activated
    // or restarted, and no environment is written.
    fleet.deploy(&r1, &["--check"]).succeeded().changed(&all);
    for h in all {
        assert_eq!(
            fleet.releases(h),
            Vec::<String>::new(),
            "{h}: check mode installed something"
        );
        assert!(!fleet.site(h).join("current").exists(), "{h}: check mode activated");
        assert!(
            !fleet.site(h).join("shared/environment.json").exists(),
            "{h}: check mode wrote the environment"
        );
        assert_eq!(fleet.restarts(h), Vec::<String>::new(), "{h}");
        fleet.no_artifact_left(h);
    }

    // First deploy: every host installs release 1, runs its hook with the vault's environment,
    // activates it, and restarts once.
    fleet.deploy(&r1, &[]).succeeded().changed(&all);
    fleet.on_release(&all, "1");
    for h in all {
        let receipt = fleet.receipt(h, "1");
        assert_eq!(receipt["state"], "complete", "{h}: {receipt}");
        assert_eq!(receipt["artifact_digest"], digest_of(&r1), "{h}");
        assert_eq!(receipt["hooks"][0]["exit_code"], 0, "{h}: {receipt}");
        assert!(
            receipt["hooks"][0]["output"].as_str().unwrap().contains("mysite"),
            "{h}: {receipt}"
        );
        let greet = in_root_ok(&fleet.host(h), &["/srv/mysite/current/venv/bin/greet"]);
        assert_eq!(greet.trim(), "greeting=hi from the vault", "{h}");
        let env = fleet.site(h).join("shared/environment.json");
        assert_eq!(
            std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
            0o600,
            "{h}"
        );
        assert_eq!(fleet.restarts(h), ["releases/1"], "{h}");
        fleet.no_artifact_left(h);
    }

    // The same artifact again: nothing copied, nothing installed, nothing restarted.
    fleet.deploy(&r1, &[]).succeeded().unchanged(&all);
    for h in all {
        assert_eq!(fleet.restarts(h), ["releases/1"], "{h}");
    }

    // Release 2, whose hook fails on web3 (in the second batch: 1 of 2 is not more than 50%):
    // web3 stays on 1 with release 2 installed but not activated; the others move to 2.
    fleet.mark("web3", true);
    fleet
        .deploy(&r2, &[])
        .failed()
        .changed(&["web1", "web2"])
        .failed_on("web3", "marker found: failing");
    fleet.on_release(&["web1", "web2"], "2");
    fleet.on_release(&["web3"], "1");
    assert_eq!(fleet.receipt("web3", "2")["state"], "hooks-failed");
    for h in ["web1", "web2"] {
        assert_eq!(fleet.restarts(h), ["releases/1", "releases/2"], "{h}");
    }
    assert_eq!(fleet.restarts("web3"), ["releases/1"]);
    for h in all {
        fleet.no_artifact_left(h);
    }

    // Roll the moved hosts back: each release's own stub does it, with no artifact on the host.
    fleet
        .play("rollback", &["--limit", "web1,web2"])
        .succeeded()
        .changed(&["web1", "web2"]);
    fleet.on_release(&all, "1");
    for h in ["web1", "web2"] {
        assert_eq!(fleet.restarts(h), ["releases/1", "releases/2", "releases/1"], "{h}");
    }

    fleet.mark("web3", false);

    // A failing canary stops the rollout: the batch after it is never started.
    fleet.mark("web1", true);
    fleet
        .deploy(&r3, &[])
        .failed()
        .failed_on("web1", "marker found: failing");
    assert_eq!(fleet.receipt("web1", "3")["state"], "hooks-failed");
    for h in ["web2", "web3"] {
        assert!(
            !fleet.site(h).join("releases/3").exists(),
            "{h} was deployed after the canary failed"
        );
    }
    fleet.on_release(&all, "1");

    // Release 3 everywhere (web1 re-runs the hooks of its installed release 3); keep 2 prunes the
    // oldest complete release on web1 and web2, never web3's failed release 2.
    fleet.mark("web1", false);
    fleet.deploy(&r3, &[]).succeeded().changed(&all);
    fleet.on_release(&all, "3");
    assert_eq!(fleet.receipt("web1", "3")["state"], "complete");
    for h in ["web1", "web2"] {
        assert_eq!(fleet.releases(h), ["2", "3"], "{h}");
    }
    assert_eq!(fleet.releases("web3"), ["1", "2", "3"]);
    for h in all {
        wait_for_background_removal(&fleet.site(h).join("releases"));
        assert_eq!(fleet.restarts(h).last().map(String::as_str), Some("releases/3"), "{h}");
    }

    // Roll everyone back (to the previous complete release: 2, or 1 on web3, whose 2 failed),
    // then deploy 3 again: every host has it complete, so nothing is copied and each release's
    // own stub moves current forward again.
    fleet.play("rollback", &[]).succeeded().changed(&all);
    fleet.on_release(&["web1", "web2"], "2");
    fleet.on_release(&["web3"], "1");
    let again = fleet.deploy(&r3, &[]);
    again.succeeded().changed(&all);
    let copy = again.task("Copy the artifact");
    assert!(
        copy.contains("skipping: [web1]") && !copy.contains("changed:"),
        "copied again:\n{}",
        again.out
    );
    fleet.on_release(&all, "3");
    for h in all {
        assert_eq!(fleet.restarts(h).last().map(String::as_str), Some("releases/3"), "{h}");
    }
}

/// `--keep` renames what it prunes to `.NAME.wheelsfx-old` and deletes it in the background.
fn wait_for_background_removal(releases: &Path) {
    let pending = || {
        std::fs::read_dir(releases)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".wheelsfx-old"))
    };
    let start = std::time::Instant::now();
    while pending() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "pruned releases still in {} after 60 s",
            releases.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
