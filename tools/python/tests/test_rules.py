"""One test per rule of spec 6.1 / 6.2, each expecting one error code.

Files come from ``spec_writer`` (a writer written from the spec), valid by default,
with exactly one field broken.
"""

import json
import zlib

import numpy as np
import pytest

import catalog
import tokpack
from json_values import differences
from spec_writer import Section, dataset_sections, refresh_checksums, write, write_dataset

DOCS = [[1, 2, 3], [], [4, 5, 250]]
MASKS = [[1, 0, 1], [], [0, 1, 1]]


def sections(**kwargs):
    return dataset_sections(DOCS, 300, MASKS, **kwargs)


def valid(**kwargs) -> bytes:
    return write(sections(), **kwargs)


def open_error(data) -> tokpack.TokpackError:
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.Dataset.from_buffer(data)
    return info.value


def assert_open_fails(data, code):
    err = open_error(data)
    assert err.code == code, str(err)
    return err


def assert_verify_fails(data, code):
    ds = tokpack.Dataset.from_buffer(data)
    with pytest.raises(tokpack.TokpackError) as info:
        ds.verify()
    assert info.value.code == code, str(info.value)
    return info.value


def meta_file(meta_bytes: bytes, vocab_size: int = 300) -> bytes:
    return write(dataset_sections(DOCS, vocab_size, MASKS, metadata_bytes=meta_bytes))


def test_valid_file_opens_and_verifies():
    ds = tokpack.Dataset.from_buffer(valid())
    ds.verify()
    assert [ds.document(i).tolist() for i in range(3)] == DOCS
    assert [ds.loss_mask(i).astype(int).tolist() for i in range(3)] == MASKS


# -- step 1 ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 63])
def test_shorter_than_header_is_truncated(size):
    assert_open_fails(valid()[:size], "truncated")


def test_empty_file_on_disk_is_truncated(tmp_path):
    path = tmp_path / "empty.tpk"
    path.write_bytes(b"")
    with pytest.raises(tokpack.TokpackError) as info:
        tokpack.open(path)
    assert info.value.code == "truncated"


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(OSError):
        tokpack.open(tmp_path / "absent.tpk")


def test_wrong_magic():
    assert_open_fails(valid(magic=b"TOKPACK1"), "bad_magic")


@pytest.mark.parametrize("major", [0, 2, 0xFFFF])
def test_major_other_than_1_is_unsupported(major):
    assert_open_fails(valid(major=major), "unsupported_version")


def test_any_minor_is_accepted():
    ds = tokpack.Dataset.from_buffer(valid(minor=7))
    assert ds.version == (1, 7)


@pytest.mark.parametrize("flags", [1, 0x80000000])
def test_header_flags_are_refused(flags):
    assert_open_fails(valid(flags=flags), "unknown_flags")


def test_header_crc_mismatch():
    assert_open_fails(valid(header_crc32=0), "header_checksum")


def test_reserved_header_field_is_ignored():
    tokpack.Dataset.from_buffer(valid(reserved=0xDEADBEEF)).verify()


def test_magic_is_checked_before_the_header_crc():
    assert_open_fails(valid(magic=b"XXXXXXXX", header_crc32=0), "bad_magic")


def test_version_is_checked_before_the_header_crc():
    assert_open_fails(valid(major=2, header_crc32=0), "unsupported_version")


def test_header_crc_is_checked_before_the_flags():
    assert_open_fails(valid(flags=1, header_crc32=0), "header_checksum")


# -- step 2 ------------------------------------------------------------------------


@pytest.mark.parametrize("delta", [-1, 1, 2**40])
def test_declared_length_differs_from_real_length(delta):
    data = valid()
    assert_open_fails(write(sections(), file_length=len(data) + delta), "file_length")


def test_file_cut_after_the_header_is_file_length():
    assert_open_fails(valid()[:100], "file_length")


# -- step 3 ------------------------------------------------------------------------


def test_table_offset_other_than_64():
    assert_open_fails(valid(table_offset=128), "bad_section_table")


def test_section_count_over_1024():
    assert_open_fails(valid(section_count=1025), "bad_section_table")


