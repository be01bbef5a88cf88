//! The churn preset's pods at run time, second by second: a scheduler that binds each pod to
//! the least-allocated host with room for its requests (GPU pods to GPU hosts, whole GPUs held
//! exclusively; CPU pods to CPU hosts, the GPU hosts being tainted) or keeps it waiting, the
//! kubelet that starts its container after the image pull and stops it when it ends, and the
//! watch events the API server sends about each — written to `pod_events.jsonl` in the order
//! they were observed.
//!
//! A pod is charged (its `SimWorkload` is on its host's list, holding its GPUs) from the
//! second its container starts to the second it stops; the scheduler counts its requests from
//! binding. A pod that waited [`MAX_WAIT_S`] unscheduled is deleted by its controller.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::collections::BinaryHeap;

use kelvin_model::{Resources, Workload};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Room;
use super::churn::PodSpec;
use crate::dataset::POD_EVENTS_JSONL;
use crate::dataset::events::{
    ContainerJson, ContainerStatusJson, MetaJson, PodJson, ResourcesJson, RunningJson, SpecJson,
    StateJson, StatusJson, TerminatedJson, WatchLine,
};
use crate::dataset::quantity::{cpu_quantity, memory_quantity};
use crate::error::SimError;
use crate::estate::id;
use crate::sink::Sink;
use crate::vendor::rfc3339;
use crate::workload::SimWorkload;

/// Seconds a pod waits for room before its controller deletes it.
pub(crate) const MAX_WAIT_S: u32 = 1800;

/// One MiB, bytes.
const MIB: u64 = 1 << 20;

/// A bound pod's spec and lifecycle seconds.
struct Life {
    spec: usize,
    bind_s: u32,
    start_s: Option<u32>,
}

/// What a watch event says about a pod.
#[derive(Clone, Copy)]
enum Stage {
    /// `ADDED`, Pending; bound or not.
    Created,
    /// `MODIFIED`, Pending, now bound to a node.
    Bound,
    /// `MODIFIED`, Running.
    Running,
    /// `MODIFIED`, Succeeded.
    Succeeded,
    /// `DELETED` after it succeeded.
    Deleted,
    /// `DELETED` while still unscheduled.
    Dropped,
}

/// The pods' state over the run.
pub(super) struct Pods {
    specs: Vec<PodSpec>,
    /// The next spec to be created.
    next: usize,
    /// Unscheduled pods, by spec index, in creation order.
    waiting: Vec<usize>,
    /// Bound pods by the second their container starts: (second, workload index).
    starts: BinaryHeap<Reverse<(u32, usize)>>,
    /// Running pods by the second they stop.
    stops: BinaryHeap<Reverse<(u32, usize)>>,
    /// Requests bound to each host.
    used: Vec<Resources>,
    /// Each bound pod (by workload index) and its lifecycle.
    life: Vec<Life>,
    /// Events not yet written, by observed time: (ms, sequence, line).
    events: BinaryHeap<Reverse<(i64, u64, String)>>,
    seq: u64,
    rng: ChaCha8Rng,
    /// The first GPU host; hosts before it are CPU hosts.
    first_gpu: usize,
    /// Pods deleted after waiting [`MAX_WAIT_S`] unscheduled.
    pub(super) dropped: usize,
    /// Lines written to `pod_events.jsonl`.
    pub(super) events_written: u64,
}

impl Pods {
    /// The pods of a run on `hosts` hosts, the last `gpu_hosts` of them GPU servers.
    pub(super) fn new(
        specs: Vec<PodSpec>,
        hosts: usize,
        gpu_hosts: usize,
        rng: ChaCha8Rng,
    ) -> Pods {
        Pods {
            specs,
            next: 0,
            waiting: Vec::new(),
            starts: BinaryHeap::new(),
            stops: BinaryHeap::new(),
            used: vec![Resources::default(); hosts],
            life: Vec::new(),
            events: BinaryHeap::new(),
            seq: 0,
            rng,
            first_gpu: hosts - gpu_hosts,
            dropped: 0,
            events_written: 0,
        }
    }

    /// Pods still unscheduled at the end.
    pub(super) fn still_waiting(&self) -> usize {
        self.waiting.len() + self.specs.len() - self.next
    }

    /// A spec's requests.
    fn request(&self, spec: usize) -> Resources {
        let p = &self.specs[spec];
        Resources {
            cpu_cores: f64::from(p.cpu_milli) / 1000.0,
            memory_bytes: p.mem_mib * MIB,
            gpus: p.gpus,
        }
    }
}

