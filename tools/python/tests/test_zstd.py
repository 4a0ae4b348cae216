"""Compressed tokens (codec 1, zstd blocks, spec 5.6; version 1.4) with the Rust CLI as a
black box, and this reader's own behaviour around them.

Seeded random datasets (u8, u16 with masks and sources, u32) are built raw with
``tokpack build``, and compressed three ways: ``build --compress zstd:3
--block-tokens N``, ``tokpack compress FILE -o OUT --block-tokens N`` and ``compress``
then ``decompress`` back, for block sizes 1, 7, 64 and one larger than the file. Every
document, mask, source, token range and row (contiguous, plans, overlays, source
filters) read from a compressed file equals the raw file's; sampled documents and rows
equal ``tokpack get --json`` / ``tokpack row --json`` on the compressed file. A
manifest of raw and compressed shards reads as the single file. Corrupted frames give
``section_checksum`` at verify and ``bad_block`` (or the right tokens) when read
unverified, never another exception. The block cache decompresses each block once
in a sequential scan and is per process (fork).
"""

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zstandard")

import tokpack  # noqa: E402
from tokpack.format import zstd_blocks  # noqa: E402
from cli_tool import cli, needs_cli  # noqa: E402
from spec_writer import write_compressed, write_dataset  # noqa: E402

HERE = Path(__file__).resolve().parent
BLOCKS = (1, 7, 64, 1 << 20)  # 1 << 20: larger than every file here
# name: (seed, vocab_size, n_docs, masks, sources)
DATASETS = {
    "u8": (1, 200, 40, True, False),
    "u16_sources": (2, 50_000, 60, True, True),
    "u32": (3, 100_000, 30, False, False),
}


