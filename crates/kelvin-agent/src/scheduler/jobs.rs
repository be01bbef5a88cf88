//! Slurm jobs as the engine's workloads: per-job energy on shared nodes through the ledger.
//!
//! A [`JobTracker`] turns what [`Slurm::jobs`](super::slurm::Slurm::jobs) and the jobcomp log
//! report into lifecycle calls ([`JobEvent`]): a job that runs on a node Kelvin meters
//! becomes a workload there (`slurm-job-ID`, or `slurm-job-ID-NODE` for each node of a
//! multi-node job), requesting the CPUs, memory and GPUs Slurm allocated it, from its start
//! time; it stops at its end time (the jobcomp log's or `squeue`'s for a finished job, else
//! the time it was seen gone). The ledger then bills each job as any workload: its share of
//! the node's idle floor by its allocation, its share of the dynamic power by its measured
//! use where a usage signal names it, the rest to the node's accounts — conserved, so the
//! jobs and accounts of a node sum to what its meter measured. Once every interval of an
//! ended job is closed, [`JobTracker::reports_due`] gives its [`JobReport`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use kelvin::attribution::ledger::BookTotals;
use kelvin::model::{EntityId, Resources, Timestamp, Workload};
use serde::Serialize;

use super::extender::{Answer, Extender, normalised_scores};
use super::k8s::MAX_EXTENDER_PRIORITY;
use super::slurm::{Allocation, NodeAlloc, Slurm};
use crate::config::SlurmConfig;
use crate::sources::now;

/// The prefix of every job workload's id.
pub const JOB_PREFIX: &str = "slurm-job-";

/// Ended jobs kept until reported, at most (the oldest are dropped past it).
const MAX_ENDED: usize = 100_000;

/// A lifecycle call for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent {
    /// Start this workload at this time.
    Start(Workload, Timestamp),
    /// Stop this workload at this time.
    Stop(EntityId, Timestamp),
}

/// One job's part on one node.
#[derive(Debug, Clone, PartialEq)]
struct Part {
    job: u64,
    user: String,
    name: String,
    node: String,
    cpus: u32,
    start: Timestamp,
}

/// An ended job, waiting for its intervals to close.
#[derive(Debug, Clone, PartialEq)]
struct Ended {
    parts: Vec<(String, Part)>,
    end: Timestamp,
}

/// A finished job's energy, per node: what the ledger billed its workloads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobReport {
    /// The job id.
    pub job_id: u64,
    /// Its name.
    pub name: String,
    /// Its user.
    pub user: String,
    /// Its start, RFC 3339.
    pub start: String,
    /// Its end, RFC 3339.
    pub end: String,
    /// Joules billed to it, all nodes.
    pub energy_j: f64,
    /// Per node: the node, the CPUs it held there, the joules billed there.
    pub nodes: Vec<NodeEnergy>,
}

/// A job's energy on one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeEnergy {
    /// The node.
    pub node: String,
    /// CPUs allocated on it.
    pub cpus: u32,
    /// Joules billed there.
    pub energy_j: f64,
}

/// Jobs seen running, started in the engine, and ended ones awaiting their report.
#[derive(Debug, Clone, Default)]
pub struct JobTracker {
    hosts: HashSet<String>,
    running: BTreeMap<String, Part>,
    ended: Vec<Ended>,
}

/// The workload id of `job`'s part on `node` (`multi`: the job spans several nodes).
pub fn workload_id(job: u64, node: &str, multi: bool) -> String {
    if multi {
        format!("{JOB_PREFIX}{job}-{node}")
    } else {
        format!("{JOB_PREFIX}{job}")
    }
}

/// The CPUs a job holds on a node: Slurm's count, else its CPU ids.
fn cpus_of(n: &NodeAlloc) -> u32 {
    n.cpus
        .unwrap_or_else(|| u32::try_from(n.cpu_ids.len()).unwrap_or(u32::MAX))
}

