//! Objective terms written outside the crate (public API only), honoured by the `Placer` and
//! `solve` like the built-in goals; and hosts that draw power counting as awake.

use kelvin_placement::fleet::{
    Change, Destroy, Goal, Host, Objective, Placer, Policy, PowerCurve, Problem, Rack,
    SolveOptions, State, Task, Term, evaluate, solve,
};

use crate::support::id;

/// A maintenance penalty: `penalty_w` per workload on `host`.
struct Avoid {
    host: usize,
    penalty_w: f64,
}

impl Term for Avoid {
    fn name(&self) -> &str {
        "avoid"
    }
    fn value(&self, s: &State<'_>) -> f64 {
        self.penalty_w * s.task_count(self.host) as f64
    }
    fn delta(&self, _: &State<'_>, c: &Change<'_>) -> f64 {
        if c.host == self.host {
            self.penalty_w * c.sign()
        } else {
            0.0
        }
    }
}

/// A term that is always 0: every level made of it ties.
struct Nothing;

impl Term for Nothing {
    fn name(&self) -> &str {
        "nothing"
    }
    fn value(&self, _: &State<'_>) -> f64 {
        0.0
    }
    fn delta(&self, _: &State<'_>, _: &Change<'_>) -> f64 {
        0.0
    }
}

/// Two racks of three hosts; host 0 is a large, efficient one that the energy goal fills
/// first; twelve workloads of 4 cores.
fn fleet() -> Problem {
    let efficient = PowerCurve::try_new([
        49.0, 110.0, 130.0, 160.0, 176.0, 198.0, 228.0, 265.0, 305.0, 374.0, 454.0,
    ])
    .unwrap();
    let old = PowerCurve::try_new([
        58.4, 98.0, 109.0, 118.0, 128.0, 140.0, 153.0, 170.0, 189.0, 205.0, 222.0,
    ])
    .unwrap();
    let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into()]);
    p.racks.push(Rack::new(id("r0")));
    p.racks.push(Rack::new(id("r1")));
    p.hosts
        .push(Host::new(id("big"), 0, vec![112.0, 384.0], efficient).with_sleep(true, 10.0));
    for h in 1..6 {
        p.hosts.push(
            Host::new(id(&format!("h{h}")), h % 2, vec![24.0, 96.0], old).with_sleep(true, 10.0),
        );
    }
    for t in 0..12 {
        p.tasks
            .push(Task::new(id(&format!("w{t}")), vec![4.0, 8.0]).with_utilization(0.6, 0.1));
    }
    p
}

fn on_host(host_of: &[Option<usize>], h: usize) -> usize {
    host_of.iter().filter(|x| **x == Some(h)).count()
}

fn opts(seed: u64) -> SolveOptions {
    SolveOptions::default()
        .with_seed(seed)
        .with_rounds(300)
        .with_time_limit_ms(None)
}

#[test]
fn solve_honours_a_term_defined_outside_the_crate() {
    let p = fleet();
    let plain = solve(&p, &opts(3)).unwrap();
    assert_eq!(
        on_host(&plain.host_of, 0),
        12,
        "energy alone fills the efficient host"
    );

    let avoid = Avoid {
        host: 0,
        penalty_w: 1_000.0,
    };
    let objective = Objective::default().with_term(avoid, 1.0);
    let a = solve(&p, &opts(3).with_objective(objective.clone())).unwrap();
    assert_eq!(on_host(&a.host_of, 0), 0);
    assert_eq!(a.evaluation.unplaced, 0);
    assert!(evaluate(&p, &a.host_of).unwrap().violations.is_empty());
    // It costs energy, which the penalty outweighs.
    assert!(a.evaluation.facility_w() > plain.evaluation.facility_w());
    // Its value is reported with the built-in terms', in the objective's order.
    let names: Vec<&str> = a.terms.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "energy",
            "carbon",
            "stranded",
            "thermal",
            "migrations",
            "avoid"
        ]
    );
    assert_eq!(a.terms[5].1, 0.0);
    assert_eq!(plain.terms.len(), 5);
    // Deterministic for a seed, with the same four parallel chains.
    let b = solve(&p, &opts(3).with_objective(objective)).unwrap();
    assert_eq!(a.host_of, b.host_of);
    assert_eq!(a.evaluation, b.evaluation);
}

