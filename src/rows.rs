//! Training rows (spec section 12): `input_ids`, `labels`, `position_ids`, `cu_seqlens` and
//! `loss_mask` for row `i` of a view, written into buffers the caller owns.

use crate::corpus::Corpus;
use crate::error::{Error, Result};
use crate::format::plan::{contiguous_rows, Strategy, Tail};
use crate::format::tokens::{Token, TokenSlice};
use crate::overlay::{check_disjoint, InsertionIndex, Overlay};
use crate::plan::{row_length, row_segment_range, Plan};

/// The label of a position with no target.
pub const IGNORE_INDEX: i64 = -100;

/// The arrays of one row, reused from row to row (no allocation once they have grown).
#[derive(Clone, Default)]
pub struct RowBuffers {
    /// Token ids, `L` of them; padding holds the pad id.
    pub input_ids: Vec<u32>,
    /// The id each position predicts, or [`IGNORE_INDEX`].
    pub labels: Vec<i64>,
    /// 0 at the start of each run (document, segment or padding), counting up.
    pub position_ids: Vec<u32>,
    /// Run boundaries `[0, ..., L]`, for variable-length attention kernels.
    pub cu_seqlens: Vec<u32>,
    /// 1 where `labels` is a target, else 0.
    pub loss_mask: Vec<u8>,
    /// Tokens gathered across shard boundaries.
    scratch: Vec<u32>,
    /// Document starts inside the row.
    starts: Vec<u64>,
}

impl PartialEq for RowBuffers {
    fn eq(&self, other: &RowBuffers) -> bool {
        self.input_ids == other.input_ids
            && self.labels == other.labels
            && self.position_ids == other.position_ids
            && self.cu_seqlens == other.cu_seqlens
            && self.loss_mask == other.loss_mask
    }
}

impl Eq for RowBuffers {}

impl std::fmt::Debug for RowBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowBuffers")
            .field("input_ids", &self.input_ids)
            .field("labels", &self.labels)
            .field("position_ids", &self.position_ids)
            .field("cu_seqlens", &self.cu_seqlens)
            .field("loss_mask", &self.loss_mask)
            .finish()
    }
}

impl RowBuffers {
    /// Buffers sized for rows of `seq_len`.
    pub fn with_seq_len(seq_len: usize) -> RowBuffers {
        RowBuffers {
            input_ids: Vec::with_capacity(seq_len),
            labels: Vec::with_capacity(seq_len),
            position_ids: Vec::with_capacity(seq_len),
            cu_seqlens: Vec::with_capacity(16),
            loss_mask: Vec::with_capacity(seq_len + 1),
            scratch: Vec::new(),
            starts: Vec::new(),
        }
    }

    /// Sizes every array to `l` (allocating only the first time) and starts `cu_seqlens`;
    /// the caller writes every position.
    fn start(&mut self, l: usize) {
        self.input_ids.resize(l, 0);
        self.labels.resize(l, IGNORE_INDEX);
        self.position_ids.resize(l, 0);
        self.loss_mask.resize(l, 0);
        self.cu_seqlens.clear();
        self.cu_seqlens.push(0);
    }

    /// Positions `at..at + n` form one run: position ids 0.., and its end in `cu_seqlens`.
    fn run(&mut self, at: usize, n: usize) {
        for (k, p) in self.position_ids[at..at + n].iter_mut().enumerate() {
            *p = k as u32;
        }
        self.cu_seqlens.push((at + n) as u32);
    }

    /// Positions `at..` are padding: pad id, no target, one run.
    fn pad(&mut self, at: usize, pad: u32) {
        let l = self.input_ids.len();
        if at < l {
            self.input_ids[at..].fill(pad);
            self.labels[at..].fill(IGNORE_INDEX);
            self.loss_mask[at..].fill(0);
            self.run(at, l - at);
        }
    }

    /// `input_ids[at..]` from `tokens`, widened.
    fn copy_ids(&mut self, at: usize, tokens: TokenSlice<'_>) {
        fn go<T: Token>(out: &mut [u32], s: &[T]) {
            for (d, &t) in out.iter_mut().zip(s) {
                *d = t.into();
            }
        }
        let out = &mut self.input_ids[at..at + tokens.len()];
        match tokens {
            TokenSlice::U8(s) => go(out, s),
            TokenSlice::U16(s) => go(out, s),
            TokenSlice::U32(s) => go(out, s),
        }
    }

