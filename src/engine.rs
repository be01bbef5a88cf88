use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use kelvin_attribution::{
    AlignedInput, HostSeries, Ledger, LedgerOptions, PowerModels, WorkloadSeries, attribute,
};
use kelvin_ingest::{
    Admission, Decode, Decoders, IngestBatch, IngestStats, Normalizer, ParseOptions, PollBounds,
    QuarantineLog, Quarantined, RuleSet, SubscriberId, WorkloadLabels, prometheus,
};
use kelvin_model::{
    EntityId, Inventory, SensorKind, TimeBounds, TimeGate, TimeRange, Timestamp, Workload,
};
use kelvin_placement::{Plan, host_states, place};
use kelvin_store::{Grid, ResampleOptions, SeriesKey, SeriesRead, Store, StoreOptions};

use crate::Error;
use crate::live::{Live, LiveOptions, Origin, open_journal, sift_late};

pub use kelvin_ingest::Batch;
pub use kelvin_placement::PlaceOptions;

/// Sources whose Prometheus series resolutions are kept (an agent polling a thousand
/// exporters keeps each one's); past it, or past [`MAX_SERIES_CACHE_ENTRIES`] resolutions in
/// all, every cache starts afresh: a caller naming every batch anew never grows the map.
const MAX_SERIES_CACHES: usize = 4096;
/// Series resolutions kept across all sources (a few hundred bytes each).
const MAX_SERIES_CACHE_ENTRIES: usize = 200_000;

/// What one [`Engine::ingest`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// Records seen, accepted and quarantined, by reason.
    pub stats: IngestStats,
    /// Accepted readings that replaced an earlier value at the same timestamp (last write
    /// wins). A late reading that replaces one already sealed is counted when the store merges
    /// it, in [`kelvin_store::StoreStats::overwritten`].
    pub duplicates: usize,
    /// Accepted readings that are explicit absences (kept as gaps, not values).
    pub absent: usize,
    /// Accepted readings the store refused as older than its late window (they are not
    /// stored; [`kelvin_store::StoreStats::too_late`]).
    pub too_late: u64,
    /// Accepted readings the store refused because its memory budget was exhausted.
    pub over_budget: u64,
    /// A snapshot capture's device clock offset from its poll, ns, when it was corrected
    /// (a BMC whose clock runs 137 s fast: `Some(137_000_000_000)`).
    pub clock_offset_ns: Option<i64>,
    /// Readings moved onto the collector's clock by that correction.
    pub clock_corrected: usize,
    /// Counter readings lower than their series' previous value with no wrap to explain it
    /// (a restart; [`Engine::counter_resets`] lists them).
    pub counter_resets: u64,
    /// Counter readings that wrapped around their modulus.
    pub counter_wraps: u64,
}

/// Builds an [`Engine`]. Every setting has a default; only the inventory is required.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    inventory: Option<Inventory>,
    workloads: Vec<Workload>,
    rules: RuleSet,
    decoders: Decoders,
    normalizer: Normalizer,
    interval_ns: i64,
    max_gap_ns: i64,
    power_sensor: String,
    quarantine_log: usize,
    time_bounds: TimeBounds,
    max_grid_cells: usize,
    live: Option<LiveOptions>,
    data_dir: Option<PathBuf>,
    store_options: StoreOptions,
    workload_labels: Option<WorkloadLabels>,
    poll_bounds: PollBounds,
}

/// Default of [`EngineBuilder::max_grid_cells`]: 2^24 cells, 128 MiB of `f64`.
pub const DEFAULT_MAX_GRID_CELLS: usize = 1 << 24;

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            inventory: None,
            workloads: Vec::new(),
            rules: RuleSet::builtin(),
            decoders: Decoders::builtin(),
            normalizer: Normalizer::builtin(),
            interval_ns: 60 * Timestamp::NANOS_PER_SEC,
            max_gap_ns: 5 * 60 * Timestamp::NANOS_PER_SEC,
            power_sensor: "dcmi".into(),
            quarantine_log: 1000,
            time_bounds: TimeBounds::default(),
            max_grid_cells: DEFAULT_MAX_GRID_CELLS,
            live: None,
            data_dir: None,
            store_options: StoreOptions::default(),
            workload_labels: None,
            poll_bounds: PollBounds::default(),
        }
    }
}

impl EngineBuilder {
    /// The estate: sites, racks, hosts (and optionally workloads). Required.
    pub fn inventory(mut self, inv: Inventory) -> Self {
        self.inventory = Some(inv);
        self
    }

    /// Workloads, running (with a host) or pending; appended to the inventory's.
    pub fn workloads(mut self, workloads: impl IntoIterator<Item = Workload>) -> Self {
        self.workloads.extend(workloads);
        self
    }

    /// The metric-to-sensor rules (default: [`RuleSet::builtin`]).
    pub fn rules(mut self, rules: RuleSet) -> Self {
        self.rules = rules;
        self
    }

