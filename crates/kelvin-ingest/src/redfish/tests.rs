//! Each resource type with a small hand-written document, then trees on disk.

use std::path::{Path, PathBuf};

use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};

use super::{Redfish, decode_tree};
use crate::{Context, Decode, IngestBatch, Limits, Normalizer, Reason};

fn decode_with(json: &str, ctx: &Context<'_>) -> IngestBatch {
    let mut b = IngestBatch::default();
    Redfish.decode(json, ctx, &mut b);
    let s = &b.stats;
    assert_eq!(s.seen, s.accepted + s.quarantined, "counts balance");
    assert_eq!(s.accepted as usize, b.readings.len());
    assert_eq!(s.quarantined as usize, b.quarantine.len());
    b
}

fn decode(json: &str) -> IngestBatch {
    let n = Normalizer::builtin();
    decode_with(json, &Context::new("doc.json", &n))
}

fn reading<'b>(b: &'b IngestBatch, sensor: &str, kind: SensorKind) -> &'b Reading {
    b.readings
        .iter()
        .find(|r| r.sensor == sensor && r.kind == kind)
        .unwrap_or_else(|| {
            let names: Vec<_> = b.readings.iter().map(|r| (&r.sensor, r.kind)).collect();
            panic!("no {kind} reading {sensor:?} in {names:?}")
        })
}

fn reasons(b: &IngestBatch) -> Vec<(String, Reason)> {
    b.quarantine
        .iter()
        .map(|q| {
            let p = match &q.place {
                kelvin_model::Place::JsonPointer { pointer, .. } => pointer.clone(),
                other => other.to_string(),
            };
            (p, q.reason)
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn legacy_thermal() {
    let b = decode(
        r##"{
        "@odata.id": "/redfish/v1/Chassis/1U/Thermal",
        "@odata.type": "#Thermal.v1_7_3.Thermal",
        "Temperatures": [
            {"MemberId": "0", "Name": "CPU1 Temp", "ReadingCelsius": 41,
             "Status": {"State": "Enabled", "Health": "Warning"}},
            {"MemberId": "1", "Name": "CPU2 Temp", "Status": {"State": "Disabled"}},
            {"MemberId": "2", "Name": "Chassis Intake Temp", "PhysicalContext": "Intake",
             "ReadingCelsius": 25, "Status": {"State": "Enabled", "Health": "OK"}},
            {"MemberId": "3", "Name": "DIMM Temp", "ReadingCelsius": null},
            {"MemberId": "4", "Name": "DIMM Temp", "ReadingCelsius": 30.5},
            {"MemberId": "5", "Name": "Board Temp", "ReadingCelsius": "hot"},
            7
        ],
        "Fans": [
            {"MemberId": "0", "Name": "Fan1", "Reading": 2100, "ReadingUnits": "RPM"},
            {"MemberId": "1", "Name": "Fan2", "Reading": 23, "ReadingUnits": "Percent"},
            {"MemberId": "2", "FanName": "Fan3", "ReadingRPM": 900},
            {"FanName": "Fan 4", "CurrentReading": 17, "Units": "Percent"},
            {"MemberId": "4", "Name": "Fan5", "Reading": 5, "ReadingUnits": "Furlongs"}
        ]
    }"##,
    );
    let e = EntityId::new("1U").unwrap();
    let t = SensorKind::Temperature;
    let cpu1 = reading(&b, "CPU1 Temp", t);
    assert_eq!((&cpu1.entity, cpu1.value), (&e, 41.0));
    assert_eq!(cpu1.quality, Quality::Warning);
    assert_eq!(cpu1.status.as_deref(), Some("Enabled/Warning"));
    assert_eq!(cpu1.ts, Timestamp::UNKNOWN);
    let cpu2 = reading(&b, "CPU2 Temp", t);
    assert!(cpu2.value.is_nan() && cpu2.quality == Quality::Absent);
    assert_eq!(cpu2.status.as_deref(), Some("Disabled"));
    // not in the table, but at the intake: the inlet
    assert_eq!(reading(&b, "inlet", t).value, 25.0);
    // repeated names get #MemberId, every one of them; null is absent, not zero
    assert_eq!(reading(&b, "DIMM Temp#3", t).quality, Quality::Absent);
    assert_eq!(reading(&b, "DIMM Temp#4", t).value, 30.5);
    assert_eq!(reading(&b, "Fan1", SensorKind::FanSpeed).value, 2100.0);
    assert_eq!(reading(&b, "Fan2", SensorKind::FanDuty).value, 23.0);
    assert_eq!(reading(&b, "Fan3", SensorKind::FanSpeed).value, 900.0);
    assert_eq!(reading(&b, "Fan 4", SensorKind::FanDuty).value, 17.0);
    assert_eq!(
        reasons(&b),
        [
            (
                "/Temperatures/5/ReadingCelsius".to_string(),
                Reason::BadValue
            ),
            ("/Temperatures/6".to_string(), Reason::BadField),
            ("/Fans/4/Reading".to_string(), Reason::UnmappedSensor),
        ]
    );
    assert_eq!(b.stats.seen, 12);
}

#[test]
fn legacy_power() {
    let b = decode(
        r##"{
        "@odata.id": "/redfish/v1/Chassis/System.Embedded.1/Power",
        "@odata.type": "#Power.v1_5_0.Power",
        "PowerControl": [{
            "MemberId": "PowerControl", "Name": "System Power Control",
            "PowerConsumedWatts": 429, "PowerCapacityWatts": 1100,
            "PowerMetrics": {"AverageConsumedWatts": 426, "MinConsumedWatts": 425,
                             "MaxConsumedWatts": 436, "IntervalInMin": 1}
        }],
        "PowerSupplies": [
            {"MemberId": "0", "Name": "PSU", "PowerInputWatts": 900, "LastPowerOutputWatts": null,
             "LineInputVoltage": 206, "Status": {"State": "Enabled", "Health": "OK"}},
            {"MemberId": "1", "Name": "PSU", "PowerOutputWatts": 90,
             "Status": {"State": "Absent"}}
        ],
        "Voltages": [{"MemberId": "0", "Name": "VRM1 Voltage", "ReadingVolts": 12}]
    }"##,
    );
    let p = SensorKind::Power;
    // a lone PowerControl is the system input power
    let input = reading(&b, "input", p);
    assert_eq!(
        (input.entity.as_str(), input.value),
        ("System.Embedded.1", 429.0)
    );
    assert_eq!(reading(&b, "input/AverageConsumedWatts", p).value, 426.0);
    assert_eq!(reading(&b, "input/MinConsumedWatts", p).value, 425.0);
    assert_eq!(reading(&b, "input/MaxConsumedWatts", p).value, 436.0);
    assert_eq!(reading(&b, "PSU#0/PowerInputWatts", p).value, 900.0);
    assert!(reading(&b, "PSU#0/LastPowerOutputWatts", p).value.is_nan());
    assert_eq!(
        reading(&b, "PSU#0/LineInputVoltage", SensorKind::Voltage).value,
        206.0
    );
    let absent = reading(&b, "PSU#1/PowerOutputWatts", p);
    assert_eq!(absent.quality, Quality::Absent);
    assert_eq!(reading(&b, "VRM1 Voltage", SensorKind::Voltage).value, 12.0);
    assert_eq!(b.stats.seen, 9);
    assert!(b.quarantine.is_empty());

    // several PowerControls keep their names
    let b = decode(
        r##"{"@odata.type": "#Power.v1_0_0.Power", "@odata.id": "/redfish/v1/Chassis/A/Power",
            "PowerControl": [{"Name": "CPU Power", "PowerConsumedWatts": 90},
                             {"Name": "System Power", "PowerConsumedWatts": 300}]}"##,
    );
    assert_eq!(reading(&b, "CPU Power", p).value, 90.0);
    assert_eq!(reading(&b, "input", p).value, 300.0);
}

