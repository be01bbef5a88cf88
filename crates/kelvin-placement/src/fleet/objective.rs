//! What a placement costs: the objective's terms (a trait the built-in goals and an embedder's
//! own terms implement), how they combine, and the evaluation.

use std::any::Any;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use super::Check;
use super::state::{Delta, State};

/// One term of a placement objective: a number to minimise, priced for a whole placement and,
/// incrementally, for one move.
///
/// The built-in [`Goal`]s implement it, and so can an embedder, outside Kelvin: a term joins an
/// [`Objective`] with a weight ([`Objective::with_term`]) or as a lexicographic level of its
/// own ([`Objective::then_term`]), with no limit on their number. The [`Placer`](super::Placer)
/// and [`solve`](super::solve) rank every candidate host by the terms' [`Term::delta`]s (the
/// hot path: keep it `O(1)`), and compare whole placements by their [`Term::value`]s (once per
/// search round and per result).
///
/// ```
/// use kelvin_model::EntityId;
/// use kelvin_placement::fleet::{
///     Change, Host, Objective, PowerCurve, Problem, Rack, SolveOptions, State, Task, Term, solve,
/// };
///
/// /// 500 W of penalty per workload on host `.0` (say, one due for maintenance).
/// struct Avoid(usize);
/// impl Term for Avoid {
///     fn name(&self) -> &str {
///         "avoid"
///     }
///     fn value(&self, s: &State<'_>) -> f64 {
///         500.0 * s.task_count(self.0) as f64
///     }
///     fn delta(&self, _: &State<'_>, c: &Change<'_>) -> f64 {
///         if c.host == self.0 { 500.0 * c.sign() } else { 0.0 }
///     }
/// }
///
/// let id = |s: &str| EntityId::new(s).unwrap();
/// let curve = PowerCurve::try_new([50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 130.0, 140.0, 150.0])?;
/// let mut p = Problem::new(vec!["cpu".into()]);
/// p.racks.push(Rack::new(id("r")));
/// p.hosts.push(Host::new(id("h0"), 0, vec![16.0], curve));
/// p.hosts.push(Host::new(id("h1"), 0, vec![16.0], curve));
/// p.tasks.push(Task::new(id("w"), vec![4.0]));
/// let objective = Objective::default().with_term(Avoid(0), 1.0);
/// let sol = solve(&p, &SolveOptions::default().with_rounds(50).with_objective(objective))?;
/// assert_eq!(sol.host_of, [Some(1)]);
/// assert_eq!(sol.terms.last(), Some(&("avoid".to_string(), 0.0)));
/// # Ok::<(), kelvin_placement::PlacementError>(())
/// ```
pub trait Term: Send + Sync {
    /// A short name for reports (`"energy"`, `"avoid h3"`).
    fn name(&self) -> &str;

    /// The term's value for the placement `state` holds (lower is better).
    fn value(&self, state: &State<'_>) -> f64;

    /// How much [`Term::value`] changes when `change.task` moves onto or off `change.host`,
    /// given `state` before the move (for a move onto a host the task is unplaced in it; for
    /// a move off, it is on that host). An approximation is allowed (the built-in thermal and
    /// cooling terms take the critical racks as they are): whole placements are compared by
    /// their values, never by summed deltas.
    fn delta(&self, state: &State<'_>, change: &Change<'_>) -> f64;
}

impl<T: Term + ?Sized> Term for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn value(&self, state: &State<'_>) -> f64 {
        (**self).value(state)
    }
    fn delta(&self, state: &State<'_>, change: &Change<'_>) -> f64 {
        (**self).delta(state, change)
    }
}

/// Which way a [`Change`] moves its task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The task is added to the host.
    Onto,
    /// The task is taken off the host.
    Off,
}

/// One move a [`Term`] prices: a task onto or off a host, with what it changes in the
/// quantities the [`State`] keeps (computed once for every term).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Change<'a> {
    /// The task (index into [`Problem::tasks`](super::Problem::tasks)).
    pub task: usize,
    /// The host (index into [`Problem::hosts`](super::Problem::hosts)).
    pub host: usize,
    /// Onto or off the host.
    pub direction: Direction,
    /// Its effect on power, cooling, carbon, stranded capacity, recirculation and migrations
    /// (negative for a move off).
    pub effect: &'a Delta,
}

