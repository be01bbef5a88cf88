//! Kelvin's one Parquet layout (`kelvin_model::layout`, docs/format.md) as the store reads and
//! writes it, on committed files written by both crates:
//!
//! - `tests/data/parquet/series-v2.parquet`: this crate's export of [`realistic_series`];
//! - `tests/data/parquet/series-v1.parquet`, `day-v1.parquet`: the same exported by layout
//!   version 1 (`kelvin-store-series`), before the layout was one;
//! - `../kelvin-ingest/tests/data/parquet/readings-v2.parquet` and `readings-v1.parquet`:
//!   `kelvin-ingest`'s `write_parquet` of a scrape's readings, in this version and the one
//!   before (`ts_ns`, no metadata).
//!
//! Each crate writes its own files (set `KELVIN_WRITE_PARQUET_FIXTURES=1` to rewrite the
//! version 2 ones after a deliberate change of the layout, which also bumps
//! `kelvin_model::layout::VERSION`); the tests here check that the committed export is still
//! what the store writes, that `kelvin-ingest`'s file has exactly the same schema, and what
//! the store makes of every file, good and bad.

use std::path::PathBuf;
use std::sync::Arc;

use kelvin_model::{EntityId, SensorKind, Timestamp, layout};
use kelvin_store::{
    Labels, ParquetImport, ParquetOptions, SeriesData, SeriesKey, SkipReason, StoreErrorKind,
    export_parquet, import_parquet,
};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

const S: i64 = Timestamp::NANOS_PER_SEC;
/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000 * S;

fn key(entity: &str, sensor: &str, kind: SensorKind, labels: &[(&str, &str)]) -> SeriesKey {
    SeriesKey::new(EntityId::new(entity).unwrap(), sensor, kind)
        .with_labels(Labels::from_pairs(labels.iter().copied()))
}

fn at(key: SeriesKey, samples: &[(i64, f64)]) -> SeriesData {
    SeriesData {
        key,
        ts: samples.iter().map(|s| s.0).collect(),
        values: samples.iter().map(|s| s.1).collect(),
    }
}

fn every_15s(
    entity: &str,
    sensor: &str,
    kind: SensorKind,
    labels: &[(&str, &str)],
    values: &[f64],
) -> SeriesData {
    let samples: Vec<(i64, f64)> = (0..)
        .map(|i| T0 + i * 15 * S)
        .zip(values.iter().copied())
        .collect();
    at(key(entity, sensor, kind, labels), &samples)
}

/// A store's export of two hosts and a PDU with per-phase labels, a NaN gap and −0.0 (what
/// the committed `series-*.parquet` files hold).
fn realistic_series() -> Vec<SeriesData> {
    vec![
        every_15s(
            "host-01",
            "psu1",
            SensorKind::Power,
            &[],
            &[212.0, 213.5, 215.0, f64::NAN, 214.5],
        ),
        every_15s(
            "host-01",
            "inlet",
            SensorKind::Temperature,
            &[],
            &[23.5, 23.5, 23.6, 23.7],
        ),
        every_15s(
            "host-02",
            "cpu",
            SensorKind::Utilization,
            &[],
            &[0.42, 0.5, 0.61],
        ),
        every_15s(
            "host-02",
            "rapl-package-0",
            SensorKind::Energy,
            &[],
            &[123_456.789, 125_000.0],
        ),
        every_15s(
            "pdu-7",
            "outlet3",
            SensorKind::Current,
            &[("phase", "L1")],
            &[1.25, 1.5, -0.0],
        ),
        every_15s(
            "pdu-7",
            "outlet3",
            SensorKind::Current,
            &[("phase", "L2"), ("rack", "r12")],
            &[0.75, 0.8],
        ),
    ]
}

fn sorted(mut all: Vec<SeriesData>) -> Vec<SeriesData> {
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all
}

/// Bitwise equality of series lists (values compared as bits, so NaN and −0.0 count).
#[track_caller]
fn assert_same(got: &[SeriesData], want: &[SeriesData]) {
    let keys = |v: &[SeriesData]| v.iter().map(|s| s.key.to_string()).collect::<Vec<_>>();
    assert_eq!(keys(got), keys(want));
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.ts, w.ts, "timestamps of {}", w.key);
        let gb: Vec<u64> = g.values.iter().map(|v| v.to_bits()).collect();
        let wb: Vec<u64> = w.values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(gb, wb, "value bits of {}", w.key);
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

fn export(all: &[SeriesData]) -> Vec<u8> {
    let mut file = Vec::new();
    export_parquet(&mut file, all, &ParquetOptions::default()).unwrap();
    file
}

