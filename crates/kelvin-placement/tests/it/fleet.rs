//! The power- and heat-aware optimizer (`kelvin_placement::fleet`): property tests against
//! an independent checker (`evaluate`) and brute force, and scenarios for every constraint,
//! objective and explanation.

use kelvin_model::EntityId;
use kelvin_placement::PlacementErrorKind;
use kelvin_placement::fleet::{
    Check, Evaluation, Goal, Host, Objective, Placer, Policy, PowerCurve, PowerDomain, Problem,
    Rack, Rule, RuleKind, Sampling, Scope, Solution, SolveOptions, Task, baseline, evaluate,
    lower_bound, solve,
};
use proptest::prelude::*;

fn id(s: &str) -> EntityId {
    EntityId::new(s).unwrap()
}

/// HP ProLiant ML110 G5 and IBM x3550 M3 (X5675) SPECpower_ssj2008 curves, as listed in
/// `../shared/instances/sim_models` (public SPEC results).
fn ml110() -> PowerCurve {
    PowerCurve::try_new([
        93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0,
    ])
    .unwrap()
}
fn x3550() -> PowerCurve {
    PowerCurve::try_new([
        58.4, 98.0, 109.0, 118.0, 128.0, 140.0, 153.0, 170.0, 189.0, 205.0, 222.0,
    ])
    .unwrap()
}

/// The random instances' generator: proptest's ChaCha `TestRng`, seeded by the case.
struct Rng(proptest::test_runner::TestRng);
impl Rng {
    fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        Rng(proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &bytes,
        ))
    }
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

fn random_curve(rng: &mut Rng) -> PowerCurve {
    let mut w = 40.0 + 80.0 * rng.unit();
    let mut pts = [0.0; 11];
    for p in &mut pts {
        *p = w;
        w += 25.0 * rng.unit();
    }
    PowerCurve::try_new(pts).unwrap()
}

/// A small random instance where every kind of constraint can bind.
fn random_problem(seed: u64, max_hosts: usize, max_tasks: usize) -> Problem {
    let mut rng = Rng::new(seed);
    let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into()]);
    let n_racks = 1 + rng.below(2);
    for r in 0..n_racks {
        let mut rack = Rack::new(id(&format!("r{r}")));
        rack.redline_c = 18.0 + 9.0 * rng.unit();
        rack.inlet_offset_c = 2.0 * rng.unit();
        rack.carbon_g_per_kwh = 50.0 + 500.0 * rng.unit();
        p.racks.push(rack);
    }
    let n_hosts = 2 + rng.below(max_hosts - 1);
    for h in 0..n_hosts {
        let mut host = Host::new(
            id(&format!("h{h}")),
            rng.below(n_racks),
            vec![(8 + rng.below(25)) as f64, (32 + rng.below(97)) as f64],
            random_curve(&mut rng),
        );
        if rng.chance(0.2) {
            host = host.with_sleep(false, 0.0);
        } else if rng.chance(0.3) {
            host = host.with_sleep(true, 5.0);
        }
        p.hosts.push(host);
    }
    if rng.chance(0.6) {
        p.recirculation = (0..n_racks * n_racks).map(|_| 6.0 * rng.unit()).collect();
    }
    for r in 0..n_racks {
        let members: Vec<usize> = (0..n_hosts).filter(|h| p.hosts[*h].rack == r).collect();
        if members.is_empty() || rng.chance(0.3) {
            continue;
        }
        let nameplate: f64 = members.iter().map(|h| p.hosts[*h].power.max_w()).sum();
        p.domains.push(PowerDomain {
            id: id(&format!("pdu{r}")),
            cap_w: nameplate * (0.3 + 0.9 * rng.unit()),
            hosts: members,
        });
    }
    p.cap_percentile = [0.5, 0.9, 0.99][rng.below(3)];
    let n_tasks = 1 + rng.below(max_tasks);
    for t in 0..n_tasks {
        let mut task = Task::new(
            id(&format!("t{t}")),
            vec![(1 + rng.below(16)) as f64, (1 + rng.below(64)) as f64],
        )
        .with_utilization(rng.unit(), 0.2 * rng.unit())
        .with_priority(rng.below(3) as i32);
        if rng.chance(0.15) {
            task = task.pinned_to(vec![rng.below(n_hosts)]);
        }
        if rng.chance(0.25) {
            task = task.running_on(rng.below(n_hosts));
        }
        p.tasks.push(task);
    }
    if n_tasks >= 2 && rng.chance(0.4) {
        let kind = if rng.chance(0.5) {
            RuleKind::Spread(1)
        } else {
            RuleKind::Together
        };
        let scope = if rng.chance(0.5) {
            Scope::Host
        } else {
            Scope::Rack
        };
        p.rules.push(Rule {
            name: "pair".into(),
            tasks: vec![0, 1],
            scope,
            kind,
        });
    }
    p.validate().unwrap();
    p
}

