//! One named test per MUST rule of `spec/FORMAT.md` 6.1 and 6.2, each expecting one
//! specific error code from one file of the catalogue (the same files as `spec/vectors/invalid`).

mod common;

use common::{invalid_cases, open_bytes};
use tokpack::ErrorCode;

fn expect(name: &str, code: ErrorCode) {
    let case = invalid_cases()
        .into_iter()
        .find(|c| c.name == name)
        .expect("case in the catalogue");
    assert_eq!(
        case.code,
        code.as_str(),
        "catalogue and test disagree on {name}"
    );
    let err = match (open_bytes(&case.bytes), case.stage) {
        (Err(e), "open") => e,
        (Ok(ds), "verify") => ds.verify().expect_err("verify must fail"),
        (Ok(_), _) => panic!("{name}: opened, must fail at open"),
        (Err(e), _) => panic!("{name}: failed at open with {e}, must open and fail at verify"),
    };
    assert_eq!(err.code(), Some(code), "{name}: {err}");
    // The message names the rule's code, so users can look it up in the spec.
    assert!(err.to_string().contains(code.as_str()), "{err}");
}

#[test]
fn must_refuse_truncated() {
    expect("truncated", ErrorCode::Truncated);
}

#[test]
fn must_refuse_empty_file() {
    expect("empty_file", ErrorCode::Truncated);
}

#[test]
fn must_refuse_bad_magic() {
    expect("bad_magic", ErrorCode::BadMagic);
}

#[test]
fn must_refuse_major_version_2() {
    expect("major_version_2", ErrorCode::UnsupportedVersion);
}

#[test]
fn must_refuse_unknown_flags() {
    expect("unknown_flags", ErrorCode::UnknownFlags);
}

#[test]
fn must_refuse_header_checksum() {
    expect("header_checksum", ErrorCode::HeaderChecksum);
}

#[test]
fn must_refuse_truncated_last_byte() {
    expect("truncated_last_byte", ErrorCode::FileLength);
}

#[test]
fn must_refuse_appended_page() {
    expect("appended_page", ErrorCode::FileLength);
}

#[test]
fn must_refuse_table_offset() {
    expect("table_offset", ErrorCode::BadSectionTable);
}

#[test]
fn must_refuse_section_count_huge() {
    expect("section_count_huge", ErrorCode::BadSectionTable);
}

#[test]
fn must_refuse_section_count_past_end() {
    expect("section_count_past_end", ErrorCode::BadSectionTable);
}

#[test]
fn must_refuse_table_checksum() {
    expect("table_checksum", ErrorCode::TableChecksum);
}

#[test]
fn must_refuse_section_misaligned() {
    expect("section_misaligned", ErrorCode::SectionMisaligned);
}

#[test]
fn must_refuse_section_overlap() {
    expect("section_overlap", ErrorCode::SectionOverlap);
}

#[test]
fn must_refuse_section_gap() {
    expect("section_gap", ErrorCode::SectionGap);
}

#[test]
fn must_refuse_section_out_of_bounds() {
    expect("section_out_of_bounds", ErrorCode::SectionOutOfBounds);
}

#[test]
fn must_refuse_section_length_overflow() {
    expect("section_length_overflow", ErrorCode::SectionOutOfBounds);
}

#[test]
fn must_refuse_trailing_bytes() {
    expect("trailing_bytes", ErrorCode::TrailingBytes);
}

#[test]
fn must_refuse_unknown_required_section() {
    expect(
        "unknown_required_section",
        ErrorCode::UnknownRequiredSection,
    );
}

#[test]
fn must_refuse_unknown_codec() {
    expect("unknown_codec", ErrorCode::UnknownCodec);
}

#[test]
fn must_refuse_bad_dtype() {
    expect("bad_dtype", ErrorCode::BadDtype);
}

#[test]
fn must_refuse_bad_dtype_unknown_code() {
    expect("bad_dtype_unknown_code", ErrorCode::BadDtype);
}

#[test]
fn must_refuse_duplicate_section() {
    expect("duplicate_section", ErrorCode::DuplicateSection);
}

