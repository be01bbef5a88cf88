//! SNMP walk text for PDUs and UPSes (net-snmp `snmpwalk` output, snmpsim `.snmprec`).
//!
//! # Input
//!
//! Two line formats are accepted, line by line, in one input:
//!
//! - net-snmp `snmpwalk -On` output: `.1.3.6.1.2.1.33.1.2.7.0 = INTEGER: 24`, also `Gauge32:`,
//!   `Counter32:`, `Counter64:`, `STRING: "x"`, `Hex-STRING: 00 20`, `Timeticks: (123) 0:00:01.23`,
//!   `OID:`, `IpAddress:`, untyped values (`= ""`, `= 0`) and `No Such Object/Instance …`. A
//!   quoted string that spans lines (net-snmp prints embedded newlines as they are) and a
//!   `Hex-STRING` wrapped over several lines are joined to their first line. The `iso.` prefix
//!   (`snmpwalk` without `-On`) is read as `1.`.
//! - snmpsim `.snmprec`: `1.3.6.1.4.1.1718.4.1.3.3.1.3.1.1|2|1701`, `OID|tag|value`, with the
//!   ASN.1 tags 2 INTEGER, 4 OCTET STRING (`4x`: hex-encoded), 5 NULL, 6 OID, 64 IpAddress,
//!   65 Counter32, 66 Gauge32, 67 TimeTicks, 68 Opaque, 70 Counter64 (and 128–130 for the
//!   "no such object / instance / end of MIB view" exceptions).
//!
//! Blank lines, `#` comments and net-snmp's `End of MIB` trailer are not records.
//!
//! # Records
//!
//! Every OID line is one record. An OID found in the table below becomes a [`Reading`] (or an
//! absent reading, see *Sentinels*); an OID the table lists without a canonical kind (apparent
//! power, frequency, power factor, battery charge) and every OID the table does not list
//! (`sysDescr`, interface counters, configuration, vendor MIBs not covered) is quarantined with
//! [`Reason::UnmappedSensor`], so `seen == accepted + quarantined` over the whole walk. A line
//! that is neither an OID line nor a continuation is quarantined with [`Reason::BadField`].
//!
//! All readings belong to [`Context::fallback_entity`] (a walk describes one agent: one PDU or
//! one UPS) and carry [`Context::timestamp`] (a walk has no time of its own).
//!
//! # The OID table
//!
//! The table is data in this module (`TABLE`): a column (or scalar) OID, the MIB object it is,
//! the canonical kind (or none), the unit and divisor of the raw integer, the sentinel rule, and
//! a sensor-name template filled from the index suffix. It covers:
//!
//! - **Server Technology Sentry4** (`Sentry4-MIB`, enterprise `1.3.6.1.4.1.1718.4`), checked
//!   against the MIB's `UNITS` clauses: input cord active power (W), power utilized (tenth
//!   percent of capacity → utilization ratio) and energy (tenth kWh); line current (hundredth
//!   A) and current utilized; phase voltage (tenth V), current (hundredth A), active power (W)
//!   and energy (tenth kWh); branch current; outlet current, voltage, active power and energy
//!   (W·h); external temperature probes (tenth degrees, in the scale that `st4TempSensorScale`
//!   selects: Celsius unless the walk holds `st4TempSensorScale.0 = fahrenheit(1)`) and
//!   humidity probes (%RH).
//! - **RFC 1628 `UPS-MIB`** (`1.3.6.1.2.1.33`): `upsBatteryVoltage` (0.1 V DC),
//!   `upsBatteryCurrent` (0.1 A DC), `upsBatteryTemperature` (°C), `upsInputVoltage` (V RMS),
//!   `upsInputCurrent` (0.1 A RMS), `upsInputTruePower` (W), `upsOutputVoltage`,
//!   `upsOutputCurrent` (0.1 A RMS), `upsOutputPower` (W), `upsOutputPercentLoad` (% → ratio),
//!   and the bypass voltage, current and power. Scalars are matched with or without their `.0`
//!   instance (some agents, e.g. Tripp Lite's, omit it).
//!
//! # Sensor names
//!
//! Sentry4 names follow the MIB's internal ids (`st4UnitIndex` 1 = `A`, `st4InputCordIndex`
//! 1 = `A`, so the first cord is `AA`, its phase 1 is `AA1`): `cord.AA.power`,
//! `cord.AA.power_utilized`, `cord.AA.energy`, `line.AA1.current`, `phase.AA2.voltage`,
//! `branch.AA3.current`, `outlet.AA12.power`, `temperature.A1`, `humidity.A2`. UPS-MIB names
//! are `battery.temperature`, `input.1.voltage`, `output.2.power`, `output.1.load`,
//! `bypass.3.current` (the number is the line index).
//!
//! # Sentinels
//!
//! Values that mean "not available" become readings with [`Quality::Absent`] and a NaN value
//! (an explicit absence, never a number); the raw text is kept as the status:
//!
//! - Sentry4 measured values whose MIB range starts at `-1` (power, energy, current, voltage,
//!   utilization, humidity): any negative value (`-1` is the agent's "not available"; nothing
//!   below it is in range).
//! - Sentry4 `st4TempSensorValue`: any value below -400 tenth degrees (the MIB: "-410 means the
//!   temperature reading is invalid"; -40° is the probe's minimum, in either scale).
//! - UPS-MIB quantities typed `NonNegativeInteger` (voltages, currents, powers, load): any
//!   negative value (agents answer `-1` for "unknown"). `upsBatteryCurrent` and
//!   `upsBatteryTemperature` are signed and have no sentinel.
//! - `No Such Object` / `No Such Instance` (tags 128–130 in `.snmprec`) on a table OID.

