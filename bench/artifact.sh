#!/usr/bin/env bash
# The benchmark artifact: the shared Wagtail corpus (60 wheels, 73 MB, CPython 3.11) packed by
# a release build of wheelsfx. Prints the artifact's path.   (bench/run.sh, bench/fleet.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/target/bench}
CORPUS=$(bash "$ROOT/../shared/bench/fetch-corpus.sh" | tail -1)
cargo build --release --locked -p wheelsfx --manifest-path "$ROOT/Cargo.toml" >&2
mkdir -p "$WORK/app/cms" && : > "$WORK/app/cms/__init__.py"
"${CARGO_TARGET_DIR:-$ROOT/target}/release/wheelsfx" build --app "$WORK/app/cms" --wheelhouse "$CORPUS/wagtail" \
  --bootstrap-wheels "$CORPUS/bootstrap" -o "$WORK/cms.sfx" >/dev/null
echo "$WORK/cms.sfx"
