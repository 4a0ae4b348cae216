//! The writer's promises: nothing at the target path until `finish`, bad documents refused
//! without harm, atomic replacement that keeps existing readers' view.

mod common;

use std::fs;

use common::tempdir;
use tokpack::{Dataset, Error, Writer, WriterOptions};

fn options(vocab: u64) -> WriterOptions {
    let mut o = WriterOptions::new(vocab);
    o.sync = false;
    o
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn dropping_an_unfinished_writer_leaves_nothing() {
    let dir = tempdir();
    let path = dir.path().join("out.tpk");
    {
        let mut w = Writer::create(&path, options(1000)).expect("create");
        w.push_document(&[1, 2, 3], Some(&[true, false, true]))
            .expect("push");
        assert!(!path.exists(), "nothing is published before finish");
    }
    assert!(
        dir_entries(dir.path()).is_empty(),
        "left behind: {:?}",
        dir_entries(dir.path())
    );
}

#[test]
fn a_token_outside_the_vocabulary_is_refused_and_the_writer_goes_on() {
    let dir = tempdir();
    let path = dir.path().join("out.tpk");
    let mut w = Writer::create(&path, options(1000)).expect("create");
    w.push_document(&[1, 2], None).expect("push");
    let err = w.push_document(&[5, 999, 1000, 7], None).unwrap_err();
    match &err {
        Error::TokenOutOfVocab {
            document,
            index,
            token,
            vocab_size,
        } => {
            assert_eq!((*document, *index, *token, *vocab_size), (1, 2, 1000, 1000));
        }
        other => panic!("wrong error {other}"),
    }
    assert!(err.to_string().contains("id 1000"), "{err}");
    let err = w.push_document(&[5, 6], Some(&[true])).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MaskLength {
                tokens: 2,
                mask: 1,
                ..
            }
        ),
        "{err}"
    );
    w.push_document(&[3], None).expect("push");
    w.finish().expect("finish");
    let ds = Dataset::open(&path).expect("open");
    assert_eq!(ds.num_documents(), 2);
    assert_eq!(ds.tokens().expect("raw tokens").to_vec_u32(), vec![1, 2, 3]);
    assert!(!ds.has_loss_mask());
    assert_eq!(dir_entries(dir.path()), vec!["out.tpk"]);
}

#[test]
fn bad_options_are_refused_before_anything_is_written() {
    let dir = tempdir();
    let path = dir.path().join("out.tpk");
    assert!(Writer::create(&path, options(0)).is_err());
    assert!(Writer::create(&path, options((1 << 32) + 1)).is_err());
    let mut o = options(100);
    o.metadata.eos_id = Some(100);
    let err = Writer::create(&path, o).unwrap_err();
    assert!(err.to_string().contains("eos_id"), "{err}");
    assert!(dir_entries(dir.path()).is_empty());
    let missing = dir.path().join("no/such/dir/out.tpk");
    let err = Writer::create(&missing, options(100)).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn finish_replaces_atomically_and_old_mappings_keep_their_view() {
    let dir = tempdir();
    let path = dir.path().join("out.tpk");
    let mut w = Writer::create(&path, options(1000)).expect("create");
    w.push_document(&[1, 2, 3], None).expect("push");
    w.finish().expect("finish");
    let old = Dataset::open(&path).expect("open old");

    let mut w = Writer::create(&path, options(70_000)).expect("create");
    w.push_document(&[60_000; 5000], None).expect("push");
    assert_eq!(Dataset::open(&path).expect("still old").num_tokens(), 3);
    w.finish().expect("finish");

    let new = Dataset::open(&path).expect("open new");
    assert_eq!(new.num_tokens(), 5000);
    assert_eq!(new.dtype().name(), "u32");
    assert_eq!(
        old.tokens().expect("raw tokens").to_vec_u32(),
        vec![1, 2, 3],
        "the old mapping still reads the old file"
    );
    old.verify().expect("old view intact");
    assert_ne!(old.dataset_id(), new.dataset_id(), "ids are random");
}

#[test]
fn a_mask_arriving_late_backfills_ones_and_sync_mode_works() {
    let dir = tempdir();
    let path = dir.path().join("out.tpk");
    let mut o = WriterOptions::new(300);
    o.sync = true;
    let mut w = Writer::create(&path, o).expect("create");
    let long: Vec<u32> = (0..20_003).map(|i| i % 300).collect();
    w.push_document(&long, None).expect("push");
    w.push_document(&[1, 2, 3], Some(&[false, true, false]))
        .expect("push");
    w.push_document(&[4; 9], None).expect("push");
    let s = w.finish().expect("finish");
    assert!(s.has_loss_mask);
    let ds = Dataset::open(&path).expect("open");
    ds.verify().expect("verify");
    let m = ds.loss_mask().expect("mask");
    assert_eq!(m.count_ones(0, m.len()), 20_003 + 1 + 9);
    assert_eq!(ds.document_loss_mask(1).expect("mask"), vec![0, 1, 0]);
    assert_eq!(fs::metadata(&path).expect("stat").len(), s.file_length);
}

#[test]
fn an_empty_dataset_is_valid() {
    let dir = tempdir();
    let path = dir.path().join("empty.tpk");
    let s = Writer::create(&path, options(5))
        .expect("create")
        .finish()
        .expect("finish");
    assert_eq!((s.num_documents, s.num_tokens), (0, 0));
    let ds = Dataset::open(&path).expect("open");
    ds.verify().expect("verify");
    assert_eq!(ds.num_documents(), 0);
    assert!(ds.document(0).is_err());
}
