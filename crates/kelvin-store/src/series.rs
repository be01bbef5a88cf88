//! Series identity, samples, and the numerical kernels over one sorted series.
//!
//! The kernels take a slice of samples sorted by strictly increasing time (the invariant
//! [`crate::MemStore`] maintains) and a validated [`Grid`]; they never fail, and answer NaN for
//! what the samples do not determine.

use std::fmt;
use std::sync::Arc;

use kelvin_model::{EntityId, Reading, SensorKind, SensorName, Timestamp};

use crate::{Fill, Grid, ResampleOptions};

/// Extra dimensions of a series beyond entity, sensor and kind: `name=value` pairs, sorted by
/// name, each name at most once (a later value for the same name replaces the earlier one).
///
/// Cheap to clone (one shared allocation); the empty set allocates nothing.
///
/// ```
/// use kelvin_store::Labels;
///
/// let l = Labels::from_pairs([("zone", "b"), ("phase", "L1"), ("zone", "c")]);
/// assert_eq!(l.get("zone"), Some("c"));
/// assert_eq!(l.to_string(), "{phase=\"L1\",zone=\"c\"}");
/// assert!(Labels::default().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Option<Arc<[Label]>>);

/// One `name=value` pair of [`Labels`].
type Label = (Arc<str>, Arc<str>);

impl Labels {
    /// Labels from `(name, value)` pairs in any order; for a repeated name the last value wins.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<Label> = Vec::new();
        for (n, val) in pairs {
            let (n, val) = (n.as_ref(), val.as_ref());
            match v.binary_search_by(|(k, _)| (**k).cmp(n)) {
                Ok(i) => v[i].1 = Arc::from(val),
                Err(i) => v.insert(i, (Arc::from(n), Arc::from(val))),
            }
        }
        if v.is_empty() {
            Labels(None)
        } else {
            Labels(Some(v.into()))
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        let v = self.0.as_deref()?;
        v.binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &*v[i].1)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (&**k, &**v))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, <[_]>::len)
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Labels {
    /// `{a="1",b="2"}` (Prometheus style, values escaped as Rust debug strings); empty: `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// The identity of a series: which sensor of which entity, measuring what, with optional
/// [`Labels`].
///
/// Keys order by entity, then sensor, then kind, then labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The entity measured.
    pub entity: EntityId,
    /// The sensor's name within the entity.
    pub sensor: SensorName,
    /// What is measured, in the kind's canonical unit.
    pub kind: SensorKind,
    /// Further dimensions (empty for most sensors).
    pub labels: Labels,
}

impl SeriesKey {
    /// A key from its parts, without labels.
    pub fn new(entity: EntityId, sensor: impl Into<SensorName>, kind: SensorKind) -> Self {
        SeriesKey {
            entity,
            sensor: sensor.into(),
            kind,
            labels: Labels::default(),
        }
    }

    /// The same key with `labels`.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// The key of the series `r` belongs to.
    pub fn of(r: &Reading) -> SeriesKey {
        SeriesKey {
            entity: r.entity.clone(),
            sensor: r.sensor.clone(),
            kind: r.kind,
            labels: Labels::default(),
        }
    }
}

impl fmt::Display for SeriesKey {
    /// `entity/sensor (kind)`, e.g. `host-01/psu1 (power)`, followed by the labels when there
    /// are any: `host-01/psu1 (power){phase="L1"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({})", self.entity, self.sensor, self.kind)?;
        if !self.labels.is_empty() {
            write!(f, "{}", self.labels)?;
        }
        Ok(())
    }
}

/// One series' samples as columns: what export, import and decoding hand around.
///
/// `ts` (nanoseconds since the Unix epoch) and `values` have the same length and are sorted by
/// time; values are stored bit-exactly, NaN and infinities included.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// Which series.
    pub key: SeriesKey,
    /// Timestamps in nanoseconds, non-decreasing.
    pub ts: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Vec<f64>,
}

/// One stored sample: a finite value in the canonical unit of the series' kind, at a time.
///
/// Within a series, samples are sorted by strictly increasing `ts`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was measured.
    pub ts: Timestamp,
    /// The value (always finite).
    pub value: f64,
}

