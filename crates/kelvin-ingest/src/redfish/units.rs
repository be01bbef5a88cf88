//! What a Redfish value measures and in which unit: from a `Sensor`'s `ReadingType` and
//! `ReadingUnits`, from the unit suffix of an excerpt's property name (`PowerWatts`,
//! `EnergykWh`, `FlowLitersPerMinute` …), and from the naming heuristic for `MetricReport`
//! values.

use kelvin_model::{SensorKind, Unit};

use crate::{Normalizer, Reason};

/// How a value converts into its kind's canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scale {
    /// A unit the model knows.
    Unit(Unit),
    /// A unit the model does not know (litres per minute, m³/min, mmHg): canonical = value × factor.
    Factor(f64),
}

/// A canonical kind and the conversion of the source's unit into it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measure {
    pub(crate) kind: SensorKind,
    pub(crate) scale: Scale,
}

/// Why a value has no canonical kind or unit: the counted reason and a detail.
pub(crate) type Unmapped = (Reason, String);

/// Litres per minute to m³/s.
const LPM: f64 = 1.0 / 60_000.0;
/// Litres per second to m³/s.
const LPS: f64 = 1.0 / 1_000.0;
/// m³/min to m³/s.
const CMM: f64 = 1.0 / 60.0;
/// One millimetre of mercury in pascals (conventional value).
const MM_HG: f64 = 133.322_387_415;

impl Measure {
    pub(crate) const fn new(kind: SensorKind, unit: Unit) -> Self {
        Measure {
            kind,
            scale: Scale::Unit(unit),
        }
    }

    const fn factor(kind: SensorKind, factor: f64) -> Self {
        Measure {
            kind,
            scale: Scale::Factor(factor),
        }
    }

    /// `value` in the canonical unit of the kind.
    pub(crate) fn to_canonical(self, value: f64) -> Result<f64, Unmapped> {
        match self.scale {
            Scale::Unit(u) => u
                .convert(value, self.kind)
                .map_err(|e| (Reason::BadUnit, e.reason().to_string())),
            Scale::Factor(f) => Ok(value * f),
        }
    }
}

fn unmapped(detail: impl Into<String>) -> Unmapped {
    (Reason::UnmappedSensor, detail.into())
}

/// A unit text: the normalizer's table and the model's symbols, plus the UCUM spellings of the
/// Redfish schemas that the model has no unit for.
pub(crate) fn unit_text(n: &Normalizer, text: &str) -> Option<Scale> {
    let t = text.trim();
    match t {
        "{rev}/min" | "rev/min" => return Some(Scale::Unit(Unit::Rpm)),
        "L/min" | "l/min" | "LPM" => return Some(Scale::Factor(LPM)),
        "L/s" | "l/s" => return Some(Scale::Factor(LPS)),
        "m3/min" | "m3/min." => return Some(Scale::Factor(CMM)),
        "mm[Hg]" | "mmHg" => return Some(Scale::Factor(MM_HG)),
        _ => {}
    }
    n.unit(t).map(Scale::Unit)
}

/// A percentage's kind from the words around it (`Name`, `Id`, `PhysicalContext`, property
/// name): fan or pump → fan duty, humidity → humidity, utilization words → utilization; a
/// percentage of anything else (charge, health, efficiency) has no canonical kind.
pub(crate) fn percent_kind(hint: &str) -> Option<Measure> {
    let h = hint.to_ascii_lowercase();
    if h.contains("fan") || h.contains("pump") {
        Some(Measure::new(SensorKind::FanDuty, Unit::Percent))
    } else if h.contains("humid") {
        Some(Measure::new(SensorKind::Humidity, Unit::PercentRh))
    } else if ["util", "usage", "load", "busy"]
        .iter()
        .any(|w| h.contains(w))
    {
        Some(Measure::new(SensorKind::Utilization, Unit::Percent))
    } else {
        None
    }
}

