//! Workloads named by telemetry labels.
//!
//! A Kubernetes pod, a Slurm job or a process that is not in the inventory still shows up in
//! the labels of the samples that measure it: cAdvisor's
//! `container_cpu_usage_seconds_total{namespace="tenant-a",pod="train-0042",instance="h7:10250",…}`,
//! dcgm-exporter's `DCGM_FI_PROF_SM_ACTIVE{gpu="0",Hostname="h7",pod="train-0042",…}`.
//! [`WorkloadLabels`] says which labels name the workload, its tenant and its host;
//! [`Sighting`] is what a batch learns of each workload.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use kelvin_model::{EntityId, Reading, SensorName, Timestamp};
use serde::{Deserialize, Serialize};

use crate::batch::cut;
use crate::rules::instance_host;

/// Which labels of a sample name a workload, its tenant and its host. Plain data (serde), so
/// an embedder can keep it in a configuration file; unknown fields are refused.
///
/// A Kubernetes pod, a Slurm job or a process that is not in the inventory still shows up in
/// the labels of the samples that measure it: cAdvisor's
/// `container_cpu_usage_seconds_total{namespace="tenant-a",pod="train-0042",instance="h7:10250",…}`,
/// dcgm-exporter's `DCGM_FI_PROF_SM_ACTIVE{gpu="0",Hostname="h7",pod="train-0042",…}`.
/// With these labels ([`crate::ParseOptions::with_workload_labels`],
/// [`crate::Admission::workloads`]), the Prometheus decoder
///
/// - accepts a sample whose rule entity is not in the inventory but whose labels name a
///   workload on a host that is, under the workload's id (a workload label value that is not a
///   valid id is quarantined as [`crate::Reason::InvalidEntity`]; a host that is not in the
///   inventory, or no host label, leaves the sample quarantined as
///   [`crate::Reason::UnknownEntity`], with a detail that names the host label);
/// - keeps the rule's entity when it is known (a DCGM metric of the host), and
/// - records, for every accepted sample that names a workload on a known host, a [`Sighting`]
///   in [`crate::IngestBatch::sightings`]: one per workload per batch, with the labels and the
///   series (entity and sensor) it was seen in, so an engine learns which pod ran where and on
///   which GPU.
///
/// Defaults, for Kubernetes (cAdvisor, kubelet, dcgm-exporter with pod labels, Kepler):
///
/// | field | default |
/// |---|---|
/// | [`workload`](WorkloadLabels::workload) | `[["pod"]]` |
/// | [`tenant`](WorkloadLabels::tenant) | `["namespace"]` |
/// | [`default_tenant`](WorkloadLabels::default_tenant) | `"default"` |
/// | [`host`](WorkloadLabels::host) | `["node", "instance", "Hostname"]` |
/// | [`tenant_in_id`](WorkloadLabels::tenant_in_id) | `false` |
///
/// Slurm exporters name the job `job_id` or `jobid`, process exporters a `pid` and a `comm`;
/// an embedder lists the ways its exporters name workloads, tried in order:
///
/// ```
/// use kelvin_ingest::WorkloadLabels;
///
/// let labels = WorkloadLabels::default()
///     .with_workload(&[&["pod"], &["job_id"], &["jobid"], &["pid", "comm"]])
///     .with_tenant(&["namespace", "account"]);
/// let json = serde_json::to_string(&labels)?;
/// let back: WorkloadLabels = serde_json::from_str(&json)?;
/// assert_eq!(back, labels);
/// // Missing fields take their defaults.
/// let partial: WorkloadLabels = serde_json::from_str(r#"{"default_tenant": "batch"}"#)?;
/// assert_eq!(partial.workload, [["pod"]]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkloadLabels {
    /// The ways a sample names its workload, tried in order: the first whose labels are all
    /// present (and not empty) names it, its id being their values joined by `/` (`pid` and
    /// `comm` give `4242/python`). An empty way never matches.
    pub workload: Vec<Vec<String>>,
    /// Labels naming the workload's tenant, tried in order.
    pub tenant: Vec<String>,
    /// The tenant of a workload whose sample has none of [`WorkloadLabels::tenant`].
    pub default_tenant: String,
    /// Labels naming the host the workload runs on, tried in order; a label named `instance`
    /// loses its `:port`. The first that names a host of the inventory is the host; when none
    /// does, the first present names the unknown host in the quarantine detail.
    pub host: Vec<String>,
    /// Whether the workload's id is its tenant and name (`tenant-a/train-0042`), for clusters
    /// whose namespaces reuse pod names; by default the id is the label value alone, as
    /// inventories and ground truths name pods.
    pub tenant_in_id: bool,
}

