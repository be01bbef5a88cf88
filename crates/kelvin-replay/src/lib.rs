//! The replay report: a recorded dataset run through Kelvin's [`Engine`], judged against its
//! ground truth. A composition over the facade, not part of it: it drives the `kelvin` crate's
//! public API and uses the domain crates' public types and functions (the ledger's sheets,
//! the facility arithmetic, the dataset's truth and error summaries), never their internals.
//!
//! A recorded dataset is a directory written by `kelvin-sim` (or by hand, for real data); its
//! files, their limits and checks are [`kelvin_sim::dataset`]'s, read into a
//! [`RecordedDataset`] (re-exported from `kelvin::dataset`). [`replay`] runs one through an
//! [`Engine`] and returns a [`ReplayReport`], whose `Display` is the text the `replay`
//! example prints and whose [`ReplayReport::to_json`] carries the same figures
//! machine-readable.
//!
//! The steps are wiring over the domain crates (`build`): ingest the metrics and captures,
//! settle the [`Ledger`], place the pending workloads, put overhead and carbon on tenants and
//! racks ([`kelvin_attribution::facility`]), judge against the ground truth
//! ([`kelvin_sim::dataset::ErrorSummary`]), read the inlet sensors
//! ([`kelvin_store::pooled_means`]) and ask the fleet optimizer. `render` writes the report
//! as text, `json` as JSON.
//!
//! [`live`] feeds a dataset to a live engine in event time instead, batch by batch, resuming
//! after what a durable engine acknowledged (the `live` example).

use std::collections::BTreeMap;

use kelvin_attribution::{LedgerOptions, MeterSheet};
use kelvin_ingest::{IngestStats, Quarantined, Reason};
use kelvin_model::{EntityId, TimeRange, Workload};
use kelvin_placement::Plan;
use kelvin_sim::dataset::relative_error;
use serde::Serialize;

use kelvin::{Engine, Error, Ledger, PlaceOptions};

mod build;
mod json;
pub mod live;
mod render;

pub use kelvin::dataset::{
    CaptureFile, FacilitySample, HostTruth, MAX_DATASET_FILE_BYTES, MAX_IN_MEMORY_METRICS_BYTES,
    RecordedDataset, TruthRow, read_text_file,
};

/// Options of [`replay_with`]; [`ReplayOptions::default`] is what [`replay`] uses.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReplayOptions {
    /// PUE for the facility overhead when the dataset measures none: default 1.58, the mean
    /// annual PUE reported by the Uptime Institute's 2023 global data-center survey.
    pub pue: f64,
    /// Grid carbon intensity, gCO2e per kWh; `None` (the default) prints no carbon figure.
    pub carbon_g_per_kwh: Option<f64>,
    /// Inlet temperature above which a host is a hot spot, °C: default 27, the top of ASHRAE's
    /// recommended envelope.
    pub redline_c: f64,
    /// Search rounds behind the placement recommendation: a round limit (default 2,000), not
    /// a time limit, so the report is the same on every machine.
    pub optimize_rounds: u64,
    /// Relative standard uncertainty of the power meters, for the intervals: default 0.02 (a
    /// BMC reading good to about ±2 %, an assumption).
    pub meter_rel_sigma: f64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            pue: 1.58,
            carbon_g_per_kwh: None,
            redline_c: 27.0,
            optimize_rounds: 2_000,
            meter_rel_sigma: 0.02,
        }
    }
}

impl ReplayOptions {
    /// Sets [`ReplayOptions::pue`].
    pub fn with_pue(mut self, pue: f64) -> Self {
        self.pue = pue;
        self
    }
    /// Sets [`ReplayOptions::carbon_g_per_kwh`].
    pub fn with_carbon_g_per_kwh(mut self, g: Option<f64>) -> Self {
        self.carbon_g_per_kwh = g;
        self
    }
}

/// One workload's line in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadLine {
    /// The workload.
    pub workload: EntityId,
    /// Its tenant.
    pub tenant: String,
    /// Its host.
    pub host: EntityId,
    /// Attributed energy, µJ.
    pub energy_uj: u64,
    /// The part of it from the host's idle floor (its reservation), µJ.
    pub static_uj: u64,
    /// The part of it from activity, µJ.
    pub dynamic_uj: u64,
    /// Lower end of its 95 % interval, µJ.
    pub lo_uj: u64,
    /// Upper end of its 95 % interval, µJ.
    pub hi_uj: u64,
    /// Attributed / the host's measured energy.
    pub share_of_host: f64,
    /// Ground truth for this workload, when the dataset has it.
    pub truth: Option<TruthRow>,
}

impl WorkloadLine {
    /// Attributed energy, joules.
    pub fn energy_j(&self) -> f64 {
        j(self.energy_uj)
    }