#[test]
fn sensor_resources() {
    let b = decode(
        r##"{"@odata.type": "#Sensor.v1_12_0.Sensor", "Id": "PS1Energy",
            "@odata.id": "/redfish/v1/Chassis/1U/Sensors/PS1Energy",
            "Name": "Power Supply #1 Energy", "ReadingType": "EnergykWh",
            "Reading": 2.5, "ReadingUnits": "kW.h", "ReadingTime": "2019-08-13T04:14:33+06:00",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Thresholds": {"UpperCritical": {"Reading": 9999}}}"##,
    );
    let r = reading(&b, "PS1Energy", SensorKind::Energy);
    assert_eq!((r.entity.as_str(), r.value), ("1U", 9.0e6));
    assert_eq!(r.ts.to_rfc3339(), "2019-08-12T22:14:33Z");
    assert_eq!(b.stats.seen, 1, "thresholds are not readings");

    // a fan's SpeedRPM is a second record; a canonical name wins over the id
    let b = decode(
        r##"{"@odata.type": "#Sensor.v1_12_0.Sensor", "Id": "CPUFan1",
            "@odata.id": "/redfish/v1/Chassis/1U/Sensors/CPUFan1", "Name": "CPU #1 Fan Speed",
            "Reading": 45, "SpeedRPM": 1490, "ReadingType": "Percent", "ReadingUnits": "%"}"##,
    );
    assert_eq!(reading(&b, "CPUFan1", SensorKind::FanDuty).value, 45.0);
    assert_eq!(reading(&b, "CPUFan1", SensorKind::FanSpeed).value, 1490.0);
    let b = decode(
        r##"{"@odata.type": "#Sensor.v1_0_0.Sensor", "Id": "Temp9", "Name": "Inlet Temp",
            "@odata.id": "/redfish/v1/Chassis/1U/Sensors/Temp9", "Reading": 77,
            "ReadingUnits": "[degF]", "ReadingType": "Temperature"}"##,
    );
    assert!(close(
        reading(&b, "inlet", SensorKind::Temperature).value,
        25.0
    ));

    // absent, unmapped, contradicting unit, bad time, bad value
    let cases = [
        (
            r##"{"Reading": null, "ReadingType": "Power", "Status": {"State": "Absent"}}"##,
            None,
        ),
        (
            r##"{"Reading": 2.5, "ReadingType": "Heat", "ReadingUnits": "kW"}"##,
            Some(Reason::UnmappedSensor),
        ),
        (
            r##"{"Reading": 60, "ReadingType": "Temperature", "ReadingUnits": "W"}"##,
            Some(Reason::BadUnit),
        ),
        (
            r##"{"Reading": 6, "ReadingType": "Power", "ReadingTime": "yesterday"}"##,
            Some(Reason::BadTimestamp),
        ),
        (
            r##"{"Reading": "6", "ReadingType": "Power"}"##,
            Some(Reason::BadValue),
        ),
    ];
    for (body, want) in cases {
        let json = format!(
            r##"{{"@odata.type": "#Sensor.v1_0_0.Sensor", "@odata.id": "/redfish/v1/Chassis/C/Sensors/S", {}"##,
            &body[1..]
        );
        let b = decode(&json);
        assert_eq!(b.stats.seen, 1, "{body}");
        match want {
            None => assert_eq!(b.readings[0].quality, Quality::Absent),
            Some(reason) => {
                assert_eq!(b.quarantine[0].reason, reason, "{body}");
                assert_eq!(reasons(&b)[0].0, "/Reading");
            }
        }
    }
}

