//! Conformance tests for the sysfs decoders (see main.rs): the node_exporter and Kepler
//! sysfs/procfs fixtures decoded as whole trees, synthetic trees for what the fixtures lack
//! (cgroup hierarchies, symlinks, bounds), the counter tracker, and property tests.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use kelvin_ingest::counter::{CounterEvent, CounterTracker, deltas};
use kelvin_ingest::sysfs::{self, CpuStat};
use kelvin_ingest::{Context, Decode, IngestBatch, Limits, Normalizer, Reason};
use kelvin_model::{EntityId, Place, Quality, Reading, SensorKind, Timestamp};
use proptest::prelude::*;

use crate::support::corpus;

// ---------------------------------------------------------------------------------------------
// Helpers

const TS: Timestamp = Timestamp::from_secs(1_700_000_000);

fn ctx<'n>(n: &'n Normalizer, host: &str) -> Context<'n> {
    Context::new(host, n)
        .with_entity(EntityId::new(host).unwrap())
        .with_default_timestamp(TS)
}

fn balanced(b: &IngestBatch) {
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert_eq!(b.stats.accepted as usize, b.readings.len());
    assert_eq!(b.stats.quarantined as usize, b.quarantine.len());
}

fn find<'a>(b: &'a IngestBatch, sensor: &str, kind: SensorKind) -> &'a Reading {
    b.readings
        .iter()
        .find(|r| r.sensor == sensor && r.kind == kind)
        .unwrap_or_else(|| {
            let all: Vec<_> = b.readings.iter().map(|r| (&r.sensor, r.kind)).collect();
            panic!("no {sensor} ({kind}) among {all:?}")
        })
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn source_of(p: &Place) -> String {
    match p {
        Place::Line { source, .. } => source.to_string(),
        other => panic!("not a file place: {other:?}"),
    }
}

/// A directory under the system temp dir, removed on drop.
struct TempTree(PathBuf);

impl TempTree {
    fn new() -> TempTree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "kelvin-sysfs-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempTree(p)
    }

    fn file(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The node_exporter fixture: hwmon chips under devices/ (its symlinks were not kept), RAPL.

#[test]
fn node_exporter_sysfs_tree() {
    let Some(root) = corpus("ingest/node_exporter/sysfs") else {
        return;
    };
    let n = Normalizer::builtin();
    let scan = sysfs::scan_tree(&root, &ctx(&n, "node-a")).unwrap();
    let b = &scan.batch;
    balanced(b);
    assert_eq!(b.stats.accepted, 17, "{:?}", b.stats);
    assert!(
        b.readings
            .iter()
            .all(|r| r.entity.as_str() == "node-a" && r.ts == TS)
    );
    assert!(
        b.readings.iter().all(|r| !r.sensor.contains("hwmon")),
        "hwmonN is unstable and never part of a sensor id"
    );

    // coretemp: two chips of one name, told apart by their device; values in °C from m°C.
    let t = find(
        b,
        "coretemp@coretemp.0/Physical id 0",
        SensorKind::Temperature,
    );
    assert_eq!(t.value, 55.0);
    assert_eq!(
        find(b, "coretemp@coretemp.1/Core 3", SensorKind::Temperature).value,
        50.0
    );
    // nct6779: fan rpm and voltages in V from mV.
    assert_eq!(find(b, "nct6779/fan2", SensorKind::FanSpeed).value, 1098.0);
    assert_eq!(find(b, "nct6779/in0", SensorKind::Voltage).value, 0.792);
    assert_eq!(find(b, "nct6779/in1", SensorKind::Voltage).value, 1.024);
    // hwmon4 has no name file and two channels labelled "foosensor".
    assert_eq!(
        find(b, "unnamed/foosensor#temp1", SensorKind::Temperature).value,
        55.0
    );
    assert_eq!(
        find(b, "unnamed/foosensor#temp2", SensorKind::Temperature).value,
        54.0
    );

    // RAPL package energy in J, its wrap point, and the core subzone (enabled=0 is the
    // power-capping switch, not the counter's: still reported, as node_exporter does).
    let pkg = find(b, "rapl/package-0", SensorKind::Energy);
    assert_eq!(pkg.value, 240_422.366_267);
    assert_eq!(
        scan.counter("rapl/package-0").unwrap().wrap,
        Some(262_143.328_85)
    );
    let core = find(b, "rapl/package-0/core", SensorKind::Energy);
    assert_eq!((core.value, core.quality), (118_821.284_256, Quality::Good));

    // freq1/freq2 (hwmon4) and bogus1 have no canonical kind.
    let unmapped: Vec<_> = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::UnmappedSensor)
        .map(|q| q.excerpt.as_str())
        .collect();
    assert_eq!(unmapped.len(), 3, "{unmapped:?}");
    assert!(unmapped.contains(&"freq1_input") && unmapped.contains(&"bogus1_input"));
    assert_eq!(b.stats.quarantined, 3, "{:?}", b.quarantine);
    let q = b
        .quarantine
        .iter()
        .find(|q| q.excerpt == "bogus1_input")
        .unwrap();
    assert!(source_of(&q.place).ends_with("bogus.0/hwmon/hwmon5/bogus1_input"));
}

