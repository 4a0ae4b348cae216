//! Packing plans: making them (doc-aligned next fit, best-fit decreasing), storing them as
//! plan files bound to a dataset, and reading them back (spec sections 11 and 12).

use std::path::Path;

use zerocopy::FromBytes;

use crate::corpus::Corpus;
use crate::error::{Error, ErrorCode, Result};
use crate::format::header::Header;
use crate::format::plan::{self, contiguous_rows, hex, LongDocs, PlanInfo, Strategy, Tail};
use crate::format::section_table::{
    self, check_codec_and_dtype, check_length, entry_offset, kind_name, missing, unknown_required,
    DType, SectionEntry, SectionKind, FLAG_REQUIRED,
};

use crate::mmap::MappedFile;
use crate::read::VerifyReport;
use crate::write::{write_small_file, Part};

/// How to cut a dataset into rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Tokens per row, `L`.
    pub seq_len: u64,
    /// Contiguous, doc-aligned or best-fit decreasing.
    pub strategy: Strategy,
    /// Doc-aligned and bfd: what to do with documents longer than `L`.
    pub long_docs: LongDocs,
    /// Contiguous: what to do with the last, partial row.
    pub tail: Tail,
}

impl PlanOptions {
    /// Options for `strategy` at `seq_len`, splitting long documents and dropping the tail.
    pub fn new(seq_len: u64, strategy: Strategy) -> PlanOptions {
        PlanOptions {
            seq_len,
            strategy,
            long_docs: LongDocs::Split,
            tail: Tail::Drop,
        }
    }
}

/// A plan in memory: its description and, for doc-aligned and bfd plans, its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedPlan {
    /// What the plan file's metadata says.
    pub info: PlanInfo,
    /// PLAN_ROWS: `rows + 1` boundaries into the segments (empty for contiguous plans).
    pub rows: Vec<u64>,
    /// PLAN_SEGMENTS: `(start, length)` pairs, flattened (empty for contiguous plans).
    pub segments: Vec<u64>,
}

/// A document or a piece of one: `len` tokens from stream position `start`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: u64,
    len: u32,
}

struct Pieces {
    pieces: Vec<Piece>,
    truncated: u64,
    split: u64,
}

/// Cuts the documents `keep` accepts into pieces of at most `L` tokens (spec 12.3); empty
/// documents vanish.
fn pieces(
    offsets: &[u64],
    n_tokens: u64,
    seq_len: u64,
    long_docs: LongDocs,
    keep: &dyn Fn(usize) -> bool,
) -> Result<Pieces> {
    let mut out = Pieces {
        pieces: Vec::with_capacity(offsets.len().saturating_sub(1)),
        truncated: 0,
        split: 0,
    };
    let l = seq_len;
    for (d, w) in offsets.windows(2).enumerate() {
        let (start, end) = (w[0], w[1]);
        if start > end || end > n_tokens {
            return Err(Error::format(
                ErrorCode::BadDocOffsets,
                Some("DOC_OFFSETS"),
                None,
                format!("document {d} spans {start}..{end}, not inside 0..{n_tokens}"),
            ));
        }
        let len = end - start;
        if len == 0 || !keep(d) {
            continue;
        }
        if len <= l {
            out.pieces.push(Piece {
                start,
                len: len as u32,
            });
            continue;
        }
        match long_docs {
            LongDocs::Truncate => {
                out.pieces.push(Piece {
                    start,
                    len: l as u32,
                });
                out.truncated += len - l;
            }
            LongDocs::Split => {
                out.split += 1;
                let mut at = start;
                while at < end {
                    let n = (end - at).min(l);
                    out.pieces.push(Piece {
                        start: at,
                        len: n as u32,
                    });
                    at += n;
                }
            }
        }
    }
    Ok(out)
}

/// "Which capacities have an open row": a bit set with a summary level per 64 words, so that
/// the smallest capacity at or above a length is found in O(log_64 L).
struct CapacitySet {
    levels: Vec<Vec<u64>>,
}

impl CapacitySet {
    fn new(max: usize) -> CapacitySet {
        let mut levels = Vec::new();
        let mut n = max + 1;
        loop {
            let words = n.div_ceil(64);
            levels.push(vec![0u64; words]);
            if words == 1 {
                break;
            }
            n = words;
        }
        CapacitySet { levels }
    }

