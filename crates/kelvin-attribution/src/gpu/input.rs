//! What the GPU method takes: the schedule ([`GpuInput`]), the telemetry it aligns on its own
//! grids ([`GpuTelemetry`] over a [`GpuGrid`]), and the options ([`GpuOptions`]).

use std::fmt;
use std::sync::Arc;

use kelvin_model::{EntityId, TimeRange, Timestamp};

use crate::ledger::{AttributionPolicy, Policy};
use crate::power::IdleOptions;
use crate::{AttributionError, LedgerOptions};

/// Most grid intervals an attribution of a recording may have (2^22: 24 days at the default
/// half-second step), checked before anything is allocated.
pub const MAX_INTERVALS: i64 = 1 << 22;

/// Most values the whole-recording series of an attribution may hold together (intervals ×
/// (two activities per workload + eight device series)): 2^23, 64 MiB of `f64`.
pub const MAX_CELLS: usize = 1 << 23;

/// One phase of the schedule, settled on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuPhase {
    /// Its name (`idle0`, `soloA`, `AB`, …).
    pub name: String,
    /// When it ran.
    pub range: TimeRange,
}

/// One run of a workload on the device: a process, alive from `start` to `stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuRun {
    /// Index into [`GpuInput::workloads`].
    pub workload: usize,
    /// When it was started.
    pub start: Timestamp,
    /// When it was stopped; `None` when it ran to the end of the recording.
    pub stop: Option<Timestamp>,
}

impl GpuPhase {
    /// The phase `name`, over `range`.
    pub fn new(name: impl Into<String>, range: TimeRange) -> GpuPhase {
        GpuPhase {
            name: name.into(),
            range,
        }
    }
}

impl GpuRun {
    /// A run of workload `workload` (an index into [`GpuInput::workloads`]) from `start` to
    /// `stop`.
    pub fn new(workload: usize, start: Timestamp, stop: Option<Timestamp>) -> GpuRun {
        GpuRun {
            workload,
            start,
            stop,
        }
    }

    /// Whether the run is alive at some time in `[a, b)` (nanoseconds).
    pub(crate) fn alive_in(&self, a: i64, b: i64) -> bool {
        self.start.as_nanos() < b && self.stop.is_none_or(|s| s.as_nanos() > a)
    }
}

/// A recording's schedule: the device (the meter), the workloads, their runs and the phases.
/// The telemetry comes from a [`GpuTelemetry`].
#[derive(Debug, Clone, PartialEq)]
pub struct GpuInput {
    /// Names the schedule in errors (its file, e.g. `…/events.csv`).
    pub source: String,
    /// The device whose energy counter is the meter of every phase.
    pub meter: EntityId,
    /// The workloads, in the order of the ledgers' lines.
    pub workloads: Vec<EntityId>,
    /// The runs; [`GpuTelemetry::activity`] is asked for them by index.
    pub runs: Vec<GpuRun>,
    /// The phases, in the order of [`GpuAttribution::phases`](super::GpuAttribution::phases).
    pub phases: Vec<GpuPhase>,
}

/// Intervals `[point(i), point(i + 1))` for `i` in `0..intervals()`, of equal length, that
/// the method asks its [`GpuTelemetry`] to align on. Every point is a valid timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuGrid {
    start: Timestamp,
    step_ns: i64,
    intervals: usize,
}