use std::collections::HashMap;

use kelvin_model::{Quality, Reading, SensorKind, Unit};

use crate::{Confidence, Context, Decode, Format, IngestBatch, Quarantined, Reason};

/// Decoder for SNMP walks: net-snmp `snmpwalk -On` text and snmpsim `.snmprec` (see the
/// [module documentation](self) for the OID table, names and sentinels).
///
/// ```
/// use kelvin_ingest::{Context, Decode, IngestBatch, Normalizer, snmp::SnmpWalk};
/// let walk = ".1.3.6.1.2.1.33.1.2.7.0 = INTEGER: 24\n.1.3.6.1.2.1.1.5.0 = STRING: \"ups1\"\n";
/// let n = Normalizer::builtin();
/// let mut out = IngestBatch::default();
/// SnmpWalk.decode(walk, &Context::new("ups1.walk", &n), &mut out);
/// assert_eq!(out.readings[0].sensor, "battery.temperature");
/// assert_eq!(out.readings[0].value, 24.0);
/// assert_eq!(out.stats.quarantined, 1); // sysName is a record without a reading
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SnmpWalk;

/// When a raw value means "not available".
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sentinel {
    /// Every value is a measurement.
    None,
    /// Negative values are "not available".
    Negative,
    /// Values below this raw number are "not available".
    Below(f64),
}

/// One row of the OID table.
struct Rule {
    /// The column (or scalar) OID without the leading dot.
    oid: &'static str,
    /// The MIB object name.
    object: &'static str,
    /// The MIB module.
    mib: &'static str,
    /// Number of index components after `oid` (0 for a scalar, matched with or without `.0`).
    index_len: usize,
    /// The canonical kind, or `None` for an object Kelvin recognizes but has no kind for.
    kind: Option<SensorKind>,
    /// The unit of `raw / divisor`.
    unit: Unit,
    /// The raw integer is in `unit / divisor` (tenths: 10).
    divisor: f64,
    /// Which raw values mean "not available".
    sentinel: Sentinel,
    /// Sensor-name template: `{L0}` the first index component as a letter (1 = `A`), `{L1}` the
    /// second, `{N0}` / `{N1}` / `{N2}` the components as numbers.
    sensor: &'static str,
    /// The value is in the scale selected by `st4TempSensorScale` (°C unless it says °F).
    temp_scale: bool,
}

const ST4: &str = "Sentry4-MIB";
const UPS: &str = "UPS-MIB";

#[allow(clippy::too_many_arguments)]
const fn rule(
    oid: &'static str,
    object: &'static str,
    mib: &'static str,
    index_len: usize,
    kind: Option<SensorKind>,
    unit: Unit,
    divisor: f64,
    sentinel: Sentinel,
    sensor: &'static str,
) -> Rule {
    Rule {
        oid,
        object,
        mib,
        index_len,
        kind,
        unit,
        divisor,
        sentinel,
        sensor,
        temp_scale: false,
    }
}

/// An object recognized but without a canonical kind (quarantined as unmapped, with its name).
const fn no_kind(
    oid: &'static str,
    object: &'static str,
    mib: &'static str,
    index_len: usize,
    sensor: &'static str,
) -> Rule {
    rule(
        oid,
        object,
        mib,
        index_len,
        None,
        Unit::Ratio,
        1.0,
        Sentinel::None,
        sensor,
    )
}

use SensorKind as K;
use Sentinel::{Below, Negative};

