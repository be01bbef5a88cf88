//! IPMI text captures: ipmitool (`sensor`, `sdr`, `sdr elist`, `sdr -v`, `dcmi power reading`) and
//! FreeIPMI (`ipmi-sensors`, `ipmi-dcmi`).
//!
//! One decoder per output mode, each a unit struct implementing [`Decode`]; [`decoders`] lists
//! them all. Each decoder's "Sniffing" rule reads the first line that carries data: blank
//! lines and the tools' own messages before it are passed over, so output captured with `-v`
//! or with stderr is still recognized. They share these rules:
//!
//! - **Records.** Every non-blank table row (every `sdr -v` block) is one record: it becomes a
//!   [`Reading`] — absent ones included, with [`Quality::Absent`] and a NaN value — or is
//!   quarantined with its line and a [`Reason`]. Headers, the tools' own messages (FreeIPMI's
//!   `Caching SDR …` preamble, ipmitool's `IANA PEN registry open failed` warning, its `-v`
//!   probes and progress lines, wherever they fall) and DCMI metadata lines (time stamp,
//!   sampling period, measurement state, rolling-average headers) are not records. An error
//!   printed instead of data (`command invalid or unsupported`, `DCMI request failed`) is noted
//!   with [`IngestBatch::no_readings`].
//! - **Discrete sensors** (unit `discrete`, hex states such as `0x0180`, FreeIPMI units `N/A`,
//!   `Sensor Type (Discrete)`) have no numeric canonical kind: they are quarantined with
//!   [`Reason::UnmappedSensor`], counted rather than dropped. So are unknown units (`feet`).
//! - **Kinds and units.** The unit text goes through [`Normalizer::unit`] and
//!   [`Normalizer::classify`], with the vendor's sensor type as the hint (the sensor name where
//!   the format has no type column, so HPE's `Fan 1 | 27.440 | percent` is a fan duty). IPMI's
//!   unit `unspecified` is read as percent (the normalizer table says so): BMCs use it for percentages (HPE `CPU Utilization`,
//!   Intel `PS1 Curr Out %`). An absent reading with no unit (ipmitool prints none for
//!   unreadable sensors) takes its kind from the sensor type (`Temperature`, `Voltage`), from a
//!   name the normalizer knows, or from `temp` in the name; otherwise it is unmapped.
//! - **Sensor names** go through [`Normalizer::sensor_name`]. When a canonical name occurs more
//!   than once in one capture (Dell's `Temp` and `Ambient Temp`), *every* occurrence is renamed
//!   `<canonical>#<n>`, where `n` is the record's number in decimal: FreeIPMI's record ID,
//!   ipmitool's sensor number (`30h` → `48`, `(0x4)` → `4`), or, in formats without numbers
//!   (`sensor`, `sdr list`), the 1-based occurrence of the name in the capture. Names depend only
//!   on the capture's structure, never on its values, so they are stable from one capture of a
//!   host to the next.
//! - **Status and quality.** The raw status (`ok`, `'OK'`, `activated`) is kept with
//!   [`Reading::with_status`]; the quality is [`Normalizer::quality`] of it (the worst of
//!   FreeIPMI's several quoted events), [`Quality::Good`] when unknown, and
//!   [`Quality::Absent`] (with a NaN value) when the reading or the status says so.
//! - **Entity and time.** Captures do not name their host: readings belong to
//!   [`Context::fallback_entity`] and carry [`Context::timestamp`], except DCMI readings whose
//!   text has a real BMC time stamp (see [`IpmitoolDcmi`]).
//! - **Limits.** An input over [`crate::Limits::max_input_bytes`] is one
//!   [`Reason::InputTooLarge`] record; a line over [`crate::Limits::max_line_bytes`] is a
//!   [`Reason::LineTooLong`] record; after [`crate::Limits::max_records`] records the rest is
//!   one [`Reason::TooManyRecords`] record.
//!
//! ```
//! use kelvin_ingest::{ipmi, Context, Decode, IngestBatch, Normalizer};
//! use kelvin_model::{Quality, SensorKind};
//!
//! let text = "\
//! Inlet Temp       | 24.000     | degrees C  | ok    | na | na | na | na | 42.000 | 46.000
//! FAN3             | na         |            | na    | na | na | na | na | na     | na
//! PS1 Status       | 0x1        | discrete   | 0x0100| na | na | na | na | na     | na
//! ";
//! let n = Normalizer::builtin();
//! let ctx = Context::new("r640-sensor.txt", &n);
//! assert!(ipmi::IpmitoolSensor.detect(text).is_some());
//! let mut out = IngestBatch::default();
//! ipmi::IpmitoolSensor.decode(text, &ctx, &mut out);
//! assert_eq!(out.readings[0].sensor, "inlet");
//! assert_eq!(out.readings[0].kind, SensorKind::Temperature);
//! assert_eq!(out.readings[0].value, 24.0);
//! assert_eq!(out.readings[0].entity.as_str(), "r640-sensor");
//! assert_eq!(out.quarantine[0].reason.as_str(), "unmapped_sensor"); // FAN3: kind unknown
//! assert_eq!(out.quarantine[1].reason.as_str(), "unmapped_sensor"); // discrete
//! assert_eq!((out.stats.seen, out.stats.accepted), (3, 1));
//! ```

