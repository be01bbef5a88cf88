//! Live HTTP sources: a loopback server scripted per test (timeouts, retries, limits), and the
//! real `prometheus-node-exporter` when installed (CI installs it; skipped, saying so, when not).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kelvin_ingest::scrape::{ScrapeConfig, Scraper};
use kelvin_ingest::{IngestErrorKind, ParseOptions, RuleSet};
use kelvin_model::SensorKind;

/// Serves one scripted response per connection, in order, on a loopback port.
/// `None` accepts the connection and never answers (for timeouts).
fn serve(responses: Vec<Option<String>>) -> (String, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut served = 0;
        let mut held: Vec<TcpStream> = Vec::new();
        for resp in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            served += 1;
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            match resp {
                Some(r) => {
                    let _ = stream.write_all(r.as_bytes());
                }
                None => held.push(stream),
            }
        }
        served
    });
    (url, handle)
}

fn http(status: &str, body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

const BODY: &str =
    "# TYPE ipmi_dcmi_power_consumption_watts gauge\nipmi_dcmi_power_consumption_watts 212\n";

fn quick() -> ScrapeConfig {
    ScrapeConfig::default()
        .with_timeout(Duration::from_millis(500))
        .with_backoff(Duration::from_millis(10))
}

#[test]
fn retries_server_errors_then_succeeds() {
    let (url, h) = serve(vec![
        http("503 Service Unavailable", "busy"),
        http("200 OK", BODY),
    ]);
    let b = Scraper::new(quick())
        .scrape_prometheus(&url, &RuleSet::builtin(), &ParseOptions::default())
        .unwrap();
    assert_eq!(h.join().unwrap(), 2);
    assert_eq!(b.readings.len(), 1);
    let r = &b.readings[0];
    // The missing instance label became the URL's host:port, without the port.
    assert_eq!(
        (r.entity.as_str(), r.kind, r.value),
        ("127.0.0.1", SensorKind::Power, 212.0)
    );
    assert!(r.ts.is_known(), "samples take the scrape time");
}

#[test]
fn client_errors_are_not_retried() {
    let (url, h) = serve(vec![http("404 Not Found", "no"), http("200 OK", BODY)]);
    let e = Scraper::new(quick()).fetch(&url).unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::Http);
    assert_eq!(e.reason(), "HTTP 404");
    drop(h); // the second response is never requested
}

#[test]
fn a_silent_server_times_out_and_gives_up() {
    let (url, _h) = serve(vec![None, None]);
    let t = Instant::now();
    let e = Scraper::new(quick().with_retries(1))
        .fetch(&url)
        .unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::Io);
    assert!(e.reason().contains("gave up after 2 attempts"), "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "bounded by the timeout: {:?}",
        t.elapsed()
    );
}

#[test]
fn oversized_bodies_are_refused() {
    let big = "x".repeat(10_000);
    let (url, _h) = serve(vec![http("200 OK", &big)]);
    let e = Scraper::new(quick().with_max_body_bytes(1000).with_retries(0))
        .fetch(&url)
        .unwrap_err();
    assert_eq!(e.kind(), IngestErrorKind::Io);
}

struct Exporter(Child);

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn node_exporter_binary() -> Option<&'static str> {
    [
        "/usr/bin/prometheus-node-exporter",
        "/usr/local/bin/node_exporter",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
}

