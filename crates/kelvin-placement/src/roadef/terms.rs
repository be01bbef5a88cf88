//! The challenge as a fleet [`Problem`] and two objective [`Term`]s.
//!
//! What the fleet model has natively: machines are hosts whose capacity dimensions are the
//! resources (the hard capacity constraint), locations are racks, processes are tasks running on
//! their initial machine, and each service of two or more processes is a
//! [`RuleKind::Spread`]`(1)` rule at [`Scope::Host`] (the conflict constraint). What it lacks is
//! priced by the terms, which read the [`State`] only:
//!
//! - [`Hard`]: transient usage over capacity (a moved process holds its transient resources on
//!   its initial machine too), missing locations under a service's spreadMin, and unmet
//!   dependencies (one per dependent service, service depended on and neighborhood). The
//!   objective puts it in a level of its own, above the cost: a round that raises it is never
//!   kept, so from a feasible initial assignment (the challenge's are) it stays 0.
//! - [`Cost`]: the challenge's objective, load, balance, process, service and machine move
//!   costs with their weights.

use std::sync::Arc;

use kelvin_model::EntityId;

use super::Model;
use crate::PlacementError;
use crate::fleet::{
    Change, Direction, Host, Objective, PowerCurve, Problem, Rack, Rule, RuleKind, Scope, State,
    Task, Term,
};

/// What the terms precompute from the model and the initial assignment.
#[derive(Debug)]
struct Data {
    model: Arc<Model>,
    initial: Vec<usize>,
    /// Processes of each service.
    members: Vec<Vec<u32>>,
    /// Services that depend on each service.
    dependents: Vec<Vec<u32>>,
    /// Whether each service depends on another or has dependents.
    related: Vec<bool>,
    /// Indices of the transient resources.
    transient: Vec<usize>,
    /// Processes initially on each machine.
    initial_on: Vec<Vec<u32>>,
    /// Per machine and transient resource (`m · transient.len() + k`): what the processes
    /// initially there require.
    initial_sum: Vec<f64>,
}

impl Data {
    fn new(model: Arc<Model>, initial: Vec<usize>) -> Data {
        let mut members = vec![Vec::new(); model.services.len()];
        for (p, proc_) in model.processes.iter().enumerate() {
            members[proc_.service].push(p as u32);
        }
        let mut dependents = vec![Vec::new(); model.services.len()];
        for (s, service) in model.services.iter().enumerate() {
            for &d in &service.depends_on {
                if d != s {
                    dependents[d].push(s as u32);
                }
            }
        }
        let related = (0..model.services.len())
            .map(|s| !model.services[s].depends_on.is_empty() || !dependents[s].is_empty())
            .collect();
        let transient: Vec<usize> = (0..model.resources.len())
            .filter(|r| model.resources[*r].transient)
            .collect();
        let nt = transient.len();
        let mut initial_on = vec![Vec::new(); model.machines.len()];
        let mut initial_sum = vec![0.0; model.machines.len() * nt];
        for (p, &m) in initial.iter().enumerate() {
            initial_on[m].push(p as u32);
            for (k, &r) in transient.iter().enumerate() {
                initial_sum[m * nt + k] += model.processes[p].requirement[r] as f64;
            }
        }
        Data {
            model,
            initial,
            members,
            dependents,
            related,
            transient,
            initial_on,
            initial_sum,
        }
    }

    /// What the processes moved away from machine `m` (or unplaced) still hold of transient
    /// resource `r` there.
    fn away(&self, s: &State<'_>, m: usize, r: usize) -> f64 {
        self.initial_on[m]
            .iter()
            .filter(|p| s.host_of(**p as usize) != Some(m))
            .map(|p| self.model.processes[*p as usize].requirement[r] as f64)
            .sum()
    }

    /// Whether a process of service `sv` other than `except` runs in neighborhood `n`.
    fn present(&self, s: &State<'_>, sv: usize, n: u32, except: usize) -> bool {
        self.members[sv].iter().any(|q| {
            *q as usize != except
                && s.host_of(*q as usize)
                    .is_some_and(|h| self.model.machines[h].neighborhood == n)
        })
    }
}

