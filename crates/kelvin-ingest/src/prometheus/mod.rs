//! Prometheus exposition text (format 0.0.4), in pull ([`parse_str`], [`read`]) and push
//! ([`Decoder`]) forms.
//!
//! Grammar accepted per line, after trimming surrounding whitespace:
//! `name [{label="value",...}] value [timestamp_ms]`, plus `# HELP`, `# TYPE`, `# UNIT`, `# EOF`
//! and free comments. Label values support the `\\`, `\"` and `\n` escapes. Each sample line is
//! one record: it becomes a [`Reading`] through the [`RuleSet`], or is quarantined.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::sync::{Arc, Weak};

use kelvin_model::{EntityId, Place, Quality, Reading, Timestamp};

mod line;

use line::{Core, LabelSpan, is_blank, owned_labels, parse_core, parse_tail};
pub use line::{Line, LineError, Sample, parse_line};

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

/// Most distinct series a decoder remembers; past it the cache starts over (hostile input with
/// endless distinct series costs time, not memory).
const SERIES_CACHE: usize = 100_000;

/// Most bytes of series text the cache holds (a series is up to a line long): past it the
/// cache starts over too.
const SERIES_CACHE_BYTES: usize = 16 << 20;

/// Series resolutions kept from one decoder to the next of the same source, so a caller that
/// decodes one scrape at a time (a live engine: one batch per scrape) maps each series once,
/// not once per scrape ([`Decoder::with_cache`], [`parse_str_cached`]). Resolutions depend on
/// [`ParseOptions::known_entities`]: a cache used with a different set, or with a set changed
/// since (through [`Arc::make_mut`], which a cache's weak reference sees), starts over. Bounded
/// as a decoder's own cache is (100,000 series, 16 MiB of series text).
///
/// ```
/// use kelvin_ingest::RuleSet;
/// use kelvin_ingest::prometheus::{ParseOptions, SeriesCache, parse_str_cached};
///
/// let rules = RuleSet::builtin();
/// let mut cache = SeriesCache::default();
/// let scrape = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 150 1700000000000\n";
/// for _ in 0..3 {
///     let b = parse_str_cached(scrape, "bmc", &rules, &ParseOptions::default(), &mut cache);
///     assert_eq!(b.readings.len(), 1);
/// }
/// assert_eq!(cache.len(), 1);
/// ```
#[derive(Debug, Default)]
pub struct SeriesCache {
    /// Each resolution with the generation of the known-entity set it was made (or last
    /// checked) against.
    map: HashMap<Box<str>, (Resolution, u64)>,
    bytes: usize,
    /// The known-entity set of the current generation (`None`: none).
    known: Option<Weak<HashSet<EntityId>>>,
    generation: u64,
}

impl SeriesCache {
    /// Distinct series held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }

    /// Starts a new generation unless `known` is the set of the current one, unchanged:
    /// resolutions of older generations are then checked again before use ([`Self::get`]).
    fn align(&mut self, known: Option<&Arc<HashSet<EntityId>>>) {
        let same = match (&self.known, known) {
            (None, None) => true,
            (Some(w), Some(k)) => w.upgrade().is_some_and(|a| Arc::ptr_eq(&a, k)),
            _ => false,
        };
        if !same {
            self.generation += 1;
            self.known = known.map(Arc::downgrade);
        }
    }

    /// The resolution of `series`, if cached and still what resolving it against `known`
    /// would give: one of this generation, or a settled one whose entity `known` still holds.
    fn get(&mut self, series: &str, known: Option<&HashSet<EntityId>>) -> Option<Resolution> {
        let generation = self.generation;
        let (r, g) = self.map.get_mut(series)?;
        if *g != generation {
            let holds = |e: &EntityId| known.is_none_or(|k| k.contains(e));
            match r {
                Resolution::Mapped {
                    settled: true,
                    entity,
                    ..
                } if holds(entity) => {}
                _ => return None,
            }
            *g = generation;
        }
        Some(r.clone())
    }

