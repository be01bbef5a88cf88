//! Power models against real data: published SPECpower_ssj2008 curves and the Kepler
//! real-node RAPL series (both from `../shared/corpus/power`; skipped when it is missing).

use std::path::Path;

use kelvin_attribution::power::{
    IdleMethod, IdleOptions, OnlineModel, Resource, ResourceModel, SpecCurve, calibrate_idle,
};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/power/green-coding-cloud-energy/spec_data_cleaned_unmelted.csv"
);
pub(crate) const KEPLER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/power/kepler-model-db/v0.6__nx12__preprocessed_data__preprocess_abs_default_rapl_Basic.csv"
);

/// Splits one CSV line on commas outside double quotes (the corpus files have no multi-line
/// fields).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Header and rows of a CSV file, or `None` (after saying so) when the corpus is missing.
pub(crate) fn read_csv(path: &str, test: &str) -> Option<(Vec<String>, Vec<Vec<String>>)> {
    if !Path::new(path).exists() {
        println!("{test}: skipped, {path} is missing");
        return None;
    }
    let text = std::fs::read_to_string(path).expect("corpus file is readable");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split_csv(lines.next().expect("a header"));
    let rows = lines.map(split_csv).collect();
    Some((header, rows))
}

pub(crate) fn col(header: &[String], name: &str) -> usize {
    header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name} in {header:?}"))
}

