//! Kelvin's own CSV recording layout.
//!
//! One row per [`Reading`], under this header (RFC 4180 quoting, `\n` line ends, UTF-8):
//!
//! ```text
//! ts_ns,entity,sensor,kind,unit,value,quality,status
//! 1795701781123000000,h1/gpu-0,power.draw,power,W,345.32,good,
//! 1795701781123000000,h1/gpu-0,fan.speed,fan_duty,%,,absent,[N/A]
//! ,pdu-7,"outlet ""A"", left",current,A,0.5,warning,nc
//! ```
//!
//! | column | meaning | written as | read as |
//! |---|---|---|---|
//! | `ts_ns` | [`Timestamp`] in nanoseconds since the Unix epoch (UTC) | integer; empty for [`Timestamp::UNKNOWN`] | integer; empty → unknown |
//! | `entity` | [`kelvin_model::EntityId`] | as is | validated ([`Reason::InvalidEntity`]) |
//! | `sensor` | sensor name, any text (commas, quotes, newlines are quoted) | as is | as is, whitespace kept |
//! | `kind` | [`SensorKind`] in snake_case (`fan_speed`) | | unknown → [`Reason::BadField`] |
//! | `unit` | unit of `value` | always the kind's canonical unit (`Cel`, `W`, `J` …) | any unit of the kind's dimension (`kW`, `[degF]`, `kWh`, vendor spellings the [`Normalizer`](crate::Normalizer) knows), converted; empty → canonical |
//! | `value` | the value | shortest text that parses back to the same `f64` bit for bit (`-0`, `1e300`); empty when absent | empty → NaN and [`Quality::Absent`] |
//! | `quality` | [`Quality`] in snake_case | | empty → `good` (`absent` when `value` is empty); `absent` with a value → [`Reason::BadField`] |
//! | `status` | the source's raw status text | as is; empty for none | empty → none |
//!
//! Columns are found by name, so their order may differ and extra columns are ignored;
//! `ts_ns`, `entity`, `sensor`, `kind` and `value` are required. Writing then reading gives
//! the same readings: bit-exact values, NaN for absent ones, statuses preserved (an empty
//! status reads back as none). Non-finite values are written empty, as in Kelvin's JSON form.
//!
//! Each row after the header is one record.

use std::io::Write;

use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};
use serde_json::Value;

use crate::{Context, Decode, Format, IngestBatch, Quarantined, Reason};

/// The header of Kelvin's CSV layout, in the order [`write_csv`] writes it.
pub const COLUMNS: [&str; 8] = [
    "ts_ns", "entity", "sensor", "kind", "unit", "value", "quality", "status",
];

/// Decoder for Kelvin's CSV layout (see the [module documentation](self)); [`write_csv`]
/// writes it.
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, csv::{KelvinCsv, write_csv}};
/// let text = "ts_ns,entity,sensor,kind,unit,value,quality,status\n\
///             5,h1,inlet,temperature,[degF],77,good,ok\n";
/// let n = Normalizer::builtin();
/// let mut out = IngestBatch::default();
/// KelvinCsv.decode(text, &Context::new("r.csv", &n), &mut out);
/// assert!((out.readings[0].value - 25.0).abs() < 1e-12);
///
/// let mut buf = Vec::new();
/// write_csv(&out.readings, &mut buf)?;
/// assert!(String::from_utf8(buf).unwrap().ends_with("5,h1,inlet,temperature,Cel,25,good,ok\n"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct KelvinCsv;

/// Writes readings in Kelvin's CSV layout, header first, values in canonical units.
///
/// # Errors
/// Any error of the underlying writer.
pub fn write_csv(readings: &[Reading], w: impl Write) -> std::io::Result<()> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(w);
    w.write_record(COLUMNS)?;
    for r in readings {
        let ts = if r.ts.is_known() {
            r.ts.as_nanos().to_string()
        } else {
            String::new()
        };
        let value = if r.quality == Quality::Absent || !r.value.is_finite() {
            String::new()
        } else {
            format_value(r.value)
        };
        w.write_record([
            ts.as_str(),
            r.entity.as_str(),
            r.sensor.as_str(),
            r.kind.as_str(),
            r.kind.unit().symbol(),
            value.as_str(),
            quality_name(r.quality).as_str(),
            r.status.as_deref().unwrap_or(""),
        ])?;
    }
    w.flush()
}

