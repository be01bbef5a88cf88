//! The store's query kernels against Polars' eager API, on the same columns in the same run.
//!
//! Build and run (Polars is behind the root `polars` feature, so plain builds never compile it):
//!
//! ```text
//! cargo bench --bench store_query --features polars
//! ```
//!
//! Data: 1 M samples of one series at a 1 s cadence with up to ±300 ms of jitter, 2 % of the
//! scrapes missing (≈ 11.6 days); a plausible PSU power in watts. Each side gets the data in its
//! own form, built before timing: Kelvin the decoded `ts`/`values` columns the store hands its
//! kernels, Polars a `DataFrame` with a `Datetime(ns)` column `ts` and an `f64` column `v`.
//!
//! Measurements:
//! - `buckets_1min`: count, sum, min, max and mean per one-minute bucket (Kelvin's
//!   [`time_buckets`] also yields first and last). Polars: `group_by_dynamic` (every = period =
//!   1 min, closed left, label left, window-bound start) on the frame, then the eager `GroupBy`
//!   aggregations `count`, `sum`, `min`, `max` and `mean`. Those are Polars' safe eager path
//!   (the per-column `agg_*` methods are `unsafe fn` and this package forbids `unsafe`); they are
//!   deprecated in favour of the lazy API, which the workspace does not build.
//! - `asof_10s`: the series' value at every point of a 10 s grid over the whole span (≈ 100 k
//!   points), backward as-of (the latest sample at or before each point). Kelvin:
//!   [`asof_join`] and [`resample_many`] with last-observation-carried-forward and no gap limit
//!   (the same values inside the span). Polars: `join_asof` (strategy backward, exact matches
//!   allowed) of a grid frame onto the data frame.
//!
//! Before timing, the results of both sides are checked to be equal. After criterion's own
//! report, a table prints the median of repeated runs of each and the Polars / Kelvin ratio.
//! Polars runs on its thread pool (all cores; `POLARS_MAX_THREADS=1` makes it single-threaded),
//! Kelvin's kernels on one thread.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use kelvin_model::Timestamp;
use kelvin_store::{Fill, Grid, ResampleOptions, asof_join, resample_many, time_buckets};
use polars::prelude::Duration as PlDuration;
use polars::prelude::*;

const S: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * S;
const N: usize = 1_000_000;
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000 * S;

/// The series: `N` samples, 1 s apart ± 300 ms, 2 % of the scrapes skipped.
fn series() -> (Vec<i64>, Vec<f64>) {
    let mut ts = Vec::with_capacity(N);
    let mut v = Vec::with_capacity(N);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut i: i64 = 0;
    while ts.len() < N {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        i += 1;
        if x.is_multiple_of(50) {
            continue;
        }
        let jitter = (x % 600) as i64 * 1_000_000 - 300_000_000;
        ts.push(T0 + i * S + jitter);
        let t = i as f64;
        v.push(275.0 + 100.0 * (t / 600.0).sin() + ((x >> 32) % 200) as f64 / 10.0);
    }
    (ts, v)
}

fn datetime(name: &str, ts: &[i64]) -> Column {
    Int64Chunked::from_vec(name.into(), ts.to_vec())
        .into_datetime(TimeUnit::Nanoseconds, None)
        .into_column()
}

fn polars_frame(ts: &[i64], v: &[f64]) -> DataFrame {
    DataFrame::new(
        ts.len(),
        vec![
            datetime("ts", ts),
            Float64Chunked::from_vec("v".into(), v.to_vec()).into_column(),
        ],
    )
    .expect("a valid frame")
}

fn dynamic_options(width: i64) -> DynamicGroupOptions {
    DynamicGroupOptions {
        index_column: "ts".into(),
        every: PlDuration::parse(&format!("{width}ns")),
        period: PlDuration::parse(&format!("{width}ns")),
        offset: PlDuration::parse("0ns"),
        label: Label::Left,
        include_boundaries: false,
        closed_window: ClosedWindow::Left,
        start_by: StartBy::WindowBound,
    }
}

