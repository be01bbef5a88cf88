//! What a live service needs from ingest: a poll time on every batch kind, plausibility and
//! clock skew relative to the poll, workloads from telemetry labels, and a bounded quarantine
//! log — on the committed datasets, the shared corpus and hostile input.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kelvin_ingest::{
    Admission, Batch, Decoders, IngestBatch, MetricRule, Normalizer, ParseOptions, PollBounds,
    QuarantineLog, Quarantined, Reason, RuleSet, WorkloadLabels, prometheus,
};
use kelvin_model::{EntityId, Inventory, Reading, SensorKind, Timestamp};

use crate::support::corpus;

const SEC: i64 = Timestamp::NANOS_PER_SEC;
/// 2026-11-02T08:00:00Z, the datasets' start.
const T0: i64 = 1_793_606_400 * SEC;

fn id(s: &str) -> EntityId {
    EntityId::new(s).unwrap()
}

fn known(ids: &[&str]) -> Arc<HashSet<EntityId>> {
    Arc::new(ids.iter().map(|s| id(s)).collect())
}

/// The rules, decoders and normalizer an [`Admission`] borrows.
struct Parts {
    rules: RuleSet,
    decoders: Decoders,
    normalizer: Normalizer,
}

impl Parts {
    fn new() -> Parts {
        Parts {
            rules: RuleSet::builtin(),
            decoders: Decoders::builtin(),
            normalizer: Normalizer::builtin(),
        }
    }

    fn admission<'a>(
        &'a self,
        known: &'a Arc<HashSet<EntityId>>,
        workloads: Option<&'a WorkloadLabels>,
    ) -> Admission<'a> {
        Admission {
            rules: &self.rules,
            decoders: &self.decoders,
            normalizer: &self.normalizer,
            known,
            workloads,
        }
    }
}

fn balanced(b: &IngestBatch) {
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert_eq!(b.stats.accepted as usize, b.readings.len());
    assert_eq!(b.defaulted().map(<[bool]>::len), Some(b.readings.len()));
}

fn dataset(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found", p.display());
        None
    }
}

#[test]
fn untimed_samples_take_the_scrape_time() {
    let parts = Parts::new();
    let k = known(&["h1"]);
    let a = parts.admission(&k, None);
    // What a live ipmi_exporter serves: no timestamps.
    let text = "# TYPE ipmi_dcmi_power_consumption_watts gauge\n\
                ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212\n\
                ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Inlet Temp\"} 23.5\n\
                ipmi_temperature_celsius{instance=\"h1:9290\",name=\"Exhaust Temp\"} 31 1793606399000\n";
    let poll = Timestamp::from_nanos(T0);
    let (source, b) = a.decode(Batch::prometheus_at("http://h1:9290/metrics", text, poll));
    assert_eq!(source, "http://h1:9290/metrics");
    balanced(&b);
    assert_eq!(b.stats.accepted, 3);
    assert_eq!(b.readings[0].ts, poll);
    assert_eq!(b.readings[2].ts, Timestamp::from_millis(1_793_606_399_000));
    assert_eq!(b.defaulted(), Some(&[true, true, false][..]));
    assert_eq!(b.clock_offset_ns(poll), Some(-SEC));
    // Without a scrape time, as before: only the timed sample is stored.
    let (_, b) = a.decode(Batch::prometheus("p", text));
    assert_eq!(b.stats.by_reason[&Reason::MissingTimestamp], 2);
    assert_eq!(b.stats.accepted, 1);

    // The streaming decoder, one per target, told each scrape's time.
    let rules = RuleSet::builtin();
    let opts = ParseOptions::default()
        .with_known_entities(k.clone())
        .with_scrape_time(poll);
    let mut d = prometheus::Decoder::new("h1", &rules, opts);
    d.push_str("ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 212\n");
    let first = d.drain();
    d.set_scrape_time(poll.add_nanos(15 * SEC));
    d.push_str("ipmi_dcmi_power_consumption_watts{instance=\"h1:9290\"} 215\n");
    let second = d.finish();
    assert_eq!(first.readings[0].ts, poll);
    assert_eq!(second.readings[0].ts, poll.add_nanos(15 * SEC));
    assert_eq!(second.defaulted(), Some(&[true][..]));
}

