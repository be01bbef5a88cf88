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

    /// Parses an RFC 3339 timestamp (`2026-11-02T08:00:00Z`, `2026-11-02T09:00:00.25+01:00`;
    /// a space or lowercase `t`/`z` accepted, fractions to nanoseconds).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming what is wrong (a field out of range, a missing offset).
    ///
    /// ```
    /// use kelvin_model::Timestamp;
    /// let t = Timestamp::parse_rfc3339("2026-11-02T09:00:00.5+01:00")?;
    /// assert_eq!(t, Timestamp::from_millis(1_793_606_400_500));
    /// assert!(Timestamp::parse_rfc3339("2026-02-30T00:00:00Z").is_err());
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, ModelError> {
        let bad = |why: &str| {
            ModelError::new(
                ErrorKind::InvalidInput,
                Place::Unknown,
                format!("{text:?} is not an RFC 3339 time: {why}"),
            )
        };
        let b = text.trim().as_bytes();
        let num = |range: std::ops::Range<usize>| -> Result<i64, ModelError> {
            let digits = b.get(range).ok_or_else(|| bad("too short"))?;
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad("expected digits"));
            }
            Ok(digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
        };
        let sep = |i: usize, ok: &[u8]| -> Result<(), ModelError> {
            if b.get(i).is_some_and(|c| ok.contains(c)) {
                Ok(())
            } else {
                Err(bad("unexpected separator"))
            }
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        sep(4, b"-")?;
        sep(7, b"-")?;
        sep(10, b"Tt ")?;
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        sep(13, b":")?;
        sep(16, b":")?;
        if second > 60 {
            return Err(bad("no such time of day"));
        }
        // A leap second (:60) is read as the first instant of the next second.
        let whole = Timestamp::from_utc(year, month, day, hour, minute, second.min(59), 0)
            .map_err(|e| bad(e.reason()))?
            .add_nanos(if second == 60 { Self::NANOS_PER_SEC } else { 0 });
        let mut i = 19;
        let mut nanos = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return Err(bad("empty fraction"));
            }
            for _ in (i - start)..9 {
                nanos *= 10;
            }
        }
        let offset_s = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
                sep(i + 3, b":")?;
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(bad("offset out of range"));
                }
                let o = oh * 3600 + om * 60;
                if *sign == b'+' { o } else { -o }
            }
            _ => return Err(bad("expected Z or a ±HH:MM offset")),
        };
        whole
            .as_nanos()
            .checked_add(nanos - offset_s * Self::NANOS_PER_SEC)
            .map(Timestamp)
            .ok_or_else(|| bad("out of the representable range"))
    }

    /// The instant of a UTC calendar date and time of day (proleptic Gregorian calendar).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a date that does not exist (February 30th), a time of
    /// day out of range, or an instant outside the representable years 1677–2262.
    ///
    /// ```
    /// use kelvin_model::Timestamp;
    /// assert_eq!(Timestamp::from_utc(2026, 11, 2, 8, 0, 0, 0)?, Timestamp::from_secs(1_793_606_400));
    /// assert!(Timestamp::from_utc(2025, 2, 29, 0, 0, 0, 0).is_err());
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn from_utc(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
        nanos: i64,
    ) -> Result<Timestamp, ModelError> {
        let bad =
            |why: &str| ModelError::new(ErrorKind::InvalidInput, Place::Unknown, why.to_string());
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&month) || day < 1 || day > month_days[(month - 1) as usize] {
            return Err(bad("no such date"));
        }
        if !(0..24).contains(&hour)
            || !(0..60).contains(&minute)
            || !(0..60).contains(&second)
            || !(0..Self::NANOS_PER_SEC).contains(&nanos)
        {
            return Err(bad("no such time of day"));
        }
        if !(1677..=2262).contains(&year) {
            return Err(bad("year outside 1677-2262"));
        }
        // Days since 1970-01-01 from a civil date (after H. Hinnant's algorithm).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        (days * 86_400 + hour * 3600 + minute * 60 + second)
            .checked_mul(Self::NANOS_PER_SEC)
            .and_then(|n| n.checked_add(nanos))
            .map(Timestamp)
            .ok_or_else(|| bad("out of the representable range"))
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

    #[test]
    fn rfc3339_parses_and_round_trips() {
        for s in [0i64, 951_782_400, 1_793_606_400, -86_401, 4_102_444_799] {
            let t = Timestamp::from_secs(s);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
        }
        // 2026-11-26T14:03:01Z is 1_795_701_781 s after the epoch; -05:30 is 19_800 s later.
        let t = Timestamp::parse_rfc3339("2026-11-26T14:03:01.123456789-05:30").unwrap();
        assert_eq!(
            t.as_nanos(),
            (1_795_701_781 + 19_800) * 1_000_000_000 + 123_456_789
        );
        let t = Timestamp::parse_rfc3339("2026-11-26 14:03:01.5z").unwrap();
        assert_eq!(t.as_nanos(), 1_795_701_781_500_000_000);
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T00:00:00",
            "2026-11-26T00:00:00+1:00",
            "2026-11-26T00:00:00.Z",
            "2026-11-26T00:00:00Zjunk",
            "\u{ff12}026-11-26T00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad:?}");
        }
        assert!(Timestamp::parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
        let ok = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01t00:00:01z", 1_000_000_000),
            ("2019-01-01T12:00:00.5Z", 1_546_344_000_500_000_000),
            ("2018-02-01T13:47:40.395939895Z", 1_517_492_860_395_939_895),
            (
                "2018-02-01T13:47:40.3959398951234Z",
                1_517_492_860_395_939_895,
            ),
            ("2018-06-18T13:30:15.6554449Z", 1_529_328_615_655_444_900),
            ("2020-01-01T14:00:00+02:00", 1_577_880_000_000_000_000),
            ("2019-12-31T23:00:00-01:00", 1_577_836_800_000_000_000),
            ("2016-12-31T23:59:60Z", 1_483_228_800_000_000_000),
            ("2000-02-29T00:00:00Z", 951_782_400_000_000_000),
        ];
        for (s, ns) in ok {
            assert_eq!(
                Timestamp::parse_rfc3339(s).unwrap(),
                Timestamp::from_nanos(ns),
                "{s}"
            );
        }
        for s in [
            "2019-01-01T12:00Z",
            "2019-1-01T12:00:00Z",
            "2019-01-01T12:00:00.Z",
            "2019-01-00T00:00:00Z",
            "2019-01-01T00:00:00+0200",
            "2019-01-01T00:00:00+24:00",
            "3000-01-01T00:00:00Z",
            "+019-01-01T00:00:00Z",
            "2019-01-01T00:00:00.-5Z",
        ] {
            assert!(Timestamp::parse_rfc3339(s).is_err(), "{s}");
        }
    }

    #[test]
    fn rfc3339_offsets_fractions_and_calendar() {
        let secs = |s: &str| Timestamp::parse_rfc3339(s).unwrap().as_nanos() as f64 / 1e9;
        assert_eq!(secs("2026-11-02T03:00:00-05:00"), 1_793_606_400.0);
        assert_eq!(secs("2026-11-02T13:30:00+05:30"), 1_793_606_400.0);
        assert_eq!(secs("1969-12-31T23:59:59Z"), -1.0);
        assert_eq!(
            Timestamp::parse_rfc3339("1969-12-31T23:59:59.25Z")
                .unwrap()
                .as_nanos(),
            -750_000_000
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2016-07-25T11:27:59.795513984+02:00")
                .unwrap()
                .as_nanos(),
            1_469_438_879_795_513_984
        );
        for bad in [
            "2016-00-08T12:25:00Z",
            "2015-02-29T12:25:00Z",
            "1900-02-29T12:25:00Z",
            "2016-04-31T12:25:00Z",
            "2016-11-08T12:60:00Z",
            "2016-11-08T12:25:61Z",
            "2016-11-08T12:25:00ZZ",
            "\u{661}\u{669}\u{667}\u{660}-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1600-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad:?}");
        }
        // Round trip with the formatter over two centuries, leap years included.
        let mut s = -2_208_988_800i64; // 1900-01-01
        while s < 7_258_118_400 {
            let t = Timestamp::from_secs(s);
            assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()).unwrap(), t);
            s += 86_400 * 37 + 3_607;
        }
    }
}
