//! Cooperative-game attribution of a shared meter: Aumann–Shapley and Shapley values.
//!
//! `n` players (workloads) share one meter. Player `i` has a usage vector `u_i ∈ R^m` over `m`
//! resources (CPU utilization, GPU SM activity, …), given as one row of a `players × resources`
//! matrix. The meter draws `P(x)` watts (or joules per interval) at total usage
//! `x = Σ_i u_i = X`; the dynamic energy to split is `v(N) = P(X) − P(0)` and a coalition `S`
//! is worth `v(S) = P(Σ_{i∈S} u_i) − P(0)`.
//!
//! - [`aumann_shapley`]: the Aumann–Shapley price (Aumann & Shapley 1974),
//!   `φ_i = Σ_r u_ir ∫₀¹ ∂_r P(t·X) dt`, by adaptive composite Gauss–Legendre quadrature along
//!   the ray with finite-difference partial derivatives. Any `P`, any number of players.
//! - [`aumann_shapley_separable`]: the closed form for `P(x) = Σ_r P_r(x_r)`; exact.
//! - [`shapley_exact`]: the Shapley value (Shapley 1953) over all `2^n` coalitions, `n ≤ 20`.
//! - [`shapley_sampled`]: Monte-Carlo Shapley by permutation sampling (Castro, Gómez & Tejada
//!   2009) with antithetic (reversed) permutations, with a standard error per player.
//!
//! For linear `P` all four give the proportional split. For a nonlinear `P` and unequal players
//! Aumann–Shapley and Shapley differ: Aumann–Shapley charges every unit of a resource the same
//! average marginal price along the ray, Shapley averages over arrival orders.
//!
//! Every method returns [`Shares`], whose `residual = total − Σ shares` is reported as computed
//! and never folded back into the shares.
//!
//! Guarantees that hold exactly (not only up to rounding): in every method a player with zero
//! usage gets `0` (null player); in the Aumann–Shapley methods players with identical usage get
//! identical shares (symmetry; up to rounding in the Shapley methods); and when `P` is
//! non-decreasing, the shares of both Aumann–Shapley methods and of [`shapley_exact`] are
//! non-negative. Efficiency (`Σ φ_i = v(N)`) holds up to rounding for the closed form and the
//! Shapley methods and up to quadrature error for [`aumann_shapley`]; see
//! [`Shares::residual`].
//!
//! Modules: `aumann` (the Aumann–Shapley methods: adaptive quadrature and the separable closed
//! form), `exact` (all coalitions), `sampled` (permutation sampling); the options, the result
//! and the checks of the usage matrix are here.

use ndarray::{Array2, ArrayView2};

use crate::AttributionError;

mod aumann;
mod exact;
mod sampled;

pub use aumann::{aumann_shapley, aumann_shapley_separable};
pub use exact::shapley_exact;
pub use sampled::shapley_sampled;

/// Largest player count [`shapley_exact`] accepts (`2^20` coalitions).
pub const MAX_EXACT_PLAYERS: usize = 20;

/// Largest Gauss–Legendre rule [`AsOptions::nodes`] accepts.
pub const MAX_NODES: usize = 64;

/// The result of an attribution: one share per player (in the order of the usage rows), the
/// value of the grand coalition and what the shares leave over.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Shares {
    /// `φ_i`, one per player, in the order of the usage rows.
    pub shares: Vec<f64>,
    /// `v(N) = P(X) − P(0)`: the dynamic energy (or power) being split.
    pub total: f64,
    /// `total − Σ shares` as computed, before any correction: quadrature, sampling and
    /// rounding error are reported here, never hidden.
    pub residual: f64,
    /// Standard error of each share; only for sampled methods ([`shapley_sampled`]),
    /// `None` for deterministic ones.
    pub std_error: Option<Vec<f64>>,
}

impl Shares {
    fn new(shares: Vec<f64>, total: f64, std_error: Option<Vec<f64>>) -> Self {
        let residual = total - shares.iter().sum::<f64>();
        Shares {
            shares,
            total,
            residual,
            std_error,
        }
    }
}

/// Quadrature settings of [`aumann_shapley`].
///
/// The integral `I_r = ∫₀¹ ∂_r P(t·X) dt` is computed per resource with an `nodes`-point
/// Gauss–Legendre rule on `segments` equal segments of `[0, 1]`, then refined adaptively
/// (global, largest estimated error first): a segment's error is estimated from the
/// disagreement of the sum over its two halves with its own rule and with the rule of
/// `nodes + 1` points, plus a check of the integrand at the segment's ends, where Gauss rules
/// have no node. Refinement stops when the summed estimate is at most `rel_tol` times the
/// scale of the integral (but never below the rounding level of the finite differences,
/// about `ε·max(|P(0)|, |P(X)|) / (rel_step·X_r)`), or after `max_bisections` bisections.
/// Refinement matters for curves with kinks (piecewise-linear power tables), where a fixed
/// composite rule is only first-order accurate: on the SPECpower-style table of the tests, 16
/// fixed segments are off by ~3e-4, the default refinement by ~1e-8 (a few thousand
/// evaluations of `P` per resource).
///
/// The estimate is a heuristic, as for any adaptive quadrature; what it misses shows in
/// [`Shares::residual`].
///
/// ```
/// use kelvin_attribution::shapley::AsOptions;
/// let o = AsOptions::default().with_nodes(12).with_segments(4);
/// assert_eq!((o.nodes, o.segments, o.rel_step), (12, 4, 1e-6));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AsOptions {
    /// Gauss–Legendre nodes per segment, `1..=64`; default 8.
    pub nodes: usize,
    /// Initial number of equal segments of `[0, 1]`, `≥ 1`; default 16.
    pub segments: usize,
    /// Finite-difference step relative to `X_r` (the total usage of the resource), in
    /// `[1e-12, 0.1]`; default `1e-6`.
    pub rel_step: f64,
    /// Target error of each `I_r`, relative to `max(∫|∂_r P|, |v(N)| / X_r)`; finite, `≥ 0`;
    /// default `1e-10`. `0` refines down to the rounding level or `max_bisections`.
    pub rel_tol: f64,
    /// Most adaptive bisections per resource; default 4096. `0` gives the plain composite rule.
    pub max_bisections: usize,
}

