//! Prometheus exposition text (format 0.0.4) and OpenMetrics 1.0 text, in pull ([`parse_str`],
//! [`read`]) and push ([`Decoder`]) forms. Each sample line is one record: it becomes a
//! [`Reading`] through the [`RuleSet`], or is quarantined with its [`Reason`] and line.
//!
//! # Which format
//!
//! [`ParseOptions::format`] says ([`Exposition`]): declared by the caller — a scraper takes it
//! from the response's content type ([`format_of_content_type`]) — or, by default, recognized
//! per exposition ([`Exposition::Auto`]): a body whose last line is `# EOF` (at most one line
//! feed after it, as the OpenMetrics grammar allows) and that is at most
//! [`AUTO_DETECT_BYTES`] long is OpenMetrics, any other Prometheus text ([`format_of_body`]).
//! Prometheus text does not end with `# EOF`, so it reads as it always has; declare
//! [`Exposition::Text004`] for a text that does. The pull forms see the whole body; the push
//! form decides at the end of each exposition and holds back, until then, the lines whose
//! reading depends on the format (see [`Decoder`]). Either way a body decodes the same.
//!
//! # Prometheus text 0.0.4
//!
//! Per line, after trimming surrounding blanks: `name [{label="value",...}] value
//! [timestamp]`, fields separated by runs of spaces or tabs; the timestamp is an integer of
//! milliseconds. Values are any float (`NaN`, `+Inf` and `-Inf` included). In label values
//! `\\`, `\"` and `\n` are a backslash, a double quote and a line feed, and a backslash before
//! any other character stays as written (`\z` is `\z`), as in Prometheus' own parser. `#`
//! lines are `# HELP` and `# TYPE` (a known type, `untyped` included) or free comments; blank
//! lines are skipped.
//!
//! # OpenMetrics 1.0
//!
//! The specification's ABNF, strictly, and the rules of its data model that one exposition
//! shows:
//! - lines end with a line feed alone: no blank lines, no leading or trailing blanks, one
//!   space between fields, no blanks inside a label set and no trailing comma;
//! - metric and label names as in Prometheus text; a label name given twice is refused;
//! - values are OpenMetrics numbers: decimal with an optional exponent, `NaN`, `+Inf`, `-Inf`
//!   (`inf` and `infinity` in any case; no sign on `NaN`), never hexadecimal or `1_000`;
//! - timestamps are seconds — `1700000000`, `1700000000.123456789`, `1.7e9`, negative too —
//!   converted to nanoseconds exactly from their decimal digits (rounded to the nearest
//!   nanosecond, ties to even); `NaN` and `Inf` are not timestamps;
//! - an exemplar may follow a counter's `_total` or a histogram's `_bucket`:
//!   ` # {labels} value [timestamp]`, its label names and values at most 128 characters in
//!   all, its value within its bucket. It is checked, then dropped: the reading is the
//!   sample's;
//! - `#` lines are `# TYPE name type` (`counter`, `gauge`, `histogram`, `gaugehistogram`,
//!   `stateset`, `info`, `summary`, `unknown`; not `untyped`), `# HELP name text`,
//!   `# UNIT name unit` (empty, or the suffix `_unit` of the family name; none on a stateset
//!   or an info) and `# EOF`, which ends the exposition: every line after it is refused;
//! - a sample belongs to the family declared last when its name is the family's plus a
//!   suffix of its type (`_total`, `_created` for a counter; `_bucket`, `_count`, `_sum`,
//!   `_created` for a histogram; `_bucket`, `_gcount`, `_gsum` for a gauge histogram;
//!   `_info` for an info; none, `_count`, `_sum`, `_created` for a summary; none otherwise),
//!   else it starts a family of type `unknown`;
//! - values a type forbids: a NaN or negative counter total; a NaN, negative or fractional
//!   bucket or count; a NaN or negative sum, and a histogram `_sum` beside negative buckets;
//!   a negative quantile; a stateset value but 0 or 1; an info value but 1;
//! - labels a type needs or forbids: `le` on every bucket (a number; the last is `+Inf`) and
//!   on nothing else of a histogram; `quantile` (from 0 to 1) on a summary's quantiles only;
//!   a stateset's state label, named after its family;
//! - order: a family's metadata comes before its samples, once each; families, and a
//!   family's metrics (label sets), are neither interleaved nor repeated, and no family's
//!   name is another's sample name; a metric's samples all have a timestamp or none, in time
//!   order; a histogram point's buckets go in increasing `le`, are cumulative, end with a
//!   `+Inf` bucket equal to the `_count`, and there is a `_count` if and only if a `_sum`.
//!
//! What OpenMetrics forbids is quarantined line by line, with the [`Reason`] of the part at
//! fault ([`Reason::BadMetricName`], [`Reason::BadLabels`], [`Reason::BadValue`],
//! [`Reason::BadTimestamp`], [`Reason::BadMetadata`]; [`Reason::TrailingGarbage`] for an
//! exemplar where none may be and for lines after `# EOF`; [`Reason::Duplicate`] for a
//! repeated or interleaved family or metric; [`Reason::BadField`] for a histogram point that
//! ends incomplete, placed at its last line) and a detail naming the rule. The specification
//! calls an invalid exposition erroneous as a whole; Kelvin keeps every valid sample of it
//! and counts each violation instead. An exposition that ends without `# EOF` (a truncated
//! scrape) keeps its samples too, and adds one [`Reason::BadMetadata`] record at its last line.
//! Not enforced: names beginning with `_` (reserved, but the grammar allows them), the
//! canonical rendering of `le` and `quantile` values (which parsers must not insist on), the
//! time order of metrics across expositions. Past 100,000 families, or metrics in a family,
//! the interleaving checks see only the first ones (bounded memory).
//!
//! # Readings, in both formats
//!
//! A `NaN` value is a reading of [`Quality::Absent`]; `±Inf` is quarantined as
//! [`Reason::NonFiniteValue`] (no sensor measures infinity); a timestamp outside the
//! nanosecond range of a time (about 1677 to 2262) is [`Reason::BadTimestamp`].

