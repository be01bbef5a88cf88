//! The columnar store: tiers, late data, queries from block statistics, durability (torn WAL
//! tails, corrupt block files), retention and the memory budget.

use std::collections::BTreeMap;
use std::fs;

use kelvin_model::{EntityId, Reading, SensorKind, Timestamp};
use kelvin_store::{Appended, SeriesKey, Store, StoreErrorKind, StoreOptions};
use proptest::prelude::*;

const S: i64 = 1_000_000_000;

fn key(host: &str, sensor: &str) -> SeriesKey {
    SeriesKey::new(EntityId::new(host).unwrap(), sensor, SensorKind::Power)
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-store-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

/// A day of 15 s PSU power for one host: a diurnal swing with 0.5 W resolution.
fn psu_day(store: &mut Store, host: &str) -> (Vec<i64>, Vec<f64>) {
    let id = store.series_id(&key(host, "psu1")).unwrap();
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    for i in 0..5_760_i64 {
        let t = 1_699_920_000 * S + i * 15 * S; // midnight UTC
        let w = ((250.0 + 80.0 * ((i as f64) / 5_760.0 * std::f64::consts::TAU).sin()) * 2.0)
            .round()
            / 2.0;
        assert_eq!(store.append(id, t, w).unwrap(), Appended::InOrder);
        ts.push(t);
        vs.push(w);
    }
    (ts, vs)
}

#[test]
fn heads_seal_into_blocks_and_scans_return_what_went_in() {
    let mut store = Store::in_memory(StoreOptions::default().with_partition_ns(6 * 3600 * S));
    let (ts, vs) = psu_day(&mut store, "host-01");
    let id = store.find(&key("host-01", "psu1")).unwrap();
    // 6 h partitions of 1,440 samples: the first three sealed, the last one still in the head.
    assert_eq!(store.block_stats(id).unwrap().len(), 3);
    let all = store.scan(id, i64::MIN, i64::MAX).unwrap();
    assert_eq!((all.ts, all.values), (ts.clone(), vs.clone()));
    let part = store.scan(id, ts[100], ts[5_000]).unwrap();
    assert_eq!(part.ts, ts[100..5_000]);
    // Sealed blocks are far smaller than the 16 bytes/sample of raw columns.
    let per_sample = store.block_bytes() as f64 / (3.0 * 1_440.0);
    assert!(per_sample < 3.0, "{per_sample} bytes/sample");
}

#[test]
fn aggregates_from_block_stats_match_a_direct_computation() {
    let mut store = Store::in_memory(StoreOptions::default().with_block_samples(500));
    let (ts, vs) = psu_day(&mut store, "host-01");
    let id = store.find(&key("host-01", "psu1")).unwrap();
    for (a, b) in [
        (0, 5_760),
        (0, 500),
        (250, 4_321),
        (1_000, 1_001),
        (5_759, 5_760),
    ] {
        let agg = store
            .aggregate(id, ts[a], ts.get(b).copied().unwrap_or(i64::MAX))
            .unwrap();
        let slice = &vs[a..b];
        assert_eq!(agg.count, (b - a) as u64);
        let sum: f64 = slice.iter().sum();
        assert!(
            (agg.sum - sum).abs() < 1e-6 * sum.abs().max(1.0),
            "{a}..{b}"
        );
        assert_eq!(agg.min, slice.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(
            agg.max,
            slice.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        );
        assert_eq!((agg.min_ts, agg.first), (ts[a], vs[a]));
        assert_eq!((agg.max_ts, agg.last), (ts[b - 1], vs[b - 1]));
    }
}

#[test]
fn late_data_inside_the_window_is_merged_and_older_data_is_rejected_and_counted() {
    let opts = StoreOptions::default()
        .with_late_window_ns(600 * S)
        .with_block_samples(64)
        .with_partition_ns(3600 * S);
    let mut store = Store::in_memory(opts);
    let id = store.series_id(&key("h1", "psu1")).unwrap();
    for i in 0..400_i64 {
        if i % 10 != 3 {
            store.append(id, i * 15 * S, i as f64).unwrap();
        }
    }
    // The skipped samples arrive late; only those within 10 min of the newest are accepted.
    let newest = 399 * 15 * S;
    let (mut late, mut rejected) = (0, 0);
    for i in (3..400_i64).step_by(10) {
        match store.append(id, i * 15 * S, i as f64).unwrap() {
            Appended::Late => late += 1,
            Appended::TooLate => {
                rejected += 1;
                assert!(i * 15 * S < newest - 600 * S);
            }
            Appended::InOrder => panic!("sample {i} cannot be in order"),
        }
    }
    assert_eq!(late, 4); // 363, 373, 383 and 393 are within 600 s of the newest (5985 s)
    assert_eq!(store.stats().too_late, rejected);
    // A duplicate timestamp: the last write wins, in the head and in a sealed block.
    store.append(id, newest, -1.0).unwrap();
    store.append(id, 380 * 15 * S, -2.0).unwrap();
    store.checkpoint().unwrap();
    let d = store.scan(id, 0, i64::MAX).unwrap();
    assert!(
        d.ts.windows(2).all(|w| w[0] < w[1]),
        "sorted, one sample per timestamp"
    );
    let at = |t: i64| d.values[d.ts.binary_search(&t).unwrap()];
    assert_eq!(at(newest), -1.0);
    assert_eq!(at(380 * 15 * S), -2.0);
    assert_eq!(at(383 * 15 * S), 383.0);
    assert!(d.ts.binary_search(&(3 * 15 * S)).is_err());
    assert_eq!(d.ts.len() as u64 + rejected, 400);
}

#[test]
fn readings_are_stored_and_unusable_ones_counted() {
    let mut store = Store::in_memory(StoreOptions::default());
    let host = EntityId::new("host-01").unwrap();
    let ok = Reading::new(
        host.clone(),
        "psu1",
        SensorKind::Power,
        200.0,
        Timestamp::from_secs(10),
    );
    let nan = Reading::new(
        host.clone(),
        "psu1",
        SensorKind::Power,
        f64::NAN,
        Timestamp::from_secs(20),
    );
    let untimed = Reading::new(host, "psu1", SensorKind::Power, 1.0, Timestamp::UNKNOWN);
    let stats = store.extend([&ok, &nan, &untimed]).unwrap();
    assert_eq!((stats.in_order, stats.unusable), (1, 2));
    assert_eq!(store.sample_count(), 1);
}

#[test]
fn a_durable_store_reopens_with_everything_committed() {
    let dir = tmpdir("reopen");
    let (ts, vs) = {
        let (mut store, report) =
            Store::open(&dir, StoreOptions::default().with_block_samples(1000)).unwrap();
        assert!(report.is_clean());
        let out = psu_day(&mut store, "host-01");
        store.commit().unwrap();
        store.checkpoint().unwrap();
        // More after the checkpoint lives only in the WAL.
        let id = store.find(&key("host-01", "psu1")).unwrap();
        store.append(id, out.0[5_759] + 15 * S, 1.5).unwrap();
        store.commit().unwrap();
        out
    };
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.wal_samples, 1);
    assert!(report.blocks >= 6);
    let id = store.find(&key("host-01", "psu1")).unwrap();
    let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
    assert_eq!(d.ts.len(), 5_761);
    assert_eq!(&d.ts[..5_760], &ts[..]);
    assert_eq!(&d.values[..5_760], &vs[..]);
    // Selecting by entity after recovery finds the recovered series (the per-entity index is
    // rebuilt with them), and nothing of other entities.
    let host = EntityId::new("host-01").unwrap();
    let by_entity = store.select(Some(&host), None);
    let scanned: Vec<_> = store
        .series()
        .filter(|(_, k)| k.entity == host)
        .map(|(id, _)| id)
        .collect();
    assert!(!by_entity.is_empty());
    assert_eq!(by_entity.len(), scanned.len());
    assert!(by_entity.iter().all(|id| scanned.contains(id)));
    assert!(
        store
            .select(Some(&EntityId::new("host-99").unwrap()), None)
            .is_empty()
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_wal_tail_is_cut_off_and_reported() {
    let dir = tmpdir("torn");
    {
        let (mut store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        let id = store.series_id(&key("h1", "psu1")).unwrap();
        for i in 0..100 {
            store.append(id, i * S, i as f64).unwrap();
        }
        store.commit().unwrap();
        for i in 100..200 {
            store.append(id, i * S, i as f64).unwrap();
        }
        store.commit().unwrap();
    }
    // A crash in the middle of the second commit's write: its record is cut short.
    let seg = fs::read_dir(dir.join("wal"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .min()
        .unwrap();
    let len = fs::metadata(&seg).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(report.torn.len(), 1, "{report:?}");
    assert!(
        report.torn[0].reason.contains("cut short"),
        "{}",
        report.torn[0].reason
    );
    let id = store.find(&key("h1", "psu1")).unwrap();
    let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
    assert_eq!(
        d.ts.len(),
        100,
        "the first commit survives whole, the torn one not at all"
    );
    assert_eq!(d.values[99], 99.0);
    drop(store);
    // The tail was truncated: the next open is clean.
    let (_, again) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert!(
        again.torn.iter().all(|t| t.bytes == 0 || t.offset == 0),
        "{again:?}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_block_file_is_set_aside_and_never_used() {
    let dir = tmpdir("corrupt");
    {
        let (mut store, _) = Store::open(&dir, StoreOptions::default()).unwrap();
        psu_day(&mut store, "host-01");
        store.checkpoint().unwrap();
    }
    let file = fs::read_dir(dir.join("blocks"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .next()
        .unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&file, &bytes).unwrap();
    let (store, report) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(report.set_aside.len(), 1, "{report:?}");
    assert!(
        report.set_aside[0].reason.contains("checksum"),
        "{}",
        report.set_aside[0].reason
    );
    assert!(report.set_aside[0].moved_to.exists());
    assert!(!file.exists());
    // The damaged data is absent rather than wrong.
    assert_eq!(store.sample_count(), 0);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn retention_drops_old_blocks_at_checkpoint() {
    let opts = StoreOptions::default()
        .with_partition_ns(3600 * S)
        .with_retention_ns(Some(6 * 3600 * S));
    let mut store = Store::in_memory(opts);
    psu_day(&mut store, "host-01");
    store.checkpoint().unwrap();
    let id = store.find(&key("host-01", "psu1")).unwrap();
    let (oldest, newest) = store.time_span().unwrap();
    assert!(
        newest - oldest <= 7 * 3600 * S,
        "kept {} h",
        (newest - oldest) / 3600 / S
    );
    assert!(store.stats().blocks_expired >= 17);
    assert_eq!(
        store.aggregate(id, i64::MIN, i64::MAX).unwrap().count,
        store.sample_count()
    );
}

#[test]
fn the_memory_budget_is_hard_in_memory_and_evicts_when_durable() {
    let budget = 256 << 10;
    let mut mem = Store::in_memory(StoreOptions::default().with_memory_budget(budget));
    let mut refused = None;
    // Noisy full-precision values (about 8 bytes a sample even compressed): 4 MB of them.
    let noisy = |h: u64, i: u64| {
        ((h * 1_000_003 + i).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64 / 7.0
    };
    'outer: for h in 0..100_u64 {
        let id = mem.series_id(&key(&format!("host-{h:03}"), "psu1"));
        let Ok(id) = id else {
            refused = Some(id.unwrap_err());
            break;
        };
        for i in 0..5_000_u64 {
            if let Err(e) = mem.append(id, i as i64 * S, noisy(h, i)) {
                refused = Some(e);
                break 'outer;
            }
        }
    }
    let e = refused.expect("the budget must run out");
    assert_eq!(e.kind(), StoreErrorKind::MemoryBudget);
    assert!(
        mem.memory_bytes() <= budget,
        "{} > {budget}",
        mem.memory_bytes()
    );
    assert!(mem.stats().over_budget >= 1);

    // Durable: checkpoints and evictions keep the store within budget, and data stays readable.
    let dir = tmpdir("budget");
    let (mut store, _) = Store::open(
        &dir,
        StoreOptions::default()
            .with_memory_budget(budget)
            .with_sync(false),
    )
    .unwrap();
    for h in 0..40 {
        let id = store
            .series_id(&key(&format!("host-{h:03}"), "psu1"))
            .unwrap();
        for i in 0..2_000_i64 {
            store
                .append(id, i * S, (i % 17) as f64 * 3.3 + h as f64)
                .unwrap();
        }
    }
    let held = store.memory_bytes();
    assert!(held <= budget, "{held} > {budget}");
    let id = store.find(&key("host-007", "psu1")).unwrap();
    let d = store.scan(id, 0, i64::MAX).unwrap();
    assert_eq!(d.ts.len(), 2_000);
    assert_eq!(d.values[1_999], (1_999 % 17) as f64 * 3.3 + 7.0);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn memory_per_active_series_is_under_one_kib() {
    let mut store = Store::in_memory(StoreOptions::default());
    let n = 10_000;
    for h in 0..n {
        let id = store
            .series_id(&key(&format!("host-{h:05}"), "psu1"))
            .unwrap();
        store.append(id, 0, 1.0).unwrap();
    }
    let per = store.memory_bytes() / n;
    assert!(per <= 1024, "{per} bytes per series");
}

proptest! {
    /// Whatever order samples arrive in, the store holds what a last-write-wins map holds
    /// (minus what the late window rejected), before and after sealing, and aggregates agree
    /// with the scan.
    #[test]
    fn the_store_matches_a_last_write_wins_model(
        ops in proptest::collection::vec((0_i64..400, -1e6_f64..1e6), 1..600),
        window in 0_i64..200,
    ) {
        let opts = StoreOptions::default().with_block_samples(32).with_partition_ns(100 * S).with_late_window_ns(window * S);
        let mut store = Store::in_memory(opts);
        let id = store.series_id(&key("h1", "p")).unwrap();
        let mut model = BTreeMap::new();
        let mut newest = i64::MIN;
        for &(t, v) in &ops {
            let out = store.append(id, t * S, v).unwrap();
            if t * S >= newest.saturating_sub(window * S) {
                prop_assert_ne!(out, Appended::TooLate);
                model.insert(t * S, v);
                newest = newest.max(t * S);
            } else {
                prop_assert_eq!(out, Appended::TooLate);
            }
        }
        for phase in 0..2 {
            let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
            let want: Vec<(i64, f64)> = model.iter().map(|(&t, &v)| (t, v)).collect();
            let got: Vec<(i64, f64)> = d.ts.iter().copied().zip(d.values.iter().copied()).collect();
            prop_assert_eq!(&got, &want, "phase {}", phase);
            let agg = store.aggregate(id, 50 * S, 300 * S).unwrap();
            let inside: Vec<f64> = model.range(50 * S..300 * S).map(|(_, &v)| v).collect();
            prop_assert_eq!(agg.count, inside.len() as u64);
            let sum: f64 = inside.iter().sum();
            prop_assert!((agg.sum - sum).abs() <= 1e-6 * inside.iter().map(|v| v.abs()).sum::<f64>().max(1.0));
            store.checkpoint().unwrap();
        }
    }
}

#[test]
fn expired_partitions_are_rolled_up_into_downsampled_tiers_that_survive_reopening() {
    let dir = tmpdir("rollup");
    let opts = || {
        StoreOptions::default()
            .with_partition_ns(3600 * S)
            .with_retention_ns(Some(6 * 3600 * S))
            .with_rollups(&[300 * S, 3600 * S], None)
            .unwrap()
    };
    let (ts, vs) = {
        let (mut store, _) = Store::open(&dir, opts()).unwrap();
        let day = psu_day(&mut store, "host-01");
        store.checkpoint().unwrap();
        day
    };
    let (store, report) = Store::open(&dir, opts()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    let raw = store.find(&key("host-01", "psu1")).unwrap();
    let kept_from = store.scan(raw, i64::MIN, i64::MAX).unwrap().ts[0];
    assert!(kept_from > ts[0], "old raw data expired");
    let tier = |width: &str, agg: &str| {
        let k = key("host-01", "psu1").with_labels(kelvin_store::Labels::from_pairs([
            (kelvin_store::ROLLUP_LABEL, width),
            (kelvin_store::AGG_LABEL, agg),
        ]));
        store
            .scan(store.find(&k).expect("rollup series"), i64::MIN, i64::MAX)
            .unwrap()
    };
    let (count, sum, max) = (
        tier("300s", "count"),
        tier("300s", "sum"),
        tier("300s", "max"),
    );
    // Every expired 5-min bucket holds 20 samples; its sum and max match the raw data.
    assert_eq!(count.ts.len() as i64, (kept_from - ts[0]) / (300 * S));
    for (j, &start) in count.ts.iter().enumerate() {
        let inside: Vec<f64> = ts
            .iter()
            .zip(&vs)
            .filter(|(t, _)| **t >= start && **t < start + 300 * S)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(count.values[j], 20.0);
        assert_eq!(sum.values[j], inside.iter().sum::<f64>());
        assert_eq!(
            max.values[j],
            inside.iter().copied().fold(f64::MIN, f64::max)
        );
    }
    let hourly = tier("3600s", "count");
    assert!(hourly.values.iter().all(|&c| c == 240.0));
    assert_eq!(
        kelvin_store::StoreOptions::default()
            .with_rollups(&[7 * S], None)
            .unwrap_err()
            .kind(),
        StoreErrorKind::InvalidInput
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn store_queries_agree_with_the_column_kernels_on_the_scanned_data() {
    use kelvin_store::{Fill, Grid, ResampleOptions, Selector};
    // Blocks of 240 samples (1 h at 15 s): hourly buckets come from block statistics.
    let mut store = Store::in_memory(
        StoreOptions::default()
            .with_block_samples(240)
            .with_partition_ns(3600 * S),
    );
    let (ts, _) = psu_day(&mut store, "host-01");
    psu_day(&mut store, "host-02");
    let id = store.find(&key("host-01", "psu1")).unwrap();
    // Some late corrections, so both the statistics path and the merged path are used.
    store.append(id, ts[5_700], 999.5).unwrap();
    let all = store.scan(id, i64::MIN, i64::MAX).unwrap();
    for width in [60 * S, 3600 * S, 7 * 3600 * S] {
        let got = store.time_buckets(id, ts[10], ts[5_750], 0, width).unwrap();
        let a = all.ts.partition_point(|&t| t < ts[10]);
        let b = all.ts.partition_point(|&t| t < ts[5_750]);
        let want = kelvin_store::time_buckets(&all.ts[a..b], &all.values[a..b], 0, width).unwrap();
        assert_eq!(got.start(), want.start(), "width {width}");
        assert_eq!(got.count(), want.count());
        assert_eq!(got.max(), want.max());
        for (x, y) in got.sum().iter().zip(want.sum()) {
            assert!((x - y).abs() < 1e-9 * y.abs().max(1.0));
        }
    }
    let grid = Grid::try_new(Timestamp::from_nanos(ts[100] + 7 * S), 60 * S, 500).unwrap();
    let ids = [id, store.find(&key("host-02", "psu1")).unwrap()];
    for fill in [Fill::Linear, Fill::Locf] {
        let opts = ResampleOptions::default().with_fill(fill);
        let m = store.resample_many(&ids, &grid, &opts).unwrap();
        let want = kelvin_store::resample(&all.ts, &all.values, &grid, &opts).unwrap();
        assert_eq!(m.column(0).to_vec(), want.to_vec());
    }
    let at: Vec<i64> = (0..100).map(|k| ts[0] + k * 777 * S).collect();
    let got = store.asof(id, &at, Some(20 * S)).unwrap();
    assert_eq!(
        got,
        kelvin_store::asof_join(&at, &all.ts, &all.values, Some(20 * S)).unwrap()
    );
    let sel = Selector::parse("host-02/psu1").unwrap();
    assert_eq!(store.select_matching(&sel), vec![ids[1]]);
    // Export then import into a fresh store reproduces every series.
    let data = store.export_all().unwrap();
    let mut copy = Store::in_memory(StoreOptions::default());
    copy.import(&data).unwrap();
    assert_eq!(copy.export_all().unwrap(), data);
}

#[test]
fn the_reading_cache_resolves_equal_text_to_one_series_whatever_the_allocation() {
    let mut store = Store::in_memory(StoreOptions::default());
    for i in 0..300_i64 {
        // Fresh allocations each time, and the same allocation reused: both must land in the
        // series their text names.
        let host = EntityId::new(format!("host-{:02}", i % 3)).unwrap();
        let r = Reading::new(
            host.clone(),
            "psu1",
            SensorKind::Power,
            i as f64,
            Timestamp::from_secs(i),
        );
        store.insert(&r).unwrap();
        let t = Reading::new(
            host,
            "inlet",
            SensorKind::Temperature,
            20.0,
            Timestamp::from_secs(i),
        );
        store.insert(&t).unwrap();
    }
    assert_eq!(store.series_count(), 6);
    let id = store.find(&key("host-01", "psu1")).unwrap();
    let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
    assert_eq!(d.values.len(), 100);
    assert!(d.values.iter().all(|v| *v as i64 % 3 == 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// A durable store that keeps only a trailing window resident (short heads, checkpoints on
    /// commit, cold blocks coalesced and evicted) holds what a last-write-wins map holds,
    /// through commits, checkpoints and a reopening.
    #[test]
    fn a_resident_window_store_matches_a_last_write_wins_model(
        ops in proptest::collection::vec((0_i64..2_000, -1e6_f64..1e6, proptest::bool::weighted(0.05)), 1..400),
        case in 0_u32..1_000_000,
    ) {
        let dir = tmpdir(&format!("resident-prop-{case}"));
        let opts = StoreOptions::default()
            .with_block_samples(16)
            .with_partition_ns(500 * S)
            .with_late_window_ns(150 * S)
            .with_resident_ns(Some(100 * S))
            .with_sync(false);
        let (mut store, _) = Store::open(&dir, opts.clone()).unwrap();
        let id = store.series_id(&key("h1", "p")).unwrap();
        let mut model = BTreeMap::new();
        let mut newest = i64::MIN;
        for &(t, v, commit) in &ops {
            let out = store.append(id, t * S, v).unwrap();
            if t * S >= newest.saturating_sub(150 * S) {
                prop_assert_ne!(out, Appended::TooLate);
                model.insert(t * S, v);
                newest = newest.max(t * S);
            }
            if commit {
                store.commit().unwrap();
            }
        }
        store.commit().unwrap();
        let want: Vec<(i64, f64)> = model.iter().map(|(&t, &v)| (t, v)).collect();
        let got = |store: &Store| {
            let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
            d.ts.iter().copied().zip(d.values.iter().copied()).collect::<Vec<_>>()
        };
        prop_assert_eq!(&got(&store), &want);
        store.checkpoint().unwrap();
        prop_assert_eq!(&got(&store), &want);
        drop(store);
        let (store, _) = Store::open(&dir, opts).unwrap();
        prop_assert_eq!(&got(&store), &want);
        let _ = fs::remove_dir_all(&dir);
    }
}

/// A week of one-minute samples of 50 noisy series: with a two-hour resident window the
/// store's memory through the first day is what it was after six hours (the window and the
/// partition's cold blocks in their steady state), blocks that left
/// the window are coalesced (a few per partition, not one per head), and every sample reads
/// back, before and after reopening.
#[test]
fn a_resident_window_keeps_memory_flat_and_every_sample_readable() {
    let dir = tmpdir("resident-flat");
    let opts = StoreOptions::default()
        .with_resident_ns(Some(2 * 3_600 * S))
        .with_sync(false);
    let (mut store, _) = Store::open(&dir, opts.clone()).unwrap();
    let noisy = |h: i64, i: i64| {
        ((h * 1_000_003 + i) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) as f64 / 1e15
    };
    let ids: Vec<_> = (0..50)
        .map(|h| {
            store
                .series_id(&key(&format!("host-{h:02}"), "psu1"))
                .unwrap()
        })
        .collect();
    let t0 = 1_699_920_000 * S;
    let minutes = 7 * 1_440;
    let mut at_6h = 0;
    let (mut most_first_day, mut most) = (0, 0);
    for i in 0..minutes {
        for (h, &id) in ids.iter().enumerate() {
            store
                .append(id, t0 + i * 60 * S, noisy(h as i64, i))
                .unwrap();
        }
        if i % 10 == 9 {
            store.commit().unwrap();
        }
        if i == 360 {
            at_6h = store.memory_bytes();
        }
        if i > 360 && i % 60 == 0 {
            let m = store.memory_bytes();
            if i < 1_440 {
                most_first_day = most_first_day.max(m);
            }
            most = most.max(m);
        }
    }
    assert!(at_6h > 0);
    assert!(
        most_first_day as f64 <= 1.1 * at_6h as f64,
        "memory grew from {at_6h} bytes at 6 h to {most_first_day} in the first day"
    );
    // Across the week only each partition's coalesced block adds its statistics (and the
    // block list its capacity), never the samples.
    assert!(
        most as f64 <= 1.6 * at_6h as f64,
        "memory grew from {at_6h} bytes at 6 h to {most} in a week"
    );
    let blocks = store.block_stats(ids[7]).unwrap();
    // 7 daily partitions of 1,440 samples (one block each once coalesced) plus the window.
    assert!(blocks.len() <= 7 + 6, "{} blocks", blocks.len());
    let check = |store: &Store| {
        for (h, &id) in ids.iter().enumerate() {
            let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
            assert_eq!(d.ts.len(), minutes as usize);
            for (i, (&t, &v)) in d.ts.iter().zip(&d.values).enumerate() {
                assert_eq!((t, v), (t0 + i as i64 * 60 * S, noisy(h as i64, i as i64)));
            }
        }
    };
    check(&store);
    drop(store);
    let (store, _) = Store::open(&dir, opts).unwrap();
    check(&store);
    let _ = fs::remove_dir_all(&dir);
}

/// A checkpoint whose block file cannot be written (here the file it creates is `/dev/full`,
/// so its writes fail with "no space left") after it began evicting blocks to it: that
/// checkpoint and every later one fail, naming the first failure, and reopening the store
/// recovers every committed sample from the log and the earlier files.
#[cfg(target_os = "linux")]
#[test]
fn a_checkpoint_that_fails_midway_refuses_later_ones_and_reopening_loses_nothing() {
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this machine");
        return;
    }
    let dir = tmpdir("ckpt-fails");
    let opts = StoreOptions::default()
        .with_resident_ns(Some(3_600 * S))
        .with_sync(false);
    let (mut store, _) = Store::open(&dir, opts.clone()).unwrap();
    let ids: Vec<_> = (0..200)
        .map(|h| {
            store
                .series_id(&key(&format!("host-{h:03}"), "psu1"))
                .unwrap()
        })
        .collect();
    let t0 = 1_699_920_000 * S;
    let value = |h: usize, i: i64| ((h as i64 * 7_919 + i * 104_729) % 100_003) as f64 / 7.0;
    let mut minute = 0i64;
    let mut feed = |store: &mut Store, minutes: i64| -> Vec<Result<u64, String>> {
        let mut commits = Vec::new();
        for _ in 0..minutes {
            for (h, &id) in ids.iter().enumerate() {
                store
                    .append(id, t0 + minute * 60 * S, value(h, minute))
                    .unwrap();
            }
            minute += 1;
            if minute % 10 == 0 {
                commits.push(store.commit().map_err(|e| e.to_string()));
            }
        }
        commits
    };
    // Three hours checkpoint several times; the blocks that left the window are on disk only.
    assert!(feed(&mut store, 180).iter().all(Result::is_ok));
    let blocks = dir.join("blocks");
    let newest = fs::read_dir(&blocks)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".kblk")?.parse::<u64>().ok()
        })
        .max()
        .expect("a block file after three hours");
    let next = blocks.join(format!("{:016}.kblk.tmp", newest + 1));
    std::os::unix::fs::symlink("/dev/full", &next).unwrap();
    // The next checkpoint evicts blocks into a file that cannot be written.
    let commits = feed(&mut store, 60);
    let first = commits
        .iter()
        .position(Result::is_err)
        .expect("a checkpoint into /dev/full fails");
    let why = commits[first].as_ref().unwrap_err();
    assert!(
        why.contains("No space left") || why.contains("writing"),
        "{why}"
    );
    let again = store.checkpoint().unwrap_err().to_string();
    assert!(again.contains("reopen the store"), "{again}");
    assert!(again.contains(why.as_str()), "{again} does not name {why}");
    // Every sample was committed to the log before its commit's checkpoint failed.
    drop(store);
    fs::remove_file(&next).unwrap();
    let (mut store, _) = Store::open(&dir, opts).unwrap();
    for (h, &id) in ids.iter().enumerate() {
        let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
        assert_eq!(d.ts.len(), minute as usize, "series {h}");
        for (i, (&t, &v)) in d.ts.iter().zip(&d.values).enumerate() {
            assert_eq!((t, v), (t0 + i as i64 * 60 * S, value(h, i as i64)));
        }
    }
    // And the reopened store checkpoints again.
    store.checkpoint().unwrap();
    let _ = fs::remove_dir_all(&dir);
}

/// Appends `n` samples to each of 6 series with compaction triggered every 256 frozen samples
/// (so a background batch is almost always under way), late samples merged into blocks that
/// batch may be encoding, and scans in between; returns the model of what was stored.
fn churn(store: &mut Store, n: i64, durable: bool) -> Vec<BTreeMap<i64, f64>> {
    let ids: Vec<_> = (0..6)
        .map(|s| store.series_id(&key(&format!("h{s}"), "psu1")).unwrap())
        .collect();
    let mut model = vec![BTreeMap::new(); ids.len()];
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..n {
        for (s, id) in ids.iter().enumerate() {
            let t = i * 15 * S;
            let v = ((i * 7 + s as i64 * 13) % 400) as f64 / 2.0;
            store.append(*id, t, v).unwrap();
            model[s].insert(t, v);
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i > 40 && x.is_multiple_of(11) {
                // Up to 40 scrapes late, on the scrape grid plus 1 s: a new instant.
                let late = (i - 1 - (x >> 8) as i64 % 40) * 15 * S + S;
                let lv = -(((x >> 20) % 1000) as f64);
                if store.append(*id, late, lv).unwrap() == Appended::Late {
                    model[s].insert(late, lv);
                }
            }
        }
        if durable {
            store.commit().unwrap();
        }
        if i % 97 == 0 {
            let d = store.scan(ids[i as usize % 6], i64::MIN, i64::MAX).unwrap();
            assert_eq!(d.ts.len(), model[i as usize % 6].len(), "scan at {i}");
        }
    }
    model
}

fn assert_matches(store: &Store, model: &[BTreeMap<i64, f64>]) {
    for (s, m) in model.iter().enumerate() {
        let id = store.find(&key(&format!("h{s}"), "psu1")).unwrap();
        let d = store.scan(id, i64::MIN, i64::MAX).unwrap();
        let got: Vec<(i64, u64)> =
            d.ts.iter()
                .zip(&d.values)
                .map(|(&t, v)| (t, v.to_bits()))
                .collect();
        let want: Vec<(i64, u64)> = m.iter().map(|(&t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want, "series {s}");
    }
}

fn churn_options() -> StoreOptions {
    StoreOptions::default()
        .with_block_samples(64)
        .with_partition_ns(3_600 * S)
        .with_late_window_ns(600 * S)
        .with_compact_after_samples(256)
}

#[test]
fn background_compaction_keeps_every_sample_and_reads_go_on() {
    let mut store = Store::in_memory(churn_options());
    let model = churn(&mut store, 3_000, false);
    assert_matches(&store, &model);
    // Whatever a background batch left, compact finishes; then nothing is frozen.
    store.compact().unwrap();
    assert_eq!(store.compact().unwrap(), 0);
    assert_matches(&store, &model);
    let stats = store.stats();
    assert!(stats.blocks_sealed > 200, "{stats:?}");
    assert!(stats.late > 100, "late samples merged: {stats:?}");
}

#[test]
fn committed_samples_survive_a_drop_with_a_background_batch_under_way() {
    let dir = tmpdir("background-compaction");
    let model = {
        let (mut store, _) = Store::open(&dir, churn_options().with_sync(false)).unwrap();
        churn(&mut store, 2_000, true)
        // Dropped without a checkpoint, a batch most likely still encoding.
    };
    let (store, report) = Store::open(&dir, churn_options()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_matches(&store, &model);
    let _ = fs::remove_dir_all(&dir);
}