const ROUNDS: u64 = 400;
fn small_opts(seed: u64) -> SolveOptions {
    SolveOptions::default()
        .with_seed(seed)
        .with_rounds(ROUNDS)
        .with_time_limit_ms(None)
        .with_sampling(Sampling::exhaustive())
}

/// The default weighted objective, recomputed from an evaluation as documented on `Weights`.
fn key(e: &Evaluation) -> (f64, f64) {
    (
        e.unplaced_priority,
        e.facility_w() + 10.0 * e.stranded + 25.0 * e.migrations,
    )
}

fn every_assignment(hosts: usize, tasks: usize, mut f: impl FnMut(&[Option<usize>])) {
    let mut a = vec![None; tasks];
    loop {
        f(&a);
        let mut i = 0;
        loop {
            if i == tasks {
                return;
            }
            a[i] = match a[i] {
                None => Some(0),
                Some(h) if h + 1 < hosts => Some(h + 1),
                Some(_) => None,
            };
            if a[i].is_some() {
                break;
            }
            i += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Kelvin never returns a placement that the independent checker faults, and the same
    /// seed gives the same placement (with four parallel chains).
    #[test]
    fn solutions_satisfy_every_hard_constraint_and_repeat(seed in any::<u64>()) {
        let p = random_problem(seed, 5, 8);
        // Hosts that cannot sleep may break a cap or redline before anything is placed; no
        // placement can help then.
        prop_assume!(evaluate(&p, &vec![None; p.tasks.len()]).unwrap().violations.is_empty());
        let opts = small_opts(seed ^ 1);
        let a = solve(&p, &opts).unwrap();
        let checked = evaluate(&p, &a.host_of).unwrap();
        prop_assert!(checked.violations.is_empty(), "{:?}", checked.violations);
        prop_assert_eq!(&a.evaluation, &checked);
        let b = solve(&p, &opts).unwrap();
        prop_assert_eq!(&a.host_of, &b.host_of);
        prop_assert_eq!(a.unplaced.len(), a.evaluation.unplaced);
        prop_assert!(a.bound.facility_w <= a.evaluation.facility_w() + 1e-9 || a.evaluation.unplaced > 0);
        // Every unplaced workload is explained on every host it could use.
        for u in &a.unplaced {
            let allowed = p.tasks[u.task].allowed_hosts.as_ref().map_or(p.hosts.len(), |h| h.len());
            prop_assert_eq!(u.hosts_considered, allowed);
            prop_assert!(!u.blocked_by.is_empty() || allowed == 0);
        }
    }

    /// Removing a constraint (a rule, a power domain, a pin, a redline) never turns a
    /// complete placement into an incomplete one.
    #[test]
    fn relaxing_a_constraint_keeps_a_complete_placement(seed in any::<u64>(), which in 0usize..4) {
        let p = random_problem(seed, 5, 8);
        prop_assume!(evaluate(&p, &vec![None; p.tasks.len()]).unwrap().violations.is_empty());
        let opts = small_opts(seed);
        let before = solve(&p, &opts).unwrap();
        prop_assume!(before.evaluation.unplaced == 0);
        let mut q = p.clone();
        match which {
            0 => { q.rules.pop(); }
            1 => { q.domains.pop(); }
            2 => for t in &mut q.tasks { t.allowed_hosts = None; },
            _ => for r in &mut q.racks { r.redline_c += 10.0; },
        }
        let after = solve(&q, &opts).unwrap();
        prop_assert_eq!(after.evaluation.unplaced, 0, "relaxation {} lost a placement", which);
        prop_assert!(after.evaluation.violations.is_empty());
    }

    /// The placer's single decisions keep a running fleet within every constraint it knows.
    #[test]
    fn single_placements_never_break_a_constraint(seed in any::<u64>()) {
        let mut p = random_problem(seed, 5, 8);
        prop_assume!(evaluate(&p, &vec![None; p.tasks.len()]).unwrap().violations.is_empty());
        for t in &mut p.tasks { t.current = None; }
        let mut placer = Placer::new(&p, Policy::Kelvin(Objective::default())).unwrap();
        for t in 0..p.tasks.len() {
            let _ = placer.place(t);
            let e = evaluate(&p, &placer.assignment()).unwrap();
            prop_assert!(e.violations.is_empty(), "after task {}: {:?}", t, e.violations);
        }
    }

    /// Probing a workload on every host answers what placing it would: the hosts it passes
    /// are the ones where the independent checker finds no violation, the best score is the
    /// host an exhaustive placer picks, a probed demand prices like a task of that demand,
    /// and the placer is left as it was.
    #[test]
    fn probes_agree_with_placing_and_change_nothing(seed in any::<u64>(), scale in 0.5f64..2.0) {
        let mut p = random_problem(seed, 5, 8);
        prop_assume!(evaluate(&p, &vec![None; p.tasks.len()]).unwrap().violations.is_empty());
        for t in &mut p.tasks { t.current = None; t.allowed_hosts = None; }
        p.rules.clear();
        let last = p.tasks.len() - 1;
        let mut placer = Placer::new(&p, Policy::Kelvin(Objective::default()))
            .unwrap()
            .with_sampling(Sampling::exhaustive());
        for t in 0..last {
            let _ = placer.place(t);
        }
        let hosts: Vec<usize> = (0..p.hosts.len()).collect();
        let before = (placer.assignment(), placer.evaluation());
        let answers = placer.probe(last, None, &hosts).unwrap();
        prop_assert_eq!(&(placer.assignment(), placer.evaluation()), &before);
        for (h, a) in answers.iter().enumerate() {
            let mut host_of = placer.assignment();
            host_of[last] = Some(h);
            let clean = evaluate(&p, &host_of).unwrap().violations.is_empty();
            prop_assert_eq!(a.is_ok(), clean, "host {}: {:?}", h, a);
        }
        let best = answers
            .iter()
            .enumerate()
            .filter_map(|(h, a)| a.as_ref().ok().map(|b| (h, b.score)))
            .min_by(|x, y| x.1.total_cmp(&y.1));
        match placer.clone().place(last) {
            Ok(d) => {
                let (_, s) = best.unwrap();
                prop_assert!((d.breakdown.score - s).abs() <= 1e-9 * s.abs().max(1.0));
            }
            Err(_) => prop_assert!(best.is_none()),
        }
        // A probed demand prices as a problem whose task asks for it.
        let demand: Vec<f64> = p.tasks[last].demand.iter().map(|d| d * scale).collect();
        let probed = placer.probe(last, Some(&demand), &hosts).unwrap();
        let mut q = p.clone();
        q.tasks[last].demand = demand;
        let mut other = Placer::new(&q, Policy::Kelvin(Objective::default())).unwrap();
        for (t, h) in placer.assignment().iter().enumerate() {
            if let (Some(_), true) = (h, t != last) {
                let _ = other.place(t);
            }
        }
        prop_assume!(other.assignment() == placer.assignment());
        prop_assert_eq!(other.probe(last, None, &hosts).unwrap(), probed);
        prop_assert!(placer.probe(last, Some(&[1.0]), &hosts).is_err() || p.dims.len() == 1);
        prop_assert!(placer.probe(last, None, &[p.hosts.len()]).is_err());
    }
}

/// On 300 small random instances, Kelvin's result is compared with the brute-force optimum
/// (every assignment, unplaced included, checked by `evaluate`): never better than it (the
/// evaluation is consistent), the lower bound never above it, and the optimum found in most
/// cases. Prints the counts with `--nocapture`.
#[test]
fn small_instances_match_brute_force() {
    let (mut cases, mut optimal, mut complete_cases) = (0, 0, 0);
    let mut worst_gap: f64 = 0.0;
    for seed in 0..300u64 {
        let p = random_problem(seed.wrapping_mul(0x9e37_79b9), 3, 5);
        if !evaluate(&p, &vec![None; p.tasks.len()])
            .unwrap()
            .violations
            .is_empty()
        {
            continue; // always-on hosts already break a cap or redline
        }
        let sol = solve(&p, &small_opts(seed)).unwrap();
        let mut best: Option<((f64, f64), Evaluation)> = None;
        let mut best_complete_facility = f64::INFINITY;
        every_assignment(p.hosts.len(), p.tasks.len(), |a| {
            let e = evaluate(&p, a).unwrap();
            if !e.violations.is_empty() {
                return;
            }
            if e.unplaced == 0 {
                best_complete_facility = best_complete_facility.min(e.facility_w());
            }
            let k = key(&e);
            if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
                best = Some((k, e));
            }
        });
        let (opt, _) = best.expect("leaving everything unplaced is feasible here");
        let got = key(&sol.evaluation);
        let tol = 1e-6 * got.1.abs().max(1.0);
        assert!(
            got.0 > opt.0 || (got.0 == opt.0 && got.1 >= opt.1 - tol),
            "seed {seed}: Kelvin {got:?} beats brute force {opt:?}"
        );
        if best_complete_facility.is_finite() {
            complete_cases += 1;
            assert!(
                sol.bound.facility_w <= best_complete_facility + 1e-6,
                "seed {seed}: bound {} above the best complete placement {}",
                sol.bound.facility_w,
                best_complete_facility
            );
        }
        cases += 1;
        if got.0 == opt.0 && (got.1 - opt.1).abs() <= tol {
            optimal += 1;
        } else if got.0 == opt.0 {
            worst_gap = worst_gap.max((got.1 - opt.1) / opt.1);
        }
    }
    println!(
        "brute force: {optimal}/{cases} optimal ({complete_cases} with a complete placement), \
         worst objective gap among the rest {:.2} %",
        worst_gap * 100.0
    );
    assert!(
        optimal * 100 >= cases * 95,
        "only {optimal}/{cases} optimal"
    );
}

/// A two-rack room: rack A hot (recirculates into itself), rack B cool; one PDU per rack.
fn room() -> Problem {
    let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into()]);
    let mut hot = Rack::new(id("rack-a"));
    hot.carbon_g_per_kwh = 400.0;
    let mut cool = Rack::new(id("rack-b"));
    cool.carbon_g_per_kwh = 40.0;
    p.racks = vec![hot, cool];
    // Rack A heats its own inlet 4 °C per kW and B's 0.2 °C per kW; B heats both 0.5 °C per
    // kW. Redlines at 25.5 °C, so heat lowers the supply temperature below the 25 °C maximum.
    p.recirculation = vec![4.0, 0.5, 0.2, 0.5];
    for r in &mut p.racks {
        r.redline_c = 25.5;
    }
    for (i, rack) in [0, 0, 1, 1].into_iter().enumerate() {
        p.hosts.push(Host::new(
            id(&format!("h{i}")),
            rack,
            vec![24.0, 96.0],
            x3550(),
        ));
    }
    p.domains.push(PowerDomain {
        id: id("pdu-a"),
        cap_w: 400.0,
        hosts: vec![0, 1],
    });
    p.domains.push(PowerDomain {
        id: id("pdu-b"),
        cap_w: 400.0,
        hosts: vec![2, 3],
    });
    p
}

