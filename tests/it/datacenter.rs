//! The `datacenter` example's fleet, with a round limit instead of a time limit so the result
//! does not depend on the machine: Kelvin places everything, breaks nothing, and draws at
//! least 10 % less facility power than Kubernetes-like spreading, on the mixed fleet and on
//! each homogeneous one.

use kelvin::fleet::server_models;
use kelvin::placement::fleet::{Policy, Sampling, SolveOptions, Synthetic, baseline, solve};

#[test]
fn kelvin_beats_spread_by_ten_percent_without_violations() {
    let models = server_models().unwrap();
    let fleets = std::iter::once(models.clone()).chain(models.iter().map(|m| vec![m.clone()]));
    for (k, fleet) in fleets.enumerate() {
        let p = Synthetic::new(fleet).build(1).unwrap();
        let opts = SolveOptions::default()
            .with_seed(1)
            .with_rounds(1_500)
            .with_time_limit_ms(None);
        let kelvin = solve(&p, &opts).unwrap();
        let spread = baseline(&p, Policy::Spread, Sampling::default()).unwrap();
        let (k_w, s_w) = (
            kelvin.evaluation.facility_w(),
            spread.evaluation.facility_w(),
        );
        println!(
            "fleet {k}: kelvin {:.2} kW ({} hosts, gap {:.2} %), spread {:.2} kW: {:+.1} %",
            k_w / 1e3,
            kelvin.evaluation.hosts_awake,
            kelvin.gap() * 100.0,
            s_w / 1e3,
            (k_w / s_w - 1.0) * 100.0
        );
        assert!(
            kelvin.evaluation.violations.is_empty(),
            "fleet {k}: {:?}",
            kelvin.evaluation.violations
        );
        assert_eq!(kelvin.evaluation.unplaced, 0, "fleet {k}");
        assert!(
            k_w <= 0.9 * s_w,
            "fleet {k}: {k_w} W is not 10 % below spread's {s_w} W"
        );
        assert!(kelvin.bound.facility_w <= k_w);
    }
}
