//! Attributes a recorded GPU's measured energy to the workloads that ran on it, per phase.
//!
//! ```text
//! cargo run --release --example gpu_attribution -- RECORDING_DIR [--policy NAME] [--step-s S]
//!     [--fit loaded|exclusive] [--key sm_time|sm_cycles] [--check]
//! ```
//!
//! `RECORDING_DIR` holds an NVML capture (`nvml_device.csv`, `nvml_process_util.csv`), the
//! schedule (`events.csv`) and optionally the work counts (`work_*.csv`), e.g.
//! `../shared/recordings/gpu-h100-2026-11-26`. The telemetry is decoded by `kelvin-ingest`
//! (the schedule by `kelvin_ingest::schedule`), aligned by the store and settled by
//! `kelvin::attribution::gpu` (see its documentation), wired by `kelvin::gpu`. Stdout is CSV:
//!
//! ```text
//! phase,account,energy_j,lo_j,hi_j
//! ```
//!
//! one row per workload (`A`, `B`, `C`: the process labels up to `_`) and per named account
//! (`idle`, `system`, `unexplained`) for every phase of `events.csv`, in schedule order.
//! `energy_j` has six decimals (exact microjoules), so each phase's rows sum to the energy the
//! device's counter measured over the phase; `lo_j`/`hi_j` bound it at 95 % confidence.
//! The processes reserve nothing, so the device's idle floor is in `idle`.
//!
//! Stderr: ingest counts, the calibrated floor, the fitted per-workload signatures and, with
//! `--check`, the comparison of the shared phases with the exclusive runs, then one summary line
//! per fit, in sample and out of sample side by side:
//!
//! ```text
//! check fit=loaded within_10pct=5/9 share_mae=0.0466
//! check fit=exclusive within_10pct=…
//! ```
//!
//! `--fit` chooses the intervals the signatures are fitted on for the CSV and the table:
//! `loaded` (default; every interval with activity) or `exclusive` (only where one run is
//! alive, so the shared phases are out of sample). `--key` chooses what SM activity is counted
//! in: `sm_time` (default; signatures in W at full SM activity) or `sm_cycles` (activity × the
//! device's SM clock; signatures in J per giga-cycle). `--policy` is one of
//! `two_part_tariff` (default), `full_absorption`, `cpu_share`, `kepler_like`,
//! `scaphandre_like`. `--pue`, `--carbon-g-per-kwh` and `--price-per-kwh` (constants) add, on
//! stderr, each account's facility overhead, grams CO2e and cost over the recording. Exit
//! codes: 2 for a usage error, 1 for an input error.

use std::process::ExitCode;

use kelvin::Policy;
use kelvin::attribution::facility::{FacilityInputs, StepSeries};
use kelvin::gpu::{GpuFit, GpuKey, GpuOptions, GpuRecording, share_mae};

const USAGE: &str = "usage: gpu_attribution RECORDING_DIR [--policy NAME] [--step-s S] \
                     [--fit loaded|exclusive] [--key sm_time|sm_cycles] [--check]";