#[test]
fn node_exporter_sysfs_agrees_with_node_exporter_output() {
    let (Some(root), Some(e2e)) = (
        corpus("ingest/node_exporter/sysfs"),
        corpus("ingest/node_exporter/e2e-output.txt"),
    ) else {
        return;
    };
    let n = Normalizer::builtin();
    let b = sysfs::decode_tree(&root, &ctx(&n, "node-a")).unwrap();
    let text = fs::read_to_string(e2e).unwrap();
    // node_exporter's chip label → ours.
    let chips = [
        ("platform_coretemp_0", "coretemp@coretemp.0/"),
        ("platform_coretemp_1", "coretemp@coretemp.1/"),
        ("hwmon4", "unnamed/"),
        ("nct6779", "nct6779/"),
    ];
    for (metric, kind) in [
        ("node_hwmon_temp_celsius", SensorKind::Temperature),
        ("node_hwmon_fan_rpm", SensorKind::FanSpeed),
        ("node_hwmon_in_volts", SensorKind::Voltage),
    ] {
        for (theirs, ours) in chips {
            let prefix = format!("{metric}{{chip=\"{theirs}\",");
            let mut want: Vec<f64> = text
                .lines()
                .filter(|l| l.starts_with(&prefix))
                .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
                .collect();
            let mut got: Vec<f64> = b
                .readings
                .iter()
                .filter(|r| r.kind == kind && r.sensor.starts_with(ours))
                .map(|r| r.value)
                .collect();
            want.sort_by(f64::total_cmp);
            got.sort_by(f64::total_cmp);
            assert_eq!(got, want, "{metric} {theirs}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Kepler fixtures: many hwmon edge cases, RAPL with its MMIO duplicate, /proc samples.

#[test]
fn kepler_sys_tree() {
    let Some(root) = corpus("ingest/kepler/sys") else {
        return;
    };
    let n = Normalizer::builtin();
    let scan = sysfs::scan_tree(&root, &ctx(&n, "node-k")).unwrap();
    let b = &scan.batch;
    balanced(b);
    assert_eq!(b.stats.accepted, 60, "{:?}", b.stats);
    assert!(b.readings.iter().all(|r| !r.sensor.contains("hwmon")));

    // RAPL: the MMIO copy of package-0 is a duplicate of the MSR zone, which is kept.
    let pkg: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.sensor == "rapl/package-0")
        .collect();
    assert_eq!(pkg.len(), 1);
    assert_eq!(pkg[0].value, 240_422.366_267);
    let dup: Vec<_> = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::Duplicate)
        .collect();
    assert_eq!(dup.len(), 1);
    assert!(source_of(&dup[0].place).ends_with("intel-rapl-mmio:0/energy_uj"));
    assert_eq!(dup[0].excerpt, "240422366267");
    // intel-rapl:a is not a zone id.
    let bad: Vec<_> = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::BadField)
        .collect();
    assert_eq!(bad.len(), 1);
    assert!(source_of(&bad[0].place).contains("intel-rapl:a"));
    assert_eq!(b.stats.quarantined, 2, "{:?}", b.quarantine);
    assert_eq!(
        scan.counter("rapl/package-0/core").unwrap().wrap,
        Some(262_143.328_85)
    );

    // Disabled channels (`*_enable` = 0) are explicit absences, counted as accepted.
    let absent: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.quality == Quality::Absent)
        .map(|r| (r.sensor.as_str(), r.kind))
        .collect();
    assert_eq!(
        absent,
        [
            ("ina3221@0/channel_3", SensorKind::Voltage),
            ("test_power_chip/PSU_Rail_C", SensorKind::Power),
            ("energy_with_enable/Rail_C", SensorKind::Energy),
        ]
    );
    let off = find(b, "ina3221@0/channel_3", SensorKind::Voltage);
    assert!(off.value.is_nan() && !off.is_usable());
    assert_eq!(
        find(b, "ina3221@0/channel_2", SensorKind::Voltage).value,
        5.0
    );
    assert_eq!(
        find(b, "ina3221@0/channel_3", SensorKind::Current).value,
        0.5
    );
    assert_eq!(
        find(b, "test_power_chip/PSU_Rail_A", SensorKind::Power).value,
        45.0
    );

    // `_input` is preferred to `_average`; labels name channels; no label → the stem.
    assert_eq!(find(b, "amdgpu/GPU", SensorKind::Power).value, 120.0);
    assert_eq!(find(b, "k10temp/Package", SensorKind::Power).value, 45.0);
    assert_eq!(
        find(b, "platform_sensor/power1", SensorKind::Power).value,
        30.0
    );
    assert_eq!(
        find(b, "ina3221@2/VDD_CPU", SensorKind::Voltage).value,
        12.0
    );
    assert_eq!(find(b, "ina3221@2/VDD_CPU", SensorKind::Current).value, 5.0);
    assert_eq!(find(b, "max20730/in1", SensorKind::Voltage).value, 48.0);
    assert_eq!(find(b, "ina226@1/in0", SensorKind::Voltage).value, 5.0);
    // Two channels with one label stay apart.
    assert_eq!(
        find(b, "multi_sensor/package#power1", SensorKind::Power).value,
        50.0
    );
    assert_eq!(
        find(b, "multi_sensor/package#power2", SensorKind::Power).value,
        30.0
    );
    // Energy channels (µJ → J) are counters without a known wrap.
    assert_eq!(
        find(b, "energy_meter/Total", SensorKind::Energy).value,
        500.0
    );
    assert_eq!(
        find(b, "power_chip/energy1", SensorKind::Energy).value,
        300.0
    );
    assert_eq!(scan.counter("energy_meter/Total").unwrap().wrap, None);
    // Chips without a name file.
    assert_eq!(
        find(b, "unnamed@0/device_path_test", SensorKind::Power).value,
        25.0
    );
    assert_eq!(
        find(b, "unnamed@1/dir_fallback_test", SensorKind::Power).value,
        35.0
    );
}

