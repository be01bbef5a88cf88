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

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::AttributionError;

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
fn validate_usage(usage: &ArrayView2<f64>) -> Result<Vec<f64>, AttributionError> {
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
fn active_players(usage: &ArrayView2<f64>) -> Vec<usize> {
    usage
        .rows()
        .into_iter()
        .enumerate()
        .filter(|(_, row)| row.iter().any(|&u| u != 0.0))
        .map(|(i, _)| i)
        .collect()
}

fn eval(p: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Result<f64, AttributionError> {
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
fn endpoints(p: &dyn Fn(&[f64]) -> f64, totals: &[f64]) -> Result<(f64, f64), AttributionError> {
    let zero = vec![0.0; totals.len()];
    Ok((eval(p, &zero)?, eval(p, totals)?))
}

// ---------------------------------------------------------------------------------------------
// Aumann–Shapley
// ---------------------------------------------------------------------------------------------

/// Aumann–Shapley attribution of a general power curve `p` (Aumann & Shapley 1974):
///
/// `φ_i = Σ_r u_ir · I_r`, `I_r = ∫₀¹ ∂_r P(t·X) dt`.
///
/// Each `I_r` is computed once per resource with positive total usage, by adaptive composite
/// Gauss–Legendre quadrature along the ray `t·X` (see [`AsOptions`]) of central finite
/// differences with step `rel_step·X_r` (forward differences where `t·X_r` is within one step
/// of the domain edge `0`, so `p` is never evaluated at negative usage). Because `I_r` is
/// shared, a player with zero usage gets exactly `0` and players with identical usage get
/// identical shares; if `p` is non-decreasing the shares are non-negative. Efficiency
/// (`Σ φ_i = P(X) − P(0)`) holds up to quadrature error, reported in [`Shares::residual`].
///
/// `p` is evaluated only at non-negative points of the box `[0, X]` moved by at most one
/// finite-difference step along one coordinate; typically a few thousand times per resource
/// for a piecewise-linear table, a few hundred for a smooth curve.
///
/// ```
/// use kelvin_attribution::shapley::{AsOptions, aumann_shapley, usage_from_rows};
/// // 60 W idle, convex in CPU, plus a GPU term.
/// let p = |x: &[f64]| 60.0 + 80.0 * x[0] + 40.0 * x[0] * x[0] + 150.0 * x[1];
/// let usage = usage_from_rows(&[vec![0.25, 0.0], vec![0.5, 0.5]])?;
/// let s = aumann_shapley(&p, usage.view(), &AsOptions::default())?;
/// assert!((s.total - (80.0 * 0.75 + 40.0 * 0.5625 + 75.0)).abs() < 1e-9);
/// assert!(s.residual.abs() < 1e-6 * s.total);
/// // CPU: I = 80 + 40·X = 110 per unit.
/// assert!((s.shares[0] - 0.25 * 110.0).abs() < 1e-6);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when `usage` has no players or
/// no resources, a usage is negative, NaN or infinite, an option is out of range, `p`
/// returns a non-finite value, or a finite difference overflows (a total usage too small for
/// the step).
pub fn aumann_shapley(
    p: &dyn Fn(&[f64]) -> f64,
    usage: ArrayView2<f64>,
    opts: &AsOptions,
) -> Result<Shares, AttributionError> {
    opts.validate()?;
    let totals = validate_usage(&usage)?;
    let (p0, px) = endpoints(p, &totals)?;
    let total = px - p0;
    let rule = GaussLegendre::new(opts.nodes);
    let check = GaussLegendre::new(opts.nodes + 1);
    let noise = p0.abs().max(px.abs());
    let mut ray = Ray {
        p,
        totals: &totals,
        point: vec![0.0; totals.len()],
    };
    let mut integrals = vec![0.0; totals.len()];
    for (r, &xr) in totals.iter().enumerate() {
        if xr > 0.0 {
            integrals[r] = ray.integrate(r, (&rule, &check), opts, total.abs() / xr, noise)?;
        }
    }
    let shares = usage
        .rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(&integrals)
                .filter(|(u, _)| **u != 0.0)
                .map(|(u, i)| u * i)
                .sum()
        })
        .collect();
    Ok(Shares::new(shares, total, None))
}

/// Factor on the rule disagreement in the error estimate of a segment: for a single kink or
/// jump anywhere in a segment the disagreement of the two rules with the halves can understate
/// the error of the halves by a factor of up to about 8 (64 nodes; less for fewer).
const ERROR_SAFETY: f64 = 10.0;

/// Gauss–Legendre rule on `[-1, 1]`.
struct GaussLegendre {
    nodes: Vec<f64>,
    weights: Vec<f64>,
    /// Distance from an end of `[-1, 1]` to the nearest node.
    end_gap: f64,
    /// `end_gap` over the distance between the two nodes nearest an end (0 for one node): the
    /// factor of linear extrapolation from those nodes to the end.
    extrapolate: f64,
}

impl GaussLegendre {
    /// Nodes by Newton's method on the Legendre polynomial `P_n`, from the classical
    /// Chebyshev-like initial guess; weights `2 / ((1 − z²) P_n'(z)²)`.
    fn new(n: usize) -> Self {
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        let nf = n as f64;
        for i in 0..n.div_ceil(2) {
            let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (pn, d) = legendre(n, z);
                dp = d;
                let dz = pn / d;
                z -= dz;
                if dz.abs() <= 1e-16 {
                    break;
                }
            }
            let (_, d) = legendre(n, z);
            if d.is_finite() && d != 0.0 {
                dp = d;
            }
            let w = 2.0 / ((1.0 - z * z) * dp * dp);
            nodes[i] = -z;
            nodes[n - 1 - i] = z;
            weights[i] = w;
            weights[n - 1 - i] = w;
        }
        if n % 2 == 1 {
            nodes[n / 2] = 0.0;
        }
        let end_gap = 1.0 - nodes[n - 1];
        let extrapolate = if n > 1 {
            end_gap / (nodes[1] - nodes[0])
        } else {
            0.0
        };
        GaussLegendre {
            nodes,
            weights,
            end_gap,
            extrapolate,
        }
    }
}

