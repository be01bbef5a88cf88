//! `kelvin-agent --config FILE`: polls the configured sources into a durable live engine and
//! serves `/metrics`, `/healthz`, `/readyz` and the bills API; with `[remote_write]`, pushes.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--help" | "-h" => {
                println!("usage: kelvin-agent --config FILE");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!(
                    "kelvin-agent: unknown argument {other:?}; usage: kelvin-agent --config FILE"
                );
                return ExitCode::from(2);
            }
        }
    }
    let Some(config) = config else {
        eprintln!("kelvin-agent: --config FILE is required");
        return ExitCode::from(2);
    };
    match kelvin_agent::launch::run_file(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kelvin-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
