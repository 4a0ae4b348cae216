//! Insertion overlays (spec sections 13 and 14): building them (explicit, random, EOS
//! wrapping), storing them as overlay files bound to a dataset and a view, reading them, and
//! finding the insertions of a row.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use zerocopy::{FromBytes, IntoBytes};

use crate::corpus::Corpus;
use crate::error::{Error, ErrorCode, Result};

use crate::format::header::Header;
use crate::format::overlay::{self, OverlayInfo, ViewBinding, FLAG_TARGET};
use crate::format::plan::hex;
use crate::format::section_table::{
    self, check_codec_and_dtype, check_length, entry_offset, kind_name, missing, unknown_required,
    DType, SectionEntry, SectionKind, FLAG_REQUIRED,
};
use crate::format::tokens::{max_vocab, TokenSlice};
use crate::mmap::MappedFile;
use crate::read::VerifyReport;
use crate::write::{random_id, write_small_file, Part};

fn bad_overlay(section: &str, offset: Option<u64>, detail: String) -> Error {
    Error::format(ErrorCode::BadOverlay, Some(section), offset, detail)
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> Error {
    Error::format(
        ErrorCode::InsertionOverlap,
        None,
        None,
        format!(
            "insertion at position {} (length {}) overlaps the insertion at {} (length {})",
            a.0, a.1, b.0, b.1
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Building.

/// What to do with an explicit insertion that crosses a row boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossRows {
    /// Refuse it.
    Refuse,
    /// Split it at each row boundary into insertions of the rows it touches.
    Split,
}

/// How random insertions are placed (spec 14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomOptions {
    /// Rows `[start, end)` to place into.
    pub rows: (u64, u64),
    /// The generator's seed.
    pub seed: u64,
    /// Draws per sequence before giving up on it.
    pub max_tries: u32,
    /// Skip (and report) a sequence that cannot be placed, instead of failing.
    pub allow_drop: bool,
    /// Whether the inserted tokens are loss targets.
    pub target: bool,
}

impl RandomOptions {
    /// Rows `[start, end)`, seed `seed`, 1000 tries, no dropping, targets.
    pub fn new(rows: (u64, u64), seed: u64) -> RandomOptions {
        RandomOptions {
            rows,
            seed,
            max_tries: 1000,
            allow_drop: false,
            target: true,
        }
    }
}

/// What a random placement did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementReport {
    /// Sequences placed.
    pub placed: u64,
    /// Draws that collided and were drawn again.
    pub collisions: u64,
    /// Indices (into the sequences given) of the sequences that could not be placed.
    pub dropped: Vec<usize>,
}

/// SplitMix64, the generator of spec 14.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose state is `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, m)`: the high 64 bits of `next() * m`.
    pub fn uniform(&mut self, m: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(m)) >> 64) as u64
    }
}

/// EOS wrapping (spec 14): returns the kept sequences with their input indices, and the
/// indices of the dropped ones (empty, or longer than `seq_len`).
pub fn wrap_eos(seqs: &[Vec<u32>], seq_len: u64, eos: u32) -> (Vec<(usize, Vec<u32>)>, Vec<usize>) {
    let l = seq_len as usize;
    let mut kept = Vec::with_capacity(seqs.len());
    let mut dropped = Vec::new();
    for (i, s) in seqs.iter().enumerate() {
        if s.is_empty() || s.len() > l {
            dropped.push(i);
            continue;
        }
        let mut w = s.clone();
        if w.len() < l {
            if w.last() != Some(&eos) {
                w.push(eos);
            }
            if w.len() < l {
                w.insert(0, eos);
            }
        }
        kept.push((i, w));
    }
    (kept, dropped)
}

/// Builds an insertion index for one view of one dataset.
#[derive(Debug, Clone)]
pub struct OverlayBuilder {
    view: ViewBinding,
    dtype: DType,
    /// Occupied spans: start -> (end exclusive, index into `insertions`).
    occupied: BTreeMap<u64, (u64, usize)>,
    insertions: Vec<(u64, Vec<u32>, bool)>,
}

