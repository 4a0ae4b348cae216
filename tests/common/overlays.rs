//! Insertions applied to rows as spec 13.4 says, written naively from the spec, and the
//! overlay vector catalogue.

use serde_json::{json, Value};
use tokpack::{
    AlignedBytes, CrossRows, DType, Dataset, OverlayBuilder, RandomOptions, RowOptions, Rows,
};

use super::plans::{Flat, RefRow};
use super::{build_raw, RawSection};

/// One insertion: position, tokens, target flag.
pub type Ins = (u64, Vec<u32>, bool);

/// Whether position `j` has a target by structure (spec 13.4), from the row without
/// insertions: in a contiguous row, from the stream; in a plan row, from `cu_seqlens` and the
/// number of non-padding positions.
pub enum Structure<'a> {
    Contiguous {
        flat: &'a Flat,
        row: usize,
        mask_boundaries: bool,
    },
    Plan {
        used: usize,
    },
}

pub fn apply(
    base: &RefRow,
    l: usize,
    row: usize,
    inserts: &[Ins],
    structure: &Structure<'_>,
) -> RefRow {
    let mut r = base.clone();
    let has_target = |j: usize| -> bool {
        if j + 1 >= l {
            return false;
        }
        match structure {
            Structure::Contiguous {
                flat,
                row,
                mask_boundaries,
            } => {
                let q = row * l + j + 1;
                q < flat.tokens.len() && !(*mask_boundaries && flat.offsets.contains(&(q as u64)))
            }
            Structure::Plan { used } => {
                j + 1 < *used && !base.cu_seqlens.contains(&((j + 1) as u32))
            }
        }
    };
    let mut mine: Vec<&Ins> = inserts
        .iter()
        .filter(|(p, _, _)| (*p as usize) / l == row)
        .collect();
    mine.sort_by_key(|i| i.0);
    for (p, t, f) in mine {
        let o = *p as usize % l;
        for (k, &tok) in t.iter().enumerate() {
            r.input_ids[o + k] = tok;
        }
        for j in o.saturating_sub(1)..o + t.len() - 1 {
            if has_target(j) {
                r.loss_mask[j] = u8::from(*f);
                r.labels[j] = if *f {
                    i64::from(r.input_ids[j + 1])
                } else {
                    -100
                };
            }
        }
    }
    r
}

pub struct OverlayCase {
    pub name: &'static str,
    pub dataset: &'static str,
    /// The plan vector of the view, or None for the contiguous view without a plan.
    pub plan: Option<String>,
    pub seq_len: u64,
    pub bytes: Vec<u8>,
    pub expected: Value,
}

fn dataset(name: &str) -> Dataset<AlignedBytes> {
    let bytes = super::valid_cases()
        .into_iter()
        .find(|c| c.name == name)
        .expect("dataset")
        .bytes;
    Dataset::from_bytes(AlignedBytes::copy_from(&bytes)).expect("dataset")
}

fn write_overlay(o: &tokpack::PackedOverlay) -> Vec<u8> {
    let dir = super::tempdir();
    let path = dir.path().join("o.tpk");
    o.write(&path, false).expect("write overlay");
    let mut bytes = std::fs::read(&path).expect("read overlay");
    // Fixed file id for reproducible vectors; reseal the header.
    bytes[16..32].copy_from_slice(b"tokpack-overlay!");
    super::reseal(&mut bytes);
    bytes
}

fn rows_json(rows: &Rows<'_, '_, Dataset<AlignedBytes>>) -> Vec<Value> {
    let mut buf = tokpack::RowBuffers::default();
    (0..rows.num_rows())
        .map(|r| {
            rows.row_into(r, &mut buf).expect("row");
            json!({"input_ids": buf.input_ids, "labels": buf.labels, "position_ids": buf.position_ids, "cu_seqlens": buf.cu_seqlens, "loss_mask": buf.loss_mask})
        })
        .collect()
}

