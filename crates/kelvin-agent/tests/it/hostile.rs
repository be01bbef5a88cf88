//! Sources that hang, fail or flood, next to a good one: the good one keeps its cadence, every
//! failure is counted by reason, and the agent's memory stays within its budget.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::lab::agent::Agent;

/// The agent's resident set budget with a 50 MB flood among its sources.
const RSS_BUDGET_BYTES: u64 = 200 << 20;

/// A loopback server: `/hang` never answers, `/fail` answers 500, `/flood` sends 50 MB of
/// garbage, `/good` a small exposition.
fn serve() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                match path.as_str() {
                    "/hang" => std::thread::sleep(Duration::from_secs(120)),
                    "/fail" => {
                        let _ = s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\nboom");
                    }
                    "/flood" => {
                        let n = 50_000_000usize;
                        let _ = s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n").as_bytes());
                        let chunk: Vec<u8> = (0..65_536u32)
                            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                            .collect();
                        let mut sent = 0;
                        while sent < n {
                            let k = chunk.len().min(n - sent);
                            if s.write_all(&chunk[..k]).is_err() {
                                break;
                            }
                            sent += k;
                        }
                    }
                    _ => {
                        let body = "# TYPE ipmi_dcmi_power_consumption_watts gauge\nipmi_dcmi_power_consumption_watts 180\n";
                        let _ = s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes());
                    }
                }
            });
        }
    });
    port
}

/// A sample's value in a `/metrics` text.
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<u64>().ok())
        .map_or(0, |k| k * 1024)
}

#[test]
fn a_hanging_a_failing_and_a_flooding_source_do_not_delay_the_good_one() {
    let port = serve();
    let src = |name: &str, path: &str, entity: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:{port}{path}\"\nentity = \"{entity}\"\ninterval_s = 0.5\ntimeout_s = 5\nretries = 1\nmax_bytes = 4194304\n"
        )
    };
    let body = format!(
        "attribution_interval_s = 5\nworkers = 4\n{}{}{}{}",
        src("good", "/good", "h1"),
        src("hang", "/hang", "h2"),
        src("fail", "/fail", "h3"),
        src("flood", "/flood", "h4"),
    );
    let agent = Agent::start("agent-hostile", &body);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(8));
    let (_, text) = agent.get("/metrics").expect("metrics");
    let elapsed = started.elapsed().as_secs_f64();
    let polls = |s: &str| {
        metric(
            &text,
            &format!("kelvin_source_polls_total{{source=\"{s}\"}}"),
        )
        .unwrap_or(0.0)
    };
    // The good source kept its 0.5 s cadence: at least 3/4 of the ticks ran.
    assert!(
        polls("good") >= 0.75 * elapsed / 0.5,
        "good polled {} times in {elapsed} s\n{text}",
        polls("good")
    );
    assert_eq!(
        metric(
            &text,
            "kelvin_source_up{source=\"good\",kind=\"prometheus\"}"
        ),
        Some(1.0)
    );
    for bad in ["hang", "fail", "flood"] {
        assert_eq!(
            metric(
                &text,
                &format!("kelvin_source_up{{source=\"{bad}\",kind=\"prometheus\"}}")
            ),
            Some(0.0),
            "{bad}\n{text}"
        );
    }
    let failures = |s: &str, r: &str| {
        metric(
            &text,
            &format!("kelvin_source_failures_total{{source=\"{s}\",reason=\"{r}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert!(failures("fail", "http") >= 1.0, "{text}");
    assert!(failures("flood", "too_large") >= 1.0, "{text}");
    // The hanging source overran its ticks (or timed out), and was counted.
    let over = metric(&text, "kelvin_source_overruns_total{source=\"hang\"}").unwrap_or(0.0);
    assert!(over >= 1.0 || failures("hang", "timeout") >= 1.0, "{text}");
    let pid = agent.pid();
    let peak = rss_bytes(pid);
    assert!(peak > 0 && peak < RSS_BUDGET_BYTES, "peak RSS {peak} bytes");
}
