//! Round trips, foreign and damaged files, and crafted metadata through the checks.

use super::*;
use crate::Normalizer;
use kelvin_model::{EntityId, Quality, Reading, SensorKind, Timestamp};
use proptest::prelude::*;

fn reading() -> impl Strategy<Value = Reading> {
    (
        "[a-z][a-z0-9-]{0,12}",
        "[ -~]{0,20}",
        proptest::sample::select(SensorKind::ALL.to_vec()),
        prop_oneof![
            proptest::num::f64::NORMAL,
            Just(-0.0),
            Just(0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::NAN)
        ],
        prop_oneof![
            Just(None),
            (-1_000_000_000_000_000_000i64..4_000_000_000_000_000_000).prop_map(Some)
        ],
        proptest::option::of("[ -~]{0,10}"),
    )
        .prop_map(|(e, s, k, v, ts, status)| {
            let ts = ts.map_or(Timestamp::UNKNOWN, Timestamp::from_nanos);
            let mut r = Reading::new(EntityId::new(e).unwrap(), s, k, v, ts);
            if v.is_nan() {
                r = r.with_quality(Quality::Absent);
            }
            r.status = status;
            r
        })
}

proptest! {
    #[test]
    fn round_trips_bit_exactly(rs in proptest::collection::vec(reading(), 0..50)) {
        let mut file = Vec::new();
        write_parquet(&rs, &mut file).unwrap();
        let n = Normalizer::builtin();
        let back = read_parquet(file, &Context::new("p", &n));
        prop_assert_eq!(back.stats.quarantined, 0, "{:?}", back.quarantine);
        prop_assert_eq!(back.readings.len(), rs.len());
        for (a, b) in rs.iter().zip(&back.readings) {
            prop_assert_eq!(a.value.to_bits(), b.value.to_bits());
            prop_assert_eq!((&a.entity, &a.sensor, a.kind, a.ts, a.quality, &a.status), (&b.entity, &b.sensor, b.kind, b.ts, b.quality, &b.status));
        }
    }

    #[test]
    fn arbitrary_bytes_are_one_quarantined_record(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let n = Normalizer::builtin();
        let b = read_parquet(bytes, &Context::new("p", &n));
        prop_assert_eq!(b.stats.seen, b.stats.accepted + b.stats.quarantined);
    }
}

#[test]
fn truncated_and_foreign_files_are_quarantined() {
    let r = Reading::new(
        EntityId::new("h").unwrap(),
        "s",
        SensorKind::Power,
        5.0,
        Timestamp::from_secs(1),
    );
    let mut file = Vec::new();
    write_parquet(&[r], &mut file).unwrap();
    assert!(is_parquet(&file));
    let n = Normalizer::builtin();
    let cut = read_parquet(
        file[..file.len() / 2].to_vec(),
        &Context::new("cut.parquet", &n),
    );
    assert_eq!((cut.stats.accepted, cut.stats.quarantined), (0, 1));
    assert_eq!(cut.quarantine[0].place.to_string(), "cut.parquet:1");
    let text = read_parquet(b"ts_ns,entity\n".to_vec(), &Context::new("x", &n));
    assert_eq!(text.stats.quarantined, 1);
}

// Crafted metadata: the checks of `check_footer` and `check_pages`, end to end.

/// A small file in Kelvin's layout.
fn file() -> Vec<u8> {
    let rs: Vec<Reading> = (0..50)
        .map(|i| {
            Reading::new(
                EntityId::new(format!("h{}", i % 3)).unwrap(),
                "inlet",
                SensorKind::Temperature,
                20.0 + f64::from(i),
                Timestamp::from_secs(i64::from(i)),
            )
        })
        .collect();
    let mut f = Vec::new();
    write_parquet(&rs, &mut f).unwrap();
    f
}

