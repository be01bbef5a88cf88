use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{ErrorKind, ModelError, Place};

/// An instant as signed nanoseconds since the Unix epoch (UTC).
///
/// Nanoseconds in an `i64` cover the years 1677–2262, which is every timestamp a sensor emits,
/// and keep arithmetic exact (no float drift when intervals are summed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Nanoseconds per second.
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    /// "No time": the source gave none and the caller supplied none (an IPMI capture read from
    /// a file). Such readings can be printed and inspected but not stored; check with
    /// [`Timestamp::is_known`].
    pub const UNKNOWN: Timestamp = Timestamp(i64::MIN);

    /// Whether this is a real instant rather than [`Timestamp::UNKNOWN`].
    pub const fn is_known(self) -> bool {
        self.0 != i64::MIN
    }

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }

    /// From milliseconds since the epoch (the Prometheus exposition unit), saturating.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// From whole seconds since the epoch, saturating.
    pub const fn from_secs(s: i64) -> Self {
        Timestamp(s.saturating_mul(Self::NANOS_PER_SEC))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch as a float (for display and rates; not for keys).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::NANOS_PER_SEC as f64
    }

    /// RFC 3339 in UTC with second precision (`2026-11-02T08:00:00Z`); fractions of a second
    /// are truncated.
    ///
    /// ```
    /// use kelvin_model::Timestamp;
    /// assert_eq!(Timestamp::from_secs(1_793_606_400).to_rfc3339(), "2026-11-02T08:00:00Z");
    /// assert_eq!(Timestamp::from_secs(0).to_rfc3339(), "1970-01-01T00:00:00Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        // Civil date from days since 1970-01-01 (proleptic Gregorian calendar), after
        // H. Hinnant's "chrono-compatible low-level date algorithms".
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    }

    /// `self + ns`, saturating.
    pub const fn add_nanos(self, ns: i64) -> Self {
        Timestamp(self.0.saturating_add(ns))
    }

    /// Signed nanoseconds from `earlier` to `self`, saturating.
    pub const fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(Self::NANOS_PER_SEC);
        if nanos == 0 {
            write!(f, "{secs}s")
        } else {
            write!(f, "{secs}.{nanos:09}s")
        }
    }
}

/// A half-open time interval `[start, end)` with `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRange")]
pub struct TimeRange {
    start: Timestamp,
    end: Timestamp,
}

#[derive(Deserialize)]
struct RawRange {
    start: Timestamp,
    end: Timestamp,
}

impl TryFrom<RawRange> for TimeRange {
    type Error = ModelError;
    fn try_from(r: RawRange) -> Result<Self, ModelError> {
        TimeRange::try_new(r.start, r.end)
    }
}

impl TimeRange {
    /// A range, validated.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] when `start >= end`.
    pub fn try_new(start: Timestamp, end: Timestamp) -> Result<Self, ModelError> {
        if start < end {
            Ok(TimeRange { start, end })
        } else {
            Err(ModelError::new(
                ErrorKind::InvalidInput,
                Place::Unknown,
                format!("time range start {start} is not before end {end}"),
            ))
        }
    }

    /// Inclusive start.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Exclusive end.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Length in nanoseconds (always positive).
    pub fn len_nanos(&self) -> i64 {
        self.end.nanos_since(self.start)
    }

    /// Whether `t` lies in `[start, end)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_rejects_empty_and_reversed() {
        let a = Timestamp::from_secs(10);
        let b = Timestamp::from_secs(20);
        assert!(TimeRange::try_new(a, b).is_ok());
        assert_eq!(
            TimeRange::try_new(a, a).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(TimeRange::try_new(b, a).is_err());
        let r = TimeRange::try_new(a, b).unwrap();
        assert!(r.contains(a) && !r.contains(b));
        assert_eq!(r.len_nanos(), 10 * Timestamp::NANOS_PER_SEC);
    }

    #[test]
    fn range_deserialization_validates() {
        let bad = serde_json::from_str::<TimeRange>(r#"{"start":5,"end":5}"#);
        assert!(bad.is_err());
        let ok: TimeRange = serde_json::from_str(r#"{"start":5,"end":6}"#).unwrap();
        assert_eq!(ok.len_nanos(), 1);
    }

    #[test]
    fn conversions_saturate_and_display() {
        assert_eq!(Timestamp::from_millis(1500).as_nanos(), 1_500_000_000);
        assert_eq!(Timestamp::from_millis(i64::MAX).as_nanos(), i64::MAX);
        assert_eq!(Timestamp::from_millis(1500).to_string(), "1.500000000s");
        assert_eq!(Timestamp::from_secs(-1).to_string(), "-1s");
        assert_eq!(
            Timestamp::from_secs(-1).to_rfc3339(),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_secs(951_782_400).to_rfc3339(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_secs(4_102_444_799).to_rfc3339(),
            "2099-12-31T23:59:59Z"
        );
    }
}