impl JobTracker {
    /// A tracker for jobs on these hosts (Kelvin's host ids, named as Slurm names its nodes);
    /// parts on other nodes are not metered and not started.
    pub fn new(hosts: impl IntoIterator<Item = String>) -> JobTracker {
        JobTracker {
            hosts: hosts.into_iter().collect(),
            ..JobTracker::default()
        }
    }

    /// Takes back the job workloads an engine already runs (after a restart): they are not
    /// started again, and stop when their job is seen gone. `spans` are the engine's open
    /// workload spans: id, host, requested cores, start.
    pub fn resume<'a>(&mut self, spans: impl IntoIterator<Item = (&'a str, &'a str, f64, i64)>) {
        for (id, host, cores, start_ns) in spans {
            let Some(rest) = id.strip_prefix(JOB_PREFIX) else {
                continue;
            };
            let job = rest.split('-').next().and_then(|j| j.parse().ok());
            if let Some(job) = job {
                self.running.insert(
                    id.to_string(),
                    Part {
                        job,
                        user: String::new(),
                        name: String::new(),
                        node: host.to_string(),
                        cpus: cores.round().clamp(0.0, f64::from(u32::MAX)) as u32,
                        start: Timestamp::from_nanos(start_ns),
                    },
                );
            }
        }
    }

    /// Job workloads running now.
    pub fn running(&self) -> impl Iterator<Item = (&str, u64)> {
        self.running.iter().map(|(id, p)| (id.as_str(), p.job))
    }

    /// The lifecycle calls that bring the engine to what Slurm reports: `polled` is what
    /// `squeue` shows now, `completed` what the jobcomp log added (ended jobs with their end),
    /// `now` the time of the poll (the end of a job seen gone without an end time).
    pub fn observe(
        &mut self,
        polled: &[Allocation],
        completed: &[Allocation],
        now: Timestamp,
    ) -> Vec<JobEvent> {
        let mut events = Vec::new();
        let mut live: BTreeSet<String> = BTreeSet::new();
        for a in polled.iter().filter(|a| !a.is_finished()) {
            let Some(start) = a.start.filter(|s| s.as_nanos() > 0) else {
                continue;
            };
            let multi = a.nodes.len() > 1;
            for n in a.nodes.iter().filter(|n| self.hosts.contains(&n.node)) {
                let id = workload_id(a.job_id, &n.node, multi);
                live.insert(id.clone());
                if self.running.contains_key(&id) {
                    continue;
                }
                let Ok(eid) = EntityId::new(id.as_str()) else {
                    continue;
                };
                let Ok(host) = EntityId::new(n.node.as_str()) else {
                    continue;
                };
                let cpus = cpus_of(n);
                let mut requests = Resources::new(f64::from(cpus), n.memory_bytes.unwrap_or(0));
                requests.gpus = n.gpus.unwrap_or(0);
                let workload = Workload {
                    id: eid,
                    tenant: a.user.clone(),
                    owner: "slurm".into(),
                    requests,
                    host: Some(host),
                };
                events.push(JobEvent::Start(workload, start));
                self.running.insert(
                    id,
                    Part {
                        job: a.job_id,
                        user: a.user.clone(),
                        name: a.name.clone(),
                        node: n.node.clone(),
                        cpus,
                        start,
                    },
                );
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|id| !live.contains(*id))
            .cloned()
            .collect();
        let mut by_job: BTreeMap<u64, Vec<(String, Part)>> = BTreeMap::new();
        for id in gone {
            if let Some(p) = self.running.remove(&id) {
                by_job.entry(p.job).or_default().push((id, p));
            }
        }
        for (job, parts) in by_job {
            let end = completed
                .iter()
                .chain(polled)
                .filter(|a| a.job_id == job)
                .find_map(|a| a.end)
                .unwrap_or(now);
            for (id, p) in &parts {
                let end = end.max(p.start);
                if let Ok(eid) = EntityId::new(id.as_str()) {
                    events.push(JobEvent::Stop(eid, end));
                }
            }
            if self.ended.len() >= MAX_ENDED {
                self.ended.remove(0);
            }
            self.ended.push(Ended { parts, end });
        }
        events
    }

    /// Reports of the ended jobs whose every interval is closed (their end at or before
    /// `closed_through`), with the joules the ledger billed their workloads (`billed_uj`:
    /// workload id → µJ, the book's totals). Each job is reported once.
    pub fn reports_due(
        &mut self,
        closed_through: Timestamp,
        billed_uj: &dyn Fn(&str) -> i128,
    ) -> Vec<JobReport> {
        let (due, wait): (Vec<Ended>, Vec<Ended>) = std::mem::take(&mut self.ended)
            .into_iter()
            .partition(|e| e.end <= closed_through);
        self.ended = wait;
        due.into_iter()
            .filter_map(|e| {
                let first = &e.parts.first()?.1;
                let nodes: Vec<NodeEnergy> = e
                    .parts
                    .iter()
                    .map(|(id, p)| NodeEnergy {
                        node: p.node.clone(),
                        cpus: p.cpus,
                        energy_j: billed_uj(id) as f64 / 1e6,
                    })
                    .collect();
                Some(JobReport {
                    job_id: first.job,
                    name: first.name.clone(),
                    user: first.user.clone(),
                    start: first.start.to_rfc3339(),
                    end: e.end.to_rfc3339(),
                    energy_j: nodes.iter().map(|n| n.energy_j).sum(),
                    nodes,
                })
            })
            .collect()
    }
}

