//! `pod_events.jsonl`, both ways: the JSON shape of a line (a Kubernetes watch event on a pod,
//! wrapped with the time it was observed), which the churn preset writes, and the typed
//! [`PodEvent`] the reader makes of it, every field checked.
//!
//! A line is `{"observed_ms": …, "type": "ADDED"|"MODIFIED"|"DELETED", "object": {…}}`, the
//! object a `v1` Pod reduced to what an energy ledger needs: `metadata` (`name`, `namespace`,
//! `uid`), `spec` (`nodeName`, `containers[].resources.requests`) and `status` (`phase`,
//! `startTime`, `containerStatuses[].state.running|terminated`). Fields the reader does not know
//! are skipped, so a line cut from a real watch stream reads too.

use std::collections::BTreeMap;

use kelvin_model::{EntityId, Timestamp};
use serde::{Deserialize, Serialize};

use super::quantity::parse_quantity;
use super::{DatasetError, POD_EVENTS_JSONL};

/// One line of `pod_events.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WatchLine {
    /// When the watcher received the event, ms since the Unix epoch.
    pub(crate) observed_ms: i64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) object: PodJson,
}

/// A pod object, as much of it as the dataset keeps.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) api_version: Option<String>,
    pub(crate) kind: String,
    pub(crate) metadata: MetaJson,
    pub(crate) spec: SpecJson,
    pub(crate) status: StatusJson,
}

/// `metadata`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MetaJson {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) uid: String,
}

/// `spec`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpecJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) node_name: Option<String>,
    pub(crate) containers: Vec<ContainerJson>,
}

/// `spec.containers[]`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ContainerJson {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) resources: ResourcesJson,
}

/// `spec.containers[].resources`: requests by resource name, as Kubernetes quantities.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ResourcesJson {
    #[serde(default)]
    pub(crate) requests: BTreeMap<String, String>,
}

/// `status`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusJson {
    pub(crate) phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) container_statuses: Vec<ContainerStatusJson>,
}

/// `status.containerStatuses[]`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ContainerStatusJson {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) state: StateJson,
}

/// `status.containerStatuses[].state`: one of its members is set.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StateJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) running: Option<RunningJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) terminated: Option<TerminatedJson>,
}

/// `state.running`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunningJson {
    #[serde(default)]
    pub(crate) started_at: Option<String>,
}

/// `state.terminated`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TerminatedJson {
    #[serde(default)]
    pub(crate) started_at: Option<String>,
    #[serde(default)]
    pub(crate) finished_at: Option<String>,
    #[serde(default)]
    pub(crate) exit_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// What happened to a pod, as a Kubernetes watch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodEventKind {
    /// The pod was created (`ADDED`).
    Added,
    /// The pod changed: bound to a node, started, finished (`MODIFIED`).
    Modified,
    /// The pod was deleted (`DELETED`).
    Deleted,
}

impl PodEventKind {
    /// The watch event's `type`: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            PodEventKind::Added => "ADDED",
            PodEventKind::Modified => "MODIFIED",
            PodEventKind::Deleted => "DELETED",
        }
    }
}

/// One pod lifecycle event of `pod_events.jsonl`, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct PodEvent {
    /// When the watcher received it.
    pub observed: Timestamp,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: PodEventKind,
    /// The pod's name (`metadata.name`).
    pub pod: String,
    /// Its namespace (`metadata.namespace`).
    pub namespace: String,
    /// Its uid (`metadata.uid`).
    pub uid: String,
    /// The node it is bound to (`spec.nodeName`), once scheduled.
    pub node: Option<String>,
    /// `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// When its containers started: the earliest `startedAt` of a running or terminated
    /// container (not `status.startTime`, which is when the kubelet accepted the pod, before
    /// the image pull); `None` before any container ran.
    pub started: Option<Timestamp>,
    /// When its containers finished: the latest `finishedAt`, once every container has
    /// terminated; `None` before.
    pub finished: Option<Timestamp>,
    /// CPU requested, cores: the sum of the containers' `requests.cpu` (0 when none).
    pub cpu_request_cores: f64,
    /// Memory requested, bytes: the sum of the containers' `requests.memory`, rounded up to a
    /// whole byte (0 when none).
    pub memory_request_bytes: u64,
    /// Whole GPUs requested (`nvidia.com/gpu`), held exclusively while the pod runs.
    pub gpus: u32,
}

