//! What a live engine keeps: its options, its acknowledged state (watermarks, the interval
//! closed through, the floors in force, counts) and its book, and how they come back from the
//! journal after a crash.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::Arc;

use kelvin_attribution::ledger::{
    BookReader, BookRecord, BookTotals, BookWriter, ClosedInterval, Restatement,
};
use kelvin_attribution::{LedgerOptions, PinnedFloor};
use kelvin_model::{Timestamp, Watermarks};
use kelvin_store::Journal;
use serde::{Deserialize, Serialize};

use super::facility::{FacilityTotals, LiveFacility};
use super::gpu::GpuRun;
use super::workloads::{Registry, WorkloadSpan};
use crate::Error;

/// How a live engine closes its intervals. Set with [`EngineBuilder::live`]
/// (in memory) or implied, with its defaults, by [`EngineBuilder::data_dir`].
///
/// [`EngineBuilder::live`]: crate::EngineBuilder::live
/// [`EngineBuilder::data_dir`]: crate::EngineBuilder::data_dir
///
/// ```
/// use kelvin::LiveOptions;
///
/// let opts = LiveOptions::default().with_lateness_secs(300).with_restatement_secs(7_200);
/// assert_eq!(opts.lateness_ns, 300_000_000_000);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LiveOptions {
    /// How late a reading may arrive behind the newest reading of its source and still be in
    /// its interval's first bill (default 120 s: four 30 s scrapes).
    pub lateness_ns: i64,
    /// A source that has sent nothing for this long, in event time behind the newest source,
    /// stops holding intervals open (default 15 min).
    pub idle_source_ns: i64,
    /// A reading for an interval closed less than this long ago restates it; older ones are
    /// quarantined as late (default 1 h).
    pub restatement_ns: i64,
    /// How often the idle floors are calibrated again (default 15 min).
    pub recalibrate_ns: i64,
    /// The trailing window of closed intervals the floors are calibrated on (default 6 h).
    pub floor_history_ns: i64,
    /// The attribution policy and confidence (default: the two-part tariff at 95 %).
    pub ledger: LedgerOptions,
    /// `fsync` on every commit (default true; off only for benchmarks and tests that do not
    /// crash).
    pub sync: bool,
    /// Settle each GPU with an energy counter as a meter of its own, keyed by SM activity,
    /// and the host's wall meter on the rest (default true). Off, GPU energy stays in the
    /// wall meter and is split by CPU use, as the batch [`Engine::attribute`] does.
    ///
    /// [`Engine::attribute`]: crate::Engine::attribute
    pub gpu_meters: bool,
    /// Fill an interval a host's wall meter did not measure (a BMC that went silent for
    /// longer than the interpolation gap) from its RAPL package and DRAM counters, mapped to
    /// wall power by a fit on the intervals both measured in the floor history (the meter
    /// lattice's BMC → RAPL step; default true). The interval's ledger lines carry the
    /// provenance `rapl calibrated on <sensor>`. Off, such intervals stay unmeasured, as in
    /// the batch [`Engine::attribute`].
    ///
    /// [`Engine::attribute`]: crate::Engine::attribute
    pub rapl_fallback: bool,
    /// Most bytes the store of a durable live engine holds in memory (default 96 MiB): past
    /// it the store checkpoints and keeps only what is not yet on disk, so a day of a
    /// thousand hosts runs in flat memory. A store budget set with
    /// [`EngineBuilder::store_options`](crate::EngineBuilder::store_options) wins. In-memory
    /// engines have no budget unless one is set there.
    pub store_budget: usize,
    /// How long a durable live engine keeps raw readings (default 30 days; `None`: for
    /// ever); before a day's partition is dropped it is summarized into 5-minute rollups
    /// (count, sum, min, max) that stay. A store retention set with
    /// [`EngineBuilder::store_options`](crate::EngineBuilder::store_options) wins. Must
    /// exceed the restatement window and the floor history (it is raised to them).
    pub retention_ns: Option<i64>,
    /// PUE and carbon-intensity series to price every closed line with (default none).
    pub facility: Option<LiveFacility>,
    /// Calibrate the floors of alike meters together (default true): hosts of one capacity
    /// (cores, memory, GPUs and GPU meters) are taken to be one model, and their least active
    /// intervals are pooled, so a host that never idles gets the floor its twins measured;
    /// their GPUs are pooled likewise. Off, every meter is calibrated on its own intervals.
    pub pool_floors: bool,
    /// Bill the interval a wall meter's readings begin in — its first sample falls inside
    /// it, so the meter does not cover it from its start — at the mean power measured over
    /// the part it covers (default true). Off, that interval is unmeasured, as in the batch
    /// [`Engine::attribute`](crate::Engine::attribute).
    pub partial_first_interval: bool,
    /// On a host with GPUs whose wall meter carries their idle power (they are not meters
    /// of their own: no energy counter, or [`LiveOptions::gpu_meters`] off), the part of
    /// the floor reserved by GPUs: a workload reserves `(1 − w) × its cores ÷ the host's +
    /// w × its GPUs ÷ the host's` (default 0.5: a GPU server's idle is largely its GPUs').
    /// Where each GPU is a meter, its own floor is reserved by who holds it and the rest of
    /// the wall meter's by cores.
    pub gpu_reservation_weight: f64,
}

