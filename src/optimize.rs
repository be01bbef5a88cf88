//! The engine's bridge to the fleet optimizer, wiring only: the inventory, the power models
//! attribution fitted and what the engine measured go to [`Problem::from_inventory`], and the
//! problem to [`solve`].

use kelvin_model::{EntityId, MarginalPower, TimeRange, Timestamp, Workload};
use kelvin_placement::fleet::{
    Evaluation, Measured, Problem, Solution, SolveOptions, evaluate, solve,
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

impl Engine {
    /// The fleet problem of placing `pending` workloads next to the running ones:
    /// [`Problem::from_inventory`] over the engine's inventory, the power models attribution
    /// fitted (through [`MarginalPower`]) and what the engine measured
    /// ([`Engine::measured`]). Hosts, racks, curves, awake hosts and tasks are as documented
    /// there; add PDU caps, redlines and recirculation to the returned problem.
    ///
    /// # Errors
    /// [`Error::Placement`] when a pending workload already names a host, or ids repeat.
    pub fn fleet_problem(&self, pending: &[Workload]) -> Result<Problem, Error> {
        self.fleet_problem_measured(pending, &self.measured())
    }

    /// [`Engine::fleet_problem`] with what the engine measured over the last `recent` of its
    /// data span ([`Engine::measured_over`]): a live engine's present, without aligning its
    /// whole history (what a scheduler's view is rebuilt from each interval).
    ///
    /// # Errors
    /// As [`Engine::fleet_problem`].
    pub fn fleet_problem_recent(
        &self,
        pending: &[Workload],
        recent: std::time::Duration,
    ) -> Result<Problem, Error> {
        let measured = match self.data_span() {
            Some(span) => {
                let back = i64::try_from(recent.as_nanos()).unwrap_or(i64::MAX);
                let start = span
                    .end()
                    .as_nanos()
                    .saturating_sub(back)
                    .max(span.start().as_nanos());
                match TimeRange::try_new(Timestamp::from_nanos(start), span.end()) {
                    Ok(w) => self.measured_over(w),
                    Err(_) => Measured::default(),
                }
            }
            None => Measured::default(),
        };
        self.fleet_problem_measured(pending, &measured)
    }

    fn fleet_problem_measured(
        &self,
        pending: &[Workload],
        measured: &Measured,
    ) -> Result<Problem, Error> {
        let models = self.power_models().ok();
        let power = models.map(|m| m as &dyn MarginalPower);
        Ok(Problem::from_inventory(
            self.inventory(),
            pending,
            power,
            measured,
        )?)
    }

    /// Places `pending` workloads (and, when it pays, moves running ones) with the fleet
    /// optimizer over [`Engine::fleet_problem`].
    ///
    /// ```
    /// use kelvin::{Batch, Engine, dataset::RecordedDataset};
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

    /// What the engine measured over the whole data span, as placement takes it: each running
    /// workload's CPU use over its request per interval, and each host's wall power per
    /// interval (empty before any data).
    pub fn measured(&self) -> Measured {
        match self.data_span() {
            Some(span) => self.measured_over(span),
            None => Measured::default(),
        }
    }

    /// What the engine measured over `window`, as [`Engine::measured`] (empty when the window
    /// cannot be aligned: no data, or shorter than an interval).
    pub fn measured_over(&self, window: TimeRange) -> Measured {
        let mut out = Measured::default();
        let Ok(aligned) = self.aligned(window) else {
            return out;
        };
        let dt = aligned.input.interval_ns as f64 / 1e9;
        for h in &aligned.input.hosts {
            out.record_energy(h.host.clone(), &h.energy_j, dt);
            for w in &h.workloads {
                out.record_cpu_seconds(w.workload.clone(), &w.cpu_s, dt, w.requested_cores);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use kelvin_attribution::power::SpecCurve;
    use kelvin_attribution::{HostCurve, PowerModels, WakeCost};
    use kelvin_model::EntityId;
    use kelvin_placement::fleet::sample_curve;

    /// Attribution's models seen by placement through the trait: the wiring `fleet_problem`
    /// relies on.
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
        let got = sample_curve(&models, &host, 16.0).unwrap();
        // The floor above sleep (90 % of 60 W) plus the dynamic curve; the boot cancels.
        for (k, (g, p)) in got.iter().zip(points).enumerate() {
            let want = 54.0 + (p - 60.0);
            assert!((g - want).abs() < 1e-6, "point {k}: {g} vs {want}");
        }
        assert!(sample_curve(&models, &EntityId::new("h2").unwrap(), 16.0).is_none());
    }

    /// The recent view is the whole one when it reaches back over the data, and measures
    /// only its window otherwise: a window of one interval sees fewer intervals per host.
    #[test]
    fn the_recent_fleet_is_the_whole_one_over_the_whole_span() {
        let ds = crate::dataset::RecordedDataset::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/datasets/edge-small"
        ))
        .unwrap();
        let mut engine = crate::Engine::builder()
            .inventory(ds.inventory.clone())
            .workloads(ds.workloads.iter().filter(|w| w.host.is_some()).cloned())
            .build()
            .unwrap();
        engine
            .ingest(crate::Batch::prometheus("metrics.prom", ds.metrics.clone()))
            .unwrap();
        let span = engine.data_span().unwrap();
        let long = std::time::Duration::from_secs(10 * 86_400);
        assert_eq!(
            engine.fleet_problem_recent(&[], long).unwrap(),
            engine.fleet_problem(&[]).unwrap()
        );
        let whole = engine.measured_over(span);
        let start = span.end().add_nanos(-600 * 1_000_000_000);
        let recent =
            engine.measured_over(kelvin_model::TimeRange::try_new(start, span.end()).unwrap());
        let host = &ds.inventory.hosts[0].id;
        let (w, r) = (whole.host_power_w[host], recent.host_power_w[host]);
        assert!(
            w > 0.0 && r > 0.0 && w != r,
            "whole {w} W, last 10 min {r} W"
        );
        assert!(
            engine
                .fleet_problem_recent(&[], std::time::Duration::from_secs(60))
                .is_ok()
        );
    }
}
