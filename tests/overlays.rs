//! Insertion overlays: proptest round trips against the naive reference of spec 13.4, and
//! the placement rules of spec 14.

mod common;

use common::overlays::{apply, Ins, Structure};
use common::plans::{contiguous_row, plan_row, segments_of, Flat};
use common::{open_bytes, tempdir, write_with, Doc};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tokpack::{
    make_plan, CrossRows, DType, ErrorCode, Overlay, OverlayBuilder, Plan, PlanOptions,
    RandomOptions, RowBuffers, RowOptions, Rows, Strategy, WriterOptions,
};

fn docs_strategy() -> impl proptest::strategy::Strategy<Value = Vec<Doc>> {
    let doc = prop::collection::vec(0u32..300, 1..40).prop_flat_map(|toks| {
        let n = toks.len();
        (
            Just(toks),
            prop::option::of(prop::collection::vec(any::<bool>(), n)),
        )
    });
    prop::collection::vec(doc, 1..25)
}

fn options() -> WriterOptions {
    let mut o = WriterOptions::new(300);
    o.sync = false;
    o
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rows with an overlay equal the reference; inserted tokens read back at their
    /// positions and every other input token is unchanged.
    #[test]
    fn overlays_overwrite_exactly_their_spans(
        docs in docs_strategy(),
        l in 2u64..24,
        plan_strategy in prop_oneof![Just(None), Just(Some(Strategy::DocAligned)), Just(Some(Strategy::Bfd))],
        explicit in prop::collection::vec((0u64..400, prop::collection::vec(0u32..300, 1..6), any::<bool>()), 0..6),
        seqs in prop::collection::vec(prop::collection::vec(0u32..300, 1..5), 0..12),
        seed in any::<u64>(),
        mask_boundaries in any::<bool>(),
    ) {
        let ds = open_bytes(&write_with(&docs, options())).expect("open");
        let dir = tempdir();
        let plan = plan_strategy.map(|s| {
            let path = dir.path().join("plan.tpk");
            make_plan(&ds, &PlanOptions::new(l, s)).expect("plan").write(&path, false).expect("write");
            Plan::open(&path).expect("open plan")
        });
        let mut ro = RowOptions::new(l);
        ro.mask_document_boundaries = mask_boundaries;
        let rows = match &plan {
            Some(p) => Rows::with_plan(&ds, p, &ro).expect("rows"),
            None => Rows::contiguous(&ds, &ro).expect("rows"),
        };
        prop_assume!(rows.num_rows() > 0);
        let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
        let mut inserted: Vec<Ins> = Vec::new();
        for (p, t, f) in explicit {
            let p = p % (rows.num_rows() * l);
            let before = b.len();
            if b.add_explicit(p, &t, f, CrossRows::Split).is_ok() {
                prop_assert!(b.len() > before);
                // Split pieces: record each row's part.
                let mut at = p;
                let mut rest = &t[..];
                while !rest.is_empty() {
                    let n = ((l - at % l) as usize).min(rest.len());
                    inserted.push((at, rest[..n].to_vec(), f));
                    at += n as u64;
                    rest = &rest[n..];
                }
            }
        }
        let fitting: Vec<Vec<u32>> = seqs.into_iter().filter(|s| s.len() as u64 <= l).collect();
        let mut ropt = RandomOptions::new((0, rows.num_rows()), seed);
        ropt.allow_drop = true;
        ropt.max_tries = 50;
        let report = b.add_random(&fitting, &ropt).expect("random");
        let overlay = b.finish();
        // The placed random sequences are the insertions not given explicitly.
        for (k, &p) in overlay.positions.iter().enumerate() {
            let t = overlay.tokens[overlay.offsets[k] as usize..overlay.offsets[k + 1] as usize].to_vec();
            if !inserted.iter().any(|(q, _, _)| *q == p) {
                inserted.push((p, t, overlay.flags[k] == 1));
            }
        }
        prop_assert_eq!(inserted.len() as u64, overlay.info.insertions);
        prop_assert_eq!(report.placed as usize + report.dropped.len(), fitting.len());

        let path = dir.path().join("overlay.tpk");
        overlay.write(&path, false).expect("write overlay");
        let opened = Overlay::open(&path).expect("open overlay");
        opened.verify().expect("verify overlay");
        let with = match &plan {
            Some(p) => Rows::with_plan(&ds, p, &ro).expect("rows"),
            None => Rows::contiguous(&ds, &ro).expect("rows"),
        }
        .with_overlays(&[&opened])
        .expect("bind");

        let flat = Flat::of(&ds, None);
        let (mut a, mut b) = (RowBuffers::default(), RowBuffers::default());
        for r in 0..rows.num_rows() {
            rows.row_into(r, &mut a).expect("row");
            with.row_into(r, &mut b).expect("row with overlay");
            let base = match &plan {
                None => contiguous_row(&flat, l as usize, r as usize, mask_boundaries),
                Some(p) => plan_row(&flat, l as usize, &segments_of(p.rows(), p.segments(), r as usize)),
            };
            let structure = match &plan {
                None => Structure::Contiguous { flat: &flat, row: r as usize, mask_boundaries },
                Some(p) => Structure::Plan {
                    used: segments_of(p.rows(), p.segments(), r as usize).iter().map(|s| s.1 as usize).sum(),
                },
            };
            let want = apply(&base, l as usize, r as usize, &inserted, &structure);
            prop_assert_eq!(&b.input_ids, &want.input_ids, "row {}", r);
            prop_assert_eq!(&b.labels, &want.labels, "row {}", r);
            prop_assert_eq!(&b.loss_mask, &want.loss_mask, "row {}", r);
            prop_assert_eq!(&b.position_ids, &a.position_ids);
            prop_assert_eq!(&b.cu_seqlens, &a.cu_seqlens);
            // Every input token outside the inserted spans is unchanged.
            for j in 0..l as usize {
                let p = r * l + j as u64;
                let covered = inserted.iter().any(|(q, t, _)| *q <= p && p < q + t.len() as u64);
                if !covered {
                    prop_assert_eq!(a.input_ids[j], b.input_ids[j]);
                }
            }
        }
        for (p, t, _) in &inserted {
            with.row_into(p / l, &mut b).expect("row");
            let o = (p % l) as usize;
            prop_assert_eq!(&b.input_ids[o..o + t.len()], &t[..]);
        }
    }

    /// The same seed places the same sequences at the same positions; another seed, not
    /// (for enough sequences).
    #[test]
    fn placement_is_a_function_of_the_seed(seed in any::<u64>()) {
        let ds = open_bytes(&write_with(&[(vec![1; 5000], None)], options())).expect("open");
        let rows = Rows::contiguous(&ds, &RowOptions::new(64)).expect("rows");
        let seqs: Vec<Vec<u32>> = (0..40).map(|i| vec![7; 1 + i % 9]).collect();
        let place = |s: u64| {
            let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
            b.add_random(&seqs, &RandomOptions::new((0, rows.num_rows()), s)).expect("random");
            b.finish().positions
        };
        prop_assert_eq!(place(seed), place(seed));
        prop_assert_ne!(place(seed), place(seed.wrapping_add(1)));
    }
}

