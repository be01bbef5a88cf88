//! Prometheus remote write 1.0: series encoded as the specification's snappy-compressed
//! protobuf, queued on disk, and sent oldest first by a [`RemoteWriter`].
//!
//! The engine thread [`enqueue`](RemoteWriter::enqueue)s one request per batch; a sender
//! thread [`run`](RemoteWriter::run)s the loop that [`flush`](RemoteWriter::flush)es the queue
//! every interval. The queue is a directory of files, one per request (see [`QUEUE_FORMAT`]),
//! so what was not sent survives a crash or a receiver that is down; it is bounded by
//! `max_queue_bytes`, past which the oldest requests are dropped and counted.
//!
//! Retries follow the specification: a 5xx or 429 answer, or no answer (connection refused,
//! reset, timeout), keeps the request and backs off exponentially (from 1 s, doubling, with
//! jitter, capped at [`MAX_BACKOFF`], at least a 429/503's `Retry-After`); any other 4xx
//! answer means the receiver will never take the request, which is dropped and counted with
//! the reason [`DROP_REJECTED`]. 1xx and 3xx answers are retried (a redirect is never followed:
//! it would turn the POST into a GET).
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use std::time::Duration;
//! use kelvin_agent::config::RemoteWriteConfig;
//! use kelvin_agent::remote_write::{RemoteWriter, Series};
//!
//! let cfg = RemoteWriteConfig {
//!     url: "http://127.0.0.1:9090/api/v1/write".into(),
//!     interval_s: 15.0,
//!     max_queue_bytes: 64 << 20,
//!     ca_file: None,
//!     token_file: None,
//! };
//! let writer = RemoteWriter::open(&cfg, "/var/lib/kelvin/remote_write".as_ref())?;
//! writer.enqueue(vec![Series {
//!     labels: vec![("__name__".into(), "kelvin_power_watts".into()), ("host".into(), "h1".into())],
//!     samples: vec![(1_700_000_000_000, 412.5)],
//! }])?;
//! let stop = AtomicBool::new(false);
//! std::thread::scope(|s| {
//!     s.spawn(|| writer.run(Duration::from_secs(15), &stop));
//!     // ... set `stop` to end the loop.
//! #   stop.store(true, std::sync::atomic::Ordering::Relaxed);
//! });
//! println!("{:?}", writer.stats());
//! # Ok::<(), kelvin_agent::remote_write::RemoteWriteError>(())
//! ```

mod proto;
mod queue;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub use proto::{DecodeError, EncodeError, MAX_DECODED_BYTES};

use crate::config::{ConfigError, RemoteWriteConfig, Secret, read_secret};
use queue::{Entry, Queue};

/// The on-disk queue's layout, for operators and tools.
///
/// One file per request, `{seq:020}.rw` (sent in `seq` order): the magic `KRW1`, the
/// request's sample count (`u64` little-endian), its body's length (`u64` little-endian),
/// then the body, the exact HTTP body (snappy block of a protobuf `WriteRequest`). Files are
/// written as `{seq:020}.rw.tmp` and renamed; temporaries and torn files are removed when
/// the queue is opened; other files are left alone. `.lock` is locked by the open queue.
pub const QUEUE_FORMAT: &str =
    "{seq:020}.rw = b\"KRW1\" ++ samples:u64le ++ body_len:u64le ++ body";

/// The longest pause between attempts after failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The first pause after a failure (doubled after each further failure).
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// One request's deadline, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting's deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Drop reason: the queue was over `max_queue_bytes`, so its oldest requests went.
pub const DROP_QUEUE_FULL: &str = "queue full";
/// Drop reason: the receiver answered a 4xx other than 429; the request would never pass.
pub const DROP_REJECTED: &str = "rejected";
/// Drop reason: [`RemoteWriter::enqueue`] refused series that break the specification.
pub const DROP_INVALID: &str = "invalid";
/// Drop reason: the request could not be written to the queue (disk full, I/O error).
pub const DROP_WRITE_ERROR: &str = "write error";
/// Drop reason: a queue file was not a whole request (a power loss before it reached disk).
pub const DROP_CORRUPT: &str = "corrupt";

