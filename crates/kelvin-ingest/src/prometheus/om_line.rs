//! The line grammar of OpenMetrics 1.0 text (its ABNF, line by line): exact single spaces,
//! no blanks or carriage returns, numbers as the ABNF writes them, timestamps in seconds,
//! exemplars, and only `# TYPE`, `# HELP`, `# UNIT` and `# EOF` as `#` lines. What a line
//! means within its family (suffixes, values a type allows, ordering) is [`super::om_state`]'s.

use super::line::{
    Core, LabelSpan, LineError, err, fast_f64, is_name_char, is_name_start, line_error as bad,
};
use crate::Reason;

/// OpenMetrics' limit on an exemplar's label names and values together, in characters.
pub(super) const EXEMPLAR_CHARS: usize = 128;

/// Timestamps are kept as nanoseconds in an `i128`, saturated here: far outside any time, and
/// far inside the `i128` range, so comparisons stay meaningful.
const NS_SATURATED: i128 = 10i128.pow(30);

/// A metric family's type, as `# TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OmType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    StateSet,
    Info,
    Summary,
    Unknown,
}

impl OmType {
    fn parse(word: &str) -> Option<OmType> {
        Some(match word {
            "counter" => OmType::Counter,
            "gauge" => OmType::Gauge,
            "histogram" => OmType::Histogram,
            "gaugehistogram" => OmType::GaugeHistogram,
            "stateset" => OmType::StateSet,
            "info" => OmType::Info,
            "summary" => OmType::Summary,
            "unknown" => OmType::Unknown,
            _ => return None,
        })
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            OmType::Counter => "counter",
            OmType::Gauge => "gauge",
            OmType::Histogram => "histogram",
            OmType::GaugeHistogram => "gaugehistogram",
            OmType::StateSet => "stateset",
            OmType::Info => "info",
            OmType::Summary => "summary",
            OmType::Unknown => "unknown",
        }
    }

    /// Its name with its article: `a counter`, `an info`.
    pub(super) fn a(self) -> &'static str {
        match self {
            OmType::Counter => "a counter",
            OmType::Gauge => "a gauge",
            OmType::Histogram => "a histogram",
            OmType::GaugeHistogram => "a gaugehistogram",
            OmType::StateSet => "a stateset",
            OmType::Info => "an info",
            OmType::Summary => "a summary",
            OmType::Unknown => "an unknown",
        }
    }

    /// The suffixes its sample names add to the family name.
    pub(super) fn suffixes(self) -> &'static [&'static str] {
        match self {
            OmType::Counter => &["_total", "_created"],
            OmType::Summary => &["", "_count", "_sum", "_created"],
            OmType::Histogram => &["_bucket", "_count", "_sum", "_created"],
            OmType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
            OmType::Info => &["_info"],
            OmType::Gauge | OmType::StateSet | OmType::Unknown => &[""],
        }
    }

    /// The suffix sample `name` has as a sample of family `family` of this type, if it is one.
    pub(super) fn suffix_of(self, name: &str, family: &str) -> Option<&'static str> {
        let rest = name.strip_prefix(family)?;
        self.suffixes().iter().copied().find(|s| *s == rest)
    }

    /// Whether a family of this type may have a unit.
    pub(super) fn takes_unit(self) -> bool {
        !matches!(self, OmType::StateSet | OmType::Info)
    }
}

/// Every suffix of every type: a name ending in one may be another family's sample.
pub(super) const ALL_SUFFIXES: [&str; 8] = [
    "_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info",
];

/// Which metadata a `#` line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MetaKind {
    Type,
    Help,
    Unit,
}

impl MetaKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            MetaKind::Type => "# TYPE",
            MetaKind::Help => "# HELP",
            MetaKind::Unit => "# UNIT",
        }
    }
}

/// A metadata line: `# TYPE name type`, `# HELP name text` or `# UNIT name unit`.
pub(super) struct Meta<'a> {
    pub(super) kind: MetaKind,
    pub(super) name: &'a str,
    /// The type of a `# TYPE` line.
    pub(super) typ: Option<OmType>,
    /// The unit of a `# UNIT` line (empty: none).
    pub(super) unit: &'a str,
}

