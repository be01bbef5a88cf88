//! [`calibrate_idle`]: the idle floor per interval, from the quiet intervals (or a model's
//! intercept when there are too few).

use ndarray::{Array2, ArrayView1};
use serde::Serialize;

use super::{MAD_TO_SIGMA, Resource, ResourceModel, median_sorted};
use crate::AttributionError;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::testing::gauss;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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
}