#[test]
fn kepler_procfs_tree() {
    let Some(root) = corpus("ingest/kepler/procfs") else {
        return;
    };
    let n = Normalizer::builtin();
    let scan = sysfs::scan_tree(&root, &ctx(&n, "node-k")).unwrap();
    let b = &scan.batch;
    balanced(b);
    assert_eq!(
        (b.stats.accepted, b.stats.quarantined),
        (7, 0),
        "{:?}",
        b.quarantine
    );
    assert!(
        b.readings
            .iter()
            .all(|r| r.kind == SensorKind::CpuTime && r.ts == TS)
    );

    // /proc/stat: busy = user + nice + system + irq + softirq + steal, at USER_HZ = 100.
    let host = find(b, "host/cpu", SensorKind::CpuTime);
    assert_eq!(host.entity.as_str(), "node-k");
    assert!(close(
        host.value,
        (8_608_833 + 7_605 + 4_179_891 + 15_697_167 + 1_285_624) as f64 / 100.0
    ));

    // A docker container: utime 572479 + stime 27124 ticks.
    let p = find(b, "pid/3456208", SensorKind::CpuTime);
    assert_eq!(
        p.entity.as_str(),
        "b176419186d75a44628851daf7841d3374a2ec56d0b038ee3bd1e0c6d331e5b1"
    );
    assert!(close(p.value, 5_996.03));
    // A podman container's processes share its workload.
    for pid in ["3538317", "3538344", "3538356"] {
        let r = find(b, &format!("pid/{pid}"), SensorKind::CpuTime);
        assert_eq!(
            r.entity.as_str(),
            "f992ec4ed807f76e5e54c9c67d78f0a4105bf945420271c2558ba905e38d2108"
        );
    }
    assert!(close(
        find(b, "pid/3538344", SensorKind::CpuTime).value,
        0.03
    ));
    // A VM launched from a tmux session belongs to the user's systemd manager.
    let vm = find(b, "pid/43251", SensorKind::CpuTime);
    assert_eq!(vm.entity.as_str(), "user@1000.service");
    assert!(close(vm.value, (143_592 + 25_589) as f64 / 100.0));
    // The pid is the directory's name.
    assert_eq!(find(b, "pid/1337", SensorKind::CpuTime).value, 0.7);
    assert_eq!(scan.counters.len(), 7);
}

