//! The build pipeline: read records in order, tokenize a batch of them on all cores, write
//! the batch in input order. Output is the same whatever the number of threads.

use rayon::prelude::*;

use super::chat::{ChatTemplate, LossPolicy};
use super::input::{Record, RecordReader};
use super::tokenizer::Tokenizer;
use crate::error::{Error, Result};
use crate::manifest::DocumentSink;

/// How records become documents.
#[derive(Debug, Clone)]
pub struct TextBuildOptions {
    /// The tokenizer (not used for pre-tokenized records).
    pub tokenizer: Option<Tokenizer>,
    /// Put this id before every text or chat document.
    pub bos: Option<u32>,
    /// Put this id after every text or chat document.
    pub eos: Option<u32>,
    /// How conversations are laid out.
    pub chat: ChatTemplate,
    /// Which tokens of a conversation are targets.
    pub loss: LossPolicy,
    /// Text bytes per batch handed to the threads (bounds memory).
    pub batch_bytes: usize,
    /// `(i, n)`: keep only records `i, i + n, i + 2n, ...` (worker `i` of `n`).
    pub part: Option<(u64, u64)>,
}

impl TextBuildOptions {
    /// Defaults: no tokenizer, no BOS, no EOS, the default chat template, all tokens
    /// targets, 8 MiB batches.
    pub fn new() -> TextBuildOptions {
        TextBuildOptions {
            tokenizer: None,
            bos: None,
            eos: None,
            chat: ChatTemplate::default(),
            loss: LossPolicy::All,
            batch_bytes: 8 << 20,
            part: None,
        }
    }
}

impl Default for TextBuildOptions {
    fn default() -> TextBuildOptions {
        TextBuildOptions::new()
    }
}

/// What a build did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildReport {
    /// Documents written.
    pub documents: u64,
    /// Tokens written.
    pub tokens: u64,
    /// Bytes of text (or JSON, for pre-tokenized input) read.
    pub text_bytes: u64,
}

fn record_bytes(r: &Record) -> usize {
    match r {
        Record::Text { text, .. } => text.len(),
        Record::Chat { messages, .. } => messages.iter().map(|m| m.content.len() + 16).sum(),
        Record::Tokens { ids, .. } => ids.len() * 4,
    }
}

type Doc = (Vec<u32>, Option<Vec<bool>>);

fn tokenize(record: &Record, options: &TextBuildOptions) -> Result<Doc> {
    let tokenizer = || {
        options.tokenizer.as_ref().ok_or_else(|| {
            Error::InvalidArgument(format!("{}: text input needs a tokenizer", record.at()))
        })
    };
    let wrap = |mut ids: Vec<u32>, mut mask: Option<Vec<bool>>, eos_target: bool| {
        if let Some(b) = options.bos {
            ids.insert(0, b);
            if let Some(m) = &mut mask {
                m.insert(0, false);
            }
        }
        if let Some(e) = options.eos {
            ids.push(e);
            if let Some(m) = &mut mask {
                m.push(eos_target);
            }
        }
        (ids, mask)
    };
    let named = |e: Error| Error::InvalidArgument(format!("{}: {e}", record.at()));
    Ok(match record {
        Record::Tokens { ids, mask, .. } => (ids.clone(), mask.clone()),
        Record::Text { text, .. } => wrap(tokenizer()?.encode(text).map_err(named)?, None, true),
        Record::Chat { messages, .. } => {
            let (ids, mask) = options
                .chat
                .render(tokenizer()?, messages, options.loss)
                .map_err(named)?;
            // Under assistant_only the end-of-sequence id is a target only after an
            // assistant's turn (it teaches the model to stop there).
            let eos_target = options.loss == LossPolicy::All
                || messages.last().is_some_and(|m| m.role == "assistant");
            wrap(ids, Some(mask), eos_target)
        }
    })
}

/// Reads every record, tokenizes them in batches on rayon's threads and writes them in
/// input order. `progress` is called after each batch with the totals so far.
pub fn build_text(
    reader: &mut RecordReader,
    writer: &mut impl DocumentSink,
    options: &TextBuildOptions,
    mut progress: impl FnMut(&BuildReport),
) -> Result<BuildReport> {
    let mut report = BuildReport::default();
    let mut index = 0u64;
    let mut first_source: Option<(String, Option<String>)> = None;
    loop {
        let mut batch = Vec::new();
        let mut sources = Vec::new();
        let mut bytes = 0usize;
        while bytes < options.batch_bytes {
            match reader.next_sourced_record()? {
                Some((r, source)) => {
                    let mine = options.part.is_none_or(|(i, n)| index % n == i);
                    index += 1;
                    if mine {
                        bytes += record_bytes(&r);
                        batch.push(r);
                        sources.push(source);
                    }
                }
                None => break,
            }
        }
        if batch.is_empty() {
            return Ok(report);
        }
        let docs: Vec<Result<Doc>> = batch.par_iter().map(|r| tokenize(r, options)).collect();
        for ((record, doc), source) in batch.iter().zip(docs).zip(sources) {
            let (ids, mask) = doc?;
            // All records have a source or none has: name the first that breaks the rule.
            let (at0, s0) =
                first_source.get_or_insert_with(|| (record.at().to_owned(), source.clone()));
            if s0.is_some() != source.is_some() {
                let (with, without) = if source.is_some() {
                    (record.at(), at0.as_str())
                } else {
                    (at0.as_str(), record.at())
                };
                return Err(Error::InvalidArgument(format!(
                    "{without} has no source but {with} has one: give --source for every input file, or a source field in every record"
                )));
            }
            let pushed = match &source {
                Some(name) => writer.push_sourced_document(name, &ids, mask.as_deref()),
                None => writer.push_document(&ids, mask.as_deref()),
            };
            pushed.map_err(|e| Error::InvalidArgument(format!("{}: {e}", record.at())))?;
            report.documents += 1;
            report.tokens += ids.len() as u64;
        }
        report.text_bytes += bytes as u64;
        progress(&report);
    }
}
