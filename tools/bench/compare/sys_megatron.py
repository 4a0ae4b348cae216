"""Megatron-Core's ``IndexedDataset`` (``pip install megatron-core``): ``X.bin`` + ``X.idx``,
one sequence per document, ``int32`` tokens (Megatron has no uint32: vocabularies of
65,500 ids and more are stored as int32).

Write: ``IndexedDatasetBuilder.add_document`` per document, then ``finalize``. Then,
as GPTDataset does at start-up and caches as ``.npy``, the sample index of the
contiguous rows (``L = 2048``, one extra token: row ``i`` is the stream
``[i*L, i*L + L + 1)``): begin document and offset, end document and length.

Row read: GPTDataset's ``_query_document_sample_shuffle_indices`` without the shuffle
index: ``IndexedDataset.get(doc, offset, length)`` for each document the row spans,
``np.concatenate`` when there are several. Document read: ``ds[i]``. Scan: contiguous
slices ``ds[a:a + 256]`` (one read each, split into sequences)."""

import time

import numpy as np
from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder

from common import ROW, SEQ_LEN, n_rows


def sample_index(offsets, n_tokens):
    """(begin doc, begin offset, end doc, end length) of each contiguous row."""
    r = n_rows(n_tokens)
    starts = np.arange(r, dtype=np.int64) * SEQ_LEN
    last = starts + ROW - 1  # the row's last token
    b = np.searchsorted(offsets, starts, side="right") - 1
    e = np.searchsorted(offsets, last, side="right") - 1
    return np.stack([b, starts - offsets[b], e, last + 1 - offsets[e]], axis=1)


class Megatron:
    label = "Megatron-Core IndexedDataset"
    uses_rows_form = False
    reopen = True

    def __init__(self, work, file=None):
        self.dir = work.system_dir("megatron")
        self.prefix = str(self.dir / "corpus_text_document")
        self.samples = self.dir / "sample_index.npy"

    def files(self, kind="rows"):
        return [self.prefix + ".bin", self.prefix + ".idx", self.samples]

    def write(self, tokens, offsets):
        t = time.perf_counter()
        b = IndexedDatasetBuilder(self.prefix + ".bin", dtype=np.int32)
        for k in range(len(offsets) - 1):
            a, z = int(offsets[k]), int(offsets[k + 1])
            b.add_document(tokens[a:z], [z - a])
        b.finalize(self.prefix + ".idx")
        dataset_s = time.perf_counter() - t
        t = time.perf_counter()
        np.save(self.samples, sample_index(offsets, len(tokens)))
        index_s = time.perf_counter() - t
        return {"write_s": dataset_s, "sample_index_s": index_s,
                "what": "IndexedDatasetBuilder.add_document per document + finalize "
                        "(the GPTDataset-style sample index, built after, not included)"}

    def open(self, kind="rows"):
        ds = IndexedDataset(self.prefix)
        return ds, np.load(self.samples, mmap_mode="r")

    def row_reader(self, h):
        ds, si = h
        get = ds.get

        def read(i):
            b, off, e, length = si[i]
            if b == e:
                return get(int(b), offset=int(off), length=ROW)
            parts = [get(int(b), offset=int(off))]
            for d in range(int(b) + 1, int(e)):
                parts.append(get(d))
            parts.append(get(int(e), offset=0, length=int(length)))
            return np.concatenate(parts)

        return read

    def doc_reader(self, h):
        return h[0].__getitem__

    def scan(self, h):
        ds = h[0]
        n = len(ds)
        for a in range(0, n, 256):
            yield from ds[a:min(a + 256, n)]
