use std::path::{Path, PathBuf};

use kelvin_store::{
    BlockStats, HeadChunk, MAX_BLOCK_SAMPLES, StoreErrorKind, decode_block, decode_block_into,
    encode_block, parse_csv_series,
};
use proptest::prelude::*;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

pub(crate) fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Any `f64` bit pattern, with the special ones (NaN payloads, ±∞, ±0, subnormals, decimals,
/// repeats) drawn often.
pub(crate) fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        1 => prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
            f64::from_bits(0xfff8_dead_beef_cafe), // negative quiet NaN with payload
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::from_bits(1), // smallest subnormal
            f64::from_bits(0x000f_ffff_ffff_ffff), // largest subnormal
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            21.5,
        ]),
        2 => (-100_000i64..100_000, 0u32..4).prop_map(|(m, k)| m as f64 / 10f64.powi(k as i32)),
    ]
}

/// A time step: zero (duplicate timestamps), jitter, a scrape interval, a huge gap.
fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => Just(0i64),
        2 => 0..1_000i64,
        3 => (15 * S - 5_000_000)..(15 * S + 5_000_000),
        1 => 0..i64::MAX,
        1 => Just(i64::MAX),
    ]
}

/// Non-decreasing timestamps from a start anywhere (near `i64::MIN`/`MAX` included), with
/// values.
fn samples(max: usize) -> impl Strategy<Value = (Vec<i64>, Vec<f64>)> {
    let start = prop_oneof![
        Just(i64::MIN),
        Just(i64::MIN + 1),
        Just(-1i64),
        Just(T0),
        Just(i64::MAX - 10),
        Just(i64::MAX),
        any::<i64>(),
    ];
    (start, prop::collection::vec((step(), value()), 0..max)).prop_map(|(t0, steps)| {
        let mut t = t0;
        steps
            .into_iter()
            .map(|(dt, v)| {
                let sample = (t, v);
                t = t.saturating_add(dt);
                sample
            })
            .unzip()
    })
}

fn head_of(ts: &[i64], values: &[f64]) -> HeadChunk {
    let mut h = HeadChunk::new();
    for (&t, &v) in ts.iter().zip(values) {
        h.push(t, v)
            .expect("non-decreasing timestamps are accepted");
    }
    h
}

fn assert_head_round_trips(ts: &[i64], values: &[f64]) {
    let h = head_of(ts, values);
    assert_eq!(h.len(), ts.len());
    assert_eq!(h.is_empty(), ts.is_empty());
    assert_eq!(h.first_ts(), ts.first().copied());
    assert_eq!(h.last_ts(), ts.last().copied());
    let (mut dt, mut dv) = (vec![7], vec![7.0]);
    h.decode_into(&mut dt, &mut dv);
    assert_eq!(&dt[1..], ts);
    assert_eq!(bits(&dv[1..]), bits(values));
    let it = h.iter();
    assert_eq!(it.len(), ts.len());
    let (it_t, it_v): (Vec<i64>, Vec<f64>) = it.unzip();
    assert_eq!(it_t, ts);
    assert_eq!(bits(&it_v), bits(values));
    // Up to 63 pending bits live inline; the rest is on the heap.
    assert!(h.heap_bytes() as u64 * 8 + 64 > h.bit_len());
}

