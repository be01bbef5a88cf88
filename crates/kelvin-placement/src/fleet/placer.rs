//! The filter/score path: one workload at a time.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use super::index::Index;
use super::objective::{Change, Direction, Key, Objective, cmp_keys};
use super::state::{Delta, State};
use super::{Check, Evaluation, Problem};
use crate::PlacementError;
use crate::clock::Clock;
use crate::rng::Rng;

/// How a host is chosen among the feasible ones.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// Kelvin: the smallest increase of the objective; power caps and redlines are hard.
    Kelvin(Objective),
    /// The next feasible host after the previous choice.
    RoundRobin,
    /// Kubernetes `LeastAllocated`: the host least allocated after placing (spreads load).
    Spread,
    /// Kubernetes `MostAllocated`: the host most allocated after placing (packs load).
    Pack,
}

impl Policy {
    /// The short name used in reports (`kelvin`, `round-robin`, `spread`, `pack`).
    pub fn name(&self) -> &'static str {
        match self {
            Policy::Kelvin(_) => "kelvin",
            Policy::RoundRobin => "round-robin",
            Policy::Spread => "spread",
            Policy::Pack => "pack",
        }
    }
}

/// How many hosts are scored per decision on a large fleet.
///
/// Like the Kubernetes scheduler's `percentageOfNodesToScore`, scanning stops once enough
/// feasible hosts are found: `max(min_candidates, percent × hosts)`, where the adaptive
/// percentage is `max(5, 50 − hosts/125)` %. Kelvin scans hosts that already run work first
/// (from a rotating start), then adds up to `wake_candidates` empty hosts, most efficient first
/// and spread over racks, so waking a host is always weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// Lower limit on the feasible hosts scored. Default 100.
    pub min_candidates: usize,
    /// Fixed percentage of hosts to score instead of the adaptive one.
    pub percent: Option<f64>,
    /// Empty hosts Kelvin scores besides the running ones. Default 8.
    pub wake_candidates: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            min_candidates: 100,
            percent: None,
            wake_candidates: 8,
        }
    }
}

impl Sampling {
    /// The batch optimizer's default: 48 feasible hosts per decision (plus 8 empty ones), a
    /// fixed number however large the fleet, since the search revisits every decision.
    pub fn batch() -> Self {
        Sampling {
            min_candidates: 48,
            percent: Some(0.0),
            wake_candidates: 8,
        }
    }

    /// Score every feasible host.
    pub fn exhaustive() -> Self {
        Sampling {
            min_candidates: usize::MAX,
            percent: Some(100.0),
            wake_candidates: usize::MAX,
        }
    }

    /// Feasible hosts to score on a fleet of `n` hosts.
    pub fn target(&self, n: usize) -> usize {
        let pct = self
            .percent
            .unwrap_or_else(|| (50.0 - n as f64 / 125.0).max(5.0));
        let k = (n as f64 * pct / 100.0).ceil() as usize;
        k.max(self.min_candidates).min(n).max(1)
    }
}

/// The facts behind a choice: what placing the workload there changes, and the score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Breakdown {
    /// IT watts added (waking an empty host adds its idle floor).
    pub it_w: f64,
    /// Cooling watts added (more heat, and a lower supply temperature if it heats the
    /// critical rack).
    pub cooling_w: f64,
    /// gCO2e per hour added.
    pub carbon_g_per_h: f64,
    /// Stranded capacity added, host equivalents.
    pub stranded: f64,
    /// Rise added to the critical rack's inlet, °C.
    pub recirculation_c: f64,
    /// Migration cost incurred (negative when returning a workload to its current host).
    pub migration: f64,
    /// The policy's score (lower is better): the objective's increase for Kelvin, the mean
    /// allocated fraction after placing for spread, minus it for pack, the scan position for
    /// round-robin.
    pub score: f64,
}