use std::collections::HashMap;

use kelvin_model::{EntityId, Quality, Reading, SensorKind};

use crate::{Context, Decode, IngestBatch, Normalizer, Quarantined, Reason};

mod dcmi;
mod freeipmi;
mod ipmitool;
mod time;

pub use dcmi::{FreeipmiDcmi, IpmitoolDcmi};
pub use freeipmi::FreeipmiSensors;
pub use ipmitool::{IpmitoolSdr, IpmitoolSdrElist, IpmitoolSdrVerbose, IpmitoolSensor};

/// Every IPMI decoder, one per output mode: ipmitool `sensor`, `sdr`, `sdr elist`, `sdr -v`,
/// `dcmi power reading`, then FreeIPMI `ipmi-sensors` and `ipmi-dcmi`.
///
/// Their [`Decode::detect`] checks are mutually exclusive: at most one claims a given capture.
pub fn decoders() -> [&'static dyn Decode; 7] {
    [
        &IpmitoolSensor,
        &IpmitoolSdr,
        &IpmitoolSdrElist,
        &IpmitoolSdrVerbose,
        &IpmitoolDcmi,
        &FreeipmiSensors,
        &FreeipmiDcmi,
    ]
}

// ---------------------------------------------------------------------------------------------
// Text helpers shared by the formats.

/// The fields of a `|`-separated table row, trimmed.
fn pipe_fields(line: &str) -> Vec<&str> {
    line.split('|').map(str::trim).collect()
}

/// What ipmitool and FreeIPMI print besides their tables: ipmitool's `-v` progress and probe
/// messages (`Loading IANA PEN Registry...`, `Running Get VSO Capabilities …`, `Invalid
/// completion code received: …`, `Discovered IPMB address …`), its cipher-suite warning on
/// stderr, and FreeIPMI's SDR cache messages. Captured with the table (stderr with stdout, a
/// `-v` flag), they come before it or between its rows. They are not records: detection
/// looks past them, and decoders skip them like headers.
const TOOL_MESSAGES: [&str; 17] = [
    "Loading IANA PEN Registry",
    "IANA PEN registry open failed",
    "Unable to Get Channel Cipher Suites",
    "Running Get VSO Capabilities",
    "Running Get PICMG Properties",
    "Invalid completion code received",
    "Discovered IPMB address",
    "Get HPM.x Capabilities request failed",
    "IPM Controller is not HPM.2 compatible",
    "Set Session Privilege Level to",
    "IPMIv2 / RMCP+ SESSION OPENED SUCCESSFULLY",
    "Querying SDR for sensor list",
    "Interface address: my_addr",
    "ipmitool version",
    "Caching SDR repository information",
    "Caching SDR record",
    "Receiving SDR Records",
];

/// Whether `line` is one of the tools' own messages ([`TOOL_MESSAGES`]), not data.
fn is_tool_message(line: &str) -> bool {
    let t = line.trim_start();
    TOOL_MESSAGES.iter().any(|m| t.starts_with(m))
}

