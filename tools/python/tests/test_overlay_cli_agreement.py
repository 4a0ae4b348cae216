"""Overlays against the Rust implementation, used as a black box (its CLI).

Random datasets (seeded numpy) are built with ``tokpack build``; views are the
contiguous view (tail dropped or padded) and plan files from ``tokpack pack``
(contiguous, doc-aligned, bfd). ``tokpack insert`` places explicit insertions (split
across rows) and random sequences (EOS-wrapped, ``--max-tries``, ``--allow-drop``,
``--not-targets``); this reader must

- place the same insertions from the same input and seed (``tokpack.placement``:
  ``tokpack export-insertions`` and the figures ``insert`` prints),
- open and verify the CLI's overlay, bound to the view, and give every sampled row
  exactly as ``tokpack row --json --overlay`` prints it, with one or two overlays,
- refuse what the CLI refuses (overlapping explicit insertions, overlapping overlays:
  ``insertion_overlap``; spans crossing a row without splitting).

The overlay catalogue (``overlay_catalog.py``) goes the other way: the CLI must accept
the valid overlays and refuse the bad ones with the spec's code. Where it does not,
the test is a strict xfail with the reason (``KNOWN_*`` below; README, "Known
disagreements").
"""

import json
import re

import numpy as np
import pytest

import overlay_catalog as cat
import tokpack
from cli_tool import cli, error_code, expected_verify_code, needs_cli
from tokpack import placement

pytestmark = needs_cli

# name: (seed, vocab_size, n_docs, build flags)
DATASETS = {
    "u8_pad_eos": (31, 200, 40, ["--pad-id", 5, "--eos-id", 199]),
    "u16_eos": (32, 50_000, 30, ["--eos-id", 49_999]),
    "u32": (33, 100_000, 25, []),
}
# (dataset, view id, seq_len, plan strategy and options or None, tail of the view)
VIEWS = [
    ("u8_pad_eos", "contiguous-drop-L16", 16, None, "drop"),
    ("u8_pad_eos", "bfd-split-L16", 16, ("bfd", ["--long-docs", "split"]), None),
    ("u16_eos", "contiguous-pad-L5", 5, None, "pad"),
    ("u16_eos", "doc-aligned-truncate-L7", 7, ("doc-aligned", ["--long-docs", "truncate"]), None),
    ("u32", "contiguous-plan-pad-L16", 16, ("contiguous", ["--tail", "pad"]), None),
    ("u32", "bfd-truncate-L3", 3, ("bfd", ["--long-docs", "truncate"]), None),
]


def documents(seed, vocab_size, n_docs):
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n_docs):
        length = 0 if i % 7 == 3 else int(rng.integers(1, 60))
        docs.append(rng.integers(0, vocab_size, length, dtype=np.int64).tolist())
    masks = [rng.integers(0, 2, len(d)).tolist() if i % 2 else None for i, d in enumerate(docs)]
    return docs, masks


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("overlays")
    out = {"folder": folder}
    for name, (seed, vocab_size, n_docs, flags) in DATASETS.items():
        docs, masks = documents(seed, vocab_size, n_docs)
        jsonl = folder / f"{name}.jsonl"
        with open(jsonl, "w") as f:
            for ids, mask in zip(docs, masks):
                f.write(json.dumps({"input_ids": ids, **({"loss_mask": mask} if mask else {})}) + "\n")
        tpk = folder / f"{name}.tpk"
        cli("build", jsonl, "-o", tpk, "--vocab-size", vocab_size, "--no-sync", *flags)
        out[name] = tpk
    for name, view_id, seq_len, plan, _ in VIEWS:
        if plan is not None:
            path = folder / f"{name}.{view_id}.plan.tpk"
            cli("pack", out[name], "--seq-len", seq_len, "--strategy", plan[0], *plan[1],
                "-o", path, "--no-sync")
            out[view_id] = path
    return out


