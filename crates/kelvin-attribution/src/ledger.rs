//! The balance sheet: measured energy of every meter and interval split into workload lines
//! and named accounts, exactly, under a selectable [`Policy`].
//!
//! Per meter and interval, with `E` the measured energy and `F = min(E, idle_w · dt)` the idle
//! floor (calibrated elsewhere, see [`crate::power::calibrate_idle`]):
//!
//! `E = Σ workloads + idle + system + unexplained`, in integer microjoules, exactly.
//!
//! The dynamic part `E − F` is keyed either on raw usage (the first resource, e.g. CPU
//! seconds) or on a model key: for a meter whose power is a separable curve
//! `P(x) = Σ_r f_r(x_r)` of utilizations, the Aumann–Shapley value of consumer `c` is
//! `Σ_r u_cr · (f_r(X_r) − f_r(0)) / X_r` — exact for separable curves, proportional to usage
//! for linear ones — optionally scaled per consumer by a calibrated signature (a GPU workload
//! whose kernels draw more watts per SM-second than another's).

use std::collections::{HashMap, HashSet};

use kelvin_model::{EntityId, TimeRange, Timestamp};
use rayon::prelude::*;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::power::SpecCurve;
use crate::{AttributionError, largest_remainder_into};

/// How measured energy is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Policy {
    /// Kelvin's default, a two-part tariff. The idle floor is a fixed cost split by
    /// reservation share (the unreserved rest stays in the `idle` account); the dynamic part
    /// is split by the model key (Aumann–Shapley on the meter's curve). Conserving,
    /// non-negative, symmetric, null-player and split invariant.
    #[default]
    TwoPartTariff,
    /// Full absorption: the whole measured energy, idle floor included, is split by the model
    /// key; intervals without activity go to `idle`. Same properties as the tariff, but a
    /// workload's bill depends on how busy its neighbours are.
    FullAbsorption,
    /// Full absorption keyed on raw usage of the first resource (CPU seconds): Kelvin 0.1's
    /// policy, kept for the facade's CPU-share bill.
    CpuShare,
    /// Reproduces legacy Kepler (≤ 0.7): dynamic energy by raw usage ratio, idle energy split
    /// equally among the processes present in the interval, busy or not. Violates the null
    /// player property and split invariance (a workload run as k processes pays k idle shares).
    KeplerLike,
    /// Reproduces Scaphandre ≥ 1.0 (and Kepler ≥ 0.10): dynamic energy by raw usage share of
    /// all activity; idle energy is attributed to nobody (`idle` account).
    ScaphandreLike,
}

impl Policy {
    /// Every policy, in declaration order.
    pub const ALL: [Policy; 5] = [
        Policy::TwoPartTariff,
        Policy::FullAbsorption,
        Policy::CpuShare,
        Policy::KeplerLike,
        Policy::ScaphandreLike,
    ];

    /// The name used in reports and CSV (`two_part_tariff`, `kepler_like`, …).
    pub fn name(self) -> &'static str {
        match self {
            Policy::TwoPartTariff => "two_part_tariff",
            Policy::FullAbsorption => "full_absorption",
            Policy::CpuShare => "cpu_share",
            Policy::KeplerLike => "kepler_like",
            Policy::ScaphandreLike => "scaphandre_like",
        }
    }

    fn raw_key(self) -> bool {
        matches!(
            self,
            Policy::CpuShare | Policy::KeplerLike | Policy::ScaphandreLike
        )
    }
}

/// A named account of the balance sheet (energy that is not a workload's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// The idle floor nobody reserved (or, under full absorption, intervals with no activity).
    Idle,
    /// Dynamic energy caused by activity outside any workload (the host's own processes).
    System,
    /// Dynamic energy above the floor in intervals where nothing is known to be active.
    Unexplained,
}

impl Account {
    /// Every account, in sheet order.
    pub const ALL: [Account; 3] = [Account::Idle, Account::System, Account::Unexplained];

    /// `idle`, `system`, `unexplained`.
    pub fn name(self) -> &'static str {
        match self {
            Account::Idle => "idle",
            Account::System => "system",
            Account::Unexplained => "unexplained",
        }
    }
}

