//! The live engine: the same bills as the batch replay, whatever the order readings arrive in
//! within the lateness window, and after any number of crashes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kelvin::{Batch, Engine, LedgerOptions, LiveOptions, Policy};
use kelvin_replay::RecordedDataset;
use kelvin_replay::live::{FeedOptions, FeedReport, feed, live_engine};

fn dataset(name: &str) -> RecordedDataset {
    RecordedDataset::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("datasets")
            .join(name),
    )
    .unwrap()
}

/// The batch path: everything ingested, then one window attributed.
fn batch_bill(ds: &RecordedDataset, policy: Policy) -> (u128, u128, BTreeMap<String, u128>) {
    // The same estate and rules as the live feed, but not live, and fed as the replay feeds
    // it: all metrics at once, then every capture.
    let inventory = live_engine(ds, &FeedOptions::default())
        .unwrap()
        .inventory()
        .clone();
    let mut rules = kelvin::ingest::RuleSet::builtin();
    if let Some(json) = &ds.rules_json {
        for r in kelvin::ingest::RuleSet::from_json(json).unwrap().rules() {
            rules.add(r.clone()).unwrap();
        }
    }
    let mut engine = Engine::builder()
        .inventory(inventory)
        .rules(rules)
        .build()
        .unwrap();
    let text = std::fs::read_to_string(ds.metrics_file.as_ref().unwrap()).unwrap();
    engine
        .ingest(Batch::prometheus("metrics.prom", text))
        .unwrap();
    for c in &ds.captures {
        let text = std::fs::read_to_string(&c.path).unwrap();
        engine
            .ingest(Batch::capture(
                c.name.clone(),
                text,
                c.entity.clone(),
                c.taken_at,
            ))
            .unwrap();
    }
    let bill = engine
        .attribute_with(
            engine.data_span().unwrap(),
            &LedgerOptions::default().with_policy(policy),
        )
        .unwrap();
    let mut per = BTreeMap::new();
    for (w, t) in bill.workloads.iter().zip(bill.workload_totals_uj()) {
        per.insert(w.to_string(), t);
    }
    (bill.measured_uj(), bill.attributed_uj(), per)
}

fn live_bill(ds: &RecordedDataset, policy: Policy) -> FeedReport {
    // The batch path keeps GPU energy in the wall meter, leaves the interval a meter's
    // readings begin in unmeasured and has no RAPL fallback: so does the live one here.
    let opts = FeedOptions::default().with_live(
        LiveOptions::default()
            .with_ledger(LedgerOptions::default().with_policy(policy))
            .with_gpu_meters(false)
            .with_partial_first_interval(false)
            .with_rapl_fallback(false),
    );
    let mut engine = live_engine(ds, &opts).unwrap();
    feed(ds, &mut engine, &opts).unwrap()
}

/// On every committed dataset, streaming in event time and closing interval by interval bills
/// exactly what the batch path bills over the whole window, under a policy whose split of an
/// interval depends on that interval alone.
#[test]
fn live_equals_batch_on_every_committed_dataset() {
    for name in ["edge-small", "enterprise-room", "gpu-cluster"] {
        let ds = dataset(name);
        for policy in [Policy::CpuShare, Policy::FullAbsorption] {
            let (measured, attributed, per) = batch_bill(&ds, policy);
            let live = live_bill(&ds, policy);
            let t = &live.status.totals;
            assert_eq!(
                t.measured_uj as u128, measured,
                "{name} {policy:?} measured"
            );
            assert_eq!(
                t.attributed_uj as u128, attributed,
                "{name} {policy:?} attributed"
            );
            assert!(t.is_balanced());
            for (w, uj) in &per {
                let got = t.workloads.get(w.as_str()).copied().unwrap_or(0);
                assert_eq!(got as u128, *uj, "{name} {policy:?} workload {w}");
            }
        }
    }
}

