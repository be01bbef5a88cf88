//! The engine's bridge to the fleet optimizer: a [`Problem`] built from what the engine knows
//! (the inventory, the power curves attribution fitted, the CPU use it measured), solved by
//! [`solve`].

use std::collections::HashMap;

use kelvin_model::{EntityId, HostLoad, MarginalPower, Resources, Workload};
use kelvin_placement::PlacementError;
use kelvin_placement::fleet::{
    Evaluation, Host, PowerCurve, Problem, Rack, Solution, SolveOptions, Task, evaluate, solve,
};

use crate::{Engine, Error};

/// A fleet problem and its solution, from [`Engine::optimize`].
#[derive(Debug, Clone)]
pub struct Optimized {
    /// The problem the engine built (tasks: running workloads first, in inventory order, then
    /// the pending ones in the order given).
    pub problem: Problem,
    /// Where everything should run, with explanations and the gap to the lower bound.
    pub solution: Solution,
    /// The baseline it is compared with: running workloads where they are and the pending
    /// ones where [`Engine::place`] (first fit) puts them, judged by the same evaluator.
    pub first_fit: Evaluation,
}

impl Optimized {
    /// The host `workload` should run on, by id.
    pub fn host_of(&self, workload: &EntityId) -> Option<&EntityId> {
        let t = self.problem.tasks.iter().position(|t| &t.id == workload)?;
        self.solution.host_of[t].map(|h| &self.problem.hosts[h].id)
    }
}

/// Samples a host's power curve through the [`MarginalPower`] capability: the eleven SPEC
/// load points as `floor + ΔP(0 → u)` for an awake host, where the floor above sleep power is
/// the per-second slope of the energy of waking it with nothing to run (two durations, so the
/// boot energy cancels). `None` when the provider has no model for the host.
pub(crate) fn sampled_curve(
    m: &dyn MarginalPower,
    host: &EntityId,
    cores: f64,
) -> Option<[f64; 11]> {
    let idle = Resources::default();
    let e1 = m.marginal_energy_j(host, &HostLoad::asleep(), &idle, 1_000.0)?;
    let e2 = m.marginal_energy_j(host, &HostLoad::asleep(), &idle, 2_000.0)?;
    let floor = ((e2 - e1) / 1_000.0).max(0.0);
    let mut points = [0.0; 11];
    let mut last = floor;
    for (k, p) in points.iter_mut().enumerate() {
        let added = Resources::new(cores * k as f64 / 10.0, 0);
        let d = m.marginal_energy_j(host, &HostLoad::awake(idle), &added, 1.0)?;
        // Models fitted on noisy data may dip; a curve must not.
        last = last.max(floor + d.max(0.0));
        *p = last;
    }
    points.iter().all(|p| p.is_finite()).then_some(points)
}

