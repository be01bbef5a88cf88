use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{ErrorKind, ModelError, Place};

/// What a reading measures. Each kind has exactly one canonical [`Unit`] ([`SensorKind::unit`]),
/// and every stored value is in that unit.
///
/// Serialized in snake_case (`fan_speed`), always next to its unit (`rpm`) in [`crate::Reading`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SensorKind {
    /// Temperature, degrees Celsius (`Cel`).
    Temperature,
    /// Electrical power, watts (`W`).
    Power,
    /// Electrical energy, joules (`J`); a counter.
    Energy,
    /// Voltage, volts (`V`).
    Voltage,
    /// Current, amperes (`A`).
    Current,
    /// Fan speed, revolutions per minute (`rpm`).
    FanSpeed,
    /// Fan duty cycle, percent of full speed (`%`).
    FanDuty,
    /// Relative humidity, percent (`%RH`).
    Humidity,
    /// Pressure (e.g. differential pressure across a rack), pascals (`Pa`).
    Pressure,
    /// Volumetric airflow, cubic metres per second (`m3/s`).
    Airflow,
    /// Utilization of a resource as a ratio in `0..=1` (`ratio`).
    Utilization,
    /// CPU time consumed, seconds (`s`); a counter.
    CpuTime,
    /// A clock frequency (a GPU's SM or memory clock, a CPU core's), hertz (`Hz`).
    Frequency,
}

impl SensorKind {
    /// Every kind, in declaration order.
    pub const ALL: [SensorKind; 13] = [
        SensorKind::Temperature,
        SensorKind::Power,
        SensorKind::Energy,
        SensorKind::Voltage,
        SensorKind::Current,
        SensorKind::FanSpeed,
        SensorKind::FanDuty,
        SensorKind::Humidity,
        SensorKind::Pressure,
        SensorKind::Airflow,
        SensorKind::Utilization,
        SensorKind::CpuTime,
        SensorKind::Frequency,
    ];

    /// The one canonical unit of this kind.
    pub const fn unit(self) -> Unit {
        match self {
            SensorKind::Temperature => Unit::Celsius,
            SensorKind::Power => Unit::Watt,
            SensorKind::Energy => Unit::Joule,
            SensorKind::Voltage => Unit::Volt,
            SensorKind::Current => Unit::Ampere,
            SensorKind::FanSpeed => Unit::Rpm,
            SensorKind::FanDuty => Unit::Percent,
            SensorKind::Humidity => Unit::PercentRh,
            SensorKind::Pressure => Unit::Pascal,
            SensorKind::Airflow => Unit::CubicMetrePerSecond,
            SensorKind::Utilization => Unit::Ratio,
            SensorKind::CpuTime => Unit::Second,
            SensorKind::Frequency => Unit::Hertz,
        }
    }

    /// Whether values of this kind are instantaneous (gauge) or monotonically accumulated
    /// (counter, turned into rates by differencing).
    pub const fn semantics(self) -> Semantics {
        match self {
            SensorKind::Energy | SensorKind::CpuTime => Semantics::Counter,
            _ => Semantics::Gauge,
        }
    }

    /// The physical dimension of this kind's unit.
    pub const fn dimension(self) -> Dimension {
        self.unit().dimension()
    }

    /// The snake_case name used in serialized data (`fan_speed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SensorKind::Temperature => "temperature",
            SensorKind::Power => "power",
            SensorKind::Energy => "energy",
            SensorKind::Voltage => "voltage",
            SensorKind::Current => "current",
            SensorKind::FanSpeed => "fan_speed",
            SensorKind::FanDuty => "fan_duty",
            SensorKind::Humidity => "humidity",
            SensorKind::Pressure => "pressure",
            SensorKind::Airflow => "airflow",
            SensorKind::Utilization => "utilization",
            SensorKind::CpuTime => "cpu_time",
            SensorKind::Frequency => "frequency",
        }
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Gauge or counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// An instantaneous value; may go up and down.
    Gauge,
    /// A monotonically increasing total; a decrease means a reset or a wrap-around.
    Counter,
}

