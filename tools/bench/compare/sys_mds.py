"""MosaicML ``streaming`` (MDS shards), local directory, no compression, no hashes.

Two datasets: documents (column ``tokens``, encoding ``ndarray:uint32``, variable
length) and the contiguous rows pre-chunked (``ndarray:uint32:2049``, fixed shape, row
``i`` the stream ``[i*2048, i*2048 + 2049)``), written sample by sample with
``MDSWriter`` (default 64 MiB shards). Read with ``StreamingDataset(local=...,
batch_size=1)`` and ``ds[i]["tokens"]`` (MDS reads with seek + read, not mmap); the scan
iterates the row dataset in order."""

import shutil
import time

from streaming import MDSWriter, StreamingDataset
from streaming.base.util import clean_stale_shared_memory

from common import ROW, rows_form


class MDS:
    label = "MosaicML streaming (MDS)"
    uses_rows_form = True
    reopen = False  # a StreamingDataset owns shared memory named after its directory

    def __init__(self, work, file=None):
        self.dir = work.system_dir("mds")
        self.rows_dir = self.dir / "rows"
        self.docs_dir = self.dir / "docs"

    def files(self, kind="rows"):
        return [self.docs_dir if kind == "docs" else self.rows_dir]

    def write(self, tokens, offsets):
        for d in (self.rows_dir, self.docs_dir):
            shutil.rmtree(d, ignore_errors=True)
        t = time.perf_counter()
        with MDSWriter(out=str(self.docs_dir), columns={"tokens": "ndarray:uint32"}) as w:
            for k in range(len(offsets) - 1):
                w.write({"tokens": tokens[offsets[k]:offsets[k + 1]]})
        docs_s = time.perf_counter() - t
        t = time.perf_counter()
        with MDSWriter(out=str(self.rows_dir), columns={"tokens": f"ndarray:uint32:{ROW}"}) as w:
            for row in rows_form(tokens):
                w.write({"tokens": row})
        rows_s = time.perf_counter() - t
        return {"write_s": docs_s, "rows_write_s": rows_s,
                "what": "MDSWriter.write per document (ndarray:uint32); rows: per row "
                        f"(ndarray:uint32:{ROW})"}

    def open(self, kind="rows"):
        clean_stale_shared_memory()
        d = self.docs_dir if kind == "docs" else self.rows_dir
        # The scan lets the ready thread run ahead: the default predownload (8 x batch_size)
        # makes it sleep a 7 ms tick every 8 samples (0.9 ms a sample at batch_size 1).
        predownload = 1 << 30 if kind == "scan" else None
        return StreamingDataset(local=str(d), batch_size=1, shuffle=False,
                                predownload=predownload)

    def row_reader(self, ds):
        def read(i):
            return ds[i]["tokens"]

        return read

    doc_reader = row_reader

    def scan(self, ds):
        for sample in ds:
            yield sample["tokens"]
