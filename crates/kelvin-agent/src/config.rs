//! The agent's configuration file (TOML), read, checked and turned into typed source specs.
//!
//! The keys are an interface scripts depend on: `listen`, `data_dir`, `inventory`,
//! `attribution_interval_s`, `[[sources]]` (`name`, `kind`, `interval_s`, `entity` and the
//! keys of each kind), `[remote_write]` (`url`, `interval_s`) and `[export]` (`root`, `site`,
//! `interval_s`). Every error names the key and the reason; a file other users can read (the
//! configuration or a password file) is refused, and secrets are never printed ([`Secret`]).
//!
//! ```
//! use kelvin_agent::config::{Config, Kind};
//! let cfg = Config::from_toml_str(r#"
//!     data_dir = "/var/lib/kelvin"
//!     [[sources]]
//!     name = "node"
//!     kind = "prometheus"
//!     url = "http://127.0.0.1:9100/metrics"
//!     entity = "h1"
//!     interval_s = 15
//! "#, "agent.toml")?;
//! assert_eq!(cfg.listen.to_string(), "127.0.0.1:9464");
//! let sources = cfg.sources()?;
//! assert!(matches!(sources[0].kind, Kind::Prometheus { .. }));
//! assert_eq!(sources[0].schedule.interval.as_secs(), 15);
//! # Ok::<(), kelvin_agent::config::ConfigError>(())
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A configuration that cannot be used: the file, the key and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {reason}")]
pub struct ConfigError {
    /// The file, and the key where one is to blame (`agent.toml: sources[2] "bmc".host`).
    pub place: String,
    /// What is wrong, and what to do about it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(place: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            place: place.into(),
            reason: reason.into(),
        }
    }
}

/// A secret (a password, a community, a token): its `Debug` and `Display` print `***`, so
/// it cannot reach a log, an error or a label by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `/metrics`, `/healthz`, `/readyz` and (without `[api]`) the bills API listen.
    /// Default `127.0.0.1:9464`: nothing is exposed beyond the machine unless told so.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The live engine's directory: its store, its journal, the agent's counters and the
    /// remote-write queue.
    pub data_dir: PathBuf,
    /// A JSON inventory (the datasets' `inventory.json`). Optional: without it, each source's
    /// `entity` becomes a host when the agent starts.
    #[serde(default)]
    pub inventory: Option<PathBuf>,
    /// The attribution interval, seconds (default 60).
    #[serde(default = "default_interval")]
    pub attribution_interval_s: u32,
    /// The longest gap between two readings of a meter that is interpolated across, seconds
    /// (default: four times the longest source interval, at least 30). An interval closes
    /// only once every source is this far past it (plus `lateness_s`), so it is also how long
    /// the figures trail the present.
    #[serde(default)]
    pub max_gap_s: Option<u32>,
    /// Seconds a source may lag before the engine closes intervals without it (default 120).
    #[serde(default = "default_lateness")]
    pub lateness_s: u32,
    /// The facility's power usage effectiveness, for the overhead figures (default none).
    #[serde(default)]
    pub pue: Option<f64>,
    /// Grid carbon intensity, gCO2e per kWh, for the carbon figures (default none).
    #[serde(default)]
    pub carbon_g_per_kwh: Option<f64>,
    /// The attribution policy by name (default `two_part_tariff`): `allocation` bills a
    /// node's whole energy by reserved cores, for Slurm jobs that carry no usage signal
    /// ([`kelvin::Policy`] lists them all).
    #[serde(default)]
    pub policy: Option<String>,
    /// Polls running at once (default 16): a hanging source holds one until its timeout.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// The sources.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Prometheus remote write, when set.
    #[serde(default)]
    pub remote_write: Option<RemoteWriteConfig>,
    /// The bills API on its own listener, with TLS and a bearer token.
    #[serde(default)]
    pub api: Option<ApiConfig>,
    /// The fleet export on a schedule, when set.
    #[serde(default)]
    pub export: Option<ExportConfig>,
    /// The Kubernetes scheduler extender's verbs, when set.
    #[serde(default)]
    pub scheduler: Option<SchedulerConfig>,
}

