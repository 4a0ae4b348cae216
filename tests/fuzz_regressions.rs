//! Inputs the fuzzers found crashing, kept so they never crash again. Each runs what the fuzz
//! target that found it runs.

mod common;

use std::path::Path;

use tokpack::{AlignedBytes, Dataset, RowBuffers, RowOptions, Rows};

fn read_everything(bytes: &[u8]) {
    let Ok(ds) = Dataset::from_bytes(AlignedBytes::copy_from(bytes)) else {
        return;
    };
    let _ = ds.verify();
    let _ = ds.tokens().map(|t| t.to_vec_u32());
    let mut scratch = Vec::new();
    let _ = ds
        .tokens_in(0..ds.num_tokens(), &mut scratch)
        .map(|t| t.len());
    for d in 0..ds.num_documents().min(64) {
        let _ = ds.document(d);
        let _ = ds.document_in(d, &mut scratch).map(|t| t.len());
        let _ = ds.document_loss_mask(d);
    }
    for l in [1u64, 3, 16] {
        for mask_document_boundaries in [false, true] {
            let mut o = RowOptions::new(l);
            o.mask_document_boundaries = mask_document_boundaries;
            if let Ok(rows) = Rows::contiguous(&ds, &o) {
                let mut b = RowBuffers::default();
                for r in 0..rows.num_rows().min(16) {
                    let _ = rows.row_into(r, &mut b);
                }
            }
        }
    }
}

#[test]
fn every_recorded_fuzz_crash_reads_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "tpk") {
            read_everything(&std::fs::read(&path).expect("read"));
            n += 1;
        }
    }
    assert!(n >= 1);
}
