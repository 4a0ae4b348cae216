//! Shared by the integration tests: a tiny deterministic generator, a raw file builder that
//! lays out sections by the spec's rules (independent of `Writer`), and the catalogue of
//! valid and invalid files that become the golden vectors in `spec/vectors/`.

#![allow(dead_code)]
// The catalogues read best as one push per case, with setup statements between some of them.
#![allow(clippy::vec_init_then_push)]

pub mod overlays;
pub mod plans;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tokpack::format::header::{Header, HEADER_LEN, MAGIC};
use tokpack::format::section_table::{SectionEntry, ENTRY_LEN, FLAG_REQUIRED};
use tokpack::{AlignedBytes, Dataset, Metadata, Writer, WriterOptions};
use zerocopy::byteorder::{U16, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

/// A document: token ids and an optional mask.
pub type Doc = (Vec<u32>, Option<Vec<bool>>);

/// splitmix64: deterministic pseudo-random numbers for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `n` documents of lengths below `max_len` (some empty) with ids below `vocab`.
pub fn random_docs(seed: u64, n: usize, max_len: u64, vocab: u64, masks: bool) -> Vec<Doc> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let len = rng.below(max_len) as usize;
            let toks: Vec<u32> = (0..len).map(|_| rng.below(vocab) as u32).collect();
            let mask =
                (masks && rng.below(4) != 0).then(|| (0..len).map(|_| rng.below(3) != 0).collect());
            (toks, mask)
        })
        .collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Writes `docs` with the crate's `Writer` and returns the file's bytes.
pub fn write_with(docs: &[Doc], options: WriterOptions) -> Vec<u8> {
    let dir = tempdir();
    let path = dir.path().join("d.tpk");
    let mut w = Writer::create(&path, options).expect("create");
    for (t, m) in docs {
        w.push_document(t, m.as_deref()).expect("push");
    }
    w.finish().expect("finish");
    std::fs::read(&path).expect("read back")
}

pub fn fixed_options(vocab: u64) -> WriterOptions {
    let mut o = WriterOptions::new(vocab);
    o.dataset_id = Some(*b"tokpack-vectors!");
    o.sync = false;
    o.metadata.writer = Some("tokpack test vectors".into());
    o
}

pub fn open_bytes(bytes: &[u8]) -> tokpack::Result<Dataset<AlignedBytes>> {
    Dataset::from_bytes(AlignedBytes::copy_from(bytes))
}

/// The expected contents of a valid file, in the JSON shape of spec section 10.
pub fn expected_json(
    docs: &[Doc],
    vocab: u64,
    dtype: &str,
    metadata: &Metadata,
    id: [u8; 16],
) -> Value {
    let any_mask = docs.iter().any(|(_, m)| m.is_some());
    let masks = any_mask.then(|| {
        docs.iter()
            .map(|(t, m)| match m {
                Some(m) => m.iter().map(|&b| u8::from(b)).collect::<Vec<_>>(),
                None => vec![1u8; t.len()],
            })
            .collect::<Vec<_>>()
    });
    json!({
        "version": [1, 0],
        "dataset_id": id.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "dtype": dtype,
        "vocab_size": vocab,
        "num_tokens": docs.iter().map(|(t, _)| t.len()).sum::<usize>(),
        "num_documents": docs.len(),
        "metadata": Value::Object(metadata.to_json()),
        "documents": docs.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        "loss_mask": masks,
        "document_sources": null,
    })
}

// ---------------------------------------------------------------------------------------
// A raw builder, written from the spec, to make files the Writer would never make.

pub struct RawSection {
    pub kind: u32,
    pub dtype: u8,
    pub codec: u8,
    pub flags: u16,
    pub count: u64,
    pub body: Vec<u8>,
}

impl RawSection {
    pub fn new(kind: u32, dtype: u8, count: u64, body: Vec<u8>) -> RawSection {
        RawSection {
            kind,
            dtype,
            codec: 0,
            flags: FLAG_REQUIRED,
            count,
            body,
        }
    }
    pub fn tokens_u16(ids: &[u16]) -> RawSection {
        RawSection::new(1, 2, ids.len() as u64, ids.as_bytes().to_vec())
    }
    pub fn tokens_u8(ids: &[u8]) -> RawSection {
        RawSection::new(1, 1, ids.len() as u64, ids.to_vec())
    }
    pub fn offsets(offsets: &[u64]) -> RawSection {
        RawSection::new(2, 4, offsets.len() as u64, offsets.as_bytes().to_vec())
    }
    pub fn mask(bits: u64, bytes: Vec<u8>) -> RawSection {
        RawSection::new(3, 1, bits, bytes)
    }
    pub fn with_kind(mut self, kind: u32) -> RawSection {
        self.kind = kind;
        self
    }
    pub fn metadata(text: &str) -> RawSection {
        RawSection::new(4, 0, text.len() as u64, text.as_bytes().to_vec())
    }
    /// DOC_SOURCES (kind 11, u16), written as writers do: required flag clear.
    pub fn sources(ids: &[u16]) -> RawSection {
        RawSection {
            flags: 0,
            ..RawSection::new(11, 2, ids.len() as u64, ids.as_bytes().to_vec())
        }
    }
}