fn deterministic() -> SolveOptions {
    SolveOptions::default()
        .with_rounds(300)
        .with_time_limit_ms(None)
}

#[test]
fn heat_goes_where_it_recirculates_least() {
    let mut p = room();
    p.tasks
        .push(Task::new(id("batch"), vec![20.0, 40.0]).with_utilization(0.9, 0.0));
    let sol = solve(&p, &deterministic()).unwrap();
    let host = sol.host_of[0].unwrap();
    assert_eq!(p.hosts[host].rack, 1, "on the cool rack");
    // The same load on rack A would lower the supply temperature and cost more cooling.
    let on_a = evaluate(&p, &[Some(0)]).unwrap();
    assert!(on_a.supply_c < sol.evaluation.supply_c);
    assert!(on_a.cooling_w > sol.evaluation.cooling_w);
    let a = &sol.assignments[0];
    assert!(a.breakdown.it_w > 0.0 && a.breakdown.cooling_w > 0.0);
}

#[test]
fn redline_blocks_and_is_named() {
    let mut p = room();
    // Rack B tolerates a 0.12 °C rise at the lowest supply (15 °C): rack A's two full hosts
    // (444 W × 0.2 °C/kW = 0.089 °C) fit, but any load on rack B (≥ 98 W × 0.5 °C/kW) does
    // not; rack A is full.
    p.racks[1].redline_c = 15.12;
    p.tasks
        .push(Task::new(id("fill-a0"), vec![24.0, 10.0]).running_on(0));
    p.tasks
        .push(Task::new(id("fill-a1"), vec![24.0, 10.0]).running_on(1));
    p.tasks.push(Task::new(id("new"), vec![4.0, 8.0]));
    p.domains.clear();
    let sol = solve(&p, &deterministic()).unwrap();
    assert!(sol.evaluation.violations.is_empty());
    assert_eq!(sol.evaluation.unplaced, 1);
    let blocked = &sol.unplaced[0];
    assert_eq!(
        blocked.describe(&p),
        "new fits on none of 4 hosts: cpu capacity on 2, redline of rack-b on 2"
    );
    assert_eq!(
        sol.blocking(&p),
        vec![
            ("cpu capacity".to_string(), vec!["new".to_string()]),
            ("redline of rack-b".to_string(), vec!["new".to_string()]),
        ]
    );
}