impl GpuGrid {
    /// A grid of steps of about `step_s` dividing `range` evenly (at least one interval, at
    /// most [`MAX_INTERVALS`]); `source` names the schedule in errors.
    pub(crate) fn over(
        range: TimeRange,
        step_s: f64,
        source: &str,
    ) -> Result<GpuGrid, AttributionError> {
        // A range is never empty, so both are positive.
        let len = range.len_nanos().unsigned_abs();
        let step = ((step_s * 1e9) as u64).max(1);
        let k = i64::try_from(len.div_ceil(step).max(1)).unwrap_or(i64::MAX);
        if k > MAX_INTERVALS {
            return Err(AttributionError::invalid(
                source,
                format!(
                    "{:.0} s of schedule at {step_s} s steps is {k} intervals, more than the \
                     {MAX_INTERVALS} allowed: use a longer --step-s",
                    len as f64 / 1e9
                ),
            ));
        }
        let step_ns = i64::try_from(len.div_ceil(k as u64)).unwrap_or(i64::MAX);
        let last = i128::from(range.start().as_nanos()) + i128::from(k) * i128::from(step_ns);
        if i64::try_from(last).is_err() {
            return Err(AttributionError::invalid(
                source,
                format!("a grid of {k} intervals of {step_ns} ns overflows i64 nanoseconds"),
            ));
        }
        Ok(GpuGrid {
            start: range.start(),
            step_ns,
            intervals: k as usize,
        })
    }

    /// The first point.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Interval length, nanoseconds (positive).
    pub fn step_ns(&self) -> i64 {
        self.step_ns
    }

    /// Number of intervals (at least one); the grid has one point more.
    pub fn intervals(&self) -> usize {
        self.intervals
    }

    /// Point `i`, `start + i · step`, for `i` in `0..=intervals()`.
    ///
    /// # Panics
    /// When `i > intervals()`.
    pub fn point(&self, i: usize) -> Timestamp {
        assert!(i <= self.intervals, "grid point {i} out of range");
        // Checked at construction: the last point fits in an i64.
        let ns = i128::from(self.start.as_nanos()) + i as i128 * i128::from(self.step_ns);
        Timestamp::from_nanos(ns as i64)
    }
}

/// The device's telemetry, aligned on demand on the grids the method chooses: the whole
/// recording's for the floor and the signatures, each phase's for its settlement. Kelvin's
/// facade implements it over its store (counter increases and integrated utilization); a
/// test implements it over closed forms.
pub trait GpuTelemetry {
    /// The source's error; the method's own errors convert into it.
    type Error: From<AttributionError>;

    /// The energy the device's counter measured in each interval of `grid`, joules; NaN
    /// where unmeasured. One value per interval.
    ///
    /// # Errors
    /// The source's.
    fn energy_j(&self, grid: &GpuGrid) -> Result<Vec<f64>, Self::Error>;

    /// Run `run`'s (an index into [`GpuInput::runs`]) SM and memory activity in each interval
    /// of `grid`: utilization (a ratio, 1 = the whole resource) integrated over the interval,
    /// in seconds, a sample held across gaps of up to `max_gap_s` seconds
    /// ([`GpuOptions::max_gap_s`]); NaN where unknown, `None` for a resource the device never
    /// reported for the run (both read as no activity). One value per interval.
    ///
    /// # Errors
    /// The source's.
    fn activity(
        &self,
        run: usize,
        grid: &GpuGrid,
        max_gap_s: f64,
    ) -> Result<[Option<Vec<f64>>; 2], Self::Error>;

    /// The device's mean SM clock in each interval of `grid`, hertz; NaN where unknown.
    /// `None` (the default) when the source has no clock. Asked for only under
    /// [`GpuKey::SmCycles`].
    ///
    /// # Errors
    /// The source's.
    fn sm_clock_hz(&self, grid: &GpuGrid) -> Result<Option<Vec<f64>>, Self::Error> {
        let _ = grid;
        Ok(None)
    }
}

/// What a workload's SM activity is counted in: the key its signature prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuKey {
    /// SM-active seconds: a signature is watts at full SM activity.
    #[default]
    SmTime,
    /// SM-active cycles (activity × the SM clock, in GHz·s): a signature is joules per
    /// giga-cycle of full SM activity. Under a power cap the clock moves with what else runs
    /// (an H100 alone with a compute kernel holds 1.3 GHz at its 700 W limit, and 1.9 GHz while
    /// it shares the GPU with a memory-bound one), and a compute-bound kernel's energy follows
    /// its cycles, not its seconds. Needs [`GpuTelemetry::sm_clock_hz`].
    SmCycles,
}

