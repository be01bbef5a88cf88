use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use kelvin_model::{
    EntityId, Host, Inventory, Pdu, Rack, Resources, Room, Site, Timestamp, Workload,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::room::{self, ComponentTruth, RoomOut, Sink};
use crate::{HostArchetype, archetypes};

const GIB: u64 = 1 << 30;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The configuration cannot produce a dataset (zero hosts, a scrape interval longer than
    /// the run, workloads that do not fit).
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The offending field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// Writing the dataset failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

pub(crate) fn config_err(field: &'static str, reason: impl Into<String>) -> SimError {
    SimError::Config {
        field,
        reason: reason.into(),
    }
}

/// A workload's CPU usage pattern, as a fraction of its CPU request over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Constant level with small noise (a database, a cache).
    Steady {
        /// Mean fraction of the request in use.
        level: f64,
    },
    /// A sinusoid (a web tier following its users, compressed in time).
    Periodic {
        /// Mean level.
        mean: f64,
        /// Amplitude.
        amplitude: f64,
        /// Period in seconds.
        period_s: f64,
        /// Phase in seconds.
        phase_s: f64,
    },
    /// Mostly quiet with bursts near full use (batch jobs, CI runners).
    Bursty {
        /// Quiet level.
        base: f64,
        /// Probability per second that a burst starts.
        burst_rate: f64,
        /// Burst length in seconds.
        burst_s: u32,
    },
    /// Reserved but nearly unused (a forgotten dev VM).
    Idle,
    /// Follows the users' day: a cosine over 24 h peaking at `peak_hour` (UTC).
    Diurnal {
        /// Mean level.
        mean: f64,
        /// Amplitude.
        amplitude: f64,
        /// Hour of the day (UTC, 0–24) of the peak.
        peak_hour: f64,
    },
}

/// Which generator a [`SimConfig`] drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preset {
    /// The original edge recording: Prometheus text only, one-second physics.
    Edge,
    /// A mixed-vendor enterprise room: component physics, thermal model, vendor captures.
    Enterprise,
    /// A small GPU cluster: the enterprise model plus GPUs, NVML CSVs and DCGM metrics.
    Gpu,
    /// The room model at fleet scale, streamed to disk.
    Scale,
}

impl Preset {
    /// The name the CLI's `--preset` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Edge => "edge",
            Preset::Enterprise => "enterprise",
            Preset::Gpu => "gpu",
            Preset::Scale => "scale",
        }
    }
}

/// Simulation parameters. Start from a preset ([`SimConfig::edge`]) and adjust with the
/// `with_*` setters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SimConfig {
    /// Dataset name (also the site id prefix).
    pub name: String,
    /// Random seed: same seed, same bytes.
    pub seed: u64,
    /// Racks.
    pub racks: usize,
    /// Hosts per rack.
    pub hosts_per_rack: usize,
    /// Running workloads.
    pub workloads: usize,
    /// Workloads waiting to be placed (written with no host).
    pub pending: usize,
    /// Tenants the workloads belong to.
    pub tenants: usize,
    /// Simulated seconds.
    pub duration_s: u32,
    /// Seconds between scrapes.
    pub scrape_s: u32,
    /// Start time (the first scrape).
    pub start: Timestamp,
    /// Probability that one power scrape is missed.
    pub dropout: f64,
    /// Corrupt lines injected into the metrics text (0, 1 or 2).
    pub corrupt_lines: usize,
    /// Whether one workload's container restarts mid-run (its CPU counter resets to zero).
    pub counter_reset: bool,
    /// The generator ([`Preset::Edge`] for the original recording; the others use the room
    /// model of component physics, heat recirculation and vendor captures).
    pub preset: Preset,
    /// Room model: physics step in seconds (divides `scrape_s` and `duration_s`).
    pub step_s: u32,
    /// Room model: seconds between vendor captures (BMC, PDU); 0 writes none. A multiple of
    /// `scrape_s`.
    pub capture_s: u32,
    /// Room model: seconds per row of the interval ground truth (`host_power_truth.csv`,
    /// `facility_truth.csv`); a multiple of `step_s`.
    pub truth_interval_s: u32,
    /// Room model: GPUs per host (0–16).
    pub gpus_per_host: u32,
    /// Room model: the hottest inlet temperature (°C, 15–40) the CRAC supply is set for.
    pub redline_c: f64,
}

impl SimConfig {
    /// The edge preset: a "data center in your office" — one room, two racks of three servers,
    /// sixteen workloads of three tenants, one hour scraped every 15 s.
    pub fn edge() -> SimConfig {
        SimConfig {
            name: "edge".into(),
            seed: 7,
            racks: 2,
            hosts_per_rack: 3,
            workloads: 16,
            pending: 5,
            tenants: 3,
            duration_s: 3600,
            scrape_s: 15,
            start: Timestamp::from_secs(1_793_606_400), // 2026-11-02T08:00:00Z
            dropout: 0.01,
            corrupt_lines: 2,
            counter_reset: true,
            preset: Preset::Edge,
            step_s: 1,
            capture_s: 0,
            truth_interval_s: 15,
            gpus_per_host: 0,
            redline_c: 25.0,
        }
    }

    /// The enterprise preset: a mixed-vendor room of 4 racks × 6 servers of the three
    /// archetypes (ipmitool, FreeIPMI and Redfish BMCs), Sentry4 rack PDUs over SNMP, 40
    /// running and 6 pending workloads of 3 tenants, one hour scraped every 60 s, captures
    /// every 20 min.
    pub fn enterprise() -> SimConfig {
        SimConfig {
            name: "ent".into(),
            seed: 11,
            racks: 4,
            hosts_per_rack: 6,
            workloads: 40,
            pending: 6,
            tenants: 3,
            duration_s: 3600,
            scrape_s: 60,
            dropout: 0.01,
            preset: Preset::Enterprise,
            step_s: 5,
            capture_s: 1200,
            truth_interval_s: 60,
            ..SimConfig::edge()
        }
    }

