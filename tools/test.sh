#!/usr/bin/env bash
# Every test: the Rust crate (unit, integration, proptest, golden vectors, CLI, doc tests)
# and the Python reader (golden vectors, agreement with the Rust CLI, corruption).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import numpy, pytest, zstandard" 2>/dev/null || python3 -m pip install --quiet numpy pytest zstandard
# PyTorch for the trainer-integration tests (CPU is enough; PyPI's wheel is large, ~1 min).
python3 -c "import torch" 2>/dev/null || python3 -m pip install --quiet torch
cargo test --release
cargo build --release --quiet
TOKPACK_BIN="$PWD/target/release/tokpack" python3 -m pytest -q tools/python/tests
