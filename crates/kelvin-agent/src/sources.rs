//! Polling one source: what each kind fetches or runs, turned into what the engine ingests,
//! and each source's health (up, stale, durations, failures by reason).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kelvin::ingest::scrape::{RedfishSession, ScrapeConfig, Scraper};
use kelvin::ingest::{Batch, Context, IngestBatch, Normalizer};
use kelvin_model::{EntityId, Timestamp};

use crate::config::{Kind, SourceSpec};
use crate::exec::{self, IpmiTool};

/// What one poll produced, for the engine.
#[derive(Debug)]
pub enum Polled {
    /// Text for a decoder (Prometheus text, a capture).
    Batch(Batch),
    /// Readings a decoder already produced here (a Redfish crawl, a sysfs scan), with their
    /// quarantine.
    Decoded(IngestBatch),
}

/// Why a poll failed, as counted in `kelvin_source_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailReason {
    /// The source did not answer in time.
    Timeout,
    /// The source answered with an error status.
    Http,
    /// Could not connect, or the connection broke.
    Connect,
    /// TLS: a certificate not trusted, a handshake failed.
    Tls,
    /// The response exceeded its size limit.
    TooLarge,
    /// A program exited with an error.
    Exit,
    /// Anything else (a program missing, a file unreadable).
    Other,
}

impl FailReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Timeout => "timeout",
            FailReason::Http => "http",
            FailReason::Connect => "connect",
            FailReason::Tls => "tls",
            FailReason::TooLarge => "too_large",
            FailReason::Exit => "exit",
            FailReason::Other => "other",
        }
    }

    /// Every reason, in label order.
    pub const ALL: [FailReason; 7] = [
        FailReason::Timeout,
        FailReason::Http,
        FailReason::Connect,
        FailReason::Tls,
        FailReason::TooLarge,
        FailReason::Exit,
        FailReason::Other,
    ];

    /// Classifies an HTTP client's error text (the scraper's messages); a program's failures
    /// are classified by their [`exec::ExecError`] variant instead.
    pub fn of(text: &str) -> FailReason {
        let t = text.to_ascii_lowercase();
        if t.contains("timed out") || t.contains("timeout") {
            FailReason::Timeout
        } else if t.contains("certificate") || t.contains("tls") || t.contains("handshake") {
            FailReason::Tls
        } else if t.contains("limit") || t.contains("too large") || t.contains("exceeds") {
            FailReason::TooLarge
        } else if t.contains("http ") {
            FailReason::Http
        } else if t.contains("connect") || t.contains("refused") || t.contains("reset") {
            FailReason::Connect
        } else if t.contains("exit") {
            FailReason::Exit
        } else {
            FailReason::Other
        }
    }
}

/// A failed poll: its reason and the message (which names no secret).
#[derive(Debug, Clone)]
pub struct PollError {
    /// The counted reason.
    pub reason: FailReason,
    /// What happened.
    pub message: String,
}

impl PollError {
    fn new(message: impl Into<String>) -> PollError {
        let message = message.into();
        PollError {
            reason: FailReason::of(&message),
            message,
        }
    }
}

/// A source made ready to poll: its spec and the clients it keeps between polls.
#[derive(Debug)]
pub struct Source {
    /// Its checked configuration.
    pub spec: SourceSpec,
    scraper: Option<Scraper>,
    /// A Redfish source's session, kept across polls (logged in again when the BMC drops it).
    session: Option<std::sync::Mutex<RedfishSession>>,
    /// A private directory for credentials files the programs read (mode 0700).
    private_dir: PathBuf,
    normalizer: Normalizer,
}

/// The wall clock as a [`Timestamp`].
pub(crate) fn now() -> Timestamp {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    Timestamp::from_nanos(ns)
}