/// One time series: its labels (`__name__` among them) and its samples, `(milliseconds
/// since the Unix epoch, value)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// `(name, value)` pairs, in any order.
    pub labels: Vec<(String, String)>,
    /// `(timestamp ms, value)` pairs, in any order.
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// Checks the specification's rules [`encode`] cannot fix: every label name matches
    /// `[a-zA-Z_][a-zA-Z0-9_]*`, and `__name__` is present with a non-empty value.
    ///
    /// # Errors
    /// The first broken rule, in words.
    pub fn check(&self) -> Result<(), String> {
        if let Some((name, _)) = self.labels.iter().find(|(n, _)| !valid_label_name(n)) {
            return Err(format!("label name {name:?} is not [a-zA-Z_][a-zA-Z0-9_]*"));
        }
        if !self
            .labels
            .iter()
            .any(|(n, v)| n == "__name__" && !v.is_empty())
        {
            return Err("a series needs a non-empty __name__ label".to_string());
        }
        Ok(())
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A remote-write request body: the snappy block of the protobuf `WriteRequest` of `series`.
///
/// Labels with an empty value are left out (in Prometheus an empty value means no label);
/// the others are sorted by name, the first of duplicate names kept; samples are put in time
/// order. A request over snappy's 4 GiB limit cannot be encoded: `encode` then returns an
/// empty vector, [`try_encode`] an error.
///
/// ```
/// use kelvin_agent::remote_write::{decode, encode, Series};
/// let body = encode(&[Series {
///     labels: vec![("host".into(), "h1".into()), ("__name__".into(), "up".into())],
///     samples: vec![(2_000, 1.0), (1_000, 0.0)],
/// }]);
/// let back = decode(&body)?;
/// assert_eq!(back[0].labels[0], ("__name__".to_string(), "up".to_string()));
/// assert_eq!(back[0].samples, [(1_000, 0.0), (2_000, 1.0)]);
/// # Ok::<(), kelvin_agent::remote_write::DecodeError>(())
/// ```
pub fn encode(series: &[Series]) -> Vec<u8> {
    try_encode(series).unwrap_or_default()
}

/// As [`encode`], with an error for a request over snappy's 4 GiB block limit.
///
/// ```
/// use kelvin_agent::remote_write::{try_encode, Series};
/// assert!(!try_encode(&[Series::default()])?.is_empty());
/// # Ok::<(), kelvin_agent::remote_write::EncodeError>(())
/// ```
///
/// # Errors
/// [`EncodeError`] when the protobuf is over 4 GiB.
pub fn try_encode(series: &[Series]) -> Result<Vec<u8>, EncodeError> {
    proto::try_encode(series)
}

/// The series of a remote-write request body, as sent (labels and samples in the body's
/// order), for a receiver or a test.
///
/// ```
/// use kelvin_agent::remote_write::{decode, encode, Series};
/// let s = Series {
///     labels: vec![("__name__".into(), "kelvin_energy_joules_total".into())],
///     samples: vec![(1_700_000_000_000, 3.6e6)],
/// };
/// assert_eq!(decode(&encode(&[s.clone()]))?, vec![s]);
/// assert!(decode(b"not a request").is_err());
/// # Ok::<(), kelvin_agent::remote_write::DecodeError>(())
/// ```
///
/// # Errors
/// [`DecodeError`] for a body that is not a snappy block, decompresses past
/// [`MAX_DECODED_BYTES`], or is not a `WriteRequest`.
pub fn decode(bytes: &[u8]) -> Result<Vec<Series>, DecodeError> {
    proto::decode(bytes)
}

/// What a [`RemoteWriter`] cannot do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The token file is unreadable or readable by others.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The URL is not a usable `http://` or `https://` URL.
    #[error("remote_write.url {url:?}: {reason}")]
    Url {
        /// The URL, its credentials hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The CA file (`ca_file`) is unreadable or holds no certificate.
    #[error("remote_write.ca_file {}: {reason}", path.display())]
    Tls {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The queue directory or one of its files.
    #[error("remote-write queue: {0}")]
    Queue(#[from] std::io::Error),
    /// Series that break the specification; nothing was queued (counted as
    /// [`DROP_INVALID`]).
    #[error("invalid series, {samples} samples dropped: {reason}")]
    Invalid {
        /// Which rule, of which series.
        reason: String,
        /// Samples of the refused request.
        samples: u64,
    },
    /// A request larger than the whole queue's bound (counted as [`DROP_QUEUE_FULL`]).
    #[error("a request of {bytes} bytes is over max_queue_bytes ({max}): dropped")]
    TooLarge {
        /// Its size on disk.
        bytes: u64,
        /// The bound.
        max: u64,
    },
}

/// The counters of a [`RemoteWriter`] since it was opened (the `kelvin_remote_write_*`
/// metrics).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteWriteStats {
    /// Samples the receiver accepted.
    pub samples_sent: u64,
    /// Requests the receiver accepted.
    pub requests_sent: u64,
    /// Attempts that failed, retried or not.
    pub failed_attempts: u64,
    /// Samples dropped, by reason ([`DROP_QUEUE_FULL`], [`DROP_REJECTED`], [`DROP_INVALID`],
    /// [`DROP_WRITE_ERROR`], [`DROP_CORRUPT`]).
    pub dropped_samples: BTreeMap<String, u64>,
    /// Requests dropped, by the same reasons.
    pub dropped_requests: BTreeMap<String, u64>,
    /// Bytes of the on-disk queue.
    pub queue_bytes: u64,
    /// Requests in the on-disk queue.
    pub queue_requests: u64,
    /// The last failure, in words (never the token).
    pub last_error: Option<String>,
    /// When the receiver last accepted a request.
    pub last_success: Option<SystemTime>,
    /// The pause before the next attempt, when failing.
    pub backoff: Option<Duration>,
}

/// What one [`RemoteWriter::flush`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlushOutcome {
    /// Requests accepted.
    pub requests_sent: u64,
    /// Their samples.
    pub samples_sent: u64,
    /// Requests dropped (rejected or corrupt).
    pub requests_dropped: u64,
    /// Their samples.
    pub samples_dropped: u64,
    /// Requests still queued.
    pub pending: u64,
    /// The retryable failure that stopped the flush, if one did; the request stays queued.
    pub error: Option<String>,
}

/// How one attempt ended.
enum Attempt {
    Sent,
    Rejected(String),
    Retry(String, Option<Duration>),
}

#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
    next_at: Option<Instant>,
    pause: Option<Duration>,
}

