//! The `tokpack` command line, as users call it: names, flags, JSON shapes and exit codes.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{tempdir, vectors_dir};
use serde_json::Value;

fn tokpack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokpack"))
        .args(args)
        .output()
        .expect("run tokpack")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn build(dir: &Path, jsonl: &str, vocab: &str) -> (Output, std::path::PathBuf) {
    let input = dir.join("in.jsonl");
    fs::write(&input, jsonl).expect("write input");
    let out = dir.join("out.tpk");
    let o = tokpack(&[
        "build",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--vocab-size",
        vocab,
        "--no-sync",
    ]);
    (o, out)
}

#[test]
fn build_info_get_verify() {
    let dir = tempdir();
    let jsonl = "{\"input_ids\": [1, 2, 3]}\n\n{\"input_ids\": [70000, 5], \"loss_mask\": [0, 1], \"text\": \"ignored\"}\n{\"input_ids\": []}\n";
    let (o, out) = build(dir.path(), jsonl, "100352");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("3 documents, 5 tokens"),
        "{}",
        stdout(&o)
    );

    let o = tokpack(&["info", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: Value = serde_json::from_slice(&o.stdout).expect("info json");
    for key in [
        "num_documents",
        "num_tokens",
        "dtype",
        "vocab_size",
        "has_loss_mask",
        "sections",
        "metadata",
    ] {
        assert!(info.get(key).is_some(), "info --json lacks {key}");
    }
    assert_eq!(info["num_documents"], 3);
    assert_eq!(info["num_tokens"], 5);
    assert_eq!(info["dtype"], "u32");
    assert_eq!(info["vocab_size"], 100_352);
    assert_eq!(info["has_loss_mask"], true);
    assert_eq!(info["sections"].as_array().map(Vec::len), Some(4));
    assert_eq!(info["metadata"]["vocab_size"], 100_352);

    let text = tokpack(&["info", out.to_str().unwrap()]);
    assert!(stdout(&text).contains("DOC_OFFSETS"), "{}", stdout(&text));

    let o = tokpack(&["get", out.to_str().unwrap(), "--doc", "1", "--json"]);
    let doc: Value = serde_json::from_slice(&o.stdout).expect("get json");
    assert_eq!(
        doc,
        serde_json::json!({"input_ids": [70000, 5], "loss_mask": [0, 1]})
    );
    let o = tokpack(&["get", out.to_str().unwrap(), "--doc", "0", "--json"]);
    let doc: Value = serde_json::from_slice(&o.stdout).expect("get json");
    assert_eq!(doc["loss_mask"], serde_json::json!([1, 1, 1]));
    let o = tokpack(&["get", out.to_str().unwrap(), "--doc", "3"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("document 3 is out of range"),
        "{}",
        stderr(&o)
    );

    let o = tokpack(&["verify", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok:"));
}

#[test]
fn a_bad_line_is_named_and_leaves_no_output() {
    for (jsonl, needle) in [
        (
            "{\"input_ids\": [1]}\n{\"input_ids\": [1, \"x\"]}\n",
            "line 2",
        ),
        (
            "{\"input_ids\": [1]}\n{\"input_ids\": [1]}\n{\"input_ids\": [1, 2000]}\n",
            "line 3: document 2, token 1: id 2000",
        ),
        (
            "{\"input_ids\": [1, 2], \"loss_mask\": [1]}\n",
            "line 1: document 0: loss mask has 1 entries",
        ),
        (
            "{\"input_ids\": [1, 2], \"loss_mask\": [1, 2]}\n",
            "line 1: loss_mask[1] is 2",
        ),
        ("{\"tokens\": [1]}\n", "line 1: missing field `input_ids`"),
        ("not json\n", "line 1"),
    ] {
        let dir = tempdir();
        let (o, out) = build(dir.path(), jsonl, "1000");
        assert!(!o.status.success(), "{jsonl}");
        assert!(stderr(&o).contains(needle), "{jsonl}: {}", stderr(&o));
        assert!(!out.exists());
        let left: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("e").file_name())
            .collect();
        assert_eq!(left.len(), 1, "only the input remains: {left:?}");
    }
}

#[test]
fn verify_names_the_problem_of_every_invalid_vector() {
    for entry in fs::read_dir(vectors_dir().join("invalid")).expect("dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "tpk") {
            continue;
        }
        let want: Value =
            serde_json::from_slice(&fs::read(path.with_extension("json")).expect("json"))
                .expect("parse");
        let o = tokpack(&["verify", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", path.display());
        let err = stderr(&o);
        let code = want["error"].as_str().expect("code");
        assert!(
            err.contains(&format!("[{code}]")),
            "{}: {err}",
            path.display()
        );
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn metadata_flags_land_in_the_file() {
    let dir = tempdir();
    let input = dir.path().join("in.jsonl");
    fs::write(&input, "{\"input_ids\": [1, 2]}\n").expect("write");
    let out = dir.path().join("m.tpk");
    let o = tokpack(&[
        "build",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--vocab-size",
        "50257",
        "--tokenizer",
        "gpt2",
        "--eos-id",
        "50256",
        "--meta",
        "source=web",
        "--meta",
        "year=2024",
        "--dataset-id",
        "000102030405060708090a0b0c0d0e0f",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info: Value =
        serde_json::from_slice(&tokpack(&["info", out.to_str().unwrap(), "--json"]).stdout)
            .expect("json");
    assert_eq!(info["metadata"]["tokenizer"], "gpt2");
    assert_eq!(info["metadata"]["eos_id"], 50256);
    assert_eq!(info["metadata"]["source"], "web");
    assert_eq!(info["metadata"]["year"], 2024);
    assert_eq!(info["dataset_id"], "000102030405060708090a0b0c0d0e0f");
}

#[test]
fn pack_and_row_through_the_command_line() {
    let dir = tempdir();
    let jsonl = "{\"input_ids\": [1, 2, 3]}\n{\"input_ids\": [4, 5], \"loss_mask\": [1, 0]}\n{\"input_ids\": [6, 7, 8, 9, 10]}\n";
    let (o, data) = build(dir.path(), jsonl, "20");
    assert!(o.status.success(), "{}", stderr(&o));
    let d = data.to_str().unwrap();
    let plan = dir.path().join("plan.tpk");
    let p = plan.to_str().unwrap();
    let o = tokpack(&[
        "pack",
        d,
        "--seq-len",
        "4",
        "--strategy",
        "bfd",
        "-o",
        p,
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for field in [
        "rows",
        "fill",
        "padding tokens",
        "truncated tokens",
        "documents split",
        "time",
    ] {
        assert!(out.contains(field), "pack output lacks {field}: {out}");
    }
    assert!(out.contains("rows              3"), "{out}");

    let o = tokpack(&[
        "pack",
        d,
        "--seq-len",
        "4",
        "--strategy",
        "doc-aligned",
        "--long-docs",
        "truncate",
        "--json",
    ]);
    let figures: Value = serde_json::from_slice(&o.stdout).expect("pack --json");
    assert_eq!(figures["truncated_tokens"], 1);
    assert_eq!(figures["strategy"], "doc_aligned");

    let row = |extra: &[&str]| -> Value {
        let mut args = vec!["row", d, "--seq-len", "4", "--json"];
        args.extend_from_slice(extra);
        let o = tokpack(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("row json")
    };
    assert_eq!(
        row(&["--index", "1", "--mask-boundaries"]),
        serde_json::json!({"input_ids": [5, 6, 7, 8], "labels": [-100, 7, 8, 9], "position_ids": [0, 0, 1, 2], "cu_seqlens": [0, 1, 4], "loss_mask": [0, 1, 1, 1]})
    );
    assert_eq!(
        row(&["--plan", p, "--index", "2", "--pad-id", "19"]),
        serde_json::json!({"input_ids": [4, 5, 19, 19], "labels": [-100, -100, -100, -100], "position_ids": [0, 1, 0, 1], "cu_seqlens": [0, 2, 4], "loss_mask": [0, 0, 0, 0]})
    );

    let o = tokpack(&["row", d, "--seq-len", "8", "--plan", p, "--index", "0"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("does not match the plan's sequence length 4"),
        "{}",
        stderr(&o)
    );
    let o = tokpack(&["row", d, "--seq-len", "4", "--plan", p, "--index", "3"]);
    assert!(
        stderr(&o).contains("row 3 is out of range"),
        "{}",
        stderr(&o)
    );

    let o = tokpack(&["verify", p, "--dataset", d]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("against its dataset"));
    let info: Value =
        serde_json::from_slice(&tokpack(&["info", p, "--json"]).stdout).expect("info json");
    assert_eq!(info["kind"], "plan");
    assert_eq!(info["plan"]["rows"], 3);

    // A plan made for another dataset is refused by name.
    let (_, other) = build(&dir.path().join(""), "{\"input_ids\": [1, 2, 3]}\n", "20");
    let o = tokpack(&[
        "row",
        other.to_str().unwrap(),
        "--seq-len",
        "4",
        "--plan",
        p,
        "--index",
        "0",
    ]);
    assert!(stderr(&o).contains("[wrong_dataset]"), "{}", stderr(&o));
}

#[test]
fn insert_export_and_rows_with_overlays() {
    let dir = tempdir();
    let jsonl = "{\"input_ids\": [1, 2, 3]}\n{\"input_ids\": [4, 5], \"loss_mask\": [1, 0]}\n{\"input_ids\": [6, 7, 8, 9, 10, 11, 12, 13, 14]}\n";
    let (o, data) = build(dir.path(), jsonl, "100");
    assert!(o.status.success(), "{}", stderr(&o));
    let d = data.to_str().unwrap();
    let ins = dir.path().join("ins.json");
    fs::write(&ins, r#"{"2": [90, 91], "7": [92, 93]}"#).expect("write");
    let ov = dir.path().join("ov.tpk");
    let (i, v) = (ins.to_str().unwrap(), ov.to_str().unwrap());

    let o = tokpack(&[
        "insert",
        d,
        "--seq-len",
        "4",
        "--explicit",
        i,
        "-o",
        v,
        "--no-sync",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("position 7 (length 2) crosses the boundary of row 1 at 8"),
        "{}",
        stderr(&o)
    );
    assert!(!ov.exists());

    let o = tokpack(&[
        "insert",
        d,
        "--seq-len",
        "4",
        "--explicit",
        i,
        "--split-across-rows",
        "-o",
        v,
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokpack(&["export-insertions", v]);
    let rows: Value = serde_json::from_slice(&o.stdout).expect("export json");
    assert_eq!(
        rows,
        serde_json::json!({"0": [[2, [90, 91]]], "1": [[3, [92]]], "2": [[0, [93]]]})
    );

    let row = |i: &str| -> Value {
        let o = tokpack(&[
            "row",
            d,
            "--seq-len",
            "4",
            "--index",
            i,
            "--json",
            "--overlay",
            v,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("row json")
    };
    assert_eq!(row("0")["input_ids"], serde_json::json!([1, 2, 90, 91]));
    assert_eq!(row("0")["labels"], serde_json::json!([2, 90, 91, -100]));
    assert_eq!(row("1")["input_ids"], serde_json::json!([5, 6, 7, 92]));
    assert_eq!(row("1")["labels"], serde_json::json!([6, 7, 92, 9]));

    let seqs = dir.path().join("seqs.jsonl");
    fs::write(&seqs, "{\"input_ids\": [50]}\n{\"input_ids\": []}\n{\"input_ids\": [1, 2, 3, 4, 5]}\n{\"input_ids\": [51, 52]}\n").expect("write");
    let ov2 = dir.path().join("ov2.tpk");
    let args = [
        "insert",
        d,
        "--seq-len",
        "4",
        "--random",
        seqs.to_str().unwrap(),
        "--rows",
        "0:3",
        "--seed",
        "7",
        "--wrap-eos",
        "99",
        "-o",
        ov2.to_str().unwrap(),
        "--no-sync",
    ];
    let o = tokpack(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("dropped by EOS wrapping") && out.contains("indices [1, 2]"),
        "{out}"
    );
    assert!(
        out.contains("2 of 4 sequences placed") && out.contains("collisions avoided"),
        "{out}"
    );
    let first = fs::read(&ov2).expect("overlay");
    let o = tokpack(&args);
    assert!(o.status.success());
    let again = fs::read(&ov2).expect("overlay");
    // Same seed, same positions (the files differ only in their random file id).
    let export = |p: &std::path::Path| tokpack(&["export-insertions", p.to_str().unwrap()]).stdout;
    assert_eq!(first.len(), again.len());
    assert_eq!(export(&ov2), export(&ov2));
    let o = tokpack(&["verify", ov2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = tokpack(&["row", d, "--seq-len", "8", "--index", "0", "--overlay", v]);
    assert!(stderr(&o).contains("[wrong_view]"), "{}", stderr(&o));
}

#[test]
fn verify_reports_plan_and_overlay_errors_with_their_own_codes() {
    for sub in ["plans_invalid", "overlays_invalid"] {
        for entry in fs::read_dir(vectors_dir().join(sub)).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "tpk") {
                continue;
            }
            let want: Value =
                serde_json::from_slice(&fs::read(path.with_extension("json")).expect("json"))
                    .expect("parse");
            if !matches!(want["stage"].as_str(), Some("open" | "verify")) {
                continue;
            }
            // The CLI picks its reader by the metadata's "file" key; these two lie about it
            // on purpose (the library's plan and overlay readers refuse them).
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if matches!(stem, "plan_file_key" | "overlay_file_key") {
                continue;
            }
            let o = tokpack(&["verify", path.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(1), "{}", path.display());
            let code = want["error"].as_str().expect("code");
            assert!(
                stderr(&o).contains(&format!("[{code}]")),
                "{}: {}",
                path.display(),
                stderr(&o)
            );
        }
    }
}

/// Sources from the command line: per input file, per record, counted by info and stats,
/// filtered rows, plans for some sources, mixtures with their realised shares.
#[test]
fn sources_build_filter_and_mix() {
    let dir = tempdir();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    fs::write(
        p("web.jsonl"),
        "{\"input_ids\": [1, 2, 3]}\n{\"input_ids\": [4, 5]}\n",
    )
    .unwrap();
    fs::write(
        p("code.jsonl"),
        "{\"input_ids\": [6, 7, 8, 9]}\n{\"input_ids\": [10], \"origin\": \"books\"}\n",
    )
    .unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "--vocab-size", "100", "--no-sync"];
        args.extend_from_slice(extra);
        tokpack(&args)
    };
    // One source per file, in order.
    let (web, code, out) = (p("web.jsonl"), p("code.jsonl"), p("s.tpk"));
    let o = build(&[
        &web, &code, "--source", "web", "--source", "code", "-o", &out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("sources web,code"), "{}", stdout(&o));
    let o = tokpack(&["info", &out, "--json"]);
    let info: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(info["version"], serde_json::json!([1, 3]));
    assert_eq!(
        info["sources"],
        serde_json::json!([
            {"name": "web", "documents": 2, "tokens": 5},
            {"name": "code", "documents": 2, "tokens": 5}
        ])
    );
    let o = tokpack(&["stats", &out]);
    assert!(
        stdout(&o).contains("web") && stdout(&o).contains("50.0%"),
        "{}",
        stdout(&o)
    );

    // A record's field wins over its file's --source.
    let out2 = p("f.tpk");
    let o = build(&[
        &web,
        &code,
        "--source",
        "web",
        "--source",
        "code",
        "--source-field",
        "origin",
        "-o",
        &out2,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokpack(&["get", &out2, "--doc", "3", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokpack(&["info", &out2, "--json"]);
    let info: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(info["sources"][2]["name"], "books");

    // Two sources for three files: refused, nothing written.
    let bad = p("bad.tpk");
    let o = build(&[
        &web, &code, &web, "--source", "a", "--source", "b", "-o", &bad,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("2 sources for 3 input files"),
        "{}",
        stderr(&o)
    );
    assert!(!Path::new(&bad).exists());
    // Some records with a source, some without: the line is named.
    let o = build(&[&web, &code, "--source-field", "origin", "-o", &bad]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("code.jsonl line 2") || stderr(&o).contains("line 1"),
        "{}",
        stderr(&o)
    );
    assert!(!Path::new(&bad).exists());

    // Filtered contiguous rows: only code's tokens 6 7 8 9 10.
    let o = tokpack(&[
        "row",
        &out,
        "--seq-len",
        "4",
        "--index",
        "0",
        "--json",
        "--sources",
        "code",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let row: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(row["input_ids"], serde_json::json!([6, 7, 8, 9]));
    assert_eq!(row["labels"], serde_json::json!([7, 8, 9, 10]));
    assert_eq!(row["cu_seqlens"], serde_json::json!([0, 4]));
    let o = tokpack(&[
        "row",
        &out,
        "--seq-len",
        "4",
        "--index",
        "0",
        "--sources",
        "nope",
    ]);
    assert!(stderr(&o).contains("no source \"nope\""), "{}", stderr(&o));

    // A plan for one source; contiguous plans with sources are refused with the way out.
    let plan = p("web.plan.tpk");
    let o = tokpack(&[
        "pack",
        &out,
        "--seq-len",
        "4",
        "--strategy",
        "bfd",
        "--sources",
        "web",
        "-o",
        &plan,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokpack(&[
        "row",
        &out,
        "--plan",
        &plan,
        "--seq-len",
        "4",
        "--index",
        "0",
        "--json",
    ]);
    let row: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(row["input_ids"], serde_json::json!([1, 2, 3, 0]));
    let o = tokpack(&[
        "pack",
        &out,
        "--seq-len",
        "4",
        "--strategy",
        "contiguous",
        "--sources",
        "web",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("row --sources"), "{}", stderr(&o));

    // A mixture: shares and epochs printed; the plan verifies against the dataset.
    let mix = p("mix.tpk");
    let o = tokpack(&[
        "mix",
        &out,
        "--weights",
        "web=3,code=1",
        "--tokens",
        "4e2",
        "--seq-len",
        "4",
        "--seed",
        "5",
        "-o",
        &mix,
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["sources"][0]["name"], "web");
    assert_eq!(v["sources"][0]["weight"], 0.75);
    let web_tokens = v["sources"][0]["tokens"].as_u64().unwrap();
    assert!((298..=302).contains(&web_tokens), "{v}");
    assert_eq!(v["sources"][0]["repeats"], serde_json::json!([60, 61]));
    let o = tokpack(&["verify", &mix, "--dataset", &out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokpack(&[
        "mix",
        &out,
        "--weights",
        "web=1",
        "--tokens",
        "1.5",
        "--seq-len",
        "4",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("whole number"), "{}", stderr(&o));
}

/// Compressed tokens from the command line: build --compress, compress and decompress, info,
/// get and row read the same as the raw file, and a bad level is refused.
#[test]
fn compress_and_decompress() {
    let dir = tempdir();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let lines: String = (0..50)
        .map(|d| {
            format!(
                "{{\"input_ids\": {:?}}}\n",
                (0..(d * 7 % 40 + 3))
                    .map(|t| (t * 13 + d) % 500)
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    fs::write(p("in.jsonl"), lines).unwrap();
    let (input, raw, z, back, zb) = (
        p("in.jsonl"),
        p("raw.tpk"),
        p("z.tpk"),
        p("back.tpk"),
        p("zb.tpk"),
    );
    let o = tokpack(&[
        "build",
        &input,
        "-o",
        &raw,
        "--vocab-size",
        "500",
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tokpack(&[
        "compress",
        &raw,
        "-o",
        &z,
        "--block-tokens",
        "64",
        "--level",
        "5",
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("64 tokens per block"), "{}", stdout(&o));
    let o = tokpack(&["info", &z, "--json"]);
    let info: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(info["version"], serde_json::json!([1, 4]));
    assert_eq!(info["compression"]["block_tokens"], 64);
    assert_eq!(info["sections"][0]["codec"], 1);
    let o = tokpack(&["info", &raw, "--json"]);
    let raw_info: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(raw_info["compression"], Value::Null);
    assert_eq!(raw_info["dataset_id"], info["dataset_id"]);
    assert!(tokpack(&["verify", &z]).status.success());
    for d in ["0", "17", "49"] {
        let a = tokpack(&["get", &raw, "--doc", d, "--json"]);
        let b = tokpack(&["get", &z, "--doc", d, "--json"]);
        assert_eq!(stdout(&a), stdout(&b));
    }
    let a = tokpack(&["row", &raw, "--seq-len", "32", "--index", "5", "--json"]);
    let b = tokpack(&["row", &z, "--seq-len", "32", "--index", "5", "--json"]);
    assert_eq!(stdout(&a), stdout(&b));
    let o = tokpack(&["decompress", &z, "-o", &back, "--no-sync"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fs::read(&back).unwrap(), fs::read(&raw).unwrap());
    // Built compressed directly: the same tokens.
    let o = tokpack(&[
        "build",
        &input,
        "-o",
        &zb,
        "--vocab-size",
        "500",
        "--compress",
        "zstd:1",
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = tokpack(&["get", &raw, "--doc", "33", "--json"]);
    let b = tokpack(&["get", &zb, "--doc", "33", "--json"]);
    assert_eq!(stdout(&a), stdout(&b));
    // Refusals name what is wrong; nothing is left at the output path.
    let bad = p("bad.tpk");
    let o = tokpack(&[
        "build",
        &input,
        "-o",
        &bad,
        "--vocab-size",
        "500",
        "--compress",
        "lz4",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("use zstd or zstd:LEVEL"),
        "{}",
        stderr(&o)
    );
    let o = tokpack(&["compress", &raw, "-o", &bad, "--level", "99"]);
    assert!(stderr(&o).contains("zstd level 99"), "{}", stderr(&o));
    let o = tokpack(&["compress", &raw, "-o", &bad, "--block-tokens", "0"]);
    assert!(stderr(&o).contains("block size 0"), "{}", stderr(&o));
    assert!(!Path::new(&bad).exists());
    let o = tokpack(&["compress", &raw, "-o", &raw]);
    assert!(stderr(&o).contains("another path"), "{}", stderr(&o));
}
