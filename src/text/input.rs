//! Reading documents from files: JSON lines with a text field, plain text, chat JSON lines,
//! pre-tokenized JSON lines; gzip and zstd by file extension.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::chat::Message;
use crate::error::{Error, Result};

/// What the input files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// JSON lines `{"input_ids": [...], "loss_mask": [0/1 ...]}`.
    Tokens,
    /// JSON lines with a text field.
    Jsonl,
    /// Plain text: one document per file, or split on a delimiter.
    Text,
    /// JSON lines `{"messages": [{"role": ..., "content": ...}, ...]}`.
    Chat,
}

impl InputFormat {
    /// Parses `tokens`, `jsonl`, `text` or `chat`.
    pub fn from_name(s: &str) -> Option<InputFormat> {
        match s {
            "tokens" | "pretokenized" => Some(InputFormat::Tokens),
            "jsonl" => Some(InputFormat::Jsonl),
            "text" | "txt" => Some(InputFormat::Text),
            "chat" => Some(InputFormat::Chat),
            _ => None,
        }
    }
}

/// One document as read, with where it came from (for error messages).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Text to tokenize.
    Text {
        /// File and line (or part) it came from.
        at: String,
        /// The text.
        text: String,
    },
    /// A conversation.
    Chat {
        /// File and line.
        at: String,
        /// Its messages.
        messages: Vec<Message>,
    },
    /// Ids as given, with an optional 0/1 mask.
    Tokens {
        /// File and line.
        at: String,
        /// The ids.
        ids: Vec<u32>,
        /// One entry per id.
        mask: Option<Vec<bool>>,
    },
}

impl Record {
    /// Where the record came from, e.g. `data.jsonl line 17`.
    pub fn at(&self) -> &str {
        match self {
            Record::Text { at, .. } | Record::Chat { at, .. } | Record::Tokens { at, .. } => at,
        }
    }
}

/// Opens `path`, decompressing `.gz` and `.zst`/`.zstd` files.
pub fn open_maybe_compressed(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            std::io::stdin(),
        )));
    }
    let file = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let reader: Box<dyn Read + Send> = match ext {
        "gz" => Box::new(flate2::read::MultiGzDecoder::new(file)),
        "zst" | "zstd" => Box::new(
            zstd::stream::read::Decoder::new(file)
                .map_err(|e| Error::io("starting zstd on", path, e))?,
        ),
        _ => Box::new(file),
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}

/// Guesses the format of a file from its first non-empty line: a JSON object with
/// `input_ids` is [`InputFormat::Tokens`], with `messages` [`InputFormat::Chat`], with a
/// string `text_field` [`InputFormat::Jsonl`]; anything else is [`InputFormat::Text`].
pub fn detect_format(path: &Path, text_field: &str) -> Result<InputFormat> {
    let mut reader = open_maybe_compressed(path)?;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(InputFormat::Text),
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => break,
        }
    }
    Ok(match serde_json::from_str::<Value>(&line) {
        Ok(v) if v.get("input_ids").is_some() => InputFormat::Tokens,
        Ok(v) if v.get("messages").is_some() => InputFormat::Chat,
        Ok(v) if v.get(text_field).is_some_and(Value::is_string) => InputFormat::Jsonl,
        _ => InputFormat::Text,
    })
}

/// Reads records from a list of files, in order.
pub struct RecordReader {
    files: Vec<PathBuf>,
    next_file: usize,
    current: Option<(String, Box<dyn BufRead + Send>)>,
    line_no: u64,
    format: InputFormat,
    text_field: String,
    delimiter: Option<String>,
    file_sources: Vec<Option<String>>,
    source_field: Option<String>,
    pending: std::collections::VecDeque<(Record, Option<String>)>,
    line: String,
}

impl RecordReader {
    /// Records of `format` from `files`; `text_field` names the JSON field of
    /// [`InputFormat::Jsonl`]; `delimiter` splits [`InputFormat::Text`] files.
    pub fn new(
        files: Vec<PathBuf>,
        format: InputFormat,
        text_field: &str,
        delimiter: Option<String>,
    ) -> RecordReader {
        RecordReader {
            files,
            next_file: 0,
            current: None,
            line_no: 0,
            format,
            text_field: text_field.to_owned(),
            delimiter,
            file_sources: Vec::new(),
            source_field: None,
            pending: Default::default(),
            line: String::new(),
        }
    }

    /// Tags records with a source (spec 5.5): `per_file[k]` for the records of file `k`
    /// (a list of one applies to every file), unless the record's JSON object has a string
    /// field `field` (chat records: a `"source"` field when `field` is `None`), which wins.
    pub fn with_sources(
        mut self,
        per_file: Vec<Option<String>>,
        field: Option<String>,
    ) -> Result<RecordReader> {
        if per_file.len() > 1 && per_file.len() != self.files.len() {
            return Err(Error::InvalidArgument(format!(
                "{} sources for {} input files: give one source for all files or one per file",
                per_file.len(),
                self.files.len()
            )));
        }
        self.file_sources = per_file;
        self.source_field = field;
        Ok(self)
    }

