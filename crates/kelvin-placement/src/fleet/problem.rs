//! The placement problem: hosts, racks, power domains, cooling, workloads and rules.

use kelvin_model::EntityId;

use crate::PlacementError;

/// A server's wall power at the eleven SPECpower_ssj2008 target loads (active idle, 10 %, …,
/// 100 %), linearly interpolated between them, as a function of CPU utilization.
///
/// ```
/// use kelvin_placement::fleet::PowerCurve;
///
/// let c = PowerCurve::try_new([58.4, 98.0, 109.0, 118.0, 128.0, 140.0, 153.0, 170.0, 189.0, 205.0, 222.0])?;
/// assert_eq!(c.power_w(0.0), 58.4);
/// assert!((c.power_w(0.25) - 113.5).abs() < 1e-9);
/// // The smallest dynamic watts per unit of utilization is at 60 %: (153 − 58.4) / 0.6.
/// assert!((c.min_dynamic_slope_w() - 94.6 / 0.6).abs() < 1e-9);
/// // No point of the curve is below idle + that slope × load.
/// assert!((0..=100).all(|k| c.power_w(k as f64 / 100.0) >= 58.4 + c.min_dynamic_slope_w() * k as f64 / 100.0 - 1e-9));
/// # Ok::<(), kelvin_placement::PlacementError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerCurve {
    points_w: [f64; 11],
}

impl PowerCurve {
    /// A curve from its eleven points; every point must be finite and non-negative, and the
    /// curve non-decreasing (more load never draws less power; removing work then never
    /// breaks a power cap).
    pub fn try_new(points_w: [f64; 11]) -> Result<PowerCurve, PlacementError> {
        if let Some(p) = points_w.iter().find(|p| !p.is_finite() || **p < 0.0) {
            return Err(PlacementError::for_call(format!(
                "power curve point {p} W is not a finite non-negative number"
            )));
        }
        if points_w.windows(2).any(|w| w[1] < w[0]) {
            return Err(PlacementError::for_call(
                "power curve is not non-decreasing in load",
            ));
        }
        Ok(PowerCurve { points_w })
    }

    /// The eleven points, watts.
    pub fn points_w(&self) -> &[f64; 11] {
        &self.points_w
    }

    /// Watts at CPU utilization `u` (clamped to `[0, 1]`).
    pub fn power_w(&self, u: f64) -> f64 {
        let x = if u.is_nan() {
            0.0
        } else {
            u.clamp(0.0, 1.0) * 10.0
        };
        let i = (x as usize).min(9);
        let f = x - i as f64;
        self.points_w[i] + (self.points_w[i + 1] - self.points_w[i]) * f
    }

    /// dP/du at utilization `u` (the slope of the segment `u` is in), watts per unit of
    /// utilization.
    pub fn slope_w(&self, u: f64) -> f64 {
        let x = if u.is_nan() {
            0.0
        } else {
            u.clamp(0.0, 1.0) * 10.0
        };
        let i = (x as usize).min(9);
        (self.points_w[i + 1] - self.points_w[i]) * 10.0
    }

    /// Full-load minus idle watts: the chord slope the power-cap variance uses (a constant,
    /// so that a host's predicted spread never grows when work leaves it).
    pub fn dynamic_range_w(&self) -> f64 {
        self.points_w[10] - self.points_w[0]
    }

    /// Active-idle watts.
    pub fn idle_w(&self) -> f64 {
        self.points_w[0]
    }

    /// Full-load watts.
    pub fn max_w(&self) -> f64 {
        self.points_w[10]
    }

    /// `min over u in (0, 1] of (P(u) − P(0)) / u`: a slope `s` with `P(u) ≥ P(0) + s·u` for
    /// every `u`, which the lower bounds use. On a piecewise-linear curve the ratio is monotone
    /// on each segment, so the minimum is at a breakpoint.
    pub fn min_dynamic_slope_w(&self) -> f64 {
        (1..=10)
            .map(|k| (self.points_w[k] - self.points_w[0]) / (k as f64 / 10.0))
            .fold(f64::INFINITY, f64::min)
    }
}