#[test]
fn every_batch_kind_carries_its_poll_time() {
    let parts = Parts::new();
    let k = known(&["h1"]);
    let a = parts.admission(&k, None);
    let poll = Timestamp::from_nanos(T0);
    let untimed = Reading::new(
        id("h1"),
        "wall",
        SensorKind::Power,
        200.0,
        Timestamp::UNKNOWN,
    );
    let timed = Reading {
        ts: poll.add_nanos(-SEC),
        ..untimed.clone()
    };

    let b = Batch::Readings(vec![untimed.clone(), timed.clone()]);
    assert_eq!((b.poll_time(), b.source()), (None, "readings"));
    let b = b.with_poll_time(poll);
    assert_eq!((b.poll_time(), b.source()), (Some(poll), "readings"));
    let (source, out) = a.decode(b.clone());
    assert_eq!(source, Batch::READINGS_SOURCE);
    balanced(&out);
    assert_eq!(out.stats.accepted, 2);
    assert_eq!(out.readings[0].ts, poll);
    assert_eq!(out.defaulted(), Some(&[true, false][..]));
    assert_eq!(out.clock_offset_ns(poll), Some(-SEC));
    // An unknown poll time removes it; readings without a time are quarantined, as before.
    let b = b.with_poll_time(Timestamp::UNKNOWN);
    assert!(matches!(b, Batch::Readings(_)));
    let (_, out) = a.decode(b);
    assert_eq!(out.stats.by_reason[&Reason::MissingTimestamp], 1);
    assert_eq!(out.quarantine[0].place.to_string(), "readings[0].ts");

    let cap = Batch::capture("bmc.txt", "x", id("h1"), poll);
    assert_eq!((cap.poll_time(), cap.source()), (Some(poll), "bmc.txt"));
    let later = poll.add_nanos(60 * SEC);
    assert_eq!(cap.with_poll_time(later).poll_time(), Some(later));
    let text = Batch::prometheus("scrape", "up 1");
    assert_eq!((text.poll_time(), text.source()), (None, "scrape"));
    assert_eq!(text.with_poll_time(later).poll_time(), Some(later));
}

/// `captures/index.csv` of a dataset: (file, entity, taken_at).
fn index(dir: &std::path::Path) -> Vec<(String, EntityId, Timestamp)> {
    let text = std::fs::read_to_string(dir.join("captures/index.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let ms: i64 = f[2].parse().unwrap();
            (f[0].to_string(), id(f[1]), Timestamp::from_millis(ms))
        })
        .collect()
}

#[test]
fn the_skewed_bmc_of_the_enterprise_room_is_measured_and_corrected() {
    let Some(dir) = dataset("enterprise-room") else {
        return;
    };
    let parts = Parts::new();
    let inv: Inventory =
        serde_json::from_str(&std::fs::read_to_string(dir.join("inventory.json")).unwrap())
            .unwrap();
    let k: Arc<HashSet<EntityId>> = Arc::new(inv.hosts.iter().map(|h| h.id.clone()).collect());
    let a = parts.admission(&k, None);
    let mut offsets: BTreeMap<String, Vec<Option<i64>>> = BTreeMap::new();
    for (file, entity, taken_at) in index(&dir) {
        let text = std::fs::read_to_string(dir.join(&file)).unwrap();
        let batch = Batch::capture(file.as_str(), text, entity.clone(), taken_at);
        let (source, mut b) = a.decode(batch);
        balanced(&b);
        let kind = file.rsplit_once('-').map_or("", |(_, k)| k).to_string();
        let offset = b.clock_offset_ns(taken_at);
        if entity.as_str() == "ent-r1-h1" && kind == "dcmi.txt" {
            // The simulated BMC runs 137 s ahead; the shift brings it onto the poll, and the
            // sift then keeps every reading.
            assert_eq!(offset, Some(137 * SEC), "{file}");
            let n = b.shift_times(-137 * SEC);
            assert_eq!(n, b.readings.len(), "{file}");
            assert!(b.readings.iter().all(|r| r.ts == taken_at), "{file}");
        }
        assert_eq!(
            b.sift_poll(taken_at, &PollBounds::default(), &source),
            0,
            "{file}"
        );
        offsets
            .entry(format!("{}/{kind}", entity.as_str() == "ent-r1-h1"))
            .or_default()
            .push(offset);
    }
    // `ipmitool sensor` and `ipmi-sensors` captures carry no time: nothing to measure.
    for key in ["true/sensor.txt", "false/sensor.txt", "false/sensors.txt"] {
        if let Some(v) = offsets.get(key) {
            assert!(v.iter().all(Option::is_none), "{key}: {v:?}");
        }
    }
    assert!(offsets.contains_key("true/sensor.txt"));
    // Every other host's DCMI time stamps agree with the collector's clock.
    let others = &offsets["false/dcmi.txt"];
    assert!(!others.is_empty());
    assert!(others.iter().all(|o| *o == Some(0)), "{others:?}");
}

