//! Compressed tokens (spec 5.6): a compressed file reads exactly like the raw one through
//! every API (documents, token ranges, rows of every view, plans, stats), converts back to
//! the same bytes, and survives corruption of its blocks.

mod common;

use common::{open_bytes, random_docs, tempdir, write_with, zstd_options, Doc, Rng};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use tokpack::{
    make_plan, rewrite, Compression, Corpus, Dataset, ErrorCode, PlanOptions, RowBuffers,
    RowOptions, Rows, Strategy, WriterOptions,
};

fn docs_strategy() -> impl proptest::strategy::Strategy<Value = Vec<Doc>> {
    let doc = prop::collection::vec(0u32..70_000, 0..60).prop_flat_map(|toks| {
        let n = toks.len();
        (
            Just(toks),
            prop::option::of(prop::collection::vec(any::<bool>(), n)),
        )
    });
    prop::collection::vec(doc, 0..25)
}

fn options(vocab: u64, compression: Option<Compression>) -> WriterOptions {
    let mut o = WriterOptions::new(vocab);
    o.sync = false;
    o.dataset_id = Some([3; 16]);
    o.compression = compression;
    o
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every document, every token range and every row of every view reads the same from the
    /// compressed file as from the raw one, whatever the block size and element type.
    #[test]
    fn compressed_reads_like_raw(
        docs in docs_strategy(),
        vocab in prop_oneof![Just(256u64), Just(70_000), Just(100_352)],
        block in 1u32..40,
        level in 1i32..6,
        l in 1u64..30,
        ranges in prop::collection::vec((any::<u16>(), any::<u16>()), 8),
    ) {
        let docs: Vec<Doc> = docs.into_iter().map(|(t, m)| (t.into_iter().map(|x| x % vocab as u32).collect(), m)).collect();
        let raw_bytes = write_with(&docs, options(vocab, None));
        let z_bytes = write_with(&docs, options(vocab, Some(Compression { level, block_tokens: block })));
        let raw = open_bytes(&raw_bytes).expect("raw");
        let z = open_bytes(&z_bytes).expect("compressed");
        prop_assert!(z.is_compressed());
        prop_assert_eq!(z.version(), (1, 4));
        z.verify().expect("verify");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for d in 0..raw.num_documents() {
            prop_assert_eq!(
                raw.document_in(d, &mut a).expect("raw doc").to_vec_u32(),
                z.document_in(d, &mut b).expect("z doc").to_vec_u32()
            );
            prop_assert_eq!(raw.document_loss_mask(d).expect("m"), z.document_loss_mask(d).expect("m"));
        }
        let n = raw.num_tokens();
        for (x, y) in ranges {
            let (s, e) = if n == 0 { (0, 0) } else { let (s, e) = (u64::from(x) % (n + 1), u64::from(y) % (n + 1)); (s.min(e), s.max(e)) };
            prop_assert_eq!(
                raw.tokens_in(s..e, &mut a).expect("raw").to_vec_u32(),
                z.tokens_in(s..e, &mut b).expect("z").to_vec_u32()
            );
        }
        // Rows: contiguous and a bfd plan (the plan is the same object for both files).
        let plan = make_plan(&raw, &PlanOptions::new(l, Strategy::Bfd)).expect("plan");
        prop_assert_eq!(&plan, &make_plan(&z, &PlanOptions::new(l, Strategy::Bfd)).expect("plan z"));
        let (mut ra, mut rb) = (RowBuffers::with_seq_len(l as usize), RowBuffers::with_seq_len(l as usize));
        let opts = RowOptions::new(l);
        let (va, vb) = (Rows::contiguous(&raw, &opts).expect("rows"), Rows::contiguous(&z, &opts).expect("rows"));
        for i in 0..va.num_rows() {
            va.row_into(i, &mut ra).expect("row");
            vb.row_into(i, &mut rb).expect("row");
            prop_assert_eq!(&ra.input_ids, &rb.input_ids);
            prop_assert_eq!(&ra.labels, &rb.labels);
        }
        // Stats count the same tokens.
        let (ca, cb) = (tokpack::stats::token_counts(&raw).expect("c"), tokpack::stats::token_counts(&z).expect("c"));
        prop_assert_eq!(ca.by_frequency, cb.by_frequency);
    }
}