/// A host the optimizer may place workloads on.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The host's id.
    pub id: EntityId,
    /// Index of its rack in [`Problem::racks`].
    pub rack: usize,
    /// Allocatable capacity per resource dimension ([`Problem::dims`]).
    pub capacity: Vec<f64>,
    /// Wall power against the utilization of dimension 0 (CPU).
    pub power: PowerCurve,
    /// Whether the host can be powered down when nothing runs on it. Default `true`.
    pub can_sleep: bool,
    /// Watts drawn while asleep (BMC, fans at minimum). Default 0.
    pub sleep_w: f64,
    /// Whether the host is powered on now, drawing power even with nothing placed on it (an
    /// idle host that was never put to sleep). Default `false`.
    ///
    /// The [`Placer`](super::Placer), which places onto the fleet as it runs, keeps such a
    /// host awake: empty, it draws its idle power, counts in
    /// [`Evaluation::hosts_awake`](super::Evaluation::hosts_awake) and is a candidate like a
    /// host with work, and placing work there adds only dynamic power. [`solve`](super::solve),
    /// the baselines and [`evaluate`](super::evaluate) price plans, in which an empty host
    /// that can sleep sleeps whatever it does now (powering it down is part of the plan).
    pub awake: bool,
}

impl Host {
    /// A host that can sleep at 0 W when empty, asleep now unless it runs work.
    pub fn new(id: EntityId, rack: usize, capacity: Vec<f64>, power: PowerCurve) -> Self {
        Host {
            id,
            rack,
            capacity,
            power,
            can_sleep: true,
            sleep_w: 0.0,
            awake: false,
        }
    }

    /// The same host, drawing `sleep_w` watts asleep, or always on when `can_sleep` is false.
    pub fn with_sleep(mut self, can_sleep: bool, sleep_w: f64) -> Self {
        self.can_sleep = can_sleep;
        self.sleep_w = sleep_w;
        self
    }

    /// The same host, powered on now ([`Host::awake`]) or not.
    pub fn with_awake(mut self, awake: bool) -> Self {
        self.awake = awake;
        self
    }
}

/// A rack: where its inlet temperature limit is, and the carbon intensity of its site's power.
#[derive(Debug, Clone, PartialEq)]
pub struct Rack {
    /// The rack's id.
    pub id: EntityId,
    /// The highest allowed inlet temperature, °C (ASHRAE's recommended envelope tops at 27 °C).
    pub redline_c: f64,
    /// Inlet temperature above the supply temperature with no IT load in the room, °C
    /// (distance from the CRAC, bypass air).
    pub inlet_offset_c: f64,
    /// Grid carbon intensity where the rack is, gCO2e per kWh.
    pub carbon_g_per_kwh: f64,
}

impl Rack {
    /// A rack with a 27 °C redline, no offset and 0 gCO2e/kWh.
    pub fn new(id: EntityId) -> Self {
        Rack {
            id,
            redline_c: 27.0,
            inlet_offset_c: 0.0,
            carbon_g_per_kwh: 0.0,
        }
    }
}

/// A power-capped branch of the distribution tree (PDU, circuit, busway): a cap on the sum
/// of its hosts' power at the problem's [`Problem::cap_percentile`].
#[derive(Debug, Clone, PartialEq)]
pub struct PowerDomain {
    /// The domain's id.
    pub id: EntityId,
    /// The cap, watts.
    pub cap_w: f64,
    /// Indices of the hosts it feeds (a host may be in several nested domains).
    pub hosts: Vec<usize>,
}

/// How cooling power follows the IT load: a CRAC with a coefficient of performance that grows
/// with the supply temperature, `CoP(T) = a·T² + b·T + c`, whose supply temperature is raised as
/// far as the hottest rack inlet allows.
///
/// The default is the HP Labs water-chilled CRAC of Moore, Chase, Ranganathan and Sharma,
/// "Making Scheduling Cool" (USENIX ATC 2005): `CoP(T) = 0.0068·T² + 0.0008·T + 0.458`,
/// with the supply between 15 and 25 °C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cooling {
    /// `[a, b, c]` of the CoP polynomial.
    pub cop: [f64; 3],
    /// Lowest supply temperature the CRAC can deliver, °C. An inlet above redline even at this
    /// supply is a redline violation.
    pub min_supply_c: f64,
    /// Highest supply temperature the operator allows, °C.
    pub max_supply_c: f64,
}

impl Default for Cooling {
    fn default() -> Self {
        Cooling {
            cop: [0.0068, 0.0008, 0.458],
            min_supply_c: 15.0,
            max_supply_c: 25.0,
        }
    }
}

impl Cooling {
    /// The coefficient of performance at supply temperature `t_c`.
    ///
    /// ```
    /// use kelvin_placement::fleet::Cooling;
    ///
    /// // 20 °C: 0.0068·400 + 0.0008·20 + 0.458 = 3.194, so 0.31 W of cooling per IT watt.
    /// assert!((Cooling::default().cop(20.0) - 3.194).abs() < 1e-12);
    /// ```
    pub fn cop(&self, t_c: f64) -> f64 {
        let [a, b, c] = self.cop;
        (a * t_c + b) * t_c + c
    }
}