def test_huge_section_count_is_refused_before_allocating():
    assert_open_fails(valid(section_count=0xFFFFFFFF), "bad_section_table")


def test_table_past_end_of_file():
    # 1024 entries need 65 600 bytes; the file has fewer.
    data = valid(section_count=1024)
    assert len(data) < 64 + 64 * 1024
    assert_open_fails(data, "bad_section_table")


def test_table_crc_mismatch():
    assert_open_fails(valid(table_crc32=1), "table_checksum")


# -- step 4 ------------------------------------------------------------------------


def test_section_offset_not_page_aligned():
    s = sections()
    s[0].offset = 4096 + 8
    assert_open_fails(write(s), "section_misaligned")


def test_section_inside_the_table_overlaps():
    s = sections()
    s[0].offset = 0
    assert_open_fails(write(s), "section_overlap")


def test_section_aliasing_the_previous_one_overlaps():
    s = sections()
    s[2].offset = 4096  # the mask claims the tokens' bytes
    assert_open_fails(write(s), "section_overlap")


def test_section_past_the_next_page_boundary_is_a_gap():
    s = sections()
    s[0].offset = 8192
    assert_open_fails(write(s), "section_gap")


def test_section_past_end_of_file():
    s = sections()
    s[-1].length = len(s[-1].body) + 1
    assert_open_fails(write(s), "section_out_of_bounds")


def test_offset_plus_length_overflow():
    s = sections()
    s[0].length = 2**64 - 1
    assert_open_fails(write(s), "section_out_of_bounds")


def test_huge_offset_is_caught_by_the_gap_rule_first():
    # Spec 7.3 names offset = 2^64 - 4096 as the overflow example; 6.1 step 4 checks
    # the gap rule first, which already refuses it.
    s = sections()
    s[0].offset = 2**64 - 4096
    assert_open_fails(write(s), "section_gap")


# -- step 5 ------------------------------------------------------------------------


def test_bytes_after_the_last_section():
    assert_open_fails(valid(trailing=b"\x00"), "trailing_bytes")


def test_no_sections_with_trailing_bytes():
    assert_open_fails(write([], trailing=b"\x00" * 10), "trailing_bytes")


# -- step 6 ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [0, 5, 6, 7, 0x7FFFFFFF, 0x80000000])
def test_unknown_required_kind(kind):
    s = sections() + [Section(kind, 0, b"x", 1, flags=1)]
    assert_open_fails(write(s), "unknown_required_section")


@pytest.mark.parametrize("kind", [0, 5, 7, 0x80000001])
def test_unknown_optional_kind_is_skipped(kind):
    s = sections()
    s.insert(1, Section(kind, 9, b"private", 7, codec=3, flags=0xFFFE))
    ds = tokpack.Dataset.from_buffer(write(s))
    ds.verify()
    assert ds.document(2).tolist() == DOCS[2]
    assert [e["kind"] for e in ds.sections] == [1, kind, 2, 3, 4]


@pytest.mark.parametrize("index,codec", [(0, 2), (0, 255), (1, 1), (2, 1), (3, 1), (1, 2)])
def test_known_kind_with_codec_other_than_raw(index, codec):
    # 6.1 step 6: codec 1 (zstd blocks, 5.6) is known on TOKENS only (version 1.4).
    s = sections()
    s[index].codec = codec
    err = assert_open_fails(write(s), "unknown_codec")
    assert f"codec {codec}" in str(err)


@pytest.mark.parametrize(
    "index,dtype", [(0, 0), (0, 4), (0, 5), (1, 3), (2, 0), (2, 2), (3, 1)]
)
def test_known_kind_with_wrong_dtype(index, dtype):
    s = sections()
    s[index].dtype = dtype
    assert_open_fails(write(s), "bad_dtype")


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_known_kind_twice(index):
    s = sections()
    s.append(s[index])
    assert_open_fails(write(s), "duplicate_section")