impl Engine {
    /// The fleet problem of placing `pending` workloads next to the running ones.
    ///
    /// - **Hosts** come from the inventory with capacity in `cpu`, `memory_gib` and `gpus`;
    ///   their power curves are sampled from the fitted models through
    ///   [`MarginalPower`](kelvin_model::MarginalPower) (floor above sleep power plus the
    ///   dynamic curve, so a sleeping host draws 0 W in the problem). A curve whose dynamic
    ///   range per core is more than 4× from the fleet's median (a host whose load never
    ///   varied fits a flat line; a narrow range extrapolates to kilowatts) keeps its floor
    ///   and takes the median host's dynamic shape; a floor under a quarter of the median
    ///   floor is raised to it. A host without a model gets the mean
    ///   per-core curve of the others; without data every curve is zero and the optimizer
    ///   packs by stranded capacity and migrations only.
    /// - **Racks** keep their ids with a 27 °C redline; **PDUs** become power domains only once
    ///   given a cap (the inventory has none): edit [`Problem::domains`],
    ///   [`Problem::recirculation`] and the racks' redlines to add what the site knows.
    /// - **Tasks**: running workloads (with their current host) first, then `pending`. A
    ///   running workload's predicted utilization is its measured mean CPU use over its request
    ///   (with the standard deviation across intervals); pending ones get the mean of the
    ///   running ones (1.0 without data).
    ///
    /// # Errors
    /// [`Error::Placement`] when a pending workload already names a host, or ids repeat.
    pub fn fleet_problem(&self, pending: &[Workload]) -> Result<Problem, Error> {
        let inv = self.inventory();
        let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into(), "gpus".into()]);
        let rack_ix: HashMap<&EntityId, usize> = inv
            .racks
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.id, i))
            .collect();
        p.racks = inv.racks.iter().map(|r| Rack::new(r.id.clone())).collect();
        let models = self.power_models().ok();
        let mut sampled: Vec<Option<[f64; 11]>> = inv
            .hosts
            .iter()
            .map(|h| models.and_then(|m| sampled_curve(m, &h.id, h.capacity.cpu_cores)))
            .collect();
        // A fit is only as good as the load it saw: a host that never changed its load fits
        // a flat line, one that saw a narrow range can extrapolate to kilowatts. Curves whose
        // dynamic range per core is more than 4× from the fleet's median are not trusted:
        // they keep their floor and take the median host's dynamic shape.
        let per_core_range: Vec<Option<f64>> = sampled
            .iter()
            .zip(&inv.hosts)
            .map(|(c, h)| {
                c.filter(|_| h.capacity.cpu_cores > 0.0)
                    .map(|c| (c[10] - c[0]) / h.capacity.cpu_cores)
            })
            .collect();
        let mut ranges: Vec<f64> = per_core_range.iter().flatten().copied().collect();
        ranges.sort_by(f64::total_cmp);
        if let Some(&median) = ranges.get(ranges.len() / 2).filter(|m| **m > 0.0) {
            let shape: Option<[f64; 11]> = sampled
                .iter()
                .zip(&per_core_range)
                .zip(&inv.hosts)
                .find(|((_, r), _)| **r == Some(median))
                .and_then(|((c, _), h)| c.map(|c| c.map(|w| (w - c[0]) / h.capacity.cpu_cores)));
            if let Some(shape) = shape {
                for ((c, r), h) in sampled.iter_mut().zip(&per_core_range).zip(&inv.hosts) {
                    if let (Some(curve), Some(r)) = (c.as_mut(), r)
                        && (*r < median / 4.0 || *r > median * 4.0)
                    {
                        let floor = curve[0];
                        *curve = shape.map(|d| floor + d * h.capacity.cpu_cores);
                    }
                }
            }
        }
        // Likewise a floor under a quarter of the median floor (a fit with no quiet data).
        let mut floors: Vec<f64> = sampled.iter().flatten().map(|c| c[0]).collect();
        floors.sort_by(f64::total_cmp);
        if let Some(&median) = floors.get(floors.len() / 2) {
            for c in sampled.iter_mut().flatten() {
                if c[0] < median / 4.0 {
                    let lift = median - c[0];
                    *c = c.map(|w| w + lift);
                }
            }
        }
        // Hosts without a model: the mean per-core curve of those with one.
        let known: Vec<(usize, f64)> = sampled
            .iter()
            .zip(&inv.hosts)
            .enumerate()
            .filter(|(_, (c, h))| c.is_some() && h.capacity.cpu_cores > 0.0)
            .map(|(i, (_, h))| (i, h.capacity.cpu_cores))
            .collect();
        let mut per_core = [0.0; 11];
        for (i, cores) in &known {
            if let Some(c) = sampled[*i] {
                for (acc, w) in per_core.iter_mut().zip(c) {
                    *acc += w / cores / known.len() as f64;
                }
            }
        }
        for (c, h) in sampled.iter_mut().zip(&inv.hosts) {
            if c.is_none() {
                *c = Some(per_core.map(|w| w * h.capacity.cpu_cores));
            }
        }
        let host_ix: HashMap<&EntityId, usize> = inv
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (&h.id, i))
            .collect();
        for (h, points) in inv.hosts.iter().zip(sampled) {
            let rack = match rack_ix.get(&h.rack) {
                Some(r) => *r,
                None => {
                    p.racks.push(Rack::new(h.rack.clone()));
                    p.racks.len() - 1
                }
            };
            let curve = PowerCurve::try_new(points.unwrap_or([0.0; 11]))?;
            p.hosts
                .push(Host::new(h.id.clone(), rack, capacity(&h.capacity), curve));
        }
        let usage = self.measured_utilization();
        let mut running_util = Vec::new();
        for w in inv.workloads.iter().filter(|w| w.host.is_some()) {
            let current = w.host.as_ref().and_then(|h| host_ix.get(h)).copied();
            let mut task = Task::new(w.id.clone(), capacity(&w.requests));
            if let Some((mean, sd)) = usage.get(&w.id) {
                task = task.with_utilization(*mean, *sd);
                running_util.push(*mean);
            }
            if let Some(h) = current {
                task = task.running_on(h);
            }
            p.tasks.push(task);
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
                )
                .into());
            }
            p.tasks.push(
                Task::new(w.id.clone(), capacity(&w.requests)).with_utilization(pending_util, 0.0),
            );
        }
        p.validate()?;
        Ok(p)
    }

    /// Places `pending` workloads (and, when it pays, moves running ones) with the fleet
    /// optimizer over [`Engine::fleet_problem`].
    ///
    /// ```
    /// use kelvin::{Batch, Engine, replay::RecordedDataset};
    /// use kelvin::placement::fleet::SolveOptions;
    ///
    /// let ds = RecordedDataset::load(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/edge-small"))?;
    /// let mut engine = Engine::builder()
    ///     .inventory(ds.inventory.clone())
    ///     .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
    ///     .build()?;
    /// engine.ingest(Batch::prometheus("metrics.prom", ds.metrics.clone()))?;
    /// let pending: Vec<_> = ds.workloads.iter().filter(|w| w.host.is_none()).cloned().collect();
    /// let opts = SolveOptions::default().with_rounds(300).with_time_limit_ms(None);
    /// let out = engine.optimize(&pending, &opts)?;
    /// assert!(out.solution.evaluation.violations.is_empty());
    /// assert!(out.solution.gap() >= 0.0);
    /// # Ok::<(), kelvin::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Engine::fleet_problem`].
    pub fn optimize(&self, pending: &[Workload], opts: &SolveOptions) -> Result<Optimized, Error> {
        let problem = self.fleet_problem(pending)?;
        let solution = solve(&problem, opts)?;
        let plan = self.place(pending, &crate::PlaceOptions::default())?;
        let today: Vec<Option<usize>> = problem
            .tasks
            .iter()
            .map(|t| match t.current {
                Some(h) => Some(h),
                None => plan
                    .host_of(&t.id)
                    .and_then(|h| problem.hosts.iter().position(|x| &x.id == h)),
            })
            .collect();
        let first_fit = evaluate(&problem, &today)?;
        Ok(Optimized {
            problem,
            solution,
            first_fit,
        })
    }

    /// Mean and standard deviation of each running workload's CPU use over its request,
    /// across the intervals of the whole data span.
    fn measured_utilization(&self) -> HashMap<EntityId, (f64, f64)> {
        let mut out = HashMap::new();
        let Some(span) = self.data_span() else {
            return out;
        };
        let Ok(aligned) = self.aligned(span) else {
            return out;
        };
        let dt = aligned.input.interval_ns as f64 / 1e9;
        let requests: HashMap<&EntityId, f64> = self
            .inventory()
            .workloads
            .iter()
            .map(|w| (&w.id, w.requests.cpu_cores))
            .collect();
        for h in &aligned.input.hosts {
            for (w, cpu_s) in &h.workloads {
                let Some(req) = requests.get(w).copied().filter(|r| *r > 0.0) else {
                    continue;
                };
                let u: Vec<f64> = cpu_s
                    .iter()
                    .filter(|x| x.is_finite())
                    .map(|x| (x / dt / req).clamp(0.0, 1.0))
                    .collect();
                if u.is_empty() {
                    continue;
                }
                let n = u.len() as f64;
                let mean = u.iter().sum::<f64>() / n;
                let var = u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                out.insert(w.clone(), (mean, var.sqrt()));
            }
        }
        out
    }
}