/// Slurm node weights from Kelvin's placement (lower is preferred): each node's score for a
/// one-core job, as prioritize gives it (0..=10, the cheapest node 10), becomes
/// `1 + (10 − score)`, so the node Kelvin prefers gets weight 1 and the dearest 11; a node the
/// job does not fit gets 12. Nodes Kelvin does not meter are left out (their weight is the
/// site's).
///
/// ```
/// use kelvin::placement::fleet::Breakdown;
/// use kelvin_agent::scheduler::Answer;
/// use kelvin_agent::scheduler::jobs::node_weights;
///
/// let fits = |score| Answer::Fits(Breakdown { score, ..Breakdown::default() });
/// let full = Answer::Blocked { constraint: "cpu capacity".into(), unresolvable: false };
/// let w = node_weights(&["n1".into(), "n2".into(), "n3".into()], &[fits(5.0), fits(1.0), full]);
/// assert_eq!(w, [("n1".to_string(), 11), ("n2".to_string(), 1), ("n3".to_string(), 12)].into());
/// ```
pub fn node_weights(nodes: &[String], answers: &[Answer]) -> BTreeMap<String, u32> {
    let scores = normalised_scores(answers, MAX_EXTENDER_PRIORITY);
    nodes
        .iter()
        .zip(answers.iter().zip(scores))
        .map(|(n, (a, s))| {
            let w = match a {
                Answer::Fits(_) => 1 + (MAX_EXTENDER_PRIORITY - s).clamp(0, 10) as u32,
                Answer::Blocked { .. } => 12,
            };
            (n.clone(), w)
        })
        .collect()
}

/// What one poll of Slurm found.
#[derive(Debug, Clone)]
pub struct SlurmPoll {
    /// The jobs `squeue` shows.
    pub running: Vec<Allocation>,
    /// The jobs the jobcomp log added since the last poll.
    pub completed: Vec<Allocation>,
    /// When.
    pub at: Timestamp,
}

/// The agent's side of Slurm: a thread polls it ([`SlurmLink::start`]); the engine loop applies
/// what it found ([`SlurmLink::apply`]) and, as intervals close, writes the ended jobs'
/// reports and the running jobs' comments ([`SlurmLink::after_close`]).
#[derive(Debug)]
pub struct SlurmLink {
    rx: mpsc::Receiver<SlurmPoll>,
    tracker: JobTracker,
    comments: Arc<Mutex<Vec<(u64, String)>>>,
    report_dir: PathBuf,
    admin_comment: bool,
    closed: Option<Timestamp>,
}

