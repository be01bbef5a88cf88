//! Conformance tests for the misc decoders (see main.rs): SNMP walks of a real Sentry4 PDU and
//! two real UPSes, every Synse/OpenDCRE example, a real H100 nvidia-smi recording, and Kelvin
//! CSV round-trips; plus property tests (no panic, counts balance, canonical readings).

use std::path::{Path, PathBuf};

use kelvin_ingest::csv::{KelvinCsv, write_csv};
use kelvin_ingest::nvidia::{NvidiaSmiDmon, NvidiaSmiPmon, NvidiaSmiQuery};
use kelvin_ingest::nvml::{NvmlDeviceCsv, NvmlProcessCsv};
use kelvin_ingest::snmp::SnmpWalk;
use kelvin_ingest::synse::Synse;
use kelvin_ingest::{Context, Decode, IngestBatch, Limits, Normalizer, Reason};
use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};
use proptest::prelude::*;

use crate::support::{corpus, recording};

fn decoders() -> [&'static dyn Decode; 8] {
    [
        &SnmpWalk,
        &Synse,
        &NvidiaSmiQuery,
        &NvidiaSmiPmon,
        &NvidiaSmiDmon,
        &NvmlDeviceCsv,
        &NvmlProcessCsv,
        &KelvinCsv,
    ]
}

/// Decodes a file, checks the invariants every decoder keeps, and returns the batch.
fn decode_file(d: &dyn Decode, path: &Path, ctx: &Context<'_>) -> IngestBatch {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = IngestBatch::default();
    d.decode(&text, ctx, &mut out);
    check(&out);
    out
}

/// `seen == accepted + quarantined`, and every reading is canonical: absent ⇔ NaN, else finite.
fn check(b: &IngestBatch) {
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert_eq!(b.stats.accepted as usize, b.readings.len());
    assert_eq!(b.stats.quarantined as usize, b.quarantine.len());
    for r in &b.readings {
        if r.quality == Quality::Absent {
            assert!(r.value.is_nan(), "{r:?}");
        } else {
            assert!(r.value.is_finite(), "{r:?}");
        }
    }
}

