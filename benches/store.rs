//! The store's write and whole-block read paths, with a Gorilla encoder as the peer.
//!
//! - `store_ingest/kelvin_by_id`: 1,000 series × 1,000 samples (a scrape every 15 s of every
//!   series, 0.5 W resolution), appended by `SeriesId` into an in-memory store;
//!   `kelvin_by_key` resolves a labelled `SeriesKey` per sample; `kelvin_readings` inserts
//!   `Reading`s as a decoder produces them (resolved through the store's series cache);
//!   `kelvin_durable` appends by id to a store on disk (WAL, one group commit per scrape, no
//!   fsync); `tsz_gorilla` encodes the same samples with `tsz::StdEncoder`, one per series.
//!   Appends seal full heads as frozen Gorilla blocks; `kelvin_compact` is the deferred work of
//!   re-encoding them with pco (`store_compact`: 100 series × 3 blocks of 8,192 samples, both
//!   cores via rayon).
//! - `store_aggregate/whole_blocks`: count/sum/min/max over 10 M samples of one series from
//!   per-block statistics, against `decode_all`: the same answer by decoding every block.
//!
//! - `store_sustained`: 1,000 series × 24,576 scrapes (4.3 days at 15 s) appended by id into
//!   an in-memory store with default options, so heads seal (at 8,192 samples and at each
//!   day's partition boundary) and compaction runs by itself whenever 4 Mi samples are frozen;
//!   `kelvin_with_compaction` counts the wall time of both, plus a final `compact` of what is
//!   still frozen. Baselines in the same run: `kelvin_append_only` (the same appends,
//!   compaction never triggered) and `tsz_gorilla` (the same samples, one encoder per
//!   series). `kelvin_durable_with_compaction`: 12,288 scrapes into a store on disk (WAL, one
//!   group commit per scrape, no fsync) and a final checkpoint.
//!
//! Memory per active series is printed (not timed).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kelvin::store::{Labels, SeriesKey, Store, StoreOptions};
use kelvin_model::{EntityId, Reading, SensorKind, SensorName, Timestamp};
use tsz::stream::BufferedWriter;
use tsz::{DataPoint, Encode, StdEncoder};

const SERIES: usize = 1_000;
const SCRAPES: usize = 1_000;
const S: i64 = 1_000_000_000;

fn keys() -> Vec<SeriesKey> {
    (0..SERIES)
        .map(|i| {
            SeriesKey::new(
                EntityId::new(format!("host-{:04}", i / 4)).unwrap(),
                format!("psu{}", i % 4),
                SensorKind::Power,
            )
            .with_labels(Labels::from_pairs([
                ("rack", format!("r{:02}", i / 80)),
                ("phase", format!("L{}", i % 3 + 1)),
            ]))
        })
        .collect()
}

/// Watts of series `s` at scrape `t`: a per-host level plus a slow swing, in 0.5 W steps.
fn watts(s: usize, t: usize) -> f64 {
    let level = 180.0 + (s % 37) as f64 * 4.0;
    let swing = 60.0 * ((t as f64 / 240.0) + s as f64).sin();
    ((level + swing) * 2.0).round() / 2.0
}

fn data() -> Vec<Vec<f64>> {
    (0..SCRAPES)
        .map(|t| (0..SERIES).map(|s| watts(s, t)).collect())
        .collect()
}

