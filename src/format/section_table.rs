//! The section table (spec section 4) and the layout rules of spec 6.1, steps 3 to 8.

use zerocopy::byteorder::{LE, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::header::{Header, HEADER_LEN};
use super::{align_up, crc32, PAGE};
use crate::error::{Error, ErrorCode, Result};

/// Size of one table entry in bytes.
pub const ENTRY_LEN: u64 = 64;
/// The most entries a table may have.
pub const MAX_SECTIONS: u32 = 1024;
/// Section flag bit 0: a reader that does not know the kind must refuse the file.
pub const FLAG_REQUIRED: u16 = 1;

/// One section table entry, byte for byte as on disk.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct SectionEntry {
    /// What the section holds ([`SectionKind`]).
    pub kind: U32<LE>,
    /// Element type ([`DType`]).
    pub dtype: u8,
    /// Storage codec (0 = raw).
    pub codec: u8,
    /// Bit 0: required.
    pub flags: U16<LE>,
    /// Byte offset of the section.
    pub offset: U64<LE>,
    /// Byte length of the section.
    pub length: U64<LE>,
    /// Number of elements.
    pub count: U64<LE>,
    /// CRC32 of the section's bytes.
    pub crc32: U32<LE>,
    /// Written as zeros, ignored.
    pub reserved: [u8; 28],
}

const _: () = assert!(std::mem::size_of::<SectionEntry>() == ENTRY_LEN as usize);

/// The section kinds of version 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// The token stream.
    Tokens,
    /// Document boundaries.
    DocOffsets,
    /// One bit per token.
    LossMask,
    /// JSON metadata.
    Metadata,
    /// Plan files: row boundaries into the segments.
    PlanRows,
    /// Plan files: `(start, length)` pairs.
    PlanSegments,
    /// Overlay files: insertion positions.
    InsPositions,
    /// Overlay files: payload offsets.
    InsOffsets,
    /// Overlay files: inserted tokens.
    InsTokens,
    /// Overlay files: per-insertion flags.
    InsFlags,
    /// Dataset files (since 1.3): one source id per document.
    DocSources,
}

impl SectionKind {
    /// All kinds this version knows.
    pub const ALL: [SectionKind; 11] = [
        SectionKind::Tokens,
        SectionKind::DocOffsets,
        SectionKind::LossMask,
        SectionKind::Metadata,
        SectionKind::PlanRows,
        SectionKind::PlanSegments,
        SectionKind::InsPositions,
        SectionKind::InsOffsets,
        SectionKind::InsTokens,
        SectionKind::InsFlags,
        SectionKind::DocSources,
    ];

    /// Whether a dataset file may hold this kind (plan and overlay kinds are unknown there).
    pub fn in_dataset(self) -> bool {
        matches!(
            self,
            SectionKind::Tokens
                | SectionKind::DocOffsets
                | SectionKind::LossMask
                | SectionKind::Metadata
                | SectionKind::DocSources
        )
    }

    /// The number stored in `kind`.
    pub fn code(self) -> u32 {
        match self {
            SectionKind::Tokens => 1,
            SectionKind::DocOffsets => 2,
            SectionKind::LossMask => 3,
            SectionKind::Metadata => 4,
            SectionKind::PlanRows => 6,
            SectionKind::PlanSegments => 7,
            SectionKind::InsPositions => 5,
            SectionKind::InsOffsets => 8,
            SectionKind::InsTokens => 9,
            SectionKind::InsFlags => 10,
            SectionKind::DocSources => 11,
        }
    }

    /// The kind for a stored number, if this version knows it.
    pub fn from_code(code: u32) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The spec's name, e.g. `"DOC_OFFSETS"`.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Tokens => "TOKENS",
            SectionKind::DocOffsets => "DOC_OFFSETS",
            SectionKind::LossMask => "LOSS_MASK",
            SectionKind::Metadata => "METADATA",
            SectionKind::PlanRows => "PLAN_ROWS",
            SectionKind::PlanSegments => "PLAN_SEGMENTS",
            SectionKind::InsPositions => "INS_POSITIONS",
            SectionKind::InsOffsets => "INS_OFFSETS",
            SectionKind::InsTokens => "INS_TOKENS",
            SectionKind::InsFlags => "INS_FLAGS",
            SectionKind::DocSources => "DOC_SOURCES",
        }
    }
}