/// How a resource's utilization drives a meter's power, for the model key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum KeyCurve {
    /// Linear: watts added at full utilization.
    Linear {
        /// Watts at utilization 1 above utilization 0.
        watts_at_full: f64,
    },
    /// A SPECpower-style piecewise-linear curve of utilization.
    Spec(SpecCurve),
}

impl KeyCurve {
    /// `(f(x) − f(0)) / x`: the Aumann–Shapley price of one unit of utilization at total `x`
    /// (utilization above 1 is priced at the curve's end).
    fn unit_price(&self, x: f64) -> f64 {
        match self {
            KeyCurve::Linear { watts_at_full } => *watts_at_full,
            KeyCurve::Spec(c) => {
                if x <= 0.0 {
                    c.slope_w(0.0)
                } else {
                    (c.power_w(x.min(1.0)) - c.power_w(0.0)) / x
                }
            }
        }
    }
}

/// One resource a meter's consumers use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterResource {
    /// What is measured (for reports).
    pub resource: crate::power::Resource,
    /// Usage units per second at full utilization (cores for CPU seconds, 100 for a
    /// percentage integrated over seconds).
    pub capacity: f64,
    /// How utilization drives power (for model keys).
    pub curve: KeyCurve,
}

/// One consumer of a meter: a process or container of a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Index into [`LedgerInput::workloads`]. Several consumers may belong to one workload.
    pub workload: usize,
    /// Share of the meter reserved for this consumer, `[0, 1]` (requested ÷ allocatable);
    /// the reserved part of the idle floor is billed to it under the two-part tariff.
    pub reservation: f64,
    /// Usage per resource (outer, same order as [`MeterInput::resources`]) and interval
    /// (inner), in resource units × seconds; NaN where unknown (counted, treated as 0), and
    /// `NaN` in every resource marks the consumer absent from the interval.
    pub usage: Vec<Vec<f64>>,
    /// Calibrated multipliers of the meter's curves for this consumer, one per resource
    /// (`None` = 1): its energy per unit of use relative to the meter's average.
    pub signature: Option<Vec<f64>>,
}

/// One meter's data on the window's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterInput {
    /// The metered entity (a host, a GPU, a PDU outlet).
    pub meter: EntityId,
    /// Measured energy per interval, joules; NaN = unmeasured.
    pub energy_j: Vec<f64>,
    /// 1-σ measurement error per interval, joules (from the meter lattice); `None` uses
    /// `rel_sigma · energy`.
    pub sigma_j: Option<Vec<f64>>,
    /// Relative 1-σ accuracy of the meter when `sigma_j` is absent.
    pub rel_sigma: f64,
    /// The calibrated idle floor per interval, watts.
    pub idle_w: Vec<f64>,
    /// 1-σ uncertainty of the idle floor, watts.
    pub idle_sigma_w: f64,
    /// Resources the consumers' usage is given in (at least one).
    pub resources: Vec<MeterResource>,
    /// The consumers.
    pub consumers: Vec<Consumer>,
    /// Usage of activity that belongs to no workload (per resource, per interval), billed to
    /// the `system` account.
    pub system: Option<Vec<Vec<f64>>>,
    /// Relative 1-σ error of the dynamic key (model residual ÷ mean dynamic power).
    pub key_rel_sigma: f64,
}

/// A window of meters on one grid: intervals `[start + k·interval, start + (k+1)·interval)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerInput {
    /// Start of the first interval.
    pub start: Timestamp,
    /// Interval length, nanoseconds (> 0).
    pub interval_ns: i64,
    /// The workloads consumers point into.
    pub workloads: Vec<EntityId>,
    /// The meters.
    pub meters: Vec<MeterInput>,
}

/// Options of [`settle`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LedgerOptions {
    /// The policy; default [`Policy::TwoPartTariff`].
    pub policy: Policy,
    /// Two-sided confidence of the reported intervals, `(0, 1)`; default 0.95.
    pub confidence: f64,
    /// Timing uncertainty between usage samples and meter samples, seconds (default 0): a
    /// fraction `alignment_s / interval` of each interval's energy may belong to the
    /// neighbouring interval's split.
    pub alignment_s: f64,
    /// Keep each interval's split (intervals × (workloads + accounts)) in
    /// [`MeterSheet::per_interval`]; default false (it is large).
    pub keep_intervals: bool,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            policy: Policy::TwoPartTariff,
            confidence: 0.95,
            alignment_s: 0.0,
            keep_intervals: false,
        }
    }
}