impl Breakdown {
    pub(crate) fn from_delta(d: &Delta, score: f64) -> Self {
        Breakdown {
            it_w: d.it_w,
            cooling_w: d.cooling_w,
            carbon_g_per_h: d.carbon_g_per_h,
            stranded: d.stranded,
            recirculation_c: d.recirculation_c,
            migration: d.migration,
            score,
        }
    }

    /// IT plus cooling watts added.
    pub fn facility_w(&self) -> f64 {
        self.it_w + self.cooling_w
    }
}

/// One placement and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The workload (index into [`Problem::tasks`]).
    pub task: usize,
    /// The chosen host (index into [`Problem::hosts`]).
    pub host: usize,
    /// What choosing it changes.
    pub breakdown: Breakdown,
    /// Feasible hosts scored.
    pub scored: usize,
    /// Hosts filtered out during the scan, per constraint (the first one each broke).
    pub rejected: Vec<(Check, usize)>,
    /// The second-best host and its score, when there was one.
    pub runner_up: Option<(usize, f64)>,
}

/// A workload left unplaced, and what blocked it.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    /// The workload (index into [`Problem::tasks`]).
    pub task: usize,
    /// Hosts tried: all of them (or all its allowed hosts), unless `time_limited`: then the
    /// hosts it was checked on (0 when the time limit ran out before it was tried).
    pub hosts_considered: usize,
    /// Each constraint that blocked it with the number of hosts it blocked on; a host can
    /// break several, so counts may add up to more than `hosts_considered`.
    pub blocked_by: Vec<(Check, usize)>,
    /// Set by [`solve`](super::solve) when its time limit ran out before this workload was
    /// tried on every host: it is unplaced for lack of time and may fit somewhere (a longer
    /// limit, or [`Placer::place`], places or explains it). False: it fits on no host.
    pub time_limited: bool,
}

impl Blocked {
    /// A sentence naming the workload and the constraints, e.g.
    /// `"batch-7 fits on none of 40 hosts: cpu capacity on 12, power cap of pdu-r2 on 8"`,
    /// or `"batch-7 is unplaced: the time limit ran out before it was tried on every host"`
    /// (with what blocked it on the hosts it was checked on, if any).
    pub fn describe(&self, p: &Problem) -> String {
        let id = &p.tasks[self.task].id;
        let mut s = if self.time_limited {
            format!(
                "{id} is unplaced: the time limit ran out before it was tried on every host \
                 ({} checked)",
                self.hosts_considered
            )
        } else {
            format!("{id} fits on none of {} hosts", self.hosts_considered)
        };
        for (i, (c, n)) in self.blocked_by.iter().enumerate() {
            s.push_str(if i == 0 { ": " } else { ", " });
            s.push_str(&format!("{} on {n}", c.describe(p)));
        }
        s
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.time_limited {
            write!(
                f,
                "task #{} unplaced by the time limit ({} hosts checked)",
                self.task, self.hosts_considered
            )?;
        } else {
            write!(
                f,
                "task #{} fits on none of {} hosts",
                self.task, self.hosts_considered
            )?;
        }
        for (c, n) in &self.blocked_by {
            write!(f, "; {c} on {n}")?;
        }
        Ok(())
    }
}

fn bump(counts: &mut Vec<(Check, usize)>, c: Check) {
    match counts.iter_mut().find(|(k, _)| *k == c) {
        Some((_, n)) => *n += 1,
        None => counts.push((c, 1)),
    }
}

/// Scan state carried between decisions.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    pub(crate) next: usize,
    /// For the search's repairs: skip each feasible host after the first with this
    /// probability ("blinks"), so that repeated repairs do not all make the same choices.
    pub(crate) blink: Option<(Rng, f64)>,
    /// For the search's repairs: perturb each score by up to this fraction of its size
    /// (noise, as in adaptive large-neighbourhood search), so that a repair sometimes opens
    /// a host a greedy choice would not.
    pub(crate) noise: f64,
    /// The deadline: a scan stops when it expires, with the best host found so far (if any).
    pub(crate) clock: Clock,
    /// Most hosts examined per scan (allowed hosts, hosts with work, empty hosts): the
    /// construction's cheap rule once half its time is spent.
    pub(crate) scan_limit: usize,
    /// The scans' key buffers, kept so that ranking a host allocates nothing.
    pub(crate) keys: Keys,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            next: 0,
            blink: None,
            noise: 0.0,
            clock: Clock::unlimited(),
            scan_limit: usize::MAX,
            keys: Keys::default(),
        }
    }
}

