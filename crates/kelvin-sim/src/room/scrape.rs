//! What the exporters report at each scrape — the IPMI exporter (DCMI power in whole watts,
//! some scrapes missed; inlet temperature under the vendor's sensor name), node_exporter's
//! RAPL counters, dcgm-exporter's GPU metrics (with the pod holding each GPU), cAdvisor's CPU
//! counters (per container, and the pods' parent cgroup on the churn preset) — and the NVML
//! sampler's device CSV rows.

use std::fmt::Write as _;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::build::RoomHost;
use super::{RAPL_RANGE_J, Room, has_rapl};
use crate::Preset;
use crate::dataset::METRICS_PROM;
use crate::error::SimError;
use crate::sink::Sink;
use crate::vendor::Bmc;
use crate::workload::gauss;

/// The DCGM exporter rules the GPU preset's metrics need (Kelvin's built-in rules do not map
/// DCGM), as a `kelvin_ingest::RuleSet` JSON array.
pub const DCGM_RULES_JSON: &str = r#"[
  {"metric": "DCGM_FI_DEV_POWER_USAGE", "kind": "power", "unit": "W", "entity": "instance", "sensor": "gpu{gpu}/power.draw"},
  {"metric": "DCGM_FI_DEV_GPU_UTIL", "kind": "utilization", "unit": "%", "entity": "instance", "sensor": "gpu{gpu}/utilization.gpu"},
  {"metric": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "kind": "energy", "unit": "mJ", "entity": "instance", "sensor": "gpu{gpu}/total_energy_consumption"},
  {"metric": "DCGM_FI_PROF_SM_ACTIVE", "kind": "utilization", "unit": "ratio", "entity": "instance", "sensor": "gpu{gpu}/sm_active"}
]
"#;

/// The metric families of `metrics.prom`, in order: name, type, help.
pub(super) const FAMILIES: &[(&str, &str, &str)] = &[
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
        "DCGM_FI_PROF_SM_ACTIVE",
        "gauge",
        "Share of cycles an SM had at least one warp resident, over all SMs (ratio).",
    ),
    (
        "container_cpu_usage_seconds_total",
        "counter",
        "Cumulative cpu time consumed in seconds.",
    ),
];

