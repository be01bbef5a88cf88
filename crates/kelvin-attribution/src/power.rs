//! Power models: how a machine's power depends on what it is doing.
//!
//! - [`ResourceModel`]: `P = idle + Σ_r coef_r · usage_r`, fitted by non-negative least
//!   squares ([`crate::nnls`]) so no resource is ever credited with negative watts;
//! - [`SpecCurve`]: a SPECpower_ssj2008-style curve (watts at 0 %, 10 %, …, 100 % load),
//!   either published or fitted as a monotone piecewise-linear function of utilization;
//! - [`calibrate_idle`]: the idle floor per interval, calibrated from quiet intervals (a robust
//!   local median, so it may move up and down with temperature, firmware or fans, and is not
//!   dragged down by a single low reading the way the minimum observed power is);
//! - [`OnlineModel`]: the resource model recalibrated online by recursive least squares with
//!   exponential forgetting and a Page–Hinkley drift detector on its residuals.

use std::collections::VecDeque;
use std::fmt;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::Serialize;

use crate::AttributionError;
use crate::nnls::nnls;

/// Consistency factor turning a median absolute deviation into a Gaussian standard deviation.
const MAD_TO_SIGMA: f64 = 1.4826;

/// A resource whose use draws power. Usage of every resource is normalized so that 1.0 means
/// the resource is fully used (all cores busy, memory bandwidth saturated, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// CPU time (utilization of the allocatable cores).
    Cpu,
    /// Memory traffic or occupancy.
    Memory,
    /// GPU streaming-multiprocessor activity.
    GpuSm,
    /// GPU memory-controller activity.
    GpuMemory,
    /// Storage and network I/O.
    Io,
}

impl Resource {
    /// Every resource, in declaration order.
    pub const ALL: [Resource; 5] = [
        Resource::Cpu,
        Resource::Memory,
        Resource::GpuSm,
        Resource::GpuMemory,
        Resource::Io,
    ];

    /// The stable snake-case name: `cpu`, `memory`, `gpu_sm`, `gpu_memory`, `io`.
    pub fn name(&self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::GpuSm => "gpu_sm",
            Resource::GpuMemory => "gpu_memory",
            Resource::Io => "io",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A linear power model `P = idle_w + Σ_r coef_w[r] · usage[r]`, with usage normalized so
/// that 1.0 is the resource fully used; every coefficient and the idle power are ≥ 0.
///
/// ```
/// use kelvin_attribution::power::{Resource, ResourceModel};
/// use ndarray::{Array1, Array2};
///
/// // 60 W idle, 120 W more with every core busy, 20 W more with memory saturated.
/// let n = 50;
/// let usage = Array2::from_shape_fn((n, 2), |(i, r)| {
///     let t = i as f64;
///     if r == 0 { (t * 0.37).sin().abs() } else { (t * 0.11).cos().abs() }
/// });
/// let power = Array1::from_shape_fn(n, |i| 60.0 + 120.0 * usage[[i, 0]] + 20.0 * usage[[i, 1]]);
/// let m = ResourceModel::fit(&[Resource::Cpu, Resource::Memory], usage.view(), power.view())?;
/// assert!((m.idle_w - 60.0).abs() < 1e-6 && (m.coef_w[0] - 120.0).abs() < 1e-6);
/// assert!((m.power_w(&[0.5, 0.0]) - 120.0).abs() < 1e-6);
/// assert!((m.dynamic_w(&[0.5, 1.0]) - 80.0).abs() < 1e-6);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceModel {
    /// The resource of each coefficient (a resource may appear more than once, e.g. one
    /// column per workload).
    pub resources: Vec<Resource>,
    /// Power with nothing in use, watts (0 for [`ResourceModel::fit_dynamic`]).
    pub idle_w: f64,
    /// Watts at full use of each resource, same order as `resources`.
    pub coef_w: Vec<f64>,
    /// Root-mean-square residual over the samples used, watts.
    pub rmse_w: f64,
    /// Coefficient of determination over the samples used (1 for a perfect fit, 0 when the
    /// model explains nothing beyond the mean; can be negative for a constrained fit).
    pub r2: f64,
    /// Samples used.
    pub samples: usize,
    /// Samples left out because a value was NaN or infinite.
    pub skipped: usize,
}

impl ResourceModel {
    /// Fits idle power and one coefficient per resource by non-negative least squares
    /// (`idle_w ≥ 0`, every `coef_w ≥ 0`). `usage` is `samples × resources`; rows with any
    /// non-finite usage or power are skipped and counted in `skipped`.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when `usage` does not have one column
    /// per resource and one row per power sample, when fewer than `resources + 2` rows are
    /// usable, or when the solver fails.
    pub fn fit(
        resources: &[Resource],
        usage: ArrayView2<'_, f64>,
        power_w: ArrayView1<'_, f64>,
    ) -> Result<ResourceModel, AttributionError> {
        fit_linear("resource model", resources, usage, power_w, true)
    }

    /// Fits the dynamic coefficients only, with the idle power known (e.g. from
    /// [`calibrate_idle`]): `dynamic_w` is power minus idle, and the result has `idle_w = 0`.
    /// Same skipping rules and requirements as [`ResourceModel::fit`].
    ///
    /// # Errors
    /// As [`ResourceModel::fit`].
    pub fn fit_dynamic(
        resources: &[Resource],
        usage: ArrayView2<'_, f64>,
        dynamic_w: ArrayView1<'_, f64>,
    ) -> Result<ResourceModel, AttributionError> {
        fit_linear("dynamic resource model", resources, usage, dynamic_w, false)
    }

    /// Predicted power, watts: `idle_w + dynamic_w(usage)`.
    pub fn power_w(&self, usage: &[f64]) -> f64 {
        self.idle_w + self.dynamic_w(usage)
    }

