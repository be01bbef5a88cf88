//! NVML through nvidia-smi: `--query-gpu --format=csv`, `pmon`, `dmon`.
//!
//! # `nvidia-smi --query-gpu=… --format=csv[,nounits][,noheader]` ([`NvidiaSmiQuery`])
//!
//! The first non-blank line is the header (`timestamp, index, power.draw [W], …`); the others
//! are rows of comma-separated values (read as CSV by the `csv` crate, so a quoted field may
//! hold a comma; fields are trimmed), with the unit inside the value (`72.13 W`, `0 %`) unless
//! `nounits` was given (then the header's `[W]` or the column's default unit applies). A repeat
//! of the header (concatenated captures) is skipped. `noheader` output cannot be decoded: only
//! the header says which column is which.
//!
//! Each cell of a *reading column* is one record:
//!
//! | column | kind | sensor |
//! |---|---|---|
//! | `temperature.gpu`, `temperature.memory` | temperature (°C) | the column name |
//! | `power.draw`, `power.draw.instant`, `power.draw.average` | power (W) | the column name |
//! | `enforced.power.limit`, `power.limit` | power (W) | the column name |
//! | `utilization.gpu`, `.memory`, `.encoder`, `.decoder`, `.jpeg`, `.ofa` | utilization (% → ratio) | the column name |
//! | `fan.speed` | fan duty (%) | `fan.speed` |
//! | `total_energy_consumption` | energy (mJ → J) | `total_energy_consumption` |
//!
//! Every other column (clocks, `memory.used`, `name`, `pstate`, `driver_version`, limits
//! other than the two above, `temperature.gpu.tlimit` which is a margin, not a temperature) is an
//! attribute: not a reading and not a record. `index`, `uuid`, `pci.bus_id` and `timestamp`
//! identify the row.
//!
//! Values in brackets (`[N/A]`, `[Not Supported]`, `[Unknown Error]`) and the normalizer's
//! absent texts are absent readings (NaN, [`Quality::Absent`], the text kept as status).
//!
//! A row that cannot be placed (a different number of fields than the header, an unreadable
//! timestamp, an invalid GPU id) is one quarantined record.
//!
//! # `nvidia-smi pmon` ([`NvidiaSmiPmon`]) and `nvidia-smi dmon` ([`NvidiaSmiDmon`])
//!
//! Fixed-width tables under a `# gpu pid type sm mem …` (pmon) or `# gpu pwr gtemp …` (dmon)
//! header and a `# Idx # C/G % …` units line, repeated every few screens; `-` is "no value".
//! With `-o DT` the rows start with `Date` (`YYYYMMDD`) and `Time` (`HH:MM:SS`) columns.
//!
//! - pmon: each `%` cell (`sm`, `mem`, `enc`, `dec`, `jpg`, `ofa`) is one utilization record
//!   for the *process*: entity `pid-<pid>`, sensor `gpu<idx>/sm` (`gpu0/mem`, …). A row whose
//!   pid is `-` says the GPU ran no process in that sample: it holds no reading and is not a
//!   record. `fb`, `ccpm` (MB), `type` and `command` are attributes.
//! - dmon: per GPU row, `pwr` → `power.draw`, `gtemp` → `temperature.gpu`, `mtemp` →
//!   `temperature.memory`, `sm` → `utilization.gpu`, `mem` → `utilization.memory`, `enc`,
//!   `dec`, `jpg`, `ofa` → `utilization.encoder` / `.decoder` / `.jpeg` / `.ofa` (the names the
//!   query format uses, so both captures fill the same series). Clocks, violations, memory,
//!   ECC and PCIe columns are attributes.
//!
//! # Entities and time
//!
//! A GPU is `gpu-<index>` (`<host>/gpu-<index>` when [`Context::entity`] names the host);
//! without an `index` column, the `uuid` (`GPU-5d0c…`, globally unique, used as it is), else the
//! `pci.bus_id` (with the same host prefix), else [`Context::fallback_entity`] (a capture of one
//! GPU). A pmon process is `pid-<pid>` (`<host>/pid-<pid>`).
//!
//! nvidia-smi prints local time without a zone (`2026/11/26 14:03:01.123`, pmon/dmon
//! `20261126 14:03:01`). Kelvin cannot know the capturing host's zone, so these times are read
//! as **UTC**; capture with `TZ=UTC` (as the bundled recordings were) or shift afterwards. Rows
//! without a time column carry [`Context::timestamp`].

use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp, Unit};