/// A sample line.
pub(super) struct OmSample<'a> {
    /// Name, series, value (its `timestamp_ms` is unused: `None`).
    pub(super) core: Core<'a>,
    /// The timestamp in nanoseconds (saturated far outside any time when huge) and as written.
    pub(super) ts: Option<(i128, &'a str)>,
    /// The exemplar's value, when the sample has one.
    pub(super) exemplar: Option<f64>,
}

/// What an OpenMetrics line is.
pub(super) enum OmLine<'a> {
    /// `# EOF`.
    Eof,
    Meta(Meta<'a>),
    Sample(OmSample<'a>),
}

/// Parses one line (without its line feed); `spans` receives the sample's labels.
pub(super) fn parse<'a>(
    line: &'a str,
    max_labels: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<OmLine<'a>, LineError> {
    spans.clear();
    let b = line.as_bytes();
    let Some(&first) = b.first() else {
        return err(
            Reason::BadMetricName,
            0,
            "empty line: OpenMetrics allows no blank lines",
        );
    };
    if b[b.len() - 1] == b'\r' {
        return err(
            Reason::TrailingGarbage,
            b.len() - 1,
            "carriage return: OpenMetrics lines end with a line feed alone",
        );
    }
    if first == b'#' {
        return parse_meta(line);
    }
    if first == b' ' || first == b'\t' {
        return err(
            Reason::BadMetricName,
            0,
            "leading whitespace: OpenMetrics lines start with a metric name or '#'",
        );
    }
    parse_sample(line, max_labels, spans).map(OmLine::Sample)
}

/// The token of `b` from `i` to the next space or the end.
fn token(b: &[u8], i: usize) -> usize {
    memchr::memchr(b' ', &b[i..]).map_or(b.len(), |k| i + k)
}

fn parse_sample<'a>(
    line: &'a str,
    max_labels: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<OmSample<'a>, LineError> {
    let b = line.as_bytes();
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
        i = super::line::parse_labels(line, i + 1, max_labels, spans, true)?;
    }
    let series = &line[..i];
    match b.get(i) {
        None => return err(Reason::BadValue, i, "missing value"),
        Some(b' ') => {}
        Some(_) if i == metric.len() => {
            return err(Reason::BadMetricName, i, "invalid character in metric name");
        }
        Some(_) => return err(Reason::BadValue, i, "expected one space before the value"),
    }
    let vs = i + 1;
    let ve = token(b, vs);
    let value = number(&line[vs..ve]).ok_or_else(|| bad_number(line, vs, ve, "value"))?;
    let mut sample = OmSample {
        core: Core {
            line,
            metric,
            series,
            value,
            timestamp_ms: None,
        },
        ts: None,
        exemplar: None,
    };
    let mut at = ve;
    if at < b.len() && b.get(at + 1) != Some(&b'#') {
        let (ts, te) = (at + 1, token(b, at + 1));
        let t = &line[ts..te];
        let ns = seconds_to_nanos(t.as_bytes()).ok_or_else(|| {
            if te == b.len() && ts == te {
                bad(Reason::TrailingGarbage, at, "trailing space")
            } else if ts == te {
                bad(
                    Reason::BadTimestamp,
                    ts,
                    "expected a timestamp after one space",
                )
            } else {
                bad(
                    Reason::BadTimestamp,
                    ts,
                    format!("timestamp {t:?} is not a number of seconds"),
                )
            }
        })?;
        sample.ts = Some((ns, t));
        at = te;
    }
    if at < b.len() {
        sample.exemplar = Some(parse_exemplar(line, at, max_labels, spans)?);
    }
    Ok(sample)
}

fn bad_number(line: &str, s: usize, e: usize, what: &str) -> LineError {
    if s == e {
        bad(
            Reason::BadValue,
            s,
            format!(
                "expected {} after one space",
                if what == "value" {
                    "a value"
                } else {
                    "an exemplar value"
                }
            ),
        )
    } else {
        bad(
            Reason::BadValue,
            s,
            format!("{what} {:?} is not a number", &line[s..e]),
        )
    }
}

