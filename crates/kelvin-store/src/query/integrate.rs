//! A gauge's exact integral over each interval of a grid: [`integrate`].

use super::{
    check_columns, covering_segments, has_equal_times, intervals, lerp, secs, unique_last,
};
#[cfg(doc)]
use crate::StoreErrorKind;
use crate::{Fill, Grid, ResampleOptions, StoreError};

/// The integral of a gauge over each interval of `grid` (`grid.intervals()` values), in the
/// value's unit × seconds: watts give joules.
///
/// The signal is the one [`crate::resample`] describes: linear between samples
/// ([`Fill::Linear`]) or a step function holding each value until the next sample
/// ([`Fill::Locf`]). The integral is exact over the samples inside each interval (not a
/// trapezoid over the grid points), so samples need not align with the grid. An interval that
/// is not fully covered — part of it before the first sample, after the last, or inside a gap
/// longer than [`ResampleOptions::max_gap_ns`] — is NaN rather than a partial sum. At equal
/// timestamps the last value wins.
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when the columns differ in length or `ts` decreases.
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::{integrate, Grid, ResampleOptions};
///
/// const S: i64 = 1_000_000_000;
/// // A PSU ramping from 150 W to 390 W over a minute: 6,300 J, then 9,900 J per 30 s.
/// let ts = [0, 15 * S, 30 * S, 45 * S, 60 * S];
/// let watts = [150.0, 210.0, 270.0, 330.0, 390.0];
/// let grid = Grid::try_new(Timestamp::from_secs(0), 30 * S, 3)?;
/// assert_eq!(integrate(&ts, &watts, &grid, &ResampleOptions::default())?, [6300.0, 9900.0]);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn integrate(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
) -> Result<Vec<f64>, StoreError> {
    check_columns("integrate", ts, values.len())?;
    if has_equal_times(ts) {
        let (ts, values) = unique_last(ts, values);
        return Ok(integrate_unique(&ts, &values, grid, opts));
    }
    Ok(integrate_unique(ts, values, grid, opts))
}

/// [`integrate`] over columns with strictly increasing timestamps: for each interval, the
/// segments that cover it, each integrated exactly between its clipped ends.
fn integrate_unique(ts: &[i64], v: &[f64], grid: &Grid, opts: &ResampleOptions) -> Vec<f64> {
    intervals(grid)
        .map(|(a, b)| {
            let Some((j0, j1)) = covering_segments(ts, a, b, opts.max_gap_ns) else {
                return f64::NAN;
            };
            (j0..=j1)
                .map(|j| {
                    let (l, r) = (ts[j], ts[j + 1]);
                    let (x, y) = (a.max(l), b.min(r));
                    let dt = secs(x, y);
                    match opts.fill {
                        Fill::Locf => v[j] * dt,
                        Fill::Linear => {
                            0.5 * (lerp(l, v[j], r, v[j + 1], x) + lerp(l, v[j], r, v[j + 1], y))
                                * dt
                        }
                    }
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;
    use crate::query::test_util::*;

    /// The kernel on samples (strictly increasing times), as the stores call it.
    fn integrate(s: &[Sample], grid: &Grid, opts: &ResampleOptions) -> Vec<f64> {
        let (ts, vs) = columns(s);
        super::integrate(&ts, &vs, grid, opts).unwrap()
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
    fn equal_timestamps_keep_the_last_value() {
        // A resent reading at 30 s replaces the first one: the signal is 200 W → 260 W → 260 W.
        let ts = [0, 30 * S, 30 * S, 60 * S];
        let w = [200.0, 999.0, 260.0, 260.0];
        let g = grid(0, 30, 3);
        let got = super::integrate(&ts, &w, &g, &linear()).unwrap();
        check(&got, &[6900.0, 7800.0]);
        let e = super::integrate(&[1, 0], &[0.0, 0.0], &g, &linear()).unwrap_err();
        assert_eq!(e.kind(), crate::StoreErrorKind::InvalidInput);
    }
}
