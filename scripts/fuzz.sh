#!/usr/bin/env bash
# Coverage-guided fuzzing of Kernia through its public layer (cargo-fuzz/libFuzzer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (default: http_request session_cookie) for SECONDS
# (default 60) on one core, starting from fuzz/seeds/TARGET plus the local
# corpus fuzz/corpus/TARGET (kept between runs, git-ignored), with
# fuzz/TARGET.dict when there is one, and prints the executions, speed and
# coverage (the full log is fuzz/logs/TARGET.log). A crash leaves its input
# in fuzz/artifacts/TARGET/ and makes the script fail: minimise it with
# `cargo fuzz tmin TARGET FILE` (in fuzz/), copy it to
# fuzz/regressions/TARGET/ and add a test to tests/hostile_regressions.rs.
#
# Works on stable Rust. FUZZ_SANITIZER picks the sanitizer: `none` (the
# default; the crate has no unsafe code) needs only `-C` flags; `address`
# needs `-Zsanitizer`, which RUSTC_BOOTSTRAP=1 (set here) allows on stable,
# and runs about three times slower.
set -euo pipefail

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(http_request session_cookie)
fi
sanitizer="${FUZZ_SANITIZER:-none}"

cd "$(dirname "$0")/../fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target" logs
    cargo fuzz build --release --debug-assertions --sanitizer "$sanitizer" "$target"
    log="logs/$target.log"
    dict=()
    if [ -f "$target.dict" ]; then
        dict=(-dict="$target.dict")
    fi
    echo "fuzzing $target for ${seconds}s (log: fuzz/$log)"
    set +e
    cargo fuzz run --release --debug-assertions --sanitizer "$sanitizer" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 "${dict[@]}" >"$log" 2>&1
    code=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1 || true)
    took=$(grep -oE '^Done [0-9]+ runs in [0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    echo "$target: ${runs:-?} executions in ${took:-?}s (${speed:-?} exec/s); ${coverage:-no coverage line}"
    if [ "$code" -ne 0 ]; then
        echo "$target: libFuzzer exited with $code; the last lines of the log:"
        tail -n 40 "$log"
        ls -1 "artifacts/$target"
        status=1
    fi
done
exit "$status"
