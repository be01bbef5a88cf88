//! Per-job energy on a shared node: a real Slurm runs three jobs side by side on node `n1`
//! while the agent meters `n1` through OpenIPMI's simulated BMC (ipmitool), reads the jobs
//! from Slurm and bills them through the ledger. Skips, saying so, without Slurm, munge, root
//! or ipmi_sim.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kelvin_model::Timestamp;
use serde_json::Value;

use crate::lab::agent::Agent;
use crate::lab::ipmi_sim::IpmiSim;
use crate::lab::prometheus::temp_dir;
use crate::lab::slurm;
use kelvin_agent::scheduler::jobs::JOB_PREFIX;

const WATTS: u32 = 240;

/// Samples of `/metrics` text: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn sum_of(m: &BTreeMap<String, f64>, prefix: &str, label: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix) && k.contains(label))
        .map(|(_, v)| v)
        .sum()
}

/// The agent's configuration: `hosts` (name, cores) metered by one simulated BMC each, the
/// Slurm lab's configuration and jobcomp log, reports in `reports`.
fn config(
    dir: &std::path::Path,
    lab: &slurm::SlurmLab,
    metered: &[(&str, &IpmiSim)],
    reports: &std::path::Path,
    node_weights: bool,
) -> String {
    let inventory = dir.join("inventory.json");
    // Kelvin's nodes are Slurm's: 4 cores (2 sockets × 2), 1000 MiB.
    let hosts: Vec<String> = metered
        .iter()
        .map(|(h, _)| {
            format!(
                r#"{{"id":"{h}","rack":"r1","capacity":{{"cpu_cores":4.0,"memory_bytes":1048576000,"gpus":0}}}}"#
            )
        })
        .collect();
    std::fs::write(
        &inventory,
        format!(
            r#"{{"sites":[{{"id":"lab","name":"lab"}}],"rooms":[{{"id":"room","site":"lab"}}],
"circuits":[],"racks":[{{"id":"r1","room":"room","row":"A"}}],"pdus":[],
"hosts":[{}],"components":[],"workloads":[]}}"#,
            hosts.join(",")
        ),
    )
    .unwrap();
    // Slurm's jobs carry no usage signal here: the node's energy is theirs by allocation.
    let mut body = format!(
        "inventory = \"{}\"\nattribution_interval_s = 5\nlateness_s = 6\nmax_gap_s = 15\npolicy = \"allocation\"\n",
        inventory.display()
    );
    for (host, bmc) in metered {
        body += &bmc.source_toml(&format!("bmc-{host}"), host, 1);
    }
    body += &format!(
        r#"
[scheduler]

[scheduler.slurm]
conf = "{conf}"
poll_s = 1
jobcomp = "{jobcomp}"
report_dir = "{reports}"
admin_comment = true
node_weights = {node_weights}
"#,
        conf = lab.conf_path().display(),
        jobcomp = lab.jobcomp_path().display(),
        reports = reports.display(),
    );
    body
}

/// A report's time, Unix seconds.
fn secs_of(report: &Value, key: &str) -> i64 {
    let text = report[key].as_str().expect("an RFC 3339 time");
    Timestamp::parse_rfc3339(text).expect("RFC 3339").as_nanos() / 1_000_000_000
}

