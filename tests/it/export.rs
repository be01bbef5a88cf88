//! The fleet layout: a live engine's readings and closed bills exported as Hive partitions
//! read back exactly (readings through the store's own Parquet import, bills row by row to the
//! book), a second export replaces each file with the same bytes, `since` leaves earlier days
//! alone, and a site that cannot be a partition name is refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use kelvin::export::{BILLS_COLUMNS, ExportOptions, Names, READINGS_COLUMNS, export_bills};
use kelvin::model::Timestamp;
use kelvin::store::import_parquet_file;
use kelvin_replay::RecordedDataset;
use kelvin_replay::live::{FeedOptions, feed, live_engine};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kelvin-export-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn dataset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("datasets")
        .join(name)
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn open(path: &Path) -> SerializedFileReader<File> {
    SerializedFileReader::new(File::open(path).unwrap()).unwrap()
}

/// The names of a Parquet file's columns, in order.
fn columns_of(reader: &SerializedFileReader<File>) -> Vec<String> {
    let schema = reader.metadata().file_metadata().schema_descr();
    schema
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect()
}

#[test]
fn a_live_site_exports_readings_and_bills_that_read_back_exactly() {
    let root = scratch("site");
    let ds = RecordedDataset::open(dataset("edge-small")).unwrap();
    let opts = FeedOptions::default().with_data_dir(root.join("data"));
    let mut engine = live_engine(&ds, &opts).unwrap();
    let book = feed(&ds, &mut engine, &opts).unwrap().json();
    let out = ExportOptions::new(root.join("fleet"), "edge-small");

    // Readings: the store's own import reads each partition back to the stored samples.
    let readings = engine.export_readings(&out).unwrap();
    assert_eq!(readings.len(), 1);
    assert!(
        readings[0]
            .path
            .ends_with("readings/site=edge-small/date=2026-11-02/part-0.parquet")
    );
    let back = import_parquet_file(&readings[0].path).unwrap();
    assert_eq!(back.skipped, 0, "{:?}", back.first_skipped);
    let back = back.into_complete().unwrap();
    let store = engine.store();
    let mut stored = 0;
    for (id, key) in store.series() {
        let want = store.scan(id, i64::MIN, i64::MAX).unwrap();
        let got = back.iter().find(|s| &s.key == key).expect("every series");
        assert_eq!((&got.ts, &got.values), (&want.ts, &want.values), "{key}");
        stored += want.ts.len() as u64;
    }
    assert_eq!(readings[0].rows, stored);
    assert_eq!(columns_of(&open(&readings[0].path)), READINGS_COLUMNS);

    // Bills: one row per line and account of every closed interval, summing to the book.
    let closed = kelvin::read_closed(&root.join("data"), None).unwrap();
    assert_eq!(closed.len() as u64, book["intervals"].as_u64().unwrap());
    let names = Names::of(&engine);
    let bills = export_bills(&closed, engine.interval_ns(), &names, &out).unwrap();
    assert_eq!(bills.len(), 1);
    let reader = open(&bills[0].path);
    assert_eq!(columns_of(&reader), BILLS_COLUMNS);
    let (mut total, mut rows) = (0i64, 0u64);
    let mut per_workload: BTreeMap<String, i64> = BTreeMap::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        let cells: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        let Field::Long(uj) = cells[8] else {
            panic!("energy_uj {:?}", cells[8])
        };
        let Field::Long(end) = cells[1] else { panic!() };
        let Field::Long(start) = cells[0] else {
            panic!()
        };
        assert_eq!(end - start, engine.interval_ns());
        match (cells[5], cells[6], cells[7]) {
            (Field::Str(w), Field::Str(t), Field::Null) => {
                assert_eq!(t, names.tenant(w));
                *per_workload.entry(w.clone()).or_default() += uj;
            }
            (Field::Null, Field::Null, Field::Str(a)) => {
                assert!(
                    ["idle", "system", "unexplained"].contains(&a.as_str()),
                    "{a}"
                )
            }
            other => panic!("a line is a workload's or an account's: {other:?}"),
        }
        total += uj;
        rows += 1;
    }
    assert_eq!(rows, bills[0].rows);
    assert_eq!(total as u64, book["measured_uj"].as_u64().unwrap());
    for (w, uj) in book["workloads"].as_object().unwrap() {
        assert_eq!(
            per_workload.get(w).copied().unwrap_or(0) as u64,
            uj.as_u64().unwrap(),
            "{w}"
        );
    }

    // Exporting again replaces each file with the same bytes and leaves nothing beside them.
    let before: Vec<Vec<u8>> = [&readings[0].path, &bills[0].path]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    engine.export_readings(&out).unwrap();
    export_bills(&closed, engine.interval_ns(), &names, &out).unwrap();
    for (p, b) in [&readings[0].path, &bills[0].path].iter().zip(&before) {
        assert_eq!(&std::fs::read(p).unwrap(), b, "{}", p.display());
    }
    assert_eq!(
        files(&root.join("fleet")),
        [
            "bills/site=edge-small/date=2026-11-02/part-0.parquet",
            "readings/site=edge-small/date=2026-11-02/part-0.parquet"
        ]
    );
    // Days before `since` are not written.
    let later = out
        .clone()
        .since(Timestamp::parse_rfc3339("2026-11-03T00:00:00Z").unwrap());
    assert!(engine.export_readings(&later).unwrap().is_empty());
    assert!(
        export_bills(&closed, engine.interval_ns(), &names, &later)
            .unwrap()
            .is_empty()
    );

    // The facade writes both tables with the same bytes, and from `since`'s day on only.
    let site = engine.export_site(&out).unwrap();
    assert_eq!((&site.readings, &site.bills), (&readings, &bills));
    assert_eq!(site.bill_rows(), rows);
    for (p, b) in [&readings[0].path, &bills[0].path].iter().zip(&before) {
        assert_eq!(&std::fs::read(p).unwrap(), b, "{}", p.display());
    }
    let day = out
        .clone()
        .since(Timestamp::parse_rfc3339("2026-11-02T23:00:00Z").unwrap());
    assert_eq!(engine.export_site(&day).unwrap(), site);
    assert_eq!(engine.export_site(&later).unwrap(), Default::default());
    // An engine without a data directory keeps no book to export.
    let memory = live_engine(&ds, &FeedOptions::default()).unwrap();
    let e = memory.export_site(&out).unwrap_err().to_string();
    assert!(e.contains("data_dir") && e.contains("no book"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_site_that_cannot_be_a_partition_is_refused_by_name() {
    let root = scratch("bad-site");
    let ds = RecordedDataset::open(dataset("edge-small")).unwrap();
    let engine = live_engine(&ds, &FeedOptions::default()).unwrap();
    for site in ["", "a/b", "site=x", ".hidden", "üx"] {
        let e = engine
            .export_readings(&ExportOptions::new(&root, site))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site") && e.contains("a site is letters"),
            "{site:?}: {e}"
        );
        let e = export_bills(
            &[],
            60_000_000_000,
            &Names::default(),
            &ExportOptions::new(&root, site),
        )
        .unwrap_err();
        assert!(e.to_string().contains("a site is letters"), "{e}");
    }
    let e = export_bills(&[], 0, &Names::default(), &ExportOptions::new(&root, "ok")).unwrap_err();
    assert!(e.to_string().contains("interval_ns"), "{e}");
    assert!(!root.exists(), "nothing written");
}

/// A site whose readings cross midnight gets one readings partition per UTC day, each holding
/// exactly that day's samples, and `since` rewrites only the later day.
#[test]
fn readings_split_at_utc_midnight() {
    let root = scratch("days");
    let cfg = kelvin_sim::SimConfig::scale()
        .with_hosts(2)
        .with_duration_s(30 * 3_600)
        .with_seed(3);
    kelvin_sim::simulate_to(&cfg, &root.join("ds")).unwrap();
    let ds = RecordedDataset::open(root.join("ds")).unwrap();
    let mut engine = live_engine(&ds, &FeedOptions::default()).unwrap();
    feed(&ds, &mut engine, &FeedOptions::default()).unwrap();
    let out = ExportOptions::new(root.join("fleet"), "sim");
    let parts = engine.export_readings(&out).unwrap();
    assert_eq!(parts.len(), 2, "{parts:?}");
    let mut rows = 0;
    for p in &parts {
        let back = import_parquet_file(&p.path)
            .unwrap()
            .into_complete()
            .unwrap();
        let day = Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", p.date)).unwrap();
        let (a, b) = (day.as_nanos(), day.as_nanos() + 86_400_000_000_000);
        assert!(
            back.iter().flat_map(|s| &s.ts).all(|t| (a..b).contains(t)),
            "{} holds another day's samples",
            p.date
        );
        rows += p.rows;
    }
    let stored: usize = engine
        .store()
        .series()
        .map(|(id, _)| {
            engine
                .store()
                .scan(id, i64::MIN, i64::MAX)
                .unwrap()
                .ts
                .len()
        })
        .sum();
    assert_eq!(rows, stored as u64);
    let second = Timestamp::parse_rfc3339(&format!("{}T00:00:00Z", parts[1].date)).unwrap();
    let again = engine.export_readings(&out.clone().since(second)).unwrap();
    assert_eq!(again, parts[1..]);
    std::fs::remove_dir_all(&root).unwrap();
}