#[test]
fn kepler_root_holds_sys_and_procfs() {
    let (Some(root), Some(sys), Some(proc)) = (
        corpus("ingest/kepler"),
        corpus("ingest/kepler/sys"),
        corpus("ingest/kepler/procfs"),
    ) else {
        return;
    };
    let n = Normalizer::builtin();
    let c = ctx(&n, "node-k");
    let all = sysfs::decode_tree(&root, &c).unwrap();
    let parts = [
        sysfs::decode_tree(&sys, &c).unwrap(),
        sysfs::decode_tree(&proc, &c).unwrap(),
    ];
    balanced(&all);
    assert_eq!(
        all.stats.accepted,
        parts.iter().map(|b| b.stats.accepted).sum::<u64>()
    );
    assert_eq!(
        all.stats.quarantined,
        parts.iter().map(|b| b.stats.quarantined).sum::<u64>()
    );
    // Deterministic: the same tree decodes the same way.
    let again = sysfs::decode_tree(&root, &c).unwrap();
    assert_eq!(
        format!("{:?}", again.readings),
        format!("{:?}", all.readings)
    );
    assert_eq!(again.quarantine, all.quarantine);
}

#[test]
fn single_files_given_directly() {
    let Some(proc) = corpus("ingest/kepler/procfs") else {
        return;
    };
    let n = Normalizer::builtin();
    let c = ctx(&n, "node-k");
    let b = sysfs::decode_tree(&proc.join("3456208/stat"), &c).unwrap();
    assert_eq!(b.readings.len(), 1);
    assert_eq!(b.readings[0].sensor, "pid/3456208");
    assert!(b.readings[0].entity.as_str().starts_with("b176419186d7"));
    let b = sysfs::decode_tree(&proc.join("stat"), &c).unwrap();
    assert_eq!(b.readings[0].sensor, "host/cpu");
    let b = sysfs::decode_tree(&proc.join("3456208/comm"), &c).unwrap();
    assert_eq!(b.quarantine[0].reason, Reason::UnknownFormat);
    let e = sysfs::decode_tree(&proc.join("no-such-file"), &c).unwrap_err();
    assert_eq!(e.kind(), kelvin_ingest::IngestErrorKind::Io);
}

// ---------------------------------------------------------------------------------------------
// Synthetic trees

#[test]
fn cgroup_tree_names_workloads() {
    let t = TempTree::new();
    let pod = "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f9e0d4c_7a1b_4c2d_9e8f_0123456789ab.slice";
    t.file("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
    t.file(
        "sys/fs/cgroup/cpu.stat",
        "usage_usec 900000000\nuser_usec 1\nsystem_usec 2\n",
    );
    t.file(
        &format!("sys/fs/cgroup/{pod}/cpu.stat"),
        "usage_usec 3000000\n",
    );
    t.file(
        &format!("sys/fs/cgroup/{pod}/cri-containerd-aaa.scope/cpu.stat"),
        "usage_usec 2000000\n",
    );
    t.file(
        &format!("sys/fs/cgroup/{pod}/cri-containerd-bbb.scope/cpu.stat"),
        "usage_usec 1000000\n",
    );
    t.file(
        "sys/fs/cgroup/system.slice/sshd.service/cpu.stat",
        "usage_usec 1500\n",
    );
    t.file(
        "sys/fs/cgroup/system.slice/docker-0123456789ab.scope/cpu.stat",
        "usage_usec x\n",
    );
    t.file("sys/fs/cgroup/user.slice/cpu.stat", "nr_periods 0\n");
    t.file("sys/fs/cgroup/user.slice/cgroup.procs", "1\n");
    let n = Normalizer::builtin();
    let scan = sysfs::scan_tree(&t.0, &ctx(&n, "h1")).unwrap();
    let b = &scan.batch;
    balanced(b);
    let got: Vec<_> = b
        .readings
        .iter()
        .map(|r| (r.entity.as_str(), r.sensor.as_str(), r.value))
        .collect();
    let uid = "3f9e0d4c-7a1b-4c2d-9e8f-0123456789ab";
    assert_eq!(
        got,
        [
            ("h1", "cgroup", 900.0),
            (uid, "cpu", 3.0),
            (uid, "container/aaa", 2.0),
            (uid, "container/bbb", 1.0),
            ("sshd.service", "cpu", 0.0015),
        ]
    );
    let reasons: Vec<_> = b
        .quarantine
        .iter()
        .map(|q| (q.reason, q.detail.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                Reason::BadValue,
                "usage_usec \"x\" is not a non-negative integer"
            ),
            (Reason::BadField, "no usage_usec line"),
        ]
    );
    assert!(b.readings.iter().all(|r| r.kind == SensorKind::CpuTime));
}

