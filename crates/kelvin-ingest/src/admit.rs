//! Admission: turning a [`Batch`] of any kind into the readings a store may keep. A batch is
//! decoded ([`Admission::decode`]) and every reading it yields must name an entity of the
//! inventory and carry a known time ([`IngestBatch::admit`]); readings implausibly far in
//! time from the rest are moved to the quarantine by a [`TimeGate`]
//! ([`IngestBatch::sift_times`]). Nothing is dropped: each refused reading is a counted
//! [`Quarantined`] record with its place.

use std::collections::HashSet;

use kelvin_model::{EntityId, Place, Reading, TimeGate, Timestamp};

use crate::prometheus::{self, Exposition, ParseOptions};
use crate::{
    Context, Decoders, IngestBatch, Normalizer, Quarantined, Reason, RuleSet, WorkloadLabels,
};

/// A batch of telemetry to admit: readings already normalized, a capture in any format a
/// [`Decoders`] registry decodes, or Prometheus exposition text — each with the time of the
/// poll that fetched it, when the caller knows it ([`Batch::with_poll_time`]): records without
/// their own time take it, and the readings that have one can be judged against it
/// ([`IngestBatch::sift_poll`], [`IngestBatch::clock_offset_ns`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Batch {
    /// Readings the embedder already normalized.
    Readings(Vec<Reading>),
    /// Readings the embedder already normalized, from a poll at `poll_time`: readings without
    /// a time ([`Timestamp::UNKNOWN`]) take it.
    ReadingsAt {
        /// The readings.
        readings: Vec<Reading>,
        /// When they were polled.
        poll_time: Timestamp,
    },
    /// A capture in any format the registry decodes (an `ipmitool sensor` output, a Redfish
    /// resource, an nvidia-smi CSV …, or the format of a decoder an embedder registered).
    Capture {
        /// The name of its decoder (a built-in one, as [`crate::Format::as_str`] spells it,
        /// or a registered one), or `None` to detect it.
        format: Option<String>,
        /// File name, URL or label, used in quarantine places.
        source: String,
        /// The text.
        text: String,
        /// The entity the capture describes when the text does not name one (the host whose
        /// BMC answered).
        entity: Option<EntityId>,
        /// When it was taken (the poll), for records without their own time (required to
        /// store them).
        taken_at: Option<Timestamp>,
    },
    /// Prometheus exposition text, with the source name used in quarantine places.
    PrometheusText {
        /// File name, URL or label.
        source: String,
        /// The text.
        text: String,
        /// When it was scraped: the time of samples without a timestamp, as the exposition
        /// format defines it (the scraper's time). `None`: such samples are quarantined as
        /// [`Reason::MissingTimestamp`].
        scrape_time: Option<Timestamp>,
        /// Labels of the scrape target, as Prometheus attaches them: each is added to every
        /// sample that lacks it (`instance` naming the host an exporter describes).
        target_labels: Vec<(String, String)>,
        /// Its exposition format ([`ParseOptions::format`]): Prometheus text 0.0.4,
        /// OpenMetrics 1.0, or [`Exposition::Auto`] (the default: recognized by the text's
        /// end). A scraper sets it from the content type ([`Batch::with_exposition`]).
        format: Exposition,
        /// Keep a record of every sample of a metric no rule maps (`true`, the default), or
        /// only of each such metric's first sample, counting the rest
        /// ([`ParseOptions::every_unmapped`], [`Batch::counting_unmapped_repeats`]).
        every_unmapped: bool,
    },
}

impl Batch {
    /// The source name of [`Batch::Readings`] and [`Batch::ReadingsAt`] ([`Batch::source`]),
    /// and the name their quarantine places start with (`readings[3].entity`).
    pub const READINGS_SOURCE: &'static str = "readings";

    /// A capture of a host, taken at `taken_at`, format detected.
    pub fn capture(
        source: impl Into<String>,
        text: impl Into<String>,
        entity: EntityId,
        taken_at: Timestamp,
    ) -> Batch {
        Batch::Capture {
            format: None,
            source: source.into(),
            text: text.into(),
            entity: Some(entity),
            taken_at: Some(taken_at),
        }
    }

