//! Live sources: HTTP scraping of Prometheus endpoints (and any HTTP text source) with
//! timeouts, bounded bodies and retries.
//!
//! Plain HTTP only in this build: exporters on a host or a management network. Errors say
//! what failed and whether a retry was attempted; bad *records* in a good response are, as
//! everywhere, quarantined.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kelvin_model::{Place, Timestamp};

use crate::prometheus::{ParseOptions, parse_str};
use crate::{IngestBatch, IngestError, IngestErrorKind, RuleSet};

/// Scraper settings. Construct with [`ScrapeConfig::default`] and the `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScrapeConfig {
    /// End-to-end timeout of one attempt (connect, send, receive). Default 10 s.
    pub timeout: Duration,
    /// Extra attempts after a failed one (connection error, timeout, HTTP 5xx or 429).
    /// Default 2; client errors (other 4xx) are not retried.
    pub retries: u32,
    /// Pause before the first retry, doubled for each further one. Default 200 ms.
    pub backoff: Duration,
    /// Largest body read, in bytes. Default 64 MiB; a larger body is an error.
    pub max_body_bytes: u64,
    /// HTTP basic credentials (user, password) sent with every request, as BMCs' Redfish
    /// services require. Default none.
    pub basic_auth: Option<(String, String)>,
}

impl Default for ScrapeConfig {
    fn default() -> Self {
        ScrapeConfig {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(200),
            max_body_bytes: 64 << 20,
            basic_auth: None,
        }
    }
}

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
}

/// An HTTP scraper. Reuses connections between calls.
#[derive(Debug, Clone)]
pub struct Scraper {
    agent: ureq::Agent,
    cfg: ScrapeConfig,
}

enum Attempt {
    Done(String),
    Retry(String),
    Fail(IngestErrorKind, String),
}

impl Scraper {
    /// A scraper with these settings.
    pub fn new(cfg: ScrapeConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent("kelvin-scraper")
            .build()
            .into();
        Scraper { agent, cfg }
    }

    /// Fetches a URL's body as text, retrying as configured.
    ///
    /// # Errors
    /// [`IngestErrorKind::Http`] for a non-success status (after retries for 5xx/429),
    /// [`IngestErrorKind::Io`] for connection failures and timeouts after the last retry, a
    /// body over the size limit, or a body that is not UTF-8. The reason names the URL, the
    /// attempt count and the last failure.
    pub fn fetch(&self, url: &str) -> Result<String, IngestError> {
        let mut last = String::new();
        let mut pause = self.cfg.backoff;
        for attempt in 0..=self.cfg.retries {
            if attempt > 0 {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
            }
            match self.attempt(url) {
                Attempt::Done(body) => return Ok(body),
                Attempt::Retry(why) => last = why,
                Attempt::Fail(kind, why) => {
                    return Err(IngestError::new(kind, Place::line(url, 0), why));
                }
            }
        }
        let reason = format!("{last} (gave up after {} attempts)", self.cfg.retries + 1);
        let kind = if last.starts_with("HTTP") {
            IngestErrorKind::Http
        } else {
            IngestErrorKind::Io
        };
        Err(IngestError::new(kind, Place::line(url, 0), reason))
    }