/// The keys of the candidate being ranked, the best host and the second best.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    cand: Key,
    best: Key,
    second: Key,
}

/// What a scan found.
pub(crate) struct Choice {
    pub(crate) host: usize,
    pub(crate) delta: Delta,
    pub(crate) score: f64,
    pub(crate) scored: usize,
    pub(crate) runner_up: Option<(usize, f64)>,
}

struct Best {
    host: usize,
    delta: Delta,
    score: f64,
}

/// One scan: the hosts tried for task `t` and the best two found.
struct Scan<'a, 'r> {
    t: usize,
    policy: &'a Policy,
    /// The demand the task is priced with, when not its own ([`Placer::probe`]).
    demand: Option<&'a [f64]>,
    noise: f64,
    blink: Option<(Rng, f64)>,
    rejected: Option<&'r mut Vec<(Check, usize)>>,
    pub(crate) keys: Keys,
    best: Option<Best>,
    second: Option<(usize, f64)>,
    scored: usize,
}

impl<'a, 'r> Scan<'a, 'r> {
    fn new(
        t: usize,
        policy: &'a Policy,
        cursor: &mut Cursor,
        rejected: Option<&'r mut Vec<(Check, usize)>>,
    ) -> Self {
        Scan {
            t,
            policy,
            demand: None,
            noise: cursor.noise,
            blink: cursor.blink.take(),
            rejected,
            keys: std::mem::take(&mut cursor.keys),
            best: None,
            second: None,
            scored: 0,
        }
    }

    /// Tries host `h` (scan position `order`); counts it as scored when it is feasible.
    fn consider(&mut self, s: &mut State<'_>, h: usize, order: usize) -> bool {
        let feasible = match s.try_add(self.t, h, None) {
            Ok(_)
                if self.best.is_some()
                    && self.blink.as_mut().is_some_and(|(rng, p)| rng.unit() < *p) =>
            {
                true
            }
            Err(c) => {
                self.reject(c);
                false
            }
            Ok(delta) => {
                self.rank(s, h, order, delta);
                true
            }
        };
        self.scored += usize::from(feasible);
        feasible
    }

    /// Counts a host filtered out by constraint `c`.
    #[inline]
    fn reject(&mut self, c: Check) {
        if let Some(r) = self.rejected.as_deref_mut() {
            bump(r, c);
        }
    }

    /// Ranks feasible host `h` against the best two so far.
    fn rank(&mut self, s: &State<'_>, h: usize, order: usize, delta: Delta) {
        let score = self.policy_key(s, h, order, &delta);
        let k = &mut self.keys;
        match self.best {
            Some(_) if cmp_keys(&k.cand, &k.best) != Ordering::Less => {
                if self.second.is_none() || cmp_keys(&k.cand, &k.second) == Ordering::Less {
                    std::mem::swap(&mut k.cand, &mut k.second);
                    self.second = Some((h, score));
                }
            }
            _ => {
                std::mem::swap(&mut k.second, &mut k.best);
                std::mem::swap(&mut k.best, &mut k.cand);
                self.second = self.best.take().map(|b| (b.host, b.score));
                self.best = Some(Best {
                    host: h,
                    delta,
                    score,
                });
            }
        }
    }