    /// A capture of a host, taken at `taken_at`, decoded by the decoder named `format` (see
    /// [`Batch::Capture`]).
    pub fn capture_as(
        format: impl Into<String>,
        source: impl Into<String>,
        text: impl Into<String>,
        entity: EntityId,
        taken_at: Timestamp,
    ) -> Batch {
        let mut batch = Batch::capture(source, text, entity, taken_at);
        if let Batch::Capture { format: f, .. } = &mut batch {
            *f = Some(format.into());
        }
        batch
    }

    /// Prometheus exposition text from `source`, without a scrape time: only samples that
    /// carry a timestamp can be stored (see [`Batch::prometheus_at`]).
    pub fn prometheus(source: impl Into<String>, text: impl Into<String>) -> Batch {
        Batch::PrometheusText {
            source: source.into(),
            text: text.into(),
            scrape_time: None,
            target_labels: Vec::new(),
            format: Exposition::Auto,
            every_unmapped: true,
        }
    }

    /// Keeps, of a Prometheus text's samples of metrics no rule maps, a record of each
    /// metric's first sample only and counts the others ([`ParseOptions::every_unmapped`]):
    /// for a poller whose exporters serve a thousand lines Kelvin has no rule for, every
    /// scrape. An engine keeps each source's series cache, so a source's later batches keep
    /// no second example of a metric. Other batches are returned unchanged.
    ///
    /// ```
    /// use std::{collections::HashSet, sync::Arc};
    /// use kelvin_ingest::{Admission, Batch, Decoders, Normalizer, Reason, RuleSet};
    /// use kelvin_model::Timestamp;
    ///
    /// let known = Arc::new(HashSet::new());
    /// let (rules, decoders, normalizer) = (RuleSet::builtin(), Decoders::builtin(), Normalizer::builtin());
    /// let admission = Admission { rules: &rules, decoders: &decoders, normalizer: &normalizer, known: &known, workloads: None };
    /// let text = "node_load1 0.5\nnode_load1 0.6\nnode_load5 0.4\n";
    /// let at = Timestamp::from_secs(1_793_606_400);
    /// let (_, b) = admission.decode(Batch::prometheus_at("node", text, at).counting_unmapped_repeats());
    /// assert_eq!((b.stats.quarantined, b.quarantine.len()), (3, 2));
    /// assert_eq!(b.stats.by_reason[&Reason::UnmappedMetric], 3);
    /// ```
    pub fn counting_unmapped_repeats(mut self) -> Batch {
        if let Batch::PrometheusText { every_unmapped, .. } = &mut self {
            *every_unmapped = false;
        }
        self
    }

    /// Sets the exposition format of a Prometheus text ([`Batch::PrometheusText`]'s
    /// `format`), as its content type says ([`prometheus::format_of_content_type`]); other
    /// batches are returned unchanged.
    ///
    /// ```
    /// use std::{collections::HashSet, sync::Arc};
    /// use kelvin_ingest::{Admission, Batch, Decoders, Normalizer, RuleSet};
    /// use kelvin_ingest::prometheus::format_of_content_type;
    /// use kelvin_model::{EntityId, Timestamp};
    ///
    /// let known = Arc::new(HashSet::from([EntityId::new("h1")?]));
    /// let (rules, decoders, normalizer) = (RuleSet::builtin(), Decoders::builtin(), Normalizer::builtin());
    /// let admission = Admission { rules: &rules, decoders: &decoders, normalizer: &normalizer, known: &known, workloads: None };
    /// // OpenMetrics timestamps are seconds; a truncated body (no `# EOF`) still yields its samples.
    /// let body = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212 1793606400.5\n";
    /// let ct = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    /// let batch = Batch::prometheus("h1:9290", body).with_exposition(format_of_content_type(ct));
    /// let (_, b) = admission.decode(batch);
    /// assert_eq!(b.readings[0].ts, Timestamp::from_nanos(1_793_606_400_500_000_000));
    /// assert_eq!(b.stats.quarantined, 1); // the missing `# EOF`
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn with_exposition(mut self, exposition: Exposition) -> Batch {
        if let Batch::PrometheusText { format, .. } = &mut self {
            *format = exposition;
        }
        self
    }

