//! The edge-small dataset end to end, and the report's text.

use std::path::Path;

use kelvin::attribution::Account;
use kelvin::{Batch, Engine, LedgerOptions, Policy};
use kelvin_replay::{RecordedDataset, WorkloadLine, replay};

fn dataset() -> RecordedDataset {
    RecordedDataset::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/edge-small"))
        .unwrap()
}

#[test]
fn energy_is_conserved_and_close_to_ground_truth() {
    let r = replay(&dataset()).unwrap();
    assert_eq!(r.bill.policy, "two_part_tariff");
    assert_eq!(
        r.bill.measured_uj(),
        r.bill.attributed_uj() + r.bill.unattributed_uj()
    );
    assert!(
        r.bill
            .meters
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
    // The report's policy, the two-part tariff, against the same policy on the true data: the
    // calibrated idle floor dominates the error (no host here ever idles, so each floor is a
    // model's intercept; docs/attribution.md).
    let errs: Vec<f64> = r
        .workloads
        .iter()
        .map(|w| w.measurement_error().unwrap())
        .collect();
    assert_eq!(errs.len(), 16);
    assert!(errs.iter().all(|e| e.abs() < 0.7), "{errs:?}");
    let weighted = weighted_error(&r.workloads, |w| w.truth.as_ref().unwrap().energy_j);
    assert!(weighted < 0.10, "energy-weighted error {weighted}");
    // The unreserved floor is billed to nobody, and only the floor: nothing is unexplained.
    let idle = r.bill.account_total_uj(Account::Idle);
    assert_eq!(idle, r.bill.unattributed_uj());
    assert!(idle > r.bill.measured_uj() / 4, "{idle}");
}

/// The same data under Kelvin 0.1's policy, CPU share, needs no floor: against the same policy
/// on the true data only measurement costs anything (the report's figures before the tariff
/// became the default).
#[test]
fn cpu_share_is_close_to_its_own_truth() {
    let ds = dataset();
    let mut engine = Engine::builder()
        .inventory(ds.inventory.clone())
        .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
        .build()
        .unwrap();
    engine
        .ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))
        .unwrap();
    let span = engine.data_span().unwrap();
    let bill = engine
        .attribute_with(
            span,
            &LedgerOptions::default().with_policy(Policy::CpuShare),
        )
        .unwrap();
    assert_eq!(bill.unattributed_uj(), 0, "every interval has CPU use");
    let truth: std::collections::HashMap<&str, f64> = ds
        .truth
        .iter()
        .map(|t| (t.workload.as_str(), t.cpu_share_j.unwrap()))
        .collect();
    let (mut abs_err, mut total) = (0.0, 0.0);
    for (_, line) in bill.lines() {
        let t = truth[bill.workload_of(line).as_str()];
        let e = (line.energy.uj as f64 / 1e6 - t) / t;
        assert!(e.abs() < 0.08, "{}: {e}", bill.workload_of(line));
        abs_err += (e * t).abs();
        total += t;
    }
    assert!(
        abs_err / total < 0.03,
        "energy-weighted error {}",
        abs_err / total
    );
}

