//! Hostile-input reproducers: the GPU recording reader behind `gpu_attribution`, on copies of
//! the real H100 recording in `../shared` (skipped, saying so, when it is not there).

use std::path::{Path, PathBuf};

use kelvin::gpu::{GpuOptions, GpuRecording};
use kelvin::ingest::Reason;

use crate::within_budget;

fn recording() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/recordings/gpu-h100-2026-11-26");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: {} is not beside the checkout", dir.display());
        None
    }
}

/// A copy of the recording with `edit` applied to one file's text, removed afterwards.
fn with_copy<T>(
    name: &str,
    file: &str,
    edit: impl Fn(&str) -> String,
    f: impl FnOnce(&Path) -> T,
) -> Option<T> {
    let src = recording()?;
    let dir =
        std::env::temp_dir().join(format!("kelvin-hostile-gpu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    std::fs::write(dir.join(file), edit(&text)).unwrap();
    let out = f(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    Some(out)
}

/// Appends a copy of the last data row with every time column (`t_unix_ns`, and
/// `sample_ts_us` where the file has it) at the end of time.
fn append_row_at_end_of_time(text: &str) -> String {
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let last: Vec<String> = text
        .lines()
        .last()
        .unwrap()
        .split(',')
        .zip(&header)
        .map(|(v, h)| match *h {
            "t_unix_ns" => i64::MAX.to_string(),
            "sample_ts_us" => (i64::MAX / 1000).to_string(),
            _ => v.to_string(),
        })
        .collect();
    format!("{text}{}\n", last.join(","))
}

/// One row at `i64::MAX` ns (the issue's reproducer: the attribution failed with "idle floor:
/// 0 quiet intervals" naming nothing): each reading of the row is quarantined as
/// `implausible_time` in its file, and the attribution is the same as on the clean recording.
#[test]
fn a_sample_at_the_end_of_time_is_quarantined() {
    let Some(clean) = recording().map(|d| {
        let r = GpuRecording::load(d).unwrap();
        r.attribute(&GpuOptions::default()).unwrap().to_csv()
    }) else {
        return;
    };
    for file in ["nvml_device.csv", "nvml_process_util.csv"] {
        with_copy("end-of-time", file, append_row_at_end_of_time, |dir| {
            within_budget(|| {
                let r = GpuRecording::load(dir).unwrap_or_else(|e| panic!("{file}: {e}"));
                let readings_per_row = if file == "nvml_device.csv" { 8 } else { 2 };
                assert_eq!(
                    r.ingest.by_reason.get(&Reason::ImplausibleTime),
                    Some(&readings_per_row),
                    "{file}"
                );
                let q = r
                    .quarantine
                    .iter()
                    .find(|q| q.reason == Reason::ImplausibleTime)
                    .unwrap();
                assert!(q.place.to_string().ends_with(file), "{}", q.place);
                let csv = r.attribute(&GpuOptions::default()).unwrap().to_csv();
                assert_eq!(csv, clean, "{file}");
            })
        });
    }
}

/// A schedule event a thousand years after the telemetry: an error naming events.csv and
/// the phase, not a grid over the gap.
#[test]
fn a_schedule_far_from_the_telemetry_is_refused() {
    with_copy(
        "schedule",
        "events.csv",
        |s| {
            format!(
                "{s}9223372036854775806,phase_start,late,-,-\n9223372036854775807,phase_end,late,-,-\n"
            )
        },
        |dir| {
            let e = within_budget(|| GpuRecording::load(dir))
                .unwrap_err()
                .to_string();
            assert!(e.contains("events.csv"), "{e}");
            assert!(
                e.contains("phase late") && e.contains("after the data"),
                "{e}"
            );
        },
    );
}

/// Found by the `gpu_recording` fuzz target: one digit of `events.csv` (line 8, `1795…` made
/// `1785…`) moved a phase 116 days before the telemetry, and the half-second grid over the
/// gap asked for 160 MB at a time until the process died. Such a schedule is now refused; one
/// that is near enough to pass the schedule check but too long for the grid is refused by
/// the grid's bound, naming `--step-s`.
#[test]
fn a_phase_moved_months_or_days_away_is_refused() {
    for (name, from, to, expect) in [
        ("months", "1795", "1785", "before the data"),
        ("days", "17957", "17952", "--step-s"),
    ] {
        with_copy(
            name,
            "events.csv",
            |s| {
                let line8 = s.lines().nth(7).unwrap();
                assert!(line8.contains("phase_start"), "{line8}");
                s.replacen(line8, &line8.replacen(from, to, 1), 1)
            },
            |dir| {
                let e =
                    within_budget(|| GpuRecording::load(dir)?.attribute(&GpuOptions::default()))
                        .unwrap_err()
                        .to_string();
                assert!(e.contains("events.csv"), "{name}: {e}");
                assert!(e.contains(expect), "{name}: {e}");
            },
        );
    }
}
