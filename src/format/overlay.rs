//! Overlay files (spec section 13): the overlay metadata and the insertion sections.

use serde_json::{json, Map, Value};

use super::plan::{hex, parse_derived_metadata, u64_field, MAX_SEQ_LEN};
use crate::error::{Error, ErrorCode, Result};

/// Section names, for messages.
pub const POSITIONS: &str = "INS_POSITIONS";
/// See [`POSITIONS`].
pub const OFFSETS: &str = "INS_OFFSETS";
/// See [`POSITIONS`].
pub const TOKENS: &str = "INS_TOKENS";
/// See [`POSITIONS`].
pub const FLAGS: &str = "INS_FLAGS";

/// Flag bit 0: the inserted tokens are loss targets.
pub const FLAG_TARGET: u8 = 1;

/// What an overlay is bound to: one dataset and one view of it (spec 13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewBinding {
    /// The dataset's id.
    pub dataset_id: [u8; 16],
    /// The dataset's token count.
    pub dataset_tokens: u64,
    /// The dataset's document count.
    pub dataset_documents: u64,
    /// The dataset's vocabulary size.
    pub vocab_size: u64,
    /// Tokens per row.
    pub seq_len: u64,
    /// The plan file's id, or `None` for the contiguous view without a plan file.
    pub plan_id: Option<[u8; 16]>,
    /// Rows in the view.
    pub rows: u64,
}

/// The `"overlay"` object of an overlay file's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlayInfo {
    /// The dataset and view the overlay is for.
    pub view: ViewBinding,
    /// Number of insertions.
    pub insertions: u64,
    /// Total inserted tokens.
    pub tokens: u64,
}

fn parse_id(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

impl OverlayInfo {
    /// The METADATA object of an overlay file.
    pub fn to_metadata(&self) -> Map<String, Value> {
        let v = &self.view;
        let overlay = json!({
            "dataset_id": hex(&v.dataset_id),
            "dataset_tokens": v.dataset_tokens,
            "dataset_documents": v.dataset_documents,
            "vocab_size": v.vocab_size,
            "seq_len": v.seq_len,
            "plan_id": v.plan_id.map(|id| hex(&id)),
            "rows": v.rows,
            "insertions": self.insertions,
            "tokens": self.tokens,
        });
        let mut m = Map::new();
        m.insert("file".into(), json!("overlay"));
        m.insert("overlay".into(), overlay);
        m.insert(
            "writer".into(),
            json!(format!("tokpack {}", env!("CARGO_PKG_VERSION"))),
        );
        m
    }

    /// Parses an overlay file's METADATA bytes (spec 13.2 step 2).
    pub fn parse(bytes: &[u8], section_offset: u64) -> Result<OverlayInfo> {
        let bad = |detail: String| {
            Error::format(
                ErrorCode::BadMetadata,
                Some("METADATA"),
                Some(section_offset),
                detail,
            )
        };
        let o = parse_derived_metadata(bytes, section_offset, "overlay")?;
        let int = |key: &str| u64_field(&o, "overlay", key, bad);
        let id = |key: &str, nullable: bool| -> Result<Option<[u8; 16]>> {
            match o.get(key) {
                Some(Value::Null) if nullable => Ok(None),
                Some(Value::String(s)) => parse_id(s)
                    .map(Some)
                    .ok_or_else(|| bad(format!("overlay.{key} must be 32 lowercase hex digits"))),
                Some(v) => Err(bad(format!("overlay.{key} must be a hex string, not {v}"))),
                None => Err(bad(format!("overlay.{key} is missing"))),
            }
        };
        let seq_len = int("seq_len")?;
        if seq_len == 0 || seq_len > MAX_SEQ_LEN {
            return Err(bad(format!(
                "overlay.seq_len {seq_len} is not between 1 and {MAX_SEQ_LEN}"
            )));
        }
        let vocab_size = int("vocab_size")?;
        if vocab_size == 0 || vocab_size > 1 << 32 {
            return Err(bad(format!(
                "overlay.vocab_size {vocab_size} is not between 1 and 2^32"
            )));
        }
        Ok(OverlayInfo {
            view: ViewBinding {
                dataset_id: id("dataset_id", false)?.expect("can't fail: not nullable"),
                dataset_tokens: int("dataset_tokens")?,
                dataset_documents: int("dataset_documents")?,
                vocab_size,
                seq_len,
                plan_id: id("plan_id", true)?,
                rows: int("rows")?,
            },
            insertions: int("insertions")?,
            tokens: int("tokens")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let info = OverlayInfo {
            view: ViewBinding {
                dataset_id: [1; 16],
                dataset_tokens: 1000,
                dataset_documents: 7,
                vocab_size: 50_257,
                seq_len: 128,
                plan_id: Some([2; 16]),
                rows: 7,
            },
            insertions: 3,
            tokens: 12,
        };
        let bytes = serde_json::to_vec(&info.to_metadata()).unwrap();
        assert_eq!(OverlayInfo::parse(&bytes, 0).unwrap(), info);
        let mut contiguous = info;
        contiguous.view.plan_id = None;
        let bytes = serde_json::to_vec(&contiguous.to_metadata()).unwrap();
        assert_eq!(OverlayInfo::parse(&bytes, 0).unwrap(), contiguous);
    }
}
