//! The load-watcher document and the PEAKS models over the project's recorded datasets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kelvin::dataset::RecordedDataset;
use kelvin::model::{EntityId, TimeRange, Timestamp};
use kelvin::{Batch, Engine};
use serde_json::Value;

use super::*;
use crate::scheduler::peaks::{parse_peaks_json, peaks_json, peaks_models};

const NOW: i64 = 1_900_000_000;

fn dataset(name: &str) -> RecordedDataset {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
    RecordedDataset::load(dir.join(name)).unwrap()
}

/// An engine over the dataset's inventory and running workloads, fed `metrics`.
fn engine_with(ds: &RecordedDataset, metrics: &str) -> Engine {
    let mut engine = Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
        .build()
        .unwrap();
    engine
        .ingest(Batch::prometheus("metrics.prom", metrics.to_string()))
        .unwrap();
    engine
}

/// The exposition text with only the samples of its last `keep_s` seconds (timestamps are
/// the last field of a sample line, in milliseconds).
fn last_seconds(metrics: &str, keep_s: i64) -> String {
    let ts = |line: &str| line.rsplit(' ').next()?.parse::<i64>().ok();
    let last = metrics.lines().filter_map(ts).max().unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with('#') || ts(l).is_some_and(|t| t >= last - keep_s * 1000))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Per host, the utilization of each interval of the `window_s` before the data's end, in
/// percent, computed here from the aligned input: `None` where a workload's CPU is unknown.
fn utilization_by_hand(engine: &Engine, window_s: i64) -> BTreeMap<String, Vec<Option<f64>>> {
    let end = engine.data_span().unwrap().end();
    let window = TimeRange::try_new(end.add_nanos(-window_s * 1_000_000_000), end).unwrap();
    let aligned = engine.aligned(window).unwrap();
    let interval_s = aligned.input.interval_ns as f64 / 1e9;
    aligned
        .input
        .hosts
        .iter()
        .map(|h| {
            let per_interval = (0..h.energy_j.len())
                .map(|i| {
                    let mut busy_s = 0.0;
                    for w in &h.workloads {
                        if !w.cpu_s[i].is_finite() {
                            return None;
                        }
                        busy_s += w.cpu_s[i];
                    }
                    Some(100.0 * busy_s / (interval_s * h.cores))
                })
                .collect();
            (h.host.to_string(), per_interval)
        })
        .collect()
}