/// The OID table (see the module documentation). Sources: `Sentry4-MIB` revision 2017-06-15
/// (Server Technology), RFC 1628 `UPS-MIB`.
#[rustfmt::skip]
const TABLE: &[Rule] = &[
    // Sentry4-MIB st4InputCordMonitorTable (1718.4.1.3.3.1), INDEX { unit, cord }
    rule("1.3.6.1.4.1.1718.4.1.3.3.1.3", "st4InputCordActivePower", ST4, 2, Some(K::Power), Unit::Watt, 1.0, Negative, "cord.{L0}{L1}.power"),
    no_kind("1.3.6.1.4.1.1718.4.1.3.3.1.5", "st4InputCordApparentPower (volt-amperes)", ST4, 2, "cord.{L0}{L1}.apparent_power"),
    rule("1.3.6.1.4.1.1718.4.1.3.3.1.7", "st4InputCordPowerUtilized", ST4, 2, Some(K::Utilization), Unit::Percent, 10.0, Negative, "cord.{L0}{L1}.power_utilized"),
    no_kind("1.3.6.1.4.1.1718.4.1.3.3.1.8", "st4InputCordPowerFactor", ST4, 2, "cord.{L0}{L1}.power_factor"),
    rule("1.3.6.1.4.1.1718.4.1.3.3.1.10", "st4InputCordEnergy", ST4, 2, Some(K::Energy), Unit::KilowattHour, 10.0, Negative, "cord.{L0}{L1}.energy"),
    no_kind("1.3.6.1.4.1.1718.4.1.3.3.1.11", "st4InputCordFrequency (hertz)", ST4, 2, "cord.{L0}{L1}.frequency"),
    no_kind("1.3.6.1.4.1.1718.4.1.3.3.1.12", "st4InputCordOutOfBalance", ST4, 2, "cord.{L0}{L1}.out_of_balance"),
    // st4LineMonitorTable (1718.4.1.4.3.1), INDEX { unit, cord, line }
    rule("1.3.6.1.4.1.1718.4.1.4.3.1.3", "st4LineCurrent", ST4, 3, Some(K::Current), Unit::Ampere, 100.0, Negative, "line.{L0}{L1}{N2}.current"),
    rule("1.3.6.1.4.1.1718.4.1.4.3.1.5", "st4LineCurrentUtilized", ST4, 3, Some(K::Utilization), Unit::Percent, 10.0, Negative, "line.{L0}{L1}{N2}.current_utilized"),
    // st4PhaseMonitorTable (1718.4.1.5.3.1), INDEX { unit, cord, phase }
    rule("1.3.6.1.4.1.1718.4.1.5.3.1.3", "st4PhaseVoltage", ST4, 3, Some(K::Voltage), Unit::Volt, 10.0, Negative, "phase.{L0}{L1}{N2}.voltage"),
    no_kind("1.3.6.1.4.1.1718.4.1.5.3.1.5", "st4PhaseVoltageDeviation", ST4, 3, "phase.{L0}{L1}{N2}.voltage_deviation"),
    rule("1.3.6.1.4.1.1718.4.1.5.3.1.6", "st4PhaseCurrent", ST4, 3, Some(K::Current), Unit::Ampere, 100.0, Negative, "phase.{L0}{L1}{N2}.current"),
    no_kind("1.3.6.1.4.1.1718.4.1.5.3.1.7", "st4PhaseCurrentCrestFactor", ST4, 3, "phase.{L0}{L1}{N2}.crest_factor"),
    rule("1.3.6.1.4.1.1718.4.1.5.3.1.8", "st4PhaseActivePower", ST4, 3, Some(K::Power), Unit::Watt, 1.0, Negative, "phase.{L0}{L1}{N2}.power"),
    no_kind("1.3.6.1.4.1.1718.4.1.5.3.1.9", "st4PhaseApparentPower (volt-amperes)", ST4, 3, "phase.{L0}{L1}{N2}.apparent_power"),
    no_kind("1.3.6.1.4.1.1718.4.1.5.3.1.10", "st4PhasePowerFactor", ST4, 3, "phase.{L0}{L1}{N2}.power_factor"),
    rule("1.3.6.1.4.1.1718.4.1.5.3.1.13", "st4PhaseEnergy", ST4, 3, Some(K::Energy), Unit::KilowattHour, 10.0, Negative, "phase.{L0}{L1}{N2}.energy"),
    // st4BranchMonitorTable (1718.4.1.7.3.1), INDEX { unit, cord, branch }
    rule("1.3.6.1.4.1.1718.4.1.7.3.1.3", "st4BranchCurrent", ST4, 3, Some(K::Current), Unit::Ampere, 100.0, Negative, "branch.{L0}{L1}{N2}.current"),
    rule("1.3.6.1.4.1.1718.4.1.7.3.1.5", "st4BranchCurrentUtilized", ST4, 3, Some(K::Utilization), Unit::Percent, 10.0, Negative, "branch.{L0}{L1}{N2}.current_utilized"),
    // st4OutletMonitorTable (1718.4.1.8.3.1), INDEX { unit, cord, outlet }
    rule("1.3.6.1.4.1.1718.4.1.8.3.1.3", "st4OutletCurrent", ST4, 3, Some(K::Current), Unit::Ampere, 100.0, Negative, "outlet.{L0}{L1}{N2}.current"),
    rule("1.3.6.1.4.1.1718.4.1.8.3.1.5", "st4OutletCurrentUtilized", ST4, 3, Some(K::Utilization), Unit::Percent, 10.0, Negative, "outlet.{L0}{L1}{N2}.current_utilized"),
    rule("1.3.6.1.4.1.1718.4.1.8.3.1.6", "st4OutletVoltage", ST4, 3, Some(K::Voltage), Unit::Volt, 10.0, Negative, "outlet.{L0}{L1}{N2}.voltage"),
    rule("1.3.6.1.4.1.1718.4.1.8.3.1.7", "st4OutletActivePower", ST4, 3, Some(K::Power), Unit::Watt, 1.0, Negative, "outlet.{L0}{L1}{N2}.power"),
    no_kind("1.3.6.1.4.1.1718.4.1.8.3.1.9", "st4OutletApparentPower (volt-amperes)", ST4, 3, "outlet.{L0}{L1}{N2}.apparent_power"),
    no_kind("1.3.6.1.4.1.1718.4.1.8.3.1.10", "st4OutletPowerFactor", ST4, 3, "outlet.{L0}{L1}{N2}.power_factor"),
    no_kind("1.3.6.1.4.1.1718.4.1.8.3.1.12", "st4OutletCurrentCrestFactor", ST4, 3, "outlet.{L0}{L1}{N2}.crest_factor"),
    rule("1.3.6.1.4.1.1718.4.1.8.3.1.14", "st4OutletEnergy", ST4, 3, Some(K::Energy), Unit::WattHour, 1.0, Negative, "outlet.{L0}{L1}{N2}.energy"),
    // st4TempSensorMonitorTable (1718.4.1.9.3.1), INDEX { unit, sensor }; scale: see temp_scale
    Rule {
        temp_scale: true,
        ..rule("1.3.6.1.4.1.1718.4.1.9.3.1.1", "st4TempSensorValue", ST4, 2, Some(K::Temperature), Unit::Celsius, 10.0, Below(-400.0), "temperature.{L0}{N1}")
    },
    // st4HumidSensorMonitorTable (1718.4.1.10.3.1), INDEX { unit, sensor }
    rule("1.3.6.1.4.1.1718.4.1.10.3.1.1", "st4HumidSensorValue", ST4, 2, Some(K::Humidity), Unit::PercentRh, 1.0, Negative, "humidity.{L0}{N1}"),
    // UPS-MIB upsBattery (33.1.2), scalars
    no_kind("1.3.6.1.2.1.33.1.2.4", "upsEstimatedChargeRemaining (percent of battery charge)", UPS, 0, "battery.charge_remaining"),
    rule("1.3.6.1.2.1.33.1.2.5", "upsBatteryVoltage", UPS, 0, Some(K::Voltage), Unit::Volt, 10.0, Negative, "battery.voltage"),
    rule("1.3.6.1.2.1.33.1.2.6", "upsBatteryCurrent", UPS, 0, Some(K::Current), Unit::Ampere, 10.0, Sentinel::None, "battery.current"),
    rule("1.3.6.1.2.1.33.1.2.7", "upsBatteryTemperature", UPS, 0, Some(K::Temperature), Unit::Celsius, 1.0, Sentinel::None, "battery.temperature"),
    // upsInputTable (33.1.3.3.1), INDEX { upsInputLineIndex }
    no_kind("1.3.6.1.2.1.33.1.3.3.1.2", "upsInputFrequency (0.1 hertz)", UPS, 1, "input.{N0}.frequency"),
    rule("1.3.6.1.2.1.33.1.3.3.1.3", "upsInputVoltage", UPS, 1, Some(K::Voltage), Unit::Volt, 1.0, Negative, "input.{N0}.voltage"),
    rule("1.3.6.1.2.1.33.1.3.3.1.4", "upsInputCurrent", UPS, 1, Some(K::Current), Unit::Ampere, 10.0, Negative, "input.{N0}.current"),
    rule("1.3.6.1.2.1.33.1.3.3.1.5", "upsInputTruePower", UPS, 1, Some(K::Power), Unit::Watt, 1.0, Negative, "input.{N0}.power"),
    // upsOutput (33.1.4): upsOutputFrequency scalar, upsOutputTable (33.1.4.4.1)
    no_kind("1.3.6.1.2.1.33.1.4.2", "upsOutputFrequency (0.1 hertz)", UPS, 0, "output.frequency"),
    rule("1.3.6.1.2.1.33.1.4.4.1.2", "upsOutputVoltage", UPS, 1, Some(K::Voltage), Unit::Volt, 1.0, Negative, "output.{N0}.voltage"),
    rule("1.3.6.1.2.1.33.1.4.4.1.3", "upsOutputCurrent", UPS, 1, Some(K::Current), Unit::Ampere, 10.0, Negative, "output.{N0}.current"),
    rule("1.3.6.1.2.1.33.1.4.4.1.4", "upsOutputPower", UPS, 1, Some(K::Power), Unit::Watt, 1.0, Negative, "output.{N0}.power"),
    rule("1.3.6.1.2.1.33.1.4.4.1.5", "upsOutputPercentLoad", UPS, 1, Some(K::Utilization), Unit::Percent, 1.0, Negative, "output.{N0}.load"),
    // upsBypass (33.1.5): upsBypassFrequency scalar, upsBypassTable (33.1.5.3.1)
    no_kind("1.3.6.1.2.1.33.1.5.1", "upsBypassFrequency (0.1 hertz)", UPS, 0, "bypass.frequency"),
    rule("1.3.6.1.2.1.33.1.5.3.1.2", "upsBypassVoltage", UPS, 1, Some(K::Voltage), Unit::Volt, 1.0, Negative, "bypass.{N0}.voltage"),
    rule("1.3.6.1.2.1.33.1.5.3.1.3", "upsBypassCurrent", UPS, 1, Some(K::Current), Unit::Ampere, 10.0, Negative, "bypass.{N0}.current"),
    rule("1.3.6.1.2.1.33.1.5.3.1.4", "upsBypassPower", UPS, 1, Some(K::Power), Unit::Watt, 1.0, Negative, "bypass.{N0}.power"),
];