use std::collections::HashSet;
use std::io::BufRead;
use std::sync::Arc;

use kelvin_model::{EntityId, Place, Quality, Reading, Timestamp};

mod cache;
mod exposition;
mod line;
mod om_line;
mod om_state;
mod stream;

pub use cache::SeriesCache;
pub use exposition::{AUTO_DETECT_BYTES, Exposition, format_of_body, format_of_content_type};
use line::{Core, LabelSpan, is_blank, owned_labels, parse_core, parse_tail};
pub use line::{Line, LineError, Sample, parse_line};
use om_state::OmState;
use stream::{Hold, Mode, Stamp};

use crate::rules::MapFailure;
use crate::workload::{HostLabel, Named, Seed};
use crate::{
    Confidence, Context, Decode, Format, IngestBatch, IngestError, Quarantined, Reason, RuleSet,
    WorkloadLabels,
};

/// Parsing limits and defaults. Construct with [`ParseOptions::default`] and the `with_*` setters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParseOptions {
    /// The scrape time: the time of samples without a timestamp, as the exposition format
    /// defines it (the time the scraper fetched them). Such readings are marked as defaulted
    /// ([`IngestBatch::defaulted`]). Default `None`: such samples are quarantined with
    /// [`Reason::MissingTimestamp`].
    pub default_timestamp: Option<Timestamp>,
    /// Longest line accepted, in bytes. Default 64 KiB; longer lines are quarantined, and the
    /// push decoder never buffers more than this per line.
    pub max_line_bytes: usize,
    /// Most labels accepted on one sample. Default 64.
    pub max_labels: usize,
    /// When set, readings for entities outside this set are quarantined with
    /// [`Reason::UnknownEntity`]. Default `None` (every entity accepted).
    pub known_entities: Option<Arc<HashSet<EntityId>>>,
    /// Labels added to every sample that lacks them, as Prometheus adds target labels on a
    /// scrape (`instance`, `job`). Default empty.
    pub target_labels: Vec<(String, String)>,
    /// Whether a sample without a timestamp (and no `default_timestamp`) is quarantined with
    /// [`Reason::MissingTimestamp`] (default `true`, what a store needs) or accepted at
    /// [`Timestamp::UNKNOWN`] (for inspection tools).
    pub require_timestamp: bool,
    /// Most records a decoder produces over its life (its batch's record limit, see
    /// [`IngestBatch::with_max_records`]); past it, one record with
    /// [`Reason::TooManyRecords`] stands for the rest of the input, which is not parsed.
    /// Default: no limit, because a push [`Decoder`] fed a long stream is drained by its caller
    /// as it goes; [`crate::scrape::Scraper`] sets [`crate::Limits::max_records`], and
    /// [`Prometheus`] (the [`Decode`] form) decodes into the caller's batch, which carries
    /// both budgets.
    pub max_records: usize,
    /// Most heap a decoder's batch keeps between drains (see [`IngestBatch::bounded`]): past
    /// it, records are counted as [`Reason::TooManyRecords`] and not kept. Default: no limit,
    /// as for `max_records`.
    pub max_output_bytes: usize,
    /// Which labels name workloads (see [`WorkloadLabels`] and [`crate::Sighting`]): with
    /// [`ParseOptions::known_entities`], a sample whose rule entity is unknown but whose labels
    /// name a workload on a known host is accepted under the workload's id; every accepted
    /// sample naming a workload on a known host is recorded in [`IngestBatch::sightings`].
    /// Default `None`.
    pub workload_labels: Option<WorkloadLabels>,
    /// The exposition format: Prometheus text 0.0.4, OpenMetrics 1.0, or recognized per
    /// exposition ([`Exposition::Auto`], the default: OpenMetrics when its last line is
    /// `# EOF`). A scraper sets it from the response's content type
    /// ([`format_of_content_type`]).
    pub format: Exposition,
    /// Keep a record of every sample of a metric no rule maps (`true`); with `false`, the
    /// default, only of each such metric family's first sample the decoder sees (its first
    /// place; up to 4,096 families; a [`SeriesCache`] handed from decoder to decoder remembers
    /// them, so a source's later scrapes keep none). The others are counted as quarantined
    /// ([`Reason::UnmappedMetric`]) without a record, as a budget's overflow is, and without
    /// parsing past their name: the quarantine log's counts are the same, its examples fewer,
    /// and a node exporter's thousand unmapped lines a scrape cost a count each. A family is
    /// the metric name without a histogram's or summary's `_bucket`, `_sum`, `_count` or
    /// `_created`.
    pub every_unmapped: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            default_timestamp: None,
            max_line_bytes: 64 * 1024,
            max_labels: 64,
            known_entities: None,
            target_labels: Vec::new(),
            require_timestamp: true,
            max_records: usize::MAX,
            max_output_bytes: usize::MAX,
            workload_labels: None,
            format: Exposition::Auto,
            every_unmapped: false,
        }
    }
}

