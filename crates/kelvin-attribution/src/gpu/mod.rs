//! GPU energy attribution: the device's energy counter is the meter, per-process SM and
//! memory activity are the keys, and the device's idle floor is calibrated from its quiet
//! intervals.
//!
//! The input is a schedule ([`GpuInput`]: the device, the workloads, their runs — processes
//! with a start and a stop — and the phases to settle) and the device's telemetry, which the
//! method asks for aligned on grids it chooses ([`GpuTelemetry`] on a [`GpuGrid`]). Kelvin's
//! facade (`kelvin::gpu`) reads a recorded NVML capture through `kelvin-ingest`'s decoders and
//! its schedule through `kelvin_ingest::schedule`, keeps the samples in a store, and
//! implements [`GpuTelemetry`] with the store's counter increases and integrals.
//!
//! Steps of [`attribute`]:
//! 1. On a grid over the whole schedule ([`GpuOptions::step_s`], dividing it evenly), the
//!    device energy per interval is asked of the telemetry, and each run's activity
//!    (utilization integrated over the interval).
//! 2. The idle floor per interval is calibrated from quiet intervals (no run alive) with
//!    [`calibrate_idle`](crate::power::calibrate_idle): it follows the device as it warms and
//!    cools instead of taking the minimum ever seen.
//! 3. A multi-resource model with one coefficient per workload and resource (W per unit of SM
//!    and memory activity) is fitted by non-negative least squares to the power above the
//!    floor: kernels differ in watts per SM-second, and the model learns each workload's
//!    signature from the data — from every loaded interval, or with [`GpuFit::Exclusive`]
//!    only from those where one run is alive, so the shared phases are settled out of sample.
//! 4. Each phase is settled on its own grid with [`settle`](crate::settle) under the
//!    [`GpuOptions::policy`] (the two-part tariff by default): the floor goes to the `idle`
//!    account (the runs reserve nothing), the rest to the workloads by their
//!    signature-weighted activity, exactly in µJ.
//!
//! The result, [`GpuAttribution`], holds one ledger per phase and renders the CSV of the
//! `gpu_attribution` example ([`GpuAttribution::to_csv`]), apportions facility overhead,
//! carbon and cost ([`GpuAttribution::facility`], through [`crate::facility`]), and checks the
//! shared phases against the exclusive runs ([`GpuAttribution::validate`]).
//!
//! Modules: `input` (the schedule, the grid, the telemetry trait, the options), `method` (the
//! floor, the signatures, each phase's settlement), `report` (the result and what is read off
//! it).
//!
//! ```
//! use kelvin_attribution::gpu::{
//!     GpuGrid, GpuInput, GpuOptions, GpuPhase, GpuRun, GpuTelemetry, attribute,
//! };
//! use kelvin_attribution::{Account, AttributionError};
//! use kelvin_model::{EntityId, TimeRange, Timestamp};
//!
//! /// A device at 80 W, 100 W more while workload A's one run keeps it half busy from 20 s.
//! struct Closed;
//! fn overlap(g: &GpuGrid, i: usize, from_s: f64) -> f64 {
//!     let (a, b) = (g.point(i).as_secs_f64(), g.point(i + 1).as_secs_f64());
//!     (b - a.max(from_s)).max(0.0)
//! }
//! impl GpuTelemetry for Closed {
//!     type Error = AttributionError;
//!     fn energy_j(&self, g: &GpuGrid) -> Result<Vec<f64>, AttributionError> {
//!         let e = |i| 80.0 * overlap(g, i, 0.0) + 100.0 * overlap(g, i, 20.0);
//!         Ok((0..g.intervals()).map(e).collect())
//!     }
//!     fn activity(&self, _: usize, g: &GpuGrid, _: f64)
//!         -> Result<[Option<Vec<f64>>; 2], AttributionError>
//!     {
//!         Ok([Some((0..g.intervals()).map(|i| 0.5 * overlap(g, i, 20.0)).collect()), None])
//!     }
//! }
//!
//! let s = Timestamp::from_secs;
//! let input = GpuInput {
//!     source: "events.csv".into(),
//!     meter: EntityId::new("gpu0")?,
//!     workloads: vec![EntityId::new("A")?],
//!     runs: vec![GpuRun { workload: 0, start: s(20), stop: None }],
//!     phases: vec![
//!         GpuPhase { name: "idle0".into(), range: TimeRange::try_new(s(0), s(20))? },
//!         GpuPhase { name: "soloA".into(), range: TimeRange::try_new(s(20), s(40))? },
//!     ],
//! };
//! let att = attribute(&input, &Closed, &GpuOptions::default())?;
//! let solo = &att.phases[1].ledger.meters[0];
//! // The 80 W floor stays in `idle`; the 100 W above it are A's (200 W at full SM activity).
//! assert_eq!(solo.account(Account::Idle).uj, 1_600_000_000);
//! assert_eq!(solo.lines[0].energy.uj, 2_000_000_000);
//! assert!((att.model.coef_w[0] - 200.0).abs() < 1e-6);
//! assert!(att.to_csv().contains("soloA,A,2000.000000,"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod input;
mod method;
mod report;

pub use input::{
    GpuFit, GpuGrid, GpuInput, GpuKey, GpuOptions, GpuPhase, GpuRun, GpuTelemetry, MAX_CELLS,
    MAX_INTERVALS,
};
pub use method::attribute;
pub use report::{GpuAttribution, GpuCheck, GpuPhaseSheet, share_mae};

#[cfg(test)]
mod tests;
