#!/usr/bin/env bash
# Kernia's whole test run: lints, the Rust tests, docs, benches (build only),
# the official-client tests against the dev server, and, when the shared
# conformance suite sits beside this repository, that suite too.
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
cargo build --release --example server
step "official client tests"
tests/client/run.sh
conformance="../shared/conformance/run.sh"
if [ -x "$conformance" ]; then
  step "conformance suite"
  "$conformance" --server "exec $PWD/target/release/examples/server"
else
  echo "(no ../shared/conformance beside this repository: conformance suite not run)"
fi
