//! Loading one time series (a timestamp column and a value column) from CSV text.

use std::borrow::Cow;
use std::path::Path;

use kelvin_model::Timestamp;

use crate::input::Reader;
use crate::{StoreError, StoreErrorKind};

const NS: i64 = Timestamp::NANOS_PER_SEC;

/// The largest CSV file [`read_csv_series`] reads: 64 MiB (the corpus' largest series file
/// is 6 MB). Checked before the file is opened for reading, so a device or a FIFO in its place
/// is refused too.
pub const MAX_CSV_BYTES: u64 = 64 << 20;

/// The most rows [`parse_csv_series`] turns into samples: 2^22 = 4,194,304 (eight years of
/// one-minute readings), so one call holds at most 64 MiB of samples (twice that while
/// unsorted ones are sorted) whatever the text: with the text itself, about 210 MiB at most.
pub const MAX_CSV_ROWS: usize = 1 << 22;

/// Reads a CSV file and loads one series from it with [`parse_csv_series`], naming the file
/// in every error.
///
/// The file must be a regular file (symbolic links are followed) of at most
/// [`MAX_CSV_BYTES`], in UTF-8.
///
/// # Errors
/// [`StoreErrorKind::Io`] when the file cannot be read; [`StoreErrorKind::InvalidInput`] for
/// a path that is not a regular file (a device such as `/dev/zero`, a FIFO, a directory), a
/// file over [`MAX_CSV_BYTES`], text that is not UTF-8 (with its line), and as
/// [`parse_csv_series`].
///
/// ```
/// let path = std::env::temp_dir().join(format!("doc-read-csv-{}.csv", std::process::id()));
/// std::fs::write(&path, "ts,value\n1700000000,21.5\n1700000060,22\n")?;
/// let (ts, values) = kelvin_store::read_csv_series(&path, Some(0), 1)?;
/// assert_eq!((ts.len(), values[1]), (2, 22.0));
/// std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_csv_series(
    path: impl AsRef<Path>,
    ts_col: Option<usize>,
    value_col: usize,
) -> Result<(Vec<i64>, Vec<f64>), StoreError> {
    let path = path.as_ref();
    let bytes = Reader {
        what: "a CSV series",
        limit: Some((MAX_CSV_BYTES, "kelvin_store::MAX_CSV_BYTES")),
        kind: StoreErrorKind::InvalidInput,
    }
    .read(path)?;
    let source = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        StoreError::new(
            StoreErrorKind::InvalidInput,
            format!("{source}:{line}: not UTF-8 text (byte {at} of the file)"),
        )
    })?;
    parse_csv_series(&text, ts_col, value_col, &source)
}

