//! Kelvin ingestion: vendor telemetry in, canonical [`Reading`]s out, nothing lost.
//!
//! Every input record ends in exactly one of two places: a [`Reading`] in
//! [`IngestBatch::readings`] or a [`Quarantined`] entry with its [`Place`] (source and line) and
//! a counted [`Reason`]. [`IngestStats`] always satisfies `seen == accepted + quarantined`.
//!
//! **Decoders.** A decoder is a [`Decode`]: its name and how it decodes an input are all it
//! must say; it may also recognize inputs by their head ([`Decode::detect`], with a
//! [`Confidence`]), read binary files and whole directories. [`Decoders`] holds decoders by
//! name: [`Decoders::builtin`] has every format below, and an embedder adds its own, which are
//! then chosen by name and by detection like the built-in ones ([`Decoders::decode_str`],
//! [`Decoders::decode_path`] for files and trees, [`Decoders::detect`]). The free functions
//! [`decode_str`], [`decode_path`], [`detect`], [`decoder`] and [`decoders`] are the built-in
//! registry's, with a [`Format`] naming a built-in decoder. [`Pushed`] feeds any decoder in
//! pieces.
//!
//! **Admission.** A [`Batch`] (readings, a capture, Prometheus text) is decoded and admitted
//! against an inventory's entities by an [`Admission`]; readings without a known time or
//! entity are quarantined ([`IngestBatch::admit`]), and so are readings a
//! [`TimeGate`](kelvin_model::TimeGate) finds implausibly far from the rest
//! ([`IngestBatch::sift_times`]). This is what the engine runs on every batch.
//!
//! **Live sources.** A batch carries the time of the poll that fetched it
//! ([`Batch::with_poll_time`], [`Batch::prometheus_at`]): records without their own time take
//! it, and the batch knows which readings did ([`IngestBatch::defaulted`]). Against the poll,
//! readings implausibly far off are quarantined ([`IngestBatch::sift_poll`], [`PollBounds`])
//! and a source's clock skew is measured and corrected ([`IngestBatch::clock_offset_ns`],
//! [`IngestBatch::shift_times`]). Workloads that are not in the inventory are learned from
//! the labels of the samples that measure them ([`WorkloadLabels`], [`Sighting`]). A
//! [`QuarantineLog`] keeps a service's quarantine: counts for ever, examples bounded,
//! drained or subscribed to.
//!
//! Formats in this version, each a built-in decoder under a [`Format`]'s snake_case name (what
//! `--format` takes; without it, the input is recognized by content):
//!
//! | module | formats |
//! |---|---|
//! | [`prometheus`] | `prometheus`: exposition text 0.0.4 and OpenMetrics 1.0 (as served by node_exporter, the IPMI exporter, cAdvisor and Kepler), mapped to canonical sensors by a [`RuleSet`] that is plain data (JSON) and can be extended by embedders |
//! | [`ipmi`] | `ipmitool_sensor`, `ipmitool_sdr`, `ipmitool_sdr_elist`, `ipmitool_sdr_verbose`, `ipmitool_dcmi`, `freeipmi_sensors`, `freeipmi_dcmi` |
//! | [`redfish`] | `redfish`: resources, mockups and service dumps |
//! | [`snmp`] | `snmp_walk`: net-snmp walks and snmpsim `.snmprec` files |
//! | [`synse`] | `synse`: Synse / Open DCRE read responses |
//! | [`nvidia`] | `nvidia_smi_query`, `nvidia_smi_pmon`, `nvidia_smi_dmon`: nvidia-smi captures |
//! | [`nvml`] | `nvml_device_csv`, `nvml_process_csv`: the CSV files of an NVML (pynvml) sampler — device power, energy counter, utilization, temperature; per-process SM and memory utilization |
//! | [`csv`], [`parquet`] | `kelvin_csv`, `kelvin_parquet`: Kelvin's own recording layout (in Parquet, the one layout `kelvin-store` exports and imports too) |
//! | [`sysfs`] | `sysfs`: sysfs/procfs trees (hwmon, RAPL, cgroups, `/proc`) |
//!
//! Beside the decoders, [`schedule`] reads a GPU recording's schedule (`events.csv`: phases and
//! the processes run in them) and work counts (`work_*.csv`), the frame the NVML readings are
//! attributed in; a malformed schedule is an error naming the file and the line.
//!
//! Input is bounded, not trusted: every decode call stays within [`Limits`] (sizes, depths,
//! record counts, a per-tree budget and an output budget), so that one call with default
//! limits peaks below 256 MiB of heap; what is over a limit is a counted quarantine record
//! (the repository's `docs/limits.md` derives and measures the budget). The two budgets of a
//! call — records and output heap — are held by the batch every decoder writes into
//! ([`IngestBatch::bounded`]), for built-in and embedders' decoders alike. Only regular files
//! are read: FIFOs and devices are never opened. Every CSV text (Kelvin's layout, the NVML
//! sampler's files, `nvidia-smi --format=csv`) is read by the `csv` crate, after a guard that
//! refuses an over-long record before the crate builds it.
//!
//! ```
//! use kelvin_ingest::{prometheus, RuleSet, ParseOptions};
//!
//! let text = "\
//! ## TYPE ipmi_dcmi_power_consumption_watts gauge
//! ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212 1700000000000
//! ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} 2x.5 1700000000000
//! ";
//! let batch = prometheus::parse_str(text, "scrape.prom", &RuleSet::builtin(), &ParseOptions::default());
//! assert_eq!(batch.readings.len(), 1);
//! assert_eq!(batch.readings[0].entity.as_str(), "h1");
//! assert_eq!(batch.quarantine[0].place.to_string(), "scrape.prom:3");
//! assert_eq!(batch.stats.seen, batch.stats.accepted + batch.stats.quarantined);
//! # Ok::<(), kelvin_ingest::IngestError>(())
//! ```

mod admit;
mod batch;
mod context;
pub mod counter;
pub mod csv;
mod csv_text;
mod decode;
mod error;
mod files;
mod format;
pub mod ipmi;
mod json;
mod normalize;
pub mod nvidia;
pub mod nvml;
pub mod parquet;
mod poll;
pub mod prometheus;
mod quarantine_log;
pub mod redfish;
mod registry;
mod rules;
pub mod schedule;
pub mod scrape;
pub mod snmp;
pub mod synse;
pub mod sysfs;
mod workload;

pub use admit::{Admission, Batch};
pub use batch::{IngestBatch, IngestStats, NoReadings, Quarantined, Reason};
pub use context::{Context, Limits};
pub use decode::{Confidence, Decode, Pushed};
pub use error::{IngestError, IngestErrorKind};
pub use format::{Format, UnknownFormat};
pub use json::json_heap_estimate;
pub use kelvin_model::{Place, Reading};
pub use normalize::Normalizer;
pub use poll::PollBounds;
pub use prometheus::ParseOptions;
pub use quarantine_log::{QuarantineLog, Subscriber, SubscriberId};
pub use registry::{Decoders, decode_path, decode_str, decoder, decoders, detect};
pub use rules::{EntityFrom, MetricRule, RuleFallback, RuleSet};
pub use workload::{Sighting, WorkloadLabels};
