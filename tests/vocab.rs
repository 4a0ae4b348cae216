//! Vocabulary tools: token statistics and remapping onto a compact vocabulary.

mod common;

use common::{open_bytes, write_with, Doc, Rng};
use tokpack::stats::{length_histogram, token_counts, Remap};
use tokpack::{Dataset, WriterOptions};

fn dataset(seed: u64) -> Vec<u8> {
    // Zipf-like: id k appears about 1/(k+1) as often as id 0.
    let mut rng = Rng(seed);
    let docs: Vec<Doc> = (0..200)
        .map(|i| {
            let len = rng.below(60) as usize;
            let ids = (0..len)
                .map(|_| (1000 / (1 + rng.below(1000))) as u32 % 700)
                .collect();
            let mask = (i % 3 == 0).then(|| (0..len).map(|k| k % 2 == 0).collect());
            (ids, mask)
        })
        .collect();
    let mut o = WriterOptions::new(1000);
    o.sync = false;
    write_with(&docs, o)
}

#[test]
fn counts_histogram_and_coverage_add_up() {
    let ds = open_bytes(&dataset(1)).expect("open");
    let counts = token_counts(&ds).expect("counts");
    assert_eq!(counts.total, ds.num_tokens());
    let naive = {
        let mut c = vec![0u64; 1000];
        for t in ds.tokens().expect("raw tokens").to_vec_u32() {
            c[t as usize] += 1;
        }
        c
    };
    for &(id, c) in &counts.by_frequency {
        assert_eq!(naive[id as usize], c);
    }
    assert!(counts
        .by_frequency
        .windows(2)
        .all(|w| w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0)));
    assert_eq!(counts.coverage(counts.by_frequency.len()), 1.0);
    let hist = length_histogram(&ds);
    assert_eq!(hist.iter().map(|b| b.1).sum::<u64>(), ds.num_documents());
    assert_eq!(hist.iter().map(|b| b.2).sum::<u64>(), ds.num_tokens());
}

#[test]
fn remap_keeps_the_top_ids_by_frequency_and_sends_the_rest_to_unk() {
    let bytes = dataset(2);
    let ds = open_bytes(&bytes).expect("open");
    let counts = token_counts(&ds).expect("counts");
    let top = 50;
    let remap = Remap::new(&counts, top, 64).expect("remap");
    let dir = common::tempdir();
    let out = dir.path().join("r.tpk");
    let mut o = WriterOptions::new(64);
    o.sync = false;
    let mut w = tokpack::Writer::create(&out, o).expect("create");
    remap.apply(&ds, &mut w).expect("apply");
    w.finish().expect("finish");
    let re = Dataset::open(&out).expect("open");
    re.verify().expect("verify");
    assert_eq!(re.dtype().name(), "u8");
    assert_eq!(re.num_documents(), ds.num_documents());
    let (old, new) = (
        ds.tokens().expect("raw tokens").to_vec_u32(),
        re.tokens().expect("raw tokens").to_vec_u32(),
    );
    let mut unk = 0u64;
    for (&o, &n) in old.iter().zip(&new) {
        assert!(n <= top as u32, "reserved ids are never produced");
        if n == top as u32 {
            unk += 1;
            assert!(!remap.old_ids.contains(&o));
        } else {
            assert_eq!(remap.old_ids[n as usize], o, "kept ids map back");
        }
    }
    let oov = unk as f64 / old.len() as f64;
    assert!((oov - (1.0 - counts.coverage(top))).abs() < 1e-12);
    for d in 0..ds.num_documents() {
        assert_eq!(
            re.document_loss_mask(d).expect("mask"),
            ds.document_loss_mask(d).expect("mask")
        );
    }
    assert!(Remap::new(&counts, 64, 64).is_err(), "the unk id must fit");
}