impl ParseOptions {
    /// Sets [`ParseOptions::default_timestamp`].
    pub fn with_default_timestamp(mut self, ts: Timestamp) -> Self {
        self.default_timestamp = Some(ts);
        self
    }

    /// Sets the scrape time, [`ParseOptions::default_timestamp`]: samples without a timestamp
    /// take it.
    pub fn with_scrape_time(self, ts: Timestamp) -> Self {
        self.with_default_timestamp(ts)
    }

    /// Sets [`ParseOptions::workload_labels`].
    pub fn with_workload_labels(mut self, labels: WorkloadLabels) -> Self {
        self.workload_labels = Some(labels);
        self
    }

    /// Sets [`ParseOptions::format`].
    ///
    /// ```
    /// use kelvin_ingest::{Reason, RuleSet};
    /// use kelvin_ingest::prometheus::{Exposition, ParseOptions, parse_str};
    ///
    /// // A Prometheus text body that happens to end with `# EOF`: declared, it stays text
    /// // (integer milliseconds), where `Auto` would read OpenMetrics seconds.
    /// let body = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212 1700000000000\n# EOF\n";
    /// let rules = RuleSet::builtin();
    /// let text = ParseOptions::default().with_format(Exposition::Text004);
    /// assert_eq!(parse_str(body, "h1", &rules, &text).stats.accepted, 1);
    /// let auto = parse_str(body, "h1", &rules, &ParseOptions::default());
    /// assert_eq!(auto.quarantine[0].reason, Reason::BadTimestamp);
    /// ```
    pub fn with_format(mut self, format: Exposition) -> Self {
        self.format = format;
        self
    }

    /// Sets [`ParseOptions::every_unmapped`].
    pub fn with_every_unmapped(mut self, every: bool) -> Self {
        self.every_unmapped = every;
        self
    }

    /// Sets [`ParseOptions::max_line_bytes`].
    pub fn with_max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }

    /// Sets [`ParseOptions::max_labels`].
    pub fn with_max_labels(mut self, n: usize) -> Self {
        self.max_labels = n;
        self
    }

    /// Sets [`ParseOptions::max_records`].
    pub fn with_max_records(mut self, n: usize) -> Self {
        self.max_records = n;
        self
    }

    /// Sets [`ParseOptions::max_output_bytes`].
    pub fn with_max_output_bytes(mut self, n: usize) -> Self {
        self.max_output_bytes = n;
        self
    }

    /// Adds a target label ([`ParseOptions::target_labels`]), e.g. `("instance", "h1:9100")`.
    pub fn with_target_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.target_labels.push((name.into(), value.into()));
        self
    }

    /// Sets [`ParseOptions::known_entities`].
    pub fn with_known_entities(mut self, ids: Arc<HashSet<EntityId>>) -> Self {
        self.known_entities = Some(ids);
        self
    }
}

/// How a series (`metric{labels}`) maps, computed once per distinct series text and cached.
#[derive(Debug, Clone)]
enum Resolution {
    Mapped {
        kind: kelvin_model::SensorKind,
        unit: kelvin_model::Unit,
        entity: EntityId,
        sensor: kelvin_model::SensorName,
        /// The workload the series' labels name, on a known host.
        seed: Option<Arc<Seed>>,
        /// Whether another known-entity set that still holds its entity resolves it the same
        /// way (it names no workload, whose host depends on which hosts are known).
        settled: bool,
    },
    Rejected {
        reason: Reason,
        detail: String,
    },
}

