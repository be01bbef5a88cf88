//! Kelvin's Parquet layout, the one file layout of readings and series: the column names, the
//! schema, the metadata entries and the `labels` column's JSON, shared by the crate that
//! writes readings (`kelvin-ingest`: `parquet::write_parquet`, the `kelvin_parquet` decoder)
//! and the crate that writes series (`kelvin-store`: `export_parquet`, `import_parquet`),
//! which do not depend on each other. Both write [`SCHEMA`] and read each other's files;
//! what each makes of a row, and which older files still read, is in the repository's
//! `docs/format.md` ("Kelvin's Parquet layout"). This crate holds only the vocabulary: it has
//! no Parquet dependency.
//!
//! ```
//! use kelvin_model::layout::{self, FlatLabels};
//!
//! assert_eq!(layout::COLUMNS[0], layout::TS);
//! assert!(layout::SCHEMA.contains("OPTIONAL BYTE_ARRAY labels (STRING);"));
//! let labels: FlatLabels = serde_json::from_str(r#"{"zone": "b", "phase": "L1"}"#)?;
//! assert_eq!(labels.0.keys().collect::<Vec<_>>(), ["phase", "zone"]);
//! assert!(serde_json::from_str::<FlatLabels>(r#"{"rack": 12}"#).is_err());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

/// The key/value metadata entry naming the layout.
pub const FORMAT_KEY: &str = "kelvin.format";
/// The key/value metadata entry holding the layout's version.
pub const VERSION_KEY: &str = "kelvin.version";
/// The value of [`FORMAT_KEY`] in files of this layout.
pub const FORMAT: &str = "kelvin-readings";
/// The layout's version, written to [`VERSION_KEY`]. Readers refuse a newer version.
pub const VERSION: u32 = 2;
/// The value of [`FORMAT_KEY`] in the series files `kelvin-store` wrote before version 2
/// (`kelvin.version = 1`: the columns `entity`, `sensor`, `kind`, `labels`, `ts`, `value`, a
/// subset of this layout's); they still read.
pub const STORE_SERIES_V1: &str = "kelvin-store-series";

/// The time: `INT64 (TIMESTAMP(NANOS, UTC))`, null for an unknown time. Readers take any
/// `TIMESTAMP` unit (milliseconds, microseconds, nanoseconds).
pub const TS: &str = "ts";
/// The time column of the readings files `kelvin-ingest` wrote before version 2: plain
/// `INT64` nanoseconds (no logical type). Read in place of [`TS`]; a file with both is refused.
pub const LEGACY_TS_NS: &str = "ts_ns";
/// The entity id (`STRING`, never null).
pub const ENTITY: &str = "entity";
/// The sensor's name within its entity (`STRING`, never null).
pub const SENSOR: &str = "sensor";
/// The sensor kind's snake_case name, `fan_speed` (`STRING`, never null).
pub const KIND: &str = "kind";
/// The series labels: a flat JSON object of string values ([`FlatLabels`]); null, `""` and
/// `{}` all mean none (`STRING`, optional).
pub const LABELS: &str = "labels";
/// The value's unit symbol; written as the kind's canonical unit, read as any unit of the
/// kind's dimension; null or `""` is the canonical unit (`STRING`).
pub const UNIT: &str = "unit";
/// The value (`DOUBLE`); null is no value.
pub const VALUE: &str = "value";
/// The reading's quality, snake_case (`good`, `warning`, `critical`, `estimated`, `absent`);
/// null or `""` is `good` for a row with a value and `absent` for one without (`STRING`).
pub const QUALITY: &str = "quality";
/// The source's own status text, verbatim (`STRING`, optional).
pub const STATUS: &str = "status";

/// The columns in the order they are written.
pub const COLUMNS: [&str; 9] = [
    TS, ENTITY, SENSOR, KIND, LABELS, UNIT, VALUE, QUALITY, STATUS,
];