impl LedgerOptions {
    /// Sets the policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// Sets the confidence of the intervals.
    pub fn with_confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }
    /// Sets the alignment uncertainty, seconds.
    pub fn with_alignment_s(mut self, alignment_s: f64) -> Self {
        self.alignment_s = alignment_s;
        self
    }
    /// Keeps the per-interval split.
    pub fn with_keep_intervals(mut self, keep: bool) -> Self {
        self.keep_intervals = keep;
        self
    }
}

/// An amount with its confidence interval, microjoules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Amount {
    /// The attributed energy (exact part of the balance).
    pub uj: u64,
    /// Lower end of the interval (≥ 0).
    pub lo_uj: u64,
    /// Upper end of the interval.
    pub hi_uj: u64,
}

/// One workload's line on a meter's sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Index into [`Ledger::workloads`].
    pub workload: usize,
    /// Total with its interval.
    pub energy: Amount,
    /// The part from the idle floor (reservation).
    pub static_uj: u64,
    /// The part from activity.
    pub dynamic_uj: u64,
}

/// One meter's balance sheet over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterSheet {
    /// The meter.
    pub meter: EntityId,
    /// Measured energy with its interval.
    pub measured: Amount,
    /// The idle floor over measured intervals (before any split).
    pub floor_uj: u64,
    /// Workload lines, in order of first appearance among the meter's consumers.
    pub lines: Vec<Line>,
    /// Named accounts, in [`Account::ALL`] order.
    pub accounts: [Amount; 3],
    /// Intervals in the window.
    pub intervals: usize,
    /// Intervals without a measurement.
    pub unmeasured_intervals: usize,
    /// (consumer, resource, interval) cells whose usage was unknown.
    pub usage_gaps: usize,
    /// Per-interval split when asked for: row `k` holds the µJ of each line, then each account.
    #[serde(skip)]
    pub per_interval: Option<ndarray::Array2<u64>>,
}

impl MeterSheet {
    /// The amount of an account.
    pub fn account(&self, a: Account) -> Amount {
        self.accounts[a as usize]
    }

    /// Σ lines + Σ accounts, which equals `measured.uj` for every sheet [`settle`] makes.
    pub fn balance_uj(&self) -> u128 {
        self.lines.iter().map(|l| l.energy.uj as u128).sum::<u128>()
            + self.accounts.iter().map(|a| a.uj as u128).sum::<u128>()
    }
}

/// The settled window: one sheet per meter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    /// The window covered.
    pub window: TimeRange,
    /// The policy used.
    pub policy: Policy,
    /// Confidence of every interval.
    pub confidence: f64,
    /// The workloads lines point into.
    pub workloads: Vec<EntityId>,
    /// Sheets, in input order.
    pub meters: Vec<MeterSheet>,
}

impl Ledger {
    /// Each workload's total over all meters, in [`Ledger::workloads`] order.
    pub fn workload_totals_uj(&self) -> Vec<u128> {
        let mut t = vec![0u128; self.workloads.len()];
        for m in &self.meters {
            for l in &m.lines {
                t[l.workload] += l.energy.uj as u128;
            }
        }
        t
    }

    /// An account's total over all meters.
    pub fn account_total_uj(&self, a: Account) -> u128 {
        self.meters.iter().map(|m| m.account(a).uj as u128).sum()
    }

    /// Σ measured.
    pub fn measured_uj(&self) -> u128 {
        self.meters.iter().map(|m| m.measured.uj as u128).sum()
    }
}

fn to_uj(j: f64) -> u64 {
    (j * 1e6).round() as u64
}

