//! Placement that respects power and heat: a data-center model, a filter/score path for one
//! workload at a time, a batch optimizer with large-neighbourhood search, and lower bounds.
//!
//! A [`Problem`] holds hosts with multi-dimensional capacity and SPECpower-style
//! [`PowerCurve`]s, racks with redlines and a heat-recirculation matrix, power-capped
//! [`PowerDomain`]s (caps on a high percentile of predicted power), a [`Cooling`] plant whose
//! efficiency grows with the supply temperature, and [`Task`]s with demand vectors, predicted
//! utilization, priorities, pinning, current hosts and placement [`Rule`]s.
//!
//! - [`Placer`] places one workload at a time, Kubernetes-style: filter the hosts on the hard
//!   constraints, score the feasible ones, take the best. On large fleets it scores a sample
//!   ([`Sampling`]): hosts already running work first, then the most efficient empty ones.
//!   Every [`Decision`] carries its [`Breakdown`]; a workload that fits nowhere gets a
//!   [`Blocked`] naming each constraint and on how many hosts it bit.
//! - [`solve`] places a whole batch (or re-balances a running fleet): a greedy construction
//!   in decreasing priority and size, then large-neighbourhood search run by parallel chains
//!   (rayon) that share their best placement every epoch — deterministic for a seed when
//!   limited by rounds, anytime under a time limit, which covers the construction too (work
//!   it cannot reach in time is reported unplaced with [`Blocked::time_limited`], never
//!   dropped or misplaced; see [`solve`]). It reports a [`Bound`] on facility power, hence a
//!   gap.
//! - [`baseline`] runs the same construction with the policies schedulers use today:
//!   round-robin, Kubernetes' `LeastAllocated` (spread) and `MostAllocated` (pack). They know
//!   capacity, pinning and rules, not power caps or heat; [`evaluate`] lists what they break.
//! - What to minimise is an [`Objective`]: levels compared in order, each a weighted sum of
//!   [`Term`]s, with no limit on their number. A term prices a whole placement
//!   ([`Term::value`]) and, incrementally, one move of a task onto or off a host given the
//!   [`State`] ([`Term::delta`]); the built-in [`Goal`]s (energy, carbon, stranded capacity,
//!   thermal, migrations) implement the trait, and so can an embedder's own terms.
//! - [`Problem::from_inventory`] builds a problem from an inventory: power curves sampled
//!   through [`MarginalPower`](kelvin_model::MarginalPower) ([`sample_curves`], made usable by
//!   [`sanitize_curves`]), measured utilization and host power as plain numbers
//!   ([`Measured`]).
//!
//! ```
//! use kelvin_model::EntityId;
//! use kelvin_placement::fleet::{
//!     evaluate, solve, Host, PowerCurve, PowerDomain, Problem, Rack, SolveOptions, Task,
//! };
//!
//! let id = |s: &str| EntityId::new(s).unwrap();
//! let curve = PowerCurve::try_new([60.0, 90.0, 100.0, 110.0, 120.0, 133.0, 150.0, 171.0, 196.0, 231.0, 257.0])?;
//! let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into()]);
//! p.racks.push(Rack::new(id("r1")));
//! for h in 0..4 {
//!     p.hosts.push(Host::new(id(&format!("h{h}")), 0, vec![32.0, 128.0], curve));
//! }
//! p.domains.push(PowerDomain { id: id("pdu-r1"), cap_w: 700.0, hosts: vec![0, 1, 2, 3] });
//! for t in 0..6 {
//!     p.tasks.push(Task::new(id(&format!("w{t}")), vec![10.0, 32.0]).with_utilization(0.6, 0.1));
//! }
//! let sol = solve(&p, &SolveOptions::default().with_rounds(200))?;
//! assert_eq!(sol.evaluation.unplaced, 0);
//! // 60 cores on 32-core hosts: two hosts are enough, and the other two sleep.
//! assert_eq!(sol.evaluation.hosts_awake, 2);
//! assert!(evaluate(&p, &sol.host_of)?.violations.is_empty());
//! assert!(sol.bound.facility_w <= sol.evaluation.facility_w());
//! # Ok::<(), kelvin_placement::PlacementError>(())
//! ```
//!
//! # Model
//!
//! Host power is the curve at the host's predicted CPU utilization (Σ demand × utilization /
//! capacity); an empty host sleeps at [`Host::sleep_w`] unless it cannot (or, in the
//! [`Placer`], unless it is [`Host::awake`] now). A domain's
//! percentile power is `Σ mean + z·sqrt(Σ var)` with `z` the normal quantile of
//! [`Problem::cap_percentile`] and each host's variance `((full − idle) × sd of
//! utilization)²`, hosts independent. Rack inlets are `supply + offset + D·P` (°C, kW); the
//! plant raises the supply temperature as far as the hottest inlet allows within its range, and
//! an inlet over redline even at the lowest supply is a violation. Cooling power is
//! `IT / CoP(supply)`.

