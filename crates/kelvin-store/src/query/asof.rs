//! Backward as-of joins: [`asof_join`] of one right series, [`asof_join_many`] of several, onto
//! left timestamps.

use ndarray::Array2;

use super::{check_cells, check_len, check_sorted, first_decrease, invalid, is_gap, unsorted};
use crate::StoreError;
#[cfg(doc)]
use crate::{MAX_MATRIX_CELLS, StoreErrorKind};

/// Writes, for each left timestamp, the right value at the latest right timestamp at or before it.
///
/// Checks the order of `right_ts` on the way (each timestamp is read once) and returns the first
/// `k` with `right_ts[k] < right_ts[k - 1]` as the error.
fn asof_into<'a>(
    left_ts: &[i64],
    right_ts: &[i64],
    right_values: &[f64],
    tolerance_ns: Option<i64>,
    out: impl IntoIterator<Item = &'a mut f64>,
) -> Result<(), usize> {
    let n = right_ts.len();
    let mut p = 0;
    for (slot, &t) in out.into_iter().zip(left_ts) {
        while p < n && right_ts[p] <= t {
            if p > 0 && right_ts[p] < right_ts[p - 1] {
                return Err(p);
            }
            p += 1;
        }
        *slot = match p.checked_sub(1) {
            Some(r) if tolerance_ns.is_none_or(|tol| !is_gap(right_ts[r], t, tol)) => {
                right_values[r]
            }
            _ => f64::NAN,
        };
    }
    first_decrease(right_ts, p).map_or(Ok(()), Err)
}

fn check_tolerance(tolerance_ns: Option<i64>) -> Result<(), StoreError> {
    match tolerance_ns {
        Some(tol) if tol < 0 => Err(invalid(format!(
            "asof_join: tolerance must not be negative, got {tol} ns"
        ))),
        _ => Ok(()),
    }
}

/// A backward as-of join: for each left timestamp, the right value at the latest right
/// timestamp at or before it (the last such value when several right samples share that
/// instant), or NaN when there is none or it is more than `tolerance_ns` older than the left
/// timestamp. Polars' `join_asof` with `strategy = backward` and exact matches allowed.
///
/// One merge walk over both sorted inputs: O(left + right).
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when `left_ts` or `right_ts` decreases, the right columns
/// differ in length, or the tolerance is negative.
///
/// ```
/// use kelvin_store::asof_join;
///
/// // Inlet temperature every 10 s, looked up at the instants of 15 s power readings.
/// let temp_ts = [0, 10, 20, 30];
/// let temp = [21.0, 21.5, 22.0, 22.5];
/// let power_ts = [0, 15, 30, 45, 60];
/// let v = asof_join(&power_ts, &temp_ts, &temp, None)?;
/// assert_eq!(v, [21.0, 21.5, 22.5, 22.5, 22.5]);
/// // With a tolerance of 20, the reading at 30 is too old for 60.
/// let v = asof_join(&power_ts, &temp_ts, &temp, Some(20))?;
/// assert_eq!(&v[..4], [21.0, 21.5, 22.5, 22.5]);
/// assert!(v[4].is_nan());
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn asof_join(
    left_ts: &[i64],
    right_ts: &[i64],
    right_values: &[f64],
    tolerance_ns: Option<i64>,
) -> Result<Vec<f64>, StoreError> {
    check_tolerance(tolerance_ns)?;
    check_sorted("asof_join: left", left_ts)?;
    check_len("asof_join: right", right_ts, right_values.len())?;
    let mut out = vec![f64::NAN; left_ts.len()];
    asof_into(left_ts, right_ts, right_values, tolerance_ns, &mut out)
        .map_err(|k| unsorted("asof_join: right", right_ts, k))?;
    Ok(out)
}

/// [`asof_join`] of several right series onto the same left timestamps: row `i` is `left_ts[i]`,
/// column `j` is `right[j]`.
///
/// # Errors
/// As [`asof_join`]; the reason names the offending right series' index.
/// [`StoreErrorKind::InvalidInput`] when the result would hold more than [`MAX_MATRIX_CELLS`]
/// values.
///
/// ```
/// use kelvin_store::asof_join_many;
///
/// let (a_ts, a) = ([0, 10], [1.0, 2.0]);
/// let (b_ts, b) = ([5], [7.0]);
/// let m = asof_join_many(&[0, 5, 10], &[(&a_ts, &a), (&b_ts, &b)], None)?;
/// assert_eq!(m.column(0).to_vec(), [1.0, 1.0, 2.0]);
/// assert!(m[[0, 1]].is_nan());
/// assert_eq!((m[[1, 1]], m[[2, 1]]), (7.0, 7.0));
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn asof_join_many(
    left_ts: &[i64],
    right: &[(&[i64], &[f64])],
    tolerance_ns: Option<i64>,
) -> Result<Array2<f64>, StoreError> {
    check_tolerance(tolerance_ns)?;
    check_cells("asof_join_many", left_ts.len(), right.len())?;
    check_sorted("asof_join_many: left", left_ts)?;
    let what = |j| format!("asof_join_many: right series {j}");
    for (j, (ts, values)) in right.iter().enumerate() {
        check_len(&what(j), ts, values.len())?;
    }
    let mut out = Array2::from_elem((left_ts.len(), right.len()), f64::NAN);
    for (j, (ts, values)) in right.iter().enumerate() {
        asof_into(left_ts, ts, values, tolerance_ns, out.column_mut(j))
            .map_err(|k| unsorted(&what(j), ts, k))?;
    }
    Ok(out)
}
