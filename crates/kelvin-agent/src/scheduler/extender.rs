//! The placement side of the scheduler endpoints: a [`Placer`] kept over the engine's fleet,
//! asked about one pending workload at a time ([`Extender::ask`]).
//!
//! Building a placer over a fleet costs tens of milliseconds at 5,000 hosts (its indexes,
//! every running workload added), a question a fraction of one. So the placer is built once
//! per [`View`] — the engine's fleet problem with one unplaced *slot* task that stands for any
//! workload asked about ([`Placer::probe`] prices the slot with the asked demand) — and kept
//! by a worker thread that owns the view; [`Extender::update`] hands it a new one (when an
//! interval closes, or the inventory changes). Questions queue on a channel and are answered
//! in order: a scheduler asks about one pod at a time.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};

use kelvin::model::{EntityId, Resources, Workload};
use kelvin::placement::fleet::{Breakdown, Check, Objective, Placer, Policy, Problem, Task};

use super::peaks::{peaks_json, peaks_models};
use super::watcher::{WatcherMetrics, watcher_document};

/// The id of the slot task that stands for the workload asked about.
pub const SLOT_ID: &str = "kelvin-scheduler-probe";

/// A fleet to answer about: the placement problem (hosts with their capacity, power curves,
/// racks, caps and running workloads) with the slot task last, and the hosts by name.
#[derive(Debug, Clone)]
pub struct View {
    problem: Problem,
    slot: usize,
    nodes: HashMap<String, usize>,
    /// What the engine measured, for the load-watcher endpoint (none without data).
    watcher: Option<WatcherMetrics>,
    /// The PEAKS power models of the hosts with a fitted curve, as the plugin reads them.
    peaks: String,
}

impl View {
    /// The engine's fleet as it stands ([`kelvin::Engine::fleet_problem`]): its hosts'
    /// curves, their power and utilization as measured over the last `recent` of its data
    /// (all of it with `None`), its running workloads.
    ///
    /// # Errors
    /// What [`kelvin::Engine::fleet_problem`] returns.
    pub fn from_engine(
        engine: &kelvin::Engine,
        recent: Option<std::time::Duration>,
    ) -> Result<View, kelvin::Error> {
        let slot = Workload {
            id: EntityId::new(SLOT_ID)?,
            tenant: String::new(),
            owner: String::new(),
            requests: Resources::new(0.0, 0),
            host: None,
        };
        let pending = std::slice::from_ref(&slot);
        let problem = match recent {
            Some(d) => engine.fleet_problem_recent(pending, d)?,
            None => engine.fleet_problem(pending)?,
        };
        let now = crate::sources::now().as_nanos() / 1_000_000_000;
        let models = peaks_models(engine)
            .into_iter()
            .map(|(host, fit)| (host, fit.model))
            .collect();
        let mut view = View::from_problem(problem);
        view.watcher = watcher_document(engine, now);
        view.peaks = peaks_json(&models);
        Ok(view)
    }

    /// A view of `problem` (a synthetic fleet, one built by hand): its last task is the slot
    /// when named [`SLOT_ID`], else a slot is added (demand 0, unplaced).
    pub fn from_problem(mut problem: Problem) -> View {
        let has_slot = problem
            .tasks
            .last()
            .is_some_and(|t| t.id.as_str() == SLOT_ID && t.current.is_none());
        if !has_slot && let Ok(id) = EntityId::new(SLOT_ID) {
            problem
                .tasks
                .push(Task::new(id, vec![0.0; problem.dims.len()]));
        }
        let nodes = problem
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id.as_str().to_string(), i))
            .collect();
        View {
            slot: problem.tasks.len().saturating_sub(1),
            problem,
            nodes,
            watcher: None,
            peaks: "{}".into(),
        }
    }

    /// The load-watcher document of the engine the view was built from (`None` without data
    /// or for a view built from a problem).
    pub fn watcher(&self) -> Option<&WatcherMetrics> {
        self.watcher.as_ref()
    }

    /// The PEAKS power models (`{"<node>": {"k0": …, "k1": …, "k2": …}}`).
    pub fn peaks(&self) -> &str {
        &self.peaks
    }

    /// The placement problem.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// Hosts, by name.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it has no host.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// What placing the workload on one host would do.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// It fits; what it changes there ([`Breakdown::score`]: lower is better).
    Fits(Breakdown),
    /// It does not: the constraint in words (`"cpu capacity"`, `"power cap of pdu-r2"`), and
    /// whether evicting workloads could not make it fit (the host is too small for it even
    /// empty, or the workload may not run there).
    Blocked {
        /// The constraint, as [`Check::describe`] names it.
        constraint: String,
        /// Whether preemption could not help.
        unresolvable: bool,
    },
}

