"""Manifests (spec 15): a sharded build read as one dataset, against the CLI and
against a single-file build of the same input."""

import json
import os
import shutil

import numpy as np
import pytest

import tokpack
from cli_tool import BINARY, REPO, cli

pytestmark = pytest.mark.skipif(BINARY is None, reason="no tokpack binary")

DATA = REPO / "tools" / "data" / "pydoc_chat.jsonl"
BUILD = ("--tokenizer", "r50k_base", "--loss-policy", "assistant_only")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("manifest")
    cli("build", str(DATA), "-o", str(d / "one.tpk"), *BUILD)
    cli("build", str(DATA), "-o", str(d / "sh.manifest.json"), *BUILD, "--shard-tokens", "3000")
    for strategy in ("contiguous", "bfd", "doc-aligned"):
        cli("pack", str(d / "sh.manifest.json"), "--seq-len", "200", "--strategy", strategy,
            "-o", str(d / f"sh.{strategy}.tpk"))
        cli("pack", str(d / "one.tpk"), "--seq-len", "200", "--strategy", strategy,
            "-o", str(d / f"one.{strategy}.tpk"))
    (d / "ins.json").write_text(json.dumps({"2990": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
                                            "401": [1, 2]}))
    cli("insert", str(d / "sh.manifest.json"), "--seq-len", "200", "--explicit",
        str(d / "ins.json"), "--split-across-rows", "-o", str(d / "sh.ins.tpk"))
    return d


def cli_row(path, L, i, *extra):
    out = cli("row", str(path), "--seq-len", str(L), "--index", str(i), "--json", *extra).stdout
    return json.loads(out)


def same(row, ref):
    for key in ("input_ids", "labels", "position_ids", "cu_seqlens", "loss_mask"):
        assert row[key].tolist() == ref[key], key


def test_open_is_lazy_and_global(built):
    m = tokpack.open(built / "sh.manifest.json")
    one = tokpack.open(built / "one.tpk")
    assert isinstance(m, tokpack.Manifest) and m.num_shards >= 5
    assert m.opened_shards == []
    assert (m.num_tokens, m.num_documents, m.vocab_size, m.dtype, m.eos_id) == (
        one.num_tokens, one.num_documents, one.vocab_size, one.dtype, one.eos_id)
    assert m.document(0).tolist() == one.document(0).tolist()
    assert m.opened_shards == [0]
    for i in range(one.num_documents):
        assert np.array_equal(m.document(i), one.document(i))
        assert np.array_equal(m.loss_mask(i), one.loss_mask(i))
    assert np.array_equal(m.ordered_doc_offsets(), one.doc_offsets)
    assert np.array_equal(m.tokens[:], one.tokens[:])
    pos = np.array([0, 2999, 3000, 9001, one.num_tokens - 1])
    assert np.array_equal(m.tokens_at(pos), one.tokens[pos])
    assert np.array_equal(m.loss_mask_at(pos), one.loss_mask_at(pos))
    assert np.array_equal(m.loss_mask_range(100, 12000), one.loss_mask_range(100, 12000))
    m.verify()


@pytest.mark.parametrize("L", [1, 7, 200, 3001])
@pytest.mark.parametrize("opts", [{}, {"tail": "pad"}, {"mask_document_boundaries": True}])
def test_contiguous_rows_equal_single_file(built, L, opts):
    m = tokpack.open(built / "sh.manifest.json")
    one = tokpack.open(built / "one.tpk")
    a, b = tokpack.Rows(m, L, **opts), tokpack.Rows(one, L, **opts)
    assert len(a) == len(b)
    picks = range(len(a)) if len(a) < 400 else np.linspace(0, len(a) - 1, 300).astype(int)
    for i in picks:
        ra, rb = a.row(int(i)), b.row(int(i))
        for key in ra:
            assert np.array_equal(ra[key], rb[key]), (i, key)


