use kelvin_model::{EntityId, Place, Reading};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::Sighting;

/// Why a record was quarantined. Counted per reason in [`IngestStats::by_reason`]; serialized
/// (and read back) as its snake_case name ([`Reason::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// The timestamp is not one the format allows (integer milliseconds in Prometheus text,
    /// seconds in OpenMetrics), is out of range, or goes backwards.
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
    /// An input larger than a size limit: [`crate::Limits::max_input_bytes`],
    /// `max_json_bytes`, the estimated heap of a JSON parse (`max_json_heap_bytes`),
    /// `max_tree_bytes`, or a Parquet page or dictionary over its bound.
    InputTooLarge,
    /// Records beyond [`crate::Limits::max_records`] or `max_tree_records` (counted as one
    /// record), or past the output budget `max_output_bytes` (each counted, one kept).
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
    /// Every reason, in declaration order (the order of [`IngestStats::by_reason`]).
    pub const ALL: [Reason; 27] = [
        Reason::LineTooLong,
        Reason::NotUtf8,
        Reason::BadMetricName,
        Reason::BadLabels,
        Reason::TooManyLabels,
        Reason::BadValue,
        Reason::NonFiniteValue,
        Reason::BadTimestamp,
        Reason::TrailingGarbage,
        Reason::MissingTimestamp,
        Reason::BadMetadata,
        Reason::UnmappedMetric,
        Reason::MissingLabel,
        Reason::InvalidEntity,
        Reason::BadUnit,
        Reason::UnknownEntity,
        Reason::BadJson,
        Reason::TooDeep,
        Reason::InputTooLarge,
        Reason::TooManyRecords,
        Reason::UnknownFormat,
        Reason::UnmappedSensor,
        Reason::BadField,
        Reason::Duplicate,
        Reason::Unreadable,
        Reason::CounterAnomaly,
        Reason::ImplausibleTime,
    ];

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
        // `pad`, so `{reason:<18}` aligns report columns.
        f.pad(self.as_str())
    }
}

/// A record that was not accepted: where it was, why, and an excerpt of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

    /// Longest detail kept, in bytes: details quote input (a value, an OID, a URI), and a
    /// quarantine entry must not grow with the line it came from.
    pub const DETAIL_BYTES: usize = 512;

    /// A quarantine entry; the excerpt is the first [`Quarantined::EXCERPT_BYTES`] of `record`
    /// and the detail at most [`Quarantined::DETAIL_BYTES`] (both cut on a character
    /// boundary; a cut detail ends with `…`).
    pub fn new(place: Place, reason: Reason, detail: impl Into<String>, record: &str) -> Self {
        let mut detail = detail.into();
        if detail.len() > Self::DETAIL_BYTES {
            let mut end = Self::DETAIL_BYTES - '…'.len_utf8();
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push('…');
            detail.shrink_to_fit();
        }
        Quarantined {
            place,
            reason,
            detail,
            excerpt: cut(record, Self::EXCERPT_BYTES).to_string(),
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl fmt::Display for Quarantined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.place, self.reason, self.detail)
    }
}

/// Counts for one ingestion call: `seen == accepted + quarantined`, always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
///
/// A batch made by [`IngestBatch::bounded`] (as [`crate::Decoders::decode_str`],
/// [`crate::Decoders::decode_path`] and the tree decoders make theirs) carries the two budgets
/// of one decode call, so that every decoder — built in or an embedder's — is held to them by
/// the batch it writes into, not by counting of its own:
///
/// - **Records** ([`crate::Limits::max_records`]; a tree's batch takes `max_tree_records`).
///   Every [`IngestBatch::accept`] and [`IngestBatch::reject`] is one record. The first
///   record past the limit is quarantined as the one [`Reason::TooManyRecords`] record that
///   stands for the rest of the input, and every later record is neither counted nor kept: the
///   decoder stops reading when [`IngestBatch::records_full`] says so. A decoder that knows a
///   record's place before it has built the record admits it first
///   ([`IngestBatch::admit_record`]), so that the record that does not fit is named by its own
///   line and text and no work is spent on it.
/// - **Output** ([`crate::Limits::max_output_bytes`]): at most that much heap, as estimated
///   for each entry kept ([`IngestBatch::kept_bytes`]). Past it every further record is still
///   counted — as seen and as quarantined with [`Reason::TooManyRecords`] — but not kept; the
///   first of them is kept as the one quarantine entry that says where the budget ran out.
///
/// So `seen == accepted + quarantined` always holds, `accepted == readings.len()` always holds,
/// and `quarantined == quarantine.len()` holds unless the output budget ran out.
/// [`IngestBatch::default`] has neither budget.
///
/// **Whose clock.** The batch knows, for each reading, whether its time is the source's own
/// (a sample's timestamp, a BMC's `Time Stamp`) or was given by the caller for a record that
/// had none (the scrape time, a capture's `taken_at`): see [`IngestBatch::defaulted`]. The
/// marks follow the readings through this type's methods; [`IngestBatch::clock_offset_ns`]
/// measures a source's clock from them and [`IngestBatch::shift_times`] corrects it.
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
    /// Workloads named by the labels of accepted samples, one per workload (see
    /// [`crate::WorkloadLabels`]); filled by the Prometheus decoder when
    /// [`crate::ParseOptions::workload_labels`] is set.
    pub sightings: BTreeMap<EntityId, Sighting>,
    /// For each reading, whether its time was defaulted (given by the caller) rather than the
    /// source's own; in step with `readings` while both change through this type's methods.
    pub(crate) defaulted: Vec<bool>,
    /// Sightings not kept for want of output budget (see [`IngestBatch::append`]).
    sightings_dropped: u64,
    budget: Budget,
    records: RecordLimit,
}