    /// `labels[at..at + n]` from `targets` where `loss_mask` is 1, else [`IGNORE_INDEX`].
    fn labels_from(&mut self, at: usize, targets: TokenSlice<'_>) {
        match targets {
            TokenSlice::U8(s) => self.labels_from_mask(at, s),
            TokenSlice::U16(s) => self.labels_from_mask(at, s),
            TokenSlice::U32(s) => self.labels_from_mask(at, s),
        }
    }

    /// `labels[at..at + n]` from `targets` where `loss_mask` is 1, else [`IGNORE_INDEX`].
    fn labels_from_mask<T: Token>(&mut self, at: usize, targets: &[T]) {
        let n = targets.len();
        for ((label, &bit), &t) in self.labels[at..at + n]
            .iter_mut()
            .zip(&self.loss_mask[at..at + n])
            .zip(targets)
        {
            let id: u32 = t.into();
            *label = if bit == 1 {
                i64::from(id)
            } else {
                IGNORE_INDEX
            };
        }
    }
}

/// How a [`Rows`] view reads a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOptions {
    /// Tokens per row, `L` (a plan's own length wins when a plan is given).
    pub seq_len: u64,
    /// Contiguous view: drop or pad the last, partial row (a plan's own choice wins).
    pub tail: Tail,
    /// The id for padding positions; else the metadata's `pad_id`, else `eos_id`, else 0.
    pub pad_id: Option<u32>,
    /// Contiguous view: no target where the next token starts another document.
    pub mask_document_boundaries: bool,
}

