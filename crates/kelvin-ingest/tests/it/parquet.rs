//! Kelvin's one Parquet layout (`kelvin_model::layout`, docs/format.md) through the
//! `kelvin_parquet` decoder, on committed files written by both crates:
//!
//! - `tests/data/parquet/readings-v2.parquet`: `write_parquet` of [`realistic_readings`];
//! - `tests/data/parquet/readings-v1.parquet`: the same written by layout version 1 (`ts_ns`,
//!   no metadata);
//! - `../kelvin-store/tests/data/parquet/series-v2.parquet` and `series-v1.parquet`:
//!   `kelvin-store`'s export of a few series (labels, a NaN gap, −0.0), in this version and in
//!   the store's layout before it (`kelvin-store-series`).
//!
//! Set `KELVIN_WRITE_PARQUET_FIXTURES=1` to rewrite `readings-v2.parquet` after a deliberate
//! change of the layout (which also bumps `kelvin_model::layout::VERSION`).

use std::path::PathBuf;
use std::sync::Arc;

use kelvin_ingest::parquet::{read_parquet, write_parquet};
use kelvin_ingest::{Context, IngestBatch, Limits, Normalizer, Reason};
use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp, layout};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

const T0: i64 = 1_700_000_000;

fn reading(entity: &str, sensor: &str, kind: SensorKind, value: f64, ts: Timestamp) -> Reading {
    Reading::new(EntityId::new(entity).unwrap(), sensor, kind, value, ts)
}

/// Readings as a scrape of two hosts and a PDU gives them: statuses, qualities, an absent
/// reading, one at an unknown time, −0.0.
fn realistic_readings() -> Vec<Reading> {
    let at = |s: i64| Timestamp::from_secs(T0 + s);
    vec![
        reading("host-01", "inlet", SensorKind::Temperature, 23.5, at(0)).with_status("ok"),
        reading("host-01", "psu1", SensorKind::Power, 212.0, at(0)).with_status("ok"),
        reading("host-01", "psu2", SensorKind::Power, f64::NAN, at(0))
            .with_quality(Quality::Absent)
            .with_status("na"),
        reading("host-01", "fan1", SensorKind::FanSpeed, 6120.0, at(0))
            .with_quality(Quality::Warning)
            .with_status("nc"),
        reading("host-02", "inlet", SensorKind::Temperature, 41.0, at(15))
            .with_quality(Quality::Critical)
            .with_status("cr"),
        reading("host-02", "psu1", SensorKind::Power, 230.5, at(15))
            .with_quality(Quality::Estimated),
        reading(
            "host-02",
            "cpu",
            SensorKind::Utilization,
            0.42,
            Timestamp::UNKNOWN,
        ),
        reading(
            "host-02",
            "rapl-package-0",
            SensorKind::Energy,
            123_456.789,
            at(15),
        ),
        reading("pdu-7", "outlet3", SensorKind::Current, 1.25, at(30)),
        reading("pdu-7", "outlet3", SensorKind::Current, -0.0, at(45)),
        reading("host-01", "psu1", SensorKind::Power, 214.5, at(15)).with_status("ok"),
    ]
}