/// Physical dimension: two units convert into each other only when their dimensions match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dimension {
    /// Temperature.
    Temperature,
    /// Power.
    Power,
    /// Energy.
    Energy,
    /// Electric potential.
    Voltage,
    /// Electric current.
    Current,
    /// Rotational speed.
    RotationalSpeed,
    /// A dimensionless fraction (percent, ratio).
    Fraction,
    /// Relative humidity (kept apart from generic fractions on purpose).
    RelativeHumidity,
    /// Pressure.
    Pressure,
    /// Volumetric flow.
    Flow,
    /// Duration.
    Time,
    /// Frequency.
    Frequency,
}

/// A unit of measure: the canonical ones of [`SensorKind`] and the vendor units that convert
/// into them.
///
/// Serialized as its symbol ([`Unit::symbol`]): canonical symbols follow UCUM where it has one
/// (`Cel`, `W`, `J`, `%RH` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Unit {
    /// Degrees Celsius (canonical temperature).
    #[serde(rename = "Cel")]
    Celsius,
    /// Degrees Fahrenheit.
    #[serde(rename = "[degF]")]
    Fahrenheit,
    /// Kelvin.
    #[serde(rename = "K")]
    Kelvin,
    /// Watt (canonical power).
    #[serde(rename = "W")]
    Watt,
    /// Milliwatt.
    #[serde(rename = "mW")]
    Milliwatt,
    /// Microwatt (hwmon `power*_input`).
    #[serde(rename = "uW")]
    Microwatt,
    /// Kilowatt.
    #[serde(rename = "kW")]
    Kilowatt,
    /// Joule (canonical energy).
    #[serde(rename = "J")]
    Joule,
    /// Microjoule (RAPL `energy_uj`).
    #[serde(rename = "uJ")]
    Microjoule,
    /// Millijoule (NVML total energy).
    #[serde(rename = "mJ")]
    Millijoule,
    /// Watt-hour.
    #[serde(rename = "W.h")]
    WattHour,
    /// Kilowatt-hour (PDU and utility meters).
    #[serde(rename = "kW.h")]
    KilowattHour,
    /// Volt (canonical voltage).
    #[serde(rename = "V")]
    Volt,
    /// Millivolt.
    #[serde(rename = "mV")]
    Millivolt,
    /// Ampere (canonical current).
    #[serde(rename = "A")]
    Ampere,
    /// Milliampere.
    #[serde(rename = "mA")]
    Milliampere,
    /// Revolutions per minute (canonical fan speed).
    #[serde(rename = "rpm")]
    Rpm,
    /// Percent (canonical fan duty); converts to a ratio for utilization.
    #[serde(rename = "%")]
    Percent,
    /// Percent relative humidity (canonical humidity).
    #[serde(rename = "%RH")]
    PercentRh,
    /// Pascal (canonical pressure).
    #[serde(rename = "Pa")]
    Pascal,
    /// Kilopascal.
    #[serde(rename = "kPa")]
    Kilopascal,
    /// Hectopascal (weather stations).
    #[serde(rename = "hPa")]
    Hectopascal,
    /// Cubic metres per second (canonical airflow).
    #[serde(rename = "m3/s")]
    CubicMetrePerSecond,
    /// Cubic feet per minute (the airflow unit of US data sheets).
    #[serde(rename = "[CFM]")]
    Cfm,
    /// A dimensionless ratio (canonical utilization).
    #[serde(rename = "ratio")]
    Ratio,
    /// Second (canonical CPU time).
    #[serde(rename = "s")]
    Second,
    /// Millisecond.
    #[serde(rename = "ms")]
    Millisecond,
    /// Microsecond (cgroup v2 `usage_usec`).
    #[serde(rename = "us")]
    Microsecond,
    /// Nanosecond (cgroup v1 `cpuacct.usage`).
    #[serde(rename = "ns")]
    Nanosecond,
    /// Hertz (canonical frequency).
    #[serde(rename = "Hz")]
    Hertz,
    /// Kilohertz (Linux cpufreq `scaling_cur_freq`).
    #[serde(rename = "kHz")]
    Kilohertz,
    /// Megahertz (NVML and nvidia-smi clocks).
    #[serde(rename = "MHz")]
    Megahertz,
    /// Gigahertz.
    #[serde(rename = "GHz")]
    Gigahertz,
}

