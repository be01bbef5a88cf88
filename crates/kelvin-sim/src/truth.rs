//! Ground truth: the energy the simulator charged to each workload, each host's own accounts,
//! and (room model) each host's energy by component — what real data never has, written to
//! `ground_truth.csv` and `hosts_truth.csv` ([`crate::dataset`]).

use kelvin_model::{EntityId, Host};
use serde::Serialize;

use crate::physics::Components;
use crate::vendor::Bmc;
use crate::workload::SimWorkload;

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
    /// DC energy of the GPUs it held, while it held them (what NVML and DCGM measure; no PSU
    /// loss), joules; 0 for a workload without GPUs.
    pub gpu_energy_j: f64,
    /// Seconds it ran within the recording: the whole run for the static presets, a pod's
    /// lifetime (cut at the run's end) for the churn preset.
    pub seconds: f64,
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
    /// Nothing yet for `host`.
    pub(crate) fn zero(host: EntityId, archetype: &'static str, bmc: Bmc) -> ComponentTruth {
        ComponentTruth {
            host,
            archetype,
            bmc,
            wall_j: 0.0,
            cpu_pkg_j: 0.0,
            dram_j: 0.0,
            fans_j: 0.0,
            gpu_j: 0.0,
            platform_j: 0.0,
            psu_loss_j: 0.0,
        }
    }

    /// Adds a step of `dt` seconds at the components' power.
    pub(crate) fn add(&mut self, c: &Components, dt: f64) {
        self.wall_j += c.wall_w * dt;
        self.cpu_pkg_j += c.cpu_pkg_w * dt;
        self.dram_j += c.dram_w * dt;
        self.fans_j += c.fans_w * dt;
        self.gpu_j += c.gpu_w * dt;
        self.platform_j += c.platform_w * dt;
        self.psu_loss_j += c.psu_loss_w * dt;
    }
}

/// Every host's accounts, nothing charged yet.
pub(crate) fn host_accounts(hosts: &[Host]) -> Vec<HostTruth> {
    hosts
        .iter()
        .map(|h| HostTruth {
            host: h.id.clone(),
            energy_j: 0.0,
            unreserved_idle_j: 0.0,
            system_j: 0.0,
        })
        .collect()
}

/// Each simulated workload's ground truth, in simulation order.
pub(crate) fn workload_truth(sims: &[SimWorkload], hosts: &[Host]) -> Vec<WorkloadTruth> {
    sims.iter()
        .map(|s| WorkloadTruth {
            workload: s.wl.id.clone(),
            host: hosts[s.host].id.clone(),
            energy_j: s.idle_j + s.dynamic_j,
            idle_j: s.idle_j,
            dynamic_j: s.dynamic_j,
            cpu_share_j: s.cpu_share_j,
            cpu_s: s.cpu_s,
            gpu_energy_j: s.gpu_j,
            seconds: s.seconds,
        })
        .collect()
}