impl OverlayBuilder {
    /// A builder for the view `view` of a dataset whose tokens are stored as `dtype`.
    pub fn new(view: ViewBinding, dtype: DType) -> Result<OverlayBuilder> {
        if view.seq_len == 0 {
            return Err(Error::InvalidArgument(
                "sequence length must be at least 1".into(),
            ));
        }
        Ok(OverlayBuilder {
            view,
            dtype,
            occupied: BTreeMap::new(),
            insertions: Vec::new(),
        })
    }

    /// The view the overlay is for.
    pub fn view(&self) -> &ViewBinding {
        &self.view
    }

    /// Insertions so far.
    pub fn len(&self) -> usize {
        self.insertions.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.insertions.is_empty()
    }

    /// The occupied span intersecting `[p, p + len)`, if any, as (start, length).
    fn collision(&self, p: u64, len: u64) -> Option<(u64, u64)> {
        let (&start, &(end, _)) = self.occupied.range(..p + len).next_back()?;
        (end > p).then_some((start, end - start))
    }

    fn check_tokens(&self, tokens: &[u32], what: &str) -> Result<()> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument(format!("{what} has no tokens")));
        }
        if let Some(&t) = tokens
            .iter()
            .find(|&&t| u64::from(t) >= self.view.vocab_size)
        {
            return Err(Error::InvalidArgument(format!(
                "{what}: token {t} is not below the vocabulary size {}",
                self.view.vocab_size
            )));
        }
        Ok(())
    }

    fn push(&mut self, p: u64, tokens: Vec<u32>, target: bool) {
        let len = tokens.len() as u64;
        self.occupied.insert(p, (p + len, self.insertions.len()));
        self.insertions.push((p, tokens, target));
    }

    /// Adds an insertion at global position `p` (spec 14, explicit insertions).
    pub fn add_explicit(
        &mut self,
        p: u64,
        tokens: &[u32],
        target: bool,
        cross: CrossRows,
    ) -> Result<()> {
        let what = format!("insertion at position {p}");
        self.check_tokens(tokens, &what)?;
        let l = self.view.seq_len;
        let len = tokens.len() as u64;
        let end = p
            .checked_add(len)
            .ok_or_else(|| Error::InvalidArgument(format!("{what}: position overflows")))?;
        if end > self.view.rows.saturating_mul(l) {
            return Err(Error::InvalidArgument(format!(
                "{what} (length {len}) ends past the view's last row ({} rows of {l})",
                self.view.rows
            )));
        }
        if p % l + len > l && cross == CrossRows::Refuse {
            return Err(Error::InvalidArgument(format!(
                "{what} (length {len}) crosses the boundary of row {} at {}; ask for splitting to cut it",
                p / l,
                (p / l + 1) * l
            )));
        }
        if let Some(other) = self.collision(p, len) {
            return Err(overlap((p, len), other));
        }
        // Split at each row boundary it crosses.
        let mut at = p;
        let mut rest = tokens;
        while !rest.is_empty() {
            let room = (l - at % l) as usize;
            let n = room.min(rest.len());
            self.push(at, rest[..n].to_vec(), target);
            at += n as u64;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Places `seqs` at random (spec 14), avoiding everything placed before.
    pub fn add_random(
        &mut self,
        seqs: &[Vec<u32>],
        options: &RandomOptions,
    ) -> Result<PlacementReport> {
        let indexed: Vec<(usize, Vec<u32>)> = seqs.iter().cloned().enumerate().collect();
        self.add_random_indexed(&indexed, options)
    }

    /// As [`add_random`](Self::add_random), for sequences that carry their own report index
    /// (the output of [`wrap_eos`]).
    pub fn add_random_indexed(
        &mut self,
        seqs: &[(usize, Vec<u32>)],
        options: &RandomOptions,
    ) -> Result<PlacementReport> {
        let l = self.view.seq_len;
        let (start, end) = options.rows;
        if start >= end || end > self.view.rows {
            return Err(Error::InvalidArgument(format!(
                "rows {start}:{end} are not a non-empty range inside the view's {} rows",
                self.view.rows
            )));
        }
        for (i, s) in seqs {
            self.check_tokens(s, &format!("sequence {i}"))?;
            if s.len() as u64 > l {
                return Err(Error::InvalidArgument(format!(
                    "sequence {i} has {} tokens, more than the row length {l}",
                    s.len()
                )));
            }
        }
        let mut rng = SplitMix64::new(options.seed);
        let mut report = PlacementReport::default();
        for (i, s) in seqs {
            let len = s.len() as u64;
            let mut placed = false;
            for _ in 0..options.max_tries {
                let row = start + rng.uniform(end - start);
                let offset = rng.uniform(l - len + 1);
                let p = row * l + offset;
                if self.collision(p, len).is_none() {
                    self.push(p, s.clone(), options.target);
                    placed = true;
                    break;
                }
                report.collisions += 1;
            }
            if placed {
                report.placed += 1;
            } else if options.allow_drop {
                report.dropped.push(*i);
            } else {
                return Err(Error::InvalidArgument(format!(
                    "sequence {i} (length {len}) found no free place in {} draws; allow dropping, widen the rows or lower the count",
                    options.max_tries
                )));
            }
        }
        Ok(report)
    }

    /// The finished, sorted index.
    pub fn finish(self) -> PackedOverlay {
        let mut positions = Vec::with_capacity(self.insertions.len());
        let mut offsets = vec![0u64];
        let mut tokens = Vec::new();
        let mut flags = Vec::with_capacity(self.insertions.len());
        for &(_, k) in self.occupied.values() {
            let (p, t, target) = &self.insertions[k];
            positions.push(*p);
            tokens.extend_from_slice(t);
            offsets.push(tokens.len() as u64);
            flags.push(if *target { FLAG_TARGET } else { 0 });
        }
        PackedOverlay {
            info: OverlayInfo {
                view: self.view,
                insertions: positions.len() as u64,
                tokens: tokens.len() as u64,
            },
            dtype: self.dtype,
            positions,
            offsets,
            tokens,
            flags,
        }
    }
}

/// An insertion index in memory, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedOverlay {
    /// What the metadata says.
    pub info: OverlayInfo,
    /// The dataset's token dtype (INS_TOKENS is stored in it).
    pub dtype: DType,
    /// Sorted positions.
    pub positions: Vec<u64>,
    /// Payload offsets, `n + 1`.
    pub offsets: Vec<u64>,
    /// Payload tokens.
    pub tokens: Vec<u32>,
    /// Per-insertion flags.
    pub flags: Vec<u8>,
}

