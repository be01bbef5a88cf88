//! The ledger's data: what [`settle`] reads (a [`LedgerInput`] of meters and their consumers)
//! and what it writes (a [`Ledger`] of balance sheets, every amount with its interval).

use kelvin_model::{EntityId, TimeRange, Timestamp};
use serde::Serialize;

use crate::power::{Resource, SpecCurve};

#[cfg(doc)]
use super::settle;

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
    /// (utilization above 1 is priced at the curve's end), watts per unit of utilization.
    pub fn unit_price(&self, x: f64) -> f64 {
        self.unit_price_from(x, self.zero_w())
    }

    /// `f(0)`, which [`KeyCurve::unit_price_from`] takes (a meter's settlement computes it
    /// once, not in every interval).
    pub(super) fn zero_w(&self) -> f64 {
        match self {
            KeyCurve::Linear { .. } => 0.0,
            KeyCurve::Spec(c) => c.power_w(0.0),
        }
    }

    /// [`KeyCurve::unit_price`] with `f(0) = zero_w` given.
    #[inline]
    pub(super) fn unit_price_from(&self, x: f64, zero_w: f64) -> f64 {
        match self {
            KeyCurve::Linear { watts_at_full } => *watts_at_full,
            KeyCurve::Spec(c) => {
                if x <= 0.0 {
                    c.slope_w(0.0)
                } else {
                    (c.power_w(x.min(1.0)) - zero_w) / x
                }
            }
        }
    }
}

/// One resource a meter's consumers use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterResource {
    /// What is measured (for reports).
    pub resource: Resource,
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

    /// Σ workload lines.
    pub fn attributed_uj(&self) -> u128 {
        self.lines.iter().map(|l| l.energy.uj as u128).sum()
    }

    /// Σ named accounts (idle, system, unexplained): the energy billed to no workload.
    pub fn unattributed_uj(&self) -> u128 {
        self.accounts.iter().map(|a| a.uj as u128).sum()
    }

    /// Σ lines + Σ accounts, which equals `measured.uj` for every sheet [`settle`] makes.
    pub fn balance_uj(&self) -> u128 {
        self.attributed_uj() + self.unattributed_uj()
    }

    /// Whether `measured = Σ lines + Σ accounts` holds (it always does for a sheet made by
    /// [`settle`]; this is for callers that check).
    pub fn is_balanced(&self) -> bool {
        self.balance_uj() == u128::from(self.measured.uj)
    }
}

/// The settled window: one sheet per meter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    /// The window covered.
    pub window: TimeRange,
    /// The name of the policy used ([`AttributionPolicy::name`](super::AttributionPolicy::name)).
    pub policy: String,
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

    /// Σ measured over all meters.
    pub fn measured_uj(&self) -> u128 {
        self.meters.iter().map(|m| m.measured.uj as u128).sum()
    }

    /// Σ workload lines over all meters.
    pub fn attributed_uj(&self) -> u128 {
        self.meters.iter().map(MeterSheet::attributed_uj).sum()
    }

    /// Σ named accounts over all meters.
    pub fn unattributed_uj(&self) -> u128 {
        self.meters.iter().map(MeterSheet::unattributed_uj).sum()
    }

    /// Whether every sheet balances (so `measured = attributed + unattributed` over the window).
    pub fn is_balanced(&self) -> bool {
        self.meters.iter().all(MeterSheet::is_balanced)
    }

    /// The workload a line bills.
    ///
    /// # Panics
    /// If the line is not from this ledger (its index is out of range).
    pub fn workload_of(&self, line: &Line) -> &EntityId {
        &self.workloads[line.workload]
    }

    /// Every workload line with its meter, in sheet order.
    pub fn lines(&self) -> impl Iterator<Item = (&MeterSheet, &Line)> {
        self.meters
            .iter()
            .flat_map(|m| m.lines.iter().map(move |l| (m, l)))
    }
}
