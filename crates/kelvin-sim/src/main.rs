//! `kelvin-sim`: writes a recorded dataset with ground truth.
//!
//! ```text
//! kelvin-sim [--preset edge|enterprise|gpu|scale|churn] [--hosts N] [--seed N] [--duration-s N] --out DIR
//! ```
//!
//! Options apply in order, after the preset: `--preset` resets the others' effect except
//! `--seed` and `--duration-s` given before it.

use std::path::PathBuf;
use std::process::ExitCode;

use kelvin_sim::{SimConfig, simulate_to};

const USAGE: &str = "usage: kelvin-sim [--preset edge|enterprise|gpu|scale|churn] [--hosts N] [--seed N] [--duration-s N] --out DIR";

fn run() -> Result<(), String> {
    let mut cfg = SimConfig::edge();
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--preset" => {
                let p = value("--preset")?;
                let fresh = SimConfig::preset(&p).ok_or_else(|| {
                    format!("unknown preset {p:?} (known: edge, enterprise, gpu, scale, churn)")
                })?;
                let base = SimConfig::edge();
                // Keep a seed or duration given before --preset.
                let seed = if cfg.seed != base.seed {
                    cfg.seed
                } else {
                    fresh.seed
                };
                let dur = if cfg.duration_s != base.duration_s {
                    cfg.duration_s
                } else {
                    fresh.duration_s
                };
                cfg = fresh.with_seed(seed).with_duration_s(dur);
            }
            "--hosts" => {
                let n: usize = value("--hosts")?
                    .parse()
                    .map_err(|e| format!("--hosts: {e}"))?;
                if n == 0 {
                    return Err("--hosts: at least 1".into());
                }
                cfg = cfg.with_hosts(n);
            }
            "--seed" => {
                cfg = cfg.with_seed(
                    value("--seed")?
                        .parse()
                        .map_err(|e| format!("--seed: {e}"))?,
                )
            }
            "--duration-s" => {
                cfg = cfg.with_duration_s(
                    value("--duration-s")?
                        .parse()
                        .map_err(|e| format!("--duration-s: {e}"))?,
                )
            }
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let out = out.ok_or_else(|| format!("--out is required\n{USAGE}"))?;
    let s = simulate_to(&cfg, &out).map_err(|e| e.to_string())?;
    let pods = if s.pods > 0 {
        format!(
            ", {} pods ({} never scheduled), {} pod events",
            s.pods, s.pods_unscheduled, s.pod_events
        )
    } else {
        String::new()
    };
    println!(
        "wrote {} ({} hosts, {} workloads{pods}, {} metric samples, {} captures)",
        out.display(),
        s.hosts,
        s.workloads,
        s.metrics_samples,
        s.captures
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kelvin-sim: {e}");
            ExitCode::from(2)
        }
    }
}