/// Why a question was not answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// Hosts the fleet does not have.
    #[error("unknown to Kelvin: {}", .0.join(", "))]
    UnknownNodes(Vec<String>),
    /// A demand the placer refuses (wrong length, negative, not finite).
    #[error("{0}")]
    BadDemand(String),
    /// The worker is gone, or its fleet could not be built.
    #[error("the placement worker is unavailable: {0}")]
    Unavailable(String),
}

type Reply = mpsc::SyncSender<Result<Vec<Answer>, AskError>>;

enum Msg {
    Ask {
        nodes: Vec<String>,
        demand: Vec<f64>,
        reply: Reply,
    },
    View(Box<View>),
}

/// A placer kept over a [`View`] by a worker thread; cheap to share (`Arc<Extender>`).
#[derive(Debug)]
pub struct Extender {
    tx: Mutex<mpsc::Sender<Msg>>,
    dims: Vec<String>,
    /// The current view's load-watcher document and PEAKS models.
    extras: RwLock<Arc<(Option<WatcherMetrics>, String)>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Ask { nodes, .. } => write!(f, "Ask({} nodes)", nodes.len()),
            Msg::View(v) => write!(f, "View({} hosts)", v.len()),
        }
    }
}

impl Extender {
    /// Starts the worker over `view`, choosing by Kelvin's default objective (facility
    /// power, carbon, stranded capacity and heat; power caps and redlines are hard).
    pub fn spawn(view: View) -> Extender {
        let dims = view.problem.dims.clone();
        let extras = RwLock::new(Arc::new((view.watcher.clone(), view.peaks.clone())));
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("kelvin-extender".into())
            .spawn(move || worker(view, &rx));
        if let Err(e) = spawned {
            eprintln!("kelvin-agent: the placement worker did not start: {e}");
        }
        Extender {
            tx: Mutex::new(tx),
            dims,
            extras,
        }
    }

    /// The current view's load-watcher document (`None` before the engine has data).
    pub fn watcher(&self) -> Option<WatcherMetrics> {
        self.extras.read().ok().and_then(|e| e.0.clone())
    }

    /// The current view's PEAKS power models, as JSON.
    pub fn peaks(&self) -> String {
        self.extras
            .read()
            .map(|e| e.1.clone())
            .unwrap_or_else(|_| "{}".into())
    }

    /// The dimensions a demand gives, in order (`cpu`, `memory_gib`, `gpus` for an engine's
    /// fleet).
    pub fn dims(&self) -> &[String] {
        &self.dims
    }

    /// Replaces the fleet the worker answers about (questions already queued are answered
    /// about the old one).
    pub fn update(&self, view: View) {
        if let Ok(mut e) = self.extras.write() {
            *e = Arc::new((view.watcher.clone(), view.peaks.clone()));
        }
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Msg::View(Box::new(view)));
        }
    }

    /// What placing a workload of `demand` (one value per [`Extender::dims`]) on each of
    /// `nodes` would do, in order.
    ///
    /// ```
    /// use kelvin::model::EntityId;
    /// use kelvin::placement::fleet::{Host, PowerCurve, Problem, Rack};
    /// use kelvin_agent::scheduler::extender::{Answer, Extender, View};
    ///
    /// let curve = PowerCurve::try_new([100.0, 120.0, 140.0, 160.0, 180.0, 200.0, 220.0, 240.0, 260.0, 280.0, 300.0])?;
    /// let mut p = Problem::new(vec!["cpu".into()]);
    /// p.racks.push(Rack::new(EntityId::new("r1")?));
    /// p.hosts.push(Host::new(EntityId::new("small")?, 0, vec![8.0], curve.clone()).with_awake(true));
    /// p.hosts.push(Host::new(EntityId::new("big")?, 0, vec![64.0], curve).with_awake(true));
    /// let ext = Extender::spawn(View::from_problem(p));
    /// let answers = ext.ask(vec!["small".into(), "big".into()], vec![16.0])?;
    /// assert!(matches!(&answers[0], Answer::Blocked { unresolvable: true, .. }));
    /// assert!(matches!(&answers[1], Answer::Fits(b) if b.it_w > 0.0));
    /// assert!(ext.ask(vec!["elsewhere".into()], vec![1.0]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`AskError::UnknownNodes`] names every node the fleet lacks; [`AskError::BadDemand`]
    /// a demand of the wrong length or a negative or non-finite value.
    pub fn ask(&self, nodes: Vec<String>, demand: Vec<f64>) -> Result<Vec<Answer>, AskError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self
            .tx
            .lock()
            .map_err(|_| AskError::Unavailable("its channel is poisoned".into()))?
            .send(Msg::Ask {
                nodes,
                demand,
                reply,
            });
        if sent.is_err() {
            return Err(AskError::Unavailable("it has stopped".into()));
        }
        answer
            .recv()
            .map_err(|_| AskError::Unavailable("it stopped before answering".into()))?
    }
}