#[test]
fn cpu_stat_decoder() {
    let n = Normalizer::builtin();
    let c = ctx(&n, "w1");
    assert!(CpuStat.detect("usage_usec 1\n").is_some());
    assert!(CpuStat.detect("# HELP x\n").is_none());
    assert_eq!(CpuStat.name(), kelvin_ingest::Format::Sysfs.as_str());
    let mut out = IngestBatch::default();
    CpuStat.decode("usage_usec 2500000\nuser_usec 2000000\n", &c, &mut out);
    CpuStat.decode("user_usec 1\nusage_usec nope\n", &c, &mut out);
    CpuStat.decode("nr_periods 1\nthrottled_time 5\n", &c, &mut out);
    balanced(&out);
    assert_eq!(out.readings[0].value, 2.5);
    assert_eq!(
        (out.readings[0].sensor.as_str(), out.readings[0].ts),
        ("cpu", TS)
    );
    assert_eq!(out.quarantine[0].place, Place::line("w1", 2));
    assert_eq!(out.quarantine[0].excerpt, "usage_usec nope");
    assert_eq!(out.quarantine[1].reason, Reason::BadField);
}

#[test]
fn hostile_files_are_quarantined_not_read() {
    let t = TempTree::new();
    let hw = "sys/class/hwmon/hwmon0";
    t.file(&format!("{hw}/name"), "chip\n");
    t.file(&format!("{hw}/temp1_input"), vec![b'1'; 70_000]);
    t.file(&format!("{hw}/temp2_input"), b"\xff\xfe42");
    t.file(&format!("{hw}/temp3_input"), "42.5\n");
    t.file(&format!("{hw}/temp4_input"), "-5000\n");
    t.file(&format!("{hw}/fan1_input"), "");
    let outside = TempTree::new();
    let secret = outside.file("secret", "12345\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(&secret, t.0.join(hw).join("in0_input")).unwrap();
        // A class link leading outside, and a loop in a cgroup tree.
        symlink(&outside.0, t.0.join("sys/class/hwmon/hwmon1")).unwrap();
        fs::create_dir_all(t.0.join("sys/fs/cgroup/a")).unwrap();
        symlink(t.0.join("sys/fs/cgroup"), t.0.join("sys/fs/cgroup/a/loop")).unwrap();
        symlink(
            t.0.join("sys/fs/cgroup/a/self"),
            t.0.join("sys/fs/cgroup/a/self"),
        )
        .unwrap();
        t.file("sys/fs/cgroup/a/cpu.stat", "usage_usec 1000000\n");
    }
    let n = Normalizer::builtin();
    let b = sysfs::decode_tree(&t.0, &ctx(&n, "h1")).unwrap();
    balanced(&b);
    let q: Vec<_> = b
        .quarantine
        .iter()
        .map(|q| {
            let src = source_of(&q.place);
            (src.rsplit('/').next().unwrap().to_string(), q.reason)
        })
        .collect();
    let mut want = vec![
        ("fan1_input".to_string(), Reason::BadValue),
        ("temp1_input".to_string(), Reason::InputTooLarge),
        ("temp2_input".to_string(), Reason::NotUtf8),
        ("temp3_input".to_string(), Reason::BadValue),
    ];
    if cfg!(unix) {
        want.insert(0, ("hwmon1".to_string(), Reason::BadField));
        want.insert(2, ("in0_input".to_string(), Reason::BadField));
    }
    assert_eq!(q, want);
    assert!(b.quarantine.iter().all(|q| !q.excerpt.contains("12345")));
    assert_eq!(find(&b, "chip/temp4", SensorKind::Temperature).value, -5.0);
    if cfg!(unix) {
        let a = find(&b, "cpu", SensorKind::CpuTime);
        assert_eq!((a.entity.as_str(), a.value), ("a", 1.0));
    }
}

