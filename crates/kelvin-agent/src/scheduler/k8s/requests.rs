//! A pod's effective requests, summed the way the kube-scheduler sums them ([`pod_requests`]).

use std::collections::BTreeMap;
use std::fmt;

use super::pod::{Container, Pod, ResourceRequirements};
use crate::scheduler::quantity::{Quantity, QuantityErrorKind, parse_quantity};

/// The CPU resource name.
const CPU: &str = "cpu";
/// The memory resource name.
const MEMORY: &str = "memory";
/// NVIDIA's device-plugin resource.
const NVIDIA_GPU: &str = "nvidia.com/gpu";
/// AMD's device-plugin resource.
const AMD_GPU: &str = "amd.com/gpu";

/// More CPU than any node has: a request above it is a mistake, not a workload.
const ABSURD_CPU: (u128, &str) = (1_000_000 * 1_000_000_000, "1e6 cores");
/// More memory than any node has (1 EiB).
const ABSURD_MEMORY: (u128, &str) = ((1 << 60) * 1_000_000_000, "1 EiB");

/// A pod's effective requests, as the scheduler counts them.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PodRequests {
    /// `cpu`, in cores (milli-core resolution, rounded up).
    pub cpu_cores: f64,
    /// `memory`, in bytes (rounded up).
    pub memory_bytes: u64,
    /// `nvidia.com/gpu`, in devices.
    pub nvidia_gpus: u64,
    /// `amd.com/gpu`, in devices.
    pub amd_gpus: u64,
    /// Every other resource requested (`ephemeral-storage` and `hugepages-2Mi` in bytes,
    /// other extended resources in units), rounded up; resources not requested are absent.
    pub other: BTreeMap<String, u64>,
}

impl PodRequests {
    /// The GPUs requested, of either vendor.
    pub fn gpus(&self) -> u64 {
        self.nvidia_gpus.saturating_add(self.amd_gpus)
    }
}

/// Where in the pod a refused request was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestPlace {
    /// An app container's request, or its limit standing in for a missing request.
    Container {
        /// The container's name.
        name: String,
        /// Whether the value came from `limits` (no request was set).
        from_limit: bool,
    },
    /// An init container's (or sidecar's) request, or its limit standing in for one.
    InitContainer {
        /// The container's name.
        name: String,
        /// Whether the value came from `limits` (no request was set).
        from_limit: bool,
    },
    /// The pod's `spec.overhead`.
    Overhead,
    /// The pod-level `spec.resources`.
    PodLevel,
    /// The pod's total, after summing.
    Total,
}

impl fmt::Display for RequestPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |from_limit: bool| if from_limit { "limit" } else { "request" };
        match self {
            RequestPlace::Container { name, from_limit } => {
                write!(f, "container {name:?}: {}", field(*from_limit))
            }
            RequestPlace::InitContainer { name, from_limit } => {
                write!(f, "init container {name:?}: {}", field(*from_limit))
            }
            RequestPlace::Overhead => f.write_str("pod overhead:"),
            RequestPlace::PodLevel => f.write_str("pod-level request"),
            RequestPlace::Total => f.write_str("pod total:"),
        }
    }
}

/// A pod whose requests cannot be counted: where, which resource, the value and why.
///
/// ```
/// use kelvin_agent::scheduler::k8s::{pod_requests, Pod};
/// let pod: Pod = serde_json::from_str(r#"{"spec": {"containers": [
///     {"name": "app", "resources": {"requests": {"cpu": "-1"}}}]}}"#)?;
/// let err = pod_requests(&pod).unwrap_err();
/// assert_eq!(err.to_string(), r#"container "app": request cpu = "-1": negative quantity"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The quantity string cannot be read.
    #[error("{place} {resource} = {value:?}: {kind}")]
    BadQuantity {
        /// Where it was written.
        place: RequestPlace,
        /// The resource name.
        resource: String,
        /// The quantity as written.
        value: String,
        /// Why it was refused.
        kind: QuantityErrorKind,
    },
    /// An extended resource (such as `nvidia.com/gpu`) asked in a fraction.
    #[error("{place} {resource} = {value:?}: an extended resource is counted in whole units")]
    Fractional {
        /// Where it was written.
        place: RequestPlace,
        /// The resource name.
        resource: String,
        /// The quantity as written.
        value: String,
    },
    /// More CPU or memory than any node has.
    #[error("{place} {resource} = {value:?}: absurd, more than {limit}")]
    Absurd {
        /// Where it was written ([`RequestPlace::Total`] when only the sum is too large).
        place: RequestPlace,
        /// The resource name.
        resource: String,
        /// The quantity as written, or the total in canonical form.
        value: String,
        /// The limit passed, in words.
        limit: &'static str,
    },
}

