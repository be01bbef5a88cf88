//! The query kernels: the one family of numerical kernels behind every query of both stores.
//!
//! A store decodes a series' time range into two columns — `ts` (nanoseconds since the Unix
//! epoch, sorted non-decreasing) and `values` (one `f64` per timestamp) — and answers queries
//! with the kernels here; [`crate::SeriesRead`] does so for [`crate::Store`] and
//! [`crate::MemStore`] alike. Every kernel is one walk over its inputs, validates them (equal
//! lengths, sorted timestamps) and reports bad arguments as a [`StoreError`] of kind
//! [`StoreErrorKind::InvalidInput`] or [`StoreErrorKind::InvalidGrid`]; none panics.
//!
//! Equal timestamps are allowed: where one value per instant is needed (resampling,
//! integration, as-of joins, counters) the **last** value at that instant wins, as it does when
//! a store ingests a duplicate reading. What the samples do not determine is NaN.
//!
//! - `aggregate`: [`Aggregate`], the summary of a run of samples;
//! - `buckets`: [`Buckets`] and [`time_buckets`], aggregates per time bucket;
//! - `resample`: a gauge's value at grid points ([`resample()`], [`resample_many`]);
//! - `integrate`: a gauge's exact integral over grid intervals ([`integrate()`]);
//! - `asof`: backward as-of joins ([`asof_join`], [`asof_join_many`]);
//! - `counter`: a counter's reset-corrected [`increase()`] and [`rate()`];
//! - `pooled`: the mean of several series together per grid interval ([`pooled_means`]);
//! - `selector`: which series a query names ([`Selector`], [`Matcher`]).
//!
//! The helpers below (order checks, gap test, interpolation) are shared by the kernels; the
//! kernels never touch a store's layout, files or series index.

pub(crate) mod aggregate;
pub(crate) mod asof;
pub(crate) mod buckets;
pub(crate) mod counter;
pub(crate) mod integrate;
pub(crate) mod pooled;
pub(crate) mod resample;
pub(crate) mod selector;

use kelvin_model::Timestamp;

#[cfg(doc)]
use crate::{
    Aggregate, Buckets, Matcher, Selector, asof_join, asof_join_many, increase, integrate,
    pooled_means, rate, resample, resample_many, time_buckets,
};
use crate::{Grid, StoreError, StoreErrorKind};

fn invalid(reason: String) -> StoreError {
    StoreError::new(StoreErrorKind::InvalidInput, reason)
}

/// The most cells (rows × columns) one call of [`resample_many`], [`asof_join_many`] or
/// [`crate::Store::resample_many`] returns: 2^24 = 16,777,216 values, 128 MiB of `f64`
/// (a day at one-minute points for 11,000 series). The grid bounds its own length; this
/// bounds the product with the number of series, checked before the matrix is allocated.
/// Ask for fewer series per call to go beyond it.
pub const MAX_MATRIX_CELLS: usize = 1 << 24;

/// Checks that a `rows` × `cols` result stays within [`MAX_MATRIX_CELLS`].
pub(crate) fn check_cells(what: &str, rows: usize, cols: usize) -> Result<(), StoreError> {
    match rows.checked_mul(cols) {
        Some(n) if n <= MAX_MATRIX_CELLS => Ok(()),
        _ => Err(invalid(format!(
            "{what}: {rows} points × {cols} series is over the {MAX_MATRIX_CELLS} values one \
             call returns (MAX_MATRIX_CELLS); ask for fewer series or a coarser grid per call"
        ))),
    }
}

/// Checks that `ts` and `values` have the same length.
fn check_len(what: &str, ts: &[i64], values_len: usize) -> Result<(), StoreError> {
    if ts.len() == values_len {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what}: {} timestamps but {values_len} values",
            ts.len()
        )))
    }
}

/// Checks that `ts` and `values` have the same length and that `ts` is non-decreasing.
fn check_columns(what: &str, ts: &[i64], values_len: usize) -> Result<(), StoreError> {
    check_len(what, ts, values_len)?;
    check_sorted(what, ts)
}

fn check_sorted(what: &str, ts: &[i64]) -> Result<(), StoreError> {
    match first_decrease(ts, 1) {
        None => Ok(()),
        Some(k) => Err(unsorted(what, ts, k)),
    }
}