fn find<'b>(b: &'b IngestBatch, sensor: &str) -> &'b Reading {
    b.readings
        .iter()
        .find(|r| r.sensor == sensor)
        .unwrap_or_else(|| panic!("no reading {sensor}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn reasons(b: &IngestBatch, r: Reason) -> u64 {
    b.stats.by_reason.get(&r).copied().unwrap_or(0)
}

/// The decoders whose sniffer claims the start of a file.
fn sniffed_by(path: &Path) -> Vec<kelvin_ingest::Format> {
    let text = std::fs::read_to_string(path).unwrap();
    let head: String = text.chars().take(4096).collect();
    decoders()
        .iter()
        .filter(|d| d.detect(&head).is_some())
        .map(|d| d.name().parse::<kelvin_ingest::Format>().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// SNMP

#[test]
fn sentry4_pdu_snmprec() {
    let Some(dir) = corpus("ingest/snmp_pdu_librenms") else {
        return;
    };
    let n = Normalizer::builtin();
    let path = dir.join("sentry4.snmprec");
    assert_eq!(sniffed_by(&path), [kelvin_ingest::Format::SnmpWalk]);
    let b = decode_file(&SnmpWalk, &path, &Context::new("pdu-a.snmprec", &n));
    // every OID line is a record
    assert_eq!(b.stats.seen, 122);
    assert_eq!(b.stats.accepted, 19);
    assert_eq!(reasons(&b, Reason::UnmappedSensor), 103);
    assert!(b.readings.iter().all(|r| r.entity.as_str() == "pdu-a"));

    let cord = find(&b, "cord.AA.power");
    assert_eq!((cord.kind, cord.value), (SensorKind::Power, 1701.0));
    assert_eq!(find(&b, "cord.AA.power_utilized").value, 0.165);
    assert!(close(find(&b, "cord.AA.energy").value, 893.7 * 3.6e6));
    assert_eq!(find(&b, "line.AA1.current").value, 5.6);
    assert_eq!(find(&b, "line.AA2.current").value, 3.69);
    assert_eq!(find(&b, "phase.AA1.voltage").value, 207.9);
    assert_eq!(find(&b, "phase.AA3.current").value, 4.29);
    assert_eq!(find(&b, "phase.AA3.power").value, 848.0);
    // the phases add up to the cord (within the meter's rounding)
    let phases: f64 = (1..=3)
        .map(|i| find(&b, &format!("phase.AA{i}.power")).value)
        .sum();
    assert!((phases - cord.value).abs() / cord.value < 0.01, "{phases}");
    // unplugged probes: -410 tenth degrees and -1 %RH are explicit absences, not numbers
    for s in [
        "temperature.A1",
        "temperature.A2",
        "humidity.A1",
        "humidity.A2",
    ] {
        let r = find(&b, s);
        assert_eq!(r.quality, Quality::Absent, "{s}");
        assert!(r.value.is_nan());
    }
    assert_eq!(find(&b, "temperature.A1").status.as_deref(), Some("-410"));
    assert_eq!(
        b.readings
            .iter()
            .filter(|r| r.quality != Quality::Absent)
            .count(),
        15
    );
}

#[test]
fn eaton_ups_walk() {
    let Some(dir) = corpus("ingest/synse/snmp_ups/eaton_93pm_pxgms") else {
        return;
    };
    let n = Normalizer::builtin();
    let path = dir.join("public.snmpwalk");
    assert_eq!(sniffed_by(&path), [kelvin_ingest::Format::SnmpWalk]);
    let ctx = Context::new("ups", &n)
        .with_entity(EntityId::new("ups-eaton-1").unwrap())
        .with_default_timestamp(Timestamp::from_secs(1_700_000_000));
    let b = decode_file(&SnmpWalk, &path, &ctx);
    assert_eq!(b.stats.seen, 709);
    assert_eq!(
        reasons(&b, Reason::BadField) + reasons(&b, Reason::BadValue),
        0
    );
    let t = find(&b, "battery.temperature");
    assert_eq!((t.kind, t.value), (SensorKind::Temperature, 24.0));
    assert_eq!(t.entity.as_str(), "ups-eaton-1");
    assert_eq!(t.ts, Timestamp::from_secs(1_700_000_000));
    assert_eq!(find(&b, "battery.voltage").value, 497.2);
    assert_eq!(find(&b, "battery.current").value, 1.7);
    assert_eq!(find(&b, "input.1.voltage").value, 288.0);
    assert_eq!(find(&b, "input.3.voltage").value, 282.0);
    assert_eq!(find(&b, "input.1.current").value, 10.3);
    assert_eq!(find(&b, "input.1.power").value, 574.0);
    assert_eq!(find(&b, "output.2.voltage").value, 120.0);
    let p = find(&b, "output.1.power");
    assert_eq!((p.kind, p.value), (SensorKind::Power, 0.0));
    assert_eq!(find(&b, "output.1.load").kind, SensorKind::Utilization);
    // frequency and state of charge have no canonical kind: recognized, quarantined by name
    assert!(
        b.quarantine
            .iter()
            .any(|q| q.detail.contains("upsEstimatedChargeRemaining"))
    );
    assert_eq!(b.stats.accepted, 3 + 3 * 3 + 3 * 4 + 3);
}

#[test]
fn tripplite_ups_walk() {
    let Some(dir) = corpus("ingest/synse/snmp_ups/tripplite_su10000rt3upm") else {
        return;
    };
    let n = Normalizer::builtin();
    let path = dir.join("public.snmpwalk");
    assert_eq!(sniffed_by(&path), [kelvin_ingest::Format::SnmpWalk]);
    let b = decode_file(&SnmpWalk, &path, &Context::new("ups", &n));
    // 347 OID lines; this agent answers UPS-MIB without measurements (only ids, states and
    // `upsConfigInputVoltage = -1`), so nothing becomes a reading, and nothing is lost
    assert_eq!(b.stats.seen, 347);
    assert_eq!(b.stats.accepted, 0);
    assert_eq!(reasons(&b, Reason::UnmappedSensor), 347);
}

// ---------------------------------------------------------------------------------------------
// Synse / OpenDCRE

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn every_synse_example_is_read_or_recognized() {
    let Some(dir) = corpus("ingest/synse") else {
        return;
    };
    let n = Normalizer::builtin();
    let mut files = Vec::new();
    for sub in ["api_examples", "opendcre_v1.3", "synse_v2", "synse_v3"] {
        files_under(&dir.join(sub), &mut files);
    }
    let mut total = IngestBatch::default();
    let mut with_readings = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&dir).unwrap().display().to_string();
        if rel.contains("redfish_emulator") {
            // Redfish resources served by OpenDCRE's emulator: not Synse, and not sniffed as it
            assert!(
                !sniffed_by(path).contains(&kelvin_ingest::Format::Synse),
                "{rel}"
            );
            continue;
        }
        let b = decode_file(&Synse, path, &Context::new(rel.as_str(), &n));
        for bad in [
            Reason::BadJson,
            Reason::UnknownFormat,
            Reason::BadField,
            Reason::BadTimestamp,
        ] {
            assert_eq!(reasons(&b, bad), 0, "{rel}: {:?}", b.quarantine);
        }
        // each file holds records, or is recognized as holding none
        assert!(
            b.stats.seen > 0 || !b.without_readings.is_empty(),
            "{rel} was neither read nor recognized"
        );
        assert!(b.stats.seen == 0 || b.without_readings.is_empty(), "{rel}");
        if b.stats.accepted > 0 {
            with_readings.push(rel.clone());
        }
        total.append(b);
    }
    assert!(files.len() > 70, "{}", files.len());
    assert_eq!(
        with_readings,
        [
            "api_examples/opendcre_v1.3_fan_example_1.json",
            "api_examples/opendcre_v1.3_power_example_1.json",
            "api_examples/opendcre_v1.3_read_example_1.json",
            "api_examples/synse_v2_read_0.json",
            "api_examples/synse_v2_read_cached_0.json",
            "api_examples/synse_v3_read.json",
            "api_examples/synse_v3_read_device.json",
            "api_examples/synse_v3_stream_readings.json",
        ]
    );
    assert_eq!(total.stats.accepted, 13);
    // LED and lock states, LED colors, and the emulator's mm/s airflow have no canonical kind
    assert_eq!(total.stats.quarantined, 9);
    assert_eq!(reasons(&total, Reason::UnmappedSensor), 9);
}

#[test]
fn synse_spot_values() {
    let Some(dir) = corpus("ingest/synse/api_examples") else {
        return;
    };
    let n = Normalizer::builtin();
    let ctx = Context::new("synse-1", &n);

    let b = decode_file(&Synse, &dir.join("opendcre_v1.3_read_example_1.json"), &ctx);
    let r = &b.readings[0];
    assert_eq!(
        (r.sensor.as_str(), r.kind, r.value),
        ("temperature", SensorKind::Temperature, 19.73)
    );
    assert_eq!(
        (r.quality, r.status.as_deref()),
        (Quality::Good, Some("ok"))
    );

    let b = decode_file(&Synse, &dir.join("opendcre_v1.3_fan_example_1.json"), &ctx);
    assert_eq!(
        (b.readings[0].kind, b.readings[0].value),
        (SensorKind::FanSpeed, 4100.0)
    );

    let b = decode_file(
        &Synse,
        &dir.join("opendcre_v1.3_power_example_1.json"),
        &ctx,
    );
    // within an ulp: serde_json parses floats exactly only with its `float_roundtrip` feature
    assert!(close(find(&b, "input_power").value, 198.576_865_795_134_86));

    let b = decode_file(&Synse, &dir.join("synse_v2_read_0.json"), &ctx);
    let r = &b.readings[0];
    assert_eq!((r.sensor.as_str(), r.value), ("temperature", 20.3));
    assert_eq!(r.ts, Timestamp::from_nanos(1_517_492_860_395_939_895));

    let b = decode_file(&Synse, &dir.join("synse_v2_read_cached_0.json"), &ctx);
    let r = &b.readings[0];
    assert_eq!(r.entity.as_str(), "rack-1/vec");
    assert_eq!(r.sensor, "34c226b1afadaae5f172a4e1763fd1a6/temperature");
    assert_eq!(r.value, 31.0);
    assert_eq!(r.ts, Timestamp::from_nanos(1_539_976_380_918_402_800));

    let b = decode_file(&Synse, &dir.join("synse_v3_read.json"), &ctx);
    let t = find(&b, "c2f6f762-fa30-5f0a-ba6c-f52d8deb3c07/temperature");
    assert_eq!((t.entity.as_str(), t.value), ("synse-1", 6.0));
    assert_eq!(t.ts.to_rfc3339(), "2020-01-01T12:00:00Z");
    let h = find(&b, "fef34490-4952-5e92-bf4d-aad169df980e/humidity");
    assert_eq!((h.kind, h.value), (SensorKind::Humidity, 9.0));
    let p = find(&b, "494bd3ed-72ec-53e9-ba65-729610516e25/pressure");
    assert_eq!((p.kind, p.value), (SensorKind::Pressure, -4.0));

    let b = decode_file(&Synse, &dir.join("synse_v3_read_cache.txt"), &ctx);
    assert_eq!(b.stats.seen, 2);
    assert_eq!(b.quarantine[1].place.to_string(), "synse-1#/1");
}

#[test]
fn synse_configs_are_recognized_without_records() {
    let Some(dir) = corpus("ingest/synse") else {
        return;
    };
    let n = Normalizer::builtin();
    for (rel, what) in [
        ("synse_v3/emulator/device/temperature.yaml", "YAML"),
        ("synse_v2/emulator/proto/fan.yaml", "YAML"),
        (
            "opendcre_v1.3/config/config_ipmi.json",
            "OpenDCRE configuration",
        ),
        (
            "opendcre_v1.3/plc_emulator/emulator-data.json",
            "emulator data",
        ),
        ("opendcre_v1.3/api_examples/scan_cache.json", "scan"),
        ("api_examples/synse_v3_scan.json", "device summary"),
        (
            "api_examples/opendcre_v1.3_read_schema_0.json",
            "JSON schema",
        ),
    ] {
        let b = decode_file(&Synse, &dir.join(rel), &Context::new(rel, &n));
        assert_eq!(b.stats.seen, 0, "{rel}");
        assert!(
            b.without_readings[0].what.contains(what),
            "{rel}: {:?}",
            b.without_readings
        );
    }
}

// ---------------------------------------------------------------------------------------------
// nvidia-smi

#[test]
fn h100_query_csv() {
    let Some(dir) = recording("gpu-h100-2026-11-26") else {
        return;
    };
    let n = Normalizer::builtin();
    let path = dir.join("nvidia-smi-query.csv");
    assert_eq!(sniffed_by(&path), [kelvin_ingest::Format::NvidiaSmiQuery]);
    let ctx = Context::new("nvidia-smi-query.csv", &n).with_entity(EntityId::new("h100").unwrap());
    let b = decode_file(&NvidiaSmiQuery, &path, &ctx);
    // 588 rows × (power.draw, utilization.gpu, utilization.memory, temperature.gpu); clocks,
    // memory.used and pstate are attributes
    assert_eq!((b.stats.seen, b.stats.quarantined), (588 * 4, 0));
    let first = &b.readings[..4];
    assert_eq!(first[0].entity.as_str(), "h100"); // no index column: the capture's GPU
    assert_eq!(
        (first[0].sensor.as_str(), first[0].value),
        ("power.draw", 72.13)
    );
    assert_eq!(first[0].ts, Timestamp::from_millis(1_795_724_408_174));
    assert_eq!(
        (first[1].sensor.as_str(), first[1].value),
        ("utilization.gpu", 0.0)
    );
    assert_eq!(
        (first[3].sensor.as_str(), first[3].kind, first[3].value),
        ("temperature.gpu", SensorKind::Temperature, 42.0)
    );
    // the card's 700 W cap (nvidia-smi.txt) bounds the draw, up to short excursions;
    // solo compute ran near 610 W
    let power: Vec<f64> = b
        .readings
        .iter()
        .filter(|r| r.sensor == "power.draw")
        .map(|r| r.value)
        .collect();
    let max = power.iter().copied().fold(f64::MIN, f64::max);
    assert_eq!(max, 703.76);
    assert!(power.iter().all(|p| (50.0..750.0).contains(p)));
    let util_max = b
        .readings
        .iter()
        .filter(|r| r.sensor == "utilization.gpu")
        .map(|r| r.value)
        .fold(0.0, f64::max);
    assert!(util_max <= 1.0 && util_max > 0.9, "{util_max}");
    // times are increasing, ~0.5 s apart
    let ts: Vec<i64> = b
        .readings
        .iter()
        .step_by(4)
        .map(|r| r.ts.as_nanos())
        .collect();
    assert!(ts.windows(2).all(|w| w[1] > w[0]));
}

#[test]
fn h100_summary_table_agrees_and_is_not_a_csv() {
    let Some(dir) = recording("gpu-h100-2026-11-26") else {
        return;
    };
    // the human-readable `nvidia-smi` table is no format of these decoders
    assert!(sniffed_by(&dir.join("nvidia-smi.txt")).is_empty());
    let table = std::fs::read_to_string(dir.join("nvidia-smi.txt")).unwrap();
    assert!(table.contains("72W /  700W") && table.contains("42C"));
}

#[test]
fn h100_pmon() {
    let Some(dir) = recording("gpu-h100-2026-11-26") else {
        return;
    };
    let n = Normalizer::builtin();
    let path = dir.join("nvidia-smi-pmon.txt");
    assert_eq!(sniffed_by(&path), [kelvin_ingest::Format::NvidiaSmiPmon]);
    let b = decode_file(&NvidiaSmiPmon, &path, &Context::new("pmon", &n));
    // 308 process rows × (sm, mem, enc, dec, jpg, ofa); the 100 idle rows (pid `-`) are none
    assert_eq!((b.stats.seen, b.stats.quarantined), (308 * 6, 0));
    let sm = &b.readings[0];
    assert_eq!(
        (sm.entity.as_str(), sm.sensor.as_str(), sm.value),
        ("pid-950", "gpu0/sm", 0.77)
    );
    assert_eq!(
        (b.readings[1].sensor.as_str(), b.readings[1].value),
        ("gpu0/mem", 0.26)
    );
    assert_eq!(b.readings[2].quality, Quality::Absent); // enc `-`
    // twelve distinct processes (three loads, restarted for each phase)
    let mut pids: Vec<&str> = b.readings.iter().map(|r| r.entity.as_str()).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 12);
    assert!(
        b.readings
            .iter()
            .filter(|r| r.quality == Quality::Good)
            .all(|r| (0.0..=1.0).contains(&r.value))
    );
}

