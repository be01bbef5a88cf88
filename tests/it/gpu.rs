//! The real H100 recording in `../shared/recordings` (skipped when it is missing): the
//! `gpu_attribution` CSV balances every phase exactly, and the shared phases are compared
//! with the exclusive runs under every policy (table printed with `--nocapture`, reproduced
//! in docs/attribution.md).

use std::collections::BTreeMap;
use std::path::Path;

use kelvin::Policy;
use kelvin::gpu::{GpuFit, GpuKey, GpuOptions, GpuRecording, share_mae};

const REC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/recordings/gpu-h100-2026-11-26"
);

fn recording(test: &str) -> Option<GpuRecording> {
    if !Path::new(REC).exists() {
        println!("{test}: skipped, {REC} is missing");
        return None;
    }
    Some(GpuRecording::load(REC).expect("the recording loads"))
}

/// Parses `123.456789` into integer microjoules.
fn uj(s: &str) -> u64 {
    let (a, b) = s.split_once('.').expect("six decimals");
    assert_eq!(b.len(), 6, "{s}");
    a.parse::<u64>().unwrap() * 1_000_000 + b.parse::<u64>().unwrap()
}

#[test]
fn csv_balances_every_phase_exactly() {
    let Some(rec) = recording("csv_balances_every_phase_exactly") else {
        return;
    };
    assert_eq!(rec.ingest.quarantined, 0);
    assert_eq!((rec.phases.len(), rec.processes.len()), (15, 12));
    let att = rec.attribute(&GpuOptions::default()).unwrap();
    let csv = att.to_csv();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("phase,account,energy_j,lo_j,hi_j"));
    let mut sums: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut order = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 5, "{l}");
        let (e, lo, hi) = (uj(f[2]), uj(f[3]), uj(f[4]));
        assert!(lo <= e && e <= hi, "{l}");
        *sums.entry(f[0].to_string()).or_default() += e;
        rows.insert((f[0].to_string(), f[1].to_string()), e);
        if order.last() != Some(&f[0].to_string()) {
            order.push(f[0].to_string());
        }
    }
    // Every phase of events.csv, in order, with A, B, C and the three accounts.
    let names: Vec<String> = rec.phases.iter().map(|p| p.name.clone()).collect();
    assert_eq!(order, names);
    assert_eq!(rows.len(), 15 * 6);
    for (phase, sum) in &sums {
        assert_eq!(Some(*sum), att.measured_uj(phase), "phase {phase}");
    }
    for p in &names {
        // The floor is billed to the idle account in every phase.
        assert!(rows[&(p.clone(), "idle".into())] > 0, "{p}");
        assert_eq!(rows[&(p.clone(), "system".into())], 0);
        for w in ["A", "B", "C"] {
            let e = rows[&(p.clone(), w.to_string())];
            if p.starts_with("idle") || !p.contains(w) {
                assert_eq!(e, 0, "{w} in {p}");
            } else {
                assert!(e > 0, "{w} in {p}");
            }
        }
    }
    // The measured total is the energy counter's increase: 110,097 J over the recording
    // (within rounding of the phase grids and the gaps between phases).
    let total: u64 = sums.values().sum();
    assert!((total as f64 / 1e6 - 110_096.9).abs() < 200.0, "{total} µJ");
    // The calibrated floor follows the device: about 72 W cold, higher after load.
    let f = &att.floor.floor_w;
    let lo = f.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = f.iter().copied().fold(0.0, f64::max);
    assert!(
        (70.0..75.0).contains(&lo) && (80.0..100.0).contains(&hi),
        "{lo}..{hi}"
    );
}

#[test]
fn shared_phases_against_exclusive_runs() {
    let Some(rec) = recording("shared_phases_against_exclusive_runs") else {
        return;
    };
    println!("| policy | phase | workload | attributed J | predicted J | error |");
    println!("|---|---|---|---|---|---|");
    let mut summary = Vec::new();
    for p in [
        Policy::TwoPartTariff,
        Policy::ScaphandreLike,
        Policy::KeplerLike,
    ] {
        let att = rec
            .attribute(&GpuOptions::default().with_policy(p))
            .unwrap();
        let checks = att.validate(&rec.work).unwrap();
        assert_eq!(checks.len(), 9);
        let mut agg: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for c in &checks {
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {:+.1} % |",
                p.name(),
                c.phase,
                c.workload,
                c.attributed_j,
                c.predicted_j,
                100.0 * c.error()
            );
            let e = agg.entry(c.workload.clone()).or_default();
            e.0 += c.attributed_j;
            e.1 += c.predicted_j;
        }
        let within = checks.iter().filter(|c| c.error().abs() <= 0.10).count();
        let mean = checks.iter().map(|c| c.error().abs()).sum::<f64>() / checks.len() as f64;
        let aggs: Vec<String> = agg
            .iter()
            .map(|(w, (a, b))| format!("{w} {:+.1} %", 100.0 * (a / b - 1.0)))
            .collect();
        summary.push(format!(
            "| {} | {within}/9 | {:.1} % | {} |",
            p.name(),
            100.0 * mean,
            aggs.join(", ")
        ));
        if p == Policy::TwoPartTariff {
            // Regression guards at what this recording allows (see docs/attribution.md):
            // the compute workload is within 10 % in every shared phase, and every
            // workload's total over the shared phases within 15 %.
            for c in checks.iter().filter(|c| c.workload == "A") {
                assert!(c.error().abs() <= 0.10, "{c:?}");
            }
            for (w, (a, b)) in &agg {
                assert!((a / b - 1.0).abs() <= 0.15, "{w}: {a} vs {b}");
            }
        }
    }
    println!();
    println!(
        "| policy | shared-phase rows within 10 % | mean abs error | over all shared phases |"
    );
    println!("|---|---|---|---|");
    for s in summary {
        println!("{s}");
    }
}

