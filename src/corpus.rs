//! What views, plans and overlays need from a token stream: one dataset file, or the shards
//! of a manifest read as one.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::Result;
use crate::format::metadata::Metadata;
use crate::format::section_table::DType;
use crate::format::tokens::TokenSlice;
use crate::read::Dataset;
use crate::sources::DocSources;

/// A token stream cut into documents, with a loss mask and metadata, addressed by global
/// token and document indexes: a [`Dataset`] or a [`Manifest`](crate::Manifest).
pub trait Corpus {
    /// The id plans and overlays bind to.
    fn corpus_id(&self) -> [u8; 16];
    /// Number of tokens.
    fn num_tokens(&self) -> u64;
    /// Number of documents.
    fn num_documents(&self) -> u64;
    /// Element type of the tokens.
    fn token_dtype(&self) -> DType;
    /// The metadata (of the first shard, for a manifest).
    fn corpus_metadata(&self) -> &Metadata;
    /// Whether any token may have a loss-mask bit of 0.
    fn has_mask(&self) -> bool;
    /// Tokens `range`: borrowed when they lie in one file, else gathered into `scratch`.
    fn tokens_in<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>>;
    /// Loss-mask bits of tokens `start .. start + out.len()` as 0/1 (ones where no mask).
    fn mask_into(&self, start: u64, out: &mut [u8]) -> Result<()>;
    /// Appends to `out` every document start `p` with `from < p <= to`, in order.
    fn doc_starts_in(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()>;
    /// Whether a document starts at token `p`.
    fn is_doc_start(&self, p: u64) -> Result<bool>;
    /// All `num_documents() + 1` document offsets.
    fn all_offsets(&self) -> Result<Cow<'_, [u64]>>;
    /// Every document's source, checked (spec 5.5); `None` when there are no source ids.
    fn sources(&self) -> Result<Option<DocSources>>;
}

impl<D: AsRef<[u8]>> Corpus for Dataset<D> {
    fn corpus_id(&self) -> [u8; 16] {
        self.dataset_id()
    }

    fn num_tokens(&self) -> u64 {
        Dataset::num_tokens(self)
    }

    fn num_documents(&self) -> u64 {
        Dataset::num_documents(self)
    }

    fn token_dtype(&self) -> DType {
        self.dtype()
    }

    fn corpus_metadata(&self) -> &Metadata {
        self.metadata()
    }

    fn has_mask(&self) -> bool {
        self.has_loss_mask()
    }

    #[inline]
    fn tokens_in<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        Dataset::tokens_in(self, range, scratch)
    }

    fn mask_into(&self, start: u64, out: &mut [u8]) -> Result<()> {
        self.loss_mask_into(start, out)
    }

    fn doc_starts_in(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()> {
        let offsets = self.doc_offsets();
        let first = offsets.partition_point(|&o| o <= from);
        // An unverified file may hold decreasing offsets: keep only what lies in (from, to].
        out.extend(
            offsets[first..]
                .iter()
                .copied()
                .take_while(|&o| o <= to)
                .filter(|&o| o > from),
        );
        Ok(())
    }

    fn is_doc_start(&self, p: u64) -> Result<bool> {
        Ok(self.doc_offsets().binary_search(&p).is_ok())
    }

    fn all_offsets(&self) -> Result<Cow<'_, [u64]>> {
        Ok(Cow::Borrowed(self.doc_offsets()))
    }

    fn sources(&self) -> Result<Option<DocSources>> {
        let (Some(ids), Some(names)) = (self.document_source_ids(), self.source_names()) else {
            return Ok(None);
        };
        let at = self
            .sections()
            .iter()
            .find(|e| e.kind.get() == crate::SectionKind::DocSources.code())
            .map_or(0, |e| e.offset.get());
        crate::format::doc_sources::check_ids(ids, names.len(), at)?;
        Ok(Some(DocSources {
            names: names.to_vec(),
            ids: ids.to_vec(),
        }))
    }
}

