//! The line grammar of Prometheus exposition text (0.0.4): one line parsed into slices
//! ([`parse_core`], the decoder's path, which copies nothing) or into owned parts
//! ([`parse_line`]). The label-set parser serves OpenMetrics too, strictly
//! ([`super::om_line`]).

use crate::Reason;

/// One parsed sample line, before mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub metric: String,
    /// Labels in line order.
    pub labels: Vec<(String, String)>,
    /// The value as written (NaN allowed).
    pub value: f64,
    /// Milliseconds since the epoch, if the line had a timestamp.
    pub timestamp_ms: Option<i64>,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// Blank, comment, or well-formed metadata: not a record.
    Skip,
    /// A sample.
    Sample(Sample),
}

/// A syntax error in one line: the reason and a detail with the column.
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    /// The counted reason.
    pub reason: Reason,
    /// What exactly is wrong, with a 1-based column.
    pub detail: String,
}

pub(super) fn err<T>(
    reason: Reason,
    col: usize,
    what: impl std::fmt::Display,
) -> Result<T, LineError> {
    Err(line_error(reason, col, what))
}

/// A [`LineError`] at 0-based column `col`.
pub(super) fn line_error(reason: Reason, col: usize, what: impl std::fmt::Display) -> LineError {
    LineError {
        reason,
        detail: format!("{what} at column {}", col + 1),
    }
}

pub(super) fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

pub(super) fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Byte ranges of one label in a line: name, raw value (between the quotes), and whether the
/// value contains escapes.
#[derive(Debug, Clone, Copy)]
pub(super) struct LabelSpan {
    pub(super) name: (usize, usize),
    pub(super) value: (usize, usize),
    pub(super) escaped: bool,
}

/// A sample line parsed without copying: slices of the (trimmed) line.
pub(super) struct Core<'a> {
    pub(super) line: &'a str,
    pub(super) metric: &'a str,
    /// `metric{labels}` as written: the series' identity in this text.
    pub(super) series: &'a str,
    pub(super) value: f64,
    pub(super) timestamp_ms: Option<i64>,
}

/// Decodes a label value as Prometheus and OpenMetrics do: `\\`, `\"` and `\n` are a
/// backslash, a double quote and a line feed; a backslash before any other character stays,
/// with that character (`\z` is the two characters `\z`: OpenMetrics makes it equal to
/// `\\z`, and Prometheus keeps it so).
pub(super) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(e @ ('\\' | '"')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\r'
}

/// Trims spaces, tabs and carriage returns (ASCII, so slicing stays on char boundaries).
pub(super) fn trim(line: &str) -> &str {
    let b = line.as_bytes();
    let start = b.iter().position(|&c| !is_blank(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_blank(c))
        .map_or(start, |e| e + 1);
    &line[start..end.max(start)]
}

/// Parses a line into slices; `Ok(None)` for blank, comment and well-formed metadata lines.
pub(super) fn parse_core<'a>(
    line: &'a str,
    max_labels: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<Option<Core<'a>>, LineError> {
    spans.clear();
    let line = trim(line);
    let b = line.as_bytes();
    if b.is_empty() {
        return Ok(None);
    }
    if b[0] == b'#' {
        return check_metadata(line).map(|()| None);
    }
    if !is_name_start(b[0]) {
        return err(
            Reason::BadMetricName,
            0,
            "metric name must start with a letter, '_' or ':'",
        );
    }
    let mut i = 1;
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let metric = &line[..i];
    if i < b.len() && b[i] == b'{' {
        i = parse_labels(line, i + 1, max_labels, spans, false)?;
    }
    let series = &line[..i];
    let (value, timestamp_ms) = parse_tail(line, i)?;
    Ok(Some(Core {
        line,
        metric,
        series,
        value,
        timestamp_ms,
    }))
}

