//! Integration tests for `kelvin-ingest`, one binary. Conformance tests read real captures from
//! `../shared/corpus` through `support::corpus` and skip, saying so, when it is absent.
//!
//! - `corpus`: the whole shared ingest corpus through format detection, file by file and tree
//!   by tree.
//! - `prometheus`: exposition text from real exporters.
//! - `ipmi`: ipmitool and FreeIPMI captures from several vendors.
//! - `ipmi_sim`: the real tools against OpenIPMI's simulated BMC (skipped when not installed).
//! - `redfish`: DMTF mockups and vendor responses, resources and whole trees.
//! - `misc`: SNMP walks, Synse/Open DCRE, nvidia-smi, Kelvin CSV (with round-trips).
//! - `nvml`: the CSV files of an NVML sampler, from a real H100 recording in
//!   `../shared/recordings` (skipped, saying so, when it is absent).
//! - `parquet`: Kelvin's one Parquet layout through `kelvin_parquet`: the committed files of
//!   both crates (`write_parquet`'s and `kelvin-store`'s export, this version and the layouts
//!   before it), data-frame files, and files and rows that are not the layout.
//! - `sysfs`: sysfs/procfs trees (hwmon, RAPL, cgroups, /proc) and counters.
//! - `scrape`: live HTTP sources (loopback servers, a real node exporter when installed).
//! - `hostile`: property tests feeding arbitrary and adversarial bytes to every decoder.
//! - `live`: what a live service needs: poll times on every batch kind, plausibility and clock
//!   skew relative to the poll (the enterprise dataset's skewed BMC, the corpus' DCMI
//!   captures), workloads from telemetry labels, and a bounded quarantine log.
//! - `extend`: an embedder's decoder, written with the public API only, registered in a
//!   `Decoders` and used by name and by detection.

mod corpus;
mod extend;
mod hostile;
mod https;
mod ipmi;
mod ipmi_sim;
mod live;
mod misc;
mod nvml;
mod openmetrics;
mod parquet;
mod prometheus;
mod redfish;
mod scrape;
mod support;
mod sysfs;
