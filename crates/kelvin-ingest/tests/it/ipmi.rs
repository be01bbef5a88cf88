//! Conformance tests for the ipmi decoders (see main.rs): every capture of
//! `corpus/ingest/ipmitool` and `corpus/ingest/ipmi_freeipmi_glouton` is recognized by exactly
//! one decoder and decoded with balanced counts, known quarantine reasons and pinned values; a
//! property test feeds arbitrary and near-valid text to every IPMI decoder.

use std::collections::{BTreeMap, HashSet};

use kelvin_ingest::{
    Context, Decode, Format, IngestBatch, Limits, Normalizer, Reading, Reason, ipmi,
};
use kelvin_model::{Quality, SensorKind, Timestamp};
use proptest::prelude::*;

/// The decoder a corpus file was captured with, from its name.
fn format_of(file: &str) -> Format {
    if file.contains("sensor_list") {
        Format::IpmitoolSensor
    } else if file.contains("sdr_elist") {
        Format::IpmitoolSdrElist
    } else if file.contains("sdr_v_") {
        Format::IpmitoolSdrVerbose
    } else if file.contains("sdr_v1") {
        Format::IpmitoolSdr
    } else if file.contains("ipmitool-dcmi") || file.contains("dcmi_power_reading") {
        Format::IpmitoolDcmi
    } else if file.contains("ipmi-sensors") {
        Format::FreeipmiSensors
    } else if file.contains("ipmi-dcmi") {
        Format::FreeipmiDcmi
    } else {
        panic!("no decoder for corpus file {file}")
    }
}

fn decoder(format: Format) -> &'static dyn Decode {
    ipmi::decoders()
        .into_iter()
        .find(|d| d.name() == format.as_str())
        .unwrap_or_else(|| panic!("no IPMI decoder for {format}"))
}

/// Expected `(seen, accepted, quarantined)` per capture. Captures with `(0, 0, 0)` hold a BMC
/// or tool error instead of readings.
const EXPECTED: &[(&str, u64, u64, u64)] = &[
    ("hpe_ilo_sensor_list.txt", 18, 10, 8),
    ("intel_s2600_sdr_v_current.txt", 3, 3, 0),
    ("intel_s2600_sdr_v_fan.txt", 4, 4, 0),
    ("intel_s2600_sdr_v_temperature.txt", 4, 3, 1),
    ("intel_s2600_sdr_v_voltage.txt", 4, 3, 1),
    ("supermicro_x9_sensor_list.txt", 66, 55, 11),
    ("telegraf_dcmi_power_reading.txt", 4, 4, 0),
    ("telegraf_sdr_elist_v2.txt", 7, 4, 3),
    ("telegraf_sdr_v1.txt", 133, 12, 121),
    ("dell-r310-ipmi-dcmi-enhanced.txt", 0, 0, 0),
    ("dell-r310-ipmi-dcmi.txt", 0, 0, 0),
    ("dell-r310-ipmi-sensors.txt", 99, 23, 76),
    ("dell-r310-ipmitool-dcmi.txt", 0, 0, 0),
    ("dell-r320-2-ipmi-dcmi-enhanced.txt", 0, 0, 0),
    ("dell-r320-2-ipmi-dcmi.txt", 4, 4, 0),
    ("dell-r320-2-ipmi-sensors.txt", 106, 17, 89),
    ("dell-r320-2-ipmitool-dcmi.txt", 4, 4, 0),
    ("dell-r320-ipmi-dcmi-enhanced.txt", 0, 0, 0),
    ("dell-r320-ipmi-dcmi.txt", 4, 4, 0),
    ("dell-r320-ipmi-sensors.txt", 106, 17, 89),
    ("dell-r320-ipmitool-dcmi.txt", 4, 4, 0),
    ("dell-r720xd-2-ipmi-dcmi-enhanced.txt", 16, 13, 3),
    ("dell-r720xd-2-ipmi-dcmi.txt", 4, 4, 0),
    ("dell-r720xd-2-ipmi-sensors.txt", 134, 15, 119),
    ("dell-r720xd-2-ipmitool-dcmi.txt", 4, 4, 0),
    ("dell-r720xd-ipmi-dcmi-enhanced.txt", 0, 0, 0),
    ("dell-r720xd-ipmi-dcmi.txt", 4, 4, 0),
    ("dell-r720xd-ipmi-sensors.txt", 134, 15, 119),
    ("dell-r720xd-ipmitool-dcmi.txt", 4, 4, 0),
    ("hp-dl360-g7-ipmi-dcmi-enhanced.txt", 12, 10, 2),
    ("hp-dl360-g7-ipmi-dcmi.txt", 4, 4, 0),
    ("hp-dl360-g7-ipmi-sensors.txt", 47, 35, 12),
    ("hp-dl360-g7-ipmitool-dcmi.txt", 0, 0, 0),
    ("hp-ipmi-dcmi-enhanced.txt", 12, 10, 2),
    ("hp-ipmi-dcmi.txt", 4, 4, 0),
    ("hp-ipmi-sensors.txt", 92, 61, 31),
    ("hp-ipmitool-dcmi.txt", 4, 4, 0),
    ("wrong-output-ipmi-sensors.txt", 1, 0, 1),
];