/// The readings of `kelvin-store`'s committed export (`realistic_series` in its tests), one a
/// row in the export's order (series by key, then time): the NaN sample is an absent reading,
/// the labels are part of the sensor's name.
fn store_export_as_readings() -> Vec<Reading> {
    let mut out = Vec::new();
    let mut series = |entity: &str, sensor: &str, kind: SensorKind, values: &[f64]| {
        for (i, &v) in values.iter().enumerate() {
            let mut r = reading(
                entity,
                sensor,
                kind,
                v,
                Timestamp::from_secs(T0 + 15 * i as i64),
            );
            if v.is_nan() {
                r = r.with_quality(Quality::Absent);
            }
            out.push(r);
        }
    };
    series(
        "host-01",
        "inlet",
        SensorKind::Temperature,
        &[23.5, 23.5, 23.6, 23.7],
    );
    series(
        "host-01",
        "psu1",
        SensorKind::Power,
        &[212.0, 213.5, 215.0, f64::NAN, 214.5],
    );
    series(
        "host-02",
        "cpu",
        SensorKind::Utilization,
        &[0.42, 0.5, 0.61],
    );
    series(
        "host-02",
        "rapl-package-0",
        SensorKind::Energy,
        &[123_456.789, 125_000.0],
    );
    series(
        "pdu-7",
        "outlet3{phase=\"L1\"}",
        SensorKind::Current,
        &[1.25, 1.5, -0.0],
    );
    series(
        "pdu-7",
        "outlet3{phase=\"L2\",rack=\"r12\"}",
        SensorKind::Current,
        &[0.75, 0.8],
    );
    out
}

/// Equality of readings, values compared as bits (NaN and −0.0 count).
#[track_caller]
fn assert_same(got: &[Reading], want: &[Reading]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        let key = |r: &Reading| {
            (
                r.entity.clone(),
                r.sensor.clone(),
                r.kind,
                r.ts,
                r.quality,
                r.status.clone(),
            )
        };
        assert_eq!(key(g), key(w));
        assert_eq!(g.value.to_bits(), w.value.to_bits(), "{g:?}");
    }
}

fn fixture(crate_dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("tests/data/parquet")
        .join(name)
}

