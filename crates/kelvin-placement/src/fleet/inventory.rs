//! The inventory → [`Problem`] mapping: what an engine knows (hosts, racks, running and
//! pending workloads, power through [`MarginalPower`], and what was measured as plain numbers)
//! as a fleet problem.

use std::collections::HashMap;

use kelvin_model::{EntityId, Inventory, MarginalPower, Resources, Workload};

use super::curves::{sample_curves, sanitize_curves};
use super::problem::{Host, PowerCurve, Problem, Rack, Task};
use crate::PlacementError;

/// What was measured, as plain numbers (the optimizer never sees telemetry): each running
/// workload's CPU use over its request and each host's wall power, summarised over the data.
///
/// ```
/// use kelvin_model::EntityId;
/// use kelvin_placement::fleet::Measured;
///
/// let mut m = Measured::default();
/// // CPU use over the request per interval; NaN (no data) is skipped, 1.2 counts as 1.
/// m.record_utilization(EntityId::new("web-1")?, [0.2, f64::NAN, 0.6, 1.2]);
/// let (mean, sd) = m.utilization[&EntityId::new("web-1")?];
/// assert!((mean - 0.6).abs() < 1e-12 && (sd - (0.32f64 / 3.0).sqrt()).abs() < 1e-12);
/// m.record_power(EntityId::new("h1")?, [78.0, 80.0, f64::NAN]);
/// assert_eq!(m.host_power_w[&EntityId::new("h1")?], 79.0);
/// # Ok::<(), kelvin_model::ModelError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    /// Per running workload, the mean and the standard deviation across intervals of its CPU
    /// use over its CPU request (`0..=1`): its predicted utilization.
    pub utilization: HashMap<EntityId, (f64, f64)>,
    /// Per host, its mean wall power, watts: a host drawing power counts as awake.
    pub host_power_w: HashMap<EntityId, f64>,
}

impl Measured {
    /// Records a workload's CPU use over its request, one fraction per interval: non-finite
    /// values are skipped and the rest clamped to `[0, 1]`; their mean and (population)
    /// standard deviation become its predicted utilization. Nothing is recorded without a
    /// finite value.
    pub fn record_utilization(
        &mut self,
        workload: EntityId,
        fractions: impl IntoIterator<Item = f64>,
    ) {
        let u: Vec<f64> = fractions
            .into_iter()
            .filter(|x| x.is_finite())
            .map(|x| x.clamp(0.0, 1.0))
            .collect();
        if u.is_empty() {
            return;
        }
        let n = u.len() as f64;
        let mean = u.iter().sum::<f64>() / n;
        let var = u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        self.utilization.insert(workload, (mean, var.sqrt()));
    }

    /// Records a host's wall power, watts, one value per interval: the mean of the finite
    /// ones. Nothing is recorded without a finite value.
    pub fn record_power(&mut self, host: EntityId, watts: impl IntoIterator<Item = f64>) {
        let (sum, n) = watts
            .into_iter()
            .filter(|w| w.is_finite())
            .fold((0.0, 0usize), |(s, n), w| (s + w, n + 1));
        if n > 0 {
            self.host_power_w.insert(host, sum / n as f64);
        }
    }

    /// Records a host's measured energy per interval of `interval_s` seconds (joules; NaN
    /// where unmeasured) as [`Measured::record_power`] of the mean power in each interval.
    pub fn record_energy(&mut self, host: EntityId, energy_j: &[f64], interval_s: f64) {
        self.record_power(host, energy_j.iter().map(|e| e / interval_s));
    }

    /// Records a workload's CPU seconds per interval of `interval_s` seconds against the
    /// `requested_cores` it asked for, as [`Measured::record_utilization`] of the fractions;
    /// nothing is recorded for a workload that requested no cores.
    pub fn record_cpu_seconds(
        &mut self,
        workload: EntityId,
        cpu_s: &[f64],
        interval_s: f64,
        requested_cores: f64,
    ) {
        if requested_cores > 0.0 {
            let fractions = cpu_s.iter().map(|x| x / interval_s / requested_cores);
            self.record_utilization(workload, fractions);
        }
    }
}

/// Capacity per dimension of the mapped problem: cores, GiB, GPUs.
fn capacity(r: &Resources) -> Vec<f64> {
    vec![
        r.cpu_cores,
        r.memory_bytes as f64 / (1u64 << 30) as f64,
        f64::from(r.gpus),
    ]
}