/// An independent count of the records in a capture: lines (or `-v` blocks, or DCMI power
/// lines) that are not blank, header or preamble.
fn count_records(format: Format, text: &str) -> u64 {
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let n = match format {
        Format::IpmitoolSdrVerbose => lines.filter(|l| l.starts_with("Sensor ID")).count(),
        Format::IpmitoolDcmi | Format::FreeipmiDcmi => lines
            .filter(|l| l.to_ascii_lowercase().ends_with(" watts"))
            .count(),
        Format::FreeipmiSensors => lines
            .filter(|l| !l.starts_with("Caching SDR") && !l.starts_with("ID "))
            .count(),
        _ => lines.count(),
    };
    n as u64
}

struct Capture {
    file: String,
    format: Format,
    text: String,
    batch: IngestBatch,
}

/// Every capture of both corpus directories, decoded with its own decoder; `None` (after the
/// SKIP notice) without the corpus.
fn captures() -> Option<Vec<Capture>> {
    let n = Normalizer::builtin();
    let mut out = Vec::new();
    for dir in ["ingest/ipmitool", "ingest/ipmi_freeipmi_glouton"] {
        let path = crate::support::corpus(dir)?;
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|f| f != "README.txt"))
            .collect();
        files.sort();
        for p in files {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let format = format_of(&file);
            let ctx = Context::new(file.clone(), &n);
            let mut batch = IngestBatch::default();
            decoder(format).decode(&text, &ctx, &mut batch);
            out.push(Capture {
                file,
                format,
                text,
                batch,
            });
        }
    }
    Some(out)
}

fn capture<'a>(all: &'a [Capture], file: &str) -> &'a Capture {
    all.iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("{file} is not in the corpus"))
}

fn reading<'a>(c: &'a Capture, sensor: &str) -> &'a Reading {
    c.batch
        .readings
        .iter()
        .find(|r| r.sensor == sensor)
        .unwrap_or_else(|| {
            let names: Vec<&str> = c.batch.readings.iter().map(|r| r.sensor.as_str()).collect();
            panic!("{}: no sensor {sensor:?} among {names:?}", c.file)
        })
}

