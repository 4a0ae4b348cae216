"""tokpack through its Python reader (tools/python/tokpack, numpy only).

- ``TokpackPython``: the contiguous view ``tokpack.Rows(ds, 2048)``; a row is
  ``rows.tokens(i)``, the ``L + 1`` tokens as a zero-copy slice of the mapping (then
  copied out by ``own``, like every system); a document is ``ds.document(i)``; the scan
  sums ``ds.tokens`` in slices.
- ``TokpackPythonPacked``: the bfd plan (``tokpack pack --strategy bfd``) with a random
  insertion overlay (``tokpack insert --random``) applied; a row is ``Rows.row(i)``, all
  five fields (input_ids, labels, position_ids, cu_seqlens, loss_mask).

The file is the plain one (``data/tokpack/corpus.tpk``) unless the driver names another
(a tokpack variant, e.g. zstd token sections)."""

import sys
from pathlib import Path

TOOLS_PYTHON = Path(__file__).resolve().parents[2] / "python"
sys.path.insert(0, str(TOOLS_PYTHON))

import tokpack  # noqa: E402

from common import SEQ_LEN  # noqa: E402


class TokpackPython:
    label = "tokpack, Python reader: contiguous row"
    uses_rows_form = False
    reopen = True

    def __init__(self, work, file=None):
        self.work = work
        self.dir = work.system_dir("tokpack")
        self.tpk = Path(file) if file else self.dir / "corpus.tpk"

    def files(self, kind="rows"):
        return [self.tpk]

    def write(self, tokens, offsets):
        raise NotImplementedError("written by the Rust writer (benches/compare.rs write)")

    def open_dataset(self):
        """The open figure: ``tokpack.open`` alone (spec 6.1, no data scan)."""
        return tokpack.open(self.tpk)

    def open(self, kind="rows"):
        ds = tokpack.open(self.tpk)
        return ds, tokpack.Rows(ds, SEQ_LEN)

    def row_reader(self, h):
        return h[1].tokens

    def doc_reader(self, h):
        return h[0].document

    def scan(self, h):
        tokens = h[0].tokens
        step = 1 << 20
        for a in range(0, len(tokens), step):
            yield tokens[a:a + step]


class TokpackPythonPacked(TokpackPython):
    label = "tokpack, Python reader: bfd row + overlay (5 fields)"
    packed = True

    def __init__(self, work, file=None):
        super().__init__(work, file)
        stem = self.tpk.name[: -len(".tpk")]
        self.plan = self.tpk.with_name(stem + ".bfd2048.tpk")
        self.overlay = self.tpk.with_name(stem + ".bfd2048.ins.tpk")

    def files(self, kind="rows"):
        return [self.tpk, self.plan, self.overlay]

    def open(self, kind="rows"):
        ds = tokpack.open(self.tpk)
        plan = tokpack.open_plan(self.plan)
        overlay = tokpack.open_overlay(self.overlay)
        return ds, tokpack.Rows(ds, plan=plan, overlays=[overlay])

    def row_reader(self, h):
        rows = h[1]

        def read(i):
            return rows.row(i)["input_ids"]  # the other four fields are built too

        return read

    def open_dataset(self):
        """The open figure: dataset, plan and overlay files, and the view."""
        return self.open()

    doc_reader = None
    scan = None