#[test]
fn overlapping_explicit_insertions_are_refused_by_name() {
    let ds = open_bytes(&write_with(&[(vec![1; 5000], None)], options())).expect("open");
    let rows = Rows::contiguous(&ds, &RowOptions::new(4096)).expect("rows");
    let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
    b.add_explicit(1000, &[1, 2, 3], true, CrossRows::Refuse)
        .expect("first");
    let e = b
        .add_explicit(1002, &[4, 5, 6], true, CrossRows::Refuse)
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InsertionOverlap));
    assert!(
        e.to_string().contains(
            "insertion at position 1002 (length 3) overlaps the insertion at 1000 (length 3)"
        ),
        "{e}"
    );
}

#[test]
fn two_overlays_that_intersect_cannot_be_applied_together() {
    let ds = open_bytes(&write_with(&[(vec![1; 200], None)], options())).expect("open");
    let rows = Rows::contiguous(&ds, &RowOptions::new(16)).expect("rows");
    let dir = tempdir();
    let make = |name: &str, p: u64| {
        let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
        b.add_explicit(p, &[9, 9], true, CrossRows::Refuse)
            .expect("explicit");
        let path = dir.path().join(name);
        b.finish().write(&path, false).expect("write");
        Overlay::open(&path).expect("open")
    };
    let (a, b, c) = (make("a.tpk", 10), make("b.tpk", 11), make("c.tpk", 12));
    let base = || Rows::contiguous(&ds, &RowOptions::new(16)).expect("rows");
    assert_eq!(
        base().with_overlays(&[&a, &b]).unwrap_err().code(),
        Some(ErrorCode::InsertionOverlap)
    );
    assert!(
        base().with_overlays(&[&a, &c]).is_ok(),
        "touching spans are fine"
    );
    // Another view of the same dataset is refused.
    let other = Rows::contiguous(&ds, &RowOptions::new(8)).expect("rows");
    assert_eq!(
        other.with_overlays(&[&a]).unwrap_err().code(),
        Some(ErrorCode::WrongView)
    );
}