impl SlurmLink {
    /// Starts polling Slurm as `cfg` says, for jobs on `engine`'s hosts (taking back the job
    /// workloads it already runs), until `stop` is set; with `node_weights`, each poll also
    /// sets the metered nodes' weights from `extender`'s placement ([`node_weights`]).
    pub fn start(
        cfg: &SlurmConfig,
        data_dir: &Path,
        engine: &kelvin::Engine,
        extender: Option<Arc<Extender>>,
        stop: Arc<AtomicBool>,
    ) -> SlurmLink {
        let hosts: HashSet<String> = engine
            .inventory()
            .hosts
            .iter()
            .map(|h| h.id.to_string())
            .collect();
        let weights_from = extender
            .filter(|_| cfg.node_weights)
            .map(|e| (e, hosts.clone()));
        let mut tracker = JobTracker::new(hosts);
        tracker.resume(
            engine
                .workload_spans()
                .filter(|s| s.stop_ns.is_none())
                .map(|s| {
                    (
                        s.workload.as_str(),
                        s.host.as_str(),
                        s.requested_cores,
                        s.start_ns,
                    )
                }),
        );
        let mut slurm = Slurm::new().with_timeout(Duration::from_secs_f64(cfg.timeout_s));
        if let Some(c) = &cfg.conf {
            slurm = slurm.with_conf(c);
        }
        if let Some(b) = &cfg.bin_dir {
            slurm = slurm.with_bin_dir(b);
        }
        let (tx, rx) = mpsc::sync_channel(4);
        let comments = Arc::new(Mutex::new(Vec::new()));
        let poller = Poller {
            slurm,
            jobcomp: cfg.jobcomp.clone(),
            every: Duration::from_secs_f64(cfg.poll_s),
            comments: comments.clone(),
            weights_from,
        };
        let spawned = std::thread::Builder::new()
            .name("kelvin-slurm".into())
            .spawn(move || poller.run(&tx, &stop));
        if let Err(e) = spawned {
            eprintln!("kelvin-agent: the Slurm poller did not start: {e}");
        }
        SlurmLink {
            rx,
            tracker,
            comments,
            report_dir: cfg
                .report_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("slurm-jobs")),
            admin_comment: cfg.admin_comment,
            closed: None,
        }
    }

    /// Applies the polls that arrived: jobs started and stopped as workloads. Returns whether
    /// the engine changed (it then needs a commit).
    pub fn apply(&mut self, engine: &mut kelvin::Engine) -> bool {
        let mut changed = false;
        while let Ok(poll) = self.rx.try_recv() {
            for ev in self
                .tracker
                .observe(&poll.running, &poll.completed, poll.at)
            {
                let done = match &ev {
                    JobEvent::Start(w, at) => engine.start_workload(w.clone(), *at),
                    JobEvent::Stop(id, at) => engine.stop_workload(id, *at).map(|_| ()),
                };
                match done {
                    Ok(()) => changed = true,
                    Err(e) => eprintln!("kelvin-agent: slurm: {ev:?} refused: {e}"),
                }
            }
        }
        changed
    }

    /// Whether intervals closed through `closed_through` are news ([`SlurmLink::after_close`]
    /// has not seen them): a caller asks before building the book's totals.
    pub fn closes(&self, closed_through: Timestamp) -> bool {
        self.closed != Some(closed_through)
    }

    /// Once intervals closed through `closed_through` (and the book's totals are `totals`):
    /// writes each ended job's report whose intervals are all closed, and queues the running
    /// jobs' comments when asked to.
    pub fn after_close(&mut self, closed_through: Timestamp, totals: &BookTotals) {
        if !self.closes(closed_through) {
            return;
        }
        self.closed = Some(closed_through);
        let billed = |id: &str| totals.workloads.get(id).copied().unwrap_or(0);
        for r in self.tracker.reports_due(closed_through, &billed) {
            if let Err(e) = write_report(&self.report_dir, &r) {
                eprintln!("kelvin-agent: slurm: the report of job {}: {e}", r.job_id);
            }
        }
        if self.admin_comment {
            let mut so_far: BTreeMap<u64, i128> = BTreeMap::new();
            for (id, job) in self.tracker.running() {
                *so_far.entry(job).or_default() += billed(id);
            }
            let through = closed_through.to_rfc3339();
            if let Ok(mut c) = self.comments.lock() {
                c.extend(so_far.into_iter().map(|(job, uj)| {
                    (
                        job,
                        format!("kelvin: energy_j={:.1} through {through}", uj as f64 / 1e6),
                    )
                }));
            }
        }
    }
}

