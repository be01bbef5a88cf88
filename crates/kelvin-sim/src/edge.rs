//! The edge preset: a small room simulated second by second on SPECpower curves, recorded as
//! Prometheus text only (IPMI DCMI power and inlet temperature, cAdvisor CPU counters).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kelvin_model::{Host, Inventory, Resources, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{SimError, config_err};
use crate::estate::{GIB, add_rack, host_id, id, site_and_room};
use crate::truth::{HostTruth, host_accounts, workload_truth};
use crate::workload::{CPU_SIZES, EDGE_MIX, NAMES, SYSTEM_CORES, SimWorkload, gauss, pick_pattern};
use crate::{Dataset, PowerCurve, SimConfig, archetypes};

/// Simulates the edge preset in memory.
pub(crate) fn simulate(cfg: &SimConfig) -> Result<Dataset, SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let (inv, curves) = estate(cfg);
    let (sims, pending) = place(cfg, &inv, &mut rng)?;
    let reset_at = (cfg.counter_reset && !sims.is_empty()).then(|| {
        (
            rng.random_range(0..sims.len()),
            rng.random_range(cfg.duration_s / 3..2 * cfg.duration_s / 3),
        )
    });
    let mut edge = Edge::new(cfg, inv, curves, sims);
    for t in 0..=cfg.duration_s {
        edge.second(t, &mut rng);
        if let Some((k, at)) = reset_at
            && t == at
        {
            edge.sims[k].counter = 0.0;
        }
        if t.is_multiple_of(cfg.scrape_s) {
            edge.scrape_host_sensors(t, &mut rng);
        }
    }
    let metrics = edge.metrics();
    let truth = workload_truth(&edge.sims, &edge.inv.hosts);
    let mut workloads: Vec<Workload> = edge.sims.into_iter().map(|s| s.wl).collect();
    workloads.extend(pending);
    Ok(Dataset {
        config: cfg.clone(),
        inventory: edge.inv,
        workloads,
        metrics,
        truth,
        host_truth: edge.host_truth,
        components: Vec::new(),
        files: BTreeMap::new(),
    })
}

/// The site, one room, `racks` racks in row A with their PDUs, and hosts of the three
/// archetypes (older servers at the bottom of each rack, newer above), with each host's curve.
fn estate(cfg: &SimConfig) -> (Inventory, Vec<PowerCurve>) {
    let arch = archetypes();
    let (mut inv, room) = site_and_room(cfg);
    let mut curves = Vec::new();
    for r in 0..cfg.racks {
        let (rack, pdu) = add_rack(&mut inv, cfg, &room, r, "A");
        for h in 0..cfg.hosts_per_rack {
            // Older servers at the bottom of each rack, newer above.
            let a = &arch[(r + h) % arch.len()];
            curves.push(a.curve.clone());
            inv.hosts.push(Host {
                id: host_id(cfg, r, h),
                rack: rack.clone(),
                capacity: Resources::new(a.threads as f64, a.memory_gib * GIB),
                pdu: Some(pdu.clone()),
            });
        }
    }
    (inv, curves)
}

/// Draws the workloads and places the running ones by random first fit (start at a random
/// host, take the first that has room); the rest are written pending.
///
/// # Errors
/// [`SimError::Config`] when a running workload fits on no host.
fn place(
    cfg: &SimConfig,
    inv: &Inventory,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<SimWorkload>, Vec<Workload>), SimError> {
    let n = inv.hosts.len();
    let mut used: Vec<Resources> = vec![Resources::default(); n];
    let mut sims: Vec<SimWorkload> = Vec::new();
    let mut pending = Vec::new();
    for i in 0..cfg.workloads + cfg.pending {
        let cpu = CPU_SIZES[rng.random_range(0..CPU_SIZES.len())];
        let mem = (cpu as u64) * rng.random_range(2..=6) * GIB;
        let tenant = format!("tenant-{}", (b'a' + (i % cfg.tenants) as u8) as char);
        let mut wl = Workload {
            id: id(format!("{}-{:02}", NAMES[i % NAMES.len()], i + 1)),
            tenant,
            owner: format!("team-{}", i % 4 + 1),
            requests: Resources::new(cpu, mem),
            host: None,
        };
        let pattern = pick_pattern(rng, &EDGE_MIX);
        if i >= cfg.workloads {
            pending.push(wl);
            continue;
        }
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
        wl.host = Some(inv.hosts[h].id.clone());
        sims.push(SimWorkload::new(wl, h, pattern));
    }
    Ok((sims, pending))
}