/// Settles a window: every meter's measured energy is split into workload lines and named
/// accounts under `opts.policy`, exactly in microjoules, with confidence intervals.
///
/// Meters are settled in parallel (rayon); the result does not depend on the thread count.
///
/// ```
/// use kelvin_attribution::ledger::{Consumer, KeyCurve, LedgerInput, LedgerOptions, MeterInput,
///     MeterResource, Account, settle};
/// use kelvin_attribution::power::Resource;
/// use kelvin_model::{EntityId, Timestamp};
///
/// // One 10 s interval: 1.5 kJ measured on a 16-core host with a 100 W floor.
/// let host = MeterInput {
///     meter: EntityId::new("h1")?,
///     energy_j: vec![1_500.0],
///     sigma_j: None,
///     rel_sigma: 0.02,
///     idle_w: vec![100.0],
///     idle_sigma_w: 2.0,
///     resources: vec![MeterResource { resource: Resource::Cpu, capacity: 16.0,
///                                     curve: KeyCurve::Linear { watts_at_full: 200.0 } }],
///     consumers: vec![
///         // w1 reserved a quarter of the host and used 40 CPU-seconds, w2 reserved nothing.
///         Consumer { workload: 0, reservation: 0.25, usage: vec![vec![40.0]], signature: None },
///         Consumer { workload: 1, reservation: 0.0, usage: vec![vec![10.0]], signature: None },
///     ],
///     system: None,
///     key_rel_sigma: 0.05,
/// };
/// let input = LedgerInput {
///     start: Timestamp::from_secs(0),
///     interval_ns: 10_000_000_000,
///     workloads: vec![EntityId::new("w1")?, EntityId::new("w2")?],
///     meters: vec![host],
/// };
/// let ledger = settle(&input, &LedgerOptions::default())?;
/// let sheet = &ledger.meters[0];
/// // Floor 1 kJ: 250 J reserved by w1, 750 J unreserved; 500 J dynamic split 4:1.
/// assert_eq!(sheet.lines[0].energy.uj, 250_000_000 + 400_000_000);
/// assert_eq!(sheet.lines[1].energy.uj, 100_000_000);
/// assert_eq!(sheet.account(Account::Idle).uj, 750_000_000);
/// assert_eq!(sheet.balance_uj(), 1_500_000_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] naming the meter, consumer and interval for a
/// non-positive interval, ragged series, negative or infinite energy, usage, floor or
/// reservation, a consumer pointing outside `workloads`, a meter listed twice, or a
/// confidence outside `(0, 1)`; [`crate::AttributionErrorKind::Overflow`] when a total exceeds
/// `u64` microjoules.
pub fn settle(input: &LedgerInput, opts: &LedgerOptions) -> Result<Ledger, AttributionError> {
    if input.interval_ns <= 0 {
        return Err(AttributionError::invalid(
            "input",
            format!("interval_ns must be positive, got {}", input.interval_ns),
        ));
    }
    if !(opts.confidence > 0.0 && opts.confidence < 1.0) {
        return Err(AttributionError::invalid(
            "options",
            format!("confidence must be in (0, 1), got {}", opts.confidence),
        ));
    }
    if !(opts.alignment_s.is_finite() && opts.alignment_s >= 0.0) {
        return Err(AttributionError::invalid(
            "options",
            format!(
                "alignment_s must be finite and ≥ 0, got {}",
                opts.alignment_s
            ),
        ));
    }
    let n = input.meters.first().map_or(0, |m| m.energy_j.len());
    let end = input
        .start
        .as_nanos()
        .checked_add(input.interval_ns.saturating_mul(n as i64))
        .ok_or_else(|| AttributionError::invalid("input", "window end overflows"))?;
    let window = TimeRange::try_new(input.start, Timestamp::from_nanos(end))
        .map_err(|e| AttributionError::invalid("input", e.reason()))?;
    let mut seen = HashSet::new();
    for m in &input.meters {
        if !seen.insert(&m.meter) {
            return Err(AttributionError::invalid(
                format!("meter {}", m.meter),
                "meter listed twice",
            ));
        }
        validate(m, n, input.workloads.len())?;
    }
    // Two-sided normal quantile for the intervals.
    let z = Normal::new(0.0, 1.0)
        .map_err(|e| AttributionError::invalid("options", e.to_string()))?
        .inverse_cdf(0.5 + opts.confidence / 2.0);
    let dt = input.interval_ns as f64 / 1e9;
    let meters = input
        .meters
        .par_iter()
        .map(|m| settle_meter(m, n, dt, z, opts))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ledger {
        window,
        policy: opts.policy,
        confidence: opts.confidence,
        workloads: input.workloads.clone(),
        meters,
    })
}

