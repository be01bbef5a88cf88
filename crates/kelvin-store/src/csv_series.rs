//! Loading one time series (a timestamp column and a value column) from CSV text, read by
//! the `csv` crate.

use std::path::Path;

use csv::StringRecord;
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
/// unsorted ones are sorted) whatever the text: with the text itself and the record the `csv`
/// crate is reading (a line of at most [`MAX_CSV_LINE_BYTES`], or the rest of the text after a
/// quote left open, which is an error), about 250 MiB at most.
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
/// The text is read by the `csv` crate (RFC 4180: fields separated by commas, quoted with
/// `"`, `""` for a quote inside quotes; `\n`, `\r\n` or `\r` line ends).
///
/// - **Columns** are 0-based. Blank lines are skipped; extra columns are ignored. A quoted
///   field cannot span lines: a quote still open at the end of its line is an error, in
///   whichever column. No line may be longer than [`MAX_CSV_LINE_BYTES`].
/// - **Preamble**: a first line with fewer columns than the line after it is skipped (the
///   station line of NREL TMY3 files).
/// - **Header**: the first row (after a preamble) is a header when its value field does not
///   parse as a number; later rows must parse.
/// - **Values**: anything [`f64`]'s `FromStr` accepts (`21.5`, `-3e2`, `NaN`, `inf`), spaces
///   around it ignored.
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
/// for more than [`MAX_CSV_ROWS`] rows (naming the line where the limit is passed); for a line
/// over [`MAX_CSV_LINE_BYTES`] (checked before any row is read); and for column numbers too
/// large to be columns.
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
    let Some(need) = ts_col.unwrap_or(0).max(value_col).checked_add(1) else {
        let ts = ts_col.map_or("none".to_string(), |c| c.to_string());
        return Err(StoreError::new(
            StoreErrorKind::InvalidInput,
            format!("{source}: column numbers too large (timestamps: {ts}, values: {value_col})"),
        ));
    };
    // Before the `csv` crate builds a record, which costs a word per field: a line of commas
    // would otherwise take eight times its length.
    if let Some((i, line)) = text
        .split('\n')
        .enumerate()
        .find(|(_, l)| l.len() > MAX_CSV_LINE_BYTES)
    {
        return Err(StoreError::new(
            StoreErrorKind::InvalidInput,
            format!(
                "{source}:{}: a line of {} bytes, over the limit of {MAX_CSV_LINE_BYTES} \
                 (kelvin_store::MAX_CSV_LINE_BYTES)",
                i + 1,
                line.len()
            ),
        ));
    }
    let mut rows = Rows {
        source,
        ts_col,
        value_col,
        need,
        first_row: true,
        ts: Vec::new(),
        values: Vec::new(),
    };
    let mut records = Records::new(text, source);
    // The first two lines decide whether the first is a preamble.
    if let Some((first_line, first)) = records.next()?.map(|(l, r)| (l, r.clone())) {
        match records.next()? {
            None => rows.row(first_line, &first)?,
            Some((line, second)) => {
                let preamble =
                    first.len() < second.len() && !spans_lines(&first) && !spans_lines(second);
                if !preamble {
                    rows.row(first_line, &first)?;
                }
                rows.row(line, second)?;
            }
        }
    }
    while let Some((line, rec)) = records.next()? {
        rows.row(line, rec)?;
    }
    drop(records);
    let Rows {
        mut ts, mut values, ..
    } = rows;
    if !ts.is_sorted() {
        let mut order: Vec<u32> = (0..ts.len() as u32).collect();
        order.sort_by_key(|&i| ts[i as usize]); // stable: equal times keep file order
        ts = order.iter().map(|&i| ts[i as usize]).collect();
        values = order.iter().map(|&i| values[i as usize]).collect();
    }
    Ok((ts, values))
}

/// The longest line [`parse_csv_series`] reads: 1 MiB (a line of a time series holds a few
/// dozen fields; TMY3's, the widest in the corpus, about 500 bytes). Checked before the `csv`
/// crate reads any of the text, so a record of the `csv` crate holds at most 1 MiB of text and
/// 8 MiB of field offsets.
pub const MAX_CSV_LINE_BYTES: usize = 1 << 20;

/// Whether a field of `rec` holds a line end: a quote left open at the end of its line.
fn spans_lines(rec: &StringRecord) -> bool {
    rec.iter().any(|f| f.contains('\n'))
}

/// The non-blank records of CSV text, as the `csv` crate reads them, with their lines.
struct Records<'t> {
    text: &'t str,
    source: &'t str,
    reader: csv::Reader<&'t [u8]>,
    record: StringRecord,
}

impl<'t> Records<'t> {
    fn new(text: &'t str, source: &'t str) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        Records {
            text,
            source,
            reader,
            record: StringRecord::new(),
        }
    }

    /// The next record that is not a blank line (only spaces), with the line it starts on.
    fn next(&mut self) -> Result<Option<(usize, &StringRecord)>, StoreError> {
        loop {
            let start = self.reader.position().clone();
            // Text in memory is never an I/O error, is UTF-8, and records may differ in length
            // (`flexible`): the `csv` crate has no error left to report but its own.
            let more = self.reader.read_record(&mut self.record).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::InvalidInput,
                    format!("{}:{}: {e}", self.source, start.line()),
                )
            })?;
            if !more {
                return Ok(None);
            }
            let at = self.record.position().unwrap_or(&start);
            let (line, from) = (at.line(), at.byte());
            let to = self.reader.position().byte();
            let raw = usize::try_from(from)
                .ok()
                .zip(usize::try_from(to).ok())
                .and_then(|(a, b)| self.text.get(a..b))
                .unwrap_or("");
            if raw.trim().is_empty() {
                continue;
            }
            let line = usize::try_from(line).unwrap_or(usize::MAX);
            return Ok(Some((line, &self.record)));
        }
    }
}

