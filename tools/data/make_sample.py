"""Makes sample.jsonl, the small pre-tokenized dataset that ships with tokpack.

Text: the sections of tokpack's own spec/FORMAT.md (our text, same licence as the repo).
Tokens: byte-level, each UTF-8 byte is its own id (0..255) and 256 is end-of-document, so
the vocabulary size is 257 and tokpack stores the ids as u16.
Loss mask: like a chat fine-tuning set, each section's heading is the "prompt" (mask 0) and
its body plus the end-of-document id is the "response" (mask 1); every third document has
no mask at all, as pretraining text would (all tokens are targets).

Run from the repository root: python3 tools/data/make_sample.py
"""

import json
import pathlib

EOS = 256
root = pathlib.Path(__file__).resolve().parents[2]
text = (root / "spec" / "FORMAT.md").read_text(encoding="utf-8")

sections, current = [], []
for line in text.splitlines(keepends=True):
    if line.startswith("#") and current:
        sections.append("".join(current))
        current = []
    current.append(line)
sections.append("".join(current))

out = root / "tools" / "data" / "sample.jsonl"
with out.open("w", encoding="utf-8") as f:
    for i, section in enumerate(sections):
        heading, _, body = section.partition("\n")
        prompt = list((heading + "\n").encode("utf-8"))
        response = list(body.encode("utf-8")) + [EOS]
        record = {"input_ids": prompt + response}
        if i % 3 != 2:
            record["loss_mask"] = [0] * len(prompt) + [1] * len(response)
        f.write(json.dumps(record, separators=(",", ":")) + "\n")
print(f"wrote {out.relative_to(root)}: {len(sections)} documents")