    /// Writes the key the policy ranks host `h` by (scan position `order`, effect `delta`)
    /// into the candidate buffer and returns its score; Kelvin's key is perturbed by up to
    /// `noise` of its size when the scan blinks.
    fn policy_key(&mut self, s: &State<'_>, h: usize, order: usize, delta: &Delta) -> f64 {
        let cand = &mut self.keys.cand;
        let flat = |cand: &mut Key, k: f64| {
            cand.clear();
            cand.extend([k, 0.0]);
            k
        };
        match self.policy {
            Policy::Kelvin(obj) => {
                let change = Change {
                    task: self.t,
                    host: h,
                    direction: Direction::Onto,
                    effect: delta,
                };
                obj.delta_key_into(s, &change, cand);
                let score = cand[1];
                let noise = self.noise;
                if let Some((rng, _)) = self.blink.as_mut().filter(|_| noise > 0.0) {
                    cand[1] += noise * cand[1].abs().max(1.0) * (2.0 * rng.unit() - 1.0);
                }
                score
            }
            Policy::RoundRobin => flat(cand, order as f64),
            Policy::Spread => {
                let demand = self.demand.unwrap_or(&s.p.tasks[self.t].demand);
                flat(cand, s.load_fraction(h, Some(demand)))
            }
            Policy::Pack => {
                let demand = self.demand.unwrap_or(&s.p.tasks[self.t].demand);
                flat(cand, -s.load_fraction(h, Some(demand)))
            }
        }
    }

    /// Hands the buffers back to `cursor` and reports the best host.
    fn finish(self, cursor: &mut Cursor) -> Option<Choice> {
        cursor.blink = self.blink;
        cursor.keys = self.keys;
        let (scored, runner_up) = (self.scored, self.second);
        self.best.map(|b| Choice {
            host: b.host,
            delta: b.delta,
            score: b.score,
            scored,
            runner_up,
        })
    }
}

/// Filters and scores hosts for task `t` under `policy`; `None` when no scanned host is
/// feasible (with exhaustive scanning, no scan limit and no deadline: none at all). Once
/// `cursor.clock` expires the scan stops with the best host found so far.
pub(crate) fn choose(
    s: &mut State<'_>,
    t: usize,
    policy: &Policy,
    sampling: &Sampling,
    cursor: &mut Cursor,
    rejected: Option<&mut Vec<(Check, usize)>>,
) -> Option<Choice> {
    let p = s.p;
    let n = p.hosts.len();
    if n == 0 || cursor.clock.has_expired() {
        return None;
    }
    let target = sampling.target(n);
    let mut scan = Scan::new(t, policy, cursor, rejected);
    if let Some(allowed) = &p.tasks[t].allowed_hosts {
        for (i, &h) in allowed.iter().enumerate() {
            if i >= cursor.scan_limit || cursor.clock.spend(1) {
                break;
            }
            scan.consider(s, h, i);
        }
    } else if matches!(policy, Policy::Kelvin(_)) {
        scan_running(&mut scan, s, target, cursor);
        let want = sampling
            .wake_candidates
            .max(target.saturating_sub(scan.scored));
        scan_empty(&mut scan, s, want, cursor);
    } else {
        let start = cursor.next % n;
        let mut i = 0;
        while i < n && i < cursor.scan_limit && scan.scored < target && !cursor.clock.spend(1) {
            if scan.consider(s, (start + i) % n, i) && matches!(policy, Policy::RoundRobin) {
                i += 1;
                break;
            }
            i += 1;
        }
        cursor.next = start + i;
    }
    scan.finish(cursor)
}

/// Kelvin's first candidates: the task's current host, then hosts with work (or held awake)
/// from a rotating start, until `target` are scored. A host without room for the task is
/// rejected from the open list's own copy of its room (in order in memory, the common case
/// for large workloads on a filling fleet) before anything else is read.
fn scan_running(scan: &mut Scan<'_, '_>, s: &mut State<'_>, target: usize, cursor: &mut Cursor) {
    let p = s.p;
    let current = p.tasks[scan.t].current;
    if let Some(c) = current {
        scan.consider(s, c, 0);
    }
    let demand = scan.demand.unwrap_or(&p.tasks[scan.t].demand);
    let open = s.open.len();
    if open > 0 {
        let start = cursor.next % open;
        let mut at = start;
        let mut i = 0;
        while i < open && i < cursor.scan_limit && scan.scored < target && !cursor.clock.spend(1) {
            let h = s.open[at] as usize;
            if Some(h) != current {
                match s.open_misfit(at, demand) {
                    Some(d) => scan.reject(Check::Capacity(d)),
                    None => {
                        scan.consider(s, h, i);
                    }
                }
            }
            i += 1;
            at += 1;
            if at == open {
                at = 0;
            }
        }
        cursor.next = start + i;
    }
}