    fn set(&mut self, mut i: usize, on: bool) {
        for level in &mut self.levels {
            let (w, b) = (i / 64, i % 64);
            let was_empty = level[w] == 0;
            if on {
                level[w] |= 1 << b;
            } else {
                level[w] &= !(1 << b);
            }
            // Upper levels change only when this word went from empty to not or back.
            if was_empty == (level[w] == 0) {
                return;
            }
            i = w;
        }
    }

    /// The smallest member `>= i`, if any.
    fn next_at_or_above(&self, i: usize) -> Option<usize> {
        self.find(0, i)
    }

    fn find(&self, depth: usize, i: usize) -> Option<usize> {
        let level = self.levels.get(depth)?;
        let (w, b) = (i / 64, i % 64);
        if w >= level.len() {
            return None;
        }
        let here = level[w] & (u64::MAX << b);
        if here != 0 {
            return Some(w * 64 + here.trailing_zeros() as usize);
        }
        // The next non-empty word after w, from the level above.
        let next_word = if depth + 1 < self.levels.len() {
            self.find(depth + 1, w + 1)?
        } else {
            return None;
        };
        let bits = level[next_word];
        debug_assert!(bits != 0);
        Some(next_word * 64 + bits.trailing_zeros() as usize)
    }
}

fn check_plan_seq_len(l: u64) -> Result<()> {
    if l == 0 || l > plan::MAX_SEQ_LEN {
        return Err(Error::InvalidArgument(format!(
            "sequence length {l} is not between 1 and {}",
            plan::MAX_SEQ_LEN
        )));
    }
    Ok(())
}

/// The description of a plan over `offsets` before its rows are known.
fn blank_info(offsets: &[u64], dataset_id: [u8; 16], options: &PlanOptions) -> PlanInfo {
    PlanInfo {
        dataset_id,
        dataset_tokens: offsets.last().copied().unwrap_or(0),
        dataset_documents: offsets.len().saturating_sub(1) as u64,
        seq_len: options.seq_len,
        strategy: options.strategy,
        long_docs: None,
        tail: None,
        rows: 0,
        tokens: 0,
        padding_tokens: 0,
        truncated_tokens: 0,
        split_documents: 0,
        sources: None,
        mixture: None,
    }
}

/// Makes the plan for a dataset's document offsets (spec 12.3).
pub fn plan_from_offsets(
    offsets: &[u64],
    dataset_id: [u8; 16],
    options: &PlanOptions,
) -> Result<PackedPlan> {
    plan_selected(offsets, dataset_id, options, &|_| true)
}

fn plan_selected(
    offsets: &[u64],
    dataset_id: [u8; 16],
    options: &PlanOptions,
    keep: &dyn Fn(usize) -> bool,
) -> Result<PackedPlan> {
    let l = options.seq_len;
    check_plan_seq_len(l)?;
    let n_tokens = offsets.last().copied().unwrap_or(0);
    let mut info = blank_info(offsets, dataset_id, options);
    if options.strategy == Strategy::Contiguous {
        let rows = contiguous_rows(n_tokens, l, options.tail);
        let tokens = n_tokens.min(rows * l);
        info.tail = Some(options.tail);
        info.rows = rows;
        info.tokens = tokens;
        info.padding_tokens = rows * l - tokens;
        info.truncated_tokens = n_tokens - tokens;
        return Ok(PackedPlan {
            info,
            rows: Vec::new(),
            segments: Vec::new(),
        });
    }
    let Pieces {
        pieces,
        truncated,
        split,
    } = pieces(offsets, n_tokens, l, options.long_docs, keep)?;
    info.truncated_tokens = truncated;
    info.split_documents = split;
    Ok(pack_pieces(&pieces, info, options))
}

/// Packs `pieces` in their order (spec 12.3) and completes `info`.
fn pack_pieces(pieces: &[Piece], mut info: PlanInfo, options: &PlanOptions) -> PackedPlan {
    let l = options.seq_len;
    let (rows, segments) = match options.strategy {
        Strategy::DocAligned => next_fit(pieces, l),
        _ => best_fit_decreasing(pieces, l),
    };
    info.long_docs = Some(options.long_docs);
    info.rows = rows.len() as u64 - 1;
    info.tokens = pieces.iter().map(|p| u64::from(p.len)).sum();
    info.padding_tokens = info.rows * l - info.tokens;
    PackedPlan {
        info,
        rows,
        segments,
    }
}

