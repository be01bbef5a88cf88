//! Vendor names, units, absent values and statuses → canonical ones.
//!
//! The table is data (`normalize.json`, built in; embedders load and extend their own with
//! [`Normalizer::from_json`] and [`Normalizer::extend_json`]).

use std::collections::HashMap;

use kelvin_model::{Dimension, Place, Quality, SensorKind, Unit};
use serde::Deserialize;

use crate::{IngestError, IngestErrorKind};

const BUILTIN: &str = include_str!("normalize.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensorRule {
    kind: SensorKind,
    canonical: String,
    names: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    sensors: Vec<SensorRule>,
    #[serde(default)]
    units: Vec<(String, Unit)>,
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    status: Vec<(String, Quality)>,
}

/// Normalization rules: which vendor sensor names mean the same canonical sensor, which
/// spellings are which unit, which value texts mean "no value", which statuses mean what.
///
/// Names, units, absent texts and statuses match after trimming, ASCII-case-insensitively.
///
/// ```
/// use kelvin_ingest::Normalizer;
/// use kelvin_model::{Quality, SensorKind, Unit};
/// let n = Normalizer::builtin();
/// assert_eq!(n.sensor_name("System Board Inlet Temp", SensorKind::Temperature), "inlet");
/// assert_eq!(n.sensor_name("CPU1 Temp", SensorKind::Temperature), "CPU1 Temp");
/// assert_eq!(n.unit("degrees C"), Some(Unit::Celsius));
/// assert!(n.is_absent("No Reading"));
/// assert_eq!(n.quality("'OK'"), Some(Quality::Good));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    names: HashMap<SensorKind, HashMap<String, String>>,
    units: HashMap<String, Unit>,
    absent: Vec<String>,
    status: HashMap<String, Quality>,
}

fn trimmed(s: &str) -> &str {
    s.trim().trim_matches(|c| c == '\'' || c == '"').trim()
}

fn key(s: &str) -> String {
    trimmed(s).to_ascii_lowercase()
}

/// Longest text looked up without a heap allocation.
const KEY_BUF: usize = 96;

/// Calls `f` with the lookup key of `s` (trimmed, quotes removed, ASCII lowercase), built on
/// the stack when short: decoders look up several texts per record.
fn with_key<T>(s: &str, f: impl FnOnce(&str) -> T) -> T {
    let t = trimmed(s);
    if t.len() <= KEY_BUF {
        let mut buf = [0u8; KEY_BUF];
        let b = &mut buf[..t.len()];
        b.copy_from_slice(t.as_bytes());
        b.make_ascii_lowercase();
        // Lowercasing ASCII bytes keeps UTF-8 valid, so this conversion cannot fail.
        if let Ok(k) = std::str::from_utf8(b) {
            return f(k);
        }
    }
    f(&key(s))
}

impl Normalizer {
    /// The built-in table.
    pub fn builtin() -> Normalizer {
        // The built-in table is checked by a unit test, so this cannot fail at run time.
        Normalizer::from_json(BUILTIN).unwrap_or_default()
    }

    /// A normalizer from a JSON table with the keys `sensors` (`[{kind, canonical, names}]`),
    /// `units` (`[[spelling, unit]]`), `absent` (`[text]`) and `status` (`[[text, quality]]`).
    ///
    /// # Errors
    /// [`IngestErrorKind::InvalidRules`] for a table over [`crate::RuleSet::MAX_JSON_BYTES`],
    /// malformed JSON or unknown kinds, units, qualities.
    pub fn from_json(json: &str) -> Result<Normalizer, IngestError> {
        let mut n = Normalizer::default();
        n.extend_json(json)?;
        Ok(n)
    }

    /// Adds (or overrides) rules from a JSON table in the same layout.
    ///
    /// # Errors
    /// As [`Normalizer::from_json`].
    pub fn extend_json(&mut self, json: &str) -> Result<(), IngestError> {
        // Tables are data embedders write by hand: the same bound as a rule table, checked
        // before the text is parsed into a tree.
        if json.len() > crate::RuleSet::MAX_JSON_BYTES {
            return Err(IngestError::new(
                IngestErrorKind::InvalidRules,
                Place::line("normalizer", 1),
                format!(
                    "a normalizer table of {} bytes, over the {} bytes a table may have",
                    json.len(),
                    crate::RuleSet::MAX_JSON_BYTES
                ),
            ));
        }
        let t: Table = serde_json::from_str(json).map_err(|e| {
            IngestError::new(
                IngestErrorKind::InvalidRules,
                Place::line("normalizer", e.line() as u64),
                e.to_string(),
            )
        })?;
        for r in t.sensors {
            for name in r.names {
                self.names
                    .entry(r.kind)
                    .or_default()
                    .insert(key(&name), r.canonical.clone());
            }
        }
        for (spelling, unit) in t.units {
            self.units.insert(key(&spelling), unit);
        }
        for a in t.absent {
            let a = key(&a);
            if !self.absent.contains(&a) {
                self.absent.push(a);
            }
        }
        for (text, q) in t.status {
            self.status.insert(key(&text), q);
        }
        Ok(())
    }

    /// The canonical sensor name for a vendor's name of a sensor of `kind`: the table's
    /// canonical name when listed, else the vendor's name trimmed (identity is preserved;
    /// decoders append a record id when a capture repeats a name).
    pub fn sensor_name(&self, vendor: &str, kind: SensorKind) -> String {
        let names = self.names.get(&kind);
        match names.and_then(|m| with_key(vendor, |k| m.get(k).cloned())) {
            Some(c) => c,
            None => vendor.trim().to_string(),
        }
    }

