//! Query kernels over decoded columns.
//!
//! The store decodes a series' time range into two columns — `ts` (nanoseconds since the Unix
//! epoch, sorted non-decreasing) and `values` (one `f64` per timestamp) — and answers queries with
//! the kernels here. Every kernel is one linear walk over its inputs, validates them (equal
//! lengths, sorted timestamps) and reports bad arguments as a [`StoreError`] of kind
//! [`StoreErrorKind::InvalidInput`] or [`StoreErrorKind::InvalidGrid`]; none panics.
//!
//! Equal timestamps are allowed: where one value per instant is needed (resampling, as-of joins,
//! counters) the **last** value at that instant wins, as it does when the store ingests a
//! duplicate reading.
//! What the samples do not determine is NaN.

use std::fmt;
use std::str::FromStr;

use kelvin_model::{SensorKind, Timestamp};
use ndarray::{Array1, Array2};

use crate::series::{self, Sample, SeriesKey};
use crate::{CounterIncrease, Fill, Grid, ResampleOptions, StoreError, StoreErrorKind};

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

/// The value at `t` of the line through `(a, va)` and `(b, vb)`, `a <= t <= b`, exact at both
/// ends: the same arithmetic as the `&[Sample]` kernels, so both agree to the bit.
fn lerp(a: i64, va: f64, b: i64, vb: f64, t: i64) -> f64 {
    if t == a {
        va
    } else if t == b {
        vb
    } else {
        va + (vb - va) * (span_f64(a, t) / span_f64(a, b))
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-range aggregate
// ---------------------------------------------------------------------------------------------

/// Sum, minimum and maximum of `v`, in interleaved lanes so that the additions pipeline and the
/// comparisons vectorize. Minimum and maximum skip NaN (like [`f64::min`]) and are NaN only when
/// every value is NaN (or `v` is empty); the sum is exact up to rounding in another order than
/// left to right.
fn reduce(v: &[f64]) -> (f64, f64, f64) {
    const LANES: usize = 8;
    // -0.0 is the identity of addition (0.0 would turn a lone -0.0 into 0.0). A comparison with
    // NaN is false, so `x < lo` never takes a NaN, and lo = +inf, hi = -inf at the end means
    // that no value was a number.
    let mut sum = [-0.0f64; LANES];
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            sum[k] += c[k];
            lo[k] = if c[k] < lo[k] { c[k] } else { lo[k] };
            hi[k] = if c[k] > hi[k] { c[k] } else { hi[k] };
        }
    }
    let mut s = sum.iter().fold(-0.0, |a, &b| a + b);
    let mut min = lo
        .iter()
        .fold(f64::INFINITY, |a, &b| if b < a { b } else { a });
    let mut max = hi
        .iter()
        .fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for &x in rest {
        s += x;
        min = if x < min { x } else { min };
        max = if x > max { x } else { max };
    }
    if min == f64::INFINITY && max == f64::NEG_INFINITY {
        (s, f64::NAN, f64::NAN)
    } else {
        (s, min, max)
    }
}

/// Count, sum, extremes and the first and last samples of a run of samples: the summary a
/// block or a bucket keeps, and that combines exactly with [`Aggregate::merge`].
///
/// `min` and `max` skip NaN values (as [`f64::min`] does) unless every value is NaN; `sum`
/// propagates them. `first`/`last` are the values of the earliest and latest samples (at equal
/// timestamps: the first and the last in column order), at `first_ts`/`last_ts`.
///
/// ```
/// use kelvin_store::Aggregate;
///
/// // Two blocks of one PSU's power readings, summarized separately and then combined.
/// let a = Aggregate::of(&[0, 15, 30], &[200.0, 260.0, 230.0])?.ok_or("empty")?;
/// let b = Aggregate::of(&[45, 60], &[380.0, 190.0])?.ok_or("empty")?;
/// let all = a.merge(b);
/// assert_eq!((all.count, all.sum, all.min, all.max), (5, 1260.0, 190.0, 380.0));
/// assert_eq!((all.first, all.last, all.first_ts, all.last_ts), (200.0, 190.0, 0, 60));
/// assert_eq!(all.mean(), 252.0);
/// assert_eq!(Aggregate::of(&[], &[])?, None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Aggregate {
    /// Number of samples (at least 1).
    pub count: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Smallest value (NaN values skipped).
    pub min: f64,
    /// Largest value (NaN values skipped).
    pub max: f64,
    /// Value of the earliest sample.
    pub first: f64,
    /// Value of the latest sample.
    pub last: f64,
    /// Time of the earliest sample, nanoseconds.
    pub first_ts: i64,
    /// Time of the latest sample, nanoseconds.
    pub last_ts: i64,
}

impl Aggregate {
    /// The aggregate of one sample.
    ///
    /// ```
    /// use kelvin_store::Aggregate;
    ///
    /// let a = Aggregate::sample(15, 210.0);
    /// assert_eq!((a.count, a.sum, a.first, a.last, a.first_ts), (1, 210.0, 210.0, 210.0, 15));
    /// ```
    pub fn sample(ts: i64, value: f64) -> Aggregate {
        Aggregate {
            count: 1,
            sum: value,
            min: value,
            max: value,
            first: value,
            last: value,
            first_ts: ts,
            last_ts: ts,
        }
    }

