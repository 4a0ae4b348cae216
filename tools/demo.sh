#!/usr/bin/env bash
# The main job on data that ships in the repo: build datasets from real text (the Python
# language reference's pydoc topics and conversations about them, PSF licence) with the
# cl100k_base tokenizer, each document tagged with its source; pack rows of 512 tokens with
# best-fit decreasing; draw a 70/30 mixture of the two sources as a plan; keep a
# zstd-compressed copy; print what is in them, verify everything, and print one training row
# decoded back to text.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
out="${1:-target/demo}"
mkdir -p "$out"
bin=target/release/tokpack
"$bin" build tools/data/pydoc_topics.jsonl -o "$out/pydoc.tpk" --tokenizer cl100k_base \
    --source pydoc_topics
"$bin" build tools/data/pydoc_chat.jsonl -o "$out/chat.tpk" --tokenizer cl100k_base \
    --loss-policy assistant_only    # each line carries "source": "pydoc_chat"
"$bin" pack "$out/pydoc.tpk" --seq-len 512 --strategy bfd -o "$out/pydoc.bfd512.tpk"
"$bin" manifest "$out/pydoc.tpk" "$out/chat.tpk" -o "$out/all.manifest.json"
"$bin" mix "$out/all.manifest.json" --weights pydoc_topics=0.7,pydoc_chat=0.3 --tokens 1e6 \
    --seq-len 512 --seed 0 -o "$out/mix.tpk"
"$bin" compress "$out/pydoc.tpk" -o "$out/pydoc.zst.tpk"
"$bin" info "$out/all.manifest.json"
"$bin" info "$out/pydoc.tpk"
for f in pydoc.tpk chat.tpk pydoc.zst.tpk; do "$bin" verify "$out/$f"; done
"$bin" verify "$out/pydoc.bfd512.tpk" --dataset "$out/pydoc.tpk"
"$bin" verify "$out/mix.tpk" --dataset "$out/all.manifest.json"
"$bin" row "$out/pydoc.zst.tpk" --seq-len 512 --plan "$out/pydoc.bfd512.tpk" --index 0 --decode | sed -n '/^text:/,$p' | head -20
