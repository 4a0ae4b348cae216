#!/usr/bin/env python3
"""Megatron-Core's own writer and reader, for tokpack's interop tests (tests/interop.rs).

    make_megatron.py write PREFIX VOCAB_SIZE EXPECTED.json
        Builds PREFIX.bin + PREFIX.idx with megatron.core.datasets.indexed_dataset's
        IndexedDatasetBuilder, in the dtype Megatron picks for VOCAB_SIZE
        (DType.optimal_dtype), with documents of several sequences (add_item +
        end_document), whole documents (add_document) and an empty document, and writes
        the documents it wrote to EXPECTED.json as [[ids...], ...], each document the
        concatenation of its sequences.

    make_megatron.py read PREFIX EXPECTED.json
        Reads PREFIX with Megatron's IndexedDataset and exits non-zero unless its documents
        (sequences document_indices[d] .. document_indices[d+1], concatenated) are exactly
        the ones in EXPECTED.json.

Needs `pip install megatron-core` (which pulls torch); the Rust test runs it only when
`python3 -c "import megatron.core"` works.
"""

import json
import sys

import numpy as np
import torch
from megatron.core.datasets.indexed_dataset import DType, IndexedDataset, IndexedDatasetBuilder


def documents(vocab_size):
    """Deterministic documents of sequences: (sequences, how to add them)."""
    rng = np.random.default_rng(20240520)
    top = min(vocab_size, 2**31 - 1)
    docs = []
    for d in range(40):
        n_seq = int(rng.integers(1, 4))
        seqs = [rng.integers(0, top, size=int(rng.integers(0, 50))).tolist() for _ in range(n_seq)]
        docs.append((seqs, "items" if d % 3 else "document"))
    docs.insert(5, ([], "items"))  # an empty document: end_document() with no item
    docs.append(([[top - 1, 0, 1]], "items"))  # the largest id
    return docs


def write(prefix, vocab_size, expected_path):
    dtype = DType.optimal_dtype(vocab_size)
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=dtype)
    expected = []
    for seqs, how in documents(vocab_size):
        if how == "document" and seqs:
            flat = [t for s in seqs for t in s]
            builder.add_document(flat, [len(s) for s in seqs])
        else:
            for s in seqs:
                builder.add_item(torch.tensor(s, dtype=torch.int64))
            builder.end_document()
        expected.append([t for s in seqs for t in s])
    builder.finalize(prefix + ".idx")
    with open(expected_path, "w") as f:
        json.dump(expected, f)


def read(prefix, expected_path):
    with open(expected_path) as f:
        expected = json.load(f)
    ds = IndexedDataset(prefix)
    doc_idx = ds.document_indices
    got = []
    for d in range(len(doc_idx) - 1):
        tokens = []
        for s in range(int(doc_idx[d]), int(doc_idx[d + 1])):
            tokens.extend(int(t) for t in ds[s])
        got.append(tokens)
    if got != expected:
        for d, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                sys.exit(f"document {d} differs: Megatron read {g[:20]}..., expected {e[:20]}...")
        sys.exit(f"Megatron read {len(got)} documents, expected {len(expected)}")
    print(f"Megatron read {len(got)} documents ({ds.index.dtype.__name__}), all as expected")


def main(argv):
    if len(argv) == 5 and argv[1] == "write":
        write(argv[2], int(argv[3]), argv[4])
    elif len(argv) == 4 and argv[1] == "read":
        read(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