impl RowOptions {
    /// Rows of `seq_len`, tail dropped, default padding, no boundary masking.
    pub fn new(seq_len: u64) -> RowOptions {
        RowOptions {
            seq_len,
            tail: Tail::Drop,
            pad_id: None,
            mask_document_boundaries: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Source<'p> {
    Contiguous,
    Plan {
        rows: &'p [u64],
        segments: &'p [u64],
    },
}

/// The rows of a dataset (or a manifest's shards) in one view: contiguous, or as a stored
/// plan cuts them.
#[derive(Debug)]
pub struct Rows<'d, 'p, C> {
    dataset: &'d C,
    source: Source<'p>,
    plan_info: Option<&'p crate::format::plan::PlanInfo>,
    plan_id: Option<[u8; 16]>,
    overlays: Vec<InsertionIndex<'p>>,
    seq_len: usize,
    n_rows: u64,
    pad_id: u32,
    mask_boundaries: bool,
}

fn default_pad<C: Corpus>(dataset: &C, options: &RowOptions) -> u32 {
    let m = dataset.corpus_metadata();
    options.pad_id.or(m.pad_id).or(m.eos_id).unwrap_or(0)
}

fn check_seq_len(seq_len: u64) -> Result<usize> {
    let max = crate::format::plan::MAX_SEQ_LEN;
    if seq_len == 0 || seq_len > max {
        return Err(Error::InvalidArgument(format!(
            "sequence length {seq_len} is not between 1 and {max}"
        )));
    }
    Ok(seq_len as usize)
}

impl<'d, 'p, C: Corpus> Rows<'d, 'p, C> {
    /// The contiguous view (spec 12.1): row `i` is the stream `[i*L, i*L + L + 1)`.
    pub fn contiguous(dataset: &'d C, options: &RowOptions) -> Result<Rows<'d, 'p, C>> {
        let seq_len = check_seq_len(options.seq_len)?;
        Ok(Rows {
            dataset,
            source: Source::Contiguous,
            plan_info: None,
            plan_id: None,
            overlays: Vec::new(),
            seq_len,
            n_rows: contiguous_rows(dataset.num_tokens(), options.seq_len, options.tail),
            pad_id: default_pad(dataset, options),
            mask_boundaries: options.mask_document_boundaries,
        })
    }

    /// The view a stored plan defines; refuses a plan made for another dataset.
    pub fn with_plan<P: AsRef<[u8]>>(
        dataset: &'d C,
        plan: &'p Plan<P>,
        options: &RowOptions,
    ) -> Result<Rows<'d, 'p, C>> {
        plan.check_dataset(dataset)?;
        let info = plan.info();
        let seq_len = check_seq_len(info.seq_len)?;
        let source = match info.strategy {
            Strategy::Contiguous => Source::Contiguous,
            _ => Source::Plan {
                rows: plan.rows(),
                segments: plan.segments(),
            },
        };
        Ok(Rows {
            dataset,
            source,
            plan_info: Some(info),
            plan_id: Some(plan.file_id()),
            overlays: Vec::new(),
            seq_len,
            n_rows: info.rows,
            pad_id: default_pad(dataset, options),
            mask_boundaries: options.mask_document_boundaries,
        })
    }

    /// Applies insertion overlays to every row (spec 13.4). Each must be bound to this
    /// dataset and view, and no two may intersect.
    pub fn with_overlays<O: AsRef<[u8]>>(
        mut self,
        overlays: &[&'p Overlay<O>],
    ) -> Result<Rows<'d, 'p, C>> {
        for o in overlays {
            o.check_binding(self.dataset, self.seq_len as u64, self.plan_id, self.n_rows)?;
        }
        check_disjoint(overlays)?;
        self.overlays.extend(overlays.iter().map(|o| o.index()));
        Ok(self)
    }

    /// The binding an overlay for this view must carry.
    pub fn view_binding(&self) -> crate::ViewBinding {
        crate::overlay::view_binding(self.dataset, self.seq_len as u64, self.plan_id, self.n_rows)
    }

    /// Number of rows.
    pub fn num_rows(&self) -> u64 {
        self.n_rows
    }

    /// Tokens per row.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The pad id this view uses.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    fn check_row(&self, i: u64) -> Result<()> {
        if i >= self.n_rows {
            return Err(Error::IndexOutOfRange {
                what: "row",
                index: i,
                len: self.n_rows,
            });
        }
        Ok(())
    }

    /// Contiguous view only: the row's `L + 1` tokens (fewer in a padded last row) as a
    /// slice of the mapping, no copy (gathered into `scratch` when the row crosses shards).
    #[inline]
    pub fn contiguous_tokens<'a>(
        &'a self,
        i: u64,
        scratch: &'a mut Vec<u32>,
    ) -> Result<TokenSlice<'a>> {
        if !matches!(self.source, Source::Contiguous) {
            return Err(Error::InvalidArgument(
                "token slices are for the contiguous view; use row_into".into(),
            ));
        }
        self.check_row(i)?;
        let n = self.dataset.num_tokens();
        let start = i * self.seq_len as u64;
        let end = (start + self.seq_len as u64 + 1).min(n);
        self.dataset.tokens_in(start..end, scratch)
    }

    /// Fills `out` with row `i` (spec 12).
    pub fn row_into(&self, i: u64, out: &mut RowBuffers) -> Result<()> {
        self.check_row(i)?;
        let used = match self.source {
            Source::Contiguous => self.fill_contiguous(i, out)?,
            Source::Plan { rows, segments } => self.fill_plan(rows, segments, i, out)?,
        };
        if !self.overlays.is_empty() {
            self.apply_overlays(i, used, out)?;
        }
        Ok(())
    }

    /// Whether position `j` of row `i` has a target by the structure of its view (spec 13.4):
    /// `used` is the number of targets (contiguous) or of non-padding positions (plan).
    fn has_target(&self, i: u64, j: usize, used: usize, out: &RowBuffers) -> Result<bool> {
        if j + 1 >= self.seq_len {
            return Ok(false);
        }
        Ok(match self.source {
            Source::Contiguous => {
                let q = i * self.seq_len as u64 + j as u64 + 1;
                j < used && !(self.mask_boundaries && self.dataset.is_doc_start(q)?)
            }
            Source::Plan { .. } => {
                j + 1 < used && out.cu_seqlens.binary_search(&((j + 1) as u32)).is_err()
            }
        })
    }

