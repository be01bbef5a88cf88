//! Vector bin packing: the combinatorial core of placement, on its own so it can be measured
//! against published benchmark instances with known optima.
//!
//! - [`BinPacking::parse`] reads BPPLIB one-dimensional instances (`.txt`/`.bpp`: item count,
//!   capacity, one weight per line) and VPSolver-style vector instances (`.vbp`: dimensions,
//!   capacities, item types, then `w_1 … w_d demand` per type).
//! - [`BinPacking::lower_bound`] is the best of the continuous bound per dimension and the
//!   Martello–Toth L2 bound per dimension (Martello & Toth, "Lower bounds and reduction
//!   procedures for the bin packing problem", Discrete Applied Mathematics 28, 1990).
//! - [`BinPacking::first_fit_decreasing`] and [`BinPacking::best_fit_decreasing`] order items
//!   by their size summed over dimensions relative to capacity, the baselines of the
//!   literature; [`BinPacking::dot_product`] and [`BinPacking::norm_l2`] are the bin-centric
//!   vector heuristics of Panigrahy et al. (2011); [`BinPacking::pack`] returns the best of
//!   them, checked.
//! - [`BinPacking::improve`] and [`BinPacking::pack_with`] then remove bins by consistent
//!   neighbourhood search (Buljubašić & Vasquez, Computers & Operations Research 76, 2016):
//!   a tabu search over partial packings into fewer bins, with subset-sum refills of bins in
//!   one dimension, anytime within a [`SearchLimit`].

use std::time::Instant;

use crate::PlacementError;

mod cns;

/// Largest capacity accepted (2^40): with at most [`MAX_ITEMS`] items, every sum of sizes
/// stays below 2^62, so no arithmetic on sizes can overflow.
const MAX_CAPACITY: u64 = 1 << 40;

/// Largest instance the O(n²) bin-centric heuristics run on inside [`BinPacking::pack`].
const BIN_CENTRIC_MAX_ITEMS: usize = 5_000;

/// Most items accepted (2^22).
const MAX_ITEMS: usize = 1 << 22;

/// A bin-packing instance: identical bins with a capacity per dimension, and items with a
/// size per dimension (integers, as the benchmark files give them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinPacking {
    capacity: Vec<u64>,
    items: Vec<Vec<u64>>,
}

/// A packing: the bin of every item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packing {
    /// `bin_of[i]` is the bin item `i` is in (`0..bins`).
    pub bin_of: Vec<usize>,
    /// Number of bins used.
    pub bins: usize,
}

/// What [`BinPacking::pack`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct PackReport {
    /// The best packing found.
    pub packing: Packing,
    /// The lower bound it is compared with.
    pub lower_bound: usize,
    /// Wall time, milliseconds.
    pub time_ms: f64,
}

impl PackReport {
    /// `(bins − lower bound) / lower bound`: an upper bound on the relative gap to the
    /// optimum.
    pub fn gap(&self) -> f64 {
        if self.lower_bound == 0 {
            return 0.0;
        }
        (self.packing.bins as f64 - self.lower_bound as f64) / self.lower_bound as f64
    }
}

fn bad(line: usize, reason: impl std::fmt::Display) -> PlacementError {
    PlacementError::for_call(format!("line {line}: {reason}"))
}

impl BinPacking {
    /// An instance from capacities and item sizes.
    ///
    /// ```
    /// use kelvin_placement::binpack::BinPacking;
    /// let p = BinPacking::try_new(vec![10], vec![vec![6], vec![5], vec![4], vec![3], vec![2]])?;
    /// assert_eq!(p.lower_bound(), 2);
    /// assert_eq!(p.pack().packing.bins, 2);
    /// # Ok::<(), kelvin_placement::PlacementError>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::PlacementErrorKind::InvalidInput`] for no dimensions, a zero capacity, an item
    /// with the wrong number of dimensions, or an item larger than a bin in some dimension
    /// (it could never be packed).
    pub fn try_new(capacity: Vec<u64>, items: Vec<Vec<u64>>) -> Result<BinPacking, PlacementError> {
        if capacity.is_empty() || capacity.contains(&0) {
            return Err(PlacementError::for_call(
                "capacities must be given and positive",
            ));
        }
        // Sums of sizes over every item must stay far from u64::MAX.
        if capacity.iter().any(|c| *c > MAX_CAPACITY) || items.len() > MAX_ITEMS {
            return Err(PlacementError::for_call(format!(
                "instances are limited to capacities of 2^40 and 2^22 items, got {} items",
                items.len()
            )));
        }
        for (i, it) in items.iter().enumerate() {
            if it.len() != capacity.len() {
                return Err(PlacementError::for_call(format!(
                    "item {i} has {} dimensions, bins have {}",
                    it.len(),
                    capacity.len()
                )));
            }
            if it.iter().zip(&capacity).any(|(w, c)| w > c) {
                return Err(PlacementError::for_call(format!(
                    "item {i} is larger than a bin"
                )));
            }
        }
        Ok(BinPacking { capacity, items })
    }

