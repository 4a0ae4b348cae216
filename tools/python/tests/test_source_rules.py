"""Source ids (spec 5.5, version 1.3): the reader's rules and API on files from the
spec-derived writer. The open / verify rules of DOC_SOURCES, one file each, are in
the shared catalogue (``catalog.source_files``, run by ``test_rules.py`` and against
the CLI by ``test_cli_agreement.py``); here: what opening does not read, the checks
6.2's last paragraph asks of an unverified file, per-source counts, the filter of
12.5 and its caller's errors, plans with ``sources`` / ``mixture`` keys (11.1, 12.6)
and manifests matching sources by name (15)."""

import json

import numpy as np
import pytest

import tokpack
from catalog import DOCS, MASKS
from spec_writer import (
    dataset_sections, plan_info, plan_sections, rows_to_plan, write, write_plan, write_sourced,
)

DID = bytes(range(16))


def sourced(ids, names=("web", "code"), docs=DOCS, masks=MASKS, **meta):
    return tokpack.Dataset.from_buffer(write_sourced(
        docs, 300, list(names), ids, masks=masks,
        metadata={"vocab_size": 300, **meta}, dataset_id=DID))


def rows_of(rows):
    return [{k: v.tolist() for k, v in rows.row(i).items()} for i in range(len(rows))]


# -- 6.1 / 6.2 around DOC_SOURCES -------------------------------------------------------


def test_open_reads_no_source_id():
    # Every id out of range: open passes (6.1 reads nothing of DOC_SOURCES), the
    # per-document reads and verify refuse.
    ds = sourced([7, 0, 9])
    assert ds.sources == ("web", "code") and ds.doc_sources.tolist() == [7, 0, 9]
    assert ds.source(1) == "web"
    for i in (0, 2):
        with pytest.raises(tokpack.TokpackError) as e:
            ds.source(i)
        assert e.value.code == "bad_source" and f"document {i}" in str(e.value)
        assert e.value.section == "doc_sources"
    for call in (ds.source_counts, ds.document_sources, ds.verify,
                 lambda: ds.source_filter(["code"]), lambda: tokpack.Rows(ds, 2, sources="web")):
        with pytest.raises(tokpack.TokpackError) as e:
            call()
        assert e.value.code == "bad_source"
        assert "document 0" in str(e.value)


def test_bad_source_names_the_document_and_its_byte():
    ds = sourced([0, 1, 2])
    with pytest.raises(tokpack.TokpackError) as e:
        ds.verify()
    entry = next(s for s in ds.sections if s["kind"] == 11)
    assert e.value.code == "bad_source" and "document 2" in str(e.value)
    assert e.value.offset == entry["offset"] + 4


def test_sections_describe_doc_sources():
    ds = sourced([1, 0, 1])
    entry = next(s for s in ds.sections if s["kind"] == 11)
    assert entry["name"] == "doc_sources" and entry["known"] and entry["dtype"] == "u16"
    assert entry["count"] == 3 and not entry["required"]
    assert ds.version == (1, 3)
    assert "sources web, code" in repr(ds)


def test_without_sources_there_is_no_source_information():
    ds = tokpack.Dataset.from_buffer(write(dataset_sections(DOCS, 300, MASKS)))
    assert ds.sources is None and ds.doc_sources is None and not ds.has_sources
    assert ds.document_sources() is None
    for call in (lambda: ds.source(0), lambda: ds.source_id(0), ds.source_counts,
                 ds.checked_doc_sources, lambda: ds.source_filter(["web"])):
        with pytest.raises(ValueError, match="no source ids"):
            call()


def test_source_of_a_document_index_out_of_range():
    ds = sourced([1, 0, 1])
    with pytest.raises(IndexError):
        ds.source(3)
    assert ds.source(-1) == "code"


def test_source_counts_include_unused_names_in_their_order():
    ds = sourced([3, 3, 0], names=("a", "b", "c", "d"))
    assert list(ds.source_counts().items()) == [
        ("a", {"documents": 1, "tokens": 3}), ("b", {"documents": 0, "tokens": 0}),
        ("c", {"documents": 0, "tokens": 0}), ("d", {"documents": 2, "tokens": 3})]


