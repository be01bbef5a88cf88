//! Aumann–Shapley and Shapley attribution of a shared meter (`kelvin_attribution::shapley`).

use kelvin_attribution::AttributionErrorKind;
use kelvin_attribution::shapley::{
    AsOptions, MAX_EXACT_PLAYERS, Shares, aumann_shapley, aumann_shapley_separable, shapley_exact,
    shapley_sampled, usage_from_rows,
};
use ndarray::Array2;
use proptest::prelude::*;

/// SPECpower-like server: watts at 0 %, 10 %, …, 100 % load.
const SPEC_W: [f64; 11] = [
    60.0, 84.0, 95.0, 104.0, 113.0, 122.0, 132.0, 143.0, 156.0, 171.0, 190.0,
];

/// A continuous piecewise-linear curve through `(xs[k], ys[k])`, `xs` increasing from 0,
/// extended linearly beyond the last knot.
#[derive(Debug, Clone)]
struct Pl {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Pl {
    fn spec() -> Self {
        Pl {
            xs: (0..=10).map(|k| k as f64 / 10.0).collect(),
            ys: SPEC_W.to_vec(),
        }
    }

    fn at(&self, x: f64) -> f64 {
        let k = self.xs.len();
        let seg = match self.xs[1..].iter().position(|&b| x <= b) {
            Some(s) => s,
            None => k - 2,
        };
        let (x0, x1, y0, y1) = (
            self.xs[seg],
            self.xs[seg + 1],
            self.ys[seg],
            self.ys[seg + 1],
        );
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    }
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

fn assert_efficient(s: &Shares, tol: f64) {
    let sum: f64 = s.shares.iter().sum();
    let bound = tol * s.total.abs().max(1.0);
    assert!(
        (sum - s.total).abs() <= bound && s.residual.abs() <= bound,
        "Σ = {sum}, total = {}, residual = {}",
        s.total,
        s.residual
    );
}

// ---------------------------------------------------------------------------------------------
// Linear curves: every method is the proportional split
// ---------------------------------------------------------------------------------------------

#[test]
fn linear_curve_gives_proportional_split_in_all_four_methods() {
    let slopes = [120.0, 250.0, 7.5];
    let p = |x: &[f64]| 55.0 + x.iter().zip(&slopes).map(|(x, a)| x * a).sum::<f64>();
    let c0 = |x: f64| 20.0 + 120.0 * x;
    let c1 = |x: f64| 30.0 + 250.0 * x;
    let c2 = |x: f64| 5.0 + 7.5 * x;
    let usage = usage_from_rows(&[
        vec![0.3, 0.0, 2.0],
        vec![1.2, 0.5, 0.0],
        vec![0.0, 0.0, 0.0],
        vec![0.05, 0.9, 11.0],
        vec![0.7, 0.25, 3.5],
    ])
    .unwrap();
    let expected: Vec<f64> = usage
        .rows()
        .into_iter()
        .map(|r| r.iter().zip(&slopes).map(|(u, a)| u * a).sum())
        .collect();
    let total: f64 = expected.iter().sum();

    let methods = [
        aumann_shapley(&p, usage.view(), &AsOptions::default()).unwrap(),
        aumann_shapley_separable(&[&c0, &c1, &c2], usage.view()).unwrap(),
        shapley_exact(&p, usage.view()).unwrap(),
        shapley_sampled(&p, usage.view(), 50, 1).unwrap(),
    ];
    for (k, s) in methods.iter().enumerate() {
        // The numeric method differentiates by finite differences of watt-sized values, whose
        // rounding (~1e-13 W over steps of ~1e-5) leaves ~1e-9 W on a 300 W share: relative
        // 1e-9 there, absolute 1e-9 for the others.
        let tol = |x: f64| {
            if k == 0 {
                1e-9 * x.abs().max(1.0)
            } else {
                1e-9
            }
        };
        assert!(
            (s.total - total).abs() <= 1e-9,
            "method {k}: total {}",
            s.total
        );
        for (a, e) in s.shares.iter().zip(&expected) {
            assert!((a - e).abs() <= tol(*e), "method {k}: {a} vs {e}");
        }
        assert!(
            s.residual.abs() <= tol(total),
            "method {k}: residual {}",
            s.residual
        );
        assert_eq!(s.shares[2], 0.0, "method {k}: null player");
    }
    assert!(methods[..3].iter().all(|s| s.std_error.is_none()));
    let se = methods[3].std_error.as_ref().unwrap();
    assert!(se.iter().all(|&e| e.abs() <= 1e-9), "{se:?}");
}

// ---------------------------------------------------------------------------------------------
// A real nonlinear curve
// ---------------------------------------------------------------------------------------------

#[test]
fn numeric_aumann_shapley_matches_closed_form_on_specpower_curve() {
    let curve = Pl::spec();
    let p = |x: &[f64]| curve.at(x[0]);
    let c = |x: f64| curve.at(x);
    let cases: [&[f64]; 5] = [
        &[0.1, 0.25, 0.38],             // X = 0.73
        &[0.5, 0.5],                    // X = 1.0, on the last knot
        &[0.01, 0.02, 0.0, 0.015],      // low load, first segment
        &[0.3, 0.3, 0.2, 0.1, 0.05],    // X = 0.95
        &[0.123, 0.456, 0.011, 0.2001], // X ≈ 0.79
    ];
    for case in cases {
        let rows: Vec<Vec<f64>> = case.iter().map(|&u| vec![u]).collect();
        let usage = usage_from_rows(&rows).unwrap();
        let numeric = aumann_shapley(&p, usage.view(), &AsOptions::default()).unwrap();
        let closed = aumann_shapley_separable(&[&c], usage.view()).unwrap();
        assert!(rel_close(numeric.total, closed.total, 1e-12));
        for (a, b) in numeric.shares.iter().zip(&closed.shares) {
            assert!(rel_close(*a, *b, 1e-6), "{case:?}: {a} vs {b}");
        }
        assert!(numeric.residual.abs() <= 1e-6 * numeric.total.abs());
        assert!(closed.residual.abs() <= 1e-12 * closed.total.abs());
    }
}

#[test]
fn plain_composite_rule_is_first_order_on_kinks_and_refinement_fixes_it() {
    // Documents why AsOptions refines adaptively: 16 fixed segments put a slope jump inside a
    // segment and miss the closed form by far more than 1e-6.
    let curve = Pl::spec();
    let p = |x: &[f64]| curve.at(x[0]);
    let c = |x: f64| curve.at(x);
    let usage = usage_from_rows(&[vec![0.123], vec![0.456], vec![0.2001]]).unwrap();
    let closed = aumann_shapley_separable(&[&c], usage.view()).unwrap();
    let plain = AsOptions::default().with_max_bisections(0);
    let fixed = aumann_shapley(&p, usage.view(), &plain).unwrap();
    let adaptive = aumann_shapley(&p, usage.view(), &AsOptions::default()).unwrap();
    assert!(!rel_close(fixed.shares[0], closed.shares[0], 1e-6));
    assert!(fixed.residual.abs() > 1e-6 * fixed.total);
    assert!(rel_close(adaptive.shares[0], closed.shares[0], 1e-6));
}

#[test]
fn shapley_differs_from_aumann_shapley_on_nonlinear_curve_with_unequal_players() {
    let curve = Pl::spec();
    let p = |x: &[f64]| curve.at(x[0]);
    let c = |x: f64| curve.at(x);
    let usage = usage_from_rows(&[vec![0.2], vec![0.6]]).unwrap();
    let shap = shapley_exact(&p, usage.view()).unwrap();
    let numeric = aumann_shapley(&p, usage.view(), &AsOptions::default()).unwrap();
    let closed = aumann_shapley_separable(&[&c], usage.view()).unwrap();
    // P(0) = 60, P(0.2) = 95, P(0.6) = 132, P(0.8) = 156: v(N) = 96.
    // Aumann–Shapley: proportional to usage (one resource) → 24, 72.
    // Shapley: φ₁ = (35 + (96 − 72)) / 2 = 29.5, φ₂ = 66.5.
    assert!((closed.shares[0] - 24.0).abs() < 1e-9 && (closed.shares[1] - 72.0).abs() < 1e-9);
    assert!((numeric.shares[0] - 24.0).abs() < 1e-5);
    assert!((shap.shares[0] - 29.5).abs() < 1e-9 && (shap.shares[1] - 66.5).abs() < 1e-9);
    assert!((shap.shares[0] - numeric.shares[0]).abs() > 5.0);
    for s in [&shap, &numeric, &closed] {
        assert!((s.total - 96.0).abs() < 1e-9);
        assert_efficient(s, 1e-6);
    }
    assert_efficient(&shap, 1e-12);
    assert_efficient(&closed, 1e-12);
}

/// SPEC curve on CPU (units of cores: 16 cores at full load), a linear GPU term and a
/// CPU×memory-bandwidth interaction.
fn host_power(x: &[f64]) -> f64 {
    let spec = Pl::spec();
    spec.at(x[0] / 16.0) + 210.0 * x[1] + 3.0 * x[0] * x[2]
}

fn eight_players() -> Array2<f64> {
    usage_from_rows(&[
        vec![1.0, 0.0, 0.5],
        vec![3.5, 0.2, 0.0],
        vec![0.2, 0.0, 0.1],
        vec![2.0, 0.0, 1.5],
        vec![0.0, 0.6, 0.0],
        vec![4.0, 0.1, 0.3],
        vec![0.7, 0.0, 0.0],
        vec![1.6, 0.05, 0.9],
    ])
    .unwrap()
}

#[test]
fn sampled_shapley_is_within_four_standard_errors_of_exact_for_eight_players() {
    let usage = eight_players();
    let exact = shapley_exact(&host_power, usage.view()).unwrap();
    let sampled = shapley_sampled(&host_power, usage.view(), 2000, 42).unwrap();
    let se = sampled.std_error.as_ref().unwrap();
    assert_efficient(&exact, 1e-9);
    assert_efficient(&sampled, 1e-9);
    assert_eq!(sampled.total, exact.total);
    let mut informative = 0;
    for (i, ((s, e), se)) in sampled.shares.iter().zip(&exact.shares).zip(se).enumerate() {
        assert!(
            (s - e).abs() <= 4.0 * se + 1e-9,
            "player {i}: sampled {s} exact {e} se {se}"
        );
        if *se > 0.0 {
            informative += 1;
        }
    }
    assert!(
        informative >= 6,
        "standard errors should not vanish: {se:?}"
    );
    // and the standard errors shrink like 1/√K
    let more = shapley_sampled(&host_power, usage.view(), 8000, 42).unwrap();
    let se4 = more.std_error.unwrap();
    for (i, (a, b)) in se.iter().zip(&se4).enumerate() {
        if *a > 1e-6 {
            let ratio = b / a;
            assert!((0.35..0.65).contains(&ratio), "player {i}: ratio {ratio}");
        }
    }
}

#[test]
fn sampled_shapley_is_deterministic_for_a_seed() {
    let usage = eight_players();
    let a = shapley_sampled(&host_power, usage.view(), 300, 9).unwrap();
    let b = shapley_sampled(&host_power, usage.view(), 300, 9).unwrap();
    let c = shapley_sampled(&host_power, usage.view(), 300, 10).unwrap();
    let bits = |s: &Shares| -> Vec<u64> {
        s.shares
            .iter()
            .chain(s.std_error.as_ref().unwrap())
            .chain([&s.total, &s.residual])
            .map(|x| x.to_bits())
            .collect()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(a.shares, c.shares);
    // Also on a pool of one thread: chunks are fixed, so the result does not depend on
    // scheduling.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let d = pool.install(|| shapley_sampled(&host_power, usage.view(), 300, 9).unwrap());
    assert_eq!(bits(&a), bits(&d));
}

#[test]
fn sampled_with_two_players_is_exact_and_single_pair_has_unknown_error() {
    let usage = usage_from_rows(&[vec![4.0, 0.0, 1.0], vec![9.0, 0.3, 0.0]]).unwrap();
    let exact = shapley_exact(&host_power, usage.view()).unwrap();
    let s = shapley_sampled(&host_power, usage.view(), 1, 0).unwrap();
    for (a, b) in s.shares.iter().zip(&exact.shares) {
        assert!((a - b).abs() < 1e-9);
    }
    assert!(s.std_error.unwrap().iter().all(|e| e.is_infinite()));
    // one active player: the whole value, no uncertainty
    let solo = usage_from_rows(&[vec![0.0, 0.0, 0.0], vec![9.0, 0.3, 0.0]]).unwrap();
    let s = shapley_sampled(&host_power, solo.view(), 3, 0).unwrap();
    assert_eq!(s.shares, vec![0.0, s.total]);
    assert_eq!(s.std_error, Some(vec![0.0, 0.0]));
}

#[test]
fn exact_shapley_handles_twenty_players() {
    let rows: Vec<Vec<f64>> = (0..MAX_EXACT_PLAYERS)
        .map(|i| vec![0.01 + 0.002 * i as f64])
        .collect();
    let usage = usage_from_rows(&rows).unwrap();
    let curve = Pl::spec();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let p = |x: &[f64]| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        curve.at(x[0])
    };
    let s = shapley_exact(&p, usage.view()).unwrap();
    assert_efficient(&s, 1e-9);
    // 2^n − 1 non-empty coalitions, plus P(0) and P(X) for the total.
    assert_eq!(calls.into_inner(), (1 << MAX_EXACT_PLAYERS) + 1);
    assert!(s.shares.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn all_null_players_get_nothing() {
    let usage = Array2::<f64>::zeros((3, 2));
    let p = |x: &[f64]| 100.0 + x[0] + x[1];
    let c = |x: f64| 50.0 + x;
    for s in [
        aumann_shapley(&p, usage.view(), &AsOptions::default()).unwrap(),
        aumann_shapley_separable(&[&c, &c], usage.view()).unwrap(),
        shapley_exact(&p, usage.view()).unwrap(),
        shapley_sampled(&p, usage.view(), 4, 0).unwrap(),
    ] {
        assert_eq!(s.shares, vec![0.0; 3]);
        assert_eq!((s.total, s.residual), (0.0, 0.0));
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn is_invalid<T: std::fmt::Debug>(r: Result<T, kelvin_attribution::AttributionError>) -> bool {
    matches!(r, Err(e) if e.kind() == AttributionErrorKind::InvalidInput)
}

#[test]
fn bad_input_is_a_typed_error_not_a_panic() {
    let p = |x: &[f64]| 60.0 + 100.0 * x[0];
    let c = |x: f64| 60.0 + 100.0 * x;
    let o = AsOptions::default();

    // ragged and empty
    assert!(is_invalid(usage_from_rows(&[vec![0.1, 0.2], vec![0.3]])));
    assert!(is_invalid(usage_from_rows::<Vec<f64>>(&[])));
    assert!(is_invalid(usage_from_rows(&[Vec::<f64>::new()])));
    for empty in [Array2::<f64>::zeros((0, 1)), Array2::<f64>::zeros((2, 0))] {
        let u = empty.view();
        assert!(is_invalid(aumann_shapley(&p, u, &o)));
        assert!(is_invalid(aumann_shapley_separable(&[&c], u)));
        assert!(is_invalid(shapley_exact(&p, u)));
        assert!(is_invalid(shapley_sampled(&p, u, 10, 0)));
    }

    // NaN, infinite, negative usage
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5] {
        let usage = usage_from_rows(&[vec![0.2], vec![bad]]).unwrap();
        let u = usage.view();
        let e = aumann_shapley(&p, u, &o).unwrap_err();
        assert_eq!(e.place(), "usage[1][0]");
        assert!(is_invalid(aumann_shapley_separable(&[&c], u)));
        assert!(is_invalid(shapley_exact(&p, u)));
        assert!(is_invalid(shapley_sampled(&p, u, 10, 0)));
    }
    // totals that overflow
    let huge = usage_from_rows(&[vec![f64::MAX], vec![f64::MAX]]).unwrap();
    assert!(is_invalid(shapley_exact(&p, huge.view())));

    // too many players for the exact method; the sampled one takes them
    let many = Array2::from_elem((MAX_EXACT_PLAYERS + 1, 1), 0.01);
    let e = shapley_exact(&p, many.view()).unwrap_err();
    assert!(e.reason().contains("shapley_sampled"), "{e}");
    let s = shapley_sampled(&p, many.view(), 5, 0).unwrap();
    assert_efficient(&s, 1e-9);
    let zeros = Array2::<f64>::zeros((MAX_EXACT_PLAYERS + 1, 1));
    assert!(is_invalid(shapley_exact(&p, zeros.view())));

    // method arguments
    let usage = usage_from_rows(&[vec![0.2, 0.1], vec![0.3, 0.0]]).unwrap();
    let u = usage.view();
    assert!(is_invalid(shapley_sampled(&p, u, 0, 0)));
    assert!(is_invalid(aumann_shapley_separable(&[&c], u)));
    for bad in [
        o.with_nodes(0),
        o.with_nodes(65),
        o.with_segments(0),
        o.with_rel_step(0.0),
        o.with_rel_step(1e-13),
        o.with_rel_step(f64::NAN),
        o.with_rel_step(0.5),
        o.with_rel_tol(-1.0),
        o.with_rel_tol(f64::INFINITY),
    ] {
        assert!(is_invalid(aumann_shapley(&p, u, &bad)), "{bad:?}");
    }

    // a curve that misbehaves
    let nan_above = |x: &[f64]| if x[0] > 0.4 { f64::NAN } else { x[0] };
    let inf_at_zero = |x: &[f64]| if x[0] == 0.0 { f64::INFINITY } else { x[0] };
    let c_nan = |x: f64| if x > 0.0 { f64::NAN } else { 0.0 };
    assert!(is_invalid(aumann_shapley(&nan_above, u, &o)));
    assert!(is_invalid(shapley_exact(&nan_above, u)));
    assert!(is_invalid(shapley_sampled(&inf_at_zero, u, 3, 0)));
    assert!(is_invalid(aumann_shapley_separable(&[&c, &c_nan], u)));
    let three = usage_from_rows(&[vec![0.2, 0.0], vec![0.1, 0.0], vec![0.3, 0.0]]).unwrap();
    let nan_mid = |x: &[f64]| {
        if (x[0] - 0.3).abs() < 1e-12 {
            f64::NAN
        } else {
            x[0]
        }
    };
    assert!(is_invalid(shapley_exact(&nan_mid, three.view())));
    assert!(is_invalid(shapley_sampled(&nan_mid, three.view(), 20, 0)));
}

#[test]
fn options_setters_and_defaults() {
    let o = AsOptions::default();
    assert_eq!((o.nodes, o.segments, o.rel_step), (8, 16, 1e-6));
    let o = o
        .with_nodes(3)
        .with_segments(2)
        .with_rel_step(1e-5)
        .with_rel_tol(1e-8)
        .with_max_bisections(10);
    assert_eq!(
        (o.nodes, o.segments, o.rel_step, o.rel_tol, o.max_bisections),
        (3, 2, 1e-5, 1e-8, 10)
    );
}

#[test]
fn gauss_legendre_rules_integrate_polynomials_exactly() {
    // Along the ray P(t·X) with P = x^k, I = X^(k−1); an n-node rule is exact to degree 2n−1.
    for nodes in [1usize, 2, 3, 5, 8, 13, 20, 64] {
        let deg = 2 * nodes; // ∂P has degree 2n − 1
        let p = move |x: &[f64]| x[0].powi(deg as i32);
        let usage = usage_from_rows(&[vec![0.4], vec![0.5]]).unwrap();
        let o = AsOptions::default()
            .with_nodes(nodes)
            .with_segments(1)
            .with_max_bisections(0)
            .with_rel_step(1e-6);
        let s = aumann_shapley(&p, usage.view(), &o).unwrap();
        let exact = 0.9f64.powi(deg as i32 - 1);
        let got = s.shares[0] / 0.4;
        // only the finite-difference error remains, O(step²)
        assert!(
            rel_close(got, exact, 1e-6),
            "nodes {nodes}: {got} vs {exact}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Random monotone piecewise-linear curves (one per resource) and an optional cross term.
#[derive(Debug, Clone)]
struct Game {
    usage: Vec<Vec<f64>>,
    curves: Vec<Pl>,
    cross: f64,
}

impl Game {
    fn separable(&self, x: &[f64]) -> f64 {
        self.curves.iter().zip(x).map(|(c, &x)| c.at(x)).sum()
    }

    fn full(&self, x: &[f64]) -> f64 {
        let cross = if x.len() > 1 {
            self.cross * x[0] * x[1]
        } else {
            0.0
        };
        self.separable(x) + cross
    }

    fn matrix(&self) -> Array2<f64> {
        usage_from_rows(&self.usage).unwrap()
    }
}

fn pl_curve() -> impl Strategy<Value = Pl> {
    (
        0.0f64..200.0,
        proptest::collection::vec((0.05f64..1.5, 0.0f64..300.0), 1..5),
    )
        .prop_map(|(idle, pieces)| {
            let (mut xs, mut ys) = (vec![0.0], vec![idle]);
            for (dx, slope) in pieces {
                let (x, y) = (*xs.last().unwrap(), *ys.last().unwrap());
                xs.push(x + dx);
                ys.push(y + slope * dx);
            }
            Pl { xs, ys }
        })
}

fn game() -> impl Strategy<Value = Game> {
    (1usize..=8, 1usize..=3).prop_flat_map(|(n, m)| {
        let cell = prop_oneof![1 => Just(0.0), 3 => 0.0f64..1.0];
        (
            proptest::collection::vec(proptest::collection::vec(cell, m), n),
            proptest::collection::vec(pl_curve(), m),
            prop_oneof![Just(0.0), 0.0f64..50.0],
        )
            .prop_map(|(usage, curves, cross)| Game {
                usage,
                curves,
                cross,
            })
    })
}

/// The game with a copy of player 0 and a null player appended (so `n ≤ 10`).
fn with_twin_and_null(g: &Game) -> Game {
    let mut g = g.clone();
    let m = g.curves.len();
    g.usage.push(g.usage[0].clone());
    g.usage.push(vec![0.0; m]);
    g
}

fn check_axioms(s: &Shares, n: usize, exact_symmetry: bool) -> Result<(), TestCaseError> {
    let scale = s.total.abs().max(1.0);
    let (twin, null) = (n - 2, n - 1);
    prop_assert_eq!(s.shares[null], 0.0, "null player");
    if exact_symmetry {
        prop_assert_eq!(s.shares[0], s.shares[twin], "symmetry");
    } else {
        prop_assert!(
            (s.shares[0] - s.shares[twin]).abs() <= 1e-9 * scale,
            "symmetry"
        );
    }
    for (i, &x) in s.shares.iter().enumerate() {
        prop_assert!(x >= 0.0, "share {} = {} < 0", i, x);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn exact_shapley_axioms(g in game()) {
        let g = with_twin_and_null(&g);
        let full = |x: &[f64]| g.full(x);
        let s = shapley_exact(&full, g.matrix().view()).unwrap();
        let bound = 1e-9 * s.total.abs().max(1.0);
        prop_assert!((s.shares.iter().sum::<f64>() - s.total).abs() <= bound);
        prop_assert!(s.residual.abs() <= bound);
        check_axioms(&s, g.usage.len(), false)?;
    }

    #[test]
    fn separable_aumann_shapley_axioms(g in game()) {
        let g = with_twin_and_null(&g);
        let curves: Vec<Box<dyn Fn(f64) -> f64 + '_>> =
            g.curves.iter().map(|c| Box::new(move |x| c.at(x)) as Box<dyn Fn(f64) -> f64>).collect();
        let refs: Vec<&dyn Fn(f64) -> f64> = curves.iter().map(|b| b.as_ref()).collect();
        let s = aumann_shapley_separable(&refs, g.matrix().view()).unwrap();
        let bound = 1e-9 * s.total.abs().max(1.0);
        prop_assert!((s.shares.iter().sum::<f64>() - s.total).abs() <= bound);
        prop_assert!(s.residual.abs() <= bound);
        check_axioms(&s, g.usage.len(), true)?;
    }

    #[test]
    fn numeric_aumann_shapley_axioms_and_agreement(g in game()) {
        let g = with_twin_and_null(&g);
        let full = |x: &[f64]| g.full(x);
        let s = aumann_shapley(&full, g.matrix().view(), &AsOptions::default()).unwrap();
        prop_assert!(
            s.residual.abs() <= 1e-6 * s.total.abs() + 1e-12,
            "residual {} of {}", s.residual, s.total
        );
        check_axioms(&s, g.usage.len(), true)?;
        // Without the cross term it is the closed form.
        if g.cross == 0.0 {
            let curves: Vec<Box<dyn Fn(f64) -> f64 + '_>> = g.curves.iter()
                .map(|c| Box::new(move |x| c.at(x)) as Box<dyn Fn(f64) -> f64>).collect();
            let refs: Vec<&dyn Fn(f64) -> f64> = curves.iter().map(|b| b.as_ref()).collect();
            let closed = aumann_shapley_separable(&refs, g.matrix().view()).unwrap();
            for (a, b) in s.shares.iter().zip(&closed.shares) {
                prop_assert!((a - b).abs() <= 1e-6 * closed.total.abs() + 1e-12, "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn sampled_shapley_null_player_and_efficiency(g in game(), seed in any::<u64>()) {
        let g = with_twin_and_null(&g);
        let full = |x: &[f64]| g.full(x);
        let s = shapley_sampled(&full, g.matrix().view(), 20, seed).unwrap();
        let bound = 1e-9 * s.total.abs().max(1.0);
        prop_assert!((s.shares.iter().sum::<f64>() - s.total).abs() <= bound);
        prop_assert_eq!(s.shares[g.usage.len() - 1], 0.0);
        for &x in &s.shares {
            prop_assert!(x >= 0.0);
        }
    }
}