pub fn overlay_cases() -> Vec<OverlayCase> {
    let mut out = Vec::new();
    // Contiguous view of u16_mask at L = 16: explicit (one split across a row boundary, one
    // not a target) and random, with EOS wrapping.
    {
        let ds = dataset("u16_mask");
        let rows = Rows::contiguous(&ds, &RowOptions::new(16)).expect("rows");
        let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
        b.add_explicit(3, &[50_000, 50_001, 50_002], true, CrossRows::Refuse)
            .expect("explicit");
        b.add_explicit(30, &[7, 8, 9, 10, 11], true, CrossRows::Split)
            .expect("explicit");
        b.add_explicit(64, &[42], false, CrossRows::Refuse)
            .expect("explicit");
        let seqs = vec![vec![1, 2, 3], vec![4], vec![5, 6, 7, 8, 9, 10], vec![]];
        let (kept, _) = tokpack::wrap_eos(&seqs, 16, 50_256);
        let mut o = RandomOptions::new((2, rows.num_rows()), 1234);
        o.max_tries = 100;
        b.add_random_indexed(&kept, &o).expect("random");
        let overlay = b.finish();
        let bytes = write_overlay(&overlay);
        let opened = tokpack::Overlay::from_bytes(AlignedBytes::copy_from(&bytes)).expect("opens");
        let with = rows.with_overlays(&[&opened]).expect("bind");
        out.push(OverlayCase {
            name: "u16_mask_contiguous_16",
            dataset: "u16_mask",
            plan: None,
            seq_len: 16,
            expected: json!({
                "dataset": "valid/u16_mask.tpk",
                "plan": null,
                "seq_len": 16,
                "overlay": Value::Object(overlay.info.to_metadata())["overlay"].clone(),
                "random": {"rows": [2, with.num_rows()], "seed": 1234, "max_tries": 100, "wrap_eos": 50_256,
                           "sequences": seqs, "explicit_first": [[3, [50_000, 50_001, 50_002], 1], [30, [7, 8, 9, 10, 11], 1], [64, [42], 0]]},
                "insertions": opened.export_rows().expect("export"),
                "rows": rows_json(&with),
            }),
            bytes,
        });
    }
    // The bfd plan view of u16_mask at L = 16.
    {
        let ds = dataset("u16_mask");
        let plan_bytes =
            std::fs::read(super::vectors_dir().join("plans/u16_mask_bfd_split_16.tpk"))
                .expect("plan vector");
        let plan = tokpack::Plan::from_bytes(AlignedBytes::copy_from(&plan_bytes)).expect("plan");
        let rows = Rows::with_plan(&ds, &plan, &RowOptions::new(16)).expect("rows");
        let mut b = OverlayBuilder::new(rows.view_binding(), DType::U16).expect("builder");
        b.add_explicit(0, &[11, 12], true, CrossRows::Refuse)
            .expect("explicit");
        b.add_explicit(16 + 14, &[13, 14], true, CrossRows::Refuse)
            .expect("explicit");
        let o = RandomOptions::new((0, rows.num_rows()), 99);
        b.add_random(&[vec![21, 22, 23], vec![24]], &o)
            .expect("random");
        let overlay = b.finish();
        let bytes = write_overlay(&overlay);
        let opened = tokpack::Overlay::from_bytes(AlignedBytes::copy_from(&bytes)).expect("opens");
        let with = rows.with_overlays(&[&opened]).expect("bind");
        out.push(OverlayCase {
            name: "u16_mask_bfd_split_16",
            dataset: "u16_mask",
            plan: Some("plans/u16_mask_bfd_split_16.tpk".into()),
            seq_len: 16,
            expected: json!({
                "dataset": "valid/u16_mask.tpk",
                "plan": "plans/u16_mask_bfd_split_16.tpk",
                "seq_len": 16,
                "overlay": Value::Object(overlay.info.to_metadata())["overlay"].clone(),
                "random": {"rows": [0, with.num_rows()], "seed": 99, "max_tries": 1000, "wrap_eos": null,
                           "sequences": [[21, 22, 23], [24]], "explicit_first": [[0, [11, 12], 1], [30, [13, 14], 1]]},
                "insertions": opened.export_rows().expect("export"),
                "rows": rows_json(&with),
            }),
            bytes,
        });
    }
    out
}

pub struct InvalidOverlayCase {
    pub name: &'static str,
    pub code: &'static str,
    /// "open", "verify" or "bind" (with the contiguous view of u16_mask at L = 16).
    pub stage: &'static str,
    pub why: &'static str,
    pub bytes: Vec<u8>,
}

fn u64s(kind: u32, values: &[u64]) -> RawSection {
    use zerocopy::IntoBytes;
    RawSection::new(kind, 4, values.len() as u64, values.as_bytes().to_vec())
}

/// A raw overlay for the contiguous L = 16 view of u16_mask.
fn raw_overlay(
    edit_meta: impl FnOnce(&mut Value),
    positions: &[u64],
    offsets: &[u64],
    tokens: &[u16],
    flags: &[u8],
) -> Vec<u8> {
    let ds = dataset("u16_mask");
    let rows = Rows::contiguous(&ds, &RowOptions::new(16)).expect("rows");
    let info = tokpack::OverlayInfo {
        view: rows.view_binding(),
        insertions: positions.len() as u64,
        tokens: tokens.len() as u64,
    };
    let mut meta = Value::Object(info.to_metadata());
    meta["writer"] = json!("tokpack test vectors");
    edit_meta(&mut meta);
    build_raw(&[
        RawSection::metadata(&serde_json::to_string(&meta).expect("json")),
        u64s(5, positions),
        u64s(8, offsets),
        RawSection::tokens_u16(tokens).with_kind(9),
        RawSection::new(10, 1, flags.len() as u64, flags.to_vec()),
    ])
}

