//! The facade's input: hosts whose workloads are described by CPU seconds and requested cores,
//! on a common grid, attributed by [`attribute`] into a [`Ledger`] (one meter per host, one
//! consumer per workload, CPU as the only resource).

use std::collections::{HashMap, HashSet};

use kelvin_model::{EntityId, Timestamp};

use crate::AttributionError;
use crate::ledger::{
    Consumer, Floor, KeyCurve, Ledger, LedgerInput, LedgerOptions, MeterInput, MeterResource,
    settle,
};
use crate::power::{IdleFloor, IdleOptions, Resource, calibrate_idle};

/// One workload on a host: what it requested and the CPU it used per interval.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSeries {
    /// The workload.
    pub workload: EntityId,
    /// CPU cores it requested (finite, ≥ 0). Its reservation is `requested ÷ host cores`,
    /// capped at 1: the share of the host's idle floor the two-part tariff bills to it —
    /// unless [`WorkloadSeries::reservation`] says otherwise.
    pub requested_cores: f64,
    /// CPU seconds per interval; NaN where unknown (treated as no use in that interval, and
    /// counted in [`MeterSheet::usage_gaps`](crate::ledger::MeterSheet::usage_gaps)).
    pub cpu_s: Vec<f64>,
    /// The share of the host's idle floor it reserves, in `[0, 1]`, when that is not its
    /// requested cores over the host's (`None`, the default): on a GPU server whose wall
    /// meter carries the GPUs' idle power, a reservation that counts the GPUs it requested.
    pub reservation: Option<f64>,
}

impl WorkloadSeries {
    /// A workload that requested `requested_cores` and used `cpu_s` CPU seconds per interval.
    pub fn new(workload: EntityId, requested_cores: f64, cpu_s: Vec<f64>) -> WorkloadSeries {
        WorkloadSeries {
            workload,
            requested_cores,
            cpu_s,
            reservation: None,
        }
    }

    /// Sets [`WorkloadSeries::reservation`].
    pub fn with_reservation(mut self, share: f64) -> WorkloadSeries {
        self.reservation = Some(share);
        self
    }
}

/// One host's aligned data: interval energies and its workloads' CPU seconds on the same grid.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSeries {
    /// The host (the meter's entity).
    pub host: EntityId,
    /// Allocatable CPU cores (for reservations, utilization and power models).
    pub cores: f64,
    /// Measured energy per interval, joules; NaN where unmeasured (a meter gap).
    pub energy_j: Vec<f64>,
    /// Relative 1-σ accuracy of the host's meter (0.02 for a BMC good to about ±2 %; 0 when
    /// unknown). It widens the intervals and never changes the split.
    pub meter_rel_sigma: f64,
    /// The workloads on the host.
    pub workloads: Vec<WorkloadSeries>,
    /// CPU seconds per interval of activity that belongs to no workload (the host's own
    /// processes, or a pod cgroup's CPU no known pod explains): its energy goes to the
    /// `system` account. `None`: none measured.
    pub system_cpu_s: Option<Vec<f64>>,
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

/// Attributes every host's measured energy to its workloads: builds a [`LedgerInput`] (one
/// meter per host, one consumer per workload reserving its requested cores, CPU as the only
/// resource with a linear key) and settles it with [`settle`] under `opts` (see
/// [`crate::ledger`] for the policies; [`LedgerOptions::default`] is the two-part tariff).
///
/// For a policy that keeps the idle floor separate ([`Floor::Separate`]), the floor is
/// calibrated per host from its quiet intervals ([`crate::power::calibrate_idle`]; the
/// intercept of a fitted model where there are fewer than three), and its spread widens the
/// intervals as the floor's uncertainty. A host whose floor cannot
/// be calibrated either way (a window of one or two intervals) is settled without one: all
/// its energy is dynamic, and its sheet's [`floor_uj`](crate::ledger::MeterSheet::floor_uj)
/// is 0. A policy that absorbs the floor needs none.
///
/// # Errors
/// [`crate::AttributionErrorKind::InvalidInput`] for no intervals, a non-positive interval,
/// series whose lengths differ, negative or infinite energy or CPU time, a requested core
/// count that is negative or not finite, or duplicate ids;
/// [`crate::AttributionErrorKind::Overflow`] when a total exceeds `u64` microjoules.
pub fn attribute(input: &AlignedInput, opts: &LedgerOptions) -> Result<Ledger, AttributionError> {
    attribute_with_floors(input, &[], opts)
}

