use kelvin_model::{EntityId, SensorKind, Timestamp};
use kelvin_store::{
    Aggregate, Buckets, Fill, Grid, Labels, MatchField, MatchOp, Matcher, ResampleOptions,
    Selector, SeriesKey, StoreErrorKind, asof_join, asof_join_many, grid_points, increase,
    integrate, rate, resample, resample_many, time_buckets,
};
use proptest::prelude::*;

const S: i64 = Timestamp::NANOS_PER_SEC;
const MINUTE: i64 = 60 * S;
/// 2023-11-14T22:13:20Z, a whole minute.
const T0: i64 = 1_700_000_000 * S;
const NAN: f64 = f64::NAN;

fn grid(start: i64, step: i64, len: usize) -> Grid {
    Grid::try_new(Timestamp::from_nanos(start), step, len).unwrap()
}

fn locf() -> ResampleOptions {
    ResampleOptions::default().with_fill(Fill::Locf)
}

/// Element-wise: NaN equals NaN, numbers agree to 1e-9 relative.
#[track_caller]
fn check(got: &[f64], expected: &[f64]) {
    assert_eq!(
        got.len(),
        expected.len(),
        "got {got:?}, expected {expected:?}"
    );
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let ok = (g.is_nan() && e.is_nan()) || (g - e).abs() <= 1e-9 * e.abs().max(1.0);
        assert!(ok, "element {i}: got {g}, expected {e} (all: {got:?})");
    }
}

/// A plausible PSU power curve: 150–400 W with a slow swing and a faster wobble.
fn watts(t_ns: i64) -> f64 {
    let t = (t_ns - T0) as f64 / S as f64;
    275.0 + 100.0 * (t / 600.0).sin() + 20.0 * (t / 47.0).cos()
}

/// One hour of PSU power every 15 s on the dot: 241 samples, T0 to T0 + 3600 s.
fn psu_hour() -> (Vec<i64>, Vec<f64>) {
    let ts: Vec<i64> = (0..=240).map(|i| T0 + i * 15 * S).collect();
    let w = ts.iter().map(|&t| watts(t)).collect();
    (ts, w)
}

/// Deduplicates sorted columns, the last value at each instant winning.
fn dedup_last(ts: &[i64], values: &[f64]) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for (&t, &v) in ts.iter().zip(values) {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    out
}

/// The value at `t` computed naively from the deduplicated samples: the exact sample, or the
/// previous and next samples if both exist and are no further apart than the gap.
fn naive_value(samples: &[(i64, f64)], t: i64, opts: &ResampleOptions) -> f64 {
    if let Some(&(_, v)) = samples.iter().find(|s| s.0 == t) {
        return v;
    }
    let prev = samples.iter().rev().find(|s| s.0 < t);
    let next = samples.iter().find(|s| s.0 > t);
    match (prev, next) {
        (Some(&(ta, va)), Some(&(tb, vb)))
            if i128::from(tb) - i128::from(ta) <= i128::from(opts.max_gap_ns) =>
        {
            match opts.fill {
                Fill::Locf => va,
                _ => va + (vb - va) * ((t - ta) as f64 / (tb - ta) as f64),
            }
        }
        _ => NAN,
    }
}

// ---------------------------------------------------------------------------------------------
// Buckets and aggregates
// ---------------------------------------------------------------------------------------------