/// `[scheduler]`: the Kubernetes scheduler extender's verbs (`POST {prefix}/filter`,
/// `POST {prefix}/prioritize`), answered from the engine's fleet. They take the API's access:
/// open on a loopback listener (a sidecar of kube-scheduler), on the `[api]` listener with
/// TLS and the bearer token otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// The verbs' path prefix, the extender's `urlPrefix` path (default `/scheduler`).
    #[serde(default = "default_scheduler_prefix")]
    pub prefix: String,
    /// Write each prioritize decision and its breakdown to the log (default true).
    #[serde(default = "default_true")]
    pub log_decisions: bool,
    /// How far back the fleet's measured power and utilization reach, seconds (default 900:
    /// the 15 minutes the load-watcher serves). The view is rebuilt as intervals close.
    #[serde(default = "default_view_window")]
    pub view_window_s: u32,
    /// Slurm jobs as workloads, when set (`[scheduler.slurm]`).
    #[serde(default)]
    pub slurm: Option<SlurmConfig>,
}

/// `[scheduler.slurm]`: the jobs of a Slurm cluster whose nodes the agent meters, as
/// workloads (each job's energy on shared nodes through the ledger), and their reports.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// The cluster's `slurm.conf` (passed as `SLURM_CONF`; default: Slurm's own default).
    #[serde(default)]
    pub conf: Option<PathBuf>,
    /// Where `squeue`, `sinfo` and `scontrol` are (default: the `PATH`).
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
    /// Seconds between polls of Slurm (default 10).
    #[serde(default = "default_slurm_poll")]
    pub poll_s: f64,
    /// Seconds a Slurm command may take (default 10).
    #[serde(default = "default_slurm_timeout")]
    pub timeout_s: f64,
    /// The `jobcomp/filetxt` log (`JobCompLoc`), for ended jobs' end times (default: none;
    /// a job's end is then the poll that saw it gone).
    #[serde(default)]
    pub jobcomp: Option<PathBuf>,
    /// Where each ended job's energy report goes, `job-ID.json` (default
    /// `DATA_DIR/slurm-jobs`).
    #[serde(default)]
    pub report_dir: Option<PathBuf>,
    /// Write each running job's energy so far into its `AdminComment` as intervals close
    /// (default false; Slurm takes it only while the job runs).
    #[serde(default)]
    pub admin_comment: bool,
    /// Set the metered nodes' `Weight` from Kelvin's placement each poll (default false):
    /// the node where a one-core job costs the least facility power gets the lowest weight,
    /// which Slurm prefers. Slurm forgets such weights on `scontrol reconfigure`.
    #[serde(default)]
    pub node_weights: bool,
}

fn default_slurm_poll() -> f64 {
    10.0
}
fn default_slurm_timeout() -> f64 {
    10.0
}

fn default_scheduler_prefix() -> String {
    "/scheduler".into()
}
fn default_true() -> bool {
    true
}
fn default_view_window() -> u32 {
    900
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}
fn default_interval() -> u32 {
    60
}
fn default_lateness() -> u32 {
    120
}
fn default_workers() -> usize {
    16
}

/// `[api]`: the bills API (and, later, the scheduler endpoints) when exposed beyond loopback.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Its own address.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub tls_cert: PathBuf,
    /// PEM private key (a file only its owner can read).
    pub tls_key: PathBuf,
    /// A file holding the bearer token clients must send (only its owner can read it).
    pub token_file: PathBuf,
}

/// `[export]`: the engine's readings and closed bills written as Hive-partitioned Parquet
/// every `interval_s` (docs/fleet-data.md), incrementally: each run rewrites the last day it
/// wrote and the days after.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// The partition root, shared by the fleet's agents (`ROOT/readings/site=…/date=…/`).
    pub root: PathBuf,
    /// This agent's site: its `site=` partition (letters, digits, `.`, `_`, `-`).
    pub site: String,
    /// Seconds between runs (default 3600, at least 1).
    #[serde(default = "default_export_interval")]
    pub interval_s: f64,
}

fn default_export_interval() -> f64 {
    3600.0
}

