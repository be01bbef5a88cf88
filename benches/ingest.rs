#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Ingestion throughput: Kelvin's Prometheus text decoder against the `prometheus-parse`
//! crate, on the same text in the same run.
//!
//! Inputs: a simulated one-hour edge recording (generated here by `kelvin-sim`, clean of
//! corrupt lines so the peer accepts it) and, when `../shared` is beside the project, the real
//! node_exporter output of its corpus.
//!
//! Four measurements per input:
//! - `kelvin/syntax`: line parsing only (name, labels, value, timestamp), the same work the
//!   peer does;
//! - `kelvin/ingest`: parsing plus mapping to canonical readings (rules, entity ids, units,
//!   quarantine bookkeeping), a source's first scrape (fresh series cache);
//! - `kelvin/ingest-steady`: the same with the series cache of an earlier scrape of the
//!   source and the format from the content type, as a live engine decodes every scrape
//!   after the first;
//! - `prometheus-parse`: the peer's `Scrape::parse`.
//!
//! Then, without a peer (none exists as a Rust crate), Kelvin's decoders on vendor captures from
//! `../shared/corpus`: `ipmitool sensor` text and Redfish JSON (legacy Thermal and Power).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kelvin::ingest::{Format, ParseOptions, RuleSet, prometheus};
use kelvin_model::Timestamp;

fn inputs() -> Vec<(String, String)> {
    let sim = kelvin_sim::simulate(&kelvin_sim::SimConfig::edge().with_corrupt_lines(0))
        .expect("the edge preset simulates");
    let mut v = vec![("sim-edge-1h".to_string(), sim.metrics)];
    let real = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/ingest/node_exporter/e2e-output.txt");
    match std::fs::read_to_string(&real) {
        Ok(text) => v.push(("node-exporter-e2e".to_string(), text)),
        Err(_) => eprintln!("SKIP node-exporter-e2e: {} not found", real.display()),
    }
    v
}

fn bench(c: &mut Criterion) {
    let rules = RuleSet::builtin();
    let opts = ParseOptions::default()
        .with_default_timestamp(Timestamp::from_secs(1_793_606_400))
        .with_target_label("instance", "node-a:9100");
    for (name, text) in inputs() {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count() as u64;
        let mut g = c.benchmark_group(format!("prometheus_text/{name}"));
        g.throughput(Throughput::Elements(samples));
        g.bench_function("kelvin/syntax", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for line in text.lines() {
                    if let Ok(prometheus::Line::Sample(s)) = prometheus::parse_line(line, 64) {
                        n += s.labels.len();
                    }
                }
                black_box(n)
            })
        });
        g.bench_function("kelvin/ingest", |b| {
            b.iter(|| {
                black_box(
                    prometheus::parse_str(&text, "bench", &rules, &opts)
                        .stats
                        .accepted,
                )
            })
        });
        // A live source's steady state: the engine keeps a series cache per source
        // (`Admission`), so from its second scrape on, mapped series are resolved and unmapped
        // families counted by name; the scraper knows the format from the content type
        // (`text/plain; version=0.0.4`), so nothing waits for the exposition's last line.
        let steady = opts.clone().with_format(prometheus::Exposition::Text004);
        let mut cache = prometheus::SeriesCache::default();
        prometheus::parse_str_cached(&text, "bench", &rules, &steady, &mut cache);
        g.bench_function("kelvin/ingest-steady", |b| {
            b.iter(|| {
                black_box(
                    prometheus::parse_str_cached(&text, "bench", &rules, &steady, &mut cache)
                        .stats
                        .accepted,
                )
            })
        });
        g.bench_function("prometheus-parse", |b| {
            b.iter(|| {
                let lines = text.lines().map(|l| Ok(l.to_owned()));
                let scrape = prometheus_parse::Scrape::parse(lines).expect("peer parses the text");
                black_box(scrape.samples.len())
            })
        });
        g.finish();
    }
}

fn vendor(c: &mut Criterion) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ingest");
    let normalizer = kelvin::ingest::Normalizer::builtin();
    let cases = [
        (
            "ipmitool-sensor-supermicro",
            Format::IpmitoolSensor,
            "ipmitool/supermicro_x9_sensor_list.txt",
        ),
        (
            "redfish-thermal-rackmount",
            Format::Redfish,
            "redfish_dmtf/public-rackmount1/Chassis/1U/Thermal/index.json",
        ),
        (
            "redfish-power-rackmount",
            Format::Redfish,
            "redfish_dmtf/public-rackmount1/Chassis/1U/Power/index.json",
        ),
    ];
    for (name, format, rel) in cases {
        let Ok(text) = std::fs::read_to_string(corpus.join(rel)) else {
            eprintln!("SKIP {name}: {rel} not found under {}", corpus.display());
            continue;
        };
        let ctx = kelvin::ingest::Context::new(name, &normalizer)
            .with_default_timestamp(Timestamp::from_secs(1_793_606_400));
        let decoder = kelvin::ingest::decoder(format).expect("decoder exists");
        let mut probe = kelvin::ingest::IngestBatch::default();
        decoder.decode(&text, &ctx, &mut probe);
        let mut g = c.benchmark_group(format!("vendor/{name}"));
        g.throughput(Throughput::Elements(probe.stats.seen));
        g.bench_function("kelvin/ingest", |b| {
            b.iter(|| {
                let mut out = kelvin::ingest::IngestBatch::default();
                decoder.decode(&text, &ctx, &mut out);
                black_box(out.stats.accepted)
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench, vendor
}
criterion_main!(benches);