#[test]
fn record_cap_is_one_quarantined_record() {
    let t = TempTree::new();
    for i in 1..=10 {
        t.file(&format!("sys/class/hwmon/hwmon0/temp{i}_input"), "1000");
    }
    let n = Normalizer::builtin();
    // a tree's records are bounded by max_tree_records (each file is one input of one record)
    let c = ctx(&n, "h1").with_limits(Limits::default().with_max_tree_records(4));
    let b = sysfs::decode_tree(&t.0, &c).unwrap();
    balanced(&b);
    assert_eq!((b.stats.accepted, b.stats.quarantined), (4, 1));
    assert_eq!(b.quarantine[0].reason, Reason::TooManyRecords);
}

#[test]
fn unknown_directories_are_one_record() {
    let t = TempTree::new();
    t.file("notes.txt", "hello");
    let n = Normalizer::builtin();
    let b = sysfs::decode_tree(&t.0, &ctx(&n, "h1")).unwrap();
    balanced(&b);
    assert_eq!(b.stats.seen, 1);
    assert_eq!(b.quarantine[0].reason, Reason::UnknownFormat);
}

// ---------------------------------------------------------------------------------------------
// Counters

#[test]
fn counter_events_on_a_rapl_like_series() {
    let wrap = 262_143.328_85;
    let t = Timestamp::from_secs;
    let ev = deltas(
        &[
            (t(0), 262_000.0),
            (t(10), 1_000.0), // wrapped
            (t(20), 2_000.0), // plain
            (t(15), 2_500.0), // clock stepped back
            (t(30), 100.0),   // reset (the wrapped increase would exceed half the range)
            (t(40), 600.0),
        ],
        Some(wrap),
    );
    assert!(matches!(ev[0], CounterEvent::First { .. }));
    assert!(matches!(ev[1], CounterEvent::Wrap { .. }));
    assert_eq!(ev[2].delta(), Some(1_000.0));
    assert_eq!(ev[2].rate_per_s(), Some(100.0));
    assert!(matches!(ev[3], CounterEvent::ClockStep { .. }));
    assert!(matches!(
        ev[4],
        CounterEvent::Reset {
            before: 2_500.0,
            after: 100.0,
            ..
        }
    ));
    assert_eq!(ev[5].delta(), Some(500.0));
    let mut c = CounterTracker::new(Some(wrap));
    for &(ts, v) in &[
        (t(0), 262_000.0),
        (t(10), 1_000.0),
        (t(5), 1.0),
        (t(6), 0.5),
    ] {
        c.push(ts, v);
    }
    let s = c.stats();
    assert_eq!((s.wraps, s.resets, s.clock_steps), (1, 1, 1));
}

/// A monotone counter observed modulo `modulus`, each step under half the modulus.
fn wrapped_series() -> impl Strategy<Value = (f64, f64, Vec<(i64, f64)>)> {
    (1u64..1_000_000_000_000, 0u64..1_000_000).prop_flat_map(|(modulus, start)| {
        let m = modulus as f64;
        let step = 0..modulus.div_ceil(2); // every step under half the modulus
        (
            Just(m),
            Just((start % modulus) as f64),
            proptest::collection::vec((1i64..10_000_000_000, step), 0..60),
        )
            .prop_map(|(m, s, v)| {
                (
                    m,
                    s,
                    v.into_iter().map(|(dt, inc)| (dt, inc as f64)).collect(),
                )
            })
    })
}