/// One row of the conversion table: `canonical = value * scale + offset`, where "canonical" is
/// the SI-base unit of the dimension (`Cel`, `W`, `J`, `V`, `A`, `rpm`, ratio, `%RH`, `Pa`,
/// `m3/s`, `s`, `Hz`).
struct Conversion {
    unit: Unit,
    symbol: &'static str,
    dimension: Dimension,
    scale: f64,
    offset: f64,
}

const fn conv(unit: Unit, symbol: &'static str, dimension: Dimension, scale: f64) -> Conversion {
    Conversion {
        unit,
        symbol,
        dimension,
        scale,
        offset: 0.0,
    }
}

/// The conversion table. Factors are exact definitions (SI prefixes; 1 W·h = 3600 J;
/// 1 ft = 0.3048 m so 1 ft³/min = 0.028316846592 m³ / 60 s; °F = 9/5 °C + 32).
const TABLE: [Conversion; 33] = [
    conv(Unit::Celsius, "Cel", Dimension::Temperature, 1.0),
    Conversion {
        unit: Unit::Fahrenheit,
        symbol: "[degF]",
        dimension: Dimension::Temperature,
        scale: 5.0 / 9.0,
        offset: -32.0 * 5.0 / 9.0,
    },
    Conversion {
        unit: Unit::Kelvin,
        symbol: "K",
        dimension: Dimension::Temperature,
        scale: 1.0,
        offset: -273.15,
    },
    conv(Unit::Watt, "W", Dimension::Power, 1.0),
    conv(Unit::Milliwatt, "mW", Dimension::Power, 1e-3),
    conv(Unit::Microwatt, "uW", Dimension::Power, 1e-6),
    conv(Unit::Kilowatt, "kW", Dimension::Power, 1e3),
    conv(Unit::Joule, "J", Dimension::Energy, 1.0),
    conv(Unit::Microjoule, "uJ", Dimension::Energy, 1e-6),
    conv(Unit::Millijoule, "mJ", Dimension::Energy, 1e-3),
    conv(Unit::WattHour, "W.h", Dimension::Energy, 3600.0),
    conv(Unit::KilowattHour, "kW.h", Dimension::Energy, 3.6e6),
    conv(Unit::Volt, "V", Dimension::Voltage, 1.0),
    conv(Unit::Millivolt, "mV", Dimension::Voltage, 1e-3),
    conv(Unit::Ampere, "A", Dimension::Current, 1.0),
    conv(Unit::Milliampere, "mA", Dimension::Current, 1e-3),
    conv(Unit::Rpm, "rpm", Dimension::RotationalSpeed, 1.0),
    conv(Unit::Percent, "%", Dimension::Fraction, 0.01),
    conv(Unit::PercentRh, "%RH", Dimension::RelativeHumidity, 1.0),
    conv(Unit::Pascal, "Pa", Dimension::Pressure, 1.0),
    conv(Unit::Kilopascal, "kPa", Dimension::Pressure, 1e3),
    conv(Unit::Hectopascal, "hPa", Dimension::Pressure, 1e2),
    conv(Unit::CubicMetrePerSecond, "m3/s", Dimension::Flow, 1.0),
    conv(Unit::Cfm, "[CFM]", Dimension::Flow, 0.028316846592 / 60.0),
    conv(Unit::Ratio, "ratio", Dimension::Fraction, 1.0),
    conv(Unit::Second, "s", Dimension::Time, 1.0),
    conv(Unit::Millisecond, "ms", Dimension::Time, 1e-3),
    conv(Unit::Microsecond, "us", Dimension::Time, 1e-6),
    conv(Unit::Nanosecond, "ns", Dimension::Time, 1e-9),
    conv(Unit::Hertz, "Hz", Dimension::Frequency, 1.0),
    conv(Unit::Kilohertz, "kHz", Dimension::Frequency, 1e3),
    conv(Unit::Megahertz, "MHz", Dimension::Frequency, 1e6),
    conv(Unit::Gigahertz, "GHz", Dimension::Frequency, 1e9),
];

