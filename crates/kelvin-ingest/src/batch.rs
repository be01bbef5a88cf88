use kelvin_model::{Place, Reading};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Why a record was quarantined. Counted per reason in [`IngestStats::by_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The line exceeds [`crate::ParseOptions::max_line_bytes`].
    LineTooLong,
    /// The line is not valid UTF-8.
    NotUtf8,
    /// The metric name is missing or has characters outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    BadMetricName,
    /// The label set is malformed (unterminated, bad escape, bad label name, duplicate label).
    BadLabels,
    /// More labels than [`crate::ParseOptions::max_labels`].
    TooManyLabels,
    /// The value is not a number.
    BadValue,
    /// The value is ±infinity, which no sensor measures.
    NonFiniteValue,
    /// The timestamp is not an integer number of milliseconds.
    BadTimestamp,
    /// Unexpected text after the timestamp.
    TrailingGarbage,
    /// No timestamp in the line and no default scrape time given.
    MissingTimestamp,
    /// A `# TYPE` line that names an unknown type or no metric.
    BadMetadata,
    /// No rule maps this metric to a canonical sensor.
    UnmappedMetric,
    /// The rule needs a label that the sample does not have (or has empty).
    MissingLabel,
    /// The entity or sensor built from the labels is not a valid id.
    InvalidEntity,
    /// The value could not be converted to the canonical unit.
    BadUnit,
    /// The entity is not in the embedder's inventory (set by the facade).
    UnknownEntity,
    /// JSON that does not parse.
    BadJson,
    /// JSON nested deeper than [`crate::Limits::max_json_depth`].
    TooDeep,
    /// An input larger than [`crate::Limits::max_input_bytes`].
    InputTooLarge,
    /// Records beyond [`crate::Limits::max_records`] (counted as one record).
    TooManyRecords,
    /// The input's format could not be recognized.
    UnknownFormat,
    /// A sensor that has no numeric canonical kind (a discrete or state sensor, an unknown unit).
    UnmappedSensor,
    /// A record whose fields are missing or malformed (a short table row, a bad CSV cell).
    BadField,
    /// A value already reported under another name or schema generation (Redfish's legacy and
    /// new resources describing one sensor, linked by `DataSourceUri`).
    Duplicate,
    /// A file or resource that exists but could not be read (permissions, a dangling link, a
    /// device or FIFO in place of a file).
    Unreadable,
    /// A counter went backwards or jumped in a way that is not a plain increase (reset,
    /// wrap-around, clock step); the sample is kept out of rates.
    CounterAnomaly,
    /// A timestamp implausibly far from the rest of the data (a clock set to 1970, a value in
    /// seconds among milliseconds, a year typed wrong): kept out so it cannot stretch a window.
    ImplausibleTime,
}

impl Reason {
    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::LineTooLong => "line_too_long",
            Reason::NotUtf8 => "not_utf8",
            Reason::BadMetricName => "bad_metric_name",
            Reason::BadLabels => "bad_labels",
            Reason::TooManyLabels => "too_many_labels",
            Reason::BadValue => "bad_value",
            Reason::NonFiniteValue => "non_finite_value",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::TrailingGarbage => "trailing_garbage",
            Reason::MissingTimestamp => "missing_timestamp",
            Reason::BadMetadata => "bad_metadata",
            Reason::UnmappedMetric => "unmapped_metric",
            Reason::MissingLabel => "missing_label",
            Reason::InvalidEntity => "invalid_entity",
            Reason::BadUnit => "bad_unit",
            Reason::UnknownEntity => "unknown_entity",
            Reason::BadJson => "bad_json",
            Reason::TooDeep => "too_deep",
            Reason::InputTooLarge => "input_too_large",
            Reason::TooManyRecords => "too_many_records",
            Reason::UnknownFormat => "unknown_format",
            Reason::UnmappedSensor => "unmapped_sensor",
            Reason::BadField => "bad_field",
            Reason::Duplicate => "duplicate",
            Reason::CounterAnomaly => "counter_anomaly",
            Reason::Unreadable => "unreadable",
            Reason::ImplausibleTime => "implausible_time",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that was not accepted: where it was, why, and an excerpt of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    /// Source and line (or JSON pointer).
    pub place: Place,
    /// The counted reason.
    pub reason: Reason,
    /// A human-readable detail ("expected '=' after label name at column 31").
    pub detail: String,
    /// The first bytes of the record (at most [`Quarantined::EXCERPT_BYTES`]).
    pub excerpt: String,
}

