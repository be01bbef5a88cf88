use std::cmp::Ordering;
use std::collections::HashSet;

use kelvin_model::{MarginalPower, Resources, Workload};

use crate::{
    Assignment, Blocker, Constraint, Fit, HostOrder, HostState, PlaceOptions, PlacementError, Plan,
    Rejection, RunnerUp, ScoreBreakdown, Unplaced,
};

/// Relative slack subtracted from `total CPU / largest CPU capacity` before rounding up, so that
/// rounding error in the sums never inflates the lower bound.
const LOWER_BOUND_SLACK: f64 = 1e-6;

/// Places pending workloads onto hosts with first-fit-decreasing on CPU and memory.
///
/// Workloads are taken largest first, where a workload's size is the larger of its CPU request
/// over the largest host CPU capacity and its memory request over the largest host memory
/// capacity (a dimension in which every host has zero capacity contributes nothing); equal sizes
/// are taken in ascending id order, so the plan does not depend on the order of `workloads`. Each goes to the first host, in [`PlaceOptions::host_order`], on which
/// both its CPU and its memory request fit ([`HostState::fits`]); that host's `used` grows by
/// the request before the next workload is placed. A workload that fits nowhere is reported in
/// [`Plan::unplaced`] with the constraints that blocked it; it is not an error, and neither are
/// zero hosts (every workload is then unplaced).
///
/// `power` is the marginal-power model (usually from attribution): with it, hosts are tried most
/// energy-efficient first by default ([`HostOrder::MarginalPower`]), and each assignment reports
/// the model's marginal watts.
///
/// Each [`Assignment`] explains itself: every host tried before its host, with the constraints
/// that rejected the workload there ([`Assignment::rejected`]), and the next hosts on which it
/// also fits, with the score each would have had ([`Assignment::runners_up`], at most
/// [`PlaceOptions::runners_up`]).
///
/// The result is deterministic: the same input gives the same [`Plan`].
///
/// ```
/// use kelvin_model::{EntityId, MarginalPower, Resources, Workload};
/// use kelvin_placement::{place, HostState, PlaceOptions};
///
/// /// Older hosts draw more per core.
/// struct PerCore;
/// impl MarginalPower for PerCore {
///     fn marginal_power_w(&self, host: &EntityId, added: &Resources) -> Option<f64> {
///         let w_per_core = if host.as_str().starts_with("old") { 9.0 } else { 5.5 };
///         Some(w_per_core * added.cpu_cores)
///     }
/// }
///
/// let hosts = [
///     HostState::new(EntityId::new("old-1")?, Resources::new(32.0, 128 << 30)),
///     HostState::new(EntityId::new("new-1")?, Resources::new(64.0, 256 << 30)),
/// ];
/// let job = Workload {
///     id: EntityId::new("etl-3")?,
///     tenant: "analytics".into(),
///     owner: "data-eng".into(),
///     requests: Resources::new(8.0, 32 << 30),
///     host: None,
/// };
/// let plan = place(&hosts, &[job], Some(&PerCore), &PlaceOptions::default())?;
/// let a = &plan.assignments[0];
/// assert_eq!(a.host.as_str(), "new-1");
/// assert_eq!(a.rank, 0); // tried first: most efficient
/// assert_eq!(a.score.marginal_power_w, Some(44.0));
/// assert_eq!(a.score.cpu_free_after, 56.0);
/// // The runner-up, and why: 72 W on the old host.
/// assert_eq!(a.runners_up[0].host.as_str(), "old-1");
/// assert_eq!(
///     a.to_string(),
///     "etl-3 on new-1 (rank 0, 44.0 W extra, cpu 12 % after); runners-up: old-1 (rank 1, 72.0 W extra, cpu 25 % after)",
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`PlacementErrorKind::InvalidInput`](crate::PlacementErrorKind::InvalidInput), naming the
/// workload or host, when:
/// - a workload is already placed (its `host` is `Some`): only pending workloads are placed;
/// - two workloads, or two hosts, share an id;
/// - a CPU amount (request, capacity or used) is negative, NaN or infinite;
/// - `opts.host_order` is [`HostOrder::MarginalPower`] and `power` is `None`.
pub fn place(
    hosts: &[HostState],
    workloads: &[Workload],
    power: Option<&dyn MarginalPower>,
    opts: &PlaceOptions,
) -> Result<Plan, PlacementError> {
    validate_hosts(hosts)?;
    validate_workloads(workloads)?;
    let order_by_power = match (opts.host_order, power) {
        (HostOrder::Inventory, _) | (HostOrder::Auto, None) => None,
        (HostOrder::Auto | HostOrder::MarginalPower, Some(model)) => Some(model),
        (HostOrder::MarginalPower, None) => {
            return Err(PlacementError::for_call(
                "host order MarginalPower needs a marginal-power model, but none was given",
            ));
        }
    };

    let max_cpu = hosts
        .iter()
        .map(|h| h.capacity.cpu_cores)
        .fold(0.0, f64::max);
    let max_mem = hosts
        .iter()
        .map(|h| h.capacity.memory_bytes)
        .max()
        .unwrap_or(0);
    let mut queue: Vec<(f64, &Workload)> = workloads
        .iter()
        .map(|w| (size(&w.requests, max_cpu, max_mem), w))
        .collect();
    queue.sort_by(|(sa, a), (sb, b)| sb.total_cmp(sa).then_with(|| a.id.cmp(&b.id)));

    let mut state: Vec<HostState> = hosts.to_vec();
    let mut assigned = vec![false; hosts.len()];
    let mut order: Vec<usize> = (0..hosts.len()).collect();
    let mut watts: Vec<Option<f64>> = vec![None; hosts.len()];
    let mut plan = Plan {
        assignments: Vec::new(),
        unplaced: Vec::new(),
        lower_bound_hosts: lower_bound(hosts, workloads, max_cpu, max_mem),
        hosts_used: 0,
    };

    for (_, w) in queue {
        if let Some(model) = order_by_power {
            for (slot, h) in watts.iter_mut().zip(&state) {
                *slot = marginal_watts(model, h, &w.requests);
            }
            order.clear();
            order.extend(0..hosts.len());
            // Stable: ties and hosts without a model keep the order given.
            order.sort_by(|&a, &b| by_watts(watts[a], watts[b]));
        }
        let scan = Scan::run(&state, &order, &w.requests, opts.runners_up);
        let Some((rank, i)) = scan.chosen else {
            plan.unplaced.push(scan.unplaced(w, hosts.len()));
            continue;
        };
        let watts_at = |h: &HostState, i: usize| match (order_by_power, power) {
            (Some(_), _) => watts[i],
            (None, Some(model)) => marginal_watts(model, h, &w.requests),
            (None, None) => None,
        };
        let runners_up = scan
            .runners_up
            .iter()
            .map(|&(rank, j)| RunnerUp {
                host: state[j].id.clone(),
                rank,
                score: score_if(&state[j], &w.requests, watts_at(&state[j], j)),
            })
            .collect();
        let rejected = scan
            .rejected
            .iter()
            .map(|(j, fit)| Rejection {
                host: state[*j].id.clone(),
                constraints: fit.blocking().collect(),
            })
            .collect();
        let marginal_power_w = watts_at(&state[i], i);
        let host = &mut state[i];
        host.take(&w.requests);
        assigned[i] = true;
        plan.assignments.push(Assignment {
            workload: w.id.clone(),
            host: host.id.clone(),
            rank,
            score: score(host, marginal_power_w),
            rejected,
            runners_up,
        });
    }

    plan.hosts_used = state
        .iter()
        .zip(&assigned)
        .filter(|(h, a)| **a || h.is_loaded())
        .count();
    Ok(plan)
}

