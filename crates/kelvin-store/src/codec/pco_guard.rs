//! A look at each pco chunk's header before pco reads it, so a damaged or forged block cannot
//! make pco allocate memory it has not earned.
//!
//! pco 1.1 allocates two buffers from numbers in a chunk's metadata before it reads any data:
//!
//! - **Dict mode**: the dictionary, `n_unique` latents (a 25-bit field, up to 2^25 − 1, so up
//!   to 256 MiB of 64-bit latents), allocated before its values are read
//!   (`pco-1.1.0/src/metadata/mode.rs`, `Mode::read_from`).
//! - **Lookback delta encoding**: a window buffer of `2 · max(2^window_n_log, 256)` latents per
//!   latent variable that uses it (`pco-1.1.0/src/delta/lookback.rs`,
//!   `new_window_buffer_and_pos`), with `window_n_log` up to 24 on read: 2^25 latents, 256 MiB
//!   of 64-bit latents, for the primary latents and as much again for the secondary ones.
//!
//! Everything else pco allocates from a chunk's metadata is small: at most 2^14 bins per latent
//! variable (the ANS table size bounds the 15-bit bin count), ANS tables of at most 2^14
//! states, a lookback state of at most 2^15 latents, at most 32 convolution weights. pco
//! offers no setting that bounds the two buffers (`FileDecompressor::with_max_prealloc` only
//! caps the preallocation for the file's size hint), so [`check_chunk`] reads the few fields
//! that size them and refuses a chunk whose buffers could not belong to a valid block:
//!
//! - a chunk of more numbers than the block has left to decode;
//! - a dictionary with more unique values than the chunk has numbers, or with more values than
//!   the bytes left in the stream can hold (the dictionary is stored uncompressed);
//! - a lookback window wider than the chunk: larger than `max(16, n.next_power_of_two())` for a
//!   chunk of `n` numbers. pco's encoder picks `clamp(n.next_power_of_two(), 16, 2^15)`, and
//!   a lookback can never reach further back than the chunk's start.
//!
//! With a block of at most [`super::MAX_BLOCK_SAMPLES`] (2^22) samples, that bounds a
//! dictionary by the block's size and a window buffer by 2 · 2^22 latents (64 MiB), at most two
//! per chunk.
//!
//! The format, from pco's source (`src/standalone/decompressor.rs`, `src/metadata/`): bits are
//! read least significant first within little-endian bytes. A chunk starts with a number type
//! byte (0 ends the stream), `n − 1` in 24 bits, then the chunk metadata: the mode in 4 bits
//! (0 classic; 1 integer multiplier and 2 float multiplier, each followed by a base latent;
//! 3 float quantization, followed by `k` in 8 bits; 4 dictionary, followed by `n_unique` in 25
//! bits, zero bits to the byte boundary and the `n_unique` latents), then, for format
//! versions 3 and later, the delta encoding in 4 bits (2 is lookback, followed by
//! `window_n_log − 1` in 5 bits, `state_n_log` in 4 bits and a flag).

use std::mem::size_of;

/// pco's mode numbers (`BITS_TO_ENCODE_MODE_VARIANT` = 4 bits).
const MODE_CLASSIC: u64 = 0;
const MODE_INT_MULT: u64 = 1;
const MODE_FLOAT_MULT: u64 = 2;
const MODE_FLOAT_QUANT: u64 = 3;
const MODE_DICT: u64 = 4;
/// pco's delta encoding number of lookback (`BITS_TO_ENCODE_DELTA_ENCODING_VARIANT` = 4 bits).
const DELTA_LOOKBACK: u64 = 2;
/// The smallest lookback window pco's encoder writes, as a log2
/// (`ENCODING_LOOKBACK_MIN_WINDOW_N_LOG`).
const MIN_WINDOW_LOG: u32 = 4;

