use std::collections::{BTreeMap, HashSet};

use kelvin_model::{EntityId, TimeRange, Timestamp};
use serde::Serialize;

use crate::AttributionError;
use crate::ledger::{
    Consumer, KeyCurve, LedgerInput, LedgerOptions, MeterInput, MeterResource, Policy, settle,
};
use crate::power::{IdleOptions, Resource, calibrate_idle};

/// One host's aligned data: interval energies and its workloads' CPU seconds on the same grid.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSeries {
    /// The host (the meter's entity).
    pub host: EntityId,
    /// Allocatable CPU cores (for utilization and power models).
    pub cores: f64,
    /// Measured energy per interval, joules; NaN where unmeasured (a meter gap).
    pub energy_j: Vec<f64>,
    /// CPU seconds per interval for each workload on the host; NaN where unknown (treated as
    /// no use in that interval, and counted in [`HostBalance::cpu_gaps`]).
    pub workloads: Vec<(EntityId, Vec<f64>)>,
}

/// Aligned input for a window: intervals `[start + i·interval, start + (i+1)·interval)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedInput {
    /// Start of the first interval.
    pub start: Timestamp,
    /// Interval length in nanoseconds, positive.
    pub interval_ns: i64,
    /// Hosts, each with the same number of intervals.
    pub hosts: Vec<HostSeries>,
}

impl AlignedInput {
    /// Number of intervals (of the first host; [`attribute`] checks they all agree).
    pub fn intervals(&self) -> usize {
        self.hosts.first().map_or(0, |h| h.energy_j.len())
    }
}

/// One workload's share of a host's energy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadShare {
    /// The workload.
    pub workload: EntityId,
    /// Attributed energy, microjoules.
    pub energy_uj: u64,
}

/// One host's balance sheet over the window, in microjoules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostBalance {
    /// The host.
    pub host: EntityId,
    /// Measured energy over the measured intervals.
    pub measured_uj: u64,
    /// Per-workload shares, in input order.
    pub workloads: Vec<WorkloadShare>,
    /// Energy of intervals in which no workload used CPU (idle hosts), attributed to nobody.
    pub unattributed_uj: u64,
    /// Intervals in the window.
    pub intervals: usize,
    /// Intervals without an energy measurement (excluded from `measured_uj`).
    pub unmeasured_intervals: usize,
    /// (workload, interval) cells whose CPU time was unknown.
    pub cpu_gaps: usize,
}

impl HostBalance {
    /// Σ workload shares.
    pub fn attributed_uj(&self) -> u64 {
        self.workloads.iter().map(|w| w.energy_uj).sum()
    }

    /// Whether `measured = Σ workloads + unattributed` holds (it always does for a bill made by
    /// [`attribute`]; this is for callers that check).
    pub fn is_balanced(&self) -> bool {
        self.attributed_uj().checked_add(self.unattributed_uj) == Some(self.measured_uj)
    }
}

/// The result of attributing a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bill {
    /// The window covered (start of the first to end of the last interval).
    pub window: TimeRange,
    /// The policy used.
    pub policy: Policy,
    /// Per-host balance sheets, in input order.
    pub hosts: Vec<HostBalance>,
}

impl Bill {
    /// Total measured energy over all hosts, microjoules (u128: fleets exceed u64).
    pub fn measured_uj(&self) -> u128 {
        self.hosts.iter().map(|h| h.measured_uj as u128).sum()
    }

    /// Total attributed to workloads.
    pub fn attributed_uj(&self) -> u128 {
        self.hosts.iter().map(|h| h.attributed_uj() as u128).sum()
    }

    /// Total unattributed.
    pub fn unattributed_uj(&self) -> u128 {
        self.hosts.iter().map(|h| h.unattributed_uj as u128).sum()
    }

    /// Each workload's total over all hosts, sorted by workload id.
    pub fn workload_totals(&self) -> BTreeMap<&EntityId, u128> {
        let mut m = BTreeMap::new();
        for h in &self.hosts {
            for w in &h.workloads {
                *m.entry(&w.workload).or_insert(0u128) += w.energy_uj as u128;
            }
        }
        m
    }
}