proptest! {
    #[test]
    fn sum_of_deltas_is_the_true_total((modulus, start, steps) in wrapped_series()) {
        let mut ts = Timestamp::from_secs(1_000);
        let (mut total, mut raw) = (0.0f64, start);
        let mut samples = vec![(ts, raw)];
        for (dt, inc) in steps {
            ts = ts.add_nanos(dt);
            total += inc;
            raw = (raw + inc) % modulus;
            samples.push((ts, raw));
        }
        let ev = deltas(&samples, Some(modulus));
        let anomalies = ev
            .iter()
            .filter(|e| matches!(e, CounterEvent::Reset { .. } | CounterEvent::ClockStep { .. } | CounterEvent::Invalid { .. }))
            .count();
        prop_assert_eq!(anomalies, 0);
        let sum: f64 = ev.iter().filter_map(CounterEvent::delta).sum();
        prop_assert!((sum - total).abs() <= 1e-6 * total.max(1.0), "{} vs {}", sum, total);
        prop_assert!(ev.iter().filter_map(CounterEvent::rate_per_s).all(|r| r.is_finite() && r >= 0.0));
    }

    #[test]
    fn clock_steps_never_give_bad_rates(
        samples in proptest::collection::vec((-5i64..5, prop_oneof![-1e6f64..1e6, Just(f64::NAN), Just(f64::INFINITY), Just(0.0)]), 0..40),
        wrap in prop_oneof![Just(None), (1.0f64..1e6).prop_map(Some)],
    ) {
        let s: Vec<_> = samples
            .iter()
            .map(|&(t, v)| (if t == -5 { Timestamp::UNKNOWN } else { Timestamp::from_secs(t) }, v))
            .collect();
        let mut c = CounterTracker::new(wrap);
        let mut steps = 0;
        for &(t, v) in &s {
            let e = c.push(t, v);
            if let Some(r) = e.rate_per_s() {
                prop_assert!(r.is_finite() && r >= 0.0);
                let (from, to) = e.interval().unwrap();
                prop_assert!(from.is_known() && to > from);
            }
            if matches!(e, CounterEvent::ClockStep { .. }) {
                steps += 1;
                prop_assert!(e.delta().is_none());
            }
        }
        prop_assert_eq!(c.stats().clock_steps, steps);
    }

    #[test]
    fn decreases_without_wrap_are_reported_resets(values in proptest::collection::vec(0u32..1000, 1..40)) {
        let s: Vec<_> = values.iter().enumerate().map(|(i, &v)| (Timestamp::from_secs(i as i64), f64::from(v))).collect();
        let ev = deltas(&s, None);
        let drops = values.windows(2).filter(|w| w[1] < w[0]).count();
        let resets = ev.iter().filter(|e| matches!(e, CounterEvent::Reset { .. })).count();
        prop_assert_eq!(resets, drops);
        let up: f64 = values.windows(2).filter(|w| w[1] >= w[0]).map(|w| f64::from(w[1] - w[0])).sum();
        prop_assert_eq!(ev.iter().filter_map(CounterEvent::delta).sum::<f64>(), up);
    }
}

// ---------------------------------------------------------------------------------------------
// Random trees of garbage

fn tree_path() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..3).prop_map(|a| format!("sys/class/hwmon/hwmon{a}/name")),
        (
            0u8..3,
            prop::sample::select(vec![
                "temp", "fan", "in", "curr", "power", "energy", "freq", "humidity"
            ]),
            0u8..3,
            prop::sample::select(vec!["input", "label", "enable", "average", "max"]),
        )
            .prop_map(|(a, ty, n, attr)| format!("sys/class/hwmon/hwmon{a}/{ty}{n}_{attr}")),
        (
            prop::sample::select(vec!["intel-rapl:", "intel-rapl-mmio:", "intel-rapl"]),
            prop::sample::select(vec!["0", "0:0", "1", "x", ""]),
            prop::sample::select(vec!["name", "energy_uj", "max_energy_range_uj", "enabled"]),
        )
            .prop_map(|(z, id, f)| format!("sys/class/powercap/{z}{id}/{f}")),
        prop::sample::select(vec![
            "",
            "system.slice/a.service/",
            "kubepods/burstable/pod12-34/c1/",
            "x y/",
            "docker/0123456789abcdef/"
        ])
        .prop_map(|cg| format!("sys/fs/cgroup/{cg}cpu.stat")),
        (
            1u16..5,
            prop::sample::select(vec!["stat", "cgroup", "comm"])
        )
            .prop_map(|(p, f)| format!("proc/{p}/{f}")),
        Just("proc/stat".to_string()),
    ]
}

fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "-?[0-9]{1,14}\n?".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..40),
        "[ -~]{0,30}".prop_map(String::into_bytes),
        "usage_usec [0-9a-z]{0,8}\n".prop_map(String::into_bytes),
        "[0-9]{1,4} \\([ -~]{0,10}\\) S( [0-9-]{1,4}){0,16}".prop_map(String::into_bytes),
        "(0::|3:cpu:)/[a-z0-9/._-]{0,30}\n".prop_map(String::into_bytes),
        "cpu ( [0-9]{1,6}){0,10}\n".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_trees_never_panic_and_balance(files in proptest::collection::vec((tree_path(), contents()), 0..25)) {
        let t = TempTree::new();
        let mut written = 0u64;
        for (rel, data) in &files {
            let p = t.0.join(rel);
            if fs::create_dir_all(p.parent().unwrap()).is_ok() && !p.exists() && fs::write(&p, data).is_ok() {
                written += 1;
            }
        }
        let n = Normalizer::builtin();
        let c = ctx(&n, "h1");
        let scan = sysfs::scan_tree(&t.0, &c).unwrap();
        let b = &scan.batch;
        prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
        prop_assert_eq!(b.stats.accepted as usize, b.readings.len());
        prop_assert!(b.stats.seen <= written + 1, "{} records from {} files", b.stats.seen, written);
        let root = t.0.display().to_string();
        for q in &b.quarantine {
            prop_assert!(source_of(&q.place).starts_with(&root));
        }
        for r in &b.readings {
            prop_assert!(r.value.is_finite() || r.quality == Quality::Absent);
            prop_assert!(!r.sensor.contains("hwmon"));
        }
        prop_assert!(scan.counters.iter().all(|s| s.wrap.is_none_or(|w| w > 0.0)));
        let again = sysfs::decode_tree(&t.0, &c).unwrap();
        prop_assert_eq!(format!("{:?}", again.readings), format!("{:?}", b.readings));
        prop_assert_eq!(&again.quarantine, &b.quarantine);
    }
}