#[test]
fn expanded_collections_and_resources_without_readings() {
    let b = decode(
        r##"{"@odata.type": "#SensorCollection.SensorCollection",
            "@odata.id": "/redfish/v1/Chassis/1U/Sensors",
            "Members": [
              {"@odata.id": "/redfish/v1/Chassis/1U/Sensors/V1", "@odata.type": "#Sensor.v1_0_0.Sensor",
               "Id": "V1", "Reading": 12.1, "ReadingType": "Voltage", "ReadingUnits": "V"},
              {"@odata.id": "/redfish/v1/Chassis/1U/Sensors/A1", "@odata.type": "#Sensor.v1_0_0.Sensor",
               "Id": "A1", "Reading": 3, "ReadingType": "Current", "ReadingUnits": "A"}
            ]}"##,
    );
    assert_eq!(reading(&b, "V1", SensorKind::Voltage).value, 12.1);
    assert_eq!(reasons(&b), []);
    assert_eq!(b.stats.accepted, 2);
    assert!(b.without_readings.is_empty());

    for (json, what) in [
        (
            r##"{"@odata.type": "#ServiceRoot.v1_20_0.ServiceRoot", "@odata.id": "/redfish/v1/"}"##,
            "Redfish ServiceRoot",
        ),
        (
            r##"{"@odata.type": "#ChassisCollection.ChassisCollection",
                "Members": [{"@odata.id": "/redfish/v1/Chassis/1U"}]}"##,
            "Redfish ChassisCollection",
        ),
        (
            r##"{"@odata.type": "#MetricDefinition.v1_3_5.MetricDefinition", "Units": "Cel",
                "MetricProperties": ["/redfish/v1/Chassis/1/Thermal#/Temperatures/0/ReadingCelsius"]}"##,
            "Redfish MetricDefinition",
        ),
        (
            r##"{"@odata.type": "#Triggers.v1_0_0.Triggers",
                "NumericThresholds": {"UpperCritical": {"Reading": 50}}}"##,
            "Redfish Triggers",
        ),
        (
            r##"{"ChassisType": "RackMount", "Status": {"State": "Enabled"}}"##,
            "Redfish resource",
        ),
        (
            r##"{"$schema": "http://json-schema.org/draft-07/schema#", "title": "Thermal"}"##,
            "JSON schema",
        ),
    ] {
        let b = decode(json);
        assert_eq!(b.stats.seen, 0, "{json}");
        assert_eq!(b.without_readings.len(), 1, "{json}");
        assert_eq!(b.without_readings[0].what, what);
    }

    // not Redfish at all: one BadField record
    for json in [r#"{"a": 1}"#, "[1, 2]", "42", "null"] {
        let b = decode(json);
        assert_eq!(reasons(&b), [(String::new(), Reason::BadField)], "{json}");
    }
}