/// `(P_n(z), P_n'(z))` by the three-term recurrence.
fn legendre(n: usize, z: f64) -> (f64, f64) {
    let (mut prev, mut cur) = (1.0, z);
    for k in 2..=n {
        let kf = k as f64;
        let next = ((2.0 * kf - 1.0) * z * cur - (kf - 1.0) * prev) / kf;
        prev = cur;
        cur = next;
    }
    let d = n as f64 * (z * cur - prev) / (z * z - 1.0);
    (cur, d)
}

/// The ray `t·X` and a scratch point.
struct Ray<'a> {
    p: &'a dyn Fn(&[f64]) -> f64,
    totals: &'a [f64],
    point: Vec<f64>,
}

/// One segment `[a, b]` of the adaptive quadrature: the integrand at `a`, the midpoint and `b`,
/// the rule on each half, and the error estimate.
struct Segment {
    a: f64,
    b: f64,
    fa: f64,
    fm: f64,
    fb: f64,
    left: f64,
    right: f64,
    err: f64,
}

impl Segment {
    fn value(&self) -> f64 {
        self.left + self.right
    }
}

impl PartialEq for Segment {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Segment {}
impl PartialOrd for Segment {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Segment {
    fn cmp(&self, other: &Self) -> Ordering {
        // Largest error first; ties to the leftmost segment, for determinism.
        self.err
            .total_cmp(&other.err)
            .then_with(|| other.a.total_cmp(&self.a))
    }
}

/// The rule on one interval: its value and the integrand extrapolated to its ends.
struct RuleValue {
    value: f64,
    /// The integrand extrapolated linearly from the first two nodes to the start.
    first: f64,
    /// The integrand extrapolated linearly from the last two nodes to the end.
    last: f64,
}

/// Quadrature of `∂_r P(t·X)` along the ray for one resource `r`.
struct Integrand<'r, 'a> {
    ray: &'r mut Ray<'a>,
    gl: &'r GaussLegendre,
    /// The rule with one node more, for the error estimate.
    check: &'r GaussLegendre,
    r: usize,
    h: f64,
}

impl Integrand<'_, '_> {
    fn at(&mut self, t: f64) -> Result<f64, AttributionError> {
        self.ray.partial(t, self.r, self.h)
    }

    fn rule(&mut self, a: f64, b: f64) -> Result<RuleValue, AttributionError> {
        self.rule_with(self.gl, a, b)
    }

    fn rule_with(
        &mut self,
        gl: &GaussLegendre,
        a: f64,
        b: f64,
    ) -> Result<RuleValue, AttributionError> {
        let (half, mid) = (0.5 * (b - a), 0.5 * (a + b));
        let k = gl.nodes.len();
        let mut s = 0.0;
        // The integrand at the first two and the last two nodes.
        let (mut f0, mut f1, mut g0, mut g1) = (0.0, 0.0, 0.0, 0.0);
        for j in 0..k {
            let f = self.at(mid + half * gl.nodes[j])?;
            if j == 0 {
                f0 = f;
            }
            if j == 1 {
                f1 = f;
            }
            if j + 2 == k {
                g1 = f;
            }
            if j + 1 == k {
                g0 = f;
            }
            s += gl.weights[j] * f;
        }
        Ok(RuleValue {
            value: half * s,
            first: f0 + gl.extrapolate * (f0 - f1),
            last: g0 + gl.extrapolate * (g0 - g1),
        })
    }

