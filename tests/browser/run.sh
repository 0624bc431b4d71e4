#!/usr/bin/env bash
# The demo page's browser test: build the page, make sure the dev server binary
# exists, then drive the page in headless Debian Chromium.
# ./run.sh [file.test.mjs ...]   ($KERNIA_SERVER_BIN overrides the server binary)
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd ../.. && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "tests/browser: /usr/bin/chromium is missing (apt-get install -y chromium)" >&2
  exit 1
fi

npm ci --no-audit --no-fund --loglevel=error
"$repo/web/build.sh"
if [ -z "${KERNIA_SERVER_BIN:-}" ] && [ ! -x "$repo/target/release/examples/server" ]; then
  (cd "$repo" && cargo build --release --example server --features postgres,redis)
fi

if [ $# -gt 0 ]; then
  node --test "$@"
else
  node --test ./*.test.mjs
fi