    /// The GPU preset: 2 racks × 4 GPU servers with 4 H100-class GPUs each, 12 running and 3
    /// pending workloads (training, inference, notebooks) of 3 tenants, 20 min scraped every
    /// 30 s, NVML device CSVs per GPU, DCGM exporter metrics, captures every 10 min.
    pub fn gpu() -> SimConfig {
        SimConfig {
            name: "gpu".into(),
            seed: 13,
            racks: 2,
            hosts_per_rack: 4,
            workloads: 12,
            pending: 3,
            tenants: 3,
            duration_s: 1200,
            scrape_s: 30,
            dropout: 0.01,
            preset: Preset::Gpu,
            step_s: 5,
            capture_s: 600,
            truth_interval_s: 60,
            gpus_per_host: 4,
            ..SimConfig::edge()
        }
    }

    /// The scale preset: the room model for a fleet (1,000 hosts in racks of 40 by default; see
    /// [`SimConfig::with_hosts`]), three workloads per host, one day at a 60 s step and scrape,
    /// interval truth every 15 min, no captures. Meant for [`crate::simulate_to`], which
    /// streams the files.
    pub fn scale() -> SimConfig {
        SimConfig {
            name: "scale".into(),
            seed: 17,
            racks: 25,
            hosts_per_rack: 40,
            workloads: 3000,
            pending: 100,
            tenants: 8,
            duration_s: 86_400,
            scrape_s: 60,
            dropout: 0.005,
            preset: Preset::Scale,
            step_s: 60,
            capture_s: 0,
            truth_interval_s: 900,
            ..SimConfig::edge()
        }
    }

    /// The preset named `name` (`edge`, `enterprise`, `gpu`, `scale`).
    pub fn preset(name: &str) -> Option<SimConfig> {
        match name {
            "edge" => Some(SimConfig::edge()),
            "enterprise" => Some(SimConfig::enterprise()),
            "gpu" => Some(SimConfig::gpu()),
            "scale" => Some(SimConfig::scale()),
            _ => None,
        }
    }

    /// Sets the host count: racks of up to 40 (`hosts_per_rack` = min(n, 40), racks rounded
    /// up, so the count is rounded up to whole racks), three running workloads per host for
    /// the scale preset, the others keeping their workload count.
    pub fn with_hosts(mut self, n: usize) -> Self {
        let hpr = n.clamp(1, 40);
        self.hosts_per_rack = hpr;
        self.racks = n.div_ceil(hpr).max(1);
        if self.preset == Preset::Scale {
            self.workloads = 3 * self.racks * hpr;
            self.pending = self.workloads / 30;
        }
        self
    }

    /// Sets the seconds between vendor captures (0: none).
    pub fn with_capture_s(mut self, s: u32) -> Self {
        self.capture_s = s;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the simulated duration in seconds.
    pub fn with_duration_s(mut self, s: u32) -> Self {
        self.duration_s = s;
        self
    }

    /// Sets the fleet size.
    pub fn with_fleet(mut self, racks: usize, hosts_per_rack: usize, workloads: usize) -> Self {
        self.racks = racks;
        self.hosts_per_rack = hosts_per_rack;
        self.workloads = workloads;
        self
    }

    /// Sets the number of injected corrupt lines.
    pub fn with_corrupt_lines(mut self, n: usize) -> Self {
        self.corrupt_lines = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        // Entity ids are built from the name; the longest is "<name>-r<racks>-h<hosts>-pdu".
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(config_err(
                "name",
                format!(
                    "{:?} must be 1-128 ASCII letters, digits, '-' or '_'",
                    self.name
                ),
            ));
        }
        if self.racks == 0 || self.hosts_per_rack == 0 {
            return Err(config_err("racks", "at least one rack with one host"));
        }
        if self.scrape_s == 0 || self.duration_s < 2 * self.scrape_s {
            return Err(config_err(
                "duration_s",
                "the run must span at least two scrape intervals",
            ));
        }
        if self.tenants == 0 {
            return Err(config_err("tenants", "at least one tenant"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(config_err("dropout", "a probability below 1"));
        }
        if self.corrupt_lines > 2 {
            return Err(config_err("corrupt_lines", "at most 2"));
        }
        if self.preset != Preset::Edge {
            crate::room::validate(self)?;
        }
        Ok(())
    }
}

/// A workload's true energy over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadTruth {
    /// Workload id.
    pub workload: EntityId,
    /// Host it ran on.
    pub host: EntityId,
    /// Total true energy, joules (`idle_j + dynamic_j`).
    pub energy_j: f64,
    /// Share of the host's active-idle power, by CPU reservation.
    pub idle_j: f64,
    /// Share of the dynamic power, by busy CPU.
    pub dynamic_j: f64,
    /// What full absorption by CPU-time share (Kelvin's `cpu_share` policy) gives on the true
    /// per-second power and usage: the reference for measurement error, policy aside.
    pub cpu_share_j: f64,
    /// CPU seconds used.
    pub cpu_s: f64,
}

/// A host's true energy over the run and its non-workload accounts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostTruth {
    /// Host id.
    pub host: EntityId,
    /// True wall energy, joules.
    pub energy_j: f64,
    /// Idle energy of capacity no workload reserved.
    pub unreserved_idle_j: f64,
    /// Dynamic energy of the host's own system processes.
    pub system_j: f64,
}

