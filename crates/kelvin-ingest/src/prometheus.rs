//! Prometheus exposition text (format 0.0.4), in pull ([`parse_str`], [`read`]) and push
//! ([`Decoder`]) forms.
//!
//! Grammar accepted per line, after trimming surrounding whitespace:
//! `name [{label="value",...}] value [timestamp_ms]`, plus `# HELP`, `# TYPE`, `# UNIT`, `# EOF`
//! and free comments. Label values support the `\\`, `\"` and `\n` escapes. Each sample line is
//! one record: it becomes a [`Reading`] through the [`RuleSet`], or is quarantined.

use std::collections::HashSet;
use std::io::BufRead;
use std::sync::Arc;

use kelvin_model::{EntityId, Place, Quality, Reading, Timestamp};

use crate::rules::MapFailure;
use crate::{IngestBatch, IngestError, Quarantined, Reason, RuleSet};

/// Parsing limits and defaults. Construct with [`ParseOptions::default`] and the `with_*` setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Timestamp for samples without one (the scrape time). Default `None`: such samples are
    /// quarantined with [`Reason::MissingTimestamp`].
    pub default_timestamp: Option<Timestamp>,
    /// Longest line accepted, in bytes. Default 64 KiB; longer lines are quarantined, and the
    /// push decoder never buffers more than this per line.
    pub max_line_bytes: usize,
    /// Most labels accepted on one sample. Default 64.
    pub max_labels: usize,
    /// When set, readings for entities outside this set are quarantined with
    /// [`Reason::UnknownEntity`]. Default `None` (every entity accepted).
    pub known_entities: Option<Arc<HashSet<EntityId>>>,
    /// Labels added to every sample that lacks them, as Prometheus adds target labels on a
    /// scrape (`instance`, `job`). Default empty.
    pub target_labels: Vec<(String, String)>,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            default_timestamp: None,
            max_line_bytes: 64 * 1024,
            max_labels: 64,
            known_entities: None,
            target_labels: Vec::new(),
        }
    }
}

impl ParseOptions {
    /// Sets [`ParseOptions::default_timestamp`].
    pub fn with_default_timestamp(mut self, ts: Timestamp) -> Self {
        self.default_timestamp = Some(ts);
        self
    }

    /// Sets [`ParseOptions::max_line_bytes`].
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }

    /// Sets [`ParseOptions::max_labels`].
    pub fn with_max_labels(mut self, n: usize) -> Self {
        self.max_labels = n;
        self
    }

    /// Adds a target label ([`ParseOptions::target_labels`]), e.g. `("instance", "h1:9100")`.
    pub fn with_target_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.target_labels.push((name.into(), value.into()));
        self
    }

    /// Sets [`ParseOptions::known_entities`].
    pub fn with_known_entities(mut self, ids: Arc<HashSet<EntityId>>) -> Self {
        self.known_entities = Some(ids);
        self
    }
}

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

