//! Writing the dataset's files: the JSON of the estate, the ground-truth tables, the rows of
//! the interval truth and of the capture index, and [`Dataset::write_to`]. Every header the
//! reader looks columns up in is written here.

use std::fmt::Write as _;
use std::path::Path;

use kelvin_model::EntityId;
use serde::Serialize;

use super::{GROUND_TRUTH_CSV, HOSTS_TRUTH_CSV, INVENTORY_JSON, METRICS_PROM, WORKLOADS_JSON};
use crate::error::{SimError, io_err};
use crate::physics::Components;
use crate::truth::{ComponentTruth, HostTruth, WorkloadTruth};
use crate::{Dataset, SimConfig};

/// The header of `ground_truth.csv`.
pub(crate) const GROUND_TRUTH_HEADER: &str =
    "workload,host,energy_j,mean_power_w,idle_j,dynamic_j,cpu_share_j,cpu_s";
/// The last column of `ground_truth.csv` for presets with GPUs (gpu, churn).
pub(crate) const GPU_ENERGY_COLUMN: &str = "gpu_energy_j";
/// The header of the edge preset's `hosts_truth.csv`.
pub(crate) const HOSTS_TRUTH_HEADER: &str = "host,energy_j,unreserved_idle_j,system_j";
/// The header of the room-model presets' `hosts_truth.csv`: the edge's columns, then each
/// host's energy by component, its archetype and its BMC.
pub(crate) const HOSTS_COMPONENT_TRUTH_HEADER: &str = "host,energy_j,unreserved_idle_j,system_j,cpu_pkg_j,dram_j,fans_j,gpu_j,platform_j,psu_loss_j,archetype,bmc";
/// The header of `facility_truth.csv`.
pub(crate) const FACILITY_TRUTH_HEADER: &str =
    "t_ms,interval_s,it_w,cooling_w,pue,supply_c,cop,max_inlet_c";
/// The header of `host_power_truth.csv`.
pub(crate) const HOST_POWER_TRUTH_HEADER: &str =
    "t_ms,host,wall_w,cpu_pkg_w,dram_w,fans_w,gpu_w,platform_w,psu_loss_w,inlet_c";
/// The header of `captures/index.csv`.
pub(crate) const CAPTURE_INDEX_HEADER: &str = "file,entity,taken_at_ms";

