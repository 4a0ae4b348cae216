"""The golden files of spec/vectors (spec section 10): dataset vectors (``valid/``,
``invalid/``), plan vectors (``plans/``, ``plans_invalid/``) and overlay vectors
(``overlays/``, ``overlays_invalid/``). Every file present is tested; a folder that
does not exist yet is a skip."""

import json
from pathlib import Path

import pytest

import tokpack
from json_values import differences
from tokpack import placement
from spec_planner import make_plan

VECTORS = Path(__file__).resolve().parent / ".." / ".." / ".." / "spec" / "vectors"


# Vectors whose .json disagrees with spec/FORMAT.md (and this reader), by name, with
# the reason; each becomes a strict xfail. Empty since the spec revision of 1.0.
KNOWN_VECTOR_DISAGREEMENTS = {}
# Plan vectors whose rows are not the ones 12.3 says tokpack's planner makes (a reader
# needs only 12.2, so they would still read as their .json says), with the reason.
# Empty since the spec revision of 12.3 (bfd ties, version 1.2).
KNOWN_PLANNER_DISAGREEMENTS = {}


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
    # Since 1.3: each document's source name, or null without DOC_SOURCES (absent
    # from older vector files: null).
    want_sources = want.get("document_sources")
    assert ds.document_sources() == want_sources
    assert ds.has_sources == (want_sources is not None)
    if want_sources is None:
        assert ds.sources is None and ds.doc_sources is None
        with pytest.raises(ValueError):
            ds.source_counts()
        with pytest.raises(ValueError):
            tokpack.Rows(ds, 8, sources=["web"])
        return
    assert list(ds.sources) == want["metadata"]["sources"]
    assert [ds.source(i) for i in range(ds.num_documents)] == want_sources
    assert [ds.sources[ds.source_id(i)] for i in range(ds.num_documents)] == want_sources
    counts = ds.source_counts()
    assert list(counts) == list(ds.sources)
    for name in ds.sources:
        mine = [d for d, s in zip(want["documents"], want_sources) if s == name]
        assert counts[name] == {"documents": len(mine), "tokens": sum(map(len, mine))}
    # 12.5: the filtered stream is the selected documents, in order, with their masks.
    for name in set(want_sources):
        f = ds.source_filter([name])
        picked = [i for i, s in enumerate(want_sources) if s == name]
        assert f.selected_documents.tolist() == picked
        assert f.tokens.tolist() == [t for i in picked for t in want["documents"][i]]
        if want["loss_mask"] is not None:
            assert f.loss_mask_range(0, f.num_tokens).astype(int).tolist() == [
                b for i in picked for b in want["loss_mask"][i]]


@pytest.mark.parametrize("tpk", vector_files("valid"))
def test_valid_vector_section_flags(tpk):
    """Section 4: "Writers set the required flag on kinds 1 to 4 and leave it clear on
    kind 11" (so that a 1.2 reader skips DOC_SOURCES, 8)."""
    ds = tokpack.open(tpk)
    for s in ds.sections:
        if s["kind"] in (1, 2, 3, 4):
            assert s["required"], s
        elif s["kind"] == 11:
            assert not s["required"], s


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


@pytest.mark.parametrize("tpk", vector_files("invalid"))
def test_invalid_vector_unverified_reads(tpk):
    """Reading documents of an invalid file that opens: only TokpackError comes out,
    and a bad compressed block (5.6) is ``bad_block`` when a read needs it, naming
    the block."""
    want = expectation(tpk)
    if want["stage"] != "verify":
        return
    ds = tokpack.open(tpk)
    codes = set()
    for i in range(ds.num_documents):
        try:
            ds.document(i)
            ds.loss_mask(i)
        except tokpack.TokpackError as err:
            codes.add(err.code)
    if want["error"] == "bad_block":
        assert codes == {"bad_block"}, (tpk.stem, codes)


@pytest.mark.parametrize("tpk", vector_files("valid"))
def test_valid_vector_rows_as_raw(tpk):
    """Rows of every valid vector equal those of the same documents stored raw (the
    compressed vectors of 1.4 included: 5.6, "everything else is unchanged")."""
    from spec_writer import write_dataset

    want = expectation(tpk)
    ds = tokpack.open(tpk)
    masks = want["loss_mask"]
    names = want.get("document_sources")
    raw = tokpack.Dataset.from_buffer(write_dataset(
        want["documents"], want["vocab_size"], masks,
        token_dtype_code={"u8": 1, "u16": 2, "u32": 3}[want["dtype"]],
        metadata=want["metadata"], doc_sources=None if names is None else [
            want["metadata"]["sources"].index(n) for n in names]))
    for L in (1, 3, 16):
        for boundaries in (False, True):
            a = tokpack.Rows(raw, L, tail="pad", mask_document_boundaries=boundaries)
            b = tokpack.Rows(ds, L, tail="pad", mask_document_boundaries=boundaries)
            assert len(a) == len(b)
            for i in range(len(a)):
                for k, v in a.row(i).items():
                    assert b.row(i)[k].tolist() == v.tolist(), (L, i, k)


