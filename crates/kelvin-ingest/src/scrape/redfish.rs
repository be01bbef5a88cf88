//! Redfish services over HTTP(S): the crawl from the service root, with basic credentials or a
//! Redfish session.

use std::fmt;

use kelvin_model::Place;

use super::{Failure, Method, Request, SECRET, Scraper};
use crate::{IngestBatch, IngestError, IngestErrorKind};

/// The URI of a Redfish service's session collection (DSP0266, "Session login").
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// A Redfish session: the credentials to log in with, and the token and session URI of the
/// current login. Kept by the caller across polls, so that a service polled every few seconds
/// is logged in to once, not at every poll.
///
/// [`Scraper::crawl_redfish_session`] logs in when the session holds no token (POST
/// `{"UserName", "Password"}` to `/redfish/v1/SessionService/Sessions`, keeping the
/// `X-Auth-Token` and `Location` of the answer), sends the token with every request, and logs
/// in again, once per crawl, when the service answers 401 (the session expired or was
/// deleted). [`Scraper::redfish_logout`] deletes the session; a session never logged out
/// lingers on the service until its `SessionTimeout`, and BMCs allow few sessions at a time.
///
/// The password and the token are never shown: `Debug` prints them as `***`, and errors do
/// not contain them.
///
/// ```no_run
/// use kelvin_ingest::scrape::{RedfishSession, ScrapeConfig, Scraper};
/// use kelvin_ingest::{Context, Normalizer};
///
/// let scraper = Scraper::try_new(ScrapeConfig::default().with_ca_file("/etc/kelvin/bmc-ca.pem"))?;
/// let mut session = RedfishSession::new("https://bmc-7.example", "monitor", "s3cret");
/// let n = Normalizer::builtin();
/// let ctx = Context::new("", &n);
/// for _poll in 0..3 {
///     // Logs in at the first poll only (and again should the session expire).
///     let batch = scraper.crawl_redfish_session(&mut session, 2000, &ctx)?;
///     println!("{} readings", batch.readings.len());
///     std::thread::sleep(std::time::Duration::from_secs(15));
/// }
/// scraper.redfish_logout(&mut session)?;
/// # Ok::<(), kelvin_ingest::IngestError>(())
/// ```
///
/// ```
/// use kelvin_ingest::scrape::RedfishSession;
///
/// let session = RedfishSession::new("https://bmc-7.example/", "monitor", "s3cret");
/// assert_eq!(session.base(), "https://bmc-7.example");
/// assert!(!session.is_open());
/// let shown = format!("{session:?}");
/// assert!(shown.contains("monitor") && !shown.contains("s3cret"), "{shown}");
/// ```
#[derive(Clone)]
pub struct RedfishSession {
    base: String,
    user: String,
    password: String,
    token: Option<String>,
    location: Option<String>,
    logins: u64,
}

impl fmt::Debug for RedfishSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedfishSession")
            .field("base", &self.base)
            .field("user", &self.user)
            .field("password", &SECRET)
            .field("token", &self.token.as_ref().map(|_| SECRET))
            .field("location", &self.location)
            .field("logins", &self.logins)
            .finish()
    }
}

impl RedfishSession {
    /// A session with a service (`base` is `https://host[:port]`) for these credentials, not
    /// logged in yet: nothing is sent until it is used.
    pub fn new(
        base: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let base: String = base.into();
        RedfishSession {
            base: base.trim_end_matches('/').to_string(),
            user: user.into(),
            password: password.into(),
            token: None,
            location: None,
            logins: 0,
        }
    }

    /// The service, `https://host[:port]`, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether the session holds a token (is logged in, as far as the client knows).
    pub fn is_open(&self) -> bool {
        self.token.is_some()
    }

    /// The path of the session resource on the service (from the login's `Location`, or the
    /// session's `@odata.id`), while logged in.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// How many times this session has logged in.
    pub fn logins(&self) -> u64 {
        self.logins
    }
}