def test_source_counts_need_ordered_offsets():
    s = dataset_sections(DOCS, 300, MASKS, sources=["web"], doc_sources=[0, 0, 0])
    s[1].body = np.asarray([0, 4, 3, 6], "<u8").tobytes()
    ds = tokpack.Dataset.from_buffer(write(s, minor=3))
    for call in (ds.source_counts, lambda: ds.source_filter("web")):
        with pytest.raises(tokpack.TokpackError) as e:
            call()
        assert e.value.code == "bad_doc_offsets"


def test_65536_names_make_every_u16_id_valid():
    names = [f"s{k}" for k in range(65536)]
    ds = sourced([65535, 0, 40000], names=names)
    ds.verify()
    assert ds.document_sources() == ["s65535", "s0", "s40000"]


# -- 12.5: the filter and its caller's errors -------------------------------------------


def test_filter_is_the_selected_documents_in_order():
    ds = sourced([1, 0, 1])  # DOCS = [[1, 2, 3], [], [4, 5, 250]]
    f = ds.source_filter(["code"])
    assert f.selected_documents.tolist() == [0, 2]
    assert f.num_tokens == 6 and f.num_documents == 2 and len(f) == 2
    assert f.tokens.tolist() == [1, 2, 3, 4, 5, 250]
    assert f.ordered_doc_offsets().tolist() == [0, 3, 6]
    assert f.loss_mask_range(0, 6).astype(int).tolist() == [1, 0, 1, 0, 1, 1]
    assert f.document(1).tolist() == [4, 5, 250] and f.source(1) == "code"
    assert f.stream_positions(2, 5).tolist() == [2, 3, 4]
    assert f.tokens_at([5, 0]).tolist() == [250, 1]
    assert f.loss_mask_at([1, 3]).tolist() == [False, False]
    assert f.doc_starts_in(0, 6).tolist() == [0, 3]
    web = ds.source_filter("web")  # one name as a string
    assert web.selected_documents.tolist() == [1] and web.num_tokens == 0
    assert len(tokpack.Rows(ds, 1, sources=["web"], tail="pad")) == 0


def test_filter_rows_are_12_1_over_the_filtered_stream():
    ds = sourced([1, 0, 1])
    want = tokpack.Dataset.from_buffer(write(dataset_sections(
        [DOCS[0], DOCS[2]], 300, [MASKS[0], MASKS[2]], metadata={"vocab_size": 300})))
    for L in (1, 2, 4, 5):
        for opts in ({}, {"tail": "pad"}, {"mask_document_boundaries": True},
                     {"tail": "pad", "mask_document_boundaries": True, "pad_id": 9}):
            got = tokpack.Rows(ds, L, sources=["code"], **opts)
            assert rows_of(got) == rows_of(tokpack.Rows(want, L, **opts)), (L, opts)
            assert got.sources == ("code",) and got.strategy == "contiguous"


def test_all_sources_is_the_unfiltered_view():
    ds = sourced([1, 0, 1])
    for opts in ({}, {"tail": "pad", "mask_document_boundaries": True}):
        assert rows_of(tokpack.Rows(ds, 2, sources=["web", "code"], **opts)) == \
            rows_of(tokpack.Rows(ds, 2, **opts))


@pytest.mark.parametrize("sources, exc, words", [
    (["nope"], ValueError, "no source 'nope'; the sources are web, code"),
    (["web", "nope"], ValueError, "no source 'nope'"),
    ([], ValueError, "no source names given"),
    ([1], TypeError, "a source name is a string"),
    ([None], TypeError, "a source name is a string"),
])
def test_filter_caller_errors(sources, exc, words):
    ds = sourced([1, 0, 1])
    with pytest.raises(exc, match=words):
        ds.source_filter(sources)
    with pytest.raises(exc, match=words):
        tokpack.Rows(ds, 2, sources=sources)