/// The record limit of a batch: how many records of one input (or one tree) it takes.
#[derive(Debug, Clone, Default)]
struct RecordLimit {
    /// Most records; `None`: no limit.
    max: Option<usize>,
    /// The limit's name, for the quarantine detail (`max_records`, `max_tree_records`).
    name: &'static str,
    /// Records counted so far (admitted ahead, accepted or rejected).
    count: usize,
    /// Records admitted ahead by [`IngestBatch::admit_record`], not yet accepted or rejected.
    ahead: usize,
    /// Set at the first record past the limit: the rest of the input is not read.
    full: bool,
}

/// Whether a record fits the record limit.
enum Admit {
    /// Counted.
    Yes,
    /// The first record past the limit: it becomes the one `TooManyRecords` record.
    Over,
    /// Past the limit, after that record: neither counted nor kept.
    No,
}

/// The output budget of a batch.
#[derive(Debug, Clone, Default)]
struct Budget {
    /// Most bytes kept; `None`: no limit.
    limit: Option<usize>,
    /// Estimated bytes of what is kept.
    used: usize,
    /// The input's name, for the place of a reading that no longer fits.
    source: Option<Arc<str>>,
    /// Whether the budget ran out (its one quarantine entry is kept).
    exhausted: bool,
}

/// Heap of a shared string: its counts and bytes (an `Arc<str>` allocation).
fn arc_str_bytes(len: usize) -> usize {
    2 * std::mem::size_of::<usize>() + len
}

/// The heap of a reading's strings (its entity and sensor counted as unshared).
pub(crate) fn reading_heap(r: &Reading) -> usize {
    arc_str_bytes(r.entity.as_str().len())
        + arc_str_bytes(r.sensor.len())
        + r.status.as_ref().map_or(0, String::capacity)
}

/// The estimated heap of a kept reading: twice its size (a growing vector's spare capacity)
/// and its strings.
pub(crate) fn reading_bytes(r: &Reading) -> usize {
    2 * std::mem::size_of::<Reading>() + reading_heap(r)
}

/// The heap of a place's strings (a shared source counts once, where it is not shared).
pub(crate) fn place_bytes(p: &Place) -> usize {
    let source = |s: &Arc<str>| {
        if Arc::strong_count(s) > 1 {
            0
        } else {
            arc_str_bytes(s.len())
        }
    };
    match p {
        Place::Line { source: s, .. } => source(s),
        Place::JsonPointer { source: s, pointer } => source(s) + pointer.capacity(),
        Place::Field(f) => f.capacity(),
        _ => 0,
    }
}

/// The estimated heap of a kept quarantine entry.
pub(crate) fn quarantined_bytes(q: &Quarantined) -> usize {
    2 * std::mem::size_of::<Quarantined>()
        + place_bytes(&q.place)
        + q.detail.capacity()
        + q.excerpt.capacity()
}

fn note_bytes(n: &NoReadings) -> usize {
    2 * std::mem::size_of::<NoReadings>() + place_bytes(&n.place) + n.what.capacity()
}

impl Budget {
    /// Whether `bytes` more fit; if so they are counted as kept.
    fn take(&mut self, bytes: usize) -> bool {
        let used = self.used.saturating_add(bytes);
        if self.exhausted || self.limit.is_some_and(|l| used > l) {
            return false;
        }
        self.used = used;
        true
    }
}

impl IngestBatch {
    /// An empty batch that keeps at most `ctx.limits.max_output_bytes` of heap (see the type's
    /// documentation); records that no longer fit are counted and named by `ctx.source`.
    pub fn bounded(ctx: &crate::Context<'_>) -> Self {
        IngestBatch::with_budget(ctx.limits.max_output_bytes, ctx.source_name())
            .with_max_records(ctx.limits.max_records)
    }

