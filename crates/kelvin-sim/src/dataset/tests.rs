//! The format both ways: what the simulator writes, the reader reads back; and what the reader
//! refuses, with the kind and the place.

use super::*;
use crate::{SimConfig, simulate, simulate_to};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kelvin-sim-dataset-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn what_the_simulator_writes_reads_back() {
    for (name, cfg) in [
        ("edge", SimConfig::edge().with_duration_s(300)),
        (
            "ent",
            SimConfig::enterprise()
                .with_duration_s(1200)
                .with_capture_s(600),
        ),
        ("gpu", SimConfig::gpu().with_duration_s(600)),
    ] {
        let dir = scratch(name);
        let summary = simulate_to(&cfg, &dir).unwrap();
        let sim = simulate(&cfg).unwrap();
        for ds in [
            RecordedDataset::load(&dir).unwrap(),
            RecordedDataset::open(&dir).unwrap(),
        ] {
            assert_eq!(ds.dir.as_deref(), Some(dir.as_path()));
            assert_eq!(ds.inventory, sim.inventory, "{name}");
            assert_eq!(ds.workloads, sim.workloads, "{name}");
            assert_eq!(ds.truth.len(), sim.truth.len(), "{name}");
            // The tables hold three decimals.
            for (read, written) in ds.truth.iter().zip(&sim.truth) {
                assert_eq!(
                    (&read.workload, &read.host),
                    (&written.workload, &written.host)
                );
                assert!((read.energy_j - written.energy_j).abs() <= 5e-4, "{name}");
                let share = read.cpu_share_j.unwrap();
                assert!((share - written.cpu_share_j).abs() <= 5e-4, "{name}");
            }
            assert_eq!(ds.host_truth.len(), sim.host_truth.len(), "{name}");
            for (read, written) in ds.host_truth.iter().zip(&sim.host_truth) {
                assert_eq!(read.host, written.host);
                assert!((read.energy_j - written.energy_j).abs() <= 5e-4, "{name}");
            }
            assert_eq!(ds.captures.len() as u64 > 0, name != "edge", "{name}");
            assert_eq!(ds.facility.is_empty(), name == "edge", "{name}");
            assert_eq!(
                ds.rules_json.as_deref(),
                sim.files.get(PROMETHEUS_RULES_JSON).map(String::as_str)
            );
        }
        let ds = RecordedDataset::load(&dir).unwrap();
        assert_eq!(ds.metrics, sim.metrics, "{name}");
        let nvml = ds
            .captures
            .iter()
            .filter(|c| c.name.starts_with("captures/nvml/"))
            .count();
        assert_eq!(
            ds.captures.len() - nvml,
            summary.captures as usize,
            "{name}"
        );
        for c in &ds.captures {
            assert!(c.path.is_file(), "{}", c.name);
        }
        if let Some(first) = ds.facility.first() {
            assert_eq!(first.start, cfg.start);
            assert_eq!(first.interval_s, f64::from(cfg.truth_interval_s));
            assert!(first.it_w > 0.0 && first.overhead_w > 0.0);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn refusals_carry_their_kind_and_place() {
    let dir = scratch("refusals");
    simulate_to(&SimConfig::edge().with_duration_s(60), &dir).unwrap();
    let kind = |e: DatasetError| e.kind();

    let e = RecordedDataset::load(dir.join("nowhere")).unwrap_err();
    assert_eq!(e.kind(), DatasetErrorKind::Io);
    assert!(std::error::Error::source(&e).is_some());
    let e = RecordedDataset::load(dir.join(METRICS_PROM)).unwrap_err();
    assert_eq!(e.kind(), DatasetErrorKind::NotADirectory);
    assert!(e.reason().starts_with("is a file, not a directory"), "{e}");

    let e = read_text_file(&dir, 10).unwrap_err();
    assert_eq!(
        (e.kind(), e.path()),
        (
            DatasetErrorKind::NotRegular,
            dir.display().to_string().as_str()
        )
    );
    let e = read_text_file(&dir.join(METRICS_PROM), 10).unwrap_err();
    assert_eq!(kind(e), DatasetErrorKind::TooLarge);
    let e = RecordedDataset::load(&dir);
    assert!(e.is_ok());

    std::fs::write(dir.join(HOSTS_TRUTH_CSV), b"host,energy_j\nh,\xff\n").unwrap();
    let e = RecordedDataset::load(&dir).unwrap_err();
    assert_eq!(e.kind(), DatasetErrorKind::NotText);
    assert!(e.reason().contains("offset 16"), "{e}");
    std::fs::write(dir.join(HOSTS_TRUTH_CSV), "host,energy_j\nedge-r1-h1,-1\n").unwrap();
    let e = RecordedDataset::load(&dir).unwrap_err();
    assert_eq!(
        (e.kind(), e.path()),
        (DatasetErrorKind::Malformed, "hosts_truth.csv:2")
    );
    assert_eq!(
        e.to_string(),
        "hosts_truth.csv:2: energy_j is -1; it must be a finite number ≥ 0"
    );
    std::fs::write(dir.join(HOSTS_TRUTH_CSV), "host\nedge-r1-h1\n").unwrap();
    let e = RecordedDataset::load(&dir).unwrap_err();
    assert_eq!(
        e.to_string(),
        "hosts_truth.csv:1: missing column \"energy_j\""
    );
    std::fs::remove_file(dir.join(HOSTS_TRUTH_CSV)).unwrap();

    std::fs::create_dir_all(dir.join("captures")).unwrap();
    std::fs::write(
        dir.join(CAPTURE_INDEX_CSV),
        "file,entity,taken_at_ms\n../etc/passwd,edge-r1-h1,0\n",
    )
    .unwrap();
    let e = RecordedDataset::load(&dir).unwrap_err();
    assert_eq!(
        e.to_string(),
        "captures/index.csv:2: \"../etc/passwd\" leaves the dataset directory"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn texts_are_checked_part_by_part() {
    let e = RecordedDataset::from_texts("x", "[]", "[]", String::new(), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "inventory.json: expected a JSON object with \"hosts\", \"racks\", \"rooms\" and \"sites\", found an array"
    );
    let ds = simulate(&SimConfig::edge().with_duration_s(60)).unwrap();
    let inventory = write::pretty(&ds.inventory);
    let e = RecordedDataset::from_texts("x", &inventory, "{}", String::new(), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "workloads.json: expected a JSON array of workloads, found an object"
    );
    let truth = "workload,host,energy_j\nweb-01,edge-r1-h1,1.5\n";
    let read = RecordedDataset::from_texts("x", &inventory, "[]", String::new(), Some(truth))
        .unwrap()
        .with_host_truth(&ds.host_truth_csv())
        .unwrap();
    assert_eq!(read.dir, None);
    assert_eq!(read.truth[0].cpu_share_j, None);
    assert_eq!(read.truth[0].gpu_energy_j, None);
    assert_eq!(read.host_truth.len(), 6);
    assert!(read.pod_events.is_empty());
    let bare = r#"{"observed_ms":1000,"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p","namespace":"n","uid":"u"},"spec":{"containers":[{"name":"main","resources":{"requests":{"cpu":"250m","memory":"1Gi"}}}]},"status":{"phase":"Pending"}}}"#;
    let read = read.with_pod_events(&format!("{bare}\n")).unwrap();
    assert_eq!(read.pod_events.len(), 1);
    assert_eq!(read.pod_events[0].memory_request_bytes, 1 << 30);
    let e = read
        .with_pod_events(&format!("{bare}\n{}\n", bare.replace("250m", "lots")))
        .unwrap_err();
    assert_eq!(e.path(), "pod_events.jsonl:2");
}

#[test]
fn pod_events_are_read_within_their_limit_and_checked() {
    let dir = scratch("pods");
    let cfg = SimConfig::churn().with_hosts(3).with_duration_s(600);
    let s = simulate_to(&cfg, &dir).unwrap();
    let ds = RecordedDataset::open(&dir).unwrap();
    assert_eq!(ds.pod_events.len() as u64, s.pod_events);
    assert!(ds.pod_events.iter().any(|e| e.kind == PodEventKind::Added));
    assert!(ds.truth.iter().all(|t| t.gpu_energy_j.is_some()));
    // A line broken mid-file is refused with its place; a directory in its stead too.
    let path = dir.join(POD_EVENTS_JSONL);
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen("\"type\":\"MODIFIED\"", "\"type\":\"PATCHED\"", 1);
    let line = broken.lines().position(|l| l.contains("PATCHED")).unwrap() + 1;
    std::fs::write(&path, broken).unwrap();
    let e = RecordedDataset::load(&dir).unwrap_err();
    assert_eq!(e.kind(), DatasetErrorKind::Malformed);
    assert_eq!(e.path(), format!("pod_events.jsonl:{line}"));
    assert_eq!(
        e.reason(),
        "type \"PATCHED\": expected ADDED, MODIFIED or DELETED"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let e = RecordedDataset::load(&dir).unwrap_err();
    assert_eq!(e.kind(), DatasetErrorKind::NotRegular);
    std::fs::remove_dir_all(&dir).unwrap();
}
