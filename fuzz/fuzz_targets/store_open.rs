//! Crash recovery of the durable store: `Store::open` on a directory whose write-ahead log and
//! block files are damaged.
//!
//! Input: a mode byte, then bytes that drive the steps. The target first builds a real store
//! in a scratch directory (up to 4 series, up to 255 samples in order or late, 16-sample
//! blocks; a checkpoint and more samples after it when the mode says), so the files have
//! Kelvin's real layout. It then damages one file (byte flips and a cut tail, as the input
//! says), optionally re-sealing the checksums so the damage reaches the record and entry
//! parsers behind them, or (mode bit 4) replaces the log with the raw remaining input. Then:
//!
//! - `Store::open` must return (an error or a store with its report), and a store it returns
//!   must export every series, checkpoint, and reopen with the same samples;
//! - when nothing was damaged, the reopened store must be clean and hold exactly what the
//!   first store held.
#![no_main]

use std::path::{Path, PathBuf};

use kelvin_fuzz::{Bytes, Scratch, budget, corrupt};
use kelvin_model::{EntityId, SensorKind};
use kelvin_store::{SeriesData, SeriesKey, Store, StoreOptions};
use libfuzzer_sys::fuzz_target;

fn options() -> StoreOptions {
    StoreOptions::default()
        .with_sync(false)
        .with_block_samples(16)
}

/// Builds the store the input describes; returns its export.
fn build(dir: &Path, mode: u8, b: &mut Bytes<'_>) -> Vec<SeriesData> {
    let (mut store, _) = Store::open(dir, options()).expect("opening an empty store");
    let nseries = b.u8() % 4 + 1;
    let mut ids = Vec::new();
    for i in 0..nseries {
        let kind = SensorKind::ALL[usize::from(i) % SensorKind::ALL.len()];
        let key = SeriesKey::new(
            EntityId::new("h1").expect("valid id"),
            format!("s{i}"),
            kind,
        );
        ids.push(store.series_id(&key).expect("a new series"));
    }
    let append = |store: &mut Store, b: &mut Bytes<'_>| {
        let n = b.u8();
        let mut t: i64 = 1_700_000_000_000_000_000;
        for _ in 0..n {
            let id = ids[usize::from(b.u8()) % ids.len()];
            // Mostly forward in 1 s steps; sometimes late (up to ~4 min back).
            let step = i64::from(b.u8()) - 16;
            t = t.saturating_add(step * 1_000_000_000);
            let v = f64::from(b.u16()) / 8.0;
            let _ = store.append(id, t, v);
        }
        store.commit().expect("committing to a scratch directory");
    };
    append(&mut store, b);
    if mode & 1 != 0 {
        store
            .checkpoint()
            .expect("checkpointing to a scratch directory");
        if mode & 8 != 0 {
            append(&mut store, b);
        }
    }
    store.export_all().expect("exporting a healthy store")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["wal", "blocks"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            out.extend(rd.flatten().map(|e| e.path()));
        }
    }
    out.sort();
    out
}

/// Recomputes every WAL record's CRC-32 (`len u32 | crc u32 | type + payload`, after the
/// 8-byte magic), as far as the lengths lead.
fn reseal_wal(bytes: &mut [u8]) {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e <= bytes.len()) else {
            return;
        };
        let crc = crc32fast::hash(&bytes[at + 8..end]);
        bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        at = end;
    }
}

/// Recomputes a block file's entry CRCs (`tag u8 | len u32 | crc u32 | payload` after the
/// 28-byte header), entry count and whole-file CRC in the 16-byte footer.
fn reseal_blocks(bytes: &mut [u8]) {
    const HEADER: usize = 28;
    const FOOTER: usize = 16;
    if bytes.len() < HEADER + FOOTER {
        return;
    }
    let body_end = bytes.len() - FOOTER;
    let (mut at, mut entries) = (HEADER, 0u32);
    while at + 9 <= body_end {
        let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
        let Some(end) = (at + 9).checked_add(len).filter(|&e| e <= body_end) else {
            break;
        };
        let crc = crc32fast::hash(&bytes[at + 9..end]);
        bytes[at + 5..at + 9].copy_from_slice(&crc.to_le_bytes());
        entries += 1;
        at = end;
    }
    let crc = crc32fast::hash(&bytes[..body_end]);
    bytes[body_end + 8..body_end + 12].copy_from_slice(&entries.to_le_bytes());
    bytes[body_end + 12..body_end + 16].copy_from_slice(&crc.to_le_bytes());
}

/// Damages one file as the input says; returns whether any byte changed.
fn damage(dir: &Path, mode: u8, b: &mut Bytes<'_>) -> bool {
    if mode & 16 != 0 {
        let wal = dir.join("wal").join(format!("{:016}.wal", 1));
        let mut raw = Vec::new();
        if mode & 32 != 0 {
            raw.extend_from_slice(b"KLVWAL01");
        }
        raw.extend_from_slice(b.rest());
        if mode & 2 != 0 {
            reseal_wal(&mut raw);
        }
        std::fs::write(wal, raw).expect("writing the raw log");
        return true;
    }
    let all = files(dir);
    if all.is_empty() {
        return false;
    }
    let path = &all[usize::from(b.u8()) % all.len()];
    let before = std::fs::read(path).expect("reading a store file");
    let mut bytes = before.clone();
    corrupt(&mut bytes, b);
    let is_wal = path.extension().is_some_and(|e| e == "wal");
    if is_wal && mode & 2 != 0 {
        reseal_wal(&mut bytes);
    }
    if !is_wal && mode & 4 != 0 {
        reseal_blocks(&mut bytes);
    }
    if bytes == before {
        return false;
    }
    std::fs::write(path, bytes).expect("writing the damaged file");
    true
}

fn reopen_checked(dir: &Path) -> Option<Vec<SeriesData>> {
    let (mut store, report) = Store::open(dir, options()).ok()?;
    let exported = store.export_all().ok()?;
    let _ = store.time_span();
    if store.checkpoint().is_err() {
        return None;
    }
    drop(store);
    let (again, _) = Store::open(dir, options()).unwrap_or_else(|e| {
        panic!("a store that opened ({report:?}) and checkpointed does not reopen: {e}")
    });
    let again_exported = again.export_all().expect("a checkpointed store exports");
    assert_eq!(
        format!("{again_exported:?}"),
        format!("{exported:?}"),
        "series changed across a checkpoint"
    );
    if report.is_clean() {
        Some(exported)
    } else {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let scratch = Scratch::new("store_open");
        let dir = scratch.path();
        let mut b = Bytes::new(data);
        let mode = b.u8();
        let original = build(dir, mode, &mut b);
        let damaged = damage(dir, mode, &mut b);
        let reopened = reopen_checked(dir);
        if !damaged {
            let back = reopened.expect("an undamaged store reopens clean");
            assert_eq!(
                format!("{back:?}"),
                format!("{original:?}"),
                "an undamaged store lost or changed samples"
            );
        }
    });
});