/// The measure of a `Sensor` resource.
///
/// `ReadingType` decides the kind. Types whose name carries the unit (`EnergykWh`,
/// `PressurekPa`, `LiquidFlowLPM`, `AirFlowCMM` …) fix the unit and override a contradicting
/// `ReadingUnits` (the DMTF PDU mockup labels `EnergykWh` sensors `kW`); for the others the
/// `ReadingUnits` text is converted when it has the kind's dimension, and a contradicting unit
/// is a [`Reason::BadUnit`]. Without a `ReadingType` the unit decides, as for any vendor unit
/// ([`Normalizer::classify`]), with `hint` (name, id, physical context) disambiguating
/// percentages.
pub(crate) fn sensor_measure(
    n: &Normalizer,
    reading_type: Option<&str>,
    units: Option<&str>,
    hint: &str,
) -> Result<Measure, Unmapped> {
    use SensorKind as K;
    let by_type: Option<(K, Scale, bool)> = match reading_type {
        None => None,
        Some(rt) => Some(match rt {
            "Temperature" => (K::Temperature, Scale::Unit(Unit::Celsius), false),
            "Humidity" => (K::Humidity, Scale::Unit(Unit::PercentRh), false),
            "Power" => (K::Power, Scale::Unit(Unit::Watt), false),
            "EnergykWh" => (K::Energy, Scale::Unit(Unit::KilowattHour), true),
            "EnergyWh" => (K::Energy, Scale::Unit(Unit::WattHour), true),
            "EnergyJoules" => (K::Energy, Scale::Unit(Unit::Joule), true),
            "Voltage" => (K::Voltage, Scale::Unit(Unit::Volt), false),
            "Current" => (K::Current, Scale::Unit(Unit::Ampere), false),
            "Rotational" => (K::FanSpeed, Scale::Unit(Unit::Rpm), false),
            "AirFlow" => (K::Airflow, Scale::Unit(Unit::Cfm), true),
            "AirFlowCMM" => (K::Airflow, Scale::Factor(CMM), true),
            "LiquidFlow" => (K::Airflow, Scale::Factor(LPS), true),
            "LiquidFlowLPM" => (K::Airflow, Scale::Factor(LPM), true),
            "Pressure" | "PressurePa" => (K::Pressure, Scale::Unit(Unit::Pascal), rt != "Pressure"),
            "PressurekPa" => (K::Pressure, Scale::Unit(Unit::Kilopascal), true),
            "Barometric" => (K::Pressure, Scale::Factor(MM_HG), true),
            "Percent" => {
                return percent_kind(hint).ok_or_else(|| {
                    unmapped(format!(
                        "a percentage that is not a fan, pump, humidity or utilization ({hint})"
                    ))
                });
            }
            "Frequency" => (K::Frequency, Scale::Unit(Unit::Hertz), true),
            "Heat" | "ChargeState" | "Altitude" | "LiquidLevel" | "AbsoluteHumidity"
            | "ApparentPower" | "ReactivePower" | "PowerFactor" | "ApparentkVAh"
            | "ReactivekVARh" | "kVAh" | "Capacity" => {
                return Err(unmapped(format!("ReadingType {rt} has no canonical kind")));
            }
            // An unknown type: let the unit decide.
            _ => return by_unit(n, units, hint, Some(rt)),
        }),
    };
    let Some((kind, default, fixed)) = by_type else {
        return by_unit(n, units, hint, None);
    };
    let given = units.map(str::trim).filter(|u| !u.is_empty());
    let scale = match given {
        _ if fixed => default,
        None => default,
        Some(u) => match unit_text(n, u) {
            // Redfish spells relative humidity "%".
            Some(Scale::Unit(Unit::Percent)) if kind == K::Humidity => Scale::Unit(Unit::PercentRh),
            Some(Scale::Unit(unit)) if unit.dimension() == kind.dimension() => Scale::Unit(unit),
            Some(Scale::Unit(unit)) => {
                return Err((
                    Reason::BadUnit,
                    format!("ReadingUnits {u:?} ({unit}) cannot express {kind}"),
                ));
            }
            Some(Scale::Factor(_)) | None => {
                return Err((
                    Reason::BadUnit,
                    format!("ReadingUnits {u:?} is not a unit of {kind}"),
                ));
            }
        },
    };
    Ok(Measure { kind, scale })
}

fn by_unit(
    n: &Normalizer,
    units: Option<&str>,
    hint: &str,
    reading_type: Option<&str>,
) -> Result<Measure, Unmapped> {
    let Some(u) = units.map(str::trim).filter(|u| !u.is_empty()) else {
        return Err(unmapped(match reading_type {
            Some(rt) => format!("unknown ReadingType {rt} and no ReadingUnits"),
            None => "no ReadingType and no ReadingUnits".to_string(),
        }));
    };
    match unit_text(n, u) {
        Some(Scale::Unit(unit @ (Unit::Percent | Unit::Ratio))) => {
            let m = percent_kind(hint)
                .ok_or_else(|| unmapped(format!("a percentage of unknown meaning ({hint})")))?;
            Ok(if m.kind == SensorKind::Humidity {
                m
            } else {
                Measure::new(m.kind, unit)
            })
        }
        Some(Scale::Unit(unit)) => match n.classify(unit, Some(hint)) {
            Some(kind) => Ok(Measure::new(kind, unit)),
            None => Err(unmapped(format!("unit {u} has no canonical kind"))),
        },
        Some(Scale::Factor(f)) => {
            // Only flow and pressure spellings map to factors.
            let kind = if f == MM_HG {
                SensorKind::Pressure
            } else {
                SensorKind::Airflow
            };
            Ok(Measure::factor(kind, f))
        }
        None => Err(unmapped(format!("unknown unit {u:?}"))),
    }
}