impl Default for WorkloadLabels {
    fn default() -> Self {
        WorkloadLabels {
            workload: vec![vec!["pod".to_string()]],
            tenant: vec!["namespace".to_string()],
            default_tenant: Self::DEFAULT_TENANT.to_string(),
            host: ["node", "instance", "Hostname"].map(String::from).to_vec(),
            tenant_in_id: false,
        }
    }
}

fn strings(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|s| s.to_string()).collect()
}

impl WorkloadLabels {
    /// The default tenant, `default` (Kubernetes' default namespace).
    pub const DEFAULT_TENANT: &'static str = "default";

    /// Sets [`WorkloadLabels::workload`]: the ways, in order, each a list of labels.
    pub fn with_workload(mut self, ways: &[&[&str]]) -> Self {
        self.workload = ways.iter().map(|w| strings(w)).collect();
        self
    }

    /// Sets [`WorkloadLabels::tenant`].
    pub fn with_tenant(mut self, labels: &[&str]) -> Self {
        self.tenant = strings(labels);
        self
    }

    /// Sets [`WorkloadLabels::default_tenant`].
    pub fn with_default_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.default_tenant = tenant.into();
        self
    }

    /// Sets [`WorkloadLabels::host`].
    pub fn with_host(mut self, labels: &[&str]) -> Self {
        self.host = strings(labels);
        self
    }

    /// Sets [`WorkloadLabels::tenant_in_id`].
    pub fn with_tenant_in_id(mut self, yes: bool) -> Self {
        self.tenant_in_id = yes;
        self
    }

    /// What `labels` say about a workload; `known`: the inventory's entities (`None`: every
    /// host is known).
    pub(crate) fn name(
        &self,
        labels: &[(String, String)],
        known: Option<&HashSet<EntityId>>,
    ) -> Named {
        let get = |name: &str| label(labels, name);
        let Some((way, values)) = self.workload.iter().find_map(|way| {
            let values: Option<Vec<&str>> = way.iter().map(|l| get(l)).collect();
            values.filter(|v| !v.is_empty()).map(|v| (way, v))
        }) else {
            return Named::Nothing;
        };
        let tenant = self
            .tenant
            .iter()
            .find_map(|l| get(l))
            .unwrap_or(&self.default_tenant);
        let tenant = cut(tenant, Sighting::MAX_LABEL_BYTES).to_string();
        let mut id = values.join("/");
        if self.tenant_in_id {
            id = format!("{tenant}/{id}");
        }
        let workload = match EntityId::new(id) {
            Ok(w) => w,
            Err(e) => {
                return Named::Invalid(format!(
                    "label {} names workload {:?}, not a valid id: {}",
                    way.join("+"),
                    cut(&values.join("/"), 64),
                    e.reason()
                ));
            }
        };
        let host = self.host_of(labels, known);
        Named::Workload {
            workload,
            tenant,
            host,
        }
    }

    /// The host the labels name: the first host label naming a known host, else the first
    /// present.
    fn host_of(&self, labels: &[(String, String)], known: Option<&HashSet<EntityId>>) -> HostLabel {
        let mut first: Option<HostLabel> = None;
        for name in &self.host {
            let Some(value) = label(labels, name) else {
                continue;
            };
            let host = if name == "instance" {
                instance_host(value)
            } else {
                value
            };
            match EntityId::new(host) {
                Ok(id) if known.is_none_or(|k| k.contains(&id)) => return HostLabel::Known(id),
                _ => {
                    first.get_or_insert_with(|| HostLabel::Unknown {
                        label: name.clone(),
                        value: cut(host, 64).to_string(),
                    });
                }
            }
        }
        first.unwrap_or(HostLabel::Missing)
    }

    /// The labels the host may come from, for a detail (`node, instance, Hostname`).
    pub(crate) fn host_labels(&self) -> String {
        self.host.join(", ")
    }
}

