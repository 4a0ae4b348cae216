"""``litdata`` (Lightning's optimized chunks), local directory, no compression.

Rows: ``optimize(..., item_loader=TokensLoader())`` over the pre-chunked contiguous rows
(the token stream of the rows back to back), read with
``StreamingDataset(dir, item_loader=TokensLoader(block_size=2049))`` so block ``i`` is
the stream ``[i*2048, i*2048 + 2049)`` (litgpt's pretraining path). Documents: one
``uint32`` array per document with the default loader. Random reads with
``batch_decode=False``. ``optimize`` runs 2 workers (the
machine's cores), each a static slice in order (``keep_data_ordered=True``). The scan
iterates the row dataset."""

import os
import shutil
import time

import numpy as np
from litdata import StreamingDataset, TokensLoader, optimize

from common import ROW, SEQ_LEN, n_rows

GROUP = 256  # rows or documents per optimize input


def _rows(item):
    path, a, z = item
    tokens = np.memmap(path, dtype=np.uint32, mode="r")
    for i in range(a, z):
        yield np.array(tokens[i * SEQ_LEN:i * SEQ_LEN + ROW])


def _docs(item):
    path, offsets_path, a, z = item
    tokens = np.memmap(path, dtype=np.uint32, mode="r")
    offsets = np.load(offsets_path, mmap_mode="r")
    for k in range(a, z):
        yield np.array(tokens[offsets[k]:offsets[k + 1]])


class Litdata:
    label = "litdata (optimize + StreamingDataset)"
    uses_rows_form = True
    reopen = True

    def __init__(self, work, file=None):
        self.work = work
        self.dir = work.system_dir("litdata")
        self.rows_dir = self.dir / "rows"
        self.docs_dir = self.dir / "docs"
        self.cache = self.dir / "cache"

    def files(self, kind="rows"):
        return [self.docs_dir if kind == "docs" else self.rows_dir]

    def write(self, tokens, offsets):
        # The workers read the corpus file (in the page cache) rather than pickled arrays.
        src, off = str(self.work.bin), str(self.work.offsets)
        for d in (self.rows_dir, self.docs_dir):
            shutil.rmtree(d, ignore_errors=True)
        common = dict(num_workers=2, keep_data_ordered=True, reorder_files=False, verbose=False)
        n_docs = len(offsets) - 1
        t = time.perf_counter()
        optimize(fn=_docs, inputs=[(src, off, a, min(a + GROUP, n_docs))
                                   for a in range(0, n_docs, GROUP)],
                 output_dir=str(self.docs_dir), chunk_bytes="64MB", **common)
        docs_s = time.perf_counter() - t
        r = n_rows(len(tokens))
        t = time.perf_counter()
        optimize(fn=_rows, inputs=[(src, a, min(a + GROUP, r)) for a in range(0, r, GROUP)],
                 output_dir=str(self.rows_dir), chunk_size=ROW * 8192,
                 item_loader=TokensLoader(), **common)
        rows_s = time.perf_counter() - t
        return {"write_s": docs_s, "rows_write_s": rows_s,
                "what": "optimize(2 workers) one sample per document; rows: TokensLoader "
                        "chunks of 8192 rows"}

    def open(self, kind="rows"):
        os.environ.setdefault("DATA_OPTIMIZER_CACHE_FOLDER", str(self.cache))
        # batch_decode=False: decode the item asked for, not a window around it ("auto"
        # decodes ~250 neighbours per random read of a document: 30x slower here).
        if kind != "docs":
            return StreamingDataset(str(self.rows_dir), item_loader=TokensLoader(block_size=ROW),
                                    batch_decode=False)
        return StreamingDataset(str(self.docs_dir), batch_decode=False)

    def row_reader(self, ds):
        return ds.__getitem__

    doc_reader = row_reader

    def scan(self, ds):
        yield from ds
