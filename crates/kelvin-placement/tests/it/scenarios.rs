use std::collections::HashMap;

use kelvin_model::{Host, Inventory, Resources, Workload};
use kelvin_placement::{
    Constraint, HostOrder, PlaceOptions, PlacementErrorKind, Plan, host_states, place,
};

use crate::support::{GIB, PerCore, id, pending};

/// A two-generation rack row: 8 older 32-core / 128 GiB hosts, 4 newer 64-core / 512 GiB hosts,
/// with a few workloads already running, plus a batch of pending workloads.
fn fleet() -> Inventory {
    let mut hosts = Vec::new();
    for i in 0..8 {
        hosts.push(Host {
            id: id(&format!("gen1-{i:02}")),
            rack: id("rack-a"),
            capacity: Resources::new(32.0, 128 * GIB),
            pdu: None,
        });
    }
    for i in 0..4 {
        hosts.push(Host {
            id: id(&format!("gen2-{i:02}")),
            rack: id("rack-b"),
            capacity: Resources::new(64.0, 512 * GIB),
            pdu: None,
        });
    }
    let mut workloads = Vec::new();
    for (i, host) in ["gen1-00", "gen1-00", "gen1-03", "gen2-01"]
        .iter()
        .enumerate()
    {
        let mut w = pending(&format!("running-{i}"), 8.0, 32 * GIB);
        w.host = Some(id(host));
        workloads.push(w);
    }
    // 60 pending workloads from 0.5 to 16 cores and 1 to 64 GiB, deterministic.
    for i in 0..60u64 {
        let cores = 0.5 * ((i * 7 % 32) + 1) as f64;
        let gib = (i * 13 % 64) + 1;
        workloads.push(pending(&format!("job-{i:02}"), cores, gib * GIB));
    }
    Inventory {
        hosts,
        workloads,
        ..Inventory::default()
    }
}

fn split(inv: &Inventory) -> Vec<Workload> {
    inv.workloads
        .iter()
        .filter(|w| w.host.is_none())
        .cloned()
        .collect()
}

fn assert_serialize<T: serde::Serialize>(_: &T) {}

#[test]
fn fleet_is_packed_within_capacity() {
    let inv = fleet();
    let hosts = host_states(&inv);
    let pending = split(&inv);
    let plan = place(&hosts, &pending, None, &PlaceOptions::default()).unwrap();
    assert_serialize(&plan);

    // 4 running + 60 pending = 529 cores: more than the 512 the fleet has, so some wait.
    let total: f64 = inv.workloads.iter().map(|w| w.requests.cpu_cores).sum();
    assert_eq!(total, 529.0);
    assert!(!plan.is_complete());
    assert_eq!(plan.assignments.len() + plan.unplaced.len(), 60);
    assert_eq!(plan.hosts_used, 12);
    assert_eq!(plan.lower_bound_hosts, 9); // ceil(529 / 64); memory needs only ceil(2078 GiB / 512 GiB) = 5
    for u in &plan.unplaced {
        assert!(
            u.blocked_by.iter().any(|b| b.constraint == Constraint::Cpu),
            "{u}"
        );
        assert!(
            u.to_string()
                .starts_with(&format!("{} fits on none of 12 hosts: ", u.workload))
        );
    }
    // Used never exceeds capacity.
    let mut used: HashMap<_, _> = hosts.iter().map(|h| (h.id.clone(), h.used)).collect();
    for a in &plan.assignments {
        let req = pending
            .iter()
            .find(|w| w.id == a.workload)
            .unwrap()
            .requests;
        let u = used.get_mut(&a.host).unwrap();
        u.cpu_cores += req.cpu_cores;
        u.memory_bytes += req.memory_bytes;
    }
    for h in &hosts {
        assert!(
            used[&h.id].cpu_cores <= h.capacity.cpu_cores + 1e-9,
            "{}",
            h.id
        );
        assert!(
            used[&h.id].memory_bytes <= h.capacity.memory_bytes,
            "{}",
            h.id
        );
    }
}

#[test]
fn power_model_steers_work_to_efficient_hosts() {
    let inv = fleet();
    let hosts = host_states(&inv);
    // Only the first 20 jobs: the fleet has room for all of them.
    let pending: Vec<Workload> = split(&inv).into_iter().take(20).collect();
    let model = PerCore(
        hosts
            .iter()
            .map(|h| {
                (
                    h.id.clone(),
                    if h.id.as_str().starts_with("gen2") {
                        4.5
                    } else {
                        9.0
                    },
                )
            })
            .collect(),
    );

    let green = place(&hosts, &pending, Some(&model), &PlaceOptions::default()).unwrap();
    let plain = place(
        &hosts,
        &pending,
        Some(&model),
        &PlaceOptions::default().with_host_order(HostOrder::Inventory),
    )
    .unwrap();
    assert!(green.is_complete() && plain.is_complete());

    let watts = |p: &Plan| -> f64 {
        p.assignments
            .iter()
            .map(|a| a.score.marginal_power_w.unwrap())
            .sum()
    };
    // 20 jobs, 163 cores and 570 GiB: all fit on the efficient generation, at 4.5 W per core.
    assert!(
        green
            .assignments
            .iter()
            .all(|a| a.host.as_str().starts_with("gen2"))
    );
    assert_eq!(watts(&green), 163.0 * 4.5);
    assert!(watts(&plain) > watts(&green));
}

#[test]
fn a_running_workload_in_the_batch_is_rejected_by_name() {
    let inv = fleet();
    let e = place(
        &host_states(&inv),
        &inv.workloads,
        None,
        &PlaceOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), PlacementErrorKind::InvalidInput);
    assert_eq!(e.workload().map(|w| w.as_str()), Some("running-0"));
}
