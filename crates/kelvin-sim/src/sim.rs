//! The simulator's entry points: [`simulate`] (in memory) and [`simulate_to`] (streamed to a
//! directory), and what they return.

use std::collections::BTreeMap;
use std::path::Path;

use kelvin_model::{Inventory, Workload};

use crate::dataset::{GROUND_TRUTH_CSV, INVENTORY_JSON, METRICS_PROM, WORKLOADS_JSON};
use crate::error::SimError;
use crate::room;
use crate::sink::Sink;
use crate::truth::{ComponentTruth, HostTruth, WorkloadTruth};
use crate::{Preset, SimConfig};

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
    /// `hosts_truth.csv`, `facility_truth.csv`, `host_power_truth.csv`, `captures/…`, and for
    /// [`Preset::Churn`] `pod_events.jsonl`); empty for [`Preset::Edge`].
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
    /// [`Preset::Churn`]: pods that ran (or were bound to a node), one row each in
    /// `ground_truth.csv`; 0 for the other presets.
    pub pods: usize,
    /// [`Preset::Churn`]: pods that never ran because no host had room for them.
    pub pods_unscheduled: usize,
    /// [`Preset::Churn`]: lines of `pod_events.jsonl`.
    pub pod_events: u64,
}

/// Runs the simulation.
///
/// # Errors
/// [`SimError::Config`] when the configuration is inconsistent or the workloads do not fit
/// on the hosts.
pub fn simulate(cfg: &SimConfig) -> Result<Dataset, SimError> {
    cfg.validate()?;
    if cfg.preset == Preset::Edge {
        return crate::edge::simulate(cfg);
    }
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
    room::finish(cfg, &out, &mut sink)?;
    let Sink::Mem(mut files) = sink else {
        unreachable!("a memory sink stays one")
    };
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_default();
    ds.metrics = files.remove(METRICS_PROM).map(text).unwrap_or_default();
    for f in [INVENTORY_JSON, WORKLOADS_JSON, GROUND_TRUTH_CSV] {
        files.remove(f);
    }
    ds.files = files.into_iter().map(|(k, v)| (k, text(v))).collect();
    Ok(ds)
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
            pods: 0,
            pods_unscheduled: 0,
            pod_events: 0,
        });
    }
    cfg.validate()?;
    let mut sink = Sink::dir(dir)?;
    let out = room::run(cfg, &mut sink)?;
    room::finish(cfg, &out, &mut sink)?;
    sink.finish()?;
    Ok(Summary {
        hosts: out.inventory.hosts.len(),
        workloads: out.workloads.len(),
        metrics_samples: out.metrics_samples,
        captures: out.captures,
        pods: if cfg.preset == Preset::Churn {
            out.truth.len()
        } else {
            0
        },
        pods_unscheduled: out.pods_unscheduled,
        pod_events: out.pod_events,
    })
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
