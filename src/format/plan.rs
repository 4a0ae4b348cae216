//! Plan files (spec section 11): the plan metadata, PLAN_ROWS and PLAN_SEGMENTS.

use serde_json::{json, Map, Value};

use super::metadata::{parse_strict, MAX_METADATA_BYTES};
use crate::error::{Error, ErrorCode, Result};

/// The longest row a plan or overlay may describe: 2^24 tokens.
pub const MAX_SEQ_LEN: u64 = 1 << 24;

/// Checks the top-level `writer` key of a plan or overlay file: a string or null.
pub(crate) fn check_writer(top: &Map<String, Value>, bad: impl Fn(String) -> Error) -> Result<()> {
    match top.get("writer") {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(v) => Err(bad(format!("writer must be a string or null, not {v}"))),
    }
}

/// The METADATA object of a plan or overlay file (spec 11.1, 13.1): 5.4's JSON rules,
/// `"file"` equal to `kind`, `writer` a string or null, and the object under the key `kind`.
pub(crate) fn parse_derived_metadata(
    bytes: &[u8],
    section_offset: u64,
    kind: &str,
) -> Result<Map<String, Value>> {
    let bad = |detail: String| {
        Error::format(
            ErrorCode::BadMetadata,
            Some("METADATA"),
            Some(section_offset),
            detail,
        )
    };
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err(bad(format!(
            "{} bytes is over the {MAX_METADATA_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not valid UTF-8".into()))?;
    let value = parse_strict(text).map_err(|e| bad(format!("not valid metadata JSON: {e}")))?;
    let Value::Object(mut top) = value else {
        return Err(bad("not a JSON object".into()));
    };
    if top.get("file").and_then(Value::as_str) != Some(kind) {
        return Err(bad(format!(
            "\"file\" is not \"{kind}\": this is not a {kind} file"
        )));
    }
    check_writer(&top, bad)?;
    match top.remove(kind) {
        Some(Value::Object(o)) => Ok(o),
        _ => Err(bad(format!("no \"{kind}\" object"))),
    }
}

/// `object[key]` as a non-negative integer, for the metadata of plan and overlay files;
/// `prefix` names the object in messages (`plan.rows`).
pub(crate) fn u64_field(
    object: &Map<String, Value>,
    prefix: &str,
    key: &str,
    bad: impl Fn(String) -> Error,
) -> Result<u64> {
    match object.get(key) {
        Some(Value::Number(n)) if n.as_u64().is_some() => {
            Ok(n.as_u64().expect("can't fail: checked"))
        }
        Some(v) => Err(bad(format!(
            "{prefix}.{key} must be a non-negative integer, not {v}"
        ))),
        None => Err(bad(format!("{prefix}.{key} is missing"))),
    }
}

/// Section name of PLAN_ROWS, for messages.
pub const ROWS: &str = "PLAN_ROWS";
/// Section name of PLAN_SEGMENTS, for messages.
pub const SEGMENTS: &str = "PLAN_SEGMENTS";

/// How a plan cuts the token stream into rows (spec 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Row `i` is the stream `[i*L, i*L + L + 1)`, across documents.
    Contiguous,
    /// Whole documents in order while they fit; every row starts at a document.
    DocAligned,
    /// Best-fit decreasing packing of documents into rows.
    Bfd,
}

impl Strategy {
    /// The spec's name: `"contiguous"`, `"doc_aligned"`, `"bfd"`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Contiguous => "contiguous",
            Strategy::DocAligned => "doc_aligned",
            Strategy::Bfd => "bfd",
        }
    }

    /// Parses a spec name; the CLI's `doc-aligned` is accepted too.
    pub fn from_name(name: &str) -> Option<Strategy> {
        match name {
            "contiguous" => Some(Strategy::Contiguous),
            "doc_aligned" | "doc-aligned" => Some(Strategy::DocAligned),
            "bfd" => Some(Strategy::Bfd),
            _ => None,
        }
    }
}

/// What happens to a document longer than a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LongDocs {
    /// Keep its first `L` tokens.
    Truncate,
    /// Cut it into pieces of `L` tokens and a shorter last piece.
    Split,
}

impl LongDocs {
    /// `"truncate"` or `"split"`.
    pub fn name(self) -> &'static str {
        match self {
            LongDocs::Truncate => "truncate",
            LongDocs::Split => "split",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<LongDocs> {
        match name {
            "truncate" => Some(LongDocs::Truncate),
            "split" => Some(LongDocs::Split),
            _ => None,
        }
    }
}

/// What happens to the last, partial row of the contiguous view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tail {
    /// No partial row.
    Drop,
    /// A last row filled up with padding.
    Pad,
}

