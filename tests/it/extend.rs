//! The `extend` example, run in process: its decoder, attribution policy and objective term,
//! written outside Kelvin's crates, each run through the `Engine` and each changing what the
//! engine produces.

use kelvin::Ledger;
use kelvin::ingest::Reason;

#[path = "../../examples/extend.rs"]
#[allow(dead_code)] // the example's `main`
mod example;

/// A workload's total in a ledger, µJ.
fn uj(l: &Ledger, w: &str) -> u128 {
    let k = l.workloads.iter().position(|x| x.as_str() == w).unwrap();
    l.workload_totals_uj()[k]
}

#[test]
fn the_extend_example_runs_its_decoder_policy_and_term_through_the_engine() {
    let o = example::run().unwrap();
    let text = o.report.join("\n");
    println!("{text}");

    // The decoder: without it no PDU reading would be accepted (the built-in decoders detect
    // nothing in a capture). Rack r1's 40 captures by name, two outlets each, one reading
    // `ERR`; r2's and r3's by detection, one cut mid-line and r3's 40 of the spare server
    // the inventory lacks.
    assert!(text.contains("detected as nut_upsc (by the built-in decoders alone: nothing)"));
    let [by_name, by_detection] = &o.ingest;
    assert_eq!((by_name.accepted, by_name.quarantined), (79, 1));
    assert_eq!(by_name.by_reason.get(&Reason::BadValue), Some(&1));
    assert_eq!((by_detection.accepted, by_detection.quarantined), (159, 41));
    assert_eq!(by_detection.by_reason.get(&Reason::BadField), Some(&1));
    assert_eq!(
        by_detection.by_reason.get(&Reason::UnknownEntity),
        Some(&40)
    );
    assert!(text.contains("by name (r1)           accepted  79  quarantined  1"));
    assert!(text.contains("by detection (r2, r3)  accepted 159  quarantined 41"));
    assert!(text.contains("bad_value (\"ERR\" is not watts)"));

    // The policy: the same measured energy, conserved under both, split otherwise. On h1, web
    // reserves 8 cores and uses about 1, etl reserves 2 and uses up to 8: by reservation alone
    // web pays four times etl (± rounding), more than under the tariff, and etl less.
    let [tariff, reserved] = &o.ledgers;
    assert_eq!(
        (tariff.policy.as_str(), reserved.policy.as_str()),
        ("two_part_tariff", "reserved_only")
    );
    for l in [tariff, reserved] {
        assert!(l.is_balanced());
        assert_eq!(l.measured_uj(), l.attributed_uj() + l.unattributed_uj());
        assert_eq!(l.measured_uj(), tariff.measured_uj());
    }
    assert_eq!(text.matches(": conserved").count(), 2);
    let ratio = uj(reserved, "web") as f64 / uj(reserved, "etl") as f64;
    assert!((ratio - 4.0).abs() < 1e-6, "web / etl = {ratio}");
    assert!(uj(reserved, "web") as f64 > 1.1 * uj(tariff, "web") as f64);
    assert!((uj(reserved, "etl") as f64) < 0.9 * uj(tariff, "etl") as f64);

    // The objective term: the default objective puts the replicas together (all three in the
    // lean rack r1); with the term they take a rack each, every one placed.
    let [plain, spread] = o.spread_w;
    assert!(plain >= 250.0, "default: {plain} W of spread penalty");
    assert_eq!(spread, 0.0);
    assert!(!text.contains("unplaced"));
    assert!(text.contains(&format!("term {plain} W")) && text.contains("term 0 W"));
}