    /// Predicted power above idle, watts: `Σ coef_w[r] · usage[r]` (missing trailing usage
    /// entries count as 0, extra ones are ignored).
    pub fn dynamic_w(&self, usage: &[f64]) -> f64 {
        self.coef_w.iter().zip(usage).map(|(c, u)| c * u).sum()
    }
}

fn fit_linear(
    place: &str,
    resources: &[Resource],
    usage: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    intercept: bool,
) -> Result<ResourceModel, AttributionError> {
    let (n, r) = usage.dim();
    if r != resources.len() {
        return Err(AttributionError::invalid(
            place,
            format!("usage has {r} columns for {} resources", resources.len()),
        ));
    }
    if y.len() != n {
        return Err(AttributionError::invalid(
            place,
            format!("usage has {n} rows for {} power samples", y.len()),
        ));
    }
    let rows: Vec<usize> = (0..n)
        .filter(|&i| y[i].is_finite() && usage.row(i).iter().all(|v| v.is_finite()))
        .collect();
    let need = r + 2;
    if rows.len() < need {
        return Err(AttributionError::invalid(
            place,
            format!(
                "{} usable samples ({} skipped), need at least {need}",
                rows.len(),
                n - rows.len()
            ),
        ));
    }
    let k0 = usize::from(intercept);
    let mut a = Array2::zeros((rows.len(), k0 + r));
    let mut b = Array1::zeros(rows.len());
    for (k, &i) in rows.iter().enumerate() {
        if intercept {
            a[[k, 0]] = 1.0;
        }
        for j in 0..r {
            a[[k, k0 + j]] = usage[[i, j]];
        }
        b[k] = y[i];
    }
    let sol = nnls(a.view(), b.view()).map_err(|e| AttributionError::invalid(place, e.reason()))?;
    let idle_w = if intercept { sol.x[0] } else { 0.0 };
    let coef_w = sol.x.iter().skip(k0).copied().collect();
    let m = rows.len() as f64;
    let mean = b.sum() / m;
    let sst: f64 = b.iter().map(|v| (v - mean) * (v - mean)).sum();
    let sse = sol.residual_norm * sol.residual_norm;
    Ok(ResourceModel {
        resources: resources.to_vec(),
        idle_w,
        coef_w,
        rmse_w: (sse / m).sqrt(),
        r2: r_squared(sse, sst),
        samples: rows.len(),
        skipped: n - rows.len(),
    })
}

fn r_squared(sse: f64, sst: f64) -> f64 {
    if sst > 0.0 {
        1.0 - sse / sst
    } else if sse <= 1e-24 {
        1.0
    } else {
        0.0
    }
}

/// A SPECpower_ssj2008-style load curve: watts at 0 % (active idle), 10 %, …, 100 % load,
/// piecewise linear in between and clamped outside `[0, 1]`.
///
/// ```
/// use kelvin_attribution::power::SpecCurve;
/// let c = SpecCurve::try_new([60.0, 84.0, 95.0, 104.0, 113.0, 122.0, 132.0, 143.0, 156.0, 171.0, 190.0])?;
/// assert_eq!(c.power_w(0.45), 117.5);
/// assert_eq!(c.power_w(2.0), 190.0);
/// assert!((c.slope_w(0.45) - 90.0).abs() < 1e-9);
///
/// // Fitted back from samples of the curve:
/// let u: Vec<f64> = (0..=200).map(|i| i as f64 / 200.0).collect();
/// let p: Vec<f64> = u.iter().map(|&x| c.power_w(x)).collect();
/// let fit = SpecCurve::fit(&u, &p)?;
/// assert!(fit.watts.iter().zip(&c.watts).all(|(a, b)| (a - b).abs() < 1e-6));
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpecCurve {
    /// Watts at load 0.0, 0.1, …, 1.0.
    pub watts: [f64; 11],
}

/// Segment index `0..=9` and the position inside it, `[0, 1]`, of utilization `u` (clamped to
/// `[0, 1]`; `u = 1` is the end of segment 9). Values within 1e-9 below a knot snap to it,
/// so `0.7` (stored as 0.6999…) starts segment 7.
fn locate(u: f64) -> (usize, f64) {
    let s = u.clamp(0.0, 1.0) * 10.0;
    let mut k = s.floor();
    if s - k > 1.0 - 1e-9 {
        k += 1.0;
    }
    let k = (k.max(0.0) as usize).min(9);
    (k, (s - k as f64).clamp(0.0, 1.0))
}

impl SpecCurve {
    /// A curve from its 11 points.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when a value is NaN, infinite or negative.
    pub fn try_new(watts: [f64; 11]) -> Result<SpecCurve, AttributionError> {
        if let Some((k, w)) = watts
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(AttributionError::invalid(
                "spec curve",
                format!("watts at {} % load is {w}", 10 * k),
            ));
        }
        Ok(SpecCurve { watts })
    }

    /// Watts at utilization `u` (clamped to `[0, 1]`); NaN for a NaN `u`.
    pub fn power_w(&self, u: f64) -> f64 {
        if u.is_nan() {
            return f64::NAN;
        }
        let (k, f) = locate(u);
        self.watts[k] + f * (self.watts[k + 1] - self.watts[k])
    }

    /// Watts at 0 % load (active idle).
    pub fn idle_w(&self) -> f64 {
        self.watts[0]
    }

    /// The largest of the 11 points (the 100 % point for a non-decreasing curve).
    pub fn max_w(&self) -> f64 {
        self.watts.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// `dP/du` in watts per unit utilization at `u`: the right derivative, i.e. the slope of
    /// the segment starting at `u`, with `u` clamped to `[0, 1]` and `u = 1` taking the last
    /// segment's slope. NaN for a NaN `u`.
    pub fn slope_w(&self, u: f64) -> f64 {
        if u.is_nan() {
            return f64::NAN;
        }
        let (k, _) = locate(u);
        (self.watts[k + 1] - self.watts[k]) * 10.0
    }

    /// Fits a non-decreasing piecewise-linear curve with knots at 0, 0.1, …, 1 to
    /// `(utilization, watts)` samples.
    ///
    /// The model is `P(u) = idle + Σ_k d_k · ramp_k(u)` with the hinge basis
    /// `ramp_k(u) = clamp(10u − k, 0, 1)`, so `d_k` is the increment of segment `k` in watts;
    /// it is fitted by non-negative least squares ([`crate::nnls`]), which makes `idle ≥ 0` and
    /// every increment `≥ 0` (a monotone curve). Samples with a non-finite value are ignored and
    /// utilization is clamped to `[0, 1]`.
    ///
    /// A segment with no sample in it (a sample at a knot belongs to the segment it starts,
    /// `u = 1` to the last one) has no slope of its own: it takes the slope of the nearest
    /// segment that has samples (the lower one on a tie), by sharing that segment's
    /// coefficient. So a host never seen above 60 % is extrapolated with the slope of its
    /// 50–60 % segment, one never seen below 20 % with that of its 20–30 % segment.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when the slices differ in length, fewer
    /// than 3 samples are usable, all usable samples have the same utilization (no slope can
    /// be identified), or the solver fails.
    pub fn fit(u: &[f64], power_w: &[f64]) -> Result<SpecCurve, AttributionError> {
        let none = Array2::<f64>::zeros((u.len(), 0));
        Ok(SpecCurve::fit_separable(u, none.view(), power_w)?.0)
    }

    /// Fits a separable multi-resource model: this curve of CPU utilization `u` plus a
    /// linear term per extra resource, `P = curve(u) + Σ_j β_j · extra[·, j]` with every
    /// β_j ≥ 0 (watts at full use of resource j), jointly by NNLS. Rows with a non-finite
    /// value are skipped. Returns the curve and the β_j.
    ///
    /// ```
    /// use kelvin_attribution::power::SpecCurve;
    /// let truth = SpecCurve::try_new([60.0, 84.0, 95.0, 104.0, 113.0, 122.0, 132.0, 143.0, 156.0, 171.0, 190.0])?;
    /// let (mut u, mut mem, mut p) = (vec![], vec![], vec![]);
    /// for i in 0..400 {
    ///     let (x, m) = ((i % 101) as f64 / 100.0, (i % 7) as f64 / 6.0);
    ///     u.push(x);
    ///     mem.push(m);
    ///     p.push(truth.power_w(x) + 25.0 * m);
    /// }
    /// let extra = ndarray::Array2::from_shape_vec((400, 1), mem).unwrap();
    /// let (curve, beta) = SpecCurve::fit_separable(&u, extra.view(), &p)?;
    /// assert!((beta[0] - 25.0).abs() < 1e-6 && (curve.power_w(0.5) - 122.0).abs() < 1e-6);
    /// # Ok::<(), kelvin_attribution::AttributionError>(())
    /// ```
    ///
    /// # Errors
    /// As [`SpecCurve::fit`], and when `extra` does not have one row per sample.
    pub fn fit_separable(
        u: &[f64],
        extra: ArrayView2<'_, f64>,
        power_w: &[f64],
    ) -> Result<(SpecCurve, Vec<f64>), AttributionError> {
        const PLACE: &str = "spec curve fit";
        if u.len() != power_w.len() || extra.nrows() != u.len() {
            return Err(AttributionError::invalid(
                PLACE,
                format!(
                    "{} utilization samples, {} extra rows, {} power samples",
                    u.len(),
                    extra.nrows(),
                    power_w.len()
                ),
            ));
        }
        let m = extra.ncols();
        let pts: Vec<(f64, f64, usize)> = u
            .iter()
            .zip(power_w)
            .enumerate()
            .filter(|(i, (x, p))| {
                x.is_finite() && p.is_finite() && extra.row(*i).iter().all(|v| v.is_finite())
            })
            .map(|(i, (x, p))| (x.clamp(0.0, 1.0), *p, i))
            .collect();
        if pts.len() < 3 {
            return Err(AttributionError::invalid(
                PLACE,
                format!("{} usable samples, need at least 3", pts.len()),
            ));
        }
        let lo = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let hi = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        if hi - lo <= 1e-9 {
            return Err(AttributionError::invalid(
                PLACE,
                "every sample has the same utilization",
            ));
        }
        let mut count = [0usize; 10];
        for p in &pts {
            count[locate(p.0).0] += 1;
        }
        // owner[k]: the populated segment whose slope segment k uses.
        let populated: Vec<usize> = (0..10).filter(|&k| count[k] > 0).collect();
        let mut owner = [0usize; 10];
        for (k, o) in owner.iter_mut().enumerate() {
            *o = populated
                .iter()
                .copied()
                .min_by_key(|&j| (j.abs_diff(k), j))
                .unwrap_or(k);
        }
        let groups: Vec<usize> = populated.clone();
        let g0 = 1 + groups.len();
        let mut a = Array2::zeros((pts.len(), g0 + m));
        let mut b = Array1::zeros(pts.len());
        for (i, &(x, p, row)) in pts.iter().enumerate() {
            a[[i, 0]] = 1.0;
            for (k, &o) in owner.iter().enumerate() {
                let g = groups.iter().position(|&j| j == o).unwrap_or(0);
                a[[i, 1 + g]] += (10.0 * x - k as f64).clamp(0.0, 1.0);
            }
            for j in 0..m {
                a[[i, g0 + j]] = extra[[row, j]];
            }
            b[i] = p;
        }
        let sol =
            nnls(a.view(), b.view()).map_err(|e| AttributionError::invalid(PLACE, e.reason()))?;
        let mut watts = [0.0; 11];
        watts[0] = sol.x[0];
        for k in 0..10 {
            let g = groups.iter().position(|&j| j == owner[k]).unwrap_or(0);
            watts[k + 1] = watts[k] + sol.x[1 + g];
        }
        let beta = (0..m).map(|j| sol.x[g0 + j]).collect();
        Ok((SpecCurve::try_new(watts)?, beta))
    }
}

/// Options of [`calibrate_idle`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IdleOptions {
    /// Activity at or below this counts as quiet; default 0.02 (2 % of one full resource).
    pub quiet_activity: f64,
    /// Half-width, in intervals, of the window of the local estimate; default 60.
    pub window: usize,
    /// Quiet intervals a window needs for a local estimate; default 3.
    pub min_quiet: usize,
}

