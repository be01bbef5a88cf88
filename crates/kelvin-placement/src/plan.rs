use std::fmt;

use kelvin_model::EntityId;
use serde::Serialize;

use crate::Constraint;

/// The result of [`place`](crate::place): where each workload goes, which ones fit nowhere and
/// why, and how close the packing is to the best possible.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Plan {
    /// The placed workloads, in the order they were placed (largest first).
    pub assignments: Vec<Assignment>,
    /// The workloads that fit on no host, in the order they were tried, each with the
    /// constraints that blocked it.
    pub unplaced: Vec<Unplaced>,
    /// A lower bound on the number of hosts that the whole load (what was already used plus
    /// every workload to place) needs, however it is packed.
    ///
    /// Per dimension (CPU, memory) it is `ceil(total demand / largest host capacity)`; the bound
    /// is the largest of these, and at least 1 when there is anything to place. With identical
    /// hosts this is the classic L1 bound of bin packing; with heterogeneous hosts, dividing by
    /// the *largest* capacity keeps it a valid (if looser) lower bound. It ignores where the
    /// existing load sits, so it bounds a full repack, and hence this plan too. A dimension in
    /// which every host has zero capacity is skipped (nothing can be placed there; see
    /// [`Plan::unplaced`]). CPU totals get a relative slack of 1e-6 against rounding error.
    pub lower_bound_hosts: usize,
    /// Hosts carrying any load after placement: something already used, or an assignment.
    /// `hosts_used - lower_bound_hosts` bounds how many hosts a better packing could save.
    pub hosts_used: usize,
}

impl Plan {
    /// The host `workload` was assigned to, or `None` when it is unplaced or unknown.
    pub fn host_of(&self, workload: &EntityId) -> Option<&EntityId> {
        self.assignments
            .iter()
            .find(|a| &a.workload == workload)
            .map(|a| &a.host)
    }

    /// `true` when every workload was placed.
    pub fn is_complete(&self) -> bool {
        self.unplaced.is_empty()
    }
}

/// One workload placed on one host, with the facts behind the choice: the chosen host's
/// score, every host it was rejected on and why, and the runners-up.
///
/// `Display` renders a sentence: `"etl-3 on new-1 (rank 1, 44.0 W extra, cpu 12 % after);
/// rejected: full-1 (memory); runners-up: old-1 (rank 2, 72.0 W extra, cpu 25 % after)"` (the
/// watts only with a power model).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Assignment {
    /// The workload.
    pub workload: EntityId,
    /// The host it goes to.
    pub host: EntityId,
    /// The host's 0-based position in the order hosts were tried for this workload; every host
    /// before it lacked room. With [`HostOrder::Inventory`](crate::HostOrder::Inventory) it is
    /// the host's index in the input.
    pub rank: usize,
    /// The host's state after the workload was added, and its marginal power.
    pub score: ScoreBreakdown,
    /// Every host the workload was rejected on: each host tried before the chosen one (in the
    /// order tried, `rank` of them), with the constraints it broke. Hosts after the chosen one
    /// ranked lower; they are not rejected.
    pub rejected: Vec<Rejection>,
    /// The next hosts in the order tried on which the workload also fits, best first, at most
    /// [`PlaceOptions::runners_up`](crate::PlaceOptions::runners_up), each with the score it
    /// would have had.
    pub runners_up: Vec<RunnerUp>,
}

impl fmt::Display for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {} (rank {}", self.workload, self.host, self.rank)?;
        write_score(f, &self.score)?;
        f.write_str(")")?;
        for (i, r) in self.rejected.iter().enumerate() {
            f.write_str(if i == 0 { "; rejected: " } else { ", " })?;
            write!(f, "{r}")?;
        }
        for (i, r) in self.runners_up.iter().enumerate() {
            f.write_str(if i == 0 { "; runners-up: " } else { ", " })?;
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// `", 44.0 W extra, cpu 88 % after"` (the watts only with a model).
fn write_score(f: &mut fmt::Formatter<'_>, s: &ScoreBreakdown) -> fmt::Result {
    if let Some(w) = s.marginal_power_w {
        write!(f, ", {w:.1} W extra")?;
    }
    write!(f, ", cpu {:.0} % after", 100.0 * s.cpu_utilization_after)
}

/// A host a workload was rejected on, and every constraint it broke there.
///
/// `Display` renders `"h1 (cpu, memory)"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rejection {
    /// The host.
    pub host: EntityId,
    /// The constraints it broke, in [`Constraint`] order (never empty).
    pub constraints: Vec<Constraint>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.host)?;
        for (i, c) in self.constraints.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str(")")
    }
}