    /// The aggregate of the columns `ts`, `values`, or `None` when they are empty.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when the columns differ in length or `ts` decreases.
    ///
    /// ```
    /// use kelvin_store::{Aggregate, StoreErrorKind};
    ///
    /// let a = Aggregate::of(&[0, 15, 15], &[1.0, 2.0, 3.0])?.ok_or("empty")?;
    /// assert_eq!((a.count, a.last), (3, 3.0));
    /// let e = Aggregate::of(&[15, 0], &[1.0, 2.0]).unwrap_err();
    /// assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(ts: &[i64], values: &[f64]) -> Result<Option<Aggregate>, StoreError> {
        check_columns("aggregate", ts, values.len())?;
        Ok((!ts.is_empty()).then(|| Aggregate::of_run(ts, values)))
    }

    /// The aggregate of sorted, non-empty columns of equal length.
    fn of_run(ts: &[i64], values: &[f64]) -> Aggregate {
        let (sum, min, max) = reduce(values);
        Aggregate {
            count: values.len() as u64,
            sum,
            min,
            max,
            first: values[0],
            last: values[values.len() - 1],
            first_ts: ts[0],
            last_ts: ts[ts.len() - 1],
        }
    }

    /// The mean value, `sum / count`.
    ///
    /// ```
    /// use kelvin_store::Aggregate;
    ///
    /// assert_eq!(Aggregate::of(&[0, 1], &[1.0, 2.0])?.ok_or("empty")?.mean(), 1.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// The aggregate of the samples of `self` and `other` together.
    ///
    /// Counts and sums add, extremes combine; `first` comes from the side with the earlier
    /// `first_ts` and `last` from the side with the later `last_ts`. When both sides have a
    /// sample at that same instant, `self` counts as the earlier input: its `first` wins and
    /// `other`'s `last` wins (last value wins). So merging per-block aggregates in time order —
    /// `a.merge(b)` with `b` after `a` — gives exactly [`Aggregate::of`] over the concatenated
    /// columns, up to floating-point rounding of the sum.
    ///
    /// ```
    /// use kelvin_store::Aggregate;
    ///
    /// let a = Aggregate::sample(30, 1.0);
    /// let b = Aggregate::sample(30, 2.0);
    /// let m = a.merge(b);
    /// assert_eq!((m.first, m.last, m.count), (1.0, 2.0, 2));
    /// ```
    #[must_use]
    pub fn merge(self, other: Aggregate) -> Aggregate {
        let (first, first_ts) = if other.first_ts < self.first_ts {
            (other.first, other.first_ts)
        } else {
            (self.first, self.first_ts)
        };
        let (last, last_ts) = if self.last_ts > other.last_ts {
            (self.last, self.last_ts)
        } else {
            (other.last, other.last_ts)
        };
        Aggregate {
            // Saturating: a count pushed by a caller may be anything.
            count: self.count.saturating_add(other.count),
            sum: self.sum + other.sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            first,
            last,
            first_ts,
            last_ts,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time buckets
// ---------------------------------------------------------------------------------------------

/// Per-bucket aggregates of a series, as columns: the result of [`time_buckets`].
///
/// Bucket `k` covers `[origin + k * width, origin + (k + 1) * width)` — closed on the left,
/// labelled by its start — for every integer `k`, also before the origin; only buckets holding
/// at least one sample are present, in increasing start order. This is Polars'
/// `group_by_dynamic` with `every = period = width`, `closed = left`, `label = left`,
/// `start_by = window_bound` and `offset = origin mod width`.
///
/// Every column has one entry per bucket; `mean` is `sum / count`. Buckets of the same width and
/// alignment combine with [`Buckets::merge`] (partial results of adjacent blocks) and
/// [`Buckets::push`] (precomputed rollups).
///
/// ```
/// use kelvin_store::time_buckets;
///
/// const S: i64 = 1_000_000_000;
/// // PSU power every 15 s; one-minute buckets.
/// let ts: Vec<i64> = (0..8).map(|i| i * 15 * S).collect();
/// let watts = [200.0, 210.0, 220.0, 230.0, 300.0, 310.0, 320.0, 330.0];
/// let b = time_buckets(&ts, &watts, 0, 60 * S)?;
/// assert_eq!(b.start(), [0, 60 * S]);
/// assert_eq!(b.count(), [4, 4]);
/// assert_eq!(b.mean(), [215.0, 315.0]);
/// assert_eq!((b.min(), b.max()), (&[200.0, 300.0][..], &[230.0, 330.0][..]));
/// assert_eq!((b.first(), b.last()), (&[200.0, 300.0][..], &[230.0, 330.0][..]));
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    /// `origin mod width`, so equal bucketings compare equal whatever origin named them.
    phase_ns: i64,
    width_ns: i64,
    start: Vec<i64>,
    count: Vec<u64>,
    sum: Vec<f64>,
    min: Vec<f64>,
    max: Vec<f64>,
    mean: Vec<f64>,
    first: Vec<f64>,
    last: Vec<f64>,
    first_ts: Vec<i64>,
    last_ts: Vec<i64>,
}

impl Buckets {
    /// Names of the columns of [`Buckets::to_array2`], in order.
    pub const VALUE_COLUMNS: [&'static str; 7] =
        ["count", "sum", "min", "max", "mean", "first", "last"];

    /// No buckets yet, of `width_ns` aligned on `origin_ns`.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidGrid`] when `width_ns <= 0`.
    ///
    /// ```
    /// use kelvin_store::Buckets;
    ///
    /// let b = Buckets::new(5, 60)?;
    /// assert!(b.is_empty());
    /// assert_eq!((b.width_ns(), b.origin_ns()), (60, 5));
    /// assert!(Buckets::new(0, 0).is_err());
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn new(origin_ns: i64, width_ns: i64) -> Result<Buckets, StoreError> {
        if width_ns <= 0 {
            return Err(StoreError::new(
                StoreErrorKind::InvalidGrid,
                format!("bucket width must be positive, got {width_ns} ns"),
            ));
        }
        Ok(Buckets {
            phase_ns: origin_ns.rem_euclid(width_ns),
            width_ns,
            start: Vec::new(),
            count: Vec::new(),
            sum: Vec::new(),
            min: Vec::new(),
            max: Vec::new(),
            mean: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
            first_ts: Vec::new(),
            last_ts: Vec::new(),
        })
    }

    fn reserve(&mut self, n: usize) {
        self.start.reserve(n);
        self.count.reserve(n);
        self.sum.reserve(n);
        self.min.reserve(n);
        self.max.reserve(n);
        self.mean.reserve(n);
        self.first.reserve(n);
        self.last.reserve(n);
        self.first_ts.reserve(n);
        self.last_ts.reserve(n);
    }

    /// Bucket width, nanoseconds.
    pub fn width_ns(&self) -> i64 {
        self.width_ns
    }

    /// The bucket boundary in `0..width`: the origin the buckets were built with, modulo the
    /// width. Two bucketings with the same width and origin line up and can be merged.
    pub fn origin_ns(&self) -> i64 {
        self.phase_ns
    }

    /// The start of the bucket holding instant `t`, or `None` when that start is before
    /// `i64::MIN` nanoseconds.
    ///
    /// ```
    /// use kelvin_store::Buckets;
    ///
    /// let b = Buckets::new(5, 60)?;
    /// assert_eq!((b.start_of(5), b.start_of(64), b.start_of(65), b.start_of(4)), (Some(5), Some(5), Some(65), Some(-55)));
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn start_of(&self, t: i64) -> Option<i64> {
        let rem = (i128::from(t) - i128::from(self.phase_ns)).rem_euclid(i128::from(self.width_ns));
        i64::try_from(i128::from(t) - rem).ok()
    }

    fn start_of_checked(&self, t: i64) -> Result<i64, StoreError> {
        self.start_of(t).ok_or_else(|| {
            invalid(format!(
                "the {} ns bucket holding {t} ns starts before the earliest representable instant",
                self.width_ns
            ))
        })
    }

    /// Number of buckets.
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// let b = time_buckets(&[0, 1, 200], &[1.0, 2.0, 3.0], 0, 60)?;
    /// assert_eq!((b.len(), b.is_empty()), (2, false));
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether there are no buckets.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// Start of each bucket, nanoseconds, increasing.
    pub fn start(&self) -> &[i64] {
        &self.start
    }

    /// Number of samples in each bucket (at least 1).
    pub fn count(&self) -> &[u64] {
        &self.count
    }

    /// Sum of each bucket's values.
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// let b = time_buckets(&[0, 1, 200], &[1.0, 2.0, 3.0], 0, 60)?;
    /// assert_eq!(b.sum(), [3.0, 3.0]);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn sum(&self) -> &[f64] {
        &self.sum
    }

    /// Smallest value of each bucket (NaN skipped unless all are NaN).
    pub fn min(&self) -> &[f64] {
        &self.min
    }

    /// Largest value of each bucket (NaN skipped unless all are NaN).
    pub fn max(&self) -> &[f64] {
        &self.max
    }

    /// Mean value of each bucket, `sum / count`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Value of each bucket's earliest sample.
    pub fn first(&self) -> &[f64] {
        &self.first
    }

    /// Value of each bucket's latest sample.
    pub fn last(&self) -> &[f64] {
        &self.last
    }

    /// Time of each bucket's earliest sample, nanoseconds.
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// let b = time_buckets(&[0, 1, 200], &[1.0, 2.0, 3.0], 0, 60)?;
    /// assert_eq!((b.first_ts(), b.last_ts()), (&[0, 200][..], &[1, 200][..]));
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn first_ts(&self) -> &[i64] {
        &self.first_ts
    }

    /// Time of each bucket's latest sample, nanoseconds.
    pub fn last_ts(&self) -> &[i64] {
        &self.last_ts
    }

    /// Bucket `i` as its start and [`Aggregate`], or `None` past the end.
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// let b = time_buckets(&[0, 10, 70], &[1.0, 3.0, 5.0], 0, 60)?;
    /// let (start, agg) = b.get(1).ok_or("no bucket")?;
    /// assert_eq!((start, agg.count, agg.first_ts), (60, 1, 70));
    /// assert!(b.get(2).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<(i64, Aggregate)> {
        (i < self.len()).then(|| self.at(i))
    }

    /// Bucket `i`, which exists.
    fn at(&self, i: usize) -> (i64, Aggregate) {
        (
            self.start[i],
            Aggregate {
                count: self.count[i],
                sum: self.sum[i],
                min: self.min[i],
                max: self.max[i],
                first: self.first[i],
                last: self.last[i],
                first_ts: self.first_ts[i],
                last_ts: self.last_ts[i],
            },
        )
    }

    /// Every bucket as its start and [`Aggregate`], in order.
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// let b = time_buckets(&[0, 1, 200], &[1.0, 2.0, 3.0], 0, 60)?;
    /// let counts: Vec<(i64, u64)> = b.iter().map(|(start, a)| (start, a.count)).collect();
    /// assert_eq!(counts, [(0, 2), (180, 1)]);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (i64, Aggregate)> + '_ {
        (0..self.len()).map(|i| self.at(i))
    }

    /// Appends a bucket, without checks (the caller keeps starts aligned and increasing).
    fn push_unchecked(&mut self, start: i64, a: &Aggregate) {
        self.start.push(start);
        self.count.push(a.count);
        self.sum.push(a.sum);
        self.min.push(a.min);
        self.max.push(a.max);
        self.mean.push(a.mean());
        self.first.push(a.first);
        self.last.push(a.last);
        self.first_ts.push(a.first_ts);
        self.last_ts.push(a.last_ts);
    }

    /// Overwrites the last bucket's aggregate.
    fn set_last(&mut self, a: &Aggregate) {
        if let Some(i) = self.len().checked_sub(1) {
            self.count[i] = a.count;
            self.sum[i] = a.sum;
            self.min[i] = a.min;
            self.max[i] = a.max;
            self.mean[i] = a.mean();
            self.first[i] = a.first;
            self.last[i] = a.last;
            self.first_ts[i] = a.first_ts;
            self.last_ts[i] = a.last_ts;
        }
    }

    /// Appends the aggregate of the samples in the bucket starting at `start` — a precomputed
    /// rollup, say. When `start` is the last bucket's start, `agg` is merged into it as the later
    /// input ([`Aggregate::merge`]).
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when `start` is not a bucket boundary, is before the last
    /// bucket's start, or `agg`'s samples (`first_ts..=last_ts`) lie outside the bucket.
    ///
    /// ```
    /// use kelvin_store::{Aggregate, Buckets};
    ///
    /// let mut b = Buckets::new(0, 60)?;
    /// b.push(0, Aggregate::sample(10, 1.0))?;
    /// b.push(0, Aggregate::sample(20, 3.0))?;
    /// b.push(120, Aggregate::sample(150, 7.0))?;
    /// assert_eq!((b.start(), b.count(), b.mean()), (&[0, 120][..], &[2, 1][..], &[2.0, 7.0][..]));
    /// assert!(b.push(60, Aggregate::sample(70, 0.0)).is_err(), "before the last bucket");
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn push(&mut self, start: i64, agg: Aggregate) -> Result<(), StoreError> {
        if self.start_of(start) != Some(start) {
            return Err(invalid(format!(
                "{start} ns is not a boundary of {} ns buckets aligned on {} ns",
                self.width_ns, self.phase_ns
            )));
        }
        let end = i128::from(start) + i128::from(self.width_ns);
        if agg.first_ts < start
            || agg.last_ts < agg.first_ts
            || i128::from(agg.last_ts) >= end
            || agg.count == 0
        {
            return Err(invalid(format!(
                "an aggregate of {} samples from {} ns to {} ns is not inside the bucket starting at {start} ns",
                agg.count, agg.first_ts, agg.last_ts
            )));
        }
        match self.len().checked_sub(1).map(|i| self.at(i)) {
            Some((last, prev)) if last == start => {
                self.set_last(&prev.merge(agg));
                Ok(())
            }
            Some((last, _)) if last > start => Err(invalid(format!(
                "bucket {start} ns pushed after bucket {last} ns; push in increasing order or use merge"
            ))),
            _ => {
                self.push_unchecked(start, &agg);
                Ok(())
            }
        }
    }

    /// Combines `other` into `self`: the buckets of the samples of both inputs together.
    ///
    /// Buckets present on one side only are taken as they are; a bucket present on both sides
    /// (a bucket split across two blocks) combines with [`Aggregate::merge`], `self` being the
    /// earlier input: counts and sums add, min and max combine, `first` comes from the earlier
    /// sample and `last` from the later one (`other`'s at equal instants). One merge walk,
    /// O(len + other.len).
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when the two bucketings differ in width or alignment;
    /// `self` is then unchanged.
    ///
    /// ```
    /// use kelvin_store::time_buckets;
    ///
    /// // One series decoded as two blocks; the minute from 60 s to 120 s is split between them.
    /// const S: i64 = 1_000_000_000;
    /// let ts: Vec<i64> = (0..12).map(|i| i * 15 * S).collect();
    /// let v: Vec<f64> = (0..12).map(|i| 100.0 + i as f64).collect();
    /// let whole = time_buckets(&ts, &v, 0, 60 * S)?;
    /// let mut merged = time_buckets(&ts[..6], &v[..6], 0, 60 * S)?;
    /// merged.merge(&time_buckets(&ts[6..], &v[6..], 0, 60 * S)?)?;
    /// assert_eq!(merged, whole);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn merge(&mut self, other: &Buckets) -> Result<(), StoreError> {
        if self.width_ns != other.width_ns || self.phase_ns != other.phase_ns {
            return Err(invalid(format!(
                "cannot merge {} ns buckets aligned on {} ns with {} ns buckets aligned on {} ns",
                self.width_ns, self.phase_ns, other.width_ns, other.phase_ns
            )));
        }
        if other.is_empty() {
            return Ok(());
        }
        let mut out = Buckets {
            start: Vec::new(),
            count: Vec::new(),
            sum: Vec::new(),
            min: Vec::new(),
            max: Vec::new(),
            mean: Vec::new(),
            first: Vec::new(),
            last: Vec::new(),
            first_ts: Vec::new(),
            last_ts: Vec::new(),
            ..*self
        };
        out.reserve(self.len() + other.len());
        let (mut i, mut j) = (0, 0);
        loop {
            match (self.get(i), other.get(j)) {
                (Some((sa, a)), Some((sb, b))) if sa == sb => {
                    out.push_unchecked(sa, &a.merge(b));
                    i += 1;
                    j += 1;
                }
                (Some((sa, a)), Some((sb, _))) if sa < sb => {
                    out.push_unchecked(sa, &a);
                    i += 1;
                }
                (_, Some((sb, b))) => {
                    out.push_unchecked(sb, &b);
                    j += 1;
                }
                (Some((sa, a)), None) => {
                    out.push_unchecked(sa, &a);
                    i += 1;
                }
                (None, None) => break,
            }
        }
        *self = out;
        Ok(())
    }
}