/// `[remote_write]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver (`http://host:9090/api/v1/write`).
    pub url: String,
    /// Seconds between pushes (default 15).
    #[serde(default = "default_rw_interval")]
    pub interval_s: f64,
    /// Largest on-disk queue, bytes (default 64 MiB); past it the oldest is dropped, counted.
    #[serde(default = "default_rw_queue")]
    pub max_queue_bytes: u64,
    /// A CA file for an HTTPS receiver.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A file holding a bearer token for the receiver.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

fn default_rw_interval() -> f64 {
    15.0
}
fn default_rw_queue() -> u64 {
    64 << 20
}

/// One `[[sources]]` table as written; [`Config::sources`] checks it into a [`SourceSpec`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Its name, unique, used in metrics labels and quarantine places.
    pub name: String,
    /// `prometheus`, `ipmitool`, `freeipmi`, `redfish`, `snmp`, `sysfs`, `nvml`, `command`.
    pub kind: String,
    /// Seconds between polls (default 15).
    pub interval_s: Option<f64>,
    /// The host it describes (a BMC's host, an exporter's node).
    pub entity: Option<String>,
    /// Seconds one attempt may take (default: the interval, at most 10).
    pub timeout_s: Option<f64>,
    /// Attempts after a failed one (default 1).
    pub retries: Option<u32>,
    /// Pause before the first retry, seconds, doubled after (default 0.5).
    pub backoff_s: Option<f64>,
    /// Largest response, bytes (default 16 MiB).
    pub max_bytes: Option<u64>,
    /// `prometheus`, `redfish`: the URL.
    pub url: Option<String>,
    /// `ipmitool`, `freeipmi`, `snmp`: the device's address.
    pub host: Option<String>,
    /// Its port (IPMI 623, SNMP 161).
    pub port: Option<u16>,
    /// `ipmitool`, `freeipmi`: `lan` or `lanplus` (default `lanplus`).
    pub interface: Option<String>,
    /// `ipmitool`, `freeipmi`, `redfish`: the user.
    pub username: Option<String>,
    /// `ipmitool`, `freeipmi`, `redfish`: a file holding the password (owner-only).
    pub password_file: Option<PathBuf>,
    /// `redfish`: a CA certificate (PEM) to trust for its HTTPS.
    pub ca_file: Option<PathBuf>,
    /// `redfish`: accept any certificate. An explicit, logged opt-in.
    pub insecure: Option<bool>,
    /// `redfish`: `session` (default) or `basic`.
    pub auth: Option<String>,
    /// `snmp`: a v2c community.
    pub community: Option<String>,
    /// `snmp`: a file of v3 credentials (`user`, `auth_protocol`, `auth_password`,
    /// `priv_protocol`, `priv_password`, `security_level`, one `key = value` a line).
    pub v3_file: Option<PathBuf>,
    /// `snmp`: the subtree walked (default the UPS-MIB, `1.3.6.1.2.1.33`; a Sentry4 PDU is
    /// `1.3.6.1.4.1.1718.4`): what Kelvin's SNMP decoder reads.
    pub oid: Option<String>,
    /// `sysfs`: the root (default `/`), `nvml`: the sampler's directory.
    pub path: Option<PathBuf>,
    /// `command`: the program and its arguments.
    pub command: Option<Vec<String>>,
    /// `command`: the decoder of its output (default: detected).
    pub format: Option<String>,
}

/// How a source is polled.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Between polls.
    pub interval: Duration,
    /// One attempt's limit.
    pub timeout: Duration,
    /// Attempts after a failed one.
    pub retries: u32,
    /// Pause before the first retry (doubled after each).
    pub backoff: Duration,
    /// Largest response kept.
    pub max_bytes: u64,
}

impl Schedule {
    /// After this long without a good poll, a source is marked stale (`kelvin_source_up` 0
    /// and `kelvin_source_stale` 1): three intervals.
    pub fn stale_after(&self) -> Duration {
        self.interval * 3
    }
}

