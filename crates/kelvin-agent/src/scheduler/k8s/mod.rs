//! The Kubernetes scheduler extender's wire types, and the pod requests the scheduler counts.
//!
//! A kube-scheduler configured with an `extenders[]` entry POSTs JSON to
//! `urlPrefix + "/" + verb` and decodes the answer. The types here are those of the package
//! `k8s.io/kube-scheduler/extender/v1` — kubernetes
//! `staging/src/k8s.io/kube-scheduler/extender/v1/types.go` (repository `kubernetes/kubernetes`),
//! field for field. Those Go structs have no `json` tags, so each key is the Go field name
//! (`Pod`, `NodeNames`, `PodUID`) and no field is ever omitted: a nil pointer, map or slice is
//! written `null`. How the scheduler fills them is in `pkg/scheduler/extender.go` of the same
//! repository: with `nodeCacheCapable: true` it sends `NodeNames` and `Nodes: null`, otherwise
//! the whole `Nodes` list and `NodeNames: null`; a preemption request likewise carries either
//! `NodeNameToMetaVictims` or `NodeNameToVictims`, the other `null`.
//!
//! | verb | request | answer |
//! |---|---|---|
//! | filter | [`ExtenderArgs`] | [`ExtenderFilterResult`] |
//! | prioritize | [`ExtenderArgs`] | [`HostPriorityList`] (scores [`MIN_EXTENDER_PRIORITY`]..=[`MAX_EXTENDER_PRIORITY`]) |
//! | bind | [`ExtenderBindingArgs`] | [`ExtenderBindingResult`] |
//! | preempt | [`ExtenderPreemptionArgs`] | [`ExtenderPreemptionResult`] |
//!
//! The pod and nodes inside are ordinary Kubernetes JSON (camelCase keys). [`Pod`] types what
//! Kelvin reads — names, labels, containers' requests and limits, overhead, node selector,
//! priority — and keeps every other field it was given, so a pod written back is the pod
//! received. A [`NodeList`] keeps each node as the JSON received: a filter answer hands the
//! passing nodes back unchanged. Unknown fields are never an error. [`pod_requests`] sums a
//! pod's requests the way the scheduler does (see its docs).
//!
//! ```
//! use kelvin_agent::scheduler::k8s::{pod_requests, ExtenderArgs, ExtenderFilterResult};
//! let body = r#"{"Pod": {"metadata": {"name": "web"}, "spec": {"containers": [
//!     {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}},
//!   "Nodes": null, "NodeNames": ["node-a", "node-b"]}"#;
//! let args: ExtenderArgs = serde_json::from_str(body)?;
//! let requests = pod_requests(&args.pod)?;
//! assert_eq!(requests.cpu_cores, 0.5);
//! assert_eq!(requests.memory_bytes, 256 << 20);
//! assert_eq!(args.candidate_names(), ["node-a", "node-b"]);
//!
//! let mut answer = ExtenderFilterResult::default();
//! answer.node_names = Some(vec!["node-a".into()]);
//! answer.failed_nodes.insert("node-b".into(), "over its power cap".into());
//! let json = serde_json::to_value(&answer)?;
//! assert_eq!(json["NodeNames"][0], "node-a");
//! assert_eq!(json["Nodes"], serde_json::Value::Null);
//! assert_eq!(json["Error"], "");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod pod;
mod requests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub use pod::{Container, NodeList, ObjectMeta, Pod, PodSpec, ResourceRequirements, node_name};
pub use requests::{PodRequests, RequestError, RequestPlace, pod_requests};

/// The lowest score a prioritize answer may give (`MinExtenderPriority`).
pub const MIN_EXTENDER_PRIORITY: i64 = 0;

/// The highest score a prioritize answer may give (`MaxExtenderPriority`); the scheduler
/// multiplies it by the extender's `weight` and scales it to its own 0..100 range.
pub const MAX_EXTENDER_PRIORITY: i64 = 10;

/// What filter and prioritize receive: the pod and its candidate nodes.
///
/// Exactly one of `nodes` (the extender is not `nodeCacheCapable`: whole node objects) and
/// `node_names` (it is: names only) is `Some` in what the scheduler sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtenderArgs {
    /// The pod being scheduled (`Pod`).
    #[serde(rename = "Pod")]
    pub pod: Pod,
    /// The candidate nodes, whole (`Nodes`).
    #[serde(rename = "Nodes", default)]
    pub nodes: Option<NodeList>,
    /// The candidate nodes' names (`NodeNames`).
    #[serde(rename = "NodeNames", default)]
    pub node_names: Option<Vec<String>>,
}

impl ExtenderArgs {
    /// The candidates' names, from `NodeNames` or else from the `Nodes` objects (a node
    /// without `metadata.name` cannot be answered for, and is left out).
    pub fn candidate_names(&self) -> Vec<&str> {
        match (&self.node_names, &self.nodes) {
            (Some(names), _) => names.iter().map(String::as_str).collect(),
            (None, Some(list)) => list.names().flatten().collect(),
            (None, None) => Vec::new(),
        }
    }
}

/// Node name → why the pod cannot go there (`FailedNodesMap`).
pub type FailedNodesMap = BTreeMap<String, String>;