fn err<T>(reason: Reason, col: usize, what: impl std::fmt::Display) -> Result<T, LineError> {
    Err(LineError {
        reason,
        detail: format!("{what} at column {}", col + 1),
    })
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Parses one line of exposition text (without its line terminator).
///
/// # Errors
/// A [`LineError`] naming the reason and column when the line is not valid exposition text.
pub fn parse_line(line: &str, max_labels: usize) -> Result<Line, LineError> {
    let line = line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r');
    let b = line.as_bytes();
    if b.is_empty() {
        return Ok(Line::Skip);
    }
    if b[0] == b'#' {
        let mut words = line[1..].split_whitespace();
        if let Some(kw @ ("TYPE" | "HELP" | "UNIT")) = words.next() {
            let name = words.next().unwrap_or("");
            if name.is_empty()
                || !name.bytes().all(is_name_char)
                || !is_name_start(name.as_bytes()[0])
            {
                return err(
                    Reason::BadMetadata,
                    2,
                    format!("# {kw} without a valid metric name"),
                );
            }
            if kw == "TYPE" {
                let t = words.next().unwrap_or("");
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
        }
        return Ok(Line::Skip);
    }
    // metric name
    let mut i = 0;
    if !is_name_start(b[0]) {
        return err(
            Reason::BadMetricName,
            0,
            "metric name must start with a letter, '_' or ':'",
        );
    }
    while i < b.len() && is_name_char(b[i]) {
        i += 1;
    }
    let metric = line[..i].to_string();
    let mut labels = Vec::new();
    if i < b.len() && b[i] == b'{' {
        i += 1;
        loop {
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            if i >= b.len() {
                return err(Reason::BadLabels, i, "unterminated label set");
            }
            if b[i] == b'}' {
                i += 1;
                break;
            }
            let start = i;
            if !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
                return err(
                    Reason::BadLabels,
                    i,
                    "label name must start with a letter or '_'",
                );
            }
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &line[start..i];
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'=' {
                return err(Reason::BadLabels, i, "expected '=' after label name");
            }
            i += 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i >= b.len() || b[i] != b'"' {
                return err(Reason::BadLabels, i, "expected '\"' to open label value");
            }
            i += 1;
            let mut value = String::new();
            let mut seg = i;
            loop {
                if i >= b.len() {
                    return err(Reason::BadLabels, i, "unterminated label value");
                }
                match b[i] {
                    b'"' => {
                        value.push_str(&line[seg..i]);
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        value.push_str(&line[seg..i]);
                        match b.get(i + 1) {
                            Some(b'\\') => value.push('\\'),
                            Some(b'"') => value.push('"'),
                            Some(b'n') => value.push('\n'),
                            _ => return err(Reason::BadLabels, i, "invalid escape in label value"),
                        }
                        i += 2;
                        seg = i;
                    }
                    _ => i += 1,
                }
            }
            if labels.iter().any(|(k, _): &(String, String)| k == name) {
                return err(
                    Reason::BadLabels,
                    start,
                    format!("duplicate label {name:?}"),
                );
            }
            if labels.len() == max_labels {
                return err(
                    Reason::TooManyLabels,
                    start,
                    format!("more than {max_labels} labels"),
                );
            }
            labels.push((name.to_string(), value));
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            match b.get(i) {
                Some(b',') => i += 1,
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
    // value
    if i >= b.len() || !(b[i] == b' ' || b[i] == b'\t') {
        let reason = if i >= b.len() {
            Reason::BadValue
        } else {
            Reason::BadMetricName
        };
        return err(
            reason,
            i,
            if i >= b.len() {
                "missing value"
            } else {
                "invalid character in metric name"
            },
        );
    }
    let mut fields = line[i..].split_ascii_whitespace();
    let vtext = fields.next().unwrap_or("");
    let vcol = i + line[i..].find(vtext).unwrap_or(0);
    let value: f64 = match vtext.parse() {
        Ok(v) => v,
        Err(_) => {
            return err(
                Reason::BadValue,
                vcol,
                format!("value {vtext:?} is not a number"),
            );
        }
    };
    let timestamp_ms = match fields.next() {
        None => None,
        Some(t) => match t.parse::<i64>() {
            Ok(ms) => Some(ms),
            Err(_) => {
                let col = vcol + vtext.len();
                return err(
                    Reason::BadTimestamp,
                    col,
                    format!("timestamp {t:?} is not integer milliseconds"),
                );
            }
        },
    };
    if let Some(extra) = fields.next() {
        return err(
            Reason::TrailingGarbage,
            line.len() - extra.len(),
            format!("unexpected {extra:?}"),
        );
    }
    Ok(Line::Sample(Sample {
        metric,
        labels,
        value,
        timestamp_ms,
    }))
}

/// The push form: feed bytes as they arrive ([`Decoder::push`]), then [`Decoder::finish`].
///
/// Memory is bounded by [`ParseOptions::max_line_bytes`]: a line longer than that is skipped up
/// to its end and quarantined with [`Reason::LineTooLong`].
pub struct Decoder<'r> {
    source: String,
    rules: &'r RuleSet,
    opts: ParseOptions,
    pending: Vec<u8>,
    overlong: usize,
    line_no: u64,
    batch: IngestBatch,
}

impl<'r> Decoder<'r> {
    /// A decoder for the named source.
    pub fn new(source: impl Into<String>, rules: &'r RuleSet, opts: ParseOptions) -> Self {
        Decoder {
            source: source.into(),
            rules,
            opts,
            pending: Vec::new(),
            overlong: 0,
            line_no: 0,
            batch: IngestBatch::default(),
        }
    }

    /// Feeds more bytes; complete lines are processed at once.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while let Some(nl) = bytes.iter().position(|&c| c == b'\n') {
            self.take(&bytes[..nl]);
            self.end_line();
            bytes = &bytes[nl + 1..];
        }
        self.take(bytes);
    }

    /// Takes the readings and quarantine produced so far (the decoder keeps going).
    pub fn drain(&mut self) -> IngestBatch {
        std::mem::take(&mut self.batch)
    }

    /// Processes a final unterminated line and returns everything not yet drained.
    pub fn finish(mut self) -> IngestBatch {
        if !self.pending.is_empty() || self.overlong > 0 {
            self.end_line();
        }
        self.batch
    }

    fn take(&mut self, part: &[u8]) {
        if self.overlong > 0 || self.pending.len() + part.len() > self.opts.max_line_bytes {
            if self.overlong == 0 {
                self.overlong = self.pending.len();
                // keep the head for the excerpt
                self.pending.truncate(Quarantined::EXCERPT_BYTES);
            }
            let room = Quarantined::EXCERPT_BYTES.saturating_sub(self.pending.len());
            self.pending
                .extend_from_slice(&part[..part.len().min(room)]);
            self.overlong += part.len();
        } else {
            self.pending.extend_from_slice(part);
        }
    }

    fn end_line(&mut self) {
        self.line_no += 1;
        let place = || Place::line(self.source.clone(), self.line_no);
        if self.overlong > 0 {
            let head = String::from_utf8_lossy(&self.pending).into_owned();
            let detail = format!(
                "{} bytes, limit {}",
                self.overlong, self.opts.max_line_bytes
            );
            self.batch.reject(Quarantined::new(
                place(),
                Reason::LineTooLong,
                detail,
                &head,
            ));
            self.overlong = 0;
        } else {
            let pending = std::mem::take(&mut self.pending);
            match std::str::from_utf8(&pending) {
                Ok(text) => self.line(text),
                Err(e) => {
                    let lossy = String::from_utf8_lossy(&pending);
                    let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                    self.batch
                        .reject(Quarantined::new(place(), Reason::NotUtf8, detail, &lossy));
                }
            }
            self.pending = pending;
        }
        self.pending.clear();
    }

    fn line(&mut self, text: &str) {
        let place = || Place::line(self.source.clone(), self.line_no);
        let mut sample = match parse_line(text, self.opts.max_labels) {
            Ok(Line::Skip) => return,
            Ok(Line::Sample(s)) => s,
            Err(e) => {
                return self
                    .batch
                    .reject(Quarantined::new(place(), e.reason, e.detail, text));
            }
        };
        let reject = |reason, detail: String| Quarantined::new(place(), reason, detail, text);
        let Some(rule) = self.rules.get(&sample.metric) else {
            let q = reject(
                Reason::UnmappedMetric,
                format!("no rule for metric {}", sample.metric),
            );
            return self.batch.reject(q);
        };
        for (k, v) in &self.opts.target_labels {
            if !sample.labels.iter().any(|(l, _)| l == k) {
                sample.labels.push((k.clone(), v.clone()));
            }
        }
        let (entity, sensor) = match rule.resolve(&sample.labels) {
            Ok(x) => x,
            Err(MapFailure::MissingLabel(l)) => {
                let q = reject(
                    Reason::MissingLabel,
                    format!("rule for {} needs label {l:?}", sample.metric),
                );
                return self.batch.reject(q);
            }
            Err(MapFailure::InvalidEntity(why)) => {
                return self.batch.reject(reject(Reason::InvalidEntity, why));
            }
        };
        if let Some(known) = &self.opts.known_entities
            && !known.contains(&entity)
        {
            let q = reject(
                Reason::UnknownEntity,
                format!("entity {entity} is not in the inventory"),
            );
            return self.batch.reject(q);
        }
        let ts = match (sample.timestamp_ms, self.opts.default_timestamp) {
            (Some(ms), _) => Timestamp::from_millis(ms),
            (None, Some(ts)) => ts,
            (None, None) => {
                let q = reject(
                    Reason::MissingTimestamp,
                    "no timestamp and no scrape time given".into(),
                );
                return self.batch.reject(q);
            }
        };
        if sample.value.is_infinite() {
            return self.batch.reject(reject(
                Reason::NonFiniteValue,
                format!("value {}", sample.value),
            ));
        }
        let reading = if sample.value.is_nan() {
            Reading::new(entity, sensor, rule.kind, f64::NAN, ts).with_quality(Quality::Absent)
        } else {
            match rule.unit.convert(sample.value, rule.kind) {
                Ok(v) => Reading::new(entity, sensor, rule.kind, v, ts),
                Err(e) => {
                    return self
                        .batch
                        .reject(reject(Reason::BadUnit, e.reason().to_string()));
                }
            }
        };
        self.batch.accept(reading);
    }
}

/// Parses a whole text (pull form).
pub fn parse_str(text: &str, source: &str, rules: &RuleSet, opts: &ParseOptions) -> IngestBatch {
    let mut d = Decoder::new(source, rules, opts.clone());
    d.push(text.as_bytes());
    d.finish()
}

/// Reads and parses everything from `input` (pull form over `io::Read`), in bounded memory
/// per line.
///
/// # Errors
/// [`crate::IngestErrorKind::Io`] when reading fails; what was parsed before is lost with it.
pub fn read(
    mut input: impl BufRead,
    source: &str,
    rules: &RuleSet,
    opts: &ParseOptions,
) -> Result<IngestBatch, IngestError> {
    let mut d = Decoder::new(source, rules, opts.clone());
    loop {
        let buf = input
            .fill_buf()
            .map_err(|e| IngestError::io(Place::line(source, d.line_no + 1), e))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        d.push(buf);
        input.consume(n);
    }
    Ok(d.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelvin_model::SensorKind;

    fn check_err(line: &str, reason: Reason, detail: &str) {
        let e = parse_line(line, 64).unwrap_err();
        assert_eq!(e.reason, reason, "{line}: {}", e.detail);
        assert_eq!(e.detail, detail, "{line}");
    }

    #[test]
    fn samples_parse() {
        let Line::Sample(s) = parse_line(r#"node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"} 55 1700000000123"#, 64).unwrap() else {
            panic!()
        };
        assert_eq!(s.metric, "node_hwmon_temp_celsius");
        assert_eq!(s.labels[1], ("sensor".into(), "temp1".into()));
        assert_eq!((s.value, s.timestamp_ms), (55.0, Some(1_700_000_000_123)));
        let Line::Sample(s) = parse_line(r#"a{b="x\"y\\z\n",} -1.5e3"#, 64).unwrap() else {
            panic!()
        };
        assert_eq!(s.labels, vec![("b".into(), "x\"y\\z\n".into())]);
        assert_eq!((s.value, s.timestamp_ms), (-1500.0, None));
        let Line::Sample(s) = parse_line("up NaN", 64).unwrap() else {
            panic!()
        };
        assert!(s.value.is_nan());
        let Line::Sample(s) = parse_line("x{} +Inf", 64).unwrap() else {
            panic!()
        };
        assert!(s.value.is_infinite());
        assert_eq!(parse_line("# TYPE x counter", 64).unwrap(), Line::Skip);
        assert_eq!(parse_line("# just a comment", 64).unwrap(), Line::Skip);
        assert_eq!(parse_line("   ", 64).unwrap(), Line::Skip);
        assert_eq!(parse_line("# EOF", 64).unwrap(), Line::Skip);
    }

    #[test]
    fn malformed_lines_say_where_and_why() {
        check_err(
            "9x 1",
            Reason::BadMetricName,
            "metric name must start with a letter, '_' or ':' at column 1",
        );
        check_err(
            "x{a=\"1\" 2",
            Reason::BadLabels,
            "expected ',' or '}' after label value at column 9",
        );
        check_err(
            "x{a=1} 2",
            Reason::BadLabels,
            "expected '\"' to open label value at column 5",
        );
        check_err(
            "x{a=\"1} 2",
            Reason::BadLabels,
            "unterminated label value at column 10",
        );
        check_err(
            "x{a=\"\\t\"} 2",
            Reason::BadLabels,
            "invalid escape in label value at column 6",
        );
        check_err(
            "x{a=\"1\",a=\"2\"} 2",
            Reason::BadLabels,
            "duplicate label \"a\" at column 9",
        );
        check_err(
            "x twelve",
            Reason::BadValue,
            "value \"twelve\" is not a number at column 3",
        );
        check_err("x", Reason::BadValue, "missing value at column 2");
        check_err(
            "x 1 1.5",
            Reason::BadTimestamp,
            "timestamp \"1.5\" is not integer milliseconds at column 4",
        );
        check_err(
            "x 1 2 3",
            Reason::TrailingGarbage,
            "unexpected \"3\" at column 7",
        );
        check_err(
            "x-y 1",
            Reason::BadMetricName,
            "invalid character in metric name at column 2",
        );
        check_err(
            "# TYPE x speed",
            Reason::BadMetadata,
            "unknown metric type \"speed\" at column 3",
        );
        check_err(
            "# TYPE",
            Reason::BadMetadata,
            "# TYPE without a valid metric name at column 3",
        );
        assert_eq!(
            parse_line("x{a=\"1\",b=\"2\"} 1", 1).unwrap_err().reason,
            Reason::TooManyLabels
        );
    }

    #[test]
    fn push_in_pieces_equals_whole() {
        let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 200 1000\n\
                    ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 210 2000\n\
                    bad line here\n\
                    ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 220 3000";
        let rules = RuleSet::builtin();
        let whole = parse_str(text, "s", &rules, &ParseOptions::default());
        for chunk in [1, 2, 7, 64] {
            let mut d = Decoder::new("s", &rules, ParseOptions::default());
            for c in text.as_bytes().chunks(chunk) {
                d.push(c);
            }
            let b = d.finish();
            assert_eq!(b.readings, whole.readings, "chunk {chunk}");
            assert_eq!(b.quarantine, whole.quarantine, "chunk {chunk}");
        }
        assert_eq!(whole.readings.len(), 3);
        assert_eq!(whole.readings[2].value, 220.0);
        assert_eq!(whole.quarantine[0].place, Place::line("s", 3));
    }

    #[test]
    fn overlong_lines_are_bounded_and_quarantined() {
        let rules = RuleSet::builtin();
        let opts = ParseOptions::default().with_max_line_bytes(100);
        let long = format!(
            "x{{a=\"{}\"}} 1 1\nipmi_dcmi_power_consumption_watts{{instance=\"h\"}} 5 1\n",
            "y".repeat(10_000)
        );
        let mut d = Decoder::new("s", &rules, opts);
        for c in long.as_bytes().chunks(333) {
            d.push(c);
            assert!(d.pending.len() <= 100 + 333);
        }
        let b = d.finish();
        assert_eq!(b.stats.by_reason.get(&Reason::LineTooLong), Some(&1));
        assert_eq!(b.quarantine[0].excerpt.len(), Quarantined::EXCERPT_BYTES);
        assert_eq!(b.readings.len(), 1);
        assert_eq!(b.readings[0].ts, Timestamp::from_millis(1));
    }

    #[test]
    fn mapping_outcomes_are_counted() {
        let text = "\
container_cpu_usage_seconds_total{pod=\"w1\",container=\"main\"} 12.5 1000
container_cpu_usage_seconds_total{pod=\"w1\",container=\"\"} 13 1000
go_goroutines 12 1000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} 24 
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} NaN 2000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} +Inf 3000
ipmi_temperature_celsius{instance=\"bad host\",name=\"Inlet Temp\"} 1 3000
";
        let b = parse_str(text, "t", &RuleSet::builtin(), &ParseOptions::default());
        assert_eq!(b.stats.seen, 7);
        assert_eq!(b.stats.accepted, 2);
        assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::MissingLabel,
                Reason::UnmappedMetric,
                Reason::MissingTimestamp,
                Reason::NonFiniteValue,
                Reason::InvalidEntity
            ]
        );
        assert_eq!(b.readings[0].kind, SensorKind::CpuTime);
        assert_eq!(b.readings[0].sensor, "main");
        assert_eq!(b.readings[1].quality, Quality::Absent);

        let rules = RuleSet::builtin();
        let mut d = Decoder::new("bin", &rules, ParseOptions::default());
        d.push(b"up 1 1\n\xff\xfe 1 1\n");
        let b = d.finish();
        assert_eq!(b.stats.by_reason.get(&Reason::NotUtf8), Some(&1));
        assert_eq!(b.quarantine[1].place, Place::line("bin", 2));
    }
}