impl Default for IdleOptions {
    fn default() -> Self {
        IdleOptions {
            quiet_activity: 0.02,
            window: 60,
            min_quiet: 3,
        }
    }
}

impl IdleOptions {
    /// Sets the quiet-activity threshold.
    pub fn with_quiet_activity(mut self, a: f64) -> Self {
        self.quiet_activity = a;
        self
    }
    /// Sets the half-width of the local window, intervals.
    pub fn with_window(mut self, w: usize) -> Self {
        self.window = w;
        self
    }
    /// Sets the number of quiet intervals a local estimate needs (at least 1 is used).
    pub fn with_min_quiet(mut self, n: usize) -> Self {
        self.min_quiet = n;
        self
    }
}

/// How an [`IdleFloor`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IdleMethod {
    /// Robust local medians of quiet intervals.
    Quiet,
    /// Too few quiet intervals: the intercept of a power-against-activity model.
    ModelIntercept,
    /// Given, not calibrated.
    Fixed,
}

/// The idle floor of a meter per interval (see [`calibrate_idle`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleFloor {
    /// Floor per interval, watts; finite everywhere, also where power was not measured.
    pub floor_w: Vec<f64>,
    /// How the floor was obtained.
    pub method: IdleMethod,
    /// Quiet intervals found.
    pub quiet_intervals: usize,
    /// Robust spread (MAD · 1.4826) of quiet power around the floor, watts; for
    /// [`IdleMethod::ModelIntercept`], of the model residuals.
    pub sigma_w: f64,
}

/// Calibrates the idle floor per interval from `power_w` (watts, NaN = unmeasured) and
/// `activity` (total normalized usage, e.g. Σ CPU utilization; NaN = unknown).
///
/// An interval is quiet when its power is measured and its activity is at most
/// [`IdleOptions::quiet_activity`]. The floor at interval `i` is the median power of the quiet
/// intervals within `±window` of `i` when there are at least `min_quiet` of them; elsewhere it
/// is interpolated linearly between the nearest such intervals (constant beyond the first and
/// the last). It is therefore not the minimum observed power: it follows the floor up and down
/// and one low reading does not move it. If quiet intervals exist but no window holds
/// `min_quiet` of them, the median of all quiet intervals is used everywhere.
///
/// With fewer than `min_quiet` quiet intervals in all, a [`ResourceModel`] with one resource
/// is fitted to `(activity, power)` and its intercept is the floor everywhere
/// ([`IdleMethod::ModelIntercept`]).
///
/// ```
/// use kelvin_attribution::power::{IdleMethod, IdleOptions, calibrate_idle};
/// // Quiet at 70 W, busy at 150 W, one unmeasured interval.
/// let power = [70.0, 150.0, 71.0, 150.0, f64::NAN, 69.0, 150.0, 70.0];
/// let activity = [0.0, 0.8, 0.01, 0.8, 0.0, 0.0, 0.8, 0.0];
/// let f = calibrate_idle(&power, &activity, &IdleOptions::default())?;
/// assert_eq!(f.method, IdleMethod::Quiet);
/// assert_eq!(f.quiet_intervals, 4);
/// assert!(f.floor_w.iter().all(|w| *w == 70.0));
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] when the slices are empty or differ in
/// length, a power is infinite or negative, an activity is infinite or negative, the quiet
/// threshold is not finite, or there are too few quiet intervals and the model fallback fails
/// too.
pub fn calibrate_idle(
    power_w: &[f64],
    activity: &[f64],
    opts: &IdleOptions,
) -> Result<IdleFloor, AttributionError> {
    const PLACE: &str = "idle floor";
    let n = power_w.len();
    if activity.len() != n {
        return Err(AttributionError::invalid(
            PLACE,
            format!("{n} power samples for {} activity samples", activity.len()),
        ));
    }
    if n == 0 {
        return Err(AttributionError::invalid(PLACE, "no intervals"));
    }
    if !opts.quiet_activity.is_finite() {
        return Err(AttributionError::invalid(
            PLACE,
            format!("quiet activity threshold is {}", opts.quiet_activity),
        ));
    }
    if let Some((i, p)) = power_w
        .iter()
        .enumerate()
        .find(|(_, p)| p.is_infinite() || **p < 0.0)
    {
        return Err(AttributionError::invalid(
            format!("{PLACE}, interval {i}"),
            format!("power {p} W is negative or infinite"),
        ));
    }
    if let Some((i, a)) = activity
        .iter()
        .enumerate()
        .find(|(_, a)| a.is_infinite() || **a < 0.0)
    {
        return Err(AttributionError::invalid(
            format!("{PLACE}, interval {i}"),
            format!("activity {a} is negative or infinite"),
        ));
    }
    let min_quiet = opts.min_quiet.max(1);
    let quiet: Vec<usize> = (0..n)
        .filter(|&i| !power_w[i].is_nan() && activity[i] <= opts.quiet_activity)
        .collect();
    if quiet.len() < min_quiet {
        return idle_from_model(power_w, activity, quiet.len(), min_quiet);
    }

    // Sliding window over the quiet intervals, kept sorted for the median.
    let w = opts.window;
    let mut local: Vec<Option<f64>> = vec![None; n];
    let mut win: Vec<f64> = Vec::with_capacity(quiet.len().min(2 * w + 1));
    let (mut lo, mut hi) = (0, 0);
    for (i, slot) in local.iter_mut().enumerate() {
        while hi < quiet.len() && quiet[hi] <= i.saturating_add(w) {
            let v = power_w[quiet[hi]];
            let at = win.partition_point(|x| x.total_cmp(&v).is_lt());
            win.insert(at, v);
            hi += 1;
        }
        while lo < hi && quiet[lo].saturating_add(w) < i {
            let v = power_w[quiet[lo]];
            let at = win.partition_point(|x| x.total_cmp(&v).is_lt());
            win.remove(at);
            lo += 1;
        }
        if win.len() >= min_quiet {
            *slot = Some(median_sorted(&win));
        }
    }
    let floor_w = if local.iter().any(Option::is_some) {
        interpolate_gaps(&local)
    } else {
        let mut all: Vec<f64> = quiet.iter().map(|&i| power_w[i]).collect();
        all.sort_by(f64::total_cmp);
        vec![median_sorted(&all); n]
    };
    let mut dev: Vec<f64> = quiet
        .iter()
        .map(|&i| (power_w[i] - floor_w[i]).abs())
        .collect();
    dev.sort_by(f64::total_cmp);
    Ok(IdleFloor {
        sigma_w: MAD_TO_SIGMA * median_sorted(&dev),
        floor_w,
        method: IdleMethod::Quiet,
        quiet_intervals: quiet.len(),
    })
}