    fn apply_overlays(&self, i: u64, used: usize, out: &mut RowBuffers) -> Result<()> {
        let l = self.seq_len as u64;
        let (from, to) = (i * l, i * l + l);
        for index in &self.overlays {
            let mut end_of_last = from;
            for k in index.range_of(from, to) {
                let (p, tokens, target) = index.get(k)?;
                // An unverified overlay may be out of order or overlap itself (spec 13.2).
                if p < end_of_last || p >= to {
                    return Err(Error::format(
                        crate::ErrorCode::BadOverlay,
                        Some("INS_POSITIONS"),
                        None,
                        format!("insertion {k} at {p} is out of order or intersects the one before it in row {i}"),
                    ));
                }
                end_of_last = p + tokens.len() as u64;
                let o = (p - from) as usize;
                let len = tokens.len();
                out.copy_ids(o, tokens);
                for j in o.saturating_sub(1)..o + len - 1 {
                    if self.has_target(i, j, used, out)? {
                        out.loss_mask[j] = u8::from(target);
                        out.labels[j] = if target {
                            i64::from(out.input_ids[j + 1])
                        } else {
                            IGNORE_INDEX
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn fill_contiguous(&self, i: u64, out: &mut RowBuffers) -> Result<usize> {
        let l = self.seq_len;
        let n = self.dataset.num_tokens();
        let start = i * l as u64;
        out.start(l);
        let real = n.saturating_sub(start).min(l as u64) as usize;
        // Targets: the tokens start+1 .. start+L+1 that exist.
        let targets = n.saturating_sub(start + 1).min(l as u64) as usize;
        let mut scratch = std::mem::take(&mut out.scratch);
        let span = (real + 1).min((n - start) as usize);
        let tokens = self
            .dataset
            .tokens_in(start..start + span as u64, &mut scratch)?;
        out.copy_ids(0, tokens.slice(0..real));
        // The loss mask says which positions train; labels follow from it.
        self.target_bits(start + 1, 0, targets, out)?;
        out.loss_mask[targets..real].fill(0);
        // Runs start at the row start, at document starts inside the row, and at padding.
        let mut starts = std::mem::take(&mut out.starts);
        starts.clear();
        self.dataset
            .doc_starts_in(start, start + l as u64, &mut starts)?;
        let mut run_start = 0usize;
        for &o in &starts {
            if o <= start || o > start + l as u64 {
                continue;
            }
            let j = (o - start) as usize;
            if self.mask_boundaries {
                // Position j - 1 predicts token o, the first of another document.
                out.loss_mask[j - 1] = 0;
            }
            if j < real && j > run_start {
                out.run(run_start, j - run_start);
                run_start = j;
            }
        }
        out.labels_from(0, tokens.slice(1..1 + targets));
        out.labels[targets..real].fill(IGNORE_INDEX);
        if real > run_start {
            out.run(run_start, real - run_start);
        }
        out.pad(real, self.pad_id);
        out.scratch = scratch;
        out.starts = starts;
        Ok(targets)
    }

    fn fill_plan(
        &self,
        rows: &[u64],
        segments: &[u64],
        i: u64,
        out: &mut RowBuffers,
    ) -> Result<usize> {
        let info = self
            .plan_info
            .expect("can't fail: plan views have plan info");
        // Checks this row's segments before reading through them (spec 11.4).
        row_length(rows, segments, i, info)?;
        let (a, b) = row_segment_range(rows, segments, i)?;
        let l = self.seq_len;
        out.start(l);
        let mut scratch = std::mem::take(&mut out.scratch);
        let mut at = 0usize;
        for k in a..b {
            let (s, len) = (segments[2 * k], segments[2 * k + 1] as usize);
            let seg = self.dataset.tokens_in(s..s + len as u64, &mut scratch)?;
            out.copy_ids(at, seg);
            // Every token but the last has its successor in the segment as target.
            self.target_bits(s + 1, at, len - 1, out)?;
            out.loss_mask[at + len - 1] = 0;
            out.labels_from(at, seg.slice(1..len));
            out.labels[at + len - 1] = IGNORE_INDEX;
            out.run(at, len);
            at += len;
        }
        out.scratch = scratch;
        out.pad(at, self.pad_id);
        Ok(at)
    }

    /// `loss_mask[at..at + n]` = the loss-mask bits of stream positions `first..first + n`
    /// (all ones when the dataset has no mask).
    fn target_bits(&self, first: u64, at: usize, n: usize, out: &mut RowBuffers) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.dataset
            .mask_into(first, &mut out.loss_mask[at..at + n])
    }
}
