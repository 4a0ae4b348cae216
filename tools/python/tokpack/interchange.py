"""Interchange forms of insertions (spec 13.5), and an importer for an HDF5 layout.

- Insert dict (import): ``{"8190": [7, 8, 9, 10, 11, 12]}``, keys decimal global
  positions, values token ids: :func:`read_insert_dict`.
- Rows dict (export): ``{"ROW": [[OFFSET, [tokens]], ...], ...}``, keys decimal row
  numbers, each row's insertions in offset order: :func:`rows_dict`
  (``Overlay.export_rows`` gives it for an overlay file), and back to global
  positions with :func:`rows_dict_insertions`.
- HDF5 insertion maps: :func:`import_hdf5` (needs ``h5py``, which this package does
  not depend on).
"""

import json
import operator
from typing import Dict, Iterable, List, Mapping, Tuple

import numpy as np


def read_insert_dict(text_or_obj) -> List[Tuple[int, List[int]]]:
    """13.5's insert dict (a JSON text or the parsed object) as ``(position, tokens)``
    pairs in position order. Keys must be decimal positions (digits only)."""
    obj = json.loads(text_or_obj) if isinstance(text_or_obj, (str, bytes)) else text_or_obj
    if not isinstance(obj, Mapping):
        raise ValueError("an insert dict is a JSON object {\"POSITION\": [tokens], ...}")
    out = []
    for key, tokens in obj.items():
        if not isinstance(key, str) or not key.isascii() or not key.isdigit():
            raise ValueError(f"insert dict key {key!r} is not a decimal position")
        if not isinstance(tokens, list) or not all(
            type(t) is int and t >= 0 for t in tokens
        ):
            raise ValueError(f"insert dict value of {key!r} is not an array of token ids")
        out.append((int(key), list(tokens)))
    out.sort(key=lambda item: item[0])
    return out


def rows_dict(insertions: Iterable[Tuple[int, Iterable[int]]], seq_len: int) -> Dict[str, List[list]]:
    """13.5's rows dict from ``(global position, tokens)`` pairs: ``{"ROW": [[OFFSET,
    [tokens]], ...]}`` with rows in order and each row's insertions in offset order.
    Each insertion must lie inside one row (split them first)."""
    out: Dict[int, List[list]] = {}
    for p, tokens in insertions:
        p = operator.index(p)
        tokens = [int(t) for t in tokens]
        if p % seq_len + len(tokens) > seq_len:
            raise ValueError(f"insertion at position {p} (length {len(tokens)}) crosses a row end")
        out.setdefault(p // seq_len, []).append([p % seq_len, tokens])
    return {str(row): sorted(items, key=lambda item: item[0]) for row, items in sorted(out.items())}


def rows_dict_insertions(rows: Mapping, seq_len: int) -> List[Tuple[int, List[int]]]:
    """A rows dict back to ``(global position, tokens)`` pairs in position order."""
    out = []
    for row, items in rows.items():
        r = int(row)
        for offset, tokens in items:
            if not 0 <= offset < seq_len:
                raise ValueError(f"row {row}: offset {offset} is not inside a row of {seq_len}")
            out.append((r * seq_len + int(offset), [int(t) for t in tokens]))
    out.sort(key=lambda item: item[0])
    return out


def import_hdf5(path, group: str = "/") -> Dict[str, List[list]]:
    """Read an HDF5 insertion map into 13.5's rows dict.

    The layout is five flat datasets under ``group``:

    - ``keys`` (integers, ``[K]``): row numbers;
    - ``tuple_offsets`` (``[K + 1]``): the insertions of ``keys[i]`` are tuples
      ``tuple_offsets[i] .. tuple_offsets[i + 1]`` (end exclusive);
    - ``positions`` (``[T]``): tuple ``j``'s offset inside its row;
    - ``token_offsets`` (``[T + 1]``): tuple ``j``'s tokens are
      ``tokens[token_offsets[j] .. token_offsets[j + 1]]``;
    - ``tokens``: the token ids, concatenated.

    Assumed (the layout has no documentation here): ``positions`` are offsets inside
    the key's row, as in the rows dict, not global positions; both offset arrays
    start at 0, never decrease and end at their array's length. Anything else is a
    ``ValueError``. Requires ``h5py`` (not a dependency of this package)."""
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("tokpack.interchange.import_hdf5 needs h5py (pip install h5py)") from err
    with h5py.File(path, "r") as f:
        g = f[group]
        arrays = {name: np.asarray(g[name][()]) for name in
                  ("keys", "tuple_offsets", "positions", "token_offsets", "tokens")}
    for name, a in arrays.items():
        if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
            raise ValueError(f"HDF5 dataset {name!r} is not a flat integer array")
    keys, tuple_offsets = arrays["keys"], arrays["tuple_offsets"]
    positions, token_offsets, tokens = arrays["positions"], arrays["token_offsets"], arrays["tokens"]
    _check_offsets("tuple_offsets", tuple_offsets, len(keys), len(positions))
    _check_offsets("token_offsets", token_offsets, len(positions), len(tokens))
    if (keys.size and keys.min() < 0) or (positions.size and positions.min() < 0) or (
        tokens.size and tokens.min() < 0
    ):
        raise ValueError("negative row, offset or token id in the HDF5 insertion map")
    out: Dict[int, List[list]] = {}
    for i, key in enumerate(keys.tolist()):
        items = out.setdefault(key, [])
        for j in range(int(tuple_offsets[i]), int(tuple_offsets[i + 1])):
            a, b = int(token_offsets[j]), int(token_offsets[j + 1])
            items.append([int(positions[j]), tokens[a:b].tolist()])
    return {str(k): sorted(v, key=lambda item: item[0]) for k, v in sorted(out.items())}


def _check_offsets(name: str, offsets: np.ndarray, groups: int, items: int) -> None:
    if len(offsets) != groups + 1:
        raise ValueError(f"HDF5 dataset {name!r} has {len(offsets)} entries, not {groups + 1}")
    if offsets[0] != 0 or offsets[-1] != items or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ValueError(f"HDF5 dataset {name!r} does not run from 0 to {items} in order")