/// Element types of section entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// Opaque bytes.
    Bytes,
    /// `u8`.
    U8,
    /// `u16`, little-endian.
    U16,
    /// `u32`, little-endian.
    U32,
    /// `u64`, little-endian.
    U64,
}

impl DType {
    /// The number stored in `dtype`.
    pub fn code(self) -> u8 {
        match self {
            DType::Bytes => 0,
            DType::U8 => 1,
            DType::U16 => 2,
            DType::U32 => 3,
            DType::U64 => 4,
        }
    }

    /// The type for a stored number, if defined.
    pub fn from_code(code: u8) -> Option<DType> {
        [DType::Bytes, DType::U8, DType::U16, DType::U32, DType::U64]
            .into_iter()
            .find(|d| d.code() == code)
    }

    /// Bytes per element (1 for opaque bytes).
    pub fn width(self) -> u64 {
        match self {
            DType::Bytes | DType::U8 => 1,
            DType::U16 => 2,
            DType::U32 => 4,
            DType::U64 => 8,
        }
    }

    /// Name as used by the CLI and the spec's vectors: `"u8"`, `"u16"`, ...
    pub fn name(self) -> &'static str {
        match self {
            DType::Bytes => "bytes",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
        }
    }
}

/// Name of a section kind for messages: the spec's name, or `kind N`.
pub fn kind_name(kind: u32) -> String {
    match SectionKind::from_code(kind) {
        Some(k) => k.name().to_owned(),
        None => format!("kind {kind}"),
    }
}

/// Byte offset of table entry `index`.
pub fn entry_offset(index: usize) -> u64 {
    HEADER_LEN + ENTRY_LEN * index as u64
}

/// Reads the section table and checks spec 6.1 steps 3 to 5: where the table is, its CRC,
/// and that the sections tile the file in table order, page-aligned, with no overlap, no
/// hole and nothing after the last one.
pub fn parse_table(file: &[u8], header: &Header) -> Result<Vec<SectionEntry>> {
    let table_err =
        |code, detail: String| Error::format(code, Some("section table"), Some(HEADER_LEN), detail);
    if header.table_offset.get() != HEADER_LEN {
        return Err(table_err(
            ErrorCode::BadSectionTable,
            format!(
                "table offset is {}, version 1 puts the table at {HEADER_LEN}",
                header.table_offset.get()
            ),
        ));
    }
    let count = header.section_count.get();
    if count > MAX_SECTIONS {
        return Err(table_err(
            ErrorCode::BadSectionTable,
            format!("section count {count} is over the limit of {MAX_SECTIONS}"),
        ));
    }
    let table_end = HEADER_LEN + ENTRY_LEN * u64::from(count);
    if table_end > file.len() as u64 {
        return Err(table_err(
            ErrorCode::BadSectionTable,
            format!(
                "{count} sections need a table up to byte {table_end} but the file has {} bytes",
                file.len()
            ),
        ));
    }
    let table_bytes = &file[HEADER_LEN as usize..table_end as usize];
    let crc = crc32(table_bytes);
    if crc != header.table_crc32.get() {
        return Err(table_err(
            ErrorCode::TableChecksum,
            format!(
                "table CRC32 is {:#010x} but the table bytes give {crc:#010x}",
                header.table_crc32.get()
            ),
        ));
    }
    let entries = <[SectionEntry]>::ref_from_bytes(table_bytes)
        .expect("can't fail: entries are unaligned and the length is a multiple of 64");

    let file_length = file.len() as u64;
    let mut end = table_end;
    for (i, e) in entries.iter().enumerate() {
        let name = kind_name(e.kind.get());
        let at = |code, detail: String| {
            Error::format(code, Some(&name), Some(entry_offset(i) + 8), detail)
        };
        let offset = e.offset.get();
        let length = e.length.get();
        if offset % PAGE != 0 {
            return Err(at(
                ErrorCode::SectionMisaligned,
                format!("offset {offset} is not a multiple of {PAGE}"),
            ));
        }
        if offset < end {
            return Err(at(
                ErrorCode::SectionOverlap,
                format!(
                    "starts at {offset}, before the previous section or the table ends at {end}"
                ),
            ));
        }
        let expected = align_up(end).expect("can't fail: end is at most the file length");
        if offset > expected {
            return Err(at(
                ErrorCode::SectionGap,
                format!("starts at {offset}, past the page boundary {expected} after the previous end {end}"),
            ));
        }
        end = match offset.checked_add(length) {
            Some(e) if e <= file_length => e,
            _ => {
                return Err(at(
                    ErrorCode::SectionOutOfBounds,
                    format!(
                    "{length} bytes from {offset} run past the end of the {file_length}-byte file"
                ),
                ))
            }
        };
    }
    if end != file_length {
        return Err(Error::format(
            ErrorCode::TrailingBytes,
            None,
            Some(end),
            format!(
                "{} bytes follow the end of the last section",
                file_length - end
            ),
        ));
    }
    Ok(entries.to_vec())
}

