//! The agent's HTTP endpoints: `/metrics` (Prometheus text 0.0.4 or OpenMetrics 1.0 by
//! negotiation), `/healthz`, `/readyz`, and the JSON API (`/api/v1/bills?from=&to=`,
//! `/api/v1/hosts`).
//!
//! Requests are parsed by `httparse`; each connection has a thread, at most
//! [`MAX_CONNECTIONS`] at once, a 10 s read deadline and a 16 KiB head: a slow or hostile
//! client holds one thread for ten seconds and nothing else. The API is served on the main
//! listener only while that listener is loopback; exposed, it takes its own listener with TLS
//! (rustls) and a bearer token read from a file ([`crate::config::ApiConfig`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kelvin::model::{TimeRange, Timestamp};

use crate::agent::State;
use crate::config::Secret;
use crate::exposition::{Family, Format, render};
use crate::sources::FailReason;

/// Connections served at once; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 64;
const MAX_HEAD: usize = 16 << 10;

/// Who may call the JSON API on a listener.
#[derive(Debug, Clone)]
pub enum ApiAccess {
    /// Anyone who can connect (a loopback listener).
    Open,
    /// Callers presenting this bearer token.
    Token(Secret),
    /// Nobody here: the reason names where the API is.
    Refused(&'static str),
}

/// One listener's settings.
#[derive(Clone)]
pub struct Listener {
    /// The shared state.
    pub state: Arc<State>,
    /// The API's access on this listener.
    pub api: ApiAccess,
    /// TLS, when this listener serves HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The scheduler endpoints, when configured ([`crate::config::SchedulerConfig`]); they
    /// take the API's access.
    pub scheduler: Option<Arc<crate::scheduler::Endpoints>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("api", &self.api)
            .field("tls", &self.tls.is_some())
            .field("scheduler", &self.scheduler.is_some())
            .finish()
    }
}

/// What a listener answers: the agent's endpoints ([`Listener`]), or an embedder's (the
/// `extender` example serves the scheduler endpoints over a replayed engine).
pub trait Routes: Send + Sync + 'static {
    /// The response to one request.
    fn respond(&self, req: &Request) -> Response;
    /// Most bytes of request body accepted (a longer body is answered 413 unread).
    fn max_body(&self) -> usize {
        0
    }
}

/// Serves `listener` until the state's stop flag is set ([`serve_routes`]).
pub fn serve(listener: TcpListener, cfg: Listener) {
    let (tls, stop) = (cfg.tls.clone(), cfg.state.stop.clone());
    serve_routes(listener, Arc::new(cfg), tls, stop);
}

/// How long an idle accept waits before the stop flag is checked again.
const ACCEPT_WAIT: Duration = Duration::from_millis(100);

/// Serves `listener` with `routes` until `stop` is set (checked between connections, every
/// 100 ms when idle), over TLS when given: a thread per connection, at most
/// [`MAX_CONNECTIONS`] at once.
pub fn serve_routes(
    listener: TcpListener,
    routes: Arc<dyn Routes>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: Arc<AtomicBool>,
) {
    let live = Arc::new(AtomicUsize::new(0));
    // A blocking accept that gives up after 100 ms (SO_RCVTIMEO, which Linux's accept honours),
    // so the stop flag is seen while idle and a connection is taken the moment it comes: a
    // non-blocking accept polled with a sleep delays every request by up to the sleep.
    let _ = listener.set_nonblocking(false);
    let _ = socket2::SockRef::from(&listener).set_read_timeout(Some(ACCEPT_WAIT));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                if live.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    drop(stream);
                    continue;
                }
                live.fetch_add(1, Ordering::SeqCst);
                let (routes, tls, live) = (routes.clone(), tls.clone(), live.clone());
                let spawned = std::thread::Builder::new()
                    .name("kelvin-http".into())
                    .spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        connection(stream, &*routes, tls);
                        live.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    // No thread: the connection was dropped with the closure.
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => std::thread::sleep(ACCEPT_WAIT),
        }
    }
}