pub(crate) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The published SPECpower curves (active idle, 10 % … 100 %) of the corpus, or `None` (after
/// saying so) when it is missing.
pub(crate) fn spec_curves(test: &str) -> Option<Vec<[f64; 11]>> {
    let (header, rows) = read_csv(SPEC, test)?;
    let mut cols = vec![col(&header, "ActiveIdle")];
    cols.extend((1..=10).map(|k| col(&header, &format!("{}_AvgPower", 10 * k))));
    Some(
        rows.iter()
            .filter_map(|r| {
                let v: Vec<f64> = cols
                    .iter()
                    .map(|&c| r.get(c)?.trim().parse().ok())
                    .collect::<Option<_>>()?;
                v.try_into().ok()
            })
            .collect(),
    )
}

#[test]
fn spec_curve_fit_recovers_published_specpower_curves() {
    let Some(curves) = spec_curves("spec_curve_fit_recovers_published_specpower_curves") else {
        return;
    };
    assert!(curves.len() >= 600, "{} curves parsed", curves.len());

    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut worst = 0.0f64;
    let mut tested = 0;
    // About 50 servers, spread over the file.
    for watts in curves.iter().step_by(curves.len() / 50) {
        let truth = SpecCurve::try_new(*watts).unwrap();
        let n = 600;
        let u: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let p: Vec<f64> = u
            .iter()
            .map(|&x| truth.power_w(x) * (1.0 + 0.01 * gauss(&mut rng)))
            .collect();
        let fit = SpecCurve::fit(&u, &p).unwrap();
        let err = fit
            .watts
            .iter()
            .zip(&truth.watts)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
            / truth.max_w();
        assert!(
            err <= 0.02,
            "server {tested}: max knot error {:.2} % of max power\n fit {:?}\n true {:?}",
            100.0 * err,
            fit.watts,
            truth.watts
        );
        assert!(fit.watts.windows(2).all(|w| w[1] >= w[0]));
        worst = worst.max(err);
        tested += 1;
    }
    assert!(tested >= 50);
    println!(
        "SPECpower: {tested} servers, 600 samples each, 1 % noise: worst knot error {:.2} % of max power",
        100.0 * worst
    );
}

struct Kepler {
    features: Vec<[f64; 5]>,
    package: Vec<f64>,
    dram: Vec<f64>,
}

const FEATURES: [&str; 5] = [
    "bpf_cpu_time_us",
    "cgroupfs_cpu_usage_us",
    "cpu_cycles",
    "cpu_instructions",
    "cache_miss",
];

fn kepler() -> Option<Kepler> {
    let (header, rows) = read_csv(KEPLER, "kepler_counter_model_beats_cpu_time")?;
    let ts = col(&header, "timestamp");
    let fc: Vec<usize> = FEATURES.iter().map(|f| col(&header, f)).collect();
    let (pc, dc) = (col(&header, "package_power"), col(&header, "dram_power"));
    let num = |r: &Vec<String>, c: usize| -> f64 { r[c].trim().parse().expect("a number") };
    let mut rows: Vec<&Vec<String>> = rows.iter().collect();
    rows.sort_by(|a, b| num(a, ts).total_cmp(&num(b, ts)));
    Some(Kepler {
        features: rows
            .iter()
            .map(|r| std::array::from_fn(|k| num(r, fc[k])))
            .collect(),
        package: rows.iter().map(|r| num(r, pc)).collect(),
        dram: rows.iter().map(|r| num(r, dc)).collect(),
    })
}

/// Fits `target` on the training rows with the given feature columns (scaled by their
/// training maximum) and returns the test MAPE.
fn mape(
    k: &Kepler,
    features: &[usize],
    resources: &[Resource],
    target: &[f64],
    test: &dyn Fn(usize) -> bool,
) -> (f64, ResourceModel) {
    let n = target.len();
    let train: Vec<usize> = (0..n).filter(|&i| !test(i)).collect();
    let held: Vec<usize> = (0..n).filter(|&i| test(i)).collect();
    let max: Vec<f64> = features
        .iter()
        .map(|&f| {
            train
                .iter()
                .map(|&i| k.features[i][f])
                .fold(0.0, f64::max)
                .max(f64::MIN_POSITIVE)
        })
        .collect();
    let usage = |i: usize| -> Vec<f64> {
        features
            .iter()
            .zip(&max)
            .map(|(&f, m)| k.features[i][f] / m)
            .collect()
    };
    let x = Array2::from_shape_fn((train.len(), features.len()), |(r, c)| usage(train[r])[c]);
    let y = Array1::from_iter(train.iter().map(|&i| target[i]));
    let m = ResourceModel::fit(resources, x.view(), y.view()).unwrap();
    let held: Vec<usize> = held.into_iter().filter(|&i| target[i] > 0.0).collect();
    let err: f64 = held
        .iter()
        .map(|&i| (m.power_w(&usage(i)) - target[i]).abs() / target[i])
        .sum::<f64>()
        / held.len() as f64;
    (err, m)
}

#[test]
fn kepler_counter_model_beats_cpu_time() {
    let Some(k) = kepler() else {
        return;
    };
    let n = k.package.len();
    assert_eq!(n, 2202);
    let cut = n * 8 / 10;
    let time_split = move |i: usize| i >= cut;
    let fifth = |i: usize| i % 5 == 4;
    let splits: [(&str, &dyn Fn(usize) -> bool); 2] =
        [("time 80/20", &time_split), ("every 5th", &fifth)];
    let models: [(&str, Vec<usize>, Vec<Resource>); 3] = [
        ("cpu time (bpf)", vec![0], vec![Resource::Cpu]),
        ("cpu time (cgroupfs)", vec![1], vec![Resource::Cpu]),
        (
            "counters (cyc+instr+miss)",
            vec![2, 3, 4],
            vec![Resource::Cpu, Resource::Cpu, Resource::Memory],
        ),
    ];
    println!("Kepler nx12 RAPL replay ({n} rows), NNLS resource models, test MAPE:");
    println!(
        "{:<12} {:<8} {:<27} {:>8} {:>7} {:>9}",
        "split", "target", "model", "MAPE %", "R2 trn", "idle W"
    );
    for (split, test) in splits {
        for (target, y) in [("package", &k.package), ("dram", &k.dram)] {
            let mut mapes = vec![];
            for (name, feats, res) in &models {
                let (e, m) = mape(&k, feats, res, y, test);
                println!(
                    "{split:<12} {target:<8} {name:<27} {:>8.1} {:>7.3} {:>9.1}",
                    100.0 * e,
                    m.r2,
                    m.idle_w
                );
                mapes.push(e);
            }
            if target == "package" {
                let counters = mapes[2];
                assert!(
                    counters < mapes[0] && counters < mapes[1],
                    "{split}: counters {counters} vs cpu time {mapes:?}"
                );
                assert!(counters < 0.31, "{split}: counter MAPE {counters}");
            }
        }
    }
}

#[test]
fn online_model_tracks_the_kepler_replay() {
    // The package power against cycles, online: the stream is one node under stress-ng with
    // changing frequency caps, so drifts are found (regime changes), and the one-step-ahead
    // prediction must stay usable.
    let Some(k) = kepler() else {
        return;
    };
    let max = k.features.iter().map(|f| f[2]).fold(0.0, f64::max);
    let mut m = OnlineModel::new(&[Resource::Cpu], 0.99).unwrap();
    let mut events = 0;
    let mut abs_err = 0.0;
    for (f, p) in k.features.iter().zip(&k.package) {
        let u = [f[2] / max];
        let pred = m.model().power_w(&u);
        if m.samples() >= 200 {
            abs_err += (pred - p).abs() / p;
        }
        if m.update(&u, *p).unwrap().is_some() {
            events += 1;
        }
    }
    let mape = abs_err / (k.package.len() - 200) as f64;
    println!(
        "Kepler online (cycles, forgetting 0.99): one-step-ahead MAPE {:.1} %, {events} drift events",
        100.0 * mape
    );
    assert!(mape < 0.2, "{mape}");
}

#[test]
fn public_api_round_trip() {
    // An idle floor calibrated from quiet intervals feeds a dynamic model.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 300;
    let activity: Vec<f64> = (0..n)
        .map(|i| {
            if i % 4 == 0 {
                0.0
            } else {
                rng.random_range(0.05..1.0)
            }
        })
        .collect();
    let power: Vec<f64> = activity
        .iter()
        .map(|a| 65.0 + 140.0 * a + 0.5 * gauss(&mut rng))
        .collect();
    let floor = calibrate_idle(&power, &activity, &IdleOptions::default()).unwrap();
    assert_eq!(floor.method, IdleMethod::Quiet);
    let x = Array2::from_shape_fn((n, 1), |(i, _)| activity[i]);
    let y = Array1::from_iter((0..n).map(|i| power[i] - floor.floor_w[i]));
    let m = ResourceModel::fit_dynamic(&[Resource::Cpu], x.view(), y.view()).unwrap();
    assert!((m.coef_w[0] - 140.0).abs() < 1.0, "{m:?}");
    let online = OnlineModel::from_model(
        &ResourceModel {
            idle_w: floor.floor_w[0],
            ..m.clone()
        },
        0.995,
    )
    .unwrap();
    assert!((online.model().power_w(&[0.5]) - 135.0).abs() < 1.5);
}
