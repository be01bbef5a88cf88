use std::collections::BTreeMap;

use kelvin_model::{EntityId, TimeRange, Timestamp};

use super::*;
use crate::facility::{FacilityInputs, StepSeries};
use crate::power::IdleMethod;
use crate::{Account, AttributionError, AttributionErrorKind, Policy};

/// A device at `idle_w`, plus each run's `watts` × `util` while it runs: closed-form
/// telemetry on any grid.
struct Device {
    idle_w: f64,
    /// (start s, stop s, SM utilization, W at full SM)
    runs: Vec<(f64, f64, f64, f64)>,
    /// Answer energy with one value too few.
    short: bool,
    /// Answer NaN energy everywhere.
    unmeasured: bool,
}

fn overlap(g: &GpuGrid, i: usize, from: f64, to: f64) -> f64 {
    let (a, b) = (g.point(i).as_secs_f64(), g.point(i + 1).as_secs_f64());
    (b.min(to) - a.max(from)).max(0.0)
}

impl GpuTelemetry for Device {
    type Error = AttributionError;
    fn energy_j(&self, g: &GpuGrid) -> Result<Vec<f64>, AttributionError> {
        let n = g.intervals() - usize::from(self.short);
        Ok((0..n)
            .map(|i| {
                if self.unmeasured {
                    return f64::NAN;
                }
                let dt = g.step_ns() as f64 / 1e9;
                let dynamic: f64 = self
                    .runs
                    .iter()
                    .map(|&(a, b, u, w)| u * w * overlap(g, i, a, b))
                    .sum();
                self.idle_w * dt + dynamic
            })
            .collect())
    }
    fn activity(
        &self,
        run: usize,
        g: &GpuGrid,
        _max_gap_s: f64,
    ) -> Result<[Option<Vec<f64>>; 2], AttributionError> {
        let (a, b, u, _) = self.runs[run];
        let sm = (0..g.intervals())
            .map(|i| u * overlap(g, i, a, b))
            .collect();
        Ok([Some(sm), Some(vec![f64::NAN; g.intervals()])])
    }
}

