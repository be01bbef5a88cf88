//! ipmitool's sensor tables: `sensor` (list), `sdr` / `sdr list`, `sdr elist` and `sdr -v`.

use crate::{Confidence, Context, Decode, Format, IngestBatch, Reason};

use super::{
    Line, Records, Row, decode_table, head_lines, is_hex_state, is_tool_message, parse_number,
    pipe_fields, split_reading,
};

/// ipmitool's record-status words in `sdr` tables (`ok`, `ns`, `nc`, `cr`, `nr`, and the
/// threshold names `lnc` … `unr`).
fn is_sdr_status(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "ok" | "ns" | "nc" | "cr" | "nr" | "na" | "lnr" | "lcr" | "lnc" | "unc" | "ucr" | "unr"
    )
}

/// A threshold cell of `ipmitool sensor`: a number or `na`.
fn is_threshold(s: &str) -> bool {
    s.eq_ignore_ascii_case("na") || parse_number(s).is_some()
}

/// `30h` → 48: ipmitool's hex sensor number.
fn parse_hex_h(s: &str) -> Option<u32> {
    let digits = s.trim().strip_suffix('h')?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// An IPMI entity id as ipmitool prints it: `7.1`, `10.2`.
fn is_entity_id(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    })
}

fn bad_fields(expected: usize, found: usize) -> Line<'static> {
    Line::Bad(
        Reason::BadField,
        format!("expected {expected} '|'-separated fields, found {found}"),
    )
}

// ---------------------------------------------------------------------------------------------

/// `ipmitool sensor` (a.k.a. `sensor list`): the wide table
/// `Name | reading | unit | status | lnr | lcr | lnc | unc | ucr | unr`.
///
/// Readings `na` are absent; rows with unit `discrete` are [`Reason::UnmappedSensor`]. The
/// format has no record numbers, so a repeated name gets its occurrence number (`FAN#2`).
///
/// Sniffing: the first line has exactly ten fields whose six threshold cells are numbers or
/// `na`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpmitoolSensor;

fn sensor_row(text: &str) -> Line<'_> {
    let f = pipe_fields(text);
    if f.len() != 10 {
        return bad_fields(10, f.len());
    }
    Line::Row(Row {
        name: f[0],
        reading: f[1],
        unit: f[2],
        status: Some(f[3]),
        guess_kind: true,
        ..Row::default()
    })
}

