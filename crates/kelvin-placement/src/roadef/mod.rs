//! The Google ROADEF/EURO Challenge 2012 machine reassignment problem, solved with the fleet
//! model: the closest public benchmark of re-placing a running production fleet.
//!
//! Processes run on machines; each machine has a capacity and a safety capacity per resource.
//! A reassignment must keep every machine within capacity, with *transient* resources held on
//! both machines of a moved process; put no two processes of a service on one machine
//! (conflict); spread each service over at least its spreadMin locations; and, where a service
//! depends on another, have the other in every neighborhood the first runs in. It minimises
//! the load cost (usage above safety capacity), the balance cost (available resource ratios
//! away from a target), and weighted process, service (the most moved processes of one
//! service) and machine-to-machine move costs. (Google/ROADEF/EURO, *Machine Reassignment*,
//! problem definition v1, challenge.roadef.org/2012.)
//!
//! - [`Model::read`] and [`Model::read_assignment`] read the challenge's files; bad input is a
//!   [`ReadError`] naming the file, the line, the token and the reason, never a panic.
//! - [`check`] is the independent checker: feasibility and cost recomputed in integers from
//!   the model and the two assignments alone.
//! - [`fleet_problem`] and [`objective`] model an instance with [`crate::fleet`]: hosts,
//!   tasks, conflict rules and two [`Term`](crate::fleet::Term)s ([`Hard`], [`Cost`]);
//!   [`reassign`] runs [`fleet::solve`](crate::fleet::solve) on them from the initial
//!   assignment and returns the best assignment the checker accepts.
//!
//! ```
//! use std::sync::Arc;
//! use kelvin_placement::roadef::{Model, ReassignOptions, check, reassign};
//!
//! // Two machines of one resource (capacity 10, safety 4), neighborhood 0, locations 0 and 1,
//! // moving between them costs 1; two services; three processes; no balance objective;
//! // weights 1, 10, 100.
//! let model = Model::parse("tiny", "1  0 1   2  0 0 10 4 0 1  0 1 10 4 1 0   \
//!     2  1 0  1 0   3  0 3 5  0 3 5  1 2 1   0   1 10 100")?;
//! let initial = model.parse_assignment("tiny.sol", "0 1 0")?;
//! let before = check(&model, &initial, &initial);
//! assert!(before.feasible());
//! // Machine 0 holds 3 + 2, one over its safety capacity of 4: a load cost of 1. Any move
//! // costs more than it saves.
//! assert_eq!(before.cost.total(), 1);
//! let out = reassign(&Arc::new(model), &initial, &ReassignOptions::default().with_time_limit_ms(200))?;
//! assert!(out.report.feasible());
//! assert!(out.report.cost.total() <= before.cost.total());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod read;
mod terms;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::{Breach, Cost as CheckedCost, Report, check};
pub use read::{MAX_FILE_BYTES, ReadError, ReadErrorKind, format_assignment};
pub use terms::{Cost, Hard, fleet_problem, objective};

use crate::PlacementError;
use crate::fleet::{Destroy, SolveOptions, solve};

/// A resource: whether it is transient, and the weight of its load cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Held on both machines while a process moves.
    pub transient: bool,
    /// Weight of its load cost.
    pub load_cost_weight: u64,
}

/// A machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// Its neighborhood (dependencies).
    pub neighborhood: u32,
    /// Its location (spread).
    pub location: u32,
    /// Capacity per resource.
    pub capacity: Vec<u64>,
    /// Safety capacity per resource: usage above it costs load cost.
    pub safety: Vec<u64>,
    /// Cost of moving a process from this machine to each machine.
    pub move_cost: Vec<u64>,
}

/// A service: a group of processes with spread and dependency rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The fewest distinct locations its processes must run in.
    pub spread_min: u64,
    /// Services that must run in every neighborhood this one runs in.
    pub depends_on: Vec<usize>,
}

/// A process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Its service.
    pub service: usize,
    /// What it uses of each resource.
    pub requirement: Vec<u64>,
    /// Cost of moving it off its initial machine.
    pub move_cost: u64,
}