def test_unknown_optional_section_is_not_interpreted():
    # Only layout and CRC apply to a skipped section: a count that disagrees with
    # its length, a reserved dtype and an unknown codec are all fine.
    s = sections() + [Section(0x80000002, 200, b"abc", 2**64 - 1, codec=255, flags=0)]
    ds = tokpack.Dataset.from_buffer(write(s))
    ds.verify()
    assert ds.sections[-1]["dtype"] == 200 and not ds.sections[-1]["known"]


def test_entry_checks_run_entry_by_entry():
    # Entry 0 has a bad dtype, entry 1 is an unknown required kind: the first
    # entry's error is reported (6.1 step 6 reads "each entry", in table order).
    s = sections()
    s[0].dtype = 4
    s.insert(1, Section(99, 0, b"", 0))
    assert_open_fails(write(s), "bad_dtype")


def test_required_flag_on_known_kinds_is_not_needed():
    s = sections()
    for sec in s:
        sec.flags = 0
    tokpack.Dataset.from_buffer(write(s)).verify()


# -- step 7 ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [1, 2, 4])
def test_required_kind_absent(kind):
    s = [sec for sec in sections() if sec.kind != kind]
    assert_open_fails(write(s), "missing_section")


def test_no_sections_at_all():
    assert_open_fails(write([]), "missing_section")


def test_loss_mask_is_optional():
    ds = tokpack.Dataset.from_buffer(write_dataset(DOCS, 300))
    ds.verify()
    assert not ds.has_loss_mask
    assert ds.loss_mask(0).tolist() == [True] * 3


# -- step 8 ------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_count_disagrees_with_length(index):
    s = sections()
    s[index].count += 8 if index == 2 else 1
    assert_open_fails(write(s), "section_length")


@pytest.mark.parametrize("count", [2**61, 2**62, 2**64 - 1])
def test_count_times_width_overflowing_u64(count):
    s = sections()
    s[1].count = count  # * 8 >= 2^64
    err = assert_open_fails(write(s), "section_length")
    assert "overflows" in str(err)


def test_kinds_of_every_entry_are_checked_before_any_length():
    # Entry 0 (TOKENS) has a wrong length, entry 1 a wrong dtype: step 6 runs over
    # every entry before step 8.
    s = sections()
    s[0].count += 1
    s[1].dtype = 3
    assert_open_fails(write(s), "bad_dtype")


def test_missing_section_is_reported_before_any_length():
    s = [sec for sec in sections() if sec.kind != 4]
    s[0].count += 1
    assert_open_fails(write(s), "missing_section")


def test_lengths_are_checked_in_table_order():
    s = sections()
    s[1].count += 1
    s[3].count += 1
    err = assert_open_fails(write(s), "section_length")
    assert err.section == "doc_offsets"


# -- step 9 ------------------------------------------------------------------------


def test_doc_offsets_count_zero():
    s = sections()
    s[1].body, s[1].count = b"", 0
    assert_open_fails(write(s), "count_mismatch")


def test_loss_mask_count_differs_from_tokens():
    s = sections()
    s[2].count = 7  # 6 tokens; still one byte, so the length agrees
    assert_open_fails(write(s), "count_mismatch")


# -- step 10 -----------------------------------------------------------------------


def offsets_file(offsets) -> bytes:
    s = sections()
    s[1].body = np.asarray(offsets, dtype="<u8").tobytes()
    s[1].count = len(offsets)
    return write(s)


def test_first_offset_not_zero():
    assert_open_fails(offsets_file([1, 3, 3, 6]), "bad_doc_offsets")


@pytest.mark.parametrize("last", [5, 7, 2**64 - 1])
def test_last_offset_not_n_tokens(last):
    assert_open_fails(offsets_file([0, 3, 3, last]), "bad_doc_offsets")


def test_zero_documents():
    data = write(dataset_sections([], 10, []))
    ds = tokpack.Dataset.from_buffer(data)
    ds.verify()
    assert (ds.num_documents, ds.num_tokens) == (0, 0)
    with pytest.raises(IndexError):
        ds.document(0)


# -- step 11 -----------------------------------------------------------------------


def test_mask_padding_bits_set():
    s = sections()
    s[2].body = bytes([s[2].body[0] | 0x80])
    assert_open_fails(write(s), "mask_padding")