impl Default for LiveOptions {
    fn default() -> Self {
        const S: i64 = Timestamp::NANOS_PER_SEC;
        LiveOptions {
            lateness_ns: 120 * S,
            idle_source_ns: 900 * S,
            restatement_ns: 3_600 * S,
            recalibrate_ns: 900 * S,
            floor_history_ns: 6 * 3_600 * S,
            ledger: LedgerOptions::default(),
            sync: true,
            gpu_meters: true,
            rapl_fallback: true,
            store_budget: 96 << 20,
            retention_ns: Some(30 * 86_400 * S),
            facility: None,
            pool_floors: true,
            partial_first_interval: true,
            gpu_reservation_weight: 0.5,
        }
    }
}

impl LiveOptions {
    /// Sets [`LiveOptions::lateness_ns`] in seconds.
    pub fn with_lateness_secs(mut self, s: u32) -> Self {
        self.lateness_ns = i64::from(s) * Timestamp::NANOS_PER_SEC;
        self
    }
    /// Sets [`LiveOptions::recalibrate_ns`] in seconds.
    pub fn with_recalibrate_secs(mut self, s: u32) -> Self {
        self.recalibrate_ns = i64::from(s.max(1)) * Timestamp::NANOS_PER_SEC;
        self
    }
    /// Sets [`LiveOptions::idle_source_ns`] in seconds.
    pub fn with_idle_source_secs(mut self, s: u32) -> Self {
        self.idle_source_ns = i64::from(s) * Timestamp::NANOS_PER_SEC;
        self
    }
    /// Sets [`LiveOptions::restatement_ns`] in seconds.
    pub fn with_restatement_secs(mut self, s: u32) -> Self {
        self.restatement_ns = i64::from(s) * Timestamp::NANOS_PER_SEC;
        self
    }
    /// Sets the policy and confidence ([`LiveOptions::ledger`]).
    pub fn with_ledger(mut self, ledger: LedgerOptions) -> Self {
        self.ledger = ledger;
        self
    }
    /// Sets [`LiveOptions::rapl_fallback`].
    pub fn with_rapl_fallback(mut self, on: bool) -> Self {
        self.rapl_fallback = on;
        self
    }

    /// Sets [`LiveOptions::gpu_meters`].
    pub fn with_gpu_meters(mut self, on: bool) -> Self {
        self.gpu_meters = on;
        self
    }
    /// Sets [`LiveOptions::store_budget`] in bytes.
    pub fn with_store_budget(mut self, bytes: usize) -> Self {
        self.store_budget = bytes;
        self
    }
    /// Sets [`LiveOptions::retention_ns`] in days (`None`: keep every reading).
    pub fn with_retention_days(mut self, days: Option<u32>) -> Self {
        self.retention_ns = days.map(|d| i64::from(d) * 86_400 * Timestamp::NANOS_PER_SEC);
        self
    }
    /// Sets [`LiveOptions::facility`].
    pub fn with_facility(mut self, facility: LiveFacility) -> Self {
        self.facility = Some(facility);
        self
    }
    /// Sets [`LiveOptions::pool_floors`].
    pub fn with_pool_floors(mut self, on: bool) -> Self {
        self.pool_floors = on;
        self
    }
    /// Sets [`LiveOptions::partial_first_interval`].
    pub fn with_partial_first_interval(mut self, on: bool) -> Self {
        self.partial_first_interval = on;
        self
    }
    /// Sets [`LiveOptions::gpu_reservation_weight`] (clamped to `[0, 1]`).
    pub fn with_gpu_reservation_weight(mut self, w: f64) -> Self {
        self.gpu_reservation_weight = if w.is_nan() { 0.0 } else { w.clamp(0.0, 1.0) };
        self
    }
    /// Sets [`LiveOptions::sync`].
    pub fn with_sync(mut self, sync: bool) -> Self {
        self.sync = sync;
        self
    }
}

