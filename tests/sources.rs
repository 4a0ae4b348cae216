//! Document sources (spec 5.5, 12.5, 12.6, 15): the writer's source API, filtered views
//! against a reference built from the documents themselves, mixture plans, and sources
//! across the shards of a manifest.

mod common;

use std::collections::HashMap;

use common::plans::{contiguous_row, Flat, RefRow};
use common::{open_bytes, tempdir, write_sourced, Doc};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tokpack::{
    make_mixture, make_plan_for_sources, Corpus, Dataset, Filtered, LongDocs, Manifest,
    MixtureOptions, Plan, PlanOptions, RowBuffers, RowOptions, Rows, Strategy, Tail, Writer,
    WriterOptions,
};

const NAMES: [&str; 4] = ["web", "code", "books", "chat"];

fn options(vocab: u64) -> WriterOptions {
    let mut o = WriterOptions::new(vocab);
    o.sync = false;
    o
}

/// Documents with a source id each, from up to four sources.
fn sourced_docs() -> impl proptest::strategy::Strategy<Value = (Vec<Doc>, Vec<u16>)> {
    let doc = prop::collection::vec(0u32..500, 0..40).prop_flat_map(|toks| {
        let n = toks.len();
        (
            Just(toks),
            prop::option::of(prop::collection::vec(any::<bool>(), n)),
            0u16..4,
        )
    });
    prop::collection::vec(doc, 0..30).prop_map(|v| {
        let ids = v.iter().map(|d| d.2).collect();
        (v.into_iter().map(|(t, m, _)| (t, m)).collect(), ids)
    })
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

/// The filtered stream of spec 12.5, straight from the documents.
fn filtered_flat(docs: &[Doc], ids: &[u16], keep: &[bool]) -> Flat {
    let mut f = Flat {
        tokens: Vec::new(),
        mask: Vec::new(),
        offsets: vec![0],
        pad: 0,
    };
    for ((t, m), &id) in docs.iter().zip(ids) {
        if keep[usize::from(id)] {
            f.tokens.extend(t);
            match m {
                Some(m) => f.mask.extend(m),
                None => f.mask.extend(std::iter::repeat_n(true, t.len())),
            }
            f.offsets.push(f.tokens.len() as u64);
        }
    }
    f
}

/// Which document (index into `offsets`) holds stream position `p`.
fn doc_of(offsets: &[u64], p: u64) -> usize {
    offsets.partition_point(|&o| o <= p) - 1
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A filtered contiguous view is spec 12.1 over the selected documents only: every row
    /// equals the reference row of the filtered stream, so no token of another source ever
    /// appears.
    #[test]
    fn filtered_contiguous_rows_hold_only_selected_documents(
        (docs, ids) in sourced_docs(),
        keep in prop::collection::vec(any::<bool>(), 4),
        l in 1u64..40,
        tail in prop_oneof![Just(Tail::Drop), Just(Tail::Pad)],
        mask_boundaries in any::<bool>(),
    ) {
        let bytes = write_sourced(&docs, &NAMES, &ids, options(500));
        let ds = open_bytes(&bytes).expect("open");
        let chosen: Vec<&str> = NAMES.iter().zip(&keep).filter(|(_, &k)| k).map(|(n, _)| *n).collect();
        prop_assume!(!chosen.is_empty());
        let filtered = Filtered::new(&ds, &chosen).expect("filter");
        let flat = filtered_flat(&docs, &ids, &keep);
        prop_assert_eq!(filtered.num_tokens(), flat.tokens.len() as u64);
        prop_assert_eq!(filtered.all_offsets().expect("offsets").to_vec(), flat.offsets.clone());
        let opts = RowOptions { seq_len: l, tail, pad_id: Some(0), mask_document_boundaries: mask_boundaries };
        let rows = Rows::contiguous(&filtered, &opts).expect("rows");
        let mut buf = RowBuffers::with_seq_len(l as usize);
        for i in 0..rows.num_rows() {
            rows.row_into(i, &mut buf).expect("row");
            prop_assert_eq!(got(&buf), contiguous_row(&flat, l as usize, i as usize, mask_boundaries), "row {}", i);
        }
        // The zero-copy slice agrees too.
        let mut scratch = Vec::new();
        for i in 0..rows.num_rows() {
            let t = rows.contiguous_tokens(i, &mut scratch).expect("tokens").to_vec_u32();
            let s = (i * l) as usize;
            prop_assert_eq!(&t[..], &flat.tokens[s..(s + l as usize + 1).min(flat.tokens.len())]);
        }
    }

    /// A plan made for some sources places only their documents, every token of them.
    #[test]
    fn source_plans_place_only_selected_documents(
        (docs, ids) in sourced_docs(),
        keep in prop::collection::vec(any::<bool>(), 4),
        l in 1u64..40,
        bfd in any::<bool>(),
    ) {
        let bytes = write_sourced(&docs, &NAMES, &ids, options(500));
        let ds = open_bytes(&bytes).expect("open");
        let chosen: Vec<&str> = NAMES.iter().zip(&keep).filter(|(_, &k)| k).map(|(n, _)| *n).collect();
        prop_assume!(!chosen.is_empty());
        let strategy = if bfd { Strategy::Bfd } else { Strategy::DocAligned };
        let opts = PlanOptions { seq_len: l, strategy, long_docs: LongDocs::Split, tail: Tail::Drop };
        let plan = make_plan_for_sources(&ds, &opts, &chosen).expect("plan");
        prop_assert_eq!(plan.info.sources.clone(), Some(chosen.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
        let offsets = ds.doc_offsets();
        let mut seen = vec![0u32; ds.num_tokens() as usize];
        for pair in plan.segments.chunks(2) {
            let (s, len) = (pair[0], pair[1]);
            let d = doc_of(offsets, s);
            prop_assert!(keep[usize::from(ids[d])], "segment at {} is in document {} of source {}", s, d, ids[d]);
            for p in s..s + len {
                seen[p as usize] += 1;
            }
        }
        for (d, &id) in ids.iter().enumerate() {
            let want = u32::from(keep[usize::from(id)]);
            for p in offsets[d]..offsets[d + 1] {
                prop_assert_eq!(seen[p as usize], want, "token {} of document {}", p, d);
            }
        }
        // Stored and read back, it is an ordinary plan of this dataset.
        let dir = tempdir();
        let path = dir.path().join("p.tpk");
        plan.write(&path, false).expect("write");
        let stored = Plan::open(&path).expect("open plan");
        stored.verify_against(&ds).expect("verify");
        prop_assert_eq!(stored.info(), &plan.info);
    }

    /// Mixture plans: each source's tokens are within half a piece (at most L/2) of its
    /// quota, each piece is drawn k or k+1 times, and the same seed gives the same plan.
    #[test]
    fn mixture_shares_match_weights(
        (docs, ids) in sourced_docs(),
        weights in prop::collection::vec(1u32..100, 4),
        n in 1u64..5000,
        l in 1u64..64,
        seed in any::<u64>(),
        bfd in any::<bool>(),
    ) {
        let bytes = write_sourced(&docs, &NAMES, &ids, options(500));
        let ds = open_bytes(&bytes).expect("open");
        let offsets = ds.doc_offsets().to_vec();
        let nonempty: Vec<bool> = (0..4u16).map(|s| ids.iter().enumerate().any(|(d, &i)| i == s && offsets[d + 1] > offsets[d])).collect();
        let weighted: Vec<(String, f64)> = (0..4).filter(|&s| nonempty[s]).map(|s| (NAMES[s].to_string(), f64::from(weights[s]))).collect();
        prop_assume!(!weighted.is_empty());
        let strategy = if bfd { Strategy::Bfd } else { Strategy::DocAligned };
        let opts = MixtureOptions {
            plan: PlanOptions { seq_len: l, strategy, long_docs: LongDocs::Split, tail: Tail::Drop },
            tokens: n,
            weights: weighted.clone(),
            seed,
        };
        let (plan, report) = make_mixture(&ds, &opts).expect("mixture");
        let (again, _) = make_mixture(&ds, &opts).expect("mixture again");
        prop_assert_eq!(&plan, &again);
        let total: f64 = weighted.iter().map(|w| w.1).sum();
        // Tokens per source, from the segments themselves.
        let mut per_source: HashMap<u16, u64> = HashMap::new();
        let mut per_piece: HashMap<(u64, u64), u64> = HashMap::new();
        for pair in plan.segments.chunks(2) {
            let d = doc_of(&offsets, pair[0]);
            *per_source.entry(ids[d]).or_default() += pair[1];
            *per_piece.entry((pair[0], pair[1])).or_default() += 1;
        }
        for (r, (name, w)) in report.iter().zip(&weighted) {
            prop_assert_eq!(&r.name, name);
            let id = NAMES.iter().position(|x| x == name).expect("name") as u16;
            let got = per_source.get(&id).copied().unwrap_or(0);
            prop_assert_eq!(got, r.tokens);
            let quota = (w / total * n as f64).round();
            prop_assert!((got as f64 - quota).abs() <= l as f64 / 2.0, "{}: {} tokens for a quota of {}", name, got, quota);
            // Every piece of the source is drawn full_passes or full_passes + 1 times.
            for (d, &i) in ids.iter().enumerate() {
                if i != id {
                    continue;
                }
                let mut at = offsets[d];
                while at < offsets[d + 1] {
                    let len = (offsets[d + 1] - at).min(l);
                    let times = per_piece.get(&(at, len)).copied().unwrap_or(0);
                    prop_assert!(times == r.full_passes || times == r.full_passes + 1, "piece at {} drawn {} times, k = {}", at, times, r.full_passes);
                    at += len;
                }
            }
        }
        // No source without a weight is drawn.
        for (&id, _) in per_source.iter() {
            prop_assert!(weighted.iter().any(|(nm, _)| nm == NAMES[usize::from(id)]));
        }
        let dir = tempdir();
        let path = dir.path().join("m.tpk");
        plan.write(&path, false).expect("write");
        Plan::open(&path).expect("open").verify_against(&ds).expect("verify");
    }
}

/// The measure: at N = 1e9 tokens every realised share is within 0.1 percentage
/// point of its weight (plan only; the dataset is small and repeated).
#[test]
fn mixture_at_a_billion_tokens_is_within_a_tenth_of_a_point() {
    let mut docs = Vec::new();
    let mut ids = Vec::new();
    let mut rng = common::Rng(7);
    for d in 0..3000u64 {
        let len = 16 + rng.below(3000) as usize;
        docs.push(((0..len as u32).map(|t| t % 500).collect(), None));
        ids.push((d % 3) as u16);
    }
    let bytes = write_sourced(&docs, &NAMES[..3], &ids, options(500));
    let ds = open_bytes(&bytes).expect("open");
    let weights = vec![
        ("web".to_string(), 0.6),
        ("code".to_string(), 0.3),
        ("books".to_string(), 0.1),
    ];
    let opts = MixtureOptions {
        plan: PlanOptions::new(2048, Strategy::Bfd),
        tokens: 1_000_000_000,
        weights: weights.clone(),
        seed: 1,
    };
    let (plan, report) = make_mixture(&ds, &opts).expect("mixture");
    let total = plan.info.tokens as f64;
    for (r, (_, w)) in report.iter().zip(&weights) {
        let share = r.tokens as f64 / total;
        assert!(
            (share - w).abs() < 0.001,
            "{}: share {share} for weight {w}",
            r.name
        );
        assert!(r.epochs() > 1.0, "{} is repeated", r.name);
    }
    assert!(plan.info.fill() > 0.999, "fill {}", plan.info.fill());
}

#[test]
fn mixture_refuses_what_it_cannot_draw() {
    let docs: Vec<Doc> = vec![(vec![1, 2, 3], None), (vec![], None), (vec![4], None)];
    let bytes = write_sourced(&docs, &["web", "code", "chat"], &[0, 1, 0], options(500));
    let ds = open_bytes(&bytes).expect("open");
    let mix = |weights: Vec<(&str, f64)>, strategy| {
        make_mixture(
            &ds,
            &MixtureOptions {
                plan: PlanOptions::new(4, strategy),
                tokens: 100,
                weights: weights
                    .into_iter()
                    .map(|(n, w)| (n.to_string(), w))
                    .collect(),
                seed: 0,
            },
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    assert!(mix(vec![("code", 1.0)], Strategy::Bfd).contains("no tokens"));
    assert!(mix(vec![("chat", 1.0)], Strategy::Bfd).contains("no tokens"));
    assert!(mix(vec![("nope", 1.0)], Strategy::Bfd).contains("no source \"nope\""));
    assert!(mix(vec![("web", 0.0)], Strategy::Bfd).contains("above 0"));
    assert!(mix(vec![("web", f64::NAN)], Strategy::Bfd).contains("above 0"));
    assert!(mix(vec![("web", 1.0), ("web", 2.0)], Strategy::Bfd).contains("twice"));
    assert!(mix(vec![], Strategy::Bfd).contains("at least one"));
    assert!(mix(vec![("web", 1.0)], Strategy::Contiguous).contains("not contiguous"));

    // A dataset without source ids cannot be filtered or mixed.
    let plain = common::write_with(&docs, options(500));
    let ds = open_bytes(&plain).expect("open");
    assert!(Filtered::new(&ds, &["web"])
        .unwrap_err()
        .to_string()
        .contains("no source ids"));
    assert!(
        make_plan_for_sources(&ds, &PlanOptions::new(4, Strategy::Bfd), &["web"])
            .unwrap_err()
            .to_string()
            .contains("no source ids")
    );
}

#[test]
fn writer_keeps_sources_consistent() {
    let dir = tempdir();
    let path = dir.path().join("w.tpk");
    let mut w = Writer::create(&path, options(100)).expect("create");
    let web = w.source_id("web").expect("web");
    assert_eq!(w.source_id("web").expect("again"), web);
    w.push_sourced_document(web, &[1, 2], None).expect("push");
    // A document without a source after sourced ones is refused; the writer stays usable.
    let e = w.push_document(&[3], None).unwrap_err().to_string();
    assert!(e.contains("document 1 has no source"), "{e}");
    assert!(w.push_sourced_document(7, &[3], None).is_err());
    assert!(w.source_id("").is_err());
    assert!(w.source_id(&"x".repeat(257)).is_err());
    let code = w.source_id("code").expect("code");
    w.push_sourced_document(code, &[3], None).expect("push");
    let s = w.finish().expect("finish");
    assert_eq!(s.sources, Some(vec!["web".to_string(), "code".to_string()]));
    let ds = Dataset::open(&path).expect("open");
    assert_eq!(ds.version(), (1, 3));
    assert_eq!(ds.document_source_name(1).expect("source"), Some("code"));
    ds.verify().expect("verify");

    // Unsourced first, then a sourced document: refused too.
    let mut w = Writer::create(dir.path().join("x.tpk"), options(100)).expect("create");
    w.push_document(&[1], None).expect("push");
    let id = w.source_id("web").expect("web");
    let e = w
        .push_sourced_document(id, &[2], None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("has a source"), "{e}");
    // Names declared but never used by documents without sources: refused at finish.
    assert!(w
        .finish()
        .unwrap_err()
        .to_string()
        .contains("no source ids"));

    // A file without sources stays version 1.0 and has no DOC_SOURCES.
    let mut w = Writer::create(dir.path().join("y.tpk"), options(100)).expect("create");
    w.push_document(&[1], None).expect("push");
    w.finish().expect("finish");
    let ds = Dataset::open(dir.path().join("y.tpk")).expect("open");
    assert_eq!(ds.version(), (1, 0));
    assert_eq!(ds.document_source(0).expect("source"), None);
}

/// Shards built separately share a source by name; a mixture draws across them.
#[test]
fn manifest_sources_join_by_name() {
    let dir = tempdir();
    let a = dir.path().join("a.tpk");
    let b = dir.path().join("b.tpk");
    let c = dir.path().join("c.tpk");
    let docs_a: Vec<Doc> = (0..6).map(|i| (vec![i; 5 + i as usize], None)).collect();
    std::fs::write(
        &a,
        write_sourced(&docs_a, &["web", "code"], &[0, 1, 0, 1, 0, 0], options(100)),
    )
    .expect("a");
    let docs_b: Vec<Doc> = (0..4)
        .map(|i| (vec![i + 50; 3 + i as usize], None))
        .collect();
    std::fs::write(
        &b,
        write_sourced(&docs_b, &["chat", "web"], &[0, 1, 0, 1], options(100)),
    )
    .expect("b");
    std::fs::write(&c, common::write_with(&docs_b, options(100))).expect("c");
    let m = dir.path().join("ab.manifest.json");
    Manifest::join(&[a.clone(), b.clone()], &m, [9; 16]).expect("join");
    let man = Manifest::open(&m).expect("open");
    let s = man.sources().expect("sources").expect("some");
    assert_eq!(s.names, vec!["web", "code", "chat"]);
    assert_eq!(s.ids, vec![0, 1, 0, 1, 0, 0, 2, 0, 2, 0]);
    let counts = tokpack::source_counts(&man).expect("counts").expect("some");
    assert_eq!(
        counts
            .iter()
            .map(|c| (c.name.as_str(), c.documents))
            .collect::<Vec<_>>(),
        vec![("web", 6), ("code", 2), ("chat", 2)]
    );
    // The filtered stream of "web" crosses the shard boundary.
    let web = Filtered::new(&man, &["web"]).expect("filter");
    let mut want = Vec::new();
    for (d, &id) in s.ids.iter().enumerate() {
        if id == 0 {
            let r = if d < 6 {
                docs_a[d].0.clone()
            } else {
                docs_b[d - 6].0.clone()
            };
            want.extend(r);
        }
    }
    let mut scratch = Vec::new();
    let got = web
        .tokens_in(0..web.num_tokens(), &mut scratch)
        .expect("tokens")
        .to_vec_u32();
    assert_eq!(got, want);
    let (plan, report) = make_mixture(
        &man,
        &MixtureOptions {
            plan: PlanOptions::new(8, Strategy::Bfd),
            tokens: 500,
            weights: vec![("chat".into(), 1.0), ("code".into(), 1.0)],
            seed: 3,
        },
    )
    .expect("mixture");
    assert_eq!(report.len(), 2);
    assert!(report.iter().all(|r| (r.tokens as i64 - 250).abs() <= 4));
    let path = dir.path().join("mix.tpk");
    plan.write(&path, false).expect("write");
    Plan::open(&path)
        .expect("plan")
        .verify_against(&man)
        .expect("verify");

    // A shard without source ids among sourced ones is named.
    let m2 = dir.path().join("ac.manifest.json");
    Manifest::join(&[a, c], &m2, [8; 16]).expect("join");
    let e = Manifest::open(&m2)
        .expect("open")
        .sources()
        .unwrap_err()
        .to_string();
    assert!(e.contains("shard 1") && e.contains("c.tpk"), "{e}");
}