#[test]
fn real_dcmi_captures_measure_the_bmc_clock() {
    let Some(dir) = corpus("ingest/ipmi_freeipmi_glouton") else {
        return;
    };
    let parts = Parts::new();
    let k = known(&["bmc"]);
    let a = parts.admission(&k, None);
    // The collector's clock, 10 s after the BMC's time stamp 2023-07-25T15:34:31Z.
    let stamp = Timestamp::parse_rfc3339("2023-07-25T15:34:31Z").unwrap();
    let poll = stamp.add_nanos(10 * SEC);
    let mut measured = 0;
    for name in [
        "dell-r320-ipmitool-dcmi.txt",
        "dell-r320-ipmi-dcmi.txt",
        "dell-r320-ipmi-sensors.txt",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let (_, b) = a.decode(Batch::capture(name, text, id("bmc"), poll));
        balanced(&b);
        assert!(b.stats.accepted > 0, "{name}");
        let offset = b.clock_offset_ns(poll);
        if name.ends_with("sensors.txt") {
            assert_eq!(offset, None, "{name}: no time stamps");
            assert!(b.defaulted().unwrap().iter().all(|d| *d));
        } else {
            assert_eq!(offset, Some(-10 * SEC), "{name}");
            measured += 1;
        }
    }
    assert_eq!(measured, 2);

    // telegraf's `ipmitool dcmi power reading` is from 2016: polled in 2026, it is a
    // capture from another day, and the sift says so.
    let Some(path) = corpus("ingest/ipmitool/telegraf_dcmi_power_reading.txt") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let poll = Timestamp::from_nanos(T0);
    let (source, mut b) = a.decode(Batch::capture("telegraf.txt", text, id("bmc"), poll));
    let n = b.readings.len();
    assert!(n > 0);
    assert_eq!(b.sift_poll(poll, &PollBounds::default(), &source), n);
    balanced(&b);
    assert_eq!(b.stats.by_reason[&Reason::ImplausibleTime], n as u64);
    let d = &b.quarantine.last().unwrap().detail;
    assert!(d.starts_with("2016-08-01T21:22:51Z is 3744 days"), "{d}");
    assert!(d.contains("before the poll at 2026-11-02T08:00:00Z"), "{d}");
    assert!(d.contains("a capture from another day"), "{d}");
}