/// One workload's pass over the hosts in the order tried: the first that fits, every host
/// before it with what it broke, and up to `runners_up` more that fit.
struct Scan {
    /// `(rank, host index)` of the first host that fits.
    chosen: Option<(usize, usize)>,
    /// `(host index, fit)` of each host before it (all of them when none fits).
    rejected: Vec<(usize, Fit)>,
    /// `(rank, host index)` of the next hosts that fit.
    runners_up: Vec<(usize, usize)>,
}

impl Scan {
    fn run(state: &[HostState], order: &[usize], req: &Resources, runners_up: usize) -> Scan {
        let mut scan = Scan {
            chosen: None,
            rejected: Vec::new(),
            runners_up: Vec::new(),
        };
        for (rank, &i) in order.iter().enumerate() {
            let fit = state[i].fits(req);
            match (scan.chosen, fit.is_fit()) {
                (None, true) => scan.chosen = Some((rank, i)),
                (None, false) => scan.rejected.push((i, fit)),
                (Some(_), true) => scan.runners_up.push((rank, i)),
                (Some(_), false) => {}
            }
            if scan.chosen.is_some() && scan.runners_up.len() >= runners_up {
                break;
            }
        }
        scan
    }

    /// The explanation of a workload that fits on none of the `hosts` hosts.
    fn unplaced(&self, w: &Workload, hosts: usize) -> Unplaced {
        Unplaced {
            workload: w.id.clone(),
            hosts_considered: hosts,
            blocked_by: Constraint::ALL
                .into_iter()
                .map(|c| (c, self.rejected.iter().filter(|(_, f)| f.blocks(c)).count()))
                .filter(|&(_, n)| n > 0)
                .map(|(c, n)| Blocker::new(c, n))
                .collect(),
        }
    }
}

