//! proptest round trips: whatever documents and masks go into the writer come back out of the
//! reader, for every token type, and the file verifies.

mod common;

use common::{open_bytes, write_with, Doc};
use proptest::prelude::*;
use tokpack::{TokenSlice, WriterOptions};

fn docs_strategy(vocab: u64, masks: bool) -> impl Strategy<Value = Vec<Doc>> {
    let max_id = (vocab - 1).min(u64::from(u32::MAX)) as u32;
    let doc = prop::collection::vec(0..=max_id, 0..70).prop_flat_map(move |toks| {
        let n = toks.len();
        let mask = if masks {
            prop::option::of(prop::collection::vec(any::<bool>(), n)).boxed()
        } else {
            Just(None).boxed()
        };
        (Just(toks), mask)
    });
    prop::collection::vec(doc, 0..25)
}

fn check(docs: &[Doc], vocab: u64) {
    let mut options = WriterOptions::new(vocab);
    options.sync = false;
    let bytes = write_with(docs, options);
    let ds = open_bytes(&bytes).expect("open");
    ds.verify().expect("verify");
    assert_eq!(ds.num_documents(), docs.len() as u64);
    let n_tokens: usize = docs.iter().map(|(t, _)| t.len()).sum();
    assert_eq!(ds.num_tokens(), n_tokens as u64);
    assert_eq!(ds.has_loss_mask(), docs.iter().any(|(_, m)| m.is_some()));
    let mut all = Vec::new();
    for (i, (toks, mask)) in docs.iter().enumerate() {
        let got = ds.document(i as u64).expect("document");
        assert_eq!(&got.to_vec_u32(), toks);
        let want_mask: Vec<u8> = match mask {
            Some(m) => m.iter().map(|&b| u8::from(b)).collect(),
            None => vec![1; toks.len()],
        };
        assert_eq!(ds.document_loss_mask(i as u64).expect("mask"), want_mask);
        all.extend_from_slice(toks);
    }
    assert_eq!(ds.tokens().expect("raw tokens").to_vec_u32(), all);
    match ds.tokens().expect("raw tokens") {
        TokenSlice::U8(_) => assert!(vocab <= 256),
        TokenSlice::U16(_) => assert!(vocab > 256 && vocab <= 65_536),
        TokenSlice::U32(_) => assert!(vocab > 65_536),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn u8_round_trip(docs in docs_strategy(256, true)) { check(&docs, 256); }

    #[test]
    fn u16_round_trip(docs in docs_strategy(50_257, true)) { check(&docs, 50_257); }

    #[test]
    fn u32_round_trip(docs in docs_strategy(1 << 32, true)) { check(&docs, 1 << 32); }

    #[test]
    fn no_masks_round_trip(docs in docs_strategy(1000, false)) { check(&docs, 1000); }

    #[test]
    fn any_vocab_round_trip(vocab in 1u64..200_000, docs in docs_strategy(1, true)) {
        // docs_strategy(1) gives only id 0, valid for every vocabulary.
        check(&docs, vocab);
    }

    #[test]
    fn mask_ranges_match_bits(docs in docs_strategy(300, true), start in 0usize..400, len in 0usize..200) {
        let mut options = WriterOptions::new(300);
        options.sync = false;
        let bytes = write_with(&docs, options);
        let ds = open_bytes(&bytes).expect("open");
        let bits: Vec<u8> = docs.iter().flat_map(|(t, m)| match m {
            Some(m) => m.iter().map(|&b| u8::from(b)).collect::<Vec<_>>(),
            None => vec![1; t.len()],
        }).collect();
        let mut out = vec![7u8; len];
        let r = ds.loss_mask_into(start as u64, &mut out);
        if start + len <= bits.len() {
            r.expect("in range");
            prop_assert_eq!(&out[..], &bits[start..start + len]);
        } else {
            prop_assert!(r.is_err());
        }
    }
}
