"""A catalogue of invalid files, one per rule of spec 6.1 / 6.2, built by the
spec-derived writer: (name, bytes, expected code, stage). Used to compare readers."""

import numpy as np

from spec_writer import Section, dataset_sections, write

DOCS = [[1, 2, 3], [], [4, 5, 250]]
MASKS = [[1, 0, 1], [], [0, 1, 1]]


def _sections(**kwargs):
    return dataset_sections(DOCS, 300, MASKS, **kwargs)


def _edit(fn, **write_kwargs):
    s = _sections()
    fn(s)
    return write(s, **write_kwargs)


def _set(index, **fields):
    def fn(s):
        for key, value in fields.items():
            setattr(s[index], key, value)
    return fn


def _meta(meta: bytes, vocab_size=300):
    return write(dataset_sections(DOCS, vocab_size, MASKS, metadata_bytes=meta))


def _offsets(values):
    def fn(s):
        s[1].body = np.asarray(values, "<u8").tobytes()
        s[1].count = len(values)
    return fn


def _nest(open_, close, times, value=b"0"):
    """Metadata whose user key ``x`` holds ``times`` nested containers; the top-level
    object is one more level (spec 5.4: it is depth 1)."""
    return b'{"vocab_size": 300, "x": ' + open_ * times + value + close * times + b"}"


def _padding(at):
    data = bytearray(write(_sections()))
    data[at] = 1
    return bytes(data)


SOURCES = ["web", "code"]
DOC_SOURCES = [1, 0, 1]


def _sourced(names=SOURCES, ids=DOC_SOURCES, meta=None, vocab_size=300, **kwargs):
    """Sections of DOCS with DOC_SOURCES (ids, unless None) and the metadata's
    ``sources`` (names, unless None), as spec 5.5 describes them."""
    meta = {"vocab_size": vocab_size, "writer": "tokpack-python tests"} if meta is None else meta
    return dataset_sections(DOCS, vocab_size, MASKS, metadata=meta, sources=names,
                            doc_sources=ids, **kwargs)


def _sourced_edit(fn, **kwargs):
    s = _sourced(**kwargs)
    fn(s)
    return write(s, minor=3)


def _src(s):
    """The DOC_SOURCES section of a list of sections."""
    return next(x for x in s if x.kind == 11)


def _source_names_meta(names_json: bytes) -> bytes:
    return b'{"vocab_size": 300, "sources": ' + names_json + b"}"