/// Polars' eager dynamic group-by: the window labels and the count, sum, min, max and mean of `v`.
#[allow(deprecated)] // the eager GroupBy aggregations: Polars' safe eager path
fn polars_buckets(df: &DataFrame, opts: &DynamicGroupOptions) -> (Column, [DataFrame; 5]) {
    let (keys, _, groups) = df.group_by_dynamic(None, opts).expect("group_by_dynamic");
    // The window labels (`keys`, one per group) stay beside the aggregates: `GroupBy`'s key
    // columns must be row-aligned with the frame (it takes each group's first row from them),
    // and passing the per-group labels there reads out of bounds.
    let gb = GroupBy::new(df, vec![], groups, Some(vec!["v".into()]));
    let aggregates = [
        gb.count().expect("count"),
        gb.sum().expect("sum"),
        gb.min().expect("min"),
        gb.max().expect("max"),
        gb.mean().expect("mean"),
    ];
    (keys, aggregates)
}

fn asof_options() -> JoinArgs {
    JoinArgs::new(JoinType::AsOf(Box::new(AsOfOptions {
        strategy: AsofStrategy::Backward,
        allow_eq: true,
        check_sortedness: true,
        ..AsOfOptions::default()
    })))
}

fn polars_asof(grid: &DataFrame, df: &DataFrame) -> DataFrame {
    grid.join(df, ["ts"], ["ts"], asof_options(), None)
        .expect("join_asof")
}

fn f64s(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .expect("column")
        .f64()
        .expect("f64")
        .to_vec()
        .into_iter()
        .map(|x| x.unwrap_or(f64::NAN))
        .collect()
}

struct Inputs {
    ts: Vec<i64>,
    v: Vec<f64>,
    df: DataFrame,
    grid: Grid,
    grid_ts: Vec<i64>,
    grid_df: DataFrame,
}

fn inputs() -> Inputs {
    let (ts, v) = series();
    let df = polars_frame(&ts, &v);
    // Every 10 s from the first whole 10 s after the first sample to the last sample.
    let first = (ts[0] / (10 * S) + 1) * 10 * S;
    let len = ((ts[N - 1] - first) / (10 * S)) as usize + 1;
    let grid = Grid::try_new(Timestamp::from_nanos(first), 10 * S, len).expect("grid");
    let grid_ts: Vec<i64> = grid.points().map(|t| t.as_nanos()).collect();
    let grid_df = DataFrame::new(grid_ts.len(), vec![datetime("ts", &grid_ts)]).expect("frame");
    Inputs {
        ts,
        v,
        df,
        grid,
        grid_ts,
        grid_df,
    }
}

fn locf() -> ResampleOptions {
    ResampleOptions::default()
        .with_fill(Fill::Locf)
        .with_max_gap_ns(i64::MAX)
}

/// Both sides compute the same numbers (sums and means to rounding).
fn check_agreement(inp: &Inputs) {
    let ours = time_buckets(&inp.ts, &inp.v, 0, MINUTE).expect("buckets");
    let (keys, [count, sum, min, max, mean]) = polars_buckets(&inp.df, &dynamic_options(MINUTE));
    let starts: Vec<i64> = keys
        .cast(&DataType::Int64)
        .expect("keys as i64")
        .i64()
        .expect("i64")
        .to_vec()
        .into_iter()
        .map(|t| t.unwrap_or(i64::MIN))
        .collect();
    assert_eq!(starts, ours.start(), "bucket starts");
    let counts: Vec<u64> = count
        .column("v_count")
        .and_then(|c| c.cast(&DataType::UInt64))
        .expect("count column")
        .u64()
        .expect("u64")
        .to_vec()
        .into_iter()
        .map(|c| c.unwrap_or(0))
        .collect();
    assert_eq!(counts, ours.count(), "bucket counts");
    assert_eq!(f64s(&min, "v_min"), ours.min(), "bucket minima");
    assert_eq!(f64s(&max, "v_max"), ours.max(), "bucket maxima");
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-9 * y.abs().max(1.0))
    };
    assert!(close(&f64s(&sum, "v_sum"), ours.sum()), "bucket sums");
    assert!(close(&f64s(&mean, "v_mean"), ours.mean()), "bucket means");

    let joined = f64s(&polars_asof(&inp.grid_df, &inp.df), "v");
    let asof = asof_join(&inp.grid_ts, &inp.ts, &inp.v, None).expect("asof");
    assert_eq!(joined, asof, "as-of join");
    let resampled = resample_many(&[(&inp.ts, &inp.v)], &inp.grid, &locf()).expect("resample");
    assert_eq!(resampled.column(0).to_vec(), asof, "LOCF resampling");
    eprintln!(
        "agreement: {} one-minute buckets and {} as-of values identical (sums and means to 1e-9)",
        ours.len(),
        asof.len()
    );
}