// ---------------------------------------------------------------------------------------------
// Kelvin CSV round-trips

fn entity() -> impl Strategy<Value = EntityId> {
    "[a-zA-Z0-9_./:,\"-]{1,24}".prop_map(|s| EntityId::new(s).unwrap())
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        -1e6f64..1e6,
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
    ]
}

fn reading() -> impl Strategy<Value = Reading> {
    (
        entity(),
        // sensors with commas, quotes, newlines, CRs, spaces, non-ASCII
        "(?s)[a-z ,\"\n\r\t'é°.#-]{0,20}",
        0..SensorKind::ALL.len(),
        prop::option::of(value()),
        prop::option::of(any::<i64>().prop_filter("known", |t| *t != i64::MIN)),
        prop_oneof![
            Just(Quality::Good),
            Just(Quality::Warning),
            Just(Quality::Critical),
            Just(Quality::Estimated)
        ],
        prop::option::of("(?s)[ -~\n]{1,12}"),
    )
        .prop_map(|(e, sensor, k, v, ts, q, status)| {
            let kind = SensorKind::ALL[k];
            let ts = ts.map_or(Timestamp::UNKNOWN, Timestamp::from_nanos);
            let r = match v {
                Some(v) => Reading::new(e, sensor, kind, v, ts).with_quality(q),
                None => Reading::new(e, sensor, kind, f64::NAN, ts).with_quality(Quality::Absent),
            };
            match status {
                Some(s) => r.with_status(s),
                None => r,
            }
        })
}

