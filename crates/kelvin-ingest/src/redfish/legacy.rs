//! Legacy `Thermal` and `Power` resources: one record per array member value.

use kelvin_model::{SensorKind, Unit};
use serde_json::{Map, Value};

use super::emitter::{Emitter, Origin, Res, Status, Val, json_kind, str_of};
use super::naming::{by_context, canonical, join};
use super::units::{Measure, Scale, Unmapped, unit_text};
use crate::{Context, Reason};
use std::borrow::Cow;
use std::collections::HashMap;

impl Emitter<'_, '_> {
    /// Names for the members of a legacy array: the table's canonical name, else the
    /// `PhysicalContext` name (temperatures at the intake are the inlet), else the vendor's
    /// name, else `MemberId`, else `{array}/{index}`. Names that repeat in the array get
    /// `#MemberId` (or `#index`) appended, on every member that has them.
    fn member_names(
        &self,
        arr: &[Value],
        array: &str,
        name_keys: &[&str],
        kind: SensorKind,
    ) -> Vec<(String, String)> {
        let n = self.ctx.normalizer;
        let mut names: Vec<(String, String)> = arr
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let member_id = m
                    .get("MemberId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map_or_else(|| i.to_string(), |s| s.trim().to_string());
                let vendor = name_keys
                    .iter()
                    .find_map(|k| m.get(*k).and_then(Value::as_str))
                    .map(str::trim)
                    .filter(|s| !s.is_empty());
                let pc = m.get("PhysicalContext").and_then(Value::as_str);
                let name = vendor
                    .and_then(|v| canonical(n, v, kind))
                    .or_else(|| by_context(kind, pc))
                    .or_else(|| vendor.map(str::to_string))
                    .or_else(|| {
                        m.get("MemberId")
                            .and_then(Value::as_str)
                            .map(|s| s.trim().to_string())
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("{array}/{i}"));
                (name, member_id)
            })
            .collect();
        let mut count: HashMap<String, usize> = HashMap::new();
        for (name, _) in &names {
            *count.entry(name.clone()).or_default() += 1;
        }
        for (name, id) in &mut names {
            if count[name.as_str()] > 1 {
                *name = format!("{name}#{id}");
            }
        }
        names
    }

    /// One record per member of a legacy array, built by `value` from the member's index,
    /// object, name and disambiguator.
    fn members<'v>(
        &mut self,
        res: &Res<'_>,
        map: &'v Map<String, Value>,
        array: &str,
        name_keys: &[&str],
        name_kind: SensorKind,
        mut value: impl FnMut(&Self, Member<'v>) -> Vec<Val<'v>>,
    ) {
        let Some(arr) = self.array(res, map, array) else {
            return;
        };
        let names = self.member_names(arr, array, name_keys, name_kind);
        for (i, (m, (name, alt))) in arr.iter().zip(names).enumerate() {
            if self.full {
                return;
            }
            match m.as_object() {
                Some(obj) => {
                    let member = Member {
                        i,
                        obj,
                        value: m,
                        name,
                        alt,
                    };
                    for v in value(self, member) {
                        self.emit(res, v);
                    }
                }
                None => self.bad_field(
                    res,
                    format!("/{array}/{i}"),
                    format!("a {array} member is {}, not an object", json_kind(m)),
                    m,
                ),
            }
        }
    }