# -- plan vectors (section 10: plans/, plans_invalid/) ----------------------------------

PLAN_STAGES = ("open", "verify", "bind", "verify_against")


@pytest.mark.parametrize("tpk", vector_files("plans"))
def test_plan_vector(tpk):
    want = expectation(tpk)
    plan = tokpack.open_plan(tpk)
    plan.verify()
    ds = tokpack.open(VECTORS / want["dataset"])
    plan.verify_against(ds)
    # `plan` is the "plan" metadata object, as stored.
    assert plan.info == want["plan"]
    assert not differences(plan.info, want["plan"])
    assert plan.version[0] == 1
    rows = tokpack.Rows(ds, plan=plan)
    assert rows.pad_id == want["pad_id"]
    assert len(rows) == plan.num_rows == len(want["rows"])
    got = [{k: v.tolist() for k, v in rows.row(i).items()} for i in range(len(rows))]
    for i, (mine, theirs) in enumerate(zip(got, want["rows"])):
        assert mine == theirs, f"row {i}"
    if plan.strategy == "contiguous":
        masked = tokpack.Rows(ds, plan=plan, mask_document_boundaries=True)
        got = [{k: v.tolist() for k, v in masked.row(i).items()} for i in range(len(masked))]
        assert got == want["rows_mask_document_boundaries"]
        # The same view without the plan file.
        plain = tokpack.Rows(ds, plan.seq_len, tail=plan.tail)
        assert [{k: v.tolist() for k, v in plain.row(i).items()} for i in range(len(plain))] == want["rows"]
    else:
        assert want["rows_mask_document_boundaries"] is None


@pytest.mark.parametrize("tpk", [
    pytest.param(p.values[0], id=p.id, marks=[pytest.mark.xfail(
        reason=KNOWN_PLANNER_DISAGREEMENTS[p.id], strict=True)]
        if p.id in KNOWN_PLANNER_DISAGREEMENTS else p.marks)
    for p in vector_files("plans")])
def test_plan_vector_is_cut_as_12_3_says(tpk):
    """The plan's segments are the ones the rules of 12.3 (and 12.1) make from the
    dataset's document lengths (``tests/spec_planner.py``)."""
    want = expectation(tpk)
    plan = tokpack.open_plan(tpk)
    ds = tokpack.open(VECTORS / want["dataset"])
    lengths = [len(ds.document(i)) for i in range(ds.num_documents)]
    spec = make_plan(lengths, plan.seq_len, plan.strategy, long_docs=plan.long_docs or "split",
                     tail=plan.tail or "drop")
    assert plan.info == spec.info(ds.dataset_id, ds.num_tokens, ds.num_documents)
    rows = [[tuple(s) for s in plan.segments[int(plan.rows[r]):int(plan.rows[r + 1])].tolist()]
            for r in range(plan.num_rows)] if plan.strategy != "contiguous" else spec.rows
    assert rows == spec.rows


@pytest.mark.parametrize("tpk", vector_files("plans_invalid"))
def test_invalid_plan_vector(tpk):
    want = expectation(tpk)
    assert want["stage"] in PLAN_STAGES, want
    assert want["error"] in tokpack.ERROR_CODES, want
    stage, code = want["stage"], want["error"]
    if stage == "open":
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.open_plan(tpk)
        assert info.value.code == code, f"{want['why']}: got {info.value}"
        return
    plan = tokpack.open_plan(tpk)
    ds = tokpack.open(VECTORS / want["dataset"])
    if stage == "verify":
        with pytest.raises(tokpack.TokpackError) as info:
            plan.verify()
    elif stage == "bind":
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.Rows(ds, plan=plan)
        assert info.value.code == code, f"{want['why']}: got {info.value}"
        with pytest.raises(tokpack.TokpackError) as info:
            plan.check_dataset(ds)
    else:
        plan.verify()
        plan.check_dataset(ds)
        with pytest.raises(tokpack.TokpackError) as info:
            plan.verify_against(ds)
    assert info.value.code == code, f"{want['why']}: got {info.value}"


# -- overlay vectors (section 10: overlays/, overlays_invalid/) ------------------------


def overlay_view(want, *overlays):
    """The view an overlay vector names: its plan vector, or the contiguous view of
    ``seq_len`` (the tail whose row count is the overlay's ``rows``)."""
    ds = tokpack.open(VECTORS / want["dataset"])
    if want["plan"] is not None:
        plan = tokpack.open_plan(VECTORS / want["plan"])
        plan.verify_against(ds)
        return ds, tokpack.Rows(ds, want["seq_len"], plan=plan, overlays=overlays)
    tails = [t for t in ("drop", "pad") if len(tokpack.Rows(ds, want["seq_len"], tail=t)) ==
             (overlays[0].num_rows if overlays else len(tokpack.Rows(ds, want["seq_len"])))]
    return ds, tokpack.Rows(ds, want["seq_len"], tail=tails[0], overlays=overlays)