def generate(seed, vocab_size, n_docs, masks, sources):
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_docs):
        length = 0 if i % 7 == 3 else int(rng.integers(1, 200))
        ids = rng.integers(0, vocab_size, length)
        if length:
            ids[0] = vocab_size - 1
        line = {"input_ids": ids.tolist()}
        if masks:
            line["loss_mask"] = rng.integers(0, 2, length).tolist()
        if sources:
            line["src"] = ["web", "code", "math"][int(rng.integers(0, 3))]
        lines.append(line)
    return lines


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> {"raw": path, ("build", N): path, ("compress", N): path, "back": path}."""
    d = tmp_path_factory.mktemp("zstd")
    out = {}
    for name, (seed, vocab, n_docs, masks, sources) in DATASETS.items():
        jsonl = d / f"{name}.jsonl"
        jsonl.write_text("".join(json.dumps(x) + "\n" for x in generate(
            seed, vocab, n_docs, masks, sources)))
        flags = ["--vocab-size", vocab, "--no-sync", "--dataset-id", f"{seed:032x}",
                 "--eos-id", vocab - 1]
        if sources:
            flags += ["--source-field", "src"]
        paths = {"raw": d / f"{name}.tpk"}
        cli("build", jsonl, "-o", paths["raw"], *flags)
        for n in BLOCKS:
            paths["build", n] = d / f"{name}.b{n}.tpk"
            cli("build", jsonl, "-o", paths["build", n], *flags, "--compress", "zstd:3",
                "--block-tokens", n)
            paths["compress", n] = d / f"{name}.c{n}.tpk"
            cli("compress", paths["raw"], "-o", paths["compress", n], "--block-tokens", n,
                "--no-sync")
        paths["default"] = d / f"{name}.cdefault.tpk"
        cli("compress", paths["raw"], "-o", paths["default"], "--no-sync", "--level", 19)
        paths["back"] = d / f"{name}.back.tpk"
        cli("decompress", paths["compress", 7], "-o", paths["back"], "--no-sync")
        out[name] = paths
    return out


def compressed_paths():
    return [(name, how, n) for name in DATASETS for how in ("build", "compress") for n in BLOCKS]


def rows_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
        assert a[k].dtype == b[k].dtype, k


# -- documents, ranges and metadata ----------------------------------------------------


@needs_cli
@pytest.mark.parametrize("name,how,n", compressed_paths())
def test_compressed_reads_as_raw(built, name, how, n):
    raw = tokpack.open(built[name]["raw"])
    ds = tokpack.open(built[name][how, n])
    ds.verify()
    assert ds.is_compressed and not raw.is_compressed
    assert ds.codec == 1 and ds.block_tokens == n and ds.version == (1, 4)
    assert ds.num_blocks == -(-raw.num_tokens // n)
    assert (ds.dataset_id, ds.num_tokens, ds.num_documents, ds.dtype, ds.metadata) == (
        raw.dataset_id, raw.num_tokens, raw.num_documents, raw.dtype, raw.metadata)
    assert np.array_equal(ds.doc_offsets, raw.doc_offsets)
    for i in range(raw.num_documents):
        doc = ds.document(i)
        assert doc.dtype == raw.document(i).dtype
        assert np.array_equal(doc, raw.document(i))
        assert np.array_equal(ds.loss_mask(i), raw.loss_mask(i))
    assert ds.document_sources() == raw.document_sources()
    if raw.has_sources:
        assert ds.source_counts() == raw.source_counts()
    # The whole stream, ranges across blocks and gathers.
    assert np.array_equal(np.asarray(ds.tokens), raw.tokens)
    rng = np.random.default_rng(n)
    total = raw.num_tokens
    for _ in range(60):
        a = int(rng.integers(0, total + 1))
        b = int(rng.integers(a, min(total, a + 3 * n + 5) + 1))
        got = ds.tokens_range(a, b)
        assert np.array_equal(got, raw.tokens_range(a, b))
        assert got.dtype == raw.tokens.dtype
        assert np.array_equal(ds.tokens[a:b], raw.tokens[a:b])
    positions = rng.integers(0, total, (5, 11))
    assert np.array_equal(ds.tokens_at(positions), raw.tokens_at(positions))
    assert np.array_equal(ds.tokens[positions], raw.tokens[positions])
    assert np.array_equal(ds.tokens[::7], raw.tokens[::7])
    assert np.array_equal(ds.tokens[::-3], raw.tokens[::-3])
    assert int(ds.tokens[-1]) == int(raw.tokens[-1]) and int(ds.tokens[0]) == int(raw.tokens[0])
    with pytest.raises(IndexError):
        ds.tokens[total]
    with pytest.raises(IndexError):
        ds.tokens_at([total])


@needs_cli
@pytest.mark.parametrize("name", list(DATASETS))
def test_arrays_of_compressed_files_are_fresh(built, name):
    ds = tokpack.open(built[name]["compress", 64])
    raw = tokpack.open(built[name]["raw"])
    doc = next(i for i in range(raw.num_documents) if len(raw.document(i)))
    got = ds.document(doc)
    assert got.flags.writeable and got.flags.owndata
    got[:] = 0  # a fresh array: the next read is unchanged
    assert np.array_equal(ds.document(doc), raw.document(doc))
    # Raw files keep their zero-copy views of the mapping.
    assert not raw.document(doc).flags.owndata and not raw.document(doc).flags.writeable


@needs_cli
@pytest.mark.parametrize("name", list(DATASETS))
def test_compress_decompress_round_trip(built, name):
    # `tokpack decompress` gives the raw file back; the level does not change what
    # is read; every compressed file verifies with the CLI too.
    assert Path(built[name]["back"]).read_bytes() == Path(built[name]["raw"]).read_bytes()
    raw = tokpack.open(built[name]["raw"])
    ds = tokpack.open(built[name]["default"])
    assert ds.block_tokens == 4096
    assert np.array_equal(np.asarray(ds.tokens), raw.tokens)
    for n in BLOCKS:
        cli("verify", built[name]["build", n])
        # Both ways of compressing write the same bytes.
        assert Path(built[name]["build", n]).read_bytes() == \
            Path(built[name]["compress", n]).read_bytes()


@needs_cli
@pytest.mark.parametrize("name,n", [(name, n) for name in DATASETS for n in (1, 64)])
def test_documents_equal_cli_get(built, name, n):
    path = built[name]["compress", n]
    ds = tokpack.open(path)
    for i in range(0, ds.num_documents, 9):
        got = json.loads(cli("get", path, "--doc", i, "--json").stdout)
        assert got["input_ids"] == ds.document(i).tolist()
        assert got["loss_mask"] == ds.loss_mask(i).astype(int).tolist()


# -- rows --------------------------------------------------------------------------------


@needs_cli
@pytest.mark.parametrize("name,n", [(name, n) for name in DATASETS for n in BLOCKS])
def test_contiguous_rows_equal_raw(built, name, n):
    raw = tokpack.open(built[name]["raw"])
    ds = tokpack.open(built[name]["compress", n])
    for L, tail, mask in ((5, "pad", True), (64, "drop", True), (200, "pad", False)):
        a = tokpack.Rows(raw, L, tail=tail, mask_document_boundaries=mask)
        b = tokpack.Rows(ds, L, tail=tail, mask_document_boundaries=mask)
        assert len(a) == len(b)
        for i in range(len(a)):
            rows_equal(a.row(i), b.row(i))
        if len(a):
            assert np.array_equal(a.tokens(len(a) - 1), b.tokens(len(a) - 1))


@needs_cli
@pytest.mark.parametrize("name", list(DATASETS))
def test_rows_equal_cli_row(built, name):
    path = built[name]["compress", 7]
    ds = tokpack.open(path)
    for L, flags in ((16, []), (33, ["--mask-boundaries", "--tail", "pad"])):
        rows = tokpack.Rows(ds, L, tail="pad" if "pad" in flags else "drop",
                            mask_document_boundaries="--mask-boundaries" in flags)
        for i in sorted({0, len(rows) // 2, len(rows) - 1}):
            ref = json.loads(cli("row", path, "--seq-len", L, "--index", i, "--json",
                                 *flags).stdout)
            got = rows.row(i)
            for k in ref:
                assert got[k].tolist() == ref[k], (L, i, k)


@needs_cli
@pytest.mark.parametrize("name,strategy", [(name, s) for name in DATASETS
                                           for s in ("bfd", "doc-aligned", "contiguous")])
def test_plans_made_on_raw_read_compressed(built, name, strategy, tmp_path):
    # 5.6: a file can be converted between raw and compressed tokens without changing
    # its dataset_id; plans made for one are valid for the other.
    plan_path = tmp_path / "plan.tpk"
    cli("pack", built[name]["raw"], "--seq-len", 40, "--strategy", strategy, "-o", plan_path,
        "--no-sync")
    plan = tokpack.open_plan(plan_path)
    raw = tokpack.open(built[name]["raw"])
    for n in (1, 64):
        path = built[name]["compress", n]
        ds = tokpack.open(path)
        plan.verify_against(ds)
        a, b = tokpack.Rows(raw, plan=plan), tokpack.Rows(ds, plan=plan)
        for i in range(len(a)):
            rows_equal(a.row(i), b.row(i))
        for i in sorted({0, len(b) - 1}):
            ref = json.loads(cli("row", path, "--seq-len", 40, "--plan", plan_path,
                                 "--index", i, "--json").stdout)
            for k in ref:
                assert b.row(i)[k].tolist() == ref[k]


@needs_cli
@pytest.mark.parametrize("name", list(DATASETS))
def test_overlays_made_on_raw_apply_to_compressed(built, name, tmp_path):
    seqs = tmp_path / "seqs.jsonl"
    seqs.write_text("".join(json.dumps({"input_ids": [1, 2, 3][: k % 3 + 1]}) + "\n"
                            for k in range(20)))
    ov_path = tmp_path / "ov.tpk"
    raw = tokpack.open(built[name]["raw"])
    cli("insert", built[name]["raw"], "--seq-len", 32, "--random", seqs, "--seed", 5,
        "--rows", f"0:{len(tokpack.Rows(raw, 32))}", "-o", ov_path, "--no-sync")
    ov = tokpack.open_overlay(ov_path)
    path = built[name]["compress", 7]
    ds = tokpack.open(path)
    a = tokpack.Rows(raw, 32, overlays=[ov])
    b = tokpack.Rows(ds, 32, overlays=[ov])
    for i in range(len(a)):
        rows_equal(a.row(i), b.row(i))
    i = int(ov.positions[0]) // 32
    ref = json.loads(cli("row", path, "--seq-len", 32, "--index", i, "--json",
                         "--overlay", ov_path).stdout)
    for k in ref:
        assert b.row(i)[k].tolist() == ref[k]


@needs_cli
def test_source_filters_on_compressed(built):
    raw = tokpack.open(built["u16_sources"]["raw"])
    path = built["u16_sources"]["compress", 7]
    ds = tokpack.open(path)
    for names in (["web"], ["code", "math"]):
        fa, fb = raw.source_filter(names), ds.source_filter(names)
        assert np.array_equal(fa.tokens, fb.tokens)
        for L in (1, 9, 50):
            a = tokpack.Rows(raw, L, sources=names, tail="pad", mask_document_boundaries=True)
            b = tokpack.Rows(ds, L, sources=names, tail="pad", mask_document_boundaries=True)
            for i in range(len(a)):
                rows_equal(a.row(i), b.row(i))
        ref = json.loads(cli("row", path, "--seq-len", 9, "--index", 3, "--json", "--sources",
                             ",".join(names)).stdout)
        got = tokpack.Rows(ds, 9, sources=names).row(3)
        for k in ref:
            assert got[k].tolist() == ref[k]


@needs_cli
def test_manifest_mixing_raw_and_compressed_shards(tmp_path):
    lines = generate(7, 30_000, 80, True, True)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines))
    flags = ["--vocab-size", 30_000, "--no-sync", "--source-field", "src"]
    cli("build", jsonl, "-o", tmp_path / "one.tpk", *flags)
    cli("build", jsonl, "-o", tmp_path / "sh.manifest.json", *flags, "--shard-tokens", 1500)
    manifest = json.loads((tmp_path / "sh.manifest.json").read_text())
    assert len(manifest["shards"]) >= 3
    # Compress every other shard in place (same dataset_id, counts: the entry holds).
    for k, shard in enumerate(manifest["shards"]):
        if k % 2 == 0:
            path = tmp_path / shard["path"]
            cli("compress", path, "-o", tmp_path / "tmp.tpk", "--block-tokens", 50 + k,
                "--no-sync")
            os.replace(tmp_path / "tmp.tpk", path)
    m = tokpack.open(tmp_path / "sh.manifest.json")
    one = tokpack.open(tmp_path / "one.tpk")
    m.verify()
    assert [m.shard(k).is_compressed for k in range(m.num_shards)] == [
        k % 2 == 0 for k in range(m.num_shards)]
    for i in range(one.num_documents):
        assert np.array_equal(m.document(i), one.document(i))
    assert np.array_equal(m.tokens[:], one.tokens)
    positions = np.random.default_rng(0).integers(0, one.num_tokens, 200)
    assert np.array_equal(m.tokens[positions], one.tokens[positions])
    assert m.document_sources() == one.document_sources()
    plan_path = tmp_path / "bfd.tpk"
    cli("pack", tmp_path / "sh.manifest.json", "--seq-len", 64, "--strategy", "bfd",
        "-o", plan_path, "--no-sync")
    plan = tokpack.open_plan(plan_path)
    for a, b in ((tokpack.Rows(one, 64, mask_document_boundaries=True),
                  tokpack.Rows(m, 64, mask_document_boundaries=True)),
                 (tokpack.Rows(one, 64, sources=["web"]), tokpack.Rows(m, 64, sources=["web"]))):
        for i in range(len(a)):
            rows_equal(a.row(i), b.row(i))
    rows = tokpack.Rows(m, plan=plan)
    for i in (0, len(rows) // 2):
        ref = json.loads(cli("row", tmp_path / "sh.manifest.json", "--seq-len", 64, "--plan",
                             plan_path, "--index", i, "--json").stdout)
        for k in ref:
            assert rows.row(i)[k].tolist() == ref[k]
    ref = json.loads(cli("row", tmp_path / "sh.manifest.json", "--seq-len", 64, "--index", 5,
                         "--json").stdout)
    for k in ref:
        assert tokpack.Rows(m, 64).row(5)[k].tolist() == ref[k]


# -- corruption ---------------------------------------------------------------------------


def _refresh_crc(data: bytearray, entry_index: int) -> bytearray:
    """Recompute section ``entry_index``'s CRC32, then the table's and the header's."""
    count = int.from_bytes(data[48:52], "little")
    at = 64 + 64 * entry_index
    offset = int.from_bytes(data[at + 8 : at + 16], "little")
    length = int.from_bytes(data[at + 16 : at + 24], "little")
    data[at + 32 : at + 36] = zlib.crc32(bytes(data[offset : offset + length])).to_bytes(4, "little")
    data[52:56] = zlib.crc32(bytes(data[64 : 64 + 64 * count])).to_bytes(4, "little")
    data[60:64] = zlib.crc32(bytes(data[:60])).to_bytes(4, "little")
    return data


