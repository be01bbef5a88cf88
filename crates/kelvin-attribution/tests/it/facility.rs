//! Facility overhead, carbon and cost: exact overhead conservation per interval, linearity of
//! carbon and cost in energy, a hand-computed bill, and errors that name the interval.

use kelvin_attribution::AttributionErrorKind;
use kelvin_attribution::facility::{
    FacilityInputs, StepSeries, UJ_PER_KWH, apportion, apportion_detailed,
};
use kelvin_model::Timestamp;
use ndarray::{Array2, array};
use proptest::prelude::*;

const START_S: i64 = 1_700_000_000;
const DT_NS: i64 = 60_000_000_000;
const H: i64 = 3_600_000_000_000;
const KWH: u64 = 3_600_000_000_000;

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-9)
}

/// A step series over the grid: `k` steps at random offsets (seconds from the grid start, may
/// start inside the grid so part of it is uncovered) with values in `lo..hi`.
fn series(lo: f64, hi: f64, span_s: i64) -> impl Strategy<Value = StepSeries> {
    prop_oneof![
        1 => (lo..hi).prop_map(StepSeries::constant),
        3 => proptest::collection::btree_map(-60i64..span_s, lo..hi, 1..6).prop_map(|m| {
            StepSeries::try_new(
                m.into_iter()
                    .map(|(t, v)| (Timestamp::from_secs(START_S + t), v))
                    .collect(),
            )
            .unwrap()
        }),
    ]
}

/// An IT matrix with zero entries, whole zero rows and zero columns, and large values.
fn matrix() -> impl Strategy<Value = Array2<u64>> {
    (1usize..16, 0usize..6).prop_flat_map(|(n, m)| {
        let cell = prop_oneof![
            3 => Just(0u64),
            4 => 0u64..10_000_000,
            2 => 0u64..(1u64 << 44),
            1 => 0u64..7,
        ];
        (
            proptest::collection::vec(cell, n * m),
            proptest::collection::vec(any::<bool>(), n),
        )
            .prop_map(move |(v, zero_rows)| {
                let mut a = Array2::from_shape_vec((n, m), v).unwrap();
                for (k, z) in zero_rows.into_iter().enumerate() {
                    if z && k % 3 == 0 {
                        a.row_mut(k).fill(0);
                    }
                }
                a
            })
    })
}

fn inputs() -> impl Strategy<Value = FacilityInputs> {
    let span = 16 * 60;
    (
        proptest::option::of(series(1.0, 3.0, span)),
        proptest::option::of(series(0.0, 5_000.0, span)),
        proptest::option::of(series(0.0, 900.0, span)),
        proptest::option::of(series(0.0, 0.5, span)),
    )
        .prop_map(|(pue, ow, carbon, price)| {
            let mut i = FacilityInputs::default().with_currency("EUR");
            i.pue = pue;
            i.overhead_w = ow;
            i.carbon_g_per_kwh = carbon;
            i.price_per_kwh = price;
            i
        })
}