/// The phases a pod's `status.phase` can take.
const PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];

/// Parses the text of a `pod_events.jsonl`: one event per non-blank line, in time order.
///
/// # Errors
/// A [`DatasetError`] at `pod_events.jsonl:<line>` naming the field and the cause: JSON that
/// does not parse or lacks a field, an unknown event type or phase, an id with white space, a
/// time that is not RFC 3339 or out of range, a request that is not a Kubernetes quantity or
/// is negative, a fractional GPU count, a container that finished before it started, an event
/// observed before the line above it.
pub(crate) fn parse_pod_events(text: &str) -> Result<Vec<PodEvent>, DatasetError> {
    let mut out = Vec::new();
    let mut last: Option<Timestamp> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let place = format!("{POD_EVENTS_JSONL}:{}", i + 1);
        let ev = parse_line(line, &place)?;
        if let Some(prev) = last
            && ev.observed < prev
        {
            return Err(DatasetError::malformed(
                &place,
                format!(
                    "observed_ms {} is before the line above ({}): events must be in time order",
                    ev.observed.as_nanos() / 1_000_000,
                    prev.as_nanos() / 1_000_000
                ),
            ));
        }
        last = Some(ev.observed);
        out.push(ev);
    }
    Ok(out)
}

/// One line as a [`PodEvent`].
fn parse_line(line: &str, place: &str) -> Result<PodEvent, DatasetError> {
    let bad = |why: String| DatasetError::malformed(place, why);
    let w: WatchLine = serde_json::from_str(line).map_err(|e| {
        // Each line is a document of its own: its column is the place, not "line 1".
        bad(format!("{} (column {})", strip_position(&e), e.column()))
    })?;
    let kind = match w.kind.as_str() {
        "ADDED" => PodEventKind::Added,
        "MODIFIED" => PodEventKind::Modified,
        "DELETED" => PodEventKind::Deleted,
        other => {
            return Err(bad(format!(
                "type {other:?}: expected ADDED, MODIFIED or DELETED"
            )));
        }
    };
    let observed = w
        .observed_ms
        .checked_mul(1_000_000)
        .map(Timestamp::from_nanos)
        .ok_or_else(|| {
            bad(format!(
                "observed_ms {} is out of range (years 1678 to 2262)",
                w.observed_ms
            ))
        })?;
    let pod = w.object;
    if pod.kind != "Pod" {
        return Err(bad(format!("object.kind {:?}: expected \"Pod\"", pod.kind)));
    }
    let id = |field: &str, v: &str| {
        EntityId::new(v)
            .map(|_| v.to_string())
            .map_err(|e| bad(format!("{field}: {}", e.reason())))
    };
    let node = match pod.spec.node_name.as_deref() {
        None | Some("") => None,
        Some(n) => Some(id("spec.nodeName", n)?),
    };
    if !PHASES.contains(&pod.status.phase.as_str()) {
        return Err(bad(format!(
            "status.phase {:?}: expected one of {}",
            pod.status.phase,
            PHASES.join(", ")
        )));
    }
    let (started, finished) = container_times(&pod.status, place)?;
    let (cpu_request_cores, memory_request_bytes, gpus) = requests(&pod.spec, place)?;
    Ok(PodEvent {
        observed,
        kind,
        pod: id("metadata.name", &pod.metadata.name)?,
        namespace: id("metadata.namespace", &pod.metadata.namespace)?,
        uid: id("metadata.uid", &pod.metadata.uid)?,
        node,
        phase: pod.status.phase,
        started,
        finished,
        cpu_request_cores,
        memory_request_bytes,
        gpus,
    })
}