/// Spellings accepted by [`Unit::from_symbol`] besides the canonical symbols, compared
/// case-sensitively first and then ASCII-case-insensitively. Vendor-specific names (IPMI's
/// `degrees C`, Redfish's `Cel`, nvidia-smi's `W`) all funnel through here.
const ALIASES: &[(&str, Unit)] = &[
    ("C", Unit::Celsius),
    ("°C", Unit::Celsius),
    ("degC", Unit::Celsius),
    ("celsius", Unit::Celsius),
    ("degrees C", Unit::Celsius),
    ("F", Unit::Fahrenheit),
    ("°F", Unit::Fahrenheit),
    ("degF", Unit::Fahrenheit),
    ("fahrenheit", Unit::Fahrenheit),
    ("degrees F", Unit::Fahrenheit),
    ("kelvin", Unit::Kelvin),
    ("w", Unit::Watt),
    ("watt", Unit::Watt),
    ("watts", Unit::Watt),
    ("µW", Unit::Microwatt),
    ("milliwatts", Unit::Milliwatt),
    ("kilowatts", Unit::Kilowatt),
    ("joule", Unit::Joule),
    ("joules", Unit::Joule),
    ("µJ", Unit::Microjoule),
    ("Wh", Unit::WattHour),
    ("kWh", Unit::KilowattHour),
    ("volts", Unit::Volt),
    ("amps", Unit::Ampere),
    ("RPM", Unit::Rpm),
    ("percent", Unit::Percent),
    ("RH%", Unit::PercentRh),
    ("% RH", Unit::PercentRh),
    ("CFM", Unit::Cfm),
    ("ft3/min", Unit::Cfm),
    ("seconds", Unit::Second),
    ("sec", Unit::Second),
    ("µs", Unit::Microsecond),
    ("usec", Unit::Microsecond),
    ("hertz", Unit::Hertz),
    ("megahertz", Unit::Megahertz),
];

