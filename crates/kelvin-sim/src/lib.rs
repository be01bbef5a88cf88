//! Kelvin's data-center simulator.
//!
//! Generates a small synthetic data center — racks of servers with SPECpower-shaped power
//! curves, workloads of several tenants with steady, periodic, bursty and idle CPU patterns —
//! simulates it second by second, and writes what the operator's exporters would have recorded
//! (Prometheus exposition text from an IPMI exporter and cAdvisor, with their quirks: integer
//! DCMI watts, missed scrapes, a counter reset, a few corrupt lines) together with the ground
//! truth that real data never has: each workload's energy.
//!
//! Ground truth follows the two-part tariff: a host's active-idle power is charged to workloads
//! by their CPU *reservation* (the unreserved rest is an `unreserved` account), and the dynamic
//! power above idle by their share of busy CPU, the host's own system processes being a player
//! too (a `system` account). For a curve of total utilization this equals the Aumann–Shapley
//! value of the dynamic part.
//!
//! Besides that edge recording ([`SimConfig::edge`]), the *room model* presets
//! ([`SimConfig::enterprise`], [`SimConfig::gpu`], [`SimConfig::scale`], [`SimConfig::churn`])
//! simulate component physics ([`physics`]: CPU package, DRAM, fans, GPUs, PSU losses), heat
//! recirculation and CRAC cooling, and write what vendors emit — `ipmitool` and FreeIPMI text,
//! Redfish JSON, Sentry4 SNMP walks, NVML CSVs, DCGM metrics — with per-host, per-component and
//! facility ground truth. [`simulate_to`] streams them to disk. The churn preset is a
//! Kubernetes-like cluster whose pods come and go (seconds to hours, some holding whole GPUs):
//! they are in no workloads file, only in the telemetry's labels, in a file of lifecycle events
//! as the Kubernetes API reports them ([`dataset::PodEvent`]) and in the per-pod ground truth.
//!
//! What a run produces is a *recorded dataset*, a directory whose format the [`dataset`]
//! module knows both ways: the simulator writes it ([`simulate_to`], [`Dataset::write_to`]),
//! and [`dataset::RecordedDataset`] reads it back — a simulated one, or one exported from a
//! real estate — as untrusted input, every file within a size limit and every field checked,
//! with a typed [`dataset::DatasetError`]. Estimates are judged against its ground truth with
//! [`dataset::ErrorSummary`] and [`dataset::TruthRow::measurement_error`].
//!
//! Deterministic: the same [`SimConfig`] gives byte-identical files.
//!
//! Modules: `config` (the presets and their checks), `estate` (ids, site, racks), `workload`
//! (usage patterns), `curve` (the published SPECpower server curves), `sim` (the run: one
//! preset to a [`Dataset`]), `edge` (the edge preset), `room` (the room model: estate, physics
//! step, scrapes, captures, the churn preset's pods), [`physics`] (component power, fans, PSU,
//! cooling), `vendor` (what each vendor tool prints), `truth` (the ground-truth accounts),
//! `sink` (streamed or in-memory files), `error` (what a run can refuse), [`dataset`] (the
//! format, read and written, and the truth it judges estimates by).
//!
//! ```
//! use kelvin_sim::{SimConfig, simulate};
//! let cfg = SimConfig::edge().with_duration_s(120);
//! let ds = simulate(&cfg)?;
//! assert_eq!(ds.inventory.hosts.len(), 6);
//! assert!(ds.metrics.contains("ipmi_dcmi_power_consumption_watts"));
//! let truth: f64 = ds.truth.iter().map(|t| t.energy_j).sum::<f64>()
//!     + ds.host_truth.iter().map(|h| h.unreserved_idle_j + h.system_j).sum::<f64>();
//! let total: f64 = ds.host_truth.iter().map(|h| h.energy_j).sum();
//! assert!((truth - total).abs() < 1e-6 * total);
//! # Ok::<(), kelvin_sim::SimError>(())
//! ```
//!
//! Written to a directory and read back:
//!
//! ```
//! use kelvin_sim::dataset::RecordedDataset;
//! use kelvin_sim::{SimConfig, simulate_to};
//! let dir = std::env::temp_dir().join(format!("kelvin-sim-doc-{}", std::process::id()));
//! simulate_to(&SimConfig::edge().with_duration_s(120), &dir)?;
//! let ds = RecordedDataset::load(&dir)?;
//! assert_eq!((ds.inventory.hosts.len(), ds.host_truth.len()), (6, 6));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod curve;
pub mod dataset;
mod edge;
mod error;
mod estate;
pub mod physics;
mod room;
mod sim;
mod sink;
mod truth;
mod vendor;
mod workload;

pub use config::{Preset, SimConfig};
pub use curve::{HostArchetype, PowerCurve, archetypes};
pub use error::SimError;
pub use room::DCGM_RULES_JSON;
pub use sim::{Dataset, Summary, simulate, simulate_to};
pub use truth::{ComponentTruth, HostTruth, WorkloadTruth};
pub use vendor::Bmc;
pub use workload::Pattern;
