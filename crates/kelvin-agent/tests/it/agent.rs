//! The agent end to end on real components: it scrapes a real node exporter and reads
//! OpenIPMI's simulated BMC through ipmitool; a real Prometheus scrapes it, and a second one
//! receives its series by remote write; a SIGKILL and a restart show Prometheus no counter
//! reset.

use std::time::Duration;

use serde_json::Value;

use crate::lab::agent::Agent;
use crate::lab::ipmi_sim::IpmiSim;
use crate::lab::node_exporter::NodeExporter;
use crate::lab::prometheus::Prometheus;

/// The BMC's power.
const WATTS: u32 = 210;

fn scalar(v: &Value) -> Option<f64> {
    v.as_array()?.first()?["value"][1].as_str()?.parse().ok()
}

fn scrape_config(agent: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kelvin\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{agent}']\n"
    )
}

#[test]
fn prometheus_sees_the_bmc_power_and_no_reset_across_a_sigkill() {
    let Some(node) = NodeExporter::start() else {
        return;
    };
    let Some(bmc) = IpmiSim::start(WATTS) else {
        return;
    };
    let Some(receiver) = Prometheus::start("", &["--web.enable-remote-write-receiver"]) else {
        return;
    };
    let body = format!(
        r#"attribution_interval_s = 5
lateness_s = 6
max_gap_s = 15

[[sources]]
name = "node"
kind = "prometheus"
url = "{node}"
entity = "h1"
interval_s = 1
{bmc_source}
[remote_write]
url = "{rw}"
interval_s = 1
"#,
        node = node.url(),
        bmc_source = bmc.source_toml("bmc", "h1", 2),
        rw = receiver.write_url(),
    );
    let mut agent = Agent::start("agent-e2e", &body);
    let Some(prom) = Prometheus::start(&scrape_config(&agent.addr), &[]) else {
        return;
    };
    let host = r#"kelvin_host_energy_joules_total{host="h1"}"#;
    // The counter rises at the BMC's power: its increase over the closed intervals between
    // two instants, divided by the time those intervals cover, is the BMC's 210 W.
    let closed = "kelvin_closed_through_timestamp_seconds";
    let both = |p: &Prometheus| {
        let e = scalar(&p.query(host));
        let c = scalar(&p.query(closed));
        e.zip(c)
    };
    let first = (0..900)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            both(&prom).filter(|(e, _)| *e > 0.0)
        })
        .unwrap_or_else(|| panic!("no host energy in Prometheus after 90 s\n{}", agent.log()));
    let second = (0..900)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            both(&prom).filter(|(_, c)| *c >= first.1 + 20.0)
        })
        .unwrap_or_else(|| panic!("intervals stopped closing\n{}", agent.log()));
    let watts = (second.0 - first.0) / (second.1 - first.1);
    assert!(
        (watts - f64::from(WATTS)).abs() < 0.01 * f64::from(WATTS),
        "the host energy rose at {watts} W, the BMC reads {WATTS} W"
    );
    // Workloads and accounts sum to the host, at one instant.
    let balance = format!(
        r#"sum({host}) - (sum(kelvin_account_energy_joules_total{{host="h1"}}) or vector(0)) - (sum(kelvin_workload_energy_joules_total{{host="h1"}}) or vector(0))"#
    );
    let gap = scalar(&prom.query(&format!("abs({balance})"))).expect("a balance");
    let total = scalar(&prom.query(host)).expect("host energy");
    assert!(
        total > 0.0 && gap <= 1e-6 * total,
        "unbalanced: {gap} J of {total} J"
    );
    // The source's health is exported.
    let up = prom.query(r#"kelvin_source_up{source="bmc"}"#);
    assert_eq!(scalar(&up), Some(1.0), "{up}");
    // The receiver has the same series by remote write.
    receiver.wait_for(host, Duration::from_secs(30), |r| {
        scalar(r).is_some_and(|j| j > 0.0)
    });

    // SIGKILL mid-run, then a restart on the same data: Prometheus sees no counter reset.
    let before = scalar(&prom.query(host)).expect("host energy");
    agent.kill9_and_restart();
    prom.wait_for(host, Duration::from_secs(60), |r| {
        scalar(r).is_some_and(|j| j > before + 2.0 * f64::from(WATTS))
    });
    for family in [
        "kelvin_host_energy_joules_total",
        "kelvin_account_energy_joules_total",
        "kelvin_readings_accepted_total",
    ] {
        let r = prom.query(&format!("sum(resets({family}[5m]))"));
        assert_eq!(
            scalar(&r),
            Some(0.0),
            "{family} reset: {r}\n{}",
            agent.log()
        );
    }
    // The bills of everything so far are the book Prometheus sees, conserved.
    let (status, bills) = agent
        .get("/api/v1/bills?from=0&to=4102444800")
        .expect("bills");
    assert_eq!(status, 200, "{bills}");
    let bills: Value = serde_json::from_str(&bills).expect("bills are JSON");
    assert_eq!(bills["conserved"], Value::Bool(true), "{bills}");
    let billed = bills["hosts"][0]["energy_joules"]
        .as_f64()
        .expect("host energy");
    let seen = scalar(&prom.query(host)).expect("host energy");
    assert!(
        billed >= seen && billed > 0.0,
        "bills {billed} J, Prometheus {seen} J"
    );
    let (status, _) = agent
        .get("/api/v1/bills?from=yesterday&to=0")
        .expect("bills");
    assert_eq!(status, 400);
    // Every expression of the Grafana dashboard is valid PromQL that Prometheus evaluates.
    dashboard_queries_run(&prom);
    let (status, hosts) = agent.get("/api/v1/hosts").expect("hosts");
    assert_eq!(status, 200, "{hosts}");
    assert!(hosts.contains("\"host\":\"h1\""), "{hosts}");
}

/// Runs every target expression of `docs/grafana/kelvin-agent.json` (its variables set as
/// Grafana would) against `prom`, which must evaluate each without an error.
fn dashboard_queries_run(prom: &Prometheus) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/kelvin-agent.json"
    );
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("dashboard"))
        .expect("the dashboard is JSON");
    let mut n = 0;
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            let expr = t["expr"]
                .as_str()
                .expect("expr")
                .replace("$host", ".*")
                .replace("$tenant", ".*")
                .replace("$__range", "5m")
                .replace("$__rate_interval", "1m");
            // `query` panics with Prometheus' error for an expression it refuses.
            prom.query(&expr);
            n += 1;
        }
    }
    assert!(n >= 10, "{n} dashboard expressions");
}