impl Backoff {
    /// After a failure: the pause doubles from [`MIN_BACKOFF`] up to [`MAX_BACKOFF`], with
    /// jitter (between half and all of it), and is at least the receiver's `Retry-After`.
    fn fail(&mut self, hint: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doubled = MIN_BACKOFF.saturating_mul(1 << (self.failures - 1).min(16));
        let full = doubled.min(MAX_BACKOFF);
        let jittered = full.mul_f64(0.5 + 0.5 * unit_random());
        let pause = jittered.max(hint.unwrap_or_default()).min(MAX_BACKOFF);
        self.next_at = Some(Instant::now() + pause);
        self.pause = Some(pause);
        pause
    }

    fn succeed(&mut self) {
        *self = Backoff::default();
    }
}

/// A number in `[0, 1]`, random enough for jitter: std's randomly keyed hasher (this build
/// of `rand` has no generator seeded by the system).
fn unit_random() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

struct State {
    queue: Queue,
    stats: RemoteWriteStats,
    backoff: Backoff,
    /// The request being sent, spared by eviction.
    in_flight: Option<u64>,
}

impl State {
    fn drop_counted(&mut self, reason: &str, requests: u64, samples: u64) {
        *self
            .stats
            .dropped_requests
            .entry(reason.to_string())
            .or_default() += requests;
        *self
            .stats
            .dropped_samples
            .entry(reason.to_string())
            .or_default() += samples;
    }