/// What an excerpt measures, from the unit suffix of its property name — the Redfish naming
/// convention (`TemperatureCelsius`, `PowerWatts`, `EnergykWh`, `CurrentAmps`, `Voltage`,
/// `FrequencyHz`, `DeltaPressurekPa`, `FlowLitersPerMinute`, `HumidityPercent`,
/// `SpeedPercent` …). `None`: the name has no unit (look at the enclosing property);
/// `Some(Err)`: a unit without a canonical kind (heat, stored energy, other percentages).
pub(crate) fn property_measure(name: &str) -> Option<Result<Measure, Unmapped>> {
    use SensorKind as K;
    let ends = |s: &str| name.ends_with(s);
    Some(Ok(if ends("Celsius") {
        Measure::new(K::Temperature, Unit::Celsius)
    } else if ends("kWh") {
        Measure::new(K::Energy, Unit::KilowattHour)
    } else if ends("WattHours") {
        if name.contains("Stored") {
            return Some(Err(unmapped(format!(
                "{name}: stored energy is a level, not a consumption counter"
            ))));
        }
        Measure::new(K::Energy, Unit::WattHour)
    } else if ends("kW") {
        if name.contains("Heat") {
            return Some(Err(unmapped(format!(
                "{name}: heat flow is not electrical power"
            ))));
        }
        Measure::new(K::Power, Unit::Kilowatt)
    } else if ends("Watts") || ends("Watt") {
        Measure::new(K::Power, Unit::Watt)
    } else if ends("Amps") {
        Measure::new(K::Current, Unit::Ampere)
    } else if ends("Voltage") || ends("Voltages") || ends("Volts") {
        Measure::new(K::Voltage, Unit::Volt)
    } else if ends("Hz") {
        Measure::new(K::Frequency, Unit::Hertz)
    } else if ends("kPa") {
        Measure::new(K::Pressure, Unit::Kilopascal)
    } else if ends("Pa") {
        Measure::new(K::Pressure, Unit::Pascal)
    } else if ends("LitersPerMinute") {
        Measure::factor(K::Airflow, LPM)
    } else if ends("CubicFeetPerMinute") || ends("CFM") {
        Measure::new(K::Airflow, Unit::Cfm)
    } else if ends("RPM") {
        Measure::new(K::FanSpeed, Unit::Rpm)
    } else if ends("Percent") {
        if name.contains("Humidity") {
            Measure::new(K::Humidity, Unit::PercentRh)
        } else if ends("SpeedPercent") || ends("SpeedsPercent") {
            Measure::new(K::FanDuty, Unit::Percent)
        } else {
            return Some(Err(unmapped(format!(
                "{name}: a percentage without a canonical kind"
            ))));
        }
    } else {
        return None;
    }))
}

/// The measure of a `Control`'s `Sensor` excerpt, from the control's `ControlType`.
pub(crate) fn control_measure(control_type: Option<&str>, hint: &str) -> Result<Measure, Unmapped> {
    use SensorKind as K;
    Ok(match control_type {
        Some("Temperature") => Measure::new(K::Temperature, Unit::Celsius),
        Some("Power") => Measure::new(K::Power, Unit::Watt),
        Some("Percent" | "Duty") => {
            return percent_kind(hint).ok_or_else(|| {
                unmapped(format!("a control percentage of unknown meaning ({hint})"))
            });
        }
        Some("Pressure") => Measure::new(K::Pressure, Unit::Pascal),
        Some(other) => {
            return Err(unmapped(format!(
                "ControlType {other} has no canonical kind"
            )));
        }
        None => return Err(unmapped("a Control without ControlType")),
    })
}

