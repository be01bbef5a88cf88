//! Hostile-input reproducers: the store's readers of outside bytes — the Parquet import, the
//! durable store's log and block files read back by `Store::open`, and the CSV series reader
//! behind the `compress` example — each within the heap budget. (Crafted Parquet footers and
//! page headers, which need a Thrift writer, are tested in `kelvin-store`'s `tests/it/limits.rs`.)

use std::fs;
use std::path::{Path, PathBuf};

use kelvin::model::{EntityId, SensorKind};
use kelvin::store::{
    SeriesKey, Store, StoreErrorKind, StoreOptions, import_parquet_file, read_csv_series,
};

use crate::within_budget;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kelvin-hostile-store-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("a scratch directory");
    d
}

fn key(host: &str) -> SeriesKey {
    SeriesKey::new(
        EntityId::new(host).expect("a valid id"),
        "psu1",
        SensorKind::Power,
    )
}

/// A durable store in `dir` with 100 committed samples of one series; returns its log segment.
fn store_with_log(dir: &Path) -> PathBuf {
    let (mut store, _) =
        Store::open(dir, StoreOptions::default().with_sync(false)).expect("a new store");
    let id = store.series_id(&key("host-01")).expect("a series");
    for i in 0..100 {
        store
            .append(id, i * 1_000_000_000, i as f64)
            .expect("an append");
    }
    store.commit().expect("a commit");
    drop(store);
    fs::read_dir(dir.join("wal"))
        .expect("the log directory")
        .flatten()
        .map(|e| e.path())
        .max()
        .expect("a log segment")
}

fn append(path: &Path, bytes: &[u8]) {
    let mut all = fs::read(path).expect("the segment");
    all.extend_from_slice(bytes);
    fs::write(path, all).expect("the segment written back");
}

#[test]
fn a_wal_length_field_of_ffffffff_is_a_reported_torn_tail() {
    let dir = scratch("wal-length");
    let seg = store_with_log(&dir);
    let good = fs::metadata(&seg).expect("the segment").len();
    // A record header whose length field says 4 GiB, and a few bytes after it.
    let mut bad = u32::MAX.to_le_bytes().to_vec();
    bad.extend_from_slice(&[0x5a; 12]);
    append(&seg, &bad);
    let (store, report) =
        within_budget(|| Store::open(&dir, StoreOptions::default())).expect("the store opens");
    assert_eq!(report.torn.len(), 1, "{report:?}");
    let torn = &report.torn[0];
    assert_eq!(
        (torn.file.as_path(), torn.offset, torn.bytes),
        (seg.as_path(), good, 16)
    );
    assert_eq!(
        torn.reason,
        "record length 4294967295 over the maximum of 2097152 bytes"
    );
    assert_eq!(store.sample_count(), 100, "every committed sample is back");
    drop(store);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_forged_series_id_in_the_wal_is_a_corrupt_error_not_four_billion_series() {
    let dir = scratch("wal-id");
    let seg = store_with_log(&dir);
    let good = fs::metadata(&seg).expect("the segment").len();
    // A series definition with a valid checksum and the id 2^32 - 16: recovery used to make a
    // placeholder series for every id below it.
    let mut body = vec![1u8];
    body.extend_from_slice(&(u32::MAX - 15).to_le_bytes());
    for s in ["host-02", "psu1", "power"] {
        body.extend_from_slice(&(s.len() as u16).to_le_bytes());
        body.extend_from_slice(s.as_bytes());
    }
    body.extend_from_slice(&0u16.to_le_bytes());
    let mut rec = (body.len() as u32).to_le_bytes().to_vec();
    rec.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    rec.extend_from_slice(&body);
    append(&seg, &rec);
    let e = within_budget(|| Store::open(&dir, StoreOptions::default())).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(
        e.reason().starts_with(&format!(
            "{} at byte {good}: series id 4294967280",
            seg.display()
        )),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_dev_zero_link_is_refused_by_the_parquet_and_csv_file_readers() {
    let dir = scratch("dev-zero");
    let parquet = dir.join("zero.parquet");
    std::os::unix::fs::symlink("/dev/zero", &parquet).expect("a symlink");
    let e = within_budget(|| import_parquet_file(&parquet)).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    assert_eq!(
        e.reason(),
        format!(
            "{}: a character device, not a regular file, so its size cannot be checked \
             against the 1073741824-byte limit of a Parquet import \
             (ParquetLimits::max_file_bytes); give the path of a regular file",
            parquet.display()
        )
    );
    // The `compress` example's reader.
    let csv = dir.join("zero.csv");
    std::os::unix::fs::symlink("/dev/zero", &csv).expect("a symlink");
    let e = within_budget(|| read_csv_series(&csv, Some(0), 1)).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::InvalidInput, "{e}");
    assert_eq!(
        e.reason(),
        format!(
            "{}: a character device, not a regular file, so its size cannot be checked \
             against the 67108864-byte limit of a CSV series (kelvin_store::MAX_CSV_BYTES); \
             give the path of a regular file",
            csv.display()
        )
    );
    // In a store: a block file that is a device is set aside, a log segment refused.
    let store_dir = dir.join("store");
    drop(store_with_log(&store_dir));
    let block = store_dir.join("blocks").join("0000000000000007.kblk");
    std::os::unix::fs::symlink("/dev/zero", &block).expect("a symlink");
    let (store, report) = within_budget(|| Store::open(&store_dir, StoreOptions::default()))
        .expect("the store opens");
    assert_eq!(report.set_aside.len(), 1, "{report:?}");
    assert!(
        report.set_aside[0].reason.contains("a character device"),
        "{report:?}"
    );
    assert_eq!(store.sample_count(), 100);
    drop(store);
    let seg = store_dir.join("wal").join("0000000000000099.wal");
    std::os::unix::fs::symlink("/dev/zero", &seg).expect("a symlink");
    let e = within_budget(|| Store::open(&store_dir, StoreOptions::default())).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    assert!(
        e.reason()
            .contains("0000000000000099.wal: a character device"),
        "{e}"
    );
    let _ = fs::remove_dir_all(&dir);
}