/// The first lines of a (possibly truncated) head that carry data: blank lines and the tools'
/// own messages left out, so a format is detected from its body, not from its first line.
fn head_lines(head: &str) -> impl Iterator<Item = &str> {
    head.lines()
        .filter(|l| !l.trim().is_empty() && !is_tool_message(l))
}

/// A decimal number as BMCs print it (`33.000`, `-9`, `1e3`): no `inf`, `NaN` or hex; finite.
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if !s.bytes().any(|b| b.is_ascii_digit())
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A hex state of a discrete sensor: `0x0180`, `0x00`, or ipmitool's `80h`.
fn is_hex_state(s: &str) -> bool {
    let s = s.trim();
    let digits = if let Some(rest) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        rest
    } else if let Some(rest) = s.strip_suffix('h') {
        rest
    } else {
        return false;
    };
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Splits a combined reading (`33 degrees C`, `110 Watts, Presence detected`) into the value
/// and the unit. Absent texts (`No Reading`, `Not Readable`) stay whole, with no unit; text
/// after a comma (a state ipmitool appends) is dropped.
fn split_reading<'a>(n: &Normalizer, text: &'a str) -> (&'a str, &'a str) {
    let text = text.trim();
    if n.is_absent(text) {
        return (text, "");
    }
    let text = text.split(',').next().unwrap_or("").trim();
    match text.split_once(char::is_whitespace) {
        Some((value, unit)) => (value, unit.trim()),
        None => (text, ""),
    }
}

/// `Temperature (0x01)` → `Temperature`: a vendor type without its trailing hex code.
fn strip_code(text: &str) -> &str {
    let t = text.trim();
    if let Some(open) = t.rfind(" (0x")
        && t.ends_with(')')
    {
        return t[..open].trim_end();
    }
    t
}

/// The kind of an absent reading that has no unit, from the sensor type or the name; `None`
/// when they do not tell.
fn absent_kind(n: &Normalizer, name: &str, type_hint: Option<&str>) -> Option<SensorKind> {
    let t = type_hint.map(strip_code).unwrap_or("");
    if t.eq_ignore_ascii_case("temperature") {
        return Some(SensorKind::Temperature);
    }
    if t.eq_ignore_ascii_case("voltage") {
        return Some(SensorKind::Voltage);
    }
    if let Some(k) = SensorKind::ALL
        .into_iter()
        .find(|&k| n.sensor_name(name, k) != name.trim())
    {
        return Some(k);
    }
    name.to_ascii_lowercase()
        .contains("temp")
        .then_some(SensorKind::Temperature)
}

fn severity(q: Quality) -> u8 {
    match q {
        Quality::Critical => 3,
        Quality::Warning => 2,
        Quality::Absent => 1,
        _ => 0,
    }
}

/// The quality a raw status means: the worst known of FreeIPMI's quoted events
/// (`'Presence detected' 'Power Supply input lost (AC/DC)'`), else of the whole text; Good when
/// the normalizer does not know it.
fn status_quality(n: &Normalizer, status: &str) -> Quality {
    let quoted: Vec<&str> = status
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.trim().is_empty())
        .collect();
    let parts = if quoted.is_empty() {
        vec![status]
    } else {
        quoted
    };
    parts
        .into_iter()
        .filter_map(|p| n.quality(p))
        .max_by_key(|&q| severity(q))
        .unwrap_or(Quality::Good)
}

// ---------------------------------------------------------------------------------------------
// Rows: one sensor record, resolved into a reading or a quarantine reason.

/// One sensor record of a table row or `-v` block, as text.
#[derive(Debug, Clone, Default)]
struct Row<'a> {
    /// The vendor's sensor name.
    name: &'a str,
    /// The record ID or sensor number, for telling repeated names apart.
    id: Option<u32>,
    /// The value text (`33.000`, `na`, `No Reading`, `0x0180`).
    reading: &'a str,
    /// The unit text (`degrees C`, `RPM`, `discrete`, `N/A`, empty).
    unit: &'a str,
    /// The vendor's sensor type (`Temperature`, `Current (0x03)`), if the format has one.
    type_hint: Option<&'a str>,
    /// The raw status (`ok`, `'OK'`), if any.
    status: Option<&'a str>,
    /// The format says the sensor is discrete.
    discrete: bool,
    /// An absent reading without a unit may take its kind from the type or the name (ipmitool
    /// prints no unit for unreadable sensors; FreeIPMI always prints threshold sensors' units).
    guess_kind: bool,
}

