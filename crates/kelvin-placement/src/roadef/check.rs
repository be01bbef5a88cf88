//! The independent checker: feasibility and cost of an assignment recomputed from the model and
//! the initial assignment alone, in exact integer arithmetic, by the challenge's rules. It shares
//! nothing with the fleet model or the objective terms of [`super::terms`].

use std::fmt;

use super::Model;

/// The cost of an assignment, part by part, weights applied (the challenge's objective is
/// [`Cost::total`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Σ over resources of weight × Σ over machines of the usage above the safety capacity.
    pub load: u128,
    /// Σ over balance objectives of weight × Σ over machines of
    /// `max(0, target · available(r1) − available(r2))`.
    pub balance: u128,
    /// Process move weight × Σ move cost of the processes not on their initial machine.
    pub process_move: u128,
    /// Service move weight × the largest number of moved processes of one service.
    pub service_move: u128,
    /// Machine move weight × Σ machine-to-machine move cost from each process's initial
    /// machine to its machine.
    pub machine_move: u128,
}

impl Cost {
    /// The challenge's objective: the sum of the parts.
    pub fn total(&self) -> u128 {
        self.load + self.balance + self.process_move + self.service_move + self.machine_move
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "load {} balance {} process_move {} service_move {} machine_move {}",
            self.load, self.balance, self.process_move, self.service_move, self.machine_move
        )
    }
}

/// A broken hard constraint of the challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// Machine `machine` uses `used` of resource `resource`, capacity `capacity`.
    Capacity {
        /// The machine.
        machine: usize,
        /// The resource.
        resource: usize,
        /// Its usage.
        used: u128,
        /// Its capacity.
        capacity: u64,
    },
    /// Transient resource `resource` on machine `machine`: the usage of the processes there
    /// plus of those moved away from it is `used`, over `capacity`.
    Transient {
        /// The machine.
        machine: usize,
        /// The resource.
        resource: usize,
        /// Usage including the processes moved away.
        used: u128,
        /// Its capacity.
        capacity: u64,
    },
    /// Two processes of service `service` share machine `machine`.
    Conflict {
        /// The service.
        service: usize,
        /// The machine.
        machine: usize,
    },
    /// Service `service` spans `locations` distinct locations, fewer than its spreadMin.
    Spread {
        /// The service.
        service: usize,
        /// Distinct locations it runs in.
        locations: usize,
        /// Its spreadMin.
        spread_min: u64,
    },
    /// A process of `service` runs in neighborhood `neighborhood`, where no process of
    /// `depends_on` runs.
    Dependency {
        /// The dependent service.
        service: usize,
        /// The service it depends on.
        depends_on: usize,
        /// The neighborhood.
        neighborhood: u32,
    },
}

/// What [`check`] found: every breach (empty when feasible) and the cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every hard constraint broken.
    pub breaches: Vec<Breach>,
    /// The cost (meaningful when feasible).
    pub cost: Cost,
}

impl Report {
    /// Whether every hard constraint holds.
    pub fn feasible(&self) -> bool {
        self.breaches.is_empty()
    }
}

