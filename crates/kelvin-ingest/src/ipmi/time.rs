//! BMC time stamps as ipmitool and FreeIPMI print them.
//!
//! The tools format the BMC's seconds-since-1970 in the local time zone of the machine that
//! ran them (ipmitool with `ctime`, FreeIPMI with `localtime_r`); the zone is not printed, so
//! the text is read as UTC, which is what BMCs and servers in data centers normally keep.

use kelvin_model::Timestamp;

/// 2000-01-01T00:00:00Z. Earlier times are a BMC clock that was never set (it counts from
/// 1970 at power-on), not a real date.
const EARLIEST_REAL: i64 = 946_684_800;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A short unsigned decimal.
fn num(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn month_from_name(s: &str) -> Option<i64> {
    let s = s.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == s)
        .and_then(|i| i64::try_from(i).ok())
        .map(|i| i + 1)
}

/// `15:38:52` → seconds of the day.
fn time_of_day(s: &str) -> Option<i64> {
    let mut it = s.split(':');
    let (h, m, sec) = (num(it.next()?)?, num(it.next()?)?, num(it.next()?)?);
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// `07/25/2023`, `07/25/23` (US order) or `2023-07-25` → (year, month, day).
fn date(s: &str) -> Option<(i64, i64, i64)> {
    let parts: Vec<&str> = s.split(['/', '-']).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if s.contains('/') {
        let year = match c.len() {
            2 => {
                let y = num(c)?;
                if y < 70 { 2000 + y } else { 1900 + y }
            }
            4 => num(c)?,
            _ => return None,
        };
        Some((year, num(a)?, num(b)?))
    } else if a.len() == 4 {
        Some((num(a)?, num(b)?, num(c)?))
    } else {
        None
    }
}

/// A BMC time stamp, or `None` when the text is not one of the known forms, is not a valid
/// date, or is before 2000 (a clock that was never set):
///
/// - `Tue Jul 25 15:44:18 2023` (C `asctime`, ipmitool ≤ 1.8.18),
/// - `07/25/23 15:38:52 UTC` (ipmitool ≥ 1.8.19),
/// - `07/25/2023 - 15:38:52` (FreeIPMI),
/// - `2024-05-05 13:06:44 UTC`.
pub(super) fn parse_bmc_time(text: &str) -> Option<Timestamp> {
    let mut tokens: Vec<&str> = text.split_whitespace().filter(|t| *t != "-").collect();
    if tokens
        .last()
        .is_some_and(|t| matches!(*t, "UTC" | "GMT" | "Z"))
    {
        tokens.pop();
    }
    let ((year, month, day), secs) = match tokens.as_slice() {
        [wday, mon, day, hms, year]
            if wday.len() == 3 && wday.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            (
                (num(year)?, month_from_name(mon)?, num(day)?),
                time_of_day(hms)?,
            )
        }
        [d, hms] => (date(d)?, time_of_day(hms)?),
        _ => return None,
    };
    let midnight = Timestamp::from_utc(year, month, day, 0, 0, 0, 0).ok()?;
    let t = midnight.add_nanos(secs * Timestamp::NANOS_PER_SEC);
    (t >= Timestamp::from_secs(EARLIEST_REAL)).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(text: &str) -> Option<String> {
        parse_bmc_time(text).map(Timestamp::to_rfc3339)
    }

    #[test]
    fn known_forms_parse() {
        assert_eq!(
            rfc("Tue Jul 25 15:44:18 2023").as_deref(),
            Some("2023-07-25T15:44:18Z")
        );
        assert_eq!(
            rfc("Mon Aug  1 21:22:51 2016").as_deref(),
            Some("2016-08-01T21:22:51Z")
        );
        assert_eq!(
            rfc("07/25/23 15:38:52 UTC").as_deref(),
            Some("2023-07-25T15:38:52Z")
        );
        assert_eq!(
            rfc("07/25/2023 - 15:38:52").as_deref(),
            Some("2023-07-25T15:38:52Z")
        );
        assert_eq!(
            rfc("2024-05-05 13:06:44 UTC").as_deref(),
            Some("2024-05-05T13:06:44Z")
        );
        assert_eq!(
            rfc("02/29/2024 - 00:00:00").as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc("Fri Dec 31 23:59:59 2100").as_deref(),
            Some("2100-12-31T23:59:59Z")
        );
    }

    #[test]
    fn unset_clocks_and_garbage_are_none() {
        for bad in [
            "Thu Jan  1 00:00:00 1970",
            "Thu Jan  1 05:23:11 1970",
            "01/01/1970 - 00:00:00",
            "02/29/2023 - 00:00:00",
            "13/01/2023 - 00:00:00",
            "07/25/2023 - 24:00:00",
            "07/25/2023",
            "Tue Foo 25 15:44:18 2023",
            "Tue Jul 25 15:44 2023",
            "Tue Jul 25 15:44:18:00 2023",
            "",
            "7/25/202 1:1:1",
            "99999/1/1 1:1:1",
            "2023-07-25-01 00:00:00",
        ] {
            assert_eq!(rfc(bad), None, "{bad:?}");
        }
    }
}
