//! Reassigns a ROADEF/EURO Challenge 2012 machine reassignment instance with the fleet
//! optimizer and reports its cost against the published lower bound.
//!
//! ```text
//! cargo run --release --example roadef -- MODEL ASSIGNMENT [--time-limit-s N] [--out SOLUTION]
//!     [--lower-bound L] [--seed S]
//! ```
//!
//! `MODEL` is a challenge model (`model_a1_1.txt`), `ASSIGNMENT` its initial assignment
//! (`assignment_a1_1.sol`). The instance becomes a `kelvin_placement::fleet::Problem` with the
//! challenge's rules and costs as objective terms (`kelvin_placement::roadef`), searched from
//! the initial assignment for `--time-limit-s` seconds (default 300, the challenge's limit); the
//! result is checked by the independent checker (`kelvin_placement::roadef::check`). Lines on
//! stdout, the last one the interface:
//!
//! ```text
//! initial_cost C0
//! parts load … balance … process_move … service_move … machine_move …
//! feasible true
//! cost C lower_bound L gap G% time_s T
//! ```
//!
//! `C` is the checked cost of the assignment written to `--out` (in the challenge's format: one
//! machine index per process on one line), never more than `C0`; `L` the lower bound of
//! Jaśkowski, Szubert and Gawron (2015), `lb_<instance>.txt` found under a
//! `bounds_jaskowski_j12/<A|B>/` folder beside the model or above it, or under
//! `../shared/instances/machinereassignment_roadef2012/` from the working directory (models of
//! set B extracted elsewhere), or given by `--lower-bound`; `G = (C − L) / L × 100` with two
//! decimals. Without a bound the line reads `lower_bound none gap none`; with a bound of 0 the
//! gap is `inf%` (or `0.00%` at cost 0). `T` is the wall time of the search and check, seconds.
//! Exit codes: 2 for a usage error, 1 for an unreadable or malformed input (the error names the
//! file, line, token and cause) or a solution that fails the checker.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use kelvin::placement::roadef::{self, Model, ReassignOptions};

const USAGE: &str = "usage: roadef MODEL ASSIGNMENT [--time-limit-s N] [--out SOLUTION] \
                     [--lower-bound L] [--seed S]";

struct Args {
    model: PathBuf,
    assignment: PathBuf,
    time_limit_s: f64,
    out: Option<PathBuf>,
    lower_bound: Option<u64>,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut paths = Vec::new();
    let mut time_limit_s = 300.0;
    let mut out = None;
    let mut lower_bound = None;
    let mut seed = 0;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--time-limit-s" => {
                time_limit_s = value("--time-limit-s")?
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or("--time-limit-s needs a non-negative number")?;
            }
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--lower-bound" => {
                lower_bound = Some(
                    value("--lower-bound")?
                        .parse()
                        .map_err(|_| "--lower-bound needs a non-negative integer")?,
                );
            }
            "--seed" => {
                seed = value("--seed")?
                    .parse()
                    .map_err(|_| "--seed needs a non-negative integer")?;
            }
            _ if !a.starts_with("--") => paths.push(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument {a:?}")),
        }
    }
    let [model, assignment]: [PathBuf; 2] = paths
        .try_into()
        .map_err(|_| "needs MODEL and ASSIGNMENT".to_owned())?;
    Ok(Args {
        model,
        assignment,
        time_limit_s,
        out,
        lower_bound,
        seed,
    })
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let model = Arc::new(Model::read(&args.model)?);
    let initial = model.read_assignment(&args.assignment)?;
    let start = Instant::now();
    let opts = ReassignOptions {
        time_limit_ms: (args.time_limit_s * 1000.0) as u64,
        seed: args.seed,
        ..ReassignOptions::default()
    };
    let out = roadef::reassign(&model, &initial, &opts)?;
    let time_s = start.elapsed().as_secs_f64();
    if !out.initial.feasible() {
        println!(
            "initial_feasible false ({} breaches)",
            out.initial.breaches.len()
        );
    }
    println!("initial_cost {}", out.initial.cost.total());
    println!("parts {}", out.report.cost);
    println!(
        "moved {} rounds {}{}",
        out.assignment
            .iter()
            .zip(&initial)
            .filter(|(a, b)| a != b)
            .count(),
        out.rounds,
        if out.kept_initial {
            " (search found nothing better: initial assignment kept)"
        } else {
            ""
        }
    );
    println!("feasible {}", out.report.feasible());
    if let Some(path) = &args.out {
        std::fs::write(path, roadef::format_assignment(&out.assignment))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let cost = out.report.cost.total();
    let shared = PathBuf::from("../shared/instances/machinereassignment_roadef2012");
    let bound = args.lower_bound.or_else(|| {
        roadef::find_lower_bound(&args.model, &[shared.join("bounds_jaskowski_j12")]).map(|b| b.1)
    });
    let (lb, gap) = match bound {
        None => ("none".to_owned(), "none".to_owned()),
        Some(0) if cost == 0 => ("0".to_owned(), "0.00%".to_owned()),
        Some(0) => ("0".to_owned(), "inf%".to_owned()),
        Some(l) => (
            l.to_string(),
            format!("{:.2}%", (cost as f64 - l as f64) / l as f64 * 100.0),
        ),
    };
    println!("cost {cost} lower_bound {lb} gap {gap} time_s {time_s:.1}");
    if !out.report.feasible() {
        for b in out.report.breaches.iter().take(10) {
            eprintln!("breach: {b:?}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