/// Loads one series from CSV text: timestamps in nanoseconds and values, sorted by time.
///
/// - **Columns** are 0-based; fields are separated by commas and may be quoted (`"a,b"`,
///   `""` for a quote inside quotes; a quoted field cannot span lines). Blank lines are
///   skipped; extra columns are ignored.
/// - **Preamble**: a first line with fewer columns than the line after it is skipped (the
///   station line of NREL TMY3 files).
/// - **Header**: the first row (after a preamble) is a header when its value field does not
///   parse as a number; later rows must parse.
/// - **Values**: anything [`f64`]'s `FromStr` accepts (`21.5`, `-3e2`, `NaN`, `inf`).
/// - **Timestamps** (`ts_col: Some(c)`), read as UTC:
///   - integers (optionally with a fraction) since the Unix epoch, the unit inferred from the
///     magnitude of the integer part: below 10¹¹ seconds, below 10¹⁴ milliseconds, below 10¹⁷
///     microseconds, else nanoseconds;
///   - ISO 8601 / RFC 3339 dates and times: `2014-04-02T14:29:00Z`, `2014-04-02 14:29:00`,
///     `2014-04-02T14:29:00.250+02:00` (fractions to nanoseconds; offsets `Z`, `±HH:MM`,
///     `±HHMM` or `±HH`; none means UTC; seconds optional);
///   - `YYYY/MM/DD HH:MM[:SS]` and US-order `MM/DD/YYYY HH:MM[:SS]`;
///   - a date alone is midnight — unless the next column holds a time of day (`HH:MM` or
///     `HH:MM:SS`, `24:00` being the end of the day), as in TMY3's `Date,Time` columns, when
///     the two are combined.
/// - `ts_col: None`: there is no timestamp column; data row `i` (0-based) is at `i` seconds.
///
/// Samples come back sorted by time; rows with equal timestamps keep their file order. A file
/// that is empty or holds only a header gives an empty series.
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] for the first malformed row, as `source:line: column c:
/// reason` (1-based line, 0-based column): a missing column, a value or timestamp that does
/// not parse or is out of the nanosecond range once scaled to its unit, an unterminated quote;
/// for more than [`MAX_CSV_ROWS`] rows (naming the line where the limit is passed); and for
/// column numbers too large to be columns.
///
/// ```
/// use kelvin_store::parse_csv_series;
///
/// let text = "timestamp,value\n2014-04-02 14:34:00,41.4\n2014-04-02T14:29:00Z,42.6\n";
/// let (ts, values) = parse_csv_series(text, Some(0), 1, "cpu.csv")?;
/// assert_eq!(ts, [1_396_448_940_000_000_000, 1_396_449_240_000_000_000]);
/// assert_eq!(values, [42.6, 41.4]);
///
/// let err = parse_csv_series("t,v\n1,2\n3,x\n", Some(0), 1, "bad.csv").unwrap_err();
/// assert_eq!(err.reason(), "bad.csv:3: column 1: \"x\" is not a number");
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn parse_csv_series(
    text: &str,
    ts_col: Option<usize>,
    value_col: usize,
    source: &str,
) -> Result<(Vec<i64>, Vec<f64>), StoreError> {
    // One more field than needed after the timestamp, for a time-of-day column after a date.
    let (Some(need), Some(keep_ts)) = (
        ts_col.unwrap_or(0).max(value_col).checked_add(1),
        ts_col.map_or(Some(0), |c| c.checked_add(2)),
    ) else {
        let ts = ts_col.map_or("none".to_string(), |c| c.to_string());
        return Err(StoreError::new(
            StoreErrorKind::InvalidInput,
            format!("{source}: column numbers too large (timestamps: {ts}, values: {value_col})"),
        ));
    };
    let keep = need.max(keep_ts);
    let err = |line: usize, col: usize, why: String| {
        StoreError::new(
            StoreErrorKind::InvalidInput,
            format!("{source}:{line}: column {col}: {why}"),
        )
    };

    let mut ts: Vec<i64> = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    // Grows with the fields a line really has, not with the column numbers asked for.
    let mut fields: Vec<Field> = Vec::with_capacity(keep.min(16));
    let mut first_row = true;
    let preamble = preamble_line(text);

    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || Some(i) == preamble {
            continue;
        }
        fields.clear();
        split_fields(line, keep, |f| fields.push(f))
            .map_err(|col| err(line_no, col, "unterminated quoted field".to_string()))?;
        if fields.len() < need {
            return Err(err(
                line_no,
                fields.len(),
                format!("missing column: {} columns, {need} needed", fields.len()),
            ));
        }

        let vfield = fields[value_col].text(line);
        let vtext = vfield.trim();
        let value = match vtext.parse::<f64>() {
            Ok(v) => v,
            Err(_) if std::mem::replace(&mut first_row, false) => continue, // header
            Err(_) if vtext.is_empty() => {
                return Err(err(line_no, value_col, "empty value".to_string()));
            }
            Err(_) => {
                return Err(err(
                    line_no,
                    value_col,
                    format!("{vtext:?} is not a number"),
                ));
            }
        };
        first_row = false;
        if values.len() == MAX_CSV_ROWS {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!(
                    "{source}:{line_no}: more than {MAX_CSV_ROWS} rows, the most one series \
                     loads (kelvin_store::MAX_CSV_ROWS); split the file"
                ),
            ));
        }

        let t = match ts_col {
            // At most MAX_CSV_ROWS seconds: far inside the nanosecond range.
            None => i64::try_from(values.len())
                .ok()
                .and_then(|i| i.checked_mul(NS))
                .ok_or_else(|| err(line_no, 0, "row number out of range".to_string()))?,
            Some(c) => {
                let tfield = fields[c].text(line);
                let (t, date_only) = parse_timestamp(tfield.trim())
                    .map_err(|why| err(line_no, c, format!("{:?}: {why}", tfield.trim())))?;
                let time_of_day = if date_only && c + 1 != value_col {
                    fields
                        .get(c + 1)
                        .and_then(|f| parse_time_of_day(f.text(line).trim()))
                } else {
                    None
                };
                match time_of_day {
                    Some(secs) => t
                        .checked_add(secs * NS)
                        .ok_or_else(|| err(line_no, c + 1, "timestamp out of range".to_string()))?,
                    None => t,
                }
            }
        };
        ts.push(t);
        values.push(value);
    }
    if !ts.is_sorted() {
        let mut order: Vec<u32> = (0..ts.len() as u32).collect();
        order.sort_by_key(|&i| ts[i as usize]); // stable: equal times keep file order
        ts = order.iter().map(|&i| ts[i as usize]).collect();
        values = order.iter().map(|&i| values[i as usize]).collect();
    }
    Ok((ts, values))
}