impl Quarantined {
    /// Longest excerpt kept, in bytes.
    pub const EXCERPT_BYTES: usize = 160;

    /// A quarantine entry; the excerpt is the first [`Quarantined::EXCERPT_BYTES`] of `record`
    /// (cut on a character boundary).
    pub fn new(place: Place, reason: Reason, detail: impl Into<String>, record: &str) -> Self {
        let mut end = record.len().min(Self::EXCERPT_BYTES);
        while !record.is_char_boundary(end) {
            end -= 1;
        }
        Quarantined {
            place,
            reason,
            detail: detail.into(),
            excerpt: record[..end].to_string(),
        }
    }
}

impl fmt::Display for Quarantined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.place, self.reason, self.detail)
    }
}

/// Counts for one ingestion call: `seen == accepted + quarantined`, always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestStats {
    /// Records looked at.
    pub seen: u64,
    /// Records that became readings.
    pub accepted: u64,
    /// Records quarantined.
    pub quarantined: u64,
    /// Quarantined records per reason.
    pub by_reason: BTreeMap<Reason, u64>,
}

impl IngestStats {
    /// Adds another call's counts.
    pub fn merge(&mut self, other: &IngestStats) {
        self.seen += other.seen;
        self.accepted += other.accepted;
        self.quarantined += other.quarantined;
        for (r, n) in &other.by_reason {
            *self.by_reason.entry(*r).or_default() += n;
        }
    }
}

/// An input that was recognized and holds no readings by design (a Redfish service root or
/// collection, a Synse configuration, a schema): not an error, and not a record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoReadings {
    /// Where it is.
    pub place: Place,
    /// What it was recognized as (`Redfish ServiceRoot`, `Redfish collection`).
    pub what: String,
}

/// What one ingestion call produced.
#[derive(Debug, Clone, Default)]
pub struct IngestBatch {
    /// Accepted readings, in input order, values in canonical units.
    pub readings: Vec<Reading>,
    /// Rejected records, in input order.
    pub quarantine: Vec<Quarantined>,
    /// Counts.
    pub stats: IngestStats,
    /// Inputs recognized as holding no readings.
    pub without_readings: Vec<NoReadings>,
}

impl IngestBatch {
    /// Records an accepted reading (counts it as seen and accepted).
    pub fn accept(&mut self, r: Reading) {
        self.stats.seen += 1;
        self.stats.accepted += 1;
        self.readings.push(r);
    }

    /// Records a quarantined record (counts it as seen and quarantined, by reason).
    pub fn reject(&mut self, q: Quarantined) {
        self.stats.seen += 1;
        self.stats.quarantined += 1;
        *self.stats.by_reason.entry(q.reason).or_default() += 1;
        self.quarantine.push(q);
    }

    /// Records an input that holds no readings by design.
    pub fn no_readings(&mut self, place: Place, what: impl Into<String>) {
        self.without_readings.push(NoReadings {
            place,
            what: what.into(),
        });
    }

    /// Appends another batch.
    pub fn append(&mut self, mut other: IngestBatch) {
        self.readings.append(&mut other.readings);
        self.quarantine.append(&mut other.quarantine);
        self.without_readings.append(&mut other.without_readings);
        self.stats.merge(&other.stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_cut_on_character_boundaries() {
        let record = "é".repeat(200); // 2 bytes each
        let q = Quarantined::new(Place::line("s", 1), Reason::BadValue, "x", &record);
        assert_eq!(q.excerpt.len(), Quarantined::EXCERPT_BYTES);
        let odd = format!("a{}", "é".repeat(100));
        let q = Quarantined::new(Place::Unknown, Reason::BadValue, "x", &odd);
        assert_eq!(q.excerpt.len(), Quarantined::EXCERPT_BYTES - 1);
        assert_eq!(q.to_string(), "<input>: bad_value (x)");
    }

    #[test]
    fn counts_always_balance() {
        let mut b = IngestBatch::default();
        b.reject(Quarantined::new(
            Place::Unknown,
            Reason::UnmappedMetric,
            "",
            "go_gc 1",
        ));
        b.reject(Quarantined::new(
            Place::Unknown,
            Reason::UnmappedMetric,
            "",
            "go_gc 2",
        ));
        let mut total = IngestStats::default();
        total.merge(&b.stats);
        total.merge(&b.stats);
        assert_eq!((total.seen, total.quarantined), (4, 4));
        assert_eq!(total.by_reason.get(&Reason::UnmappedMetric), Some(&4));
    }
}