impl Change<'_> {
    /// `1.0` for a move onto the host, `-1.0` for a move off: what a term that counts tasks
    /// multiplies by.
    pub fn sign(&self) -> f64 {
        match self.direction {
            Direction::Onto => 1.0,
            Direction::Off => -1.0,
        }
    }
}

/// A built-in term of the objective; each implements [`Term`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Goal {
    /// Facility power: IT plus cooling, watts.
    Energy,
    /// Carbon: facility power × the rack's grid intensity, gCO2e per hour.
    Carbon,
    /// Stranded capacity: Σ over powered hosts of (largest − smallest free fraction across
    /// dimensions), in host equivalents: room left in one dimension that another dimension's
    /// exhaustion makes unusable.
    Stranded,
    /// Thermal headroom lost: the largest recirculated inlet rise, °C.
    Thermal,
    /// Migrations: Σ migration cost of the workloads moved off their current host.
    Migrations,
}

impl Goal {
    /// Every built-in goal, in the order of [`Weights`].
    pub const ALL: [Goal; 5] = [
        Goal::Energy,
        Goal::Carbon,
        Goal::Stranded,
        Goal::Thermal,
        Goal::Migrations,
    ];
}

impl Term for Goal {
    fn name(&self) -> &str {
        match self {
            Goal::Energy => "energy",
            Goal::Carbon => "carbon",
            Goal::Stranded => "stranded",
            Goal::Thermal => "thermal",
            Goal::Migrations => "migrations",
        }
    }

    fn value(&self, s: &State<'_>) -> f64 {
        match self {
            Goal::Energy => s.facility_w(),
            Goal::Carbon => s.carbon_g_per_h(),
            Goal::Stranded => s.stranded(),
            Goal::Thermal => s.max_recirculation_c(),
            Goal::Migrations => s.migrations(),
        }
    }

    fn delta(&self, _: &State<'_>, c: &Change<'_>) -> f64 {
        let d = c.effect;
        match self {
            Goal::Energy => d.it_w + d.cooling_w,
            Goal::Carbon => d.carbon_g_per_h,
            Goal::Stranded => d.stranded,
            Goal::Thermal => d.recirculation_c,
            Goal::Migrations => d.migration,
        }
    }
}

/// Weights of the built-in goals, per unit of each: [`Objective::weighted`].
///
/// The defaults price everything in watts: 1 per facility watt, 0 per gCO2e/h (set it to
/// trade energy for carbon between sites), 10 W per host of stranded capacity, 0 per °C of
/// recirculation (cooling power already prices it) and 25 W per unit of migration cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights {
    /// Per facility watt.
    pub energy: f64,
    /// Per gCO2e per hour.
    pub carbon: f64,
    /// Per host of stranded capacity.
    pub stranded: f64,
    /// Per °C of the largest recirculated rise.
    pub thermal: f64,
    /// Per unit of migration cost.
    pub migrations: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            energy: 1.0,
            carbon: 0.0,
            stranded: 10.0,
            thermal: 0.0,
            migrations: 25.0,
        }
    }
}

/// A term of an objective: a built-in goal (dispatched without a virtual call on the hot
/// path) or an embedder's.
#[derive(Clone)]
enum Entry {
    Goal(Goal),
    Custom(Arc<dyn Term>),
}

impl Entry {
    fn of<T: Term + 'static>(term: T) -> Entry {
        match (&term as &dyn Any).downcast_ref::<Goal>() {
            Some(g) => Entry::Goal(*g),
            None => Entry::Custom(Arc::new(term)),
        }
    }

    fn term(&self) -> &dyn Term {
        match self {
            Entry::Goal(g) => g,
            Entry::Custom(t) => t.as_ref(),
        }
    }

    #[inline]
    fn delta(&self, s: &State<'_>, c: &Change<'_>) -> f64 {
        match self {
            Entry::Goal(g) => g.delta(s, c),
            Entry::Custom(t) => t.delta(s, c),
        }
    }
}