#[test]
fn one_minute_buckets_of_an_hour_of_psu_power() {
    let (ts, w) = psu_hour();
    let b = time_buckets(&ts, &w, T0, MINUTE).unwrap();
    // 60 full minutes of 4 samples, and the final sample alone in the 61st minute.
    assert_eq!(b.len(), 61);
    assert!(b.count()[..60].iter().all(|&c| c == 4), "{:?}", b.count());
    assert_eq!(b.count()[60], 1);
    assert_eq!(b.count().iter().sum::<u64>(), 241);
    for (i, (start, agg)) in b.iter().enumerate() {
        assert_eq!(start, T0 + i as i64 * MINUTE);
        let chunk = &w[i * 4..(i * 4 + 4).min(w.len())];
        assert_eq!(agg.first, chunk[0]);
        assert_eq!(agg.last, *chunk.last().unwrap());
        assert_eq!(agg.min, chunk.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(
            agg.max,
            chunk.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
        let mean = chunk.iter().sum::<f64>() / chunk.len() as f64;
        assert!((b.mean()[i] - mean).abs() < 1e-9);
        assert!((150.0..=400.0).contains(&agg.min) && (150.0..=400.0).contains(&agg.max));
    }
    // The array view has the same numbers.
    let m = b.to_array2();
    assert_eq!(m.shape(), [61, Buckets::VALUE_COLUMNS.len()]);
    assert_eq!(m[[0, 0]], 4.0);
    assert_eq!(m[[3, 4]], b.mean()[3]);
    assert_eq!(b.start_array()[60], T0 + 60 * MINUTE);
}

#[test]
fn buckets_are_aligned_on_the_origin_not_on_the_data() {
    // Samples at 7, 8, 25 s with 10 s buckets aligned on 5 s: [5, 15) and [25, 35).
    let ts = [7 * S, 8 * S, 25 * S];
    let b = time_buckets(&ts, &[1.0, 2.0, 3.0], 5 * S, 10 * S).unwrap();
    assert_eq!(b.start(), [5 * S, 25 * S]);
    // Any origin congruent modulo the width gives the same buckets.
    assert_eq!(
        b,
        time_buckets(&ts, &[1.0, 2.0, 3.0], 1_005 * S, 10 * S).unwrap()
    );
    assert_eq!(
        b,
        time_buckets(&ts, &[1.0, 2.0, 3.0], -995 * S, 10 * S).unwrap()
    );
    assert_eq!(b.origin_ns(), 5 * S);
    // Before the epoch and before the origin.
    let b = time_buckets(&[-15, -10, -1, 0], &[1.0, 2.0, 3.0, 4.0], 0, 10).unwrap();
    assert_eq!(b.start(), [-20, -10, 0]);
    assert_eq!(b.count(), [1, 2, 1]);
}

#[test]
fn buckets_with_equal_timestamps_and_a_long_outage() {
    // Two readings at the same instant (a retried scrape), then nothing for 10 minutes.
    let ts = [T0, T0, T0 + 15 * S, T0 + 10 * MINUTE];
    let v = [200.0, 205.0, 210.0, 300.0];
    let b = time_buckets(&ts, &v, T0, MINUTE).unwrap();
    assert_eq!(
        b.start(),
        [T0, T0 + 10 * MINUTE],
        "empty minutes are left out"
    );
    assert_eq!(b.count(), [3, 1]);
    assert_eq!((b.first()[0], b.last()[0]), (200.0, 210.0));
    assert_eq!((b.first_ts()[0], b.last_ts()[0]), (T0, T0 + 15 * S));
}

#[test]
fn buckets_reject_bad_input_and_accept_empty_input() {
    let e = time_buckets(&[0], &[1.0], 0, 0).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidGrid);
    let e = time_buckets(&[0, 1], &[1.0], 0, 10).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(e.reason().contains("2 timestamps but 1 values"), "{e}");
    let e = time_buckets(&[0, 5, 3], &[1.0; 3], 0, 10).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(e.reason().contains("ts[2]"), "{e}");
    let b = time_buckets(&[], &[], 0, 10).unwrap();
    assert!(b.is_empty());
    assert_eq!(b.to_array2().shape(), [0, 7]);
    // Extreme timestamps: the bucket of i64::MIN would start before i64::MIN.
    let e = time_buckets(&[i64::MIN], &[1.0], 1, 10).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    let b = time_buckets(&[i64::MAX - 1, i64::MAX], &[1.0, 2.0], 0, MINUTE).unwrap();
    assert_eq!(b.count(), [2]);
}

#[test]
fn merging_buckets_of_two_blocks_and_rollups() {
    let (ts, w) = psu_hour();
    let whole = time_buckets(&ts, &w, T0, MINUTE).unwrap();
    // Blocks split mid-minute (sample 102 is 25.5 minutes in).
    let mut merged = time_buckets(&ts[..102], &w[..102], T0, MINUTE).unwrap();
    merged
        .merge(&time_buckets(&ts[102..], &w[102..], T0, MINUTE).unwrap())
        .unwrap();
    assert_eq!(merged.start(), whole.start());
    assert_eq!(merged.count(), whole.count());
    assert_eq!((merged.min(), merged.max()), (whole.min(), whole.max()));
    assert_eq!(
        (merged.first(), merged.last()),
        (whole.first(), whole.last())
    );
    check(merged.sum(), whole.sum());
    // Merging in the other order gives the same result: first/last follow the timestamps.
    let mut reversed = time_buckets(&ts[102..], &w[102..], T0, MINUTE).unwrap();
    reversed
        .merge(&time_buckets(&ts[..102], &w[..102], T0, MINUTE).unwrap())
        .unwrap();
    assert_eq!(
        (reversed.first(), reversed.last()),
        (whole.first(), whole.last())
    );
    // Mismatched bucketings do not merge, and leave the target unchanged.
    let before = merged.clone();
    let other = time_buckets(&ts, &w, 0, 30 * S).unwrap();
    assert_eq!(
        merged.merge(&other).unwrap_err().kind(),
        StoreErrorKind::InvalidInput
    );
    let shifted = time_buckets(&ts, &w, S, MINUTE).unwrap();
    assert!(merged.merge(&shifted).is_err());
    assert_eq!(merged, before);
    // Rollups pushed one bucket at a time rebuild the same buckets.
    let mut pushed = Buckets::new(T0, MINUTE).unwrap();
    for (start, agg) in whole.iter() {
        pushed.push(start, agg).unwrap();
    }
    assert_eq!(pushed, whole);
    let e = pushed
        .push(T0 + 7, Aggregate::sample(T0 + 8, 1.0))
        .unwrap_err();
    assert!(e.reason().contains("not a boundary"), "{e}");
    let e = pushed
        .push(T0 + 100 * MINUTE, Aggregate::sample(T0, 1.0))
        .unwrap_err();
    assert!(e.reason().contains("not inside"), "{e}");
}

#[test]
fn whole_range_aggregate_and_its_merge() {
    let (ts, w) = psu_hour();
    let all = Aggregate::of(&ts, &w).unwrap().unwrap();
    assert_eq!(all.count, 241);
    assert_eq!((all.first_ts, all.last_ts), (T0, T0 + 3600 * S));
    assert_eq!((all.first, all.last), (w[0], w[240]));
    let parts = [(0, 50), (50, 51), (51, 200), (200, 241)];
    let merged = parts
        .iter()
        .map(|&(a, b)| Aggregate::of(&ts[a..b], &w[a..b]).unwrap().unwrap())
        .reduce(Aggregate::merge)
        .unwrap();
    assert_eq!(
        (merged.count, merged.min, merged.max),
        (all.count, all.min, all.max)
    );
    assert_eq!((merged.first, merged.last), (all.first, all.last));
    assert!((merged.sum - all.sum).abs() < 1e-6);
    assert!((merged.mean() - all.mean()).abs() < 1e-9);
    assert_eq!(Aggregate::of(&[], &[]).unwrap(), None);
    assert!(Aggregate::of(&[1], &[]).is_err());
    // NaN is skipped by min and max and propagates into the sum.
    let a = Aggregate::of(&[0, 1, 2], &[3.0, NAN, 1.0])
        .unwrap()
        .unwrap();
    assert_eq!((a.min, a.max), (1.0, 3.0));
    assert!(a.sum.is_nan());
}

// ---------------------------------------------------------------------------------------------
// Resampling
// ---------------------------------------------------------------------------------------------

#[test]
fn resample_three_psus_with_an_outage_onto_a_one_minute_grid() {
    let (ts, w) = psu_hour();
    // PSU 2 misses 10 minutes of scrapes (samples 40..=79 are gone: a 615 s gap).
    let (ts2, w2): (Vec<i64>, Vec<f64>) = ts
        .iter()
        .zip(&w)
        .enumerate()
        .filter(|(i, _)| !(40..80).contains(i))
        .map(|(_, (&t, &v))| (t, v + 5.0))
        .unzip();
    // PSU 3 only starts half an hour in.
    let (ts3, w3) = (ts[120..].to_vec(), w[120..].to_vec());
    let g = grid(T0 - MINUTE, MINUTE, 63); // one point before the data, one after
    let opts = ResampleOptions::default();
    let m = resample_many(&[(&ts, &w), (&ts2, &w2), (&ts3, &w3)], &g, &opts).unwrap();
    assert_eq!(m.shape(), [63, 3]);
    // Every grid point inside the data falls on a sample: the values are exact.
    for i in 1..62 {
        assert_eq!(m[[i, 0]], w[(i - 1) * 4], "row {i}");
    }
    assert!(
        m[[0, 0]].is_nan() && m[[62, 0]].is_nan(),
        "outside the samples"
    );
    // PSU 2: 9:45 (sample 39) is the last point before the gap, 20:00 (sample 80) the first after.
    let gap_rows: Vec<usize> = (0..63).filter(|&i| m[[i, 1]].is_nan()).collect();
    assert_eq!(gap_rows, [0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 62]);
    assert_eq!(m[[21, 1]], w[80] + 5.0);
    // PSU 3 is NaN until it starts.
    assert!((0..31).all(|i| m[[i, 2]].is_nan()));
    assert_eq!(m[[31, 2]], w[120]);
    // A wider max gap bridges the outage.
    let wide = opts.with_max_gap_ns(11 * MINUTE);
    let m = resample_many(&[(&ts2, &w2)], &g, &wide).unwrap();
    assert!((1..62).all(|i| !m[[i, 0]].is_nan()));
    // The row labels.
    assert_eq!(grid_points(&g)[1], T0);
}

#[test]
fn resample_between_samples_interpolates_or_carries_forward() {
    // Samples at 0, 15, 30, 45 s; points at 5, 20, 35, 50 s.
    let ts = [T0, T0 + 15 * S, T0 + 30 * S, T0 + 45 * S];
    let v = [200.0, 260.0, 230.0, 380.0];
    let g = grid(T0 + 5 * S, 15 * S, 4);
    check(
        resample(&ts, &v, &g, &ResampleOptions::default())
            .unwrap()
            .as_slice()
            .unwrap(),
        &[220.0, 250.0, 280.0, NAN],
    );
    check(
        resample(&ts, &v, &g, &locf()).unwrap().as_slice().unwrap(),
        &[200.0, 260.0, 230.0, NAN],
    );
}

#[test]
fn resample_with_equal_timestamps_takes_the_last_value() {
    let ts = [0, 10, 10, 10, 20];
    let v = [0.0, 1.0, 2.0, 3.0, 5.0];
    let g = grid(0, 5, 5); // 0, 5, 10, 15, 20
    let lin = resample(&ts, &v, &g, &ResampleOptions::default()).unwrap();
    check(lin.as_slice().unwrap(), &[0.0, 1.5, 3.0, 4.0, 5.0]);
    let step = resample(&ts, &v, &g, &locf()).unwrap();
    check(step.as_slice().unwrap(), &[0.0, 0.0, 3.0, 3.0, 5.0]);
}

#[test]
fn resample_out_of_range_grids_empty_series_and_bad_input() {
    let (ts, w) = psu_hour();
    let opts = ResampleOptions::default();
    let before = grid(T0 - 3600 * S, MINUTE, 10);
    let after = grid(T0 + 7200 * S, MINUTE, 10);
    for g in [before, after] {
        let m = resample_many(&[(&ts, &w)], &g, &opts).unwrap();
        assert!(m.iter().all(|x| x.is_nan()));
    }
    // An empty series is a column of NaN; no series is a matrix without columns.
    let m = resample_many(&[(&ts, &w), (&[], &[])], &grid(T0, MINUTE, 3), &opts).unwrap();
    assert!(m.column(1).iter().all(|x| x.is_nan()));
    assert_eq!(m.column(0).to_vec(), [w[0], w[4], w[8]]);
    assert_eq!(
        resample_many(&[], &grid(T0, MINUTE, 3), &opts)
            .unwrap()
            .shape(),
        [3, 0]
    );
    // Bad input names the series.
    let e = resample_many(&[(&ts, &w), (&[2, 1], &[0.0, 0.0])], &grid(0, 1, 2), &opts).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(e.reason().contains("series 1"), "{e}");
    assert!(resample(&[1], &[], &grid(0, 1, 2), &opts).is_err());
}

// ---------------------------------------------------------------------------------------------
// As-of join
// ---------------------------------------------------------------------------------------------

#[test]
fn asof_join_of_temperature_onto_power_readings() {
    // Inlet temperature every 10 s with a 2-minute hole; power readings every 15 s.
    let temp_ts: Vec<i64> = (0..=36)
        .map(|i| T0 + i * 10 * S)
        .filter(|t| !(T0 + 100 * S..T0 + 220 * S).contains(t))
        .collect();
    let temp: Vec<f64> = temp_ts
        .iter()
        .map(|t| 20.0 + ((t - T0) / S) as f64 / 100.0)
        .collect();
    let power_ts: Vec<i64> = (0..=24).map(|i| T0 - 15 * S + i * 15 * S).collect();
    let v = asof_join(&power_ts, &temp_ts, &temp, None).unwrap();
    assert!(v[0].is_nan(), "before the first temperature");
    assert_eq!(v[1], 20.0); // T0
    assert_eq!(v[2], 20.1); // 15 s → the reading at 10 s
    // Inside the hole without tolerance: the last reading before it, at 90 s.
    assert_eq!(v[9], 20.9); // 120 s
    // With a 30 s tolerance, the hole shows.
    let v = asof_join(&power_ts, &temp_ts, &temp, Some(30 * S)).unwrap();
    assert_eq!(v[8], 20.9, "105 s is 15 s after the reading at 90 s");
    assert_eq!(
        v[9], 20.9,
        "120 s is 30 s after it: the tolerance is inclusive"
    );
    assert!(v[10..16].iter().all(|x| x.is_nan()), "{v:?}");
    assert_eq!(v[16], 22.2, "225 s → 220 s");
    // The tolerance is inclusive.
    let v = asof_join(&[T0 + 30 * S], &temp_ts, &temp, Some(0)).unwrap();
    assert_eq!(v, [20.3]);
    let v = asof_join(&[T0 + 35 * S], &temp_ts, &temp, Some(5 * S)).unwrap();
    assert_eq!(v, [20.3]);
    let v = asof_join(&[T0 + 35 * S], &temp_ts, &temp, Some(5 * S - 1)).unwrap();
    assert!(v[0].is_nan());
}

#[test]
fn asof_join_edge_cases() {
    // Equal right timestamps: the last value wins.
    let v = asof_join(&[5, 10, 15], &[10, 10, 10], &[1.0, 2.0, 3.0], None).unwrap();
    check(&v, &[NAN, 3.0, 3.0]);
    // Equal left timestamps get the same value.
    let v = asof_join(&[10, 10], &[0, 10], &[1.0, 2.0], None).unwrap();
    assert_eq!(v, [2.0, 2.0]);
    assert_eq!(
        asof_join(&[], &[0], &[1.0], None).unwrap(),
        Vec::<f64>::new()
    );
    assert!(
        asof_join(&[1, 2], &[], &[], None)
            .unwrap()
            .iter()
            .all(|x| x.is_nan())
    );
    for e in [
        asof_join(&[2, 1], &[0], &[1.0], None).unwrap_err(),
        asof_join(&[1], &[1, 0], &[1.0, 2.0], None).unwrap_err(),
        asof_join(&[1], &[0], &[], None).unwrap_err(),
        asof_join(&[1], &[0], &[1.0], Some(-1)).unwrap_err(),
    ] {
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    }
    // Extreme distances do not overflow.
    let v = asof_join(&[i64::MAX], &[i64::MIN], &[1.0], Some(i64::MAX)).unwrap();
    assert!(v[0].is_nan(), "2^64 - 1 ns apart is beyond any tolerance");
    let v = asof_join(&[i64::MAX], &[i64::MIN], &[1.0], None).unwrap();
    assert_eq!(v, [1.0]);
    // Several right series at once.
    let m = asof_join_many(&[0, 10], &[(&[0], &[1.0]), (&[5], &[2.0])], None).unwrap();
    assert_eq!(m.shape(), [2, 2]);
    check(
        &m.iter().copied().collect::<Vec<_>>(),
        &[1.0, NAN, 1.0, 2.0],
    );
}

// ---------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------

#[test]
fn energy_counter_with_an_exporter_restart() {
    // An energy counter integrating 300 W exactly: +4500 J every 15 s; the exporter restarts
    // after 20 minutes and counts from 0 again (its first reading then is 4500 J).
    let mut ts = Vec::new();
    let mut joules = Vec::new();
    let mut e = 1.0e6;
    for i in 0..=240 {
        ts.push(T0 + i * 15 * S);
        joules.push(e);
        e = if i == 80 { 4500.0 } else { e + 4500.0 };
    }
    let g = grid(T0, 5 * MINUTE, 13);
    let inc = increase(&ts, &joules, &g, &ResampleOptions::default()).unwrap();
    assert_eq!(inc.resets, 1);
    check(&inc.values, &[90_000.0; 12]);
    let watts = rate(&ts, &joules, &g, &ResampleOptions::default()).unwrap();
    check(&watts.values, &[300.0; 12]);
    // Only the part of the series that meets the grid is looked at.
    let inc = increase(
        &ts,
        &joules,
        &grid(T0 + 30 * MINUTE, MINUTE, 3),
        &ResampleOptions::default(),
    )
    .unwrap();
    assert_eq!(inc.resets, 0);
    // Outside the samples, and across a scrape outage longer than the max gap: NaN.
    let g = grid(T0 - MINUTE, MINUTE, 3);
    let inc = increase(&ts, &joules, &g, &ResampleOptions::default()).unwrap();
    check(&inc.values, &[NAN, 18_000.0]);
    let holes: (Vec<i64>, Vec<f64>) = ts
        .iter()
        .zip(&joules)
        .enumerate()
        .filter(|(i, _)| !(100..130).contains(i))
        .map(|(_, (&t, &v))| (t, v))
        .unzip();
    let g = grid(T0, 5 * MINUTE, 13);
    let inc = increase(&holes.0, &holes.1, &g, &ResampleOptions::default()).unwrap();
    let nan_intervals: Vec<usize> = (0..12).filter(|&i| inc.values[i].is_nan()).collect();
    assert_eq!(nan_intervals, [4, 5, 6], "the outage spans 24:45 … 32:30");
    // Equal timestamps: the last value wins, so 200 is replaced by 5: a reset after 100, with
    // 5 counted since.
    let inc = increase(
        &[0, 10, 10, 20],
        &[100.0, 200.0, 5.0, 15.0],
        &grid(0, 10, 3),
        &ResampleOptions::default(),
    )
    .unwrap();
    assert_eq!((inc.values.as_slice(), inc.resets), (&[5.0, 10.0][..], 1));
    assert!(
        increase(
            &[1, 0],
            &[0.0, 0.0],
            &grid(0, 1, 2),
            &ResampleOptions::default()
        )
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------------------------

fn key(entity: &str, sensor: &str, kind: SensorKind, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(EntityId::new(entity).unwrap(), sensor, kind)
        .with_labels(Labels::from_pairs(labels.iter().copied()))
}

fn fleet() -> Vec<SeriesKey> {
    vec![
        key(
            "host-01",
            "psu1",
            SensorKind::Power,
            &[("zone", "a"), ("rack", "r12")],
        ),
        key(
            "host-01",
            "psu2",
            SensorKind::Power,
            &[("zone", "b"), ("rack", "r12")],
        ),
        key("host-01", "rapl/package-0", SensorKind::Energy, &[]),
        key(
            "host-02",
            "psu1",
            SensorKind::Power,
            &[("zone", "b"), ("rack", "r20")],
        ),
        key(
            "host-02",
            "inlet",
            SensorKind::Temperature,
            &[("rack", "r20")],
        ),
        key("pdu-7", "outlet3", SensorKind::Current, &[("phase", "L1")]),
    ]
}

fn selected(sel: &str) -> Vec<String> {
    let sel = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
    fleet()
        .iter()
        .filter(|k| sel.matches(k))
        .map(|k| format!("{}/{}", k.entity, k.sensor))
        .collect()
}

#[test]
fn selectors_pick_series_by_key_and_labels() {
    assert_eq!(selected("host-01/psu1"), ["host-01/psu1"]);
    assert_eq!(
        selected("host-01"),
        ["host-01/psu1", "host-01/psu2", "host-01/rapl/package-0"]
    );
    assert_eq!(
        selected("host-01/rapl/package-0"),
        ["host-01/rapl/package-0"]
    );
    assert_eq!(selected("*/psu1"), ["host-01/psu1", "host-02/psu1"]);
    assert_eq!(selected("*").len(), 6);
    assert_eq!(selected("{}").len(), 6);
    assert_eq!(
        selected(r#"{kind="power", zone="b"}"#),
        ["host-01/psu2", "host-02/psu1"]
    );
    assert_eq!(
        selected(r#"host-01/psu1{kind="power",zone="a",}"#),
        ["host-01/psu1"]
    );
    assert_eq!(
        selected(r#"  host-02 { rack != "r12" , kind in ( "temperature" ) } "#),
        ["host-02/inlet"]
    );
    assert_eq!(
        selected(r#"{rack^="r1"}"#),
        ["host-01/psu1", "host-01/psu2"]
    );
    assert_eq!(
        selected(r#"{entity^="host", sensor in ("psu2", "inlet")}"#),
        ["host-01/psu2", "host-02/inlet"]
    );
    // A missing label is the empty value, as in Prometheus.
    assert_eq!(selected(r#"{zone="", kind="power"}"#), Vec::<String>::new());
    assert_eq!(
        selected(r#"{rack=""}"#),
        ["host-01/rapl/package-0", "pdu-7/outlet3"]
    );
    assert_eq!(selected(r#"{zone!="b"}"#).len(), 4);
    // The display of a key selects it.
    for k in fleet() {
        let sel = Selector::parse(&k.to_string()).unwrap();
        assert!(sel.matches(&k), "{k}");
        assert_eq!(fleet().iter().filter(|x| sel.matches(x)).count(), 1, "{k}");
    }
    // Escapes in strings.
    let k = key(
        "h",
        "s",
        SensorKind::Power,
        &[("note", "a \"quoted\"\\ value\n\u{1F600}")],
    );
    let sel = Selector::parse(r#"{note="a \"quoted\"\\ value\n\u{1F600}"}"#).unwrap();
    assert!(sel.matches(&k));
    assert_eq!(Selector::parse(&sel.to_string()).unwrap(), sel);
}

#[test]
fn selectors_built_in_code_display_in_the_syntax() {
    let sel = Selector::new(vec![
        Matcher::entity("host-01"),
        Matcher::kind(SensorKind::FanSpeed),
        Matcher::label("zone", MatchOp::In(vec!["a".into(), "b".into()])),
        Matcher::new(MatchField::Sensor, MatchOp::Prefix("fan".into())),
        Matcher::label("rack", MatchOp::Ne("r1".into())),
    ]);
    let text = sel.to_string();
    assert_eq!(
        text,
        r#"{entity="host-01", kind="fan_speed", zone in ("a", "b"), sensor^="fan", rack!="r1"}"#
    );
    assert_eq!(text.parse::<Selector>().unwrap(), sel);
}

#[test]
fn bad_selectors_name_the_column() {
    for (text, column, what) in [
        ("", 1, "empty"),
        ("   ", 1, "empty"),
        ("host-01{zone=b}", 14, "double-quoted"),
        ("host-01{zone}", 13, "expected `=`"),
        (r#"host-01{zone="b""#, 17, "`,` or `}`"),
        (r#"host-01{zone="b"#, 14, "unterminated"),
        (r#"{="b"}"#, 2, "label name"),
        (r#"{zone!"b"}"#, 7, "`=` after `!`"),
        (r#"{zone in "a"}"#, 10, "`(`"),
        (r#"{zone in ("a" "b")}"#, 15, "`,` or `)`"),
        (r#"{kind="watts"}"#, 7, "unknown kind"),
        (r#"{kind in ("power", "wats")}"#, 20, "unknown kind"),
        ("host-01/psu1 (pwr)", 15, "unknown kind"),
        ("host-01/psu1 (power", 20, "`)`"),
        ("host-01/", 9, "sensor name"),
        ("host 01/psu1", 1, "whitespace"),
        (r#"{a="b"} x"#, 9, "unexpected text"),
        (r#"{a="\q"}"#, 5, "unknown escape"),
        (r#"{a="\u{110000}"}"#, 5, "invalid escape"),
        (r#"{a="\u0041"}"#, 7, "`{`"),
    ] {
        let e = Selector::parse(text).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{text}");
        assert!(
            e.reason().contains(&format!("column {column}:")) && e.reason().contains(what),
            "{text:?}: {e}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// 0 to 60 samples, 0 to 20 s apart (0: several samples at one instant), integer values so sums
/// are exact whatever the order of additions.
fn columns() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    prop::collection::vec((0..=20 * S, 0..1000i32), 0..60).prop_map(|steps| {
        let mut t = T0;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t += dt;
                (t, f64::from(v))
            })
            .unzip()
    })
}

/// Sample steps that are often exactly 0 or a whole number of seconds, so grid points fall on
/// samples and equal timestamps are common.
fn coarse_columns() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    prop::collection::vec((0..=6i64, 0..1000i32), 0..40).prop_map(|steps| {
        let mut t = T0;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t += dt * 5 * S;
                (t, f64::from(v))
            })
            .unzip()
    })
}

fn opts() -> impl Strategy<Value = ResampleOptions> {
    (any::<bool>(), 0..=40 * S).prop_map(|(linear, gap)| {
        let fill = if linear { Fill::Linear } else { Fill::Locf };
        ResampleOptions::default()
            .with_fill(fill)
            .with_max_gap_ns(gap)
    })
}

/// A CPU-seconds counter scraped every 15 s with jitter, printed with three decimals (as
/// exporters print it), that restarts from a small value now and then.
fn decimal_counter() -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    prop::collection::vec((10 * S..=20 * S, 0u32..200_000, 0u32..40), 2..80).prop_map(|steps| {
        let (mut t, mut milli) = (T0, 5_000_000u64);
        steps
            .into_iter()
            .map(|(dt, inc, restart)| {
                t += dt;
                milli = if restart == 0 {
                    u64::from(inc)
                } else {
                    milli + u64::from(inc)
                };
                (t, milli as f64 / 1000.0)
            })
            .unzip()
    })
}

proptest! {
    /// Found by the live engine's crash property: a reopened engine rebuilds its floor history
    /// in one read of the store, where the running engine read interval by interval. Each
    /// interval's value must not depend on where the read began (nor on how many resets came
    /// before it), to the bit, or the floors — and every bill after them — move.
    #[test]
    fn an_interval_reads_the_same_bits_however_the_grid_is_cut(
        (ts, v) in decimal_counter(),
        step_s in 1i64..=120,
        len in 2usize..40,
        opts in opts(),
    ) {
        let step = step_s * S;
        let whole = grid(T0, step, len);
        let inc = increase(&ts, &v, &whole, &opts).unwrap().values;
        let int = integrate(&ts, &v, &whole, &opts).unwrap();
        for i in 0..len - 1 {
            let one = grid(T0 + i as i64 * step, step, 2);
            let bits = |x: f64| x.to_bits();
            prop_assert_eq!(
                bits(increase(&ts, &v, &one, &opts).unwrap().values[0]),
                bits(inc[i]),
                "increase of interval {}", i
            );
            prop_assert_eq!(
                bits(integrate(&ts, &v, &one, &opts).unwrap()[0]),
                bits(int[i]),
                "integral of interval {}", i
            );
        }
    }
}

proptest! {
    #[test]
    fn bucket_counts_sum_to_n_and_every_sample_is_in_its_bucket(
        (ts, v) in columns(),
        origin in -100 * S..100 * S,
        width in 1..=90 * S,
    ) {
        let b = time_buckets(&ts, &v, origin, width).unwrap();
        prop_assert_eq!(b.count().iter().sum::<u64>(), ts.len() as u64);
        prop_assert!(b.start().windows(2).all(|w| w[0] < w[1]));
        prop_assert!(b.start().iter().all(|s| (s - origin).rem_euclid(width) == 0));
        let mut k = 0;
        for (i, (start, agg)) in b.iter().enumerate() {
            let n = agg.count as usize;
            let (bt, bv) = (&ts[k..k + n], &v[k..k + n]);
            prop_assert!(bt.iter().all(|&t| start <= t && t - start < width), "bucket {}", i);
            prop_assert_eq!(agg.sum, bv.iter().sum::<f64>());
            prop_assert_eq!((agg.first, agg.last), (bv[0], bv[n - 1]));
            prop_assert_eq!(agg.min, bv.iter().copied().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(agg.max, bv.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            prop_assert_eq!(b.mean()[i], agg.sum / agg.count as f64);
            k += n;
        }
    }

    #[test]
    fn merging_buckets_of_a_split_input_equals_the_whole(
        (ts, v) in columns(),
        cut in any::<prop::sample::Index>(),
        origin in -100 * S..100 * S,
        width in 1..=90 * S,
    ) {
        let cut = if ts.is_empty() { 0 } else { cut.index(ts.len() + 1) };
        let whole = time_buckets(&ts, &v, origin, width).unwrap();
        let mut left = time_buckets(&ts[..cut], &v[..cut], origin, width).unwrap();
        let right = time_buckets(&ts[cut..], &v[cut..], origin, width).unwrap();
        let mut right_first = right.clone();
        left.merge(&right).unwrap();
        prop_assert_eq!(&left, &whole);
        // The other order too (integer values: the sums are exact either way).
        right_first.merge(&time_buckets(&ts[..cut], &v[..cut], origin, width).unwrap()).unwrap();
        prop_assert_eq!(right_first.count(), whole.count());
        prop_assert_eq!(right_first.sum(), whole.sum());
        // Whole-range aggregates merge the same way.
        let a = Aggregate::of(&ts[..cut], &v[..cut]).unwrap();
        let b = Aggregate::of(&ts[cut..], &v[cut..]).unwrap();
        let merged = match (a, b) {
            (Some(a), Some(b)) => Some(a.merge(b)),
            (a, b) => a.or(b),
        };
        prop_assert_eq!(merged, Aggregate::of(&ts, &v).unwrap());
    }

    #[test]
    fn resample_agrees_with_a_naive_oracle(
        (ts, v) in coarse_columns(),
        start in -10i64..60,
        step in 1i64..20,
        len in 2usize..40,
        opts in opts(),
    ) {
        // Grid points on whole seconds, often on samples.
        let g = grid(T0 + start * S, step * S, len);
        let m = resample_many(&[(&ts, &v), (&ts, &v)], &g, &opts).unwrap();
        let samples = dedup_last(&ts, &v);
        let expected: Vec<f64> = g.points().map(|t| naive_value(&samples, t.as_nanos(), &opts)).collect();
        check(&m.column(0).to_vec(), &expected);
        let bits = |j: usize| m.column(j).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(0), bits(1));
    }

    #[test]
    fn asof_join_agrees_with_a_naive_oracle(
        (rt, rv) in coarse_columns(),
        (lt, _) in columns(),
        tolerance in prop::option::of(0..=30 * S),
    ) {
        let got = asof_join(&lt, &rt, &rv, tolerance).unwrap();
        let expected: Vec<f64> = lt
            .iter()
            .map(|&t| {
                // The last right sample at or before t, in an O(n) scan per left timestamp.
                let best = rt.iter().zip(&rv).rfind(|(r, _)| **r <= t);
                match best {
                    Some((&r, &v)) if tolerance.is_none_or(|tol| t - r <= tol) => v,
                    _ => NAN,
                }
            })
            .collect();
        check(&got, &expected);
    }

    #[test]
    fn a_decreasing_timestamp_anywhere_is_reported_by_every_kernel(
        (mut ts, v) in columns().prop_filter("two samples", |(ts, _)| ts.len() >= 2),
        k in any::<prop::sample::Index>(),
        start in -10i64..600,
        step in 1i64..120,
    ) {
        // A strict decrease at k, and nowhere else.
        let k = 1 + k.index(ts.len() - 1);
        ts[k] = ts[k - 1] - 1;
        let at = format!("ts[{k}]");
        let g = grid(T0 + start * S, step * S, 5);
        let opts = ResampleOptions::default();
        let errors = [
            time_buckets(&ts, &v, 0, MINUTE).unwrap_err(),
            Aggregate::of(&ts, &v).unwrap_err(),
            resample(&ts, &v, &g, &opts).unwrap_err(),
            resample_many(&[(&ts, &v)], &g, &locf()).unwrap_err(),
            asof_join(&grid_points(&g).to_vec(), &ts, &v, None).unwrap_err(),
            asof_join_many(&[T0], &[(&ts, &v)], Some(S)).unwrap_err(),
            increase(&ts, &v, &g, &opts).unwrap_err(),
        ];
        for e in errors {
            prop_assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
            prop_assert!(e.reason().contains(&at), "{}: {}", at, e);
        }
    }

    #[test]
    fn selectors_round_trip_through_their_display(
        ms in prop::collection::vec(
            (0..4usize, "[a-z_][a-z0-9_.-]{0,6}", 0..4usize, prop::collection::vec("\\PC{0,5}", 1..4)),
            0..5,
        ),
    ) {
        let matchers: Vec<Matcher> = ms
            .into_iter()
            .map(|(f, name, op, vals)| {
                let field = match f {
                    0 => MatchField::Entity,
                    1 => MatchField::Sensor,
                    _ if ["entity", "sensor", "kind", "in"].contains(&name.as_str()) => MatchField::Label(format!("x{name}")),
                    _ => MatchField::Label(name),
                };
                let op = match op {
                    0 => MatchOp::Eq(vals[0].clone()),
                    1 => MatchOp::Ne(vals[0].clone()),
                    2 => MatchOp::Prefix(vals[0].clone()),
                    _ => MatchOp::In(vals),
                };
                Matcher::new(field, op)
            })
            .collect();
        let sel = Selector::new(matchers);
        let text = sel.to_string();
        prop_assert_eq!(Selector::parse(&text).unwrap(), sel, "{}", text);
    }
}

// ---------------------------------------------------------------------------------------------
// Polars: the same questions asked of Polars give the same answers.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "polars")]
mod against_polars {
    use polars::prelude::*;

    use super::*;

    /// A 1 s cadence with up to ±300 ms of jitter, some dropped and some doubled readings.
    fn jittery(n: usize) -> (Vec<i64>, Vec<f64>) {
        let mut ts = Vec::with_capacity(n);
        let mut v = Vec::with_capacity(n);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..n as i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(50) {
                continue; // a dropped reading
            }
            let jitter = (x % 600) as i64 * 1_000_000 - 300_000_000;
            let t = T0 + i * S + jitter;
            let t = t.max(ts.last().copied().unwrap_or(t));
            ts.push(t);
            v.push(((x >> 20) % 4000) as f64 / 10.0);
            if x.is_multiple_of(97) {
                ts.push(t);
                v.push(1.0);
            }
        }
        (ts, v)
    }

    fn f64s(df: &DataFrame, name: &str) -> Vec<f64> {
        df.column(name)
            .unwrap()
            .f64()
            .unwrap()
            .to_vec()
            .into_iter()
            .map(|x| x.unwrap_or(NAN))
            .collect()
    }

    fn i64s(c: &Column) -> Vec<i64> {
        c.cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .to_vec()
            .into_iter()
            .map(|x| x.unwrap())
            .collect()
    }

    #[test]
    #[allow(deprecated)] // Polars' eager GroupBy aggregations: the safe eager path.
    fn buckets_agree_with_group_by_dynamic() {
        let (ts, v) = jittery(20_000);
        for (origin, width) in [(0, MINUTE), (7 * S, MINUTE), (0, 17 * S + 3)] {
            let df = DataFrame::new(
                ts.len(),
                vec![
                    Int64Chunked::from_vec("ts".into(), ts.clone())
                        .into_datetime(TimeUnit::Nanoseconds, None)
                        .into_column(),
                    Float64Chunked::from_vec("v".into(), v.clone()).into_column(),
                ],
            )
            .unwrap();
            let options = DynamicGroupOptions {
                index_column: "ts".into(),
                every: Duration::parse(&format!("{width}ns")),
                period: Duration::parse(&format!("{width}ns")),
                offset: Duration::parse(&format!("{}ns", origin.rem_euclid(width))),
                label: Label::Left,
                include_boundaries: false,
                closed_window: ClosedWindow::Left,
                start_by: StartBy::WindowBound,
            };
            let (keys, _, groups) = df.group_by_dynamic(None, &options).unwrap();
            // No key columns: GroupBy's keys must be row-aligned with the frame, and the window
            // labels are one per group (passing them makes Polars read out of bounds).
            let gb = GroupBy::new(&df, vec![], groups, Some(vec!["v".into()]));
            let ours = time_buckets(&ts, &v, origin, width).unwrap();
            assert_eq!(i64s(&keys), ours.start(), "origin {origin} width {width}");
            let count: Vec<u64> = gb
                .count()
                .unwrap()
                .column("v_count")
                .unwrap()
                .cast(&DataType::UInt64)
                .unwrap()
                .u64()
                .unwrap()
                .to_vec()
                .into_iter()
                .map(|x| x.unwrap())
                .collect();
            assert_eq!(count, ours.count());
            assert_eq!(f64s(&gb.min().unwrap(), "v_min"), ours.min());
            assert_eq!(f64s(&gb.max().unwrap(), "v_max"), ours.max());
            assert_eq!(f64s(&gb.first().unwrap(), "v_first"), ours.first());
            assert_eq!(f64s(&gb.last().unwrap(), "v_last"), ours.last());
            check(&f64s(&gb.sum().unwrap(), "v_sum"), ours.sum());
            check(&f64s(&gb.mean().unwrap(), "v_mean"), ours.mean());
            // And our own data frame carries the same numbers.
            let frame = ours.to_dataframe().unwrap();
            assert_eq!(i64s(frame.column("start").unwrap()), ours.start());
            assert_eq!(f64s(&frame, "mean"), ours.mean());
        }
    }

    #[test]
    fn asof_join_agrees_with_join_asof_backward() {
        let (ts, v) = jittery(5_000);
        let left: Vec<i64> = (0..600).map(|i| T0 - 20 * S + i * 10 * S).collect();
        let dt = |name: &str, t: &[i64]| {
            Int64Chunked::from_vec(name.into(), t.to_vec())
                .into_datetime(TimeUnit::Nanoseconds, None)
                .into_column()
        };
        let left_df = DataFrame::new(left.len(), vec![dt("ts", &left)]).unwrap();
        let right_df = DataFrame::new(
            ts.len(),
            vec![
                dt("ts", &ts),
                Float64Chunked::from_vec("v".into(), v.clone()).into_column(),
            ],
        )
        .unwrap();
        for tolerance in [None, Some(500_000_000i64), Some(2 * S)] {
            let options = AsOfOptions {
                strategy: AsofStrategy::Backward,
                tolerance: tolerance.map(|t| {
                    Scalar::new(
                        DataType::Duration(TimeUnit::Nanoseconds),
                        AnyValue::Duration(t, TimeUnit::Nanoseconds),
                    )
                }),
                allow_eq: true,
                check_sortedness: true,
                ..AsOfOptions::default()
            };
            let joined = left_df
                .join(
                    &right_df,
                    ["ts"],
                    ["ts"],
                    JoinArgs::new(JoinType::AsOf(Box::new(options))),
                    None,
                )
                .unwrap();
            let ours = asof_join(&left, &ts, &v, tolerance).unwrap();
            check(&f64s(&joined, "v"), &ours);
            if tolerance.is_some() {
                assert!(ours.iter().any(|x| x.is_nan()) && ours.iter().any(|x| !x.is_nan()));
            }
        }
    }

    #[test]
    fn frames_of_resampled_series_and_of_series_data() {
        let (ts, v) = psu_hour();
        let keys = [
            key("host-01", "psu1", SensorKind::Power, &[]),
            key("host-01", "psu2", SensorKind::Power, &[("zone", "b")]),
        ];
        let g = grid(T0, MINUTE, 61);
        let m = resample_many(&[(&ts, &v), (&ts[..100], &v[..100])], &g, &locf()).unwrap();
        let df = kelvin_store::resample_frame(&g, &keys, m.view()).unwrap();
        assert_eq!(df.shape(), (61, 3));
        assert_eq!(
            df.get_column_names(),
            [
                "ts",
                "host-01/psu1 (power)",
                "host-01/psu2 (power){zone=\"b\"}"
            ]
        );
        assert_eq!(
            df.column("ts").unwrap().dtype(),
            &DataType::Datetime(TimeUnit::Nanoseconds, None)
        );
        assert_eq!(i64s(df.column("ts").unwrap()), grid_points(&g).to_vec());
        check(
            &f64s(&df, "host-01/psu2 (power){zone=\"b\"}"),
            &m.column(1).to_vec(),
        );
        // Mismatched shapes and duplicate names are errors, not panics.
        let e = kelvin_store::resample_frame(&g, &keys[..1], m.view()).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
        let dup = [keys[0].clone(), keys[0].clone()];
        let e = kelvin_store::resample_frame(&g, &dup, m.view()).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput);

        let data = kelvin_store::SeriesData {
            key: keys[0].clone(),
            ts: ts.clone(),
            values: v.clone(),
        };
        let df = data.to_dataframe().unwrap();
        assert_eq!(df.shape(), (241, 2));
        assert_eq!(i64s(df.column("ts").unwrap()), ts);
        assert_eq!(f64s(&df, "value"), v);
        let bad = kelvin_store::SeriesData {
            key: keys[0].clone(),
            ts,
            values: vec![],
        };
        assert!(bad.to_dataframe().is_err());
    }
}
