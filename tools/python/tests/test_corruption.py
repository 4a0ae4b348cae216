"""Damaged files: the reader raises TokpackError, at open or at verify, and never
another exception type."""

import numpy as np
import pytest

import tokpack
from spec_writer import refresh_checksums, write_dataset

DOCS = [[1, 2, 3], [], [4, 5, 299, 0], [7]]
MASKS = [[1, 0, 1], [], [0, 1, 1, 1], [0]]


def small_file() -> bytes:
    return write_dataset(DOCS, 300, MASKS)


def open_read_verify(data: bytes) -> None:
    """Everything a user may do with a file; raises TokpackError if it is bad."""
    ds = tokpack.Dataset.from_buffer(data)
    for i in range(ds.num_documents):
        ds.document(i)
        ds.loss_mask(i)
    ds.loss_mask_range(0, ds.num_tokens)
    ds.verify()


def test_every_truncation_is_refused_at_open():
    data = small_file()
    for size in range(len(data)):
        with pytest.raises(tokpack.TokpackError) as info:
            tokpack.Dataset.from_buffer(data[:size])
        assert info.value.code == ("truncated" if size < 64 else "file_length"), size


def test_truncated_files_on_disk(tmp_path):
    data = small_file()
    path = tmp_path / "cut.tpk"
    for size in [0, 1, 63, 64, 65, 4095, 4096, 4097, len(data) - 1]:
        path.write_bytes(data[:size])
        with pytest.raises(tokpack.TokpackError):
            tokpack.open(path)


def test_every_single_byte_flip_is_caught():
    # Header and table are covered by their CRCs at open, section bytes by their
    # CRCs and padding by the zero rule in verify: no byte of a file is unchecked.
    data = small_file()
    rng = np.random.default_rng(1)
    positions = list(range(0, 64 + 64 * 4)) + rng.integers(0, len(data), 1500).tolist()
    for at in positions:
        bad = bytearray(data)
        bad[at] ^= int(rng.integers(1, 256))
        with pytest.raises(tokpack.TokpackError):
            open_read_verify(bytes(bad))


def test_random_multi_byte_damage_is_caught():
    data = small_file()
    rng = np.random.default_rng(2)
    for _ in range(500):
        bad = bytearray(data)
        for at in rng.integers(0, len(data), int(rng.integers(2, 10))):
            bad[at] ^= int(rng.integers(1, 256))
        if bytes(bad) == data:
            continue
        with pytest.raises(tokpack.TokpackError):
            open_read_verify(bytes(bad))


def test_structural_damage_with_correct_crcs_never_escapes_as_another_error():
    # A forged file: header and table fields changed, their CRCs recomputed, so that
    # the damage reaches the structural checks instead of stopping at the CRCs.
    data = small_file()
    rng = np.random.default_rng(3)
    interesting = [0, 8, 9, 10, 12, 32, 33, 39, 40, 48, 49, 51]
    for entry in range(4):
        base = 64 + 64 * entry
        interesting += [base + k for k in (0, 3, 4, 5, 6, 8, 9, 15, 16, 17, 23, 24, 25, 31)]
    outcomes = set()
    for _ in range(3000):
        bad = bytearray(data)
        for at in rng.choice(interesting, int(rng.integers(1, 4))):
            bad[at] = int(rng.integers(0, 256))
        if rng.random() < 0.3:  # also damage the arrays, keeping section CRCs wrong
            bad[int(rng.integers(4096, len(bad)))] ^= 0xFF
        try:
            open_read_verify(refresh_checksums(bytes(bad)))
            outcomes.add("ok")
        except tokpack.TokpackError as err:
            outcomes.add(err.code)
    assert len(outcomes) >= 10, outcomes


@pytest.mark.parametrize("seed", range(4))
def test_random_bytes_are_refused(seed):
    rng = np.random.default_rng(seed)
    for size in [0, 10, 64, 100, 5000]:
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        with pytest.raises(tokpack.TokpackError):
            tokpack.Dataset.from_buffer(data)
        forged = bytearray(data[:64].ljust(64, b"\0")) + bytearray(data[64:])
        forged[0:8] = b"TOKPACK\0"
        forged[8:10] = b"\x01\x00"
        forged[12:16] = b"\0\0\0\0"
        forged[32:40] = len(forged).to_bytes(8, "little")
        forged[40:48] = (64).to_bytes(8, "little")
        forged[48:52] = int(rng.integers(0, 4)).to_bytes(4, "little")
        with pytest.raises(tokpack.TokpackError):
            open_read_verify(refresh_checksums(bytes(forged)))


def sourced_file() -> bytes:
    from spec_writer import write_sourced

    return write_sourced(DOCS, 300, ["web", "code"], [1, 0, 1, 1], masks=MASKS)


def open_read_verify_sources(data: bytes) -> None:
    """As open_read_verify, and every source read (5.5); TokpackError if bad."""
    ds = tokpack.Dataset.from_buffer(data)
    if ds.sources is not None:
        for i in range(ds.num_documents):
            ds.source(i)
        ds.source_counts()
        for name in ds.sources:
            rows = tokpack.Rows(ds, 2, sources=[name], tail="pad", mask_document_boundaries=True)
            for row in rows:
                pass
    open_read_verify(data)


def test_sourced_file_damage_is_caught():
    """Single and multi-byte damage to a file with DOC_SOURCES: caught at open, on a
    source read or in verify, always as TokpackError."""
    data = sourced_file()
    open_read_verify_sources(data)
    rng = np.random.default_rng(4)
    positions = list(range(0, 64 + 64 * 5)) + rng.integers(0, len(data), 600).tolist()
    for at in positions:
        bad = bytearray(data)
        bad[at] ^= int(rng.integers(1, 256))
        with pytest.raises(tokpack.TokpackError):
            open_read_verify_sources(bytes(bad))


def test_sourced_file_forged_tables_never_escape():
    data = sourced_file()
    rng = np.random.default_rng(5)
    interesting = [8, 10, 48]
    for entry in range(5):
        base = 64 + 64 * entry
        interesting += [base + k for k in (0, 4, 5, 6, 8, 9, 16, 17, 24, 25)]
    outcomes = set()
    for _ in range(1500):
        bad = bytearray(data)
        for at in rng.choice(interesting, int(rng.integers(1, 3))):
            bad[at] = int(rng.integers(0, 256))
        if rng.random() < 0.5:  # damage the source ids, CRC left wrong
            at = next(s for s in tokpack.Dataset.from_buffer(data).sections if s["kind"] == 11)
            bad[at["offset"] + int(rng.integers(0, 8))] = int(rng.integers(0, 256))
        try:
            open_read_verify_sources(refresh_checksums(bytes(bad)))
            outcomes.add("ok")
        except tokpack.TokpackError as err:
            outcomes.add(err.code)
    # Damaged ids are read (and refused) before verify would see the CRC.
    assert "bad_source" in outcomes and len(outcomes) >= 6, outcomes
