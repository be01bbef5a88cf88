//! The agent: the live engine on its data directory, fed by the scheduled sources, publishing
//! what it knows after every acknowledged commit, pushing by remote write.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kelvin::attribution::facility::StepSeries;
use kelvin::ingest::{IngestStats, Reason, RuleSet, WorkloadLabels};
use kelvin::model::{EntityId, Host, Inventory, Rack, Resources, Room, Site, Timestamp};
use kelvin::{Engine, LiveFacility, LiveOptions};
use serde_json::{Value, json};

use crate::book::{Monotone, Names, energy_families, power_families};
use crate::config::{Config, SourceSpec};
use crate::export::FleetExporter;
use crate::exposition::Family;
use crate::remote_write::{RemoteWriter, Series};
use crate::schedule::{Delivery, Scheduler};
use crate::scheduler::jobs::SlurmLink;
use crate::scheduler::{Extender, View};
use crate::sources::{Health, Polled, Source};

/// An agent that cannot start or cannot go on: what and why.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The engine (its data directory, its journal).
    #[error("engine: {0}")]
    Engine(#[from] kelvin::Error),
    /// A file or socket.
    #[error("{place}: {source}")]
    Io {
        /// What was being done.
        place: String,
        /// The error.
        source: std::io::Error,
    },
}

/// What the engine published after its last commit: the figures every endpoint reads.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The book's families: energy counters (monotonic) and last-interval power gauges,
    /// rebuilt when an interval closes or is restated. Its first family is
    /// `kelvin_host_energy_joules`, the first three after the counters the host power gauges.
    pub book: Arc<Vec<Family>>,
    /// The engine's own counters and gauges (readings accepted and quarantined, intervals,
    /// closed-through, store memory), rebuilt every commit.
    pub engine: Vec<Family>,
    /// Meters' hosts and workloads' tenants, for bills.
    pub names: Arc<Names>,
    /// When intervals are closed through.
    pub closed_through: Option<Timestamp>,
    /// Commits acknowledged.
    pub acknowledged: u64,
    /// (closed intervals, restatements) the book's families were built at.
    pub book_at: (u64, u64),
}

impl Snapshot {
    /// Every family, the book's then the engine's.
    pub fn families(&self) -> impl Iterator<Item = &Family> {
        self.book.iter().chain(&self.engine)
    }
}

/// Everything the HTTP endpoints read, shared with the engine and the schedule.
#[derive(Debug)]
pub struct State {
    /// The latest snapshot.
    pub snapshot: RwLock<Arc<Snapshot>>,
    /// The sources' names, kinds and staleness limits, by index.
    pub sources: Vec<(String, &'static str, Duration, Option<String>)>,
    /// The sources' health, by index.
    pub health: Arc<Vec<Mutex<Health>>>,
    /// The remote writer, when configured.
    pub remote: Option<Arc<RemoteWriter>>,
    /// The engine's data directory (the bills API reads its journal).
    pub data_dir: PathBuf,
    /// Set once the engine has opened and the first snapshot is out.
    pub ready: AtomicBool,
    /// Set to stop every thread.
    pub stop: Arc<AtomicBool>,
    /// The scheduler extender and how far back its fleet view's measurements reach, when
    /// configured: its view is rebuilt each time an interval closes.
    pub extender: Option<(Arc<Extender>, Duration)>,
    /// The scheduled fleet export, when configured: run by the engine loop after a commit.
    pub export: Option<Mutex<FleetExporter>>,
}

fn kind_name(s: &SourceSpec) -> &'static str {
    use crate::config::Kind;
    match s.kind {
        Kind::Prometheus { .. } => "prometheus",
        Kind::Ipmitool(_) => "ipmitool",
        Kind::Freeipmi(_) => "freeipmi",
        Kind::Redfish { .. } => "redfish",
        Kind::Snmp { .. } => "snmp",
        Kind::Sysfs { .. } => "sysfs",
        Kind::Nvml { .. } => "nvml",
        _ => "command",
    }
}