fn main() -> ExitCode {
    let mut dir = None;
    let mut opts = GpuOptions::default();
    let mut check = false;
    let mut facility = FacilityInputs::default();
    let mut priced = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--policy" => {
                let name = args.next().unwrap_or_default();
                match Policy::ALL.into_iter().find(|p| p.name() == name) {
                    Some(p) => opts = opts.with_policy(p),
                    None => {
                        eprintln!("unknown policy {name:?}\n{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--step-s" => match args.next().and_then(|s| s.parse::<f64>().ok()) {
                Some(s) if s > 0.0 => opts = opts.with_step_s(s),
                _ => {
                    eprintln!("--step-s needs a positive number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--fit" => match args.next().as_deref() {
                Some("loaded") => opts = opts.with_fit(GpuFit::Loaded),
                Some("exclusive") => opts = opts.with_fit(GpuFit::Exclusive),
                _ => {
                    eprintln!("--fit needs loaded or exclusive\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--key" => match args.next().as_deref() {
                Some("sm_time") => opts = opts.with_key(GpuKey::SmTime),
                Some("sm_cycles") => opts = opts.with_key(GpuKey::SmCycles),
                _ => {
                    eprintln!("--key needs sm_time or sm_cycles\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--check" => check = true,
            flag @ ("--pue" | "--carbon-g-per-kwh" | "--price-per-kwh") => {
                let Some(v) = args.next().and_then(|s| s.parse::<f64>().ok()) else {
                    eprintln!("{flag} needs a number\n{USAGE}");
                    return ExitCode::from(2);
                };
                let series = StepSeries::constant(v);
                facility = match flag {
                    "--pue" => facility.with_pue(series),
                    "--carbon-g-per-kwh" => facility.with_carbon_g_per_kwh(series),
                    _ => facility.with_price_per_kwh(series),
                };
                priced = true;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if dir.is_none() && !a.starts_with("--") => dir = Some(a),
            _ => {
                eprintln!("unexpected argument {a:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let facility = priced.then_some(facility);
    match run(&dir, &opts, check, facility.as_ref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu_attribution: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(
    dir: &str,
    opts: &GpuOptions,
    check: bool,
    facility: Option<&FacilityInputs>,
) -> Result<(), kelvin::Error> {
    let rec = GpuRecording::load(dir)?;
    eprintln!(
        "ingest: accepted {} quarantined {} ({} phases, {} processes)",
        rec.ingest.accepted,
        rec.ingest.quarantined,
        rec.phases.len(),
        rec.processes.len()
    );
    for q in rec.quarantine.iter().take(5) {
        eprintln!("  quarantined {q}");
    }
    let att = rec.attribute(opts)?;
    print!("{}", att.to_csv());
    let f = &att.floor.floor_w;
    let (lo, hi) = f
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(*x), b.max(*x))
        });
    eprintln!(
        "idle floor: {lo:.1}..{hi:.1} W ({:?}, {} quiet intervals, σ {:.2} W)",
        att.floor.method, att.floor.quiet_intervals, att.floor.sigma_w
    );
    let sig: Vec<String> = att
        .columns
        .iter()
        .zip(&att.model.coef_w)
        .map(|((w, r), c)| {
            // Under SM cycles the SM coefficient is watts per GHz of full SM activity.
            let cycles = opts.key == GpuKey::SmCycles && r.name() == "gpu_sm";
            format!(
                "{w}/{} {c:.1} {}",
                r.name(),
                if cycles { "W/GHz" } else { "W" }
            )
        })
        .collect();
    eprintln!(
        "signatures (W at full activity): {} (rmse {:.1} W)",
        sig.join(", "),
        att.model.rmse_w
    );
    if let Some(f) = facility {
        eprintln!("facility (whole recording): account,it_j,overhead_j,co2e_g,cost");
        for (name, share) in att.facility(f)? {
            eprintln!(
                "{name},{:.1},{:.1},{:.3},{:.5}",
                share.it_uj as f64 / 1e6,
                share.overhead_uj as f64 / 1e6,
                share.co2e_g,
                share.cost
            );
        }
    }
    if check {
        print_check(&rec, &att, opts)?;
    }
    Ok(())
}

/// The shared phases against the exclusive runs for the chosen fit, then a summary line for
/// each fit.
fn print_check(
    rec: &GpuRecording,
    att: &kelvin::gpu::GpuAttribution,
    opts: &GpuOptions,
) -> Result<(), kelvin::Error> {
    {
        eprintln!("shared phases vs exclusive runs (dynamic energy):");
        eprintln!("phase,workload,attributed_j,predicted_j,error_pct");
        for c in att.validate(&rec.work)? {
            eprintln!(
                "{},{},{:.1},{:.1},{:+.1}",
                c.phase,
                c.workload,
                c.attributed_j,
                c.predicted_j,
                c.error() * 100.0
            );
        }
    }
    for (name, fit) in [("loaded", GpuFit::Loaded), ("exclusive", GpuFit::Exclusive)] {
        let checks = if fit == opts.fit {
            att.validate(&rec.work)?
        } else {
            rec.attribute(&opts.clone().with_fit(fit))?
                .validate(&rec.work)?
        };
        let within = checks.iter().filter(|c| c.error().abs() <= 0.10).count();
        eprintln!(
            "check fit={name} within_10pct={within}/{} share_mae={:.4}",
            checks.len(),
            share_mae(&checks)
        );
    }
    Ok(())
}