mod bound;
mod curves;
mod index;
mod inventory;
mod objective;
mod placer;
mod problem;
mod solve;
mod state;
mod synthetic;

use std::fmt;
use std::sync::Arc;

pub use bound::{Bound, lower_bound};
pub use curves::{sample_curve, sample_curves, sanitize_curves};
pub use inventory::Measured;
pub use objective::{Change, Direction, Evaluation, Goal, Objective, Term, Violation, Weights};
pub use placer::{Blocked, Breakdown, Decision, Placer, Policy, Sampling};
pub use problem::{
    Cooling, Host, PowerCurve, PowerDomain, Problem, Rack, Rule, RuleKind, Scope, Task,
};
pub use solve::{Assignment, Destroy, MAX_CHAINS, Solution, SolveOptions, baseline, solve};
pub use state::{Delta, State};
pub use synthetic::{ServerModel, Synthetic};

use crate::PlacementError;
use index::Index;
use state::EPS;

/// A hard constraint of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// Not enough free capacity in dimension `.0` of [`Problem::dims`].
    Capacity(u32),
    /// The host is not among the workload's allowed hosts.
    Pinned,
    /// Rule `.0` of [`Problem::rules`] (spread or together).
    Rule(u32),
    /// Power domain `.0` would pass its cap at the cap percentile.
    PowerCap(u32),
    /// Rack `.0`'s inlet would pass its redline even at the lowest supply temperature.
    Redline(u32),
}

impl Check {
    /// A short phrase naming the constraint and its entity, e.g. `"power cap of pdu-r3"`.
    pub fn describe(&self, p: &Problem) -> String {
        match *self {
            Check::Capacity(d) => format!(
                "{} capacity",
                p.dims.get(d as usize).map_or("?", |s| s.as_str())
            ),
            Check::Pinned => "pinning".to_owned(),
            Check::Rule(k) => format!(
                "rule {}",
                p.rules.get(k as usize).map_or("?", |r| r.name.as_str())
            ),
            Check::PowerCap(k) => format!(
                "power cap of {}",
                p.domains.get(k as usize).map_or("?", |d| d.id.as_str())
            ),
            Check::Redline(r) => format!(
                "redline of {}",
                p.racks.get(r as usize).map_or("?", |r| r.id.as_str())
            ),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Capacity(d) => write!(f, "capacity[{d}]"),
            Check::Pinned => f.write_str("pinned"),
            Check::Rule(k) => write!(f, "rule[{k}]"),
            Check::PowerCap(k) => write!(f, "power_cap[{k}]"),
            Check::Redline(r) => write!(f, "redline[{r}]"),
        }
    }
}

fn check_assignment(
    p: &Problem,
    host_of: &[Option<usize>],
) -> Result<Vec<Option<u32>>, PlacementError> {
    if host_of.len() != p.tasks.len() {
        return Err(PlacementError::for_call(format!(
            "an assignment of {} workloads for a problem with {}",
            host_of.len(),
            p.tasks.len()
        )));
    }
    host_of
        .iter()
        .zip(&p.tasks)
        .map(|(h, t)| match h {
            Some(h) if *h >= p.hosts.len() => Err(PlacementError::for_workload(
                &t.id,
                format!(
                    "workload {} is assigned to host #{h} of {}",
                    t.id,
                    p.hosts.len()
                ),
            )),
            Some(h) => Ok(Some(*h as u32)),
            None => Ok(None),
        })
        .collect()
}