    /// Builds a segment whose own rule gave `coarse`.
    ///
    /// Error estimate: [`ERROR_SAFETY`] times the larger disagreement of `left + right` with
    /// the segment's own rule and with the rule of one node more (two rules, because a kink can
    /// sit where one of them happens to agree with the halves), plus, at each end of each half,
    /// the gap between the integrand at the end and its linear extrapolation from the two
    /// nearest nodes, times the distance from the end to the nearest node. Gauss rules have no
    /// node at the ends, so a kink lying between an end and the nearest node is invisible to
    /// every rule; the second term bounds what it can cost, and is only `O(width⁴)` per
    /// segment where the integrand is smooth.
    fn segment(
        &mut self,
        a: f64,
        b: f64,
        fa: f64,
        fb: f64,
        coarse: f64,
    ) -> Result<Segment, AttributionError> {
        let m = 0.5 * (a + b);
        let fm = self.at(m)?;
        let left = self.rule(a, m)?;
        let right = self.rule(m, b)?;
        let gap = 0.5 * (m - a) * self.gl.end_gap;
        let ends = (fa - left.first).abs()
            + (fm - left.last).abs()
            + (fm - right.first).abs()
            + (fb - right.last).abs();
        let fine = left.value + right.value;
        let check = self.rule_with(self.check, a, b)?.value;
        let err = ERROR_SAFETY * (coarse - fine).abs().max((check - fine).abs()) + gap * ends;
        Ok(Segment {
            a,
            b,
            fa,
            fm,
            fb,
            left: left.value,
            right: right.value,
            err,
        })
    }
}

impl Ray<'_> {
    /// `p` at `t·X` with coordinate `r` replaced by `xr`.
    fn at(&mut self, t: f64, r: usize, xr: f64) -> Result<f64, AttributionError> {
        for (x, &tot) in self.point.iter_mut().zip(self.totals) {
            *x = t * tot;
        }
        self.point[r] = xr;
        eval(self.p, &self.point)
    }

    /// `∂_r P(t·X)` by finite differences with step `h`.
    fn partial(&mut self, t: f64, r: usize, h: f64) -> Result<f64, AttributionError> {
        let d = self.difference(t, r, h)?;
        if d.is_finite() {
            Ok(d)
        } else {
            Err(AttributionError::invalid(
                format!("usage[..][{r}]"),
                format!(
                    "finite difference of the power curve is {d} at t = {t} (total usage {} \
                     too small for the step, or the curve too steep)",
                    self.totals[r]
                ),
            ))
        }
    }

    fn difference(&mut self, t: f64, r: usize, h: f64) -> Result<f64, AttributionError> {
        let x = t * self.totals[r];
        if x - h >= 0.0 {
            let (xp, xm) = (x + h, x - h);
            let fp = self.at(t, r, xp)?;
            let fm = self.at(t, r, xm)?;
            Ok((fp - fm) / (xp - xm))
        } else {
            // Forward difference at the domain edge: never evaluates below 0, and stays
            // non-negative for a non-decreasing `p` (a second-order one-sided formula would
            // not). It is used only for `t < rel_step`, so its first-order error is negligible.
            let x1 = x + h;
            let f0 = self.at(t, r, x)?;
            let f1 = self.at(t, r, x1)?;
            Ok((f1 - f0) / (x1 - x))
        }
    }

