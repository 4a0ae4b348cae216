#!/usr/bin/env bash
# The main job on the data that ships in the repo: build a dataset from the pre-tokenized
# sample, print what is in it, verify it, and read one document back.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out="${1:-target/sample.tpk}"
bin=target/release/tokpack
"$bin" build tools/data/sample.jsonl -o "$out" --vocab-size 257 --tokenizer bytes --eos-id 256 \
    --meta source=spec/FORMAT.md
"$bin" info "$out"
"$bin" verify "$out"
"$bin" get "$out" --doc 1 | head -c 600
echo
