#!/usr/bin/env bash
# The side-by-side benchmark of issue 8: tokpack (Rust API, Python reader) against a bare
# Rust mmap of the raw .bin (the limit), np.memmap / RAM (nanoGPT), Megatron-Core's
# IndexedDataset, Hugging Face datasets, MosaicML streaming (MDS) and litdata.
#
#   bash tools/bench/compare.sh [--tokens N] [--reads N] [--quick] [--skip SYSTEM]...
#                               [--tokpack-variant "LABEL=PATH"]... [--steps a,b]
#
# Creates its own virtualenv (default target/bench-venv, with the system's site packages
# so an installed torch is reused), installs the libraries from PyPI, builds the tokpack
# binary and benches/compare.rs, generates the corpus (50 M tokens) and measures each
# system in fresh processes with a hot page cache. Data: $TOKPACK_COMPARE_DIR (default
# target/bench-compare). Results: tools/bench/results/compare.{json,md} (with --quick:
# in the data directory, so the committed record stays as it is).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

TOKENS=50000000
READS=20000
QUICK=0
EXTRA=()
COMMAND="bash tools/bench/compare.sh $*"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --tokens) TOKENS="$2"; shift 2 ;;
        --reads) READS="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --skip|--tokpack-variant|--steps|--big-tokens|--memory-batches|--quiet-wait|--quiet-wait-each)
            EXTRA+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

WORK="${TOKPACK_COMPARE_DIR:-$ROOT/target/bench-compare}"
VENV="${TOKPACK_BENCH_VENV:-$ROOT/target/bench-venv}"
OUT="$ROOT/tools/bench/results"
if [[ $QUICK == 1 ]]; then
    # Small enough to iterate on: 2 M tokens, 2,000 reads, a 1 GB file for open scaling.
    [[ " $COMMAND " == *" --tokens "* ]] || TOKENS=2000000
    [[ " $COMMAND " == *" --reads "* ]] || READS=2000
    [[ " $COMMAND " == *" --big-tokens "* ]] || EXTRA+=(--big-tokens 250000000)
    [[ " $COMMAND " == *" --memory-batches "* ]] || EXTRA+=(--memory-batches 100)
    WORK="${TOKPACK_COMPARE_DIR:-$ROOT/target/bench-compare-quick}"
    OUT="$WORK"
fi
mkdir -p "$WORK"

# 1. The virtualenv and the libraries. torch is pinned to the installed version so that
#    no library pulls a second copy; datasets is held below 5 because mosaicml-streaming
#    caps huggingface-hub below 0.37 and datasets 5 needs huggingface-hub 1.x. A package
#    that fails to install is recorded (the run goes on and marks that system failed).
INSTALL_LOG="$WORK/install.log"
: > "$INSTALL_LOG"
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "[compare] creating $VENV"
    python3 -m venv --system-site-packages "$VENV"
fi
PY="$VENV/bin/python"
CONSTRAINTS="$WORK/constraints.txt"
: > "$CONSTRAINTS"
TORCH_VERSION="$(python3 -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)"
[[ -n "$TORCH_VERSION" ]] && echo "torch==$TORCH_VERSION" >> "$CONSTRAINTS"
PACKAGES=(numpy zstandard "datasets<5" mosaicml-streaming litdata megatron-core)
echo "[compare] pip install ${PACKAGES[*]} (log: $INSTALL_LOG)"
if ! "$PY" -m pip install -q -c "$CONSTRAINTS" "${PACKAGES[@]}" >> "$INSTALL_LOG" 2>&1; then
    for p in "${PACKAGES[@]}"; do
        if ! "$PY" -m pip install -q -c "$CONSTRAINTS" "$p" >> "$INSTALL_LOG" 2>&1; then
            echo "FAILED $p: pip install failed (see install.log)" >> "$INSTALL_LOG"
            echo "[compare] could not install $p; its system will be marked failed"
        fi
    done
fi

# 2. The tokpack binary and the Rust half (benches/compare.rs).
echo "[compare] cargo build --release; cargo bench --bench compare --no-run"
cargo build --release --quiet
RUST_BENCH="$(cargo bench --bench compare --no-run --message-format=json 2>/dev/null \
    | "$PY" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "compare" and m.get("executable"):
        print(m["executable"])')"
[[ -x "$RUST_BENCH" ]] || { echo "compare.sh: benches/compare.rs did not build" >&2; exit 1; }

# 3. Measure.
exec "$PY" "$ROOT/tools/bench/compare/driver.py" \
    --work "$WORK" --tokens "$TOKENS" --reads "$READS" --out "$OUT" \
    --rust-bench "$RUST_BENCH" --tokpack-bin "$ROOT/target/release/tokpack" \
    --install-log "$INSTALL_LOG" --command "$COMMAND" "${EXTRA[@]}"