#[test]
fn percentile_cap_is_stricter_than_the_mean() {
    let mut p = room();
    p.domains = vec![PowerDomain {
        id: id("pdu"),
        cap_w: 330.0,
        hosts: vec![0, 1, 2, 3],
    }];
    p.recirculation.clear();
    for k in 0..2 {
        p.tasks
            .push(Task::new(id(&format!("t{k}")), vec![20.0, 8.0]).with_utilization(0.5, 0.3));
    }
    // The mean of two half-busy hosts fits under 330 W; the 99th percentile does not.
    p.cap_percentile = 0.5;
    assert_eq!(solve(&p, &deterministic()).unwrap().evaluation.unplaced, 0);
    p.cap_percentile = 0.99;
    let sol = solve(&p, &deterministic()).unwrap();
    assert_eq!(sol.evaluation.unplaced, 1);
    assert!(
        sol.unplaced[0]
            .blocked_by
            .contains(&(Check::PowerCap(0), 3))
    );
    // Kubernetes-like spreading knows nothing of the cap and breaks it.
    let spread = baseline(&p, Policy::Spread, Sampling::default()).unwrap();
    assert_eq!(spread.evaluation.unplaced, 0);
    assert_eq!(spread.evaluation.violations[0].check, Check::PowerCap(0));
}