fn connection(stream: TcpStream, routes: &dyn Routes, tls: Option<Arc<rustls::ServerConfig>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_nodelay(true);
    match tls {
        Some(tls) => {
            let Ok(conn) = rustls::ServerConnection::new(tls) else {
                return;
            };
            let mut s = rustls::StreamOwned::new(conn, stream);
            exchange(&mut s, routes);
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        None => {
            let mut s = stream;
            exchange(&mut s, routes);
        }
    }
}

/// A request as the routes see it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?` (empty when none).
    pub query: String,
    /// The `Accept` header.
    pub accept: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body (`Content-Length` bytes; empty when none).
    pub body: Vec<u8>,
}

/// A response: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    /// A response of `status` with a plain-text body (a line).
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: TEXT,
            body: body.into(),
        }
    }

    /// A 200 response with a JSON body.
    pub fn json(body: String) -> Response {
        Response {
            status: 200,
            content_type: JSON,
            body,
        }
    }
}

impl From<(u16, &'static str, String)> for Response {
    fn from((status, content_type, body): (u16, &'static str, String)) -> Self {
        Response {
            status,
            content_type,
            body,
        }
    }
}

fn read_head(s: &mut impl Read, max_body: usize) -> Result<Request, (u16, String)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = s
            .read(&mut chunk)
            .map_err(|_| (408, "request not received in time".to_string()))?;
        if n == 0 {
            return Err((400, "connection closed before the request ended".into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let header = |name: &str| {
                    req.headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_string)
                };
                if header("transfer-encoding").is_some() {
                    return Err((411, "send the body with a Content-Length".into()));
                }
                let length = match header("content-length") {
                    None => 0,
                    Some(v) => v
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| (400, format!("Content-Length {v:?} is not a number")))?,
                };
                if length > max_body {
                    return Err((
                        413,
                        format!("a body of {length} bytes; at most {max_body} here"),
                    ));
                }
                let mut request = Request {
                    method: req.method.unwrap_or("GET").to_string(),
                    path: path.to_string(),
                    query: query.to_string(),
                    accept: header("accept"),
                    authorization: header("authorization"),
                    body: Vec::new(),
                };
                request.body = read_body(s, buf.split_off(head_len), length)?;
                return Ok(request);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err((431, "request head over 16 KiB".into()));
            }
            Err(_) => return Err((400, "not an HTTP/1.x request".into())),
        }
    }
}

/// The body: `length` bytes, of which `have` arrived with the head.
fn read_body(
    s: &mut impl Read,
    mut have: Vec<u8>,
    length: usize,
) -> Result<Vec<u8>, (u16, String)> {
    have.truncate(length);
    if have.len() < length {
        let start = have.len();
        have.resize(length, 0);
        s.read_exact(&mut have[start..]).map_err(|_| {
            (
                408,
                format!("body not received in time ({start} of {length} bytes)"),
            )
        })?;
    }
    Ok(have)
}