/// The path of a session resource: a `Location` header (a path or an absolute URL, of which
/// only the path is kept, so that the session is deleted where it was made) or else the
/// `@odata.id` of the session in the login's answer.
fn session_path(location: Option<&str>, body: &str) -> Option<String> {
    let from_body = || {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v.get("@odata.id")?.as_str().map(str::to_string)
    };
    let loc = location.map(str::to_string).or_else(from_body)?;
    let path = match loc.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None => loc.as_str(),
    };
    path.starts_with('/').then(|| path.to_string())
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
    /// Crawls a Redfish service from its service root (`base` is `http://host:port` or
    /// `https://host:port`), following every `@odata.id` link below `/redfish/v1`
    /// breadth-first, at most `max_resources` resources, and decodes what it fetched as one
    /// tree (with the tree's de-duplication and limits). A resource that cannot be fetched is
    /// quarantined with its path, not an error. Requests carry the
    /// [`super::ScrapeConfig::basic_auth`] credentials, if any; for a Redfish session, see
    /// [`Scraper::crawl_redfish_session`].
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
        crawl(base, max_resources, ctx, &mut |url| self.fetch(url))
    }

    /// Crawls a Redfish service as [`Scraper::crawl_redfish`] does, in a Redfish session:
    /// logs in first when the session holds no token, sends `X-Auth-Token` with every request
    /// (instead of basic credentials), and when the service answers 401 logs in again, once in
    /// the crawl, and asks again. The session, with its token, is kept for the next crawl.
    ///
    /// # Errors
    /// As [`Scraper::redfish_login`] when the login fails (a wrong password is
    /// [`IngestErrorKind::Http`] `HTTP 401`, not retried), and as [`Scraper::fetch`] for the
    /// service root.
    pub fn crawl_redfish_session(
        &self,
        session: &mut RedfishSession,
        max_resources: usize,
        ctx: &crate::Context<'_>,
    ) -> Result<IngestBatch, IngestError> {
        if session.token.is_none() {
            self.redfish_login(session)?;
        }
        let base = session.base.clone();
        let mut relogged = false;
        let mut refused: Option<String> = None;
        let mut get = |url: &str| -> Result<String, IngestError> {
            if let Some(why) = &refused {
                let why = format!("not fetched: logging in again failed: {why}");
                return Err(IngestError::new(
                    IngestErrorKind::Http,
                    Place::source(url),
                    why,
                ));
            }
            match self.session_get(session, url) {
                Err(f) if f.status == Some(401) && !relogged => {
                    relogged = true;
                    session.token = None;
                    session.location = None;
                    if let Err(e) = self.redfish_login(session) {
                        refused = Some(e.reason().to_string());
                        return Err(e);
                    }
                    self.session_get(session, url).map_err(|f| f.error)
                }
                r => r.map_err(|f| f.error),
            }
        };
        crawl(&base, max_resources, ctx, &mut get)
    }

    fn session_get(&self, session: &RedfishSession, url: &str) -> Result<String, Failure> {
        let req = Request {
            method: Method::Get,
            url,
            token: session.token.as_deref(),
            json: None,
        };
        self.send(&req).map(|r| r.body)
    }

    /// Logs in: POSTs the session's user name and password to the service's
    /// `/redfish/v1/SessionService/Sessions` and keeps the `X-Auth-Token` and the session's
    /// `Location` of the answer. A session that was open is replaced (not deleted).
    ///
    /// # Errors
    /// As [`Scraper::fetch`] (a refused login is [`IngestErrorKind::Http`] with the status,
    /// `HTTP 401` for wrong credentials, not retried), and [`IngestErrorKind::Http`] for an
    /// answer without a token. Errors never contain the password.
    pub fn redfish_login(&self, session: &mut RedfishSession) -> Result<(), IngestError> {
        let url = format!("{}{SESSIONS}", session.base);
        let body = serde_json::json!({"UserName": session.user, "Password": session.password});
        let body = body.to_string();
        let req = Request {
            method: Method::Post,
            url: &url,
            token: None,
            json: Some(&body),
        };
        let reply = self.send(&req).map_err(|f| f.error)?;
        let Some(token) = reply.token.filter(|t| !t.is_empty()) else {
            let why = "the login was answered without an X-Auth-Token header";
            return Err(IngestError::new(
                IngestErrorKind::Http,
                Place::source(url),
                why,
            ));
        };
        session.location = session_path(reply.location.as_deref(), &reply.body);
        session.token = Some(token);
        session.logins += 1;
        Ok(())
    }

    /// Logs out: DELETEs the session resource, with its token. The session is closed on the
    /// client in any case (its token forgotten; a later crawl logs in again). Nothing is sent
    /// when it is not logged in, and a session the service no longer knows (401, 404) is
    /// closed already.
    ///
    /// # Errors
    /// As [`Scraper::fetch`], and [`IngestErrorKind::Http`] when the login named no session
    /// resource to delete.
    pub fn redfish_logout(&self, session: &mut RedfishSession) -> Result<(), IngestError> {
        let (Some(token), location) = (session.token.take(), session.location.take()) else {
            return Ok(());
        };
        let Some(path) = location else {
            let why = "the login named no session resource (Location) to delete";
            let place = Place::source(format!("{}{SESSIONS}", session.base));
            return Err(IngestError::new(IngestErrorKind::Http, place, why));
        };
        let url = format!("{}{path}", session.base);
        let req = Request {
            method: Method::Delete,
            url: &url,
            token: Some(&token),
            json: None,
        };
        match self.send(&req) {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.status, Some(401 | 404)) => Ok(()),
            Err(f) => Err(f.error),
        }
    }
}

/// The crawl of [`Scraper::crawl_redfish`], fetching with `get`.
fn crawl(
    base: &str,
    max_resources: usize,
    ctx: &crate::Context<'_>,
    get: &mut dyn FnMut(&str) -> Result<String, IngestError>,
) -> Result<IngestBatch, IngestError> {
    let base = base.trim_end_matches('/');
    let root = "/redfish/v1".to_string();
    let body = get(&format!("{base}{root}"))?;
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
            match get(&format!("{base}{next}")) {
                Ok(body) => {
                    pending = Some((next, body));
                    break;
                }
                Err(e) => {
                    let source = format!("{base}{next}");
                    walk.refuse_source(source, crate::Reason::Unreadable, e.reason().to_string());
                }
            }
        }
    }
    Ok(walk.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_paths() {
        let p = |loc: Option<&str>, body: &str| session_path(loc, body);
        assert_eq!(
            p(Some("/redfish/v1/SessionService/Sessions/7"), "").as_deref(),
            Some("/redfish/v1/SessionService/Sessions/7")
        );
        // Only the path of an absolute URL: the session is deleted where it was made.
        assert_eq!(
            p(
                Some("https://elsewhere:443/redfish/v1/SessionService/Sessions/7"),
                ""
            )
            .as_deref(),
            Some("/redfish/v1/SessionService/Sessions/7")
        );
        let body = r#"{"@odata.id": "/redfish/v1/SessionService/Sessions/9", "Id": "9"}"#;
        assert_eq!(
            p(None, body).as_deref(),
            Some("/redfish/v1/SessionService/Sessions/9")
        );
        assert_eq!(p(None, "{}"), None);
        assert_eq!(p(Some("https://host-only"), ""), None);
    }
}
