//! The parts of Kubernetes' `v1.Pod` and `v1.NodeList` JSON that Kelvin reads.
//!
//! Field names and `omitempty` follow kubernetes `staging/src/k8s.io/api/core/v1/types.go`
//! (repository `kubernetes/kubernetes`): every typed field below is left out when empty, as Go
//! leaves it out, except `containers`, a container's `name` and `resources`, and an object's
//! `metadata` and `spec`, which Go always writes. Each struct keeps the fields it does not type
//! in `other`, so nothing received is lost when it is written back.

use std::collections::BTreeMap;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::null_as_default;

/// A pod (`v1.Pod`): what Kelvin reads of it, and the rest as received.
///
/// ```
/// use kelvin_agent::scheduler::k8s::Pod;
/// let pod: Pod = serde_json::from_str(r#"{"metadata": {"name": "web", "namespace": "shop"},
///     "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
///     "status": {"phase": "Pending"}}"#)?;
/// assert_eq!(pod.metadata.name, "web");
/// assert_eq!(pod.spec.containers[0].other["image"], "nginx:1.27");
/// assert_eq!(pod.other["status"]["phase"], "Pending");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pod {
    /// Name, namespace, UID, labels, annotations.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    /// What the pod runs and where it may go.
    #[serde(default, deserialize_with = "null_as_default")]
    pub spec: PodSpec,
    /// Every other field (`status`, `kind`, `apiVersion` …), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// An object's identity (`metav1.ObjectMeta`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// `name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `namespace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `uid`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// `labels`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// `annotations`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// Every other field (`creationTimestamp`, `ownerReferences` …), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A pod's specification (`v1.PodSpec`), the fields that decide its size and place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// `containers`: the app containers, running together.
    #[serde(default, deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    /// `initContainers`: run one after another before the app containers; those with
    /// `restartPolicy: Always` are sidecars and keep running beside them.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub init_containers: Vec<Container>,
    /// `overhead`: what the runtime class adds to the pod (resource → quantity string).
    #[serde(
        default,
        deserialize_with = "quantity_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub overhead: BTreeMap<String, String>,
    /// `resources`: pod-level requests and limits (the `PodLevelResources` feature), which
    /// replace the containers' sum for `cpu`, `memory` and `hugepages-*` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// `nodeName`: set once the pod is bound.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// `nodeSelector`: labels a node must carry.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub node_selector: BTreeMap<String, String>,
    /// `priority`: resolved from the priority class by admission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Every other field (`volumes`, `tolerations`, `schedulerName` …), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A container (`v1.Container`), app or init.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// `name`, unique in the pod.
    #[serde(default)]
    pub name: String,
    /// `resources`: requests and limits.
    #[serde(default, deserialize_with = "null_as_default")]
    pub resources: ResourceRequirements,
    /// `restartPolicy`: only on init containers; `"Always"` makes one a sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Every other field (`image`, `ports`, `env` …), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Container {
    /// Whether this init container is a sidecar (`restartPolicy: Always`): started in order
    /// with the init containers, then kept running beside the app containers.
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy.as_deref() == Some("Always")
    }
}

/// Requests and limits (`v1.ResourceRequirements`): resource name → quantity string
/// (`"500m"`, `"256Mi"`); a quantity sent as a JSON number is read as its decimal text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    /// `limits`.
    #[serde(
        default,
        deserialize_with = "quantity_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub limits: BTreeMap<String, String>,
    /// `requests`.
    #[serde(
        default,
        deserialize_with = "quantity_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub requests: BTreeMap<String, String>,
    /// Every other field (`claims`), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Nodes as received (`v1.NodeList`): each item is the node's JSON, untouched.
///
/// ```
/// use kelvin_agent::scheduler::k8s::NodeList;
/// let list: NodeList = serde_json::from_str(r#"{"metadata": {}, "items": [
///     {"metadata": {"name": "node-a"}, "status": {"capacity": {"cpu": "16"}}},
///     {"metadata": {"name": "node-b"}}]}"#)?;
/// assert_eq!(list.names().collect::<Vec<_>>(), [Some("node-a"), Some("node-b")]);
/// let kept = list.retain_named(|name| name != "node-b");
/// assert_eq!(kept.items, &list.items[..1]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// `metadata` of the list (Go writes `{}` when empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Map<String, Value>,
    /// `items`: the nodes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<Value>,
    /// Every other field (`kind`, `apiVersion`), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl NodeList {
    /// A list of these nodes, with empty list metadata.
    pub fn new(items: Vec<Value>) -> NodeList {
        NodeList {
            items,
            ..NodeList::default()
        }
    }

    /// Each node's `metadata.name`, in order (`None` for a node without one).
    pub fn names(&self) -> impl Iterator<Item = Option<&str>> {
        self.items.iter().map(node_name)
    }

    /// The same list with only the nodes whose name `keep` accepts (nodes without a name are
    /// dropped), each unchanged, and the list's own fields kept.
    pub fn retain_named(&self, mut keep: impl FnMut(&str) -> bool) -> NodeList {
        let items = self
            .items
            .iter()
            .filter(|node| node_name(node).is_some_and(&mut keep))
            .cloned()
            .collect();
        NodeList {
            metadata: self.metadata.clone(),
            items,
            other: self.other.clone(),
        }
    }
}

/// A node object's `metadata.name`, if it has one.
///
/// ```
/// use kelvin_agent::scheduler::k8s::node_name;
/// let node = serde_json::json!({"metadata": {"name": "node-a"}});
/// assert_eq!(node_name(&node), Some("node-a"));
/// assert_eq!(node_name(&serde_json::json!({})), None);
/// ```
pub fn node_name(node: &Value) -> Option<&str> {
    node.get("metadata")?.get("name")?.as_str()
}

/// Reads a resource list whose quantities are strings or numbers (`null` is empty).
fn quantity_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let map = Option::<BTreeMap<String, QuantityText>>::deserialize(deserializer)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(name, text)| (name, text.0))
        .collect())
}

/// A quantity's text, read from a JSON string or number.
struct QuantityText(String);

impl<'de> Deserialize<'de> for QuantityText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityTextVisitor)
    }
}

struct QuantityTextVisitor;

impl Visitor<'_> for QuantityTextVisitor {
    type Value = QuantityText;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a quantity, as a string such as \"500m\" or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<QuantityText, E> {
        Ok(QuantityText(v.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<QuantityText, E> {
        Ok(QuantityText(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<QuantityText, E> {
        Ok(QuantityText(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<QuantityText, E> {
        // Rust writes the shortest decimal that reads back to `v`, without an exponent:
        // always a valid quantity.
        Ok(QuantityText(v.to_string()))
    }
}