/// Checks `assignment` (machine of each process) against `model`, moves counted from
/// `initial`: capacity, transient usage (a moved process holds its transient resources on both
/// machines), conflict, spread and dependency, then the cost.
///
/// # Panics
///
/// When [`Model::validate`] would refuse the model or an assignment (the readers refuse
/// both).
pub fn check(model: &Model, initial: &[usize], assignment: &[usize]) -> Report {
    let np = model.processes.len();
    assert!(initial.len() == np && assignment.len() == np);
    let nr = model.resources.len();
    let nm = model.machines.len();
    let mut used = vec![0u128; nm * nr];
    let mut transient = vec![0u128; nm * nr];
    for (p, proc_) in model.processes.iter().enumerate() {
        let (m, m0) = (assignment[p], initial[p]);
        for (r, req) in proc_.requirement.iter().enumerate() {
            used[m * nr + r] += u128::from(*req);
            if m != m0 {
                transient[m0 * nr + r] += u128::from(*req);
            }
        }
    }
    let mut breaches = Vec::new();
    for (m, machine) in model.machines.iter().enumerate() {
        for (r, res) in model.resources.iter().enumerate() {
            let u = used[m * nr + r];
            let capacity = machine.capacity[r];
            if u > u128::from(capacity) {
                breaches.push(Breach::Capacity {
                    machine: m,
                    resource: r,
                    used: u,
                    capacity,
                });
            }
            let with_moved = u + transient[m * nr + r];
            if res.transient && with_moved > u128::from(capacity) {
                breaches.push(Breach::Transient {
                    machine: m,
                    resource: r,
                    used: with_moved,
                    capacity,
                });
            }
        }
    }
    let ns = model.services.len();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); ns];
    for (p, proc_) in model.processes.iter().enumerate() {
        members[proc_.service].push(p);
    }
    let nn = model
        .machines
        .iter()
        .map(|m| m.neighborhood as usize + 1)
        .max()
        .unwrap_or(0);
    let mut in_neighborhood = vec![false; ns * nn];
    for (s, ps) in members.iter().enumerate() {
        let mut machines: Vec<usize> = ps.iter().map(|p| assignment[*p]).collect();
        machines.sort_unstable();
        for w in machines.windows(2) {
            if w[0] == w[1] {
                breaches.push(Breach::Conflict {
                    service: s,
                    machine: w[0],
                });
            }
        }
        let mut locations: Vec<u32> = machines
            .iter()
            .map(|m| model.machines[*m].location)
            .collect();
        locations.sort_unstable();
        locations.dedup();
        if (locations.len() as u64) < model.services[s].spread_min {
            breaches.push(Breach::Spread {
                service: s,
                locations: locations.len(),
                spread_min: model.services[s].spread_min,
            });
        }
        for m in machines {
            in_neighborhood[s * nn + model.machines[m].neighborhood as usize] = true;
        }
    }
    for (s, service) in model.services.iter().enumerate() {
        for &d in &service.depends_on {
            for n in 0..nn {
                if in_neighborhood[s * nn + n] && !in_neighborhood[d * nn + n] {
                    breaches.push(Breach::Dependency {
                        service: s,
                        depends_on: d,
                        neighborhood: n as u32,
                    });
                }
            }
        }
    }
    let cost = cost_of(model, initial, assignment, &used, &members);
    Report { breaches, cost }
}

fn cost_of(
    model: &Model,
    initial: &[usize],
    assignment: &[usize],
    used: &[u128],
    members: &[Vec<usize>],
) -> Cost {
    let nr = model.resources.len();
    let mut cost = Cost::default();
    for (r, res) in model.resources.iter().enumerate() {
        let over: u128 = model
            .machines
            .iter()
            .enumerate()
            .map(|(m, machine)| used[m * nr + r].saturating_sub(u128::from(machine.safety[r])))
            .sum();
        cost.load += u128::from(res.load_cost_weight) * over;
    }
    for b in &model.balances {
        let mut sum = 0u128;
        for (m, machine) in model.machines.iter().enumerate() {
            // Available capacity may be negative only on an infeasible assignment.
            let avail = |r: usize| i128::from(machine.capacity[r]) - used[m * nr + r] as i128;
            let v = i128::from(b.target) * avail(b.r1) - avail(b.r2);
            sum += v.max(0) as u128;
        }
        cost.balance += u128::from(b.weight) * sum;
    }
    let mut pmc = 0u128;
    let mut mmc = 0u128;
    for (p, proc_) in model.processes.iter().enumerate() {
        let (m, m0) = (assignment[p], initial[p]);
        if m != m0 {
            pmc += u128::from(proc_.move_cost);
        }
        mmc += u128::from(model.machines[m0].move_cost[m]);
    }
    let smc = members
        .iter()
        .map(|ps| {
            ps.iter()
                .filter(|p| assignment[**p] != initial[**p])
                .count()
        })
        .max()
        .unwrap_or(0) as u128;
    cost.process_move = u128::from(model.weight_process_move) * pmc;
    cost.service_move = u128::from(model.weight_service_move) * smc;
    cost.machine_move = u128::from(model.weight_machine_move) * mmc;
    cost
}
