//! What to simulate: the presets ([`SimConfig::edge`], [`SimConfig::enterprise`],
//! [`SimConfig::gpu`], [`SimConfig::scale`], [`SimConfig::churn`]), their `with_*` setters, and
//! the checks a configuration passes before anything is simulated.

use kelvin_model::Timestamp;
use serde::Serialize;

use crate::error::{SimError, config_err};

/// Which generator a [`SimConfig`] drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preset {
    /// The original edge recording: Prometheus text only, one-second physics.
    Edge,
    /// A mixed-vendor enterprise room: component physics, thermal model, vendor captures.
    Enterprise,
    /// A small GPU cluster: the enterprise model plus GPUs, NVML CSVs and DCGM metrics.
    Gpu,
    /// The room model at fleet scale, streamed to disk.
    Scale,
    /// A Kubernetes-like cluster whose pods come and go: the room model with pods arriving as
    /// a Poisson process, lifecycle events and per-pod ground truth.
    Churn,
}

impl Preset {
    /// The name the CLI's `--preset` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Edge => "edge",
            Preset::Enterprise => "enterprise",
            Preset::Gpu => "gpu",
            Preset::Scale => "scale",
            Preset::Churn => "churn",
        }
    }
}

/// Simulation parameters. Start from a preset ([`SimConfig::edge`]) and adjust with the
/// `with_*` setters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SimConfig {
    /// Dataset name (also the site id prefix).
    pub name: String,
    /// Random seed: same seed, same bytes.
    pub seed: u64,
    /// Racks.
    pub racks: usize,
    /// Hosts per rack.
    pub hosts_per_rack: usize,
    /// Running workloads.
    pub workloads: usize,
    /// Workloads waiting to be placed (written with no host).
    pub pending: usize,
    /// Tenants the workloads belong to.
    pub tenants: usize,
    /// Simulated seconds.
    pub duration_s: u32,
    /// Seconds between scrapes.
    pub scrape_s: u32,
    /// Start time (the first scrape).
    pub start: Timestamp,
    /// Probability that one power scrape is missed.
    pub dropout: f64,
    /// Corrupt lines injected into the metrics text (0, 1 or 2).
    pub corrupt_lines: usize,
    /// Whether one workload's container restarts mid-run (its CPU counter resets to zero).
    pub counter_reset: bool,
    /// The generator ([`Preset::Edge`] for the original recording; the others use the room
    /// model of component physics, heat recirculation and vendor captures).
    pub preset: Preset,
    /// Room model: physics step in seconds (divides `scrape_s` and `duration_s`).
    pub step_s: u32,
    /// Room model: seconds between vendor captures (BMC, PDU); 0 writes none. A multiple of
    /// `scrape_s`.
    pub capture_s: u32,
    /// Room model: seconds per row of the interval ground truth (`host_power_truth.csv`,
    /// `facility_truth.csv`); a multiple of `step_s`.
    pub truth_interval_s: u32,
    /// Room model: GPUs per host (0–16).
    pub gpus_per_host: u32,
    /// Room model: the hottest inlet temperature (°C, 15–40) the CRAC supply is set for.
    pub redline_c: f64,
    /// Churn preset: how many hosts are GPU servers with `gpus_per_host` GPUs each (the last
    /// ones; at most the host count). The gpu preset makes every host a GPU server and does not
    /// read this; the others have none.
    pub gpu_hosts: usize,
    /// Churn preset: pods started per host-hour, on average (a Poisson process; 0–1,000).
    pub pod_rate: f64,
}

impl SimConfig {
    /// The edge preset: a "data center in your office" — one room, two racks of three servers,
    /// sixteen workloads of three tenants, one hour scraped every 15 s.
    pub fn edge() -> SimConfig {
        SimConfig {
            name: "edge".into(),
            seed: 7,
            racks: 2,
            hosts_per_rack: 3,
            workloads: 16,
            pending: 5,
            tenants: 3,
            duration_s: 3600,
            scrape_s: 15,
            start: Timestamp::from_secs(1_793_606_400), // 2026-11-02T08:00:00Z
            dropout: 0.01,
            corrupt_lines: 2,
            counter_reset: true,
            preset: Preset::Edge,
            step_s: 1,
            capture_s: 0,
            truth_interval_s: 15,
            gpus_per_host: 0,
            redline_c: 25.0,
            gpu_hosts: 0,
            pod_rate: 0.0,
        }
    }