/// The edge run's state: the estate, the workloads, the accounts and the metric lines
/// gathered per series (written grouped by metric family at the end).
struct Edge<'c> {
    cfg: &'c SimConfig,
    inv: Inventory,
    curves: Vec<PowerCurve>,
    sims: Vec<SimWorkload>,
    host_truth: Vec<HostTruth>,
    /// Each workload's CPU cores in use this second, before contention.
    rates: Vec<f64>,
    /// Each host's power this second, watts.
    host_power: Vec<f64>,
    /// Each rack's power this second, watts.
    rack_power: Vec<f64>,
    power_lines: Vec<String>,
    temp_lines: Vec<String>,
    cpu_lines: Vec<String>,
}

impl<'c> Edge<'c> {
    fn new(
        cfg: &'c SimConfig,
        inv: Inventory,
        curves: Vec<PowerCurve>,
        sims: Vec<SimWorkload>,
    ) -> Self {
        let nh = inv.hosts.len();
        Edge {
            cfg,
            host_truth: host_accounts(&inv.hosts),
            curves,
            rates: vec![0.0; sims.len()],
            host_power: vec![0.0; nh],
            rack_power: vec![0.0; cfg.racks],
            power_lines: vec![String::new(); nh],
            temp_lines: vec![String::new(); nh],
            cpu_lines: vec![String::new(); sims.len()],
            sims,
            inv,
        }
    }

    /// Milliseconds since the epoch of second `t` of the run.
    fn ms(&self, t: u32) -> i64 {
        self.cfg.start.as_nanos() / 1_000_000 + t as i64 * 1000
    }

    /// Second `t`: the CPU counters scraped at its start, the usage drawn, every host's power
    /// and, inside the run, the energy charged. The last scrape instant (`t` = duration) has
    /// power but no second of energy.
    fn second(&mut self, t: u32, rng: &mut ChaCha8Rng) {
        if t.is_multiple_of(self.cfg.scrape_s) {
            let ms = self.ms(t);
            for (k, s) in self.sims.iter().enumerate() {
                let h = &self.inv.hosts[s.host].id;
                let _ = writeln!(
                    self.cpu_lines[k],
                    "container_cpu_usage_seconds_total{{container=\"main\",instance=\"{h}:10250\",job=\"cadvisor\",namespace=\"{}\",pod=\"{}\"}} {:.6} {ms}",
                    s.wl.tenant, s.wl.id, s.counter
                );
            }
        }
        // usage this second
        for (k, s) in self.sims.iter_mut().enumerate() {
            self.rates[k] = s.wl.requests.cpu_cores * s.level(t, rng);
        }
        self.rack_power.iter_mut().for_each(|p| *p = 0.0);
        for h in 0..self.inv.hosts.len() {
            let (p, busy, scale) = self.host_power(h);
            self.host_power[h] = p;
            self.rack_power[h / self.cfg.hosts_per_rack] += p;
            if t == self.cfg.duration_s {
                continue; // the last scrape instant; its second is outside the run
            }
            self.charge(h, p, busy, scale);
        }
    }

    /// Host `h`'s power this second, its busy cores and the contention scale (everyone slows
    /// down proportionally when the demand exceeds the cores).
    fn host_power(&self, h: usize) -> (f64, f64, f64) {
        let cores = self.inv.hosts[h].capacity.cpu_cores;
        let mut demand: f64 = SYSTEM_CORES;
        for (k, s) in self.sims.iter().enumerate() {
            if s.host == h {
                demand += self.rates[k];
            }
        }
        // CPU contention: everyone slows down proportionally.
        let scale = if demand > cores { cores / demand } else { 1.0 };
        let busy = demand * scale;
        (self.curves[h].power_w(busy / cores), busy, scale)
    }

