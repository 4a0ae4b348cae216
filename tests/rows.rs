//! Training rows and plans: proptest invariants, and the crate's rows against the naive
//! reference of `tests/common/plans.rs` (written from spec section 12).

mod common;

use common::plans::{contiguous_row, plan_row, segments_of, Flat, RefRow};
use common::{open_bytes, tempdir, write_with, Doc};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tokpack::{
    make_plan, ErrorCode, LongDocs, Plan, PlanOptions, RowBuffers, RowOptions, Rows, Strategy,
    Tail, WriterOptions,
};

fn docs_strategy() -> impl proptest::strategy::Strategy<Value = Vec<Doc>> {
    let doc = prop::collection::vec(0u32..500, 0..40).prop_flat_map(|toks| {
        let n = toks.len();
        (
            Just(toks),
            prop::option::of(prop::collection::vec(any::<bool>(), n)),
        )
    });
    prop::collection::vec(doc, 0..30)
}

fn strategy_strategy() -> impl proptest::strategy::Strategy<Value = (Strategy, LongDocs, Tail)> {
    (
        prop_oneof![
            Just(Strategy::Contiguous),
            Just(Strategy::DocAligned),
            Just(Strategy::Bfd)
        ],
        prop_oneof![Just(LongDocs::Split), Just(LongDocs::Truncate)],
        prop_oneof![Just(Tail::Drop), Just(Tail::Pad)],
    )
}

fn got(buf: &RowBuffers) -> RefRow {
    RefRow {
        input_ids: buf.input_ids.clone(),
        labels: buf.labels.clone(),
        position_ids: buf.position_ids.clone(),
        cu_seqlens: buf.cu_seqlens.clone(),
        loss_mask: buf.loss_mask.clone(),
    }
}

fn options(vocab: u64, pad: Option<u32>) -> WriterOptions {
    let mut o = WriterOptions::new(vocab);
    o.sync = false;
    o.metadata.pad_id = pad;
    o
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every token of every document is in exactly one row or counted as truncated; no row
    /// is longer than L; rows agree with the reference; the same input gives the same plan.
    #[test]
    fn plans_cover_every_token_once(docs in docs_strategy(), l in 1u64..50, (strategy, long_docs, tail) in strategy_strategy(), pad in prop::option::of(0u32..500)) {
        let bytes = write_with(&docs, options(500, pad));
        let ds = open_bytes(&bytes).expect("open");
        let opts = PlanOptions { seq_len: l, strategy, long_docs, tail };
        let plan = make_plan(&ds, &opts).expect("plan");
        prop_assert_eq!(&plan, &make_plan(&ds, &opts).expect("plan again"));
        let n = ds.num_tokens();
        let info = &plan.info;
        prop_assert_eq!(info.padding_tokens, info.rows * l - info.tokens);

        let flat = Flat::of(&ds, None);
        let rows = Rows::contiguous(&ds, &RowOptions { seq_len: l, tail, pad_id: None, mask_document_boundaries: false }).expect("rows");
        if strategy == Strategy::Contiguous {
            prop_assert_eq!(info.rows, rows.num_rows());
            prop_assert_eq!(info.tokens + info.truncated_tokens, n);
        } else {
            let mut seen = vec![0u8; n as usize];
            for r in 0..info.rows as usize {
                let segs = segments_of(&plan.rows, &plan.segments, r);
                prop_assert!(!segs.is_empty());
                prop_assert!(segs.iter().map(|s| s.1).sum::<u64>() <= l, "row {} too long", r);
                for (s, len) in segs {
                    prop_assert!(len >= 1);
                    // Inside one document.
                    let d = flat.offsets.partition_point(|&o| o <= s) - 1;
                    prop_assert!(s + len <= flat.offsets[d + 1]);
                    for p in s..s + len {
                        seen[p as usize] += 1;
                    }
                }
            }
            prop_assert!(seen.iter().all(|&c| c <= 1), "a token in two rows");
            let covered = seen.iter().filter(|&&c| c == 1).count() as u64;
            prop_assert_eq!(covered, info.tokens);
            prop_assert_eq!(covered + info.truncated_tokens, n);
            if long_docs == LongDocs::Split {
                prop_assert_eq!(info.truncated_tokens, 0);
            } else {
                // Truncation keeps each document's first L tokens.
                for w in flat.offsets.windows(2) {
                    for p in w[0]..w[1] {
                        prop_assert_eq!(seen[p as usize] == 1, p - w[0] < l);
                    }
                }
            }
        }

        // Through a plan file, the rows equal the reference, position by position.
        let dir = tempdir();
        let path = dir.path().join("plan.tpk");
        plan.write(&path, false).expect("write plan");
        let stored = Plan::open(&path).expect("open plan");
        stored.verify_against(&ds).expect("verify plan");
        let view = Rows::with_plan(&ds, &stored, &RowOptions::new(l)).expect("rows");
        prop_assert_eq!(view.num_rows(), info.rows);
        let mut buf = RowBuffers::default();
        for r in 0..info.rows {
            view.row_into(r, &mut buf).expect("row");
            let want = match strategy {
                Strategy::Contiguous => contiguous_row(&flat, l as usize, r as usize, false),
                _ => plan_row(&flat, l as usize, &segments_of(&plan.rows, &plan.segments, r as usize)),
            };
            prop_assert_eq!(got(&buf), want, "row {}", r);
            prop_assert_eq!(buf.input_ids.len(), l as usize);
            prop_assert_eq!(*buf.cu_seqlens.last().expect("cu"), l as u32);
            for w in buf.cu_seqlens.windows(2) {
                prop_assert!(w[0] < w[1]);
                prop_assert_eq!(buf.position_ids[w[0] as usize], 0);
            }
        }
        prop_assert!(view.row_into(info.rows, &mut buf).is_err());
    }

    /// The contiguous view without a plan, with and without boundary masking.
    #[test]
    fn contiguous_rows_match_the_reference(docs in docs_strategy(), l in 1u64..40, tail in prop_oneof![Just(Tail::Drop), Just(Tail::Pad)], mask_boundaries in any::<bool>()) {
        let bytes = write_with(&docs, options(500, None));
        let ds = open_bytes(&bytes).expect("open");
        let rows = Rows::contiguous(&ds, &RowOptions { seq_len: l, tail, pad_id: Some(499), mask_document_boundaries: mask_boundaries }).expect("rows");
        let flat = Flat::of(&ds, Some(499));
        let mut buf = RowBuffers::with_seq_len(l as usize);
        for r in 0..rows.num_rows() {
            rows.row_into(r, &mut buf).expect("row");
            prop_assert_eq!(got(&buf), contiguous_row(&flat, l as usize, r as usize, mask_boundaries), "row {}", r);
            let slice = rows.contiguous_tokens(r, &mut Vec::new()).expect("slice").to_vec_u32();
            let start = (r * l) as usize;
            let end = (start + l as usize + 1).min(flat.tokens.len());
            prop_assert_eq!(slice, flat.tokens[start..end].to_vec());
        }
    }
}

