//! The store's Parquet import, `kelvin_store::import_parquet` (series in the long layout
//! `export_parquet` writes, or files from pyarrow and Polars).
//!
//! Input, first byte even: the rest is the file, as is. First byte odd: the rest builds up to
//! 8 series of up to 64 samples, `export_parquet` writes them (row groups of 1 to 16 rows, so
//! small files have several), and the file is corrupted as the remaining bytes say. Checks:
//! an import accounts for every row (`rows` = samples + `skipped`), its series are sorted by
//! key and each by time, and an uncorrupted file imports exactly the samples exported.
#![no_main]

use kelvin_fuzz::{Bytes, budget, corrupt};
use kelvin_model::{EntityId, SensorKind};
use kelvin_store::{
    Labels, ParquetImport, ParquetOptions, SeriesData, SeriesKey, export_parquet, import_parquet,
};
use libfuzzer_sys::fuzz_target;

fn check(import: &ParquetImport) {
    let samples: u64 = import.series.iter().map(|s| s.ts.len() as u64).sum();
    assert_eq!(
        import.rows,
        samples + import.skipped,
        "rows are not samples + skipped"
    );
    for w in import.series.windows(2) {
        assert!(w[0].key < w[1].key, "series not sorted by key");
    }
    for s in &import.series {
        assert_eq!(s.ts.len(), s.values.len(), "{}: columns differ", s.key);
        assert!(
            s.ts.windows(2).all(|w| w[0] <= w[1]),
            "{}: not sorted by time",
            s.key
        );
    }
}

fn series(b: &mut Bytes<'_>) -> Vec<SeriesData> {
    let n = b.u8() % 9;
    let mut out = Vec::new();
    for i in 0..n {
        let kind = SensorKind::ALL[b.u8() as usize % SensorKind::ALL.len()];
        let entity = EntityId::new(format!("h{}", b.u8() % 4)).expect("valid id");
        let mut key = SeriesKey::new(entity, format!("s{i}"), kind);
        if b.u8() % 2 == 1 {
            key = key.with_labels(Labels::from_pairs([("gpu", "0"), ("mode", "fuzz")]));
        }
        let len = b.u8() % 65;
        let mut t = b.u64() as i64 / 4;
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        for _ in 0..len {
            ts.push(t);
            t = t.saturating_add(i64::from(b.u16()));
            values.push(match b.u8() % 3 {
                0 => f64::from_bits(b.u64()),
                1 => f64::from(b.u16()) / 4.0,
                _ => 1.5,
            });
        }
        out.push(SeriesData { key, ts, values });
    }
    out
}

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::contain_parquet_panics();
    budget(|| {
        let mut b = Bytes::new(data);
        if b.u8().is_multiple_of(2) {
            let file = b.rest().to_vec();
            kelvin_fuzz::dump("input.parquet", &file);
            if let Ok(import) = import_parquet(file, "fuzz.parquet") {
                check(&import);
            }
            return;
        }
        let data = series(&mut b);
        let opts = ParquetOptions::default().with_row_group_rows(usize::from(b.u8() % 16) + 1);
        let mut file = Vec::new();
        let Ok(summary) = export_parquet(&mut file, &data, &opts) else {
            return;
        };
        let written = file.clone();
        corrupt(&mut file, &mut b);
        let untouched = file == written;
        kelvin_fuzz::dump("input.parquet", &file);
        match import_parquet(file, "fuzz.parquet") {
            Ok(import) => {
                check(&import);
                if untouched {
                    assert_eq!(import.rows, summary.rows, "rows written != rows read");
                    assert_eq!(import.skipped, 0, "an uncorrupted file has skipped rows");
                }
            }
            Err(e) => assert!(!untouched, "an uncorrupted file does not import: {e}"),
        }
    });
});
