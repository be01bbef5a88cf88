//! Prometheus text: real node_exporter output.

use kelvin_ingest::{ParseOptions, Reason, RuleSet, prometheus};
use kelvin_model::{SensorKind, Timestamp};

use crate::support::corpus;

#[test]
fn node_exporter_e2e_output_has_no_syntax_errors() {
    let Some(path) = corpus("ingest/node_exporter/e2e-output.txt") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let opts = ParseOptions::default()
        .with_default_timestamp(Timestamp::from_secs(1_700_000_000))
        .with_target_label("instance", "node-a:9100");
    let b = prometheus::parse_str(&text, "e2e-output.txt", &RuleSet::builtin(), &opts);
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    // Real node_exporter output is well-formed: the only reason to quarantine is that Kelvin
    // has no canonical sensor for most of node_exporter's metrics.
    let syntax: Vec<_> = b
        .quarantine
        .iter()
        .filter(|q| q.reason != Reason::UnmappedMetric)
        .collect();
    assert!(
        syntax.is_empty(),
        "unexpected quarantine: {:?}",
        &syntax[..syntax.len().min(5)]
    );
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as u64;
    assert_eq!(b.stats.seen, samples);
    let temps: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.kind == SensorKind::Temperature)
        .collect();
    assert!(
        temps.len() >= 10,
        "hwmon and thermal-zone temperatures are mapped"
    );
    let core = temps
        .iter()
        .find(|r| r.sensor == "platform_coretemp_0/temp1")
        .expect("coretemp sensor present");
    assert_eq!((core.entity.as_str(), core.value), ("node-a", 55.0));
    assert!(temps.iter().all(|r| (-60.0..200.0).contains(&r.value)));
    let rapl: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.kind == SensorKind::Energy)
        .collect();
    assert!(!rapl.is_empty(), "RAPL counters are mapped");
    assert!(
        rapl.iter()
            .all(|r| r.sensor.starts_with("rapl/") && r.value >= 0.0)
    );
}
