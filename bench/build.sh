#!/usr/bin/env bash
# The packer's own speed: `wheelsfx build --wheelhouse` of the shared Wagtail corpus against
# `cat` of the same wheels into one file, in the same run, page cache warm for both.
# Prints each side's times, their medians and the ratio (issue 9's goal: at most 1.5).
#
#   bench/build.sh [ROUNDS]     ROUNDS defaults to 5
#   PACKER=path/to/wheelsfx bench/build.sh    times that binary instead of building one (A/B)
#   CHECK_CACHE=cold bench/build.sh   the check cache emptied before every build: every wheel
#                                     checked in full against its RECORD, then recorded
#   CHECK_CACHE=warm (default)        the cache kept: the wheels' RECORD checks come from it
#   CHECK_CACHE=off                   --no-check-cache (an older packer: leave CHECK_CACHE unset)
# The builds use their own cache, $WORK/cache (XDG_CACHE_HOME), never the user's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-5}
WORK=${BENCH_WORK:-$ROOT/target/bench}
CORPUS=$(bash "$ROOT/../shared/bench/fetch-corpus.sh" | tail -1)
if [ -z "${PACKER:-}" ]; then
  cargo build --release --locked -p wheelsfx --manifest-path "$ROOT/Cargo.toml" >&2
  PACKER="${CARGO_TARGET_DIR:-$ROOT/target}/release/wheelsfx"
fi
mkdir -p "$WORK/app/cms" && : > "$WORK/app/cms/__init__.py"
export XDG_CACHE_HOME="$WORK/cache"
FLAGS=()
case "${CHECK_CACHE:-warm}" in
  cold) ;;
  warm) ;;
  off) FLAGS=(--no-check-cache) ;;
  *) echo "CHECK_CACHE is cold, warm or off" >&2; exit 2 ;;
esac
pack() {
  if [ "${CHECK_CACHE:-warm}" = cold ]; then rm -rf "$XDG_CACHE_HOME/wheelsfx/checked"; fi
  "$PACKER" build "${FLAGS[@]}" --app "$WORK/app/cms" --wheelhouse "$CORPUS/wagtail" \
    --bootstrap-wheels "$CORPUS/bootstrap" -o "$WORK/cms.sfx" >/dev/null 2>&1
}
copy() { cat "$CORPUS"/wagtail/*.whl "$CORPUS"/bootstrap/*.whl > "$WORK/one-file"; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
copy; pack   # warm the page cache for both
P=(); C=()
for _ in $(seq "$ROUNDS"); do
  C+=("$(seconds copy)")
  P+=("$(seconds pack)")
done
cm=$(printf '%s\n' "${C[@]}" | median)
pm=$(printf '%s\n' "${P[@]}" | median)
printf 'cat    %s\n' "${C[*]}"
printf 'packer %s\n' "${P[*]}"
printf 'median: cat %.3f s, packer %.3f s, ratio %.2f (%s rounds, %s cores, check cache %s)\n' \
  "$cm" "$pm" "$(echo "$pm / $cm" | bc -l)" "$ROUNDS" "$(nproc)" "${CHECK_CACHE:-warm}"