    /// The batch of a tree walk: [`IngestBatch::bounded`], with the tree's record limit
    /// ([`crate::Limits::max_tree_records`]) for all its files together.
    pub(crate) fn bounded_tree(ctx: &crate::Context<'_>) -> Self {
        let mut b = IngestBatch::with_budget(ctx.limits.max_output_bytes, ctx.source_name());
        b.records = RecordLimit {
            max: Some(ctx.limits.max_tree_records),
            name: "max_tree_records",
            ..RecordLimit::default()
        };
        b
    }

    /// Sets the record limit: this batch takes at most `n` records (see the type's
    /// documentation); the record after them is the one [`Reason::TooManyRecords`] record.
    pub fn with_max_records(mut self, n: usize) -> Self {
        self.records.max = Some(n);
        self.records.name = "max_records";
        self
    }

    /// The record limit, if any.
    pub fn max_records(&self) -> Option<usize> {
        self.records.max
    }

    /// Whether the record limit was reached: its [`Reason::TooManyRecords`] record is in, the
    /// rest of the input is neither counted nor kept, and a decoder should stop reading.
    pub fn records_full(&self) -> bool {
        self.records.full
    }

    /// Admits one record before the decoder builds it: `true` when it fits the record limit
    /// (it is counted now, and the next [`IngestBatch::accept`] or [`IngestBatch::reject`] is
    /// that record). At the first record past the limit, `at` gives its place and text, it is
    /// quarantined as the one [`Reason::TooManyRecords`] record for the rest of the input, and
    /// this returns `false` — as it does for every later record. `at` is called only then.
    ///
    /// Decoders need not call this (accepting and rejecting count records too); it lets one
    /// name the record that does not fit by its own line and stop before building it.
    pub fn admit_record<E: AsRef<str>>(&mut self, at: impl FnOnce() -> (Place, E)) -> bool {
        match self.count_record() {
            Admit::Yes => {
                self.records.ahead += 1;
                true
            }
            Admit::Over => {
                let (place, excerpt) = at();
                self.over_limit(place, excerpt.as_ref());
                false
            }
            Admit::No => false,
        }
    }

    /// Counts one record against the record limit.
    fn count_record(&mut self) -> Admit {
        let r = &mut self.records;
        if r.full {
            return Admit::No;
        }
        if r.max.is_some_and(|max| r.count >= max) {
            r.full = true;
            return Admit::Over;
        }
        r.count += 1;
        Admit::Yes
    }

    /// The record being accepted or rejected: one admitted ahead, or one counted now.
    fn take_record(&mut self) -> Admit {
        if self.records.ahead > 0 {
            self.records.ahead -= 1;
            return Admit::Yes;
        }
        self.count_record()
    }

    /// The one record that stands for the rest of an input past the record limit.
    fn over_limit(&mut self, place: Place, excerpt: &str) {
        let detail = format!(
            "more than {} records ({}); the rest of the input is not read",
            self.records.max.unwrap_or(usize::MAX),
            self.records.name
        );
        self.stats.seen += 1;
        self.keep_rejected(Quarantined::new(
            place,
            Reason::TooManyRecords,
            detail,
            excerpt,
        ));
    }

    /// Takes everything this batch holds, leaving it empty with its output budget unused and
    /// its record count (and whether it is full) as they were: the next part of one long
    /// input.
    pub(crate) fn take_part(&mut self) -> IngestBatch {
        let next = IngestBatch {
            budget: Budget {
                used: 0,
                exhausted: false,
                ..self.budget.clone()
            },
            records: RecordLimit {
                ahead: 0,
                ..self.records.clone()
            },
            ..IngestBatch::default()
        };
        std::mem::replace(self, next)
    }

    /// An empty batch that keeps at most `max_bytes` of heap; `source` names the input in the
    /// place of a reading that no longer fits.
    pub fn with_budget(max_bytes: usize, source: impl Into<Arc<str>>) -> Self {
        IngestBatch {
            budget: Budget {
                limit: Some(max_bytes),
                used: 0,
                source: Some(source.into()),
                exhausted: false,
            },
            ..IngestBatch::default()
        }
    }

    /// The estimated heap of the readings, quarantine entries and notes kept: for each entry,
    /// twice its size plus its strings.
    pub fn kept_bytes(&self) -> usize {
        self.budget.used
    }

    /// The budget this batch keeps within, if any.
    pub fn budget(&self) -> Option<usize> {
        self.budget.limit
    }

    /// Whether `bytes` more fit the budget; if so they are counted as kept.
    fn take(&mut self, bytes: usize) -> bool {
        self.budget.take(bytes)
    }