#[test]
fn every_capture_decodes_with_balanced_counts_and_known_reasons() {
    let Some(all) = captures() else { return };
    let files: HashSet<&str> = all.iter().map(|c| c.file.as_str()).collect();
    let expected: HashSet<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(
        files, expected,
        "the corpus and the expectations list different files"
    );
    for c in &all {
        let s = &c.batch.stats;
        let f = &c.file;
        assert_eq!(s.seen, s.accepted + s.quarantined, "{f}");
        assert_eq!(s.accepted as usize, c.batch.readings.len(), "{f}");
        assert_eq!(s.quarantined as usize, c.batch.quarantine.len(), "{f}");
        let &(_, seen, accepted, quarantined) = EXPECTED.iter().find(|e| e.0 == f).unwrap();
        assert_eq!(
            (s.seen, s.accepted, s.quarantined),
            (seen, accepted, quarantined),
            "{f}"
        );
        if f != "wrong-output-ipmi-sensors.txt" {
            assert_eq!(
                s.seen,
                count_records(c.format, &c.text),
                "{f}: records counted independently"
            );
        }

        // Only the reasons a healthy capture may have.
        let allowed: &[Reason] = match (c.format, f.as_str()) {
            (_, "wrong-output-ipmi-sensors.txt") => &[Reason::BadField],
            (Format::FreeipmiDcmi, _) => &[Reason::Duplicate],
            (Format::IpmitoolDcmi, _) => &[],
            _ => &[Reason::UnmappedSensor],
        };
        for q in &c.batch.quarantine {
            assert!(
                allowed.contains(&q.reason),
                "{f}: unexpected {q}: {}",
                q.excerpt
            );
            assert!(
                q.place.to_string().starts_with(f.as_str()),
                "{f}: {}",
                q.place
            );
        }

        // A capture holds readings, or says why it does not.
        if accepted == 0 && f != "wrong-output-ipmi-sensors.txt" {
            assert_eq!(c.batch.without_readings.len(), 1, "{f}: the error is noted");
        } else {
            assert!(c.batch.without_readings.is_empty(), "{f}");
        }

        let entity = f.trim_end_matches(".txt");
        let mut identities = HashSet::new();
        for r in &c.batch.readings {
            assert_eq!(r.entity.as_str(), entity, "{f}");
            assert!(!r.sensor.is_empty(), "{f}");
            assert_eq!(r.quality == Quality::Absent, r.value.is_nan(), "{f}: {r:?}");
            assert!(r.value.is_nan() || r.value.is_finite(), "{f}: {r:?}");
            assert!(r.status.is_some(), "{f}: the raw status is kept: {r:?}");
            // Identity survives repeated vendor names.
            assert!(
                identities.insert((r.sensor.clone(), r.ts)),
                "{f}: {} twice",
                r.sensor
            );
        }
    }
}

#[test]
fn sniffing_picks_exactly_the_capture_format() {
    let Some(all) = captures() else { return };
    for c in &all {
        let claims: Vec<Format> = ipmi::decoders()
            .iter()
            .filter(|d| d.detect(&c.text).is_some())
            .map(|d| d.name().parse::<Format>().unwrap())
            .collect();
        if c.file == "wrong-output-ipmi-sensors.txt" {
            assert!(claims.is_empty(), "{}: {claims:?}", c.file);
        } else {
            assert_eq!(claims, [c.format], "{}", c.file);
        }
        // Sniffing looks at a head, possibly cut mid-line.
        let cut = c
            .text
            .char_indices()
            .nth(120)
            .map_or(c.text.len(), |(i, _)| i);
        let head_claims = ipmi::decoders()
            .iter()
            .filter(|d| d.detect(&c.text[..cut]).is_some())
            .count();
        assert!(head_claims <= 1, "{}", c.file);
    }
}

#[test]
fn wrong_output_is_quarantined_not_fatal() {
    let Some(all) = captures() else { return };
    let c = capture(&all, "wrong-output-ipmi-sensors.txt");
    assert_eq!(c.batch.quarantine.len(), 1);
    let q = &c.batch.quarantine[0];
    assert_eq!(q.reason, Reason::BadField);
    assert_eq!(q.place.to_string(), "wrong-output-ipmi-sensors.txt:1");
    assert!(q.detail.contains("header"), "{}", q.detail);
    assert!(q.excerpt.starts_with("This isn't an ipmi-sensor output"));
}

#[test]
fn every_decoder_survives_every_capture() {
    let Some(all) = captures() else { return };
    let n = Normalizer::builtin();
    let ctx = Context::new("cross.txt", &n);
    for c in &all {
        for d in ipmi::decoders() {
            let mut b = IngestBatch::default();
            d.decode(&c.text, &ctx, &mut b);
            assert_eq!(
                b.stats.seen,
                b.stats.accepted + b.stats.quarantined,
                "{} as {}",
                c.file,
                d.name()
            );
        }
    }
}

