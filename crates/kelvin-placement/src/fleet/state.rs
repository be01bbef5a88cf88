//! Incremental state of a placement: loads, power, thermal and rule counts, with exact
//! add/remove so that the greedy and the local search can try moves cheaply.

use std::collections::HashMap;
use std::sync::Arc;

use super::Check;
use super::index::Index;
use super::objective::Evaluation;
use super::problem::{Problem, RuleKind, Scope};

/// Relative slack on capacity and cap comparisons (sums of fractional demands pick up
/// rounding).
pub(crate) const EPS: f64 = 1e-9;

/// What moving one task onto (or off) a host changes in the quantities the [`State`] keeps,
/// computed once by the state for every [`Term`](super::Term) of the objective: the built-in
/// terms read their delta from here, a custom term may use it or ignore it.
///
/// For a move off a host every field is the negative of what the task adds there.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Delta {
    /// IT watts (waking an empty host adds its idle floor above sleep power).
    pub it_w: f64,
    /// Cooling watts (more heat, and a lower supply temperature if it heats the critical
    /// rack).
    pub cooling_w: f64,
    /// Grams of CO2e per hour.
    pub carbon_g_per_h: f64,
    /// Stranded capacity, host equivalents.
    pub stranded: f64,
    /// Rise of the inlet of the rack with the largest recirculated rise, °C.
    pub recirculation_c: f64,
    /// Migration cost (negative when a workload returns to its current host).
    pub migration: f64,
}

impl std::ops::Neg for Delta {
    type Output = Delta;

    fn neg(self) -> Delta {
        Delta {
            it_w: -self.it_w,
            cooling_w: -self.cooling_w,
            carbon_g_per_h: -self.carbon_g_per_h,
            stranded: -self.stranded,
            recirculation_c: -self.recirculation_c,
            migration: -self.migration,
        }
    }
}

/// The incremental state of a placement: where every task is, each host's load and power,
/// the power domains' percentile power, the racks' recirculated rise, the supply temperature
/// and the rule counts, kept exactly as tasks are added and removed.
///
/// The [`Placer`](super::Placer), [`solve`](super::solve) and the baselines build and change
/// it; an objective [`Term`](super::Term) reads it (this is its whole public surface: read
/// only) to price a placement and each move.
#[derive(Debug, Clone)]
pub struct State<'p> {
    pub(crate) p: &'p Problem,
    pub(crate) ix: Arc<Index>,
    /// Whether power caps and redlines are hard constraints (Kelvin) or only reported
    /// (the Kubernetes-like baselines, which do not know them).
    pub(crate) power_aware: bool,
    /// Whether a host that is [`awake`](super::Host::awake) now stays awake when empty (the
    /// [`Placer`](super::Placer), which places onto the fleet as it runs) or sleeps like any
    /// empty host (plans: [`solve`](super::solve), the baselines, [`evaluate`](super::evaluate)).
    hold_awake: bool,
    pub(crate) host_of: Vec<Option<u32>>,
    used: Vec<f64>,
    busy: Vec<f64>,
    var: Vec<f64>,
    pub(crate) count: Vec<u32>,
    host_power: Vec<f64>,
    host_stranded: Vec<f64>,
    stranded_sum: f64,
    rack_power: Vec<f64>,
    it_sum: f64,
    carbon_sum: f64,
    recirc: Vec<f64>,
    dom_mean: Vec<f64>,
    dom_var: Vec<f64>,
    rule_counts: HashMap<(u32, u32), u32>,
    rule_placed: Vec<u32>,
    /// Hosts with work and room for more (candidates before empty hosts).
    pub(crate) open: Vec<u32>,
    open_pos: Vec<u32>,
    /// Per entry of `open`, in the same order: the host's used amount per dimension, then its
    /// capacity with the comparison's tolerance per dimension, so that the scan over `open`
    /// rejects hosts without room reading memory in order ([`State::open_misfit`]).
    open_room: Vec<f64>,
    /// Every position of `ix.efficient_hosts` before this one holds an awake host.
    pub(crate) empty_cursor: usize,
    /// One bit per position of `ix.efficient_hosts`, set when the host there is not
    /// [`occupied`](State::occupied): the empty hosts in order of efficiency, found without
    /// reading the occupied ones ([`State::next_idle`]).
    idle_bits: Vec<u64>,
    thermal_epoch: u64,
    allow_cache: Vec<(u64, f64)>,
    supply_c: f64,
    /// The racks with the least inlet slack (`redline − offset − rise`), least first: the
    /// ones that set the supply temperature now or after a small change.
    critical: Vec<(f64, u32)>,
    /// The rack with the largest recirculated rise.
    hottest: Option<usize>,
    /// `it / CoP(supply)` and `carbon_it · (1 + 1/CoP(supply))` as of the last
    /// [`State::refresh_supply`] (which follows every change of power): the parts of every
    /// candidate's cooling and carbon delta that do not depend on the candidate.
    cooling_now: f64,
    carbon_now: f64,
    unplaced: usize,
    unplaced_priority: f64,
    migrations: f64,
    moved: usize,
}

