//! Live sources: HTTP and HTTPS scraping of Prometheus endpoints, Redfish services and any HTTP
//! text source, with timeouts, bounded bodies and retries.
//!
//! **HTTPS** uses rustls (with the *ring* provider). A certificate is verified against the
//! Mozilla roots built in (the `webpki-roots` crate) unless [`ScrapeConfig::ca_file`] names the
//! CA certificates to trust instead — what a BMC with a certificate of the site's own CA, or a
//! self-signed one, needs. [`ScrapeConfig::insecure`] turns verification off, for lab BMCs
//! only. A certificate that is refused is an error at once, not retried.
//!
//! **Credentials**: HTTP basic ([`ScrapeConfig::with_basic_auth`]) or a Redfish session
//! ([`RedfishSession`], used by [`Scraper::crawl_redfish_session`]). Passwords and session
//! tokens never appear in errors or in `Debug` output (they print as `***`), and a request
//! carrying a session token does not follow redirects, so the token is only ever sent to the
//! service that issued it. Nothing here logs; ureq's own `debug` log redacts these headers, but
//! its `trace` log is the wire, a login's password included: keep it off for `ureq` in
//! production.
//!
//! Errors say what failed and whether a retry was attempted; bad *records* in a good response
//! are, as everywhere, quarantined.

mod redfish;

pub use redfish::RedfishSession;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kelvin_model::{Place, Timestamp};

use crate::prometheus::{ParseOptions, parse_str};
use crate::{IngestBatch, IngestError, IngestErrorKind, RuleSet};

/// Scraper settings. Construct with [`ScrapeConfig::default`] and the `with_*` setters.
///
/// `Debug` shows the settings but not the password, which prints as `***`:
///
/// ```
/// use kelvin_ingest::scrape::ScrapeConfig;
///
/// let cfg = ScrapeConfig::default()
///     .with_basic_auth("root", "calvin")
///     .with_ca_file("/etc/kelvin/bmc-ca.pem");
/// let shown = format!("{cfg:?}");
/// assert!(shown.contains("\"root\"") && shown.contains("***") && !shown.contains("calvin"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScrapeConfig {
    /// End-to-end timeout of one attempt (connect, TLS handshake, send, receive). Default 10 s.
    pub timeout: Duration,
    /// Extra attempts after a failed one (connection error, timeout, HTTP 5xx or 429).
    /// Default 2; client errors (other 4xx) and refused certificates are not retried.
    pub retries: u32,
    /// Pause before the first retry, doubled for each further one. Default 200 ms.
    pub backoff: Duration,
    /// Largest body read, in bytes. Default 64 MiB; a larger body is an error.
    pub max_body_bytes: u64,
    /// HTTP basic credentials (user, password) sent with every request, as BMCs' Redfish
    /// services accept. Default none. Over plain `http://` they cross the network in clear.
    pub basic_auth: Option<(String, String)>,
    /// A PEM file of the CA certificates that HTTPS servers' certificates must chain to,
    /// *replacing* the built-in Mozilla roots (a BMC's certificate is usually issued by the
    /// site's own CA, or is self-signed: then the file holds that certificate). Default none:
    /// the Mozilla roots. Read by [`Scraper::new`]; every certificate in the file is trusted,
    /// anything else in it (a private key) is ignored.
    pub ca_file: Option<PathBuf>,
    /// Accept any HTTPS certificate: no verification at all, so anyone on the path can read
    /// and alter the traffic, credentials included. **For lab BMCs only**, never in production.
    /// Overrides [`ScrapeConfig::ca_file`]. Default `false`.
    pub insecure: bool,
    /// Keep the connection open between requests (default `true`). A poller with many
    /// targets polled every few seconds over plain HTTP turns it off: an idle connection
    /// keeps its buffers (48 KiB), a new one on a LAN costs a TCP handshake.
    pub keep_alive: bool,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(200),
            max_body_bytes: 64 << 20,
            basic_auth: None,
            ca_file: None,
            insecure: false,
            keep_alive: true,
        }
    }
}

impl fmt::Debug for ScrapeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeConfig")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| (user, SECRET)),
            )
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

/// What `Debug` prints for a password or a token.
const SECRET: &str = "***";

impl ScrapeConfig {
    /// Sets [`ScrapeConfig::timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`ScrapeConfig::retries`].
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets [`ScrapeConfig::backoff`].
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets [`ScrapeConfig::basic_auth`].
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }

    /// Sets [`ScrapeConfig::max_body_bytes`].
    pub fn with_max_body_bytes(mut self, n: u64) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Sets [`ScrapeConfig::ca_file`]: trust the CA certificates of this PEM file, and only
    /// them, for HTTPS.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets [`ScrapeConfig::insecure`]: `true` accepts any certificate. For lab BMCs only.
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Sets [`ScrapeConfig::keep_alive`].
    pub fn with_keep_alive(mut self, keep_alive: bool) -> Self {
        self.keep_alive = keep_alive;
        self
    }
}

