//! The room model behind the enterprise, GPU and scale presets: component physics per host,
//! heat recirculation between racks, a CRAC whose supply temperature follows the hottest inlet,
//! exporters scraped into Prometheus text, and vendor captures — all written through a [`Sink`]
//! that streams to disk or collects in memory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use kelvin_model::{
    Component, ComponentKind, EntityId, Host, Inventory, Pdu, Rack, Resources, Room, Site, Workload,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::physics::{Components, HostPhysics, Recirculation, components, cop};
use crate::sim::{
    HostTruth, Pattern, PatternMix, SimConfig, SimError, SimWorkload, WorkloadTruth, config_err,
    gauss, pick_pattern,
};
use crate::vendor::{self, Bmc, Outlet, Snapshot};
use crate::{HostArchetype, archetypes};

const GIB: u64 = 1 << 30;
/// RAPL energy counters wrap at `max_energy_range_uj` (a 32-bit MSR in 61 µJ units).
pub(crate) const RAPL_RANGE_J: f64 = 262_143.328_850;
/// The BMC clock of one host runs this far ahead.
pub(crate) const CLOCK_SKEW_S: i64 = 137;

/// A host's true energy by component over the run (room-model presets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentTruth {
    /// Host id.
    pub host: EntityId,
    /// Archetype name.
    pub archetype: &'static str,
    /// BMC flavour.
    pub bmc: Bmc,
    /// Wall (AC) energy, joules; equals the sum of the other fields.
    pub wall_j: f64,
    /// CPU packages, joules.
    pub cpu_pkg_j: f64,
    /// DRAM, joules.
    pub dram_j: f64,
    /// Fans, joules.
    pub fans_j: f64,
    /// GPUs, joules.
    pub gpu_j: f64,
    /// The rest of the DC side, joules.
    pub platform_j: f64,
    /// PSU losses, joules.
    pub psu_loss_j: f64,
}

impl ComponentTruth {
    fn add(&mut self, c: &Components, dt: f64) {
        self.wall_j += c.wall_w * dt;
        self.cpu_pkg_j += c.cpu_pkg_w * dt;
        self.dram_j += c.dram_w * dt;
        self.fans_j += c.fans_w * dt;
        self.gpu_j += c.gpu_w * dt;
        self.platform_j += c.platform_w * dt;
        self.psu_loss_j += c.psu_loss_w * dt;
    }
}

