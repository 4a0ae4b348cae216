//! The one error type of the crate.
//!
//! Format errors carry the error code of `spec/FORMAT.md` section 6.3 (see [`ErrorCode`]),
//! the section they concern and the byte offset in the file, so that a message says what is
//! wrong and where, and so that tests in any language can match the code.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error codes of `spec/FORMAT.md` section 6.3, one per rule a file can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Shorter than the header.
    Truncated,
    /// Not a tokpack file.
    BadMagic,
    /// Major version is not one this reader knows.
    UnsupportedVersion,
    /// Header flags this reader does not know.
    UnknownFlags,
    /// Header CRC32 mismatch.
    HeaderChecksum,
    /// Declared file length is not the real length.
    FileLength,
    /// Table offset, section count or table extent invalid.
    BadSectionTable,
    /// Section table CRC32 mismatch.
    TableChecksum,
    /// A section offset is not a multiple of 4096.
    SectionMisaligned,
    /// A section starts before the previous one (or the table) ends.
    SectionOverlap,
    /// A section starts past the first page boundary after the previous one.
    SectionGap,
    /// A section extends past the end of the file, or its end overflows.
    SectionOutOfBounds,
    /// Bytes after the last section.
    TrailingBytes,
    /// A required section of a kind this reader does not know.
    UnknownRequiredSection,
    /// A codec this reader does not know.
    UnknownCodec,
    /// A dtype the section's kind does not allow.
    BadDtype,
    /// A kind that may appear once appears twice.
    DuplicateSection,
    /// A required section is absent.
    MissingSection,
    /// A section's length does not agree with its count and dtype.
    SectionLength,
    /// Counts disagree across sections.
    CountMismatch,
    /// Document offsets: first not 0, last not the token count, or decreasing.
    BadDocOffsets,
    /// Unused bits of the last loss-mask byte are not zero.
    MaskPadding,
    /// Metadata is not a UTF-8 JSON object, too large, or a known key is ill-typed.
    BadMetadata,
    /// The token dtype cannot hold `vocab_size - 1`.
    VocabDtype,
    /// A section's CRC32 mismatch.
    SectionChecksum,
    /// A padding byte is not zero.
    PaddingNotZero,
    /// A token id is not below the vocabulary size.
    TokenOutOfRange,
    /// A plan file breaks a rule of spec section 11.
    BadPlan,
    /// A plan or overlay file made for another dataset.
    WrongDataset,
    /// An overlay file breaks a rule of spec section 13.
    BadOverlay,
    /// An overlay made for another sequence length or plan.
    WrongView,
    /// Two insertions claim the same position.
    InsertionOverlap,
    /// A document's source id is not below the number of source names.
    BadSource,
    /// Compressed tokens whose block header, offsets or a frame break spec 5.6.
    BadBlock,
}

impl ErrorCode {
    /// The code as the spec spells it, e.g. `"bad_doc_offsets"`.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Truncated => "truncated",
            BadMagic => "bad_magic",
            UnsupportedVersion => "unsupported_version",
            UnknownFlags => "unknown_flags",
            HeaderChecksum => "header_checksum",
            FileLength => "file_length",
            BadSectionTable => "bad_section_table",
            TableChecksum => "table_checksum",
            SectionMisaligned => "section_misaligned",
            SectionOverlap => "section_overlap",
            SectionGap => "section_gap",
            SectionOutOfBounds => "section_out_of_bounds",
            TrailingBytes => "trailing_bytes",
            UnknownRequiredSection => "unknown_required_section",
            UnknownCodec => "unknown_codec",
            BadDtype => "bad_dtype",
            DuplicateSection => "duplicate_section",
            MissingSection => "missing_section",
            SectionLength => "section_length",
            CountMismatch => "count_mismatch",
            BadDocOffsets => "bad_doc_offsets",
            MaskPadding => "mask_padding",
            BadMetadata => "bad_metadata",
            VocabDtype => "vocab_dtype",
            SectionChecksum => "section_checksum",
            PaddingNotZero => "padding_not_zero",
            TokenOutOfRange => "token_out_of_range",
            BadPlan => "bad_plan",
            WrongDataset => "wrong_dataset",
            BadOverlay => "bad_overlay",
            WrongView => "wrong_view",
            InsertionOverlap => "insertion_overlap",
            BadSource => "bad_source",
            BadBlock => "bad_block",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file that breaks a rule of the spec: which rule, which section, which byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// The spec's error code.
    pub code: ErrorCode,
    /// The section concerned (`"header"`, `"section table"`, `"TOKENS"`, ...), if any.
    pub section: Option<String>,
    /// The byte offset in the file where the problem is, if known.
    pub offset: Option<u64>,
    /// What is wrong, in words.
    pub detail: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.section, self.offset) {
            (Some(s), Some(o)) => write!(f, "section {s:?} at byte {o}: ")?,
            (Some(s), None) => write!(f, "section {s:?}: ")?,
            (None, Some(o)) => write!(f, "at byte {o}: ")?,
            (None, None) => {}
        }
        write!(f, "{} [{}]", self.detail, self.code)
    }
}

