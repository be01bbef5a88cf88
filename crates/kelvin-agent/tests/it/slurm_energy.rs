//! Per-job energy on a shared node: a real Slurm runs three jobs side by side on node `n1`
//! while the agent meters `n1` through OpenIPMI's simulated BMC (ipmitool), reads the jobs
//! from Slurm and bills them through the ledger. Skips, saying so, without Slurm, munge, root
//! or ipmi_sim.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::agent::Agent;
use crate::lab::ipmi_sim::IpmiSim;
use crate::lab::prometheus::temp_dir;
use crate::lab::slurm;

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

#[test]
fn jobs_sharing_a_node_are_billed_by_their_allocation_and_conserve_its_energy() {
    let Some(lab) = slurm::start(1) else { return };
    let Some(bmc) = IpmiSim::start(WATTS) else {
        return;
    };
    let dir = temp_dir("slurm-energy");
    // Kelvin's n1 is Slurm's: 4 cores (2 sockets × 2), 1 GB.
    let inventory = dir.join("inventory.json");
    std::fs::write(
        &inventory,
        r#"{"sites":[{"id":"lab","name":"lab"}],"rooms":[{"id":"room","site":"lab"}],
"circuits":[],"racks":[{"id":"r1","room":"room","row":"A"}],"pdus":[],
"hosts":[{"id":"n1","rack":"r1","capacity":{"cpu_cores":4.0,"memory_bytes":1048576000,"gpus":0}}],
"components":[],"workloads":[]}"#,
    )
    .unwrap();
    let reports = dir.join("reports");
    let body = format!(
        r#"inventory = "{inv}"
attribution_interval_s = 5
lateness_s = 6
max_gap_s = 15

[[sources]]
name = "bmc"
kind = "ipmitool"
entity = "n1"
interval_s = 1
timeout_s = 10
host = "127.0.0.1"
port = {port}
interface = "lanplus"
username = "{user}"
password_file = "{pw}"

[scheduler]

[scheduler.slurm]
conf = "{conf}"
poll_s = 1
jobcomp = "{jobcomp}"
report_dir = "{reports}"
admin_comment = true
"#,
        inv = inventory.display(),
        port = bmc.port(),
        user = bmc.user(),
        pw = bmc.password_file().display(),
        conf = lab.conf_path().display(),
        jobcomp = lab.jobcomp_path().display(),
        reports = reports.display(),
    );
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
}
