//! A recorded dataset fed to a live engine as a live system would receive it: its metrics
//! window by window and its vendor captures when they were taken, merged in event time, each
//! batch acknowledged ([`Engine::commit`]) before the next; the `live` example's engine.
//!
//! A feed over an engine that already acknowledged batches (reopened on its data directory
//! after a crash) skips that many and goes on, so a killed run ends with the same book as an
//! uninterrupted one ([`feed`]).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use kelvin::attribution::facility::StepSeries;
use kelvin::dataset::{PodEvent, PodEventKind};
use kelvin::ingest::RuleSet;
use kelvin::ingest::WorkloadLabels;
use kelvin::model::{EntityId, Resources, Timestamp, Workload};
use kelvin::{Batch, Engine, Error, LiveFacility, LiveOptions, LiveStatus};
use serde_json::json;

use crate::{RecordedDataset, read_text_file};

/// How [`feed`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FeedOptions {
    /// The engine's data directory (`None`: in memory).
    pub data_dir: Option<PathBuf>,
    /// Width of one metrics batch, nanoseconds (default 30 s: one scrape of a 30 s exporter).
    pub batch_ns: i64,
    /// The live engine's options.
    pub live: LiveOptions,
    /// Grid carbon intensity, gCO2e per kWh, for the facility figures (with the PUE the
    /// dataset measures in `facility_truth.csv`, 1 where it has none).
    pub carbon_g_per_kwh: Option<f64>,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            data_dir: None,
            batch_ns: 30_000_000_000,
            live: LiveOptions::default(),
            carbon_g_per_kwh: None,
        }
    }
}

impl FeedOptions {
    /// Sets the data directory.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    /// Sets the live options.
    pub fn with_live(mut self, live: LiveOptions) -> Self {
        self.live = live;
        self
    }
    /// Sets the carbon intensity, gCO2e per kWh.
    pub fn with_carbon_g_per_kwh(mut self, g: Option<f64>) -> Self {
        self.carbon_g_per_kwh = g;
        self
    }
    /// Sets the batch width in seconds (at least 1).
    pub fn with_batch_secs(mut self, s: u32) -> Self {
        self.batch_ns = i64::from(s.max(1)) * 1_000_000_000;
        self
    }
}

/// What [`feed`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FeedReport {
    /// Batches the engine had acknowledged before this run (skipped).
    pub resumed_after: u64,
    /// Batches fed in this run.
    pub fed: u64,
    /// The engine's state at the end.
    pub status: LiveStatus,
}

impl FeedReport {
    /// The book as the `live` example writes it: `{"intervals", "measured_uj",
    /// "attributed_uj", "unattributed_uj", "workloads": {id: uj}}`, and
    /// `"workloads_by_meter": {provenance: {id: uj}}` (the GPU part of a bill is under `dcgm`)
    /// `"accounts": {idle|system|unexplained: uj}`, and with a carbon intensity
    /// `"overhead_uj"` and `"carbon_ug"` per workload.
    pub fn json(&self) -> serde_json::Value {
        let t = &self.status.totals;
        let workloads: BTreeMap<&str, i128> = t.workloads.iter().map(|(k, v)| (&**k, *v)).collect();
        let mut by_meter: BTreeMap<&str, BTreeMap<&str, i128>> = BTreeMap::new();
        for ((p, w), v) in &t.by_provenance {
            by_meter.entry(p).or_default().insert(w, *v);
        }
        let mut accounts: BTreeMap<&str, i128> = BTreeMap::new();
        for ((_, a), v) in &t.accounts {
            *accounts.entry(a.name()).or_default() += *v;
        }
        let f = &self.status.facility;
        let overhead: BTreeMap<&str, i128> =
            f.overhead_uj.iter().map(|(k, v)| (&**k, *v)).collect();
        let carbon: BTreeMap<&str, i128> = f.carbon_ug.iter().map(|(k, v)| (&**k, *v)).collect();
        json!({
            "intervals": t.intervals,
            "measured_uj": t.measured_uj,
            "attributed_uj": t.attributed_uj,
            "unattributed_uj": t.unattributed_uj,
            "workloads": workloads,
            "workloads_by_meter": by_meter,
            "accounts": accounts,
            "overhead_uj": overhead,
            "carbon_ug": carbon,
        })
    }
}