def test_filter_is_not_for_plans_or_overlays():
    ds = sourced([1, 0, 1])
    bounds, segs = rows_to_plan([[(0, 3)], [(3, 3)]])
    info = plan_info(DID, 6, 3, 4, "bfd", 2, 6, truncated=0)
    plan = tokpack.Plan.from_buffer(write_plan(plan_sections(info, bounds, segs)))
    with pytest.raises(ValueError, match="a plan already fixes its documents"):
        tokpack.Rows(ds, plan=plan, sources=["code"])
    from spec_writer import overlay_file
    ov = tokpack.Overlay.from_buffer(overlay_file(ds, 2, 2, [(0, [7], 1)]))
    tokpack.Rows(ds, 2, overlays=[ov])
    with pytest.raises(ValueError, match="overlays"):
        tokpack.Rows(ds, 2, overlays=[ov], sources=["code"])


def test_duplicate_names_in_the_filter_are_one():
    ds = sourced([1, 0, 1])
    assert ds.source_filter(["code", "code"]).sources == ("code",)
    assert ds.source_filter(["code", "web"]).sources == ("web", "code")


# -- 11.1 / 12.6: plans with sources and mixture keys read like any plan ----------------


def test_plan_with_repeated_segments_and_more_tokens_than_the_dataset():
    ds = sourced([1, 0, 1])
    rows = [[(0, 3)], [(0, 3)], [(3, 3), (0, 1)], [(3, 3)]]
    bounds, segs = rows_to_plan(rows)
    mixture = {"seed": 7, "tokens_requested": 12, "sources": {"code": {
        "weight": 1.0, "quota": 12, "tokens": 13, "available": 6, "epochs": 13 / 6,
        "pieces": 5}}}
    info = plan_info(DID, 6, 3, 4, "bfd", 4, 13, truncated=0)
    info.update(sources=["code"], mixture=mixture)
    plan = tokpack.Plan.from_buffer(write_plan(plan_sections(info, bounds, segs)))
    plan.verify()
    plan.verify_against(ds)
    assert plan.tokens == 13 > plan.dataset_tokens
    assert plan.sources == ["code"] and plan.mixture == mixture
    assert plan.source_tokens(ds) == {"web": 0, "code": 13}
    got = rows_of(tokpack.Rows(ds, plan=plan))
    assert got[0] == got[1]
    assert got[2]["input_ids"] == [4, 5, 250, 1] and got[2]["cu_seqlens"] == [0, 3, 4]


@pytest.mark.parametrize("value", [5, None, [1], ["nope"], {"x": 1}, "web"])
def test_plan_sources_and_mixture_are_not_checked(value):
    # 11.1: "readers do not check them against anything and read the plan like any
    # other" (the CLI accepts every one of these values too).
    bounds, segs = rows_to_plan([[(0, 3)]])
    info = plan_info(DID, 6, 3, 4, "bfd", 1, 3, truncated=3)
    info.update(sources=value, mixture=value)
    plan = tokpack.Plan.from_buffer(write_plan(plan_sections(info, bounds, segs)))
    plan.verify_against(sourced([1, 0, 1]))
    assert plan.sources == value and plan.mixture == value


def test_source_tokens_need_sources_and_segments():
    ds = tokpack.Dataset.from_buffer(write(dataset_sections(DOCS, 300, MASKS), dataset_id=DID))
    bounds, segs = rows_to_plan([[(0, 3)]])
    plan = tokpack.Plan.from_buffer(write_plan(plan_sections(
        plan_info(DID, 6, 3, 4, "bfd", 1, 3, truncated=3), bounds, segs)))
    with pytest.raises(ValueError, match="no source ids"):
        plan.source_tokens(ds)
    contiguous = tokpack.Plan.from_buffer(write_plan(plan_sections(
        plan_info(DID, 6, 3, 2, "contiguous", 2, 4, truncated=2))))
    with pytest.raises(ValueError, match="no segments"):
        contiguous.source_tokens(sourced([1, 0, 1]))
    other = tokpack.Dataset.from_buffer(write_sourced(DOCS, 300, ["a"], [0, 0, 0],
                                                      dataset_id=bytes(16)))
    with pytest.raises(tokpack.TokpackError) as e:
        plan.source_tokens(other)
    assert e.value.code == "wrong_dataset"


# -- 15: manifests match sources by name ------------------------------------------------