/// The varint at `at`: its value and its length.
fn varint(bytes: &[u8], at: usize) -> (u64, usize) {
    let len = bytes[at..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
    let v = bytes[at..at + len]
        .iter()
        .rev()
        .fold(0, |v, b| (v << 7) | u64::from(b & 0x7f));
    (v, len)
}

/// Where the varint value of the field at `path` (field ids through nested structs) of the
/// Thrift struct at `pos` begins, and how long it is; with an empty path, where the struct
/// ends. Enough of the compact protocol for what parquet-rs writes before those fields:
/// short field headers, integers, binaries and structs.
fn field_at(bytes: &[u8], mut pos: usize, path: &[i16]) -> (usize, usize) {
    let mut id = 0;
    loop {
        let h = bytes[pos];
        pos += 1;
        if h == 0 && path.is_empty() {
            return (pos, 0);
        }
        assert!(
            h >> 4 != 0,
            "a long field header, or the end before {path:?}"
        );
        id += i16::from(h >> 4);
        let (v, len) = varint(bytes, pos);
        match (path.first() == Some(&id), path.len(), h & 0x0f) {
            (true, 1, 5 | 6) => return (pos, len),
            (true, _, 12) => return field_at(bytes, pos, &path[1..]),
            (_, _, 5 | 6) => pos += len,
            (_, _, 8) => pos += len + v as usize,
            (_, _, 12) => pos = field_at(bytes, pos, &[]).0,
            (_, _, ty) => panic!("type {ty} before field {path:?}"),
        }
    }
}

/// `bytes` with the varint at `at` (of `len` bytes) replaced by the zigzag encoding of `v`;
/// the footer length is fixed when the change is inside the footer.
fn splice(bytes: &[u8], (at, len): (usize, usize), v: i64) -> Vec<u8> {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut enc = Vec::new();
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            enc.push(b);
            break;
        }
        enc.push(b | 0x80);
    }
    let n = bytes.len();
    let footer_len = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as usize;
    let mut out = [&bytes[..at], &enc[..], &bytes[at + len..]].concat();
    if at >= n - 8 - footer_len {
        let m = out.len();
        let fixed = (footer_len + enc.len() - len) as u32;
        out[m - 8..m - 4].copy_from_slice(&fixed.to_le_bytes());
    }
    out
}

fn quarantined(bytes: Vec<u8>) -> (Reason, String) {
    let n = Normalizer::builtin();
    let b = read_parquet(bytes, &Context::new("p", &n));
    assert_eq!(
        (b.stats.seen, b.stats.quarantined),
        (1, 1),
        "{:?}",
        b.quarantine
    );
    (b.quarantine[0].reason, b.quarantine[0].detail.clone())
}

#[test]
fn a_written_file_passes_the_checks() {
    let n = Normalizer::builtin();
    let b = read_parquet(file(), &Context::new("p", &n));
    assert_eq!((b.stats.accepted, b.stats.quarantined), (50, 0));
}

#[test]
fn oversized_pages_and_dictionaries_are_refused_before_they_are_allocated() {
    let f = file();
    let reader = SerializedFileReader::new(bytes::Bytes::from(f.clone())).unwrap();
    let dictionary = reader
        .metadata()
        .row_group(0)
        .column(1)
        .dictionary_page_offset();
    // The uncompressed size of the first page of the first column (ts, no dictionary,
    // right after "PAR1"), and the value count of the dictionary page of column 1 (entity).
    let claims: [(usize, &[i16], &str); 2] = [
        (4, &[2], "2147483647 bytes decompressed"),
        (
            dictionary.unwrap() as usize,
            &[7, 1],
            "claims 2147483647 values",
        ),
    ];
    for (start, path, says) in claims {
        let at = field_at(&f, start, path);
        let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
        assert_eq!(reason, Reason::InputTooLarge);
        assert!(detail.contains(says), "{detail}");
    }
}

#[test]
fn impossible_schemas_and_offsets_are_refused() {
    let f = file();
    let n = f.len();
    let footer_len = u32::from_le_bytes(f[n - 8..n - 4].try_into().unwrap()) as usize;
    // The footer starts with the version (field 1) and the schema (field 2, a list whose
    // first element is the root).
    let mut root = n - 8 - footer_len;
    assert_eq!((f[root], f[root + 2]), (0x15, 0x19));
    root += 3;
    root += if f[root] >> 4 == 15 {
        1 + varint(&f, root + 1).1
    } else {
        1
    };
    let at = field_at(&f, root, &[5]);
    let (reason, detail) = quarantined(splice(&f, at, i64::from(i32::MAX)));
    assert_eq!(reason, Reason::BadField);
    assert!(detail.contains("claims 2147483647 children"), "{detail}");
    // a footer longer than the file, a cut file
    let mut long = f.clone();
    long[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(quarantined(long).1.contains("footer claims"));
    assert_eq!(quarantined(f[..n / 2].to_vec()).0, Reason::BadField);
}