/// A temporary directory for one test, emptied first.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CHILD_DS: &str = "KELVIN_LIVE_CHILD_DATASET";
const CHILD_DIR: &str = "KELVIN_LIVE_CHILD_DIR";
const CHILD_OUT: &str = "KELVIN_LIVE_CHILD_OUT";

/// One run of the durable feed, resuming whatever the directory holds; the book as JSON.
fn durable_run(ds: &Path, dir: &Path) -> serde_json::Value {
    let ds = RecordedDataset::open(ds).unwrap();
    let opts = FeedOptions::default().with_data_dir(dir);
    let mut engine = live_engine(&ds, &opts).unwrap();
    feed(&ds, &mut engine, &opts).unwrap().json()
}

/// The child process of [`sigkill_at_random_moments_changes_nothing`]: runs the durable feed
/// named by the environment and writes its book. Ignored unless a parent starts it.
#[test]
#[ignore = "started by sigkill_at_random_moments_changes_nothing as a child process"]
fn live_child() {
    let ds = std::env::var(CHILD_DS).expect("started by the crash test");
    let dir = std::env::var(CHILD_DIR).expect("started by the crash test");
    let out = std::env::var(CHILD_OUT).expect("started by the crash test");
    let json = durable_run(Path::new(&ds), Path::new(&dir));
    std::fs::write(out, serde_json::to_vec(&json).unwrap()).unwrap();
}

