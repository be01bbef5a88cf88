//! The objective terms against the independent checker, on random reassignments of the
//! challenge's instances a1_1 and a1_2 (skipped, saying so, without `../shared`).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Breach, Model, check, fleet_problem, objective};
use crate::fleet::{Change, Delta, Direction, Problem, State, Term, state_of};
use crate::rng::Rng;

fn instance(name: &str) -> Option<(Model, Vec<usize>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/instances/machinereassignment_roadef2012/A");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return None;
    }
    let model = Model::read(&dir.join(format!("model_{name}.txt"))).unwrap();
    let initial = model
        .read_assignment(&dir.join(format!("assignment_{name}.sol")))
        .unwrap();
    Some((model, initial))
}

fn state<'p>(p: &'p Problem, a: &[usize]) -> State<'p> {
    let host_of: Vec<Option<u32>> = a.iter().map(|m| Some(*m as u32)).collect();
    state_of(p, &host_of)
}

/// Breaches the fleet does not check itself (capacity and conflict are its own constraints).
fn term_breaches(b: &[Breach]) -> usize {
    b.iter()
        .filter(|b| !matches!(b, Breach::Capacity { .. } | Breach::Conflict { .. }))
        .count()
}

fn compare_on(name: &str, seed: u64) {
    let Some((model, initial)) = instance(name) else {
        return;
    };
    let model = Arc::new(model);
    let p = fleet_problem(&model, &initial).unwrap();
    let obj = objective(Arc::clone(&model), initial.clone());
    let terms: Vec<&dyn Term> = obj.terms().map(|(_, t, _)| t).collect();
    let (hard, cost) = (terms[0], terms[1]);
    let mut rng = Rng(seed);
    let mut a = initial.clone();
    let (mut feasible_seen, mut infeasible_seen) = (0, 0);
    for _ in 0..300 {
        let t = rng.below(a.len());
        let to = rng.below(model.machines.len());
        let mut b = a.clone();
        b[t] = to;
        let report = check(&model, &initial, &b);
        let s = state(&p, &b);
        assert_eq!(cost.value(&s), report.cost.total() as f64, "{name}: cost");
        let h = hard.value(&s);
        assert_eq!(h > 0.0, term_breaches(&report.breaches) > 0, "{name}: {h}");
        if report.feasible() {
            feasible_seen += 1;
            a = b;
        } else {
            infeasible_seen += 1;
        }
    }
    assert!(
        feasible_seen > 10 && infeasible_seen > 10,
        "{feasible_seen} {infeasible_seen}"
    );
}

#[test]
fn cost_term_equals_the_checker_on_random_reassignments() {
    compare_on("a1_1", 1);
    compare_on("a1_2", 2);
}

/// One move of `t` from its host to `to`: the terms' deltas off and onto against their
/// values' change (the cost term prices the service move cost in values only).
fn check_move(p: &Problem, model: &Model, initial: &[usize], a: &[usize], t: usize, to: usize) {
    let obj = objective(Arc::new(model.clone()), initial.to_vec());
    let terms: Vec<&dyn Term> = obj.terms().map(|(_, t, _)| t).collect();
    let mut s = state(p, a);
    let before: Vec<f64> = terms.iter().map(|x| x.value(&s)).collect();
    let none = Delta::default();
    let from = a[t];
    let off = Change {
        task: t,
        host: from,
        direction: Direction::Off,
        effect: &none,
    };
    let d_off: Vec<f64> = terms.iter().map(|x| x.delta(&s, &off)).collect();
    s.remove(t);
    let onto = Change {
        task: t,
        host: to,
        direction: Direction::Onto,
        effect: &none,
    };
    let d_on: Vec<f64> = terms.iter().map(|x| x.delta(&s, &onto)).collect();
    s.add(t, to);
    let after: Vec<f64> = terms.iter().map(|x| x.value(&s)).collect();
    let mut b = a.to_vec();
    b[t] = to;
    let smc = |x: &[usize]| check(model, initial, x).cost.service_move as f64;
    assert_eq!(
        after[0] - before[0],
        d_off[0] + d_on[0],
        "hard, {t} to {to}"
    );
    assert_eq!(
        after[1] - before[1] - (smc(&b) - smc(a)),
        d_off[1] + d_on[1],
        "cost, {t} to {to}"
    );
}

#[test]
fn deltas_match_the_change_of_values() {
    for (name, seed) in [("a1_1", 3), ("a1_2", 4)] {
        let Some((model, initial)) = instance(name) else {
            return;
        };
        let p = fleet_problem(&model, &initial).unwrap();
        let mut rng = Rng(seed);
        let mut a = initial.clone();
        for _ in 0..100 {
            let t = rng.below(a.len());
            let to = rng.below(model.machines.len());
            check_move(&p, &model, &initial, &a, t, to);
            a[t] = to;
        }
    }
}