#[test]
fn rules_pins_and_priorities_hold() {
    let mut p = room();
    p.recirculation.clear();
    p.domains.clear();
    for k in 0..3 {
        p.tasks
            .push(Task::new(id(&format!("replica-{k}")), vec![2.0, 4.0]));
    }
    p.tasks.push(Task::new(id("cache"), vec![2.0, 4.0]));
    p.tasks
        .push(Task::new(id("pinned"), vec![2.0, 4.0]).pinned_to(vec![3]));
    p.rules.push(Rule {
        name: "replicas".into(),
        tasks: vec![0, 1, 2],
        scope: Scope::Host,
        kind: RuleKind::Spread(1),
    });
    p.rules.push(Rule {
        name: "near-cache".into(),
        tasks: vec![0, 3],
        scope: Scope::Rack,
        kind: RuleKind::Together,
    });
    let sol = solve(&p, &deterministic()).unwrap();
    assert!(sol.evaluation.violations.is_empty());
    assert_eq!(sol.evaluation.unplaced, 0);
    let h = |t: usize| sol.host_of[t].unwrap();
    assert!(h(0) != h(1) && h(1) != h(2) && h(0) != h(2));
    assert_eq!(p.hosts[h(0)].rack, p.hosts[h(3)].rack);
    assert_eq!(h(4), 3);
    // Priorities: with room for one big workload, the higher priority one gets it.
    let mut q = room();
    q.recirculation.clear();
    q.domains.clear();
    q.hosts.truncate(1);
    q.tasks.push(Task::new(id("low"), vec![20.0, 8.0]));
    q.tasks
        .push(Task::new(id("high"), vec![20.0, 8.0]).with_priority(5));
    let sol = solve(&q, &deterministic()).unwrap();
    assert_eq!(sol.host_of, vec![None, Some(0)]);
}

