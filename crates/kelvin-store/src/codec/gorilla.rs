//! The head chunk: an append-only Gorilla bit stream of (timestamp, value) samples.
//!
//! Encoding after T. Pelkonen et al., *Gorilla: A Fast, Scalable, In-Memory Time Series
//! Database*, PVLDB 8(12), 2015, §4.1: timestamps as deltas of deltas with a prefix code of
//! bucket widths, values as the XOR with the previous value (leading/trailing-zero window).
//! The bucket widths are re-chosen for nanosecond timestamps (see [`HeadChunk`]); the bit order
//! is LSB-first into `u64` words.

use std::fmt;

use super::bits::{BitReader, BitWriter, mask, unzigzag, zigzag};
use crate::{StoreError, StoreErrorKind};

/// Delta-of-delta buckets: `(prefix length, prefix bits LSB-first, payload width)`, indexed by
/// the number of prefix ones (the decoder's `trailing_ones` of a 4-bit peek).
const BUCKETS: [(u32, u64, u32); 5] = [
    (1, 0b0, 0),
    (2, 0b01, 20),
    (3, 0b011, 30),
    (4, 0b0111, 44),
    (4, 0b1111, 64),
];

/// The bucket `(prefix length, prefix bits, payload width)` for a zigzagged delta of delta of
/// `b` significant bits (0..=64).
const BUCKET_OF_BITS: [(u32, u64, u32); 65] = {
    let mut t = [BUCKETS[0]; 65];
    let mut b = 1;
    while b <= 64 {
        let i = if b <= 20 {
            1
        } else if b <= 30 {
            2
        } else if b <= 44 {
            3
        } else {
            4
        };
        t[b] = BUCKETS[i];
        b += 1;
    }
    t
};

/// The still-open chunk of a series: samples appended in time order into a compact Gorilla
/// bit stream (Pelkonen et al., PVLDB 2015), ready to be decoded or sealed into a block with
/// [`encode_block`](crate::encode_block).
///
/// - Timestamps (`i64` nanoseconds, non-decreasing): the first is kept as is; each later one
///   as the delta of its delta from the previous, zigzagged, in one of five buckets: `0` (1 bit:
///   a perfectly regular cadence), `10` + 20 bits (jitter within ±0.5 ms), `110` + 30 bits
///   (±0.5 s), `1110` + 44 bits (±2.4 h, e.g. a missed 15 s scrape), `1111` + 64 bits (anything,
///   with wrapping arithmetic, so gaps across the whole `i64` range are exact).
/// - Values: the first as its 64 raw bits; each later one as `0` (same bits as before), `10` +
///   the XOR's meaningful bits within the previous leading/trailing-zero window, or `11` + 5
///   bits of leading zeros + 6 bits of length + the meaningful bits. Every `f64` bit pattern
///   (NaN payloads, ±∞, −0.0, subnormals) round-trips exactly.
///
/// ```
/// use kelvin_store::HeadChunk;
///
/// let mut head = HeadChunk::new();
/// for i in 0..100i64 {
///     head.push(1_700_000_000_000_000_000 + i * 15_000_000_000, 20.0 + (i % 3) as f64)?;
/// }
/// assert_eq!(head.len(), 100);
/// assert_eq!(head.last_ts(), Some(1_700_000_000_000_000_000 + 99 * 15_000_000_000));
/// assert!(head.push(0, 1.0).is_err()); // earlier than the last sample
///
/// let (mut ts, mut values) = (Vec::new(), Vec::new());
/// head.decode_into(&mut ts, &mut values);
/// assert_eq!(values[4], 21.0);
/// assert_eq!(head.iter().nth(5), Some((ts[5], 22.0)));
/// assert!(head.bit_len() < 100 * 16); // vs 128 raw bits per sample
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
#[derive(Clone, Default)]
pub struct HeadChunk {
    bits: BitWriter,
    len: usize,
    first_ts: i64,
    last_ts: i64,
    last_delta: i64,
    last_bits: u64,
    lead: u32,
    trail: u32,
}

impl fmt::Debug for HeadChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadChunk")
            .field("len", &self.len)
            .field("first_ts", &self.first_ts())
            .field("last_ts", &self.last_ts())
            .field("bit_len", &self.bit_len())
            .finish()
    }
}

impl HeadChunk {
    /// An empty chunk; allocates nothing until the first sample.
    pub fn new() -> Self {
        HeadChunk::default()
    }

