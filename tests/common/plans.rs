//! Training rows and plans, from the spec (sections 11 and 12), written naively and apart
//! from `src/` so that tests compare two implementations; and the plan vector catalogue.

use serde_json::{json, Value};
use tokpack::{AlignedBytes, Dataset, LongDocs, PlanOptions, Strategy, Tail};

use super::{build_raw, edit_entry, RawSection};

/// Row arrays as plain vectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefRow {
    pub input_ids: Vec<u32>,
    pub labels: Vec<i64>,
    pub position_ids: Vec<u32>,
    pub cu_seqlens: Vec<u32>,
    pub loss_mask: Vec<u8>,
}

impl RefRow {
    pub fn to_json(&self) -> Value {
        json!({
            "input_ids": self.input_ids,
            "labels": self.labels,
            "position_ids": self.position_ids,
            "cu_seqlens": self.cu_seqlens,
            "loss_mask": self.loss_mask,
        })
    }
}

/// Everything a reference row needs from a dataset, as plain vectors.
pub struct Flat {
    pub tokens: Vec<u32>,
    pub mask: Vec<bool>,
    pub offsets: Vec<u64>,
    pub pad: u32,
}

impl Flat {
    pub fn of<D: AsRef<[u8]>>(ds: &Dataset<D>, pad_id: Option<u32>) -> Flat {
        let tokens = ds.tokens().expect("raw tokens").to_vec_u32();
        let mut bits = vec![0u8; tokens.len()];
        ds.loss_mask_into(0, &mut bits).expect("mask");
        let m = ds.metadata();
        Flat {
            mask: bits.iter().map(|&b| b == 1).collect(),
            tokens,
            offsets: ds.doc_offsets().to_vec(),
            pad: pad_id.or(m.pad_id).or(m.eos_id).unwrap_or(0),
        }
    }
}

/// Position ids and cu_seqlens from a list of run starts (sorted, starting with 0).
fn runs(starts: &[usize], l: usize) -> (Vec<u32>, Vec<u32>) {
    let mut pos = vec![0u32; l];
    let mut cu = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).copied().unwrap_or(l);
        for (j, p) in pos[s..e].iter_mut().enumerate() {
            *p = j as u32;
        }
        cu.push(s as u32);
    }
    cu.push(l as u32);
    (pos, cu)
}

/// Spec 12.1, position by position.
pub fn contiguous_row(f: &Flat, l: usize, i: usize, mask_boundaries: bool) -> RefRow {
    let n = f.tokens.len();
    let mut input_ids = vec![f.pad; l];
    let mut labels = vec![-100i64; l];
    let mut starts = vec![0usize];
    for j in 0..l {
        let p = i * l + j;
        if p < n {
            input_ids[j] = f.tokens[p];
            if j > 0 && f.offsets.contains(&(p as u64)) {
                starts.push(j);
            }
        } else if p == n && j > 0 {
            // The first padding position starts a run.
            starts.push(j);
        }
        let q = p + 1;
        let boundary = mask_boundaries && f.offsets.contains(&(q as u64));
        if q < n && f.mask[q] && !boundary {
            labels[j] = i64::from(f.tokens[q]);
        }
    }
    starts.dedup();
    let (position_ids, cu_seqlens) = runs(&starts, l);
    let loss_mask = labels.iter().map(|&x| u8::from(x != -100)).collect();
    RefRow {
        input_ids,
        labels,
        position_ids,
        cu_seqlens,
        loss_mask,
    }
}