/// The shortest text that parses back to exactly `v` (plain notation for ordinary
/// magnitudes, exponent notation for very large or small ones).
fn format_value(v: f64) -> String {
    if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

pub(crate) fn quality_name(q: Quality) -> String {
    match serde_json::to_value(q) {
        Ok(Value::String(s)) => s,
        _ => "good".to_string(),
    }
}

/// Column positions found in the header.
struct Layout {
    ts: usize,
    entity: usize,
    sensor: usize,
    kind: usize,
    value: usize,
    unit: Option<usize>,
    quality: Option<usize>,
    status: Option<usize>,
    width: usize,
}

impl Layout {
    fn from_header(h: &::csv::StringRecord) -> Result<Layout, String> {
        let find = |name: &str| h.iter().position(|c| c.trim() == name);
        let need =
            |name: &str| find(name).ok_or_else(|| format!("the header has no {name:?} column"));
        Ok(Layout {
            ts: need("ts_ns")?,
            entity: need("entity")?,
            sensor: need("sensor")?,
            kind: need("kind")?,
            value: need("value")?,
            unit: find("unit"),
            quality: find("quality"),
            status: find("status"),
            width: h.len(),
        })
    }

    fn reading(
        &self,
        rec: &::csv::StringRecord,
        ctx: &Context<'_>,
    ) -> Result<Reading, (Reason, String)> {
        let get = |i: usize| rec.get(i).unwrap_or("");
        let ts_text = get(self.ts);
        let ts = if ts_text.is_empty() {
            Timestamp::UNKNOWN
        } else {
            ts_text
                .parse::<i64>()
                .ok()
                .and_then(known_nanos)
                .ok_or_else(|| {
                    (
                        Reason::BadTimestamp,
                        format!(
                            "ts_ns {ts_text:?} is not integer nanoseconds (of i64, above the \
                             minimum, which stands for an unknown time)"
                        ),
                    )
                })?
        };
        let value_text = get(self.value);
        let value = if value_text.is_empty() {
            None
        } else {
            Some(value_text.parse::<f64>().map_err(|_| {
                (
                    Reason::BadValue,
                    format!("value {value_text:?} is not a number"),
                )
            })?)
        };
        let opt = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty());
        reading_from_row(
            &Row {
                ts,
                entity: get(self.entity),
                sensor: get(self.sensor),
                kind: get(self.kind),
                unit: opt(self.unit),
                value,
                quality: opt(self.quality),
                status: opt(self.status),
            },
            ctx,
        )
    }
}

/// A time from nanoseconds, refusing `i64::MIN`, which is [`Timestamp::UNKNOWN`] (the layout
/// writes an unknown time empty, or null).
pub(crate) fn known_nanos(ns: i64) -> Option<Timestamp> {
    (ns != i64::MIN).then(|| Timestamp::from_nanos(ns))
}

/// One record of Kelvin's recording layout, as read from CSV text or Parquet columns.
pub(crate) struct Row<'a> {
    pub(crate) ts: Timestamp,
    pub(crate) entity: &'a str,
    pub(crate) sensor: &'a str,
    pub(crate) kind: &'a str,
    pub(crate) unit: Option<&'a str>,
    pub(crate) value: Option<f64>,
    pub(crate) quality: Option<&'a str>,
    pub(crate) status: Option<&'a str>,
}