    /// An empty chunk with room for about `samples` samples of a typical series (2 bytes a
    /// sample) before it reallocates; the room reserved is capped at
    /// [`MAX_BLOCK_SAMPLES`](crate::MAX_BLOCK_SAMPLES) samples (a hint, not a limit).
    ///
    /// ```
    /// let head = kelvin_store::HeadChunk::with_capacity(8192);
    /// assert!(head.heap_bytes() >= 16_384);
    /// ```
    pub fn with_capacity(samples: usize) -> Self {
        let mut h = HeadChunk::new();
        h.bits
            .words
            .reserve(samples.min(super::block::MAX_BLOCK_SAMPLES).div_ceil(4));
        h
    }

    /// Appends a sample.
    ///
    /// # Errors
    /// [`StoreErrorKind::InvalidInput`] when `ts` is earlier than the last sample's timestamp
    /// (equal timestamps are accepted and kept in order); the chunk is unchanged.
    ///
    /// ```
    /// let mut head = kelvin_store::HeadChunk::new();
    /// head.push(10, 1.5)?;
    /// head.push(10, f64::NAN)?;
    /// assert_eq!(head.push(9, 0.0).unwrap_err().kind(), kelvin_store::StoreErrorKind::InvalidInput);
    /// assert_eq!(head.len(), 2);
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    #[inline]
    pub fn push(&mut self, ts: i64, value: f64) -> Result<(), StoreError> {
        let bits = value.to_bits();
        if self.len == 0 {
            self.first_ts = ts;
            self.last_ts = ts;
            self.last_delta = 0;
            self.last_bits = bits;
            self.lead = 64;
            self.trail = 64;
            self.bits.put(bits, 64);
            self.len = 1;
            return Ok(());
        }
        if ts < self.last_ts {
            return Err(out_of_order(ts, self.last_ts));
        }
        // Timestamp: delta of delta, zigzagged, in the smallest bucket that holds it.
        let delta = ts.wrapping_sub(self.last_ts);
        let z = zigzag(delta.wrapping_sub(self.last_delta));
        let (plen, prefix, width) = BUCKET_OF_BITS[(64 - z.leading_zeros()) as usize];
        self.bits.put2(prefix, plen, z, width);
        self.last_ts = ts;
        self.last_delta = delta;

        // Value: XOR with the previous value's bits.
        let xor = bits ^ self.last_bits;
        self.last_bits = bits;
        if xor == 0 {
            self.bits.put(0, 1);
        } else {
            let lead = xor.leading_zeros().min(31);
            let trail = xor.trailing_zeros();
            if lead >= self.lead && trail >= self.trail {
                // '10' then the meaningful bits within the previous window.
                self.bits
                    .put2(0b01, 2, xor >> self.trail, 64 - self.lead - self.trail);
            } else {
                // '11', 5 bits of leading zeros, 6 bits of length (64 stored as 0), the bits.
                let n = 64 - lead - trail;
                let header = 0b11 | (u64::from(lead) << 2) | (u64::from(n & 63) << 7);
                self.bits.put2(header, 13, xor >> trail, n);
                self.lead = lead;
                self.trail = trail;
            }
        }
        self.len += 1;
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Timestamp of the first sample, if any.
    pub fn first_ts(&self) -> Option<i64> {
        (self.len > 0).then_some(self.first_ts)
    }

    /// Timestamp of the last sample, if any.
    pub fn last_ts(&self) -> Option<i64> {
        (self.len > 0).then_some(self.last_ts)
    }

    /// Value of the last sample, if any.
    pub fn last_value(&self) -> Option<f64> {
        (self.len > 0).then_some(f64::from_bits(self.last_bits))
    }

    /// Size of the encoded stream in bits.
    pub fn bit_len(&self) -> u64 {
        self.bits.bit_len()
    }

    /// Bytes allocated on the heap (the stream's capacity), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.bits.words.capacity() * 8
    }

    /// Appends every sample, in order, to `ts` and `values`.
    pub fn decode_into(&self, ts: &mut Vec<i64>, values: &mut Vec<f64>) {
        ts.reserve(self.len);
        values.reserve(self.len);
        for (t, v) in self.iter() {
            ts.push(t);
            values.push(v);
        }
    }

