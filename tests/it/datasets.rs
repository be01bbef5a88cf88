//! Committed datasets are what the simulator makes: regenerating one gives the same bytes.

use std::path::Path;

#[test]
fn edge_small_is_reproducible_from_its_seed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/edge-small");
    let ds = kelvin_sim::simulate(
        &kelvin_sim::SimConfig::edge()
            .with_seed(7)
            .with_duration_s(3600),
    )
    .unwrap();
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert!(
        read("metrics.prom") == ds.metrics,
        "metrics.prom differs from a fresh simulation: regenerate it (see its README)"
    );
    assert_eq!(read("ground_truth.csv"), ds.truth_csv());
    assert_eq!(read("hosts_truth.csv"), ds.host_truth_csv());
    assert_eq!(read("README.md"), ds.readme());
}

#[test]
fn simulated_text_is_accepted_except_the_injected_faults() {
    use kelvin::ingest::{ParseOptions, Reason, RuleSet, prometheus};
    for corrupt in [0, 2] {
        let cfg = kelvin_sim::SimConfig::edge()
            .with_seed(11)
            .with_duration_s(600)
            .with_corrupt_lines(corrupt);
        let ds = kelvin_sim::simulate(&cfg).unwrap();
        let b = prometheus::parse_str(
            &ds.metrics,
            "m",
            &RuleSet::builtin(),
            &ParseOptions::default(),
        );
        assert_eq!(b.stats.quarantined as usize, corrupt, "{:?}", b.quarantine);
        if corrupt == 2 {
            assert_eq!(b.stats.by_reason.get(&Reason::BadValue), Some(&1));
            assert_eq!(b.stats.by_reason.get(&Reason::BadLabels), Some(&1));
        }
    }
}
