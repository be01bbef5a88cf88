//! [`SpecCurve`]: a SPECpower-style piecewise-linear curve of utilization, published or fitted.

use ndarray::{Array1, Array2, ArrayView2};
use serde::Serialize;

use crate::AttributionError;
use crate::nnls::nnls;

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
    // `s` is in [0, 10] (a NaN `u` never gets here), so truncation is the floor, without the
    // libm call `floor` is on baseline x86-64.
    let mut k = (s as u64) as f64;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