    /// `I_r = ∫₀¹ ∂_r P(t·X) dt`, adaptively (see [`AsOptions`]). `floor_scale` is a scale of
    /// `I_r` from `v(N)`; `noise` the size of `p`'s values, for the rounding floor of the
    /// finite differences.
    fn integrate(
        &mut self,
        r: usize,
        (gl, check): (&GaussLegendre, &GaussLegendre),
        opts: &AsOptions,
        floor_scale: f64,
        noise: f64,
    ) -> Result<f64, AttributionError> {
        let h = opts.rel_step * self.totals[r];
        let k = opts.segments;
        let mut f = Integrand {
            ray: self,
            gl,
            check,
            r,
            h,
        };
        let mut heap = BinaryHeap::with_capacity(k + opts.max_bisections.min(1 << 16) + 1);
        let mut abs_scale = 0.0;
        let grid = |j: usize| j as f64 / k as f64;
        let mut fa = f.at(0.0)?;
        for j in 0..k {
            let (a, b) = (grid(j), grid(j + 1));
            let fb = f.at(b)?;
            let coarse = f.rule(a, b)?.value;
            let seg = f.segment(a, b, fa, fb, coarse)?;
            abs_scale += seg.left.abs() + seg.right.abs();
            heap.push(seg);
            fa = fb;
        }
        // Finite differences of values of size `noise` carry rounding error of about
        // `ε·noise/h` each; refining below that would only chase rounding.
        let rounding = 16.0 * f64::EPSILON * noise / h;
        let tol = (opts.rel_tol * abs_scale.max(floor_scale)).max(rounding);
        let mut frozen_value = 0.0;
        let mut frozen_err = 0.0;
        let mut err: f64 = heap.iter().map(|s| s.err).sum();
        let mut bisections = 0;
        while bisections < opts.max_bisections && err + frozen_err > tol {
            let Some(seg) = heap.pop() else { break };
            let m = 0.5 * (seg.a + seg.b);
            if !(seg.a < m && m < seg.b) || seg.b - seg.a < 1e-14 {
                // Too narrow to split: keep it as it is.
                frozen_value += seg.value();
                frozen_err += seg.err;
                err -= seg.err;
                continue;
            }
            let left = f.segment(seg.a, m, seg.fa, seg.fm, seg.left)?;
            let right = f.segment(m, seg.b, seg.fm, seg.fb, seg.right)?;
            err += left.err + right.err - seg.err;
            heap.push(left);
            heap.push(right);
            bisections += 1;
            if err + frozen_err <= tol {
                // Guard the running sum against drift before stopping.
                err = heap.iter().map(|s| s.err).sum();
            }
        }
        let mut segs = heap.into_vec();
        segs.sort_by(|x, y| x.a.total_cmp(&y.a));
        Ok(frozen_value + segs.iter().map(Segment::value).sum::<f64>())
    }
}

/// Aumann–Shapley attribution of a separable power curve `P(x) = Σ_r P_r(x_r)`, in closed
/// form: `φ_i = Σ_r (u_ir / X_r)·(P_r(X_r) − P_r(0))` (`0` for a resource nobody uses).
///
/// For separable curves this is exactly what [`aumann_shapley`] approximates; per resource it
/// is the proportional split of that resource's dynamic energy. `residual` is `0` up to
/// rounding.
///
/// ```
/// use kelvin_attribution::shapley::{aumann_shapley_separable, usage_from_rows};
/// let cpu = |x: f64| 60.0 + 100.0 * x.sqrt();
/// let gpu = |x: f64| 40.0 + 250.0 * x;
/// let usage = usage_from_rows(&[vec![0.25, 0.0], vec![0.75, 0.4]])?;
/// let s = aumann_shapley_separable(&[&cpu, &gpu], usage.view())?;
/// assert!((s.shares[0] - 25.0).abs() < 1e-12);
/// assert!((s.shares[1] - (75.0 + 100.0)).abs() < 1e-12);
/// assert!((s.total - 200.0).abs() < 1e-12);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`InvalidInput`](crate::AttributionErrorKind::InvalidInput) when `usage` has no players or
/// no resources, a usage is negative, NaN or infinite, the number of curves differs from the
/// number of resources, or a curve returns a non-finite value at `0` or `X_r`.
pub fn aumann_shapley_separable(
    curves: &[&dyn Fn(f64) -> f64],
    usage: ArrayView2<f64>,
) -> Result<Shares, AttributionError> {
    let totals = validate_usage(&usage)?;
    if curves.len() != totals.len() {
        return Err(AttributionError::invalid(
            "curves",
            format!("{} curves for {} resources", curves.len(), totals.len()),
        ));
    }
    let mut total = 0.0;
    let mut price = vec![0.0; totals.len()];
    for (r, (curve, &xr)) in curves.iter().zip(&totals).enumerate() {
        let (a, b) = (curve(0.0), curve(xr));
        if !(a.is_finite() && b.is_finite()) {
            return Err(AttributionError::invalid(
                format!("curves[{r}]"),
                format!("non-finite value: P(0) = {a}, P({xr}) = {b}"),
            ));
        }
        let dynamic = b - a;
        total += dynamic;
        if xr > 0.0 {
            price[r] = dynamic / xr;
        }
    }
    let shares = usage
        .rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .zip(&price)
                .filter(|(u, _)| **u != 0.0)
                .map(|(u, c)| u * c)
                .sum()
        })
        .collect();
    Ok(Shares::new(shares, total, None))
}

// ---------------------------------------------------------------------------------------------
// Shapley
// ---------------------------------------------------------------------------------------------

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
/// [`MAX_EXACT_PLAYERS`] players (use [`shapley_sampled`]), `usage` has no players or no
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