/// Builds the fleet problem of `model` with every process on its machine in `initial`; an
/// error if [`Model::validate`] finds the model or `initial` inconsistent.
///
/// Power plays no part: hosts have a flat 0 W curve.
pub fn fleet_problem(model: &Model, initial: &[usize]) -> Result<Problem, PlacementError> {
    let call = PlacementError::for_call;
    model.validate(Some(initial))?;
    let id = |s: String| EntityId::new(&s).map_err(|e| call(e.to_string()));
    let dims = (0..model.resources.len())
        .map(|r| format!("r{r}"))
        .collect();
    let mut p = Problem::new(dims);
    let locations = model
        .machines
        .iter()
        .map(|m| m.location as usize + 1)
        .max()
        .unwrap_or(0);
    for l in 0..locations {
        p.racks.push(Rack::new(id(format!("location{l}"))?));
    }
    let flat = PowerCurve::try_new([0.0; 11])?;
    for (m, machine) in model.machines.iter().enumerate() {
        let capacity = machine.capacity.iter().map(|c| *c as f64).collect();
        p.hosts.push(Host::new(
            id(format!("m{m}"))?,
            machine.location as usize,
            capacity,
            flat,
        ));
    }
    for (i, proc_) in model.processes.iter().enumerate() {
        let demand = proc_.requirement.iter().map(|v| *v as f64).collect();
        let mut task = Task::new(id(format!("p{i}"))?, demand).running_on(initial[i]);
        task.migration_cost = proc_.move_cost as f64;
        p.tasks.push(task);
    }
    let mut members = vec![Vec::new(); model.services.len()];
    for (i, proc_) in model.processes.iter().enumerate() {
        members[proc_.service].push(i);
    }
    for (s, tasks) in members.into_iter().enumerate() {
        if tasks.len() > 1 {
            p.rules.push(Rule {
                name: format!("conflict s{s}"),
                tasks,
                scope: Scope::Host,
                kind: RuleKind::Spread(1),
            });
        }
    }
    Ok(p)
}

/// The objective for the challenge: [`Hard`] in a first level, [`Cost`] in the second.
pub fn objective(model: Arc<Model>, initial: Vec<usize>) -> Objective {
    let data = Arc::new(Data::new(model, initial));
    Objective::empty()
        .then_term(
            Hard {
                data: Arc::clone(&data),
            },
            1.0,
        )
        .then_term(Cost { data }, 1.0)
}

/// The challenge's hard constraints the fleet model does not have, as an amount of violation:
/// transient usage over capacity (resource units) plus missing locations under spreadMin plus
/// unmet dependencies (one per dependent service, service and neighborhood). 0 when they all
/// hold.
#[derive(Debug)]
pub struct Hard {
    data: Arc<Data>,
}

impl Hard {
    fn transient_value(&self, s: &State<'_>) -> f64 {
        let d = &self.data;
        let nt = d.transient.len();
        if nt == 0 {
            return 0.0;
        }
        // One pass over the processes: what each machine holds for those moved away.
        let mut away = vec![0.0; d.model.machines.len() * nt];
        for (p, &m0) in d.initial.iter().enumerate() {
            if s.host_of(p) != Some(m0) {
                let req = &d.model.processes[p].requirement;
                for (k, &r) in d.transient.iter().enumerate() {
                    away[m0 * nt + k] += req[r] as f64;
                }
            }
        }
        let mut v = 0.0;
        for (m, machine) in d.model.machines.iter().enumerate() {
            for (k, &r) in d.transient.iter().enumerate() {
                let t = s.used(m, r) + away[m * nt + k];
                v += (t - machine.capacity[r] as f64).max(0.0);
            }
        }
        v
    }