impl Tail {
    /// `"drop"` or `"pad"`.
    pub fn name(self) -> &'static str {
        match self {
            Tail::Drop => "drop",
            Tail::Pad => "pad",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Tail> {
        match name {
            "drop" => Some(Tail::Drop),
            "pad" => Some(Tail::Pad),
            _ => None,
        }
    }
}

/// Number of contiguous rows of length `seq_len` over `n_tokens` tokens (spec 12.1).
pub fn contiguous_rows(n_tokens: u64, seq_len: u64, tail: Tail) -> u64 {
    if n_tokens <= 1 || seq_len == 0 {
        return 0;
    }
    let usable = n_tokens - 1;
    match tail {
        Tail::Drop => usable / seq_len,
        Tail::Pad => usable.div_ceil(seq_len),
    }
}

/// The `"plan"` object of a plan file's metadata (spec 11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInfo {
    /// Id of the dataset the plan cuts.
    pub dataset_id: [u8; 16],
    /// That dataset's token count.
    pub dataset_tokens: u64,
    /// That dataset's document count.
    pub dataset_documents: u64,
    /// Tokens per row, `L`.
    pub seq_len: u64,
    /// How rows were cut.
    pub strategy: Strategy,
    /// For doc-aligned and bfd plans.
    pub long_docs: Option<LongDocs>,
    /// For contiguous plans.
    pub tail: Option<Tail>,
    /// Number of rows.
    pub rows: u64,
    /// Tokens placed in rows.
    pub tokens: u64,
    /// Padding positions: `rows * seq_len - tokens`.
    pub padding_tokens: u64,
    /// Dataset tokens in no row.
    pub truncated_tokens: u64,
    /// Documents cut into more than one segment.
    pub split_documents: u64,
    /// Informative (spec 11.1): the plan holds only documents of these sources.
    pub sources: Option<Vec<String>>,
    /// Informative (spec 12.6): how a mixture plan was drawn.
    pub mixture: Option<Value>,
}