#[test]
fn freeipmi_sensor_values() {
    let Some(all) = captures() else { return };
    // Dell R310: three `Ambient Temp` and four `Temp` records, told apart by record ID.
    let r310 = capture(&all, "dell-r310-ipmi-sensors.txt");
    let inlet = reading(r310, "inlet#7");
    assert_eq!(
        (inlet.kind, inlet.value, inlet.quality),
        (SensorKind::Temperature, 29.0, Quality::Good)
    );
    assert_eq!(inlet.status.as_deref(), Some("'OK'"));
    assert_eq!(inlet.ts, Timestamp::UNKNOWN);
    let absent = reading(r310, "inlet#4");
    assert_eq!(
        (absent.kind, absent.quality),
        (SensorKind::Temperature, Quality::Absent)
    );
    assert!(absent.value.is_nan());
    for name in ["Temp#1", "Temp#2", "Temp#3", "Temp#6", "inlet#5"] {
        assert_eq!(reading(r310, name).quality, Quality::Absent, "{name}");
    }
    assert!(
        r310.batch
            .readings
            .iter()
            .all(|r| r.sensor != "inlet" && r.sensor != "Temp")
    );
    let power = reading(r310, "input"); // `System Level`
    assert_eq!((power.kind, power.value), (SensorKind::Power, 84.0));
    let fan = reading(r310, "FAN MOD 1A RPM");
    assert_eq!((fan.kind, fan.value), (SensorKind::FanSpeed, 6720.0));
    assert_eq!(reading(r310, "Current 1").value, 0.28);
    assert_eq!(reading(r310, "Voltage 1").value, 236.0);

    let r720 = capture(&all, "dell-r720xd-ipmi-sensors.txt");
    assert_eq!(reading(r720, "inlet").value, 28.0);
    assert_eq!(reading(r720, "exhaust").value, 43.0);
    assert_eq!(reading(r720, "input").value, 378.0); // `Pwr Consumption`
    assert_eq!(reading(r720, "Temp#147").value, 55.0);
    let r720b = capture(&all, "dell-r720xd-2-ipmi-sensors.txt");
    assert_eq!(reading(r720b, "Temp#146").value, 44.0);
    assert_eq!(reading(r720b, "Temp#147").quality, Quality::Absent);
    // One `Temp` on the R320: no suffix.
    assert_eq!(
        reading(capture(&all, "dell-r320-ipmi-sensors.txt"), "Temp").value,
        66.0
    );

    let hp = capture(&all, "hp-ipmi-sensors.txt");
    assert_eq!(reading(hp, "inlet").value, 23.0); // `01-Inlet Ambient`
    assert_eq!(reading(hp, "input").value, 60.0); // `Power Meter`, typed Other Units
    let cpu = reading(hp, "CPU Utilization"); // unit `unspecified`: percent
    assert_eq!(cpu.kind, SensorKind::Utilization);
    assert!((cpu.value - 0.15).abs() < 1e-12);
    let duty = reading(hp, "Fan 1 DutyCycle");
    assert_eq!(
        (duty.kind, duty.quality),
        (SensorKind::FanDuty, Quality::Absent)
    );
    let g7 = capture(&all, "hp-dl360-g7-ipmi-sensors.txt");
    assert_eq!(reading(g7, "input").value, 98.0);
    assert_eq!(
        reading(g7, "input").status.as_deref(),
        Some("'Device Enabled'")
    );
    let block = reading(g7, "Fan Block 1");
    assert_eq!((block.kind, block.value), (SensorKind::FanDuty, 19.6));
    assert_eq!(
        (
            reading(g7, "Power Supply 2").kind,
            reading(g7, "Power Supply 2").value
        ),
        (SensorKind::Power, 40.0)
    );
    assert_eq!(reading(g7, "Temp 28").value, 71.0);
}

