//! Replay throughput end to end: a simulated recording through `kelvin::replay` — Prometheus
//! ingest into the store, alignment, attribution with intervals, inlet hot spots, first-fit
//! placement and the fleet optimizer's recommendation, and the report.
//!
//! - `replay/kelvin`: `replay_with` on a `kelvin-sim` recording of 8 racks × 8 hosts with 160
//!   running workloads, one hour scraped every 15 s (about 69,000 readings).
//! - `replay/prometheus_parse`: the peer, the `prometheus-parse` crate parsing the same text
//!   (syntax only: no store, no attribution), same run.
//!
//! Throughput is readings per second of the whole replay; the ratio compares it with parsing
//! alone.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kelvin::replay::{RecordedDataset, ReplayOptions, replay_with};
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

criterion_group!(benches, bench);
criterion_main!(benches);