/// Spec 12.2, position by position.
pub fn plan_row(f: &Flat, l: usize, segments: &[(u64, u64)]) -> RefRow {
    let mut input_ids = vec![f.pad; l];
    let mut labels = vec![-100i64; l];
    let mut starts = Vec::new();
    let mut at = 0usize;
    for &(s, len) in segments {
        starts.push(at);
        for t in 0..len as usize {
            let p = s as usize + t;
            input_ids[at + t] = f.tokens[p];
            if t + 1 < len as usize && f.mask[p + 1] {
                labels[at + t] = i64::from(f.tokens[p + 1]);
            }
        }
        at += len as usize;
    }
    if at < l || starts.is_empty() {
        starts.push(at);
    }
    let (position_ids, cu_seqlens) = runs(&starts, l);
    let loss_mask = labels.iter().map(|&x| u8::from(x != -100)).collect();
    RefRow {
        input_ids,
        labels,
        position_ids,
        cu_seqlens,
        loss_mask,
    }
}

/// The segments of row `r` of a plan.
pub fn segments_of(rows: &[u64], segments: &[u64], r: usize) -> Vec<(u64, u64)> {
    (rows[r] as usize..rows[r + 1] as usize)
        .map(|k| (segments[2 * k], segments[2 * k + 1]))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Plan vectors.

pub struct PlanCase {
    pub name: String,
    pub dataset: &'static str,
    pub bytes: Vec<u8>,
    pub expected: Value,
}

pub const PLAN_ID: [u8; 16] = *b"tokpack-planvec!";

fn write_plan(plan: &tokpack::PackedPlan) -> Vec<u8> {
    let dir = super::tempdir();
    let path = dir.path().join("p.tpk");
    plan.write_with_id(&path, PLAN_ID, false)
        .expect("write plan");
    std::fs::read(&path).expect("read plan")
}

fn dataset_bytes(name: &str) -> Vec<u8> {
    super::valid_cases()
        .into_iter()
        .find(|c| c.name == name)
        .expect("dataset case")
        .bytes
}

pub fn plan_cases() -> Vec<PlanCase> {
    let mut out = Vec::new();
    let configs: &[(&'static str, u64, Strategy, LongDocs, Tail)] = &[
        (
            "u16_mask",
            16,
            Strategy::Contiguous,
            LongDocs::Split,
            Tail::Drop,
        ),
        (
            "u16_mask",
            16,
            Strategy::Contiguous,
            LongDocs::Split,
            Tail::Pad,
        ),
        (
            "u16_mask",
            16,
            Strategy::DocAligned,
            LongDocs::Split,
            Tail::Drop,
        ),
        (
            "u16_mask",
            16,
            Strategy::DocAligned,
            LongDocs::Truncate,
            Tail::Drop,
        ),
        ("u16_mask", 16, Strategy::Bfd, LongDocs::Split, Tail::Drop),
        (
            "u16_mask",
            16,
            Strategy::Bfd,
            LongDocs::Truncate,
            Tail::Drop,
        ),
        (
            "zero_length_documents",
            4,
            Strategy::Bfd,
            LongDocs::Split,
            Tail::Drop,
        ),
        (
            "zero_length_documents",
            4,
            Strategy::Contiguous,
            LongDocs::Split,
            Tail::Pad,
        ),
        (
            "u8_no_mask",
            32,
            Strategy::DocAligned,
            LongDocs::Split,
            Tail::Drop,
        ),
        ("u32_mask", 24, Strategy::Bfd, LongDocs::Split, Tail::Drop),
        (
            "no_documents",
            8,
            Strategy::Bfd,
            LongDocs::Split,
            Tail::Drop,
        ),
    ];
    for &(dataset, l, strategy, long_docs, tail) in configs {
        let ds =
            Dataset::from_bytes(AlignedBytes::copy_from(&dataset_bytes(dataset))).expect("dataset");
        let options = PlanOptions {
            seq_len: l,
            strategy,
            long_docs,
            tail,
        };
        let plan = tokpack::make_plan(&ds, &options).expect("plan");
        let flat = Flat::of(&ds, None);
        let rows: Vec<Value> = (0..plan.info.rows as usize)
            .map(|r| match strategy {
                Strategy::Contiguous => contiguous_row(&flat, l as usize, r, false).to_json(),
                _ => plan_row(
                    &flat,
                    l as usize,
                    &segments_of(&plan.rows, &plan.segments, r),
                )
                .to_json(),
            })
            .collect();
        let masked: Option<Vec<Value>> = (strategy == Strategy::Contiguous).then(|| {
            (0..plan.info.rows as usize)
                .map(|r| contiguous_row(&flat, l as usize, r, true).to_json())
                .collect()
        });
        let option = match strategy {
            Strategy::Contiguous => tail.name(),
            _ => long_docs.name(),
        };
        let name = format!("{dataset}_{}_{}_{l}", strategy.name(), option);
        let expected = json!({
            "dataset": format!("valid/{dataset}.tpk"),
            "plan": Value::Object(plan.info.to_metadata())["plan"].clone(),
            "pad_id": flat.pad,
            "rows": rows,
            "rows_mask_document_boundaries": masked,
        });
        out.push(PlanCase {
            name,
            dataset,
            bytes: write_plan(&plan),
            expected,
        });
    }
    out
}

pub struct InvalidPlanCase {
    pub name: &'static str,
    pub dataset: &'static str,
    pub code: &'static str,
    /// "open", "verify", "bind" (using it with the dataset) or "verify_against".
    pub stage: &'static str,
    pub why: &'static str,
    pub bytes: Vec<u8>,
}

/// A plan's metadata text for the base dataset (`u16_mask`) with `edit` applied.
fn plan_meta(edit: impl FnOnce(&mut Value)) -> String {
    let ds =
        Dataset::from_bytes(AlignedBytes::copy_from(&dataset_bytes("u16_mask"))).expect("dataset");
    let plan = tokpack::make_plan(&ds, &PlanOptions::new(16, Strategy::Bfd)).expect("plan");
    let mut m = Value::Object(plan.info.to_metadata());
    m["writer"] = json!("tokpack test vectors");
    edit(&mut m);
    serde_json::to_string(&m).expect("json")
}

fn u64s(kind: u32, values: &[u64]) -> RawSection {
    use zerocopy::IntoBytes;
    RawSection::new(kind, 4, values.len() as u64, values.as_bytes().to_vec())
}

fn base_plan() -> (String, Vec<u64>, Vec<u64>) {
    let ds =
        Dataset::from_bytes(AlignedBytes::copy_from(&dataset_bytes("u16_mask"))).expect("dataset");
    let plan = tokpack::make_plan(&ds, &PlanOptions::new(16, Strategy::Bfd)).expect("plan");
    (plan_meta(|_| {}), plan.rows, plan.segments)
}

fn raw_plan(meta: &str, rows: &[u64], segments: &[u64]) -> Vec<u8> {
    build_raw(&[RawSection::metadata(meta), u64s(6, rows), u64s(7, segments)])
}

/// A contiguous plan's metadata (tail dropped) for the base dataset whose `tokens` figure is
/// `short` below the right one (padding and truncation moved to match), then `edit`ed.
fn contiguous_plan_meta(short: u64, edit: impl FnOnce(&mut Value)) -> String {
    plan_meta(|m| {
        let p = &mut m["plan"];
        p["strategy"] = json!("contiguous");
        p["tail"] = json!("drop");
        let (n, l) = (
            p["dataset_tokens"].as_u64().expect("int"),
            p["seq_len"].as_u64().expect("int"),
        );
        let rows = (n - 1) / l;
        p["rows"] = json!(rows);
        p["tokens"] = json!(rows * l - short);
        p["padding_tokens"] = json!(short);
        p["truncated_tokens"] = json!(n - rows * l + short);
        p["split_documents"] = json!(0);
        edit(p);
    })
}

pub fn invalid_plan_cases() -> Vec<InvalidPlanCase> {
    let (meta, rows, segs) = base_plan();
    let n_rows = rows.len() - 1;
    let case = |name, code, stage, why, bytes| InvalidPlanCase {
        name,
        dataset: "u16_mask",
        code,
        stage,
        why,
        bytes,
    };
    let mut v = Vec::new();
    v.push(case(
        "plan_holds_tokens",
        "bad_plan",
        "open",
        "a TOKENS section in a plan file",
        build_raw(&[
            RawSection::metadata(&meta),
            RawSection::tokens_u16(&[1, 2]),
            u64s(6, &rows),
            u64s(7, &segs),
        ]),
    ));
    v.push(case(
        "plan_unknown_required",
        "unknown_required_section",
        "open",
        "a required private kind",
        {
            let mut s = vec![RawSection::metadata(&meta), u64s(6, &rows), u64s(7, &segs)];
            s.push(RawSection::new(0x8000_0001, 0, 1, vec![0]));
            build_raw(&s)
        },
    ));
    v.push(case(
        "plan_rows_dtype",
        "bad_dtype",
        "open",
        "PLAN_ROWS stored as u32",
        {
            let f = raw_plan(&meta, &rows, &segs);
            edit_entry(f, 1, |e| e.dtype = 3)
        },
    ));
    v.push(case(
        "plan_missing_metadata",
        "missing_section",
        "open",
        "no METADATA",
        build_raw(&[u64s(6, &rows), u64s(7, &segs)]),
    ));
    v.push(case(
        "plan_file_key",
        "bad_metadata",
        "open",
        "metadata says file: dataset",
        raw_plan(&plan_meta(|m| m["file"] = json!("dataset")), &rows, &segs),
    ));
    v.push(case(
        "plan_bad_strategy",
        "bad_metadata",
        "open",
        "strategy \"ffd\"",
        raw_plan(
            &plan_meta(|m| m["plan"]["strategy"] = json!("ffd")),
            &rows,
            &segs,
        ),
    ));
    v.push(case(
        "plan_missing_key",
        "bad_metadata",
        "open",
        "no plan.seq_len",
        raw_plan(
            &plan_meta(|m| {
                m["plan"].as_object_mut().expect("object").remove("seq_len");
            }),
            &rows,
            &segs,
        ),
    ));
    v.push(case(
        "plan_padding_sum",
        "bad_plan",
        "open",
        "padding_tokens one too many",
        raw_plan(
            &plan_meta(|m| {
                m["plan"]["padding_tokens"] =
                    json!(m["plan"]["padding_tokens"].as_u64().expect("int") + 1);
            }),
            &rows,
            &segs,
        ),
    ));
    v.push(case(
        "plan_missing_segments",
        "missing_section",
        "open",
        "bfd plan without PLAN_SEGMENTS",
        build_raw(&[RawSection::metadata(&meta), u64s(6, &rows)]),
    ));
    v.push(case(
        "plan_rows_count",
        "count_mismatch",
        "open",
        "PLAN_ROWS has one entry too few",
        raw_plan(&meta, &rows[..n_rows], &segs),
    ));
    v.push(case(
        "plan_segments_odd",
        "count_mismatch",
        "open",
        "PLAN_SEGMENTS holds an odd number of values",
        raw_plan(&meta, &rows, &segs[..segs.len() - 1]),
    ));
    v.push(case(
        "plan_rows_end",
        "bad_plan",
        "open",
        "last PLAN_ROWS entry is not the segment count",
        {
            let mut r = rows.clone();
            r[n_rows] -= 1;
            raw_plan(&meta, &r, &segs)
        },
    ));
    v.push(case(
        "plan_contiguous_with_rows",
        "bad_plan",
        "open",
        "a contiguous plan with PLAN_ROWS",
        {
            let m = plan_meta(|m| {
                let p = &mut m["plan"];
                p["strategy"] = json!("contiguous");
                p["tail"] = json!("drop");
            });
            raw_plan(&m, &rows, &segs)
        },
    ));
    v.push(case(
        "plan_contiguous_row_count",
        "bad_plan",
        "open",
        "a contiguous plan whose rows do not match dataset_tokens",
        {
            let m = plan_meta(|m| {
                let p = &mut m["plan"];
                p["strategy"] = json!("contiguous");
                p["tail"] = json!("drop");
                let l = p["seq_len"].as_u64().expect("int");
                p["rows"] = json!(100);
                p["tokens"] = json!(100 * l);
                p["padding_tokens"] = json!(0);
            });
            build_raw(&[RawSection::metadata(&m)])
        },
    ));
    v.push(case(
        "plan_holds_doc_sources",
        "bad_plan",
        "open",
        "a DOC_SOURCES section (a dataset kind) in a plan file, required flag clear",
        build_raw(&[
            RawSection::metadata(&meta),
            u64s(6, &rows),
            u64s(7, &segs),
            RawSection::sources(&[0, 1]),
        ]),
    ));
    v.push(case(
        "plan_contiguous_with_sources",
        "bad_plan",
        "open",
        "a contiguous plan with a sources key: restricted contiguous views are not stored",
        {
            let m = contiguous_plan_meta(0, |p| p["sources"] = json!(["web"]));
            build_raw(&[RawSection::metadata(&m)])
        },
    ));
    v.push(case(
        "plan_contiguous_figures",
        "bad_plan",
        "open",
        "a contiguous plan whose tokens figure is off by one",
        {
            let m = contiguous_plan_meta(1, |_| {});
            build_raw(&[RawSection::metadata(&m)])
        },
    ));
    v.push(case(
        "plan_section_checksum",
        "section_checksum",
        "verify",
        "a PLAN_SEGMENTS byte changed, CRC not updated",
        {
            let mut f = raw_plan(&meta, &rows, &segs);
            let e = super::entry(&f, 2);
            f[e.offset.get() as usize] ^= 1;
            f
        },
    ));
    v.push(case(
        "plan_rows_decreasing",
        "bad_plan",
        "verify",
        "PLAN_ROWS decreases in the middle",
        {
            let mut r = rows.clone();
            r.swap(1, 2);
            raw_plan(&meta, &r, &segs)
        },
    ));
    v.push(case(
        "plan_segment_past_tokens",
        "bad_plan",
        "verify",
        "a segment ends past dataset_tokens",
        {
            let mut s = segs.clone();
            s[0] = 10_000;
            raw_plan(&meta, &rows, &s)
        },
    ));
    v.push(case(
        "plan_row_too_long",
        "bad_plan",
        "verify",
        "a row's segments add up to more than seq_len",
        {
            let mut s = segs.clone();
            s[1] += 16;
            raw_plan(&meta, &rows, &s)
        },
    ));
    v.push(case(
        "plan_wrong_dataset",
        "wrong_dataset",
        "bind",
        "a valid plan used with another dataset (u32_mask)",
        raw_plan(&meta, &rows, &segs),
    ));
    v.push(case(
        "plan_segment_crosses_document",
        "bad_plan",
        "verify_against",
        "a segment shifted by one token so it crosses a document end",
        {
            // Find a segment whose document ends right after it, and shift it by one.
            let ds = Dataset::from_bytes(AlignedBytes::copy_from(&dataset_bytes("u16_mask")))
                .expect("dataset");
            let offsets = ds.doc_offsets();
            let mut s = segs.clone();
            let k = (0..s.len() / 2)
                .find(|&k| {
                    offsets.contains(&(s[2 * k] + s[2 * k + 1]))
                        && s[2 * k] + s[2 * k + 1] < ds.num_tokens()
                })
                .expect("a segment ending at a document end");
            s[2 * k] += 1;
            raw_plan(&meta, &rows, &s)
        },
    ));
    for c in &mut v {
        if c.name == "plan_wrong_dataset" {
            c.dataset = "u32_mask";
        }
    }
    v
}
