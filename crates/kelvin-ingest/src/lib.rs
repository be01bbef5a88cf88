//! Kelvin ingestion: vendor telemetry in, canonical [`Reading`]s out, nothing lost.
//!
//! Every input record ends in exactly one of two places: a [`Reading`] in
//! [`IngestBatch::readings`] or a [`Quarantined`] entry with its [`Place`] (source and line) and
//! a counted [`Reason`]. [`IngestStats`] always satisfies `seen == accepted + quarantined`.
//!
//! Formats in this version: Prometheus exposition text (format 0.0.4, as served by
//! node_exporter, the IPMI exporter, cAdvisor and Kepler), mapped to canonical sensors by a
//! [`RuleSet`] that is plain data (JSON) and can be extended by embedders.
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

mod batch;
mod context;
pub mod counter;
pub mod csv;
mod decode;
mod dispatch;
mod error;
mod format;
pub mod ipmi;
mod normalize;
pub mod nvidia;
pub mod parquet;
pub mod prometheus;
pub mod redfish;
mod rules;
pub mod scrape;
pub mod snmp;
pub mod synse;
pub mod sysfs;

pub use batch::{IngestBatch, IngestStats, NoReadings, Quarantined, Reason};
pub use context::{Context, Limits};
pub use decode::{Decode, Pushed};
pub use dispatch::{decode_path, decode_str, decoder, decoders, detect};
pub use error::{IngestError, IngestErrorKind};
pub use format::{Format, UnknownFormat};
pub use kelvin_model::{Place, Reading};
pub use normalize::Normalizer;
pub use prometheus::ParseOptions;
pub use rules::{EntityFrom, MetricRule, RuleSet};