/// Attributes every host's measured energy to its workloads: the facade's entry point for
/// hosts whose workloads are described by CPU seconds alone. It builds a [`LedgerInput`]
/// (one meter per host, one consumer per workload, CPU as the only resource) and settles it
/// with [`settle`]; see [`crate::ledger`] for the policies.
///
/// For policies with an idle floor, the floor is calibrated per host from its quiet
/// intervals ([`crate::power::calibrate_idle`]); [`Policy::CpuShare`] and
/// [`Policy::FullAbsorption`] need none.
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] for a non-positive interval, series whose
/// lengths differ, negative or infinite energy or CPU time, or duplicate ids;
/// [`crate::AttributionErrorKind::Overflow`] when a total exceeds `u64` microjoules.
pub fn attribute(input: &AlignedInput, policy: Policy) -> Result<Bill, AttributionError> {
    let ledger = attribute_ledger(input, policy, 0.0)?;
    let hosts = ledger
        .meters
        .iter()
        .map(|m| HostBalance {
            host: m.meter.clone(),
            measured_uj: m.measured.uj,
            workloads: m
                .lines
                .iter()
                .map(|l| WorkloadShare {
                    workload: ledger.workloads[l.workload].clone(),
                    energy_uj: l.energy.uj,
                })
                .collect(),
            unattributed_uj: m.accounts.iter().map(|a| a.uj).sum(),
            intervals: m.intervals,
            unmeasured_intervals: m.unmeasured_intervals,
            cpu_gaps: m.usage_gaps,
        })
        .collect();
    Ok(Bill {
        window: ledger.window,
        policy,
        hosts,
    })
}

/// What [`attribute`] settles, as the full [`Ledger`](crate::Ledger): every line with its
/// static and dynamic parts and its interval. `meter_rel_sigma` is the meters' relative
/// standard uncertainty (e.g. 0.02 for a BMC reading good to ±2 %); it widens the intervals
/// and never changes the split.
///
/// # Errors
/// As [`attribute`].
pub fn attribute_ledger(
    input: &AlignedInput,
    policy: Policy,
    meter_rel_sigma: f64,
) -> Result<crate::Ledger, AttributionError> {
    let n = input.intervals();
    if n == 0 {
        return Err(AttributionError::invalid(
            "input",
            "no intervals to attribute",
        ));
    }
    let mut seen_workloads = HashSet::new();
    let mut workloads = Vec::new();
    let mut meters = Vec::with_capacity(input.hosts.len());
    let secs = input.interval_ns as f64 / 1e9;
    for h in &input.hosts {
        let mut consumers = Vec::with_capacity(h.workloads.len());
        for (w, cpu) in &h.workloads {
            if !seen_workloads.insert(w) {
                return Err(AttributionError::invalid(
                    format!("host {}, workload {w}", h.host),
                    "workload listed twice",
                ));
            }
            if cpu.len() != n {
                return Err(AttributionError::invalid(
                    format!("host {}, workload {w}", h.host),
                    format!("{} CPU intervals, expected {n}", cpu.len()),
                ));
            }
            if let Some((i, c)) = cpu
                .iter()
                .enumerate()
                .find(|(_, c)| c.is_infinite() || **c < 0.0)
            {
                return Err(AttributionError::invalid(
                    format!("host {}, workload {w}, interval {i}", h.host),
                    format!("CPU time {c} s is negative or infinite"),
                ));
            }
            consumers.push(Consumer {
                workload: workloads.len(),
                reservation: 0.0,
                usage: vec![cpu.clone()],
                signature: None,
            });
            workloads.push(w.clone());
        }
        let cores = if h.cores.is_finite() && h.cores > 0.0 {
            h.cores
        } else {
            1.0
        };
        let idle_w = match policy {
            Policy::CpuShare | Policy::FullAbsorption => vec![0.0; h.energy_j.len()],
            _ if secs > 0.0 => host_floor(h, n, secs, cores)?,
            _ => vec![0.0; h.energy_j.len()],
        };
        meters.push(MeterInput {
            meter: h.host.clone(),
            energy_j: h.energy_j.clone(),
            sigma_j: None,
            rel_sigma: meter_rel_sigma,
            idle_w,
            idle_sigma_w: 0.0,
            resources: vec![MeterResource {
                resource: Resource::Cpu,
                capacity: cores,
                curve: KeyCurve::Linear { watts_at_full: 1.0 },
            }],
            consumers,
            system: None,
            key_rel_sigma: 0.0,
        });
    }
    settle(
        &LedgerInput {
            start: input.start,
            interval_ns: input.interval_ns,
            workloads,
            meters,
        },
        &LedgerOptions::default().with_policy(policy),
    )
}

