use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kelvin::store::import_parquet_file;

use crate::hostile::metric;
use crate::lab::agent::Agent;
use crate::lab::ipmi_sim::IpmiSim;

const WATTS: u32 = 180;

/// The one partition file of `table` for site `lab-1` (the test runs within a day or two).
fn partitions(root: &Path, table: &str) -> Vec<PathBuf> {
    let site = root.join(table).join("site=lab-1");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&site)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path().join("part-0.parquet"))
                .filter(|p| p.exists())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Samples of the BMC's power in the exported readings.
fn power_samples(root: &Path) -> usize {
    partitions(root, "readings")
        .iter()
        .map(|p| {
            let back = import_parquet_file(p).expect("the store imports an exported partition");
            assert_eq!(back.skipped, 0, "{:?}", back.first_skipped);
            back.into_complete()
                .expect("complete series")
                .iter()
                .filter(|s| s.key.entity.as_str() == "h1" && s.key.kind.as_str() == "power")
                .map(|s| s.ts.len())
                .sum::<usize>()
        })
        .sum()
}

/// Waits until the agent's log shows `n` successful exports in all.
fn wait_for_exports(agent: &Agent, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if agent.log().matches("kelvin-agent: exported ").count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("fewer than {n} exports in 90 s:\n{}", agent.log());
}

#[test]
fn the_agent_exports_its_site_on_schedule_and_whole_again_after_a_sigkill() {
    let Some(bmc) = IpmiSim::start(WATTS) else {
        return;
    };
    let body = format!(
        "attribution_interval_s = 2\nlateness_s = 3\nmax_gap_s = 10\n{}\n[export]\nroot = \"fleet\"\nsite = \"lab-1\"\ninterval_s = 1\n",
        bmc.source_toml("bmc", "h1", 1)
    );
    let mut agent = Agent::start("agent-export", &body);
    // A relative root is the configuration's directory's.
    let root = agent.dir.join("fleet");
    // Runs until an interval has closed and been exported.
    let deadline = Instant::now() + Duration::from_secs(90);
    let metrics = loop {
        let (_, text) = agent.get("/metrics").expect("metrics");
        if metric(&text, r#"kelvin_export_rows_total{table="bills"}"#).is_some_and(|n| n > 0.0) {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no bills exported in 90 s:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        metric(&metrics, r#"kelvin_export_runs_total{result="ok"}"#).is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, r#"kelvin_export_runs_total{result="failed"}"#),
        Some(0.0),
        "{metrics}"
    );
    assert!(metric(&metrics, "kelvin_export_last_success_timestamp_seconds").is_some());
    let bills = partitions(&root, "bills");
    assert!(
        !bills.is_empty(),
        "no bills partition under {}",
        root.display()
    );
    let head = std::fs::read(&bills[0]).expect("read the bills file");
    assert!(
        head.starts_with(b"PAR1") && head.ends_with(b"PAR1"),
        "a whole Parquet file"
    );
    let before = power_samples(&root);
    assert!(before > 0, "the BMC's power is in the exported readings");

    // SIGKILL, restart: the first run after a start rewrites every day the engine holds, so
    // the day's file holds what was exported before the kill, and more.
    let n = agent.log().matches("kelvin-agent: exported ").count();
    agent.kill9_and_restart();
    wait_for_exports(&agent, n + 2);
    let after = power_samples(&root);
    assert!(
        after > before,
        "{after} power samples after the restart, {before} before"
    );
    for table in ["readings", "bills"] {
        for p in partitions(&root, table) {
            let dir = p.parent().expect("a partition directory");
            let names: Vec<String> = std::fs::read_dir(dir)
                .expect("list")
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            // No temporary file is left beside a partition.
            assert_eq!(names, ["part-0.parquet"], "{}", dir.display());
        }
    }
}