impl PackedOverlay {
    /// Writes the overlay file (spec 13) and publishes it atomically; returns its length.
    pub fn write(&self, path: impl AsRef<Path>, sync: bool) -> Result<u64> {
        let meta = serde_json::to_vec(&serde_json::Value::Object(self.info.to_metadata()))
            .expect("can't fail: a JSON map always serializes");
        let narrow: Vec<u8> = match self.dtype {
            DType::U8 => self.tokens.iter().map(|&t| t as u8).collect(),
            DType::U16 => self
                .tokens
                .iter()
                .flat_map(|&t| (t as u16).to_le_bytes())
                .collect(),
            _ => self.tokens.as_bytes().to_vec(),
        };
        let n = self.positions.len() as u64;
        let parts = [
            Part {
                kind: SectionKind::Metadata,
                dtype: DType::Bytes,
                count: meta.len() as u64,
                bytes: &meta,
            },
            Part {
                kind: SectionKind::InsPositions,
                dtype: DType::U64,
                count: n,
                bytes: self.positions.as_bytes(),
            },
            Part {
                kind: SectionKind::InsOffsets,
                dtype: DType::U64,
                count: n + 1,
                bytes: self.offsets.as_bytes(),
            },
            Part {
                kind: SectionKind::InsTokens,
                dtype: self.dtype,
                count: self.tokens.len() as u64,
                bytes: &narrow,
            },
            Part {
                kind: SectionKind::InsFlags,
                dtype: DType::U8,
                count: n,
                bytes: &self.flags,
            },
        ];
        write_small_file(path.as_ref(), &parts, 2, random_id()?, sync)
    }
}