#[test]
fn a_plan_for_another_dataset_is_refused() {
    let a = write_with(&[(vec![1, 2, 3], None)], options(10, None));
    let b = write_with(&[(vec![1, 2, 3], None)], options(10, None));
    let (a, b) = (open_bytes(&a).expect("a"), open_bytes(&b).expect("b"));
    let dir = tempdir();
    let path = dir.path().join("plan.tpk");
    make_plan(&a, &PlanOptions::new(2, Strategy::Bfd))
        .expect("plan")
        .write(&path, false)
        .expect("write");
    let plan = Plan::open(&path).expect("open");
    assert!(Rows::with_plan(&a, &plan, &RowOptions::new(2)).is_ok());
    let err = Rows::with_plan(&b, &plan, &RowOptions::new(2)).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::WrongDataset));
    let msg = err.to_string();
    assert!(
        msg.contains("the plan was made for dataset") && msg.contains("not for dataset"),
        "{msg}"
    );
}

#[test]
fn a_dataset_is_not_a_plan_and_a_plan_is_not_a_dataset() {
    let bytes = write_with(&[(vec![1, 2, 3], None)], options(10, None));
    let err = Plan::from_bytes(tokpack::AlignedBytes::copy_from(&bytes)).unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadPlan));
    let ds = open_bytes(&bytes).expect("open");
    let dir = tempdir();
    let path = dir.path().join("plan.tpk");
    make_plan(&ds, &PlanOptions::new(2, Strategy::DocAligned))
        .expect("plan")
        .write(&path, false)
        .expect("write");
    assert!(tokpack::Dataset::open(&path).is_err());
}

#[test]
fn bfd_fills_rows_better_than_doc_aligned() {
    // Lengths cycling 1..=15 at L = 16: next fit wastes room that best fit uses.
    let docs: Vec<Doc> = (0..300).map(|i| (vec![1; 1 + i % 15], None)).collect();
    let ds = open_bytes(&write_with(&docs, options(10, None))).expect("open");
    let bfd = make_plan(&ds, &PlanOptions::new(16, Strategy::Bfd))
        .expect("bfd")
        .info;
    let nf = make_plan(&ds, &PlanOptions::new(16, Strategy::DocAligned))
        .expect("nf")
        .info;
    assert_eq!(bfd.tokens, nf.tokens);
    assert!(
        bfd.rows < nf.rows,
        "bfd {} rows, next fit {}",
        bfd.rows,
        nf.rows
    );
    assert!(bfd.fill() > 0.99, "bfd fill {}", bfd.fill());
}
