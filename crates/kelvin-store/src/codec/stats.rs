//! Summary statistics of a block, kept beside it so queries can skip or answer from them.

use crate::{StoreError, StoreErrorKind};

/// Summary of the samples of one block (or of several adjacent blocks, via
/// [`BlockStats::merge`]).
///
/// NaN policy: `min`, `max` and `sum` cover the non-NaN values only (±∞ included, so `sum`
/// may be ±∞, or NaN when both infinities occur); `nan_count` counts the NaNs. With no non-NaN
/// value, `min` and `max` are NaN and `sum` is 0. `first` and `last` are the values of the
/// first and last sample as stored, NaN or not. An empty summary has `count == 0`,
/// `min_ts == i64::MAX`, `max_ts == i64::MIN` and NaN `first`/`last`/`min`/`max`.
///
/// ```
/// use kelvin_store::BlockStats;
///
/// let a = BlockStats::of(&[10, 20, 30], &[4.0, f64::NAN, 1.0])?;
/// assert_eq!((a.count, a.nan_count, a.min, a.max, a.sum), (3, 1, 1.0, 4.0, 5.0));
/// let b = BlockStats::of(&[40], &[9.0])?;
/// let ab = a.merge(&b);
/// assert_eq!((ab.count, ab.min_ts, ab.max_ts, ab.first, ab.last), (4, 10, 40, 4.0, 9.0));
///
/// let bytes = ab.encode();
/// assert_eq!(bytes.len(), BlockStats::ENCODED_LEN);
/// assert_eq!(BlockStats::decode(&bytes)?, ab);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BlockStats {
    /// Number of samples.
    pub count: u64,
    /// Earliest timestamp (ns).
    pub min_ts: i64,
    /// Latest timestamp (ns).
    pub max_ts: i64,
    /// Smallest non-NaN value (NaN when there is none).
    pub min: f64,
    /// Largest non-NaN value (NaN when there is none).
    pub max: f64,
    /// Sum of the non-NaN values, added in order (0 when there is none).
    pub sum: f64,
    /// Value of the first sample.
    pub first: f64,
    /// Value of the last sample.
    pub last: f64,
    /// Number of NaN values.
    pub nan_count: u64,
}

impl PartialEq for BlockStats {
    /// Field by field, floats compared by their bits (so NaN equals the same NaN).
    fn eq(&self, o: &Self) -> bool {
        self.count == o.count
            && self.min_ts == o.min_ts
            && self.max_ts == o.max_ts
            && self.min.to_bits() == o.min.to_bits()
            && self.max.to_bits() == o.max.to_bits()
            && self.sum.to_bits() == o.sum.to_bits()
            && self.first.to_bits() == o.first.to_bits()
            && self.last.to_bits() == o.last.to_bits()
            && self.nan_count == o.nan_count
    }
}

impl Default for BlockStats {
    fn default() -> Self {
        BlockStats::EMPTY
    }
}

const STATS_VERSION: u8 = 1;

impl BlockStats {
    /// The summary of no samples (the identity of [`BlockStats::merge`]).
    pub const EMPTY: BlockStats = BlockStats {
        count: 0,
        min_ts: i64::MAX,
        max_ts: i64::MIN,
        min: f64::NAN,
        max: f64::NAN,
        sum: 0.0,
        first: f64::NAN,
        last: f64::NAN,
        nan_count: 0,
    };

    /// Length of [`BlockStats::encode`]'s output: a version byte and nine 8-byte fields.
    pub const ENCODED_LEN: usize = 1 + 9 * 8;