/// `st4TempSensorScale.0`: celsius(0), fahrenheit(1).
const ST4_TEMP_SCALE: &str = "1.3.6.1.4.1.1718.4.1.9.1.10";

/// The SNMP type of a value, as far as decoding needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// INTEGER / Integer32.
    Integer,
    /// Gauge32, Counter32, Counter64, Unsigned32, TimeTicks.
    Unsigned,
    /// OCTET STRING (quoted in walks, raw in `.snmprec`).
    Text,
    /// Hex-STRING / `4x`.
    Hex,
    /// Opaque (net-snmp prints `Opaque: Float: 1.5`).
    Opaque,
    /// No type printed (`= ""`, `= 0`) or a type the decoder does not know.
    Untyped,
    /// OID, IpAddress, BITS, NULL: never a number.
    NotNumeric,
    /// `No Such Object`, `No Such Instance`, end of MIB view.
    NoSuch,
}

/// One varbind, possibly joined from several lines.
struct Var {
    line: u64,
    oid: String,
    ty: Ty,
    value: String,
    /// The first line, for the excerpt.
    text: String,
    /// A quoted string or a Hex-STRING that continuation lines may extend.
    open: Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    No,
    Quote,
    Hex,
}

/// A parsed line: a varbind, a rejected record, or nothing.
enum Item {
    Var(Var),
    Bad(Quarantined),
}

