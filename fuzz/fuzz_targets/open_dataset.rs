//! Opens any bytes as a dataset and, when that works, reads everything a user could: every
//! document and mask, rows of the contiguous view with and without boundary masking, and
//! the full verify. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokpack::{AlignedBytes, Dataset, RowBuffers, RowOptions, Rows};

fuzz_target!(|data: &[u8]| {
    let Ok(ds) = Dataset::from_bytes(AlignedBytes::copy_from(data)) else {
        return;
    };
    let _ = ds.verify();
    let _ = ds.tokens().map(|t| t.to_vec_u32());
    let mut scratch = Vec::new();
    let _ = ds.tokens_in(0..ds.num_tokens(), &mut scratch).map(|t| t.len());
    for d in 0..ds.num_documents().min(64) {
        let _ = ds.document(d);
        let _ = ds.document_in(d, &mut scratch).map(|t| t.len());
        let _ = ds.document_loss_mask(d);
    }
    let _ = ds.document(ds.num_documents());
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
});