def _read_everything(ds, raw, frames_only):
    """Read every document and row; only TokpackError may come out. With
    ``frames_only`` (the damage is inside frames, which carry content checksums),
    what is read is the raw file's or the error is ``bad_block``."""
    for i in range(raw.num_documents):
        try:
            got = ds.document(i)
        except tokpack.TokpackError as err:
            assert err.code == "bad_block" if frames_only else True, err
            continue
        if frames_only:
            assert np.array_equal(got, raw.document(i))
    try:
        rows = tokpack.Rows(ds, 48, tail="pad")
    except tokpack.TokpackError:
        return
    ref = tokpack.Rows(raw, 48, tail="pad")
    for i in range(len(rows)):
        try:
            row = rows.row(i)
        except tokpack.TokpackError as err:
            assert err.code == "bad_block" if frames_only else True, err
            continue
        if frames_only:
            rows_equal(row, ref.row(i))


@needs_cli
@pytest.mark.parametrize("name", list(DATASETS))
def test_flipped_frame_bytes(built, name):
    raw = tokpack.open(built[name]["raw"])
    data = Path(built[name]["compress", 64]).read_bytes()
    ds = tokpack.Dataset.from_buffer(data)
    tok = ds.sections[0]
    assert tok["kind"] == 1 and tok["codec"] == 1
    first_frame = tok["offset"] + int(ds.tokens.block_offsets[0])
    rng = np.random.default_rng(len(name))
    spots = rng.integers(first_frame, tok["offset"] + tok["length"], 12).tolist()
    for at in spots + [first_frame, first_frame + 4, tok["offset"] + tok["length"] - 1]:
        bad = bytearray(data)
        bad[at] ^= 1 << int(rng.integers(0, 8))
        # CRC kept: verify names the section.
        ds = tokpack.Dataset.from_buffer(bytes(bad))
        with pytest.raises(tokpack.TokpackError) as err:
            ds.verify()
        assert err.value.code == "section_checksum"
        _read_everything(ds, raw, frames_only=True)
        # CRC refreshed: verify reaches the blocks (zstd's content checksum and the
        # frame's structure catch the damage; a change zstd cannot see, e.g. in the
        # window descriptor, leaves the tokens right).
        fixed = bytes(_refresh_crc(bad, 0))
        ds = tokpack.Dataset.from_buffer(fixed)
        try:
            ds.verify()
        except tokpack.TokpackError as exc:
            assert exc.code == "bad_block", exc
        _read_everything(ds, raw, frames_only=True)