impl Sample {
    /// A sample.
    pub const fn new(ts: Timestamp, value: f64) -> Self {
        Sample { ts, value }
    }
}

fn ns(s: &Sample) -> i64 {
    s.ts.as_nanos()
}

/// Signed nanoseconds from `from` to `to`, without overflow.
fn delta(from: i64, to: i64) -> i128 {
    i128::from(to) - i128::from(from)
}

/// Seconds from `from` to `to`.
fn secs(from: i64, to: i64) -> f64 {
    delta(from, to) as f64 / Timestamp::NANOS_PER_SEC as f64
}

/// Whether the segment from `s[j]` to `s[j + 1]` is longer than the allowed gap.
fn is_gap(s: &[Sample], j: usize, max_gap_ns: i64) -> bool {
    delta(ns(&s[j]), ns(&s[j + 1])) > i128::from(max_gap_ns)
}

/// The value at `t` of the line through `a` and `b` (`a.ts <= t <= b.ts`), exact at both ends.
fn lerp(a: Sample, b: Sample, t: i64) -> f64 {
    if t == ns(&a) {
        a.value
    } else if t == ns(&b) {
        b.value
    } else {
        let frac = delta(ns(&a), t) as f64 / delta(ns(&a), ns(&b)) as f64;
        a.value + (b.value - a.value) * frac
    }
}

/// Where an instant falls relative to a series.
enum Position {
    /// Before the first sample (or the series is empty).
    Before,
    /// Exactly at sample `j`.
    At(usize),
    /// Strictly between samples `j` and `j + 1`.
    Inside(usize),
    /// After the last sample.
    After,
}

fn locate(s: &[Sample], t: i64) -> Position {
    let p = s.partition_point(|x| ns(x) <= t);
    if p == 0 {
        Position::Before
    } else if ns(&s[p - 1]) == t {
        Position::At(p - 1)
    } else if p == s.len() {
        Position::After
    } else {
        Position::Inside(p - 1)
    }
}

/// For `a < b`: the first and last segments (segment `j` runs from `s[j]` to `s[j + 1]`) whose
/// interiors meet `(a, b)`, or `None` when `[a, b]` is not fully covered: it starts before the
/// first sample, ends after the last, or one of those segments is a gap.
fn covering_segments(s: &[Sample], a: i64, b: i64, max_gap_ns: i64) -> Option<(usize, usize)> {
    let (first, last) = (s.first()?, s.last()?);
    if a < ns(first) || b > ns(last) {
        return None;
    }
    // first <= a < b <= last, so both searches find an index in 1..len and both segments exist.
    let j0 = s.partition_point(|x| ns(x) <= a) - 1;
    let j1 = s.partition_point(|x| ns(x) < b) - 1;
    if (j0..=j1).any(|j| is_gap(s, j, max_gap_ns)) {
        return None;
    }
    Some((j0, j1))
}

/// The grid's intervals as nanosecond pairs.
fn intervals(grid: &Grid) -> impl Iterator<Item = (i64, i64)> + '_ {
    (0..grid.intervals()).map(|i| (grid.point(i).as_nanos(), grid.point(i + 1).as_nanos()))
}

/// The value at each grid point; see [`crate::MemStore::resample`].
pub(crate) fn resample(s: &[Sample], grid: &Grid, opts: &ResampleOptions) -> Vec<f64> {
    grid.points()
        .map(|t| {
            let t = t.as_nanos();
            match locate(s, t) {
                Position::At(j) => s[j].value,
                Position::Inside(j) if !is_gap(s, j, opts.max_gap_ns) => match opts.fill {
                    Fill::Locf => s[j].value,
                    Fill::Linear => lerp(s[j], s[j + 1], t),
                },
                Position::Inside(_) | Position::Before | Position::After => f64::NAN,
            }
        })
        .collect()
}