/// Writes `report` as `DIR/job-ID.json`, through a temporary file and a rename.
fn write_report(dir: &Path, report: &JobReport) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    let path = dir.join(format!("job-{}.json", report.job_id));
    let tmp = dir.join(format!(".job-{}.json.tmp", report.job_id));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

/// The polling thread's half.
struct Poller {
    slurm: Slurm,
    jobcomp: Option<PathBuf>,
    every: Duration,
    comments: Arc<Mutex<Vec<(u64, String)>>>,
    /// Kelvin's placement, to push node weights from (with `node_weights`).
    weights_from: Option<(Arc<Extender>, HashSet<String>)>,
}

impl Poller {
    fn run(self, tx: &mpsc::SyncSender<SlurmPoll>, stop: &AtomicBool) {
        let mut offset = 0;
        // Ended jobs read from the jobcomp log but not yet handed over (a poll the engine
        // had no room for): the log's offset has moved past them.
        let mut carry: Vec<Allocation> = Vec::new();
        let mut last_error = String::new();
        let mut complain = |what: String| {
            if what != last_error {
                eprintln!("kelvin-agent: slurm: {what}");
                last_error = what;
            }
        };
        while !stop.load(Ordering::SeqCst) {
            let started = std::time::Instant::now();
            let mut poll = SlurmPoll {
                running: Vec::new(),
                completed: Vec::new(),
                at: now(),
            };
            // A failed squeue says nothing of the jobs: no poll is sent (an empty one would
            // stop every running job), and the jobcomp log waits for the next one.
            match self.slurm.jobs() {
                Ok(p) => poll.running = p.items,
                Err(e) => {
                    complain(e.to_string());
                    self.pause(started, stop);
                    continue;
                }
            }
            poll.completed = std::mem::take(&mut carry);
            if let Some(path) = &self.jobcomp {
                match self.slurm.completed(path, offset) {
                    Ok(c) => {
                        offset = c.next_offset;
                        poll.completed.extend(c.jobs.items);
                    }
                    Err(e) => complain(e.to_string()),
                }
            }
            // A full channel means the engine is behind: the poll waits for the next one,
            // which says the same of the running jobs; its ended jobs are carried over.
            if let Err(mpsc::TrySendError::Full(p)) = tx.try_send(poll) {
                carry = p.completed;
                let excess = carry.len().saturating_sub(MAX_ENDED);
                carry.drain(..excess);
            }
            let queued = self.comments.lock().map(|mut c| std::mem::take(&mut *c));
            for (job, text) in queued.unwrap_or_default() {
                if let Err(e) = self.slurm.set_admin_comment(job, &text) {
                    complain(format!("the comment of job {job}: {e}"));
                }
            }
            if let Err(e) = self.push_weights() {
                complain(e);
            }
            self.pause(started, stop);
        }
    }

