//! The room's estate and workloads: hosts of the three archetypes and GPU servers with their
//! BMC flavours and counters' starting values, and the workloads placed by random first fit
//! on CPU, memory and whole GPUs.

use kelvin_model::{Component, ComponentKind, Host, Inventory, Resources, Workload};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::RAPL_RANGE_J;
use crate::SimConfig;
use crate::archetypes;
use crate::estate::{GIB, add_rack, host_id, id, site_and_room};
use crate::physics::{Components, HostPhysics};
use crate::vendor::Bmc;
use crate::workload::{CPU_SIZES, NAMES, Pattern, ROOM_MIX, SimWorkload, pick_pattern};

/// GPU workload names, by kind.
pub(super) const GPU_NAMES: [&str; 4] = ["train", "infer", "notebook", "finetune"];

/// SM activity per unit of GPU utilization, by GPU workload kind: training and fine-tuning keep
/// most SMs busy while a kernel runs, inference and notebooks far fewer.
pub(super) const SM_FACTORS: [f64; 4] = [0.9, 0.6, 0.4, 0.85];

/// The share of its CPU request a GPU job keeps busy at level 1 (data loading, the driver).
pub(super) const GPU_CPU_FACTOR: f64 = 0.4;

/// A host of the room: its physics and exporters' state.
pub(super) struct RoomHost {
    /// Index into [`archetypes`].
    pub(super) arch: usize,
    pub(super) phys: HostPhysics,
    pub(super) bmc: Bmc,
    pub(super) rack: usize,
    /// Position in the rack, from the bottom.
    pub(super) slot: usize,
    pub(super) cores: f64,
    /// The workloads it runs, as indices of the simulated workloads.
    pub(super) wls: Vec<usize>,
    /// Workload owning each GPU.
    pub(super) gpu_owner: Vec<Option<usize>>,
    pub(super) rapl_pkg: [f64; 2],
    pub(super) rapl_dram: [f64; 2],
    pub(super) gpu_energy_mj: Vec<f64>,
    pub(super) outlet_wh: f64,
    /// DCMI statistics since the last capture: min, max, sum and count of wall power.
    pub(super) dcmi: (f64, f64, f64, u32),
    /// The components' power over the last step.
    pub(super) last: Components,
    pub(super) last_fan: f64,
    pub(super) gpu_util: Vec<f64>,
    /// Each GPU's SM activity × seconds since the last scrape.
    pub(super) sm_sum: Vec<f64>,
    /// CPU seconds of every workload that ran on it: cAdvisor's counter of the pods' parent
    /// cgroup (`/kubepods.slice`).
    pub(super) pods_cpu_s: f64,
    /// CPU seconds of everything on the host (pods and the host's own processes): the root
    /// cgroup (`/`).
    pub(super) root_cpu_s: f64,
    /// Component energy since the last interval-truth row, joules.
    pub(super) interval: Components,
    /// Inlet temperature × seconds since the last interval-truth row.
    pub(super) interval_inlet: f64,
}

impl RoomHost {
    /// A host in rack `rack` at `slot`, its counters starting at random values.
    fn new(
        (arch, phys, bmc): (usize, HostPhysics, Bmc),
        (rack, slot): (usize, usize),
        cores: f64,
        rng: &mut ChaCha8Rng,
    ) -> RoomHost {
        let ng = phys.gpus as usize;
        RoomHost {
            arch,
            bmc,
            rack,
            slot,
            cores,
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
            sm_sum: vec![0.0; ng],
            pods_cpu_s: 0.0,
            root_cpu_s: 0.0,
            interval: Components::default(),
            interval_inlet: 0.0,
            phys,
        }
    }
}