/// The first `k >= from` with `ts[k] < ts[k - 1]`, if any.
///
/// The kernels check order as they walk the timestamps and use this for the parts they skip:
/// the columns are large and memory-bound, so each is read once.
fn first_decrease(ts: &[i64], from: usize) -> Option<usize> {
    let lo = from.saturating_sub(1).min(ts.len());
    let rest = &ts[lo..];
    if rest.is_sorted() {
        None
    } else {
        rest.windows(2)
            .position(|w| w[0] > w[1])
            .map(|i| lo + i + 1)
    }
}

fn unsorted(what: &str, ts: &[i64], i: usize) -> StoreError {
    invalid(format!(
        "{what}: timestamps must be non-decreasing, but ts[{i}] = {} comes after ts[{}] = {}",
        ts[i],
        i - 1,
        ts[i - 1]
    ))
}

/// Sorted columns with one value per instant: `ts` and `values` themselves when `ts` is
/// strictly increasing, else copies keeping the last value of each run of equal timestamps.
///
/// `ts` must be sorted (non-decreasing) and as long as `values`.
fn unique_last(ts: &[i64], values: &[f64]) -> (Vec<i64>, Vec<f64>) {
    let mut out_ts: Vec<i64> = Vec::with_capacity(ts.len());
    let mut out_v: Vec<f64> = Vec::with_capacity(ts.len());
    for (&t, &v) in ts.iter().zip(values) {
        if out_ts.last() == Some(&t) {
            if let Some(last) = out_v.last_mut() {
                *last = v;
            }
        } else {
            out_ts.push(t);
            out_v.push(v);
        }
    }
    (out_ts, out_v)
}

/// Whether `ts` (sorted) has two equal timestamps.
fn has_equal_times(ts: &[i64]) -> bool {
    ts.windows(2).any(|w| w[0] == w[1])
}

/// Whether two consecutive distinct sample times `a < b` are further apart than `max_gap_ns`.
fn is_gap(a: i64, b: i64, max_gap_ns: i64) -> bool {
    // An overflowing difference exceeds i64::MAX, hence every max_gap_ns.
    b.checked_sub(a).is_none_or(|d| d > max_gap_ns)
}

/// `to - from` as an `f64`, exact as the same conversion from `i128` (the integer is the same).
fn span_f64(from: i64, to: i64) -> f64 {
    match to.checked_sub(from) {
        Some(d) => d as f64,
        None => (i128::from(to) - i128::from(from)) as f64,
    }
}

/// Seconds from `from` to `to`.
fn secs(from: i64, to: i64) -> f64 {
    span_f64(from, to) / Timestamp::NANOS_PER_SEC as f64
}

/// The value at `t` of the line through `(a, va)` and `(b, vb)`, `a <= t <= b`, exact at both
/// ends.
fn lerp(a: i64, va: f64, b: i64, vb: f64, t: i64) -> f64 {
    if t == a {
        va
    } else if t == b {
        vb
    } else {
        va + (vb - va) * (span_f64(a, t) / span_f64(a, b))
    }
}

/// The grid's intervals as nanosecond pairs.
fn intervals(grid: &Grid) -> impl Iterator<Item = (i64, i64)> + '_ {
    (0..grid.intervals()).map(|i| (grid.point(i).as_nanos(), grid.point(i + 1).as_nanos()))
}

/// For `a < b` and strictly increasing `ts`: the first and last segments (segment `j` runs
/// from `ts[j]` to `ts[j + 1]`) whose interiors meet `(a, b)`, or `None` when `[a, b]` is not
/// fully covered: it starts before the first sample, ends after the last, or one of those
/// segments is longer than `max_gap_ns`.
fn covering_segments(ts: &[i64], a: i64, b: i64, max_gap_ns: i64) -> Option<(usize, usize)> {
    let (&first, &last) = (ts.first()?, ts.last()?);
    if a < first || b > last {
        return None;
    }
    // first <= a < b <= last, so both searches find an index in 1..len and both segments exist.
    let j0 = ts.partition_point(|&x| x <= a) - 1;
    let j1 = ts.partition_point(|&x| x < b) - 1;
    if (j0..=j1).any(|j| is_gap(ts[j], ts[j + 1], max_gap_ns)) {
        return None;
    }
    Some((j0, j1))
}

