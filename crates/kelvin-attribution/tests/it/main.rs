//! Integration tests for `kelvin-attribution`, one binary.
//!
//! - `properties`: proptest invariants of the facade's path (`attribute` on an `AlignedInput`)
//!   under its two policies: exact conservation, null player, symmetry.
//! - `ledger`: every policy (built-in or defined in the test) against the axioms it claims.

mod facility;
mod ledger;
mod power;
mod shapley;

mod properties {
    use kelvin_attribution::{
        AlignedInput, HostSeries, LedgerOptions, Policy, WorkloadSeries, attribute,
    };
    use kelvin_model::{EntityId, Timestamp};
    use proptest::prelude::*;

    /// The facade's policies: Kelvin 0.1's CPU share and the default two-part tariff.
    const POLICIES: [Policy; 2] = [Policy::CpuShare, Policy::TwoPartTariff];

    fn host(i: usize, n: usize) -> impl Strategy<Value = HostSeries> {
        let energy =
            proptest::collection::vec(prop_oneof![9 => 0.0f64..50_000.0, 1 => Just(f64::NAN)], n);
        let wl = proptest::collection::vec(
            (
                prop_oneof![1 => Just(0.0), 2 => 0.0f64..8.0],
                proptest::collection::vec(
                    prop_oneof![8 => 0.0f64..120.0, 1 => Just(0.0), 1 => Just(f64::NAN)],
                    n,
                ),
            ),
            0..6,
        );
        (energy, wl).prop_map(move |(energy_j, wl)| HostSeries {
            host: EntityId::new(format!("h{i}")).unwrap(),
            cores: 16.0,
            energy_j,
            meter_rel_sigma: 0.02,
            workloads: wl
                .into_iter()
                .enumerate()
                .map(|(k, (req, c))| {
                    WorkloadSeries::new(EntityId::new(format!("h{i}-w{k}")).unwrap(), req, c)
                })
                .collect(),
            system_cpu_s: None,
        })
    }

    fn input() -> impl Strategy<Value = AlignedInput> {
        (1usize..30).prop_flat_map(|n| {
            proptest::collection::vec(any::<u8>(), 1..4).prop_flat_map(move |hs| {
                let hosts: Vec<_> = (0..hs.len()).map(|i| host(i, n)).collect();
                hosts.prop_map(|hosts| AlignedInput {
                    start: Timestamp::from_secs(1_700_000_000),
                    interval_ns: 15_000_000_000,
                    hosts,
                })
            })
        })
    }

    fn opts(p: Policy) -> LedgerOptions {
        LedgerOptions::default().with_policy(p)
    }

    proptest! {
        #[test]
        fn energy_is_conserved_exactly(input in input()) {
            for p in POLICIES {
                let ledger = attribute(&input, &opts(p)).unwrap();
                for (h, sheet) in input.hosts.iter().zip(&ledger.meters) {
                    let expected: u64 = h.energy_j.iter().filter(|e| !e.is_nan()).map(|e| (e * 1e6).round() as u64).sum();
                    prop_assert_eq!(sheet.measured.uj, expected);
                    prop_assert!(sheet.is_balanced());
                }
                prop_assert_eq!(ledger.measured_uj(), ledger.attributed_uj() + ledger.unattributed_uj());
            }
        }

        #[test]
        fn null_player_pays_nothing(mut input in input()) {
            let n = input.intervals();
            input.hosts[0].workloads.push(WorkloadSeries::new(EntityId::new("idle-one").unwrap(), 0.0, vec![0.0; n]));
            for p in POLICIES {
                let ledger = attribute(&input, &opts(p)).unwrap();
                let line = ledger.meters[0].lines.last().unwrap();
                prop_assert_eq!(ledger.workload_of(line).as_str(), "idle-one");
                prop_assert_eq!(line.energy.uj, 0, "{:?}", p);
            }
        }

        #[test]
        fn symmetric_workloads_pay_the_same(mut input in input(), cpu in proptest::collection::vec(0.0f64..100.0, 30), req in 0.0f64..4.0) {
            let n = input.intervals();
            let c: Vec<f64> = cpu[..n].to_vec();
            input.hosts[0].workloads.push(WorkloadSeries::new(EntityId::new("twin-a").unwrap(), req, c.clone()));
            input.hosts[0].workloads.push(WorkloadSeries::new(EntityId::new("twin-b").unwrap(), req, c));
            for p in POLICIES {
                let ledger = attribute(&input, &opts(p)).unwrap();
                let w = &ledger.meters[0].lines;
                let (a, b) = (w[w.len() - 2].energy.uj, w[w.len() - 1].energy.uj);
                // equal up to the one microjoule per interval and split that rounding hands out
                prop_assert!(a.abs_diff(b) <= 2 * n as u64, "{:?}: {} vs {}", p, a, b);
            }
        }
    }
}
mod validation;
