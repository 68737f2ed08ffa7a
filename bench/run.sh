#!/usr/bin/env bash
# Deploy benchmark: wheelsfx (native) vs python -m venv + pip vs uv (cold cache) vs unzip,
# on the shared 60-wheel Wagtail corpus, alternating runs, medians and peak RSS.
#   bench/run.sh [ROUNDS]         (default 5; results printed as a Markdown table)
set -euo pipefail
source "$(dirname "$0")/env.sh"
ROUNDS=${1:-5}

ARTIFACT=$(BENCH_WORK=$WORK bash "$ROOT/bench/artifact.sh")

exec "$PY" "$ROOT/bench/bench.py" --rounds "$ROUNDS" --work "$WORK" --python "$PY" \
  --artifact "$ARTIFACT" --wheels "$CORPUS/wagtail" --uv "$UV" \
  --stub "${CARGO_TARGET_DIR:-$ROOT/target}/stub/x86_64-unknown-linux-musl/release/wheelsfx-stub"