impl Decode for IpmitoolSensor {
    fn name(&self) -> &str {
        Format::IpmitoolSensor.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        decode_table(input, ctx, out, sensor_row);
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl IpmitoolSensor {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head).next().is_some_and(|l| {
            let f = pipe_fields(l);
            f.len() == 10 && !f[0].is_empty() && f[4..].iter().all(|c| is_threshold(c))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// `ipmitool sdr` / `sdr list`: `Name | 33 degrees C | ok`.
///
/// `no reading`, `Not Readable` and `disabled` are absent; hex states (`0x00`) are discrete
/// ([`Reason::UnmappedSensor`]). Repeated names get their occurrence number.
///
/// Sniffing: the first line has exactly three fields and the third is a status word (`ok`,
/// `ns`, `nc`, `cr`, `nr`, …).
#[derive(Debug, Clone, Copy, Default)]
pub struct IpmitoolSdr;

fn sdr_row<'a>(ctx: &Context<'_>, text: &'a str) -> Line<'a> {
    let f = pipe_fields(text);
    if f.len() != 3 {
        return bad_fields(3, f.len());
    }
    let (reading, unit) = split_reading(ctx.normalizer, f[1]);
    Line::Row(Row {
        name: f[0],
        reading,
        unit,
        status: Some(f[2]),
        discrete: is_hex_state(reading),
        guess_kind: true,
        ..Row::default()
    })
}

impl Decode for IpmitoolSdr {
    fn name(&self) -> &str {
        Format::IpmitoolSdr.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        decode_table(input, ctx, out, |t| sdr_row(ctx, t));
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl IpmitoolSdr {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head).next().is_some_and(|l| {
            let f = pipe_fields(l);
            f.len() == 3 && !f[0].is_empty() && !f[1].is_empty() && is_sdr_status(f[2])
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// `ipmitool sdr elist`: `Name | 30h | ok | 3.1 | 24 degrees C` (sensor number, status, entity
/// id, reading).
///
/// The reading may carry a state after a comma (`110 Watts, Presence detected`), which is
/// dropped; a reading that is only a state (`Connected`) is [`Reason::UnmappedSensor`]. A
/// repeated name gets the sensor number in decimal (`Temp#48`).
///
/// Sniffing: the first line has exactly five fields, a hex sensor number ending in `h` and an
/// entity id like `7.1`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpmitoolSdrElist;

fn elist_row<'a>(ctx: &Context<'_>, text: &'a str) -> Line<'a> {
    let f = pipe_fields(text);
    if f.len() != 5 {
        return bad_fields(5, f.len());
    }
    let Some(id) = parse_hex_h(f[1]) else {
        return Line::Bad(
            Reason::BadField,
            format!("sensor number {:?} is not hex like '30h'", f[1]),
        );
    };
    let (reading, unit) = split_reading(ctx.normalizer, f[4]);
    Line::Row(Row {
        name: f[0],
        id: Some(id),
        reading,
        unit,
        status: Some(f[2]),
        discrete: is_hex_state(reading),
        guess_kind: true,
        ..Row::default()
    })
}

impl Decode for IpmitoolSdrElist {
    fn name(&self) -> &str {
        Format::IpmitoolSdrElist.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        decode_table(input, ctx, out, |t| elist_row(ctx, t));
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl IpmitoolSdrElist {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head).next().is_some_and(|l| {
            let f = pipe_fields(l);
            f.len() == 5 && !f[0].is_empty() && parse_hex_h(f[1]).is_some() && is_entity_id(f[3])
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// `ipmitool sdr -v` / `sdr list -v` / `sdr type <T> -v`: one block of `Key : Value` lines per
/// SDR record, blocks separated by blank lines (or by the next `Sensor ID` line).
///
/// A block is one record, placed at its first line. The name and sensor number come from
/// `Sensor ID : Inlet Temp (0x4)`, the type from `Sensor Type (Threshold) : Temperature
/// (0x01)`, the value and unit from `Sensor Reading : 24 (+/- 0) degrees C`, the raw status
/// from `Status`. `Sensor Type (Discrete)` blocks and blocks that are not sensors (`Device ID`
/// locator records) are [`Reason::UnmappedSensor`]; other blocks without `Sensor ID` are
/// [`Reason::BadField`]. A repeated name gets the sensor number in decimal.
///
/// Sniffing: the first line is `Sensor ID : …`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpmitoolSdrVerbose;

/// `Inlet Temp (0x4)` → (`Inlet Temp`, 4).
fn split_sensor_id(value: &str) -> (&str, Option<u32>) {
    let v = value.trim();
    if let Some(open) = v.rfind("(0x")
        && let Some(hex) = v[open + 3..].strip_suffix(')')
        && !hex.is_empty()
        && hex.len() <= 8
        && let Ok(id) = u32::from_str_radix(hex, 16)
    {
        return (v[..open].trim_end(), Some(id));
    }
    (v, None)
}

/// `24 (+/- 0) degrees C` → (`24`, `degrees C`); other forms as [`split_reading`].
fn split_verbose_reading<'a>(ctx: &Context<'_>, text: &'a str) -> (&'a str, &'a str) {
    let t = text.trim();
    if let Some(open) = t.find("(+/-")
        && let Some(close) = t[open..].find(')')
    {
        return (t[..open].trim(), t[open + close + 1..].trim());
    }
    split_reading(ctx.normalizer, t)
}

/// The `key : value` of a block line (key trimmed), if it has a colon.
fn key_value(line: &str) -> Option<(&str, &str)> {
    line.split_once(':').map(|(k, v)| (k.trim(), v.trim()))
}

fn is_block_start(line: &str) -> bool {
    !line.starts_with(char::is_whitespace)
        && key_value(line).is_some_and(|(k, _)| k == "Sensor ID" || k == "Device ID")
}

/// A `-v` block: one record.
fn verbose_block<'a>(ctx: &Context<'_>, lines: &[&'a str]) -> Line<'a> {
    let mut row = Row {
        guess_kind: true,
        ..Row::default()
    };
    let mut sensor = false;
    let mut reading = None;
    for line in lines {
        let Some((key, value)) = key_value(line) else {
            continue; // continuation lines ("[State Asserted]")
        };
        match key {
            "Sensor ID" => {
                sensor = true;
                (row.name, row.id) = split_sensor_id(value);
            }
            "Sensor Reading" => reading = Some(value),
            "Status" => row.status = Some(value),
            k if k.starts_with("Sensor Type") => {
                row.type_hint = Some(value);
                row.discrete = k.contains("Discrete");
            }
            _ => {}
        }
    }
    let first = lines.first().copied().unwrap_or("");
    if !sensor {
        return match key_value(first) {
            Some((k, _)) if k.ends_with("ID") || k.contains("Locator") => Line::Bad(
                Reason::UnmappedSensor,
                format!("SDR record without a sensor ({k})"),
            ),
            _ => Line::Bad(
                Reason::BadField,
                "expected a block starting with 'Sensor ID : <name> (0x<n>)'".into(),
            ),
        };
    }
    match reading {
        Some(text) => (row.reading, row.unit) = split_verbose_reading(ctx, text),
        None if row.discrete => {}
        None => {
            return Line::Bad(
                Reason::BadField,
                format!("{:?} has no 'Sensor Reading' line", row.name),
            );
        }
    }
    Line::Row(row)
}

/// One `-v` block: its first line number, its lines, and its first line over the length limit
/// (which spoils the block), if any.
struct Block<'a> {
    start: u64,
    lines: Vec<&'a str>,
    too_long: Option<(u64, &'a str)>,
}

impl<'a> Block<'a> {
    fn take(&mut self, line: u64, text: &'a str, max_line_bytes: usize) {
        if text.len() > max_line_bytes {
            self.too_long.get_or_insert((line, text));
        } else {
            self.lines.push(text);
        }
    }
}

/// The blocks of a `-v` dump, lazily: runs of non-blank lines, also cut before each
/// `Sensor ID` / `Device ID` line.
fn blocks(input: &str, max_line_bytes: usize) -> impl Iterator<Item = Block<'_>> {
    let mut lines = input
        .lines()
        .enumerate()
        .map(|(i, t)| (i as u64 + 1, t))
        .peekable();
    std::iter::from_fn(move || {
        while lines
            .next_if(|(_, t)| t.trim().is_empty() || is_tool_message(t))
            .is_some()
        {}
        let (start, first) = lines.next()?;
        let mut block = Block {
            start,
            lines: Vec::new(),
            too_long: None,
        };
        block.take(start, first, max_line_bytes);
        while let Some((line, text)) =
            lines.next_if(|(_, t)| !t.trim().is_empty() && !is_block_start(t))
        {
            if !is_tool_message(text) {
                block.take(line, text, max_line_bytes);
            }
        }
        Some(block)
    })
}

impl Decode for IpmitoolSdrVerbose {
    fn name(&self) -> &str {
        Format::IpmitoolSdrVerbose.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        let Some(mut records) = Records::start(ctx, input, out) else {
            return;
        };
        for block in blocks(input, ctx.limits.max_line_bytes) {
            let head = block.lines.first().copied().unwrap_or("");
            if !records.admit(out, block.start, head) {
                break;
            }
            if let Some((line, text)) = block.too_long {
                records.too_long(out, line, text);
                continue;
            }
            match verbose_block(ctx, &block.lines) {
                Line::Row(row) => records.row(out, block.start, head, &row),
                Line::Bad(reason, detail) => records.reject(out, block.start, reason, detail, head),
                Line::Skip => {}
            }
        }
        records.finish(out);
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl IpmitoolSdrVerbose {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head)
            .next()
            .and_then(key_value)
            .is_some_and(|(k, v)| k == "Sensor ID" && !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;
    use kelvin_model::{Quality, SensorKind};

    fn decode(d: &dyn Decode, text: &str) -> IngestBatch {
        let n = Normalizer::builtin();
        let ctx = Context::new("t.txt", &n);
        let mut out = IngestBatch::default();
        d.decode(text, &ctx, &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    fn reasons(b: &IngestBatch) -> Vec<Reason> {
        b.quarantine.iter().map(|q| q.reason).collect()
    }

    #[test]
    fn sensor_list_rows() {
        let b = decode(
            &IpmitoolSensor,
            "CPU1 Temp        | 33.000     | degrees C  | ok    | 0.000     | 0.000     | 0.000     | 79.000    | 82.000    | 84.000\n\
             P1-DIMMA3 TEMP   | na         |            | na    | na        | na        | na        | na        | na        | na\n\
             Fan 1            | 27.440     | percent    | ok    | na        | na        | na        | na        | na        | na\n\
             HDD Status       | na         | discrete   | na    | na        | na        | na        | na        | na        | na\n\
             HDD Status       | na         | discrete   | na    | na        | na        | na        | na        | na        | na\n\
             short | row\n\
             FAN2 | 3000.000 | RPM | ok | na | na | na | na | na | na\n\
             FAN2 | 3150.000 | RPM | cr | na | na | na | na | na | na\n",
        );
        let r = &b.readings;
        assert_eq!((r[0].sensor.as_str(), r[0].value), ("CPU1 Temp", 33.0));
        assert_eq!(r[0].status.as_deref(), Some("ok"));
        assert_eq!(
            (r[1].kind, r[1].quality),
            (SensorKind::Temperature, Quality::Absent)
        );
        assert_eq!((r[2].kind, r[2].value), (SensorKind::FanDuty, 27.44));
        assert_eq!((r[3].sensor.as_str(), r[3].value), ("FAN2#1", 3000.0));
        assert_eq!(
            (r[4].sensor.as_str(), r[4].quality),
            ("FAN2#2", Quality::Critical)
        );
        assert_eq!(
            reasons(&b),
            [
                Reason::UnmappedSensor,
                Reason::UnmappedSensor,
                Reason::BadField
            ]
        );
        assert_eq!(b.quarantine[2].place.to_string(), "t.txt:6");
    }

    #[test]
    fn sdr_list_rows() {
        let b = decode(
            &IpmitoolSdr,
            "Ambient Temp     | 20 degrees C      | ok\n\
             Altitude         | 80 feet           | ok\n\
             Avg Power        | 210 Watts         | ok\n\
             Fan 1            | 0x00              | ok\n\
             DASD Backplane 3 | Not Readable      | ns\n\
             CPU Temp         | no reading        | ns\n\
             Planar 3.3V      | 3.29 Volts        | ok\n",
        );
        let r = &b.readings;
        assert_eq!((r[0].sensor.as_str(), r[0].value), ("inlet", 20.0));
        assert_eq!((r[1].kind, r[1].value), (SensorKind::Power, 210.0));
        assert_eq!(
            (r[2].kind, r[2].quality),
            (SensorKind::Temperature, Quality::Absent)
        );
        assert_eq!((r[3].kind, r[3].value), (SensorKind::Voltage, 3.29));
        assert_eq!(reasons(&b), [Reason::UnmappedSensor; 3]);
        assert!(
            b.quarantine[0].detail.contains("feet"),
            "{}",
            b.quarantine[0].detail
        );
    }

    #[test]
    fn elist_rows() {
        let b = decode(
            &IpmitoolSdrElist,
            "SEL              | 72h | ns  |  7.1 | No Reading\n\
             Fan1             | 30h | ok  |  7.1 | 5040 RPM\n\
             Temp             | 0Eh | ok  |  3.1 | 40 degrees C\n\
             Temp             | 0Fh | ok  |  3.2 | 42 degrees C\n\
             Power Supply 1   | 03h | ok  | 10.1 | 110 Watts, Presence detected\n\
             USB Cable Pres   | 50h | ok  |  7.1 | Connected\n\
             Bad id           | 3G  | ok  |  7.1 | 1 Volts\n",
        );
        let names: Vec<&str> = b.readings.iter().map(|r| r.sensor.as_str()).collect();
        assert_eq!(names, ["Fan1", "Temp#14", "Temp#15", "Power Supply 1"]);
        assert_eq!(b.readings[3].value, 110.0);
        assert_eq!(
            reasons(&b),
            [
                Reason::UnmappedSensor,
                Reason::UnmappedSensor,
                Reason::BadField
            ]
        );
    }

    const VERBOSE: &str = "\
Sensor ID              : SSB Therm Trip (0xd)
 Entity ID             : 7.1 (System Board)
 Sensor Type (Discrete): Temperature
 Assertions Enabled    : Digital State
                         [State Asserted]

Sensor ID              : Pwr Consumption (0x76)
 Entity ID             : 7.1 (System Board)
 Sensor Type (Threshold)  : Current (0x03)
 Sensor Reading        : 154 (+/- 0) Watts
 Status                : ok

Sensor ID              : BB +1.35 P1LV AB (0xe4)
 Sensor Type (Analog)  : Voltage
 Sensor Reading        : Disabled
 Status                : Disabled
Sensor ID              : PS1 Curr Out % (0x58)
 Sensor Type (Analog)  : Current
 Sensor Reading        : 11 (+/- 0) unspecified
 Status                : ok


Device ID              : Basbrd Mgmt Ctlr (0x20)
 Entity ID             : 6.1 (System Management Module)

Random words
Sensor ID              : No Reading Line (0x1)
 Sensor Type (Analog)  : Voltage
";

    #[test]
    fn verbose_blocks() {
        let b = decode(&IpmitoolSdrVerbose, VERBOSE);
        let r = &b.readings;
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].sensor.as_str(), r[0].kind, r[0].value),
            ("input", SensorKind::Power, 154.0)
        );
        assert_eq!(
            (r[1].kind, r[1].quality),
            (SensorKind::Voltage, Quality::Absent)
        );
        assert_eq!(r[1].status.as_deref(), Some("Disabled"));
        assert_eq!(r[2].kind, SensorKind::Utilization);
        assert!((r[2].value - 0.11).abs() < 1e-12);
        assert_eq!(
            reasons(&b),
            [
                Reason::UnmappedSensor,
                Reason::UnmappedSensor,
                Reason::BadField,
                Reason::BadField
            ]
        );
        let places: Vec<String> = b.quarantine.iter().map(|q| q.place.to_string()).collect();
        assert_eq!(places, ["t.txt:1", "t.txt:23", "t.txt:26", "t.txt:27"]);
    }

    #[test]
    fn verbose_sensor_ids_and_readings() {
        assert_eq!(split_sensor_id("Inlet Temp (0x4)"), ("Inlet Temp", Some(4)));
        assert_eq!(
            split_sensor_id("PS1 Curr Out % (0x58)"),
            ("PS1 Curr Out %", Some(0x58))
        );
        assert_eq!(split_sensor_id("Odd (0x)"), ("Odd (0x)", None));
        assert_eq!(split_sensor_id("Odd (0xZZ)"), ("Odd (0xZZ)", None));
        assert_eq!(split_sensor_id("(0x1"), ("(0x1", None));
        let n = Normalizer::builtin();
        let ctx = Context::new("x", &n);
        assert_eq!(
            split_verbose_reading(&ctx, "24 (+/- 0) degrees C"),
            ("24", "degrees C")
        );
        assert_eq!(
            split_verbose_reading(&ctx, "No Reading"),
            ("No Reading", "")
        );
        assert_eq!(split_verbose_reading(&ctx, "1 (+/- "), ("1", "(+/-"));
    }

    #[test]
    fn sniffs_are_exclusive() {
        let sensor =
            "CPU1 Temp | 33.000 | degrees C | ok | 0.000 | na | na | 79.000 | 82.000 | 84.000";
        let sdr = "Ambient Temp     | 20 degrees C      | ok";
        let elist = "Fan1             | 30h | ok  |  7.1 | 5040 RPM";
        for (text, want) in [(sensor, 0), (sdr, 1), (elist, 2), (VERBOSE, 3)] {
            let claims: Vec<usize> = super::super::decoders()
                .iter()
                .enumerate()
                .filter(|(_, d)| d.detect(text).is_some())
                .map(|(i, _)| i)
                .collect();
            assert_eq!(claims, [want], "{text}");
        }
        assert!(!IpmitoolSdr.sniff("a | b | c"));
        assert!(!IpmitoolSensor.sniff(""));
    }
}
