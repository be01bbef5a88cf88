//! Kelvin's Parquet layout through `kelvin_ingest::parquet::read_parquet`, the reader behind
//! `decode_path` for `.parquet` files.
//!
//! Input, first byte even: the rest is the file, as is. First byte odd: the rest builds up to
//! 64 readings, which `write_parquet` writes; the file is then corrupted (byte flips, a cut
//! tail) as the remaining bytes say, so the fuzzer works on well-formed Parquet structure
//! (footer, row groups, pages) that it would not find from nothing. An uncorrupted file must
//! read back exactly the readings written.
#![no_main]

use kelvin_fuzz::{Bytes, budget, check_batch, corrupt, normalizer};
use kelvin_ingest::Context;
use kelvin_ingest::parquet::{read_parquet, write_parquet};
use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};
use libfuzzer_sys::fuzz_target;

const ENTITIES: [&str; 4] = ["h1", "rack-7/pdu-a", "gpu-r1-h2-gpu3", "ws:pod-0f3"];
const SENSORS: [&str; 4] = ["inlet", "psu1_power", "package-0", "gpu0/power.draw"];
const STATUS: [Option<&str>; 4] = [None, Some("ok"), Some("nc"), Some("'OK'")];

fn reading(b: &mut Bytes<'_>) -> Reading {
    let pick = b.u8() as usize;
    let entity = EntityId::new(ENTITIES[pick % 4]).expect("valid id");
    let kind = SensorKind::ALL[(pick / 4) % SensorKind::ALL.len()];
    let bits = b.u64();
    let mut value = f64::from_bits(bits);
    if !value.is_finite() {
        value = (bits % 10_000) as f64 / 8.0;
    }
    let ts = match b.u8() % 4 {
        0 => Timestamp::UNKNOWN,
        _ => Timestamp::from_nanos(b.u64() as i64),
    };
    let mut r = Reading::new(entity, SENSORS[(pick / 64) % 4], kind, value, ts);
    let q = b.u8();
    r = match q % 4 {
        0 => r,
        1 => r.with_quality(Quality::Warning),
        2 => r.with_quality(Quality::Critical),
        _ => {
            r.value = f64::NAN;
            r.with_quality(Quality::Absent)
        }
    };
    if let Some(s) = STATUS[(q / 4) as usize % 4] {
        r = r.with_status(s);
    }
    r
}

fuzz_target!(|data: &[u8]| {
    kelvin_fuzz::contain_parquet_panics();
    budget(|| {
        let mut b = Bytes::new(data);
        let ctx = Context::new("fuzz.parquet", normalizer());
        if b.u8().is_multiple_of(2) {
            let file = b.rest().to_vec();
            kelvin_fuzz::dump("input.parquet", &file);
            let batch = read_parquet(file, &ctx);
            check_batch(&batch, "parquet");
            return;
        }
        let n = b.u8() % 65;
        let readings: Vec<Reading> = (0..n).map(|_| reading(&mut b)).collect();
        let mut file = Vec::new();
        write_parquet(&readings, &mut file).expect("writing to memory cannot fail");
        let written = file.clone();
        corrupt(&mut file, &mut b);
        let untouched = file == written;
        kelvin_fuzz::dump("input.parquet", &file);
        let batch = read_parquet(file, &ctx);
        check_batch(&batch, "parquet");
        if untouched {
            assert!(
                batch.quarantine.is_empty(),
                "an uncorrupted file has quarantined rows"
            );
            assert_eq!(
                format!("{:?}", batch.readings),
                format!("{readings:?}"),
                "an uncorrupted file reads back other readings"
            );
        }
    });
});
