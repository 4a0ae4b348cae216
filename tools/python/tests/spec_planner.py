"""A planner written from spec 12.3 (and 12.1 for contiguous plans), for tests only.

It makes the rows tokpack's planner is specified to make, so that tests can build
plan files without the Rust CLI, and compare the CLI's plans with the spec's rules.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

from spec_writer import plan_info, plan_sections, rows_to_plan, write_plan


@dataclass
class SpecPlan:
    strategy: str
    seq_len: int
    rows: List[List[Tuple[int, int]]]  # per row, its (start, length) segments
    tokens: int
    truncated_tokens: int
    split_documents: int
    tail: str = "drop"
    long_docs: str = "split"
    extra: Dict = field(default_factory=dict)

    def info(self, dataset_id: bytes, n_tokens: int, n_docs: int) -> dict:
        return plan_info(
            dataset_id, n_tokens, n_docs, self.seq_len, self.strategy, len(self.rows),
            self.tokens, long_docs=self.long_docs, tail=self.tail,
            truncated=self.truncated_tokens, split=self.split_documents,
        )

    def file(self, dataset_id: bytes, n_tokens: int, n_docs: int) -> bytes:
        info = self.info(dataset_id, n_tokens, n_docs)
        if self.strategy == "contiguous":
            return write_plan(plan_sections(info))
        bounds, flat = rows_to_plan(self.rows)
        return write_plan(plan_sections(info, bounds, flat))


def contiguous_rows(n_tokens: int, seq_len: int, tail: str) -> int:
    """12.1: floor((n - 1) / L) dropped, ceil((n - 1) / L) padded, 0 when n <= 1."""
    if n_tokens <= 1:
        return 0
    q, r = divmod(n_tokens - 1, seq_len)
    return q + (1 if tail == "pad" and r else 0)


def pieces(lengths: Sequence[int], seq_len: int, long_docs: str):
    """12.3: each document as its pieces (start, length) in document order; the
    tokens truncated away; the number of documents split."""
    out, truncated, split = [], 0, 0
    start = 0
    for length in lengths:
        if length <= seq_len:
            if length:
                out.append((start, length))
        elif long_docs == "truncate":
            out.append((start, seq_len))
            truncated += length - seq_len
        else:
            split += 1
            for at in range(0, length, seq_len):
                out.append((start + at, min(seq_len, length - at)))
        start += length
    return out, truncated, split


def make_plan(lengths: Sequence[int], seq_len: int, strategy: str,
              long_docs: str = "split", tail: str = "drop") -> SpecPlan:
    n_tokens = int(sum(lengths))
    if strategy == "contiguous":
        rows = contiguous_rows(n_tokens, seq_len, tail)
        tokens = min(rows * seq_len, n_tokens)
        return SpecPlan(strategy, seq_len, [[] for _ in range(rows)], tokens,
                        n_tokens - tokens, 0, tail=tail)
    ps, truncated, split = pieces(lengths, seq_len, long_docs)
    if strategy == "doc_aligned":
        rows: List[List[Tuple[int, int]]] = []
        room = 0
        for start, length in ps:
            if not rows or length > room:
                rows.append([])
                room = seq_len
            rows[-1].append((start, length))
            room -= length
    elif strategy == "bfd":
        # Longest first, ties in document order (a stable sort keeps piece order).
        # 12.3: one stack of rows per amount of room; a row is pushed when it is
        # opened or filled down to that room, and a piece takes the top of the stack
        # of the least room that holds it (the row that came to have that room most
        # recently).
        order = sorted(range(len(ps)), key=lambda k: -ps[k][1])
        rows = []
        rooms: List[int] = []
        stacks: Dict[int, List[int]] = {}
        for k in order:
            start, length = ps[k]
            best = None
            for room in range(length, seq_len + 1):  # least room that still holds it
                if stacks.get(room):
                    best = stacks[room].pop()
                    break
            if best is None:  # a new row: pushed with room L, and taken at once
                rows.append([])
                rooms.append(seq_len)
                best = len(rows) - 1
            rooms[best] -= length
            stacks.setdefault(rooms[best], []).append(best)
            rows[best].append((start, length))
    else:
        raise ValueError(strategy)
    tokens = sum(length for _, length in ps)
    return SpecPlan(strategy, seq_len, rows, tokens, truncated, split, long_docs=long_docs)


def random_documents(rng: np.random.Generator, vocab_size: int, n_docs: int,
                     max_len: int, p_empty: float = 0.15):
    """Documents with empty ones and long ones, and random 0/1 masks."""
    docs, masks = [], []
    for _ in range(n_docs):
        length = 0 if rng.random() < p_empty else int(rng.integers(1, max_len + 1))
        docs.append(rng.integers(0, vocab_size, length, dtype=np.int64).tolist())
        masks.append(rng.integers(0, 2, length).tolist())
    return docs, masks