#[test]
fn ipmitool_sensor_values() {
    let Some(all) = captures() else { return };
    let sm = capture(&all, "supermicro_x9_sensor_list.txt");
    let cpu = reading(sm, "CPU1 Temp");
    assert_eq!(
        (cpu.kind, cpu.value, cpu.quality),
        (SensorKind::Temperature, 33.0, Quality::Good)
    );
    assert_eq!(cpu.status.as_deref(), Some("ok"));
    let dimm = reading(sm, "P1-DIMMA3 TEMP"); // `na`, no unit
    assert_eq!(
        (dimm.kind, dimm.quality, dimm.status.as_deref()),
        (SensorKind::Temperature, Quality::Absent, Some("na"))
    );
    assert_eq!(
        (reading(sm, "FAN2").kind, reading(sm, "FAN2").value),
        (SensorKind::FanSpeed, 3000.0)
    );
    assert_eq!(reading(sm, "12V").value, 12.084);
    let unmapped: Vec<&str> = sm
        .batch
        .quarantine
        .iter()
        .map(|q| q.excerpt.split('|').next().unwrap().trim())
        .collect();
    assert_eq!(
        unmapped,
        [
            "HDD Status",
            "FAN1",
            "FAN5",
            "FAN6",
            "FANA",
            "FANB",
            "HDD Status",
            "Chassis Intru",
            "PS1 Status",
            "PS2 Status",
            "I/O Board VRD"
        ]
    );

    let hpe = capture(&all, "hpe_ilo_sensor_list.txt");
    assert_eq!(reading(hpe, "inlet").value, 24.0); // `01-Inlet Ambient`
    assert_eq!(reading(hpe, "exhaust").value, 40.0);
    let fan = reading(hpe, "Fan 1"); // percent on a fan
    assert_eq!((fan.kind, fan.value), (SensorKind::FanDuty, 27.44));

    let sdr = capture(&all, "telegraf_sdr_v1.txt");
    assert_eq!(reading(sdr, "inlet").value, 20.0); // `Ambient Temp`
    assert_eq!(
        (
            reading(sdr, "Avg Power").kind,
            reading(sdr, "Avg Power").value
        ),
        (SensorKind::Power, 210.0)
    );
    assert_eq!(reading(sdr, "Fan 1A Tach").value, 2610.0);
    assert_eq!(reading(sdr, "Planar VBAT").value, 3.05);
    assert!(
        sdr.batch
            .quarantine
            .iter()
            .any(|q| q.excerpt.starts_with("Altitude") && q.detail.contains("feet"))
    );

    let elist = capture(&all, "telegraf_sdr_elist_v2.txt");
    assert_eq!(reading(elist, "inlet").value, 25.0);
    assert_eq!(
        (
            reading(elist, "Power Supply 1").kind,
            reading(elist, "Power Supply 1").value
        ),
        (SensorKind::Power, 110.0)
    );
    assert_eq!(
        (
            reading(elist, "Current 1").kind,
            reading(elist, "Current 1").value
        ),
        (SensorKind::Current, 7.2)
    );
    assert_eq!(reading(elist, "Fan1").value, 5040.0);

    let current = capture(&all, "intel_s2600_sdr_v_current.txt");
    let pwr = reading(current, "input"); // `Pwr Consumption`, typed Current, in watts
    assert_eq!((pwr.kind, pwr.value), (SensorKind::Power, 154.0));
    let psu = reading(current, "PS1 Curr Out %");
    assert_eq!(psu.kind, SensorKind::Utilization);
    assert!((psu.value - 0.11).abs() < 1e-12);
    assert_eq!(
        reading(capture(&all, "intel_s2600_sdr_v_fan.txt"), "System Fan 4").value,
        4606.0
    );
    let temps = capture(&all, "intel_s2600_sdr_v_temperature.txt");
    assert_eq!(reading(temps, "inlet").value, 23.0); // `Front Panel Temp`
    assert_eq!(reading(temps, "SSB Temp").value, 43.0);
    assert_eq!(
        temps.batch.quarantine[0].place.to_string(),
        "intel_s2600_sdr_v_temperature.txt:1"
    );
    let volts = capture(&all, "intel_s2600_sdr_v_voltage.txt");
    assert_eq!(reading(volts, "BB +12.0V").value, 11.831);
    let disabled = reading(volts, "BB +1.35 P1LV AB");
    assert_eq!(
        (disabled.kind, disabled.quality),
        (SensorKind::Voltage, Quality::Absent)
    );
}