/// A reading the decoder emits: whether its time is the scrape's, and the workload its
/// labels name.
struct Emitted {
    reading: Reading,
    defaulted: bool,
    seed: Option<Arc<Seed>>,
}

/// Bodies from this size on reserve room for their readings up front ([`Decoder::reserve`]).
const RESERVE_FROM_BYTES: usize = 1 << 20;

/// Distinct unmapped metrics a decoder (and the cache it hands on) keeps one example of, with
/// [`ParseOptions::every_unmapped`] off (past it, each sample is a record).
const MAX_UNMAPPED_EXAMPLES: usize = 4096;

/// The push form: feed bytes as they arrive ([`Decoder::push`]), then [`Decoder::finish`].
///
/// Memory is bounded by [`ParseOptions::max_line_bytes`]: a line longer than that is skipped up
/// to its end and quarantined with [`Reason::LineTooLong`]. Mapping a series to its entity and
/// sensor is done once per distinct `metric{labels}` text and cached, so a long-lived decoder
/// (one per scrape target) pays it once per series, not once per sample; the cache holds at
/// most 100,000 series and 16 MiB of series text. What the batch keeps between drains is
/// bounded by [`ParseOptions::max_output_bytes`] and [`ParseOptions::max_records`].
///
/// A decoder reads one exposition, or several when told where each ends
/// ([`Decoder::end_exposition`], which [`Decoder::set_scrape_time`] implies): OpenMetrics'
/// `# EOF` ends an exposition, and the next starts afresh.
///
/// In [`Exposition::Auto`], the format of an exposition is known only at its end (its last
/// line is `# EOF` or not). Until then the decoder reads each line as OpenMetrics would and
/// emits it at once when Prometheus text would read it the same — a sample without a
/// timestamp or exemplar, or metadata, that OpenMetrics accepts — so a live scrape's samples
/// come out as they arrive. From the first line that would read differently (a timestamp,
/// whose unit differs; anything OpenMetrics refuses), it holds the exposition's lines back
/// until the format is known: at the end, or once the exposition is over
/// [`AUTO_DETECT_BYTES`], which makes it Prometheus text and bounds what is held. The result
/// is the same as decoding the whole body at once; only the moment a record comes out
/// differs.
pub struct Decoder<'r> {
    source: Arc<str>,
    rules: &'r RuleSet,
    opts: ParseOptions,
    pending: Vec<u8>,
    overlong: usize,
    line_no: u64,
    batch: IngestBatch,
    spans: Vec<LabelSpan>,
    cache: SeriesCache,
    last: Option<(Box<str>, Resolution)>,
    /// How the current exposition's lines are read.
    mode: Mode,
    /// Its families, when read as OpenMetrics (or maybe, in `Auto`).
    om: OmState,
    /// Lines held back in `Auto` until the format is known.
    hold: Hold,
    /// Its bytes so far.
    expo_bytes: usize,
    /// Whether its last line so far is `# EOF`.
    eof_last: bool,
    /// Whether it has a line yet.
    expo_lines: bool,
}

impl<'r> Decoder<'r> {
    /// A decoder for the named source.
    pub fn new(source: impl Into<String>, rules: &'r RuleSet, opts: ParseOptions) -> Self {
        let source: Arc<str> = Arc::from(source.into());
        let batch = Self::new_batch(&opts, &source);
        Decoder::into_batch(source, rules, opts, batch)
    }

    /// A decoder that writes into `batch`, held to its budgets (the [`Decode`] form's).
    fn into_batch(
        source: Arc<str>,
        rules: &'r RuleSet,
        opts: ParseOptions,
        batch: IngestBatch,
    ) -> Self {
        let opts_format = opts.format;
        Decoder {
            batch,
            source,
            rules,
            opts,
            pending: Vec::new(),
            overlong: 0,
            line_no: 0,
            spans: Vec::new(),
            cache: SeriesCache::default(),
            last: None,
            mode: Mode::of(opts_format),
            om: OmState::default(),
            hold: Hold::default(),
            expo_bytes: 0,
            eof_last: false,
            expo_lines: false,
        }
    }

    fn new_batch(opts: &ParseOptions, source: &Arc<str>) -> IngestBatch {
        let batch = if opts.max_output_bytes == usize::MAX {
            IngestBatch::default()
        } else {
            IngestBatch::with_budget(opts.max_output_bytes, Arc::clone(source))
        };
        if opts.max_records == usize::MAX {
            batch
        } else {
            batch.with_max_records(opts.max_records)
        }
    }

    /// Whether the batch's record limit stopped the decoder: the rest of the input is not
    /// parsed.
    fn stopped(&self) -> bool {
        self.batch.records_full()
    }