/// The live engine for `ds`: its estate and running workloads, the built-in rules and the
/// dataset's own.
///
/// # Errors
/// As [`Engine::builder`]'s `build`, and [`Error::Dataset`] for bad rules.
pub fn live_engine(ds: &RecordedDataset, opts: &FeedOptions) -> Result<Engine, Error> {
    let mut rules = RuleSet::builtin();
    if let Some(json) = &ds.rules_json {
        let extra = RuleSet::from_json(json)
            .map_err(|e| Error::dataset("prometheus_rules.json", e.to_string()))?;
        for rule in extra.rules() {
            rules.add(rule.clone())?;
        }
    }
    let running = ds.workloads.iter().filter(|w| w.host.is_some()).cloned();
    let mut live = opts.live.clone();
    if let Some(g) = opts.carbon_g_per_kwh {
        live = live.with_facility(LiveFacility::new(pue_series(ds)?, StepSeries::constant(g)));
    }
    let mut builder = Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(running)
        .rules(rules)
        .workload_labels(WorkloadLabels::default())
        .live(live);
    if let Some(dir) = &opts.data_dir {
        builder = builder.data_dir(dir);
    }
    builder.build()
}

/// The PUE the dataset measured, interval by interval (`facility_truth.csv`: IT and cooling
/// power), or 1 without it.
fn pue_series(ds: &RecordedDataset) -> Result<StepSeries, Error> {
    let points: Vec<(Timestamp, f64)> = ds
        .facility
        .iter()
        .filter(|f| f.it_w > 0.0)
        .map(|f| (f.start, (f.it_w + f.overhead_w) / f.it_w))
        .collect();
    if points.is_empty() {
        return Ok(StepSeries::constant(1.0));
    }
    Ok(StepSeries::try_new(points)?)
}

/// Feeds `ds` to `engine` in event time, one commit per batch, skipping the batches the engine
/// acknowledged before; then closes every interval ([`Engine::finish`]).
///
/// # Errors
/// [`Error::Io`] or [`Error::Dataset`] for unreadable files, and whatever the engine returns.
pub fn feed(
    ds: &RecordedDataset,
    engine: &mut Engine,
    opts: &FeedOptions,
) -> Result<FeedReport, Error> {
    feed_with(ds, engine, opts, |_| {})
}

/// [`feed`], calling `progress` after each acknowledged scrape batch with the event time
/// it reached (the end of the batch's window).
///
/// # Errors
/// As [`feed`].
///
/// # Examples
///
/// ```no_run
/// use kelvin_replay::RecordedDataset;
/// use kelvin_replay::live::{FeedOptions, feed_with, live_engine};
///
/// let ds = RecordedDataset::open("datasets/edge-small")?;
/// let opts = FeedOptions::default();
/// let mut engine = live_engine(&ds, &opts)?;
/// let mut reached = None;
/// feed_with(&ds, &mut engine, &opts, |t| reached = Some(t))?;
/// println!("fed through {reached:?}");
/// # Ok::<(), kelvin::Error>(())
/// ```
pub fn feed_with(
    ds: &RecordedDataset,
    engine: &mut Engine,
    opts: &FeedOptions,
    mut progress: impl FnMut(Timestamp),
) -> Result<FeedReport, Error> {
    let skip = engine.live_status().map_or(0, |s| s.acknowledged);
    let mut scrapes = Scrapes::open(ds, opts.batch_ns)?;
    let mut captures: Vec<usize> = (0..ds.captures.len()).collect();
    captures.sort_by_key(|&i| (ds.captures[i].taken_at, i));
    let mut captures = captures.into_iter().peekable();
    let mut events = ds.pod_events.iter().peekable();
    let (mut n, mut fed) = (0u64, 0u64);
    loop {
        let w = scrapes.peek().map_err(|e| io_err(ds, e))?;
        let c = captures.peek().map(|&c| ds.captures[c].taken_at.as_nanos());
        let e = events.peek().map(|e| e.observed.as_nanos());
        // Lifecycle events first, then captures, then the scrape window they precede.
        let item = if e.is_some_and(|e| w.is_none_or(|w| e < w) && c.is_none_or(|c| e <= c)) {
            let until = w.unwrap_or(i64::MAX).min(c.unwrap_or(i64::MAX));
            let mut group = Vec::new();
            while let Some(ev) =
                events.next_if(|ev| ev.observed.as_nanos() < until.max(e.unwrap_or(0) + 1))
            {
                group.push(ev);
            }
            Item::Events(group)
        } else if c.is_some_and(|c| w.is_none_or(|w| c < w)) {
            Item::Capture(captures.next().unwrap_or_default())
        } else {
            match scrapes.next_window().map_err(|e| io_err(ds, e))? {
                Some((start, text)) => Item::Scrape(start, text),
                None => break,
            }
        };
        n += 1;
        if n <= skip {
            continue;
        }
        let mut reached = None;
        match item {
            Item::Scrape(start, text) => {
                let poll = Timestamp::from_nanos(start.saturating_add(opts.batch_ns));
                engine.ingest(Batch::prometheus_at("metrics.prom", text, poll))?;
                reached = Some(poll);
            }
            Item::Capture(i) => {
                let c = &ds.captures[i];
                let text = read_text_file(&c.path, 64 << 20)?;
                engine.ingest(Batch::capture(
                    c.name.clone(),
                    text,
                    c.entity.clone(),
                    c.taken_at,
                ))?;
            }
            Item::Events(group) => {
                for ev in group {
                    apply_event(engine, ev)?;
                }
            }
        }
        engine.commit()?;
        fed += 1;
        if let Some(t) = reached {
            progress(t);
        }
    }
    engine.finish()?;
    let status = engine.live_status().ok_or(Error::NoData {
        what: "a live engine (EngineBuilder::live or data_dir)",
    })?;
    Ok(FeedReport {
        resumed_after: skip,
        fed,
        status,
    })
}