    /// Waits out the rest of the poll interval begun at `started`, or until `stop`.
    fn pause(&self, started: std::time::Instant, stop: &AtomicBool) {
        while started.elapsed() < self.every && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Poller {
    /// Sets the weights Kelvin's placement gives the metered nodes where Slurm has others.
    fn push_weights(&self) -> Result<(), String> {
        let Some((ext, hosts)) = &self.weights_from else {
            return Ok(());
        };
        let current = self.slurm.node_weights().map_err(|e| e.to_string())?;
        let nodes: Vec<String> = current
            .keys()
            .filter(|n| hosts.contains(*n))
            .cloned()
            .collect();
        if nodes.is_empty() {
            return Ok(());
        }
        let demand: Vec<f64> = ext
            .dims()
            .iter()
            .map(|d| if d == "cpu" { 1.0 } else { 0.0 })
            .collect();
        let answers = ext
            .ask(nodes.clone(), demand)
            .map_err(|e| format!("node weights: {e}"))?;
        let wanted = node_weights(&nodes, &answers);
        let changed: Vec<(&String, &u32)> = wanted
            .iter()
            .filter(|(n, w)| current.get(*n) != Some(*w))
            .collect();
        for (n, w) in &changed {
            self.slurm
                .set_node_weight(n, **w)
                .map_err(|e| format!("the weight of node {n}: {e}"))?;
        }
        if !changed.is_empty() {
            let all: Vec<String> = wanted.iter().map(|(n, w)| format!("{n}={w}")).collect();
            eprintln!(
                "kelvin-agent: slurm: node weights {} (Kelvin's prioritize of a one-core job)",
                all.join(" ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(job: u64, nodes: &[(&str, u32)], start: i64, end: Option<i64>) -> Allocation {
        let mut a = Allocation {
            job_id: job,
            name: format!("j{job}"),
            user: "ana".into(),
            state: if end.is_some() {
                "COMPLETED"
            } else {
                "RUNNING"
            }
            .into(),
            cpus: nodes.iter().map(|n| n.1).sum(),
            nodes: Vec::new(),
            start: Some(Timestamp::from_secs(start)),
            end: end.map(Timestamp::from_secs),
            admin_comment: None,
        };
        for (n, c) in nodes {
            a.nodes.push(NodeAlloc {
                node: (*n).into(),
                cpu_ids: (0..*c).collect(),
                cpus: Some(*c),
                memory_bytes: None,
                gpus: None,
                gpu_ids: Vec::new(),
            });
        }
        a
    }

    #[test]
    fn jobs_start_once_stop_at_their_end_and_are_reported_when_closed() {
        let mut t = JobTracker::new(["n1".to_string(), "n2".to_string()]);
        let polled = [
            alloc(7, &[("n1", 2)], 100, None),
            alloc(8, &[("n1", 1), ("n2", 4), ("nx", 1)], 105, None),
        ];
        let ev = t.observe(&polled, &[], Timestamp::from_secs(110));
        let started: Vec<String> = ev
            .iter()
            .filter_map(|e| match e {
                JobEvent::Start(w, _) => Some(format!(
                    "{}@{}:{}",
                    w.id,
                    w.host.as_ref().unwrap(),
                    w.requests.cpu_cores
                )),
                JobEvent::Stop(..) => None,
            })
            .collect();
        assert_eq!(
            started,
            [
                "slurm-job-7@n1:2",
                "slurm-job-8-n1@n1:1",
                "slurm-job-8-n2@n2:4"
            ]
        );
        // Seen again: nothing new.
        assert!(
            t.observe(&polled, &[], Timestamp::from_secs(120))
                .is_empty()
        );
        // Job 7 ended (the jobcomp log has its end); job 8 vanished without one.
        let ev = t.observe(
            &[],
            &[alloc(7, &[("n1", 2)], 100, Some(130))],
            Timestamp::from_secs(140),
        );
        let stops: Vec<(String, i64)> = ev
            .iter()
            .filter_map(|e| match e {
                JobEvent::Stop(id, at) => Some((id.to_string(), at.as_nanos() / 1_000_000_000)),
                JobEvent::Start(..) => None,
            })
            .collect();
        assert_eq!(
            stops,
            [
                ("slurm-job-7".into(), 130),
                ("slurm-job-8-n1".into(), 140),
                ("slurm-job-8-n2".into(), 140)
            ]
        );
        let billed = |id: &str| match id {
            "slurm-job-7" => 5_000_000,
            "slurm-job-8-n1" => 1_000_000,
            _ => 3_000_000,
        };
        assert!(t.reports_due(Timestamp::from_secs(129), &billed).is_empty());
        let r = t.reports_due(Timestamp::from_secs(135), &billed);
        assert_eq!((r.len(), r[0].job_id, r[0].energy_j), (1, 7, 5.0));
        let r = t.reports_due(Timestamp::from_secs(140), &billed);
        assert_eq!((r[0].job_id, r[0].energy_j, r[0].nodes.len()), (8, 4.0, 2));
        assert!(
            t.reports_due(Timestamp::from_secs(1_000), &billed)
                .is_empty()
        );
    }

    /// A Slurm whose commands all fail sends no poll: an empty one would stop every job.
    #[test]
    fn a_failing_slurm_stops_no_job() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("kelvin-jobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["squeue", "sinfo", "scontrol"] {
            let path = dir.join(name);
            std::fs::write(&path, "#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let poller = Poller {
            slurm: Slurm::new().with_bin_dir(&dir),
            jobcomp: None,
            every: Duration::from_millis(20),
            comments: Arc::default(),
            weights_from: None,
        };
        let (tx, rx) = mpsc::sync_channel(4);
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || poller.run(&tx, &s2));
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        t.join().unwrap();
        assert!(
            rx.try_recv().is_err(),
            "a poll was sent though squeue failed"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Ended jobs the jobcomp log gave while the engine had no room for a poll reach it
    /// with the next poll.
    #[test]
    fn ended_jobs_are_carried_over_a_full_channel() {
        use std::os::unix::fs::PermissionsExt;
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/slurm");
        let dir = std::env::temp_dir().join(format!("kelvin-jobs-carry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, file) in [("squeue", "squeue_running.json"), ("sinfo", "sinfo.json")] {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\ncat {data}/{file}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let ended = Slurm::new()
            .completed(std::path::Path::new(&format!("{data}/jobcomp.txt")), 0)
            .unwrap()
            .jobs
            .items
            .len();
        assert!(ended > 0);
        let poller = Poller {
            slurm: Slurm::new().with_bin_dir(&dir),
            jobcomp: Some(format!("{data}/jobcomp.txt").into()),
            every: Duration::from_millis(20),
            comments: Arc::default(),
            weights_from: None,
        };
        // Room for one poll, taken: the first polls (the log's ended jobs among them) find
        // the channel full.
        let (tx, rx) = mpsc::sync_channel(1);
        tx.send(SlurmPoll {
            running: Vec::new(),
            completed: Vec::new(),
            at: Timestamp::from_secs(0),
        })
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || poller.run(&tx, &s2));
        std::thread::sleep(Duration::from_millis(200));
        assert!(rx.recv().unwrap().running.is_empty(), "the filler first");
        let first = rx.recv().unwrap();
        assert_eq!(first.completed.len(), ended, "the ended jobs carried over");
        assert!(!first.running.is_empty());
        // Nothing new in the log: nothing comes twice.
        let next = rx.recv().unwrap();
        assert!(
            next.completed.is_empty(),
            "{} carried",
            next.completed.len()
        );
        stop.store(true, Ordering::SeqCst);
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_resumed_job_is_not_started_again_and_stops_when_gone() {
        let mut t = JobTracker::new(["n1".to_string()]);
        t.resume([
            ("slurm-job-9", "n1", 2.0, 50_000_000_000),
            ("pod-x", "n1", 1.0, 0),
        ]);
        assert_eq!(t.running().collect::<Vec<_>>(), [("slurm-job-9", 9)]);
        assert!(
            t.observe(
                &[alloc(9, &[("n1", 2)], 50, None)],
                &[],
                Timestamp::from_secs(60)
            )
            .is_empty()
        );
        let ev = t.observe(&[], &[], Timestamp::from_secs(70));
        assert!(
            matches!(&ev[..], [JobEvent::Stop(id, at)] if id.as_str() == "slurm-job-9" && *at == Timestamp::from_secs(70))
        );
    }
}
