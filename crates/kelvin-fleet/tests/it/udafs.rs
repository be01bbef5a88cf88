use std::collections::BTreeMap;

use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use kelvin_model::Timestamp;
use kelvin_store::{Cells, FlatTable, Grid, ParquetOptions, ResampleOptions, TableColumn};

use crate::fleet::{ENERGY_SQL, Series, fleet, local_context, rows, scratch};

const S: i64 = Timestamp::NANOS_PER_SEC;
const HOUR: i64 = 3600 * S;

/// The store's kernel on one segment `[ts[i], ts[i + 1]]`.
type Kernel = fn(&[i64], &[f64], &Grid) -> f64;

fn integral(ts: &[i64], v: &[f64], g: &Grid) -> f64 {
    kelvin_store::integrate(ts, v, g, &ResampleOptions::default()).unwrap()[0]
}

fn counter(ts: &[i64], v: &[f64], g: &Grid) -> f64 {
    kelvin_store::increase(ts, v, g, &ResampleOptions::default())
        .unwrap()
        .values[0]
}

/// The oracle: the kernel on each segment between consecutive samples at most the default
/// max gap apart, summed in total and for the segments crossing an hour boundary.
fn pairwise(s: &Series, kernel: Kernel) -> (f64, f64) {
    let (mut total, mut crossing) = (0.0, 0.0);
    for i in 0..s.ts.len().saturating_sub(1) {
        let (a, b) = (s.ts[i], s.ts[i + 1]);
        assert!(a < b, "a stored series is strictly increasing");
        if b - a > ResampleOptions::DEFAULT_MAX_GAP_NS {
            continue;
        }
        let grid = Grid::try_new(Timestamp::from_nanos(a), b - a, 2).unwrap();
        let x = kernel(&s.ts[i..=i + 1], &s.values[i..=i + 1], &grid);
        total += x;
        if a.div_euclid(HOUR) != b.div_euclid(HOUR) {
            crossing += x;
        }
    }
    (total, crossing)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// `(site, entity, sensor)` → the series of `kind`, one per key.
fn series_of(kind: &str) -> BTreeMap<(String, String, String), &'static Series> {
    let mut out = BTreeMap::new();
    for s in fleet().series.iter().filter(|s| s.kind == kind) {
        let key = (s.site.clone(), s.entity.clone(), s.sensor.clone());
        assert!(
            out.insert(key, s).is_none(),
            "one {kind} series per entity and sensor"
        );
    }
    out
}

