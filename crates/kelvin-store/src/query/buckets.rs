//! [`Buckets`] and [`time_buckets`]: per-bucket aggregates of a series, aligned on an origin.

use super::aggregate::Aggregate;
use super::{first_decrease, invalid, unsorted};
use crate::{StoreError, StoreErrorKind};

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
        Ok(Buckets::empty(origin_ns.rem_euclid(width_ns), width_ns))
    }

    /// No buckets yet, on the grid of `phase_ns` and `width_ns`.
    fn empty(phase_ns: i64, width_ns: i64) -> Buckets {
        Buckets {
            phase_ns,
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
        }
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
        let mut out = Buckets::empty(self.phase_ns, self.width_ns);
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