/// The site, one room, racks alternating between rows A and B with their PDUs, and the hosts:
/// the three archetypes in turn with their BMC flavours, and GPU servers (every host of the
/// GPU preset, the last `gpu_hosts` of the churn preset) with Redfish and ipmitool BMCs
/// alternating, each GPU a component of its host.
pub(super) fn estate(cfg: &SimConfig, rng: &mut ChaCha8Rng) -> (Inventory, Vec<RoomHost>) {
    let arch = archetypes();
    let first_gpu = cfg.racks * cfg.hosts_per_rack - cfg.gpu_host_count();
    let (mut inv, room) = site_and_room(cfg);
    let mut hosts: Vec<RoomHost> = Vec::new();
    for r in 0..cfg.racks {
        let row = if r % 2 == 0 { "A" } else { "B" };
        let (rack, pdu) = add_rack(&mut inv, cfg, &room, r, row);
        for h in 0..cfg.hosts_per_rack {
            let gpu = r * cfg.hosts_per_rack + h >= first_gpu;
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
            let host_id = host_id(cfg, r, h);
            inv.hosts.push(Host {
                id: host_id.clone(),
                rack: rack.clone(),
                capacity: cap,
                pdu: Some(pdu.clone()),
            });
            // Each GPU is a component of its host: NVML and DCGM readings name it.
            for k in 0..phys.gpus as usize {
                inv.components.push(Component {
                    id: id(format!("{host_id}-gpu{k}")),
                    host: host_id.clone(),
                    kind: ComponentKind::Gpu,
                });
            }
            hosts.push(RoomHost::new((a, phys, bmc), (r, h), cap.cpu_cores, rng));
        }
    }
    (inv, hosts)
}

/// A workload's request and usage pattern, as drawn.
struct Draw {
    cpu: f64,
    mem: u64,
    gpus: u32,
    name: &'static str,
    pattern: Pattern,
    /// SM activity per unit of GPU utilization (GPU jobs).
    sm: f64,
}

/// Draws workload `i`: a GPU job (training, inference, notebook, fine-tuning) on the GPU
/// preset, else a CPU workload of the room mix.
fn draw(cfg: &SimConfig, i: usize, rng: &mut ChaCha8Rng) -> Draw {
    if cfg.gpus_per_host > 0 {
        let g = [1u32, 1, 2, 4][rng.random_range(0..4)].min(cfg.gpus_per_host);
        let kind = rng.random_range(0..GPU_NAMES.len());
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
        Draw {
            cpu: 8.0 * f64::from(g),
            mem: u64::from(g) * 96 * GIB,
            gpus: g,
            name: GPU_NAMES[kind],
            pattern,
            sm: SM_FACTORS[kind],
        }
    } else {
        let cpu = CPU_SIZES[rng.random_range(0..CPU_SIZES.len())];
        let mem = (cpu as u64) * rng.random_range(2..=6) * GIB;
        Draw {
            cpu,
            mem,
            gpus: 0,
            name: NAMES[i % NAMES.len()],
            pattern: pick_pattern(rng, &ROOM_MIX),
            sm: 0.0,
        }
    }
}

/// Draws the workloads and places the running ones by random first fit on CPU, memory and
/// whole GPUs; one that fits nowhere waits, as a scheduler's queue would hold it.
pub(super) fn place(
    cfg: &SimConfig,
    inv: &Inventory,
    hosts: &mut [RoomHost],
    rng: &mut ChaCha8Rng,
) -> (Vec<SimWorkload>, Vec<Workload>) {
    let nh = hosts.len();
    let mut used: Vec<Resources> = vec![Resources::default(); nh];
    let mut sims: Vec<SimWorkload> = Vec::new();
    let mut pending = Vec::new();
    for i in 0..cfg.workloads + cfg.pending {
        let Draw {
            cpu,
            mem,
            gpus,
            name,
            pattern,
            sm,
        } = draw(cfg, i, rng);
        let mut req = Resources::new(cpu, mem);
        req.gpus = gpus;
        let mut wl = Workload {
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
        wl.host = Some(inv.hosts[h].id.clone());
        let mut sim = SimWorkload::new(wl, h, pattern);
        if cfg.gpus_per_host > 0 {
            sim.cpu_factor = GPU_CPU_FACTOR;
            sim.sm_factor = sm;
        }
        sims.push(sim);
    }
    (sims, pending)
}