    /// Puts one record into the batch — past its record limit, the one
    /// [`Reason::TooManyRecords`] record (named by this line) for the rest of the input.
    fn put(&mut self, record: Result<Emitted, Quarantined>) {
        let (source, line) = (&self.source, self.line_no);
        let fits = self.batch.admit_record(|| {
            let excerpt = match &record {
                Ok(e) => format!(
                    "{} {} {}",
                    e.reading.entity, e.reading.sensor, e.reading.kind
                ),
                Err(q) => q.excerpt.clone(),
            };
            (Place::line(Arc::clone(source), line), excerpt)
        });
        if !fits {
            return;
        }
        match record {
            Ok(e) => self
                .batch
                .accept_seen(e.reading, e.defaulted, e.seed.as_deref()),
            Err(q) => self.batch.reject(q),
        }
    }

    /// Sets the scrape time ([`ParseOptions::default_timestamp`]) of the samples fed from now
    /// on: a decoder kept per target is told each scrape's time. A scrape is an exposition:
    /// this ends the one fed so far ([`Decoder::end_exposition`]), and what is fed next is a
    /// new one.
    pub fn set_scrape_time(&mut self, ts: Timestamp) {
        self.end_exposition();
        self.opts.default_timestamp = Some(ts).filter(|t| t.is_known());
    }

    fn put_err(&mut self, q: Quarantined) {
        self.put(Err(q));
    }

    /// Feeds more bytes; complete lines are processed at once (in [`Exposition::Auto`], those
    /// whose reading depends on the format may be held back until it is known: see
    /// [`Decoder`]).
    pub fn push(&mut self, bytes: &[u8]) {
        self.count_bytes(bytes.len());
        self.push_bytes(bytes);
    }