    /// Adds a decoder for [`Batch::Capture`]s: chosen by its name and by detection like the
    /// built-in ones (one with a built-in name replaces that decoder). See
    /// [`kelvin_ingest::Decode`].
    pub fn decoder(mut self, decoder: impl Decode + 'static) -> Self {
        self.decoders.add(decoder);
        self
    }

    /// The decoders for [`Batch::Capture`]s (default: [`Decoders::builtin`]), replacing those
    /// set so far.
    pub fn decoders(mut self, decoders: Decoders) -> Self {
        self.decoders = decoders;
        self
    }

    /// Vendor-name, unit, absent-value and status normalization for captures (default:
    /// [`Normalizer::builtin`]).
    pub fn normalizer(mut self, normalizer: Normalizer) -> Self {
        self.normalizer = normalizer;
        self
    }

    /// Attribution interval, seconds (default 60).
    pub fn interval_secs(mut self, secs: u32) -> Self {
        self.interval_ns = i64::from(secs) * Timestamp::NANOS_PER_SEC;
        self
    }

    /// Longest gap between samples that is interpolated across, seconds (default 300).
    pub fn max_gap_secs(mut self, secs: u32) -> Self {
        self.max_gap_ns = i64::from(secs) * Timestamp::NANOS_PER_SEC;
        self
    }

    /// The sensor name of each host's wall-power meter (default `dcmi`, the IPMI exporter's
    /// DCMI reading). A host with exactly one power sensor uses it whatever its name.
    pub fn power_sensor(mut self, name: impl Into<String>) -> Self {
        self.power_sensor = name.into();
        self
    }

    /// How many quarantined records the engine keeps for inspection (default 1000; all are
    /// counted regardless).
    pub fn quarantine_log(mut self, n: usize) -> Self {
        self.quarantine_log = n;
        self
    }

    /// How far from the rest of the data a reading's time may lie (default
    /// [`TimeBounds::default`]: 7 days, the bulk of the first batch as the reference). Readings
    /// beyond are quarantined with
    /// [`Reason::ImplausibleTime`](kelvin_ingest::Reason::ImplausibleTime), so a clock at the
    /// epoch or a year typed wrong cannot stretch [`Engine::data_span`]. A live embedder anchors
    /// the bounds on its clock with [`TimeBounds::with_anchor`].
    pub fn time_bounds(mut self, bounds: TimeBounds) -> Self {
        self.time_bounds = bounds;
        self
    }

    /// Most cells (intervals × series) one aligned window may have (default
    /// [`DEFAULT_MAX_GRID_CELLS`]); a larger window is refused with [`Error::Window`] before
    /// anything is allocated.
    pub fn max_grid_cells(mut self, cells: usize) -> Self {
        self.max_grid_cells = cells;
        self
    }

    /// Makes the engine live (in memory unless [`EngineBuilder::data_dir`] is set too): readings
    /// are taken in event time from many sources, and each interval is billed once, when every
    /// source has passed it ([`Engine::live_status`], [`Engine::commit`], [`Engine::finish`]).
    pub fn live(mut self, opts: LiveOptions) -> Self {
        self.live = Some(opts);
        self
    }

    /// Keeps the engine's readings (the store's write-ahead log and block files) and its book
    /// of closed bills in `dir`, and makes it live (with [`LiveOptions::default`] unless
    /// [`EngineBuilder::live`] says otherwise). Building on a directory that holds state
    /// recovers it: every commit the engine acknowledged is there, and a commit that did not
    /// finish is not.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The store's options (block size, retention, memory budget; default
    /// [`StoreOptions::default`]). A live engine widens the late window to its lateness plus
    /// restatement window when it is narrower.
    pub fn store_options(mut self, opts: StoreOptions) -> Self {
        self.store_options = opts;
        self
    }

    /// Creates workloads from telemetry labels: a cAdvisor or dcgm-exporter sample of a pod
    /// the inventory does not list, on a host it does, is accepted under the pod's id and the
    /// pod is billed from its first sample to its last (or to its stop call) under the tenant
    /// its labels name ([`WorkloadLabels`]: by default `pod`, `namespace`, and the host from
    /// `node`, `instance` or `Hostname`). Live engines only keep these runs
    /// ([`Engine::workload_spans`]).
    pub fn workload_labels(mut self, labels: WorkloadLabels) -> Self {
        self.workload_labels = Some(labels);
        self
    }

    /// How far ahead of or behind the poll that fetched it a reading may be (default
    /// [`PollBounds::default`]: 15 min ahead, 6 h behind). Readings beyond are quarantined as
    /// [`Reason::ImplausibleTime`](kelvin_ingest::Reason::ImplausibleTime) — a capture from
    /// another day cannot stretch the data span. Applies to batches with a poll time
    /// ([`Batch::prometheus_at`], [`Batch::with_poll_time`], a capture's `taken_at`); a
    /// capture that is a log over time (own timestamps spread over more than a minute) is not
    /// held to its start.
    pub fn poll_bounds(mut self, bounds: PollBounds) -> Self {
        self.poll_bounds = bounds;
        self
    }

