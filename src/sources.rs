//! Document sources (spec 5.5, 12.5, 15): each document's source as one numbering across a
//! dataset or a manifest's shards, counts per source, and source-filtered views.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::format::metadata::Metadata;
use crate::format::section_table::DType;
use crate::format::tokens::TokenSlice;

/// Every document's source: `names[ids[d]]` is document `d`'s source name. For a manifest
/// the numbering is the manifest's (names in order of first appearance across shards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSources {
    /// The source names, id `k` = `names[k]`.
    pub names: Vec<String>,
    /// One id per document, each `< names.len()`.
    pub ids: Vec<u16>,
}

/// Documents and tokens of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCount {
    /// The source's name.
    pub name: String,
    /// Its documents.
    pub documents: u64,
    /// Its tokens.
    pub tokens: u64,
}

impl DocSources {
    /// The id of `name`, if the corpus has that source.
    pub fn id_of(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|k| k as u16)
    }

    /// For each source id, whether it is one of `names`; refuses a name the corpus lacks.
    pub fn selection<S: AsRef<str>>(&self, names: &[S]) -> Result<Vec<bool>> {
        let mut keep = vec![false; self.names.len()];
        for n in names {
            let n = n.as_ref();
            let id = self.id_of(n).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no source {n:?}; the sources are {}",
                    self.names.join(", ")
                ))
            })?;
            keep[usize::from(id)] = true;
        }
        Ok(keep)
    }

    /// Documents and tokens per source, in id order, given the document offsets.
    pub fn counts(&self, offsets: &[u64]) -> Vec<SourceCount> {
        let mut out: Vec<SourceCount> = self
            .names
            .iter()
            .map(|n| SourceCount {
                name: n.clone(),
                documents: 0,
                tokens: 0,
            })
            .collect();
        for (d, &id) in self.ids.iter().enumerate() {
            let c = &mut out[usize::from(id)];
            c.documents += 1;
            c.tokens += offsets[d + 1].saturating_sub(offsets[d]);
        }
        out
    }
}

/// Documents and tokens per source of `corpus`, in id order; `None` without source ids.
pub fn source_counts<C: Corpus + ?Sized>(corpus: &C) -> Result<Option<Vec<SourceCount>>> {
    let Some(sources) = corpus.sources()? else {
        return Ok(None);
    };
    Ok(Some(sources.counts(&corpus.all_offsets()?)))
}

/// Maps per-shard source names to one numbering by name (spec 15): the ids of a part whose
/// names are `local` become ids of the joined list.
#[derive(Debug, Default)]
pub(crate) struct NameJoin {
    names: Vec<String>,
    lookup: HashMap<String, u16>,
}

impl NameJoin {
    /// Adds `local`'s names (new ones at the end) and returns local id -> joined id.
    pub(crate) fn add(&mut self, local: &[String]) -> Result<Vec<u16>> {
        local
            .iter()
            .map(|n| {
                if let Some(&id) = self.lookup.get(n) {
                    return Ok(id);
                }
                let id = u16::try_from(self.names.len()).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "more than 65,536 source names across the shards (at {n:?})"
                    ))
                })?;
                self.names.push(n.clone());
                self.lookup.insert(n.clone(), id);
                Ok(id)
            })
            .collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn into_names(self) -> Vec<String> {
        self.names
    }
}

/// The contiguous view of a corpus restricted to some sources (spec 12.5): the selected
/// documents' tokens one after the other, as a [`Corpus`] of their own. Build rows over it
/// with [`Rows::contiguous`](crate::Rows::contiguous). Holds one offset per selected
/// document.
#[derive(Debug)]
pub struct Filtered<'c, C> {
    inner: &'c C,
    /// The selected documents' start in the inner stream.
    starts: Vec<u64>,
    /// Offsets of the filtered stream: `0`, then running sums of the selected lengths.
    offsets: Vec<u64>,
    names: Vec<String>,
}

