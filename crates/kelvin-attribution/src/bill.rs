use std::collections::{BTreeMap, HashSet};

use kelvin_model::{EntityId, TimeRange, Timestamp};
use serde::Serialize;

use crate::{AttributionError, largest_remainder};

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

/// How measured energy is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Policy {
    /// Full absorption by CPU-time share: each interval's whole measured energy, idle floor
    /// included, is split among the host's workloads in proportion to the CPU seconds they
    /// used in it. Intervals where no workload used CPU go to the host's unattributed account.
    CpuShare,
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

fn to_uj(j: f64) -> u64 {
    // Callers pass finite, non-negative joules well inside range (checked before).
    (j * 1e6).round() as u64
}

/// Attributes every host's measured energy to its workloads.
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] for a non-positive interval, series whose
/// lengths differ, negative or infinite energy or CPU time, or duplicate ids;
/// [`crate::AttributionErrorKind::Overflow`] when a total exceeds `u64` microjoules.
pub fn attribute(input: &AlignedInput, policy: Policy) -> Result<Bill, AttributionError> {
    let Policy::CpuShare = policy;
    if input.interval_ns <= 0 {
        return Err(AttributionError::invalid(
            "input",
            format!("interval_ns must be positive, got {}", input.interval_ns),
        ));
    }
    let n = input.intervals();
    if n == 0 {
        return Err(AttributionError::invalid(
            "input",
            "no intervals to attribute",
        ));
    }
    let end = input
        .start
        .as_nanos()
        .checked_add(input.interval_ns.saturating_mul(n as i64))
        .ok_or_else(|| {
            AttributionError::invalid("input", "window end overflows the timestamp range")
        })?;
    let window = TimeRange::try_new(input.start, Timestamp::from_nanos(end))
        .map_err(|e| AttributionError::invalid("input", e.reason()))?;

    let mut seen_hosts = HashSet::new();
    let mut seen_workloads = HashSet::new();
    let mut hosts = Vec::with_capacity(input.hosts.len());
    for h in &input.hosts {
        let place = format!("host {}", h.host);
        if !seen_hosts.insert(&h.host) {
            return Err(AttributionError::invalid(place, "host listed twice"));
        }
        if h.energy_j.len() != n {
            return Err(AttributionError::invalid(
                place,
                format!("{} energy intervals, expected {n}", h.energy_j.len()),
            ));
        }
        for (i, e) in h.energy_j.iter().enumerate() {
            if e.is_infinite() || *e < 0.0 || *e > 1e12 {
                return Err(AttributionError::invalid(
                    format!("{place}, interval {i}"),
                    format!("energy {e} J is not a plausible measurement"),
                ));
            }
        }
        for (w, cpu) in &h.workloads {
            let place = format!("{place}, workload {w}");
            if !seen_workloads.insert(w) {
                return Err(AttributionError::invalid(place, "workload listed twice"));
            }
            if cpu.len() != n {
                return Err(AttributionError::invalid(
                    place,
                    format!("{} CPU intervals, expected {n}", cpu.len()),
                ));
            }
            if let Some((i, c)) = cpu
                .iter()
                .enumerate()
                .find(|(_, c)| c.is_infinite() || **c < 0.0)
            {
                return Err(AttributionError::invalid(
                    format!("{place}, interval {i}"),
                    format!("CPU time {c} s is negative or infinite"),
                ));
            }
        }
        hosts.push(balance(h, n)?);
    }
    Ok(Bill {
        window,
        policy,
        hosts,
    })
}

fn balance(h: &HostSeries, n: usize) -> Result<HostBalance, AttributionError> {
    let place = || format!("host {}", h.host);
    let mut shares = vec![0u64; h.workloads.len()];
    let mut measured: u64 = 0;
    let mut unattributed: u64 = 0;
    let mut unmeasured = 0;
    let mut cpu_gaps = 0;
    let mut weights = vec![0.0; h.workloads.len()];
    for i in 0..n {
        let e = h.energy_j[i];
        if e.is_nan() {
            unmeasured += 1;
            continue;
        }
        let e_uj = to_uj(e);
        measured = measured
            .checked_add(e_uj)
            .ok_or_else(|| AttributionError::overflow(place()))?;
        for (k, (_, cpu)) in h.workloads.iter().enumerate() {
            weights[k] = if cpu[i].is_nan() {
                cpu_gaps += 1;
                0.0
            } else {
                cpu[i]
            };
        }
        match largest_remainder(e_uj, &weights) {
            Some(parts) => {
                for (s, p) in shares.iter_mut().zip(parts) {
                    *s = s
                        .checked_add(p)
                        .ok_or_else(|| AttributionError::overflow(place()))?;
                }
            }
            None => {
                unattributed = unattributed
                    .checked_add(e_uj)
                    .ok_or_else(|| AttributionError::overflow(place()))?;
            }
        }
    }
    Ok(HostBalance {
        host: h.host.clone(),
        measured_uj: measured,
        workloads: h
            .workloads
            .iter()
            .zip(shares)
            .map(|((w, _), energy_uj)| WorkloadShare {
                workload: w.clone(),
                energy_uj,
            })
            .collect(),
        unattributed_uj: unattributed,
        intervals: n,
        unmeasured_intervals: unmeasured,
        cpu_gaps,
    })
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
        assert_eq!(e.place(), "host h1, interval 1");
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