    fn spread_value(&self, s: &State<'_>) -> f64 {
        let d = &self.data;
        let mut v = 0.0;
        let mut locs = Vec::new();
        for (sv, service) in d.model.services.iter().enumerate() {
            let placed = || {
                d.members[sv]
                    .iter()
                    .filter(|p| s.host_of(**p as usize).is_some())
            };
            if service.spread_min == 0 || (service.spread_min == 1 && placed().next().is_some()) {
                continue;
            }
            locs.clear();
            locs.extend(
                d.members[sv]
                    .iter()
                    .filter_map(|p| s.host_of(*p as usize))
                    .map(|h| d.model.machines[h].location),
            );
            locs.sort_unstable();
            locs.dedup();
            v += (service.spread_min as f64 - locs.len() as f64).max(0.0);
        }
        v
    }

    fn dependency_value(&self, s: &State<'_>) -> f64 {
        let d = &self.data;
        let nn = d.model.neighborhoods();
        let ns = d.model.services.len();
        let mut present = vec![false; ns * nn];
        for (p, proc_) in d.model.processes.iter().enumerate() {
            if !d.related[proc_.service] {
                continue;
            }
            if let Some(h) = s.host_of(p) {
                present[proc_.service * nn + d.model.machines[h].neighborhood as usize] = true;
            }
        }
        let mut v = 0.0;
        for (sv, service) in d.model.services.iter().enumerate() {
            for &dep in &service.depends_on {
                for n in 0..nn {
                    if present[sv * nn + n] && !present[dep * nn + n] {
                        v += 1.0;
                    }
                }
            }
        }
        v
    }

    fn transient_delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        let d = &self.data;
        let (t, h) = (c.task, c.host);
        if d.transient.is_empty() || d.initial[t] == h {
            // Onto or off its initial machine: what it holds there does not change.
            return 0.0;
        }
        let nt = d.transient.len();
        let cap = &d.model.machines[h].capacity;
        let req = &d.model.processes[t].requirement;
        let mut delta = 0.0;
        for (k, &r) in d.transient.iter().enumerate() {
            let rq = req[r] as f64;
            let onto = if c.direction == Direction::Onto {
                rq
            } else {
                0.0
            };
            let cap = cap[r] as f64;
            // `away` is at most what was initially there: no overflow either way.
            if s.used(h, r) + d.initial_sum[h * nt + k] + onto <= cap {
                continue;
            }
            let before = s.used(h, r) + d.away(s, h, r);
            let after = before + c.sign() * rq;
            delta += (after - cap).max(0.0) - (before - cap).max(0.0);
        }
        delta
    }

    fn spread_delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        let d = &self.data;
        let sv = d.model.processes[c.task].service;
        let spread_min = d.model.services[sv].spread_min as f64;
        if spread_min == 0.0 {
            return 0.0;
        }
        let l = d.model.machines[c.host].location;
        let location = |q: &u32| {
            if *q as usize == c.task {
                None
            } else {
                s.host_of(*q as usize).map(|h| d.model.machines[h].location)
            }
        };
        let members = &d.members[sv];
        if members.iter().filter_map(location).any(|x| x == l) {
            return 0.0;
        }
        // Distinct locations of the others, counted up to spreadMin (no allocation: a
        // location counts at its first occurrence).
        let mut distinct = 0.0;
        for (i, q) in members.iter().enumerate() {
            let Some(x) = location(q) else { continue };
            if !members[..i].iter().filter_map(location).any(|y| y == x) {
                distinct += 1.0;
                if distinct >= spread_min {
                    return 0.0;
                }
            }
        }
        // Below spreadMin: the task's location is one more (onto) or one fewer (off).
        -c.sign()
    }

    fn dependency_delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        let d = &self.data;
        let sv = d.model.processes[c.task].service;
        let service = &d.model.services[sv];
        if service.depends_on.is_empty() && d.dependents[sv].is_empty() {
            return 0.0;
        }
        let n = d.model.machines[c.host].neighborhood;
        if d.present(s, sv, n, c.task) {
            return 0.0;
        }
        // The task is (or was) its service's only process in the neighborhood.
        let unmet = service
            .depends_on
            .iter()
            .filter(|dep| **dep != sv && !d.present(s, **dep, n, c.task))
            .count();
        let met = d.dependents[sv]
            .iter()
            .filter(|e| d.present(s, **e as usize, n, c.task))
            .count();
        c.sign() * (unmet as f64 - met as f64)
    }
}