    fn push_bytes(&mut self, mut bytes: &[u8]) {
        if self.stopped() {
            return;
        }
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            if self.stopped() {
                return;
            }
            if self.pending.is_empty() && self.overlong == 0 && nl <= self.opts.max_line_bytes {
                // Fast path: the whole line is in `bytes`; no copy.
                self.begin_line(&bytes[..nl]);
                self.raw_line(&bytes[..nl]);
            } else {
                self.take(&bytes[..nl]);
                self.end_line();
            }
            bytes = &bytes[nl + 1..];
        }
        self.take(bytes);
    }

    /// Feeds text: like [`Decoder::push`], without re-validating UTF-8 line by line.
    pub fn push_str(&mut self, mut text: &str) {
        self.count_bytes(text.len());
        if self.stopped() {
            return;
        }
        if !self.pending.is_empty() || self.overlong > 0 {
            // Finish the partial line through the byte path first.
            match memchr::memchr(b'\n', text.as_bytes()) {
                Some(nl) => {
                    self.push_bytes(&text.as_bytes()[..=nl]);
                    text = &text[nl + 1..];
                }
                None => return self.push_bytes(text.as_bytes()),
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', text.as_bytes()) {
            if self.stopped() {
                return;
            }
            if nl <= self.opts.max_line_bytes {
                self.begin_line(&text.as_bytes()[..nl]);
                self.str_line(&text[..nl]);
            } else {
                self.take(&text.as_bytes()[..nl]);
                self.end_line();
            }
            text = &text[nl + 1..];
        }
        self.take(text.as_bytes());
    }

    /// Takes the readings and quarantine produced so far (the decoder keeps going, its record
    /// count with it).
    pub fn drain(&mut self) -> IngestBatch {
        self.batch.take_part()
    }

    /// Processes a final unterminated line and returns everything not yet drained.
    pub fn finish(self) -> IngestBatch {
        self.finish_with_cache().0
    }

    /// Decodes with the resolutions `cache` holds from earlier decoders of the same source
    /// ([`SeriesCache`]); [`Decoder::finish_with_cache`] hands it back, grown.
    pub fn with_cache(mut self, mut cache: SeriesCache) -> Self {
        cache.align(self.opts.known_entities.as_ref());
        self.cache = cache;
        self
    }

    /// [`Decoder::finish`], also handing back the series cache for the next decoder.
    pub fn finish_with_cache(mut self) -> (IngestBatch, SeriesCache) {
        self.end_exposition();
        (self.batch, self.cache)
    }

    fn take(&mut self, part: &[u8]) {
        if self.overlong > 0 || self.pending.len() + part.len() > self.opts.max_line_bytes {
            if self.overlong == 0 {
                self.overlong = self.pending.len();
                // keep the head for the excerpt
                self.pending.truncate(Quarantined::EXCERPT_BYTES);
            }
            let room = Quarantined::EXCERPT_BYTES.saturating_sub(self.pending.len());
            self.pending
                .extend_from_slice(&part[..part.len().min(room)]);
            self.overlong += part.len();
        } else {
            self.pending.extend_from_slice(part);
        }
    }

    /// Reserves room for the readings of a large `text` (a recording; lines run 60-200
    /// bytes). A live scrape (under 1 MiB) reserves nothing: it is mostly metrics no rule
    /// maps, and a per-scrape reservation was the allocator's largest cost at 1,000 targets.
    fn reserve(&mut self, text: &str) {
        if text.len() < RESERVE_FROM_BYTES {
            return;
        }
        let max = self.batch.max_records().unwrap_or(usize::MAX);
        let n = (text.len() / 160).min(max);
        self.batch.readings.reserve(n);
    }

    fn place(&self) -> Place {
        Place::line(self.source.clone(), self.line_no)
    }

    fn end_line(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if self.overlong > 0 {
            self.begin_line(&[]);
            self.eof_last = false;
            let n = std::mem::take(&mut self.overlong);
            self.overlong_line(&pending, n);
        } else {
            self.begin_line(&pending);
            self.raw_line(&pending);
        }
        self.pending = pending;
        self.pending.clear();
    }

    /// Quarantines a line of `n` bytes, over [`ParseOptions::max_line_bytes`], that starts
    /// with `head`.
    fn too_long(&mut self, head: &[u8], n: usize) {
        let head = String::from_utf8_lossy(head);
        let detail = format!(
            "{n} bytes, over max_line_bytes ({})",
            self.opts.max_line_bytes
        );
        self.put_err(Quarantined::new(
            self.place(),
            Reason::LineTooLong,
            detail,
            &head,
        ));
    }

    fn bytes_line(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.str_line(text),
            Err(e) => {
                let lossy = String::from_utf8_lossy(bytes);
                let detail = format!("invalid UTF-8 at byte {}", e.valid_up_to());
                self.put_err(Quarantined::new(
                    self.place(),
                    Reason::NotUtf8,
                    detail,
                    &lossy,
                ));
            }
        }
    }

    fn resolve(&self, core: &Core<'_>) -> Resolution {
        let Some(rule) = self.rules.get(core.metric) else {
            return Resolution::Rejected {
                reason: Reason::UnmappedMetric,
                detail: format!("no rule for metric {}", core.metric),
            };
        };
        let mut labels = owned_labels(core, &self.spans);
        for (k, v) in &self.opts.target_labels {
            if !labels.iter().any(|(l, _)| l == k) {
                labels.push((k.clone(), v.clone()));
            }
        }
        let (entity, sensor) = match rule.resolve(&labels) {
            Ok(x) => x,
            Err(MapFailure::MissingLabel(l)) => {
                let detail = format!("rule for {} needs label {l:?}", core.metric);
                return Resolution::Rejected {
                    reason: Reason::MissingLabel,
                    detail,
                };
            }
            Err(MapFailure::InvalidEntity(detail)) => {
                return Resolution::Rejected {
                    reason: Reason::InvalidEntity,
                    detail,
                };
            }
        };
        let known = self.opts.known_entities.as_deref();
        let named = match &self.opts.workload_labels {
            Some(w) => w.name(&labels, known),
            None => Named::Nothing,
        };
        let mapped = |entity: EntityId, seed: Option<Seed>, settled: bool| Resolution::Mapped {
            kind: rule.kind,
            unit: rule.unit,
            entity,
            sensor: sensor.as_str().into(),
            seed: seed.map(Arc::new),
            settled,
        };
        let seed = |workload: EntityId, host: EntityId, tenant: String, entity: &EntityId| {
            Seed::new(
                workload,
                host,
                tenant,
                &labels,
                (entity.clone(), sensor.as_str().into()),
            )
        };
        if known.is_none_or(|k| k.contains(&entity)) {
            // A known entity keeps it (a DCGM metric of its host); its workload is a sighting.
            // A workload's host is the first of its host labels that is known, so a larger
            // set may change it: only series that name no workload are settled.
            let (s, settled) = match named {
                Named::Workload {
                    workload,
                    tenant,
                    host: HostLabel::Known(host),
                } => (Some(seed(workload, host, tenant, &entity)), false),
                Named::Workload { .. } => (None, false),
                Named::Nothing | Named::Invalid(_) => (None, true),
            };
            return mapped(entity, s, settled);
        }
        let unknown = |more: String| Resolution::Rejected {
            reason: Reason::UnknownEntity,
            detail: format!("entity {entity} is not in the inventory{more}"),
        };
        match named {
            Named::Nothing => unknown(String::new()),
            Named::Invalid(detail) => Resolution::Rejected {
                reason: Reason::InvalidEntity,
                detail: format!("entity {entity} is not in the inventory, and the {detail}"),
            },
            Named::Workload {
                workload,
                tenant,
                host,
            } => match host {
                HostLabel::Known(host) => {
                    let s = seed(workload.clone(), host, tenant, &workload);
                    // Its own entity may become known: then that is what it maps to.
                    mapped(workload, Some(s), false)
                }
                HostLabel::Unknown { label, value } => unknown(format!(
                    ", and workload {workload} runs on host {value:?} (label {label}), which is \
                     not either"
                )),
                HostLabel::Missing => unknown(format!(
                    ", and no label names the host of workload {workload} (looked for {})",
                    self.opts
                        .workload_labels
                        .as_ref()
                        .map(WorkloadLabels::host_labels)
                        .unwrap_or_default()
                )),
            },
        }
    }

    fn line(&mut self, text: &str) {
        // Fast path: the same series as the previous sample (recordings group a series' samples,
        // and a live decoder sees them again every scrape). Identical bytes parse identically,
        // so only the value and timestamp are read.
        if let Some((k, _)) = &self.last
            && text.len() > k.len()
            && text.as_bytes().starts_with(k.as_bytes())
            && matches!(text.as_bytes()[k.len()], b' ' | b'\t')
        {
            let line = &text[..text
                .as_bytes()
                .iter()
                .rposition(|&c| !is_blank(c))
                .map_or(0, |e| e + 1)];
            match parse_tail(line, k.len()) {
                Ok((value, ms)) => return self.emit(text, value, Stamp::millis(ms)),
                Err(e) => {
                    return self.put_err(Quarantined::new(self.place(), e.reason, e.detail, text));
                }
            }
        }
        if self.counted_by_name(text) {
            return;
        }
        let mut spans = std::mem::take(&mut self.spans);
        let parsed = parse_core(text, self.opts.max_labels, &mut spans);
        self.spans = spans;
        match parsed {
            Ok(None) => {}
            Ok(Some(core)) => self.sample(text, &core, Stamp::millis(core.timestamp_ms)),
            Err(e) => self.put_err(Quarantined::new(self.place(), e.reason, e.detail, text)),
        }
    }

    /// Maps a parsed sample (`text` is its line) through the series cache and emits it.
    fn sample(&mut self, text: &str, core: &Core<'_>, stamp: Stamp<'_>) {
        if self.rules.get(core.metric).is_none() {
            // Unmapped metrics are most of a node_exporter scrape: reject them without touching
            // the series cache (and, when asked, count the repeats without a record).
            if !self.opts.every_unmapped {
                let fam = cache::family(core.metric);
                if self.cache.unmapped.contains(fam) {
                    self.count_unmapped(text);
                    return;
                }
                if self.cache.unmapped.len() < MAX_UNMAPPED_EXAMPLES {
                    self.cache.unmapped.insert(fam.into());
                }
            }
            let detail = format!("no rule for metric {}", core.metric);
            return self.put_err(Quarantined::new(
                self.place(),
                Reason::UnmappedMetric,
                detail,
                text,
            ));
        }
        let hit = matches!(&self.last, Some((k, _)) if **k == *core.series);
        if !hit {
            let known = self.opts.known_entities.as_deref();
            let res = match self.cache.get(core.series, known) {
                Some(r) => r,
                None => {
                    let r = self.resolve(core);
                    self.cache.insert(core.series, &r);
                    r
                }
            };
            self.last = Some((core.series.into(), res));
        }
        self.emit(text, core.value, stamp);
    }

    /// Turns a parsed sample of the `last` series into a reading or a quarantine entry.
    fn emit(&mut self, text: &str, value: f64, stamp: Stamp<'_>) {
        let Some((_, res)) = &self.last else { return };
        let (kind, unit, entity, sensor, seed) = match res {
            Resolution::Mapped {
                kind,
                unit,
                entity,
                sensor,
                seed,
                ..
            } => (*kind, *unit, entity, sensor, seed),
            Resolution::Rejected { reason, detail } => {
                let q = Quarantined::new(self.place(), *reason, detail.clone(), text);
                return self.put_err(q);
            }
        };
        let mut defaulted = false;
        let ts = match (stamp.time(), self.opts.default_timestamp) {
            (Some(Ok(ts)), _) => ts,
            (Some(Err(range)), _) => {
                let hint = if self.mode == (Mode::Om { detected: true }) {
                    "; read as OpenMetrics seconds because the body ends with '# EOF'"
                } else {
                    ""
                };
                let q = Quarantined::new(
                    self.place(),
                    Reason::BadTimestamp,
                    format!(
                        "timestamp {range} is outside the nanosecond range of a time (about \
                         1677 to 2262){hint}"
                    ),
                    text,
                );
                return self.put_err(q);
            }
            (None, Some(ts)) => {
                defaulted = true;
                ts
            }
            (None, None) if !self.opts.require_timestamp => Timestamp::UNKNOWN,
            (None, None) => {
                let q = Quarantined::new(
                    self.place(),
                    Reason::MissingTimestamp,
                    "no timestamp and no scrape time given",
                    text,
                );
                return self.put_err(q);
            }
        };
        if value.is_infinite() {
            let q = Quarantined::new(
                self.place(),
                Reason::NonFiniteValue,
                format!("value {value}"),
                text,
            );
            return self.put_err(q);
        }
        let reading = if value.is_nan() {
            Reading::new(entity.clone(), sensor.clone(), kind, f64::NAN, ts)
                .with_quality(Quality::Absent)
        } else {
            match unit.convert(value, kind) {
                Ok(v) => Reading::new(entity.clone(), sensor.clone(), kind, v, ts),
                Err(e) => {
                    let q = Quarantined::new(
                        self.place(),
                        Reason::BadUnit,
                        e.reason().to_string(),
                        text,
                    );
                    return self.put_err(q);
                }
            }
        };
        let seed = seed.clone();
        self.put(Ok(Emitted {
            reading,
            defaulted,
            seed,
        }));
    }
}