impl<'c, C: Corpus> Filtered<'c, C> {
    /// The documents of `inner` whose source is one of `names`.
    pub fn new<S: AsRef<str>>(inner: &'c C, names: &[S]) -> Result<Filtered<'c, C>> {
        let sources = inner.sources()?.ok_or_else(|| {
            Error::InvalidArgument(
                "the dataset has no source ids (build it with --source) to filter by".into(),
            )
        })?;
        if names.is_empty() {
            return Err(Error::InvalidArgument(
                "a source filter needs at least one source name".into(),
            ));
        }
        let keep = sources.selection(names)?;
        let all = inner.all_offsets()?;
        let mut starts = Vec::new();
        let mut offsets = vec![0u64];
        for (d, &id) in sources.ids.iter().enumerate() {
            if keep[usize::from(id)] {
                let (s, e) = (all[d], all[d + 1]);
                if s > e {
                    return Err(Error::format(
                        crate::ErrorCode::BadDocOffsets,
                        Some("DOC_OFFSETS"),
                        None,
                        format!("document {d} spans {s}..{e}"),
                    ));
                }
                starts.push(s);
                offsets.push(offsets.last().copied().unwrap_or(0) + (e - s));
            }
        }
        Ok(Filtered {
            inner,
            starts,
            offsets,
            names: names.iter().map(|n| n.as_ref().to_owned()).collect(),
        })
    }

    /// The source names the view keeps.
    pub fn source_names(&self) -> &[String] {
        &self.names
    }

    /// The selected document holding filtered position `p` (`p < num_tokens`).
    fn doc_of(&self, p: u64) -> usize {
        self.offsets.partition_point(|&o| o <= p) - 1
    }

    /// The inner ranges of filtered range `range`, in order.
    fn pieces(&self, range: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        let mut at = range.start;
        let mut d = if range.start < range.end {
            self.doc_of(range.start)
        } else {
            self.starts.len()
        };
        std::iter::from_fn(move || {
            // Skip empty documents.
            while d < self.starts.len() && self.offsets[d + 1] <= at {
                d += 1;
            }
            if at >= range.end || d >= self.starts.len() {
                return None;
            }
            let end = self.offsets[d + 1].min(range.end);
            let inner = self.starts[d] + (at - self.offsets[d]);
            let piece = inner..inner + (end - at);
            at = end;
            Some(piece)
        })
    }

    fn check(&self, end: u64, what: &'static str) -> Result<()> {
        let n = self.num_tokens();
        if end > n {
            return Err(Error::IndexOutOfRange {
                what,
                index: end,
                len: n,
            });
        }
        Ok(())
    }
}

impl<C: Corpus> Corpus for Filtered<'_, C> {
    fn corpus_id(&self) -> [u8; 16] {
        self.inner.corpus_id()
    }

    fn num_tokens(&self) -> u64 {
        *self.offsets.last().expect("can't fail: starts with 0")
    }

    fn num_documents(&self) -> u64 {
        self.starts.len() as u64
    }

    fn token_dtype(&self) -> DType {
        self.inner.token_dtype()
    }

    fn corpus_metadata(&self) -> &Metadata {
        self.inner.corpus_metadata()
    }

    fn has_mask(&self) -> bool {
        self.inner.has_mask()
    }

    fn tokens_in<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        if range.start > range.end {
            return Err(Error::IndexOutOfRange {
                what: "token",
                index: range.start,
                len: self.num_tokens(),
            });
        }
        self.check(range.end, "token")?;
        let mut pieces = self.pieces(range.clone());
        let first = pieces.next();
        let second = pieces.next();
        match (first, second) {
            (None, _) => Ok(TokenSlice::U32(&[])),
            // One document: straight out of the inner corpus.
            (Some(p), None) => self.inner.tokens_in(p, scratch),
            (Some(p), Some(q)) => {
                // Across documents: gathered into `scratch` (the inner corpus borrows its
                // own buffer only when it must decompress or cross shards).
                scratch.clear();
                let mut inner = Vec::new();
                for r in [p, q].into_iter().chain(pieces) {
                    self.inner.tokens_in(r, &mut inner)?.extend_u32(scratch);
                }
                Ok(TokenSlice::U32(scratch))
            }
        }
    }

    fn mask_into(&self, start: u64, out: &mut [u8]) -> Result<()> {
        let end = start.saturating_add(out.len() as u64);
        self.check(end, "loss-mask bit")?;
        let mut at = 0usize;
        for r in self.pieces(start..end) {
            let n = (r.end - r.start) as usize;
            self.inner.mask_into(r.start, &mut out[at..at + n])?;
            at += n;
        }
        Ok(())
    }

    fn doc_starts_in(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()> {
        let first = self.offsets.partition_point(|&o| o <= from);
        out.extend(
            self.offsets[first..]
                .iter()
                .copied()
                .take_while(|&o| o <= to),
        );
        Ok(())
    }

    fn is_doc_start(&self, p: u64) -> Result<bool> {
        Ok(self.offsets.binary_search(&p).is_ok())
    }

    fn all_offsets(&self) -> Result<Cow<'_, [u64]>> {
        Ok(Cow::Borrowed(&self.offsets))
    }

    fn sources(&self) -> Result<Option<DocSources>> {
        let Some(all) = self.inner.sources()? else {
            return Ok(None);
        };
        let keep = all.selection(&self.names)?;
        Ok(Some(DocSources {
            ids: all
                .ids
                .iter()
                .copied()
                .filter(|&id| keep[usize::from(id)])
                .collect(),
            names: all.names,
        }))
    }
}
