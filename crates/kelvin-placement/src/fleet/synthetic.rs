//! A seeded synthetic data center for benchmarks, examples and tests.

use kelvin_model::EntityId;

use super::problem::{Host, PowerCurve, PowerDomain, Problem, Rack, Rule, RuleKind, Scope, Task};
use crate::PlacementError;
use crate::rng::Rng;

/// Watts an empty, powered-down host still draws (BMC, standby rails): an assumption of the
/// synthetic fleet, in the 5–15 W range of server standby power.
const STANDBY_W: f64 = 10.0;

/// A server model to rack: name, capacity per dimension (`[cores, GiB]`) and power curve.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerModel {
    /// Short name, used in host ids.
    pub name: String,
    /// `[cpu cores, memory GiB]`.
    pub capacity: [f64; 2],
    /// Its power curve.
    pub curve: PowerCurve,
}

/// The shape of a synthetic data center: one row of racks, each of one server model
/// (round-robin over `models`), hosts that sleep at 10 W when empty, a PDU per rack, a heat-recirculation matrix that is strongest
/// at the ends of the row, and a batch of workloads.
///
/// Recirculation follows the abstract heat-flow model of Tang, Gupta and Varsamopoulos (IEEE
/// TPDS 19(11), 2008), with synthetic coefficients (no measured matrix is public):
/// `D[i][j] = a_i · exp(−|i − j| / 2)` °C per kW, `a_i` from 0.08 (mid-row) to 0.30 (row ends)
/// plus a seeded jitter of ±20 %.
///
/// ```
/// use kelvin_placement::fleet::{PowerCurve, ServerModel, Synthetic};
///
/// let model = ServerModel {
///     name: "x3550".into(),
///     capacity: [24.0, 96.0],
///     curve: PowerCurve::try_new([58.4, 98.0, 109.0, 118.0, 128.0, 140.0, 153.0, 170.0, 189.0, 205.0, 222.0])?,
/// };
/// let p = Synthetic::new(vec![model]).racks(4).hosts_per_rack(10).tasks(200).build(1)?;
/// assert_eq!((p.racks.len(), p.hosts.len(), p.tasks.len(), p.domains.len()), (4, 40, 200, 4));
/// p.validate()?;
/// # Ok::<(), kelvin_placement::PlacementError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    models: Vec<ServerModel>,
    racks: usize,
    hosts_per_rack: usize,
    tasks: usize,
    load: f64,
    pdu_fraction: f64,
    replica_groups: usize,
}

impl Synthetic {
    /// Most racks [`Synthetic::build`] makes (its recirculation matrix holds their square).
    pub const MAX_RACKS: usize = 2_048;
    /// Most hosts [`Synthetic::build`] makes.
    pub const MAX_HOSTS: usize = 1_000_000;
    /// Most workloads [`Synthetic::build`] makes.
    pub const MAX_TASKS: usize = 1 << 22;

    /// Defaults: 8 racks × 16 hosts, 600 workloads sized to fill 55 % of the CPU, PDU caps at
    /// 65 % of the rack's nameplate (full-load) power, 20 replica groups of three spread one
    /// per rack.
    pub fn new(models: Vec<ServerModel>) -> Self {
        Synthetic {
            models,
            racks: 8,
            hosts_per_rack: 16,
            tasks: 600,
            load: 0.55,
            pdu_fraction: 0.65,
            replica_groups: 20,
        }
    }
    /// Number of racks.
    pub fn racks(mut self, n: usize) -> Self {
        self.racks = n;
        self
    }
    /// Hosts per rack.
    pub fn hosts_per_rack(mut self, n: usize) -> Self {
        self.hosts_per_rack = n;
        self
    }
    /// Number of workloads.
    pub fn tasks(mut self, n: usize) -> Self {
        self.tasks = n;
        self
    }
    /// Total CPU demand as a fraction of total CPU capacity.
    pub fn load(mut self, f: f64) -> Self {
        self.load = f;
        self
    }
    /// Each rack PDU's cap as a fraction of its hosts' summed full-load power.
    pub fn pdu_fraction(mut self, f: f64) -> Self {
        self.pdu_fraction = f;
        self
    }
    /// Groups of three replicas that must sit in three different racks.
    pub fn replica_groups(mut self, n: usize) -> Self {
        self.replica_groups = n;
        self
    }