/// Prometheus exposition text as a [`Decode`] implementation (the `prometheus` decoder,
/// [`Format::Prometheus`]), for callers that pick decoders by name or detection; an embedder
/// registers one with its own rules ([`Prometheus::new`]) under the same name to replace the
/// built-in one. Samples without a timestamp take the context's capture time (or stay at
/// [`Timestamp::UNKNOWN`]); for metrics whose rule takes the entity from `instance`, a missing
/// `instance` label falls back to the context's entity. The format is recognized per input
/// ([`Exposition::Auto`]): OpenMetrics when it ends with `# EOF`, else Prometheus text.
#[derive(Debug, Clone)]
pub struct Prometheus {
    rules: RuleSet,
}

impl Prometheus {
    /// A decoder with the given rules.
    pub fn new(rules: RuleSet) -> Self {
        Prometheus { rules }
    }
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus::new(RuleSet::builtin())
    }
}

impl Decode for Prometheus {
    fn name(&self) -> &str {
        Format::Prometheus.as_str()
    }

    /// Decodes into `out`, held to its budgets (records and output).
    fn decode(&self, input: &str, ctx: &Context<'_>, out: &mut IngestBatch) {
        if !ctx.admit(input, out) {
            return;
        }
        let mut opts = ParseOptions::default()
            .with_max_line_bytes(ctx.limits.max_line_bytes)
            .with_max_labels(ctx.limits.max_labels)
            .with_target_label("instance", ctx.fallback_entity().as_str());
        opts.default_timestamp = ctx.default_timestamp;
        opts.require_timestamp = false;
        let batch = std::mem::take(out);
        let mut d = Decoder::into_batch(ctx.source_name(), &self.rules, opts, batch);
        d.whole(input);
        *out = d.finish();
    }