/// Kelvin's other candidates: up to `want` feasible empty hosts, most efficient first (found
/// through the state's bitmap of empty hosts, so hosts with work cost nothing to pass).
fn scan_empty(scan: &mut Scan<'_, '_>, s: &mut State<'_>, want: usize, cursor: &mut Cursor) {
    let n = s.p.hosts.len();
    let current = s.p.tasks[scan.t].current;
    let ix = Arc::clone(&s.ix);
    let mut found = 0;
    let mut tried = 0;
    let mut pos = s.next_idle(s.empty_cursor);
    s.empty_cursor = pos;
    while pos < n && found < want && tried < cursor.scan_limit && !cursor.clock.spend(1) {
        let h = ix.efficient_hosts[pos] as usize;
        tried += 1;
        if Some(h) != current && scan.consider(s, h, n + found) {
            found += 1;
        }
        pos = s.next_idle(pos + 1);
    }
}

/// Every constraint that keeps task `t` off each host (or each allowed host); if the clock
/// expires first, what it found on the hosts checked so far, marked time-limited.
pub(crate) fn blockers(s: &mut State<'_>, t: usize, clock: &mut Clock) -> Blocked {
    let p = s.p;
    let allowed = p.tasks[t].allowed_hosts.as_deref();
    let total = allowed.map_or(p.hosts.len(), <[usize]>::len);
    let mut counts = Vec::new();
    let mut all = Vec::new();
    let mut checked = 0;
    while checked < total && !clock.spend(1) {
        let h = allowed.map_or(checked, |a| a[checked]);
        checked += 1;
        all.clear();
        if s.try_add(t, h, Some(&mut all)).is_err() {
            all.sort_unstable();
            all.dedup();
            for c in &all {
                bump(&mut counts, *c);
            }
        }
    }
    counts.sort_unstable();
    Blocked {
        task: t,
        hosts_considered: checked,
        blocked_by: counts,
        time_limited: checked < total,
    }
}

/// Places workloads one at a time onto a running fleet: the scheduler's hot path.
///
/// Workloads with a [`Task::current`](super::Task::current) host start there, as they run
/// now (even if that breaks a constraint: the placer reflects reality; [`solve`](super::solve)
/// is the one that moves them). Likewise a host that is [`awake`](super::Host::awake) now stays
/// awake when empty: it draws its idle power, counts in
/// [`Evaluation::hosts_awake`], and work placed there adds only its dynamic power.
///
/// ```
/// use kelvin_model::EntityId;
/// use kelvin_placement::fleet::{Check, Host, Placer, Policy, PowerCurve, PowerDomain, Problem, Rack, Task};
///
/// let id = |s: &str| EntityId::new(s).unwrap();
/// let curve = PowerCurve::try_new([50.0, 110.0, 130.0, 160.0, 176.0, 198.0, 228.0, 265.0, 305.0, 374.0, 454.0])?;
/// let mut p = Problem::new(vec!["cpu".into()]);
/// p.racks.push(Rack::new(id("r1")));
/// p.hosts.push(Host::new(id("h0"), 0, vec![112.0], curve));
/// p.hosts.push(Host::new(id("h1"), 0, vec![112.0], curve));
/// p.domains.push(PowerDomain { id: id("pdu"), cap_w: 420.0, hosts: vec![0, 1] });
/// p.tasks.push(Task::new(id("web"), vec![40.0]).running_on(0));
/// p.tasks.push(Task::new(id("batch"), vec![40.0]));
/// p.tasks.push(Task::new(id("big"), vec![100.0]));
///
/// let mut placer = Placer::new(&p, Policy::Kelvin(Default::default()))?;
/// // batch joins web on h0 rather than waking h1.
/// let d = placer.place(1).unwrap();
/// assert_eq!(d.host, 0);
/// // big would take the PDU past 420 W on either host, and h0 lacks room too.
/// let blocked = placer.place(2).unwrap_err();
/// assert_eq!(
///     blocked.describe(&p),
///     "big fits on none of 2 hosts: cpu capacity on 1, power cap of pdu on 2",
/// );
/// assert!(blocked.blocked_by.iter().any(|(c, _)| *c == Check::PowerCap(0)));
/// # Ok::<(), kelvin_placement::PlacementError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Placer<'p> {
    state: State<'p>,
    policy: Policy,
    sampling: Sampling,
    cursor: Cursor,
}