/// Aggregates the samples `ts`, `values` into buckets of `width_ns` aligned on `origin_ns`: count,
/// sum, min, max, mean, first and last per non-empty bucket (see [`Buckets`]).
///
/// One pass over the columns: a sample is compared with the current bucket's end, and only a
/// sample that starts a new, non-adjacent bucket costs a division.
///
/// # Errors
/// [`StoreErrorKind::InvalidGrid`] when `width_ns <= 0`; [`StoreErrorKind::InvalidInput`] when
/// the columns differ in length, `ts` decreases, or a bucket would start before `i64::MIN`.
///
/// ```
/// use kelvin_store::{time_buckets, StoreErrorKind};
///
/// // Buckets of 10 aligned on 5: [-5, 5), [5, 15), [15, 25) …; empty buckets are left out.
/// let b = time_buckets(&[0, 4, 5, 30], &[1.0, 2.0, 3.0, 4.0], 5, 10)?;
/// assert_eq!(b.start(), [-5, 5, 25]);
/// assert_eq!(b.count(), [2, 1, 1]);
/// assert_eq!(b.sum(), [3.0, 3.0, 4.0]);
/// assert_eq!(time_buckets(&[1, 0], &[1.0, 2.0], 0, 10).unwrap_err().kind(), StoreErrorKind::InvalidInput);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn time_buckets(
    ts: &[i64],
    values: &[f64],
    origin_ns: i64,
    width_ns: i64,
) -> Result<Buckets, StoreError> {
    let mut out = Buckets::new(origin_ns, width_ns)?;
    if ts.len() != values.len() {
        return Err(invalid(format!(
            "time_buckets: {} timestamps but {} values",
            ts.len(),
            values.len()
        )));
    }
    let (Some(&t0), Some(&tn)) = (ts.first(), ts.last()) else {
        return Ok(out);
    };
    let n = ts.len();
    let w = i128::from(width_ns);
    // At most one bucket per sample, and one per width spanned.
    let spanned = (i128::from(tn) - i128::from(t0)) / w + 1;
    out.reserve(usize::try_from(spanned).map_or(n, |s| s.min(n)));

    // Bucket [start, end) holds the samples i..j: found by comparing timestamps with `end`, then
    // reduced as a run of values.
    let mut start = out.start_of_checked(t0)?;
    let mut i = 0;
    while i < n {
        let end = i128::from(start) + w;
        let j = match i64::try_from(end) {
            Ok(end) => {
                // One read of the timestamps: the order check rides along.
                let mut j = i + 1;
                while j < n {
                    let t = ts[j];
                    if t < ts[j - 1] {
                        return Err(unsorted("time_buckets", ts, j));
                    }
                    if t >= end {
                        break;
                    }
                    j += 1;
                }
                j
            }
            // The bucket reaches past i64::MAX: it holds every remaining sample.
            Err(_) => {
                if let Some(k) = first_decrease(ts, i + 1) {
                    return Err(unsorted("time_buckets", ts, k));
                }
                n
            }
        };
        out.push_unchecked(start, &Aggregate::of_run(&ts[i..j], &values[i..j]));
        if j == n {
            break;
        }
        // `end <= ts[j]`, so `end` fits an i64; the next bucket usually starts right there.
        let t = ts[j];
        start = if i128::from(t) < end + w {
            end as i64
        } else {
            out.start_of_checked(t)?
        };
        i = j;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Resampling onto a grid
// ---------------------------------------------------------------------------------------------

/// Writes the value of one series at each grid point into `out` (exactly `grid.len()` slots).
///
/// The semantics of the `&[Sample]` resample kernel, over columns with equal timestamps allowed
/// (last value wins): at a sample's instant its value; strictly between two samples no further
/// apart than `max_gap_ns` the step or the line between them; NaN before the first sample, after
/// the last and inside gaps. One binary search for the first point, then a merge walk.
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

// ---------------------------------------------------------------------------------------------
// As-of join
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

/// The samples the counter kernel needs for `grid`, deduplicated (last value wins at equal
/// timestamps): from the last instant at or before the grid's start to the first at or after its
/// end, each instant's whole run included.
fn counter_samples(ts: &[i64], values: &[f64], grid: &Grid) -> Vec<Sample> {
    let (start, end) = (grid.start().as_nanos(), grid.end().as_nanos());
    let lo = match ts.partition_point(|&x| x <= start) {
        0 => 0,
        p => ts.partition_point(|&x| x < ts[p - 1]),
    };
    let hi = match ts.partition_point(|&x| x < end) {
        p if p == ts.len() => p,
        p => ts.partition_point(|&x| x <= ts[p]),
    };
    let mut out: Vec<Sample> = Vec::with_capacity(hi.saturating_sub(lo));
    for (&t, &v) in ts[lo..hi].iter().zip(&values[lo..hi]) {
        let s = Sample::new(Timestamp::from_nanos(t), v);
        match out.last_mut() {
            Some(last) if last.ts == s.ts => *last = s,
            _ => out.push(s),
        }
    }
    out
}

/// The reset-corrected increase of a counter over each interval of `grid`, with the number of
/// counter resets seen: the store's per-series counter kernel, applied to columns. A decrease
/// between consecutive samples is a reset to zero; the counter is interpolated linearly at grid
/// points; an interval not covered by samples, or reaching into a gap longer than
/// [`ResampleOptions::max_gap_ns`], is NaN. At equal timestamps the last value wins. Resets are
/// counted between consecutive samples whose segment meets the grid's span.
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
    let samples = counter_samples(ts, values, grid);
    let (values, resets) = series::increase(&samples, grid, opts);
    Ok(CounterIncrease { values, resets })
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

// ---------------------------------------------------------------------------------------------
// Label selection
// ---------------------------------------------------------------------------------------------

/// What part of a [`SeriesKey`] a [`Matcher`] tests.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{MatchField, MatchOp, Matcher, SeriesKey};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
/// let no_zone = Matcher::new(MatchField::Label("zone".into()), MatchOp::Eq(String::new()));
/// assert!(no_zone.matches(&key), "a missing label is the empty value");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchField {
    /// The entity id.
    Entity,
    /// The sensor name.
    Sensor,
    /// The kind, by its snake_case name (`power`, `fan_speed`).
    Kind,
    /// The value of a label; a series without the label has the empty value `""` (as in
    /// Prometheus), so `zone=""` selects series without a zone and `zone!="b"` includes them.
    Label(String),
}

impl MatchField {
    fn name(&self) -> &str {
        match self {
            MatchField::Entity => "entity",
            MatchField::Sensor => "sensor",
            MatchField::Kind => "kind",
            MatchField::Label(name) => name,
        }
    }

    fn value<'k>(&self, key: &'k SeriesKey) -> &'k str {
        match self {
            MatchField::Entity => key.entity.as_str(),
            MatchField::Sensor => key.sensor.as_str(),
            MatchField::Kind => key.kind.as_str(),
            MatchField::Label(name) => key.labels.get(name).unwrap_or(""),
        }
    }
}

