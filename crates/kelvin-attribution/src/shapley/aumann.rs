//! The Aumann–Shapley methods: [`aumann_shapley`] by adaptive Gauss–Legendre quadrature along
//! the ray for any power function, and [`aumann_shapley_separable`] in closed form.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::ArrayView2;

use super::{AsOptions, Shares, endpoints, eval, validate_usage};
use crate::AttributionError;

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