/// An HTTP(S) scraper. Reuses connections between calls.
///
/// ```
/// use kelvin_ingest::scrape::{ScrapeConfig, Scraper};
///
/// // A CA file that cannot be read is refused at once by `try_new`...
/// let cfg = ScrapeConfig::default().with_ca_file("/nonexistent/ca.pem");
/// let e = Scraper::try_new(cfg.clone()).unwrap_err();
/// assert!(e.reason().starts_with("CA file /nonexistent/ca.pem: "), "{e}");
/// // ...and by every request of a scraper made with `new`, before connecting.
/// let e = Scraper::new(cfg).fetch("https://127.0.0.1:1/redfish/v1").unwrap_err();
/// assert!(e.reason().starts_with("CA file /nonexistent/ca.pem: "), "{e}");
///
/// // A lab BMC with a certificate nobody issued: no verification at all.
/// let lab = Scraper::new(ScrapeConfig::default().with_insecure(true));
/// assert!(lab.config().insecure);
/// ```
#[derive(Clone)]
pub struct Scraper {
    agent: ureq::Agent,
    cfg: ScrapeConfig,
    /// Why the TLS settings could not be made (an unreadable CA file): every request fails so.
    setup: Option<String>,
}

impl fmt::Debug for Scraper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scraper")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// A request's method.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

/// One request: its method, URL, session token and JSON body.
struct Request<'a> {
    method: Method,
    url: &'a str,
    token: Option<&'a str>,
    json: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn get(url: &'a str) -> Self {
        Request {
            method: Method::Get,
            url,
            token: None,
            json: None,
        }
    }
}

/// A successful response: the headers a Redfish session needs and the body.
struct Reply {
    token: Option<String>,
    location: Option<String>,
    content_type: Option<String>,
    body: String,
}

/// A request that failed for good: the error, and the HTTP status when there was one.
struct Failure {
    status: Option<u16>,
    error: IngestError,
}

enum Attempt {
    Done(Reply),
    Retry(String),
    Fail(IngestErrorKind, Option<u16>, String),
}