#[test]
fn migrations_are_weighed_against_savings() {
    let mut p = room();
    p.recirculation.clear();
    p.domains.clear();
    // Two small workloads on two hosts: consolidating saves an idle floor (58.4 W) for one
    // migration.
    p.tasks.push(
        Task::new(id("a"), vec![2.0, 4.0])
            .with_utilization(0.5, 0.0)
            .running_on(0),
    );
    p.tasks.push(
        Task::new(id("b"), vec![2.0, 4.0])
            .with_utilization(0.5, 0.0)
            .running_on(2),
    );
    let sol = solve(&p, &deterministic()).unwrap();
    assert_eq!(sol.evaluation.hosts_awake, 1);
    assert_eq!(sol.evaluation.moved, 1);
    // At 1,000 W per migration, moving is not worth it.
    let w = kelvin_placement::fleet::Weights {
        migrations: 1000.0,
        ..Default::default()
    };
    let sol = solve(&p, &deterministic().with_objective(Objective::weighted(w))).unwrap();
    assert_eq!(sol.host_of, vec![Some(0), Some(2)]);
    assert_eq!(sol.evaluation.moved, 0);
}

#[test]
fn lexicographic_carbon_first_prefers_the_clean_rack() {
    let mut p = room();
    p.recirculation.clear();
    p.domains.clear();
    // Rack A's hosts are more efficient (ML110 is flat), but rack A's grid is dirty.
    p.hosts[0].power = ml110();
    p.tasks
        .push(Task::new(id("job"), vec![8.0, 8.0]).with_utilization(1.0, 0.0));
    let energy = solve(
        &p,
        &deterministic().with_objective(Objective::lexicographic([Goal::Energy])),
    )
    .unwrap();
    let carbon = solve(
        &p,
        &deterministic().with_objective(Objective::lexicographic([Goal::Carbon, Goal::Energy])),
    )
    .unwrap();
    assert_eq!(p.hosts[carbon.host_of[0].unwrap()].rack, 1);
    assert!(
        carbon.evaluation.carbon_g_per_h < energy.evaluation.carbon_g_per_h
            || energy.host_of == carbon.host_of
    );
    assert!(energy.evaluation.facility_w() <= carbon.evaluation.facility_w() + 1e-9);
}

