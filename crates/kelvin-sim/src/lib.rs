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
//! Besides that edge recording ([`SimConfig::edge`], unchanged), the *room model* presets
//! ([`SimConfig::enterprise`], [`SimConfig::gpu`], [`SimConfig::scale`]) simulate component
//! physics ([`physics`]: CPU package, DRAM, fans, GPUs, PSU losses), heat recirculation and CRAC
//! cooling, and write what vendors emit — `ipmitool` and FreeIPMI text, Redfish JSON, Sentry4
//! SNMP walks, NVML CSVs, DCGM metrics — with per-host, per-component and facility ground
//! truth. [`simulate_to`] streams them to disk.
//!
//! Deterministic: the same [`SimConfig`] gives byte-identical files.
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

mod curve;
pub mod physics;
mod room;
mod sim;
mod vendor;

pub use curve::{HostArchetype, PowerCurve, archetypes};
pub use room::{ComponentTruth, DCGM_RULES_JSON};
pub use sim::{
    Dataset, HostTruth, Pattern, Preset, SimConfig, SimError, Summary, WorkloadTruth, simulate,
    simulate_to,
};
pub use vendor::Bmc;