/// The inventory: the configured file, plus a host for every source's `entity` it lacks
/// (with the capacity of the agent's own machine).
///
/// # Errors
/// [`AgentError`] for an unreadable or invalid inventory file.
pub fn inventory(cfg: &Config, specs: &[SourceSpec]) -> Result<Inventory, AgentError> {
    let mut inv = match &cfg.inventory {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| AgentError::Io {
                place: p.display().to_string(),
                source: e,
            })?;
            serde_json::from_str::<Inventory>(&text).map_err(|e| {
                crate::config::ConfigError::new(p.display().to_string(), e.to_string())
            })?
        }
        None => Inventory::default(),
    };
    let known: std::collections::HashSet<String> =
        inv.ids().into_iter().map(|i| i.to_string()).collect();
    let mut added = false;
    let id = |s: &str| {
        EntityId::new(s).map_err(|e| crate::config::ConfigError::new("entity", e.to_string()))
    };
    for s in specs {
        let Some(e) = &s.entity else { continue };
        if known.contains(e) || inv.hosts.iter().any(|h| h.id.as_str() == e) {
            continue;
        }
        if !added {
            inv.sites.push(Site {
                id: id("agent-site")?,
                name: "discovered by kelvin-agent".into(),
            });
            inv.rooms.push(Room {
                id: id("agent-room")?,
                site: id("agent-site")?,
            });
            inv.racks.push(Rack {
                id: id("agent-rack")?,
                room: id("agent-room")?,
                row: None,
            });
            added = true;
        }
        inv.hosts.push(Host {
            id: id(e)?,
            rack: id("agent-rack")?,
            capacity: local_capacity(),
            pdu: None,
        });
    }
    inv.validate()
        .map_err(|e| crate::config::ConfigError::new("inventory", e.to_string()))?;
    Ok(inv)
}

/// The agent's own machine's cores and memory: the capacity a discovered host is given
/// (an agent usually runs on the node it reads; an inventory gives each host its own).
fn local_capacity() -> Resources {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .unwrap_or(0);
    Resources {
        cpu_cores: cores as f64,
        memory_bytes: memory_kib * 1024,
        gpus: 0,
    }
}

/// Opens the live engine on `cfg.data_dir` with `inv`.
///
/// # Errors
/// As [`kelvin::EngineBuilder::build`].
pub fn open_engine(cfg: &Config, inv: Inventory) -> Result<Engine, AgentError> {
    let mut live = LiveOptions::default()
        .with_lateness_secs(cfg.lateness_s)
        .with_ledger(kelvin::LedgerOptions::default().with_policy(cfg.ledger_policy()));
    if cfg.pue.is_some() || cfg.carbon_g_per_kwh.is_some() {
        live = live.with_facility(LiveFacility::new(
            StepSeries::constant(cfg.pue.unwrap_or(1.0)),
            StepSeries::constant(cfg.carbon_g_per_kwh.unwrap_or(0.0)),
        ));
    }
    Ok(Engine::builder()
        .inventory(inv)
        .rules(RuleSet::builtin())
        .workload_labels(WorkloadLabels::default())
        .interval_secs(cfg.attribution_interval_s)
        .max_gap_secs(cfg.max_gap_secs())
        .live(live)
        .data_dir(&cfg.data_dir)
        .build()?)
}

