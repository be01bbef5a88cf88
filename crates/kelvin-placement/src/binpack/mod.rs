//! Vector bin packing: the combinatorial core of placement, on its own so it can be measured
//! against published benchmark instances with known optima.
//!
//! - [`BinPacking::parse`] reads BPPLIB one-dimensional instances (`.txt`/`.bpp`: item count,
//!   capacity, one weight per line) and VPSolver-style vector instances (`.vbp`: dimensions,
//!   capacities, item types, then `w_1 … w_d demand` per type); [`BinPacking::read`] reads
//!   a file of either, at most [`MAX_INSTANCE_BYTES`] long.
//! - [`BinPacking::lower_bound`] is the best of the continuous bound per dimension and the
//!   Martello–Toth L2 bound per dimension (Martello & Toth, "Lower bounds and reduction
//!   procedures for the bin packing problem", Discrete Applied Mathematics 28, 1990), and at
//!   least one bin for any item.
//! - [`BinPacking::first_fit_decreasing`] and [`BinPacking::best_fit_decreasing`] order items
//!   by their size summed over dimensions relative to capacity, the baselines of the
//!   literature; [`BinPacking::dot_product`] and [`BinPacking::norm_l2`] are the bin-centric
//!   vector heuristics of Panigrahy et al. (2011); [`BinPacking::pack`] returns the best of
//!   them, checked.
//! - [`BinPacking::improve`] and [`BinPacking::pack_with`] then remove bins: in one dimension
//!   first by bin completion at the lower bound (Korf, AAAI 2002: bins filled one at a time,
//!   wasting no more than the bound allows, repaired by a large neighbourhood search), then
//!   by consistent neighbourhood search (Buljubašić & Vasquez, Computers & Operations
//!   Research 76, 2016): a tabu search over partial packings into fewer bins, with subset-sum
//!   refills of bins in one dimension; anytime within a [`SearchLimit`].
//!
//! # Limits
//!
//! Instances hold at most [`MAX_ITEMS`] items, [`MAX_DIMS`] dimensions, [`MAX_SIZES`] sizes
//! in all and capacities up to [`MAX_CAPACITY`], so that no sum of sizes can overflow and the
//! memory of an instance stays bounded (8 bytes per size; the search adds about 100 bytes per
//! item). The readers check every count before allocating anything from it.
//!
//! # Time
//!
//! [`BinPacking::pack_with`]'s time limit covers everything it does: ordering the items, the
//! construction heuristics, the lower bound and the search all read the clock every few
//! hundred operations. When time is up in the middle of a heuristic, the items it has not
//! placed yet go by next fit (linear), so a complete packing, checked feasible, is always
//! returned; a heuristic that cannot finish is skipped, and the L2 bound gives way to the
//! continuous one.

use std::path::Path;
use std::time::Instant;

use crate::PlacementError;
use crate::clock::Clock;

mod cns;
mod complete;
mod fit;
mod read;

/// Largest capacity accepted (2^40): with at most [`MAX_ITEMS`] items, every sum of sizes
/// stays below 2^62, so no arithmetic on sizes can overflow.
pub const MAX_CAPACITY: u64 = 1 << 40;

/// Most items accepted (2^22).
pub const MAX_ITEMS: usize = 1 << 22;

/// Most dimensions accepted.
pub const MAX_DIMS: usize = 64;

/// Most sizes accepted in all, items × dimensions (2^24: 128 MiB of sizes).
pub const MAX_SIZES: usize = 1 << 24;

/// Longest instance file [`BinPacking::read`] reads (64 MiB: room for [`MAX_ITEMS`] weights
/// of up to [`MAX_CAPACITY`], one per line).
pub const MAX_INSTANCE_BYTES: u64 = 64 << 20;

/// Largest instance the O(n²) bin-centric heuristics run on inside [`BinPacking::pack`].
const BIN_CENTRIC_MAX_ITEMS: usize = 5_000;