/// A balance objective: on every machine, `target × available(r1)` should not exceed
/// `available(r2)`; the excess is weighted by `weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    /// The first resource.
    pub r1: usize,
    /// The second resource.
    pub r2: usize,
    /// The target ratio.
    pub target: u64,
    /// The weight.
    pub weight: u64,
}

/// An instance: resources, machines, services, processes, balance objectives and weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The resources.
    pub resources: Vec<Resource>,
    /// The machines.
    pub machines: Vec<Machine>,
    /// The services.
    pub services: Vec<Service>,
    /// The processes.
    pub processes: Vec<Process>,
    /// The balance objectives.
    pub balances: Vec<Balance>,
    /// Weight of the process move cost.
    pub weight_process_move: u64,
    /// Weight of the service move cost.
    pub weight_service_move: u64,
    /// Weight of the machine move cost.
    pub weight_machine_move: u64,
}

impl Model {
    /// Checks what the readers guarantee, for a model built by hand: every per-resource and
    /// per-machine vector has its length, and every service, resource and machine index (of
    /// `initial` too, when given) is in range. [`check`] and the terms index without checking.
    pub fn validate(&self, initial: Option<&[usize]>) -> Result<(), PlacementError> {
        let (nr, nm, ns) = (
            self.resources.len(),
            self.machines.len(),
            self.services.len(),
        );
        let bad = |what: String| Err(PlacementError::for_call(what));
        for (m, machine) in self.machines.iter().enumerate() {
            if machine.capacity.len() != nr
                || machine.safety.len() != nr
                || machine.move_cost.len() != nm
            {
                return bad(format!(
                    "machine {m} needs {nr} capacities and safety capacities and {nm} move costs"
                ));
            }
        }
        for (s, service) in self.services.iter().enumerate() {
            if service.depends_on.iter().any(|d| *d >= ns) {
                return bad(format!(
                    "service {s} depends on a service that does not exist"
                ));
            }
        }
        for (p, process) in self.processes.iter().enumerate() {
            if process.service >= ns || process.requirement.len() != nr {
                return bad(format!(
                    "process {p} needs a service below {ns} and {nr} requirements"
                ));
            }
        }
        if self.balances.iter().any(|b| b.r1 >= nr || b.r2 >= nr) {
            return bad("a balance objective names a resource that does not exist".into());
        }
        if let Some(a) = initial {
            if a.len() != self.processes.len() {
                return bad(format!(
                    "an assignment of {} processes for a model of {}",
                    a.len(),
                    self.processes.len()
                ));
            }
            if let Some(p) = a.iter().position(|m| *m >= nm) {
                return bad(format!(
                    "process {p} is assigned to machine {} of {nm}",
                    a[p]
                ));
            }
        }
        Ok(())
    }

    /// The number of neighborhoods (largest index + 1).
    pub fn neighborhoods(&self) -> usize {
        self.machines
            .iter()
            .map(|m| m.neighborhood as usize + 1)
            .max()
            .unwrap_or(0)
    }
}

/// Options of [`reassign`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReassignOptions {
    /// Wall time of the search, milliseconds. Default 10,000.
    pub time_limit_ms: u64,
    /// Seed. Default 0.
    pub seed: u64,
    /// Parallel search chains. Default 2.
    pub chains: usize,
    /// Share of search rounds that take a few processes off each of two machines (the rest
    /// take 2 to 8 random processes off); see [`Destroy`]. Default 0.5.
    pub host_pair: f64,
}

impl Default for ReassignOptions {
    fn default() -> Self {
        ReassignOptions {
            time_limit_ms: 10_000,
            seed: 0,
            chains: 2,
            host_pair: 0.5,
        }
    }
}

impl ReassignOptions {
    /// Sets [`ReassignOptions::time_limit_ms`].
    pub fn with_time_limit_ms(mut self, ms: u64) -> Self {
        self.time_limit_ms = ms;
        self
    }
}

