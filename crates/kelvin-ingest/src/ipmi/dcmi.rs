//! DCMI power readings: `ipmitool dcmi power reading` and FreeIPMI `ipmi-dcmi
//! --get-system-power-statistics` / `--get-enhanced-system-power-statistics`.
//!
//! Both print one block of `key : value` lines per reading: four powers (current, minimum,
//! maximum, average over the sampling period), then metadata (BMC time stamp, sampling period,
//! measurement state). Each power line is a record; the block's metadata applies to all of its
//! powers, so a block is emitted when it ends.

use kelvin_model::{Quality, Reading, SensorKind};

use crate::{Confidence, Context, Decode, Format, IngestBatch, Reason};

use super::time::parse_bmc_time;
use super::{Records, head_lines, is_tool_message, parse_number, split_reading};

/// The sensor name of the instantaneous DCMI power: the facade's default wall-power sensor.
const CURRENT: &str = "dcmi";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stat {
    Current,
    Minimum,
    Maximum,
    Average,
}

impl Stat {
    fn index(self) -> usize {
        self as usize
    }

    fn suffix(self) -> &'static str {
        match self {
            Stat::Current => "",
            Stat::Minimum => "minimum",
            Stat::Maximum => "maximum",
            Stat::Average => "average",
        }
    }
}

/// A record of a block, kept until the block's metadata is known.
enum Entry<'a> {
    Stat {
        line: u64,
        text: &'a str,
        stat: Stat,
        value: &'a str,
    },
    Bad {
        line: u64,
        text: &'a str,
        reason: Reason,
        detail: String,
    },
}

#[derive(Default)]
struct Block<'a> {
    /// The rolling-average period of an enhanced-statistics block (`5m`, `24h`).
    period: Option<String>,
    entries: Vec<Entry<'a>>,
    seen: [bool; 4],
    time: Option<&'a str>,
    state: Option<&'a str>,
}

