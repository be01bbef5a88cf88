//! Attribution at fleet scale: 10,000 workloads × 8,640 intervals (one day at 10 s).
//!
//! - `attribution_day/kelvin_two_part_tariff`: 1,000 hosts, 10 workloads each (a 16-core
//!   host, CPU seconds per interval, a SPECpower-style curve key, a calibrated floor, half the
//!   workloads with reservations), settled exactly in µJ with confidence intervals, both cores
//!   via rayon. `kelvin_scaphandre_like` settles the same data under the anchor-like policy.
//! - `attribution_day/naive_f64_share`: the peer — what exporters do: per interval, each
//!   workload gets `E · usage / Σ usage` in floating point, no floor, no rounding to an exact
//!   balance, no intervals; the same rayon parallelism over hosts.
//!
//! The input and output sizes are printed (not timed).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kelvin::attribution::ledger::{
    Consumer, KeyCurve, LedgerInput, LedgerOptions, MeterInput, MeterResource, Policy, settle,
};
use kelvin::attribution::power::{Resource, SpecCurve};
use kelvin_model::{EntityId, Timestamp};
use rayon::prelude::*;

const HOSTS: usize = 1_000;
const PER_HOST: usize = 10;
const INTERVALS: usize = 8_640;
const DT: f64 = 10.0;

/// A deterministic, diurnal-looking CPU use in CPU seconds per interval.
fn usage(w: usize, i: usize) -> f64 {
    let phase = (w % 97) as f64 * 0.37;
    let day = (i as f64 / INTERVALS as f64 * std::f64::consts::TAU + phase).sin() * 0.5 + 0.5;
    let jitter = (((w * 7_919 + i * 104_729) % 1_000) as f64) / 1_000.0;
    (day * 0.7 + jitter * 0.3) * 1.6 * DT // up to 1.6 cores
}

fn input() -> LedgerInput {
    let curve = SpecCurve::try_new([
        60.0, 84.0, 95.0, 104.0, 113.0, 122.0, 132.0, 143.0, 156.0, 171.0, 190.0,
    ])
    .expect("valid curve");
    let meters = (0..HOSTS)
        .map(|h| {
            let consumers: Vec<Consumer> = (0..PER_HOST)
                .map(|k| {
                    let w = h * PER_HOST + k;
                    Consumer {
                        workload: w,
                        reservation: if k % 2 == 0 { 0.08 } else { 0.0 },
                        usage: vec![(0..INTERVALS).map(|i| usage(w, i)).collect()],
                        signature: None,
                    }
                })
                .collect();
            let energy_j = (0..INTERVALS)
                .map(|i| {
                    let u: f64 = consumers.iter().map(|c| c.usage[0][i]).sum::<f64>() / (16.0 * DT);
                    curve.power_w(u) * DT * 1.03
                })
                .collect();
            MeterInput {
                meter: EntityId::new(format!("host-{h:04}")).expect("id"),
                energy_j,
                sigma_j: None,
                rel_sigma: 0.02,
                idle_w: vec![62.0; INTERVALS],
                idle_sigma_w: 2.0,
                resources: vec![MeterResource {
                    resource: Resource::Cpu,
                    capacity: 16.0,
                    curve: KeyCurve::Spec(curve),
                }],
                consumers,
                system: None,
                key_rel_sigma: 0.05,
            }
        })
        .collect();
    LedgerInput {
        start: Timestamp::from_secs(1_767_225_600),
        interval_ns: (DT * 1e9) as i64,
        workloads: (0..HOSTS * PER_HOST)
            .map(|w| EntityId::new(format!("w{w:05}")).expect("id"))
            .collect(),
        meters,
    }
}

/// The peer: floating-point proportional shares, summed per workload.
fn naive(input: &LedgerInput) -> Vec<f64> {
    input
        .meters
        .par_iter()
        .flat_map_iter(|m| {
            let mut tot = vec![0.0; m.consumers.len()];
            for i in 0..m.energy_j.len() {
                let s: f64 = m.consumers.iter().map(|c| c.usage[0][i]).sum();
                if s > 0.0 {
                    for (t, c) in tot.iter_mut().zip(&m.consumers) {
                        *t += m.energy_j[i] * c.usage[0][i] / s;
                    }
                }
            }
            tot
        })
        .collect()
}

fn day(c: &mut Criterion) {
    let input = input();
    let cells = HOSTS * PER_HOST * INTERVALS;
    let in_bytes = cells * 8 + HOSTS * INTERVALS * 16;
    let l = settle(&input, &LedgerOptions::default()).expect("settles");
    let out_bytes = std::mem::size_of_val(l.meters.as_slice())
        + l.meters
            .iter()
            .map(|m| std::mem::size_of_val(m.lines.as_slice()))
            .sum::<usize>();
    println!(
        "attribution_day: {} workload-intervals, input {:.0} MiB (usage + energy + floor), \
         output {:.2} MiB; measured {:.1} kWh, idle account {:.1} kWh",
        cells,
        in_bytes as f64 / (1 << 20) as f64,
        out_bytes as f64 / (1 << 20) as f64,
        l.measured_uj() as f64 / 3.6e12,
        l.account_total_uj(kelvin::attribution::Account::Idle) as f64 / 3.6e12,
    );
    let mut g = c.benchmark_group("attribution_day");
    g.sample_size(10);
    g.throughput(Throughput::Elements(cells as u64));
    g.bench_function("kelvin_two_part_tariff", |b| {
        b.iter(|| settle(black_box(&input), &LedgerOptions::default()).expect("settles"))
    });
    g.bench_function("kelvin_scaphandre_like", |b| {
        let o = LedgerOptions::default().with_policy(Policy::ScaphandreLike);
        b.iter(|| settle(black_box(&input), &o).expect("settles"))
    });
    g.bench_function("naive_f64_share", |b| b.iter(|| naive(black_box(&input))));
    g.finish();
}

criterion_group!(benches, day);
criterion_main!(benches);