// ---------------------------------------------------------------------------------------
// Reading.

/// An overlay file, opened.
#[derive(Debug)]
pub struct Overlay<D = MappedFile> {
    data: D,
    entries: Vec<SectionEntry>,
    info: OverlayInfo,
    dtype: DType,
    positions: SectionEntry,
    offsets: SectionEntry,
    tokens: SectionEntry,
    flags: SectionEntry,
}

impl Overlay<MappedFile> {
    /// Maps the overlay file at `path` and checks it (spec 13.2).
    pub fn open(path: impl AsRef<Path>) -> Result<Overlay<MappedFile>> {
        Overlay::from_bytes(MappedFile::open(path.as_ref())?)
    }
}

fn cast_u64<'a>(bytes: &'a [u8], section: &'static str) -> Result<&'a [u64]> {
    <[u64]>::ref_from_bytes(bytes).map_err(|_| Error::UnalignedBuffer { section, align: 8 })
}

impl<D: AsRef<[u8]>> Overlay<D> {
    /// Checks `data` as an overlay file (spec 13.2) and wraps it.
    pub fn from_bytes(data: D) -> Result<Overlay<D>> {
        let bytes = data.as_ref();
        let header = Header::parse(bytes)?;
        let entries = section_table::parse_table(bytes, &header)?;
        // Slots: METADATA, INS_POSITIONS, INS_OFFSETS, INS_TOKENS, INS_FLAGS.
        let mut found: [Option<(usize, SectionEntry)>; 5] = [None; 5];
        for (i, e) in entries.iter().enumerate() {
            let slot = match SectionKind::from_code(e.kind.get()) {
                Some(SectionKind::Metadata) => 0,
                Some(SectionKind::InsPositions) => 1,
                Some(SectionKind::InsOffsets) => 2,
                Some(SectionKind::InsTokens) => 3,
                Some(SectionKind::InsFlags) => 4,
                Some(k) => {
                    return Err(bad_overlay(
                        k.name(),
                        Some(entry_offset(i)),
                        format!("an overlay file holds no {} section", k.name()),
                    ))
                }
                None if e.flags.get() & FLAG_REQUIRED != 0 => return Err(unknown_required(i, e)),
                None => continue,
            };
            let kind = SectionKind::from_code(e.kind.get()).expect("can't fail: matched above");
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
        let (mi, meta) = found[0].ok_or_else(|| missing(SectionKind::Metadata))?;
        check_length(mi, &meta, SectionKind::Metadata)?;
        let info = OverlayInfo::parse(&bytes[meta.range()], meta.offset.get())?;
        let kinds = [
            SectionKind::InsPositions,
            SectionKind::InsOffsets,
            SectionKind::InsTokens,
            SectionKind::InsFlags,
        ];
        let mut present = [(0usize, meta); 4];
        for (slot, kind) in kinds.into_iter().enumerate() {
            present[slot] = found[slot + 1].ok_or_else(|| missing(kind))?;
        }
        for (kind, (i, e)) in kinds.into_iter().zip(present) {
            check_length(i, &e, kind)?;
        }
        let sections = present.map(|(_, e)| e);
        let [positions, offsets, tokens, flags] = sections;
        let n = info.insertions;
        let counts = [
            (positions, n),
            (offsets, n.saturating_add(1)),
            (tokens, info.tokens),
            (flags, n),
        ];
        for (e, want) in counts {
            if e.count.get() != want {
                return Err(Error::format(
                    ErrorCode::CountMismatch,
                    Some(&kind_name(e.kind.get())),
                    Some(e.offset.get()),
                    format!(
                        "{} entries where the metadata implies {want}",
                        e.count.get()
                    ),
                ));
            }
        }
        let dtype = DType::from_code(tokens.dtype).expect("can't fail: dtype checked");
        if info.view.vocab_size > max_vocab(dtype) {
            return Err(Error::format(
                ErrorCode::VocabDtype,
                Some(overlay::TOKENS),
                None,
                format!(
                    "{} tokens cannot hold ids up to vocab_size - 1 = {}",
                    dtype.name(),
                    info.view.vocab_size - 1
                ),
            ));
        }
        let offs = cast_u64(&bytes[offsets.range()], overlay::OFFSETS)?;
        cast_u64(&bytes[positions.range()], overlay::POSITIONS)?;
        match dtype {
            DType::U16 => <[u16]>::ref_from_bytes(&bytes[tokens.range()])
                .map(drop)
                .map_err(|_| Error::UnalignedBuffer {
                    section: overlay::TOKENS,
                    align: 2,
                })?,
            DType::U32 => <[u32]>::ref_from_bytes(&bytes[tokens.range()])
                .map(drop)
                .map_err(|_| Error::UnalignedBuffer {
                    section: overlay::TOKENS,
                    align: 4,
                })?,
            _ => {}
        }
        if offs[0] != 0 || offs[offs.len() - 1] != info.tokens {
            return Err(bad_overlay(
                overlay::OFFSETS,
                Some(offsets.offset.get()),
                format!(
                    "payload offsets run from {} to {}, not from 0 to the {} tokens",
                    offs[0],
                    offs[offs.len() - 1],
                    info.tokens
                ),
            ));
        }
        Ok(Overlay {
            data,
            entries,
            info,
            dtype,
            positions,
            offsets,
            tokens,
            flags,
        })
    }

    /// What the metadata says.
    pub fn info(&self) -> &OverlayInfo {
        &self.info
    }

    /// Every entry of the section table.
    pub fn sections(&self) -> &[SectionEntry] {
        &self.entries
    }

    /// Number of insertions.
    pub fn len(&self) -> u64 {
        self.info.insertions
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.info.insertions == 0
    }

    fn bytes_of(&self, e: &SectionEntry) -> &[u8] {
        &self.data.as_ref()[e.range()]
    }

    /// The sorted positions.
    pub fn positions(&self) -> &[u64] {
        cast_u64(self.bytes_of(&self.positions), overlay::POSITIONS)
            .expect("can't fail: alignment checked at open")
    }

    /// The payload offsets.
    pub fn payload_offsets(&self) -> &[u64] {
        cast_u64(self.bytes_of(&self.offsets), overlay::OFFSETS)
            .expect("can't fail: alignment checked at open")
    }

    /// The flags.
    pub fn flags(&self) -> &[u8] {
        self.bytes_of(&self.flags)
    }

    /// All inserted tokens.
    pub fn tokens(&self) -> TokenSlice<'_> {
        let b = self.bytes_of(&self.tokens);
        let aligned = "can't fail: alignment checked at open";
        match self.dtype {
            DType::U8 => TokenSlice::U8(b),
            DType::U16 => TokenSlice::U16(<[u16]>::ref_from_bytes(b).expect(aligned)),
            _ => TokenSlice::U32(<[u32]>::ref_from_bytes(b).expect(aligned)),
        }
    }