/// A row that will become a reading once names are disambiguated.
#[derive(Debug, Clone)]
struct Resolved {
    canonical: String,
    kind: SensorKind,
    value: f64,
    quality: Quality,
    status: Option<String>,
    id: Option<u32>,
}

type Rejection = (Reason, String);

fn unmapped(detail: impl Into<String>) -> Rejection {
    (Reason::UnmappedSensor, detail.into())
}

/// Resolves a row: its kind, canonical name, canonical value and quality.
fn resolve(n: &Normalizer, row: &Row<'_>) -> Result<Resolved, Rejection> {
    let name = row.name.trim();
    if name.is_empty() {
        return Err((Reason::BadField, "empty sensor name".into()));
    }
    let reading = row.reading.trim();
    let unit_text = row.unit.trim();
    if row.discrete || unit_text.eq_ignore_ascii_case("discrete") || is_hex_state(reading) {
        return Err(unmapped(format!(
            "{name:?} is a discrete sensor (state {reading:?}): no numeric kind"
        )));
    }
    let absent = n.is_absent(reading);
    let hint = row.type_hint.map(strip_code).unwrap_or(name);
    let unit = if n.is_absent(unit_text) {
        None
    } else {
        match n.unit(unit_text) {
            Some(u) => Some(u),
            None => return Err(unmapped(format!("{name:?} has unknown unit {unit_text:?}"))),
        }
    };
    let kind = match unit {
        Some(u) => n
            .classify(u, Some(hint))
            .ok_or_else(|| unmapped(format!("unit {u} of {name:?} measures no sensor kind")))?,
        None if absent && row.guess_kind => {
            absent_kind(n, name, row.type_hint).ok_or_else(|| {
                unmapped(format!(
                    "{name:?} has no reading and no unit: its kind is unknown"
                ))
            })?
        }
        None if absent || parse_number(reading).is_none() => {
            return Err(unmapped(format!(
                "{name:?} has no unit and no numeric reading ({reading:?}): a discrete or state sensor"
            )));
        }
        None => {
            return Err(unmapped(format!(
                "{name:?} has a reading ({reading}) but no unit"
            )));
        }
    };
    let mut quality = row
        .status
        .map(|s| status_quality(n, s))
        .unwrap_or(Quality::Good);
    let value = if absent || quality == Quality::Absent {
        quality = Quality::Absent;
        f64::NAN
    } else {
        let v = parse_number(reading).ok_or_else(|| {
            (
                Reason::BadValue,
                format!("reading {reading:?} is not a number"),
            )
        })?;
        // `unit` is Some here: a unit-less row either is absent or was rejected above.
        let u = unit.unwrap_or(kind.unit());
        u.convert(v, kind)
            .map_err(|e| (Reason::BadUnit, e.reason().to_string()))?
    };
    Ok(Resolved {
        canonical: n.sensor_name(name, kind),
        kind,
        value,
        quality,
        status: row
            .status
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from),
        id: row.id,
    })
}

// ---------------------------------------------------------------------------------------------
// Records: admitted into the batch's record limit as they are read; quarantined at once;
// readings kept in input order and named at the end.

enum Item {
    /// A sensor row; its name may still get a `#<n>` suffix.
    Row(Resolved),
    /// A reading whose name is fixed (DCMI).
    Fixed(Reading),
}

/// The readings of one input, in order, until [`Records::finish`] names and emits them.
/// Every record is admitted into `out`'s record limit when it is read (so the rest of an input
/// past the limit is not read); quarantined records go to `out` at once.
struct Records<'c, 'n> {
    ctx: &'c Context<'n>,
    entity: EntityId,
    items: Vec<Item>,
}