/// A workload to place (or already placed, and movable at a cost).
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The workload's id.
    pub id: EntityId,
    /// What it reserves per dimension ([`Problem::dims`]).
    pub demand: Vec<f64>,
    /// Predicted mean busy fraction of its dimension-0 (CPU) demand, `0..=1`.
    pub utilization: f64,
    /// Predicted standard deviation of that fraction (for the percentile power caps).
    pub utilization_sd: f64,
    /// Higher runs first and is the last to be left unplaced. Default 0.
    pub priority: i32,
    /// When set, the only hosts it may run on (pinning, node selectors).
    pub allowed_hosts: Option<Vec<usize>>,
    /// The host it runs on now, if any.
    pub current: Option<usize>,
    /// Cost of moving it off `current`, in objective units of the migrations goal. Default 1.
    pub migration_cost: f64,
}

impl Task {
    /// A new, unplaced task with priority 0 whose demand is fully busy with no variance.
    pub fn new(id: EntityId, demand: Vec<f64>) -> Self {
        Task {
            id,
            demand,
            utilization: 1.0,
            utilization_sd: 0.0,
            priority: 0,
            allowed_hosts: None,
            current: None,
            migration_cost: 1.0,
        }
    }

    /// The same task with a predicted utilization (mean and standard deviation).
    pub fn with_utilization(mut self, mean: f64, sd: f64) -> Self {
        self.utilization = mean;
        self.utilization_sd = sd;
        self
    }

    /// The same task with a priority.
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The same task, allowed only on `hosts`.
    pub fn pinned_to(mut self, hosts: Vec<usize>) -> Self {
        self.allowed_hosts = Some(hosts);
        self
    }

    /// The same task, running on `host` now.
    pub fn running_on(mut self, host: usize) -> Self {
        self.current = Some(host);
        self
    }
}

/// What a [`Rule`] counts workloads in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Per host.
    Host,
    /// Per rack.
    Rack,
}

/// What a [`Rule`] requires of its group of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// At most `n` of the group per scope (anti-affinity is `Spread(1)`).
    Spread(u32),
    /// All of the group in one scope (affinity).
    Together,
}

/// A placement rule over a group of tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The rule's name, used in explanations.
    pub name: String,
    /// Indices of the tasks it groups.
    pub tasks: Vec<usize>,
    /// Host or rack.
    pub scope: Scope,
    /// Spread or together.
    pub kind: RuleKind,
}

/// A whole placement problem.
///
/// Indices link the parts: a host names its rack by index, a domain its hosts, a task its
/// allowed and current hosts, a rule its tasks. [`Problem::validate`] checks all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Names of the resource dimensions; dimension 0 drives power (CPU).
    pub dims: Vec<String>,
    /// The hosts.
    pub hosts: Vec<Host>,
    /// The racks.
    pub racks: Vec<Rack>,
    /// Power-capped domains.
    pub domains: Vec<PowerDomain>,
    /// The power-cap percentile: a domain's cap applies to this quantile of its predicted
    /// power (normal approximation), e.g. 0.99. 0.5 caps the mean.
    pub cap_percentile: f64,
    /// Heat recirculation, row-major `racks × racks`: `recirculation[i·R + j]` is the rise of
    /// rack `i`'s inlet, °C, per kW drawn in rack `j` (the `D` matrix of Tang, Gupta and
    /// Varsamopoulos, IEEE TPDS 19(11), 2008). Empty means none.
    pub recirculation: Vec<f64>,
    /// The cooling plant.
    pub cooling: Cooling,
    /// The workloads.
    pub tasks: Vec<Task>,
    /// Affinity, anti-affinity and spread rules.
    pub rules: Vec<Rule>,
}