#[test]
fn excerpts_in_power_equipment() {
    let b = decode(
        r##"{"@odata.type": "#Outlet.v1_4_4.Outlet", "Id": "A1",
            "@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A1",
            "Status": {"Health": "OK", "State": "Enabled"},
            "RatedCurrentAmps": 20,
            "Voltage": {"DataSourceUri": "/redfish/v1/Chassis/PDU/Sensors/VoltageA1", "Reading": 117.5},
            "PolyPhaseVoltage": {"Line1ToNeutral": {
                "DataSourceUri": "/redfish/v1/Chassis/PDU/Sensors/VoltageA1", "Reading": 117.5}},
            "CurrentAmps": {"Reading": 1.68},
            "PowerWatts": {"Reading": 197.4, "ApparentVA": 197.4, "PowerFactor": 0.99},
            "FrequencyHz": {"Reading": 60.1},
            "EnergykWh": {"Reading": 36166},
            "Oem": {"Contoso": {"PowerWatts": {"Reading": 1}}},
            "Actions": {"#Outlet.PowerControl": {"target": "/x"}}}"##,
    );
    let pdu = EntityId::new("RackPDUs-1").unwrap();
    let power = reading(&b, "Outlets/A1/PowerWatts", SensorKind::Power);
    assert_eq!((&power.entity, power.value), (&pdu, 197.4));
    assert_eq!(power.status.as_deref(), Some("Enabled/OK"));
    assert_eq!(
        reading(&b, "Outlets/A1/EnergykWh", SensorKind::Energy).value,
        36166.0 * 3.6e6
    );
    assert_eq!(
        reading(&b, "Outlets/A1/Voltage", SensorKind::Voltage).value,
        117.5
    );
    assert_eq!(
        reading(&b, "Outlets/A1/FrequencyHz", SensorKind::Frequency).value,
        60.1
    );
    // the same DataSourceUri twice in one resource: the shorter pointer is kept
    assert_eq!(
        reasons(&b),
        [(
            "/PolyPhaseVoltage/Line1ToNeutral/Reading".to_string(),
            Reason::Duplicate
        ),]
    );
    assert_eq!(b.stats.seen, 6, "ratings, Oem and actions are not readings");
}

