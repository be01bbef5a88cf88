use kelvin_model::{EntityId, Quality, Reading, SensorKind, TimeRange, Timestamp};
use kelvin_store::{Fill, Grid, MemStore, ResampleOptions, SeriesKey, SeriesRead};

const S: i64 = Timestamp::NANOS_PER_SEC;
const MINUTE: i64 = 60 * S;
/// 2023-11-14T22:13:20Z, a whole minute.
const T0: i64 = 1_700_000_000 * S;

fn host(id: &str) -> EntityId {
    EntityId::new(id).unwrap()
}

fn reading(entity: &str, sensor: &str, kind: SensorKind, value: f64, t_ns: i64) -> Reading {
    Reading::new(
        host(entity),
        sensor,
        kind,
        value,
        Timestamp::from_nanos(t_ns),
    )
}

/// A plausible PSU power curve: 150–400 W with a slow swing and a faster wobble.
fn watts(t_ns: i64) -> f64 {
    let t = (t_ns - T0) as f64 / S as f64;
    275.0 + 100.0 * (t / 600.0).sin() + 20.0 * (t / 47.0).cos()
}

/// One hour of power every 15 s on the dot, and an energy counter computed from it exactly (for
/// a power that is linear between samples), with an exporter restart at sample 100.
fn power_and_energy() -> (MemStore, SeriesKey, SeriesKey) {
    let mut store = MemStore::new();
    let mut energy = 262_143.0; // a RAPL-sized starting count, in J
    let mut prev: Option<(i64, f64)> = None;
    for i in 0..=240 {
        let t = T0 + i * 15 * S;
        let p = watts(t);
        if let Some((t0, p0)) = prev {
            let joules = 0.5 * (p0 + p) * ((t - t0) as f64 / S as f64);
            // The exporter restarts right after sample 99: it counts from zero again.
            energy = if i == 100 { joules } else { energy + joules };
        }
        prev = Some((t, p));
        store.insert(&reading("host-01", "psu1", SensorKind::Power, p, t));
        store.insert(&reading("host-01", "rapl", SensorKind::Energy, energy, t));
    }
    let power = SeriesKey::new(host("host-01"), "psu1", SensorKind::Power);
    let energy = SeriesKey::new(host("host-01"), "rapl", SensorKind::Energy);
    (store, power, energy)
}

#[test]
fn energy_from_power_equals_the_energy_counter_increase() {
    let (store, power, energy) = power_and_energy();
    let hour = TimeRange::try_new(
        Timestamp::from_nanos(T0),
        Timestamp::from_nanos(T0 + 60 * MINUTE),
    )
    .unwrap();
    let grid = Grid::covering(hour, MINUTE).unwrap();
    assert_eq!(grid.intervals(), 60);
    let opts = ResampleOptions::default();

    let joules = store.integrate(&power, &grid, &opts).unwrap();
    let counted = store.increase(&energy, &grid, &opts).unwrap();
    assert_eq!(counted.resets, 1);
    for (i, (j, c)) in joules.iter().zip(&counted.values).enumerate() {
        assert!(
            (j - c).abs() <= 1e-9 * j,
            "minute {i}: integrated {j} J, counted {c} J"
        );
        // 150–400 W for a minute is 9–24 kJ.
        assert!((9_000.0..=24_000.0).contains(j), "minute {i}: {j} J");
    }
    let total: f64 = joules.iter().sum();
    let hour_avg_w = total / 3600.0;
    assert!((200.0..=350.0).contains(&hour_avg_w), "{hour_avg_w} W");
}