    /// Relative error against the same policy — the report's, the two-part tariff — applied
    /// to the true per-second data ([`TruthRow::measurement_error`]): what measurement
    /// (sampling, noise, quantization, gaps, resets) and the calibrated idle floor cost.
    pub fn measurement_error(&self) -> Option<f64> {
        self.truth.as_ref()?.measurement_error(self.energy_j())
    }

    /// Relative difference against the `cpu_share` truth (Kelvin 0.1's policy, the whole host
    /// energy by CPU-time share, on the true data; [`TruthRow::policy_gap`]): what the policy
    /// choice changes.
    pub fn policy_gap(&self) -> Option<f64> {
        self.truth.as_ref()?.policy_gap(self.energy_j())
    }
}

/// Energy of a group of workloads (a tenant, or the workloads of a rack's hosts); serialized
/// as in [`ReplayReport::to_json`], in joules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupLine {
    /// The tenant or rack.
    pub name: String,
    /// Attributed IT energy, µJ.
    #[serde(rename = "energy_j", serialize_with = "json::joules")]
    pub energy_uj: u128,
    /// Sum of the members' lower bounds, µJ (a conservative 95 % bound).
    #[serde(rename = "lo_j", serialize_with = "json::joules")]
    pub lo_uj: u128,
    /// Sum of the members' upper bounds, µJ.
    #[serde(rename = "hi_j", serialize_with = "json::joules")]
    pub hi_uj: u128,
    /// Its share of the facility overhead, joules (IT × (PUE − 1)).
    pub overhead_j: f64,
    /// gCO2e of IT plus overhead, when an intensity is known.
    pub carbon_g: Option<f64>,
}

/// The facility around the IT load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FacilityLine {
    /// Measured IT energy, joules.
    pub it_j: f64,
    /// PUE applied.
    pub pue: f64,
    /// Whether it comes from the dataset's facility series (else it is assumed).
    pub pue_measured: bool,
    /// Cooling, distribution and other overhead, joules.
    pub overhead_j: f64,
    /// gCO2e of the whole, when an intensity is known.
    pub carbon_g: Option<f64>,
}

/// A host's inlet temperature over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotSpot {
    /// The host.
    pub host: EntityId,
    /// Its rack.
    pub rack: EntityId,
    /// Mean inlet temperature, °C.
    pub mean_c: f64,
    /// Highest inlet temperature, °C.
    pub max_c: f64,
}

/// One change the optimizer recommends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// The workload.
    pub workload: EntityId,
    /// Where it runs now (`None` for a pending workload).
    pub from: Option<EntityId>,
    /// Where it should run.
    pub to: EntityId,
}

/// What moving workloads would save, from [`Engine::optimize`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// The changes, running workloads first.
    pub moves: Vec<Move>,
    /// Facility watts predicted for today's placement plus first fit for the pending ones.
    pub before_w: f64,
    /// Facility watts predicted after the recommended changes.
    pub after_w: f64,
    /// The lower bound on facility watts for this load.
    pub bound_w: f64,
    /// Hosts running work before and after.
    pub hosts_before: usize,
    /// Hosts running work after.
    pub hosts_after: usize,
    /// Pending workloads that fit nowhere.
    pub unplaced: usize,
}

impl Recommendation {
    /// Watts saved.
    pub fn saving_w(&self) -> f64 {
        self.before_w - self.after_w
    }
}

/// Time series behind the charts, on the attribution grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSeries {
    /// Start of the first interval.
    pub start: kelvin_model::Timestamp,
    /// Interval length, seconds.
    pub interval_s: f64,
    /// Per workload, the power the report's policy bills it in each interval (its line of the
    /// ledger's per-interval split), watts; NaN where the host was not measured.
    pub workload_w: Vec<(EntityId, Vec<f64>)>,
    /// Per rack, the mean inlet temperature per interval, °C; NaN where no sample fell.
    pub rack_inlet_c: Vec<(EntityId, Vec<f64>)>,
}

/// Everything the replay found, ready to print.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Dataset name.
    pub dataset: String,
    /// Hosts in the inventory.
    pub hosts: usize,
    /// The attributed window.
    pub window: TimeRange,
    /// Attribution interval, seconds.
    pub interval_s: f64,
    /// Ingestion counts.
    pub ingest: IngestStats,
    /// First quarantined record per reason.
    pub quarantine_examples: BTreeMap<Reason, Quarantined>,
    /// Counter resets detected.
    pub counter_resets: usize,
    /// The bill: the settled ledger, one balance sheet per host, under the default policy
    /// (the two-part tariff, reservations from the workloads' requested cores).
    pub bill: Ledger,
    /// What the policy bills, for the report's heading.
    pub policy_description: String,
    /// Per-workload lines, in bill order.
    pub workloads: Vec<WorkloadLine>,
    /// Pending workloads that were placed.
    pub pending: Vec<Workload>,
    /// The placement plan for them.
    pub plan: Plan,
    /// Energy by tenant.
    pub tenants: Vec<GroupLine>,
    /// Energy by rack.
    pub racks: Vec<GroupLine>,
    /// Facility overhead and carbon.
    pub facility: FacilityLine,
    /// Hosts by highest inlet temperature (hosts with an inlet sensor).
    pub hot_spots: Vec<HotSpot>,
    /// The inlet redline the hot spots are judged against, °C.
    pub redline_c: f64,
    /// The optimizer's recommendation (`None` when the engine could not build a problem).
    pub recommendation: Option<Recommendation>,
    /// Series for charts.
    pub series: ReportSeries,
    /// True wall energy per host from `hosts_truth.csv`, joules, when the dataset has it.
    pub host_truth_j: BTreeMap<EntityId, f64>,
}