class View:
    """A view on both sides: this reader's ``Rows`` and the CLI's view flags."""

    def __init__(self, built, name, view_id, seq_len, plan, tail):
        self.folder = built["folder"]
        self.tpk = built[name]
        self.ds = tokpack.open(self.tpk)
        self.seq_len = seq_len
        self.plan = tokpack.open_plan(built[view_id]) if plan is not None else None
        self.tail = tail
        self.flags = ["--seq-len", seq_len] + (
            ["--plan", built[view_id]] if plan is not None else ["--tail", tail])
        self.id = view_id

    def rows(self, *overlays, **kwargs):
        if self.plan is not None:
            return tokpack.Rows(self.ds, plan=self.plan, overlays=overlays, **kwargs)
        return tokpack.Rows(self.ds, self.seq_len, tail=self.tail, overlays=overlays, **kwargs)

    def cli_row(self, i, *overlays):
        extra = [x for ov in overlays for x in ("--overlay", ov)]
        return json.loads(cli("row", self.tpk, *self.flags, "--index", i, "--json", *extra).stdout)


@pytest.fixture(params=VIEWS, ids=[v[1] for v in VIEWS])
def view(request, built):
    return View(built, *request.param)


def mine(row):
    return {key: value.tolist() for key, value in row.items()}


def insert(view, out, *args, check=True):
    return cli("insert", view.tpk, *view.flags, *args, "-o", out, "--no-sync", check=check)


def figures(stdout):
    """What `tokpack insert` prints: explicit count, placed, collisions, dropped
    indices (no free place) and the indices dropped by EOS wrapping."""
    got = {}
    m = re.search(r"explicit: \d+ insertions \((\d+) after splitting", stdout)
    got["explicit"] = int(m.group(1)) if m else 0
    m = re.search(r"random: (\d+) of \d+ sequences placed", stdout)
    got["placed"] = int(m.group(1)) if m else 0
    m = re.search(r"collisions avoided: (\d+)", stdout)
    got["collisions"] = int(m.group(1)) if m else 0
    m = re.search(r"dropped \(no free place\): \d+ sequences, indices \[([\d, ]*)\]", stdout)
    got["dropped"] = [int(x) for x in m.group(1).split(",") if x.strip()] if m else []
    m = re.search(r"dropped by EOS wrapping[^\n]*indices \[([\d, ]*)\]", stdout)
    got["dropped_by_wrapping"] = [int(x) for x in m.group(1).split(",") if x.strip()] if m else []
    return got


