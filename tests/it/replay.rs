//! The edge-small dataset end to end, and the report's text.

use std::path::Path;

use kelvin::replay::{RecordedDataset, replay};

fn dataset() -> RecordedDataset {
    RecordedDataset::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/edge-small"))
        .unwrap()
}

#[test]
fn energy_is_conserved_and_close_to_ground_truth() {
    let r = replay(&dataset()).unwrap();
    assert_eq!(
        r.bill.measured_uj(),
        r.bill.attributed_uj() + r.bill.unattributed_uj()
    );
    assert!(
        r.bill
            .hosts
            .iter()
            .all(|h| h.is_balanced() && h.unmeasured_intervals == 0)
    );
    // Measured energy is close to the simulator's true wall energy (integer DCMI watts, 15 s
    // sampling, 1 % missed scrapes).
    let truth = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/edge-small/hosts_truth.csv"),
    )
    .unwrap();
    let true_j: f64 = truth
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse::<f64>().unwrap())
        .sum();
    let measured_j = r.bill.measured_uj() as f64 / 1e6;
    assert!(
        (measured_j - true_j).abs() / true_j < 0.005,
        "measured {measured_j} J vs true {true_j} J"
    );
    // Same policy on true data: small errors only.
    let errs: Vec<f64> = r
        .workloads
        .iter()
        .map(|w| w.measurement_error().unwrap())
        .collect();
    assert_eq!(errs.len(), 16);
    assert!(errs.iter().all(|e| e.abs() < 0.08), "{errs:?}");
    let weighted: f64 = r
        .workloads
        .iter()
        .map(|w| (w.energy_j() - w.truth.as_ref().unwrap().cpu_share_j.unwrap()).abs())
        .sum::<f64>()
        / r.workloads
            .iter()
            .map(|w| w.truth.as_ref().unwrap().cpu_share_j.unwrap())
            .sum::<f64>();
    assert!(weighted < 0.03, "energy-weighted error {weighted}");
}

#[test]
fn quarantine_is_exact_and_located() {
    let r = replay(&dataset()).unwrap();
    assert_eq!(r.ingest.seen, r.ingest.accepted + r.ingest.quarantined);
    assert_eq!(r.ingest.quarantined, 2);
    let places: Vec<String> = r
        .quarantine_examples
        .values()
        .map(|q| q.place.to_string())
        .collect();
    assert_eq!(places, ["metrics.prom:3133", "metrics.prom:1441"]);
    assert_eq!(r.counter_resets, 1);
}

#[test]
fn placement_of_pending_workloads_is_feasible() {
    let ds = dataset();
    let r = replay(&ds).unwrap();
    assert_eq!(r.plan.assignments.len() + r.plan.unplaced.len(), 5);
    for a in &r.plan.assignments {
        assert!(a.score.cpu_utilization_after <= 1.0 && a.score.memory_utilization_after <= 1.0);
        assert!(
            a.score.marginal_power_w.is_some(),
            "power models were fitted for {}",
            a.host
        );
    }
}

#[test]
fn report_matches_snapshot() {
    let text = replay(&dataset()).unwrap().to_string();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/snapshots/replay_edge_small.txt");
    if std::env::var_os("KELVIN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        text == expected,
        "report changed; review and rerun with KELVIN_UPDATE_SNAPSHOTS=1 to accept.\n--- got ---\n{text}"
    );
}

#[test]
fn broken_datasets_are_typed_errors() {
    let e = RecordedDataset::load("/nonexistent/dataset").unwrap_err();
    assert!(matches!(e, kelvin::Error::Dataset { .. }), "{e}");
    let e = RecordedDataset::from_texts("x", "{", "[]", String::new(), None).unwrap_err();
    assert!(e.to_string().starts_with("inventory.json:"), "{e}");
    let e = RecordedDataset::from_texts(
        "x",
        "{}",
        "[]",
        String::new(),
        Some("workload,host,energy_j\nw1,h1,abc\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ground_truth.csv:2: energy_j is not a number"
    );
    let ds = RecordedDataset::from_texts("x", "{}", "[]", "# nothing\n".into(), None).unwrap();
    assert!(matches!(replay(&ds), Err(kelvin::Error::NoData { .. })));
}
