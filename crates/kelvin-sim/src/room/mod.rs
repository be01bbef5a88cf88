//! The room model behind the enterprise, GPU, scale and churn presets: component physics per
//! host, heat recirculation between racks, a CRAC whose supply temperature follows the hottest
//! inlet, exporters scraped into Prometheus text, and vendor captures — all written through a
//! [`Sink`] that streams to disk or collects in memory.
//!
//! - [`build`]: the estate (hosts, BMCs, counters' starting values) and the workloads placed on
//!   it.
//! - [`step`]: the physics of one step — inlets, each host's power by component, the energy
//!   charged to workloads and accounts, the facility's power and the interval truth.
//! - [`scrape`]: what the exporters report at each scrape (IPMI, node_exporter RAPL, DCGM,
//!   cAdvisor) and the NVML device CSVs.
//! - [`capture`]: the vendor captures (BMC text and JSON, PDU SNMP walks) and their index.
//! - [`churn`]: the churn preset's pods, drawn before the run (arrivals, lifetimes, requests).
//! - [`pods`]: the pods at run time (scheduling, starts and stops, their watch events).

use std::fmt::Write as _;

use kelvin_model::{EntityId, Inventory, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dataset::write::{
    CAPTURE_INDEX_HEADER, FACILITY_TRUTH_HEADER, HOST_POWER_TRUTH_HEADER, component_csv, index_row,
    pretty, truth_csv,
};
use crate::dataset::{
    CAPTURE_INDEX_CSV, FACILITY_TRUTH_CSV, GROUND_TRUTH_CSV, HOST_POWER_TRUTH_CSV, HOSTS_TRUTH_CSV,
    INVENTORY_JSON, METRICS_PROM, PROMETHEUS_RULES_JSON, WORKLOADS_JSON,
};
use crate::error::SimError;
use crate::physics::Recirculation;
use crate::sink::Sink;
use crate::truth::{ComponentTruth, HostTruth, WorkloadTruth, host_accounts, workload_truth};
use crate::vendor::{self, Bmc};
use crate::workload::SimWorkload;
use crate::{HostArchetype, Preset, SimConfig, archetypes};

mod build;
mod capture;
mod churn;
mod pods;
mod scrape;
mod step;
#[cfg(test)]
mod tests_churn;

use build::RoomHost;
pub(crate) use pods::MAX_WAIT_S;
pub use scrape::DCGM_RULES_JSON;
use step::Facility;

/// RAPL energy counters wrap at `max_energy_range_uj` (a 32-bit MSR in 61 µJ units).
pub(crate) const RAPL_RANGE_J: f64 = 262_143.328_850;
/// The BMC clock of one host runs this far ahead.
pub(crate) const CLOCK_SKEW_S: i64 = 137;

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
    /// Churn preset: pods that never ran because no host had room (deleted after waiting, or
    /// still waiting at the end).
    pub pods_unscheduled: usize,
    /// Churn preset: lines of `pod_events.jsonl`.
    pub pod_events: u64,
    /// Churn preset: pods bound to a node that hold GPUs.
    pub gpu_pods: usize,
}

/// The room model's state over the run.
struct Room<'c> {
    cfg: &'c SimConfig,
    /// Whether some hosts have GPUs (the GPU and churn presets).
    gpu: bool,
    arch: [HostArchetype; 3],
    inv: Inventory,
    hosts: Vec<RoomHost>,
    sims: Vec<SimWorkload>,
    /// The workloads running now, as indices of `sims` (all of them, but for the churn
    /// preset's pods).
    active: Vec<usize>,
    /// The churn preset's pods.
    pods: Option<pods::Pods>,
    rng: ChaCha8Rng,
    host_truth: Vec<HostTruth>,
    comps: Vec<ComponentTruth>,
    /// Each workload's level this step (fraction of its request).
    rates: Vec<f64>,
    /// Each host's inlet temperature this step, °C.
    inlets: Vec<f64>,
    /// Each rack's power over the previous step, kW.
    rack_kw: Vec<f64>,
    /// The facility's sums since the last interval-truth row.
    fac: Facility,
    metrics_samples: u64,
    captures: u64,
    /// Text gathered before it goes to the sink.
    buf: String,
}