    fn sync_queue_stats(&mut self) {
        self.stats.queue_bytes = self.queue.bytes();
        self.stats.queue_requests = self.queue.len() as u64;
        self.stats.backoff = self.backoff.pause;
    }

    /// Evicts the oldest requests until `incoming` more bytes fit under `max`.
    fn make_room(&mut self, incoming: u64, max: u64) -> std::io::Result<()> {
        let (evicted, error) = self.queue.evict_for(incoming, max, self.in_flight);
        let samples = evicted.iter().map(|e| e.samples).sum();
        if !evicted.is_empty() {
            self.drop_counted(DROP_QUEUE_FULL, evicted.len() as u64, samples);
        }
        error.map_or(Ok(()), Err)
    }
}

/// A remote-write sender over an on-disk queue. Its methods take `&self`: share it (in an
/// `Arc`, or borrowed by scoped threads) between the thread that enqueues and the one that
/// runs the sending loop.
pub struct RemoteWriter {
    endpoint: String,
    /// The URL with any `user:password@` hidden, for messages.
    shown_url: String,
    token: Option<Secret>,
    max_queue_bytes: u64,
    agent: ureq::Agent,
    state: Mutex<State>,
    /// Held by a flush, so two never send at once.
    sending: Mutex<()>,
}

impl std::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &self.shown_url)
            .field("token", &self.token)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .finish_non_exhaustive()
    }
}

/// `url` with the `user:password@` of its authority replaced by `***@`.
fn hide_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// Checks the receiver's URL: `http://` or `https://`, with a host.
fn check_url(url: &str, shown: &str) -> Result<(), RemoteWriteError> {
    let bad = |reason: &str| RemoteWriteError::Url {
        url: shown.to_string(),
        reason: reason.to_string(),
    };
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e: ureq::http::uri::InvalidUri| bad(&e.to_string()))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    match uri.scheme_str() {
        Some("http" | "https") => Ok(()),
        _ => Err(bad("the scheme must be http:// or https://")),
    }
}

/// The TLS settings: the certificates of `ca_file` (PEM) as the only roots when set, else
/// the Mozilla roots `ureq` carries.
fn tls_config(ca_file: Option<&Path>) -> Result<ureq::tls::TlsConfig, RemoteWriteError> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let Some(path) = ca_file else {
        return Ok(TlsConfig::default());
    };
    let bad = |reason: String| RemoteWriteError::Tls {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(e.to_string()))? {
            PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_string()));
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

