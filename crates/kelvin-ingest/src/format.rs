//! The names of the built-in decoders.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every input format Kelvin's built-in decoders read: a typed name for each of them. The
/// snake_case name ([`Format::as_str`]) is the [`crate::Decode::name`] of its decoder in
/// [`crate::Decoders::builtin`] and what `--format` takes. Decoders an embedder registers have
/// names of their own and no `Format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Format {
    /// Prometheus / OpenMetrics exposition text.
    Prometheus,
    /// `ipmitool sensor` (the wide pipe table with thresholds).
    IpmitoolSensor,
    /// `ipmitool sdr` / `sdr list`.
    IpmitoolSdr,
    /// `ipmitool sdr elist` (with record ids and entity ids).
    IpmitoolSdrElist,
    /// `ipmitool sdr -v` / `sdr list -v` (one block per record).
    IpmitoolSdrVerbose,
    /// `ipmitool dcmi power reading`.
    IpmitoolDcmi,
    /// FreeIPMI `ipmi-sensors` (with or without the "Caching SDR" preamble).
    FreeipmiSensors,
    /// FreeIPMI `ipmi-dcmi --get-system-power-statistics` (plain or enhanced).
    FreeipmiDcmi,
    /// Redfish JSON resources (or a mockup / service dump tree).
    Redfish,
    /// SNMP walk text (net-snmp `snmpwalk -On` output or snmpsim `.snmprec`).
    SnmpWalk,
    /// Synse / Open DCRE JSON read responses (v1 and v3).
    Synse,
    /// `nvidia-smi --query-gpu=… --format=csv`.
    NvidiaSmiQuery,
    /// `nvidia-smi pmon`.
    NvidiaSmiPmon,
    /// `nvidia-smi dmon`.
    NvidiaSmiDmon,
    /// An NVML sampler's device CSV (`t_unix_ns,power_mw,…`; see [`crate::nvml`]).
    NvmlDeviceCsv,
    /// An NVML sampler's per-process utilization CSV (`t_unix_ns,pid,sample_ts_us,…`; see
    /// [`crate::nvml`]).
    NvmlProcessCsv,
    /// Kelvin's own CSV column layout.
    KelvinCsv,
    /// Kelvin's own layout in Parquet (binary; read from files by [`crate::decode_path`]).
    KelvinParquet,
    /// A Linux sysfs/procfs tree (hwmon, powercap RAPL, cgroup v2, `/proc/<pid>`).
    Sysfs,
}

impl Format {
    /// Every format, in declaration order.
    pub const ALL: [Format; 19] = [
        Format::Prometheus,
        Format::IpmitoolSensor,
        Format::IpmitoolSdr,
        Format::IpmitoolSdrElist,
        Format::IpmitoolSdrVerbose,
        Format::IpmitoolDcmi,
        Format::FreeipmiSensors,
        Format::FreeipmiDcmi,
        Format::Redfish,
        Format::SnmpWalk,
        Format::Synse,
        Format::NvidiaSmiQuery,
        Format::NvidiaSmiPmon,
        Format::NvidiaSmiDmon,
        Format::NvmlDeviceCsv,
        Format::NvmlProcessCsv,
        Format::KelvinCsv,
        Format::KelvinParquet,
        Format::Sysfs,
    ];

    /// The name `--format` takes: its decoder's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Prometheus => "prometheus",
            Format::IpmitoolSensor => "ipmitool_sensor",
            Format::IpmitoolSdr => "ipmitool_sdr",
            Format::IpmitoolSdrElist => "ipmitool_sdr_elist",
            Format::IpmitoolSdrVerbose => "ipmitool_sdr_verbose",
            Format::IpmitoolDcmi => "ipmitool_dcmi",
            Format::FreeipmiSensors => "freeipmi_sensors",
            Format::FreeipmiDcmi => "freeipmi_dcmi",
            Format::Redfish => "redfish",
            Format::SnmpWalk => "snmp_walk",
            Format::Synse => "synse",
            Format::NvidiaSmiQuery => "nvidia_smi_query",
            Format::NvidiaSmiPmon => "nvidia_smi_pmon",
            Format::NvidiaSmiDmon => "nvidia_smi_dmon",
            Format::NvmlDeviceCsv => "nvml_device_csv",
            Format::NvmlProcessCsv => "nvml_process_csv",
            Format::KelvinCsv => "kelvin_csv",
            Format::KelvinParquet => "kelvin_parquet",
            Format::Sysfs => "sysfs",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `--format` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, UnknownFormat> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        }
        assert!("ipmi".parse::<Format>().is_err());
    }
}