/// What one line of DCMI output is.
enum DcmiLine<'a> {
    /// Not a record (blank, warning, sampling period).
    Skip,
    /// A power.
    Stat(Stat, &'a str),
    /// The BMC time stamp.
    Time(&'a str),
    /// The measurement state (`activated`, `Active`, `Not Available`).
    State(&'a str),
    /// `Power Statistics for Rolling Average Time Period 5 Minutes`: a new block.
    Period(String),
    /// An error printed instead of readings; `true` when the rest of the output is not DCMI
    /// (ipmitool's usage text).
    Error(&'a str, bool),
    /// An unrecognized line.
    Bad(String),
}

fn is_active(state: &str) -> bool {
    matches!(
        state.trim().to_ascii_lowercase().as_str(),
        "activated" | "active"
    )
}

/// `5 Minutes` → `5m`, `24 Hours` → `24h`, `10 Seconds` → `10s`, `7 Days` → `7d`.
fn period_name(text: &str) -> String {
    let mut words = text.split_whitespace();
    let (n, unit) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let short = match unit.to_ascii_lowercase().as_str() {
        "second" | "seconds" => Some("s"),
        "minute" | "minutes" => Some("m"),
        "hour" | "hours" => Some("h"),
        "day" | "days" => Some("d"),
        _ => None,
    };
    match short {
        Some(s) if words.next().is_none() && n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{n}{s}")
        }
        _ => text.split_whitespace().collect::<Vec<_>>().join("_"),
    }
}

/// Decodes DCMI output whose lines `classify` recognizes.
fn decode_dcmi<'a>(
    input: &'a str,
    ctx: &Context<'_>,
    out: &mut IngestBatch,
    classify: impl Fn(&'a str) -> DcmiLine<'a>,
) {
    let Some(mut records) = Records::start(ctx, input, out) else {
        return;
    };
    let mut emitter = Emitter {
        records: &mut records,
        ctx,
        current_in_period: false,
    };
    let mut block = Block::default();
    for (i, text) in input.lines().enumerate() {
        let line = i as u64 + 1;
        if text.trim().is_empty() {
            continue;
        }
        if text.len() > ctx.limits.max_line_bytes {
            let detail = format!(
                "{} bytes, over max_line_bytes ({})",
                text.len(),
                ctx.limits.max_line_bytes
            );
            block.entries.push(Entry::Bad {
                line,
                text,
                reason: Reason::LineTooLong,
                detail,
            });
            continue;
        }
        match classify(text) {
            DcmiLine::Skip => {}
            DcmiLine::Stat(stat, value) => {
                if block.seen[stat.index()] {
                    // The same power again: a new reading (a second capture appended).
                    let period = block.period.clone();
                    if !emitter.flush(std::mem::take(&mut block), out) {
                        break;
                    }
                    block.period = period;
                }
                block.seen[stat.index()] = true;
                block.entries.push(Entry::Stat {
                    line,
                    text,
                    stat,
                    value,
                });
            }
            DcmiLine::Time(t) => {
                block.time.get_or_insert(t);
            }
            DcmiLine::State(s) => {
                block.state.get_or_insert(s);
            }
            DcmiLine::Period(p) => {
                if !emitter.flush(std::mem::take(&mut block), out) {
                    break;
                }
                block.period = Some(p);
            }
            DcmiLine::Error(message, rest_is_not_dcmi) => {
                out.no_readings(
                    ctx.line(line),
                    format!("DCMI power reading unavailable: {}", message.trim()),
                );
                if rest_is_not_dcmi {
                    break;
                }
            }
            DcmiLine::Bad(detail) => block.entries.push(Entry::Bad {
                line,
                text,
                reason: Reason::BadField,
                detail,
            }),
        }
    }
    emitter.flush(block, out);
    records.finish(out);
}

struct Emitter<'r, 'c, 'n> {
    records: &'r mut Records<'c, 'n>,
    ctx: &'c Context<'n>,
    /// The current power was emitted from an enhanced-statistics block: every later block
    /// repeats it.
    current_in_period: bool,
}

impl Emitter<'_, '_, '_> {
    /// Emits a finished block; false when the record limit was reached.
    fn flush(&mut self, block: Block<'_>, out: &mut IngestBatch) -> bool {
        let ts = block
            .time
            .and_then(parse_bmc_time)
            .unwrap_or(self.ctx.timestamp());
        let active = block.state.is_none_or(is_active);
        for entry in block.entries {
            match entry {
                Entry::Bad {
                    line,
                    text,
                    reason,
                    detail,
                } => {
                    if !self.records.admit(out, line, text) {
                        return false;
                    }
                    self.records.reject(out, line, reason, detail, text);
                }
                Entry::Stat {
                    line,
                    text,
                    stat,
                    value,
                } => {
                    if !self.records.admit(out, line, text) {
                        return false;
                    }
                    let sensor = match (stat, &block.period) {
                        (Stat::Current, Some(_)) if self.current_in_period => {
                            self.records.reject(
                                out,
                                line,
                                Reason::Duplicate,
                                "the current power repeats in every rolling-average block; \
                                 it is kept from the first",
                                text,
                            );
                            continue;
                        }
                        (Stat::Current, period) => {
                            self.current_in_period |= period.is_some();
                            CURRENT.to_string()
                        }
                        (s, None) => format!("{CURRENT}/{}", s.suffix()),
                        (s, Some(p)) => format!("{CURRENT}/{}/{p}", s.suffix()),
                    };
                    match self.power(value, active) {
                        Ok((v, quality)) => {
                            let mut r = Reading::new(
                                self.records.entity.clone(),
                                sensor,
                                SensorKind::Power,
                                v,
                                ts,
                            )
                            .with_quality(quality);
                            if let Some(s) = block.state {
                                r = r.with_status(s.trim());
                            }
                            self.records.fixed(r);
                        }
                        Err((reason, detail)) => {
                            self.records.reject(out, line, reason, detail, text)
                        }
                    }
                }
            }
        }
        true
    }

    /// `84 Watts` → watts and quality.
    fn power(&self, text: &str, active: bool) -> Result<(f64, Quality), (Reason, String)> {
        let n = self.ctx.normalizer;
        let (value, unit) = split_reading(n, text);
        if n.is_absent(value) || !active {
            return Ok((f64::NAN, Quality::Absent));
        }
        let v = parse_number(value)
            .ok_or_else(|| (Reason::BadValue, format!("power {value:?} is not a number")))?;
        let u = n
            .unit(unit)
            .filter(|&u| n.classify(u, None) == Some(SensorKind::Power))
            .ok_or_else(|| (Reason::BadUnit, format!("{unit:?} is not a unit of power")))?;
        let w = u
            .convert(v, SensorKind::Power)
            .map_err(|e| (Reason::BadUnit, e.reason().to_string()))?;
        Ok((w, Quality::Good))
    }
}

/// `key : value`, key trimmed and lowercased.
fn key_value(text: &str) -> Option<(String, &str)> {
    text.split_once(':')
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim()))
}

// ---------------------------------------------------------------------------------------------

