//! Sharded datasets: several dataset files and a JSON manifest that lists them, read as one
//! logical dataset with global document and token indexes (spec section 15). Shards are
//! mapped when first touched, so a manifest of thousands of shards opens at once.

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::format::metadata::Metadata;
use crate::format::plan::hex;
use crate::format::section_table::DType;
use crate::format::tokens::{dtype_for_vocab, TokenSlice};
use crate::read::{Dataset, VerifyReport};
use crate::write::{random_id, WriteSummary, Writer, WriterOptions};

/// The `format` value of a manifest.
pub const MANIFEST_FORMAT: &str = "tokpack-manifest";

/// One shard as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Path of the shard file, relative to the manifest's directory.
    pub path: String,
    /// The shard's `dataset_id`, 32 lowercase hex digits.
    pub dataset_id: String,
    /// Its document count.
    pub documents: u64,
    /// Its token count.
    pub tokens: u64,
    /// Whether it stores a loss mask.
    pub has_loss_mask: bool,
}

/// The manifest file's JSON (spec 15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// 1.
    pub version: u32,
    /// The logical dataset's id: plans and overlays made for the manifest bind to it.
    pub dataset_id: String,
    /// The metadata every shard shares (`vocab_size`, tokenizer, special ids).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The shards, in stream order.
    pub shards: Vec<ShardEntry>,
}

fn parse_hex(s: &str, what: &str) -> Result<[u8; 16]> {
    let bad = || Error::InvalidArgument(format!("{what} {s:?} is not 32 lowercase hex digits"));
    if s.len() != 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad());
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(id)
}

/// A manifest, opened: shards are mapped on first use.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    dir: PathBuf,
    id: [u8; 16],
    entries: Vec<ShardEntry>,
    ids: Vec<[u8; 16]>,
    token_base: Vec<u64>,
    doc_base: Vec<u64>,
    metadata: Metadata,
    dtype: DType,
    shards: Vec<OnceLock<std::result::Result<Dataset, String>>>,
}