def source_files():
    """(name, bytes, code, stage) for the DOC_SOURCES rules of 6.1 / 6.2 (version
    1.3); code None for files a reader must accept."""
    sourced = lambda **kw: write(_sourced(**kw), minor=3)  # noqa: E731

    def ids_body(values):
        def fn(s):
            _src(s).body = np.asarray(values, "<u2").tobytes()
            _src(s).count = len(values)
        return fn

    def meta_bytes(names_json: bytes):
        return write(dataset_sections(DOCS, 300, MASKS,
                                      metadata_bytes=_source_names_meta(names_json),
                                      doc_sources=DOC_SOURCES), minor=3)

    invalid = [
        # 6.1 step 6: the kind table allows dtype 2 only; codec, duplicates.
        ("sources_dtype_u8", _sourced_edit(lambda s: setattr(_src(s), "dtype", 1)), "bad_dtype", "open"),
        ("sources_dtype_u32", _sourced_edit(lambda s: (setattr(_src(s), "dtype", 3),
                                                       ids_body([1, 0, 1, 0, 0, 0])(s))),
         "bad_dtype", "open"),
        ("sources_dtype_u64", _sourced_edit(lambda s: setattr(_src(s), "dtype", 4)), "bad_dtype", "open"),
        ("sources_dtype_bytes", _sourced_edit(lambda s: setattr(_src(s), "dtype", 0)), "bad_dtype", "open"),
        ("sources_codec_1", _sourced_edit(lambda s: setattr(_src(s), "codec", 1)), "unknown_codec", "open"),
        ("sources_twice", _sourced_edit(lambda s: s.insert(0, _src(s))), "duplicate_section", "open"),
        # Step 8: length = count * 2.
        ("sources_length", _sourced_edit(lambda s: setattr(_src(s), "count", 2)),
         "section_length", "open"),
        ("sources_count_times_2_overflows", _sourced_edit(lambda s: setattr(_src(s), "count", 2**63)),
         "section_length", "open"),
        # Step 9: count == n_docs.
        ("sources_count_one_more", _sourced_edit(ids_body([1, 0, 1, 0])), "count_mismatch", "open"),
        ("sources_count_one_less", _sourced_edit(ids_body([1, 0])), "count_mismatch", "open"),
        ("sources_count_zero", _sourced_edit(ids_body([])), "count_mismatch", "open"),
        # Step 9 runs before step 10 (offsets) and step 11 (mask padding).
        ("sources_count_before_offsets", _sourced_edit(lambda s: (
            ids_body([1, 0])(s), setattr(s[1], "body", np.asarray([1, 3, 3, 6], "<u8").tobytes()))),
         "count_mismatch", "open"),
        ("sources_count_before_mask_padding", _sourced_edit(lambda s: (
            ids_body([1, 0])(s), setattr(s[2], "body", bytes([s[2].body[0] | 0x80])))),
         "count_mismatch", "open"),
        # Step 6 (every entry) runs before step 9.
        ("sources_dtype_before_count", _sourced_edit(lambda s: (
            ids_body([1, 0])(s), setattr(_src(s), "dtype", 1), setattr(_src(s), "length", 2))),
         "bad_dtype", "open"),
        # Step 12: the `sources` key typed as 5.4 says.
        ("sources_names_empty_list", meta_bytes(b"[]"), "bad_metadata", "open"),
        ("sources_names_string", meta_bytes(b'"web"'), "bad_metadata", "open"),
        ("sources_names_object", meta_bytes(b'{"0": "web", "1": "code"}'), "bad_metadata", "open"),
        ("sources_names_number", meta_bytes(b"2"), "bad_metadata", "open"),
        ("sources_names_true", meta_bytes(b"true"), "bad_metadata", "open"),
        ("sources_name_number", meta_bytes(b'["web", 1]'), "bad_metadata", "open"),
        ("sources_name_null", meta_bytes(b'["web", null]'), "bad_metadata", "open"),
        ("sources_name_array", meta_bytes(b'["web", ["code"]]'), "bad_metadata", "open"),
        ("sources_name_empty", meta_bytes(b'["web", ""]'), "bad_metadata", "open"),
        ("sources_name_257_bytes", meta_bytes(b'["web", "' + b"c" * 257 + b'"]'), "bad_metadata", "open"),
        ("sources_name_258_bytes_of_utf8", meta_bytes(
            b'["web", "' + "\u00e9".encode() * 129 + b'"]'), "bad_metadata", "open"),
        ("sources_name_257_bytes_escaped", meta_bytes(
            b'["web", "' + b"\\u00e9" * 128 + b'c"]'), "bad_metadata", "open"),
        ("sources_names_duplicate", meta_bytes(b'["web", "web"]'), "bad_metadata", "open"),
        ("sources_names_duplicate_escaped", meta_bytes(b'["web", "w\\u0065b"]'), "bad_metadata", "open"),
        ("sources_name_lone_surrogate", meta_bytes(b'["web", "\\ud800"]'), "bad_metadata", "open"),
        ("sources_65537_names", meta_bytes(
            json_names(65537)), "bad_metadata", "open"),
        # Step 13: the key present exactly when DOC_SOURCES is (null: not known).
        ("sources_ids_without_names", sourced(names=None), "bad_metadata", "open"),
        ("sources_names_without_ids", sourced(ids=None), "bad_metadata", "open"),
        ("sources_names_null_with_ids", write(dataset_sections(
            DOCS, 300, MASKS, metadata_bytes=_source_names_meta(b"null"),
            doc_sources=DOC_SOURCES), minor=3), "bad_metadata", "open"),
        # Step 12 (bad_metadata, then vocab_dtype) before step 13.
        ("sources_bad_names_before_vocab_dtype", write(dataset_sections(
            DOCS, 300, MASKS, metadata_bytes=b'{"vocab_size": 70000, "sources": []}',
            doc_sources=DOC_SOURCES, token_dtype_code=2), minor=3), "bad_metadata", "open"),
        ("sources_vocab_dtype_before_step_13", write(dataset_sections(
            DOCS, 300, MASKS, metadata={"vocab_size": 70000}, doc_sources=DOC_SOURCES,
            token_dtype_code=2), minor=3), "vocab_dtype", "open"),
        # 6.2 step 5: every id < len(sources), after steps 1 to 4.
        ("sources_id_equal_to_count", sourced(ids=[1, 0, 2]), "bad_source", "verify"),
        ("sources_id_65535", sourced(ids=[65535, 0, 1]), "bad_source", "verify"),
        ("sources_checksum", _sourced_edit(lambda s: setattr(_src(s), "crc32", 0)),
         "section_checksum", "verify"),
        ("sources_bad_id_after_checksum", _sourced_edit(lambda s: (
            ids_body([1, 0, 2])(s), setattr(_src(s), "crc32", 1))), "section_checksum", "verify"),
        ("sources_bad_id_after_offsets", _sourced_edit(lambda s: (
            ids_body([1, 0, 2])(s), setattr(s[1], "body", np.asarray([0, 4, 3, 6], "<u8").tobytes()))),
         "bad_doc_offsets", "verify"),
        ("sources_bad_id_after_tokens", write(dataset_sections(
            [[1], [300], [2]], 300, metadata={"vocab_size": 300}, sources=["web"],
            doc_sources=[0, 1, 0]), minor=3), "token_out_of_range", "verify"),
    ]
    valid = [
        ("sources_basic", sourced()),
        ("sources_no_mask", write(dataset_sections(DOCS, 300, metadata={"vocab_size": 300},
                                                   sources=SOURCES, doc_sources=DOC_SOURCES), minor=3)),
        # Any minor is accepted (6.1 step 1); writers write 1.3 (8).
        ("sources_minor_0", write(_sourced(), minor=0)),
        ("sources_minor_9", write(_sourced(), minor=9)),
        # Section 4: for a known kind the required flag changes nothing.
        ("sources_required_flag", _sourced_edit(lambda s: setattr(_src(s), "flags", 1))),
        ("sources_first_in_table", _sourced_edit(lambda s: s.insert(0, s.pop(s.index(_src(s)))))),
        ("sources_one_name", sourced(names=["all"], ids=[0, 0, 0])),
        ("sources_unused_names", sourced(names=["a", "b", "c", "d"], ids=[3, 3, 0])),
        ("sources_name_256_bytes", sourced(names=["c" * 256], ids=[0, 0, 0])),
        ("sources_name_256_bytes_of_utf8", sourced(names=["\u00e9" * 128, "\U0001F600" * 64], ids=[0, 1, 0])),
        # Distinct strings (no Unicode normalisation in "no two equal").
        ("sources_names_differ_by_normalisation", sourced(names=["\u00e9", "e\u0301"], ids=[0, 1, 1])),
        ("sources_names_with_comma_and_slash", sourced(names=["a,b", "smoltalk/everyday"], ids=[0, 1, 0])),
        ("sources_65536_names", write(dataset_sections(
            DOCS, 300, MASKS, metadata_bytes=_source_names_meta(json_names(65536)),
            doc_sources=[65535, 0, 40000]), minor=3)),
        ("sources_no_documents", write(dataset_sections(
            [], 300, [], metadata={"vocab_size": 300}, sources=["web"], doc_sources=[]), minor=3)),
        # 5.4: null means "not known", as an absent key: no section, no names.
        ("sources_null_without_section", write(dataset_sections(
            DOCS, 300, MASKS, metadata_bytes=_source_names_meta(b"null")))),
        # A user key of the same name in a nested object is the user's.
        ("sources_key_nested", write(dataset_sections(
            DOCS, 300, MASKS, metadata_bytes=b'{"vocab_size": 300, "u": {"sources": 5}}'))),
    ]
    return invalid, valid


def _zstd(block_tokens=3, edit=None, frames=None, frame=None, head_word=0, sections=None,
          minor=4, **section_kwargs):
    """DOCS (6 u16 tokens) with TOKENS as zstd blocks (5.6): ``frames`` replaces the
    frames (offsets follow their lengths), ``frame(bytes)`` makes each one; ``edit``
    changes the sections after (TOKENS is ``s[0]``)."""
    from spec_writer import compress_sections

    s = compress_sections(_sections(**section_kwargs) if sections is None else sections,
                          block_tokens, frames=frames, frame=frame, head_word=head_word)
    if edit is not None:
        edit(s)
    return write(s, minor=minor)


def _head(block_tokens=None, offsets=None, length=None, count=None, tail=b""):
    """Edit TOKENS (``s[0]``, codec 1): its ``block_tokens``, its block offsets (a list
    written from byte 8), its ``length`` field, its ``count``; ``tail`` appended."""
    def fn(s):
        body = bytearray(s[0].body)
        if block_tokens is not None:
            body[0:4] = block_tokens.to_bytes(4, "little")
        if offsets is not None:
            raw = np.asarray(offsets, "<u8").tobytes()
            body[8 : 8 + len(raw)] = raw
        body += tail
        s[0].body = bytes(body)
        if length is not None:
            s[0].length = length
        if count is not None:
            s[0].count = count
    return fn


def _tokens_u16(values):
    return np.asarray(values, "<u2").tobytes()


