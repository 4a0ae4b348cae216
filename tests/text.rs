//! Building from raw text: real tokenizers, chat masks, compressed inputs, determinism.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tempdir;
use serde_json::Value;
use tokpack::text::{ChatTemplate, LossPolicy, Message, Tokenizer};
use tokpack::Dataset;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn tokpack(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokpack"));
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run tokpack")
}

fn lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("read")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

#[test]
fn text_round_trips_through_every_builtin_tokenizer() {
    let sample = repo("tools/data/pydoc_topics.jsonl");
    let texts: Vec<String> = lines(&sample)
        .iter()
        .map(|v| v["text"].as_str().expect("text").to_owned())
        .collect();
    let dir = tempdir();
    for (name, vocab, eos) in Tokenizer::BUILTIN {
        let out = dir.path().join(format!("{name}.tpk"));
        let o = tokpack(
            &[
                "build",
                sample.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--tokenizer",
                name,
                "--no-sync",
            ],
            &[],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let ds = Dataset::open(&out).expect("open");
        ds.verify().expect("verify");
        assert_eq!(ds.num_documents() as usize, texts.len());
        assert_eq!(ds.vocab_size(), vocab);
        assert_eq!(ds.metadata().tokenizer.as_deref(), Some(name));
        assert_eq!(ds.metadata().eos_id, Some(eos));
        let tok = Tokenizer::load(name).expect("tokenizer");
        for (i, text) in texts.iter().enumerate() {
            let ids = ds.document(i as u64).expect("doc").to_vec_u32();
            assert_eq!(ids.last(), Some(&eos), "{name}: EOS appended");
            assert_eq!(
                &tok.decode(&ids[..ids.len() - 1]).expect("decode"),
                text,
                "{name} document {i}"
            );
        }
    }
}

#[test]
fn assistant_only_masks_cover_exactly_the_assistant_turns() {
    let sample = repo("tools/data/pydoc_chat.jsonl");
    let dir = tempdir();
    let out = dir.path().join("chat.tpk");
    let o = tokpack(
        &[
            "build",
            sample.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            "cl100k_base",
            "--loss-policy",
            "assistant_only",
            "--no-sync",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::open(&out).expect("open");
    let tok = Tokenizer::load("cl100k_base").expect("tokenizer");
    let template = ChatTemplate::default();
    for (i, record) in lines(&sample).iter().enumerate() {
        let messages: Vec<Message> =
            serde_json::from_value(record["messages"].clone()).expect("messages");
        let ids = ds.document(i as u64).expect("doc").to_vec_u32();
        let mask = ds.document_loss_mask(i as u64).expect("mask");
        // The whole document decodes to the rendered conversation plus EOS.
        assert_eq!(
            tok.decode(&ids[..ids.len() - 1]).expect("decode"),
            template.text(&messages)
        );
        // The targets, in order, are exactly each assistant turn's content and end marker,
        // and the final EOS after an assistant turn.
        let targets: Vec<u32> = ids
            .iter()
            .zip(&mask)
            .filter(|(_, &m)| m == 1)
            .map(|(&t, _)| t)
            .collect();
        let mut want: Vec<u32> = Vec::new();
        for m in messages.iter().filter(|m| m.role == "assistant") {
            want.extend(tok.encode(&m.content).expect("encode"));
            want.extend(tok.encode(&template.end).expect("encode"));
        }
        want.push(100_257);
        assert_eq!(targets, want, "conversation {i}");
    }
}

#[test]
fn render_policy_all_marks_everything() {
    let tok = Tokenizer::load("r50k_base").expect("tokenizer");
    let msgs = vec![
        Message {
            role: "user".into(),
            content: "Hi".into(),
        },
        Message {
            role: "assistant".into(),
            content: "Hello!".into(),
        },
    ];
    let (ids, mask) = ChatTemplate::default()
        .render(&tok, &msgs, LossPolicy::All)
        .expect("render");
    assert_eq!(ids.len(), mask.len());
    assert!(mask.iter().all(|&m| m));
    let bad = vec![Message {
        role: "tool".into(),
        content: "x".into(),
    }];
    let e = ChatTemplate::default()
        .render(&tok, &bad, LossPolicy::All)
        .unwrap_err();
    assert!(e.to_string().contains("role \"tool\""), "{e}");
}

#[test]
fn compressed_inputs_and_thread_counts_give_byte_identical_files() {
    let sample = repo("tools/data/pydoc_topics.jsonl");
    let dir = tempdir();
    let text = fs::read(&sample).expect("read");
    let gz = dir.path().join("s.jsonl.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            fs::File::create(&gz).expect("create"),
            flate2::Compression::default(),
        );
        e.write_all(&text).expect("gz");
        e.finish().expect("gz");
    }
    let zst = dir.path().join("s.jsonl.zst");
    fs::write(&zst, zstd::encode_all(&text[..], 3).expect("zstd")).expect("write");
    let id = "00112233445566778899aabbccddeeff";
    let build = |input: &Path, out: &str, threads: &str| {
        let out = dir.path().join(out);
        let o = tokpack(
            &[
                "build",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--tokenizer",
                "cl100k_base",
                "--dataset-id",
                id,
                "--no-sync",
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        fs::read(out).expect("read out")
    };
    let plain1 = build(&sample, "a.tpk", "1");
    assert_eq!(
        plain1,
        build(&sample, "b.tpk", "2"),
        "thread count changes nothing"
    );
    assert_eq!(plain1, build(&gz, "c.tpk", "2"), "gzip input");
    assert_eq!(plain1, build(&zst, "d.tpk", "2"), "zstd input");
}

#[test]
fn plain_text_files_one_document_each_or_split() {
    let dir = tempdir();
    let a = dir.path().join("a.txt");
    let b = dir.path().join("b.txt");
    fs::write(&a, "First file.\n\nSecond paragraph.").expect("write");
    fs::write(&b, "Second file.").expect("write");
    let out = dir.path().join("t.tpk");
    let o = tokpack(
        &[
            "build",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            "r50k_base",
            "--input-format",
            "text",
            "--no-eos",
            "--no-sync",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::open(&out).expect("open");
    assert_eq!(ds.num_documents(), 2);
    let tok = Tokenizer::load("r50k_base").expect("tokenizer");
    assert_eq!(
        tok.decode(&ds.document(1).expect("doc").to_vec_u32())
            .expect("decode"),
        "Second file."
    );
    let o = tokpack(
        &[
            "build",
            a.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            "r50k_base",
            "--input-format",
            "text",
            "--delimiter",
            "\n\n",
            "--no-sync",
        ],
        &[],
    );
    assert!(o.status.success());
    assert_eq!(Dataset::open(&out).expect("open").num_documents(), 2);
}

#[test]
fn bad_text_input_names_file_and_line_and_leaves_nothing() {
    let dir = tempdir();
    let input = dir.path().join("in.jsonl");
    fs::write(
        &input,
        "{\"text\": \"fine\"}\n{\"body\": \"no text field\"}\n",
    )
    .expect("write");
    let out = dir.path().join("o.tpk");
    let o = tokpack(
        &[
            "build",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            "cl100k_base",
            "--input-format",
            "jsonl",
        ],
        &[],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("in.jsonl line 2: no string field \"text\""),
        "{err}"
    );
    assert!(!out.exists());
    let chat = dir.path().join("c.jsonl");
    fs::write(&chat, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n").expect("write");
    let o = tokpack(
        &[
            "build",
            chat.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            "cl100k_base",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("c.jsonl line 2: message 0 has role \"robot\""),
        "{err}"
    );
    assert!(!out.exists());
    let o = tokpack(
        &[
            "build",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            "no_such_encoding",
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("neither a built-in encoding"));
}

#[test]
fn a_tokenizer_json_trained_here_builds_and_decodes() {
    use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
    use tokenizers::{decoders, pre_tokenizers, AddedToken, TokenizerImpl};
    let dir = tempdir();
    let corpus = dir.path().join("corpus.txt");
    let texts: Vec<String> = lines(&repo("tools/data/pydoc_topics.jsonl"))
        .iter()
        .take(20)
        .map(|v| v["text"].as_str().expect("text").to_owned())
        .collect();
    fs::write(&corpus, texts.join("\n")).expect("write");
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(600)
        .show_progress(false)
        .initial_alphabet(
            pre_tokenizers::byte_level::ByteLevel::alphabet()
                .into_iter()
                .collect(),
        )
        .special_tokens(vec![AddedToken::from("</s>", true)])
        .build();
    let mut tk: TokenizerImpl<
        BPE,
        tokenizers::NormalizerWrapper,
        pre_tokenizers::byte_level::ByteLevel,
        tokenizers::PostProcessorWrapper,
        decoders::byte_level::ByteLevel,
    > = TokenizerImpl::new(BPE::default());
    tk.with_pre_tokenizer(Some(pre_tokenizers::byte_level::ByteLevel::new(
        false, true, true,
    )));
    tk.with_decoder(Some(decoders::byte_level::ByteLevel::default()));
    tk.train_from_files(&mut trainer, vec![corpus.to_str().unwrap().to_owned()])
        .expect("train");
    let json = dir.path().join("tokenizer.json");
    tk.save(&json, false).expect("save");

    let input = dir.path().join("in.jsonl");
    let body: String = texts
        .iter()
        .map(|t| serde_json::json!({"text": t}).to_string() + "\n")
        .collect();
    fs::write(&input, body).expect("write");
    let out = dir.path().join("hf.tpk");
    let o = tokpack(
        &[
            "build",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--tokenizer",
            json.to_str().unwrap(),
            "--no-sync",
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ds = Dataset::open(&out).expect("open");
    assert_eq!(ds.metadata().tokenizer.as_deref(), Some("tokenizer.json"));
    assert_eq!(ds.dtype().name(), "u16");
    let eos = ds.metadata().eos_id.expect("</s> found as EOS");
    let tok = Tokenizer::load(json.to_str().unwrap()).expect("load");
    for (i, text) in texts.iter().enumerate() {
        let ids = ds.document(i as u64).expect("doc").to_vec_u32();
        assert_eq!(ids.last(), Some(&eos));
        assert_eq!(&tok.decode(&ids[..ids.len() - 1]).expect("decode"), text);
    }
    // --decode with an explicit tokenizer path.
    let o = tokpack(
        &[
            "get",
            out.to_str().unwrap(),
            "--doc",
            "0",
            "--decode",
            "--tokenizer",
            json.to_str().unwrap(),
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(&texts[0][..20]));
}