impl Room<'_> {
    /// The scrape at `ms` (second `t` of the run): every exporter's samples appended to
    /// `metrics.prom`, and a row to each GPU's NVML CSV.
    pub(super) fn scrape(&mut self, ms: i64, t: u32, sink: &mut Sink) -> Result<(), SimError> {
        self.scrape_hosts(ms, t);
        if self.hosts.iter().any(|h| !h.gpu_util.is_empty()) {
            self.scrape_dcgm(ms, t);
        }
        self.scrape_cadvisor(ms);
        sink.append(METRICS_PROM, &self.buf)?;
        self.buf.clear();
        if self.gpu {
            for (h, rh) in self.hosts.iter().enumerate() {
                for g in 0..rh.gpu_util.len() {
                    let row = nvml_row(rh, g, ms, &mut self.rng);
                    sink.append(&nvml_file(&self.inv.hosts[h].id, g), &row)?;
                }
            }
        }
        Ok(())
    }

    /// The IPMI exporter (DCMI power, inlet temperature) and node_exporter's RAPL counters of
    /// every host.
    fn scrape_hosts(&mut self, ms: i64, t: u32) {
        let cfg = self.cfg;
        let nh = self.hosts.len();
        let (buf, rng) = (&mut self.buf, &mut self.rng);
        for (h, rh) in self.hosts.iter().enumerate() {
            let host = &self.inv.hosts[h].id;
            let p = rh.last.wall_w;
            if t > 0 && rng.random::<f64>() >= cfg.dropout {
                let measured = (p + (1.0 + 0.01 * p) * gauss(rng)).round().max(0.0);
                let _ = writeln!(
                    buf,
                    "ipmi_dcmi_power_consumption_watts{{instance=\"{host}:9290\",job=\"ipmi\"}} {measured} {ms}"
                );
                self.metrics_samples += 1;
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
                self.inlets[h] + 0.1 * gauss(rng)
            );
            self.metrics_samples += 1;
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
                    self.metrics_samples += 1;
                }
            }
        }
    }

    /// dcgm-exporter's power, utilization, energy and SM activity (the mean since the last
    /// scrape) of every GPU; a GPU held by a workload carries its `container`, `namespace` and
    /// `pod` labels, as dcgm-exporter's Kubernetes mapping adds them.
    fn scrape_dcgm(&mut self, ms: i64, t: u32) {
        let since = f64::from(t.min(self.cfg.scrape_s));
        let (buf, rng) = (&mut self.buf, &mut self.rng);
        for (metric, which) in [
            ("DCGM_FI_DEV_POWER_USAGE", 0),
            ("DCGM_FI_DEV_GPU_UTIL", 1),
            ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", 2),
            ("DCGM_FI_PROF_SM_ACTIVE", 3),
        ] {
            for (h, rh) in self.hosts.iter().enumerate() {
                let host = &self.inv.hosts[h].id;
                for (g, &u) in rh.gpu_util.iter().enumerate() {
                    let v = match which {
                        0 => format!("{:.3}", rh.phys.gpu_power_w(u) * (1.0 + 0.005 * gauss(rng))),
                        1 => format!("{}", (u * 100.0).round()),
                        2 => format!("{}", rh.gpu_energy_mj[g].floor()),
                        _ if since > 0.0 => format!("{:.6}", rh.sm_sum[g] / since),
                        _ => "0".to_string(),
                    };
                    let pod = match rh.gpu_owner[g] {
                        Some(k) => {
                            let wl = &self.sims[k].wl;
                            format!(
                                ",container=\"main\",namespace=\"{}\",pod=\"{}\"",
                                wl.tenant, wl.id
                            )
                        }
                        None => String::new(),
                    };
                    let _ = writeln!(
                        buf,
                        "{metric}{{gpu=\"{g}\",UUID=\"GPU-{:08x}-{h:04x}-{g:04x}\",device=\"nvidia{g}\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"{host}\"{pod},instance=\"{host}:9400\",job=\"dcgm\"}} {v} {ms}",
                        self.cfg.seed as u32
                    );
                    self.metrics_samples += 1;
                }
            }
        }
        for rh in &mut self.hosts {
            rh.sm_sum.iter_mut().for_each(|x| *x = 0.0);
        }
    }

    /// cAdvisor's CPU counter of every running workload; on the churn preset, host by host,
    /// each running pod's, then the pods' parent cgroup's (`/kubepods.slice`, which counts
    /// every pod that ran on the host, seen in a scrape or not), then the root cgroup's (`/`:
    /// pods and the host's own processes).
    fn scrape_cadvisor(&mut self, ms: i64) {
        if self.cfg.preset != Preset::Churn {
            for &k in &self.active {
                let s = &self.sims[k];
                let h = &self.inv.hosts[s.host].id;
                let _ = writeln!(
                    self.buf,
                    "container_cpu_usage_seconds_total{{container=\"main\",instance=\"{h}:10250\",job=\"cadvisor\",namespace=\"{}\",pod=\"{}\"}} {:.6} {ms}",
                    s.wl.tenant, s.wl.id, s.counter
                );
                self.metrics_samples += 1;
            }
            return;
        }
        for (h, rh) in self.hosts.iter().enumerate() {
            let host = &self.inv.hosts[h].id;
            for &k in &rh.wls {
                let s = &self.sims[k];
                let _ = writeln!(
                    self.buf,
                    "container_cpu_usage_seconds_total{{container=\"main\",instance=\"{host}:10250\",job=\"cadvisor\",namespace=\"{}\",pod=\"{}\"}} {:.6} {ms}",
                    s.wl.tenant, s.wl.id, s.counter
                );
            }
            let _ = writeln!(
                self.buf,
                "container_cpu_usage_seconds_total{{id=\"/kubepods.slice\",instance=\"{host}:10250\",job=\"cadvisor\"}} {:.6} {ms}",
                rh.pods_cpu_s
            );
            let _ = writeln!(
                self.buf,
                "container_cpu_usage_seconds_total{{id=\"/\",instance=\"{host}:10250\",job=\"cadvisor\"}} {:.6} {ms}",
                rh.root_cpu_s
            );
            self.metrics_samples += rh.wls.len() as u64 + 2;
        }
    }
}

/// The NVML device CSV of GPU `g` of `host`.
pub(super) fn nvml_file(host: &kelvin_model::EntityId, g: usize) -> String {
    format!("captures/nvml/{host}-gpu{g}.csv")
}

/// A row of GPU `g`'s NVML device CSV at `ms`.
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