#[test]
fn excerpts_in_cooling_and_environment() {
    let b = decode(
        r##"{"@odata.type": "#CoolantConnector.v1_3_0.CoolantConnector",
            "@odata.id": "/redfish/v1/ThermalEquipment/CDUs/1/PrimaryCoolantConnectors/1",
            "RatedFlowLitersPerMinute": 50,
            "FlowLitersPerMinute": {"Reading": 42},
            "SupplyTemperatureCelsius": {"Reading": 30},
            "DeltaPressurekPa": {"Reading": 138},
            "HeatRemovedkW": {"Reading": 25.48}}"##,
    );
    let flow = reading(
        &b,
        "PrimaryCoolantConnectors/1/FlowLitersPerMinute",
        SensorKind::Airflow,
    );
    assert_eq!(flow.entity.as_str(), "CDUs-1");
    assert!(close(flow.value, 42.0 / 60_000.0));
    assert_eq!(
        reading(
            &b,
            "PrimaryCoolantConnectors/1/DeltaPressurekPa",
            SensorKind::Pressure
        )
        .value,
        138_000.0
    );
    assert_eq!(
        reasons(&b),
        [("/HeatRemovedkW/Reading".to_string(), Reason::UnmappedSensor)]
    );

    let b = decode(
        r##"{"@odata.type": "#Pump.v1_2_0.Pump", "@odata.id": "/redfish/v1/ThermalEquipment/CDUs/1/Pumps/2",
            "Status": {"State": "UnavailableOffline", "Health": "Critical"},
            "PumpSpeedPercent": {"Reading": 38.5}, "SpeedControlPercent": {"SetPoint": 45}}"##,
    );
    let pump = reading(&b, "Pumps/2/PumpSpeedPercent", SensorKind::FanDuty);
    assert_eq!(pump.quality, Quality::Absent);
    assert_eq!(pump.status.as_deref(), Some("UnavailableOffline/Critical"));

    let b = decode(
        r##"{"@odata.type": "#ThermalMetrics.v1_3_1.ThermalMetrics",
            "@odata.id": "/redfish/v1/Chassis/1/ThermalSubsystem/ThermalMetrics",
            "TemperatureReadingsCelsius": [
                {"DeviceName": "01-Inlet Ambient", "PhysicalContext": "Intake", "Reading": 19},
                {"DeviceName": "02-CPU 1 PkgTmp", "Reading": 42}],
            "TemperatureSummaryCelsius": {"Exhaust": {"Reading": 35}, "Internal": {"Reading": 40}}}"##,
    );
    let t = SensorKind::Temperature;
    assert_eq!(reading(&b, "inlet", t).value, 19.0);
    assert_eq!(reading(&b, "02-CPU 1 PkgTmp", t).value, 42.0);
    assert_eq!(reading(&b, "exhaust", t).value, 35.0);
    assert_eq!(
        reading(&b, "TemperatureSummaryCelsius/Internal", t).value,
        40.0
    );

    let b = decode(
        r##"{"@odata.type": "#EnvironmentMetrics.v1_5_0.EnvironmentMetrics",
            "@odata.id": "/redfish/v1/Systems/S1/Processors/CPU1/EnvironmentMetrics",
            "TemperatureCelsius": {"Reading": 44}, "PowerWatts": {"Reading": null},
            "HumidityPercent": {"Reading": 26},
            "PowerLimitWatts": {"SetPoint": 500},
            "FanSpeedsPercent": [{"DeviceName": "CPU Fan", "Reading": 80, "SpeedRPM": 3000}]}"##,
    );
    assert_eq!(
        reading(&b, "Processors/CPU1/TemperatureCelsius", t)
            .entity
            .as_str(),
        "S1"
    );
    assert!(!reading(&b, "Processors/CPU1/PowerWatts", SensorKind::Power).is_usable());
    assert_eq!(
        reading(&b, "Processors/CPU1/HumidityPercent", SensorKind::Humidity).value,
        26.0
    );
    assert_eq!(
        reading(&b, "Processors/CPU1/CPU Fan", SensorKind::FanSpeed).value,
        3000.0
    );
    assert_eq!(b.stats.seen, 5);

    // a Control's Sensor excerpt takes its kind from ControlType
    let b = decode(
        r##"{"@odata.type": "#Control.v1_7_0.Control", "@odata.id": "/redfish/v1/Chassis/1U/Controls/PowerLimit",
            "ControlType": "Power", "SetPoint": 500,
            "Sensor": {"Reading": 374, "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/TotalPower"}}"##,
    );
    assert_eq!(
        reading(&b, "Controls/PowerLimit/Sensor", SensorKind::Power).value,
        374.0
    );
}

#[test]
fn metric_reports() {
    let b = decode(
        r##"{"@odata.type": "#MetricReport.v1_5_2.MetricReport",
            "@odata.id": "/redfish/v1/TelemetryService/MetricReports/R",
            "Timestamp": "2016-11-08T12:25:00-05:00",
            "MetricValues": [
              {"MetricId": "AverageConsumedWatts", "MetricValue": "44.0",
               "Timestamp": "2016-07-25T11:27:59.795513984+02:00",
               "MetricProperty": "/redfish/v1/Chassis/Tray_1/Power#/PowerControl/0/PowerMetrics/AverageConsumedWatts"},
              {"MetricValue": "23.5",
               "MetricProperty": "/redfish/v1/Chassis/1/Sensors/Temp1#/Reading"},
              {"MetricValue": "23.5",
               "MetricProperty": "/redfish/v1/Chassis/1/Sensors/Temp1#/Reading",
               "Timestamp": "2016-11-08T12:26:00-05:00"},
              {"MetricId": "Memory_BlocksRead", "MetricValue": "7"},
              {"MetricId": "FanSpeed", "MetricValue": "N/A"},
              {"MetricId": "FanSpeed", "MetricValue": "fast"},
              {"MetricId": "FanSpeed", "MetricValue": "NaN"},
              {"MetricId": "FanSpeed", "MetricValue": "1e999"},
              {"MetricId": "FanSpeed", "MetricValue": 1200, "Timestamp": "2016-11-08"}
            ]}"##,
    );
    let p = reading(
        &b,
        "Power/PowerControl/0/PowerMetrics/AverageConsumedWatts",
        SensorKind::Power,
    );
    assert_eq!((p.entity.as_str(), p.value), ("Tray_1", 44.0));
    assert_eq!(p.ts.as_nanos(), 1_469_438_879_795_513_984);
    // two rows of one series at two times: not renamed
    let temps: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.sensor == "Temp1" && r.kind == SensorKind::Temperature)
        .collect();
    assert_eq!(temps.len(), 2);
    assert_eq!(temps[0].ts.to_rfc3339(), "2016-11-08T17:25:00Z"); // the report's time
    assert_eq!(temps[1].ts.to_rfc3339(), "2016-11-08T17:26:00Z");
    assert_eq!(temps[0].entity.as_str(), "1");
    // N/A is an absent reading; the rest are counted with their reasons
    assert!(!reading(&b, "FanSpeed", SensorKind::FanSpeed).is_usable());
    assert_eq!(
        reasons(&b),
        [
            (
                "/MetricValues/3/MetricValue".to_string(),
                Reason::UnmappedSensor
            ),
            ("/MetricValues/5/MetricValue".to_string(), Reason::BadValue),
            ("/MetricValues/6/MetricValue".to_string(), Reason::BadValue),
            (
                "/MetricValues/7/MetricValue".to_string(),
                Reason::NonFiniteValue
            ),
            (
                "/MetricValues/8/MetricValue".to_string(),
                Reason::BadTimestamp
            ),
        ]
    );
    // rows without a MetricProperty belong to the fallback entity
    assert_eq!(
        reading(&b, "FanSpeed", SensorKind::FanSpeed)
            .entity
            .as_str(),
        "doc"
    );
}