    fn file_source(&self) -> Option<String> {
        let k = self.next_file.saturating_sub(1);
        match self.file_sources.len() {
            0 => None,
            1 => self.file_sources[0].clone(),
            _ => self.file_sources.get(k).cloned().flatten(),
        }
    }

    fn bad(&self, name: &str, detail: String) -> Error {
        Error::InvalidArgument(format!("{name} line {}: {detail}", self.line_no))
    }

    /// The next record, or `None` at the end of the last file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        Ok(self.next_sourced_record()?.map(|(r, _)| r))
    }

    /// The next record with its source (see [`with_sources`](RecordReader::with_sources)),
    /// or `None` at the end of the last file.
    pub fn next_sourced_record(&mut self) -> Result<Option<(Record, Option<String>)>> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(Some(r));
            }
            if self.current.is_none() {
                let Some(path) = self.files.get(self.next_file).cloned() else {
                    return Ok(None);
                };
                self.next_file += 1;
                self.line_no = 0;
                let reader = open_maybe_compressed(&path)?;
                let name = path.display().to_string();
                if self.format == InputFormat::Text {
                    self.read_text_file(&name, reader)?;
                    continue;
                }
                self.current = Some((name, reader));
            }
            let (name, reader) = self.current.as_mut().expect("can't fail: set above");
            let name = name.clone();
            self.line.clear();
            let n = reader.read_line(&mut self.line).map_err(|e| {
                Error::InvalidArgument(format!("{name} line {}: {e}", self.line_no + 1))
            })?;
            if n == 0 {
                self.current = None;
                continue;
            }
            self.line_no += 1;
            if self.line.trim().is_empty() {
                continue;
            }
            let value: Value =
                serde_json::from_str(&self.line).map_err(|e| self.bad(&name, e.to_string()))?;
            let at = format!("{name} line {}", self.line_no);
            let field = match (&self.source_field, self.format) {
                (Some(f), _) => Some(f.as_str()),
                (None, InputFormat::Chat) => Some("source"),
                _ => None,
            };
            let source = match field.and_then(|f| value.get(f).map(|v| (f, v))) {
                None | Some((_, Value::Null)) => self.file_source(),
                Some((_, Value::String(s))) => Some(s.clone()),
                Some((f, v)) => {
                    return Err(self.bad(&name, format!("field {f:?} must be a string, not {v}")))
                }
            };
            let record = match self.format {
                InputFormat::Jsonl => match value.get(&self.text_field) {
                    Some(Value::String(s)) => Record::Text {
                        at,
                        text: s.clone(),
                    },
                    _ => {
                        return Err(
                            self.bad(&name, format!("no string field {:?}", self.text_field))
                        )
                    }
                },
                InputFormat::Chat => {
                    let messages = value
                        .get("messages")
                        .cloned()
                        .ok_or_else(|| self.bad(&name, "no \"messages\" array".into()))?;
                    let messages: Vec<Message> = serde_json::from_value(messages).map_err(|e| {
                        self.bad(
                            &name,
                            format!(
                                "\"messages\" must be [{{\"role\": ..., \"content\": ...}}]: {e}"
                            ),
                        )
                    })?;
                    Record::Chat { at, messages }
                }
                _ => {
                    let ids: Vec<u32> = value
                        .get("input_ids")
                        .cloned()
                        .ok_or_else(|| self.bad(&name, "missing field `input_ids`".into()))
                        .and_then(|v| {
                            serde_json::from_value(v)
                                .map_err(|e| self.bad(&name, format!("input_ids: {e}")))
                        })?;
                    let mask = match value.get("loss_mask") {
                        None | Some(Value::Null) => None,
                        Some(v) => {
                            let bits: Vec<u8> = serde_json::from_value(v.clone())
                                .map_err(|e| self.bad(&name, format!("loss_mask: {e}")))?;
                            if let Some(i) = bits.iter().position(|&b| b > 1) {
                                return Err(self.bad(
                                    &name,
                                    format!("loss_mask[{i}] is {}; use 0 or 1", bits[i]),
                                ));
                            }
                            Some(bits.into_iter().map(|b| b == 1).collect())
                        }
                    };
                    Record::Tokens { at, ids, mask }
                }
            };
            return Ok(Some((record, source)));
        }
    }

    fn read_text_file(&mut self, name: &str, mut reader: Box<dyn BufRead + Send>) -> Result<()> {
        let mut bytes = Vec::new();
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| Error::InvalidArgument(format!("{name}: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::InvalidArgument(format!(
                "{name}: not UTF-8 at byte {}",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let source = self.file_source();
        match &self.delimiter {
            None => self.pending.push_back((
                Record::Text {
                    at: name.to_owned(),
                    text,
                },
                source,
            )),
            Some(d) => {
                for (k, part) in text.split(d.as_str()).enumerate() {
                    if !part.trim().is_empty() {
                        self.pending.push_back((
                            Record::Text {
                                at: format!("{name} part {}", k + 1),
                                text: part.to_owned(),
                            },
                            source.clone(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