    /// Adds a target label to a Prometheus text (see [`Batch::PrometheusText`]); other batches
    /// are returned unchanged.
    ///
    /// ```
    /// use kelvin_ingest::Batch;
    /// let b = Batch::prometheus("node", "up 1\n").with_target_label("instance", "h1");
    /// assert!(matches!(b, Batch::PrometheusText { ref target_labels, .. } if target_labels.len() == 1));
    /// ```
    pub fn with_target_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Batch {
        if let Batch::PrometheusText { target_labels, .. } = &mut self {
            target_labels.push((name.into(), value.into()));
        }
        self
    }

    /// Prometheus exposition text from `source`, scraped at `scrape_time`: samples without a
    /// timestamp (what live exporters send) take it.
    ///
    /// ```
    /// use std::{collections::HashSet, sync::Arc};
    /// use kelvin_ingest::{Admission, Batch, Decoders, Normalizer, RuleSet};
    /// use kelvin_model::{EntityId, Timestamp};
    ///
    /// let known = Arc::new(HashSet::from([EntityId::new("h1")?]));
    /// let (rules, decoders, normalizer) = (RuleSet::builtin(), Decoders::builtin(), Normalizer::builtin());
    /// let admission = Admission { rules: &rules, decoders: &decoders, normalizer: &normalizer, known: &known, workloads: None };
    /// let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212\n";
    /// let at = Timestamp::from_secs(1_793_606_400);
    /// let (_, b) = admission.decode(Batch::prometheus_at("h1:9290", text, at));
    /// assert_eq!((b.stats.accepted, b.readings[0].ts), (1, at));
    /// let (_, b) = admission.decode(Batch::prometheus("h1:9290", text));
    /// assert_eq!(b.stats.quarantined, 1); // missing_timestamp
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn prometheus_at(
        source: impl Into<String>,
        text: impl Into<String>,
        scrape_time: Timestamp,
    ) -> Batch {
        Batch::prometheus(source, text).with_poll_time(scrape_time)
    }

    /// Sets the time of the poll that fetched this batch: a Prometheus text's scrape time, a
    /// capture's `taken_at`, the poll time of readings ([`Batch::Readings`] becomes
    /// [`Batch::ReadingsAt`]). An unknown `t` removes it.
    pub fn with_poll_time(self, t: Timestamp) -> Batch {
        let t = Some(t).filter(|t| t.is_known());
        match self {
            Batch::Readings(readings) | Batch::ReadingsAt { readings, .. } => match t {
                Some(poll_time) => Batch::ReadingsAt {
                    readings,
                    poll_time,
                },
                None => Batch::Readings(readings),
            },
            Batch::Capture {
                format,
                source,
                text,
                entity,
                ..
            } => Batch::Capture {
                format,
                source,
                text,
                entity,
                taken_at: t,
            },
            Batch::PrometheusText {
                source,
                text,
                target_labels,
                format,
                every_unmapped,
                ..
            } => Batch::PrometheusText {
                source,
                text,
                scrape_time: t,
                target_labels,
                format,
                every_unmapped,
            },
        }
    }

    /// The time of the poll that fetched this batch, if known.
    pub fn poll_time(&self) -> Option<Timestamp> {
        let t = match self {
            Batch::Readings(_) => None,
            Batch::ReadingsAt { poll_time, .. } => Some(*poll_time),
            Batch::Capture { taken_at, .. } => *taken_at,
            Batch::PrometheusText { scrape_time, .. } => *scrape_time,
        };
        t.filter(|t| t.is_known())
    }

    /// The source's name: a capture's or a text's `source`, [`Batch::READINGS_SOURCE`]
    /// (`readings`) for readings. [`Admission::decode`] returns it too.
    pub fn source(&self) -> &str {
        match self {
            Batch::Readings(_) | Batch::ReadingsAt { .. } => Self::READINGS_SOURCE,
            Batch::Capture { source, .. } | Batch::PrometheusText { source, .. } => source,
        }
    }
}