fn exchange(s: &mut (impl Read + Write), routes: &dyn Routes) {
    let r = match read_head(s, routes.max_body()) {
        Ok(req) => routes.respond(&req),
        Err((code, why)) => Response::text(code, format!("{why}\n")),
    };
    let status = r.status;
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.content_type,
        r.body.len()
    );
    if status == 401 {
        head.push_str("WWW-Authenticate: Bearer\r\n");
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(r.body.as_bytes());
    let _ = s.flush();
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

impl Routes for Listener {
    fn respond(&self, req: &Request) -> Response {
        if let Some(ext) = &self.scheduler
            && let Some(verb) = ext.verb(&req.path)
        {
            if let Some(refusal) = authorize(req, &self.api) {
                return refusal.into();
            }
            return ext.respond(verb, req);
        }
        route(req, self).into()
    }

    fn max_body(&self) -> usize {
        if self.scheduler.is_some() {
            crate::scheduler::MAX_REQUEST_BYTES
        } else {
            0
        }
    }
}

/// The paths [`route`] serves.
const PATHS: [&str; 5] = [
    "/metrics",
    "/healthz",
    "/readyz",
    "/api/v1/hosts",
    "/api/v1/bills",
];

fn route(req: &Request, cfg: &Listener) -> (u16, &'static str, String) {
    if !PATHS.contains(&req.path.as_str()) {
        return (404, TEXT, "not found\n".into());
    }
    if req.method != "GET" && req.method != "HEAD" {
        return (405, TEXT, "only GET\n".into());
    }
    let state = &cfg.state;
    match req.path.as_str() {
        "/metrics" => {
            let format = Format::negotiate(req.accept.as_deref());
            (200, format.content_type(), metrics(state, format))
        }
        "/healthz" => (200, TEXT, "ok\n".into()),
        "/readyz" if state.ready.load(Ordering::SeqCst) => (200, TEXT, "ready\n".into()),
        "/readyz" => (
            503,
            TEXT,
            "the engine is opening its data directory\n".into(),
        ),
        "/api/v1/hosts" | "/api/v1/bills" => {
            if let Some(refusal) = authorize(req, &cfg.api) {
                return refusal;
            }
            if req.path == "/api/v1/hosts" {
                let snap = state.snapshot.read().map(|s| s.clone()).unwrap_or_default();
                (
                    200,
                    JSON,
                    crate::agent::hosts_json(&snap, state).to_string(),
                )
            } else {
                bills(state, &req.query)
            }
        }
        _ => (404, TEXT, "not found\n".into()),
    }
}

fn authorize(req: &Request, api: &ApiAccess) -> Option<(u16, &'static str, String)> {
    match api {
        ApiAccess::Open => None,
        ApiAccess::Refused(why) => Some((403, TEXT, format!("{why}\n"))),
        ApiAccess::Token(t) => {
            let given = req
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            if constant_time_eq(given.as_bytes(), t.expose().as_bytes()) {
                None
            } else {
                Some((401, TEXT, "a bearer token is required\n".into()))
            }
        }
    }
}

/// Compares without an early exit, so the time taken says nothing of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ x);
    }
    diff == 0
}

/// The value of `key` in a query string (`a=1&b=2`), as written.
pub(crate) fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A time given as RFC 3339 (`2026-12-07T10:00:00Z`, `%3A` accepted) or Unix seconds.
fn time_param(v: &str) -> Option<Timestamp> {
    let v = v
        .replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%2B", "+");
    if let Ok(secs) = v.parse::<f64>() {
        return secs
            .is_finite()
            .then(|| Timestamp::from_nanos((secs * 1e9) as i64));
    }
    Timestamp::parse_rfc3339(&v).ok()
}

fn bills(state: &State, query: &str) -> (u16, &'static str, String) {
    let bad = |why: String| (400, TEXT, format!("{why}\n"));
    let (Some(from), Some(to)) = (param(query, "from"), param(query, "to")) else {
        return bad("from and to are required (RFC 3339 or Unix seconds)".into());
    };
    let (Some(a), Some(b)) = (time_param(from), time_param(to)) else {
        return bad(format!(
            "from={from:?} to={to:?}: not RFC 3339 or Unix seconds"
        ));
    };
    let Ok(window) = TimeRange::try_new(a, b) else {
        return bad("from must come before to".into());
    };
    match kelvin::read_book(&state.data_dir, Some(window)) {
        Ok(totals) => {
            let snap = state.snapshot.read().map(|s| s.clone()).unwrap_or_default();
            let v = crate::book::bills_json(&totals, &snap.names, &a.to_rfc3339(), &b.to_rfc3339());
            (200, JSON, v.to_string())
        }
        Err(e) => (500, TEXT, format!("reading the book: {e}\n")),
    }
}

/// The full exposition: the engine's families, then the sources' and the remote writer's.
pub fn metrics(state: &State, format: Format) -> String {
    let snap = state.snapshot.read().map(|s| s.clone()).unwrap_or_default();
    let mut own = health_families(state);
    if let Some(w) = &state.remote {
        own.extend(remote_families(&w.stats()));
    }
    own.extend(process_families());
    render(snap.families().chain(&own), format)
}