/// How a [`Matcher`] compares a field's value.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{MatchField, MatchOp, Matcher, SeriesKey};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
/// let sensor = |op| Matcher::new(MatchField::Sensor, op).matches(&key);
/// assert!(sensor(MatchOp::Prefix("psu".into())));
/// assert!(sensor(MatchOp::Ne("psu2".into())));
/// assert!(!sensor(MatchOp::In(vec!["inlet".into(), "outlet".into()])));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MatchOp {
    /// Equal to (`=`).
    Eq(String),
    /// Not equal to (`!=`).
    Ne(String),
    /// Starts with (`^=`).
    Prefix(String),
    /// Equal to one of (`in ("a", "b")`).
    In(Vec<String>),
}

impl MatchOp {
    fn test(&self, v: &str) -> bool {
        match self {
            MatchOp::Eq(x) => v == x,
            MatchOp::Ne(x) => v != x,
            MatchOp::Prefix(x) => v.starts_with(x.as_str()),
            MatchOp::In(xs) => xs.iter().any(|x| x == v),
        }
    }
}

/// One condition on a [`SeriesKey`]: a [`MatchField`] and a [`MatchOp`].
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{Labels, MatchOp, Matcher, SeriesKey};
///
/// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power)
///     .with_labels(Labels::from_pairs([("zone", "b")]));
/// assert!(Matcher::entity("host-01").matches(&key));
/// assert!(Matcher::kind(SensorKind::Power).matches(&key));
/// assert!(Matcher::label("zone", MatchOp::In(vec!["a".into(), "b".into()])).matches(&key));
/// assert!(!Matcher::label("zone", MatchOp::Prefix("a".into())).matches(&key));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    /// What is tested.
    pub field: MatchField,
    /// How it is tested.
    pub op: MatchOp,
}