    /// The problem for `seed` (the same seed gives the same problem).
    ///
    /// # Errors
    /// [`crate::PlacementErrorKind::InvalidInput`] without a server model, or for a fleet
    /// past the limits that keep it in memory: [`Synthetic::MAX_RACKS`] racks (the
    /// recirculation matrix grows with their square), [`Synthetic::MAX_HOSTS`] hosts and
    /// [`Synthetic::MAX_TASKS`] workloads; the message names the count and the limit.
    pub fn build(&self, seed: u64) -> Result<Problem, PlacementError> {
        if self.models.is_empty() {
            return Err(PlacementError::for_call(
                "a synthetic fleet needs a server model",
            ));
        }
        let hosts = self.racks.checked_mul(self.hosts_per_rack);
        let too_many = if self.racks > Self::MAX_RACKS {
            Some(format!(
                "{} racks, more than the limit of {}",
                self.racks,
                Self::MAX_RACKS
            ))
        } else if hosts.is_none_or(|h| h > Self::MAX_HOSTS) {
            Some(format!(
                "{} racks of {} hosts, more than the limit of {} hosts",
                self.racks,
                self.hosts_per_rack,
                Self::MAX_HOSTS
            ))
        } else if self.tasks > Self::MAX_TASKS {
            Some(format!(
                "{} workloads, more than the limit of {}",
                self.tasks,
                Self::MAX_TASKS
            ))
        } else {
            None
        };
        if let Some(why) = too_many {
            return Err(PlacementError::for_call(format!(
                "a synthetic fleet of {why}"
            )));
        }
        let id = |s: String| EntityId::new(&s).map_err(|e| PlacementError::for_call(e.to_string()));
        let mut rng = Rng(seed ^ 0x6b65_6c76_696e);
        let mut p = Problem::new(vec!["cpu".into(), "memory_gib".into()]);
        let r = self.racks;
        for i in 0..r {
            let mut rack = Rack::new(id(format!("rack-{i:02}"))?);
            rack.inlet_offset_c = 1.5 * rng.unit();
            rack.carbon_g_per_kwh = 350.0;
            p.racks.push(rack);
        }
        let mut a = Vec::with_capacity(r);
        for i in 0..r {
            let edge = if r > 1 {
                let x = i as f64 / (r - 1) as f64;
                (2.0 * x - 1.0).abs().powi(2)
            } else {
                0.0
            };
            a.push((0.08 + 0.22 * edge) * (0.8 + 0.4 * rng.unit()));
        }
        p.recirculation = (0..r * r)
            .map(|k| {
                let (i, j) = (k / r, k % r);
                a[i] * (-(i.abs_diff(j) as f64) / 2.0).exp()
            })
            .collect();
        let mut cpu_total = 0.0;
        for i in 0..r {
            let m = &self.models[i % self.models.len()];
            let first = p.hosts.len();
            for k in 0..self.hosts_per_rack {
                p.hosts.push(
                    Host::new(
                        id(format!("{}-r{i:02}-{k:02}", m.name))?,
                        i,
                        m.capacity.to_vec(),
                        m.curve,
                    )
                    .with_sleep(true, STANDBY_W.min(m.curve.idle_w())),
                );
                cpu_total += m.capacity[0];
            }
            let nameplate = self.hosts_per_rack as f64 * m.curve.max_w();
            p.domains.push(PowerDomain {
                id: id(format!("pdu-{i:02}"))?,
                cap_w: self.pdu_fraction * nameplate,
                hosts: (first..p.hosts.len()).collect(),
            });
        }
        // Workload sizes: mostly small, some large (cores), 2–8 GiB per core.
        const CORES: [f64; 6] = [1.0, 2.0, 2.0, 4.0, 8.0, 16.0];
        const GIB_PER_CORE: [f64; 3] = [2.0, 4.0, 8.0];
        let mut raw: Vec<(f64, f64, f64, f64)> = (0..self.tasks)
            .map(|_| {
                let c = CORES[rng.below(CORES.len())];
                let g = GIB_PER_CORE[rng.below(GIB_PER_CORE.len())];
                let u = 0.2 + 0.7 * rng.unit();
                let sd = (0.05 + 0.15 * rng.unit()).min(u);
                (c, c * g, u, sd)
            })
            .collect();
        let want = self.load * cpu_total;
        let have: f64 = raw.iter().map(|x| x.0).sum();
        let scale = if have > 0.0 { want / have } else { 1.0 };
        let smallest = |d: usize| {
            self.models
                .iter()
                .map(|m| m.capacity[d])
                .fold(f64::INFINITY, f64::min)
        };
        let (max_cores, max_gib) = (smallest(0) / 2.0, smallest(1) / 2.0);
        for (k, (c, g, u, sd)) in raw.iter_mut().enumerate() {
            let cores = (*c * scale).clamp(0.25, max_cores);
            let gib = (*g * scale).min(max_gib);
            p.tasks.push(
                Task::new(
                    id(format!("w{k:05}"))?,
                    vec![(cores * 4.0).round() / 4.0, gib.round().max(1.0)],
                )
                .with_utilization(*u, *sd),
            );
        }
        for g in 0..self.replica_groups.min(self.tasks / 3) {
            p.rules.push(Rule {
                name: format!("replicas-{g}"),
                tasks: vec![3 * g, 3 * g + 1, 3 * g + 2],
                scope: Scope::Rack,
                kind: RuleKind::Spread(1),
            });
        }
        Ok(p)
    }
}