/// What a batch is decoded with and admitted against: the metric rules for Prometheus text,
/// the decoders and normalizer for captures, and the inventory's entities.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// Metric rules for [`Batch::PrometheusText`].
    pub rules: &'a RuleSet,
    /// Decoders for [`Batch::Capture`].
    pub decoders: &'a Decoders,
    /// Vendor-name, unit and status normalization for captures.
    pub normalizer: &'a Normalizer,
    /// The entities readings may name.
    pub known: &'a std::sync::Arc<HashSet<EntityId>>,
    /// Which labels of Prometheus samples name workloads (see [`WorkloadLabels`]): a sample
    /// about an entity not in `known` whose labels name a workload on a known host is
    /// accepted under the workload's id, and every workload seen is recorded in
    /// [`IngestBatch::sightings`]. `None`: samples about unknown entities are quarantined.
    pub workloads: Option<&'a WorkloadLabels>,
}

impl Admission<'_> {
    /// Decodes `batch` and admits its readings: returns the source name (for quarantine
    /// places) and the decoded batch, in which every reading names a known entity and has a
    /// known time, and every other record is quarantined with its reason. Counts add up:
    /// `seen = accepted + quarantined`.
    ///
    /// Records without their own time take the batch's poll time ([`Batch::poll_time`]),
    /// and the batch marks them ([`IngestBatch::defaulted`]). The poll-relative checks are the
    /// caller's to run on the result, with the poll time taken before the batch is decoded:
    /// [`IngestBatch::clock_offset_ns`], [`IngestBatch::shift_times`],
    /// [`IngestBatch::sift_poll`]. Workload labels ([`Admission::workloads`]) apply to
    /// Prometheus text, not to captures.
    ///
    /// ```
    /// use std::{collections::HashSet, sync::Arc};
    /// use kelvin_ingest::{Admission, Batch, Decoders, Normalizer, Reason, RuleSet};
    /// use kelvin_model::{EntityId, Timestamp};
    ///
    /// let known = Arc::new(HashSet::from([EntityId::new("h1")?]));
    /// let (rules, decoders, normalizer) = (RuleSet::builtin(), Decoders::builtin(), Normalizer::builtin());
    /// let admission = Admission { rules: &rules, decoders: &decoders, normalizer: &normalizer, known: &known, workloads: None };
    /// let text = "CPU1 Temp | 33.000 | degrees C | ok | 0.000 | 0.000 | 0.000 | 79.000 | 82.000 | 84.000\n\
    ///             FAN1 | 4500.000 | RPM | ok | 300.000 | 500.000 | 700.000 | 25300.000 | 25400.000 | 25500.000\n";
    /// let at = Timestamp::from_nanos(1_700_000_000_000_000_000);
    /// let (_, ok) = admission.decode(Batch::capture("bmc.txt", text, EntityId::new("h1")?, at));
    /// assert_eq!(ok.stats.accepted, 2);
    /// let (_, refused) = admission.decode(Batch::capture("bmc.txt", text, EntityId::new("h9")?, at));
    /// assert_eq!(refused.stats.quarantined, 2);
    /// assert_eq!(refused.quarantine[0].reason, Reason::UnknownEntity);
    /// # Ok::<(), kelvin_model::ModelError>(())
    /// ```
    pub fn decode(&self, batch: Batch) -> (String, IngestBatch) {
        self.decode_with(batch, None)
    }

    /// [`Admission::decode`], mapping Prometheus series with the resolutions `cache` kept
    /// from earlier batches of the same source ([`prometheus::SeriesCache`]): a caller that
    /// ingests one scrape per batch maps each series once. Same output as `decode`.
    pub fn decode_with(
        &self,
        batch: Batch,
        cache: Option<&mut prometheus::SeriesCache>,
    ) -> (String, IngestBatch) {
        match batch {
            Batch::PrometheusText {
                source,
                text,
                scrape_time,
                target_labels,
                format,
                every_unmapped,
            } => {
                let mut opts = ParseOptions::default()
                    .with_known_entities(self.known.clone())
                    .with_format(format)
                    .with_every_unmapped(every_unmapped);
                opts.default_timestamp = scrape_time;
                opts.target_labels = target_labels;
                opts.workload_labels = self.workloads.cloned();
                let parsed = match cache {
                    Some(c) => prometheus::parse_str_cached(&text, &source, self.rules, &opts, c),
                    None => prometheus::parse_str(&text, &source, self.rules, &opts),
                };
                (source, parsed)
            }
            Batch::Readings(readings) => (
                Batch::READINGS_SOURCE.to_string(),
                IngestBatch::admit(Batch::READINGS_SOURCE, readings, self.known),
            ),
            Batch::ReadingsAt {
                readings,
                poll_time,
            } => {
                let n = readings.len();
                let what = Batch::READINGS_SOURCE;
                let mut marks = vec![false; n];
                let mut readings = readings;
                for (r, m) in readings.iter_mut().zip(&mut marks) {
                    if !r.ts.is_known() && poll_time.is_known() {
                        r.ts = poll_time;
                        *m = true;
                    }
                }
                let admitted = IngestBatch::admit_marked(what, readings, Some(marks), self.known);
                (what.to_string(), admitted)
            }
            Batch::Capture {
                format,
                source,
                text,
                entity,
                taken_at,
            } => {
                let mut ctx = Context::new(source.as_str(), self.normalizer);
                ctx.entity = entity;
                ctx.default_timestamp = taken_at;
                let mut decoded = self.decoders.decode_str(format.as_deref(), &text, &ctx);
                let (readings, marks) = decoded.take_readings();
                let admitted = IngestBatch::admit_marked(&source, readings, marks, self.known);
                // Keep the decoder's own quarantine and counts; admit() re-counts the readings.
                decoded.stats.seen -= admitted.stats.seen;
                decoded.stats.accepted -= admitted.stats.seen;
                decoded.append(admitted);
                (source, decoded)
            }
        }
    }
}