    /// The summary of a block's samples (in stored order; they need not be sorted).
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when `ts` and `values` differ in length.
    pub fn of(ts: &[i64], values: &[f64]) -> Result<BlockStats, StoreError> {
        if ts.len() != values.len() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!(
                    "BlockStats::of: {} timestamps but {} values",
                    ts.len(),
                    values.len()
                ),
            ));
        }
        let mut s = BlockStats::EMPTY;
        let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
            return Ok(s);
        };
        s.count = ts.len() as u64;
        s.first = first;
        s.last = last;
        for &t in ts {
            s.min_ts = s.min_ts.min(t);
            s.max_ts = s.max_ts.max(t);
        }
        for &v in values {
            if v.is_nan() {
                s.nan_count += 1;
            } else {
                // f64::min/max ignore a NaN operand, so the NaN start gives way to v.
                s.min = s.min.min(v);
                s.max = s.max.max(v);
                s.sum += v;
            }
        }
        Ok(s)
    }

    /// Adds one sample at or after every sample summarized so far (the head's running
    /// statistics).
    #[inline]
    pub(crate) fn push_in_order(&mut self, ts: i64, value: f64) {
        if self.count == 0 {
            self.min_ts = ts;
            self.first = value;
        }
        self.count += 1;
        self.max_ts = ts;
        self.last = value;
        if value.is_nan() {
            self.nan_count += 1;
        } else {
            // f64::min/max ignore a NaN operand, so the NaN start gives way to value.
            self.min = self.min.min(value);
            self.max = self.max.max(value);
            self.sum += value;
        }
    }

    /// The summary of the samples of both. `first` comes from the one with the earlier
    /// `min_ts` (`self` on a tie), `last` from the one with the later `max_ts` (`other` on a
    /// tie), which is right for adjacent blocks merged in time order. `sum` is `self.sum +
    /// other.sum`, which may differ from a single pass in the last bits.
    pub fn merge(&self, other: &BlockStats) -> BlockStats {
        if other.count == 0 {
            return *self;
        }
        if self.count == 0 {
            return *other;
        }
        BlockStats {
            // Saturating: decoded statistics may carry any count.
            count: self.count.saturating_add(other.count),
            min_ts: self.min_ts.min(other.min_ts),
            max_ts: self.max_ts.max(other.max_ts),
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            sum: self.sum + other.sum,
            first: if other.min_ts < self.min_ts {
                other.first
            } else {
                self.first
            },
            last: if self.max_ts > other.max_ts {
                self.last
            } else {
                other.last
            },
            nan_count: self.nan_count.saturating_add(other.nan_count),
        }
    }

    /// Fixed little-endian layout of [`BlockStats::ENCODED_LEN`] bytes: a version byte (1),
    /// then `count` u64, `min_ts` i64, `max_ts` i64, `min`, `max`, `sum`, `first`, `last` as
    /// f64 bits, `nan_count` u64.
    pub fn encode(&self) -> [u8; BlockStats::ENCODED_LEN] {
        let mut out = [0u8; BlockStats::ENCODED_LEN];
        out[0] = STATS_VERSION;
        let fields = [
            self.count,
            self.min_ts as u64,
            self.max_ts as u64,
            self.min.to_bits(),
            self.max.to_bits(),
            self.sum.to_bits(),
            self.first.to_bits(),
            self.last.to_bits(),
            self.nan_count,
        ];
        for (chunk, f) in out[1..].chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&f.to_le_bytes());
        }
        out
    }

    /// Reads [`BlockStats::encode`]'s layout back.
    ///
    /// # Errors
    /// [`StoreErrorKind::Corrupt`] for a wrong length or inconsistent fields (more NaNs than
    /// samples, `min_ts > max_ts` in a non-empty summary); [`StoreErrorKind::Unsupported`]
    /// for an unknown version byte.
    pub fn decode(bytes: &[u8]) -> Result<BlockStats, StoreError> {
        let corrupt = |why: String| StoreError::new(StoreErrorKind::Corrupt, why);
        if bytes.len() != BlockStats::ENCODED_LEN {
            return Err(corrupt(format!(
                "block stats: {} bytes, expected {}",
                bytes.len(),
                BlockStats::ENCODED_LEN
            )));
        }
        if bytes[0] != STATS_VERSION {
            return Err(StoreError::new(
                StoreErrorKind::Unsupported,
                format!(
                    "block stats: version {}, this build reads {STATS_VERSION}",
                    bytes[0]
                ),
            ));
        }
        let mut f = [0u64; 9];
        for (x, chunk) in f.iter_mut().zip(bytes[1..].chunks_exact(8)) {
            let mut a = [0u8; 8];
            a.copy_from_slice(chunk);
            *x = u64::from_le_bytes(a);
        }
        let s = BlockStats {
            count: f[0],
            min_ts: f[1] as i64,
            max_ts: f[2] as i64,
            min: f64::from_bits(f[3]),
            max: f64::from_bits(f[4]),
            sum: f64::from_bits(f[5]),
            first: f64::from_bits(f[6]),
            last: f64::from_bits(f[7]),
            nan_count: f[8],
        };
        if s.nan_count > s.count || (s.count > 0 && s.min_ts > s.max_ts) {
            return Err(corrupt(format!(
                "block stats: inconsistent fields (count {}, nan_count {}, min_ts {}, max_ts {})",
                s.count, s.nan_count, s.min_ts, s.max_ts
            )));
        }
        Ok(s)
    }
}
