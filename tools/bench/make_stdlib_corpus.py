"""Writes a real-text corpus that any machine with Python can rebuild: every .py file of this
Python's standard library as one JSON-lines record {"text": ...}, in sorted path order.

Usage: python3 tools/bench/make_stdlib_corpus.py OUT.jsonl
"""
import json
import os
import sys
import sysconfig

out = sys.argv[1]
root = sysconfig.get_paths()["stdlib"]
files = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "__pycache__"))
    files.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(".py"))
files.sort()
n_bytes = 0
with open(out, "w", encoding="utf-8") as f:
    for path in files:
        try:
            with open(path, encoding="utf-8") as src:
                text = src.read()
        except (UnicodeDecodeError, OSError):
            continue
        n_bytes += len(text.encode("utf-8"))
        f.write(json.dumps({"text": text}) + "\n")
print(f"{out}: {len(files)} files, {n_bytes / 1e6:.1f} MB of text from {root}")