fn idle_from_model(
    power_w: &[f64],
    activity: &[f64],
    quiet: usize,
    min_quiet: usize,
) -> Result<IdleFloor, AttributionError> {
    let n = power_w.len();
    let usage = Array2::from_shape_fn((n, 1), |(i, _)| activity[i]);
    let power = ArrayView1::from(power_w);
    let m = ResourceModel::fit(&[Resource::Cpu], usage.view(), power).map_err(|e| {
        AttributionError::invalid(
            "idle floor",
            format!(
                "{quiet} quiet intervals (need {min_quiet}) and the model fallback failed: {}",
                e.reason()
            ),
        )
    })?;
    let mut dev: Vec<f64> = (0..n)
        .filter(|&i| power_w[i].is_finite() && activity[i].is_finite())
        .map(|i| (power_w[i] - m.power_w(&[activity[i]])).abs())
        .collect();
    dev.sort_by(f64::total_cmp);
    Ok(IdleFloor {
        floor_w: vec![m.idle_w; n],
        method: IdleMethod::ModelIntercept,
        quiet_intervals: quiet,
        sigma_w: MAD_TO_SIGMA * median_sorted(&dev),
    })
}

/// Median of a sorted slice; 0 for an empty one.
fn median_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Fills `None` entries by linear interpolation between the nearest `Some` entries, constant
/// beyond the ends. At least one entry must be `Some`.
fn interpolate_gaps(v: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_some()).collect();
    let val = |i: usize| v[i].unwrap_or(0.0);
    let mut out = Vec::with_capacity(v.len());
    let mut next = 0; // index into `known` of the first known position ≥ i
    for i in 0..v.len() {
        while next < known.len() && known[next] < i {
            next += 1;
        }
        let x = match (next.checked_sub(1).map(|k| known[k]), known.get(next)) {
            (_, Some(&r)) if r == i => val(i),
            (Some(l), Some(&r)) => {
                let t = (i - l) as f64 / (r - l) as f64;
                val(l) + t * (val(r) - val(l))
            }
            (Some(l), None) => val(l),
            (None, Some(&r)) => val(r),
            (None, None) => 0.0,
        };
        out.push(x);
    }
    out
}

/// A change in the level of an [`OnlineModel`]'s residuals, found by the Page–Hinkley test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DriftEvent {
    /// The update (0-based, counting accepted updates) at which the drift was declared.
    pub sample: u64,
    /// Estimated first update of the change: among the updates from 16 before the test
    /// statistic's extremum on, the one from which the residuals have the largest
    /// `(Σ residual)² / count` in the detected direction (the likelihood-ratio change point
    /// for a shift of unknown size from a zero mean, after Hinkley 1971).
    pub onset: u64,
    /// Signed estimated shift of the mean residual (measured − predicted) since `onset`,
    /// watts: positive when the machine draws more than the model predicts.
    pub shift_w: f64,
}

/// Two-sided Page–Hinkley test (Page 1954; Hinkley 1971) on standardized residuals.
#[derive(Debug, Clone)]
struct PageHinkley {
    n: u64,
    mean: f64,
    up: f64,
    up_min: f64,
    up_onset: u64,
    down: f64,
    down_max: f64,
    down_onset: u64,
}

impl PageHinkley {
    fn new() -> Self {
        PageHinkley {
            n: 0,
            mean: 0.0,
            up: 0.0,
            up_min: 0.0,
            up_onset: 0,
            down: 0.0,
            down_max: 0.0,
            down_onset: 0,
        }
    }

    /// Feeds standardized residual `z` of update `sample`; on detection returns the direction
    /// (+1 up, −1 down) and the update after the statistic's extremum.
    fn push(&mut self, z: f64, sample: u64, delta: f64, threshold: f64) -> Option<(f64, u64)> {
        self.n += 1;
        self.mean += (z - self.mean) / self.n as f64;
        self.up += z - self.mean - delta;
        if self.up < self.up_min {
            self.up_min = self.up;
            self.up_onset = sample + 1;
        }
        self.down += z - self.mean + delta;
        if self.down > self.down_max {
            self.down_max = self.down;
            self.down_onset = sample + 1;
        }
        if self.up - self.up_min > threshold {
            Some((1.0, self.up_onset))
        } else if self.down_max - self.down > threshold {
            Some((-1.0, self.down_onset))
        } else {
            None
        }
    }
}

/// Refines a detected change: over the candidate onsets from `hint − 16` to the last residual,
/// the one maximising `S² / len` (S = sum of the residuals from it on, with the sign of the
/// detected direction) — the likelihood-ratio estimate of a mean shift from a zero mean.
/// Returns `(onset, mean residual from onset)`.
fn refine_change(tail: &VecDeque<(u64, f64)>, direction: f64, hint: u64) -> Option<(u64, f64)> {
    let lo = hint.saturating_sub(16);
    let mut sum = 0.0;
    let mut best: Option<(f64, u64, f64)> = None;
    for (len, &(sample, e)) in tail.iter().rev().enumerate() {
        if sample < lo {
            break;
        }
        sum += e;
        let len = (len + 1) as f64;
        if sum * direction > 0.0 {
            let score = sum * sum / len;
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, sample, sum / len));
            }
        }
    }
    best.map(|(_, onset, shift)| (onset, shift))
}

/// Residuals kept for [`refine_change`].
const TAIL: usize = 4096;