#[test]
fn the_context_entity_wins_and_limits_hold() {
    let n = Normalizer::builtin();
    let host = EntityId::new("host-7").unwrap();
    let ctx = Context::new("t.json", &n).with_entity(host.clone());
    let b = decode_with(
        r##"{"@odata.id": "/redfish/v1/Chassis/1/Thermal", "Temperatures": [{"Name": "T", "ReadingCelsius": 20}]}"##,
        &ctx,
    );
    assert_eq!(b.readings[0].entity, host, "shape without @odata.type");

    let ctx = Context::new("t.json", &n).with_limits(Limits {
        max_records: 10,
        ..Limits::default()
    });
    let members: Vec<String> = (0..1000)
        .map(|i| format!(r##"{{"Name": "T{i}", "ReadingCelsius": {i}}}"##))
        .collect();
    let json = format!(
        r##"{{"@odata.type": "#Thermal.v1_0_0.Thermal", "Temperatures": [{}]}}"##,
        members.join(",")
    );
    let b = decode_with(&json, &ctx);
    assert_eq!((b.stats.accepted, b.stats.quarantined), (10, 1));
    assert_eq!(b.quarantine[0].reason, Reason::TooManyRecords);

    let ctx = Context::new("t.json", &n).with_limits(Limits {
        max_json_depth: 8,
        ..Limits::default()
    });
    let deep = format!("{}{}", "[".repeat(9), "]".repeat(9));
    assert_eq!(
        decode_with(&deep, &ctx).quarantine[0].reason,
        Reason::TooDeep
    );
    let b = decode("{\"@odata.type\": \"#Thermal\", \n \"Temperatures\": [,]}");
    assert_eq!(b.quarantine[0].reason, Reason::BadJson);
    assert!(b.quarantine[0].detail.contains("line 2"));
}

#[test]
fn sniffing() {
    assert!(
        Redfish.sniff("\u{feff} {\"@odata.context\": \"/redfish/v1/$metadata#Thermal.Thermal\"")
    );
    assert!(Redfish.sniff("{\n  \"@odata.type\": \"#Sensor.v1_0_0.Sensor\""));
    assert!(Redfish.sniff("}\n{\"@odata.id\": \"/redfish/v1/Chassis/1\""));
    assert!(!Redfish.sniff("{\"a\": 1}"));
    assert!(!Redfish.sniff("x{label=\"\\\"@odata.id\\\"\"} 1"));
    assert!(!Redfish.sniff("# TYPE x gauge\nx 1"));
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "kelvin-redfish-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn trees_deduplicate_across_resources() {
    let dir = TempDir::new("dedupe");
    let sensor = |id: &str, claimed: &str, reading: f64, pc: &str| {
        format!(
            r##"{{"@odata.type": "#Sensor.v1_12_0.Sensor", "Id": "{id}", "Name": "Some sensor",
                "@odata.id": "/redfish/v1/Chassis/1U/Sensors/{claimed}", "Reading": {reading},
                "ReadingType": "Temperature", "ReadingUnits": "Cel", "PhysicalContext": "{pc}"}}"##
        )
    };
    dir.write(
        "Chassis/1U/Sensors/IntakeTemp/index.json",
        sensor("IntakeTemp", "IntakeTemp", 24.8, "Intake").as_bytes(),
    );
    // a copy-pasted @odata.id: the directory is trusted
    dir.write(
        "Chassis/1U/Sensors/CPU2Temp/index.json",
        sensor("CPU1Temp", "CPU1Temp", 50.0, "CPU").as_bytes(),
    );
    dir.write(
        "Chassis/1U/Sensors/CPU1Temp/index.json",
        sensor("CPU1Temp", "CPU1Temp", 44.0, "CPU").as_bytes(),
    );
    dir.write(
        "Chassis/1U/Thermal/index.json",
        br##"{"@odata.type": "#Thermal.v1_7_3.Thermal", "@odata.id": "/redfish/v1/Chassis/1U/Thermal",
             "Temperatures": [{"MemberId": "0", "Name": "Chassis Intake Temp",
                               "PhysicalContext": "Intake", "ReadingCelsius": 25}]}"##,
    );
    dir.write(
        "Chassis/1U/EnvironmentMetrics/index.json",
        br##"{"@odata.type": "#EnvironmentMetrics.v1_5_0.EnvironmentMetrics",
             "@odata.id": "/redfish/v1/Chassis/1U/EnvironmentMetrics",
             "TemperatureCelsius": {"Reading": 44, "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/CPU1Temp"},
             "PowerWatts": {"Reading": 374, "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/TotalPower"}}"##,
    );
    dir.write(
        "Chassis/1U/ThermalSubsystem/ThermalMetrics/index.json",
        br##"{"@odata.type": "#ThermalMetrics.v1_3_2.ThermalMetrics",
             "@odata.id": "/redfish/v1/Chassis/1U/ThermalSubsystem/ThermalMetrics",
             "TemperatureSummaryCelsius": {"Internal": {"Reading": 39,
                 "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/CPU1Temp"}},
             "PowerWatts": {"Reading": 370, "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/TotalPower"}}"##,
    );
    dir.write(
        "TelemetryService/MetricReports/R/index.json",
        br##"{"@odata.type": "#MetricReport.v1_5_2.MetricReport",
             "MetricValues": [{"MetricValue": "25.5", "Timestamp": "2020-01-01T00:00:00Z",
               "MetricProperty": "/redfish/v1/Chassis/1U/Thermal#/Temperatures/0/ReadingCelsius"}]}"##,
    );
    dir.write("README.txt", b"not an input");
    dir.write("broken.json", b"{\"@odata.id\": ");
    dir.write("latin1.json", b"{\"Name\": \"caf\xe9\"}");

    let n = Normalizer::builtin();
    let b = decode_tree(dir.path(), &Context::new("", &n)).unwrap();
    let s = &b.stats;
    assert_eq!(s.seen, s.accepted + s.quarantined);
    let t = SensorKind::Temperature;
    // the Sensor's inlet survives; the legacy one is its duplicate
    let inlets: Vec<_> = b
        .readings
        .iter()
        .filter(|r| r.sensor == "inlet" && !r.ts.is_known())
        .collect();
    assert_eq!(inlets.len(), 1);
    assert_eq!((inlets[0].entity.as_str(), inlets[0].value), ("1U", 24.8));
    assert_eq!(reading(&b, "CPU1Temp", t).value, 44.0);
    assert_eq!(reading(&b, "CPU2Temp", t).value, 50.0);
    // no TotalPower sensor in the tree: the first excerpt (walk order) is kept
    assert_eq!(reading(&b, "PowerWatts", SensorKind::Power).value, 374.0);
    // the report row joins the series of the value its MetricProperty names (the legacy
    // inlet, itself a duplicate of the inlet Sensor)
    let history = b
        .readings
        .iter()
        .find(|r| r.value == 25.5)
        .expect("report row");
    assert_eq!(
        (history.entity.as_str(), history.sensor.as_str()),
        ("1U", "inlet")
    );
    assert_eq!(history.ts.to_rfc3339(), "2020-01-01T00:00:00Z");
    let mut got: Vec<_> = b
        .quarantine
        .iter()
        .map(|q| {
            (
                q.place
                    .to_string()
                    .replace(&*dir.path().to_string_lossy(), ""),
                q.reason,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("/Chassis/1U/EnvironmentMetrics/index.json#/TemperatureCelsius/Reading".to_string(), Reason::Duplicate),
            ("/Chassis/1U/Thermal/index.json#/Temperatures/0/ReadingCelsius".to_string(), Reason::Duplicate),
            ("/Chassis/1U/ThermalSubsystem/ThermalMetrics/index.json#/PowerWatts/Reading".to_string(), Reason::Duplicate),
            ("/Chassis/1U/ThermalSubsystem/ThermalMetrics/index.json#/TemperatureSummaryCelsius/Internal/Reading".to_string(), Reason::Duplicate),
            ("/broken.json:1".to_string(), Reason::BadJson),
            ("/latin1.json#".to_string(), Reason::NotUtf8),
        ]
    );

    // the walk is bounded by max_tree_records files and records
    let ctx = Context::new("dump", &n).with_limits(Limits::default().with_max_tree_records(2));
    let b = decode_tree(dir.path(), &ctx).unwrap();
    let too_many: Vec<_> = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::TooManyRecords)
        .collect();
    assert_eq!(too_many.len(), 1);
    assert!(too_many[0].place.to_string().starts_with("dump/"));

    // a missing root is an error; a file root is decoded alone
    let missing = decode_tree(&dir.path().join("nope"), &Context::new("", &n));
    assert_eq!(missing.unwrap_err().kind(), crate::IngestErrorKind::Io);
    let one = decode_tree(
        &dir.path().join("Chassis/1U/Thermal/index.json"),
        &Context::new("", &n),
    )
    .unwrap();
    assert_eq!(one.stats.accepted, 1);
}