def test_mask_padding_with_full_last_byte_has_no_unused_bits():
    docs = [[1] * 8]
    data = write(dataset_sections(docs, 10, [[1] * 8]))
    assert tokpack.Dataset.from_buffer(data).loss_mask(0).all()


# -- step 12 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "meta",
    [
        b"\xff\xfe",  # not UTF-8
        b'{"vocab_size": 300, "x": "\xed\xa0\x80"}',  # UTF-8-encoded surrogate
        b"\xef\xbb\xbf{\"vocab_size\": 300}",  # byte-order mark
        b"",
        b"{",
        b"[300]",
        b'"vocab_size"',
        b"300",
        b"null",
        b'{"vocab_size": 300} {}',
        b'{"vocab_size": 300, "x": NaN}',
        b'{"vocab_size": 300, "x": Infinity}',
        b'{"vocab_size": 300, "x": "\\ud800"}',  # lone surrogate escape
        b'{"vocab_size": 300, "x": ["\\udc00"]}',
        b'{"vocab_size": 300, "x": "tab\there"}',  # raw control character
        b"{'vocab_size': 300}",
        b'{"vocab_size": 300,}',
        b"{}",
        b'{"tokenizer": "x"}',
        b'{"vocab_size": 0}',
        b'{"vocab_size": -1}',
        b'{"vocab_size": 4294967297}',
        b'{"vocab_size": 300.0}',
        b'{"vocab_size": 3e2}',
        b'{"vocab_size": "300"}',
        b'{"vocab_size": true}',
        b'{"vocab_size": null}',
        b'{"vocab_size": 300, "tokenizer": 5}',
        b'{"vocab_size": 300, "tokenizer": ["a"]}',
        b'{"vocab_size": 300, "bos_id": 300}',
        b'{"vocab_size": 300, "eos_id": -1}',
        b'{"vocab_size": 300, "pad_id": "0"}',
        b'{"vocab_size": 300, "pad_id": 1.5}',
        b'{"vocab_size": 300, "bos_id": false}',
        b'{"vocab_size": 300, "writer": 1}',
        b'{"vocab_size": 300, "writer": ["w"]}',
        b'{"vocab_size": 300, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        # 5.4 restrictions.
        b'{"vocab_size": 300, "x": ' + b"[" * 64 + b"]" * 64 + b"}",  # depth 65
        b'{"vocab_size": 300, "vocab_size": 300}',
        b'{"vocab_size": 300, "x": {"k": 1, "k": 2}}',
        b'{"vocab_size": 300, "x": 1e400}',
        b'{"vocab_size": 300, "x": 1' + b"0" * 5000 + b"}",
        b'{"vocab_size": 300, "pad_id": -0}',
        b'{"vocab_size": 300, "bos_id": 1.0}',
    ],
)
def test_bad_metadata(meta):
    assert_open_fails(meta_file(meta), "bad_metadata")


@pytest.mark.parametrize(
    "meta,words",
    [
        (b'{"vocab_size": 300, "x": ' + b"{\"a\": " * 64 + b"0" + b"}" * 64 + b"}",
         "65 deep"),
        (b'{"vocab_size": 300, "u": [{"dup": 1, "dup": 1}]}', "'dup' appears twice"),
        (b'{"vocab_size": 300, "x": -1e400}', "not finite"),
        (b'{"vocab_size": 300, "x": ' + str(2**1024).encode() + b"}", "not finite"),
        (b'{"vocab_size": 300, "x": "\\udfff"}', "lone UTF-16 surrogate"),
        (b'{"vocab_size": 300, "eos_id": -0}', "written with a sign"),
        (b'{"vocab_size": 3e2}', "plain JSON integer"),
    ],
)
def test_bad_metadata_says_which_rule(meta, words):
    err = assert_open_fails(meta_file(meta), "bad_metadata")
    assert words in str(err)