proptest! {
    #[test]
    fn overhead_is_conserved_exactly_per_interval(it in matrix(), inputs in inputs()) {
        let start = Timestamp::from_secs(START_S);
        let (bill, oh) = apportion_detailed(start, DT_NS, it.view(), &inputs).unwrap();
        let (n, m) = it.dim();
        prop_assert_eq!(bill.intervals.len(), n);
        prop_assert_eq!(bill.accounts.len(), m);
        let mut total = 0u64;
        for k in 0..n {
            let iv = &bill.intervals[k];
            let row_it: u64 = it.row(k).sum();
            let row_oh: u64 = oh.row(k).sum();
            prop_assert_eq!(iv.it_uj, row_it);
            // exact: accounts' overhead plus unassigned is the interval's overhead
            prop_assert_eq!(row_oh + iv.unassigned_overhead_uj, iv.overhead_uj);
            // overhead is only unassigned when no account used energy
            if row_it > 0 {
                prop_assert_eq!(iv.unassigned_overhead_uj, 0);
            } else {
                prop_assert_eq!(row_oh, 0);
            }
            // null accounts get no overhead
            for j in 0..m {
                if it[[k, j]] == 0 {
                    prop_assert_eq!(oh[[k, j]], 0);
                }
            }
            // each interval is independent: the same row alone gives the same split
            let alone = apportion_detailed(
                start.add_nanos(DT_NS * k as i64),
                DT_NS,
                it.row(k).insert_axis(ndarray::Axis(0)),
                &inputs,
            )
            .unwrap();
            prop_assert_eq!(alone.1.row(0), oh.row(k));
            total += iv.overhead_uj;
        }
        prop_assert_eq!(bill.overhead_uj, total);
        prop_assert_eq!(
            bill.overhead_uj,
            bill.accounts.iter().map(|a| a.overhead_uj).sum::<u64>() + bill.unassigned_overhead_uj
        );
        for j in 0..m {
            prop_assert_eq!(bill.accounts[j].it_uj, it.column(j).sum());
            prop_assert_eq!(bill.accounts[j].overhead_uj, oh.column(j).sum());
        }
        prop_assert_eq!(bill.it_uj, it.sum());
        let co2: f64 = bill.accounts.iter().map(|a| a.co2e_g).sum::<f64>() + bill.unassigned_co2e_g;
        prop_assert!(close(co2, bill.co2e_g, 1e-9));
        prop_assert!(bill.co2e_g >= 0.0 && bill.cost >= 0.0);
    }

    #[test]
    fn pue_overhead_matches_the_formula(it in matrix(), pue in 1.0f64..3.0) {
        let inputs = FacilityInputs::default().with_pue(StepSeries::constant(pue));
        let bill = apportion(Timestamp::from_secs(START_S), DT_NS, it.view(), &inputs).unwrap();
        for iv in &bill.intervals {
            let expected = iv.it_uj as f64 * (pue - 1.0);
            prop_assert!((iv.overhead_uj as f64 - expected).abs() <= 0.5 + expected * 1e-12);
            prop_assert!(iv.overhead_complete);
        }
        prop_assert_eq!(bill.intervals_without_overhead, 0);
    }

    #[test]
    fn carbon_and_cost_are_linear_in_energy(
        it in matrix(),
        pue in 1.0f64..2.0,
        c in 0.0f64..900.0,
        p in 0.0f64..0.5,
        factor in 1u64..5,
    ) {
        let inputs = FacilityInputs::default()
            .with_pue(StepSeries::constant(pue))
            .with_carbon_g_per_kwh(StepSeries::constant(c))
            .with_price_per_kwh(StepSeries::constant(p));
        let start = Timestamp::from_secs(START_S);
        let bill = apportion(start, DT_NS, it.view(), &inputs).unwrap();
        for a in &bill.accounts {
            let kwh = a.total_uj() as f64 / UJ_PER_KWH;
            prop_assert!(close(a.co2e_g, kwh * c, 1e-9));
            prop_assert!(close(a.cost, kwh * p, 1e-9));
        }
        // k times the IT energy: k times the carbon and cost, up to the rounding of overhead
        // to whole microjoules and of its split (< 1 µJ per account and interval, k-fold after
        // scaling, plus 1 µJ for the scaled bill's own rounding)
        let scaled = it.mapv(|x| x * factor);
        let big = apportion(start, DT_NS, scaled.view(), &inputs).unwrap();
        let slack = (it.nrows() as f64) * (factor as f64 + 1.0) * 2.0 / UJ_PER_KWH;
        for (a, b) in bill.accounts.iter().zip(&big.accounts) {
            prop_assert!((b.co2e_g - factor as f64 * a.co2e_g).abs() <= slack * c + 1e-9 * b.co2e_g);
            prop_assert!((b.cost - factor as f64 * a.cost).abs() <= slack * p + 1e-9 * b.cost);
        }
    }
}

