#!/usr/bin/env bash
# The Ansible that the fleet test (tests/e2e/ansible.rs) and bench/fleet.sh drive: the full
# `ansible` package from PyPI (ansible-core alone lacks community.general, whose `chroot`
# connection turns a debootstrap root into a host), in a venv cached across runs.
# Prints the venv's path.   (.ci/run runs it; so does the test when the venv is missing.)
set -euo pipefail
VERSION=12.3.0
VENV=${WHEELSFX_TEST_ANSIBLE:-$HOME/.cache/wheelsfx-test/ansible-$VERSION}
# A venv's scripts hold its path, so it is built in place; the stamp, written last, says it is
# complete (an interrupted install is started over).
if [ ! -e "$VENV/.complete" ]; then
  rm -rf "$VENV"
  # Debian's python3 rather than a pyenv shim: ansible 12 needs 3.11+, and the venv should not
  # depend on which pyenv version is selected.
  PY=/usr/bin/python3
  [ -x "$PY" ] || PY=$(command -v python3)
  "$PY" -m venv "$VENV" >&2
  # A machine's PIP_FIND_LINKS (set on dev machines here) must not change what gets installed.
  env -u PIP_FIND_LINKS "$VENV/bin/pip" install -q --disable-pip-version-check "ansible==$VERSION" >&2
  touch "$VENV/.complete"
fi
echo "$VENV"