fn s(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn phase(name: &str, a: i64, b: i64) -> GpuPhase {
    GpuPhase {
        name: name.into(),
        range: TimeRange::try_new(s(a), s(b)).unwrap(),
    }
}

fn run(workload: usize, a: i64, b: i64) -> GpuRun {
    GpuRun {
        workload,
        start: s(a),
        stop: Some(s(b)),
    }
}

/// idle 0–20 s, A alone 20–40 s, B alone 40–60 s, both 60–80 s, idle 80–100 s: A draws
/// 300 W per unit of SM, B 100 W.
fn recording() -> (GpuInput, Device) {
    let input = GpuInput {
        source: "events.csv".into(),
        meter: EntityId::new("gpu0").unwrap(),
        workloads: vec![EntityId::new("A").unwrap(), EntityId::new("B").unwrap()],
        runs: vec![
            run(0, 20, 40),
            run(1, 40, 60),
            run(0, 60, 80),
            run(1, 60, 80),
        ],
        phases: vec![
            phase("idle0", 0, 20),
            phase("soloA", 20, 40),
            phase("soloB", 40, 60),
            phase("AB", 60, 80),
            phase("idle1", 80, 100),
        ],
    };
    let device = Device {
        idle_w: 70.0,
        runs: vec![
            (20.0, 40.0, 0.8, 300.0),
            (40.0, 60.0, 0.6, 100.0),
            (60.0, 80.0, 0.4, 300.0),
            (60.0, 80.0, 0.4, 100.0),
        ],
        short: false,
        unmeasured: false,
    };
    (input, device)
}

fn error(input: &GpuInput, device: &Device, opts: &GpuOptions) -> AttributionError {
    attribute(input, device, opts).unwrap_err()
}

#[test]
fn every_phase_balances_and_the_signatures_are_learned() {
    let (input, device) = recording();
    let att = attribute(&input, &device, &GpuOptions::default()).unwrap();
    assert_eq!(att.workloads, ["A", "B"]);
    assert_eq!(att.floor.method, IdleMethod::Quiet);
    assert!(att.floor.floor_w.iter().all(|w| (w - 70.0).abs() < 1e-9));
    assert!(
        (att.model.coef_w[0] - 300.0).abs() < 1e-6,
        "{:?}",
        att.model
    );
    assert!(
        (att.model.coef_w[2] - 100.0).abs() < 1e-6,
        "{:?}",
        att.model
    );
    assert_eq!(att.columns.len(), 4);
    for p in &att.phases {
        let sheet = &p.ledger.meters[0];
        assert!(sheet.is_balanced(), "{}", p.phase);
        assert_eq!(
            sheet.account(Account::Idle).uj,
            1_400_000_000,
            "{}",
            p.phase
        );
        assert_eq!(att.measured_uj(&p.phase), Some(sheet.measured.uj));
    }
    // AB: 120 W × 20 s of A, 40 W × 20 s of B above the floor.
    let ab = &att.phases[3].ledger.meters[0];
    let line = |w: usize| ab.lines.iter().find(|l| l.workload == w).unwrap();
    assert_eq!(line(0).energy.uj, 2_400_000_000);
    assert_eq!(line(1).energy.uj, 800_000_000);
    let csv = att.to_csv();
    assert_eq!(csv.lines().count(), 1 + 5 * 5);
    assert!(csv.contains("\nAB,A,2400.000000,"), "{csv}");
    assert!(csv.contains("\nidle0,idle,1400.000000,"), "{csv}");
}

#[test]
fn shared_phases_are_checked_against_the_exclusive_runs() {
    let (input, device) = recording();
    let att = attribute(&input, &device, &GpuOptions::default()).unwrap();
    // Work in proportion to SM-seconds: the attribution is exact.
    let work: BTreeMap<String, u64> = [
        ("A_soloA", 160),
        ("B_soloB", 120),
        ("A_AB", 80),
        ("B_AB", 80),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let checks = att.validate(&work).unwrap();
    assert_eq!(checks.len(), 2);
    for c in &checks {
        assert!(c.error().abs() < 1e-9, "{c:?}");
    }
    let mut partial = work.clone();
    partial.remove("B_AB");
    let e = att.validate(&partial).unwrap_err();
    assert_eq!(e.to_string(), "phase AB: no shared-phase work");
}

#[test]
fn facility_shares_sum_to_the_measured_energy() {
    let (input, device) = recording();
    let att = attribute(&input, &device, &GpuOptions::default()).unwrap();
    let f = FacilityInputs::default().with_pue(StepSeries::constant(1.5));
    let rows = att.facility(&f).unwrap();
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["A", "B", "idle", "system", "unexplained"]);
    let it: u64 = rows.iter().map(|(_, s)| s.it_uj).sum();
    let measured: u64 = att
        .phases
        .iter()
        .map(|p| p.ledger.meters[0].measured.uj)
        .sum();
    assert_eq!(it, measured);
}

#[test]
fn any_policy_settles_the_phases() {
    let (input, device) = recording();
    for p in Policy::ALL {
        let att = attribute(&input, &device, &GpuOptions::default().with_policy(p)).unwrap();
        assert!(
            att.phases.iter().all(|s| s.ledger.is_balanced()),
            "{}",
            p.name()
        );
    }
}

#[test]
fn refusals_name_the_schedule() {
    let (input, device) = recording();
    let opts = GpuOptions::default();
    let mut empty = input.clone();
    empty.phases.clear();
    assert_eq!(
        error(&empty, &device, &opts).to_string(),
        "events.csv: no phases"
    );
    let e = error(&input, &device, &opts.clone().with_step_s(0.0));
    assert_eq!(e.kind(), AttributionErrorKind::InvalidInput);
    assert!(e.reason().contains("step_s must be positive"), "{e}");
    // 30 days at half-second steps is over MAX_INTERVALS.
    let mut long = input.clone();
    long.phases.push(phase("late", 100, 30 * 86_400));
    let e = error(&long, &device, &opts);
    assert!(
        e.to_string().starts_with("events.csv: ") && e.reason().contains("--step-s"),
        "{e}"
    );
    let mut stray = input.clone();
    stray.runs.push(run(2, 0, 1));
    assert!(
        error(&stray, &device, &opts)
            .reason()
            .contains("workload 2 of 2")
    );
}

#[test]
fn telemetry_that_cannot_calibrate_or_misaligns_is_refused() {
    let (input, mut device) = recording();
    device.unmeasured = true;
    let e = error(&input, &device, &GpuOptions::default());
    assert!(e.to_string().starts_with("events.csv: idle floor"), "{e}");
    assert!(
        e.reason().contains("the recording needs such a phase"),
        "{e}"
    );
    device.unmeasured = false;
    device.short = true;
    let e = error(&input, &device, &GpuOptions::default());
    assert_eq!(e.place(), "gpu telemetry");
    assert!(
        e.reason().contains("values of energy for 200 intervals"),
        "{e}"
    );
}

#[test]
fn an_exclusive_fit_learns_only_from_the_solo_runs() {
    // In the shared phase A draws 500 W per unit of SM, not its solo 300 W: a fit on every
    // loaded interval is pulled towards it, a fit on the exclusive runs is not.
    let (input, mut device) = recording();
    device.runs[2].3 = 500.0;
    let loaded = attribute(&input, &device, &GpuOptions::default()).unwrap();
    assert!(loaded.model.coef_w[0] > 310.0, "{:?}", loaded.model);
    let opts = GpuOptions::default().with_fit(GpuFit::Exclusive);
    let solo = attribute(&input, &device, &opts).unwrap();
    assert!(
        (solo.model.coef_w[0] - 300.0).abs() < 1e-6,
        "{:?}",
        solo.model
    );
    assert!(
        (solo.model.coef_w[2] - 100.0).abs() < 1e-6,
        "{:?}",
        solo.model
    );
    // The shared phase is still settled in full: its energy balances.
    let ab = &solo.phases[3].ledger.meters[0];
    assert!(ab.is_balanced());
}

#[test]
fn an_exclusive_fit_needs_every_workload_to_run_alone() {
    let (mut input, mut device) = recording();
    // B never runs alone: its solo run is dropped.
    input.runs.remove(1);
    device.runs.remove(1);
    input.phases.remove(2);
    let e = error(
        &input,
        &device,
        &GpuOptions::default().with_fit(GpuFit::Exclusive),
    );
    assert_eq!(e.kind(), AttributionErrorKind::InvalidInput);
    assert!(e.to_string().contains("workload B never runs alone"), "{e}");
    assert!(e.to_string().contains("events.csv"), "{e}");
    // Fitted on the loaded intervals, the same input settles.
    assert!(attribute(&input, &device, &GpuOptions::default()).is_ok());
}

#[test]
fn share_error_compares_shares_within_each_phase() {
    let row = |phase: &str, w: &str, a: f64, p: f64| GpuCheck {
        phase: phase.into(),
        workload: w.into(),
        attributed_j: a,
        predicted_j: p,
    };
    assert_eq!(share_mae(&[]), 0.0);
    // AB: exact; AC: 0.2 off for each of its two rows.
    let checks = [
        row("AB", "A", 30.0, 30.0),
        row("AB", "B", 10.0, 10.0),
        row("AC", "A", 8.0, 6.0),
        row("AC", "C", 2.0, 4.0),
    ];
    assert!((share_mae(&checks) - 0.1).abs() < 1e-12);
}

/// [`recording`]'s device with an SM clock: 1 GHz while A runs alone (power-capped), 1.5 GHz
/// while B runs alone or both run, and every run's power proportional to it (W per GHz of
/// full SM activity).
struct Clocked(Device);

impl Clocked {
    fn ghz(t: f64) -> f64 {
        if (40.0..80.0).contains(&t) { 1.5 } else { 1.0 }
    }
}

impl GpuTelemetry for Clocked {
    type Error = AttributionError;
    fn energy_j(&self, g: &GpuGrid) -> Result<Vec<f64>, AttributionError> {
        let dt = g.step_ns() as f64 / 1e9;
        Ok((0..g.intervals())
            .map(|i| {
                let mid = g.point(i).as_secs_f64() + dt / 2.0;
                let dynamic: f64 = self
                    .0
                    .runs
                    .iter()
                    .map(|&(a, b, u, w)| u * w * Self::ghz(mid) * overlap(g, i, a, b))
                    .sum();
                self.0.idle_w * dt + dynamic
            })
            .collect())
    }
    fn activity(
        &self,
        run: usize,
        g: &GpuGrid,
        gap: f64,
    ) -> Result<[Option<Vec<f64>>; 2], AttributionError> {
        self.0.activity(run, g, gap)
    }
    fn sm_clock_hz(&self, g: &GpuGrid) -> Result<Option<Vec<f64>>, AttributionError> {
        let dt = g.step_ns() as f64 / 1e9;
        Ok(Some(
            (0..g.intervals())
                .map(|i| Self::ghz(g.point(i).as_secs_f64() + dt / 2.0) * 1e9)
                .collect(),
        ))
    }
}

#[test]
fn sm_cycles_price_the_clock_a_run_shares() {
    let (input, device) = recording();
    let clocked = Clocked(device);
    let ab = |opts: &GpuOptions| {
        let att = attribute(&input, &clocked, opts).unwrap();
        let sheet = &att.phases[3].ledger.meters[0];
        assert!(sheet.is_balanced());
        (
            att.model.coef_w.clone(),
            sheet
                .lines
                .iter()
                .map(|l| l.dynamic_uj as f64 / 1e6)
                .collect::<Vec<_>>(),
        )
    };
    // Truth in AB: A 0.4 × 300 W/GHz × 1.5 GHz × 20 s = 3,600 J, B 0.4 × 100 × 1.5 × 20 = 1,200 J.
    let exclusive = GpuOptions::default().with_fit(GpuFit::Exclusive);
    let (coef, lines) = ab(&exclusive.clone().with_key(GpuKey::SmCycles));
    assert!(
        (coef[0] - 300.0).abs() < 1e-6 && (coef[2] - 100.0).abs() < 1e-6,
        "{coef:?}"
    );
    assert!(
        (lines[0] - 3_600.0).abs() < 1e-3 && (lines[1] - 1_200.0).abs() < 1e-3,
        "{lines:?}"
    );
    // Keyed on seconds, A's signature is its watts at 1 GHz and B's at 1.5 GHz, so in AB
    // (both at 1.5 GHz) A is under-priced: 2/3 of the dynamic energy instead of 3/4.
    let (coef, lines) = ab(&exclusive);
    assert!(
        (coef[0] - 300.0).abs() < 1e-6 && (coef[2] - 150.0).abs() < 1e-6,
        "{coef:?}"
    );
    assert!(
        (lines[0] - 3_200.0).abs() < 1e-3 && (lines[1] - 1_600.0).abs() < 1e-3,
        "{lines:?}"
    );
}

#[test]
fn sm_cycles_need_a_clock() {
    let (input, device) = recording();
    let opts = GpuOptions::default().with_key(GpuKey::SmCycles);
    let e = error(&input, &device, &opts);
    assert_eq!(e.kind(), AttributionErrorKind::InvalidInput);
    assert!(
        e.to_string()
            .contains("SM clock, and the telemetry has none"),
        "{e}"
    );
    assert!(e.to_string().contains("events.csv"), "{e}");
}
