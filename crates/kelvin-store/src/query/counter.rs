//! A counter's reset-corrected [`increase`] over each interval of a grid, and its [`rate`].

use kelvin_model::Timestamp;

use super::{check_columns, covering_segments, has_equal_times, intervals, span_f64, unique_last};
#[cfg(doc)]
use crate::StoreErrorKind;
use crate::{Grid, ResampleOptions, StoreError};

/// The result of [`increase`], [`rate`] and [`crate::SeriesRead::increase`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CounterIncrease {
    /// The reset-corrected increase over each grid interval (`grid.intervals()` values, in the
    /// counter's unit; per second for [`rate`]), NaN where the samples do not cover the
    /// interval.
    pub values: Vec<f64>,
    /// Counter resets detected between consecutive samples whose segment overlaps the grid's
    /// span (`grid.start()..=grid.end()`).
    pub resets: usize,
}

/// The samples (indexes `lo..hi` of sorted `ts`) the counter kernel needs for `grid`: from the
/// last instant at or before the grid's start to the first at or after its end, each instant's
/// whole run of equal timestamps included.
fn window(ts: &[i64], grid: &Grid) -> (usize, usize) {
    let (start, end) = (grid.start().as_nanos(), grid.end().as_nanos());
    let lo = match ts.partition_point(|&x| x <= start) {
        0 => 0,
        p => ts.partition_point(|&x| x < ts[p - 1]),
    };
    let hi = match ts.partition_point(|&x| x < end) {
        p if p == ts.len() => p,
        p => ts.partition_point(|&x| x <= ts[p]),
    };
    (lo, hi.max(lo))
}

/// [`increase`] over columns with strictly increasing timestamps.
fn increase_unique(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
) -> CounterIncrease {
    let (start, end) = (grid.start().as_nanos(), grid.end().as_nanos());
    // Only the segments that meet the grid's span matter: from the last sample at or before the
    // first point to the first sample at or after the last point.
    let lo = ts.partition_point(|&x| x <= start).saturating_sub(1);
    let hi = (ts.partition_point(|&x| x < end) + 1).min(ts.len());
    let (ts, values) = (&ts[lo..hi], &values[lo..hi]);

    // Each segment's increase: the difference of its ends or, where the counter dropped (a
    // reset: it restarted from zero), its new value, counted since the reset.
    let delta = |j: usize| {
        let (x, y) = (values[j], values[j + 1]);
        if y < x { y } else { y - x }
    };
    let resets = (0..ts.len().saturating_sub(1))
        .filter(|&j| values[j + 1] < values[j])
        .count();
    // An interval's increase is the part of each segment inside it (a whole segment's
    // increase where the segment lies inside), summed from the first segment to the last:
    // it depends on the samples around the interval alone, not on where the read began, so a
    // chunk read interval by interval and one read in one piece agree to the bit.
    let values = intervals(grid)
        .map(
            |(a, b)| match covering_segments(ts, a, b, opts.max_gap_ns) {
                Some((j0, j1)) => (j0..=j1)
                    .map(|j| {
                        let (l, r) = (ts[j], ts[j + 1]);
                        let (x, y) = (a.max(l), b.min(r));
                        if (x, y) == (l, r) {
                            delta(j)
                        } else {
                            delta(j) * (span_f64(x, y) / span_f64(l, r))
                        }
                    })
                    .sum(),
                None => f64::NAN,
            },
        )
        .collect();
    CounterIncrease { values, resets }
}

/// The reset-corrected increase of a counter over each interval of `grid`, with the number of
/// counter resets seen, like Prometheus' `increase` but exact rather than extrapolated.
///
/// First the samples become a reset-corrected cumulative: a decrease between consecutive
/// samples is a counter reset, so the new value is the increase since the reset and the
/// previous value is carried in an offset. The corrected cumulative is interpolated linearly at
/// the grid points and differenced. An interval is NaN when part of it lies before the first
/// sample or after the last, or it reaches into a gap longer than
/// [`ResampleOptions::max_gap_ns`] (resets during a gap cannot be counted);
/// [`ResampleOptions::fill`] is ignored. At equal timestamps the last value wins. Resets are
/// counted between consecutive samples whose segment meets the grid's span
/// (`grid.start()..=grid.end()`).
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when the columns differ in length or `ts` decreases.
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::{increase, Grid, ResampleOptions};
///
/// const S: i64 = 1_000_000_000;
/// // An energy counter (J) every 15 s; the exporter restarts between 30 s and 45 s.
/// let ts = [0, 15 * S, 30 * S, 45 * S, 60 * S];
/// let joules = [1000.0, 4000.0, 7000.0, 1200.0, 4200.0];
/// let grid = Grid::try_new(Timestamp::from_secs(0), 30 * S, 3)?;
/// let inc = increase(&ts, &joules, &grid, &ResampleOptions::default())?;
/// assert_eq!(inc.values, [6000.0, 4200.0]);
/// assert_eq!(inc.resets, 1);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn increase(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
) -> Result<CounterIncrease, StoreError> {
    check_columns("increase", ts, values.len())?;
    let (lo, hi) = window(ts, grid);
    let (ts, values) = (&ts[lo..hi], &values[lo..hi]);
    if has_equal_times(ts) {
        let (ts, values) = unique_last(ts, values);
        return Ok(increase_unique(&ts, &values, grid, opts));
    }
    Ok(increase_unique(ts, values, grid, opts))
}

/// The per-second rate of a counter over each interval of `grid`: [`increase`] divided by the
/// grid step in seconds. The returned [`CounterIncrease`] holds rates in its `values`.
///
/// # Errors
/// As [`increase`].
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::{rate, Grid, ResampleOptions};
///
/// const S: i64 = 1_000_000_000;
/// // Energy in joules → average power in watts.
/// let ts = [0, 15 * S, 30 * S, 45 * S, 60 * S];
/// let joules = [1000.0, 4000.0, 7000.0, 1200.0, 4200.0];
/// let grid = Grid::try_new(Timestamp::from_secs(0), 30 * S, 3)?;
/// let watts = rate(&ts, &joules, &grid, &ResampleOptions::default())?;
/// assert_eq!(watts.values, [200.0, 140.0]);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn rate(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
) -> Result<CounterIncrease, StoreError> {
    let mut inc = increase(ts, values, grid, opts)?;
    let secs = grid.step_ns() as f64 / Timestamp::NANOS_PER_SEC as f64;
    for v in &mut inc.values {
        *v /= secs;
    }
    Ok(inc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;
    use crate::query::test_util::*;

    /// The kernel on samples (strictly increasing times), as the stores call it.
    fn increase(s: &[Sample], grid: &Grid, opts: &ResampleOptions) -> (Vec<f64>, usize) {
        let (ts, vs) = columns(s);
        let inc = super::increase(&ts, &vs, grid, opts).unwrap();
        (inc.values, inc.resets)
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
}