/// Everything that can go wrong in tokpack.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The bytes break a rule of the format.
    Format(FormatError),
    /// An I/O operation failed.
    Io {
        /// What was being done, e.g. `"writing tokens"`.
        action: String,
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A token id given to the writer is not below the vocabulary size.
    TokenOutOfVocab {
        /// Index of the document being written.
        document: u64,
        /// Index of the token inside the document.
        index: usize,
        /// The offending id.
        token: u32,
        /// The vocabulary size of the dataset.
        vocab_size: u64,
    },
    /// A loss mask given to the writer does not have one entry per token.
    MaskLength {
        /// Index of the document being written.
        document: u64,
        /// Number of tokens.
        tokens: usize,
        /// Number of mask entries.
        mask: usize,
    },
    /// An argument is outside what the API accepts.
    InvalidArgument(String),
    /// An index past the end of what it indexes.
    IndexOutOfRange {
        /// What was indexed, e.g. `"document"`.
        what: &'static str,
        /// The index asked for.
        index: u64,
        /// How many there are.
        len: u64,
    },
    /// A typed view was asked for with another element type than the file's.
    DtypeMismatch {
        /// The type asked for.
        requested: &'static str,
        /// The type in the file.
        actual: &'static str,
    },
    /// The in-memory buffer holding the file is not aligned for the section's element type.
    UnalignedBuffer {
        /// The section.
        section: &'static str,
        /// The alignment the element type needs.
        align: usize,
    },
    /// The writer failed earlier and cannot continue.
    WriterPoisoned,
    /// A zero-copy view of tokens that are stored compressed (codec 1).
    CompressedTokens,
}

impl Error {
    /// The spec's error code when this is a format error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Format(e) => Some(e.code),
            _ => None,
        }
    }

    pub(crate) fn format(
        code: ErrorCode,
        section: Option<&str>,
        offset: Option<u64>,
        detail: impl Into<String>,
    ) -> Error {
        Error::Format(FormatError {
            code,
            section: section.map(str::to_owned),
            offset,
            detail: detail.into(),
        })
    }

    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Error {
        Error::Io {
            action: action.into(),
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Format(e) => e.fmt(f),
            Error::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            Error::TokenOutOfVocab {
                document,
                index,
                token,
                vocab_size,
            } => write!(
                f,
                "document {document}, token {index}: id {token} is not below the vocabulary size {vocab_size}"
            ),
            Error::MaskLength {
                document,
                tokens,
                mask,
            } => write!(
                f,
                "document {document}: loss mask has {mask} entries but the document has {tokens} tokens"
            ),
            Error::InvalidArgument(msg) => f.write_str(msg),
            Error::IndexOutOfRange { what, index, len } => {
                write!(f, "{what} {index} is out of range: there are {len}")
            }
            Error::DtypeMismatch { requested, actual } => write!(
                f,
                "tokens were asked for as {requested} but the file stores {actual}"
            ),
            Error::UnalignedBuffer { section, align } => write!(
                f,
                "section {section:?} is not aligned to {align} bytes in memory; map the file or load it into an aligned buffer (AlignedBytes)"
            ),
            Error::WriterPoisoned => {
                f.write_str("the writer failed earlier; its output was discarded")
            }
            Error::CompressedTokens => f.write_str(
                "the tokens are zstd-compressed (codec 1): there is no zero-copy view of them; read them with tokens_in or document_in, or convert the file with `tokpack decompress`",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Error {
        Error::Format(e)
    }
}