/// The mode of a chunk, as far as its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkMode {
    /// Each number is its own latent.
    Classic,
    /// A multiple of an integer base plus an adjustment.
    IntMult,
    /// A multiple of a float base plus an adjustment in ULPs.
    FloatMult,
    /// Quantized floats plus low bits.
    FloatQuant,
    /// Indices into a dictionary of `n_unique` values.
    Dict {
        /// The dictionary's length.
        n_unique: usize,
        /// The bytes of the stream from the dictionary's first value to the end.
        bytes_left: usize,
    },
    /// A mode number this reader does not know (pco refuses it).
    Unknown(u64),
}

/// What the start of a pco chunk says about the memory pco will allocate for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkHead {
    /// The chunk's count of numbers (1 to 2^24).
    pub n: usize,
    /// The chunk's mode.
    pub mode: ChunkMode,
    /// `window_n_log` when the chunk uses lookback delta encoding (1 to 32 on the wire).
    pub lookback_window_log: Option<u32>,
}

/// Reads bits least significant first within bytes, as pco's `BitReader` does; past the end
/// it reads zeros (as pco's padded reader does before it reports the stream too short).
struct Bits<'a> {
    src: &'a [u8],
    bit: usize,
}

impl Bits<'_> {
    /// The next `n` bits (`n <= 64`) as an integer, the first bit read the least significant.
    fn read(&mut self, n: u32) -> u64 {
        let mut v = 0u64;
        for i in 0..n {
            let at = self.bit + i as usize;
            let byte = self.src.get(at / 8).copied().unwrap_or(0);
            v |= u64::from((byte >> (at % 8)) & 1) << i;
        }
        self.bit += n as usize;
        v
    }

    fn skip(&mut self, n_bits: usize) {
        self.bit = self.bit.saturating_add(n_bits);
    }

    /// Moves to the next byte boundary.
    fn align(&mut self) {
        self.bit = self.bit.div_ceil(8) * 8;
    }
}

/// Reads the header of the chunk at the start of `src` (a pco standalone stream past its file
/// header, or past the previous chunk), for numbers of type `T` in a stream of pco format
/// major version `format_major`. `None` at the termination byte that ends the stream.
pub(crate) fn chunk_head<T>(src: &[u8], format_major: u8) -> Option<ChunkHead> {
    let latent_bits = 8 * size_of::<T>();
    let mut r = Bits { src, bit: 0 };
    if r.read(8) == 0 {
        return None;
    }
    let n = r.read(24) as usize + 1;
    let mode = match r.read(4) {
        MODE_CLASSIC => ChunkMode::Classic,
        MODE_INT_MULT => {
            r.skip(latent_bits);
            ChunkMode::IntMult
        }
        MODE_FLOAT_MULT => {
            r.skip(latent_bits);
            ChunkMode::FloatMult
        }
        MODE_FLOAT_QUANT => {
            r.skip(8);
            ChunkMode::FloatQuant
        }
        MODE_DICT => {
            let n_unique = r.read(25) as usize;
            r.align();
            let bytes_left = src.len().saturating_sub(r.bit / 8);
            r.skip(n_unique.saturating_mul(latent_bits));
            ChunkMode::Dict {
                n_unique,
                bytes_left,
            }
        }
        other => {
            return Some(ChunkHead {
                n,
                mode: ChunkMode::Unknown(other),
                lookback_window_log: None,
            });
        }
    };
    // Before format version 3 the delta encoding was a consecutive order only.
    let lookback_window_log =
        (format_major >= 3 && r.read(4) == DELTA_LOOKBACK).then(|| 1 + r.read(5) as u32);
    Some(ChunkHead {
        n,
        mode,
        lookback_window_log,
    })
}

