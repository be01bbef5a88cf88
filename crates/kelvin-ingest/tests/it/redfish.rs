//! Conformance tests for the redfish decoders (see main.rs): DMTF mockups as trees and file by
//! file, vendor responses (Dell iDRAC, HPE iLO 4/5), spot checks against values read from the
//! files, and property tests with arbitrary and adversarial documents.

use std::path::{Path, PathBuf};

use kelvin_ingest::redfish::{Redfish, decode_tree};
use kelvin_ingest::{Context, Decode, IngestBatch, Limits, Normalizer, Reason};
use kelvin_model::{Quality, Reading, SensorKind, Timestamp};
use proptest::prelude::*;

use crate::support::corpus;

const MOCKUPS: [&str; 6] = [
    "public-rackmount1",
    "public-pdu",
    "public-power-shelf",
    "public-cooling-unit",
    "public-liquid-cooled-server",
    "public-telemetry",
];

fn balanced(b: &IngestBatch) {
    let s = &b.stats;
    assert_eq!(s.seen, s.accepted + s.quarantined);
    assert_eq!(s.accepted as usize, b.readings.len());
    assert_eq!(s.quarantined as usize, b.quarantine.len());
}

fn tree(root: &Path) -> IngestBatch {
    let n = Normalizer::builtin();
    let b = decode_tree(root, &Context::new(root.display().to_string(), &n)).unwrap();
    balanced(&b);
    b
}

fn file(path: &Path) -> IngestBatch {
    let n = Normalizer::builtin();
    let text = std::fs::read_to_string(path).unwrap();
    let mut b = IngestBatch::default();
    Redfish.decode(&text, &Context::new(path.display().to_string(), &n), &mut b);
    balanced(&b);
    b
}

fn find<'b>(b: &'b IngestBatch, entity: &str, sensor: &str, kind: SensorKind) -> Vec<&'b Reading> {
    b.readings
        .iter()
        .filter(|r| r.entity.as_str() == entity && r.sensor == sensor && r.kind == kind)
        .collect()
}

fn one<'b>(b: &'b IngestBatch, entity: &str, sensor: &str, kind: SensorKind) -> &'b Reading {
    let found = find(b, entity, sensor, kind);
    assert_eq!(found.len(), 1, "{entity}/{sensor} ({kind}): {found:?}");
    found[0]
}

fn index_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            index_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
}