fn validate_hosts(hosts: &[HostState]) -> Result<(), PlacementError> {
    let mut seen = HashSet::with_capacity(hosts.len());
    for h in hosts {
        if !seen.insert(&h.id) {
            return Err(PlacementError::for_host(
                &h.id,
                format!("host {} is listed twice", h.id),
            ));
        }
        for (what, cpu) in [
            ("capacity", h.capacity.cpu_cores),
            ("used", h.used.cpu_cores),
        ] {
            if !(cpu.is_finite() && cpu >= 0.0) {
                return Err(PlacementError::for_host(
                    &h.id,
                    format!(
                        "host {}: {what} CPU must be a finite non-negative number of cores, got {cpu}",
                        h.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn validate_workloads(workloads: &[Workload]) -> Result<(), PlacementError> {
    let mut seen = HashSet::with_capacity(workloads.len());
    for w in workloads {
        let id = &w.id;
        if !seen.insert(id) {
            return Err(PlacementError::for_workload(
                id,
                format!("workload {id} is listed twice"),
            ));
        }
        if let Some(host) = &w.host {
            return Err(PlacementError::for_workload(
                id,
                format!(
                    "workload {id} is already placed on {host}; only pending workloads can be placed"
                ),
            ));
        }
        let cpu = w.requests.cpu_cores;
        if !(cpu.is_finite() && cpu >= 0.0) {
            return Err(PlacementError::for_workload(
                id,
                format!(
                    "workload {id}: CPU request must be a finite non-negative number of cores, got {cpu}"
                ),
            ));
        }
    }
    Ok(())
}

/// The FFD sort key: the largest share of the largest host that the request takes.
fn size(req: &Resources, max_cpu: f64, max_mem: u64) -> f64 {
    let cpu = if max_cpu > 0.0 {
        req.cpu_cores / max_cpu
    } else {
        0.0
    };
    // u64 -> f64 rounds above 2^53 bytes (8 PiB); the key only orders workloads.
    let mem = if max_mem > 0 {
        req.memory_bytes as f64 / max_mem as f64
    } else {
        0.0
    };
    cpu.max(mem)
}

fn lower_bound(hosts: &[HostState], workloads: &[Workload], max_cpu: f64, max_mem: u64) -> usize {
    let total_cpu: f64 = hosts.iter().map(|h| h.used.cpu_cores).sum::<f64>()
        + workloads.iter().map(|w| w.requests.cpu_cores).sum::<f64>();
    let total_mem: u128 = hosts
        .iter()
        .map(|h| u128::from(h.used.memory_bytes))
        .sum::<u128>()
        + workloads
            .iter()
            .map(|w| u128::from(w.requests.memory_bytes))
            .sum::<u128>();
    let mut bound = usize::from(!workloads.is_empty() || hosts.iter().any(HostState::is_loaded));
    if max_cpu > 0.0 {
        // Finite and non-negative after validation; `as` saturates.
        let cpu = (total_cpu / max_cpu - LOWER_BOUND_SLACK).ceil().max(0.0) as usize;
        bound = bound.max(cpu);
    }
    if max_mem > 0 {
        let mem = total_mem.div_ceil(u128::from(max_mem));
        bound = bound.max(usize::try_from(mem).unwrap_or(usize::MAX));
    }
    let max_gpus = hosts.iter().map(|h| h.capacity.gpus).max().unwrap_or(0);
    if max_gpus > 0 {
        let total_gpus: u64 = hosts.iter().map(|h| u64::from(h.used.gpus)).sum::<u64>()
            + workloads
                .iter()
                .map(|w| u64::from(w.requests.gpus))
                .sum::<u64>();
        let gpus = total_gpus.div_ceil(u64::from(max_gpus));
        bound = bound.max(usize::try_from(gpus).unwrap_or(usize::MAX));
    }
    bound
}

/// The model's answer for `req` on `host`, discarding non-finite values.
fn marginal_watts(model: &dyn MarginalPower, host: &HostState, req: &Resources) -> Option<f64> {
    model
        .marginal_power_w(&host.id, req)
        .filter(|w| w.is_finite())
}

/// Ascending watts; hosts without an answer last.
fn by_watts(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The score `host` would have with `req` added.
fn score_if(host: &HostState, req: &Resources, marginal_power_w: Option<f64>) -> ScoreBreakdown {
    let mut after = host.clone();
    after.take(req);
    score(&after, marginal_power_w)
}

fn score(host: &HostState, marginal_power_w: Option<f64>) -> ScoreBreakdown {
    let free = host.free();
    let ratio = |used: f64, cap: f64| if cap > 0.0 { used / cap } else { 0.0 };
    let memory_utilization_after = ratio(
        host.used.memory_bytes as f64,
        host.capacity.memory_bytes as f64,
    );
    ScoreBreakdown {
        cpu_free_after: free.cpu_cores,
        memory_free_after: free.memory_bytes,
        cpu_utilization_after: ratio(host.used.cpu_cores, host.capacity.cpu_cores),
        memory_utilization_after,
        marginal_power_w,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use kelvin_model::{EntityId, Host, Inventory};

    use super::*;
    use crate::{PlacementErrorKind, host_states};

    const GIB: u64 = 1 << 30;

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    fn host(name: &str, cpu: f64, mem_gib: u64) -> HostState {
        HostState::new(id(name), Resources::new(cpu, mem_gib * GIB))
    }

    fn pending(name: &str, cpu: f64, mem_gib: u64) -> Workload {
        Workload {
            id: id(name),
            tenant: "tenant-a".into(),
            owner: "team-a".into(),
            requests: Resources::new(cpu, mem_gib * GIB),
            host: None,
        }
    }

    fn run(hosts: &[HostState], workloads: &[Workload]) -> Plan {
        place(hosts, workloads, None, &PlaceOptions::default()).unwrap()
    }

    /// `(workload, host)` pairs in placement order.
    fn pairs(plan: &Plan) -> Vec<(&str, &str)> {
        plan.assignments
            .iter()
            .map(|a| (a.workload.as_str(), a.host.as_str()))
            .collect()
    }

    /// Watts per core per host; hosts missing from the map have no model.
    struct PerCore(HashMap<&'static str, f64>);

    impl MarginalPower for PerCore {
        fn marginal_power_w(&self, host: &EntityId, added: &Resources) -> Option<f64> {
            self.0.get(host.as_str()).map(|w| w * added.cpu_cores)
        }
    }

    #[test]
    fn classic_ffd_instance() {
        // Items 0.5 0.7 0.5 0.2 0.4 0.2 0.5 0.1 0.6 of a unit bin, scaled to 40-core hosts so the
        // arithmetic is exact. By hand, decreasing order 0.7 0.6 0.5 0.5 0.5 0.4 0.2 0.2 0.1:
        // 0.7→B1, 0.6→B2, 0.5→B3, 0.5→B3 (full), 0.5→B4, 0.4→B2 (full), 0.2→B1, 0.2→B4,
        // 0.1→B1 (full): 4 bins, which is also ceil(3.7) = the lower bound.
        let hosts: Vec<HostState> = (1..=5).map(|i| host(&format!("h{i}"), 40.0, 256)).collect();
        let cores = [20.0, 28.0, 20.0, 8.0, 16.0, 8.0, 20.0, 4.0, 24.0];
        let workloads: Vec<Workload> = cores
            .iter()
            .enumerate()
            .map(|(i, c)| pending(&format!("w{i}"), *c, 1))
            .collect();
        let plan = run(&hosts, &workloads);
        assert_eq!(
            pairs(&plan),
            [
                ("w1", "h1"),
                ("w8", "h2"),
                ("w0", "h3"), // the three 20-core items go in id order
                ("w2", "h3"),
                ("w6", "h4"),
                ("w4", "h2"),
                ("w3", "h1"),
                ("w5", "h4"),
                ("w7", "h1"),
            ]
        );
        let ranks: Vec<usize> = plan.assignments.iter().map(|a| a.rank).collect();
        assert_eq!(ranks, [0, 1, 2, 2, 3, 1, 0, 3, 0]);
        assert!(plan.is_complete());
        assert_eq!((plan.hosts_used, plan.lower_bound_hosts), (4, 4));
        // h1 ends exactly full: 28 + 8 + 4.
        let last = plan.assignments.last().unwrap();
        assert_eq!(last.score.cpu_free_after, 0.0);
        assert_eq!(last.score.cpu_utilization_after, 1.0);
        assert_eq!(last.score.memory_free_after, 253 * GIB);
        assert_eq!(last.score.marginal_power_w, None);
    }

    #[test]
    fn assignments_name_rejected_hosts_and_runners_up() {
        let hosts = [
            host("full", 64.0, 128).with_used(Resources::new(8.0, 120 * GIB)),
            host("busy", 16.0, 128).with_used(Resources::new(14.0, 0)),
            host("h3", 32.0, 128),
            host("h4", 32.0, 64),
            host("h5", 32.0, 128),
        ];
        let web = [pending("web", 8.0, 16)];
        let plan = run(&hosts, &web);
        let a = &plan.assignments[0];
        assert_eq!((a.host.as_str(), a.rank), ("h3", 2));
        let rejected: Vec<(&str, &[Constraint])> = a
            .rejected
            .iter()
            .map(|r| (r.host.as_str(), r.constraints.as_slice()))
            .collect();
        assert_eq!(
            rejected,
            [
                ("full", &[Constraint::Memory][..]),
                ("busy", &[Constraint::Cpu][..])
            ]
        );
        let runners: Vec<(&str, usize)> = a
            .runners_up
            .iter()
            .map(|r| (r.host.as_str(), r.rank))
            .collect();
        assert_eq!(runners, [("h4", 3), ("h5", 4)]);
        assert_eq!(a.runners_up[0].score.memory_free_after, 48 * GIB);
        assert_eq!(
            a.to_string(),
            "web on h3 (rank 2, cpu 25 % after); rejected: full (memory), busy (cpu); \
             runners-up: h4 (rank 3, cpu 25 % after), h5 (rank 4, cpu 25 % after)"
        );
        // As many runners-up as asked, never more than fit.
        let opts = |n| PlaceOptions::default().with_runners_up(n);
        let few = place(&hosts, &web, None, &opts(1)).unwrap();
        assert_eq!(few.assignments[0].runners_up.len(), 1);
        let none = place(&hosts, &web, None, &opts(0)).unwrap();
        assert!(none.assignments[0].runners_up.is_empty());
        assert_eq!(none.assignments[0].rejected, a.rejected);
        let many = place(&hosts, &web, None, &opts(9)).unwrap();
        assert_eq!(many.assignments[0].runners_up, a.runners_up);
    }

    #[test]
    fn memory_bound_instance() {
        // Plenty of CPU, but only two 48 GiB workloads fit in 128 GiB.
        let hosts = [host("h1", 64.0, 128), host("h2", 64.0, 128)];
        let workloads: Vec<Workload> = (1..=5)
            .map(|i| pending(&format!("cache-{i}"), 2.0, 48))
            .collect();
        let plan = run(&hosts, &workloads);
        assert_eq!(
            pairs(&plan),
            [
                ("cache-1", "h1"),
                ("cache-2", "h1"),
                ("cache-3", "h2"),
                ("cache-4", "h2")
            ]
        );
        assert_eq!(plan.assignments[1].score.memory_free_after, 32 * GIB);
        assert_eq!(plan.assignments[1].score.memory_utilization_after, 0.75);
        assert_eq!(plan.assignments[1].score.cpu_free_after, 60.0);
        let [u] = plan.unplaced.as_slice() else {
            panic!("{:?}", plan.unplaced)
        };
        assert_eq!(u.workload.as_str(), "cache-5");
        // CPU blocked nowhere, so it is not listed.
        assert_eq!(u.blocked_by, [Blocker::new(Constraint::Memory, 2)]);
        assert_eq!(
            u.to_string(),
            "cache-5 fits on none of 2 hosts: not enough memory on 2 hosts"
        );
        // 240 GiB over 128 GiB hosts: at least 2.
        assert_eq!((plan.hosts_used, plan.lower_bound_hosts), (2, 2));
    }

    #[test]
    fn unplaceable_workload_reports_each_constraint_with_host_counts() {
        let hosts = [
            host("small", 32.0, 128),                                   // cpu, memory
            host("busy", 64.0, 512).with_used(Resources::new(60.0, 0)), // cpu
            host("fat", 16.0, 512),                                     // cpu
            host("tight", 64.0, 512).with_used(Resources::new(8.0, 400 * GIB)), // memory
        ];
        let plan = run(&hosts, &[pending("big", 40.0, 256)]);
        assert!(plan.assignments.is_empty());
        let u = &plan.unplaced[0];
        assert_eq!(u.hosts_considered, 4);
        assert_eq!(
            u.blocked_by,
            [
                Blocker::new(Constraint::Cpu, 3),
                Blocker::new(Constraint::Memory, 2)
            ]
        );
        assert_eq!(
            u.to_string(),
            "big fits on none of 4 hosts: not enough cpu on 3 hosts, not enough memory on 2 hosts"
        );
        // Already-loaded hosts count as used even when nothing new lands on them.
        assert_eq!(plan.hosts_used, 2);
    }

    #[test]
    fn capacity_already_used_is_respected() {
        let hw = |name: &str| Host {
            id: id(name),
            rack: id("r1"),
            capacity: Resources::new(64.0, 256 * GIB),
            pdu: None,
        };
        let mut running = pending("db-1", 60.0, 64);
        running.host = Some(id("h1"));
        let inv = Inventory {
            hosts: vec![hw("h1"), hw("h2")],
            workloads: vec![running],
            ..Inventory::default()
        };
        let hosts = host_states(&inv);
        let plan = run(
            &hosts,
            &[pending("web-1", 8.0, 16), pending("sidecar", 4.0, 1)],
        );
        // web-1 does not fit in h1's 4 free cores; the sidecar does.
        assert_eq!(pairs(&plan), [("web-1", "h2"), ("sidecar", "h1")]);
        assert_eq!(plan.assignments[0].rank, 1);
        assert_eq!(plan.assignments[1].score.cpu_free_after, 0.0);
        assert_eq!(plan.assignments[1].score.memory_free_after, 191 * GIB);
        assert_eq!(plan.hosts_used, 2);
        // 72 cores over 64-core hosts.
        assert_eq!(plan.lower_bound_hosts, 2);
    }

    #[test]
    fn marginal_power_order_prefers_the_most_efficient_host() {
        let hosts = [
            host("old", 32.0, 128),
            host("unknown", 64.0, 256),
            host("new", 32.0, 128),
            host("mid", 32.0, 128),
        ];
        let model = PerCore(HashMap::from([("old", 10.0), ("new", 6.0), ("mid", 8.0)]));
        let workloads = [
            pending("a", 16.0, 32),
            pending("b", 16.0, 32),
            pending("c", 16.0, 32),
        ];

        let plan = place(&hosts, &workloads, Some(&model), &PlaceOptions::default()).unwrap();
        // Tried new, mid, old, then unknown (no model) last.
        assert_eq!(pairs(&plan), [("a", "new"), ("b", "new"), ("c", "mid")]);
        let ranks: Vec<usize> = plan.assignments.iter().map(|a| a.rank).collect();
        assert_eq!(ranks, [0, 0, 1]);
        let watts: Vec<Option<f64>> = plan
            .assignments
            .iter()
            .map(|a| a.score.marginal_power_w)
            .collect();
        assert_eq!(watts, [Some(96.0), Some(96.0), Some(128.0)]);

        // Explicitly requested: the same.
        let opts = PlaceOptions::default().with_host_order(HostOrder::MarginalPower);
        assert_eq!(
            place(&hosts, &workloads, Some(&model), &opts).unwrap(),
            plan
        );

        // Hosts without a model come last, in the order given.
        let big = [pending("huge", 40.0, 32), pending("huge-2", 40.0, 32)];
        let plan = place(&hosts, &big, Some(&model), &PlaceOptions::default()).unwrap();
        assert_eq!(pairs(&plan), [("huge", "unknown")]);
        assert_eq!(plan.assignments[0].rank, 3);
        assert_eq!(plan.assignments[0].score.marginal_power_w, None);
        assert_eq!(plan.unplaced[0].workload.as_str(), "huge-2");

        // Inventory order ignores the model for ordering but still reports its watts.
        let opts = PlaceOptions::default().with_host_order(HostOrder::Inventory);
        let plan = place(&hosts, &workloads, Some(&model), &opts).unwrap();
        assert_eq!(pairs(&plan), [("a", "old"), ("b", "old"), ("c", "unknown")]);
        assert_eq!(plan.assignments[0].score.marginal_power_w, Some(160.0));
        assert_eq!(plan.assignments[2].score.marginal_power_w, None);
    }

    #[test]
    fn non_finite_model_answers_count_as_no_model() {
        struct Broken;
        impl MarginalPower for Broken {
            fn marginal_power_w(&self, host: &EntityId, _: &Resources) -> Option<f64> {
                (host.as_str() == "nan").then_some(f64::NAN).or(Some(50.0))
            }
        }
        let hosts = [host("nan", 32.0, 128), host("ok", 32.0, 128)];
        let plan = place(
            &hosts,
            &[pending("a", 1.0, 1)],
            Some(&Broken),
            &PlaceOptions::default(),
        )
        .unwrap();
        assert_eq!(pairs(&plan), [("a", "ok")]);
        assert_eq!(plan.assignments[0].score.marginal_power_w, Some(50.0));
    }

    #[test]
    fn plans_are_deterministic_and_independent_of_input_order() {
        let hosts = [
            host("h1", 48.0, 192),
            host("h2", 32.0, 256),
            host("h3", 64.0, 128),
        ];
        let mut workloads = vec![
            pending("a", 8.0, 64),
            pending("b", 12.0, 8),
            pending("c", 0.5, 1),
            pending("d", 16.0, 48),
            pending("e", 8.0, 64), // same size as a: id order decides
            pending("f", 16.0, 48),
            pending("g", 4.0, 32),
        ];
        let first = run(&hosts, &workloads);
        assert_eq!(run(&hosts, &workloads), first);
        workloads.reverse();
        assert_eq!(run(&hosts, &workloads), first);
        workloads.swap(1, 5);
        assert_eq!(run(&hosts, &workloads), first);
    }

    #[test]
    fn zero_hosts_leave_everything_unplaced() {
        let plan = run(&[], &[pending("a", 1.0, 1), pending("b", 2.0, 2)]);
        assert!(plan.assignments.is_empty());
        // With no capacity to measure sizes against, every size is 0 and ids decide the order.
        let ids: Vec<&str> = plan.unplaced.iter().map(|u| u.workload.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(
            plan.unplaced
                .iter()
                .all(|u| u.blocked_by.is_empty() && u.hosts_considered == 0)
        );
        assert_eq!(
            plan.unplaced[0].to_string(),
            "a could not be placed: there are no hosts"
        );
        assert_eq!((plan.hosts_used, plan.lower_bound_hosts), (0, 1));

        let empty = run(&[], &[]);
        assert_eq!((empty.hosts_used, empty.lower_bound_hosts), (0, 0));
        assert!(empty.is_complete());
    }

    #[test]
    fn zero_size_workloads_need_one_host() {
        let plan = run(
            &[host("h1", 32.0, 128), host("h2", 32.0, 128)],
            &[pending("noop", 0.0, 0)],
        );
        assert_eq!(pairs(&plan), [("noop", "h1")]);
        assert_eq!((plan.hosts_used, plan.lower_bound_hosts), (1, 1));
    }

    #[test]
    fn lower_bound_uses_the_largest_host_and_skips_empty_dimensions() {
        // 96 cores: 2 hosts of 64 at least, although the 32-core host would need 3.
        let hosts = [
            host("big", 64.0, 512),
            host("small", 32.0, 512),
            host("small-2", 32.0, 512),
        ];
        let workloads: Vec<Workload> = (0..6).map(|i| pending(&format!("w{i}"), 16.0, 8)).collect();
        let plan = run(&hosts, &workloads);
        assert_eq!((plan.hosts_used, plan.lower_bound_hosts), (2, 2));

        // No host has memory: the memory dimension is skipped, the unplaced list explains.
        let plan = run(
            &[host("h1", 32.0, 0)],
            &[pending("a", 1.0, 1), pending("b", 40.0, 0)],
        );
        assert_eq!(plan.lower_bound_hosts, 2);
        let blocked: Vec<String> = plan.unplaced.iter().map(ToString::to_string).collect();
        assert_eq!(
            blocked,
            [
                "b fits on none of 1 host: not enough cpu on 1 host",
                "a fits on none of 1 host: not enough memory on 1 host",
            ]
        );
    }

    #[test]
    fn float_sums_do_not_inflate_the_lower_bound() {
        // Ten 0.1 + 0.2 + ... style requests that add up to exactly 3 hosts' worth in decimal.
        let hosts: Vec<HostState> = (0..3).map(|i| host(&format!("h{i}"), 3.0, 128)).collect();
        let workloads: Vec<Workload> = (0..30)
            .map(|i| pending(&format!("w{i:02}"), 0.3, 1))
            .collect();
        let plan = run(&hosts, &workloads);
        assert_eq!(plan.lower_bound_hosts, 3);
        assert!(plan.is_complete(), "{:?}", plan.unplaced);
        assert_eq!(plan.hosts_used, 3);
    }

    #[test]
    fn invalid_input_is_rejected_naming_the_culprit() {
        let hosts = [host("h1", 32.0, 128)];
        let check_workloads = |workloads: &[Workload], culprit: &str, reason: &str| {
            let e = place(&hosts, workloads, None, &PlaceOptions::default()).unwrap_err();
            assert_eq!(e.kind(), PlacementErrorKind::InvalidInput);
            assert_eq!(e.workload().map(EntityId::as_str), Some(culprit));
            assert_eq!(e.host(), None);
            assert_eq!(e.to_string(), reason);
            assert_eq!(e.reason(), reason);
        };
        let mut placed = pending("web-1", 1.0, 1);
        placed.host = Some(id("h1"));
        check_workloads(
            &[pending("a", 1.0, 1), placed],
            "web-1",
            "workload web-1 is already placed on h1; only pending workloads can be placed",
        );
        check_workloads(
            &[
                pending("a", 1.0, 1),
                pending("b", 1.0, 1),
                pending("a", 2.0, 1),
            ],
            "a",
            "workload a is listed twice",
        );
        check_workloads(
            &[pending("neg", -1.0, 1)],
            "neg",
            "workload neg: CPU request must be a finite non-negative number of cores, got -1",
        );
        check_workloads(
            &[pending("nan", f64::NAN, 1)],
            "nan",
            "workload nan: CPU request must be a finite non-negative number of cores, got NaN",
        );
        check_workloads(
            &[pending("inf", f64::INFINITY, 1)],
            "inf",
            "workload inf: CPU request must be a finite non-negative number of cores, got inf",
        );

        // GPUs are a constraint: a GPU job goes to the host that has them, or nowhere.
        let mut train = pending("train", 8.0, 64);
        train.requests.gpus = 2;
        let plain = host("plain", 64.0, 512);
        let mut gpu_host = host("gpu", 64.0, 512);
        gpu_host.capacity.gpus = 4;
        let plan = place(
            &[plain.clone(), gpu_host],
            std::slice::from_ref(&train),
            None,
            &PlaceOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.host_of(&train.id).map(EntityId::as_str), Some("gpu"));
        let plan = place(&[plain], &[train], None, &PlaceOptions::default()).unwrap();
        assert_eq!(
            plan.unplaced[0].to_string(),
            "train fits on none of 1 host: not enough gpu on 1 host"
        );

        let check_hosts = |hosts: &[HostState], culprit: &str, reason: &str| {
            let e = place(hosts, &[], None, &PlaceOptions::default()).unwrap_err();
            assert_eq!(e.kind(), PlacementErrorKind::InvalidInput);
            assert_eq!(e.host().map(EntityId::as_str), Some(culprit));
            assert_eq!(e.workload(), None);
            assert_eq!(e.to_string(), reason);
        };
        check_hosts(
            &[
                host("h1", 32.0, 128),
                host("h2", 32.0, 128),
                host("h1", 64.0, 128),
            ],
            "h1",
            "host h1 is listed twice",
        );
        check_hosts(
            &[host("h1", f64::NAN, 128)],
            "h1",
            "host h1: capacity CPU must be a finite non-negative number of cores, got NaN",
        );
        check_hosts(
            &[host("h1", 32.0, 128).with_used(Resources::new(-0.5, 0))],
            "h1",
            "host h1: used CPU must be a finite non-negative number of cores, got -0.5",
        );

        let opts = PlaceOptions::default().with_host_order(HostOrder::MarginalPower);
        let e = place(&hosts, &[], None, &opts).unwrap_err();
        assert_eq!(e.kind(), PlacementErrorKind::InvalidInput);
        assert_eq!((e.workload(), e.host()), (None, None));
        assert!(e.reason().contains("needs a marginal-power model"), "{e}");
    }
}