impl Scraper {
    /// A scraper with these settings. A [`ScrapeConfig::ca_file`] that cannot be read, or
    /// holds no certificate, makes every request fail with that reason
    /// ([`Scraper::try_new`] reports it at once).
    pub fn new(cfg: ScrapeConfig) -> Self {
        let (tls, setup) = match tls_config(&cfg) {
            Ok(tls) => (tls, None),
            Err(why) => (ureq::tls::TlsConfig::default(), Some(why)),
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent("kelvin-scraper")
            .tls_config(tls)
            // A connection kept alive between polls keeps its buffers: ureq's defaults
            // (128 KiB each way) cost 256 MiB for an agent polling 1,000 exporters. Requests
            // are a GET or a small login; a response's head fits 32 KiB (a BMC's or an
            // exporter's is under 1 KiB), and the body streams through.
            .input_buffer_size(32 << 10)
            .output_buffer_size(16 << 10)
            .max_response_header_size(32 << 10)
            .max_idle_connections(usize::from(cfg.keep_alive) * 10)
            .max_idle_connections_per_host(usize::from(cfg.keep_alive) * 3)
            .build()
            .into();
        Scraper { agent, cfg, setup }
    }

    /// A scraper with these settings, or the error of reading its
    /// [`ScrapeConfig::ca_file`].
    ///
    /// # Errors
    /// [`IngestErrorKind::Io`] when the CA file cannot be read, is not PEM, or holds no
    /// certificate; the reason names the file.
    pub fn try_new(cfg: ScrapeConfig) -> Result<Self, IngestError> {
        let s = Scraper::new(cfg);
        match (&s.setup, &s.cfg.ca_file) {
            (Some(why), Some(path)) => Err(IngestError::new(
                IngestErrorKind::Io,
                Place::source(path.display().to_string()),
                why.clone(),
            )),
            _ => Ok(s),
        }
    }

    /// The settings this scraper was made with.
    pub fn config(&self) -> &ScrapeConfig {
        &self.cfg
    }

    /// Fetches a URL's body as text, retrying as configured.
    ///
    /// # Errors
    /// [`IngestErrorKind::Http`] for a non-success status (after retries for 5xx/429),
    /// [`IngestErrorKind::Io`] for connection failures and timeouts after the last retry, a
    /// refused certificate or another TLS failure (`TLS: …`, not retried), a body over the
    /// size limit, or a body that is not UTF-8. The error's place is the URL (without a
    /// password it may hold); the reason says the last failure and the attempt count.
    pub fn fetch(&self, url: &str) -> Result<String, IngestError> {
        self.fetch_typed(url).map(|(body, _)| body)
    }

    /// [`Scraper::fetch`], with the response's exposition format as its `Content-Type` names
    /// it ([`crate::prometheus::format_of_content_type`]; [`Exposition::Auto`] without one).
    ///
    /// # Errors
    /// As [`Scraper::fetch`].
    ///
    /// [`Exposition::Auto`]: crate::prometheus::Exposition::Auto
    pub fn fetch_typed(
        &self,
        url: &str,
    ) -> Result<(String, crate::prometheus::Exposition), IngestError> {
        self.send(&Request::get(url))
            .map(|r| {
                let format = r
                    .content_type
                    .as_deref()
                    .map_or(crate::prometheus::Exposition::Auto, |ct| {
                        crate::prometheus::format_of_content_type(ct)
                    });
                (r.body, format)
            })
            .map_err(|f| f.error)
    }

    /// Sends a request, retrying as configured.
    fn send(&self, req: &Request<'_>) -> Result<Reply, Failure> {
        let place = || Place::source(redact_url(req.url));
        if let Some(why) = &self.setup {
            let error = IngestError::new(IngestErrorKind::Io, place(), why.clone());
            return Err(Failure {
                status: None,
                error,
            });
        }
        let mut last = String::new();
        let mut pause = self.cfg.backoff;
        for attempt in 0..=self.cfg.retries {
            if attempt > 0 {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
            }
            match self.attempt(req) {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Retry(why) => last = why,
                Attempt::Fail(kind, status, why) => {
                    let error = IngestError::new(kind, place(), why);
                    return Err(Failure { status, error });
                }
            }
        }
        let reason = format!("{last} (gave up after {} attempts)", self.cfg.retries + 1);
        let (kind, status) = match last.strip_prefix("HTTP ") {
            Some(code) => (IngestErrorKind::Http, code.parse().ok()),
            None => (IngestErrorKind::Io, None),
        };
        let error = IngestError::new(kind, place(), reason);
        Err(Failure { status, error })
    }

    fn attempt(&self, req: &Request<'_>) -> Attempt {
        let sent = match req.method {
            Method::Get => self.prepare(self.agent.get(req.url), req).call(),
            Method::Delete => self.prepare(self.agent.delete(req.url), req).call(),
            Method::Post => self
                .prepare(self.agent.post(req.url), req)
                .send(req.json.unwrap_or_default()),
        };
        let mut resp = match sent {
            Ok(r) => r,
            Err(ureq::Error::BadUri(e)) => {
                // ureq's message repeats the URL: say only what is wrong with it.
                let why = e.rsplit(" is ").next().unwrap_or("malformed");
                return Attempt::Fail(IngestErrorKind::Io, None, format!("bad URL: {why}"));
            }
            Err(e @ ureq::Error::Http(_)) => {
                return Attempt::Fail(IngestErrorKind::Io, None, format!("bad request: {e}"));
            }
            Err(e) => {
                return match tls_failure(&e) {
                    Some(why) => Attempt::Fail(
                        IngestErrorKind::Io,
                        None,
                        format!("TLS: {why} (not retried)"),
                    ),
                    None => Attempt::Retry(e.to_string()),
                };
            }
        };
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            // Read a short error body, so that the connection is reused (a crawl meets many
            // 404s, and a new TLS handshake with a BMC is slow); a long one is not worth it.
            let _ = resp.body_mut().with_config().limit(64 << 10).read_to_vec();
        }
        if status == 429 || (500..600).contains(&status) {
            return Attempt::Retry(format!("HTTP {status}"));
        }
        if !(200..300).contains(&status) {
            return Attempt::Fail(
                IngestErrorKind::Http,
                Some(status),
                format!("HTTP {status}"),
            );
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (token, location) = (header("X-Auth-Token"), header("Location"));
        let content_type = header("Content-Type");
        match resp
            .body_mut()
            .with_config()
            .limit(self.cfg.max_body_bytes)
            .read_to_string()
        {
            Ok(body) => Attempt::Done(Reply {
                token,
                location,
                content_type,
                body,
            }),
            Err(e @ ureq::Error::BodyExceedsLimit(_)) => {
                Attempt::Fail(IngestErrorKind::Io, None, e.to_string())
            }
            Err(e) => Attempt::Retry(format!("reading the body: {e}")),
        }
    }

    /// A request's headers: the credentials (a session token, or else basic credentials except
    /// on a login), and no redirects for a request carrying a token or a login.
    fn prepare<B>(
        &self,
        rb: ureq::RequestBuilder<B>,
        req: &Request<'_>,
    ) -> ureq::RequestBuilder<B> {
        let accept = if req.method == Method::Get {
            "text/plain;version=0.0.4, application/openmetrics-text;version=1.0.0;q=0.9, */*;q=0.5"
        } else {
            "application/json"
        };
        let mut rb = rb.header("Accept", accept);
        if req.json.is_some() {
            rb = rb.header("Content-Type", "application/json");
        }
        if req.token.is_some() || req.json.is_some() {
            // A token or a login's password goes only to the service it is meant for: a
            // redirect is answered as it is, not followed.
            rb = rb.config().max_redirects(0).build();
        }
        if let Some(token) = req.token {
            rb = rb.header("X-Auth-Token", token);
        } else if let (Some((user, password)), false) = (&self.cfg.basic_auth, req.json.is_some()) {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            rb = rb.header("Authorization", format!("Basic {token}"));
        }
        rb
    }

    /// Scrapes a Prometheus endpoint and decodes it: samples without a timestamp take the
    /// scrape time, and a missing `instance` label becomes the URL's `host:port`, as Prometheus
    /// itself does. The body is at most [`ScrapeConfig::max_body_bytes`]; unless `opts` sets
    /// tighter ones, the default [`crate::Limits`]' `max_records` and `max_output_bytes` bound
    /// what one scrape keeps.
    ///
    /// # Errors
    /// As [`Scraper::fetch`].
    pub fn scrape_prometheus(
        &self,
        url: &str,
        rules: &RuleSet,
        opts: &ParseOptions,
    ) -> Result<IngestBatch, IngestError> {
        let body = self.fetch(url)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        let mut opts = opts.clone();
        if opts.default_timestamp.is_none() {
            opts.default_timestamp = Some(Timestamp::from_nanos(now));
        }
        if let Some(instance) = host_port(url) {
            opts = opts.with_target_label("instance", instance);
        }
        let limits = crate::Limits::default();
        opts.max_records = opts.max_records.min(limits.max_records);
        opts.max_output_bytes = opts.max_output_bytes.min(limits.max_output_bytes);
        Ok(parse_str(&body, url, rules, &opts))
    }
}

/// The TLS settings of a configuration: no verification, the CA file's certificates, or the
/// built-in Mozilla roots.
fn tls_config(cfg: &ScrapeConfig) -> Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
    let builder = TlsConfig::builder().provider(TlsProvider::Rustls);
    if cfg.insecure {
        return Ok(builder.disable_verification(true).build());
    }
    let Some(path) = &cfg.ca_file else {
        return Ok(builder.root_certs(RootCerts::WebPki).build());
    };
    let why = |e: &dyn fmt::Display| format!("CA file {}: {e}", path.display());
    let pem = std::fs::read(path).map_err(|e| why(&e))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(why(&e)),
        }
    }
    if certs.is_empty() {
        return Err(why(&"no PEM certificate in it"));
    }
    Ok(builder
        .root_certs(RootCerts::new_with_certs(&certs))
        .build())
}