/// The live host's trees (`cargo test -- --ignored live_host`): bounded, balanced, no panic.
#[test]
#[ignore = "reads this machine's /sys and /proc"]
fn live_host_trees_balance() {
    let n = Normalizer::builtin();
    for root in ["/sys", "/proc", "/sys/fs/cgroup"] {
        let start = std::time::Instant::now();
        let Ok(scan) = sysfs::scan_tree(root.as_ref(), &ctx(&n, "live")) else {
            continue;
        };
        balanced(&scan.batch);
        eprintln!(
            "{root}: {:?} in {:?}; first quarantined: {:?}",
            scan.batch.stats,
            start.elapsed(),
            scan.batch.quarantine.first()
        );
    }
}

#[test]
fn hybrid_cgroup_mount_reads_the_unified_hierarchy() {
    let t = TempTree::new();
    t.file(
        "cpu/cpu.stat",
        "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n",
    );
    t.file("devices/devices.list", "a *:* rwm\n");
    t.file("unified/cgroup.controllers", "");
    t.file("unified/cpu.stat", "usage_usec 5000000\n");
    t.file(
        "unified/system.slice/cron.service/cpu.stat",
        "usage_usec 1000\n",
    );
    let n = Normalizer::builtin();
    let b = sysfs::decode_tree(&t.0, &ctx(&n, "h1")).unwrap();
    balanced(&b);
    let got: Vec<_> = b
        .readings
        .iter()
        .map(|r| (r.entity.as_str(), r.sensor.as_str(), r.value))
        .collect();
    assert_eq!(got, [("h1", "cgroup", 5.0), ("cron.service", "cpu", 0.001)]);
    assert_eq!(b.stats.quarantined, 0);
}

#[cfg(unix)]
#[test]
fn fifos_and_links_in_place_of_value_files_are_records() {
    use std::os::unix::fs::symlink;
    let t = TempTree::new();
    t.file("proc/7/cmdline", "x");
    t.file("fs/cgroup/cgroup.controllers", "cpu");
    let mkfifo = |rel: &str| {
        std::process::Command::new("mkfifo")
            .arg(t.0.join(rel))
            .status()
            .is_ok_and(|s| s.success())
    };
    if !(mkfifo("proc/stat") && mkfifo("fs/cgroup/cpu.stat")) {
        eprintln!("skipped: no mkfifo");
        return;
    }
    symlink("/dev/zero", t.0.join("proc/7/stat")).unwrap();
    symlink(t.0.join("proc/8"), t.0.join("proc/8")).unwrap();
    let n = Normalizer::builtin();
    let b = sysfs::decode_tree(&t.0, &ctx(&n, "h1")).unwrap();
    balanced(&b);
    let got: Vec<(String, Reason)> = b
        .quarantine
        .iter()
        .map(|q| {
            let p = q.place.to_string();
            let rel = p
                .rsplit_once(&*t.0.to_string_lossy())
                .map_or(p.clone(), |(_, r)| r.to_string());
            (rel, q.reason)
        })
        .collect();
    assert!(
        got.contains(&("/proc/stat:1".to_string(), Reason::Unreadable)),
        "{got:?}"
    );
    assert!(
        got.contains(&("/fs/cgroup/cpu.stat:1".to_string(), Reason::Unreadable)),
        "{got:?}"
    );
    assert!(
        got.contains(&("/proc/7/stat:1".to_string(), Reason::BadField)),
        "{got:?}"
    );
    assert!(
        got.contains(&("/proc/8:1".to_string(), Reason::Unreadable)),
        "{got:?}"
    );
}