impl Source {
    /// Prepares `spec`; `private_dir` holds the credentials files of its programs.
    ///
    /// # Errors
    /// A message when the HTTP client cannot be made (a CA file that is not PEM).
    pub fn new(spec: SourceSpec, private_dir: PathBuf) -> Result<Source, String> {
        let s = &spec.schedule;
        let base = ScrapeConfig::default()
            .with_timeout(s.timeout)
            .with_retries(s.retries)
            .with_backoff(s.backoff)
            .with_max_body_bytes(s.max_bytes);
        let mut session = None;
        let scraper = match &spec.kind {
            // An exporter over plain HTTP is reconnected each poll: a thousand idle
            // connections would hold 48 MiB of buffers to save a LAN handshake each.
            Kind::Prometheus { url } => Some(Scraper::new(
                base.with_keep_alive(url.starts_with("https://")),
            )),
            Kind::Redfish {
                url,
                username,
                password,
                ca_file,
                insecure,
                session: use_session,
            } => {
                let mut cfg = base.with_insecure(*insecure);
                if let Some(ca) = ca_file {
                    cfg = cfg.with_ca_file(ca.clone());
                }
                match (username, password, use_session) {
                    (Some(u), Some(p), true) => {
                        session = Some(std::sync::Mutex::new(RedfishSession::new(
                            url.clone(),
                            u.clone(),
                            p.expose(),
                        )));
                    }
                    (Some(u), Some(p), false) => cfg = cfg.with_basic_auth(u.clone(), p.expose()),
                    _ => {}
                }
                Some(Scraper::try_new(cfg).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        Ok(Source {
            spec,
            scraper,
            session,
            private_dir,
            normalizer: Normalizer::builtin(),
        })
    }

    /// The host it describes, when it names one.
    pub fn entity(&self) -> Option<EntityId> {
        self.spec
            .entity
            .as_deref()
            .and_then(|e| EntityId::new(e).ok())
    }

    /// Polls once (with the schedule's timeout and retries).
    ///
    /// # Errors
    /// [`PollError`] with the counted reason when nothing could be read.
    pub fn poll(&self) -> Result<Vec<Polled>, PollError> {
        let at = now();
        let name = &self.spec.name;
        let sched = &self.spec.schedule;
        match &self.spec.kind {
            Kind::Prometheus { url } => {
                let scraper = self
                    .scraper
                    .as_ref()
                    .ok_or_else(|| PollError::new("no client"))?;
                let (body, format) = scraper
                    .fetch_typed(url)
                    .map_err(|e| PollError::new(e.to_string()))?;
                // An exporter serves hundreds of metrics no rule maps, every scrape: one
                // record of each a scrape, the rest counted.
                let mut batch = Batch::prometheus_at(name.clone(), body, at)
                    .with_exposition(format)
                    .counting_unmapped_repeats();
                let instance = match &self.spec.entity {
                    Some(e) => e.clone(),
                    None => host_port(url),
                };
                batch = batch.with_target_label("instance", instance);
                Ok(vec![Polled::Batch(batch)])
            }
            Kind::Redfish { url, .. } => {
                let scraper = self
                    .scraper
                    .as_ref()
                    .ok_or_else(|| PollError::new("no client"))?;
                let mut ctx = Context::new(name.as_str(), &self.normalizer);
                ctx.entity = self.entity();
                ctx.default_timestamp = Some(at);
                let decoded = match &self.session {
                    Some(s) => {
                        let mut s = s.lock().map_err(|_| PollError::new("session lock"))?;
                        scraper.crawl_redfish_session(&mut s, 512, &ctx)
                    }
                    None => scraper.crawl_redfish(url, 512, &ctx),
                }
                .map_err(|e| PollError::new(e.to_string()))?;
                Ok(vec![Polled::Decoded(decoded)])
            }
            Kind::Sysfs { root } => {
                let mut ctx = Context::new(name.as_str(), &self.normalizer);
                ctx.entity = self.entity();
                ctx.default_timestamp = Some(at);
                let decoded = kelvin::ingest::sysfs::decode_tree(root, &ctx)
                    .map_err(|e| PollError::new(e.to_string()))?;
                Ok(vec![Polled::Decoded(decoded)])
            }
            Kind::Ipmitool(t) | Kind::Freeipmi(t) => {
                let tool = if matches!(self.spec.kind, Kind::Ipmitool(_)) {
                    IpmiTool::Ipmitool
                } else {
                    IpmiTool::Freeipmi
                };
                let caps = retrying(sched.retries, sched.backoff, || {
                    exec::poll_ipmi(tool, t, sched.timeout, sched.max_bytes, &self.private_dir)
                })?;
                Ok(caps.into_iter().map(|c| self.capture(c, at)).collect())
            }
            Kind::Snmp {
                host,
                port,
                auth,
                oid,
            } => {
                let cap = retrying(sched.retries, sched.backoff, || {
                    exec::poll_snmp(
                        host,
                        *port,
                        auth,
                        oid,
                        sched.timeout,
                        sched.max_bytes,
                        &self.private_dir,
                    )
                })?;
                Ok(vec![self.capture(cap, at)])
            }
            Kind::Command { argv, format } => {
                let cap = retrying(sched.retries, sched.backoff, || {
                    exec::poll_command(argv, format.as_deref(), sched.timeout, sched.max_bytes)
                })?;
                Ok(vec![self.capture(cap, at)])
            }
            Kind::Nvml { dir } => self.nvml(dir, at),
        }
    }

    fn capture(&self, c: exec::Capture, at: Timestamp) -> Polled {
        let source = format!("{}: {}", self.spec.name, c.source);
        let batch = match (c.format, self.entity()) {
            (Some(f), Some(e)) => Batch::capture_as(f, source, c.text, e, at),
            (None, Some(e)) => Batch::capture(source, c.text, e, at),
            (format, None) => Batch::Capture {
                format,
                source,
                text: c.text,
                entity: None,
                taken_at: Some(at),
            },
        };
        Polled::Batch(batch)
    }

    /// The NVML sampler's files in `dir`, each a capture (format detected).
    fn nvml(&self, dir: &std::path::Path, at: Timestamp) -> Result<Vec<Polled>, PollError> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| PollError::new(format!("{}: {e}", dir.display())))?;
        let mut out = Vec::new();
        let mut budget = self.spec.schedule.max_bytes;
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.is_file()) {
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            if len > budget {
                return Err(PollError::new(format!(
                    "{}: the sampler's files exceed the limit of {} bytes",
                    dir.display(),
                    self.spec.schedule.max_bytes
                )));
            }
            budget -= len;
            let text = std::fs::read_to_string(&p)
                .map_err(|e| PollError::new(format!("{}: {e}", p.display())))?;
            out.push(self.capture(
                exec::Capture {
                    format: None,
                    source: p.display().to_string(),
                    text,
                },
                at,
            ));
        }
        Ok(out)
    }
}