const WALK_TYPES: &[(&str, Ty)] = &[
    ("INTEGER", Ty::Integer),
    ("Integer32", Ty::Integer),
    ("Gauge32", Ty::Unsigned),
    ("Counter32", Ty::Unsigned),
    ("Counter64", Ty::Unsigned),
    ("Unsigned32", Ty::Unsigned),
    ("UInteger32", Ty::Unsigned),
    ("Timeticks", Ty::Unsigned),
    ("STRING", Ty::Text),
    ("Hex-STRING", Ty::Hex),
    ("Opaque", Ty::Opaque),
    ("OID", Ty::NotNumeric),
    ("IpAddress", Ty::NotNumeric),
    ("Network Address", Ty::NotNumeric),
    ("BITS", Ty::NotNumeric),
    ("NULL", Ty::NotNumeric),
];

/// `1.3.6…` from `.1.3.6…` or `iso.3.6…`, if it is a dotted OID.
fn normalize_oid(s: &str) -> Option<String> {
    let s = s.strip_prefix('.').unwrap_or(s);
    let rest = match s.strip_prefix("iso") {
        Some(r) => {
            if !(r.is_empty() || r.starts_with('.')) {
                return None;
            }
            format!("1{r}")
        }
        None => s.to_string(),
    };
    let ok = !rest.is_empty()
        && rest
            .split('.')
            .all(|c| !c.is_empty() && c.len() <= 10 && c.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(rest)
}

/// Whether a quoted value is still open (no unescaped closing quote after the opening one).
fn quote_open(v: &str) -> bool {
    let Some(body) = v.strip_prefix('"') else {
        return false;
    };
    let mut escaped = false;
    for c in body.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return false,
            _ => escaped = false,
        }
    }
    true
}

fn is_hex_line(l: &str) -> bool {
    let t = l.trim();
    !t.is_empty()
        && t.split_ascii_whitespace()
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// Parses a net-snmp walk line `OID = [TYPE: ]value`; `None` if it is not one.
fn parse_walk(line: &str, no: u64) -> Option<Var> {
    let t = line.trim_start();
    let (oid_text, rest) = t.split_once(|c: char| c.is_ascii_whitespace())?;
    let rest = rest.trim_start().strip_prefix('=')?;
    let oid = normalize_oid(oid_text)?;
    let right = rest.trim();
    let (ty, value) = if right.starts_with("No Such ") || right.starts_with("No more variables") {
        (Ty::NoSuch, right.to_string())
    } else {
        match WALK_TYPES.iter().find_map(|(name, ty)| {
            right
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| (*ty, v.trim().to_string()))
        }) {
            Some(x) => x,
            None => (Ty::Untyped, right.to_string()),
        }
    };
    let open = match ty {
        Ty::Text | Ty::Untyped if quote_open(&value) => Open::Quote,
        Ty::Hex => Open::Hex,
        _ => Open::No,
    };
    Some(Var {
        line: no,
        oid,
        ty,
        value,
        text: line.to_string(),
        open,
    })
}

/// Parses a `.snmprec` line `OID|tag|value`; `None` if it is not one.
fn parse_snmprec(line: &str, no: u64) -> Option<Var> {
    let (oid_text, rest) = line.split_once('|')?;
    let (tag, value) = rest.split_once('|')?;
    let oid = normalize_oid(oid_text.trim())?;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let suffix = &tag[digits.len()..];
    let ty = match (digits.as_str(), suffix) {
        ("4", s) if s.starts_with('x') => Ty::Hex,
        ("2", _) => Ty::Integer,
        ("65" | "66" | "67" | "70", _) => Ty::Unsigned,
        ("4", _) => Ty::Text,
        ("68", _) => Ty::Opaque,
        ("5" | "6" | "64", _) => Ty::NotNumeric,
        ("128" | "129" | "130", _) => Ty::NoSuch,
        _ => Ty::Untyped,
    };
    Some(Var {
        line: no,
        oid,
        ty,
        value: value.trim_end_matches('\r').to_string(),
        text: line.to_string(),
        open: Open::No,
    })
}

/// The raw number of a value, if it has one.
fn raw_number(ty: Ty, value: &str) -> Option<f64> {
    let v = value.trim();
    let text = match ty {
        Ty::NotNumeric | Ty::Hex | Ty::NoSuch => return None,
        Ty::Text => v.trim_matches('"').trim(),
        Ty::Opaque => v.rsplit(':').next().unwrap_or("").trim(),
        Ty::Integer | Ty::Unsigned | Ty::Untyped => {
            if let Some(inner) = v.strip_prefix('(') {
                // Timeticks: "(123) 0:00:01.23"
                inner.split(')').next().unwrap_or("")
            } else if let (Some(open), true) = (v.find('('), v.ends_with(')')) {
                // enumerations: "on(1)"
                &v[open + 1..v.len() - 1]
            } else {
                // "14900 seconds", "-410 tenth degrees"
                v.split_ascii_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
            }
        }
    };
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !ok {
        return None;
    }
    text.parse::<f64>().ok()
}

fn letter(n: u32) -> String {
    match n {
        1..=26 => char::from(b'A' + (n - 1) as u8).to_string(),
        _ => format!("#{n}"),
    }
}

fn sensor_name(template: &str, index: &[u32]) -> String {
    let mut s = template.to_string();
    for (i, n) in index.iter().enumerate() {
        s = s
            .replace(&format!("{{L{i}}}"), &letter(*n))
            .replace(&format!("{{N{i}}}"), &n.to_string());
    }
    s
}