impl Term for Hard {
    fn name(&self) -> &str {
        "roadef hard"
    }

    fn value(&self, s: &State<'_>) -> f64 {
        self.transient_value(s) + self.spread_value(s) + self.dependency_value(s)
    }

    fn delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        self.transient_delta(s, c) + self.spread_delta(s, c) + self.dependency_delta(s, c)
    }
}

/// The challenge's objective: weighted load, balance, process move, service move and
/// machine move costs (for a complete assignment, what [`check`](super::check) computes; an
/// unplaced process counts as neither moved nor using anything).
///
/// The delta prices every part but the service move cost, a maximum over all services that
/// the state cannot update in constant time; placements are compared by their values, which
/// include it.
#[derive(Debug)]
pub struct Cost {
    data: Arc<Data>,
}

impl Term for Cost {
    fn name(&self) -> &str {
        "roadef cost"
    }

    fn value(&self, s: &State<'_>) -> f64 {
        let m = &self.data.model;
        let mut load = 0.0;
        let mut balance = 0.0;
        for (h, machine) in m.machines.iter().enumerate() {
            for (r, res) in m.resources.iter().enumerate() {
                load += res.load_cost_weight as f64
                    * (s.used(h, r) - machine.safety[r] as f64).max(0.0);
            }
            for b in &m.balances {
                let a1 = machine.capacity[b.r1] as f64 - s.used(h, b.r1);
                let a2 = machine.capacity[b.r2] as f64 - s.used(h, b.r2);
                balance += b.weight as f64 * (b.target as f64 * a1 - a2).max(0.0);
            }
        }
        let mut pmc = 0.0;
        let mut mmc = 0.0;
        for (p, proc_) in m.processes.iter().enumerate() {
            let Some(h) = s.host_of(p) else { continue };
            let m0 = self.data.initial[p];
            if h != m0 {
                pmc += proc_.move_cost as f64;
            }
            mmc += m.machines[m0].move_cost[h] as f64;
        }
        let smc = self
            .data
            .members
            .iter()
            .map(|ps| {
                ps.iter()
                    .filter(|p| {
                        let p = **p as usize;
                        s.host_of(p).is_some_and(|h| h != self.data.initial[p])
                    })
                    .count()
            })
            .max()
            .unwrap_or(0) as f64;
        load + balance
            + m.weight_process_move as f64 * pmc
            + m.weight_service_move as f64 * smc
            + m.weight_machine_move as f64 * mmc
    }

    fn delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        let m = &self.data.model;
        let (t, h, sign) = (c.task, c.host, c.sign());
        let machine = &m.machines[h];
        let req = &m.processes[t].requirement;
        let mut delta = 0.0;
        for (r, res) in m.resources.iter().enumerate() {
            let u = s.used(h, r);
            let sc = machine.safety[r] as f64;
            let after = u + sign * req[r] as f64;
            delta += res.load_cost_weight as f64 * ((after - sc).max(0.0) - (u - sc).max(0.0));
        }
        for b in &m.balances {
            let a1 = machine.capacity[b.r1] as f64 - s.used(h, b.r1);
            let a2 = machine.capacity[b.r2] as f64 - s.used(h, b.r2);
            let b1 = a1 - sign * req[b.r1] as f64;
            let b2 = a2 - sign * req[b.r2] as f64;
            let target = b.target as f64;
            delta += b.weight as f64 * ((target * b1 - b2).max(0.0) - (target * a1 - a2).max(0.0));
        }
        let m0 = self.data.initial[t];
        if h != m0 {
            delta += sign * m.weight_process_move as f64 * m.processes[t].move_cost as f64;
        }
        delta += sign * m.weight_machine_move as f64 * m.machines[m0].move_cost[h] as f64;
        delta
    }
}
