//! [`shapley_exact`]: the Shapley value over every coalition.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::{MAX_EXACT_PLAYERS, Shares, active_players, endpoints, eval, validate_usage};
use crate::AttributionError;

/// Exact Shapley value (Shapley 1953) of the game `v(S) = P(Σ_{i∈S} u_i) − P(0)`:
///
/// `φ_i = Σ_{S ⊆ N∖{i}} |S|!(n−|S|−1)!/n! · (v(S ∪ {i}) − v(S))`.
///
/// Players with zero usage are null players: they get exactly `0` and are left out of the
/// enumeration (which does not change the others' values). Over the `k` remaining players the
/// `2^k` coalition sums are built by a depth-first walk (each sum is its parent's plus one
/// player, so `p` is evaluated once per coalition) and `p` is called `2^k − 1` times.
/// Efficiency holds up to rounding ([`Shares::residual`]). Memory: `2^k` values.
///
/// ```
/// use kelvin_attribution::shapley::{shapley_exact, usage_from_rows};
/// let p = |x: &[f64]| 60.0 + 100.0 * x[0] * x[0];
/// let usage = usage_from_rows(&[vec![0.2], vec![0.6]])?;
/// let s = shapley_exact(&p, usage.view())?;
/// // v({1}) = 4, v({2}) = 36, v(N) = 64: φ₁ = (4 + 64 − 36)/2 = 16, φ₂ = 48.
/// assert!((s.shares[0] - 16.0).abs() < 1e-9 && (s.shares[1] - 48.0).abs() < 1e-9);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when there are more than
/// [`MAX_EXACT_PLAYERS`] players (use [`shapley_sampled`](super::shapley_sampled)), `usage` has no players or no
/// resources, a usage is negative, NaN or infinite, or `p` returns a non-finite value.
pub fn shapley_exact(
    p: &dyn Fn(&[f64]) -> f64,
    usage: ArrayView2<f64>,
) -> Result<Shares, AttributionError> {
    let n = usage.nrows();
    if n > MAX_EXACT_PLAYERS {
        return Err(AttributionError::invalid(
            "usage",
            format!(
                "{n} players: exact Shapley enumerates 2^n coalitions and accepts at most \
                 {MAX_EXACT_PLAYERS}; use shapley_sampled"
            ),
        ));
    }
    let totals = validate_usage(&usage)?;
    let (p0, px) = endpoints(p, &totals)?;
    let total = px - p0;
    let active = active_players(&usage);
    let k = active.len();
    let m = totals.len();
    let mut shares = vec![0.0; n];
    if k == 0 {
        return Ok(Shares::new(shares, total, None));
    }

    // v[mask] over the active players; bit j is active[j].
    let rows: Vec<Vec<f64>> = active.iter().map(|&i| usage.row(i).to_vec()).collect();
    let mut values = vec![0.0; 1 << k];
    // stack[l·m..(l+1)·m] holds the sum of the players chosen among those ≥ l.
    let mut stack = vec![0.0; (k + 1) * m];
    let mut walk = CoalitionWalk {
        p,
        p0,
        m,
        rows: &rows,
        values: &mut values,
        stack: &mut stack,
    };
    walk.fill(k, 0)?;

    // Shapley weights w[s] = s!(k−s−1)!/k! = 1 / (k·C(k−1, s)).
    let weights: Vec<f64> = (0..k)
        .map(|s| {
            let mut c = 1.0;
            for j in 0..s {
                c = c * (k - 1 - j) as f64 / (j + 1) as f64;
            }
            1.0 / (k as f64 * c)
        })
        .collect();
    let phi: Vec<f64> = (0..k)
        .into_par_iter()
        .map(|j| {
            let bit = 1usize << j;
            // Sum by coalition size first, then weight: fewer roundings.
            let mut by_size = vec![0.0; k];
            for mask in 0..(1usize << k) {
                if mask & bit == 0 {
                    by_size[mask.count_ones() as usize] += values[mask | bit] - values[mask];
                }
            }
            by_size.iter().zip(&weights).map(|(d, w)| d * w).sum()
        })
        .collect();
    for (j, &i) in active.iter().enumerate() {
        shares[i] = phi[j];
    }
    Ok(Shares::new(shares, total, None))
}

struct CoalitionWalk<'a> {
    p: &'a dyn Fn(&[f64]) -> f64,
    p0: f64,
    m: usize,
    rows: &'a [Vec<f64>],
    values: &'a mut [f64],
    stack: &'a mut [f64],
}

impl CoalitionWalk<'_> {
    /// Decides players `level−1, …, 0`; the sum of those chosen so far is `stack[level]`.
    ///
    /// Each coalition's sum adds its members in decreasing index order, so `S ∪ {i}` and `S`
    /// have bitwise-equal sums when `u_i = 0` and the sum of `S ∪ {i}` is componentwise
    /// `≥` that of `S` (float addition is monotone).
    fn fill(&mut self, level: usize, mask: usize) -> Result<(), AttributionError> {
        let m = self.m;
        if level == 0 {
            if mask != 0 {
                self.values[mask] = eval(self.p, &self.stack[..m])? - self.p0;
            }
            return Ok(());
        }
        let j = level - 1;
        let (lower, upper) = self.stack.split_at_mut(level * m);
        let (cur, child) = (&upper[..m], &mut lower[j * m..]);
        child.copy_from_slice(cur);
        self.fill(j, mask)?;
        let (lower, upper) = self.stack.split_at_mut(level * m);
        let (cur, child) = (&upper[..m], &mut lower[j * m..]);
        for ((c, &s), &u) in child.iter_mut().zip(cur).zip(&self.rows[j]) {
            *c = s + u;
        }
        self.fill(j, mask | (1 << j))
    }
}