/// Splits the input into varbinds and rejected lines, handing each to `f` as it is complete
/// (nothing is collected: a walk is read in the memory of one value); stops when `f` returns
/// `false`.
fn scan(input: &str, ctx: &Context<'_>, mut f: impl FnMut(Item) -> bool) {
    let mut current: Option<Var> = None;
    // Emits an item; `false` stops the scan.
    macro_rules! emit {
        ($item:expr) => {
            if !f($item) {
                return;
            }
        };
    }
    let max_line = ctx.limits.max_line_bytes;
    for (i, raw) in input.split('\n').enumerate() {
        let no = i as u64 + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > max_line {
            if let Some(v) = current.take() {
                emit!(Item::Var(v));
            }
            emit!(Item::Bad(Quarantined::new(
                ctx.line(no),
                Reason::LineTooLong,
                format!("{} bytes, over max_line_bytes ({max_line})", line.len()),
                line,
            )));
            continue;
        }
        let parsed = if line.contains('|') && !line.contains(" = ") {
            parse_snmprec(line, no)
        } else {
            parse_walk(line, no)
        };
        if let Some(v) = parsed {
            if let Some(prev) = current.take() {
                emit!(Item::Var(prev));
            }
            current = Some(v);
            continue;
        }
        // A continuation of an open value?
        if let Some(v) = current.as_mut() {
            let fits = v.value.len() + line.len() < max_line;
            match v.open {
                Open::Quote if fits => {
                    v.value.push('\n');
                    v.value.push_str(line);
                    if !quote_open(&v.value) {
                        v.open = Open::No;
                    }
                    continue;
                }
                Open::Hex if fits && is_hex_line(line) => {
                    v.value.push(' ');
                    v.value.push_str(line.trim());
                    continue;
                }
                _ => {}
            }
        }
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t == "End of MIB" {
            if let Some(v) = current.take() {
                emit!(Item::Var(v));
            }
            continue;
        }
        if let Some(v) = current.take() {
            emit!(Item::Var(v));
        }
        emit!(Item::Bad(Quarantined::new(
            ctx.line(no),
            Reason::BadField,
            "not an OID line (`OID = TYPE: value` or `OID|tag|value`)",
            line,
        )));
    }
    if let Some(v) = current.take() {
        f(Item::Var(v));
    }
}

/// Finds the rule for an OID and the index after it.
fn lookup<'t>(
    by_oid: &HashMap<&str, &'t Rule>,
    oid: &str,
) -> Option<(&'t Rule, Result<Vec<u32>, String>)> {
    let comps: Vec<&str> = oid.split('.').collect();
    // a table OID is followed by at most 3 index components (4 to report a wrong index)
    for take in (comps.len().saturating_sub(4).max(1)..=comps.len()).rev() {
        let prefix = comps[..take].join(".");
        if let Some(rule) = by_oid.get(prefix.as_str()) {
            let rest = &comps[take..];
            let index: Result<Vec<u32>, _> = rest.iter().map(|c| c.parse::<u32>()).collect();
            let index = match index {
                Ok(ix) if rule.index_len == 0 && (ix.is_empty() || ix == [0]) => Ok(Vec::new()),
                Ok(ix) if ix.len() == rule.index_len && rule.index_len > 0 => Ok(ix),
                _ => Err(format!(
                    "{} expects {} index component(s), got {:?}",
                    rule.object,
                    rule.index_len,
                    rest.join(".")
                )),
            };
            return Some((rule, index));
        }
    }
    None
}

impl SnmpWalk {
    fn var(
        &self,
        v: &Var,
        by_oid: &HashMap<&str, &Rule>,
        fahrenheit: bool,
        ctx: &Context<'_>,
        out: &mut IngestBatch,
    ) {
        let place = ctx.line(v.line);
        let reject =
            |reason, detail: String| Quarantined::new(place.clone(), reason, detail, &v.text);
        let Some((rule, index)) = lookup(by_oid, &v.oid) else {
            return out.reject(reject(
                Reason::UnmappedSensor,
                format!("OID {} is not in the SNMP table", v.oid),
            ));
        };
        let index = match index {
            Ok(ix) => ix,
            Err(why) => return out.reject(reject(Reason::BadField, why)),
        };
        let Some(kind) = rule.kind else {
            return out.reject(reject(
                Reason::UnmappedSensor,
                format!(
                    "{} ({}) has no canonical sensor kind",
                    rule.object, rule.mib
                ),
            ));
        };
        let sensor = sensor_name(rule.sensor, &index);
        let entity = ctx.fallback_entity();
        let absent = |status: String| {
            Reading::new(
                entity.clone(),
                sensor.clone(),
                kind,
                f64::NAN,
                ctx.timestamp(),
            )
            .with_quality(Quality::Absent)
            .with_status(status)
        };
        if v.ty == Ty::NoSuch {
            return out.accept(absent(v.value.clone()));
        }
        let Some(raw) = raw_number(v.ty, &v.value) else {
            return out.reject(reject(
                Reason::BadValue,
                format!("{} value {:?} is not a number", rule.object, v.value),
            ));
        };
        if !raw.is_finite() {
            return out.reject(reject(Reason::NonFiniteValue, format!("value {raw}")));
        }
        let is_sentinel = match rule.sentinel {
            Sentinel::None => false,
            Sentinel::Negative => raw < 0.0,
            Sentinel::Below(x) => raw < x,
        };
        if is_sentinel {
            return out.accept(absent(v.value.trim().to_string()));
        }
        let unit = if rule.temp_scale && fahrenheit {
            Unit::Fahrenheit
        } else {
            rule.unit
        };
        match unit.convert(raw / rule.divisor, kind) {
            Ok(value) => out.accept(Reading::new(entity, sensor, kind, value, ctx.timestamp())),
            Err(e) => out.reject(reject(Reason::BadUnit, e.reason().to_string())),
        }
    }
}

