#!/usr/bin/env bash
# The benchmark artifact: the shared Wagtail corpus (60 wheels, 73 MB, CPython 3.11) packed by
# a release build of wheelsfx. Prints the artifact's path.   (bench/run.sh, bench/fleet.sh)
# bench/redeploy.py packs variants the same way: BENCH_APP (an app tree named cms),
# BENCH_WHEELHOUSE and BENCH_OUT replace the defaults; BENCH_PYTHON is the build interpreter.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/target/bench}
CORPUS=$(bash "$ROOT/../shared/bench/fetch-corpus.sh" | tail -1)
cargo build --release --locked -p wheelsfx --manifest-path "$ROOT/Cargo.toml" >&2
APP=${BENCH_APP:-$WORK/app/cms}
[ -n "${BENCH_APP:-}" ] || { mkdir -p "$APP" && : > "$APP/__init__.py"; }
OUT=${BENCH_OUT:-$WORK/cms.sfx}
"${CARGO_TARGET_DIR:-$ROOT/target}/release/wheelsfx" build --app "$APP" \
  --wheelhouse "${BENCH_WHEELHOUSE:-$CORPUS/wagtail}" --bootstrap-wheels "$CORPUS/bootstrap" \
  ${BENCH_PYTHON:+--python "$BENCH_PYTHON"} -o "$OUT" >/dev/null
echo "$OUT"
