//! Scheduler integration: what Kubernetes and Slurm need from Kelvin, in their own shapes.
//!
//! - [`extender`]: a placer kept over the engine's fleet, asked about one pending workload at
//!   a time; [`endpoints`]: the extender's `filter` and `prioritize` verbs over it.
//! - [`k8s`]: the Kubernetes scheduler extender's wire types (`k8s.io/kube-scheduler/extender/v1`)
//!   and the pod requests the scheduler counts; [`quantity`]: Kubernetes resource quantities.
//! - [`peaks`]: the power model the Trimaran PEAKS plugin reads, fitted to Kelvin's curves.
//! - [`watcher`]: the load-watcher document the Trimaran plugins read, from Kelvin's
//!   measurements.
//! - [`slurm`]: job allocations read from Slurm itself, and the levers Kelvin pulls (node
//!   weights, a job's admin comment); [`jobs`]: Slurm jobs as the engine's workloads, and
//!   their energy reports.

pub mod endpoints;
pub mod extender;
pub mod jobs;
pub mod k8s;
pub mod peaks;
pub mod quantity;
pub mod slurm;
pub mod watcher;

pub use endpoints::{Endpoints, MAX_REQUEST_BYTES, Verb};
pub use extender::{Answer, Extender, View};