/// A host the workload also fits on, ranked after the chosen one.
///
/// `Display` renders `"old-1 (rank 2, 72.0 W extra, cpu 25 % after)"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RunnerUp {
    /// The host.
    pub host: EntityId,
    /// Its position in the order hosts were tried.
    pub rank: usize,
    /// Its state had the workload gone there, and its marginal power.
    pub score: ScoreBreakdown,
}

impl fmt::Display for RunnerUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (rank {}", self.host, self.rank)?;
        write_score(f, &self.score)?;
        f.write_str(")")
    }
}

/// The facts behind an [`Assignment`]: the chosen host's state once the workload is added.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ScoreBreakdown {
    /// Free CPU cores left on the host (never below zero).
    pub cpu_free_after: f64,
    /// Free memory bytes left on the host.
    pub memory_free_after: u64,
    /// Used / capacity CPU: 1 is full; above 1 only on a host that was already overcommitted;
    /// 0 for a host with no CPU capacity.
    pub cpu_utilization_after: f64,
    /// Used / capacity memory, as for CPU.
    pub memory_utilization_after: f64,
    /// Extra watts the model predicts for this workload on this host; `None` without a model,
    /// or when the model has no (finite) answer for the host.
    pub marginal_power_w: Option<f64>,
}

/// A workload that fits on no host.
///
/// `Display` renders a sentence:
/// `"batch-7 fits on none of 5 hosts: not enough cpu on 3 hosts, not enough memory on 5 hosts"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Unplaced {
    /// The workload.
    pub workload: EntityId,
    /// How many hosts were tried (all of them).
    pub hosts_considered: usize,
    /// Each constraint that blocked the workload on at least one host, with the number of hosts
    /// it blocked on, in [`Constraint`] order. A host short of both CPU and memory counts for
    /// both, so the counts can add up to more than `hosts_considered`. Empty when there are no
    /// hosts.
    pub blocked_by: Vec<Blocker>,
}

impl fmt::Display for Unplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hosts_considered == 0 {
            return write!(
                f,
                "{} could not be placed: there are no hosts",
                self.workload
            );
        }
        write!(
            f,
            "{} fits on none of {}: ",
            self.workload,
            hosts(self.hosts_considered)
        )?;
        for (i, b) in self.blocked_by.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "not enough {b}")?;
        }
        Ok(())
    }
}

/// One constraint and how many hosts it blocked a workload on.
///
/// `Display` renders `"cpu on 3 hosts"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Blocker {
    /// The constraint.
    pub constraint: Constraint,
    /// On how many hosts it was broken.
    pub hosts: usize,
}

impl Blocker {
    pub(crate) fn new(constraint: Constraint, hosts: usize) -> Self {
        Blocker { constraint, hosts }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.constraint, hosts(self.hosts))
    }
}

fn hosts(n: usize) -> String {
    if n == 1 {
        "1 host".to_owned()
    } else {
        format!("{n} hosts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unplaced(hosts_considered: usize, blocked_by: Vec<Blocker>) -> Unplaced {
        Unplaced {
            workload: EntityId::new("batch-7").unwrap(),
            hosts_considered,
            blocked_by,
        }
    }

    #[test]
    fn unplaced_renders_a_sentence() {
        let check = |u: Unplaced, expected: &str| assert_eq!(u.to_string(), expected);
        check(
            unplaced(
                5,
                vec![
                    Blocker::new(Constraint::Cpu, 3),
                    Blocker::new(Constraint::Memory, 5),
                ],
            ),
            "batch-7 fits on none of 5 hosts: not enough cpu on 3 hosts, not enough memory on 5 hosts",
        );
        check(
            unplaced(1, vec![Blocker::new(Constraint::Memory, 1)]),
            "batch-7 fits on none of 1 host: not enough memory on 1 host",
        );
        check(
            unplaced(0, vec![]),
            "batch-7 could not be placed: there are no hosts",
        );
    }
}