    /// The index as slices of the file, for lookups.
    pub fn index(&self) -> InsertionIndex<'_> {
        InsertionIndex {
            positions: self.positions(),
            offsets: self.payload_offsets(),
            tokens: self.tokens(),
            flags: self.flags(),
            info: self.info,
        }
    }

    /// Insertion `k`, checked: `(position, tokens, target flag)`.
    pub fn insertion(&self, k: usize) -> Result<(u64, TokenSlice<'_>, bool)> {
        self.index().get(k)
    }

    /// Refuses a dataset or view other than the ones the overlay was made for (spec 13.2).
    pub fn check_binding<C: Corpus>(
        &self,
        dataset: &C,
        seq_len: u64,
        plan_id: Option<[u8; 16]>,
        rows: u64,
    ) -> Result<()> {
        let v = &self.info.view;
        if v.dataset_id != dataset.corpus_id()
            || v.dataset_tokens != dataset.num_tokens()
            || v.dataset_documents != dataset.num_documents()
            || self.dtype != dataset.token_dtype()
            || v.vocab_size != dataset.corpus_metadata().vocab_size
        {
            return Err(Error::format(
                ErrorCode::WrongDataset,
                Some("METADATA"),
                None,
                format!(
                    "the overlay was made for dataset {} ({} tokens, {} documents), not for dataset {} ({} tokens, {} documents, {})",
                    hex(&v.dataset_id), v.dataset_tokens, v.dataset_documents,
                    hex(&dataset.corpus_id()), dataset.num_tokens(), dataset.num_documents(), dataset.token_dtype().name()
                ),
            ));
        }
        if v.seq_len != seq_len || v.plan_id != plan_id || v.rows != rows {
            let name = |id: Option<[u8; 16]>| {
                id.map_or("no plan".to_string(), |i| format!("plan {}", hex(&i)))
            };
            return Err(Error::format(
                ErrorCode::WrongView,
                Some("METADATA"),
                None,
                format!(
                    "the overlay was made for rows of {} with {} ({} rows), not rows of {seq_len} with {} ({rows} rows)",
                    v.seq_len, name(v.plan_id), v.rows, name(plan_id)
                ),
            ));
        }
        Ok(())
    }

    /// Reads every byte and checks what opening does not (spec 13.3).
    pub fn verify(&self) -> Result<VerifyReport> {
        let bytes = self.data.as_ref();
        section_table::verify_sections(bytes, &self.entries)?;
        // Per insertion, in the order of spec 13.3: payload range and row, overlap with the
        // next, token range, flags.
        let positions = self.positions();
        let offs = self.payload_offsets();
        let index = self.index();
        for k in 0..positions.len() {
            let (p, len) = index.span(k)?;
            if let Some(&next) = positions.get(k + 1) {
                if p + len > next {
                    let next_len = offs[k + 2].saturating_sub(offs[k + 1]);
                    return Err(overlap((next, next_len), (p, len)));
                }
            }
            index.get(k)?;
            if self.flags()[k] > 1 {
                return Err(bad_overlay(
                    overlay::FLAGS,
                    None,
                    format!(
                        "insertion {k} has flags {:#04x}; only bit 0 is defined",
                        self.flags()[k]
                    ),
                ));
            }
        }
        Ok(VerifyReport {
            sections: self.entries.len(),
            bytes: bytes.len() as u64,
        })
    }

    /// The index grouped by row (spec 13.5): `{"ROW": [[OFFSET, [tokens]], ...]}`.
    pub fn export_rows(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let l = self.info.view.seq_len;
        let mut out = serde_json::Map::new();
        for k in 0..self.len() as usize {
            let (p, t, _) = self.insertion(k)?;
            let entry = out
                .entry((p / l).to_string())
                .or_insert_with(|| serde_json::Value::Array(Vec::new()));
            if let serde_json::Value::Array(list) = entry {
                list.push(serde_json::json!([p % l, t.to_vec_u32()]));
            }
        }
        Ok(out)
    }
}

