#!/usr/bin/env bash
# Builds a project's artifact inside a container of the servers' Debian release
# (docker/Dockerfile), so pip picks (and compiles) wheels for the servers' Python and glibc,
# and writes it to the host, owned by the caller.
#
#   docker/build.sh [--base IMAGE] [--rebuild] PROJECT [-- BUILD OPTIONS...]
#
# PROJECT      the directory `wheelsfx build` runs in (its pyproject.toml [tool.wheelsfx] is
#              read); mounted read-only, so relative paths in BUILD OPTIONS are relative to it
# -o FILE      (a build option) the artifact, relative to the current directory; its directory
#              is mounted read-write [default: ./PROJECT-NAME.sfx]
# --base IMAGE the base image, a Debian of the servers' release [default: debian:bookworm];
#              with no registry: `tar -C ROOT -c . | docker import - local/bookworm`
# --rebuild    build the image again (it is built once per base image, when missing)
#
# Environment: WHEELSFX_BASE_IMAGE (as --base), WHEELSFX_IMAGE (the image's tag),
# WHEELSFX_STATIC (the static packer to use instead of building one with cargo),
# WHEELSFX_EXTRA_PACKAGES (Debian packages added to the image, e.g. "build-essential
# python3-dev"; --rebuild after changing it), WHEELSFX_DOCKER_ARGS (more `docker run`
# arguments, e.g. "-v /keys:/keys:ro"), WHEELSFX_DOCKER_CACHE (pip's and wheelsfx's cache,
# kept between builds), DOCKER (the CLI).
# Passed through: the host's CA bundle (PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE or
# /etc/ssl/certs/ca-certificates.crt), pip's configuration files and PIP_* variables (with
# the files and folders they name), proxy variables; the container uses the host's network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "docker/build.sh: $*" >&2; exit 1; }
usage_error() { echo "docker/build.sh: $*" >&2; exit 2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

base=${WHEELSFX_BASE_IMAGE:-debian:bookworm}
rebuild=
project=
while [ $# -gt 0 ]; do
  case $1 in
    --base) [ $# -ge 2 ] || usage_error "--base needs an image name"; base=$2; shift 2 ;;
    --base=*) base=${1#*=}; shift ;;
    --rebuild) rebuild=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage_error "unknown option $1 (build options go after --; see docker/build.sh --help)" ;;
    *) [ -z "$project" ] || usage_error "one PROJECT only (build options go after --)"; project=$1; shift ;;
  esac
done
[ -n "$project" ] || usage_error "no PROJECT given (docker/build.sh PROJECT [-- build options])"
[ -d "$project" ] || die "the project directory $project does not exist"
project=$(cd "$project" && pwd)
docker=${DOCKER:-docker}
command -v "$docker" >/dev/null || die "docker is not installed (apt-get install docker.io), or set DOCKER"
"$docker" info >/dev/null 2>&1 \
  || die "cannot reach the docker daemon (is dockerd running, and may this user use it? see DOCKER_HOST)"

# The build options, with the artifact's path moved to /out, the host directory mounted there.
opts=()
output=
while [ $# -gt 0 ]; do
  case $1 in
    -o | --output) [ $# -ge 2 ] || usage_error "$1 needs a file"; output=$2; shift 2 ;;
    --output=*) output=${1#*=}; shift ;;
    -o?*) output=${1#-o}; shift ;;
    *) opts+=("$1"); shift ;;
  esac
done
output=${output:-$(basename "$project").sfx}
mkdir -p "$(dirname "$output")"
outdir=$(cd "$(dirname "$output")" && pwd)
output=$outdir/$(basename "$output")
opts+=(-o "/out/$(basename "$output")")