const NOT_OPEN: u32 = u32::MAX;

/// The weight of leaving a task unplaced: `1 + max(priority, 0)`, plus one half for a task
/// that runs now (evicting running work is worse than not starting new work of the same
/// priority, but not worse than not starting higher-priority work).
fn priority_weight(task: &super::problem::Task) -> f64 {
    1.0 + f64::from(task.priority.max(0)) + if task.current.is_some() { 0.5 } else { 0.0 }
}

impl<'p> State<'p> {
    /// An empty placement: every host asleep (or idle when it cannot sleep, or when it is
    /// awake now and `hold_awake`).
    pub(crate) fn empty(
        p: &'p Problem,
        ix: Arc<Index>,
        power_aware: bool,
        hold_awake: bool,
    ) -> State<'p> {
        let n = p.hosts.len();
        let dims = ix.dims;
        let mut s = State {
            p,
            ix,
            power_aware,
            hold_awake,
            host_of: vec![None; p.tasks.len()],
            used: vec![0.0; n * dims],
            busy: vec![0.0; n],
            var: vec![0.0; n],
            count: vec![0; n],
            host_power: vec![0.0; n],
            host_stranded: vec![0.0; n],
            stranded_sum: 0.0,
            rack_power: vec![0.0; p.racks.len()],
            it_sum: 0.0,
            carbon_sum: 0.0,
            recirc: vec![0.0; p.racks.len()],
            dom_mean: vec![0.0; p.domains.len()],
            dom_var: vec![0.0; p.domains.len()],
            rule_counts: HashMap::new(),
            rule_placed: vec![0; p.rules.len()],
            open: Vec::new(),
            open_pos: vec![NOT_OPEN; n],
            open_room: Vec::new(),
            empty_cursor: 0,
            idle_bits: vec![0; n.div_ceil(64)],
            thermal_epoch: 1,
            allow_cache: vec![(0, 0.0); p.racks.len()],
            supply_c: p.cooling.max_supply_c,
            critical: Vec::new(),
            hottest: None,
            cooling_now: 0.0,
            carbon_now: 0.0,
            unplaced: p.tasks.len(),
            unplaced_priority: p.tasks.iter().map(priority_weight).sum(),
            migrations: p
                .tasks
                .iter()
                .filter(|t| t.current.is_some())
                .map(|t| t.migration_cost)
                .sum(),
            moved: p.tasks.iter().filter(|t| t.current.is_some()).count(),
        };
        for h in 0..n {
            let w = s.power_of(h, 0.0, 0);
            s.set_host_power(h, w);
            s.mark_idle(h);
        }
        s.refresh_supply();
        s
    }

    /// A placement with every task at `host_of` (valid indices; not checked against the
    /// constraints), built in bulk: per-host sums in task order, then each host's power and
    /// the room's temperatures once, so `O(tasks · dims + hosts · racks)` rather than a
    /// temperature update per task.
    pub(crate) fn from_assignment(
        p: &'p Problem,
        ix: Arc<Index>,
        power_aware: bool,
        host_of: &[Option<u32>],
    ) -> State<'p> {
        let mut s = State::empty(p, ix, power_aware, false);
        let dims = s.ix.dims;
        let mut touched = Vec::new();
        for (t, h) in host_of.iter().enumerate() {
            let Some(h) = h.map(|h| h as usize) else {
                continue;
            };
            let task = &p.tasks[t];
            for (d, v) in task.demand.iter().enumerate() {
                s.used[h * dims + d] += v;
            }
            s.busy[h] += task.demand[0] * task.utilization;
            let sd = task.demand[0] * task.utilization_sd;
            s.var[h] += sd * sd;
            if s.count[h] == 0 {
                touched.push(h);
            }
            s.count[h] += 1;
            s.update_rules(t, h, true);
            s.host_of[t] = Some(h as u32);
            if task.current == Some(h) {
                s.migrations -= task.migration_cost;
                s.moved -= 1;
            }
        }
        let placed = host_of.iter().filter(|h| h.is_some()).count();
        s.unplaced = p.tasks.len() - placed;
        s.unplaced_priority = p
            .tasks
            .iter()
            .zip(host_of)
            .filter(|(_, h)| h.is_none())
            .map(|(t, _)| priority_weight(t))
            .sum();
        for h in touched {
            let dvar = s.power_var(h, s.var[h]);
            for &k in &s.ix.host_domains[h] {
                s.dom_var[k as usize] += dvar;
            }
            let w = s.power_of(h, s.busy[h], s.count[h]);
            s.set_host_power(h, w);
            let st = s.stranded_of(h, None, s.count[h]);
            s.stranded_sum += st;
            s.host_stranded[h] = st;
            s.reopen(h);
        }
        s.refresh_supply();
        s
    }

    /// What task `t` adds where it is, given everything else: the [`Delta`] of adding it to
    /// the placement without it, computed without changing anything (`None` when it is
    /// unplaced). The rise is taken at the rack with the largest rise now.
    pub(crate) fn marginal(&self, t: usize) -> Option<Delta> {
        let h = self.host_of[t]? as usize;
        let p = self.p;
        let task = &p.tasks[t];
        let rack = p.hosts[h].rack;
        let count = self.count[h] - 1;
        let busy = if count == 0 {
            0.0
        } else {
            self.busy[h] - task.demand[0] * task.utilization
        };
        let dw = self.host_power[h] - self.power_of(h, busy, count);
        // Supply temperatures without the task (`before`) and with it (now).
        let max_supply = p.cooling.max_supply_c;
        let before = if self.ix.recirc_col.is_empty() || dw == 0.0 {
            self.supply_c
        } else {
            let n = p.racks.len();
            let col = &self.ix.recirc_col[rack * n..(rack + 1) * n];
            let listed = self
                .critical
                .iter()
                .map(|(slack, r)| slack + col[*r as usize] * dw / 1000.0)
                .fold(f64::INFINITY, f64::min);
            // Racks off the list have at least the last listed slack, and only gain.
            let exact = self.critical.len() == n
                || self
                    .critical
                    .last()
                    .is_some_and(|(last, _)| listed <= *last);
            let least = if exact {
                listed
            } else {
                (0..n)
                    .map(|r| self.ix.supply_room_c[r] - self.recirc[r] + col[r] * dw / 1000.0)
                    .fold(f64::INFINITY, f64::min)
            };
            least.min(max_supply)
        };
        let cop_before = p.cooling.cop(before.max(p.cooling.min_supply_c));
        let cop_after = p.cooling.cop(self.supply_c());
        let ci = p.racks[rack].carbon_g_per_kwh;
        let it = self.it_w() - dw;
        let carbon_it = self.carbon_it() - dw * ci;
        let neg: Vec<f64> = task.demand.iter().map(|v| -v).collect();
        let stranded_without = self.stranded_of(h, Some(&neg), count);
        let rise_c = match (self.hottest, self.ix.recirc_col.is_empty()) {
            (Some(r), false) => self.ix.recirc_col[rack * p.racks.len() + r] * dw / 1000.0,
            _ => 0.0,
        };
        let migration = match task.current {
            Some(c) if c != h => task.migration_cost,
            Some(_) => -task.migration_cost,
            None => 0.0,
        };
        Some(Delta {
            it_w: dw,
            cooling_w: (it + dw) / cop_after - it / cop_before,
            carbon_g_per_h: ((carbon_it + dw * ci) * (1.0 + 1.0 / cop_after)
                - carbon_it * (1.0 + 1.0 / cop_before))
                / 1000.0,
            stranded: self.host_stranded[h] - stranded_without,
            recirculation_c: rise_c,
            migration,
        })
    }

    /// Mean wall power of host `h` with `busy` cores busy and `count` tasks.
    fn power_of(&self, h: usize, busy: f64, count: u32) -> f64 {
        let host = &self.p.hosts[h];
        if count == 0 && host.can_sleep && !(self.hold_awake && host.awake) {
            return host.sleep_w;
        }
        let cap = host.capacity[0];
        let u = if cap > 0.0 { busy / cap } else { 0.0 };
        host.power.power_w(u)
    }

    /// Variance of host `h`'s power, W²: (chord slope / capacity)² · Σ (demand·sd)². A
    /// constant slope keeps it monotone in the host's tasks.
    fn power_var(&self, h: usize, var: f64) -> f64 {
        let host = &self.p.hosts[h];
        let cap = host.capacity[0];
        if cap <= 0.0 {
            return 0.0;
        }
        let s = host.power.dynamic_range_w() / cap;
        s * s * var
    }

    fn stranded_of(&self, h: usize, extra: Option<&[f64]>, count: u32) -> f64 {
        if count == 0 {
            return 0.0;
        }
        let cap = &self.p.hosts[h].capacity;
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for (d, c) in cap.iter().enumerate() {
            if *c <= 0.0 {
                continue;
            }
            let u = self.used(h, d) + extra.map_or(0.0, |e| e[d]);
            let f = ((c - u) / c).max(0.0);
            lo = lo.min(f);
            hi = hi.max(f);
        }
        if hi >= lo { hi - lo } else { 0.0 }
    }

    fn set_host_power(&mut self, h: usize, w: f64) {
        let r = self.p.hosts[h].rack;
        let dw = w - self.host_power[h];
        self.host_power[h] = w;
        self.rack_power[r] += dw;
        self.it_sum += dw;
        self.carbon_sum += dw * self.p.racks[r].carbon_g_per_kwh;
        for &k in &self.ix.host_domains[h] {
            self.dom_mean[k as usize] += dw;
        }
        if dw != 0.0 && !self.ix.recirc_col.is_empty() {
            let n = self.p.racks.len();
            let col = &self.ix.recirc_col[r * n..(r + 1) * n];
            for (x, c) in self.recirc.iter_mut().zip(col) {
                *x += c * dw / 1000.0;
            }
            self.thermal_epoch += 1;
        }
    }

    /// Recomputes the racks with the least slack, the supply temperature, the hottest rack
    /// and the candidate-independent parts of the deltas; called after every change of power.
    fn refresh_supply(&mut self) {
        const K: usize = 8;
        let mut critical = std::mem::take(&mut self.critical);
        critical.clear();
        // The slack a rack needs to enter the list once it is full.
        let mut worst = f64::INFINITY;
        let mut hottest: Option<usize> = None;
        let mut hot_rise = f64::NEG_INFINITY;
        for (r, (room, rise)) in self.ix.supply_room_c.iter().zip(&self.recirc).enumerate() {
            let slack = room - rise;
            if critical.len() < K || slack < worst {
                let at = critical.partition_point(|(x, _)| *x <= slack);
                critical.insert(at, (slack, r as u32));
                critical.truncate(K);
                if critical.len() == K {
                    worst = critical[K - 1].0;
                }
            }
            if hottest.is_none() || *rise > hot_rise {
                hot_rise = *rise;
                hottest = Some(r);
            }
        }
        self.supply_c = critical
            .first()
            .map_or(self.p.cooling.max_supply_c, |(x, _)| {
                x.min(self.p.cooling.max_supply_c)
            });
        self.critical = critical;
        self.hottest = hottest;
        let cop = self.p.cooling.cop(self.supply_c());
        self.cooling_now = self.it_w() / cop;
        self.carbon_now = self.carbon_it() * (1.0 + 1.0 / cop);
    }

    /// The largest power increase (W) rack `j` can take before some inlet passes redline at
    /// the lowest supply temperature; cached until the thermal state changes.
    fn thermal_allowance_w(&mut self, j: usize) -> f64 {
        if self.ix.recirc_col.is_empty() {
            return f64::INFINITY;
        }
        let (epoch, v) = self.allow_cache[j];
        if epoch == self.thermal_epoch {
            return v;
        }
        let n = self.p.racks.len();
        let col = &self.ix.recirc_col[j * n..(j + 1) * n];
        let mut allow = f64::INFINITY;
        for (i, c) in col.iter().enumerate() {
            if *c > 0.0 {
                let room = self.ix.thermal_budget_c[i] - self.recirc[i];
                allow = allow.min(room / c * 1000.0);
            }
        }
        self.allow_cache[j] = (self.thermal_epoch, allow);
        allow
    }

    fn rule_scope(&self, scope: Scope, h: usize) -> u32 {
        match scope {
            Scope::Host => h as u32,
            Scope::Rack => self.p.hosts[h].rack as u32,
        }
    }

    /// The effect of adding task `t` to host `h`, or the first hard constraint that forbids
    /// it. With `all`, every broken constraint is pushed there (the result is then the first).
    pub(crate) fn try_add(
        &mut self,
        t: usize,
        h: usize,
        all: Option<&mut Vec<Check>>,
    ) -> Result<Delta, Check> {
        self.try_add_as(t, h, all, None)
    }

    /// [`State::try_add`] with task `t` asking for `demand` (one value per dimension)
    /// instead of its own, when given.
    pub(crate) fn try_add_as(
        &mut self,
        t: usize,
        h: usize,
        mut all: Option<&mut Vec<Check>>,
        demand: Option<&[f64]>,
    ) -> Result<Delta, Check> {
        let mut first: Option<Check> = None;
        macro_rules! fail {
            ($c:expr) => {{
                let c = $c;
                match all.as_deref_mut() {
                    Some(v) => {
                        v.push(c);
                        first.get_or_insert(c);
                    }
                    None => return Err(c),
                }
            }};
        }
        let p = self.p;
        let task = &p.tasks[t];
        let demand = demand.unwrap_or(&task.demand);
        let host = &p.hosts[h];
        if let Some(allowed) = &task.allowed_hosts
            && !allowed.contains(&h)
        {
            fail!(Check::Pinned);
        }
        for (d, cap) in host.capacity.iter().enumerate() {
            if self.used(h, d) + demand[d] > cap + EPS * cap.max(1.0) {
                fail!(Check::Capacity(d as u32));
            }
        }
        for &k in &self.ix.task_rules[t] {
            let rule = &p.rules[k as usize];
            let here = self.rule_count(k, self.rule_scope(rule.scope, h));
            match rule.kind {
                RuleKind::Spread(n) => {
                    if here >= n {
                        fail!(Check::Rule(k));
                    }
                }
                RuleKind::Together => {
                    // Every placed member must already be in this scope.
                    if self.rule_placed[k as usize] > here {
                        fail!(Check::Rule(k));
                    }
                }
            }
        }
        let busy = self.busy[h] + demand[0] * task.utilization;
        let sd = demand[0] * task.utilization_sd;
        let dvar = self.power_var(h, sd * sd);
        let count = self.count[h] + 1;
        let dw = self.power_of(h, busy, count) - self.host_power[h];
        if self.power_aware {
            for &k in &self.ix.host_domains[h] {
                let k = k as usize;
                let mean = self.dom_mean[k] + dw;
                let v = (self.dom_var[k] + dvar).max(0.0);
                let cap = p.domains[k].cap_w;
                if mean + self.ix.z * v.sqrt() > cap + EPS * cap.max(1.0) {
                    fail!(Check::PowerCap(k as u32));
                }
            }
            // Fast path: even the largest coefficient of this rack's column times the
            // increase stays within the smallest slack of any inlet.
            let least_slack = self
                .critical
                .first()
                .map_or(f64::INFINITY, |(x, _)| x - p.cooling.min_supply_c);
            let sure = self.ix.recirc_col_max.is_empty()
                || dw * self.ix.recirc_col_max[host.rack] / 1000.0 <= least_slack;
            if dw > 0.0 && !sure {
                let allow = self.thermal_allowance_w(host.rack);
                if dw > allow + EPS {
                    fail!(Check::Redline(self.first_to_redline(host.rack) as u32));
                }
            }
        }
        if let Some(c) = first {
            return Err(c);
        }
        // The objective's deltas. The new supply temperature is exact unless a rack outside
        // the few with the least slack becomes critical; the thermal term follows the rack
        // with the largest rise.
        let n = p.racks.len();
        let (new_supply, rise_c) = if self.ix.recirc_col.is_empty() || dw == 0.0 {
            (self.supply_c, 0.0)
        } else {
            let col = &self.ix.recirc_col[host.rack * n..(host.rack + 1) * n];
            let req = self
                .critical
                .iter()
                .map(|(slack, r)| slack - col[*r as usize] * dw / 1000.0)
                .fold(p.cooling.max_supply_c, f64::min);
            let rise = self.hottest.map_or(0.0, |r| col[r] * dw / 1000.0);
            (req, rise)
        };
        let cop_after = p.cooling.cop(new_supply.max(p.cooling.min_supply_c));
        let it = self.it_w();
        let carbon_it = self.carbon_it();
        let ci = p.racks[host.rack].carbon_g_per_kwh;
        let migration = match task.current {
            Some(c) if c != h => task.migration_cost,
            Some(_) => -task.migration_cost,
            None => 0.0,
        };
        Ok(Delta {
            it_w: dw,
            cooling_w: (it + dw) / cop_after - self.cooling_now,
            carbon_g_per_h: ((carbon_it + dw * ci) * (1.0 + 1.0 / cop_after) - self.carbon_now)
                / 1000.0,
            stranded: self.stranded_of(h, Some(demand), count) - self.host_stranded[h],
            recirculation_c: rise_c,
            migration,
        })
    }

    /// The rack whose inlet would pass redline first when rack `j` draws more.
    fn first_to_redline(&self, j: usize) -> usize {
        let n = self.p.racks.len();
        let col = &self.ix.recirc_col[j * n..(j + 1) * n];
        (0..n)
            .filter(|i| col[*i] > 0.0)
            .min_by(|a, b| {
                let ra = (self.ix.thermal_budget_c[*a] - self.recirc[*a]) / col[*a];
                let rb = (self.ix.thermal_budget_c[*b] - self.recirc[*b]) / col[*b];
                ra.total_cmp(&rb)
            })
            .unwrap_or(j)
    }

    /// Σ over racks of rack power × carbon intensity, W·g/kWh (kept incrementally).
    fn carbon_it(&self) -> f64 {
        self.carbon_sum
    }

    fn update_rules(&mut self, t: usize, h: usize, add: bool) {
        let ix = Arc::clone(&self.ix);
        for &k in &ix.task_rules[t] {
            let scope = self.rule_scope(self.p.rules[k as usize].scope, h);
            if add {
                *self.rule_counts.entry((k, scope)).or_insert(0) += 1;
                self.rule_placed[k as usize] += 1;
            } else {
                self.rule_placed[k as usize] -= 1;
                if let Some(c) = self.rule_counts.get_mut(&(k, scope)) {
                    *c -= 1;
                    if *c == 0 {
                        self.rule_counts.remove(&(k, scope));
                    }
                }
            }
        }
    }

    /// Whether host `h` counts as running for the candidate lists: it has work, or it is held
    /// awake (empty, drawing idle power, as cheap to use as a host with work).
    pub(crate) fn occupied(&self, h: usize) -> bool {
        self.count[h] > 0 || (self.hold_awake && self.p.hosts[h].awake)
    }

    fn reopen(&mut self, h: usize) {
        let has_room = self.occupied(h)
            && (0..self.ix.dims).all(|d| {
                let need = self.ix.min_demand[d];
                !need.is_finite() || self.p.hosts[h].capacity[d] - self.used(h, d) + EPS >= need
            });
        let pos = self.open_pos[h];
        let dims = self.ix.dims;
        if has_room && pos == NOT_OPEN {
            self.open_pos[h] = self.open.len() as u32;
            self.open.push(h as u32);
            self.open_room
                .extend(self.used[h * dims..(h + 1) * dims].iter());
            self.open_room.extend(
                self.p.hosts[h]
                    .capacity
                    .iter()
                    .map(|cap| cap + EPS * cap.max(1.0)),
            );
        } else if has_room {
            let at = pos as usize * 2 * dims;
            self.open_room[at..at + dims].copy_from_slice(&self.used[h * dims..(h + 1) * dims]);
        } else if pos != NOT_OPEN {
            let (at, last) = (pos as usize * 2 * dims, self.open_room.len() - 2 * dims);
            self.open_room.copy_within(last.., at);
            self.open_room.truncate(last);
            self.open.swap_remove(pos as usize);
            if let Some(moved) = self.open.get(pos as usize) {
                self.open_pos[*moved as usize] = pos;
            }
            self.open_pos[h] = NOT_OPEN;
        }
        if !self.occupied(h) {
            self.empty_cursor = self.empty_cursor.min(self.ix.efficient_pos[h] as usize);
        }
        self.mark_idle(h);
    }

    /// Sets or clears host `h`'s bit in `idle_bits` as it is empty or occupied.
    fn mark_idle(&mut self, h: usize) {
        let pos = self.ix.efficient_pos[h] as usize;
        let bit = 1u64 << (pos % 64);
        if self.occupied(h) {
            self.idle_bits[pos / 64] &= !bit;
        } else {
            self.idle_bits[pos / 64] |= bit;
        }
    }

    /// The first position of `ix.efficient_hosts` at or after `pos` whose host is not
    /// [`occupied`](State::occupied) (the number of hosts when there is none).
    pub(crate) fn next_idle(&self, pos: usize) -> usize {
        let n = self.p.hosts.len();
        let mut w = pos / 64;
        if w >= self.idle_bits.len() {
            return n;
        }
        let mut bits = self.idle_bits[w] & (u64::MAX << (pos % 64));
        loop {
            if bits != 0 {
                return (w * 64 + bits.trailing_zeros() as usize).min(n);
            }
            w += 1;
            match self.idle_bits.get(w) {
                Some(b) => bits = *b,
                None => return n,
            }
        }
    }

    fn apply(&mut self, t: usize, h: usize, sign: f64) {
        let task = &self.p.tasks[t];
        let dims = self.ix.dims;
        for (d, v) in task.demand.iter().enumerate() {
            self.used[h * dims + d] += sign * v;
        }
        self.busy[h] += sign * task.demand[0] * task.utilization;
        let sd = task.demand[0] * task.utilization_sd;
        self.var[h] += sign * sd * sd;
        let dvar = sign * self.power_var(h, sd * sd);
        if sign > 0.0 {
            self.count[h] += 1;
        } else {
            self.count[h] -= 1;
        }
        if self.count[h] == 0 {
            // An empty host holds nothing: drop accumulated rounding.
            self.used[h * dims..(h + 1) * dims].fill(0.0);
            self.busy[h] = 0.0;
            self.var[h] = 0.0;
        }
        for &k in &self.ix.host_domains[h] {
            self.dom_var[k as usize] += dvar;
        }
        let w = self.power_of(h, self.busy[h], self.count[h]);
        self.set_host_power(h, w);
        let s = self.stranded_of(h, None, self.count[h]);
        self.stranded_sum += s - self.host_stranded[h];
        self.host_stranded[h] = s;
        self.reopen(h);
        self.refresh_supply();
    }

    /// Puts task `t` on host `h` (no checks: call [`State::try_add`] first).
    pub(crate) fn add(&mut self, t: usize, h: usize) {
        debug_assert!(self.host_of[t].is_none());
        self.apply(t, h, 1.0);
        self.update_rules(t, h, true);
        self.host_of[t] = Some(h as u32);
        let task = &self.p.tasks[t];
        self.unplaced -= 1;
        self.unplaced_priority -= priority_weight(task);
        if task.current == Some(h) {
            self.migrations -= task.migration_cost;
            self.moved -= 1;
        }
    }

    /// Takes task `t` off its host; returns the host.
    pub(crate) fn remove(&mut self, t: usize) -> Option<usize> {
        let h = self.host_of[t]? as usize;
        self.host_of[t] = None;
        self.update_rules(t, h, false);
        self.apply(t, h, -1.0);
        let task = &self.p.tasks[t];
        self.unplaced += 1;
        self.unplaced_priority += priority_weight(task);
        if task.current == Some(h) {
            self.migrations += task.migration_cost;
            self.moved += 1;
        }
        Some(h)
    }

    /// The first dimension in which the host at position `i` of `open` lacks room for
    /// `demand`, by the same comparison as [`State::try_add`]'s capacity check (`None`: it has
    /// room in every dimension).
    #[inline]
    pub(crate) fn open_misfit(&self, i: usize, demand: &[f64]) -> Option<u32> {
        let dims = self.ix.dims;
        let (used, tol) = self.open_room[i * 2 * dims..(i + 1) * 2 * dims].split_at(dims);
        (0..dims)
            .find(|&d| used[d] + demand[d] > tol[d])
            .map(|d| d as u32)
    }

    /// Members of rule `rule` in scope `scope`.
    pub(crate) fn rule_count(&self, rule: u32, scope: u32) -> u32 {
        self.rule_counts.get(&(rule, scope)).copied().unwrap_or(0)
    }

    /// Fraction of the host's capacity in use, averaged over the dimensions it has.
    pub(crate) fn load_fraction(&self, h: usize, extra: Option<&[f64]>) -> f64 {
        let cap = &self.p.hosts[h].capacity;
        let (mut sum, mut n) = (0.0, 0.0);
        for (d, c) in cap.iter().enumerate() {
            if *c > 0.0 {
                sum += (self.used(h, d) + extra.map_or(0.0, |e| e[d])) / c;
                n += 1.0;
            }
        }
        if n > 0.0 { sum / n } else { 0.0 }
    }
}