impl Room<'_> {
    /// The pods' second `t`: containers that end stop, waiting pods and new ones are bound
    /// where there is room (or wait, or are given up), bound pods whose image is pulled start;
    /// then the events observed before the next step are written.
    pub(super) fn pods_at(&mut self, t: u32, sink: &mut Sink) -> Result<(), SimError> {
        let Some(mut pods) = self.pods.take() else {
            return Ok(());
        };
        while let Some(&Reverse((at, k))) = pods.stops.peek()
            && at <= t
        {
            pods.stops.pop();
            self.stop_pod(&mut pods, k, t);
        }
        for spec in std::mem::take(&mut pods.waiting) {
            if t - pods.specs[spec].arrive_s >= MAX_WAIT_S {
                pods.dropped += 1;
                self.emit(&mut pods, spec, None, Stage::Dropped, t);
            } else if let Some(k) = self.bind(&mut pods, spec, t) {
                self.emit(&mut pods, spec, Some(k), Stage::Bound, t);
            } else {
                pods.waiting.push(spec);
            }
        }
        while pods.next < pods.specs.len() && pods.specs[pods.next].arrive_s <= t {
            let spec = pods.next;
            pods.next += 1;
            let k = self.bind(&mut pods, spec, t);
            if k.is_none() {
                pods.waiting.push(spec);
            }
            self.emit(&mut pods, spec, k, Stage::Created, t);
        }
        while let Some(&Reverse((at, k))) = pods.starts.peek()
            && at <= t
        {
            pods.starts.pop();
            self.start_pod(&mut pods, k, t);
        }
        let start_ms = self.cfg.start.as_nanos() / 1_000_000;
        let end_ms = start_ms + i64::from(self.cfg.duration_s) * 1000;
        let before = start_ms + (i64::from(t) + i64::from(self.cfg.step_s)) * 1000;
        let r = flush(&mut pods, before.min(end_ms + 1), sink);
        self.pods = Some(pods);
        r
    }

    /// Binds spec `spec` to the least-allocated host of its kind with room for its requests
    /// (ties to the first): a new workload, its container to start after the image pull.
    fn bind(&mut self, pods: &mut Pods, spec: usize, t: u32) -> Option<usize> {
        let req = pods.request(spec);
        let n = self.hosts.len();
        let range = if req.gpus > 0 {
            pods.first_gpu..n
        } else if pods.first_gpu > 0 {
            0..pods.first_gpu
        } else {
            0..n
        };
        let mut best: Option<(f64, usize)> = None;
        for h in range {
            let cap = self.inv.hosts[h].capacity;
            let u = pods.used[h];
            let (cpu, mem) = (
                u.cpu_cores + req.cpu_cores,
                u.memory_bytes + req.memory_bytes,
            );
            if cpu > cap.cpu_cores || mem > cap.memory_bytes || u.gpus + req.gpus > cap.gpus {
                continue;
            }
            let score = cpu / cap.cpu_cores + mem as f64 / cap.memory_bytes.max(1) as f64;
            if best.is_none_or(|(b, _)| score < b) {
                best = Some((score, h));
            }
        }
        let (_, h) = best?;
        let u = &mut pods.used[h];
        u.cpu_cores += req.cpu_cores;
        u.memory_bytes += req.memory_bytes;
        u.gpus += req.gpus;
        let p = &pods.specs[spec];
        let wl = Workload {
            id: id(p.name.clone()),
            tenant: p.namespace.clone(),
            owner: p.owner.clone(),
            requests: req,
            host: Some(self.inv.hosts[h].id.clone()),
        };
        let mut sim = SimWorkload::new(wl, h, p.pattern);
        if req.gpus > 0 {
            sim.cpu_factor = super::build::GPU_CPU_FACTOR;
            sim.sm_factor = p.sm_factor;
        }
        let k = self.sims.len();
        self.sims.push(sim);
        self.rates.push(0.0);
        pods.life.push(Life {
            spec,
            bind_s: t,
            start_s: None,
        });
        pods.starts.push(Reverse((t.saturating_add(p.pull_s), k)));
        Some(k)
    }

    /// Starts workload `k`'s container at `t`: on its host's list, holding the first free
    /// GPUs, until its lifetime ends.
    fn start_pod(&mut self, pods: &mut Pods, k: usize, t: u32) {
        let h = self.sims[k].host;
        let rh = &mut self.hosts[h];
        rh.wls.push(k);
        let mut left = self.sims[k].wl.requests.gpus;
        for o in rh.gpu_owner.iter_mut() {
            if left > 0 && o.is_none() {
                *o = Some(k);
                left -= 1;
            }
        }
        self.active.push(k);
        let spec = pods.life[k].spec;
        pods.life[k].start_s = Some(t);
        let run = pods.specs[spec].run_s;
        if run != u32::MAX {
            pods.stops.push(Reverse((t.saturating_add(run), k)));
        }
        self.emit(pods, spec, Some(k), Stage::Running, t);
    }

    /// Stops workload `k`'s container at `t`, freeing its GPUs and its requests.
    fn stop_pod(&mut self, pods: &mut Pods, k: usize, t: u32) {
        let h = self.sims[k].host;
        let rh = &mut self.hosts[h];
        rh.wls.retain(|&x| x != k);
        for o in rh.gpu_owner.iter_mut() {
            if *o == Some(k) {
                *o = None;
            }
        }
        self.active.retain(|&x| x != k);
        let req = self.sims[k].wl.requests;
        let u = &mut pods.used[h];
        u.cpu_cores -= req.cpu_cores;
        u.memory_bytes -= req.memory_bytes;
        u.gpus -= req.gpus;
        let spec = pods.life[k].spec;
        self.emit(pods, spec, Some(k), Stage::Succeeded, t);
        self.emit(pods, spec, Some(k), Stage::Deleted, t);
    }

    /// Queues the watch event of `stage` for spec `spec` (bound as workload `k`, if it is) at
    /// second `t`, observed a little later: the API server's and the watcher's latency, and
    /// for a deletion the time the controller keeps a finished pod.
    fn emit(&self, pods: &mut Pods, spec: usize, k: Option<usize>, stage: Stage, t: u32) {
        let t0 = self.cfg.start.as_nanos().div_euclid(1_000_000_000);
        let at = |s: u32| rfc3339(t0 + i64::from(s));
        let life = k.map(|k| &pods.life[k]);
        let node = k.map(|k| self.inv.hosts[self.sims[k].host].id.to_string());
        let started = life.and_then(|l| l.start_s).map(at);
        let start_time = life.filter(|l| l.start_s.is_some()).map(|l| at(l.bind_s));
        let (kind, phase, state) = match stage {
            Stage::Created => ("ADDED", "Pending", None),
            Stage::Bound => ("MODIFIED", "Pending", None),
            Stage::Dropped => ("DELETED", "Pending", None),
            Stage::Running => (
                "MODIFIED",
                "Running",
                Some(StateJson {
                    running: Some(RunningJson {
                        started_at: started,
                    }),
                    terminated: None,
                }),
            ),
            Stage::Succeeded | Stage::Deleted => (
                if matches!(stage, Stage::Deleted) {
                    "DELETED"
                } else {
                    "MODIFIED"
                },
                "Succeeded",
                Some(StateJson {
                    running: None,
                    terminated: Some(TerminatedJson {
                        started_at: started,
                        finished_at: Some(at(t)),
                        exit_code: 0,
                        reason: Some("Completed".into()),
                    }),
                }),
            ),
        };
        let lag: i64 = match stage {
            Stage::Created | Stage::Bound | Stage::Dropped => pods.rng.random_range(5..200),
            Stage::Running | Stage::Succeeded => pods.rng.random_range(200..1500),
            // After the Succeeded update: kept a while before it is deleted.
            Stage::Deleted => 1500 + pods.rng.random_range(1000..30_000),
        };
        let p = &pods.specs[spec];
        let mut requests = BTreeMap::new();
        requests.insert("cpu".to_string(), cpu_quantity(p.cpu_milli));
        requests.insert("memory".to_string(), memory_quantity(p.mem_mib));
        if p.gpus > 0 {
            requests.insert("nvidia.com/gpu".to_string(), p.gpus.to_string());
        }
        let observed_ms = (t0 + i64::from(t)) * 1000 + lag;
        let line = WatchLine {
            observed_ms,
            kind: kind.into(),
            object: PodJson {
                api_version: Some("v1".into()),
                kind: "Pod".into(),
                metadata: MetaJson {
                    name: p.name.clone(),
                    namespace: p.namespace.clone(),
                    uid: p.uid.clone(),
                },
                spec: SpecJson {
                    node_name: node,
                    containers: vec![ContainerJson {
                        name: "main".into(),
                        resources: ResourcesJson { requests },
                    }],
                },
                status: StatusJson {
                    phase: phase.into(),
                    start_time,
                    container_statuses: state
                        .map(|state| ContainerStatusJson {
                            name: "main".into(),
                            state,
                        })
                        .into_iter()
                        .collect(),
                },
            },
        };
        // Plain data structs always serialize.
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        pods.seq += 1;
        pods.events.push(Reverse((observed_ms, pods.seq, text)));
    }

    /// Writes the events observed by the run's end and drops the rest (observed after the
    /// recording stopped).
    pub(super) fn finish_pods(&mut self, sink: &mut Sink) -> Result<(), SimError> {
        let Some(mut pods) = self.pods.take() else {
            return Ok(());
        };
        let start_ms = self.cfg.start.as_nanos() / 1_000_000;
        let end_ms = start_ms + i64::from(self.cfg.duration_s) * 1000;
        let r = flush(&mut pods, end_ms + 1, sink);
        pods.events.clear();
        self.pods = Some(pods);
        r
    }
}

/// Writes the queued events observed before `before_ms`, in time order.
fn flush(pods: &mut Pods, before_ms: i64, sink: &mut Sink) -> Result<(), SimError> {
    let mut out = String::new();
    while let Some(Reverse((ms, _, _))) = pods.events.peek()
        && *ms < before_ms
    {
        if let Some(Reverse((_, _, line))) = pods.events.pop() {
            out.push_str(&line);
            pods.events_written += 1;
        }
    }
    if out.is_empty() {
        return Ok(());
    }
    sink.append(POD_EVENTS_JSONL, &out)
}