    /// Counts a record that no longer fits (already counted as seen) as quarantined with
    /// [`Reason::TooManyRecords`]; the first such record is kept to say where.
    fn overflow(&mut self, place: Place, excerpt: &str) {
        self.stats.quarantined += 1;
        *self
            .stats
            .by_reason
            .entry(Reason::TooManyRecords)
            .or_default() += 1;
        if self.budget.exhausted {
            return;
        }
        self.budget.exhausted = true;
        let detail = format!(
            "output budget of {} bytes (max_output_bytes) reached: this record and every later \
             one of this call are counted as too_many_records, not kept",
            self.budget.limit.unwrap_or(usize::MAX)
        );
        self.quarantine.push(Quarantined::new(
            place,
            Reason::TooManyRecords,
            detail,
            excerpt,
        ));
    }

    fn reading_place(&self) -> Place {
        match &self.budget.source {
            Some(s) => Place::line(Arc::clone(s), 0),
            None => Place::Unknown,
        }
    }

    /// Records an accepted reading (counts it as seen and accepted) — or, past the output
    /// budget, counts it as seen and quarantined ([`Reason::TooManyRecords`]). Its time is the
    /// source's own (see [`IngestBatch::accept_defaulted`]).
    pub fn accept(&mut self, r: Reading) {
        self.accept_with(r, false, 0);
    }

    /// [`IngestBatch::accept`] for a reading whose time is not the source's own but the one
    /// the caller gave for records without a time (the scrape time, a capture's `taken_at`):
    /// such a reading says nothing about the source's clock ([`IngestBatch::defaulted`]).
    pub fn accept_defaulted(&mut self, r: Reading) {
        self.accept_with(r, true, 0);
    }

    /// Accepts `r` with `extra` bytes kept beside it (its new sighting): `true` when both are
    /// kept, `false` when the record limit or the output budget refused them (counted).
    pub(crate) fn accept_with(&mut self, r: Reading, defaulted: bool, extra: usize) -> bool {
        match self.take_record() {
            Admit::Yes => {}
            Admit::Over => {
                let excerpt = format!("{} {} {}", r.entity, r.sensor, r.kind);
                let place = self.reading_place();
                self.over_limit(place, &excerpt);
                return false;
            }
            Admit::No => return false,
        }
        self.stats.seen += 1;
        if self.take(reading_bytes(&r).saturating_add(extra)) {
            self.stats.accepted += 1;
            self.push_reading(r, defaulted);
            true
        } else {
            let excerpt = format!("{} {} {}", r.entity, r.sensor, r.kind);
            let place = self.reading_place();
            self.overflow(place, &excerpt);
            false
        }
    }

    /// Pushes a reading already counted, with its clock mark.
    fn push_reading(&mut self, r: Reading, defaulted: bool) {
        if self.defaulted.len() == self.readings.len() {
            self.defaulted.push(defaulted);
        }
        self.readings.push(r);
    }

    /// For each reading, whether its time was defaulted — given by the caller (the scrape
    /// time of [`crate::ParseOptions::default_timestamp`], a capture's `taken_at`) to a record
    /// that had none — rather than read from the source (a sample's timestamp, a BMC's
    /// `Time Stamp`). Set by the Prometheus decoder, by [`crate::Decoders`] (which decodes
    /// without the context's default time, then gives it to the readings left without one)
    /// and by [`crate::Admission::decode`] for every batch kind. `None` when `readings` was
    /// edited directly and no longer lines up with the marks.
    ///
    /// ```
    /// use kelvin_ingest::{ParseOptions, RuleSet, prometheus};
    /// use kelvin_model::Timestamp;
    ///
    /// let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212\n\
    ///             node_rapl_package_joules_total{instance=\"h1:9100\",index=\"0\"} 5 1793606400000\n";
    /// let opts = ParseOptions::default().with_scrape_time(Timestamp::from_secs(1_793_606_401));
    /// let b = prometheus::parse_str(text, "scrape", &RuleSet::builtin(), &opts);
    /// assert_eq!(b.defaulted(), Some(&[true, false][..]));
    /// ```
    pub fn defaulted(&self) -> Option<&[bool]> {
        (self.defaulted.len() == self.readings.len()).then_some(self.defaulted.as_slice())
    }

    /// Gives every reading without a time ([`kelvin_model::Timestamp::UNKNOWN`]) the time
    /// `t`, marked as defaulted ([`IngestBatch::defaulted`]); returns how many. An unknown
    /// `t` changes nothing.
    pub fn fill_times(&mut self, t: kelvin_model::Timestamp) -> usize {
        if !t.is_known() {
            return 0;
        }
        let mut n = 0;
        let marks = self.defaulted.len() == self.readings.len();
        for (i, r) in self.readings.iter_mut().enumerate() {
            if !r.ts.is_known() {
                r.ts = t;
                n += 1;
                if marks {
                    self.defaulted[i] = true;
                }
            }
        }
        n
    }

    /// Sightings not kept because the output budget ran out while appending another batch
    /// ([`IngestBatch::append`]); their readings are counted as usual.
    pub fn sightings_dropped(&self) -> u64 {
        self.sightings_dropped
    }