/// The answer to filter.
///
/// Answer in the form asked: `nodes` holding the passing nodes' objects unchanged (a subset
/// of the request's `Nodes`), or `node_names` (a subset of the request's `NodeNames`); the
/// other stays `None`. A node in `failed_and_unresolvable_nodes` is one where preemption would
/// not help either; it takes precedence over `failed_nodes`. A non-empty `error` fails the
/// whole scheduling attempt. Kelvin writes empty maps as `{}` where a Go extender may write
/// `null`; the scheduler reads both as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtenderFilterResult {
    /// The passing nodes, whole (`Nodes`).
    #[serde(rename = "Nodes", default)]
    pub nodes: Option<NodeList>,
    /// The passing nodes' names (`NodeNames`).
    #[serde(rename = "NodeNames", default)]
    pub node_names: Option<Vec<String>>,
    /// Nodes refused, with the reason (`FailedNodes`).
    #[serde(rename = "FailedNodes", default, deserialize_with = "null_as_default")]
    pub failed_nodes: FailedNodesMap,
    /// Nodes refused where preemption would not help, with the reason
    /// (`FailedAndUnresolvableNodes`).
    #[serde(
        rename = "FailedAndUnresolvableNodes",
        default,
        deserialize_with = "null_as_default"
    )]
    pub failed_and_unresolvable_nodes: FailedNodesMap,
    /// Why the extender could not filter at all; empty when it could (`Error`).
    #[serde(rename = "Error", default, deserialize_with = "null_as_default")]
    pub error: String,
}

/// One node's score in a prioritize answer (`HostPriority`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPriority {
    /// The node's name (`Host`).
    #[serde(rename = "Host")]
    pub host: String,
    /// Its score, [`MIN_EXTENDER_PRIORITY`]..=[`MAX_EXTENDER_PRIORITY`], higher is better
    /// (`Score`).
    #[serde(rename = "Score")]
    pub score: i64,
}

/// The answer to prioritize: a JSON array of [`HostPriority`] (`HostPriorityList`).
pub type HostPriorityList = Vec<HostPriority>;

/// What bind receives: bind this pod to this node (`ExtenderBindingArgs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtenderBindingArgs {
    /// The pod's name (`PodName`).
    #[serde(rename = "PodName")]
    pub pod_name: String,
    /// The pod's namespace (`PodNamespace`).
    #[serde(rename = "PodNamespace")]
    pub pod_namespace: String,
    /// The pod's UID (`PodUID`).
    #[serde(rename = "PodUID")]
    pub pod_uid: String,
    /// The node the scheduler chose (`Node`).
    #[serde(rename = "Node")]
    pub node: String,
}

/// The answer to bind: empty `error` when the binding was made (`ExtenderBindingResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtenderBindingResult {
    /// Why the binding failed; empty when it succeeded (`Error`).
    #[serde(rename = "Error", default, deserialize_with = "null_as_default")]
    pub error: String,
}

/// What preempt receives: the pod, and per candidate node the pods the scheduler would evict
/// (`ExtenderPreemptionArgs`).
///
/// A `nodeCacheCapable` extender gets `node_name_to_meta_victims` (UIDs only), any other gets
/// `node_name_to_victims` (whole pods); the other map is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtenderPreemptionArgs {
    /// The pod being scheduled (`Pod`).
    #[serde(rename = "Pod")]
    pub pod: Pod,
    /// Node name → the pods to evict there, whole (`NodeNameToVictims`).
    #[serde(rename = "NodeNameToVictims", default)]
    pub node_name_to_victims: Option<BTreeMap<String, Victims>>,
    /// Node name → the pods to evict there, by UID (`NodeNameToMetaVictims`).
    #[serde(rename = "NodeNameToMetaVictims", default)]
    pub node_name_to_meta_victims: Option<BTreeMap<String, MetaVictims>>,
}

/// The answer to preempt: the candidate nodes the extender accepts, each with the victims it
/// agrees to (a subset of those proposed) (`ExtenderPreemptionResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtenderPreemptionResult {
    /// Node name → the pods to evict there, by UID (`NodeNameToMetaVictims`).
    #[serde(
        rename = "NodeNameToMetaVictims",
        default,
        deserialize_with = "null_as_default"
    )]
    pub node_name_to_meta_victims: BTreeMap<String, MetaVictims>,
}

/// The pods to evict on one node, whole (`Victims`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Victims {
    /// The pods (`Pods`).
    #[serde(rename = "Pods", default, deserialize_with = "null_as_default")]
    pub pods: Vec<Pod>,
    /// How many PodDisruptionBudgets evicting them violates (`NumPDBViolations`).
    #[serde(rename = "NumPDBViolations", default)]
    pub num_pdb_violations: i64,
}

/// The pods to evict on one node, by UID (`MetaVictims`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaVictims {
    /// The pods (`Pods`).
    #[serde(rename = "Pods", default, deserialize_with = "null_as_default")]
    pub pods: Vec<MetaPod>,
    /// How many PodDisruptionBudgets evicting them violates (`NumPDBViolations`).
    #[serde(rename = "NumPDBViolations", default)]
    pub num_pdb_violations: i64,
}

/// A pod named by its UID (`MetaPod`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaPod {
    /// The pod's UID (`UID`).
    #[serde(rename = "UID")]
    pub uid: String,
}

/// Reads `null` as the type's default, as Go reads `null` into a map, slice or string.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