/// `ipmitool dcmi power reading`.
///
/// `Instantaneous power reading: 84 Watts` is the power sensor `dcmi` (the facade's default
/// wall-power sensor); the minimum, maximum and average over the sampling period are
/// `dcmi/minimum`, `dcmi/maximum` and `dcmi/average`. Their time is `IPMI timestamp`
/// (`Thu Jul 25 15:44:18 2023` or `07/25/23 15:44:18 UTC`, read as UTC) when it is a real date,
/// else [`Context::timestamp`]; a BMC clock before 2000 was never set. When `Power reading
/// state is: deactivated` the readings are absent. The raw state is each reading's status.
///
/// ipmitool's own messages (`IANA PEN registry open failed`, its `-v` probes) are skipped;
/// `DCMI request failed …` and
/// `Invalid command: dcmi` (a BMC or an ipmitool without DCMI) are noted with
/// [`IngestBatch::no_readings`].
///
/// Sniffing: the first line after the tool's messages is `Instantaneous power reading:`,
/// `DCMI request failed` or `Invalid command: dcmi`.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpmitoolDcmi;

fn ipmitool_line(text: &str) -> DcmiLine<'_> {
    let t = text.trim();
    if t.is_empty() || is_tool_message(t) {
        return DcmiLine::Skip;
    }
    if t.starts_with("DCMI request failed") {
        return DcmiLine::Error(t, false);
    }
    if t.starts_with("Invalid command") {
        return DcmiLine::Error(t, true);
    }
    let Some((key, value)) = key_value(t) else {
        return DcmiLine::Bad("expected 'name: value'".into());
    };
    match key.as_str() {
        "instantaneous power reading" => DcmiLine::Stat(Stat::Current, value),
        "minimum during sampling period" => DcmiLine::Stat(Stat::Minimum, value),
        "maximum during sampling period" => DcmiLine::Stat(Stat::Maximum, value),
        "average power reading over sample period" => DcmiLine::Stat(Stat::Average, value),
        // ipmitool 1.8.19 forgets the newline after the time stamp.
        "ipmi timestamp" => DcmiLine::Time(
            value
                .split("Sampling period")
                .next()
                .unwrap_or(value)
                .trim(),
        ),
        "sampling period" => DcmiLine::Skip,
        "power reading state is" => DcmiLine::State(value),
        _ => DcmiLine::Bad(format!("unknown DCMI power reading line {key:?}")),
    }
}

