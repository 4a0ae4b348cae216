//! Truncation at every byte and random byte flips give a typed error at open or a `verify()`
//! failure, never a panic and never a silently different dataset.

mod common;

use common::{base_file, open_bytes, write_with, Rng};
use tokpack::{Dataset, WriterOptions};

/// Opens, then reads everything a user could read, then verifies.
fn read_everything<D: AsRef<[u8]>>(ds: &Dataset<D>) -> tokpack::Result<()> {
    let _ = ds.tokens().map(|t| t.to_vec_u32());
    let mut scratch = Vec::new();
    let _ = ds
        .tokens_in(0..ds.num_tokens(), &mut scratch)
        .map(|t| t.len());
    for i in 0..ds.num_documents() {
        let _ = ds.document(i);
        let _ = ds.document_in(i, &mut scratch).map(|t| t.len());
        let _ = ds.document_loss_mask(i);
    }
    let _ = ds.document(ds.num_documents());
    let _ = ds.metadata().to_bytes();
    ds.verify().map(drop)
}

#[test]
fn truncation_at_every_byte_fails_cleanly() {
    let file = base_file();
    for cut in 0..file.len() {
        let err = open_bytes(&file[..cut]).expect_err("a truncated file must not open");
        assert!(err.code().is_some(), "cut {cut}: {err}");
    }
}

#[test]
fn every_single_bit_flip_of_header_and_table_is_caught() {
    let file = base_file();
    let table_end = 64 + 64 * 4;
    for byte in 0..table_end {
        for bit in 0..8 {
            let mut f = file.clone();
            f[byte] ^= 1 << bit;
            match open_bytes(&f) {
                Err(e) => assert!(e.code().is_some(), "byte {byte} bit {bit}: {e}"),
                Ok(ds) => {
                    // Only the ignored reserved bytes may change without an error, and then
                    // the dataset reads the same.
                    assert!(
                        (56..60).contains(&byte),
                        "byte {byte} bit {bit}: flip not caught"
                    );
                    assert!(read_everything(&ds).is_ok());
                }
            }
        }
    }
}

#[test]
fn random_flips_in_sections_are_caught_by_open_or_verify() {
    let docs = common::random_docs(9, 40, 300, 50_000, true);
    let mut o = WriterOptions::new(50_000);
    o.sync = false;
    let file = write_with(&docs, o);
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let mut f = file.clone();
        let at = 64 * 5 + rng.below((f.len() - 64 * 5) as u64) as usize;
        f[at] ^= 1 << rng.below(8);
        match open_bytes(&f) {
            Err(e) => assert!(e.code().is_some(), "byte {at}: {e}"),
            Ok(ds) => {
                let r = read_everything(&ds);
                assert!(r.is_err(), "flip at byte {at} not caught by verify");
            }
        }
    }
}

#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng(7);
    let base = base_file();
    for round in 0..2000 {
        let mut f = base.clone();
        let flips = 1 + rng.below(20);
        for _ in 0..flips {
            let at = rng.below(f.len() as u64) as usize;
            f[at] = rng.next() as u8;
        }
        if round % 3 == 0 {
            f.truncate(rng.below(f.len() as u64) as usize);
        }
        if let Ok(ds) = open_bytes(&f) {
            let _ = read_everything(&ds);
        }
    }
}