/// The process's own CPU time and resident set, as Prometheus' client libraries name them
/// (`process_cpu_seconds_total`, `process_resident_memory_bytes`), from `/proc/self`.
fn process_families() -> Vec<Family> {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the command; the clock
    // tick is 100 Hz on every Linux platform Kelvin runs on (USER_HZ).
    let cpu_s = (ticks(11) + ticks(12)) / 100.0;
    let rss_pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|m| {
            m.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    let mut cpu = Family::counter(
        "process_cpu_seconds",
        "User and system CPU time the agent spent.",
        Some("seconds"),
    );
    cpu.push(&[], cpu_s);
    let mut rss = Family::gauge(
        "process_resident_memory_bytes",
        "The agent's resident set.",
        Some("bytes"),
    );
    rss.push(&[], rss_pages * 4096.0);
    vec![cpu, rss]
}

fn remote_families(st: &crate::remote_write::RemoteWriteStats) -> Vec<Family> {
    let mut sent = Family::counter(
        "kelvin_remote_write_samples_sent",
        "Samples the remote-write receiver accepted.",
        None,
    );
    sent.push(&[], st.samples_sent as f64);
    let mut failed = Family::counter(
        "kelvin_remote_write_failed_attempts",
        "Remote-write requests that failed (retried or dropped).",
        None,
    );
    failed.push(&[], st.failed_attempts as f64);
    let mut dropped = Family::counter(
        "kelvin_remote_write_dropped_samples",
        "Samples never delivered, by reason.",
        None,
    );
    for (r, n) in &st.dropped_samples {
        dropped.push(&[("reason", r)], *n as f64);
    }
    let mut queue = Family::gauge(
        "kelvin_remote_write_queue_bytes",
        "Bytes waiting in the on-disk remote-write queue.",
        Some("bytes"),
    );
    queue.push(&[], st.queue_bytes as f64);
    vec![sent, failed, dropped, queue]
}

fn health_families(state: &State) -> Vec<Family> {
    let mut up = Family::gauge(
        "kelvin_source_up",
        "1 when the source's last poll succeeded.",
        None,
    );
    let mut stale = Family::gauge(
        "kelvin_source_stale",
        "1 when the source has had no good poll for three intervals.",
        None,
    );
    let mut dur = Family::gauge(
        "kelvin_source_scrape_duration_seconds",
        "How long the source's last poll took.",
        Some("seconds"),
    );
    let mut polls = Family::counter("kelvin_source_polls", "Polls of the source.", None);
    let mut fails = Family::counter(
        "kelvin_source_failures",
        "Failed polls of the source, by reason.",
        None,
    );
    let mut over = Family::counter(
        "kelvin_source_overruns",
        "Ticks skipped because the source's previous poll was still running.",
        None,
    );
    for (i, (name, kind, stale_after, _)) in state.sources.iter().enumerate() {
        let Ok(h) = state.health[i].lock() else {
            continue;
        };
        up.push(
            &[("source", name), ("kind", kind)],
            f64::from(u8::from(h.up)),
        );
        stale.push(
            &[("source", name)],
            f64::from(u8::from(h.stale(*stale_after))),
        );
        dur.push(&[("source", name)], h.last_duration.as_secs_f64());
        polls.push(&[("source", name)], h.polls as f64);
        over.push(&[("source", name)], h.overruns as f64);
        for r in FailReason::ALL {
            fails.push(
                &[("source", name), ("reason", r.as_str())],
                h.failures[r as usize] as f64,
            );
        }
    }
    vec![up, stale, dur, polls, fails, over]
}

/// A TLS server configuration from PEM files: the certificate chain and its private key.
///
/// # Errors
/// A message naming the file that is missing, unreadable or holds no certificate or key.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    crate::config::check_private(key).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not make a TLS server: {e}"))?;
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"", b"abc"));
    }

    #[test]
    fn bills_windows_take_rfc3339_or_unix_seconds() {
        assert_eq!(time_param("10").map(|t| t.as_nanos()), Some(10_000_000_000));
        assert!(time_param("2026-12-07T10%3A00%3A00Z").is_some());
        assert!(time_param("yesterday").is_none());
        assert_eq!(param("from=1&to=2", "to"), Some("2"));
    }
}
