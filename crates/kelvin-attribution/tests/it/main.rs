//! Integration tests for `kelvin-attribution`, one binary.
//!
//! - `properties`: proptest invariants of every policy that claims them: exact conservation,
//!   non-negativity, null player, symmetry.

mod facility;
mod ledger;
mod power;
mod shapley;

mod properties {
    use kelvin_attribution::{AlignedInput, HostSeries, Policy, attribute};
    use kelvin_model::{EntityId, Timestamp};
    use proptest::prelude::*;

    fn host(i: usize, n: usize) -> impl Strategy<Value = HostSeries> {
        let energy =
            proptest::collection::vec(prop_oneof![9 => 0.0f64..50_000.0, 1 => Just(f64::NAN)], n);
        let wl = proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![8 => 0.0f64..120.0, 1 => Just(0.0), 1 => Just(f64::NAN)],
                n,
            ),
            0..6,
        );
        (energy, wl).prop_map(move |(energy_j, wl)| HostSeries {
            host: EntityId::new(format!("h{i}")).unwrap(),
            cores: 16.0,
            energy_j,
            workloads: wl
                .into_iter()
                .enumerate()
                .map(|(k, c)| (EntityId::new(format!("h{i}-w{k}")).unwrap(), c))
                .collect(),
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

    proptest! {
        #[test]
        fn energy_is_conserved_exactly(input in input()) {
            let bill = attribute(&input, Policy::CpuShare).unwrap();
            for (h, hb) in input.hosts.iter().zip(&bill.hosts) {
                let expected: u64 = h.energy_j.iter().filter(|e| !e.is_nan()).map(|e| (e * 1e6).round() as u64).sum();
                prop_assert_eq!(hb.measured_uj, expected);
                prop_assert!(hb.is_balanced());
            }
            prop_assert_eq!(bill.measured_uj(), bill.attributed_uj() + bill.unattributed_uj());
        }

        #[test]
        fn null_player_pays_nothing(mut input in input()) {
            let n = input.intervals();
            input.hosts[0].workloads.push((EntityId::new("idle-one").unwrap(), vec![0.0; n]));
            let bill = attribute(&input, Policy::CpuShare).unwrap();
            let share = bill.hosts[0].workloads.last().unwrap();
            prop_assert_eq!(share.energy_uj, 0);
        }

        #[test]
        fn symmetric_workloads_pay_the_same(mut input in input(), cpu in proptest::collection::vec(0.0f64..100.0, 30)) {
            let n = input.intervals();
            let c: Vec<f64> = cpu[..n].to_vec();
            input.hosts[0].workloads.push((EntityId::new("twin-a").unwrap(), c.clone()));
            input.hosts[0].workloads.push((EntityId::new("twin-b").unwrap(), c));
            let bill = attribute(&input, Policy::CpuShare).unwrap();
            let w = &bill.hosts[0].workloads;
            let (a, b) = (w[w.len() - 2].energy_uj, w[w.len() - 1].energy_uj);
            // equal up to the one microjoule per interval that rounding hands out
            prop_assert!(a.abs_diff(b) <= n as u64, "{} vs {}", a, b);
        }
    }
}
mod validation;