/// An overlay's sorted insertions as slices: lookup by row in O(log n + k).
#[derive(Debug, Clone, Copy)]
pub struct InsertionIndex<'a> {
    positions: &'a [u64],
    offsets: &'a [u64],
    tokens: TokenSlice<'a>,
    flags: &'a [u8],
    info: OverlayInfo,
}

impl<'a> InsertionIndex<'a> {
    /// The insertions whose positions fall in `[from, to)`: an index range, by binary search.
    #[inline]
    pub fn range_of(&self, from: u64, to: u64) -> Range<usize> {
        let p = self.positions;
        let a = p.partition_point(|&x| x < from);
        a..a + p[a..].partition_point(|&x| x < to)
    }

    /// Position and length of insertion `k`, with its payload range and row checked.
    pub fn span(&self, k: usize) -> Result<(u64, u64)> {
        let n = self.positions.len();
        if k >= n {
            return Err(Error::IndexOutOfRange {
                what: "insertion",
                index: k as u64,
                len: n as u64,
            });
        }
        let l = self.info.view.seq_len;
        let p = self.positions[k];
        let (a, b) = (self.offsets[k], self.offsets[k + 1]);
        if a >= b || b > self.info.tokens {
            return Err(bad_overlay(
                overlay::OFFSETS,
                None,
                format!(
                    "insertion {k} spans payload {a}..{b}, not a non-empty range inside {}",
                    self.info.tokens
                ),
            ));
        }
        let len = b - a;
        if p / l >= self.info.view.rows || p % l + len > l {
            return Err(bad_overlay(
                overlay::POSITIONS,
                None,
                format!("insertion {k} at {p} (length {len}) is not inside one row of the view"),
            ));
        }
        Ok((p, len))
    }