#[cfg(unix)]
#[test]
fn links_and_special_files_in_a_tree_are_counted_not_followed() {
    use std::os::unix::fs::symlink;
    let dir = TempDir::new("links");
    let thermal = br##"{"@odata.type": "#Thermal.v1_7_3.Thermal", "@odata.id": "/redfish/v1/Chassis/1U/Thermal",
        "Temperatures": [{"MemberId": "0", "Name": "Inlet Temp", "ReadingCelsius": 25}]}"##;
    dir.write("Chassis/1U/Thermal/index.json", thermal);
    symlink("/dev/zero", dir.path().join("zero.json")).unwrap();
    symlink(dir.path().join("Chassis"), dir.path().join("again")).unwrap();
    symlink(dir.path().join("nowhere"), dir.path().join("dangling.json")).unwrap();
    let fifo = std::process::Command::new("mkfifo")
        .arg(dir.path().join("pipe.json"))
        .status()
        .is_ok_and(|s| s.success());
    let n = Normalizer::builtin();
    let b = decode_tree(dir.path(), &Context::new("dump", &n)).unwrap();
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert_eq!(b.stats.accepted, 1);
    let mut got: Vec<(String, Reason)> = b
        .quarantine
        .iter()
        .map(|q| (q.place.to_string(), q.reason))
        .collect();
    got.sort();
    let mut want = vec![
        ("dump/again#".to_string(), Reason::Unreadable),
        ("dump/dangling.json#".to_string(), Reason::Unreadable),
        ("dump/zero.json#".to_string(), Reason::Unreadable),
    ];
    if fifo {
        want.push(("dump/pipe.json#".to_string(), Reason::Unreadable));
        want.sort();
    }
    assert_eq!(got, want);
    let zero = b
        .quarantine
        .iter()
        .find(|q| q.place.to_string() == "dump/zero.json#");
    assert!(zero.unwrap().detail.contains("/dev/zero"));
}