/// The integral over each grid interval, in value-units × seconds; see
/// [`crate::MemStore::integrate`].
pub(crate) fn integrate(s: &[Sample], grid: &Grid, opts: &ResampleOptions) -> Vec<f64> {
    intervals(grid)
        .map(|(a, b)| {
            let Some((j0, j1)) = covering_segments(s, a, b, opts.max_gap_ns) else {
                return f64::NAN;
            };
            (j0..=j1)
                .map(|j| {
                    let (l, r) = (s[j], s[j + 1]);
                    let (x, y) = (a.max(ns(&l)), b.min(ns(&r)));
                    let dt = secs(x, y);
                    match opts.fill {
                        Fill::Locf => l.value * dt,
                        Fill::Linear => 0.5 * (lerp(l, r, x) + lerp(l, r, y)) * dt,
                    }
                })
                .sum()
        })
        .collect()
}

/// The reset-corrected increase over each grid interval and the number of resets seen; see
/// [`crate::MemStore::increase`].
pub(crate) fn increase(s: &[Sample], grid: &Grid, opts: &ResampleOptions) -> (Vec<f64>, usize) {
    let (start, end) = (grid.start().as_nanos(), grid.end().as_nanos());
    // Only the segments that meet the grid's span matter: from the last sample at or before the
    // first point to the first sample at or after the last point.
    let lo = s.partition_point(|x| ns(x) <= start).saturating_sub(1);
    let hi = (s.partition_point(|x| ns(x) < end) + 1).min(s.len());
    let window = &s[lo..hi];

    let mut resets = 0;
    let mut offset = 0.0;
    let mut cumulative = Vec::with_capacity(window.len());
    for (k, x) in window.iter().enumerate() {
        if k > 0 && x.value < window[k - 1].value {
            // A reset: the counter restarted from zero, so everything counted before it is kept
            // in the offset and the new value is the increase since the reset.
            offset += window[k - 1].value;
            resets += 1;
        }
        cumulative.push(Sample::new(x.ts, x.value + offset));
    }

    let c = &cumulative;
    let values = intervals(grid)
        .map(|(a, b)| match covering_segments(c, a, b, opts.max_gap_ns) {
            Some((j0, j1)) => lerp(c[j1], c[j1 + 1], b) - lerp(c[j0], c[j0 + 1], a),
            None => f64::NAN,
        })
        .collect();
    (values, resets)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = Timestamp::NANOS_PER_SEC;

    /// Samples from `(seconds, value)` pairs.
    fn series(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t, v)| Sample::new(Timestamp::from_secs(t), v))
            .collect()
    }

    fn grid(start_s: i64, step_s: i64, len: usize) -> Grid {
        Grid::try_new(Timestamp::from_secs(start_s), step_s * S, len).unwrap()
    }

    fn linear() -> ResampleOptions {
        ResampleOptions::default()
    }

    fn locf() -> ResampleOptions {
        ResampleOptions::default().with_fill(Fill::Locf)
    }

    /// Element-wise comparison where NaN equals NaN and numbers agree to 1e-9 relative.
    #[track_caller]
    fn check(got: &[f64], expected: &[f64]) {
        assert_eq!(
            got.len(),
            expected.len(),
            "got {got:?}, expected {expected:?}"
        );
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            let ok = (g.is_nan() && e.is_nan()) || (g - e).abs() <= 1e-9 * e.abs().max(1.0);
            assert!(ok, "element {i}: got {g}, expected {e} (all: {got:?})");
        }
    }

    const NAN: f64 = f64::NAN;

    // Host PSU power every 15 s.
    fn psu() -> Vec<Sample> {
        series(&[(0, 200.0), (15, 260.0), (30, 230.0), (45, 380.0)])
    }

    #[test]
    fn resample_at_sample_points_is_exact_for_both_fills() {
        let g = grid(0, 15, 4);
        check(
            &resample(&psu(), &g, &linear()),
            &[200.0, 260.0, 230.0, 380.0],
        );
        check(
            &resample(&psu(), &g, &locf()),
            &[200.0, 260.0, 230.0, 380.0],
        );
    }

    #[test]
    fn resample_between_samples_interpolates_or_carries_forward() {
        // Points at 5, 20, 35 s: a third of the way into each segment.
        let g = grid(5, 15, 3);
        check(&resample(&psu(), &g, &linear()), &[220.0, 250.0, 280.0]);
        check(&resample(&psu(), &g, &locf()), &[200.0, 260.0, 230.0]);
    }

    #[test]
    fn resample_is_nan_outside_the_samples_except_at_them() {
        // Points at -15, 0, 15, 30, 45, 60: the first and last are outside.
        let g = grid(-15, 15, 6);
        check(
            &resample(&psu(), &g, &linear()),
            &[NAN, 200.0, 260.0, 230.0, 380.0, NAN],
        );
        check(
            &resample(&psu(), &g, &locf()),
            &[NAN, 200.0, 260.0, 230.0, 380.0, NAN],
        );
        // A single sample is known at its own instant only.
        let one = series(&[(30, 150.0)]);
        check(
            &resample(&one, &grid(15, 15, 3), &locf()),
            &[NAN, 150.0, NAN],
        );
        check(&resample(&[], &grid(15, 15, 3), &locf()), &[NAN, NAN, NAN]);
    }

    #[test]
    fn resample_leaves_nan_inside_gaps_only() {
        // 15 s cadence, then a 10-minute outage, then 15 s again.
        let s = series(&[(0, 200.0), (15, 210.0), (615, 300.0), (630, 310.0)]);
        let g = grid(0, 15, 43); // 0, 15, …, 630
        let v = resample(&s, &g, &linear());
        assert_eq!(v[0], 200.0);
        assert_eq!(v[1], 210.0, "the sample before the gap is still known");
        assert!(v[2..41].iter().all(|x| x.is_nan()), "{v:?}");
        assert_eq!(v[41], 300.0, "the sample after the gap is known again");
        assert_eq!(v[42], 310.0);
        // Raising the limit above 600 s bridges the gap.
        let wide = linear().with_max_gap_ns(900 * S);
        let v = resample(&s, &g, &wide);
        assert!(
            (v[21] - 255.0).abs() < 1e-9,
            "midpoint of 210 → 300: {}",
            v[21]
        );
        // A limit of exactly the gap still bridges it ("further apart than" is strict).
        assert!(!resample(&s, &g, &linear().with_max_gap_ns(600 * S))[2].is_nan());
        assert!(resample(&s, &g, &linear().with_max_gap_ns(600 * S - 1))[2].is_nan());
    }

    #[test]
    fn integrate_constant_power_over_a_minute() {
        let s = series(&[
            (0, 200.0),
            (15, 200.0),
            (30, 200.0),
            (45, 200.0),
            (60, 200.0),
        ]);
        check(&integrate(&s, &grid(0, 60, 2), &linear()), &[12_000.0]);
        check(&integrate(&s, &grid(0, 60, 2), &locf()), &[12_000.0]);
    }

    #[test]
    fn integrate_a_ramp_exactly() {
        // 150 W rising to 390 W over 60 s: average 270 W, 16 200 J; per 15 s: the trapezoids.
        let s = series(&[(0, 150.0), (60, 390.0)]);
        check(&integrate(&s, &grid(0, 60, 2), &linear()), &[16_200.0]);
        // 4 W/s slope: [0,15] avg 180, [15,30] avg 240, …
        check(
            &integrate(&s, &grid(0, 15, 5), &linear()),
            &[180.0 * 15.0, 240.0 * 15.0, 300.0 * 15.0, 360.0 * 15.0],
        );
        // Locf holds 150 W until the next sample.
        check(&integrate(&s, &grid(0, 15, 5), &locf()), &[2250.0; 4]);
    }

    #[test]
    fn integrate_with_samples_not_aligned_to_the_grid() {
        // Samples at 0, 10, 40, 70 s; grid at 5, 35, 65 s.
        let s = series(&[(0, 200.0), (10, 300.0), (40, 240.0), (70, 300.0)]);
        let got = integrate(&s, &grid(5, 30, 3), &linear());
        // f(5) = 250, f(35) = 250, f(65) = 290.
        // [5,35]  = [5,10] (250+300)/2*5 + [10,35] (300+250)/2*25 = 1375 + 6875 = 8250
        // [35,65] = [35,40] (250+240)/2*5 + [40,65] (240+290)/2*25 = 1225 + 6625 = 7850
        check(&got, &[8250.0, 7850.0]);
        // Step function: [5,10] 200*5 + [10,35] 300*25 = 8500; [35,40] 300*5 + [40,65] 240*25 = 7500.
        check(&integrate(&s, &grid(5, 30, 3), &locf()), &[8500.0, 7500.0]);
    }

    #[test]
    fn integrate_is_nan_for_partly_covered_intervals() {
        // Grid 0, 60, 120, 180 s; samples from 30 s to 150 s.
        let s = series(&[(30, 200.0), (90, 200.0), (150, 200.0)]);
        check(
            &integrate(&s, &grid(0, 60, 4), &linear()),
            &[NAN, 12_000.0, NAN],
        );
        // A gap inside the middle interval.
        let gapped = linear().with_max_gap_ns(59 * S);
        check(&integrate(&s, &grid(0, 60, 4), &gapped), &[NAN; 3]);
        // Intervals touching a gap only at an end point are fine.
        let s = series(&[(0, 100.0), (60, 100.0), (600, 100.0), (660, 100.0)]);
        check(&integrate(&s, &grid(0, 60, 12), &linear())[..1], &[6000.0]);
        check(&integrate(&s, &grid(600, 60, 2), &linear()), &[6000.0]);
        let v = integrate(&s, &grid(0, 60, 12), &linear());
        assert!(v[1..10].iter().all(|x| x.is_nan()), "{v:?}");
        assert_eq!(v[10], 6000.0);
    }

    #[test]
    fn increase_of_a_steady_counter() {
        // CPU seconds: 4 cores busy 50 % → 2 CPU-seconds per second.
        let s = series(&[
            (0, 1000.0),
            (15, 1030.0),
            (30, 1060.0),
            (45, 1090.0),
            (60, 1120.0),
        ]);
        let (v, resets) = increase(&s, &grid(0, 30, 3), &linear());
        check(&v, &[60.0, 60.0]);
        assert_eq!(resets, 0);
        // Grid points between samples interpolate the counter.
        let (v, _) = increase(&s, &grid(5, 20, 3), &linear());
        check(&v, &[40.0, 40.0]);
    }

    #[test]
    fn increase_across_a_counter_reset() {
        // The process restarts between 30 s and 45 s: the counter drops to 12.
        let s = series(&[
            (0, 1000.0),
            (15, 1030.0),
            (30, 1060.0),
            (45, 12.0),
            (60, 42.0),
        ]);
        let (v, resets) = increase(&s, &grid(0, 30, 3), &linear());
        assert_eq!(resets, 1);
        // [0,30]: 60. [30,60]: 12 counted since the reset, then 30 more.
        check(&v, &[60.0, 42.0]);
        let (whole, resets) = increase(&s, &grid(0, 60, 2), &linear());
        assert_eq!(resets, 1);
        check(&whole, &[102.0]);
    }

    #[test]
    fn increase_counts_only_resets_that_meet_the_grid() {
        let s = series(&[
            (0, 50.0),
            (15, 5.0),
            (30, 20.0),
            (45, 1.0),
            (60, 9.0),
            (75, 2.0),
        ]);
        let (v, resets) = increase(&s, &grid(15, 15, 3), &linear()); // 15..45
        check(&v, &[15.0, 1.0]);
        assert_eq!(resets, 1, "only the reset at 45 s lies inside 15..45");
        let (_, resets) = increase(&s, &grid(0, 15, 6), &linear());
        assert_eq!(resets, 3);
    }

    #[test]
    fn increase_is_nan_outside_and_across_gaps() {
        let s = series(&[(0, 10.0), (15, 20.0), (615, 30.0), (630, 40.0)]);
        let (v, _) = increase(&s, &grid(-15, 15, 3), &linear());
        check(&v, &[NAN, 10.0]);
        let (v, _) = increase(&s, &grid(0, 315, 3), &linear());
        check(&v, &[NAN, NAN]);
        let (v, _) = increase(&s, &grid(615, 15, 3), &linear());
        check(&v, &[10.0, NAN]);
        let (v, resets) = increase(&[], &grid(0, 15, 3), &linear());
        check(&v, &[NAN, NAN]);
        assert_eq!(resets, 0);
    }

    #[test]
    fn key_display_names_entity_sensor_and_kind() {
        let k = SeriesKey::new(EntityId::new("host-01").unwrap(), "psu1", SensorKind::Power);
        assert_eq!(k.to_string(), "host-01/psu1 (power)");
    }
}