impl Decode for SnmpWalk {
    fn name(&self) -> &str {
        Format::SnmpWalk.as_str()
    }

    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        if !ctx.admit(input, out) {
            return;
        }
        // The temperature scale may come after the probes it scales: a first pass finds it.
        let mut fahrenheit = false;
        let scaled = input.contains(ST4_TEMP_SCALE)
            || input.contains(&format!("iso{}", &ST4_TEMP_SCALE[1..]));
        scan(input, ctx, |item| {
            if !scaled {
                return false;
            }
            if let Item::Var(v) = &item
                && (v.oid == ST4_TEMP_SCALE || v.oid == format!("{ST4_TEMP_SCALE}.0"))
                && raw_number(v.ty, &v.value) == Some(1.0)
            {
                fahrenheit = true;
                return false;
            }
            true
        });
        let by_oid: HashMap<&str, &Rule> = TABLE.iter().map(|r| (r.oid, r)).collect();
        scan(input, ctx, |item| {
            let fits = out.admit_record(|| match &item {
                Item::Var(v) => (ctx.line(v.line), v.text.clone()),
                Item::Bad(q) => (q.place.clone(), q.excerpt.clone()),
            });
            if !fits {
                return false;
            }
            match item {
                Item::Var(v) => self.var(&v, &by_oid, fahrenheit, ctx, out),
                Item::Bad(q) => out.reject(q),
            }
            true
        });
    }

    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::LIKELY)
    }
}