/// Runs `f`, again after a failure up to `retries` times, pausing `backoff` and doubling it.
fn retrying<T>(
    retries: u32,
    backoff: Duration,
    mut f: impl FnMut() -> Result<T, exec::ExecError>,
) -> Result<T, PollError> {
    let mut pause = backoff;
    let mut last = None;
    for attempt in 0..=retries {
        if attempt > 0 {
            std::thread::sleep(pause);
            pause = pause.saturating_mul(2);
        }
        match f() {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    // A program's failure is typed: its reason comes from the variant, not the message.
    let reason = match &last {
        Some(exec::ExecError::Timeout { .. }) => FailReason::Timeout,
        Some(exec::ExecError::TooLarge { .. }) => FailReason::TooLarge,
        Some(exec::ExecError::Exit { .. }) => FailReason::Exit,
        _ => FailReason::Other,
    };
    let last = last.map(|e| e.to_string()).unwrap_or_default();
    Err(PollError {
        reason,
        message: format!("{last} (gave up after {} attempts)", retries + 1),
    })
}

/// `host:port` of a URL, as Prometheus names an instance.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// A source's health, as the metrics show it.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Polls attempted.
    pub polls: u64,
    /// Failures by reason.
    pub failures: [u64; 7],
    /// Whether the last poll succeeded.
    pub up: bool,
    /// When the last good poll ended.
    pub last_success: Option<Instant>,
    /// The last poll's duration.
    pub last_duration: Duration,
    /// Ticks skipped because the previous poll was still running.
    pub overruns: u64,
    /// The last failure's message (names no secret).
    pub last_error: Option<String>,
}

impl Health {
    /// Counts a finished poll.
    pub fn record(&mut self, took: Duration, result: Result<(), &PollError>) {
        self.polls += 1;
        self.last_duration = took;
        match result {
            Ok(()) => {
                self.up = true;
                self.last_success = Some(Instant::now());
            }
            Err(e) => {
                self.up = false;
                self.failures[e.reason as usize] += 1;
                self.last_error = Some(e.message.clone());
            }
        }
    }

    /// Whether the last good poll is older than `stale_after` (or there was none).
    pub fn stale(&self, stale_after: Duration) -> bool {
        self.last_success.is_none_or(|t| t.elapsed() > stale_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_their_text() {
        assert_eq!(
            FailReason::of("timed out reading response"),
            FailReason::Timeout
        );
        assert_eq!(
            FailReason::of("HTTP 500 (gave up after 2 attempts)"),
            FailReason::Http
        );
        assert_eq!(
            FailReason::of("io: Connection refused (os error 111)"),
            FailReason::Connect
        );
        assert_eq!(
            FailReason::of("body exceeds limit of 16777216"),
            FailReason::TooLarge
        );
        assert_eq!(host_port("http://127.0.0.1:9100/metrics"), "127.0.0.1:9100");
    }
}
