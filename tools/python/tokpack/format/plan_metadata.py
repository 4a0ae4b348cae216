"""Plan metadata (spec 11.1): the METADATA object of a plan file.

It is JSON under every restriction of 5.4 (``metadata.parse`` does those), with
``"file": "plan"`` and a ``"plan"`` object holding the keys below. Of 5.4's top-level
keys a plan file uses ``file`` and ``writer`` (string or null); the others
(``vocab_size``, ``tokenizer``, the special ids), like any other top-level key, are
the user's and ignored (11.1, version 1.2 of the spec).

Which keys a strategy needs: ``long_docs`` for ``doc_aligned`` and ``bfd``, ``tail``
for ``contiguous``; every other key for every strategy. A key that 11.1 names for
other strategies only is ignored, like the keys 11.1 does not name (11.1).
"""

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..errors import TokpackError
from .metadata import FILE_KEY, FILE_PLAN, check_writer, is_plain_int, shown
from .section_table import SectionEntry

STRATEGIES = ("contiguous", "doc_aligned", "bfd")
LONG_DOCS = ("truncate", "split")
TAILS = ("drop", "pad")
#: The integer keys of 11.1 (5.4's integer rule: digits only, below 2**64).
INTEGER_KEYS = (
    "dataset_tokens",
    "dataset_documents",
    "seq_len",
    "rows",
    "tokens",
    "padding_tokens",
    "truncated_tokens",
    "split_documents",
)
#: 11.1: ``seq_len`` is at most 2**24.
MAX_SEQ_LEN = 2**24
_DATASET_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class PlanInfo:
    """The keys of the ``"plan"`` object that a reader uses."""

    dataset_id: bytes
    dataset_tokens: int
    dataset_documents: int
    seq_len: int
    strategy: str
    long_docs: Optional[str]  # doc_aligned and bfd
    tail: Optional[str]  # contiguous
    rows: int
    tokens: int
    padding_tokens: int
    truncated_tokens: int
    split_documents: int

    @classmethod
    def from_metadata(cls, meta: Dict[str, Any]) -> "PlanInfo":
        """From metadata that :func:`check_keys` accepted."""
        plan = meta["plan"]
        contiguous = plan["strategy"] == "contiguous"
        return cls(
            dataset_id=bytes.fromhex(plan["dataset_id"]),
            dataset_tokens=plan["dataset_tokens"],
            dataset_documents=plan["dataset_documents"],
            seq_len=plan["seq_len"],
            strategy=plan["strategy"],
            long_docs=None if contiguous else plan["long_docs"],
            tail=plan["tail"] if contiguous else None,
            rows=plan["rows"],
            tokens=plan["tokens"],
            padding_tokens=plan["padding_tokens"],
            truncated_tokens=plan["truncated_tokens"],
            split_documents=plan["split_documents"],
        )


def check_keys(meta: Dict[str, Any], bad) -> None:
    """11.4 step 3 (``bad_metadata`` part): ``"file": "plan"``, ``writer`` a string or
    null, the ``"plan"`` object and its keys as 11.1 says. Runs inside
    ``metadata.parse`` (signed literals still tagged, so ``-0`` and ``-1`` are
    refused as integers)."""
    if meta.get(FILE_KEY) != FILE_PLAN:
        if FILE_KEY not in meta:
            raise bad("no 'file' key: a plan file has \"file\": \"plan\" (11.1)")
        raise bad(f"'file' is {shown(meta[FILE_KEY])}, not \"plan\" (11.1)")
    check_writer(meta, bad)
    if "plan" not in meta:
        raise bad("no 'plan' object (11.1)")
    plan = meta["plan"]
    if not isinstance(plan, dict):
        raise bad(f"'plan' is {shown(plan)}, not an object (11.1)")

    def need(key: str) -> Any:
        if key not in plan:
            raise bad(f"plan.{key} is missing (11.1)")
        return plan[key]

    dataset_id = need("dataset_id")
    if not isinstance(dataset_id, str) or not _DATASET_ID.fullmatch(dataset_id):
        raise bad(f"plan.dataset_id is {shown(dataset_id)}, not 32 lowercase hex digits")
    for key in INTEGER_KEYS:
        value = need(key)
        if not is_plain_int(value):
            raise bad(
                f"plan.{key} is {shown(value)}, not a plain JSON integer (digits only, "
                f"below 2**64)"
            )
    if not 1 <= plan["seq_len"] <= MAX_SEQ_LEN:
        raise bad(f"plan.seq_len is {plan['seq_len']}, not from 1 to {MAX_SEQ_LEN} (2**24)")
    strategy = need("strategy")
    if strategy not in STRATEGIES:
        raise bad(f"plan.strategy is {shown(strategy)}, not one of {', '.join(STRATEGIES)}")
    if strategy == "contiguous":
        tail = need("tail")
        if tail not in TAILS:
            raise bad(f"plan.tail is {shown(tail)}, not one of {', '.join(TAILS)}")
    else:
        long_docs = need("long_docs")
        if long_docs not in LONG_DOCS:
            raise bad(
                f"plan.long_docs is {shown(long_docs)}, not one of {', '.join(LONG_DOCS)}"
            )


def check_padding(info: PlanInfo, entry: SectionEntry) -> None:
    """11.4 step 3 (``bad_plan`` part): ``padding_tokens == rows * L - tokens`` without
    overflow (in 64-bit unsigned arithmetic, spec 1)."""
    capacity = info.rows * info.seq_len
    if capacity >= 2**64:
        raise TokpackError(
            "bad_plan",
            f"rows {info.rows} x seq_len {info.seq_len} overflows 64 bits",
            section="metadata",
            offset=entry.offset,
        )
    if info.tokens > capacity:
        raise TokpackError(
            "bad_plan",
            f"tokens {info.tokens} is more than rows {info.rows} x seq_len "
            f"{info.seq_len} = {capacity}",
            section="metadata",
            offset=entry.offset,
        )
    if info.padding_tokens != capacity - info.tokens:
        raise TokpackError(
            "bad_plan",
            f"padding_tokens is {info.padding_tokens}, not rows {info.rows} x seq_len "
            f"{info.seq_len} - tokens {info.tokens} = {capacity - info.tokens}",
            section="metadata",
            offset=entry.offset,
        )


def check_contiguous_figures(info: PlanInfo, entry: SectionEntry) -> None:
    """11.4 step 4 (after the row count): ``tokens = min(dataset_tokens, rows * L)``,
    ``truncated_tokens = dataset_tokens - tokens`` and ``split_documents = 0``
    (11.1, ``bad_plan``)."""
    tokens = min(info.dataset_tokens, info.rows * info.seq_len)
    for key, value, want in (
        ("tokens", info.tokens, tokens),
        ("truncated_tokens", info.truncated_tokens, info.dataset_tokens - tokens),
        ("split_documents", info.split_documents, 0),
    ):
        if value != want:
            raise TokpackError(
                "bad_plan",
                f"a contiguous plan of {info.rows} rows of {info.seq_len} over "
                f"{info.dataset_tokens} tokens has {key} = {want}, not {value} (11.1)",
                section="metadata",
                offset=entry.offset,
            )
