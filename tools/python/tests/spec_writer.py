"""A small tokpack writer written from spec/FORMAT.md, for tests only.

It writes valid files by default and lets a test override any field, so that each
rule of spec 6.1/6.2 can be broken on its own.
"""

import json
import zlib
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

PAGE = 4096
MAGIC = b"TOKPACK\x00"
REQUIRED = 1
KIND_DOC_SOURCES = 11


def align_up(x: int) -> int:
    return -(-x // PAGE) * PAGE


@dataclass
class Section:
    kind: int
    dtype: int
    body: bytes
    count: int
    codec: int = 0
    flags: int = REQUIRED
    # Overrides; None means "the correct value".
    offset: Optional[int] = None
    length: Optional[int] = None
    crc32: Optional[int] = None
    reserved: bytes = b"\x00" * 28


def token_dtype(vocab_size: int):
    if vocab_size <= 256:
        return 1, np.dtype("<u1")
    if vocab_size <= 65536:
        return 2, np.dtype("<u2")
    return 3, np.dtype("<u4")


def dataset_sections(
    docs: Sequence[Sequence[int]],
    vocab_size: int,
    masks: Optional[Sequence[Sequence[int]]] = None,
    metadata: Optional[dict] = None,
    metadata_bytes: Optional[bytes] = None,
    token_dtype_code: Optional[int] = None,
    sources: Optional[Sequence[str]] = None,
    doc_sources: Optional[Sequence[int]] = None,
) -> List[Section]:
    """TOKENS, DOC_OFFSETS, LOSS_MASK (if masks given), DOC_SOURCES (if
    ``doc_sources`` given: one u16 id per document, 5.5) and METADATA, in that order.
    ``sources`` adds the metadata's ``sources`` key (5.4) to the default metadata.
    DOC_SOURCES is written without the required flag, as section 4 says."""
    code, np_dtype = token_dtype(vocab_size)
    if token_dtype_code is not None:
        code = token_dtype_code
        np_dtype = np.dtype({1: "<u1", 2: "<u2", 3: "<u4"}[code])
    flat = np.concatenate([np.asarray(d, dtype=np.int64) for d in docs]) if docs else np.zeros(0, np.int64)
    tokens = flat.astype(np_dtype)
    lengths = [len(d) for d in docs]
    offsets = np.zeros(len(docs) + 1, dtype="<u8")
    offsets[1:] = np.cumsum(lengths, dtype=np.uint64) if lengths else []
    sections = [
        Section(1, code, tokens.tobytes(), len(tokens)),
        Section(2, 4, offsets.tobytes(), len(offsets)),
    ]
    if masks is not None:
        bits = np.concatenate([np.asarray(m, dtype=np.uint8) for m in masks]) if masks else np.zeros(0, np.uint8)
        packed = np.packbits(bits, bitorder="little")
        sections.append(Section(3, 1, packed.tobytes(), len(bits)))
    if doc_sources is not None:
        ids = np.asarray(doc_sources, dtype=np.int64).astype("<u2")
        sections.append(Section(KIND_DOC_SOURCES, 2, ids.tobytes(), len(ids), flags=0))
    if metadata_bytes is None:
        meta = {"vocab_size": vocab_size, "writer": "tokpack-python tests"}
        if metadata is not None:
            meta = metadata
        if sources is not None:
            meta = {**meta, "sources": list(sources)}
        metadata_bytes = json.dumps(meta).encode("utf-8")
    sections.append(Section(4, 0, metadata_bytes, len(metadata_bytes)))
    return sections


def write(
    sections: Sequence[Section],
    *,
    major: int = 1,
    minor: int = 0,
    flags: int = 0,
    dataset_id: bytes = bytes(range(16)),
    file_length: Optional[int] = None,
    table_offset: int = 64,
    section_count: Optional[int] = None,
    table_crc32: Optional[int] = None,
    header_crc32: Optional[int] = None,
    reserved: int = 0,
    magic: bytes = MAGIC,
    trailing: bytes = b"",
) -> bytes:
    """Lay the sections out per spec section 2 and return the file's bytes."""
    table_end = 64 + 64 * len(sections)
    end = table_end
    placed = []
    for s in sections:
        offset = align_up(end)
        placed.append(offset)
        end = offset + len(s.body)
    out = bytearray(end)
    for s, offset in zip(sections, placed):
        out[offset : offset + len(s.body)] = s.body
    table = bytearray()
    for s, offset in zip(sections, placed):
        entry = bytearray(64)
        entry[0:4] = s.kind.to_bytes(4, "little")
        entry[4] = s.dtype
        entry[5] = s.codec
        entry[6:8] = s.flags.to_bytes(2, "little")
        entry[8:16] = (offset if s.offset is None else s.offset).to_bytes(8, "little")
        entry[16:24] = (len(s.body) if s.length is None else s.length).to_bytes(8, "little")
        entry[24:32] = s.count.to_bytes(8, "little")
        crc = zlib.crc32(s.body) if s.crc32 is None else s.crc32
        entry[32:36] = crc.to_bytes(4, "little")
        entry[36:64] = s.reserved
        table += entry
    out[64:table_end] = table
    out += trailing
    header = bytearray(64)
    header[0:8] = magic
    header[8:10] = major.to_bytes(2, "little")
    header[10:12] = minor.to_bytes(2, "little")
    header[12:16] = flags.to_bytes(4, "little")
    header[16:32] = dataset_id
    header[32:40] = (len(out) if file_length is None else file_length).to_bytes(8, "little")
    header[40:48] = table_offset.to_bytes(8, "little")
    header[48:52] = (len(sections) if section_count is None else section_count).to_bytes(4, "little")
    header[52:56] = (zlib.crc32(bytes(table)) if table_crc32 is None else table_crc32).to_bytes(4, "little")
    header[56:60] = reserved.to_bytes(4, "little")
    header[60:64] = (zlib.crc32(bytes(header[:60])) if header_crc32 is None else header_crc32).to_bytes(4, "little")
    out[0:64] = header
    return bytes(out)


def write_dataset(docs, vocab_size, masks=None, **kwargs) -> bytes:
    return write(dataset_sections(docs, vocab_size, masks, **kwargs))


def write_sourced(docs, vocab_size, sources, doc_sources, masks=None, metadata=None,
                  **write_kwargs) -> bytes:
    """A dataset file with DOC_SOURCES (5.5), written as version 1.3 (spec 8)."""
    write_kwargs.setdefault("minor", 3)
    return write(dataset_sections(docs, vocab_size, masks, metadata=metadata,
                                  sources=sources, doc_sources=doc_sources), **write_kwargs)


def refresh_checksums(data: bytes) -> bytes:
    """Recompute the table and header CRCs of an edited file (section CRCs untouched)."""
    out = bytearray(data)
    count = int.from_bytes(out[48:52], "little")
    table = bytes(out[64 : 64 + 64 * count])
    out[52:56] = zlib.crc32(table).to_bytes(4, "little")
    out[60:64] = zlib.crc32(bytes(out[:60])).to_bytes(4, "little")
    return bytes(out)


# -- compressed tokens (spec 5.6, version 1.4) ----------------------------------------

CODEC_ZSTD = 1


def zstd_frame(data: bytes, level: int = 3, content_size: bool = True,
               checksum: bool = True) -> bytes:
    """One zstd frame of ``data`` (the ``zstandard`` package), with or without the
    content size in its header and zstd's content checksum."""
    import zstandard

    return zstandard.ZstdCompressor(level=level, write_content_size=content_size,
                                    write_checksum=checksum).compress(data)


def raw_frame(data: bytes, window_descriptor: int = 0, content_size: Optional[int] = None,
              single_segment: bool = False, checksum: Optional[int] = None,
              block_size: int = 1 << 17) -> bytes:
    """A zstd frame written by hand from RFC 8878: raw blocks (no compression), no
    content size unless given (then in 8 bytes), no checksum unless given (4 bytes
    appended). ``window_descriptor``: the byte after the frame header descriptor
    (window size ``2**(10 + exponent) + mantissa...``); absent with
    ``single_segment``, which needs ``content_size``."""
    fhd = 0
    if content_size is not None:
        fhd |= 3 << 6  # 8-byte Frame_Content_Size
    if single_segment:
        fhd |= 1 << 5
    if checksum is not None:
        fhd |= 1 << 2
    out = bytearray(b"\x28\xb5\x2f\xfd") + bytes([fhd])
    if not single_segment:
        out.append(window_descriptor)
    if content_size is not None:
        out += content_size.to_bytes(8, "little")
    chunks = [data[i : i + block_size] for i in range(0, len(data), block_size)] or [b""]
    for i, chunk in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        header = last | (0 << 1) | (len(chunk) << 3)  # Raw_Block
        out += header.to_bytes(3, "little") + chunk
    if checksum is not None:
        out += checksum.to_bytes(4, "little")
    return bytes(out)


def zstd_body(tokens: np.ndarray, block_tokens: int, frames: Optional[Sequence[bytes]] = None,
              frame=None, head_word: int = 0) -> bytes:
    """The bytes of a TOKENS section with codec 1 (5.6): ``block_tokens``, a u32
    (``head_word``, written as 0), ``block_offsets``, then one frame per block
    (``frame(block_bytes) -> bytes``, default :func:`zstd_frame`), or ``frames`` as
    given (offsets computed from their lengths)."""
    data = np.ascontiguousarray(tokens).tobytes()
    width = np.asarray(tokens).dtype.itemsize
    n = len(tokens)
    n_blocks = -(-n // block_tokens)
    if frames is None:
        make = zstd_frame if frame is None else frame
        frames = [make(data[k * block_tokens * width : min((k + 1) * block_tokens, n) * width])
                  for k in range(n_blocks)]
    head = 8 + 8 * (len(frames) + 1)
    offsets = np.cumsum([head] + [len(f) for f in frames]).astype("<u8")
    return (block_tokens.to_bytes(4, "little") + head_word.to_bytes(4, "little")
            + offsets.tobytes() + b"".join(frames))


def compress_sections(sections: Sequence[Section], block_tokens: int, **body_kwargs) -> List[Section]:
    """The same sections with TOKENS stored as zstd blocks (codec 1, 5.6)."""
    out = []
    for s in sections:
        if s.kind == 1:
            np_dtype = {1: "<u1", 2: "<u2", 3: "<u4"}[s.dtype]
            tokens = np.frombuffer(s.body, dtype=np_dtype)
            s = Section(1, s.dtype, zstd_body(tokens, block_tokens, **body_kwargs), s.count,
                        codec=CODEC_ZSTD, flags=s.flags)
        out.append(s)
    return out


def write_compressed(docs, vocab_size, block_tokens, masks=None, *, body_kwargs=None,
                     sources=None, doc_sources=None, **write_kwargs) -> bytes:
    """A dataset file with compressed tokens, written as version 1.4 (spec 8)."""
    write_kwargs.setdefault("minor", 4)
    sections = dataset_sections(docs, vocab_size, masks, sources=sources,
                                doc_sources=doc_sources)
    return write(compress_sections(sections, block_tokens, **(body_kwargs or {})),
                 **write_kwargs)


# -- plan files (spec section 11) ---------------------------------------------------

KIND_PLAN_ROWS = 6
KIND_PLAN_SEGMENTS = 7


def plan_info(dataset_id: bytes, n_tokens: int, n_docs: int, seq_len: int, strategy: str,
              rows: int, tokens: int, *, long_docs: Optional[str] = "split",
              tail: Optional[str] = "drop", truncated: Optional[int] = None,
              split: int = 0) -> dict:
    """The ``"plan"`` object of 11.1, with every key its strategy needs."""
    info = {
        "dataset_id": dataset_id.hex(),
        "dataset_tokens": n_tokens,
        "dataset_documents": n_docs,
        "seq_len": seq_len,
        "strategy": strategy,
        "rows": rows,
        "tokens": tokens,
        "padding_tokens": rows * seq_len - tokens,
        "truncated_tokens": n_tokens - tokens if truncated is None else truncated,
        "split_documents": split,
    }
    if strategy == "contiguous":
        if tail is not None:
            info["tail"] = tail
    elif long_docs is not None:
        info["long_docs"] = long_docs
    return info


def plan_metadata(info: dict, **extra) -> bytes:
    meta = {"file": "plan", "plan": info, "writer": "tokpack-python tests"}
    meta.update(extra)
    return json.dumps(meta).encode("utf-8")


def plan_sections(info: dict, row_bounds: Optional[Sequence[int]] = None,
                  segments: Optional[Sequence[Sequence[int]]] = None,
                  metadata_bytes: Optional[bytes] = None) -> List[Section]:
    """METADATA, then (unless both are None) PLAN_ROWS and PLAN_SEGMENTS, from
    ``row_bounds`` (``rows + 1`` values) and ``segments`` ((start, length) pairs)."""
    body = plan_metadata(info) if metadata_bytes is None else metadata_bytes
    sections = [Section(4, 0, body, len(body))]
    if row_bounds is not None or segments is not None:
        rows = np.asarray(row_bounds if row_bounds is not None else [0], dtype="<u8")
        segs = np.asarray(segments if segments is not None else [], dtype="<u8").reshape(-1)
        sections.append(Section(KIND_PLAN_ROWS, 4, rows.tobytes(), len(rows)))
        sections.append(Section(KIND_PLAN_SEGMENTS, 4, segs.tobytes(), len(segs)))
    return sections


def rows_to_plan(rows: Sequence[Sequence[Sequence[int]]]):
    """Rows given as lists of (start, length) pairs -> (row_bounds, flat segments)."""
    bounds = [0]
    flat = []
    for row in rows:
        flat.extend(tuple(seg) for seg in row)
        bounds.append(len(flat))
    return bounds, flat


def write_plan(sections: Sequence[Section], **kwargs) -> bytes:
    """A plan file is written as version 1.1 (spec 8)."""
    kwargs.setdefault("minor", 1)
    kwargs.setdefault("dataset_id", bytes(range(16, 32)))
    return write(sections, **kwargs)


# -- overlay files (spec section 13) ------------------------------------------------

KIND_INS_POSITIONS = 5
KIND_INS_OFFSETS = 8
KIND_INS_TOKENS = 9
KIND_INS_FLAGS = 10


def overlay_info(dataset_id: bytes, n_tokens: int, n_docs: int, vocab_size: int,
                 seq_len: int, plan_id: Optional[bytes], rows: int, insertions: int,
                 tokens: int) -> dict:
    """The ``"overlay"`` object of 13.1."""
    return {
        "dataset_id": dataset_id.hex(),
        "dataset_tokens": n_tokens,
        "dataset_documents": n_docs,
        "vocab_size": vocab_size,
        "seq_len": seq_len,
        "plan_id": None if plan_id is None else plan_id.hex(),
        "rows": rows,
        "insertions": insertions,
        "tokens": tokens,
    }


def overlay_metadata(info: dict, **extra) -> bytes:
    meta = {"file": "overlay", "overlay": info, "writer": "tokpack-python tests"}
    meta.update(extra)
    return json.dumps(meta).encode("utf-8")


def overlay_sections(info: dict, insertions: Sequence, token_dtype_code: int,
                     metadata_bytes: Optional[bytes] = None) -> List[Section]:
    """METADATA, INS_POSITIONS, INS_OFFSETS, INS_TOKENS, INS_FLAGS (13) from
    ``insertions``: (position, tokens, flags) triples, stored in the order given."""
    body = overlay_metadata(info) if metadata_bytes is None else metadata_bytes
    positions = np.asarray([p for p, _, _ in insertions], dtype="<u8")
    lengths = [len(t) for _, t, _ in insertions]
    offsets = np.zeros(len(insertions) + 1, dtype="<u8")
    offsets[1:] = np.cumsum(lengths, dtype=np.uint64) if lengths else []
    np_dtype = {1: "<u1", 2: "<u2", 3: "<u4"}[token_dtype_code]
    flat = [x for _, t, _ in insertions for x in t]
    tokens = np.asarray(flat, dtype=np.int64).astype(np_dtype)
    flags = np.asarray([f for _, _, f in insertions], dtype="u1")
    return [
        Section(4, 0, body, len(body)),
        Section(KIND_INS_POSITIONS, 4, positions.tobytes(), len(positions)),
        Section(KIND_INS_OFFSETS, 4, offsets.tobytes(), len(offsets)),
        Section(KIND_INS_TOKENS, token_dtype_code, tokens.tobytes(), len(tokens)),
        Section(KIND_INS_FLAGS, 1, flags.tobytes(), len(flags)),
    ]


def write_overlay(sections: Sequence[Section], **kwargs) -> bytes:
    """An overlay file is written as version 1.2 (spec 8)."""
    kwargs.setdefault("minor", 2)
    kwargs.setdefault("dataset_id", bytes(range(32, 48)))
    return write(sections, **kwargs)


def overlay_file(dataset, seq_len: int, rows: int, insertions: Sequence,
                 plan_id: Optional[bytes] = None, **write_kwargs) -> bytes:
    """An overlay for ``dataset`` (a ``tokpack.Dataset``) and the view (``seq_len``,
    ``plan_id``, ``rows``), from (position, tokens, flags) triples."""
    code = {"u8": 1, "u16": 2, "u32": 3}[dataset.dtype]
    info = overlay_info(dataset.dataset_id, dataset.num_tokens, dataset.num_documents,
                        dataset.vocab_size, seq_len, plan_id, rows, len(insertions),
                        sum(len(t) for _, t, _ in insertions))
    return write_overlay(overlay_sections(info, insertions, code), **write_kwargs)
