//! Validation harness on synthetic ground truth built from every published SPECpower curve in
//! `../shared/corpus/power` (skipped when it is missing): the true power function is known, so
//! is each workload's utilization, and the reference split is the Aumann–Shapley value of the
//! true function. Kelvin only sees the noisy meter and the usage, calibrates the idle floor,
//! fits the curve, and settles. Prints the table docs/attribution.md reproduces.

use kelvin_attribution::ledger::{
    Consumer, KeyCurve, LedgerInput, LedgerOptions, MeterInput, MeterResource, Policy, settle,
};
use kelvin_attribution::power::{IdleOptions, Resource, ResourceModel, SpecCurve, calibrate_idle};
use kelvin_model::{EntityId, Timestamp};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::power::{gauss, spec_curves};

const N: usize = 600;
const WORKLOADS: usize = 4;
const DT: f64 = 10.0;

/// One synthetic server: true curve, memory price, utilizations, noisy measured energy.
struct Synthetic {
    truth: SpecCurve,
    beta_mem: f64,
    cpu: Vec<[f64; WORKLOADS]>,
    mem: Vec<[f64; WORKLOADS]>,
    energy_j: Vec<f64>,
}

fn synthesize(truth: SpecCurve, rng: &mut ChaCha8Rng) -> Synthetic {
    // Memory activity costs 15 % of the CPU's dynamic range at full use (an assumption of
    // the harness, not a SPEC figure).
    let beta_mem = 0.15 * (truth.max_w() - truth.idle_w());
    let mut cpu = Vec::with_capacity(N);
    let mut mem = Vec::with_capacity(N);
    let mut energy_j = Vec::with_capacity(N);
    for _ in 0..N {
        let quiet = rng.random::<f64>() < 0.1;
        let mut c = [0.0; WORKLOADS];
        let mut m = [0.0; WORKLOADS];
        if !quiet {
            for w in 0..WORKLOADS {
                // Workloads differ in how much they use, and in their memory/CPU mix.
                c[w] = rng.random::<f64>() * 0.25 * (1.0 - 0.15 * w as f64);
                m[w] = rng.random::<f64>() * 0.25 * (0.4 + 0.2 * w as f64);
            }
        }
        let x: f64 = c.iter().sum();
        let y: f64 = m.iter().sum();
        let p = truth.power_w(x) + beta_mem * y;
        energy_j.push(p * DT * (1.0 + 0.01 * gauss(rng)));
        cpu.push(c);
        mem.push(m);
    }
    Synthetic {
        truth,
        beta_mem,
        cpu,
        mem,
        energy_j,
    }
}

