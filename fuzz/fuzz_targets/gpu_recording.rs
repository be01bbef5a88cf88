//! The GPU recording reader behind the `gpu_attribution` example: `GpuRecording::load` on a
//! directory, then `attribute`, `to_csv` and `validate`, as `gpu_attribution --check` runs.
//!
//! Input: parts joined by NUL bytes, written to a scratch recording directory (an empty or missing
//! part is a missing file): `nvml_device.csv`, `nvml_process_util.csv`, `events.csv`,
//! `work_0.csv`, `work_1.csv` (the reader sums every `work_*.csv`).
#![no_main]

use kelvin::gpu::{GpuOptions, GpuRecording};
use kelvin_fuzz::{Scratch, budget, parts};
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 5] = [
    "nvml_device.csv",
    "nvml_process_util.csv",
    "events.csv",
    "work_0.csv",
    "work_1.csv",
];

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let dir = Scratch::new("gpu_recording");
        for (name, part) in FILES.iter().zip(parts(data, FILES.len())) {
            if let Some(bytes) = part.filter(|b| !b.is_empty()) {
                dir.write(name, bytes);
            }
        }
        let Ok(rec) = GpuRecording::load(dir.path()) else {
            return;
        };
        let _ = rec.workloads();
        if let Ok(att) = rec.attribute(&GpuOptions::default()) {
            let _ = att.to_csv();
            let _ = att.validate(&rec.work);
        }
    });
});
