//! Sealed blocks whose values are stored as a dictionary (block format version 2): values that
//! repeat round-trip bit for bit whatever their bits (NaN payloads, ±∞, ±0.0, subnormals,
//! decimals), the dictionary is chosen where it is smaller, blocks without it keep format
//! version 1, and damaged or forged dictionaries are `Corrupt` errors, never panics.

use kelvin_store::{StoreErrorKind, decode_block, decode_block_into, encode_block};
use pco::ChunkConfig;
use pco::standalone::simple_compress;
use proptest::prelude::*;

// Any bit pattern, the special ones often, decimals: the codec tests' values.
use crate::codec::{bits, value as distinct};

/// Values drawn from a pool of 1 to 40 distinct ones, so that they repeat.
fn repeating() -> impl Strategy<Value = Vec<f64>> {
    (
        prop::collection::vec(distinct(), 1..40),
        prop::collection::vec(any::<prop::sample::Index>(), 1..3000),
    )
        .prop_map(|(pool, picks)| picks.iter().map(|i| pool[i.index(pool.len())]).collect())
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn sized(out: &mut Vec<u8>, bytes: &[u8]) {
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// A hand-built block of `index.len()` samples at a regular cadence whose values are a
/// dictionary: `version`, the values' tag (3 for a dictionary), `u` announced distinct values
/// stored with the nested tag `inner` as pco `f64`s, then the indices.
fn dict_block(version: u8, tag: u8, u: u64, inner: u8, distinct: &[f64], index: &[u32]) -> Vec<u8> {
    let cfg = ChunkConfig::default();
    let mut out = vec![version, tag << 4];
    varint(&mut out, index.len() as u64);
    out.extend_from_slice(&0i64.to_le_bytes());
    varint(&mut out, 2000); // zigzag(1000)
    varint(&mut out, u);
    out.push(inner);
    sized(
        &mut out,
        &simple_compress(distinct, &cfg).expect("pco compresses"),
    );
    sized(
        &mut out,
        &simple_compress(index, &cfg).expect("pco compresses"),
    );
    with_crc(out)
}

/// splitmix64's finalizer (Steele, Lea & Flood 2014): a fixed, well-mixed hash.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn corrupt_reason(bytes: &[u8]) -> String {
    let e = decode_block(bytes).expect_err("a corrupt block");
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    e.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn repeating_values_round_trip_bit_exactly(
        values in repeating(),
        jitter in prop::collection::vec(0i64..3, 3000),
    ) {
        let ts: Vec<i64> = (0..values.len()).map(|i| i as i64 * 1000 + jitter[i]).collect();
        let bytes = encode_block(&ts, &values).expect("a valid block");
        prop_assert!(bytes[0] == 1 || bytes[0] == 2, "version {}", bytes[0]);
        let (back_ts, back) = decode_block(&bytes).expect("the block decodes");
        prop_assert_eq!(back_ts, ts);
        prop_assert_eq!(bits(&back), bits(&values));
    }

    /// Damage behind a valid checksum of a block that (often) holds a dictionary: no panic,
    /// and an error is `Corrupt` or `Unsupported` with the output left as it was.
    #[test]
    fn damaged_dictionary_blocks_never_panic(
        values in repeating(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let ts: Vec<i64> = (0..values.len() as i64).map(|i| i * 1000).collect();
        let bytes = encode_block(&ts, &values).expect("a valid block");
        let mut body = bytes[..bytes.len() - 4].to_vec();
        for (at, b) in edits {
            let i = at.index(body.len());
            body[i] = b;
        }
        let (mut t, mut v) = (vec![5i64], vec![0.5f64]);
        if let Err(e) = decode_block_into(&with_crc(body), &mut t, &mut v) {
            prop_assert!(
                matches!(e.kind(), StoreErrorKind::Corrupt | StoreErrorKind::Unsupported),
                "{e}"
            );
            prop_assert_eq!((t, v), (vec![5i64], vec![0.5f64]));
        }
    }
}

#[test]
fn few_distinct_floats_take_a_dictionary_and_version_2() {
    // 200 full-precision floats spread over a wide range (no decimal scale, no common base),
    // drawn independently: more than pco's bins can hold one each, so its floats keep many
    // offset bits, while a dictionary index takes under 8.
    let pool: Vec<f64> = (1..=200).map(|i| (i as f64).sqrt().exp() * 1e3).collect();
    let values: Vec<f64> = (0..8192u64)
        .map(|i| pool[(mix(i) % 200) as usize])
        .collect();
    let ts: Vec<i64> = (0..8192).map(|i| i * 1000).collect();
    let bytes = encode_block(&ts, &values).expect("a valid block");
    assert_eq!(bytes[0], 2, "format version 2");
    assert_eq!(bytes[1] >> 4, 3, "the dictionary encoding");
    // log2(200) < 7.7 bits a sample, plus 1,600 bytes of dictionary: under 1.2 bytes a sample.
    assert!(bytes.len() < 8192 * 6 / 5, "{} bytes", bytes.len());
    let (back_ts, back) = decode_block(&bytes).expect("decodes");
    assert_eq!(back_ts, ts);
    assert_eq!(bits(&back), bits(&values));
}

/// A committed dictionary block (format version 2) still decodes to the same samples and is
/// what this build writes for them, so a change of the layout cannot slip in unnoticed.
/// Regenerate deliberately with `KELVIN_UPDATE_GOLDEN=1` (and bump the version when the
/// bytes change).
#[test]
fn golden_dictionary_block_decodes_and_re_encodes_identically() {
    let pool: Vec<f64> = (0..40u64)
        .map(|i| f64::from_bits(mix(i) >> 12 | 0x4000_0000_0000_0000))
        .chain([f64::NAN, -0.0, f64::NEG_INFINITY])
        .collect();
    let values: Vec<f64> = (0..1000u64)
        .map(|i| pool[(mix(i + 1000) % pool.len() as u64) as usize])
        .collect();
    let ts: Vec<i64> = (0..1000)
        .map(|i| 1_700_000_000_000_000_000 + i * 15_000_000_000)
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/golden/v2/dictionary-block.bin");
    let bytes = encode_block(&ts, &values).expect("a valid block");
    if std::env::var_os("KELVIN_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
    }
    let golden = std::fs::read(&path).expect("the golden block is committed");
    assert_eq!(golden[0], 2, "a version 2 block");
    let (back_ts, back) = decode_block(&golden).expect("the golden block decodes");
    assert_eq!(back_ts, ts);
    assert_eq!(bits(&back), bits(&values));
    assert!(
        bytes == golden,
        "this build writes other bytes for the golden samples"
    );
}

#[test]
fn blocks_without_a_dictionary_stay_version_1() {
    let ts: Vec<i64> = (0..1000).map(|i| i * 1000).collect();
    // Every value distinct: no dictionary.
    let values: Vec<f64> = (0..1000).map(|i| (i as f64).sqrt()).collect();
    assert_eq!(encode_block(&ts, &values).unwrap()[0], 1);
    assert_eq!(encode_block(&ts, &vec![-0.0; 1000]).unwrap()[0], 1);
    assert_eq!(encode_block(&[], &[]).unwrap()[0], 1);
}

#[test]
fn a_hand_built_dictionary_decodes() {
    let distinct = [-f64::NAN, -1.5, -0.0, 0.0, 2.25, f64::INFINITY];
    let index: Vec<u32> = (0..500).map(|i| (i * 7 % 6) as u32).collect();
    let bytes = dict_block(2, 3, 6, 2, &distinct, &index);
    let (ts, values) = decode_block(&bytes).expect("decodes");
    assert_eq!(ts.len(), 500);
    let want: Vec<f64> = index.iter().map(|&i| distinct[i as usize]).collect();
    assert_eq!(bits(&values), bits(&want));
}

#[test]
fn bad_dictionaries_are_corrupt() {
    let distinct = [1.0, 2.5, 4.0];
    let good: Vec<u32> = (0..300).map(|i| i % 3).collect();
    let mut past = good.clone();
    past[123] = 3;
    let reason = corrupt_reason(&dict_block(2, 3, 3, 2, &distinct, &past));
    assert!(
        reason.contains("dictionary index 3 past the 3 values"),
        "{reason}"
    );
    // A count of distinct values of zero, or more than the samples.
    assert!(corrupt_reason(&dict_block(2, 3, 0, 2, &distinct, &good)).contains("dictionary of 0"));
    assert!(
        corrupt_reason(&dict_block(2, 3, 301, 2, &distinct, &good)).contains("dictionary of 301")
    );
    // Announcing more distinct values than the nested stream holds.
    assert!(corrupt_reason(&dict_block(2, 3, 4, 2, &distinct, &good)).contains("pco holds 3"));
    // A dictionary nested in a dictionary, or a constant as the nested encoding.
    for inner in [0, 3, 9] {
        let reason = corrupt_reason(&dict_block(2, 3, 3, inner, &distinct, &good));
        assert!(
            reason.contains(&format!("dictionary encoding {inner}")),
            "{reason}"
        );
    }
    // The dictionary is not an encoding of format version 1.
    let reason = corrupt_reason(&dict_block(1, 3, 3, 2, &distinct, &good));
    assert!(reason.contains("unknown value encoding 3"), "{reason}");
    // A version past this build's is unsupported.
    let e = decode_block(&dict_block(3, 3, 3, 2, &distinct, &good)).unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Unsupported);
}