    /// Validates the inventory and builds the engine.
    ///
    /// # Errors
    /// [`Error::NoData`] without an inventory or interval; [`Error::Model`] when the
    /// inventory is inconsistent (duplicate ids, dangling references).
    pub fn build(self) -> Result<Engine, Error> {
        let mut inventory = self.inventory.ok_or(Error::NoData {
            what: "an inventory (EngineBuilder::inventory)",
        })?;
        if self.interval_ns <= 0 {
            return Err(Error::NoData {
                what: "a positive attribution interval",
            });
        }
        inventory.workloads.extend(self.workloads);
        inventory.validate()?;
        let known: HashSet<EntityId> = inventory.ids().into_iter().cloned().collect();
        let live_opts = self
            .live
            .or_else(|| self.data_dir.as_ref().map(|_| LiveOptions::default()));
        let mut store_opts = self.store_options;
        if let Some(l) = &live_opts {
            let need = l.lateness_ns.saturating_add(l.restatement_ns);
            if store_opts.late_window_ns < need {
                store_opts = store_opts.with_late_window_ns(need);
            }
            store_opts = store_opts.with_sync(l.sync);
            if self.data_dir.is_some() && store_opts.memory_budget.is_none() {
                store_opts = store_opts.with_memory_budget(l.store_budget);
            }
            if self.data_dir.is_some() && store_opts.resident_ns.is_none() {
                // What closing and restating read stays in memory; the floors' longer history
                // (read every recalibration) and queries reaching further back read their
                // blocks from disk.
                store_opts = store_opts.with_resident_ns(Some(
                    l.lateness_ns
                        .saturating_add(l.restatement_ns)
                        .saturating_add(self.max_gap_ns)
                        .saturating_add(self.interval_ns),
                ));
            }
            if let (Some(keep), None) = (l.retention_ns, store_opts.retention_ns) {
                let keep = keep.max(need.saturating_add(l.floor_history_ns));
                store_opts = store_opts
                    .with_retention_ns(Some(keep))
                    .with_rollups(&[300 * Timestamp::NANOS_PER_SEC], None)?;
            }
        }
        let store = match &self.data_dir {
            Some(dir) => Store::open(dir.join("store"), store_opts)?.0,
            None => Store::in_memory(store_opts),
        };
        let mut live = live_opts.map(|o| Box::new(Live::new(o, self.interval_ns, self.max_gap_ns)));
        let mut known = known;
        if let (Some(l), Some(dir)) = (&mut live, &self.data_dir) {
            open_journal(l, &dir.join("engine.journal"))?;
            // Workloads started by calls before a restart are still known to the decoders.
            for s in l.registry.spans.values() {
                if s.origin == crate::SpanOrigin::Call {
                    known.insert(s.workload.clone());
                }
            }
            // So are hosts added by calls.
            for span in l.hosts.values() {
                if !inventory.hosts.iter().any(|h| h.id == span.host.id) {
                    inventory.hosts.push(span.host.clone());
                }
                known.insert(span.host.id.clone());
            }
        }
        let static_ids: HashSet<EntityId> =
            inventory.workloads.iter().map(|w| w.id.clone()).collect();
        let mut running: std::collections::HashMap<EntityId, Vec<usize>> =
            std::collections::HashMap::new();
        for (i, w) in inventory.workloads.iter().enumerate() {
            if let Some(h) = &w.host {
                running.entry(h.clone()).or_default().push(i);
            }
        }
        let mut engine = Engine {
            inventory,
            known: Arc::new(known),
            rules: self.rules,
            decoders: self.decoders,
            normalizer: self.normalizer,
            store,
            stats: IngestStats::default(),
            quarantine: Vec::new(),
            quarantine_log: self.quarantine_log,
            interval_ns: self.interval_ns,
            resample: ResampleOptions::default().with_max_gap_ns(self.max_gap_ns),
            power_sensor: self.power_sensor,
            models: OnceLock::new(),
            gate: TimeGate::new(self.time_bounds),
            max_grid_cells: self.max_grid_cells,
            live,
            workload_labels: self.workload_labels,
            poll_bounds: self.poll_bounds,
            log: QuarantineLog::new(self.quarantine_log),
            counters: Default::default(),
            series_caches: Default::default(),
            series_cache_entries: 0,
            running,
            static_ids,
            data_dir: self.data_dir.clone(),
        };
        // The counts of a reopened engine run on from its last acknowledgement.
        if let Some(l) = &engine.live {
            engine.stats.clone_from(&l.ack.ingest);
            engine.log.carry_counts(&l.ack.quarantined);
            engine.counters.carry(l.ack.counters);
        }
        engine.rebuild_floor_history()?;
        Ok(engine)
    }
}