fn same(a: &Reading, b: &Reading) -> bool {
    a.entity == b.entity
        && a.sensor == b.sensor
        && a.kind == b.kind
        && a.ts == b.ts
        && a.quality == b.quality
        && a.status == b.status
        && (a.value.to_bits() == b.value.to_bits() || (a.value.is_nan() && b.value.is_nan()))
}

proptest! {
    #[test]
    fn kelvin_csv_round_trips_bit_exactly(readings in prop::collection::vec(reading(), 0..30)) {
        let mut buf = Vec::new();
        write_csv(&readings, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        prop_assert!(KelvinCsv.detect(&text).is_some());
        let n = Normalizer::builtin();
        let mut out = IngestBatch::default();
        KelvinCsv.decode(&text, &Context::new("rt.csv", &n), &mut out);
        prop_assert_eq!(out.stats.quarantined, 0, "{:?}", out.quarantine);
        prop_assert_eq!(out.readings.len(), readings.len());
        for (a, b) in readings.iter().zip(&out.readings) {
            prop_assert!(same(a, b), "{:?} != {:?}", a, b);
        }
        // and again: writing what was read gives the same text
        let mut again = Vec::new();
        write_csv(&out.readings, &mut again).unwrap();
        prop_assert_eq!(String::from_utf8(again).unwrap(), text);
    }
}

// ---------------------------------------------------------------------------------------------
// hostile input

/// Lines that are near-valid in one of the formats, to reach deep into the parsers.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,60}",
        "(?s)[\\[\\]{}\",:0-9a-z .|=#%-]{0,60}",
        (0u32..20, 0u32..4, -500i64..5000).prop_map(|(a, b, v)| format!("1.3.6.1.4.1.1718.4.1.{a}.3.1.{b}.1.1|2|{v}")),
        (0u32..8, "[A-Za-z0-9 ():\"-]{0,20}").prop_map(|(a, v)| format!(".1.3.6.1.2.1.33.1.2.{a}.0 = INTEGER: {v}")),
        Just(".1.3.6.1.2.1.1.1.0 = STRING: \"open".to_string()),
        Just(".1.3.6.1.2.1.2.2.1.6.2 = Hex-STRING: 00 20".to_string()),
        Just("timestamp, index, power.draw [W], utilization.gpu [%]".to_string()),
        ("[0-9/: .]{0,24}", "[0-9N/A\\[\\] .W%-]{0,10}").prop_map(|(t, v)| format!("{t}, 0, {v}, {v}")),
        Just("# gpu pid type sm mem enc dec command".to_string()),
        Just("# gpu pwr gtemp sm".to_string()),
        Just(kelvin_ingest::nvml::DEVICE_HEADER.to_string()),
        Just(kelvin_ingest::nvml::PROCESS_HEADER.to_string()),
        ("[-0-9x]{0,20}", "[-0-9.a-zN/A]{0,8}").prop_map(|(t, v)| format!("{t},{v},700000,{v},{v},0,{v},345,2619,0,0,1")),
        ("[-0-9]{0,20}", "[-0-9x]{0,6}", "[-0-9.e]{0,5}").prop_map(|(t, p, v)| format!("{t},{p},{t},{v},{v}")),
        "[0-9 -]{0,30}",
        Just("ts_ns,entity,sensor,kind,unit,value,quality,status".to_string()),
        ("[-0-9]{0,5}", "[a-z_]{0,12}", "[-0-9.e]{0,6}").prop_map(|(t, k, v)| format!("{t},h1,s,{k},,{v},,")),
        Just(r#"{"device": "d", "timestamp": "2020-01-01T12:00:00Z", "type": "temperature", "unit": {"symbol": "C"}, "value": 1}"#.to_string()),
        Just(r#"{"kind": "x", "data": [{"value": null, "type": "fan"}]}"#.to_string()),
        Just(r#"{"temperature_c": "#.to_string()),
        Just("version: 3".to_string()),
    ]
}

fn hostile_limits() -> Limits {
    let mut l = Limits::default();
    l.max_line_bytes = 64;
    l.max_records = 25;
    l.max_json_depth = 6;
    l.max_input_bytes = 4096;
    l
}

proptest! {
    #[test]
    fn arbitrary_input_never_panics_and_balances(
        lines in prop::collection::vec(fragment(), 0..40),
        raw in "(?s).{0,300}",
    ) {
        let n = Normalizer::builtin();
        let ctx = Context::new("hostile", &n).with_limits(hostile_limits());
        for text in [lines.join("\n"), lines.concat(), raw.clone(), format!("{raw}\n{}", lines.join("\n"))] {
            for d in decoders() {
                let mut out = IngestBatch::bounded(&ctx);
                d.decode(&text, &ctx, &mut out);
                check(&out);
                // the record budget holds (one more for the TooManyRecords marker)
                prop_assert!(out.stats.seen <= 26, "{:?} {}", d.name(), out.stats.seen);
                let _ = d.detect(&text);
            }
        }
    }

    #[test]
    fn deep_json_is_refused_before_parsing(depth in 7usize..5000) {
        let n = Normalizer::builtin();
        let ctx = Context::new("deep", &n).with_limits(hostile_limits());
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let mut out = IngestBatch::default();
        Synse.decode(&text, &ctx, &mut out);
        prop_assert_eq!(out.stats.seen, 1);
        prop_assert!(
            out.quarantine[0].reason == Reason::TooDeep || out.quarantine[0].reason == Reason::InputTooLarge
        );
    }
}

// ---------------------------------------------------------------------------------------------
// auto-detection across every decoder of the crate

#[test]
fn auto_detection_picks_these_decoders() {
    use kelvin_ingest::Format;
    let mut cases: Vec<(PathBuf, Format)> = Vec::new();
    if let Some(d) = corpus("ingest/snmp_pdu_librenms") {
        cases.push((d.join("sentry4.snmprec"), Format::SnmpWalk));
    }
    if let Some(d) = corpus("ingest/synse") {
        cases.push((
            d.join("snmp_ups/eaton_93pm_pxgms/public.snmpwalk"),
            Format::SnmpWalk,
        ));
        cases.push((
            d.join("snmp_ups/tripplite_su10000rt3upm/public.snmpwalk"),
            Format::SnmpWalk,
        ));
        for f in [
            "api_examples/opendcre_v1.3_read_example_1.json",
            "api_examples/opendcre_v1.3_power_example_1.json",
            "api_examples/synse_v2_read_0.json",
            "api_examples/synse_v3_read.json",
            "api_examples/synse_v3_read_cache.txt",
            "opendcre_v1.3/api_examples/scan_cache.json",
            "synse_v3/emulator/device/power.yaml",
        ] {
            cases.push((d.join(f), Format::Synse));
        }
    }
    if let Some(d) = recording("gpu-h100-2026-11-26") {
        cases.push((d.join("nvidia-smi-query.csv"), Format::NvidiaSmiQuery));
        cases.push((d.join("nvidia-smi-pmon.txt"), Format::NvidiaSmiPmon));
        cases.push((d.join("nvml_device.csv"), Format::NvmlDeviceCsv));
        cases.push((d.join("nvml_process_util.csv"), Format::NvmlProcessCsv));
    }
    for (path, want) in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let head: String = text.chars().take(8192).collect();
        assert_eq!(
            kelvin_ingest::detect(&head),
            Some(want),
            "{}",
            path.display()
        );
    }
    let mut csv = Vec::new();
    write_csv(&[], &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(kelvin_ingest::detect(&csv), Some(Format::KelvinCsv));
    let dmon = "# gpu    pwr  gtemp  mtemp     sm    mem    enc    dec   mclk   pclk\n# Idx      W      C      C      %      %      %      %    MHz    MHz\n    0     72     42      -      0      0      0      0   2619    345\n";
    assert_eq!(kelvin_ingest::detect(dmon), Some(Format::NvidiaSmiDmon));
}