/// One acknowledged item of the merged stream.
enum Item<'a> {
    Scrape(i64, String),
    Capture(usize),
    Events(Vec<&'a PodEvent>),
}

/// A pod's lifecycle event as the Kubernetes API reports it, as a call: Running starts it on
/// its node, Succeeded, Failed or a deletion stops it.
fn apply_event(engine: &mut Engine, ev: &PodEvent) -> Result<(), Error> {
    let id = EntityId::new(&ev.pod)?;
    let at = |t: Option<Timestamp>| t.unwrap_or(ev.observed);
    match (ev.kind, ev.phase.as_str()) {
        (PodEventKind::Modified, "Running") => {
            let Some(node) = &ev.node else {
                return Ok(());
            };
            let w = Workload {
                id,
                tenant: ev.namespace.clone(),
                owner: String::new(),
                requests: Resources {
                    gpus: ev.gpus,
                    ..Resources::new(ev.cpu_request_cores, ev.memory_request_bytes)
                },
                host: Some(EntityId::new(node)?),
            };
            engine.start_workload(w, at(ev.started))?;
        }
        (PodEventKind::Deleted, _) | (_, "Succeeded" | "Failed") => {
            engine.stop_workload(&id, at(ev.finished))?;
        }
        _ => {}
    }
    Ok(())
}

/// The metrics' sample lines grouped in windows of `batch_ns`, in event-time order, each
/// window with the file's `# HELP`/`# TYPE` lines in front. A file small enough is sorted
/// first (some recordings are written series by series); a larger one is read as it streams
/// and must be written scrape by scrape (a line earlier than its window joins the window being
/// read, as a late sample would).
struct Scrapes {
    header: String,
    lines: Box<dyn Iterator<Item = std::io::Result<String>>>,
    batch_ns: i64,
    window: Option<i64>,
    buf: String,
    next: Option<(i64, String)>,
}

fn line_ts_ns(line: &str) -> Option<i64> {
    let ms: i64 = line.rsplit(' ').next()?.trim().parse().ok()?;
    ms.checked_mul(1_000_000)
}

impl Scrapes {
    fn open(ds: &RecordedDataset, batch_ns: i64) -> Result<Scrapes, Error> {
        let lines: Box<dyn Iterator<Item = std::io::Result<String>>> =
            match ds.open_metrics().map_err(Error::from)? {
                Some(r) if ds.metrics.is_empty() => {
                    let meta = ds.metrics_file.as_ref().and_then(|p| p.metadata().ok());
                    if meta.is_some_and(|m| m.len() <= 256 << 20) {
                        let lines = r.lines().collect::<std::io::Result<Vec<_>>>();
                        Box::new(sorted(lines.map_err(|e| io_err(ds, e))?).map(Ok))
                    } else {
                        Box::new(r.lines())
                    }
                }
                _ => Box::new(sorted(ds.metrics.lines().map(str::to_owned).collect()).map(Ok)),
            };
        Ok(Scrapes {
            header: String::new(),
            lines,
            batch_ns,
            window: None,
            buf: String::new(),
            next: None,
        })
    }

