#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 20), seeded with the golden vectors
# and the recorded regressions. cargo-fuzz works on the stable toolchain with RUSTC_BOOTSTRAP=1.
# Usage: bash tools/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-20}"
command -v cargo-fuzz >/dev/null || cargo install --quiet --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
run() {
    local target="$1"; shift
    mkdir -p "corpus/$target"
    cargo fuzz run "$target" -O "corpus/$target" "$@" -- -max_total_time="$secs" -rss_limit_mb=4096 \
        -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|Done|SUMMARY|panicked" || true
    # A crash leaves an artifact and a non-zero status: fail loudly.
    if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
        echo "fuzz: $target crashed; see fuzz/artifacts/$target" >&2
        exit 1
    fi
}
run open_dataset ../spec/vectors/valid ../spec/vectors/invalid ../tests/fuzz_regressions
run open_plan_overlay ../spec/vectors/plans ../spec/vectors/plans_invalid ../spec/vectors/overlays ../spec/vectors/overlays_invalid
run jsonl_input seeds/jsonl