/// The calibrated idle floor of a host, from its power and CPU utilization.
fn host_floor(
    h: &HostSeries,
    n: usize,
    secs: f64,
    cores: f64,
) -> Result<Vec<f64>, AttributionError> {
    let power: Vec<f64> = h.energy_j.iter().map(|e| e / secs).collect();
    let activity: Vec<f64> = (0..n)
        .map(|i| {
            h.workloads
                .iter()
                .map(|(_, c)| c.get(i).copied().filter(|x| !x.is_nan()).unwrap_or(0.0))
                .sum::<f64>()
                / (secs * cores)
        })
        .collect();
    let floor = calibrate_idle(&power, &activity, &IdleOptions::default())
        .map_err(|e| AttributionError::invalid(format!("host {}", h.host), e.reason()))?;
    Ok(floor.floor_w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    fn input(energy: Vec<f64>, wl: Vec<(&str, Vec<f64>)>) -> AlignedInput {
        AlignedInput {
            start: Timestamp::from_secs(1_700_000_000),
            interval_ns: 15_000_000_000,
            hosts: vec![HostSeries {
                host: id("h1"),
                cores: 8.0,
                energy_j: energy,
                workloads: wl.into_iter().map(|(w, c)| (id(w), c)).collect(),
            }],
        }
    }

    #[test]
    fn idle_intervals_and_gaps_are_accounted() {
        let b = attribute(
            &input(
                vec![3000.0, 3000.0, f64::NAN, 4500.0],
                vec![
                    ("a", vec![0.0, 10.0, 5.0, f64::NAN]),
                    ("b", vec![0.0, 30.0, 5.0, 20.0]),
                ],
            ),
            Policy::CpuShare,
        )
        .unwrap();
        let h = &b.hosts[0];
        assert_eq!(h.measured_uj, 10_500_000_000);
        assert_eq!(h.unattributed_uj, 3_000_000_000);
        assert_eq!(h.workloads[0].energy_uj, 750_000_000);
        assert_eq!(h.workloads[1].energy_uj, 2_250_000_000 + 4_500_000_000);
        assert_eq!((h.unmeasured_intervals, h.cpu_gaps), (1, 1));
        assert!(h.is_balanced());
        assert_eq!(b.window.len_nanos(), 60_000_000_000);
    }

    #[test]
    fn bad_input_is_a_typed_error_with_place() {
        let e = attribute(
            &input(vec![1.0, 2.0], vec![("a", vec![1.0])]),
            Policy::CpuShare,
        )
        .unwrap_err();
        assert_eq!(e.kind(), crate::AttributionErrorKind::InvalidInput);
        assert_eq!(e.place(), "host h1, workload a");
        let e = attribute(&input(vec![1.0, -2.0], vec![]), Policy::CpuShare).unwrap_err();
        assert_eq!(e.place(), "meter h1, interval 1");
        let e =
            attribute(&input(vec![1.0], vec![("a", vec![-1.0])]), Policy::CpuShare).unwrap_err();
        assert!(e.reason().contains("negative"));
        let mut two = input(vec![1.0], vec![("a", vec![1.0])]);
        two.hosts.push(two.hosts[0].clone());
        assert!(
            attribute(&two, Policy::CpuShare)
                .unwrap_err()
                .reason()
                .contains("twice")
        );
    }
}
