"""Plans and rows against the Rust implementation, used as a black box (its CLI).

Random datasets (seeded numpy) are built with ``tokpack build`` and cut with
``tokpack pack`` for every strategy and option and a few ``L``; this reader must open
and verify each plan against its dataset, give the plan figures the CLI prints, and
give every sampled row exactly as ``tokpack row --json`` prints it. The plan
catalogue (``plan_catalog.py``) goes the other way: the CLI must accept the valid
plans and refuse the bad ones with the spec's code.

Where the CLI disagrees with the spec (and this reader), the test is a strict xfail
with the reason (``KNOWN_*`` below; README, "Known disagreements").
"""

import json

import numpy as np
import pytest

import plan_catalog
import tokpack
from cli_tool import cli, error_code, needs_cli
from json_values import differences
from spec_planner import make_plan, pieces

pytestmark = needs_cli

# name: (seed, vocab_size, n_docs, mask mode "all" | "none" | "some", build flags)
DATASETS = {
    "u8_masked_pad_eos": (21, 200, 60, "all", ["--pad-id", 5, "--eos-id", 199]),
    "u8_vocab_256_unmasked": (22, 256, 40, "none", []),
    "u16_some_masks_eos": (23, 50_000, 50, "some", ["--eos-id", 49_999]),
    "u16_masked_no_ids": (24, 65_536, 30, "all", []),
    "u32_masked_pad": (25, 100_000, 45, "all", ["--pad-id", 99_999]),
    "u32_vocab_2_32_eos": (26, 2**32, 25, "none", ["--eos-id", 2**32 - 1]),
    "one_token": (27, 10, 1, "all", []),
    "no_documents": (28, 10, 0, "none", []),
}
SEQ_LENS = (3, 16, 61)
VIEWS = [
    ("contiguous", {"tail": "drop"}),
    ("contiguous", {"tail": "pad"}),
    ("doc-aligned", {"long-docs": "split"}),
    ("doc-aligned", {"long-docs": "truncate"}),
    ("bfd", {"long-docs": "split"}),
    ("bfd", {"long-docs": "truncate"}),
]
#: Figures `tokpack pack --json` prints besides the plan object's keys.
PACK_ONLY_FIGURES = {"fill", "seconds"}


def documents(seed, vocab_size, n_docs, mask_mode):
    """Empty documents, documents longer than every L, the largest id."""
    rng = np.random.default_rng(seed)
    docs, masks = [], []
    for i in range(n_docs):
        length = 1 if n_docs == 1 else 0 if i % 6 == 2 else int(rng.integers(1, 150))
        ids = rng.integers(0, vocab_size, length, dtype=np.int64)
        if length:
            ids[-1] = vocab_size - 1
        docs.append(ids.tolist())
        if mask_mode == "all" or (mask_mode == "some" and i % 3):
            masks.append(rng.integers(0, 2, length).tolist())
        else:
            masks.append(None)
    return docs, masks


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plans")
    out = {}
    for name, (seed, vocab_size, n_docs, mask_mode, flags) in DATASETS.items():
        docs, masks = documents(seed, vocab_size, n_docs, mask_mode)
        jsonl = folder / f"{name}.jsonl"
        with open(jsonl, "w") as f:
            for ids, mask in zip(docs, masks):
                f.write(json.dumps({"input_ids": ids, **({"loss_mask": mask} if mask else {})}) + "\n")
        tpk = folder / f"{name}.tpk"
        cli("build", jsonl, "-o", tpk, "--vocab-size", vocab_size, "--no-sync", *flags)
        out[name] = (tpk, docs)
    out["folder"] = folder
    return out


def pack(built, name, strategy, options, seq_len):
    tpk, _ = built[name]
    opts = [x for key, value in options.items() for x in (f"--{key}", value)]
    plan_path = built["folder"] / f"{name}.{strategy}.{'.'.join(options.values())}.{seq_len}.tpk"
    figures = json.loads(cli("pack", tpk, "--seq-len", seq_len, "--strategy", strategy, *opts,
                             "-o", plan_path, "--no-sync", "--json").stdout)
    return plan_path, figures


def cli_row(tpk, seq_len, index, *extra):
    return json.loads(cli("row", tpk, "--seq-len", seq_len, "--index", index, "--json", *extra).stdout)


def mine(row):
    return {key: value.tolist() for key, value in row.items()}


