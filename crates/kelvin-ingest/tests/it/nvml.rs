//! Conformance tests for the NVML sampler decoders (see main.rs) against the real H100
//! recording in `../shared/recordings/gpu-h100-2026-11-26`: 294 s of three GPU workloads run
//! alone and together, sampled through pynvml every ~55 ms (device) and ~0.5 s (processes).

use std::collections::BTreeSet;
use std::path::Path;

use kelvin_ingest::counter::CounterTracker;
use kelvin_ingest::nvidia::{NvidiaSmiPmon, NvidiaSmiQuery};
use kelvin_ingest::{
    Context, Decode, Format, IngestBatch, Normalizer, decode_path, decoders, detect,
};
use kelvin_model::{Quality, SensorKind, Timestamp};

use crate::support::recording;

const DIR: &str = "gpu-h100-2026-11-26";

/// The decoders of the crate whose sniffer claims the start of `path`.
fn claimed_by(path: &Path) -> Vec<Format> {
    let text = std::fs::read_to_string(path).unwrap();
    let head: String = text.chars().take(8192).collect();
    decoders()
        .into_iter()
        .filter(|d| d.detect(&head).is_some())
        .map(|d| d.name().parse::<Format>().unwrap())
        .collect()
}

/// `decode_path` with format detection, as the `ingest` example and the GPU attribution read it.
fn auto(path: &Path) -> IngestBatch {
    let n = Normalizer::builtin();
    let ctx = Context::new(path.display().to_string(), &n);
    let b = decode_path(path, None, &ctx).unwrap();
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert_eq!(b.stats.accepted as usize, b.readings.len());
    b
}

fn series(b: &IngestBatch, sensor: &str) -> Vec<(Timestamp, f64)> {
    b.readings
        .iter()
        .filter(|r| r.sensor == sensor)
        .map(|r| (r.ts, r.value))
        .collect()
}