@needs_cli
def test_flipped_head_and_offset_bytes(built):
    raw = tokpack.open(built["u16_sources"]["raw"])
    data = Path(built["u16_sources"]["compress", 7]).read_bytes()
    tok = tokpack.Dataset.from_buffer(data).sections[0]
    head_end = tok["offset"] + int(tokpack.Dataset.from_buffer(data).tokens.block_offsets[0])
    rng = np.random.default_rng(9)
    for at in list(range(tok["offset"], tok["offset"] + 24, 3)) + rng.integers(
            tok["offset"] + 24, head_end, 12).tolist():
        for bit in (0, 7):
            bad = bytearray(data)
            bad[at] ^= 1 << bit
            for blob in (bytes(bad), bytes(_refresh_crc(bad, 0))):
                try:
                    ds = tokpack.Dataset.from_buffer(blob)
                except tokpack.TokpackError:
                    continue
                try:
                    ds.verify()
                except tokpack.TokpackError:
                    pass
                _read_everything(ds, raw, frames_only=False)


@needs_cli
def test_every_truncation_of_a_compressed_file(built):
    data = Path(built["u8"]["compress", 7]).read_bytes()
    for cut in list(range(0, 4200, 37)) + [len(data) - 1]:
        with pytest.raises(tokpack.TokpackError):
            tokpack.Dataset.from_buffer(data[:cut])