/// IPMI over the network.
#[derive(Debug, Clone, PartialEq)]
pub struct IpmiTarget {
    /// BMC address.
    pub host: String,
    /// Port (623).
    pub port: u16,
    /// `lan` or `lanplus`.
    pub interface: String,
    /// User.
    pub username: String,
    /// Password file (checked owner-only).
    pub password_file: PathBuf,
}

/// What a source reads, by kind.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Kind {
    /// A Prometheus or OpenMetrics endpoint.
    Prometheus {
        /// Its URL.
        url: String,
    },
    /// `ipmitool sensor` (and DCMI power) against a BMC.
    Ipmitool(IpmiTarget),
    /// FreeIPMI's `ipmi-sensors` (and `ipmi-dcmi`) against a BMC.
    Freeipmi(IpmiTarget),
    /// A Redfish service, crawled.
    Redfish {
        /// `https://bmc` (or `http://` on a lab network).
        url: String,
        /// User.
        username: Option<String>,
        /// Password, read from its file.
        password: Option<Secret>,
        /// CA file.
        ca_file: Option<PathBuf>,
        /// Any certificate accepted.
        insecure: bool,
        /// Session (`true`) or basic authentication.
        session: bool,
    },
    /// An SNMP agent, walked.
    Snmp {
        /// Address.
        host: String,
        /// Port (161).
        port: u16,
        /// v2c community or v3 credentials.
        auth: SnmpAuth,
        /// The subtree walked.
        oid: String,
    },
    /// A local sysfs/procfs root: hwmon, RAPL, cgroups, processes.
    Sysfs {
        /// The root (`/` on the host itself).
        root: PathBuf,
    },
    /// NVML sampler files.
    Nvml {
        /// The sampler's directory.
        dir: PathBuf,
    },
    /// Any program whose output a decoder knows.
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Its decoder (`None`: detected).
        format: Option<String>,
    },
}

/// SNMP credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpAuth {
    /// v2c.
    Community(Secret),
    /// v3: the credentials file's `key = value` lines.
    V3(Vec<(String, Secret)>),
}

/// A checked source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// Its name.
    pub name: String,
    /// The host it describes.
    pub entity: Option<String>,
    /// How it is polled.
    pub schedule: Schedule,
    /// What it reads.
    pub kind: Kind,
}