/// A serde_json message without its " at line L column C" tail.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// The earliest container start and, when every container has terminated, the latest end.
fn container_times(
    status: &StatusJson,
    place: &str,
) -> Result<(Option<Timestamp>, Option<Timestamp>), DatasetError> {
    let time = |field: String, v: &str| {
        Timestamp::parse_rfc3339(v)
            .map_err(|e| DatasetError::malformed(place, format!("{field}: {}", e.reason())))
    };
    let (mut started, mut finished) = (None::<Timestamp>, None::<Timestamp>);
    let mut all_done = !status.container_statuses.is_empty();
    for (i, c) in status.container_statuses.iter().enumerate() {
        let at = format!("status.containerStatuses[{i}].state");
        let (start, end) = match (&c.state.running, &c.state.terminated) {
            (Some(r), _) => {
                all_done = false;
                (
                    r.started_at.as_deref().map(|v| (".running.startedAt", v)),
                    None,
                )
            }
            (None, Some(t)) => (
                t.started_at
                    .as_deref()
                    .map(|v| (".terminated.startedAt", v)),
                t.finished_at.as_deref(),
            ),
            (None, None) => {
                all_done = false;
                (None, None)
            }
        };
        let start = match start {
            Some((field, v)) => Some(time(format!("{at}{field}"), v)?),
            None => None,
        };
        if let Some(s) = start {
            started = Some(started.map_or(s, |x| x.min(s)));
        }
        match end {
            Some(v) => {
                let f = time(format!("{at}.terminated.finishedAt"), v)?;
                if start.is_some_and(|s| f < s) {
                    return Err(DatasetError::malformed(
                        place,
                        format!("{at}.terminated: finishedAt is before startedAt"),
                    ));
                }
                finished = Some(finished.map_or(f, |x| x.max(f)));
            }
            None => all_done = false,
        }
    }
    Ok((started, if all_done { finished } else { None }))
}

