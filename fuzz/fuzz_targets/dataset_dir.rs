//! The recorded-dataset loader from a directory, `RecordedDataset::load` (or `open`, which
//! streams `metrics.prom`), then `replay`: covers the optional files that only the directory
//! form reads, `facility_truth.csv`, `captures/index.csv` with its capture files, and
//! `prometheus_rules.json`.
//!
//! Input: parts joined by NUL bytes, written to a scratch dataset directory (an empty or missing
//! part is a missing file): `inventory.json`, `workloads.json`, `metrics.prom`, `ground_truth.csv`,
//! `facility_truth.csv`, `prometheus_rules.json`, `captures/index.csv`, then up to four
//! capture files `captures/c0` … `captures/c3` (the seeds' index names them). The dataset is
//! opened with `open` when `metrics.prom` has an odd length, else with `load`.
#![no_main]

use kelvin_replay::{RecordedDataset, replay};
use kelvin_fuzz::{Scratch, budget, parts};
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 11] = [
    "inventory.json",
    "workloads.json",
    "metrics.prom",
    "ground_truth.csv",
    "facility_truth.csv",
    "prometheus_rules.json",
    "captures/index.csv",
    "captures/c0",
    "captures/c1",
    "captures/c2",
    "captures/c3",
];

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let dir = Scratch::new("dataset_dir");
        let p = parts(data, FILES.len());
        for (name, part) in FILES.iter().zip(&p) {
            if let Some(bytes) = part.filter(|b| !b.is_empty()) {
                dir.write(name, bytes);
            }
        }
        let stream = p[2].is_some_and(|m| m.len() % 2 == 1);
        let loaded = if stream {
            RecordedDataset::open(dir.path())
        } else {
            RecordedDataset::load(dir.path())
        };
        if let Ok(ds) = loaded
            && let Ok(report) = replay(&ds)
        {
            let _ = report.to_string();
            let _ = report.to_json();
        }
    });
});