fn validate(m: &MeterInput, n: usize, workloads: usize) -> Result<(), AttributionError> {
    let place = format!("meter {}", m.meter);
    let len_err = |what: &str, got: usize| {
        AttributionError::invalid(&place, format!("{got} {what} intervals, expected {n}"))
    };
    if m.energy_j.len() != n {
        return Err(len_err("energy", m.energy_j.len()));
    }
    if m.idle_w.len() != n {
        return Err(len_err("idle floor", m.idle_w.len()));
    }
    if let Some(s) = &m.sigma_j {
        if s.len() != n {
            return Err(len_err("sigma", s.len()));
        }
        if let Some(i) = s.iter().position(|x| x.is_infinite() || *x < 0.0) {
            return Err(AttributionError::invalid(
                format!("{place}, interval {i}"),
                format!("sigma {} J is negative or infinite", s[i]),
            ));
        }
    }
    for (i, e) in m.energy_j.iter().enumerate() {
        if e.is_infinite() || *e < 0.0 || *e > 1e12 {
            return Err(AttributionError::invalid(
                format!("{place}, interval {i}"),
                format!("energy {e} J is not a plausible measurement"),
            ));
        }
        let f = m.idle_w[i];
        if !(f.is_finite() && f >= 0.0) {
            return Err(AttributionError::invalid(
                format!("{place}, interval {i}"),
                format!("idle floor {f} W is negative or not finite"),
            ));
        }
    }
    for (what, v) in [
        ("rel_sigma", m.rel_sigma),
        ("idle_sigma_w", m.idle_sigma_w),
        ("key_rel_sigma", m.key_rel_sigma),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(AttributionError::invalid(
                &place,
                format!("{what} {v} is negative or not finite"),
            ));
        }
    }
    if m.resources.is_empty() {
        return Err(AttributionError::invalid(&place, "no resources"));
    }
    for (r, res) in m.resources.iter().enumerate() {
        if !(res.capacity.is_finite() && res.capacity > 0.0) {
            return Err(AttributionError::invalid(
                format!("{place}, resource {r}"),
                format!("capacity {} must be positive", res.capacity),
            ));
        }
        if let KeyCurve::Linear { watts_at_full } = res.curve
            && !(watts_at_full.is_finite() && watts_at_full >= 0.0)
        {
            return Err(AttributionError::invalid(
                format!("{place}, resource {r}"),
                format!("watts_at_full {watts_at_full} must be finite and ≥ 0"),
            ));
        }
    }
    let check_usage = |who: &str, usage: &[Vec<f64>]| -> Result<(), AttributionError> {
        if usage.len() != m.resources.len() {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                format!(
                    "usage for {} resources, the meter has {}",
                    usage.len(),
                    m.resources.len()
                ),
            ));
        }
        for u in usage {
            if u.len() != n {
                return Err(AttributionError::invalid(
                    format!("{place}, {who}"),
                    format!("{} usage intervals, expected {n}", u.len()),
                ));
            }
            if let Some(i) = u.iter().position(|x| x.is_infinite() || *x < 0.0) {
                return Err(AttributionError::invalid(
                    format!("{place}, {who}, interval {i}"),
                    format!("usage {} is negative or infinite", u[i]),
                ));
            }
        }
        Ok(())
    };
    for (k, c) in m.consumers.iter().enumerate() {
        let who = format!("consumer {k}");
        if c.workload >= workloads {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                format!("workload index {} out of {workloads}", c.workload),
            ));
        }
        if !(c.reservation.is_finite() && (0.0..=1.0).contains(&c.reservation)) {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                format!("reservation {} is outside [0, 1]", c.reservation),
            ));
        }
        check_usage(&who, &c.usage)?;
        if let Some(s) = &c.signature
            && (s.len() != m.resources.len() || s.iter().any(|x| !(x.is_finite() && *x >= 0.0)))
        {
            return Err(AttributionError::invalid(
                format!("{place}, {who}"),
                "signature needs one finite, non-negative multiplier per resource",
            ));
        }
    }
    if let Some(s) = &m.system {
        check_usage("system", s)?;
    }
    Ok(())
}