/// Where a live engine stands: what it acknowledged, closed and billed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LiveStatus {
    /// Commits acknowledged since the engine's directory was created (a resuming feeder skips
    /// this many of its batches, when it commits once per batch).
    pub acknowledged: u64,
    /// Every interval before this instant is closed.
    pub closed_through: Option<Timestamp>,
    /// The engine's watermark: the slowest live source's newest reading minus the lateness.
    pub watermark: Option<Timestamp>,
    /// Totals of the book: closed intervals, restatements, measured, attributed and
    /// unattributed energy, per workload and per meter.
    pub totals: BookTotals,
    /// Readings quarantined because they arrived after their interval's restatement window.
    pub late: u64,
    /// Hosts without a wall meter (nothing the engine can choose: no DCMI, no Redfish
    /// `PowerConsumedWatts`, not a single power sensor), with the closed intervals they were
    /// billed nothing in: a warning, counted.
    pub unmetered: BTreeMap<String, u64>,
    /// Facility overhead and carbon per workload, when [`LiveOptions::facility`] is set.
    pub facility: FacilityTotals,
    /// Bytes the store holds in memory (its running estimate) and its budget, when it has one.
    pub store_bytes: (usize, Option<usize>),
    /// The newest drifts the meters' online models found (at most 256, oldest first; see
    /// [`MeterDrift`](super::MeterDrift)), and how many were found since the engine started.
    pub drifts: (Vec<super::MeterDrift>, u64),
}

/// The persisted part of a live engine's state, written with every commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ack {
    pub(crate) acknowledged: u64,
    pub(crate) marks: Watermarks,
    pub(crate) closed_through: Option<i64>,
    /// Start of the first interval (where the floors' history begins).
    pub(crate) first_interval: Option<i64>,
    /// The oldest reading seen before the first interval closed.
    #[serde(default)]
    pub(crate) oldest: Option<i64>,
    pub(crate) next_calibration: i64,
    pub(crate) late: u64,
    /// What the engine's ingest calls counted (seen, accepted, quarantined by reason), so
    /// that the counts run on across restarts.
    #[serde(default)]
    pub(crate) ingest: kelvin_ingest::IngestStats,
    /// The quarantine log's counts by reason.
    #[serde(default)]
    pub(crate) quarantined: BTreeMap<kelvin_ingest::Reason, u64>,
    /// The counter watch's anomalies and its readings out of order.
    #[serde(default)]
    pub(crate) counters: (kelvin_ingest::counter::CounterStats, u64),
}

/// Floors in force from an instant on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct FloorEpoch {
    pub(crate) from_ns: i64,
    pub(crate) floors: BTreeMap<String, PinnedFloor>,
    /// Per host, its RAPL counters' map to its wall meter, fitted on the same history.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) rapl: BTreeMap<String, kelvin_attribution::lattice::RaplCalibration>,
}

/// Journal payload tags besides the book's (1–3).
pub(crate) const TAG_ACK: u8 = 0x41;
const TAG_FLOORS: u8 = 0x46;
const TAG_SPAN: u8 = 0x53;
const TAG_GPU: u8 = 0x47;
const TAG_HOST: u8 = 0x48;

/// A GPU run as journalled.
#[derive(Debug, Serialize, Deserialize)]
struct GpuRecord {
    seq: u64,
    run: GpuRun,
}

/// A span as journalled.
#[derive(Debug, Serialize, Deserialize)]
struct SpanRecord {
    seq: u64,
    span: WorkloadSpan,
}

