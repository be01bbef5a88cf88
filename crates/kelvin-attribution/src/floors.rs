//! Idle floors calibrated on a trailing window of data, for an engine that pins them for the
//! intervals it closes next ([`attribute_with_floors`](crate::attribute_with_floors)).
//!
//! A meter's floor is the power it draws with nothing active: what the two-part tariff bills
//! by reservation. It is seen directly only in intervals where nothing is active, and a busy
//! host has none: its own processes keep a core busy, and a host that always runs pods sits,
//! at its quietest, on the steep start of its power curve (SPECpower curves rise a third of
//! their range in the first tenth of load). The estimate here is the intercept, at zero
//! activity, of power against activity over the least active intervals, and it can pool the
//! intervals of a *class* of alike meters (hosts of one model, the GPUs of those hosts): the
//! least active intervals of a class come from whichever of its meters was quietest, so a host
//! that never idles gets the floor its idle twins measured.

use std::collections::BinaryHeap;

use crate::aligned::{HostSeries, PinnedFloor, host_floor};

/// One meter's intervals for [`calibrate_floor`]: what it measured and what drove it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloorSeries<'a> {
    /// Measured energy per interval, joules; NaN where unmeasured.
    pub energy_j: &'a [f64],
    /// What drives the meter above its floor, per interval, 0 when nothing is active: busy
    /// cores for a host ([`busy_cores`]), SM-active seconds for a GPU, the watts its GPUs
    /// drew above their own floors for the rest of a GPU server's wall meter. Any unit, as
    /// long as it is one unit across the class; NaN where unknown. An interval missing its
    /// energy or its activity is left out.
    pub activity: &'a [f64],
}

/// Fewest usable intervals (over the class) a calibration needs.
const MIN_POINTS: usize = 48;
/// Fewest least-active intervals fitted.
const MIN_FIT: usize = 12;
/// The largest standard error of an intercept, relative to the median power of the intervals
/// fitted, that is extrapolated to.
const INTERCEPT_REL: f64 = 0.1;

/// The idle floor of a class of alike meters (one meter is a class of one), from their least
/// active intervals.
///
/// The intervals of every meter of `class` are pooled and the quarter of one meter's share
/// with the lowest activity (`n ÷ (4 × meters)` of the `n` pooled intervals, at least 12) is
/// fitted with a line, power against activity. Where power rises with activity and the line's
/// intercept at zero activity is determined (its standard error at most a tenth of those
/// intervals' median power), the floor is that intercept, kept between half and all of the
/// median; where it is not — the least active intervals all have about the same activity, far
/// from zero, so their noise would be carried all the way down, or power does not rise with
/// activity — the floor is their median power. `None` with fewer than 48 usable intervals, or
/// an interval not positive.
///
/// The result does not depend on the order of the meters in `class` nor on the unit of the
/// activity. Its `sigma_w` is the spread of the fitted intervals around the floor's line.
///
/// ```
/// use kelvin_attribution::{FloorSeries, calibrate_floor};
///
/// // Two hosts of one model, 60 s intervals, floor 50 W and 6 W per busy core: one idles
/// // now and then, the other never runs fewer than 8 cores.
/// let power = |cores: f64| 50.0 + 6.0 * cores;
/// let quiet: Vec<f64> = (0..60).map(|i| (i % 12) as f64).collect();
/// let busy: Vec<f64> = (0..60).map(|i| 8.0 + (i % 7) as f64).collect();
/// let energy = |a: &[f64]| a.iter().map(|&c| power(c) * 60.0).collect::<Vec<_>>();
/// let (eq, eb) = (energy(&quiet), energy(&busy));
/// let class = [
///     FloorSeries { energy_j: &eq, activity: &quiet },
///     FloorSeries { energy_j: &eb, activity: &busy },
/// ];
/// let f = calibrate_floor(&class, 60_000_000_000).unwrap();
/// assert!((f.watts - 50.0).abs() < 1e-9);
/// ```
pub fn calibrate_floor(class: &[FloorSeries<'_>], interval_ns: i64) -> Option<PinnedFloor> {
    if interval_ns <= 0 {
        return None;
    }
    let secs = interval_ns as f64 / 1e9;
    let (mut n, mut meters) = (0usize, 0usize);
    for s in class {
        let c = usable(*s, secs).count();
        n += c;
        meters += usize::from(c > 0);
    }
    if n < MIN_POINTS {
        return None;
    }
    let k = (n / (4 * meters.max(1))).max(MIN_FIT).min(n);
    // The k least active intervals, by activity then power (the same selection whatever the
    // order of the meters), kept in a heap of k rather than sorting all n.
    let mut least: BinaryHeap<Least> = BinaryHeap::with_capacity(k + 1);
    for p in class.iter().flat_map(|s| usable(*s, secs)) {
        if least.len() < k {
            least.push(p);
        } else if least.peek().is_some_and(|top| p < *top) {
            least.pop();
            least.push(p);
        }
    }
    let pts: Vec<(f64, f64)> = least
        .into_sorted_vec()
        .into_iter()
        .map(|Least(a, w)| (a, w))
        .collect();
    fit_floor(&pts)
}

/// A meter's usable intervals (energy and activity known, energy not negative) as
/// (activity, watts).
fn usable(s: FloorSeries<'_>, secs: f64) -> impl Iterator<Item = Least> + '_ {
    s.energy_j
        .iter()
        .zip(s.activity)
        .filter(|(e, a)| e.is_finite() && **e >= 0.0 && a.is_finite())
        .map(move |(e, a)| Least(*a, e / secs))
}

/// An interval's (activity, watts), ordered by activity then watts (IEEE total order).
#[derive(Debug, Clone, Copy)]
struct Least(f64, f64);

impl PartialEq for Least {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Least {}
impl PartialOrd for Least {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Least {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.total_cmp(&other.1))
    }
}

/// The floor of the least active intervals `pts` (activity, watts): see [`calibrate_floor`].
fn fit_floor(pts: &[(f64, f64)]) -> Option<PinnedFloor> {
    let m = pts.len() as f64;
    let mut ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
    ys.sort_by(f64::total_cmp);
    let median = *ys.get(ys.len() / 2)?;
    let (mx, my) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / m, b + y / m));
    let (sxy, sxx) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    // The intercept, where it is determined: its standard error at most a tenth of the
    // median. Far from zero activity with little spread, the noise would be carried all the
    // way down.
    let slope = (sxx > 0.0 && sxy > 0.0).then(|| sxy / sxx).filter(|&b| {
        let resid: f64 = pts
            .iter()
            .map(|(x, y)| (y - (my + b * (x - mx))).powi(2))
            .sum();
        let s2 = resid / (m - 2.0).max(1.0);
        (s2 * (1.0 / m + mx * mx / sxx)).sqrt() <= INTERCEPT_REL * median
    });
    let (watts, slope) = match slope {
        Some(b) => ((my - b * mx).clamp(median * 0.5, median), b),
        None => (median, 0.0),
    };
    let spread = pts
        .iter()
        .map(|(x, y)| (y - (watts + slope * x)).powi(2))
        .sum::<f64>()
        / m;
    (watts.is_finite() && watts >= 0.0).then_some(PinnedFloor {
        watts,
        sigma_w: spread.sqrt(),
    })
}

