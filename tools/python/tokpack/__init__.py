"""tokpack: the reference Python reader for tokpack files (spec/FORMAT.md).

A tokpack file holds a tokenized dataset: one flat token array, the document
boundaries inside it, an optional loss mask and JSON metadata, each section on a
page boundary so that it can be viewed as a typed array straight from a mapping.
Since version 1.3 a dataset may name each document's source (spec 5.5); a view may
be restricted to some sources (12.5), and a mixture plan (12.6) draws from them in
chosen proportions. Since version 1.4 the tokens may be stored as zstd blocks (spec
5.6): the same API reads them, decompressing only the blocks a read touches (the
``zstandard`` package is imported then; raw files need numpy only).
A plan file (spec 11) cuts one dataset into training rows of L tokens (spec 12).
An overlay file (spec 13) holds insertions: token spans that overwrite a view's rows
at given positions; ``tokpack.placement`` places them as spec 14 says.

    import tokpack

    ds = tokpack.open("train.tpk")   # cheap: header, table and a few reads (spec 6.1)
    ds.verify()                      # optional full pass: CRCs, offsets, token ids
    ids = ds.document(0)             # numpy view into the mapping, no copy
    mask = ds.loss_mask(0)           # bool array, all True if the file has no mask

    plan = tokpack.open_plan("train.bfd.tpk")    # spec 11.4
    plan.verify_against(ds)                      # 11.5, binding, segments in documents
    rows = tokpack.Rows(ds, plan=plan)           # or tokpack.Rows(ds, 2048): contiguous
    rows.row(0)["input_ids"]                     # and labels, position_ids, ...

    overlay = tokpack.open_overlay("train.ins.tpk")  # spec 13.2
    overlay.verify()                                 # 13.3
    rows = tokpack.Rows(ds, plan=plan, overlays=[overlay])   # 13.4

Every problem with a file raises :class:`TokpackError`, whose ``code`` is one of the
spec's error codes (section 6.3). Out-of-range document or row indices raise
``IndexError``; unreadable paths raise ``OSError``.
"""

from .dataset import Dataset, open
from . import interchange, placement
from .errors import ERROR_CODES, TokpackError
from .manifest import Manifest, ManifestError, open_manifest
from . import order
from .overlay import Insertion, Overlay, open_overlay
from .plan import Plan, open_plan
from .rows import IGNORE_INDEX, Rows
from .sources import SourceFilter, plan_source_tokens

__all__ = [
    "Dataset",
    "ERROR_CODES",
    "IGNORE_INDEX",
    "Insertion",
    "Manifest",
    "ManifestError",
    "Overlay",
    "Plan",
    "Rows",
    "SourceFilter",
    "TokpackError",
    "interchange",
    "open",
    "open_manifest",
    "open_overlay",
    "order",
    "open_plan",
    "placement",
    "plan_source_tokens",
]
__version__ = "0.1.0"
