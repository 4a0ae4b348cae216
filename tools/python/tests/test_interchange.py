"""Interchange forms of insertions (spec 13.5) and the HDF5 importer
(``tokpack.interchange``)."""

import json

import numpy as np
import pytest

import overlay_catalog as cat
import tokpack
from spec_writer import overlay_file
from tokpack import interchange, placement


def test_insert_dict():
    assert interchange.read_insert_dict('{"8190": [7, 8, 9, 10, 11, 12], "3": [1]}') == [
        (3, [1]), (8190, [7, 8, 9, 10, 11, 12])]
    assert interchange.read_insert_dict({"0": []}) == [(0, [])]
    for bad in ('[]', '{"-1": [1]}', '{"1.5": [1]}', '{"1": [1.0]}', '{"1": [-1]}', '{"1": 3}',
                '{"x": [1]}', '{"1": [true]}'):
        with pytest.raises(ValueError):
            interchange.read_insert_dict(bad)


def test_rows_dict_example_of_13_5():
    split = placement.explicit_insertions(
        interchange.read_insert_dict('{"8190": [7, 8, 9, 10, 11, 12]}'), 4096, 3,
        split_across_rows=True)
    rows = interchange.rows_dict(split, 4096)
    assert rows == {"1": [[4094, [7, 8]]], "2": [[0, [9, 10, 11, 12]]]}
    assert json.dumps(rows) == '{"1": [[4094, [7, 8]]], "2": [[0, [9, 10, 11, 12]]]}'
    assert interchange.rows_dict_insertions(rows, 4096) == split
    with pytest.raises(ValueError):
        interchange.rows_dict([(4095, [1, 2])], 4096)
    with pytest.raises(ValueError):
        interchange.rows_dict_insertions({"0": [[4096, [1]]]}, 4096)


def test_rows_dict_orders_rows_and_offsets():
    rows = interchange.rows_dict([(20, [1]), (3, [2]), (1, [3]), (17, [4])], 8)
    assert list(rows) == ["0", "2"]
    assert rows == {"0": [[1, [3]], [3, [2]]], "2": [[1, [4]], [4, [1]]]}


def test_export_of_an_overlay_round_trips():
    ds = tokpack.Dataset.from_buffer(cat.dataset_bytes())
    ov = tokpack.Overlay.from_buffer(cat.made())
    back = interchange.rows_dict_insertions(ov.export_rows(), cat.L)
    again = overlay_file(ds, cat.L, cat.ROWS, [(p, t, f) for (p, t), f in zip(back, ov.flags.tolist())])
    assert tokpack.Overlay.from_buffer(again).export_rows() == ov.export_rows()


def test_import_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "insertions.h5"
    # Rows 5 and 2 (keys need not be in order); row 5 has two insertions, stored out of
    # offset order; row 2 one.
    with h5py.File(path, "w") as f:
        f["keys"] = np.array([5, 2], dtype=np.int64)
        f["tuple_offsets"] = np.array([0, 2, 3], dtype=np.int64)
        f["positions"] = np.array([7, 1, 0], dtype=np.int64)
        f["token_offsets"] = np.array([0, 1, 3, 6], dtype=np.int64)
        f["tokens"] = np.array([40, 41, 42, 50, 51, 52], dtype=np.uint32)
        grp = f.create_group("nested")
        for name in ("keys", "tuple_offsets", "positions", "token_offsets", "tokens"):
            grp[name] = f[name][()]
    rows = interchange.import_hdf5(path)
    assert rows == {"2": [[0, [50, 51, 52]]], "5": [[1, [41, 42]], [7, [40]]]}
    assert interchange.import_hdf5(path, group="nested") == rows
    assert interchange.rows_dict_insertions(rows, 8) == [(16, [50, 51, 52]), (41, [41, 42]), (47, [40])]
    # Into an overlay, through the placement rules (row ends, overlaps).
    done = placement.place(8, 6, explicit=interchange.rows_dict_insertions(rows, 8))
    assert done.rows_dict() == rows

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["keys"] = np.array([1])
        f["tuple_offsets"] = np.array([0, 2])
        f["positions"] = np.array([0])
        f["token_offsets"] = np.array([0, 1])
        f["tokens"] = np.array([1])
    with pytest.raises(ValueError):
        interchange.import_hdf5(bad)