/// What an objective [`Term`](super::Term) (or anyone holding a state) can read. Every figure is
/// kept incrementally or is a short sum over racks: reading is cheap.
impl<'p> State<'p> {
    /// The problem this is a placement of.
    pub fn problem(&self) -> &'p Problem {
        self.p
    }

    /// Task `t`'s host (`None` when unplaced or out of range).
    pub fn host_of(&self, t: usize) -> Option<usize> {
        self.host_of.get(t).copied().flatten().map(|h| h as usize)
    }

    /// The number of tasks on host `h`.
    pub fn task_count(&self, h: usize) -> usize {
        self.count[h] as usize
    }

    /// Used amount of dimension `d` on host `h`: the sum of its tasks' demands.
    pub fn used(&self, h: usize, d: usize) -> f64 {
        self.used[h * self.ix.dims + d]
    }

    /// Host `h`'s mean predicted wall power, watts (its sleep power when it sleeps).
    pub fn host_power_w(&self, h: usize) -> f64 {
        self.host_power[h]
    }

    /// Whether host `h` draws more than its sleep power: it runs work, cannot sleep, or (in
    /// the [`Placer`](super::Placer)) is [`awake`](super::Host::awake) now.
    pub fn is_awake(&self, h: usize) -> bool {
        self.occupied(h) || !self.p.hosts[h].can_sleep
    }

    /// Σ host power, watts (kept incrementally; rebuilt with the state each search epoch).
    pub fn it_w(&self) -> f64 {
        self.it_sum
    }

    /// The supply temperature the plant runs at: as high as the hottest inlet allows, within
    /// the plant's range.
    pub fn supply_c(&self) -> f64 {
        self.supply_c.max(self.p.cooling.min_supply_c)
    }

    /// Cooling watts: IT / CoP(supply).
    pub fn cooling_w(&self) -> f64 {
        self.it_w() / self.p.cooling.cop(self.supply_c())
    }

    /// IT plus cooling watts.
    pub fn facility_w(&self) -> f64 {
        self.it_w() + self.cooling_w()
    }

    /// Carbon, gCO2e per hour: Σ rack power × the rack's grid intensity, with cooling.
    pub fn carbon_g_per_h(&self) -> f64 {
        let cop = self.p.cooling.cop(self.supply_c());
        self.carbon_it() * (1.0 + 1.0 / cop) / 1000.0
    }

    /// Stranded capacity, host equivalents ([`Goal::Stranded`](super::Goal::Stranded)).
    pub fn stranded(&self) -> f64 {
        self.stranded_sum.max(0.0)
    }

    /// Rise of each rack's inlet from recirculated heat, °C.
    pub fn recirculation_c(&self) -> &[f64] {
        &self.recirc
    }

    /// The largest recirculated inlet rise, °C.
    pub fn max_recirculation_c(&self) -> f64 {
        self.recirc.iter().copied().fold(0.0, f64::max)
    }

    /// A domain's power at the cap percentile, watts.
    pub fn domain_percentile_w(&self, k: usize) -> f64 {
        self.dom_mean[k] + self.ix.z * self.dom_var[k].max(0.0).sqrt()
    }

    /// Σ migration cost of moved workloads (unplaced running ones count as moved).
    pub fn migrations(&self) -> f64 {
        self.migrations.max(0.0)
    }

    /// Workloads without a host.
    pub fn unplaced(&self) -> usize {
        self.unplaced
    }

    /// Σ (1 + max(priority, 0)) over unplaced workloads, plus ½ for each that runs now: the
    /// first thing every objective minimises.
    pub fn unplaced_priority(&self) -> f64 {
        self.unplaced_priority.max(0.0)
    }

    /// The cost of the current placement (no violations: see [`evaluate`](super::evaluate)).
    pub fn evaluation(&self) -> Evaluation {
        let it = self.it_w();
        let cop = self.p.cooling.cop(self.supply_c());
        Evaluation {
            unplaced: self.unplaced,
            unplaced_priority: self.unplaced_priority(),
            it_w: it,
            cooling_w: it / cop,
            carbon_g_per_h: self.carbon_it() * (1.0 + 1.0 / cop) / 1000.0,
            stranded: self.stranded(),
            max_recirculation_c: self.max_recirculation_c(),
            migrations: self.migrations(),
            moved: self.moved,
            supply_c: self.supply_c(),
            hosts_awake: (0..self.p.hosts.len())
                .filter(|h| self.is_awake(*h))
                .count(),
            violations: Vec::new(),
        }
    }
}