/// Killed with SIGKILL at random moments (20 times) and restarted on the same directory, the
/// durable feed ends with the same book, to the microjoule, as an uninterrupted run, on a
/// simulated room of 100 hosts with BMC captures.
#[test]
fn sigkill_at_random_moments_changes_nothing() {
    let root = scratch("sigkill");
    let ds = root.join("dataset");
    let cfg = kelvin_sim::SimConfig::scale()
        .with_hosts(100)
        .with_duration_s(2 * 3_600)
        .with_capture_s(900)
        .with_seed(15);
    kelvin_sim::simulate_to(&cfg, &ds).unwrap();
    let reference = durable_run(&ds, &root.join("reference"));
    assert!(
        reference["intervals"].as_u64().unwrap() >= 100,
        "{reference}"
    );
    // How far the journal of a whole run grows: kills are placed by the child's progress
    // (its journal's growth), not by the clock, so a loaded machine moves them nowhere.
    let journal = |dir: &Path| std::fs::metadata(dir.join("engine.journal")).map_or(0, |m| m.len());
    let whole = journal(&root.join("reference"));

    let dir = root.join("crashed");
    let out = root.join("out.json");
    // Children run a copy of this test binary, so that a rebuild of the original while the
    // test runs (another cargo invocation) cannot pull it away.
    let exe = root.join("it-child");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    // A run over the finished reference only reopens and skips.
    let status = Command::new(&exe)
        .args(["--exact", "live::live_child", "--ignored", "--nocapture"])
        .env(CHILD_DS, &ds)
        .env(CHILD_DIR, root.join("reference"))
        .env(CHILD_OUT, &out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // A deterministic generator for the kill points (xorshift), so a failure can be replayed.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut kills, mut finished_early, mut progressed, mut acked) = (0, 0, 0, 0u64);
    while kills < 20 {
        let from = journal(&dir);
        let mut child = Command::new(&exe)
            .args(["--exact", "live::live_child", "--ignored", "--nocapture"])
            .env(CHILD_DS, &ds)
            .env(CHILD_DIR, &dir)
            .env(CHILD_OUT, &out)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Once its journal grew by up to a tenth of a whole run's (0: killed while it reopens
        // or before its first commit), so that the kills fall all along the stream.
        let grow = next() % (whole / 10).max(1);
        let deadline = Instant::now() + Duration::from_secs(120);
        while child.try_wait().unwrap().is_none()
            && journal(&dir) < from + grow
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        if child.try_wait().unwrap().is_some() {
            // It reached the end after the kills so far: its book must already be right.
            // Start again from an empty directory for the kills still to come.
            finished_early += 1;
            assert!(
                finished_early < 5,
                "the feed keeps finishing before it is killed"
            );
            let book: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
            assert_eq!(book, reference, "after {kills} kills");
            std::fs::remove_dir_all(&dir).unwrap();
            acked = 0;
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // What the killed run left acknowledged: never less than before.
        let ds_opened = RecordedDataset::open(&ds).unwrap();
        let engine = live_engine(&ds_opened, &FeedOptions::default().with_data_dir(&dir)).unwrap();
        let now = engine.live_status().unwrap().acknowledged;
        assert!(now >= acked, "acknowledged went back from {acked} to {now}");
        progressed += usize::from(now > acked);
        acked = now;
    }
    // Most kills fell in the middle of the stream, after some batches were acknowledged.
    assert!(
        progressed >= 10,
        "only {progressed} of 20 kills came after progress"
    );
    let status = Command::new(&exe)
        .args(["--exact", "live::live_child", "--ignored", "--nocapture"])
        .env(CHILD_DS, &ds)
        .env(CHILD_DIR, &dir)
        .env(CHILD_OUT, &out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let crashed: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(crashed, reference);
    let _ = std::fs::remove_dir_all(&root);
}

/// Two hours of the churn preset (50 hosts, pods of seconds to hours, GPU pods among them,
/// some never in a dcgm-exporter scrape), fed to the live engine against its truth.
#[test]
fn churn_bills_every_pod_and_every_gpu_pod_by_its_gpu() {
    let root = scratch("churn");
    let cfg = kelvin_sim::SimConfig::churn().with_duration_s(2 * 3_600);
    kelvin_sim::simulate_to(&cfg, &root).unwrap();
    let ds = RecordedDataset::open(&root).unwrap();
    let run = |live: LiveOptions| {
        let opts = FeedOptions::default().with_live(live.with_sync(false));
        let mut engine = live_engine(&ds, &opts).unwrap();
        feed(&ds, &mut engine, &opts).unwrap()
    };
    let gpu_part = |r: &FeedReport, w: &str| {
        let key = (std::sync::Arc::from("dcgm"), std::sync::Arc::from(w));
        r.status
            .totals
            .by_provenance
            .get(&key)
            .copied()
            .unwrap_or(0)
    };
    let report = run(LiveOptions::default());
    let c = report.against_truth(&ds).unwrap();
    assert!(c.unbilled.is_empty(), "unbilled: {:?}", c.unbilled);
    assert!(c.weighted_error <= 0.03, "{c:?}");
    assert!(c.gpu_weighted_error.unwrap() <= 0.05, "{c:?}");
    // Every pod that used a GPU has a GPU part, those known only from their lifecycle events
    // (a few seconds between two scrapes) too: they held a GPU nobody else held.
    let text = std::fs::read_to_string(ds.metrics_file.as_ref().unwrap()).unwrap();
    let mut lifecycle_only = 0;
    for r in ds
        .truth
        .iter()
        .filter(|r| r.gpu_energy_j.unwrap_or(0.0) > 0.0)
    {
        let w = r.workload.as_str();
        assert!(gpu_part(&report, w) > 0, "{w} has no GPU part");
        let label = format!("pod=\"{w}\"");
        lifecycle_only += usize::from(
            !text
                .lines()
                .any(|l| l.starts_with("DCGM") && l.contains(&label)),
        );
    }
    assert!(lifecycle_only > 0, "no GPU pod missed by every scrape");
    // The interval the BMCs' readings begin in is billed from what they measured in it:
    // without that, the pods that ran only in the first minute are billed nothing.
    let off = run(LiveOptions::default().with_partial_first_interval(false));
    let c_off = off.against_truth(&ds).unwrap();
    assert!(!c_off.unbilled.is_empty(), "{c_off:?}");
    assert!(off.status.totals.measured_uj < report.status.totals.measured_uj);
    // With the GPUs in the wall meter, a GPU server's floor is reserved half by GPUs: the
    // GPU pods, which request few of its cores, are billed more of it than by cores alone.
    let gpu_pods: Vec<&str> = ds
        .truth
        .iter()
        .filter(|r| r.gpu_energy_j.unwrap_or(0.0) > 0.0)
        .map(|r| r.workload.as_str())
        .collect();
    let billed = |r: &FeedReport| -> i128 {
        gpu_pods
            .iter()
            .map(|w| r.status.totals.workloads.get(*w).copied().unwrap_or(0))
            .sum()
    };
    let walled = LiveOptions::default().with_gpu_meters(false);
    let half = run(walled.clone());
    let cores = run(walled.with_gpu_reservation_weight(0.0));
    assert_eq!(
        half.status.totals.measured_uj,
        cores.status.totals.measured_uj
    );
    assert!(billed(&half) > billed(&cores));
    let (e_half, e_cores) = (
        half.against_truth(&ds).unwrap().weighted_error,
        cores.against_truth(&ds).unwrap().weighted_error,
    );
    assert!(e_half < e_cores, "{e_half} vs {e_cores}");
    let _ = std::fs::remove_dir_all(&root);
}

/// The ingest counts, the quarantine log's counts and the counter anomalies run on across a
/// restart from the last acknowledgement: a batch that was not acknowledged is not counted
/// twice when it is fed again, and one that was is not forgotten.
#[test]
fn counts_survive_a_restart_from_the_last_acknowledgement() {
    let ds = dataset("edge-small");
    let t0 = 1_793_606_400_000i64;
    let batch = |k: i64| {
        let t = t0 + k * 60_000;
        format!(
            "ipmi_dcmi_power_consumption_watts{{instance=\"edge-r1-h1:9290\",job=\"ipmi\"}} 160 {t}\n\
             ipmi_dcmi_power_consumption_watts{{instance=\"nowhere-h9:9290\",job=\"ipmi\"}} 99 {t}\n\
             node_rapl_package_joules_total{{instance=\"edge-r1-h1:9100\",index=\"0\"}} {} {t}\n\
             this is not a metric line\n",
            if k == 2 {
                10.0
            } else {
                1_000.0 + k as f64 * 50.0
            }
        )
    };
    let feed_batch = |e: &mut Engine, k: i64| {
        let poll = kelvin_model::Timestamp::from_nanos((t0 + k * 60_000 + 1_000) * 1_000_000);
        e.ingest(Batch::prometheus_at("metrics.prom", batch(k), poll))
            .unwrap();
    };
    let counts = |e: &Engine| {
        (
            e.ingest_stats().clone(),
            e.quarantine_log().counts().clone(),
            e.counter_stats(),
            e.counter_out_of_order(),
        )
    };
    // Uninterrupted.
    let dir = scratch("counts-a");
    let opts = FeedOptions::default().with_data_dir(&dir);
    let mut e = live_engine(&ds, &opts).unwrap();
    for k in 0..4 {
        feed_batch(&mut e, k);
        e.commit().unwrap();
    }
    let whole = counts(&e);
    assert!(whole.0.quarantined >= 8, "{whole:?}");
    assert_eq!(whole.2.resets, 1, "{whole:?}");
    drop(e);
    // Reopened with nothing more fed: the same counts.
    let e = live_engine(&ds, &opts).unwrap();
    assert_eq!(counts(&e), whole);
    drop(e);
    // Stopped after two acknowledged batches and one that was not; fed again from there.
    let dir = scratch("counts-b");
    let opts = FeedOptions::default().with_data_dir(&dir);
    let mut e = live_engine(&ds, &opts).unwrap();
    for k in 0..2 {
        feed_batch(&mut e, k);
        e.commit().unwrap();
    }
    let acknowledged = counts(&e);
    feed_batch(&mut e, 2);
    drop(e);
    let mut e = live_engine(&ds, &opts).unwrap();
    assert_eq!(counts(&e), acknowledged);
    for k in 2..4 {
        feed_batch(&mut e, k);
        e.commit().unwrap();
    }
    assert_eq!(counts(&e).0, whole.0);
    assert_eq!(counts(&e).1, whole.1);
    assert_eq!(counts(&e).2, whole.2);
    for d in ["counts-a", "counts-b"] {
        let _ = std::fs::remove_dir_all(scratch(d));
    }
}

/// A host added by a call is billed from then on and one retired is billed until then; its
/// readings before it joined are quarantined as unknown, and a restart in between (the spans
/// are journalled) changes nothing.
#[test]
fn hosts_join_and_leave_and_a_restart_keeps_them() {
    use crate::lab::{host, id, lab};
    use kelvin::model::Timestamp;
    let inventory = lab(vec![host("h1"), host("h2")], Vec::new());
    let t0 = 1_800_000_000_000i64; // ms, on a minute
    let watts = |h: &str| match h {
        "h1" => 100.0,
        "h2" => 200.0,
        _ => 300.0,
    };
    // Minute k: 15 s DCMI scrapes of the three hosts.
    let batch = |k: i64| {
        let mut text = String::new();
        for q in 0..4 {
            let t = t0 + k * 60_000 + q * 15_000;
            for h in ["h1", "h2", "h3"] {
                text.push_str(&format!(
                    "ipmi_dcmi_power_consumption_watts{{instance=\"{h}:9290\",job=\"ipmi\"}} {} {t}\n",
                    watts(h)
                ));
            }
        }
        text
    };
    let at = |minute: i64| Timestamp::from_nanos((t0 + minute * 60_000) * 1_000_000);
    let run = |dir: &Path, restart_at: Option<i64>| {
        let build = || {
            Engine::builder()
                .inventory(inventory.clone())
                .interval_secs(60)
                .data_dir(dir)
                .build()
                .unwrap()
        };
        let mut e = build();
        let mut unknown = 0;
        for k in 0..30 {
            if restart_at == Some(k) {
                drop(e);
                e = build();
            }
            if k == 10 {
                e.add_host(host("h3"), at(10)).unwrap();
            }
            if k == 20 {
                assert!(e.retire_host(&id("h1"), at(20)).unwrap());
            }
            let r = e
                .ingest(Batch::prometheus_at("metrics.prom", batch(k), at(k + 1)))
                .unwrap();
            unknown += r
                .stats
                .by_reason
                .get(&kelvin::ingest::Reason::UnknownEntity)
                .copied()
                .unwrap_or(0);
            e.commit().unwrap();
        }
        e.finish().unwrap();
        let spans: Vec<_> = e.host_spans().cloned().collect();
        (e.live_status().unwrap().totals, unknown, spans)
    };
    let dir = scratch("hosts-a");
    let (totals, unknown, spans) = run(&dir, None);
    // h3's four lines a minute before it joined.
    assert_eq!(unknown, 10 * 4);
    let meter = |name: &str| {
        totals
            .meters
            .iter()
            .find(|(m, _)| &***m == name)
            .map_or(0, |(_, uj)| *uj)
    };
    let minutes = |uj: i128| uj as f64 / 1e6 / 60.0;
    // h1 until minute 20, h3 from minute 10, h2 throughout: every interval closed (the last
    // scrape is 45 s into minute 29, so minutes 0 to 28 close whole).
    assert_eq!(totals.intervals, 29);
    assert!(
        (minutes(meter("h1")) / watts("h1") - 20.0).abs() < 1e-6,
        "{totals:?}"
    );
    assert!(
        (minutes(meter("h2")) / watts("h2") - 29.0).abs() < 1e-6,
        "{totals:?}"
    );
    assert!(
        (minutes(meter("h3")) / watts("h3") - 19.0).abs() < 1e-6,
        "{totals:?}"
    );
    assert_eq!(spans.len(), 2, "{spans:?}");
    assert!(
        spans
            .iter()
            .any(|s| s.host.id == id("h1") && s.until_ns == Some(at(20).as_nanos()))
    );
    assert!(
        spans
            .iter()
            .any(|s| s.host.id == id("h3") && s.from_ns == at(10).as_nanos())
    );
    // A restart between the join and the retirement: the same book.
    let dir_b = scratch("hosts-b");
    let (totals_b, _, spans_b) = run(&dir_b, Some(15));
    assert_eq!(totals_b, totals);
    assert_eq!(spans_b, spans);
    // Reopened after the end: the added host is in the inventory.
    let e = Engine::builder()
        .inventory(inventory.clone())
        .interval_secs(60)
        .data_dir(&dir_b)
        .build()
        .unwrap();
    assert!(e.inventory().hosts.iter().any(|h| h.id == id("h3")));
    assert_eq!(e.host_spans().count(), 2);
    // One validity interval a host: a retired one cannot rejoin under its id, nor a host be
    // added twice.
    let mut e = e;
    let again = e.add_host(host("h1"), at(40)).unwrap_err().to_string();
    assert!(
        again.contains("was retired at") && again.contains("new id"),
        "{again}"
    );
    let twice = e.add_host(host("h2"), at(40)).unwrap_err().to_string();
    assert!(twice.contains("already in the inventory"), "{twice}");
    drop(e);
    for d in [dir, dir_b] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The meter lattice's BMC → RAPL step: while a host's BMC is silent for twenty minutes, its
/// intervals are measured from its RAPL counters mapped to wall power (fitted on the hour
/// both measured), with that provenance on their lines; off, they stay unmeasured.
#[test]
fn a_silent_bmc_is_replaced_by_calibrated_rapl_interval_by_interval() {
    use crate::lab::{host, lab};
    use kelvin::model::Timestamp;
    let inventory = lab(vec![host("h1")], Vec::new());
    let t0 = 1_800_000_000_000i64; // ms, on a minute
    // Package power varies minute by minute; the wall is 50 W plus 1.25 W per package watt.
    let rapl_w = |k: i64| 40.0 + 3.0 * ((k * 7) % 10) as f64;
    let wall_w = |k: i64| 50.0 + 1.25 * rapl_w(k);
    let silent = 60..80;
    let batch = |k: i64, counter: &mut f64| {
        let mut text = String::new();
        for q in 0..4 {
            let t = t0 + k * 60_000 + q * 15_000;
            if !silent.contains(&k) {
                text.push_str(&format!(
                    "ipmi_dcmi_power_consumption_watts{{instance=\"h1:9290\",job=\"ipmi\"}} {} {t}\n",
                    wall_w(k)
                ));
            }
            text.push_str(&format!(
                "node_rapl_package_joules_total{{instance=\"h1:9100\",index=\"0\"}} {counter} {t}\n"
            ));
            *counter += rapl_w(k) * 15.0;
        }
        text
    };
    // In memory, or durable in `dir` and reopened before minute `restart`.
    let run = |fallback: bool, durable: Option<(&Path, i64)>| {
        let build = || {
            let b = Engine::builder()
                .inventory(inventory.clone())
                .interval_secs(60)
                .live(LiveOptions::default().with_rapl_fallback(fallback));
            match durable {
                Some((dir, _)) => b.data_dir(dir),
                None => b,
            }
            .build()
            .unwrap()
        };
        let mut e = build();
        let mut counter = 1_000.0;
        for k in 0..90 {
            if durable.is_some_and(|(_, r)| r == k) {
                drop(e);
                e = build();
            }
            let poll = Timestamp::from_nanos((t0 + (k + 1) * 60_000) * 1_000_000);
            e.ingest(Batch::prometheus_at("m", batch(k, &mut counter), poll))
                .unwrap();
            e.commit().unwrap();
        }
        e.finish().unwrap();
        e.live_status().unwrap().totals
    };
    let on = run(true, None);
    let filled: i128 = on
        .measured_by_provenance
        .iter()
        .filter(|(p, _)| p.starts_with("rapl calibrated on"))
        .map(|(_, uj)| *uj)
        .sum();
    // The minute before the silence too: its last 15 s have no DCMI reading after them
    // within the interpolation gap.
    let truth_silent: f64 = (59..80).map(|k| wall_w(k) * 60.0).sum();
    let filled_j = filled as f64 / 1e6;
    assert!(
        (filled_j / truth_silent - 1.0).abs() < 0.005,
        "filled {filled_j} J, truth {truth_silent} J: {:?}",
        on.measured_by_provenance
    );
    let off = run(false, None);
    assert!(
        off.measured_by_provenance
            .keys()
            .all(|p| !p.starts_with("rapl")),
        "{:?}",
        off.measured_by_provenance
    );
    // Off, the silent minutes are not measured; on, the day's measured energy is the wall's.
    let truth: f64 = (0..89).map(|k| wall_w(k) * 60.0).sum();
    let measured = |t: &kelvin::attribution::ledger::BookTotals| t.measured_uj as f64 / 1e6;
    assert!(
        (measured(&on) / truth - 1.0).abs() < 0.01,
        "{} vs {truth}",
        measured(&on)
    );
    assert!(
        measured(&off) < 0.85 * truth,
        "{} vs {truth}",
        measured(&off)
    );
}

/// The book read back from the journal by a reader beside the engine is the engine's own
/// totals; windows split it without losing or doubling an interval; a journal whose last
/// commit was cut short reads as the book before it.
#[test]
fn the_book_read_from_the_journal_is_the_engine_s_and_windows_split_it() {
    let ds = dataset("edge-small");
    let dir = scratch("read-book");
    let opts = FeedOptions::default().with_data_dir(&dir);
    let mut engine = live_engine(&ds, &opts).unwrap();
    let report = feed(&ds, &mut engine, &opts).unwrap();
    let t = &report.status.totals;
    let all = kelvin::read_book(&dir, None).unwrap();
    assert_eq!(
        (
            all.intervals,
            all.measured_uj,
            all.attributed_uj,
            all.unattributed_uj
        ),
        (
            t.intervals,
            t.measured_uj,
            t.attributed_uj,
            t.unattributed_uj
        )
    );
    assert_eq!(all.meter_workloads, t.meter_workloads);
    assert!(all.is_balanced() && t.intervals > 10);
    // Per meter, the workloads and accounts make up what the meter measured.
    for (m, uj) in &all.meters {
        let lines: i128 = all
            .meter_workloads
            .iter()
            .filter(|((mm, _), _)| mm == m)
            .map(|(_, v)| v)
            .sum();
        let accounts: i128 = all
            .accounts
            .iter()
            .filter(|((mm, _), _)| mm == m)
            .map(|(_, v)| v)
            .sum();
        assert_eq!(lines + accounts, *uj, "meter {m}");
    }
    let span = engine.data_span().unwrap();
    let mid = kelvin::model::Timestamp::from_nanos(
        span.start().as_nanos() + (span.end().as_nanos() - span.start().as_nanos()) / 2,
    );
    let far = kelvin::model::Timestamp::from_nanos(span.end().as_nanos() + 86_400_000_000_000);
    let early = kelvin::model::Timestamp::from_nanos(span.start().as_nanos() - 86_400_000_000_000);
    let w1 = kelvin::model::TimeRange::try_new(early, mid).unwrap();
    let w2 = kelvin::model::TimeRange::try_new(mid, far).unwrap();
    let (a, b) = (
        kelvin::read_book(&dir, Some(w1)).unwrap(),
        kelvin::read_book(&dir, Some(w2)).unwrap(),
    );
    assert!(a.intervals > 0 && b.intervals > 0);
    assert_eq!(a.intervals + b.intervals, all.intervals);
    assert_eq!(a.measured_uj + b.measured_uj, all.measured_uj);
    // A torn tail (a commit cut short) is left out, and nothing before it.
    drop(engine);
    let journal = dir.join("engine.journal");
    let len = std::fs::metadata(&journal).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap();
    f.set_len(len - 3).unwrap();
    let torn = kelvin::read_book(&dir, None).unwrap();
    assert!(torn.intervals <= all.intervals && torn.is_balanced());
    std::fs::remove_dir_all(&dir).unwrap();
}