#: The frames of DOCS in blocks of 3 tokens: [1, 2, 3] and [4, 5, 250].
BLOCKS_OF_3 = [_tokens_u16([1, 2, 3]), _tokens_u16([4, 5, 250])]


def zstd_files():
    """(name, bytes, code, stage) for compressed tokens (codec 1, zstd blocks, 5.6;
    version 1.4): the rules of 5.6 at open (6.1 steps 6, 8, 10), in verify (6.2
    step 4) and their order against the neighbouring steps; code None for files a
    reader must accept. Frames come from ``zstandard`` or are written by hand from
    RFC 8878 (``raw_frame``: raw blocks, no content size, no checksum)."""
    from spec_writer import raw_frame, zstd_frame

    f0, f1 = (zstd_frame(b) for b in BLOCKS_OF_3)
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    bad_checksum = bytearray(zstd_frame(BLOCKS_OF_3[1], checksum=True))
    bad_checksum[-1] ^= 0xFF
    garbage_sum = bytearray(zstd_frame(BLOCKS_OF_3[1]))
    garbage_sum[-3] ^= 0xFF  # inside the compressed block or checksum

    def with_dict_id(frame: bytes) -> bytes:
        out = bytearray(frame)
        out[4] |= 1  # Dictionary_ID_Flag: one byte after the window descriptor
        return bytes(out[:6]) + b"\x07" + bytes(out[6:])

    valid = [
        ("zstd_blocks_of_1", _zstd(1)),
        ("zstd_blocks_of_2", _zstd(2)),
        ("zstd_blocks_of_4_last_short", _zstd(4)),
        ("zstd_blocks_of_6_one_block", _zstd(6)),
        ("zstd_block_larger_than_the_file", _zstd(1000)),
        ("zstd_block_tokens_2_24", _zstd(2**24)),
        # 5.6: readers rely on neither the content size nor the checksum.
        ("zstd_no_content_size_no_checksum",
         _zstd(frame=lambda b: zstd_frame(b, content_size=False, checksum=False))),
        ("zstd_hand_made_raw_blocks", _zstd(frame=raw_frame)),
        ("zstd_hand_made_single_segment",
         _zstd(frame=lambda b: raw_frame(b, content_size=len(b), single_segment=True))),
        # 5.6: a window up to 2**27 bytes is read (over it a reader MAY refuse).
        ("zstd_hand_made_window_2_27",
         _zstd(frame=lambda b: raw_frame(b, window_descriptor=17 << 3))),
        ("zstd_level_19", _zstd(2, frame=lambda b: zstd_frame(b, level=19))),
        ("zstd_head_word_ignored", _zstd(head_word=0xFFFFFFFF)),
        # Any minor version is accepted (6.1 step 1), though a writer writes 1.4.
        ("zstd_minor_0", _zstd(minor=0)),
        ("zstd_no_tokens", write(_zstd_sections_empty(), minor=4)),
        ("zstd_with_sources", _zstd(sections=_sourced())),
        ("zstd_unknown_optional_section", _zstd(edit=lambda s: s.insert(
            1, Section(0x80000001, 9, b"private", 7, codec=1, flags=0)))),
        ("zstd_tokens_not_first", _zstd(edit=lambda s: s.insert(3, s.pop(0)))),
        ("zstd_u8", _zstd(2, sections=dataset_sections([[1, 2, 3], [], [4, 5, 250]], 256, MASKS))),
        ("zstd_u32", _zstd(2, sections=dataset_sections([[1, 2, 3], [], [4, 5, 70000]], 70001, MASKS))),
        ("zstd_vocab_within_u16_of_u32", _zstd(2, sections=dataset_sections(
            DOCS, 300, MASKS, token_dtype_code=3))),
    ]
    invalid = [
        # -- 6.1 step 6: codec 1 on TOKENS only --------------------------------------
        ("zstd_codec_2_on_tokens", _edit(_set(0, codec=2)), "unknown_codec", "open"),
        ("zstd_codec_on_offsets", _edit(_set(1, codec=1)), "unknown_codec", "open"),
        ("zstd_codec_on_mask", _edit(_set(2, codec=1)), "unknown_codec", "open"),
        ("zstd_codec_on_metadata", _edit(_set(3, codec=1)), "unknown_codec", "open"),
        ("zstd_codec_on_sources", _sourced_edit(lambda s: setattr(_src(s), "codec", 1)),
         "unknown_codec", "open"),
        ("zstd_tokens_dtype_u64", _zstd(edit=_set(0, dtype=4)), "bad_dtype", "open"),
        ("zstd_codec_before_dtype", _zstd(edit=lambda s: (
            _set(0, dtype=4)(s), _set(1, codec=1)(s))), "bad_dtype", "open"),
        ("zstd_duplicate_tokens", _zstd(edit=lambda s: s.append(s[0])), "duplicate_section", "open"),
        # -- 6.1 step 8: for codec 1 only ``length >= 8`` -----------------------------
        ("zstd_head_short", _zstd(edit=_set(0, body=b"\3\0\0\0")), "section_length", "open"),
        ("zstd_empty_section", _zstd(edit=_set(0, body=b"")), "section_length", "open"),
        ("zstd_empty_section_no_tokens", write(_zstd_sections_empty(body=b""), minor=4),
         "section_length", "open"),
        # Step 8 runs in table order: a section's length before a later TOKENS's, and
        # TOKENS's before a later section's.
        ("zstd_offsets_length_before_head_short", _zstd(edit=lambda s: (
            _set(0, body=b"\3\0\0\0")(s), setattr(s[1], "count", 9), s.insert(2, s.pop(0)))),
         "section_length", "open"),
        ("zstd_head_short_before_offsets_length", _zstd(edit=lambda s: (
            _set(0, body=b"\3\0\0\0")(s), setattr(s[1], "count", 9))), "section_length", "open"),
        # Nothing else of 5.6 at step 8: a bad block_tokens, offsets that do not fit,
        # come after the lengths (step 8), the counts (9) and the document offsets (10).
        ("zstd_offsets_length_before_block_tokens_0", _zstd(edit=lambda s: (
            _head(block_tokens=0)(s), setattr(s[1], "count", 9))), "section_length", "open"),
        ("zstd_offsets_length_before_block_tokens_0_later", _zstd(edit=lambda s: (
            _head(block_tokens=0)(s), setattr(s[1], "count", 9), s.insert(2, s.pop(0)))),
         "section_length", "open"),
        ("zstd_head_short_before_mask_count", _zstd(edit=lambda s: (
            _set(0, body=b"\3\0\0\0")(s), _set(2, count=5)(s))), "section_length", "open"),
        # -- 6.1 step 9 before the block checks -------------------------------------------
        ("zstd_mask_count", _zstd(edit=_set(2, count=5)), "count_mismatch", "open"),
        ("zstd_count_mismatch_before_bad_block", _zstd(edit=lambda s: (
            _head(block_tokens=2**24 + 1)(s), setattr(s[2], "count", 5))), "count_mismatch", "open"),
        ("zstd_mask_count_before_block_tokens_0", _zstd(edit=lambda s: (
            _head(block_tokens=0)(s), _set(2, count=5)(s))), "count_mismatch", "open"),
        ("zstd_mask_count_before_offsets_do_not_fit", _zstd(6, edit=lambda s: (
            _head(block_tokens=1)(s), setattr(s[2], "count", 5))), "count_mismatch", "open"),
        # A huge count: the mask's count (step 9) disagrees first.
        ("zstd_count_huge_mask_count", _zstd(edit=_set(0, count=2**64 - 1)),
         "count_mismatch", "open"),
        # -- 6.1 step 10: the ends of DOC_OFFSETS, then 5.6 "at open" in its order -------
        ("zstd_doc_offsets_before_block_head", _zstd(edit=lambda s: (
            _head(block_tokens=2**24 + 1)(s), _offsets([0, 3, 3, 7])(s))), "bad_doc_offsets", "open"),
        ("zstd_doc_offsets_before_block_tokens_0", _zstd(edit=lambda s: (
            _head(block_tokens=0)(s), _offsets([1, 3, 3, 6])(s))), "bad_doc_offsets", "open"),
        ("zstd_doc_offsets_before_offsets_do_not_fit", _zstd(6, edit=lambda s: (
            _head(block_tokens=1)(s), _offsets([1, 3, 3, 6])(s))), "bad_doc_offsets", "open"),
        # 1. block_tokens in [1, 2**24] (bad_block).
        ("zstd_block_tokens_0", _zstd(edit=_head(block_tokens=0)), "bad_block", "open"),
        ("zstd_block_tokens_2_24_plus_1", _zstd(edit=_head(block_tokens=2**24 + 1)), "bad_block", "open"),
        ("zstd_block_tokens_max_u32", _zstd(edit=_head(block_tokens=2**32 - 1)), "bad_block", "open"),
        ("zstd_block_tokens_before_offsets_fit", _zstd(edit=lambda s: (
            _head(block_tokens=2**24 + 1)(s), setattr(s[0], "body", s[0].body[:20]))),
         "bad_block", "open"),
        ("zstd_block_tokens_0_head_only", _zstd(edit=lambda s: (
            _head(block_tokens=0)(s), setattr(s[0], "body", s[0].body[:8]))), "bad_block", "open"),
        # 2. the head and n_blocks + 1 offsets fit the section, without overflow
        # (section_length).
        ("zstd_offsets_do_not_fit", _zstd(6, edit=_head(block_tokens=1)), "section_length", "open"),
        ("zstd_offsets_do_not_fit_head_only", _zstd(edit=lambda s: (
            setattr(s[0], "body", s[0].body[:8]))), "section_length", "open"),
        ("zstd_count_huge", _zstd(sections=dataset_sections(DOCS, 300), edit=lambda s: (
            _set(0, count=2**64 - 1)(s), _offsets([0, 3, 3, 2**64 - 1])(s))),
         "section_length", "open"),
        ("zstd_count_huge_blocks_of_1", _zstd(sections=dataset_sections(DOCS, 300), edit=lambda s: (
            _head(block_tokens=1)(s), _set(0, count=2**64 - 1)(s),
            _offsets([0, 3, 3, 2**64 - 1])(s))), "section_length", "open"),
        ("zstd_offsets_fit_before_first_offset", _zstd(6, edit=lambda s: (
            _head(block_tokens=1, offsets=[0])(s))), "section_length", "open"),
        # 3. the first and last block offsets (bad_block).
        ("zstd_first_offset_wrong", _zstd(edit=_head(offsets=[33])), "bad_block", "open"),
        ("zstd_first_offset_0", _zstd(edit=_head(offsets=[0])), "bad_block", "open"),
        ("zstd_last_offset_short", _zstd(edit=lambda s: _head(
            offsets=[32, 32 + len(f0), len(s[0].body) - 1])(s)), "bad_block", "open"),
        ("zstd_last_offset_past_the_section", _zstd(edit=lambda s: _head(
            offsets=[32, 32 + len(f0), len(s[0].body) + 1])(s)), "bad_block", "open"),
        ("zstd_bytes_after_the_last_frame", _zstd(edit=_head(tail=b"\0")), "bad_block", "open"),
        ("zstd_no_tokens_offset_wrong", write(_zstd_sections_empty(
            body=(1).to_bytes(4, "little") + bytes(4) + (17).to_bytes(8, "little") + b"\0"),
            minor=4), "bad_block", "open"),
        # -- after step 10: steps 11 to 13 ----------------------------------------------
        ("zstd_bad_block_before_mask_padding", _zstd(edit=lambda s: (
            _head(offsets=[33])(s), setattr(s[2], "body", b"\xff"))), "bad_block", "open"),
        ("zstd_mask_padding", _zstd(edit=lambda s: setattr(s[2], "body", b"\xff")),
         "mask_padding", "open"),
        ("zstd_bad_block_before_bad_metadata", _zstd(edit=lambda s: (
            _head(offsets=[33])(s), setattr(s[3], "body", b"{"), setattr(s[3], "count", 1))),
         "bad_block", "open"),
        ("zstd_vocab_dtype", _zstd(2, sections=dataset_sections(DOCS, 300, MASKS, token_dtype_code=1)),
         "vocab_dtype", "open"),
        # -- 6.2: CRC and padding first, then the offsets, then the blocks --------------
        ("zstd_section_checksum", _zstd(edit=lambda s: setattr(s[0], "crc32", 0)),
         "section_checksum", "verify"),
        ("zstd_frame_flipped_crc_kept", _zstd(edit=lambda s: (
            setattr(s[0], "crc32", zlib_crc(s[0].body)),
            setattr(s[0], "body", flip(s[0].body, 40)))), "section_checksum", "verify"),
        ("zstd_doc_offsets_decreasing_before_bad_block", _zstd(frames=[f0, b"junk"], edit=lambda s: (
            _offsets([0, 4, 3, 6])(s))), "bad_doc_offsets", "verify"),
        ("zstd_offsets_decreasing", _zstd(1, edit=lambda s: _swap_offsets(s, 2)),
         "bad_block", "verify"),
        ("zstd_offsets_decreasing_before_frame", _zstd(1, frames=None, edit=lambda s: (
            _swap_offsets(s, 4), _garble_frame(s, 0))), "bad_block", "verify"),
        ("zstd_frame_garbage", _zstd(frames=[f0, b"not a zstd frame"]), "bad_block", "verify"),
        ("zstd_frame_empty", _zstd(frames=[f0, b""]), "bad_block", "verify"),
        ("zstd_frame_truncated", _zstd(frames=[f0, f1[:-1]]), "bad_block", "verify"),
        ("zstd_frame_too_long", _zstd(frames=[zstd_frame(BLOCKS_OF_3[0] + b"\0\0"), f1]),
         "bad_block", "verify"),
        ("zstd_frame_too_short", _zstd(frames=[f0, zstd_frame(BLOCKS_OF_3[1][:4])]),
         "bad_block", "verify"),
        ("zstd_frame_too_long_no_size", _zstd(frames=[f0, raw_frame(BLOCKS_OF_3[1] + b"\0\0")]),
         "bad_block", "verify"),
        ("zstd_frame_too_short_no_size", _zstd(frames=[f0, raw_frame(BLOCKS_OF_3[1][:5])]),
         "bad_block", "verify"),
        ("zstd_frame_states_a_huge_size", _zstd(frames=[f0, raw_frame(
            BLOCKS_OF_3[1], content_size=2**62)]), "bad_block", "verify"),
        ("zstd_frame_states_a_wrong_size", _zstd(frames=[f0, raw_frame(
            BLOCKS_OF_3[1], content_size=4)]), "bad_block", "verify"),
        ("zstd_frame_states_size_0", _zstd(frames=[f0, raw_frame(b"", content_size=0)]),
         "bad_block", "verify"),
        ("zstd_frame_byte_after", _zstd(frames=[f0, f1 + b"\0"]), "bad_block", "verify"),
        ("zstd_frame_checksum_wrong", _zstd(frames=[f0, bytes(bad_checksum)]), "bad_block", "verify"),
        ("zstd_frame_garbled", _zstd(frames=[f0, bytes(garbage_sum)]), "bad_block", "verify"),
        ("zstd_frame_needs_a_dictionary", _zstd(frames=[f0, with_dict_id(raw_frame(BLOCKS_OF_3[1]))]),
         "bad_block", "verify"),
        ("zstd_skippable_frame_only", _zstd(frames=[f0, skippable]), "bad_block", "verify"),
        # 5.6: each block is one zstd frame: two frames, or a skippable frame beside
        # the frame, in one block's bytes are not one frame.
        ("zstd_two_frames_in_one_block", _zstd(frames=[f0, zstd_frame(BLOCKS_OF_3[1][:2])
                                                        + zstd_frame(BLOCKS_OF_3[1][2:])]),
         "bad_block", "verify"),
        ("zstd_skippable_frame_before", _zstd(frames=[f0, skippable + f1]), "bad_block", "verify"),
        ("zstd_skippable_frame_after", _zstd(frames=[f0, f1 + skippable]), "bad_block", "verify"),
        # 6.2 step 4 (5.6 "In verify"): block by block, the frame, then its tokens'
        # range; token positions in the decompressed stream.
        ("zstd_token_out_of_range_before_later_bad_block", _zstd(
            frames=[zstd_frame(_tokens_u16([1, 2, 300])), b"junk"]), "token_out_of_range", "verify"),
        ("zstd_bad_block_before_later_token_out_of_range", _zstd(
            frames=[b"junk", zstd_frame(_tokens_u16([4, 5, 300]))]), "bad_block", "verify"),
        ("zstd_offsets_decreasing_before_token_out_of_range", _zstd(1, frames=[
            zstd_frame(_tokens_u16([t])) for t in (300, 2, 3, 4, 5, 250)],
            edit=lambda s: _swap_offsets(s, 3)), "bad_block", "verify"),
        ("zstd_token_out_of_range", _zstd(frames=[f0, zstd_frame(_tokens_u16([4, 5, 300]))]),
         "token_out_of_range", "verify"),
        ("zstd_bad_block_before_bad_source", _zstd(sections=_sourced(ids=[1, 0, 2]), frames=[f0, b"junk"]),
         "bad_block", "verify"),
    ]
    return invalid, valid


