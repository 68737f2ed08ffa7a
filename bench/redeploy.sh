#!/usr/bin/env bash
# Re-deploy benchmark (issue 10): a fresh deploy with and without bytecode, a new release after
# one changed app file or one changed wheel (linked from the previous release, and with
# --no-link when the stub has it), and uv with a warm cache; alternating runs, medians, peak
# RSS, ratios and artifact sizes, printed as Markdown. Driven by bench/redeploy.py.
#   bench/redeploy.sh [ROUNDS]    (default 5)
set -euo pipefail
source "$(dirname "$0")/env.sh"
exec "$PY" "$ROOT/bench/redeploy.py" --rounds "${1:-5}" --root "$ROOT" --work "$WORK" \
  --python "$PY" --wheels "$CORPUS/wagtail" --uv "$UV"