/// The value of label `name`, unless absent or empty.
fn label<'a>(labels: &'a [(String, String)], name: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// What a sample's labels say about a workload.
#[derive(Debug, Clone)]
pub(crate) enum Named {
    /// No way of naming a workload matched.
    Nothing,
    /// The workload labels' values are not a valid id: the detail.
    Invalid(String),
    /// A workload, its tenant and the host the labels name.
    Workload {
        workload: EntityId,
        tenant: String,
        host: HostLabel,
    },
}

/// The host a sample's labels name.
#[derive(Debug, Clone)]
pub(crate) enum HostLabel {
    /// A host of the inventory.
    Known(EntityId),
    /// A host label whose value is not a host of the inventory (or not a valid id).
    Unknown { label: String, value: String },
    /// No host label.
    Missing,
}

/// Seeds are numbered across the process, so a sighting knows which it has merged.
static SEEDS: AtomicU64 = AtomicU64::new(0);

/// A series' workload, resolved once per series: what each of its samples adds to a sighting.
#[derive(Debug, Clone)]
pub(crate) struct Seed {
    id: u64,
    pub(crate) workload: EntityId,
    host: EntityId,
    tenant: String,
    labels: Vec<(String, String)>,
    series: (EntityId, SensorName),
}

impl Seed {
    /// The seed of a series: its workload on a known host, its labels (bounded) and the
    /// series (entity, sensor) its readings go to.
    pub(crate) fn new(
        workload: EntityId,
        host: EntityId,
        tenant: String,
        labels: &[(String, String)],
        series: (EntityId, SensorName),
    ) -> Seed {
        let labels = labels
            .iter()
            .take(Sighting::MAX_LABELS)
            .map(|(k, v)| {
                (
                    cut(k, Sighting::MAX_LABEL_BYTES).to_string(),
                    cut(v, Sighting::MAX_LABEL_BYTES).to_string(),
                )
            })
            .collect();
        Seed {
            id: SEEDS.fetch_add(1, Ordering::Relaxed),
            workload,
            host,
            tenant,
            labels,
            series,
        }
    }

    /// The estimated heap of the sighting this seed starts.
    pub(crate) fn sighting_bytes(&self) -> usize {
        2 * std::mem::size_of::<Sighting>()
            + self.tenant.len()
            + self.labels.iter().map(pair_bytes).sum::<usize>()
            + SERIES_BYTES
            + std::mem::size_of::<u64>()
    }

    /// The estimated heap of the seed itself (held in a decoder's series cache).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Seed>()
            + self.tenant.len()
            + self.labels.iter().map(pair_bytes).sum::<usize>()
    }
}

fn pair_bytes((k, v): &(String, String)) -> usize {
    2 * std::mem::size_of::<String>() + k.len() + v.len()
}

/// The heap of one series entry (its ids are shared with the readings).
const SERIES_BYTES: usize = std::mem::size_of::<(EntityId, SensorName)>();

/// The first and last of a set of times.
type Span = Option<(Timestamp, Timestamp)>;

fn widen(span: &mut Span, t: Timestamp) {
    if !t.is_known() {
        return;
    }
    *span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
}