/// The embedder's handle: feed it telemetry, ask it for bills and placements.
///
/// ```
/// use kelvin::{Batch, Engine, PlaceOptions};
/// use kelvin_model::{EntityId, Host, Inventory, Rack, Resources, Room, Site, Workload};
///
/// let id = |s: &str| EntityId::new(s);
/// let inv = Inventory {
///     sites: vec![Site { id: id("s")?, name: "lab".into() }],
///     rooms: vec![Room { id: id("room")?, site: id("s")? }],
///     racks: vec![Rack { id: id("r1")?, room: id("room")?, row: None }],
///     hosts: vec![Host { id: id("h1")?, rack: id("r1")?, capacity: Resources::new(16.0, 64 << 30), pdu: None }],
///     workloads: vec![Workload { id: id("w1")?, tenant: "t".into(), owner: "o".into(),
///                                requests: Resources::new(4.0, 8 << 30), host: Some(id("h1")?) }],
///     ..Inventory::default()
/// };
/// let mut engine = Engine::builder().inventory(inv).interval_secs(60).build()?;
/// let text = "\
/// ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 200 0
/// ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 200 120000
/// container_cpu_usage_seconds_total{pod=\"w1\",container=\"main\"} 0 0
/// container_cpu_usage_seconds_total{pod=\"w1\",container=\"main\"} 240 120000
/// ";
/// let report = engine.ingest(Batch::prometheus("scrape", text))?;
/// assert_eq!(report.stats.accepted, 4);
/// let bill = engine.attribute(engine.data_span().unwrap())?;
/// assert_eq!(bill.measured_uj(), 24_000_000_000);   // 200 W for 120 s
/// // Two intervals are too few to calibrate an idle floor, so all of it is dynamic and goes
/// // to w1, the only workload that used the CPU.
/// assert_eq!(bill.attributed_uj(), 24_000_000_000);
/// let plan = engine.place(&[Workload { id: id("w2")?, tenant: "t".into(), owner: "o".into(),
///                          requests: Resources::new(8.0, 8 << 30), host: None }],
///                         &PlaceOptions::default())?;
/// assert_eq!(plan.assignments[0].host.as_str(), "h1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Engine {
    pub(crate) inventory: Inventory,
    pub(crate) known: Arc<HashSet<EntityId>>,
    pub(crate) rules: RuleSet,
    pub(crate) decoders: Decoders,
    pub(crate) normalizer: Normalizer,
    pub(crate) store: Store,
    pub(crate) stats: IngestStats,
    pub(crate) quarantine: Vec<Quarantined>,
    pub(crate) quarantine_log: usize,
    pub(crate) interval_ns: i64,
    pub(crate) resample: ResampleOptions,
    pub(crate) power_sensor: String,
    pub(crate) models: OnceLock<PowerModels>,
    pub(crate) gate: TimeGate,
    pub(crate) max_grid_cells: usize,
    pub(crate) live: Option<Box<Live>>,
    pub(crate) workload_labels: Option<WorkloadLabels>,
    pub(crate) poll_bounds: PollBounds,
    pub(crate) log: QuarantineLog,
    pub(crate) counters: crate::counters::CounterWatch,
    /// Prometheus series resolutions per source, kept across ingest calls.
    pub(crate) series_caches:
        std::collections::HashMap<String, kelvin_ingest::prometheus::SeriesCache>,
    /// The resolutions they hold in all.
    pub(crate) series_cache_entries: usize,
    /// The inventory's running workloads by host (indexes into `inventory.workloads`).
    pub(crate) running: std::collections::HashMap<EntityId, Vec<usize>>,
    /// The inventory's workloads (billed as such, never tracked as spans).
    pub(crate) static_ids: HashSet<EntityId>,
    /// Where a durable engine keeps its store and journal.
    pub(crate) data_dir: Option<std::path::PathBuf>,
}

impl Engine {
    /// A builder with defaults.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The validated inventory (with workloads).
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The store of everything ingested so far.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Cumulative ingestion counts.
    pub fn ingest_stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The quarantine log: counts by reason since the engine was built (never capped) and
    /// bounded examples (the most recent, and the first of each reason).
    pub fn quarantine_log(&self) -> &QuarantineLog {
        &self.log
    }

    /// Takes the quarantine log's examples out (their counts stay), for an embedder that
    /// ships them elsewhere as they come.
    pub fn drain_quarantine(&mut self) -> Vec<Quarantined> {
        self.log.drain()
    }

    /// Calls `f` for every record quarantined from now on (all of them, not only the kept
    /// examples).
    pub fn subscribe_quarantine(&mut self, f: kelvin_ingest::Subscriber) -> SubscriberId {
        self.log.subscribe(f)
    }

    /// The first quarantined records (up to the builder's `quarantine_log`), in order.
    pub fn quarantine(&self) -> &[Quarantined] {
        &self.quarantine
    }

