"""The reader: opening (spec 6.1) and verifying (spec 6.2) a tokpack file."""

import operator
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import TokpackError
from .format import doc_offsets, doc_sources, loss_mask, metadata, tokens, zstd_blocks
from .format.header import read_header
from .format.section_table import (
    CODEC_ZSTD,
    KIND_DOC_OFFSETS,
    KIND_DOC_SOURCES,
    KIND_LOSS_MASK,
    KIND_METADATA,
    KIND_TOKENS,
    check_checksums,
    check_kinds,
    check_layout,
    check_padding,
    read_table,
)
from .mapping import map_file


class Dataset:
    """A tokpack file, opened and checked per spec 6.1.

    Build one with :func:`tokpack.open` (memory-mapped file) or
    :meth:`Dataset.from_buffer` (any bytes). Raw tokens (codec 0) are typed views
    over the underlying bytes; nothing is copied at open. Compressed tokens (codec
    1, zstd blocks, spec 5.6) are decompressed block by block when read, into fresh
    arrays; the ``cache_blocks`` most recently read blocks are kept (per process;
    default: as many as fit in 64 MiB, 2 to 16).
    """

    def __init__(self, raw: np.ndarray, cache_blocks: Optional[int] = None) -> None:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise TypeError("Dataset needs a one-dimensional uint8 array")
        self._raw = raw
        header = read_header(raw, len(raw))  # steps 1 and 2
        entries = read_table(raw, header)  # step 3
        check_layout(entries, header)  # steps 4 and 5
        found = check_kinds(entries, raw)  # steps 6 to 8
        tok_entry = found[KIND_TOKENS]
        off_entry = found[KIND_DOC_OFFSETS]
        mask_entry = found.get(KIND_LOSS_MASK)
        src_entry = found.get(KIND_DOC_SOURCES)
        meta_entry = found[KIND_METADATA]
        n_tokens = tok_entry.count
        # Step 9.
        if off_entry.count < 1:
            raise TokpackError(
                "count_mismatch",
                "count is 0; DOC_OFFSETS holds n_docs + 1 >= 1 offsets",
                section="doc_offsets",
                offset=off_entry.entry_offset + 24,
            )
        if mask_entry is not None and mask_entry.count != n_tokens:
            raise TokpackError(
                "count_mismatch",
                f"loss mask has {mask_entry.count} bits for {n_tokens} tokens",
                section="loss_mask",
                offset=mask_entry.entry_offset + 24,
            )
        if src_entry is not None and src_entry.count != off_entry.count - 1:
            raise TokpackError(
                "count_mismatch",
                f"DOC_SOURCES has {src_entry.count} source ids for "
                f"{off_entry.count - 1} documents",
                section="doc_sources",
                offset=src_entry.entry_offset + 24,
            )
        # Step 10: the ends of DOC_OFFSETS, then the block head of compressed tokens.
        offsets = doc_offsets.view(raw, off_entry)
        doc_offsets.check_ends(offsets, off_entry, n_tokens)
        blocks = None
        if tok_entry.codec == CODEC_ZSTD:
            blocks = zstd_blocks.check_head(raw, tok_entry)
        # Step 11.
        mask = None
        if mask_entry is not None:
            mask = loss_mask.view(raw, mask_entry)
            loss_mask.check_padding(mask, mask_entry)
        # Step 12 (the ``sources`` key typed as 5.4 says, among the others).
        meta = metadata.parse(raw[meta_entry.offset : meta_entry.end], meta_entry)
        tokens.check_vocab_dtype(tok_entry, meta["vocab_size"])
        # Step 13: the ``sources`` key present exactly when DOC_SOURCES is. A null
        # key means "not known" (5.4), as an absent one.
        names = meta.get(metadata.SOURCES_KEY)
        if (names is None) != (src_entry is None):
            if src_entry is not None:
                detail = (
                    f"the file has a DOC_SOURCES section (table entry {src_entry.index}) "
                    f"but the metadata has no 'sources' names"
                    + (" (the key is null)" if metadata.SOURCES_KEY in meta else "")
                )
            else:
                detail = (
                    f"the metadata names {len(names)} sources but the file has no "
                    f"DOC_SOURCES section"
                )
            raise TokpackError(
                "bad_metadata", detail, section="metadata", offset=meta_entry.offset
            )

        self._header = header
        self._entries = entries
        self._tok_entry = tok_entry
        self._off_entry = off_entry
        self._mask_entry = mask_entry
        if blocks is None:
            self._tokens = tokens.view(raw, tok_entry)
            self._zstd = None
        else:
            self._zstd = zstd_blocks.ZstdTokens(raw, tok_entry, blocks, cache_blocks)
            self._tokens = self._zstd
        self._offsets = offsets
        self._mask = mask
        self._metadata = meta
        self._offsets_ordered = False
        self._src_entry = src_entry
        self._sources = None if names is None else tuple(names)
        self._doc_sources = None if src_entry is None else doc_sources.view(raw, src_entry)
        self._sources_checked = False

    @classmethod
    def from_buffer(cls, data, cache_blocks: Optional[int] = None) -> "Dataset":
        """Open a tokpack file held in memory (``bytes``, ``bytearray``, ...)."""
        return cls(np.frombuffer(data, dtype=np.uint8), cache_blocks)

    # -- what the file holds ------------------------------------------------------

    @property
    def tokens(self):
        """All token ids. Raw tokens: a typed view over the file (little-endian, zero
        copy). Compressed tokens (5.6): a :class:`tokpack.format.zstd_blocks.ZstdTokens`,
        sequence-like (``len``, ``dtype``, slicing and integer-array indexing give
        fresh arrays, only the blocks touched decompressed; ``np.asarray`` of it
        decompresses the whole stream)."""
        return self._tokens

    @property
    def is_compressed(self) -> bool:
        """Whether TOKENS is stored as zstd blocks (codec 1, spec 5.6): then no typed
        view of the tokens exists, and reads give fresh arrays."""
        return self._zstd is not None

    @property
    def codec(self) -> int:
        """The TOKENS codec: 0 (raw) or 1 (zstd blocks)."""
        return self._tok_entry.codec

    @property
    def block_tokens(self) -> Optional[int]:
        """Tokens per zstd block (5.6), or None for raw tokens."""
        return None if self._zstd is None else self._zstd.block_tokens

    @property
    def num_blocks(self) -> Optional[int]:
        return None if self._zstd is None else self._zstd.num_blocks

    @property
    def cache_blocks(self) -> int:
        """Decompressed blocks kept per process (0 for raw tokens; settable)."""
        return 0 if self._zstd is None else self._zstd.cache_blocks

    @cache_blocks.setter
    def cache_blocks(self, value: int) -> None:
        if self._zstd is not None:
            self._zstd.cache_blocks = value

    @property
    def doc_offsets(self) -> np.ndarray:
        """The ``u64[n_docs + 1]`` document boundaries, a view over the file. Only
        their two ends are checked at open; :meth:`verify` checks the rest."""
        return self._offsets

    @property
    def num_tokens(self) -> int:
        return self._tok_entry.count

    @property
    def num_documents(self) -> int:
        return self._off_entry.count - 1

    def __len__(self) -> int:
        return self.num_documents

    @property
    def dtype(self) -> str:
        """The TOKENS element type: ``"u8"``, ``"u16"`` or ``"u32"``."""
        return tokens.dtype_name(self._tok_entry)

    @property
    def has_loss_mask(self) -> bool:
        return self._mask is not None

    @property
    def metadata(self) -> Dict[str, Any]:
        """The metadata object as stored: every key the file has, user keys and null
        values included, and no key the file does not have. Numbers as spec 5.4 says:
        integers in [-2**63, 2**64) as exact ``int``, every other number as its
        correctly rounded ``float`` (``1e30`` and ``18446744073709551617`` both)."""
        return self._metadata

    @property
    def vocab_size(self) -> int:
        return self._metadata["vocab_size"]

    # The optional keys of spec 5.4: None when not known (the key absent or null).

    @property
    def tokenizer(self) -> Optional[str]:
        return self._metadata.get("tokenizer")

    @property
    def bos_id(self) -> Optional[int]:
        return self._metadata.get("bos_id")

    @property
    def eos_id(self) -> Optional[int]:
        return self._metadata.get("eos_id")

    @property
    def pad_id(self) -> Optional[int]:
        return self._metadata.get("pad_id")

    @property
    def writer(self) -> Optional[str]:
        return self._metadata.get("writer")

    @property
    def dataset_id(self) -> bytes:
        return self._header.dataset_id

    @property
    def version(self) -> Tuple[int, int]:
        return (self._header.major, self._header.minor)

    @property
    def sections(self) -> List[Dict[str, Any]]:
        """The section table in file order, one dict per entry (unknown kinds too)."""
        return [e.describe() for e in self._entries]

    def _document_index(self, i: int) -> int:
        n = self.num_documents
        index = operator.index(i)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"document {i} out of range for {n} documents")
        return index

    def _document_bounds(self, i: int) -> Tuple[int, int]:
        return doc_offsets.document_bounds(
            self._offsets, self._off_entry, self._document_index(i), self.num_tokens
        )

    def document(self, i: int) -> np.ndarray:
        """Document ``i``'s token ids: a zero-copy slice of :attr:`tokens` (raw
        tokens), or a fresh array of the blocks it spans decompressed (5.6).

        Raises ``IndexError`` when ``i`` is out of range (negative ``i`` counts from
        the end), ``TokpackError("bad_doc_offsets")`` when the file's offsets for
        this document do not describe a range inside the tokens, and
        ``TokpackError("bad_block")`` when a block it needs is bad (5.6).
        """
        start, stop = self._document_bounds(i)
        return self.tokens_range(start, stop)

    def loss_mask(self, i: int) -> np.ndarray:
        """Document ``i``'s loss mask as a bool array (all True without a mask)."""
        start, stop = self._document_bounds(i)
        return loss_mask.bits(self._mask, start, stop)

    def loss_mask_range(self, start: int, stop: int) -> np.ndarray:
        """The loss mask of tokens ``start .. stop`` (end exclusive) as a bool array."""
        start, stop = operator.index(start), operator.index(stop)
        if not 0 <= start <= stop <= self.num_tokens:
            raise IndexError(
                f"token range {start}..{stop} is not inside 0..{self.num_tokens}"
            )
        return loss_mask.bits(self._mask, start, stop)

    def loss_mask_at(self, positions) -> np.ndarray:
        """The loss-mask bits of the tokens at ``positions`` (any integer array) as a
        bool array (all True without a mask)."""
        positions = np.asarray(positions)
        if positions.dtype.kind not in "iu":
            raise TypeError("positions must be integers")
        if positions.size and (
            int(positions.min()) < 0 or int(positions.max()) >= self.num_tokens
        ):
            raise IndexError(f"token positions outside 0..{self.num_tokens}")
        return loss_mask.bits_at(self._mask, positions.reshape(-1)).reshape(positions.shape)

    def ordered_doc_offsets(self) -> np.ndarray:
        """:attr:`doc_offsets`, once they are known never to decrease (checked here
        the first time, as 6.2 step 3 does: ``bad_doc_offsets``). Views that look up
        which document a token is in (spec 12.1, 11.5) use these."""
        if not self._offsets_ordered:
            doc_offsets.check_monotonic(self._offsets, self._off_entry)
            self._offsets_ordered = True
        return self._offsets

    def __getitem__(self, i: int) -> np.ndarray:
        return self.document(i)

    # -- sources (5.5, version 1.3) ---------------------------------------------------

    @property
    def has_sources(self) -> bool:
        """Whether the file has DOC_SOURCES (and so the metadata's ``sources``)."""
        return self._sources is not None

    @property
    def sources(self) -> Optional[Tuple[str, ...]]:
        """The source names, id ``k`` = ``sources[k]`` (5.4), or None when the file has
        no DOC_SOURCES section: no source information, not "one source" (5.5)."""
        return self._sources

    @property
    def doc_sources(self) -> Optional[np.ndarray]:
        """DOC_SOURCES: ``u16[n_docs]`` source ids, a view over the file (None without
        the section). Not checked at open; :meth:`verify` checks every id, and the
        methods below check each id they read."""
        return self._doc_sources

    def _require_sources(self) -> Tuple[str, ...]:
        if self._sources is None:
            raise ValueError("the dataset has no source ids (no DOC_SOURCES section)")
        return self._sources

    def source_id(self, i: int) -> int:
        """Document ``i``'s source id, checked against ``len(sources)`` as 6.2's last
        paragraph asks of an unverified file (``bad_source``). ``ValueError`` when the
        file has no source ids."""
        names = self._require_sources()
        return doc_sources.id_of(
            self._doc_sources, self._src_entry, self._document_index(i), len(names)
        )

    def source(self, i: int) -> str:
        """Document ``i``'s source name (``source_id`` checked, ``bad_source``)."""
        return self._sources[self.source_id(i)]

    def checked_doc_sources(self) -> np.ndarray:
        """:attr:`doc_sources` once every id is known to be below ``len(sources)``
        (checked here the first time, as 6.2 step 5 does: ``bad_source``). Views that
        read every document's source (source counts, filters) use these."""
        names = self._require_sources()
        if not self._sources_checked:
            doc_sources.check_ids(self._doc_sources, self._src_entry, len(names))
            self._sources_checked = True
        return self._doc_sources

    def document_sources(self) -> Optional[List[str]]:
        """Every document's source name, in document order (the ``document_sources``
        of a vector, section 10), or None without source ids."""
        if self._sources is None:
            return None
        names = self._sources
        return [names[k] for k in self.checked_doc_sources().tolist()]

    def source_counts(self) -> Dict[str, Dict[str, int]]:
        """``{name: {"documents": D, "tokens": T}}`` for every source name, in the
        order of :attr:`sources` (names no document uses included, with zeros).
        Reads every id (``bad_source``) and every offset (``bad_doc_offsets``)."""
        from .sources import count_by_source

        return count_by_source(self._require_sources(), self.checked_doc_sources(),
                               self.ordered_doc_offsets(), self.num_tokens)

    def source_filter(self, sources):
        """The contiguous stream of spec 12.5 restricted to the documents of
        ``sources`` (names): a :class:`tokpack.SourceFilter`, which
        ``tokpack.Rows`` reads like a dataset (``Rows(ds, L, sources=...)`` makes
        it)."""
        from .sources import SourceFilter

        return SourceFilter(self, sources)

    # -- what views read (the same methods on a manifest, spec 15) ----------------

    def tokens_range(self, start: int, stop: int) -> np.ndarray:
        """Tokens ``start .. stop`` of the stream: a zero-copy slice of :attr:`tokens`
        (raw), or a fresh array from the blocks holding them (compressed)."""
        if self._zstd is not None:
            return self._zstd.range(start, stop)
        return self._tokens[start:stop]

    def tokens_at(self, positions) -> np.ndarray:
        """The tokens at ``positions`` (an integer array), gathered."""
        if self._zstd is not None:
            return self._zstd.gather(positions)
        return self._tokens[positions]

    def doc_starts_in(self, start: int, stop: int) -> np.ndarray:
        """The DOC_OFFSETS values ``p`` with ``start <= p < stop``, sorted, as int64
        (each value once). Checks once that the offsets never decrease."""
        offsets = self.ordered_doc_offsets()
        lo = np.searchsorted(offsets, np.uint64(start), side="left")
        hi = np.searchsorted(offsets, np.uint64(stop), side="left")
        return np.unique(offsets[lo:hi].astype(np.int64))

    # -- verify -------------------------------------------------------------------

    def verify(self) -> None:
        """The full pass of spec 6.2, in the order it lists its checks: section
        CRC32s (table order, unknown kinds included), zero padding, non-decreasing
        offsets, token ids below vocab_size (compressed, 5.6: block offsets in order,
        then block by block the frame, ``bad_block``, and its ids), source ids below
        ``len(sources)``
        (``bad_source``). Raises :class:`TokpackError` on the
        first problem found."""
        # 1. Every section's CRC32, in table order.
        check_checksums(self._raw, self._entries)
        # 2. Padding between the table and the first section, and between sections.
        check_padding(self._raw, self._header, self._entries)
        # 3. Offsets never decrease.
        doc_offsets.check_monotonic(self._offsets, self._off_entry)
        self._offsets_ordered = True
        # 4. Token ids below vocab_size; compressed tokens (5.6 "In verify"): first
        # the block offsets in order, then block by block the frame (bad_block)
        # and its tokens (positions in the decompressed stream).
        if self._zstd is None:
            tokens.check_ids(self._tokens, self._tok_entry, self.vocab_size)
        else:
            tokens.check_block_ids(self._zstd, self._tok_entry, self.vocab_size)
        # 5. Source ids below len(sources) (version 1.3).
        if self._sources is not None:
            doc_sources.check_ids(self._doc_sources, self._src_entry, len(self._sources))
            self._sources_checked = True

    def __repr__(self) -> str:
        return (
            f"<tokpack.Dataset {self.num_documents} documents, {self.num_tokens} "
            f"{self.dtype} tokens, vocab_size {self.vocab_size}, "
            f"loss mask {'yes' if self.has_loss_mask else 'no'}"
            + (f", zstd blocks of {self.block_tokens}" if self._zstd is not None else "")
            + (f", sources {', '.join(self._sources)}" if self._sources is not None else "")
            + ">"
        )


def open(path, cache_blocks: Optional[int] = None) -> Dataset:  # noqa: A001 - tokpack.open
    """Map the file at ``path`` read-only and open it (spec 6.1, cheap). A path ending
    in ``.json`` is a manifest (spec 15): a :class:`tokpack.Manifest`, shards opened
    when first read. ``cache_blocks``: for compressed tokens (5.6), how many
    decompressed blocks to keep per process (default: as many as fit in 64 MiB,
    2 to 16; the same for every shard of a manifest).

    Raises ``OSError`` when the file cannot be read and :class:`TokpackError` when it
    is not a valid tokpack file.
    """
    name = os.fspath(path)
    if name.endswith(b".json" if isinstance(name, bytes) else ".json"):
        from .manifest import Manifest

        return Manifest(path, cache_blocks=cache_blocks)
    return Dataset(map_file(path), cache_blocks)
