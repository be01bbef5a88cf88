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