    /// The samples in order, as `(timestamp, value)`.
    pub fn iter(&self) -> HeadChunkIter<'_> {
        HeadChunkIter {
            bits: BitReader::new(&self.bits.words, self.bits.tail()),
            left: self.len,
            started: false,
            ts: self.first_ts,
            delta: 0,
            value: 0,
            lead: 0,
            trail: 0,
        }
    }

    /// Removes every sample, keeping the allocation for reuse.
    pub fn clear(&mut self) {
        self.bits.clear();
        self.len = 0;
    }

    /// Encodes the samples as a sealed block ([`encode_block`](crate::encode_block)).
    ///
    /// # Errors
    /// As [`encode_block`](crate::encode_block).
    ///
    /// ```
    /// let mut head = kelvin_store::HeadChunk::new();
    /// head.push(0, 1.25)?;
    /// head.push(1_000, 2.5)?;
    /// let (ts, values) = kelvin_store::decode_block(&head.seal()?)?;
    /// assert_eq!((ts, values), (vec![0, 1_000], vec![1.25, 2.5]));
    /// # Ok::<(), kelvin_store::StoreError>(())
    /// ```
    pub fn seal(&self) -> Result<Vec<u8>, StoreError> {
        let (mut ts, mut values) = (Vec::new(), Vec::new());
        self.decode_into(&mut ts, &mut values);
        super::block::encode_block(&ts, &values)
    }
}

impl<'a> IntoIterator for &'a HeadChunk {
    type Item = (i64, f64);
    type IntoIter = HeadChunkIter<'a>;

    fn into_iter(self) -> HeadChunkIter<'a> {
        self.iter()
    }
}

#[cold]
#[inline(never)]
fn out_of_order(ts: i64, last: i64) -> StoreError {
    StoreError::new(
        StoreErrorKind::InvalidInput,
        format!("head chunk: timestamp {ts} ns is earlier than the last sample's {last} ns"),
    )
}

/// Iterator over the samples of a [`HeadChunk`], from [`HeadChunk::iter`].
#[derive(Debug, Clone)]
pub struct HeadChunkIter<'a> {
    bits: BitReader<'a>,
    left: usize,
    started: bool,
    ts: i64,
    delta: i64,
    value: u64,
    lead: u32,
    trail: u32,
}

impl Iterator for HeadChunkIter<'_> {
    type Item = (i64, f64);

    #[inline]
    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if !self.started {
            self.started = true;
            self.value = self.bits.get(64);
            return Some((self.ts, f64::from_bits(self.value)));
        }
        let p = self.bits.peek(4);
        let (plen, _, width) = BUCKETS[(p.trailing_ones() as usize).min(4)];
        self.bits.skip(plen);
        let dod = unzigzag(self.bits.get(width));
        self.delta = self.delta.wrapping_add(dod);
        self.ts = self.ts.wrapping_add(self.delta);

        if self.bits.get(1) == 1 {
            if self.bits.get(1) == 0 {
                let n = 64u32.saturating_sub(self.lead + self.trail);
                self.value ^= self.bits.get(n).checked_shl(self.trail).unwrap_or(0);
            } else {
                let h = self.bits.get(11);
                let lead = (h & 31) as u32;
                let n = match (h >> 5) as u32 {
                    0 => 64,
                    n => n,
                };
                let trail = 64u32.saturating_sub(lead + n);
                self.value ^= (self.bits.get(n) & mask(n)).checked_shl(trail).unwrap_or(0);
                self.lead = lead;
                self.trail = trail;
            }
        }
        Some((self.ts, f64::from_bits(self.value)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for HeadChunkIter<'_> {}

impl std::iter::FusedIterator for HeadChunkIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_width() {
        for (b, &(_, _, width)) in BUCKET_OF_BITS.iter().enumerate() {
            assert!(width as usize >= b, "{b} bits in a {width}-bit bucket");
        }
    }

    #[test]
    fn extremes_round_trip() {
        let samples = [
            (i64::MIN, f64::NAN),
            (i64::MIN, -0.0),
            (-1, f64::INFINITY),
            (0, f64::NEG_INFINITY),
            (i64::MAX - 1, f64::from_bits(1)),
            (i64::MAX, f64::from_bits(0x7ff8_dead_beef_0001)),
            (i64::MAX, f64::MAX),
        ];
        let mut h = HeadChunk::new();
        for &(t, v) in &samples {
            h.push(t, v).unwrap();
        }
        let got: Vec<_> = h.iter().map(|(t, v)| (t, v.to_bits())).collect();
        let want: Vec<_> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
        assert_eq!(got, want);
    }
}
