//! Workloads that come and go: each run of a workload on a host is a [`WorkloadSpan`] with
//! its validity interval, opened by an explicit call ([`Engine::start_workload`]) or by the
//! first sighting of its telemetry labels, closed by a call or by the end of its telemetry.
//!
//! [`Engine::start_workload`]: crate::Engine::start_workload

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kelvin_ingest::Sighting;
use kelvin_model::EntityId;

use super::gpu::GpuRun;
use serde::{Deserialize, Serialize};

/// How a span became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanOrigin {
    /// An explicit call (a scheduler's or the Kubernetes API's lifecycle event).
    Call,
    /// Telemetry labels (a cAdvisor or dcgm-exporter series of an unknown pod).
    Labels,
}

/// One run of a workload on one host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSpan {
    /// The workload.
    pub workload: EntityId,
    /// Where it ran.
    pub host: EntityId,
    /// Its tenant.
    pub tenant: String,
    /// CPU cores it requested (0 when unknown: it pays no share of the idle floor).
    pub requested_cores: f64,
    /// GPUs it requested.
    pub gpus: u32,
    /// When it started, ns.
    pub start_ns: i64,
    /// When it stopped, ns; `None` while it runs.
    pub stop_ns: Option<i64>,
    /// The newest telemetry sample seen of it, ns (spans known from labels end there unless
    /// a call stops them).
    pub last_seen_ns: Option<i64>,
    /// How it became known.
    pub origin: SpanOrigin,
    /// The labels it came with (bounded by the ingest's sighting).
    pub labels: Vec<(String, String)>,
}

impl WorkloadSpan {
    /// The end of its validity: its stop, or for a span known only from labels and not
    /// stopped, its newest sample; `i64::MAX` while a called span runs.
    pub fn end_ns(&self) -> i64 {
        match (self.stop_ns, self.origin) {
            (Some(s), _) => s,
            (None, SpanOrigin::Labels) => self.last_seen_ns.unwrap_or(self.start_ns),
            (None, SpanOrigin::Call) => i64::MAX,
        }
    }

    /// Seconds of `[a, b)` it was valid.
    pub fn overlap_s(&self, a: i64, b: i64) -> f64 {
        let lo = self.start_ns.max(a);
        let hi = self.end_ns().min(b);
        if hi > lo {
            (hi - lo) as f64 / 1e9
        } else if self.start_ns >= a && self.start_ns < b && hi == lo {
            // Seen once, at one instant: it ran at least then.
            0.0
        } else {
            -1.0
        }
    }
}

/// Every dynamic span, by a stable sequence number (persisted in the journal).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) spans: BTreeMap<u64, WorkloadSpan>,
    pub(crate) next: u64,
    /// Open spans (not stopped) by workload.
    open: HashMap<EntityId, u64>,
    /// Spans by host.
    by_host: HashMap<EntityId, BTreeSet<u64>>,
    /// Spans changed since the last commit.
    pub(crate) changed: Vec<u64>,
    /// Who held which GPU, by sequence number.
    pub(crate) gpu_runs: BTreeMap<u64, GpuRun>,
    /// The newest run of each (host, GPU).
    pub(crate) gpu_open: HashMap<(EntityId, String), u64>,
    /// GPU runs changed since the last commit.
    pub(crate) gpu_changed: Vec<u64>,
}

impl Registry {
    /// Puts a span back as the journal recorded it.
    pub(crate) fn restore(&mut self, seq: u64, span: WorkloadSpan) {
        if span.stop_ns.is_none() {
            self.open.insert(span.workload.clone(), seq);
        } else if self.open.get(&span.workload) == Some(&seq) {
            self.open.remove(&span.workload);
        }
        if let Some(old) = self.spans.get(&seq)
            && old.host != span.host
            && let Some(set) = self.by_host.get_mut(&old.host)
        {
            set.remove(&seq);
        }
        self.by_host
            .entry(span.host.clone())
            .or_default()
            .insert(seq);
        self.spans.insert(seq, span);
        self.next = self.next.max(seq + 1);
    }

