//! HTTPS and Redfish sessions against a loopback Redfish service: rustls serving the DMTF
//! `public-rackmount1` mockup with a certificate made at test time by the `openssl` CLI (a CA,
//! and a certificate for 127.0.0.1 that it signed). The service may require basic credentials
//! or a Redfish session (`X-Auth-Token` from a login POST). Skipped, saying so, when `openssl`
//! or the shared corpus is absent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use kelvin_ingest::scrape::{RedfishSession, ScrapeConfig, Scraper};
use kelvin_ingest::{Context, IngestBatch, IngestErrorKind, Normalizer};
use kelvin_model::SensorKind;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// The CA and the server's certificate and key, PEM files in the target's scratch directory.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Runs `openssl` with these arguments in `dir`; whether it succeeded.
fn openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Removes the PKI directories of test runs that have ended (on Linux, where that is known).
fn remove_stale_pki(tmp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("https-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn make_pki() -> Option<Pki> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_pki(tmp);
    let dir = tmp.join(format!("https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
        &["-subj", "/CN=Kelvin test CA"],
        &["-addext", "basicConstraints=critical,CA:TRUE"],
        &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    ]
    .concat();
    let csr = [
        &["req", "-new"][..],
        &ec,
        &["-keyout", "server.key", "-out", "server.csr"],
        &["-subj", "/CN=127.0.0.1"],
    ]
    .concat();
    let ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
               extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::fs::write(dir.join("server.ext"), ext).ok()?;
    let sign = [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "2",
        "-out",
        "server.pem",
        "-extfile",
        "server.ext",
    ];
    if !(openssl(&dir, &ca) && openssl(&dir, &csr) && openssl(&dir, &sign)) {
        eprintln!("SKIP: the openssl CLI is not installed or failed to make certificates");
        return None;
    }
    Some(Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    })
}

/// The test PKI, made once per test run; `None` (after saying why) without `openssl`.
fn pki() -> Option<&'static Pki> {
    static PKI: OnceLock<Option<Pki>> = OnceLock::new();
    PKI.get_or_init(make_pki).as_ref()
}

/// What the service requires.
#[derive(Clone, Copy)]
enum Auth {
    Open,
    Basic(&'static str, &'static str),
    Session(&'static str, &'static str),
}

/// What the service saw.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    requests: AtomicUsize,
    logins: AtomicUsize,
    deletes: AtomicUsize,
    /// Open sessions: path → token.
    sessions: Mutex<HashMap<String, String>>,
}

struct Service {
    base: String,
    seen: Arc<Seen>,
}

struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(r: &mut impl BufRead) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Req {
        method,
        path,
        headers,
        body,
    })
}

fn reply(status: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    head.into_bytes()
}

fn unauthorized() -> Vec<u8> {
    reply("401 Unauthorized", &[], r#"{"error": "unauthorized"}"#)
}

/// A login POST: a session for the right user name and password, 401 otherwise.
fn login(req: &Req, user: &str, password: &str, seen: &Seen) -> Vec<u8> {
    seen.logins.fetch_add(1, Ordering::SeqCst);
    let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    if v["UserName"] != user || v["Password"] != password {
        return unauthorized();
    }
    let mut sessions = seen.sessions.lock().unwrap();
    let n = seen.logins.load(Ordering::SeqCst);
    let (path, token) = (format!("{SESSIONS}/{n}"), format!("token-{n}-{}", n * 7919));
    sessions.insert(path.clone(), token.clone());
    let body = format!(r#"{{"@odata.id": "{path}", "Id": "{n}", "UserName": "{user}"}}"#);
    let headers = [("X-Auth-Token", token), ("Location", path)];
    reply("201 Created", &headers, &body)
}

fn respond(req: &Req, mockup: &Path, auth: Auth, seen: &Seen) -> Vec<u8> {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let header = |k: &str| req.headers.get(k).map(String::as_str);
    match auth {
        Auth::Open => {}
        Auth::Basic(user, password) => {
            use base64::Engine as _;
            let want =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            if header("authorization") != Some(&format!("Basic {want}")) {
                return unauthorized();
            }
        }
        Auth::Session(user, password) => {
            if req.method == "POST" && req.path == SESSIONS {
                return login(req, user, password, seen);
            }
            let mut sessions = seen.sessions.lock().unwrap();
            let token = header("x-auth-token").unwrap_or_default();
            if !sessions.values().any(|t| t == token) {
                return unauthorized();
            }
            if req.method == "DELETE" {
                if sessions.get(&req.path).is_none_or(|t| t != token) {
                    return reply("404 Not Found", &[], "{}");
                }
                sessions.remove(&req.path);
                seen.deletes.fetch_add(1, Ordering::SeqCst);
                return reply("204 No Content", &[], "");
            }
        }
    }
    let rel = req.path.trim_start_matches("/redfish/v1").trim_matches('/');
    match std::fs::read_to_string(mockup.join(rel).join("index.json")) {
        Ok(body) if req.method == "GET" => reply("200 OK", &[], &body),
        _ => reply("404 Not Found", &[], "{}"),
    }
}

/// One connection: TLS, then requests answered in turn (keep-alive) until the client closes.
fn connection(
    tcp: TcpStream,
    cfg: Arc<rustls::ServerConfig>,
    mockup: &Path,
    auth: Auth,
    seen: &Seen,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
        return;
    };
    let mut stream = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    while let Some(req) = read_request(&mut stream) {
        let resp = respond(&req, mockup, auth, seen);
        let s = stream.get_mut();
        if s.write_all(&resp).and_then(|()| s.flush()).is_err() {
            return;
        }
    }
}

/// Serves the mockup over HTTPS on loopback until the test process ends.
fn serve(pki: &Pki, mockup: PathBuf, auth: Auth) -> Service {
    let certs = CertificateDer::pem_file_iter(&pki.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            s.connections.fetch_add(1, Ordering::SeqCst);
            let (cfg, mockup, s) = (cfg.clone(), mockup.clone(), s.clone());
            std::thread::spawn(move || connection(tcp, cfg, &mockup, auth, &s));
        }
    });
    Service { base, seen }
}