/// A live engine's state.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) opts: LiveOptions,
    pub(crate) journal: Option<Journal>,
    pub(crate) writer: BookWriter,
    pub(crate) ack: Ack,
    /// Floor epochs, oldest first; those older than the restatement window are dropped, but
    /// the newest is always kept.
    pub(crate) floors: VecDeque<Arc<FloorEpoch>>,
    /// Closed intervals still inside the restatement window, oldest first, with the floors
    /// they were settled with.
    pub(crate) recent: VecDeque<(ClosedInterval, Arc<FloorEpoch>)>,
    /// Closed intervals that late readings touched: start → why.
    pub(crate) dirty: BTreeMap<i64, String>,
    pub(crate) totals: BookTotals,
    /// Encoded payloads waiting for the next commit.
    pub(crate) pending: Vec<Vec<u8>>,
    /// Workloads that came and went.
    pub(crate) registry: Registry,
    /// The engine's interval, ns.
    pub(crate) interval_ns: i64,
    /// The longest gap interpolated across, ns.
    pub(crate) max_gap_ns: i64,
    /// Closed intervals per host without a wall meter.
    pub(crate) unmetered: BTreeMap<String, u64>,
    /// Facility overhead and carbon per workload.
    pub(crate) facility: FacilityTotals,
    /// What floor calibration reads of the closed intervals of the floor history.
    pub(crate) history: super::history::FloorHistory,
    /// Each meter's online model and the drifts it found.
    pub(crate) drift: super::drift::DriftWatch,
    /// Hosts added or retired by calls, with their validity.
    pub(crate) hosts: BTreeMap<kelvin_model::EntityId, super::HostSpan>,
    /// Hosts whose span changed since the last commit.
    pub(crate) hosts_changed: Vec<kelvin_model::EntityId>,
}

impl Live {
    pub(crate) fn new(opts: LiveOptions, interval_ns: i64, max_gap_ns: i64) -> Live {
        let marks = Watermarks::new(opts.lateness_ns, opts.idle_source_ns);
        Live {
            opts,
            journal: None,
            writer: BookWriter::new(),
            ack: Ack {
                acknowledged: 0,
                marks,
                closed_through: None,
                first_interval: None,
                oldest: None,
                next_calibration: i64::MIN,
                late: 0,
                ingest: Default::default(),
                quarantined: BTreeMap::new(),
                counters: Default::default(),
            },
            floors: VecDeque::from([Arc::new(FloorEpoch {
                from_ns: i64::MIN,
                floors: BTreeMap::new(),
                rapl: BTreeMap::new(),
            })]),
            recent: VecDeque::new(),
            dirty: BTreeMap::new(),
            totals: BookTotals::default(),
            pending: Vec::new(),
            registry: Registry::default(),
            interval_ns,
            max_gap_ns,
            unmetered: BTreeMap::new(),
            facility: FacilityTotals::default(),
            history: Default::default(),
            drift: Default::default(),
            hosts: BTreeMap::new(),
            hosts_changed: Vec::new(),
        }
    }

    pub(crate) fn status(&self) -> LiveStatus {
        LiveStatus {
            acknowledged: self.ack.acknowledged,
            closed_through: self.ack.closed_through.map(Timestamp::from_nanos),
            watermark: self.ack.marks.watermark().map(Timestamp::from_nanos),
            totals: self.totals.clone(),
            late: self.ack.late,
            unmetered: self.unmetered.clone(),
            facility: self.facility.clone(),
            store_bytes: (0, None),
            drifts: (self.drift.drifts().cloned().collect(), self.drift.found()),
        }
    }

    /// The floors in force now.
    pub(crate) fn current_floors(&self) -> Arc<FloorEpoch> {
        self.floors.back().cloned().unwrap_or_else(|| {
            Arc::new(FloorEpoch {
                from_ns: i64::MIN,
                floors: BTreeMap::new(),
                rapl: BTreeMap::new(),
            })
        })
    }

    /// Records new floors from `from_ns` on (replacing those of the same instant, when a late
    /// reading changed what they were calibrated on).
    pub(crate) fn push_floors(&mut self, epoch: FloorEpoch) -> Arc<FloorEpoch> {
        if self.journal.is_some() {
            let mut p = vec![TAG_FLOORS];
            p.extend(serde_json::to_vec(&epoch).unwrap_or_default());
            self.pending.push(p);
        }
        put_floors(&mut self.floors, Arc::new(epoch))
    }

    /// Books a closed interval: totals, the recent window, and the journal at the next commit.
    pub(crate) fn book_closed(&mut self, c: ClosedInterval, floors: Arc<FloorEpoch>) {
        self.totals.add(&c);
        self.count_unmetered(&c);
        if let Some(f) = &self.opts.facility {
            self.facility.apply(f, &c, 1);
        }
        let rec = BookRecord::Closed(c);
        if self.journal.is_some() {
            self.writer.encode(&rec, &mut self.pending);
        }
        let BookRecord::Closed(c) = rec else {
            unreachable!("built as Closed above")
        };
        self.recent.push_back((c, floors));
        self.trim();
    }

