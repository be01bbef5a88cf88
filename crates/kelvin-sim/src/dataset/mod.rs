//! The recorded-dataset format, both ways: the simulator writes it ([`crate::simulate_to`],
//! [`crate::Dataset::write_to`]) and [`RecordedDataset`] reads it back, as untrusted input —
//! a dataset is also what an operator exports from a real estate, by hand.
//!
//! A dataset is a directory:
//!
//! | file | read | content |
//! |---|---|---|
//! | `inventory.json` | required | a [`kelvin_model::Inventory`] with at least one host |
//! | `workloads.json` | required | a JSON array of [`kelvin_model::Workload`]; `host: null` = pending |
//! | `metrics.prom` | required | Prometheus exposition text with millisecond timestamps |
//! | `ground_truth.csv` | optional | `workload,host,energy_j,…[,gpu_energy_j]`: true per-workload energy ([`TruthRow`]) |
//! | `hosts_truth.csv` | optional | `host,energy_j,…`: true per-host wall energy ([`HostTruthRow`]) |
//! | `facility_truth.csv` | optional | `t_ms,interval_s,it_w,cooling_w,…`: facility power ([`FacilitySample`]) |
//! | `captures/index.csv` | optional | `file,entity,taken_at_ms`: vendor captures ([`CaptureFile`]) |
//! | `prometheus_rules.json` | optional, as text | extra metric rules, checked by whoever knows the rule format (Kelvin's replay) |
//! | `pod_events.jsonl` | optional | pod lifecycle events, one Kubernetes watch event per line ([`PodEvent`]) |
//! | `host_power_truth.csv` | not read | every interval per host: mean power by component, inlet |
//! | `README.md` | not read | what the dataset holds and the command that remakes it |
//!
//! Reading: every file is read only when it is a regular file within a size limit
//! ([`MAX_DATASET_FILE_BYTES`], [`MAX_IN_MEMORY_METRICS_BYTES`], [`MAX_POD_EVENTS_BYTES`]; through
//! [`kelvin_guard::file`]), every table is checked field by field, and every
//! [`DatasetError`] names the file, the line or field, and the likely cause. The truth tables'
//! columns are found by name in their header, so columns the reader does not know are skipped;
//! the capture index has exactly its three columns.
//!
//! # Two row types each way
//!
//! The simulator's [`crate::WorkloadTruth`] and [`crate::HostTruth`] are what it *writes* to
//! `ground_truth.csv` and `hosts_truth.csv`; [`TruthRow`] and [`HostTruthRow`] are what the
//! reader *reads* from them. They are not one type because a table read back holds less than
//! the simulator knows: a hand-made or real dataset has only the required columns (`workload,
//! host, energy_j`; `host, energy_j`), so the reader's rows carry those and the optional
//! `cpu_share_j`, while the simulator always knows every account (idle and dynamic shares, CPU
//! seconds, unreserved idle, system). One type would make the simulator's accounts optional,
//! or make the reader require or invent columns. The columns both sides name are the
//! writer's headers, and a round-trip test writes datasets and reads them back.
//!
//! # Against the truth
//!
//! The truth tables are there to judge estimates: [`relative_error`],
//! [`TruthRow::measurement_error`] and [`TruthRow::policy_gap`] for one figure,
//! [`ErrorSummary`] (energy-weighted, mean and worst error) for a set.

mod error;
pub(crate) mod events;
pub(crate) mod quantity;
mod read;
pub(crate) mod readme;
mod table;
mod truth;
pub(crate) mod write;

use std::path::PathBuf;

use kelvin_model::{EntityId, Inventory, Timestamp, Workload};

pub use error::{DatasetError, DatasetErrorKind};
pub use events::{PodEvent, PodEventKind};
pub use quantity::{QuantityError, parse_quantity};
pub use read::read_text_file;
pub use truth::{ErrorSummary, relative_error};

/// `inventory.json`: sites, rooms, racks, PDUs, hosts and components.
pub const INVENTORY_JSON: &str = "inventory.json";
/// `workloads.json`: running workloads (with a host) and pending ones (without).
pub const WORKLOADS_JSON: &str = "workloads.json";
/// `metrics.prom`: what the exporters reported, as Prometheus text.
pub const METRICS_PROM: &str = "metrics.prom";
/// `ground_truth.csv`: each workload's true energy.
pub const GROUND_TRUTH_CSV: &str = "ground_truth.csv";
/// `hosts_truth.csv`: each host's true wall energy and accounts.
pub const HOSTS_TRUTH_CSV: &str = "hosts_truth.csv";
/// `facility_truth.csv`: the facility's IT and cooling power, interval by interval.
pub const FACILITY_TRUTH_CSV: &str = "facility_truth.csv";
/// `host_power_truth.csv`: each host's mean power by component, interval by interval.
pub const HOST_POWER_TRUTH_CSV: &str = "host_power_truth.csv";
/// `captures/index.csv`: every vendor capture, the entity it describes and its time.
pub const CAPTURE_INDEX_CSV: &str = "captures/index.csv";
/// `prometheus_rules.json`: metric rules for metrics Kelvin's built-in rules do not map.
pub const PROMETHEUS_RULES_JSON: &str = "prometheus_rules.json";
/// `pod_events.jsonl`: the pods' lifecycle, one Kubernetes watch event per line (churn preset).
pub const POD_EVENTS_JSONL: &str = "pod_events.jsonl";