def zstd_may_refuse_files():
    """(name, bytes) of files 5.6 lets a reader refuse (``bad_block``) or read: a
    frame whose window size exceeds 2**27 bytes. This reader refuses them (at verify
    and when reading the block); the CLI reads them."""
    from spec_writer import raw_frame

    return [
        ("zstd_window_2_27_plus_2_24",
         _zstd(frame=lambda b: raw_frame(b, window_descriptor=(17 << 3) | 1))),
        ("zstd_window_2_28", _zstd(frame=lambda b: raw_frame(b, window_descriptor=18 << 3))),
        ("zstd_window_2_31", _zstd(frame=lambda b: raw_frame(b, window_descriptor=21 << 3))),
        ("zstd_window_max", _zstd(frame=lambda b: raw_frame(b, window_descriptor=0xFF))),
    ]


def _zstd_sections_empty(body=None):
    """A dataset of no documents (count 0) with codec-1 TOKENS: the head and one
    block offset (16 bytes) unless ``body`` is given."""
    s = dataset_sections([], 300)
    if body is None:
        body = (16384).to_bytes(4, "little") + bytes(4) + (16).to_bytes(8, "little")
    s[0] = Section(1, 2, body, 0, codec=1)
    return s


def _swap_offsets(s, k):
    """Make ``block_offsets[k]`` larger than ``block_offsets[k + 1]`` (both inside)."""
    body = bytearray(s[0].body)
    at = 8 + 8 * k
    nxt = int.from_bytes(body[at + 8 : at + 16], "little")
    body[at : at + 8] = (nxt + 1).to_bytes(8, "little")
    s[0].body = bytes(body)


