//! One named test per rule of spec 11 (plan files), each expecting one error code from one
//! file of the catalogue (the same files as `spec/vectors/plans_invalid`).

mod common;

use common::plans::invalid_plan_cases;
use common::valid_cases;
use tokpack::{AlignedBytes, Dataset, ErrorCode, Plan, RowOptions, Rows};

fn expect(name: &str, code: ErrorCode) {
    let case = invalid_plan_cases()
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
        .find(|c| c.name == case.dataset)
        .expect("dataset")
        .bytes;
    let ds = Dataset::from_bytes(AlignedBytes::copy_from(&ds_bytes)).expect("dataset");
    let opened = Plan::from_bytes(AlignedBytes::copy_from(&case.bytes));
    let err = match (case.stage, opened) {
        ("open", Err(e)) => e,
        (stage, Err(e)) => panic!("{name}: failed at open ({e}), must fail at {stage}"),
        ("open", Ok(_)) => panic!("{name}: opened, must fail at open"),
        ("verify", Ok(p)) => p.verify().expect_err("verify must fail"),
        ("bind", Ok(p)) => {
            Rows::with_plan(&ds, &p, &RowOptions::new(1)).expect_err("binding must fail")
        }
        (_, Ok(p)) => p.verify_against(&ds).expect_err("verify_against must fail"),
    };
    assert_eq!(err.code(), Some(code), "{name}: {err}");
}

#[test]
fn must_refuse_plan_holds_tokens() {
    expect("plan_holds_tokens", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_holds_doc_sources() {
    expect("plan_holds_doc_sources", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_contiguous_with_sources() {
    expect("plan_contiguous_with_sources", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_unknown_required() {
    expect("plan_unknown_required", ErrorCode::UnknownRequiredSection);
}

#[test]
fn must_refuse_plan_rows_dtype() {
    expect("plan_rows_dtype", ErrorCode::BadDtype);
}

#[test]
fn must_refuse_plan_missing_metadata() {
    expect("plan_missing_metadata", ErrorCode::MissingSection);
}

#[test]
fn must_refuse_plan_file_key() {
    expect("plan_file_key", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_plan_bad_strategy() {
    expect("plan_bad_strategy", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_plan_missing_key() {
    expect("plan_missing_key", ErrorCode::BadMetadata);
}

#[test]
fn must_refuse_plan_padding_sum() {
    expect("plan_padding_sum", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_missing_segments() {
    expect("plan_missing_segments", ErrorCode::MissingSection);
}

#[test]
fn must_refuse_plan_rows_count() {
    expect("plan_rows_count", ErrorCode::CountMismatch);
}

#[test]
fn must_refuse_plan_segments_odd() {
    expect("plan_segments_odd", ErrorCode::CountMismatch);
}

#[test]
fn must_refuse_plan_rows_end() {
    expect("plan_rows_end", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_contiguous_with_rows() {
    expect("plan_contiguous_with_rows", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_contiguous_row_count() {
    expect("plan_contiguous_row_count", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_section_checksum() {
    expect("plan_section_checksum", ErrorCode::SectionChecksum);
}

#[test]
fn must_refuse_plan_rows_decreasing() {
    expect("plan_rows_decreasing", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_segment_past_tokens() {
    expect("plan_segment_past_tokens", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_row_too_long() {
    expect("plan_row_too_long", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_wrong_dataset() {
    expect("plan_wrong_dataset", ErrorCode::WrongDataset);
}

#[test]
fn must_refuse_plan_segment_crosses_document() {
    expect("plan_segment_crosses_document", ErrorCode::BadPlan);
}

#[test]
fn must_refuse_plan_contiguous_figures() {
    expect("plan_contiguous_figures", ErrorCode::BadPlan);
}

#[test]
fn every_plan_case_has_a_named_test() {
    let named = include_str!("plan_rules.rs");
    for c in invalid_plan_cases() {
        assert!(
            named.contains(&format!("fn must_refuse_{}()", c.name)),
            "no named test for {}",
            c.name
        );
    }
}

#[test]
fn an_unverified_plan_row_is_checked_before_it_is_read() {
    // Opens (the damage is only visible to verify), but reading the damaged row is refused.
    for name in [
        "plan_segment_past_tokens",
        "plan_row_too_long",
        "plan_rows_decreasing",
    ] {
        let case = invalid_plan_cases()
            .into_iter()
            .find(|c| c.name == name)
            .expect("case");
        let ds_bytes = valid_cases()
            .into_iter()
            .find(|c| c.name == case.dataset)
            .expect("dataset")
            .bytes;
        let ds = Dataset::from_bytes(AlignedBytes::copy_from(&ds_bytes)).expect("dataset");
        let plan = Plan::from_bytes(AlignedBytes::copy_from(&case.bytes)).expect("opens");
        let rows = Rows::with_plan(&ds, &plan, &RowOptions::new(1)).expect("binds");
        let mut buf = tokpack::RowBuffers::default();
        let errors: Vec<_> = (0..rows.num_rows())
            .filter_map(|r| rows.row_into(r, &mut buf).err())
            .collect();
        assert!(!errors.is_empty(), "{name}: no row refused");
        assert!(
            errors.iter().all(|e| e.code() == Some(ErrorCode::BadPlan)),
            "{name}: {errors:?}"
        );
    }
}
