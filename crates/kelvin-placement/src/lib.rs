//! Kelvin's placement optimizer: decides which host each pending workload should run on.
//!
//! - [`host_states`] turns an [`Inventory`](kelvin_model::Inventory) into [`HostState`]s:
//!   each host's capacity and what its workloads already use.
//! - [`place`] packs pending workloads onto them with first-fit-decreasing on CPU, memory and
//!   GPUs,
//!   trying hosts in a [`HostOrder`] — by default the most energy-efficient first when a
//!   [`MarginalPower`](kelvin_model::MarginalPower) model is given.
//! - [`fleet`] models power caps, heat and cooling, and optimizes placements of whole fleets:
//!   a [`fleet::Problem`] built by hand or from an inventory ([`fleet::Problem::from_inventory`]),
//!   a filter/score [`fleet::Placer`], a batch [`fleet::solve`], and an objective made of
//!   [`fleet::Term`]s, a trait the built-in goals implement and so can an embedder.
//! - [`binpack`] is the packing core, measured on published instances.
//! - [`roadef`] reads, checks and solves the ROADEF/EURO 2012 machine reassignment
//!   instances with [`fleet`] (a problem and two objective terms).
//! - The [`Plan`] explains itself: every [`Assignment`] carries a [`ScoreBreakdown`] of the
//!   chosen host, every host it was rejected on with the constraints ([`Rejection`]), and its
//!   [`RunnerUp`]s with their scores; every [`Unplaced`] workload lists the [`Constraint`]s that
//!   blocked it and on how many hosts, and [`Plan::lower_bound_hosts`] against
//!   [`Plan::hosts_used`] tells how far the packing can be from the best one.
//!
//! ```
//! use kelvin_model::{EntityId, Resources, Workload};
//! use kelvin_placement::{place, HostState, PlaceOptions};
//!
//! const GIB: u64 = 1 << 30;
//! let hosts = [
//!     HostState::new(EntityId::new("h1")?, Resources::new(32.0, 128 * GIB))
//!         .with_used(Resources::new(24.0, 64 * GIB)),
//!     HostState::new(EntityId::new("h2")?, Resources::new(64.0, 256 * GIB)),
//! ];
//! let pending = |id: &str, cores: f64, gib: u64| -> Result<Workload, kelvin_model::ModelError> {
//!     Ok(Workload {
//!         id: EntityId::new(id)?,
//!         tenant: "shop".into(),
//!         owner: "platform".into(),
//!         requests: Resources::new(cores, gib * GIB),
//!         host: None,
//!     })
//! };
//! let workloads = [
//!     pending("web-1", 4.0, 8)?,
//!     pending("db-1", 16.0, 64)?,
//!     pending("ml-train", 48.0, 512)?,
//! ];
//!
//! let plan = place(&hosts, &workloads, None, &PlaceOptions::default())?;
//!
//! // db-1 is the largest that fits; h1 has only 8 cores free, so it goes to h2.
//! assert_eq!(plan.host_of(&EntityId::new("db-1")?).map(|h| h.as_str()), Some("h2"));
//! // web-1 still fits in h1's 8 free cores, and h1 is tried first.
//! assert_eq!(plan.host_of(&EntityId::new("web-1")?).map(|h| h.as_str()), Some("h1"));
//! assert_eq!(plan.assignments[1].score.cpu_free_after, 4.0);
//! // ml-train fits nowhere, and the plan says why.
//! assert_eq!(
//!     plan.unplaced[0].to_string(),
//!     "ml-train fits on none of 2 hosts: not enough cpu on 1 host, not enough memory on 2 hosts",
//! );
//! // The whole load (648 GiB) needs at least 3 hosts of the largest size; there are 2.
//! assert_eq!((plan.hosts_used, plan.lower_bound_hosts), (2, 3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! **The optimizer knows nothing about telemetry.** Marginal power arrives through the
//! [`MarginalPower`](kelvin_model::MarginalPower) trait object, which the facade backs with
//! attribution's calibrated models, and measurements as plain numbers
//! ([`fleet::Measured`]); this crate depends on `kelvin-model` only.
//!
//! First-fit-decreasing is the foundation: simple, fast (`O(workloads × hosts)`, plus a sort of
//! the hosts per workload when ordering by power) and within 11/9 OPT + 6/9 bins for
//! one-dimensional packing. [`place`] is what `kelvin::Engine::place` runs on an inventory.
//!
//! Power caps, heat and everything else a data center imposes live in [`fleet`]: a problem
//! model with power curves, percentile PDU caps, recirculation and cooling, a
//! Kubernetes-like filter/score [`fleet::Placer`] for one workload at a time, and
//! [`fleet::solve`], a parallel large-neighbourhood search with a lower bound.
//! [`binpack`] is the combinatorial core on its own, measured on published instances.
//!
//! # Panics and errors
//!
//! Nothing here panics on input data. [`place`] checks its input once and returns a
//! [`PlacementError`] with an inspectable [`PlacementErrorKind`], the workload or host concerned
//! and the reason. A workload that fits nowhere is a result ([`Plan::unplaced`]), not an error.

pub mod binpack;
mod clock;
mod error;
mod ffd;
pub mod fleet;
mod host;
mod options;
mod plan;
mod rng;
pub mod roadef;

pub use error::{PlacementError, PlacementErrorKind};
pub use ffd::place;
pub use host::{CPU_EPSILON_CORES, Constraint, Fit, HostState, host_states};
pub use options::{HostOrder, PlaceOptions};
pub use plan::{Assignment, Blocker, Plan, Rejection, RunnerUp, ScoreBreakdown, Unplaced};