/// Resource name → exact quantity.
type Amounts = BTreeMap<String, Quantity>;

/// The pod's effective requests, as the kube-scheduler computes them.
///
/// The rule is `PodRequests` in kubernetes
/// `staging/src/k8s.io/component-helpers/resource/helpers.go` (repository
/// `kubernetes/kubernetes`), from the sidecar-containers KEP (753): per resource,
///
/// ```text
/// max( Σ app containers + Σ sidecars,
///      max over init containers i of ( request of i + Σ sidecars started before i ) )
/// + overhead
/// ```
///
/// where a sidecar is an init container with `restartPolicy: Always`, and its own term in the
/// inner max is the sum of the sidecars up to and including it. Pod-level requests
/// (`spec.resources`), when set, replace the result for `cpu`, `memory` and `hugepages-*`
/// before the overhead is added. As the API server's defaulting does (`SetDefaults_Pod` in
/// `pkg/apis/core/v1/defaults.go`), a container that sets a limit but no request for a
/// resource requests its limit. Quantities are summed exactly and rounded once at the end, as
/// the scheduler rounds the pod total: CPU up to a milli-core, the rest up to a whole unit. A
/// resource nobody requests counts 0.
///
/// # Errors
///
/// A [`RequestError`] naming the container (or overhead) and the resource, when a quantity
/// cannot be read, is negative, asks a fraction of an extended resource, or asks more than
/// 10⁶ cores or 1 EiB of memory (in one place or in total).
///
/// ```
/// use kelvin_agent::scheduler::k8s::{pod_requests, Pod};
/// // A 2-core init step, then 1 core of app beside a 250m sidecar: the init step dominates.
/// let pod: Pod = serde_json::from_str(r#"{"spec": {
///     "initContainers": [
///       {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
///       {"name": "migrate", "resources": {"requests": {"cpu": "2"}}}],
///     "containers": [{"name": "app", "resources": {"requests": {"cpu": "1"}}}],
///     "overhead": {"cpu": "100m"}}}"#)?;
/// assert_eq!(pod_requests(&pod)?.cpu_cores, 2.35);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn pod_requests(pod: &Pod) -> Result<PodRequests, RequestError> {
    let spec = &pod.spec;
    let mut total = Amounts::new();
    for container in &spec.containers {
        add_into(&mut total, &container_requests(container, false)?);
    }
    let mut sidecars = Amounts::new();
    let mut init_peak = Amounts::new();
    for container in &spec.init_containers {
        let own = container_requests(container, true)?;
        if container.is_sidecar() {
            add_into(&mut total, &own);
            add_into(&mut sidecars, &own);
            max_into(&mut init_peak, &sidecars);
        } else {
            let mut running = own;
            add_into(&mut running, &sidecars);
            max_into(&mut init_peak, &running);
        }
    }
    max_into(&mut total, &init_peak);
    if let Some(resources) = &spec.resources {
        let pod_level = requested(resources, |_| RequestPlace::PodLevel)?;
        for (name, amount) in pod_level {
            if name == CPU || name == MEMORY || name.starts_with("hugepages-") {
                total.insert(name, amount);
            }
        }
    }
    add_into(
        &mut total,
        &read_list(&spec.overhead, &|| RequestPlace::Overhead)?,
    );
    finish(total)
}

