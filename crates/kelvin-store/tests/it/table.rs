//! Flat tables: what is written reads back cell for cell (nulls included) with its schema and
//! metadata, a file is replaced whole, and a table that is not one is refused by name.

use std::fs::File;

use kelvin_store::{
    Cells, FlatTable, ParquetOptions, StoreErrorKind, TableColumn, write_table_file,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

fn column(name: &str, cells: Cells) -> TableColumn {
    TableColumn {
        name: name.into(),
        cells,
    }
}

fn table(rows: usize) -> FlatTable {
    let n = rows as i64;
    FlatTable {
        name: "bills".into(),
        columns: vec![
            column(
                "workload",
                Cells::Text(
                    (0..n)
                        .map(|i| (i % 3 != 0).then(|| format!("w{i}")))
                        .collect(),
                ),
            ),
            column(
                "interval_start",
                Cells::TimestampNs(
                    (0..n)
                        .map(|i| Some(1_796_600_000_000_000_000 + i))
                        .collect(),
                ),
            ),
            column(
                "energy_uj",
                Cells::Int((0..n).map(|i| Some(i * 1_000_003)).collect()),
            ),
            column(
                "lo_j",
                Cells::Float(
                    (0..n)
                        .map(|i| (i % 2 == 0).then_some(i as f64 / 4.0))
                        .collect(),
                ),
            ),
        ],
        metadata: vec![("kelvin.table".into(), "bills".into())],
    }
}

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-table-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_table_reads_back_cell_for_cell_with_nulls_schema_and_metadata() {
    let d = dir("roundtrip");
    let path = d.join("site=a/date=2026-12-07/part-0.parquet");
    let opts = ParquetOptions::default().with_row_group_rows(4);
    let s = write_table_file(&path, &table(10), &opts).unwrap();
    assert_eq!((s.rows, s.row_groups), (10, 3));
    assert_eq!(s.bytes, std::fs::metadata(&path).unwrap().len());
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata().file_metadata();
    let kv = meta.key_value_metadata().unwrap();
    assert!(
        kv.iter()
            .any(|e| e.key == "kelvin.table" && e.value.as_deref() == Some("bills"))
    );
    let names: Vec<&str> = meta
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(names, ["workload", "interval_start", "energy_uj", "lo_j"]);
    let rows: Vec<Vec<Field>> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| {
            r.unwrap()
                .get_column_iter()
                .map(|(_, f)| f.clone())
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 10);
    for (i, row) in rows.iter().enumerate() {
        let want_w = if i % 3 == 0 {
            Field::Null
        } else {
            Field::Str(format!("w{i}"))
        };
        assert_eq!(row[0], want_w);
        assert_eq!(row[1], Field::Long(1_796_600_000_000_000_000 + i as i64));
        assert_eq!(row[2], Field::Long(i as i64 * 1_000_003));
        let want_lo = if i % 2 == 0 {
            Field::Double(i as f64 / 4.0)
        } else {
            Field::Null
        };
        assert_eq!(row[3], want_lo);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_file_is_replaced_whole_and_leaves_no_temporary() {
    let d = dir("replace");
    let path = d.join("part-0.parquet");
    let opts = ParquetOptions::default();
    write_table_file(&path, &table(50), &opts).unwrap();
    write_table_file(&path, &table(7), &opts).unwrap();
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 7);
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["part-0.parquet"]);
    // A refused table leaves the file as it was.
    let mut bad = table(3);
    bad.columns[2].cells = Cells::Int(vec![Some(1)]);
    let e = write_table_file(&path, &bad, &opts).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput);
    assert!(
        e.reason()
            .contains("\"energy_uj\" has 1 cells, the table 3 rows"),
        "{e}"
    );
    let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 7);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn names_that_are_not_names_are_refused() {
    let d = dir("names");
    let opts = ParquetOptions::default();
    for (edit, why) in [
        (0usize, "is not a name"),
        (1, "appears twice"),
        (2, "table name"),
        (3, "index 2 past its 2 values"),
    ] {
        let mut t = table(2);
        match edit {
            0 => t.columns[0].name = "work load; x".into(),
            1 => t.columns[1].name = "workload".into(),
            3 => {
                t.columns[0].cells =
                    Cells::Dict(vec!["a".into(), "b".into()], vec![Some(1), Some(2)])
            }
            _ => t.name = "1bills".into(),
        }
        let e = write_table_file(&d.join("p.parquet"), &t, &opts).unwrap_err();
        assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
        assert!(e.reason().contains(why), "{e}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

proptest::proptest! {
    /// Any table of nullable text, integers and finite doubles reads back cell for cell, in
    /// any row-group size.
    #[test]
    fn any_table_round_trips(
        rows in proptest::collection::vec(
            (
                proptest::option::of("[a-z0-9 ]{0,12}"),
                proptest::option::of(proptest::num::i64::ANY),
                proptest::option::of(-1e12f64..1e12),
            ),
            0..60,
        ),
        group in 1usize..20,
    ) {
        let t = FlatTable {
            name: "t".into(),
            columns: vec![
                column("s", Cells::Text(rows.iter().map(|r| r.0.clone()).collect())),
                column("i", Cells::Int(rows.iter().map(|r| r.1).collect())),
                column("f", Cells::Float(rows.iter().map(|r| r.2).collect())),
                column(
                    "d",
                    Cells::Dict(
                        vec!["even".into(), "odd".into()],
                        rows.iter().map(|r| r.1.map(|i| (i & 1) as u32)).collect(),
                    ),
                ),
            ],
            metadata: Vec::new(),
        };
        let mut bytes = Vec::new();
        let opts = ParquetOptions::default().with_row_group_rows(group);
        let s = kelvin_store::write_table(&mut bytes, &t, &opts).unwrap();
        proptest::prop_assert_eq!(s.rows, rows.len() as u64);
        let reader = SerializedFileReader::new(crate::parquet::bytes_of(bytes)).unwrap();
        let back: Vec<Vec<Field>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap().get_column_iter().map(|(_, f)| f.clone()).collect())
            .collect();
        proptest::prop_assert_eq!(back.len(), rows.len());
        for (got, want) in back.iter().zip(&rows) {
            let s = want.0.clone().map_or(Field::Null, Field::Str);
            let i = want.1.map_or(Field::Null, Field::Long);
            let f = want.2.map_or(Field::Null, Field::Double);
            let d = want.1.map_or(Field::Null, |i| {
                Field::Str(if i & 1 == 0 { "even" } else { "odd" }.into())
            });
            proptest::prop_assert_eq!(got, &vec![s, i, f, d]);
        }
    }
}