fn read_fixture(crate_dir: &str, name: &str) -> Vec<u8> {
    let path = fixture(crate_dir, name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(file: Vec<u8>) -> IngestBatch {
    let n = Normalizer::builtin();
    read_parquet(file, &Context::new("f.parquet", &n))
}

/// A file's schema and Kelvin metadata, one line per column.
fn describe(file: &[u8]) -> Vec<String> {
    let reader = SerializedFileReader::new(bytes::Bytes::from(file.to_vec())).unwrap();
    let meta = reader.metadata().file_metadata();
    let mut out: Vec<String> = meta
        .schema_descr()
        .columns()
        .iter()
        .map(|c| {
            format!(
                "{} {} {:?} {:?} nullable={}",
                c.name(),
                c.physical_type(),
                c.logical_type_ref(),
                c.converted_type(),
                c.max_def_level() > 0
            )
        })
        .collect();
    for kv in meta.key_value_metadata().into_iter().flatten() {
        if kv.key.starts_with("kelvin.") {
            out.push(format!("{} = {:?}", kv.key, kv.value));
        }
    }
    out
}

#[test]
fn the_committed_readings_file_is_what_write_parquet_writes_and_reads_back() {
    let mut fresh = Vec::new();
    write_parquet(&realistic_readings(), &mut fresh).unwrap();
    let path = fixture("kelvin-ingest", "readings-v2.parquet");
    if std::env::var_os("KELVIN_WRITE_PARQUET_FIXTURES").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = read_fixture("kelvin-ingest", "readings-v2.parquet");
    assert_eq!(
        describe(&committed),
        describe(&fresh),
        "the layout changed: bump kelvin_model::layout::VERSION, keep the old version \
         readable, and rewrite the fixtures with KELVIN_WRITE_PARQUET_FIXTURES=1"
    );
    let names: Vec<String> = describe(&fresh)
        .iter()
        .take(layout::COLUMNS.len())
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(names, layout::COLUMNS);
    for file in [committed, fresh] {
        let b = read(file);
        assert_eq!((b.stats.accepted, b.stats.quarantined), (11, 0));
        assert_same(&b.readings, &realistic_readings());
    }
}

#[test]
fn both_crates_write_one_schema() {
    let mut ours = Vec::new();
    write_parquet(&realistic_readings(), &mut ours).unwrap();
    let store = read_fixture("kelvin-store", "series-v2.parquet");
    assert_eq!(describe(&ours), describe(&store));
}

#[test]
fn readings_files_of_layout_version_1_still_read() {
    let v1 = read_fixture("kelvin-ingest", "readings-v1.parquet");
    assert!(describe(&v1)[0].starts_with("ts_ns INT64 None NONE nullable=true"));
    let b = read(v1);
    assert_eq!((b.stats.accepted, b.stats.quarantined), (11, 0));
    assert_same(&b.readings, &realistic_readings());
}

#[test]
fn the_store_export_reads_as_readings_in_both_versions() {
    for name in ["series-v2.parquet", "series-v1.parquet"] {
        let b = read(read_fixture("kelvin-store", name));
        assert_eq!(
            (b.stats.accepted, b.stats.quarantined),
            (19, 0),
            "{name}: {:?}",
            b.quarantine
        );
        assert_same(&b.readings, &store_export_as_readings());
    }
}

// ---------------------------------------------------------------------------------------------
// Files in the layout as other writers make them.

/// One column's rows; `None` is null (the column must then be OPTIONAL in the schema).
enum Col {
    Text(Vec<Option<&'static str>>),
    I64(Vec<Option<i64>>),
    F64(Vec<Option<f64>>),
}

fn text(rows: &[Option<&'static str>]) -> Col {
    Col::Text(rows.to_vec())
}

fn defs_and_values<T: Clone>(rows: &[Option<T>]) -> (Vec<i16>, Vec<T>) {
    (
        rows.iter().map(|r| i16::from(r.is_some())).collect(),
        rows.iter().flatten().cloned().collect(),
    )
}

/// A one-row-group file: `columns` are `(schema line, rows)`, `kv` the key/value metadata.
fn file(columns: &[(&str, Col)], kv: &[(&str, &str)]) -> Vec<u8> {
    let lines: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let schema = parse_message_type(&format!("message m {{ {} }}", lines.join(" "))).unwrap();
    let kv = kv
        .iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
        .collect();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(kv))
        .build();
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props)).unwrap();
    let mut rg = w.next_row_group().unwrap();
    let mut i = 0;
    while let Some(mut c) = rg.next_column().unwrap() {
        let optional = columns[i].0.starts_with("OPTIONAL");
        match &columns[i].1 {
            Col::Text(rows) => {
                let rows: Vec<Option<ByteArray>> =
                    rows.iter().map(|r| r.map(ByteArray::from)).collect();
                let (d, v) = defs_and_values(&rows);
                let d = optional.then_some(d);
                c.typed::<ByteArrayType>()
                    .write_batch(&v, d.as_deref(), None)
                    .unwrap();
            }
            Col::I64(rows) => {
                let (d, v) = defs_and_values(rows);
                let d = optional.then_some(d);
                c.typed::<Int64Type>()
                    .write_batch(&v, d.as_deref(), None)
                    .unwrap();
            }
            Col::F64(rows) => {
                let (d, v) = defs_and_values(rows);
                let d = optional.then_some(d);
                c.typed::<DoubleType>()
                    .write_batch(&v, d.as_deref(), None)
                    .unwrap();
            }
        }
        c.close().unwrap();
        i += 1;
    }
    rg.close().unwrap();
    w.close().unwrap();
    out
}

/// A column of [`frame_file`] replaced, added or dropped: its name, schema line and rows.
type Change = (&'static str, &'static str, Col);

/// Three rows in the layout as a data-frame library writes them (every column OPTIONAL), `ts`
/// in milliseconds, an extra column; each of `changes` replaces, adds or drops (with an empty
/// schema line) one column.
fn frame_file(changes: Vec<Change>, kv: &[(&str, &str)]) -> Vec<u8> {
    let mut cols: Vec<(&str, &'static str, Col)> = vec![
        (
            "ts",
            "OPTIONAL INT64 ts (TIMESTAMP(MILLIS,false));",
            Col::I64(vec![Some(T0 * 1000), Some(T0 * 1000 + 15_000), None]),
        ),
        (
            "entity",
            "OPTIONAL BYTE_ARRAY entity (STRING);",
            text(&[Some("h1"), Some("h1"), Some("h2")]),
        ),
        (
            "sensor",
            "OPTIONAL BYTE_ARRAY sensor (STRING);",
            text(&[Some("psu"), Some("psu"), Some("inlet")]),
        ),
        (
            "kind",
            "OPTIONAL BYTE_ARRAY kind (STRING);",
            text(&[Some("power"), Some("power"), Some("temperature")]),
        ),
        (
            "note",
            "OPTIONAL INT64 note;",
            Col::I64(vec![Some(1), None, Some(3)]),
        ),
        (
            "labels",
            "OPTIONAL BYTE_ARRAY labels (STRING);",
            text(&[Some(r#"{"zone": "b", "phase": "L1"}"#), Some("{}"), None]),
        ),
        (
            "unit",
            "OPTIONAL BYTE_ARRAY unit (STRING);",
            text(&[Some("kW"), None, Some("°F")]),
        ),
        (
            "value",
            "OPTIONAL DOUBLE value;",
            Col::F64(vec![Some(0.35), Some(351.5), None]),
        ),
        (
            "quality",
            "OPTIONAL BYTE_ARRAY quality (STRING);",
            text(&[Some("good"), None, Some("absent")]),
        ),
        (
            "status",
            "OPTIONAL BYTE_ARRAY status (STRING);",
            text(&[None, Some("ok"), Some("na")]),
        ),
    ];
    for (name, line, col) in changes {
        let i = cols.iter().position(|c| c.0 == name);
        match (i, line.is_empty()) {
            (Some(i), true) => {
                cols.remove(i);
            }
            (Some(i), false) => cols[i] = (name, line, col),
            (None, _) => cols.push((name, line, col)),
        }
    }
    let columns: Vec<(&str, Col)> = cols.into_iter().map(|(_, l, c)| (l, c)).collect();
    file(&columns, kv)
}

#[test]
fn data_frame_files_convert_units_and_times_and_fold_labels_into_the_sensor() {
    let b = read(frame_file(vec![], &[]));
    assert_eq!(
        (b.stats.accepted, b.stats.quarantined),
        (3, 0),
        "{:?}",
        b.quarantine
    );
    let t = |s: i64| Timestamp::from_secs(T0 + s);
    let want = [
        reading(
            "h1",
            "psu{phase=\"L1\",zone=\"b\"}",
            SensorKind::Power,
            350.0,
            t(0),
        )
        .with_quality(Quality::Good),
        reading("h1", "psu", SensorKind::Power, 351.5, t(15)).with_status("ok"),
        reading(
            "h2",
            "inlet",
            SensorKind::Temperature,
            f64::NAN,
            Timestamp::UNKNOWN,
        )
        .with_quality(Quality::Absent)
        .with_status("na"),
    ];
    assert_same(&b.readings, &want);
}

#[test]
fn nan_values_are_absent_unless_marked_otherwise_and_infinities_are_refused() {
    let value = |v: f64, quality: Option<&'static str>| {
        vec![
            (
                "value",
                "OPTIONAL DOUBLE value;",
                Col::F64(vec![Some(v); 3]),
            ),
            (
                "quality",
                "OPTIONAL BYTE_ARRAY quality (STRING);",
                text(&[quality; 3]),
            ),
        ]
    };
    for quality in [None, Some("absent"), Some("")] {
        let b = read(frame_file(value(f64::NAN, quality), &[]));
        assert_eq!(b.stats.accepted, 3, "{quality:?}: {:?}", b.quarantine);
        assert!(b.readings.iter().all(|r| r.quality == Quality::Absent));
    }
    for (v, quality) in [
        (f64::NAN, Some("good")),
        (f64::INFINITY, None),
        (f64::NEG_INFINITY, Some("absent")),
    ] {
        let b = read(frame_file(value(v, quality), &[]));
        assert_eq!(b.stats.quarantined, 3, "{v} {quality:?}");
        let reason = if quality == Some("absent") {
            Reason::BadField // an absent reading with a value
        } else {
            Reason::NonFiniteValue
        };
        assert!(
            b.quarantine.iter().all(|q| q.reason == reason),
            "{:?}",
            b.quarantine
        );
    }
}

#[test]
fn a_ts_ns_column_of_layout_version_1_is_nanoseconds() {
    let v1 = file(
        &[
            (
                "OPTIONAL INT64 ts_ns;",
                Col::I64(vec![Some(T0 * 1_000_000_000), None]),
            ),
            (
                "REQUIRED BYTE_ARRAY entity (STRING);",
                text(&[Some("h1"), Some("h1")]),
            ),
            (
                "REQUIRED BYTE_ARRAY sensor (STRING);",
                text(&[Some("psu"), Some("psu")]),
            ),
            (
                "REQUIRED BYTE_ARRAY kind (STRING);",
                text(&[Some("power"), Some("power")]),
            ),
            (
                "OPTIONAL DOUBLE value;",
                Col::F64(vec![Some(212.0), Some(213.0)]),
            ),
        ],
        &[],
    );
    let b = read(v1);
    let want = [
        reading(
            "h1",
            "psu",
            SensorKind::Power,
            212.0,
            Timestamp::from_secs(T0),
        ),
        reading("h1", "psu", SensorKind::Power, 213.0, Timestamp::UNKNOWN),
    ];
    assert_same(&b.readings, &want);
}

/// A file refused whole: one quarantined record, with `reason` and a detail holding `says`.
#[track_caller]
fn refused(file: Vec<u8>, reason: Reason, says: &str) {
    let b = read(file);
    assert_eq!(
        (b.stats.seen, b.stats.quarantined),
        (1, 1),
        "{says}: {:?}",
        b.readings
    );
    let q = &b.quarantine[0];
    assert_eq!(q.reason, reason, "{}", q.detail);
    assert!(q.detail.contains(says), "{:?} lacks {says:?}", q.detail);
    assert_eq!(q.place.to_string(), "f.parquet:1");
}

#[test]
fn files_not_in_the_layout_are_one_quarantined_record() {
    let drop = |name: &'static str| vec![(name, "", Col::I64(vec![]))];
    for name in ["entity", "sensor", "kind", "value"] {
        refused(
            frame_file(drop(name), &[]),
            Reason::BadField,
            &format!("not Kelvin's Parquet layout: no column {name:?}"),
        );
    }
    refused(
        frame_file(drop("ts"), &[]),
        Reason::BadField,
        "no column \"ts\" (nor \"ts_ns\" of version 1;",
    );
    let retyped: [(&str, &'static str, Col, &str); 6] = [
        (
            "value",
            "OPTIONAL INT64 value;",
            Col::I64(vec![Some(1); 3]),
            "column \"value\" has physical type INT64, expected DOUBLE",
        ),
        (
            "entity",
            "OPTIONAL INT64 entity;",
            Col::I64(vec![Some(1); 3]),
            "column \"entity\" has physical type INT64, expected BYTE_ARRAY",
        ),
        (
            "labels",
            "OPTIONAL DOUBLE labels;",
            Col::F64(vec![Some(1.0); 3]),
            "column \"labels\" has physical type DOUBLE",
        ),
        (
            "ts",
            "OPTIONAL INT64 ts;",
            Col::I64(vec![Some(1); 3]),
            "column \"ts\" is INT64 without a TIMESTAMP type",
        ),
        (
            "ts",
            "OPTIONAL DOUBLE ts;",
            Col::F64(vec![Some(1.0); 3]),
            "column \"ts\" has physical type DOUBLE, expected INT64",
        ),
        (
            "ts_ns",
            "OPTIONAL INT64 ts_ns;",
            Col::I64(vec![Some(1); 3]),
            "both \"ts\" and \"ts_ns\"",
        ),
    ];
    for (name, line, col, says) in retyped {
        refused(
            frame_file(vec![(name, line, col)], &[]),
            Reason::BadField,
            says,
        );
    }
    refused(
        frame_file(vec![], &[("kelvin.format", "kelvin-dataset")]),
        Reason::UnknownFormat,
        "written as \"kelvin-dataset\" (kelvin.format)",
    );
    refused(
        frame_file(
            vec![],
            &[
                ("kelvin.format", "kelvin-readings"),
                ("kelvin.version", "3"),
            ],
        ),
        Reason::UnknownFormat,
        "layout version \"3\" (kelvin.version); this build reads versions 1 to 2",
    );
}

#[test]
fn bad_rows_are_quarantined_with_their_row_number() {
    let labels = |cells: [Option<&'static str>; 3]| {
        vec![(
            "labels",
            "OPTIONAL BYTE_ARRAY labels (STRING);",
            text(&cells),
        )]
    };
    let cases: Vec<(Vec<Change>, Reason, &str)> = vec![
        (
            labels([None, Some("phase=L1"), None]),
            Reason::BadLabels,
            "labels \"phase=L1\": expected '{'",
        ),
        (
            labels([None, Some(r#"{"rack": 12}"#), None]),
            Reason::BadLabels,
            "the value of \"rack\" is not a string (a number)",
        ),
        (
            labels([None, Some(r#"{"a": {"b": "c"}}"#), None]),
            Reason::BadLabels,
            "the value of \"a\" is not a string (an object)",
        ),
        (
            vec![(
                "entity",
                "OPTIONAL BYTE_ARRAY entity (STRING);",
                text(&[Some("h1"), None, Some("h2")]),
            )],
            Reason::BadField,
            "no entity column value",
        ),
        (
            vec![(
                "unit",
                "OPTIONAL BYTE_ARRAY unit (STRING);",
                text(&[Some("W"), Some("Cel"), Some("°F")]),
            )],
            Reason::BadUnit,
            "",
        ),
        (
            vec![(
                "ts",
                "OPTIONAL INT64 ts (TIMESTAMP(MILLIS,true));",
                Col::I64(vec![Some(0), Some(i64::MAX / 10), None]),
            )],
            Reason::BadTimestamp,
            "ts 922337203685477580 is beyond the nanosecond range",
        ),
    ];
    for (change, reason, says) in cases {
        let b = read(frame_file(change, &[]));
        assert_eq!(
            (b.stats.accepted, b.stats.quarantined),
            (2, 1),
            "{says}: {:?}",
            b.quarantine
        );
        let q = &b.quarantine[0];
        assert_eq!(
            (q.reason, q.place.to_string()),
            (reason, "f.parquet:2".to_string()),
            "{}",
            q.detail
        );
        assert!(q.detail.contains(says), "{:?} lacks {says:?}", q.detail);
    }
}

#[test]
fn labels_are_bounded_by_max_labels() {
    let many = r#"{"a":"1","b":"2","c":"3"}"#;
    let f = || {
        frame_file(
            vec![(
                "labels",
                "OPTIONAL BYTE_ARRAY labels (STRING);",
                text(&[Some(many), None, None]),
            )],
            &[],
        )
    };
    let n = Normalizer::builtin();
    let ctx = Context::new("f.parquet", &n).with_limits(Limits::default().with_max_labels(2));
    let b = read_parquet(f(), &ctx);
    assert_eq!((b.stats.accepted, b.stats.quarantined), (2, 1));
    assert_eq!(b.quarantine[0].reason, Reason::TooManyLabels);
    assert_eq!(read(f()).readings[0].sensor, "psu{a=\"1\",b=\"2\",c=\"3\"}");
}