/// Raw -> compressed -> raw gives the original bytes, and the dataset id is kept.
#[test]
fn rewrite_round_trips_byte_for_byte() {
    let dir = tempdir();
    let docs = random_docs(11, 40, 300, 50_257, true);
    let raw_path = dir.path().join("raw.tpk");
    std::fs::write(&raw_path, write_with(&docs, options(50_257, None))).expect("write");
    let raw = Dataset::open(&raw_path).expect("open");
    let z_path = dir.path().join("z.tpk");
    rewrite(&raw, &z_path, Some(Compression::zstd(5)), false).expect("compress");
    let z = Dataset::open(&z_path).expect("open z");
    assert!(z.is_compressed() && !raw.is_compressed());
    assert_eq!(z.dataset_id(), raw.dataset_id());
    let back_path = dir.path().join("back.tpk");
    rewrite(&z, &back_path, None, false).expect("decompress");
    assert_eq!(
        std::fs::read(&back_path).expect("back"),
        std::fs::read(&raw_path).expect("raw")
    );
}

/// A bit flipped in any block is caught by verify (the section CRC), and, unverified, a
/// read of that block gives bad_block or other tokens, never a panic.
#[test]
fn corrupt_blocks_are_caught() {
    let docs = random_docs(12, 30, 200, 100_352, false);
    let bytes = write_with(&docs, zstd_options(100_352, 64));
    let ds = open_bytes(&bytes).expect("open");
    let layout = ds.block_layout().expect("compressed");
    let at = ds.sections()[0].offset.get() as usize;
    let len = ds.sections()[0].length.get() as usize;
    let mut rng = Rng(5);
    let mut bad_blocks = 0;
    for _ in 0..300 {
        let mut f = bytes.clone();
        let i = at
            + 8
            + 8 * (layout.n_blocks as usize + 1)
            + rng.below((len - 8 - 8 * (layout.n_blocks as usize + 1)) as u64) as usize;
        f[i] ^= 1 << rng.below(8);
        let ds = open_bytes(&f).expect("the table is intact: it opens");
        assert_eq!(
            ds.verify().unwrap_err().code(),
            Some(ErrorCode::SectionChecksum)
        );
        let mut scratch = Vec::new();
        match ds.tokens_in(0..ds.num_tokens(), &mut scratch) {
            Err(e) => {
                assert_eq!(e.code(), Some(ErrorCode::BadBlock), "{e}");
                bad_blocks += 1;
            }
            Ok(t) => assert_eq!(t.len() as u64, ds.num_tokens()),
        }
    }
    // zstd's frame checksum catches nearly every flip in the data.
    assert!(bad_blocks > 250, "{bad_blocks} of 300 flips caught on read");
}

/// Manifests mix raw and compressed shards.
#[test]
fn manifests_read_compressed_shards() {
    let dir = tempdir();
    let a = random_docs(13, 10, 50, 1000, true);
    let b = random_docs(14, 10, 50, 1000, true);
    let (pa, pb) = (dir.path().join("a.tpk"), dir.path().join("b.tpk"));
    std::fs::write(&pa, write_with(&a, options(1000, None))).expect("a");
    std::fs::write(&pb, write_with(&b, zstd_options(1000, 9))).expect("b");
    let m = dir.path().join("m.manifest.json");
    tokpack::Manifest::join(&[pa, pb], &m, [1; 16]).expect("join");
    let man = tokpack::Manifest::open(&m).expect("open");
    let all: Vec<u32> = a.iter().chain(&b).flat_map(|(t, _)| t.clone()).collect();
    let mut scratch = Vec::new();
    assert_eq!(
        man.tokens_in(0..man.num_tokens(), &mut scratch)
            .expect("tokens")
            .to_vec_u32(),
        all
    );
    for d in 0..man.num_documents() {
        let want = if d < 10 {
            &a[d as usize].0
        } else {
            &b[d as usize - 10].0
        };
        assert_eq!(
            &man.document_in(d, &mut scratch).expect("doc").to_vec_u32(),
            want
        );
    }
}