#[test]
fn the_placer_honours_a_term_defined_outside_the_crate() {
    let p = fleet();
    let place_all = |objective: Objective| {
        let mut placer = Placer::new(&p, Policy::Kelvin(objective)).unwrap();
        let decisions: Vec<_> = (0..p.tasks.len())
            .map(|t| placer.place(t).unwrap())
            .collect();
        (placer.assignment(), decisions)
    };
    let (plain, _) = place_all(Objective::default());
    assert!(on_host(&plain, 0) > 0);
    let penalty_w = 1_000.0;
    let with = || Objective::default().with_term(Avoid { host: 0, penalty_w }, 1.0);
    let (avoided, decisions) = place_all(with());
    assert_eq!(on_host(&avoided, 0), 0);
    let mut placer = Placer::new(&p, Policy::Kelvin(with())).unwrap();
    placer.place(0).unwrap();
    let avoid = Avoid {
        host: placer.host_of(0).unwrap(),
        penalty_w,
    };
    assert_eq!(avoid.value(placer.state()), penalty_w);
    assert_eq!(placer.state().task_count(avoid.host), 1);
    // The penalty is in every score the host would have had: the runner-up is never host 0
    // at less than the penalty.
    for d in &decisions {
        if let Some((h, score)) = d.runner_up {
            assert!(h != 0 || score >= penalty_w, "{d:?}");
        }
    }
    assert_eq!(place_all(with()).0, avoided, "the same choices every time");

    // Pinned to the avoided host, a workload goes there and its score carries the penalty.
    let mut q = fleet();
    q.tasks[0] = q.tasks[0].clone().pinned_to(vec![0]);
    let mut placer = Placer::new(&q, Policy::Kelvin(with())).unwrap();
    let d = placer.place(0).unwrap();
    assert_eq!(d.host, 0);
    let b = d.breakdown;
    let weighted = b.facility_w() + 10.0 * b.stranded + 25.0 * b.migration + penalty_w;
    assert!((b.score - weighted).abs() < 1e-6, "{b:?}");
}

#[test]
fn levels_have_no_fixed_limit() {
    // Six levels that always tie, then the penalty as the seventh, then energy: the seventh
    // still decides.
    let mut objective = Objective::empty();
    for _ in 0..6 {
        objective = objective.then_term(Nothing, 1.0);
    }
    let objective = objective
        .then_term(
            Avoid {
                host: 0,
                penalty_w: 1.0,
            },
            1.0,
        )
        .then_term(Goal::Energy, 1.0);
    assert_eq!(objective.levels(), 8);
    let p = fleet();
    let sol = solve(&p, &opts(5).with_objective(objective.clone())).unwrap();
    assert_eq!(on_host(&sol.host_of, 0), 0);
    assert_eq!(sol.evaluation.unplaced, 0);
    let mut placer = Placer::new(&p, Policy::Kelvin(objective)).unwrap();
    for t in 0..p.tasks.len() {
        assert_ne!(placer.place(t).unwrap().host, 0);
    }
    // With the penalty a level below energy, energy decides and fills the efficient host.
    let below = Objective::lexicographic([Goal::Energy]).then_term(
        Avoid {
            host: 0,
            penalty_w: 1.0,
        },
        1.0,
    );
    let sol = solve(&p, &opts(5).with_objective(below)).unwrap();
    assert_eq!(on_host(&sol.host_of, 0), 12);
}

/// Idle at 100 W, 10 W more per 10 % of its 16 cores.
fn ramp() -> PowerCurve {
    PowerCurve::try_new(std::array::from_fn(|k| 100.0 + 10.0 * k as f64)).unwrap()
}