#[test]
fn dcmi_values_and_times() {
    let Some(all) = captures() else { return };
    // (capture, current watts, BMC time)
    let expected = [
        (
            "telegraf_dcmi_power_reading.txt",
            167.0,
            "2016-08-01T21:22:51Z",
        ),
        ("dell-r320-2-ipmi-dcmi.txt", 75.0, "2023-07-25T15:38:52Z"),
        (
            "dell-r320-2-ipmitool-dcmi.txt",
            71.0,
            "2023-07-25T15:38:52Z",
        ),
        ("dell-r320-ipmi-dcmi.txt", 61.0, "2023-07-25T15:34:31Z"),
        ("dell-r320-ipmitool-dcmi.txt", 65.0, "2023-07-25T15:34:31Z"),
        (
            "dell-r720xd-2-ipmi-dcmi-enhanced.txt",
            170.0,
            "2023-07-25T15:44:18Z",
        ),
        ("dell-r720xd-2-ipmi-dcmi.txt", 170.0, "2023-07-25T15:44:18Z"),
        (
            "dell-r720xd-2-ipmitool-dcmi.txt",
            170.0,
            "2023-07-25T15:44:18Z",
        ),
        ("dell-r720xd-ipmi-dcmi.txt", 391.0, "2023-07-25T15:41:53Z"),
        (
            "dell-r720xd-ipmitool-dcmi.txt",
            389.0,
            "2023-07-25T15:41:53Z",
        ),
        (
            "hp-dl360-g7-ipmi-dcmi-enhanced.txt",
            98.0,
            "2023-07-25T11:51:54Z",
        ),
        ("hp-dl360-g7-ipmi-dcmi.txt", 98.0, "2023-07-25T11:51:54Z"),
        ("hp-ipmi-dcmi-enhanced.txt", 62.0, "2023-07-25T15:23:05Z"),
        ("hp-ipmi-dcmi.txt", 62.0, "2023-07-25T15:23:05Z"),
        ("hp-ipmitool-dcmi.txt", 62.0, "2023-07-25T15:23:07Z"),
    ];
    let with_current: HashSet<&str> = all
        .iter()
        .filter(|c| c.batch.readings.iter().any(|r| r.sensor == "dcmi"))
        .map(|c| c.file.as_str())
        .collect();
    assert_eq!(with_current, expected.iter().map(|e| e.0).collect());
    for (file, watts, time) in expected {
        let c = capture(&all, file);
        let r = reading(c, "dcmi");
        assert_eq!(
            (r.kind, r.value, r.quality),
            (SensorKind::Power, watts, Quality::Good),
            "{file}"
        );
        assert_eq!(r.ts.to_rfc3339(), time, "{file}");
        assert_eq!(
            c.batch
                .readings
                .iter()
                .filter(|r| r.sensor == "dcmi")
                .count(),
            1,
            "{file}"
        );
    }
    let t = capture(&all, "telegraf_dcmi_power_reading.txt");
    let stats: BTreeMap<&str, f64> = t
        .batch
        .readings
        .iter()
        .map(|r| (r.sensor.as_str(), r.value))
        .collect();
    assert_eq!(
        stats,
        BTreeMap::from([
            ("dcmi", 167.0),
            ("dcmi/average", 156.0),
            ("dcmi/maximum", 422.0),
            ("dcmi/minimum", 124.0)
        ])
    );
    assert_eq!(t.batch.readings[0].status.as_deref(), Some("activated"));

    let enhanced = capture(&all, "dell-r720xd-2-ipmi-dcmi-enhanced.txt");
    assert_eq!(reading(enhanced, "dcmi/average/7d").value, 172.0);
    assert_eq!(
        reading(enhanced, "dcmi/average/7d").ts.to_rfc3339(),
        "2023-07-22T07:59:58Z"
    );
    assert_eq!(reading(enhanced, "dcmi/maximum/1h").value, 205.0);
    assert_eq!(reading(enhanced, "dcmi/minimum/0s").value, 69.0);
    let hp = capture(&all, "hp-ipmi-dcmi-enhanced.txt");
    assert_eq!(reading(hp, "dcmi/maximum/24h").value, 103.0);
    assert_eq!(reading(hp, "dcmi/average/5m").value, 62.0);
    assert!(
        hp.batch
            .quarantine
            .iter()
            .all(|q| q.excerpt.starts_with("Current Power"))
    );

    let unsupported = capture(&all, "dell-r310-ipmi-dcmi.txt");
    assert!(
        unsupported.batch.without_readings[0]
            .what
            .contains("command invalid or unsupported")
    );
    let no_dcmi = capture(&all, "hp-dl360-g7-ipmitool-dcmi.txt");
    assert!(
        no_dcmi.batch.without_readings[0]
            .what
            .contains("Invalid command: dcmi")
    );
}

#[test]
fn context_entity_and_time_apply() {
    let Some(path) = crate::support::corpus("ingest/ipmitool/supermicro_x9_sensor_list.txt") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let n = Normalizer::builtin();
    let ts = Timestamp::from_secs(1_790_000_000);
    let host = kelvin_model::EntityId::new("rack1-h07").unwrap();
    let ctx = Context::new("x.txt", &n)
        .with_entity(host.clone())
        .with_default_timestamp(ts);
    let mut b = IngestBatch::default();
    ipmi::IpmitoolSensor.decode(&text, &ctx, &mut b);
    assert!(b.readings.iter().all(|r| r.entity == host && r.ts == ts));

    // A DCMI capture's own time wins over the context's; an unset BMC clock does not.
    let dcmi = "Instantaneous power reading: 84 Watts\nIPMI timestamp: Thu Jan  1 00:00:00 1970\n";
    let mut b = IngestBatch::default();
    ipmi::IpmitoolDcmi.decode(dcmi, &ctx, &mut b);
    assert_eq!(b.readings[0].ts, ts);
}