/// Writes `docs` with a source each (`names[ids[d]]`) through the writer's source API.
pub fn write_sourced(docs: &[Doc], names: &[&str], ids: &[u16], options: WriterOptions) -> Vec<u8> {
    let dir = tempdir();
    let path = dir.path().join("v.tpk");
    let mut w = tokpack::Writer::create(&path, options).expect("create");
    for n in names {
        w.source_id(n).expect("source");
    }
    for ((t, m), &id) in docs.iter().zip(ids) {
        w.push_sourced_document(id, t, m.as_deref()).expect("push");
    }
    w.finish().expect("finish");
    std::fs::read(&path).expect("read")
}

/// Lays sections out in table order at page boundaries, with CRCs and header, per spec 2-4.
pub fn build_raw(sections: &[RawSection]) -> Vec<u8> {
    let table_end = HEADER_LEN + ENTRY_LEN * sections.len() as u64;
    let mut pos = table_end;
    let mut entries = Vec::new();
    let mut body = Vec::new();
    for s in sections {
        let start = pos.div_ceil(4096) * 4096;
        body.resize((start - table_end) as usize, 0);
        body.extend_from_slice(&s.body);
        pos = start + s.body.len() as u64;
        entries.push(SectionEntry {
            kind: U32::new(s.kind),
            dtype: s.dtype,
            codec: s.codec,
            flags: U16::new(s.flags),
            offset: U64::new(start),
            length: U64::new(s.body.len() as u64),
            count: U64::new(s.count),
            crc32: U32::new(crc32fast::hash(&s.body)),
            reserved: [0; 28],
        });
    }
    let mut file = vec![0u8; HEADER_LEN as usize];
    file.extend_from_slice(entries.as_bytes());
    file.extend_from_slice(&body);
    let mut h = Header::read_from_bytes(&file[..64]).expect("64 bytes");
    h.magic = MAGIC;
    h.major = U16::new(1);
    h.dataset_id = *b"tokpack-vectors!";
    h.table_offset = U64::new(HEADER_LEN);
    h.section_count = U32::new(sections.len() as u32);
    h.file_length = U64::new(file.len() as u64);
    file[..64].copy_from_slice(h.as_bytes());
    reseal(&mut file);
    file
}

/// Recomputes the table CRC and header CRC after an edit (so that the edit, not a checksum,
/// is what a reader sees).
pub fn reseal(file: &mut [u8]) {
    let mut h = Header::read_from_bytes(&file[..64]).expect("64 bytes");
    let count = h.section_count.get() as usize;
    let end = (64 + 64 * count).min(file.len());
    h.table_crc32 = U32::new(crc32fast::hash(&file[64..end]));
    h.seal();
    file[..64].copy_from_slice(h.as_bytes());
}

/// Recomputes every section's CRC32 in the table, then the table and header CRCs.
pub fn reseal_sections(file: &mut [u8]) {
    let count = header_mut(file).section_count.get() as usize;
    for i in 0..count {
        let mut e = entry(file, i);
        let r = e.offset.get() as usize..(e.offset.get() + e.length.get()) as usize;
        e.crc32 = U32::new(crc32fast::hash(&file[r]));
        put_entry(file, i, &e);
    }
    reseal(file);
}

pub fn header_mut(file: &mut [u8]) -> Header {
    Header::read_from_bytes(&file[..64]).expect("64 bytes")
}

pub fn put_header(file: &mut [u8], h: &Header) {
    file[..64].copy_from_slice(h.as_bytes());
}

pub fn entry(file: &[u8], i: usize) -> SectionEntry {
    let at = 64 + 64 * i;
    SectionEntry::read_from_bytes(&file[at..at + 64]).expect("64 bytes")
}

pub fn put_entry(file: &mut [u8], i: usize, e: &SectionEntry) {
    let at = 64 + 64 * i;
    file[at..at + 64].copy_from_slice(e.as_bytes());
}

/// Edits entry `i` and reseals.
pub fn edit_entry(mut file: Vec<u8>, i: usize, f: impl FnOnce(&mut SectionEntry)) -> Vec<u8> {
    let mut e = entry(&file, i);
    f(&mut e);
    put_entry(&mut file, i, &e);
    reseal(&mut file);
    file
}

/// Edits the header and reseals.
pub fn edit_header(mut file: Vec<u8>, f: impl FnOnce(&mut Header)) -> Vec<u8> {
    let mut h = header_mut(&mut file);
    f(&mut h);
    put_header(&mut file, &h);
    reseal(&mut file);
    file
}

// ---------------------------------------------------------------------------------------
// The catalogue.

pub struct ValidCase {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub expected: Value,
}

pub struct InvalidCase {
    pub name: &'static str,
    pub code: &'static str,
    pub stage: &'static str,
    pub why: &'static str,
    pub bytes: Vec<u8>,
}

fn valid_from_writer(name: &'static str, docs: Vec<Doc>, options: WriterOptions) -> ValidCase {
    let vocab = options.metadata.vocab_size;
    let mut meta = options.metadata.clone();
    let id = options.dataset_id.expect("fixed id");
    let bytes = write_with(&docs, options);
    meta.writer
        .get_or_insert_with(|| format!("tokpack {}", env!("CARGO_PKG_VERSION")));
    let dtype = tokpack::format::tokens::dtype_for_vocab(vocab)
        .expect("vocab")
        .name();
    let compressed = options_compressed(&bytes);
    let mut expected = expected_json(&docs, vocab, dtype, &meta, id);
    if compressed {
        expected["version"] = json!([1, 4]);
    }
    ValidCase {
        name,
        bytes,
        expected,
    }
}

