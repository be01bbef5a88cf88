//! The store's sealed-block codec, `kelvin_store::decode_block` (what reading a block file or
//! a query over sealed data runs), and `BlockStats::decode` (the 73-byte summary kept beside
//! every block).
//!
//! Input: the first byte chooses a mode. 0: the rest is a block, as is. 1: the rest is a block
//! body and the target appends its CRC-32, so the fuzzer reaches the pco and cadence decoders
//! behind the checksum. 2 and 3: the rest builds up to 512 samples, `encode_block` encodes
//! them, and the block must decode to exactly those samples (every `f64` bit pattern); then it
//! is corrupted as the remaining bytes say (mode 2 re-seals it with a valid CRC) and decoded
//! again. Every mode also decodes the first 73 bytes as `BlockStats`, and a decoded
//! `BlockStats` must survive `encode` / `decode`.
#![no_main]

use kelvin_fuzz::{Bytes, budget, corrupt};
use kelvin_store::{BlockStats, MAX_BLOCK_SAMPLES, decode_block, encode_block};
use libfuzzer_sys::fuzz_target;

fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

fn decode_checked(block: &[u8]) {
    if let Ok((ts, values)) = decode_block(block) {
        assert_eq!(
            ts.len(),
            values.len(),
            "decode_block: columns differ in length"
        );
        assert!(
            ts.len() <= MAX_BLOCK_SAMPLES,
            "decode_block: more than a block holds"
        );
        let stats = BlockStats::of(&ts, &values).expect("equal lengths");
        assert_eq!(stats.count, ts.len() as u64);
    }
}

fn stats_checked(bytes: &[u8]) {
    let head = &bytes[..bytes.len().min(BlockStats::ENCODED_LEN)];
    if let Ok(s) = BlockStats::decode(head) {
        let again = BlockStats::decode(&s.encode()).expect("an encoded BlockStats decodes");
        assert_eq!(again, s, "BlockStats does not survive encode/decode");
    }
}

fn samples(b: &mut Bytes<'_>) -> (Vec<i64>, Vec<f64>) {
    let n = b.u16() as usize % 513;
    let mut t = b.u64() as i64;
    let mut ts = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    let regular = b.u8().is_multiple_of(2);
    let step = i64::from(b.u16());
    for _ in 0..n {
        ts.push(t);
        let d = if regular {
            step
        } else {
            i64::from(b.u16()) - 256
        };
        t = t.wrapping_add(d);
        let v = match b.u8() % 4 {
            0 => f64::from_bits(b.u64()),
            1 => f64::from(b.u16()) / 10.0,
            2 => 42.5,
            _ => f64::from(b.u8()),
        };
        values.push(v);
    }
    (ts, values)
}

fuzz_target!(|data: &[u8]| {
    budget(|| {
        let mut b = Bytes::new(data);
        let mode = b.u8() % 4;
        let block = match mode {
            0 => b.rest().to_vec(),
            1 => with_crc(b.rest().to_vec()),
            _ => {
                let (ts, values) = samples(&mut b);
                let mut block = encode_block(&ts, &values).expect("a valid block encodes");
                let (back_ts, back_values) = decode_block(&block).expect("a fresh block decodes");
                assert_eq!(back_ts, ts, "timestamps do not round-trip");
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&back_values),
                    bits(&values),
                    "values do not round-trip"
                );
                corrupt(&mut block, &mut b);
                if mode == 2 && block.len() >= 4 {
                    block.truncate(block.len() - 4);
                    block = with_crc(block);
                }
                block
            }
        };
        kelvin_fuzz::dump("input.block", &block);
        decode_checked(&block);
        stats_checked(&block);
        stats_checked(b.rest());
    });
});