fn union(a: Span, b: Span) -> Span {
    match (a, b) {
        (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
        (x, None) | (None, x) => x,
    }
}

/// A workload seen in the labels of accepted samples of one batch: where it ran, for whom,
/// with which labels and in which series, from when to when.
///
/// ```
/// use std::{collections::HashSet, sync::Arc};
/// use kelvin_ingest::{ParseOptions, RuleSet, WorkloadLabels, prometheus};
/// use kelvin_model::EntityId;
///
/// let known = Arc::new(HashSet::from([EntityId::new("h7")?]));
/// let opts = ParseOptions::default()
///     .with_known_entities(known)
///     .with_workload_labels(WorkloadLabels::default());
/// let text = "container_cpu_usage_seconds_total{container=\"main\",instance=\"h7:10250\",\
///             job=\"cadvisor\",namespace=\"tenant-a\",pod=\"train-0042\"} 12.5 1793606400000\n";
/// let b = prometheus::parse_str(text, "cadvisor", &RuleSet::builtin(), &opts);
/// assert_eq!(b.readings[0].entity.as_str(), "train-0042");
/// let s = &b.sightings[&EntityId::new("train-0042")?];
/// assert_eq!((s.host.as_str(), s.tenant.as_str()), ("h7", "tenant-a"));
/// assert!(s.labels.contains(&("container".into(), "main".into())));
/// # Ok::<(), kelvin_model::ModelError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sighting {
    /// The workload's id.
    pub workload: EntityId,
    /// The host it ran on (a host of the inventory): the first host its samples named.
    pub host: EntityId,
    /// Its tenant (from [`WorkloadLabels::tenant`], else the default tenant).
    pub tenant: String,
    /// The distinct label pairs of its samples, in the order first seen: at most
    /// [`Sighting::MAX_LABELS`], names and values cut at [`Sighting::MAX_LABEL_BYTES`] (and
    /// fewer when the batch's output budget runs out). A DCGM sample's `gpu`, `UUID` and
    /// `device` labels say which GPU the workload used.
    pub labels: Vec<(String, String)>,
    /// The series (entity, sensor) its samples were stored in, in the order first seen: at
    /// most [`Sighting::MAX_SERIES`].
    pub series: Vec<(EntityId, SensorName)>,
    /// Its first sample's time ([`Timestamp::UNKNOWN`] when no sample had one).
    pub first: Timestamp,
    /// Its last sample's time.
    pub last: Timestamp,
    /// How many accepted samples named it.
    pub samples: u64,
    /// The span of the samples timed by the source's own clock (shifted by
    /// [`crate::IngestBatch::shift_times`]).
    #[serde(skip)]
    own: Span,
    /// The span of the samples timed by the caller (the poll).
    #[serde(skip)]
    polled: Span,
    /// The seeds whose labels and series are in (at most [`Sighting::MAX_SERIES`]).
    #[serde(skip)]
    merged: Vec<u64>,
}

impl PartialEq for Sighting {
    /// Equal when everything the sighting says is equal (not the decoder's bookkeeping of
    /// which series it has merged).
    fn eq(&self, other: &Self) -> bool {
        self.workload == other.workload
            && self.host == other.host
            && self.tenant == other.tenant
            && self.labels == other.labels
            && self.series == other.series
            && self.first == other.first
            && self.last == other.last
            && self.samples == other.samples
            && self.own == other.own
            && self.polled == other.polled
    }
}

impl Sighting {
    /// Most label pairs kept.
    pub const MAX_LABELS: usize = 32;
    /// Longest label name or value kept, in bytes.
    pub const MAX_LABEL_BYTES: usize = 128;
    /// Most series kept.
    pub const MAX_SERIES: usize = 16;

    /// A sighting of `workload` on `host` at `at` (a time the caller gives, which
    /// [`crate::IngestBatch::shift_times`] does not move), with no labels or series.
    pub fn new(
        workload: EntityId,
        host: EntityId,
        tenant: impl Into<String>,
        at: Timestamp,
    ) -> Self {
        let mut polled = None;
        widen(&mut polled, at);
        Sighting {
            workload,
            host,
            tenant: tenant.into(),
            labels: Vec::new(),
            series: Vec::new(),
            first: at,
            last: at,
            samples: 0,
            own: None,
            polled,
            merged: Vec::new(),
        }
    }

    /// The first sighting of `seed`'s workload, in the accepted reading `r`.
    pub(crate) fn from_seed(seed: &Seed, r: &Reading, defaulted: bool) -> Sighting {
        let mut s = Sighting::new(
            seed.workload.clone(),
            seed.host.clone(),
            seed.tenant.clone(),
            Timestamp::UNKNOWN,
        );
        s.labels = seed.labels.clone();
        s.series.push(seed.series.clone());
        s.merged.push(seed.id);
        s.time(r.ts, defaulted);
        s
    }

    /// One more sample of this workload: its time, and the seed's labels and series when
    /// they are new, each kept when `fits` its bytes.
    pub(crate) fn see(
        &mut self,
        seed: &Seed,
        r: &Reading,
        defaulted: bool,
        mut fits: impl FnMut(usize) -> bool,
    ) {
        self.time(r.ts, defaulted);
        if self.merged.contains(&seed.id) {
            return;
        }
        if self.merged.len() < Self::MAX_SERIES {
            self.merged.push(seed.id);
        }
        for pair in &seed.labels {
            if self.labels.len() < Self::MAX_LABELS
                && !self.labels.contains(pair)
                && fits(pair_bytes(pair))
            {
                self.labels.push(pair.clone());
            }
        }
        if self.series.len() < Self::MAX_SERIES
            && !self.series.contains(&seed.series)
            && fits(SERIES_BYTES)
        {
            self.series.push(seed.series.clone());
        }
    }