    /// Parses a BPPLIB (`.txt`, `.bpp`) or `.vbp` instance; the format is told by its shape
    /// (a `.vbp` file's second line holds one capacity per dimension).
    ///
    /// # Errors
    /// [`crate::PlacementErrorKind::InvalidInput`] naming the line for a missing or
    /// non-integer number, a count that does not match the lines that follow, or an item
    /// larger than a bin.
    pub fn parse(text: &str) -> Result<BinPacking, PlacementError> {
        let lines: Vec<(usize, Vec<&str>)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>()))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        let num = |line: usize, s: &str| -> Result<u64, PlacementError> {
            s.parse::<u64>()
                .map_err(|_| bad(line, format!("{s:?} is not a non-negative integer")))
        };
        let (l1, f1) = lines.first().ok_or_else(|| bad(1, "empty instance"))?;
        let (l2, f2) = lines.get(1).ok_or_else(|| bad(l1 + 1, "missing line 2"))?;
        let first = num(*l1, f1[0])?;
        // `.vbp` lines after the third hold sizes and a demand; BPPLIB lines one weight.
        let vbp = f2.len() > 1 || lines.get(3).is_some_and(|(_, f)| f.len() >= 2);
        if !vbp {
            // BPPLIB: n, C, then n weights.
            let n = first as usize;
            let c = num(*l2, f2[0])?;
            let mut items = Vec::with_capacity(n);
            for (line, f) in &lines[2..] {
                items.push(vec![num(*line, f[0])?]);
            }
            if items.len() != n {
                return Err(bad(
                    *l1,
                    format!("{n} items announced, {} given", items.len()),
                ));
            }
            return BinPacking::try_new(vec![c], items);
        }
        let d = first as usize;
        if f2.len() != d {
            return Err(bad(
                *l2,
                format!("{} capacities for {d} dimensions", f2.len()),
            ));
        }
        let capacity = f2
            .iter()
            .map(|s| num(*l2, s))
            .collect::<Result<Vec<_>, _>>()?;
        let (l3, f3) = lines
            .get(2)
            .ok_or_else(|| bad(l2 + 1, "missing item-type count"))?;
        let m = num(*l3, f3[0])? as usize;
        let mut items = Vec::new();
        for (line, f) in lines.iter().skip(3) {
            if f.len() != d + 1 {
                return Err(bad(
                    *line,
                    format!("{} numbers, expected {d} sizes and a demand", f.len()),
                ));
            }
            let w = f[..d]
                .iter()
                .map(|s| num(*line, s))
                .collect::<Result<Vec<_>, _>>()?;
            let demand = num(*line, f[d])?;
            if items.len() as u64 + demand > MAX_ITEMS as u64 {
                return Err(bad(*line, "more than 2^22 items in all"));
            }
            for _ in 0..demand {
                items.push(w.clone());
            }
        }
        if lines.len() - 3 != m {
            return Err(bad(
                *l3,
                format!("{m} item types announced, {} given", lines.len() - 3),
            ));
        }
        BinPacking::try_new(capacity, items)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.capacity.len()
    }

    /// The best of the continuous and Martello–Toth L2 bounds over every dimension: no
    /// packing uses fewer bins.
    pub fn lower_bound(&self) -> usize {
        (0..self.dims())
            .map(|d| {
                let w: Vec<u64> = self.items.iter().map(|it| it[d]).collect();
                l2(&w, self.capacity[d])
            })
            .max()
            .unwrap_or(0)
    }

    /// Items in decreasing order of their size relative to capacity, summed over dimensions
    /// (ties by index, so the order is deterministic).
    fn decreasing(&self) -> Vec<usize> {
        let size: Vec<f64> = self
            .items
            .iter()
            .map(|it| {
                it.iter()
                    .zip(&self.capacity)
                    .map(|(w, c)| *w as f64 / *c as f64)
                    .sum()
            })
            .collect();
        let mut order: Vec<usize> = (0..self.items.len()).collect();
        order.sort_by(|&a, &b| size[b].total_cmp(&size[a]).then(a.cmp(&b)));
        order
    }

    fn fits(&self, load: &[u64], item: &[u64]) -> bool {
        load.iter()
            .zip(item)
            .zip(&self.capacity)
            .all(|((l, w), c)| l + w <= *c)
    }

    /// First fit decreasing: each item into the first open bin it fits.
    pub fn first_fit_decreasing(&self) -> Packing {
        self.decreasing_fit(|_, _, _| 0.0)
    }

    /// Best fit decreasing: each item into the open bin it leaves with the least room
    /// (summed relative to capacity over dimensions).
    pub fn best_fit_decreasing(&self) -> Packing {
        self.decreasing_fit(|p, load, it| {
            (0..p.dims())
                .map(|k| (p.capacity[k] - load[k] - it[k]) as f64 / p.capacity[k] as f64)
                .sum()
        })
    }

    /// Dot product (bin-centric; Panigrahy, Talwar, Uyeda and Wieder, "Heuristics for Vector
    /// Bin Packing", Microsoft Research, 2011): fill one bin at a time, each time with the
    /// fitting item whose size vector has the largest dot product with the bin's remaining
    /// capacity (both relative to capacity); open a new bin when none fits.
    ///
    /// ```
    /// use kelvin_placement::binpack::BinPacking;
    ///
    /// // Complementary items pair up: (8, 2) with (2, 8), (7, 3) with (3, 7).
    /// let p = BinPacking::try_new(vec![10, 10], vec![vec![8, 2], vec![7, 3], vec![2, 8], vec![3, 7]])?;
    /// assert_eq!(p.dot_product().bins, 2);
    /// assert_eq!(p.norm_l2().bins, 2);
    /// # Ok::<(), kelvin_placement::PlacementError>(())
    /// ```
    pub fn dot_product(&self) -> Packing {
        self.bin_centric(|p, room, it| {
            -(0..p.dims())
                .map(|k| {
                    let c = p.capacity[k] as f64;
                    (room[k] as f64 / c) * (it[k] as f64 / c)
                })
                .sum::<f64>()
        })
    }

    /// L2 norm (bin-centric, same paper): fill one bin at a time, each time with the fitting
    /// item that leaves the bin's remaining capacity vector shortest (Euclidean, relative to
    /// capacity).
    pub fn norm_l2(&self) -> Packing {
        self.bin_centric(|p, room, it| {
            (0..p.dims())
                .map(|k| {
                    let c = p.capacity[k] as f64;
                    ((room[k] - it[k]) as f64 / c).powi(2)
                })
                .sum()
        })
    }

    /// One bin at a time: add the fitting unpacked item with the lowest `cost(instance,
    /// room, item)` (the first in decreasing order on ties) until none fits.
    fn bin_centric(&self, cost: impl Fn(&BinPacking, &[u64], &[u64]) -> f64) -> Packing {
        let d = self.dims();
        let mut left: Vec<usize> = self.decreasing();
        let mut bin_of = vec![0; self.items.len()];
        let mut bins = 0;
        let mut room = vec![0u64; d];
        while !left.is_empty() {
            room.copy_from_slice(&self.capacity);
            loop {
                let mut best: Option<(f64, usize)> = None;
                for (pos, &i) in left.iter().enumerate() {
                    let it = &self.items[i];
                    if it.iter().zip(&room).all(|(w, r)| w <= r) {
                        let c = cost(self, &room, it);
                        if best.is_none_or(|(bc, _)| c < bc) {
                            best = Some((c, pos));
                        }
                    }
                }
                let Some((_, pos)) = best else { break };
                let i = left.remove(pos);
                for (r, w) in room.iter_mut().zip(&self.items[i]) {
                    *r -= w;
                }
                bin_of[i] = bins;
            }
            bins += 1;
        }
        Packing { bin_of, bins }
    }

    /// Items in decreasing order, each into the open bin where it fits with the lowest
    /// `cost(instance, load, item)` (the first such bin on ties), else into a new bin.
    fn decreasing_fit(&self, cost: impl Fn(&BinPacking, &[u64], &[u64]) -> f64) -> Packing {
        let d = self.dims();
        let mut loads: Vec<u64> = Vec::new();
        let mut bin_of = vec![0; self.items.len()];
        for i in self.decreasing() {
            let it = &self.items[i];
            let mut best: Option<(f64, usize)> = None;
            for (b, load) in loads.chunks(d).enumerate() {
                if self.fits(load, it) {
                    let c = cost(self, load, it);
                    if best.is_none_or(|(bc, _)| c < bc) {
                        best = Some((c, b));
                    }
                }
            }
            let b = best.map_or_else(
                || {
                    loads.extend(std::iter::repeat_n(0, d));
                    loads.len() / d - 1
                },
                |(_, b)| b,
            );
            for (k, w) in it.iter().enumerate() {
                loads[b * d + k] += w;
            }
            bin_of[i] = b;
        }
        Packing {
            bins: loads.len() / d,
            bin_of,
        }
    }

    /// Whether `p` puts every item in a bin and no bin over capacity in any dimension.
    pub fn is_feasible(&self, p: &Packing) -> bool {
        if p.bin_of.len() != self.items.len() {
            return false;
        }
        let d = self.dims();
        let mut loads = vec![0u64; p.bins * d];
        for (i, &b) in p.bin_of.iter().enumerate() {
            if b >= p.bins {
                return false;
            }
            for k in 0..d {
                loads[b * d + k] += self.items[i][k];
            }
        }
        loads
            .chunks(d.max(1))
            .all(|l| l.iter().zip(&self.capacity).all(|(x, c)| x <= c))
    }

    /// The best of first- and best-fit decreasing and, for vector instances of up to 5,000
    /// items, the dot-product and L2-norm heuristics, with the lower bound and the time taken.
    pub fn pack(&self) -> PackReport {
        let t = Instant::now();
        let mut packing = self.first_fit_decreasing();
        let mut consider = |p: Packing| {
            if p.bins < packing.bins {
                packing = p;
            }
        };
        consider(self.best_fit_decreasing());
        // The bin-centric heuristics cost O(n²·d): only where that stays in milliseconds.
        if self.dims() > 1 && self.items.len() <= BIN_CENTRIC_MAX_ITEMS {
            consider(self.dot_product());
            consider(self.norm_l2());
        }
        debug_assert!(self.is_feasible(&packing));
        PackReport {
            packing,
            lower_bound: self.lower_bound(),
            time_ms: t.elapsed().as_secs_f64() * 1e3,
        }
    }
}