/// The columns a file must have to be read (besides a time column, [`TS`] or
/// [`LEGACY_TS_NS`]); the others may be missing and then read as null.
pub const NEEDED: [&str; 4] = [ENTITY, SENSOR, KIND, VALUE];

/// The schema both crates write, in the Parquet message-type syntax (the `parquet` crate's
/// `parse_message_type` reads it).
pub const SCHEMA: &str = "message kelvin_readings {
  OPTIONAL INT64 ts (TIMESTAMP(NANOS,true));
  REQUIRED BYTE_ARRAY entity (STRING);
  REQUIRED BYTE_ARRAY sensor (STRING);
  REQUIRED BYTE_ARRAY kind (STRING);
  OPTIONAL BYTE_ARRAY labels (STRING);
  REQUIRED BYTE_ARRAY unit (STRING);
  OPTIONAL DOUBLE value;
  REQUIRED BYTE_ARRAY quality (STRING);
  OPTIONAL BYTE_ARRAY status (STRING);
}";

/// A `labels` cell as a JSON parser reads it: an object whose values are all strings, names
/// sorted, a repeated name keeping its last value. Nothing nested is read: an array, an object
/// or any other non-string value is an error naming the label, raised where it starts (depth 1
/// at most, whatever the text). Blank text (no labels) is the caller's to recognize before it
/// parses.
///
/// ```
/// use kelvin_model::layout::FlatLabels;
/// let e = serde_json::from_str::<FlatLabels>(r#"{"a": {"b": "c"}}"#).unwrap_err();
/// assert!(e.to_string().starts_with("the value of \"a\" is not a string (an object)"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlatLabels(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for FlatLabels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = FlatLabels;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FlatLabels, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(StringValue(&name))?;
            out.insert(name, value);
        }
        Ok(FlatLabels(out))
    }
}

/// The value of label `.0`, which must be a string.
struct StringValue<'a>(&'a str);

impl StringValue<'_> {
    fn not_a_string<E: de::Error>(&self, what: &str) -> E {
        E::custom(format!(
            "the value of {:?} is not a string ({what})",
            self.0
        ))
    }
}

impl<'de> DeserializeSeed<'de> for StringValue<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringValue<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string as the value of {:?}", self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
        Err(self.not_a_string("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<String, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<String, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
        Err(self.not_a_string("a number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(self.not_a_string("null"))
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        Err(self.not_a_string("null"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.not_a_string("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(self.not_a_string("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_column_in_order() {
        let mut at = 0;
        for name in COLUMNS {
            let found = SCHEMA[at..]
                .find(&format!(" {name}"))
                .unwrap_or_else(|| panic!("{name} not in order in the schema"));
            at += found + name.len();
        }
        assert_eq!(SCHEMA.matches(';').count(), COLUMNS.len());
        assert!(NEEDED.iter().all(|n| COLUMNS.contains(n)));
    }

    #[test]
    fn flat_labels_read_objects_of_strings_only() {
        let parse = |s: &str| serde_json::from_str::<FlatLabels>(s).map(|l| l.0);
        let l = parse(r#"{"b":"2","a":"1","b":"3","uni":"\u2713 \ud83c\udf21"}"#).unwrap();
        let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(pairs, [("a", "1"), ("b", "3"), ("uni", "✓ 🌡")]);
        assert!(parse("{}").unwrap().is_empty());
        for (bad, says) in [
            (
                r#"{"a":1}"#,
                "the value of \"a\" is not a string (a number)",
            ),
            (r#"{"a":null}"#, "(null)"),
            (r#"{"a":true}"#, "(a boolean)"),
            (r#"{"a":["b"]}"#, "(an array)"),
            (r#"{"a":{"b":"c"}}"#, "(an object)"),
            ("[]", "expected a JSON object of string values"),
            ("\"x\"", "expected a JSON object of string values"),
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        // Depth stays 1: a deeply nested value is refused where it starts, not recursed into.
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).unwrap_err().to_string().contains("(an array)"));
    }
}