impl Matcher {
    /// `field` tested by `op`.
    ///
    /// ```
    /// use kelvin_store::{MatchField, MatchOp, Matcher};
    ///
    /// let m = Matcher::new(MatchField::Entity, MatchOp::Prefix("host-".into()));
    /// assert_eq!(m.to_string(), r#"entity^="host-""#);
    /// ```
    pub fn new(field: MatchField, op: MatchOp) -> Matcher {
        Matcher { field, op }
    }

    /// The entity id equals `id`.
    pub fn entity(id: impl Into<String>) -> Matcher {
        Matcher::new(MatchField::Entity, MatchOp::Eq(id.into()))
    }

    /// The sensor name equals `name`.
    pub fn sensor(name: impl Into<String>) -> Matcher {
        Matcher::new(MatchField::Sensor, MatchOp::Eq(name.into()))
    }

    /// The kind is `kind`.
    pub fn kind(kind: SensorKind) -> Matcher {
        Matcher::new(MatchField::Kind, MatchOp::Eq(kind.as_str().to_owned()))
    }

    /// Label `name` is tested by `op` (a missing label has the value `""`).
    pub fn label(name: impl Into<String>, op: MatchOp) -> Matcher {
        Matcher::new(MatchField::Label(name.into()), op)
    }

    /// Whether `key` satisfies this condition.
    ///
    /// ```
    /// use kelvin_model::{EntityId, SensorKind};
    /// use kelvin_store::{Matcher, SeriesKey};
    ///
    /// let key = SeriesKey::new(EntityId::new("host-01")?, "psu1", SensorKind::Power);
    /// assert!(Matcher::sensor("psu1").matches(&key));
    /// assert!(!Matcher::kind(SensorKind::Energy).matches(&key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.op.test(self.field.value(key))
    }
}