    /// The enterprise preset: a mixed-vendor room of 4 racks × 6 servers of the three
    /// archetypes (ipmitool, FreeIPMI and Redfish BMCs), Sentry4 rack PDUs over SNMP, 40
    /// running and 6 pending workloads of 3 tenants, one hour scraped every 60 s, captures
    /// every 20 min.
    pub fn enterprise() -> SimConfig {
        SimConfig {
            name: "ent".into(),
            seed: 11,
            racks: 4,
            hosts_per_rack: 6,
            workloads: 40,
            pending: 6,
            tenants: 3,
            duration_s: 3600,
            scrape_s: 60,
            dropout: 0.01,
            preset: Preset::Enterprise,
            step_s: 5,
            capture_s: 1200,
            truth_interval_s: 60,
            ..SimConfig::edge()
        }
    }

    /// The GPU preset: 2 racks × 4 GPU servers with 4 H100-class GPUs each, 12 running and 3
    /// pending workloads (training, inference, notebooks) of 3 tenants, 20 min scraped every
    /// 30 s, NVML device CSVs per GPU, DCGM exporter metrics, captures every 10 min.
    pub fn gpu() -> SimConfig {
        SimConfig {
            name: "gpu".into(),
            seed: 13,
            racks: 2,
            hosts_per_rack: 4,
            workloads: 12,
            pending: 3,
            tenants: 3,
            duration_s: 1200,
            scrape_s: 30,
            dropout: 0.01,
            preset: Preset::Gpu,
            step_s: 5,
            capture_s: 600,
            truth_interval_s: 60,
            gpus_per_host: 4,
            ..SimConfig::edge()
        }
    }

    /// The scale preset: the room model for a fleet (1,000 hosts in racks of 40 by default; see
    /// [`SimConfig::with_hosts`]), three workloads per host, one day at a 60 s step and scrape,
    /// interval truth every 15 min, no captures. Meant for [`crate::simulate_to`], which
    /// streams the files.
    pub fn scale() -> SimConfig {
        SimConfig {
            name: "scale".into(),
            seed: 17,
            racks: 25,
            hosts_per_rack: 40,
            workloads: 3000,
            pending: 100,
            tenants: 8,
            duration_s: 86_400,
            scrape_s: 60,
            dropout: 0.005,
            preset: Preset::Scale,
            step_s: 60,
            capture_s: 0,
            truth_interval_s: 900,
            ..SimConfig::edge()
        }
    }

    /// The churn preset: a Kubernetes-like cluster of 50 hosts in racks of 10 for one day —
    /// 40 CPU servers of the three archetypes and one rack of 10 GPU servers with 4 H100-class
    /// GPUs each — whose pods come and go: about 4.5 pod starts per host-hour (a Poisson
    /// process; lifetimes log-uniform from 5 s to 6 h, plus a few that run all day), about one
    /// in ten a GPU pod holding whole GPUs, of 6 tenants (namespaces). One-second physics, so
    /// that a pod of a few seconds is simulated exactly; scrapes every 30 s; captures every
    /// 20 min; interval truth every minute. Pods are not in `workloads.json`: they appear in the
    /// telemetry's labels, in `pod_events.jsonl` (their lifecycle as the Kubernetes API reports
    /// it) and in the ground truth. Meant for [`crate::simulate_to`].
    pub fn churn() -> SimConfig {
        SimConfig {
            name: "churn".into(),
            seed: 19,
            racks: 5,
            hosts_per_rack: 10,
            workloads: 0,
            pending: 0,
            tenants: 6,
            duration_s: 86_400,
            scrape_s: 30,
            dropout: 0.01,
            counter_reset: false,
            preset: Preset::Churn,
            step_s: 1,
            capture_s: 1200,
            truth_interval_s: 60,
            gpus_per_host: 4,
            gpu_hosts: 10,
            pod_rate: 4.5,
            ..SimConfig::edge()
        }
    }

    /// The preset named `name` (`edge`, `enterprise`, `gpu`, `scale`, `churn`).
    pub fn preset(name: &str) -> Option<SimConfig> {
        match name {
            "edge" => Some(SimConfig::edge()),
            "enterprise" => Some(SimConfig::enterprise()),
            "gpu" => Some(SimConfig::gpu()),
            "scale" => Some(SimConfig::scale()),
            "churn" => Some(SimConfig::churn()),
            _ => None,
        }
    }

    /// Sets the host count: racks of up to 40 (`hosts_per_rack` = min(n, 40), racks rounded
    /// up, so the count is rounded up to whole racks), three running workloads per host for
    /// the scale preset, the others keeping their workload count. The churn preset has racks
    /// of up to 10 and one GPU server in five (rounded up; `n` = 50 gives one rack of 10).
    pub fn with_hosts(mut self, n: usize) -> Self {
        let max_rack = if self.preset == Preset::Churn { 10 } else { 40 };
        let hpr = n.clamp(1, max_rack);
        self.hosts_per_rack = hpr;
        self.racks = n.div_ceil(hpr).max(1);
        if self.preset == Preset::Scale {
            self.workloads = 3 * self.racks * hpr;
            self.pending = self.workloads / 30;
        }
        if self.preset == Preset::Churn {
            self.gpu_hosts = (self.racks * hpr).div_ceil(5);
        }
        self
    }