impl<'c, 'n> Records<'c, 'n> {
    /// Starts an input; `None` (after quarantining the input) when it is over the size limit.
    fn start(ctx: &'c Context<'n>, input: &str, out: &mut IngestBatch) -> Option<Self> {
        if !ctx.admit(input, out) {
            return None;
        }
        Some(Records {
            ctx,
            entity: ctx.fallback_entity(),
            items: Vec::new(),
        })
    }

    /// Admits the record at `line` into `out`'s record limit: false (now and after) past it,
    /// when this record is the one [`Reason::TooManyRecords`] record and the caller stops
    /// reading.
    fn admit(&self, out: &mut IngestBatch, line: u64, text: &str) -> bool {
        out.admit_record(|| (self.ctx.line(line), text))
    }

    /// Quarantines an admitted record.
    fn reject(
        &self,
        out: &mut IngestBatch,
        line: u64,
        reason: Reason,
        detail: impl Into<String>,
        text: &str,
    ) {
        out.reject(Quarantined::new(self.ctx.line(line), reason, detail, text));
    }

    /// Whether `text` is over the line limit; if so it is quarantined (as an admitted record).
    fn too_long(&self, out: &mut IngestBatch, line: u64, text: &str) -> bool {
        if text.len() <= self.ctx.limits.max_line_bytes {
            return false;
        }
        let detail = format!(
            "{} bytes, over max_line_bytes ({})",
            text.len(),
            self.ctx.limits.max_line_bytes
        );
        self.reject(out, line, Reason::LineTooLong, detail, text);
        true
    }

    /// Resolves an admitted sensor row.
    fn row(&mut self, out: &mut IngestBatch, line: u64, text: &str, row: &Row<'_>) {
        match resolve(self.ctx.normalizer, row) {
            Ok(r) => self.items.push(Item::Row(r)),
            Err((reason, detail)) => self.reject(out, line, reason, detail, text),
        }
    }

    /// Accepts an admitted reading whose name is final.
    fn fixed(&mut self, r: Reading) {
        self.items.push(Item::Fixed(r));
    }

    /// Names repeated sensors `<canonical>#<n>` and moves everything into `out`.
    fn finish(self, out: &mut IngestBatch) {
        let mut total: HashMap<&str, u32> = HashMap::new();
        for item in &self.items {
            if let Item::Row(r) = item {
                *total.entry(r.canonical.as_str()).or_default() += 1;
            }
        }
        let repeated: HashMap<String, u32> = total
            .into_iter()
            .filter(|&(_, n)| n > 1)
            .map(|(name, _)| (name.to_string(), 0))
            .collect();
        let mut seen = repeated;
        let ts = self.ctx.timestamp();
        for item in self.items {
            match item {
                Item::Row(r) => {
                    let sensor = match seen.get_mut(&r.canonical) {
                        Some(k) => {
                            *k += 1;
                            format!("{}#{}", r.canonical, r.id.unwrap_or(*k))
                        }
                        None => r.canonical,
                    };
                    let mut reading =
                        Reading::new(self.entity.clone(), sensor, r.kind, r.value, ts)
                            .with_quality(r.quality);
                    if let Some(s) = r.status {
                        reading = reading.with_status(s);
                    }
                    out.accept(reading);
                }
                Item::Fixed(r) => out.accept(r),
            }
        }
    }
}

/// What a table row parser makes of one line.
enum Line<'a> {
    /// Not a record (header, preamble).
    Skip,
    /// A sensor record.
    Row(Row<'a>),
    /// A malformed record.
    Bad(Reason, String),
}