/// Runs the room model, writing `metrics.prom`, `facility_truth.csv`, `host_power_truth.csv`,
/// the captures and their index through `sink`.
pub(crate) fn run(cfg: &SimConfig, sink: &mut Sink) -> Result<RoomOut, SimError> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let (inv, mut hosts) = build::estate(cfg, &mut rng);
    let (sims, pending) = build::place(cfg, &inv, &mut hosts, &mut rng);
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
    let pods = (cfg.preset == Preset::Churn).then(|| {
        let mut pod_rng = ChaCha8Rng::seed_from_u64(rng.random());
        let specs = churn::draw_pods(cfg, &mut pod_rng);
        pods::Pods::new(specs, hosts.len(), cfg.gpu_host_count(), pod_rng)
    });
    let mut room = Room::new(cfg, inv, hosts, sims, rng);
    room.pods = pods;
    room.write_headers(sink)?;
    let start_ms = cfg.start.as_nanos() / 1_000_000;
    let mut t = 0u32;
    loop {
        let ms = start_ms + i64::from(t) * 1000;
        // Pods that stop, are bound or start at t.
        room.pods_at(t, sink)?;
        // Room: rises from the previous step's rack power, supply set for the redline.
        let supply = room.set_inlets(&recirc);
        room.draw_levels(ms.div_euclid(1000));
        if t.is_multiple_of(cfg.scrape_s) {
            room.scrape(ms, t, sink)?;
        }
        if cfg.capture_s > 0 && t.is_multiple_of(cfg.capture_s) {
            let garble = (cfg.corrupt_lines >= 2 && t == 0)
                .then_some(garble_host)
                .flatten();
            room.capture(ms, skewed, garble, sink)?;
        }
        if t == cfg.duration_s {
            break;
        }
        // Physics of the step [t, t + step).
        room.physics(supply);
        if let Some((k, at)) = reset_at
            && t == at
        {
            room.sims[k].counter = 0.0;
        }
        t += cfg.step_s;
        room.interval_truth(t, sink)?;
    }
    room.finish_pods(sink)?;
    let truth = workload_truth(&room.sims, &room.inv.hosts);
    let (pods_unscheduled, pod_events) = room.pods.as_ref().map_or((0, 0), |p| {
        (p.dropped + p.still_waiting(), p.events_written)
    });
    let gpu_pods = match room.pods {
        Some(_) => room.sims.iter().filter(|s| s.wl.requests.gpus > 0).count(),
        None => 0,
    };
    // Pods are in no workloads file: only in the telemetry, the events and the truth.
    let mut workloads: Vec<Workload> = if room.pods.is_some() {
        Vec::new()
    } else {
        room.sims.into_iter().map(|s| s.wl).collect()
    };
    workloads.extend(pending);
    let skewed_host = skewed.map(|h| room.inv.hosts[h].id.clone());
    Ok(RoomOut {
        inventory: room.inv,
        workloads,
        truth,
        host_truth: room.host_truth,
        components: room.comps,
        metrics_samples: room.metrics_samples,
        captures: room.captures,
        skewed_host,
        pods_unscheduled,
        pod_events,
        gpu_pods,
    })
}

impl<'c> Room<'c> {
    fn new(
        cfg: &'c SimConfig,
        inv: Inventory,
        hosts: Vec<RoomHost>,
        sims: Vec<SimWorkload>,
        rng: ChaCha8Rng,
    ) -> Room<'c> {
        let arch = archetypes();
        let comps = inv
            .hosts
            .iter()
            .zip(&hosts)
            .map(|(h, rh)| ComponentTruth::zero(h.id.clone(), arch[rh.arch].name, rh.bmc))
            .collect();
        Room {
            cfg,
            gpu: cfg.gpu_host_count() > 0,
            active: (0..sims.len()).collect(),
            pods: None,
            host_truth: host_accounts(&inv.hosts),
            comps,
            arch,
            rates: vec![0.0; sims.len()],
            inlets: vec![0.0; hosts.len()],
            rack_kw: vec![0.0; cfg.racks],
            fac: Facility::default(),
            metrics_samples: 0,
            captures: 0,
            buf: String::new(),
            inv,
            hosts,
            sims,
            rng,
        }
    }
}