#[test]
fn must_refuse_missing_metadata() {
    expect("missing_metadata", ErrorCode::MissingSection);
}

#[test]
fn must_refuse_section_length() {
    expect("section_length", ErrorCode::SectionLength);
}

#[test]
fn must_refuse_mask_count_mismatch() {
    expect("mask_count_mismatch", ErrorCode::CountMismatch);
}

#[test]
fn must_refuse_no_offsets() {
    expect("no_offsets", ErrorCode::CountMismatch);
}

#[test]
fn must_refuse_first_offset_not_zero() {
    expect("first_offset_not_zero", ErrorCode::BadDocOffsets);
}

#[test]
fn must_refuse_last_offset_not_n_tokens() {
    expect("last_offset_not_n_tokens", ErrorCode::BadDocOffsets);
}

#[test]
fn must_refuse_mask_padding() {
    expect("mask_padding", ErrorCode::MaskPadding);
}

#[test]
fn must_refuse_metadata_not_json() {
    expect("metadata_not_json", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_not_object() {
    expect("metadata_not_object", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_no_vocab() {
    expect("metadata_no_vocab", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_eos_out_of_vocab() {
    expect("metadata_eos_out_of_vocab", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_bad_utf8() {
    expect("metadata_bad_utf8", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_vocab_dtype() {
    expect("vocab_dtype", ErrorCode::VocabDtype);
}

#[test]
fn must_refuse_section_checksum() {
    expect("section_checksum", ErrorCode::SectionChecksum);
}

#[test]
fn must_refuse_padding_not_zero() {
    expect("padding_not_zero", ErrorCode::PaddingNotZero);
}

#[test]
fn must_refuse_offsets_decreasing() {
    expect("offsets_decreasing", ErrorCode::BadDocOffsets);
}

#[test]
fn must_refuse_token_out_of_range() {
    expect("token_out_of_range", ErrorCode::TokenOutOfRange);
}

#[test]
fn must_refuse_metadata_duplicate_key() {
    expect("metadata_duplicate_key", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_too_deep() {
    expect("metadata_too_deep", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_float_vocab() {
    expect("metadata_float_vocab", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_huge_number() {
    expect("metadata_huge_number", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_metadata_lone_surrogate() {
    expect("metadata_lone_surrogate", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_bad_dtype_before_length() {
    expect("bad_dtype_before_length", ErrorCode::BadDtype);
}

#[test]
fn must_refuse_missing_before_length() {
    expect("missing_before_length", ErrorCode::MissingSection);
}

#[test]
fn must_refuse_count_times_width_overflows() {
    expect("count_times_width_overflows", ErrorCode::SectionLength);
}

#[test]
fn must_refuse_source_id_out_of_range() {
    expect("source_id_out_of_range", ErrorCode::BadSource);
}

#[test]
fn must_refuse_source_count_mismatch() {
    expect("source_count_mismatch", ErrorCode::CountMismatch);
}

#[test]
fn must_refuse_source_ids_without_names() {
    expect("source_ids_without_names", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_names_without_ids() {
    expect("source_names_without_ids", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_names_null_with_ids() {
    expect("source_names_null_with_ids", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_names_duplicate() {
    expect("source_names_duplicate", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_name_empty() {
    expect("source_name_empty", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_names_not_strings() {
    expect("source_names_not_strings", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_names_empty_list() {
    expect("source_names_empty_list", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_source_ids_u32() {
    expect("source_ids_u32", ErrorCode::BadDtype);
}

#[test]
fn must_refuse_zstd_block_tokens_zero() {
    expect("zstd_block_tokens_zero", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_block_tokens_too_large() {
    expect("zstd_block_tokens_too_large", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_head_short() {
    expect("zstd_head_short", ErrorCode::SectionLength);
}

#[test]
fn must_refuse_zstd_offsets_do_not_fit() {
    expect("zstd_offsets_do_not_fit", ErrorCode::SectionLength);
}

#[test]
fn must_refuse_zstd_first_offset_wrong() {
    expect("zstd_first_offset_wrong", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_last_offset_wrong() {
    expect("zstd_last_offset_wrong", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_offsets_decreasing() {
    expect("zstd_offsets_decreasing", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_frame_garbage() {
    expect("zstd_frame_garbage", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_frame_too_long() {
    expect("zstd_frame_too_long", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_frame_too_short() {
    expect("zstd_frame_too_short", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_token_out_of_range() {
    expect("zstd_token_out_of_range", ErrorCode::TokenOutOfRange);
}

#[test]
fn must_refuse_zstd_codec_on_offsets() {
    expect("zstd_codec_on_offsets", ErrorCode::UnknownCodec);
}

#[test]
fn must_refuse_zstd_two_frames() {
    expect("zstd_two_frames", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_skippable_frame() {
    expect("zstd_skippable_frame", ErrorCode::BadBlock);
}

#[test]
fn must_refuse_zstd_window_too_large() {
    expect("zstd_window_too_large", ErrorCode::BadBlock);
}

#[test]
fn every_catalogue_case_has_a_named_test() {
    let named = include_str!("must_rules.rs");
    for c in invalid_cases() {
        assert!(
            named.contains(&format!("fn must_refuse_{}()", c.name)),
            "no named test for {}",
            c.name
        );
    }
}

#[test]
fn document_lookup_checks_its_own_offsets() {
    // Opened but not verified: document(1) spans 7..3 and must be refused, not sliced.
    let case = invalid_cases()
        .into_iter()
        .find(|c| c.name == "offsets_decreasing")
        .expect("case");
    let ds = open_bytes(&case.bytes).expect("opens");
    assert!(ds.document(0).is_ok());
    assert_eq!(
        ds.document(1).unwrap_err().code(),
        Some(ErrorCode::BadDocOffsets)
    );
    assert_eq!(
        ds.typed::<u16>().unwrap().document(1).unwrap_err().code(),
        Some(ErrorCode::BadDocOffsets)
    );
    assert!(ds.document(3).is_err());
}

#[test]
fn errors_name_section_and_byte() {
    let case = invalid_cases()
        .into_iter()
        .find(|c| c.name == "section_misaligned")
        .expect("case");
    let msg = open_bytes(&case.bytes).unwrap_err().to_string();
    assert!(
        msg.contains("DOC_OFFSETS") && msg.contains("at byte 136"),
        "{msg}"
    );
}

#[test]
fn document_source_checks_its_own_id() {
    // Opened but not verified: document 1's id 2 is past the two names; asking for its
    // source is refused, document 0's is given.
    let case = invalid_cases()
        .into_iter()
        .find(|c| c.name == "source_id_out_of_range")
        .expect("case");
    let ds = open_bytes(&case.bytes).expect("opens");
    assert_eq!(ds.document_source_name(0).expect("doc 0"), Some("code"));
    let e = ds.document_source(1).expect_err("doc 1");
    assert_eq!(e.code(), Some(ErrorCode::BadSource));
    assert!(e.to_string().contains("DOC_SOURCES"), "{e}");
}

#[test]
fn compressed_reads_check_their_block() {
    // Opened but not verified: block 1 is garbage; reading tokens of block 0 works, reading
    // into block 1 is refused with bad_block naming it, and zero-copy views are refused.
    let case = invalid_cases()
        .into_iter()
        .find(|c| c.name == "zstd_frame_garbage")
        .expect("case");
    let ds = open_bytes(&case.bytes).expect("opens");
    let mut scratch = Vec::new();
    assert_eq!(
        ds.tokens_in(0..5, &mut scratch)
            .expect("block 0")
            .to_vec_u32(),
        vec![2, 5, 8, 11, 14]
    );
    let e = ds.tokens_in(3..7, &mut scratch).expect_err("block 1");
    assert_eq!(e.code(), Some(ErrorCode::BadBlock));
    assert!(e.to_string().contains("block 1"), "{e}");
    assert!(matches!(ds.tokens(), Err(tokpack::Error::CompressedTokens)));
    assert!(matches!(
        ds.document(0),
        Err(tokpack::Error::CompressedTokens)
    ));
    assert!(ds.typed::<u16>().is_err());
}