/// The pod's requests summed over its containers: CPU cores, memory bytes, GPUs.
fn requests(spec: &SpecJson, place: &str) -> Result<(f64, u64, u32), DatasetError> {
    let (mut cpu, mut mem, mut gpus) = (0.0, 0.0, 0.0);
    for (i, c) in spec.containers.iter().enumerate() {
        for (name, total) in [
            ("cpu", &mut cpu),
            ("memory", &mut mem),
            ("nvidia.com/gpu", &mut gpus),
        ] {
            let Some(q) = c.resources.requests.get(name) else {
                continue;
            };
            let field = format!("spec.containers[{i}].resources.requests.{name}");
            let v = parse_quantity(q)
                .map_err(|e| DatasetError::malformed(place, format!("{field}: {e}")))?;
            if v < 0.0 {
                return Err(DatasetError::malformed(
                    place,
                    format!("{field}: {q:?} is negative"),
                ));
            }
            if name == "nvidia.com/gpu" && v.fract() != 0.0 {
                return Err(DatasetError::malformed(
                    place,
                    format!("{field}: {q:?} is not a whole number of GPUs"),
                ));
            }
            *total += v;
        }
    }
    let too_large = |what: &str| {
        DatasetError::malformed(place, format!("the pod's {what} request is too large"))
    };
    let mem = mem.ceil();
    if mem >= u64::MAX as f64 {
        return Err(too_large("memory"));
    }
    if gpus > f64::from(u32::MAX) {
        return Err(too_large("nvidia.com/gpu"));
    }
    if !cpu.is_finite() {
        return Err(too_large("cpu"));
    }
    // In range and whole, checked above.
    Ok((cpu, mem as u64, gpus as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"observed_ms":1793606461200,"type":"MODIFIED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-000001-abcde","namespace":"tenant-a","uid":"0b6f2c1e-0000-4000-8000-000000000001"},"spec":{"nodeName":"churn-r1-h1","containers":[{"name":"main","resources":{"requests":{"cpu":"500m","memory":"512Mi","nvidia.com/gpu":"1"}}}]},"status":{"phase":"Succeeded","startTime":"2026-11-02T08:00:58Z","containerStatuses":[{"name":"main","state":{"terminated":{"startedAt":"2026-11-02T08:01:00Z","finishedAt":"2026-11-02T08:01:00Z","exitCode":0}}}]}}}"#;

    fn with(from: &str, to: &str) -> String {
        assert!(LINE.contains(from), "{from}");
        LINE.replacen(from, to, 1)
    }

    fn error(text: &str) -> String {
        parse_pod_events(text).unwrap_err().to_string()
    }

    #[test]
    fn a_watch_line_reads_as_a_typed_event() {
        let evs = parse_pod_events(&format!("{LINE}\n\n{LINE}\n")).unwrap();
        assert_eq!(evs.len(), 2);
        let e = &evs[0];
        assert_eq!(e.observed, Timestamp::from_millis(1_793_606_461_200));
        assert_eq!(e.kind, PodEventKind::Modified);
        assert_eq!(
            (e.pod.as_str(), e.namespace.as_str(), e.node.as_deref()),
            ("web-000001-abcde", "tenant-a", Some("churn-r1-h1"))
        );
        assert_eq!(e.phase, "Succeeded");
        assert_eq!(e.started, Some(Timestamp::from_secs(1_793_606_460)));
        assert_eq!(e.finished, e.started);
        assert_eq!(
            (e.cpu_request_cores, e.memory_request_bytes, e.gpus),
            (0.5, 512 << 20, 1)
        );
        // Running: started, not finished; no statuses, no requests: neither, and zeros.
        let running = with(
            r#"{"terminated":{"startedAt":"2026-11-02T08:01:00Z","finishedAt":"2026-11-02T08:01:00Z","exitCode":0}}"#,
            r#"{"running":{"startedAt":"2026-11-02T08:01:00Z"}}"#,
        );
        let e = &parse_pod_events(&running).unwrap()[0];
        assert_eq!((e.started.is_some(), e.finished), (true, None));
        let bare = r#"{"observed_ms":0,"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"n","uid":"u"},"spec":{"containers":[{"name":"main"}]},"status":{"phase":"Pending"}}}"#;
        let e = &parse_pod_events(bare).unwrap()[0];
        assert_eq!(
            (e.node.as_deref(), e.started, e.finished),
            (None, None, None)
        );
        assert_eq!(
            (e.cpu_request_cores, e.memory_request_bytes, e.gpus),
            (0.0, 0, 0)
        );
    }

    #[test]
    fn bad_lines_name_the_line_the_field_and_the_cause() {
        let two = |bad: String| format!("{LINE}\n{bad}\n");
        assert_eq!(
            error(&two(with("\"500m\"", "\"5 cores\""))),
            "pod_events.jsonl:2: spec.containers[0].resources.requests.cpu: \"5 cores\" is not a \
             Kubernetes quantity: unknown suffix (expected Ki…Ei, n, u, m, k, M, G, T, P, E or an \
             exponent e<integer>)"
        );
        assert_eq!(
            error(&two(with("\"memory\":\"512Mi\"", "\"memory\":\"-1Gi\""))),
            "pod_events.jsonl:2: spec.containers[0].resources.requests.memory: \"-1Gi\" is negative"
        );
        assert!(
            error(&two(with(
                "\"nvidia.com/gpu\":\"1\"",
                "\"nvidia.com/gpu\":\"500m\""
            )))
            .ends_with("\"500m\" is not a whole number of GPUs")
        );
        assert!(error(&two(with("MODIFIED", "BOOKMARK"))).starts_with(
            "pod_events.jsonl:2: type \"BOOKMARK\": expected ADDED, MODIFIED or DELETED"
        ));
        assert!(error(&two(with("Succeeded", "Done"))).contains("status.phase \"Done\""));
        assert!(error(&two(with("\"kind\":\"Pod\"", "\"kind\":\"Node\""))).contains("object.kind"));
        assert!(error(&two(with("web-000001-abcde", "web 1"))).contains("metadata.name"));
        let e = error(&two(with("\"uid\":", "\"id\":")));
        assert!(
            e.starts_with("pod_events.jsonl:2: missing field `uid` (column"),
            "{e}"
        );
        let e = error(&two(with(
            "2026-11-02T08:01:00Z\",\"finishedAt",
            "yesterday\",\"finishedAt",
        )));
        assert!(
            e.contains(".terminated.startedAt: \"yesterday\" is not an RFC 3339 time"),
            "{e}"
        );
        let e = error(&two(with(
            "finishedAt\":\"2026-11-02T08:01:00Z",
            "finishedAt\":\"2026-11-02T08:00:00Z",
        )));
        assert!(e.ends_with("finishedAt is before startedAt"), "{e}");
        assert!(error("{").starts_with("pod_events.jsonl:1: EOF while parsing"));
        assert!(error(&two(with("1793606461200", "9223372036854775807"))).contains("out of range"));
        let e = error(&format!(
            "{LINE}\n{}\n",
            with("1793606461200", "1793606461199")
        ));
        assert!(e.contains("before the line above"), "{e}");
    }
}