    /// Takes the readings out with their clock marks (`None` when they no longer line up).
    pub(crate) fn take_readings(&mut self) -> (Vec<Reading>, Option<Vec<bool>>) {
        let readings = std::mem::take(&mut self.readings);
        let marks = std::mem::take(&mut self.defaulted);
        let marks = (marks.len() == readings.len()).then_some(marks);
        (readings, marks)
    }

    /// Accepts `r` as [`IngestBatch::accept_with`] does and records that `seed`'s workload
    /// was seen in it: a new sighting (kept with the reading, or neither), or more of an
    /// existing one (its labels and series as far as the output budget allows).
    pub(crate) fn accept_seen(
        &mut self,
        r: Reading,
        defaulted: bool,
        seed: Option<&crate::workload::Seed>,
    ) {
        let Some(seed) = seed else {
            self.accept_with(r, defaulted, 0);
            return;
        };
        let new = !self.sightings.contains_key(&seed.workload);
        let extra = if new { seed.sighting_bytes() } else { 0 };
        if !self.accept_with(r, defaulted, extra) {
            return;
        }
        let Some(r) = self.readings.last() else {
            return;
        };
        let budget = &mut self.budget;
        match self.sightings.get_mut(&seed.workload) {
            Some(s) => s.see(seed, r, defaulted, |n| budget.take(n)),
            None => {
                let s = Sighting::from_seed(seed, r, defaulted);
                self.sightings.insert(seed.workload.clone(), s);
            }
        }
    }

    /// Records a quarantined record (counts it as seen and quarantined, by reason) — past the
    /// output budget, by [`Reason::TooManyRecords`] instead. A record that is already a
    /// [`Reason::TooManyRecords`] record (a decoder's own, for a buffer it bounds) is kept as it
    /// is when it is the one past the record limit.
    pub fn reject(&mut self, q: Quarantined) {
        match self.take_record() {
            Admit::Yes => {}
            Admit::Over if q.reason == Reason::TooManyRecords => {}
            Admit::Over => return self.over_limit(q.place, &q.excerpt),
            Admit::No => return,
        }
        self.stats.seen += 1;
        self.keep_rejected(q);
    }

    /// Counts one record quarantined for `reason` without keeping it: a repeat of an example
    /// the batch already holds (the Prometheus decoder's unmapped repeats, when asked). Called
    /// after [`IngestBatch::admit_record`] accepted it; [`crate::QuarantineLog::extend_from_batch`]
    /// counts it as it counts a budget's overflow.
    pub(crate) fn reject_repeat(&mut self, reason: Reason) {
        if !matches!(self.take_record(), Admit::Yes) {
            return;
        }
        self.stats.seen += 1;
        self.stats.quarantined += 1;
        *self.stats.by_reason.entry(reason).or_default() += 1;
    }

    /// Moves a record counted as accepted (and already taken out of `readings`) to the
    /// quarantine as `q`: the same record, so `seen` stays and the record limit does not
    /// apply; kept within the output budget like any entry.
    pub(crate) fn requarantine(&mut self, q: Quarantined) {
        self.stats.accepted = self.stats.accepted.saturating_sub(1);
        self.keep_rejected(q);
    }

    /// Moves every accepted reading for which `refuse` gives a detail to the quarantine under
    /// `reason` at `place` (each counted once: from accepted to quarantined), keeping the rest
    /// in order with their defaulted-time flags; returns how many moved. The one mechanism
    /// behind [`IngestBatch::sift_times`], [`IngestBatch::sift_poll`] and an embedder's own
    /// time checks (a live engine's late readings).
    pub fn sift_readings(
        &mut self,
        place: &Place,
        reason: Reason,
        mut refuse: impl FnMut(&Reading) -> Option<String>,
    ) -> usize {
        let (readings, marks) = self.take_readings();
        let keep_marks = marks.is_some();
        let mut marks = marks.into_iter().flatten();
        let mut moved = 0;
        for r in readings {
            let defaulted = marks.next().unwrap_or(false);
            let Some(detail) = refuse(&r) else {
                self.readings.push(r);
                if keep_marks {
                    self.defaulted.push(defaulted);
                }
                continue;
            };
            moved += 1;
            let excerpt = format!(
                "{} {} {} {} @ {}",
                r.entity,
                r.sensor,
                r.kind,
                r.value,
                r.ts.to_rfc3339()
            );
            self.requarantine(Quarantined::new(place.clone(), reason, detail, &excerpt));
        }
        moved
    }

    /// Keeps a quarantine entry already counted as seen, within the output budget.
    fn keep_rejected(&mut self, q: Quarantined) {
        if self.take(quarantined_bytes(&q)) {
            self.stats.quarantined += 1;
            *self.stats.by_reason.entry(q.reason).or_default() += 1;
            self.quarantine.push(q);
        } else {
            self.overflow(q.place, &q.excerpt);
        }
    }