impl Config {
    /// Reads and checks the file at `path`: it must be readable by its owner only.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file (and key) for an unreadable, shared or malformed file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        check_private(path)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
        let mut cfg = Config::from_toml_str(&text, &path.display().to_string())?;
        // Relative paths in the file are relative to the file.
        if let Some(dir) = path.parent() {
            cfg.resolve_relative(dir);
        }
        Ok(cfg)
    }

    /// Parses a configuration's text; `name` is the file named in errors.
    ///
    /// # Errors
    /// [`ConfigError`] with the line, column and key of the first mistake.
    pub fn from_toml_str(text: &str, name: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!("{name}:{line}")
                })
                .unwrap_or_else(|| name.to_string());
            ConfigError::new(at, e.message().to_string())
        })?;
        if cfg.attribution_interval_s == 0 {
            return Err(ConfigError::new(
                format!("{name}: attribution_interval_s"),
                "must be at least 1",
            ));
        }
        if let Some(p) = cfg
            .policy
            .as_deref()
            .filter(|p| kelvin::Policy::from_name(p).is_none())
        {
            let names: Vec<&str> = kelvin::Policy::ALL.iter().map(|p| p.name()).collect();
            return Err(ConfigError::new(
                format!("{name}: policy"),
                format!("{p:?} is not a policy; one of {}", names.join(", ")),
            ));
        }
        if cfg.pue.is_some_and(|p| !(p.is_finite() && p >= 1.0)) {
            return Err(ConfigError::new(
                format!("{name}: pue"),
                "must be at least 1",
            ));
        }
        if cfg
            .carbon_g_per_kwh
            .is_some_and(|c| !(c.is_finite() && c >= 0.0))
        {
            return Err(ConfigError::new(
                format!("{name}: carbon_g_per_kwh"),
                "must be a number of at least 0",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in cfg.sources.iter().enumerate() {
            if s.name.is_empty() || !seen.insert(s.name.as_str()) {
                return Err(ConfigError::new(
                    format!("{name}: sources[{i}].name"),
                    format!("{:?} is empty or used twice: names must be unique", s.name),
                ));
            }
        }
        if let Some(rw) = &cfg.remote_write
            && !(rw.interval_s.is_finite() && rw.interval_s >= 0.1)
        {
            return Err(ConfigError::new(
                format!("{name}: remote_write.interval_s"),
                "must be at least 0.1",
            ));
        }
        if let Some(ex) = &cfg.export {
            if !(ex.interval_s.is_finite() && ex.interval_s >= 1.0) {
                return Err(ConfigError::new(
                    format!("{name}: export.interval_s"),
                    "must be at least 1",
                ));
            }
            kelvin::export::ExportOptions::new(&ex.root, ex.site.as_str())
                .check()
                .map_err(|e| ConfigError::new(format!("{name}: export.site"), e.to_string()))?;
        }
        if let Some(sc) = &cfg.scheduler {
            if !sc.prefix.starts_with('/') || sc.prefix.len() < 2 {
                return Err(ConfigError::new(
                    format!("{name}: scheduler.prefix"),
                    format!("{:?} must be a path such as \"/scheduler\"", sc.prefix),
                ));
            }
            if let Some(sl) = &sc.slurm {
                for (key, v) in [("poll_s", sl.poll_s), ("timeout_s", sl.timeout_s)] {
                    if !(v.is_finite() && (0.1..=86_400.0).contains(&v)) {
                        return Err(ConfigError::new(
                            format!("{name}: scheduler.slurm.{key}"),
                            "must be between 0.1 and 86400 seconds",
                        ));
                    }
                }
            }
        }
        Ok(cfg)
    }

    fn resolve_relative(&mut self, dir: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        if let Some(p) = &mut self.inventory {
            fix(p);
        }
        if let Some(api) = &mut self.api {
            fix(&mut api.tls_cert);
            fix(&mut api.tls_key);
            fix(&mut api.token_file);
        }
        if let Some(ex) = &mut self.export {
            fix(&mut ex.root);
        }
        if let Some(rw) = &mut self.remote_write {
            rw.ca_file.as_mut().map(fix);
            rw.token_file.as_mut().map(fix);
        }
        if let Some(sl) = self.scheduler.as_mut().and_then(|s| s.slurm.as_mut()) {
            for p in [
                &mut sl.conf,
                &mut sl.bin_dir,
                &mut sl.jobcomp,
                &mut sl.report_dir,
            ] {
                p.as_mut().map(fix);
            }
        }
        for s in &mut self.sources {
            [
                &mut s.password_file,
                &mut s.ca_file,
                &mut s.v3_file,
                &mut s.path,
            ]
            .into_iter()
            .flatten()
            .for_each(fix);
        }
    }

    /// The attribution policy in force: `policy`, or the two-part tariff.
    pub fn ledger_policy(&self) -> kelvin::Policy {
        self.policy
            .as_deref()
            .and_then(kelvin::Policy::from_name)
            .unwrap_or_default()
    }

    /// The interpolation gap in force: `max_gap_s`, or four times the longest source
    /// interval, at least 30 s.
    pub fn max_gap_secs(&self) -> u32 {
        self.max_gap_s.unwrap_or_else(|| {
            let longest = self
                .sources
                .iter()
                .map(|s| s.interval_s.unwrap_or(15.0))
                .fold(0.0, f64::max);
            ((4.0 * longest).ceil() as u32).max(30)
        })
    }

    /// The sources, checked: each kind's required keys present, no key of another kind, and
    /// password files readable by their owner only.
    ///
    /// # Errors
    /// [`ConfigError`] naming `sources[i] "name".key`.
    pub fn sources(&self) -> Result<Vec<SourceSpec>, ConfigError> {
        self.sources
            .iter()
            .enumerate()
            .map(|(i, s)| s.check(i))
            .collect()
    }
}

/// The keys each kind takes besides the common ones.
const KIND_KEYS: &[(&str, &[&str])] = &[
    ("prometheus", &["url"]),
    (
        "ipmitool",
        &["host", "port", "interface", "username", "password_file"],
    ),
    (
        "freeipmi",
        &["host", "port", "interface", "username", "password_file"],
    ),
    (
        "redfish",
        &[
            "url",
            "username",
            "password_file",
            "ca_file",
            "insecure",
            "auth",
        ],
    ),
    ("snmp", &["host", "port", "community", "v3_file", "oid"]),
    ("sysfs", &["path"]),
    ("nvml", &["path"]),
    ("command", &["command", "format"]),
];

impl SourceConfig {
    /// The kind-specific keys that are set.
    fn set_keys(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut put = |k: &'static str, set: bool| {
            if set {
                out.push(k);
            }
        };
        put("url", self.url.is_some());
        put("host", self.host.is_some());
        put("port", self.port.is_some());
        put("interface", self.interface.is_some());
        put("username", self.username.is_some());
        put("password_file", self.password_file.is_some());
        put("ca_file", self.ca_file.is_some());
        put("insecure", self.insecure.is_some());
        put("auth", self.auth.is_some());
        put("community", self.community.is_some());
        put("v3_file", self.v3_file.is_some());
        put("oid", self.oid.is_some());
        put("path", self.path.is_some());
        put("command", self.command.is_some());
        put("format", self.format.is_some());
        out
    }

    fn check(&self, i: usize) -> Result<SourceSpec, ConfigError> {
        let at = |key: &str| format!("sources[{i}] {:?}.{key}", self.name);
        let Some((_, allowed)) = KIND_KEYS.iter().find(|(k, _)| *k == self.kind) else {
            let kinds: Vec<&str> = KIND_KEYS.iter().map(|(k, _)| *k).collect();
            return Err(ConfigError::new(
                at("kind"),
                format!("{:?} is not a kind: one of {}", self.kind, kinds.join(", ")),
            ));
        };
        if let Some(k) = self.set_keys().into_iter().find(|k| !allowed.contains(k)) {
            return Err(ConfigError::new(
                at(k),
                format!("does not apply to a {} source", self.kind),
            ));
        }
        let schedule = self.schedule(&at)?;
        let need = |v: &Option<String>, key: &str| {
            v.clone().ok_or_else(|| {
                ConfigError::new(at(key), format!("a {} source needs it", self.kind))
            })
        };
        let kind = match self.kind.as_str() {
            "prometheus" => Kind::Prometheus {
                url: need(&self.url, "url")?,
            },
            "ipmitool" | "freeipmi" => {
                let t = IpmiTarget {
                    host: need(&self.host, "host")?,
                    port: self.port.unwrap_or(623),
                    interface: match self.interface.as_deref().unwrap_or("lanplus") {
                        i @ ("lan" | "lanplus") => i.to_string(),
                        other => {
                            return Err(ConfigError::new(
                                at("interface"),
                                format!("{other:?}: lan or lanplus"),
                            ));
                        }
                    },
                    username: need(&self.username, "username")?,
                    password_file: self.password_file.clone().ok_or_else(|| {
                        ConfigError::new(at("password_file"), "an IPMI source needs it")
                    })?,
                };
                read_secret(&t.password_file)?;
                if self.kind == "ipmitool" {
                    Kind::Ipmitool(t)
                } else {
                    Kind::Freeipmi(t)
                }
            }
            "redfish" => self.redfish(&at)?,
            "snmp" => self.snmp(&at)?,
            "sysfs" => Kind::Sysfs {
                root: self.path.clone().unwrap_or_else(|| PathBuf::from("/")),
            },
            "nvml" => Kind::Nvml {
                dir: self.path.clone().ok_or_else(|| {
                    ConfigError::new(at("path"), "an nvml source needs the sampler's directory")
                })?,
            },
            _ => {
                let argv = self.command.clone().unwrap_or_default();
                if argv.is_empty() {
                    return Err(ConfigError::new(
                        at("command"),
                        "a command source needs a program",
                    ));
                }
                Kind::Command {
                    argv,
                    format: self.format.clone(),
                }
            }
        };
        Ok(SourceSpec {
            name: self.name.clone(),
            entity: self.entity.clone(),
            schedule,
            kind,
        })
    }

    fn schedule(&self, at: &dyn Fn(&str) -> String) -> Result<Schedule, ConfigError> {
        let secs = |v: Option<f64>, key: &str, dflt: f64, min: f64| {
            let v = v.unwrap_or(dflt);
            if v.is_finite() && v >= min && v <= 86_400.0 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(ConfigError::new(
                    at(key),
                    format!("{v} s: between {min} s and a day"),
                ))
            }
        };
        let interval = secs(self.interval_s, "interval_s", 15.0, 0.1)?;
        let timeout = secs(
            self.timeout_s,
            "timeout_s",
            interval.as_secs_f64().min(10.0),
            0.05,
        )?;
        Ok(Schedule {
            interval,
            timeout,
            retries: self.retries.unwrap_or(1).min(10),
            backoff: secs(self.backoff_s, "backoff_s", 0.5, 0.0)?,
            max_bytes: self.max_bytes.unwrap_or(16 << 20),
        })
    }

    fn redfish(&self, at: &dyn Fn(&str) -> String) -> Result<Kind, ConfigError> {
        let url = self
            .url
            .clone()
            .ok_or_else(|| ConfigError::new(at("url"), "a redfish source needs it"))?;
        let password = match &self.password_file {
            Some(p) => Some(read_secret(p)?),
            None => None,
        };
        let session = match self.auth.as_deref().unwrap_or("session") {
            "session" => true,
            "basic" => false,
            other => {
                return Err(ConfigError::new(
                    at("auth"),
                    format!("{other:?}: session or basic"),
                ));
            }
        };
        if self.insecure == Some(true) && self.ca_file.is_some() {
            return Err(ConfigError::new(
                at("insecure"),
                "set either ca_file or insecure, not both",
            ));
        }
        Ok(Kind::Redfish {
            url,
            username: self.username.clone(),
            password,
            ca_file: self.ca_file.clone(),
            insecure: self.insecure.unwrap_or(false),
            session,
        })
    }

    fn snmp(&self, at: &dyn Fn(&str) -> String) -> Result<Kind, ConfigError> {
        let host = self
            .host
            .clone()
            .ok_or_else(|| ConfigError::new(at("host"), "an snmp source needs it"))?;
        let auth = match (&self.community, &self.v3_file) {
            (Some(c), None) => SnmpAuth::Community(Secret::new(c.clone())),
            (None, Some(f)) => {
                let text = read_secret(f)?;
                let mut kv = Vec::new();
                for (n, line) in text.expose().lines().enumerate() {
                    let line = line.trim();
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let Some((k, v)) = line.split_once('=') else {
                        return Err(ConfigError::new(
                            format!("{}:{}", f.display(), n + 1),
                            "expected `key = value`",
                        ));
                    };
                    kv.push((k.trim().to_string(), Secret::new(v.trim())));
                }
                SnmpAuth::V3(kv)
            }
            _ => {
                return Err(ConfigError::new(
                    at("community"),
                    "an snmp source needs exactly one of community and v3_file",
                ));
            }
        };
        Ok(Kind::Snmp {
            host,
            port: self.port.unwrap_or(161),
            auth,
            oid: self
                .oid
                .clone()
                .unwrap_or_else(|| "1.3.6.1.2.1.33".to_string()),
        })
    }
}

/// Refuses a file that users other than its owner can read or write.
///
/// # Errors
/// [`ConfigError`] naming the file, its mode, and the `chmod` that fixes it.
pub fn check_private(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o066 != 0 {
        return Err(ConfigError::new(
            path.display().to_string(),
            format!("other users can read or write it (mode {mode:03o}): refused; `chmod 600` it"),
        ));
    }
    Ok(())
}

/// Reads a secret file (owner-only), without its trailing newline.
///
/// # Errors
/// As [`check_private`], and an unreadable file.
pub fn read_secret(path: &Path) -> Result<Secret, ConfigError> {
    check_private(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
}

#[cfg(test)]
mod tests;
