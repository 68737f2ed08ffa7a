#!/usr/bin/env bash
# Quickstart: build the example site's artifact the way CI would, deploy it the way a server
# would, and show it working.   Usage: examples/hello/demo.sh [DEST]
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d)
DEST=${1:-$WORK/srv/hello/releases/1}

rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
  || rustup target add x86_64-unknown-linux-musl
echo "== cargo install --path packer (one binary: wheelsfx, the static stub inside)"
cargo install --quiet --locked --path packer --root "$WORK/tools"
WHEELSFX=$WORK/tools/bin/wheelsfx

echo "== wheelsfx build (CI)"
"$WHEELSFX" build --app examples/hello/hello --requirements examples/hello/requirements.txt \
  --extra-static examples/hello/fonts -o "$WORK/hello.sfx"
unzip -tq "$WORK/hello.sfx"

echo "== ./hello.sfx -d $DEST (the server)"
"$WORK/hello.sfx" -d "$DEST"
echo '{"GREETING": "hi"}' > "$DEST/environment.json"
echo "== import hello, environment.json loaded:"
"$DEST/venv/bin/python" -c 'import hello, os; print(os.environ["GREETING"])'
echo "== a console script from a wheel:"
"$DEST/venv/bin/flask" --app hello --version
echo "== the site answers:"
"$DEST/venv/bin/python" -c 'import hello; print(hello.app.test_client().get("/").get_data(as_text=True), end="")'
ln -sfn "$DEST" "$(dirname "$(dirname "$DEST")")/current" 2>/dev/null || true
echo "deployed to $DEST (artifact: $WORK/hello.sfx)"