#[test]
fn a_host_that_draws_power_counts_as_awake_in_the_placer() {
    let build = |awake: bool| {
        let mut p = Problem::new(vec!["cpu".into()]);
        p.racks.push(Rack::new(id("r")));
        p.hosts.push(Host::new(id("h0"), 0, vec![16.0], ramp()));
        p.hosts
            .push(Host::new(id("h1"), 0, vec![16.0], ramp()).with_awake(awake));
        p.tasks.push(Task::new(id("run"), vec![8.0]).running_on(0));
        p.tasks
            .push(Task::new(id("new"), vec![4.0]).pinned_to(vec![1]));
        p
    };
    let awake = build(true);
    let mut placer = Placer::new(&awake, Policy::Kelvin(Objective::default())).unwrap();
    // h1 runs nothing but draws its 100 W idle: awake.
    let e = placer.evaluation();
    assert_eq!(e.hosts_awake, 2);
    assert!((e.it_w - (150.0 + 100.0)).abs() < 1e-9, "{}", e.it_w);
    // Placing work there adds only the dynamic power: 25 % of the range.
    let d = placer.place(1).unwrap();
    assert_eq!(d.host, 1);
    assert!((d.breakdown.it_w - 25.0).abs() < 1e-9, "{:?}", d.breakdown);
    // Taking the work off leaves it awake, as it was.
    placer.remove(1);
    assert_eq!(placer.evaluation().hosts_awake, 2);

    // Asleep, the same host costs its idle floor to wake.
    let asleep = build(false);
    let mut placer = Placer::new(&asleep, Policy::Kelvin(Objective::default())).unwrap();
    assert_eq!(placer.evaluation().hosts_awake, 1);
    let d = placer.place(1).unwrap();
    assert!((d.breakdown.it_w - 125.0).abs() < 1e-9, "{:?}", d.breakdown);

    // Plans power empty hosts down whatever they do now: evaluate and solve price that.
    let today = [Some(0), None];
    assert_eq!(evaluate(&awake, &today).unwrap().hosts_awake, 1);
    let mut unpinned = build(true);
    unpinned.tasks[1].allowed_hosts = None;
    let sol = solve(&unpinned, &opts(1)).unwrap();
    assert_eq!(sol.host_of, [Some(0), Some(0)]);
    assert_eq!(sol.evaluation.hosts_awake, 1);
}

#[test]
fn a_host_that_cannot_sleep_counts_as_awake() {
    let mut p = Problem::new(vec!["cpu".into()]);
    p.racks.push(Rack::new(id("r")));
    p.hosts.push(Host::new(id("h0"), 0, vec![16.0], ramp()));
    p.hosts
        .push(Host::new(id("h1"), 0, vec![16.0], ramp()).with_sleep(false, 0.0));
    p.tasks.push(Task::new(id("w"), vec![4.0]).running_on(0));
    let e = evaluate(&p, &[Some(0)]).unwrap();
    assert_eq!(e.hosts_awake, 2);
    assert!((e.it_w - (125.0 + 100.0)).abs() < 1e-9);
}

/// Hosts of flat 0 W curves meet the power bound at once: a search for an objective without
/// power must be told not to stop there, and then re-places running work by its terms alone,
/// with the host-pair destroy move only.
#[test]
fn a_search_without_power_runs_past_the_power_bound() {
    let flat = PowerCurve::try_new([0.0; 11]).unwrap();
    let mut p = Problem::new(vec!["cpu".into()]);
    p.racks.push(Rack::new(id("r")));
    for h in 0..2 {
        p.hosts
            .push(Host::new(id(&format!("h{h}")), 0, vec![16.0], flat));
    }
    for t in 0..4 {
        p.tasks
            .push(Task::new(id(&format!("w{t}")), vec![1.0]).running_on(0));
    }
    let avoid = Avoid {
        host: 0,
        penalty_w: 1.0,
    };
    let base = SolveOptions::default()
        .with_rounds(400)
        .with_time_limit_ms(None)
        .with_objective(Objective::empty().then_term(avoid, 1.0));
    let stopped = solve(&p, &base).unwrap();
    assert_eq!((stopped.rounds, stopped.terms[0].1), (0, 4.0));
    let pairs = Destroy {
        empty_hosts: 0.0,
        host_pair: 1.0,
        rack_pair: 0.0,
    };
    let ran = solve(
        &p,
        &SolveOptions {
            stop_at_power_bound: false,
            destroy: pairs,
            ..base.clone()
        },
    )
    .unwrap();
    assert!(ran.rounds > 0);
    assert_eq!(ran.terms[0].1, 0.0, "{:?}", ran.host_of);
    let mostly_pairs = Destroy {
        host_pair: 0.9,
        ..pairs
    };
    assert!(
        solve(
            &p,
            &SolveOptions {
                destroy: mostly_pairs,
                ..base.clone()
            }
        )
        .is_ok()
    );
    let worse = Destroy {
        empty_hosts: 0.5,
        ..mostly_pairs
    };
    assert!(
        solve(
            &p,
            &SolveOptions {
                destroy: worse,
                ..base
            }
        )
        .is_err()
    );
}