# The packer: static (musl), so it runs in any base image.
static_packer() {
  if [ -n "${WHEELSFX_STATIC:-}" ]; then
    [ -f "$WHEELSFX_STATIC" ] || die "WHEELSFX_STATIC=$WHEELSFX_STATIC does not exist"
    echo "$WHEELSFX_STATIC"
    return
  fi
  local repo target=x86_64-unknown-linux-musl
  repo=$(cd "$here/.." && pwd)
  command -v cargo >/dev/null \
    || die "no static wheelsfx: set WHEELSFX_STATIC=PATH (one built with --target $target), or install cargo"
  if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target" >&2
  fi
  echo "== cargo build --release --target $target -p wheelsfx (the static packer)" >&2
  (cd "$repo" && cargo build --quiet --release --locked --target "$target" -p wheelsfx >&2) \
    || die "building the static packer failed (rustup target add $target?); or set WHEELSFX_STATIC=PATH"
  local dir=${CARGO_TARGET_DIR:-target}
  case $dir in /*) ;; *) dir=$repo/$dir ;; esac
  echo "$dir/$target/release/wheelsfx"
}
packer=$(static_packer)
packer=$(cd "$(dirname "$packer")" && pwd)/$(basename "$packer") # docker mounts absolute paths only
if command -v readelf >/dev/null && readelf -l "$packer" | grep -q INTERP; then
  die "$packer is dynamically linked; the image needs the static one (--target x86_64-unknown-linux-musl)"
fi

# One image per base image; the current packer is mounted over the image's copy, so a new
# packer does not need a new image.
tag=${WHEELSFX_IMAGE:-wheelsfx-build:$(echo "$base" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9._\n-' '-')}
if [ -n "$rebuild" ] || ! "$docker" image inspect "$tag" >/dev/null 2>&1; then
  echo "== docker build $tag (FROM $base)" >&2
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp "$here/Dockerfile" "$ctx/"
  cp "$packer" "$ctx/wheelsfx"
  "$docker" build --network host --build-arg "BASE_IMAGE=$base" \
    --build-arg "EXTRA_PACKAGES=${WHEELSFX_EXTRA_PACKAGES:-}" -t "$tag" "$ctx" >&2 \
    || die "building the image $tag from $base failed; see docker's output above"
fi

# What the host's pip would use: files and folders named by pip's settings are mounted
# read-only at the same path (deduplicated: docker refuses a mount point given twice).
run=()
mounted=" "
mount_ro() { # HOST-PATH [CONTAINER-PATH]
  local to=${2:-$1}
  case $mounted in *" $to "*) return ;; esac
  mounted="$mounted$to "
  run+=(--mount "type=bind,source=$1,target=$to,readonly")
}
mount_named_paths() { # the absolute paths among the words of a setting
  local word
  for word in $1; do
    if [[ $word == /* && -e $word ]]; then mount_ro "$word"; fi
  done
}
ca=
for f in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  [ -n "$f" ] && [ -f "$f" ] && { ca=$f; break; }
done
if [ -n "$ca" ]; then
  bundle=/etc/ssl/certs/ca-certificates.crt
  mount_ro "$ca" "$bundle"
  run+=(-e "PIP_CERT=$bundle" -e "REQUESTS_CA_BUNDLE=$bundle" -e "SSL_CERT_FILE=$bundle")
fi
home=/home/build
conf=("/etc/pip.conf:/etc/pip.conf" "/etc/xdg/pip/pip.conf:/etc/xdg/pip/pip.conf"
  "${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf:$home/.config/pip/pip.conf"
  "$HOME/.pip/pip.conf:$home/.pip/pip.conf")
[ -n "${PIP_CONFIG_FILE:-}" ] && conf+=("$PIP_CONFIG_FILE:$PIP_CONFIG_FILE")
for pair in "${conf[@]}"; do
  from=${pair%%:*}
  [ -f "$from" ] || continue
  mount_ro "$from" "${pair#*:}"
  mount_named_paths "$(sed -n 's/^[^#;]*=[[:space:]]*//p' "$from")"
done
for var in $(compgen -e); do
  case $var in
    PIP_CERT) ;;
    PIP_* | WHEELSFX_BUILD_ID | SOURCE_DATE_EPOCH | [Hh][Tt][Tt][Pp]_[Pp][Rr][Oo][Xx][Yy] \
      | [Hh][Tt][Tt][Pp][Ss]_[Pp][Rr][Oo][Xx][Yy] | [Nn][Oo]_[Pp][Rr][Oo][Xx][Yy] | [Aa][Ll][Ll]_[Pp][Rr][Oo][Xx][Yy])
      run+=(-e "$var")
      case $var in PIP_*) mount_named_paths "${!var}" ;; esac ;;
  esac
done
[ -t 1 ] && run+=(-t)

# pip's and wheelsfx's caches (wheels built for this image, the bootstrap wheels) outlive the
# container; HOME is a scratch directory anyone may write.
cache=${WHEELSFX_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wheelsfx/docker/${tag//[:\/]/-}}
mkdir -p "$cache"
echo "== wheelsfx build in $tag (project $project, read-only)" >&2
# shellcheck disable=SC2086 # WHEELSFX_DOCKER_ARGS is a list of words
"$docker" run --rm --network host --user "$(id -u):$(id -g)" \
  --mount "type=tmpfs,destination=$home,tmpfs-mode=1777" -e "HOME=$home" \
  --mount "type=bind,source=$cache,target=/cache" -e XDG_CACHE_HOME=/cache \
  --mount "type=bind,source=$packer,target=/usr/local/bin/wheelsfx,readonly" \
  --mount "type=bind,source=$project,target=/project,readonly" -w /project \
  --mount "type=bind,source=$outdir,target=/out" \
  "${run[@]}" ${WHEELSFX_DOCKER_ARGS:-} \
  "$tag" build "${opts[@]}" \
  || die "wheelsfx build failed in the container; see its output above"
echo "artifact: $output"