/// Parses ` # {labels} value [timestamp]` at `at` (a space), to the end of the line; returns
/// the exemplar's value. Its labels are checked and then dropped from `spans`.
fn parse_exemplar(
    line: &str,
    at: usize,
    max_labels: usize,
    spans: &mut Vec<LabelSpan>,
) -> Result<f64, LineError> {
    let b = line.as_bytes();
    if !b[at..].starts_with(b" # {") {
        let rest = &line[at + 1..token(b, at + 1)];
        return Err(if b.get(at + 1) == Some(&b'#') {
            bad(
                Reason::TrailingGarbage,
                at + 1,
                "expected ' # {' to open an exemplar",
            )
        } else {
            bad(
                Reason::TrailingGarbage,
                at + 1,
                format!("unexpected {rest:?}"),
            )
        });
    }
    let base = spans.len();
    let end = super::line::parse_labels(line, at + 4, max_labels, spans, true).map_err(|e| {
        LineError {
            reason: e.reason,
            detail: format!("exemplar: {}", e.detail),
        }
    })?;
    let chars: usize = spans[base..]
        .iter()
        .map(|s| {
            line[s.name.0..s.name.1].chars().count() + unescaped_chars(&line[s.value.0..s.value.1])
        })
        .sum();
    spans.truncate(base);
    if chars > EXEMPLAR_CHARS {
        return err(
            Reason::BadLabels,
            at + 3,
            format!("exemplar labels have {chars} characters, over OpenMetrics' {EXEMPLAR_CHARS}"),
        );
    }
    if b.get(end) != Some(&b' ') {
        return err(
            Reason::BadValue,
            end,
            "exemplar: expected a value after one space",
        );
    }
    let (vs, ve) = (end + 1, token(b, end + 1));
    let value = number(&line[vs..ve]).ok_or_else(|| bad_number(line, vs, ve, "exemplar value"))?;
    if ve == b.len() {
        return Ok(value);
    }
    let (ts, te) = (ve + 1, token(b, ve + 1));
    if ts == b.len() {
        return err(Reason::TrailingGarbage, ve, "trailing space");
    }
    if seconds_to_nanos(&b[ts..te]).is_none() {
        return err(
            Reason::BadTimestamp,
            ts,
            format!(
                "exemplar timestamp {:?} is not a number of seconds",
                &line[ts..te]
            ),
        );
    }
    if te < b.len() {
        return err(
            Reason::TrailingGarbage,
            te,
            format!("unexpected {:?} after the exemplar", &line[te..]),
        );
    }
    Ok(value)
}

/// Characters of a raw label value once unescaped (`\\`, `\"` and `\n` are one character; a
/// backslash before anything else stays).
fn unescaped_chars(raw: &str) -> usize {
    let mut n = 0;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        n += 1;
        if c == '\\' && matches!(chars.next(), Some(other) if !matches!(other, 'n' | '\\' | '"')) {
            n += 1;
        }
    }
    n
}

/// An OpenMetrics `number`: a real number, `[sign] inf | infinity` or `nan` (no case; no sign
/// on `nan`). Rust's float grammar is exactly that, a sign on NaN aside.
pub(super) fn number(t: &str) -> Option<f64> {
    let v = fast_f64(t.as_bytes()).map_or_else(|| t.parse::<f64>().ok(), Some)?;
    (!(v.is_nan() && t.starts_with(['+', '-']))).then_some(v)
}

/// An OpenMetrics `realnumber` (no `inf`, no `nan`) as an `f64`.
pub(super) fn real(t: &str) -> Option<f64> {
    real_parts(t.as_bytes())?;
    t.parse().ok()
}

/// A `realnumber` taken apart: `[sign] digits [. digits] [e [sign] digits]`.
struct Real<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// The exponent, clamped to ±1,000,000 (beyond, every value saturates or is zero).
    exp: i64,
}

fn real_parts(b: &[u8]) -> Option<Real<'_>> {
    let digits = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = 0;
    let negative = b.first() == Some(&b'-');
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let int_end = digits(i);
    let int = &b[i..int_end];
    i = int_end;
    let mut frac: &[u8] = &[];
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        frac = &b[i + 1..end];
        i = end;
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp = 0i64;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let neg = b.get(i) == Some(&b'-');
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        for &d in &b[i..end] {
            exp = (exp * 10 + i64::from(d - b'0')).min(1_000_000);
        }
        if neg {
            exp = -exp;
        }
        i = end;
    }
    (i == b.len()).then_some(Real {
        negative,
        int,
        frac,
        exp,
    })
}