/// Runs the agent until `stop` is set: the schedule, the engine loop (on this thread) and the
/// remote writer; the HTTP endpoints are the caller's ([`crate::http`]), reading `state`.
///
/// # Errors
/// [`AgentError`] when the engine cannot go on (its directory became unwritable).
pub fn run(
    mut engine: Engine,
    sources: Vec<Source>,
    workers: usize,
    state: Arc<State>,
    rw_interval: Option<Duration>,
    interval_s: f64,
    mut slurm: Option<SlurmLink>,
) -> Result<(), AgentError> {
    let mut monotone = Monotone::open(&state.data_dir.join("agent-counters.json"));
    publish(&engine, &state, &mut monotone, interval_s)?;
    state.ready.store(true, Ordering::SeqCst);
    let (scheduler, rx) = Scheduler::start(sources, workers, state.health.clone());
    let writer_thread = match (&state.remote, rw_interval) {
        (Some(w), Some(iv)) => {
            let (w, stop) = (w.clone(), state.stop.clone());
            std::thread::Builder::new()
                .name("kelvin-remote-write".into())
                .spawn(move || w.run(iv, &stop))
                .ok()
        }
        _ => None,
    };
    let out = engine_loop(
        &mut engine,
        &rx,
        &state,
        &mut monotone,
        interval_s,
        rw_interval,
        slurm.as_mut(),
    );
    state.stop.store(true, Ordering::SeqCst);
    drop(rx);
    scheduler.stop();
    if let Some(t) = writer_thread {
        let _ = t.join();
    }
    engine.commit()?;
    out
}

/// How often the engine commits what it ingested: a commit writes the store's log and the
/// engine's journal (with an acknowledgement naming every source's progress) and syncs them,
/// so it is grouped; figures are published after each.
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);

