"""The numpy recipes printed in spec/FORMAT.md section 9 run as written on every valid
vector: ``read_tokpack`` on files of raw tokens, and ``zstd_tokens`` (version 1.4) for
the tokens of files whose TOKENS has codec 1 (5.6). ``read_tokpack`` itself is for
raw tokens only (the text says so; it does not look at the codec)."""

import json
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SPEC = (ROOT / "spec" / "FORMAT.md").read_text(encoding="utf-8")
VALID = sorted((ROOT / "spec" / "vectors" / "valid").glob("*.tpk"))
#: The table entry layout the recipe uses (section 9).
TABLE = np.dtype([("kind", "<u4"), ("dtype", "u1"), ("codec", "u1"), ("flags", "<u2"),
                  ("offset", "<u8"), ("length", "<u8"), ("count", "<u8"),
                  ("crc32", "<u4"), ("reserved", "V28")])


def recipes():
    section = SPEC[SPEC.index("## 9. Reading it with numpy"):]
    section = section[:section.index("\n## 10.")]
    namespace = {}
    for code in re.findall(r"```python\n(.*?)```", section, re.S):
        exec(compile(code, "spec/FORMAT.md section 9", "exec"), namespace)
    return namespace


def recipe():
    return recipes()["read_tokpack"]


def table_of(raw):
    count = int.from_bytes(raw[48:52].tobytes(), "little")
    return np.frombuffer(raw[64:64 + 64 * count].tobytes(), dtype=TABLE)


def codec_of(path) -> int:
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    return next(int(e["codec"]) for e in table_of(raw) if int(e["kind"]) == 1)


@pytest.mark.parametrize("path", [p for p in VALID if codec_of(p) == 0], ids=lambda p: p.stem)
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


@pytest.mark.parametrize("path", [p for p in VALID if codec_of(p) == 1], ids=lambda p: p.stem)
def test_zstd_recipe_reads_the_vector(path):
    pytest.importorskip("zstandard")
    zstd_tokens = recipes()["zstd_tokens"]
    want = json.loads(path.with_suffix(".json").read_text())
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    table = table_of(raw)
    entry = next(e for e in table if int(e["kind"]) == 1)
    np_type = {1: "<u1", 2: "<u2", 3: "<u4"}[int(entry["dtype"])]
    off = next(e for e in table if int(e["kind"]) == 2)
    offsets = raw[int(off["offset"]):int(off["offset"]) + int(off["length"])].view("<u8")
    docs = [zstd_tokens(raw, entry, np_type, int(offsets[i]), int(offsets[i + 1])).tolist()
            for i in range(len(offsets) - 1)]
    assert docs == want["documents"]
    n = int(entry["count"])
    assert zstd_tokens(raw, entry, np_type, 0, n).tolist() == [t for d in docs for t in d]
    # Any range, across block boundaries and empty ones included.
    flat = [t for d in docs for t in d]
    for a in range(0, n + 1, max(1, n // 7)):
        for b in (a, min(n, a + 1), min(n, a + 5), n):
            assert zstd_tokens(raw, entry, np_type, a, b).tolist() == flat[a:b]