/// The PKI and the mockup, or `None` (after saying why).
fn setup() -> Option<(&'static Pki, PathBuf)> {
    let mockup = crate::support::corpus("ingest/redfish_dmtf/public-rackmount1")?;
    Some((pki()?, mockup))
}

fn quick() -> ScrapeConfig {
    ScrapeConfig::default()
        .with_timeout(Duration::from_secs(2))
        .with_backoff(Duration::from_millis(10))
}

fn crawl(scraper: &Scraper, base: &str) -> Result<IngestBatch, kelvin_ingest::IngestError> {
    let n = Normalizer::builtin();
    scraper.crawl_redfish(base, 2000, &Context::new("", &n))
}

fn crawl_session(
    scraper: &Scraper,
    session: &mut RedfishSession,
) -> Result<IngestBatch, kelvin_ingest::IngestError> {
    let n = Normalizer::builtin();
    scraper.crawl_redfish_session(session, 2000, &Context::new("", &n))
}

/// The mockup's readings, as decoding its dump finds them (see `redfish.rs`).
fn assert_mockup_readings(b: &IngestBatch) {
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert!(b.stats.accepted > 50, "{:?}", b.stats);
    let one = |sensor: &str, kind: SensorKind| {
        let found: Vec<_> = b
            .readings
            .iter()
            .filter(|r| r.entity.as_str() == "1U" && r.sensor == sensor && r.kind == kind)
            .collect();
        assert_eq!(found.len(), 1, "{sensor} {kind:?}: {found:?}");
        found[0].value
    };
    assert_eq!(one("inlet", SensorKind::Temperature), 24.8);
    assert_eq!(one("PS1InputPower", SensorKind::Power), 374.0);
    assert_eq!(one("PS1Energy", SensorKind::Energy), 7855.0 * 3.6e6);
}

#[test]
fn https_without_the_ca_is_refused_naming_the_certificate_problem() {
    let Some((pki, mockup)) = setup() else { return };
    let svc = serve(pki, mockup, Auth::Open);
    let e = crawl(&Scraper::new(quick().with_retries(2)), &svc.base).unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::Io);
    let shown = e.to_string();
    assert_eq!(
        shown,
        format!(
            "{}/redfish/v1: TLS: invalid peer certificate: UnknownIssuer (not retried)",
            svc.base
        )
    );
    // A certificate does not become valid by retrying: one handshake, no retry.
    assert_eq!(svc.seen.connections.load(Ordering::SeqCst), 1, "{shown}");
    assert_eq!(svc.seen.requests.load(Ordering::SeqCst), 0);
}

#[test]
fn https_with_the_ca_file_crawls_the_mockup() {
    let Some((pki, mockup)) = setup() else { return };
    let svc = serve(pki, mockup, Auth::Open);
    let scraper = Scraper::try_new(quick().with_ca_file(&pki.ca)).unwrap();
    let b = crawl(&scraper, &svc.base).unwrap();
    assert_mockup_readings(&b);
    // The legacy Power resource was fetched: its PowerConsumedWatts (344 W) is there, as a
    // duplicate of the chassis' input power that Sensors/TotalPower reports.
    assert!(
        b.quarantine.iter().any(|q| q
            .place
            .to_string()
            .contains("/Chassis/1U/Power#/PowerControl/0/PowerConsumedWatts")),
        "{:?}",
        &b.quarantine
    );
    // Connections are reused: far fewer handshakes than resources.
    let (conns, reqs) = (
        svc.seen.connections.load(Ordering::SeqCst),
        svc.seen.requests.load(Ordering::SeqCst),
    );
    assert!(
        reqs > 50 && conns <= 3,
        "{conns} connections for {reqs} requests"
    );
}

