# Sourced by bench/run.sh and bench/redeploy.sh: sets ROOT, WORK (BENCH_WORK, default
# target/bench), CORPUS (the shared corpus, fetched once), PY (CPython 3.11, the corpus's
# Python) and UV (uv from PyPI, in a venv of its own), and installs /usr/bin/time if missing.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${BENCH_WORK:-$ROOT/target/bench}
mkdir -p "$WORK"
CORPUS=$(bash "$ROOT/../shared/bench/fetch-corpus.sh" | tail -1)
PY=${BENCH_PYTHON:-$(command -v pyenv >/dev/null && echo "$(pyenv prefix 3.11 2>/dev/null || pyenv prefix 3.11.7)/bin/python3.11" || command -v python3.11)}
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "the corpus is for CPython 3.11"'
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
UV=$WORK/uvenv/bin/uv
[ -x "$UV" ] || { "$PY" -m venv "$WORK/uvenv" && "$WORK/uvenv/bin/pip" install -q uv; }