    /// Charges host `h`'s second at power `p` under the two-part tariff: idle by reservation,
    /// dynamic by busy CPU; and the `cpu_share` reference, the counters and the host accounts.
    fn charge(&mut self, h: usize, p: f64, busy: f64, scale: f64) {
        let cores = self.inv.hosts[h].capacity.cpu_cores;
        let idle = self.curves[h].idle_w();
        let dynamic = p - idle;
        let mut reserved = 0.0;
        let workload_busy = busy - SYSTEM_CORES * scale;
        for (k, s) in self.sims.iter_mut().enumerate() {
            if s.host == h {
                let used = self.rates[k] * scale;
                s.idle_j += idle * s.wl.requests.cpu_cores / cores;
                s.dynamic_j += dynamic * used / busy;
                if workload_busy > 0.0 {
                    s.cpu_share_j += p * used / workload_busy;
                }
                s.cpu_s += used;
                s.counter += used;
                s.seconds += 1.0;
                reserved += s.wl.requests.cpu_cores;
            }
        }
        let ht = &mut self.host_truth[h];
        ht.energy_j += p;
        ht.unreserved_idle_j += idle * (1.0 - reserved / cores);
        ht.system_j += dynamic * SYSTEM_CORES * scale / busy;
    }

    /// The IPMI exporter's scrape at second `t`: DCMI power (whole watts, some scrapes
    /// missed) and the inlet temperature, which follows the rack's power.
    fn scrape_host_sensors(&mut self, t: u32, rng: &mut ChaCha8Rng) {
        let ms = self.ms(t);
        for h in 0..self.inv.hosts.len() {
            let host = &self.inv.hosts[h].id;
            if rng.random::<f64>() >= self.cfg.dropout {
                // DCMI reports whole watts.
                let p = self.host_power[h];
                let measured = (p + (1.0 + 0.01 * p) * gauss(rng)).round().max(0.0);
                let _ = writeln!(
                    self.power_lines[h],
                    "ipmi_dcmi_power_consumption_watts{{instance=\"{host}:9290\",job=\"ipmi\"}} {measured} {ms}"
                );
            }
            let r = h / self.cfg.hosts_per_rack;
            let inlet = 21.0 + 0.8 * r as f64 + 0.0015 * self.rack_power[r] + 0.1 * gauss(rng);
            let _ = writeln!(
                self.temp_lines[h],
                "ipmi_temperature_celsius{{id=\"4\",instance=\"{host}:9290\",job=\"ipmi\",name=\"Inlet Temp\"}} {inlet:.1} {ms}"
            );
        }
    }

    /// `metrics.prom`: the gathered lines grouped by metric family, with the configured
    /// corrupt lines.
    fn metrics(&self) -> String {
        let cfg = self.cfg;
        let hosts = &self.inv.hosts;
        let mut metrics = String::new();
        metrics.push_str(
            "# HELP ipmi_dcmi_power_consumption_watts Current power consumption in Watts.\n",
        );
        metrics.push_str("# TYPE ipmi_dcmi_power_consumption_watts gauge\n");
        self.power_lines.iter().for_each(|l| metrics.push_str(l));
        if cfg.corrupt_lines >= 1 {
            // A BMC that answered "N/A", passed through verbatim by a textfile exporter.
            let h = &hosts[hosts.len() - 1].id;
            let ms = self.ms(cfg.duration_s / 2);
            let _ = writeln!(
                metrics,
                "ipmi_dcmi_power_consumption_watts{{instance=\"{h}:9290\",job=\"ipmi\"}} N/A {ms}"
            );
        }
        metrics
            .push_str("# HELP ipmi_temperature_celsius Temperature reading in degree Celsius.\n");
        metrics.push_str("# TYPE ipmi_temperature_celsius gauge\n");
        self.temp_lines.iter().for_each(|l| metrics.push_str(l));
        metrics.push_str(
            "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n",
        );
        metrics.push_str("# TYPE container_cpu_usage_seconds_total counter\n");
        for (k, l) in self.cpu_lines.iter().enumerate() {
            metrics.push_str(l);
            if cfg.corrupt_lines >= 2 && k == 0 {
                // A scrape cut off mid-line.
                metrics
                    .push_str("container_cpu_usage_seconds_total{container=\"main\",instance=\"");
                metrics.push_str(hosts[0].id.as_str());
                metrics.push_str(":10250\",job=\"cadv\n");
            }
        }
        metrics
    }
}