/// A dataset file or a manifest, chosen by path: a `.json` path is a manifest.
#[derive(Debug)]
// One of these is opened per process and lives as long as it does: its size is no concern.
#[allow(clippy::large_enum_variant)]
pub enum AnyCorpus {
    /// One dataset file.
    Dataset(Dataset),
    /// A manifest of shards.
    Manifest(crate::Manifest),
}

impl AnyCorpus {
    /// Opens `path` as a manifest when it ends in `.json`, else as a dataset file.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<AnyCorpus> {
        let path = path.as_ref();
        if path.extension().is_some_and(|e| e == "json") {
            Ok(AnyCorpus::Manifest(crate::Manifest::open(path)?))
        } else {
            Ok(AnyCorpus::Dataset(Dataset::open(path)?))
        }
    }

    fn inner(&self) -> &dyn CorpusDyn {
        match self {
            AnyCorpus::Dataset(d) => d,
            AnyCorpus::Manifest(m) => m,
        }
    }
}

/// [`Corpus`] without its generic-free restrictions, for dispatch.
trait CorpusDyn {
    fn id(&self) -> [u8; 16];
    fn tokens(&self) -> u64;
    fn documents(&self) -> u64;
    fn dtype(&self) -> DType;
    fn meta(&self) -> &Metadata;
    fn mask(&self) -> bool;
    fn tokens_in_dyn<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>>;
    fn mask_into_dyn(&self, start: u64, out: &mut [u8]) -> Result<()>;
    fn doc_starts_dyn(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()>;
    fn is_doc_start_dyn(&self, p: u64) -> Result<bool>;
    fn offsets_dyn(&self) -> Result<Cow<'_, [u64]>>;
    fn sources_dyn(&self) -> Result<Option<DocSources>>;
}

impl<C: Corpus> CorpusDyn for C {
    fn id(&self) -> [u8; 16] {
        self.corpus_id()
    }
    fn tokens(&self) -> u64 {
        self.num_tokens()
    }
    fn documents(&self) -> u64 {
        self.num_documents()
    }
    fn dtype(&self) -> DType {
        self.token_dtype()
    }
    fn meta(&self) -> &Metadata {
        self.corpus_metadata()
    }
    fn mask(&self) -> bool {
        self.has_mask()
    }
    fn tokens_in_dyn<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        self.tokens_in(range, scratch)
    }
    fn mask_into_dyn(&self, start: u64, out: &mut [u8]) -> Result<()> {
        self.mask_into(start, out)
    }
    fn doc_starts_dyn(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()> {
        self.doc_starts_in(from, to, out)
    }
    fn is_doc_start_dyn(&self, p: u64) -> Result<bool> {
        self.is_doc_start(p)
    }
    fn offsets_dyn(&self) -> Result<Cow<'_, [u64]>> {
        self.all_offsets()
    }
    fn sources_dyn(&self) -> Result<Option<DocSources>> {
        self.sources()
    }
}

impl Corpus for AnyCorpus {
    fn corpus_id(&self) -> [u8; 16] {
        self.inner().id()
    }
    fn num_tokens(&self) -> u64 {
        self.inner().tokens()
    }
    fn num_documents(&self) -> u64 {
        self.inner().documents()
    }
    fn token_dtype(&self) -> DType {
        self.inner().dtype()
    }
    fn corpus_metadata(&self) -> &Metadata {
        self.inner().meta()
    }
    fn has_mask(&self) -> bool {
        self.inner().mask()
    }
    fn tokens_in<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        self.inner().tokens_in_dyn(range, scratch)
    }
    fn mask_into(&self, start: u64, out: &mut [u8]) -> Result<()> {
        self.inner().mask_into_dyn(start, out)
    }
    fn doc_starts_in(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()> {
        self.inner().doc_starts_dyn(from, to, out)
    }
    fn is_doc_start(&self, p: u64) -> Result<bool> {
        self.inner().is_doc_start_dyn(p)
    }
    fn all_offsets(&self) -> Result<Cow<'_, [u64]>> {
        self.inner().offsets_dyn()
    }
    fn sources(&self) -> Result<Option<DocSources>> {
        self.inner().sources_dyn()
    }
}