/// Checks a `#` line: `# TYPE`, `# HELP` and `# UNIT` need a valid metric name (and `# TYPE` a
/// known type); other comments are free.
fn check_metadata(line: &str) -> Result<(), LineError> {
    // Words are split on ASCII blanks, byte by byte: a third of a node_exporter scrape is
    // `# HELP` and `# TYPE` lines, and decoding them char by char was a quarter of the
    // decoder's time. (A non-ASCII space is not a separator: it ends up inside a word, and
    // inside a name it makes the name invalid, as in Prometheus' own parser.)
    let b = line.as_bytes();
    let mut i = 1;
    let mut word = || {
        while i < b.len() && is_separator(b[i]) {
            i += 1;
        }
        let start = i;
        while i < b.len() && !is_separator(b[i]) {
            i += 1;
        }
        &line[start..i]
    };
    let kw = word();
    if !matches!(kw, "TYPE" | "HELP" | "UNIT") {
        return Ok(());
    }
    let name = word();
    if name.is_empty() || !name.bytes().all(is_name_char) || !is_name_start(name.as_bytes()[0]) {
        return err(
            Reason::BadMetadata,
            2,
            format!("# {kw} without a valid metric name"),
        );
    }
    if kw == "TYPE" {
        let t = word();
        if !matches!(
            t,
            "counter"
                | "gauge"
                | "histogram"
                | "summary"
                | "untyped"
                | "unknown"
                | "info"
                | "stateset"
                | "gaugehistogram"
        ) {
            return err(Reason::BadMetadata, 2, format!("unknown metric type {t:?}"));
        }
    }
    Ok(())
}

/// An ASCII blank between the words of a `#` line (space, tab, line feed, vertical tab, form
/// feed, carriage return).
fn is_separator(c: u8) -> bool {
    matches!(c, b' ' | b'\t'..=b'\r')
}

/// Parses the label set that starts at byte `i` (just after its `{`) into `spans`, after those
/// already there (duplicates and `max_labels` count only this set's); returns the index just
/// after its `}`. `strict` is OpenMetrics' grammar: no blanks inside the set, no trailing
/// comma.
pub(super) fn parse_labels(
    line: &str,
    mut i: usize,
    max_labels: usize,
    spans: &mut Vec<LabelSpan>,
    strict: bool,
) -> Result<usize, LineError> {
    let b = line.as_bytes();
    let base = spans.len();
    let skip = |i: &mut usize, tabs: bool| {
        while !strict && *i < b.len() && (b[*i] == b' ' || (tabs && b[*i] == b'\t')) {
            *i += 1;
        }
    };
    loop {
        skip(&mut i, true);
        if i >= b.len() {
            return err(Reason::BadLabels, i, "unterminated label set");
        }
        if b[i] == b'}' && (!strict || spans.len() == base) {
            return Ok(i + 1);
        }
        let start = i;
        let span = parse_label(b, &mut i, strict)?;
        let this = &b[span.name.0..span.name.1];
        if spans[base..].iter().any(|s| &b[s.name.0..s.name.1] == this) {
            return err(
                Reason::BadLabels,
                start,
                format!("duplicate label {:?}", &line[span.name.0..span.name.1]),
            );
        }
        if spans.len() - base == max_labels {
            return err(
                Reason::TooManyLabels,
                start,
                format!("more than {max_labels} labels"),
            );
        }
        spans.push(span);
        skip(&mut i, false);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') if strict => return Ok(i + 1),
            Some(b'}') => {}
            _ => {
                return err(
                    Reason::BadLabels,
                    i,
                    "expected ',' or '}' after label value",
                );
            }
        }
    }
}

/// Parses one `name="value"` at `*i`, leaving `*i` just after the closing quote. A backslash
/// escapes the character after it, whatever it is (see [`unescape`]).
fn parse_label(b: &[u8], i: &mut usize, strict: bool) -> Result<LabelSpan, LineError> {
    let start = *i;
    if !(b[start].is_ascii_alphabetic() || b[start] == b'_') {
        return err(
            Reason::BadLabels,
            start,
            "label name must start with a letter or '_'",
        );
    }
    let mut j = start;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    let name = (start, j);
    while !strict && j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j >= b.len() || b[j] != b'=' {
        return err(Reason::BadLabels, j, "expected '=' after label name");
    }
    j += 1;
    while !strict && j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j >= b.len() || b[j] != b'"' {
        return err(Reason::BadLabels, j, "expected '\"' to open label value");
    }
    j += 1;
    let vstart = j;
    let mut escaped = false;
    loop {
        // The closing quote or a backslash; everything else is value bytes.
        match memchr::memchr2(b'"', b'\\', &b[j..]) {
            None => return err(Reason::BadLabels, b.len(), "unterminated label value"),
            Some(k) if b[j + k] == b'"' => {
                j += k;
                break;
            }
            Some(k) => {
                // A backslash and the byte after it (the first byte of a character: a
                // multi-byte character's other bytes are never a quote or a backslash).
                j += k + 2;
                escaped = true;
                if j > b.len() {
                    return err(Reason::BadLabels, b.len(), "unterminated label value");
                }
            }
        }
    }
    *i = j + 1; // past the closing quote
    Ok(LabelSpan {
        name,
        value: (vstart, j),
        escaped,
    })
}