fn import(file: Vec<u8>, name: &str) -> ParquetImport {
    import_parquet(file, name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A file's schema and Kelvin metadata, one line per column: what must be equal for two
/// files to be in the same layout.
fn describe(file: &[u8]) -> Vec<String> {
    let reader = SerializedFileReader::new(bytes_of(file.to_vec())).unwrap();
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

/// The in-memory form `parquet` reads from.
fn bytes_of(v: Vec<u8>) -> impl parquet::file::reader::ChunkReader + 'static {
    fn as_type_of<T>(_: fn(&mut ByteArray, T), v: T) -> T {
        v
    }
    as_type_of(ByteArray::set_data, v.into())
}

#[test]
fn the_committed_export_is_what_the_store_writes_and_reads_back_bit_for_bit() {
    let fresh = export(&realistic_series());
    let path = fixture("kelvin-store", "series-v2.parquet");
    if std::env::var_os("KELVIN_WRITE_PARQUET_FIXTURES").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = read_fixture("kelvin-store", "series-v2.parquet");
    assert_eq!(
        describe(&committed),
        describe(&fresh),
        "the layout changed: bump kelvin_model::layout::VERSION, keep the old version \
         readable, and rewrite the fixtures with KELVIN_WRITE_PARQUET_FIXTURES=1"
    );
    let back = import(committed, "series-v2.parquet");
    assert_eq!((back.rows, back.skipped), (19, 0));
    assert_same(&back.series, &sorted(realistic_series()));
}

#[test]
fn both_crates_write_one_schema() {
    let store = describe(&export(&realistic_series()));
    let ingest = describe(&read_fixture("kelvin-ingest", "readings-v2.parquet"));
    assert_eq!(store, ingest);
    let names: Vec<&str> = store
        .iter()
        .take(layout::COLUMNS.len())
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(names, layout::COLUMNS);
    assert_eq!(
        store[layout::COLUMNS.len()..],
        [
            "kelvin.format = Some(\"kelvin-readings\")",
            "kelvin.version = Some(\"2\")"
        ]
    );
}

#[test]
fn series_files_of_layout_version_1_read_as_they_were_written() {
    let v1 = read_fixture("kelvin-store", "series-v1.parquet");
    assert!(describe(&v1).contains(&"kelvin.format = Some(\"kelvin-store-series\")".into()));
    let back = import(v1, "series-v1.parquet");
    assert_eq!((back.rows, back.skipped), (19, 0));
    assert_same(&back.series, &sorted(realistic_series()));
}

/// What the store makes of `kelvin-ingest`'s readings (`realistic_readings` in its tests): a
/// series per entity, sensor and kind; the absent reading (row 2, a null value) and the one at
/// an unknown time (row 6, a null `ts`) skipped and reported, their series left empty.
fn ingest_readings_as_series() -> Vec<SeriesData> {
    let t = |s: i64| T0 + s * S;
    sorted(vec![
        at(
            key("host-01", "inlet", SensorKind::Temperature, &[]),
            &[(t(0), 23.5)],
        ),
        at(
            key("host-01", "psu1", SensorKind::Power, &[]),
            &[(t(0), 212.0), (t(15), 214.5)],
        ),
        at(key("host-01", "psu2", SensorKind::Power, &[]), &[]),
        at(
            key("host-01", "fan1", SensorKind::FanSpeed, &[]),
            &[(t(0), 6120.0)],
        ),
        at(
            key("host-02", "inlet", SensorKind::Temperature, &[]),
            &[(t(15), 41.0)],
        ),
        at(
            key("host-02", "psu1", SensorKind::Power, &[]),
            &[(t(15), 230.5)],
        ),
        at(key("host-02", "cpu", SensorKind::Utilization, &[]), &[]),
        at(
            key("host-02", "rapl-package-0", SensorKind::Energy, &[]),
            &[(t(15), 123_456.789)],
        ),
        at(
            key("pdu-7", "outlet3", SensorKind::Current, &[]),
            &[(t(30), 1.25), (t(45), -0.0)],
        ),
    ])
}

#[test]
fn readings_files_of_kelvin_ingest_import_in_both_versions() {
    for name in ["readings-v2.parquet", "readings-v1.parquet"] {
        let back = import(read_fixture("kelvin-ingest", name), name);
        assert_eq!((back.rows, back.skipped), (11, 2), "{name}");
        let skipped: Vec<(u64, SkipReason)> = back
            .first_skipped
            .iter()
            .map(|s| (s.row, s.reason))
            .collect();
        assert_eq!(
            skipped,
            [(2, SkipReason::NullValue), (6, SkipReason::NullTimestamp)],
            "{name}"
        );
        assert_same(&back.series, &ingest_readings_as_series());
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

fn defs_and_values<T: Clone>(rows: &[Option<T>]) -> (Vec<i16>, Vec<T>) {
    (
        rows.iter().map(|r| i16::from(r.is_some())).collect(),
        rows.iter().flatten().cloned().collect(),
    )
}

/// A one-row-group file: `columns` are `(schema line, rows)`, `kv` the key/value metadata.
fn file(columns: &[(&str, Col)], kv: &[(&str, &str)]) -> Vec<u8> {
    let lines: Vec<&str> = columns.iter().map(|c| c.0).collect();
    let schema =
        Arc::new(parse_message_type(&format!("message m {{ {} }}", lines.join(" "))).unwrap());
    let kv = kv
        .iter()
        .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
        .collect();
    let props = Arc::new(
        WriterProperties::builder()
            .set_key_value_metadata(Some(kv))
            .build(),
    );
    let mut out = Vec::new();
    let mut w = SerializedFileWriter::new(&mut out, schema, props).unwrap();
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

fn text(rows: &[Option<&'static str>]) -> Col {
    Col::Text(rows.to_vec())
}

/// Three rows of power and temperature in the layout, written the way a data-frame library
/// writes it (every column OPTIONAL), with `ts` in milliseconds; each of `changes` replaces,
/// adds or drops (with an empty schema line) one column.
fn frame_file(changes: Vec<(&str, &'static str, Col)>, kv: &[(&str, &str)]) -> Vec<u8> {
    let mut cols: Vec<(&str, &'static str, Col)> = vec![
        (
            "ts",
            "OPTIONAL INT64 ts (TIMESTAMP(MILLIS,true));",
            Col::I64(vec![Some(1_700_000_000_000), Some(1_700_000_015_000), None]),
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
            "labels",
            "OPTIONAL BYTE_ARRAY labels (STRING);",
            text(&[Some(r#"{"phase": "L1"}"#), Some(r#"{"phase":"L1"}"#), None]),
        ),
        (
            "unit",
            "OPTIONAL BYTE_ARRAY unit (STRING);",
            text(&[Some("kW"), Some("W"), Some("degF")]),
        ),
        (
            "value",
            "OPTIONAL DOUBLE value;",
            Col::F64(vec![Some(0.35), Some(351.5), Some(95.0)]),
        ),
        (
            "quality",
            "OPTIONAL BYTE_ARRAY quality (STRING);",
            text(&[Some("good"), None, Some("warning")]),
        ),
        (
            "status",
            "OPTIONAL BYTE_ARRAY status (STRING);",
            text(&[None, Some("ok"), None]),
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
fn units_are_converted_labels_parsed_and_quality_and_status_not_kept() {
    let back = import(frame_file(vec![], &[]), "frame.parquet");
    assert_eq!((back.rows, back.skipped), (3, 1));
    let psu = key("h1", "psu", SensorKind::Power, &[("phase", "L1")]);
    let want = sorted(vec![
        // 0.35 kW is 350 W; 351.5 W as it is.
        at(psu, &[(T0, 350.0), (T0 + 15 * S, 351.5)]),
        at(key("h2", "inlet", SensorKind::Temperature, &[]), &[]),
    ]);
    assert_same(&back.series, &want);
}

#[test]
fn a_ts_ns_column_of_layout_version_1_is_the_time() {
    // `ts_ns` as kelvin-ingest wrote it before version 2: plain INT64 nanoseconds.
    let v1 = file(
        &[
            ("OPTIONAL INT64 ts_ns;", Col::I64(vec![Some(T0)])),
            ("REQUIRED BYTE_ARRAY entity (STRING);", text(&[Some("h1")])),
            ("REQUIRED BYTE_ARRAY sensor (STRING);", text(&[Some("psu")])),
            ("REQUIRED BYTE_ARRAY kind (STRING);", text(&[Some("power")])),
            ("OPTIONAL DOUBLE value;", Col::F64(vec![Some(212.0)])),
        ],
        &[],
    );
    let back = import(v1, "v1.parquet");
    assert_same(
        &back.series,
        &[at(key("h1", "psu", SensorKind::Power, &[]), &[(T0, 212.0)])],
    );
}

#[test]
fn bad_files_are_typed_errors() {
    use StoreErrorKind::{InvalidInput, Unsupported};
    let drop = |name: &'static str| vec![(name, "", Col::I64(vec![]))];
    let cases: Vec<(&str, Vec<u8>, StoreErrorKind, &str)> = vec![
        (
            "no entity",
            frame_file(drop("entity"), &[]),
            InvalidInput,
            "no column \"entity\"",
        ),
        (
            "no sensor",
            frame_file(drop("sensor"), &[]),
            InvalidInput,
            "no column \"sensor\"",
        ),
        (
            "no kind",
            frame_file(drop("kind"), &[]),
            InvalidInput,
            "no column \"kind\"",
        ),
        (
            "no value",
            frame_file(drop("value"), &[]),
            InvalidInput,
            "no column \"value\"",
        ),
        (
            "ts and ts_ns",
            frame_file(
                vec![("ts_ns", "OPTIONAL INT64 ts_ns;", Col::I64(vec![Some(1); 3]))],
                &[],
            ),
            InvalidInput,
            "both \"ts\" and \"ts_ns\"",
        ),
        (
            "ts_ns of unknown unit",
            frame_file(
                vec![
                    ("ts", "", Col::I64(vec![])),
                    (
                        "ts_ns",
                        "OPTIONAL INT64 ts_ns (TIME(MICROS,true));",
                        Col::I64(vec![Some(1); 3]),
                    ),
                ],
                &[],
            ),
            InvalidInput,
            "column \"ts_ns\" is INT64 without a TIMESTAMP type",
        ),
        (
            "no time column",
            frame_file(drop("ts"), &[]),
            InvalidInput,
            "no column \"ts\" (nor \"ts_ns\" of version 1;",
        ),
        (
            "quality as INT64",
            frame_file(
                vec![(
                    "quality",
                    "OPTIONAL INT64 quality;",
                    Col::I64(vec![Some(1); 3]),
                )],
                &[],
            ),
            InvalidInput,
            "column \"quality\" has physical type INT64, expected BYTE_ARRAY",
        ),
        (
            "status as DOUBLE",
            frame_file(
                vec![(
                    "status",
                    "OPTIONAL DOUBLE status;",
                    Col::F64(vec![Some(1.0); 3]),
                )],
                &[],
            ),
            InvalidInput,
            "column \"status\" has physical type DOUBLE, expected BYTE_ARRAY",
        ),
        (
            "unit as DOUBLE",
            frame_file(
                vec![(
                    "unit",
                    "OPTIONAL DOUBLE unit;",
                    Col::F64(vec![Some(1.0); 3]),
                )],
                &[],
            ),
            InvalidInput,
            "column \"unit\" has physical type DOUBLE, expected BYTE_ARRAY",
        ),
        (
            "labels as INT64",
            frame_file(
                vec![(
                    "labels",
                    "OPTIONAL INT64 labels;",
                    Col::I64(vec![Some(1); 3]),
                )],
                &[],
            ),
            InvalidInput,
            "column \"labels\" has physical type INT64, expected BYTE_ARRAY",
        ),
        (
            "an unknown unit",
            frame_file(
                vec![(
                    "unit",
                    "OPTIONAL BYTE_ARRAY unit (STRING);",
                    text(&[Some("W"), Some("furlongs"), Some("Cel")]),
                )],
                &[],
            ),
            InvalidInput,
            "row 1 (row group 0), column \"unit\": unknown unit \"furlongs\"",
        ),
        (
            "a unit of another dimension",
            frame_file(
                vec![(
                    "unit",
                    "OPTIONAL BYTE_ARRAY unit (STRING);",
                    text(&[Some("W"), Some("Cel"), Some("Cel")]),
                )],
                &[],
            ),
            InvalidInput,
            "row 1 (row group 0), column \"unit\": unit Cel cannot express power",
        ),
        (
            "a null kind",
            frame_file(
                vec![(
                    "kind",
                    "OPTIONAL BYTE_ARRAY kind (STRING);",
                    text(&[Some("power"), None, Some("temperature")]),
                )],
                &[],
            ),
            InvalidInput,
            "row 1 (row group 0), column \"kind\": null",
        ),
        (
            "nested labels",
            frame_file(
                vec![(
                    "labels",
                    "OPTIONAL BYTE_ARRAY labels (STRING);",
                    text(&[None, Some(r#"{"phase":["L1","L2"]}"#), None]),
                )],
                &[],
            ),
            InvalidInput,
            "row 1 (row group 0), column \"labels\": labels \"{\\\"phase\\\":[\\\"L1\\\",\\\"L2\\\"]}\": \
             the value of \"phase\" is not a string (an array)",
        ),
        (
            "another format",
            frame_file(vec![], &[("kelvin.format", "kelvin-dataset")]),
            InvalidInput,
            "written as \"kelvin-dataset\" (kelvin.format)",
        ),
        (
            "a newer version",
            frame_file(
                vec![],
                &[
                    ("kelvin.format", "kelvin-readings"),
                    ("kelvin.version", "3"),
                ],
            ),
            Unsupported,
            "layout version \"3\" (kelvin.version); this build reads versions 1 to 2",
        ),
    ];
    for (name, file, kind, needle) in cases {
        let e = import_parquet(file, "bad.parquet").unwrap_err();
        assert_eq!(e.kind(), kind, "{name}: {e}");
        assert!(e.reason().starts_with("bad.parquet: "), "{name}: {e}");
        assert!(
            e.reason().contains(needle),
            "{name}: {e:?} lacks {needle:?}"
        );
    }
}