    /// Ingests a batch: parses it, quarantines what is malformed or about unknown entities,
    /// and stores the rest.
    ///
    /// # Errors
    /// None for bad records (they are quarantined and counted); this returns `Result` so that
    /// future batch kinds that read from I/O can fail.
    pub fn ingest(&mut self, batch: Batch) -> Result<IngestReport, Error> {
        let admission = Admission {
            rules: &self.rules,
            decoders: &self.decoders,
            normalizer: &self.normalizer,
            known: &self.known,
            workloads: self.workload_labels.as_ref(),
        };
        let origin = Origin::of(&batch);
        // A scrape's series map the same way as the last scrape's of its source: the
        // resolutions are kept across calls (bounded: a caller naming every batch anew
        // gets fresh caches, never a growing map).
        let key = match &batch {
            Batch::PrometheusText { source, .. } => Some(source.clone()),
            _ => None,
        };
        let (before, cache) = match &key {
            Some(source) => {
                let fresh = !self.series_caches.contains_key(source);
                if (fresh && self.series_caches.len() >= MAX_SERIES_CACHES)
                    || self.series_cache_entries >= MAX_SERIES_CACHE_ENTRIES
                {
                    self.series_caches.clear();
                    self.series_cache_entries = 0;
                }
                let c = self.series_caches.entry(source.clone()).or_default();
                (c.len(), Some(c))
            }
            None => (0, None),
        };
        let (source, parsed) = admission.decode_with(batch, cache);
        if let Some(c) = key.as_ref().and_then(|k| self.series_caches.get(k)) {
            self.series_cache_entries =
                (self.series_cache_entries + c.len()).saturating_sub(before);
        }
        self.absorb(&source, &origin, parsed)
    }

    /// Ingests what a caller's own decoding produced (a Redfish crawl, a sysfs scan): its
    /// readings are admitted against the inventory like any batch's (those of unknown entities
    /// or without a time are quarantined), and its quarantine and counts are kept. `source`
    /// names the collector, as [`Batch::source`] does.
    ///
    /// ```
    /// use kelvin::model::{Inventory, Reading, EntityId, SensorKind, Timestamp};
    /// let mut engine = kelvin::Engine::builder().inventory(Inventory::default()).build()?;
    /// let mut decoded = kelvin::ingest::IngestBatch::default();
    /// decoded.readings.push(Reading::new(EntityId::new("nowhere")?, "psu", SensorKind::Power,
    ///     100.0, Timestamp::from_secs(1_800_000_000)));
    /// decoded.stats.seen = 1;
    /// decoded.stats.accepted = 1;
    /// let report = engine.ingest_decoded("redfish:bmc1", decoded)?;
    /// assert_eq!((report.stats.accepted, report.stats.quarantined), (0, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`Engine::ingest`].
    pub fn ingest_decoded(
        &mut self,
        source: &str,
        mut decoded: IngestBatch,
    ) -> Result<IngestReport, Error> {
        let readings = std::mem::take(&mut decoded.readings);
        let admitted = IngestBatch::admit(source, readings, &self.known);
        decoded.stats.seen = decoded.stats.seen.saturating_sub(admitted.stats.seen);
        decoded.stats.accepted = decoded.stats.accepted.saturating_sub(admitted.stats.seen);
        decoded.append(admitted);
        self.absorb(source, &Origin::named(source), decoded)
    }

    /// Stores what a decoder produced and keeps its counts and quarantine; readings implausibly
    /// far in time from the rest are quarantined first.
    fn absorb(
        &mut self,
        source: &str,
        origin: &Origin,
        mut parsed: IngestBatch,
    ) -> Result<IngestReport, Error> {
        let fix = match origin.poll {
            Some(p) => crate::clock::check_times(
                &mut parsed,
                Timestamp::from_nanos(p),
                origin.capture,
                &self.poll_bounds,
                source,
            ),
            None => crate::clock::ClockFix::default(),
        };
        parsed.sift_times(
            &mut self.gate,
            source,
            "configure with EngineBuilder::time_bounds",
        );
        if let Some(live) = &mut self.live {
            sift_late(
                live,
                &mut parsed,
                self.interval_ns,
                self.resample.max_gap_ns,
            );
        }
        let inserted = self.store.extend(&parsed.readings)?;
        let store = &self.store;
        let counted = self.counters.observe(&parsed.readings, |key, ts| {
            let d = store
                .scan(store.find(key)?, ts.saturating_sub(COUNTER_SEED_NS), ts)
                .ok()?;
            Some((*d.ts.last()?, *d.values.last()?))
        });
        if let Some(live) = &mut self.live {
            let statics = &self.static_ids;
            live.sighted(parsed.sightings.values(), |w| statics.contains(w));
        }
        if let Some(mut live) = self.live.take() {
            let out = self.live_absorbed(&mut live, origin, &parsed);
            self.live = Some(live);
            out?;
        }
        self.stats.merge(&parsed.stats);
        let room = self.quarantine_log.saturating_sub(self.quarantine.len());
        self.quarantine
            .extend(parsed.quarantine.iter().take(room).cloned());
        self.log.extend_from_batch(&mut parsed);
        self.models = OnceLock::new();
        Ok(IngestReport {
            stats: parsed.stats,
            duplicates: inserted.overwritten as usize,
            absent: inserted.unusable as usize,
            too_late: inserted.too_late,
            over_budget: inserted.over_budget,
            clock_offset_ns: fix.offset_ns,
            clock_corrected: fix.corrected,
            counter_resets: counted.resets,
            counter_wraps: counted.wraps,
        })
    }