    /// Records an input that holds no readings by design (not a record; past the output
    /// budget it is not kept).
    pub fn no_readings(&mut self, place: Place, what: impl Into<String>) {
        let note = NoReadings {
            place,
            what: what.into(),
        };
        if self.take(note_bytes(&note)) {
            self.without_readings.push(note);
        }
    }

    /// Appends another batch (within this batch's output budget, if it has one). Its records
    /// move as they are, not counted against this batch's record limit: the other batch had
    /// its own.
    pub fn append(&mut self, mut other: IngestBatch) {
        let all_fit = !self.budget.exhausted
            && self
                .budget
                .limit
                .is_none_or(|l| self.budget.used.saturating_add(other.budget.used) <= l);
        let marks = self.defaulted().is_some() && other.defaulted().is_some();
        self.sightings_dropped += other.sightings_dropped;
        let sightings = std::mem::take(&mut other.sightings);
        if all_fit {
            fn move_all<T>(to: &mut Vec<T>, from: &mut Vec<T>) {
                if to.is_empty() {
                    std::mem::swap(to, from);
                } else {
                    to.append(from);
                }
            }
            self.budget.used = self.budget.used.saturating_add(other.budget.used);
            move_all(&mut self.readings, &mut other.readings);
            move_all(&mut self.defaulted, &mut other.defaulted);
            move_all(&mut self.quarantine, &mut other.quarantine);
            move_all(&mut self.without_readings, &mut other.without_readings);
            self.stats.merge(&other.stats);
            self.merge_sightings(sightings, true);
            if !marks {
                self.defaulted.clear();
            }
            return;
        }
        // Counts move as they are; entries that do not fit move to too_many_records.
        self.stats.merge(&other.stats);
        self.readings.reserve(other.readings.len());
        let flags = std::mem::take(&mut other.defaulted);
        let mut flags = flags.into_iter().chain(std::iter::repeat(false));
        for r in other.readings {
            let defaulted = flags.next().unwrap_or(false);
            if self.take(reading_bytes(&r)) {
                self.push_reading(r, defaulted);
            } else {
                self.stats.accepted -= 1;
                let excerpt = format!("{} {} {}", r.entity, r.sensor, r.kind);
                let place = self.reading_place();
                self.overflow(place, &excerpt);
            }
        }
        for q in other.quarantine {
            if self.take(quarantined_bytes(&q)) {
                self.quarantine.push(q);
                continue;
            }
            self.stats.quarantined -= 1;
            if let Some(n) = self.stats.by_reason.get_mut(&q.reason) {
                *n -= 1;
                if *n == 0 {
                    self.stats.by_reason.remove(&q.reason);
                }
            }
            self.overflow(q.place, &q.excerpt);
        }
        for n in other.without_readings {
            if self.take(note_bytes(&n)) {
                self.without_readings.push(n);
            }
        }
        self.merge_sightings(sightings, false);
        if !marks {
            // Either side's marks were lost to a direct edit: so are the result's.
            self.defaulted.clear();
        }
    }