impl<'p> Placer<'p> {
    /// A placer over `problem` (validated) with its running workloads in place.
    pub fn new(problem: &'p Problem, policy: Policy) -> Result<Placer<'p>, PlacementError> {
        problem.validate()?;
        let aware = matches!(policy, Policy::Kelvin(_));
        let mut state = State::empty(problem, Arc::new(Index::new(problem)), aware, true);
        for (t, task) in problem.tasks.iter().enumerate() {
            if let Some(h) = task.current {
                state.add(t, h);
            }
        }
        Ok(Placer {
            state,
            policy,
            sampling: Sampling::default(),
            cursor: Cursor::default(),
        })
    }

    /// The same placer with another [`Sampling`].
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Places task `t` (moving it if it is placed already) and commits the choice; a task that
    /// fits nowhere stays unplaced and the error says why (the scan behind the explanation
    /// covers every host).
    pub fn place(&mut self, t: usize) -> Result<Decision, Blocked> {
        if t >= self.state.p.tasks.len() {
            return Err(Blocked {
                task: t,
                hosts_considered: 0,
                blocked_by: Vec::new(),
                time_limited: false,
            });
        }
        let previous = self.state.remove(t);
        let mut rejected = Vec::new();
        let choice = choose(
            &mut self.state,
            t,
            &self.policy,
            &self.sampling,
            &mut self.cursor,
            Some(&mut rejected),
        );
        match choice {
            Some(c) => {
                self.state.add(t, c.host);
                rejected.sort_unstable();
                Ok(Decision {
                    task: t,
                    host: c.host,
                    breakdown: Breakdown::from_delta(&c.delta, c.score),
                    scored: c.scored,
                    rejected,
                    runner_up: c.runner_up,
                })
            }
            None => {
                let blocked = blockers(&mut self.state, t, &mut Clock::unlimited());
                if let Some(h) = previous {
                    self.state.add(t, h);
                }
                Err(blocked)
            }
        }
    }

    /// Filters and scores task `t` on each of `hosts` without placing it, as a scheduler asks
    /// about one pending workload (Kubernetes' filter and score; a scheduler extender's
    /// `filter` and `prioritize`): per host, in order, the [`Breakdown`] of placing it there,
    /// whose `score` is the policy's (lower is better), or the first hard constraint that
    /// forbids it. With `demand` (one value per dimension of [`Problem::dims`]) the task is
    /// priced as asking for that instead of its own: a placer kept over a problem with one
    /// unplaced task stands for any pending workload, without a new placer per question
    /// (building one costs far more than a question). Objective terms see task `t` (its
    /// problem entry, whose demand is not the probed one). A placed task is taken off its host
    /// for the question and put back; nothing else changes.
    ///
    /// ```
    /// use kelvin_model::EntityId;
    /// use kelvin_placement::fleet::{Check, Host, Objective, Placer, Policy, PowerCurve, Problem, Rack, Task};
    ///
    /// let id = |s: &str| EntityId::new(s).unwrap();
    /// let curve = PowerCurve::try_new([100.0, 120.0, 140.0, 160.0, 180.0, 200.0, 220.0, 240.0, 260.0, 280.0, 300.0])?;
    /// let mut p = Problem::new(vec!["cpu".into()]);
    /// p.racks.push(Rack::new(id("r1")));
    /// p.hosts.push(Host::new(id("h0"), 0, vec![8.0], curve.clone()).with_awake(true));
    /// p.hosts.push(Host::new(id("h1"), 0, vec![32.0], curve).with_awake(true));
    /// p.tasks.push(Task::new(id("slot"), vec![0.0]));
    /// let mut placer = Placer::new(&p, Policy::Kelvin(Objective::default()))?;
    /// // A 16-core workload: too big for h0, priced on h1.
    /// let answers = placer.probe(0, Some(&[16.0]), &[0, 1])?;
    /// assert_eq!(answers[0], Err(Check::Capacity(0)));
    /// assert!(answers[1].as_ref().is_ok_and(|b| b.it_w > 0.0));
    /// # Ok::<(), kelvin_placement::PlacementError>(())
    /// ```
    ///
    /// # Errors
    /// [`PlacementErrorKind::InvalidInput`](crate::PlacementErrorKind::InvalidInput) when `t`
    /// or a host is out of range, or `demand` has the wrong length or a negative or
    /// non-finite value.
    pub fn probe(
        &mut self,
        t: usize,
        demand: Option<&[f64]>,
        hosts: &[usize],
    ) -> Result<Vec<Result<Breakdown, Check>>, PlacementError> {
        let p = self.state.p;
        if t >= p.tasks.len() {
            return Err(PlacementError::for_call(format!(
                "task {t} is out of range ({} tasks)",
                p.tasks.len()
            )));
        }
        if let Some(h) = hosts.iter().find(|h| **h >= p.hosts.len()) {
            return Err(PlacementError::for_call(format!(
                "host {h} is out of range ({} hosts)",
                p.hosts.len()
            )));
        }
        if let Some(d) = demand
            && (d.len() != p.dims.len() || d.iter().any(|v| !v.is_finite() || *v < 0.0))
        {
            return Err(PlacementError::for_call(format!(
                "a probed demand needs {} finite, non-negative values ({:?})",
                p.dims.len(),
                p.dims
            )));
        }
        let previous = self.state.remove(t);
        let mut scan = Scan::new(t, &self.policy, &mut self.cursor, None);
        scan.demand = demand;
        let answers = hosts
            .iter()
            .enumerate()
            .map(|(i, &h)| {
                let delta = self.state.try_add_as(t, h, None, demand)?;
                let score = scan.policy_key(&self.state, h, i, &delta);
                Ok(Breakdown::from_delta(&delta, score))
            })
            .collect();
        scan.finish(&mut self.cursor);
        if let Some(h) = previous {
            self.state.add(t, h);
        }
        Ok(answers)
    }

    /// Takes task `t` off its host (it finished or was evicted); returns the host.
    pub fn remove(&mut self, t: usize) -> Option<usize> {
        if t >= self.state.p.tasks.len() {
            return None;
        }
        self.state.remove(t)
    }

    /// Task `t`'s host.
    pub fn host_of(&self, t: usize) -> Option<usize> {
        self.state
            .host_of
            .get(t)
            .copied()
            .flatten()
            .map(|h| h as usize)
    }

    /// The cost of the current placement (violations are listed by
    /// [`evaluate`](super::evaluate)).
    pub fn evaluation(&self) -> Evaluation {
        self.state.evaluation()
    }

    /// The current placement's incremental state, as an objective [`Term`](super::Term) sees
    /// it (to inspect a fleet, or to try a term's [`Term::value`](super::Term::value)).
    pub fn state(&self) -> &State<'p> {
        &self.state
    }

    /// Every task's host.
    pub fn assignment(&self) -> Vec<Option<usize>> {
        self.state
            .host_of
            .iter()
            .map(|h| h.map(|h| h as usize))
            .collect()
    }
}