    /// Insertion `k` checked as spec 13.2 asks of a reader that has not verified:
    /// `(position, tokens, target flag)`.
    pub fn get(&self, k: usize) -> Result<(u64, TokenSlice<'a>, bool)> {
        let (p, _) = self.span(k)?;
        let (a, b) = (self.offsets[k], self.offsets[k + 1]);
        let tokens = self.tokens.slice(a as usize..b as usize);
        if let Some((i, t)) = tokens.max_with_index() {
            if u64::from(t) >= self.info.view.vocab_size {
                return Err(bad_overlay(
                    overlay::TOKENS,
                    None,
                    format!(
                        "insertion {k}: token {i} is {t}, not below vocab_size {}",
                        self.info.view.vocab_size
                    ),
                ));
            }
        }
        Ok((p, tokens, self.flags[k] & FLAG_TARGET != 0))
    }
}

/// Checks that no two of several overlays' insertions intersect (spec 13.2), by merging
/// their sorted positions.
pub fn check_disjoint<D: AsRef<[u8]>>(overlays: &[&Overlay<D>]) -> Result<()> {
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for o in overlays {
        let offs = o.payload_offsets();
        spans.extend(
            o.positions()
                .iter()
                .enumerate()
                .map(|(k, &p)| (p, offs[k + 1].saturating_sub(offs[k]))),
        );
    }
    if overlays.len() > 1 {
        spans.sort_unstable();
        for w in spans.windows(2) {
            if w[0].0.saturating_add(w[0].1) > w[1].0 {
                return Err(overlap(w[1], w[0]));
            }
        }
    }
    Ok(())
}