def test_unverified_reads_name_the_block():
    docs = [[1, 2, 3], [], [4, 5, 250], [7, 8]]
    good = write_dataset(docs, 300)
    frames = []
    import spec_writer

    def frame(b):
        frames.append(b)
        return spec_writer.zstd_frame(b) if len(frames) != 2 else b"junk"

    data = write_compressed(docs, 300, 3, body_kwargs={"frame": frame})
    ds = tokpack.Dataset.from_buffer(data)
    raw = tokpack.Dataset.from_buffer(good)
    assert ds.document(0).tolist() == [1, 2, 3]  # block 0 only
    with pytest.raises(tokpack.TokpackError) as err:
        ds.document(2)  # tokens 3..6: blocks 1 and 2
    assert err.value.code == "bad_block" and "block 1" in str(err.value)
    assert err.value.section == "tokens"
    assert ds.document(3).tolist() == [7, 8]  # block 2
    with pytest.raises(tokpack.TokpackError) as err:
        ds.verify()
    assert err.value.code == "bad_block" and "block 1" in str(err.value)
    assert raw.document(2).tolist() == [4, 5, 250]


@pytest.mark.parametrize("name,data", [pytest.param(n, d, id=n)
                                       for n, d in __import__("catalog").zstd_may_refuse_files()])