impl Default for AsOptions {
    fn default() -> Self {
        AsOptions {
            nodes: 8,
            segments: 16,
            rel_step: 1e-6,
            rel_tol: 1e-10,
            max_bisections: 4096,
        }
    }
}

impl AsOptions {
    /// Sets [`AsOptions::nodes`].
    #[must_use]
    pub fn with_nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets [`AsOptions::segments`].
    #[must_use]
    pub fn with_segments(mut self, segments: usize) -> Self {
        self.segments = segments;
        self
    }

    /// Sets [`AsOptions::rel_step`].
    #[must_use]
    pub fn with_rel_step(mut self, rel_step: f64) -> Self {
        self.rel_step = rel_step;
        self
    }

    /// Sets [`AsOptions::rel_tol`].
    #[must_use]
    pub fn with_rel_tol(mut self, rel_tol: f64) -> Self {
        self.rel_tol = rel_tol;
        self
    }

    /// Sets [`AsOptions::max_bisections`].
    #[must_use]
    pub fn with_max_bisections(mut self, max_bisections: usize) -> Self {
        self.max_bisections = max_bisections;
        self
    }

    fn validate(&self) -> Result<(), AttributionError> {
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(AttributionError::invalid(
                "options.nodes",
                format!("must be in 1..={MAX_NODES}, got {}", self.nodes),
            ));
        }
        if self.segments == 0 || self.segments > 1 << 20 {
            return Err(AttributionError::invalid(
                "options.segments",
                format!("must be in 1..=2^20, got {}", self.segments),
            ));
        }
        if !(1e-12..=0.1).contains(&self.rel_step) {
            return Err(AttributionError::invalid(
                "options.rel_step",
                format!("must be in [1e-12, 0.1], got {}", self.rel_step),
            ));
        }
        if !(self.rel_tol.is_finite() && self.rel_tol >= 0.0) {
            return Err(AttributionError::invalid(
                "options.rel_tol",
                format!("must be finite and non-negative, got {}", self.rel_tol),
            ));
        }
        Ok(())
    }
}

/// Builds a `players × resources` usage matrix from rows, rejecting ragged or empty input.
///
/// ```
/// use kelvin_attribution::shapley::usage_from_rows;
/// let u = usage_from_rows(&[vec![0.2, 1.0], vec![0.5, 0.0]])?;
/// assert_eq!(u.dim(), (2, 2));
/// assert!(usage_from_rows(&[vec![0.2, 1.0], vec![0.5]]).is_err());
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when there are no rows, the
/// first row is empty, or rows differ in length. Values are checked by the attribution
/// functions, not here.
pub fn usage_from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Array2<f64>, AttributionError> {
    let Some(first) = rows.first() else {
        return Err(AttributionError::invalid("usage", "no players"));
    };
    let m = first.as_ref().len();
    if m == 0 {
        return Err(AttributionError::invalid("usage", "no resources"));
    }
    let mut flat = Vec::with_capacity(rows.len() * m);
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != m {
            return Err(AttributionError::invalid(
                format!("usage row {i}"),
                format!("ragged: {} resources, row 0 has {m}", row.len()),
            ));
        }
        flat.extend_from_slice(row);
    }
    Array2::from_shape_vec((rows.len(), m), flat)
        .map_err(|e| AttributionError::invalid("usage", e.to_string()))
}

/// Checks shape and values; returns the column totals `X_r` (summed in player order).
pub(super) fn validate_usage(usage: &ArrayView2<f64>) -> Result<Vec<f64>, AttributionError> {
    let (n, m) = usage.dim();
    if n == 0 {
        return Err(AttributionError::invalid("usage", "no players"));
    }
    if m == 0 {
        return Err(AttributionError::invalid("usage", "no resources"));
    }
    let mut totals = vec![0.0; m];
    for ((i, r), &u) in usage.indexed_iter() {
        if !u.is_finite() || u < 0.0 {
            return Err(AttributionError::invalid(
                format!("usage[{i}][{r}]"),
                format!("must be finite and non-negative, got {u}"),
            ));
        }
        totals[r] += u;
    }
    for (r, &x) in totals.iter().enumerate() {
        if !x.is_finite() {
            return Err(AttributionError::invalid(
                format!("usage[..][{r}]"),
                "total usage overflows",
            ));
        }
    }
    Ok(totals)
}

/// Players with some positive usage, in row order.
pub(super) fn active_players(usage: &ArrayView2<f64>) -> Vec<usize> {
    usage
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(_, row)| row.iter().any(|&u| u != 0.0))
        .map(|(i, _)| i)
        .collect()
}

pub(super) fn eval(p: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Result<f64, AttributionError> {
    let y = p(x);
    if y.is_finite() {
        Ok(y)
    } else {
        Err(AttributionError::invalid(
            "power curve",
            format!("returned {y} at x = {x:?}"),
        ))
    }
}

/// `(P(0), P(X))`, both checked finite.
pub(super) fn endpoints(
    p: &dyn Fn(&[f64]) -> f64,
    totals: &[f64],
) -> Result<(f64, f64), AttributionError> {
    let zero = vec![0.0; totals.len()];
    Ok((eval(p, &zero)?, eval(p, totals)?))
}

// ---------------------------------------------------------------------------------------------
// Aumann–Shapley
