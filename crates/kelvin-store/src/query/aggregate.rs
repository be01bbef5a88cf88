//! [`Aggregate`]: count, sum, extremes, first and last of a run of samples.

use super::check_columns;
use crate::StoreError;
#[cfg(doc)]
use crate::StoreErrorKind;

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
    pub(super) fn of_run(ts: &[i64], values: &[f64]) -> Aggregate {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