/// The index of the first non-blank line when it has fewer fields than the next non-blank
/// line (a preamble such as a TMY3 station line).
fn preamble_line(text: &str) -> Option<usize> {
    let mut lines = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (i, first) = lines.next()?;
    let (_, second) = lines.next()?;
    // Counted, not collected: a line may hold millions of commas.
    let n_first = split_fields(first.trim_end_matches('\r'), usize::MAX, |_| {}).ok()?;
    let n_second = split_fields(second.trim_end_matches('\r'), usize::MAX, |_| {}).ok()?;
    (n_first < n_second).then_some(i)
}

/// One field of a line: the byte range of its content (inside the quotes when quoted) and
/// whether it holds doubled quotes to undo.
#[derive(Debug, Clone, Copy)]
struct Field {
    start: usize,
    end: usize,
    escaped: bool,
}

impl Field {
    fn text<'a>(&self, line: &'a str) -> Cow<'a, str> {
        let s = &line[self.start..self.end];
        if self.escaped {
            Cow::Owned(s.replace("\"\"", "\""))
        } else {
            Cow::Borrowed(s)
        }
    }
}

/// Hands up to `keep` fields of `line` to `out`, in order; returns how many, or
/// `Err(column)` for an unterminated quote.
fn split_fields(line: &str, keep: usize, mut out: impl FnMut(Field)) -> Result<usize, usize> {
    let b = line.as_bytes();
    let mut pos = 0;
    let mut col = 0;
    loop {
        if col == keep {
            return Ok(col);
        }
        if b.get(pos) == Some(&b'"') {
            let start = pos + 1;
            let mut i = start;
            let mut escaped = false;
            loop {
                match b.get(i) {
                    None => return Err(col),
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                        escaped = true;
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            out(Field {
                start,
                end: i,
                escaped,
            });
            col += 1;
            // Skip to the next separator (whitespace after the closing quote is tolerated).
            match b[i + 1..].iter().position(|&c| c == b',') {
                Some(off) => pos = i + 1 + off + 1,
                None => return Ok(col),
            }
        } else {
            match b[pos..].iter().position(|&c| c == b',') {
                Some(off) => {
                    out(Field {
                        start: pos,
                        end: pos + off,
                        escaped: false,
                    });
                    col += 1;
                    pos += off + 1;
                }
                None => {
                    out(Field {
                        start: pos,
                        end: b.len(),
                        escaped: false,
                    });
                    return Ok(col + 1);
                }
            }
        }
    }
}

/// A cursor over the bytes of a timestamp.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Between `min` and `max` digits as a number.
    fn num(&mut self, min: usize, max: usize, what: &str) -> Result<i64, String> {
        let start = self.i;
        let mut v = 0i64;
        while self.i - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(d - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        if self.i - start < min {
            return Err(format!("expected {what}"));
        }
        Ok(v)
    }

    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Parses a timestamp field; the flag tells whether it held a date only.
fn parse_timestamp(s: &str) -> Result<(i64, bool), String> {
    if s.is_empty() {
        return Err("empty timestamp".to_string());
    }
    let b = s.as_bytes();
    let numeric = b
        .iter()
        .enumerate()
        .all(|(i, &c)| c.is_ascii_digit() || c == b'.' || (i == 0 && (c == b'-' || c == b'+')));
    if numeric {
        return parse_epoch(s).map(|t| (t, false));
    }
    let mut c = Cursor { b, i: 0 };
    // The date: YYYY-MM-DD, YYYY/MM/DD or MM/DD/YYYY.
    let lead = c
        .num(1, 4, "")
        .map_err(|_| "not a timestamp (expected an epoch number or a date)".to_string())?;
    let (year, month, day) = if c.i == 4 {
        let sep = c.peek();
        if !matches!(sep, Some(b'-' | b'/')) {
            return Err("expected YYYY-MM-DD or YYYY/MM/DD".to_string());
        }
        c.i += 1;
        let month = c.num(1, 2, "a month")?;
        if !c.eat(sep.unwrap_or(b'-')) {
            return Err("expected YYYY-MM-DD or YYYY/MM/DD".to_string());
        }
        (lead, month, c.num(1, 2, "a day")?)
    } else if c.i <= 2 && c.eat(b'/') {
        let day = c.num(1, 2, "a day")?;
        if !c.eat(b'/') {
            return Err("expected MM/DD/YYYY".to_string());
        }
        let year = c.num(4, 4, "a four-digit year")?;
        (year, lead, day)
    } else {
        return Err("not a timestamp (expected an epoch number or a date)".to_string());
    };
    if c.done() {
        let t = civil(year, month, day, 0, 0, 0, 0)?;
        return Ok((t, true));
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return Err("expected T or a space after the date".to_string());
    }
    while c.eat(b' ') {}
    let hour = c.num(1, 2, "an hour")?;
    if !c.eat(b':') {
        return Err("expected HH:MM".to_string());
    }
    let minute = c.num(2, 2, "minutes")?;
    let mut second = 0;
    let mut nanos = 0;
    if c.eat(b':') {
        second = c.num(2, 2, "seconds")?;
        if c.eat(b'.') || c.eat(b',') {
            let start = c.i;
            while let Some(d @ b'0'..=b'9') = c.peek() {
                if c.i - start < 9 {
                    nanos = nanos * 10 + i64::from(d - b'0');
                }
                c.i += 1;
            }
            let digits = c.i - start;
            if digits == 0 {
                return Err("empty fraction of a second".to_string());
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
    }
    while c.eat(b' ') {}
    let offset_s = if c.done() || c.eat(b'Z') || c.eat(b'z') {
        0
    } else if let Some(sign @ (b'+' | b'-')) = c.peek() {
        c.i += 1;
        let oh = c.num(2, 2, "an offset hour")?;
        let om = if c.eat(b':') || c.peek().is_some_and(|d| d.is_ascii_digit()) {
            c.num(2, 2, "offset minutes")?
        } else {
            0
        };
        if oh > 23 || om > 59 {
            return Err("offset out of range".to_string());
        }
        let o = oh * 3600 + om * 60;
        if sign == b'+' { o } else { -o }
    } else {
        return Err("unexpected text after the time".to_string());
    };
    if !c.done() {
        return Err("unexpected text after the offset".to_string());
    }
    let t = civil(year, month, day, hour, minute, second, nanos)?;
    t.checked_sub(offset_s * NS)
        .map(|t| (t, false))
        .ok_or_else(|| "out of the representable range".to_string())
}

/// Nanoseconds of a UTC civil time; hour 24 (with zero minutes and seconds) is the end of the
/// day.
fn civil(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
) -> Result<i64, String> {
    let end_of_day = hour == 24 && minute == 0 && second == 0 && nanos == 0;
    let h = if end_of_day { 0 } else { hour };
    let t = Timestamp::from_utc(year, month, day, h, minute, second.min(59), nanos)
        .map_err(|e| e.reason().to_string())?
        .as_nanos();
    // A leap second (:60) is read as the first instant of the next second.
    let extra = if end_of_day { 86_400 } else { 0 } + if second == 60 { 1 } else { 0 };
    if second > 60 {
        return Err("no such time of day".to_string());
    }
    t.checked_add(extra * NS)
        .ok_or_else(|| "out of the representable range".to_string())
}

/// Seconds since midnight of `HH:MM` or `HH:MM:SS` (`24:00` allowed), else `None`.
fn parse_time_of_day(s: &str) -> Option<i64> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let h = c.num(1, 2, "").ok()?;
    if !c.eat(b':') {
        return None;
    }
    let m = c.num(2, 2, "").ok()?;
    let sec = if c.eat(b':') {
        c.num(2, 2, "").ok()?
    } else {
        0
    };
    let ok = c.done() && m < 60 && sec < 60 && (h < 24 || (h == 24 && m == 0 && sec == 0));
    ok.then_some(h * 3600 + m * 60 + sec)
}

/// An epoch number, its unit inferred from the magnitude of the integer part.
fn parse_epoch(s: &str) -> Result<i64, String> {
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || frac.contains('.') {
        return Err("not a number".to_string());
    }
    let range = || "out of the representable range".to_string();
    let whole: i64 = int.parse().map_err(|_| range())?;
    let unit: i64 = match whole {
        w if w < 100_000_000_000 => NS,
        w if w < 100_000_000_000_000 => 1_000_000,
        w if w < 100_000_000_000_000_000 => 1_000,
        _ => 1,
    };
    // The fraction in the unit, truncated to whole nanoseconds.
    let mut frac_ns = 0i64;
    let mut scale = unit;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        frac_ns += i64::from(d - b'0') * scale;
    }
    let t = whole
        .checked_mul(unit)
        .and_then(|t| t.checked_add(frac_ns))
        .ok_or_else(range)?;
    Ok(if neg { -t } else { t })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_forms() {
        let t0 = 1_396_449_340 * NS; // 2014-04-02T14:35:40Z
        let ok = |s: &str| parse_timestamp(s).unwrap().0;
        assert_eq!(ok("2014-04-02T14:35:40Z"), t0);
        assert_eq!(ok("2014-04-02 14:35:40"), t0);
        assert_eq!(ok("2014-04-02T16:35:40+02:00"), t0);
        assert_eq!(ok("2014-04-02T16:35:40+0200"), t0);
        assert_eq!(ok("2014-04-02T13:35:40-01"), t0);
        assert_eq!(ok("2014-04-02T14:35:40.25Z"), t0 + 250_000_000);
        assert_eq!(ok("2014/04/02 14:35:40"), t0);
        assert_eq!(ok("04/02/2014 14:35:40"), t0);
        assert_eq!(ok("2014/04/02 14:35"), t0 - 40 * NS);
        assert_eq!(ok("1396449340"), t0);
        assert_eq!(ok("1396449340000"), t0);
        assert_eq!(ok("1396449340000000"), t0);
        assert_eq!(ok("1396449340000000000"), t0);
        assert_eq!(ok("1396449340.5"), t0 + NS / 2);
        assert_eq!(ok("-5"), -5 * NS);
        assert_eq!(parse_timestamp("2014-04-02"), Ok((t0 - 52_540 * NS, true)));
        assert_eq!(ok("2014-04-01T24:00:00Z"), t0 - 52_540 * NS);
        for bad in [
            "",
            "x",
            "2014-13-01",
            "2014-02-30 00:00",
            "2014-04-02T14",
            "2014-04-02T1:2",
            "2014-04-02 14:35:40 junk",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_time_of_day("24:00"), Some(86_400));
        assert_eq!(parse_time_of_day("01:30"), Some(5_400));
        assert_eq!(parse_time_of_day("24:01"), None);
        assert_eq!(parse_time_of_day("x"), None);
    }

    #[test]
    fn quoted_fields() {
        let mut f = Vec::new();
        let line = r#"1,"a,b","say ""hi""",4"#;
        assert_eq!(split_fields(line, 10, |x| f.push(x)), Ok(4));
        let texts: Vec<_> = f.iter().map(|x| x.text(line).into_owned()).collect();
        assert_eq!(texts, ["1", "a,b", "say \"hi\"", "4"]);
        assert_eq!(split_fields(r#"1,"open"#, 10, |_| {}), Err(1));
        assert_eq!(split_fields("a,b,c", 2, |_| {}), Ok(2));
        assert_eq!(split_fields("", 5, |_| {}), Ok(1));
    }
}