/// The worker: a placer over the current view, rebuilt when a new view arrives.
fn worker(mut view: View, rx: &mpsc::Receiver<Msg>) {
    loop {
        let next = match Placer::new(&view.problem, Policy::Kelvin(Objective::default())) {
            Ok(mut placer) => serve(&view, &mut placer, rx),
            Err(e) => refuse(&e.to_string(), rx),
        };
        match next {
            Some(v) => view = v,
            None => return,
        }
    }
}

/// Answers questions about `view` until a new view arrives (returned) or every sender is
/// gone (`None`).
fn serve(view: &View, placer: &mut Placer<'_>, rx: &mpsc::Receiver<Msg>) -> Option<View> {
    loop {
        match rx.recv().ok()? {
            Msg::View(v) => return Some(*v),
            Msg::Ask {
                nodes,
                demand,
                reply,
            } => {
                let _ = reply.send(answer(view, placer, &nodes, &demand));
            }
        }
    }
}

/// Refuses every question (the view's problem is invalid) until a new view arrives.
fn refuse(why: &str, rx: &mpsc::Receiver<Msg>) -> Option<View> {
    loop {
        match rx.recv().ok()? {
            Msg::View(v) => return Some(*v),
            Msg::Ask { reply, .. } => {
                let _ = reply.send(Err(AskError::Unavailable(format!(
                    "the fleet is not valid for placement: {why}"
                ))));
            }
        }
    }
}

fn answer(
    view: &View,
    placer: &mut Placer<'_>,
    nodes: &[String],
    demand: &[f64],
) -> Result<Vec<Answer>, AskError> {
    let mut hosts = Vec::with_capacity(nodes.len());
    let mut unknown = Vec::new();
    for n in nodes {
        match view.nodes.get(n.as_str()) {
            Some(h) => hosts.push(*h),
            None => unknown.push(n.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(AskError::UnknownNodes(unknown));
    }
    let probes = placer
        .probe(view.slot, Some(demand), &hosts)
        .map_err(|e| AskError::BadDemand(e.reason().to_string()))?;
    let p = &view.problem;
    let state = placer.state();
    Ok(probes
        .into_iter()
        .zip(&hosts)
        .map(|(probe, &h)| match probe {
            Ok(b) => Answer::Fits(b),
            Err(c) => Answer::Blocked {
                constraint: match c {
                    Check::Capacity(d) => {
                        let d = d as usize;
                        let cap = p.hosts[h].capacity.get(d).copied().unwrap_or(0.0);
                        let free = (cap - state.used(h, d)).max(0.0);
                        format!(
                            "{}: asks {}, {} free of {}",
                            c.describe(p),
                            amount(demand.get(d).copied().unwrap_or(0.0)),
                            amount(free),
                            amount(cap)
                        )
                    }
                    _ => c.describe(p),
                },
                unresolvable: unresolvable(p, h, c, demand),
            },
        })
        .collect())
}

/// A resource amount as people read it: whole when whole, else three decimals at most.
fn amount(x: f64) -> String {
    let r = (x * 1000.0).round() / 1000.0;
    if r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r}")
    }
}

/// Whether evicting workloads from host `h` could not make room: the workload may not run
/// there, or asks for more than the host has in all.
fn unresolvable(p: &Problem, h: usize, c: Check, demand: &[f64]) -> bool {
    match c {
        Check::Pinned => true,
        Check::Capacity(d) => {
            let d = d as usize;
            p.hosts[h]
                .capacity
                .get(d)
                .zip(demand.get(d))
                .is_some_and(|(cap, want)| want > cap)
        }
        _ => false,
    }
}

/// Scores 0..=`max` (higher is better) from the answers' placement scores (lower is better):
/// min–max normalised over the hosts that fit, the best at `max`; a host that does not fit
/// scores 0, and when every fitting host scores alike each gets `max`.
///
/// ```
/// use kelvin::placement::fleet::Breakdown;
/// use kelvin_agent::scheduler::extender::{Answer, normalised_scores};
///
/// let fits = |score| Answer::Fits(Breakdown { score, ..Breakdown::default() });
/// let blocked = Answer::Blocked { constraint: "cpu capacity".into(), unresolvable: false };
/// let answers = [fits(40.0), fits(10.0), blocked, fits(25.0)];
/// assert_eq!(normalised_scores(&answers, 10), [0, 10, 0, 5]);
/// ```
pub fn normalised_scores(answers: &[Answer], max: i64) -> Vec<i64> {
    let scores = answers.iter().filter_map(|a| match a {
        Answer::Fits(b) if b.score.is_finite() => Some(b.score),
        _ => None,
    });
    let (lo, hi) = scores.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s), hi.max(s))
    });
    answers
        .iter()
        .map(|a| match a {
            Answer::Fits(b) if b.score.is_finite() => {
                let span = hi - lo;
                if span <= 1e-9 * hi.abs().max(1.0) {
                    max
                } else {
                    ((hi - b.score) / span * max as f64).round() as i64
                }
            }
            _ => 0,
        })
        .collect()
}
