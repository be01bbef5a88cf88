//! Batch placement: greedy construction, then large-neighbourhood search.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::bound::{Bound, lower_bound};
use super::index::Index;
use super::objective::{Change, Direction, Key, Objective, cmp_keys};
use super::placer::{Blocked, Breakdown, Cursor, Policy, Sampling, blockers, choose};
use super::state::State;
use super::{Evaluation, Problem, violations};
use crate::PlacementError;
use crate::clock::{Clock, sort_within};
use crate::rng::Rng;

/// Most search chains [`solve`] runs ([`SolveOptions::chains`]).
pub const MAX_CHAINS: usize = 256;

/// Hosts the construction's cheap rule examines per workload, among hosts with work and
/// among empty ones (see [`solve`]).
const CHEAP_SCAN: usize = 8;

/// Options for [`solve`].
///
/// ```
/// use kelvin_placement::fleet::SolveOptions;
///
/// let o = SolveOptions::default().with_seed(7).with_rounds(500).with_time_limit_ms(None);
/// assert_eq!((o.seed, o.max_rounds, o.time_limit_ms), (7, 500, None));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SolveOptions {
    /// What to minimise. Default: [`Objective::default`] (facility watts, with small prices on
    /// stranded capacity and migrations).
    pub objective: Objective,
    /// Candidate sampling, for the construction and for every repair. Default
    /// [`Sampling::batch`].
    pub sampling: Sampling,
    /// Return within this long, construction included (the result is the best found; not
    /// reproducible when the limit is what stops it): see [`solve`] for what happens to
    /// workloads the construction cannot reach in time. Default 10 s.
    pub time_limit_ms: Option<u64>,
    /// Stop after this many search rounds over all chains. Default 20,000.
    pub max_rounds: u64,
    /// Independent search chains run in parallel (rayon). A fixed number, not the core
    /// count, so that results do not depend on the machine. Default 4, at most
    /// [`MAX_CHAINS`].
    pub chains: usize,
    /// Rounds each chain runs before all chains restart from the best placement so far.
    /// Default 50.
    pub epoch_rounds: u64,
    /// Seed of every random choice. Default 0.
    pub seed: u64,
    /// Whether the search stops once facility power meets the [`Bound`] with everything
    /// placed. Default `true`; an objective that does not price power (an embedder's terms
    /// alone) should turn it off, or a fleet of flat power curves stops at once.
    pub stop_at_power_bound: bool,
    /// How often the search uses each way of destroying part of a placement. Default
    /// [`Destroy::default`].
    pub destroy: Destroy,
}

/// The shares of the search's destroy moves, each round drawing one: empty one to three
/// lightly loaded hosts (consolidation), take a few (2 to 8) random workloads off, take one to
/// three random workloads off each of two random hosts (room on each for work of the other: a
/// swap), or empty two hosts of one rack; the repair then places what was removed. Random
/// workloads get what the others leave.
///
/// ```
/// use kelvin_placement::fleet::Destroy;
///
/// // Only small random neighbourhoods: suits re-placing a large running fleet in place.
/// let d = Destroy { empty_hosts: 0.0, host_pair: 0.3, rack_pair: 0.0 };
/// assert!(d.validate().is_ok());
/// assert!(Destroy { empty_hosts: 0.9, host_pair: 0.0, rack_pair: 0.2 }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Destroy {
    /// Share of rounds that empty lightly loaded hosts. Default 0.55.
    pub empty_hosts: f64,
    /// Share of rounds that take a few workloads off each of two hosts. Default 0.
    pub host_pair: f64,
    /// Share of rounds that empty two hosts of one rack. Default 0.15.
    pub rack_pair: f64,
}

impl Default for Destroy {
    fn default() -> Self {
        Destroy {
            empty_hosts: 0.55,
            host_pair: 0.0,
            rack_pair: 0.15,
        }
    }
}