/// The samples read so far, and how to read a row.
struct Rows<'s> {
    source: &'s str,
    ts_col: Option<usize>,
    value_col: usize,
    /// Fields a row needs.
    need: usize,
    /// Whether no row has been read yet (the first may be a header).
    first_row: bool,
    ts: Vec<i64>,
    values: Vec<f64>,
}

impl Rows<'_> {
    fn err(&self, line: usize, col: usize, why: String) -> StoreError {
        StoreError::new(
            StoreErrorKind::InvalidInput,
            format!("{}:{line}: column {col}: {why}", self.source),
        )
    }

    /// Reads the row `rec`, which starts on line `line`: a sample, or the header.
    fn row(&mut self, line: usize, rec: &StringRecord) -> Result<(), StoreError> {
        if let Some(col) = rec.iter().position(|f| f.contains('\n')) {
            return Err(self.err(line, col, "unterminated quoted field".to_string()));
        }
        if rec.len() < self.need {
            let why = format!(
                "missing column: {} columns, {} needed",
                rec.len(),
                self.need
            );
            return Err(self.err(line, rec.len(), why));
        }
        let value_col = self.value_col;
        let vtext = rec.get(value_col).unwrap_or("").trim();
        let value = match vtext.parse::<f64>() {
            Ok(v) => v,
            Err(_) if std::mem::replace(&mut self.first_row, false) => return Ok(()), // header
            Err(_) if vtext.is_empty() => {
                return Err(self.err(line, value_col, "empty value".to_string()));
            }
            Err(_) => {
                return Err(self.err(line, value_col, format!("{vtext:?} is not a number")));
            }
        };
        self.first_row = false;
        if self.values.len() == MAX_CSV_ROWS {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                format!(
                    "{}:{line}: more than {MAX_CSV_ROWS} rows, the most one series loads \
                     (kelvin_store::MAX_CSV_ROWS); split the file",
                    self.source
                ),
            ));
        }
        let t = match self.ts_col {
            // At most MAX_CSV_ROWS seconds: far inside the nanosecond range.
            None => i64::try_from(self.values.len())
                .ok()
                .and_then(|i| i.checked_mul(NS))
                .ok_or_else(|| self.err(line, 0, "row number out of range".to_string()))?,
            Some(c) => self.timestamp(line, rec, c)?,
        };
        self.ts.push(t);
        self.values.push(value);
        Ok(())
    }

    /// The timestamp of `rec` in column `c`, with the time of day of column `c + 1` when
    /// column `c` holds a date alone.
    fn timestamp(&self, line: usize, rec: &StringRecord, c: usize) -> Result<i64, StoreError> {
        let tfield = rec.get(c).unwrap_or("").trim();
        let (t, date_only) = parse_timestamp(tfield)
            .map_err(|why| self.err(line, c, format!("{tfield:?}: {why}")))?;
        let time_of_day = if date_only && c + 1 != self.value_col {
            rec.get(c + 1).and_then(|f| parse_time_of_day(f.trim()))
        } else {
            None
        };
        match time_of_day {
            Some(secs) => t
                .checked_add(secs * NS)
                .ok_or_else(|| self.err(line, c + 1, "timestamp out of range".to_string())),
            None => Ok(t),
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
        let text = "1,\"a,b\",\"say \"\"hi\"\"\",4\n2,\" 5 \",x,6\n";
        let (ts, values) = parse_csv_series(text, Some(0), 3, "q.csv").unwrap();
        assert_eq!((ts, values), (vec![NS, 2 * NS], vec![4.0, 6.0]));
        let (_, values) = parse_csv_series(text, Some(0), 1, "q.csv").unwrap();
        // "a,b" in the first row is a header's name; " 5 " in the second a value.
        assert_eq!(values, vec![5.0]);
        let e = parse_csv_series("1,\"open\n2,3\n", Some(0), 1, "q.csv").unwrap_err();
        assert_eq!(e.reason(), "q.csv:1: column 1: unterminated quoted field");
        // An open quote past the columns read is an error too: it would swallow the lines
        // after it.
        let e = parse_csv_series("1,2,\"x\n3,4\n", Some(0), 1, "q.csv").unwrap_err();
        assert_eq!(e.reason(), "q.csv:1: column 2: unterminated quoted field");
    }

    #[test]
    fn over_long_lines_are_refused_before_they_are_read() {
        let mut text = "1,2\n".to_string();
        text.push_str(&",".repeat(MAX_CSV_LINE_BYTES + 1));
        let e = parse_csv_series(&text, Some(0), 1, "w.csv").unwrap_err();
        assert_eq!(
            e.reason(),
            format!(
                "w.csv:2: a line of {} bytes, over the limit of {MAX_CSV_LINE_BYTES} \
                 (kelvin_store::MAX_CSV_LINE_BYTES)",
                MAX_CSV_LINE_BYTES + 1
            )
        );
    }
}
