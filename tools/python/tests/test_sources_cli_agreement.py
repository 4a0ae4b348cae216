"""Sources (spec 5.5, 12.5, 12.6, 15; version 1.3) against the Rust CLI, used as a
black box.

Datasets with source ids are built with ``tokpack build`` (``--source-field``,
``--source`` once per input file, ``--source`` once for all inputs), joined into
manifests with ``tokpack manifest`` (shards built separately, numbering their sources
differently) or built sharded (``--shard-tokens``). This reader must give:

- the per-source figures of ``tokpack info --json`` (``sources``), and each
  document's source as the build input says;
- every row of filtered contiguous views exactly as ``tokpack row --sources``
  prints it (tail drop and pad, document-boundary masking), on datasets and
  manifests, and refuse what the CLI refuses (unknown name, no source ids, a
  manifest with a shard without source ids);
- every row of plans made with ``tokpack pack --sources`` (which are 12.3 applied to
  the selected documents) and ``tokpack mix`` as ``tokpack row --plan`` prints it;
- for mixture plans, the tokens of each source counted from the plan's segments and
  the documents' sources equal to the plan's ``mixture`` object, and the other
  figures of 12.6 (quota, available, pieces taken ``k`` or ``k + 1`` times).
"""

import json
import math

import numpy as np
import pytest

import tokpack
from cli_tool import REPO, cli, needs_cli
from spec_planner import make_plan, pieces

pytestmark = needs_cli

CHAT = REPO / "tools" / "data" / "pydoc_chat.jsonl"


def records(seed, n, sources, vocab_size, masks="some", empty=0.15, max_len=22):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = 0 if rng.random() < empty else int(rng.integers(1, max_len))
        rec = {"input_ids": rng.integers(0, vocab_size, length).tolist()}
        if masks == "all" or (masks == "some" and i % 3 == 0):
            rec["loss_mask"] = rng.integers(0, 2, length).tolist()
        if sources:
            rec["source"] = sources[int(rng.integers(0, len(sources)))]
        out.append(rec)
    return out