/// The reading a layout row describes, validated as the module documentation says (shared by
/// the CSV and Parquet forms of the layout).
pub(crate) fn reading_from_row(
    row: &Row<'_>,
    ctx: &Context<'_>,
) -> Result<Reading, (Reason, String)> {
    let entity =
        EntityId::new(row.entity).map_err(|e| (Reason::InvalidEntity, e.reason().to_string()))?;
    let kind = SensorKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == row.kind)
        .ok_or_else(|| (Reason::BadField, format!("unknown kind {:?}", row.kind)))?;
    let unit = match row.unit {
        None => kind.unit(),
        Some(u) => ctx
            .normalizer
            .unit(u)
            .ok_or_else(|| (Reason::BadUnit, format!("unknown unit {u:?}")))?,
    };
    let quality = match row.quality {
        None => None,
        Some(q) => Some(
            serde_json::from_value::<Quality>(Value::String(q.to_string()))
                .map_err(|_| (Reason::BadField, format!("unknown quality {q:?}")))?,
        ),
    };
    let (value, quality) = match row.value {
        None => (f64::NAN, Quality::Absent),
        Some(_) if quality == Some(Quality::Absent) => {
            return Err((
                Reason::BadField,
                "an absent reading must have an empty value".into(),
            ));
        }
        Some(v) if !v.is_finite() => return Err((Reason::NonFiniteValue, format!("value {v}"))),
        Some(v) => {
            let v = unit
                .convert(v, kind)
                .map_err(|e| (Reason::BadUnit, e.reason().to_string()))?;
            (v, quality.unwrap_or(Quality::Good))
        }
    };
    let mut r = Reading::new(entity, row.sensor, kind, value, row.ts).with_quality(quality);
    if let Some(s) = row.status {
        r = r.with_status(s);
    }
    Ok(r)
}

/// The records of CSV text, as byte spans, found the way the `csv` crate's reader finds them
/// (RFC 4180 quoting with doubled quotes, `\r`, `\n` or `\r\n` ends, blank lines skipped) but
/// without keeping them: the decoder refuses an over-long record before the `csv` crate builds
/// it (a record of 64 MiB of commas would take eight bytes per field).
struct Spans<'a> {
    text: &'a [u8],
    pos: usize,
    /// The line at `pos` (1-based, counting `\n` as the `csv` crate does).
    line: u64,
}

impl Spans<'_> {
    /// Where the `csv` crate's reader is after a record that ends at `end`: past the first byte
    /// of its terminator (the `\n` of a `\r\n` is skipped with the next record, as a blank line
    /// is), and the line there.
    fn after(&self, end: usize, end_line: u64) -> (usize, u64) {
        match self.text.get(end) {
            Some(b'\n') => (end + 1, end_line + 1),
            Some(_) => (end + 1, end_line),
            None => (end, end_line),
        }
    }
}

impl Iterator for Spans<'_> {
    /// (start, end, line of start, line of end)
    type Item = (usize, usize, u64, u64);

    fn next(&mut self) -> Option<(usize, usize, u64, u64)> {
        #[derive(PartialEq)]
        enum St {
            StartField,
            InField,
            Quoted,
            QuoteInQuoted,
        }
        let t = self.text;
        // blank lines between records are not records
        while self.pos < t.len() && matches!(t[self.pos], b'\r' | b'\n') {
            if t[self.pos] == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        if self.pos >= t.len() {
            return None;
        }
        let (start, line) = (self.pos, self.line);
        let mut st = St::StartField;
        while self.pos < t.len() {
            let b = t[self.pos];
            st = match (st, b) {
                (St::Quoted, b'"') => St::QuoteInQuoted,
                (St::Quoted, _) => St::Quoted,
                (St::QuoteInQuoted, b'"') | (St::StartField, b'"') => St::Quoted,
                (_, b',') => St::StartField,
                (_, b'\r' | b'\n') => break,
                _ => St::InField,
            };
            if b == b'\n' {
                self.line += 1;
            }
            self.pos += 1;
        }
        Some((start, self.pos, line, self.line))
    }
}

/// The state of one CSV decode, carried across the runs of records it is fed.
struct CsvRun<'c, 'n> {
    ctx: &'c Context<'n>,
    layout: Option<Result<Layout, String>>,
    records: usize,
    done: bool,
}

impl CsvRun<'_, '_> {
    /// Counts one record; at the limit, quarantines the rest as one record and stops.
    fn admit(&mut self, line: u64, text: &str, out: &mut IngestBatch) -> bool {
        if self.records == self.ctx.limits.max_records {
            too_many(self.ctx, line, text, out);
            self.done = true;
            return false;
        }
        self.records += 1;
        true
    }