    fn insert(&mut self, series: &str, r: &Resolution) {
        let cost = series.len() + r.heap_bytes();
        if self.map.len() >= SERIES_CACHE || self.bytes + cost > SERIES_CACHE_BYTES {
            self.clear();
        }
        self.bytes += cost;
        if let Some((old, _)) = self.map.insert(series.into(), (r.clone(), self.generation)) {
            self.bytes -= (series.len() + old.heap_bytes()).min(self.bytes);
        }
    }
}

/// The push form: feed bytes as they arrive ([`Decoder::push`]), then [`Decoder::finish`].
///
/// Memory is bounded by [`ParseOptions::max_line_bytes`]: a line longer than that is skipped up
/// to its end and quarantined with [`Reason::LineTooLong`]. Mapping a series to its entity and
/// sensor is done once per distinct `metric{labels}` text and cached, so a long-lived decoder
/// (one per scrape target) pays it once per series, not once per sample; the cache holds at
/// most 100,000 series and 16 MiB of series text. What the batch keeps between drains is
/// bounded by [`ParseOptions::max_output_bytes`] and [`ParseOptions::max_records`].
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
    /// on: a decoder kept per target is told each scrape's time.
    pub fn set_scrape_time(&mut self, ts: Timestamp) {
        self.opts.default_timestamp = Some(ts).filter(|t| t.is_known());
    }

    fn put_err(&mut self, q: Quarantined) {
        self.put(Err(q));
    }

    /// Feeds more bytes; complete lines are processed at once.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.stopped() {
            return;
        }
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            if self.stopped() {
                return;
            }
            if self.pending.is_empty() && self.overlong == 0 && nl <= self.opts.max_line_bytes {
                // Fast path: the whole line is in `bytes`; no copy.
                self.line_no += 1;
                self.bytes_line(&bytes[..nl]);
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
        if self.stopped() {
            return;
        }
        if !self.pending.is_empty() || self.overlong > 0 {
            // Finish the partial line through the byte path first.
            match memchr::memchr(b'\n', text.as_bytes()) {
                Some(nl) => {
                    self.push(&text.as_bytes()[..=nl]);
                    text = &text[nl + 1..];
                }
                None => return self.push(text.as_bytes()),
            }
        }
        while let Some(nl) = memchr::memchr(b'\n', text.as_bytes()) {
            if self.stopped() {
                return;
            }
            if nl <= self.opts.max_line_bytes {
                self.line_no += 1;
                self.line(&text[..nl]);
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
        if !self.pending.is_empty() || self.overlong > 0 {
            self.end_line();
        }
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

    /// Reserves room for the readings of `text`: sample lines run 60-200 bytes; reserving
    /// avoids most regrowth of the readings vector (within the record limit).
    fn reserve(&mut self, text: &str) {
        let max = self.batch.max_records().unwrap_or(usize::MAX);
        let n = (text.len() / 160).min(max).min(1 << 16);
        self.batch.readings.reserve(n);
    }

    fn place(&self) -> Place {
        Place::line(self.source.clone(), self.line_no)
    }

    fn end_line(&mut self) {
        self.line_no += 1;
        if self.overlong > 0 {
            let head = String::from_utf8_lossy(&self.pending).into_owned();
            let detail = format!(
                "{} bytes, over max_line_bytes ({})",
                self.overlong, self.opts.max_line_bytes
            );
            self.put_err(Quarantined::new(
                self.place(),
                Reason::LineTooLong,
                detail,
                &head,
            ));
            self.overlong = 0;
        } else {
            let pending = std::mem::take(&mut self.pending);
            self.bytes_line(&pending);
            self.pending = pending;
        }
        self.pending.clear();
    }

    fn bytes_line(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.line(text),
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
                Ok((value, timestamp_ms)) => return self.emit(text, value, timestamp_ms),
                Err(e) => {
                    return self.put_err(Quarantined::new(self.place(), e.reason, e.detail, text));
                }
            }
        }
        let mut spans = std::mem::take(&mut self.spans);
        let parsed = parse_core(text, self.opts.max_labels, &mut spans);
        self.spans = spans;
        let core = match parsed {
            Ok(None) => return,
            Ok(Some(core)) => core,
            Err(e) => {
                return self.put_err(Quarantined::new(self.place(), e.reason, e.detail, text));
            }
        };
        if self.rules.get(core.metric).is_none() {
            // Unmapped metrics are most of a node_exporter scrape: reject them without touching
            // the series cache.
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
                    let r = self.resolve(&core);
                    self.cache.insert(core.series, &r);
                    r
                }
            };
            self.last = Some((core.series.into(), res));
        }
        self.emit(text, core.value, core.timestamp_ms);
    }

    /// Turns a parsed sample of the `last` series into a reading or a quarantine entry.
    fn emit(&mut self, text: &str, value: f64, timestamp_ms: Option<i64>) {
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
        let ts = match (timestamp_ms, self.opts.default_timestamp) {
            (Some(ms), _) => match ms.checked_mul(1_000_000).filter(|&ns| ns != i64::MIN) {
                Some(ns) => Timestamp::from_nanos(ns),
                None => {
                    let q = Quarantined::new(
                        self.place(),
                        Reason::BadTimestamp,
                        format!(
                            "timestamp {ms} ms is outside the nanosecond range of a time \
                             (about 1677 to 2262)"
                        ),
                        text,
                    );
                    return self.put_err(q);
                }
            },
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

impl Resolution {
    /// The heap a cached resolution holds beside its series text.
    fn heap_bytes(&self) -> usize {
        match self {
            Resolution::Mapped { seed, .. } => seed.as_ref().map_or(0, |s| s.heap_bytes()),
            Resolution::Rejected { detail, .. } => detail.capacity(),
        }
    }
}

/// Prometheus exposition text as a [`Decode`] implementation (the `prometheus` decoder,
/// [`Format::Prometheus`]), for callers that pick decoders by name or detection; an embedder
/// registers one with its own rules ([`Prometheus::new`]) under the same name to replace the
/// built-in one. Samples without a timestamp take the context's capture time (or stay at
/// [`Timestamp::UNKNOWN`]); for metrics whose rule takes the entity from `instance`, a missing
/// `instance` label falls back to the context's entity.
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
        d.reserve(input);
        d.push_str(input);
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
    d.reserve(text);
    d.push_str(text);
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
    d.reserve(text);
    d.push_str(text);
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
mod tests {
    use super::line::{fast_f64, fast_i64};
    use super::*;
    use kelvin_model::SensorKind;

    fn check_err(line: &str, reason: Reason, detail: &str) {
        let e = parse_line(line, 64).unwrap_err();
        assert_eq!(e.reason, reason, "{line}: {}", e.detail);
        assert_eq!(e.detail, detail, "{line}");
    }

    #[test]
    fn samples_parse() {
        let Line::Sample(s) = parse_line(r#"node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"} 55 1700000000123"#, 64).unwrap() else {
            panic!()
        };
        assert_eq!(s.metric, "node_hwmon_temp_celsius");
        assert_eq!(s.labels[1], ("sensor".into(), "temp1".into()));
        assert_eq!((s.value, s.timestamp_ms), (55.0, Some(1_700_000_000_123)));
        let Line::Sample(s) = parse_line(r#"a{b="x\"y\\z\n",} -1.5e3"#, 64).unwrap() else {
            panic!()
        };
        assert_eq!(s.labels, vec![("b".into(), "x\"y\\z\n".into())]);
        assert_eq!((s.value, s.timestamp_ms), (-1500.0, None));
        let Line::Sample(s) = parse_line("up NaN", 64).unwrap() else {
            panic!()
        };
        assert!(s.value.is_nan());
        let Line::Sample(s) = parse_line("x{} +Inf", 64).unwrap() else {
            panic!()
        };
        assert!(s.value.is_infinite());
        assert_eq!(parse_line("# TYPE x counter", 64).unwrap(), Line::Skip);
        assert_eq!(parse_line("# just a comment", 64).unwrap(), Line::Skip);
        assert_eq!(parse_line("   ", 64).unwrap(), Line::Skip);
        assert_eq!(parse_line("# EOF", 64).unwrap(), Line::Skip);
    }

    #[test]
    fn malformed_lines_say_where_and_why() {
        check_err(
            "9x 1",
            Reason::BadMetricName,
            "metric name must start with a letter, '_' or ':' at column 1",
        );
        check_err(
            "x{a=\"1\" 2",
            Reason::BadLabels,
            "expected ',' or '}' after label value at column 9",
        );
        check_err(
            "x{a=1} 2",
            Reason::BadLabels,
            "expected '\"' to open label value at column 5",
        );
        check_err(
            "x{a=\"1} 2",
            Reason::BadLabels,
            "unterminated label value at column 10",
        );
        check_err(
            "x{a=\"\\t\"} 2",
            Reason::BadLabels,
            "invalid escape in label value at column 6",
        );
        check_err(
            "x{a=\"1\",a=\"2\"} 2",
            Reason::BadLabels,
            "duplicate label \"a\" at column 9",
        );
        check_err(
            "x twelve",
            Reason::BadValue,
            "value \"twelve\" is not a number at column 3",
        );
        check_err("x", Reason::BadValue, "missing value at column 2");
        check_err(
            "x 1 1.5",
            Reason::BadTimestamp,
            "timestamp \"1.5\" is not integer milliseconds at column 5",
        );
        check_err(
            "x 1 2 3",
            Reason::TrailingGarbage,
            "unexpected \"3\" at column 7",
        );
        check_err(
            "x-y 1",
            Reason::BadMetricName,
            "invalid character in metric name at column 2",
        );
        check_err(
            "# TYPE x speed",
            Reason::BadMetadata,
            "unknown metric type \"speed\" at column 3",
        );
        check_err(
            "# TYPE",
            Reason::BadMetadata,
            "# TYPE without a valid metric name at column 3",
        );
        assert_eq!(
            parse_line("x{a=\"1\",b=\"2\"} 1", 1).unwrap_err().reason,
            Reason::TooManyLabels
        );
    }

    proptest::proptest! {
        #[test]
        fn fast_number_paths_agree_with_the_standard_parsers(x in proptest::num::f64::ANY, i in proptest::num::i64::ANY,
                                                            digits in "-?[0-9]{1,17}(\\.[0-9]{0,17})?") {
            for text in [format!("{x}"), format!("{x:.3}"), format!("{x:.9}"), digits.clone()] {
                if let Some(v) = fast_f64(text.as_bytes()) {
                    let expected: f64 = text.parse().unwrap();
                    proptest::prop_assert_eq!(v.to_bits(), expected.to_bits(), "{}", text);
                }
            }
            let t = i.to_string();
            if let Some(v) = fast_i64(t.as_bytes()) {
                proptest::prop_assert_eq!(v, i);
            }
        }
    }

    #[test]
    fn fast_paths_decline_what_they_cannot_do_exactly() {
        for s in [
            "",
            "-",
            ".",
            "1e3",
            "NaN",
            "+Inf",
            "1.2.3",
            "12345678901234567",
            "0x10",
            "1_000",
        ] {
            assert!(fast_f64(s.as_bytes()).is_none(), "{s}");
        }
        assert_eq!(fast_f64(b"-0"), Some(-0.0));
        assert!(fast_f64(b"-0").unwrap().is_sign_negative());
        assert_eq!(fast_f64(b"123.456789"), Some(123.456789));
        assert_eq!(fast_i64(b"1793606400000"), Some(1_793_606_400_000));
        assert_eq!(fast_i64(b"1234567890123456789"), None);
    }

    #[test]
    fn push_in_pieces_equals_whole() {
        let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 200 1000\n\
                    ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 210 2000\n\
                    bad line here\n\
                    ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 220 3000";
        let rules = RuleSet::builtin();
        let whole = parse_str(text, "s", &rules, &ParseOptions::default());
        for chunk in [1, 2, 7, 64] {
            let mut d = Decoder::new("s", &rules, ParseOptions::default());
            for c in text.as_bytes().chunks(chunk) {
                d.push(c);
            }
            let b = d.finish();
            assert_eq!(b.readings, whole.readings, "chunk {chunk}");
            assert_eq!(b.quarantine, whole.quarantine, "chunk {chunk}");
        }
        assert_eq!(whole.readings.len(), 3);
        assert_eq!(whole.readings[2].value, 220.0);
        assert_eq!(whole.quarantine[0].place, Place::line("s", 3));
    }

    #[test]
    fn record_and_output_limits_hold_across_drains() {
        let rules = RuleSet::builtin();
        let text = "a 1\nb 2\n# c\nd 3\ne 4\n";
        let opts = ParseOptions::default().with_max_records(2);
        let b = parse_str(text, "s", &rules, &opts);
        assert_eq!((b.stats.seen, b.stats.quarantined), (3, 3));
        assert_eq!(b.quarantine[2].reason, Reason::TooManyRecords);
        assert_eq!(b.quarantine[2].place.to_string(), "s:4");
        // unlimited by default, for streams drained by their caller
        assert_eq!(
            parse_str(text, "s", &rules, &ParseOptions::default())
                .stats
                .seen,
            4
        );
        // the output budget is per drain
        let opts = ParseOptions::default().with_max_output_bytes(1_000);
        let mut d = Decoder::new("s", &rules, opts);
        d.push_str(&"x 1\n".repeat(20));
        let first = d.drain();
        assert!(first.kept_bytes() <= 1_000 && first.stats.seen == 20);
        assert!(first.stats.by_reason.contains_key(&Reason::TooManyRecords));
        d.push_str("y 1\n");
        let second = d.finish();
        assert_eq!(second.quarantine.len(), 1);
        assert_eq!(second.quarantine[0].reason, Reason::UnmappedMetric);
    }

    #[test]
    fn overlong_lines_are_bounded_and_quarantined() {
        let rules = RuleSet::builtin();
        let opts = ParseOptions::default().with_max_line_bytes(100);
        let long = format!(
            "x{{a=\"{}\"}} 1 1\nipmi_dcmi_power_consumption_watts{{instance=\"h\"}} 5 1\n",
            "y".repeat(10_000)
        );
        let mut d = Decoder::new("s", &rules, opts);
        for c in long.as_bytes().chunks(333) {
            d.push(c);
            assert!(d.pending.len() <= 100 + 333);
        }
        let b = d.finish();
        assert_eq!(b.stats.by_reason.get(&Reason::LineTooLong), Some(&1));
        assert_eq!(b.quarantine[0].excerpt.len(), Quarantined::EXCERPT_BYTES);
        assert_eq!(b.readings.len(), 1);
        assert_eq!(b.readings[0].ts, Timestamp::from_millis(1));
    }

    #[test]
    fn mapping_outcomes_are_counted() {
        let text = "\
container_cpu_usage_seconds_total{pod=\"w1\",container=\"main\"} 12.5 1000
container_cpu_usage_seconds_total{pod=\"w1\",container=\"\"} 13 1000
go_goroutines 12 1000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} 24 
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} NaN 2000
ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} +Inf 3000
ipmi_temperature_celsius{instance=\"bad host\",name=\"Inlet Temp\"} 1 3000
";
        let b = parse_str(text, "t", &RuleSet::builtin(), &ParseOptions::default());
        assert_eq!(b.stats.seen, 7);
        assert_eq!(b.stats.accepted, 2);
        assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        let reasons: Vec<Reason> = b.quarantine.iter().map(|q| q.reason).collect();
        assert_eq!(
            reasons,
            [
                Reason::MissingLabel,
                Reason::UnmappedMetric,
                Reason::MissingTimestamp,
                Reason::NonFiniteValue,
                Reason::InvalidEntity
            ]
        );
        assert_eq!(b.readings[0].kind, SensorKind::CpuTime);
        assert_eq!(b.readings[0].sensor, "main");
        assert_eq!(b.readings[1].quality, Quality::Absent);

        let rules = RuleSet::builtin();
        let mut d = Decoder::new("bin", &rules, ParseOptions::default());
        d.push(b"up 1 1\n\xff\xfe 1 1\n");
        let b = d.finish();
        assert_eq!(b.stats.by_reason.get(&Reason::NotUtf8), Some(&1));
        assert_eq!(b.quarantine[1].place, Place::line("bin", 2));
    }
}
