use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::{EntityId, ErrorKind, ModelError, Place, SensorKind, Timestamp, Unit};

/// A sensor's name within its entity (`inlet`, `psu1`, `rapl/package-0`).
///
/// Shared, not copied: every reading of a series carries the same name, so cloning one is a
/// reference-count increment. Compares with `&str` and `String`, and derefs to `str`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SensorName(Arc<str>);

impl SensorName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SensorName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SensorName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SensorName {
    fn from(s: &str) -> Self {
        SensorName(Arc::from(s))
    }
}

impl From<String> for SensorName {
    fn from(s: String) -> Self {
        SensorName(Arc::from(s))
    }
}

impl From<&String> for SensorName {
    fn from(s: &String) -> Self {
        SensorName(Arc::from(s.as_str()))
    }
}

impl From<SensorName> for String {
    fn from(s: SensorName) -> String {
        s.0.to_string()
    }
}

impl PartialEq<str> for SensorName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for SensorName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for SensorName {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SensorName> for &str {
    fn eq(&self, other: &SensorName) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SensorName> for String {
    fn eq(&self, other: &SensorName) -> bool {
        **self == *other.0
    }
}

/// How much a reading can be trusted, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Quality {
    /// A plain measurement.
    #[default]
    Good,
    /// The source flagged the value (a non-critical threshold, a BMC "warning").
    Warning,
    /// The source flagged the value as critical or non-recoverable.
    Critical,
    /// Not measured but derived (interpolated, modelled).
    Estimated,
    /// The sensor exists but has no value now (`na`, `No Reading`, `Disabled`): an explicit
    /// absence, never a zero. The value is NaN.
    Absent,
}

/// One normalized sample: value in the canonical unit of `kind`, at `ts`, for `entity`.
///
/// `sensor` names the sensor within its entity (`inlet`, `psu1_power`, `package-0`), so one
/// host can have several power or temperature series. The serialized form carries the unit next
/// to the kind, and deserialization accepts any unit of the right dimension and converts:
///
/// ```
/// use kelvin_model::{Reading, SensorKind};
/// let r: Reading = serde_json::from_str(
///     r#"{"entity":"h1","sensor":"psu","kind":"power","unit":"kW","value":0.35,"ts":0}"#)?;
/// assert_eq!(r.kind, SensorKind::Power);
/// assert_eq!(r.value, 350.0);
/// assert_eq!(serde_json::to_string(&r)?,
///     r#"{"entity":"h1","sensor":"psu","kind":"power","unit":"W","value":350.0,"ts":0,"quality":"good"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "ReadingRepr", try_from = "ReadingRepr")]
pub struct Reading {
    /// The entity measured (host, rack, component, workload).
    pub entity: EntityId,
    /// The sensor's name within the entity.
    pub sensor: SensorName,
    /// What is measured; the value is in `kind.unit()`.
    pub kind: SensorKind,
    /// The value in the canonical unit (NaN when `quality` is [`Quality::Absent`]).
    pub value: f64,
    /// When it was measured.
    pub ts: Timestamp,
    /// How far to trust it.
    pub quality: Quality,
    /// The source's own status text, verbatim (`ok`, `nc`, `'OK'`, `Enabled/OK`), when it had
    /// one; `quality` is its normalized form.
    pub status: Option<String>,
}

impl Reading {
    /// A good-quality reading whose value is already canonical.
    pub fn new(
        entity: EntityId,
        sensor: impl Into<SensorName>,
        kind: SensorKind,
        value: f64,
        ts: Timestamp,
    ) -> Self {
        Reading {
            entity,
            sensor: sensor.into(),
            kind,
            value,
            ts,
            quality: Quality::Good,
            status: None,
        }
    }

    /// The same reading with the source's raw status text.
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// The same reading with another quality.
    pub fn with_quality(mut self, quality: Quality) -> Self {
        self.quality = quality;
        self
    }

    /// The canonical unit of the value.
    pub fn unit(&self) -> Unit {
        self.kind.unit()
    }

    /// Whether the value can be used in computations: present and finite.
    pub fn is_usable(&self) -> bool {
        self.quality != Quality::Absent && self.value.is_finite()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadingRepr {
    entity: EntityId,
    sensor: SensorName,
    kind: SensorKind,
    unit: Unit,
    value: Option<f64>,
    ts: Timestamp,
    #[serde(default)]
    quality: Quality,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
}

impl From<Reading> for ReadingRepr {
    fn from(r: Reading) -> Self {
        ReadingRepr {
            unit: r.kind.unit(),
            value: if r.value.is_finite() {
                Some(r.value)
            } else {
                None
            },
            entity: r.entity,
            sensor: r.sensor,
            kind: r.kind,
            ts: r.ts,
            quality: r.quality,
            status: r.status,
        }
    }
}

impl TryFrom<ReadingRepr> for Reading {
    type Error = ModelError;
    fn try_from(r: ReadingRepr) -> Result<Self, ModelError> {
        let (value, quality) = match r.value {
            Some(v) => (
                r.unit
                    .convert(v, r.kind)
                    .map_err(|e| e.at(Place::field("unit")))?,
                r.quality,
            ),
            None => (f64::NAN, Quality::Absent),
        };
        if r.quality == Quality::Absent && r.value.is_some() {
            return Err(ModelError::new(
                ErrorKind::InvalidInput,
                Place::field("value"),
                "a reading with quality \"absent\" must have a null value",
            ));
        }
        Ok(Reading {
            entity: r.entity,
            sensor: r.sensor,
            kind: r.kind,
            value,
            ts: r.ts,
            quality,
            status: r.status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_values_are_null_not_zero() {
        let r = Reading::new(
            EntityId::new("h").unwrap(),
            "fan1",
            SensorKind::FanSpeed,
            f64::NAN,
            Timestamp::from_secs(1),
        )
        .with_quality(Quality::Absent);
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""value":null"#), "{json}");
        let back: Reading = serde_json::from_str(&json).unwrap();
        assert!(!back.is_usable());
        assert_eq!(back.quality, Quality::Absent);
    }

    #[test]
    fn wrong_dimension_is_rejected_on_input() {
        let e = serde_json::from_str::<Reading>(
            r#"{"entity":"h1","sensor":"t","kind":"temperature","unit":"W","value":1,"ts":0}"#,
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("cannot express temperature")
        );
    }

    #[test]
    fn fahrenheit_input_is_normalized() {
        let r: Reading = serde_json::from_str(
            r#"{"entity":"h1","sensor":"inlet","kind":"temperature","unit":"[degF]","value":77,"ts":5}"#,
        )
        .unwrap();
        assert!((r.value - 25.0).abs() < 1e-12);
        assert_eq!(r.unit(), Unit::Celsius);
    }
}