/// Options of [`attribute`](super::attribute).
#[derive(Clone)]
#[non_exhaustive]
pub struct GpuOptions {
    /// Grid step, seconds; default 0.5 (the process sampler's period).
    pub step_s: f64,
    /// The policy: a built-in [`Policy`] or any [`AttributionPolicy`]; default
    /// [`Policy::TwoPartTariff`]. Set it with [`GpuOptions::with_policy`].
    pub policy: Arc<dyn AttributionPolicy>,
    /// Confidence of the intervals; default 0.95.
    pub confidence: f64,
    /// Longest gap between a process's utilization samples that is still bridged (the value
    /// is held), seconds; default 3 (NVML reports a process sparsely while others share the
    /// GPU; see docs/attribution.md for 1.2 s and 6 s), handed to
    /// [`GpuTelemetry::activity`], which applies it.
    pub max_gap_s: f64,
    /// 1-σ accuracy of the device's power reading, watts; default 5 (NVIDIA documents ±5 W
    /// for the power readings of its data-center boards; see docs/attribution.md).
    pub meter_sigma_w: f64,
    /// Idle-floor calibration.
    pub idle: IdleOptions,
    /// Which intervals the workloads' signatures are fitted on; default [`GpuFit::Loaded`].
    pub fit: GpuFit,
    /// What SM activity is counted in; default [`GpuKey::SmTime`].
    pub key: GpuKey,
}

/// Which intervals of the recording the workloads' signatures (W per unit of activity) are
/// fitted on. The floor is always calibrated from the intervals where no run is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuFit {
    /// Every interval with activity, shared ones included: the signatures see the phases they
    /// then settle (in sample).
    #[default]
    Loaded,
    /// Only intervals where at most one run is alive: each workload's signature comes from
    /// its exclusive runs, and the shared phases are settled out of sample. A workload that
    /// never runs alone has no signature, which is an error.
    Exclusive,
}

impl Default for GpuOptions {
    fn default() -> Self {
        GpuOptions {
            step_s: 0.5,
            policy: Arc::new(Policy::TwoPartTariff),
            confidence: 0.95,
            max_gap_s: 3.0,
            meter_sigma_w: 5.0,
            idle: IdleOptions::default(),
            fit: GpuFit::Loaded,
            key: GpuKey::SmTime,
        }
    }
}

impl fmt::Debug for GpuOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuOptions")
            .field("step_s", &self.step_s)
            .field("policy", &self.policy.name())
            .field("confidence", &self.confidence)
            .field("max_gap_s", &self.max_gap_s)
            .field("meter_sigma_w", &self.meter_sigma_w)
            .field("idle", &self.idle)
            .field("fit", &self.fit)
            .field("key", &self.key)
            .finish()
    }
}

impl GpuOptions {
    /// Sets the policy: a built-in [`Policy`] or an embedder's [`AttributionPolicy`].
    pub fn with_policy(mut self, policy: impl AttributionPolicy + 'static) -> Self {
        self.policy = Arc::new(policy);
        self
    }
    /// Sets the grid step, seconds.
    pub fn with_step_s(mut self, step_s: f64) -> Self {
        self.step_s = step_s;
        self
    }
    /// Sets what SM activity is counted in.
    pub fn with_key(mut self, key: GpuKey) -> Self {
        self.key = key;
        self
    }
    /// Sets which intervals the signatures are fitted on.
    pub fn with_fit(mut self, fit: GpuFit) -> Self {
        self.fit = fit;
        self
    }
    /// Sets the longest bridged gap between utilization samples, seconds.
    pub fn with_max_gap_s(mut self, max_gap_s: f64) -> Self {
        self.max_gap_s = max_gap_s;
        self
    }

    /// The settlement options of every phase: the policy and confidence, the step as the
    /// alignment uncertainty, and the per-interval split kept (for facility apportioning).
    pub(crate) fn ledger(&self) -> LedgerOptions {
        let mut lo = LedgerOptions::default()
            .with_confidence(self.confidence)
            .with_alignment_s(self.step_s)
            .with_keep_intervals(true);
        lo.policy = Arc::clone(&self.policy);
        lo
    }
}