#[test]
fn jittered_scrapes_still_integrate_close_to_the_truth() {
    // Scrape times wander by up to ±2 s; the truth is the power curve itself.
    let mut store = MemStore::new();
    for i in 0..=240i64 {
        let jitter_ms = (i * 7919) % 4001 - 2000;
        let t = T0 + i * 15 * S + jitter_ms * 1_000_000;
        store.insert(&reading("host-01", "psu1", SensorKind::Power, watts(t), t));
    }
    let key = SeriesKey::new(host("host-01"), "psu1", SensorKind::Power);
    // Whole minutes inside the samples: the first sample may be up to 2 s late.
    let grid = Grid::try_new(Timestamp::from_nanos(T0 + MINUTE), MINUTE, 59).unwrap();
    let joules = store
        .integrate(&key, &grid, &ResampleOptions::default())
        .unwrap();
    for (i, j) in joules.iter().enumerate() {
        // The exact integral of the curve, by a fine midpoint rule.
        let a = grid.point(i).as_nanos();
        let n = 6000;
        let h = MINUTE / n;
        let truth: f64 = (0..n)
            .map(|k| watts(a + k * h + h / 2) * (h as f64 / S as f64))
            .sum();
        assert!(
            (j - truth).abs() <= 0.005 * truth,
            "minute {i}: {j} J vs {truth} J"
        );
    }
}

#[test]
fn a_scrape_outage_leaves_exactly_its_minutes_unknown() {
    // Every 15 s for an hour, except nothing between minute 20 and minute 30.
    let mut store = MemStore::new();
    for i in 0..=240i64 {
        let t = T0 + i * 15 * S;
        if t > T0 + 20 * MINUTE && t < T0 + 30 * MINUTE {
            continue;
        }
        store.insert(&reading("host-01", "psu1", SensorKind::Power, watts(t), t));
    }
    let key = SeriesKey::new(host("host-01"), "psu1", SensorKind::Power);
    let (first, last) = store.time_span().unwrap();
    let grid = Grid::covering(TimeRange::try_new(first, last).unwrap(), MINUTE).unwrap();

    let joules = store
        .integrate(&key, &grid, &ResampleOptions::default())
        .unwrap();
    let unknown: Vec<usize> = (0..joules.len()).filter(|&i| joules[i].is_nan()).collect();
    assert_eq!(unknown, (20..30).collect::<Vec<_>>());

    // The same holds for point values, except at the samples bounding the gap.
    let per_point = store
        .resample(&key, &grid, &ResampleOptions::default())
        .unwrap();
    let unknown: Vec<usize> = (0..per_point.len())
        .filter(|&i| per_point[i].is_nan())
        .collect();
    assert_eq!(unknown, (21..30).collect::<Vec<_>>());

    // Accepting 15-minute gaps bridges the outage with a straight line (or a held value).
    for fill in [Fill::Linear, Fill::Locf] {
        let lenient = ResampleOptions::default()
            .with_fill(fill)
            .with_max_gap_ns(15 * MINUTE);
        let joules = store.integrate(&key, &grid, &lenient).unwrap();
        assert!(joules.iter().all(|j| j.is_finite()), "{fill:?}");
    }
    let lenient = ResampleOptions::default()
        .with_fill(Fill::Locf)
        .with_max_gap_ns(15 * MINUTE);
    let held = store.integrate(&key, &grid, &lenient).unwrap();
    let p20 = watts(T0 + 20 * MINUTE);
    assert!(
        (held[25] - p20 * 60.0).abs() < 1e-6,
        "{} vs {}",
        held[25],
        p20 * 60.0
    );
}

