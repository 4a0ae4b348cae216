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
    /// Names of the source ids of DOC_SOURCES (spec 5.5); `None` when the file has none.
    pub sources: Option<Vec<String>>,
    /// Every other key, the user's.
    pub extra: Map<String, Value>,
}

const KNOWN_KEYS: [&str; 7] = [
    "vocab_size",
    "tokenizer",
    "bos_id",
    "eos_id",
    "pad_id",
    "writer",
    "sources",
];

/// The most sources a dataset may name (ids are u16).
pub const MAX_SOURCES: usize = 1 << 16;
/// The longest source name, in bytes of UTF-8.
pub const MAX_SOURCE_NAME: usize = 256;

/// Checks a list of source names against spec 5.4: 1 to 65,536 names, each non-empty, at most
/// 256 bytes, no two equal. Returns what is wrong.
pub fn check_source_names(names: &[String]) -> std::result::Result<(), String> {
    if names.is_empty() || names.len() > MAX_SOURCES {
        return Err(format!(
            "sources holds {} names, not 1 to {MAX_SOURCES}",
            names.len()
        ));
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() || n.len() > MAX_SOURCE_NAME {
            return Err(format!(
                "sources[{i}] is {} bytes long, not 1 to {MAX_SOURCE_NAME}",
                n.len()
            ));
        }
        if !seen.insert(n.as_str()) {
            return Err(format!("sources[{i}] {n:?} appears twice"));
        }
    }
    Ok(())
}

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
        if let Some(names) = &self.sources {
            check_source_names(names).map_err(bad)?;
        }
        if let Some(k) = self.extra.keys().find(|k| KNOWN_KEYS.contains(&k.as_str())) {
            return Err(bad(format!(
                "user key {k:?} collides with a key the spec defines"
            )));
        }
        Ok(())
    }

    /// The JSON object as stored: known keys whose value is not known are left out.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = self.extra.clone();
        m.insert("vocab_size".into(), Value::from(self.vocab_size));
        let known = [
            ("tokenizer", self.tokenizer.clone().map(Value::String)),
            ("bos_id", self.bos_id.map(Value::from)),
            ("eos_id", self.eos_id.map(Value::from)),
            ("pad_id", self.pad_id.map(Value::from)),
            ("writer", self.writer.clone().map(Value::String)),
            (
                "sources",
                self.sources
                    .as_ref()
                    .map(|v| Value::Array(v.iter().cloned().map(Value::String).collect())),
            ),
        ];
        for (key, value) in known {
            if let Some(v) = value {
                m.insert(key.into(), v);
            }
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
        let value = parse_strict(text).map_err(|e| bad(format!("not valid metadata JSON: {e}")))?;
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
        match map.remove("file") {
            None => {}
            Some(Value::String(s)) if s == "dataset" => {}
            Some(v) => return Err(bad(format!("file is {v}: this is not a dataset file"))),
        }
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
        let sources = match map.remove("sources") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut names = Vec::with_capacity(items.len());
                for (i, v) in items.into_iter().enumerate() {
                    match v {
                        Value::String(s) => names.push(s),
                        v => return Err(bad(format!("sources[{i}] must be a string, not {v}"))),
                    }
                }
                Some(names)
            }
            Some(v) => return Err(bad(format!("sources must be an array of strings, not {v}"))),
        };
        let meta = Metadata {
            vocab_size,
            tokenizer,
            bos_id,
            eos_id,
            pad_id,
            writer,
            sources,
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

/// The deepest nesting of arrays and objects the spec allows.
pub const MAX_DEPTH: usize = 64;

/// Parses JSON under the restrictions of spec 5.4: no duplicate keys, nesting at most
/// [`MAX_DEPTH`]. (serde_json already refuses lone surrogates and non-finite numbers.)
pub(crate) fn parse_strict(text: &str) -> std::result::Result<Value, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let Strict(value) = serde::Deserialize::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    let depth = depth(&value);
    if depth > MAX_DEPTH {
        return Err(format!("nested {depth} deep, more than {MAX_DEPTH}"));
    }
    Ok(value)
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A JSON value whose objects may not repeat a key.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "key {key:?} appears twice in one object"
                )));
            }
        }
        Ok(Value::Object(out))
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
            r#"{"vocab_size": 10, "vocab_size": 300}"#,
            r#"{"vocab_size": 10, "x": {"a": 1, "a": 2}}"#,
            r#"{"vocab_size": 300.0}"#,
            r#"{"vocab_size": 3e2}"#,
            r#"{"vocab_size": 10, "bos_id": -0}"#,
            r#"{"vocab_size": 10, "x": 1e400}"#,
            r#"{"vocab_size": 10, "x": "\ud800"}"#,
            r#"{"vocab_size": 10, "\ud800": 1}"#,
            r#"{"vocab_size": 10, "a": 1, "\u0061": 2}"#,
        ] {
            let e = Metadata::parse(text.as_bytes(), 0, DType::U32).unwrap_err();
            assert_eq!(e.code(), Some(ErrorCode::BadMetadata), "{text}");
        }
        let e = Metadata::parse(b"\xff", 0, DType::U32).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadMetadata));
    }

    #[test]
    fn numbers_round_correctly_at_the_edge_of_the_double_range() {
        for ok in ["1.7976931348623158e308", "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368"] {
            let text = format!(r#"{{"vocab_size": 10, "x": {ok}}}"#);
            let m = Metadata::parse(text.as_bytes(), 0, DType::U8).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(m.extra["x"].as_f64(), Some(f64::MAX));
        }
    }

    #[test]
    fn nesting_is_capped_at_64() {
        let nested = |d: usize| {
            format!(
                "{{\"vocab_size\": 10, \"x\": {}1{}}}",
                "[".repeat(d - 1),
                "]".repeat(d - 1)
            )
        };
        assert!(Metadata::parse(nested(64).as_bytes(), 0, DType::U32).is_ok());
        let e = Metadata::parse(nested(65).as_bytes(), 0, DType::U32).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::BadMetadata));
        let deep = format!("{{\"vocab_size\": 10, \"x\": {}}}", "[".repeat(100_000));
        assert_eq!(
            Metadata::parse(deep.as_bytes(), 0, DType::U32)
                .unwrap_err()
                .code(),
            Some(ErrorCode::BadMetadata)
        );
    }

    #[test]
    fn writer_may_be_null_and_unknown_keys_are_omitted() {
        let m = Metadata::parse(br#"{"vocab_size": 10, "writer": null}"#, 0, DType::U8).unwrap();
        assert_eq!(m.writer, None);
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            r#"{"vocab_size":10}"#
        );
    }

    #[test]
    fn vocab_must_fit_the_dtype() {
        let e = Metadata::parse(br#"{"vocab_size": 257}"#, 0, DType::U8).unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::VocabDtype));
        assert!(Metadata::parse(br#"{"vocab_size": 256}"#, 0, DType::U8).is_ok());
        assert!(Metadata::parse(br#"{"vocab_size": 256}"#, 0, DType::U32).is_ok());
    }
}