/// A generated dataset, in memory.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The configuration it came from.
    pub config: SimConfig,
    /// Sites, rooms, racks, PDUs and hosts (no workloads: those are in `workloads`).
    pub inventory: Inventory,
    /// Running workloads (with a host) then pending ones (without).
    pub workloads: Vec<Workload>,
    /// Prometheus exposition text with millisecond timestamps, grouped by metric family.
    pub metrics: String,
    /// Per-workload ground truth.
    pub truth: Vec<WorkloadTruth>,
    /// Per-host ground truth.
    pub host_truth: Vec<HostTruth>,
    /// Room-model presets: per-host energy by component (empty for [`Preset::Edge`]).
    pub components: Vec<ComponentTruth>,
    /// Room-model presets: every other file of the dataset by relative path (`README.md`,
    /// `hosts_truth.csv`, `facility_truth.csv`, `host_power_truth.csv`, `captures/…`);
    /// empty for [`Preset::Edge`].
    pub files: BTreeMap<String, String>,
}

/// What [`simulate_to`] wrote.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// Hosts simulated.
    pub hosts: usize,
    /// Workloads (running and pending).
    pub workloads: usize,
    /// Prometheus samples in `metrics.prom` (corrupt lines excluded).
    pub metrics_samples: u64,
    /// Capture files listed in `captures/index.csv` (NVML files excluded).
    pub captures: u64,
}

fn id(s: String) -> EntityId {
    // Ids are built from the validated name plus ASCII suffixes, so they are always valid ids;
    // the fallback only exists to keep this function total.
    EntityId::new(s).unwrap_or_else(|_| unreachable!("SimConfig::validate checks the name"))
}

pub(crate) struct SimWorkload {
    pub(crate) wl: Workload,
    pub(crate) host: usize,
    pub(crate) pattern: Pattern,
    pub(crate) burst_left: u32,
    pub(crate) cpu_s: f64,
    pub(crate) counter: f64,
    pub(crate) idle_j: f64,
    pub(crate) dynamic_j: f64,
    pub(crate) cpu_share_j: f64,
}

/// Each simulated workload's ground truth, in simulation order.
pub(crate) fn workload_truth(
    sims: &[SimWorkload],
    hosts: &[kelvin_model::Host],
) -> Vec<WorkloadTruth> {
    sims.iter()
        .map(|s| WorkloadTruth {
            workload: s.wl.id.clone(),
            host: hosts[s.host].id.clone(),
            energy_j: s.idle_j + s.dynamic_j,
            idle_j: s.idle_j,
            dynamic_j: s.dynamic_j,
            cpu_share_j: s.cpu_share_j,
            cpu_s: s.cpu_s,
        })
        .collect()
}

pub(crate) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// How a preset's workloads divide among usage patterns: of ten draws, the first `steady`
/// are steady, up to `periodic` periodic, up to `bursty` bursty, up to `diurnal` diurnal, the
/// rest idle (cumulative bounds); and how bursty ones burst.
pub(crate) struct PatternMix {
    pub(crate) steady: i32,
    pub(crate) periodic: i32,
    pub(crate) bursty: i32,
    pub(crate) diurnal: i32,
    pub(crate) burst_rate: f64,
    pub(crate) burst_s: std::ops::Range<u32>,
}

/// The edge preset's mix: 3 steady, 3 periodic, 3 bursty, 1 idle in ten.
const EDGE_MIX: PatternMix = PatternMix {
    steady: 3,
    periodic: 6,
    bursty: 9,
    diurnal: 9,
    burst_rate: 1.0 / 300.0,
    burst_s: 60..240,
};

pub(crate) fn pick_pattern(rng: &mut ChaCha8Rng, mix: &PatternMix) -> Pattern {
    let k: i32 = rng.random_range(0..10);
    if k < mix.steady {
        Pattern::Steady {
            level: rng.random_range(0.3..0.8),
        }
    } else if k < mix.periodic {
        Pattern::Periodic {
            mean: rng.random_range(0.3..0.6),
            amplitude: rng.random_range(0.15..0.35),
            period_s: rng.random_range(600.0..1800.0),
            phase_s: rng.random_range(0.0..1800.0),
        }
    } else if k < mix.bursty {
        Pattern::Bursty {
            base: rng.random_range(0.03..0.1),
            burst_rate: mix.burst_rate,
            burst_s: rng.random_range(mix.burst_s.clone()),
        }
    } else if k < mix.diurnal {
        Pattern::Diurnal {
            mean: rng.random_range(0.3..0.55),
            amplitude: rng.random_range(0.15..0.4),
            peak_hour: rng.random_range(13.0..20.0),
        }
    } else {
        Pattern::Idle
    }
}

impl SimWorkload {
    /// Fraction of the request in use during second `t` (one-second steps).
    fn level(&mut self, t: u32, rng: &mut ChaCha8Rng) -> f64 {
        self.level_step(i64::from(t), 1, rng)
    }
}