fn value(node: &NodeMetrics, operator: &str) -> f64 {
    let found: Vec<&Metric> = node
        .metrics
        .iter()
        .filter(|m| m.operator == operator)
        .collect();
    assert_eq!(found.len(), 1, "{operator} in {node:?}");
    found[0].value
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn every_host_gets_its_measured_cpu_over_fifteen_minutes() {
    let ds = dataset("edge-small");
    let engine = engine_with(&ds, &ds.metrics);
    let doc = watcher_document(&engine, NOW).unwrap();
    let end_s = engine.data_span().unwrap().end().as_nanos() / Timestamp::NANOS_PER_SEC;
    assert_eq!(doc.timestamp, NOW);
    assert_eq!(
        doc.window,
        Window {
            duration: "15m".into(),
            start: end_s - 900,
            end: end_s
        }
    );
    assert_eq!(doc.source, "Kelvin");
    let hosts: BTreeSet<String> = ds
        .inventory
        .hosts
        .iter()
        .map(|h| h.id.to_string())
        .collect();
    let nodes: BTreeSet<String> = doc.data.node_metrics_map.keys().cloned().collect();
    assert_eq!(nodes, hosts);

    let by_hand = utilization_by_hand(&engine, 900);
    let (mut busy, mut varying) = (0, 0);
    for (name, node) in &doc.data.node_metrics_map {
        assert_eq!(node.metadata.data_center, "edge-site");
        let shape: Vec<(&str, &str, &str, &str)> = node
            .metrics
            .iter()
            .map(|m| (&*m.name, &*m.kind, &*m.operator, &*m.rollup))
            .collect();
        assert_eq!(
            shape,
            [
                (CPU_METRIC, "CPU", "AVG", "15m"),
                (CPU_METRIC, "CPU", "STD", "15m"),
                (CPU_METRIC, "CPU", "Latest", "1m"),
            ]
        );
        let (avg, std, latest) = (value(node, AVERAGE), value(node, STD), value(node, LATEST));
        assert!((0.0..=100.0).contains(&avg), "{name}: AVG {avg}");
        assert!(std >= 0.0, "{name}: STD {std}");
        let known: Vec<f64> = by_hand[name].iter().flatten().copied().collect();
        assert!(known.len() >= 14, "{name}: {} of 15 intervals", known.len());
        assert!(close(latest, *known.last().unwrap()), "{name}: {latest}");
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        assert!(close(avg, mean), "{name}: AVG {avg}, by hand {mean}");
        busy += usize::from(avg > 0.1);
        varying += usize::from(std > 0.1);
    }
    // The numbers are measured ones, not zeros: every host is busy (the least, a 112-core
    // host, at 0.76 %) and most vary.
    assert_eq!(busy, hosts.len());
    assert!(
        varying * 2 > hosts.len(),
        "{varying} of {} vary",
        hosts.len()
    );
}

/// Per host, the simulator's true CPU utilization over the whole run (`ground_truth.csv`: each
/// workload's true CPU seconds), in percent.
fn true_utilization(ds: &RecordedDataset, run_s: f64) -> BTreeMap<String, f64> {
    let dir = ds.dir.as_ref().unwrap();
    let text = std::fs::read_to_string(dir.join("ground_truth.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (host, cpu_s) = (column("host"), column("cpu_s"));
    let mut busy_s: BTreeMap<String, f64> = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        *busy_s.entry(fields[host].to_string()).or_default() +=
            fields[cpu_s].parse::<f64>().unwrap();
    }
    ds.inventory
        .hosts
        .iter()
        .map(|h| {
            let id = h.id.to_string();
            let pct =
                100.0 * busy_s.get(&id).copied().unwrap_or(0.0) / (run_s * h.capacity.cpu_cores);
            (id, pct)
        })
        .collect()
}

/// Over the whole hour, the average is the simulator's true utilization, to within what the
/// scrapes lose (the restarted container's edge-r1-h1 is 0.1 % under, the others agree to
/// within 1e-6).
#[test]
fn the_hour_average_is_the_true_utilization() {
    let ds = dataset("edge-small");
    let engine = engine_with(&ds, &ds.metrics);
    let hour = watcher_metrics(&engine, 3600).unwrap();
    assert_eq!(hour.window.duration, "1h");
    let truth = true_utilization(&ds, 3600.0);
    for (host, node) in &hour.data.node_metrics_map {
        let (avg, want) = (value(node, AVERAGE), truth[host]);
        assert!(
            (avg - want).abs() <= 0.005 * want + 1e-3,
            "{host}: AVG {avg} %, true {want} %"
        );
    }
}

#[test]
fn the_other_datasets_list_every_host_within_range() {
    for name in ["enterprise-room", "gpu-cluster"] {
        let ds = dataset(name);
        let engine = engine_with(&ds, &ds.metrics);
        let doc = watcher_document(&engine, NOW).unwrap();
        assert_eq!(doc.window.duration, "15m", "{name}");
        assert_eq!(doc.data.node_metrics_map.len(), ds.inventory.hosts.len());
        for (host, node) in &doc.data.node_metrics_map {
            assert_eq!(node.metrics.len(), 3, "{name} {host}");
            let avg = value(node, AVERAGE);
            assert!((0.0..=100.0).contains(&avg), "{name} {host}: AVG {avg}");
            assert!(value(node, STD) >= 0.0);
            let latest = value(node, LATEST);
            assert!((0.0..=100.0).contains(&latest), "{name} {host}: {latest}");
        }
    }
}

/// Replaces every leaf by its JSON type, a list by its one element shape and the node map by
/// one `<node>` entry, requiring every element and node to have the same shape.
fn skeleton(v: &Value, in_node_map: bool) -> Value {
    match v {
        Value::Object(map) if in_node_map => {
            let shapes: BTreeSet<String> = map
                .values()
                .map(|n| skeleton(n, false).to_string())
                .collect();
            assert!(shapes.len() <= 1, "nodes differ in shape: {shapes:?}");
            let node = map
                .values()
                .next()
                .map_or(Value::Null, |n| skeleton(n, false));
            Value::Object([("<node>".to_string(), node)].into_iter().collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), skeleton(v, k == "NodeMetricsMap")))
                .collect(),
        ),
        Value::Array(items) => {
            let shapes: BTreeSet<String> = items
                .iter()
                .map(|i| skeleton(i, false).to_string())
                .collect();
            assert!(shapes.len() <= 1, "elements differ in shape: {shapes:?}");
            Value::Array(
                items
                    .first()
                    .map(|i| skeleton(i, false))
                    .into_iter()
                    .collect(),
            )
        }
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

fn golden() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/watcher/watcher-metrics.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_golden_document_reads_and_writes_back_unchanged() {
    let golden = golden();
    let doc: WatcherMetrics = serde_json::from_value(golden.clone()).unwrap();
    assert_eq!(doc.data.node_metrics_map.len(), 3);
    assert_eq!(
        doc.data.node_metrics_map["node-a"].metadata.data_center,
        "site-1"
    );
    assert!(doc.data.node_metrics_map["node-c"].metrics.is_empty());
    assert_eq!(serde_json::to_value(&doc).unwrap(), golden);
    // Keys load-watcher's decoder skips are skipped here too.
    let mut extra = golden;
    extra["data"]["NodeMetricsMap"]["node-b"]["tags"] = serde_json::json!({"pool": "batch"});
    extra["data"]["NodeMetricsMap"]["node-b"]["metadata"]["pool"] = "batch".into();
    let read: WatcherMetrics = serde_json::from_value(extra).unwrap();
    assert_eq!(read, doc);
}

#[test]
fn kelvins_document_has_the_golden_shape_and_round_trips() {
    let ds = dataset("edge-small");
    let engine = engine_with(&ds, &ds.metrics);
    let doc = watcher_document(&engine, NOW).unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    let ours: Value = serde_json::from_str(&text).unwrap();
    let mut reference = golden();
    // The golden file's node-b is the Prometheus provider's, node-c has no metrics: the shape
    // of a Kelvin node is node-a's.
    for node in ["node-b", "node-c"] {
        reference["data"]["NodeMetricsMap"]
            .as_object_mut()
            .unwrap()
            .remove(node);
    }
    assert_eq!(skeleton(&ours, false), skeleton(&reference, false));
    // Field order as load-watcher writes it.
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keys(&ours), keys(&reference));
    assert!(text.starts_with(r#"{"timestamp":1900000000,"window":{"duration":"15m","start":"#));
    let back: WatcherMetrics = serde_json::from_str(&text).unwrap();
    assert_eq!(back, doc);

    let host = ds.inventory.hosts[2].id.to_string();
    let one = doc.for_host(&host).unwrap();
    assert_eq!(
        one.data.node_metrics_map.keys().collect::<Vec<_>>(),
        [&host]
    );
    assert_eq!(
        one.data.node_metrics_map[&host],
        doc.data.node_metrics_map[&host]
    );
    assert_eq!(
        (one.timestamp, &one.window, &one.source),
        (doc.timestamp, &doc.window, &doc.source)
    );
    assert!(doc.for_host("no-such-node").is_none());
    assert!(doc.for_host("").is_none());
}

#[test]
fn shorter_data_falls_back_to_ten_then_five_minutes() {
    let ds = dataset("edge-small");
    let whole = watcher_document(&engine_with(&ds, &ds.metrics), NOW).unwrap();
    // The dataset spans an hour: cut to its last 12, 7 and 3 minutes.
    for (keep_s, duration, window_s) in [(720, "10m", 600), (420, "5m", 300), (180, "5m", 300)] {
        let engine = engine_with(&ds, &last_seconds(&ds.metrics, keep_s));
        let span = engine.data_span().unwrap();
        assert_eq!(span.len_nanos(), keep_s * 1_000_000_000);
        let doc = watcher_document(&engine, NOW).unwrap();
        assert_eq!(doc.window.duration, duration, "{keep_s} s of data");
        assert_eq!(doc.window.end - doc.window.start, window_s);
        assert_eq!(doc.window.end, whole.window.end);
        assert_eq!(doc.data.node_metrics_map.len(), ds.inventory.hosts.len());
        for (host, node) in &doc.data.node_metrics_map {
            assert_eq!(node.metrics[2].rollup, "1m");
            assert!(node.metrics.iter().all(|m| m.rollup != "15m"));
            // The last interval reads the same samples whatever came before it.
            let latest = value(node, LATEST);
            let whole_latest = value(&whole.data.node_metrics_map[host], LATEST);
            assert!(
                close(latest, whole_latest),
                "{host}: {latest} vs {whole_latest}"
            );
        }
    }
    // Less than one interval of data: nothing to serve.
    let engine = engine_with(&ds, &last_seconds(&ds.metrics, 30));
    assert!(engine.data_span().is_some());
    assert!(watcher_document(&engine, NOW).is_none());
    let empty = Engine::builder()
        .inventory(ds.inventory.clone())
        .build()
        .unwrap();
    assert!(watcher_document(&empty, NOW).is_none());
}

#[test]
fn windows_off_the_interval_grid_keep_the_latest_interval() {
    let ds = dataset("edge-small");
    let engine = engine_with(&ds, &ds.metrics);
    assert!(watcher_metrics(&engine, 0).is_none());
    assert!(watcher_metrics(&engine, -60).is_none());
    let fifteen = watcher_metrics(&engine, 900).unwrap();
    assert_eq!(fifteen.timestamp, fifteen.window.end);
    // 90 s is one whole 60 s interval, the last one: its mean is its latest value.
    let short = watcher_metrics(&engine, 90).unwrap();
    assert_eq!(short.window.duration, "90s");
    assert_eq!(short.window.end - short.window.start, 90);
    for (host, node) in &short.data.node_metrics_map {
        let latest = value(node, LATEST);
        assert!(close(value(node, AVERAGE), latest), "{host}");
        assert_eq!(value(node, STD), 0.0, "{host}");
        assert!(close(
            latest,
            value(&fifteen.data.node_metrics_map[host], LATEST)
        ));
    }
    // Longer than the data: over all of it, named as asked.
    let long = watcher_metrics(&engine, 7200).unwrap();
    assert_eq!(long.window.duration, "2h");
    assert_eq!(long.window.end - long.window.start, 7200);
    let all = utilization_by_hand(&engine, 3600);
    for (host, node) in &long.data.node_metrics_map {
        let known: Vec<f64> = all[host].iter().flatten().copied().collect();
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        let var = known.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / known.len() as f64;
        assert!(close(value(node, AVERAGE), mean), "{host}");
        assert!(close(value(node, STD), var.sqrt()), "{host}");
    }
}

#[test]
fn durations_are_spelled_as_load_watcher_names_them() {
    let cases = [
        (900, "15m"),
        (600, "10m"),
        (300, "5m"),
        (3600, "1h"),
        (5400, "90m"),
    ];
    for (seconds, text) in cases {
        assert_eq!(duration_text(seconds), text);
    }
    assert_eq!(duration_text(90), "90s");
    assert_eq!(duration_text(15), "15s");
}

#[test]
fn a_host_without_workloads_is_idle_not_minus_zero() {
    let host = HostSeries {
        host: EntityId::new("n1").unwrap(),
        cores: 4.0,
        energy_j: vec![1200.0, 1200.0],
        meter_rel_sigma: 0.0,
        workloads: Vec::new(),
        system_cpu_s: None,
    };
    let pct = utilization_pct(&host, 5.0);
    assert_eq!(pct, [Some(0.0), Some(0.0)]);
    assert!(pct.iter().flatten().all(|p| p.is_sign_positive()));
}

#[test]
fn population_statistics_over_known_values() {
    let stats = Stats::of(&[Some(2.0), None, Some(4.0), Some(4.0), Some(4.0), Some(5.0)]);
    let stats = stats.unwrap();
    // 2, 4, 4, 4, 5: mean 3.8, population variance (3.24 + 3 × 0.04 + 1.44) / 5 = 0.96.
    assert!(close(stats.mean, 3.8));
    assert!(close(stats.std, 0.96f64.sqrt()));
    assert_eq!(stats.latest, 5.0);
    let trailing_gap = Stats::of(&[Some(1.0), Some(3.0), None]).unwrap();
    assert_eq!(trailing_gap.latest, 3.0);
    assert!(Stats::of(&[None, None]).is_none());
    assert!(Stats::of(&[]).is_none());
}

#[test]
fn peaks_models_fit_every_curve_and_read_back() {
    let ds = dataset("edge-small");
    let engine = engine_with(&ds, &ds.metrics);
    let curves = engine.power_models().unwrap();
    let fits = peaks_models(&engine);
    let with_curve: BTreeSet<String> = ds
        .inventory
        .hosts
        .iter()
        .filter(|h| curves.curve(&h.id).is_some())
        .map(|h| h.id.to_string())
        .collect();
    assert_eq!(with_curve.len(), ds.inventory.hosts.len());
    assert_eq!(fits.keys().cloned().collect::<BTreeSet<_>>(), with_curve);
    for (host, fit) in &fits {
        let id = kelvin::model::EntityId::new(host.as_str()).unwrap();
        let watts = curves.curve(&id).unwrap().curve.watts;
        assert_eq!(fit.points, 11);
        // The RMS reported is the model's error over the curve's 11 points.
        let sse: f64 = watts
            .iter()
            .enumerate()
            .map(|(k, w)| (fit.model.power_watts(10.0 * k as f64) - w).powi(2))
            .sum();
        assert!(close(fit.rms_watts, (sse / 11.0).sqrt()), "{host}: {fit:?}");
        // A curve rising by tens of watts is followed to within a tenth of its rise.
        let rise = watts[10] - watts[0];
        assert!(rise > 10.0, "{host}: {watts:?}");
        assert!(fit.rms_watts < 0.1 * rise, "{host}: {fit:?} for {watts:?}");
        assert!(fit.model.jump_watts(0.0, 100.0) > 0.0);
    }
    let models: BTreeMap<String, _> = fits.iter().map(|(n, f)| (n.clone(), f.model)).collect();
    assert_eq!(parse_peaks_json(&peaks_json(&models)).unwrap(), models);

    let empty = Engine::builder()
        .inventory(ds.inventory.clone())
        .build()
        .unwrap();
    assert!(peaks_models(&empty).is_empty());
}
