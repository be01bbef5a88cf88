//! Admission: turning a [`Batch`] of any kind into the readings a store may keep. A batch is
//! decoded ([`Admission::decode`]) and every reading it yields must name an entity of the
//! inventory and carry a known time ([`IngestBatch::admit`]); readings implausibly far in
//! time from the rest are moved to the quarantine by a [`TimeGate`]
//! ([`IngestBatch::sift_times`]). Nothing is dropped: each refused reading is a counted
//! [`Quarantined`] record with its place.

use std::collections::HashSet;

use kelvin_model::{EntityId, Place, Reading, TimeGate, Timestamp};

use crate::prometheus::{self, ParseOptions};
use crate::{Context, Decoders, IngestBatch, Normalizer, Quarantined, Reason, RuleSet};

/// A batch of telemetry to admit: readings already normalized, a capture in any format a
/// [`Decoders`] registry decodes, or Prometheus exposition text.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Batch {
    /// Readings the embedder already normalized.
    Readings(Vec<Reading>),
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
        /// When it was taken, for records without their own time (required to store them).
        taken_at: Option<Timestamp>,
    },
    /// Prometheus exposition text, with the source name used in quarantine places.
    PrometheusText {
        /// File name, URL or label.
        source: String,
        /// The text.
        text: String,
    },
}

impl Batch {
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

    /// Prometheus exposition text from `source`.
    pub fn prometheus(source: impl Into<String>, text: impl Into<String>) -> Batch {
        Batch::PrometheusText {
            source: source.into(),
            text: text.into(),
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
}

impl Admission<'_> {
    /// Decodes `batch` and admits its readings: returns the source name (for quarantine
    /// places) and the decoded batch, in which every reading names a known entity and has a
    /// known time, and every other record is quarantined with its reason. Counts add up:
    /// `seen = accepted + quarantined`.
    ///
    /// ```
    /// use std::{collections::HashSet, sync::Arc};
    /// use kelvin_ingest::{Admission, Batch, Decoders, Normalizer, Reason, RuleSet};
    /// use kelvin_model::{EntityId, Timestamp};
    ///
    /// let known = Arc::new(HashSet::from([EntityId::new("h1")?]));
    /// let (rules, decoders, normalizer) = (RuleSet::builtin(), Decoders::builtin(), Normalizer::builtin());
    /// let admission = Admission { rules: &rules, decoders: &decoders, normalizer: &normalizer, known: &known };
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
        match batch {
            Batch::PrometheusText { source, text } => {
                let opts = ParseOptions::default().with_known_entities(self.known.clone());
                let parsed = prometheus::parse_str(&text, &source, self.rules, &opts);
                (source, parsed)
            }
            Batch::Readings(readings) => (
                "readings".to_string(),
                IngestBatch::admit("readings", readings, self.known),
            ),
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
                let readings = std::mem::take(&mut decoded.readings);
                let admitted = IngestBatch::admit(&source, readings, self.known);
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
        let mut out = IngestBatch::default();
        for (i, r) in readings.into_iter().enumerate() {
            let excerpt = || format!("{} {} {} {}", r.entity, r.sensor, r.kind, r.value);
            if !r.ts.is_known() {
                out.reject(Quarantined::new(
                    Place::field(format!("{what}[{i}].ts")),
                    Reason::MissingTimestamp,
                    "a stored reading needs a time: give the capture's taken_at",
                    &excerpt(),
                ));
            } else if known.contains(&r.entity) {
                out.accept(r);
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
        let readings = std::mem::take(&mut self.readings);
        let place = Place::source(source);
        for (r, keep) in readings.into_iter().zip(ok) {
            if keep {
                self.readings.push(r);
                continue;
            }
            let excerpt = format!(
                "{} {} {} {} @ {}",
                r.entity,
                r.sensor,
                r.kind,
                r.value,
                r.ts.to_rfc3339()
            );
            let mut detail = gate.explain(r.ts);
            if !hint.is_empty() {
                detail = format!("{detail}; {hint}");
            }
            self.stats.accepted -= 1;
            self.stats.seen -= 1;
            self.reject(Quarantined::new(
                place.clone(),
                Reason::ImplausibleTime,
                detail,
                &excerpt,
            ));
        }
    }
}
