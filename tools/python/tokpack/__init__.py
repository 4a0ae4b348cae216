"""tokpack: the reference Python reader for tokpack files (spec/FORMAT.md).

A tokpack file holds a tokenized dataset: one flat token array, the document
boundaries inside it, an optional loss mask and JSON metadata, each section on a
page boundary so that it can be viewed as a typed array straight from a mapping.

    import tokpack

    ds = tokpack.open("train.tpk")   # cheap: header, table and a few reads (spec 6.1)
    ds.verify()                      # optional full pass: CRCs, offsets, token ids
    ids = ds.document(0)             # numpy view into the mapping, no copy
    mask = ds.loss_mask(0)           # bool array, all True if the file has no mask

Every problem with a file raises :class:`TokpackError`, whose ``code`` is one of the
spec's error codes (section 6.3). Out-of-range document indices raise ``IndexError``;
unreadable paths raise ``OSError``.
"""

from .dataset import Dataset, open
from .errors import ERROR_CODES, TokpackError

__all__ = ["Dataset", "ERROR_CODES", "TokpackError", "open"]
__version__ = "0.1.0"
