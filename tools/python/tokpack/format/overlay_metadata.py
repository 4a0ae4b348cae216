"""Overlay metadata (spec 13.1): the METADATA object of an overlay file.

It is JSON under every restriction of 5.4 (``metadata.parse`` does those), with
``"file": "overlay"`` and an ``"overlay"`` object holding the keys below, all
required. As in plan files, of 5.4's top-level keys only ``file`` and ``writer``
(string or null) apply; the others are the user's and ignored, and so are keys of
``"overlay"`` that 13.1 does not name.

The integers follow 5.4's integer rule (digits only, below 2**64; 13.2 step 3) and
``vocab_size`` is from 1 to 2**32 (13.1).

``plan_id`` is 32 lowercase hex digits (as ``dataset_id``) or null, compared with the
plan file's header ``dataset_id`` as the 16 bytes it spells.
"""

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .metadata import FILE_KEY, FILE_OVERLAY, MAX_VOCAB_SIZE, check_writer, is_plain_int, shown
from .plan_metadata import MAX_SEQ_LEN

#: The integer keys of 13.1.
INTEGER_KEYS = (
    "dataset_tokens",
    "dataset_documents",
    "vocab_size",
    "seq_len",
    "rows",
    "insertions",
    "tokens",
)
_HEX_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class OverlayInfo:
    """The keys of the ``"overlay"`` object."""

    dataset_id: bytes
    dataset_tokens: int
    dataset_documents: int
    vocab_size: int
    seq_len: int
    plan_id: Optional[bytes]  # None: the contiguous view without a plan file
    rows: int
    insertions: int
    tokens: int

    @classmethod
    def from_metadata(cls, meta: Dict[str, Any]) -> "OverlayInfo":
        """From metadata that :func:`check_keys` accepted."""
        ov = meta["overlay"]
        return cls(
            dataset_id=bytes.fromhex(ov["dataset_id"]),
            dataset_tokens=ov["dataset_tokens"],
            dataset_documents=ov["dataset_documents"],
            vocab_size=ov["vocab_size"],
            seq_len=ov["seq_len"],
            plan_id=None if ov["plan_id"] is None else bytes.fromhex(ov["plan_id"]),
            rows=ov["rows"],
            insertions=ov["insertions"],
            tokens=ov["tokens"],
        )


def check_keys(meta: Dict[str, Any], bad) -> None:
    """13.2 step 2 (``bad_metadata``): ``"file": "overlay"``, ``writer`` a string or
    null, the ``"overlay"`` object and its keys well typed. Runs inside
    ``metadata.parse`` (signed literals still tagged, so ``-0`` and ``-1`` are refused
    as integers)."""
    if meta.get(FILE_KEY) != FILE_OVERLAY:
        if FILE_KEY not in meta:
            raise bad("no 'file' key: an overlay file has \"file\": \"overlay\" (13)")
        raise bad(f"'file' is {shown(meta[FILE_KEY])}, not \"overlay\" (13)")
    check_writer(meta, bad)
    if "overlay" not in meta:
        raise bad("no 'overlay' object (13.1)")
    ov = meta["overlay"]
    if not isinstance(ov, dict):
        raise bad(f"'overlay' is {shown(ov)}, not an object (13.1)")

    def need(key: str) -> Any:
        if key not in ov:
            raise bad(f"overlay.{key} is missing (13.1)")
        return ov[key]

    dataset_id = need("dataset_id")
    if not isinstance(dataset_id, str) or not _HEX_ID.fullmatch(dataset_id):
        raise bad(f"overlay.dataset_id is {shown(dataset_id)}, not 32 lowercase hex digits")
    for key in INTEGER_KEYS:
        value = need(key)
        if not is_plain_int(value):
            raise bad(
                f"overlay.{key} is {shown(value)}, not a plain JSON integer (digits only, "
                f"below 2**64)"
            )
    if not 1 <= ov["vocab_size"] <= MAX_VOCAB_SIZE:
        raise bad(f"overlay.vocab_size is {ov['vocab_size']}, not from 1 to {MAX_VOCAB_SIZE}")
    if not 1 <= ov["seq_len"] <= MAX_SEQ_LEN:
        raise bad(f"overlay.seq_len is {ov['seq_len']}, not from 1 to {MAX_SEQ_LEN} (2**24)")
    plan_id = need("plan_id")
    if plan_id is not None and (not isinstance(plan_id, str) or not _HEX_ID.fullmatch(plan_id)):
        raise bad(f"overlay.plan_id is {shown(plan_id)}, not null or 32 lowercase hex digits")
