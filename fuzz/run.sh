#!/usr/bin/env bash
# Fuzz the payload/manifest/RECORD readers:   fuzz/run.sh [SECONDS]   (default 60)
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
python3 fuzz/make-seeds.py
RUSTC_BOOTSTRAP=1 cargo fuzz run payload --fuzz-dir fuzz -- \
  -max_total_time="${1:-60}" -max_len=65536 -print_final_stats=1
