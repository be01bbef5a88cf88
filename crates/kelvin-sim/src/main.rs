//! `kelvin-sim`: writes a recorded dataset with ground truth.
//!
//! ```text
//! kelvin-sim [--preset edge] [--seed N] [--duration-s N] --out DIR
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use kelvin_sim::{SimConfig, simulate};

const USAGE: &str = "usage: kelvin-sim [--preset edge] [--seed N] [--duration-s N] --out DIR";

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
            "--preset" => match value("--preset")?.as_str() {
                "edge" => {
                    cfg = SimConfig::edge()
                        .with_seed(cfg.seed)
                        .with_duration_s(cfg.duration_s)
                }
                p => return Err(format!("unknown preset {p:?} (known: edge)")),
            },
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
    let ds = simulate(&cfg).map_err(|e| e.to_string())?;
    ds.write_to(&out).map_err(|e| e.to_string())?;
    println!(
        "wrote {} ({} hosts, {} workloads, {} bytes of metrics)",
        out.display(),
        ds.inventory.hosts.len(),
        ds.workloads.len(),
        ds.metrics.len()
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
