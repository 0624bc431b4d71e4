#!/usr/bin/env bash
# Kernia's whole test run: lints, the Rust tests (the store tests need the
# PostgreSQL and Redis servers at 127.0.0.1:5432 and :6379, and fail without
# them), docs, benches (build only), the official-client tests against the dev
# server, the demo page in headless Chromium (/usr/bin/chromium), and, when
# the shared conformance suite sits beside this repository, that suite on the
# default SQLite store and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --all-targets --all-features -- -D warnings
cargo clippy --lib --no-default-features -- -D warnings
step "tests"
cargo test --all-features
step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features
step "benches build"
cargo bench --no-run
step "dev server"
cargo build --release --example server --features postgres,redis
server="$PWD/target/release/examples/server"
step "official client tests"
tests/client/run.sh
step "browser test (demo page in headless Chromium)"
tests/browser/run.sh
conformance="../shared/conformance/run.sh"
if [ -x "$conformance" ]; then
  scratch=$(mktemp -d)
  database="kernia_conformance_$$"
  trap 'rm -rf "$scratch"; dropdb -h 127.0.0.1 -U postgres --if-exists "$database" 2>/dev/null || true' EXIT
  step "conformance suite, default store (SQLite in a scratch directory)"
  "$conformance" --server "cd '$scratch' && exec '$server'"
  step "conformance suite, PostgreSQL"
  createdb -h 127.0.0.1 -U postgres "$database"
  "$conformance" --server "exec '$server'" --pass default --pass variant \
    --env "KERNIA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$database"
else
  echo "(no ../shared/conformance beside this repository: conformance suite not run)"
fi
