//! Seals one CSV time series into Kelvin's compressed blocks and reports the size.
//!
//! ```text
//! cargo run --release --example compress -- FILE.csv [--ts-col N|none] [--value-col M] [--block-size S]
//! ```
//!
//! Columns are 0-based (defaults: timestamps in column 0, values in column 1); `--ts-col none`
//! reads a file without a timestamp column (row `i` at `i` seconds). The series is loaded with
//! `kelvin::store::read_csv_series` (a regular file of at most 64 MiB and 4,194,304 rows;
//! header and preamble lines detected, sorted by time),
//! sealed into blocks of up to `S` samples (default 8192, the store's block size) with
//! `kelvin::store::encode_block`, each block decoded again and checked bit for bit, and one
//! line is printed on stdout:
//!
//! ```text
//! samples N bytes B bytes_per_sample X
//! ```
//!
//! `B` is the total size of all blocks (timestamps and values, headers and checksums
//! included); `X` is `B / N` with 3 decimals (0 for an empty series). Exit codes: 2 for a
//! usage error (including a block size over `kelvin::store::MAX_BLOCK_SAMPLES`), 1 for an
//! input error (unreadable file, not a regular file, over the size or row limit, malformed
//! CSV, named with its line and column).

use std::process::ExitCode;

use kelvin::store::{MAX_BLOCK_SAMPLES, decode_block, encode_block, read_csv_series};

const USAGE: &str = "usage: compress FILE.csv [--ts-col N|none] [--value-col M] [--block-size S]";

struct Args {
    path: String,
    ts_col: Option<usize>,
    value_col: usize,
    block_size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut path = None;
    let mut ts_col = Some(0);
    let mut value_col = 1;
    let mut block_size = 8192;
    let mut args = std::env::args().skip(1);
    let number = |flag: &str, v: Option<String>| -> Result<usize, String> {
        v.as_deref()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{flag} needs a non-negative integer"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ts-col" => match args.next() {
                Some(v) if v == "none" => ts_col = None,
                v => ts_col = Some(number("--ts-col", v)?),
            },
            "--value-col" => value_col = number("--value-col", args.next())?,
            "--block-size" => {
                block_size = number("--block-size", args.next())?;
                if block_size == 0 || block_size > MAX_BLOCK_SAMPLES {
                    return Err(format!(
                        "--block-size must be between 1 and {MAX_BLOCK_SAMPLES}"
                    ));
                }
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ if path.is_some() => return Err("exactly one FILE expected".to_string()),
            _ => path = Some(a),
        }
    }
    let path = path.ok_or("missing FILE")?;
    if ts_col == Some(value_col) {
        return Err("--ts-col and --value-col name the same column".to_string());
    }
    Ok(Args {
        path,
        ts_col,
        value_col,
        block_size,
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
            eprintln!("compress: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compress: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let (ts, values) =
        read_csv_series(&args.path, args.ts_col, args.value_col).map_err(|e| e.to_string())?;
    let mut bytes = 0usize;
    for (t, v) in ts
        .chunks(args.block_size)
        .zip(values.chunks(args.block_size))
    {
        let block = encode_block(t, v).map_err(|e| e.to_string())?;
        let (dt, dv) = decode_block(&block).map_err(|e| e.to_string())?;
        let same = dt == t && dv.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits());
        if !same {
            return Err("a block did not decode to its samples (codec bug)".to_string());
        }
        bytes += block.len();
    }
    let n = ts.len();
    let per = if n == 0 { 0.0 } else { bytes as f64 / n as f64 };
    Ok(format!(
        "samples {n} bytes {bytes} bytes_per_sample {per:.3}"
    ))
}