/// Three hours, two accounts, PUE 1.5, 400 g/kWh, a price step from 0.10 to 0.30 half-way
/// through hour 2, and 500 W of measured overhead from hour 3, when nothing runs.
///
/// | hour | IT A | IT B | overhead A | overhead B | unassigned | price |
/// |------|------|------|------------|------------|------------|-------|
/// | 1    | 2    | 1    | 1          | 0.5        | 0          | 0.10  |
/// | 2    | 1    | 1    | 0.5        | 0.5        | 0          | 0.20 (time-weighted) |
/// | 3    | 0    | 0    | 0          | 0          | 0.5        | 0.30  |
///
/// (kWh). A: 3 kWh × 0.10 + 1.5 kWh × 0.20 = 0.60, 4.5 kWh × 400 = 1800 g. B: 1.5 × 0.10 +
/// 1.5 × 0.20 = 0.45, 1200 g. Unassigned: 0.5 × 0.30 = 0.15, 200 g.
#[test]
fn hand_computed_three_interval_bill() {
    let t0 = Timestamp::from_secs(0);
    let inputs = FacilityInputs::default()
        .with_pue(StepSeries::constant(1.5))
        .with_overhead_w(StepSeries::try_new(vec![(Timestamp::from_secs(7_200), 500.0)]).unwrap())
        .with_carbon_g_per_kwh(StepSeries::constant(400.0))
        .with_price_per_kwh(
            StepSeries::try_new(vec![(t0, 0.10), (Timestamp::from_secs(5_400), 0.30)]).unwrap(),
        )
        .with_currency("EUR");
    let it = array![[2 * KWH, KWH], [KWH, KWH], [0, 0]];
    let (bill, oh) = apportion_detailed(t0, H, it.view(), &inputs).unwrap();
    assert_eq!(oh, array![[KWH, KWH / 2], [KWH / 2, KWH / 2], [0, 0]]);
    assert_eq!(bill.unassigned_overhead_uj, KWH / 2);
    assert_eq!(bill.overhead_uj, 3 * KWH);
    assert_eq!(bill.it_uj, 5 * KWH);
    assert_eq!(bill.total_uj(), 8 * KWH);
    let a = &bill.accounts[0];
    let b = &bill.accounts[1];
    assert_eq!(
        (a.it_uj, a.overhead_uj, a.total_uj()),
        (3 * KWH, 3 * KWH / 2, 9 * KWH / 2)
    );
    assert!(close(a.co2e_g, 1_800.0, 1e-12), "{}", a.co2e_g);
    assert!(close(b.co2e_g, 1_200.0, 1e-12));
    assert!(close(a.cost, 0.60, 1e-12), "{}", a.cost);
    assert!(close(b.cost, 0.45, 1e-12));
    assert!(close(bill.unassigned_co2e_g, 200.0, 1e-12));
    assert!(close(bill.unassigned_cost, 0.15, 1e-12));
    assert!(close(bill.co2e_g, 3_200.0, 1e-12));
    assert!(close(bill.cost, 1.20, 1e-12));
    assert!(close(bill.intervals[1].cost, 0.60, 1e-12));
    assert_eq!(bill.currency, "EUR");
    assert_eq!(bill.intervals_without_overhead, 0);
    assert_eq!(bill.intervals_without_carbon, 0);
    assert_eq!(bill.intervals_without_price, 0);
    let price = inputs.price_per_kwh.as_ref().unwrap();
    assert_eq!(
        price.mean_over(Timestamp::from_secs(3_600), Timestamp::from_secs(7_200)),
        Some(0.2)
    );
}

#[test]
fn series_starting_inside_the_grid_are_counted_not_invented() {
    // the price is known only from the middle of hour 2
    let inputs = FacilityInputs::default()
        .with_price_per_kwh(StepSeries::try_new(vec![(Timestamp::from_secs(5_400), 1.0)]).unwrap());
    let it = array![[KWH], [KWH], [KWH]];
    let bill = apportion(Timestamp::from_secs(0), H, it.view(), &inputs).unwrap();
    assert_eq!(bill.intervals_without_price, 2);
    assert_eq!(bill.intervals_without_carbon, 3);
    assert_eq!(bill.intervals_without_overhead, 3);
    // hour 1 costs nothing, hour 2 half, hour 3 all
    assert!(close(bill.cost, 1.5, 1e-12));
    assert_eq!(
        bill.intervals
            .iter()
            .map(|i| i.price_complete)
            .collect::<Vec<_>>(),
        vec![false, false, true]
    );
}

#[test]
fn bad_inputs_name_the_interval() {
    let it = array![[KWH, 1], [KWH, 2], [KWH, 3], [KWH, 4]];
    let t0 = Timestamp::from_secs(0);
    let at = |s: i64| Timestamp::from_secs(s);
    let cases: Vec<(FacilityInputs, &str)> = vec![
        (
            FacilityInputs::default()
                .with_pue(StepSeries::try_new(vec![(t0, 1.3), (at(3 * 3_600 + 1), 0.97)]).unwrap()),
            "facility pue, interval 3",
        ),
        (
            FacilityInputs::default()
                .with_overhead_w(StepSeries::try_new(vec![(t0, 10.0), (at(3_600), -1.0)]).unwrap()),
            "facility overhead_w, interval 1",
        ),
        (
            FacilityInputs::default().with_carbon_g_per_kwh(
                StepSeries::try_new(vec![(t0, 300.0), (at(7_000), -300.0), (at(7_300), 1.0)])
                    .unwrap(),
            ),
            "facility carbon_g_per_kwh, interval 1",
        ),
        (
            FacilityInputs::default()
                .with_price_per_kwh(StepSeries::try_new(vec![(at(7_200), -0.1)]).unwrap()),
            "facility price_per_kwh, interval 2",
        ),
    ];
    for (inputs, place) in cases {
        let e = apportion(t0, H, it.view(), &inputs).unwrap_err();
        assert_eq!(e.kind(), AttributionErrorKind::InvalidInput);
        assert_eq!(e.place(), place, "{e}");
    }
    // a bad value outside the grid is not an error
    let later = FacilityInputs::default()
        .with_pue(StepSeries::try_new(vec![(t0, 1.3), (at(10 * 3_600), 0.5)]).unwrap());
    assert!(apportion(t0, H, it.view(), &later).is_ok());
    let ok = FacilityInputs::default();
    assert!(apportion(t0, 0, it.view(), &ok).is_err());
    assert!(apportion(t0, -H, it.view(), &ok).is_err());
}
