//! Kelvin attribution: which workload burned which joule.
//!
//! Input is already aligned ([`AlignedInput`]): for each host, the measured energy of every
//! interval of a common grid and the CPU seconds each of its workloads used in that interval
//! (the facade builds it from the store). Output is a [`Bill`]: per host, a balance sheet in
//! integer microjoules where
//!
//! `measured = Σ workloads + unattributed`
//!
//! holds exactly, in every interval and therefore over the window. The policy of this version
//! is [`Policy::CpuShare`] (full absorption by CPU-time share); the split of each interval is
//! rounded with the largest-remainder method so no microjoule is created or lost.
//!
//! It also fits a per-host linear power model ([`PowerModels`]) on the same data and offers it
//! to placement through [`kelvin_model::MarginalPower`].
//!
//! ```
//! use kelvin_attribution::{AlignedInput, HostSeries, attribute, Policy};
//! use kelvin_model::{EntityId, Timestamp};
//!
//! let input = AlignedInput {
//!     start: Timestamp::from_secs(0),
//!     interval_ns: 60_000_000_000,
//!     hosts: vec![HostSeries {
//!         host: EntityId::new("h1")?,
//!         cores: 16.0,
//!         energy_j: vec![12_000.0, 13_000.0],                  // 200 W, then ~217 W
//!         workloads: vec![
//!             (EntityId::new("w1")?, vec![30.0, 60.0]),        // CPU seconds per interval
//!             (EntityId::new("w2")?, vec![90.0, 60.0]),
//!         ],
//!     }],
//! };
//! let bill = attribute(&input, Policy::CpuShare)?;
//! let h = &bill.hosts[0];
//! assert_eq!(h.measured_uj, 25_000_000_000);
//! assert_eq!(h.workloads[0].energy_uj, 3_000_000_000 + 6_500_000_000);
//! assert_eq!(h.attributed_uj() + h.unattributed_uj, h.measured_uj);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bill;
mod error;
mod model;
mod split;

pub mod facility;
pub mod lattice;
pub mod ledger;
pub mod nnls;
pub mod power;
pub mod shapley;

pub use bill::{
    AlignedInput, Bill, HostBalance, HostSeries, WorkloadShare, attribute, attribute_ledger,
};
pub use error::{AttributionError, AttributionErrorKind};
pub use ledger::{Account, Ledger, LedgerInput, LedgerOptions, Policy, settle};
pub use model::{HostCurve, LinearPowerModel, PowerModels, WakeCost};
pub use split::{SplitScratch, largest_remainder, largest_remainder_into};