    /// Prometheus text's grammar admits the most, so it claims an input only as a fallback
    /// ([`Confidence::FALLBACK`]).
    fn detect(&self, head: &str) -> Option<Confidence> {
        self.sniff(head).then_some(Confidence::FALLBACK)
    }
}

impl Prometheus {
    /// The first non-blank line is a `# HELP`/`# TYPE` comment or a parseable sample.
    pub(crate) fn sniff(&self, head: &str) -> bool {
        let mut rules = Vec::new();
        head.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .is_some_and(|l| {
                l.starts_with("# HELP ")
                    || l.starts_with("# TYPE ")
                    || matches!(parse_core(l, 64, &mut rules), Ok(Some(c)) if !c.metric.is_empty())
            })
    }
}

/// Parses a whole text (pull form).
pub fn parse_str(text: &str, source: &str, rules: &RuleSet, opts: &ParseOptions) -> IngestBatch {
    let mut d = Decoder::new(source, rules, opts.clone());
    d.whole(text);
    d.finish()
}

/// [`parse_str`] with the resolutions of earlier calls for the same source ([`SeriesCache`]).
pub fn parse_str_cached(
    text: &str,
    source: &str,
    rules: &RuleSet,
    opts: &ParseOptions,
    cache: &mut SeriesCache,
) -> IngestBatch {
    let mut d = Decoder::new(source, rules, opts.clone()).with_cache(std::mem::take(cache));
    d.whole(text);
    let (batch, kept) = d.finish_with_cache();
    *cache = kept;
    batch
}

/// Reads and parses everything from `input` (pull form over `io::Read`), in bounded memory
/// per line.
///
/// # Errors
/// [`crate::IngestErrorKind::Io`] when reading fails; what was parsed before is lost with it.
pub fn read(
    mut input: impl BufRead,
    source: &str,
    rules: &RuleSet,
    opts: &ParseOptions,
) -> Result<IngestBatch, IngestError> {
    let mut d = Decoder::new(source, rules, opts.clone());
    loop {
        let buf = input
            .fill_buf()
            .map_err(|e| IngestError::io(Place::line(source, d.line_no + 1), e))?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        d.push(buf);
        input.consume(n);
    }
    Ok(d.finish())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod om_tests;