#[test]
fn a_timestamp_far_ahead_is_quarantined_with_its_distance() {
    let parts = Parts::new();
    let k = known(&["h1"]);
    let a = parts.admission(&k, None);
    let poll = Timestamp::from_nanos(T0);
    let year_ahead = (T0 / 1_000_000) + 365 * 86_400_000;
    let text = format!(
        "ipmi_dcmi_power_consumption_watts{{instance=\"h1\"}} 200 {year_ahead}\n\
         ipmi_dcmi_power_consumption_watts{{instance=\"h1\"}} 201 {}\n\
         ipmi_dcmi_power_consumption_watts{{instance=\"h1\"}} 202\n\
         ipmi_dcmi_power_consumption_watts{{instance=\"h1\"}} 203 {}\n",
        T0 / 1_000_000 + 60_000,
        T0 / 1_000_000_000,
    );
    let (source, mut b) = a.decode(Batch::prometheus_at("scrape", text, poll));
    assert_eq!(b.stats.accepted, 4);
    assert_eq!(b.sift_poll(poll, &PollBounds::default(), &source), 2);
    balanced(&b);
    assert_eq!((b.stats.seen, b.stats.accepted), (4, 2));
    let details: Vec<&str> = b.quarantine.iter().map(|q| q.detail.as_str()).collect();
    assert!(
        details[0].contains("is 365 days after the poll"),
        "{}",
        details[0]
    );
    assert!(
        details[0].contains("a source clock running fast"),
        "{}",
        details[0]
    );
    assert!(
        details[1].contains("timestamp in seconds where milliseconds were expected"),
        "{}",
        details[1]
    );
    assert_eq!(b.quarantine[0].place.to_string(), "scrape");
    // One minute ahead is within the default 15 minutes; tighter bounds refuse it too.
    assert_eq!(
        b.sift_poll(poll, &PollBounds::default().with_ahead_secs(30), &source),
        1
    );
    balanced(&b);
}

/// The GPU rules the examples below need (dcgm-exporter, not built in).
fn dcgm_rules() -> RuleSet {
    let mut rules = RuleSet::builtin();
    rules
        .add(
            serde_json::from_str::<MetricRule>(
                r#"{"metric": "DCGM_FI_PROF_SM_ACTIVE", "kind": "utilization", "unit": "ratio",
                    "entity": "instance", "sensor": "gpu{gpu}/sm_active"}"#,
            )
            .unwrap(),
        )
        .unwrap();
    rules
}