def test_nesting_of_exactly_64_is_accepted():
    meta = b'{"vocab_size": 300, "x": ' + b"[" * 63 + b"]" * 63 + b"}"
    ds = tokpack.Dataset.from_buffer(meta_file(meta))
    depth, value = 1, ds.metadata["x"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == 64


@pytest.mark.parametrize(
    "meta",
    [
        b'{"vocab_size": 300}',
        b'{"vocab_size": 300, "tokenizer": null, "bos_id": null, "eos_id": null,'
        b' "pad_id": null, "writer": null}',
    ],
)
def test_absent_and_null_optional_keys_both_mean_not_known(meta):
    ds = tokpack.Dataset.from_buffer(meta_file(meta))
    assert (ds.tokenizer, ds.bos_id, ds.eos_id, ds.pad_id, ds.writer) == (None,) * 5
    # The metadata itself is given back as stored: no key added, none dropped.
    assert ds.metadata == json.loads(meta)


def test_optional_keys_when_known():
    meta = (b'{"vocab_size": 300, "tokenizer": "t", "bos_id": 0, "eos_id": 299,'
            b' "pad_id": 7, "writer": "w"}')
    ds = tokpack.Dataset.from_buffer(meta_file(meta))
    assert (ds.tokenizer, ds.bos_id, ds.eos_id, ds.pad_id, ds.writer) == ("t", 0, 299, 7, "w")


def test_signed_user_integers_come_back_as_plain_ints_and_minus_zero_as_a_double():
    ds = tokpack.Dataset.from_buffer(
        meta_file(b'{"vocab_size": 300, "a": -0, "b": [-5, {"c": -7}]}'))
    assert not differences(ds.metadata, {"vocab_size": 300, "a": -0.0, "b": [-5, {"c": -7}]})
    assert type(ds.metadata["a"]) is float and type(ds.metadata["b"][1]["c"]) is int


@pytest.mark.parametrize("value,ok", [
    (b'"dataset"', True), (b'"plan"', False), (b'"overlay"', False), (b'"Dataset"', False),
    (b"null", False), (b"[]", False)])
def test_file_key_of_a_dataset_file(value, ok):
    # 5.4: `file` is "string, absent or "dataset""; "plan" marks a plan file. Null is
    # refused too: the type column does not say "or null" (README, "Spec holes").
    data = meta_file(b'{"vocab_size": 300, "file": ' + value + b"}")
    if ok:
        assert tokpack.Dataset.from_buffer(data).metadata["file"] == "dataset"
    else:
        err = assert_open_fails(data, "bad_metadata")
        assert "'file'" in str(err)


def test_metadata_over_16_mib_is_refused_before_parsing():
    meta = b'{"vocab_size": 300, "x": "' + b"a" * (16 * 1024 * 1024) + b'"}'
    assert_open_fails(meta_file(meta), "bad_metadata")


def test_metadata_of_exactly_16_mib_is_accepted():
    head = b'{"vocab_size": 300, "x": "'
    meta = head + b"a" * (16 * 1024 * 1024 - len(head) - 2) + b'"}'
    assert len(meta) == 16 * 1024 * 1024
    ds = tokpack.Dataset.from_buffer(meta_file(meta))
    assert len(ds.metadata["x"]) == len(meta) - len(head) - 2


@pytest.mark.parametrize(
    "meta,expected",
    [
        (b'{"vocab_size": 300}', {"vocab_size": 300}),
        (
            b' \n{"vocab_size": 300, "tokenizer": null, "bos_id": null, "eos_id": 299,'
            b' "pad_id": 0, "writer": "w"}\r\n\t',
            {"vocab_size": 300, "tokenizer": None, "bos_id": None, "eos_id": 299,
             "pad_id": 0, "writer": "w"},
        ),
        (
            b'{"vocab_size": 300, "user": {"nested": [1, 2.5, "\\u00e9\\ud83d\\ude00"]},'
            b' "big": 123456789012345678901234567890}',
            {"vocab_size": 300, "user": {"nested": [1, 2.5, "\u00e9\U0001F600"]},
             "big": 1.2345678901234568e29},
        ),
        (b'{"vocab_size": 300, "huge": 1' + b"0" * 308 + b"}",
         {"vocab_size": 300, "huge": 1e308}),
        (b'{"vocab_size": 300, "x": 1e-400, "y": -0.0, "z": 1.7976931348623157e308}',
         {"vocab_size": 300, "x": 0.0, "y": -0.0, "z": 1.7976931348623157e308}),
        (b'{"vocab_size": 300, "writer": null, "a": {"vocab_size": 1}}',
         {"vocab_size": 300, "writer": None, "a": {"vocab_size": 1}}),
    ],
)
def test_good_metadata_is_given_back_unchanged(meta, expected):
    assert not differences(tokpack.Dataset.from_buffer(meta_file(meta)).metadata, expected)


# 5.4: "A reader gives its user integers in [-2^63, 2^64) exactly and every other number
# as its correctly rounded double".
@pytest.mark.parametrize(
    "text,expected",
    [
        ("0", 0),
        ("-0", -0.0),  # 5.4's one exception: the double -0.0, not the integer 0
        ("-0.0", -0.0),
        ("18446744073709551615", 2**64 - 1),
        ("-9223372036854775808", -(2**63)),
        ("9999999999999999999", 9999999999999999999),  # 19 digits
        ("-999999999999999999", -999999999999999999),  # 18 digits
        ("18446744073709551616", 1.8446744073709552e19),
        ("18446744073709551617", 1.8446744073709552e19),
        ("-9223372036854775809", -9.223372036854776e18),
        ("1000000000000000000000000000000", 1e30),
        ("1e30", 1e30),
        ("300.0", 300.0),
        ("3e2", 300.0),
        # Ties to even: 2^64 + 2^11 is halfway between 2^64 and 2^64 + 2^12.
        (str(2**64 + 2**11), float(2**64)),
        (str(2**64 + 2**11 + 1), float(2**64 + 2**12)),
        (str(2**64 + 3 * 2**11), float(2**64 + 2**13)),
        (str(2**1024 - 2**971), 1.7976931348623157e308),  # DBL_MAX exactly
        (str(2**1024 - 2**970 - 1), 1.7976931348623157e308),  # just below the tie
        ("-" + str(2**1024 - 2**970 - 1), -1.7976931348623157e308),
        ("1.7976931348623158e308", 1.7976931348623157e308),
        ("9007199254740993.0", 9007199254740992.0),
        ("2.4703282292062328e-324", 5e-324),
        ("2.4703282292062327e-324", 0.0),
        ("1e-400", 0.0),
    ],
)
def test_numbers_are_integers_in_64_bit_range_else_doubles(text, expected):
    meta = b'{"vocab_size": 300, "n": ' + text.encode() + b', "in": [' + text.encode() + b"]}"
    got = tokpack.Dataset.from_buffer(meta_file(meta)).metadata
    assert not differences(got, {"vocab_size": 300, "n": expected, "in": [expected]})


@pytest.mark.parametrize(
    "text", [str(2**1024 - 2**970), "-" + str(2**1024 - 2**970), str(2**1024), "1e309"])
def test_numbers_that_round_to_infinity_are_refused(text):
    meta = b'{"vocab_size": 300, "n": ' + text.encode() + b"}"
    err = assert_open_fails(meta_file(meta), "bad_metadata")
    assert "not finite" in str(err)


@pytest.mark.parametrize(
    "meta",
    [
        b'{"vocab_size": 18446744073709551617}',  # a double, and out of range anyway
        b'{"vocab_size": 18446744073709551616}',
        b'{"vocab_size": 300, "bos_id": 18446744073709551616}',
        b'{"vocab_size": 300, "eos_id": -9223372036854775809}',
    ],
)
def test_known_keys_past_64_bits_are_refused(meta):
    assert_open_fails(meta_file(meta), "bad_metadata")


@pytest.mark.parametrize("vocab_size,dtype", [(257, 1), (65537, 2)])
def test_tokens_dtype_too_narrow_for_vocab(vocab_size, dtype):
    data = write(dataset_sections(DOCS, vocab_size, MASKS, token_dtype_code=dtype))
    assert_open_fails(data, "vocab_dtype")


@pytest.mark.parametrize("vocab_size,dtype", [(256, 1), (300, 3), (65536, 2), (2**32, 3)])
def test_tokens_dtype_wide_enough(vocab_size, dtype):
    data = write(dataset_sections(DOCS, vocab_size, MASKS, token_dtype_code=dtype))
    tokpack.Dataset.from_buffer(data).verify()


def test_bad_metadata_is_reported_before_vocab_dtype():
    meta = b'{"vocab_size": 70000, "writer": 1}'
    assert_open_fails(meta_file(meta, vocab_size=300), "bad_metadata")


# -- 6.1 order across steps -----------------------------------------------------------


def test_layout_errors_come_before_kind_errors():
    s = sections()
    s[0].dtype = 9
    s[1].offset = 4096 * 5
    assert_open_fails(write(s), "section_gap")


def test_open_reads_nothing_of_the_arrays_beyond_the_named_reads():
    # A decreasing offset in the middle, a token out of range and a wrong section
    # CRC: all invisible to open (the spec makes them verify's job).
    s = sections()
    s[0].body = np.asarray([1, 2, 3, 4, 5, 299], dtype="<u2").tobytes()
    s[0].crc32 = 0
    s[1].body = np.asarray([0, 4, 3, 6], dtype="<u8").tobytes()
    tokpack.Dataset.from_buffer(write(s))


# -- 6.2 ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_section_crc_mismatch(index):
    s = sections()
    s[index].crc32 = zlib.crc32(s[index].body) ^ 1
    err = assert_verify_fails(write(s), "section_checksum")
    assert err.section == ["tokens", "doc_offsets", "loss_mask", "metadata"][index]


def test_unknown_section_crc_is_checked_too():
    s = sections()
    s.append(Section(0x80000000, 0, b"abc", 3, flags=0, crc32=0))
    assert_verify_fails(write(s), "section_checksum")


@pytest.mark.parametrize("where", ["after_table", "between_sections"])
def test_padding_not_zero(where):
    data = bytearray(valid())
    at = 4095 if where == "after_table" else 4096 + 12 + 100
    data[at] = 0x20
    err = assert_verify_fails(bytes(data), "padding_not_zero")
    assert err.offset == at


def test_decreasing_offsets():
    err = assert_verify_fails(offsets_file([0, 4, 3, 6]), "bad_doc_offsets")
    assert "offsets[2]" in str(err)


def test_token_id_equal_to_vocab_size():
    s = dataset_sections([[1, 2], [300 - 1, 300]], 300)
    err = assert_verify_fails(write(s), "token_out_of_range")
    assert "token 3" in str(err)


def test_verify_checks_crc_before_tokens():
    s = dataset_sections([[1, 2], [300]], 300)
    s[0].crc32 = 0
    assert_verify_fails(write(s), "section_checksum")


@pytest.mark.parametrize("doc", [0, 1])
def test_document_checks_its_own_offsets(doc):
    # offsets [0, 10, 6]: doc 0 ends past the tokens, doc 1 runs backwards.
    ds = tokpack.Dataset.from_buffer(offsets_file([0, 10, 6]))
    with pytest.raises(tokpack.TokpackError) as info:
        ds.document(doc)
    assert info.value.code == "bad_doc_offsets"
    with pytest.raises(tokpack.TokpackError) as info:
        ds.loss_mask(doc)
    assert info.value.code == "bad_doc_offsets"


def test_error_message_names_section_and_offset():
    s = sections()
    s[1].crc32 = 0
    err = assert_verify_fails(write(s), "section_checksum")
    assert "doc_offsets" in str(err) and "8192" in str(err)
    assert err.offset == 8192


# -- the shared catalogue (also run against the Rust CLI) ------------------------------


@pytest.mark.parametrize("name,data,code,stage",
                         [pytest.param(*c, id=c[0]) for c in catalog.invalid_files()])
def test_catalogue_invalid_file(name, data, code, stage):
    if stage == "open":
        assert_open_fails(data, code)
    else:
        assert_verify_fails(data, code)


@pytest.mark.parametrize("name,data", [pytest.param(*c, id=c[0]) for c in catalog.valid_files()])
def test_catalogue_valid_file(name, data):
    tokpack.Dataset.from_buffer(data).verify()