impl Destroy {
    /// Checks that every share is in `[0, 1]` and they sum to at most 1.
    pub fn validate(&self) -> Result<(), PlacementError> {
        let shares = [self.empty_hosts, self.host_pair, self.rack_pair];
        if shares.iter().all(|x| (0.0..=1.0).contains(x)) && shares.iter().sum::<f64>() <= 1.0 {
            Ok(())
        } else {
            Err(PlacementError::for_call(format!(
                "destroy shares {shares:?} are not in [0, 1] with a sum of at most 1"
            )))
        }
    }
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            objective: Objective::default(),
            sampling: Sampling::batch(),
            time_limit_ms: Some(10_000),
            max_rounds: 20_000,
            chains: 4,
            epoch_rounds: 50,
            seed: 0,
            stop_at_power_bound: true,
            destroy: Destroy::default(),
        }
    }
}

impl SolveOptions {
    /// Sets [`SolveOptions::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets [`SolveOptions::max_rounds`].
    pub fn with_rounds(mut self, rounds: u64) -> Self {
        self.max_rounds = rounds;
        self
    }
    /// Sets [`SolveOptions::time_limit_ms`].
    pub fn with_time_limit_ms(mut self, ms: Option<u64>) -> Self {
        self.time_limit_ms = ms;
        self
    }
    /// Sets [`SolveOptions::objective`].
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }
    /// Sets [`SolveOptions::sampling`].
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }
}

/// One workload's place in a [`Solution`], with its marginal cost there.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// The workload (index into [`Problem::tasks`]).
    pub task: usize,
    /// Its host.
    pub host: usize,
    /// What it adds on that host given everything else in the final placement.
    pub breakdown: Breakdown,
}

/// What [`solve`] or [`baseline`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// The policy that produced it.
    pub policy: &'static str,
    /// `host_of[t]`: task `t`'s host.
    pub host_of: Vec<Option<usize>>,
    /// Its cost, with the violations [`evaluate`](super::evaluate) finds (none for Kelvin's).
    pub evaluation: Evaluation,
    /// The cost after the greedy construction, before the search.
    pub construction: Evaluation,
    /// Every placed workload with its marginal breakdown, in task order.
    pub assignments: Vec<Assignment>,
    /// Every unplaced workload with what blocked it on every host.
    pub unplaced: Vec<Blocked>,
    /// Each term of the objective ([`Objective::default`] for the baselines) with its value
    /// for this placement, in the objective's order ([`Objective::values`]).
    pub terms: Vec<(String, f64)>,
    /// The lower bound.
    pub bound: Bound,
    /// Search rounds run (0 for baselines).
    pub rounds: u64,
    /// Wall time of the greedy construction, milliseconds.
    pub construction_ms: f64,
    /// Wall time, milliseconds.
    pub time_ms: f64,
}

impl Solution {
    /// `(facility − bound) / bound`: how far above the best possible facility power this
    /// placement can be (an upper bound on the true gap).
    pub fn gap(&self) -> f64 {
        let lb = self.bound.facility_w;
        if lb <= 0.0 {
            return 0.0;
        }
        (self.evaluation.facility_w() - lb) / lb
    }

    /// For each constraint, the workloads it blocked somewhere (by id), from
    /// [`Solution::unplaced`]: what to relax to place them; last, under `"time limit"`, the
    /// workloads left unplaced because the time limit ran out ([`Blocked::time_limited`]).
    pub fn blocking(&self, p: &Problem) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(super::Check, Vec<String>)> = Vec::new();
        let mut late = Vec::new();
        for b in &self.unplaced {
            let id = p.tasks[b.task].id.to_string();
            for (c, _) in &b.blocked_by {
                match out.iter_mut().find(|(k, _)| k == c) {
                    Some((_, v)) => v.push(id.clone()),
                    None => out.push((*c, vec![id.clone()])),
                }
            }
            if b.time_limited {
                late.push(id);
            }
        }
        out.sort_by_key(|a| a.0);
        let mut named: Vec<(String, Vec<String>)> =
            out.into_iter().map(|(c, v)| (c.describe(p), v)).collect();
        if !late.is_empty() {
            named.push(("time limit".to_owned(), late));
        }
        named
    }
}

fn size_of(p: &Problem, t: usize, mean_cap: &[f64]) -> f64 {
    p.tasks[t]
        .demand
        .iter()
        .zip(mean_cap)
        .map(|(d, c)| if *c > 0.0 { d / c } else { 0.0 })
        .sum()
}