fn bench(c: &mut Criterion, inp: &Inputs) {
    let minute = dynamic_options(MINUTE);

    let mut g = c.benchmark_group("buckets_1min");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    g.bench_function("kelvin/time_buckets", |b| {
        b.iter(|| time_buckets(black_box(&inp.ts), black_box(&inp.v), 0, MINUTE))
    });
    g.bench_function("polars/group_by_dynamic", |b| {
        b.iter(|| polars_buckets(black_box(&inp.df), &minute))
    });
    g.finish();

    let mut g = c.benchmark_group("asof_10s");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    g.bench_function("kelvin/asof_join", |b| {
        b.iter(|| asof_join(black_box(&inp.grid_ts), &inp.ts, &inp.v, None))
    });
    g.bench_function("kelvin/resample_many_locf", |b| {
        b.iter(|| resample_many(&[(black_box(&inp.ts), &inp.v)], &inp.grid, &locf()))
    });
    g.bench_function("polars/join_asof", |b| {
        b.iter(|| polars_asof(black_box(&inp.grid_df), &inp.df))
    });
    g.finish();
}

/// The median wall time of `runs` calls of `f`, after one warm-up call.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    black_box(f());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn ratios(inp: &Inputs) {
    let minute = dynamic_options(MINUTE);
    let runs = 15;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let buckets_k = median(runs, || time_buckets(&inp.ts, &inp.v, 0, MINUTE));
    let buckets_p = median(runs, || polars_buckets(&inp.df, &minute));
    let asof_k = median(runs, || asof_join(&inp.grid_ts, &inp.ts, &inp.v, None));
    let resample_k = median(runs, || {
        resample_many(&[(&inp.ts, &inp.v)], &inp.grid, &locf())
    });
    let asof_p = median(runs, || polars_asof(&inp.grid_df, &inp.df));
    println!();
    println!(
        "store_query: medians of {runs} runs, {N} samples, Polars threads: {}",
        std::env::var("POLARS_MAX_THREADS").unwrap_or_else(|_| "default (all cores)".into())
    );
    println!(
        "  {:<44} {:>10} {:>10} {:>9}",
        "", "kelvin ms", "polars ms", "polars/kelvin"
    );
    for (name, k, p) in [
        (
            "buckets_1min: time_buckets vs group_by_dynamic",
            buckets_k,
            buckets_p,
        ),
        ("asof_10s: asof_join vs join_asof", asof_k, asof_p),
        (
            "asof_10s: resample_many (LOCF) vs join_asof",
            resample_k,
            asof_p,
        ),
    ] {
        println!(
            "  {name:<44} {:>10.3} {:>10.3} {:>9.1}x",
            ms(k),
            ms(p),
            ms(p) / ms(k)
        );
    }
}

fn main() {
    // One set of inputs for the check, criterion and the table.
    let inp = inputs();
    check_agreement(&inp);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &inp);
    c.final_summary();
    // Only a full `cargo bench` run prints the table: not a filtered one (`-- <filter>`), nor
    // `cargo test --benches`, which runs each benchmark once without `--bench`.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let filtered = args.iter().any(|a| !a.starts_with('-'));
    if benching && !filtered {
        ratios(&inp);
    }
}