/// Σ |error| · truth / Σ truth over the workloads.
fn weighted_error(lines: &[WorkloadLine], truth: impl Fn(&WorkloadLine) -> f64) -> f64 {
    lines
        .iter()
        .map(|w| (w.energy_j() - truth(w)).abs())
        .sum::<f64>()
        / lines.iter().map(truth).sum::<f64>()
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

fn check_snapshot(text: &str, name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(name);
    if std::env::var_os("KELVIN_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, text).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        text == expected,
        "{name}: report changed; review and rerun with KELVIN_UPDATE_SNAPSHOTS=1 to accept.\n--- got ---\n{text}"
    );
}

#[test]
fn report_matches_snapshot() {
    check_snapshot(
        &replay(&dataset()).unwrap().to_string(),
        "replay_edge_small.txt",
    );
}

/// The JSON report, every key and figure as the example writes it (`--json FILE`), with a grid
/// intensity so that the carbon figures are numbers.
#[test]
fn json_matches_snapshot() {
    use kelvin_replay::{ReplayOptions, replay_with};
    let opts = ReplayOptions::default().with_carbon_g_per_kwh(Some(412.5));
    let r = replay_with(&dataset(), &opts).unwrap();
    check_snapshot(&format!("{:#}\n", r.to_json()), "replay_edge_small.json");
}

/// The two room datasets, streamed from disk with their vendor captures: golden reports, and
/// every record accepted but the faults the simulator injected.
#[test]
fn room_datasets_replay_to_their_snapshots() {
    for (dir, snapshot, quarantined) in [
        ("enterprise-room", "replay_enterprise_room.txt", 5),
        ("gpu-cluster", "replay_gpu_cluster.txt", 2),
    ] {
        let ds = RecordedDataset::open(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("datasets")
                .join(dir),
        )
        .unwrap();
        assert!(!ds.captures.is_empty(), "{dir} has captures");
        let r = replay(&ds).unwrap();
        assert_eq!(
            r.ingest.quarantined, quarantined,
            "{dir}: {:?}",
            r.ingest.by_reason
        );
        assert_eq!(
            r.bill.measured_uj(),
            r.bill.attributed_uj() + r.bill.unattributed_uj(),
            "{dir}"
        );
        // The overhead comes from the dataset's facility series, not the assumed PUE.
        assert!(r.facility.pue_measured, "{dir}");
        assert!(
            r.facility.pue > 1.1 && r.facility.pue < 1.5,
            "{dir}: {}",
            r.facility.pue
        );
        check_snapshot(&r.to_string(), snapshot);
    }
}

#[test]
fn broken_datasets_are_typed_errors() {
    let e = kelvin::Error::from(RecordedDataset::load("/nonexistent/dataset").unwrap_err());
    assert!(matches!(e, kelvin::Error::Dataset { .. }), "{e}");
    let e = RecordedDataset::from_texts("x", "{", "[]", String::new(), None).unwrap_err();
    assert!(e.to_string().starts_with("inventory.json:"), "{e}");
    const ONE_HOST: &str = r#"{"sites":[{"id":"s"}],"rooms":[{"id":"r","site":"s"}],
        "racks":[{"id":"r1","room":"r"}],
        "hosts":[{"id":"h1","rack":"r1","capacity":{"cpu_cores":8,"memory_bytes":1}}]}"#;
    let e = RecordedDataset::from_texts(
        "x",
        ONE_HOST,
        "[]",
        String::new(),
        Some("workload,host,energy_j\nw1,h1,abc\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ground_truth.csv:2: energy_j \"abc\" is not a number"
    );
    let ds = RecordedDataset::from_texts("x", ONE_HOST, "[]", "# nothing\n".into(), None).unwrap();
    assert!(matches!(replay(&ds), Err(kelvin::Error::NoData { .. })));
}

/// The report's new parts on edge-small: intervals that contain the estimate (and mostly the
/// truth), groups that add up to the bill, facility arithmetic, hot spots from the inlet
/// sensors, a recommendation that saves power without going below the bound, and JSON that
/// carries the same figures.
#[test]
fn groups_facility_thermal_and_recommendation_hold_together() {
    use kelvin_replay::{ReplayOptions, replay_with};
    let opts = ReplayOptions::default().with_carbon_g_per_kwh(Some(300.0));
    let r = replay_with(&dataset(), &opts).unwrap();
    let mut covered = 0;
    for w in &r.workloads {
        assert!(
            w.lo_uj <= w.energy_uj && w.energy_uj <= w.hi_uj,
            "{}",
            w.workload
        );
        assert_eq!(w.static_uj + w.dynamic_uj, w.energy_uj);
        let t = w.truth.as_ref().unwrap().energy_j * 1e6;
        if (w.lo_uj as f64) <= t && t <= w.hi_uj as f64 {
            covered += 1;
        }
    }
    println!("95 % intervals cover the same-policy truth for {covered}/16 workloads");
    // The intervals carry the meters' ±2 % and the floor's spread, not the bias of a floor
    // extrapolated on hosts that never idle (docs/attribution.md): most truths fall outside.
    const COVERED: usize = 6;
    assert!(covered >= COVERED, "{covered}/16");
    let attributed = r.bill.attributed_uj();
    assert_eq!(
        r.tenants.iter().map(|g| g.energy_uj).sum::<u128>(),
        attributed
    );
    assert_eq!(
        r.racks.iter().map(|g| g.energy_uj).sum::<u128>(),
        attributed
    );
    let it_j = r.bill.measured_uj() as f64 / 1e6;
    assert!(
        !r.facility.pue_measured,
        "edge-small has no facility series"
    );
    assert!((r.facility.overhead_j - it_j * 0.58).abs() < 1e-6);
    let carbon = r.facility.carbon_g.unwrap();
    assert!((carbon - it_j * 1.58 / 3.6e6 * 300.0).abs() < 1e-6);
    assert_eq!(r.hot_spots.len(), 6, "every host has an inlet sensor");
    assert!(r.hot_spots.windows(2).all(|w| w[0].max_c >= w[1].max_c));
    assert!(
        r.hot_spots
            .iter()
            .all(|h| h.mean_c <= h.max_c && h.max_c < r.redline_c)
    );
    let rec = r.recommendation.as_ref().unwrap();
    assert!(rec.saving_w() > 0.0 && rec.after_w >= rec.bound_w);
    assert_eq!(rec.unplaced, 0);
    assert_eq!(
        rec.moves.iter().filter(|m| m.from.is_none()).count(),
        r.pending.len()
    );
    assert_eq!(r.series.workload_w.len(), 16);
    assert_eq!(r.series.rack_inlet_c.len(), 2);

    let json = r.to_json();
    assert_eq!(json["balance"]["conserved"], true);
    assert_eq!(json["policy"]["name"], "two_part_tariff");
    assert_eq!(
        json["balance"]["idle_j"].as_f64().unwrap(),
        r.bill.account_total_uj(Account::Idle) as f64 / 1e6
    );
    assert_eq!(json["workloads"].as_array().unwrap().len(), 16);
    assert_eq!(json["ingest"]["by_reason"]["bad_value"]["count"], 1);
    assert_eq!(
        json["ingest"]["by_reason"]["bad_value"]["example_place"],
        "metrics.prom:1441"
    );
    assert!((json["recommendation"]["saving_w"].as_f64().unwrap() - rec.saving_w()).abs() < 1e-9);
    assert!((json["facility"]["carbon_g"].as_f64().unwrap() - carbon).abs() < 1e-9);
}
