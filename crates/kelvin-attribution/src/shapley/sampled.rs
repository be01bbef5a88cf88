//! [`shapley_sampled`]: Monte-Carlo Shapley values by antithetic permutation sampling.

use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{Shares, active_players, endpoints, eval, validate_usage};
use crate::AttributionError;

/// Antithetic pairs per parallel work unit; fixed so results do not depend on thread count.
const PAIRS_PER_CHUNK: usize = 32;

/// Monte-Carlo Shapley value by permutation sampling (Castro, Gómez & Tejada 2009) with
/// antithetic pairs: for each of `permutations` pairs a uniformly random order of the players
/// and its reverse are walked, each player is credited its marginal contribution
/// `v(pred ∪ {i}) − v(pred)`, and the estimate is the mean of the pair means.
///
/// Players with zero usage get exactly `0` (and are left out of the orders, which does not
/// change anyone's marginal contributions). Each walk's contributions telescope to
/// `P(X) − P(0)` (the last step uses the same `P(X)` as `total`), so efficiency holds up to
/// rounding. `std_error[i]` is the standard deviation of player `i`'s pair means over
/// `√permutations` (`0` for null players, `+∞` with a single pair).
///
/// Deterministic for a `seed`: pair `k` draws its order from a [`ChaCha8Rng`] seeded with
/// `seed` on stream `k`, pairs run in parallel in fixed chunks and are combined in order, so
/// the result is bit-identical whatever the thread count. `p` is evaluated
/// `2·permutations·(k − 1)` times for `k` non-null players.
///
/// ```
/// use kelvin_attribution::shapley::{shapley_exact, shapley_sampled, usage_from_rows};
/// let p = |x: &[f64]| 60.0 + 100.0 * x[0] * x[0];
/// let usage = usage_from_rows(&[vec![0.2], vec![0.6], vec![0.0]])?;
/// let s = shapley_sampled(&p, usage.view(), 200, 7)?;
/// assert!(s.residual.abs() < 1e-9);
/// assert_eq!(s.shares[2], 0.0);
/// // Two players: an order and its reverse cover both orders, so this is exact.
/// let e = shapley_exact(&p, usage.view())?;
/// assert!((s.shares[0] - e.shares[0]).abs() < 1e-9);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when `permutations` is `0`,
/// `usage` has no players or no resources, a usage is negative, NaN or infinite, or `p`
/// returns a non-finite value.
pub fn shapley_sampled(
    p: &(dyn Fn(&[f64]) -> f64 + Sync),
    usage: ArrayView2<f64>,
    permutations: usize,
    seed: u64,
) -> Result<Shares, AttributionError> {
    if permutations == 0 {
        return Err(AttributionError::invalid(
            "permutations",
            "need at least one antithetic pair",
        ));
    }
    let totals = validate_usage(&usage)?;
    let (p0, px) = endpoints(p, &totals)?;
    let total = px - p0;
    let n = usage.nrows();
    let active = active_players(&usage);
    let k = active.len();
    let mut shares = vec![0.0; n];
    let mut std_error = vec![0.0; n];
    if k == 0 {
        return Ok(Shares::new(shares, total, Some(std_error)));
    }
    let rows: Vec<Vec<f64>> = active.iter().map(|&i| usage.row(i).to_vec()).collect();
    let sampler = Sampler {
        p,
        p0,
        px,
        rows: &rows,
        seed,
    };
    let chunks = permutations.div_ceil(PAIRS_PER_CHUNK);
    let stats: Vec<Welford> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let start = c * PAIRS_PER_CHUNK;
            let end = (start + PAIRS_PER_CHUNK).min(permutations);
            sampler.chunk(start..end)
        })
        .collect::<Result<_, _>>()?;
    let mut acc = Welford::new(k);
    for s in &stats {
        acc.merge(s);
    }
    let count = acc.count as f64;
    for (j, &i) in active.iter().enumerate() {
        shares[i] = acc.mean[j];
        std_error[i] = if acc.count > 1 {
            (acc.m2[j].max(0.0) / (count - 1.0) / count).sqrt()
        } else {
            f64::INFINITY
        };
    }
    Ok(Shares::new(shares, total, Some(std_error)))
}

struct Sampler<'a> {
    p: &'a (dyn Fn(&[f64]) -> f64 + Sync),
    p0: f64,
    px: f64,
    rows: &'a [Vec<f64>],
    seed: u64,
}

impl Sampler<'_> {
    fn chunk(&self, pairs: std::ops::Range<usize>) -> Result<Welford, AttributionError> {
        let k = self.rows.len();
        let m = self.rows[0].len();
        let mut stats = Welford::new(k);
        let mut order: Vec<usize> = Vec::with_capacity(k);
        let mut sum = vec![0.0; m];
        let mut fwd = vec![0.0; k];
        let mut rev = vec![0.0; k];
        for pair in pairs {
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
            rng.set_stream(pair as u64);
            order.clear();
            order.extend(0..k);
            for i in (1..k).rev() {
                let j = rng.random_range(0..=i);
                order.swap(i, j);
            }
            self.walk(order.iter().copied(), &mut sum, &mut fwd)?;
            self.walk(order.iter().rev().copied(), &mut sum, &mut rev)?;
            for (f, r) in fwd.iter_mut().zip(&rev) {
                *f = 0.5 * (*f + r);
            }
            stats.push(&fwd);
        }
        Ok(stats)
    }

    /// Marginal contributions along `order` into `out`.
    fn walk(
        &self,
        order: impl ExactSizeIterator<Item = usize>,
        sum: &mut [f64],
        out: &mut [f64],
    ) -> Result<(), AttributionError> {
        sum.fill(0.0);
        let last = order.len() - 1;
        let mut prev = self.p0;
        for (pos, j) in order.enumerate() {
            let cur = if pos == last {
                self.px
            } else {
                for (s, &u) in sum.iter_mut().zip(&self.rows[j]) {
                    *s += u;
                }
                eval(self.p, sum)?
            };
            out[j] = cur - prev;
            prev = cur;
        }
        Ok(())
    }
}

/// Running mean and sum of squared deviations per player (Welford; merged by Chan et al.).
struct Welford {
    count: usize,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Welford {
    fn new(k: usize) -> Self {
        Welford {
            count: 0,
            mean: vec![0.0; k],
            m2: vec![0.0; k],
        }
    }

    fn push(&mut self, x: &[f64]) {
        self.count += 1;
        let c = self.count as f64;
        for ((mean, m2), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(x) {
            let d = x - *mean;
            *mean += d / c;
            *m2 += d * (x - *mean);
        }
    }

    fn merge(&mut self, other: &Welford) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            self.count = other.count;
            self.mean.clone_from(&other.mean);
            self.m2.clone_from(&other.m2);
            return;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        for j in 0..self.mean.len() {
            let d = other.mean[j] - self.mean[j];
            self.mean[j] += d * nb / n;
            self.m2[j] += other.m2[j] + d * d * na * nb / n;
        }
        self.count += other.count;
    }
}
