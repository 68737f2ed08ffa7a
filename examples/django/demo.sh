#!/usr/bin/env bash
# Quickstart: build the example Django site's artifact as CI would, deploy it as a server would
# (release 1, its hooks, `current`), serve it with gunicorn from `current` and show it answering.
#   examples/django/demo.sh [WORK]   everything goes into WORK (default: a new temporary directory)
#   WHEELSFX=PATH                     use this wheelsfx instead of installing one with cargo
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-$(mktemp -d)}
mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd)
ROOT=$WORK/srv/mysite                      # /srv/mysite on a server

if [ -z "${WHEELSFX:-}" ]; then
  rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
    || rustup target add x86_64-unknown-linux-musl
  echo "== cargo install --path packer (one binary: wheelsfx, the static stub inside)"
  cargo install --quiet --locked --path packer --root "$WORK/tools"
  WHEELSFX=$WORK/tools/bin/wheelsfx
fi

echo "== wheelsfx build (CI; what to pack and the hooks: examples/django/pyproject.toml)"
"$WHEELSFX" build --config examples/django/pyproject.toml -o "$WORK/mysite.sfx"

echo "== the server: releases/, and shared/environment.json with the settings (never in the artifact)"
mkdir -p "$ROOT/releases" "$ROOT/shared"
(umask 077 && python3 -c 'import json, secrets; print(json.dumps({
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}))' \
  > "$ROOT/shared/environment.json")

echo "== ./mysite.sfx -d releases/1 --activate current (hooks: collectstatic, migrate)"
"$WORK/mysite.sfx" -d "$ROOT/releases/1" --activate "$ROOT/current"

echo "== gunicorn from current, as deploy/mysite.service starts it (on a free port)"
# --no-control-socket: gunicorn would otherwise open one in $HOME (the unit puts it in /run).
: > "$WORK/gunicorn.log"                    # there before the loop below reads it
(cd "$ROOT/current" && exec venv/bin/gunicorn --bind 127.0.0.1:0 --no-control-socket mysite.wsgi) \
  2> "$WORK/gunicorn.log" &
gunicorn=$!
trap 'kill $gunicorn 2>/dev/null' EXIT
until url=$(sed -n 's/.*Listening at: \(http[^ ]*\).*/\1/p' "$WORK/gunicorn.log") && [ -n "$url" ]; do
  kill -0 $gunicorn 2>/dev/null || { cat "$WORK/gunicorn.log"; exit 1; }
  sleep 0.2
done

echo "== GET $url/ (the notes come from the database the migrate hook filled)"
page=$(curl -fsS "$url/")
echo "$page"
css=$(echo "$page" | sed -n 's/.*href="\([^"]*\.css\)".*/\1/p')
echo "== GET $url$css (collected by the collectstatic hook from static.in/0, served by WhiteNoise)"
curl -fsS "$url$css"

kill $gunicorn && wait $gunicorn || true
trap - EXIT
cat <<EOF
== done; gunicorn stopped
artifact      $WORK/mysite.sfx
release 1     $ROOT/releases/1   (hooks' output: .wheelsfx/receipt.json)
current    -> $(readlink "$ROOT/current")
shared        $ROOT/shared   (environment.json, db.sqlite3)
next release  build again, ./mysite.sfx -d $ROOT/releases/2 --activate $ROOT/current,
              then restart gunicorn, not HUP (examples/django/deploy/mysite.service says why)
rollback      $ROOT/current/.wheelsfx/wheelsfx --rollback $ROOT/current   (to the release before)
EOF