def test_rows_cross_shards_and_equal_cli(built):
    m = tokpack.open(built / "sh.manifest.json")
    bases = m.token_bases
    rows = tokpack.Rows(m, 200)
    crossing = [int(b) // 200 for b in bases[1:-1]]
    for i in crossing + [0, len(rows) - 1]:
        same(rows.row(i), cli_row(built / "sh.manifest.json", 200, i))
    rows = tokpack.Rows(m, 200, tail="pad", mask_document_boundaries=True)
    for i in crossing[:3] + [len(rows) - 1]:
        same(rows.row(i), cli_row(built / "sh.manifest.json", 200, i, "--tail", "pad",
                                  "--mask-boundaries"))


@pytest.mark.parametrize("strategy", ["contiguous", "bfd", "doc-aligned"])
def test_plan_rows(built, strategy):
    m = tokpack.open(built / "sh.manifest.json")
    one = tokpack.open(built / "one.tpk")
    plan = tokpack.open_plan(built / f"sh.{strategy}.tpk")
    plan.verify_against(m)
    rows = tokpack.Rows(m, plan=plan)
    ref = tokpack.Rows(one, plan=tokpack.open_plan(built / f"one.{strategy}.tpk"))
    assert len(rows) == len(ref)
    for i in range(len(rows)):
        ra, rb = rows.row(i), ref.row(i)
        for key in ra:
            assert np.array_equal(ra[key], rb[key]), (i, key)
    for i in (0, len(rows) // 2, len(rows) - 1):
        same(rows.row(i), cli_row(built / "sh.manifest.json", 200, i, "--plan",
                                  str(built / f"sh.{strategy}.tpk")))
    with pytest.raises(tokpack.TokpackError) as e:
        tokpack.Rows(one, plan=plan)
    assert e.value.code == "wrong_dataset"


def test_overlay_rows(built):
    m = tokpack.open(built / "sh.manifest.json")
    ov = tokpack.open_overlay(built / "sh.ins.tpk")
    ov.verify()
    rows = tokpack.Rows(m, 200, overlays=[ov])
    for i in (2, 14, 15, 0):
        same(rows.row(i), cli_row(built / "sh.manifest.json", 200, i, "--overlay",
                                  str(built / "sh.ins.tpk")))


def _copy(built, tmp_path):
    for f in os.listdir(built):
        if f.startswith("sh-") or f == "sh.manifest.json":
            shutil.copy(built / f, tmp_path / f)
    return tmp_path / "sh.manifest.json"


def test_shard_disagrees(built, tmp_path):
    path = _copy(built, tmp_path)
    doc = json.loads(path.read_text())
    doc["shards"][2]["tokens"] += 1
    path.write_text(json.dumps(doc))
    m = tokpack.open(path)
    assert m.num_tokens == tokpack.open(built / "one.tpk").num_tokens + 1
    m.document(0)  # shard 0 is fine
    name = doc["shards"][2]["path"]
    with pytest.raises(tokpack.ManifestError, match="index and shard disagree: shard 2") as e:
        m.verify()
    assert e.value.code == "shard_failed" and name in str(e.value)
    assert [k for k, _, _ in e.value.failures] == [2]
    with pytest.raises(tokpack.ManifestError, match=name) as e:
        m.document(int(m.document_bases[2]))
    assert e.value.code == "shard_mismatch"


def test_verify_names_every_failing_shard(built, tmp_path):
    path = _copy(built, tmp_path)
    doc = json.loads(path.read_text())
    for k in (1, 3):  # flip a token byte near the end of the file: a section CRC fails
        p = tmp_path / doc["shards"][k]["path"]
        data = bytearray(p.read_bytes())
        tok = tokpack.open(p).sections[0]
        data[tok["offset"] + 5] ^= 0xFF
        p.write_bytes(bytes(data))
    os.remove(tmp_path / doc["shards"][4]["path"])
    m = tokpack.open(path)
    with pytest.raises(tokpack.ManifestError) as e:
        m.verify()
    assert [k for k, _, _ in e.value.failures] == [1, 3, 4]
    for k in (1, 3, 4):
        assert doc["shards"][k]["path"] in str(e.value)
    m.shard(0).verify()
    assert m.document(0).size > 0


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.update(format="x"), "format"),
    (lambda d: d.update(version=2), "version"),
    (lambda d: d.update(dataset_id="ABC"), "dataset_id"),
    (lambda d: d["shards"][0].update(tokens=-1), "tokens"),
    (lambda d: d["metadata"].pop("vocab_size"), "vocab_size"),
])
def test_bad_manifest(built, tmp_path, edit, match):
    doc = json.loads((built / "sh.manifest.json").read_text())
    edit(doc)
    p = tmp_path / "bad.manifest.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(tokpack.ManifestError, match=match) as e:
        tokpack.open(p)
    assert e.value.code == "bad_manifest"


def test_pickle_carries_only_the_path(built):
    import pickle
    m = tokpack.open(built / "sh.manifest.json")
    m.document(30)
    blob = pickle.dumps(m)
    assert len(blob) < 500
    m2 = pickle.loads(blob)
    assert m2.opened_shards == [] and np.array_equal(m2.document(30), m.document(30))