/// Makes the plan for the documents of `dataset` whose source is one of `sources` (spec
/// 12.5); the plan records the names. Doc-aligned and bfd only: the restricted contiguous
/// view is built by readers ([`Filtered`](crate::Filtered)), not stored.
pub fn make_plan_for_sources<C: Corpus, S: AsRef<str>>(
    dataset: &C,
    options: &PlanOptions,
    sources: &[S],
) -> Result<PackedPlan> {
    if options.strategy == Strategy::Contiguous {
        return Err(Error::InvalidArgument(
            "a contiguous view restricted to sources is not stored as a plan: read it with the source filter of the rows (tokpack row --sources)".into(),
        ));
    }
    if sources.is_empty() {
        return Err(Error::InvalidArgument(
            "a plan for sources needs at least one source name".into(),
        ));
    }
    let all = dataset.sources()?.ok_or_else(|| {
        Error::InvalidArgument("the dataset has no source ids (build it with --source)".into())
    })?;
    let keep = all.selection(sources)?;
    let mut plan = plan_selected(
        &dataset.all_offsets()?,
        dataset.corpus_id(),
        options,
        &|d| keep[usize::from(all.ids[d])],
    )?;
    plan.info.sources = Some(sources.iter().map(|s| s.as_ref().to_owned()).collect());
    Ok(plan)
}

/// What a mixture plan asks for (spec 12.6).
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureOptions {
    /// Row length, strategy (doc-aligned or bfd) and treatment of long documents.
    pub plan: PlanOptions,
    /// `N`: training tokens to draw.
    pub tokens: u64,
    /// `(source name, weight)`; weights are normalised.
    pub weights: Vec<(String, f64)>,
    /// Seed of the draws and of the order of the pieces.
    pub seed: u64,
}

/// What a mixture plan drew from one source.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureSource {
    /// The source's name.
    pub name: String,
    /// Its normalised weight.
    pub weight: f64,
    /// `Q_s = round(weight * N)`.
    pub quota: u64,
    /// Tokens drawn.
    pub tokens: u64,
    /// `A_s`: tokens of its pieces (documents after `long_docs`).
    pub available: u64,
    /// Pieces drawn (with repeats).
    pub pieces: u64,
    /// Every piece was taken `full_passes` or `full_passes + 1` times.
    pub full_passes: u64,
}

impl MixtureSource {
    /// Epochs of this source: `tokens / available`.
    pub fn epochs(&self) -> f64 {
        self.tokens as f64 / self.available as f64
    }
}