def _garble_frame(s, k):
    """Overwrite frame ``k``'s magic number."""
    body = bytearray(s[0].body)
    at = int.from_bytes(body[8 + 8 * k : 16 + 8 * k], "little")
    body[at : at + 4] = b"JUNK"
    s[0].body = bytes(body)


def zlib_crc(data: bytes) -> int:
    import zlib

    return zlib.crc32(data)


def flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0xFF
    return bytes(out)


def json_names(n: int) -> bytes:
    return ("[" + ", ".join(f'"s{k}"' for k in range(n)) + "]").encode()


def invalid_files():
    valid = write(_sections())
    cases = [
        ("truncated_0", b"", "truncated", "open"),
        ("truncated_63", valid[:63], "truncated", "open"),
        ("bad_magic", write(_sections(), magic=b"TOKPACK1"), "bad_magic", "open"),
        ("major_2", write(_sections(), major=2), "unsupported_version", "open"),
        ("major_0", write(_sections(), major=0), "unsupported_version", "open"),
        ("header_flags", write(_sections(), flags=1), "unknown_flags", "open"),
        ("header_crc", write(_sections(), header_crc32=0), "header_checksum", "open"),
        ("major_2_bad_crc", write(_sections(), major=2, header_crc32=0), "unsupported_version", "open"),
        ("flags_bad_crc", write(_sections(), flags=1, header_crc32=0), "header_checksum", "open"),
        ("cut_file", valid[:-1], "file_length", "open"),
        ("long_file_length", write(_sections(), file_length=len(valid) + 1), "file_length", "open"),
        ("table_offset_128", write(_sections(), table_offset=128), "bad_section_table", "open"),
        ("section_count_1025", write(_sections(), section_count=1025), "bad_section_table", "open"),
        ("table_past_end", write(_sections(), section_count=1024), "bad_section_table", "open"),
        ("table_crc", write(_sections(), table_crc32=1), "table_checksum", "open"),
        ("misaligned", _edit(_set(0, offset=4104)), "section_misaligned", "open"),
        ("offset_0_overlaps_table", _edit(_set(0, offset=0)), "section_overlap", "open"),
        ("mask_aliases_tokens", _edit(_set(2, offset=4096)), "section_overlap", "open"),
        ("gap", _edit(_set(0, offset=8192)), "section_gap", "open"),
        ("huge_offset", _edit(_set(0, offset=2**64 - 4096)), "section_gap", "open"),
        ("past_end", _edit(lambda s: setattr(s[3], "length", len(s[3].body) + 1)),
         "section_out_of_bounds", "open"),
        ("length_overflow", _edit(_set(0, length=2**64 - 1)), "section_out_of_bounds", "open"),
        ("trailing_bytes", write(_sections(), trailing=b"\0"), "trailing_bytes", "open"),
        ("no_sections_trailing", write([], trailing=b"\0"), "trailing_bytes", "open"),
        ("unknown_required_7", _edit(lambda s: s.append(Section(7, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_insertions", _edit(lambda s: s.append(Section(5, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_private", _edit(lambda s: s.append(Section(0x80000000, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_kind_0", _edit(lambda s: s.append(Section(0, 0, b"x", 1))),
         "unknown_required_section", "open"),
        ("unknown_required_packing_plan", _edit(lambda s: s.append(Section(6, 0, b"x", 1))),
         "unknown_required_section", "open"),
        # Codec 3: reserved in every version of the spec so far (codec 1, zstd blocks,
        # is known on TOKENS from version 1.4 on; test_rules.py checks that this 1.3
        # reader refuses it).
        ("tokens_codec_3", _edit(_set(0, codec=3)), "unknown_codec", "open"),
        ("metadata_codec_2", _edit(_set(3, codec=2)), "unknown_codec", "open"),
        ("tokens_dtype_u64", _edit(_set(0, dtype=4)), "bad_dtype", "open"),
        ("tokens_dtype_bytes", _edit(_set(0, dtype=0)), "bad_dtype", "open"),
        ("offsets_dtype_u32", _edit(_set(1, dtype=3)), "bad_dtype", "open"),
        ("mask_dtype_u16", _edit(_set(2, dtype=2)), "bad_dtype", "open"),
        ("metadata_dtype_u8", _edit(_set(3, dtype=1)), "bad_dtype", "open"),
        ("dtype_reserved_9", _edit(_set(0, dtype=9)), "bad_dtype", "open"),
        ("duplicate_metadata", _edit(lambda s: s.append(s[3])), "duplicate_section", "open"),
        ("duplicate_mask", _edit(lambda s: s.append(s[2])), "duplicate_section", "open"),
        ("entry_order_dtype_first", _edit(lambda s: (_set(0, dtype=4)(s), s.insert(1, Section(99, 0, b"", 0)))),
         "bad_dtype", "open"),
        ("entry_order_unknown_first", _edit(lambda s: (_set(1, dtype=3)(s), s.insert(1, Section(99, 0, b"", 0)))),
         "unknown_required_section", "open"),
        # 6.1 runs step 6 over every entry, then step 7, before step 8 (lengths).
        ("step6_before_step8_dtype",
         _edit(lambda s: (setattr(s[0], "count", 4), _set(1, dtype=3)(s))), "bad_dtype", "open"),
        ("step6_before_step8_unknown_required",
         _edit(lambda s: (setattr(s[0], "count", 4), s.append(Section(7, 0, b"x", 1)))),
         "unknown_required_section", "open"),
        ("step6_before_step8_duplicate",
         _edit(lambda s: (setattr(s[0], "count", 4), s.append(s[1]))), "duplicate_section", "open"),
        ("step7_before_step8_missing",
         write([setattr(x, "count", 4) or x if x.kind == 1 else x for x in _sections() if x.kind != 4]),
         "missing_section", "open"),
        ("no_tokens", write([s for s in _sections() if s.kind != 1]), "missing_section", "open"),
        ("no_offsets", write([s for s in _sections() if s.kind != 2]), "missing_section", "open"),
        ("no_metadata", write([s for s in _sections() if s.kind != 4]), "missing_section", "open"),
        ("no_sections", write([]), "missing_section", "open"),
        ("tokens_count", _edit(lambda s: setattr(s[0], "count", s[0].count + 1)), "section_length", "open"),
        ("mask_count_9_bytes_1", _edit(_set(2, count=9)), "section_length", "open"),
        ("offsets_count_overflow", _edit(_set(1, count=2**61)), "section_length", "open"),
        ("offsets_count_2_62", _edit(_set(1, count=2**62)), "section_length", "open"),
        ("tokens_u32_count_overflow", _edit(_set(0, dtype=3, count=2**62)),
         "section_length", "open"),
        ("metadata_count", _edit(lambda s: setattr(s[3], "count", s[3].count - 1)), "section_length", "open"),
        ("offsets_count_0", _edit(_offsets([])), "count_mismatch", "open"),
        ("mask_count_7", _edit(_set(2, count=7)), "count_mismatch", "open"),
        ("first_offset_1", _edit(_offsets([1, 3, 3, 6])), "bad_doc_offsets", "open"),
        ("last_offset_5", _edit(_offsets([0, 3, 3, 5])), "bad_doc_offsets", "open"),
        ("last_offset_max", _edit(_offsets([0, 3, 3, 2**64 - 1])), "bad_doc_offsets", "open"),
        ("mask_padding", _edit(lambda s: setattr(s[2], "body", bytes([s[2].body[0] | 0x80]))),
         "mask_padding", "open"),
        ("vocab_dtype_u8", write(dataset_sections(DOCS, 257, MASKS, token_dtype_code=1)),
         "vocab_dtype", "open"),
        ("vocab_dtype_u16", write(dataset_sections(DOCS, 65537, MASKS, token_dtype_code=2)),
         "vocab_dtype", "open"),
        ("checksum_tokens", _edit(_set(0, crc32=0)), "section_checksum", "verify"),
        ("checksum_metadata", _edit(_set(3, crc32=0)), "section_checksum", "verify"),
        ("checksum_unknown_optional",
         _edit(lambda s: s.append(Section(0x80000001, 0, b"x", 1, flags=0, crc32=0))),
         "section_checksum", "verify"),
        ("padding_after_table", _padding(4095), "padding_not_zero", "verify"),
        ("padding_between_sections", _padding(4096 + 100), "padding_not_zero", "verify"),
        ("offsets_decrease", _edit(_offsets([0, 4, 3, 6])), "bad_doc_offsets", "verify"),
        ("token_300", write(dataset_sections([[1], [300]], 300)), "token_out_of_range", "verify"),
        ("token_out_of_range_and_crc",
         write([_set(0, crc32=0)(s) or s for s in [dataset_sections([[300]], 300)]][0]),
         "section_checksum", "verify"),
    ]
    bad_metadata = {
        "not_utf8": b"\xff\xfe",
        "utf8_surrogate": b'{"vocab_size": 300, "x": "\xed\xa0\x80"}',
        "bom": b"\xef\xbb\xbf{\"vocab_size\": 300}",
        "empty": b"",
        "array": b"[300]",
        "two_values": b'{"vocab_size": 300} {}',
        "nan": b'{"vocab_size": 300, "x": NaN}',
        "lone_surrogate_escape": b'{"vocab_size": 300, "x": "\\ud800"}',
        "raw_tab_in_string": b'{"vocab_size": 300, "x": "a\tb"}',
        "trailing_comma": b'{"vocab_size": 300,}',
        "no_vocab_size": b"{}",
        "vocab_size_0": b'{"vocab_size": 0}',
        "vocab_size_negative": b'{"vocab_size": -1}',
        "vocab_size_2_32_plus_1": b'{"vocab_size": 4294967297}',
        "vocab_size_float": b'{"vocab_size": 300.0}',
        "vocab_size_exponent": b'{"vocab_size": 3e2}',
        "vocab_size_string": b'{"vocab_size": "300"}',
        "vocab_size_bool": b'{"vocab_size": true}',
        "vocab_size_null": b'{"vocab_size": null}',
        "tokenizer_number": b'{"vocab_size": 300, "tokenizer": 5}',
        "bos_id_eq_vocab": b'{"vocab_size": 300, "bos_id": 300}',
        "eos_id_negative": b'{"vocab_size": 300, "eos_id": -1}',
        "pad_id_string": b'{"vocab_size": 300, "pad_id": "0"}',
        "pad_id_float": b'{"vocab_size": 300, "pad_id": 1.5}',
        "writer_number": b'{"vocab_size": 300, "writer": 1}',
        "writer_object": b'{"vocab_size": 300, "writer": {"name": "w"}}',
        "over_16_mib": b'{"vocab_size": 300, "x": "' + b"a" * (16 * 1024 * 1024) + b'"}',
        # 5.4: nesting at most 64 deep, the top-level object at depth 1.
        "nesting_65_arrays": _nest(b"[", b"]", 64),
        "nesting_65_objects": _nest(b'{"a": ', b"}", 64),
        "nesting_65_mixed": _nest(b'[{"a": ', b"}]", 32),
        "nesting_100": _nest(b"[", b"]", 99),
        "nesting_5000": _nest(b"[", b"]", 4999),
        "nesting_65_in_array": b'[' + b"[" * 64 + b"]" * 64 + b"]",
        # 5.4: no key twice in the same object (keys compared after unescaping).
        "duplicate_vocab_size_same_value": b'{"vocab_size": 300, "vocab_size": 300}',
        "duplicate_vocab_size": b'{"vocab_size": 10, "vocab_size": 300}',
        "duplicate_user_key": b'{"vocab_size": 300, "a": 1, "a": 1}',
        "duplicate_key_nested": b'{"vocab_size": 300, "u": [{"b": {"a": 1, "a": 2}}]}',
        "duplicate_key_escaped": b'{"vocab_size": 300, "a": 1, "\\u0061": 2}',
        "duplicate_null_key": b'{"vocab_size": 300, "writer": null, "writer": "w"}',
        # 5.4: no lone surrogate escapes, in values or keys.
        "lone_low_surrogate": b'{"vocab_size": 300, "x": "a\\udc00"}',
        "surrogates_reversed": b'{"vocab_size": 300, "x": "\\udc00\\ud800"}',
        "lone_surrogate_in_key": b'{"vocab_size": 300, "\\ud800": 1}',
        "high_surrogate_then_letter": b'{"vocab_size": 300, "x": "\\ud83dA"}',
        # 5.4: every number finite as an IEEE-754 double.
        "float_1e400": b'{"vocab_size": 300, "x": 1e400}',
        "float_minus_1e400": b'{"vocab_size": 300, "x": [-1e400]}',
        "float_long_mantissa_overflow": b'{"vocab_size": 300, "x": 1' + b"0" * 400 + b'.5}',
        "int_400_digits": b'{"vocab_size": 300, "x": 1' + b"0" * 400 + b"}",
        "int_2_1024": b'{"vocab_size": 300, "x": ' + str(2**1024).encode() + b"}",
        "int_rounds_to_infinity": b'{"vocab_size": 300, "x": '
        + str(2**1024 - 2**970).encode() + b"}",
        "int_negative_overflow": b'{"vocab_size": 300, "x": -' + str(2**1024).encode() + b"}",
        "infinity": b'{"vocab_size": 300, "x": Infinity}',
        "minus_infinity": b'{"vocab_size": 300, "x": -Infinity}',
        # 5.4: the known integer keys as plain JSON integers.
        "vocab_size_exponent_upper": b'{"vocab_size": 3E2}',
        "vocab_size_exponent_plus": b'{"vocab_size": 3e+2}',
        "vocab_size_fraction_exponent": b'{"vocab_size": 30.0e1}',
        "vocab_size_plus_sign": b'{"vocab_size": +300}',
        "vocab_size_leading_zero": b'{"vocab_size": 0300}',
        "vocab_size_minus_zero": b'{"vocab_size": -0}',
        "pad_id_minus_zero": b'{"vocab_size": 300, "pad_id": -0}',
        "bos_id_zero_point_zero": b'{"vocab_size": 300, "bos_id": 0.0}',
        "eos_id_exponent": b'{"vocab_size": 300, "eos_id": 1e1}',
        "eos_id_object": b'{"vocab_size": 300, "eos_id": {}}',
        "pad_id_huge": b'{"vocab_size": 300, "pad_id": 1' + b"0" * 30 + b"}",
        # 5.4 (version 1.1): `file` is absent or "dataset" in a dataset file.
        "file_plan": b'{"vocab_size": 300, "file": "plan"}',
        "file_overlay": b'{"vocab_size": 300, "file": "overlay"}',
        "file_other": b'{"vocab_size": 300, "file": "data"}',
        "file_null": b'{"vocab_size": 300, "file": null}',
        "file_number": b'{"vocab_size": 300, "file": 1}',
        "file_twice": b'{"vocab_size": 300, "file": "dataset", "file": "dataset"}',
    }
    for name, meta in bad_metadata.items():
        cases.append((f"metadata_{name}", _meta(meta), "bad_metadata", "open"))
    cases += source_files()[0]
    cases += zstd_files()[0]
    return cases


def valid_files():
    """(name, bytes) for files a reader must accept."""
    def extra(s):
        s.insert(1, Section(0x80000001, 9, b"private", 7, codec=3, flags=0xFFFE))

    return [
        ("basic", write(_sections())),
        ("minor_7", write(_sections(), minor=7)),
        ("header_reserved_set", write(_sections(), reserved=0xDEADBEEF)),
        ("unknown_optional_sections", _edit(extra)),
        ("reserved_kind_5_optional", _edit(lambda s: s.append(Section(5, 0, b"x", 1, flags=0)))),
        ("no_required_flags", _edit(lambda s: [setattr(x, "flags", 0) for x in s])),
        ("entry_reserved_bytes_set", _edit(_set(0, reserved=b"\xff" * 28))),
        ("tokens_wider_u32", write(dataset_sections(DOCS, 300, MASKS, token_dtype_code=3))),
        ("vocab_2_32", write(dataset_sections(DOCS, 2**32, MASKS))),
        ("vocab_1", write(dataset_sections([[0], []], 1, [[1], []]))),
        ("no_documents", write(dataset_sections([], 10, []))),
        ("no_mask", write(dataset_sections(DOCS, 300))),
        ("metadata_all_keys", _meta(
            b' {"vocab_size": 300, "tokenizer": null, "bos_id": null, "eos_id": 299,'
            b' "pad_id": 0, "writer": "w", "user": {"a": [1, 2.5, "\\u00e9"]}} ')),
        ("metadata_huge_user_int", _meta(b'{"vocab_size": 300, "n": 1' + b"0" * 30 + b"}")),
        # 5.4: "string or null"; absent and null both mean "not known".
        ("metadata_writer_null", _meta(b'{"vocab_size": 300, "writer": null}')),
        ("metadata_all_optional_null", _meta(
            b'{"vocab_size": 300, "tokenizer": null, "bos_id": null, "eos_id": null,'
            b' "pad_id": null, "writer": null}')),
        ("metadata_only_vocab_size", _meta(b'{"vocab_size": 300}')),
        # Nesting of exactly 64 (the top-level object is depth 1).
        ("metadata_nesting_64_arrays", _meta(_nest(b"[", b"]", 63))),
        ("metadata_nesting_64_objects", _meta(_nest(b'{"a": ', b"}", 63))),
        ("metadata_nesting_64_empty", _meta(_nest(b"[", b"]", 63, value=b""))),
        ("metadata_brackets_in_strings", _meta(
            b'{"vocab_size": 300, "x": "' + b"[{" * 100 + b'\\"[\\\\", "[[": "' + b"]" * 70
            + b'"}')),
        # The same key in different objects is not a duplicate.
        ("metadata_same_key_in_other_objects", _meta(
            b'{"vocab_size": 300, "a": {"vocab_size": 1, "a": 2}, "b": [{"a": 1}, {"a": 2}]}')),
        ("metadata_surrogate_pair", _meta(b'{"vocab_size": 300, "x": "\\ud83d\\ude00"}')),
        # Finite doubles: the largest, one that underflows to 0, the largest integer
        # that rounds to a finite double.
        ("metadata_max_double", _meta(b'{"vocab_size": 300, "x": 1.7976931348623157e308}')),
        ("metadata_underflow_to_zero", _meta(b'{"vocab_size": 300, "x": 1e-400}')),
        ("metadata_int_dbl_max", _meta(
            b'{"vocab_size": 300, "x": ' + str(2**1024 - 2**971).encode() + b"}")),
        ("metadata_int_largest_finite", _meta(
            b'{"vocab_size": 300, "x": ' + str(2**1024 - 2**970 - 1).encode() + b"}")),
        ("metadata_float_rounds_down_to_dbl_max",
         _meta(b'{"vocab_size": 300, "x": 1.7976931348623158e308}')),
        ("metadata_user_int_2_64_plus_1",
         _meta(b'{"vocab_size": 300, "n": 18446744073709551617}')),
        # 5.4: integers in [-2^63, 2^64) exactly, every other number as its correctly
        # rounded double (ties to even).
        ("metadata_user_int_64_bit_bounds", _meta(
            b'{"vocab_size": 300, "a": -9223372036854775808, "b": -9223372036854775809,'
            b' "c": 18446744073709551615, "d": 18446744073709551616}')),
        ("metadata_user_int_rounding", _meta(
            b'{"vocab_size": 300, "tie_down": ' + str(2**64 + 2**11).encode()
            + b', "above_tie": ' + str(2**64 + 2**11 + 1).encode()
            + b', "tie_up": ' + str(2**64 + 3 * 2**11).encode()
            + b', "negative": -' + str(2**70 + 2**17).encode() + b"}")),
        ("metadata_float_hard_rounding", _meta(
            b'{"vocab_size": 300, "a": 9007199254740993.0, "b": 2.2250738585072011e-308,'
            b' "c": 0.1000000000000000055511151231257827021181583404541015625,'
            b' "d": 1e23, "e": 8.41e21, "f": 4.9406564584124654e-324,'
            b' "g": 2.4703282292062328e-324, "h": 2.4703282292062327e-324,'
            b' "i": 1e-99999999999999999999, "j": 0e99999999999999999999,'
            b' "k": 0.' + b"0" * 5000 + b'1e5000}')),
        # The integer-form rule is for the known keys only; user numbers are free.
        ("metadata_user_number_forms", _meta(
            b'{"vocab_size": 300, "a": -5, "b": 3e2, "c": 300.0, "d": -1.5E-3, "e": -0.0}')),
        # `-0`: 5.4 (version 1.1) gives it as the double -0.0, its one exception to
        # "integers in [-2^63, 2^64) exactly".
        ("metadata_user_minus_zero", _meta(b'{"vocab_size": 300, "a": -0}')),
        ("metadata_file_dataset", _meta(b'{"vocab_size": 300, "file": "dataset"}')),
        ("metadata_file_key_nested", _meta(b'{"vocab_size": 300, "u": {"file": "plan"}}')),
        ("metadata_special_ids_zero_and_max", _meta(
            b'{"vocab_size": 300, "bos_id": 0, "eos_id": 299, "pad_id": 0}')),
        # 4: of an unknown section without the required flag only the layout rules
        # (and its CRC in verify) apply: dtype, codec and count are not interpreted.
        ("unknown_optional_count_not_length", _edit(lambda s: s.append(
            Section(0x80000002, 4, b"abc", 2**64 - 1, codec=255, flags=0)))),
        ("unknown_optional_kind_0", _edit(lambda s: s.insert(0, Section(0, 0, b"", 0, flags=0)))),
        ("unknown_optional_kind_6", _edit(lambda s: s.append(Section(6, 1, b"x" * 5000, 1, flags=0)))),
    ] + source_files()[1] + zstd_files()[1]
