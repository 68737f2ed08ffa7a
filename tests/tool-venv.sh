#!/usr/bin/env bash
# A Python tool from PyPI (PACKAGE==VERSION) in a venv cached across runs, for the tests that
# drive real third-party tools; prints the venv's path. Needs PyPI the first time.
#   tests/tool-venv.sh PACKAGE VERSION
set -euo pipefail
PACKAGE=$1 VERSION=$2
VENV=$HOME/.cache/wheelsfx-test/$PACKAGE-$VERSION
# A venv's scripts hold its path, so it is built in place; the stamp, written last, says it is
# complete (an interrupted install is started over).
if [ ! -e "$VENV/.complete" ]; then
  rm -rf "$VENV"
  # Debian's python3 rather than a pyenv shim: the venv should not depend on which pyenv
  # version is selected (ansible 12 needs 3.11+).
  PY=/usr/bin/python3
  [ -x "$PY" ] || PY=$(command -v python3)
  "$PY" -m venv "$VENV" >&2
  # A machine's PIP_FIND_LINKS (set on dev machines here) must not change what gets installed.
  env -u PIP_FIND_LINKS "$VENV/bin/pip" install -q --disable-pip-version-check "$PACKAGE==$VERSION" >&2
  touch "$VENV/.complete"
fi
echo "$VENV"
