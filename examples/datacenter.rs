//! Places a simulated fleet with Kelvin and with the schedulers' policies of today, and
//! compares energy, cooling, violations and stranded capacity.
//!
//! ```text
//! cargo run --release --example datacenter -- [--seed N] [--racks R] [--hosts-per-rack H]
//!     [--tasks T] [--load F] [--model NAME] [--time-limit-ms MS] [--rounds N]
//! ```
//!
//! The fleet ([`kelvin::placement::fleet::Synthetic`], defaults 8 racks × 16 hosts, 600
//! workloads filling 55 % of the CPU) racks the simulator's SPECpower_ssj2008 server curves,
//! one model per rack (all three, or only `--model x3400-m3|rh2288-v2|nf5280-m5`), hosts
//! sleeping at 10 W when empty, with a PDU per rack capped at 65 % of nameplate on the 99th percentile
//! of predicted power, a heat-recirculation matrix and a CRAC whose supply temperature rises
//! as far as the hottest inlet allows (27 °C redline). Output, one row per policy:
//!
//! ```text
//! policy       it_kw cooling_kw facility_kw supply_c hosts_on unplaced stranded violations vs_spread
//! ```
//!
//! then the lower bound on facility power with Kelvin's gap, and every baseline violation
//! (capped at five per policy). `--time-limit-ms` (default 5,000) bounds Kelvin's whole
//! `solve`, construction included, at any fleet size: workloads it cannot place in time are
//! counted as unplaced and listed on a `kelvin: time limit blocks …` line, never placed
//! against a constraint. Fleets are limited to 2,048 racks, 1,000,000 hosts and 2^22
//! workloads. Exit code 2 on usage errors, 1 if Kelvin's placement breaks a constraint or
//! leaves work unplaced, or the fleet is past those limits.

use std::process::ExitCode;

use kelvin::placement::fleet::{
    Policy, Problem, Sampling, ServerModel, Solution, SolveOptions, Synthetic, baseline, solve,
};

const USAGE: &str = "usage: datacenter [--seed N] [--racks R] [--hosts-per-rack H] [--tasks T] \
                     [--load F] [--model NAME] [--time-limit-ms MS] [--rounds N]";

struct Args {
    seed: u64,
    racks: usize,
    hosts: usize,
    tasks: usize,
    load: f64,
    time_ms: u64,
    rounds: u64,
    model: Option<String>,
}

fn parse() -> Result<Option<Args>, String> {
    let mut a = Args {
        seed: 1,
        racks: 8,
        hosts: 16,
        tasks: 600,
        load: 0.55,
        time_ms: 5_000,
        rounds: 20_000,
        model: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: {value:?} is not a valid number");
        match flag.as_str() {
            "--seed" => a.seed = value.parse().map_err(bad)?,
            "--racks" => a.racks = value.parse().map_err(bad)?,
            "--hosts-per-rack" => a.hosts = value.parse().map_err(bad)?,
            "--tasks" => a.tasks = value.parse().map_err(bad)?,
            "--load" => {
                a.load = value
                    .parse()
                    .map_err(|_| format!("{flag}: {value:?} is not a number"))?
            }
            "--time-limit-ms" => a.time_ms = value.parse().map_err(bad)?,
            "--rounds" => a.rounds = value.parse().map_err(bad)?,
            "--model" => a.model = Some(value),
            _ => return Err(format!("unexpected argument {flag:?}")),
        }
    }
    if let Some(name) = &a.model {
        let names: Vec<&str> = kelvin_sim::archetypes().iter().map(|m| m.name).collect();
        if !names.contains(&name.as_str()) {
            return Err(format!(
                "unknown --model {name:?}; one of {}",
                names.join(", ")
            ));
        }
    }
    if a.racks == 0 || a.hosts == 0 || !(a.load > 0.0 && a.load <= 1.0) {
        return Err("racks and hosts must be positive and load in (0, 1]".into());
    }
    Ok(Some(a))
}

fn models(only: Option<&str>) -> Result<Vec<ServerModel>, kelvin::placement::PlacementError> {
    Ok(kelvin::fleet::server_models()?
        .into_iter()
        .filter(|m| only.is_none_or(|n| n == m.name))
        .collect())
}

fn row(s: &Solution, spread_w: f64) {
    let e = &s.evaluation;
    println!(
        "{:<12} {:>6.2} {:>10.2} {:>11.2} {:>8.2} {:>8} {:>8} {:>8.2} {:>10} {:>+8.1}%",
        s.policy,
        e.it_w / 1e3,
        e.cooling_w / 1e3,
        e.facility_w() / 1e3,
        e.supply_c,
        e.hosts_awake,
        e.unplaced,
        e.stranded,
        e.violations.len(),
        (e.facility_w() / spread_w - 1.0) * 100.0
    );
}

fn run(a: &Args) -> Result<bool, kelvin::placement::PlacementError> {
    let p: Problem = Synthetic::new(models(a.model.as_deref())?)
        .racks(a.racks)
        .hosts_per_rack(a.hosts)
        .tasks(a.tasks)
        .load(a.load)
        .build(a.seed)?;
    let sampling = Sampling::default();
    let baselines = [
        baseline(&p, Policy::RoundRobin, sampling)?,
        baseline(&p, Policy::Spread, sampling)?,
        baseline(&p, Policy::Pack, sampling)?,
    ];
    let opts = SolveOptions::default()
        .with_seed(a.seed)
        .with_rounds(a.rounds)
        .with_time_limit_ms(Some(a.time_ms));
    let kelvin = solve(&p, &opts)?;
    let spread_w = baselines[1].evaluation.facility_w();
    println!(
        "fleet: {} racks x {} hosts, {} workloads, {:.0} % of CPU requested, seed {}",
        a.racks,
        a.hosts,
        p.tasks.len(),
        100.0 * p.tasks.iter().map(|t| t.demand[0]).sum::<f64>()
            / p.hosts.iter().map(|h| h.capacity[0]).sum::<f64>(),
        a.seed
    );
    println!(
        "{:<12} {:>6} {:>10} {:>11} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9}",
        "policy",
        "it_kw",
        "cooling_kw",
        "facility_kw",
        "supply_c",
        "hosts_on",
        "unplaced",
        "stranded",
        "violations",
        "vs_spread"
    );
    for s in baselines.iter().chain(std::iter::once(&kelvin)) {
        row(s, spread_w);
    }
    println!(
        "kelvin: lower_bound_kw {:.2} gap {:.2} % rounds {} time_ms {:.0} construction_kw {:.2} construction_ms {:.0}",
        kelvin.bound.facility_w / 1e3,
        kelvin.gap() * 100.0,
        kelvin.rounds,
        kelvin.time_ms,
        kelvin.construction.facility_w() / 1e3,
        kelvin.construction_ms
    );
    for s in &baselines {
        for v in s.evaluation.violations.iter().take(5) {
            println!("{}: {}", s.policy, v.message);
        }
        if s.evaluation.violations.len() > 5 {
            println!("{}: … {} more", s.policy, s.evaluation.violations.len() - 5);
        }
    }
    for (constraint, blocked) in kelvin.blocking(&p) {
        println!("kelvin: {constraint} blocks {}", blocked.join(" "));
    }
    Ok(kelvin.evaluation.violations.is_empty() && kelvin.evaluation.unplaced == 0)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("datacenter: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("datacenter: {e}");
            ExitCode::from(1)
        }
    }
}