/// When a construction must stop: Kelvin's scoring until `scored`, then the cheap rule until
/// `until` (`None`: no limit).
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    scored: Option<Instant>,
    until: Option<Instant>,
}

/// Greedy construction: running workloads stay where they are when that is allowed; then
/// pending ones (and evicted ones) in decreasing priority and size, each scored on a sample
/// of hosts until `budget.scored`, then by the cheap rule (the better of the first feasible
/// of at most [`CHEAP_SCAN`] hosts with work and of as many empty ones) until
/// `budget.until`. Returns the placement and the workloads the budget left untried on every
/// host.
fn construct<'p>(
    p: &'p Problem,
    ix: Arc<Index>,
    policy: &Policy,
    sampling: &Sampling,
    budget: Budget,
) -> (State<'p>, Vec<bool>) {
    let aware = matches!(policy, Policy::Kelvin(_));
    let mut s = State::empty(p, ix, aware, false);
    let n = p.hosts.len().max(1) as f64;
    let mean_cap: Vec<f64> = (0..p.dims.len())
        .map(|d| p.hosts.iter().map(|h| h.capacity[d]).sum::<f64>() / n)
        .collect();
    let mut order: Vec<usize> = (0..p.tasks.len()).collect();
    let sizes: Vec<f64> = order.iter().map(|t| size_of(p, *t, &mean_cap)).collect();
    // A partly sorted order (when time is short) only makes the greedy less greedy.
    sort_within(&mut order, &mut Clock::until(budget.scored), |a, b| {
        p.tasks[*b]
            .priority
            .cmp(&p.tasks[*a].priority)
            .then(sizes[*b].total_cmp(&sizes[*a]))
            .then(a.cmp(b))
    });
    // Running workloads stay put whatever the budget: a time limit never evicts them.
    let mut pending = Vec::new();
    for &t in &order {
        match p.tasks[t].current {
            Some(h) if s.try_add(t, h, None).is_ok() => s.add(t, h),
            _ => pending.push(t),
        }
    }
    let mut unreached = vec![false; p.tasks.len()];
    let mut cursor = Cursor {
        clock: Clock::until(budget.scored),
        ..Cursor::default()
    };
    let mut next = 0;
    while next < pending.len() && !cursor.clock.expired() {
        let t = pending[next];
        match choose(&mut s, t, policy, sampling, &mut cursor, None) {
            Some(c) => s.add(t, c.host),
            // Cut short by the clock: the cheap rule tries it again.
            None if cursor.clock.has_expired() => break,
            None => {}
        }
        next += 1;
    }
    if next < pending.len() {
        let cheap = Sampling {
            min_candidates: 1,
            percent: Some(0.0),
            wake_candidates: 1,
        };
        cursor.clock = Clock::until(budget.until);
        cursor.scan_limit = CHEAP_SCAN;
        while next < pending.len() && !cursor.clock.expired() {
            let t = pending[next];
            match choose(&mut s, t, policy, &cheap, &mut cursor, None) {
                Some(c) => s.add(t, c.host),
                None => unreached[t] = true,
            }
            next += 1;
        }
        for &t in &pending[next..] {
            unreached[t] = true;
        }
    }
    (s, unreached)
}

/// What [`finish`] reports besides the placement.
struct Run {
    construction: Evaluation,
    construction_ms: f64,
    rounds: u64,
    start: Instant,
    /// Workloads the construction left untried on every host for lack of time.
    unreached: Vec<bool>,
    bound: Bound,
}