/// The cost of any assignment (`host_of[t]` is task `t`'s host index), with every hard
/// constraint it breaks. Use it to compare placements from anywhere, including other
/// schedulers'.
pub fn evaluate(p: &Problem, host_of: &[Option<usize>]) -> Result<Evaluation, PlacementError> {
    p.validate()?;
    let assign = check_assignment(p, host_of)?;
    let ix = Arc::new(Index::new(p));
    let s = State::from_assignment(p, ix, false, &assign);
    let mut e = s.evaluation();
    e.violations = violations(p, &s, &assign);
    Ok(e)
}

/// The state of placement `host_of` (valid host indices), for the crate's own tests of terms.
#[cfg(test)]
pub(crate) fn state_of<'p>(p: &'p Problem, host_of: &[Option<u32>]) -> State<'p> {
    State::from_assignment(p, Arc::new(Index::new(p)), false, host_of)
}

/// Every hard constraint placement `s` (with tasks at `assign`) breaks.
fn violations(p: &Problem, s: &State<'_>, assign: &[Option<u32>]) -> Vec<Violation> {
    let mut v = Vec::new();
    for (h, host) in p.hosts.iter().enumerate() {
        for (d, cap) in host.capacity.iter().enumerate() {
            let used = s.used(h, d);
            if used > cap + EPS * cap.max(1.0) {
                v.push(Violation {
                    check: Check::Capacity(d as u32),
                    at: h,
                    excess: used - cap,
                    message: format!("{} uses {used} of {cap} {}", host.id, p.dims[d]),
                });
            }
        }
    }
    for (t, task) in p.tasks.iter().enumerate() {
        if let (Some(h), Some(allowed)) = (assign[t], &task.allowed_hosts)
            && !allowed.contains(&(h as usize))
        {
            v.push(Violation {
                check: Check::Pinned,
                at: h as usize,
                excess: 1.0,
                message: format!(
                    "{} runs on {}, not an allowed host",
                    task.id, p.hosts[h as usize].id
                ),
            });
        }
    }
    for (k, rule) in p.rules.iter().enumerate() {
        let scope_of = |h: u32| match rule.scope {
            Scope::Host => h as usize,
            Scope::Rack => p.hosts[h as usize].rack,
        };
        let mut scopes: Vec<usize> = rule
            .tasks
            .iter()
            .filter_map(|t| assign[*t])
            .map(scope_of)
            .collect();
        scopes.sort_unstable();
        match rule.kind {
            RuleKind::Spread(n) => {
                for run in scopes.chunk_by(|a, b| a == b) {
                    if run.len() > n as usize {
                        v.push(Violation {
                            check: Check::Rule(k as u32),
                            at: run[0],
                            excess: (run.len() - n as usize) as f64,
                            message: format!(
                                "rule {} has {} in one {:?}, at most {n} allowed",
                                rule.name,
                                run.len(),
                                rule.scope
                            ),
                        });
                    }
                }
            }
            RuleKind::Together => {
                let distinct = scopes.chunk_by(|a, b| a == b).count();
                if distinct > 1 {
                    v.push(Violation {
                        check: Check::Rule(k as u32),
                        at: scopes[0],
                        excess: (distinct - 1) as f64,
                        message: format!(
                            "rule {} is split over {distinct} {:?} scopes",
                            rule.name, rule.scope
                        ),
                    });
                }
            }
        }
    }
    for (k, d) in p.domains.iter().enumerate() {
        let w = s.domain_percentile_w(k);
        if w > d.cap_w + EPS * d.cap_w.max(1.0) {
            v.push(Violation {
                check: Check::PowerCap(k as u32),
                at: k,
                excess: w - d.cap_w,
                message: format!(
                    "{} draws {w:.1} W at the cap percentile, cap {:.1} W",
                    d.id, d.cap_w
                ),
            });
        }
    }
    for (r, rack) in p.racks.iter().enumerate() {
        let inlet = p.cooling.min_supply_c + rack.inlet_offset_c + s.recirculation_c()[r];
        if inlet > rack.redline_c + EPS {
            v.push(Violation {
                check: Check::Redline(r as u32),
                at: r,
                excess: inlet - rack.redline_c,
                message: format!(
                    "{} inlet {inlet:.2} °C at the lowest supply, redline {} °C",
                    rack.id, rack.redline_c
                ),
            });
        }
    }
    v
}