/// Checks the chunk at the start of `src` before pco reads it: `Err` with the reason when its
/// header announces more numbers than the `n_left` the block has left, or a dictionary or a
/// lookback window larger than a valid chunk of its size has (see the module documentation).
/// Never refuses a chunk pco's encoder wrote for at most `n_left` numbers.
pub(crate) fn check_chunk<T>(src: &[u8], format_major: u8, n_left: usize) -> Result<(), String> {
    let Some(head) = chunk_head::<T>(src, format_major) else {
        return Ok(());
    };
    let n = head.n;
    if n > n_left {
        return Err(format!(
            "a chunk of {n} numbers, more than the {n_left} left of the block's count"
        ));
    }
    if let ChunkMode::Dict {
        n_unique,
        bytes_left,
    } = head.mode
    {
        if n_unique > n {
            return Err(format!(
                "a dictionary of {n_unique} values for a chunk of {n} numbers"
            ));
        }
        let bytes = n_unique.saturating_mul(size_of::<T>());
        if bytes > bytes_left {
            return Err(format!(
                "a dictionary of {n_unique} values ({bytes} bytes) with {bytes_left} bytes left"
            ));
        }
    }
    if let Some(log) = head.lookback_window_log {
        let max_log = MIN_WINDOW_LOG.max(usize::BITS - (n - 1).leading_zeros());
        if log > max_log {
            return Err(format!(
                "a lookback window of 2^{log} numbers for a chunk of {n} (at most 2^{max_log})"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pco::standalone::{FileDecompressor, simple_compress};
    use pco::{ChunkConfig, DeltaSpec, ModeSpec};
    use proptest::prelude::*;

    use super::*;

    /// The first chunk of a standalone stream: its bytes and the format's major version.
    fn first_chunk(stream: &[u8]) -> (&[u8], u8) {
        let (fd, rest) = FileDecompressor::new(stream).expect("a pco header");
        (rest, fd.format_version().major)
    }

    #[test]
    fn reads_the_bits_least_significant_first() {
        // pco's own `test_bit_reader` (`pco-1.1.0/src/bit_reader.rs`).
        let mut r = Bits {
            src: &[137, 38, 255, 65],
            bit: 0,
        };
        assert_eq!(r.read(4), 9);
        assert_eq!(r.read(4), 8);
        assert_eq!(r.read(8), 38);
        assert_eq!(r.read(15), 255 + 65 * 256);
        r.align();
        assert_eq!(r.bit, 32);
        assert_eq!(r.read(8), 0, "zeros past the end");
    }

    #[test]
    fn finds_the_lookback_window_pco_writes() {
        let values: Vec<i64> = (0..5000).map(|i| (i % 300) * (i % 7)).collect();
        let config = ChunkConfig::default().with_delta_spec(DeltaSpec::TryLookback);
        let stream = simple_compress(&values, &config).expect("pco compresses");
        let (chunk, major) = first_chunk(&stream);
        let head = chunk_head::<i64>(chunk, major).expect("a chunk");
        assert_eq!(head.n, 5000);
        // pco's encoder: the next power of two of n, within 2^4..=2^15.
        assert_eq!(head.lookback_window_log, Some(13));
        assert_eq!(check_chunk::<i64>(chunk, major, 5000), Ok(()));
        assert!(check_chunk::<i64>(chunk, major, 4999).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// pco's own Dict streams: the reader finds the mode and the dictionary's length, and
        /// the check lets them through. (With at least 256 numbers and at most 24 unique
        /// values, a dictionary is always smaller than pco's size guarantee, so pco never falls
        /// back to classic mode.)
        #[test]
        fn finds_dict_mode_and_its_length(
            uniques in proptest::collection::hash_set(any::<u64>(), 1..24),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 256..3000),
        ) {
            let uniques: Vec<u64> = uniques.into_iter().collect();
            let values: Vec<f64> = picks
                .iter()
                .map(|i| f64::from_bits(uniques[i.index(uniques.len())]))
                .collect();
            let config = ChunkConfig::default().with_mode_spec(ModeSpec::TryDict);
            let stream = simple_compress(&values, &config).expect("pco compresses");
            let (chunk, major) = first_chunk(&stream);
            let head = chunk_head::<f64>(chunk, major).expect("a chunk");
            let used = values
                .iter()
                .map(|v| v.to_bits())
                .collect::<std::collections::HashSet<_>>()
                .len();
            prop_assert_eq!(head.n, values.len());
            match head.mode {
                ChunkMode::Dict { n_unique, .. } => prop_assert_eq!(n_unique, used),
                other => prop_assert!(false, "mode {:?}, not Dict", other),
            }
            prop_assert_eq!(check_chunk::<f64>(chunk, major, values.len()), Ok(()));
        }
    }
}
