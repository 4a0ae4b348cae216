"""Makes the real-text samples that ship with tokpack, from the Python standard library's
pydoc topics (pydoc_data/topics.py, the text of the Python language reference; PSF licence,
see PSF-LICENSE.txt beside this file).

- pydoc_topics.jsonl: one document per topic, {"text": ..., "topic": ...}.
- pydoc_chat.jsonl: one conversation per topic, {"messages": [system, user, assistant]}: the
  user asks about the topic, the assistant answers with the topic's first paragraphs.

Run from the repository root with the Python the samples were made with (3.11.7):
python3 tools/data/make_text_samples.py
"""

import json
import pathlib
import sys

from pydoc_data.topics import topics

here = pathlib.Path(__file__).resolve().parent

with (here / "pydoc_topics.jsonl").open("w", encoding="utf-8") as f:
    for name in sorted(topics):
        f.write(json.dumps({"text": topics[name], "topic": name}, ensure_ascii=False) + "\n")

with (here / "pydoc_chat.jsonl").open("w", encoding="utf-8") as f:
    for name in sorted(topics):
        paragraphs = [p.strip() for p in topics[name].split("\n\n") if p.strip()]
        title = paragraphs[0].splitlines()[0] if paragraphs else name
        answer = "\n\n".join(paragraphs[1:4]) if len(paragraphs) > 1 else topics[name].strip()
        messages = [
            {"role": "system", "content": "You answer questions about the Python language reference."},
            {"role": "user", "content": f"What does the language reference say under \"{title}\"?"},
            {"role": "assistant", "content": answer},
        ]
        f.write(json.dumps({"messages": messages, "source": "pydoc_chat"}, ensure_ascii=False) + "\n")

print(f"wrote {len(topics)} topics and {len(topics)} conversations with Python {sys.version.split()[0]}")