#[test]
fn h100_device_samples() {
    let Some(dir) = recording(DIR) else { return };
    let path = dir.join("nvml_device.csv");
    assert_eq!(claimed_by(&path), [Format::NvmlDeviceCsv]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(detect(&text[..4096]), Some(Format::NvmlDeviceCsv));
    let b = auto(&path);
    // 5209 rows × (power, power limit, energy, two utilizations, temperature, two clocks);
    // memory, pstate and throttle reasons are attributes
    assert_eq!((b.stats.seen, b.stats.quarantined), (5209 * 8, 0));
    assert!(b.readings.iter().all(|r| r.entity.as_str() == "gpu-0"));
    assert!(b.readings.iter().all(|r| r.quality == Quality::Good));
    let first = &b.readings[..8];
    let got: Vec<(&str, SensorKind)> = first.iter().map(|r| (r.sensor.as_str(), r.kind)).collect();
    assert_eq!(
        got,
        [
            ("power.draw", SensorKind::Power),
            ("power.limit", SensorKind::Power),
            ("total_energy_consumption", SensorKind::Energy),
            ("utilization.gpu", SensorKind::Utilization),
            ("utilization.memory", SensorKind::Utilization),
            ("temperature.gpu", SensorKind::Temperature),
            ("clocks.sm", SensorKind::Frequency),
            ("clocks.mem", SensorKind::Frequency),
        ]
    );
    // 345 MHz idle, the memory at 2,619 MHz
    assert_eq!((first[6].value, first[7].value), (345e6, 2_619e6));
    assert_eq!(first[0].value, 72.118);
    assert_eq!(
        first[0].ts,
        Timestamp::from_nanos(1_795_724_408_280_441_740)
    );
    assert_eq!(first[1].value, 700.0);
    assert!((first[2].value - 112_194.348).abs() < 1e-6);
    assert_eq!(first[5].value, 42.0);

    // power: idle ≈ 71 W, solo compute above 600 W, within the 700 W cap up to excursions
    let power = series(&b, "power.draw");
    assert_eq!(power.len(), 5209);
    let min = power.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let max = power.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    // (mW → W multiplies by 1e-3 in the model: 71326 mW is 71.32600000000001 W)
    assert!(
        (min - 71.326).abs() < 1e-9 && (max - 711.212).abs() < 1e-9,
        "{min} {max}"
    );
    assert!(power.windows(2).all(|w| w[1].0 > w[0].0), "times increase");
    assert!(
        b.readings
            .iter()
            .filter(|r| r.kind == SensorKind::Utilization)
            .all(|r| (0.0..=1.0).contains(&r.value))
    );

    // the energy counter never goes back: a counter tracker sees no reset, wrap or clock step,
    // and its increase agrees with the integral of the sampled power to 0.1 %
    let energy = series(&b, "total_energy_consumption");
    assert!(energy.windows(2).all(|w| w[1].1 >= w[0].1), "monotone");
    let mut tracker = CounterTracker::new(None);
    let total: f64 = energy
        .iter()
        .filter_map(|&(t, v)| tracker.push(t, v).delta())
        .sum();
    let stats = tracker.stats();
    assert_eq!((stats.resets, stats.wraps, stats.clock_steps), (0, 0, 0));
    assert!((total - 110_096.879).abs() < 1e-3, "{total}");
    let integral: f64 = power
        .windows(2)
        .map(|w| (w[1].0.as_nanos() - w[0].0.as_nanos()) as f64 / 1e9 * (w[0].1 + w[1].1) / 2.0)
        .sum();
    assert!(
        (integral / total - 1.0).abs() < 1e-3,
        "{integral} J vs {total} J"
    );
}

#[test]
fn h100_process_samples() {
    let Some(dir) = recording(DIR) else { return };
    let path = dir.join("nvml_process_util.csv");
    assert_eq!(claimed_by(&path), [Format::NvmlProcessCsv]);
    let b = auto(&path);
    // 424 rows × (sm, mem)
    assert_eq!((b.stats.seen, b.stats.quarantined), (424 * 2, 0));
    let sm = &b.readings[0];
    assert_eq!(
        (sm.entity.as_str(), sm.sensor.as_str(), sm.kind, sm.value),
        ("pid-950", "gpu0/sm", SensorKind::Utilization, 0.64)
    );
    // the NVML sample's time, not the poll's
    assert_eq!(sm.ts, Timestamp::from_nanos(1_795_724_432_119_211_000));
    assert_eq!(
        (b.readings[1].sensor.as_str(), b.readings[1].value),
        ("gpu0/mem", 0.21)
    );
    assert!(b.readings.iter().all(|r| r.quality == Quality::Good));
    assert!(b.readings.iter().all(|r| (0.0..=1.0).contains(&r.value)));
    let pids: BTreeSet<&str> = b.readings.iter().map(|r| r.entity.as_str()).collect();
    assert_eq!(pids.len(), 12);
    let sensors: BTreeSet<&str> = b.readings.iter().map(|r| r.sensor.as_str()).collect();
    assert_eq!(sensors, BTreeSet::from(["gpu0/mem", "gpu0/sm"]));

    // the same processes, entities and sensors as nvidia-smi pmon's capture of the run, so
    // downstream code treats both sources alike
    let n = Normalizer::builtin();
    let pmon_text = std::fs::read_to_string(dir.join("nvidia-smi-pmon.txt")).unwrap();
    let mut pmon = IngestBatch::default();
    NvidiaSmiPmon.decode(&pmon_text, &Context::new("pmon", &n), &mut pmon);
    let pmon_keys: BTreeSet<(&str, &str)> = pmon
        .readings
        .iter()
        .map(|r| (r.entity.as_str(), r.sensor.as_str()))
        .collect();
    let nvml_keys: BTreeSet<(&str, &str)> = b
        .readings
        .iter()
        .map(|r| (r.entity.as_str(), r.sensor.as_str()))
        .collect();
    assert!(nvml_keys.is_subset(&pmon_keys), "{nvml_keys:?}");

    // the first sample of a new process can carry a stale time (here 11.6 s before the poll,
    // before the process started, at 0 %): kept, at its own time
    let stale = b
        .readings
        .iter()
        .find(|r| r.entity.as_str() == "pid-994")
        .unwrap();
    assert_eq!(
        (stale.ts, stale.value),
        (Timestamp::from_nanos(1_795_724_456_920_241_000), 0.0)
    );
}

#[test]
fn h100_device_and_query_fill_the_same_series() {
    let Some(dir) = recording(DIR) else { return };
    let n = Normalizer::builtin();
    let query_text = std::fs::read_to_string(dir.join("nvidia-smi-query.csv")).unwrap();
    let mut query = IngestBatch::default();
    let ctx = Context::new("q", &n).with_entity(kelvin_model::EntityId::new("gpu-0").unwrap());
    NvidiaSmiQuery.decode(&query_text, &ctx, &mut query);
    let device = auto(&dir.join("nvml_device.csv"));
    let keys = |b: &IngestBatch| -> BTreeSet<(String, String, SensorKind)> {
        b.readings
            .iter()
            .map(|r| (r.entity.to_string(), r.sensor.to_string(), r.kind))
            .collect()
    };
    let (q, d) = (keys(&query), keys(&device));
    assert_eq!(q.len(), 4);
    assert!(q.is_subset(&d), "{q:?} ⊄ {d:?}");
    // and the two captures agree on the idle draw at the start (≈ 72 W)
    assert!((series(&query, "power.draw")[0].1 - series(&device, "power.draw")[0].1).abs() < 0.1);
}