impl Manifest {
    /// Reads and checks a manifest (spec 15); opens no shard.
    pub fn open(path: impl AsRef<Path>) -> Result<Manifest> {
        let path = path.as_ref().to_path_buf();
        let text =
            std::fs::read_to_string(&path).map_err(|e| Error::io("reading manifest", &path, e))?;
        let bad = |detail: String| {
            Error::InvalidArgument(format!("manifest {}: {detail}", path.display()))
        };
        let file: ManifestFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.format != MANIFEST_FORMAT || file.version != 1 {
            return Err(bad(format!(
                "format {:?} version {} is not {MANIFEST_FORMAT:?} version 1",
                file.format, file.version
            )));
        }
        let id = parse_hex(&file.dataset_id, "dataset_id").map_err(|e| bad(e.to_string()))?;
        let meta_bytes =
            serde_json::to_vec(&file.metadata).expect("can't fail: a JSON map serializes");
        let metadata = Metadata::parse(&meta_bytes, 0, DType::U32)
            .map_err(|e| bad(format!("metadata: {e}")))?;
        let dtype = dtype_for_vocab(metadata.vocab_size)
            .ok_or_else(|| bad("vocab_size out of range".into()))?;
        let mut token_base = vec![0u64];
        let mut doc_base = vec![0u64];
        let mut ids = Vec::with_capacity(file.shards.len());
        for (k, s) in file.shards.iter().enumerate() {
            ids.push(
                parse_hex(&s.dataset_id, &format!("shard {k} dataset_id"))
                    .map_err(|e| bad(e.to_string()))?,
            );
            let t = token_base[k]
                .checked_add(s.tokens)
                .ok_or_else(|| bad("token counts overflow".into()))?;
            let d = doc_base[k]
                .checked_add(s.documents)
                .ok_or_else(|| bad("document counts overflow".into()))?;
            token_base.push(t);
            doc_base.push(d);
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let shards = (0..file.shards.len()).map(|_| OnceLock::new()).collect();
        Ok(Manifest {
            path,
            dir,
            id,
            entries: file.shards,
            ids,
            token_base,
            doc_base,
            metadata,
            dtype,
            shards,
        })
    }

    /// The manifest's own path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shards as listed.
    pub fn entries(&self) -> &[ShardEntry] {
        &self.entries
    }

    /// The shared metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Where shard `k`'s file is.
    pub fn shard_path(&self, k: usize) -> PathBuf {
        self.dir.join(&self.entries[k].path)
    }

    /// Shard `k`, mapped and checked against its entry on first use.
    pub fn shard(&self, k: usize) -> Result<&Dataset> {
        let slot = self.shards.get(k).ok_or(Error::IndexOutOfRange {
            what: "shard",
            index: k as u64,
            len: self.shards.len() as u64,
        })?;
        let opened = slot.get_or_init(|| {
            let path = self.shard_path(k);
            let e = &self.entries[k];
            let ds = Dataset::open(&path).map_err(|err| format!("shard {k} ({}): {err}", path.display()))?;
            if ds.dataset_id() != self.ids[k]
                || ds.num_documents() != e.documents
                || ds.num_tokens() != e.tokens
                || ds.dtype() != self.dtype
                || ds.vocab_size() != self.metadata.vocab_size
            {
                return Err(format!(
                    "shard {k} ({}): the manifest lists dataset {} ({} documents, {} tokens, {}), the file is dataset {} ({} documents, {} tokens, {}): index and shard disagree",
                    path.display(), e.dataset_id, e.documents, e.tokens, self.dtype.name(),
                    hex(&ds.dataset_id()), ds.num_documents(), ds.num_tokens(), ds.dtype().name()
                ));
            }
            Ok(ds)
        });
        opened
            .as_ref()
            .map_err(|msg| Error::InvalidArgument(msg.clone()))
    }

    /// Number of shards.
    pub fn num_shards(&self) -> usize {
        self.entries.len()
    }

    /// How many shards are mapped so far.
    pub fn shards_mapped(&self) -> usize {
        self.shards.iter().filter(|s| s.get().is_some()).count()
    }

    fn shard_of_token(&self, t: u64) -> usize {
        // The last shard whose first token is <= t (skipping empty shards).
        self.token_base
            .partition_point(|&b| b <= t)
            .saturating_sub(1)
            .min(self.entries.len().saturating_sub(1))
    }

    /// The shard holding global document `d`, and `d`'s index inside it.
    pub fn locate_document(&self, d: u64) -> Result<(usize, u64)> {
        let n = self.num_documents();
        if d >= n {
            return Err(Error::IndexOutOfRange {
                what: "document",
                index: d,
                len: n,
            });
        }
        let k = self.doc_base.partition_point(|&b| b <= d) - 1;
        Ok((k, d - self.doc_base[k]))
    }

    /// The tokens of global document `d`: a slice of its shard's mapping, or decompressed
    /// into `scratch` when the shard's tokens are compressed.
    pub fn document_in<'a>(&'a self, d: u64, scratch: &'a mut Vec<u32>) -> Result<TokenSlice<'a>> {
        let (k, local) = self.locate_document(d)?;
        self.shard(k)?.document_in(local, scratch)
    }

    /// The loss mask of global document `d` as 0/1 bytes.
    pub fn document_loss_mask(&self, d: u64) -> Result<Vec<u8>> {
        let (k, local) = self.locate_document(d)?;
        self.shard(k)?.document_loss_mask(local)
    }

    /// Verifies every shard; the result for each, in order.
    pub fn verify_each(&self) -> Vec<Result<VerifyReport>> {
        (0..self.num_shards())
            .map(|k| {
                let ds = self.shard(k)?;
                ds.verify().map_err(|e| {
                    Error::InvalidArgument(format!(
                        "shard {k} ({}): {e}",
                        self.shard_path(k).display()
                    ))
                })
            })
            .collect()
    }

    /// Writes a manifest for `shards` (paths relative to the manifest's directory).
    pub fn write(
        path: impl AsRef<Path>,
        dataset_id: [u8; 16],
        metadata: &Metadata,
        shards: Vec<ShardEntry>,
    ) -> Result<()> {
        let path = path.as_ref();
        let file = ManifestFile {
            format: MANIFEST_FORMAT.into(),
            version: 1,
            dataset_id: hex(&dataset_id),
            metadata: metadata.to_json(),
            shards,
        };
        let text = serde_json::to_string_pretty(&file).expect("can't fail: serializable") + "\n";
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".manifest.")
            .suffix(".tokpack-tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io("creating a temporary file in", &dir, e))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())
            .map_err(|e| Error::io("writing", tmp.path(), e))?;
        tmp.persist(path)
            .map_err(|e| Error::io("renaming the manifest to", path, e.error))?;
        Ok(())
    }

    /// Joins manifests (the parts of a job array) into one, in the order given, with a new id;
    /// shard paths are rewritten relative to the new manifest's directory.
    pub fn join(parts: &[PathBuf], out: impl AsRef<Path>, dataset_id: [u8; 16]) -> Result<usize> {
        let out = out.as_ref();
        let out_dir = std::path::absolute(
            out.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .map_err(|e| Error::io("resolving", out, e))?;
        let mut shards = Vec::new();
        let mut metadata: Option<Metadata> = None;
        for p in parts {
            let (part_meta, m) = if p.extension().is_some_and(|e| e == "json") {
                let m = Manifest::open(p)?;
                (m.metadata.clone(), Some(m))
            } else {
                // A dataset file joins as one shard.
                let ds = Dataset::open(p)
                    .map_err(|e| Error::InvalidArgument(format!("{}: {e}", p.display())))?;
                let abs = std::path::absolute(p).map_err(|err| Error::io("resolving", p, err))?;
                shards.push(ShardEntry {
                    path: relative_to(&abs, &out_dir),
                    dataset_id: hex(&ds.dataset_id()),
                    documents: ds.num_documents(),
                    tokens: ds.num_tokens(),
                    has_loss_mask: ds.has_loss_mask(),
                });
                let mut meta = ds.metadata().clone();
                meta.sources = None;
                (meta, None)
            };
            match &metadata {
                None => metadata = Some(part_meta),
                Some(first)
                    if first.vocab_size != part_meta.vocab_size
                        || first.tokenizer != part_meta.tokenizer =>
                {
                    return Err(Error::InvalidArgument(format!(
                        "{}: vocabulary {} / tokenizer {:?} differ from the first part's {} / {:?}",
                        p.display(),
                        part_meta.vocab_size,
                        part_meta.tokenizer,
                        first.vocab_size,
                        first.tokenizer
                    )));
                }
                Some(_) => {}
            }
            let Some(m) = m else { continue };
            for (k, e) in m.entries.iter().enumerate() {
                let abs = std::path::absolute(m.shard_path(k))
                    .map_err(|err| Error::io("resolving", m.shard_path(k), err))?;
                let rel = relative_to(&abs, &out_dir);
                shards.push(ShardEntry {
                    path: rel,
                    ..e.clone()
                });
            }
        }
        let metadata =
            metadata.ok_or_else(|| Error::InvalidArgument("no manifests to join".into()))?;
        let n = shards.len();
        Manifest::write(out, dataset_id, &metadata, shards)?;
        Ok(n)
    }
}

/// `path` relative to `base` (both absolute), with `..` where needed.
fn relative_to(path: &Path, base: &Path) -> String {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out.to_string_lossy().into_owned()
}

impl Corpus for Manifest {
    fn corpus_id(&self) -> [u8; 16] {
        self.id
    }

    fn num_tokens(&self) -> u64 {
        *self.token_base.last().expect("can't fail: starts with 0")
    }

    fn num_documents(&self) -> u64 {
        *self.doc_base.last().expect("can't fail: starts with 0")
    }

    fn token_dtype(&self) -> DType {
        self.dtype
    }

    fn corpus_metadata(&self) -> &Metadata {
        &self.metadata
    }

    fn has_mask(&self) -> bool {
        self.entries.iter().any(|e| e.has_loss_mask)
    }

    fn tokens_in<'a>(
        &'a self,
        range: Range<u64>,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        let n = self.num_tokens();
        if range.start > range.end || range.end > n {
            return Err(Error::IndexOutOfRange {
                what: "token",
                index: range.end,
                len: n,
            });
        }
        if range.start == range.end {
            return Ok(TokenSlice::U32(&[]));
        }
        let k = self.shard_of_token(range.start);
        if range.end <= self.token_base[k + 1] {
            let base = self.token_base[k];
            let ds = self.shard(k)?;
            return ds.tokens_in(range.start - base..range.end - base, scratch);
        }
        let mut part = Vec::new();
        scratch.clear();
        let mut at = range.start;
        while at < range.end {
            let k = self.shard_of_token(at);
            let (base, end) = (self.token_base[k], self.token_base[k + 1].min(range.end));
            let ds = self.shard(k)?;
            ds.tokens_in(at - base..end - base, &mut part)?
                .extend_u32(scratch);
            at = end;
        }
        Ok(TokenSlice::U32(scratch))
    }

    fn mask_into(&self, start: u64, out: &mut [u8]) -> Result<()> {
        let end = start + out.len() as u64;
        if end > self.num_tokens() {
            return Err(Error::IndexOutOfRange {
                what: "loss-mask bit",
                index: end,
                len: self.num_tokens(),
            });
        }
        let mut at = start;
        while at < end {
            let k = self.shard_of_token(at);
            let (base, stop) = (self.token_base[k], self.token_base[k + 1].min(end));
            let o = (at - start) as usize;
            self.shard(k)?
                .loss_mask_into(at - base, &mut out[o..o + (stop - at) as usize])?;
            at = stop;
        }
        Ok(())
    }

    fn doc_starts_in(&self, from: u64, to: u64, out: &mut Vec<u64>) -> Result<()> {
        let mut k = self.shard_of_token(from.min(self.num_tokens().saturating_sub(1)));
        while k < self.entries.len() && self.token_base[k] <= to {
            let base = self.token_base[k];
            let ds = self.shard(k)?;
            let offsets = ds.doc_offsets();
            let lo = from.saturating_sub(base);
            let first = if from < base {
                0
            } else {
                offsets.partition_point(|&o| o <= lo)
            };
            out.extend(
                offsets[first..]
                    .iter()
                    .map(|&o| o + base)
                    .filter(|&g| g > from)
                    .take_while(|&g| g <= to),
            );
            k += 1;
        }
        Ok(())
    }

    fn is_doc_start(&self, p: u64) -> Result<bool> {
        let k = self.shard_of_token(p.min(self.num_tokens().saturating_sub(1)));
        if p == self.token_base[k] {
            return Ok(true);
        }
        Ok(self
            .shard(k)?
            .doc_offsets()
            .binary_search(&(p - self.token_base[k]))
            .is_ok())
    }

    fn all_offsets(&self) -> Result<Cow<'_, [u64]>> {
        let mut out = Vec::with_capacity(self.num_documents() as usize + 1);
        out.push(0);
        for k in 0..self.entries.len() {
            let base = self.token_base[k];
            out.extend(self.shard(k)?.doc_offsets()[1..].iter().map(|&o| o + base));
        }
        Ok(Cow::Owned(out))
    }