impl RemoteWriter {
    /// Opens the writer of `cfg` over the queue in `queue_dir` (created if need be, resumed
    /// if it holds requests: of a previous run, or of one killed mid-write). Reads the token
    /// file, if set, with [`read_secret`].
    ///
    /// An `https://` receiver is verified against the certificates of `cfg.ca_file` (PEM)
    /// when set, else against the Mozilla roots built in (`webpki-roots`), not the system's.
    ///
    /// # Errors
    /// [`RemoteWriteError::Url`] for a URL that is not `http://` or `https://`,
    /// [`RemoteWriteError::Tls`] for the CA file, [`RemoteWriteError::Config`] for the token
    /// file, [`RemoteWriteError::Queue`] for the directory (unwritable, or open
    /// by another writer).
    pub fn open(
        cfg: &RemoteWriteConfig,
        queue_dir: &Path,
    ) -> Result<RemoteWriter, RemoteWriteError> {
        let shown_url = hide_userinfo(&cfg.url);
        check_url(&cfg.url, &shown_url)?;
        let token = cfg.token_file.as_deref().map(read_secret).transpose()?;
        let (queue, recovered) = Queue::open(queue_dir)?;
        let tls = tls_config(cfg.ca_file.as_deref())?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .max_redirects(0)
            .user_agent(concat!("kelvin-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut state = State {
            queue,
            stats: RemoteWriteStats::default(),
            backoff: Backoff::default(),
            in_flight: None,
        };
        if recovered.corrupt_removed > 0 {
            state.drop_counted(DROP_CORRUPT, recovered.corrupt_removed as u64, 0);
        }
        state.make_room(0, cfg.max_queue_bytes)?;
        state.sync_queue_stats();
        Ok(RemoteWriter {
            endpoint: cfg.url.clone(),
            shown_url,
            token,
            max_queue_bytes: cfg.max_queue_bytes,
            agent,
            state: Mutex::new(state),
            sending: Mutex::new(()),
        })
    }

    /// The receiver's URL, any `user:password@` in it hidden.
    pub fn url(&self) -> &str {
        &self.shown_url
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves counters, not broken invariants.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Encodes `series` as one request and appends it to the queue, dropping the oldest
    /// requests (counted as [`DROP_QUEUE_FULL`]) if the queue would grow past
    /// `max_queue_bytes`. An empty batch queues nothing.
    ///
    /// # Errors
    /// [`RemoteWriteError::Invalid`] for a series [`Series::check`] refuses (nothing queued),
    /// [`RemoteWriteError::TooLarge`] for a request larger than the whole bound,
    /// [`RemoteWriteError::Queue`] when the file cannot be written ([`DROP_WRITE_ERROR`]).
    /// Each counts its samples as dropped.
    pub fn enqueue(&self, series: Vec<Series>) -> Result<(), RemoteWriteError> {
        let samples: u64 = series.iter().map(|s| s.samples.len() as u64).sum();
        if series.is_empty() {
            return Ok(());
        }
        if let Some((i, reason)) = series
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.check().err().map(|r| (i, r)))
        {
            self.state().drop_counted(DROP_INVALID, 1, samples);
            return Err(RemoteWriteError::Invalid {
                reason: format!("series {i}: {reason}"),
                samples,
            });
        }
        let body = try_encode(&series);
        let mut st = self.state();
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                st.drop_counted(DROP_QUEUE_FULL, 1, samples);
                return Err(RemoteWriteError::TooLarge {
                    bytes: e.bytes as u64,
                    max: self.max_queue_bytes,
                });
            }
        };
        let size = Queue::file_size(body.len());
        if size > self.max_queue_bytes {
            st.drop_counted(DROP_QUEUE_FULL, 1, samples);
            return Err(RemoteWriteError::TooLarge {
                bytes: size,
                max: self.max_queue_bytes,
            });
        }
        let pushed = st
            .make_room(size, self.max_queue_bytes)
            .and_then(|()| st.queue.push(&body, samples));
        if let Err(e) = pushed {
            st.drop_counted(DROP_WRITE_ERROR, 1, samples);
            st.sync_queue_stats();
            return Err(e.into());
        }
        st.sync_queue_stats();
        Ok(())
    }

    /// Sends the queued requests, oldest first, until the queue is empty or an attempt fails
    /// in a way worth retrying (that request stays queued, and the backoff grows). A request
    /// the receiver rejects for good is dropped and counted. Ignores the backoff: [`run`]
    /// honours it.
    ///
    /// [`run`]: RemoteWriter::run
    pub fn flush(&self) -> FlushOutcome {
        self.flush_until(None)
    }

    fn flush_until(&self, stop: Option<&AtomicBool>) -> FlushOutcome {
        let _sending = self.sending.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = FlushOutcome::default();
        while !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            let (entry, path) = {
                let mut st = self.state();
                let Some(entry) = st.queue.front() else { break };
                st.in_flight = Some(entry.seq);
                (entry, st.queue.path(entry.seq))
            };
            // Read without the lock: eviction spares the request in flight.
            let attempt = match queue::read_body(&path) {
                Ok(Some(body)) => self.send(&body),
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Attempt::Retry(format!("reading a queued request: {e}"), None)
                }
                Ok(None) | Err(_) => {
                    self.finish(entry, None, &mut out);
                    continue;
                }
            };
            if !self.finish(entry, Some(attempt), &mut out) {
                break;
            }
        }
        let mut st = self.state();
        st.in_flight = None;
        st.sync_queue_stats();
        out.pending = st.queue.len() as u64;
        out
    }

    /// Records how the attempt at `entry` ended (`None`: its file was unreadable); `false`
    /// when the flush must stop.
    fn finish(&self, entry: Entry, attempt: Option<Attempt>, out: &mut FlushOutcome) -> bool {
        let mut st = self.state();
        st.in_flight = None;
        let remove = |st: &mut State| {
            if let Err(e) = st.queue.remove(entry.seq) {
                st.stats.last_error = Some(format!("removing a request from the queue: {e}"));
            }
        };
        match attempt {
            None => {
                remove(&mut st);
                st.drop_counted(DROP_CORRUPT, 1, entry.samples);
                out.requests_dropped += 1;
                out.samples_dropped += entry.samples;
                true
            }
            Some(Attempt::Sent) => {
                remove(&mut st);
                st.backoff.succeed();
                st.stats.requests_sent += 1;
                st.stats.samples_sent += entry.samples;
                st.stats.last_success = Some(SystemTime::now());
                out.requests_sent += 1;
                out.samples_sent += entry.samples;
                true
            }
            Some(Attempt::Rejected(why)) => {
                remove(&mut st);
                st.stats.failed_attempts += 1;
                st.stats.last_error = Some(self.scrub(why));
                st.drop_counted(DROP_REJECTED, 1, entry.samples);
                out.requests_dropped += 1;
                out.samples_dropped += entry.samples;
                true
            }
            Some(Attempt::Retry(why, hint)) => {
                let why = self.scrub(why);
                st.stats.failed_attempts += 1;
                st.stats.last_error = Some(why.clone());
                st.backoff.fail(hint);
                // The request spared while in flight may have kept the queue over its bound.
                if let Err(e) = st.make_room(0, self.max_queue_bytes) {
                    st.stats.last_error = Some(format!("{why}; evicting: {e}"));
                }
                out.error = Some(why);
                false
            }
        }
    }

    /// `text` with the token, should a receiver echo it, replaced by `***`.
    fn scrub(&self, text: String) -> String {
        match &self.token {
            Some(t) if !t.expose().is_empty() && text.contains(t.expose()) => {
                text.replace(t.expose(), "***")
            }
            _ => text,
        }
    }

    /// One POST of `body`.
    fn send(&self, body: &[u8]) -> Attempt {
        let mut request = self
            .agent
            .post(&self.endpoint)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {}", token.expose()));
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("POST {}: {e}", self.shown_url), None),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Read (a bounded part of) the answer: its text explains a failure, and a body read
        // to its end lets the connection be reused.
        let mut text = Vec::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(4096)
            .read_to_end(&mut text);
        if (200..300).contains(&status) {
            return Attempt::Sent;
        }
        let text = String::from_utf8_lossy(&text[..text.len().min(512)])
            .trim()
            .to_string();
        let why = format!("POST {}: HTTP {status}: {text}", self.shown_url);
        if (400..500).contains(&status) && status != 429 {
            Attempt::Rejected(why)
        } else {
            Attempt::Retry(why, retry_after)
        }
    }

    /// The sending loop: flushes every `interval` (at once when started), and after a
    /// failure as the backoff says instead; returns within 100 ms of `stop` being set (or,
    /// when a request is in flight, when it ends, at most [`REQUEST_TIMEOUT`]).
    pub fn run(&self, interval: Duration, stop: &AtomicBool) {
        let mut next = Instant::now();
        loop {
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                std::thread::sleep((next - now).min(Duration::from_millis(100)));
            }
            let outcome = self.flush_until(Some(stop));
            let now = Instant::now();
            next = match (&outcome.error, self.state().backoff.next_at) {
                (Some(_), Some(at)) => at,
                _ => now + interval,
            };
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> RemoteWriteStats {
        self.state().stats.clone()
    }

    /// The queue's directory, as given to [`open`](RemoteWriter::open).
    pub fn queue_dir(&self) -> PathBuf {
        self.state().queue.dir().to_path_buf()
    }
}

#[cfg(test)]
mod tests;
