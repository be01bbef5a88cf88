use std::collections::{HashMap, HashSet};

use kelvin_model::{EntityId, MarginalPower, Resources, Workload};
use kelvin_placement::{CPU_EPSILON_CORES, HostOrder, HostState, PlaceOptions, Plan, place};
use proptest::prelude::*;

use crate::support::{GIB, PerCore, brute_force_min_hosts, fits, host, id, pending, size};

/// A fleet of 32–64-core, 128–512 GiB hosts, some already partly used (never overcommitted).
fn hosts(max: usize) -> impl Strategy<Value = Vec<HostState>> {
    let one = (
        32u32..=64,
        128u64..=512,
        prop::option::of((0.0f64..=1.0, 0.0f64..=1.0)),
    );
    prop::collection::vec(one, 0..=max).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (cpu, mem_gib, used))| {
                let h = host(&format!("h{i}"), f64::from(cpu), mem_gib);
                match used {
                    None => h,
                    Some((fc, fm)) => {
                        let used = Resources::new(
                            h.capacity.cpu_cores * fc,
                            (h.capacity.memory_bytes as f64 * fm) as u64,
                        );
                        h.with_used(used)
                    }
                }
            })
            .collect()
    })
}

/// Pending workloads of 0.5–16 cores (any fraction) and 1–64 GiB (any byte count).
fn workloads(max: usize) -> impl Strategy<Value = Vec<Workload>> {
    prop::collection::vec((0.5f64..=16.0, GIB..=64 * GIB), 0..=max).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (cpu, mem))| pending(&format!("w{i:03}"), cpu, mem))
            .collect()
    })
}

/// An optional power model: 3–12 W per core for some of the (up to 8) hosts.
fn model() -> impl Strategy<Value = Option<Vec<Option<f64>>>> {
    prop::option::of(prop::collection::vec(
        prop::option::weighted(0.8, 3.0f64..=12.0),
        8,
    ))
}

fn build_model(spec: &Option<Vec<Option<f64>>>, hosts: &[HostState]) -> Option<PerCore> {
    spec.as_ref().map(|per_host| {
        PerCore(
            hosts
                .iter()
                .zip(per_host)
                .filter_map(|(h, w)| w.map(|w| (h.id.clone(), w)))
                .collect(),
        )
    })
}

fn run(hosts: &[HostState], workloads: &[Workload], model: Option<&PerCore>) -> Plan {
    let model = model.map(|m| m as &dyn MarginalPower);
    place(hosts, workloads, model, &PlaceOptions::default()).unwrap()
}

/// The order hosts are tried in for `req`, recomputed as documented on `HostOrder`.
fn tried_order(hosts: &[HostState], req: &Resources, model: Option<&PerCore>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..hosts.len()).collect();
    if let Some(m) = model {
        let w: Vec<Option<f64>> = hosts
            .iter()
            .map(|h| m.marginal_power_w(&h.id, req))
            .collect();
        order.sort_by(|&a, &b| match (w[a], w[b]) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => y.is_some().cmp(&x.is_some()),
        });
    }
    order
}

fn unplaced_ids(plan: &Plan) -> HashSet<EntityId> {
    plan.unplaced.iter().map(|u| u.workload.clone()).collect()
}