    /// Merges another batch's sighting of the same workload (the host stays this one's).
    pub(crate) fn merge(&mut self, other: Sighting, mut fits: impl FnMut(usize) -> bool) {
        self.samples = self.samples.saturating_add(other.samples);
        self.own = union(self.own, other.own);
        self.polled = union(self.polled, other.polled);
        if other.own.is_none() && other.polled.is_none() {
            // Deserialized or built without spans: its first and last are all there is.
            widen(&mut self.polled, other.first);
            widen(&mut self.polled, other.last);
        }
        self.refresh();
        for pair in other.labels {
            if self.labels.len() < Self::MAX_LABELS
                && !self.labels.contains(&pair)
                && fits(pair_bytes(&pair))
            {
                self.labels.push(pair);
            }
        }
        for series in other.series {
            if self.series.len() < Self::MAX_SERIES
                && !self.series.contains(&series)
                && fits(SERIES_BYTES)
            {
                self.series.push(series);
            }
        }
    }

    /// The estimated heap of this sighting.
    pub(crate) fn heap_bytes(&self) -> usize {
        2 * std::mem::size_of::<Sighting>()
            + self.tenant.capacity()
            + self.labels.iter().map(pair_bytes).sum::<usize>()
            + self.series.len() * SERIES_BYTES
            + self.merged.capacity() * std::mem::size_of::<u64>()
    }

    /// Counts a sample at `ts`, timed by the source (`defaulted` false) or by the caller.
    fn time(&mut self, ts: Timestamp, defaulted: bool) {
        self.samples = self.samples.saturating_add(1);
        widen(
            if defaulted {
                &mut self.polled
            } else {
                &mut self.own
            },
            ts,
        );
        self.refresh();
    }

