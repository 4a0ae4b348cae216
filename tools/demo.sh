#!/usr/bin/env bash
# The main job on data that ships in the repo: build a dataset from real text (the Python
# language reference's pydoc topics, PSF licence) with the cl100k_base tokenizer, pack it into
# rows of 512 tokens with best-fit decreasing, print what is in it, verify it, and print one
# training row decoded back to text.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out="${1:-target/demo}"
mkdir -p "$out"
bin=target/release/tokpack
"$bin" build tools/data/pydoc_topics.jsonl -o "$out/pydoc.tpk" --tokenizer cl100k_base \
    --meta source=pydoc_topics
"$bin" pack "$out/pydoc.tpk" --seq-len 512 --strategy bfd -o "$out/pydoc.bfd512.tpk"
"$bin" info "$out/pydoc.tpk"
"$bin" verify "$out/pydoc.tpk"
"$bin" verify "$out/pydoc.bfd512.tpk" --dataset "$out/pydoc.tpk"
"$bin" row "$out/pydoc.tpk" --seq-len 512 --plan "$out/pydoc.bfd512.tpk" --index 0 --decode | sed -n '/^text:/,$p' | head -20