impl Decode for IpmitoolDcmi {
    fn name(&self) -> &str {
        Format::IpmitoolDcmi.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        decode_dcmi(input, ctx, out, ipmitool_line);
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl IpmitoolDcmi {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head).next().map(str::trim).is_some_and(|l| {
            l.starts_with("Instantaneous power reading")
                || l.starts_with("DCMI request failed")
                || l.starts_with("Invalid command: dcmi")
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// FreeIPMI `ipmi-dcmi --get-system-power-statistics` and
/// `--get-enhanced-system-power-statistics`.
///
/// `Current Power : 84 Watts` is the power sensor `dcmi`; the minimum, maximum and average over
/// the sampling duration are `dcmi/minimum`, `dcmi/maximum`, `dcmi/average`. Enhanced output
/// has one block per rolling-average period (`Power Statistics for Rolling Average Time Period
/// 5 Minutes`): its statistics are `dcmi/minimum/5m`, `dcmi/maximum/5m`, `dcmi/average/5m`
/// (periods `10s`, `5m`, `24h`, `7d` …). Every block repeats the current power: the first is
/// `dcmi`, the repeats are quarantined as [`Reason::Duplicate`]. Times come from `Time Stamp`
/// (`07/25/2023 - 15:38:52`, read as UTC) as for [`IpmitoolDcmi`]; `Power Measurement : Not
/// Available` makes the block's readings absent.
///
/// An error line instead of readings (`ipmi_cmd_dcmi_get_power_reading: command invalid or
/// unsupported`) is noted with [`IngestBatch::no_readings`].
///
/// Sniffing: the first line is `Current Power :`, a rolling-average period header, or an
/// `ipmi_cmd_dcmi_…:` error.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreeipmiDcmi;

const PERIOD_HEADER: &str = "Power Statistics for Rolling Average Time Period";

/// `ipmi_cmd_dcmi_get_power_reading: command invalid or unsupported`.
fn is_freeipmi_error(t: &str) -> bool {
    t.split_once(':').is_some_and(|(k, _)| {
        k.starts_with("ipmi_") && !k.is_empty() && !k.contains(char::is_whitespace)
    })
}

fn freeipmi_line(text: &str) -> DcmiLine<'_> {
    let t = text.trim();
    if t.is_empty() || is_tool_message(t) {
        return DcmiLine::Skip;
    }
    if let Some(rest) = t.strip_prefix(PERIOD_HEADER) {
        return DcmiLine::Period(period_name(rest));
    }
    if is_freeipmi_error(t) {
        return DcmiLine::Error(t, false);
    }
    let Some((key, value)) = key_value(t) else {
        return DcmiLine::Bad("expected 'name : value'".into());
    };
    match key.as_str() {
        "current power" => DcmiLine::Stat(Stat::Current, value),
        "minimum power over sampling duration" => DcmiLine::Stat(Stat::Minimum, value),
        "maximum power over sampling duration" => DcmiLine::Stat(Stat::Maximum, value),
        "average power over sampling duration" => DcmiLine::Stat(Stat::Average, value),
        "time stamp" => DcmiLine::Time(value),
        "statistics reporting time period" => DcmiLine::Skip,
        "power measurement" => DcmiLine::State(value),
        _ => DcmiLine::Bad(format!("unknown ipmi-dcmi line {key:?}")),
    }
}

impl Decode for FreeipmiDcmi {
    fn name(&self) -> &str {
        Format::FreeipmiDcmi.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        decode_dcmi(input, ctx, out, freeipmi_line);
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl FreeipmiDcmi {
    /// Whether `head` looks like this format (the "Sniffing" rule of the type's documentation).
    pub(crate) fn sniff(&self, head: &str) -> bool {
        head_lines(head).next().map(str::trim).is_some_and(|l| {
            l.starts_with(PERIOD_HEADER)
                || (l.starts_with("ipmi_cmd_dcmi") && is_freeipmi_error(l))
                || key_value(l).is_some_and(|(k, _)| k == "current power")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Normalizer;
    use kelvin_model::Timestamp;

    fn decode_at(d: &dyn Decode, text: &str, ts: Option<Timestamp>) -> IngestBatch {
        let n = Normalizer::builtin();
        let mut ctx = Context::new("dcmi.txt", &n);
        ctx.default_timestamp = ts;
        let mut out = IngestBatch::default();
        d.decode(text, &ctx, &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    fn sensors(b: &IngestBatch) -> Vec<(&str, f64)> {
        b.readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.value))
            .collect()
    }

    #[test]
    fn ipmitool_power_reading() {
        let text = "\
IANA PEN registry open failed: No such file or directory

    Instantaneous power reading:                    71 Watts
    Minimum during sampling period:                  0 Watts
    Maximum during sampling period:                159 Watts
    Average power reading over sample period:       73 Watts
    IPMI timestamp:                           07/25/23 15:38:52 UTC    Sampling period:                          00026547 Seconds.
    Power reading state is:                   activated
";
        let b = decode_at(&IpmitoolDcmi, text, None);
        assert_eq!(
            sensors(&b),
            [
                ("dcmi", 71.0),
                ("dcmi/minimum", 0.0),
                ("dcmi/maximum", 159.0),
                ("dcmi/average", 73.0)
            ]
        );
        assert_eq!(b.readings[0].ts.to_rfc3339(), "2023-07-25T15:38:52Z");
        assert_eq!(b.readings[0].status.as_deref(), Some("activated"));
        assert_eq!(b.stats.seen, 4);
        assert!(IpmitoolDcmi.sniff(text));
    }

    #[test]
    fn unset_bmc_clock_and_deactivated_state() {
        let ctx_ts = Timestamp::from_secs(1_700_000_000);
        let text = "\
Instantaneous power reading:                   84 Watts
Minimum during sampling period:                 2 Watts
IPMI timestamp:                           Thu Jan  1 00:00:00 1970
Power reading state is:                   deactivated
";
        let b = decode_at(&IpmitoolDcmi, text, Some(ctx_ts));
        assert_eq!(b.readings.len(), 2);
        for r in &b.readings {
            assert_eq!(r.ts, ctx_ts);
            assert_eq!(r.quality, Quality::Absent);
            assert!(r.value.is_nan());
            assert_eq!(r.status.as_deref(), Some("deactivated"));
        }
        let b = decode_at(
            &IpmitoolDcmi,
            "Instantaneous power reading: 84 Watts\n",
            None,
        );
        assert_eq!(b.readings[0].ts, Timestamp::UNKNOWN);
        assert_eq!(b.readings[0].quality, Quality::Good);
    }

    #[test]
    fn ipmitool_errors_and_garbage() {
        let b = decode_at(
            &IpmitoolDcmi,
            "\n    DCMI request failed because: Invalid command (c1)\n\n",
            None,
        );
        assert_eq!((b.stats.seen, b.without_readings.len()), (0, 1));
        assert_eq!(b.without_readings[0].place.to_string(), "dcmi.txt:2");
        let b = decode_at(
            &IpmitoolDcmi,
            "Invalid command: dcmi\nCommands:\n\traw  Send a RAW IPMI request\n",
            None,
        );
        assert_eq!((b.stats.seen, b.without_readings.len()), (0, 1));
        let b = decode_at(
            &IpmitoolDcmi,
            "Instantaneous power reading: lots Watts\nMinimum during sampling period: 3 Volts\nhello\nFoo: 1\n",
            None,
        );
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::BadValue,
                Reason::BadUnit,
                Reason::BadField,
                Reason::BadField
            ]
        );
    }

    const ENHANCED: &str = "\
Power Statistics for Rolling Average Time Period 10 Seconds

Current Power                        : 98 Watts
Minimum Power over sampling duration : 98 watts
Maximum Power over sampling duration : 99 watts
Average Power over sampling duration : 98 watts
Time Stamp                           : 07/25/2023 - 11:51:54
Statistics reporting time period     : 10 milliseconds
Power Measurement                    : Active
Power Statistics for Rolling Average Time Period 5 Minutes

Current Power                        : 98 Watts
Minimum Power over sampling duration : 94 watts
Maximum Power over sampling duration : 99 watts
Average Power over sampling duration : 95 watts
Time Stamp                           : 07/22/2023 - 07:59:58
Statistics reporting time period     : 300 milliseconds
Power Measurement                    : Not Available
";

    #[test]
    fn freeipmi_enhanced_blocks() {
        let b = decode_at(&FreeipmiDcmi, ENHANCED, None);
        let names: Vec<&str> = b.readings.iter().map(|r| r.sensor.as_str()).collect();
        assert_eq!(
            names,
            [
                "dcmi",
                "dcmi/minimum/10s",
                "dcmi/maximum/10s",
                "dcmi/average/10s",
                "dcmi/minimum/5m",
                "dcmi/maximum/5m",
                "dcmi/average/5m"
            ]
        );
        assert_eq!(b.readings[3].value, 98.0);
        assert_eq!(b.readings[3].ts.to_rfc3339(), "2023-07-25T11:51:54Z");
        assert_eq!(b.readings[6].ts.to_rfc3339(), "2023-07-22T07:59:58Z");
        assert_eq!(b.readings[6].quality, Quality::Absent);
        assert_eq!(b.quarantine.len(), 1);
        assert_eq!(b.quarantine[0].reason, Reason::Duplicate);
        assert_eq!(b.quarantine[0].place.to_string(), "dcmi.txt:12");
        assert!(FreeipmiDcmi.sniff(ENHANCED));
        assert!(!IpmitoolDcmi.sniff(ENHANCED));
    }

    #[test]
    fn freeipmi_plain_and_errors() {
        let text = "Current Power                        : 75 Watts\n\
                    Minimum Power over sampling duration : 0 watts\n\
                    Time Stamp                           : 07/25/2023 - 15:38:52\n\
                    Current Power                        : 76 Watts\n\
                    Time Stamp                           : 07/25/2023 - 15:38:53\n";
        let b = decode_at(&FreeipmiDcmi, text, None);
        assert_eq!(
            sensors(&b),
            [("dcmi", 75.0), ("dcmi/minimum", 0.0), ("dcmi", 76.0)]
        );
        assert_eq!(b.readings[2].ts.to_rfc3339(), "2023-07-25T15:38:53Z");
        let err = "ipmi_cmd_dcmi_get_power_reading: command invalid or unsupported\n";
        let b = decode_at(&FreeipmiDcmi, err, None);
        assert_eq!((b.stats.seen, b.without_readings.len()), (0, 1));
        assert!(FreeipmiDcmi.sniff(err));
    }

    #[test]
    fn periods_are_short() {
        assert_eq!(period_name(" 5 Minutes"), "5m");
        assert_eq!(period_name("24 Hours"), "24h");
        assert_eq!(period_name("1 Days"), "1d");
        assert_eq!(period_name("0 Seconds"), "0s");
        assert_eq!(period_name("3 Fortnights"), "3_Fortnights");
        assert_eq!(period_name(""), "");
    }
}
