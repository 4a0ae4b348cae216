//! Dataset statistics for vocabulary work: token frequencies, coverage of the most frequent
//! tokens, document lengths; and remapping a dataset onto a compact vocabulary.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::format::tokens::{Token, TokenSlice};
use crate::read::Dataset;
use crate::write::Writer;

/// Vocabularies up to this size are counted in a dense array; larger ones in a hash map.
const DENSE_LIMIT: u64 = 1 << 24;

/// How often each token id occurs, most frequent first (ties: smaller id first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCounts {
    /// `(id, count)` for every id that occurs, sorted by count descending, then id.
    pub by_frequency: Vec<(u32, u64)>,
    /// All tokens counted.
    pub total: u64,
}

impl TokenCounts {
    /// Share of all tokens that are among the `k` most frequent ids.
    pub fn coverage(&self, k: usize) -> f64 {
        if self.total == 0 {
            return 1.0;
        }
        let covered: u64 = self.by_frequency.iter().take(k).map(|&(_, c)| c).sum();
        covered as f64 / self.total as f64
    }
}

fn count_slice<T: Token + Sync>(tokens: &[T], vocab: u64) -> Vec<(u32, u64)> {
    const CHUNK: usize = 1 << 20;
    if vocab <= DENSE_LIMIT {
        let dense = tokens
            .par_chunks(CHUNK)
            .fold(
                || vec![0u64; vocab as usize],
                |mut acc, chunk| {
                    for &t in chunk {
                        let i: u32 = t.into();
                        if let Some(c) = acc.get_mut(i as usize) {
                            *c += 1;
                        }
                    }
                    acc
                },
            )
            .reduce(
                || vec![0u64; vocab as usize],
                |mut a, b| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    a
                },
            );
        dense
            .into_iter()
            .enumerate()
            .filter(|&(_, c)| c > 0)
            .map(|(i, c)| (i as u32, c))
            .collect()
    } else {
        let map = tokens
            .par_chunks(CHUNK)
            .fold(HashMap::<u32, u64>::new, |mut acc, chunk| {
                for &t in chunk {
                    *acc.entry(t.into()).or_default() += 1;
                }
                acc
            })
            .reduce(HashMap::new, |mut a, b| {
                for (k, v) in b {
                    *a.entry(k).or_default() += v;
                }
                a
            });
        map.into_iter().collect()
    }
}

/// Counts every token of `dataset` on all cores (compressed tokens block by block).
pub fn token_counts<D: AsRef<[u8]>>(dataset: &Dataset<D>) -> Result<TokenCounts> {
    let vocab = dataset.vocab_size();
    let mut merged: HashMap<u32, u64> = HashMap::new();
    let mut by_frequency = Vec::new();
    dataset.visit_tokens(|_, tokens| {
        let counts = match tokens {
            TokenSlice::U8(s) => count_slice(s, vocab),
            TokenSlice::U16(s) => count_slice(s, vocab),
            TokenSlice::U32(s) => count_slice(s, vocab),
        };
        if by_frequency.is_empty() && merged.is_empty() {
            by_frequency = counts;
        } else {
            if !by_frequency.is_empty() {
                merged.extend(std::mem::take(&mut by_frequency));
            }
            for (id, c) in counts {
                *merged.entry(id).or_default() += c;
            }
        }
        Ok(())
    })?;
    if !merged.is_empty() {
        by_frequency = merged.into_iter().collect();
    }
    by_frequency.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(TokenCounts {
        total: by_frequency.iter().map(|&(_, c)| c).sum(),
        by_frequency,
    })
}

/// Document lengths in power-of-two buckets: `(upper bound exclusive, documents, tokens)`,
/// the first bucket holding empty documents (bound 1).
pub fn length_histogram<D: AsRef<[u8]>>(dataset: &Dataset<D>) -> Vec<(u64, u64, u64)> {
    let mut buckets: Vec<(u64, u64, u64)> = Vec::new();
    for w in dataset.doc_offsets().windows(2) {
        let len = w[1].saturating_sub(w[0]);
        let b = (64 - len.leading_zeros()) as usize; // 0 for empty, k for [2^(k-1), 2^k)
        if buckets.len() <= b {
            buckets.resize(b + 1, (0, 0, 0));
        }
        buckets[b].1 += 1;
        buckets[b].2 += len;
    }
    for (b, bucket) in buckets.iter_mut().enumerate() {
        bucket.0 = 1u64 << b;
    }
    buckets.into_iter().filter(|b| b.1 > 0).collect()
}

/// A compact vocabulary: the `top` most frequent ids renumbered `0..top` by frequency, `unk`
/// (= `top`) for every other id, ids `top + 1 .. total` reserved and never produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// New id -> old id, for the `top` kept ids.
    pub old_ids: Vec<u32>,
    /// The id every other token becomes.
    pub unk_id: u32,
    /// The new vocabulary size.
    pub total: u64,
    /// Old id -> new id (dense over the old vocabulary).
    new_of_old: HashMap<u32, u32>,
}

impl Remap {
    /// The remap for `counts`: keep the `top` most frequent ids in a vocabulary of `total`.
    pub fn new(counts: &TokenCounts, top: usize, total: u64) -> Result<Remap> {
        if top == 0 || (top as u64) >= total || total > 1 << 32 {
            return Err(Error::InvalidArgument(format!(
                "--top {top} and --total {total}: need 1 <= top < total <= 2^32 (id top is the unk id)"
            )));
        }
        let old_ids: Vec<u32> = counts
            .by_frequency
            .iter()
            .take(top)
            .map(|&(id, _)| id)
            .collect();
        let new_of_old = old_ids
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new as u32))
            .collect();
        Ok(Remap {
            old_ids,
            unk_id: top as u32,
            total,
            new_of_old,
        })
    }

    /// The new id of `old`.
    pub fn map(&self, old: u32) -> u32 {
        self.new_of_old.get(&old).copied().unwrap_or(self.unk_id)
    }

    /// The metadata object stored under `"remap"`.
    pub fn to_json(&self, original_vocab: u64, tokenizer: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "original_vocab_size": original_vocab,
            "original_tokenizer": tokenizer,
            "top": self.old_ids.len(),
            "total": self.total,
            "unk_id": self.unk_id,
            "old_ids": self.old_ids,
        })
    }

    /// Writes `dataset` remapped into `writer`: every id mapped, masks and source ids kept.
    pub fn apply<D: AsRef<[u8]>>(&self, dataset: &Dataset<D>, writer: &mut Writer) -> Result<()> {
        crate::write::copy_documents(dataset, writer, |ids| {
            for t in ids {
                *t = self.map(*t);
            }
        })
    }
}