/// Initial covariance scale of a cold start and after a drift (a diffuse prior).
const P_RESET: f64 = 1e4;
/// Initial covariance scale of a warm start (a prior worth a few dozen samples).
const P_WARM: f64 = 0.1;
/// Drift-detector allowance, in residual standard deviations.
const PH_DELTA: f64 = 0.5;
/// Drift-detector threshold, in residual standard deviations.
const PH_THRESHOLD: f64 = 25.0;
/// Standardized residuals are clipped to ±this before the drift test, so one wild reading
/// cannot declare a drift on its own (it takes at least four).
const PH_CLIP: f64 = 8.0;
/// Weight of a new squared residual in the running residual scale.
const SCALE_RATE: f64 = 0.01;

/// A [`ResourceModel`] recalibrated online.
///
/// Each [`OnlineModel::update`] runs one step of recursive least squares with exponential
/// forgetting on `[1, usage…]` (so old samples weigh `forgetting^age`), then projects the
/// coefficients onto `≥ 0` in the metric of the RLS information matrix (a small non-negative
/// least-squares problem, so coefficients correlated with one held at 0 move with it; plain
/// clipping would leave the state biased for hundreds of updates after a noisy start). The
/// covariance is kept symmetric and its trace bounded, so long stretches of constant usage
/// cannot wind it up.
///
/// The a-priori residual of every update (measured − predicted before the update) is
/// standardized by a running residual scale, clipped to ±8 σ (so a single wild reading cannot
/// declare a drift) and fed to a two-sided Page–Hinkley test (allowance 0.5 σ, threshold
/// 25 σ; a shift of 8 σ or more is declared within four samples, one of 3 σ in about 12, one
/// of 2 σ in about 20). The shift and its onset are then estimated from the residuals
/// themselves (see [`DriftEvent::onset`]). The scale is first estimated as MAD · 1.4826 of the
/// residuals of a warm-up (the last half of `max(100, 20·(resources + 1))` updates, during
/// which no drift is reported), then tracked by an exponentially weighted mean of squared
/// residuals (clipped at 4 σ, weight 0.01). On drift the covariance is reset to a diffuse prior
/// so the model re-learns quickly, the estimated shift is added to the idle power, the detector
/// restarts with a new warm-up, and a [`DriftEvent`] is returned.
///
/// Limits: a shift below about 2 σ may be absorbed by the forgetting before it is declared
/// when `forgetting` is small (memory under ~100 updates); a second drift within the warm-up
/// after a first one is not reported.
///
/// ```
/// use kelvin_attribution::power::{OnlineModel, Resource};
/// let mut m = OnlineModel::new(&[Resource::Cpu], 0.995)?;
/// let mut drift = None;
/// for i in 0..2000 {
///     let u = (i as f64 * 0.61).sin().abs();
///     let noise = 0.5 * (i as f64 * 12.9898).sin();
///     let idle = if i < 1000 { 70.0 } else { 85.0 };
///     if let Some(d) = m.update(&[u], idle + 100.0 * u + noise)? {
///         drift.get_or_insert(d);
///     }
/// }
/// let d = drift.expect("the 15 W step is found");
/// assert!(d.sample >= 1000 && d.sample < 1010 && (d.shift_w - 15.0).abs() < 2.0);
/// let now = m.model();
/// assert!((now.idle_w - 85.0).abs() < 1.0 && (now.coef_w[0] - 100.0).abs() < 2.0);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OnlineModel {
    resources: Vec<Resource>,
    forgetting: f64,
    theta: Vec<f64>,
    /// Row-major `(resources + 1)²` covariance.
    p: Vec<f64>,
    samples: u64,
    /// Recent `(a-priori residual, measured power)` pairs for snapshots.
    recent: VecDeque<(f64, f64)>,
    recent_cap: usize,
    detector: PageHinkley,
    /// `(update, a-priori residual)` fed to the detector since its last restart (bounded).
    tail: VecDeque<(u64, f64)>,
    /// Residual scale, watts; `None` while warming up.
    scale: Option<f64>,
    warm: Vec<f64>,
    warmup: usize,
}

impl OnlineModel {
    /// A cold-started model: all coefficients 0, diffuse covariance. `forgetting` ∈ (0, 1]
    /// weighs old samples (0.995 ≈ a memory of 200 updates; 1 never forgets).
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when `forgetting` is not in (0, 1].
    pub fn new(resources: &[Resource], forgetting: f64) -> Result<OnlineModel, AttributionError> {
        if !(forgetting > 0.0 && forgetting <= 1.0) {
            return Err(AttributionError::invalid(
                "online model",
                format!("forgetting factor {forgetting} is not in (0, 1]"),
            ));
        }
        let d = resources.len() + 1;
        let recent_cap = if forgetting < 1.0 {
            (1.0 / (1.0 - forgetting)).round().clamp(10.0, 10_000.0) as usize
        } else {
            10_000
        };
        Ok(OnlineModel {
            resources: resources.to_vec(),
            forgetting,
            theta: vec![0.0; d],
            p: scaled_identity(d, P_RESET),
            samples: 0,
            recent: VecDeque::with_capacity(recent_cap),
            recent_cap,
            detector: PageHinkley::new(),
            tail: VecDeque::new(),
            scale: None,
            warm: Vec::new(),
            warmup: (20 * d).max(100),
        })
    }

    /// A model warm-started from a fitted one: its coefficients, a moderately confident
    /// covariance and, when its `rmse_w` is positive, that as the residual scale (so drift
    /// detection is active from the first update).
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when `forgetting` is not in (0, 1], or
    /// the model has a non-finite or negative coefficient or a coefficient count that differs
    /// from its resource count.
    pub fn from_model(m: &ResourceModel, forgetting: f64) -> Result<OnlineModel, AttributionError> {
        let mut o = OnlineModel::new(&m.resources, forgetting)?;
        if m.coef_w.len() != m.resources.len() {
            return Err(AttributionError::invalid(
                "online model",
                format!(
                    "{} coefficients for {} resources",
                    m.coef_w.len(),
                    m.resources.len()
                ),
            ));
        }
        let theta: Vec<f64> = std::iter::once(m.idle_w)
            .chain(m.coef_w.iter().copied())
            .collect();
        if theta.iter().any(|c| !(c.is_finite() && *c >= 0.0)) {
            return Err(AttributionError::invalid(
                "online model",
                "a coefficient is negative or not finite",
            ));
        }
        let d = theta.len();
        o.theta = theta;
        o.p = scaled_identity(d, P_WARM);
        if m.rmse_w.is_finite() && m.rmse_w > 0.0 {
            o.scale = Some(m.rmse_w);
        }
        Ok(o)
    }

