//! Kelvin: which workload is burning which watt, and where the next one should run.
//!
//! This is the facade embedders link. Crate topology, arrows pointing one way
//! (facade → domain crates → model):
//!
//! - `kelvin` (this crate), wiring only: [`Engine`], the embedder's handle; [`dataset`],
//!   recorded datasets; [`gpu`], a recorded NVML capture loaded for GPU attribution;
//!   [`fleet`], the simulator's server curves as placement inputs.
//! - [`kelvin_model`]: entities, sensor kinds and canonical units, readings, time, errors, and
//!   the [`MarginalPower`](kelvin_model::MarginalPower) capability trait.
//! - [`kelvin_ingest`]: vendor formats → canonical readings, with a counted quarantine.
//! - [`kelvin_store`]: the time-series store; resampling, integration and counter increases
//!   on a common grid.
//! - [`kelvin_attribution`]: measured energy → a per-workload ledger, conserved to the µJ; power
//!   models that answer marginal-power questions.
//! - [`kelvin_placement`]: pending workloads → hosts, explained; power-, heat- and
//!   carbon-aware optimization of whole fleets.
//! - `kelvin-sim`: the simulator that writes recorded datasets with ground truth; linked for
//!   the reader of that format (`kelvin_sim::dataset`, behind [`dataset::RecordedDataset`]) and
//!   its published server curves.
//! - `kelvin-guard`: a leaf beside the model, used by the readers of the domain crates:
//!   regular files read within a size, Parquet metadata checked before it is decoded.
//!
//! Compositions sit on top of this crate and drive its public API: `kelvin-replay`, the
//! report the `replay` example prints (a recorded dataset through the engine, judged against
//! its ground truth).
//!
//! # Quick start
//!
//! ```
//! use kelvin::{Batch, Engine, PlaceOptions, dataset::RecordedDataset};
//!
//! let ds = RecordedDataset::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/edge-small"))?;
//! let mut engine = Engine::builder()
//!     .inventory(ds.inventory.clone())
//!     .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
//!     .build()?;
//! let report = engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
//! assert_eq!(report.stats.seen, report.stats.accepted + report.stats.quarantined);
//!
//! let bill = engine.attribute(engine.data_span().expect("data was ingested"))?;
//! assert_eq!(bill.measured_uj(), bill.attributed_uj() + bill.unattributed_uj());
//!
//! let pending: Vec<_> = ds.workloads.iter().filter(|w| w.host.is_none()).cloned().collect();
//! let plan = engine.place(&pending, &PlaceOptions::default())?;
//! assert_eq!(plan.assignments.len() + plan.unplaced.len(), pending.len());
//! # Ok::<(), kelvin::Error>(())
//! ```

/// The README's code blocks, compiled as doctests so the quick start cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod clock;
mod counters;
pub mod dataset;
mod engine;
mod error;
pub mod export;
pub mod fleet;
pub mod gpu;
mod live;
mod optimize;

pub use counters::CounterReset;
pub use engine::{
    Aligned, Batch, DEFAULT_MAX_GRID_CELLS, Engine, EngineBuilder, IngestReport, PlaceOptions,
};
pub use error::Error;
pub use kelvin_attribution as attribution;
pub use kelvin_attribution::{AttributionPolicy, Ledger, LedgerOptions, MeterSheet, Policy};
pub use kelvin_ingest as ingest;
pub use kelvin_ingest::counter::CounterStats;
pub use kelvin_model as model;
pub use kelvin_placement as placement;
pub use kelvin_placement::Plan;
pub use kelvin_store as store;
pub use live::{
    FacilityTotals, HostSpan, LiveFacility, LiveOptions, LiveStatus, MeterDrift, SpanOrigin,
    WorkloadSpan, read_book, read_closed,
};
pub use optimize::Optimized;
