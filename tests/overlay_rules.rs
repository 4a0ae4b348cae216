//! One named test per rule of spec 13 (overlay files), each expecting one error code from
//! one file of the catalogue (the same files as `spec/vectors/overlays_invalid`).

mod common;

use common::overlays::invalid_overlay_cases;
use common::valid_cases;
use tokpack::{AlignedBytes, Dataset, ErrorCode, Overlay, RowOptions, Rows};

fn expect(name: &str, code: ErrorCode) {
    let case = invalid_overlay_cases()
        .into_iter()
        .find(|c| c.name == name)
        .expect("case in the catalogue");
    assert_eq!(
        case.code,
        code.as_str(),
        "catalogue and test disagree on {name}"
    );
    let ds_bytes = valid_cases()
        .into_iter()
        .find(|c| c.name == "u16_mask")
        .expect("dataset")
        .bytes;
    let ds = Dataset::from_bytes(AlignedBytes::copy_from(&ds_bytes)).expect("dataset");
    let rows = Rows::contiguous(&ds, &RowOptions::new(16)).expect("rows");
    let err = match (
        case.stage,
        Overlay::from_bytes(AlignedBytes::copy_from(&case.bytes)),
    ) {
        ("open", Err(e)) => e,
        (stage, Err(e)) => panic!("{name}: failed at open ({e}), must fail at {stage}"),
        ("open", Ok(_)) => panic!("{name}: opened, must fail at open"),
        ("verify", Ok(o)) => o.verify().expect_err("verify must fail"),
        (_, Ok(o)) => match rows.with_overlays(&[&o]) {
            Err(e) => e,
            Ok(_) => panic!("{name}: bound, must be refused"),
        },
    };
    assert_eq!(err.code(), Some(code), "{name}: {err}");
}

#[test]
fn must_refuse_overlay_holds_tokens() {
    expect("overlay_holds_tokens", ErrorCode::BadOverlay);
}

#[test]
fn must_refuse_overlay_file_key() {
    expect("overlay_file_key", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_overlay_missing_flags() {
    expect("overlay_missing_flags", ErrorCode::MissingSection);
}

#[test]
fn must_refuse_overlay_count_mismatch() {
    expect("overlay_count_mismatch", ErrorCode::CountMismatch);
}

#[test]
fn must_refuse_overlay_offsets_end() {
    expect("overlay_offsets_end", ErrorCode::BadOverlay);
}

#[test]
fn must_refuse_overlay_vocab_dtype() {
    expect("overlay_vocab_dtype", ErrorCode::VocabDtype);
}

#[test]
fn must_refuse_overlay_section_checksum() {
    expect("overlay_section_checksum", ErrorCode::SectionChecksum);
}

#[test]
fn must_refuse_overlay_crosses_row() {
    expect("overlay_crosses_row", ErrorCode::BadOverlay);
}

#[test]
fn must_refuse_overlay_past_last_row() {
    expect("overlay_past_last_row", ErrorCode::BadOverlay);
}

#[test]
fn must_refuse_overlay_overlap() {
    expect("overlay_overlap", ErrorCode::InsertionOverlap);
}

#[test]
fn must_refuse_overlay_token_out_of_range() {
    expect("overlay_token_out_of_range", ErrorCode::BadOverlay);
}

#[test]
fn must_refuse_overlay_bad_flags() {
    expect("overlay_bad_flags", ErrorCode::BadOverlay);
}

#[test]
fn must_refuse_overlay_wrong_dataset() {
    expect("overlay_wrong_dataset", ErrorCode::WrongDataset);
}

#[test]
fn must_refuse_overlay_wrong_view() {
    expect("overlay_wrong_view", ErrorCode::WrongView);
}

#[test]
fn must_refuse_overlay_positions_out_of_order() {
    expect(
        "overlay_positions_out_of_order",
        ErrorCode::InsertionOverlap,
    );
}

#[test]
fn every_overlay_case_has_a_named_test() {
    let named = include_str!("overlay_rules.rs");
    for c in invalid_overlay_cases() {
        assert!(
            named.contains(&format!("fn must_refuse_{}()", c.name)),
            "no named test for {}",
            c.name
        );
    }
}

#[test]
fn an_unverified_overlay_is_checked_before_a_row_uses_it() {
    for name in [
        "overlay_crosses_row",
        "overlay_token_out_of_range",
        "overlay_positions_out_of_order",
    ] {
        let case = invalid_overlay_cases()
            .into_iter()
            .find(|c| c.name == name)
            .expect("case");
        let ds_bytes = valid_cases()
            .into_iter()
            .find(|c| c.name == "u16_mask")
            .expect("dataset")
            .bytes;
        let ds = Dataset::from_bytes(AlignedBytes::copy_from(&ds_bytes)).expect("dataset");
        let overlay = Overlay::from_bytes(AlignedBytes::copy_from(&case.bytes)).expect("opens");
        let rows = Rows::contiguous(&ds, &RowOptions::new(16))
            .expect("rows")
            .with_overlays(&[&overlay])
            .expect("binds");
        let mut buf = tokpack::RowBuffers::default();
        let errors: Vec<_> = (0..rows.num_rows())
            .filter_map(|r| rows.row_into(r, &mut buf).err())
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "{name}: exactly the row holding the bad insertion is refused"
        );
        assert_eq!(errors[0].code(), Some(ErrorCode::BadOverlay), "{name}");
    }
}