    /// Moves the times of the samples timed by the source's own clock by `delta_ns`
    /// (saturating, never onto [`Timestamp::UNKNOWN`]).
    pub(crate) fn shift(&mut self, delta_ns: i64) {
        if let Some((a, b)) = self.own {
            self.own = Some((shift(a, delta_ns), shift(b, delta_ns)));
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        let (first, last) =
            union(self.own, self.polled).unwrap_or((Timestamp::UNKNOWN, Timestamp::UNKNOWN));
        self.first = first;
        self.last = last;
    }
}

/// `t + delta_ns`, saturating at the ends of the range and never [`Timestamp::UNKNOWN`].
pub(crate) fn shift(t: Timestamp, delta_ns: i64) -> Timestamp {
    if !t.is_known() {
        return t;
    }
    Timestamp::from_nanos(t.as_nanos().saturating_add(delta_ns).max(i64::MIN + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn id(s: &str) -> EntityId {
        EntityId::new(s).unwrap()
    }

    #[test]
    fn workloads_tenants_and_hosts_come_from_the_listed_labels() {
        let known = HashSet::from([id("h7"), id("h8")]);
        let w = WorkloadLabels::default();
        let l = labels(&[
            ("instance", "h7:10250"),
            ("namespace", "tenant-a"),
            ("pod", "train-0042"),
        ]);
        let Named::Workload {
            workload,
            tenant,
            host: HostLabel::Known(host),
        } = w.name(&l, Some(&known))
        else {
            panic!("a pod on a known host")
        };
        assert_eq!(
            (workload.as_str(), tenant.as_str(), host.as_str()),
            ("train-0042", "tenant-a", "h7")
        );
        // `node` comes first; a host label naming an unknown host gives way to a later one.
        let l = labels(&[("node", "h8"), ("instance", "h7:1"), ("pod", "p")]);
        assert!(
            matches!(w.name(&l, Some(&known)), Named::Workload { host: HostLabel::Known(h), .. } if h.as_str() == "h8")
        );
        let l = labels(&[
            ("instance", "10.0.0.7:9400"),
            ("Hostname", "h7"),
            ("pod", "p"),
        ]);
        assert!(
            matches!(w.name(&l, Some(&known)), Named::Workload { host: HostLabel::Known(h), .. } if h.as_str() == "h7")
        );
        // None known: the first present is named; no host label at all is said so.
        let l = labels(&[("instance", "h9:9400"), ("pod", "p")]);
        assert!(matches!(w.name(&l, Some(&known)),
            Named::Workload { host: HostLabel::Unknown { label, value }, tenant, .. }
                if label == "instance" && value == "h9" && tenant == "default"));
        let l = labels(&[("pod", "p")]);
        assert!(matches!(
            w.name(&l, Some(&known)),
            Named::Workload {
                host: HostLabel::Missing,
                ..
            }
        ));
        // No workload label; an empty one is none either.
        assert!(matches!(
            w.name(&labels(&[("instance", "h7")]), Some(&known)),
            Named::Nothing
        ));
        assert!(matches!(
            w.name(&labels(&[("pod", "")]), Some(&known)),
            Named::Nothing
        ));
        // A value that is not an id.
        let Named::Invalid(detail) = w.name(&labels(&[("pod", "a b")]), Some(&known)) else {
            panic!("not an id")
        };
        assert!(
            detail.starts_with("label pod names workload \"a b\", not a valid id"),
            "{detail}"
        );
    }

    #[test]
    fn other_ways_of_naming_workloads() {
        let w = WorkloadLabels::default()
            .with_workload(&[&["job_id"], &["jobid"], &["pid", "comm"], &[]])
            .with_tenant(&["account"])
            .with_default_tenant("batch")
            .with_host(&["hostname"])
            .with_tenant_in_id(true);
        let name = |pairs: &[(&str, &str)]| match w.name(&labels(pairs), None) {
            Named::Workload { workload, host, .. } => {
                Some((workload.to_string(), matches!(host, HostLabel::Known(_))))
            }
            _ => None,
        };
        assert_eq!(
            name(&[("jobid", "77"), ("account", "physics"), ("hostname", "n1")]),
            Some(("physics/77".into(), true))
        );
        assert_eq!(
            name(&[("pid", "4242"), ("comm", "python")]),
            Some(("batch/4242/python".into(), false))
        );
        assert_eq!(name(&[("pid", "4242")]), None);
    }

    #[test]
    fn sightings_merge_bounded_and_shift_only_their_own_clock() {
        let seed = |gpu: &str| {
            Seed::new(
                id("p"),
                id("h7"),
                "t".into(),
                &labels(&[("gpu", gpu), ("pod", "p")]),
                (id("h7"), SensorName::from(format!("gpu{gpu}/sm_active"))),
            )
        };
        let (a, b) = (seed("0"), seed("1"));
        let at = |s: i64| {
            Reading::new(
                id("h7"),
                "x",
                kelvin_model::SensorKind::Utilization,
                0.5,
                Timestamp::from_secs(s),
            )
        };
        let mut s = Sighting::from_seed(&a, &at(100), false);
        s.see(&a, &at(160), false, |_| true);
        s.see(&b, &at(130), true, |_| true);
        assert_eq!(s.samples, 3);
        assert_eq!(
            s.labels,
            labels(&[("gpu", "0"), ("pod", "p"), ("gpu", "1")])
        );
        assert_eq!(s.series.len(), 2);
        assert_eq!(
            (s.first, s.last),
            (Timestamp::from_secs(100), Timestamp::from_secs(160))
        );
        s.shift(-100 * Timestamp::NANOS_PER_SEC);
        // own-clock samples moved to 0..60; the polled one stays at 130
        assert_eq!(
            (s.first, s.last),
            (Timestamp::from_secs(0), Timestamp::from_secs(130))
        );
        // the budget refuses growth: nothing added
        let c = seed("2");
        s.see(&c, &at(1), true, |_| false);
        assert_eq!(s.labels.len(), 3);
        // bounds
        let many: Vec<(String, String)> = (0..100)
            .map(|i| (format!("l{i}"), "v".repeat(1000)))
            .collect();
        let big = Seed::new(id("p"), id("h7"), "t".into(), &many, (id("h7"), "s".into()));
        let s = Sighting::from_seed(&big, &at(1), false);
        assert_eq!(s.labels.len(), Sighting::MAX_LABELS);
        assert!(
            s.labels
                .iter()
                .all(|(_, v)| v.len() == Sighting::MAX_LABEL_BYTES)
        );
        assert!(s.heap_bytes() <= big.sighting_bytes() + 64);
        assert_eq!(
            shift(Timestamp::from_nanos(i64::MIN + 5), -10).as_nanos(),
            i64::MIN + 1
        );
        assert_eq!(shift(Timestamp::UNKNOWN, 10), Timestamp::UNKNOWN);
    }
}