/// Whether the file's TOKENS entry (the first) has codec 1.
fn options_compressed(bytes: &[u8]) -> bool {
    entry(bytes, 0).codec == 1
}

/// A TOKENS body with codec 1 (spec 5.6), written from the spec: `tokens` as little-endian
/// bytes of `width` each, in blocks of `block` tokens; `frame(k, bytes)` may alter block
/// `k`'s frame, `offsets` the block offsets.
pub fn zstd_body(
    tokens: &[u8],
    width: usize,
    block: u32,
    frame: impl Fn(usize, Vec<u8>) -> Vec<u8>,
    offsets: impl Fn(&mut Vec<u64>),
) -> Vec<u8> {
    let chunk = block as usize * width;
    let frames: Vec<Vec<u8>> = tokens
        .chunks(chunk.max(1))
        .enumerate()
        .map(|(k, c)| frame(k, zstd::bulk::compress(c, 3).expect("zstd")))
        .collect();
    let start = 8 + 8 * (frames.len() as u64 + 1);
    let mut offs = vec![start];
    for f in &frames {
        offs.push(offs.last().unwrap() + f.len() as u64);
    }
    offsets(&mut offs);
    let mut body = Vec::new();
    body.extend_from_slice(&block.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(offs.as_bytes());
    for f in frames {
        body.extend(f);
    }
    body
}

/// Options with zstd blocks of `block` tokens.
pub fn zstd_options(vocab: u64, block: u32) -> WriterOptions {
    let mut o = fixed_options(vocab);
    o.compression = Some(tokpack::Compression {
        level: 3,
        block_tokens: block,
    });
    o
}

pub fn valid_cases() -> Vec<ValidCase> {
    let mut cases = Vec::new();
    cases.push(valid_from_writer(
        "u8_no_mask",
        random_docs(1, 9, 40, 256, false),
        fixed_options(256),
    ));
    cases.push(valid_from_writer(
        "u16_mask",
        random_docs(2, 12, 60, 50_257, true),
        fixed_options(50_257),
    ));
    cases.push(valid_from_writer(
        "u32_mask",
        random_docs(3, 7, 50, 100_352, true),
        fixed_options(100_352),
    ));
    cases.push(valid_from_writer(
        "no_documents",
        Vec::new(),
        fixed_options(1000),
    ));
    let empties: Vec<Doc> = vec![
        (vec![], None),
        (vec![5, 6, 7], Some(vec![false, true, true])),
        (vec![], Some(vec![])),
        (vec![], None),
        (vec![8; 11], None),
        (vec![], None),
    ];
    cases.push(valid_from_writer(
        "zero_length_documents",
        empties,
        fixed_options(1000),
    ));
    let full: Vec<Doc> = vec![
        (vec![0, 65_535, 256, 65_534], None),
        (vec![65_535; 17], Some(vec![true; 17])),
    ];
    cases.push(valid_from_writer(
        "u16_full_vocab",
        full,
        fixed_options(65_536),
    ));
    let mut o = fixed_options(100_277);
    o.metadata.tokenizer = Some("cl100k_base".into());
    o.metadata.eos_id = Some(100_257);
    o.metadata.bos_id = Some(100_257);
    o.metadata.pad_id = Some(100_277 - 1);
    o.metadata.extra.insert("source".into(), json!("unit test"));
    o.metadata
        .extra
        .insert("split".into(), json!({"train": 0.9, "valid": 0.1}));
    cases.push(valid_from_writer(
        "metadata_keys",
        random_docs(4, 5, 30, 100_257, false),
        o,
    ));

    // Known keys null or absent: both mean "not known".
    let docs: Vec<Doc> = vec![(vec![7, 8], None)];
    let meta_text = r#"{"bos_id":null,"tokenizer":null,"vocab_size":300,"writer":null}"#;
    let bytes = build_raw(&[
        RawSection::tokens_u16(&[7, 8]),
        RawSection::offsets(&[0, 2]),
        RawSection::metadata(meta_text),
    ]);
    let mut expected = expected_json(&docs, 300, "u16", &Metadata::new(300), *b"tokpack-vectors!");
    expected["metadata"] = serde_json::from_str(meta_text).expect("json");
    cases.push(ValidCase {
        name: "metadata_nulls",
        bytes,
        expected,
    });

    // Numbers at the edges of what 5.4 allows: the largest double, an integer past 2^64.
    let docs: Vec<Doc> = vec![(vec![9], None)];
    let meta_text = r#"{"big":18446744073709551617,"max":1.7976931348623158e308,"neg":-9223372036854775808,"small":1e-400,"vocab_size":300}"#;
    let bytes = build_raw(&[
        RawSection::tokens_u16(&[9]),
        RawSection::offsets(&[0, 1]),
        RawSection::metadata(meta_text),
    ]);
    let mut expected = expected_json(&docs, 300, "u16", &Metadata::new(300), *b"tokpack-vectors!");
    expected["metadata"] = serde_json::from_str(meta_text).expect("json");
    cases.push(ValidCase {
        name: "metadata_numbers",
        bytes,
        expected,
    });

    // A private section without the required flag: readers skip it.
    let docs: Vec<Doc> = vec![(vec![1, 2, 3], None), (vec![4, 5], None)];
    let meta_text = r#"{"vocab_size":300,"writer":"tokpack test vectors"}"#;
    let bytes = build_raw(&[
        RawSection::tokens_u16(&[1, 2, 3, 4, 5]),
        RawSection {
            flags: 0,
            ..RawSection::new(0x8000_0001, 0, 11, b"private ext".to_vec())
        },
        RawSection::offsets(&[0, 3, 5]),
        RawSection::metadata(meta_text),
    ]);
    let meta = Metadata::parse_for_tests(meta_text);
    let mut expected = expected_json(&docs, 300, "u16", &meta, *b"tokpack-vectors!");
    expected["metadata"] = serde_json::from_str(meta_text).expect("json");
    cases.push(ValidCase {
        name: "unknown_optional_section",
        bytes,
        expected,
    });

    // Source ids (1.3): three named sources, one of them never used.
    let docs = random_docs(5, 9, 30, 50_257, true);
    let names = ["web", "code", "smoltalk/everyday"];
    let ids = [0u16, 0, 2, 0, 2, 2, 0, 2, 0];
    let options = fixed_options(50_257);
    let mut meta = options.metadata.clone();
    meta.writer
        .get_or_insert_with(|| format!("tokpack {}", env!("CARGO_PKG_VERSION")));
    meta.sources = Some(names.iter().map(|s| s.to_string()).collect());
    let bytes = write_sourced(&docs, &names, &ids, options);
    let mut expected = expected_json(&docs, 50_257, "u16", &meta, *b"tokpack-vectors!");
    expected["version"] = json!([1, 3]);
    expected["document_sources"] =
        json!(ids.iter().map(|&i| names[i as usize]).collect::<Vec<_>>());
    cases.push(ValidCase {
        name: "sources",
        bytes,
        expected,
    });

    // Compressed tokens (1.4): blocks of 7 u16 tokens with a mask; blocks of 5 u32 tokens;
    // blocks of one u8 token; no tokens at all (no blocks).
    cases.push(valid_from_writer(
        "zstd_u16_mask",
        random_docs(6, 11, 30, 50_257, true),
        zstd_options(50_257, 7),
    ));
    cases.push(valid_from_writer(
        "zstd_u32",
        random_docs(7, 6, 40, 100_352, false),
        zstd_options(100_352, 5),
    ));
    cases.push(valid_from_writer(
        "zstd_u8_block_of_one",
        random_docs(8, 4, 6, 256, false),
        zstd_options(256, 1),
    ));
    cases.push(valid_from_writer(
        "zstd_no_documents",
        Vec::new(),
        zstd_options(1000, 16_384),
    ));
    // A hand-made file: one block of exactly block_tokens, and a frame without its content
    // size or checksum (readers must not rely on either).
    let ids: Vec<u16> = (0..12).map(|i| i * 7 + 1).collect();
    let bare_frame = |k: usize, _: Vec<u8>| {
        let mut c = zstd::bulk::Compressor::new(19).expect("zstd");
        c.include_contentsize(false).expect("flag");
        c.include_checksum(false).expect("flag");
        c.compress(ids[6 * k..6 * k + 6].as_bytes()).expect("zstd")
    };
    let body = zstd_body(ids.as_bytes(), 2, 6, bare_frame, |_| {});
    let mut tokens = RawSection::new(1, 2, 12, body);
    tokens.codec = 1;
    let bytes = edit_header(
        build_raw(&[
            tokens,
            RawSection::offsets(&[0, 5, 12]),
            RawSection::metadata(r#"{"vocab_size":1000}"#),
        ]),
        |h| h.minor = U16::new(4),
    );
    let docs: Vec<Doc> = vec![
        (ids[..5].iter().map(|&t| u32::from(t)).collect(), None),
        (ids[5..].iter().map(|&t| u32::from(t)).collect(), None),
    ];
    let mut expected = expected_json(
        &docs,
        1000,
        "u16",
        &Metadata::new(1000),
        *b"tokpack-vectors!",
    );
    expected["metadata"] = json!({"vocab_size": 1000});
    expected["version"] = json!([1, 4]);
    cases.push(ValidCase {
        name: "zstd_hand_made",
        bytes,
        expected,
    });
    cases
}

trait ParseForTests {
    fn parse_for_tests(text: &str) -> Metadata;
}
impl ParseForTests for Metadata {
    fn parse_for_tests(text: &str) -> Metadata {
        Metadata::parse(text.as_bytes(), 0, tokpack::DType::U32).expect("metadata")
    }
}

/// The base file the header and table mutations start from: u16 tokens with a mask.
pub fn base_file() -> Vec<u8> {
    let docs: Vec<Doc> = vec![
        (vec![10, 11, 12, 13], Some(vec![false, false, true, true])),
        (vec![], None),
        (vec![20, 21, 22, 23, 24, 25], None),
    ];
    write_with(&docs, fixed_options(1000))
}

const META: &str = r#"{"vocab_size":1000}"#;

fn raw(tokens: &[u16], offsets: &[u64], extra: Option<RawSection>, meta: &str) -> Vec<u8> {
    let mut s = vec![RawSection::tokens_u16(tokens), RawSection::offsets(offsets)];
    s.extend(extra);
    s.push(RawSection::metadata(meta));
    build_raw(&s)
}

pub fn invalid_cases() -> Vec<InvalidCase> {
    let base = base_file;
    let case = |name, code, stage, why, bytes| InvalidCase {
        name,
        code,
        stage,
        why,
        bytes,
    };
    let mut v = Vec::new();
    v.push(case(
        "truncated",
        "truncated",
        "open",
        "40 bytes: shorter than the 64-byte header",
        base()[..40].to_vec(),
    ));
    v.push(case(
        "empty_file",
        "truncated",
        "open",
        "an empty file",
        Vec::new(),
    ));
    v.push(case(
        "bad_magic",
        "bad_magic",
        "open",
        "first magic byte changed",
        edit_header(base(), |h| h.magic[0] = b'X'),
    ));
    v.push(case(
        "major_version_2",
        "unsupported_version",
        "open",
        "major version 2",
        edit_header(base(), |h| h.major = U16::new(2)),
    ));
    v.push(case(
        "unknown_flags",
        "unknown_flags",
        "open",
        "header flag bit 0 set",
        edit_header(base(), |h| h.flags = U32::new(1)),
    ));
    let mut f = base();
    f[20] ^= 0x01;
    v.push(case(
        "header_checksum",
        "header_checksum",
        "open",
        "a dataset-id byte flipped, CRC not updated",
        f,
    ));
    let mut f = base();
    f.pop();
    v.push(case(
        "truncated_last_byte",
        "file_length",
        "open",
        "last byte of the file removed",
        f,
    ));
    let mut f = base();
    f.extend_from_slice(&[0; 4096]);
    v.push(case(
        "appended_page",
        "file_length",
        "open",
        "a page appended, header not updated",
        f,
    ));
    v.push(case(
        "table_offset",
        "bad_section_table",
        "open",
        "table offset 128",
        edit_header(base(), |h| h.table_offset = U64::new(128)),
    ));
    v.push(case(
        "section_count_huge",
        "bad_section_table",
        "open",
        "section count 4294967295",
        edit_header(base(), |h| h.section_count = U32::new(u32::MAX)),
    ));
    v.push(case(
        "section_count_past_end",
        "bad_section_table",
        "open",
        "section count 1000: the table would pass the end of the file",
        edit_header(base(), |h| h.section_count = U32::new(1000)),
    ));
    let mut f = base();
    f[64 + 40] ^= 0xFF;
    let mut h = header_mut(&mut f);
    h.seal();
    put_header(&mut f, &h);
    v.push(case(
        "table_checksum",
        "table_checksum",
        "open",
        "a reserved table byte changed, table CRC not updated",
        f,
    ));
    v.push(case(
        "section_misaligned",
        "section_misaligned",
        "open",
        "DOC_OFFSETS offset moved by 8 bytes",
        edit_entry(base(), 1, |e| e.offset = U64::new(e.offset.get() + 8)),
    ));
    v.push(case(
        "section_overlap",
        "section_overlap",
        "open",
        "DOC_OFFSETS offset set to the TOKENS offset",
        edit_entry(base(), 1, |e| e.offset = U64::new(4096)),
    ));
    v.push(case(
        "section_gap",
        "section_gap",
        "open",
        "an extra page before DOC_OFFSETS",
        {
            let mut f = base();
            let at = entry(&f, 1).offset.get() as usize;
            f.splice(at..at, [0u8; 4096]);
            for i in 1..4 {
                let mut e = entry(&f, i);
                e.offset = U64::new(e.offset.get() + 4096);
                put_entry(&mut f, i, &e);
            }
            let len = f.len() as u64;
            edit_header(f, |h| h.file_length = U64::new(len))
        },
    ));
    v.push(case(
        "section_out_of_bounds",
        "section_out_of_bounds",
        "open",
        "METADATA length runs past the end of the file",
        edit_entry(base(), 3, |e| e.length = U64::new(e.length.get() + 5000)),
    ));
    v.push(case(
        "section_length_overflow",
        "section_out_of_bounds",
        "open",
        "METADATA length 2^64-1: offset + length overflows",
        edit_entry(base(), 3, |e| e.length = U64::new(u64::MAX)),
    ));
    v.push(case(
        "trailing_bytes",
        "trailing_bytes",
        "open",
        "a page after the last section, file length updated",
        {
            let mut f = base();
            f.extend_from_slice(&[0; 4096]);
            let len = f.len() as u64;
            edit_header(f, |h| h.file_length = U64::new(len))
        },
    ));
    v.push(case(
        "unknown_required_section",
        "unknown_required_section",
        "open",
        "LOSS_MASK kind changed to private kind 0x80000001, required flag kept",
        edit_entry(base(), 2, |e| e.kind = U32::new(0x8000_0001)),
    ));
    v.push(case(
        "unknown_codec",
        "unknown_codec",
        "open",
        "TOKENS codec 7",
        edit_entry(base(), 0, |e| e.codec = 7),
    ));
    v.push(case(
        "bad_dtype",
        "bad_dtype",
        "open",
        "DOC_OFFSETS dtype u32",
        edit_entry(base(), 1, |e| e.dtype = 3),
    ));
    v.push(case(
        "bad_dtype_unknown_code",
        "bad_dtype",
        "open",
        "TOKENS dtype code 9",
        edit_entry(base(), 0, |e| e.dtype = 9),
    ));
    v.push(case(
        "duplicate_section",
        "duplicate_section",
        "open",
        "LOSS_MASK entry relabelled TOKENS",
        edit_entry(base(), 2, |e| {
            e.kind = U32::new(1);
            e.dtype = 1;
            e.count = e.length;
        }),
    ));
    v.push(case(
        "missing_metadata",
        "missing_section",
        "open",
        "METADATA relabelled as an optional private kind",
        edit_entry(base(), 3, |e| {
            e.kind = U32::new(0x8000_0002);
            e.flags = U16::new(0);
        }),
    ));
    v.push(case(
        "section_length",
        "section_length",
        "open",
        "TOKENS count one more than its length holds",
        edit_entry(base(), 0, |e| e.count = U64::new(e.count.get() + 1)),
    ));
    v.push(case(
        "mask_count_mismatch",
        "count_mismatch",
        "open",
        "9 mask bits for 10 tokens",
        raw(
            &[1; 10],
            &[0, 10],
            Some(RawSection::mask(9, vec![0xFF, 0x01])),
            META,
        ),
    ));
    v.push(case(
        "no_offsets",
        "count_mismatch",
        "open",
        "DOC_OFFSETS with zero entries",
        raw(&[], &[], None, META),
    ));
    v.push(case(
        "first_offset_not_zero",
        "bad_doc_offsets",
        "open",
        "offsets [1, 10]",
        raw(&[1; 10], &[1, 10], None, META),
    ));
    v.push(case(
        "last_offset_not_n_tokens",
        "bad_doc_offsets",
        "open",
        "offsets [0, 4, 9] for 10 tokens",
        raw(&[1; 10], &[0, 4, 9], None, META),
    ));
    v.push(case(
        "mask_padding",
        "mask_padding",
        "open",
        "10 mask bits, bits 10-15 of the last byte set",
        raw(
            &[1; 10],
            &[0, 10],
            Some(RawSection::mask(10, vec![0xFF, 0xFF])),
            META,
        ),
    ));
    v.push(case(
        "metadata_not_json",
        "bad_metadata",
        "open",
        "metadata is not JSON",
        raw(&[1; 3], &[0, 3], None, "vocab_size=1000"),
    ));
    v.push(case(
        "metadata_not_object",
        "bad_metadata",
        "open",
        "metadata is a JSON array",
        raw(&[1; 3], &[0, 3], None, "[1000]"),
    ));
    v.push(case(
        "metadata_no_vocab",
        "bad_metadata",
        "open",
        "metadata without vocab_size",
        raw(&[1; 3], &[0, 3], None, r#"{"tokenizer":"x"}"#),
    ));
    v.push(case(
        "metadata_eos_out_of_vocab",
        "bad_metadata",
        "open",
        "eos_id 1000 with vocab_size 1000",
        raw(
            &[1; 3],
            &[0, 3],
            None,
            r#"{"vocab_size":1000,"eos_id":1000}"#,
        ),
    ));
    v.push(case(
        "metadata_bad_utf8",
        "bad_metadata",
        "open",
        "metadata bytes are not UTF-8",
        {
            let mut s = vec![
                RawSection::tokens_u16(&[1; 3]),
                RawSection::offsets(&[0, 3]),
            ];
            s.push(RawSection::new(4, 0, 3, vec![b'{', 0xFF, b'}']));
            build_raw(&s)
        },
    ));
    v.push(case(
        "vocab_dtype",
        "vocab_dtype",
        "open",
        "u8 tokens with vocab_size 300",
        build_raw(&[
            RawSection::tokens_u8(&[1, 2, 3]),
            RawSection::offsets(&[0, 3]),
            RawSection::metadata(r#"{"vocab_size":300}"#),
        ]),
    ));
    let mut f = base();
    let at = entry(&f, 0).offset.get() as usize;
    f[at] ^= 0x01;
    v.push(case(
        "section_checksum",
        "section_checksum",
        "verify",
        "first token byte flipped, CRC not updated",
        f,
    ));
    let mut f = base();
    let e = entry(&f, 0);
    f[(e.offset.get() + e.length.get()) as usize] = 0x55;
    v.push(case(
        "padding_not_zero",
        "padding_not_zero",
        "verify",
        "a byte of the padding after TOKENS set to 0x55",
        f,
    ));
    v.push(case(
        "offsets_decreasing",
        "bad_doc_offsets",
        "verify",
        "offsets [0, 7, 3, 10]",
        raw(&[1; 10], &[0, 7, 3, 10], None, META),
    ));
    v.push(case(
        "token_out_of_range",
        "token_out_of_range",
        "verify",
        "token 1000 with vocab_size 1000",
        raw(&[1, 999, 1000, 2], &[0, 4], None, META),
    ));
    v.push(case(
        "metadata_duplicate_key",
        "bad_metadata",
        "open",
        "vocab_size twice in one object",
        raw(
            &[1; 3],
            &[0, 3],
            None,
            r#"{"vocab_size":10,"vocab_size":1000}"#,
        ),
    ));
    v.push(case(
        "metadata_too_deep",
        "bad_metadata",
        "open",
        "a user value nested 65 deep",
        raw(
            &[1; 3],
            &[0, 3],
            None,
            &format!(
                r#"{{"vocab_size":1000,"x":{}0{}}}"#,
                "[".repeat(64),
                "]".repeat(64)
            ),
        ),
    ));
    v.push(case(
        "metadata_float_vocab",
        "bad_metadata",
        "open",
        "vocab_size written as 1000.0",
        raw(&[1; 3], &[0, 3], None, r#"{"vocab_size":1000.0}"#),
    ));
    v.push(case(
        "metadata_huge_number",
        "bad_metadata",
        "open",
        "a user number 1e400, not finite as a double",
        raw(&[1; 3], &[0, 3], None, r#"{"vocab_size":1000,"x":1e400}"#),
    ));
    v.push(case(
        "metadata_lone_surrogate",
        "bad_metadata",
        "open",
        "a string with a lone surrogate escape",
        raw(
            &[1; 3],
            &[0, 3],
            None,
            r#"{"vocab_size":1000,"x":"\ud800"}"#,
        ),
    ));
    v.push(case(
        "bad_dtype_before_length",
        "bad_dtype",
        "open",
        "TOKENS count too high and DOC_OFFSETS dtype u32: step 6 runs before step 8",
        {
            let f = edit_entry(base(), 0, |e| e.count = U64::new(e.count.get() + 1));
            edit_entry(f, 1, |e| e.dtype = 3)
        },
    ));
    v.push(case(
        "missing_before_length",
        "missing_section",
        "open",
        "TOKENS count too high and METADATA relabelled optional private: step 7 runs before step 8",
        {
            let f = edit_entry(base(), 0, |e| e.count = U64::new(e.count.get() + 1));
            edit_entry(f, 3, |e| {
                e.kind = U32::new(0x8000_0002);
                e.flags = U16::new(0);
            })
        },
    ));
    let sourced_meta = r#"{"sources":["web","code"],"vocab_size":1000}"#;
    v.push(case(
        "source_id_out_of_range",
        "bad_source",
        "verify",
        "document 1 has source id 2, but the metadata names 2 sources",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[1, 2])),
            sourced_meta,
        ),
    ));
    v.push(case(
        "source_count_mismatch",
        "count_mismatch",
        "open",
        "3 source ids for 2 documents",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[1, 0, 0])),
            sourced_meta,
        ),
    ));
    v.push(case(
        "source_ids_without_names",
        "bad_metadata",
        "open",
        "a DOC_SOURCES section but no sources key in the metadata",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[1, 0])),
            META,
        ),
    ));
    v.push(case(
        "source_names_without_ids",
        "bad_metadata",
        "open",
        "a sources key in the metadata but no DOC_SOURCES section",
        raw(&[1, 2, 3], &[0, 1, 3], None, sourced_meta),
    ));
    v.push(case(
        "source_names_null_with_ids",
        "bad_metadata",
        "open",
        "sources is null (not known) yet the file has a DOC_SOURCES section",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[1, 0])),
            r#"{"sources":null,"vocab_size":1000}"#,
        ),
    ));
    v.push(case(
        "source_names_duplicate",
        "bad_metadata",
        "open",
        "the name web twice in sources",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[1, 0])),
            r#"{"sources":["web","web"],"vocab_size":1000}"#,
        ),
    ));
    v.push(case(
        "source_name_empty",
        "bad_metadata",
        "open",
        "an empty source name",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[0, 0])),
            r#"{"sources":[""],"vocab_size":1000}"#,
        ),
    ));
    v.push(case(
        "source_names_not_strings",
        "bad_metadata",
        "open",
        "sources holds a number",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[0, 0])),
            r#"{"sources":["web",7],"vocab_size":1000}"#,
        ),
    ));
    v.push(case(
        "source_names_empty_list",
        "bad_metadata",
        "open",
        "sources is an empty array: 1 to 65,536 names",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection::sources(&[0, 0])),
            r#"{"sources":[],"vocab_size":1000}"#,
        ),
    ));
    v.push(case(
        "source_ids_u32",
        "bad_dtype",
        "open",
        "DOC_SOURCES stored as u32",
        raw(
            &[1, 2, 3],
            &[0, 1, 3],
            Some(RawSection {
                flags: 0,
                ..RawSection::new(11, 3, 2, [1u32, 0].as_bytes().to_vec())
            }),
            sourced_meta,
        ),
    ));
    // Compressed tokens (spec 5.6). Twelve u16 tokens in blocks of 5: three blocks.
    let ids: Vec<u16> = (0..12).map(|i| i * 3 + 2).collect();
    let zfile = |block: u32,
                 frame: &dyn Fn(usize, Vec<u8>) -> Vec<u8>,
                 offsets: &dyn Fn(&mut Vec<u64>),
                 meta: &str| {
        let mut t = RawSection::new(
            1,
            2,
            12,
            zstd_body(ids.as_bytes(), 2, block, frame, offsets),
        );
        t.codec = 1;
        build_raw(&[
            t,
            RawSection::offsets(&[0, 4, 12]),
            RawSection::metadata(meta),
        ])
    };
    let same = |_: usize, f: Vec<u8>| f;
    let keep = |_: &mut Vec<u64>| {};
    v.push(case(
        "zstd_block_tokens_zero",
        "bad_block",
        "open",
        "block_tokens is 0",
        {
            let mut f = zfile(5, &same, &keep, META);
            f[4096..4100].copy_from_slice(&0u32.to_le_bytes());
            reseal_sections(&mut f);
            f
        },
    ));
    v.push(case(
        "zstd_block_tokens_too_large",
        "bad_block",
        "open",
        "block_tokens is 2^24 + 1",
        {
            let mut f = zfile(5, &same, &keep, META);
            f[4096..4100].copy_from_slice(&((1u32 << 24) + 1).to_le_bytes());
            reseal_sections(&mut f);
            f
        },
    ));
    v.push(case(
        "zstd_head_short",
        "section_length",
        "open",
        "compressed TOKENS of 4 bytes: shorter than the 8-byte head",
        {
            let mut t = RawSection::new(1, 2, 12, 5u32.to_le_bytes().to_vec());
            t.codec = 1;
            build_raw(&[
                t,
                RawSection::offsets(&[0, 4, 12]),
                RawSection::metadata(META),
            ])
        },
    ));
    v.push(case(
        "zstd_offsets_do_not_fit",
        "section_length",
        "open",
        "block_tokens 1 makes 12 blocks, whose 13 offsets do not fit the section",
        {
            let mut f = zfile(5, &same, &keep, META);
            f[4096..4100].copy_from_slice(&1u32.to_le_bytes());
            reseal_sections(&mut f);
            f
        },
    ));
    v.push(case(
        "zstd_first_offset_wrong",
        "bad_block",
        "open",
        "block_offsets[0] is one past the end of the offsets",
        zfile(5, &same, &|o: &mut Vec<u64>| o[0] += 1, META),
    ));
    v.push(case(
        "zstd_last_offset_wrong",
        "bad_block",
        "open",
        "block_offsets[n_blocks] is one short of the section length",
        zfile(
            5,
            &same,
            &|o: &mut Vec<u64>| *o.last_mut().unwrap() -= 1,
            META,
        ),
    ));
    v.push(case(
        "zstd_offsets_decreasing",
        "bad_block",
        "verify",
        "block_offsets[2] is below block_offsets[1]",
        zfile(5, &same, &|o: &mut Vec<u64>| o[2] = o[1] - 1, META),
    ));
    v.push(case(
        "zstd_frame_garbage",
        "bad_block",
        "verify",
        "block 1 is not a zstd frame",
        zfile(
            5,
            &|k, f: Vec<u8>| if k == 1 { vec![0xAB; f.len()] } else { f },
            &keep,
            META,
        ),
    ));
    v.push(case(
        "zstd_frame_too_long",
        "bad_block",
        "verify",
        "block 0 decompresses to 12 bytes, not 10",
        zfile(
            5,
            &|k, f: Vec<u8>| {
                if k == 0 {
                    zstd::bulk::compress(ids[..6].as_bytes(), 3).expect("zstd")
                } else {
                    f
                }
            },
            &keep,
            META,
        ),
    ));
    v.push(case(
        "zstd_frame_too_short",
        "bad_block",
        "verify",
        "block 1 decompresses to 8 bytes, not 10",
        zfile(
            5,
            &|k, f: Vec<u8>| {
                if k == 1 {
                    zstd::bulk::compress(ids[5..9].as_bytes(), 3).expect("zstd")
                } else {
                    f
                }
            },
            &keep,
            META,
        ),
    ));
    v.push(case(
        "zstd_two_frames",
        "bad_block",
        "verify",
        "block 1 is two zstd frames (its tokens split in two)",
        zfile(
            5,
            &|k, f: Vec<u8>| {
                if k == 1 {
                    let mut two = zstd::bulk::compress(ids[5..7].as_bytes(), 3).expect("zstd");
                    two.extend(zstd::bulk::compress(ids[7..10].as_bytes(), 3).expect("zstd"));
                    two
                } else {
                    f
                }
            },
            &keep,
            META,
        ),
    ));
    v.push(case(
        "zstd_skippable_frame",
        "bad_block",
        "verify",
        "block 2 starts with a skippable frame",
        zfile(
            5,
            &|k, f: Vec<u8>| {
                if k == 2 {
                    let mut g = vec![0x50, 0x2A, 0x4D, 0x18, 2, 0, 0, 0, 7, 7];
                    g.extend(f);
                    g
                } else {
                    f
                }
            },
            &keep,
            META,
        ),
    ));
    v.push(case(
        "zstd_window_too_large",
        "bad_block",
        "verify",
        "block 0's frame declares a 2^28-byte window (at most 2^27)",
        zfile(
            5,
            &|k, f: Vec<u8>| {
                if k == 0 {
                    let mut c = zstd::bulk::Compressor::new(3).expect("zstd");
                    c.include_contentsize(false).expect("flag");
                    let mut g = c.compress(ids[..5].as_bytes()).expect("zstd");
                    assert_eq!(g[4] & 0x20, 0, "a frame with a window descriptor");
                    g[5] = 18 << 3; // window log 10 + 18 = 28
                    g
                } else {
                    f
                }
            },
            &keep,
            META,
        ),
    ));
    v.push(case(
        "zstd_token_out_of_range",
        "token_out_of_range",
        "verify",
        "a compressed token is 35, the vocabulary 30",
        zfile(5, &same, &keep, r#"{"vocab_size":30}"#),
    ));
    v.push(case(
        "zstd_codec_on_offsets",
        "unknown_codec",
        "open",
        "codec 1 on DOC_OFFSETS: zstd blocks are for TOKENS only",
        edit_entry(base(), 1, |e| e.codec = 1),
    ));
    v.push(case(
        "count_times_width_overflows",
        "section_length",
        "open",
        "DOC_OFFSETS count 2^62: count * 8 overflows",
        edit_entry(base(), 1, |e| e.count = U64::new(1 << 62)),
    ));
    v
}

pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec")
        .join("vectors")
}