/// Lowercase hex of an id.
pub fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex_id(s: &str) -> Option<[u8; 16]> {
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

impl PlanInfo {
    /// Fill as a fraction of all row positions (1.0 when there are no rows).
    pub fn fill(&self) -> f64 {
        let total = self.rows as f64 * self.seq_len as f64;
        if total == 0.0 {
            1.0
        } else {
            self.tokens as f64 / total
        }
    }

    /// The METADATA object of a plan file.
    pub fn to_metadata(&self) -> Map<String, Value> {
        let mut plan = json!({
            "dataset_id": hex(&self.dataset_id),
            "dataset_tokens": self.dataset_tokens,
            "dataset_documents": self.dataset_documents,
            "seq_len": self.seq_len,
            "strategy": self.strategy.name(),
            "rows": self.rows,
            "tokens": self.tokens,
            "padding_tokens": self.padding_tokens,
            "truncated_tokens": self.truncated_tokens,
            "split_documents": self.split_documents,
        });
        if let Some(l) = self.long_docs {
            plan["long_docs"] = json!(l.name());
        }
        if let Some(t) = self.tail {
            plan["tail"] = json!(t.name());
        }
        if let Some(s) = &self.sources {
            plan["sources"] = json!(s);
        }
        if let Some(x) = &self.mixture {
            plan["mixture"] = x.clone();
        }
        let mut m = Map::new();
        m.insert("file".into(), json!("plan"));
        m.insert("plan".into(), plan);
        m.insert(
            "writer".into(),
            json!(format!("tokpack {}", env!("CARGO_PKG_VERSION"))),
        );
        m
    }

    /// Parses a plan file's METADATA bytes (spec 11.4 step 3).
    pub fn parse(bytes: &[u8], section_offset: u64) -> Result<PlanInfo> {
        let bad = |detail: String| {
            Error::format(
                ErrorCode::BadMetadata,
                Some("METADATA"),
                Some(section_offset),
                detail,
            )
        };
        let p = parse_derived_metadata(bytes, section_offset, "plan")?;
        let int = |key: &str| u64_field(&p, "plan", key, bad);
        let string = |key: &str| -> Result<&str> {
            match p.get(key) {
                Some(Value::String(s)) => Ok(s),
                Some(v) => Err(bad(format!("plan.{key} must be a string, not {v}"))),
                None => Err(bad(format!("plan.{key} is missing"))),
            }
        };
        let dataset_id = parse_hex_id(string("dataset_id")?)
            .ok_or_else(|| bad("plan.dataset_id must be 32 lowercase hex digits".into()))?;
        let strategy_name = string("strategy")?;
        let strategy = Strategy::from_name(strategy_name)
            .filter(|_| strategy_name != "doc-aligned")
            .ok_or_else(|| {
                bad(format!(
                    "plan.strategy {strategy_name:?} is not contiguous, doc_aligned or bfd"
                ))
            })?;
        let (long_docs, tail) = if strategy == Strategy::Contiguous {
            let t = string("tail")?;
            (
                None,
                Some(
                    Tail::from_name(t)
                        .ok_or_else(|| bad(format!("plan.tail {t:?} is not drop or pad")))?,
                ),
            )
        } else {
            let l = string("long_docs")?;
            (
                Some(LongDocs::from_name(l).ok_or_else(|| {
                    bad(format!("plan.long_docs {l:?} is not truncate or split"))
                })?),
                None,
            )
        };
        let seq_len = int("seq_len")?;
        if seq_len == 0 || seq_len > MAX_SEQ_LEN {
            return Err(bad(format!(
                "plan.seq_len {seq_len} is not between 1 and {MAX_SEQ_LEN}"
            )));
        }
        let info = PlanInfo {
            dataset_id,
            dataset_tokens: int("dataset_tokens")?,
            dataset_documents: int("dataset_documents")?,
            seq_len,
            strategy,
            long_docs,
            tail,
            rows: int("rows")?,
            tokens: int("tokens")?,
            padding_tokens: int("padding_tokens")?,
            truncated_tokens: int("truncated_tokens")?,
            split_documents: int("split_documents")?,
            // Informative keys: kept when well typed, else ignored (spec 11.1).
            sources: p.get("sources").and_then(|v| {
                v.as_array()?
                    .iter()
                    .map(|s| s.as_str().map(str::to_owned))
                    .collect()
            }),
            mixture: p.get("mixture").filter(|v| v.is_object()).cloned(),
        };
        let positions = info.rows.checked_mul(info.seq_len);
        if positions.and_then(|p| p.checked_sub(info.tokens)) != Some(info.padding_tokens) {
            return Err(Error::format(
                ErrorCode::BadPlan,
                Some("METADATA"),
                Some(section_offset),
                format!(
                    "padding_tokens {} is not rows {} x seq_len {} - tokens {}",
                    info.padding_tokens, info.rows, info.seq_len, info.tokens
                ),
            ));
        }
        if info.strategy == Strategy::Contiguous && p.contains_key("sources") {
            // Spec 11.4 step 4: a restricted contiguous view is never stored.
            return Err(Error::format(
                ErrorCode::BadPlan,
                Some("METADATA"),
                Some(section_offset),
                "a contiguous plan with a \"sources\" key: restricted contiguous views are not stored (spec 12.5)",
            ));
        }
        Ok(info)
    }
}

/// Checks the open-time rules of PLAN_ROWS against the segment count (spec 11.4 step 5).
pub fn check_rows_ends(rows: &[u64], n_segments: u64, section_offset: u64) -> Result<()> {
    let last = rows[rows.len() - 1];
    if rows[0] != 0 || last != n_segments {
        return Err(Error::format(
            ErrorCode::BadPlan,
            Some(ROWS),
            Some(section_offset),
            format!(
                "rows run from {} to {last}, not from 0 to the {n_segments} segments",
                rows[0]
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PlanInfo {
        PlanInfo {
            dataset_id: [7; 16],
            dataset_tokens: 100,
            dataset_documents: 9,
            seq_len: 8,
            strategy: Strategy::Bfd,
            long_docs: Some(LongDocs::Split),
            tail: None,
            rows: 13,
            tokens: 100,
            padding_tokens: 4,
            truncated_tokens: 0,
            split_documents: 2,
            sources: Some(vec!["web".into(), "code".into()]),
            mixture: Some(serde_json::json!({"seed": 3, "tokens_requested": 100})),
        }
    }

    #[test]
    fn metadata_round_trips() {
        let i = info();
        let bytes = serde_json::to_vec(&i.to_metadata()).unwrap();
        assert_eq!(PlanInfo::parse(&bytes, 0).unwrap(), i);
    }

    #[test]
    fn padding_must_add_up() {
        let mut i = info();
        i.padding_tokens = 5;
        let bytes = serde_json::to_vec(&i.to_metadata()).unwrap();
        assert_eq!(
            PlanInfo::parse(&bytes, 0).unwrap_err().code(),
            Some(ErrorCode::BadPlan)
        );
    }

    #[test]
    fn contiguous_row_counts() {
        assert_eq!(contiguous_rows(0, 4, Tail::Pad), 0);
        assert_eq!(contiguous_rows(1, 4, Tail::Pad), 0);
        assert_eq!(contiguous_rows(9, 4, Tail::Drop), 2);
        assert_eq!(contiguous_rows(9, 4, Tail::Pad), 2);
        assert_eq!(contiguous_rows(10, 4, Tail::Drop), 2);
        assert_eq!(contiguous_rows(10, 4, Tail::Pad), 3);
    }
}