    /// The unit a vendor's unit text means: the table's spellings, then [`Unit::from_symbol`].
    pub fn unit(&self, text: &str) -> Option<Unit> {
        with_key(text, |k| self.units.get(k).copied())
            .or_else(|| Unit::from_symbol(text.trim()).ok())
    }

    /// Whether a value text means "no value" (`na`, `N/A`, `No Reading`, `Disabled`, empty …).
    pub fn is_absent(&self, value: &str) -> bool {
        with_key(value, |k| self.absent.iter().any(|a| a == k))
    }

    /// The normalized quality of a status text, if the table knows it. Quotes around the
    /// status (FreeIPMI's `'OK'`) are ignored.
    pub fn quality(&self, status: &str) -> Option<Quality> {
        with_key(status, |k| self.status.get(k).copied())
    }

    /// The sensor kind a value in `unit` measures, disambiguated by the vendor's sensor type
    /// where the unit alone cannot tell (a percentage is a fan duty on a fan, a utilization
    /// elsewhere). The unit wins over the type: power typed as "Current" with watts is power.
    pub fn classify(&self, unit: Unit, vendor_type: Option<&str>) -> Option<SensorKind> {
        let t = vendor_type.map(key).unwrap_or_default();
        Some(match unit.dimension() {
            Dimension::Temperature => SensorKind::Temperature,
            Dimension::Power => SensorKind::Power,
            Dimension::Energy => SensorKind::Energy,
            Dimension::Voltage => SensorKind::Voltage,
            Dimension::Current => SensorKind::Current,
            Dimension::RotationalSpeed => SensorKind::FanSpeed,
            Dimension::RelativeHumidity => SensorKind::Humidity,
            Dimension::Pressure => SensorKind::Pressure,
            Dimension::Flow => SensorKind::Airflow,
            Dimension::Time => SensorKind::CpuTime,
            Dimension::Frequency => SensorKind::Frequency,
            Dimension::Fraction if t.contains("fan") => SensorKind::FanDuty,
            Dimension::Fraction if t.contains("humid") => SensorKind::Humidity,
            Dimension::Fraction => SensorKind::Utilization,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_tables_are_refused_before_parsing() {
        let big = " ".repeat(crate::RuleSet::MAX_JSON_BYTES + 1);
        let e = Normalizer::from_json(&big).unwrap_err();
        assert_eq!(e.kind(), IngestErrorKind::InvalidRules);
        assert!(e.to_string().contains("over the"), "{e}");
    }

    #[test]
    fn builtin_table_loads() {
        let n = Normalizer::from_json(BUILTIN).unwrap();
        assert!(
            n.names.values().map(HashMap::len).sum::<usize>() > 20
                && n.units.len() > 5
                && n.absent.len() > 5
                && n.status.len() > 10
        );
        for name in [
            "Inlet Temp",
            "System Board Inlet Temp",
            "Ambient",
            "Front Panel Temp",
            " inlet temp ",
        ] {
            assert_eq!(
                n.sensor_name(name, SensorKind::Temperature),
                "inlet",
                "{name}"
            );
        }
        // a name maps only for its kind
        assert_eq!(n.sensor_name("Ambient", SensorKind::Voltage), "Ambient");
    }

    #[test]
    fn units_absent_and_status() {
        let n = Normalizer::builtin();
        assert_eq!(n.unit("Watts"), Some(Unit::Watt));
        assert_eq!(n.unit("w"), Some(Unit::Watt));
        assert_eq!(n.unit("°F"), Some(Unit::Fahrenheit));
        assert_eq!(n.unit("percent"), Some(Unit::Percent));
        assert_eq!(n.unit("discrete"), None);
        for a in [
            "na",
            "N/A",
            "Not Readable",
            "No Reading",
            "Disabled",
            "",
            " na ",
        ] {
            assert!(n.is_absent(a), "{a:?}");
        }
        assert!(!n.is_absent("0"));
        assert_eq!(n.quality("nc"), Some(Quality::Warning));
        assert_eq!(n.quality("'Upper Critical'"), Some(Quality::Critical));
        assert_eq!(n.quality("weird"), None);
    }

    #[test]
    fn classification_prefers_the_unit() {
        let n = Normalizer::builtin();
        assert_eq!(
            n.classify(Unit::Watt, Some("Current")),
            Some(SensorKind::Power)
        );
        assert_eq!(
            n.classify(Unit::Percent, Some("Fan")),
            Some(SensorKind::FanDuty)
        );
        assert_eq!(
            n.classify(Unit::Percent, Some("Processor")),
            Some(SensorKind::Utilization)
        );
        assert_eq!(n.classify(Unit::Rpm, None), Some(SensorKind::FanSpeed));
    }

    #[test]
    fn embedders_extend_the_table() {
        let mut n = Normalizer::builtin();
        n.extend_json(r#"{"sensors":[{"kind":"temperature","canonical":"inlet","names":["Zone 0 Intake"]}],"absent":["???"]}"#).unwrap();
        assert_eq!(
            n.sensor_name("zone 0 intake", SensorKind::Temperature),
            "inlet"
        );
        assert!(n.is_absent("???"));
        assert_eq!(
            n.extend_json(r#"{"units":[["x","furlong"]]}"#)
                .unwrap_err()
                .kind(),
            IngestErrorKind::InvalidRules
        );
    }
}