    /// Merges another batch's sightings into this one's; `counted`: their bytes are already
    /// in this batch's budget, else each is kept only if it fits (a new one that does not is
    /// counted in [`IngestBatch::sightings_dropped`]).
    fn merge_sightings(&mut self, other: BTreeMap<EntityId, Sighting>, counted: bool) {
        for (id, s) in other {
            let budget = &mut self.budget;
            match self.sightings.entry(id) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    e.get_mut().merge(s, |n| counted || budget.take(n));
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    if counted || budget.take(s.heap_bytes()) {
                        e.insert(s);
                    } else {
                        self.sightings_dropped += 1;
                    }
                }
            }
        }
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
    fn details_are_cut_too() {
        let q = Quarantined::new(Place::Unknown, Reason::BadValue, "é".repeat(1000), "");
        assert!(q.detail.len() <= Quarantined::DETAIL_BYTES);
        assert!(q.detail.ends_with('…'));
        let q = Quarantined::new(Place::Unknown, Reason::BadValue, "short", "");
        assert_eq!(q.detail, "short");
    }

    fn reading(i: usize) -> Reading {
        Reading::new(
            kelvin_model::EntityId::new("h1").unwrap(),
            format!("s{i}"),
            kelvin_model::SensorKind::Power,
            1.0,
            kelvin_model::Timestamp::UNKNOWN,
        )
    }

    fn balanced(b: &IngestBatch) {
        assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        assert_eq!(b.stats.accepted as usize, b.readings.len());
        let by_reason: u64 = b.stats.by_reason.values().sum();
        assert_eq!(by_reason, b.stats.quarantined);
    }

    #[test]
    fn past_the_budget_records_are_counted_not_kept() {
        let mut b = IngestBatch::with_budget(2_000, "src");
        for i in 0..100 {
            b.accept(reading(i));
            b.reject(Quarantined::new(
                Place::line("src", i as u64),
                Reason::BadValue,
                "x",
                "y",
            ));
        }
        balanced(&b);
        assert_eq!(b.stats.seen, 200);
        assert!(b.kept_bytes() <= 2_000);
        let over = b.stats.by_reason[&Reason::TooManyRecords];
        assert_eq!(
            b.readings.len() + b.quarantine.len() - 1 + over as usize,
            200
        );
        let last = b.quarantine.last().unwrap();
        assert_eq!(last.reason, Reason::TooManyRecords);
        assert!(last.detail.contains("max_output_bytes"));
        // nothing is kept once the budget ran out, even what would fit
        let kept = b.readings.len();
        b.accept(reading(0));
        assert_eq!(b.readings.len(), kept);
        // an unbounded batch keeps everything and still counts its bytes
        let mut u = IngestBatch::default();
        u.accept(reading(1));
        assert!(u.kept_bytes() > 2 * std::mem::size_of::<Reading>());
        assert_eq!(u.budget(), None);
    }

    #[test]
    fn appending_respects_the_budget() {
        let mut small = IngestBatch::with_budget(1_500, "dst");
        let mut big = IngestBatch::default();
        for i in 0..50 {
            big.accept(reading(i));
            big.reject(Quarantined::new(Place::Unknown, Reason::BadField, "d", "e"));
        }
        small.append(big.clone());
        balanced(&small);
        assert_eq!(small.stats.seen, 100);
        assert!(small.kept_bytes() <= 1_500);
        assert!(small.stats.by_reason.contains_key(&Reason::TooManyRecords));
        // what fits moves whole, counts and all
        let mut roomy = IngestBatch::with_budget(1 << 20, "dst");
        roomy.append(big.clone());
        balanced(&roomy);
        assert_eq!((roomy.readings.len(), roomy.quarantine.len()), (50, 50));
        assert_eq!(roomy.kept_bytes(), big.kept_bytes());
    }

    #[test]
    fn the_record_limit_counts_every_record_once() {
        // records accepted and rejected without admission count themselves
        let mut b = IngestBatch::default().with_max_records(3);
        for i in 0..10 {
            b.accept(reading(i));
        }
        balanced(&b);
        assert_eq!((b.stats.seen, b.stats.accepted), (4, 3));
        assert!(b.records_full());
        let over = &b.quarantine[0];
        assert_eq!(over.reason, Reason::TooManyRecords);
        assert_eq!(over.place.to_string(), "<input>");
        assert_eq!(over.excerpt, "h1 s3 power");
        assert_eq!(
            over.detail,
            "more than 3 records (max_records); the rest of the input is not read"
        );
        // admitted records are counted once, even when they come later (buffered), and the
        // record past the limit is named where it was admitted
        let mut b = IngestBatch::default().with_max_records(2);
        assert!(b.admit_record(|| (Place::line("src", 1), "a")));
        assert!(b.admit_record(|| (Place::line("src", 2), "b")));
        assert!(!b.admit_record(|| (Place::line("src", 3), "c")));
        assert!(!b.admit_record(|| -> (Place, &str) { unreachable!("not asked again") }));
        b.reject(Quarantined::new(
            Place::line("src", 2),
            Reason::BadValue,
            "x",
            "b",
        ));
        b.accept(reading(1));
        b.accept(reading(2)); // past the limit: neither counted nor kept
        balanced(&b);
        assert_eq!(
            (b.stats.seen, b.stats.accepted, b.stats.quarantined),
            (3, 1, 2)
        );
        assert_eq!(b.quarantine[0].place.to_string(), "src:3");
        assert_eq!(b.quarantine[0].excerpt, "c");
        // a decoder's own TooManyRecords record, when it is the one past the limit, stands
        let mut b = IngestBatch::default().with_max_records(1);
        b.accept(reading(0));
        b.reject(Quarantined::new(
            Place::Unknown,
            Reason::TooManyRecords,
            "mine",
            "",
        ));
        assert_eq!(b.quarantine[0].detail, "mine");
        assert!(b.records_full());
        // a part taken off keeps counting against the same limit
        let mut b = IngestBatch::with_budget(1 << 20, "src").with_max_records(2);
        b.accept(reading(0));
        let first = b.take_part();
        assert_eq!(first.readings.len(), 1);
        b.accept(reading(1));
        b.accept(reading(2));
        assert_eq!((b.stats.accepted, b.stats.quarantined), (1, 1));
        assert_eq!(b.budget(), Some(1 << 20));
        // no limit: everything is counted and kept
        let mut b = IngestBatch::default();
        for i in 0..10 {
            assert!(b.admit_record(|| (Place::Unknown, "")));
            b.accept(reading(i));
        }
        assert_eq!((b.stats.accepted, b.max_records()), (10, None));
    }

    #[test]
    fn every_reason_is_listed_once_and_named_alike_everywhere() {
        // An exhaustive match: a new reason does not compile until it is listed here.
        fn index(r: Reason) -> usize {
            match r {
                Reason::LineTooLong => 0,
                Reason::NotUtf8 => 1,
                Reason::BadMetricName => 2,
                Reason::BadLabels => 3,
                Reason::TooManyLabels => 4,
                Reason::BadValue => 5,
                Reason::NonFiniteValue => 6,
                Reason::BadTimestamp => 7,
                Reason::TrailingGarbage => 8,
                Reason::MissingTimestamp => 9,
                Reason::BadMetadata => 10,
                Reason::UnmappedMetric => 11,
                Reason::MissingLabel => 12,
                Reason::InvalidEntity => 13,
                Reason::BadUnit => 14,
                Reason::UnknownEntity => 15,
                Reason::BadJson => 16,
                Reason::TooDeep => 17,
                Reason::InputTooLarge => 18,
                Reason::TooManyRecords => 19,
                Reason::UnknownFormat => 20,
                Reason::UnmappedSensor => 21,
                Reason::BadField => 22,
                Reason::Duplicate => 23,
                Reason::Unreadable => 24,
                Reason::CounterAnomaly => 25,
                Reason::ImplausibleTime => 26,
            }
        }
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(index(*r), i);
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), *r);
        }
        let mut sorted = Reason::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, Reason::ALL, "declaration order");
        let q = Quarantined::new(Place::line("s", 3), Reason::BadValue, "d", "e");
        let back: Quarantined = serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn clock_marks_follow_the_readings() {
        let timed = |ts: i64| Reading {
            ts: kelvin_model::Timestamp::from_nanos(ts),
            ..reading(0)
        };
        let mut a = IngestBatch::default();
        a.accept(timed(1));
        a.accept_defaulted(timed(2));
        let mut b = IngestBatch::default();
        b.accept(reading(1)); // no time yet
        b.accept(timed(3));
        assert_eq!(b.fill_times(kelvin_model::Timestamp::from_nanos(9)), 1);
        assert_eq!(b.fill_times(kelvin_model::Timestamp::UNKNOWN), 0);
        assert_eq!(b.defaulted(), Some(&[true, false][..]));
        a.append(b.clone());
        assert_eq!(a.defaulted(), Some(&[false, true, true, false][..]));
        // into an empty batch, and through the slow path of a tight budget
        let mut e = IngestBatch::default();
        e.append(b.clone());
        assert_eq!(e.defaulted(), Some(&[true, false][..]));
        let mut tight = IngestBatch::with_budget(reading_bytes(&b.readings[0]) + 1, "t");
        tight.append(b.clone());
        assert_eq!(tight.readings.len(), 1);
        assert_eq!(tight.defaulted(), Some(&[true][..]));
        // a direct edit on either side loses the marks of the result
        let mut edited = b.clone();
        edited.readings.push(timed(5));
        assert_eq!(edited.defaulted(), None);
        let mut c = a.clone();
        c.append(edited.clone());
        assert_eq!(c.defaulted(), None);
        c.accept(timed(6));
        assert_eq!(c.defaulted(), None, "marks do not come back out of step");
        let mut t = IngestBatch::with_budget(reading_bytes(&b.readings[0]) + 1, "t");
        t.append(edited);
        assert_eq!(t.defaulted(), None);
        // a part taken off keeps its marks
        let mut p = a.clone();
        let part = p.take_part();
        assert_eq!(part.defaulted(), Some(&[false, true, true, false][..]));
        assert_eq!(p.defaulted(), Some(&[][..]));
    }

    #[test]
    fn implausible_times_leave_a_full_batch_as_themselves() {
        // A batch at its record limit: the sifted reading is quarantined as implausible, not
        // as one more record past the limit.
        let day = 86_400 * kelvin_model::Timestamp::NANOS_PER_SEC;
        let t0 = 1_793_606_400 * kelvin_model::Timestamp::NANOS_PER_SEC;
        let mut b = IngestBatch::default().with_max_records(3);
        for ts in [t0, t0 + 1, 5] {
            b.accept(Reading {
                ts: kelvin_model::Timestamp::from_nanos(ts),
                ..reading(0)
            });
        }
        let mut gate = kelvin_model::TimeGate::new(kelvin_model::TimeBounds::default());
        b.sift_times(&mut gate, "src", "");
        balanced(&b);
        assert_eq!(b.stats.seen, 3);
        assert_eq!(b.quarantine[0].reason, Reason::ImplausibleTime);
        assert!(
            b.sift_poll(
                kelvin_model::Timestamp::from_nanos(t0 + 2 * day),
                &crate::PollBounds::default(),
                "src"
            ) == 2
        );
        balanced(&b);
        assert_eq!(b.stats.by_reason[&Reason::ImplausibleTime], 3);
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