/// The solution of placement `s`: evaluated as [`evaluate`](super::evaluate) does (a state
/// rebuilt in task order), every placed workload with its marginal cost, every unplaced one
/// with what blocks it on every host, as far as `clock` allows (the rest are marked
/// time-limited).
fn finish(
    p: &Problem,
    s: State<'_>,
    policy: &Policy,
    run: Run,
    mut clock: Clock,
) -> Result<Solution, PlacementError> {
    let assign = s.host_of.clone();
    let host_of: Vec<Option<usize>> = assign.iter().map(|h| h.map(|h| h as usize)).collect();
    let mut fresh = State::from_assignment(p, Arc::clone(&s.ix), false, &assign);
    drop(s);
    let mut evaluation = fresh.evaluation();
    evaluation.violations = violations(p, &fresh, &assign);
    let objective = match policy {
        Policy::Kelvin(o) => o.clone(),
        _ => Objective::default(),
    };
    let terms = objective.values(&fresh);
    let mut assignments = Vec::new();
    let mut unplaced = Vec::new();
    fresh.power_aware = true;
    for (t, h) in host_of.iter().enumerate() {
        match (h, fresh.marginal(t)) {
            (Some(h), Some(d)) => {
                // What the task adds is what taking it off would save.
                let off = -d;
                let change = Change {
                    task: t,
                    host: *h,
                    direction: Direction::Off,
                    effect: &off,
                };
                let score = -objective.scalar(&fresh, &change);
                assignments.push(Assignment {
                    task: t,
                    host: *h,
                    breakdown: Breakdown::from_delta(&d, score),
                });
            }
            _ if run.unreached[t] => unplaced.push(Blocked {
                task: t,
                hosts_considered: 0,
                blocked_by: Vec::new(),
                time_limited: true,
            }),
            _ => unplaced.push(blockers(&mut fresh, t, &mut clock)),
        }
    }
    Ok(Solution {
        policy: policy.name(),
        host_of,
        evaluation,
        construction: run.construction,
        assignments,
        unplaced,
        terms,
        bound: run.bound,
        rounds: run.rounds,
        construction_ms: run.construction_ms,
        time_ms: run.start.elapsed().as_secs_f64() * 1e3,
    })
}

/// Places `problem`'s workloads with a scheduler policy of today (no search): round-robin,
/// Kubernetes `LeastAllocated` (spread) or `MostAllocated` (pack). They respect capacity,
/// pinning and rules; power caps and redlines are only reported
/// ([`Evaluation::violations`]). With [`Policy::Kelvin`] this is Kelvin's construction alone.
/// There is no time limit: every workload is tried on every host it may use.
pub fn baseline(
    problem: &Problem,
    policy: Policy,
    sampling: Sampling,
) -> Result<Solution, PlacementError> {
    let start = Instant::now();
    problem.validate()?;
    let ix = Arc::new(Index::new(problem));
    let (s, unreached) = construct(problem, ix, &policy, &sampling, Budget::default());
    let run = Run {
        construction: s.evaluation(),
        construction_ms: start.elapsed().as_secs_f64() * 1e3,
        rounds: 0,
        start,
        unreached,
        bound: lower_bound(problem),
    };
    finish(problem, s, &policy, run, Clock::unlimited())
}

struct Chain<'p> {
    state: State<'p>,
    tasks_on: Vec<Vec<u32>>,
}

impl<'p> Chain<'p> {
    fn new(state: State<'p>) -> Self {
        let mut tasks_on = vec![Vec::new(); state.p.hosts.len()];
        for (t, h) in state.host_of.iter().enumerate() {
            if let Some(h) = h {
                tasks_on[*h as usize].push(t as u32);
            }
        }
        Chain { state, tasks_on }
    }

    fn add(&mut self, t: usize, h: usize) {
        self.state.add(t, h);
        self.tasks_on[h].push(t as u32);
    }

    fn remove(&mut self, t: usize) -> Option<usize> {
        let h = self.state.remove(t)?;
        let v = &mut self.tasks_on[h];
        if let Some(i) = v.iter().position(|x| *x as usize == t) {
            v.swap_remove(i);
        }
        Some(h)
    }

    /// A random awake host, biased towards the least loaded of a few draws.
    fn light_host(&self, rng: &mut Rng) -> Option<usize> {
        let n = self.tasks_on.len();
        let mut best: Option<(f64, usize)> = None;
        let mut draws = 0;
        for _ in 0..64 {
            let h = rng.below(n);
            if self.tasks_on[h].is_empty() {
                continue;
            }
            let f = self.state.load_fraction(h, None);
            if best.is_none_or(|(bf, _)| f < bf) {
                best = Some((f, h));
            }
            draws += 1;
            if draws == 3 {
                break;
            }
        }
        best.map(|(_, h)| h)
    }

    /// A random host with work (`None` when 64 draws find none).
    fn busy_host(&self, rng: &mut Rng) -> Option<usize> {
        let n = self.tasks_on.len();
        (0..64)
            .map(|_| rng.below(n))
            .find(|h| !self.tasks_on[*h].is_empty())
    }

