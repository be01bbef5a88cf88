//! The pooled mean of several series over each interval of a grid: [`pooled_means`].

use super::check_columns;
#[cfg(doc)]
use crate::StoreErrorKind;
use crate::{Grid, StoreError};

/// The mean of the finite samples of all `series` together in each interval of `grid`
/// (`grid.intervals()` values): every sample counts once, whichever series holds it, in the
/// interval `[a, b)` that holds its time. An interval without a finite sample is NaN; samples
/// outside the grid's span and NaN or infinite values are skipped. Meant for a group of
/// sensors read as one — the inlet temperatures of a rack's hosts — on a report's grid.
///
/// The sums run series by series in the order given, sample by sample.
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when a series' columns differ in length or its `ts`
/// decreases.
///
/// ```
/// use kelvin_model::Timestamp;
/// use kelvin_store::{Grid, pooled_means};
///
/// const S: i64 = 1_000_000_000;
/// // Two inlet sensors of one rack, minute intervals; after the first, only a NaN.
/// let (a_ts, a) = ([0, 30 * S], [20.0, 22.0]);
/// let (b_ts, b) = ([15 * S, 150 * S], [24.0, f64::NAN]);
/// let grid = Grid::try_new(Timestamp::from_secs(0), 60 * S, 4)?;
/// let mean = pooled_means([(&a_ts[..], &a[..]), (&b_ts[..], &b[..])], &grid)?;
/// assert_eq!(mean[0], 22.0);
/// assert!(mean[1].is_nan() && mean[2].is_nan());
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn pooled_means<'a>(
    series: impl IntoIterator<Item = (&'a [i64], &'a [f64])>,
    grid: &Grid,
) -> Result<Vec<f64>, StoreError> {
    let n = grid.intervals();
    let (start, end, step) = (
        grid.start().as_nanos(),
        grid.end().as_nanos(),
        grid.step_ns(),
    );
    let mut sum = vec![0.0; n];
    let mut count = vec![0u64; n];
    for (ts, values) in series {
        check_columns("pooled_means", ts, values.len())?;
        for (&t, &v) in ts.iter().zip(values) {
            if t >= start && t < end && v.is_finite() {
                // `t - start < end - start`, which fits: the grid checked its last point.
                let i = ((t - start) / step) as usize;
                sum[i] += v;
                count[i] += 1;
            }
        }
    }
    Ok(sum
        .iter()
        .zip(&count)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { f64::NAN })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelvin_model::Timestamp;

    #[test]
    fn pools_series_skips_outside_and_non_finite_and_checks_columns() {
        let grid = Grid::try_new(Timestamp::from_nanos(100), 10, 3).unwrap();
        let (ts1, v1) = (
            [95, 100, 105, 119, 120],
            [1e9, 1.0, 3.0, f64::INFINITY, 1e9],
        );
        let (ts2, v2) = ([110, 111], [4.0, 8.0]);
        let m = pooled_means([(&ts1[..], &v1[..]), (&ts2[..], &v2[..])], &grid).unwrap();
        assert_eq!(m, [2.0, 6.0]);
        let m = pooled_means(std::iter::empty(), &grid).unwrap();
        assert!(m.iter().all(|x| x.is_nan()) && m.len() == 2);
        assert!(pooled_means([(&[2, 1][..], &[0.0, 0.0][..])], &grid).is_err());
        assert!(pooled_means([(&[1][..], &[][..])], &grid).is_err());
    }
}