def write_jsonl(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("sources")
    out = {"dir": d, "records": {}}

    def build(name, inputs, *flags):
        cli("build", *inputs, "-o", d / name, "--no-sync", *flags)
        return d / name

    # --source-field: three sources, masks on some lines, empty documents.
    recs = records(1, 28, ["web", "code", "chat"], 500)
    out["field"] = build("field.tpk", [write_jsonl(d / "field.jsonl", recs)],
                         "--vocab-size", 500, "--source-field", "source", "--pad-id", 3)
    out["records"]["field"] = recs
    # --source once per input file.
    a, b = records(2, 9, None, 200, "all"), records(3, 11, None, 200, "none")
    out["per_file"] = build("per_file.tpk", [write_jsonl(d / "pa.jsonl", a),
                                             write_jsonl(d / "pb.jsonl", b)],
                            "--vocab-size", 200, "--source", "alpha", "--source", "beta")
    out["records"]["per_file"] = [dict(r, source="alpha") for r in a] + \
        [dict(r, source="beta") for r in b]
    # --source once for every input file.
    out["one_source"] = build("one_source.tpk", [d / "pa.jsonl", d / "pb.jsonl"],
                              "--vocab-size", 200, "--source", "only")
    out["records"]["one_source"] = [dict(r, source="only") for r in a + b]
    # Without sources.
    out["plain"] = build("plain.tpk", [d / "pa.jsonl"], "--vocab-size", 200)
    # Shards built separately, numbering their sources differently, joined.
    s1 = records(4, 10, ["code", "web"], 300, "all")
    s2 = records(5, 12, ["chat", "web", "zz"], 300, "none")
    build("s1.tpk", [write_jsonl(d / "s1.jsonl", s1)], "--vocab-size", 300,
          "--source-field", "source")
    build("s2.tpk", [write_jsonl(d / "s2.jsonl", s2)], "--vocab-size", 300,
          "--source-field", "source")
    build("s3.tpk", [write_jsonl(d / "s3.jsonl", records(6, 5, None, 300))],
          "--vocab-size", 300)
    cli("manifest", d / "s1.tpk", d / "s2.tpk", "-o", d / "joined.manifest.json")
    cli("manifest", d / "s1.tpk", d / "s3.tpk", d / "s2.tpk", "-o", d / "mixed.manifest.json")
    out["joined"] = d / "joined.manifest.json"
    out["mixed"] = d / "mixed.manifest.json"
    out["records"]["joined"] = s1 + s2
    # A sharded build with --source-field.
    recs = records(7, 40, ["a", "b"], 1000, "some", max_len=30)
    out["sharded"] = build("sharded.manifest.json", [write_jsonl(d / "sharded.jsonl", recs)],
                           "--vocab-size", 1000, "--source-field", "source",
                           "--shard-tokens", 150)
    out["records"]["sharded"] = recs
    # Chat input reads each line's "source" field.
    out["chat"] = build("chat.tpk", [CHAT], "--tokenizer", "r50k_base",
                        "--loss-policy", "assistant_only")
    return out


def cli_json(*args):
    return json.loads(cli(*args).stdout)


def cli_row(path, L, i, *extra):
    return cli_json("row", path, "--seq-len", L, "--index", i, "--json", *extra)


def mine(row):
    return {k: v.tolist() for k, v in row.items()}


# -- figures ----------------------------------------------------------------------------

SOURCED = ["field", "per_file", "one_source", "joined", "sharded", "chat"]


@pytest.mark.parametrize("name", SOURCED)
def test_info_sources_equal_source_counts(built, name):
    ds = tokpack.open(built[name])
    info = cli_json("info", built[name], "--json")
    assert info["sources"] == [{"name": n, **c} for n, c in ds.source_counts().items()]
    if name in built["records"]:
        assert ds.document_sources() == [r["source"] for r in built["records"][name]]
    if not getattr(ds, "is_manifest", False):
        ds.verify()
        assert ds.version == tuple(info["version"]) == (1, 3)
        assert info["metadata"]["sources"] == list(ds.sources)


def test_chat_sources(built):
    ds = tokpack.open(built["chat"])
    assert ds.sources == ("pydoc_chat",)
    assert ds.source_counts() == {"pydoc_chat": {"documents": ds.num_documents,
                                                 "tokens": ds.num_tokens}}


def test_joined_manifest_numbers_sources_by_name(built):
    m = tokpack.open(built["joined"])
    s1, s2 = m.shard(0).sources, m.shard(1).sources
    assert m.sources == s1 + tuple(n for n in s2 if n not in s1)
    assert cli_json("info", built["joined"], "--json")["sources"][1]["name"] == m.sources[1]


@pytest.mark.parametrize("name", ["field", "per_file", "chat"])
def test_cli_writes_doc_sources_without_the_required_flag(built, name):
    """Section 4: writers set the required flag on kinds 1 to 4 and leave it clear on
    kind 11, so that a 1.2 reader skips DOC_SOURCES (8)."""
    flags = {s["kind"]: s["required"] for s in tokpack.open(built[name]).sections}
    assert flags == {1: True, 2: True, 3: True, 4: True, 11: False} or \
        flags == {1: True, 2: True, 4: True, 11: False}


def test_without_sources(built):
    ds = tokpack.open(built["plain"])
    assert ds.sources is None and ds.version == (1, 0)
    assert cli_json("info", built["plain"], "--json")["sources"] is None


# -- 12.5: filtered rows, every row -------------------------------------------------------

FILTERS = [
    ("field", ["web"], 7, ()),
    ("field", ["code", "chat"], 5, ("--tail", "pad", "--mask-boundaries")),
    ("field", ["chat", "code", "web"], 16, ("--mask-boundaries",)),
    ("per_file", ["beta"], 4, ("--tail", "pad")),
    ("one_source", ["only"], 9, ("--tail", "pad", "--mask-boundaries", "--pad-id", 7)),
    ("joined", ["web"], 6, ("--tail", "pad", "--mask-boundaries")),
    ("joined", ["zz", "chat"], 3, ()),
    ("sharded", ["b"], 8, ("--tail", "pad")),
    ("sharded", ["a"], 11, ("--mask-boundaries",)),
]


def options(flags):
    opts, flags = {}, list(flags)
    if "--tail" in flags:
        opts["tail"] = flags[flags.index("--tail") + 1]
    if "--pad-id" in flags:
        opts["pad_id"] = flags[flags.index("--pad-id") + 1]
    opts["mask_document_boundaries"] = "--mask-boundaries" in flags
    return opts


@pytest.mark.parametrize("name,S,L,flags", [
    pytest.param(*f, id=f"{f[0]}-{'+'.join(f[1])}-L{f[2]}{''.join(f[3][:2])}") for f in FILTERS])
def test_filtered_rows_equal_cli(built, name, S, L, flags):
    path = built[name]
    rows = tokpack.Rows(tokpack.open(path), L, sources=S, **options(flags))
    assert rows.sources == tuple(n for n in tokpack.open(path).sources if n in S)
    assert len(rows) > 0
    for i in range(len(rows)):
        assert mine(rows.row(i)) == cli_row(path, L, i, "--sources", ",".join(S), *flags), i
    result = cli("row", path, "--seq-len", L, "--index", len(rows), "--json",
                 "--sources", ",".join(S), *flags, check=False)
    assert result.returncode != 0


@pytest.mark.parametrize("name,S", [("field", ["nope"]), ("field", ["web", "Web"]),
                                    ("plain", ["web"]), ("joined", ["web", "x"])])
def test_filter_refusals_agree(built, name, S):
    assert cli("row", built[name], "--seq-len", 4, "--index", 0, "--json",
               "--sources", ",".join(S), check=False).returncode != 0
    with pytest.raises(ValueError):
        tokpack.Rows(tokpack.open(built[name]), 4, sources=S)


def test_manifest_with_a_shard_without_sources(built):
    result = cli("row", built["mixed"], "--seq-len", 4, "--index", 0, "--json",
                 "--sources", "web", check=False)
    assert result.returncode != 0 and "no source ids" in result.stderr
    m = tokpack.open(built["mixed"])
    with pytest.raises(tokpack.ManifestError) as e:
        tokpack.Rows(m, 4, sources=["web"])
    assert e.value.code == "missing_sources" and "shard 1" in str(e.value)
    # Without a filter the manifest reads as usual (the CLI agrees).
    assert mine(tokpack.Rows(m, 4).row(3)) == cli_row(built["mixed"], 4, 3)


def test_filter_refuses_plans_like_the_cli(built):
    path = built["field"]
    plan = built["dir"] / "field.bfd.tpk"
    cli("pack", path, "--seq-len", 8, "--strategy", "bfd", "-o", plan, "--no-sync")
    assert cli("row", path, "--seq-len", 8, "--index", 0, "--plan", plan, "--sources", "web",
               "--json", check=False).returncode != 0
    with pytest.raises(ValueError):
        tokpack.Rows(tokpack.open(path), plan=tokpack.open_plan(plan), sources=["web"])
    # A contiguous plan restricted to sources is not stored (12.5): the CLI refuses it.
    assert cli("pack", path, "--seq-len", 8, "--strategy", "contiguous", "--sources", "web",
               "-o", built["dir"] / "x.tpk", check=False).returncode != 0


# -- 12.5 plans: tokpack pack --sources ----------------------------------------------------

PACKS = [
    ("field", ["web", "chat"], "bfd", "split", 6),
    ("field", ["code"], "doc-aligned", "truncate", 8),
    ("joined", ["web", "zz"], "bfd", "truncate", 5),
    ("sharded", ["a"], "doc-aligned", "split", 16),
]


@pytest.mark.parametrize("name,S,strategy,long_docs,L", [
    pytest.param(*p, id=f"{p[0]}-{'+'.join(p[1])}-{p[2]}-{p[3]}-L{p[4]}") for p in PACKS])
def test_pack_sources_plans_agree(built, name, S, strategy, long_docs, L):
    path = built[name]
    out = built["dir"] / f"{name}.{'+'.join(S)}.{strategy}.{long_docs}.{L}.tpk"
    figures = cli_json("pack", path, "--seq-len", L, "--strategy", strategy, "--long-docs",
                       long_docs, "--sources", ",".join(S), "-o", out, "--no-sync", "--json")
    ds = tokpack.open(path)
    plan = tokpack.open_plan(out)
    plan.verify_against(ds)
    assert plan.sources == figures["sources"] == S
    assert plan.mixture is None and plan.version == (1, 1)
    # 12.5: 12.3 applied to the selected documents, in document order; segments in
    # the dataset's own stream.
    f = ds.source_filter(S)
    selected = [len(ds.document(int(i))) for i in f.selected_documents]
    spec = make_plan(selected, L, strategy.replace("-", "_"), long_docs=long_docs)
    to_base = lambda start: int(f.stream_positions(start, start + 1)[0])  # noqa: E731
    want_rows = [[(to_base(s), n) for s, n in row] for row in spec.rows]
    got_rows = [[tuple(x) for x in plan.segments[int(plan.rows[r]):int(plan.rows[r + 1])].tolist()]
                for r in range(plan.num_rows)]
    assert got_rows == want_rows
    info = {k: v for k, v in plan.info.items() if k != "sources"}
    assert info == spec.info(ds.dataset_id, ds.num_tokens, ds.num_documents)
    # Every token of the plan is of a selected source.
    counts = plan.source_tokens(ds)
    assert sum(counts.values()) == plan.tokens
    assert all(counts[n] == 0 for n in counts if n not in S)
    rows = tokpack.Rows(ds, plan=plan)
    for i in range(len(rows)):
        assert mine(rows.row(i)) == cli_row(path, L, i, "--plan", out), i


# -- 12.6 mixture plans: tokpack mix -------------------------------------------------------

MIXES = [
    ("field", {"web": 0.7, "code": 0.3}, 300, 8, 5, ()),
    ("field", {"chat": 2, "web": 1}, 150, 6, 0, ("--strategy", "doc-aligned", "--long-docs",
                                                 "truncate")),
    ("per_file", {"alpha": 1, "beta": 3}, 200, 16, 2**64 - 1, ()),
    ("joined", {"zz": 0.5, "chat": 0.25, "code": 0.25}, 120, 5, 11, ()),
    ("sharded", {"b": 1}, 400, 32, 3, ("--long-docs", "truncate")),
]


def half_away(x):
    return math.floor(x + 0.5)


@pytest.mark.parametrize("name,weights,N,L,seed,flags", [
    pytest.param(*m, id=f"{m[0]}-{'+'.join(m[1])}-N{m[2]}-L{m[3]}") for m in MIXES])
def test_mix_plans_agree(built, name, weights, N, L, seed, flags):
    path = built[name]
    out = built["dir"] / f"{name}.mix.{'+'.join(weights)}.{N}.{L}.tpk"
    spec_weights = ",".join(f"{k}={v}" for k, v in weights.items())
    figures = cli_json("mix", path, "--weights", spec_weights, "--tokens", N, "--seq-len", L,
                       "--seed", seed, *flags, "-o", out, "--no-sync", "--json")
    ds = tokpack.open(path)
    plan = tokpack.open_plan(out)
    plan.verify()
    plan.verify_against(ds)  # segments may repeat; tokens may exceed dataset_tokens
    mixture = plan.mixture
    assert plan.strategy == ("doc_aligned" if "doc-aligned" in flags else "bfd")
    assert mixture["seed"] == seed and mixture["tokens_requested"] == N
    assert set(mixture["sources"]) == set(weights)
    # The realised shares: tokens per source counted from the segments and the
    # documents' sources equal the plan's mixture object, exactly.
    counts = plan.source_tokens(ds)
    assert {n: counts[n] for n in weights} == {n: s["tokens"] for n, s in mixture["sources"].items()}
    assert sum(counts.values()) == plan.tokens == figures["tokens"]
    assert all(counts[n] == 0 for n in counts if n not in weights)
    for s in figures["sources"]:
        assert s["tokens"] == counts[s["name"]]
        assert s["share"] == pytest.approx(counts[s["name"]] / plan.tokens, rel=1e-12)
    check_12_6(ds, plan, weights, N, L)
    rows = tokpack.Rows(ds, plan=plan)
    for i in range(len(rows)):
        assert mine(rows.row(i)) == cli_row(path, L, i, "--plan", out), i


def check_12_6(ds, plan, weights, N, L):
    """The figures 12.6 says tokpack's drawing gives (informative): normalised
    weights, quotas rounded half away from zero, ``available`` the pieces' tokens,
    every piece taken ``k`` or ``k + 1`` times, tokens within ``L / 2`` of the quota,
    ``pieces`` the pieces drawn and ``epochs`` tokens over available."""
    total = sum(weights.values())
    names = ds.document_sources()
    taken = {}
    for s, n in plan.segments.tolist():
        taken[(s, n)] = taken.get((s, n), 0) + 1
    offsets = ds.ordered_doc_offsets()
    for name, fig in plan.mixture["sources"].items():
        w = weights[name] / total
        assert fig["weight"] == pytest.approx(w, rel=1e-12)
        Q = half_away(w * N)
        assert fig["quota"] == Q
        lengths = [len(ds.document(i)) for i in range(ds.num_documents) if names[i] == name]
        starts = [int(offsets[i]) for i in range(ds.num_documents) if names[i] == name]
        ps = []
        for start, length in zip(starts, lengths):
            ps += [(start + s, n) for s, n in pieces([length], L, plan.long_docs)[0]]
        A = sum(n for _, n in ps)
        assert fig["available"] == A
        k = Q // A
        assert all(taken.get(p, 0) in (k, k + 1) for p in ps), name
        assert fig["tokens"] == sum(taken.get(p, 0) * p[1] for p in ps)
        assert abs(fig["tokens"] - Q) <= L / 2
        assert fig["pieces"] == sum(taken.get(p, 0) for p in ps)
        assert fig["epochs"] == pytest.approx(fig["tokens"] / A, rel=1e-12)


def test_mix_refusals_agree(built):
    for name, weights in (("field", "web=1,nope=1"), ("plain", "web=1")):
        assert cli("mix", built[name], "--weights", weights, "--tokens", 10, "--seq-len", 4,
                   check=False).returncode != 0
    assert cli("mix", built["mixed"], "--weights", "web=1", "--tokens", 10, "--seq-len", 4,
               check=False).returncode != 0
    with pytest.raises(tokpack.ManifestError):
        tokpack.open(built["mixed"]).sources
