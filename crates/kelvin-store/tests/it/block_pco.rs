//! Sealed blocks and the check of each pco chunk's header that `decode_block` runs before pco
//! allocates a chunk's dictionary or lookback window: every stream pco writes passes it and
//! decodes bit for bit (Dict mode, which `encode_block` never picks, lookback delta encoding,
//! several chunks), and a header announcing more than a valid block holds is a `Corrupt` error.
//!
//! Blocks are built by hand here, in the layout `encode_block` documents, around pco streams
//! written with the modes and encodings asked for.

use kelvin_store::{StoreErrorKind, decode_block, encode_block};
use pco::standalone::simple_compress;
use pco::{ChunkConfig, DeltaSpec, ModeSpec, PagingSpec};
use proptest::prelude::*;

/// `10^k`, as the block decoder scales decimal values.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// How a hand-built block stores its timestamps.
enum Ts<'a> {
    /// `0, 1000, 2000, …`
    Regular,
    /// A pco standalone `i64` stream.
    Pco(&'a [u8]),
}

/// How a hand-built block stores its values.
enum Values<'a> {
    /// Every value the same.
    Const(f64),
    /// A pco standalone `f64` stream.
    Pco(&'a [u8]),
    /// `m / 10^k` for a pco standalone `i64` stream of `m`s.
    Decimal(u8, &'a [u8]),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A sealed block of `n` samples, checksummed.
fn block(n: usize, ts: Ts<'_>, values: Values<'_>) -> Vec<u8> {
    let mut out = vec![1, 0];
    put_varint(&mut out, n as u64);
    let ts_tag = match ts {
        Ts::Regular => {
            out.extend_from_slice(&0i64.to_le_bytes());
            put_varint(&mut out, 2000); // zigzag(1000)
            0
        }
        Ts::Pco(stream) => {
            put_sized(&mut out, stream);
            1
        }
    };
    let values_tag = match values {
        Values::Const(v) => {
            out.extend_from_slice(&v.to_bits().to_le_bytes());
            0
        }
        Values::Decimal(k, stream) => {
            out.push(k);
            put_sized(&mut out, stream);
            1
        }
        Values::Pco(stream) => {
            put_sized(&mut out, stream);
            2
        }
    };
    out[1] = ts_tag | (values_tag << 4);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Where the first chunk of a pco 1.1 standalone stream starts: after `pco!`, the standalone
/// version, the uniform type byte, the size hint (a 6-bit power `p − 1` and `p` bits, to the
/// byte boundary) and the two-byte format version.
fn first_chunk(stream: &[u8]) -> usize {
    let p = usize::from(stream[6] & 0x3f) + 1;
    6 + (6 + p).div_ceil(8) + 2
}

/// Bit `bit` of the chunk metadata starting 4 bytes into the chunk at `chunk`, as an index
/// into the stream's bits (pco reads bits least significant first).
fn meta_bit(chunk: usize, bit: usize) -> usize {
    (chunk + 4) * 8 + bit
}

fn get_bits(bytes: &[u8], at: usize, n: usize) -> u64 {
    (0..n).fold(0, |v, i| {
        let b = at + i;
        v | (u64::from((bytes[b / 8] >> (b % 8)) & 1) << i)
    })
}

fn set_bits(bytes: &mut [u8], at: usize, n: usize, value: u64) {
    for i in 0..n {
        let b = at + i;
        let mask = 1u8 << (b % 8);
        if (value >> i) & 1 == 1 {
            bytes[b / 8] |= mask;
        } else {
            bytes[b / 8] &= !mask;
        }
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Values drawn from a few unique bit patterns (NaNs, infinities and −0.0 included).
fn few_unique() -> impl Strategy<Value = Vec<u64>> {
    (
        proptest::collection::vec(any::<u64>(), 1..24),
        proptest::collection::vec(any::<prop::sample::Index>(), 1..3000),
    )
        .prop_map(|(uniques, picks)| {
            picks
                .iter()
                .map(|i| uniques[i.index(uniques.len())])
                .collect()
        })
}

fn dict_config(page: usize) -> ChunkConfig {
    ChunkConfig::default()
        .with_mode_spec(ModeSpec::TryDict)
        .with_paging_spec(PagingSpec::EqualPagesUpTo(page))
}

/// The Dict stream of a few values and its first chunk's dictionary length.
fn dict_stream() -> (Vec<f64>, Vec<u8>) {
    let values: Vec<f64> = (0..64).map(|i| [1.5, 2.25, -7.0][i % 3]).collect();
    let stream = simple_compress(&values, &dict_config(1 << 18)).expect("pco compresses");
    let chunk = first_chunk(&stream);
    assert_eq!(get_bits(&stream, meta_bit(chunk, 0), 4), 4, "Dict mode");
    assert_eq!(
        get_bits(&stream, meta_bit(chunk, 4), 25),
        3,
        "3 unique values"
    );
    (values, stream)
}

/// A lookback stream of 64 values (pco writes a window of 2^6) with its first chunk's offset.
fn lookback_stream() -> (Vec<f64>, Vec<u8>, usize) {
    let values: Vec<f64> = (0..64).map(|i| f64::from(i % 5) * 0.25).collect();
    let config = ChunkConfig::default()
        .with_mode_spec(ModeSpec::Classic)
        .with_delta_spec(DeltaSpec::TryLookback);
    let stream = simple_compress(&values, &config).expect("pco compresses");
    let chunk = first_chunk(&stream);
    assert_eq!(get_bits(&stream, meta_bit(chunk, 0), 4), 0, "Classic mode");
    assert_eq!(get_bits(&stream, meta_bit(chunk, 4), 4), 2, "lookback");
    assert_eq!(
        get_bits(&stream, meta_bit(chunk, 8), 5) + 1,
        6,
        "a window of 2^6"
    );
    (values, stream, chunk)
}

fn corrupt_reason(bytes: &[u8]) -> String {
    let e = decode_block(bytes).expect_err("a corrupt block");
    assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
    e.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `encode_block` on values with few unique values (pco's automatic mode never picks Dict):
    /// the block decodes bit for bit.
    #[test]
    fn few_unique_values_round_trip(raw in few_unique()) {
        let values: Vec<f64> = raw.iter().map(|&b| f64::from_bits(b)).collect();
        let ts: Vec<i64> = (0..values.len() as i64).map(|i| i * 7 + (i % 3)).collect();
        let bytes = encode_block(&ts, &values).expect("a valid block");
        let (back_ts, back) = decode_block(&bytes).expect("the block decodes");
        prop_assert_eq!(back_ts, ts);
        prop_assert_eq!(bits(&back), bits(&values));
    }

    /// pco's Dict streams, in one chunk or several, as the block's values (floats and decimal
    /// integers) and timestamps: the check lets every chunk through and the block decodes bit
    /// for bit.
    #[test]
    fn dict_streams_pass_the_check_and_decode_exactly(
        raw in few_unique(),
        page in 1usize..3000,
        k in 0u8..10,
    ) {
        let n = raw.len();
        let values: Vec<f64> = raw.iter().map(|&b| f64::from_bits(b)).collect();
        let stream = simple_compress(&values, &dict_config(page)).expect("pco compresses");
        // pco falls back to classic mode for a chunk its size guarantee would not cover
        // (a few numbers, most of them unique); from 256 numbers on, Dict always fits.
        let chunk = first_chunk(&stream);
        if get_bits(&stream, chunk * 8 + 8, 24) + 1 >= 256 {
            prop_assert_eq!(get_bits(&stream, meta_bit(chunk, 0), 4), 4, "Dict mode");
        }
        let (_, back) = decode_block(&block(n, Ts::Regular, Values::Pco(&stream)))
            .expect("a Dict block decodes");
        prop_assert_eq!(bits(&back), bits(&values));

        let ints: Vec<i64> = raw.iter().map(|&b| (b >> 12) as i64 - (1 << 51)).collect();
        let stream = simple_compress(&ints, &dict_config(page)).expect("pco compresses");
        let (ts, back) = decode_block(&block(n, Ts::Pco(&stream), Values::Decimal(k, &stream)))
            .expect("a Dict block decodes");
        let p = POW10[usize::from(k)];
        prop_assert_eq!(ts, ints.clone());
        prop_assert_eq!(bits(&back), bits(&ints.iter().map(|&m| m as f64 / p).collect::<Vec<_>>()));
    }

    /// pco's lookback streams decode exactly, and so do the same streams with each chunk's
    /// window widened to the widest the check allows (the chunk's size rounded up to a power of
    /// two, at least 16): the check is no stricter than the format.
    #[test]
    fn lookback_streams_decode_up_to_the_widest_allowed_window(
        raw in few_unique(),
        period in 1usize..100,
    ) {
        let values: Vec<f64> = (0..raw.len()).map(|i| f64::from_bits(raw[i % period.min(raw.len())])).collect();
        let config = ChunkConfig::default().with_delta_spec(DeltaSpec::TryLookback);
        let stream = simple_compress(&values, &config).expect("pco compresses");
        let (_, back) = decode_block(&block(values.len(), Ts::Regular, Values::Pco(&stream)))
            .expect("a lookback block decodes");
        prop_assert_eq!(bits(&back), bits(&values));

        let chunk = first_chunk(&stream);
        let mode = get_bits(&stream, meta_bit(chunk, 0), 4);
        // Classic mode has no payload; the multiplier modes a 64-bit base; quantization 8 bits.
        let delta_at = match mode { 0 => 4, 1 | 2 => 68, _ => 12 };
        prop_assume!(get_bits(&stream, meta_bit(chunk, delta_at), 4) == 2);
        let widest = (values.len().next_power_of_two().trailing_zeros()).max(4);
        let mut wide = stream.clone();
        set_bits(&mut wide, meta_bit(chunk, delta_at + 4), 5, u64::from(widest - 1));
        let (_, back) = decode_block(&block(values.len(), Ts::Regular, Values::Pco(&wide)))
            .expect("the widest window the check allows decodes");
        prop_assert_eq!(bits(&back), bits(&values));
        set_bits(&mut wide, meta_bit(chunk, delta_at + 4), 5, u64::from(widest));
        let why = corrupt_reason(&block(values.len(), Ts::Regular, Values::Pco(&wide)));
        prop_assert!(why.contains("lookback window"), "{}", why);
    }
}

#[test]
fn a_dictionary_longer_than_its_chunk_is_corrupt() {
    let (values, stream) = dict_stream();
    let at = meta_bit(first_chunk(&stream), 4);
    for (n_unique, reason) in [
        (
            64,
            "a dictionary of 64 values (512 bytes) with 49 bytes left",
        ),
        (65, "a dictionary of 65 values for a chunk of 64 numbers"),
        (
            (1 << 25) - 1,
            "a dictionary of 33554431 values for a chunk of 64 numbers",
        ),
    ] {
        let mut bad = stream.clone();
        set_bits(&mut bad, at, 25, n_unique);
        let why = corrupt_reason(&block(values.len(), Ts::Regular, Values::Pco(&bad)));
        assert!(why.contains(&format!("values: pco: {reason}")), "{why}");
    }
    // The dictionary is stored uncompressed; with its 3 values the block decodes.
    let (_, back) = decode_block(&block(64, Ts::Regular, Values::Pco(&stream))).expect("decodes");
    assert_eq!(bits(&back), bits(&values));
}

#[test]
fn a_lookback_window_wider_than_its_chunk_is_corrupt() {
    let (values, stream, chunk) = lookback_stream();
    for log in [7, 24] {
        let mut bad = stream.clone();
        set_bits(&mut bad, meta_bit(chunk, 8), 5, log - 1);
        let why = corrupt_reason(&block(values.len(), Ts::Regular, Values::Pco(&bad)));
        assert!(
            why.contains(&format!(
                "values: pco: a lookback window of 2^{log} numbers for a chunk of 64 (at most 2^6)"
            )),
            "{why}"
        );
    }
}

#[test]
fn a_chunk_of_more_numbers_than_the_block_is_corrupt() {
    let (values, stream, _) = lookback_stream();
    let why = corrupt_reason(&block(63, Ts::Regular, Values::Pco(&stream)));
    assert!(
        why.contains(
            "values: pco: a chunk of 64 numbers, more than the 63 left of the block's count"
        ),
        "{why}"
    );
    let why = corrupt_reason(&block(65, Ts::Regular, Values::Pco(&stream)));
    assert!(
        why.contains("values: pco holds 64 numbers, the header says 65"),
        "{why}"
    );
    // Two chunks of 64 in a block of 100: the second is refused before pco reads it.
    let twice: Vec<f64> = values.iter().chain(&values).copied().collect();
    let stream = simple_compress(&twice, &dict_config(64)).expect("pco compresses");
    let why = corrupt_reason(&block(100, Ts::Regular, Values::Pco(&stream)));
    assert!(
        why.contains(
            "values: pco: a chunk of 64 numbers, more than the 36 left of the block's count"
        ),
        "{why}"
    );
    let (_, back) = decode_block(&block(128, Ts::Regular, Values::Pco(&stream))).expect("decodes");
    assert_eq!(bits(&back), bits(&twice));
}

#[test]
fn constant_blocks_and_pco_timestamps_still_decode() {
    let ts: Vec<i64> = (0..300).map(|i| i * i).collect();
    let stream = simple_compress(&ts, &dict_config(128)).expect("pco compresses");
    let (back_ts, back) =
        decode_block(&block(300, Ts::Pco(&stream), Values::Const(-0.0))).expect("decodes");
    assert_eq!(back_ts, ts);
    assert!(back.iter().all(|v| v.to_bits() == (-0.0f64).to_bits()));
}