impl Unit {
    fn row(self) -> &'static Conversion {
        // The table lists every variant once (checked by a unit test), so the search succeeds.
        TABLE.iter().find(|c| c.unit == self).unwrap_or(&TABLE[0])
    }

    /// The symbol this unit serializes as.
    pub fn symbol(self) -> &'static str {
        self.row().symbol
    }

    /// The physical dimension.
    pub const fn dimension(self) -> Dimension {
        match self {
            Unit::Celsius | Unit::Fahrenheit | Unit::Kelvin => Dimension::Temperature,
            Unit::Watt | Unit::Milliwatt | Unit::Microwatt | Unit::Kilowatt => Dimension::Power,
            Unit::Joule
            | Unit::Microjoule
            | Unit::Millijoule
            | Unit::WattHour
            | Unit::KilowattHour => Dimension::Energy,
            Unit::Volt | Unit::Millivolt => Dimension::Voltage,
            Unit::Ampere | Unit::Milliampere => Dimension::Current,
            Unit::Rpm => Dimension::RotationalSpeed,
            Unit::Percent | Unit::Ratio => Dimension::Fraction,
            Unit::PercentRh => Dimension::RelativeHumidity,
            Unit::Pascal | Unit::Kilopascal | Unit::Hectopascal => Dimension::Pressure,
            Unit::CubicMetrePerSecond | Unit::Cfm => Dimension::Flow,
            Unit::Second | Unit::Millisecond | Unit::Microsecond | Unit::Nanosecond => {
                Dimension::Time
            }
            Unit::Hertz | Unit::Kilohertz | Unit::Megahertz | Unit::Gigahertz => {
                Dimension::Frequency
            }
        }
    }

    /// Parses a unit symbol or a common vendor spelling (`W`, `Watts`, `degrees C`, `°F`, `kWh`).
    ///
    /// # Errors
    /// [`ErrorKind::UnknownUnit`] when the spelling is not in the table.
    pub fn from_symbol(s: &str) -> Result<Unit, ModelError> {
        let t = s.trim();
        if let Some(c) = TABLE.iter().find(|c| c.symbol == t) {
            return Ok(c.unit);
        }
        if let Some((_, u)) = ALIASES.iter().find(|(a, _)| *a == t) {
            return Ok(*u);
        }
        if let Some((_, u)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(t)) {
            return Ok(*u);
        }
        Err(ModelError::new(
            ErrorKind::UnknownUnit,
            Place::Unknown,
            format!("unknown unit {s:?}"),
        ))
    }

    /// Converts `value` in this unit into the canonical unit of `kind`.
    ///
    /// Percent converts to a ratio for [`SensorKind::Utilization`] and stays percent for
    /// [`SensorKind::FanDuty`]; temperatures convert affinely.
    ///
    /// # Errors
    /// [`ErrorKind::IncompatibleUnit`] when the dimensions differ (watts for a temperature).
    ///
    /// ```
    /// use kelvin_model::{SensorKind, Unit};
    /// assert_eq!(Unit::Kilowatt.convert(1.5, SensorKind::Power)?, 1500.0);
    /// assert_eq!(Unit::Percent.convert(42.0, SensorKind::Utilization)?, 0.42);
    /// assert!(Unit::Watt.convert(1.0, SensorKind::Temperature).is_err());
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn convert(self, value: f64, kind: SensorKind) -> Result<f64, ModelError> {
        if self == kind.unit() {
            return Ok(value);
        }
        let from = self.row();
        let to = kind.unit().row();
        if from.dimension != to.dimension {
            return Err(ModelError::new(
                ErrorKind::IncompatibleUnit,
                Place::Unknown,
                format!("unit {} cannot express {kind}", from.symbol),
            ));
        }
        if from.unit == to.unit {
            return Ok(value);
        }
        let base = value * from.scale + from.offset;
        Ok((base - to.offset) / to.scale)
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl FromStr for Unit {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        Unit::from_symbol(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(unit: Unit, value: f64, kind: SensorKind, expected: f64) {
        let got = unit.convert(value, kind).unwrap();
        assert!(
            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{value} {unit} as {kind}: got {got}, expected {expected}"
        );
    }

    #[test]
    fn conversion_table() {
        check(Unit::Fahrenheit, 32.0, SensorKind::Temperature, 0.0);
        check(Unit::Fahrenheit, 212.0, SensorKind::Temperature, 100.0);
        check(Unit::Fahrenheit, -40.0, SensorKind::Temperature, -40.0);
        check(Unit::Kelvin, 300.0, SensorKind::Temperature, 26.85);
        check(Unit::Milliwatt, 250.0, SensorKind::Power, 0.25);
        check(Unit::Microwatt, 12_500_000.0, SensorKind::Power, 12.5);
        check(Unit::Kilowatt, 3.2, SensorKind::Power, 3200.0);
        check(
            Unit::Microjoule,
            262_143_328_850.0,
            SensorKind::Energy,
            262_143.328_85,
        );
        check(Unit::Millijoule, 1500.0, SensorKind::Energy, 1.5);
        check(Unit::KilowattHour, 1.0, SensorKind::Energy, 3.6e6);
        check(Unit::WattHour, 2.0, SensorKind::Energy, 7200.0);
        check(Unit::Kilopascal, 101.325, SensorKind::Pressure, 101_325.0);
        check(Unit::Cfm, 1000.0, SensorKind::Airflow, 0.471_947_443_2);
        check(Unit::Percent, 55.0, SensorKind::Utilization, 0.55);
        check(Unit::Percent, 55.0, SensorKind::FanDuty, 55.0);
        check(Unit::Ratio, 0.3, SensorKind::FanDuty, 30.0);
        check(Unit::Microsecond, 2_500_000.0, SensorKind::CpuTime, 2.5);
        check(Unit::Nanosecond, 1e9, SensorKind::CpuTime, 1.0);
        check(Unit::Megahertz, 1_980.0, SensorKind::Frequency, 1.98e9);
        check(Unit::Kilohertz, 2_400_000.0, SensorKind::Frequency, 2.4e9);
        check(Unit::Gigahertz, 1.5, SensorKind::Frequency, 1.5e9);
        check(Unit::Millivolt, 12_060.0, SensorKind::Voltage, 12.06);
        check(Unit::Milliampere, 500.0, SensorKind::Current, 0.5);
    }

    #[test]
    fn incompatible_units_are_typed_errors() {
        let e = Unit::Watt
            .convert(1.0, SensorKind::Temperature)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IncompatibleUnit);
        assert!(
            Unit::PercentRh
                .convert(50.0, SensorKind::Utilization)
                .is_err()
        );
        assert!(Unit::Second.convert(1.0, SensorKind::Energy).is_err());
    }

    #[test]
    fn every_unit_is_in_the_table_once() {
        for c in &TABLE {
            let n = TABLE.iter().filter(|d| d.unit == c.unit).count();
            assert_eq!(n, 1, "{:?}", c.unit);
            assert_eq!(c.unit.dimension(), c.dimension, "{:?}", c.unit);
            assert_eq!(Unit::from_symbol(c.symbol).unwrap(), c.unit);
            // serde symbol and table symbol agree
            let json = serde_json::to_string(&c.unit).unwrap();
            assert_eq!(json, format!("\"{}\"", c.symbol));
        }
    }

    #[test]
    fn canonical_units_serialize_as_specified() {
        let expected = [
            ("temperature", "Cel"),
            ("power", "W"),
            ("energy", "J"),
            ("voltage", "V"),
            ("current", "A"),
            ("fan_speed", "rpm"),
            ("fan_duty", "%"),
            ("humidity", "%RH"),
            ("pressure", "Pa"),
            ("airflow", "m3/s"),
            ("utilization", "ratio"),
            ("cpu_time", "s"),
            ("frequency", "Hz"),
        ];
        for (kind, (name, unit)) in SensorKind::ALL.iter().zip(expected) {
            assert_eq!(serde_json::to_string(kind).unwrap(), format!("\"{name}\""));
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.unit().symbol(), unit);
            assert_eq!(kind.unit().convert(7.0, *kind).unwrap(), 7.0);
        }
        assert_eq!(SensorKind::Energy.semantics(), Semantics::Counter);
        assert_eq!(SensorKind::CpuTime.semantics(), Semantics::Counter);
        assert_eq!(SensorKind::Power.semantics(), Semantics::Gauge);
    }

    #[test]
    fn vendor_spellings_parse() {
        assert_eq!(Unit::from_symbol("degrees C").unwrap(), Unit::Celsius);
        assert_eq!(Unit::from_symbol("Watts").unwrap(), Unit::Watt);
        assert_eq!(Unit::from_symbol("w").unwrap(), Unit::Watt);
        assert_eq!(Unit::from_symbol(" °F ").unwrap(), Unit::Fahrenheit);
        assert_eq!(Unit::from_symbol("kWh").unwrap(), Unit::KilowattHour);
        assert_eq!(Unit::from_symbol("CFM").unwrap(), Unit::Cfm);
        assert_eq!(
            Unit::from_symbol("furlongs").unwrap_err().kind(),
            ErrorKind::UnknownUnit
        );
    }

    proptest::proptest! {
        #[test]
        fn conversions_round_trip(v in -1e12f64..1e12) {
            for c in &TABLE {
                let canonical_kind = SensorKind::ALL.iter().copied()
                    .find(|k| k.dimension() == c.dimension);
                let Some(kind) = canonical_kind else { continue };
                let there = c.unit.convert(v, kind).unwrap();
                // back: invert the affine map
                let to = kind.unit().row();
                let back = ((there * to.scale + to.offset) - c.offset) / c.scale;
                proptest::prop_assert!((back - v).abs() <= 1e-9 * v.abs().max(1.0));
            }
        }
    }
}