    /// Sets the churn preset's pod starts per host-hour.
    pub fn with_pod_rate(mut self, per_host_hour: f64) -> Self {
        self.pod_rate = per_host_hour;
        self
    }

    /// How many hosts are GPU servers: every host for the gpu preset, `gpu_hosts` (at most the
    /// host count) for the churn preset, none otherwise (nor when `gpus_per_host` is 0).
    pub(crate) fn gpu_host_count(&self) -> usize {
        let n = self.racks.saturating_mul(self.hosts_per_rack);
        match self.preset {
            _ if self.gpus_per_host == 0 => 0,
            Preset::Churn => self.gpu_hosts.min(n),
            Preset::Edge => 0,
            _ => n,
        }
    }

    /// Sets the seconds between vendor captures (0: none).
    pub fn with_capture_s(mut self, s: u32) -> Self {
        self.capture_s = s;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the simulated duration in seconds.
    pub fn with_duration_s(mut self, s: u32) -> Self {
        self.duration_s = s;
        self
    }

    /// Sets the fleet size.
    pub fn with_fleet(mut self, racks: usize, hosts_per_rack: usize, workloads: usize) -> Self {
        self.racks = racks;
        self.hosts_per_rack = hosts_per_rack;
        self.workloads = workloads;
        self
    }

    /// Sets the number of injected corrupt lines.
    pub fn with_corrupt_lines(mut self, n: usize) -> Self {
        self.corrupt_lines = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), SimError> {
        // Entity ids are built from the name; the longest is "<name>-r<racks>-h<hosts>-pdu".
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(config_err(
                "name",
                format!(
                    "{:?} must be 1-128 ASCII letters, digits, '-' or '_'",
                    self.name
                ),
            ));
        }
        if self.racks == 0 || self.hosts_per_rack == 0 {
            return Err(config_err("racks", "at least one rack with one host"));
        }
        if self.scrape_s == 0 || self.duration_s < 2 * self.scrape_s {
            return Err(config_err(
                "duration_s",
                "the run must span at least two scrape intervals",
            ));
        }
        if self.tenants == 0 {
            return Err(config_err("tenants", "at least one tenant"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(config_err("dropout", "a probability below 1"));
        }
        if self.corrupt_lines > 2 {
            return Err(config_err("corrupt_lines", "at most 2"));
        }
        if self.preset != Preset::Edge {
            self.validate_room()?;
        }
        Ok(())
    }

    /// Checks the room-model fields.
    fn validate_room(&self) -> Result<(), SimError> {
        if self.step_s == 0
            || !self.scrape_s.is_multiple_of(self.step_s)
            || !self.duration_s.is_multiple_of(self.step_s)
        {
            return Err(config_err(
                "step_s",
                "a positive divisor of scrape_s and duration_s",
            ));
        }
        if !self.capture_s.is_multiple_of(self.scrape_s) {
            return Err(config_err("capture_s", "0 or a multiple of scrape_s"));
        }
        if self.truth_interval_s == 0 || !self.truth_interval_s.is_multiple_of(self.step_s) {
            return Err(config_err(
                "truth_interval_s",
                "a positive multiple of step_s",
            ));
        }
        if self.gpus_per_host > 16 {
            return Err(config_err("gpus_per_host", "at most 16"));
        }
        if self.racks.saturating_mul(self.hosts_per_rack) > 100_000 {
            return Err(config_err("racks", "at most 100,000 hosts"));
        }
        if self.workloads + self.pending > 1_000_000 {
            return Err(config_err("workloads", "at most 1,000,000 workloads"));
        }
        if self.duration_s > 31 * 86_400 {
            return Err(config_err("duration_s", "at most 31 days"));
        }
        if !(15.0..=40.0).contains(&self.redline_c) {
            return Err(config_err("redline_c", "between 15 and 40 °C"));
        }
        if self.preset == Preset::Churn {
            self.validate_churn()?;
        }
        Ok(())
    }

    /// Checks the churn preset's fields.
    fn validate_churn(&self) -> Result<(), SimError> {
        if !(0.0..=1000.0).contains(&self.pod_rate) {
            return Err(config_err(
                "pod_rate",
                "between 0 and 1,000 pods per host-hour",
            ));
        }
        let hosts = self.racks.saturating_mul(self.hosts_per_rack) as f64;
        if self.pod_rate * hosts * f64::from(self.duration_s) / 3600.0 > 1_000_000.0 {
            return Err(config_err(
                "pod_rate",
                "at most 1,000,000 pods expected over the run",
            ));
        }
        if self.gpu_hosts > 0 && self.gpus_per_host == 0 {
            return Err(config_err(
                "gpus_per_host",
                "GPU hosts need at least one GPU each",
            ));
        }
        Ok(())
    }
}