fn ingest(c: &mut Criterion) {
    let keys = keys();
    let values = data();
    let t0 = 1_700_000_000 * S;
    let mut g = c.benchmark_group("store_ingest");
    g.throughput(Throughput::Elements((SERIES * SCRAPES) as u64));
    g.sample_size(10);
    g.bench_function("kelvin_by_id", |b| {
        b.iter(|| {
            let mut store = Store::in_memory(StoreOptions::default());
            let ids: Vec<_> = keys.iter().map(|k| store.series_id(k).unwrap()).collect();
            for (t, row) in values.iter().enumerate() {
                let ts = t0 + t as i64 * 15 * S;
                for (id, &v) in ids.iter().zip(row) {
                    store.append(*id, ts, v).unwrap();
                }
            }
            black_box(store.sample_count())
        })
    });
    g.bench_function("kelvin_by_key", |b| {
        b.iter(|| {
            let mut store = Store::in_memory(StoreOptions::default());
            for (t, row) in values.iter().enumerate() {
                let ts = t0 + t as i64 * 15 * S;
                for (k, &v) in keys.iter().zip(row) {
                    store.append_key(k, ts, v).unwrap();
                }
            }
            black_box(store.sample_count())
        })
    });
    // Readings as a decoder hands them over: entity and sensor text shared per series.
    let names: Vec<(EntityId, SensorName)> = keys
        .iter()
        .map(|k| (k.entity.clone(), k.sensor.clone()))
        .collect();
    let readings: Vec<Reading> = values
        .iter()
        .enumerate()
        .flat_map(|(t, row)| {
            let names = &names;
            row.iter().enumerate().map(move |(s, &v)| {
                let (e, n) = &names[s];
                Reading::new(
                    e.clone(),
                    n.clone(),
                    SensorKind::Power,
                    v,
                    Timestamp::from_nanos(t0 + t as i64 * 15 * S),
                )
            })
        })
        .collect();
    g.bench_function("kelvin_readings", |b| {
        b.iter(|| {
            let mut store = Store::in_memory(StoreOptions::default());
            for r in &readings {
                store.insert(r).unwrap();
            }
            black_box(store.sample_count())
        })
    });
    let dir = std::env::temp_dir().join(format!("kelvin-bench-store-{}", std::process::id()));
    g.bench_function("kelvin_durable", |b| {
        b.iter(|| {
            let _ = std::fs::remove_dir_all(&dir);
            let (mut store, _) =
                Store::open(&dir, StoreOptions::default().with_sync(false)).unwrap();
            let ids: Vec<_> = keys.iter().map(|k| store.series_id(k).unwrap()).collect();
            for (t, row) in values.iter().enumerate() {
                let ts = t0 + t as i64 * 15 * S;
                for (id, &v) in ids.iter().zip(row) {
                    store.append(*id, ts, v).unwrap();
                }
                store.commit().unwrap();
            }
            black_box(store.sample_count())
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    g.bench_function("tsz_gorilla", |b| {
        b.iter(|| {
            let start = (t0 / S) as u64;
            let mut enc: Vec<StdEncoder<BufferedWriter>> = (0..SERIES)
                .map(|_| StdEncoder::new(start, BufferedWriter::new()))
                .collect();
            for (t, row) in values.iter().enumerate() {
                let ts = start + t as u64 * 15;
                for (e, &v) in enc.iter_mut().zip(row) {
                    e.encode(DataPoint::new(ts, v));
                }
            }
            black_box(enc.into_iter().map(|e| e.close().len()).sum::<usize>())
        })
    });
    g.finish();

    // Re-encoding frozen Gorilla blocks with pco, in parallel (what ingest defers): 100
    // series × 3 full blocks of the default 8,192 samples.
    const CS: usize = 100;
    const CN: usize = 3 * 8192;
    let mut g = c.benchmark_group("store_compact");
    g.throughput(Throughput::Elements((CS * CN) as u64));
    g.sample_size(10);
    g.bench_function("kelvin_compact", |b| {
        b.iter_batched(
            || {
                let mut store = Store::in_memory(
                    StoreOptions::default()
                        .with_partition_ns(i64::MAX / 4)
                        .with_compact_after_samples(u64::MAX),
                );
                let ids: Vec<_> = keys[..CS]
                    .iter()
                    .map(|k| store.series_id(k).unwrap())
                    .collect();
                for t in 0..=CN {
                    for (s, id) in ids.iter().enumerate() {
                        store
                            .append(*id, t0 + t as i64 * 15 * S, watts(s, t))
                            .unwrap();
                    }
                }
                store
            },
            |mut store| {
                assert_eq!(store.compact().unwrap(), (CS * CN) as u64);
                black_box(store)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();

    // Memory per active series (one sample each), excluding samples' own bytes.
    let mut store = Store::in_memory(StoreOptions::default());
    for k in &keys {
        store.append_key(k, t0, 1.0).unwrap();
    }
    let per_series = store.memory_bytes() as f64 / SERIES as f64;
    // And after the full run: bytes per stored sample, heads included.
    let mut full = Store::in_memory(StoreOptions::default());
    let ids: Vec<_> = keys.iter().map(|k| full.series_id(k).unwrap()).collect();
    for (t, row) in values.iter().enumerate() {
        for (id, &v) in ids.iter().zip(row) {
            full.append(*id, t0 + t as i64 * 15 * S, v).unwrap();
        }
    }
    full.checkpoint().unwrap();
    println!(
        "store memory: {per_series:.0} bytes per active series (labelled keys, one sample); \
         {:.3} bytes per sample sealed ({} samples, {} block bytes)",
        full.block_bytes() as f64 / full.sample_count() as f64,
        full.sample_count(),
        full.block_bytes()
    );
}

fn aggregate(c: &mut Criterion) {
    const N: usize = 10_000_000;
    // Built on first use, so filtering to other benchmarks skips it.
    let built: std::sync::OnceLock<(Store, kelvin::store::SeriesId)> = std::sync::OnceLock::new();
    let build = || {
        let mut store = Store::in_memory(StoreOptions::default().with_partition_ns(i64::MAX / 4));
        let key = SeriesKey::new(
            EntityId::new("pdu-01").unwrap(),
            "outlet7",
            SensorKind::Power,
        );
        let id = store.series_id(&key).unwrap();
        for i in 0..N {
            store.append(id, i as i64 * S, watts(7, i)).unwrap();
        }
        store.checkpoint().unwrap();
        (store, id)
    };
    let mut g = c.benchmark_group("store_aggregate");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("whole_blocks", |b| {
        let (store, id) = built.get_or_init(build);
        b.iter(|| black_box(store.aggregate(*id, i64::MIN, i64::MAX).unwrap()))
    });
    g.sample_size(10);
    g.bench_function("decode_all", |b| {
        let (store, id) = built.get_or_init(build);
        b.iter(|| {
            black_box(
                store
                    .scan(*id, i64::MIN, i64::MAX)
                    .unwrap()
                    .values
                    .iter()
                    .sum::<f64>(),
            )
        })
    });
    g.finish();
}

/// Scrapes of the sustained runs: 24,576 per series (4.3 days at 15 s), so that heads seal at
/// each day's partition boundary and at 8,192 samples, and compaction triggers by itself.
const LONG_SCRAPES: usize = 3 * 8192;
/// Scrapes of the durable sustained run: two partition boundaries.
const DURABLE_SCRAPES: usize = 12_288;

/// Appends `scrapes` scrapes of every series (values cycling through `values`' rows) by id.
/// A durable store commits (one group commit) after each scrape.
fn append_scrapes(store: &mut Store, keys: &[SeriesKey], values: &[Vec<f64>], scrapes: usize) {
    let durable = store.dir().is_some();
    let t0 = 1_700_000_000 * S;
    let ids: Vec<_> = keys.iter().map(|k| store.series_id(k).unwrap()).collect();
    for t in 0..scrapes {
        let ts = t0 + t as i64 * 15 * S;
        for (id, &v) in ids.iter().zip(&values[t % values.len()]) {
            store.append(*id, ts, v).unwrap();
        }
        if durable {
            store.commit().unwrap();
        }
    }
}

/// Sustained ingest: appends by id long enough that heads seal and [`Store::compact`] runs as
/// it does in operation (when 4 Mi samples are frozen), wall time of both counted; a final
/// `compact` (in memory) or `checkpoint` (durable) re-encodes what is still frozen. Baselines
/// in the same run: the append path alone (compaction never triggers) and tsz.
fn sustained(c: &mut Criterion) {
    let keys = keys();
    let values = data();
    let mut g = c.benchmark_group("store_sustained");
    g.throughput(Throughput::Elements((SERIES * LONG_SCRAPES) as u64));
    g.sample_size(10);
    g.bench_function("kelvin_with_compaction", |b| {
        b.iter(|| {
            let mut store = Store::in_memory(StoreOptions::default());
            append_scrapes(&mut store, &keys, &values, LONG_SCRAPES);
            store.compact().unwrap();
            black_box(store.sample_count())
        })
    });
    g.bench_function("kelvin_append_only", |b| {
        b.iter(|| {
            let opts = StoreOptions::default().with_compact_after_samples(u64::MAX);
            let mut store = Store::in_memory(opts);
            append_scrapes(&mut store, &keys, &values, LONG_SCRAPES);
            black_box(store.sample_count())
        })
    });
    g.bench_function("tsz_gorilla", |b| {
        b.iter(|| {
            let start = 1_700_000_000u64;
            let mut enc: Vec<StdEncoder<BufferedWriter>> = (0..SERIES)
                .map(|_| StdEncoder::new(start, BufferedWriter::new()))
                .collect();
            for t in 0..LONG_SCRAPES {
                let ts = start + t as u64 * 15;
                for (e, &v) in enc.iter_mut().zip(&values[t % values.len()]) {
                    e.encode(DataPoint::new(ts, v));
                }
            }
            black_box(enc.into_iter().map(|e| e.close().len()).sum::<usize>())
        })
    });
    g.throughput(Throughput::Elements((SERIES * DURABLE_SCRAPES) as u64));
    let dir = std::env::temp_dir().join(format!("kelvin-bench-sustained-{}", std::process::id()));
    g.bench_function("kelvin_durable_with_compaction", |b| {
        b.iter(|| {
            let _ = std::fs::remove_dir_all(&dir);
            let opts = StoreOptions::default().with_sync(false);
            let (mut store, _) = Store::open(&dir, opts).unwrap();
            append_scrapes(&mut store, &keys, &values, DURABLE_SCRAPES);
            store.checkpoint().unwrap();
            black_box(store.sample_count())
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    g.finish();
}

criterion_group!(benches, ingest, sustained, aggregate);
criterion_main!(benches);