impl IngestBatch {
    /// Accepts the readings that can be stored — a known time and an entity in `known` — and
    /// quarantines the rest, naming each by its index in `what` (`readings[3].entity`).
    pub fn admit(what: &str, readings: Vec<Reading>, known: &HashSet<EntityId>) -> IngestBatch {
        IngestBatch::admit_marked(what, readings, None, known)
    }

    /// [`IngestBatch::admit`] with each reading's clock mark ([`IngestBatch::defaulted`]);
    /// `None`: every time is the source's own.
    pub(crate) fn admit_marked(
        what: &str,
        readings: Vec<Reading>,
        marks: Option<Vec<bool>>,
        known: &HashSet<EntityId>,
    ) -> IngestBatch {
        let mut out = IngestBatch::default();
        let mut marks = marks.into_iter().flatten();
        for (i, r) in readings.into_iter().enumerate() {
            let defaulted = marks.next().unwrap_or(false);
            let excerpt = || format!("{} {} {} {}", r.entity, r.sensor, r.kind, r.value);
            if !r.ts.is_known() {
                out.reject(Quarantined::new(
                    Place::field(format!("{what}[{i}].ts")),
                    Reason::MissingTimestamp,
                    "a stored reading needs a time: give the capture's taken_at",
                    &excerpt(),
                ));
            } else if known.contains(&r.entity) {
                if defaulted {
                    out.accept_defaulted(r);
                } else {
                    out.accept(r);
                }
            } else {
                out.reject(Quarantined::new(
                    Place::field(format!("{what}[{i}].entity")),
                    Reason::UnknownEntity,
                    format!("entity {} is not in the inventory", r.entity),
                    &excerpt(),
                ));
            }
        }
        out
    }

    /// Moves the readings `gate` refuses (implausibly far in time from the rest) to the
    /// quarantine as [`Reason::ImplausibleTime`], each counted once: it moves from accepted
    /// to quarantined. A `hint` that is not empty ends each detail (how to configure the gate).
    pub fn sift_times(&mut self, gate: &mut TimeGate, source: &str, hint: &str) {
        let ts: Vec<Timestamp> = self.readings.iter().map(|r| r.ts).collect();
        let ok = gate.judge(&ts);
        if ok.iter().all(|k| *k) {
            return;
        }
        let mut ok = ok.into_iter();
        self.sift_readings(&Place::source(source), Reason::ImplausibleTime, |r| {
            if ok.next().unwrap_or(true) {
                return None;
            }
            let detail = gate.explain(r.ts);
            Some(if hint.is_empty() {
                detail
            } else {
                format!("{detail}; {hint}")
            })
        });
    }
}