    /// A record longer than `max_line_bytes`, never handed to the `csv` crate.
    fn too_long(&mut self, line: u64, text: &str, out: &mut IngestBatch) {
        let ctx = self.ctx;
        let detail = format!(
            "a record of {} bytes, over max_line_bytes ({})",
            text.len(),
            ctx.limits.max_line_bytes
        );
        if self.layout.is_none() {
            self.layout = Some(Err(format!("the header line {line} is too long: {detail}")));
        }
        if self.admit(line, text, out) {
            out.reject(Quarantined::new(
                ctx.line(line),
                Reason::LineTooLong,
                detail,
                text,
            ));
        }
    }

    /// Decodes a run of records, each within `max_line_bytes`, that starts at `first_line`.
    fn feed(&mut self, run: &str, first_line: u64, out: &mut IngestBatch) {
        let ctx = self.ctx;
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(run.as_bytes());
        let mut rec = ::csv::StringRecord::new();
        while !self.done {
            let line = reader.position().line();
            let result = reader.read_record(&mut rec);
            let line = rec.position().map_or(line, ::csv::Position::line) + first_line - 1;
            let text = || rec.iter().collect::<Vec<_>>().join(",");
            match result {
                Ok(false) => return,
                Ok(true) => {}
                Err(e) => {
                    if self.admit(line, &text(), out) {
                        out.reject(Quarantined::new(
                            ctx.line(line),
                            Reason::BadField,
                            e.to_string(),
                            &text(),
                        ));
                    }
                    continue;
                }
            }
            let Some(lay) = &self.layout else {
                self.layout = Some(Layout::from_header(&rec));
                continue;
            };
            let (reason, detail) = match lay {
                Err(why) => (Reason::BadField, why.clone()),
                Ok(l) if rec.len() != l.width => (
                    Reason::BadField,
                    format!("{} fields, the header has {}", rec.len(), l.width),
                ),
                Ok(l) => match l.reading(&rec, ctx) {
                    Ok(r) => {
                        if self.admit(line, &text(), out) {
                            out.accept(r);
                        }
                        continue;
                    }
                    Err(x) => x,
                },
            };
            if self.admit(line, &text(), out) {
                out.reject(Quarantined::new(ctx.line(line), reason, detail, &text()));
            }
        }
    }
}

impl Decode for KelvinCsv {
    fn format(&self) -> Format {
        Format::KelvinCsv
    }

    /// Decodes the text in runs of records within `max_line_bytes`: a longer record (the
    /// header included) is one [`Reason::LineTooLong`] record, found before the `csv` crate
    /// would build it.
    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        if !ctx.admit(input, out) {
            return;
        }
        let text = input.trim_start_matches('\u{feff}');
        let mut run = CsvRun {
            ctx,
            layout: None,
            records: 0,
            done: false,
        };
        let max = ctx.limits.max_line_bytes;
        let mut spans = Spans {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        };
        // The run of records not yet decoded: where it starts, its line, and where it ends.
        let (mut run_start, mut run_line, mut run_end) = (0, 1, None);
        while let Some((start, end, line, end_line)) = spans.next() {
            if end - start <= max {
                run_end = Some(spans.after(end, end_line).0);
                continue;
            }
            if let Some(e) = run_end.take() {
                run.feed(&text[run_start..e], run_line, out);
            }
            if run.done {
                return;
            }
            run.too_long(line, &text[start..end], out);
            if run.done {
                return;
            }
            (run_start, run_line) = spans.after(end, end_line);
        }
        if let Some(e) = run_end {
            run.feed(&text[run_start..e], run_line, out);
        }
    }

    /// A first line naming the `ts_ns`, `entity`, `sensor`, `kind` and `value` columns.
    fn sniff(&self, head: &str) -> bool {
        let first = head
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches('\u{feff}');
        let cols: Vec<&str> = first.split(',').map(str::trim).collect();
        ["ts_ns", "entity", "sensor", "kind", "value"]
            .iter()
            .all(|c| cols.contains(c))
    }
}