/// Draws a mixture plan (spec 12.6): each source's share of the drawn tokens matches its
/// weight within half a piece; a source with too few tokens repeats its pieces evenly.
/// Returns the plan and, per weighted source, what was drawn.
pub fn make_mixture<C: Corpus>(
    dataset: &C,
    options: &MixtureOptions,
) -> Result<(PackedPlan, Vec<MixtureSource>)> {
    use crate::overlay::SplitMix64;
    let popts = &options.plan;
    let l = popts.seq_len;
    check_plan_seq_len(l)?;
    if popts.strategy == Strategy::Contiguous {
        return Err(Error::InvalidArgument(
            "a mixture is packed doc_aligned or bfd, not contiguous".into(),
        ));
    }
    if options.weights.is_empty() {
        return Err(Error::InvalidArgument(
            "a mixture needs at least one weight".into(),
        ));
    }
    let all = dataset.sources()?.ok_or_else(|| {
        Error::InvalidArgument("the dataset has no source ids (build it with --source)".into())
    })?;
    let mut total = 0.0f64;
    for (k, (name, w)) in options.weights.iter().enumerate() {
        if !(w.is_finite() && *w > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "weight of {name:?} is {w}; weights must be finite and above 0"
            )));
        }
        if options.weights[..k].iter().any(|(n, _)| n == name) {
            return Err(Error::InvalidArgument(format!(
                "source {name:?} is weighted twice"
            )));
        }
        total += w;
    }
    let offsets = dataset.all_offsets()?;
    let n_tokens = offsets.last().copied().unwrap_or(0);
    let mut info = blank_info(&offsets, dataset.corpus_id(), popts);
    let mut drawn: Vec<Piece> = Vec::new();
    let mut report = Vec::with_capacity(options.weights.len());
    for (k, (name, w)) in options.weights.iter().enumerate() {
        let id = all
            .selection(&[name])?
            .iter()
            .position(|&b| b)
            .expect("can't fail: one name selected");
        let Pieces {
            pieces: own,
            truncated,
            split,
        } = pieces(&offsets, n_tokens, l, popts.long_docs, &|d| {
            usize::from(all.ids[d]) == id
        })?;
        info.truncated_tokens += truncated;
        info.split_documents += split;
        let weight = w / total;
        let quota = (weight * options.tokens as f64).round() as u64;
        let available: u64 = own.iter().map(|p| u64::from(p.len)).sum();
        if available == 0 {
            return Err(Error::InvalidArgument(format!(
                "source {name:?} has no tokens to draw"
            )));
        }
        let full_passes = quota / available;
        let rest = quota - full_passes * available;
        let before = drawn.len();
        for _ in 0..full_passes {
            drawn.extend_from_slice(&own);
        }
        // The rest: pieces in a seeded random order while they fit, and the first that
        // does not when it lands closer to the quota.
        let mut rng =
            SplitMix64::new(options.seed ^ (k as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut order: Vec<u32> = (0..own.len() as u32).collect();
        shuffle(&mut order, &mut rng);
        let mut got = 0u64;
        for &i in &order {
            let p = own[i as usize];
            let len = u64::from(p.len);
            if got + len <= rest {
                drawn.push(p);
                got += len;
                continue;
            }
            if rest - got > got + len - rest {
                drawn.push(p);
                got += len;
            }
            break;
        }
        report.push(MixtureSource {
            name: name.clone(),
            weight,
            quota,
            tokens: full_passes * available + got,
            available,
            pieces: (drawn.len() - before) as u64,
            full_passes,
        });
    }
    let mut rng = SplitMix64::new(options.seed);
    shuffle(&mut drawn, &mut rng);
    let mut sources = serde_json::Map::new();
    for r in &report {
        sources.insert(
            r.name.clone(),
            serde_json::json!({
                "weight": r.weight,
                "quota": r.quota,
                "tokens": r.tokens,
                "available": r.available,
                "epochs": r.epochs(),
                "pieces": r.pieces,
            }),
        );
    }
    info.sources = Some(report.iter().map(|r| r.name.clone()).collect());
    info.mixture = Some(serde_json::json!({
        "seed": options.seed,
        "tokens_requested": options.tokens,
        "sources": sources,
    }));
    Ok((pack_pieces(&drawn, info, popts), report))
}

/// Fisher-Yates with [`SplitMix64::uniform`](crate::SplitMix64::uniform).
fn shuffle<T>(items: &mut [T], rng: &mut crate::overlay::SplitMix64) {
    for i in (1..items.len()).rev() {
        let j = rng.uniform(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Doc-aligned: pieces in order, a new row whenever the next one does not fit.
fn next_fit(pieces: &[Piece], l: u64) -> (Vec<u64>, Vec<u64>) {
    let mut rows = vec![0u64];
    let mut segments = Vec::with_capacity(pieces.len() * 2);
    let mut room = 0u64;
    for (k, p) in pieces.iter().enumerate() {
        let len = u64::from(p.len);
        if len > room {
            if k > 0 {
                rows.push(k as u64);
            }
            room = l;
        }
        room -= len;
        segments.extend([p.start, len]);
    }
    if !pieces.is_empty() {
        rows.push(pieces.len() as u64);
    }
    (rows, segments)
}

/// Best-fit decreasing: longest first (ties in order), each into the open row with the
/// least room that holds it (the last opened among equals), else a new row.
fn best_fit_decreasing(pieces: &[Piece], l: u64) -> (Vec<u64>, Vec<u64>) {
    let lu = l as usize;
    // Counting sort by length, longest first, stable.
    let mut starts = vec![0usize; lu + 2];
    for p in pieces {
        starts[lu - p.len as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut order = vec![0u32; pieces.len()];
    for (k, p) in pieces.iter().enumerate() {
        let slot = &mut starts[lu - p.len as usize];
        order[*slot] = k as u32;
        *slot += 1;
    }

    // Open rows by room left: a stack of row ids per room, and the set of rooms in use.
    let mut by_room: Vec<Vec<u32>> = vec![Vec::new(); lu + 1];
    let mut rooms = CapacitySet::new(lu);
    let mut row_of = vec![0u32; pieces.len()];
    let mut row_sizes: Vec<u32> = Vec::new();
    for &k in &order {
        let len = pieces[k as usize].len as usize;
        let row = match rooms.next_at_or_above(len) {
            Some(room) => {
                let stack = &mut by_room[room];
                let row = stack
                    .pop()
                    .expect("can't fail: the set holds rooms with rows");
                if stack.is_empty() {
                    rooms.set(room, false);
                }
                let left = room - len;
                if left > 0 {
                    if by_room[left].is_empty() {
                        rooms.set(left, true);
                    }
                    by_room[left].push(row);
                }
                row
            }
            None => {
                let row = row_sizes.len() as u32;
                row_sizes.push(0);
                let left = lu - len;
                if left > 0 {
                    if by_room[left].is_empty() {
                        rooms.set(left, true);
                    }
                    by_room[left].push(row);
                }
                row
            }
        };
        row_of[k as usize] = row;
        row_sizes[row as usize] += 1;
    }

    // Lay the segments out row by row, in placement order within each row.
    let mut rows = Vec::with_capacity(row_sizes.len() + 1);
    rows.push(0u64);
    for &n in &row_sizes {
        let last = *rows.last().expect("can't fail: starts with 0");
        rows.push(last + u64::from(n));
    }
    let mut cursor: Vec<u64> = rows[..rows.len() - 1].to_vec();
    let mut segments = vec![0u64; pieces.len() * 2];
    for &k in &order {
        let p = pieces[k as usize];
        let c = &mut cursor[row_of[k as usize] as usize];
        segments[2 * *c as usize] = p.start;
        segments[2 * *c as usize + 1] = u64::from(p.len);
        *c += 1;
    }
    (rows, segments)
}

/// Makes the plan for `dataset` (a dataset file or a manifest's shards).
pub fn make_plan<C: Corpus>(dataset: &C, options: &PlanOptions) -> Result<PackedPlan> {
    plan_from_offsets(&dataset.all_offsets()?, dataset.corpus_id(), options)
}

impl PackedPlan {
    /// Writes the plan file (spec 11) with a random file id and publishes it atomically;
    /// returns its length.
    pub fn write(&self, path: impl AsRef<Path>, sync: bool) -> Result<u64> {
        self.write_with_id(path, crate::write::random_id()?, sync)
    }

    /// As [`write`](PackedPlan::write), with a fixed file id (for reproducible output).
    pub fn write_with_id(&self, path: impl AsRef<Path>, id: [u8; 16], sync: bool) -> Result<u64> {
        let meta = serde_json::to_vec(&serde_json::Value::Object(self.info.to_metadata()))
            .expect("can't fail: a JSON map always serializes");
        let mut parts = vec![Part {
            kind: SectionKind::Metadata,
            dtype: DType::Bytes,
            count: meta.len() as u64,
            bytes: &meta,
        }];
        use zerocopy::IntoBytes;
        if self.info.strategy != Strategy::Contiguous {
            parts.push(Part {
                kind: SectionKind::PlanRows,
                dtype: DType::U64,
                count: self.rows.len() as u64,
                bytes: self.rows.as_bytes(),
            });
            parts.push(Part {
                kind: SectionKind::PlanSegments,
                dtype: DType::U64,
                count: self.segments.len() as u64,
                bytes: self.segments.as_bytes(),
            });
        }
        write_small_file(path.as_ref(), &parts, 1, id, sync)
    }
}

/// A plan file, opened: its description and its rows, straight out of the bytes.
#[derive(Debug)]
pub struct Plan<D = MappedFile> {
    data: D,
    header: Header,
    entries: Vec<SectionEntry>,
    info: PlanInfo,
    rows: Option<SectionEntry>,
    segments: Option<SectionEntry>,
}

impl Plan<MappedFile> {
    /// Maps the plan file at `path` and checks it (spec 11.4).
    pub fn open(path: impl AsRef<Path>) -> Result<Plan<MappedFile>> {
        Plan::from_bytes(MappedFile::open(path.as_ref())?)
    }
}

fn bad_plan(section: &str, offset: Option<u64>, detail: String) -> Error {
    Error::format(ErrorCode::BadPlan, Some(section), offset, detail)
}

impl<D: AsRef<[u8]>> Plan<D> {
    /// Checks `data` as a plan file (spec 11.4) and wraps it.
    pub fn from_bytes(data: D) -> Result<Plan<D>> {
        let bytes = data.as_ref();
        let header = Header::parse(bytes)?;
        let entries = section_table::parse_table(bytes, &header)?;
        let mut found: [Option<(usize, SectionEntry)>; 3] = [None; 3];
        for (i, e) in entries.iter().enumerate() {
            let kind = SectionKind::from_code(e.kind.get());
            let slot = match kind {
                Some(SectionKind::Metadata) => 0,
                Some(SectionKind::PlanRows) => 1,
                Some(SectionKind::PlanSegments) => 2,
                Some(
                    k @ (SectionKind::Tokens
                    | SectionKind::DocOffsets
                    | SectionKind::LossMask
                    | SectionKind::DocSources),
                ) => {
                    return Err(bad_plan(
                        k.name(),
                        Some(entry_offset(i)),
                        format!("a plan file holds no {} section", k.name()),
                    ))
                }
                // Overlay kinds are unknown in a plan file, like any other number.
                _ if e.flags.get() & FLAG_REQUIRED != 0 => return Err(unknown_required(i, e)),
                _ => continue,
            };
            let kind = kind.expect("can't fail: matched above");
            check_codec_and_dtype(i, e, kind)?;
            if found[slot].is_some() {
                return Err(Error::format(
                    ErrorCode::DuplicateSection,
                    Some(kind.name()),
                    Some(entry_offset(i)),
                    format!("a second {} section", kind.name()),
                ));
            }
            found[slot] = Some((i, *e));
        }
        let [meta, rows, segments] = found;
        let (meta_i, meta) = meta.ok_or_else(|| missing(SectionKind::Metadata))?;
        check_length(meta_i, &meta, SectionKind::Metadata)?;
        let info = PlanInfo::parse(&bytes[meta.range()], meta.offset.get())?;

        if info.strategy == Strategy::Contiguous {
            if let Some((i, e)) = rows.or(segments) {
                return Err(bad_plan(
                    &kind_name(e.kind.get()),
                    Some(entry_offset(i)),
                    "a contiguous plan has no rows or segments sections".into(),
                ));
            }
            let tail = info
                .tail
                .expect("can't fail: parse requires a tail for contiguous plans");
            let want = contiguous_rows(info.dataset_tokens, info.seq_len, tail);
            if info.rows != want {
                return Err(bad_plan(
                    "METADATA",
                    Some(meta.offset.get()),
                    format!(
                        "{} rows, but {} tokens make {want} contiguous rows of {}",
                        info.rows, info.dataset_tokens, info.seq_len
                    ),
                ));
            }
            let tokens = info.dataset_tokens.min(want * info.seq_len);
            let truncated = info.dataset_tokens - tokens;
            if info.tokens != tokens
                || info.truncated_tokens != truncated
                || info.split_documents != 0
            {
                return Err(bad_plan(
                    "METADATA",
                    Some(meta.offset.get()),
                    format!(
                        "a contiguous plan of {want} rows holds {tokens} tokens, truncates {truncated} and splits none, not {}, {} and {}",
                        info.tokens, info.truncated_tokens, info.split_documents
                    ),
                ));
            }
            return Ok(Plan {
                data,
                header,
                entries,
                info,
                rows: None,
                segments: None,
            });
        }
        let (rows_i, rows) = rows.ok_or_else(|| missing(SectionKind::PlanRows))?;
        let (seg_i, segments) = segments.ok_or_else(|| missing(SectionKind::PlanSegments))?;
        check_length(rows_i, &rows, SectionKind::PlanRows)?;
        check_length(seg_i, &segments, SectionKind::PlanSegments)?;
        if Some(rows.count.get()) != info.rows.checked_add(1) {
            return Err(Error::format(
                ErrorCode::CountMismatch,
                Some(plan::ROWS),
                Some(rows.offset.get()),
                format!("{} entries for {} rows", rows.count.get(), info.rows),
            ));
        }
        if segments.count.get() % 2 != 0 {
            return Err(Error::format(
                ErrorCode::CountMismatch,
                Some(plan::SEGMENTS),
                Some(segments.offset.get()),
                format!(
                    "{} values do not make (start, length) pairs",
                    segments.count.get()
                ),
            ));
        }
        let row_values = cast_u64(&bytes[rows.range()], plan::ROWS)?;
        cast_u64(&bytes[segments.range()], plan::SEGMENTS)?;
        plan::check_rows_ends(row_values, segments.count.get() / 2, rows.offset.get())?;
        Ok(Plan {
            data,
            header,
            entries,
            info,
            rows: Some(rows),
            segments: Some(segments),
        })
    }

    /// What the plan's metadata says.
    pub fn info(&self) -> &PlanInfo {
        &self.info
    }

    /// The plan file's own id (not the dataset's: that is `info().dataset_id`).
    pub fn file_id(&self) -> [u8; 16] {
        self.header.dataset_id
    }

    /// `(major, minor)` format version of the plan file.
    pub fn header_version(&self) -> (u16, u16) {
        (self.header.major.get(), self.header.minor.get())
    }

    /// Every entry of the section table.
    pub fn sections(&self) -> &[SectionEntry] {
        &self.entries
    }

    /// Number of rows.
    pub fn num_rows(&self) -> u64 {
        self.info.rows
    }

    /// PLAN_ROWS (empty for a contiguous plan).
    pub fn rows(&self) -> &[u64] {
        match &self.rows {
            Some(e) => cast_u64(&self.data.as_ref()[e.range()], plan::ROWS)
                .expect("can't fail: alignment checked at open"),
            None => &[],
        }
    }

    /// PLAN_SEGMENTS as flattened `(start, length)` pairs (empty for a contiguous plan).
    pub fn segments(&self) -> &[u64] {
        match &self.segments {
            Some(e) => cast_u64(&self.data.as_ref()[e.range()], plan::SEGMENTS)
                .expect("can't fail: alignment checked at open"),
            None => &[],
        }
    }

    /// Refuses a dataset other than the one the plan was made for (spec 11.4).
    pub fn check_dataset<C: Corpus>(&self, dataset: &C) -> Result<()> {
        let i = &self.info;
        if i.dataset_id != dataset.corpus_id()
            || i.dataset_tokens != dataset.num_tokens()
            || i.dataset_documents != dataset.num_documents()
        {
            return Err(Error::format(
                ErrorCode::WrongDataset,
                Some("METADATA"),
                None,
                format!(
                    "the plan was made for dataset {} ({} tokens, {} documents), not for dataset {} ({} tokens, {} documents)",
                    hex(&i.dataset_id),
                    i.dataset_tokens,
                    i.dataset_documents,
                    hex(&dataset.corpus_id()),
                    dataset.num_tokens(),
                    dataset.num_documents()
                ),
            ));
        }
        Ok(())
    }

    /// Reads every byte and checks what opening does not (spec 11.5).
    pub fn verify(&self) -> Result<VerifyReport> {
        let bytes = self.data.as_ref();
        section_table::verify_sections(bytes, &self.entries)?;
        if self.info.strategy != Strategy::Contiguous {
            let mut total = 0u64;
            for r in 0..self.info.rows {
                total += row_length(self.rows(), self.segments(), r, &self.info)?;
            }
            if total != self.info.tokens {
                return Err(bad_plan(
                    "PLAN_SEGMENTS",
                    None,
                    format!(
                        "segments hold {total} tokens, metadata says {}",
                        self.info.tokens
                    ),
                ));
            }
        }
        Ok(VerifyReport {
            sections: self.entries.len(),
            bytes: bytes.len() as u64,
        })
    }

    /// [`verify`](Plan::verify), then checks the plan against its dataset: the binding, and
    /// every segment inside one document.
    pub fn verify_against<C: Corpus>(&self, dataset: &C) -> Result<VerifyReport> {
        let report = self.verify()?;
        self.check_dataset(dataset)?;
        let offsets = dataset.all_offsets()?;
        for (k, pair) in self.segments().chunks_exact(2).enumerate() {
            let (start, len) = (pair[0], pair[1]);
            // The document holding `start`: the last offset <= start among non-empty ones.
            let d = offsets.partition_point(|&o| o <= start).saturating_sub(1);
            let doc_end = offsets.get(d + 1).copied().unwrap_or(0);
            if start + len > doc_end {
                return Err(bad_plan(
                    plan::SEGMENTS,
                    None,
                    format!("segment {k} ({start}, {len}) runs past the end of document {d} at {doc_end}"),
                ));
            }
        }
        Ok(report)
    }
}

/// The checked length of row `r`'s segments (spec 11.4, last paragraph).
pub(crate) fn row_length(rows: &[u64], segments: &[u64], r: u64, info: &PlanInfo) -> Result<u64> {
    let (a, b) = row_segment_range(rows, segments, r)?;
    let mut total = 0u64;
    for k in a..b {
        let (start, len) = (segments[2 * k], segments[2 * k + 1]);
        if len == 0
            || start
                .checked_add(len)
                .is_none_or(|e| e > info.dataset_tokens)
        {
            return Err(bad_plan(
                plan::SEGMENTS,
                None,
                format!(
                    "segment {k} ({start}, {len}) of row {r} is empty or ends past the {} tokens",
                    info.dataset_tokens
                ),
            ));
        }
        total += len;
    }
    if total > info.seq_len {
        return Err(bad_plan(
            plan::ROWS,
            None,
            format!("row {r} holds {total} tokens, more than {}", info.seq_len),
        ));
    }
    Ok(total)
}

/// Row `r`'s segment index range, checked.
pub(crate) fn row_segment_range(rows: &[u64], segments: &[u64], r: u64) -> Result<(usize, usize)> {
    let r = r as usize;
    let n_seg = (segments.len() / 2) as u64;
    match (rows.get(r), rows.get(r + 1)) {
        (Some(&a), Some(&b)) if a <= b && b <= n_seg => Ok((a as usize, b as usize)),
        (Some(&a), Some(&b)) => Err(bad_plan(
            plan::ROWS,
            None,
            format!("row {r} spans segments {a}..{b}, not inside 0..{n_seg}"),
        )),
        _ => Err(Error::IndexOutOfRange {
            what: "row",
            index: r as u64,
            len: rows.len().saturating_sub(1) as u64,
        }),
    }
}

fn cast_u64<'a>(bytes: &'a [u8], section: &'static str) -> Result<&'a [u64]> {
    <[u64]>::ref_from_bytes(bytes).map_err(|_| Error::UnalignedBuffer { section, align: 8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_set_finds_the_smallest_room_at_or_above() {
        let mut s = CapacitySet::new(10_000);
        for i in [3, 64, 65, 4095, 4096, 9999] {
            s.set(i, true);
        }
        assert_eq!(s.next_at_or_above(0), Some(3));
        assert_eq!(s.next_at_or_above(4), Some(64));
        assert_eq!(s.next_at_or_above(66), Some(4095));
        assert_eq!(s.next_at_or_above(4097), Some(9999));
        assert_eq!(s.next_at_or_above(10_000), None);
        s.set(4095, false);
        s.set(4096, false);
        assert_eq!(s.next_at_or_above(66), Some(9999));
    }

    #[test]
    fn bfd_places_in_the_tightest_row() {
        // L = 10; pieces 6, 5, 4, 3, 2 -> rows [6, 4], [5, 3, 2].
        let offsets = [0, 6, 11, 15, 18, 20];
        let p = plan_from_offsets(&offsets, [0; 16], &PlanOptions::new(10, Strategy::Bfd)).unwrap();
        assert_eq!(p.rows, vec![0, 2, 5]);
        assert_eq!(p.segments, vec![0, 6, 11, 4, 6, 5, 15, 3, 18, 2]);
        assert_eq!(
            (p.info.rows, p.info.tokens, p.info.padding_tokens),
            (2, 20, 0)
        );
    }

    #[test]
    fn doc_aligned_next_fit_and_long_documents() {
        // L = 4: docs 3, 2, 9, 0, 1.
        let offsets = [0, 3, 5, 14, 14, 15];
        let split = plan_from_offsets(
            &offsets,
            [0; 16],
            &PlanOptions::new(4, Strategy::DocAligned),
        )
        .unwrap();
        assert_eq!(split.rows, vec![0, 1, 2, 3, 4, 6]);
        assert_eq!(split.segments, vec![0, 3, 3, 2, 5, 4, 9, 4, 13, 1, 14, 1]);
        assert_eq!(split.info.split_documents, 1);
        let mut o = PlanOptions::new(4, Strategy::DocAligned);
        o.long_docs = LongDocs::Truncate;
        let trunc = plan_from_offsets(&offsets, [0; 16], &o).unwrap();
        assert_eq!(trunc.segments, vec![0, 3, 3, 2, 5, 4, 14, 1]);
        assert_eq!(trunc.info.truncated_tokens, 5);
    }
}
