//! Bit-level and byte-level primitives shared by the codecs: an LSB-first bit writer and
//! reader over `u64` words (the head chunk's stream), and LEB128 varints / zigzag for the
//! sealed block's header.

/// Appends bits LSB-first into `u64` words.
///
/// Invariant between calls: `used < 64` bits are pending in the low bits of `acc`; every
/// completed word has been pushed to `words`.
#[derive(Debug, Clone, Default)]
pub(crate) struct BitWriter {
    pub(crate) words: Vec<u64>,
    acc: u128,
    used: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `v` (`n <= 64`; the bits of `v` above `n` must be zero).
    #[inline(always)]
    pub(crate) fn put(&mut self, v: u64, n: u32) {
        debug_assert!(n <= 64);
        debug_assert!(n == 64 || v >> n == 0);
        self.acc |= u128::from(v) << self.used;
        self.used += n;
        if self.used >= 64 {
            self.words.push(self.acc as u64);
            self.acc >>= 64;
            self.used -= 64;
        }
    }

    /// Appends the low `na` bits of `a`, then the low `nb` bits of `b`, in one step when they
    /// fit in a word.
    #[inline(always)]
    pub(crate) fn put2(&mut self, a: u64, na: u32, b: u64, nb: u32) {
        if na + nb <= 64 {
            self.put(a | (b << na), na + nb);
        } else {
            self.put(a, na);
            self.put(b, nb);
        }
    }

    /// The pending bits of the last, incomplete word (zero-padded).
    #[inline]
    pub(crate) fn tail(&self) -> u64 {
        self.acc as u64
    }

    /// Total number of bits written.
    #[inline]
    pub(crate) fn bit_len(&self) -> u64 {
        self.words.len() as u64 * 64 + u64::from(self.used)
    }

    /// Forgets every bit, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.words.clear();
        self.acc = 0;
        self.used = 0;
    }
}

/// Reads bits LSB-first from complete words followed by one zero-padded tail word, as left by
/// a [`BitWriter`]. Reading past the end yields zero bits (the caller knows how many samples
/// the stream holds and never does).
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    words: &'a [u64],
    tail: Option<u64>,
    buf: u128,
    avail: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(words: &'a [u64], tail: u64) -> Self {
        BitReader {
            words,
            tail: Some(tail),
            buf: 0,
            avail: 0,
        }
    }

    #[inline(always)]
    fn refill(&mut self) {
        let w = if let Some((&w, rest)) = self.words.split_first() {
            self.words = rest;
            w
        } else {
            self.tail.take().unwrap_or(0)
        };
        self.buf |= u128::from(w) << self.avail;
        self.avail += 64;
    }

    /// The next `n` bits (`n <= 64`) without consuming them.
    #[inline(always)]
    pub(crate) fn peek(&mut self, n: u32) -> u64 {
        if self.avail < n {
            self.refill();
        }
        (self.buf as u64) & mask(n)
    }

    /// Drops `n` bits previously made available by [`BitReader::peek`] of at least `n`.
    #[inline(always)]
    pub(crate) fn skip(&mut self, n: u32) {
        self.buf >>= n;
        self.avail -= n;
    }

    /// Reads the next `n` bits (`n <= 64`).
    #[inline(always)]
    pub(crate) fn get(&mut self, n: u32) -> u64 {
        let v = self.peek(n);
        self.skip(n);
        v
    }
}

/// The low `n` bits set (`n <= 64`).
#[inline(always)]
pub(crate) fn mask(n: u32) -> u64 {
    ((1u128 << n) - 1) as u64
}

/// Zigzag: small magnitudes of either sign become small unsigned numbers.
#[inline(always)]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline(always)]
pub(crate) fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_at_every_width() {
        let mut w = BitWriter::default();
        let mut expect = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..2000u32 {
            let n = i % 65;
            x = x.rotate_left(13).wrapping_mul(0x2545_f491_4f6c_dd1d);
            let v = x & mask(n);
            w.put(v, n);
            expect.push((v, n));
        }
        let mut r = BitReader::new(&w.words, w.tail());
        for (v, n) in expect {
            assert_eq!(r.get(n), v, "width {n}");
        }
    }

    #[test]
    fn varints_and_zigzag() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX / 3, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(crate::bytes::Get::new(&out).varint(), Some(v));
        }
        assert_eq!(crate::bytes::Get::new(&[0xff; 11]).varint(), None);
        assert_eq!(crate::bytes::Get::new(&[0x80]).varint(), None);
        for v in [0i64, 1, -1, i64::MIN, i64::MAX, 12345, -98765] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