impl PartialEq for Entry {
    /// Built-in goals by value, an embedder's terms by identity.
    fn eq(&self, other: &Entry) -> bool {
        match (self, other) {
            (Entry::Goal(a), Entry::Goal(b)) => a == b,
            (Entry::Custom(a), Entry::Custom(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// What to minimise: levels compared in order, each a weighted sum of [`Term`]s.
///
/// Placing workloads always comes first: fewer unplaced (weighted by priority, see
/// [`Evaluation::unplaced_priority`]) beats any saving. Then the levels, in order; a later
/// level only breaks ties (within a relative 1e-9) of the earlier ones. A weighted objective
/// is one level; a lexicographic one is a level per term. There is no limit on the number of
/// terms or levels.
///
/// ```
/// use kelvin_placement::fleet::{Goal, Objective, Weights};
///
/// // The default: one level, the five goals weighted by `Weights::default()`.
/// assert_eq!(Objective::default(), Objective::weighted(Weights::default()));
/// // Carbon first, then energy breaks ties.
/// let lex = Objective::lexicographic([Goal::Carbon, Goal::Energy]);
/// assert_eq!(lex.levels(), 2);
/// assert_eq!(lex, Objective::empty().then_term(Goal::Carbon, 1.0).then_term(Goal::Energy, 1.0));
/// ```
#[derive(Clone, PartialEq)]
pub struct Objective {
    levels: Vec<Vec<(Entry, f64)>>,
}

impl Default for Objective {
    fn default() -> Self {
        Objective::weighted(Weights::default())
    }
}

impl fmt::Debug for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let levels: Vec<Vec<String>> = self
            .levels
            .iter()
            .map(|l| {
                l.iter()
                    .map(|(e, w)| format!("{w}×{}", e.term().name()))
                    .collect()
            })
            .collect();
        f.debug_struct("Objective")
            .field("levels", &levels)
            .finish()
    }
}

/// The comparable key of an objective: the unplaced priority, then one number per level (at
/// least one, zero without levels), compared in order.
pub(crate) type Key = Vec<f64>;

impl Objective {
    /// No terms: only the number of unplaced workloads (weighted by priority) counts.
    pub fn empty() -> Self {
        Objective { levels: Vec::new() }
    }

    /// One level: `Σ weight × goal` over the five built-in goals.
    pub fn weighted(w: Weights) -> Self {
        let weights = [w.energy, w.carbon, w.stranded, w.thermal, w.migrations];
        Objective {
            levels: vec![
                Goal::ALL
                    .into_iter()
                    .zip(weights)
                    .map(|(g, w)| (Entry::Goal(g), w))
                    .collect(),
            ],
        }
    }

    /// A level per goal, in this order, each weighted 1.
    pub fn lexicographic(goals: impl IntoIterator<Item = Goal>) -> Self {
        Objective {
            levels: goals
                .into_iter()
                .map(|g| vec![(Entry::Goal(g), 1.0)])
                .collect(),
        }
    }

    /// The same objective with `term` added to its last level at `weight` (to the first
    /// level when there is none yet).
    pub fn with_term<T: Term + 'static>(mut self, term: T, weight: f64) -> Self {
        let entry = (Entry::of(term), weight);
        match self.levels.last_mut() {
            Some(level) => level.push(entry),
            None => self.levels.push(vec![entry]),
        }
        self
    }

    /// The same objective with a new last level: `weight × term`, compared only when every
    /// earlier level ties.
    pub fn then_term<T: Term + 'static>(mut self, term: T, weight: f64) -> Self {
        self.levels.push(vec![(Entry::of(term), weight)]);
        self
    }

    /// The number of levels.
    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// Every term with its level (0 first) and weight, in order.
    pub fn terms(&self) -> impl Iterator<Item = (usize, &dyn Term, f64)> + '_ {
        self.levels
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.iter().map(move |(e, w)| (i, e.term(), *w)))
    }

    /// Each term's name and value for the placement `s` holds, in order.
    pub fn values(&self, s: &State<'_>) -> Vec<(String, f64)> {
        self.terms()
            .map(|(_, t, _)| (t.name().to_owned(), t.value(s)))
            .collect()
    }

    /// The key of the placement `s` holds.
    pub(crate) fn key(&self, s: &State<'_>) -> Key {
        let mut k = Vec::with_capacity(2 + self.levels.len());
        k.push(s.unplaced_priority());
        for level in &self.levels {
            k.push(sum(level.iter().map(|(e, w)| w * e.term().value(s))));
        }
        if k.len() < 2 {
            k.push(0.0);
        }
        k
    }

    /// The key of `change` into `out` (its first number is 0: a move never changes what is
    /// unplaced as the objective sees it when it is scored).
    pub(crate) fn delta_key_into(&self, s: &State<'_>, change: &Change<'_>, out: &mut Key) {
        out.clear();
        out.push(0.0);
        for level in &self.levels {
            out.push(sum(level.iter().map(|(e, w)| w * e.delta(s, change))));
        }
        if out.len() < 2 {
            out.push(0.0);
        }
    }

    /// The first level's change for `change` (0 without levels): the score reported in a
    /// [`Breakdown`](super::Breakdown).
    pub(crate) fn scalar(&self, s: &State<'_>, change: &Change<'_>) -> f64 {
        self.levels
            .first()
            .map_or(0.0, |l| sum(l.iter().map(|(e, w)| w * e.delta(s, change))))
    }
}