fn too_many(ctx: &Context<'_>, line: u64, text: &str, out: &mut IngestBatch) {
    out.reject(Quarantined::new(
        ctx.line(line),
        Reason::TooManyRecords,
        format!(
            "more than {} records; the rest of the input is not read",
            ctx.limits.max_records
        ),
        text,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};

    fn run(text: &str) -> IngestBatch {
        let n = Normalizer::builtin();
        let mut out = IngestBatch::default();
        KelvinCsv.decode(text, &Context::new("k.csv", &n), &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    #[test]
    fn layout_example_round_trips() {
        let readings = vec![
            Reading::new(
                id("h1/gpu-0"),
                "power.draw",
                SensorKind::Power,
                345.32,
                Timestamp::from_millis(1_795_701_781_123),
            ),
            Reading::new(
                id("h1/gpu-0"),
                "fan.speed",
                SensorKind::FanDuty,
                f64::NAN,
                Timestamp::from_millis(1_795_701_781_123),
            )
            .with_quality(Quality::Absent)
            .with_status("[N/A]"),
            Reading::new(
                id("pdu-7"),
                "outlet \"A\", left",
                SensorKind::Current,
                0.5,
                Timestamp::UNKNOWN,
            )
            .with_quality(Quality::Warning)
            .with_status("nc"),
        ];
        let mut buf = Vec::new();
        write_csv(&readings, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "ts_ns,entity,sensor,kind,unit,value,quality,status\n\
             1795701781123000000,h1/gpu-0,power.draw,power,W,345.32,good,\n\
             1795701781123000000,h1/gpu-0,fan.speed,fan_duty,%,,absent,[N/A]\n\
             ,pdu-7,\"outlet \"\"A\"\", left\",current,A,0.5,warning,nc\n"
        );
        let back = run(&text);
        assert_eq!(back.readings.len(), 3);
        assert_eq!(back.readings[0], readings[0]);
        assert!(back.readings[1].value.is_nan());
        assert_eq!(back.readings[1].status, readings[1].status);
        assert_eq!(back.readings[2], readings[2]);
    }

    #[test]
    fn values_format_exactly() {
        for v in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-7,
            123_456.789,
            1e300,
            -2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ] {
            let t = format_value(v);
            assert_eq!(
                t.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{v} as {t}"
            );
        }
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(1e300), "1e300");
    }

    #[test]
    fn input_units_orders_and_errors() {
        let b = run("kind,value,unit,sensor,entity,ts_ns,extra\n\
                     power,1.5,kW,psu,h1,7,x\n\
                     energy,1,kWh,meter,h1,,x\n");
        assert_eq!(b.readings[0].value, 1500.0);
        assert_eq!(b.readings[0].quality, Quality::Good);
        assert_eq!(b.readings[1].value, 3.6e6);
        assert_eq!(b.readings[1].ts, Timestamp::UNKNOWN);

        let b = run("ts_ns,entity,sensor,kind,unit,value,quality,status\n\
                     x,h1,s,power,W,1,good,\n\
                     1,bad host,s,power,W,1,good,\n\
                     1,h1,s,voltage_ish,V,1,good,\n\
                     1,h1,s,power,Cel,1,good,\n\
                     1,h1,s,power,W,one,good,\n\
                     1,h1,s,power,W,inf,good,\n\
                     1,h1,s,power,W,1,absent,\n\
                     1,h1,s,power,W,1,meh,\n\
                     1,h1,s,power,W,1\n\
                     1,h1,s,power,furlong,1,good,\n\
                     1,h1,s,power,W,,good,\n");
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::BadTimestamp,
                Reason::InvalidEntity,
                Reason::BadField,
                Reason::BadUnit,
                Reason::BadValue,
                Reason::NonFiniteValue,
                Reason::BadField,
                Reason::BadField,
                Reason::BadField,
                Reason::BadUnit
            ]
        );
        assert_eq!(b.quarantine[0].place.to_string(), "k.csv:2");
        assert_eq!(b.readings[0].quality, Quality::Absent);

        let b = run("entity,sensor\nh1,s\nh2,s\n");
        assert_eq!(b.stats.quarantined, 2);
        assert!(b.quarantine[0].detail.contains("ts_ns"));
    }

    #[test]
    fn limits() {
        let n = Normalizer::builtin();
        let text = format!(
            "ts_ns,entity,sensor,kind,unit,value,quality,status\n{}",
            "1,h1,s,power,W,1,good,\n".repeat(5)
        );
        let limits = Limits {
            max_records: 2,
            ..Limits::default()
        };
        let mut out = IngestBatch::default();
        KelvinCsv.decode(&text, &Context::new("k", &n).with_limits(limits), &mut out);
        assert_eq!((out.stats.accepted, out.stats.quarantined), (2, 1));
        assert_eq!(out.quarantine[0].reason, Reason::TooManyRecords);
        assert_eq!(out.quarantine[0].place.to_string(), "k:4");
        let limits = Limits {
            max_line_bytes: 60,
            ..Limits::default()
        };
        let text = format!(
            "ts_ns,entity,sensor,kind,unit,value,quality,status\n1,h1,{},power,W,1,good,\n1,h1,s,power,W,1,good,\n",
            "s".repeat(40)
        );
        let mut out = IngestBatch::default();
        KelvinCsv.decode(&text, &Context::new("k", &n).with_limits(limits), &mut out);
        assert_eq!(out.quarantine[0].reason, Reason::LineTooLong);
        assert_eq!(out.readings.len(), 1);
    }

    proptest::proptest! {
        /// The record spans the decoder checks are the records the `csv` crate reads.
        #[test]
        fn spans_are_the_csv_crates_records(text in "[a,\"\r\n]{0,40}") {
            let mut it = Spans { text: text.as_bytes(), pos: 0, line: 1 };
            let mut spans = Vec::new();
            while let Some((_, end, _, end_line)) = it.next() {
                let (at, line) = it.after(end, end_line);
                spans.push((at, line));
            }
            let mut reader = ::csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            let mut records = Vec::new();
            let mut rec = ::csv::ByteRecord::new();
            while reader.read_byte_record(&mut rec).unwrap_or(false) {
                let p = reader.position();
                records.push((p.byte() as usize, p.line()));
            }
            proptest::prop_assert_eq!(spans, records, "{:?}", text);
        }
    }

    #[test]
    fn over_long_records_are_refused_before_parsing() {
        let n = Normalizer::builtin();
        let ctx = Context::new("k", &n).with_limits(Limits::default().with_max_line_bytes(100));
        let commas = ",".repeat(10_000);
        let text = format!(
            "ts_ns,entity,sensor,kind,unit,value,quality,status\n\"{commas}\n\"\n{commas}\n1,h1,s,power,W,1,good,\n"
        );
        let mut out = IngestBatch::default();
        KelvinCsv.decode(&text, &ctx, &mut out);
        let got: Vec<(String, Reason)> = out
            .quarantine
            .iter()
            .map(|q| (q.place.to_string(), q.reason))
            .collect();
        assert_eq!(
            got,
            [
                ("k:2".to_string(), Reason::LineTooLong),
                ("k:4".to_string(), Reason::LineTooLong)
            ]
        );
        assert_eq!(out.readings.len(), 1);
        assert!(out.quarantine[0].detail.contains("max_line_bytes"));
        // an over-long header makes every row unreadable, and says why
        let mut out = IngestBatch::default();
        KelvinCsv.decode(
            &format!("{commas}\n1,h1,s,power,W,1,good,\n"),
            &ctx,
            &mut out,
        );
        assert_eq!(out.stats.quarantined, 2);
        assert!(
            out.quarantine[1].detail.contains("header"),
            "{}",
            out.quarantine[1].detail
        );
    }

    #[test]
    fn sniffing() {
        assert!(KelvinCsv.sniff("ts_ns,entity,sensor,kind,unit,value,quality,status\n1,"));
        assert!(!KelvinCsv.sniff("timestamp, power.draw [W]"));
        assert!(!KelvinCsv.sniff(""));
    }
}
