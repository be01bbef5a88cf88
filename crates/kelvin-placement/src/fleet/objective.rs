//! What a placement costs, and how costs compare.

use std::cmp::Ordering;

use super::Check;
use super::state::Delta;

/// One goal of the objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Goal {
    /// Facility power: IT plus cooling, watts.
    Energy,
    /// Carbon: facility power × the rack's grid intensity, gCO2e per hour.
    Carbon,
    /// Stranded capacity: Σ over powered hosts of (largest − smallest free fraction across
    /// dimensions), in host equivalents: room left in one dimension that another dimension's
    /// exhaustion makes unusable.
    Stranded,
    /// Thermal headroom lost: the largest recirculated inlet rise, °C.
    Thermal,
    /// Migrations: Σ migration cost of the workloads moved off their current host.
    Migrations,
}

/// Weights of a [`Objective::Weighted`] objective, per unit of each goal.
///
/// The defaults price everything in watts: 1 per facility watt, 0 per gCO2e/h (set it to
/// trade energy for carbon between sites), 10 W per host of stranded capacity, 0 per °C of
/// recirculation (cooling power already prices it) and 25 W per unit of migration cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Per facility watt.
    pub energy: f64,
    /// Per gCO2e per hour.
    pub carbon: f64,
    /// Per host of stranded capacity.
    pub stranded: f64,
    /// Per °C of the largest recirculated rise.
    pub thermal: f64,
    /// Per unit of migration cost.
    pub migrations: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            energy: 1.0,
            carbon: 0.0,
            stranded: 10.0,
            thermal: 0.0,
            migrations: 25.0,
        }
    }
}

/// How goals combine. Placing workloads always comes first: fewer unplaced (weighted by
/// priority) beats any saving.
#[derive(Debug, Clone, PartialEq)]
pub enum Objective {
    /// Minimise `Σ weight × goal`.
    Weighted(Weights),
    /// Minimise the goals in this order; a later goal only breaks ties (within a relative
    /// 1e-9) of the earlier ones.
    Lexicographic(Vec<Goal>),
}

impl Default for Objective {
    fn default() -> Self {
        Objective::Weighted(Weights::default())
    }
}

/// The comparable key of an objective: up to six numbers compared in order.
pub(crate) type Key = [f64; 6];

fn goal_of_eval(e: &Evaluation, g: Goal) -> f64 {
    match g {
        Goal::Energy => e.facility_w(),
        Goal::Carbon => e.carbon_g_per_h,
        Goal::Stranded => e.stranded,
        Goal::Thermal => e.max_recirculation_c,
        Goal::Migrations => e.migrations,
    }
}

fn goal_of_delta(d: &Delta, g: Goal) -> f64 {
    match g {
        Goal::Energy => d.it_w + d.cooling_w,
        Goal::Carbon => d.carbon_g_per_h,
        Goal::Stranded => d.stranded,
        Goal::Thermal => d.recirculation_c,
        Goal::Migrations => d.migration,
    }
}

impl Objective {
    fn combine(&self, lead: f64, goal: impl Fn(Goal) -> f64) -> Key {
        let mut k = [0.0; 6];
        k[0] = lead;
        match self {
            Objective::Weighted(w) => {
                k[1] = w.energy * goal(Goal::Energy)
                    + w.carbon * goal(Goal::Carbon)
                    + w.stranded * goal(Goal::Stranded)
                    + w.thermal * goal(Goal::Thermal)
                    + w.migrations * goal(Goal::Migrations);
            }
            Objective::Lexicographic(goals) => {
                for (i, g) in goals.iter().take(5).enumerate() {
                    k[i + 1] = goal(*g);
                }
            }
        }
        k
    }

    pub(crate) fn key(&self, e: &Evaluation) -> Key {
        self.combine(e.unplaced_priority, |g| goal_of_eval(e, g))
    }

    pub(crate) fn delta_key(&self, d: &Delta) -> Key {
        self.combine(0.0, |g| goal_of_delta(d, g))
    }

    /// The single number a weighted objective gives (the first goal of a lexicographic one).
    pub(crate) fn scalar(&self, d: &Delta) -> f64 {
        self.delta_key(d)[1]
    }
}

/// Compares keys in order, treating numbers within a relative 1e-9 as equal.
pub(crate) fn cmp_keys(a: &Key, b: &Key) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let tol = 1e-9 * x.abs().max(y.abs()).max(1.0);
        if (x - y).abs() > tol {
            return x.total_cmp(y);
        }
    }
    Ordering::Equal
}

/// A hard constraint broken by a placement, found by [`evaluate`](super::evaluate).
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The constraint.
    pub check: Check,
    /// The host (capacity, pinning, rule at host scope), rack (redline, rule at rack scope) or
    /// domain (power cap) index concerned.
    pub at: usize,
    /// By how much, in the constraint's unit (resource units, W, °C, workloads).
    pub excess: f64,
    /// A sentence naming the entities.
    pub message: String,
}

/// What a placement costs and breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Workloads without a host.
    pub unplaced: usize,
    /// Σ (1 + max(priority, 0)) over unplaced workloads, plus ½ for each that runs now (an
    /// eviction).
    pub unplaced_priority: f64,
    /// IT power, watts (mean predicted).
    pub it_w: f64,
    /// Cooling power, watts: IT / CoP(supply).
    pub cooling_w: f64,
    /// Carbon, gCO2e per hour.
    pub carbon_g_per_h: f64,
    /// Stranded capacity, host equivalents ([`Goal::Stranded`]).
    pub stranded: f64,
    /// Largest recirculated inlet rise, °C.
    pub max_recirculation_c: f64,
    /// Σ migration cost of moved workloads (unplaced running ones count as moved).
    pub migrations: f64,
    /// Number of workloads moved off their current host.
    pub moved: usize,
    /// Supply temperature the cooling plant can run at, °C.
    pub supply_c: f64,
    /// Hosts running at least one workload.
    pub hosts_awake: usize,
    /// Hard constraints broken (empty for every placement Kelvin returns).
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// IT plus cooling, watts.
    pub fn facility_w(&self) -> f64 {
        self.it_w + self.cooling_w
    }
}