/// The full-pass checks every kind of tokpack file shares (spec 6.2 steps 1 and 2, 11.5,
/// 13.3): each section's CRC32 in table order, then every padding byte zero.
pub fn verify_sections(file: &[u8], entries: &[SectionEntry]) -> Result<()> {
    for e in entries {
        let crc = crc32(&file[e.range()]);
        if crc != e.crc32.get() {
            return Err(Error::format(
                ErrorCode::SectionChecksum,
                Some(&kind_name(e.kind.get())),
                Some(e.offset.get()),
                format!(
                    "CRC32 is {:#010x} but the section's bytes give {crc:#010x}",
                    e.crc32.get()
                ),
            ));
        }
    }
    let mut end = HEADER_LEN + ENTRY_LEN * entries.len() as u64;
    for e in entries {
        let pad = &file[end as usize..e.offset.get() as usize];
        if let Some(p) = pad.iter().position(|&b| b != 0) {
            return Err(Error::format(
                ErrorCode::PaddingNotZero,
                Some(&format!("padding before {}", kind_name(e.kind.get()))),
                Some(end + p as u64),
                format!("padding byte is {:#04x}, not zero", pad[p]),
            ));
        }
        end = e.offset.get() + e.length.get();
    }
    Ok(())
}

/// The sections of a file sorted by role (spec 6.1 steps 6 to 8).
#[derive(Debug, Clone)]
pub struct Sections {
    /// TOKENS.
    pub tokens: SectionEntry,
    /// DOC_OFFSETS.
    pub doc_offsets: SectionEntry,
    /// LOSS_MASK, if present.
    pub loss_mask: Option<SectionEntry>,
    /// METADATA.
    pub metadata: SectionEntry,
    /// DOC_SOURCES, if present.
    pub doc_sources: Option<SectionEntry>,
    /// Sections of kinds this reader does not know, without the required flag.
    pub skipped: Vec<SectionEntry>,
}

/// The element types each known kind allows (the kind table of spec section 4).
fn allowed_dtypes(kind: SectionKind) -> &'static [DType] {
    match kind {
        SectionKind::Tokens | SectionKind::InsTokens => &[DType::U8, DType::U16, DType::U32],
        SectionKind::InsPositions | SectionKind::InsOffsets => &[DType::U64],
        SectionKind::InsFlags => &[DType::U8],
        SectionKind::DocOffsets => &[DType::U64],
        SectionKind::LossMask => &[DType::U8],
        SectionKind::Metadata => &[DType::Bytes],
        SectionKind::DocSources => &[DType::U16],
        SectionKind::PlanRows | SectionKind::PlanSegments => &[DType::U64],
    }
}

/// Checks the codec and dtype of entry `i`, of a kind the reader knows (6.1 step 6).
pub fn check_codec_and_dtype(i: usize, e: &SectionEntry, kind: SectionKind) -> Result<()> {
    let at = |code, field: u64, detail: String| {
        Error::format(
            code,
            Some(kind.name()),
            Some(entry_offset(i) + field),
            detail,
        )
    };
    let zstd_tokens = kind == SectionKind::Tokens && e.codec == super::zstd_blocks::CODEC_ZSTD;
    if e.codec != 0 && !zstd_tokens {
        return Err(at(
            ErrorCode::UnknownCodec,
            5,
            format!(
                "codec {} is unknown for {} (this reader knows 0 = raw, and 1 = zstd blocks on TOKENS)",
                e.codec,
                kind.name()
            ),
        ));
    }
    if !DType::from_code(e.dtype).is_some_and(|d| allowed_dtypes(kind).contains(&d)) {
        return Err(at(
            ErrorCode::BadDtype,
            4,
            format!("dtype code {} is not allowed for {}", e.dtype, kind.name()),
        ));
    }
    Ok(())
}

