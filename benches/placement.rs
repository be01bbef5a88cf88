//! Placement at fleet scale: 10,000 hosts (250 racks × 40, the simulator's three
//! SPECpower_ssj2008 server models, a percentile-capped PDU per rack, heat recirculation).
//!
//! - `place_one/*`: the scheduler's hot path — one workload placed into the running fleet
//!   (50,000 workloads already placed) and taken off again. `kelvin` filters on every hard
//!   constraint (capacity, rules, PDU caps at the 99th percentile, redlines) and scores the
//!   marginal facility power; the peer `kubernetes_least_allocated` is the Kubernetes
//!   scheduler's default scoring (`LeastAllocated`) over the same filter without power or heat,
//!   with the same `percentageOfNodesToScore`-style sampling (500 of 10,000 hosts). A separate
//!   loop of 5,000 placements prints the p50/p99 latency (printed, not a criterion figure).
//! - `batch/*`: 100,000 pending workloads onto the empty 10,000 hosts by greedy
//!   construction with 48+8 sampled candidates each: Kelvin's energy score against the
//!   `LeastAllocated` peer with the same sampling.
//! - After the groups, one full `solve` (construction plus search) under a 10 s budget prints
//!   its time, rounds, facility power and gap, and the process's peak RSS.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use kelvin::placement::fleet::{
    Objective, Placer, Policy, Problem, Sampling, SolveOptions, Synthetic, baseline, solve,
};

fn fleet(tasks: usize) -> Problem {
    Synthetic::new(kelvin::fleet::server_models().expect("published curves are valid"))
        .racks(250)
        .hosts_per_rack(40)
        .tasks(tasks)
        .build(1)
        .expect("valid synthetic fleet")
}

/// 100,000 workloads: the first half running where Kelvin's construction puts them.
fn running_fleet() -> Problem {
    let mut p = fleet(100_000);
    let mut half = p.clone();
    half.tasks.truncate(50_000);
    half.rules.clear();
    let placed = baseline(
        &half,
        Policy::Kelvin(Objective::default()),
        Sampling::batch(),
    )
    .expect("construction");
    for (t, h) in placed.host_of.iter().enumerate() {
        p.tasks[t].current = *h;
    }
    p.rules.clear();
    p
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn latency(p: &Problem, policy: Policy, label: &str) {
    let mut placer = Placer::new(p, policy).expect("valid problem");
    let mut times = Vec::with_capacity(5_000);
    for t in 50_000..55_000 {
        let start = Instant::now();
        let d = placer.place(t);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        black_box(d.ok());
    }
    times.sort_by(f64::total_cmp);
    let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize];
    println!(
        "place_one/{label}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over 5,000 placements into 10,000 hosts",
        q(0.5),
        q(0.99),
        q(1.0)
    );
}

fn place_one(c: &mut Criterion) {
    let p = running_fleet();
    let mut g = c.benchmark_group("place_one");
    for (label, policy) in [
        ("kelvin", Policy::Kelvin(Objective::default())),
        ("kubernetes_least_allocated", Policy::Spread),
    ] {
        let mut placer = Placer::new(&p, policy.clone()).expect("valid problem");
        let mut t = 50_000;
        g.bench_function(label, |b| {
            b.iter(|| {
                let d = placer.place(t);
                placer.remove(t);
                t = if t + 1 == 100_000 { 50_000 } else { t + 1 };
                black_box(d.ok())
            })
        });
        latency(&p, policy, label);
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let p = fleet(100_000);
    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.bench_function("kelvin_construction", |b| {
        b.iter(|| {
            baseline(&p, Policy::Kelvin(Objective::default()), Sampling::batch())
                .expect("construction")
                .evaluation
                .facility_w()
        })
    });
    g.bench_function("kubernetes_least_allocated", |b| {
        b.iter(|| {
            baseline(&p, Policy::Spread, Sampling::batch())
                .expect("construction")
                .evaluation
                .facility_w()
        })
    });
    g.finish();
    let opts = SolveOptions::default().with_time_limit_ms(Some(9_000));
    let sol = solve(&p, &opts).expect("solve");
    let spread = baseline(&p, Policy::Spread, Sampling::batch()).expect("spread");
    println!(
        "solve 100,000 workloads onto 10,000 hosts: {:.0} ms total ({:.0} ms construction, {} search rounds), \
         facility {:.1} kW (construction {:.1} kW, spread {:.1} kW, lower bound {:.1} kW, gap {:.2} %), \
         {} violations, {} unplaced; peak RSS {:.0} MiB",
        sol.time_ms,
        sol.construction_ms,
        sol.rounds,
        sol.evaluation.facility_w() / 1e3,
        sol.construction.facility_w() / 1e3,
        spread.evaluation.facility_w() / 1e3,
        sol.bound.facility_w / 1e3,
        sol.gap() * 100.0,
        sol.evaluation.violations.len(),
        sol.evaluation.unplaced,
        peak_rss_mib()
    );
}

criterion_group!(benches, place_one, batch);
criterion_main!(benches);
