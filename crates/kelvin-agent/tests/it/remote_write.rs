//! Remote write against a real Prometheus (`--web.enable-remote-write-receiver`): what the
//! agent pushes is queryable, a receiver that is down keeps requests on disk until it is up
//! (across a reopen of the queue), and a request it rejects for good is dropped and counted.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kelvin_agent::config::RemoteWriteConfig;
use kelvin_agent::remote_write::{DROP_REJECTED, RemoteWriter, Series};
use serde_json::Value;

use crate::lab::prometheus::{Prometheus, TestCa, free_port, now_ms, temp_dir};

const RECEIVER: &[&str] = &["--web.enable-remote-write-receiver"];

fn config(url: &str) -> RemoteWriteConfig {
    RemoteWriteConfig {
        url: url.to_string(),
        interval_s: 1.0,
        max_queue_bytes: 1 << 20,
        ca_file: None,
        token_file: None,
    }
}

fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Series {
    let mut all = vec![("__name__".to_string(), name.to_string())];
    all.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Series {
        labels: all,
        samples: samples.to_vec(),
    }
}

/// The request files in a queue directory.
fn queued_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".rw"))
            })
            .count()
        })
        .unwrap_or(0)
}

/// The single value of an instant query's vector result, as a number.
fn only_value(result: &Value) -> f64 {
    let r = result.as_array().expect("a vector");
    assert_eq!(r.len(), 1, "{result}");
    r[0]["value"][1]
        .as_str()
        .expect("a value")
        .parse()
        .expect("a number")
}

