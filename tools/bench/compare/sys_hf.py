"""Hugging Face ``datasets`` (Arrow files, memory-mapped by ``load_from_disk``).

Two datasets, each one column ``input_ids``: the documents (``list<uint32>``) and the
contiguous rows pre-chunked (``fixed_size_list<uint32>[2049]``, row ``i`` the stream
``[i*2048, i*2048 + 2049)``). Both are built from the in-memory arrays as Arrow arrays
(the fastest way in: no Python lists), wrapped in ``datasets.Dataset`` and written with
``save_to_disk``. Reads use ``with_format("numpy", dtype=np.uint32)`` (no widening) and
``ds[i]["input_ids"]``; the scan iterates the rows in batches of 256."""

import shutil
import time

import numpy as np
import pyarrow as pa
import datasets
from datasets.table import InMemoryTable

from common import ROW, rows_form

datasets.disable_progress_bars()


class HFDatasets:
    label = "Hugging Face datasets (Arrow)"
    uses_rows_form = True
    reopen = True

    def __init__(self, work, file=None):
        self.dir = work.system_dir("hf")
        self.rows_dir = self.dir / "rows"
        self.docs_dir = self.dir / "docs"

    def files(self, kind="rows"):
        return [self.docs_dir if kind == "docs" else self.rows_dir]

    def write(self, tokens, offsets):
        for d in (self.rows_dir, self.docs_dir):
            shutil.rmtree(d, ignore_errors=True)
        t = time.perf_counter()
        docs = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(tokens))
        datasets.Dataset(InMemoryTable(pa.table({"input_ids": docs}))).save_to_disk(
            str(self.docs_dir))
        docs_s = time.perf_counter() - t
        t = time.perf_counter()
        flat = np.ascontiguousarray(rows_form(tokens)).reshape(-1)
        rows = pa.FixedSizeListArray.from_arrays(pa.array(flat), ROW)
        datasets.Dataset(InMemoryTable(pa.table({"input_ids": rows}))).save_to_disk(
            str(self.rows_dir))
        rows_s = time.perf_counter() - t
        return {"write_s": docs_s, "rows_write_s": rows_s,
                "what": "documents: pa.ListArray from the arrays -> Dataset -> save_to_disk; "
                        "rows: the same with fixed_size_list[2049]"}

    def open(self, kind="rows"):
        d = self.docs_dir if kind == "docs" else self.rows_dir
        return datasets.load_from_disk(str(d)).with_format("numpy", dtype=np.uint32)

    def row_reader(self, ds):
        def read(i):
            return ds[i]["input_ids"]

        return read

    doc_reader = row_reader

    def scan(self, ds):
        for batch in ds.iter(batch_size=256):
            yield batch["input_ids"]