    /// The next window: its start and its text.
    fn next_window(&mut self) -> std::io::Result<Option<(i64, String)>> {
        if let Some(n) = self.next.take() {
            return Ok(Some(n));
        }
        for line in self.lines.by_ref() {
            let line = line?;
            if line.starts_with('#') {
                self.header.push_str(&line);
                self.header.push('\n');
                continue;
            }
            let w = line_ts_ns(&line).map(|t| t.div_euclid(self.batch_ns) * self.batch_ns);
            match (self.window, w) {
                (None, Some(w)) => self.window = Some(w),
                (Some(cur), Some(w)) if w > cur => {
                    let text = std::mem::take(&mut self.buf);
                    self.window = Some(w);
                    self.buf.push_str(&line);
                    self.buf.push('\n');
                    return Ok(Some((cur, format!("{}{text}", self.header))));
                }
                _ => {}
            }
            self.buf.push_str(&line);
            self.buf.push('\n');
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        let text = std::mem::take(&mut self.buf);
        Ok(Some((
            self.window.unwrap_or(i64::MIN),
            format!("{}{text}", self.header),
        )))
    }

    fn peek(&mut self) -> std::io::Result<Option<i64>> {
        if self.next.is_none() {
            self.next = self.next_window()?;
        }
        Ok(self.next.as_ref().map(|(w, _)| *w))
    }
}

fn io_err(ds: &RecordedDataset, e: std::io::Error) -> Error {
    Error::Io {
        place: ds
            .metrics_file
            .as_ref()
            .map_or("metrics.prom".into(), |p| p.display().to_string()),
        source: e,
    }
}

/// Lines sorted by their sample time, comments first (stable: equal times keep file order).
fn sorted(mut lines: Vec<String>) -> impl Iterator<Item = String> {
    lines.sort_by_key(|l| {
        if l.starts_with('#') {
            i64::MIN
        } else {
            line_ts_ns(l).unwrap_or(i64::MIN)
        }
    });
    lines.into_iter()
}

/// A live run's book against the dataset's ground truth.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TruthCheck {
    /// Workloads in the truth.
    pub workloads: usize,
    /// Of them, billed a positive amount.
    pub billed: usize,
    /// Those with energy in the truth that the book billed nothing, by id.
    pub unbilled: Vec<String>,
    /// Σ |billed − truth| ÷ Σ truth over the truth's workloads.
    pub weighted_error: f64,
    /// The same for the GPU part (the `dcgm` lines against `gpu_energy_j`), when the truth
    /// has GPU energy.
    pub gpu_weighted_error: Option<f64>,
}

impl FeedReport {
    /// The book against `ds`'s `ground_truth.csv`; `None` without truth.
    pub fn against_truth(&self, ds: &RecordedDataset) -> Option<TruthCheck> {
        if ds.truth.is_empty() {
            return None;
        }
        let t = &self.status.totals;
        let uj = |w: &str| t.workloads.get(w).copied().unwrap_or(0) as f64;
        let gpu_uj = |w: &str| {
            t.by_provenance
                .get(&(std::sync::Arc::from("dcgm"), std::sync::Arc::from(w)))
                .copied()
                .unwrap_or(0) as f64
        };
        let (mut err, mut tot, mut gerr, mut gtot) = (0.0, 0.0, 0.0, 0.0);
        let mut unbilled = Vec::new();
        for r in &ds.truth {
            let (w, truth) = (r.workload.as_str(), r.energy_j * 1e6);
            if uj(w) <= 0.0 && truth > 0.0 {
                unbilled.push(w.to_owned());
            }
            err += (uj(w) - truth).abs();
            tot += truth;
            if let Some(g) = r.gpu_energy_j {
                gerr += (gpu_uj(w) - g * 1e6).abs();
                gtot += g * 1e6;
            }
        }
        Some(TruthCheck {
            workloads: ds.truth.len(),
            billed: ds
                .truth
                .iter()
                .filter(|r| uj(r.workload.as_str()) > 0.0)
                .count(),
            unbilled,
            weighted_error: if tot > 0.0 { err / tot } else { 0.0 },
            gpu_weighted_error: (gtot > 0.0).then(|| gerr / gtot),
        })
    }
}