#[test]
fn jobs_sharing_a_node_are_billed_by_their_allocation_and_conserve_its_energy() {
    let Some(lab) = slurm::start(1) else { return };
    let Some(bmc) = IpmiSim::start(WATTS) else {
        return;
    };
    let dir = temp_dir("slurm-energy");
    let reports = dir.join("reports");
    let body = config(&dir, &lab, &[("n1", &bmc)], &reports, false);
    let agent = Agent::start("agent-slurm", &body);
    let ids: Vec<u64> = ["-n1", "-n2", "-n1"]
        .iter()
        .map(|n| lab.sbatch(&[n, "--wrap", "sleep 300"]))
        .collect();
    for id in &ids {
        lab.wait_running(*id);
    }
    // While they run, each job's comment shows its energy so far.
    let commented = slurm::wait_until(Duration::from_secs(60), || {
        lab.run("/usr/bin/scontrol", &["show", "job", &ids[1].to_string()])
            .is_ok_and(|s| s.contains("AdminComment=kelvin: energy_j="))
    });
    assert!(commented, "no comment on job {}\n{}", ids[1], agent.log());
    std::thread::sleep(Duration::from_secs(10));
    lab.scancel(&ids);
    // Each job's report comes once its intervals are closed.
    let deadline = Instant::now() + Duration::from_secs(90);
    let report = |id: u64| -> Option<Value> {
        let text = std::fs::read_to_string(reports.join(format!("job-{id}.json"))).ok()?;
        serde_json::from_str(&text).ok()
    };
    while ids.iter().any(|id| report(*id).is_none()) {
        assert!(
            Instant::now() < deadline,
            "reports missing after 90 s\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let energy: Vec<f64> = ids
        .iter()
        .map(|id| report(*id).unwrap()["energy_j"].as_f64().unwrap())
        .collect();
    let cpus: Vec<u64> = ids
        .iter()
        .map(|id| report(*id).unwrap()["nodes"][0]["cpus"].as_u64().unwrap())
        .collect();
    assert_eq!(cpus, [1, 2, 1]);
    eprintln!("job energies {energy:?} J for cores {cpus:?}");
    // Started within a second of each other and cancelled together, each job pays the
    // node's idle floor by its share of the cores: 1 : 2 : 1, within the second they differ.
    assert!(energy.iter().all(|e| *e > 0.0), "{energy:?}");
    let unit = (energy[0] + energy[2]) / 2.0;
    for (e, c) in energy.iter().zip(&cpus) {
        let want = unit * *c as f64;
        assert!(
            (e - want).abs() <= 0.1 * want,
            "job energies {energy:?} do not follow their cores {cpus:?}"
        );
    }
    // The ledger conserves the node: its jobs and accounts are what the BMC measured, and
    // each report is what /metrics bills the job.
    let (_, text) = agent.get("/metrics").expect("metrics");
    let m = samples(&text);
    let host = sum_of(&m, "kelvin_host_energy_joules_total", "host=\"n1\"");
    let jobs = sum_of(&m, "kelvin_workload_energy_joules_total", "host=\"n1\"");
    let accounts = sum_of(&m, "kelvin_account_energy_joules_total", "host=\"n1\"");
    eprintln!("n1: {host} J measured, {jobs} J to jobs, {accounts} J to accounts");
    assert!(
        host > 0.0 && (host - jobs - accounts).abs() <= 1e-6 * host,
        "{host} J vs {jobs} J + {accounts} J"
    );
    for (id, e) in ids.iter().zip(&energy) {
        let billed = sum_of(
            &m,
            "kelvin_workload_energy_joules_total",
            &format!("workload=\"slurm-job-{id}\""),
        );
        assert!(
            (billed - e).abs() <= 1e-6 * e.max(1.0),
            "job {id}: report {e} J, metrics {billed} J"
        );
    }
    // Between them the jobs held every core, so the idle floor went to them; they ran a
    // part of the metered time, and never more than the node used.
    assert!(jobs > 0.0 && jobs < host, "{jobs} J of {host} J");

    // Over the intervals in which all three ran from start to end, the jobs held every core:
    // the node's measured energy is theirs, all of it, split 1 : 2 : 1.
    let reports: Vec<Value> = ids.iter().map(|id| report(*id).unwrap()).collect();
    let from = reports.iter().map(|r| secs_of(r, "start")).max().unwrap();
    let to = reports.iter().map(|r| secs_of(r, "end")).min().unwrap();
    let (from, to) = ((from + 4) / 5 * 5, to / 5 * 5);
    assert!(to - from >= 10, "the jobs ran together only {from}..{to}");
    let (code, text) = agent
        .get(&format!("/api/v1/bills?from={from}&to={to}"))
        .expect("bills");
    assert_eq!(code, 200, "{text}");
    let bills: Value = serde_json::from_str(&text).unwrap();
    let rows = |key: &str| bills[key].as_array().cloned().unwrap_or_default();
    let energy_of = |r: &Value| r["energy_joules"].as_f64().unwrap();
    let measured: f64 = rows("hosts").iter().map(energy_of).sum();
    let per_job: Vec<f64> = ids
        .iter()
        .map(|id| {
            let w = format!("{JOB_PREFIX}{id}");
            rows("workloads")
                .iter()
                .filter(|r| r["workload"] == w.as_str())
                .map(energy_of)
                .sum()
        })
        .collect();
    let others: Vec<Value> = rows("accounts")
        .into_iter()
        .filter(|r| energy_of(r).abs() > 1e-6 * measured)
        .collect();
    eprintln!("{from}..{to}: n1 {measured} J, jobs {per_job:?} J, accounts {others:?}");
    assert!(measured >= 240.0 * (to - from) as f64 * 0.9, "{text}");
    let billed: f64 = per_job.iter().sum();
    assert!(
        (billed - measured).abs() <= 1e-6 * measured && others.is_empty(),
        "jobs {billed} J of {measured} J measured; accounts {others:?}"
    );
    for (e, c) in per_job.iter().zip(&cpus) {
        let want = measured * *c as f64 / 4.0;
        assert!(
            (e - want).abs() <= 1e-6 * measured,
            "{per_job:?} J is not 1 : 2 : 1"
        );
    }
}

/// Node `n1` is parked (its BMC reads standby power) and `n2` is on. Slurm alone puts the
/// next job on `n1`, the first node; once Kelvin pushes its placement's preference as node
/// weights, the next job lands on `n2`, where it costs no wake-up.
#[test]
fn kelvins_node_weights_send_the_next_job_to_the_node_that_is_already_on() {
    let Some(lab) = slurm::start(2) else { return };
    let (Some(parked), Some(on)) = (IpmiSim::start(8), IpmiSim::start(WATTS)) else {
        return;
    };
    let slurm = lab.slurm();
    let landed = |id: u64| -> String {
        lab.wait_running(id);
        let jobs = slurm.jobs().expect("squeue");
        let job = jobs.items.iter().find(|j| j.job_id == id).expect("the job");
        job.nodes[0].node.clone()
    };
    // Slurm's own choice, with equal weights.
    let before = slurm.node_weights().unwrap();
    assert_eq!(before.get("n1"), before.get("n2"), "{before:?}");
    let first = lab.sbatch(&["-n1", "--wrap", "sleep 300"]);
    assert_eq!(landed(first), "n1", "Slurm's default");
    lab.scancel(&[first]);

    let dir = temp_dir("slurm-weights");
    let body = config(
        &dir,
        &lab,
        &[("n1", &parked), ("n2", &on)],
        &dir.join("reports"),
        true,
    );
    let agent = Agent::start("agent-slurm-weights", &body);
    let pushed = slurm::wait_until(Duration::from_secs(60), || {
        slurm
            .node_weights()
            .is_ok_and(|w| w.get("n2").zip(w.get("n1")).is_some_and(|(a, b)| a < b))
    });
    assert!(
        pushed,
        "no weights preferring n2: {:?}\n{}",
        slurm.node_weights(),
        agent.log()
    );
    assert!(
        agent.log().contains("slurm: node weights n1="),
        "{}",
        agent.log()
    );
    let next = lab.sbatch(&["-n1", "--wrap", "sleep 300"]);
    assert_eq!(landed(next), "n2", "Kelvin's weights\n{}", agent.log());
    lab.scancel(&[next]);
}