impl Problem {
    /// An empty problem over the named dimensions, with default cooling and a 0.99 cap
    /// percentile.
    pub fn new(dims: Vec<String>) -> Self {
        Problem {
            dims,
            hosts: Vec::new(),
            racks: Vec::new(),
            domains: Vec::new(),
            cap_percentile: 0.99,
            recirculation: Vec::new(),
            cooling: Cooling::default(),
            tasks: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// The recirculation coefficient from rack `from` into rack `into`'s inlet, °C per kW.
    pub fn recirculation_c_per_kw(&self, into: usize, from: usize) -> f64 {
        if self.recirculation.is_empty() {
            0.0
        } else {
            self.recirculation[into * self.racks.len() + from]
        }
    }

    /// Checks every index, amount and rule; the error names the entity and the reason.
    pub fn validate(&self) -> Result<(), PlacementError> {
        let d = self.dims.len();
        if d == 0 {
            return Err(PlacementError::for_call(
                "a problem needs at least one dimension",
            ));
        }
        let call = PlacementError::for_call;
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if !(self.cap_percentile > 0.0 && self.cap_percentile < 1.0) {
            return Err(call(format!(
                "cap percentile {} is not in (0, 1)",
                self.cap_percentile
            )));
        }
        let c = &self.cooling;
        if !(c.min_supply_c.is_finite()
            && c.max_supply_c.is_finite()
            && c.min_supply_c <= c.max_supply_c)
        {
            return Err(call("cooling supply range is not a finite interval".into()));
        }
        // A quadratic's minimum over an interval is at an end or at its vertex.
        let [a, b, _] = c.cop;
        let vertex = if a != 0.0 {
            -b / (2.0 * a)
        } else {
            c.min_supply_c
        };
        let lowest = [
            c.min_supply_c,
            c.max_supply_c,
            vertex.clamp(c.min_supply_c, c.max_supply_c),
        ]
        .map(|t| c.cop(t))
        .into_iter()
        .fold(f64::INFINITY, f64::min);
        if !c.cop.iter().all(|x| x.is_finite()) || lowest.is_nan() || lowest <= 0.0 {
            return Err(call(
                "cooling CoP is not positive over the supply range".into(),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for h in &self.hosts {
            let host = |r: String| PlacementError::for_host(&h.id, r);
            if !seen.insert(&h.id) {
                return Err(host(format!("host {} appears twice", h.id)));
            }
            if h.rack >= self.racks.len() {
                return Err(host(format!(
                    "host {} names rack #{} of {}",
                    h.id,
                    h.rack,
                    self.racks.len()
                )));
            }
            if h.capacity.len() != d || !h.capacity.iter().all(|v| finite_nonneg(*v)) {
                return Err(host(format!(
                    "host {} needs {d} finite non-negative capacities",
                    h.id
                )));
            }
            if !finite_nonneg(h.sleep_w) || h.sleep_w > h.power.idle_w() {
                return Err(host(format!(
                    "host {} sleep power {} W is not in [0, idle]",
                    h.id, h.sleep_w
                )));
            }
        }
        for r in &self.racks {
            if !(r.redline_c.is_finite()
                && r.inlet_offset_c.is_finite()
                && finite_nonneg(r.carbon_g_per_kwh))
            {
                return Err(call(format!(
                    "rack {} has a non-finite temperature or carbon",
                    r.id
                )));
            }
        }
        let n_racks = self.racks.len();
        if !self.recirculation.is_empty()
            && (Some(self.recirculation.len()) != n_racks.checked_mul(n_racks)
                || !self.recirculation.iter().all(|v| finite_nonneg(*v)))
        {
            return Err(call(format!(
                "recirculation must be {n_racks}×{n_racks} finite non-negative coefficients"
            )));
        }
        for p in &self.domains {
            if !finite_nonneg(p.cap_w) {
                return Err(call(format!(
                    "power domain {} cap {} W is invalid",
                    p.id, p.cap_w
                )));
            }
            if let Some(h) = p.hosts.iter().find(|h| **h >= self.hosts.len()) {
                return Err(call(format!("power domain {} names host #{h}", p.id)));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tasks {
            let task = |r: String| PlacementError::for_workload(&t.id, r);
            if !seen.insert(&t.id) {
                return Err(task(format!("workload {} appears twice", t.id)));
            }
            if t.demand.len() != d || !t.demand.iter().all(|v| finite_nonneg(*v)) {
                return Err(task(format!(
                    "workload {} needs {d} finite non-negative demands",
                    t.id
                )));
            }
            if !(0.0..=1.0).contains(&t.utilization) || !finite_nonneg(t.utilization_sd) {
                return Err(task(format!(
                    "workload {} utilization {} ± {} is not a fraction",
                    t.id, t.utilization, t.utilization_sd
                )));
            }
            if !finite_nonneg(t.migration_cost) {
                return Err(task(format!("workload {} migration cost is invalid", t.id)));
            }
            let bad_host = |h: &usize| *h >= self.hosts.len();
            if t.current.as_ref().is_some_and(bad_host)
                || t.allowed_hosts
                    .as_ref()
                    .is_some_and(|a| a.iter().any(bad_host))
            {
                return Err(task(format!(
                    "workload {} names a host that does not exist",
                    t.id
                )));
            }
        }
        for r in &self.rules {
            if let Some(t) = r.tasks.iter().find(|t| **t >= self.tasks.len()) {
                return Err(call(format!("rule {} names workload #{t}", r.name)));
            }
            if r.kind == RuleKind::Spread(0) {
                return Err(call(format!("rule {} allows 0 per scope", r.name)));
            }
        }
        Ok(())
    }
}