/// Runs the simulation.
///
/// # Errors
/// [`SimError::Config`] when the configuration is inconsistent or the workloads do not fit
/// on the hosts.
pub fn simulate(cfg: &SimConfig) -> Result<Dataset, SimError> {
    cfg.validate()?;
    if cfg.preset != Preset::Edge {
        let mut sink = Sink::Mem(BTreeMap::new());
        let out = room::run(cfg, &mut sink)?;
        let mut ds = Dataset {
            config: cfg.clone(),
            inventory: out.inventory.clone(),
            workloads: out.workloads.clone(),
            metrics: String::new(),
            truth: out.truth.clone(),
            host_truth: out.host_truth.clone(),
            components: out.components.clone(),
            files: BTreeMap::new(),
        };
        finish_room(cfg, &out, &mut sink)?;
        let Sink::Mem(mut files) = sink else {
            unreachable!("a memory sink stays one")
        };
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_default();
        ds.metrics = files.remove("metrics.prom").map(text).unwrap_or_default();
        for f in ["inventory.json", "workloads.json", "ground_truth.csv"] {
            files.remove(f);
        }
        ds.files = files.into_iter().map(|(k, v)| (k, text(v))).collect();
        return Ok(ds);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let arch = archetypes();
    let site = id(format!("{}-site", cfg.name));
    let room = id(format!("{}-room-1", cfg.name));
    let mut inv = Inventory {
        sites: vec![Site {
            id: site.clone(),
            name: format!("{} site", cfg.name),
        }],
        rooms: vec![Room {
            id: room.clone(),
            site,
        }],
        ..Inventory::default()
    };
    let mut kinds: Vec<&HostArchetype> = Vec::new();
    for r in 0..cfg.racks {
        let rack = id(format!("{}-r{}", cfg.name, r + 1));
        let pdu = id(format!("{}-r{}-pdu", cfg.name, r + 1));
        inv.racks.push(Rack {
            id: rack.clone(),
            room: room.clone(),
            row: Some("A".into()),
        });
        inv.pdus.push(Pdu {
            id: pdu.clone(),
            rack: rack.clone(),
            circuit: None,
        });
        for h in 0..cfg.hosts_per_rack {
            // Older servers at the bottom of each rack, newer above.
            let a = &arch[(r + h) % arch.len()];
            kinds.push(a);
            inv.hosts.push(Host {
                id: id(format!("{}-r{}-h{}", cfg.name, r + 1, h + 1)),
                rack: rack.clone(),
                capacity: Resources::new(a.threads as f64, a.memory_gib * GIB),
                pdu: Some(pdu.clone()),
            });
        }
    }
    let names = [
        "web", "api", "db", "cache", "batch", "ci", "ml", "etl", "dev", "mq",
    ];
    let cpu_sizes = [1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0, 16.0];
    let mut used: Vec<Resources> = vec![Resources::default(); inv.hosts.len()];
    let mut sims: Vec<SimWorkload> = Vec::new();
    let mut pending = Vec::new();
    for i in 0..cfg.workloads + cfg.pending {
        let cpu = cpu_sizes[rng.random_range(0..cpu_sizes.len())];
        let mem = (cpu as u64) * rng.random_range(2..=6) * GIB;
        let tenant = format!("tenant-{}", (b'a' + (i % cfg.tenants) as u8) as char);
        let wl = Workload {
            id: id(format!("{}-{:02}", names[i % names.len()], i + 1)),
            tenant,
            owner: format!("team-{}", i % 4 + 1),
            requests: Resources::new(cpu, mem),
            host: None,
        };
        let pattern = pick_pattern(&mut rng, &EDGE_MIX);
        if i >= cfg.workloads {
            pending.push(wl);
            continue;
        }
        // Random first fit: start at a random host, take the first that has room.
        let n = inv.hosts.len();
        let start = rng.random_range(0..n);
        let slot = (0..n).map(|k| (start + k) % n).find(|&h| {
            let cap = inv.hosts[h].capacity;
            used[h].cpu_cores + cpu <= cap.cpu_cores
                && used[h].memory_bytes + mem <= cap.memory_bytes
        });
        let Some(h) = slot else {
            return Err(config_err(
                "workloads",
                format!("workload {} does not fit on any host", wl.id),
            ));
        };
        used[h].cpu_cores += cpu;
        used[h].memory_bytes += mem;
        let mut wl = wl;
        wl.host = Some(inv.hosts[h].id.clone());
        sims.push(SimWorkload {
            wl,
            host: h,
            pattern,
            burst_left: 0,
            cpu_s: 0.0,
            counter: 0.0,
            idle_j: 0.0,
            dynamic_j: 0.0,
            cpu_share_j: 0.0,
        });
    }
    let reset_at = (cfg.counter_reset && !sims.is_empty()).then(|| {
        (
            rng.random_range(0..sims.len()),
            rng.random_range(cfg.duration_s / 3..2 * cfg.duration_s / 3),
        )
    });

    let nh = inv.hosts.len();
    let mut host_truth: Vec<HostTruth> = inv
        .hosts
        .iter()
        .map(|h| HostTruth {
            host: h.id.clone(),
            energy_j: 0.0,
            unreserved_idle_j: 0.0,
            system_j: 0.0,
        })
        .collect();
    let mut power_lines: Vec<String> = vec![String::new(); nh];
    let mut temp_lines: Vec<String> = vec![String::new(); nh];
    let mut cpu_lines: Vec<String> = vec![String::new(); sims.len()];
    let system_cores = 0.3;
    let mut rates = vec![0.0; sims.len()];
    for t in 0..=cfg.duration_s {
        let ms = cfg.start.as_nanos() / 1_000_000 + t as i64 * 1000;
        let scrape = t % cfg.scrape_s == 0;
        if scrape {
            for (k, s) in sims.iter().enumerate() {
                let h = &inv.hosts[s.host].id;
                let _ = writeln!(
                    cpu_lines[k],
                    "container_cpu_usage_seconds_total{{container=\"main\",instance=\"{h}:10250\",job=\"cadvisor\",namespace=\"{}\",pod=\"{}\"}} {:.6} {ms}",
                    s.wl.tenant, s.wl.id, s.counter
                );
            }
        }
        // usage this second
        for (k, s) in sims.iter_mut().enumerate() {
            rates[k] = s.wl.requests.cpu_cores * s.level(t, &mut rng);
        }
        let mut rack_power = vec![0.0; cfg.racks];
        let mut host_power = vec![0.0; nh];
        for h in 0..nh {
            let cores = inv.hosts[h].capacity.cpu_cores;
            let mut demand: f64 = system_cores;
            for (k, s) in sims.iter().enumerate() {
                if s.host == h {
                    demand += rates[k];
                }
            }
            // CPU contention: everyone slows down proportionally.
            let scale = if demand > cores { cores / demand } else { 1.0 };
            let busy = demand * scale;
            let curve = &kinds[h].curve;
            let p = curve.power_w(busy / cores);
            host_power[h] = p;
            rack_power[h / cfg.hosts_per_rack] += p;
            if t == cfg.duration_s {
                continue; // the last scrape instant; its second is outside the run
            }
            let idle = curve.idle_w();
            let dynamic = p - idle;
            let mut reserved = 0.0;
            let workload_busy = busy - system_cores * scale;
            for (k, s) in sims.iter_mut().enumerate() {
                if s.host == h {
                    let used = rates[k] * scale;
                    s.idle_j += idle * s.wl.requests.cpu_cores / cores;
                    s.dynamic_j += dynamic * used / busy;
                    if workload_busy > 0.0 {
                        s.cpu_share_j += p * used / workload_busy;
                    }
                    s.cpu_s += used;
                    s.counter += used;
                    reserved += s.wl.requests.cpu_cores;
                }
            }
            let ht = &mut host_truth[h];
            ht.energy_j += p;
            ht.unreserved_idle_j += idle * (1.0 - reserved / cores);
            ht.system_j += dynamic * system_cores * scale / busy;
        }
        if let Some((k, at)) = reset_at
            && t == at
        {
            sims[k].counter = 0.0;
        }
        if scrape {
            for h in 0..nh {
                let host = &inv.hosts[h].id;
                if rng.random::<f64>() >= cfg.dropout {
                    // DCMI reports whole watts.
                    let p = host_power[h];
                    let measured = (p + (1.0 + 0.01 * p) * gauss(&mut rng)).round().max(0.0);
                    let _ = writeln!(
                        power_lines[h],
                        "ipmi_dcmi_power_consumption_watts{{instance=\"{host}:9290\",job=\"ipmi\"}} {measured} {ms}"
                    );
                }
                let r = h / cfg.hosts_per_rack;
                let inlet = 21.0 + 0.8 * r as f64 + 0.0015 * rack_power[r] + 0.1 * gauss(&mut rng);
                let _ = writeln!(
                    temp_lines[h],
                    "ipmi_temperature_celsius{{id=\"4\",instance=\"{host}:9290\",job=\"ipmi\",name=\"Inlet Temp\"}} {inlet:.1} {ms}"
                );
            }
        }
    }

    let mut metrics = String::new();
    metrics
        .push_str("# HELP ipmi_dcmi_power_consumption_watts Current power consumption in Watts.\n");
    metrics.push_str("# TYPE ipmi_dcmi_power_consumption_watts gauge\n");
    power_lines.iter().for_each(|l| metrics.push_str(l));
    if cfg.corrupt_lines >= 1 {
        // A BMC that answered "N/A", passed through verbatim by a textfile exporter.
        let h = &inv.hosts[nh - 1].id;
        let ms = cfg.start.as_nanos() / 1_000_000 + (cfg.duration_s / 2) as i64 * 1000;
        let _ = writeln!(
            metrics,
            "ipmi_dcmi_power_consumption_watts{{instance=\"{h}:9290\",job=\"ipmi\"}} N/A {ms}"
        );
    }
    metrics.push_str("# HELP ipmi_temperature_celsius Temperature reading in degree Celsius.\n");
    metrics.push_str("# TYPE ipmi_temperature_celsius gauge\n");
    temp_lines.iter().for_each(|l| metrics.push_str(l));
    metrics.push_str(
        "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n",
    );
    metrics.push_str("# TYPE container_cpu_usage_seconds_total counter\n");
    for (k, l) in cpu_lines.iter().enumerate() {
        metrics.push_str(l);
        if cfg.corrupt_lines >= 2 && k == 0 {
            // A scrape cut off mid-line.
            metrics.push_str("container_cpu_usage_seconds_total{container=\"main\",instance=\"");
            metrics.push_str(inv.hosts[0].id.as_str());
            metrics.push_str(":10250\",job=\"cadv\n");
        }
    }

    let truth = workload_truth(&sims, &inv.hosts);
    let mut workloads: Vec<Workload> = sims.into_iter().map(|s| s.wl).collect();
    workloads.extend(pending);
    Ok(Dataset {
        config: cfg.clone(),
        inventory: inv,
        workloads,
        metrics,
        truth,
        host_truth,
        components: Vec::new(),
        files: BTreeMap::new(),
    })
}

/// Runs the simulation and writes the dataset into `dir` (created if missing). The room-model
/// presets stream: `metrics.prom`, the interval truth and the NVML files go through buffered
/// writers as the simulation advances, captures are written as they are taken, and only
/// per-host and per-workload totals are held in memory. [`Preset::Edge`] is simulated in
/// memory and written as [`Dataset::write_to`] does.
///
/// # Errors
/// [`SimError::Config`] as [`simulate`]; [`SimError::Io`] naming the file that could not be
/// written.
pub fn simulate_to(cfg: &SimConfig, dir: &Path) -> Result<Summary, SimError> {
    if cfg.preset == Preset::Edge {
        let ds = simulate(cfg)?;
        ds.write_to(dir)?;
        return Ok(Summary {
            hosts: ds.inventory.hosts.len(),
            workloads: ds.workloads.len(),
            metrics_samples: ds.metrics.lines().filter(|l| !l.starts_with('#')).count() as u64,
            captures: 0,
        });
    }
    cfg.validate()?;
    let mut sink = Sink::dir(dir)?;
    let out = room::run(cfg, &mut sink)?;
    finish_room(cfg, &out, &mut sink)?;
    sink.finish()?;
    Ok(Summary {
        hosts: out.inventory.hosts.len(),
        workloads: out.workloads.len(),
        metrics_samples: out.metrics_samples,
        captures: out.captures,
    })
}

/// Writes the end-of-run files of a room-model dataset.
fn finish_room(cfg: &SimConfig, out: &RoomOut, sink: &mut Sink) -> Result<(), SimError> {
    sink.put("inventory.json", &pretty(&out.inventory))?;
    sink.put("workloads.json", &pretty(&out.workloads))?;
    sink.put("ground_truth.csv", &truth_csv(cfg, &out.truth))?;
    sink.put(
        "hosts_truth.csv",
        &component_csv(&out.host_truth, &out.components),
    )?;
    sink.put("README.md", &room_readme(cfg, out))?;
    sink.finish()
}

fn truth_csv(cfg: &SimConfig, truth: &[WorkloadTruth]) -> String {
    let mut s =
        String::from("workload,host,energy_j,mean_power_w,idle_j,dynamic_j,cpu_share_j,cpu_s\n");
    let secs = f64::from(cfg.duration_s);
    for t in truth {
        let _ = writeln!(
            s,
            "{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}",
            t.workload,
            t.host,
            t.energy_j,
            t.energy_j / secs,
            t.idle_j,
            t.dynamic_j,
            t.cpu_share_j,
            t.cpu_s
        );
    }
    s
}

/// `hosts_truth.csv` of the room-model presets.
fn component_csv(hosts: &[HostTruth], comps: &[ComponentTruth]) -> String {
    let mut s = String::from(
        "host,energy_j,unreserved_idle_j,system_j,cpu_pkg_j,dram_j,fans_j,gpu_j,platform_j,psu_loss_j,archetype,bmc\n",
    );
    for (h, c) in hosts.iter().zip(comps) {
        let _ = writeln!(
            s,
            "{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{},{}",
            h.host,
            h.energy_j,
            h.unreserved_idle_j,
            h.system_j,
            c.cpu_pkg_j,
            c.dram_j,
            c.fans_j,
            c.gpu_j,
            c.platform_j,
            c.psu_loss_j,
            c.archetype,
            c.bmc.as_str()
        );
    }
    s
}

fn room_readme(cfg: &SimConfig, out: &RoomOut) -> String {
    let running = out.workloads.iter().filter(|w| w.host.is_some()).count();
    let gpu = cfg.gpus_per_host > 0;
    let mut bmcs: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &out.components {
        *bmcs.entry(c.bmc.as_str()).or_default() += 1;
    }
    let bmcs = bmcs
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = format!(
        "# Dataset `{name}` (preset `{preset}`)\n\n\
         Generated by `kelvin-sim` (seed {seed}): one room of {racks} racks × {hpr} servers \
         ({hosts} hosts; BMCs: {bmcs}), {running} running and {pending} pending workloads of \
         {tenants} tenants, {dur} s from {start} simulated in {step} s steps, exporters scraped \
         every {scrape} s ({samples} samples){caps}. Physics, sources and layout: \
         `docs/datasets.md` (section *Room-model datasets*).\n\n\
         | file | content |\n|---|---|\n\
         | `inventory.json` | site, room, racks, PDUs, hosts with capacity (`kelvin_model::Inventory`) |\n\
         | `workloads.json` | workloads with tenant, requests and host (`null` = pending) |\n\
         | `metrics.prom` | Prometheus text with millisecond timestamps, scrape by scrape: IPMI exporter \
         `ipmi_dcmi_power_consumption_watts` (whole watts, ~{drop:.1}% missed) and \
         `ipmi_temperature_celsius` (inlet, vendor names), node_exporter \
         `node_rapl_package_joules_total` / `node_rapl_dram_joules_total` per socket (not on the \
         x3400 M3, whose Westmere CPUs predate RAPL; wrap at \
         {rapl} J){dcgm}, cAdvisor `container_cpu_usage_seconds_total`{reset}{corrupt1} |\n\
         | `ground_truth.csv` | per workload: `workload,host,energy_j,mean_power_w,idle_j,dynamic_j,cpu_share_j,cpu_s` |\n\
         | `hosts_truth.csv` | per host: `host,energy_j,unreserved_idle_j,system_j,cpu_pkg_j,dram_j,fans_j,gpu_j,platform_j,psu_loss_j,archetype,bmc`; `energy_j` (wall) = `cpu_pkg_j + dram_j + fans_j + gpu_j + platform_j + psu_loss_j` = workloads + `unreserved_idle_j` + `system_j` |\n\
         | `host_power_truth.csv` | every {ti} s per host, mean watts over `[t_ms, t_ms + {ti} s)`: `t_ms,host,wall_w,cpu_pkg_w,dram_w,fans_w,gpu_w,platform_w,psu_loss_w,inlet_c` |\n\
         | `facility_truth.csv` | every {ti} s: `t_ms,interval_s,it_w,cooling_w,pue,supply_c,cop,max_inlet_c` (CRAC power = IT / CoP(supply); PUE = (IT + cooling) / IT) |\n",
        name = cfg.name,
        preset = cfg.preset.as_str(),
        seed = cfg.seed,
        racks = cfg.racks,
        hpr = cfg.hosts_per_rack,
        hosts = out.inventory.hosts.len(),
        pending = out.workloads.len() - running,
        tenants = cfg.tenants,
        dur = cfg.duration_s,
        start = crate::vendor::rfc3339(cfg.start.as_nanos().div_euclid(1_000_000_000)),
        step = cfg.step_s,
        scrape = cfg.scrape_s,
        samples = out.metrics_samples,
        caps = if cfg.capture_s > 0 {
            format!(
                ", vendor captures every {} s ({} files)",
                cfg.capture_s, out.captures
            )
        } else {
            String::new()
        },
        drop = cfg.dropout * 100.0,
        rapl = room::RAPL_RANGE_J,
        dcgm = if gpu {
            ", dcgm-exporter `DCGM_FI_DEV_POWER_USAGE`, `DCGM_FI_DEV_GPU_UTIL`, \
             `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION` (mapped by `prometheus_rules.json`)"
        } else {
            ""
        },
        reset = if cfg.counter_reset {
            "; one container restarts mid-run"
        } else {
            ""
        },
        corrupt1 = if cfg.corrupt_lines >= 1 {
            "; one `N/A` power line (corrupt)"
        } else {
            ""
        },
        ti = cfg.truth_interval_s,
    );
    if cfg.capture_s > 0 || gpu {
        let _ = writeln!(
            s,
            "| `captures/index.csv` | `file,entity,taken_at_ms`: every capture file, the entity it describes (host, PDU, GPU) and the collector's time (ms since the Unix epoch); the format is detected from the content |"
        );
    }
    if cfg.capture_s > 0 {
        let _ = write!(
            s,
            "| `captures/<host>/<t_s>-ipmitool-sensor.txt`, `-ipmitool-dcmi.txt` | `ipmitool sensor`, `ipmitool dcmi power reading` |\n\
             | `captures/<host>/<t_s>-ipmi-sensors.txt`, `-ipmi-dcmi.txt` | FreeIPMI `ipmi-sensors`, `ipmi-dcmi --get-system-power-statistics` |\n\
             | `captures/<host>/<t_s>-redfish-thermal.json`, `-redfish-power.json` | Redfish legacy `Chassis/<host>/Thermal` and `Power` |\n\
             | `captures/<pdu>/<t_s>-snmpwalk.txt` | `snmpwalk -On` of a Sentry4 rack PDU: cord, phase, one outlet per host (power, current, voltage, W·h), inlet probe |\n"
        );
    }
    if gpu {
        let _ = write!(
            s,
            "| `captures/nvml/<host>-gpu<k>.csv` | NVML sampler device CSV per GPU, one row per scrape (entity `<host>-gpu<k>`) |\n\
             | `prometheus_rules.json` | `kelvin_ingest::RuleSet` rules for the DCGM metrics |\n"
        );
    }
    let _ = write!(
        s,
        "\nQuirks, on purpose: missed DCMI scrapes; fan sensors that do not answer (`na`, `N/A`, \
         Redfish `Absent`) in ~1 % of captures; RAPL counters wrapping; vendor sensor names \
         (`Ambient Temp`, `Inlet Temp`, `Inlet Temperature`){skew}{corrupt2}.\n\n\
         Regenerate, from the repository root:\n\n\
         ```sh\ncargo run --release -p kelvin-sim -- --preset {preset} --seed {seed} --duration-s {dur} --out datasets/<dir>\n```\n",
        skew = match &out.skewed_host {
            Some(h) if cfg.capture_s > 0 => format!(
                "; the BMC clock of `{h}` runs {} s ahead (its DCMI time stamps)",
                room::CLOCK_SKEW_S
            ),
            _ => String::new(),
        },
        corrupt2 = if cfg.corrupt_lines >= 2 && cfg.capture_s > 0 {
            "; one corrupt inlet reading in the first `ipmitool sensor` capture"
        } else {
            ""
        },
        preset = cfg.preset.as_str(),
        seed = cfg.seed,
        dur = cfg.duration_s,
    );
    s
}

impl Dataset {
    /// `ground_truth.csv`:
    /// `workload,host,energy_j,mean_power_w,idle_j,dynamic_j,cpu_share_j,cpu_s`.
    pub fn truth_csv(&self) -> String {
        truth_csv(&self.config, &self.truth)
    }

    /// `hosts_truth.csv`: `host,energy_j,unreserved_idle_j,system_j` (the room-model presets
    /// add component columns: see their README).
    pub fn host_truth_csv(&self) -> String {
        if !self.components.is_empty() {
            return component_csv(&self.host_truth, &self.components);
        }
        let mut s = String::from("host,energy_j,unreserved_idle_j,system_j\n");
        for h in &self.host_truth {
            let _ = writeln!(
                s,
                "{},{:.3},{:.3},{:.3}",
                h.host, h.energy_j, h.unreserved_idle_j, h.system_j
            );
        }
        s
    }

    /// The dataset's README: what it holds, how it was made, the command that remakes it.
    pub fn readme(&self) -> String {
        if let Some(r) = self.files.get("README.md") {
            return r.clone();
        }
        let c = &self.config;
        let running = self.workloads.iter().filter(|w| w.host.is_some()).count();
        let lines = self.metrics.lines().filter(|l| !l.starts_with('#')).count();
        format!(
            "# Dataset `{name}`\n\n\
             Generated by `kelvin-sim` (seed {seed}): one site, {racks} racks of {hpr} servers \
             with SPECpower_ssj2008 power curves (see docs/datasets.md), {running} running \
             workloads of {tenants} tenants and {pending} pending ones, {dur} s scraped every {scrape} s \
             ({lines} samples).\n\n\
             | file | content |\n|---|---|\n\
             | `inventory.json` | site, room, racks, PDUs, hosts with capacity (`kelvin_model::Inventory`) |\n\
             | `workloads.json` | workloads with tenant, requests and host (`null` = pending placement) |\n\
             | `metrics.prom` | Prometheus exposition text with millisecond timestamps: IPMI exporter \
             `ipmi_dcmi_power_consumption_watts` (whole watts, ~{drop:.0}% scrapes missed) and \
             `ipmi_temperature_celsius{{name=\"Inlet Temp\"}}`, cAdvisor \
             `container_cpu_usage_seconds_total`{reset}{corrupt} |\n\
             | `ground_truth.csv` | per workload: true energy (J) and mean power (W) = idle share by CPU reservation + \
             dynamic share by busy CPU (two-part tariff); `cpu_share_j`, the same true power split \
             by CPU-time share every second; CPU seconds |\n\
             | `hosts_truth.csv` | per host: true wall energy, unreserved idle and system accounts |\n\n\
             Regenerate, from the repository root:\n\n\
             ```sh\ncargo run --release -p kelvin-sim -- --preset {name} --seed {seed} --duration-s {dur} --out datasets/<dir>\n```\n",
            name = c.name,
            seed = c.seed,
            racks = c.racks,
            hpr = c.hosts_per_rack,
            tenants = c.tenants,
            pending = c.workloads + c.pending - running,
            dur = c.duration_s,
            scrape = c.scrape_s,
            drop = c.dropout * 100.0,
            reset = if c.counter_reset {
                "; one container restarts mid-run (its counter resets)"
            } else {
                ""
            },
            corrupt = if c.corrupt_lines > 0 {
                format!(
                    "; {} corrupt line(s) as real scrapes have them (a BMC `N/A`, a cut-off line)",
                    c.corrupt_lines
                )
            } else {
                String::new()
            },
        )
    }

    /// Writes `README.md`, `inventory.json`, `workloads.json`, `metrics.prom`, `ground_truth.csv` and
    /// `hosts_truth.csv` into `dir` (created if missing).
    ///
    /// # Errors
    /// [`SimError::Io`] naming the file that could not be written.
    pub fn write_to(&self, dir: &Path) -> Result<(), SimError> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| SimError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let files = [
            ("README.md", self.readme()),
            ("inventory.json", pretty(&self.inventory)),
            ("workloads.json", pretty(&self.workloads)),
            ("metrics.prom", self.metrics.clone()),
            ("ground_truth.csv", self.truth_csv()),
            ("hosts_truth.csv", self.host_truth_csv()),
        ];
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::write(&p, body).map_err(io(&p))?;
        }
        for (name, body) in &self.files {
            let p = dir.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&p, body).map_err(io(&p))?;
        }
        Ok(())
    }
}

