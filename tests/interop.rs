//! Importers and exporters: Megatron-Core `.bin/.idx`, nanoGPT `uint16` `.bin`, OLMo-core
//! token and label-mask arrays. Round trips through each format, files written byte by byte
//! from the documented layouts, corrupted and truncated files (clean errors, never a
//! panic), the CLI, and, when present, numpy and Megatron-Core writing the files themselves.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tokpack::interop::{megatron, nanogpt, olmo, Boundaries, ExportReport, ImportReport, RawDType};
use tokpack::{Dataset, Writer, WriterOptions};

/// A document: ids and mask bits (all ones when the format carries no mask).
type Doc = (Vec<u32>, Vec<bool>);

/// splitmix64, for deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` documents (some empty) of ids below `vocab`, none equal to `avoid`, with random masks
/// when `masks`.
fn random_docs(seed: u64, n: usize, vocab: u64, avoid: Option<u32>, masks: bool) -> Vec<Doc> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let len = rng.below(40) as usize;
            let ids: Vec<u32> = (0..len)
                .map(|_| loop {
                    let t = rng.below(vocab) as u32;
                    if Some(t) != avoid {
                        break t;
                    }
                })
                .collect();
            let mask = (0..len).map(|_| !masks || rng.below(3) != 0).collect();
            (ids, mask)
        })
        .collect()
}

/// The same documents, each ended by `eos` (its mask bit a target).
fn with_eos(docs: &[Doc], eos: u32) -> Vec<Doc> {
    docs.iter()
        .map(|(t, m)| {
            let mut t = t.clone();
            let mut m = m.clone();
            t.push(eos);
            m.push(true);
            (t, m)
        })
        .collect()
}

fn options(vocab: u64) -> WriterOptions {
    let mut o = WriterOptions::new(vocab);
    o.sync = false;
    o
}

fn write_tpk(path: &Path, docs: &[Doc], vocab: u64, masks: bool) {
    let mut w = Writer::create(path, options(vocab)).expect("create");
    for (t, m) in docs {
        w.push_document(t, masks.then_some(m.as_slice()))
            .expect("push");
    }
    w.finish().expect("finish");
}

fn read_tpk(path: &Path) -> Vec<Doc> {
    let ds = Dataset::open(path).expect("open");
    ds.verify().expect("verify");
    (0..ds.num_documents())
        .map(|d| {
            let ids = ds.document(d).expect("document").to_vec_u32();
            let mask = ds
                .document_loss_mask(d)
                .expect("mask")
                .into_iter()
                .map(|b| b == 1)
                .collect();
            (ids, mask)
        })
        .collect()
}

fn ids(docs: &[Doc]) -> Vec<Vec<u32>> {
    docs.iter().map(|(t, _)| t.clone()).collect()
}

/// Runs `import` into a new dataset at `out`; on error the writer is dropped.
fn import_with(
    out: &Path,
    vocab: u64,
    import: impl FnOnce(&mut Writer) -> tokpack::Result<ImportReport>,
) -> tokpack::Result<ImportReport> {
    let mut w = Writer::create(out, options(vocab))?;
    let report = import(&mut w)?;
    w.finish()?;
    Ok(report)
}

