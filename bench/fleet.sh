#!/usr/bin/env bash
# Fleet timing: the collection's deploy playbook (wheelsfx.deploy.deploy) against fleets of
# fresh Debian bookworm hosts (copies of the cached debootstrap root, driven over the chroot
# connection, as in tests/e2e/ansible.rs), deploying the Wagtail corpus artifact (60 wheels,
# 73 MB; bookworm's python3 is the corpus's 3.11). For each fleet size: the first deploy, an
# unchanged re-deploy, and a second release in batches (a canary, then half the fleet at a time).
#   bench/fleet.sh [SIZE...]      (default 3 10; needs root; prints a Markdown table)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/target/bench}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(3 10)
[ "$(id -u)" = 0 ] || { echo "fleet.sh: chroot needs root" >&2; exit 2; }
TAR=${WHEELSFX_TEST_ROOTS:-$HOME/.cache/wheelsfx-test/roots}/bookworm.tar
[ -f "$TAR" ] || {
  echo "fleet.sh: no cached bookworm root at $TAR; make it with" >&2
  echo "  cargo test -p wheelsfx --test e2e -- --ignored deploys_on_fresh_debian_servers" >&2
  exit 2
}

ARTIFACT=$(BENCH_WORK=$WORK bash "$ROOT/bench/artifact.sh")
VENV=$(bash "$ROOT/tests/ansible-venv.sh")
FLEET=$WORK/fleet
rm -rf "$FLEET" && mkdir -p "$FLEET"
trap 'rm -rf "$FLEET"' EXIT
export ANSIBLE_COLLECTIONS_PATH=$FLEET/collections ANSIBLE_HOME=$FLEET/ansible-home ANSIBLE_NOCOLOR=1
"$VENV/bin/ansible-galaxy" collection build --output-path "$FLEET" "$ROOT/ansible" >/dev/null
"$VENV/bin/ansible-galaxy" collection install -p "$FLEET/collections" "$FLEET"/wheelsfx-deploy-*.tar.gz >/dev/null

# timed LABEL SERIAL ARGS...: one playbook run (forks = fleet size, so a batch runs at once),
# printed as a table row; the log is shown when it fails.
timed() {
  local label=$1 serial=$2; shift 2
  local start end
  start=$(date +%s.%N)
  if ! "$VENV/bin/ansible-playbook" -i "$FLEET/inventory.yml" -f "$n" wheelsfx.deploy.deploy \
      -e "wheelsfx_artifact=$ARTIFACT" -e "{\"wheelsfx_serial\": $serial}" "$@" >"$FLEET/play.log" 2>&1; then
    tail -40 "$FLEET/play.log" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  awk -v n="$n" -v label="$label" -v serial="$serial" -v s="$start" -v e="$end" \
    'BEGIN { printf "| %s | %s | `%s` | %.1f |\n", n, label, serial, e - s }'
}

echo "| hosts | run | serial | seconds |"
echo "|---|---|---|---|"
for n in "${SIZES[@]}"; do
  rm -rf "$FLEET/hosts"
  {
    echo "fleet:"
    echo "  vars: {ansible_connection: community.general.chroot, ansible_python_interpreter: /usr/bin/python3,"
    echo "         wheelsfx_environment: {DJANGO_SETTINGS_MODULE: cms.settings}}"
    echo "  hosts:"
    for i in $(seq "$n"); do echo "    host$i: {ansible_host: $FLEET/hosts/host$i}"; done
  } >"$FLEET/inventory.yml"
  for i in $(seq "$n"); do
    mkdir -p "$FLEET/hosts/host$i" && tar -C "$FLEET/hosts/host$i" -xf "$TAR" &
  done
  wait
  timed "first deploy" '"100%"'
  timed "re-deploy, unchanged" '"100%"'
  timed "release 2 (same artifact, new release dir)" '[1, "50%"]' -e wheelsfx_release=2
done
