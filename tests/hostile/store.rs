//! Hostile-input reproducers: the store's readers of outside bytes — the Parquet import, the
//! durable store's log and block files read back by `Store::open`, a sealed block's pco
//! streams (`decode_block`), and the CSV series reader behind the `compress` example — each
//! within the heap budget. (Crafted Parquet footers and
//! page headers, which need a Thrift writer, are tested in `kelvin-store`'s `tests/it/limits.rs`.)

use std::fs;
use std::path::{Path, PathBuf};

use kelvin::model::{EntityId, SensorKind};
use kelvin::store::{
    MAX_BLOCK_SAMPLES, SeriesKey, Store, StoreErrorKind, StoreOptions, decode_block,
    import_parquet_file, read_csv_series,
};
use pco::standalone::simple_compress;
use pco::{ChunkConfig, DeltaSpec, ModeSpec};

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

/// A sealed block (the layout `encode_block` documents) of `n` samples at 0, 1000, 2000, …
/// whose values are the pco stream `values`: `f64`s (`decimal` false) or the `i64`s `m` of
/// decimal values `m / 10^0`.
fn sealed_block(n: usize, decimal: bool, values: &[u8]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    // Version 1; timestamps as a regular cadence (tag 0), values as pco (tag 2) or decimal (1).
    let mut out = vec![1, if decimal { 0x10 } else { 0x20 }];
    varint(&mut out, n as u64);
    out.extend_from_slice(&0i64.to_le_bytes());
    varint(&mut out, 2000); // the zigzag of a 1000 step
    if decimal {
        out.push(0);
    }
    varint(&mut out, values.len() as u64);
    out.extend_from_slice(values);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The index of bit `bit` of the metadata of the first chunk of a pco 1.1 standalone stream
/// (after `pco!`, the standalone version, the uniform type, the size hint and the format
/// version, and the chunk's type byte and count).
fn pco_meta_bit(stream: &[u8], bit: usize) -> usize {
    let hint_power = usize::from(stream[6] & 0x3f) + 1;
    let chunk = 6 + (6 + hint_power).div_ceil(8) + 2;
    (chunk + 4) * 8 + bit
}

/// Sets `n` bits at bit index `at` to `value`, least significant first (pco's bit order).
fn set_bits(bytes: &mut [u8], at: usize, n: usize, value: u64) {
    for i in 0..n {
        let (byte, mask) = ((at + i) / 8, 1u8 << ((at + i) % 8));
        if (value >> i) & 1 == 1 {
            bytes[byte] |= mask;
        } else {
            bytes[byte] &= !mask;
        }
    }
}

fn corrupt_block_reason(block: &[u8]) -> String {
    let e = within_budget(|| decode_block(block)).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    e.to_string()
}

#[test]
fn a_pco_lookback_window_of_2_24_in_a_block_is_corrupt_not_256_mib() {
    // The fuzz finding (`store_block`, `fuzz/regressions/store_block/pco-lookback-window-2-24.bin`):
    // a chunk announcing a lookback window of 2^24 made pco allocate 2^25 64-bit latents
    // (256 MiB) for a 64-number chunk before reading any data.
    let values: Vec<f64> = (0..64).map(|i| f64::from(i % 5) * 0.25).collect();
    let config = ChunkConfig::default()
        .with_mode_spec(ModeSpec::Classic)
        .with_delta_spec(DeltaSpec::TryLookback);
    let mut stream = simple_compress(&values, &config).expect("pco compresses");
    // Classic mode (4 bits), lookback delta encoding (4 bits), `window_n_log - 1` (5 bits).
    let at = pco_meta_bit(&stream, 8);
    set_bits(&mut stream, at, 5, 23);
    let why = corrupt_block_reason(&sealed_block(64, false, &stream));
    assert!(
        why.contains(
            "values: pco: a lookback window of 2^24 numbers for a chunk of 64 (at most 2^6)"
        ),
        "{why}"
    );
}

#[test]
fn a_pco_dictionary_of_2_25_entries_in_a_block_is_corrupt_not_256_mib() {
    // `fuzz/regressions/store_block/pco-dict-2-25-entries.bin`: a Dict-mode chunk announcing
    // 2^25 - 1 unique values made pco allocate them (256 MiB) before reading them.
    let values: Vec<f64> = (0..64).map(|i| [1.5, 2.25, -7.0][i % 3]).collect();
    let config = ChunkConfig::default().with_mode_spec(ModeSpec::TryDict);
    let mut stream = simple_compress(&values, &config).expect("pco compresses");
    // Dict mode (4 bits), then the dictionary's length in 25 bits.
    let at = pco_meta_bit(&stream, 4);
    set_bits(&mut stream, at, 25, (1 << 25) - 1);
    let why = corrupt_block_reason(&sealed_block(64, false, &stream));
    assert!(
        why.contains("values: pco: a dictionary of 33554431 values for a chunk of 64 numbers"),
        "{why}"
    );
}

#[test]
fn the_largest_pco_buffers_a_block_may_announce_fit_the_budget() {
    // The worst the check lets through: a block of MAX_BLOCK_SAMPLES (2^22) decimal values in
    // one chunk with a lookback window of 2^22 on both the primary and the secondary latents
    // (an integer-multiplier chunk whose flag applies the deltas to the secondary latents too):
    // 32 MiB of timestamps, 32 MiB of integers and two window buffers of 2 · 2^22 64-bit
    // latents, 192 MiB in all. The chunk's numbers take no bits (one bin of width 0), so a
    // stream of 71 bytes holds 2^22 of them.
    let config = ChunkConfig::default()
        .with_mode_spec(ModeSpec::TryIntMult(7))
        .with_delta_spec(DeltaSpec::TryLookback);
    let mut stream = simple_compress(&[70i64; 64], &config).expect("pco compresses");
    let n = MAX_BLOCK_SAMPLES;
    // The chunk's count (`n - 1`, 24 bits) just before its metadata; in the metadata mode 1 and
    // its 64-bit base, lookback (4 bits), `window_n_log - 1` (5 bits), `state_n_log` (4 bits)
    // and the flag that the secondary latents use the deltas too.
    let meta = pco_meta_bit(&stream, 0);
    set_bits(&mut stream, meta - 24, 24, n as u64 - 1);
    set_bits(&mut stream, meta + 72, 5, 21);
    set_bits(&mut stream, meta + 81, 1, 1);
    // The page metadata then holds a lookback state for the secondary latents too: 8 more
    // bytes just before the stream's terminating zero byte.
    let end = stream.len() - 1;
    assert_eq!(stream[end], 0, "the termination byte");
    stream.splice(end..end, [0u8; 8]);
    let (ts, values) = within_budget(|| decode_block(&sealed_block(n, true, &stream)))
        .expect("the largest buffers the check allows decode within the budget");
    assert_eq!((ts.len(), values.len()), (n, n));
}