fn err_text<T: std::fmt::Debug>(r: tokpack::Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn u16_bytes(ids: &[u32]) -> Vec<u8> {
    ids.iter().flat_map(|&t| (t as u16).to_le_bytes()).collect()
}

// ---------------------------------------------------------------------------------------
// Megatron-Core

/// An `.idx` written field by field from the documented layout.
fn megatron_idx(code: u8, lengths: &[i32], pointers: &[i64], doc_index: &[i64]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"MMIDIDX\x00\x00");
    b.extend_from_slice(&1u64.to_le_bytes());
    b.push(code);
    b.extend_from_slice(&(lengths.len() as u64).to_le_bytes());
    b.extend_from_slice(&(doc_index.len() as u64).to_le_bytes());
    for l in lengths {
        b.extend_from_slice(&l.to_le_bytes());
    }
    for p in pointers {
        b.extend_from_slice(&p.to_le_bytes());
    }
    for d in doc_index {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b
}

fn megatron_import(dir: &Path, prefix: &Path, vocab: u64) -> tokpack::Result<Vec<Doc>> {
    let out = dir.join("imported.tpk");
    import_with(&out, vocab, |w| megatron::import_into(w, prefix))?;
    Ok(read_tpk(&out))
}

#[test]
fn megatron_round_trip_in_both_dtypes() {
    // Megatron's DType.optimal_dtype: uint16 (code 8) below 65,500 ids, else int32 (code 4).
    for (vocab, code) in [(300, 8u8), (65_499, 8), (65_500, 4), (100_277, 4)] {
        let dir = tempdir();
        let docs = random_docs(vocab, 60, vocab, None, true);
        let tpk = dir.path().join("a.tpk");
        write_tpk(&tpk, &docs, vocab, true);
        let ds = Dataset::open(&tpk).expect("open");
        let prefix = dir.path().join("corpus");
        let report = megatron::export(&ds, &prefix, false).expect("export");
        assert_eq!(report.documents, 60);
        assert_eq!(
            report.files,
            vec![dir.path().join("corpus.bin"), dir.path().join("corpus.idx")]
        );
        assert!(
            report.notes.iter().any(|n| n.contains("loss mask")),
            "{:?}",
            report.notes
        );

        let idx = fs::read(dir.path().join("corpus.idx")).expect("idx");
        assert_eq!(&idx[..9], b"MMIDIDX\x00\x00");
        assert_eq!(u64::from_le_bytes(idx[9..17].try_into().unwrap()), 1);
        assert_eq!(idx[17], code, "vocab {vocab}");
        assert_eq!(u64::from_le_bytes(idx[18..26].try_into().unwrap()), 60);
        assert_eq!(u64::from_le_bytes(idx[26..34].try_into().unwrap()), 61);
        assert_eq!(idx.len(), 34 + 60 * 12 + 61 * 8);
        let width = if code == 8 { 2 } else { 4 };
        let n_tokens: usize = docs.iter().map(|(t, _)| t.len()).sum();
        assert_eq!(
            fs::metadata(dir.path().join("corpus.bin")).unwrap().len(),
            (n_tokens * width) as u64
        );

        // Import by prefix, by .idx and by .bin: the same documents.
        for input in ["corpus", "corpus.idx", "corpus.bin"] {
            let back = megatron_import(dir.path(), &dir.path().join(input), vocab).expect("import");
            assert_eq!(ids(&back), ids(&docs), "vocab {vocab}, input {input}");
        }
    }
}

#[test]
fn megatron_hand_written_index() {
    let dir = tempdir();
    let prefix = dir.path().join("hand");
    // uint16 (code 8). Three sequences stored out of order in .bin: [6] at 0, [1 2 3] at 2,
    // [4 5] at 8. Documents: sequences 0..2, none (an empty document), 2..3.
    let bin = u16_bytes(&[6, 1, 2, 3, 4, 5]);
    let idx = megatron_idx(8, &[3, 2, 1], &[2, 8, 0], &[0, 2, 2, 3]);
    assert_eq!(idx.len(), 34 + 3 * 4 + 3 * 8 + 4 * 8);
    fs::write(dir.path().join("hand.bin"), &bin).unwrap();
    fs::write(dir.path().join("hand.idx"), &idx).unwrap();
    let docs = megatron_import(dir.path(), &prefix, 10).expect("import");
    assert_eq!(ids(&docs), vec![vec![1, 2, 3, 4, 5], vec![], vec![6]]);

    // int32 (code 4) with one int8 mode per sequence (multimodal), ids above 2^16.
    let bin: Vec<u8> = [100_000i32, 7, 99_999]
        .iter()
        .flat_map(|t| t.to_le_bytes())
        .collect();
    let mut idx = megatron_idx(4, &[2, 1], &[0, 8], &[0, 1, 2]);
    idx.extend_from_slice(&[0, 1]);
    fs::write(dir.path().join("hand.bin"), &bin).unwrap();
    fs::write(dir.path().join("hand.idx"), &idx).unwrap();
    let out = dir.path().join("mm.tpk");
    let report = import_with(&out, 100_277, |w| megatron::import_into(w, &prefix)).expect("import");
    assert_eq!(ids(&read_tpk(&out)), vec![vec![100_000, 7], vec![99_999]]);
    assert!(
        report.notes.iter().any(|n| n.contains("mode")),
        "{report:?}"
    );

    // Every integer dtype: uint8 (1), int8 (2), int16 (3), int64 (5).
    for (code, width) in [(1u8, 1usize), (2, 1), (3, 2), (5, 8)] {
        let bin: Vec<u8> = [3u64, 1, 2]
            .iter()
            .flat_map(|t| t.to_le_bytes()[..width].to_vec())
            .collect();
        let idx = megatron_idx(code, &[3], &[0], &[0, 1]);
        fs::write(dir.path().join("hand.bin"), &bin).unwrap();
        fs::write(dir.path().join("hand.idx"), &idx).unwrap();
        let docs = megatron_import(dir.path(), &prefix, 10).expect("import");
        assert_eq!(ids(&docs), vec![vec![3, 1, 2]], "code {code}");
    }

    // An empty dataset: no sequence, the document index holding its leading 0.
    fs::write(dir.path().join("hand.bin"), b"").unwrap();
    fs::write(dir.path().join("hand.idx"), megatron_idx(8, &[], &[], &[0])).unwrap();
    assert!(megatron_import(dir.path(), &prefix, 10)
        .expect("import")
        .is_empty());
}

/// What is broken, the `.idx`, the `.bin`, the vocabulary size, the file and byte the
/// message must name, and words it must say.
type CorruptCase = (
    &'static str,
    Vec<u8>,
    Vec<u8>,
    u64,
    &'static str,
    String,
    &'static str,
);

/// A valid uint16 dataset: 3 sequences, 2 documents; .bin is 12 bytes.
fn valid_megatron() -> (Vec<u8>, Vec<u8>) {
    let bin = u16_bytes(&[1, 2, 3, 4, 5, 6]);
    let idx = megatron_idx(8, &[2, 3, 1], &[0, 4, 10], &[0, 2, 3]);
    (idx, bin)
}

#[test]
fn megatron_corrupt_files_name_file_and_byte() {
    let (idx, bin) = valid_megatron();
    let seq = 3usize;
    let pointers_at = 34 + 4 * seq;
    let docs_at = pointers_at + 8 * seq;
    let set = |mut b: Vec<u8>, at: usize, bytes: &[u8]| {
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    let i32_bin = |ids: &[i32]| -> Vec<u8> { ids.iter().flat_map(|t| t.to_le_bytes()).collect() };
    let cases: Vec<CorruptCase> = vec![
        (
            "magic",
            set(idx.clone(), 0, b"MMIDIDY"),
            bin.clone(),
            10,
            "c.idx",
            "byte 0".into(),
            "magic",
        ),
        (
            "version",
            set(idx.clone(), 9, &2u64.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            "byte 9".into(),
            "version 2",
        ),
        (
            "unknown dtype",
            set(idx.clone(), 17, &[9]),
            bin.clone(),
            10,
            "c.idx",
            "byte 17".into(),
            "dtype code 9",
        ),
        (
            "float dtype",
            set(idx.clone(), 17, &[6]),
            bin.clone(),
            10,
            "c.idx",
            "byte 17".into(),
            "float64",
        ),
        (
            "sequence count overflow",
            set(idx.clone(), 18, &u64::MAX.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", idx.len()),
            "more than 2^64",
        ),
        (
            "sequence count past the end",
            set(idx.clone(), 18, &1_000_000u64.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", idx.len()),
            "1000000 sequences",
        ),
        (
            "empty document index",
            set(idx.clone(), 26, &0u64.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            "byte 26".into(),
            "leading 0",
        ),
        (
            "trailing bytes",
            [idx.clone(), vec![0; 2]].concat(),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", idx.len()),
            "follow the document index",
        ),
        (
            "document index not starting at 0",
            set(idx.clone(), docs_at, &1i64.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {docs_at}"),
            "starts at 1",
        ),
        (
            "document index decreasing",
            set(idx.clone(), docs_at + 8, &(-1i64).to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", docs_at + 8),
            "below the entry before it",
        ),
        (
            "document index not ending at the sequence count",
            set(idx.clone(), docs_at + 16, &2i64.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", docs_at + 16),
            "not at the sequence count 3",
        ),
        (
            "negative length",
            set(idx.clone(), 34 + 4, &(-3i32).to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", 34 + 4),
            "negative length",
        ),
        (
            "pointer past the end of .bin",
            set(idx.clone(), pointers_at + 16, &11i64.to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", pointers_at + 16),
            "not inside",
        ),
        (
            "negative pointer",
            set(idx.clone(), pointers_at + 8, &(-4i64).to_le_bytes()),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", pointers_at + 8),
            "not inside",
        ),
        (
            "overlapping sequences",
            // sequence 1 becomes 4 tokens at byte 2: bytes 2..10, over sequence 0's 0..4.
            set(
                set(idx.clone(), 34 + 4, &4i32.to_le_bytes()),
                pointers_at + 8,
                &2i64.to_le_bytes(),
            ),
            bin.clone(),
            10,
            "c.idx",
            format!("byte {}", pointers_at + 16),
            "overlap",
        ),
        (
            "truncated .bin",
            idx.clone(),
            bin[..11].to_vec(),
            10,
            "c.idx",
            format!("byte {}", pointers_at + 16),
            "not inside",
        ),
        (
            "negative token",
            megatron_idx(4, &[3], &[0], &[0, 1]),
            i32_bin(&[1, -5, 2]),
            10,
            "c.bin",
            "byte 4".into(),
            "token id -5 (int32) is negative",
        ),
        (
            "token wider than 32 bits",
            megatron_idx(5, &[1], &[0], &[0, 1]),
            (1i64 << 40).to_le_bytes().to_vec(),
            10,
            "c.bin",
            "byte 0".into(),
            "wider than 32 bits",
        ),
        (
            "token outside the vocabulary",
            idx.clone(),
            bin.clone(),
            6,
            // document 1 is sequence 2 at byte 10: id 6.
            "c.bin",
            "byte 10".into(),
            "token id 6 is not below the vocabulary size 6",
        ),
        (
            "token outside the vocabulary in a later sequence of a document",
            idx.clone(),
            u16_bytes(&[1, 2, 3, 9, 5, 6]),
            7,
            "c.bin",
            "byte 6".into(),
            "token id 9",
        ),
    ];
    for (what, idx, bin, vocab, file, byte, words) in cases {
        let dir = tempdir();
        fs::write(dir.path().join("c.idx"), &idx).unwrap();
        fs::write(dir.path().join("c.bin"), &bin).unwrap();
        let out = dir.path().join("out.tpk");
        let msg = err_text(import_with(&out, vocab, |w| {
            megatron::import_into(w, &dir.path().join("c"))
        }));
        let at = format!("{} at {byte}", dir.path().join(file).display());
        assert!(msg.contains(&at), "{what}: {msg:?} does not name {at:?}");
        assert!(
            msg.contains(words),
            "{what}: {msg:?} does not say {words:?}"
        );
        assert_eq!(
            listing(dir.path()),
            vec!["c.bin", "c.idx"],
            "{what}: output left behind"
        );
    }

    // A missing .bin is an I/O error naming it.
    let dir = tempdir();
    fs::write(dir.path().join("c.idx"), valid_megatron().0).unwrap();
    let msg = err_text(megatron_import(dir.path(), &dir.path().join("c"), 10));
    assert!(msg.contains("c.bin"), "{msg}");
}

#[test]
fn megatron_truncations_and_bit_flips_never_panic() {
    let (idx, bin) = valid_megatron();
    let dir = tempdir();
    let prefix = dir.path().join("t");
    let try_import = |idx: &[u8], bin: &[u8]| {
        fs::write(dir.path().join("t.idx"), idx).unwrap();
        fs::write(dir.path().join("t.bin"), bin).unwrap();
        megatron_import(dir.path(), &prefix, 1000)
    };
    assert_eq!(
        ids(&try_import(&idx, &bin).expect("valid")),
        vec![vec![1, 2, 3, 4, 5], vec![6]]
    );
    for cut in 0..idx.len() {
        let msg = err_text(try_import(&idx[..cut], &bin));
        assert!(msg.contains("t.idx at byte"), "cut {cut}: {msg}");
    }
    for cut in 0..bin.len() {
        let msg = err_text(try_import(&idx, &bin[..cut]));
        assert!(msg.contains("t.idx at byte"), "cut .bin at {cut}: {msg}");
    }
    let mut accepted = 0;
    for at in 0..idx.len() {
        for bit in [0u8, 3, 7] {
            let mut flipped = idx.clone();
            flipped[at] ^= 1 << bit;
            match try_import(&flipped, &bin) {
                Ok(_) => accepted += 1,
                Err(e) => assert!(e.to_string().contains(" at byte "), "{e}"),
            }
        }
    }
    // Flips in the magic, header, counts and document index are all refused; some flips of
    // lengths and pointers give another valid dataset.
    assert!(accepted < idx.len(), "{accepted} flips accepted");
}

#[test]
fn megatron_export_leaves_nothing_on_error() {
    let dir = tempdir();
    let tpk = dir.path().join("big.tpk");
    // int32 cannot hold ids of 2^31 and above: the export fails at document 1.
    write_tpk(
        &tpk,
        &[
            (vec![1, 2], vec![true; 2]),
            (vec![3, 3_000_000_000], vec![true; 2]),
        ],
        1 << 32,
        false,
    );
    let ds = Dataset::open(&tpk).expect("open");
    let msg = err_text(megatron::export(&ds, &dir.path().join("m"), false));
    assert!(msg.contains("document 1, token 1"), "{msg}");
    assert_eq!(listing(dir.path()), vec!["big.tpk"]);
}

// ---------------------------------------------------------------------------------------
// nanoGPT

const GPT2_EOS: u32 = 50_256;

#[test]
fn nanogpt_round_trip() {
    let dir = tempdir();
    let docs = with_eos(&random_docs(7, 80, 50_257, Some(GPT2_EOS), false), GPT2_EOS);
    let tpk = dir.path().join("a.tpk");
    write_tpk(&tpk, &docs, 50_257, false);
    let ds = Dataset::open(&tpk).expect("open");
    let bin = dir.path().join("train.bin");
    let report = nanogpt::export(&ds, &bin, GPT2_EOS, false).expect("export");
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    let n_tokens: usize = docs.iter().map(|(t, _)| t.len()).sum();
    assert_eq!(fs::read(&bin).unwrap(), u16_bytes(&docs.concat_ids()));
    assert_eq!(report.tokens, n_tokens as u64);

    let out = dir.path().join("b.tpk");
    let report =
        import_with(&out, 50_257, |w| nanogpt::import_into(w, &bin, GPT2_EOS)).expect("import");
    assert_eq!(report.documents, 80);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert_eq!(read_tpk(&out), docs);
}

trait ConcatIds {
    fn concat_ids(&self) -> Vec<u32>;
}

impl ConcatIds for Vec<Doc> {
    fn concat_ids(&self) -> Vec<u32> {
        self.iter().flat_map(|(t, _)| t.iter().copied()).collect()
    }
}

#[test]
fn nanogpt_export_appends_eos_where_missing() {
    let dir = tempdir();
    let tpk = dir.path().join("a.tpk");
    let docs: Vec<Doc> = vec![
        (vec![1, 2], vec![true, false]),
        (vec![3, 9], vec![true; 2]),
        (vec![], vec![]),
        (vec![4, 9, 5], vec![true; 3]),
    ];
    write_tpk(&tpk, &docs, 10, true);
    let ds = Dataset::open(&tpk).expect("open");
    let bin = dir.path().join("x.bin");
    let report = nanogpt::export(&ds, &bin, 9, false).expect("export");
    assert_eq!(
        fs::read(&bin).unwrap(),
        u16_bytes(&[1, 2, 9, 3, 9, 9, 4, 9, 5, 9])
    );
    let notes = report.notes.join("\n");
    assert!(notes.contains("appended to 3 of 4 documents"), "{notes}");
    assert!(
        notes.contains("1 documents contain EOS (9) before their end"),
        "{notes}"
    );
    assert!(notes.contains("loss mask was not exported"), "{notes}");

    let out = dir.path().join("b.tpk");
    import_with(&out, 10, |w| nanogpt::import_into(w, &bin, 9)).expect("import");
    assert_eq!(
        ids(&read_tpk(&out)),
        vec![vec![1, 2, 9], vec![3, 9], vec![9], vec![4, 9], vec![5, 9]]
    );
}

#[test]
fn nanogpt_import_edges() {
    let dir = tempdir();
    let bin = dir.path().join("x.bin");
    let out = dir.path().join("b.tpk");
    let import = |eos: u32, vocab: u64| {
        let _ = fs::remove_file(&out);
        import_with(&out, vocab, |w| nanogpt::import_into(w, &bin, eos))
    };

    // Tokens after the last EOS become the last document, and the import says so.
    fs::write(&bin, u16_bytes(&[1, 9, 2, 3])).unwrap();
    let report = import(9, 10).expect("import");
    assert_eq!(ids(&read_tpk(&out)), vec![vec![1, 9], vec![2, 3]]);
    assert!(
        report.notes[0].contains("the last 2 tokens have no EOS"),
        "{report:?}"
    );

    // No EOS at all: one document, and a note that suggests a wrong id.
    let report = import(7, 10).expect("import");
    assert_eq!(ids(&read_tpk(&out)), vec![vec![1, 9, 2, 3]]);
    assert!(
        report.notes[0].contains("no EOS id 7 in the file"),
        "{report:?}"
    );

    // An empty file: an empty dataset.
    fs::write(&bin, b"").unwrap();
    assert_eq!(import(9, 10).expect("import").documents, 0);

    // Odd length, id outside the vocabulary, EOS that uint16 cannot hold.
    fs::write(&bin, [1, 0, 9, 0, 3]).unwrap();
    let msg = err_text(import(9, 10));
    assert!(
        msg.contains(&format!("{} at byte 4", bin.display())),
        "{msg}"
    );
    fs::write(&bin, u16_bytes(&[1, 9, 2, 12, 9])).unwrap();
    let msg = err_text(import(9, 10));
    assert!(
        msg.contains(&format!(
            "{} at byte 6: token id 12 is not below the vocabulary size 10",
            bin.display()
        )),
        "{msg}"
    );
    assert!(!out.exists());
    let msg = err_text(import(70_000, 100_000));
    assert!(
        msg.contains("EOS id 70000 cannot occur in a uint16 file"),
        "{msg}"
    );

    // Export refuses vocabularies uint16 cannot hold.
    let tpk = dir.path().join("big.tpk");
    write_tpk(&tpk, &[(vec![1], vec![true])], 65_537, false);
    let ds = Dataset::open(&tpk).expect("open");
    let msg = err_text(nanogpt::export(&ds, &dir.path().join("n.bin"), 1, false));
    assert!(msg.contains("uint16"), "{msg}");
    let tpk = dir.path().join("edge.tpk");
    write_tpk(&tpk, &[(vec![65_535], vec![true])], 65_536, false);
    let ds = Dataset::open(&tpk).expect("open");
    nanogpt::export(&ds, &dir.path().join("n.bin"), 0, false).expect("65,536 ids fit uint16");
}

// ---------------------------------------------------------------------------------------
// OLMo-core

#[test]
fn olmo_round_trip_with_masks_in_each_dtype() {
    for (vocab, width) in [(200u64, 1usize), (50_280, 2), (100_278, 4)] {
        let dir = tempdir();
        let eos = (vocab - 1) as u32;
        let docs = with_eos(&random_docs(vocab, 50, vocab, Some(eos), true), eos);
        let tpk = dir.path().join("a.tpk");
        write_tpk(&tpk, &docs, vocab, true);
        let ds = Dataset::open(&tpk).expect("open");
        let tokens = dir.path().join("part-0.npy");
        let mask = dir.path().join("part-0.mask.npy");
        let report = olmo::export(&ds, &tokens, Some(&mask), None, eos, false).expect("export");
        assert!(report.notes.is_empty(), "{:?}", report.notes);
        assert_eq!(report.files, vec![tokens.clone(), mask.clone()]);
        let n: usize = docs.iter().map(|(t, _)| t.len()).sum();
        assert_eq!(fs::metadata(&tokens).unwrap().len(), (n * width) as u64);
        let mask_bytes = fs::read(&mask).unwrap();
        let want: Vec<u8> = docs
            .iter()
            .flat_map(|(_, m)| m.iter().map(|&b| u8::from(b)))
            .collect();
        assert_eq!(mask_bytes, want, "one np.bool_ byte per token");

        let out = dir.path().join("b.tpk");
        let dtype = RawDType::for_vocab(vocab);
        assert_eq!(dtype.width() as usize, width);
        import_with(&out, vocab, |w| {
            olmo::import_into(w, &tokens, Some(&mask), dtype, Boundaries::Eos(eos))
        })
        .expect("import");
        assert_eq!(read_tpk(&out), docs, "vocab {vocab}");
    }
}

#[test]
fn olmo_document_boundaries() {
    let dir = tempdir();
    let tokens = dir.path().join("t.npy");
    let out = dir.path().join("b.tpk");
    let (eos, bos) = (1u32, 2u32);
    // BOS a EOS BOS b EOS c EOS BOS d
    fs::write(&tokens, [2u8, 10, 1, 2, 11, 1, 12, 1, 2, 13]).unwrap();
    let split = |b: Boundaries| {
        let _ = fs::remove_file(&out);
        import_with(&out, 256, |w| {
            olmo::import_into(w, &tokens, None, RawDType::U8, b)
        })
        .expect("import");
        ids(&read_tpk(&out))
    };
    assert_eq!(
        split(Boundaries::Eos(eos)),
        vec![vec![2, 10, 1], vec![2, 11, 1], vec![12, 1], vec![2, 13]]
    );
    assert_eq!(
        split(Boundaries::Bos(bos)),
        vec![vec![2, 10, 1], vec![2, 11, 1, 12, 1], vec![2, 13]]
    );
    assert_eq!(
        split(Boundaries::EosBos { eos, bos }),
        vec![vec![2, 10, 1], vec![2, 11, 1, 12, 1], vec![2, 13]]
    );
    // EOS and BOS both mark ends and starts only together: "EOS x" does not split.
    fs::write(&tokens, [2u8, 10, 1, 11, 2, 1, 2, 12]).unwrap();
    assert_eq!(
        split(Boundaries::EosBos { eos, bos }),
        vec![vec![2, 10, 1, 11, 2, 1], vec![2, 12]]
    );
}

#[test]
fn olmo_bad_files_name_file_and_byte() {
    let dir = tempdir();
    let tokens = dir.path().join("t.npy");
    let mask = dir.path().join("m.npy");
    let out = dir.path().join("b.tpk");
    let import = |dtype: RawDType, with_mask: bool| {
        import_with(&out, 1000, |w| {
            olmo::import_into(
                w,
                &tokens,
                with_mask.then_some(mask.as_path()),
                dtype,
                Boundaries::Eos(0),
            )
        })
    };
    let at = |p: &Path, byte: u64| format!("{} at byte {byte}", p.display());

    fs::write(&tokens, u16_bytes(&[5, 6, 0, 7, 0])).unwrap();
    fs::write(&mask, [1u8, 0, 1, 2, 1]).unwrap();
    let msg = err_text(import(RawDType::U16, true));
    assert!(
        msg.contains(&at(&mask, 3)) && msg.contains("np.bool_"),
        "{msg}"
    );

    fs::write(&mask, [1u8, 0, 1, 1]).unwrap();
    let msg = err_text(import(RawDType::U16, true));
    assert!(
        msg.contains(&at(&mask, 4)) && msg.contains("5 tokens"),
        "{msg}"
    );

    // What np.save writes: refused, since OLMo-core would read the header as data.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&[0u8; 120]);
    fs::write(&mask, &npy).unwrap();
    let msg = err_text(import(RawDType::U16, true));
    assert!(
        msg.contains(&at(&mask, 0)) && msg.contains("npy header"),
        "{msg}"
    );
    fs::write(&tokens, &npy).unwrap();
    let msg = err_text(import(RawDType::U16, false));
    assert!(
        msg.contains(&at(&tokens, 0)) && msg.contains("npy header"),
        "{msg}"
    );

    fs::write(&tokens, [0u8; 6]).unwrap();
    let msg = err_text(import(RawDType::U32, false));
    assert!(
        msg.contains(&at(&tokens, 4)) && msg.contains("not a multiple of 4"),
        "{msg}"
    );

    let big: Vec<u8> = [3u64, 1 << 33, 0]
        .iter()
        .flat_map(|t| t.to_le_bytes())
        .collect();
    fs::write(&tokens, big).unwrap();
    let msg = err_text(import(RawDType::U64, false));
    assert!(
        msg.contains(&at(&tokens, 8)) && msg.contains("32 bits"),
        "{msg}"
    );

    fs::write(&tokens, [3u8, 0, 200, 0]).unwrap();
    let msg = err_text(import_with(&out, 100, |w| {
        olmo::import_into(w, &tokens, None, RawDType::U8, Boundaries::Eos(0))
    }));
    assert!(
        msg.contains(&at(&tokens, 2)) && msg.contains("token id 200"),
        "{msg}"
    );
    assert!(!out.exists());

    // Export: a dtype too narrow for the vocabulary is refused before anything is written.
    let tpk = dir.path().join("a.tpk");
    write_tpk(&tpk, &[(vec![1, 2], vec![true, false])], 1000, true);
    let ds = Dataset::open(&tpk).expect("open");
    let before = listing(dir.path());
    let msg = err_text(olmo::export(
        &ds,
        &dir.path().join("x.npy"),
        None,
        Some(RawDType::U8),
        0,
        false,
    ));
    assert!(msg.contains("uint8"), "{msg}");
    assert_eq!(listing(dir.path()), before);
    // Without a mask path, a mask with zeros is reported as not exported.
    let r: ExportReport =
        olmo::export(&ds, &dir.path().join("x.npy"), None, None, 0, false).expect("export");
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("loss mask was not exported")),
        "{r:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The command line

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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn cli_export_and_import_each_format() {
    let dir = tempdir();
    let d = dir.path();
    let eos = 100_257u32;
    let docs = with_eos(&random_docs(3, 30, 100_277, Some(eos), true), eos);
    let tpk = d.join("a.tpk");
    let mut o = options(100_277);
    o.metadata.eos_id = Some(eos);
    let mut w = Writer::create(&tpk, o).expect("create");
    for (t, m) in &docs {
        w.push_document(t, Some(m)).expect("push");
    }
    w.finish().expect("finish");

    // Megatron, by prefix.
    let o = tokpack(&[
        "export",
        "--to",
        "megatron",
        s(&tpk),
        "-o",
        s(&d.join("m")),
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("30 documents"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("note: the loss mask was not exported"),
        "{}",
        stdout(&o)
    );
    let out = d.join("m.tpk");
    let o = tokpack(&[
        "import",
        "--from",
        "megatron",
        s(&d.join("m")),
        "-o",
        s(&out),
        "--vocab-size",
        "100277",
        "--tokenizer",
        "cl100k_base",
        "--eos-id",
        "100257",
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("imported 1 megatron input into")
            && stdout(&o).contains("30 documents"),
        "{}",
        stdout(&o)
    );
    assert_eq!(ids(&read_tpk(&out)), ids(&docs));
    let meta = Dataset::open(&out).expect("open").metadata_json();
    assert_eq!(meta["tokenizer"], "cl100k_base");
    assert_eq!(meta["eos_id"], 100_257);
    assert_eq!(meta["imported_from"]["format"], "megatron");

    // OLMo, with the mask, as two inputs: the documents twice.
    let (t, m) = (d.join("o.npy"), d.join("o.mask.npy"));
    let o = tokpack(&[
        "export",
        "--to",
        "olmo",
        s(&tpk),
        "-o",
        s(&t),
        "--mask",
        s(&m),
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.join("o.tpk");
    let o = tokpack(&[
        "import",
        "--from",
        "olmo",
        s(&t),
        s(&t),
        "--mask",
        s(&m),
        "--mask",
        s(&m),
        "-o",
        s(&out),
        "--vocab-size",
        "100277",
        "--eos-id",
        "100257",
        "--no-sync",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("60 documents"), "{}", stdout(&o));
    assert!(stdout(&o).contains("with loss mask"), "{}", stdout(&o));
    assert_eq!(read_tpk(&out), [docs.clone(), docs.clone()].concat());

    // nanoGPT needs ids below 65,536: a smaller dataset.
    let small = with_eos(&random_docs(4, 20, 50_257, Some(GPT2_EOS), false), GPT2_EOS);
    let tpk = d.join("small.tpk");
    write_tpk(&tpk, &small, 50_257, false);
    let bin = d.join("train.bin");
    let o = tokpack(&[
        "export",
        "--to",
        "nanogpt",
        s(&tpk),
        "-o",
        s(&bin),
        "--eos-id",
        "50256",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = d.join("n.tpk");
    let o = tokpack(&[
        "import",
        "--from",
        "nanogpt",
        s(&bin),
        "-o",
        s(&out),
        "--vocab-size",
        "50257",
        "--eos-id",
        "50256",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_tpk(&out), small);
}

#[test]
fn cli_refuses_cleanly() {
    let dir = tempdir();
    let d = dir.path();
    let bin = d.join("x.bin");
    fs::write(&bin, u16_bytes(&[1, 2, 300, 9])).unwrap();
    let out = d.join("out.tpk");
    let fail = |args: &[&str], says: &str| {
        let o = tokpack(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(!out.exists(), "{args:?} left {}", out.display());
    };
    fail(
        &[
            "import",
            "--from",
            "nanogpt",
            s(&bin),
            "-o",
            s(&out),
            "--vocab-size",
            "100",
            "--eos-id",
            "9",
        ],
        &format!("{} at byte 4: token id 300", bin.display()),
    );
    fail(
        &[
            "import",
            "--from",
            "nanogpt",
            s(&bin),
            "-o",
            s(&out),
            "--vocab-size",
            "1000",
        ],
        "needs --eos-id",
    );
    fail(
        &[
            "import",
            "--from",
            "olmo",
            s(&bin),
            "-o",
            s(&out),
            "--vocab-size",
            "1000",
        ],
        "--eos-id and/or --bos-id",
    );
    fail(
        &[
            "import",
            "--from",
            "megatron",
            s(&bin),
            "--mask",
            s(&bin),
            "-o",
            s(&out),
            "--vocab-size",
            "1000",
        ],
        "--mask is for --from olmo",
    );
    fail(
        &[
            "import",
            "--from",
            "olmo",
            s(&bin),
            s(&bin),
            "--mask",
            s(&bin),
            "-o",
            s(&out),
            "--vocab-size",
            "1000",
            "--eos-id",
            "9",
        ],
        "1 --mask files for 2 inputs",
    );
    fail(
        &[
            "import",
            "--from",
            "megatron",
            s(&d.join("missing")),
            "-o",
            s(&out),
            "--vocab-size",
            "1000",
        ],
        "missing.idx",
    );
    // Export without an EOS id to use.
    let tpk = d.join("a.tpk");
    write_tpk(&tpk, &[(vec![1, 2], vec![true; 2])], 1000, false);
    fail(
        &["export", "--to", "nanogpt", s(&tpk), "-o", s(&out)],
        "has no eos_id in its metadata",
    );
    // A corrupt dataset is refused before export.
    let mut bytes = fs::read(&tpk).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    fs::write(&tpk, &bytes).unwrap();
    fail(
        &["export", "--to", "megatron", s(&tpk), "-o", s(&out)],
        "export refused",
    );
}

// ---------------------------------------------------------------------------------------
// The files as the projects themselves write and read them

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn python(script: &str, args: &[&Path]) -> Output {
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn numpy_written_files_import_and_exports_read_back() {
    if !python_has("numpy") {
        println!("skipped: python3 cannot import numpy");
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    // nanoGPT's prepare.py: ids + [eot] per document, np.uint16, tofile. OLMo-core:
    // np.memmap(mode="w+") for tokens (uint32 for a 100,278-id vocabulary) and an np.bool_
    // label mask.
    let script = r#"
import json, sys
import numpy as np
nano, olmo_tokens, olmo_mask, expected = sys.argv[1:5]
rng = np.random.default_rng(0)
docs = []
for _ in range(25):
    n = int(rng.integers(0, 30))
    docs.append(rng.integers(0, 50256, size=n).tolist() + [50256])
arr = np.array([t for d in docs for t in d], dtype=np.uint16)
arr.tofile(nano)
odocs, omask = [], []
for _ in range(25):
    n = int(rng.integers(0, 30))
    odocs.append(rng.integers(0, 100257, size=n).tolist() + [100257])
    omask.append((rng.integers(0, 3, size=n + 1) > 0).tolist())
flat = [t for d in odocs for t in d]
mm = np.memmap(olmo_tokens, dtype=np.uint32, mode="w+", shape=(len(flat),))
mm[:] = flat
mm.flush()
del mm
mk = np.memmap(olmo_mask, dtype=np.bool_, mode="w+", shape=(len(flat),))
mk[:] = [b for m in omask for b in m]
mk.flush()
del mk
json.dump({"nano": docs, "olmo": odocs, "olmo_mask": omask}, open(expected, "w"))
"#;
    let (nano, ot, om, exp) = (
        d.join("train.bin"),
        d.join("t.npy"),
        d.join("m.npy"),
        d.join("e.json"),
    );
    python(script, &[&nano, &ot, &om, &exp]);
    let expected: serde_json::Value =
        serde_json::from_slice(&fs::read(&exp).unwrap()).expect("json");
    let as_docs = |v: &serde_json::Value| -> Vec<Vec<u32>> {
        serde_json::from_value(v.clone()).expect("documents")
    };

    let out = d.join("n.tpk");
    import_with(&out, 50_257, |w| nanogpt::import_into(w, &nano, GPT2_EOS)).expect("import");
    assert_eq!(ids(&read_tpk(&out)), as_docs(&expected["nano"]));

    let out = d.join("o.tpk");
    import_with(&out, 100_278, |w| {
        olmo::import_into(
            w,
            &ot,
            Some(&om),
            RawDType::for_vocab(100_278),
            Boundaries::Eos(100_257),
        )
    })
    .expect("import");
    let back = read_tpk(&out);
    assert_eq!(ids(&back), as_docs(&expected["olmo"]));
    let masks: Vec<Vec<bool>> =
        serde_json::from_value(expected["olmo_mask"].clone()).expect("masks");
    assert_eq!(
        back.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>(),
        masks
    );

    // Our exports, read the way the projects read them.
    let ds = Dataset::open(&out).expect("open");
    let (t2, m2) = (d.join("t2.npy"), d.join("m2.npy"));
    olmo::export(&ds, &t2, Some(&m2), None, 100_257, false).expect("export");
    let check = r#"
import sys
import numpy as np
a, b, c, d = sys.argv[1:5]
assert np.array_equal(np.memmap(a, dtype=np.uint32, mode="r"), np.memmap(c, dtype=np.uint32, mode="r"))
assert np.array_equal(np.memmap(b, dtype=np.bool_, mode="r"), np.memmap(d, dtype=np.bool_, mode="r"))
"#;
    python(check, &[&ot, &om, &t2, &m2]);
}

fn megatron_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/interop/make_megatron.py")
}

#[test]
fn megatron_core_writer_and_reader() {
    if !python_has("megatron.core") {
        println!(
            "skipped: python3 cannot import megatron.core (pip install megatron-core, which pulls torch)"
        );
        return;
    }
    for vocab in [50_257u64, 100_277] {
        let dir = tempdir();
        let d = dir.path();
        let prefix = d.join("mc");
        let expected = d.join("expected.json");
        let o = Command::new("python3")
            .arg(megatron_script())
            .args(["write", s(&prefix), &vocab.to_string(), s(&expected)])
            .output()
            .expect("run make_megatron.py");
        assert!(o.status.success(), "{}", stderr(&o));
        let want: Vec<Vec<u32>> =
            serde_json::from_slice(&fs::read(&expected).unwrap()).expect("json");

        let out = d.join("mc.tpk");
        import_with(&out, vocab, |w| megatron::import_into(w, &prefix)).expect("import");
        assert_eq!(ids(&read_tpk(&out)), want, "vocab {vocab}");

        let ds = Dataset::open(&out).expect("open");
        let again = d.join("again");
        megatron::export(&ds, &again, false).expect("export");
        let o = Command::new("python3")
            .arg(megatron_script())
            .args(["read", s(&again), s(&expected)])
            .output()
            .expect("run make_megatron.py");
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        println!("{}", stdout(&o).trim());
    }
}