/// Writes `s` as a double-quoted string with the escapes the parser reads back.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "{s:?}")
}

impl fmt::Display for Matcher {
    /// `name op "value"` in the selector syntax, e.g. `zone="b"`, `kind in ("power", "energy")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.field.name())?;
        match &self.op {
            MatchOp::Eq(v) => {
                f.write_str("=")?;
                write_quoted(f, v)
            }
            MatchOp::Ne(v) => {
                f.write_str("!=")?;
                write_quoted(f, v)
            }
            MatchOp::Prefix(v) => {
                f.write_str("^=")?;
                write_quoted(f, v)
            }
            MatchOp::In(vs) => {
                f.write_str(" in (")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_quoted(f, v)?;
                }
                f.write_str(")")
            }
        }
    }
}

/// A set of series: the keys satisfying every one of its [`Matcher`]s (all keys when there is
/// none).
///
/// # Syntax
///
/// ```text
/// selector := head? ( "{" ( matcher ( "," matcher )* ","? )? "}" )?
/// head     := entity ( "/" sensor )? ( "(" kind ")" )?
/// matcher  := name ( "=" | "!=" | "^=" ) string  |  name "in" "(" string ( "," string )* ")"
/// ```
///
/// - `entity` is the text up to the first `/`, `{` or `(` (`*` for any entity); `sensor` the
///   text after that `/` up to `{` or `(` (it may contain `/`; `*` for any sensor); `kind` a
///   kind's snake_case name. Surrounding whitespace is ignored, so the [`SeriesKey`] display
///   `host-01/psu1 (power)` parses too.
/// - In braces, `entity`, `sensor` and `kind` name the key's fields and any other name a label
///   (letters, digits, `_`, `-`, `.`; a label of one of these three names cannot be addressed).
///   `=` is equality, `!=` inequality, `^=` a prefix, `in` set membership; a missing label
///   counts as `""`.
/// - Strings are double-quoted with the escapes `\"`, `\\`, `\n`, `\r`, `\t`, `\0` and `\u{…}`.
/// - An empty text is an error: `*` or `{}` selects every series.
///
/// A selector displays in this syntax (braces only) and parses back to itself.
///
/// ```
/// use kelvin_model::{EntityId, SensorKind};
/// use kelvin_store::{Labels, Selector, SeriesKey, StoreErrorKind};
///
/// let host = EntityId::new("host-01")?;
/// let psu = SeriesKey::new(host.clone(), "psu1", SensorKind::Power)
///     .with_labels(Labels::from_pairs([("zone", "b"), ("rack", "r12")]));
/// let inlet = SeriesKey::new(host, "inlet", SensorKind::Temperature);
///
/// let sel: Selector = r#"host-01/psu1{kind="power", zone="b"}"#.parse()?;
/// assert!(sel.matches(&psu) && !sel.matches(&inlet));
/// let sel = Selector::parse(r#"host-01{rack^="r1", kind in ("power", "temperature")}"#)?;
/// assert!(sel.matches(&psu) && !sel.matches(&inlet), "inlet has no rack label");
/// assert!(Selector::parse("*")?.matches(&inlet));
/// assert!(Selector::parse("host-01/inlet (temperature)")?.matches(&inlet));
///
/// let e = Selector::parse(r#"host-01{zone=b}"#).unwrap_err();
/// assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
/// assert!(e.reason().contains("column 14"), "{e}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Selector {
    /// The conditions, all of which a key must satisfy.
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// A selector from its conditions.
    ///
    /// ```
    /// use kelvin_model::SensorKind;
    /// use kelvin_store::{Matcher, Selector};
    ///
    /// let sel = Selector::new(vec![Matcher::entity("host-01"), Matcher::kind(SensorKind::Power)]);
    /// assert_eq!(sel.to_string(), r#"{entity="host-01", kind="power"}"#);
    /// assert_eq!(Selector::parse("host-01 (power)")?, sel);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn new(matchers: Vec<Matcher>) -> Selector {
        Selector { matchers }
    }

    /// Whether `key` satisfies every matcher.
    ///
    /// ```
    /// use kelvin_model::{EntityId, SensorKind};
    /// use kelvin_store::{Selector, SeriesKey};
    ///
    /// let key = SeriesKey::new(EntityId::new("pdu-7")?, "outlet3", SensorKind::Current);
    /// assert!(Selector::parse("pdu-7/*")?.matches(&key));
    /// assert!(!Selector::parse("pdu-7/outlet3 (power)")?.matches(&key));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(&self, key: &SeriesKey) -> bool {
        self.matchers.iter().all(|m| m.matches(key))
    }

    /// Parses the syntax above.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] naming the 1-based column (in characters) of the first
    /// problem: an unknown kind, a missing quote, operator, comma or brace, trailing text.
    ///
    /// ```
    /// use kelvin_store::Selector;
    ///
    /// let sel = Selector::parse(r#"*/psu1 { zone in ("a", "b") }"#)?;
    /// assert_eq!(sel.to_string(), r#"{sensor="psu1", zone in ("a", "b")}"#);
    /// let e = Selector::parse(r#"{kind="pwr"}"#).unwrap_err();
    /// assert!(e.reason().contains("column 7: unknown kind"), "{e}");
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Selector, StoreError> {
        Parser::new(text).selector()
    }
}

