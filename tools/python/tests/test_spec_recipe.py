"""The numpy recipe printed in spec/FORMAT.md section 9 runs as written on every valid vector."""

import json
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SPEC = (ROOT / "spec" / "FORMAT.md").read_text(encoding="utf-8")
VALID = sorted((ROOT / "spec" / "vectors" / "valid").glob("*.tpk"))


def recipe():
    section = SPEC[SPEC.index("## 9. Reading it with numpy"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, "spec/FORMAT.md section 9", "exec"), namespace)
    return namespace["read_tokpack"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_recipe_reads_the_vector(path):
    tokens, offsets, mask, meta, docs, doc_sources = recipe()(str(path))
    want = json.loads(path.with_suffix(".json").read_text())
    # Section 10 (1.3): `document_sources` is each document's source name, or null
    # without a DOC_SOURCES section (absent from older vector files: null).
    assert doc_sources == want.get("document_sources")
    assert [d.tolist() for d in docs] == want["documents"]
    assert meta["vocab_size"] == want["vocab_size"]  # the recipe keeps json.loads number types
    if want["loss_mask"] is not None:
        flat = [b for doc in want["loss_mask"] for b in doc]
        assert mask.astype(np.uint8).tolist() == flat