impl Problem {
    /// The fleet problem of placing `pending` workloads next to the running ones of `inv`.
    ///
    /// - **Hosts** come from the inventory with capacity in `cpu`, `memory_gib` and `gpus`.
    ///   Their power curves are sampled from `power` ([`sample_curves`]: floor above sleep
    ///   power plus the dynamic curve, so a sleeping host draws 0 W in the problem) and made
    ///   usable by [`sanitize_curves`] (outlying fits take the median shape, low floors are
    ///   raised, a host without a model gets the mean per-core curve). When no host has a
    ///   model, each measured host gets a flat curve at its measured mean power, the only
    ///   floor known for it (a parked host's standby draw is then raised to the median floor,
    ///   the price of waking it); without measurements either, every curve is zero and the
    ///   optimizer packs by stranded capacity and migrations only. A
    ///   host whose measured mean power ([`Measured::host_power_w`]) is positive and at least
    ///   half its curve's idle floor draws power now and is [`Host::awake`] (a sleeping host's
    ///   standby draw, a few percent of idle, stays below).
    /// - **Racks** keep their ids with a 27 °C redline (a host naming a rack the inventory
    ///   lacks gets one of that id); **PDUs** become power domains only once given a cap (the
    ///   inventory has none): edit [`Problem::domains`], [`Problem::recirculation`] and the
    ///   racks' redlines to add what the site knows.
    /// - **Tasks**: running workloads (those with a host, with their current host when the
    ///   inventory has it) first, in inventory order, then `pending` in the order given. A
    ///   running workload's predicted utilization is its measured one
    ///   ([`Measured::utilization`]; 1.0 without); pending ones get the mean of the measured
    ///   running ones (1.0 without data).
    ///
    /// # Errors
    /// [`PlacementErrorKind::InvalidInput`](crate::PlacementErrorKind::InvalidInput) when a
    /// pending workload already names a host, or for anything [`Problem::validate`] refuses
    /// (ids that repeat, non-finite capacities or curves).
    pub fn from_inventory(
        inv: &Inventory,
        pending: &[Workload],
        power: Option<&dyn MarginalPower>,
        measured: &Measured,
    ) -> Result<Problem, PlacementError> {
        let cores: Vec<f64> = inv.hosts.iter().map(|h| h.capacity.cpu_cores).collect();
        let mut sampled = sample_curves(inv, power);
        if sampled.iter().all(Option::is_none) {
            for (curve, h) in sampled.iter_mut().zip(&inv.hosts) {
                let draws = measured.host_power_w.get(&h.id).copied();
                *curve = draws.filter(|w| w.is_finite() && *w > 0.0).map(|w| [w; 11]);
            }
        }
        let curves = sanitize_curves(sampled, &cores);
        let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into(), "gpus".into()]);
        p.add_inventory_hosts(inv, curves, measured)?;
        p.add_inventory_tasks(inv, pending, measured)?;
        p.validate()?;
        Ok(p)
    }

    /// The racks and hosts of [`Problem::from_inventory`].
    fn add_inventory_hosts(
        &mut self,
        inv: &Inventory,
        curves: Vec<[f64; 11]>,
        measured: &Measured,
    ) -> Result<(), PlacementError> {
        let rack_ix: HashMap<&EntityId, usize> = inv
            .racks
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.id, i))
            .collect();
        self.racks = inv.racks.iter().map(|r| Rack::new(r.id.clone())).collect();
        for (h, points) in inv.hosts.iter().zip(curves) {
            let rack = match rack_ix.get(&h.rack) {
                Some(r) => *r,
                None => {
                    self.racks.push(Rack::new(h.rack.clone()));
                    self.racks.len() - 1
                }
            };
            let curve = PowerCurve::try_new(points)?;
            let draws = measured
                .host_power_w
                .get(&h.id)
                .is_some_and(|w| *w > 0.0 && *w >= curve.idle_w() / 2.0);
            self.hosts.push(
                Host::new(h.id.clone(), rack, capacity(&h.capacity), curve).with_awake(draws),
            );
        }
        Ok(())
    }

    /// The tasks of [`Problem::from_inventory`] (hosts first).
    fn add_inventory_tasks(
        &mut self,
        inv: &Inventory,
        pending: &[Workload],
        measured: &Measured,
    ) -> Result<(), PlacementError> {
        let host_ix: HashMap<&EntityId, usize> = inv
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (&h.id, i))
            .collect();
        let mut running_util = Vec::new();
        for w in inv.workloads.iter().filter(|w| w.host.is_some()) {
            let current = w.host.as_ref().and_then(|h| host_ix.get(h)).copied();
            let mut task = Task::new(w.id.clone(), capacity(&w.requests));
            if let Some((mean, sd)) = measured.utilization.get(&w.id) {
                task = task.with_utilization(*mean, *sd);
                running_util.push(*mean);
            }
            if let Some(h) = current {
                task = task.running_on(h);
            }
            self.tasks.push(task);
        }
        let pending_util = if running_util.is_empty() {
            1.0
        } else {
            running_util.iter().sum::<f64>() / running_util.len() as f64
        };
        for w in pending {
            if w.host.is_some() {
                return Err(PlacementError::for_workload(
                    &w.id,
                    format!("pending workload {} already names a host", w.id),
                ));
            }
            self.tasks.push(
                Task::new(w.id.clone(), capacity(&w.requests)).with_utilization(pending_util, 0.0),
            );
        }
        Ok(())
    }
}