#[test]
fn tight_limits_on_real_captures() {
    let Some(all) = captures() else { return };
    let n = Normalizer::builtin();
    let mut limits = Limits::default();
    limits.max_records = 3;
    let ctx = Context::new("lim.txt", &n).with_limits(limits);
    let sm = capture(&all, "supermicro_x9_sensor_list.txt");
    let mut b = IngestBatch::bounded(&ctx);
    ipmi::IpmitoolSensor.decode(&sm.text, &ctx, &mut b);
    assert_eq!((b.stats.seen, b.stats.accepted), (4, 3));
    assert_eq!(b.quarantine[0].reason, Reason::TooManyRecords);
    assert_eq!(b.quarantine[0].place.to_string(), "lim.txt:4");

    let mut limits = Limits::default();
    limits.max_input_bytes = 100;
    let ctx = Context::new("lim.txt", &n).with_limits(limits);
    for d in ipmi::decoders() {
        let mut b = IngestBatch::default();
        d.decode(&sm.text, &ctx, &mut b);
        assert_eq!(b.stats.seen, 1);
        assert_eq!(b.quarantine[0].reason, Reason::InputTooLarge);
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests: never a panic, counts always balance.

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "CPU1 Temp",
            "Inlet Temp",
            "Temp",
            "FAN1",
            "",
            " ",
            "é✓ß",
            "30h",
            "0x0180",
            "7.1",
            "33.000",
            "-1e309",
            "1e308",
            "NaN",
            "inf",
            "na",
            "N/A",
            "No Reading",
            "Disabled",
            "24 (+/- 0) degrees C",
            "(+/-",
            "degrees C",
            "degrees F",
            "RPM",
            "Watts",
            "percent",
            "discrete",
            "unspecified",
            "C",
            "%",
            "feet",
            "ok",
            "ns",
            "nc",
            "'OK'",
            "'",
            "''",
        ])
        .prop_map(String::from),
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ]
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        // pipe tables of any width
        prop::collection::vec(piece(), 1..12).prop_map(|p| p.join(" | ")),
        // key : value lines of -v and DCMI output
        (
            prop::sample::select(vec![
                "Sensor ID",
                " Sensor Type (Threshold)",
                " Sensor Type (Discrete)",
                " Sensor Reading",
                " Status",
                "Device ID",
                "Current Power",
                "Minimum Power over sampling duration",
                "Instantaneous power reading",
                "Average power reading over sample period",
                "IPMI timestamp",
                "Time Stamp",
                "Power reading state is",
                "Power Measurement",
                "ipmi_cmd_dcmi_x",
            ]),
            prop::sample::select(vec![" : ", ": ", ":"]),
            prop_oneof![
                piece(),
                Just("Inlet Temp (0x4)".to_string()),
                Just("84 Watts".to_string()),
                Just("Thu Jan  1 00:00:00 1970".to_string()),
                Just("02/29/2023 - 99:00:00".to_string()),
                Just("07/25/23 15:38:52 UTC    Sampling period: 1 Seconds.".to_string()),
                Just("deactivated".to_string()),
                Just("Not Available".to_string()),
            ],
        )
            .prop_map(|(k, s, v)| format!("{k}{s}{v}")),
        Just("ID | Name | Type | Reading | Units | Event".to_string()),
        Just("Caching SDR repository information: /x".to_string()),
        Just("Power Statistics for Rolling Average Time Period 5 Minutes".to_string()),
        Just("Invalid command: dcmi".to_string()),
        "\\PC{0,60}",
        Just(String::new()),
    ]
}

fn check_batch(b: &IngestBatch) -> Result<(), TestCaseError> {
    prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    prop_assert_eq!(b.stats.accepted as usize, b.readings.len());
    prop_assert_eq!(b.stats.quarantined as usize, b.quarantine.len());
    for r in &b.readings {
        prop_assert!(!r.sensor.is_empty());
        prop_assert_eq!(r.quality == Quality::Absent, r.value.is_nan());
        prop_assert!(r.value.is_nan() || r.value.is_finite());
    }
    Ok(())
}