use std::ops::ControlFlow;

use crate::{Confidence, Context, Decode, Format, IngestBatch, Quarantined, Reason, csv_text};

/// Decoder for `nvidia-smi --query-gpu=… --format=csv` (see the [module documentation](self)).
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, nvidia::NvidiaSmiQuery};
/// let csv = "timestamp, index, power.draw [W], utilization.gpu [%], clocks.sm [MHz]\n\
///            2026/11/26 20:20:08.174, 0, 72.13 W, 87 %, 345 MHz\n";
/// let n = Normalizer::builtin();
/// let mut out = IngestBatch::default();
/// NvidiaSmiQuery.decode(csv, &Context::new("q.csv", &n), &mut out);
/// assert_eq!(out.readings.len(), 2); // clocks are an attribute
/// assert_eq!(out.readings[0].entity.as_str(), "gpu-0");
/// assert_eq!((out.readings[0].sensor.as_str(), out.readings[0].value), ("power.draw", 72.13));
/// assert_eq!(out.readings[1].value, 0.87);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NvidiaSmiQuery;

/// Decoder for `nvidia-smi pmon` per-process tables (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct NvidiaSmiPmon;

/// Decoder for `nvidia-smi dmon` per-device tables (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, Default)]
pub struct NvidiaSmiDmon;

