#!/usr/bin/env bash
# Deploy benchmark: wheelsfx (native) vs python -m venv + pip vs uv (cold cache) vs unzip,
# on the shared 60-wheel Wagtail corpus, alternating runs, medians and peak RSS.
#   bench/run.sh [ROUNDS]         (default 5; results printed as a Markdown table)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-5}
WORK=${BENCH_WORK:-$ROOT/target/bench}
mkdir -p "$WORK"

CORPUS=$(bash "$ROOT/../shared/bench/fetch-corpus.sh" | tail -1)
PY=${BENCH_PYTHON:-$(command -v pyenv >/dev/null && echo "$(pyenv prefix 3.11 2>/dev/null || pyenv prefix 3.11.7)/bin/python3.11" || command -v python3.11)}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "the corpus is for CPython 3.11"'
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }

# uv from PyPI, in a venv of its own.
[ -x "$WORK/uvenv/bin/uv" ] || { "$PY" -m venv "$WORK/uvenv" && "$WORK/uvenv/bin/pip" install -q uv; }

ARTIFACT=$(BENCH_WORK=$WORK bash "$ROOT/bench/artifact.sh")

exec "$PY" "$ROOT/bench/bench.py" --rounds "$ROUNDS" --work "$WORK" --python "$PY" \
  --artifact "$ARTIFACT" --wheels "$CORPUS/wagtail" --uv "$WORK/uvenv/bin/uv" \
  --stub "${CARGO_TARGET_DIR:-$ROOT/target}/stub/x86_64-unknown-linux-musl/release/wheelsfx-stub"