    /// Removes a neighbourhood; returns the removed tasks with their hosts.
    fn destroy(&mut self, rng: &mut Rng, mix: &Destroy) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let op = rng.unit();
        if op < mix.empty_hosts {
            // Empty one to three lightly loaded hosts: consolidation.
            let k = 1 + rng.below(3);
            for _ in 0..k {
                if let Some(h) = self.light_host(rng) {
                    while let Some(&t) = self.tasks_on[h].last() {
                        self.remove(t as usize);
                        out.push((t as usize, h));
                    }
                }
            }
        } else if op < 1.0 - mix.rack_pair - mix.host_pair {
            // A few random workloads.
            let k = 2 + rng.below(7);
            for _ in 0..k {
                let t = rng.below(self.state.host_of.len());
                if let Some(h) = self.remove(t) {
                    out.push((t, h));
                }
            }
        } else if op < 1.0 - mix.rack_pair {
            // One to three random workloads of each of two random hosts with work.
            for _ in 0..2 {
                let Some(h) = self.busy_host(rng) else { break };
                for _ in 0..1 + rng.below(3) {
                    let on = &self.tasks_on[h];
                    if on.is_empty() {
                        break;
                    }
                    let t = on[rng.below(on.len())] as usize;
                    self.remove(t);
                    out.push((t, h));
                }
            }
        } else {
            // Workloads of two random hosts of one rack (hot spots, stranded pairs).
            if let Some(h) = self.light_host(rng) {
                let rack = self.state.p.hosts[h].rack;
                let mates: Vec<usize> = (0..self.tasks_on.len())
                    .filter(|g| {
                        *g != h
                            && self.state.p.hosts[*g].rack == rack
                            && !self.tasks_on[*g].is_empty()
                    })
                    .collect();
                let other = if mates.is_empty() {
                    None
                } else {
                    Some(mates[rng.below(mates.len())])
                };
                for g in std::iter::once(h).chain(other) {
                    while let Some(&t) = self.tasks_on[g].last() {
                        self.remove(t as usize);
                        out.push((t as usize, g));
                    }
                }
            }
        }
        out
    }

    /// One destroy-and-repair round. The result is kept unless it leaves more (priority-
    /// weighted) work unplaced, or is worse and fails the annealing test at `temperature`
    /// (objective units); returns the new key.
    #[allow(clippy::too_many_arguments)]
    fn round(
        &mut self,
        obj: &Objective,
        policy: &Policy,
        sampling: &Sampling,
        rng: &mut Rng,
        cursor: &mut Cursor,
        sizes: &[f64],
        before: Key,
        temperature: f64,
        mix: &Destroy,
    ) -> Key {
        let removed = self.destroy(rng, mix);
        if removed.is_empty() {
            return before;
        }
        let mut pending: Vec<usize> = removed.iter().map(|(t, _)| *t).collect();
        if self.state.evaluation().unplaced > removed.len() {
            let extra: Vec<usize> = (0..self.state.host_of.len())
                .filter(|t| self.state.host_of[*t].is_none() && !pending.contains(t))
                .collect();
            pending.extend(extra);
        }
        let p = self.state.p;
        // Priority first and largest first with noise; or (one round in four) random order,
        // which lets a low-priority workload claim a host before a higher one takes it (the
        // acceptance test still protects priorities).
        let shuffle = rng.unit() < 0.25;
        let spread = if shuffle { 1e6 } else { 0.3 };
        let noise: Vec<f64> = pending.iter().map(|_| 1.0 + spread * rng.unit()).collect();
        let mut idx: Vec<usize> = (0..pending.len()).collect();
        idx.sort_by(|a, b| {
            let (ta, tb) = (pending[*a], pending[*b]);
            let by_priority = if shuffle {
                Ordering::Equal
            } else {
                p.tasks[tb].priority.cmp(&p.tasks[ta].priority)
            };
            by_priority.then((sizes[tb] * noise[*b]).total_cmp(&(sizes[ta] * noise[*a])))
        });
        // Half the repairs are greedy, half perturb the scores.
        cursor.noise = if rng.unit() < 0.5 { 0.0 } else { 0.25 };
        let mut added = Vec::new();
        for i in idx {
            let t = pending[i];
            if let Some(c) = choose(&mut self.state, t, policy, sampling, cursor, None) {
                self.add(t, c.host);
                added.push(t);
            }
        }
        let after = obj.key(&self.state);
        let keep = match cmp_keys(&after, &before) {
            Ordering::Less | Ordering::Equal => true,
            Ordering::Greater => {
                after[0] <= before[0]
                    && cmp_keys(&after[..1], &before[..1]) == Ordering::Equal
                    && temperature > 0.0
                    && rng.unit() < (-(after[1] - before[1]).max(0.0) / temperature).exp()
            }
        };
        if keep {
            return after;
        }
        for t in added.into_iter().rev() {
            self.remove(t);
        }
        for (t, h) in removed.into_iter().rev() {
            self.add(t, h);
        }
        before
    }
}