#[test]
fn a_tree_is_bounded_by_its_bytes_and_its_output() {
    let dir = TempDir::new("budget");
    let body = |i: usize| {
        format!(
            r##"{{"@odata.type": "#Thermal.v1_7_3.Thermal", "@odata.id": "/redfish/v1/Chassis/{i}/Thermal",
                "Temperatures": [{}]}}"##,
            (0..50)
                .map(|j| format!(r#"{{"MemberId": "{j}", "Name": "T{j}", "ReadingCelsius": 25}}"#))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    for i in 0..10 {
        dir.write(
            &format!("Chassis/{i}/Thermal/index.json"),
            body(i).as_bytes(),
        );
    }
    let n = Normalizer::builtin();
    let len = body(0).len() as u64;
    // room for three files' bytes: the fourth and later are refused, each named
    let ctx = Context::new("dump", &n)
        .with_limits(Limits::default().with_max_tree_bytes(3 * len + len / 2));
    let b = decode_tree(dir.path(), &ctx).unwrap();
    assert_eq!(b.stats.accepted, 150);
    assert_eq!(b.stats.by_reason.get(&Reason::InputTooLarge), Some(&7));
    assert!(
        b.quarantine[0].detail.contains("max_tree_bytes"),
        "{}",
        b.quarantine[0].detail
    );
    // an output budget of about two files' records: the walk stops with one record for the rest
    let ctx =
        Context::new("dump", &n).with_limits(Limits::default().with_max_output_bytes(100 << 10));
    let b = decode_tree(dir.path(), &ctx).unwrap();
    assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    assert!(b.stats.accepted < 500, "{:?}", b.stats);
    assert!(b.kept_bytes() <= 100 << 10);
    let rest = b
        .quarantine
        .iter()
        .filter(|q| q.reason == Reason::TooManyRecords)
        .count();
    assert!((1..=2).contains(&rest), "{:?}", b.quarantine);
}