#[cfg(test)]
pub(crate) mod test_util {
    //! What the kernels' unit tests share: series written as `(seconds, value)` pairs, grids in
    //! seconds, and a comparison where NaN equals NaN.

    use kelvin_model::Timestamp;

    use crate::{Fill, Grid, ResampleOptions, Sample};

    pub(crate) const S: i64 = Timestamp::NANOS_PER_SEC;
    pub(crate) const NAN: f64 = f64::NAN;

    /// Samples from `(seconds, value)` pairs.
    pub(crate) fn series(points: &[(i64, f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&(t, v)| Sample::new(Timestamp::from_secs(t), v))
            .collect()
    }

    /// The samples as the kernels' columns.
    pub(crate) fn columns(s: &[Sample]) -> (Vec<i64>, Vec<f64>) {
        s.iter().map(|x| (x.ts.as_nanos(), x.value)).unzip()
    }

    pub(crate) fn grid(start_s: i64, step_s: i64, len: usize) -> Grid {
        Grid::try_new(Timestamp::from_secs(start_s), step_s * S, len).unwrap()
    }

    pub(crate) fn linear() -> ResampleOptions {
        ResampleOptions::default()
    }

    pub(crate) fn locf() -> ResampleOptions {
        ResampleOptions::default().with_fill(Fill::Locf)
    }

    /// Element-wise comparison where NaN equals NaN and numbers agree to 1e-9 relative.
    #[track_caller]
    pub(crate) fn check(got: &[f64], expected: &[f64]) {
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
}

#[cfg(test)]
mod tests {
    //! The kernels' shared promise: at equal timestamps the last value wins, so columns with
    //! repeated instants give, to the bit, what their de-duplicated form gives.

    use proptest::prelude::*;

    use super::*;
    use crate::{Fill, ResampleOptions, increase, integrate, resample_many};

    const S: i64 = Timestamp::NANOS_PER_SEC;
    const T0: i64 = 1_700_000_000 * S;

    /// Sorted columns with frequent equal timestamps and gaps of up to 2 minutes.
    fn columns() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
        prop::collection::vec((0..=3i64, 0..=120 * S, -1000.0..1000.0f64), 0..50).prop_map(
            |steps| {
                let mut t = T0;
                steps
                    .into_iter()
                    .map(|(kind, dt, v)| {
                        // 0: same instant; 1: whole 5 s steps (on grid points); else: anything.
                        t += match kind {
                            0 => 0,
                            1 => (dt / (5 * S)) * 5 * S,
                            _ => dt,
                        };
                        (t, v)
                    })
                    .unzip()
            },
        )
    }

    fn grids() -> impl Strategy<Value = Grid> {
        (-60i64..600, 1i64..=90, 2usize..80).prop_map(|(start, step, len)| {
            Grid::try_new(Timestamp::from_nanos(T0 + start * S), step * S, len).unwrap()
        })
    }

    fn options() -> impl Strategy<Value = ResampleOptions> {
        (any::<bool>(), 0..=200 * S).prop_map(|(linear, gap)| {
            let fill = if linear { Fill::Linear } else { Fill::Locf };
            ResampleOptions::default()
                .with_fill(fill)
                .with_max_gap_ns(gap)
        })
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    proptest! {
        #[test]
        fn equal_timestamps_give_what_their_last_values_give(
            (ts, v) in columns(),
            grid in grids(),
            opts in options(),
        ) {
            let (ut, uv) = unique_last(&ts, &v);
            prop_assert!(ut.windows(2).all(|w| w[0] < w[1]));

            let m = resample_many(&[(&ts, &v)], &grid, &opts).unwrap();
            let one = resample::resample_vec(&ut, &uv, &grid, &opts).unwrap();
            prop_assert_eq!(bits(&m.column(0).to_vec()), bits(&one));

            let got = integrate(&ts, &v, &grid, &opts).unwrap();
            prop_assert_eq!(bits(&got), bits(&integrate(&ut, &uv, &grid, &opts).unwrap()));

            let got = increase(&ts, &v, &grid, &opts).unwrap();
            let want = increase(&ut, &uv, &grid, &opts).unwrap();
            prop_assert_eq!(bits(&got.values), bits(&want.values));
            prop_assert_eq!(got.resets, want.resets);
        }
    }
}
