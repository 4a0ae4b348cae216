"""DOC_SOURCES, kind 11 (spec 5.5, version 1.3): ``u16[n_docs]``, document ``i``'s
source id, an index into the metadata's ``sources`` names (5.4)."""

import numpy as np

from ..errors import TokpackError
from .section_table import SectionEntry

#: Ids per block in full passes, so that a pass never allocates in proportion to the
#: whole section at once.
CHUNK = 1 << 22


def view(raw: np.ndarray, entry: SectionEntry) -> np.ndarray:
    return raw[entry.offset : entry.end].view("<u2")


def _error(entry: SectionEntry, i: int, value: int, n_sources: int) -> TokpackError:
    return TokpackError(
        "bad_source",
        f"document {i} has source id {value}, but the metadata names {n_sources} "
        f"sources (ids 0 to {n_sources - 1})",
        section="doc_sources",
        offset=entry.offset + 2 * i,
    )


def check_ids(ids: np.ndarray, entry: SectionEntry, n_sources: int, start: int = 0,
              stop=None) -> None:
    """6.2 step 5: every id of documents ``start .. stop`` is below ``n_sources``
    (``bad_source``, naming the first document that is not)."""
    stop = len(ids) if stop is None else stop
    limit = np.uint16(n_sources - 1) if n_sources <= 65536 else None
    if limit is None:  # 65,536 names: every u16 id is one
        return
    for lo in range(start, stop, CHUNK):
        hi = min(lo + CHUNK, stop)
        bad = np.flatnonzero(ids[lo:hi] > limit)
        if len(bad):
            i = lo + int(bad[0])
            raise _error(entry, i, int(ids[i]), n_sources)


def id_of(ids: np.ndarray, entry: SectionEntry, i: int, n_sources: int) -> int:
    """Document ``i``'s source id, checked against ``n_sources`` as 6.2's last
    paragraph asks of a reader that has not verified (``bad_source``)."""
    value = int(ids[i])
    if value >= n_sources:
        raise _error(entry, i, value, n_sources)
    return value
