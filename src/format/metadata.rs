//! The METADATA section (spec 5.4): a UTF-8 JSON object.

use serde_json::{Map, Value};

use super::section_table::DType;
use super::tokens::max_vocab;
use crate::error::{Error, ErrorCode, Result};

/// Section name for messages.
pub const NAME: &str = "METADATA";
/// The largest metadata section a reader accepts.
pub const MAX_METADATA_BYTES: u64 = 16 << 20;
/// The largest vocabulary the format can hold.
pub const MAX_VOCAB: u64 = 1 << 32;

/// The dataset's metadata: the keys the spec defines, and the user's own.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// Every token id is below this.
    pub vocab_size: u64,
    /// Name of the tokenizer, if known.
    pub tokenizer: Option<String>,
    /// Beginning-of-sequence id, if known.
    pub bos_id: Option<u32>,
    /// End-of-sequence id, if known.
    pub eos_id: Option<u32>,
    /// Padding id, if known.
    pub pad_id: Option<u32>,
    /// The writing tool and version.
    pub writer: Option<String>,
    /// Every other key, the user's.
    pub extra: Map<String, Value>,
}

const KNOWN_KEYS: [&str; 6] = [
    "vocab_size",
    "tokenizer",
    "bos_id",
    "eos_id",
    "pad_id",
    "writer",
];

impl Metadata {
    /// Metadata with only a vocabulary size.
    pub fn new(vocab_size: u64) -> Metadata {
        Metadata {
            vocab_size,
            ..Metadata::default()
        }
    }

    /// Checks the values against the spec's rules; `section_offset` is used in messages.
    pub fn validate(&self, section_offset: Option<u64>) -> Result<()> {
        let bad = |detail: String| {
            Error::format(ErrorCode::BadMetadata, Some(NAME), section_offset, detail)
        };
        if self.vocab_size == 0 || self.vocab_size > MAX_VOCAB {
            return Err(bad(format!(
                "vocab_size {} is not between 1 and {MAX_VOCAB}",
                self.vocab_size
            )));
        }
        for (key, id) in [
            ("bos_id", self.bos_id),
            ("eos_id", self.eos_id),
            ("pad_id", self.pad_id),
        ] {
            if let Some(id) = id {
                if u64::from(id) >= self.vocab_size {
                    return Err(bad(format!(
                        "{key} {id} is not below vocab_size {}",
                        self.vocab_size
                    )));
                }
            }
        }
        if let Some(k) = self.extra.keys().find(|k| KNOWN_KEYS.contains(&k.as_str())) {
            return Err(bad(format!(
                "user key {k:?} collides with a key the spec defines"
            )));
        }
        Ok(())
    }

    /// The JSON object as stored.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        m.insert("vocab_size".into(), Value::from(self.vocab_size));
        let opt_str = |s: &Option<String>| s.clone().map_or(Value::Null, Value::String);
        let opt_id = |v: Option<u32>| v.map_or(Value::Null, Value::from);
        m.insert("tokenizer".into(), opt_str(&self.tokenizer));
        m.insert("bos_id".into(), opt_id(self.bos_id));
        m.insert("eos_id".into(), opt_id(self.eos_id));
        m.insert("pad_id".into(), opt_id(self.pad_id));
        if let Some(w) = &self.writer {
            m.insert("writer".into(), Value::String(w.clone()));
        }
        m
    }

    /// The stored bytes: compact JSON, keys sorted.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&Value::Object(self.to_json()))
            .expect("can't fail: a JSON map always serializes")
    }

    /// Parses and checks the section's bytes (spec 6.1 step 12), then checks that the token
    /// dtype holds `vocab_size - 1`.
    pub fn parse(bytes: &[u8], section_offset: u64, token_dtype: DType) -> Result<Metadata> {
        let bad = |detail: String| {
            Error::format(
                ErrorCode::BadMetadata,
                Some(NAME),
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
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::format(
                ErrorCode::BadMetadata,
                Some(NAME),
                Some(section_offset + e.valid_up_to() as u64),
                "not valid UTF-8",
            )
        })?;
        let value: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let Value::Object(mut map) = value else {
            return Err(bad("not a JSON object".into()));
        };
        let vocab_size = match map.remove("vocab_size") {
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                n.as_u64().expect("can't fail: checked")
            }
            Some(v) => return Err(bad(format!("vocab_size must be an integer, not {v}"))),
            None => return Err(bad("vocab_size is missing".into())),
        };
        let mut take_str = |key: &str| match map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(bad(format!("{key} must be a string or null, not {v}"))),
        };
        let tokenizer = take_str("tokenizer")?;
        let writer = take_str("writer")?;
        let mut take_id = |key: &str| match map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64().and_then(|v| u32::try_from(v).ok()) {
                Some(v) => Ok(Some(v)),
                None => Err(bad(format!("{key} must be an integer below 2^32, not {n}"))),
            },
            Some(v) => Err(bad(format!("{key} must be an integer or null, not {v}"))),
        };
        let bos_id = take_id("bos_id")?;
        let eos_id = take_id("eos_id")?;
        let pad_id = take_id("pad_id")?;
        let meta = Metadata {
            vocab_size,
            tokenizer,
            bos_id,
            eos_id,
            pad_id,
            writer,
            extra: map,
        };
        meta.validate(Some(section_offset))?;
        if vocab_size > max_vocab(token_dtype) {
            return Err(Error::format(
                ErrorCode::VocabDtype,
                Some("TOKENS"),
                None,
                format!(
                    "{} tokens cannot hold ids up to vocab_size - 1 = {}",
                    token_dtype.name(),
                    vocab_size - 1
                ),
            ));
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_and_user_keys() {
        let mut m = Metadata::new(50_257);
        m.tokenizer = Some("gpt2".into());
        m.eos_id = Some(50_256);
        m.extra.insert("source".into(), Value::from("web"));
        let back = Metadata::parse(&m.to_bytes(), 0, DType::U16).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn refuses_ill_typed_keys() {
        for text in [
            "[]",
            "{}",
            r#"{"vocab_size": -1}"#,
            r#"{"vocab_size": 0}"#,
            r#"{"vocab_size": 10, "eos_id": 10}"#,
            r#"{"vocab_size": 10, "tokenizer": 3}"#,
            r#"{"vocab_size": 4294967297}"#,
            "{\"vocab_size\": 10",
        ] {
            let e = Metadata::parse(text.as_bytes(), 0, DType::U32).unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::BadMetadata), "{text}");
        }
        let e = Metadata::parse(b"\xff", 0, DType::U32).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadMetadata));
    }

    #[test]
    fn vocab_must_fit_the_dtype() {
        let e = Metadata::parse(br#"{"vocab_size": 257}"#, 0, DType::U8).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::VocabDtype));
        assert!(Metadata::parse(br#"{"vocab_size": 256}"#, 0, DType::U8).is_ok());
        assert!(Metadata::parse(br#"{"vocab_size": 256}"#, 0, DType::U32).is_ok());
    }
}