def test_windows_over_2_27_are_refused(tmp_path, name, data):
    """5.6: a frame whose window exceeds 2**27 bytes MAY be refused (bad_block). This
    reader refuses it, from the frame header, before zstd reserves anything; opening
    reads no frame. The CLI may read it or refuse it with bad_block."""
    ds = tokpack.Dataset.from_buffer(data)
    for read in (ds.verify, lambda: ds.document(0)):
        with pytest.raises(tokpack.TokpackError) as err:
            read()
        assert err.value.code == "bad_block" and "window" in str(err.value)
    assert ds.document(1).tolist() == []
    from cli_tool import find_binary

    if find_binary() is not None:
        path = tmp_path / f"{name}.tpk"
        path.write_bytes(data)
        result = cli("verify", path, check=False)
        assert result.returncode == 0 or "bad_block" in result.stderr


def test_frame_window():
    from spec_writer import raw_frame

    assert zstd_blocks.frame_window(raw_frame(b"ab", window_descriptor=0)) == 1 << 10
    assert zstd_blocks.frame_window(raw_frame(b"ab", window_descriptor=(17 << 3) | 1)) == (
        (1 << 27) + (1 << 24))
    assert zstd_blocks.frame_window(raw_frame(b"ab", content_size=2, single_segment=True)) is None
    assert zstd_blocks.frame_window(b"junk") is None


# -- the block cache -----------------------------------------------------------------


def _counting(monkeypatch):
    calls = []
    real = zstd_blocks.ZstdTokens.decompress_block

    def counted(self, k):
        calls.append(k)
        return real(self, k)

    monkeypatch.setattr(zstd_blocks.ZstdTokens, "decompress_block", counted)
    return calls


def _big(n_docs=200, block=500, **kw):
    rng = np.random.default_rng(1)
    docs = [rng.integers(0, 1000, int(rng.integers(1, 300))).tolist() for _ in range(n_docs)]
    return docs, write_compressed(docs, 1000, block, **kw), write_dataset(docs, 1000)


def test_sequential_rows_decompress_each_block_once(monkeypatch):
    docs, data, raw_data = _big()
    calls = _counting(monkeypatch)
    ds = tokpack.Dataset.from_buffer(data)
    raw = tokpack.Dataset.from_buffer(raw_data)
    rows, ref = tokpack.Rows(ds, 129, tail="pad"), tokpack.Rows(raw, 129, tail="pad")
    for i, row in enumerate(rows):
        rows_equal(row, ref.row(i))
    assert calls == list(range(ds.num_blocks))
    # Documents in order too, after a cache reset.
    calls.clear()
    ds.tokens.clear_cache()
    for i in range(ds.num_documents):
        ds.document(i)
    assert calls == list(range(ds.num_blocks))
    # verify decompresses every block once more, and leaves the cache alone.
    calls.clear()
    before = ds.tokens.cached_blocks()
    ds.verify()
    assert calls == list(range(ds.num_blocks)) and ds.tokens.cached_blocks() == before


