"""Mapping a file into memory: the only place a file is mapped.

The file is mapped once, read-only (``mmap.ACCESS_READ``), and seen as a plain
``uint8`` ndarray over that mapping (``np.frombuffer``): every section array the
reader hands out (tokens, offsets, plan rows and segments, overlay arrays) is a
plain typed ndarray view of it, read-only, with no copy. Plain views rather than
``np.memmap``: slicing an ``np.memmap`` runs its Python-level ``__getitem__`` and
``__array_finalize__`` (about 2 µs a slice), a plain view slices in C.

Views keep the mapping alive (their ``base`` chain ends at the ``mmap`` object). As
with any ``mmap``, if another process truncates the file while it is mapped,
touching the lost pages raises SIGBUS; tokpack files are meant to be written once
(to a temporary name, then renamed) and never changed in place.
"""

import mmap
import os

import numpy as np


def map_file(path) -> np.ndarray:
    """The file's bytes as a read-only ``uint8`` ndarray backed by ``mmap``.

    An empty file cannot be mapped; it comes back as an empty in-memory array so
    that the reader reports it like any other short file (``truncated``).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return np.zeros(0, dtype=np.uint8)
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return np.frombuffer(mapped, dtype=np.uint8)


def is_mapped(array) -> bool:
    """Whether ``array`` is a view over a file mapping (its ``base`` chain reaches
    an ``mmap``)."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return True
        base = getattr(base, "base", None) if isinstance(base, np.ndarray) else getattr(
            base, "obj", None)
    return False
