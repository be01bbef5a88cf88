//! Golden files of on-disk format version 1 (`docs/format.md`): a block file and a WAL segment
//! written by a fixed sequence of operations. (1) The files the first version-1 writer made
//! (`golden/v1`, never regenerated) must still open to the same samples, and (2) what this
//! build writes for the same operations must be exactly the committed `golden/v1-writer`
//! bytes, so a change of the bytes cannot slip in unnoticed. The two differ where the codec
//! now hands pco a decimal block's common step instead of letting pco search for a mode
//! (the same layout; pco's stream records its mode). Regenerate `v1-writer` deliberately with
//! `KELVIN_UPDATE_GOLDEN=1` (and bump the format version when the layout changes).

use std::fs;
use std::path::{Path, PathBuf};

use kelvin_model::{EntityId, SensorKind};
use kelvin_store::{Labels, SeriesKey, Store, StoreOptions};

const S: i64 = 1_000_000_000;

/// The files of the first version-1 writer: read, never rewritten.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/v1")
}

/// What this build writes: compared byte for byte, rewritten with `KELVIN_UPDATE_GOLDEN=1`.
fn writer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden/v1-writer")
}

fn keys() -> [SeriesKey; 2] {
    [
        SeriesKey::new(EntityId::new("host-01").unwrap(), "psu1", SensorKind::Power),
        SeriesKey::new(
            EntityId::new("pdu-a").unwrap(),
            "outlet 7",
            SensorKind::Energy,
        )
        .with_labels(Labels::from_pairs([("phase", "L2"), ("site", "edge-β")])),
    ]
}

/// Sample `i` of series `k`: 1-decimal watts, a cumulative energy counter with a reset, and
/// the awkward values (NaN, −0.0, ±inf) that must survive bit for bit.
fn sample(k: usize, i: i64) -> (i64, f64) {
    let t = 1_700_000_000 * S + i * 15 * S;
    let v = match (k, i) {
        (0, 7) => f64::NAN,
        (0, 8) => -0.0,
        (0, 9) => f64::INFINITY,
        (0, _) => 200.0 + ((i * 37) % 100) as f64 / 10.0,
        (_, i) if i < 150 => i as f64 * 412.5,
        (_, i) => (i - 150) as f64 * 412.5,
    };
    (t, v)
}

/// Writes the golden store into `dir`: 200 samples per series sealed by a checkpoint, then 20
/// more per series in the WAL only.
fn write(dir: &Path) {
    let (mut store, _) = Store::open(dir, StoreOptions::default().with_block_samples(64)).unwrap();
    let ids: Vec<_> = keys().iter().map(|k| store.series_id(k).unwrap()).collect();
    for i in 0..220 {
        for (k, id) in ids.iter().enumerate() {
            let (t, v) = sample(k, i);
            store.append(*id, t, v).unwrap();
        }
        if i == 199 {
            store.checkpoint().unwrap();
        }
    }
    store.commit().unwrap();
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["blocks", "wal"] {
        let mut names: Vec<_> = fs::read_dir(dir.join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        names.sort();
        for p in names {
            let bytes = fs::read(&p).unwrap();
            if bytes.len() > 8 {
                out.push((
                    format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()),
                    bytes,
                ));
            }
        }
    }
    out
}

#[test]
fn v1_files_decode_and_re_encode_identically() {
    let fresh = std::env::temp_dir().join(format!("kelvin-golden-{}", std::process::id()));
    let _ = fs::remove_dir_all(&fresh);
    write(&fresh);
    let written = files(&fresh);
    assert_eq!(
        written.len(),
        2,
        "one block file and one WAL segment: {:?}",
        written.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let golden = writer_dir();
    if std::env::var_os("KELVIN_UPDATE_GOLDEN").is_some() {
        let _ = fs::remove_dir_all(&golden);
        for (name, bytes) in &written {
            let p = golden.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }
    }
    // (2) This build writes exactly the committed bytes.
    let committed = files(&golden);
    assert_eq!(
        committed.len(),
        written.len(),
        "golden files missing: run with KELVIN_UPDATE_GOLDEN=1"
    );
    for ((gn, gb), (wn, wb)) in committed.iter().zip(&written) {
        assert_eq!(gn, wn);
        assert!(
            gb == wb,
            "{gn}: this build writes different bytes than format v1's golden file"
        );
    }
    // (1) The committed files, of this writer and of the first, open to the samples that
    // made them.
    check_opens(&committed);
    check_opens(&files(&golden_dir()));
    let _ = fs::remove_dir_all(&fresh);
}

/// Opens a copy of `committed` and checks every sample of both series.
fn check_opens(committed: &[(String, Vec<u8>)]) {
    let copy = std::env::temp_dir().join(format!("kelvin-golden-copy-{}", std::process::id()));
    let _ = fs::remove_dir_all(&copy);
    for (name, bytes) in committed {
        let p = copy.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    let (store, report) = Store::open(&copy, StoreOptions::default()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.wal_samples, 40);
    for (k, key) in keys().iter().enumerate() {
        let d = store
            .scan(store.find(key).unwrap(), i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(d.ts.len(), 220);
        for (i, (&t, &v)) in d.ts.iter().zip(&d.values).enumerate() {
            let (wt, wv) = sample(k, i as i64);
            assert_eq!(
                (t, v.to_bits()),
                (wt, wv.to_bits()),
                "series {k} sample {i}"
            );
        }
    }
    let _ = fs::remove_dir_all(&copy);
}
