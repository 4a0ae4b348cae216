"""The public API on files from the spec-derived test writer: round trips, views,
indices."""

import numpy as np
import pytest

import tokpack
from tokpack.mapping import is_mapped
from spec_writer import dataset_sections, write, write_dataset


def random_dataset(rng, vocab_size, n_docs, with_mask):
    docs = [
        rng.integers(0, vocab_size, size=int(rng.integers(0, 40)), dtype=np.int64).tolist()
        for _ in range(n_docs)
    ]
    masks = [rng.integers(0, 2, size=len(d)).tolist() for d in docs] if with_mask else None
    return docs, masks


@pytest.mark.parametrize("vocab_size,dtype", [(1, "u8"), (256, "u8"), (257, "u16"),
                                              (65536, "u16"), (65537, "u32"), (2**32, "u32")])
@pytest.mark.parametrize("with_mask", [False, True])
def test_round_trip(tmp_path, vocab_size, dtype, with_mask):
    rng = np.random.default_rng(vocab_size + with_mask)
    docs, masks = random_dataset(rng, vocab_size, 30, with_mask)
    path = tmp_path / "data.tpk"
    path.write_bytes(write_dataset(docs, vocab_size, masks))
    ds = tokpack.open(path)
    ds.verify()
    assert ds.dtype == dtype
    assert ds.vocab_size == vocab_size
    assert ds.num_documents == len(docs) == len(ds)
    assert ds.num_tokens == sum(map(len, docs))
    assert ds.has_loss_mask == with_mask
    for i, doc in enumerate(docs):
        assert ds.document(i).tolist() == doc
        expected = masks[i] if with_mask else [1] * len(doc)
        assert ds.loss_mask(i).tolist() == [bool(b) for b in expected]
    flat_mask = np.concatenate([np.asarray(m, bool) for m in masks]) if with_mask else None
    for start, stop in [(0, 0), (0, ds.num_tokens), (3, 3), (1, 9), (7, 17), (8, 16)]:
        stop = min(stop, ds.num_tokens)
        start = min(start, stop)
        got = ds.loss_mask_range(start, stop)
        assert got.dtype == bool
        if with_mask:
            assert got.tolist() == flat_mask[start:stop].tolist()
        else:
            assert got.all() and len(got) == stop - start


def test_typed_views_are_zero_copy_over_the_mapping(tmp_path):
    path = tmp_path / "data.tpk"
    path.write_bytes(write_dataset([[1, 2, 3], [4]], 1000))
    ds = tokpack.open(path)
    # A plain ndarray view over the read-only mapping (not an np.memmap: its
    # Python-level slicing costs more than the slice itself).
    assert type(ds.tokens) is np.ndarray and is_mapped(ds.tokens)
    assert type(ds.doc_offsets) is np.ndarray and is_mapped(ds.doc_offsets)
    assert ds.tokens.dtype == np.dtype("<u2")
    assert ds.document(0).base is not None
    assert np.shares_memory(ds.document(1), ds.tokens)
    assert not ds.tokens.flags.writeable


def test_header_fields(tmp_path):
    data = write(dataset_sections([[5]], 10), minor=3, dataset_id=b"\xab" * 16)
    ds = tokpack.Dataset.from_buffer(data)
    assert ds.version == (1, 3)
    assert ds.dataset_id == b"\xab" * 16
    assert [s["name"] for s in ds.sections] == ["tokens", "doc_offsets", "metadata"]
    assert ds.sections[0]["offset"] == 4096 and ds.sections[0]["count"] == 1


def test_document_indices():
    ds = tokpack.Dataset.from_buffer(write_dataset([[1], [2, 2], []], 10))
    assert ds.document(-1).tolist() == []
    assert ds.document(-3).tolist() == [1]
    assert ds[1].tolist() == [2, 2]
    for bad in (3, -4, 10**30):
        with pytest.raises(IndexError):
            ds.document(bad)
        with pytest.raises(IndexError):
            ds.loss_mask(bad)
    with pytest.raises(TypeError):
        ds.document(1.0)
    for start, stop in [(-1, 1), (2, 1), (0, 4)]:
        with pytest.raises(IndexError):
            ds.loss_mask_range(start, stop)


def test_every_error_code_is_known():
    # The table of 6.3: 27 codes in 1.0, bad_plan and wrong_dataset in 1.1, the
    # overlay codes in 1.2, bad_source in 1.3 (after token_out_of_range), bad_block
    # in 1.4 (after bad_source).
    assert len(set(tokpack.ERROR_CODES)) == len(tokpack.ERROR_CODES) == 34
    assert tokpack.ERROR_CODES[-8:] == (
        "token_out_of_range", "bad_source", "bad_block", "bad_plan", "wrong_dataset",
        "bad_overlay", "wrong_view", "insertion_overlap")
    # Every code is in the table of spec 6.3, in the table's order (a later version
    # of the spec may add codes this reader does not know yet).
    import re
    from pathlib import Path
    spec = (Path(__file__).resolve().parents[3] / "spec" / "FORMAT.md").read_text()
    table = spec.split("### 6.3 Error codes", 1)[1].split("## 7.", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", table, re.M)
    assert [c for c in listed if c in tokpack.ERROR_CODES] == list(tokpack.ERROR_CODES)
    # This reader implements version 1.4, whose table is exactly these codes.
    assert "# tokpack file format, version 1.4" in spec
    assert listed == list(tokpack.ERROR_CODES)
    with pytest.raises(ValueError):
        tokpack.TokpackError("no_such_code", "x")