#[test]
fn bad_input_is_a_typed_error_naming_the_entity() {
    let mut p = room();
    p.tasks.push(Task::new(id("w"), vec![1.0]));
    let err = solve(&p, &deterministic()).unwrap_err();
    assert_eq!(err.kind(), PlacementErrorKind::InvalidInput);
    assert_eq!(err.workload().map(|w| w.as_str()), Some("w"));
    assert!(
        err.reason().contains("2 finite non-negative demands"),
        "{err}"
    );

    let mut p = room();
    p.hosts[1].rack = 9;
    let err = solve(&p, &deterministic()).unwrap_err();
    assert_eq!(err.host().map(|h| h.as_str()), Some("h1"));

    let mut p = room();
    p.recirculation = vec![1.0, f64::NAN, 0.0, 0.0];
    assert!(
        solve(&p, &deterministic())
            .unwrap_err()
            .reason()
            .contains("recirculation")
    );

    let mut p = room();
    p.tasks
        .push(Task::new(id("w"), vec![1.0, 1.0]).with_utilization(1.5, 0.0));
    assert!(
        solve(&p, &deterministic())
            .unwrap_err()
            .reason()
            .contains("not a fraction")
    );

    assert!(PowerCurve::try_new([1.0, 0.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]).is_err());
    let p = room();
    assert!(
        evaluate(&p, &[Some(0)]).is_err(),
        "assignment longer than the task list"
    );
}

#[test]
fn lower_bound_is_tight_on_a_trivial_fleet() {
    // One host that cannot sleep and a linear curve: the bound is exact.
    let mut p = Problem::new(vec!["cpu".into()]);
    p.racks.push(Rack::new(id("r")));
    let linear: [f64; 11] = std::array::from_fn(|k| 100.0 + 10.0 * k as f64);
    p.hosts.push(
        Host::new(id("h"), 0, vec![10.0], PowerCurve::try_new(linear).unwrap())
            .with_sleep(false, 0.0),
    );
    p.tasks
        .push(Task::new(id("t"), vec![5.0]).with_utilization(1.0, 0.0));
    let sol: Solution = solve(&p, &deterministic()).unwrap();
    let b = lower_bound(&p);
    assert!((b.it_w - 150.0).abs() < 1e-9);
    assert!(sol.gap().abs() < 1e-9);
    assert_eq!(b.hosts, 1);
}

#[test]
fn empty_fleets_and_empty_batches_are_answered_not_panicked() {
    let mut p = Problem::new(vec!["cpu".into()]);
    p.racks.push(Rack::new(id("r")));
    p.tasks.push(Task::new(id("lonely"), vec![1.0]));
    let sol = solve(&p, &deterministic()).unwrap();
    assert_eq!(sol.host_of, vec![None]);
    assert_eq!(
        sol.unplaced[0].describe(&p),
        "lonely fits on none of 0 hosts"
    );
    let mut placer = Placer::new(&p, Policy::Kelvin(Objective::default())).unwrap();
    assert_eq!(placer.place(0).unwrap_err().hosts_considered, 0);
    assert!(
        placer.place(7).is_err(),
        "an index out of range is blocked, not a panic"
    );

    let mut q = room();
    q.tasks.clear();
    let sol = solve(&q, &deterministic()).unwrap();
    assert_eq!((sol.rounds, sol.evaluation.hosts_awake), (0, 0));
    assert!(sol.gap().abs() < 1e-12);

    // A CoP polynomial that goes non-positive inside the supply range is refused.
    let mut r = room();
    r.cooling.cop = [-0.01, 0.3, -1.5];
    assert!(
        solve(&r, &deterministic())
            .unwrap_err()
            .reason()
            .contains("CoP")
    );
}