    /// Ingests Prometheus exposition text from a reader in bounded memory: the text is decoded
    /// as it streams and stored every few megabytes, so a recording larger than memory can be
    /// replayed. `progress` is called after each chunk with the bytes read and the records
    /// seen so far. Line numbers in quarantine places count from the start of the stream, as
    /// with [`Engine::ingest`].
    ///
    /// ```
    /// use kelvin::Engine;
    /// use kelvin::model::{EntityId, Host, Inventory, Rack, Resources, Room, Site};
    ///
    /// let id = |s: &str| EntityId::new(s);
    /// let inv = Inventory {
    ///     sites: vec![Site { id: id("s")?, name: "lab".into() }],
    ///     rooms: vec![Room { id: id("room")?, site: id("s")? }],
    ///     racks: vec![Rack { id: id("r1")?, room: id("room")?, row: None }],
    ///     hosts: vec![Host { id: id("h1")?, rack: id("r1")?, capacity: Resources::new(8.0, 32 << 30), pdu: None }],
    ///     ..Inventory::default()
    /// };
    /// let mut engine = Engine::builder().inventory(inv).build()?;
    /// let text = "ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 150 1700000000000\n\
    ///             ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} N/A 1700000015000\n";
    /// let mut calls = 0;
    /// let report = engine.ingest_prometheus_reader("scrape.prom", text.as_bytes(), |_, _| calls += 1)?;
    /// assert_eq!((report.stats.accepted, report.stats.quarantined), (1, 1));
    /// assert_eq!(engine.quarantine()[0].place.to_string(), "scrape.prom:2");
    /// assert!(calls >= 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] when reading fails, with the reader's error as its source (what was
    /// stored before stays stored);
    /// [`Error::Store`] as for [`Engine::ingest`].
    pub fn ingest_prometheus_reader(
        &mut self,
        source: &str,
        mut input: impl std::io::BufRead,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<IngestReport, Error> {
        const CHUNK: u64 = 8 << 20;
        let rules = self.rules.clone();
        let mut opts = ParseOptions::default().with_known_entities(self.known.clone());
        if let Some(w) = &self.workload_labels {
            opts = opts.with_workload_labels(w.clone());
        }
        let mut decoder = prometheus::Decoder::new(source, &rules, opts);
        let mut total = IngestReport::default();
        let (mut bytes, mut since) = (0u64, 0u64);
        let add = |total: &mut IngestReport, r: IngestReport| {
            total.stats.merge(&r.stats);
            total.duplicates += r.duplicates;
            total.absent += r.absent;
        };
        loop {
            let buf = input.fill_buf().map_err(|e| Error::Io {
                place: format!("{source} at byte {bytes}"),
                source: e,
            })?;
            if buf.is_empty() {
                break;
            }
            let n = buf.len();
            decoder.push(buf);
            input.consume(n);
            bytes += n as u64;
            since += n as u64;
            if since >= CHUNK {
                since = 0;
                let r = self.absorb(source, &Origin::named(source), decoder.drain())?;
                add(&mut total, r);
                progress(bytes, total.stats.seen);
            }
        }
        let r = self.absorb(source, &Origin::named(source), decoder.finish())?;
        add(&mut total, r);
        progress(bytes, total.stats.seen);
        Ok(total)
    }

    /// The attribution interval, nanoseconds ([`EngineBuilder::interval_secs`]).
    pub fn interval_ns(&self) -> i64 {
        self.interval_ns
    }

    /// First to last sample time over everything ingested, or `None` before any data.
    pub fn data_span(&self) -> Option<TimeRange> {
        let (a, b) = self.store.time_span()?;
        TimeRange::try_new(Timestamp::from_nanos(a), Timestamp::from_nanos(b)).ok()
    }

    /// The host's wall-power series, chosen from what the host has: the configured sensor
    /// ([`EngineBuilder::power_sensor`]); else IPMI DCMI (`dcmi`); else Redfish
    /// `PowerControl`'s instant `PowerConsumedWatts`; else the only wall-power candidate. GPU
    /// sensors (`gpu<k>/…`), limits, caps and the minimum/maximum/average statistics are never
    /// candidates. `None` when nothing is left (a live engine counts such hosts,
    /// [`LiveStatus::unmetered`](crate::LiveStatus::unmetered)).
    pub(crate) fn power_key(&self, host: &EntityId) -> Option<SeriesKey> {
        let keys: Vec<&SeriesKey> = self
            .store
            .select_keys(Some(host), Some(SensorKind::Power))
            .into_iter()
            .filter(|k| is_wall_candidate(&k.sensor))
            .collect();
        let by = |f: &dyn Fn(&str) -> bool| keys.iter().find(|k| f(&k.sensor)).copied();
        by(&|s| s == self.power_sensor)
            .or_else(|| by(&|s| s == "dcmi"))
            .or_else(|| by(&|s| s.to_ascii_lowercase().ends_with("powerconsumedwatts")))
            .or_else(|| (keys.len() == 1).then(|| keys[0]))
            .cloned()
    }

    /// Builds the aligned attribution input for `window` on the engine's interval grid: per
    /// host its measured energy, per running workload its requested cores (its reservation)
    /// and the CPU seconds its containers used.
    ///
    /// # Errors
    /// [`Error::Window`] when the window is shorter than one interval or larger than
    /// [`EngineBuilder::max_grid_cells`] allows.
    pub fn aligned(&self, window: TimeRange) -> Result<Aligned, Error> {
        let n = self.window_intervals(window)?;
        let grid = Grid::covering(window, self.interval_ns)?;
        debug_assert_eq!(grid.intervals(), n);
        let mut on_host: std::collections::HashMap<&EntityId, Vec<&Workload>> =
            std::collections::HashMap::new();
        for w in &self.inventory.workloads {
            if let Some(h) = &w.host {
                on_host.entry(h).or_default().push(w);
            }
        }
        let mut hosts = Vec::with_capacity(self.inventory.hosts.len());
        let mut counter_resets = 0;
        for h in &self.inventory.hosts {
            let energy_j = match self.power_key(&h.id) {
                Some(k) => self.store.integrate(&k, &grid, &self.resample)?,
                None => vec![f64::NAN; n],
            };
            let mut workloads = Vec::new();
            for w in on_host.get(&h.id).into_iter().flatten() {
                let keys = self
                    .store
                    .select_keys(Some(&w.id), Some(SensorKind::CpuTime));
                let cpu = self.store.increase_sum(keys, &grid, &self.resample)?;
                counter_resets += cpu.resets;
                workloads.push(WorkloadSeries::new(
                    w.id.clone(),
                    w.requests.cpu_cores,
                    cpu.values,
                ));
            }
            hosts.push(HostSeries {
                host: h.id.clone(),
                cores: h.capacity.cpu_cores,
                energy_j,
                meter_rel_sigma: 0.0,
                workloads,
                system_cpu_s: None,
            });
        }
        let input = AlignedInput {
            start: grid.start(),
            interval_ns: self.interval_ns,
            hosts,
        };
        Ok(Aligned {
            input,
            counter_resets,
        })
    }

    /// The number of intervals `window` has on the engine's grid, after checking that it has
    /// at least one and that hosts × workloads × intervals stays within
    /// [`EngineBuilder::max_grid_cells`] (checked before anything is allocated).
    fn window_intervals(&self, window: TimeRange) -> Result<usize, Error> {
        let span = window.len_nanos();
        let describe = || {
            format!(
                "{} to {}",
                window.start().to_rfc3339(),
                window.end().to_rfc3339()
            )
        };
        if span < self.interval_ns {
            return Err(Error::Window {
                window: describe(),
                reason: format!(
                    "it spans {:.3} s, shorter than one {} s interval{}",
                    span as f64 / 1e9,
                    self.interval_ns / Timestamp::NANOS_PER_SEC,
                    time_unit_hint(window)
                ),
            });
        }
        let n = usize::try_from(span / self.interval_ns).unwrap_or(usize::MAX);
        let series = self.inventory.hosts.len()
            + self
                .inventory
                .workloads
                .iter()
                .filter(|w| w.host.is_some())
                .count();
        let cells = n.saturating_mul(series.max(1));
        if cells > self.max_grid_cells {
            return Err(Error::Window {
                window: describe(),
                reason: format!(
                    "{n} intervals of {} s × {series} host and workload series is {cells} \
                     cells, more than the limit of {} (EngineBuilder::max_grid_cells): ask for a \
                     shorter window or a longer interval",
                    self.interval_ns / Timestamp::NANOS_PER_SEC,
                    self.max_grid_cells
                ),
            });
        }
        Ok(n)
    }

    /// Attributes each host's measured energy in `window` to its workloads under Kelvin's
    /// default policy, the two-part tariff: the idle floor (calibrated per host from its quiet
    /// intervals) by each workload's requested share of the host's cores, the unreserved rest
    /// to the host's `idle` account, and the energy above the floor by CPU use. Conserved
    /// exactly in microjoules: every sheet of the [`Ledger`] balances, `measured =
    /// attributed + unattributed` (the named accounts).
    ///
    /// # Errors
    /// [`Error::Window`] for a window shorter than one interval or too large;
    /// [`Error::Attribution`] for inconsistent data.
    pub fn attribute(&self, window: TimeRange) -> Result<Ledger, Error> {
        self.attribute_with(window, &LedgerOptions::default())
    }

    /// Attributes `window` with options: any policy — a built-in
    /// [`Policy`](kelvin_attribution::Policy) (full absorption, Kelvin 0.1's CPU share, the
    /// Kepler- and Scaphandre-like policies for comparison) or the embedder's own
    /// [`AttributionPolicy`](kelvin_attribution::AttributionPolicy) — the confidence of the
    /// intervals, and whether to keep the per-interval split.
    ///
    /// # Errors
    /// As [`Engine::attribute`].
    pub fn attribute_with(&self, window: TimeRange, opts: &LedgerOptions) -> Result<Ledger, Error> {
        Ok(attribute(&self.aligned(window)?.input, opts)?)
    }

    /// Per-host linear power models fitted on everything ingested (cached until the next
    /// ingest).
    ///
    /// # Errors
    /// [`Error::NoData`] before any data; [`Error::Window`] when the data spans less than one
    /// interval.
    pub fn power_models(&self) -> Result<&PowerModels, Error> {
        if let Some(m) = self.models.get() {
            return Ok(m);
        }
        let span = self.data_span().ok_or(Error::NoData {
            what: "readings to fit power models on",
        })?;
        let aligned = self.aligned(span)?;
        Ok(self.models.get_or_init(|| PowerModels::fit(&aligned.input)))
    }

    /// Places pending workloads (those without a host) on the inventory's hosts, given what
    /// running workloads already reserve; hosts are tried most-efficient-first by the fitted
    /// power models when there is data, in inventory order otherwise
    /// ([`kelvin_placement::place`]).
    ///
    /// Every decision explains itself, like the fleet `Placer`'s: each
    /// [`Assignment`](kelvin_placement::Assignment) names every host tried before its host
    /// with the constraints that rejected the workload there (`rejected`), and the runners-up
    /// with the score each would have had (`runners_up`, [`PlaceOptions::runners_up`] of
    /// them); its `Display` is one sentence. A workload that fits nowhere is in
    /// [`Plan::unplaced`] with the constraints and on how many hosts each blocked it. For
    /// power caps, heat and hosts awake now, use the fleet `Placer` over
    /// [`Engine::fleet_problem`].
    ///
    /// # Errors
    /// [`Error::Placement`] for invalid workloads (already placed, duplicate ids, bad requests).
    pub fn place(&self, workloads: &[Workload], opts: &PlaceOptions) -> Result<Plan, Error> {
        let hosts = host_states(&self.inventory);
        let models = self.power_models().ok();
        let power = models.map(|m| m as &dyn kelvin_model::MarginalPower);
        Ok(place(&hosts, workloads, power, opts)?)
    }
}

/// Whether a power sensor can be a host's wall meter: not a GPU's, not a limit or cap, not a
/// statistic over a period.
fn is_wall_candidate(sensor: &str) -> bool {
    let s = sensor.to_ascii_lowercase();
    let gpu = s.starts_with("gpu") && s[3..].starts_with(|c: char| c.is_ascii_digit());
    !gpu && ![
        "limit", "cap", "minimum", "maximum", "average", "/min", "/max",
    ]
    .iter()
    .any(|w| s.contains(w))
}

/// How far back a counter's tracker looks in the store for the sample it starts from.
const COUNTER_SEED_NS: i64 = 3_600 * Timestamp::NANOS_PER_SEC;

/// The likely cause of a window too short to attribute, when its times say so.
fn time_unit_hint(window: TimeRange) -> &'static str {
    // 1971-01-01: data from 1970 is almost always seconds read as milliseconds (1.79e9 s read as
    // ms is 1970-01-21) or a clock that started at the epoch.
    const YEAR_1971_NS: i64 = 31_536_000 * Timestamp::NANOS_PER_SEC;
    if window.end().as_nanos() < YEAR_1971_NS && window.start().as_nanos() >= 0 {
        "; its timestamps fall in January 1970, so they are probably seconds where milliseconds \
         were expected (Prometheus text gives milliseconds since the epoch) or a clock that was \
         never set"
    } else {
        ""
    }
}

/// Attribution input aligned on the engine's grid, with what aligning it noticed.
#[derive(Debug, Clone, PartialEq)]
pub struct Aligned {
    /// Per-host interval energies; per-workload requested cores and CPU seconds.
    pub input: AlignedInput,
    /// Counter resets detected in the CPU-time series used (container restarts).
    pub counter_resets: usize,
}