/// Host `h`'s busy cores per interval: its workloads' CPU seconds plus its own
/// ([`HostSeries::system_cpu_s`]), unknown counted as none, over the interval's seconds — the
/// activity a host's floor is calibrated against.
pub fn busy_cores(h: &HostSeries, interval_ns: i64) -> Vec<f64> {
    let secs = (interval_ns as f64 / 1e9).max(f64::MIN_POSITIVE);
    let known = |x: Option<&f64>| x.copied().filter(|x| x.is_finite()).unwrap_or(0.0);
    (0..h.energy_j.len())
        .map(|i| {
            let busy = h
                .workloads
                .iter()
                .map(|w| known(w.cpu_s.get(i)))
                .sum::<f64>()
                + known(h.system_cpu_s.as_ref().and_then(|s| s.get(i)));
            busy / secs
        })
        .collect()
}

/// The idle floor of host `h` calibrated on its own data: [`calibrate_floor`] of the host
/// alone against its [`busy_cores`]. With fewer than 48 measured intervals it is
/// [`attribute`](crate::attribute)'s calibration (the quiet intervals' median, or a model
/// intercept) averaged over the window; `None` when neither is possible.
///
/// A live engine calibrates on a trailing window of closed intervals and pins the result for
/// the intervals it closes next ([`attribute_with_floors`](crate::attribute_with_floors)), so
/// that each interval's bill does not depend on which window it was settled in; it pools
/// hosts of one model with [`calibrate_floor`].
pub fn calibrate_host_floor(h: &HostSeries, interval_ns: i64) -> Option<PinnedFloor> {
    let busy = busy_cores(h, interval_ns);
    let own = FloorSeries {
        energy_j: &h.energy_j,
        activity: &busy,
    };
    if let Some(f) = calibrate_floor(&[own], interval_ns) {
        return Some(f);
    }
    let n = h.energy_j.len();
    let secs = interval_ns as f64 / 1e9;
    let cores = if h.cores.is_finite() && h.cores > 0.0 {
        h.cores
    } else {
        1.0
    };
    let f = host_floor(h, n, secs, cores)?;
    let watts = f.floor_w.iter().sum::<f64>() / f.floor_w.len().max(1) as f64;
    (watts.is_finite() && watts >= 0.0).then_some(PinnedFloor {
        watts,
        sigma_w: f.sigma_w,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000_000_000;

    /// A SPECpower-like curve: 50 W idle, steep to 10 % load, flatter after (112 cores).
    fn curve(cores: f64) -> f64 {
        let u = cores / 112.0;
        if u <= 0.1 {
            50.0 + 640.0 * u
        } else {
            114.0 + 220.0 * (u - 0.1)
        }
    }

    fn joules(act: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
        act.iter().map(|&a| f(a) * 60.0).collect()
    }

    #[test]
    fn a_host_that_never_idles_gets_the_floor_its_twin_measured() {
        // Never below 15 cores: past the curve's knee, where its own fit cannot see the foot.
        let busy: Vec<f64> = (0..96).map(|i| 15.0 + (i % 13) as f64).collect();
        let quiet: Vec<f64> = (0..96).map(|i| (i % 9) as f64 * 0.5).collect();
        let (eb, eq) = (joules(&busy, curve), joules(&quiet, curve));
        let alone = calibrate_floor(
            &[FloorSeries {
                energy_j: &eb,
                activity: &busy,
            }],
            MIN,
        )
        .unwrap();
        assert!(alone.watts > 70.0, "{alone:?}");
        let class = [
            FloorSeries {
                energy_j: &eb,
                activity: &busy,
            },
            FloorSeries {
                energy_j: &eq,
                activity: &quiet,
            },
        ];
        let pooled = calibrate_floor(&class, MIN).unwrap();
        assert!((pooled.watts - 50.0).abs() < 1e-6, "{pooled:?}");
    }

    #[test]
    fn a_slope_hidden_in_noise_is_not_extrapolated() {
        // The least active intervals all run about one core, at 20 W per core above a 40 W
        // floor, with ±5 W of noise: between 1.000 and 1.001 cores the slope is lost in it.
        let act: Vec<f64> = (0..64).map(|i| 1.0 + 0.001 * (i % 8) as f64).collect();
        let noise = [-5.0, 5.0, 0.0, 3.0, -3.0, 1.0, -1.0, 0.0];
        let energy: Vec<f64> = (0..64)
            .map(|i| (40.0 + 20.0 * act[i] + noise[(i / 8) % 8]) * 60.0)
            .collect();
        let f = calibrate_floor(
            &[FloorSeries {
                energy_j: &energy,
                activity: &act,
            }],
            MIN,
        )
        .unwrap();
        assert!(
            (f.watts - 60.0).abs() < 0.1,
            "the median, not an intercept 1 core away: {f:?}"
        );
    }

    #[test]
    fn idle_intervals_give_their_power_exactly() {
        // A GPU idle at 72 W half the time, busy the rest.
        let act: Vec<f64> = (0..60)
            .map(|i| if i % 2 == 0 { 0.0 } else { 40.0 })
            .collect();
        let energy = joules(&act, |a| 72.0 + 10.0 * a);
        let f = calibrate_floor(
            &[FloorSeries {
                energy_j: &energy,
                activity: &act,
            }],
            MIN,
        )
        .unwrap();
        assert_eq!(f.watts, 72.0);
        assert_eq!(f.sigma_w, 0.0);
    }

    #[test]
    fn too_few_or_unusable_intervals_give_none() {
        let act = vec![1.0; 47];
        let energy = vec![6000.0; 47];
        let one = [FloorSeries {
            energy_j: &energy,
            activity: &act,
        }];
        assert_eq!(calibrate_floor(&one, MIN), None);
        assert_eq!(calibrate_floor(&one, 0), None);
        let mut act = vec![1.0; 60];
        let mut energy = vec![6000.0; 60];
        for i in 0..13 {
            act[i] = f64::NAN;
            energy[59 - i] = f64::NAN;
        }
        let gappy = [FloorSeries {
            energy_j: &energy,
            activity: &act,
        }];
        assert_eq!(calibrate_floor(&gappy, MIN), None, "34 usable intervals");
    }

    proptest! {
        /// The floor does not depend on the order of the meters nor on the activity's unit,
        /// and it lies between 0 and the highest power of the class.
        #[test]
        fn order_and_unit_do_not_matter(
            meters in proptest::collection::vec(
                proptest::collection::vec((0.0f64..40.0, 0.0f64..200.0), 24..80), 1..4),
            scale in 0.01f64..100.0,
        ) {
            let act: Vec<Vec<f64>> = meters.iter().map(|m| m.iter().map(|p| p.0).collect()).collect();
            let energy: Vec<Vec<f64>> = meters
                .iter()
                .map(|m| m.iter().map(|p| (40.0 + 3.0 * p.0 + p.1) * 60.0).collect())
                .collect();
            let scaled: Vec<Vec<f64>> = act.iter().map(|a| a.iter().map(|x| x * scale).collect()).collect();
            let class = |acts: &[Vec<f64>], order: &mut dyn Iterator<Item = usize>| {
                let series: Vec<FloorSeries<'_>> = order
                    .map(|i| FloorSeries { energy_j: &energy[i], activity: &acts[i] })
                    .collect();
                calibrate_floor(&series, MIN)
            };
            let n = meters.len();
            let a = class(&act, &mut (0..n));
            let b = class(&act, &mut (0..n).rev());
            prop_assert_eq!(a, b);
            let c = class(&scaled, &mut (0..n));
            prop_assert_eq!(a.is_some(), c.is_some());
            if let (Some(a), Some(c)) = (a, c) {
                prop_assert!((a.watts - c.watts).abs() <= 1e-6 * a.watts.max(1.0));
                let top = energy.iter().flatten().fold(0.0f64, |m, e| m.max(e / 60.0));
                prop_assert!(a.watts >= 0.0 && a.watts <= top);
            }
        }
    }
}