fn engine_loop(
    engine: &mut Engine,
    rx: &Receiver<Delivery>,
    state: &State,
    monotone: &mut Monotone,
    interval_s: f64,
    rw_interval: Option<Duration>,
    mut slurm: Option<&mut SlurmLink>,
) -> Result<(), AgentError> {
    let mut last_commit = Instant::now();
    let mut last_push = Instant::now();
    let mut pending = false;
    while !state.stop.load(Ordering::SeqCst) {
        let wait = COMMIT_EVERY.saturating_sub(last_commit.elapsed());
        match rx.recv_timeout(wait.max(Duration::from_millis(10))) {
            Ok(d) => {
                absorb(engine, state, d)?;
                pending = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(link) = slurm.as_deref_mut() {
            pending |= link.apply(engine);
        }
        if pending && last_commit.elapsed() >= COMMIT_EVERY {
            engine.commit()?;
            publish(engine, state, monotone, interval_s)?;
            // The published snapshot says whether an interval closed; only then is the book's
            // status (its totals, cloned) worth building.
            let closed = state.snapshot.read().ok().and_then(|s| s.closed_through);
            if let Some(link) = slurm.as_deref_mut()
                && closed.is_some_and(|c| link.closes(c))
                && let Some(status) = engine.live_status()
                && let Some(closed) = status.closed_through
            {
                link.after_close(closed, &status.totals);
            }
            last_commit = Instant::now();
            pending = false;
            export_if_due(engine, state);
        }
        if let (Some(w), Some(iv)) = (&state.remote, rw_interval)
            && last_push.elapsed() >= iv
        {
            last_push = Instant::now();
            let snap = state.snapshot.read().map(|s| s.clone()).unwrap_or_default();
            let _ = w.enqueue(series_of(snap.families()));
        }
    }
    if pending {
        engine.commit()?;
        publish(engine, state, monotone, interval_s)?;
    }
    Ok(())
}

/// Runs the fleet export when one is configured and due; a failure is counted and logged (the
/// engine still holds everything, the next run writes it).
fn export_if_due(engine: &Engine, state: &State) {
    let Some(mut x) = state.export.as_ref().and_then(|x| x.lock().ok()) else {
        return;
    };
    if !x.due() {
        return;
    }
    match x.run(engine) {
        Ok(e) => eprintln!(
            "kelvin-agent: exported {} readings in {} days and {} bills rows",
            e.readings, e.days, e.bills
        ),
        Err(e) => {
            eprintln!("kelvin-agent: the fleet export failed, retried in its next interval: {e}")
        }
    }
}

fn absorb(engine: &mut Engine, state: &State, d: Delivery) -> Result<(), AgentError> {
    let name = state
        .sources
        .get(d.source)
        .map_or("source", |s| s.0.as_str());
    for p in d.polled {
        match p {
            Polled::Batch(b) => engine.ingest(b)?,
            Polled::Decoded(b) => engine.ingest_decoded(name, b)?,
        };
    }
    Ok(())
}

/// The families as remote-write series, stamped now.
pub fn series_of<'a>(families: impl Iterator<Item = &'a Family>) -> Vec<Series> {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut out = Vec::new();
    for f in families {
        let name = f.sample_name();
        for (labels, v) in &f.samples {
            let mut l = vec![("__name__".to_string(), name.clone())];
            l.extend(labels.iter().cloned());
            out.push(Series {
                labels: l,
                samples: vec![(ms, *v)],
            });
        }
    }
    out
}

/// Builds the snapshot from the engine's acknowledged state and swaps it in: the book's
/// families only when an interval closed or was restated since the last one.
fn publish(
    engine: &Engine,
    state: &State,
    monotone: &mut Monotone,
    interval_s: f64,
) -> Result<(), AgentError> {
    let Some(status) = engine.live_status() else {
        return Ok(());
    };
    let held = |e: std::io::Error| AgentError::Io {
        place: state
            .data_dir
            .join("agent-counters.json")
            .display()
            .to_string(),
        source: e,
    };
    let prev = state.snapshot.read().map(|s| s.clone()).unwrap_or_default();
    let at = (status.totals.intervals, status.totals.restatements);
    let (book, names) = if at == prev.book_at && !prev.book.is_empty() {
        (prev.book.clone(), prev.names.clone())
    } else {
        if let Some((ext, recent)) = &state.extender {
            refresh_view(engine, ext, *recent);
        }
        let names = Names::of(engine);
        let mut counters = energy_families(&status.totals, &status.facility, &names);
        monotone.apply(&mut counters).map_err(held)?;
        counters.extend(power_families(engine.last_closed(), interval_s, &names));
        (Arc::new(counters), Arc::new(names))
    };
    let mut own = engine_counters(
        engine.ingest_stats(),
        engine.quarantine_log().counts(),
        &status,
    );
    if let Some(x) = state.export.as_ref().and_then(|x| x.lock().ok()) {
        own.extend(x.families());
    }
    monotone.apply(&mut own).map_err(held)?;
    let mut closed = Family::gauge(
        "kelvin_closed_through_timestamp_seconds",
        "Every interval before this instant is closed and billed.",
        Some("seconds"),
    );
    if let Some(t) = status.closed_through {
        closed.push(&[], t.as_nanos() as f64 / 1e9);
    }
    own.push(closed);
    let mut store = Family::gauge(
        "kelvin_store_memory_bytes",
        "Bytes the engine's store holds in memory (its estimate).",
        Some("bytes"),
    );
    store.push(&[], status.store_bytes.0 as f64);
    own.push(store);
    let snap = Snapshot {
        book,
        engine: own,
        names,
        closed_through: status.closed_through,
        acknowledged: status.acknowledged,
        book_at: at,
    };
    if let Ok(mut s) = state.snapshot.write() {
        *s = Arc::new(snap);
    }
    Ok(())
}

/// Hands the extender the engine's fleet as it now stands (its curves refitted, its hosts
/// and workloads as they are); a fleet that cannot be built is logged and the old view kept.
fn refresh_view(engine: &Engine, ext: &Extender, recent: Duration) {
    match View::from_engine(engine, Some(recent)) {
        Ok(view) => ext.update(view),
        Err(e) => eprintln!("kelvin-agent: the scheduler's fleet view was not rebuilt: {e}"),
    }
}

fn engine_counters(
    stats: &IngestStats,
    quarantined: &std::collections::BTreeMap<Reason, u64>,
    status: &kelvin::LiveStatus,
) -> Vec<Family> {
    let mut accepted = Family::counter(
        "kelvin_readings_accepted",
        "Readings accepted and stored.",
        None,
    );
    accepted.push(&[], stats.accepted as f64);
    let mut q = Family::counter(
        "kelvin_readings_quarantined",
        "Records quarantined, by reason.",
        None,
    );
    for (r, n) in quarantined {
        q.push(&[("reason", r.as_str())], *n as f64);
    }
    let mut closed = Family::counter(
        "kelvin_intervals_closed",
        "Attribution intervals closed and billed.",
        None,
    );
    closed.push(&[], status.totals.intervals as f64);
    let mut restated = Family::counter(
        "kelvin_restatements",
        "Closed intervals settled again after late readings.",
        None,
    );
    restated.push(&[], status.totals.restatements as f64);
    vec![accepted, q, closed, restated]
}

/// The hosts as `/api/v1/hosts` returns them: each host's energy, last-interval power with
/// its bounds, and its sources' state now.
pub fn hosts_json(snap: &Snapshot, state: &State) -> Value {
    let by_host = |name: &str| -> std::collections::HashMap<&str, f64> {
        snap.book
            .iter()
            .find(|f| f.name == name)
            .map(|f| {
                f.samples
                    .iter()
                    .filter_map(|(l, v)| {
                        l.iter()
                            .find(|(k, _)| k == "host")
                            .map(|(_, h)| (h.as_str(), *v))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (power, lower, upper) = (
        by_host("kelvin_host_power_watts"),
        by_host("kelvin_host_power_lower_watts"),
        by_host("kelvin_host_power_upper_watts"),
    );
    let mut sources: std::collections::HashMap<&str, Vec<Value>> = Default::default();
    for (i, s) in state.sources.iter().enumerate() {
        if let Some(h) = &s.3 {
            let up = state.health[i].lock().map(|x| x.up).unwrap_or(false);
            sources
                .entry(h.as_str())
                .or_default()
                .push(json!({"name": s.0, "kind": s.1, "up": up}));
        }
    }
    let energy = snap
        .book
        .iter()
        .find(|f| f.name == "kelvin_host_energy_joules");
    let hosts: Vec<Value> = energy
        .map(|f| f.samples.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|(labels, j)| {
            let h = labels.first().map_or("", |(_, v)| v.as_str());
            json!({
                "host": h,
                "energy_joules": j,
                "power_watts": power.get(h),
                "power_lower_watts": lower.get(h),
                "power_upper_watts": upper.get(h),
                "sources": sources.remove(h).unwrap_or_default(),
            })
        })
        .collect();
    json!({
        "closed_through": snap.closed_through.map(|t| t.to_rfc3339()),
        "hosts": hosts,
    })
}

/// The sources of `specs`, each with its private directory under `data_dir/run`.
///
/// # Errors
/// The directory cannot be made.
pub fn make_sources(specs: &[SourceSpec], data_dir: &Path) -> Result<Vec<Source>, AgentError> {
    use std::os::unix::fs::DirBuilderExt;
    let run = data_dir.join("run");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&run)
        .map_err(|e| AgentError::Io {
            place: run.display().to_string(),
            source: e,
        })?;
    specs
        .iter()
        .map(|s| {
            let dir = run.join(&s.name);
            Source::new(s.clone(), dir).map_err(|e| AgentError::Io {
                place: format!("source {}", s.name),
                source: std::io::Error::other(e),
            })
        })
        .collect()
}

/// The state the endpoints read, before the engine runs.
pub fn state(
    specs: &[SourceSpec],
    health: Arc<Vec<Mutex<Health>>>,
    remote: Option<Arc<RemoteWriter>>,
    data_dir: &Path,
) -> State {
    State {
        snapshot: RwLock::new(Arc::new(Snapshot::default())),
        sources: specs
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    kind_name(s),
                    s.schedule.stale_after(),
                    s.entity.clone(),
                )
            })
            .collect(),
        health,
        remote,
        data_dir: data_dir.to_path_buf(),
        ready: AtomicBool::new(false),
        stop: Arc::new(AtomicBool::new(false)),
        extender: None,
        export: None,
    }
}