fn odata_type(path: &Path) -> String {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or(serde_json::Value::Null);
    v.get("@odata.type")
        .and_then(|t| t.as_str())
        .map(|t| {
            t.trim_start_matches('#')
                .split('.')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default()
}

/// Resource types whose every mockup instance carries at least one canonical reading.
const READING_TYPES: &[&str] = &[
    "Thermal",
    "Power",
    "EnvironmentMetrics",
    "PowerSupplyMetrics",
    "PowerDistributionMetrics",
    "Outlet",
    "OutletGroup",
    "Circuit",
    "MetricReport",
    "ThermalMetrics",
    "HeaterMetrics",
    "CoolantConnector",
    "Pump",
    "ProcessorMetrics",
    "BatteryMetrics",
];

/// Types that hold no readings by design.
const NO_READING_TYPES: &[&str] = &[
    "ServiceRoot",
    "Chassis",
    "ComputerSystem",
    "MetricDefinition",
    "MetricReportDefinition",
    "TelemetryService",
    "Triggers",
    "Certificate",
    "Assembly",
    "Facility",
    "PowerEquipment",
    "ThermalEquipment",
];

#[test]
fn dmtf_mockups_decode_as_trees() {
    let Some(root) = corpus("ingest/redfish_dmtf") else {
        return;
    };
    for m in MOCKUPS {
        let b = tree(&root.join(m));
        assert!(b.stats.accepted > 0, "{m}: {:?}", b.stats);
        assert!(!b.without_readings.is_empty(), "{m}");
        // Synthetic but schema-exact: nothing is malformed; the only quarantine reasons are
        // values reported twice and values without a canonical kind (frequency, heat, charge).
        for q in &b.quarantine {
            assert!(
                matches!(q.reason, Reason::Duplicate | Reason::UnmappedSensor),
                "{m}: {q}"
            );
        }
        // every reading is finite or an explicit absence, in a plausible range
        for r in &b.readings {
            assert!(r.value.is_finite() || r.quality == Quality::Absent, "{r:?}");
        }
        for r in b
            .readings
            .iter()
            .filter(|r| r.kind == SensorKind::Temperature)
        {
            assert!(!r.is_usable() || (-20.0..120.0).contains(&r.value), "{r:?}");
        }
    }
}

#[test]
fn dmtf_resources_decode_one_by_one() {
    let Some(root) = corpus("ingest/redfish_dmtf") else {
        return;
    };
    let mut files = Vec::new();
    for m in MOCKUPS {
        index_files(&root.join(m), &mut files);
    }
    assert!(files.len() > 500, "{} files", files.len());
    let (mut with, mut without) = (0, 0);
    for f in &files {
        let b = file(f);
        let t = odata_type(f);
        // every file is accounted for: records, or a note that it holds none
        assert!(
            b.stats.seen > 0 || b.without_readings.len() == 1,
            "{}: {:?}",
            f.display(),
            b.stats
        );
        // (un-monitored outlets have no values at all)
        let text = std::fs::read_to_string(f).unwrap();
        let has_values = ["\"Reading", "ConsumedWatts\"", "\"MetricValue\""]
            .iter()
            .any(|k| text.contains(k));
        if READING_TYPES.contains(&t.as_str()) && has_values {
            assert!(
                b.stats.accepted > 0,
                "{} ({t}): {:?}",
                f.display(),
                b.quarantine
            );
            with += 1;
        }
        if t == "Sensor" {
            // one record per Sensor (two for a fan with SpeedRPM), never a syntax problem
            assert!((1..=2).contains(&b.stats.seen), "{}", f.display());
            for q in &b.quarantine {
                assert_eq!(q.reason, Reason::UnmappedSensor, "{}: {q}", f.display());
            }
            with += 1;
        }
        if NO_READING_TYPES.contains(&t.as_str()) || t.ends_with("Collection") {
            assert_eq!(b.stats.seen, 0, "{} ({t})", f.display());
            assert_eq!(b.without_readings.len(), 1, "{}", f.display());
            assert!(b.without_readings[0].what.contains(&t), "{t}");
            without += 1;
        }
    }
    assert!(
        with > 350 && without > 100,
        "{with} with readings, {without} without"
    );
}

#[test]
fn rackmount_deduplicates_and_reads_real_values() {
    let Some(root) = corpus("ingest/redfish_dmtf/public-rackmount1") else {
        return;
    };
    let b = tree(&root);
    let dups = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::Duplicate)
        .count();
    assert!(dups >= 20, "{dups} duplicates");
    let t = SensorKind::Temperature;
    // Sensors/IntakeTemp (24.8 °C, PhysicalContext Intake) is the inlet; the legacy
    // Thermal "Chassis Intake Temp" and ThermalMetrics' Intake excerpt are its duplicates
    assert_eq!(one(&b, "1U", "inlet", t).value, 24.8);
    assert!(b.quarantine.iter().any(|q| {
        q.reason == Reason::Duplicate
            && q.place
                .to_string()
                .ends_with("Thermal/index.json#/Temperatures/2/ReadingCelsius")
    }));
    // Sensors/TotalPower (374 W) is reported once, though EnvironmentMetrics and the
    // PowerLimit control repeat it (its name is `TotalPower`, or `input` should the table
    // learn that name)
    let total: Vec<_> = b
        .readings
        .iter()
        .filter(|r| {
            r.kind == SensorKind::Power && (r.sensor == "TotalPower" || r.sensor == "input")
        })
        .filter(|r| r.value == 374.0)
        .collect();
    assert_eq!(total.len(), 1, "{total:?}");
    assert_eq!(
        b.readings
            .iter()
            .filter(|r| r.kind == SensorKind::Power && r.value == 374.0)
            .count(),
        2,
        "TotalPower and PS1InputPower, each once"
    );
    // PSU 1 input power from Sensors/PS1InputPower; energy in kWh stored as joules
    assert_eq!(
        one(&b, "1U", "PS1InputPower", SensorKind::Power).value,
        374.0
    );
    assert_eq!(
        one(&b, "1U", "PS1Energy", SensorKind::Energy).value,
        7855.0 * 3.6e6
    );
    // fans: the legacy base-board fan in RPM, the CPU fan sensor in % and RPM
    assert_eq!(
        one(&b, "1U", "BaseBoard System Fan", SensorKind::FanSpeed).value,
        2100.0
    );
    assert_eq!(one(&b, "1U", "CPUFan1", SensorKind::FanDuty).value, 45.0);
    assert_eq!(one(&b, "1U", "CPUFan1", SensorKind::FanSpeed).value, 1490.0);
    // the disabled CPU2 sensor is an absent reading, not a zero
    assert_eq!(one(&b, "1U", "CPU2 Temp", t).quality, Quality::Absent);

    // each legacy file on its own: PowerConsumedWatts 344, the PSU's last output 325
    let power = file(&root.join("Chassis/1U/Power/index.json"));
    assert_eq!(one(&power, "1U", "input", SensorKind::Power).value, 344.0);
    assert_eq!(
        one(
            &power,
            "1U",
            "Power Supply Bay/LastPowerOutputWatts",
            SensorKind::Power
        )
        .value,
        325.0
    );
    let thermal = file(&root.join("Chassis/1U/Thermal/index.json"));
    assert_eq!(one(&thermal, "1U", "inlet", t).value, 25.0);
    assert_eq!(
        one(&thermal, "1U", "CPU1 Temp", t).status.as_deref(),
        Some("Enabled/OK")
    );
    let metrics =
        file(&root.join("Chassis/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics/index.json"));
    assert_eq!(
        one(
            &metrics,
            "1U",
            "PowerSupplies/Bay1/InputPowerWatts",
            SensorKind::Power
        )
        .value,
        937.4
    );
    assert_eq!(
        one(
            &metrics,
            "1U",
            "PowerSupplies/Bay1/InputPowerWatts",
            SensorKind::Power
        )
        .quality,
        Quality::Warning,
        "the supply's Health is Warning"
    );
}

#[test]
fn power_equipment_and_cooling_values() {
    let Some(root) = corpus("ingest/redfish_dmtf") else {
        return;
    };
    let pdu = root.join("public-pdu");
    let outlet = file(&pdu.join("PowerEquipment/RackPDUs/1/Outlets/A1/index.json"));
    assert_eq!(
        one(
            &outlet,
            "RackPDUs-1",
            "Outlets/A1/PowerWatts",
            SensorKind::Power
        )
        .value,
        197.4
    );
    let mains = file(&pdu.join("PowerEquipment/RackPDUs/1/Mains/AC1/index.json"));
    assert_eq!(
        one(
            &mains,
            "RackPDUs-1",
            "Mains/AC1/PolyPhaseVoltage/Line1ToLine2",
            SensorKind::Voltage
        )
        .value,
        202.8
    );
    // in the tree the outlet's excerpt yields to the PowerA1 sensor it names
    let b = tree(&pdu);
    assert_eq!(one(&b, "PDU", "PowerA1", SensorKind::Power).value, 427.3);
    assert!(find(&b, "RackPDUs-1", "Outlets/A1/PowerWatts", SensorKind::Power).is_empty());
    assert_eq!(
        one(&b, "PDU", "VoltageMains1-1", SensorKind::Voltage).value,
        119.27
    );

    let cdu = tree(&root.join("public-cooling-unit"));
    let flow = one(&cdu, "CDU", "PrimaryFlow", SensorKind::Airflow);
    assert!((flow.value - 42.0 / 60_000.0).abs() < 1e-12, "42 L/min");
    assert_eq!(
        one(&cdu, "CDU", "PrimaryDeltaPressure", SensorKind::Pressure).value,
        138_000.0
    );
    assert_eq!(
        one(
            &cdu,
            "CDUs-1",
            "Pumps/1/PumpSpeedPercent",
            SensorKind::FanDuty
        )
        .value,
        38.5
    );
}

#[test]
fn metric_reports_parse_string_values_and_times() {
    let Some(root) = corpus("ingest/redfish_dmtf/public-telemetry/TelemetryService/MetricReports")
    else {
        return;
    };
    let stats = file(&root.join("PowerMetricStats/index.json"));
    assert_eq!(stats.stats.accepted, 9);
    let avg = &stats.readings[0];
    assert_eq!((avg.entity.as_str(), avg.value), ("Tray_1", 44.0)); // "44.0"
    assert_eq!(avg.kind, SensorKind::Power);
    assert_eq!(avg.ts.to_rfc3339(), "2016-11-08T17:25:00Z"); // 12:25:00-05:00
    let metrics = file(&root.join("PowerMetrics/index.json"));
    assert_eq!(metrics.readings[0].value, 2.1);
    assert_eq!(
        metrics.readings[0].ts,
        Timestamp::from_nanos(1_469_438_879_795_513_984)
    ); // 2016-07-25T11:27:59.795513984+02:00

    // in the tree, rows join the series of the Power resource they point at
    let b = tree(root.parent().and_then(Path::parent).unwrap());
    let history = find(
        &b,
        "Tray_1",
        "input/AverageConsumedWatts",
        SensorKind::Power,
    );
    assert!(
        history.iter().any(|r| r.value == 44.0 && r.ts.is_known()),
        "{history:?}"
    );
}

#[test]
fn vendor_responses() {
    let Some(root) = corpus("ingest/redfish_vendor_telegraf") else {
        return;
    };
    let t = SensorKind::Temperature;
    let dell = file(&root.join("dell/dell_thermal.json"));
    assert_eq!(one(&dell, "System.Embedded.1", "CPU1 Temp", t).value, 40.0);
    assert_eq!(
        one(
            &dell,
            "System.Embedded.1",
            "System Board Fan1A",
            SensorKind::FanSpeed
        )
        .value,
        17760.0
    );
    let power = file(&root.join("dell/dell_power.json"));
    assert_eq!(
        one(&power, "System.Embedded.1", "input", SensorKind::Power).value,
        429.0
    );
    assert_eq!(
        one(
            &power,
            "System.Embedded.1",
            "PS1 Status/PowerInputWatts",
            SensorKind::Power
        )
        .value,
        900.0
    );

    // HPE iLO 5: "01-Inlet Ambient" is the inlet; fans in percent
    let hpe = file(&root.join("hp/hp_thermal.json"));
    assert_eq!(one(&hpe, "1", "inlet", t).value, 19.0);
    assert_eq!(one(&hpe, "1", "Fan 1", SensorKind::FanDuty).value, 23.0);
    // iLO 4: CurrentReading/Units
    let ilo4 = file(&root.join("hp/hp_thermal_ilo4.json"));
    assert_eq!(one(&ilo4, "1", "inlet", t).value, 19.0);
    assert_eq!(one(&ilo4, "1", "Fan 1", SensorKind::FanDuty).value, 17.0);
    let hp_power = file(&root.join("hp/hp_power.json"));
    assert_eq!(one(&hp_power, "1", "input", SensorKind::Power).value, 221.0);
    let metrics = file(&root.join("hp/thermal_subsys/hp_thermal_metrics.json"));
    assert_eq!(one(&metrics, "1", "inlet", t).value, 19.0);

    // the deliberately corrupted captures are one BadJson record each, with line and column
    for f in [
        "dell/dell_thermalinvalid.json",
        "dell/dell_powerinvalid.json",
        "hp/hp_thermalinvalid.json",
    ] {
        let b = file(&root.join(f));
        assert_eq!(b.stats.seen, 1, "{f}");
        assert_eq!(b.quarantine[0].reason, Reason::BadJson);
        assert!(
            b.quarantine[0].detail.contains("line"),
            "{}",
            b.quarantine[0].detail
        );
    }

    let b = tree(&root);
    assert_eq!(b.stats.by_reason.get(&Reason::BadJson), Some(&7));
    assert!(b.stats.accepted > 50);
    // the READMEs are not inputs; the service root and collections are recognized
    assert!(
        b.without_readings
            .iter()
            .any(|w| w.what == "Redfish ServiceRoot")
    );
    assert!(
        b.quarantine
            .iter()
            .all(|q| !q.place.to_string().contains("README"))
    );
}

// ---------------------------------------------------------------------------------------
// Property tests: never a panic, counts always balance.

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Reading".to_string()),
        Just("ReadingCelsius".to_string()),
        Just("ReadingUnits".to_string()),
        Just("ReadingType".to_string()),
        Just("@odata.id".to_string()),
        Just("@odata.type".to_string()),
        Just("Temperatures".to_string()),
        Just("Fans".to_string()),
        Just("PowerControl".to_string()),
        Just("PowerConsumedWatts".to_string()),
        Just("MetricValues".to_string()),
        Just("MetricValue".to_string()),
        Just("MetricProperty".to_string()),
        Just("Timestamp".to_string()),
        Just("Members".to_string()),
        Just("Status".to_string()),
        Just("State".to_string()),
        Just("DataSourceUri".to_string()),
        Just("PowerWatts".to_string()),
        Just("FlowLitersPerMinute".to_string()),
        Just("#Thermal.v1_7_0.Thermal".to_string()),
        Just("#Sensor.v1_12_0.Sensor".to_string()),
        Just("#MetricReport.v1_5_2.MetricReport".to_string()),
        Just("#SensorCollection.SensorCollection".to_string()),
        Just("/redfish/v1/Chassis/1U/Sensors/T".to_string()),
        Just("/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A1".to_string()),
        Just("Absent".to_string()),
        Just("Cel".to_string()),
        Just("%".to_string()),
        Just("2016-11-08T12:25:00-05:00".to_string()),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((word(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn check(text: &str, limits: Limits) -> IngestBatch {
    let n = Normalizer::builtin();
    let ctx = Context::new("prop.json", &n).with_limits(limits);
    let mut b = IngestBatch::default();
    Redfish.decode(text, &ctx, &mut b);
    balanced(&b);
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        check(&text, Limits::default());
    }

    #[test]
    fn json_ish_documents_never_panic(v in json_value(), cut in any::<prop::sample::Index>(), mutate in any::<bool>()) {
        let text = v.to_string();
        check(&text, Limits::default());
        // and every prefix is a single BadJson record or a document
        let mut end = if mutate { cut.index(text.len() + 1) } else { text.len() };
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = &text[..end];
        check(text, Limits::default());
        // same input, same output
        let a = check(text, Limits::default());
        let b = check(text, Limits::default());
        prop_assert_eq!(a.stats, b.stats);
    }

    #[test]
    fn deep_nesting_is_rejected_before_parsing(n in 1usize..20_000, open in prop::sample::select(vec!["[", "{\"a\":", "[{\"Reading\":"])) {
        let text = open.repeat(n);
        let limits = Limits::default();
        let b = check(&text, limits.clone());
        prop_assert_eq!(b.stats.seen, 1);
        let depth = n * open.matches(['[', '{']).count();
        let want = if depth > limits.max_json_depth { Reason::TooDeep } else { Reason::BadJson };
        prop_assert_eq!(b.quarantine[0].reason, want);
    }

    #[test]
    fn huge_arrays_stop_at_max_records(n in 0usize..3_000, max in 1usize..200) {
        let members: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"MemberId":"{i}","Name":"T","ReadingCelsius":{i}}}"#))
            .collect();
        let text = format!(r##"{{"@odata.type":"#Thermal.v1_0_0.Thermal","Temperatures":[{}]}}"##, members.join(","));
        let mut limits = Limits::default();
        limits.max_records = max;
        let b = check(&text, limits);
        prop_assert_eq!(b.stats.seen as usize, n.min(max + 1));
        prop_assert_eq!(b.stats.accepted as usize, n.min(max));
        let too_many = b.stats.by_reason.get(&Reason::TooManyRecords).copied().unwrap_or(0);
        prop_assert_eq!(too_many, u64::from(n > max));
        // names stay unique within the document
        let mut names: Vec<_> = b.readings.iter().map(|r| r.sensor.clone()).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(names.len(), b.readings.len());
    }
}
