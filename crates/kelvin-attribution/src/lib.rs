//! Kelvin attribution: which workload burned which joule.
//!
//! The centre is the [`ledger`]: per meter (a host's BMC or PDU outlet, a GPU's NVML counter)
//! and per interval of a window's grid, the measured energy is split into workload lines and
//! named accounts (`idle`, `system`, `unexplained`) in integer microjoules, so
//!
//! `measured = Σ workload lines + Σ accounts`
//!
//! holds exactly in every interval and therefore over the window ([`settle`] makes a
//! [`Ledger`], every amount with a confidence interval). How the energy is split is an
//! [`AttributionPolicy`], an open trait: Kelvin's default is the two-part tariff
//! ([`Policy::TwoPartTariff`]: the idle floor by reservation, the unreserved rest to `idle`,
//! the dynamic energy by use priced on the meter's curve); full absorption, Kelvin 0.1's CPU
//! share and Kepler- and Scaphandre-like policies are built in for comparison, and an
//! embedder's own policy implements the same trait and declares the [`Axiom`]s it claims.
//! Each split is rounded with the largest-remainder method ([`largest_remainder`]), so no
//! microjoule is created or lost.
//!
//! The facade's input is [`AlignedInput`]: per host, the measured energy of every interval
//! and, per workload, its requested cores (its reservation) and the CPU seconds it used;
//! [`attribute`] turns it into a ledger (calibrating each host's idle floor when the policy
//! needs one).
//!
//! Around it:
//!
//! - [`power`]: power models — `ResourceModel` (non-negative linear in resources),
//!   `SpecCurve` (SPECpower-style curves), `calibrate_idle` (the idle floor from quiet
//!   intervals), `OnlineModel` (recursive least squares with drift detection);
//! - [`PowerModels`]: per-host models fitted on aligned data, offered to placement through
//!   [`kelvin_model::MarginalPower`] (marginal energy, with the cost of waking a host);
//! - [`shapley`]: Aumann–Shapley and exact or sampled Shapley values for shared meters with
//!   any power function;
//! - [`nnls`]: the non-negative least squares every fit uses;
//! - [`lattice`]: the meter fallback (PDU → BMC → RAPL → model → SPEC curve) with provenance;
//! - [`facility`]: facility overhead (measured or by PUE), carbon and cost per account;
//! - [`gpu`]: a GPU's measured energy per phase of a recording, keyed by per-process SM and
//!   memory activity with per-workload signatures (NNLS) above a floor calibrated from quiet
//!   intervals; the telemetry is asked for aligned on the method's grids ([`gpu::GpuTelemetry`]).
//!
//! ```
//! use kelvin_attribution::{Account, AlignedInput, HostSeries, LedgerOptions, Policy, WorkloadSeries, attribute};
//! use kelvin_model::{EntityId, Timestamp};
//!
//! // A 16-core host idling at 100 W for three minutes, then busy for two.
//! let input = AlignedInput {
//!     start: Timestamp::from_secs(0),
//!     interval_ns: 60_000_000_000,
//!     hosts: vec![HostSeries {
//!         host: EntityId::new("h1")?,
//!         cores: 16.0,
//!         energy_j: vec![6_000.0, 6_000.0, 6_000.0, 12_000.0, 13_000.0],
//!         meter_rel_sigma: 0.02,
//!         workloads: vec![
//!             // requested cores, then CPU seconds per interval
//!             WorkloadSeries::new(EntityId::new("w1")?, 4.0, vec![0.0, 0.0, 0.0, 30.0, 60.0]),
//!             WorkloadSeries::new(EntityId::new("w2")?, 0.0, vec![0.0, 0.0, 0.0, 90.0, 60.0]),
//!         ],
//!         system_cpu_s: None,
//!     }],
//! };
//! // The default, the two-part tariff: the 100 W floor (6 kJ a minute, calibrated from the
//! // quiet minutes) a quarter to w1, which reserved 4 of 16 cores, the rest to `idle`; the
//! // energy above the floor by CPU use.
//! let ledger = attribute(&input, &LedgerOptions::default())?;
//! let h = &ledger.meters[0];
//! assert_eq!(h.measured.uj, 43_000_000_000);
//! assert_eq!(h.lines[0].energy.uj, 5 * 1_500_000_000 + 1_500_000_000 + 3_500_000_000);
//! assert_eq!(h.lines[1].energy.uj, 4_500_000_000 + 3_500_000_000);
//! assert_eq!(h.account(Account::Idle).uj, 5 * 4_500_000_000);
//! assert!(h.is_balanced());
//! // Kelvin 0.1's policy, for comparison: each minute's whole energy by CPU-time share.
//! let cpu = attribute(&input, &LedgerOptions::default().with_policy(Policy::CpuShare))?;
//! assert_eq!(cpu.meters[0].lines[0].energy.uj, 3_000_000_000 + 6_500_000_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aligned;
mod error;
mod floors;
mod model;
mod split;

pub mod facility;
pub mod gpu;
pub mod lattice;
pub mod ledger;
pub mod nnls;
pub mod power;
pub mod shapley;

pub use aligned::{
    AlignedInput, HostSeries, PinnedFloor, WorkloadSeries, attribute, attribute_with_floors,
};
pub use error::{AttributionError, AttributionErrorKind};
pub use floors::{FloorSeries, busy_cores, calibrate_floor, calibrate_host_floor};
pub use ledger::{
    Account, AttributionPolicy, Axiom, Ledger, LedgerInput, LedgerOptions, MeterSheet, Policy,
    settle,
};
pub use model::{HostCurve, LinearPowerModel, PowerModels, WakeCost};
pub use split::{SplitScratch, largest_remainder, largest_remainder_into};