    /// Feeds one sample: usage per resource (same order as the resources) and measured power.
    /// Returns the drift found by this update, if any.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`], leaving the model unchanged, when
    /// `usage` has the wrong length or any value is NaN or infinite.
    pub fn update(
        &mut self,
        usage: &[f64],
        power_w: f64,
    ) -> Result<Option<DriftEvent>, AttributionError> {
        if usage.len() != self.resources.len() {
            return Err(AttributionError::invalid(
                format!("online model, sample {}", self.samples),
                format!(
                    "{} usage values for {} resources",
                    usage.len(),
                    self.resources.len()
                ),
            ));
        }
        if !power_w.is_finite() || usage.iter().any(|u| !u.is_finite()) {
            return Err(AttributionError::invalid(
                format!("online model, sample {}", self.samples),
                "usage or power is NaN or infinite",
            ));
        }
        let d = self.theta.len();
        let x: Vec<f64> = std::iter::once(1.0).chain(usage.iter().copied()).collect();
        let predicted: f64 = self.theta.iter().zip(&x).map(|(t, v)| t * v).sum();
        let e = power_w - predicted;
        let sample = self.samples;
        self.samples += 1;
        if self.recent.len() == self.recent_cap {
            self.recent.pop_front();
        }
        self.recent.push_back((e, power_w));

        // Drift detection on the a-priori residual.
        let mut event = None;
        match self.scale {
            None => {
                self.warm.push(e);
                if self.warm.len() >= self.warmup {
                    let mut tail: Vec<f64> = self.warm[self.warmup / 2..]
                        .iter()
                        .map(|v| v.abs())
                        .collect();
                    tail.sort_by(f64::total_cmp);
                    self.scale = Some((MAD_TO_SIGMA * median_sorted(&tail)).max(1e-3));
                    self.warm.clear();
                }
            }
            Some(s) => {
                let z = (e / s).clamp(-PH_CLIP, PH_CLIP);
                if self.tail.len() == TAIL {
                    self.tail.pop_front();
                }
                self.tail.push_back((sample, e));
                if let Some((direction, hint)) =
                    self.detector.push(z, sample, PH_DELTA, PH_THRESHOLD)
                {
                    let (onset, shift_w) =
                        refine_change(&self.tail, direction, hint).unwrap_or((hint, 0.0));
                    event = Some(DriftEvent {
                        sample,
                        onset,
                        shift_w,
                    });
                } else {
                    let clipped = e.abs().min(4.0 * s);
                    let var = (1.0 - SCALE_RATE) * s * s + SCALE_RATE * clipped * clipped;
                    self.scale = Some(var.sqrt().max(1e-3));
                }
            }
        }

        // Recursive least squares with forgetting.
        let lambda = self.forgetting;
        let px: Vec<f64> = (0..d)
            .map(|i| (0..d).map(|j| self.p[i * d + j] * x[j]).sum())
            .collect();
        let denom = lambda + x.iter().zip(&px).map(|(a, b)| a * b).sum::<f64>();
        if denom.is_finite() && denom > 0.0 {
            let k: Vec<f64> = px.iter().map(|v| v / denom).collect();
            for (t, ki) in self.theta.iter_mut().zip(&k) {
                *t += ki * e;
            }
            for (row, ki) in self.p.chunks_mut(d).zip(&k) {
                for (v, pxj) in row.iter_mut().zip(&px) {
                    *v = (*v - ki * pxj) / lambda;
                }
            }
            for i in 0..d {
                for j in i + 1..d {
                    let s = 0.5 * (self.p[i * d + j] + self.p[j * d + i]);
                    self.p[i * d + j] = s;
                    self.p[j * d + i] = s;
                }
            }
            let trace: f64 = (0..d).map(|i| self.p[i * d + i]).sum();
            let cap = P_RESET * d as f64;
            if !(trace.is_finite() && trace > 0.0) {
                self.p = scaled_identity(d, P_RESET);
            } else if trace > cap {
                let f = cap / trace;
                self.p.iter_mut().for_each(|v| *v *= f);
            }
        } else {
            self.p = scaled_identity(d, P_RESET);
        }
        if let Some(ev) = &event {
            self.theta[0] += ev.shift_w;
            self.p = scaled_identity(d, P_RESET);
            self.detector = PageHinkley::new();
            self.tail.clear();
            self.scale = None;
            self.warm.clear();
        }
        project_nonneg(&mut self.theta, &self.p);
        Ok(event)
    }

    /// The current model. `rmse_w` and `r2` are over the recent updates' a-priori residuals
    /// (the last `1 / (1 − forgetting)` updates, between 10 and 10 000), `samples` is how many
    /// that is and `skipped` is 0 (rejected updates change nothing).
    pub fn model(&self) -> ResourceModel {
        let m = self.recent.len();
        let (rmse_w, r2) = if m == 0 {
            (0.0, 0.0)
        } else {
            let sse: f64 = self.recent.iter().map(|(e, _)| e * e).sum();
            let mean = self.recent.iter().map(|(_, y)| y).sum::<f64>() / m as f64;
            let sst: f64 = self
                .recent
                .iter()
                .map(|(_, y)| (y - mean) * (y - mean))
                .sum();
            ((sse / m as f64).sqrt(), r_squared(sse, sst))
        };
        ResourceModel {
            resources: self.resources.clone(),
            idle_w: self.theta[0],
            coef_w: self.theta[1..].to_vec(),
            rmse_w,
            r2,
            samples: m,
            skipped: 0,
        }
    }