def test_cache_is_lru_and_bounded(monkeypatch):
    docs, data, _ = _big()
    calls = _counting(monkeypatch)
    ds = tokpack.Dataset.from_buffer(data, cache_blocks=3)
    assert ds.cache_blocks == 3
    for k in (0, 1, 2, 0, 3):
        ds.tokens.block(k)
    assert ds.tokens.cached_blocks() == (2, 0, 3)
    assert calls == [0, 1, 2, 3]
    ds.cache_blocks = 1
    assert ds.tokens.cached_blocks() == (3,)
    ds.cache_blocks = 0
    ds.tokens_range(0, 10)
    ds.tokens_range(0, 10)
    assert ds.tokens.cached_blocks() == () and calls[-2:] == [0, 0]
    with pytest.raises(ValueError):
        ds.cache_blocks = -1
    # The default keeps 2 to 16 blocks, as many as fit in 64 MiB.
    assert tokpack.Dataset.from_buffer(data).cache_blocks == 16
    assert tokpack.Dataset.from_buffer(write_dataset(docs, 1000)).cache_blocks == 0


def test_random_row_touches_one_or_two_blocks(monkeypatch):
    docs, data, _ = _big(block=1000)
    calls = _counting(monkeypatch)
    ds = tokpack.Dataset.from_buffer(data, cache_blocks=0)
    rows = tokpack.Rows(ds, 256)
    for i in np.random.default_rng(0).integers(0, len(rows), 50).tolist():
        calls.clear()
        rows.row(i)
        start, stop = i * 256, i * 256 + 257
        want = list(range(start // 1000, (stop - 1) // 1000 + 1))
        # A row reads its tokens once (one or two blocks); without a cache, finding
        # nothing else decompresses.
        assert calls == want, (i, calls)


def _child_reads(data, conn):
    try:
        ds = conn.recv()
        # The parent's cache came along with the fork; the child starts its own.
        inherited = ds.tokens.cached_blocks()
        conn.send((inherited, ds.document(5).tolist(), ds.tokens.cached_blocks(), os.getpid()))
    except Exception as exc:  # pragma: no cover - reported to the parent
        conn.send(repr(exc))


def test_cache_and_contexts_are_per_process():
    docs, data, _ = _big()
    ds = tokpack.Dataset.from_buffer(data)
    for i in range(10):
        ds.document(i)
    assert ds.tokens.cached_blocks()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child_reads, args=(data, child))
    proc.start()
    parent.send(ds)  # pickled: from_buffer data travels
    got = parent.recv()
    proc.join(30)
    assert not isinstance(got, str), got
    inherited, doc5, cached, pid = got
    assert pid != os.getpid()
    assert inherited == ()  # a pickled copy has no cache; below, a forked one
    assert doc5 == docs[5]
    # A forked child reading the parent's object directly.
    ctx2 = multiprocessing.get_context("fork")
    q = ctx2.Queue()

    def forked():
        q.put((ds.tokens.cached_blocks(), ds.document(7).tolist()))

    p = ctx2.Process(target=forked)
    p.start()
    seen, doc7 = q.get(timeout=30)
    p.join(30)
    assert seen == () and doc7 == docs[7]
    assert ds.tokens.cached_blocks()  # the parent's cache is untouched


def test_threads_read_the_same_file():
    docs, data, raw_data = _big(block=97)
    ds = tokpack.Dataset.from_buffer(data, cache_blocks=2)
    raw = tokpack.Dataset.from_buffer(raw_data)
    errors = []

    def work(seed):
        rng = np.random.default_rng(seed)
        try:
            for _ in range(200):
                i = int(rng.integers(0, len(docs)))
                if not np.array_equal(ds.document(i), raw.document(i)):
                    errors.append(i)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_pickling_a_compressed_dataset():
    import pickle

    docs, data, _ = _big()
    ds = tokpack.Dataset.from_buffer(data)
    ds.document(3)
    again = pickle.loads(pickle.dumps(ds))
    assert again.tokens.cached_blocks() == ()
    assert again.document(3).tolist() == docs[3]


# -- zstandard is imported only for compressed tokens ----------------------------------


def test_without_zstandard(tmp_path):
    docs = [[1, 2, 3], [], [4, 5, 250]]
    (tmp_path / "raw.tpk").write_bytes(write_dataset(docs, 300))
    (tmp_path / "z.tpk").write_bytes(write_compressed(docs, 300, 2))
    script = f"""
import sys
sys.modules["zstandard"] = None          # as if it were not installed
sys.path.insert(0, {str(HERE.parent)!r})
import tokpack
raw = tokpack.open({str(tmp_path / "raw.tpk")!r})
raw.verify()
assert raw.document(2).tolist() == [4, 5, 250]
assert "zstandard" not in [m for m in sys.modules if sys.modules[m] is not None]
z = tokpack.open({str(tmp_path / "z.tpk")!r})   # opening reads no frame
assert z.is_compressed and z.num_tokens == 6
try:
    z.document(0)
except ImportError as exc:
    print("ERROR", exc)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ERROR" in result.stdout and "pip install zstandard" in result.stdout


def test_tokpack_import_does_not_import_zstandard():
    script = ("import sys; sys.path.insert(0, %r); import tokpack; "
              "print('zstandard' in sys.modules)" % str(HERE.parent))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "False", result.stderr


# -- the spec writer's own compressed files ---------------------------------------------


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8, 1000])
@pytest.mark.parametrize("vocab", [200, 300, 70_000])
def test_spec_writer_files_read_as_raw(block, vocab):
    rng = np.random.default_rng(block + vocab)
    docs = [rng.integers(0, vocab, int(rng.integers(0, 12))).tolist() for _ in range(9)]
    masks = [rng.integers(0, 2, len(d)).tolist() for d in docs]
    names = ["a", "b"]
    ids = [k % 2 for k in range(9)]
    ds = tokpack.Dataset.from_buffer(write_compressed(docs, vocab, block, masks,
                                                      sources=names, doc_sources=ids))
    raw = tokpack.Dataset.from_buffer(write_dataset(docs, vocab, masks, sources=names,
                                                    doc_sources=ids))
    ds.verify()
    for i in range(9):
        assert ds.document(i).tolist() == docs[i]
        assert np.array_equal(ds.loss_mask(i), raw.loss_mask(i))
    for L in (1, 4, 10):
        for mask in (False, True):
            a = tokpack.Rows(raw, L, tail="pad", mask_document_boundaries=mask)
            b = tokpack.Rows(ds, L, tail="pad", mask_document_boundaries=mask)
            for i in range(len(a)):
                rows_equal(a.row(i), b.row(i))
        fa = tokpack.Rows(raw, L, sources=["b"], tail="pad")
        fb = tokpack.Rows(ds, L, sources=["b"], tail="pad")
        for i in range(len(fa)):
            rows_equal(fa.row(i), fb.row(i))


def test_describe_and_repr():
    docs, data, _ = _big(block=500)
    ds = tokpack.Dataset.from_buffer(data)
    entry = ds.sections[0]
    assert entry["name"] == "tokens" and entry["codec"] == 1 and entry["dtype"] == "u16"
    assert entry["count"] == ds.num_tokens and entry["length"] < 2 * ds.num_tokens
    assert "zstd blocks of 500" in repr(ds) and "500" in repr(ds.tokens)
    assert len(ds.tokens) == ds.num_tokens == ds.tokens.size and ds.tokens.ndim == 1
    assert ds.tokens.dtype == np.dtype("<u2") and ds.tokens.itemsize == 2
    assert list(ds.tokens)[:5] == np.asarray(ds.tokens)[:5].tolist()
    assert ds.tokens.block_size(ds.num_blocks - 1) == ds.num_tokens - 500 * (ds.num_blocks - 1)
