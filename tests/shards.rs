//! Shards and manifests: one logical dataset, read the same as one file; lazy mapping; a
//! corrupt shard named while the others keep working; job-array parts joined.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tempdir;
use tokpack::{
    make_plan, AnyCorpus, Corpus, CrossRows, Dataset, Manifest, OverlayBuilder, PlanOptions,
    RowBuffers, RowOptions, Rows, Strategy,
};

fn tokpack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokpack"))
        .args(args)
        .output()
        .expect("run tokpack")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/data/pydoc_chat.jsonl")
}

fn build(dir: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(out);
    let input = sample();
    let mut args = vec![
        "build",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--tokenizer",
        "r50k_base",
        "--loss-policy",
        "assistant_only",
        "--no-sync",
    ];
    args.extend_from_slice(extra);
    let o = tokpack(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn all_rows<C: Corpus>(rows: &Rows<'_, '_, C>) -> Vec<RowBuffers> {
    (0..rows.num_rows())
        .map(|r| {
            let mut b = RowBuffers::default();
            rows.row_into(r, &mut b).expect("row");
            b
        })
        .collect()
}

#[test]
fn a_manifest_reads_exactly_like_one_file() {
    let dir = tempdir();
    let single = Dataset::open(build(dir.path(), "one.tpk", &[])).expect("single");
    let manifest_path = build(
        dir.path(),
        "many.manifest.json",
        &["--shard-tokens", "1500"],
    );
    let m = Manifest::open(&manifest_path).expect("manifest");
    assert!(m.num_shards() >= 4, "{} shards", m.num_shards());
    assert_eq!(m.shards_mapped(), 0, "opening maps nothing");
    assert_eq!(m.num_documents(), single.num_documents());
    assert_eq!(m.num_tokens(), single.num_tokens());
    let d = single.num_documents() - 1;
    assert_eq!(
        m.document_in(d, &mut Vec::new()).expect("doc").to_vec_u32(),
        single.document(d).expect("doc").to_vec_u32()
    );
    assert_eq!(m.shards_mapped(), 1, "only the touched shard is mapped");
    for d in 0..single.num_documents() {
        assert_eq!(
            m.document_in(d, &mut Vec::new()).expect("doc").to_vec_u32(),
            single.document(d).expect("doc").to_vec_u32()
        );
        assert_eq!(
            m.document_loss_mask(d).expect("mask"),
            single.document_loss_mask(d).expect("mask")
        );
    }
    assert_eq!(
        m.all_offsets().expect("offsets").as_ref(),
        single.doc_offsets()
    );

    // Contiguous rows, many crossing shard boundaries, with and without boundary masking.
    for mask_boundaries in [false, true] {
        let mut o = RowOptions::new(97);
        o.mask_document_boundaries = mask_boundaries;
        let a = all_rows(&Rows::contiguous(&single, &o).expect("rows"));
        let b = all_rows(&Rows::contiguous(&m, &o).expect("rows"));
        assert_eq!(a, b);
        let mut s = Vec::new();
        let rows = Rows::contiguous(&m, &o).expect("rows");
        for r in 0..rows.num_rows() {
            let t = rows
                .contiguous_tokens(r, &mut s)
                .expect("tokens")
                .to_vec_u32();
            assert_eq!(t.len(), 98);
        }
    }
    // Plans: the same cut, the same rows, bound to the manifest's id.
    for strategy in [Strategy::DocAligned, Strategy::Bfd] {
        let p1 = make_plan(&single, &PlanOptions::new(256, strategy)).expect("plan");
        let p2 = make_plan(&m, &PlanOptions::new(256, strategy)).expect("plan");
        assert_eq!((&p1.rows, &p1.segments), (&p2.rows, &p2.segments));
        let (f1, f2) = (dir.path().join("p1.tpk"), dir.path().join("p2.tpk"));
        p1.write(&f1, false).expect("write");
        p2.write(&f2, false).expect("write");
        let (q1, q2) = (
            tokpack::Plan::open(&f1).expect("open"),
            tokpack::Plan::open(&f2).expect("open"),
        );
        q2.verify_against(&m).expect("verify against manifest");
        assert!(
            Rows::with_plan(&m, &q1, &RowOptions::new(256)).is_err(),
            "a plan for the single file is refused"
        );
        let a = all_rows(&Rows::with_plan(&single, &q1, &RowOptions::new(256)).expect("rows"));
        let b = all_rows(&Rows::with_plan(&m, &q2, &RowOptions::new(256)).expect("rows"));
        assert_eq!(a, b);
    }
    // Overlays on the manifest's view.
    let rows = Rows::contiguous(&m, &RowOptions::new(97)).expect("rows");
    let mut ob = OverlayBuilder::new(rows.view_binding(), m.token_dtype()).expect("builder");
    ob.add_explicit(1500 - 2, &[11, 12, 13, 14], true, CrossRows::Split)
        .expect("explicit");
    let path = dir.path().join("ov.tpk");
    ob.finish().write(&path, false).expect("write");
    let ov = tokpack::Overlay::open(&path).expect("open");
    let with = Rows::contiguous(&m, &RowOptions::new(97))
        .expect("rows")
        .with_overlays(&[&ov])
        .expect("bind");
    let mut b = RowBuffers::default();
    with.row_into((1500 - 2) / 97, &mut b).expect("row");
    let o = (1500 - 2) % 97;
    assert_eq!(&b.input_ids[o as usize..o as usize + 4], &[11, 12, 13, 14]);
}

#[test]
fn a_corrupt_shard_is_named_and_the_others_keep_working() {
    let dir = tempdir();
    let manifest_path = build(dir.path(), "c.manifest.json", &["--shard-tokens", "2000"]);
    let m = Manifest::open(&manifest_path).expect("manifest");
    let victim = m.shard_path(2);
    let mut bytes = fs::read(&victim).expect("read");
    bytes[4096 + 10] ^= 0x40;
    fs::write(&victim, &bytes).expect("write");
    let o = tokpack(&["verify", manifest_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard 2")
            && err.contains("c-00002.tpk")
            && err.contains("[section_checksum]"),
        "{err}"
    );
    assert!(err.contains("1 of"), "{err}");
    let m = Manifest::open(&manifest_path).expect("manifest");
    let results = m.verify_each();
    assert!(results[2].is_err() && results.iter().enumerate().all(|(k, r)| k == 2 || r.is_ok()));
    // Documents of the other shards read fine.
    let (k0, _) = m.locate_document(0).expect("doc 0");
    assert_eq!(k0, 0);
    assert!(m.document_in(0, &mut Vec::new()).is_ok());

    // A shard replaced by another file: index and shard disagree.
    fs::copy(m.shard_path(0), m.shard_path(1)).expect("copy");
    let m = Manifest::open(&manifest_path).expect("manifest");
    let (k, local) = (1usize, 0u64);
    let d = m.entries()[..k].iter().map(|e| e.documents).sum::<u64>() + local;
    let e = m.document_in(d, &mut Vec::new()).unwrap_err().to_string();
    assert!(e.contains("index and shard disagree"), "{e}");
}

#[test]
fn job_array_parts_join_into_one_dataset_with_every_record_once() {
    let dir = tempdir();
    let parts: Vec<PathBuf> = (0..3)
        .map(|i| {
            let w = i.to_string();
            build(
                dir.path(),
                &format!("part-{i}.manifest.json"),
                &["--shard-tokens", "3000", "--worker", &w, "--workers", "3"],
            )
        })
        .collect();
    let joined = dir.path().join("all.manifest.json");
    let mut args = vec!["manifest"];
    for p in &parts {
        args.push(p.to_str().unwrap());
    }
    args.extend(["-o", joined.to_str().unwrap()]);
    let o = tokpack(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let single = Dataset::open(build(dir.path(), "one.tpk", &[])).expect("single");
    let all = match AnyCorpus::open(&joined).expect("open") {
        AnyCorpus::Manifest(m) => m,
        AnyCorpus::Dataset(_) => panic!("a .json path is a manifest"),
    };
    assert_eq!(all.num_documents(), single.num_documents());
    assert_eq!(all.num_tokens(), single.num_tokens());
    // Worker i holds records i, i + 3, ...: the joined order is worker 0's, then 1's, then 2's.
    let n = single.num_documents();
    let order: Vec<u64> = (0..3).flat_map(|i| (i..n).step_by(3)).collect();
    for (d, &orig) in order.iter().enumerate() {
        assert_eq!(
            all.document_in(d as u64, &mut Vec::new())
                .expect("doc")
                .to_vec_u32(),
            single.document(orig).expect("doc").to_vec_u32()
        );
    }
    let o = tokpack(&["verify", joined.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_failed_sharded_build_leaves_nothing() {
    let dir = tempdir();
    let input = dir.path().join("in.jsonl");
    let mut body = String::new();
    for i in 0..50 {
        body.push_str(&format!(
            "{{\"text\": \"document number {i} with a few words\"}}\n"
        ));
    }
    body.push_str("{\"oops\": 1}\n");
    fs::write(&input, body).expect("write");
    let out = dir.path().join("x.manifest.json");
    let o = tokpack(&[
        "build",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--tokenizer",
        "r50k_base",
        "--input-format",
        "jsonl",
        "--shard-tokens",
        "20",
        "--no-sync",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("in.jsonl line 51"));
    let left: Vec<_> = fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(left.len(), 1, "only the input remains: {left:?}");
}
