#!/usr/bin/env bash
# Build the demo page into web/dist/ (served by the dev server at `/`).
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
rm -rf dist
mkdir -p dist
npx --no-install esbuild src/demo.js --bundle --format=esm --target=es2020 --minify \
  --legal-comments=none --log-level=warning --outfile=dist/demo.js
cp src/index.html src/demo.css dist/
echo "demo page built into web/dist/"