/// A host's idle floor given to [`attribute_with_floors`] instead of calibrated from the
/// window: watts, with its 1-σ uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PinnedFloor {
    /// The floor, watts (finite, ≥ 0).
    pub watts: f64,
    /// Its 1-σ uncertainty, watts.
    pub sigma_w: f64,
}

/// [`attribute`] with floors given per host: `floors[i]`, when present, is host `i`'s idle
/// floor in every interval of the window (a policy that absorbs the floor ignores it); hosts
/// beyond `floors` or with `None` are calibrated from the window as [`attribute`] does.
///
/// ```
/// use kelvin_attribution::{AlignedInput, HostSeries, LedgerOptions, PinnedFloor, WorkloadSeries, attribute_with_floors};
/// use kelvin_model::{EntityId, Timestamp};
///
/// // One busy minute: too little to calibrate a floor, so it is given (100 W).
/// let input = AlignedInput {
///     start: Timestamp::from_secs(0),
///     interval_ns: 60_000_000_000,
///     hosts: vec![HostSeries {
///         host: EntityId::new("h1")?,
///         cores: 16.0,
///         energy_j: vec![12_000.0],
///         meter_rel_sigma: 0.0,
///         workloads: vec![WorkloadSeries::new(EntityId::new("w1")?, 4.0, vec![60.0])],
///         system_cpu_s: None,
///     }],
/// };
/// let floor = PinnedFloor { watts: 100.0, sigma_w: 0.0 };
/// let l = attribute_with_floors(&input, &[Some(floor)], &LedgerOptions::default())?;
/// // A quarter of the 6 kJ floor by reservation, all 6 kJ above it by use.
/// assert_eq!(l.meters[0].lines[0].energy.uj, 1_500_000_000 + 6_000_000_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`attribute`], and [`crate::AttributionErrorKind::InvalidInput`] for a floor that is
/// negative or not finite.
pub fn attribute_with_floors(
    input: &AlignedInput,
    floors: &[Option<PinnedFloor>],
    opts: &LedgerOptions,
) -> Result<Ledger, AttributionError> {
    let n = input.intervals();
    if n == 0 {
        return Err(AttributionError::invalid(
            "input",
            "no intervals to attribute",
        ));
    }
    // A workload may be on several hosts (it migrated within the window): one index, one
    // consumer per host; listed twice on one host is an error.
    let mut index_of: HashMap<&EntityId, usize> = HashMap::new();
    let mut workloads = Vec::new();
    let mut meters = Vec::with_capacity(input.hosts.len());
    let secs = input.interval_ns as f64 / 1e9;
    let separate = opts.policy.floor() == Floor::Separate;
    for (hi, h) in input.hosts.iter().enumerate() {
        let cores = if h.cores.is_finite() && h.cores > 0.0 {
            h.cores
        } else {
            1.0
        };
        let mut consumers = Vec::with_capacity(h.workloads.len());
        let mut on_host = HashSet::new();
        for w in &h.workloads {
            if !on_host.insert(&w.workload) {
                return Err(AttributionError::invalid(
                    format!("host {}, workload {}", h.host, w.workload),
                    "workload listed twice on one host",
                ));
            }
            let index = *index_of.entry(&w.workload).or_insert_with(|| {
                workloads.push(w.workload.clone());
                workloads.len() - 1
            });
            consumers.push(consumer(h, w, n, cores, index)?);
        }
        let pinned = floors.get(hi).copied().flatten();
        if let Some(p) = pinned
            && !(p.watts.is_finite() && p.watts >= 0.0 && p.sigma_w.is_finite())
        {
            return Err(AttributionError::invalid(
                format!("host {}", h.host),
                format!("pinned floor {} W ± {} is not usable", p.watts, p.sigma_w),
            ));
        }
        let floor = match pinned {
            Some(p) => Some(IdleFloor {
                floor_w: vec![p.watts; h.energy_j.len()],
                method: crate::power::IdleMethod::Fixed,
                quiet_intervals: 0,
                sigma_w: p.sigma_w.max(0.0),
            }),
            None => host_floor(h, n, secs, cores),
        };
        let (idle_w, idle_sigma_w) = separate.then_some(floor).flatten().map_or_else(
            || (vec![0.0; h.energy_j.len()], 0.0),
            |f| (f.floor_w, f.sigma_w),
        );
        meters.push(MeterInput {
            meter: h.host.clone(),
            energy_j: h.energy_j.clone(),
            sigma_j: None,
            rel_sigma: h.meter_rel_sigma,
            idle_w,
            idle_sigma_w,
            resources: vec![MeterResource {
                resource: Resource::Cpu,
                capacity: cores,
                curve: KeyCurve::Linear { watts_at_full: 1.0 },
            }],
            consumers,
            system: h.system_cpu_s.as_ref().map(|v| vec![v.clone()]),
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
        opts,
    )
}

/// Workload `w` of host `h` as the consumer of index `index`, after checking its series.
fn consumer(
    h: &HostSeries,
    w: &WorkloadSeries,
    n: usize,
    cores: f64,
    index: usize,
) -> Result<Consumer, AttributionError> {
    let place = || format!("host {}, workload {}", h.host, w.workload);
    if w.cpu_s.len() != n {
        return Err(AttributionError::invalid(
            place(),
            format!("{} CPU intervals, expected {n}", w.cpu_s.len()),
        ));
    }
    if let Some((i, c)) = w
        .cpu_s
        .iter()
        .enumerate()
        .find(|(_, c)| c.is_infinite() || **c < 0.0)
    {
        return Err(AttributionError::invalid(
            format!("{}, interval {i}", place()),
            format!("CPU time {c} s is negative or infinite"),
        ));
    }
    if !(w.requested_cores.is_finite() && w.requested_cores >= 0.0) {
        return Err(AttributionError::invalid(
            place(),
            format!(
                "requested cores {} is negative or not finite",
                w.requested_cores
            ),
        ));
    }
    if let Some(r) = w.reservation
        && !(r.is_finite() && (0.0..=1.0).contains(&r))
    {
        return Err(AttributionError::invalid(
            place(),
            format!("reservation {r} is not a share in [0, 1]"),
        ));
    }
    Ok(Consumer {
        workload: index,
        reservation: w
            .reservation
            .unwrap_or_else(|| (w.requested_cores / cores).min(1.0)),
        usage: vec![w.cpu_s.clone()],
        signature: None,
    })
}

/// The calibrated idle floor of a host, from its power and CPU utilization; `None` when it
/// cannot be calibrated (too few quiet intervals, and too few samples for a model).
pub(crate) fn host_floor(h: &HostSeries, n: usize, secs: f64, cores: f64) -> Option<IdleFloor> {
    if secs <= 0.0 || h.energy_j.len() != n {
        return None;
    }
    let power: Vec<f64> = h.energy_j.iter().map(|e| e / secs).collect();
    let activity: Vec<f64> = (0..n)
        .map(|i| {
            let known = |x: Option<&f64>| x.copied().filter(|x| !x.is_nan()).unwrap_or(0.0);
            let system = known(h.system_cpu_s.as_ref().and_then(|s| s.get(i)));
            (h.workloads
                .iter()
                .map(|w| known(w.cpu_s.get(i)))
                .sum::<f64>()
                + system)
                / (secs * cores)
        })
        .collect();
    calibrate_idle(&power, &activity, &IdleOptions::default()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Account, Policy};

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
                meter_rel_sigma: 0.0,
                workloads: wl
                    .into_iter()
                    .map(|(w, c)| WorkloadSeries::new(id(w), 0.0, c))
                    .collect(),
                system_cpu_s: None,
            }],
        }
    }

    fn cpu_share() -> LedgerOptions {
        LedgerOptions::default().with_policy(Policy::CpuShare)
    }

    #[test]
    fn idle_intervals_and_gaps_are_accounted() {
        let l = attribute(
            &input(
                vec![3000.0, 3000.0, f64::NAN, 4500.0],
                vec![
                    ("a", vec![0.0, 10.0, 5.0, f64::NAN]),
                    ("b", vec![0.0, 30.0, 5.0, 20.0]),
                ],
            ),
            &cpu_share(),
        )
        .unwrap();
        let h = &l.meters[0];
        assert_eq!(h.measured.uj, 10_500_000_000);
        assert_eq!(h.unattributed_uj(), 3_000_000_000);
        assert_eq!(h.account(Account::Idle).uj, 3_000_000_000);
        assert_eq!(h.lines[0].energy.uj, 750_000_000);
        assert_eq!(h.lines[1].energy.uj, 2_250_000_000 + 4_500_000_000);
        assert_eq!((h.unmeasured_intervals, h.usage_gaps), (1, 1));
        assert!(h.is_balanced() && l.is_balanced());
        assert_eq!(l.window.len_nanos(), 60_000_000_000);
        assert_eq!(l.policy, "cpu_share");
    }

    #[test]
    fn requested_cores_reserve_the_floor() {
        // 8 cores, a flat 100 W floor: `a` requested 2 cores (a quarter), `b` nothing.
        let mut i = input(
            vec![1500.0; 6],
            vec![
                ("a", vec![0.0, 0.0, 0.0, 60.0, 60.0, 60.0]),
                ("b", vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            ],
        );
        i.hosts[0].workloads[0].requested_cores = 2.0;
        let l = attribute(&i, &LedgerOptions::default()).unwrap();
        let h = &l.meters[0];
        assert_eq!(l.policy, "two_part_tariff");
        assert_eq!(h.floor_uj, 9_000_000_000, "the quiet power is the floor");
        assert_eq!(h.lines[0].static_uj, 9_000_000_000 / 4);
        assert_eq!(h.lines[1].energy.uj, 0, "null player");
        assert_eq!(h.account(Account::Idle).uj, 9_000_000_000 * 3 / 4);
        assert!(h.is_balanced());
        // A reservation given outright wins over the cores (a GPU server's, counting GPUs).
        i.hosts[0].workloads[1].reservation = Some(0.5);
        let l = attribute(&i, &LedgerOptions::default()).unwrap();
        assert_eq!(l.meters[0].lines[1].static_uj, 9_000_000_000 / 2);
        assert_eq!(l.meters[0].account(Account::Idle).uj, 9_000_000_000 / 4);
        i.hosts[0].workloads[1].reservation = Some(1.5);
        let e = attribute(&i, &LedgerOptions::default()).unwrap_err();
        assert!(e.reason().contains("reservation"), "{e}");
        i.hosts[0].workloads[1].reservation = None;
        // More cores than the host has reserve the whole floor, not more.
        i.hosts[0].workloads[0].requested_cores = 64.0;
        let l = attribute(&i, &LedgerOptions::default()).unwrap();
        assert_eq!(l.meters[0].lines[0].static_uj, 9_000_000_000);
        assert_eq!(l.meters[0].account(Account::Idle).uj, 0);
    }

    #[test]
    fn bad_input_is_a_typed_error_with_place() {
        let e =
            attribute(&input(vec![1.0, 2.0], vec![("a", vec![1.0])]), &cpu_share()).unwrap_err();
        assert_eq!(e.kind(), crate::AttributionErrorKind::InvalidInput);
        assert_eq!(e.place(), "host h1, workload a");
        let e = attribute(&input(vec![1.0, -2.0], vec![]), &cpu_share()).unwrap_err();
        assert_eq!(e.place(), "meter h1, interval 1");
        let e = attribute(&input(vec![1.0], vec![("a", vec![-1.0])]), &cpu_share()).unwrap_err();
        assert!(e.reason().contains("negative"));
        let mut two = input(vec![1.0], vec![("a", vec![1.0])]);
        two.hosts.push(two.hosts[0].clone());
        assert!(
            attribute(&two, &cpu_share())
                .unwrap_err()
                .reason()
                .contains("twice")
        );
        let mut bad = input(vec![1.0], vec![("a", vec![1.0])]);
        bad.hosts[0].workloads[0].requested_cores = f64::NAN;
        assert!(
            attribute(&bad, &cpu_share())
                .unwrap_err()
                .reason()
                .contains("requested cores")
        );
    }
}