/// Limits of [`BinPacking::improve`]: whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchLimit {
    /// Wall-clock budget, milliseconds (default 1,000).
    pub time_ms: u64,
    /// Rounds of the search (default unlimited): one round is a descent and up to 200 tabu
    /// moves. Set it (with a generous `time_ms`) for results that do not depend on the
    /// machine's speed.
    pub attempts: u64,
    /// Seed of the search's random choices (default 0): same seed and attempts, same
    /// result.
    pub seed: u64,
}

impl Default for SearchLimit {
    fn default() -> Self {
        SearchLimit {
            time_ms: 1_000,
            attempts: u64::MAX,
            seed: 0,
        }
    }
}

impl SearchLimit {
    /// Sets the time budget.
    pub fn with_time_ms(mut self, ms: u64) -> Self {
        self.time_ms = ms;
        self
    }
    /// Sets the round budget ([`SearchLimit::attempts`]).
    pub fn with_attempts(mut self, n: u64) -> Self {
        self.attempts = n;
        self
    }
    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

impl BinPacking {
    /// Improves a packing by consistent neighbourhood search (see the module
    /// documentation): from a packing
    /// with `m` bins, drop the lightest bin and search for a packing of the rest into `m − 1`
    /// bins, then `m − 2`, and so on. Stops at the lower bound or the limit and returns the
    /// best complete packing found, so never a worse one than `start`. Same instance, start
    /// and seed with a round budget ([`SearchLimit::attempts`]): same result.
    ///
    /// A `start` that is not a feasible packing of this instance is returned unchanged.
    pub fn improve(&self, start: &Packing, limit: &SearchLimit) -> Packing {
        if !self.is_feasible(start) {
            return start.clone();
        }
        cns::improve(self, start, limit)
    }