@pytest.mark.parametrize("tpk", vector_files("overlays"))
def test_overlay_vector(tpk):
    want = expectation(tpk)
    ov = tokpack.open_overlay(tpk)
    ov.verify()
    assert ov.info == want["overlay"]
    assert not differences(ov.info, want["overlay"])
    assert ov.version == (1, 2)
    ds, rows = overlay_view(want, ov)
    ov.check_binding(ds, rows)
    assert len(rows) == ov.num_rows == len(want["rows"])
    for i in range(len(rows)):
        assert {k: v.tolist() for k, v in rows.row(i).items()} == want["rows"][i], f"row {i}"
    assert ov.export_rows() == want["insertions"]


@pytest.mark.parametrize("tpk", vector_files("overlays"))
def test_overlay_vector_is_placed_as_14_says(tpk):
    """Re-running section 14 from the vector's ``random`` description (spec 10: the
    ``explicit_first`` insertions as ``[position, tokens, flag]``, split at row
    boundaries, then the sequences, EOS-wrapped when ``wrap_eos`` is not null, into
    ``rows`` with ``seed`` and ``max_tries``, target flag 1) gives exactly the stored
    insertions, flags included."""
    want = expectation(tpk)
    ov = tokpack.open_overlay(tpk)
    r = want["random"]
    assert all(len(item) == 3 and item[2] in (0, 1) for item in r["explicit_first"]), r
    done = placement.place(
        want["seq_len"], ov.num_rows, explicit=r["explicit_first"], split_across_rows=True,
        sequences=r["sequences"], rows=tuple(r["rows"]), seed=r["seed"],
        max_tries=r["max_tries"], wrap_eos_id=r["wrap_eos"], vocab_size=ov.vocab_size)
    assert done.positions == ov.positions.tolist()
    assert done.rows_dict() == want["insertions"]
    assert sum(len(t) for _, t, _ in done.insertions) == ov.num_tokens
    assert [f for _, _, f in done.insertions] == ov.flags.tolist()
    assert len(done.insertions) == want["overlay"]["insertions"] == ov.num_insertions


@pytest.mark.parametrize("tpk", vector_files("overlays_invalid"))
def test_invalid_overlay_vector(tpk):
    want = expectation(tpk)
    assert want["stage"] in ("open", "verify", "bind"), want
    assert want["error"] in tokpack.ERROR_CODES, want
    if want["stage"] == "open":
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.open_overlay(tpk)
    elif want["stage"] == "verify":
        ov = tokpack.open_overlay(tpk)
        with pytest.raises(tokpack.TokpackError) as info:
            ov.verify()
    else:
        ov = tokpack.open_overlay(tpk)
        ov.verify()
        # "bind": the contiguous view of the dataset at seq_len (spec/vectors/README.md).
        assert want["plan"] is None
        ds = tokpack.open(VECTORS / want["dataset"])
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.Rows(ds, want["seq_len"], overlays=[ov])
    assert info.value.code == want["error"], f"{want['why']}: got {info.value}"


@pytest.mark.parametrize("tpk", [
    p for p in vector_files("overlays_invalid")
    if p.values[0] is None or expectation(p.values[0])["stage"] == "verify"])
def test_rows_through_an_unverified_invalid_overlay_vector(tpk):
    """13.2: reading rows through an overlay that was not verified, each insertion a
    row applies is checked (``bad_overlay``); a row never fails otherwise, and
    ``overlay_positions_out_of_order`` (positions [20, 3] at L = 16) is refused in
    row 0."""
    want = expectation(tpk)
    assert want["plan"] is None
    ov = tokpack.open_overlay(tpk)
    rows = tokpack.Rows(tokpack.open(VECTORS / want["dataset"]), want["seq_len"], overlays=[ov])
    codes = set()
    for i in range(len(rows)):
        try:
            rows.row(i)
        except tokpack.TokpackError as err:
            codes.add(err.code)
    assert codes <= {"bad_overlay"}, codes
    if tpk.stem == "overlay_positions_out_of_order":
        with pytest.raises(tokpack.TokpackError) as info:
            rows.row(0)
        assert info.value.code == "bad_overlay"


@pytest.mark.parametrize("kind", ["valid", "invalid", "plans", "plans_invalid", "overlays",
                                  "overlays_invalid"])
def test_every_vector_has_its_json(kind):
    folder = VECTORS / kind
    if not folder.is_dir():
        pytest.skip(f"no spec/vectors/{kind} yet")
    for tpk in folder.glob("*.tpk"):
        assert tpk.with_suffix(".json").is_file(), tpk