/// The binding of a dataset and a view, for building an overlay.
pub fn view_binding<C: Corpus>(
    dataset: &C,
    seq_len: u64,
    plan_id: Option<[u8; 16]>,
    rows: u64,
) -> ViewBinding {
    ViewBinding {
        dataset_id: dataset.corpus_id(),
        dataset_tokens: dataset.num_tokens(),
        dataset_documents: dataset.num_documents(),
        vocab_size: dataset.corpus_metadata().vocab_size,
        seq_len,
        plan_id,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(rows: u64, l: u64) -> ViewBinding {
        ViewBinding {
            dataset_id: [0; 16],
            dataset_tokens: rows * l + 1,
            dataset_documents: 1,
            vocab_size: 100,
            seq_len: l,
            plan_id: None,
            rows,
        }
    }

    #[test]
    fn splitmix64_reference_values() {
        // First outputs for seed 0, as published with the algorithm.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut g = SplitMix64::new(1);
        assert!(g.uniform(10) < 10);
    }

    #[test]
    fn explicit_split_across_rows_as_in_the_reference_example() {
        let mut b = OverlayBuilder::new(view(4, 4096), DType::U16).unwrap();
        assert!(b
            .add_explicit(8190, &[7, 8, 9, 10, 11, 12], true, CrossRows::Refuse)
            .is_err());
        b.add_explicit(8190, &[7, 8, 9, 10, 11, 12], true, CrossRows::Split)
            .unwrap();
        let o = b.finish();
        assert_eq!(o.positions, vec![8190, 8192]);
        assert_eq!(o.offsets, vec![0, 2, 6]);
    }

    #[test]
    fn overlaps_are_refused_by_name_and_touching_is_fine() {
        let mut b = OverlayBuilder::new(view(4, 4096), DType::U16).unwrap();
        b.add_explicit(1000, &[1, 2, 3], true, CrossRows::Refuse)
            .unwrap();
        let e = b
            .add_explicit(1002, &[4, 5, 6], true, CrossRows::Refuse)
            .unwrap_err();
        assert_eq!(e.to_string(), "insertion at position 1002 (length 3) overlaps the insertion at 1000 (length 3) [insertion_overlap]");
        b.add_explicit(1003, &[4], true, CrossRows::Refuse).unwrap();
        b.add_explicit(997, &[4, 5, 6], true, CrossRows::Refuse)
            .unwrap();
    }

    #[test]
    fn eos_wrapping_follows_the_reference_rules() {
        let seqs = vec![
            vec![],
            vec![1, 2, 3, 4],
            vec![1, 2, 3, 4, 5],
            vec![1, 2],
            vec![1, 9],
            vec![1, 2, 3],
        ];
        let (kept, dropped) = wrap_eos(&seqs, 4, 9);
        assert_eq!(dropped, vec![0, 2]);
        assert_eq!(
            kept,
            vec![
                (1, vec![1, 2, 3, 4]),
                (3, vec![9, 1, 2, 9]),
                (4, vec![9, 1, 9]),
                (5, vec![1, 2, 3, 9])
            ]
        );
    }

    #[test]
    fn random_placement_is_deterministic_and_stays_inside_rows() {
        let seqs: Vec<Vec<u32>> = (0..200).map(|i| vec![1; 1 + i % 7]).collect();
        let place = || {
            let mut b = OverlayBuilder::new(view(100, 32), DType::U8).unwrap();
            let r = b
                .add_random(&seqs, &RandomOptions::new((10, 60), 42))
                .unwrap();
            (b.finish(), r)
        };
        let (a, ra) = place();
        let (b, rb) = place();
        assert_eq!(a, b);
        assert_eq!(ra, rb);
        assert_eq!(ra.placed, 200);
        for (k, &p) in a.positions.iter().enumerate() {
            let len = a.offsets[k + 1] - a.offsets[k];
            assert!((10..60).contains(&(p / 32)));
            assert!(p % 32 + len <= 32);
            if k + 1 < a.positions.len() {
                assert!(p + len <= a.positions[k + 1]);
            }
        }
    }

    #[test]
    fn a_full_view_drops_or_fails() {
        let seqs: Vec<Vec<u32>> = (0..5).map(|_| vec![1; 4]).collect();
        let mut b = OverlayBuilder::new(view(2, 4), DType::U8).unwrap();
        assert!(b
            .clone()
            .add_random(&seqs, &RandomOptions::new((0, 2), 1))
            .is_err());
        let mut o = RandomOptions::new((0, 2), 1);
        o.allow_drop = true;
        o.max_tries = 50;
        let r = b.add_random(&seqs, &o).unwrap();
        assert_eq!(r.placed, 2);
        assert_eq!(r.dropped, vec![2, 3, 4]);
    }
}
