"""Mapping a file into memory: the only place ``np.memmap`` appears.

The mapping is read-only. Views handed out by ``Dataset`` keep it alive. As with any
``mmap``, if another process truncates the file while it is mapped, touching the lost
pages raises SIGBUS; tokpack files are meant to be written once (to a temporary name,
then renamed) and never changed in place.
"""

import os

import numpy as np


def map_file(path) -> np.ndarray:
    """The file's bytes as a read-only ``uint8`` array backed by ``mmap``.

    An empty file cannot be mapped; it comes back as an empty in-memory array so
    that the reader reports it like any other short file (``truncated``).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
    if size == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r")