#[test]
fn remote_write_pushed_series_are_queryable() {
    let Some(prom) = Prometheus::start("", RECEIVER) else {
        return;
    };
    let dir = temp_dir("rw-push");
    let writer = RemoteWriter::open(&config(&prom.write_url()), &dir).unwrap();
    let t = now_ms();
    writer
        .enqueue(vec![
            // Labels out of order, samples out of order: the encoder sorts both.
            series(
                "kelvin_it_power_watts",
                &[("zone", "a"), ("host", "h1")],
                &[(t - 1000, 101.5), (t - 2000, 100.25)],
            ),
            series(
                "kelvin_it_energy_joules_total",
                &[("host", "h1"), ("unit", "é ✓ \"q\"")],
                &[(t - 1000, 3.6e6)],
            ),
        ])
        .unwrap();
    let out = writer.flush();
    assert_eq!(
        (out.requests_sent, out.samples_sent, out.pending),
        (1, 3, 0)
    );
    assert_eq!(out.error, None);
    assert_eq!(queued_files(&dir), 0);

    let r = prom.wait_for("kelvin_it_power_watts", Duration::from_secs(10), |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(only_value(&r), 101.5);
    let metric = &r[0]["metric"];
    assert_eq!(
        metric,
        &serde_json::json!({"__name__": "kelvin_it_power_watts", "host": "h1", "zone": "a"})
    );
    let earlier = prom.query_at("kelvin_it_power_watts", (t - 1500) as f64 / 1000.0);
    assert_eq!(only_value(&earlier), 100.25);
    let energy = prom.query(r#"kelvin_it_energy_joules_total{unit="é ✓ \"q\""}"#);
    assert_eq!(only_value(&energy), 3.6e6);

    let st = writer.stats();
    assert_eq!(
        (st.requests_sent, st.samples_sent, st.failed_attempts),
        (1, 3, 0)
    );
    assert!(st.dropped_samples.is_empty() && st.last_success.is_some());
    assert_eq!((st.queue_requests, st.queue_bytes), (0, 0));
    drop(writer);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_write_receiver_down_keeps_the_queue_until_it_is_up() {
    if !Path::new(crate::lab::prometheus::BINARY).exists() {
        eprintln!("SKIP: prometheus is not installed");
        return;
    }
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let dir = temp_dir("rw-down");
    let t = now_ms();
    {
        let first = RemoteWriter::open(&config(&url), &dir).unwrap();
        first
            .enqueue(vec![series("kelvin_it_down", &[("n", "1")], &[(t, 1.0)])])
            .unwrap();
        let out = first.flush();
        assert_eq!((out.requests_sent, out.pending), (0, 1));
        assert!(out.error.as_deref().unwrap().contains("POST"), "{out:?}");
        first
            .enqueue(vec![series("kelvin_it_down", &[("n", "2")], &[(t, 2.0)])])
            .unwrap();
        let st = first.stats();
        assert_eq!((st.queue_requests, st.failed_attempts), (2, 1));
        assert!(st.last_error.is_some() && st.last_success.is_none());
        assert_eq!(queued_files(&dir), 2);
        // Dropped without a word, as a killed process would leave it.
    }

    // A new writer on the same directory finds both requests, and its sending loop retries
    // (backing off) until the receiver comes up.
    let second = RemoteWriter::open(&config(&url), &dir).unwrap();
    assert_eq!(second.stats().queue_requests, 2);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| second.run(Duration::from_millis(200), &stop));
        std::thread::sleep(Duration::from_millis(1500));
        assert!(second.stats().failed_attempts >= 1);
        assert_eq!(second.stats().queue_requests, 2);
        let prom = Prometheus::start_on(port, "", RECEIVER).unwrap();
        let deadline = Instant::now() + Duration::from_secs(45);
        while second.stats().queue_requests > 0 {
            assert!(Instant::now() < deadline, "{:?}", second.stats());
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::Relaxed);
        let r = prom.wait_for("kelvin_it_down", Duration::from_secs(10), |r| {
            r.as_array().is_some_and(|a| a.len() == 2)
        });
        let mut got: Vec<(String, String)> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["metric"]["n"].as_str().unwrap().to_string(),
                    x["value"][1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(got, [("1".into(), "1".into()), ("2".into(), "2".into())]);
    });
    eprintln!(
        "delivered {:?} after the second writer opened",
        started.elapsed()
    );
    let st = second.stats();
    assert_eq!((st.requests_sent, st.samples_sent), (2, 2));
    assert_eq!(st.backoff, None, "a success resets the backoff");
    assert_eq!(queued_files(&dir), 0);
    drop(second);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_write_rejected_request_is_dropped_and_the_next_goes_through() {
    let Some(prom) = Prometheus::start("", RECEIVER) else {
        return;
    };
    let dir = temp_dir("rw-reject");
    let writer = RemoteWriter::open(&config(&prom.write_url()), &dir).unwrap();
    let t = now_ms();
    writer
        .enqueue(vec![series("kelvin_it_ooo", &[], &[(t, 1.0)])])
        .unwrap();
    assert_eq!(writer.flush().requests_sent, 1);

    // Older than the series' newest sample: out of order, which Prometheus answers 400.
    writer
        .enqueue(vec![series(
            "kelvin_it_ooo",
            &[],
            &[(t - 60_000, 7.0), (t - 59_000, 8.0)],
        )])
        .unwrap();
    writer
        .enqueue(vec![series("kelvin_it_after", &[], &[(t, 42.0)])])
        .unwrap();
    let out = writer.flush();
    assert_eq!(
        (out.requests_sent, out.requests_dropped, out.samples_dropped),
        (1, 1, 2),
        "{out:?}"
    );
    assert_eq!((out.pending, out.error), (0, None));
    let st = writer.stats();
    assert_eq!(st.dropped_samples.get(DROP_REJECTED), Some(&2));
    assert_eq!(st.dropped_requests.get(DROP_REJECTED), Some(&1));
    assert_eq!(st.failed_attempts, 1);
    let err = st.last_error.unwrap();
    assert!(err.contains("HTTP 400"), "{err}");
    let r = prom.wait_for("kelvin_it_after", Duration::from_secs(10), |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(only_value(&r), 42.0);
    assert_eq!(only_value(&prom.query("kelvin_it_ooo")), 1.0);
    drop(writer);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_write_https_receiver_verified_with_ca_file() {
    let Some(ca) = TestCa::new() else {
        return;
    };
    let Some(prom) = Prometheus::start_tls("", RECEIVER, &ca) else {
        return;
    };
    assert!(prom.write_url().starts_with("https://127.0.0.1:"));
    let t = now_ms();
    let batch = || vec![series("kelvin_it_tls", &[("via", "https")], &[(t, 5.5)])];

    // Without the CA, the built-in roots do not know the server: not sent, kept for later.
    let untrusting_dir = temp_dir("rw-tls-no-ca");
    let untrusting = RemoteWriter::open(&config(&prom.write_url()), &untrusting_dir).unwrap();
    untrusting.enqueue(batch()).unwrap();
    let out = untrusting.flush();
    assert_eq!((out.requests_sent, out.pending), (0, 1), "{out:?}");
    let err = out.error.unwrap();
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("issuer"),
        "{err}"
    );

    let dir = temp_dir("rw-tls");
    let mut cfg = config(&prom.write_url());
    cfg.ca_file = Some(ca.ca_file.clone());
    let writer = RemoteWriter::open(&cfg, &dir).unwrap();
    writer.enqueue(batch()).unwrap();
    let out = writer.flush();
    assert_eq!(
        (out.requests_sent, out.samples_sent, out.pending),
        (1, 1, 0),
        "{out:?}"
    );
    let r = prom.wait_for("kelvin_it_tls", Duration::from_secs(10), |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(only_value(&r), 5.5);
    assert_eq!(r[0]["metric"]["via"], "https");
    drop((writer, untrusting));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&untrusting_dir).unwrap();
}

/// Set for the child process of [`remote_write_queue_survives_kill_9`]: its queue directory.
const CRASH_DIR_ENV: &str = "KELVIN_IT_RW_CRASH_DIR";

/// Not a test of its own: the process `remote_write_queue_survives_kill_9` starts and kills,
/// enqueuing as fast as it can (at most 5000 requests). Does nothing unless told its
/// directory.
#[test]
#[ignore = "run by remote_write_queue_survives_kill_9 in a child process"]
fn remote_write_crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR_ENV) else {
        return;
    };
    let writer =
        RemoteWriter::open(&config("http://127.0.0.1:1/api/v1/write"), Path::new(&dir)).unwrap();
    let t = now_ms();
    for i in 0..5000 {
        let batch: Vec<Series> = (0..50)
            .map(|j| {
                let (i, j) = (i.to_string(), j.to_string());
                series("kelvin_it_crash", &[("req", &i), ("s", &j)], &[(t, 1.0)])
            })
            .collect();
        writer.enqueue(batch).unwrap();
    }
}

#[test]
fn remote_write_queue_survives_kill_9() {
    let Some(prom) = Prometheus::start("", RECEIVER) else {
        return;
    };
    let dir = temp_dir("rw-kill9");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "remote_write::remote_write_crash_child",
            "--ignored",
        ])
        .env(CRASH_DIR_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while queued_files(&dir) < 30 {
        assert!(Instant::now() < deadline, "the child queued nothing");
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL, mid-write as likely as not
    child.wait().unwrap();

    // Every request the killed writer renamed into place is whole; a temporary it left is
    // removed, never sent.
    let writer = RemoteWriter::open(&config(&prom.write_url()), &dir).unwrap();
    let at_open = writer.stats();
    assert!(at_open.dropped_requests.is_empty(), "{at_open:?}");
    assert!(at_open.queue_requests >= 30);
    let out = writer.flush();
    assert_eq!(out.requests_sent, at_open.queue_requests, "{out:?}");
    assert_eq!((out.requests_dropped, out.pending), (0, 0), "{out:?}");
    assert_eq!(out.samples_sent, 50 * out.requests_sent);
    let r = prom.wait_for("count(kelvin_it_crash)", Duration::from_secs(10), |r| {
        r.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(only_value(&r), out.samples_sent as f64);
    eprintln!(
        "{} requests queued before kill -9, all delivered",
        out.requests_sent
    );
    drop(writer);
    std::fs::remove_dir_all(&dir).unwrap();
}