/// What [`reassign`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Reassignment {
    /// The machine of each process.
    pub assignment: Vec<usize>,
    /// The checker's report on it.
    pub report: Report,
    /// The checker's report on the initial assignment.
    pub initial: Report,
    /// Search rounds run.
    pub rounds: u64,
    /// Whether the search's placement was rejected (infeasible by the checker, or no better
    /// than the initial assignment) and the initial assignment returned instead.
    pub kept_initial: bool,
}

/// Reassigns `model`'s processes from `initial` with [`fleet::solve`](crate::fleet::solve)
/// on [`fleet_problem`] and [`objective`]: every process starts on its initial machine and
/// large-neighbourhood search of a few random processes at a time (the fleet's
/// [`Destroy`] share of random workloads) improves the cost until the time limit. The result
/// is checked by [`check`]; if it were infeasible or costlier than the initial assignment,
/// the initial assignment is returned ([`Reassignment::kept_initial`]), so the result is never
/// worse than the start.
pub fn reassign(
    model: &Arc<Model>,
    initial: &[usize],
    opts: &ReassignOptions,
) -> Result<Reassignment, PlacementError> {
    let problem = fleet_problem(model, initial)?;
    let initial_report = check(model, initial, initial);
    let solve_opts = SolveOptions::default()
        .with_objective(objective(Arc::clone(model), initial.to_vec()))
        .with_time_limit_ms(Some(opts.time_limit_ms))
        .with_rounds(u64::MAX)
        .with_seed(opts.seed);
    let solve_opts = SolveOptions {
        chains: opts.chains.max(1),
        stop_at_power_bound: false,
        destroy: Destroy {
            empty_hosts: 0.0,
            host_pair: opts.host_pair,
            rack_pair: 0.0,
        },
        ..solve_opts
    };
    let sol = solve(&problem, &solve_opts)?;
    let found: Option<Vec<usize>> = sol.host_of.iter().copied().collect();
    let checked = found.map(|a| {
        let r = check(model, initial, &a);
        (a, r)
    });
    let (assignment, report, kept_initial) = match checked {
        Some((a, r)) if r.feasible() && r.cost.total() <= initial_report.cost.total() => {
            (a, r, false)
        }
        _ => (initial.to_vec(), initial_report.clone(), true),
    };
    Ok(Reassignment {
        assignment,
        report,
        initial: initial_report,
        rounds: sol.rounds,
        kept_initial,
    })
}

/// The published lower bound of the instance at `model_path`, if found: the name
/// `model_<x>.txt` gives `lb_<x>.txt` (set B's two-digit numbers accepted, `b_1` as `b_01`),
/// looked for under `bounds_jaskowski_j12/<A|B>/` in the model's folder and each folder above
/// it (also as `machinereassignment_roadef2012/bounds_jaskowski_j12`), then under each of
/// `extra_roots`. Returns the file and the bound.
pub fn find_lower_bound(model_path: &Path, extra_roots: &[PathBuf]) -> Option<(PathBuf, u64)> {
    let stem = model_path.file_stem()?.to_str()?;
    let inst = stem.strip_prefix("model_")?;
    let set = if inst.starts_with('a') { "A" } else { "B" };
    let mut names = vec![format!("lb_{inst}.txt")];
    if let Some(n) = inst.strip_prefix("b_")
        && let Ok(k) = n.parse::<u32>()
    {
        names.push(format!("lb_b_{k:02}.txt"));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    let abs = std::fs::canonicalize(model_path).unwrap_or_else(|_| model_path.to_path_buf());
    for dir in abs.ancestors().skip(1) {
        roots.push(dir.join("bounds_jaskowski_j12"));
        roots.push(dir.join("machinereassignment_roadef2012/bounds_jaskowski_j12"));
    }
    roots.extend(extra_roots.iter().cloned());
    for root in roots {
        for name in &names {
            let f = root.join(set).join(name);
            if let Ok(text) = std::fs::read_to_string(&f)
                && let Ok(v) = text.trim().parse::<u64>()
            {
                return Some((f, v));
            }
        }
    }
    None
}