proptest! {
    #[test]
    fn ipmi_decoders_never_panic_and_always_balance(
        lines in prop::collection::vec(line(), 0..30),
        eol in prop::sample::select(vec!["\n", "\r\n"]),
        max_records in 1usize..40,
        max_line_bytes in 8usize..200,
    ) {
        let text = lines.join(eol);
        let n = Normalizer::builtin();
        let roomy = Context::new("p.txt", &n);
        let mut limits = Limits::default();
        limits.max_records = max_records;
        limits.max_line_bytes = max_line_bytes;
        let tight = Context::new("p.txt", &n).with_limits(limits);
        for d in ipmi::decoders() {
            let _ = d.detect(&text);
            let mut b = IngestBatch::default();
            d.decode(&text, &roomy, &mut b);
            check_batch(&b)?;
            // Same input, same output.
            let mut again = IngestBatch::default();
            d.decode(&text, &roomy, &mut again);
            prop_assert_eq!(&again.stats, &b.stats);
            // Blank lines are not records.
            let mut spaced = IngestBatch::default();
            d.decode(&format!("\n{}\n\n", lines.join("\n\n")), &roomy, &mut spaced);
            if d.name() != Format::IpmitoolSdrVerbose.as_str() {
                prop_assert_eq!(&spaced.stats, &b.stats);
            }
            let mut t = IngestBatch::bounded(&tight);
            d.decode(&text, &tight, &mut t);
            check_batch(&t)?;
            prop_assert!(t.stats.seen <= max_records as u64 + 1);
        }
    }

    #[test]
    fn arbitrary_text_is_survived(text in "\\PC{0,400}") {
        let n = Normalizer::builtin();
        let ctx = Context::new("a.txt", &n);
        for d in ipmi::decoders() {
            let _ = d.detect(&text);
            let mut b = IngestBatch::default();
            d.decode(&text, &ctx, &mut b);
            check_batch(&b)?;
        }
    }
}

/// Real captures from ipmitool 1.8.19 and FreeIPMI against OpenIPMI's `ipmi_sim` with the
/// tools' own messages in them (`tests/data/ipmi-chatter`, see its README): stderr captured
/// with stdout, `-v`, FreeIPMI's first run filling its SDR cache. Each is detected from its
/// body and decoded with the messages skipped, not quarantined.
#[test]
fn captures_with_tool_messages_are_detected_from_their_body() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ipmi-chatter");
    let cases = [
        (
            "ipmitool-sensor-2to1.txt",
            Format::IpmitoolSensor,
            Some(250.0),
        ),
        (
            "ipmitool-v-sensor.txt",
            Format::IpmitoolSdrVerbose,
            Some(250.0),
        ),
        (
            "ipmitool-v-sdr-list.txt",
            Format::IpmitoolSdrVerbose,
            Some(250.0),
        ),
        (
            "ipmitool-v-sdr-elist.txt",
            Format::IpmitoolSdrVerbose,
            Some(250.0),
        ),
        ("ipmitool-v-dcmi.txt", Format::IpmitoolDcmi, None),
        (
            "freeipmi-sensors-first.txt",
            Format::FreeipmiSensors,
            Some(250.0),
        ),
    ];
    let n = Normalizer::builtin();
    for (file, format, watts) in cases {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        // The first line is the tool talking, not data.
        let first = text.lines().next().unwrap();
        assert!(
            !first.contains('|') && !first.starts_with("Sensor ID"),
            "{file}"
        );
        assert_eq!(kelvin_ingest::detect(&text), Some(format), "{file}");
        let b = kelvin_ingest::decode_str(None, &text, &Context::new(file, &n));
        assert_eq!(b.stats.quarantined, 0, "{file}: {:?}", b.quarantine);
        match watts {
            Some(w) => {
                assert_eq!(b.stats.accepted, 3, "{file}");
                let power = b.readings.iter().find(|r| r.kind == SensorKind::Power);
                assert_eq!(power.map(|r| r.value), Some(w), "{file}");
            }
            // The simulated BMC has no DCMI: the error is noted, nothing else.
            None => {
                assert_eq!(b.stats.accepted, 0, "{file}");
                assert_eq!(
                    b.without_readings.len(),
                    1,
                    "{file}: the DCMI error is noted"
                );
            }
        }
    }
}