/// An OpenMetrics timestamp (a `realnumber` of seconds) in nanoseconds, computed exactly from
/// its decimal digits and rounded to the nearest nanosecond (ties to even); magnitudes past
/// 10^30 ns saturate there. `None` when it is not a `realnumber` (`NaN`, `Inf`, hex, `1_000`).
pub(super) fn seconds_to_nanos(b: &[u8]) -> Option<i128> {
    let r = real_parts(b)?;
    // Digit k (of int then frac) weighs 10^(p) ns, p = int.len() - 1 - k + exp + 9.
    let top = r.int.len() as i64 - 1 + r.exp + 9;
    let mut acc: i128 = 0;
    let mut last_p: i64 = 0;
    let (mut round, mut sticky) = (0u8, false);
    for (k, &c) in r.int.iter().chain(r.frac).enumerate() {
        let d = c - b'0';
        let p = top - k as i64;
        if p >= 0 {
            if acc == 0 && d == 0 {
                continue;
            }
            acc = acc * 10 + i128::from(d);
            last_p = p;
            if acc > NS_SATURATED {
                return Some(if r.negative {
                    -NS_SATURATED
                } else {
                    NS_SATURATED
                });
            }
        } else if p == -1 {
            round = d;
        } else if d != 0 {
            sticky = true;
        }
    }
    if acc != 0 && last_p > 0 {
        let scale = u32::try_from(last_p).unwrap_or(u32::MAX);
        acc = match 10i128.checked_pow(scale).and_then(|s| acc.checked_mul(s)) {
            Some(v) if v <= NS_SATURATED => v,
            _ => NS_SATURATED,
        };
    }
    if round > 5 || (round == 5 && (sticky || acc % 2 == 1)) {
        acc += 1;
    }
    Some(if r.negative { -acc } else { acc })
}

fn parse_meta(line: &str) -> Result<OmLine<'_>, LineError> {
    if line == "# EOF" {
        return Ok(OmLine::Eof);
    }
    let unknown = || {
        err(
            Reason::BadMetadata,
            0,
            "a '#' line must be '# TYPE', '# HELP', '# UNIT' or '# EOF' in OpenMetrics",
        )
    };
    let Some(rest) = line.strip_prefix("# ") else {
        return unknown();
    };
    let (kw, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let kind = match kw {
        "TYPE" => MetaKind::Type,
        "HELP" => MetaKind::Help,
        "UNIT" => MetaKind::Unit,
        _ => return unknown(),
    };
    let (name, arg) = match rest.split_once(' ') {
        Some((n, a)) => (n, Some(a)),
        None => (rest, None),
    };
    let b = name.as_bytes();
    if b.is_empty() || !is_name_start(b[0]) || !b.iter().all(|&c| is_name_char(c)) {
        return err(
            Reason::BadMetadata,
            2,
            format!("{} without a valid metric name", kind.as_str()),
        );
    }
    let col = 8 + name.len(); // just after the name and its space
    let Some(arg) = arg else {
        return err(
            Reason::BadMetadata,
            col - 1,
            format!(
                "{} {name} needs a space and a value after the name",
                kind.as_str()
            ),
        );
    };
    let mut meta = Meta {
        kind,
        name,
        typ: None,
        unit: "",
    };
    match kind {
        MetaKind::Type => {
            meta.typ = Some(OmType::parse(arg).ok_or_else(|| {
                let what = if arg == "untyped" {
                    "type \"untyped\" is Prometheus text's; OpenMetrics says \"unknown\""
                        .to_string()
                } else {
                    format!("unknown metric type {arg:?}")
                };
                bad(Reason::BadMetadata, col, what)
            })?);
        }
        MetaKind::Unit => {
            if let Some(k) = arg.bytes().position(|c| !is_name_char(c)) {
                return err(
                    Reason::BadMetadata,
                    col + k,
                    "a unit has only letters, digits, '_' and ':'",
                );
            }
            meta.unit = arg;
        }
        MetaKind::Help => {
            // Any escape is allowed; a lone backslash at the end escapes nothing.
            let trailing = arg.bytes().rev().take_while(|&c| c == b'\\').count();
            if trailing % 2 == 1 {
                return err(
                    Reason::BadMetadata,
                    line.len() - 1,
                    "# HELP text ends with a lone backslash",
                );
            }
        }
    }
    Ok(OmLine::Meta(meta))
}