pub fn invalid_overlay_cases() -> Vec<InvalidOverlayCase> {
    let good = || raw_overlay(|_| {}, &[3, 20], &[0, 2, 3], &[5, 6, 7], &[1, 0]);
    let case = |name, code, stage, why, bytes| InvalidOverlayCase {
        name,
        code,
        stage,
        why,
        bytes,
    };
    let mut v = Vec::new();
    v.push(case(
        "overlay_holds_tokens",
        "bad_overlay",
        "open",
        "INS_TOKENS relabelled TOKENS",
        super::edit_entry(good(), 3, |x| x.kind = zerocopy::byteorder::U32::new(1)),
    ));
    v.push(case(
        "overlay_file_key",
        "bad_metadata",
        "open",
        "metadata says file: plan",
        raw_overlay(|m| m["file"] = json!("plan"), &[3], &[0, 1], &[5], &[1]),
    ));
    v.push(case(
        "overlay_missing_flags",
        "missing_section",
        "open",
        "no INS_FLAGS",
        {
            let ds = dataset("u16_mask");
            let rows = Rows::contiguous(&ds, &RowOptions::new(16)).expect("rows");
            let info = tokpack::OverlayInfo {
                view: rows.view_binding(),
                insertions: 1,
                tokens: 1,
            };
            build_raw(&[
                RawSection::metadata(
                    &serde_json::to_string(&Value::Object(info.to_metadata())).expect("json"),
                ),
                u64s(5, &[3]),
                u64s(8, &[0, 1]),
                RawSection::tokens_u16(&[5]).with_kind(9),
            ])
        },
    ));
    v.push(case(
        "overlay_count_mismatch",
        "count_mismatch",
        "open",
        "INS_FLAGS has one entry too many",
        raw_overlay(|_| {}, &[3], &[0, 1], &[5], &[1, 1]),
    ));
    v.push(case(
        "overlay_offsets_end",
        "bad_overlay",
        "open",
        "last payload offset is not the token count",
        raw_overlay(
            |m| m["overlay"]["tokens"] = json!(3),
            &[3, 20],
            &[0, 2, 2],
            &[5, 6, 7],
            &[1, 0],
        ),
    ));
    v.push(case(
        "overlay_vocab_dtype",
        "vocab_dtype",
        "open",
        "u16 payload with vocab_size 70000",
        raw_overlay(
            |m| m["overlay"]["vocab_size"] = json!(70_000),
            &[3],
            &[0, 1],
            &[5],
            &[1],
        ),
    ));
    v.push(case(
        "overlay_section_checksum",
        "section_checksum",
        "verify",
        "an INS_TOKENS byte changed, CRC not updated",
        {
            let mut f = good();
            let e = super::entry(&f, 3);
            f[e.offset.get() as usize] ^= 1;
            f
        },
    ));
    v.push(case(
        "overlay_crosses_row",
        "bad_overlay",
        "verify",
        "an insertion at offset 15 of length 2 crosses the row end",
        raw_overlay(|_| {}, &[15], &[0, 2], &[5, 6], &[1]),
    ));
    v.push(case(
        "overlay_past_last_row",
        "bad_overlay",
        "verify",
        "an insertion past the view's last row",
        raw_overlay(|_| {}, &[16 * 1000], &[0, 1], &[5], &[1]),
    ));
    v.push(case(
        "overlay_overlap",
        "insertion_overlap",
        "verify",
        "insertions at 3 (length 2) and 4 intersect",
        raw_overlay(|_| {}, &[3, 4], &[0, 2, 3], &[5, 6, 7], &[1, 1]),
    ));
    v.push(case(
        "overlay_positions_out_of_order",
        "insertion_overlap",
        "verify",
        "positions [20, 3]: the second starts before the first ends",
        raw_overlay(|_| {}, &[20, 3], &[0, 2, 3], &[5, 6, 7], &[1, 1]),
    ));
    v.push(case(
        "overlay_token_out_of_range",
        "bad_overlay",
        "verify",
        "an inserted token 50257 with vocab_size 50257",
        raw_overlay(|_| {}, &[3], &[0, 1], &[50_257], &[1]),
    ));
    v.push(case(
        "overlay_bad_flags",
        "bad_overlay",
        "verify",
        "flags 0x02",
        raw_overlay(|_| {}, &[3], &[0, 1], &[5], &[2]),
    ));
    v.push(case(
        "overlay_wrong_dataset",
        "wrong_dataset",
        "bind",
        "made for another dataset id",
        raw_overlay(
            |m| m["overlay"]["dataset_id"] = json!("00000000000000000000000000000000"),
            &[3],
            &[0, 1],
            &[5],
            &[1],
        ),
    ));
    v.push(case(
        "overlay_wrong_view",
        "wrong_view",
        "bind",
        "made for rows of 32",
        raw_overlay(
            |m| m["overlay"]["seq_len"] = json!(32),
            &[3],
            &[0, 1],
            &[5],
            &[1],
        ),
    ));
    v
}