impl Room<'_> {
    /// Starts the streamed files: the metric families' `# HELP` and `# TYPE` lines, the
    /// interval truth tables' and the capture index's headers, and (GPU preset) the DCGM rules
    /// and each GPU's NVML CSV with its index row.
    fn write_headers(&self, sink: &mut Sink) -> Result<(), SimError> {
        let cfg = self.cfg;
        let mut header = String::new();
        for (name, ty, help) in scrape::FAMILIES {
            if !self.gpu && name.starts_with("DCGM") {
                continue;
            }
            let _ = writeln!(header, "# HELP {name} {help}\n# TYPE {name} {ty}");
        }
        sink.append(METRICS_PROM, &header)?;
        sink.append(FACILITY_TRUTH_CSV, &format!("{FACILITY_TRUTH_HEADER}\n"))?;
        sink.append(
            HOST_POWER_TRUTH_CSV,
            &format!("{HOST_POWER_TRUTH_HEADER}\n"),
        )?;
        if cfg.capture_s > 0 || self.gpu {
            sink.append(CAPTURE_INDEX_CSV, &format!("{CAPTURE_INDEX_HEADER}\n"))?;
        }
        if self.gpu {
            sink.put(PROMETHEUS_RULES_JSON, DCGM_RULES_JSON)?;
            let start_ms = cfg.start.as_nanos() / 1_000_000;
            for (h, rh) in self.hosts.iter().enumerate() {
                let host = &self.inv.hosts[h].id;
                for g in 0..rh.phys.gpus as usize {
                    let file = scrape::nvml_file(host, g);
                    sink.append(&file, &format!("{}\n", vendor::NVML_DEVICE_HEADER))?;
                    let mut row = String::new();
                    index_row(&mut row, &file, &format!("{host}-gpu{g}"), start_ms);
                    sink.append(CAPTURE_INDEX_CSV, &row)?;
                }
            }
        }
        Ok(())
    }
}

/// Writes the end-of-run files of a room-model dataset: the inventory, the workloads, the
/// ground truth and the README.
pub(crate) fn finish(cfg: &SimConfig, out: &RoomOut, sink: &mut Sink) -> Result<(), SimError> {
    sink.put(INVENTORY_JSON, &pretty(&out.inventory))?;
    sink.put(WORKLOADS_JSON, &pretty(&out.workloads))?;
    sink.put(GROUND_TRUTH_CSV, &truth_csv(cfg, &out.truth))?;
    sink.put(
        HOSTS_TRUTH_CSV,
        &component_csv(&out.host_truth, &out.components),
    )?;
    sink.put("README.md", &crate::dataset::readme::room(cfg, out))?;
    sink.finish()
}

/// Whether an archetype's CPUs have RAPL energy counters (Sandy Bridge and later).
pub(crate) fn has_rapl(arch: usize) -> bool {
    archetypes()[arch].name != "x3400-m3"
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
        assert_eq!(field(SimConfig::churn().with_pod_rate(-1.0)), "pod_rate");
        assert_eq!(
            field(SimConfig::churn().with_pod_rate(f64::NAN)),
            "pod_rate"
        );
        assert_eq!(field(SimConfig::churn().with_pod_rate(1000.0)), "pod_rate");
        let mut c = SimConfig::churn();
        c.gpus_per_host = 0;
        assert_eq!(field(c), "gpus_per_host");
        // Racks of ten for the churn preset, one GPU server in five.
        let c = SimConfig::churn().with_hosts(50);
        assert_eq!((c.racks, c.hosts_per_rack, c.gpu_hosts), (5, 10, 10));
        assert_eq!(c, SimConfig::churn());
        let c = SimConfig::churn().with_hosts(6);
        assert_eq!((c.racks, c.hosts_per_rack, c.gpu_hosts), (1, 6, 2));
        assert_eq!(SimConfig::preset("churn"), Some(SimConfig::churn()));
        assert_eq!(Preset::Churn.as_str(), "churn");
    }
}