fn assert_block_round_trips(ts: &[i64], values: &[f64]) -> Vec<u8> {
    let bytes = encode_block(ts, values).expect("equal lengths encode");
    let (dt, dv) = decode_block(&bytes).expect("own block decodes");
    assert_eq!(dt, ts);
    assert_eq!(bits(&dv), bits(values));
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn head_chunk_round_trips_bit_exactly((ts, values) in samples(300)) {
        assert_head_round_trips(&ts, &values);
    }

    #[test]
    fn head_chunk_rejects_earlier_timestamps_and_stays_intact(
        (ts, values) in samples(50),
        back in 1..=i64::MAX,
    ) {
        let mut h = head_of(&ts, &values);
        if let Some(&last) = ts.last() {
            prop_assume!(last != i64::MIN);
            let earlier = last.saturating_sub(back);
            let err = h.push(earlier, 1.0).unwrap_err();
            prop_assert_eq!(err.kind(), StoreErrorKind::InvalidInput);
            prop_assert_eq!(h.len(), ts.len());
            let (t, v): (Vec<i64>, Vec<f64>) = h.iter().unzip();
            prop_assert_eq!(t, ts.clone());
            prop_assert_eq!(bits(&v), bits(&values));
            // And appending goes on where it left off.
            h.push(last, 2.5).unwrap();
            prop_assert_eq!(h.iter().last(), Some((last, 2.5)));
        }
    }

    #[test]
    fn head_chunk_clear_reuses(
        (ts1, v1) in samples(60),
        (ts2, v2) in samples(60),
    ) {
        let mut h = head_of(&ts1, &v1);
        h.clear();
        prop_assert!(h.is_empty());
        prop_assert_eq!(h.first_ts(), None);
        for (&t, &v) in ts2.iter().zip(&v2) {
            h.push(t, v).unwrap();
        }
        let (t, v): (Vec<i64>, Vec<f64>) = h.iter().unzip();
        prop_assert_eq!(t, ts2);
        prop_assert_eq!(bits(&v), bits(&v2));
    }

    #[test]
    fn blocks_round_trip_bit_exactly((ts, values) in samples(600)) {
        assert_block_round_trips(&ts, &values);
        let h = head_of(&ts, &values);
        let (dt, dv) = decode_block(&h.seal().unwrap()).unwrap();
        prop_assert_eq!(dt, ts);
        prop_assert_eq!(bits(&dv), bits(&values));
    }

    #[test]
    fn blocks_round_trip_in_any_time_order(
        samples in prop::collection::vec((any::<i64>(), value()), 0..300),
    ) {
        let (ts, values): (Vec<i64>, Vec<f64>) = samples.into_iter().unzip();
        assert_block_round_trips(&ts, &values);
    }

    #[test]
    fn decimal_series_round_trip_and_stay_small(
        start in -10_000i64..10_000,
        steps in prop::collection::vec(-50i64..=50, 1..2000),
        k in 0i32..=4,
    ) {
        let p = 10f64.powi(k);
        let mut m = start;
        let values: Vec<f64> = steps.iter().map(|d| { m += d; m as f64 / p }).collect();
        let ts: Vec<i64> = (0..values.len() as i64).map(|i| T0 + i * 10 * S).collect();
        let bytes = assert_block_round_trips(&ts, &values);
        // Steps of at most ±50 units: well under 2 bytes a sample once past the headers.
        prop_assert!(bytes.len() <= 64 + 2 * values.len(), "{} bytes", bytes.len());
    }

    #[test]
    fn truncated_or_flipped_blocks_are_corrupt(
        (ts, values) in samples(200),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let bytes = encode_block(&ts, &values).unwrap();
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert_eq!(decode_block(short).unwrap_err().kind(), StoreErrorKind::Corrupt);
        let mut flipped = bytes.clone();
        flipped[flip.index(bytes.len())] ^= 1 << bit;
        let (mut t, mut v) = (vec![1i64], vec![1.0f64]);
        let err = decode_block_into(&flipped, &mut t, &mut v).unwrap_err();
        prop_assert_eq!(err.kind(), StoreErrorKind::Corrupt);
        prop_assert_eq!((t, v), (vec![1i64], vec![1.0f64])); // left as they were
    }

    /// Damage behind a valid checksum (a bug in a writer, a forged block) reaches the parser
    /// and pco: whatever happens, no panic, and an error is `Corrupt` or `Unsupported`.
    #[test]
    fn damage_behind_a_valid_checksum_never_panics(
        (ts, values) in samples(200),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode_block(&ts, &values).unwrap();
        let mut body = bytes[..bytes.len() - 4].to_vec();
        for (at, b) in edits {
            let i = at.index(body.len());
            body[i] = b;
        }
        for body in [&body[..], &body[..cut.index(body.len())]] {
            let mut forged = body.to_vec();
            forged.extend_from_slice(&crc32(body).to_le_bytes());
            if let Err(e) = decode_block(&forged) {
                prop_assert!(
                    matches!(e.kind(), StoreErrorKind::Corrupt | StoreErrorKind::Unsupported),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_rejected_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let err = decode_block(&bytes).unwrap_err();
        prop_assert!(matches!(err.kind(), StoreErrorKind::Corrupt | StoreErrorKind::Unsupported));
    }

    #[test]
    fn block_stats_match_a_direct_computation((ts, values) in samples(200)) {
        let s = BlockStats::of(&ts, &values).unwrap();
        prop_assert_eq!(s.count, ts.len() as u64);
        prop_assert_eq!(s.nan_count, values.iter().filter(|v| v.is_nan()).count() as u64);
        let finite: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if finite.is_empty() {
            prop_assert!(s.min.is_nan() && s.max.is_nan());
            prop_assert_eq!(s.sum, 0.0);
        } else {
            prop_assert_eq!(s.min, finite.iter().copied().fold(f64::INFINITY, f64::min));
            prop_assert_eq!(s.max, finite.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            // Bit for bit, except the sign of a zero sum: the summary starts from +0.0 and
            // the standard library's `sum` from −0.0, so a block of only −0.0 differs there.
            let direct = finite.iter().sum::<f64>();
            prop_assert!(
                s.sum.to_bits() == direct.to_bits() || (s.sum == 0.0 && direct == 0.0),
                "{} vs {}", s.sum, direct
            );
        }
        if let (Some(&t0), Some(&t1)) = (ts.first(), ts.last()) {
            // Sorted input: the extremes are the ends.
            prop_assert_eq!((s.min_ts, s.max_ts), (t0, t1));
            prop_assert_eq!(s.first.to_bits(), values[0].to_bits());
            prop_assert_eq!(s.last.to_bits(), values[values.len() - 1].to_bits());
        } else {
            prop_assert_eq!(s, BlockStats::EMPTY);
        }
        prop_assert_eq!(BlockStats::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn merged_stats_of_adjacent_blocks_equal_the_whole(
        (ts, values) in samples(200),
        split in any::<prop::sample::Index>(),
    ) {
        let at = split.index(ts.len() + 1);
        let whole = BlockStats::of(&ts, &values).unwrap();
        let a = BlockStats::of(&ts[..at], &values[..at]).unwrap();
        let b = BlockStats::of(&ts[at..], &values[at..]).unwrap();
        let m = a.merge(&b);
        prop_assert_eq!(
            (m.count, m.nan_count, m.min_ts, m.max_ts),
            (whole.count, whole.nan_count, whole.min_ts, whole.max_ts)
        );
        prop_assert_eq!(m.min.to_bits(), whole.min.to_bits());
        prop_assert_eq!(m.max.to_bits(), whole.max.to_bits());
        prop_assert_eq!(m.first.to_bits(), whole.first.to_bits());
        prop_assert_eq!(m.last.to_bits(), whole.last.to_bits());
        // Sums agree up to rounding (both NaN when ∞ and −∞ meet).
        if whole.sum.is_finite() && m.sum.is_finite() {
            let scale = values.iter().filter(|v| v.is_finite()).map(|v| v.abs()).sum::<f64>();
            prop_assert!((m.sum - whole.sum).abs() <= scale * 1e-12 + 1e-300);
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE, reflected), independent of the crate's implementation.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn edge_cases_round_trip() {
    let cases: Vec<(Vec<i64>, Vec<f64>)> = vec![
        (vec![], vec![]),
        (vec![T0], vec![21.5]),
        (vec![i64::MIN], vec![f64::NAN]),
        (vec![T0; 100], vec![3.25; 100]), // duplicates, constant
        (vec![i64::MIN, i64::MAX], vec![-0.0, 0.0]), // the whole range in one step
        (vec![i64::MAX, i64::MIN, i64::MAX], vec![1.0, 2.0, 3.0]), // wrapping regular step
        (vec![0, 1, 3, 6], vec![21.5, -3.25, 1e9, 0.001]),
        (
            (0..5000).map(|i| T0 + i * 15 * S).collect(),
            vec![f64::INFINITY; 5000],
        ),
    ];
    for (ts, values) in &cases {
        assert_block_round_trips(ts, values);
        if ts.is_sorted() {
            assert_head_round_trips(ts, values);
        }
    }
}

#[test]
fn empty_block_is_small_and_decodes_empty() {
    let bytes = encode_block(&[], &[]).unwrap();
    assert!(bytes.len() <= 8, "{}", bytes.len());
    assert_eq!(decode_block(&bytes).unwrap(), (vec![], vec![]));
}

#[test]
fn mismatched_lengths_are_invalid_input() {
    let err = encode_block(&[1, 2, 3], &[1.0]).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput);
    assert!(err.reason().contains("3 timestamps but 1 values"), "{err}");
    let err = BlockStats::of(&[1], &[]).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::InvalidInput);
}

#[test]
fn oversized_counts_are_refused() {
    // A forged header announcing more samples than a block may hold, with a valid checksum.
    let mut body = vec![1u8, 0];
    let mut n = (MAX_BLOCK_SAMPLES as u64) + 1;
    while n >= 0x80 {
        body.push((n as u8) | 0x80);
        n >>= 7;
    }
    body.push(n as u8);
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&crc32(&body).to_le_bytes());
    let err = decode_block(&body).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    assert!(err.reason().contains("over the maximum"), "{err}");
}

#[test]
fn unknown_version_is_unsupported() {
    let mut body = encode_block(&[1], &[1.0]).unwrap();
    body.truncate(body.len() - 4);
    body[0] = 99;
    body.extend_from_slice(&crc32(&body).to_le_bytes());
    assert_eq!(
        decode_block(&body).unwrap_err().kind(),
        StoreErrorKind::Unsupported
    );
}

#[test]
fn corrupt_errors_name_the_offset() {
    let bytes = encode_block(&[1, 5, 6], &[0.5, 0.25, 0.125]).unwrap();
    let err = decode_block(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(err.reason().contains("byte offset"), "{err}");
}

#[test]
fn decimal_values_are_scaled() {
    // 21.5, −3.25, 1e9 and friends need k = 2 and compress far below 8 bytes a value.
    let base = [21.5, -3.25, 1e9, 0.0, 100.75, -17.0];
    let values: Vec<f64> = (0..4096).map(|i| base[i % base.len()]).collect();
    let ts: Vec<i64> = (0..4096).map(|i| T0 + i * 10 * S).collect();
    let bytes = assert_block_round_trips(&ts, &values);
    assert!(bytes.len() < 4096, "{} bytes", bytes.len());
    // −0.0 cannot be scaled: the block falls back to floats and stays exact.
    let mut with_neg_zero = values.clone();
    with_neg_zero[7] = -0.0;
    assert_block_round_trips(&ts, &with_neg_zero);
}

#[test]
fn head_chunk_rejects_without_panicking_at_the_extremes() {
    let mut h = HeadChunk::new();
    h.push(i64::MAX, 1.0).unwrap();
    assert_eq!(
        h.push(i64::MIN, 1.0).unwrap_err().kind(),
        StoreErrorKind::InvalidInput
    );
    h.push(i64::MAX, f64::NAN).unwrap();
    assert_eq!(h.len(), 2);
}

#[test]
fn block_stats_encoding_rejects_bad_bytes() {
    let s = BlockStats::of(&[1, 2], &[1.0, f64::NAN]).unwrap();
    let bytes = s.encode();
    assert_eq!(
        BlockStats::decode(&bytes[..10]).unwrap_err().kind(),
        StoreErrorKind::Corrupt
    );
    let mut v = bytes;
    v[0] = 7;
    assert_eq!(
        BlockStats::decode(&v).unwrap_err().kind(),
        StoreErrorKind::Unsupported
    );
    let mut v = bytes;
    v[65..73].copy_from_slice(&99u64.to_le_bytes()); // more NaNs than samples
    assert_eq!(
        BlockStats::decode(&v).unwrap_err().kind(),
        StoreErrorKind::Corrupt
    );
    assert_eq!(BlockStats::default(), BlockStats::EMPTY);
    assert_eq!(BlockStats::EMPTY.merge(&s), s);
    assert_eq!(s.merge(&BlockStats::EMPTY), s);
}

fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/timeseries");
    if root.is_dir() {
        Some(root)
    } else {
        println!("SKIP real-corpus round trips: {} not found", root.display());
        None
    }
}

/// Real series from `../shared/corpus/timeseries`, sealed in blocks of 8192 as the store
/// does, and through the head chunk, bit for bit.
#[test]
fn real_corpus_files_round_trip() {
    let Some(root) = corpus() else { return };
    let files: [(&str, Option<usize>, usize); 7] = [
        (
            "nab/realKnownCause/machine_temperature_system_failure.csv",
            Some(0),
            1,
        ),
        (
            "nab/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv",
            Some(0),
            1,
        ),
        ("vega/sf-temps.csv", Some(1), 0),
        ("vega/seattle-temps.csv", Some(0), 1),
        ("pvlib/723170TYA.CSV", Some(0), 31),
        ("pvlib/723170TYA.CSV", Some(0), 4),
        (
            "datacentertraces/alibaba2018_machine_usage_grouped_300_seconds.csv",
            None,
            0,
        ),
    ];
    for (file, ts_col, value_col) in files {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let (ts, values) = parse_csv_series(&text, ts_col, value_col, file).unwrap();
        assert!(ts.len() > 2000, "{file}: {} samples", ts.len());
        let mut total = 0;
        let (mut dt, mut dv) = (Vec::new(), Vec::new());
        for (t, v) in ts.chunks(8192).zip(values.chunks(8192)) {
            let bytes = encode_block(t, v).unwrap();
            total += bytes.len();
            decode_block_into(&bytes, &mut dt, &mut dv).unwrap();
        }
        assert_eq!(dt, ts, "{file}");
        assert_eq!(bits(&dv), bits(&values), "{file}");
        // Real data compresses: under 8 of the 16 raw bytes a sample.
        assert!(total < ts.len() * 8, "{file}: {total} bytes");
        assert_head_round_trips(&ts, &values);
    }
}