def sample(n_rows, seed, k=4):
    if not n_rows:
        return []
    rng = np.random.default_rng(seed)
    return sorted({0, n_rows - 1, n_rows // 2, *rng.integers(0, n_rows, k).tolist()})


CASES = [pytest.param(name, strategy, options, seq_len,
                      id=f"{name}-{strategy}-{'-'.join(options.values())}-L{seq_len}")
         for name in DATASETS for strategy, options in VIEWS for seq_len in SEQ_LENS]


@pytest.mark.parametrize("name,strategy,options,seq_len", CASES)
def test_plan_and_rows_agree(built, name, strategy, options, seq_len):
    tpk, docs = built[name]
    plan_path, figures = pack(built, name, strategy, options, seq_len)
    ds = tokpack.open(tpk)
    plan = tokpack.open_plan(plan_path)
    plan.verify()
    plan.verify_against(ds)
    cli("verify", plan_path, "--dataset", tpk)
    # The plan figures: `info --json` of the plan, and what `pack --json` printed.
    info = json.loads(cli("info", plan_path, "--json").stdout)
    assert not differences(plan.info, info["plan"])
    assert tuple(info["version"]) == plan.version == (1, 1)
    assert not differences(plan.info, {k: v for k, v in figures.items() if k not in PACK_ONLY_FIGURES})
    # The figures and rows are the ones spec 12.1 / 12.3 make.
    spec = make_plan([len(d) for d in docs], seq_len, strategy.replace("-", "_"),
                     long_docs=options.get("long-docs", "split"), tail=options.get("tail", "drop"))
    assert plan.info == spec.info(ds.dataset_id, ds.num_tokens, ds.num_documents)
    if plan.strategy != "contiguous":
        assert rows_of(plan) == spec.rows
    # Every token of every document in exactly one row, or counted as truncated.
    covered = np.zeros(ds.num_tokens + 1, dtype=np.int64)
    if plan.strategy == "contiguous":
        covered[0:min(plan.num_rows * seq_len, ds.num_tokens)] += 1
    else:
        np.add.at(covered, plan.segments[:, 0].astype(np.int64), 1)
        np.add.at(covered, (plan.segments[:, 0] + plan.segments[:, 1]).astype(np.int64), -1)
        covered = np.cumsum(covered)
    covered = covered[:ds.num_tokens]
    assert covered.max(initial=0) <= 1
    assert int((covered == 0).sum()) == plan.truncated_tokens
    # Rows, sampled.
    rows = tokpack.Rows(ds, plan=plan)
    for i in sample(len(rows), seq_len):
        assert mine(rows.row(i)) == cli_row(tpk, seq_len, i, "--plan", plan_path), f"row {i}"
    if plan.strategy != "contiguous":
        for i in sample(len(rows), seq_len + 1, k=1):
            got = tokpack.Rows(ds, plan=plan, pad_id=12345).row(i)
            assert mine(got) == cli_row(tpk, seq_len, i, "--plan", plan_path, "--pad-id", 12345)
    assert cli("row", tpk, "--seq-len", seq_len, "--index", len(rows), "--plan", plan_path,
               "--json", check=False).returncode != 0


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("tail", ["drop", "pad"])
@pytest.mark.parametrize("boundaries", [False, True], ids=["", "mask_boundaries"])
def test_contiguous_view_without_plan_agrees(built, name, tail, boundaries):
    tpk, _ = built[name]
    ds = tokpack.open(tpk)
    flags = ["--tail", tail] + (["--mask-boundaries"] if boundaries else [])
    for seq_len in (1, 7, 64):
        rows = tokpack.Rows(ds, seq_len, tail=tail, mask_document_boundaries=boundaries)
        for i in sample(len(rows), seq_len, k=2):
            assert mine(rows.row(i)) == cli_row(tpk, seq_len, i, *flags), (seq_len, i)
            assert rows.tokens(i).tolist() == ds.tokens[i * seq_len:(i + 1) * seq_len + 1].tolist()
        if len(rows):
            i = len(rows) - 1
            got = tokpack.Rows(ds, seq_len, tail=tail, mask_document_boundaries=boundaries, pad_id=3)
            assert mine(got.row(i)) == cli_row(tpk, seq_len, i, *flags, "--pad-id", 3)
        assert cli("row", tpk, "--seq-len", seq_len, "--index", len(rows), *flags,
                   "--json", check=False).returncode != 0


def bfd_placements(lengths, seq_len, long_docs, rows):
    """Replay 12.3's best-fit decreasing over the CLI's rows: every piece must go
    into a row with the least room that still holds it, or open a new row when none
    does; rows are numbered in the order they were opened. Returns the pieces where
    rows of equal least room were tied and the CLI did not pick the row that came to
    have that room most recently (the top of that room's stack)."""
    ps, _, _ = pieces(lengths, seq_len, long_docs)
    where = {seg: r for r, row in enumerate(rows) for seg in row}
    order = sorted(range(len(ps)), key=lambda k: -ps[k][1])
    room, since, placed_in_row, ties_broken_otherwise = [], [], [[] for _ in rows], []
    assert sorted(where) == sorted(ps), "the CLI's segments are not the pieces of 12.3"
    for step, k in enumerate(order):
        seg = ps[k]
        r = where[seg]
        fits = [q for q in range(len(room)) if room[q] >= seg[1]]
        if not fits:
            assert r == len(room), f"piece {seg} should open row {len(room)}, went to {r}"
            room.append(seq_len)
            since.append(step)
        else:
            least = min(room[q] for q in fits)
            assert r in fits and room[r] == least, f"piece {seg} went to row {r}, not best fit"
            if r != max((q for q in fits if room[q] == least), key=lambda q: since[q]):
                ties_broken_otherwise.append(seg)
        room[r] -= seg[1]
        since[r] = step
        placed_in_row[r].append(seg)
    assert placed_in_row == [list(row) for row in rows], "segments not in placement order"
    return ties_broken_otherwise


def rows_of(plan):
    return [[tuple(s) for s in plan.segments[int(plan.rows[r]):int(plan.rows[r + 1])].tolist()]
            for r in range(plan.num_rows)]


@pytest.mark.parametrize("name", [n for n in DATASETS if DATASETS[n][2] > 1])
@pytest.mark.parametrize("long_docs", ["split", "truncate"])
def test_plans_follow_12_3(built, name, long_docs):
    """doc_aligned and bfd plans equal the spec planner's; bfd plans are best fit
    decreasing with 12.3's tie rule (replayed independently of the planner)."""
    _, docs = built[name]
    lengths = [len(d) for d in docs]
    for seq_len in SEQ_LENS:
        plan = tokpack.open_plan(pack(built, name, "doc-aligned", {"long-docs": long_docs}, seq_len)[0])
        assert rows_of(plan) == make_plan(lengths, seq_len, "doc_aligned", long_docs).rows
        plan = tokpack.open_plan(pack(built, name, "bfd", {"long-docs": long_docs}, seq_len)[0])
        assert bfd_placements(lengths, seq_len, long_docs, rows_of(plan)) == []
        assert rows_of(plan) == make_plan(lengths, seq_len, "bfd", long_docs).rows


def test_bfd_ties_go_to_the_row_that_reached_that_room_last(tmp_path):
    """12.3: documents of 6, 6, 3, 3, 1 tokens, L = 10. Rows 0 and 1 both reach room 1;
    row 0 reached it last, so the 1-token piece goes to row 0."""
    lengths = [6, 6, 3, 3, 1]
    jsonl = tmp_path / "tie.jsonl"
    jsonl.write_text("".join(json.dumps({"input_ids": list(range(n))}) + "\n" for n in lengths))
    cli("build", jsonl, "-o", tmp_path / "tie.tpk", "--vocab-size", 10, "--no-sync")
    cli("pack", tmp_path / "tie.tpk", "--seq-len", 10, "--strategy", "bfd", "-o",
        tmp_path / "plan.tpk", "--no-sync")
    got = rows_of(tokpack.open_plan(tmp_path / "plan.tpk"))
    assert bfd_placements(lengths, 10, "split", got) == []
    assert got == make_plan(lengths, 10, "bfd").rows == [[(0, 6), (15, 3), (18, 1)], [(6, 6), (12, 3)]]


@pytest.mark.parametrize("strategy", ["doc-aligned", "bfd"])
def test_a_document_of_a_multiple_of_l_splits_without_an_empty_piece(tmp_path, strategy):
    """11.1 / 12.3: a document whose length is a multiple of L is split into pieces of
    exactly L (no empty last piece)."""
    lengths = [8, 3, 12]
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(json.dumps({"input_ids": list(range(n))}) + "\n" for n in lengths))
    cli("build", jsonl, "-o", tmp_path / "d.tpk", "--vocab-size", 16, "--no-sync")
    cli("pack", tmp_path / "d.tpk", "--seq-len", 4, "--strategy", strategy, "--long-docs",
        "split", "-o", tmp_path / "p.tpk", "--no-sync")
    plan = tokpack.open_plan(tmp_path / "p.tpk")
    plan.verify_against(tokpack.open(tmp_path / "d.tpk"))
    assert sorted(plan.segments[:, 1].tolist()) == [3] + [4] * 5
    assert (plan.split_documents, plan.truncated_tokens, plan.tokens) == (2, 0, 23)
    spec = make_plan(lengths, 4, strategy.replace("-", "_"), long_docs="split")
    assert rows_of(plan) == spec.rows


# -- the plan catalogue, read by the CLI -----------------------------------------------

#: Catalogue plans the CLI does not refuse with the spec's code, with the reason.
KNOWN_CLI_PLAN_DISAGREEMENTS = {}
KNOWN_CLI_VALID_PLAN_DISAGREEMENTS = {}


def _marks(name, known=KNOWN_CLI_PLAN_DISAGREEMENTS):
    return [pytest.mark.xfail(reason=known[name], strict=True)] if name in known else []


@pytest.fixture(scope="module")
def catalogue_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("catalogue") / "dataset.tpk"
    path.write_bytes(plan_catalog.dataset_bytes())
    return path


@pytest.mark.parametrize("name,data", [
    pytest.param(n, d, id=n, marks=_marks(n, KNOWN_CLI_VALID_PLAN_DISAGREEMENTS))
    for n, d in plan_catalog.valid_plans()])
def test_cli_reads_valid_catalogue_plans(tmp_path, catalogue_dataset, name, data):
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    cli("verify", path, "--dataset", catalogue_dataset)
    plan = tokpack.open_plan(path)
    ds = tokpack.open(catalogue_dataset)
    rows = tokpack.Rows(ds, plan=plan)
    for i in range(len(rows)):
        assert mine(rows.row(i)) == cli_row(catalogue_dataset, plan.seq_len, i, "--plan", path)


@pytest.mark.parametrize("name,data,code,stage", [
    pytest.param(n, d, c, s, id=n, marks=_marks(n)) for n, d, c, s in plan_catalog.invalid_plans()])
def test_cli_refuses_invalid_catalogue_plans(tmp_path, catalogue_dataset, name, data, code, stage):
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    if stage == "open":
        # `tokpack row --plan` opens the file as a plan (11.4) whatever it holds.
        result = cli("row", catalogue_dataset, "--plan", path, "--seq-len", 4, "--index", 0,
                     "--json", check=False)
    else:
        result = cli("verify", path, "--dataset", catalogue_dataset, check=False)
        if stage == "verify":
            alone = cli("verify", path, check=False)
            assert alone.returncode != 0 and error_code(alone) == code, alone.stderr
        if code == "wrong_dataset":
            in_row = cli("row", catalogue_dataset, "--plan", path, "--seq-len", 4, "--index", 0,
                         "--json", check=False)
            assert in_row.returncode != 0 and error_code(in_row) == code, in_row.stderr
    assert result.returncode != 0, f"the CLI accepts {name}: {result.stdout}"
    assert error_code(result) == code, f"{name}: CLI says {result.stderr.strip()}"


@pytest.mark.parametrize("name,data,row,code", [
    pytest.param(n, d, r, c, id=n) for n, d, r, c in plan_catalog.invalid_rows()])
def test_cli_checks_rows_of_unverified_plans(tmp_path, catalogue_dataset, name, data, row, code):
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    result = cli("row", catalogue_dataset, "--plan", path, "--seq-len", 4, "--index", row,
                 "--json", check=False)
    assert result.returncode != 0 and error_code(result) == code, result.stderr


#: `tokpack verify FILE` and `tokpack info FILE` take a dataset, plan or overlay file and
#: open it with the reader of its kind: a bad plan file gets 11.4's code.
@pytest.mark.parametrize("name", [
    pytest.param(n, id=n, marks=_marks(n)) for n in (
        "contiguous_drop_rows_2", "long_docs_absent", "padding_tokens_wrong",
        "contiguous_with_plan_rows", "contiguous_tokens_wrong", "seq_len_2_24_plus_1",
        "writer_number")])
@pytest.mark.parametrize("command", ["verify", "info"])
def test_cli_verify_names_the_plan_error(tmp_path, name, command):
    _, data, code, _ = next(c for c in plan_catalog.invalid_plans() if c[0] == name)
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    result = cli(command, path, check=False)
    assert result.returncode != 0
    assert error_code(result) == code, result.stderr