/// Places (or re-places) every workload of `problem`: greedy construction, then
/// large-neighbourhood search until `max_rounds`, the time limit, or the lower bound.
///
/// Every returned placement satisfies every hard constraint: each step that adds a workload
/// checks them, and removing work never breaks one (power curves are non-decreasing and the
/// variance model is monotone). Workloads that fit nowhere are left unplaced and explained.
///
/// # Time limit
///
/// [`SolveOptions::time_limit_ms`] bounds the whole call, however many workloads and hosts:
/// every phase reads the clock every few hundred host checks, and a share of the limit, in
/// proportion to the time the linear passes over the problem take, is kept for the final
/// evaluation and explanations. Running workloads first stay where they run (where that is
/// still allowed), whatever the limit: a time limit never evicts work. The pending ones are
/// then placed by Kelvin's scoring for up to half of the remaining time; if that does not
/// finish, the rest are placed by a cheap rule: the first host with work that passes every
/// hard constraint among at most 8 (from a rotating start), and the first such empty host
/// among at most 8 (most efficient first), whichever adds less to the objective.
/// Workloads neither reaches before the limit are left unplaced, never dropped
/// and never placed in breach of a constraint: each is listed in [`Solution::unplaced`] with
/// [`Blocked::time_limited`] set (so is one whose explanation over every host was cut
/// short), and the search that follows, if time remains, keeps trying to place them. Only
/// the linear passes are not cut: validation, indexing, keeping running workloads in place,
/// the lower bound and the final evaluation.
pub fn solve(problem: &Problem, opts: &SolveOptions) -> Result<Solution, PlacementError> {
    let start = Instant::now();
    problem.validate()?;
    if opts.chains == 0 || opts.epoch_rounds == 0 {
        return Err(PlacementError::for_call(
            "chains and epoch_rounds must be at least 1",
        ));
    }
    opts.destroy.validate()?;
    if opts.chains > MAX_CHAINS {
        return Err(PlacementError::for_call(format!(
            "{} chains, more than the limit of {MAX_CHAINS} (each holds a copy of the placement)",
            opts.chains
        )));
    }
    let deadline = opts
        .time_limit_ms
        .and_then(|ms| start.checked_add(Duration::from_millis(ms)));
    let ix = Arc::new(Index::new(problem));
    let bound = lower_bound(problem);
    // The final evaluation rebuilds the placement and walks every workload once, about what
    // validating, indexing and bounding took (measured: a third to once as long): keep that
    // much, and 2 % of the limit.
    let reserve = start.elapsed() + Duration::from_millis(opts.time_limit_ms.unwrap_or(0) / 50);
    let search_end = deadline.map(|d| d.checked_sub(reserve).unwrap_or(d).max(Instant::now()));
    let scored = search_end.map(|e| {
        let now = Instant::now();
        now + e.saturating_duration_since(now) / 2
    });
    let policy = Policy::Kelvin(opts.objective.clone());
    let budget = Budget {
        scored,
        until: search_end,
    };
    let (state, unreached) = construct(problem, Arc::clone(&ix), &policy, &opts.sampling, budget);
    let construction = state.evaluation();
    let construction_ms = start.elapsed().as_secs_f64() * 1e3;
    let (best, rounds) = search(problem, opts, state, &policy, &bound, start, search_end);
    let run = Run {
        construction,
        construction_ms,
        rounds,
        start,
        unreached,
        bound,
    };
    finish(problem, best, &policy, run, Clock::until(deadline))
}