/// Largest dataset file read whole (`inventory.json`, `workloads.json`, the truth tables, the
/// capture index, `prometheus_rules.json`): 64 MiB, a thousand times the largest committed
/// one.
pub const MAX_DATASET_FILE_BYTES: u64 = 64 << 20;

/// Largest `pod_events.jsonl` read: 256 MiB, about twenty times the default churn preset's
/// (50 hosts for a day), so about a thousand hosts' day of pods.
pub const MAX_POD_EVENTS_BYTES: u64 = 256 << 20;

/// Largest `metrics.prom` that [`RecordedDataset::load`] reads into memory: 256 MiB.
/// [`RecordedDataset::open`] streams any size.
pub const MAX_IN_MEMORY_METRICS_BYTES: u64 = 256 << 20;

/// True energy of one workload over the recording, as read from `ground_truth.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRow {
    /// The workload.
    pub workload: EntityId,
    /// Its host.
    pub host: EntityId,
    /// True energy under the two-part tariff (idle by reservation, dynamic by use), joules.
    pub energy_j: f64,
    /// True power split by CPU-time share every second, joules, when the dataset has it: the
    /// reference for the `cpu_share` policy's measurement error.
    pub cpu_share_j: Option<f64>,
    /// DC energy of the GPUs the workload held, while it held them (what NVML and DCGM
    /// measure, no PSU loss), joules, when the dataset has the column (the gpu and churn
    /// presets; 0 for a workload without GPUs).
    pub gpu_energy_j: Option<f64>,
}

/// True energy of one host over the recording, as read from `hosts_truth.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTruthRow {
    /// The host.
    pub host: EntityId,
    /// True wall energy, joules: what a perfect meter would have measured.
    pub energy_j: f64,
}

/// A vendor capture of a dataset: a snapshot file for one entity, taken at a known time.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureFile {
    /// The file as the index names it, relative to the dataset (quarantine places use it).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// The entity it describes (a host or a PDU).
    pub entity: EntityId,
    /// When it was taken.
    pub taken_at: Timestamp,
}

/// One interval of the facility's power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacilitySample {
    /// Start of the interval.
    pub start: Timestamp,
    /// Its length, seconds.
    pub interval_s: f64,
    /// IT power, watts.
    pub it_w: f64,
    /// Cooling (and other overhead) power, watts.
    pub overhead_w: f64,
}

/// A recorded dataset, in memory.
#[derive(Debug, Clone)]
pub struct RecordedDataset {
    /// Display name (the directory name).
    pub name: String,
    /// The directory it was read from, as given; `None` for a dataset built from texts
    /// ([`RecordedDataset::from_texts`]).
    pub dir: Option<PathBuf>,
    /// The estate.
    pub inventory: Inventory,
    /// Running and pending workloads.
    pub workloads: Vec<Workload>,
    /// The metrics text (empty when [`RecordedDataset::metrics_file`] is set).
    pub metrics: String,
    /// The metrics file to stream instead of `metrics`, for datasets opened with
    /// [`RecordedDataset::open`].
    pub metrics_file: Option<PathBuf>,
    /// Ground truth per workload, when the dataset has it.
    pub truth: Vec<TruthRow>,
    /// Ground truth per host (`hosts_truth.csv`), when the dataset has it.
    pub host_truth: Vec<HostTruthRow>,
    /// Vendor captures listed in `captures/index.csv`, in index order.
    pub captures: Vec<CaptureFile>,
    /// Extra metric rules from `prometheus_rules.json`, as text (read within the size limit
    /// and as UTF-8; the rule format is checked by the replay, which knows it).
    pub rules_json: Option<String>,
    /// The facility's IT and cooling power over time from `facility_truth.csv`
    /// (`t_ms,interval_s,it_w,cooling_w,…`), when the dataset has it.
    pub facility: Vec<FacilitySample>,
    /// Pod lifecycle events from `pod_events.jsonl`, in time order, when the dataset has them
    /// (the churn preset): pods that are in no `workloads.json`, only in the telemetry's labels,
    /// these events and the ground truth.
    pub pod_events: Vec<PodEvent>,
}

#[cfg(test)]
mod tests;