proptest! {
    /// Replays the plan from the input: each assignment goes to the first host (in the
    /// documented order) with room, capacity holds on every dimension afterwards, the score is
    /// the recomputed state, and unplaced workloads fit nowhere even at the end.
    #[test]
    fn assignments_respect_capacity_and_first_fit(
        hosts in hosts(6), workloads in workloads(40), spec in model(),
    ) {
        let model = build_model(&spec, &hosts);
        let plan = run(&hosts, &workloads, model.as_ref());
        let index: HashMap<&EntityId, usize> =
            hosts.iter().enumerate().map(|(i, h)| (&h.id, i)).collect();
        let by_id: HashMap<&EntityId, &Workload> = workloads.iter().map(|w| (&w.id, w)).collect();

        let mut state = hosts.clone();
        for a in &plan.assignments {
            let i = index[&a.host];
            let req = by_id[&a.workload].requests;
            let order = tried_order(&state, &req, model.as_ref());
            prop_assert_eq!(order[a.rank], i, "{:?}", a);
            for &j in &order[..a.rank] {
                let (cpu, mem) = fits(&state[j], &req);
                prop_assert!(!(cpu && mem), "{} skipped {} which had room", a.workload, state[j].id);
            }
            let (cpu, mem) = fits(&state[i], &req);
            prop_assert!(cpu && mem, "{:?} does not fit", a);

            let h = &mut state[i];
            h.used.cpu_cores += req.cpu_cores;
            h.used.memory_bytes += req.memory_bytes;
            prop_assert!(h.used.cpu_cores <= h.capacity.cpu_cores + 2.0 * CPU_EPSILON_CORES);
            prop_assert!(h.used.memory_bytes <= h.capacity.memory_bytes);

            let s = &a.score;
            prop_assert_eq!(s.memory_free_after, h.capacity.memory_bytes - h.used.memory_bytes);
            let cpu_free = (h.capacity.cpu_cores - h.used.cpu_cores).max(0.0);
            prop_assert!((s.cpu_free_after - cpu_free).abs() <= 1e-9);
            let cpu_util = h.used.cpu_cores / h.capacity.cpu_cores;
            prop_assert!((s.cpu_utilization_after - cpu_util).abs() <= 1e-9);
            let mem_util = h.used.memory_bytes as f64 / h.capacity.memory_bytes as f64;
            prop_assert!((s.memory_utilization_after - mem_util).abs() <= 1e-9);
            let watts = model.as_ref().and_then(|m| m.marginal_power_w(&h.id, &req));
            prop_assert_eq!(s.marginal_power_w, watts);
        }

        for u in &plan.unplaced {
            let req = by_id[&u.workload].requests;
            prop_assert_eq!(u.hosts_considered, hosts.len());
            prop_assert_eq!(u.blocked_by.is_empty(), hosts.is_empty());
            for b in &u.blocked_by {
                prop_assert!(b.hosts >= 1 && b.hosts <= hosts.len());
            }
            for h in &state {
                let (cpu, mem) = fits(h, &req);
                prop_assert!(!(cpu && mem), "{} would fit on {}", u.workload, h.id);
            }
        }

        // Largest first, ties by id, among the placed and among the unplaced.
        let key = |w: &EntityId| (size(&by_id[w].requests, &hosts), w.clone());
        let placed: Vec<_> = plan.assignments.iter().map(|a| key(&a.workload)).collect();
        let left: Vec<_> = plan.unplaced.iter().map(|u| key(&u.workload)).collect();
        for seq in [placed, left] {
            for pair in seq.windows(2) {
                let ((sa, a), (sb, b)) = (&pair[0], &pair[1]);
                prop_assert!(sa > sb || (sa == sb && a < b), "{a} before {b}");
            }
        }

        let loaded = state
            .iter()
            .filter(|h| h.used.cpu_cores > 0.0 || h.used.memory_bytes > 0)
            .count();
        prop_assert_eq!(plan.hosts_used, loaded);
        if plan.is_complete() {
            prop_assert!(plan.lower_bound_hosts <= plan.hosts_used);
        }
    }

    /// Same input, same plan; and the order in which workloads are listed does not matter.
    #[test]
    fn plans_are_deterministic(
        hosts in hosts(6),
        (workloads, shuffled) in workloads(40)
            .prop_flat_map(|w| (Just(w.clone()), Just(w).prop_shuffle())),
        spec in model(),
    ) {
        let model = build_model(&spec, &hosts);
        let plan = run(&hosts, &workloads, model.as_ref());
        prop_assert_eq!(&run(&hosts, &workloads, model.as_ref()), &plan);
        prop_assert_eq!(&run(&hosts, &shuffled, model.as_ref()), &plan);
    }

    /// Every workload is either assigned or unplaced, exactly once, and nothing else appears.
    #[test]
    fn every_workload_is_accounted_for_once(
        hosts in hosts(6), workloads in workloads(40), spec in model(),
    ) {
        let model = build_model(&spec, &hosts);
        let plan = run(&hosts, &workloads, model.as_ref());
        let mut seen: Vec<&EntityId> = plan
            .assignments
            .iter()
            .map(|a| &a.workload)
            .chain(plan.unplaced.iter().map(|u| &u.workload))
            .collect();
        seen.sort();
        let mut expected: Vec<&EntityId> = workloads.iter().map(|w| &w.id).collect();
        expected.sort();
        prop_assert_eq!(seen, expected);
        for a in &plan.assignments {
            prop_assert_eq!(plan.host_of(&a.workload), Some(&a.host));
        }
        for u in &plan.unplaced {
            prop_assert_eq!(plan.host_of(&u.workload), None);
        }
    }

    /// Appending a host at the end of the order keeps every earlier assignment where it was, so
    /// the unplaced workloads can only shrink.
    ///
    /// Not true of FFD in general: a host larger than all others would change the sizes, hence
    /// the order workloads are taken in, and a host ordered earlier would change first fit.
    /// So the extra host is no larger than the largest in each dimension, and is unknown to the
    /// power model (hosts without a model are tried last).
    #[test]
    fn appending_a_host_never_unplaces_a_workload(
        hosts in hosts(6),
        workloads in workloads(40),
        spec in model(),
        (fc, fm, used) in (0.1f64..=1.0, 0.1f64..=1.0, prop::option::of((0.0f64..=1.0, 0.0f64..=1.0))),
    ) {
        prop_assume!(!hosts.is_empty());
        let model = build_model(&spec, &hosts);
        let before = run(&hosts, &workloads, model.as_ref());

        let max_cpu = hosts.iter().map(|h| h.capacity.cpu_cores).fold(0.0, f64::max);
        let max_mem = hosts.iter().map(|h| h.capacity.memory_bytes).max().unwrap_or(0);
        let cap = Resources::new(max_cpu * fc, (max_mem as f64 * fm) as u64);
        let mut extra = HostState::new(id("extra"), cap);
        if let Some((uc, um)) = used {
            extra.used = Resources::new(cap.cpu_cores * uc, (cap.memory_bytes as f64 * um) as u64);
        }
        let mut more = hosts.clone();
        more.push(extra);
        let after = run(&more, &workloads, model.as_ref());

        for a in &before.assignments {
            prop_assert_eq!(after.host_of(&a.workload), Some(&a.host));
        }
        let (was, now) = (unplaced_ids(&before), unplaced_ids(&after));
        prop_assert!(now.is_subset(&was), "newly unplaced: {:?}", now.difference(&was));
        prop_assert!(after.unplaced.len() <= before.unplaced.len());
    }

    /// On small instances, brute force gives the fewest hosts any complete placement needs:
    /// the lower bound never exceeds it, a complete FFD plan never beats it, and FFD never
    /// finds a placement where brute force says there is none.
    #[test]
    fn lower_bound_and_hosts_used_agree_with_brute_force(
        host_specs in prop::collection::vec(
            (prop::sample::select(vec![32u32, 48, 64]),
             prop::sample::select(vec![128u64, 256]),
             prop::option::weighted(0.3, (0u32..=64, 0u64..=128))),
            0..=3),
        work_specs in prop::collection::vec((1u32..=32, 1u64..=64), 1..=6),
    ) {
        // Half cores and whole GiB: exact in binary, so brute force needs no epsilon.
        let hosts: Vec<HostState> = host_specs
            .iter()
            .enumerate()
            .map(|(i, &(cpu, mem_gib, used))| {
                let h = host(&format!("h{i}"), f64::from(cpu), mem_gib);
                match used {
                    None => h,
                    Some((half_cores, gib)) => h.with_used(Resources::new(
                        (f64::from(half_cores) / 2.0).min(f64::from(cpu)),
                        gib.min(mem_gib) * GIB,
                    )),
                }
            })
            .collect();
        let workloads: Vec<Workload> = work_specs
            .iter()
            .enumerate()
            .map(|(i, &(half_cores, gib))| {
                pending(&format!("w{i}"), f64::from(half_cores) / 2.0, gib * GIB)
            })
            .collect();

        let opts = PlaceOptions::default().with_host_order(HostOrder::Inventory);
        let plan = place(&hosts, &workloads, None, &opts).unwrap();
        let best = brute_force_min_hosts(&hosts, &workloads);
        if plan.is_complete() {
            prop_assert!(best.is_some(), "FFD placed everything but brute force found no way");
        }
        if let Some(best) = best {
            prop_assert!(plan.lower_bound_hosts <= best, "bound {} > optimum {best}", plan.lower_bound_hosts);
            if plan.is_complete() {
                prop_assert!(plan.hosts_used >= best, "FFD used {} < optimum {best}", plan.hosts_used);
            }
        }
    }
}
