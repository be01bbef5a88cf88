//! The recorded-dataset loader from texts, `RecordedDataset::from_texts`, then `replay` when
//! the dataset loads: the path of datasets embedded with `include_str!` and of every replay.
//!
//! Input: `inventory.json`, `workloads.json`, `metrics.prom` and `ground_truth.csv` joined by
//! NUL bytes (an empty or missing fourth part means no ground truth). The replay must stay within the
//! heap budget and libFuzzer's timeout; its report must render as text and JSON.
#![no_main]

use kelvin_replay::{RecordedDataset, replay};
use kelvin_fuzz::{budget, parts, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let p = parts(data, 4);
        let part = |i: usize| p[i].map(text);
        let (inventory, workloads, metrics) = (
            part(0).unwrap_or_default(),
            part(1).unwrap_or_default(),
            part(2).unwrap_or_default(),
        );
        let truth = p[3].filter(|b| !b.is_empty()).map(text);
        let Ok(ds) = RecordedDataset::from_texts(
            "fuzz",
            &inventory,
            &workloads,
            metrics.into_owned(),
            truth.as_deref(),
        ) else {
            return;
        };
        if let Ok(report) = replay(&ds) {
            let _ = report.to_string();
            let _ = report.to_json();
        }
    });
});
