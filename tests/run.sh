#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need, then runs every test.
#   tests/run.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The stub is built for musl and embedded in the packer.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi

# Tests write their own wheels, but the pip installer needs real pip and setuptools wheels.
# These versions install on every CPython from 3.8 to 3.13.
BOOT=${WHEELSFX_TEST_BOOTSTRAP:-$HOME/.cache/wheelsfx-test/bootstrap}
if ! ls "$BOOT"/pip-*.whl "$BOOT"/setuptools-*.whl >/dev/null 2>&1; then
  python3 -m pip download -q --disable-pip-version-check --only-binary=:all: --no-deps \
    -d "$BOOT" pip==24.3.1 setuptools==75.3.0
fi
export WHEELSFX_TEST_BOOTSTRAP=$BOOT

cargo test --workspace --locked "$@"