    /// Updates accepted so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

/// Projects `theta` onto `θ ≥ 0` in the metric of the information matrix `P⁻¹`:
/// `min (θ − θ₀)ᵀ P⁻¹ (θ − θ₀)` subject to `θ ≥ 0`, solved as the non-negative least-squares
/// problem `min ‖L⁻¹ θ − L⁻¹ θ₀‖` with `P = L Lᵀ`. Unlike clipping each coefficient, this
/// moves the correlated ones too (clipping a coefficient the data want negative raises the
/// intercept), so the state stays the constrained least-squares fit of the data seen. Falls
/// back to clipping if `P` is not numerically positive definite.
fn project_nonneg(theta: &mut [f64], p: &[f64]) {
    if theta.iter().all(|t| t.is_finite() && *t >= 0.0) {
        return;
    }
    let d = theta.len();
    let projected = cholesky_lower(p, d).and_then(|l| {
        // M = L⁻¹ by forward substitution, column by column.
        let mut m = Array2::<f64>::zeros((d, d));
        for c in 0..d {
            for i in c..d {
                let mut v = if i == c { 1.0 } else { 0.0 };
                for k in c..i {
                    v -= l[i * d + k] * m[[k, c]];
                }
                m[[i, c]] = v / l[i * d + i];
            }
        }
        let b = m.dot(&ArrayView1::from(&*theta));
        nnls(m.view(), b.view()).ok()
    });
    match projected {
        Some(sol) if sol.x.iter().all(|v| v.is_finite()) => {
            theta.iter_mut().zip(&sol.x).for_each(|(t, v)| *t = *v);
        }
        _ => theta.iter_mut().for_each(|t| {
            if !(t.is_finite() && *t >= 0.0) {
                *t = 0.0;
            }
        }),
    }
}

/// Lower Cholesky factor (row-major) of the symmetric `d × d` matrix `a`, if positive definite.
fn cholesky_lower(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for j in 0..d {
        let mut s = a[j * d + j];
        for k in 0..j {
            s -= l[j * d + k] * l[j * d + k];
        }
        if !(s.is_finite() && s > 0.0) {
            return None;
        }
        let s = s.sqrt();
        l[j * d + j] = s;
        for i in j + 1..d {
            let mut v = a[i * d + j];
            for k in 0..j {
                v -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = v / s;
        }
    }
    Some(l)
}

fn scaled_identity(d: usize, s: f64) -> Vec<f64> {
    let mut p = vec![0.0; d * d];
    for i in 0..d {
        p[i * d + i] = s;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn gauss(rng: &mut ChaCha8Rng) -> f64 {
        // Box–Muller.
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    #[test]
    fn resource_names() {
        let names: Vec<_> = Resource::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["cpu", "memory", "gpu_sm", "gpu_memory", "io"]);
        assert_eq!(Resource::GpuSm.to_string(), "gpu_sm");
    }

    #[test]
    fn fit_recovers_a_noisy_linear_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 2000;
        let res = [Resource::Cpu, Resource::Memory, Resource::Io];
        let truth = [55.0, 140.0, 35.0, 8.0];
        let mut usage = Array2::zeros((n, 3));
        let mut power = Array1::zeros(n);
        for i in 0..n {
            let mut p = truth[0];
            for r in 0..3 {
                let u: f64 = rng.random();
                usage[[i, r]] = u;
                p += truth[r + 1] * u;
            }
            power[i] = p + 2.0 * gauss(&mut rng);
        }
        usage[[5, 1]] = f64::NAN;
        power[9] = f64::INFINITY;
        let m = ResourceModel::fit(&res, usage.view(), power.view()).unwrap();
        assert_eq!((m.samples, m.skipped), (n - 2, 2));
        assert!((m.idle_w - truth[0]).abs() < 0.6, "{m:?}");
        for r in 0..3 {
            assert!((m.coef_w[r] - truth[r + 1]).abs() < 0.8, "{m:?}");
        }
        assert!((m.rmse_w - 2.0).abs() < 0.15 && m.r2 > 0.95, "{m:?}");

        // The same with the idle power known.
        let dynamic = power.mapv(|p| p - truth[0]);
        let d = ResourceModel::fit_dynamic(&res, usage.view(), dynamic.view()).unwrap();
        assert_eq!(d.idle_w, 0.0);
        for r in 0..3 {
            assert!((d.coef_w[r] - truth[r + 1]).abs() < 0.6, "{d:?}");
        }
    }

    #[test]
    fn fit_clamps_a_negative_true_coefficient() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 500;
        let mut usage = Array2::zeros((n, 2));
        let mut power = Array1::zeros(n);
        for i in 0..n {
            let (a, b): (f64, f64) = (rng.random(), rng.random());
            usage[[i, 0]] = a;
            usage[[i, 1]] = b;
            power[i] = 80.0 + 100.0 * a - 10.0 * b + 0.5 * gauss(&mut rng);
        }
        let m =
            ResourceModel::fit(&[Resource::Cpu, Resource::Io], usage.view(), power.view()).unwrap();
        assert_eq!(m.coef_w[1], 0.0);
        // The intercept absorbs the mean of the dropped term: 80 − 10 · 0.5.
        assert!(
            (m.idle_w - 75.0).abs() < 0.5 && (m.coef_w[0] - 100.0).abs() < 1.0,
            "{m:?}"
        );
    }

    #[test]
    fn fit_rejects_bad_shapes_and_too_few_rows() {
        let usage = Array2::from_elem((3, 1), 0.5);
        let power = Array1::from_elem(3, 100.0);
        let r = [Resource::Cpu];
        assert!(ResourceModel::fit(&r, usage.view(), power.view()).is_ok());
        assert!(ResourceModel::fit(&r, usage.view(), Array1::from_elem(2, 100.0).view()).is_err());
        assert!(
            ResourceModel::fit(&[Resource::Cpu, Resource::Io], usage.view(), power.view()).is_err()
        );
        let mut holes = power.clone();
        holes[0] = f64::NAN;
        let e = ResourceModel::fit(&r, usage.view(), holes.view()).unwrap_err();
        assert!(e.reason().contains("need at least 3"), "{e}");
    }

    #[test]
    fn spec_curve_basics() {
        let c = SpecCurve::try_new([
            50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0,
        ])
        .unwrap();
        assert_eq!(c.power_w(-1.0), 50.0);
        assert_eq!(c.power_w(0.7), 120.0);
        assert!((c.slope_w(1.0) - 100.0).abs() < 1e-9);
        assert!((c.slope_w(0.3) - 100.0).abs() < 1e-9);
        assert!(c.power_w(f64::NAN).is_nan());
        assert_eq!((c.idle_w(), c.max_w()), (50.0, 150.0));
        let mut w = c.watts;
        w[4] = f64::NAN;
        assert!(SpecCurve::try_new(w).is_err());
        w[4] = -1.0;
        assert!(SpecCurve::try_new(w).is_err());
        // Right derivative at the knots.
        let k = SpecCurve::try_new([0.0, 1.0, 3.0, 6.0, 10.0, 15.0, 21.0, 28.0, 36.0, 45.0, 55.0])
            .unwrap();
        for i in 0..10 {
            let u = i as f64 / 10.0;
            assert!((k.slope_w(u) - 10.0 * (i + 1) as f64).abs() < 1e-9, "{u}");
        }
        assert!((k.slope_w(1.0) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn spec_fit_is_monotone_and_fills_empty_segments() {
        // Data only below 0.45 and a decreasing glitch: the fit stays non-decreasing and the
        // empty segments above continue the slope of the 0.4–0.5 segment.
        let u: Vec<f64> = (0..90).map(|i| i as f64 * 0.005).collect();
        let p: Vec<f64> = u
            .iter()
            .map(|&x| 60.0 + 100.0 * x - if (0.2..0.25).contains(&x) { 15.0 } else { 0.0 })
            .collect();
        let c = SpecCurve::fit(&u, &p).unwrap();
        assert!(c.watts.windows(2).all(|w| w[1] >= w[0]), "{:?}", c.watts);
        let s = c.slope_w(0.42);
        for k in 5..10 {
            assert!(
                (c.slope_w(k as f64 / 10.0) - s).abs() < 1e-6,
                "{:?}",
                c.watts
            );
        }
        // A gap in the middle: 0.5–0.7 has no data, its segments take the neighbours' slopes.
        let u: Vec<f64> = (0..=100)
            .map(|i| i as f64 / 100.0)
            .filter(|x| !(0.5..0.7).contains(x))
            .collect();
        let f = |x: f64| 50.0 + 200.0 * x * x;
        let p: Vec<f64> = u.iter().map(|&x| f(x)).collect();
        let c = SpecCurve::fit(&u, &p).unwrap();
        assert!((c.slope_w(0.5) - c.slope_w(0.45)).abs() < 1e-6);
        assert!((c.slope_w(0.6) - c.slope_w(0.75)).abs() < 1e-6);
        assert!((c.power_w(0.3) - f(0.3)).abs() < 1.0);

        assert!(SpecCurve::fit(&[0.1, 0.2], &[1.0, 2.0]).is_err());
        assert!(SpecCurve::fit(&[0.1, 0.2, f64::NAN], &[1.0, 2.0, 3.0]).is_err());
        assert!(SpecCurve::fit(&[0.5; 5], &[1.0; 5]).is_err());
        assert!(SpecCurve::fit(&[0.5; 5], &[1.0; 4]).is_err());
    }

    /// A floor 72 → 90 → 76 W with busy intervals in between and one low reading.
    fn stepped() -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 900;
        let (mut power, mut activity, mut truth) = (vec![], vec![], vec![]);
        for i in 0..n {
            let floor = match i {
                0..300 => 72.0,
                300..600 => 90.0,
                _ => 76.0,
            };
            let busy = i % 3 != 0;
            let a = if busy {
                rng.random_range(0.1..1.0)
            } else {
                0.0
            };
            truth.push(floor);
            activity.push(a);
            power.push(floor + 150.0 * a + 0.8 * gauss(&mut rng));
        }
        power[450] = 20.0; // a glitch on a quiet interval
        power[451] = f64::NAN; // an unmeasured one
        (power, activity, truth)
    }

    #[test]
    fn idle_floor_follows_steps_and_ignores_a_low_outlier() {
        let (power, activity, truth) = stepped();
        let f = calibrate_idle(&power, &activity, &IdleOptions::default()).unwrap();
        assert_eq!(f.method, IdleMethod::Quiet);
        assert_eq!(f.quiet_intervals, 300);
        assert_eq!(f.floor_w.len(), power.len());
        assert!(f.floor_w.iter().all(|w| w.is_finite()));
        for (i, (&w, &t)) in f.floor_w.iter().zip(&truth).enumerate() {
            // Away from the steps (more than a window) the floor is the true one.
            let near_step = [300usize, 600].iter().any(|&s| i.abs_diff(s) <= 60);
            if !near_step {
                assert!((w - t).abs() < 1.0, "{i}: {w}");
            }
            assert!(w > 70.0 && w < 92.0, "{i}: {w}");
        }
        assert!((f.sigma_w - 0.8).abs() < 0.3, "{}", f.sigma_w);
        // The minimum observed would have been fooled.
        let min = power
            .iter()
            .copied()
            .filter(|p| !p.is_nan())
            .fold(f64::INFINITY, f64::min);
        assert_eq!(min, 20.0);
    }

    #[test]
    fn idle_floor_falls_back_to_the_model_intercept() {
        // Never quiet: the floor is the intercept of power against activity.
        let activity: Vec<f64> = (0..50).map(|i| 0.2 + 0.015 * i as f64).collect();
        let power: Vec<f64> = activity.iter().map(|a| 64.0 + 100.0 * a).collect();
        let f = calibrate_idle(&power, &activity, &IdleOptions::default()).unwrap();
        assert_eq!(f.method, IdleMethod::ModelIntercept);
        assert!(f.floor_w.iter().all(|w| (w - 64.0).abs() < 1e-6));
        // No usable data at all.
        let e = calibrate_idle(&[f64::NAN; 4], &[0.5; 4], &IdleOptions::default()).unwrap_err();
        assert!(e.reason().contains("model fallback"), "{e}");
        // Bad input.
        assert!(calibrate_idle(&[], &[], &IdleOptions::default()).is_err());
        assert!(calibrate_idle(&[1.0], &[1.0, 2.0], &IdleOptions::default()).is_err());
        assert!(calibrate_idle(&[f64::INFINITY], &[0.0], &IdleOptions::default()).is_err());
        assert!(calibrate_idle(&[1.0], &[-1.0], &IdleOptions::default()).is_err());
        let nan_opts = IdleOptions::default().with_quiet_activity(f64::NAN);
        assert!(calibrate_idle(&[1.0], &[0.0], &nan_opts).is_err());
    }

    #[test]
    fn idle_floor_interpolates_between_sparse_quiet_stretches() {
        // Quiet stretches at the start (70 W) and the end (80 W), busy in between for longer
        // than two windows: the floor ramps linearly across the busy stretch.
        let n = 400;
        let activity: Vec<f64> = (0..n)
            .map(|i| if !(20..380).contains(&i) { 0.0 } else { 0.5 })
            .collect();
        let power: Vec<f64> = (0..n)
            .map(|i| if i < 200 { 70.0 } else { 80.0 } + 100.0 * activity[i])
            .collect();
        let opts = IdleOptions::default().with_window(10).with_min_quiet(3);
        let f = calibrate_idle(&power, &activity, &opts).unwrap();
        assert_eq!(f.floor_w[0], 70.0);
        assert_eq!(f.floor_w[n - 1], 80.0);
        let mid = f.floor_w[200];
        assert!(mid > 70.0 && mid < 80.0, "{mid}");
        assert!(f.floor_w.windows(2).all(|w| w[1] >= w[0]));
        // Quiet intervals too sparse for any window: the global quiet median.
        let activity: Vec<f64> = (0..n)
            .map(|i| if i % 50 == 0 { 0.0 } else { 0.5 })
            .collect();
        let f = calibrate_idle(&power, &activity, &opts).unwrap();
        assert_eq!(f.method, IdleMethod::Quiet);
        assert!(f.floor_w.iter().all(|w| *w == f.floor_w[0]));
    }

    fn stream(rng: &mut ChaCha8Rng, idle: f64) -> ([f64; 2], f64) {
        let (c, m): (f64, f64) = (rng.random(), rng.random());
        ([c, m], idle + 120.0 * c + 30.0 * m + 2.0 * gauss(rng))
    }

    #[test]
    fn online_model_has_no_false_alarm_on_a_stationary_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let mut m = OnlineModel::new(&[Resource::Cpu, Resource::Memory], 0.995).unwrap();
        for _ in 0..10_000 {
            let (u, p) = stream(&mut rng, 80.0);
            assert_eq!(m.update(&u, p).unwrap(), None, "at {}", m.samples());
        }
        let s = m.model();
        assert!((s.idle_w - 80.0).abs() < 2.0, "{s:?}");
        assert!(
            (s.coef_w[0] - 120.0).abs() < 3.0 && (s.coef_w[1] - 30.0).abs() < 3.0,
            "{s:?}"
        );
        assert!((s.rmse_w - 2.0).abs() < 0.4, "{s:?}");
        assert_eq!(m.samples(), 10_000);
    }

    #[test]
    fn online_model_detects_a_step_in_idle_and_relearns() {
        for (seed, step) in [(1u64, 15.0), (2, -12.0), (3, 8.0)] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut m = OnlineModel::new(&[Resource::Cpu, Resource::Memory], 0.995).unwrap();
            let mut events = vec![];
            for i in 0..4000u64 {
                let (u, p) = stream(&mut rng, if i < 2500 { 80.0 } else { 80.0 + step });
                if let Some(e) = m.update(&u, p).unwrap() {
                    events.push(e);
                }
            }
            println!("step {step}: {events:?}");
            assert_eq!(events.len(), 1, "step {step}: {events:?}");
            let e = events[0];
            assert!(e.sample >= 2500 && e.sample < 2540, "step {step}: {e:?}");
            assert!(e.onset.abs_diff(2500) <= 3, "step {step}: {e:?}");
            assert!(e.shift_w.signum() == step.signum(), "{e:?}");
            assert!(
                (e.shift_w - step).abs() < 0.4 * step.abs(),
                "step {step}: {e:?}"
            );
            let s = m.model();
            assert!((s.idle_w - (80.0 + step)).abs() < 2.0, "step {step}: {s:?}");
        }
    }

    #[test]
    fn online_model_rejects_bad_input_without_changing_state() {
        assert!(OnlineModel::new(&[Resource::Cpu], 0.0).is_err());
        assert!(OnlineModel::new(&[Resource::Cpu], 1.5).is_err());
        assert!(OnlineModel::new(&[Resource::Cpu], f64::NAN).is_err());
        let mut m = OnlineModel::new(&[Resource::Cpu], 1.0).unwrap();
        m.update(&[0.5], 100.0).unwrap();
        let before = m.model();
        assert!(m.update(&[f64::NAN], 100.0).is_err());
        assert!(m.update(&[0.5], f64::INFINITY).is_err());
        assert!(m.update(&[0.5, 0.5], 100.0).is_err());
        assert_eq!(m.model(), before);
        assert_eq!(m.samples(), 1);
    }

    #[test]
    fn online_model_warm_start() {
        let fitted = ResourceModel {
            resources: vec![Resource::Cpu],
            idle_w: 70.0,
            coef_w: vec![100.0],
            rmse_w: 1.0,
            r2: 0.99,
            samples: 1000,
            skipped: 0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut m = OnlineModel::from_model(&fitted, 0.99).unwrap();
        assert_eq!(m.model().idle_w, 70.0);
        let mut events = vec![];
        for i in 0..600u64 {
            let u: f64 = rng.random();
            let idle = if i < 50 { 70.0 } else { 78.0 };
            if let Some(e) = m.update(&[u], idle + 100.0 * u + gauss(&mut rng)).unwrap() {
                events.push(e);
            }
        }
        // Detection is active from the first update: the step at 50 is found quickly.
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].sample >= 50 && events[0].sample < 60,
            "{events:?}"
        );
        assert!((m.model().idle_w - 78.0).abs() < 1.0);
        let mut bad = fitted.clone();
        bad.coef_w[0] = -1.0;
        assert!(OnlineModel::from_model(&bad, 0.99).is_err());
    }
}