    /// A value of a legacy array member.
    fn legacy<'v>(
        &self,
        m: &Member<'v>,
        pointer: String,
        name: String,
        measure: Result<Measure, Unmapped>,
        key: &str,
    ) -> Val<'v> {
        Val {
            pointer,
            name,
            alt: m.alt.clone(),
            measure,
            raw: m.obj.get(key),
            text: false,
            status: Status::of(m.obj),
            ts: Ok(self.ctx.timestamp()),
            origin: Origin::Legacy,
            data_source: None,
            entity: None,
            context: Cow::Borrowed(m.value),
        }
    }

    /// Legacy `Thermal`: `Temperatures[].ReadingCelsius` and `Fans[]` (`Reading` with
    /// `ReadingUnits` `RPM`/`Percent`; older `ReadingRPM`; iLO 4's `CurrentReading`/`Units`).
    pub(super) fn thermal(&mut self, res: &Res<'_>, map: &Map<String, Value>) {
        let celsius = Measure::new(SensorKind::Temperature, Unit::Celsius);
        self.members(
            res,
            map,
            "Temperatures",
            &["Name"],
            SensorKind::Temperature,
            |s, m| {
                let pointer = format!("/Temperatures/{}/ReadingCelsius", m.i);
                vec![s.legacy(&m, pointer, m.name.clone(), Ok(celsius), "ReadingCelsius")]
            },
        );
        self.members(
            res,
            map,
            "Fans",
            &["Name", "FanName"],
            SensorKind::FanSpeed,
            |s, m| {
                let (key, units) = if m.obj.contains_key("Reading") {
                    ("Reading", str_of(m.obj, "ReadingUnits"))
                } else if m.obj.contains_key("ReadingRPM") {
                    ("ReadingRPM", Some("RPM"))
                } else if m.obj.contains_key("CurrentReading") {
                    ("CurrentReading", str_of(m.obj, "Units"))
                } else {
                    ("Reading", str_of(m.obj, "ReadingUnits"))
                };
                let pointer = format!("/Fans/{}/{key}", m.i);
                vec![s.legacy(&m, pointer, m.name.clone(), fan_measure(s.ctx, units), key)]
            },
        );
    }

    /// Legacy `Power`: `PowerControl[]` (`PowerConsumedWatts`, `PowerMetrics` average,
    /// minimum and maximum), `PowerSupplies[]` (`PowerInputWatts`, `LastPowerOutputWatts`,
    /// `PowerOutputWatts`, `LineInputVoltage`) and `Voltages[].ReadingVolts`.
    pub(super) fn power(&mut self, res: &Res<'_>, map: &Map<String, Value>) {
        let n = self.ctx.normalizer;
        let watts = Measure::new(SensorKind::Power, Unit::Watt);
        let volts = Measure::new(SensorKind::Voltage, Unit::Volt);
        let single = map
            .get("PowerControl")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() == 1);
        self.members(
            res,
            map,
            "PowerControl",
            &["Name"],
            SensorKind::Power,
            |s, m| {
                // A lone PowerControl is the whole system's input power.
                let mapped = str_of(m.obj, "Name").and_then(|v| canonical(n, v, SensorKind::Power));
                let name = match mapped {
                    Some(c) => c,
                    None if single => canonical(n, "PowerConsumedWatts", SensorKind::Power)
                        .unwrap_or_else(|| m.name.clone()),
                    None => m.name.clone(),
                };
                let mut out = Vec::new();
                if m.obj.contains_key("PowerConsumedWatts") {
                    let pointer = format!("/PowerControl/{}/PowerConsumedWatts", m.i);
                    out.push(s.legacy(&m, pointer, name.clone(), Ok(watts), "PowerConsumedWatts"));
                }
                if let Some(pm) = m.obj.get("PowerMetrics").and_then(Value::as_object) {
                    for key in [
                        "AverageConsumedWatts",
                        "MinConsumedWatts",
                        "MaxConsumedWatts",
                    ] {
                        if pm.contains_key(key) {
                            let pointer = format!("/PowerControl/{}/PowerMetrics/{key}", m.i);
                            let mut v = s.legacy(&m, pointer, join(&name, key), Ok(watts), key);
                            v.raw = pm.get(key);
                            out.push(v);
                        }
                    }
                }
                out
            },
        );
        self.members(
            res,
            map,
            "PowerSupplies",
            &["Name"],
            SensorKind::Power,
            |s, m| {
                let mut out = Vec::new();
                for (key, measure) in [
                    ("PowerInputWatts", watts),
                    ("LastPowerOutputWatts", watts),
                    ("PowerOutputWatts", watts),
                    ("LineInputVoltage", volts),
                ] {
                    if m.obj.contains_key(key) {
                        let pointer = format!("/PowerSupplies/{}/{key}", m.i);
                        out.push(s.legacy(&m, pointer, join(&m.name, key), Ok(measure), key));
                    }
                }
                out
            },
        );
        self.members(
            res,
            map,
            "Voltages",
            &["Name"],
            SensorKind::Voltage,
            |s, m| {
                let pointer = format!("/Voltages/{}/ReadingVolts", m.i);
                vec![s.legacy(&m, pointer, m.name.clone(), Ok(volts), "ReadingVolts")]
            },
        );
    }
}

/// A member of a legacy array, as given to the value builders.
struct Member<'v> {
    i: usize,
    obj: &'v Map<String, Value>,
    value: &'v Value,
    name: String,
    alt: String,
}

fn fan_measure(ctx: &Context<'_>, units: Option<&str>) -> Result<Measure, Unmapped> {
    match units.map(str::trim) {
        None | Some("RPM") => Ok(Measure::new(SensorKind::FanSpeed, Unit::Rpm)),
        Some("Percent") => Ok(Measure::new(SensorKind::FanDuty, Unit::Percent)),
        Some(u) => match unit_text(ctx.normalizer, u) {
            Some(Scale::Unit(Unit::Rpm)) => Ok(Measure::new(SensorKind::FanSpeed, Unit::Rpm)),
            Some(Scale::Unit(Unit::Percent)) => {
                Ok(Measure::new(SensorKind::FanDuty, Unit::Percent))
            }
            _ => Err((Reason::UnmappedSensor, format!("fan ReadingUnits {u:?}"))),
        },
    }
}