    /// Opens a span (closing the workload's open one on another host at the same instant: a
    /// migration). A workload already open on the same host is left as it is.
    pub(crate) fn start(&mut self, span: WorkloadSpan) {
        if let Some(&seq) = self.open.get(&span.workload) {
            if let Some(open) = self.spans.get_mut(&seq)
                && open.host == span.host
            {
                // Its labels were seen before the call arrived: the call knows its start and
                // its request, the labels its newest sample.
                if span.origin == SpanOrigin::Call && open.origin == SpanOrigin::Labels {
                    let last_seen = open.last_seen_ns;
                    let labels = std::mem::take(&mut open.labels);
                    *open = WorkloadSpan {
                        last_seen_ns: last_seen,
                        labels,
                        ..span
                    };
                    self.changed.push(seq);
                }
                return;
            }
            self.stop(&span.workload, span.start_ns);
        }
        let seq = self.next;
        self.next += 1;
        self.open.insert(span.workload.clone(), seq);
        self.by_host
            .entry(span.host.clone())
            .or_default()
            .insert(seq);
        self.spans.insert(seq, span);
        self.changed.push(seq);
    }

    /// The workload's open span.
    pub(crate) fn open_span(&self, workload: &EntityId) -> Option<&WorkloadSpan> {
        self.open.get(workload).and_then(|s| self.spans.get(s))
    }

    /// Stops the workload's open span at `at`; false when it has none.
    pub(crate) fn stop(&mut self, workload: &EntityId, at: i64) -> bool {
        let Some(seq) = self.open.remove(workload) else {
            return false;
        };
        if let Some(s) = self.spans.get_mut(&seq) {
            s.stop_ns = Some(at.max(s.start_ns));
            self.changed.push(seq);
        }
        true
    }

    /// A sighting of telemetry labels: opens a span for a workload not yet known (or known on
    /// another host), else moves its newest sample forward.
    pub(crate) fn sighted(&mut self, s: &Sighting) {
        if let Some(&seq) = self.open.get(&s.workload)
            && let Some(span) = self.spans.get_mut(&seq)
            && span.host == s.host
        {
            let last = s.last.as_nanos();
            if span.last_seen_ns.is_none_or(|l| l < last) {
                span.last_seen_ns = Some(last);
                self.changed.push(seq);
            }
            return;
        }
        self.start(WorkloadSpan {
            workload: s.workload.clone(),
            host: s.host.clone(),
            tenant: s.tenant.clone(),
            requested_cores: 0.0,
            gpus: 0,
            start_ns: s.first.as_nanos(),
            stop_ns: None,
            last_seen_ns: Some(s.last.as_nanos()),
            origin: SpanOrigin::Labels,
            labels: s.labels.clone(),
        });
    }

    /// Spans of `host` valid somewhere in `[a, b)`.
    pub(crate) fn on_host<'a>(
        &'a self,
        host: &'a EntityId,
        a: i64,
        b: i64,
    ) -> impl Iterator<Item = &'a WorkloadSpan> + 'a {
        self.by_host
            .get(host)
            .into_iter()
            .flatten()
            .filter_map(|seq| self.spans.get(seq))
            .filter(move |s| s.start_ns < b && s.end_ns() >= a)
    }

    /// Forgets spans that ended before `horizon` (they can no longer be restated), keeping
    /// memory proportional to the workloads of the restatement window.
    pub(crate) fn prune(&mut self, horizon: i64) {
        self.gpu_runs.retain(|_, r| r.last_ns >= horizon);
        let by_host = &mut self.by_host;
        self.spans.retain(|seq, s| {
            let keep = s.end_ns() >= horizon;
            if !keep && let Some(set) = by_host.get_mut(&s.host) {
                set.remove(seq);
            }
            keep
        });
    }
}