/// Where the room model writes: files streamed to a directory through buffered writers, or
/// collected in memory.
pub(crate) enum Sink {
    /// In memory, by relative path.
    Mem(BTreeMap<String, Vec<u8>>),
    /// Under a directory; appended files stay open until [`Sink::finish`].
    Dir {
        root: PathBuf,
        open: BTreeMap<String, BufWriter<File>>,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Sink {
    pub(crate) fn dir(root: &Path) -> Result<Sink, SimError> {
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        Ok(Sink::Dir {
            root: root.to_path_buf(),
            open: BTreeMap::new(),
        })
    }

    /// Appends to a file that is written over time.
    pub(crate) fn append(&mut self, name: &str, data: &str) -> Result<(), SimError> {
        match self {
            Sink::Mem(m) => {
                m.entry(name.to_string())
                    .or_default()
                    .extend_from_slice(data.as_bytes());
                Ok(())
            }
            Sink::Dir { root, open } => {
                if !open.contains_key(name) {
                    let p = root.join(name);
                    if let Some(parent) = p.parent() {
                        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                    }
                    let f = File::create(&p).map_err(io_err(&p))?;
                    open.insert(name.to_string(), BufWriter::with_capacity(1 << 16, f));
                }
                let p = root.join(name);
                match open.get_mut(name) {
                    Some(w) => w.write_all(data.as_bytes()).map_err(io_err(&p)),
                    None => Ok(()),
                }
            }
        }
    }

    /// Writes a whole file at once.
    pub(crate) fn put(&mut self, name: &str, data: &str) -> Result<(), SimError> {
        match self {
            Sink::Mem(m) => {
                m.insert(name.to_string(), data.as_bytes().to_vec());
                Ok(())
            }
            Sink::Dir { root, .. } => {
                let p = root.join(name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                std::fs::write(&p, data).map_err(io_err(&p))
            }
        }
    }

    /// Flushes and closes the appended files.
    pub(crate) fn finish(&mut self) -> Result<(), SimError> {
        if let Sink::Dir { root, open } = self {
            for (name, mut w) in std::mem::take(open) {
                let p = root.join(&name);
                w.flush().map_err(io_err(&p))?;
            }
        }
        Ok(())
    }
}

/// Checks the room-model fields.
pub(crate) fn validate(cfg: &SimConfig) -> Result<(), SimError> {
    if cfg.step_s == 0
        || !cfg.scrape_s.is_multiple_of(cfg.step_s)
        || !cfg.duration_s.is_multiple_of(cfg.step_s)
    {
        return Err(config_err(
            "step_s",
            "a positive divisor of scrape_s and duration_s",
        ));
    }
    if !cfg.capture_s.is_multiple_of(cfg.scrape_s) {
        return Err(config_err("capture_s", "0 or a multiple of scrape_s"));
    }
    if cfg.truth_interval_s == 0 || !cfg.truth_interval_s.is_multiple_of(cfg.step_s) {
        return Err(config_err(
            "truth_interval_s",
            "a positive multiple of step_s",
        ));
    }
    if cfg.gpus_per_host > 16 {
        return Err(config_err("gpus_per_host", "at most 16"));
    }
    if cfg.racks.saturating_mul(cfg.hosts_per_rack) > 100_000 {
        return Err(config_err("racks", "at most 100,000 hosts"));
    }
    if cfg.workloads + cfg.pending > 1_000_000 {
        return Err(config_err("workloads", "at most 1,000,000 workloads"));
    }
    if cfg.duration_s > 31 * 86_400 {
        return Err(config_err("duration_s", "at most 31 days"));
    }
    if !(15.0..=40.0).contains(&cfg.redline_c) {
        return Err(config_err("redline_c", "between 15 and 40 °C"));
    }
    Ok(())
}

fn id(s: String) -> EntityId {
    // Built from the validated name plus ASCII suffixes.
    EntityId::new(s).unwrap_or_else(|_| unreachable!("SimConfig::validate checks the name"))
}

struct RoomHost {
    arch: usize,
    phys: HostPhysics,
    bmc: Bmc,
    rack: usize,
    slot: usize,
    cores: f64,
    wls: Vec<usize>,
    /// Workload owning each GPU.
    gpu_owner: Vec<Option<usize>>,
    rapl_pkg: [f64; 2],
    rapl_dram: [f64; 2],
    gpu_energy_mj: Vec<f64>,
    outlet_wh: f64,
    dcmi: (f64, f64, f64, u32),
    last: Components,
    last_fan: f64,
    gpu_util: Vec<f64>,
    interval: Components,
    interval_inlet: f64,
}

/// The room presets' mix: 2 steady, 2 periodic, 2 bursty (rarer, longer bursts than the
/// edge's), 3 diurnal, 1 idle in ten.
const ROOM_MIX: PatternMix = PatternMix {
    steady: 2,
    periodic: 4,
    bursty: 6,
    diurnal: 9,
    burst_rate: 1.0 / 600.0,
    burst_s: 60..600,
};

impl SimWorkload {
    /// Fraction of the request in use during the step starting at absolute second `abs_s`.
    pub(crate) fn level_step(&mut self, abs_s: i64, step: u32, rng: &mut ChaCha8Rng) -> f64 {
        let noise = 0.03 * gauss(rng);
        let l = match self.pattern {
            Pattern::Steady { level } => level + noise,
            Pattern::Periodic {
                mean,
                amplitude,
                period_s,
                phase_s,
            } => {
                mean + amplitude
                    * (std::f64::consts::TAU * (abs_s as f64 + phase_s) / period_s).sin()
                    + noise
            }
            Pattern::Bursty {
                base,
                burst_rate,
                burst_s,
            } => {
                // Chance of a burst starting within the step (exactly the rate for one second).
                let p = if step == 1 {
                    burst_rate
                } else {
                    1.0 - (1.0 - burst_rate).powi(step as i32)
                };
                if self.burst_left == 0 && rng.random::<f64>() < p {
                    self.burst_left = burst_s;
                }
                if self.burst_left > 0 {
                    self.burst_left = self.burst_left.saturating_sub(step);
                    0.95 + noise / 3.0
                } else {
                    base + noise / 3.0
                }
            }
            Pattern::Idle => 0.01 + noise.abs() / 10.0,
            Pattern::Diurnal {
                mean,
                amplitude,
                peak_hour,
            } => {
                let hour = abs_s.rem_euclid(86_400) as f64 / 3600.0;
                mean + amplitude * (std::f64::consts::TAU * (hour - peak_hour) / 24.0).cos() + noise
            }
        };
        if l.is_finite() {
            l.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// What the room model produced besides the files.
pub(crate) struct RoomOut {
    pub inventory: Inventory,
    pub workloads: Vec<Workload>,
    pub truth: Vec<WorkloadTruth>,
    pub host_truth: Vec<HostTruth>,
    pub components: Vec<ComponentTruth>,
    pub metrics_samples: u64,
    pub captures: u64,
    pub skewed_host: Option<EntityId>,
}

/// The DCGM exporter rules the GPU preset's metrics need (Kelvin's built-in rules do not map
/// DCGM), as a `kelvin_ingest::RuleSet` JSON array.
pub const DCGM_RULES_JSON: &str = r#"[
  {"metric": "DCGM_FI_DEV_POWER_USAGE", "kind": "power", "unit": "W", "entity": "instance", "sensor": "gpu{gpu}/power.draw"},
  {"metric": "DCGM_FI_DEV_GPU_UTIL", "kind": "utilization", "unit": "%", "entity": "instance", "sensor": "gpu{gpu}/utilization.gpu"},
  {"metric": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "kind": "energy", "unit": "mJ", "entity": "instance", "sensor": "gpu{gpu}/total_energy_consumption"}
]
"#;

const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "ipmi_dcmi_power_consumption_watts",
        "gauge",
        "Current power consumption in Watts.",
    ),
    (
        "ipmi_temperature_celsius",
        "gauge",
        "Temperature reading in degree Celsius.",
    ),
    (
        "node_rapl_package_joules_total",
        "counter",
        "Current RAPL package value in joules",
    ),
    (
        "node_rapl_dram_joules_total",
        "counter",
        "Current RAPL dram value in joules",
    ),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    (
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
    ),
    (
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    ),
];

/// Runs the room model, writing `metrics.prom`, `facility_truth.csv`, `host_power_truth.csv`,
/// the captures and their index through `sink`.
pub(crate) fn run(cfg: &SimConfig, sink: &mut Sink) -> Result<RoomOut, SimError> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let arch: [HostArchetype; 3] = archetypes();
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
    let gpu = cfg.gpus_per_host > 0;
    let mut hosts: Vec<RoomHost> = Vec::new();
    for r in 0..cfg.racks {
        let rack = id(format!("{}-r{}", cfg.name, r + 1));
        let pdu = id(format!("{}-r{}-pdu", cfg.name, r + 1));
        inv.racks.push(Rack {
            id: rack.clone(),
            room: room.clone(),
            row: Some(if r % 2 == 0 { "A" } else { "B" }.into()),
        });
        inv.pdus.push(Pdu {
            id: pdu.clone(),
            rack: rack.clone(),
            circuit: None,
        });
        for h in 0..cfg.hosts_per_rack {
            let (a, phys, bmc) = if gpu {
                let bmc = if (r * cfg.hosts_per_rack + h).is_multiple_of(2) {
                    Bmc::Redfish
                } else {
                    Bmc::Ipmitool
                };
                (2, HostPhysics::gpu_server(cfg.gpus_per_host), bmc)
            } else {
                let a = (r + h) % arch.len();
                let psu = [670.0, 460.0, 800.0][a];
                let bmc = [Bmc::Ipmitool, Bmc::Freeipmi, Bmc::Redfish][a];
                (a, HostPhysics::cpu_server(psu), bmc)
            };
            let mut cap = Resources::new(arch[a].threads as f64, arch[a].memory_gib * GIB);
            if gpu {
                cap.memory_bytes = 1024 * GIB;
                cap.gpus = cfg.gpus_per_host;
            }
            inv.hosts.push(Host {
                id: id(format!("{}-r{}-h{}", cfg.name, r + 1, h + 1)),
                rack: rack.clone(),
                capacity: cap,
                pdu: Some(pdu.clone()),
            });
            let ng = phys.gpus as usize;
            // Each GPU is a component of its host: NVML and DCGM readings name it.
            let host_id = id(format!("{}-r{}-h{}", cfg.name, r + 1, h + 1));
            for k in 0..ng {
                inv.components.push(Component {
                    id: id(format!("{host_id}-gpu{k}")),
                    host: host_id.clone(),
                    kind: ComponentKind::Gpu,
                });
            }
            hosts.push(RoomHost {
                arch: a,
                bmc,
                rack: r,
                slot: h,
                cores: cap.cpu_cores,
                wls: Vec::new(),
                gpu_owner: vec![None; ng],
                rapl_pkg: [
                    rng.random_range(0.0..RAPL_RANGE_J),
                    rng.random_range(0.0..RAPL_RANGE_J),
                ],
                rapl_dram: [
                    rng.random_range(0.0..RAPL_RANGE_J),
                    rng.random_range(0.0..RAPL_RANGE_J),
                ],
                gpu_energy_mj: (0..ng)
                    .map(|_| rng.random_range(1e8..5e9_f64).floor())
                    .collect(),
                outlet_wh: rng.random_range(1e5..9e5_f64).floor(),
                dcmi: (f64::INFINITY, 0.0, 0.0, 0),
                last: Components::default(),
                last_fan: 0.3,
                gpu_util: vec![0.0; ng],
                interval: Components::default(),
                interval_inlet: 0.0,
                phys,
            });
        }
    }

    // Workloads: random first fit on CPU, memory and (GPU preset) whole GPUs.
    let names = [
        "web", "api", "db", "cache", "batch", "ci", "ml", "etl", "dev", "mq",
    ];
    let gpu_names = ["train", "infer", "notebook", "finetune"];
    let cpu_sizes = [1.0, 2.0, 2.0, 4.0, 4.0, 8.0, 8.0, 16.0];
    let nh = hosts.len();
    let mut used: Vec<Resources> = vec![Resources::default(); nh];
    let mut sims: Vec<SimWorkload> = Vec::new();
    let mut pending = Vec::new();
    for i in 0..cfg.workloads + cfg.pending {
        let (cpu, mem, gpus, name, pattern) = if gpu {
            let g = [1u32, 1, 2, 4][rng.random_range(0..4)].min(cfg.gpus_per_host);
            let kind = rng.random_range(0..gpu_names.len());
            let pattern = match kind {
                0 | 3 => Pattern::Steady {
                    level: rng.random_range(0.8..0.97),
                },
                1 => Pattern::Diurnal {
                    mean: rng.random_range(0.35..0.55),
                    amplitude: rng.random_range(0.2..0.4),
                    peak_hour: rng.random_range(13.0..20.0),
                },
                _ => Pattern::Bursty {
                    base: 0.02,
                    burst_rate: 1.0 / 400.0,
                    burst_s: rng.random_range(60..300),
                },
            };
            (
                8.0 * f64::from(g),
                u64::from(g) * 96 * GIB,
                g,
                gpu_names[kind],
                pattern,
            )
        } else {
            let cpu = cpu_sizes[rng.random_range(0..cpu_sizes.len())];
            let mem = (cpu as u64) * rng.random_range(2..=6) * GIB;
            (
                cpu,
                mem,
                0,
                names[i % names.len()],
                pick_pattern(&mut rng, &ROOM_MIX),
            )
        };
        let mut req = Resources::new(cpu, mem);
        req.gpus = gpus;
        let wl = Workload {
            id: id(format!("{name}-{:02}", i + 1)),
            tenant: format!(
                "tenant-{}",
                (b'a' + (i % cfg.tenants.min(26)) as u8) as char
            ),
            owner: format!("team-{}", i % 4 + 1),
            requests: req,
            host: None,
        };
        if i >= cfg.workloads {
            pending.push(wl);
            continue;
        }
        let start = rng.random_range(0..nh);
        let slot = (0..nh).map(|k| (start + k) % nh).find(|&h| {
            let cap = inv.hosts[h].capacity;
            used[h].cpu_cores + cpu <= cap.cpu_cores
                && used[h].memory_bytes + mem <= cap.memory_bytes
                && used[h].gpus + gpus <= cap.gpus
        });
        // A workload that fits nowhere waits, as a scheduler's queue would hold it.
        let Some(h) = slot else {
            pending.push(wl);
            continue;
        };
        used[h].cpu_cores += cpu;
        used[h].memory_bytes += mem;
        used[h].gpus += gpus;
        let k = sims.len();
        let mut left = gpus;
        for o in hosts[h].gpu_owner.iter_mut() {
            if left > 0 && o.is_none() {
                *o = Some(k);
                left -= 1;
            }
        }
        hosts[h].wls.push(k);
        let mut wl = wl;
        wl.host = Some(inv.hosts[h].id.clone());
        sims.push(SimWorkload {
            wl,
            host: h,
            pattern,
            burst_left: 0,
            counter: 0.0,
            cpu_s: 0.0,
            idle_j: 0.0,
            dynamic_j: 0.0,
            cpu_share_j: 0.0,
        });
    }
    let reset_at = (cfg.counter_reset && !sims.is_empty()).then(|| {
        let at = rng.random_range(cfg.duration_s / 3..2 * cfg.duration_s / 3);
        (rng.random_range(0..sims.len()), at - at % cfg.step_s)
    });
    let a: Vec<f64> = (0..cfg.racks)
        .map(|_| rng.random_range(0.08..0.30))
        .collect();
    let recirc = Recirculation::new(&a);
    let skewed = hosts.iter().position(|h| h.bmc != Bmc::Redfish);
    let garble_host = hosts.iter().position(|h| h.bmc == Bmc::Ipmitool);

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
    let mut comps: Vec<ComponentTruth> = inv
        .hosts
        .iter()
        .zip(&hosts)
        .map(|(h, rh)| ComponentTruth {
            host: h.id.clone(),
            archetype: arch[rh.arch].name,
            bmc: rh.bmc,
            wall_j: 0.0,
            cpu_pkg_j: 0.0,
            dram_j: 0.0,
            fans_j: 0.0,
            gpu_j: 0.0,
            platform_j: 0.0,
            psu_loss_j: 0.0,
        })
        .collect();

    let mut header = String::new();
    for (name, ty, help) in FAMILIES {
        if !gpu && name.starts_with("DCGM") {
            continue;
        }
        let _ = writeln!(header, "# HELP {name} {help}\n# TYPE {name} {ty}");
    }
    sink.append("metrics.prom", &header)?;
    sink.append(
        "facility_truth.csv",
        "t_ms,interval_s,it_w,cooling_w,pue,supply_c,cop,max_inlet_c\n",
    )?;
    sink.append(
        "host_power_truth.csv",
        "t_ms,host,wall_w,cpu_pkg_w,dram_w,fans_w,gpu_w,platform_w,psu_loss_w,inlet_c\n",
    )?;
    if cfg.capture_s > 0 || gpu {
        sink.append("captures/index.csv", "file,entity,taken_at_ms\n")?;
    }
    if gpu {
        sink.put("prometheus_rules.json", DCGM_RULES_JSON)?;
        for (h, rh) in hosts.iter().enumerate() {
            for g in 0..rh.phys.gpus {
                let file = format!("captures/nvml/{}-gpu{g}.csv", inv.hosts[h].id);
                sink.append(&file, &format!("{}\n", vendor::NVML_DEVICE_HEADER))?;
                sink.append(
                    "captures/index.csv",
                    &format!(
                        "{file},{}-gpu{g},{}\n",
                        inv.hosts[h].id,
                        cfg.start.as_nanos() / 1_000_000
                    ),
                )?;
            }
        }
    }

    let system_cores = 0.3;
    let step = cfg.step_s;
    let dt = f64::from(step);
    let start_ms = cfg.start.as_nanos() / 1_000_000;
    let mut rack_kw = vec![0.0; cfg.racks];
    let mut rates = vec![0.0; sims.len()];
    let mut inlets = vec![0.0; nh];
    let mut metrics_samples = 0u64;
    let mut captures = 0u64;
    let mut fac = (0.0, 0.0, 0.0, 0.0, f64::MIN); // it·dt, cooling·dt, supply·dt, cop·dt, max inlet
    let mut buf = String::new();
    let mut t = 0u32;
    loop {
        let ms = start_ms + i64::from(t) * 1000;
        let abs_s = ms.div_euclid(1000);
        let scrape = t.is_multiple_of(cfg.scrape_s);
        let capture = cfg.capture_s > 0 && t.is_multiple_of(cfg.capture_s);
        // Room: rises from the previous step's rack power, supply set for the redline.
        let rise = recirc.rise(&rack_kw);
        let top = 0.25 * cfg.hosts_per_rack.saturating_sub(1) as f64;
        let worst = rise.iter().copied().fold(0.0_f64, f64::max) + top;
        let supply = (cfg.redline_c - worst).clamp(14.0, 22.0);
        for (h, rh) in hosts.iter().enumerate() {
            inlets[h] = supply + rise[rh.rack] + 0.25 * rh.slot as f64;
        }
        // Usage this step.
        for (k, s) in sims.iter_mut().enumerate() {
            rates[k] = s.level_step(abs_s, step, &mut rng);
        }
        if scrape {
            write_scrape(
                cfg,
                &inv,
                &mut hosts,
                &sims,
                &inlets,
                ms,
                t,
                &mut rng,
                &mut buf,
                &mut metrics_samples,
            );
            sink.append("metrics.prom", &buf)?;
            buf.clear();
            if gpu {
                for (h, rh) in hosts.iter().enumerate() {
                    for g in 0..rh.gpu_util.len() {
                        let row = nvml_row(rh, g, ms, &mut rng);
                        sink.append(
                            &format!("captures/nvml/{}-gpu{g}.csv", inv.hosts[h].id),
                            &row,
                        )?;
                    }
                }
            }
        }
        if capture {
            let first = t == 0;
            write_captures(
                cfg,
                &inv,
                &mut hosts,
                &inlets,
                ms,
                skewed,
                (cfg.corrupt_lines >= 2 && first)
                    .then_some(garble_host)
                    .flatten(),
                &mut rng,
                sink,
                &mut captures,
            )?;
        }
        if t == cfg.duration_s {
            break;
        }
        // Physics of the step [t, t + step).
        let mut it_w = 0.0;
        rack_kw.iter_mut().for_each(|x| *x = 0.0);
        for h in 0..nh {
            let rh = &mut hosts[h];
            let inlet = inlets[h];
            let mut demand = system_cores;
            for &k in &rh.wls {
                demand += sims[k].wl.requests.cpu_cores * rates[k] * cpu_factor(gpu);
            }
            let scale = if demand > rh.cores {
                rh.cores / demand
            } else {
                1.0
            };
            let busy = demand * scale;
            let u = busy / rh.cores;
            for (g, owner) in rh.gpu_owner.iter().enumerate() {
                rh.gpu_util[g] = match owner {
                    Some(k) => (rates[*k] + 0.02 * gauss(&mut rng)).clamp(0.0, 1.0),
                    None => 0.0,
                };
            }
            let curve = &arch[rh.arch].curve;
            let c = components(curve, &rh.phys, u, &rh.gpu_util, inlet);
            let zeros = vec![0.0; rh.gpu_util.len()];
            let idle = components(curve, &rh.phys, 0.0, &zeros, inlet).wall_w;
            let cpu_only = if rh.gpu_util.is_empty() {
                c.wall_w
            } else {
                components(curve, &rh.phys, u, &zeros, inlet).wall_w
            };
            let dynamic = (c.wall_w - idle).max(0.0);
            let idle = c.wall_w - dynamic;
            let cpu_dyn = (cpu_only - idle).clamp(0.0, dynamic);
            let gpu_dyn = dynamic - cpu_dyn;
            let gpu_active: f64 = rh
                .gpu_util
                .iter()
                .map(|&g| rh.phys.gpu_power_w(g) - rh.phys.gpu_idle_w)
                .sum();
            let gw = if rh.phys.gpus > 0 { 0.5 } else { 0.0 };
            let workload_busy = busy - system_cores * scale;
            let mut reserved_share = 0.0;
            let mut gpu_charged = 0.0;
            for &k in &rh.wls {
                let s = &mut sims[k];
                let used = s.wl.requests.cpu_cores * rates[k] * cpu_factor(gpu) * scale;
                let share = (1.0 - gw) * s.wl.requests.cpu_cores / rh.cores
                    + if rh.phys.gpus > 0 {
                        gw * f64::from(s.wl.requests.gpus) / f64::from(rh.phys.gpus)
                    } else {
                        0.0
                    };
                reserved_share += share;
                s.idle_j += idle * share * dt;
                let mut dynj = cpu_dyn * used / busy;
                if gpu_active > 0.0 {
                    let mine: f64 = rh
                        .gpu_owner
                        .iter()
                        .zip(&rh.gpu_util)
                        .filter(|(o, _)| **o == Some(k))
                        .map(|(_, &g)| rh.phys.gpu_power_w(g) - rh.phys.gpu_idle_w)
                        .sum();
                    dynj += gpu_dyn * mine / gpu_active;
                    gpu_charged += gpu_dyn * mine / gpu_active;
                }
                s.dynamic_j += dynj * dt;
                if workload_busy > 0.0 {
                    s.cpu_share_j += c.wall_w * used / workload_busy * dt;
                }
                s.cpu_s += used * dt;
                s.counter += used * dt;
            }
            let ht = &mut host_truth[h];
            ht.energy_j += c.wall_w * dt;
            ht.unreserved_idle_j += idle * (1.0 - reserved_share) * dt;
            // The system account: its CPU share, and GPU dynamic power no workload owns.
            ht.system_j += (cpu_dyn * system_cores * scale / busy + (gpu_dyn - gpu_charged)) * dt;
            comps[h].add(&c, dt);
            for s in 0..2 {
                rh.rapl_pkg[s] += c.cpu_pkg_w / 2.0 * dt;
                rh.rapl_dram[s] += c.dram_w / 2.0 * dt;
            }
            for (g, e) in rh.gpu_energy_mj.iter_mut().enumerate() {
                *e += rh.phys.gpu_power_w(rh.gpu_util[g]) * dt * 1000.0;
            }
            rh.outlet_wh += c.wall_w * dt / 3600.0;
            let d = &mut rh.dcmi;
            d.0 = d.0.min(c.wall_w);
            d.1 = d.1.max(c.wall_w);
            d.2 += c.wall_w;
            d.3 += 1;
            rh.last = c;
            rh.last_fan = rh.phys.fan_speed(
                inlet,
                u.max(rh.gpu_util.iter().copied().fold(0.0, f64::max)),
            );
            rh.interval.add_scaled(&c, dt);
            rh.interval_inlet += inlet * dt;
            it_w += c.wall_w;
            rack_kw[rh.rack] += c.wall_w / 1000.0;
        }
        if let Some((k, at)) = reset_at
            && t == at
        {
            sims[k].counter = 0.0;
        }
        let cp = cop(supply);
        fac.0 += it_w * dt;
        fac.1 += it_w / cp * dt;
        fac.2 += supply * dt;
        fac.3 += cp * dt;
        fac.4 = inlets.iter().copied().fold(fac.4, f64::max);
        t += step;
        let rem = t % cfg.truth_interval_s;
        if rem == 0 || t == cfg.duration_s {
            let span_s = if rem == 0 { cfg.truth_interval_s } else { rem };
            let span = f64::from(span_s);
            let t0 = start_ms + i64::from(t - span_s) * 1000;
            let (it, cool) = (fac.0 / span, fac.1 / span);
            let _ = writeln!(
                buf,
                "{t0},{span_s},{it:.3},{cool:.3},{:.5},{:.3},{:.4},{:.2}",
                (it + cool) / it.max(f64::MIN_POSITIVE),
                fac.2 / span,
                fac.3 / span,
                fac.4
            );
            sink.append("facility_truth.csv", &buf)?;
            buf.clear();
            fac = (0.0, 0.0, 0.0, 0.0, f64::MIN);
            for (h, rh) in hosts.iter_mut().enumerate() {
                let iv = &rh.interval;
                let _ = writeln!(
                    buf,
                    "{t0},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.2}",
                    inv.hosts[h].id,
                    iv.wall_w / span,
                    iv.cpu_pkg_w / span,
                    iv.dram_w / span,
                    iv.fans_w / span,
                    iv.gpu_w / span,
                    iv.platform_w / span,
                    iv.psu_loss_w / span,
                    rh.interval_inlet / span
                );
                rh.interval = Components::default();
                rh.interval_inlet = 0.0;
            }
            sink.append("host_power_truth.csv", &buf)?;
            buf.clear();
        }
    }

    let truth = crate::sim::workload_truth(&sims, &inv.hosts);
    let mut workloads: Vec<Workload> = sims.into_iter().map(|s| s.wl).collect();
    workloads.extend(pending);
    let skewed_host = skewed.map(|h| inv.hosts[h].id.clone());
    Ok(RoomOut {
        inventory: inv,
        workloads,
        truth,
        host_truth,
        components: comps,
        metrics_samples,
        captures,
        skewed_host,
    })
}

/// Whether an archetype's CPUs have RAPL energy counters (Sandy Bridge and later).
pub(crate) fn has_rapl(arch: usize) -> bool {
    archetypes()[arch].name != "x3400-m3"
}

/// GPU jobs keep only part of their CPU request busy (data loading, the Python driver).
fn cpu_factor(gpu: bool) -> f64 {
    if gpu { 0.4 } else { 1.0 }
}

#[allow(clippy::too_many_arguments)]
fn write_scrape(
    cfg: &SimConfig,
    inv: &Inventory,
    hosts: &mut [RoomHost],
    sims: &[SimWorkload],
    inlets: &[f64],
    ms: i64,
    t: u32,
    rng: &mut ChaCha8Rng,
    buf: &mut String,
    samples: &mut u64,
) {
    let nh = hosts.len();
    for (h, rh) in hosts.iter().enumerate() {
        let host = &inv.hosts[h].id;
        let p = rh.last.wall_w;
        if t > 0 && rng.random::<f64>() >= cfg.dropout {
            let measured = (p + (1.0 + 0.01 * p) * gauss(rng)).round().max(0.0);
            let _ = writeln!(
                buf,
                "ipmi_dcmi_power_consumption_watts{{instance=\"{host}:9290\",job=\"ipmi\"}} {measured} {ms}"
            );
            *samples += 1;
        }
        if cfg.corrupt_lines >= 1
            && h == nh - 1
            && t == cfg.duration_s / 2 / cfg.scrape_s * cfg.scrape_s
        {
            // A BMC that answered "N/A", passed through verbatim by a textfile exporter.
            let _ = writeln!(
                buf,
                "ipmi_dcmi_power_consumption_watts{{instance=\"{host}:9290\",job=\"ipmi\"}} N/A {ms}"
            );
        }
        let (sid, name) = match rh.bmc {
            Bmc::Ipmitool => (1, "Ambient Temp"),
            Bmc::Freeipmi => (21, "Inlet Temp"),
            Bmc::Redfish => (4, "Inlet Temperature"),
        };
        let _ = writeln!(
            buf,
            "ipmi_temperature_celsius{{id=\"{sid}\",instance=\"{host}:9290\",job=\"ipmi\",name=\"{name}\"}} {:.1} {ms}",
            inlets[h] + 0.1 * gauss(rng)
        );
        *samples += 1;
        // Westmere (the x3400 M3's X5670) predates RAPL: no counters there.
        let rapl: &[(&str, &[f64; 2], &str)] = if has_rapl(rh.arch) {
            &[("package", &rh.rapl_pkg, ""), ("dram", &rh.rapl_dram, ":0")]
        } else {
            &[]
        };
        for &(kind, ctr, sub) in rapl {
            for (s, v) in ctr.iter().enumerate() {
                let _ = writeln!(
                    buf,
                    "node_rapl_{kind}_joules_total{{index=\"{s}\",instance=\"{host}:9100\",job=\"node\",path=\"/sys/class/powercap/intel-rapl:{s}{sub}\"}} {:.6} {ms}",
                    v % RAPL_RANGE_J
                );
                *samples += 1;
            }
        }
    }
    if hosts.iter().any(|h| !h.gpu_util.is_empty()) {
        for (metric, which) in [
            ("DCGM_FI_DEV_POWER_USAGE", 0),
            ("DCGM_FI_DEV_GPU_UTIL", 1),
            ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", 2),
        ] {
            for (h, rh) in hosts.iter().enumerate() {
                let host = &inv.hosts[h].id;
                for (g, &u) in rh.gpu_util.iter().enumerate() {
                    let v = match which {
                        0 => format!("{:.3}", rh.phys.gpu_power_w(u) * (1.0 + 0.005 * gauss(rng))),
                        1 => format!("{}", (u * 100.0).round()),
                        _ => format!("{}", rh.gpu_energy_mj[g].floor()),
                    };
                    let _ = writeln!(
                        buf,
                        "{metric}{{gpu=\"{g}\",UUID=\"GPU-{:08x}-{h:04x}-{g:04x}\",device=\"nvidia{g}\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"{host}\",instance=\"{host}:9400\",job=\"dcgm\"}} {v} {ms}",
                        cfg.seed as u32
                    );
                    *samples += 1;
                }
            }
        }
    }
    for s in sims {
        let h = &inv.hosts[s.host].id;
        let _ = writeln!(
            buf,
            "container_cpu_usage_seconds_total{{container=\"main\",instance=\"{h}:10250\",job=\"cadvisor\",namespace=\"{}\",pod=\"{}\"}} {:.6} {ms}",
            s.wl.tenant, s.wl.id, s.counter
        );
        *samples += 1;
    }
}

fn nvml_row(rh: &RoomHost, g: usize, ms: i64, rng: &mut ChaCha8Rng) -> String {
    let u = rh.gpu_util[g];
    let p = rh.phys.gpu_power_w(u);
    let jitter: i64 = rng.random_range(0..40_000_000);
    let temp = 30.0 + 0.04 * p;
    let clock = if u > 0.01 { 1980 } else { 345 };
    format!(
        "{},{},{},{},{},{},{},{clock},2619,{},0,{}\n",
        ms * 1_000_000 + jitter,
        (p * 1000.0 * (1.0 + 0.003 * gauss(rng))).round(),
        (rh.phys.gpu_max_w * 1000.0).round(),
        rh.gpu_energy_mj[g].floor(),
        (u * 100.0).round(),
        (u * 35.0).round(),
        temp.round(),
        if u > 0.01 {
            60_129_542_144u64
        } else {
            503_316_480
        },
        if u > 0.01 { 0 } else { 1 },
    )
}

#[allow(clippy::too_many_arguments)]
fn write_captures(
    cfg: &SimConfig,
    inv: &Inventory,
    hosts: &mut [RoomHost],
    inlets: &[f64],
    ms: i64,
    skewed: Option<usize>,
    garble: Option<usize>,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    count: &mut u64,
) -> Result<(), SimError> {
    let t_s = (ms - cfg.start.as_nanos() / 1_000_000) / 1000;
    let mut index = String::new();
    let mut outlets: Vec<Vec<Outlet>> = vec![Vec::new(); cfg.racks];
    for (h, rh) in hosts.iter_mut().enumerate() {
        let host = inv.hosts[h].id.to_string();
        let c = rh.last;
        let wall = if c.wall_w > 0.0 {
            c.wall_w
        } else {
            // Before the first step: the idle draw.
            components(
                &archetypes()[rh.arch].curve,
                &rh.phys,
                0.0,
                &rh.gpu_util,
                inlets[h],
            )
            .wall_w
        };
        let noisy = |rng: &mut ChaCha8Rng, v: f64, sd: f64| v + sd * gauss(rng);
        let u_dc = if c.wall_w > 0.0 {
            c.dc_w()
        } else {
            wall * 0.88
        };
        let n_psu = rh.phys.psu_count as usize;
        let (mn, mx, avg) = if rh.dcmi.3 > 0 {
            (rh.dcmi.0, rh.dcmi.1, rh.dcmi.2 / f64::from(rh.dcmi.3))
        } else {
            (wall, wall, wall)
        };
        rh.dcmi = (f64::INFINITY, 0.0, 0.0, 0);
        let fan_rpm = (0..rh.phys.fans)
            .map(|i| {
                (rng.random::<f64>() >= 0.01).then(|| {
                    rh.last_fan * rh.phys.fan_max_rpm * (1.0 + 0.01 * f64::from(i % 3))
                        + 30.0 * gauss(rng)
                })
            })
            .collect();
        let heat = 0.02 * wall / (rh.last_fan * rh.phys.fan_max_w / 60.0).max(0.1);
        let snap = Snapshot {
            host: host.clone(),
            inlet_c: noisy(rng, inlets[h], 0.2),
            exhaust_c: noisy(rng, inlets[h] + heat, 0.3),
            cpu_c: [
                noisy(rng, inlets[h] + 15.0 + 0.1 * c.cpu_pkg_w, 0.5),
                noisy(rng, inlets[h] + 17.0 + 0.1 * c.cpu_pkg_w, 0.5),
            ],
            fan_rpm,
            wall_w: noisy(rng, wall, 1.0 + 0.01 * wall),
            psu_in_w: vec![wall / n_psu as f64; n_psu],
            psu_out_w: vec![u_dc / n_psu as f64; n_psu],
            line_v: noisy(rng, 230.0, 1.0),
            v12: noisy(rng, 12.1, 0.03),
            dcmi_min: mn,
            dcmi_max: mx,
            dcmi_avg: avg,
            period_s: u64::from(cfg.capture_s),
            bmc_secs: ms.div_euclid(1000) + if Some(h) == skewed { CLOCK_SKEW_S } else { 0 },
        };
        let files: Vec<(String, String)> = match rh.bmc {
            Bmc::Ipmitool => vec![
                (
                    "ipmitool-sensor.txt".into(),
                    vendor::ipmitool_sensor(&snap, garble == Some(h)),
                ),
                ("ipmitool-dcmi.txt".into(), vendor::ipmitool_dcmi(&snap)),
            ],
            Bmc::Freeipmi => vec![
                ("ipmi-sensors.txt".into(), vendor::freeipmi_sensors(&snap)),
                ("ipmi-dcmi.txt".into(), vendor::freeipmi_dcmi(&snap)),
            ],
            Bmc::Redfish => vec![
                (
                    "redfish-thermal.json".into(),
                    vendor::redfish_thermal(&snap),
                ),
                ("redfish-power.json".into(), vendor::redfish_power(&snap)),
            ],
        };
        for (suffix, body) in files {
            let file = format!("captures/{host}/{t_s:06}-{suffix}");
            sink.put(&file, &body)?;
            let _ = writeln!(index, "{file},{host},{ms}");
            *count += 1;
        }
        outlets[rh.rack].push(Outlet {
            power_w: wall,
            voltage_v: snap.line_v,
            energy_wh: rh.outlet_wh,
        });
    }
    for (r, o) in outlets.iter().enumerate() {
        let pdu = &inv.pdus[r].id;
        let cord_kwh = o.iter().map(|x| x.energy_wh).sum::<f64>() / 1000.0;
        let probe = inlets[r * cfg.hosts_per_rack] + 0.2 * gauss(rng);
        let file = format!("captures/{pdu}/{t_s:06}-snmpwalk.txt");
        sink.put(&file, &vendor::snmp_sentry4(o, cord_kwh, probe))?;
        let _ = writeln!(index, "{file},{pdu},{ms}");
        *count += 1;
    }
    sink.append("captures/index.csv", &index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Preset, simulate};
    use proptest::prelude::*;

    fn small(preset: Preset, seed: u64) -> SimConfig {
        let cfg = match preset {
            Preset::Gpu => SimConfig::gpu().with_duration_s(600),
            _ => SimConfig::enterprise()
                .with_duration_s(1200)
                .with_capture_s(600),
        };
        cfg.with_seed(seed)
    }

    /// Unwraps a RAPL series (values mod the range) into its total increase.
    fn rapl_increase(values: &[f64]) -> f64 {
        values
            .windows(2)
            .map(|w| {
                let d = w[1] - w[0];
                if d < 0.0 { d + RAPL_RANGE_J } else { d }
            })
            .sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]

        #[test]
        fn energy_balances_and_is_deterministic(seed in 0u64..1000, gpu in any::<bool>()) {
            let cfg = small(if gpu { Preset::Gpu } else { Preset::Enterprise }, seed);
            let a = simulate(&cfg).unwrap();
            // wall = Σ components + PSU loss, per host.
            for c in &a.components {
                let sum = c.cpu_pkg_j + c.dram_j + c.fans_j + c.gpu_j + c.platform_j + c.psu_loss_j;
                prop_assert!((sum - c.wall_j).abs() <= 1e-9 * c.wall_j);
                prop_assert!(c.psu_loss_j > 0.0 && c.fans_j > 0.0);
            }
            // wall = workloads + unreserved idle + system, per host.
            for (h, c) in a.host_truth.iter().zip(&a.components) {
                prop_assert!((h.energy_j - c.wall_j).abs() <= 1e-9 * c.wall_j);
                let wl: f64 = a.truth.iter().filter(|t| t.host == h.host).map(|t| t.energy_j).sum();
                prop_assert!((wl + h.unreserved_idle_j + h.system_j - h.energy_j).abs() <= 1e-6 * h.energy_j);
                prop_assert!(h.unreserved_idle_j >= -1e-6 && h.system_j >= -1e-6);
            }
            // Measured RAPL counters (unwrapped) sum to the true package energy.
            for c in a.components.iter().filter(|c| c.archetype != "x3400-m3") {
                let mut measured = 0.0;
                for idx in ["0", "1"] {
                    let series: Vec<f64> = a.metrics.lines()
                        .filter(|l| l.starts_with("node_rapl_package_joules_total{")
                            && l.contains(&format!("index=\"{idx}\",instance=\"{}:", c.host)))
                        .map(|l| l.split(' ').nth(1).unwrap().parse().unwrap())
                        .collect();
                    measured += rapl_increase(&series);
                }
                prop_assert!((measured - c.cpu_pkg_j).abs() < 1e-3, "{}: {measured} vs {}", c.host, c.cpu_pkg_j);
            }
            // Same seed, same bytes of every file.
            let b = simulate(&cfg).unwrap();
            prop_assert_eq!(&a.metrics, &b.metrics);
            prop_assert_eq!(&a.files, &b.files);
            prop_assert_eq!(a.truth_csv(), b.truth_csv());
        }
    }

    #[test]
    fn streaming_writes_the_same_bytes_as_memory() {
        let cfg = small(Preset::Gpu, 3);
        let dir = std::env::temp_dir().join(format!("kelvin-sim-stream-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = crate::simulate_to(&cfg, &dir).unwrap();
        let ds = simulate(&cfg).unwrap();
        assert_eq!(s.hosts, 8);
        assert_eq!(
            std::fs::read_to_string(dir.join("metrics.prom")).unwrap(),
            ds.metrics
        );
        for (name, body) in &ds.files {
            assert_eq!(
                &std::fs::read_to_string(dir.join(name)).unwrap(),
                body,
                "{name}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap(),
            ds.truth_csv()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_room_configs_name_their_field() {
        let field = |cfg: SimConfig| match simulate(&cfg) {
            Err(SimError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let mut c = SimConfig::enterprise();
        c.step_s = 7;
        assert_eq!(field(c), "step_s");
        let mut c = SimConfig::enterprise();
        c.step_s = 0;
        assert_eq!(field(c), "step_s");
        assert_eq!(
            field(SimConfig::enterprise().with_capture_s(90)),
            "capture_s"
        );
        let mut c = SimConfig::gpu();
        c.gpus_per_host = 99;
        assert_eq!(field(c), "gpus_per_host");
        let mut c = SimConfig::enterprise();
        c.redline_c = f64::NAN;
        assert_eq!(field(c), "redline_c");
        let mut c = SimConfig::enterprise();
        c.truth_interval_s = 0;
        assert_eq!(field(c), "truth_interval_s");
        let queued = simulate(&SimConfig::gpu().with_fleet(1, 1, 50)).unwrap();
        assert!(queued.workloads.iter().filter(|w| w.host.is_none()).count() > 3);
        assert_eq!(field(SimConfig::scale().with_hosts(200_000)), "racks");
    }
}
