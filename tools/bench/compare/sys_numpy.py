"""The nanoGPT baseline: the raw ``.bin`` of uint32 tokens, written with
``ndarray.tofile`` (the write baseline), read through ``np.memmap`` slices (what
nanoGPT's ``get_batch`` does) or from a copy held in RAM (``np.fromfile``). Documents
are ``tokens[off[i]:off[i + 1]]`` with the ``offsets.npy`` array loaded in memory."""

import time

import numpy as np

from common import ROW, SEQ_LEN, sync

WRITE_REPEATS = 7


class _Raw:
    uses_rows_form = False
    reopen = True

    def __init__(self, work, file=None):
        self.work = work
        self.dir = work.system_dir("numpy")
        self.bin = self.dir / "tokens.bin"
        self.offsets_path = self.dir / "offsets.npy"

    def files(self, kind="rows"):
        return [self.bin, self.offsets_path]

    def write(self, tokens, offsets):
        runs = []
        for _ in range(WRITE_REPEATS):
            self.bin.unlink(missing_ok=True)
            sync()
            t = time.perf_counter()
            tokens.tofile(self.bin)
            runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        np.save(self.offsets_path, offsets)
        off_s = time.perf_counter() - t
        return {"write_s": float(np.median(runs)), "write_all_s": runs,
                "offsets_npy_s": off_s, "what": "tokens.tofile(path), median of "
                f"{WRITE_REPEATS} (sync before each, no fsync); offsets np.save not included"}

    def doc_reader(self, h):
        tokens, offsets = h

        def read(i):
            return tokens[offsets[i]:offsets[i + 1]]

        return read

    def row_reader(self, h):
        tokens, _ = h

        def read(i):
            s = i * SEQ_LEN
            return tokens[s:s + ROW]

        return read

    def scan(self, h):
        tokens, _ = h
        step = 1 << 20
        for a in range(0, len(tokens), step):
            yield tokens[a:a + step]


class NumpyMemmap(_Raw):
    label = "raw np.memmap of .bin (nanoGPT)"

    def open(self, kind="rows"):
        tokens = np.memmap(self.bin, dtype=np.uint32, mode="r")
        offsets = np.load(self.offsets_path)
        return tokens, offsets


class NumpyRam(_Raw):
    label = ".bin read into RAM (np.fromfile)"

    def open(self, kind="rows"):
        return np.fromfile(self.bin, dtype=np.uint32), np.load(self.offsets_path)
