//! The training order of spec section 16: a keyed Feistel permutation of the rows of each
//! epoch, split across ranks, resumable, in O(1) memory for any number of rows.

use crate::error::{Error, Result};
use crate::overlay::SplitMix64;

const ROUNDS: usize = 6;

fn mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The permutation of one epoch's rows (spec 16.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochOrder {
    n: u64,
    half: u32,
    mask: u64,
    keys: [u64; ROUNDS],
}

impl EpochOrder {
    /// The order of `n` rows for `seed` and `epoch`.
    pub fn new(n: u64, seed: u64, epoch: u64) -> Result<EpochOrder> {
        if n == 0 {
            return Err(Error::InvalidArgument("there are no rows to order".into()));
        }
        let mut bits = 2u32;
        while bits < 64 && (1u64 << bits) < n {
            bits += 2;
        }
        let half = bits / 2;
        let mut g = SplitMix64::new(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let keys = std::array::from_fn(|_| g.next_u64());
        Ok(EpochOrder {
            n,
            half,
            mask: (1u64 << half) - 1,
            keys,
        })
    }

    fn permute(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half, x & self.mask);
        for &k in &self.keys {
            let f = mix(r ^ k) & self.mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half) | r
    }

    /// Number of rows.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether there are none (never: `new` refuses 0).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The row at position `i` of the epoch (`i < n`).
    pub fn row(&self, i: u64) -> u64 {
        debug_assert!(i < self.n);
        let mut y = self.permute(i);
        while y >= self.n {
            y = self.permute(y);
        }
        y
    }
}

/// Which rows one rank reads, epoch by epoch (spec 16.2, 16.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankOrder {
    /// Rows in the view.
    pub rows: u64,
    /// The shuffle seed.
    pub seed: u64,
    /// Number of ranks.
    pub world_size: u64,
    /// This rank.
    pub rank: u64,
    /// Drop the rows that do not divide evenly among ranks (else pad by wrapping).
    pub drop_last: bool,
}

impl RankOrder {
    /// Checks the arguments.
    pub fn new(
        rows: u64,
        seed: u64,
        world_size: u64,
        rank: u64,
        drop_last: bool,
    ) -> Result<RankOrder> {
        if rows == 0 || world_size == 0 || rank >= world_size {
            return Err(Error::InvalidArgument(format!(
                "rank {rank} of {world_size} over {rows} rows: need rows >= 1 and 0 <= rank < world_size"
            )));
        }
        if drop_last && rows < world_size {
            return Err(Error::InvalidArgument(format!(
                "{rows} rows cannot give each of {world_size} ranks a row with drop_last"
            )));
        }
        Ok(RankOrder {
            rows,
            seed,
            world_size,
            rank,
            drop_last,
        })
    }

    /// Rows each rank reads per epoch.
    pub fn per_rank(&self) -> u64 {
        if self.drop_last {
            self.rows / self.world_size
        } else {
            self.rows.div_ceil(self.world_size)
        }
    }

    /// Rows all ranks read per epoch (`P` of spec 16.3).
    pub fn per_epoch(&self) -> u64 {
        self.per_rank() * self.world_size
    }

    /// This rank's `k`-th row of `epoch`.
    pub fn row(&self, epoch: u64, k: u64) -> Result<u64> {
        if k >= self.per_rank() {
            return Err(Error::IndexOutOfRange {
                what: "rank position",
                index: k,
                len: self.per_rank(),
            });
        }
        let order = EpochOrder::new(self.rows, self.seed, epoch)?;
        Ok(order.row((k * self.world_size + self.rank) % self.rows))
    }

    /// This rank's rows of `epoch` from position `start` on (resume from state `(seed, epoch,
    /// start)`).
    pub fn rows_of_epoch(&self, epoch: u64, start: u64) -> Result<impl Iterator<Item = u64> + '_> {
        let order = EpochOrder::new(self.rows, self.seed, epoch)?;
        let (w, r, n) = (self.world_size, self.rank, self.rows);
        Ok((start..self.per_rank()).map(move |k| order.row((k * w + r) % n)))
    }

    /// The epoch and row of global training position `g` (counted across epochs and ranks,
    /// spec 16.3).
    pub fn row_at_global(&self, g: u64) -> Result<(u64, u64)> {
        let p = self.per_epoch();
        let (epoch, pos) = (g / p, g % p);
        let order = EpochOrder::new(self.rows, self.seed, epoch)?;
        Ok((epoch, order.row(pos % self.rows)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_is_a_permutation() {
        for n in [1u64, 2, 3, 7, 16, 17, 1000, 4097] {
            for epoch in 0..3 {
                let o = EpochOrder::new(n, 42, epoch).unwrap();
                let mut seen = vec![false; n as usize];
                for i in 0..n {
                    let r = o.row(i);
                    assert!(!seen[r as usize], "n {n}: {r} twice");
                    seen[r as usize] = true;
                }
            }
        }
    }

    #[test]
    fn epochs_and_seeds_differ_and_repeat() {
        let a: Vec<u64> = (0..100)
            .map(|i| EpochOrder::new(100, 1, 0).unwrap().row(i))
            .collect();
        let b: Vec<u64> = (0..100)
            .map(|i| EpochOrder::new(100, 1, 1).unwrap().row(i))
            .collect();
        let c: Vec<u64> = (0..100)
            .map(|i| EpochOrder::new(100, 2, 0).unwrap().row(i))
            .collect();
        let a2: Vec<u64> = (0..100)
            .map(|i| EpochOrder::new(100, 1, 0).unwrap().row(i))
            .collect();
        assert_eq!(a, a2);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, (0..100).collect::<Vec<_>>(), "not the identity");
    }

    #[test]
    fn ranks_are_disjoint_and_cover_the_epoch() {
        for (n, w, drop) in [
            (10u64, 3u64, true),
            (10, 3, false),
            (9, 3, true),
            (1_000_003, 8, true),
        ] {
            let mut all = Vec::new();
            for r in 0..w {
                let o = RankOrder::new(n, 7, w, r, drop).unwrap();
                all.extend(o.rows_of_epoch(2, 0).unwrap());
            }
            let mut sorted = all.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if drop {
                assert_eq!(sorted.len(), all.len(), "disjoint");
                assert_eq!(all.len() as u64, n / w * w);
            } else {
                assert_eq!(sorted.len() as u64, n, "covers every row");
            }
        }
    }

    #[test]
    fn resume_continues_exactly() {
        let o = RankOrder::new(1000, 5, 4, 1, true).unwrap();
        let full: Vec<u64> = o.rows_of_epoch(3, 0).unwrap().collect();
        let rest: Vec<u64> = o.rows_of_epoch(3, 100).unwrap().collect();
        assert_eq!(&full[100..], &rest[..]);
        assert_eq!(o.row(3, 100).unwrap(), full[100]);
        // Global position g of epoch 3 for rank 1 is 3 * P + k * W + 1.
        let g = 3 * o.per_epoch() + 100 * 4 + 1;
        assert_eq!(o.row_at_global(g).unwrap(), (3, full[100]));
    }
}