impl ReplayReport {
    /// A host's measured energy against its true energy (`hosts_truth.csv`), relative: what
    /// metering and integration cost (sampling, noise, dropouts, wraps), before attribution.
    pub fn host_error(&self, h: &MeterSheet) -> Option<f64> {
        relative_error(j(h.measured.uj), *self.host_truth_j.get(&h.meter)?)
    }
}

/// Replays a dataset: ingest, attribute over the whole recording, place the pending workloads.
///
/// # Errors
/// [`Error::NoData`] when nothing usable was ingested; otherwise the engine's errors.
pub fn replay(ds: &RecordedDataset) -> Result<ReplayReport, Error> {
    replay_with(ds, &ReplayOptions::default())
}

/// [`replay`] with options: facility PUE, carbon intensity, redline, search rounds and meter
/// uncertainty.
///
/// # Errors
/// As [`replay`].
pub fn replay_with(ds: &RecordedDataset, opts: &ReplayOptions) -> Result<ReplayReport, Error> {
    replay_with_progress(ds, opts, &mut |_, _| {})
}

/// The dataset replayed into an engine: its estate and running workloads (those with a
/// host), its rules, its metrics and vendor captures ingested; the pending workloads with the
/// engine. What the `extender` example answers the scheduler from.
///
/// # Errors
/// As [`replay`], and [`Error`] when nothing in the dataset was accepted.
pub fn replayed_engine(ds: &RecordedDataset) -> Result<(Engine, Vec<Workload>), Error> {
    let (running, pending): (Vec<Workload>, Vec<Workload>) =
        ds.workloads.iter().cloned().partition(|w| w.host.is_some());
    let mut engine = build::engine(ds, running)?;
    build::ingest(&mut engine, ds, &mut |_, _| {})?;
    if engine.data_span().is_none() {
        return Err(build::nothing_accepted(&engine));
    }
    Ok((engine, pending))
}

/// [`replay_with`], calling `progress(bytes_read, records_seen)` as a streamed metrics file
/// is ingested (see [`RecordedDataset::open`]).
///
/// # Errors
/// As [`replay`].
pub fn replay_with_progress(
    ds: &RecordedDataset,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ReplayReport, Error> {
    let (running, pending): (Vec<Workload>, Vec<Workload>) =
        ds.workloads.iter().cloned().partition(|w| w.host.is_some());
    let mut engine = build::engine(ds, running)?;
    build::ingest(&mut engine, ds, progress)?;
    let window = engine
        .data_span()
        .ok_or_else(|| build::nothing_accepted(&engine))?;
    let mut aligned = engine.aligned(window)?;
    for h in &mut aligned.input.hosts {
        h.meter_rel_sigma = opts.meter_rel_sigma;
    }
    // The default policy; the per-interval split feeds the power chart.
    let ledger_opts = LedgerOptions::default().with_keep_intervals(true);
    let bill = kelvin_attribution::attribute(&aligned.input, &ledger_opts)?;
    let plan = engine.place(&pending, &PlaceOptions::default())?;
    let workloads = build::workload_lines(&engine, &bill, &ds.truth);
    let facility = build::facility(ds, window, j(bill.measured_uj()), opts);
    let (tenants, racks) = build::groups(&engine, &workloads, &facility, opts);
    Ok(ReplayReport {
        dataset: ds.name.clone(),
        hosts: ds.inventory.hosts.len(),
        window: bill.window,
        interval_s: aligned.input.interval_ns as f64 / 1e9,
        ingest: engine.ingest_stats().clone(),
        quarantine_examples: build::quarantine_examples(&engine),
        counter_resets: aligned.counter_resets,
        policy_description: ledger_opts.policy.description().to_string(),
        hot_spots: build::hot_spots(&engine, window)?,
        series: build::series(&engine, &aligned.input, &bill)?,
        recommendation: build::recommend(&engine, &pending, opts.optimize_rounds).ok(),
        bill,
        workloads,
        pending,
        plan,
        tenants,
        racks,
        facility,
        redline_c: opts.redline_c,
        host_truth_j: ds
            .host_truth
            .iter()
            .map(|t| (t.host.clone(), t.energy_j))
            .collect(),
    })
}

/// Microjoules as joules.
fn j(uj: impl Into<u128>) -> f64 {
    uj.into() as f64 / 1e6
}