    /// [`BinPacking::pack`] followed by [`BinPacking::improve`] within `limit`.
    pub fn pack_with(&self, limit: &SearchLimit) -> PackReport {
        let t = Instant::now();
        let start = self.pack().packing;
        let packing = self.improve(&start, limit);
        PackReport {
            packing,
            lower_bound: self.lower_bound(),
            time_ms: t.elapsed().as_secs_f64() * 1e3,
        }
    }
}

/// Martello–Toth L2 for one dimension (which dominates the continuous bound).
fn l2(w: &[u64], c: u64) -> usize {
    let continuous = w.iter().sum::<u64>().div_ceil(c) as usize;
    let mut alphas: Vec<u64> = w.iter().copied().filter(|&x| 2 * x <= c).collect();
    alphas.push(0);
    alphas.sort_unstable();
    alphas.dedup();
    let mut best = continuous;
    for &a in &alphas {
        let (mut n1, mut n2, mut s2, mut s3) = (0usize, 0usize, 0u64, 0u64);
        for &x in w {
            if x > c - a {
                n1 += 1;
            } else if 2 * x > c {
                n2 += 1;
                s2 += x;
            } else if x >= a {
                s3 += x;
            }
        }
        let free = n2 as u64 * c - s2;
        let extra = s3.saturating_sub(free).div_ceil(c) as usize;
        best = best.max(n1 + n2 + extra);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_formats_and_names_bad_lines() {
        let p = BinPacking::parse("3\n10\n6\n5\n4\n").unwrap();
        assert_eq!((p.len(), p.dims()), (3, 1));
        let v = BinPacking::parse("2\n10 10\n2\n6 1 2\n3 9 1\n").unwrap();
        assert_eq!((v.len(), v.dims()), (3, 2));
        let e = BinPacking::parse("3\n10\n6\nx\n4\n").unwrap_err();
        assert!(e.reason().contains("line 4"), "{e}");
        let e = BinPacking::parse("3\n10\n6\n5\n").unwrap_err();
        assert!(e.reason().contains("3 items announced"), "{e}");
        assert!(BinPacking::parse("2\n10\n11\n1\n").is_err());
        assert!(BinPacking::parse("").is_err());
        // Sizes and counts that could overflow sums, or exhaust memory, are refused.
        let e = BinPacking::parse("1\n2000000000000\n5\n").unwrap_err();
        assert!(e.reason().contains("2^40"), "{e}");
        let e = BinPacking::parse("1\n10\n2\n1 3000000\n2 3000000\n").unwrap_err();
        assert!(
            e.reason().contains("line 5") && e.reason().contains("2^22"),
            "{e}"
        );
    }

    #[test]
    fn l2_beats_the_continuous_bound() {
        // Three items of 51 on capacity 100: continuous says 2, L2 says 3.
        let p = BinPacking::try_new(vec![100], vec![vec![51]; 3]).unwrap();
        assert_eq!(p.lower_bound(), 3);
        assert_eq!(p.pack().packing.bins, 3);
    }

    #[test]
    fn packings_are_feasible() {
        let v = BinPacking::parse("2\n10 10\n3\n6 1 2\n3 9 1\n5 5 3\n").unwrap();
        for p in [v.first_fit_decreasing(), v.best_fit_decreasing()] {
            assert!(v.is_feasible(&p));
            assert!(p.bins >= v.lower_bound());
        }
    }

    #[test]
    fn improvement_is_feasible_deterministic_and_never_worse() {
        // Triplets that fill bins exactly (a perfect packing of 10 bins) that FFD misses.
        let mut items = Vec::new();
        let mut x = 7u64;
        for _ in 0..10 {
            x = x * 1_103_515_245 % 2_147_483_647;
            let a = 250 + x % 100;
            x = x * 1_103_515_245 % 2_147_483_647;
            let b = 250 + x % 100;
            items.extend([vec![a], vec![b], vec![1000 - a - b]]);
        }
        let p = BinPacking::try_new(vec![1000], items).unwrap();
        let start = p.pack().packing;
        let limit = SearchLimit::default()
            .with_attempts(300)
            .with_time_ms(60_000)
            .with_seed(3);
        let a = p.improve(&start, &limit);
        let b = p.improve(&start, &limit);
        assert_eq!(a, b);
        assert!(p.is_feasible(&a));
        assert!(a.bins <= start.bins && a.bins >= p.lower_bound());
    }
}