def _manifest(tmp_path, shards, name="m.manifest.json"):
    """Write each (bytes) shard and a manifest listing them, in order."""
    entries = []
    for k, data in enumerate(shards):
        path = tmp_path / f"shard{k}.tpk"
        path.write_bytes(data)
        ds = tokpack.open(path)
        entries.append({"path": path.name, "dataset_id": ds.dataset_id.hex(),
                        "documents": ds.num_documents, "tokens": ds.num_tokens,
                        "has_loss_mask": ds.has_loss_mask})
    doc = {"format": "tokpack-manifest", "version": 1, "dataset_id": "ab" * 16,
           "metadata": {"vocab_size": 300}, "shards": entries}
    (tmp_path / name).write_text(json.dumps(doc))
    return tokpack.open(tmp_path / name)


def test_manifest_sources_by_name_in_order_of_first_appearance(tmp_path):
    a = write_sourced([[1, 2], [3]], 300, ["code", "web"], [1, 0], dataset_id=bytes([1] * 16))
    b = write_sourced([[4], [5, 6], [7]], 300, ["chat", "web", "zz"], [1, 0, 1],
                      dataset_id=bytes([2] * 16))
    m = _manifest(tmp_path, [a, b])
    assert m.opened_shards == []
    assert m.sources == ("code", "web", "chat", "zz")
    assert m.document_sources() == ["web", "code", "web", "chat", "web"]
    assert [m.source_id(i) for i in range(5)] == [1, 0, 1, 2, 1]
    assert m.source(3) == "chat" and m.has_sources
    assert m.checked_doc_sources().tolist() == [1, 0, 1, 2, 1]
    assert m.source_counts() == {"code": {"documents": 1, "tokens": 1},
                                 "web": {"documents": 3, "tokens": 4},
                                 "chat": {"documents": 1, "tokens": 2},
                                 "zz": {"documents": 0, "tokens": 0}}
    f = m.source_filter(["web"])
    assert f.selected_documents.tolist() == [0, 2, 4]
    assert f.tokens.tolist() == [1, 2, 4, 7]
    rows = tokpack.Rows(m, 2, sources=["web"], tail="pad")
    assert [r["input_ids"].tolist() for r in rows] == [[1, 2], [4, 7]]


def test_manifest_with_a_shard_without_sources(tmp_path):
    a = write_sourced([[1, 2], [3]], 300, ["web"], [0, 0], dataset_id=bytes([1] * 16))
    b = write(dataset_sections([[4], [5, 6]], 300), dataset_id=bytes([2] * 16))
    m = _manifest(tmp_path, [a, b])
    # Reading rows needs no sources.
    assert len(tokpack.Rows(m, 2)) == 2
    for call in (lambda: m.sources, m.source_counts, lambda: m.source_filter(["web"]),
                 lambda: tokpack.Rows(m, 2, sources=["web"]), lambda: m.source(0)):
        with pytest.raises(tokpack.ManifestError, match="shard 1 .shard1.tpk. has no source ids") as e:
            call()
        assert e.value.code == "missing_sources"


def test_manifest_without_any_sources(tmp_path):
    a = write(dataset_sections([[1, 2], [3]], 300), dataset_id=bytes([1] * 16))
    m = _manifest(tmp_path, [a, a], name="n.manifest.json")
    assert m.sources is None and m.document_sources() is None and not m.has_sources
    with pytest.raises(ValueError, match="no source ids"):
        tokpack.Rows(m, 2, sources=["web"])


def test_manifest_bad_source_in_a_shard(tmp_path):
    a = write_sourced([[1, 2], [3]], 300, ["web"], [0, 0], dataset_id=bytes([1] * 16))
    b = write_sourced([[4], [5, 6]], 300, ["code"], [0, 1], dataset_id=bytes([2] * 16))
    m = _manifest(tmp_path, [a, b])
    assert m.sources == ("web", "code") and m.source(2) == "code"
    with pytest.raises(tokpack.TokpackError) as e:
        m.source(3)
    assert e.value.code == "bad_source"
    with pytest.raises(tokpack.TokpackError) as e:
        m.source_counts()
    assert e.value.code == "bad_source"
    with pytest.raises(tokpack.ManifestError) as e:
        m.verify()
    assert [k for k, _, _ in e.value.failures] == [1]
