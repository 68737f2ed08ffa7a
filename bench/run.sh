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

cargo build --release --locked -p wheelsfx --manifest-path "$ROOT/Cargo.toml"
mkdir -p "$WORK/app/cms" && : > "$WORK/app/cms/__init__.py"
"$ROOT/target/release/wheelsfx" build --app "$WORK/app/cms" --wheelhouse "$CORPUS/wagtail" \
  --bootstrap-wheels "$CORPUS/bootstrap" -o "$WORK/cms.sfx" >/dev/null

exec "$PY" "$ROOT/bench/bench.py" --rounds "$ROUNDS" --work "$WORK" --python "$PY" \
  --artifact "$WORK/cms.sfx" --wheels "$CORPUS/wagtail" --uv "$WORK/uvenv/bin/uv" \
  --stub "$ROOT/target/stub/x86_64-unknown-linux-musl/release/wheelsfx-stub"
