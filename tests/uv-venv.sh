#!/usr/bin/env bash
# uv from PyPI, for the lock-file test (tests/e2e/lock.rs writes a pylock.toml with the real
# `uv export --format pylock.toml`), in a venv cached across runs. Prints the venv's path.
# (The test runs it; it needs PyPI the first time.)
set -euo pipefail
VERSION=0.13.9
VENV=${WHEELSFX_TEST_UV:-$HOME/.cache/wheelsfx-test/uv-$VERSION}
# The stamp, written last, says the venv is complete (an interrupted install is started over).
if [ ! -e "$VENV/.complete" ]; then
  rm -rf "$VENV"
  PY=/usr/bin/python3
  [ -x "$PY" ] || PY=$(command -v python3)
  "$PY" -m venv "$VENV" >&2
  # A machine's PIP_FIND_LINKS must not change what gets installed.
  env -u PIP_FIND_LINKS "$VENV/bin/pip" install -q --disable-pip-version-check "uv==$VERSION" >&2
  touch "$VENV/.complete"
fi
echo "$VENV"