/// Per-line accumulators.
#[derive(Default, Clone)]
struct Acc {
    static_uj: u64,
    dynamic_uj: u64,
    /// Systematic meter error, joules (correlated across intervals: added linearly).
    meas_j: f64,
    /// Systematic floor error, joules (linear).
    floor_j: f64,
    /// Independent errors (model key, alignment), joules² (quadrature).
    var_j2: f64,
    /// Last interval's energy, joules (for the alignment term).
    last_j: f64,
}

impl Acc {
    fn amount(&self, z: f64, uj: u64) -> Amount {
        let sigma = (self.meas_j.powi(2) + self.floor_j.powi(2) + self.var_j2).sqrt();
        let half = z * sigma * 1e6;
        Amount {
            uj,
            lo_uj: (uj as f64 - half).max(0.0).round() as u64,
            hi_uj: (uj as f64 + half).round() as u64,
        }
    }
}

fn settle_meter(
    m: &MeterInput,
    n: usize,
    dt: f64,
    z: f64,
    opts: &LedgerOptions,
) -> Result<MeterSheet, AttributionError> {
    let place = || format!("meter {}", m.meter);
    let policy = opts.policy;
    // Lines: one per distinct workload, in order of first appearance.
    // (A map, not a scan of the lines so far: a host may run tens of thousands of workloads.)
    let mut line_of = Vec::with_capacity(m.consumers.len());
    let mut lines: Vec<usize> = Vec::new();
    let mut line_at: HashMap<usize, usize> = HashMap::with_capacity(m.consumers.len());
    for c in &m.consumers {
        let at = *line_at.entry(c.workload).or_insert_with(|| {
            lines.push(c.workload);
            lines.len() - 1
        });
        line_of.push(at);
    }
    let nl = lines.len();
    let na = Account::ALL.len();
    let nc = m.consumers.len();
    let nr = m.resources.len();
    let mut acc = vec![Acc::default(); nl + na];
    let mut per_interval = opts
        .keep_intervals
        .then(|| ndarray::Array2::<u64>::zeros((n, nl + na)));

    // Scratch, reused every interval.
    let mut dyn_w = vec![0.0; nc + 1]; // consumers, then system
    let mut stat_w = vec![0.0; nc + 1]; // consumers, then the idle account
    let mut dyn_part = vec![0u64; nc + 1];
    let mut stat_part = vec![0u64; nc + 1];
    let mut line_dyn = vec![0u64; nl + na];
    let mut line_stat = vec![0u64; nl + na];
    let mut scratch = crate::SplitScratch::default();
    let mut util = vec![0.0; nr];
    let mut price = vec![0.0; nr];
    let reserved: f64 = m.consumers.iter().map(|c| c.reservation).sum();
    let mut measured: u64 = 0;
    let mut floor_total: u64 = 0;
    let mut meas_sigma_j = 0.0;
    let mut unmeasured = 0;
    let mut gaps = 0usize;
    let idle = nl + Account::Idle as usize;
    let system = nl + Account::System as usize;
    let unexplained = nl + Account::Unexplained as usize;

    let absorb = matches!(policy, Policy::FullAbsorption | Policy::CpuShare);
    let raw = policy.raw_key();
    // Usage columns and signatures, resource-major: `cols[r * nc + k]` is consumer k's use
    // of resource r.
    let cols: Vec<&[f64]> = (0..nr)
        .flat_map(|r| m.consumers.iter().map(move |c| c.usage[r].as_slice()))
        .collect();
    let sigs: Vec<f64> = (0..nr)
        .flat_map(|r| {
            m.consumers
                .iter()
                .map(move |c| c.signature.as_ref().map_or(1.0, |s| s[r]))
        })
        .collect();
    // The two-part tariff's static weights never change: memoize the last split.
    let mut last_static: Option<u64> = None;
    let key_var = m.key_rel_sigma * m.key_rel_sigma;
    // Uniform misalignment of up to `alignment_s`: variance (a·Δ)²/3 per interval.
    let align = (opts.alignment_s / dt).min(1.0);
    let align_var = align * align / 3.0;
    for i in 0..n {
        let e = m.energy_j[i];
        if e.is_nan() {
            unmeasured += 1;
            continue;
        }
        let e_uj = to_uj(e);
        measured = measured
            .checked_add(e_uj)
            .ok_or_else(|| AttributionError::overflow(place()))?;
        let sigma_e = match &m.sigma_j {
            Some(s) if !s[i].is_nan() => s[i],
            _ => m.rel_sigma * e,
        };
        meas_sigma_j += sigma_e;
        let f_uj = to_uj(m.idle_w[i] * dt).min(e_uj);
        floor_total += f_uj;
        let d_uj = e_uj - f_uj;

        // Utilization of each resource (for the curve prices) and gaps.
        for r in 0..nr {
            let mut x = 0.0;
            for col in cols[r * nc..(r + 1) * nc].iter() {
                let u = col[i];
                if u.is_nan() {
                    gaps += 1;
                } else {
                    x += u;
                }
            }
            if let Some(s) = &m.system {
                let u = s[r][i];
                if !u.is_nan() {
                    x += u;
                }
            }
            let cap = m.resources[r].capacity * dt;
            util[r] = x / cap;
            price[r] = m.resources[r].curve.unit_price(util[r]) / cap;
        }
        // Dynamic weights: raw usage of the first resource, or the priced model key.
        if raw {
            for (w, col) in dyn_w.iter_mut().zip(&cols[..nc]) {
                let u = col[i];
                *w = if u.is_nan() { 0.0 } else { u };
            }
        } else {
            dyn_w[..nc].iter_mut().for_each(|w| *w = 0.0);
            for r in 0..nr {
                let p = price[r];
                let col_r = &cols[r * nc..(r + 1) * nc];
                let sig_r = &sigs[r * nc..(r + 1) * nc];
                for k in 0..nc {
                    let u = col_r[k][i];
                    if !u.is_nan() {
                        dyn_w[k] += u * p * sig_r[k];
                    }
                }
            }
        }
        dyn_w[nc] = match &m.system {
            None => 0.0,
            Some(s) if raw => {
                let u = s[0][i];
                if u.is_nan() { 0.0 } else { u }
            }
            Some(s) => (0..nr)
                .map(|r| {
                    let u = s[r][i];
                    if u.is_nan() { 0.0 } else { u * price[r] }
                })
                .sum(),
        };

        line_dyn.iter_mut().for_each(|x| *x = 0);
        line_stat.iter_mut().for_each(|x| *x = 0);
        // What the dynamic split covers and where the static part goes.
        let (dyn_total, stat_total) = match policy {
            Policy::FullAbsorption | Policy::CpuShare => (e_uj, 0),
            _ => (d_uj, f_uj),
        };
        if largest_remainder_into(dyn_total, &dyn_w, &mut dyn_part, &mut scratch) {
            for k in 0..nc {
                line_dyn[line_of[k]] += dyn_part[k];
            }
            line_dyn[system] += dyn_part[nc];
        } else if matches!(policy, Policy::FullAbsorption | Policy::CpuShare) {
            line_dyn[idle] += dyn_total;
        } else {
            line_dyn[unexplained] += dyn_total;
        }
        // The static part.
        match policy {
            Policy::TwoPartTariff if reserved > 0.0 => {
                let ok = if last_static == Some(stat_total) {
                    true
                } else {
                    for (k, c) in m.consumers.iter().enumerate() {
                        stat_w[k] = c.reservation;
                    }
                    stat_w[nc] = (1.0 - reserved).max(0.0);
                    let ok =
                        largest_remainder_into(stat_total, &stat_w, &mut stat_part, &mut scratch);
                    last_static = ok.then_some(stat_total);
                    ok
                };
                if ok {
                    for k in 0..nc {
                        line_stat[line_of[k]] += stat_part[k];
                    }
                    line_stat[idle] += stat_part[nc];
                } else {
                    line_stat[idle] += stat_total;
                }
            }
            Policy::KeplerLike => {
                // Equal shares per process present (any known usage), busy or not.
                for (k, c) in m.consumers.iter().enumerate() {
                    stat_w[k] = if c.usage.iter().any(|u| !u[i].is_nan()) {
                        1.0
                    } else {
                        0.0
                    };
                }
                stat_w[nc] = 0.0;
                if largest_remainder_into(stat_total, &stat_w, &mut stat_part, &mut scratch) {
                    for k in 0..nc {
                        line_stat[line_of[k]] += stat_part[k];
                    }
                } else {
                    line_stat[idle] += stat_total;
                }
            }
            _ => line_stat[idle] += stat_total,
        }

        // Accumulate, with the uncertainty terms (per-interval factors hoisted; lines with
        // nothing now and nothing before add nothing and are skipped).
        let e_j = e_uj as f64 * 1e-6;
        let f_j = f_uj as f64 * 1e-6;
        let d_j = d_uj as f64 * 1e-6;
        let meas_per_j = if e_j > 0.0 { sigma_e / e_j } else { 0.0 };
        let sigma_floor_j = if absorb {
            0.0
        } else {
            (m.idle_sigma_w * dt).min(e_j)
        };
        // A higher floor moves energy from dynamic lines to static ones.
        let floor_stat = if f_j > 0.0 { sigma_floor_j / f_j } else { 0.0 };
        let floor_dyn = if d_j > 0.0 { sigma_floor_j / d_j } else { 0.0 };
        let keyed = dyn_w.iter().any(|w| *w > 0.0);
        let inv_dyn_total = 1.0 / dyn_total.max(1) as f64;
        for (l, a) in acc.iter_mut().enumerate() {
            let s = line_stat[l];
            let d = line_dyn[l];
            let tot = s + d;
            if tot == 0 && a.last_j == 0.0 {
                continue;
            }
            a.static_uj += s;
            a.dynamic_uj += d;
            if let Some(p) = per_interval.as_mut() {
                p[[i, l]] = tot;
            }
            let tot_j = tot as f64 * 1e-6;
            let d_line_j = d as f64 * 1e-6;
            // The meter's error scales every line with its share.
            a.meas_j += meas_per_j * tot_j;
            a.floor_j += floor_stat * (s as f64 * 1e-6) - floor_dyn * d_line_j;
            // Key error: independent per interval, zero when a line holds all of it.
            if keyed && d > 0 {
                let share = d as f64 * inv_dyn_total;
                a.var_j2 += key_var * d_line_j * d_line_j * (1.0 - share).max(0.0);
            }
            if align_var > 0.0 {
                let x = tot_j - a.last_j;
                a.var_j2 += align_var * x * x;
            }
            a.last_j = tot_j;
        }
    }
    let lines_out = lines
        .iter()
        .enumerate()
        .map(|(l, &w)| {
            let a = &acc[l];
            let uj = a
                .static_uj
                .checked_add(a.dynamic_uj)
                .ok_or_else(|| AttributionError::overflow(place()))?;
            Ok(Line {
                workload: w,
                energy: a.amount(z, uj),
                static_uj: a.static_uj,
                dynamic_uj: a.dynamic_uj,
            })
        })
        .collect::<Result<Vec<_>, AttributionError>>()?;
    let mut accounts = [Amount::default(); 3];
    for (k, slot) in accounts.iter_mut().enumerate() {
        let a = &acc[nl + k];
        *slot = a.amount(z, a.static_uj + a.dynamic_uj);
    }
    let half = z * meas_sigma_j * 1e6;
    Ok(MeterSheet {
        meter: m.meter.clone(),
        measured: Amount {
            uj: measured,
            lo_uj: (measured as f64 - half).max(0.0).round() as u64,
            hi_uj: (measured as f64 + half).round() as u64,
        },
        floor_uj: floor_total,
        lines: lines_out,
        accounts,
        intervals: n,
        unmeasured_intervals: unmeasured,
        usage_gaps: gaps,
        per_interval,
    })
}