/// With no time at all, running work stays where it runs, nothing breaks a constraint, and
/// every pending workload is reported unplaced for lack of time (not as fitting nowhere),
/// with the constraint table saying so; an unrepresentable deadline is no deadline.
#[test]
fn a_time_limit_never_drops_or_misplaces_work() {
    let mut p = room();
    p.tasks
        .push(Task::new(id("running"), vec![4.0, 8.0]).running_on(2));
    for k in 0..5 {
        p.tasks
            .push(Task::new(id(&format!("w{k}")), vec![2.0, 4.0]).with_utilization(0.5, 0.1));
    }
    let sol = solve(&p, &SolveOptions::default().with_time_limit_ms(Some(0))).unwrap();
    assert!(evaluate(&p, &sol.host_of).unwrap().violations.is_empty());
    assert_eq!(sol.host_of[0], Some(2), "running work was moved or evicted");
    assert_eq!(sol.unplaced.len(), 5);
    for b in &sol.unplaced {
        assert!(b.time_limited, "{b}");
        let text = b.describe(&p);
        assert!(text.contains("time limit ran out"), "{text}");
    }
    let blocking = sol.blocking(&p);
    assert_eq!(
        blocking.last().map(|(c, v)| (c.as_str(), v.len())),
        Some(("time limit", 5))
    );

    let sol = solve(
        &p,
        &SolveOptions::default().with_time_limit_ms(Some(u64::MAX)),
    )
    .unwrap();
    assert_eq!(sol.evaluation.unplaced, 0);
    assert!(sol.unplaced.iter().all(|b| !b.time_limited));
}

/// The bulk rebuild of a placement (`evaluate`) and the marginal costs in `assignments` agree
/// with what adding each workload last costs: the placer's decision for it on the same host.
#[test]
fn marginal_breakdowns_match_adding_the_workload_last() {
    let mut p = room();
    for k in 0..6 {
        p.tasks.push(
            Task::new(id(&format!("w{k}")), vec![3.0 + k as f64, 8.0]).with_utilization(0.6, 0.1),
        );
    }
    let sol = solve(&p, &deterministic()).unwrap();
    for a in &sol.assignments {
        let mut q = p.clone();
        for (t, h) in sol.host_of.iter().enumerate() {
            q.tasks[t].current = if t == a.task { None } else { *h };
        }
        q.tasks[a.task].allowed_hosts = Some(vec![a.host]);
        let mut placer = Placer::new(&q, Policy::Kelvin(Objective::default())).unwrap();
        let d = placer.place(a.task).unwrap();
        let (x, y) = (d.breakdown, a.breakdown);
        for (u, v) in [
            (x.it_w, y.it_w),
            (x.cooling_w, y.cooling_w),
            (x.carbon_g_per_h, y.carbon_g_per_h),
            (x.stranded, y.stranded),
        ] {
            assert!(
                (u - v).abs() <= 1e-6 * u.abs().max(1.0),
                "{:?} vs {:?}",
                x,
                y
            );
        }
    }
}

/// Sizes that would not fit in memory are refused with the count and the limit, before
/// anything is allocated from them: synthetic fleets (the `datacenter` example's flags) and
/// search chains.
#[test]
fn oversized_fleets_and_chain_counts_are_refused() {
    use kelvin_placement::fleet::{MAX_CHAINS, ServerModel, Synthetic};
    let model = ServerModel {
        name: "ml110".into(),
        capacity: [8.0, 32.0],
        curve: ml110(),
    };
    let fleet = Synthetic::new(vec![model]);
    for (f, words) in [
        (fleet.clone().racks(100_000), "100000 racks"),
        (fleet.clone().racks(usize::MAX), "racks"),
        (fleet.clone().racks(2).hosts_per_rack(usize::MAX), "hosts"),
        (fleet.clone().tasks(usize::MAX), "workloads"),
    ] {
        let e = f.build(1).unwrap_err();
        assert!(
            e.reason().contains(words) && e.reason().contains("limit"),
            "{e}"
        );
    }
    let p = fleet.racks(2).hosts_per_rack(2).tasks(4).build(1).unwrap();
    let mut opts = deterministic();
    opts.chains = MAX_CHAINS + 1;
    let e = solve(&p, &opts).unwrap_err();
    assert!(e.reason().contains("chains"), "{e}");
}