/// Pretty JSON with a trailing newline (`inventory.json`, `workloads.json`).
pub(crate) fn pretty<T: Serialize>(v: &T) -> String {
    // Serializing plain data structs into a String cannot fail.
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// `ground_truth.csv`: one row per workload, its mean power over the seconds it ran; presets
/// with GPUs add the GPU energy as the last column.
pub(crate) fn truth_csv(cfg: &SimConfig, truth: &[WorkloadTruth]) -> String {
    let gpu = cfg.gpu_host_count() > 0;
    let mut s = String::from(GROUND_TRUTH_HEADER);
    if gpu {
        s.push(',');
        s.push_str(GPU_ENERGY_COLUMN);
    }
    s.push('\n');
    for t in truth {
        let mean = if t.seconds > 0.0 {
            t.energy_j / t.seconds
        } else {
            0.0
        };
        let _ = write!(
            s,
            "{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}",
            t.workload, t.host, t.energy_j, mean, t.idle_j, t.dynamic_j, t.cpu_share_j, t.cpu_s
        );
        if gpu {
            let _ = write!(s, ",{:.3}", t.gpu_energy_j);
        }
        s.push('\n');
    }
    s
}

/// `hosts_truth.csv` of the edge preset: the accounts only.
fn host_truth_csv(hosts: &[HostTruth]) -> String {
    let mut s = format!("{HOSTS_TRUTH_HEADER}\n");
    for h in hosts {
        let _ = writeln!(
            s,
            "{},{:.3},{:.3},{:.3}",
            h.host, h.energy_j, h.unreserved_idle_j, h.system_j
        );
    }
    s
}

/// `hosts_truth.csv` of the room-model presets: the accounts and the components.
pub(crate) fn component_csv(hosts: &[HostTruth], comps: &[ComponentTruth]) -> String {
    let mut s = format!("{HOSTS_COMPONENT_TRUTH_HEADER}\n");
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

/// One row of `facility_truth.csv`: the facility's means over `[t0_ms, t0_ms + span_s)`.
pub(crate) struct FacilityRow {
    pub(crate) t0_ms: i64,
    pub(crate) span_s: u32,
    pub(crate) it_w: f64,
    pub(crate) cooling_w: f64,
    /// CRAC supply temperature, °C.
    pub(crate) supply_c: f64,
    /// The CRAC's coefficient of performance.
    pub(crate) cop: f64,
    /// The hottest inlet of the interval, °C.
    pub(crate) max_inlet_c: f64,
}

impl FacilityRow {
    /// Appends the row, with its PUE ((IT + cooling) / IT), to `buf`.
    pub(crate) fn write(&self, buf: &mut String) {
        let (it, cool) = (self.it_w, self.cooling_w);
        let _ = writeln!(
            buf,
            "{},{},{it:.3},{cool:.3},{:.5},{:.3},{:.4},{:.2}",
            self.t0_ms,
            self.span_s,
            (it + cool) / it.max(f64::MIN_POSITIVE),
            self.supply_c,
            self.cop,
            self.max_inlet_c
        );
    }
}

/// Appends a row of `host_power_truth.csv` to `buf`: `host`'s mean power by component over
/// `span` seconds from `t0_ms`, from its energy `sum` (joules) and inlet × seconds.
pub(crate) fn host_power_row(
    buf: &mut String,
    t0_ms: i64,
    host: &EntityId,
    sum: &Components,
    inlet_s: f64,
    span: f64,
) {
    let _ = writeln!(
        buf,
        "{t0_ms},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.2}",
        host,
        sum.wall_w / span,
        sum.cpu_pkg_w / span,
        sum.dram_w / span,
        sum.fans_w / span,
        sum.gpu_w / span,
        sum.platform_w / span,
        sum.psu_loss_w / span,
        inlet_s / span
    );
}

/// Appends a row of `captures/index.csv` to `buf`: `file` describes `entity` at `ms`.
pub(crate) fn index_row(buf: &mut String, file: &str, entity: &str, ms: i64) {
    let _ = writeln!(buf, "{file},{entity},{ms}");
}

impl Dataset {
    /// `ground_truth.csv`:
    /// `workload,host,energy_j,mean_power_w,idle_j,dynamic_j,cpu_share_j,cpu_s`, and
    /// `gpu_energy_j` last for the presets with GPUs (gpu, churn).
    pub fn truth_csv(&self) -> String {
        truth_csv(&self.config, &self.truth)
    }

    /// `hosts_truth.csv`: `host,energy_j,unreserved_idle_j,system_j` (the room-model presets
    /// add component columns: see their README).
    pub fn host_truth_csv(&self) -> String {
        if !self.components.is_empty() {
            return component_csv(&self.host_truth, &self.components);
        }
        host_truth_csv(&self.host_truth)
    }

    /// Writes `README.md`, `inventory.json`, `workloads.json`, `metrics.prom`, `ground_truth.csv` and
    /// `hosts_truth.csv` into `dir` (created if missing).
    ///
    /// # Errors
    /// [`SimError::Io`] naming the file that could not be written.
    pub fn write_to(&self, dir: &Path) -> Result<(), SimError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let files = [
            ("README.md", self.readme()),
            (INVENTORY_JSON, pretty(&self.inventory)),
            (WORKLOADS_JSON, pretty(&self.workloads)),
            (METRICS_PROM, self.metrics.clone()),
            (GROUND_TRUTH_CSV, self.truth_csv()),
            (HOSTS_TRUTH_CSV, self.host_truth_csv()),
        ];
        for (name, body) in files {
            let p = dir.join(name);
            std::fs::write(&p, body).map_err(io_err(&p))?;
        }
        for (name, body) in &self.files {
            let p = dir.join(name);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            std::fs::write(&p, body).map_err(io_err(&p))?;
        }
        Ok(())
    }
}
