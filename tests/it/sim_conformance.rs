//! Every file the simulator's room-model presets write decodes through kelvin-ingest with
//! format detection: every record accepted except the deliberately corrupt ones, which are
//! quarantined with the expected reason, counted exactly.

use std::collections::BTreeMap;

use kelvin::ingest::{
    Context, Format, IngestBatch, MetricRule, Normalizer, ParseOptions, Reason, RuleSet,
    decode_str, detect, prometheus,
};
use kelvin::model::{EntityId, Timestamp};
use kelvin_sim::{Dataset, SimConfig, simulate};

/// The presets at short durations (the room model's physics is the same at any length).
fn presets() -> Vec<SimConfig> {
    vec![
        SimConfig::enterprise().with_duration_s(2400),
        SimConfig::gpu().with_duration_s(600),
        SimConfig::scale()
            .with_hosts(60)
            .with_duration_s(3600)
            .with_capture_s(1800),
    ]
}

fn rules(ds: &Dataset) -> RuleSet {
    let mut r = RuleSet::builtin();
    if let Some(extra) = ds.files.get("prometheus_rules.json") {
        let extra: Vec<MetricRule> = serde_json::from_str(extra).unwrap();
        for rule in extra {
            r.add(rule).unwrap();
        }
    }
    r
}

/// The expected format of a capture, from its file name.
fn expected_format(file: &str) -> Format {
    let table = [
        ("-ipmitool-sensor.txt", Format::IpmitoolSensor),
        ("-ipmitool-dcmi.txt", Format::IpmitoolDcmi),
        ("-ipmi-sensors.txt", Format::FreeipmiSensors),
        ("-ipmi-dcmi.txt", Format::FreeipmiDcmi),
        (".json", Format::Redfish),
        ("-snmpwalk.txt", Format::SnmpWalk),
        (".csv", Format::NvmlDeviceCsv),
    ];
    table
        .iter()
        .find(|(suffix, _)| file.ends_with(suffix))
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no expected format for {file}"))
}

#[test]
fn every_file_of_every_preset_decodes() {
    let n = Normalizer::builtin();
    for cfg in presets() {
        let ds = simulate(&cfg).unwrap();
        let name = &cfg.name;

        // metrics.prom: one corrupt `N/A` line, nothing else quarantined.
        let b = prometheus::parse_str(
            &ds.metrics,
            "metrics.prom",
            &rules(&ds),
            &ParseOptions::default(),
        );
        assert_eq!(
            b.stats.quarantined,
            1,
            "{name}: {:?}",
            &b.quarantine[..b.quarantine.len().min(3)]
        );
        assert_eq!(b.stats.by_reason.get(&Reason::BadValue), Some(&1));
        assert!(b.stats.accepted > 100, "{name}");

        // captures: every file listed, detected as its format, all records accepted but one
        // garbled `ipmitool sensor` row.
        let index = ds.files.get("captures/index.csv").expect("index");
        let mut lines = index.lines();
        assert_eq!(lines.next(), Some("file,entity,taken_at_ms"));
        let listed: BTreeMap<&str, (&str, i64)> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), 3, "{l}");
                (f[0], (f[1], f[2].parse().unwrap()))
            })
            .collect();
        let on_disk: Vec<&String> = ds
            .files
            .keys()
            .filter(|k| k.starts_with("captures/") && *k != "captures/index.csv")
            .collect();
        assert_eq!(
            on_disk.len(),
            listed.len(),
            "{name}: index lists every capture"
        );
        let mut quarantined = Vec::new();
        let mut accepted = 0;
        // A fan that did not answer: ipmitool prints neither reading nor unit, so the row has
        // no kind and is quarantined as unmapped (as real captures' are).
        let mut silent_fans = 0;
        let mut by_format: BTreeMap<Format, usize> = BTreeMap::new();
        for file in on_disk {
            let (entity, ms) = listed[file.as_str()];
            let body = &ds.files[file];
            let want = expected_format(file);
            if want == Format::IpmitoolSensor {
                silent_fans += body
                    .lines()
                    .filter(|l| {
                        let f: Vec<&str> = l.split('|').map(str::trim).collect();
                        f.len() == 10 && f[1] == "na" && f[2].is_empty()
                    })
                    .count();
            }
            assert_eq!(detect(body), Some(want), "{file}");
            *by_format.entry(want).or_default() += 1;
            let ctx = Context::new(file.as_str(), &n)
                .with_entity(EntityId::new(entity).unwrap())
                .with_default_timestamp(Timestamp::from_millis(ms));
            let batch: IngestBatch = decode_str(None, body, &ctx);
            assert!(batch.stats.accepted > 0, "{file}: {:?}", batch.quarantine);
            assert_eq!(
                batch.stats.seen,
                batch.stats.accepted + batch.stats.quarantined
            );
            accepted += batch.stats.accepted;
            quarantined.extend(batch.quarantine.into_iter().map(|q| (file.clone(), q)));
        }
        let (garbled, unmapped): (Vec<_>, Vec<_>) = quarantined
            .iter()
            .partition(|(_, q)| q.reason == Reason::BadValue);
        assert_eq!(garbled.len(), 1, "{name}: {garbled:?}");
        assert!(garbled[0].0.ends_with("-ipmitool-sensor.txt"));
        assert_eq!(unmapped.len(), silent_fans, "{name}: {unmapped:?}");
        assert!(unmapped.iter().all(
            |(f, q)| q.reason == Reason::UnmappedSensor && f.ends_with("-ipmitool-sensor.txt")
        ));
        assert!(accepted > 100, "{name}");
        if cfg.gpus_per_host > 0 {
            assert!(by_format[&Format::NvmlDeviceCsv] > 0);
        } else {
            for f in [
                Format::IpmitoolSensor,
                Format::FreeipmiSensors,
                Format::Redfish,
                Format::SnmpWalk,
            ] {
                assert!(by_format.get(&f).is_some_and(|&c| c > 0), "{name}: {f}");
            }
        }

        // Ground truth balances per host.
        for h in &ds.host_truth {
            let wl: f64 = ds
                .truth
                .iter()
                .filter(|t| t.host == h.host)
                .map(|t| t.energy_j)
                .sum();
            let sum = wl + h.unreserved_idle_j + h.system_j;
            assert!((sum - h.energy_j).abs() < 1e-6 * h.energy_j, "{}", h.host);
        }
    }
}

#[test]
fn committed_room_datasets_are_reproducible_from_their_seed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    for (dir, cfg) in [
        ("enterprise-room", SimConfig::enterprise()),
        ("gpu-cluster", SimConfig::gpu()),
    ] {
        let ds = simulate(&cfg).unwrap();
        let read = |f: &str| std::fs::read_to_string(root.join(dir).join(f)).unwrap();
        assert!(
            read("metrics.prom") == ds.metrics,
            "{dir}/metrics.prom differs from a fresh simulation: regenerate it (see its README)"
        );
        assert_eq!(read("ground_truth.csv"), ds.truth_csv(), "{dir}");
        for (name, body) in &ds.files {
            assert!(read(name) == *body, "{dir}/{name} differs");
        }
    }
}
