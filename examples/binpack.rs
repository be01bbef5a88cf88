//! Packs a bin-packing benchmark instance and reports the bins used against a lower bound.
//!
//! ```text
//! cargo run --release --example binpack -- FILE [--time-limit-ms N]
//! ```
//!
//! `FILE` is a BPPLIB instance (`.txt`/`.bpp`: item count, capacity, one weight per line) or a
//! vector instance (`.vbp`: dimensions, capacities, item types, then `w_1 … w_d demand`). One
//! line on stdout:
//!
//! ```text
//! bins N lower_bound L time_ms T
//! ```
//!
//! `N` is the number of bins of the best packing found (checked feasible), `L` the best of the
//! continuous and Martello–Toth L2 bounds over every dimension, `T` the wall time of packing
//! with three decimals. The packing starts from the best of first- and best-fit decreasing
//! (and, for vectors, the dot-product and L2-norm heuristics) and is improved by consistent
//! neighbourhood search (one bin fewer at a time) until it meets the lower bound or
//! `--time-limit-ms` (default 10,000) runs out. The limit covers all of the packing, heuristics
//! and bound included: on an instance too large for them, the items left when it runs out go by
//! next fit, so the run still ends within the limit with a feasible packing. Exit codes: 2 for a
//! usage error, 1 for an unreadable or malformed instance (files are read up to 64 MiB; the
//! error names the file, and the line and the cause, or the limit).

use std::process::ExitCode;

use kelvin::placement::binpack::{BinPacking, SearchLimit};

const USAGE: &str = "usage: binpack FILE [--time-limit-ms N]";

fn main() -> ExitCode {
    let mut path = None;
    let mut limit_ms: u64 = 10_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--time-limit-ms" => match args.next().and_then(|s| s.parse().ok()) {
                Some(n) => limit_ms = n,
                None => {
                    eprintln!("--time-limit-ms needs a non-negative integer\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if path.is_none() && !a.starts_with("--") => path = Some(a),
            _ => {
                eprintln!("unexpected argument {a:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // Reads at most `MAX_INSTANCE_BYTES` (64 MiB): a longer file, or a device that never
    // ends, is refused with the path and the limit; errors name the line and the cause.
    let instance = match BinPacking::read(&path) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("binpack: {e}");
            return ExitCode::from(1);
        }
    };
    let r = instance.pack_with(&SearchLimit::default().with_time_ms(limit_ms));
    println!(
        "bins {} lower_bound {} time_ms {:.3}",
        r.packing.bins, r.lower_bound, r.time_ms
    );
    ExitCode::SUCCESS
}