    fn sources(&self) -> Result<Option<crate::sources::DocSources>> {
        let mut join = crate::sources::NameJoin::default();
        let mut ids = Vec::with_capacity(self.num_documents() as usize);
        let mut without = None;
        for k in 0..self.entries.len() {
            let ds = self.shard(k)?;
            match ds.sources()? {
                Some(local) => {
                    let map = join.add(&local.names)?;
                    ids.extend(local.ids.iter().map(|&id| map[usize::from(id)]));
                }
                None if ds.num_documents() > 0 => without = without.or(Some(k)),
                None => {}
            }
        }
        if join.is_empty() {
            return Ok(None);
        }
        match without {
            None => Ok(Some(crate::sources::DocSources {
                names: join.into_names(),
                ids,
            })),
            Some(k) => Err(Error::InvalidArgument(format!(
                "shard {k} ({}) has no source ids but other shards have: build every shard with sources",
                self.shard_path(k).display()
            ))),
        }
    }
}

/// Where documents go: one dataset file, or shards of about `shard_tokens` tokens each.
pub trait DocumentSink {
    /// Appends one document (see [`Writer::push_document`]).
    fn push_document(&mut self, tokens: &[u32], mask: Option<&[bool]>) -> Result<()>;
    /// Appends one document of the source named `source` (see
    /// [`Writer::push_sourced_document`]).
    fn push_sourced_document(
        &mut self,
        source: &str,
        tokens: &[u32],
        mask: Option<&[bool]>,
    ) -> Result<()>;
}

