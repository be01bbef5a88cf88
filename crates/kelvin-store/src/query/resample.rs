//! A gauge's value at each point of a grid: [`resample`] for one series, [`resample_many`] for
//! many on one grid.

use ndarray::{Array1, Array2};

use super::{check_cells, check_len, first_decrease, is_gap, lerp, unsorted};
use crate::{Fill, Grid, ResampleOptions, StoreError};
#[cfg(doc)]
use crate::{MAX_MATRIX_CELLS, StoreErrorKind};

/// Writes the value of one series at each grid point into `out` (exactly `grid.len()` slots).
///
/// Over columns with equal timestamps allowed (last value wins): at a sample's instant its
/// value; strictly between two samples no further apart than `max_gap_ns` the step or the line
/// between them; NaN before the first sample, after the last and inside gaps. One binary search
/// for the first point, then a merge walk.
///
/// Checks the order of `ts` on the way (each timestamp is read once) and returns the first `k`
/// with `ts[k] < ts[k - 1]` as the error; `ts` and `values` have the same length.
fn resample_into<'a>(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
    out: impl IntoIterator<Item = &'a mut f64>,
) -> Result<(), usize> {
    let n = ts.len();
    let step = grid.step_ns();
    let mut t = grid.start().as_nanos();
    // p: number of samples at or before t. The samples the search skips are checked here, the
    // walked ones as they are passed, the rest at the end.
    let mut p = ts.partition_point(|&x| x <= t);
    if let Some(k) = first_decrease(&ts[..p], 1) {
        return Err(k);
    }
    // The last index of the run of samples at ts[p] (the right neighbour, last value wins).
    let mut right = (usize::MAX, usize::MAX);
    for (i, slot) in out.into_iter().enumerate() {
        if i > 0 {
            // Every grid point is representable, so this cannot overflow.
            t += step;
            while p < n && ts[p] <= t {
                if p > 0 && ts[p] < ts[p - 1] {
                    return Err(p);
                }
                p += 1;
            }
        }
        *slot = if p == 0 {
            f64::NAN
        } else if ts[p - 1] == t {
            values[p - 1]
        } else if p == n || is_gap(ts[p - 1], ts[p], opts.max_gap_ns) {
            f64::NAN
        } else {
            match opts.fill {
                Fill::Locf => values[p - 1],
                Fill::Linear => {
                    if right.0 != p {
                        let mut r = p;
                        while r + 1 < n && ts[r + 1] == ts[p] {
                            r += 1;
                        }
                        right = (p, r);
                    }
                    lerp(ts[p - 1], values[p - 1], ts[p], values[right.1], t)
                }
            }
        };
    }
    first_decrease(ts, p).map_or(Ok(()), Err)
}

/// The value of one series at each point of `grid` (see [`resample_many`] for the semantics).
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when the columns differ in length or `ts` decreases.
///
/// ```
/// use kelvin_store::{resample, Fill, Grid, ResampleOptions};
/// use kelvin_model::Timestamp;
///
/// let grid = Grid::try_new(Timestamp::from_nanos(5), 10, 4)?; // 5, 15, 25, 35
/// let v = resample(&[0, 10, 20, 30], &[0.0, 10.0, 20.0, 30.0], &grid, &ResampleOptions::default())?;
/// assert_eq!(&v.to_vec()[..3], [5.0, 15.0, 25.0]);
/// assert!(v[3].is_nan(), "after the last sample");
/// let locf = ResampleOptions::default().with_fill(Fill::Locf);
/// let v = resample(&[0, 10, 20, 30], &[0.0, 10.0, 20.0, 30.0], &grid, &locf)?;
/// assert_eq!(&v.to_vec()[..3], [0.0, 10.0, 20.0]);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn resample(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
) -> Result<Array1<f64>, StoreError> {
    check_len("resample", ts, values.len())?;
    let mut out = Array1::from_elem(grid.len(), f64::NAN);
    resample_into(ts, values, grid, opts, out.iter_mut())
        .map_err(|k| unsorted("resample", ts, k))?;
    Ok(out)
}

/// [`resample`] into a `Vec`: what [`crate::SeriesRead::resample`] returns.
pub(crate) fn resample_vec(
    ts: &[i64],
    values: &[f64],
    grid: &Grid,
    opts: &ResampleOptions,
) -> Result<Vec<f64>, StoreError> {
    check_len("resample", ts, values.len())?;
    let mut out = vec![f64::NAN; grid.len()];
    resample_into(ts, values, grid, opts, out.iter_mut())
        .map_err(|k| unsorted("resample", ts, k))?;
    Ok(out)
}

/// The values of many series at each point of one grid: row `i` is grid point `i`, column `j` is
/// `series[j]` (its `(ts, values)` columns).
///
/// The semantics of the store's per-series resampling: at a sample's instant, its value (the last one
/// at that instant); strictly between two consecutive samples no further apart than
/// [`ResampleOptions::max_gap_ns`], the last value carried forward ([`Fill::Locf`]) or the line
/// between them ([`Fill::Linear`]); NaN before the first sample, after the last and across
/// longer gaps. Linear time per series: the grid and the samples are walked together.
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when a series' columns differ in length or its timestamps
/// decrease (the reason names the series' index), or when the result would hold more than
/// [`MAX_MATRIX_CELLS`] values.
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::{resample_many, Fill, Grid, ResampleOptions};
///
/// const S: i64 = 1_000_000_000;
/// // Two PSUs at 15 s cadence, the second one starting later; a 30 s grid.
/// let (t1, w1) = (vec![0, 15 * S, 30 * S, 45 * S, 60 * S], vec![200.0, 210.0, 220.0, 230.0, 240.0]);
/// let (t2, w2) = (vec![30 * S, 45 * S, 60 * S], vec![100.0, 110.0, 120.0]);
/// let grid = Grid::try_new(Timestamp::from_secs(0), 30 * S, 3)?;
/// let opts = ResampleOptions::default().with_fill(Fill::Locf);
/// let m = resample_many(&[(&t1, &w1), (&t2, &w2)], &grid, &opts)?;
/// assert_eq!(m.shape(), [3, 2]);
/// assert_eq!(m.column(0).to_vec(), [200.0, 220.0, 240.0]);
/// assert!(m[[0, 1]].is_nan(), "before the second PSU's first sample");
/// assert_eq!((m[[1, 1]], m[[2, 1]]), (100.0, 120.0));
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn resample_many(
    series: &[(&[i64], &[f64])],
    grid: &Grid,
    opts: &ResampleOptions,
) -> Result<Array2<f64>, StoreError> {
    check_cells("resample_many", grid.len(), series.len())?;
    let what = |j| format!("resample_many: series {j}");
    for (j, (ts, values)) in series.iter().enumerate() {
        check_len(&what(j), ts, values.len())?;
    }
    let mut out = Array2::from_elem((grid.len(), series.len()), f64::NAN);
    for (j, (ts, values)) in series.iter().enumerate() {
        resample_into(ts, values, grid, opts, out.column_mut(j))
            .map_err(|k| unsorted(&what(j), ts, k))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sample;
    use crate::query::test_util::*;

    /// The kernel on samples (strictly increasing times), as the stores call it.
    fn resample(s: &[Sample], grid: &Grid, opts: &ResampleOptions) -> Vec<f64> {
        let (ts, vs) = columns(s);
        resample_vec(&ts, &vs, grid, opts).unwrap()
    }

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
}