/// The measure of a telemetry `MetricReport` value, guessed from its names.
///
/// `words` is the `MetricId`, the last property name of `MetricProperty` and the last segment
/// of its resource path. Rules, first match wins, case-insensitively:
///
/// 1. `factor`, `freq`, `hz` → no canonical kind (power factor, frequency);
/// 2. `temp`, `celsius` → temperature, °C;
/// 3. `joule` → energy, J; `kwh`, `energy` → energy, kWh (the Redfish energy unit);
/// 4. `watt`, `power` → power, W;
/// 5. `volt` → voltage, V;
/// 6. `amps`, `current` → current, A;
/// 7. `humid` → relative humidity, %;
/// 8. `fan` or `pump` with `percent`/`duty` → fan duty, %; `rpm` or `fan` → fan speed, RPM;
///
/// anything else → [`Reason::UnmappedSensor`].
pub(crate) fn metric_measure(words: &str) -> Result<Measure, Unmapped> {
    use SensorKind as K;
    let w = words.to_ascii_lowercase();
    let has = |s: &str| w.contains(s);
    Ok(if has("factor") || has("freq") || has("hz") {
        return Err(unmapped(format!("{words}: no canonical kind")));
    } else if has("temp") || has("celsius") {
        Measure::new(K::Temperature, Unit::Celsius)
    } else if has("joule") {
        Measure::new(K::Energy, Unit::Joule)
    } else if has("kwh") || has("energy") {
        Measure::new(K::Energy, Unit::KilowattHour)
    } else if has("watt") || has("power") {
        Measure::new(K::Power, Unit::Watt)
    } else if has("volt") {
        Measure::new(K::Voltage, Unit::Volt)
    } else if has("amps") || has("current") {
        Measure::new(K::Current, Unit::Ampere)
    } else if has("humid") {
        Measure::new(K::Humidity, Unit::PercentRh)
    } else if (has("fan") || has("pump")) && (has("percent") || has("duty")) {
        Measure::new(K::FanDuty, Unit::Percent)
    } else if has("rpm") || has("fan") {
        Measure::new(K::FanSpeed, Unit::Rpm)
    } else {
        return Err(unmapped(format!(
            "{words}: no naming rule gives a canonical kind"
        )));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(m: Result<Measure, Unmapped>, v: f64) -> (SensorKind, f64) {
        let m = m.unwrap();
        (m.kind, m.to_canonical(v).unwrap())
    }

    #[test]
    fn reading_types_and_units() {
        let n = Normalizer::builtin();
        let s = |rt: Option<&str>, u: Option<&str>, hint: &str| sensor_measure(&n, rt, u, hint);
        assert_eq!(
            canon(s(Some("Temperature"), Some("Cel"), ""), 41.0),
            (SensorKind::Temperature, 41.0)
        );
        assert_eq!(
            canon(s(Some("Temperature"), Some("C"), ""), 41.0),
            (SensorKind::Temperature, 41.0)
        );
        // Redfish is Celsius, but a Fahrenheit unit would still convert
        let (k, v) = canon(s(Some("Temperature"), Some("[degF]"), ""), 212.0);
        assert_eq!(k, SensorKind::Temperature);
        assert!((v - 100.0).abs() < 1e-9);
        assert_eq!(
            canon(s(Some("EnergykWh"), Some("kW.h"), ""), 2.0),
            (SensorKind::Energy, 7.2e6)
        );
        // the type fixes the unit: the PDU mockup's "kW" on an EnergykWh sensor is kWh
        assert_eq!(
            canon(s(Some("EnergykWh"), Some("kW"), ""), 1.0),
            (SensorKind::Energy, 3.6e6)
        );
        let (k, v) = canon(s(Some("LiquidFlowLPM"), Some("L/min"), ""), 42.0);
        assert_eq!(k, SensorKind::Airflow);
        assert!((v - 0.0007).abs() < 1e-12);
        assert_eq!(
            canon(s(Some("PressurekPa"), Some("kPa"), ""), 138.0),
            (SensorKind::Pressure, 138_000.0)
        );
        assert_eq!(
            canon(s(Some("Humidity"), Some("%"), ""), 26.0),
            (SensorKind::Humidity, 26.0)
        );
        assert_eq!(
            canon(s(Some("Rotational"), Some("{rev}/min"), ""), 2100.0),
            (SensorKind::FanSpeed, 2100.0)
        );
        assert_eq!(
            canon(s(Some("Percent"), Some("%"), "CPU #1 Fan Speed"), 45.0),
            (SensorKind::FanDuty, 45.0)
        );
        assert_eq!(
            canon(s(None, Some("Cel"), "Ambient"), 22.5),
            (SensorKind::Temperature, 22.5)
        );
        assert_eq!(
            canon(s(None, Some("RPM"), "Fan"), 900.0),
            (SensorKind::FanSpeed, 900.0)
        );
        assert_eq!(
            canon(s(Some("Power"), None, ""), 374.0),
            (SensorKind::Power, 374.0)
        );
        assert_eq!(
            canon(
                s(Some("Frequency"), Some("Hz"), "PSU1 Input Frequency"),
                60.1
            ),
            (SensorKind::Frequency, 60.1)
        );
        assert_eq!(
            canon(s(None, Some("Hz"), "Line"), 50.0),
            (SensorKind::Frequency, 50.0)
        );
        for (rt, u) in [
            (Some("Heat"), Some("kW")),
            (Some("Percent"), Some("%")),
            (None, None),
            (Some("Flux"), None),
            (None, Some("%")),
        ] {
            let e = s(rt, u, "Battery state of health").unwrap_err();
            assert_eq!(e.0, Reason::UnmappedSensor, "{rt:?} {u:?}: {}", e.1);
        }
        let e = s(Some("Temperature"), Some("W"), "").unwrap_err();
        assert_eq!(e.0, Reason::BadUnit);
        let e = s(Some("Voltage"), Some("furlongs"), "").unwrap_err();
        assert_eq!(e.0, Reason::BadUnit);
    }

    #[test]
    fn property_names_carry_units() {
        let p = |name: &str, v: f64| canon(property_measure(name).unwrap(), v);
        assert_eq!(
            p("TemperatureCelsius", 31.0),
            (SensorKind::Temperature, 31.0)
        );
        assert_eq!(p("PowerWatts", 197.4), (SensorKind::Power, 197.4));
        assert_eq!(p("ConsumedPowerWatt", 82.0), (SensorKind::Power, 82.0));
        assert_eq!(p("EnergykWh", 1.0), (SensorKind::Energy, 3.6e6));
        assert_eq!(p("InputCurrentAmps", 5.19), (SensorKind::Current, 5.19));
        assert_eq!(p("PolyPhaseVoltage", 117.8), (SensorKind::Voltage, 117.8));
        assert_eq!(p("CellVoltages", 3.44), (SensorKind::Voltage, 3.44));
        assert_eq!(
            p("DeltaPressurekPa", 138.0),
            (SensorKind::Pressure, 138_000.0)
        );
        assert_eq!(p("HumidityPercent", 26.0), (SensorKind::Humidity, 26.0));
        assert_eq!(p("FanSpeedsPercent", 45.0), (SensorKind::FanDuty, 45.0));
        assert_eq!(p("PumpSpeedPercent", 38.5), (SensorKind::FanDuty, 38.5));
        let (k, v) = p("FlowLitersPerMinute", 60.0);
        assert_eq!(k, SensorKind::Airflow);
        assert!((v - 0.001).abs() < 1e-15);
        assert_eq!(p("FrequencyHz", 60.1), (SensorKind::Frequency, 60.1));
        for name in [
            "HeatRemovedkW",
            "StoredEnergyWattHours",
            "ChargePercent",
            "StateOfHealthPercent",
        ] {
            assert!(property_measure(name).unwrap().is_err(), "{name}");
        }
        for name in ["Line1ToNeutral", "Internal", "Sensor", "0"] {
            assert!(property_measure(name).is_none(), "{name}");
        }
    }

    #[test]
    fn metric_naming_heuristic() {
        let k = |w: &str| metric_measure(w).map(|m| m.kind);
        assert_eq!(
            k("AverageReadingCelsius ReadingCelsius Thermal"),
            Ok(SensorKind::Temperature)
        );
        assert_eq!(k("OutletAirflowTemp"), Ok(SensorKind::Temperature));
        assert_eq!(k(" PowerConsumedWatts Power"), Ok(SensorKind::Power));
        assert_eq!(k("AverageConsumedWatts"), Ok(SensorKind::Power));
        assert_eq!(k("TotalEnergy Reading"), Ok(SensorKind::Energy));
        assert_eq!(k("FanSpeed"), Ok(SensorKind::FanSpeed));
        assert_eq!(k("FanSpeedPercent"), Ok(SensorKind::FanDuty));
        assert_eq!(k("PS1InputVoltage Reading"), Ok(SensorKind::Voltage));
        assert_eq!(k("PS1InputCurrent Reading"), Ok(SensorKind::Current));
        assert_eq!(k("HumidityPercent"), Ok(SensorKind::Humidity));
        assert!(k("PowerFactor").is_err());
        assert!(k("PS1Frequency Reading").is_err());
        assert!(k("Memory_BlocksRead").is_err());
        assert!(k("OrientationSensor").is_err());
    }
}