    /// Counts the sheets of hosts that had no wall meter.
    fn count_unmetered(&mut self, c: &ClosedInterval) {
        for s in c.sheets.iter().filter(|s| &*s.provenance == "none") {
            *self.unmetered.entry(s.meter.to_string()).or_default() += 1;
        }
    }

    /// Books a restatement of the recent interval at `index`.
    pub(crate) fn book_restated(&mut self, index: usize, r: Restatement) {
        self.totals.restate(&r);
        if let Some(f) = &self.opts.facility {
            self.facility.apply(f, &r.old, -1);
            self.facility.apply(f, &r.new, 1);
        }
        if self.journal.is_some() {
            let rec = BookRecord::Restated(r);
            self.writer.encode(&rec, &mut self.pending);
            if let BookRecord::Restated(r) = rec {
                self.recent[index].0 = r.new;
            }
        } else {
            self.recent[index].0 = r.new;
        }
    }

    /// Drops closed intervals and floor epochs that left the restatement window.
    fn trim(&mut self) {
        let Some(ct) = self.ack.closed_through else {
            return;
        };
        // A reading accepted inside the restatement window interpolates up to `max_gap`
        // before it: keep those intervals too.
        let horizon = ct.saturating_sub(self.opts.restatement_ns.saturating_add(self.max_gap_ns));
        while self
            .recent
            .front()
            .is_some_and(|(c, _)| c.start.as_nanos() < horizon)
        {
            self.recent.pop_front();
        }
        while self.floors.len() > 1 && self.floors[1].from_ns <= horizon {
            self.floors.pop_front();
        }
        // A recalibration of an epoch inside the restatement window reads a floor history
        // before it.
        self.history.prune(
            horizon
                .saturating_sub(self.opts.floor_history_ns)
                .saturating_sub(self.interval_ns),
        );
        // Spans still matter to restatements and to the floors' calibration history.
        let keep = self.opts.restatement_ns.max(self.opts.floor_history_ns);
        self.registry.prune(ct.saturating_sub(keep));
    }

    /// Writes the acknowledgement and every pending record, durably when there is a journal.
    pub(crate) fn commit(&mut self) -> Result<(), Error> {
        self.ack.acknowledged += 1;
        let Some(j) = &mut self.journal else {
            self.pending.clear();
            self.registry.changed.clear();
            self.registry.gpu_changed.clear();
            self.hosts_changed.clear();
            return Ok(());
        };
        let mut changed = std::mem::take(&mut self.registry.gpu_changed);
        changed.sort_unstable();
        changed.dedup();
        for seq in changed {
            if let Some(run) = self.registry.gpu_runs.get(&seq) {
                let mut p = vec![TAG_GPU];
                let rec = GpuRecord {
                    seq,
                    run: run.clone(),
                };
                p.extend(serde_json::to_vec(&rec).unwrap_or_default());
                j.append(&p)?;
            }
        }
        let mut changed = std::mem::take(&mut self.registry.changed);
        changed.sort_unstable();
        changed.dedup();
        for seq in changed {
            if let Some(span) = self.registry.spans.get(&seq) {
                let mut p = vec![TAG_SPAN];
                let rec = SpanRecord {
                    seq,
                    span: span.clone(),
                };
                p.extend(serde_json::to_vec(&rec).unwrap_or_default());
                j.append(&p)?;
            }
        }
        let mut hosts = std::mem::take(&mut self.hosts_changed);
        hosts.sort_unstable();
        hosts.dedup();
        for id in hosts {
            if let Some(span) = self.hosts.get(&id) {
                let mut p = vec![TAG_HOST];
                p.extend(serde_json::to_vec(span).unwrap_or_default());
                j.append(&p)?;
            }
        }
        for p in self.pending.drain(..) {
            j.append(&p)?;
        }
        let mut p = vec![TAG_ACK];
        // Serializing plain numbers, strings and maps cannot fail.
        p.extend(serde_json::to_vec(&self.ack).unwrap_or_default());
        j.append(&p)?;
        j.commit()?;
        Ok(())
    }
}