def compare_rows(view, ov, path, placed, *more):
    """The CLI's overlay as this reader reads it, and sampled rows on both sides."""
    ov.verify()
    rows = view.rows(ov, *[m for m, _ in more])
    assert ov.num_rows == len(rows)
    with_insertions = sorted({p // view.seq_len for p in placed})
    rng = np.random.default_rng(len(placed))
    sample = sorted(set(with_insertions[:4] + with_insertions[-2:] +
                        rng.integers(0, len(rows), 2).tolist())) if len(rows) else []
    for i in sample:
        assert mine(rows.row(i)) == view.cli_row(i, path, *[p for _, p in more]), f"row {i}"


def random_explicit(rng, view, n, max_len):
    rows = len(view.rows())
    out, taken = {}, []
    for _ in range(n):
        p = int(rng.integers(0, rows * view.seq_len))
        length = min(int(rng.integers(1, max_len + 1)), rows * view.seq_len - p)
        if all(p + length <= q or q + m <= p for q, m in taken):
            out[str(p)] = rng.integers(0, view.ds.vocab_size, length).tolist()
            taken.append((p, length))
    return out


def test_explicit_insertions_agree(view):
    rng = np.random.default_rng(view.seq_len)
    inserts = random_explicit(rng, view, 12, 2 * view.seq_len)
    path_json = view.folder / f"{view.id}.explicit.json"
    path_json.write_text(json.dumps(inserts))
    out = view.folder / f"{view.id}.explicit.tpk"
    result = insert(view, out, "--explicit", path_json, "--split-across-rows")
    n_rows = len(view.rows())
    done = placement.place(view.seq_len, n_rows, explicit=inserts, split_across_rows=True,
                           vocab_size=view.ds.vocab_size)
    assert figures(result.stdout)["explicit"] == done.explicit
    assert json.loads(cli("export-insertions", out).stdout) == done.rows_dict()
    ov = tokpack.open_overlay(out)
    assert ov.export_rows() == done.rows_dict()
    assert ov.positions.tolist() == done.positions and set(ov.flags.tolist()) <= {1}
    info = json.loads(cli("info", out, "--json").stdout)
    assert info["overlay"] == ov.info
    assert ov.plan_id == (None if view.plan is None else view.plan.file_id)
    compare_rows(view, ov, out, done.positions)
    # Not targets.
    out0 = view.folder / f"{view.id}.explicit0.tpk"
    insert(view, out0, "--explicit", path_json, "--split-across-rows", "--not-targets")
    ov0 = tokpack.open_overlay(out0)
    assert set(ov0.flags.tolist()) <= {0}
    compare_rows(view, ov0, out0, done.positions)


@pytest.mark.parametrize("seed", [0, 7, 2**64 - 1])
def test_random_placement_agrees(view, seed):
    rng = np.random.default_rng(seed % 1000)
    L = view.seq_len
    n_rows = len(view.rows())
    eos = view.ds.eos_id
    # With EOS wrapping, empty and too long sequences too (dropped by the wrapping).
    shortest, longest = (1, L) if eos is None else (0, L + 1)
    sequences = [rng.integers(0, view.ds.vocab_size, int(rng.integers(shortest, longest + 1))).tolist()
                 for _ in range(int(rng.integers(5, 3 * n_rows + 6)))]
    seqs = view.folder / f"{view.id}.{seed}.jsonl"
    seqs.write_text("".join(json.dumps({"input_ids": s}) + "\n" for s in sequences))
    start = int(rng.integers(0, n_rows))
    end = int(rng.integers(start + 1, n_rows + 1))
    explicit = random_explicit(rng, view, 3, L)
    ex = view.folder / f"{view.id}.{seed}.explicit.json"
    ex.write_text(json.dumps(explicit))
    wrap = [] if eos is None else ["--wrap-eos", eos]
    args = ["--explicit", ex, "--split-across-rows", "--random", seqs, "--rows", f"{start}:{end}",
            "--seed", seed, "--max-tries", 7, "--allow-drop", *wrap]
    out = view.folder / f"{view.id}.{seed}.random.tpk"
    result = insert(view, out, *args, check=False)
    try:
        done = placement.place(
            L, n_rows, explicit=explicit, split_across_rows=True, sequences=sequences,
            rows=(start, end), seed=seed, max_tries=7, allow_drop=True, wrap_eos_id=eos,
            vocab_size=view.ds.vocab_size)
    except placement.PlacementError as err:
        raise AssertionError(f"placement refused: {err}; CLI: {result.stderr}") from None
    assert result.returncode == 0, result.stderr
    got = figures(result.stdout)
    assert got == {"explicit": done.explicit, "placed": done.placed, "collisions": done.collisions,
                   "dropped": done.dropped, "dropped_by_wrapping": done.dropped_by_wrapping}
    assert json.loads(cli("export-insertions", out).stdout) == done.rows_dict()
    assert done.placed > 0
    ov = tokpack.open_overlay(out)
    assert ov.positions.tolist() == done.positions
    compare_rows(view, ov, out, done.positions)


def test_sequences_that_cannot_be_placed_are_refused_on_both_sides(view):
    L, n_rows = view.seq_len, len(view.rows())
    for bad in ([], [1] * (L + 1)):  # without EOS wrapping: empty, longer than L
        seqs = view.folder / f"{view.id}.bad.jsonl"
        seqs.write_text(json.dumps({"input_ids": [1]}) + "\n" + json.dumps({"input_ids": bad}) + "\n")
        result = insert(view, view.folder / "never.tpk", "--random", seqs, "--rows", f"0:{n_rows}",
                        "--allow-drop", check=False)
        assert result.returncode != 0
        with pytest.raises(placement.PlacementError):
            placement.place(L, n_rows, sequences=[[1], bad], rows=(0, n_rows), allow_drop=True)
    for rows in (f"0:{n_rows + 1}", "1:1"):
        result = insert(view, view.folder / "never.tpk", "--random", seqs, "--rows", rows,
                        check=False)
        assert result.returncode != 0
        start, end = map(int, rows.split(":"))
        with pytest.raises(placement.PlacementError):
            placement.place(L, n_rows, sequences=[[1]], rows=(start, end))


def test_random_placement_without_dropping_fails_on_both_sides(view):
    L, n_rows = view.seq_len, len(view.rows())
    sequences = [[1] * L] * (n_rows + 1)  # one whole row each: one too many
    seqs = view.folder / f"{view.id}.full.jsonl"
    seqs.write_text("".join(json.dumps({"input_ids": s}) + "\n" for s in sequences))
    result = insert(view, view.folder / "never.tpk", "--random", seqs, "--rows", f"0:{n_rows}",
                    "--seed", 3, "--max-tries", 5, check=False)
    assert result.returncode != 0
    with pytest.raises(placement.PlacementError):
        placement.place(L, n_rows, sequences=sequences, rows=(0, n_rows), seed=3, max_tries=5)
    # Allowed to drop: the same drops on both sides.
    out = view.folder / f"{view.id}.full.tpk"
    result = insert(view, out, "--random", seqs, "--rows", f"0:{n_rows}", "--seed", 3,
                    "--max-tries", 5, "--allow-drop")
    done = placement.place(L, n_rows, sequences=sequences, rows=(0, n_rows), seed=3,
                           max_tries=5, allow_drop=True)
    assert figures(result.stdout)["dropped"] == done.dropped
    assert tokpack.open_overlay(out).positions.tolist() == done.positions


def test_two_overlays_agree_and_overlaps_are_refused(view):
    L, n_rows = view.seq_len, len(view.rows())
    a_json, b_json = view.folder / f"{view.id}.a.json", view.folder / f"{view.id}.b.json"
    a_path, b_path = view.folder / f"{view.id}.a.tpk", view.folder / f"{view.id}.b.tpk"
    # a: the first half of each row; b: the second half (touching, never intersecting).
    half = max(L // 2, 1)
    a = {str(r * L): [r % view.ds.vocab_size] * half for r in range(0, n_rows, 2)}
    b = {str(r * L + half): [1] * (L - half) for r in range(0, n_rows, 3) if L - half}
    a_json.write_text(json.dumps(a))
    b_json.write_text(json.dumps(b or {"0": [1]}))
    insert(view, a_path, "--explicit", a_json)
    insert(view, b_path, "--explicit", b_json)
    a_ov, b_ov = tokpack.open_overlay(a_path), tokpack.open_overlay(b_path)
    placed = a_ov.positions.tolist() + b_ov.positions.tolist()
    if b:
        compare_rows(view, a_ov, a_path, placed, (b_ov, b_path))
    # c intersects a: both sides refuse the pair (insertion_overlap), in either order.
    c_json, c_path = view.folder / f"{view.id}.c.json", view.folder / f"{view.id}.c.tpk"
    c_json.write_text(json.dumps({str(half - 1 if half > 1 else 0): [2]}))
    insert(view, c_path, "--explicit", c_json)
    c_ov = tokpack.open_overlay(c_path)
    for first, second in ((a_path, c_path), (c_path, a_path)):
        result = cli("row", view.tpk, *view.flags, "--index", 0, "--json", "--overlay", first,
                     "--overlay", second, check=False)
        assert result.returncode != 0 and error_code(result) == "insertion_overlap", result.stderr
    for pair in ((a_ov, c_ov), (c_ov, a_ov)):
        with pytest.raises(tokpack.TokpackError) as info:
            view.rows(*pair)
        assert info.value.code == "insertion_overlap"
        assert f"(length {half})" in str(info.value) and "(length 1)" in str(info.value)


def test_explicit_refusals_agree(view):
    L, n_rows = view.seq_len, len(view.rows())
    if L < 3 or n_rows < 2:
        pytest.skip("needs rows of 3 and two rows")
    cases = [
        # Crossing a row boundary without --split-across-rows.
        ({str(L - 1): [1, 2]}, [], "crosses"),
        # Past the view.
        ({str(n_rows * L): [1]}, ["--split-across-rows"], "past"),
        ({str(n_rows * L - 1): [1, 2]}, ["--split-across-rows"], "past"),
        # Two that intersect: insertion_overlap, naming both positions and lengths.
        ({"1": [1, 2], "2": [3]}, [], "insertion_overlap"),
        ({str(L - 1): [1, 2, 3], str(L + 1): [4]}, ["--split-across-rows"], "insertion_overlap"),
    ]
    for inserts, flags, what in cases:
        path = view.folder / f"{view.id}.refused.json"
        path.write_text(json.dumps(inserts))
        result = insert(view, view.folder / "refused.tpk", "--explicit", path, *flags, check=False)
        assert result.returncode != 0, (inserts, result.stdout)
        if what == "insertion_overlap":
            assert error_code(result) == "insertion_overlap", result.stderr
            with pytest.raises(tokpack.TokpackError) as info:
                placement.explicit_insertions(inserts, L, n_rows, bool(flags))
            assert info.value.code == "insertion_overlap"
            names = re.search(r"insertion at position \d+ \(length \d+\) overlaps the insertion "
                              r"at \d+ \(length \d+\)", result.stderr).group(0)
            assert names in str(info.value)
        else:
            with pytest.raises(placement.PlacementError, match=what):
                placement.explicit_insertions(inserts, L, n_rows, bool(flags))


@pytest.mark.parametrize("key,position", [
    ("5", 5), ("05", 5), ("+5", None), ("-0", None), (" 5", None), ("5.0", None),
    ("\uff15", None), ("0x5", None)])
def test_insert_dict_keys_are_digits_only_on_both_sides(built, key, position):
    """13.5: insert dict keys are decimal global positions, digits only."""
    view = View(built, *VIEWS[0])
    path = view.folder / "keys.json"
    path.write_text(json.dumps({key: [1]}))
    result = insert(view, view.folder / "keys.tpk", "--explicit", path, check=False)
    n_rows = len(view.rows())
    if position is None:
        assert result.returncode != 0, result.stdout
        with pytest.raises(ValueError):
            tokpack.interchange.read_insert_dict({key: [1]})
        with pytest.raises(placement.PlacementError):
            placement.place(view.seq_len, n_rows, explicit={key: [1]})
    else:
        assert result.returncode == 0, result.stderr
        assert tokpack.interchange.read_insert_dict({key: [1]}) == [(position, [1])]
        assert tokpack.open_overlay(view.folder / "keys.tpk").positions.tolist() == [position]


def test_cli_reads_the_overlay_vectors():
    vectors = cat_vectors()
    if not vectors:
        pytest.skip("no spec/vectors/overlays yet")
    for tpk, want in vectors:
        assert json.loads(cli("export-insertions", tpk).stdout) == want["insertions"]
        cli("verify", tpk)


def cat_vectors():
    from test_vectors import VECTORS

    folder = VECTORS / "overlays"
    return [(p, json.loads(p.with_suffix(".json").read_text())) for p in sorted(folder.glob("*.tpk"))]


# -- the overlay catalogue, read by the CLI --------------------------------------------

#: Catalogue overlays the CLI does not refuse with the spec's code, with the reason.
KNOWN_CLI_OVERLAY_DISAGREEMENTS = {}
#: Valid catalogue overlays the CLI refuses, with the reason.
KNOWN_CLI_VALID_OVERLAY_DISAGREEMENTS = {}
#: Row reads through an unverified overlay where the CLI does not report the spec's
#: code (none at present).
KNOWN_CLI_ROW_DISAGREEMENTS = {}


def _marks(name, known):
    return [pytest.mark.xfail(reason=known[name], strict=True)] if name in known else []


@pytest.fixture(scope="module")
def catalogue_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("overlay_catalogue") / "dataset.tpk"
    path.write_bytes(cat.dataset_bytes())
    return path


def cli_cat_row(dataset, i, *overlays):
    extra = [x for ov in overlays for x in ("--overlay", ov)]
    return cli("row", dataset, "--seq-len", cat.L, "--index", i, "--json", *extra, check=False)


@pytest.mark.parametrize("name,data", [
    pytest.param(n, d, id=n, marks=_marks(n, KNOWN_CLI_VALID_OVERLAY_DISAGREEMENTS))
    for n, d in cat.valid_overlays()])
def test_cli_reads_valid_catalogue_overlays(tmp_path, catalogue_dataset, name, data):
    assert expected_verify_code(data, "overlay", None) is None
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    cli("verify", path)
    ds = tokpack.open(catalogue_dataset)
    rows = tokpack.Rows(ds, cat.L, overlays=[tokpack.open_overlay(path)])
    for i in range(len(rows)):
        result = cli_cat_row(catalogue_dataset, i, path)
        assert result.returncode == 0, result.stderr
        assert mine(rows.row(i)) == json.loads(result.stdout), f"row {i}"


@pytest.mark.parametrize("name,data,code,stage", [
    pytest.param(n, d, c, s, id=n, marks=_marks(n, KNOWN_CLI_OVERLAY_DISAGREEMENTS))
    for n, d, c, s in cat.invalid_overlays()])
def test_cli_refuses_invalid_catalogue_overlays(tmp_path, catalogue_dataset, name, data, code, stage):
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    if stage in ("open", "verify"):
        # `tokpack verify` picks its reader by the metadata's "file" key (cli_tool.py):
        # an overlay whose key is absent or says "plan" or "dataset" (file_absent,
        # file_plan, file_dataset, file_null, metadata_array) is compared with this
        # package's reader of the kind the key selects, not with 13.2's bad_metadata.
        want = expected_verify_code(data, "overlay", code)
        result = cli("verify", path, check=False)
        assert result.returncode != 0, f"the CLI accepts {name}: {result.stdout}"
        assert error_code(result) == want, f"{name}: CLI says {result.stderr.strip()}"
    if stage in ("open", "bind"):
        # `tokpack row --overlay` opens the file as an overlay and binds it to the view.
        result = cli_cat_row(catalogue_dataset, 0, path)
        assert result.returncode != 0, f"the CLI accepts {name}: {result.stdout}"
        assert error_code(result) == code, f"{name}: CLI says {result.stderr.strip()}"


@pytest.mark.parametrize("name,data,row,code", [
    pytest.param(n, d, r, c, id=n, marks=_marks(n, KNOWN_CLI_ROW_DISAGREEMENTS))
    for n, d, r, c in cat.invalid_rows()])
def test_cli_checks_rows_of_unverified_overlays(tmp_path, catalogue_dataset, name, data, row, code):
    path = tmp_path / f"{name}.tpk"
    path.write_bytes(data)
    result = cli_cat_row(catalogue_dataset, row, path)
    assert result.returncode == 1 and error_code(result) == code, result.stderr[-500:]