/// The large-neighbourhood search from `best`: epochs of parallel chains until the round
/// budget, the bound or `end`. Returns the best placement and the rounds run.
fn search<'p>(
    problem: &'p Problem,
    opts: &SolveOptions,
    mut best: State<'p>,
    policy: &Policy,
    bound: &Bound,
    start: Instant,
    end: Option<Instant>,
) -> (State<'p>, u64) {
    let ix = Arc::clone(&best.ix);
    let n = problem.hosts.len().max(1) as f64;
    let mean_cap: Vec<f64> = (0..problem.dims.len())
        .map(|d| problem.hosts.iter().map(|h| h.capacity[d]).sum::<f64>() / n)
        .collect();
    let sizes: Vec<f64> = (0..problem.tasks.len())
        .map(|t| size_of(problem, t, &mean_cap))
        .collect();
    let mut best_key: Key = opts.objective.key(&best);
    let mut rounds = 0u64;
    let mut epoch = 0u64;
    let out_of_time = || end.is_some_and(|d| Instant::now() >= d);
    // The share of the budget used, for the annealing schedule.
    let budget_ms = end.map(|e| e.saturating_duration_since(start).as_secs_f64() * 1e3);
    while rounds < opts.max_rounds
        && !problem.tasks.is_empty()
        && !problem.hosts.is_empty()
        && !out_of_time()
    {
        let e = best.evaluation();
        if opts.stop_at_power_bound
            && e.unplaced == 0
            && e.facility_w() <= bound.facility_w * (1.0 + 1e-9)
        {
            break;
        }
        let per_chain = opts
            .epoch_rounds
            .min((opts.max_rounds - rounds).div_ceil(opts.chains as u64));
        // Annealing temperature: 0.5 % of the objective, cooling to zero over the budget.
        let progress = match budget_ms {
            Some(ms) if ms > 0.0 => (start.elapsed().as_secs_f64() * 1e3 / ms)
                .max(rounds as f64 / opts.max_rounds as f64),
            _ => rounds as f64 / opts.max_rounds as f64,
        };
        let temperature = 0.005 * best_key[1].abs() * (1.0 - progress.min(1.0)).powi(2);
        let results: Vec<(Key, Vec<Option<u32>>, u64)> = (0..opts.chains)
            .into_par_iter()
            .map(|c| {
                let mut chain = Chain::new(best.clone());
                let mut rng = Rng(opts.seed
                    ^ (epoch.wrapping_mul(0x2545_f491_4f6c_dd1d))
                    ^ ((c as u64 + 1) << 48));
                let mut cursor = Cursor {
                    next: rng.below(problem.hosts.len().max(1)),
                    blink: Some((Rng(rng.next()), 0.1)),
                    clock: Clock::until(end),
                    ..Cursor::default()
                };
                let mut key = best_key.clone();
                let mut chain_best = (best_key.clone(), None);
                let mut done = 0;
                while done < per_chain && !cursor.clock.expired() {
                    key = chain.round(
                        &opts.objective,
                        policy,
                        &opts.sampling,
                        &mut rng,
                        &mut cursor,
                        &sizes,
                        key,
                        temperature,
                        &opts.destroy,
                    );
                    if cmp_keys(&key, &chain_best.0) == Ordering::Less {
                        chain_best = (key.clone(), Some(chain.state.host_of.clone()));
                    }
                    done += 1;
                }
                let assign = chain_best.1.unwrap_or_else(|| best.host_of.clone());
                (chain_best.0, assign, done)
            })
            .collect();
        let mut next: Option<Vec<Option<u32>>> = None;
        for (key, assign, done) in results {
            rounds += done;
            if cmp_keys(&key, &best_key) == Ordering::Less {
                best_key = key;
                next = Some(assign);
            }
        }
        if let Some(assign) = next {
            best = State::from_assignment(problem, Arc::clone(&ix), true, &assign);
            best_key = opts.objective.key(&best);
        }
        epoch += 1;
    }
    (best, rounds)
}