    fn attempt(&self, url: &str) -> Attempt {
        let mut req = self
            .agent
            .get(url)
            .header("Accept", "text/plain;version=0.0.4, */*;q=0.5");
        if let Some((user, password)) = &self.cfg.basic_auth {
            use base64::Engine as _;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req = req.header("Authorization", format!("Basic {token}"));
        }
        let mut resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::BadUri(e)) => {
                return Attempt::Fail(IngestErrorKind::Io, format!("bad URL: {e}"));
            }
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let status = resp.status().as_u16();
        if status == 429 || (500..600).contains(&status) {
            return Attempt::Retry(format!("HTTP {status}"));
        }
        if !(200..300).contains(&status) {
            return Attempt::Fail(IngestErrorKind::Http, format!("HTTP {status}"));
        }
        match resp
            .body_mut()
            .with_config()
            .limit(self.cfg.max_body_bytes)
            .read_to_string()
        {
            Ok(body) => Attempt::Done(body),
            Err(e @ ureq::Error::BodyExceedsLimit(_)) => {
                Attempt::Fail(IngestErrorKind::Io, e.to_string())
            }
            Err(e) => Attempt::Retry(format!("reading the body: {e}")),
        }
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

/// Every `@odata.id` link in a Redfish document, without fragments, in document order.
fn odata_links(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map {
                match (k.as_str(), x) {
                    ("@odata.id", serde_json::Value::String(link)) => {
                        out.push(
                            link.split('#')
                                .next()
                                .unwrap_or_default()
                                .trim_end_matches('/')
                                .to_string(),
                        );
                    }
                    _ => odata_links(x, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|x| odata_links(x, out)),
        _ => {}
    }
}

impl Scraper {
    /// Crawls a Redfish service from its service root (`base` is `http://host:port`), following
    /// every `@odata.id` link below `/redfish/v1` breadth-first, at most `max_resources`
    /// resources, and decodes what it fetched as one tree (with the tree's de-duplication and
    /// limits). A resource that cannot be fetched is quarantined with its path, not an error.
    ///
    /// Bounded by the context's [`crate::Limits`]: links are looked for only in bodies within
    /// the JSON limits (`max_json_bytes`, `max_json_depth`, `max_json_heap_bytes`; larger
    /// bodies are decoded, and so quarantined, without being followed); each body is decoded
    /// as it arrives and dropped, so only records are kept, within the tree's
    /// `max_tree_records` and `max_output_bytes` (past them the crawl stops, with one record
    /// for the rest); the bodies fetched total at most `max_tree_bytes`: past it, every
    /// resource not fetched is one [`crate::Reason::InputTooLarge`] record.
    ///
    /// # Errors
    /// As [`Scraper::fetch`], for the service root only.
    pub fn crawl_redfish(
        &self,
        base: &str,
        max_resources: usize,
        ctx: &crate::Context<'_>,
    ) -> Result<IngestBatch, IngestError> {
        let base = base.trim_end_matches('/');
        let root = "/redfish/v1".to_string();
        let body = self.fetch(&format!("{base}{root}"))?;
        let mut seen = std::collections::HashSet::from([root.clone()]);
        let mut queue = std::collections::VecDeque::new();
        let mut c = ctx.clone();
        if c.source.is_empty() {
            c = c.with_source(base);
        }
        // Each body is decoded as it arrives and then dropped: only records are kept.
        let mut walk = crate::redfish::tree::Walk::new(&c);
        let mut fetched: u64 = 0;
        let mut pending = Some((root, body));
        while let Some((path, body)) = pending.take() {
            if crate::json::admit(&body, &c).is_ok()
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
            {
                let mut links = Vec::new();
                odata_links(&v, &mut links);
                for l in links {
                    if l.starts_with("/redfish/v1/")
                        && seen.len() < max_resources
                        && seen.insert(l.clone())
                    {
                        queue.push_back(l);
                    }
                }
            }
            fetched = fetched.saturating_add(body.len() as u64);
            walk.document(&path, &body);
            drop(body);
            if walk.stopped() {
                break;
            }
            if fetched >= c.limits.max_tree_bytes {
                let detail = format!(
                    "not fetched: the bodies fetched reached max_tree_bytes ({})",
                    c.limits.max_tree_bytes
                );
                for path in queue.drain(..) {
                    let source = format!("{base}{path}");
                    walk.refuse_source(source, crate::Reason::InputTooLarge, detail.clone());
                }
                break;
            }
            while let Some(next) = queue.pop_front() {
                match self.fetch(&format!("{base}{next}")) {
                    Ok(body) => {
                        pending = Some((next, body));
                        break;
                    }
                    Err(e) => {
                        let source = format!("{base}{next}");
                        walk.refuse_source(
                            source,
                            crate::Reason::Unreadable,
                            e.reason().to_string(),
                        );
                    }
                }
            }
        }
        Ok(walk.finish())
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
}