/// Decodes a line-oriented table: each non-blank line goes through `parse`.
fn decode_table<'a>(
    input: &'a str,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
    mut parse: impl FnMut(&'a str) -> Line<'a>,
) {
    let Some(mut records) = Records::start(ctx, input, out) else {
        return;
    };
    for (i, text) in input.lines().enumerate() {
        let line = i as u64 + 1;
        if text.trim().is_empty() || is_tool_message(text) {
            continue;
        }
        if text.len() > ctx.limits.max_line_bytes {
            if !records.admit(out, line, text) {
                break;
            }
            records.too_long(out, line, text);
            continue;
        }
        match parse(text) {
            Line::Skip => {}
            Line::Row(row) => {
                if !records.admit(out, line, text) {
                    break;
                }
                records.row(out, line, text, &row);
            }
            Line::Bad(reason, detail) => {
                if !records.admit(out, line, text) {
                    break;
                }
                records.reject(out, line, reason, detail, text);
            }
        }
    }
    records.finish(out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    #[test]
    fn numbers_are_strict() {
        assert_eq!(parse_number("33.000"), Some(33.0));
        assert_eq!(parse_number(" -9.5 "), Some(-9.5));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        for bad in ["", "na", "inf", "NaN", "0x10", "1e999", "-", "1.2.3", "３"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_states_and_codes() {
        for s in ["0x0180", "0x0", "80h", "0h", " 0X1F "] {
            assert!(is_hex_state(s), "{s}");
        }
        for s in ["0x", "h", "12", "Watts", "0xZZ", "gh"] {
            assert!(!is_hex_state(s), "{s}");
        }
        assert_eq!(strip_code("Current (0x03)"), "Current");
        assert_eq!(strip_code("Fan"), "Fan");
        assert_eq!(strip_code("(0x03)"), "(0x03)");
    }

    #[test]
    fn combined_readings_split() {
        let n = Normalizer::builtin();
        assert_eq!(split_reading(&n, "33 degrees C"), ("33", "degrees C"));
        assert_eq!(
            split_reading(&n, "110 Watts, Presence detected"),
            ("110", "Watts")
        );
        assert_eq!(split_reading(&n, "No Reading"), ("No Reading", ""));
        assert_eq!(split_reading(&n, "0x00"), ("0x00", ""));
        assert_eq!(split_reading(&n, ""), ("", ""));
        assert_eq!(split_reading(&n, ", x"), ("", ""));
    }

    #[test]
    fn statuses_take_the_worst_known_event() {
        let n = Normalizer::builtin();
        assert_eq!(status_quality(&n, "ok"), Quality::Good);
        assert_eq!(status_quality(&n, "cr"), Quality::Critical);
        assert_eq!(status_quality(&n, "'transition to Running'"), Quality::Good);
        assert_eq!(
            status_quality(&n, "'Presence detected' 'Upper Critical'"),
            Quality::Critical
        );
        assert_eq!(status_quality(&n, "ns"), Quality::Absent);
        assert_eq!(status_quality(&n, "'"), Quality::Good);
    }

    fn row<'a>(name: &'a str, reading: &'a str, unit: &'a str) -> Row<'a> {
        Row {
            name,
            reading,
            unit,
            guess_kind: true,
            ..Row::default()
        }
    }

    #[test]
    fn rows_resolve_kinds_units_and_absence() {
        let n = Normalizer::builtin();
        let r = resolve(&n, &row("Inlet Temp", "77", "degrees F")).unwrap();
        assert_eq!(
            (r.canonical.as_str(), r.kind),
            ("inlet", SensorKind::Temperature)
        );
        assert!((r.value - 25.0).abs() < 1e-9);
        let r = resolve(&n, &row("Fan 1", "27.44", "percent")).unwrap();
        assert_eq!((r.kind, r.value), (SensorKind::FanDuty, 27.44));
        let r = resolve(&n, &row("CPU Utilization", "15.00", "unspecified")).unwrap();
        assert_eq!(r.kind, SensorKind::Utilization);
        assert!((r.value - 0.15).abs() < 1e-12);
        let r = resolve(&n, &row("P1-DIMMA3 TEMP", "na", "")).unwrap();
        assert_eq!(
            (r.kind, r.quality),
            (SensorKind::Temperature, Quality::Absent)
        );
        assert!(r.value.is_nan());
        let r = resolve(&n, &row("Ambient", "No Reading", "")).unwrap();
        assert_eq!(
            (r.canonical.as_str(), r.quality),
            ("inlet", Quality::Absent)
        );
        let mut ns = row("CPU1 Temp", "33", "degrees C");
        ns.status = Some("ns");
        let r = resolve(&n, &ns).unwrap();
        assert!(r.value.is_nan() && r.quality == Quality::Absent);
        assert_eq!(r.status.as_deref(), Some("ns"));
        let mut nc = row("CPU1 Temp", "90", "degrees C");
        nc.status = Some("nc");
        assert_eq!(resolve(&n, &nc).unwrap().quality, Quality::Warning);
        let mut odd = row("CPU1 Temp", "40", "degrees C");
        odd.status = Some("weird");
        let r = resolve(&n, &odd).unwrap();
        assert_eq!(
            (r.quality, r.status.as_deref()),
            (Quality::Good, Some("weird"))
        );
    }

    #[test]
    fn rows_without_a_numeric_kind_are_unmapped() {
        let n = Normalizer::builtin();
        let reason = |r: Row<'_>| resolve(&n, &r).map(|_| ()).unwrap_err().0;
        assert_eq!(
            reason(row("PS1 Status", "0x1", "discrete")),
            Reason::UnmappedSensor
        );
        assert_eq!(
            reason(row("HDD Status", "na", "discrete")),
            Reason::UnmappedSensor
        );
        assert_eq!(reason(row("Fan 1", "0x00", "")), Reason::UnmappedSensor);
        assert_eq!(reason(row("FAN1", "na", "")), Reason::UnmappedSensor);
        assert_eq!(
            reason(row("Altitude", "80", "feet")),
            Reason::UnmappedSensor
        );
        assert_eq!(reason(row("USB", "Connected", "")), Reason::UnmappedSensor);
        assert_eq!(reason(row("X", "12", "")), Reason::UnmappedSensor);
        let mut freeipmi = row("Temp", "N/A", "N/A");
        freeipmi.guess_kind = false;
        assert_eq!(reason(freeipmi), Reason::UnmappedSensor);
        assert_eq!(
            reason(row("CPU1 Temp", "hot", "degrees C")),
            Reason::BadValue
        );
        assert_eq!(reason(row("", "1", "Volts")), Reason::BadField);
    }

    #[test]
    fn repeated_names_get_record_numbers_or_ordinals() {
        let n = Normalizer::builtin();
        let ctx = Context::new("dup.txt", &n);
        let mut out = IngestBatch::default();
        let mut recs = Records::start(&ctx, "", &mut out).unwrap();
        let rows = [
            ("Temp", Some(1)),
            ("Ambient Temp", Some(4)),
            ("Temp", Some(2)),
            ("Inlet Temp", Some(9)),
            ("CPU1 Temp", Some(3)),
            ("Fan", None),
            ("Fan", None),
        ];
        for (i, (name, id)) in rows.into_iter().enumerate() {
            let mut r = row(name, "20", "degrees C");
            r.id = id;
            assert!(recs.admit(&mut out, i as u64 + 1, name));
            recs.row(&mut out, i as u64 + 1, name, &r);
        }
        recs.finish(&mut out);
        let names: Vec<&str> = out.readings.iter().map(|r| r.sensor.as_str()).collect();
        assert_eq!(
            names,
            [
                "Temp#1",
                "inlet#4",
                "Temp#2",
                "inlet#9",
                "CPU1 Temp",
                "Fan#1",
                "Fan#2"
            ]
        );
    }

    #[test]
    fn limits_are_counted_records() {
        let n = Normalizer::builtin();
        let mut limits = Limits {
            max_records: 2,
            max_line_bytes: 40,
            ..Limits::default()
        };
        let ctx = Context::new("l.txt", &n).with_limits(limits.clone());
        let text = "A | 1 | Volts | ok | na | na | na | na | na | na\n\
                    B | 1 | Volts | ok | na | na | na | na | na | na\n\
                    C | 1 | Volts | ok | na | na | na | na | na | na\n";
        let mut out = IngestBatch::bounded(&ctx);
        IpmitoolSensor.decode(text, &ctx, &mut out);
        let reasons: Vec<Reason> = out.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::LineTooLong,
                Reason::LineTooLong,
                Reason::TooManyRecords
            ]
        );
        assert_eq!(out.stats.seen, 3);

        limits.max_input_bytes = 10;
        let ctx = Context::new("l.txt", &n).with_limits(limits);
        let mut out = IngestBatch::default();
        IpmitoolSensor.decode(text, &ctx, &mut out);
        assert_eq!(out.quarantine.len(), 1);
        assert_eq!(out.quarantine[0].reason, Reason::InputTooLarge);
    }
}
