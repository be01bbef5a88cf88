//! Replays a recorded dataset through `kelvin::Engine` and prints the report.
//!
//! ```text
//! cargo run --release --example replay            # the embedded edge-small dataset
//! cargo run --release --example replay -- DIR     # a dataset directory
//! ```

use std::process::ExitCode;

use kelvin::replay::{RecordedDataset, replay};

fn embedded() -> Result<RecordedDataset, kelvin::Error> {
    RecordedDataset::from_texts(
        "edge-small (embedded)",
        include_str!("../datasets/edge-small/inventory.json"),
        include_str!("../datasets/edge-small/workloads.json"),
        include_str!("../datasets/edge-small/metrics.prom").to_string(),
        Some(include_str!("../datasets/edge-small/ground_truth.csv")),
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ds = match args.as_slice() {
        [] => embedded(),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("usage: replay [DATASET_DIR]");
            return ExitCode::SUCCESS;
        }
        [dir] => RecordedDataset::load(dir),
        _ => {
            eprintln!("usage: replay [DATASET_DIR]");
            return ExitCode::from(2);
        }
    };
    match ds.and_then(|ds| replay(&ds)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::FAILURE
        }
    }
}