/// Checks that `length` agrees with `count` and `dtype` (6.1 step 8). The dtype must have
/// passed [`check_codec_and_dtype`].
pub fn check_length(i: usize, e: &SectionEntry, kind: SectionKind) -> Result<()> {
    if kind == SectionKind::Tokens && e.codec == super::zstd_blocks::CODEC_ZSTD {
        // Spec 5.6: the head first; the blocks are checked after step 10.
        return super::zstd_blocks::BlockLayout::check_head_length(e.length.get(), e.offset.get());
    }
    let dtype = DType::from_code(e.dtype).unwrap_or(DType::Bytes);
    let count = e.count.get();
    let expected = match kind {
        SectionKind::LossMask => Some(count.div_ceil(8)),
        _ => count.checked_mul(dtype.width()),
    };
    if expected != Some(e.length.get()) {
        return Err(Error::format(
            ErrorCode::SectionLength,
            Some(kind.name()),
            Some(entry_offset(i) + 16),
            format!(
                "length {} does not match {count} elements of {}",
                e.length.get(),
                dtype.name()
            ),
        ));
    }
    Ok(())
}

/// The error for an unknown kind flagged required (6.1 step 6).
pub fn unknown_required(i: usize, e: &SectionEntry) -> Error {
    Error::format(
        ErrorCode::UnknownRequiredSection,
        Some(&kind_name(e.kind.get())),
        Some(entry_offset(i)),
        format!(
            "section kind {} is required but unknown to this reader (format 1.4)",
            e.kind.get()
        ),
    )
}

/// Sorts the entries by kind and checks kinds, codecs, dtypes, duplicates (spec 6.1 step 6,
/// entry by entry), presence (step 7) and lengths (step 8).
pub fn classify(entries: &[SectionEntry]) -> Result<Sections> {
    let mut found: [Option<(usize, SectionEntry)>; 5] = [None; 5];
    let slot_of = |kind: SectionKind| match kind {
        SectionKind::DocSources => 4,
        k => k.code() as usize - 1,
    };
    let mut skipped = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Some(kind) = SectionKind::from_code(e.kind.get()).filter(|k| k.in_dataset()) else {
            if e.flags.get() & FLAG_REQUIRED != 0 {
                return Err(unknown_required(i, e));
            }
            skipped.push(*e);
            continue;
        };
        check_codec_and_dtype(i, e, kind)?;
        let slot = &mut found[slot_of(kind)];
        if slot.is_some() {
            return Err(Error::format(
                ErrorCode::DuplicateSection,
                Some(kind.name()),
                Some(entry_offset(i)),
                format!("a second {} section", kind.name()),
            ));
        }
        *slot = Some((i, *e));
    }
    for kind in [
        SectionKind::Tokens,
        SectionKind::DocOffsets,
        SectionKind::Metadata,
    ] {
        if found[slot_of(kind)].is_none() {
            return Err(missing(kind));
        }
    }
    let mut known: Vec<(usize, SectionEntry)> = found.iter().flatten().copied().collect();
    known.sort_by_key(|&(i, _)| i);
    for (i, e) in known {
        let kind = SectionKind::from_code(e.kind.get()).expect("can't fail: known kinds only");
        check_length(i, &e, kind)?;
    }
    let [tokens, doc_offsets, loss_mask, metadata, doc_sources] = found.map(|f| f.map(|(_, e)| e));
    let present = "can't fail: presence checked above";
    Ok(Sections {
        tokens: tokens.expect(present),
        doc_offsets: doc_offsets.expect(present),
        loss_mask,
        metadata: metadata.expect(present),
        doc_sources,
        skipped,
    })
}

/// The error for a required section that is absent (6.1 step 7).
pub fn missing(kind: SectionKind) -> Error {
    Error::format(
        ErrorCode::MissingSection,
        Some(kind.name()),
        None,
        format!("the file has no {} section", kind.name()),
    )
}

impl SectionEntry {
    /// A raw entry for `kind`, required flag set; offsets are filled in by the writer.
    pub fn new(kind: SectionKind, dtype: DType, count: u64, length: u64, crc: u32) -> SectionEntry {
        SectionEntry {
            kind: U32::new(kind.code()),
            dtype: dtype.code(),
            codec: 0,
            flags: U16::new(FLAG_REQUIRED),
            offset: U64::new(0),
            length: U64::new(length),
            count: U64::new(count),
            crc32: U32::new(crc),
            reserved: [0; 28],
        }
    }

    /// The byte range of the section in the file. Only valid after [`parse_table`].
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset.get() as usize..(self.offset.get() + self.length.get()) as usize
    }
}