/// Opens the journal at `path` into `live`: replays the book and the floors up to the last
/// acknowledgement, and cuts off whatever followed it (a commit that did not finish).
pub(crate) fn open_journal(live: &mut Live, path: &Path) -> Result<(), Error> {
    let mut reader = BookReader::new();
    // Records since the last acknowledgement, applied when the next one is read.
    let mut since: Vec<Replayed> = Vec::new();
    let mut acked_len = 0u64;
    let mut offset = 0u64;
    let mut names_at_ack = 0usize;
    let mut failed: Option<String> = None;
    let (journal, report) = Journal::open(path, live.opts.sync, |p| {
        if failed.is_some() {
            return Ok(());
        }
        offset += 8 + p.len() as u64;
        match p.first() {
            Some(&TAG_ACK) => match serde_json::from_slice::<Ack>(&p[1..]) {
                Ok(ack) => {
                    for r in since.drain(..) {
                        r.apply(live);
                    }
                    live.ack = ack;
                    live.trim();
                    acked_len = offset;
                    names_at_ack = reader.names_len();
                }
                Err(e) => failed = Some(format!("an acknowledgement: {e}")),
            },
            Some(&TAG_SPAN) => match serde_json::from_slice::<SpanRecord>(&p[1..]) {
                Ok(r) => since.push(Replayed::Span(r)),
                Err(e) => failed = Some(format!("a workload record: {e}")),
            },
            Some(&TAG_GPU) => match serde_json::from_slice::<GpuRecord>(&p[1..]) {
                Ok(r) => since.push(Replayed::Gpu(r)),
                Err(e) => failed = Some(format!("a GPU record: {e}")),
            },
            Some(&TAG_HOST) => match serde_json::from_slice::<super::HostSpan>(&p[1..]) {
                Ok(r) => since.push(Replayed::Host(r)),
                Err(e) => failed = Some(format!("a host record: {e}")),
            },
            Some(&TAG_FLOORS) => match serde_json::from_slice::<FloorEpoch>(&p[1..]) {
                Ok(f) => since.push(Replayed::Floors(f)),
                Err(e) => failed = Some(format!("a floor record: {e}")),
            },
            _ => match reader.decode(p) {
                Ok(Some(rec)) => since.push(Replayed::Book(rec)),
                Ok(None) => {}
                Err(e) => failed = Some(e.to_string()),
            },
        }
        Ok(())
    })?;
    if let Some(why) = failed {
        return Err(Error::Io {
            place: format!("{} at byte {}", path.display(), offset + 8),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the engine journal holds a record it cannot read: {why}"),
            ),
        });
    }
    let mut journal = journal;
    if acked_len + 8 < report.bytes {
        // Records of a commit that never finished: not acknowledged, so not kept, and the
        // names they defined are forgotten with them.
        journal.truncate(acked_len + 8)?;
    }
    reader.truncate_names(names_at_ack);
    live.writer = BookWriter::continuing(&reader);
    live.journal = Some(journal);
    Ok(())
}

/// Puts an epoch in order, replacing one of the same instant.
fn put_floors(floors: &mut VecDeque<Arc<FloorEpoch>>, epoch: Arc<FloorEpoch>) -> Arc<FloorEpoch> {
    match floors.iter().position(|f| f.from_ns >= epoch.from_ns) {
        Some(i) if floors[i].from_ns == epoch.from_ns => floors[i] = epoch.clone(),
        Some(i) => floors.insert(i, epoch.clone()),
        None => floors.push_back(epoch.clone()),
    }
    epoch
}

enum Replayed {
    Book(BookRecord),
    Floors(FloorEpoch),
    Span(SpanRecord),
    Gpu(GpuRecord),
    Host(super::HostSpan),
}

impl Replayed {
    fn apply(self, live: &mut Live) {
        match self {
            Replayed::Book(BookRecord::Closed(c)) => {
                live.totals.add(&c);
                live.count_unmetered(&c);
                if let Some(f) = &live.opts.facility {
                    live.facility.apply(f, &c, 1);
                }
                let f = live.current_floors();
                live.recent.push_back((c, f));
            }
            Replayed::Book(BookRecord::Restated(r)) => {
                live.totals.restate(&r);
                if let Some(f) = &live.opts.facility {
                    live.facility.apply(f, &r.old, -1);
                    live.facility.apply(f, &r.new, 1);
                }
                if let Some(slot) = live.recent.iter_mut().find(|(c, _)| c.start == r.new.start) {
                    slot.0 = r.new;
                }
            }
            Replayed::Floors(f) => {
                let f = put_floors(&mut live.floors, Arc::new(f));
                for slot in live.recent.iter_mut() {
                    if slot.1.from_ns == f.from_ns {
                        slot.1 = f.clone();
                    }
                }
            }
            Replayed::Span(r) => live.registry.restore(r.seq, r.span),
            Replayed::Gpu(r) => live.registry.restore_gpu(r.seq, r.run),
            Replayed::Host(h) => {
                live.hosts.insert(h.host.id.clone(), h);
            }
        }
    }
}