/// Query columns that are readings: name, kind, unit when neither value nor header has one.
const QUERY_READINGS: &[(&str, SensorKind, Unit)] = &[
    ("temperature.gpu", SensorKind::Temperature, Unit::Celsius),
    ("temperature.memory", SensorKind::Temperature, Unit::Celsius),
    ("power.draw", SensorKind::Power, Unit::Watt),
    ("power.draw.instant", SensorKind::Power, Unit::Watt),
    ("power.draw.average", SensorKind::Power, Unit::Watt),
    ("enforced.power.limit", SensorKind::Power, Unit::Watt),
    ("power.limit", SensorKind::Power, Unit::Watt),
    ("utilization.gpu", SensorKind::Utilization, Unit::Percent),
    ("utilization.memory", SensorKind::Utilization, Unit::Percent),
    (
        "utilization.encoder",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    (
        "utilization.decoder",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    ("utilization.jpeg", SensorKind::Utilization, Unit::Percent),
    ("utilization.ofa", SensorKind::Utilization, Unit::Percent),
    ("fan.speed", SensorKind::FanDuty, Unit::Percent),
    (
        "total_energy_consumption",
        SensorKind::Energy,
        Unit::Millijoule,
    ),
];

/// Query columns recognized by the sniffer besides the readings.
const QUERY_OTHERS: &[&str] = &[
    "timestamp",
    "index",
    "uuid",
    "name",
    "pci.bus_id",
    "gpu_bus_id",
    "driver_version",
    "pstate",
    "serial",
    "memory.used",
    "memory.total",
    "clocks.sm",
    "clocks.current.sm",
];

/// pmon columns that are per-process utilizations.
const PMON_READINGS: &[&str] = &["sm", "mem", "enc", "dec", "jpg", "ofa"];

/// dmon columns that are readings: column, sensor, kind, default unit.
const DMON_READINGS: &[(&str, &str, SensorKind, Unit)] = &[
    ("pwr", "power.draw", SensorKind::Power, Unit::Watt),
    (
        "gtemp",
        "temperature.gpu",
        SensorKind::Temperature,
        Unit::Celsius,
    ),
    (
        "mtemp",
        "temperature.memory",
        SensorKind::Temperature,
        Unit::Celsius,
    ),
    (
        "sm",
        "utilization.gpu",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    (
        "mem",
        "utilization.memory",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    (
        "enc",
        "utilization.encoder",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    (
        "dec",
        "utilization.decoder",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    (
        "jpg",
        "utilization.jpeg",
        SensorKind::Utilization,
        Unit::Percent,
    ),
    (
        "ofa",
        "utilization.ofa",
        SensorKind::Utilization,
        Unit::Percent,
    ),
];

/// Admits the record on line `no` into the batch's record limit
/// ([`IngestBatch::admit_record`]): past it, this record stands for the rest of the input.
pub(crate) fn admit(ctx: &Context<'_>, no: u64, line: &str, out: &mut IngestBatch) -> bool {
    out.admit_record(|| (ctx.line(no), line))
}

/// Physical lines with 1-based numbers, `\r` removed.
fn lines(input: &str) -> impl Iterator<Item = (u64, &str)> {
    input
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// The line loop of the pmon/dmon tables: refuses an oversized input, then hands each
/// non-blank line that is within the line limit to `f`, until the batch's record limit is
/// reached.
fn each_line(
    input: &str,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
    mut f: impl FnMut(u64, &str, &mut IngestBatch),
) {
    if !ctx.admit(input, out) {
        return;
    }
    for (no, line) in lines(input) {
        if out.records_full() {
            return;
        }
        if line.trim().is_empty() || too_long(ctx, no, line, out) {
            continue;
        }
        f(no, line, out);
    }
}

/// The record loop of the CSV formats (`nvidia-smi --format=csv`, the [`crate::nvml`]
/// sampler's files): refuses an oversized input, then reads it through the crate's CSV reader
/// and hands each non-blank record within the line limit to `f` — its line, its text and its
/// fields, trimmed — until the batch's record limit is reached.
pub(crate) fn each_csv_row(
    input: &str,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
    mut f: impl FnMut(u64, &str, &[&str], &mut IngestBatch),
) {
    if !ctx.admit(input, out) {
        return;
    }
    csv_text::read(input, ctx.limits.max_line_bytes, |item| {
        match item {
            csv_text::Item::TooLong(no, text) => {
                too_long(ctx, no, text, out);
            }
            csv_text::Item::Record(r) if r.text.trim().is_empty() => {}
            csv_text::Item::Record(r) => match &r.error {
                Some(e) => {
                    if admit(ctx, r.line, r.text, out) {
                        let q = Quarantined::new(ctx.line(r.line), Reason::BadField, e, r.text);
                        out.reject(q);
                    }
                }
                None => {
                    let fields: Vec<&str> = r.fields.iter().map(str::trim).collect();
                    f(r.line, r.text, &fields, out);
                }
            },
        }
        if out.records_full() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
}

/// Whether `line` is over the line limit; if so it is one [`Reason::LineTooLong`] record.
fn too_long(ctx: &Context<'_>, no: u64, line: &str, out: &mut IngestBatch) -> bool {
    if line.len() <= ctx.limits.max_line_bytes {
        return false;
    }
    if admit(ctx, no, line, out) {
        out.reject(Quarantined::new(
            ctx.line(no),
            Reason::LineTooLong,
            format!(
                "{} bytes, over max_line_bytes ({})",
                line.len(),
                ctx.limits.max_line_bytes
            ),
            line,
        ));
    }
    true
}

/// `<host>/` when the context names the host.
pub(crate) fn host_prefix(ctx: &Context<'_>) -> String {
    ctx.entity
        .as_ref()
        .map(|e| format!("{e}/"))
        .unwrap_or_default()
}

/// Whether a cell means "no value": `-`, `[N/A]`, `[Not Supported]`, the normalizer's texts.
pub(crate) fn is_absent(ctx: &Context<'_>, text: &str) -> bool {
    let t = text.trim();
    (t.starts_with('[') && t.ends_with(']')) || t == "-" || ctx.normalizer.is_absent(t)
}

/// The value of a cell as a reading (or the reason it is not one).
fn cell_reading(
    ctx: &Context<'_>,
    entity: &EntityId,
    sensor: &str,
    kind: SensorKind,
    default_unit: Unit,
    text: &str,
    ts: Timestamp,
) -> Result<Reading, (Reason, String)> {
    let t = text.trim();
    if is_absent(ctx, t) {
        let r =
            Reading::new(entity.clone(), sensor, kind, f64::NAN, ts).with_quality(Quality::Absent);
        return Ok(if t.is_empty() { r } else { r.with_status(t) });
    }
    let (number, unit_text) = match t.split_once(|c: char| c.is_ascii_whitespace()) {
        Some((n, u)) => (n, Some(u.trim())),
        None => (t, None),
    };
    let value: f64 = number.parse().map_err(|_| {
        (
            Reason::BadValue,
            format!("{sensor} value {t:?} is not a number"),
        )
    })?;
    if !value.is_finite() {
        return Err((Reason::NonFiniteValue, format!("{sensor} value {t:?}")));
    }
    let unit = match unit_text {
        Some(u) => ctx
            .normalizer
            .unit(u)
            .ok_or_else(|| (Reason::BadUnit, format!("unknown unit {u:?} for {sensor}")))?,
        None => default_unit,
    };
    let value = unit
        .convert(value, kind)
        .map_err(|e| (Reason::BadUnit, format!("{sensor}: {}", e.reason())))?;
    Ok(Reading::new(entity.clone(), sensor, kind, value, ts))
}

/// `2026/11/26 14:03:01.123` (or `-` separated), read as UTC.
fn parse_query_time(text: &str) -> Option<Timestamp> {
    let (date, time) = text.trim().split_once(' ')?;
    let date: Vec<&str> = date.split(['/', '-']).collect();
    if date.len() != 3 {
        return None;
    }
    let num = |s: &str, len: usize| -> Option<u32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let (y, m, d) = (num(date[0], 4)?, num(date[1], 2)?, num(date[2], 2)?);
    civil(y, m, d, time.trim())
}

/// `20261126` and `14:03:01`, read as UTC.
fn parse_dt(date: &str, time: &str) -> Option<Timestamp> {
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = date[..4].parse().ok()?;
    let m = date[4..6].parse().ok()?;
    let d = date[6..].parse().ok()?;
    civil(y, m, d, time)
}

/// A UTC instant from a date and `HH:MM:SS[.fraction]`.
fn civil(y: u32, m: u32, d: u32, time: &str) -> Option<Timestamp> {
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let (h, mi, s): (i64, i64, i64) = (
        parts[0].parse().ok()?,
        parts[1].parse().ok()?,
        parts[2].parse().ok()?,
    );
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let dot = time.contains('.');
    if (dot && frac.is_empty()) || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().ok()? * 10_i64.pow(9 - frac.len() as u32)
    };
    // A leap second (:60) is the first instant of the next second.
    Timestamp::from_utc(
        i64::from(y),
        i64::from(m),
        i64::from(d),
        h,
        mi,
        s.min(59),
        nanos,
    )
    .ok()
    .map(|t| t.add_nanos(if s == 60 { Timestamp::NANOS_PER_SEC } else { 0 }))
}

/// A query header cell: `power.draw [W]` → (`power.draw`, `Some("W")`).
fn header_cell(cell: &str) -> (String, Option<String>) {
    let c = cell.trim();
    match c.split_once('[') {
        Some((name, rest)) => (
            name.trim().to_ascii_lowercase(),
            Some(rest.trim_end_matches(']').trim().to_string()),
        ),
        None => (c.to_ascii_lowercase(), None),
    }
}

fn is_field_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_lowercase() || c == b'_')
        && b.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'.')
}

struct QueryHeader {
    raw: String,
    /// (column name, header unit)
    cols: Vec<(String, Option<String>)>,
}

impl QueryHeader {
    fn find(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|(n, _)| n == name)
    }
}

impl NvidiaSmiQuery {
    /// One row (`line` on line `no`, its `fields` trimmed) under the header `h`.
    fn row(
        &self,
        h: &QueryHeader,
        (no, line, fields): (u64, &str, &[&str]),
        ctx: &Context<'_>,
        out: &mut IngestBatch,
    ) {
        let reject_row = |reason, detail: String, out: &mut IngestBatch| {
            if admit(ctx, no, line, out) {
                out.reject(Quarantined::new(ctx.line(no), reason, detail, line));
            }
        };
        if fields.len() != h.cols.len() {
            let detail = format!("{} fields, the header has {}", fields.len(), h.cols.len());
            return reject_row(Reason::BadField, detail, out);
        }
        let ts = match h.find("timestamp") {
            Some(i) => match parse_query_time(fields[i]) {
                Some(ts) => ts,
                None => {
                    let detail =
                        format!("timestamp {:?} is not YYYY/MM/DD HH:MM:SS.fff", fields[i]);
                    return reject_row(Reason::BadTimestamp, detail, out);
                }
            },
            None => ctx.timestamp(),
        };
        let field = |name: &str| h.find(name).map(|i| fields[i]);
        let prefix = host_prefix(ctx);
        let id = if let Some(ix) = field("index") {
            match ix.parse::<u32>() {
                Ok(n) => Ok(format!("{prefix}gpu-{n}")),
                Err(_) => Err(format!("GPU index {ix:?} is not a number")),
            }
        } else if let Some(u) = field("uuid") {
            Ok(u.to_string())
        } else if let Some(b) = field("pci.bus_id").or_else(|| field("gpu_bus_id")) {
            Ok(format!("{prefix}{b}"))
        } else {
            Ok(ctx.fallback_entity().as_str().to_string())
        };
        let entity = match id.and_then(|s| EntityId::new(s).map_err(|e| e.reason().to_string())) {
            Ok(e) => e,
            Err(why) => return reject_row(Reason::InvalidEntity, why, out),
        };
        for (i, (name, header_unit)) in h.cols.iter().enumerate() {
            let Some((_, kind, default)) = QUERY_READINGS.iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            if !admit(ctx, no, line, out) {
                return;
            }
            let default = match header_unit {
                Some(u) => match ctx.normalizer.unit(u) {
                    Some(u) => u,
                    None => {
                        out.reject(Quarantined::new(
                            ctx.line(no),
                            Reason::BadUnit,
                            format!("unknown unit {u:?} in the header of {name}"),
                            line,
                        ));
                        continue;
                    }
                },
                None => *default,
            };
            match cell_reading(ctx, &entity, name, *kind, default, fields[i], ts) {
                Ok(r) => out.accept(r),
                Err((reason, detail)) => {
                    out.reject(Quarantined::new(ctx.line(no), reason, detail, line));
                }
            }
        }
    }
}

impl Decode for NvidiaSmiQuery {
    fn name(&self) -> &str {
        Format::NvidiaSmiQuery.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let mut header: Option<QueryHeader> = None;
        each_csv_row(input, ctx, out, |no, line, fields, out| match &header {
            None => {
                header = Some(QueryHeader {
                    raw: line.trim().to_string(),
                    cols: fields.iter().map(|f| header_cell(f)).collect(),
                });
            }
            Some(h) if line.trim() == h.raw => {}
            Some(h) => self.row(h, (no, line, fields), ctx, out),
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl NvidiaSmiQuery {
    /// A first non-blank line of comma-separated nvidia-smi field names, one of them a known
    /// query field.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let Some(first) = head.lines().find(|l| !l.trim().is_empty()) else {
            return false;
        };
        let cols: Vec<(String, Option<String>)> = first.split(',').map(header_cell).collect();
        cols.iter().all(|(n, _)| is_field_name(n))
            && cols.iter().any(|(n, _)| {
                QUERY_READINGS.iter().any(|(r, _, _)| r == n) || QUERY_OTHERS.contains(&n.as_str())
            })
            && cols
                .iter()
                .any(|(n, _)| n.contains('.') || n == "index" || n == "uuid")
    }
}

/// A pmon/dmon table header: column names and units (aligned, `None` before a units line).
#[derive(Default)]
struct Table {
    cols: Vec<String>,
    units: Vec<String>,
}

impl Table {
    fn find(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c == name)
    }
}

/// Tokens of a `#` line without the `#` (`# gpu pid` and `#Date Time gpu` both work).
fn comment_tokens(line: &str) -> Option<Vec<String>> {
    let rest = line.trim_start().strip_prefix('#')?;
    Some(rest.split_ascii_whitespace().map(str::to_string).collect())
}

/// Shared pmon/dmon driver: headers, limits, rows.
fn decode_table(
    input: &str,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
    mut row: impl FnMut(&Table, u64, &str, &[&str], Timestamp, &mut IngestBatch),
) {
    let mut table: Option<Table> = None;
    each_line(input, ctx, out, |no, line, out| {
        if let Some(tokens) = comment_tokens(line) {
            if tokens.iter().any(|t| t == "gpu") {
                table = Some(Table {
                    cols: tokens,
                    units: Vec::new(),
                });
            } else if let Some(t) = table
                .as_mut()
                .filter(|t| tokens.iter().any(|x| x == "Idx") && t.units.is_empty())
            {
                t.units = tokens;
            }
            return;
        }
        let reject_row = |reason, detail: String, out: &mut IngestBatch| {
            if admit(ctx, no, line, out) {
                out.reject(Quarantined::new(ctx.line(no), reason, detail, line));
            }
        };
        let Some(t) = &table else {
            reject_row(
                Reason::BadField,
                "a row before the `# gpu …` header".into(),
                out,
            );
            return;
        };
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < t.cols.len() {
            let detail = format!("{} fields, the header has {}", fields.len(), t.cols.len());
            reject_row(Reason::BadField, detail, out);
            return;
        }
        let ts = match (t.find("Date"), t.find("Time")) {
            (Some(d), Some(tm)) => match parse_dt(fields[d], fields[tm]) {
                Some(ts) => ts,
                None => {
                    let detail = format!(
                        "date/time {:?} {:?} is not YYYYMMDD HH:MM:SS",
                        fields[d], fields[tm]
                    );
                    reject_row(Reason::BadTimestamp, detail, out);
                    return;
                }
            },
            _ => ctx.timestamp(),
        };
        row(t, no, line, &fields, ts, out);
    });
}

fn unit_of(ctx: &Context<'_>, t: &Table, col: usize, default: Unit) -> Unit {
    t.units
        .get(col)
        .and_then(|u| ctx.normalizer.unit(u))
        .unwrap_or(default)
}

impl Decode for NvidiaSmiPmon {
    fn name(&self) -> &str {
        Format::NvidiaSmiPmon.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let prefix = host_prefix(ctx);
        decode_table(input, ctx, out, |t, no, line, fields, ts, out| {
            let reject = |reason, detail: String, out: &mut IngestBatch| {
                if admit(ctx, no, line, out) {
                    out.reject(Quarantined::new(ctx.line(no), reason, detail, line));
                }
            };
            let (Some(gi), Some(pi)) = (t.find("gpu"), t.find("pid")) else {
                return reject(
                    Reason::BadField,
                    "the header has no gpu or pid column".into(),
                    out,
                );
            };
            if fields[pi] == "-" {
                return; // no process on this GPU in this sample: not a record
            }
            let (Ok(gpu), Ok(pid)) = (fields[gi].parse::<u32>(), fields[pi].parse::<u32>()) else {
                let detail = format!(
                    "gpu {:?} or pid {:?} is not a number",
                    fields[gi], fields[pi]
                );
                return reject(Reason::BadField, detail, out);
            };
            let entity = match EntityId::new(format!("{prefix}pid-{pid}")) {
                Ok(e) => e,
                Err(e) => {
                    return reject(Reason::InvalidEntity, e.reason().to_string(), out);
                }
            };
            for (i, col) in t.cols.iter().enumerate() {
                if !PMON_READINGS.contains(&col.as_str()) {
                    continue;
                }
                if !admit(ctx, no, line, out) {
                    return;
                }
                let sensor = format!("gpu{gpu}/{col}");
                let unit = unit_of(ctx, t, i, Unit::Percent);
                match cell_reading(
                    ctx,
                    &entity,
                    &sensor,
                    SensorKind::Utilization,
                    unit,
                    fields[i],
                    ts,
                ) {
                    Ok(r) => out.accept(r),
                    Err((reason, detail)) => {
                        out.reject(Quarantined::new(ctx.line(no), reason, detail, line))
                    }
                }
            }
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl NvidiaSmiPmon {
    /// A first non-blank `#` line naming the `gpu` and `pid` columns.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let Some(first) = head.lines().find(|l| !l.trim().is_empty()) else {
            return false;
        };
        comment_tokens(first)
            .is_some_and(|t| t.iter().any(|x| x == "gpu") && t.iter().any(|x| x == "pid"))
    }
}

impl Decode for NvidiaSmiDmon {
    fn name(&self) -> &str {
        Format::NvidiaSmiDmon.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let prefix = host_prefix(ctx);
        decode_table(input, ctx, out, |t, no, line, fields, ts, out| {
            let reject = |reason, detail: String, out: &mut IngestBatch| {
                if admit(ctx, no, line, out) {
                    out.reject(Quarantined::new(ctx.line(no), reason, detail, line));
                }
            };
            let Some(gi) = t.find("gpu") else {
                return reject(Reason::BadField, "the header has no gpu column".into(), out);
            };
            let Ok(gpu) = fields[gi].parse::<u32>() else {
                let detail = format!("gpu {:?} is not a number", fields[gi]);
                return reject(Reason::BadField, detail, out);
            };
            let entity = match EntityId::new(format!("{prefix}gpu-{gpu}")) {
                Ok(e) => e,
                Err(e) => {
                    return reject(Reason::InvalidEntity, e.reason().to_string(), out);
                }
            };
            for (i, col) in t.cols.iter().enumerate() {
                let Some((_, sensor, kind, default)) =
                    DMON_READINGS.iter().find(|(c, ..)| c == col)
                else {
                    continue;
                };
                if !admit(ctx, no, line, out) {
                    return;
                }
                let unit = unit_of(ctx, t, i, *default);
                match cell_reading(ctx, &entity, sensor, *kind, unit, fields[i], ts) {
                    Ok(r) => out.accept(r),
                    Err((reason, detail)) => {
                        out.reject(Quarantined::new(ctx.line(no), reason, detail, line))
                    }
                }
            }
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl NvidiaSmiDmon {
    /// A first non-blank `#` line naming a `gpu` column, no `pid`, and a dmon metric.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let Some(first) = head.lines().find(|l| !l.trim().is_empty()) else {
            return false;
        };
        comment_tokens(first).is_some_and(|t| {
            t.iter().any(|x| x == "gpu")
                && !t.iter().any(|x| x == "pid")
                && t.iter().any(|x| {
                    DMON_READINGS.iter().any(|(c, ..)| c == x)
                        || matches!(x.as_str(), "mclk" | "pclk" | "fb")
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, Normalizer};

    fn run(d: &dyn Decode, text: &str, ctx: Context<'_>) -> IngestBatch {
        let mut out = IngestBatch::bounded(&ctx);
        d.decode(text, &ctx, &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    #[test]
    fn query_with_units_identities_and_absent_values() {
        let n = Normalizer::builtin();
        let text = "timestamp, index, name, pci.bus_id, temperature.gpu, power.draw [W], utilization.gpu [%], memory.used [MiB], clocks.sm [MHz], fan.speed [%], total_energy_consumption [mJ], enforced.power.limit [W]\n\
            2026/11/26 14:03:01.123, 0, NVIDIA H100 80GB HBM3, 00000000:00:06.0, 45, 345.32 W, 87 %, 1002 MiB, 1980 MHz, [N/A], 1500 mJ, 700.00 W\n\
            2026/11/26 14:03:01.123, 1, NVIDIA H100 80GB HBM3, 00000000:00:07.0, [Not Supported], 0.5 kW, 3 %, 0 MiB, 345 MHz, 30 %, 12, 700 W\n";
        let ctx = Context::new("q.csv", &n).with_entity(EntityId::new("h1").unwrap());
        let b = run(&NvidiaSmiQuery, text, ctx);
        assert_eq!(b.stats.accepted, 12);
        let r = &b.readings;
        assert_eq!(r[0].entity.as_str(), "h1/gpu-0");
        assert_eq!(
            (r[0].sensor.as_str(), r[0].value),
            ("temperature.gpu", 45.0)
        );
        assert_eq!((r[1].sensor.as_str(), r[1].value), ("power.draw", 345.32));
        assert_eq!(r[2].value, 0.87);
        assert_eq!(
            (r[3].quality, r[3].status.as_deref()),
            (Quality::Absent, Some("[N/A]"))
        );
        assert_eq!((r[4].kind, r[4].value), (SensorKind::Energy, 1.5));
        assert_eq!(r[5].value, 700.0);
        assert_eq!(r[0].ts, Timestamp::from_millis(1_795_701_781_123));
        assert_eq!(r[6].quality, Quality::Absent);
        assert_eq!(r[7].value, 500.0);
        assert_eq!((r[9].kind, r[9].value), (SensorKind::FanDuty, 30.0));
        assert_eq!(r[10].value, 0.012); // nounits-style value takes the header's mJ
    }

    #[test]
    fn query_rows_that_cannot_be_placed() {
        let n = Normalizer::builtin();
        let text = "timestamp, uuid, power.draw [W]\n\
            2026/13/26 14:03:01.123, GPU-1, 1 W\n\
            2026/11/26 14:03:01.123, GPU-1\n\
            2026/11/26 14:03:01.123, GPU 1, 1 W\n\
            2026/11/26 14:03:01.123, GPU-2, twelve W\n\
            2026/11/26 14:03:01.123, GPU-2, 12 furlongs\n\
            timestamp, uuid, power.draw [W]\n\
            2026/11/26 14:03:01, GPU-2, inf\n";
        let b = run(&NvidiaSmiQuery, text, Context::new("q", &n));
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::BadTimestamp,
                Reason::BadField,
                Reason::InvalidEntity,
                Reason::BadValue,
                Reason::BadUnit,
                Reason::NonFiniteValue
            ]
        );
        assert_eq!(b.quarantine[1].place.to_string(), "q:3");
    }

    #[test]
    fn query_without_gpu_identity_uses_the_capture() {
        let n = Normalizer::builtin();
        let b = run(
            &NvidiaSmiQuery,
            "power.draw [W]\n72.13 W\n",
            Context::new("caps/gpu7.csv", &n),
        );
        assert_eq!(b.readings[0].entity.as_str(), "gpu7");
        assert_eq!(b.readings[0].ts, Timestamp::UNKNOWN);
    }

    #[test]
    fn pmon_rows() {
        let n = Normalizer::builtin();
        let text = "# gpu         pid   type     sm    mem    enc    dec    jpg    ofa     fb   ccpm    command\n\
                    # Idx           #    C/G      %      %      %      %      %      %     MB     MB    name\n\
                    \x20   0          -     -      -      -      -      -      -      -      -      -    -\n\
                    \x20   0        950     C     77     26      -      -      -      -   1002      0    python3 train.py\n\
                    \x20   1        x     C     77\n";
        let b = run(&NvidiaSmiPmon, text, Context::new("pmon.txt", &n));
        assert_eq!(b.stats.accepted, 6);
        assert_eq!(b.readings[0].entity.as_str(), "pid-950");
        assert_eq!(
            (b.readings[0].sensor.as_str(), b.readings[0].value),
            ("gpu0/sm", 0.77)
        );
        assert_eq!(b.readings[1].value, 0.26);
        assert_eq!(b.readings[2].quality, Quality::Absent);
        assert_eq!(b.quarantine[0].reason, Reason::BadField);
    }

    #[test]
    fn dmon_rows_with_date_and_time() {
        let n = Normalizer::builtin();
        let text = "#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem    enc    dec   mclk   pclk\n\
                    #YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %      %      %    MHz    MHz\n\
                    \x2020261126   20:20:08      0     72     42      -      0      0      0      0   2619    345\n";
        let b = run(&NvidiaSmiDmon, text, Context::new("dmon.txt", &n));
        let got: Vec<(&str, f64)> = b
            .readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.value))
            .collect();
        assert_eq!(got.len(), 7);
        assert_eq!(got[0], ("power.draw", 72.0));
        assert_eq!(got[1], ("temperature.gpu", 42.0));
        assert!(got[2].1.is_nan());
        assert_eq!(b.readings[0].entity.as_str(), "gpu-0");
        assert_eq!(b.readings[0].ts, Timestamp::from_secs(1_795_724_408));
    }

    #[test]
    fn limits() {
        let n = Normalizer::builtin();
        let text = format!("index, power.draw [W]\n{}", "0, 1 W\n".repeat(5));
        let limits = Limits {
            max_records: 3,
            ..Limits::default()
        };
        let b = run(
            &NvidiaSmiQuery,
            &text,
            Context::new("q", &n).with_limits(limits),
        );
        assert_eq!((b.stats.accepted, b.stats.quarantined), (3, 1));
        assert_eq!(b.quarantine[0].reason, Reason::TooManyRecords);
        let limits = Limits {
            max_line_bytes: 10,
            ..Limits::default()
        };
        let b = run(
            &NvidiaSmiDmon,
            "# gpu pwr\n0 1111111111111111\n0 1\n",
            Context::new("d", &n).with_limits(limits),
        );
        assert_eq!(b.quarantine[0].reason, Reason::LineTooLong);
        assert_eq!(b.readings.len(), 1);
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_query_time("1970/01/01 00:00:00.5"),
            Some(Timestamp::from_millis(500))
        );
        assert_eq!(
            parse_query_time("2024/02/29 00:00:00"),
            Some(Timestamp::from_secs(1_709_164_800))
        );
        for bad in [
            "2024/01/01 00:00:00.",
            "2023/02/29 00:00:00",
            "2024/1/01 00:00:00",
            "2024/01/01 24:00:00",
            "2024/01/01",
            "x",
        ] {
            assert_eq!(parse_query_time(bad), None, "{bad}");
        }
        assert_eq!(
            parse_dt("20240229", "00:00:01"),
            Some(Timestamp::from_secs(1_709_164_801))
        );
        assert_eq!(parse_dt("2024022", "00:00:01"), None);
    }

    #[test]
    fn sniffing() {
        assert!(NvidiaSmiQuery.sniff("timestamp, power.draw [W]\n"));
        assert!(NvidiaSmiQuery.sniff("index, utilization.gpu [%]"));
        assert!(!NvidiaSmiQuery.sniff("ts_ns,entity,sensor,kind,unit,value,quality,status"));
        assert!(!NvidiaSmiQuery.sniff("# gpu pid"));
        assert!(NvidiaSmiPmon.sniff("# gpu         pid   type     sm\n"));
        assert!(!NvidiaSmiPmon.sniff("# gpu pwr gtemp\n"));
        assert!(NvidiaSmiDmon.sniff("# gpu pwr gtemp\n"));
        assert!(NvidiaSmiDmon.sniff("#Date Time gpu pwr\n"));
        assert!(!NvidiaSmiDmon.sniff("# gpu pid sm\n"));
        assert!(!NvidiaSmiDmon.sniff("# HELP gpu_power\n"));
    }
}