impl SnmpWalk {
    /// A first non-blank line that is an OID line: `.1.3.6… = …`, `iso.3.6… = …` or
    /// `1.3.6…|tag|value`.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let Some(first) = head.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return false;
        };
        if first.contains('|') && !first.contains(" = ") {
            parse_snmprec(first, 1).is_some_and(|v| v.oid.starts_with("1.3.6.1"))
        } else {
            parse_walk(first, 1).is_some_and(|v| v.oid.starts_with("1.3.6.1"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use crate::Normalizer;

    fn run(text: &str) -> IngestBatch {
        let n = Normalizer::builtin();
        let mut out = IngestBatch::default();
        SnmpWalk.decode(text, &Context::new("pdu.snmprec", &n), &mut out);
        assert_eq!(out.stats.seen, out.stats.accepted + out.stats.quarantined);
        out
    }

    #[test]
    fn every_rule_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for r in TABLE {
            assert!(seen.insert(r.oid), "duplicate {}", r.oid);
            assert!(normalize_oid(r.oid).as_deref() == Some(r.oid), "{}", r.oid);
            assert!(r.divisor > 0.0);
            if let Some(k) = r.kind {
                let ok = r.unit.convert(1.0, k).is_ok();
                assert!(ok, "{} cannot express {k}", r.object);
            }
            // every placeholder is filled by an index of the declared length
            let name = sensor_name(r.sensor, &vec![1; r.index_len]);
            assert!(!name.contains('{'), "{}: {name}", r.object);
        }
        // no rule is a prefix of another (lookup takes the longest match, but keep it simple)
        for a in TABLE {
            for b in TABLE {
                assert!(a.oid == b.oid || !b.oid.starts_with(&format!("{}.", a.oid)));
            }
        }
    }

    #[test]
    fn snmprec_values_are_scaled_and_named() {
        let b = run("1.3.6.1.4.1.1718.4.1.3.3.1.3.1.1|2|1701\n\
             1.3.6.1.4.1.1718.4.1.5.3.1.3.1.1.2|2|2089\n\
             1.3.6.1.4.1.1718.4.1.4.3.1.3.1.1.3|2|560\n\
             1.3.6.1.4.1.1718.4.1.3.3.1.10.2.1|2|8937\n\
             1.3.6.1.4.1.1718.4.1.3.3.1.7.1.1|2|165\n");
        let got: Vec<(&str, f64)> = b
            .readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.value))
            .collect();
        assert_eq!(got[0], ("cord.AA.power", 1701.0));
        assert_eq!(got[1], ("phase.AA2.voltage", 208.9));
        assert_eq!(got[2], ("line.AA3.current", 5.6));
        assert_eq!(got[3].0, "cord.BA.energy");
        assert!((got[3].1 - 893.7 * 3.6e6).abs() < 1e-3);
        assert_eq!(got[4], ("cord.AA.power_utilized", 0.165));
        assert_eq!(b.readings[0].entity.as_str(), "pdu");
    }

    #[test]
    fn sentinels_are_absent_not_numbers() {
        let b = run("1.3.6.1.4.1.1718.4.1.9.3.1.1.1.1|2|-410\n\
             1.3.6.1.4.1.1718.4.1.9.3.1.1.1.2|2|-15\n\
             1.3.6.1.4.1.1718.4.1.10.3.1.1.1.1|2|-1\n\
             1.3.6.1.4.1.1718.4.1.3.3.1.3.1.1|2|-1\n\
             .1.3.6.1.2.1.33.1.2.6.0 = INTEGER: -12\n\
             .1.3.6.1.2.1.33.1.4.4.1.2.1 = INTEGER: -1\n\
             .1.3.6.1.2.1.33.1.4.4.1.4.1 = No Such Instance currently exists at this OID\n");
        let q: Vec<Quality> = b.readings.iter().map(|r| r.quality).collect();
        use Quality::{Absent, Good};
        assert_eq!(q, [Absent, Good, Absent, Absent, Good, Absent, Absent]);
        assert!(b.readings[0].value.is_nan());
        assert_eq!(b.readings[0].status.as_deref(), Some("-410"));
        assert_eq!(b.readings[1].value, -1.5); // -1.5 °C is a temperature, not a sentinel
        assert_eq!(b.readings[4].value, -1.2); // battery current is signed
    }

    #[test]
    fn fahrenheit_scale_is_honoured() {
        let b = run(
            ".1.3.6.1.4.1.1718.4.1.9.3.1.1.1.1 = INTEGER: 770 tenth degrees\n\
                     .1.3.6.1.4.1.1718.4.1.9.1.10.0 = INTEGER: fahrenheit(1)\n",
        );
        assert!((b.readings[0].value - 25.0).abs() < 1e-9);
        assert_eq!(b.stats.by_reason.get(&Reason::UnmappedSensor), Some(&1));
    }

    #[test]
    fn walk_syntax_variants() {
        let b = run("iso.3.6.1.2.1.33.1.2.7.0 = INTEGER: 24\n\
                     .1.3.6.1.2.1.33.1.2.7 = Gauge32: 25\n\
                     .1.3.6.1.2.1.1.1.0 = STRING: \"Linux box\n\
                     second line\"\n\
                     .1.3.6.1.2.1.2.2.1.6.2 = Hex-STRING: 00 20 85 F1 56 DE 00 20 85 F1 56 DE 00 20 85 F1\n\
                     56 DE\n\
                     .1.3.6.1.2.1.1.3.0 = Timeticks: (123) 0:00:01.23\n\
                     .1.3.6.1.2.1.33.1.7.4.0 = \"\"\n\
                     .1.3.6.1.2.1.33.1.4.4.1.5.1 = 0\n\
                     .1.3.6.1.2.1.33.1.3.3.1.3.1 = STRING: \"230\"\n\
                     \n\
                     End of MIB\n\
                     garbage here\n");
        assert_eq!(b.stats.seen, 9);
        let vals: Vec<(&str, f64)> = b
            .readings
            .iter()
            .map(|r| (r.sensor.as_str(), r.value))
            .collect();
        assert_eq!(
            vals,
            [
                ("battery.temperature", 24.0),
                ("battery.temperature", 25.0),
                ("output.1.load", 0.0),
                ("input.1.voltage", 230.0)
            ]
        );
        let bad = b.quarantine.last().unwrap();
        assert_eq!(bad.reason, Reason::BadField);
        assert_eq!(bad.place.to_string(), "pdu.snmprec:13");
    }

    #[test]
    fn malformed_values_and_indexes() {
        let b = run(".1.3.6.1.2.1.33.1.2.7.0 = STRING: \"warm\"\n\
                     .1.3.6.1.2.1.33.1.2.7.1.2 = INTEGER: 3\n\
                     .1.3.6.1.2.1.33.1.2.4.0 = INTEGER: 100\n\
                     1.3.6.1.4.1.1718.4.1.3.3.1.3.1|2|5\n\
                     .1.3.6.1.2.1.33.1.3.3.1.3.1 = OID: .1.3\n");
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::BadValue,
                Reason::BadField,
                Reason::UnmappedSensor,
                Reason::BadField,
                Reason::BadValue
            ]
        );
        assert!(
            b.quarantine[2]
                .detail
                .contains("upsEstimatedChargeRemaining")
        );
    }

    #[test]
    fn limits_are_respected() {
        let n = Normalizer::builtin();
        let text = ".1.3.6.1.2.1.33.1.2.7.0 = INTEGER: 24\n".repeat(10);
        let limits = Limits {
            max_records: 4,
            ..Limits::default()
        };
        let ctx = Context::new("w", &n).with_limits(limits);
        let mut out = IngestBatch::bounded(&ctx);
        SnmpWalk.decode(&text, &ctx, &mut out);
        assert_eq!((out.stats.accepted, out.stats.quarantined), (4, 1));
        assert_eq!(out.quarantine[0].reason, Reason::TooManyRecords);

        let limits = Limits {
            max_input_bytes: 10,
            ..Limits::default()
        };
        let mut out = IngestBatch::default();
        SnmpWalk.decode(&text, &Context::new("w", &n).with_limits(limits), &mut out);
        assert_eq!(out.stats.seen, 1);
        assert_eq!(out.quarantine[0].reason, Reason::InputTooLarge);

        let limits = Limits {
            max_line_bytes: 50,
            ..Limits::default()
        };
        let long = format!(
            ".1.3.6.1.2.1.1.1.0 = STRING: \"{}\"\n.1.3.6.1.2.1.33.1.2.7.0 = INTEGER: 24\n",
            "x".repeat(100)
        );
        let mut out = IngestBatch::default();
        SnmpWalk.decode(&long, &Context::new("w", &n).with_limits(limits), &mut out);
        assert_eq!(out.quarantine[0].reason, Reason::LineTooLong);
        assert_eq!(out.readings.len(), 1);
    }

    #[test]
    fn sniffing() {
        assert!(SnmpWalk.sniff("\n.1.3.6.1.2.1.1.1.0 = STRING: \"x\"\n"));
        assert!(SnmpWalk.sniff("1.3.6.1.2.1.1.1.0|4|Sentry Smart PDU\n"));
        assert!(SnmpWalk.sniff("iso.3.6.1.2.1.1.1.0 = STRING: \"x\""));
        assert!(!SnmpWalk.sniff("# HELP x\nx 1\n"));
        assert!(!SnmpWalk.sniff("a|b|c"));
        assert!(!SnmpWalk.sniff("ts_ns,entity,sensor"));
        assert!(!SnmpWalk.sniff(""));
    }
}