impl FromStr for Selector {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Selector, StoreError> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    /// `{m1, m2, …}` with each [`Matcher`] displayed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// A recursive-descent parser over the characters of a selector.
struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn error(&self, at: usize, what: impl fmt::Display) -> StoreError {
        invalid(format!(
            "selector {:?}: column {}: {what}",
            self.text,
            at + 1
        ))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), StoreError> {
        self.skip_ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(self.pos, format!("expected {what}")))
        }
    }

    /// Text up to (not including) a stop character or the end, trimmed; with its start column.
    fn word(&mut self, stops: &[char]) -> (usize, String) {
        self.skip_ws();
        let at = self.pos;
        while self.peek().is_some_and(|c| !stops.contains(&c)) {
            self.pos += 1;
        }
        let s: String = self.chars[at..self.pos].iter().collect();
        (at, s.trim_end().to_owned())
    }

    fn selector(mut self) -> Result<Selector, StoreError> {
        self.skip_ws();
        if self.peek().is_none() {
            return Err(self.error(0, "empty selector (use `*` for every series)"));
        }
        let mut matchers = Vec::new();
        // The head: entity, sensor, kind.
        let (at, entity) = self.word(&['/', '{', '(']);
        if entity.chars().any(char::is_whitespace) {
            return Err(self.error(at, "whitespace inside the entity"));
        }
        if !entity.is_empty() && entity != "*" {
            matchers.push(Matcher::entity(entity));
        }
        if self.eat('/') {
            let (at, sensor) = self.word(&['{', '(']);
            if sensor.is_empty() {
                return Err(self.error(at, "expected a sensor name (or `*`) after `/`"));
            }
            if sensor != "*" {
                matchers.push(Matcher::sensor(sensor));
            }
        }
        self.skip_ws();
        if self.eat('(') {
            let (at, kind) = self.word(&[')']);
            matchers.push(Matcher::kind(self.kind(at, &kind)?));
            self.expect(')', "`)` after the kind")?;
        }
        self.skip_ws();
        if self.eat('{') {
            self.skip_ws();
            while !self.eat('}') {
                matchers.push(self.matcher()?);
                self.skip_ws();
                if !self.eat(',') {
                    self.expect('}', "`,` or `}` after a matcher")?;
                    break;
                }
                self.skip_ws();
            }
        }
        self.skip_ws();
        if self.peek().is_some() {
            return Err(self.error(self.pos, "unexpected text after the selector"));
        }
        Ok(Selector { matchers })
    }

    fn kind(&self, at: usize, name: &str) -> Result<SensorKind, StoreError> {
        SensorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = SensorKind::ALL.iter().map(|k| k.as_str()).collect();
                self.error(
                    at,
                    format!("unknown kind {name:?} (one of {})", known.join(", ")),
                )
            })
    }

    fn matcher(&mut self) -> Result<Matcher, StoreError> {
        self.skip_ws();
        let at = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            self.pos += 1;
        }
        if self.pos == at {
            return Err(self.error(at, "expected a label name"));
        }
        let name: String = self.chars[at..self.pos].iter().collect();
        let field = match name.as_str() {
            "entity" => MatchField::Entity,
            "sensor" => MatchField::Sensor,
            "kind" => MatchField::Kind,
            _ => MatchField::Label(name),
        };
        self.skip_ws();
        let op_at = self.pos;
        // The strings with the columns where they start, to point at a bad kind.
        let mut strings = Vec::new();
        let op = if self.eat('=') {
            MatchOp::Eq(self.string(&mut strings)?)
        } else if self.eat('!') {
            self.expect('=', "`=` after `!`")?;
            MatchOp::Ne(self.string(&mut strings)?)
        } else if self.eat('^') {
            self.expect('=', "`=` after `^`")?;
            MatchOp::Prefix(self.string(&mut strings)?)
        } else if self.chars[self.pos..].starts_with(&['i', 'n'])
            && !self
                .chars
                .get(self.pos + 2)
                .is_some_and(|c| c.is_alphanumeric())
        {
            self.pos += 2;
            self.expect('(', "`(` after `in`")?;
            let mut set = vec![self.string(&mut strings)?];
            self.skip_ws();
            while self.eat(',') {
                set.push(self.string(&mut strings)?);
                self.skip_ws();
            }
            self.expect(')', "`,` or `)` in the set")?;
            MatchOp::In(set)
        } else {
            return Err(self.error(op_at, "expected `=`, `!=`, `^=` or `in` after the name"));
        };
        if field == MatchField::Kind && !matches!(op, MatchOp::Prefix(_)) {
            for (at, v) in &strings {
                self.kind(*at, v)?;
            }
        }
        Ok(Matcher { field, op })
    }

    /// A double-quoted string; also noted in `seen` with the column of its opening quote.
    fn string(&mut self, seen: &mut Vec<(usize, String)>) -> Result<String, StoreError> {
        self.skip_ws();
        if !self.eat('"') {
            return Err(self.error(self.pos, "expected a double-quoted string"));
        }
        let open = self.pos - 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(open, "unterminated string"));
            };
            self.pos += 1;
            match c {
                '"' => {
                    seen.push((open, s.clone()));
                    return Ok(s);
                }
                '\\' => s.push(self.escape()?),
                c => s.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, StoreError> {
        let at = self.pos - 1;
        let c = self.peek();
        self.pos += 1;
        Ok(match c {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('\'') => '\'',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('0') => '\0',
            Some('u') => {
                if !self.eat('{') {
                    return Err(self.error(self.pos, "expected `{` after `\\u`"));
                }
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    self.pos += 1;
                }
                let hex: String = self.chars[start..self.pos].iter().collect();
                if !self.eat('}') {
                    return Err(self.error(self.pos, "expected `}` closing `\\u{`"));
                }
                u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.error(at, format!("invalid escape \\u{{{hex}}}")))?
            }
            _ => return Err(self.error(at, "unknown escape")),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The column kernels against the `&[Sample]` kernels of `series.rs`, which the store's
    //! other queries use: they must agree to the bit.

    use proptest::prelude::*;

    use super::*;

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

    fn samples(ts: &[i64], values: &[f64]) -> Vec<Sample> {
        let mut out: Vec<Sample> = Vec::new();
        for (&t, &v) in ts.iter().zip(values) {
            let s = Sample::new(Timestamp::from_nanos(t), v);
            match out.last_mut() {
                Some(last) if last.ts == s.ts => *last = s,
                _ => out.push(s),
            }
        }
        out
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

    #[test]
    fn reduce_skips_nan_in_extremes_and_keeps_signed_zero() {
        let (s, lo, hi) = reduce(&[f64::NAN; 6]);
        assert!(s.is_nan() && lo.is_nan() && hi.is_nan());
        let (s, lo, hi) = reduce(&[3.0, f64::NAN, -1.0, 7.0, f64::NAN, 2.0, 0.5]);
        assert!(s.is_nan());
        assert_eq!((lo, hi), (-1.0, 7.0));
        assert_eq!(reduce(&[-0.0]).0.to_bits(), (-0.0f64).to_bits());
        let v: Vec<f64> = (1..=103).map(f64::from).collect();
        assert_eq!(reduce(&v), (5356.0, 1.0, 103.0));
    }

    proptest! {
        #[test]
        fn resample_many_agrees_with_the_sample_kernel(
            (ts, v) in columns(),
            grid in grids(),
            opts in options(),
        ) {
            let m = resample_many(&[(&ts, &v)], &grid, &opts).unwrap();
            let expected = series::resample(&samples(&ts, &v), &grid, &opts);
            prop_assert_eq!(bits(&m.column(0).to_vec()), bits(&expected));
        }

        #[test]
        fn increase_agrees_with_the_sample_kernel(
            (ts, v) in columns(),
            grid in grids(),
            opts in options(),
        ) {
            let got = increase(&ts, &v, &grid, &opts).unwrap();
            let (values, resets) = series::increase(&samples(&ts, &v), &grid, &opts);
            prop_assert_eq!(bits(&got.values), bits(&values));
            prop_assert_eq!(got.resets, resets);
        }
    }
}