#[test]
fn scrapes_a_real_node_exporter() {
    let Some(bin) = node_exporter_binary() else {
        eprintln!("SKIP: prometheus-node-exporter is not installed (CI installs it)");
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node exporter");
    let _guard = Exporter(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let scraper = Scraper::new(
        ScrapeConfig::default()
            .with_retries(20)
            .with_backoff(Duration::from_millis(100)),
    );
    let b = scraper
        .scrape_prometheus(&url, &RuleSet::builtin(), &ParseOptions::default())
        .unwrap();
    assert!(
        b.stats.seen > 100,
        "a node exporter serves hundreds of samples, got {}",
        b.stats.seen
    );
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    // Host CPU time by mode is on every Linux host.
    let cpu: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.kind == SensorKind::CpuTime)
        .collect();
    assert!(!cpu.is_empty(), "node_cpu_seconds_total is mapped");
    assert!(
        cpu.iter()
            .all(|r| r.entity.as_str() == "127.0.0.1" && r.value >= 0.0)
    );
    // Everything else is counted: nothing but unmapped metrics is quarantined.
    let other: Vec<_> = b
        .quarantine
        .iter()
        .filter(|q| q.reason != kelvin_ingest::Reason::UnmappedMetric)
        .collect();
    assert!(other.is_empty(), "{:?}", &other[..other.len().min(3)]);
}

/// Serves a Redfish mockup directory (`<dir>/Chassis/1U/index.json` at
/// `/redfish/v1/Chassis/1U`) on loopback until the test process ends; 404 for the rest.
fn serve_mockup(dir: std::path::PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let _ = reader.read_line(&mut request);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let rel = path.trim_start_matches("/redfish/v1").trim_matches('/');
            let file = if rel.is_empty() {
                dir.join("index.json")
            } else {
                dir.join(rel).join("index.json")
            };
            let resp = match std::fs::read_to_string(&file) {
                Ok(body) => http("200 OK", &body).unwrap(),
                Err(_) => http("404 Not Found", "").unwrap(),
            };
            let _ = stream.write_all(resp.as_bytes());
        }
    });
    base
}

#[test]
fn crawls_a_redfish_service_like_its_dump() {
    let Some(dir) = crate::support::corpus("ingest/redfish_dmtf/public-rackmount1") else {
        return;
    };
    let base = serve_mockup(dir.clone());
    let n = kelvin_ingest::Normalizer::builtin();
    let ctx = kelvin_ingest::Context::new("", &n);
    let crawled = Scraper::new(quick())
        .crawl_redfish(&base, 2000, &ctx)
        .unwrap();
    let walked = kelvin_ingest::redfish::decode_tree(&dir, &ctx).unwrap();
    assert_eq!(
        crawled.stats.seen,
        crawled.stats.accepted + crawled.stats.quarantined
    );
    assert!(crawled.stats.accepted > 50, "{:?}", crawled.stats);
    // The same readings as decoding the dump on disk, except where the mockup holds resources
    // that no collection links to (a crawler cannot find them: Sensors/CPU1Power and the FPGA1
    // processor) — there the crawl keeps the excerpt that the unlinked Sensor would have
    // superseded.
    let series = |b: &kelvin_ingest::IngestBatch| -> std::collections::BTreeMap<(String, String, String), u64> {
        b.readings
            .iter()
            .map(|r| ((r.entity.to_string(), r.sensor.to_string(), r.kind.to_string()), r.value.to_bits()))
            .collect()
    };
    let (c, w) = (series(&crawled), series(&walked));
    let common = c.keys().filter(|k| w.contains_key(*k)).count();
    assert!(
        common + 3 >= w.len() && common + 1 >= c.len(),
        "crawled {} walked {} common {common}",
        c.len(),
        w.len()
    );
    for (k, v) in &c {
        if let Some(wv) = w.get(k) {
            assert_eq!(v, wv, "{k:?}");
        }
    }
    let inlet: Vec<_> = crawled
        .readings
        .iter()
        .filter(|r| r.sensor == "inlet")
        .collect();
    assert_eq!(inlet.len(), 1);
    assert_eq!(inlet[0].value, 24.8);
}

#[test]
fn basic_credentials_are_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/redfish/v1", listener.local_addr().unwrap());
    let seen = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut auth = String::new();
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
            eprintln!("HDR {line:?}");
            if line.to_ascii_lowercase().starts_with("authorization:") {
                auth = line.trim().to_string();
            }
            line.clear();
        }
        let _ = stream.write_all(http("200 OK", "{}").unwrap().as_bytes());
        auth
    });
    let body = Scraper::new(quick().with_basic_auth("root", "calvin"))
        .fetch(&url)
        .unwrap();
    assert_eq!(body, "{}");
    // base64("root:calvin")
    let header = seen.join().unwrap();
    let (name, value) = header.split_once(':').unwrap();
    assert!(name.eq_ignore_ascii_case("authorization"), "{header}");
    assert_eq!(value.trim(), "Basic cm9vdDpjYWx2aW4=");
}