#[test]
fn a_rack_of_hosts_scraped_with_late_resent_and_missing_readings() {
    let hosts = ["host-01", "host-02", "host-03"];
    let scrape = |i: i64| -> Vec<Reading> {
        let t = T0 + i * 15 * S;
        let mut rs = Vec::new();
        for (h, name) in hosts.iter().enumerate() {
            let w = 180.0 + 60.0 * h as f64 + (i % 4) as f64 * 5.0;
            rs.push(reading(name, "psu1", SensorKind::Power, w, t));
            let fan = reading(name, "fan1", SensorKind::FanSpeed, f64::NAN, t)
                .with_quality(Quality::Absent);
            rs.push(fan);
        }
        rs
    };
    let mut store = MemStore::new();
    let mut late = Vec::new();
    for i in 0..=40 {
        if i == 7 {
            late = scrape(i); // delivered after scrape 12
            continue;
        }
        let stats = store.extend(&scrape(i));
        assert_eq!((stats.appended, stats.unusable), (3, 3));
        if i == 12 {
            let stats = store.extend(&late);
            assert_eq!((stats.out_of_order, stats.unusable), (3, 3));
        }
    }
    let resent = store.extend(&scrape(40));
    assert_eq!((resent.duplicates, resent.unusable), (3, 3));

    let stats = store.stats();
    assert_eq!(stats.total(), 42 * 6);
    assert_eq!(
        (
            stats.appended,
            stats.out_of_order,
            stats.duplicates,
            stats.unusable
        ),
        (120, 3, 3, 126)
    );
    // Fans never reported a value, so they have no series; each host has one power series.
    assert_eq!(store.len(), 3);
    assert_eq!(store.sample_count(), 3 * 41);
    assert!(store.select(None, Some(SensorKind::FanSpeed)).is_empty());
    let h2 = host("host-02");
    let keys = store.select(Some(&h2), None);
    assert_eq!(keys.len(), 1);
    let samples = store.samples(keys[0]).unwrap();
    assert!(
        samples
            .windows(2)
            .all(|w| w[1].ts.nanos_since(w[0].ts) == 15 * S)
    );
    assert_eq!(
        store.time_span(),
        Some((
            Timestamp::from_nanos(T0),
            Timestamp::from_nanos(T0 + 600 * S)
        ))
    );

    // Energy per host over the 10 minutes, in kJ: the rack total is the sum of the hosts.
    let grid = Grid::try_new(Timestamp::from_nanos(T0), 10 * MINUTE, 2).unwrap();
    let per_host: Vec<f64> = store
        .select(None, Some(SensorKind::Power))
        .into_iter()
        .map(|k| {
            store
                .integrate(k, &grid, &ResampleOptions::default())
                .unwrap()[0]
                / 1000.0
        })
        .collect();
    // Host h draws 180 + 60 h W plus a 0/5/10/15 W sawtooth averaging 7.5 W (linear between).
    for (h, kj) in per_host.iter().enumerate() {
        let mean_w = 180.0 + 60.0 * h as f64 + 7.5;
        assert!((kj - mean_w * 0.6).abs() < 0.2, "host {h}: {kj} kJ");
    }
}

#[test]
fn cpu_seconds_of_a_restarted_workload() {
    // A container using 2.5 cores: 37.5 CPU-seconds per 15 s scrape. It restarts right after
    // the scrape at 5 min, so its cgroup counter starts again from zero.
    let mut store = MemStore::new();
    let mut counter = 86_400.0;
    for i in 0..=40i64 {
        if i > 0 {
            counter = if i == 21 { 37.5 } else { counter + 37.5 };
        }
        store.insert(&reading(
            "pod-a",
            "cgroup",
            SensorKind::CpuTime,
            counter,
            T0 + i * 15 * S,
        ));
    }
    let key = SeriesKey::new(host("pod-a"), "cgroup", SensorKind::CpuTime);
    let grid = Grid::try_new(Timestamp::from_nanos(T0), MINUTE, 11).unwrap();
    let inc = store
        .increase(&key, &grid, &ResampleOptions::default())
        .unwrap();
    assert_eq!(inc.resets, 1);
    for (i, cpu_s) in inc.values.iter().enumerate() {
        let cores = cpu_s / 60.0;
        assert!((cores - 2.5).abs() < 1e-9, "minute {i}: {cores} cores");
    }
    // Integrating a counter makes no sense (CPU-seconds × seconds) and is refused.
    assert!(
        store
            .integrate(&key, &grid, &ResampleOptions::default())
            .is_err()
    );
}