/// A bin-packing instance: identical bins with a capacity per dimension, and items with a
/// size per dimension (integers, as the benchmark files give them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinPacking {
    capacity: Vec<u64>,
    /// Item `i`'s size in dimension `k` is `sizes[i * dims + k]`.
    sizes: Vec<u64>,
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
    /// [`crate::PlacementErrorKind::InvalidInput`] for no dimensions or more than
    /// [`MAX_DIMS`], a capacity of zero or above [`MAX_CAPACITY`], more than [`MAX_ITEMS`]
    /// items or [`MAX_SIZES`] sizes, an item with the wrong number of dimensions, or an item
    /// larger than a bin in some dimension (it could never be packed); the message names the
    /// cause, the dimension and the item.
    pub fn try_new(capacity: Vec<u64>, items: Vec<Vec<u64>>) -> Result<BinPacking, PlacementError> {
        let call = PlacementError::for_call;
        if let Some(why) = read::dims_problem(capacity.len() as u64) {
            return Err(call(why));
        }
        for (k, c) in capacity.iter().enumerate() {
            if let Some(why) = read::capacity_problem(*c) {
                return Err(call(format!("dimension {}: {why}", k + 1)));
            }
        }
        let d = capacity.len();
        if let Some(why) = read::size_problem(items.len() as u64, d) {
            return Err(call(why));
        }
        let mut sizes = Vec::with_capacity(items.len() * d);
        for (i, it) in items.iter().enumerate() {
            if it.len() != d {
                return Err(call(format!(
                    "item {i} has {} dimensions, bins have {d}",
                    it.len()
                )));
            }
            if let Some(k) = (0..d).find(|&k| it[k] > capacity[k]) {
                return Err(call(format!(
                    "item {i} is larger than a bin: size {} in dimension {}, capacity {}",
                    it[k],
                    k + 1,
                    capacity[k]
                )));
            }
            sizes.extend_from_slice(it);
        }
        Ok(BinPacking { capacity, sizes })
    }

    /// Parses a BPPLIB (`.txt`, `.bpp`) or `.vbp` instance; the format is told by its shape
    /// (a `.vbp` file's second line holds one capacity per dimension, its item lines a size
    /// per dimension and a demand).
    ///
    /// Counts are checked against the limits ([`MAX_ITEMS`], [`MAX_DIMS`], [`MAX_SIZES`],
    /// [`MAX_CAPACITY`]) before anything is allocated from them, so no text can make it
    /// allocate more than a bounded multiple of its own length and the instance's sizes.
    ///
    /// # Errors
    /// [`crate::PlacementErrorKind::InvalidInput`] starting `line N:` (counting every line of
    /// the text from 1) and naming the cause: a missing line, a line with the wrong number
    /// of numbers, something that is not a non-negative integer or does not fit in 64 bits,
    /// a count or a capacity beyond its limit (named with the limit), a count that does not
    /// match the lines that follow, or an item larger than a bin.
    pub fn parse(text: &str) -> Result<BinPacking, PlacementError> {
        read::parse(text)
    }

    /// Reads and parses an instance file of at most [`MAX_INSTANCE_BYTES`] (longer files,
    /// and devices or pipes that deliver more, are refused once the limit is passed, without
    /// reading further).
    ///
    /// # Errors
    /// [`crate::PlacementErrorKind::InvalidInput`] starting with the path: the system's
    /// error for a file that cannot be opened or read, a file over the limit (with the
    /// limit), a directory, text that is not UTF-8, or [`BinPacking::parse`]'s error.
    pub fn read(path: impl AsRef<Path>) -> Result<BinPacking, PlacementError> {
        read::read(path.as_ref())
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.sizes.len() / self.dims()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.capacity.len()
    }

    /// The bin capacity, per dimension.
    pub fn capacity(&self) -> &[u64] {
        &self.capacity
    }

    /// Item `i`'s sizes, one per dimension (`None` past the last item).
    pub fn item_sizes(&self, i: usize) -> Option<&[u64]> {
        (i < self.len()).then(|| self.item(i))
    }

    fn item(&self, i: usize) -> &[u64] {
        let d = self.dims();
        &self.sizes[i * d..(i + 1) * d]
    }

    /// The best of the continuous and Martello–Toth L2 bounds over every dimension, and at
    /// least one bin for any item: no packing uses fewer bins.
    pub fn lower_bound(&self) -> usize {
        self.lower_bound_within(&mut Clock::unlimited())
    }

    /// [`BinPacking::lower_bound`]; the continuous bound alone for the dimensions the clock
    /// leaves no time for L2.
    fn lower_bound_within(&self, clock: &mut Clock) -> usize {
        if self.is_empty() {
            return 0;
        }
        let d = self.dims();
        let column = |k: usize| self.sizes.iter().skip(k).step_by(d).copied();
        let mut best = 1;
        for k in 0..d {
            // At most 2^22 sizes of at most 2^40: the sum stays below 2^62.
            let total: u64 = column(k).sum();
            best = best.max(total.div_ceil(self.capacity[k]) as usize);
        }
        for k in 0..d {
            if clock.expired() {
                break;
            }
            let mut w: Vec<u64> = column(k).collect();
            if !crate::clock::sort_within(&mut w, clock, |a, b| a.cmp(b)) {
                break;
            }
            match l2(&w, self.capacity[k], clock) {
                Some(b) => best = best.max(b),
                None => break,
            }
        }
        best
    }

    fn fits(&self, load: &[u64], item: &[u64]) -> bool {
        load.iter()
            .zip(item)
            .zip(&self.capacity)
            .all(|((l, w), c)| l + w <= *c)
    }

    /// First fit decreasing: each item into the first open bin it fits.
    pub fn first_fit_decreasing(&self) -> Packing {
        let mut clock = Clock::unlimited();
        let order = self.decreasing_within(&mut clock);
        self.first_fit_within(&order, &mut clock)
    }

    /// Best fit decreasing: each item into the open bin it leaves with the least room
    /// (summed relative to capacity over dimensions).
    pub fn best_fit_decreasing(&self) -> Packing {
        let mut clock = Clock::unlimited();
        let order = self.decreasing_within(&mut clock);
        self.best_fit_within(&order, &mut clock)
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
        let mut clock = Clock::unlimited();
        let order = self.decreasing_within(&mut clock);
        self.dot_product_within(&order, &mut clock)
            .unwrap_or_else(|| self.next_fit(&order))
    }

    fn dot_product_within(&self, order: &[usize], clock: &mut Clock) -> Option<Packing> {
        self.bin_centric_within(order, clock, |p, room, it| {
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
        let mut clock = Clock::unlimited();
        let order = self.decreasing_within(&mut clock);
        self.norm_l2_within(&order, &mut clock)
            .unwrap_or_else(|| self.next_fit(&order))
    }

    fn norm_l2_within(&self, order: &[usize], clock: &mut Clock) -> Option<Packing> {
        self.bin_centric_within(order, clock, |p, room, it| {
            (0..p.dims())
                .map(|k| {
                    let c = p.capacity[k] as f64;
                    ((room[k] - it[k]) as f64 / c).powi(2)
                })
                .sum()
        })
    }

    /// Whether `p` puts every item in a bin and no bin over capacity in any dimension.
    pub fn is_feasible(&self, p: &Packing) -> bool {
        if p.bin_of.len() != self.len() || p.bin_of.iter().any(|&b| b >= p.bins) {
            return false;
        }
        let d = self.dims();
        let within = |load: &[u64]| load.iter().zip(&self.capacity).all(|(x, c)| x <= c);
        if p.bins <= self.len() {
            // Plain index loops: this runs on every packing the search finds.
            let mut loads = vec![0u64; p.bins * d];
            for (i, &b) in p.bin_of.iter().enumerate() {
                for k in 0..d {
                    loads[b * d + k] += self.sizes[i * d + k];
                }
            }
            return (0..loads.len()).all(|x| loads[x] <= self.capacity[x % d]);
        }
        // More bins than items (some empty): only the bins in use, by their numbers.
        let mut loads: std::collections::HashMap<usize, Vec<u64>> = Default::default();
        for (i, &b) in p.bin_of.iter().enumerate() {
            let l = loads.entry(b).or_insert_with(|| vec![0; d]);
            for (l, w) in l.iter_mut().zip(self.item(i)) {
                *l += w;
            }
        }
        loads.values().all(|l| within(l))
    }

    /// The best of first- and best-fit decreasing and, for vector instances of up to 5,000
    /// items, the dot-product and L2-norm heuristics, with the lower bound and the time taken.
    ///
    /// Without a time limit: first and best fit on vectors cost O(items × bins), minutes for
    /// millions of items (a 580-byte `.vbp` can announce 2^22 of them). For instances from
    /// outside, use [`BinPacking::pack_with`], which stops on time.
    pub fn pack(&self) -> PackReport {
        let t = Instant::now();
        let (packing, lower_bound) = self.pack_within(&mut Clock::unlimited());
        PackReport {
            packing,
            lower_bound,
            time_ms: t.elapsed().as_secs_f64() * 1e3,
        }
    }

    /// [`BinPacking::pack`]'s heuristics and bound under `clock`: a complete packing whatever
    /// the clock does (next fit finishes what a heuristic could not).
    fn pack_within(&self, clock: &mut Clock) -> (Packing, usize) {
        let order = self.decreasing_within(clock);
        let mut packing = self.first_fit_within(&order, clock);
        let mut consider = |p: Packing| {
            if p.bins < packing.bins {
                packing = p;
            }
        };
        if !clock.expired() {
            consider(self.best_fit_within(&order, clock));
        }
        // The bin-centric heuristics cost O(n²·d): only where that stays in milliseconds.
        if self.dims() > 1 && self.len() <= BIN_CENTRIC_MAX_ITEMS {
            for p in [
                self.dot_product_within(&order, clock),
                self.norm_l2_within(&order, clock),
            ]
            .into_iter()
            .flatten()
            {
                consider(p);
            }
        }
        // Feasible by construction; checked so that no heuristic has to be trusted.
        if !self.is_feasible(&packing) {
            packing = self.next_fit(&(0..self.len()).collect::<Vec<_>>());
        }
        (packing, self.lower_bound_within(clock))
    }

    /// The same packing with its bins numbered `0..k` in order of first use, empty bins
    /// dropped.
    fn compact(&self, p: &Packing) -> Packing {
        let mut renumber: std::collections::HashMap<usize, usize> = Default::default();
        let bin_of: Vec<usize> = p
            .bin_of
            .iter()
            .map(|&b| {
                let next = renumber.len();
                *renumber.entry(b).or_insert(next)
            })
            .collect();
        Packing {
            bins: renumber.len(),
            bin_of,
        }
    }
}

/// The share of the time left that bin completion may use before the neighbourhood search.
const COMPLETE_SHARE: f64 = 0.75;

/// Bin completion recurses once per item placed: it runs on instances of up to this many
/// items, which keeps its stack within a few hundred kilobytes.
const COMPLETE_MAX_ITEMS: usize = 2_000;

/// Bin completion's nodes per round of [`SearchLimit::attempts`].
const COMPLETE_NODES: u64 = 1 << 16;

/// Limits of [`BinPacking::improve`] and [`BinPacking::pack_with`]: whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SearchLimit {
    /// Wall-clock budget, milliseconds (default 1,000). For [`BinPacking::pack_with`] it
    /// covers the construction heuristics and the lower bound too.
    pub time_ms: u64,
    /// Rounds of the search (default unlimited): one round is a descent and up to 200 tabu
    /// moves (bin completion, before it, gets 65,536 nodes per round). Set it (with a
    /// generous `time_ms`) for results that do not depend on the machine's speed.
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
    /// Improves a packing (see the module documentation). In one dimension, bin completion
    /// first looks for a packing at the lower bound, which it often finds where little room
    /// may be wasted (Falkenauer's triplets, Hard28). Then consistent neighbourhood search:
    /// from a packing with `m` bins, drop the lightest bin and search for a packing of the
    /// rest into `m − 1` bins, then `m − 2`, and so on. Stops at the lower bound or the
    /// limit and returns the best complete packing found, so never a worse one than `start`. Same instance, start
    /// and seed with a round budget ([`SearchLimit::attempts`]): same result.
    ///
    /// A `start` that is not a feasible packing of this instance is returned unchanged; one
    /// with empty bins is renumbered without them first.
    pub fn improve(&self, start: &Packing, limit: &SearchLimit) -> Packing {
        if !self.is_feasible(start) {
            return start.clone();
        }
        let mut clock = Clock::after(Instant::now(), limit.time_ms);
        let start = self.compact(start);
        let lb = self.lower_bound_within(&mut clock);
        self.search(&start, lb, limit, clock)
    }

    /// The searches from a feasible `start` without empty bins: in one dimension (up to
    /// [`COMPLETE_MAX_ITEMS`] items), bin completion at the lower bound first, for up to
    /// [`COMPLETE_SHARE`] of the time or [`COMPLETE_NODES`] nodes per round of a round budget;
    /// then consistent neighbourhood search for the rest.
    fn search(&self, start: &Packing, lb: usize, limit: &SearchLimit, clock: Clock) -> Packing {
        if self.dims() == 1 && start.bins > lb && (1..=COMPLETE_MAX_ITEMS).contains(&self.len()) {
            let nodes = limit.attempts.saturating_mul(COMPLETE_NODES);
            let mut phase = clock.share(COMPLETE_SHARE);
            if let Some(p) = complete::complete(self, lb, nodes, limit.seed, &mut phase)
                && self.is_feasible(&p)
            {
                return p;
            }
        }
        cns::improve(self, start, lb, limit, clock)
    }

    /// [`BinPacking::pack`] followed by [`BinPacking::improve`], all within `limit`: when the
    /// time is up, the heuristics and the search stop within a few hundred operations and
    /// the best complete packing found so far (at worst next fit) is returned.
    pub fn pack_with(&self, limit: &SearchLimit) -> PackReport {
        let t = Instant::now();
        let mut clock = Clock::after(t, limit.time_ms);
        let (start, lower_bound) = self.pack_within(&mut clock);
        let packing = self.search(&start, lower_bound, limit, clock);
        debug_assert!(self.is_feasible(&packing));
        PackReport {
            packing,
            lower_bound,
            time_ms: t.elapsed().as_secs_f64() * 1e3,
        }
    }
}

