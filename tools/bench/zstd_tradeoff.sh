#!/usr/bin/env bash
# The compressed-tokens trade-off table of the README: the shipped sample and a larger real
# corpus (Python's standard library, rebuilt on the spot), each tokenized with r50k_base
# (u16 ids) and cl100k_base (u32 ids), then compressed at several zstd levels and block
# sizes. Usage: bash tools/bench/zstd_tradeoff.sh [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${1:-target/zstd-bench}"
mkdir -p "$work"
cargo build --release --quiet
tp=target/release/tokpack
python3 tools/bench/make_stdlib_corpus.py "$work/stdlib.jsonl"
files=()
for input in tools/data/pydoc_topics.jsonl "$work/stdlib.jsonl"; do
    stem=$(basename "$input" .jsonl)
    for enc in r50k_base cl100k_base; do
        out="$work/${stem}_${enc}.tpk"
        "$tp" build "$input" --tokenizer "$enc" -o "$out" --no-sync
        files+=("$out")
    done
done
TOKPACK_ZSTD_FILES=$(IFS=:; echo "${files[*]}") cargo bench --bench zstd