/// Exact powers of ten representable in an `f64` (10^0 … 10^22).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of a sample value, `[-]digits[.digits]` with at most 15 significant digits,
/// parsed exactly: the digits form an integer below 2^53 and the fraction a power of ten up to
/// 10^22, both exactly representable, so one IEEE division gives the correctly rounded result
/// (Clinger's fast path). `None` sends anything else (exponents, `NaN`, long mantissas) to the
/// general parser.
pub(super) fn fast_f64(b: &[u8]) -> Option<f64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for (k, &c) in digits.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
                if count > 15 {
                    return None;
                }
            }
            b'.' if frac.is_none() => frac = Some(k),
            _ => return None,
        }
    }
    if count == 0 {
        return None;
    }
    let scale = frac.map_or(0, |k| digits.len() - k - 1);
    let v = mantissa as f64 / POW10[scale];
    Some(if neg { -v } else { v })
}

/// `[-]digits`, at most 18 digits (no overflow possible); `None` for anything else.
pub(super) fn fast_i64(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// Parses what follows the series text at byte `i`: whitespace, value, optional timestamp.
pub(super) fn parse_tail(line: &str, i: usize) -> Result<(f64, Option<i64>), LineError> {
    let b = line.as_bytes();
    if i >= b.len() {
        return err(Reason::BadValue, i, "missing value");
    }
    if !(b[i] == b' ' || b[i] == b'\t') {
        return err(Reason::BadMetricName, i, "invalid character in metric name");
    }
    // Fields are separated by runs of spaces or tabs; the line is already trimmed at its end.
    let field = |from: usize| -> (usize, usize) {
        let start = b[from..]
            .iter()
            .position(|&c| c != b' ' && c != b'\t')
            .map_or(b.len(), |k| from + k);
        let end = b[start..]
            .iter()
            .position(|&c| c == b' ' || c == b'\t')
            .map_or(b.len(), |k| start + k);
        (start, end)
    };
    let (vs, ve) = field(i);
    let vtext = &line[vs..ve];
    let value: f64 = match fast_f64(vtext.as_bytes()).map_or_else(|| vtext.parse(), Ok) {
        Ok(v) => v,
        Err(_) => {
            return err(
                Reason::BadValue,
                vs,
                format!("value {vtext:?} is not a number"),
            );
        }
    };
    let (ts, te) = field(ve);
    let timestamp_ms = if ts == te {
        None
    } else {
        let t = &line[ts..te];
        match fast_i64(t.as_bytes()).map_or_else(|| t.parse::<i64>(), Ok) {
            Ok(ms) => Some(ms),
            Err(_) => {
                return err(
                    Reason::BadTimestamp,
                    ts,
                    format!("timestamp {t:?} is not integer milliseconds"),
                );
            }
        }
    };
    let (xs, xe) = field(te);
    if xs != xe {
        let extra = &line[xs..xe];
        return err(Reason::TrailingGarbage, xs, format!("unexpected {extra:?}"));
    }
    Ok((value, timestamp_ms))
}

pub(super) fn owned_labels(core: &Core<'_>, spans: &[LabelSpan]) -> Vec<(String, String)> {
    spans
        .iter()
        .map(|s| {
            let raw = &core.line[s.value.0..s.value.1];
            let v = if s.escaped {
                unescape(raw)
            } else {
                raw.to_string()
            };
            (core.line[s.name.0..s.name.1].to_string(), v)
        })
        .collect()
}

/// Parses one line of Prometheus exposition text 0.0.4 (without its line terminator) into
/// owned parts. (OpenMetrics lines are read by the decoder, [`super::Decoder`], in their
/// exposition's context: see [`super::Exposition`].)
///
/// # Errors
/// A [`LineError`] naming the reason and column when the line is not valid exposition text.
pub fn parse_line(line: &str, max_labels: usize) -> Result<Line, LineError> {
    let mut spans = Vec::new();
    Ok(match parse_core(line, max_labels, &mut spans)? {
        None => Line::Skip,
        Some(core) => Line::Sample(Sample {
            metric: core.metric.to_string(),
            labels: owned_labels(&core, &spans),
            value: core.value,
            timestamp_ms: core.timestamp_ms,
        }),
    })
}