/// Martello–Toth L2 for one dimension (which dominates the continuous bound), from the sizes
/// sorted in increasing order, in `O(n log n)`: for each `α` among the sizes of at most half
/// a bin (and 0), the items larger than `C − α` need a bin each, those larger than half a bin
/// too, and the items in `[α, C/2]` fill what those leave free, then whole bins. `None` if
/// the clock expires first.
fn l2(w: &[u64], c: u64, clock: &mut Clock) -> Option<usize> {
    // prefix[i]: the sum of the i smallest sizes (below 2^62, see `MAX_CAPACITY`).
    let mut prefix = Vec::with_capacity(w.len() + 1);
    prefix.push(0u64);
    for &x in w {
        prefix.push(prefix[prefix.len() - 1] + x);
    }
    let continuous = prefix[w.len()].div_ceil(c) as usize;
    let half = w.partition_point(|&x| 2 * x <= c);
    let mut best = continuous;
    let mut last = None;
    for a in std::iter::once(0).chain(w[..half].iter().copied()) {
        if last == Some(a) {
            continue;
        }
        last = Some(a);
        if clock.spend(u64::from(w.len().max(2).ilog2())) {
            return None;
        }
        let big = w.partition_point(|&x| x <= c - a);
        let from = w.partition_point(|&x| x < a);
        let (n1, n2) = (w.len() - big, big - half);
        let s2 = prefix[big] - prefix[half];
        let s3 = prefix[half] - prefix[from];
        let free = n2 as u64 * c - s2;
        let extra = s3.saturating_sub(free).div_ceil(c) as usize;
        best = best.max(n1 + n2 + extra);
    }
    Some(best)
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

    /// The textbook L2 (every α, every item): the sorted, prefix-sum version must agree.
    fn l2_reference(w: &[u64], c: u64) -> usize {
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

    #[test]
    fn l2_matches_the_textbook_computation() {
        let mut x = 5u64;
        for round in 0..300 {
            let c = 1 + round % 97;
            let n = round % 41;
            let mut w: Vec<u64> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1442695040888963407);
                    (x >> 33) % (c + 1)
                })
                .collect();
            let expected = l2_reference(&w, c);
            w.sort_unstable();
            assert_eq!(
                l2(&w, c, &mut Clock::unlimited()),
                Some(expected),
                "{w:?} in {c}"
            );
        }
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
