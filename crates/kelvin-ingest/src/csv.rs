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
use std::ops::ControlFlow;

use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};
use serde_json::Value;

use crate::{Confidence, Context, Decode, Format, IngestBatch, Quarantined, Reason, csv_text};

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

/// The state of one CSV decode: the header's layout once it is read.
struct CsvRun<'c, 'n> {
    ctx: &'c Context<'n>,
    layout: Option<Result<Layout, String>>,
}

impl CsvRun<'_, '_> {
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
        if out.admit_record(|| (ctx.line(line), text)) {
            out.reject(Quarantined::new(
                ctx.line(line),
                Reason::LineTooLong,
                detail,
                text,
            ));
        }
    }

    /// One record as the `csv` crate read it: the header, or a row (one record of the input).
    fn record(&mut self, rec: &csv_text::Record<'_>, out: &mut IngestBatch) {
        let ctx = self.ctx;
        let line = rec.line;
        let text = || rec.fields.iter().collect::<Vec<_>>().join(",");
        let (reason, detail) = match (&rec.error, &self.layout) {
            (Some(e), _) => (Reason::BadField, e.clone()),
            (None, None) => {
                self.layout = Some(Layout::from_header(rec.fields));
                return;
            }
            (None, Some(Err(why))) => (Reason::BadField, why.clone()),
            (None, Some(Ok(l))) if rec.fields.len() != l.width => (
                Reason::BadField,
                format!("{} fields, the header has {}", rec.fields.len(), l.width),
            ),
            (None, Some(Ok(l))) => match l.reading(rec.fields, ctx) {
                Ok(r) => {
                    if out.admit_record(|| (ctx.line(line), text())) {
                        out.accept(r);
                    }
                    return;
                }
                Err(x) => x,
            },
        };
        if out.admit_record(|| (ctx.line(line), text())) {
            out.reject(Quarantined::new(ctx.line(line), reason, detail, &text()));
        }
    }
}

impl Decode for KelvinCsv {
    fn name(&self) -> &str {
        Format::KelvinCsv.as_str()
    }

    /// Decodes the text through the shared CSV reader: a record longer than `max_line_bytes`
    /// (the header included) is one [`Reason::LineTooLong`] record, found before the `csv`
    /// crate would build it.
    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        if !ctx.admit(input, out) {
            return;
        }
        let text = input.trim_start_matches('\u{feff}');
        let mut run = CsvRun { ctx, layout: None };
        csv_text::read(text, ctx.limits.max_line_bytes, |item| {
            match item {
                csv_text::Item::Record(r) => run.record(&r, out),
                csv_text::Item::TooLong(line, t) => run.too_long(line, t, out),
            }
            if out.records_full() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl KelvinCsv {
    /// A first line naming the `ts_ns`, `entity`, `sensor`, `kind` and `value` columns.
    pub(crate) fn sniff(&self, head: &str) -> bool {
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
        let ctx = Context::new("k", &n).with_limits(limits);
        let mut out = IngestBatch::bounded(&ctx);
        KelvinCsv.decode(&text, &ctx, &mut out);
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
