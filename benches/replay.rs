//! Replay throughput end to end: a simulated recording through `kelvin_replay` — Prometheus
//! ingest into the store, alignment, attribution with intervals, inlet hot spots, first-fit
//! placement and the fleet optimizer's recommendation, and the report.
//!
//! - `replay/kelvin`: `replay_with` on a `kelvin-sim` recording of 8 racks × 8 hosts with 160
//!   running workloads, one hour scraped every 15 s (about 69,000 readings).
//! - `replay/prometheus_parse`: the peer, the `prometheus-parse` crate parsing the same text
//!   (syntax only: no store, no attribution), same run.
//!
//! - `replay_per_host/{kelvin,prometheus_parse}/N`: one host running N = 1,000 … 50,000
//!   workloads (ten minutes scraped every 15 s: 41 N + 41 readings), the whole replay against
//!   parsing alone. Kelvin's time per reading must stay flat as N grows (work at most
//!   `n log n` in workloads per host), as the parser's does.
//!
//! Throughput is readings per second of the whole replay; the ratio compares it with parsing
//! alone.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kelvin_replay::{RecordedDataset, ReplayOptions, replay_with};
use kelvin_sim::{SimConfig, simulate};

fn dataset() -> (RecordedDataset, u64) {
    let cfg = SimConfig::edge()
        .with_fleet(8, 8, 160)
        .with_duration_s(3_600);
    let sim = simulate(&cfg).expect("valid config");
    let inventory = serde_json::to_string(&sim.inventory).expect("serializable");
    let workloads = serde_json::to_string(&sim.workloads).expect("serializable");
    let readings = sim
        .metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as u64;
    let ds =
        RecordedDataset::from_texts("bench-64-hosts", &inventory, &workloads, sim.metrics, None)
            .expect("the simulator writes valid datasets");
    (ds, readings)
}

/// One host of 256 cores running `n` small workloads, ten minutes at 15 s.
fn one_host(n: usize) -> (RecordedDataset, u64) {
    use std::fmt::Write as _;
    let inventory = r#"{"sites":[{"id":"s"}],"rooms":[{"id":"r","site":"s"}],
        "racks":[{"id":"r1","room":"r"}],
        "hosts":[{"id":"h1","rack":"r1","capacity":{"cpu_cores":256,"memory_bytes":1099511627776}}]}"#;
    let mut workloads = String::from("[");
    for i in 0..n {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            workloads,
            r#"{sep}{{"id":"w{i}","tenant":"t{}","requests":{{"cpu_cores":0.001,"memory_bytes":1048576}},"host":"h1"}}"#,
            i % 7
        );
    }
    workloads.push(']');
    let (t0, steps) = (1_793_606_400_000i64, 41i64);
    let mut m = String::new();
    for k in 0..steps {
        let _ = writeln!(
            m,
            "ipmi_dcmi_power_consumption_watts{{instance=\"h1:9290\"}} {} {}",
            200 + k % 5,
            t0 + 15_000 * k
        );
    }
    for i in 0..n {
        for k in 0..steps {
            let _ = writeln!(
                m,
                "container_cpu_usage_seconds_total{{container=\"main\",instance=\"h1:10250\",pod=\"w{i}\"}} {} {}",
                (k * (1 + i as i64 % 3)) as f64 * 0.01,
                t0 + 15_000 * k
            );
        }
    }
    let readings = (steps * (n as i64 + 1)) as u64;
    let ds = RecordedDataset::from_texts("one-host", inventory, &workloads, m, None)
        .expect("a valid dataset");
    (ds, readings)
}

fn per_host(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay_per_host");
    g.sample_size(10);
    let opts = ReplayOptions::default();
    for n in [1_000, 5_000, 20_000, 50_000] {
        let (ds, readings) = one_host(n);
        g.throughput(Throughput::Elements(readings));
        g.bench_function(format!("kelvin/{n}"), |b| {
            b.iter(|| replay_with(black_box(&ds), &opts).expect("replay"))
        });
        g.bench_function(format!("prometheus_parse/{n}"), |b| {
            b.iter(|| {
                let lines = ds.metrics.lines().map(|l| Ok(l.to_string()));
                prometheus_parse::Scrape::parse(lines).expect("parse")
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let (ds, readings) = dataset();
    println!(
        "replay bench: {} hosts, {} workloads, {readings} readings, {:.1} MiB of text",
        ds.inventory.hosts.len(),
        ds.workloads.len(),
        ds.metrics.len() as f64 / (1 << 20) as f64
    );
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(readings));
    let opts = ReplayOptions::default();
    g.bench_function("kelvin", |b| {
        b.iter(|| replay_with(black_box(&ds), &opts).expect("replay"))
    });
    g.bench_function("prometheus_parse", |b| {
        b.iter(|| {
            let lines = ds.metrics.lines().map(|l| Ok(l.to_string()));
            prometheus_parse::Scrape::parse(lines).expect("parse")
        })
    });
    g.finish();
}

criterion_group!(benches, bench, per_host);
criterion_main!(benches);
