#!/usr/bin/env bash
# Run the client tests: ./run.sh [file.test.mjs ...]
# The server command comes from $KERNIA_SERVER_CMD (default: the release example binary).
set -u
cd "$(dirname "$0")" || exit 1
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund || exit 1
fi
if [ $# -gt 0 ]; then
  node --test "$@"
else
  node --test ./*.test.mjs
fi