/// Signatures fitted on the solo and idle phases only, the shared phases settled out of
/// sample, side by side with the in-sample fit (figures in docs/attribution.md).
#[test]
fn shared_phases_out_of_sample() {
    let Some(rec) = recording("shared_phases_out_of_sample") else {
        return;
    };
    assert!(rec.sm_clock.is_some(), "the device's SM clock is decoded");
    let mut figures = Vec::new();
    for (fit, key) in [
        (GpuFit::Loaded, GpuKey::SmTime),
        (GpuFit::Exclusive, GpuKey::SmTime),
        (GpuFit::Exclusive, GpuKey::SmCycles),
    ] {
        let opts = GpuOptions::default().with_fit(fit).with_key(key);
        let att = rec.attribute(&opts).unwrap();
        for p in &att.phases {
            assert!(p.ledger.meters[0].is_balanced(), "{fit:?} {}", p.phase);
        }
        let checks = att.validate(&rec.work).unwrap();
        assert_eq!(checks.len(), 9);
        let within = checks.iter().filter(|c| c.error().abs() <= 0.10).count();
        let mae = share_mae(&checks);
        println!("{fit:?} {key:?}: {within}/9 within 10 %, share MAE {mae:.4}");
        for c in &checks {
            println!("  {} {} {:+.1} %", c.phase, c.workload, 100.0 * c.error());
        }
        figures.push((att.model.coef_w.clone(), within, mae));
    }
    // The exclusive fit learns different signatures (it never sees a shared interval) ...
    assert_ne!(figures[0].0, figures[1].0);
    // ... and holds out of sample at least as well as in sample (regression guards at what
    // this recording gives today; the targets, 9/9 and 0.03, are not met).
    let (_, within, mae) = &figures[1];
    assert!(*within >= 6, "{within}/9");
    assert!(*mae <= 0.05, "{mae}");
    assert!(*mae <= figures[0].2, "{mae} vs {}", figures[0].2);
    // Keyed on SM cycles, the compute workload's solo signature (learned power-capped at
    // 1.3 GHz) no longer under-prices it at the 1.9 GHz of AB: the share error drops further.
    let (_, within_cycles, mae_cycles) = &figures[2];
    assert!(*within_cycles >= 6, "{within_cycles}/9");
    assert!(*mae_cycles <= 0.037, "{mae_cycles}");
    assert!(mae_cycles < mae, "{mae_cycles} vs {mae}");
}

#[test]
fn facility_overhead_carbon_and_cost_per_workload() {
    use kelvin::attribution::facility::{FacilityInputs, StepSeries};
    let Some(rec) = recording("facility_overhead_carbon_and_cost_per_workload") else {
        return;
    };
    let att = rec.attribute(&GpuOptions::default()).unwrap();
    let inputs = FacilityInputs::default()
        .with_pue(StepSeries::constant(1.3))
        .with_carbon_g_per_kwh(StepSeries::constant(350.0))
        .with_price_per_kwh(StepSeries::constant(0.12));
    let rows = att.facility(&inputs).unwrap();
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["A", "B", "C", "idle", "system", "unexplained"]);
    let it: u64 = rows.iter().map(|(_, s)| s.it_uj).sum();
    let measured: u64 = rec
        .phases
        .iter()
        .map(|p| att.measured_uj(&p.name).unwrap())
        .sum();
    assert_eq!(it, measured);
    for (name, s) in &rows {
        // PUE 1.3: 30 % overhead on every account, to rounding (1 µJ per interval).
        let want = 0.3 * s.it_uj as f64;
        assert!((s.overhead_uj as f64 - want).abs() <= 300.0, "{name}");
        let kwh = (s.it_uj + s.overhead_uj) as f64 / 3.6e12;
        assert!(
            (s.co2e_g - 350.0 * kwh).abs() < 1e-9 * (1.0 + s.co2e_g),
            "{name}"
        );
        assert!(
            (s.cost - 0.12 * kwh).abs() < 1e-12 + 1e-9 * s.cost,
            "{name}"
        );
    }
}