/// What went wrong in TLS, if the error is a TLS failure: a refused certificate, a failed
/// handshake. These are not retried.
fn tls_failure(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Rustls(e) => Some(e.to_string()),
        ureq::Error::Tls(why) => Some((*why).to_string()),
        ureq::Error::Pem(e) => Some(e.to_string()),
        ureq::Error::TlsRequired => Some(e.to_string()),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(ToString::to_string),
        _ => None,
    }
}

/// A URL fit for an error message: a password in it is replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:{SECRET}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// `host:port` of an `http://host:port/path` URL.
fn host_port(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hp = rest.split(['/', '?', '#']).next()?;
    let hp = hp.rsplit_once('@').map_or(hp, |(_, h)| h);
    (!hp.is_empty()).then_some(hp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_urls() {
        assert_eq!(
            host_port("http://127.0.0.1:9100/metrics"),
            Some("127.0.0.1:9100")
        );
        assert_eq!(
            host_port("http://user:pw@bmc-7:8000/redfish/v1"),
            Some("bmc-7:8000")
        );
        assert_eq!(host_port("http:///x"), None);
    }

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("https://root:calvin@bmc-7/redfish/v1?x=1"),
            "https://root:***@bmc-7/redfish/v1?x=1"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9100/metrics"),
            "http://127.0.0.1:9100/metrics"
        );
        assert_eq!(redact_url("no scheme"), "no scheme");
    }

    #[test]
    fn a_bad_url_is_not_retried_and_not_repeated() {
        let s = Scraper::new(ScrapeConfig::default().with_backoff(Duration::from_secs(60)));
        let e = s.fetch("ftp://root:calvin@bmc/x").unwrap_err();
        assert!(e.reason().starts_with("bad URL"), "{e}");
        assert!(!e.to_string().contains("calvin"), "{e}");
    }

    #[test]
    fn debug_hides_the_password() {
        let cfg = ScrapeConfig::default().with_basic_auth("root", "calvin");
        let shown = format!("{:?}", Scraper::new(cfg));
        assert!(
            shown.contains("root") && !shown.contains("calvin"),
            "{shown}"
        );
    }
}