/// One container's requests, each missing request defaulted to its limit.
fn container_requests(container: &Container, init: bool) -> Result<Amounts, RequestError> {
    requested(&container.resources, |from_limit| {
        let name = container.name.clone();
        if init {
            RequestPlace::InitContainer { name, from_limit }
        } else {
            RequestPlace::Container { name, from_limit }
        }
    })
}

/// The requests of `resources`, a limit standing in for each missing request.
fn requested(
    resources: &ResourceRequirements,
    place: impl Fn(bool) -> RequestPlace,
) -> Result<Amounts, RequestError> {
    let mut amounts = read_list(&resources.requests, &|| place(false))?;
    let defaulted: BTreeMap<String, String> = resources
        .limits
        .iter()
        .filter(|(name, _)| !resources.requests.contains_key(*name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    amounts.extend(read_list(&defaulted, &|| place(true))?);
    Ok(amounts)
}

/// Reads a resource list, checking each value.
fn read_list(
    list: &BTreeMap<String, String>,
    place: &dyn Fn() -> RequestPlace,
) -> Result<Amounts, RequestError> {
    let mut amounts = Amounts::new();
    for (resource, value) in list {
        let quantity = parse_quantity(value).map_err(|err| RequestError::BadQuantity {
            place: place(),
            resource: resource.clone(),
            value: value.clone(),
            kind: err.into_kind(),
        })?;
        if is_extended(resource) && !quantity.is_whole() {
            return Err(RequestError::Fractional {
                place: place(),
                resource: resource.clone(),
                value: value.clone(),
            });
        }
        if let Some(limit) = absurd_above(resource, quantity) {
            return Err(RequestError::Absurd {
                place: place(),
                resource: resource.clone(),
                value: value.clone(),
                limit,
            });
        }
        amounts.insert(resource.clone(), quantity);
    }
    Ok(amounts)
}

/// The limit `quantity` passes, for the resources that have one.
fn absurd_above(resource: &str, quantity: Quantity) -> Option<&'static str> {
    let (nanos, words) = match resource {
        CPU => ABSURD_CPU,
        MEMORY => ABSURD_MEMORY,
        _ => return None,
    };
    (quantity.nanos() > nanos).then_some(words)
}

/// Whether `resource` is an extended resource: a domain-qualified name outside
/// `kubernetes.io/` (`IsExtendedResourceName` upstream), which must be whole.
fn is_extended(resource: &str) -> bool {
    resource.contains('/')
        && !resource.starts_with("kubernetes.io/")
        && !resource.starts_with("requests.")
}

fn add_into(into: &mut Amounts, from: &Amounts) {
    for (name, amount) in from {
        let sum = into.entry(name.clone()).or_default();
        // Saturating at the maximum: the total check then reports it as absurd.
        *sum = sum.checked_add(*amount).unwrap_or(Quantity::MAX);
    }
}

fn max_into(into: &mut Amounts, from: &Amounts) {
    for (name, amount) in from {
        let current = into.entry(name.clone()).or_default();
        *current = (*current).max(*amount);
    }
}

/// Rounds the exact totals the way the scheduler does, checking them once more.
fn finish(total: Amounts) -> Result<PodRequests, RequestError> {
    let mut requests = PodRequests::default();
    for (resource, amount) in total {
        if let Some(limit) = absurd_above(&resource, amount) {
            return Err(RequestError::Absurd {
                place: RequestPlace::Total,
                value: amount.to_string(),
                resource,
                limit,
            });
        }
        match resource.as_str() {
            CPU => requests.cpu_cores = amount.millis_ceil() as f64 / 1000.0,
            MEMORY => requests.memory_bytes = amount.value_ceil(),
            NVIDIA_GPU => requests.nvidia_gpus = amount.value_ceil(),
            AMD_GPU => requests.amd_gpus = amount.value_ceil(),
            _ => {
                requests.other.insert(resource, amount.value_ceil());
            }
        }
    }
    Ok(requests)
}
