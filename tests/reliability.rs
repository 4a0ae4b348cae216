//! Reliability: files past 2^32 tokens, builds killed at random moments, a full disk, and
//! readers working while a writer publishes new files beside them.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{tempdir, Rng};
use tokpack::format::header::{Header, HEADER_LEN, MAGIC};
use tokpack::format::section_table::{SectionEntry, FLAG_REQUIRED};
use tokpack::{Dataset, ErrorCode, RowBuffers, RowOptions, Rows};
use zerocopy::byteorder::{U16, U32, U64};
use zerocopy::IntoBytes;

fn entry(kind: u32, dtype: u8, offset: u64, length: u64, count: u64, crc: u32) -> SectionEntry {
    SectionEntry {
        kind: U32::new(kind),
        dtype,
        codec: 0,
        flags: U16::new(FLAG_REQUIRED),
        offset: U64::new(offset),
        length: U64::new(length),
        count: U64::new(count),
        crc32: U32::new(crc),
        reserved: [0; 28],
    }
}

/// A dataset of 2^32 + 10 u8 tokens, written sparsely (only the last document's bytes and the
/// small sections are real): three documents, the last one past the 2^32 mark.
#[test]
fn a_dataset_past_two_to_the_32_tokens_reads_its_last_document() {
    let dir = tempdir();
    let path = dir.path().join("huge.tpk");
    let n: u64 = (1 << 32) + 10;
    let offsets: [u64; 4] = [0, 1 << 31, n - 7, n];
    let meta = br#"{"vocab_size":256}"#;
    let tokens_at = 4096u64;
    let offsets_at = (tokens_at + n).div_ceil(4096) * 4096;
    let meta_at = (offsets_at + 32).div_ceil(4096) * 4096;
    let file_len = meta_at + meta.len() as u64;
    let entries = [
        entry(1, 1, tokens_at, n, n, 0),
        entry(2, 4, offsets_at, 32, 4, crc32fast::hash(offsets.as_bytes())),
        entry(
            4,
            0,
            meta_at,
            meta.len() as u64,
            meta.len() as u64,
            crc32fast::hash(meta),
        ),
    ];
    let table = entries.as_bytes();
    let mut header = Header {
        magic: MAGIC,
        major: U16::new(1),
        minor: U16::new(0),
        flags: U32::new(0),
        dataset_id: [7; 16],
        file_length: U64::new(file_len),
        table_offset: U64::new(HEADER_LEN),
        section_count: U32::new(3),
        table_crc32: U32::new(crc32fast::hash(table)),
        reserved: U32::new(0),
        header_crc32: U32::new(0),
    };
    header.seal();
    let f = fs::File::create(&path).expect("create");
    f.set_len(file_len).expect("sparse length");
    f.write_all_at(header.as_bytes(), 0).expect("header");
    f.write_all_at(table, HEADER_LEN).expect("table");
    f.write_all_at(&[1, 2, 3, 4, 5, 6, 7], tokens_at + n - 7)
        .expect("last document");
    f.write_all_at(offsets.as_bytes(), offsets_at)
        .expect("offsets");
    f.write_all_at(meta, meta_at).expect("metadata");
    drop(f);

    let ds = Dataset::open(&path).expect("open");
    assert_eq!(ds.num_tokens(), n);
    assert_eq!(
        ds.document(2).expect("last").to_vec_u32(),
        vec![1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(ds.document_range(1).expect("range"), (1 << 31)..(n - 7));
    let rows = Rows::contiguous(&ds, &RowOptions::new(4)).expect("rows");
    let mut b = RowBuffers::default();
    rows.row_into(rows.num_rows() - 1, &mut b)
        .expect("last row");
    assert_eq!(b.input_ids, vec![2, 3, 4, 5]); // row start 2^32 + 4 is the last document's second token
                                               // The token section's CRC was not computed: verify reads 4 GiB of zeros and says so.
    assert_eq!(
        ds.verify().unwrap_err().code(),
        Some(ErrorCode::SectionChecksum)
    );
}

/// A file whose header declares far more bytes than it has: refused at open, no allocation.
#[test]
fn declared_sizes_larger_than_the_file_fail_cleanly() {
    let bytes = common::base_file();
    let mut f = bytes.clone();
    let mut h = common::header_mut(&mut f);
    h.file_length = U64::new(1 << 50);
    common::put_header(&mut f, &h);
    common::reseal(&mut f);
    assert_eq!(
        common::open_bytes(&f).unwrap_err().code(),
        Some(ErrorCode::FileLength)
    );
    let f = common::edit_entry(bytes, 0, |e| e.count = U64::new(1 << 60));
    assert!(common::open_bytes(&f).is_err());
}

fn big_input(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in.jsonl");
    let mut f = std::io::BufWriter::new(fs::File::create(&input).expect("create"));
    let mut rng = Rng(3);
    for _ in 0..6000 {
        let len = 200 + rng.below(2000) as usize;
        let ids: Vec<String> = (0..len).map(|_| rng.below(50_000).to_string()).collect();
        writeln!(f, "{{\"input_ids\": [{}]}}", ids.join(",")).expect("write");
    }
    f.flush().expect("flush");
    input
}

/// SIGKILL at random moments: the output path holds nothing or a complete file that verifies.
#[test]
fn a_build_killed_at_any_moment_leaves_nothing_or_a_whole_file() {
    let dir = tempdir();
    let input = big_input(dir.path());
    let out = dir.path().join("out.tpk");
    let mut rng = Rng(11);
    let (mut nothing, mut whole) = (0, 0);
    for round in 0..12 {
        let _ = fs::remove_file(&out);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokpack"))
            .args([
                "build",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--vocab-size",
                "50000",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Kill anywhere from the start to past the end of the build.
        let delay = Duration::from_millis(rng.below(if round % 4 == 3 { 4000 } else { 1500 }));
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        if out.exists() {
            let ds = Dataset::open(&out).expect("a published file opens");
            ds.verify().expect("and verifies");
            assert_eq!(ds.num_documents(), 6000);
            whole += 1;
        } else {
            nothing += 1;
        }
    }
    assert_eq!(nothing + whole, 12);
}

/// A full disk: a clear error, nothing at the path, no temporary files left. Needs a small
/// tmpfs (root); skipped where mounting is not allowed.
#[test]
fn a_full_disk_gives_a_clear_error_and_leaves_nothing() {
    let mnt = tempdir();
    let ok = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=2m",
            "tmpfs",
            mnt.path().to_str().unwrap(),
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
        return;
    }
    let dir = tempdir();
    let input = big_input(dir.path());
    let out = mnt.path().join("out.tpk");
    let o = Command::new(env!("CARGO_BIN_EXE_tokpack"))
        .args([
            "build",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--vocab-size",
            "50000",
        ])
        .output()
        .expect("run");
    let left: Vec<_> = fs::read_dir(mnt.path())
        .expect("dir")
        .map(|e| e.expect("e").file_name())
        .collect();
    let _ = Command::new("umount").arg(mnt.path()).status();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Readers in other processes read rows while a writer replaces the dataset beside them
/// over and over: every row they read is one of the two datasets' rows, never a mix.
#[test]
fn readers_keep_a_consistent_view_while_files_are_replaced() {
    if let Ok(path) = std::env::var("TOKPACK_READER_CHILD") {
        return reader_child(Path::new(&path));
    }
    let dir = tempdir();
    let path = dir.path().join("live.tpk");
    let write = |value: u32| {
        let mut o = tokpack::WriterOptions::new(1000);
        o.sync = false;
        let mut w = tokpack::Writer::create(&path, o).expect("create");
        for _ in 0..200 {
            w.push_document(&[value; 500], None).expect("push");
        }
        w.finish().expect("finish");
    };
    write(1);
    let readers: Vec<_> = (0..8)
        .map(|_| {
            Command::new(std::env::current_exe().expect("exe"))
                .args([
                    "--exact",
                    "readers_keep_a_consistent_view_while_files_are_replaced",
                    "--nocapture",
                ])
                .env("TOKPACK_READER_CHILD", &path)
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn reader")
        })
        .collect();
    for round in 0..40 {
        write(1 + round % 2);
        // And an overlay for the new file, in the same directory.
        let ds = Dataset::open(&path).expect("open");
        let rows = Rows::contiguous(&ds, &RowOptions::new(128)).expect("rows");
        let mut b = tokpack::OverlayBuilder::new(rows.view_binding(), ds.dtype()).expect("builder");
        b.add_explicit(
            u64::from(round) * 7,
            &[9, 9],
            true,
            tokpack::CrossRows::Split,
        )
        .expect("explicit");
        b.finish()
            .write(dir.path().join("live.overlay.tpk"), false)
            .expect("overlay");
    }
    for mut r in readers {
        assert!(
            r.wait().expect("reader").success(),
            "a reader saw an inconsistent row"
        );
    }
}

fn reader_child(path: &Path) {
    let started = Instant::now();
    let mut rng = Rng(std::process::id() as u64);
    let mut b = RowBuffers::default();
    while started.elapsed() < Duration::from_millis(1500) {
        let ds = Dataset::open(path).expect("open");
        let rows = Rows::contiguous(&ds, &RowOptions::new(128)).expect("rows");
        for _ in 0..50 {
            rows.row_into(rng.below(rows.num_rows()), &mut b)
                .expect("row");
            let first = b.input_ids[0];
            assert!(
                b.input_ids.iter().all(|&t| t == first),
                "a row mixes two files"
            );
        }
        ds.verify().expect("the mapped file stays whole");
    }
}
