//! Series identity and samples: [`SeriesKey`] (with its [`Labels`]), [`Sample`] and
//! [`SeriesData`], the columns the stores, the query kernels and Parquet hand around.

use std::fmt;
use std::sync::Arc;

use kelvin_model::{EntityId, Reading, SensorKind, SensorName, Timestamp};

/// Extra dimensions of a series beyond entity, sensor and kind: `name=value` pairs, sorted by
/// name, each name at most once (a later value for the same name replaces the earlier one).
///
/// Cheap to clone (one shared allocation); the empty set allocates nothing.
///
/// ```
/// use kelvin_store::Labels;
///
/// let l = Labels::from_pairs([("zone", "b"), ("phase", "L1"), ("zone", "c")]);
/// assert_eq!(l.get("zone"), Some("c"));
/// assert_eq!(l.to_string(), "{phase=\"L1\",zone=\"c\"}");
/// assert!(Labels::default().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels(Option<Arc<[Label]>>);

/// One `name=value` pair of [`Labels`].
type Label = (Arc<str>, Arc<str>);

impl Labels {
    /// Labels from `(name, value)` pairs in any order; for a repeated name the last value wins.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut v: Vec<Label> = Vec::new();
        for (n, val) in pairs {
            let (n, val) = (n.as_ref(), val.as_ref());
            match v.binary_search_by(|(k, _)| (**k).cmp(n)) {
                Ok(i) => v[i].1 = Arc::from(val),
                Err(i) => v.insert(i, (Arc::from(n), Arc::from(val))),
            }
        }
        if v.is_empty() {
            Labels(None)
        } else {
            Labels(Some(v.into()))
        }
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        let v = self.0.as_deref()?;
        v.binary_search_by(|(k, _)| (**k).cmp(name))
            .ok()
            .map(|i| &*v[i].1)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|(k, v)| (&**k, &**v))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, <[_]>::len)
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for Labels {
    /// `{a="1",b="2"}` (Prometheus style, values escaped as Rust debug strings); empty: `{}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// The identity of a series: which sensor of which entity, measuring what, with optional
/// [`Labels`].
///
/// Keys order by entity, then sensor, then kind, then labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// The entity measured.
    pub entity: EntityId,
    /// The sensor's name within the entity.
    pub sensor: SensorName,
    /// What is measured, in the kind's canonical unit.
    pub kind: SensorKind,
    /// Further dimensions (empty for most sensors).
    pub labels: Labels,
}

impl SeriesKey {
    /// A key from its parts, without labels.
    pub fn new(entity: EntityId, sensor: impl Into<SensorName>, kind: SensorKind) -> Self {
        SeriesKey {
            entity,
            sensor: sensor.into(),
            kind,
            labels: Labels::default(),
        }
    }

    /// The same key with `labels`.
    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = labels;
        self
    }

    /// The key of the series `r` belongs to.
    pub fn of(r: &Reading) -> SeriesKey {
        SeriesKey {
            entity: r.entity.clone(),
            sensor: r.sensor.clone(),
            kind: r.kind,
            labels: Labels::default(),
        }
    }
}

impl fmt::Display for SeriesKey {
    /// `entity/sensor (kind)`, e.g. `host-01/psu1 (power)`, followed by the labels when there
    /// are any: `host-01/psu1 (power){phase="L1"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} ({})", self.entity, self.sensor, self.kind)?;
        if !self.labels.is_empty() {
            write!(f, "{}", self.labels)?;
        }
        Ok(())
    }
}

/// One series' samples as columns: what export, import and decoding hand around.
///
/// `ts` (nanoseconds since the Unix epoch) and `values` have the same length and are sorted by
/// time; values are stored bit-exactly, NaN and infinities included.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesData {
    /// Which series.
    pub key: SeriesKey,
    /// Timestamps in nanoseconds, non-decreasing.
    pub ts: Vec<i64>,
    /// Values, one per timestamp.
    pub values: Vec<f64>,
}

/// One stored sample: a finite value in the canonical unit of the series' kind, at a time.
///
/// Within a series, samples are sorted by strictly increasing `ts`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was measured.
    pub ts: Timestamp,
    /// The value (always finite).
    pub value: f64,
}

impl Sample {
    /// A sample.
    pub const fn new(ts: Timestamp, value: f64) -> Self {
        Sample { ts, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_display_names_entity_sensor_and_kind() {
        let k = SeriesKey::new(EntityId::new("host-01").unwrap(), "psu1", SensorKind::Power);
        assert_eq!(k.to_string(), "host-01/psu1 (power)");
    }
}
