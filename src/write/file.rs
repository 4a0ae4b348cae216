//! What every tokpack file written by this crate shares: a temporary file beside the target,
//! the header and section table, and publication by fsync and atomic rename. Also a writer
//! for small files whose sections are all in memory (plan files).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use zerocopy::byteorder::{U16, U32, U64};
use zerocopy::IntoBytes;

use crate::error::{Error, Result};
use crate::format::header::{Header, HEADER_LEN, MAGIC, MAJOR};
use crate::format::section_table::{DType, SectionEntry, SectionKind, ENTRY_LEN};
use crate::format::{align_up, crc32, PAGE};

/// A temporary file in the target's directory, named after the target, mode 0644.
pub(crate) struct TempTarget {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub file: NamedTempFile,
}

impl TempTarget {
    pub fn create(path: &Path) -> Result<TempTarget> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| {
            Error::InvalidArgument(format!("output path {} has no file name", path.display()))
        })?;
        let file = tempfile::Builder::new()
            .prefix(&format!(".{}.", name.to_string_lossy()))
            .suffix(".tokpack-tmp")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(&dir)
            .map_err(|e| Error::io("creating a temporary file in", &dir, e))?;
        Ok(TempTarget {
            path: path.to_path_buf(),
            dir,
            file,
        })
    }
}

/// What the header and table of a finished file say.
#[derive(Clone, Copy)]
pub(crate) struct Seal<'a> {
    pub entries: &'a [SectionEntry],
    pub file_length: u64,
    pub minor: u16,
    pub dataset_id: [u8; 16],
    pub sync: bool,
}

/// Writes the header and table at the start of `file`, syncs if asked, and renames the
/// file over `path`. On error the temporary file is removed and `path` is untouched.
pub(crate) fn seal_and_publish(target: TempTarget, seal: &Seal<'_>) -> Result<()> {
    let TempTarget {
        path,
        dir,
        mut file,
    } = target;
    let (path, dir) = (path.as_path(), dir.as_path());
    let Seal {
        entries,
        file_length,
        minor,
        dataset_id,
        sync,
    } = *seal;
    let at_tmp = |action: &str, e| Error::io(format!("{action} a temporary file in"), dir, e);
    let table = entries.as_bytes();
    let mut header = Header {
        magic: MAGIC,
        major: U16::new(MAJOR),
        minor: U16::new(minor),
        flags: U32::new(0),
        dataset_id,
        file_length: U64::new(file_length),
        table_offset: U64::new(HEADER_LEN),
        section_count: U32::new(entries.len() as u32),
        table_crc32: U32::new(crc32(table)),
        reserved: U32::new(0),
        header_crc32: U32::new(0),
    };
    header.seal();
    let f = file.as_file_mut();
    f.seek(SeekFrom::Start(0))
        .map_err(|e| at_tmp("seeking in", e))?;
    f.write_all(header.as_bytes())
        .map_err(|e| at_tmp("writing the header to", e))?;
    f.write_all(table)
        .map_err(|e| at_tmp("writing the section table to", e))?;
    if sync {
        f.sync_all().map_err(|e| at_tmp("syncing", e))?;
    }
    file.persist(path)
        .map_err(|e| Error::io("renaming the finished file to", path, e.error))?;
    if sync {
        let d = File::open(dir).map_err(|e| Error::io("opening directory", dir, e))?;
        d.sync_all()
            .map_err(|e| Error::io("syncing directory", dir, e))?;
    }
    Ok(())
}

/// Writes `pad` zero bytes to reach the next page boundary after `pos`.
pub(crate) fn pad_to_page(out: &mut impl Write, pos: &mut u64) -> std::io::Result<()> {
    let next = align_up(*pos).expect("can't fail: file positions are far from u64::MAX");
    out.write_all(&[0u8; PAGE as usize][..(next - *pos) as usize])?;
    *pos = next;
    Ok(())
}

/// 16 random bytes from the operating system: a new dataset id.
pub fn random_id() -> Result<[u8; 16]> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| {
        Error::io(
            "drawing a random dataset id from",
            "the OS",
            std::io::Error::other(e.to_string()),
        )
    })?;
    Ok(id)
}

/// One section of a small file: its kind, element type, element count and bytes.
pub(crate) struct Part<'a> {
    pub kind: SectionKind,
    pub dtype: DType,
    pub count: u64,
    pub bytes: &'a [u8],
}

/// Writes a whole file whose sections are in memory, and publishes it atomically. Returns
/// the file's length.
pub(crate) fn write_small_file(
    path: &Path,
    parts: &[Part<'_>],
    minor: u16,
    dataset_id: [u8; 16],
    sync: bool,
) -> Result<u64> {
    let mut target = TempTarget::create(path)?;
    let dir = target.dir.clone();
    let at_tmp = |e| Error::io("writing a temporary file in", &dir, e);
    let mut pos = HEADER_LEN + ENTRY_LEN * parts.len() as u64;
    let mut entries = Vec::with_capacity(parts.len());
    {
        let mut out = std::io::BufWriter::new(target.file.as_file_mut());
        out.write_all(&vec![0u8; pos as usize]).map_err(at_tmp)?;
        for p in parts {
            pad_to_page(&mut out, &mut pos).map_err(at_tmp)?;
            let mut e = SectionEntry::new(
                p.kind,
                p.dtype,
                p.count,
                p.bytes.len() as u64,
                crc32(p.bytes),
            );
            e.offset = U64::new(pos);
            entries.push(e);
            out.write_all(p.bytes).map_err(at_tmp)?;
            pos += p.bytes.len() as u64;
        }
        out.flush().map_err(at_tmp)?;
    }
    let seal = Seal {
        entries: &entries,
        file_length: pos,
        minor,
        dataset_id,
        sync,
    };
    seal_and_publish(target, &seal)?;
    Ok(pos)
}