/// The reference: Aumann–Shapley dynamic energy of each workload under the true function.
fn reference(s: &Synthetic) -> [f64; WORKLOADS] {
    let mut r = [0.0; WORKLOADS];
    for i in 0..N {
        let x: f64 = s.cpu[i].iter().sum();
        let price = if x > 0.0 {
            (s.truth.power_w(x) - s.truth.idle_w()) / x
        } else {
            0.0
        };
        for (w, rw) in r.iter_mut().enumerate() {
            *rw += (s.cpu[i][w] * price + s.mem[i][w] * s.beta_mem) * DT;
        }
    }
    r
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Variant {
    /// Two-part tariff with the fitted SPEC-style curve (Kelvin's default model).
    KelvinCurve,
    /// Two-part tariff with a fitted linear multi-resource model.
    KelvinLinear,
    /// Scaphandre-like: dynamic by raw CPU share.
    Scaphandre,
    /// Kepler-like: dynamic by raw CPU share (idle per process is not compared here).
    Kepler,
}

/// Kelvin's dynamic energy per workload, from the noisy meter and the usage only.
fn kelvin(s: &Synthetic, v: Variant) -> [f64; WORKLOADS] {
    let power: Vec<f64> = s.energy_j.iter().map(|e| e / DT).collect();
    let x: Vec<f64> = s.cpu.iter().map(|c| c.iter().sum()).collect();
    let y: Vec<f64> = s.mem.iter().map(|m| m.iter().sum()).collect();
    let floor = calibrate_idle(&power, &x, &IdleOptions::default()).unwrap();
    let (cpu_curve, mem_curve) = match v {
        Variant::KelvinLinear => {
            let mut a = Array2::zeros((N, 2));
            for i in 0..N {
                a[[i, 0]] = x[i];
                a[[i, 1]] = y[i];
            }
            let m = ResourceModel::fit(
                &[Resource::Cpu, Resource::Memory],
                a.view(),
                Array1::from(power.clone()).view(),
            )
            .unwrap();
            (
                KeyCurve::Linear {
                    watts_at_full: m.coef_w[0],
                },
                KeyCurve::Linear {
                    watts_at_full: m.coef_w[1],
                },
            )
        }
        _ => {
            let extra = Array2::from_shape_vec((N, 1), y.clone()).unwrap();
            let (curve, beta) = SpecCurve::fit_separable(&x, extra.view(), &power).unwrap();
            (
                KeyCurve::Spec(curve),
                KeyCurve::Linear {
                    watts_at_full: beta[0],
                },
            )
        }
    };
    let policy = match v {
        Variant::Scaphandre => Policy::ScaphandreLike,
        Variant::Kepler => Policy::KeplerLike,
        _ => Policy::TwoPartTariff,
    };
    let consumers = (0..WORKLOADS)
        .map(|w| Consumer {
            workload: w,
            reservation: 0.0,
            usage: vec![
                s.cpu.iter().map(|c| c[w] * DT).collect(),
                s.mem.iter().map(|m| m[w] * DT).collect(),
            ],
            signature: None,
        })
        .collect();
    let input = LedgerInput {
        start: Timestamp::from_secs(1_700_000_000),
        interval_ns: (DT * 1e9) as i64,
        workloads: (0..WORKLOADS)
            .map(|w| EntityId::new(format!("w{w}")).unwrap())
            .collect(),
        meters: vec![MeterInput {
            meter: EntityId::new("server").unwrap(),
            energy_j: s.energy_j.clone(),
            sigma_j: None,
            rel_sigma: 0.01,
            idle_w: floor.floor_w.clone(),
            idle_sigma_w: floor.sigma_w,
            resources: vec![
                MeterResource {
                    resource: Resource::Cpu,
                    capacity: 1.0,
                    curve: cpu_curve,
                },
                MeterResource {
                    resource: Resource::Memory,
                    capacity: 1.0,
                    curve: mem_curve,
                },
            ],
            consumers,
            system: None,
            key_rel_sigma: 0.0,
        }],
    };
    let l = settle(&input, &LedgerOptions::default().with_policy(policy)).unwrap();
    let mut out = [0.0; WORKLOADS];
    for line in &l.meters[0].lines {
        out[line.workload] = line.dynamic_uj as f64 / 1e6;
    }
    out
}

/// Energy-weighted error: Σ |kelvin − reference| / Σ reference.
fn error(k: &[f64; WORKLOADS], r: &[f64; WORKLOADS]) -> f64 {
    k.iter().zip(r).map(|(a, b)| (a - b).abs()).sum::<f64>() / r.iter().sum::<f64>()
}

#[test]
fn specpower_ground_truth_within_one_percent_of_aumann_shapley() {
    let Some(published) =
        spec_curves("specpower_ground_truth_within_one_percent_of_aumann_shapley")
    else {
        return;
    };
    let curves: Vec<SpecCurve> = published
        .into_iter()
        .filter_map(|w| SpecCurve::try_new(w).ok())
        .filter(|c| c.max_w() > c.idle_w())
        .collect();
    assert!(curves.len() >= 600, "{} curves", curves.len());
    let variants = [
        (
            Variant::KelvinCurve,
            "kelvin two_part_tariff, fitted SPEC curve",
        ),
        (
            Variant::KelvinLinear,
            "kelvin two_part_tariff, fitted linear model",
        ),
        (Variant::Scaphandre, "scaphandre_like (raw CPU share)"),
        (Variant::Kepler, "kepler_like (raw CPU share)"),
    ];
    let mut errs = vec![Vec::with_capacity(curves.len()); variants.len()];
    for (k, truth) in curves.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
        let s = synthesize(*truth, &mut rng);
        let r = reference(&s);
        for (e, (v, _)) in errs.iter_mut().zip(&variants) {
            e.push(error(&kelvin(&s, *v), &r));
        }
    }
    println!(
        "SPECpower ground truth: {} servers × {N} intervals × {WORKLOADS} workloads, 1 % meter noise",
        curves.len()
    );
    println!("| policy / model | mean error | p95 error | max error |");
    println!("|---|---|---|---|");
    for (e, (_, name)) in errs.iter_mut().zip(&variants) {
        e.sort_by(f64::total_cmp);
        let mean = e.iter().sum::<f64>() / e.len() as f64;
        println!(
            "| {name} | {:.2} % | {:.2} % | {:.2} % |",
            100.0 * mean,
            100.0 * e[e.len() * 95 / 100],
            100.0 * e[e.len() - 1]
        );
    }
    let mean = |e: &[f64]| e.iter().sum::<f64>() / e.len() as f64;
    assert!(mean(&errs[0]) <= 0.01, "mean error {}", mean(&errs[0]));
    // The anchor-like raw-CPU keys ignore memory: they must do measurably worse.
    assert!(mean(&errs[2]) > 2.0 * mean(&errs[0]));
}
