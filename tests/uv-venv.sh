#!/usr/bin/env bash
# uv, for the lock-file test (tests/e2e/lock.rs writes a pylock.toml with the real
# `uv export --format pylock.toml`). Prints the venv's path.
exec bash "$(dirname "$0")/tool-venv.sh" uv 0.13.9