/// Checks `sql`'s rows `(site, entity, sensor, value, n)` against the oracle on every series
/// of `kind`; returns how many series had at least one segment.
fn check_series(got: &[Vec<String>], kind: &str, kernel: Kernel) -> usize {
    let want = series_of(kind);
    assert_eq!(got.len(), want.len(), "one row per {kind} series");
    let mut integrated = 0;
    for r in got {
        let s = want[&(r[0].clone(), r[1].clone(), r[2].clone())];
        assert_eq!(r[4].parse::<usize>().unwrap(), s.ts.len(), "{r:?}");
        let (total, _) = pairwise(s, kernel);
        let x: f64 = r[3].parse().unwrap();
        assert!(close(x, total), "{r:?}: oracle {total}");
        integrated += usize::from(total != 0.0);
    }
    integrated
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn energy_per_series_equals_the_store_integral() {
    let ctx = local_context().await;
    let got = rows(&ctx, ENERGY_SQL).await;
    let integrated = check_series(&got, "power", integral);
    assert!(integrated > 10, "{integrated} power series with energy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hourly_energy_adds_up_to_the_whole_but_for_segments_across_hours() {
    let ctx = local_context().await;
    let sql = "SELECT site, entity, sensor, sum(j) FROM (\
         SELECT site, entity, sensor, date_bin(INTERVAL '1 hour', ts) AS h, \
         kelvin_energy_j(ts, value) AS j FROM readings WHERE kind = 'power' \
         GROUP BY site, entity, sensor, h) GROUP BY site, entity, sensor";
    let want = series_of("power");
    let got = rows(&ctx, sql).await;
    assert_eq!(got.len(), want.len());
    let mut crossed = 0;
    for r in got {
        let s = want[&(r[0].clone(), r[1].clone(), r[2].clone())];
        let (total, crossing) = pairwise(s, integral);
        let hourly: f64 = r[3].parse().unwrap();
        // An hour's group holds only its own samples: the segments from one hour's last
        // sample to the next hour's first are in no group.
        assert!(
            close(hourly + crossing, total),
            "{r:?}: {total} = {hourly} + {crossing}"
        );
        crossed += usize::from(crossing > 0.0);
    }
    assert!(crossed > 0, "the datasets span hour boundaries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increase_of_stored_energy_counters_equals_the_store_increase() {
    let ctx = local_context().await;
    let sql = "SELECT site, entity, sensor, kelvin_increase(ts, value), count(*) \
               FROM readings WHERE kind = 'energy' GROUP BY site, entity, sensor";
    let got = rows(&ctx, sql).await;
    let counted = check_series(&got, "energy", counter);
    assert!(counted > 0, "the datasets have energy counters");
}

/// A counter with a reset at 45 s, a 940 s gap, and a second run, written to `dir` as two
/// Parquet files holding alternate samples, so each file's partition holds an interleaved
/// subset of the series and the result needs the partial states merged. Its increase is
/// 6000 + 1200 (the reset) + 3000 in the first run and 600 in the second: 10800 J.
pub(crate) fn write_counter(dir: &std::path::Path) {
    let secs = [0, 15, 30, 45, 60, 1000, 1015, 1030];
    let joules = [1000.0, 4000.0, 7000.0, 1200.0, 4200.0, 500.0, 800.0, 1100.0];
    for part in 0..2 {
        let rows: Vec<usize> = (part..secs.len()).step_by(2).collect();
        let text = |name: &str, v: &str| TableColumn {
            name: name.into(),
            cells: Cells::Text(vec![Some(v.to_string()); rows.len()]),
        };
        let table = FlatTable {
            name: "readings".into(),
            columns: vec![
                text("host", "h1"),
                text("entity", "h1"),
                text("sensor", "rapl"),
                TableColumn {
                    name: "ts".into(),
                    cells: Cells::TimestampNs(rows.iter().map(|&i| Some(secs[i] * S)).collect()),
                },
                TableColumn {
                    name: "value".into(),
                    cells: Cells::Float(rows.iter().map(|&i| Some(joules[i])).collect()),
                },
            ],
            metadata: Vec::new(),
        };
        let path = dir.join(format!("part-{part}.parquet"));
        kelvin_store::write_table_file(&path, &table, &ParquetOptions::default()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increase_of_a_hand_made_counter_with_a_reset_and_a_gap() {
    let dir = scratch("counter");
    write_counter(&dir);
    // Two partitions, one per file: partial states over alternate samples, merged.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    kelvin_fleet::register_udfs(&ctx);
    let url = format!("{}/", dir.display());
    ctx.register_parquet("c", &url, ParquetReadOptions::default())
        .await
        .unwrap();
    let one = |sql: &str| {
        let ctx = ctx.clone();
        let sql = sql.to_string();
        async move { rows(&ctx, &sql).await[0][0].clone() }
    };
    // 6000 + 1200 (reset) + 3000 in the first run, 600 in the second; the gap counts nothing.
    assert_eq!(
        one("SELECT kelvin_increase(ts, value) FROM c").await,
        "10800.0"
    );
    // The same with BIGINT nanoseconds, and the kernels agree run by run.
    let ts: Vec<i64> = [0, 15, 30, 45, 60].map(|s| s * S).to_vec();
    let v = [1000.0, 4000.0, 7000.0, 1200.0, 4200.0];
    let g = Grid::try_new(Timestamp::from_nanos(0), 60 * S, 2).unwrap();
    assert_eq!(counter(&ts, &v, &g) + 600.0, 10_800.0);
    assert_eq!(
        one("SELECT kelvin_increase(CAST(ts AS BIGINT), value) FROM c").await,
        "10800.0"
    );
    // A 20-minute max gap bridges it: the drop to 500 J is one more reset.
    for gap in ["INTERVAL '20 minutes'", "1200"] {
        let sql = format!("SELECT kelvin_increase(ts, value, {gap}) FROM c");
        assert_eq!(one(&sql).await, "11300.0", "{gap}");
    }
    // Energy of the counter read as a gauge, for the record: first run only spans 60 s.
    let j: f64 = one("SELECT kelvin_energy_j(ts, value) FROM c")
        .await
        .parse()
        .unwrap();
    let g2 = Grid::try_new(Timestamp::from_nanos(1000 * S), 30 * S, 2).unwrap();
    let second = integral(
        &[1000 * S, 1015 * S, 1030 * S],
        &[500.0, 800.0, 1100.0],
        &g2,
    );
    assert!(close(j, integral(&ts, &v, &g) + second), "{j}");
    // No rows: NULL; rows of one instant: 0.
    assert_eq!(
        one("SELECT kelvin_energy_j(ts, value) FROM c WHERE value < 0").await,
        "NULL"
    );
    assert_eq!(
        one("SELECT kelvin_increase(ts, value) FROM c WHERE value = 500").await,
        "0.0"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
