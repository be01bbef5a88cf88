//! Batch placement: greedy construction, then large-neighbourhood search.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::bound::{Bound, lower_bound};
use super::objective::{Key, Objective, cmp_keys};
use super::placer::{Blocked, Breakdown, Cursor, Policy, Sampling, blockers, choose};
use super::state::{Index, State};
use super::{Evaluation, Problem, evaluate};
use crate::PlacementError;
use crate::rng::Rng;

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
    /// Stop searching after this long (the result is the best found; not reproducible when the
    /// limit is what stops it). Default 10 s.
    pub time_limit_ms: Option<u64>,
    /// Stop after this many search rounds over all chains. Default 20,000.
    pub max_rounds: u64,
    /// Independent search chains run in parallel (rayon). A fixed number, not the core
    /// count, so that results do not depend on the machine. Default 4.
    pub chains: usize,
    /// Rounds each chain runs before all chains restart from the best placement so far.
    /// Default 50.
    pub epoch_rounds: u64,
    /// Seed of every random choice. Default 0.
    pub seed: u64,
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
    /// Its cost, with the violations [`evaluate`] finds (none for Kelvin's).
    pub evaluation: Evaluation,
    /// The cost after the greedy construction, before the search.
    pub construction: Evaluation,
    /// Every placed workload with its marginal breakdown, in task order.
    pub assignments: Vec<Assignment>,
    /// Every unplaced workload with what blocked it on every host.
    pub unplaced: Vec<Blocked>,
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
    /// [`Solution::unplaced`]: what to relax to place them.
    pub fn blocking(&self, p: &Problem) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(super::Check, Vec<String>)> = Vec::new();
        for b in &self.unplaced {
            for (c, _) in &b.blocked_by {
                let id = p.tasks[b.task].id.to_string();
                match out.iter_mut().find(|(k, _)| k == c) {
                    Some((_, v)) => v.push(id),
                    None => out.push((*c, vec![id])),
                }
            }
        }
        out.sort_by_key(|a| a.0);
        out.into_iter().map(|(c, v)| (c.describe(p), v)).collect()
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

/// Greedy construction: running workloads stay where they are when that is allowed; then
/// pending ones (and evicted ones) in decreasing priority and size.
fn construct<'p>(
    p: &'p Problem,
    ix: Arc<Index>,
    policy: &Policy,
    sampling: &Sampling,
) -> State<'p> {
    let aware = matches!(policy, Policy::Kelvin(_));
    let mut s = State::empty(p, ix, aware);
    let n = p.hosts.len().max(1) as f64;
    let mean_cap: Vec<f64> = (0..p.dims.len())
        .map(|d| p.hosts.iter().map(|h| h.capacity[d]).sum::<f64>() / n)
        .collect();
    let mut order: Vec<usize> = (0..p.tasks.len()).collect();
    let sizes: Vec<f64> = order.iter().map(|t| size_of(p, *t, &mean_cap)).collect();
    order.sort_by(|a, b| {
        p.tasks[*b]
            .priority
            .cmp(&p.tasks[*a].priority)
            .then(sizes[*b].total_cmp(&sizes[*a]))
            .then(a.cmp(b))
    });
    let mut pending = Vec::new();
    for &t in &order {
        match p.tasks[t].current {
            Some(h) if s.try_add(t, h, None).is_ok() => s.add(t, h),
            _ => pending.push(t),
        }
    }
    let mut cursor = Cursor::default();
    for t in pending {
        if let Some(c) = choose(&mut s, t, policy, sampling, &mut cursor, None) {
            s.add(t, c.host);
        }
    }
    s
}

fn finish(
    p: &Problem,
    mut s: State<'_>,
    policy: &Policy,
    construction: (Evaluation, f64),
    rounds: u64,
    start: Instant,
) -> Result<Solution, PlacementError> {
    let (construction, construction_ms) = construction;
    let host_of: Vec<Option<usize>> = s.host_of.iter().map(|h| h.map(|h| h as usize)).collect();
    let evaluation = evaluate(p, &host_of)?;
    let objective = match policy {
        Policy::Kelvin(o) => o.clone(),
        _ => Objective::default(),
    };
    let mut assignments = Vec::new();
    let mut unplaced = Vec::new();
    for t in 0..p.tasks.len() {
        match s.remove(t) {
            Some(h) => {
                // Marginal cost in the final placement: what adding it back costs.
                let was_aware = s.power_aware;
                s.power_aware = false;
                let delta = s.try_add(t, h, None);
                s.power_aware = was_aware;
                s.add(t, h);
                if let Ok(d) = delta {
                    assignments.push(Assignment {
                        task: t,
                        host: h,
                        breakdown: Breakdown::from_delta(&d, objective.scalar(&d)),
                    });
                }
            }
            None => {
                let was_aware = s.power_aware;
                s.power_aware = true;
                unplaced.push(blockers(&mut s, t));
                s.power_aware = was_aware;
            }
        }
    }
    Ok(Solution {
        policy: policy.name(),
        host_of,
        evaluation,
        construction,
        assignments,
        unplaced,
        bound: lower_bound(p),
        rounds,
        construction_ms,
        time_ms: start.elapsed().as_secs_f64() * 1e3,
    })
}