/// `a + b + c + …` from the left (0 for nothing): the order the weighted sum always used.
#[inline]
fn sum(mut it: impl Iterator<Item = f64>) -> f64 {
    let Some(first) = it.next() else {
        return 0.0;
    };
    it.fold(first, |acc, x| acc + x)
}

/// Compares keys in order, treating numbers within a relative 1e-9 as equal.
pub(crate) fn cmp_keys(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let tol = 1e-9 * x.abs().max(y.abs()).max(1.0);
        if (x - y).abs() > tol {
            return x.total_cmp(y);
        }
    }
    Ordering::Equal
}

/// A hard constraint broken by a placement, found by [`evaluate`](super::evaluate).
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// The constraint.
    pub check: Check,
    /// The host (capacity, pinning, rule at host scope), rack (redline, rule at rack scope) or
    /// domain (power cap) index concerned.
    pub at: usize,
    /// By how much, in the constraint's unit (resource units, W, °C, workloads).
    pub excess: f64,
    /// A sentence naming the entities.
    pub message: String,
}

/// What a placement costs and breaks.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Workloads without a host.
    pub unplaced: usize,
    /// Σ (1 + max(priority, 0)) over unplaced workloads, plus ½ for each that runs now (an
    /// eviction).
    pub unplaced_priority: f64,
    /// IT power, watts (mean predicted).
    pub it_w: f64,
    /// Cooling power, watts: IT / CoP(supply).
    pub cooling_w: f64,
    /// Carbon, gCO2e per hour.
    pub carbon_g_per_h: f64,
    /// Stranded capacity, host equivalents ([`Goal::Stranded`]).
    pub stranded: f64,
    /// Largest recirculated inlet rise, °C.
    pub max_recirculation_c: f64,
    /// Σ migration cost of moved workloads (unplaced running ones count as moved).
    pub migrations: f64,
    /// Number of workloads moved off their current host.
    pub moved: usize,
    /// Supply temperature the cooling plant can run at, °C.
    pub supply_c: f64,
    /// Hosts drawing more than their sleep power: running at least one workload, unable to
    /// sleep, or (in the [`Placer`](super::Placer)) [`awake`](super::Host::awake) now.
    pub hosts_awake: usize,
    /// Hard constraints broken (empty for every placement Kelvin returns).
    pub violations: Vec<Violation>,
}

impl Evaluation {
    /// IT plus cooling, watts.
    pub fn facility_w(&self) -> f64 {
        self.it_w + self.cooling_w
    }
}