impl DocumentSink for Writer {
    fn push_document(&mut self, tokens: &[u32], mask: Option<&[bool]>) -> Result<()> {
        Writer::push_document(self, tokens, mask)
    }

    fn push_sourced_document(
        &mut self,
        source: &str,
        tokens: &[u32],
        mask: Option<&[bool]>,
    ) -> Result<()> {
        let id = self.source_id(source)?;
        Writer::push_sourced_document(self, id, tokens, mask)
    }
}

/// Writes shards of about `shard_tokens` tokens (a shard closes after the document that
/// reaches it) and, on `finish`, the manifest that lists them. Dropped or failed, it removes
/// the shards it finished.
pub struct ShardedWriter {
    manifest: PathBuf,
    stem: String,
    dir: PathBuf,
    shard_tokens: u64,
    options: WriterOptions,
    current: Option<Writer>,
    done: Vec<(PathBuf, WriteSummary)>,
    finished: bool,
}

impl ShardedWriter {
    /// Shards named `STEM-00000.tpk`, ... beside `manifest`, where STEM is the manifest's
    /// file name without `.manifest.json` (or `.json`).
    pub fn create(
        manifest: impl AsRef<Path>,
        shard_tokens: u64,
        options: WriterOptions,
    ) -> Result<ShardedWriter> {
        let manifest = manifest.as_ref().to_path_buf();
        if shard_tokens == 0 {
            return Err(Error::InvalidArgument(
                "shard size must be at least 1 token".into(),
            ));
        }
        let name = manifest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name
            .trim_end_matches(".json")
            .trim_end_matches(".manifest")
            .to_owned();
        if stem.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "manifest path {} has no file name",
                manifest.display()
            )));
        }
        let dir = match manifest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        options.metadata.validate(None)?;
        Ok(ShardedWriter {
            manifest,
            stem,
            dir,
            shard_tokens,
            options,
            current: None,
            done: Vec::new(),
            finished: false,
        })
    }

    fn shard_options(&self, k: usize) -> WriterOptions {
        let mut o = self.options.clone();
        // A fixed id gives each shard a fixed id of its own.
        o.dataset_id = self.options.dataset_id.map(|mut id| {
            for (b, x) in id.iter_mut().zip((k as u64 + 1).to_le_bytes()) {
                *b ^= x;
            }
            id
        });
        o
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some(w) = self.current.take() {
            let summary = w.finish()?;
            self.done.push((summary.path.clone(), summary));
        }
        Ok(())
    }

    /// Finishes the last shard and writes the manifest; returns the manifest's path and the
    /// shards' summaries.
    pub fn finish(mut self) -> Result<(PathBuf, Vec<WriteSummary>)> {
        self.close_current()?;
        let entries = self
            .done
            .iter()
            .map(|(p, s)| ShardEntry {
                path: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                dataset_id: hex(&s.dataset_id),
                documents: s.num_documents,
                tokens: s.num_tokens,
                has_loss_mask: s.has_loss_mask,
            })
            .collect();
        let id = match self.options.dataset_id {
            Some(id) => id,
            None => random_id()?,
        };
        let mut metadata = self.options.metadata.clone();
        // Source names are each shard's own (spec 15).
        metadata.sources = None;
        metadata
            .writer
            .get_or_insert_with(|| format!("tokpack {}", env!("CARGO_PKG_VERSION")));
        Manifest::write(&self.manifest, id, &metadata, entries)?;
        self.finished = true;
        Ok((
            self.manifest.clone(),
            self.done.iter().map(|(_, s)| s.clone()).collect(),
        ))
    }
}

impl ShardedWriter {
    fn current_writer(&mut self) -> Result<&mut Writer> {
        if self.current.is_none() {
            let k = self.done.len();
            let path = self.dir.join(format!("{}-{k:05}.tpk", self.stem));
            self.current = Some(Writer::create(path, self.shard_options(k))?);
        }
        Ok(self.current.as_mut().expect("can't fail: set above"))
    }

    fn after_push(&mut self) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_some_and(|w| w.num_tokens() >= self.shard_tokens)
        {
            self.close_current()?;
        }
        Ok(())
    }
}

impl DocumentSink for ShardedWriter {
    fn push_document(&mut self, tokens: &[u32], mask: Option<&[bool]>) -> Result<()> {
        self.current_writer()?.push_document(tokens, mask)?;
        self.after_push()
    }

    fn push_sourced_document(
        &mut self,
        source: &str,
        tokens: &[u32],
        mask: Option<&[bool]>,
    ) -> Result<()> {
        DocumentSink::push_sourced_document(self.current_writer()?, source, tokens, mask)?;
        self.after_push()
    }
}

impl Drop for ShardedWriter {
    fn drop(&mut self) {
        if !self.finished {
            for (p, _) in &self.done {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