/// Places `problem`'s workloads with a scheduler policy of today (no search): round-robin,
/// Kubernetes `LeastAllocated` (spread) or `MostAllocated` (pack). They respect capacity,
/// pinning and rules; power caps and redlines are only reported
/// ([`Evaluation::violations`]). With [`Policy::Kelvin`] this is Kelvin's construction alone.
pub fn baseline(
    problem: &Problem,
    policy: Policy,
    sampling: Sampling,
) -> Result<Solution, PlacementError> {
    let start = Instant::now();
    problem.validate()?;
    let ix = Arc::new(Index::new(problem));
    let s = construct(problem, ix, &policy, &sampling);
    let construction = (s.evaluation(), start.elapsed().as_secs_f64() * 1e3);
    finish(problem, s, &policy, construction, 0, start)
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

    /// Removes a neighbourhood; returns the removed tasks with their hosts.
    fn destroy(&mut self, rng: &mut Rng) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let op = rng.unit();
        if op < 0.55 {
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
        } else if op < 0.85 {
            // A few random workloads.
            let k = 2 + rng.below(7);
            for _ in 0..k {
                let t = rng.below(self.state.host_of.len());
                if let Some(h) = self.remove(t) {
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
    ) -> Key {
        let removed = self.destroy(rng);
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
        let after = obj.key(&self.state.evaluation());
        let keep = match cmp_keys(&after, &before) {
            Ordering::Less | Ordering::Equal => true,
            Ordering::Greater => {
                after[0] <= before[0]
                    && cmp_keys(
                        &[after[0], 0.0, 0.0, 0.0, 0.0, 0.0],
                        &[before[0], 0.0, 0.0, 0.0, 0.0, 0.0],
                    ) == Ordering::Equal
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
pub fn solve(problem: &Problem, opts: &SolveOptions) -> Result<Solution, PlacementError> {
    let start = Instant::now();
    problem.validate()?;
    if opts.chains == 0 || opts.epoch_rounds == 0 {
        return Err(PlacementError::for_call(
            "chains and epoch_rounds must be at least 1",
        ));
    }
    let deadline = opts
        .time_limit_ms
        .map(|ms| start + std::time::Duration::from_millis(ms));
    let ix = Arc::new(Index::new(problem));
    let policy = Policy::Kelvin(opts.objective.clone());
    let state = construct(problem, Arc::clone(&ix), &policy, &opts.sampling);
    let construction = (state.evaluation(), start.elapsed().as_secs_f64() * 1e3);
    let bound = lower_bound(problem);
    let n = problem.hosts.len().max(1) as f64;
    let mean_cap: Vec<f64> = (0..problem.dims.len())
        .map(|d| problem.hosts.iter().map(|h| h.capacity[d]).sum::<f64>() / n)
        .collect();
    let sizes: Vec<f64> = (0..problem.tasks.len())
        .map(|t| size_of(problem, t, &mean_cap))
        .collect();
    let mut best = state;
    let mut best_key: Key = opts.objective.key(&best.evaluation());
    let mut rounds = 0u64;
    let mut epoch = 0u64;
    let out_of_time = || deadline.is_some_and(|d| Instant::now() >= d);
    while rounds < opts.max_rounds
        && !problem.tasks.is_empty()
        && !problem.hosts.is_empty()
        && !out_of_time()
    {
        let e = best.evaluation();
        if e.unplaced == 0 && e.facility_w() <= bound.facility_w * (1.0 + 1e-9) {
            break;
        }
        let per_chain = opts
            .epoch_rounds
            .min((opts.max_rounds - rounds).div_ceil(opts.chains as u64));
        // Annealing temperature: 0.5 % of the objective, cooling to zero over the budget.
        let progress = match (deadline, opts.time_limit_ms) {
            (Some(_), Some(ms)) if ms > 0 => (start.elapsed().as_secs_f64() * 1e3 / ms as f64)
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
                    noise: 0.0,
                };
                let mut key = best_key;
                let mut chain_best = (best_key, None);
                let mut done = 0;
                while done < per_chain {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    key = chain.round(
                        &opts.objective,
                        &policy,
                        &opts.sampling,
                        &mut rng,
                        &mut cursor,
                        &sizes,
                        key,
                        temperature,
                    );
                    if cmp_keys(&key, &chain_best.0) == Ordering::Less {
                        chain_best = (key, Some(chain.state.host_of.clone()));
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
            best_key = opts.objective.key(&best.evaluation());
        }
        epoch += 1;
    }
    finish(problem, best, &policy, construction, rounds, start)
}