#[test]
fn pods_outside_the_inventory_are_accepted_from_their_labels() {
    let rules = dcgm_rules();
    let k = known(&["h7"]);
    let opts = ParseOptions::default()
        .with_known_entities(k.clone())
        .with_workload_labels(WorkloadLabels::default());
    let text = "\
container_cpu_usage_seconds_total{container=\"main\",instance=\"h7:10250\",job=\"cadvisor\",namespace=\"tenant-a\",pod=\"train-0042\"} 12.5 1793606400000
container_cpu_usage_seconds_total{container=\"side\",instance=\"h7:10250\",job=\"cadvisor\",namespace=\"tenant-a\",pod=\"train-0042\"} 1.5 1793606400000
DCGM_FI_PROF_SM_ACTIVE{gpu=\"0\",UUID=\"GPU-a\",device=\"nvidia0\",Hostname=\"h7\",instance=\"h7:9400\",job=\"dcgm\",namespace=\"tenant-a\",pod=\"train-0042\",container=\"main\"} 0.73 1793606401000
DCGM_FI_PROF_SM_ACTIVE{gpu=\"1\",UUID=\"GPU-b\",device=\"nvidia1\",Hostname=\"h7\",instance=\"h7:9400\",job=\"dcgm\",namespace=\"tenant-a\",pod=\"train-0042\",container=\"main\"} 0.70 1793606401000
DCGM_FI_PROF_SM_ACTIVE{gpu=\"2\",UUID=\"GPU-c\",device=\"nvidia2\",Hostname=\"h7\",instance=\"h7:9400\",job=\"dcgm\"} 0.0 1793606401000
container_cpu_usage_seconds_total{container=\"main\",instance=\"h7:10250\",pod=\"web-1\"} 3 1793606415000
container_cpu_usage_seconds_total{container=\"main\",instance=\"h9:10250\",namespace=\"t\",pod=\"train-0043\"} 3 1793606415000
container_cpu_usage_seconds_total{container=\"main\",namespace=\"t\",pod=\"train-0044\"} 3 1793606415000
DCGM_FI_PROF_SM_ACTIVE{gpu=\"0\",instance=\"10.0.0.9:9400\",pod=\"bad pod\"} 0.5 1793606415000
container_cpu_usage_seconds_total{container=\"main\",instance=\"h7:10250\",job=\"cadvisor\",namespace=\"tenant-a\",pod=\"train-0042\"} 27.5 1793606415000
";
    let b = prometheus::parse_str(text, "scrape", &rules, &opts);
    balanced(&b);
    let reasons: Vec<(Reason, String)> = b
        .quarantine
        .iter()
        .map(|q| (q.reason, q.place.to_string()))
        .collect();
    assert_eq!(
        reasons,
        [
            (Reason::UnknownEntity, "scrape:7".to_string()),
            (Reason::UnknownEntity, "scrape:8".to_string()),
            (Reason::InvalidEntity, "scrape:9".to_string())
        ]
    );
    let d: Vec<&str> = b.quarantine.iter().map(|q| q.detail.as_str()).collect();
    assert_eq!(
        d[0],
        "entity train-0043 is not in the inventory, and workload train-0043 runs on host \
         \"h9\" (label instance), which is not either"
    );
    assert_eq!(
        d[1],
        "entity train-0044 is not in the inventory, and no label names the host of workload \
         train-0044 (looked for node, instance, Hostname)"
    );
    assert!(d[2].starts_with("entity 10.0.0.9 is not in the inventory, and the label pod names workload \"bad pod\", not a valid id"), "{}", d[2]);
    // The pod's CPU samples are stored under the pod; the DCGM samples keep their host.
    let entities: Vec<&str> = b.readings.iter().map(|r| r.entity.as_str()).collect();
    assert_eq!(
        entities,
        [
            "train-0042",
            "train-0042",
            "h7",
            "h7",
            "h7",
            "web-1",
            "train-0042"
        ]
    );
    // One sighting per workload, with the GPUs it used.
    assert_eq!(b.sightings.len(), 2);
    let s = &b.sightings[&id("train-0042")];
    assert_eq!(
        (s.host.as_str(), s.tenant.as_str(), s.samples),
        ("h7", "tenant-a", 5)
    );
    assert_eq!(
        (s.first, s.last),
        (
            Timestamp::from_millis(1_793_606_400_000),
            Timestamp::from_millis(1_793_606_415_000)
        )
    );
    for pair in [
        ("gpu", "0"),
        ("gpu", "1"),
        ("UUID", "GPU-b"),
        ("container", "side"),
    ] {
        assert!(
            s.labels.contains(&(pair.0.into(), pair.1.into())),
            "{pair:?} in {:?}",
            s.labels
        );
    }
    let series: Vec<String> = s.series.iter().map(|(e, n)| format!("{e}/{n}")).collect();
    assert_eq!(
        series,
        [
            "train-0042/main",
            "train-0042/side",
            "h7/gpu0/sm_active",
            "h7/gpu1/sm_active"
        ]
    );
    let w = &b.sightings[&id("web-1")];
    assert_eq!(w.tenant, WorkloadLabels::DEFAULT_TENANT);

    // Without workload labels the pods stay unknown, as before.
    let plain = ParseOptions::default().with_known_entities(k);
    let b = prometheus::parse_str(text, "scrape", &rules, &plain);
    assert_eq!(b.stats.by_reason[&Reason::UnknownEntity], 7);
    assert!(b.sightings.is_empty());
}

#[test]
fn the_enterprise_rooms_pods_are_learned_from_cadvisor() {
    let Some(dir) = dataset("enterprise-room") else {
        return;
    };
    let inv: Inventory =
        serde_json::from_str(&std::fs::read_to_string(dir.join("inventory.json")).unwrap())
            .unwrap();
    // The inventory without its workloads: every pod is new to the engine.
    let hosts: Arc<HashSet<EntityId>> = Arc::new(inv.hosts.iter().map(|h| h.id.clone()).collect());
    let workloads: Vec<kelvin_model::Workload> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("workloads.json")).unwrap())
            .unwrap();
    let truth: HashMap<String, (String, String)> = workloads
        .iter()
        .filter_map(|w| {
            Some((
                w.id.to_string(),
                (w.host.as_ref()?.to_string(), w.tenant.clone()),
            ))
        })
        .collect();
    let text = std::fs::read_to_string(dir.join("metrics.prom")).unwrap();
    let parts = Parts::new();
    let labels = WorkloadLabels::default();
    let a = parts.admission(&hosts, Some(&labels));
    let (_, b) = a.decode(Batch::prometheus("metrics.prom", text.as_str()));
    balanced(&b);
    let cpu = text
        .lines()
        .filter(|l| l.starts_with("container_cpu_usage_seconds_total{"))
        .count();
    let pods = b
        .readings
        .iter()
        .filter(|r| r.kind == SensorKind::CpuTime)
        .count();
    assert_eq!(pods, cpu, "every cAdvisor sample is accepted");
    assert!(!b.stats.by_reason.contains_key(&Reason::UnknownEntity));
    assert_eq!(b.sightings.len(), truth.len());
    for (w, s) in &b.sightings {
        let (host, tenant) = &truth[w.as_str()];
        assert_eq!((s.host.as_str(), &s.tenant), (host.as_str(), tenant), "{w}");
        assert_eq!(
            (s.first, s.last),
            (
                Timestamp::from_nanos(T0),
                Timestamp::from_nanos(T0 + 3_600 * SEC)
            ),
            "{w}"
        );
    }
    // The streaming decoder finds the same, part by part.
    let opts = ParseOptions::default()
        .with_known_entities(hosts.clone())
        .with_workload_labels(labels.clone());
    let mut d = prometheus::Decoder::new("metrics.prom", &parts.rules, opts);
    let mut all = IngestBatch::default();
    for chunk in text.as_bytes().chunks(64 << 10) {
        d.push(chunk);
        all.append(d.drain());
    }
    all.append(d.finish());
    assert_eq!(all.readings, b.readings);
    assert_eq!(all.sightings, b.sightings);
    // Slurm jobs and processes are named the same way, by the labels an embedder lists.
    let slurm = "\
container_cpu_usage_seconds_total{container=\"step0\",pod=\"x\",node=\"ent-r1-h1\",job_id=\"88\",account=\"physics\"} 1 1793606400000
container_cpu_usage_seconds_total{container=\"main\",pod=\"x\",node=\"ent-r1-h1\",pid=\"4242\",comm=\"python\"} 1 1793606400000
";
    let labels = WorkloadLabels::default()
        .with_workload(&[&["job_id"], &["jobid"], &["pid", "comm"]])
        .with_tenant(&["account"]);
    let a = parts.admission(&hosts, Some(&labels));
    let (_, b) = a.decode(Batch::prometheus("slurm", slurm));
    balanced(&b);
    let ids: Vec<&str> = b.readings.iter().map(|r| r.entity.as_str()).collect();
    assert_eq!(ids, ["88", "4242/python"]);
    assert_eq!(b.sightings[&id("88")].tenant, "physics");
    assert_eq!(b.sightings[&id("4242/python")].tenant, "default");
}

#[test]
fn the_quarantine_of_a_kubelet_stream_stays_bounded() {
    let Some(path) = corpus("ingest/node_exporter/e2e-output.txt") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let rules = RuleSet::builtin();
    // A record of every unmapped sample (not the default), so the log sees them all.
    let opts = ParseOptions::default()
        .with_scrape_time(Timestamp::from_nanos(T0))
        .with_target_label("instance", "node-a:9100")
        .with_known_entities(known(&["node-a"]))
        .with_every_unmapped(true);
    let mut log = QuarantineLog::new(50);
    let streamed = Arc::new(Mutex::new(0u64));
    let s = Arc::clone(&streamed);
    log.subscribe(Box::new(move |_q: &Quarantined| *s.lock().unwrap() += 1));
    let mut expected = 0;
    for _ in 0..100 {
        let mut b = prometheus::parse_str(&text, "node-a", &rules, &opts);
        expected += b.stats.quarantined;
        log.extend_from_batch(&mut b);
    }
    assert!(expected > 10_000, "{expected}");
    assert_eq!(log.total(), expected);
    assert_eq!(*streamed.lock().unwrap(), expected);
    assert!(log.len() <= 50 + Reason::ALL.len());
    for reason in log.counts().keys() {
        assert!(log.examples().any(|q| q.reason == *reason), "{reason}");
    }
    let drained = log.drain();
    assert!(!drained.is_empty() && log.is_empty());
    assert_eq!(log.total(), expected);
}

/// Scrapes of the mix above (known hosts, pods on known and unknown hosts, host series) and a
/// host's power, for the series-cache property.
fn cache_scrape(t: i64) -> String {
    format!(
        "\
container_cpu_usage_seconds_total{{container=\"main\",instance=\"h7:10250\",namespace=\"tenant-a\",pod=\"train-0042\"}} 12.5 {t}
container_cpu_usage_seconds_total{{container=\"main\",instance=\"h9:10250\",namespace=\"t\",pod=\"train-0043\"}} 3 {t}
container_cpu_usage_seconds_total{{container=\"main\",node=\"h9\",instance=\"h7:10250\",pod=\"train-0045\"}} 3 {t}
container_cpu_usage_seconds_total{{container=\"main\",namespace=\"t\",pod=\"train-0044\"}} 3 {t}
DCGM_FI_PROF_SM_ACTIVE{{gpu=\"0\",Hostname=\"h7\",instance=\"h7:9400\",pod=\"train-0042\",container=\"main\"}} 0.73 {t}
DCGM_FI_PROF_SM_ACTIVE{{gpu=\"2\",Hostname=\"h9\",instance=\"h9:9400\"}} 0.0 {t}
DCGM_FI_PROF_SM_ACTIVE{{gpu=\"0\",instance=\"10.0.0.9:9400\",pod=\"bad pod\"}} 0.5 {t}
ipmi_dcmi_power_consumption_watts{{instance=\"h7:9290\"}} 412 {t}
ipmi_dcmi_power_consumption_watts{{instance=\"h9:9290\"}} 388 {t}
"
    )
}

/// Everything a decoded batch says, as text (readings, quarantine, counts, and the sightings'
/// public fields; which seeds a sighting merged is bookkeeping numbered per process).
fn batch_text(b: &IngestBatch) -> String {
    let sightings: Vec<String> = b
        .sightings
        .values()
        .map(|s| {
            format!(
                "{} {} {} {:?} {:?} {:?} {:?} {}",
                s.workload, s.host, s.tenant, s.labels, s.series, s.first, s.last, s.samples
            )
        })
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{sightings:?}",
        b.readings, b.quarantine, b.stats
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Decoding with a series cache kept across batches gives exactly what decoding afresh
    /// gives, whatever happens to the known-entity set between batches: grown in place (as a
    /// live engine grows it when workloads start), replaced, or left alone.
    #[test]
    fn a_series_cache_across_batches_changes_nothing(
        steps in proptest::collection::vec((0_u8..4, 0_usize..6), 1..40),
    ) {
        let rules = dcgm_rules();
        let pool = ["h7", "h9", "train-0043", "train-0044", "train-0045", "train-0042"];
        let mut k = known(&["h7"]);
        let mut cache = prometheus::SeriesCache::default();
        for (i, &(op, pick)) in steps.iter().enumerate() {
            match op {
                0 => {
                    Arc::make_mut(&mut k).insert(id(pool[pick]));
                }
                1 => k = known(&pool[..pick]),
                _ => {}
            }
            let opts = ParseOptions::default()
                .with_known_entities(k.clone())
                .with_workload_labels(WorkloadLabels::default());
            let text = cache_scrape(1_793_606_400_000 + 15_000 * i as i64);
            let fresh = prometheus::parse_str(&text, "scrape", &rules, &opts);
            let cached = prometheus::parse_str_cached(&text, "scrape", &rules, &opts, &mut cache);
            drop(opts);
            proptest::prop_assert_eq!(batch_text(&cached), batch_text(&fresh), "step {}", i);
        }
    }
}