/// Pretty JSON with a trailing newline.
fn pretty<T: Serialize>(v: &T) -> String {
    // Serializing plain data structs into a String cannot fail.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed() {
        let cfg = SimConfig::edge().with_duration_s(300);
        let a = simulate(&cfg).unwrap();
        let b = simulate(&cfg).unwrap();
        assert_eq!(a.metrics, b.metrics);
        assert_eq!(a.truth_csv(), b.truth_csv());
        let c = simulate(&cfg.clone().with_seed(8)).unwrap();
        assert_ne!(a.metrics, c.metrics);
    }

    #[test]
    fn truth_balances_per_host() {
        let ds = simulate(&SimConfig::edge().with_duration_s(600)).unwrap();
        for ht in &ds.host_truth {
            let wl: f64 = ds
                .truth
                .iter()
                .filter(|t| t.host == ht.host)
                .map(|t| t.energy_j)
                .sum();
            let sum = wl + ht.unreserved_idle_j + ht.system_j;
            assert!(
                (sum - ht.energy_j).abs() < 1e-6 * ht.energy_j,
                "{}: {sum} vs {}",
                ht.host,
                ht.energy_j
            );
            assert!(ht.unreserved_idle_j >= -1e-9 && ht.system_j >= 0.0);
        }
    }

    #[test]
    fn placement_respects_capacity_and_bad_configs_fail() {
        let ds = simulate(&SimConfig::edge().with_duration_s(60)).unwrap();
        let mut inv = ds.inventory.clone();
        inv.workloads = ds.workloads.clone();
        inv.validate().unwrap();
        for h in &inv.hosts {
            let cpu: f64 = inv.workloads_on(&h.id).map(|w| w.requests.cpu_cores).sum();
            assert!(cpu <= h.capacity.cpu_cores);
        }
        assert_eq!(ds.workloads.iter().filter(|w| w.host.is_none()).count(), 5);
        assert!(matches!(
            simulate(&SimConfig::edge().with_fleet(0, 1, 1)),
            Err(SimError::Config { field: "racks", .. })
        ));
        assert!(simulate(&SimConfig::edge().with_fleet(1, 1, 500)).is_err());
        assert!(simulate(&SimConfig::edge().with_duration_s(10)).is_err());
        let mut bad = SimConfig::edge();
        bad.name = "edge site".into();
        assert!(matches!(
            simulate(&bad),
            Err(SimError::Config { field: "name", .. })
        ));
    }
}