fn capacity(r: &Resources) -> Vec<f64> {
    vec![
        r.cpu_cores,
        r.memory_bytes as f64 / (1u64 << 30) as f64,
        f64::from(r.gpus),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelvin_attribution::power::SpecCurve;
    use kelvin_attribution::{HostCurve, PowerModels, WakeCost};

    #[test]
    fn sampling_the_marginal_power_trait_recovers_the_curve() {
        let points = [
            60.0, 84.0, 95.0, 104.0, 113.0, 122.0, 132.0, 143.0, 156.0, 171.0, 190.0,
        ];
        let host = EntityId::new("h1").unwrap();
        let mut models = PowerModels::default();
        models.set_curve(
            host.clone(),
            HostCurve {
                curve: SpecCurve::try_new(points).unwrap(),
                cores: 16.0,
                wake: WakeCost::default()
                    .with_sleep_fraction(0.1)
                    .with_boot_s(120.0),
            },
        );
        let got = sampled_curve(&models, &host, 16.0).unwrap();
        // The floor above sleep (90 % of 60 W) plus the dynamic curve; the boot cancels.
        for (k, (g, p)) in got.iter().zip(points).enumerate() {
            let want = 54.0 + (p - 60.0);
            assert!((g - want).abs() < 1e-6, "point {k}: {g} vs {want}");
        }
        assert!(sampled_curve(&models, &EntityId::new("h2").unwrap(), 16.0).is_none());
    }
}