#[test]
fn https_insecure_mode_reads_a_self_signed_service() {
    let Some((pki, mockup)) = setup() else { return };
    let svc = serve(pki, mockup, Auth::Open);
    let b = crawl(&Scraper::new(quick().with_insecure(true)), &svc.base).unwrap();
    assert_mockup_readings(&b);
}

#[test]
fn a_ca_file_without_certificates_is_refused() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("not-a-ca-{}.pem", std::process::id()));
    std::fs::write(&path, "not a certificate\n").unwrap();
    let e = Scraper::try_new(ScrapeConfig::default().with_ca_file(&path)).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert_eq!(e.kind(), IngestErrorKind::Io);
    assert!(e.reason().ends_with("no PEM certificate in it"), "{e}");
}

#[test]
fn redfish_session_logs_in_once_again_after_401_and_logs_out() {
    let Some((pki, mockup)) = setup() else { return };
    let svc = serve(pki, mockup, Auth::Session("monitor", "s3cret-pw"));
    let scraper = Scraper::new(quick().with_ca_file(&pki.ca));
    // Without the session the service refuses.
    let e = crawl(&scraper, &svc.base).unwrap_err();
    assert_eq!((e.kind(), e.reason()), (IngestErrorKind::Http, "HTTP 401"));

    let mut session = RedfishSession::new(svc.base.clone(), "monitor", "s3cret-pw");
    assert_mockup_readings(&crawl_session(&scraper, &mut session).unwrap());
    assert!(session.is_open());
    assert_eq!(
        session.location(),
        Some("/redfish/v1/SessionService/Sessions/1")
    );
    // The next poll uses the same session.
    assert_mockup_readings(&crawl_session(&scraper, &mut session).unwrap());
    assert_eq!(session.logins(), 1);
    // The service drops the session (a timeout, a BMC reset): one 401, one login, no loss.
    svc.seen.sessions.lock().unwrap().clear();
    assert_mockup_readings(&crawl_session(&scraper, &mut session).unwrap());
    assert_eq!(session.logins(), 2);
    assert_eq!(svc.seen.logins.load(Ordering::SeqCst), 2);
    let shown = format!("{session:?}");
    assert!(
        !shown.contains("s3cret-pw") && !shown.contains("token-"),
        "{shown}"
    );

    scraper.redfish_logout(&mut session).unwrap();
    assert!(!session.is_open());
    assert_eq!(svc.seen.deletes.load(Ordering::SeqCst), 1);
    assert!(svc.seen.sessions.lock().unwrap().is_empty());
    // Logged out: nothing more to send.
    scraper.redfish_logout(&mut session).unwrap();
    assert_eq!(svc.seen.deletes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_wrong_session_password_is_a_401_not_retried_and_not_shown() {
    let Some((pki, mockup)) = setup() else { return };
    let svc = serve(pki, mockup, Auth::Session("monitor", "s3cret-pw"));
    let scraper = Scraper::new(quick().with_ca_file(&pki.ca).with_retries(2));
    let mut session = RedfishSession::new(svc.base.clone(), "monitor", "wrong-pw-42");
    let e = crawl_session(&scraper, &mut session).unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::Http);
    assert_eq!(e.reason(), "HTTP 401");
    assert_eq!(e.to_string(), format!("{}{SESSIONS}: HTTP 401", svc.base));
    assert!(!format!("{e} {e:?} {session:?}").contains("wrong-pw-42"));
    assert_eq!(svc.seen.logins.load(Ordering::SeqCst), 1, "not retried");
    assert!(!session.is_open());
}

#[test]
fn basic_credentials_over_https() {
    let Some((pki, mockup)) = setup() else { return };
    let svc = serve(pki, mockup, Auth::Basic("root", "calvin-pw"));
    let good = quick()
        .with_ca_file(&pki.ca)
        .with_basic_auth("root", "calvin-pw");
    assert_mockup_readings(&crawl(&Scraper::new(good), &svc.base).unwrap());

    let before = svc.seen.requests.load(Ordering::SeqCst);
    let bad = quick()
        .with_ca_file(&pki.ca)
        .with_retries(2)
        .with_basic_auth("root", "wrong-pw-42");
    let shown = format!("{bad:?} {:?}", Scraper::new(bad.clone()));
    assert!(
        shown.contains("\"root\", \"***\"") && !shown.contains("wrong-pw-42"),
        "{shown}"
    );
    let e = crawl(&Scraper::new(bad), &svc.base).unwrap_err();
    assert_eq!((e.kind(), e.reason()), (IngestErrorKind::Http, "HTTP 401"));
    assert!(!format!("{e} {e:?}").contains("wrong-pw-42"));
    assert_eq!(
        svc.seen.requests.load(Ordering::SeqCst),
        before + 1,
        "not retried"
    );
}
