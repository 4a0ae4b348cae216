//! Opens any bytes as a plan file and as an overlay file, then uses each with a fixed valid
//! dataset (rows, verify, verify_against, export): errors are fine, panics are not.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokpack::{AlignedBytes, Dataset, Overlay, Plan, RowBuffers, RowOptions, Rows};

fn dataset() -> &'static Dataset<AlignedBytes> {
    static DS: OnceLock<Dataset<AlignedBytes>> = OnceLock::new();
    DS.get_or_init(|| {
        let bytes = include_bytes!("../../spec/vectors/valid/u16_mask.tpk");
        Dataset::from_bytes(AlignedBytes::copy_from(bytes)).expect("vector opens")
    })
}

fuzz_target!(|data: &[u8]| {
    let ds = dataset();
    if let Ok(plan) = Plan::from_bytes(AlignedBytes::copy_from(data)) {
        let _ = plan.verify();
        let _ = plan.verify_against(ds);
        if let Ok(rows) = Rows::with_plan(ds, &plan, &RowOptions::new(16)) {
            let mut b = RowBuffers::default();
            for r in 0..rows.num_rows().min(32) {
                let _ = rows.row_into(r, &mut b);
            }
        }
    }
    if let Ok(overlay) = Overlay::from_bytes(AlignedBytes::copy_from(data)) {
        let _ = overlay.verify();
        let _ = overlay.export_rows();
        for l in [16u64, overlay.info().view.seq_len.min(64)] {
            if let Ok(rows) = Rows::contiguous(ds, &RowOptions::new(l)) {
                if let Ok(with) = rows.with_overlays(&[&overlay]) {
                    let mut b = RowBuffers::default();
                    for r in 0..with.num_rows().min(32) {
                        let _ = with.row_into(r, &mut b);
                    }
                }
            }
        }
    }
});
