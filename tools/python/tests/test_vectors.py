"""The golden files of spec/vectors (spec section 10)."""

import json
from pathlib import Path

import pytest

import tokpack
from json_values import differences

VECTORS = Path(__file__).resolve().parent / ".." / ".." / ".." / "spec" / "vectors"


# Vectors whose .json disagrees with spec/FORMAT.md (and this reader), by name, with
# the reason; each becomes a strict xfail. Empty since the spec revision of 1.0.
KNOWN_VECTOR_DISAGREEMENTS = {}


def vector_files(kind):
    folder = VECTORS / kind
    files = sorted(folder.glob("*.tpk")) if folder.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"no spec/vectors/{kind}/*.tpk yet (looked in {folder.resolve()})"))]
    return [
        pytest.param(f, id=f.stem, marks=[pytest.mark.xfail(
            reason=KNOWN_VECTOR_DISAGREEMENTS[f.stem], strict=True)]
            if f.stem in KNOWN_VECTOR_DISAGREEMENTS else [])
        for f in files
    ]


def expectation(tpk: Path) -> dict:
    with open(tpk.with_suffix(".json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("tpk", vector_files("valid"))
def test_valid_vector(tpk):
    want = expectation(tpk)
    ds = tokpack.open(tpk)
    ds.verify()
    assert list(ds.version) == want["version"]
    assert ds.dataset_id.hex() == want["dataset_id"]
    assert ds.dtype == want["dtype"]
    assert ds.vocab_size == want["vocab_size"]
    assert ds.num_tokens == want["num_tokens"]
    assert ds.num_documents == want["num_documents"]
    # Section 10: `metadata` is the whole JSON object as stored (nulls kept, nothing
    # added), and `vocab_size` is also a top-level key of the expectation.
    assert ds.metadata == want["metadata"]
    # 5.4: integers in [-2^63, 2^64) exactly, every other number as a double; `==`
    # does not see int against float, so compare the types too.
    assert not differences(ds.metadata, want["metadata"])
    assert ds.vocab_size == want["metadata"]["vocab_size"]
    for key in ("tokenizer", "bos_id", "eos_id", "pad_id", "writer"):
        assert getattr(ds, key) == want["metadata"].get(key)
    documents = [ds.document(i).tolist() for i in range(ds.num_documents)]
    assert documents == want["documents"]
    assert ds.has_loss_mask == (want["loss_mask"] is not None)
    masks = [ds.loss_mask(i).astype(int).tolist() for i in range(ds.num_documents)]
    if want["loss_mask"] is None:
        assert all(all(m) for m in masks)
    else:
        assert masks == want["loss_mask"]
        flat = [b for m in want["loss_mask"] for b in m]
        assert ds.loss_mask_range(0, ds.num_tokens).astype(int).tolist() == flat


@pytest.mark.parametrize("tpk", vector_files("invalid"))
def test_invalid_vector(tpk):
    want = expectation(tpk)
    assert want["stage"] in ("open", "verify"), want
    assert want["error"] in tokpack.ERROR_CODES, want
    if want["stage"] == "open":
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.open(tpk)
    else:
        ds = tokpack.open(tpk)
        with pytest.raises(tokpack.TokpackError) as info:
            ds.verify()
    assert info.value.code == want["error"], f"{want['why']}: got {info.value}"


@pytest.mark.parametrize("kind", ["valid", "invalid"])
def test_every_vector_has_its_json(kind):
    folder = VECTORS / kind
    if not folder.is_dir():
        pytest.skip(f"no spec/vectors/{kind} yet")
    for tpk in folder.glob("*.tpk"):
        assert tpk.with_suffix(".json").is_file(), tpk
