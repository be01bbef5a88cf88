//! Sealed blocks: self-describing, checksummed bytes for up to [`MAX_BLOCK_SAMPLES`] samples,
//! timestamps and values compressed column-wise with pco (or cheaper own encodings when they
//! are smaller).

use pco::data_types::Number;
use pco::standalone::{DecompressorItem, FileDecompressor, simple_compress};
use pco::{ChunkConfig, ModeSpec};

use super::bits::{put_varint, unzigzag, zigzag};
use super::pco_guard::check_chunk;
use crate::bytes::Get;
use crate::{StoreError, StoreErrorKind};

/// The newest format version: the first byte of a block that uses an encoding version 1 lacks
/// (the dictionary of values). Blocks that need none of them are still written as version 1, so
/// the bytes of such blocks are what earlier builds wrote; both versions are read.
pub const BLOCK_FORMAT_VERSION: u8 = 2;
/// The first format version: every encoding but the dictionary.
const FORMAT_V1: u8 = 1;

/// The most samples one block may hold (4,194,304; the store seals at 8,192). Bounds what a
/// decoder allocates for a block that claims more.
pub const MAX_BLOCK_SAMPLES: usize = 1 << 22;

/// Timestamps: `first` (8 bytes LE) and a zigzag-varint step; `ts[i] = first + i·step`.
const TS_REGULAR: u8 = 0;
/// Timestamps: varint length + pco standalone `i64`.
const TS_PCO: u8 = 1;
/// Values: all the same bits; 8 bytes LE.
const VAL_CONST: u8 = 0;
/// Values: decimal-scaled integers; a byte `k` (0..=9), varint length + pco standalone `i64`
/// of `m`, with `v = m as f64 / 10^k` bit for bit.
const VAL_DECIMAL: u8 = 1;
/// Values: varint length + pco standalone `f64`.
const VAL_PCO: u8 = 2;
/// Values (format version 2): a dictionary. Varint `u` (distinct values, 1..=n), the `u`
/// distinct values as a nested value encoding (a tag byte, then [`VAL_DECIMAL`]'s or
/// [`VAL_PCO`]'s body), then varint length + pco standalone `u32` of each sample's index into
/// them.
const VAL_DICT: u8 = 3;

/// A dictionary is tried only when the block repeats its values this often on average (at most
/// `n / DICT_MIN_REPEAT` distinct values); it is then kept only when smaller.
const DICT_MIN_REPEAT: usize = 2;

/// pco's compression level for blocks: 6 of 0..=12 (pco's default is 8). On the benchmark
/// corpus it encodes about 1.7× faster than 8 for under 1% more bytes.
const PCO_LEVEL: usize = 6;

fn pco_config() -> ChunkConfig {
    ChunkConfig::default().with_compression_level(PCO_LEVEL)
}

/// Powers of ten that are exact in an `f64`.
const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Encodes samples as one sealed block.
///
/// Layout (all integers little-endian, varints unsigned LEB128):
///
/// | field | bytes |
/// |---|---|
/// | format version: 2 when the values are a dictionary, else 1 | 1 |
/// | encoding tags: timestamps (low nibble), values (high nibble) | 1 |
/// | sample count `n` | varint |
/// | timestamps: regular cadence (`first` i64 + zigzag step) or pco `i64` (length + bytes) | … |
/// | values: constant (8 bytes), decimal-scaled (`k` + length + pco `i64` of `v·10^k`), pco `f64` (length + bytes) or a dictionary (count `u`, the `u` distinct values decimal-scaled or pco `f64`, then length + pco `u32` of each sample's index) | … |
/// | CRC-32 (IEEE) of everything before | 4 |
///
/// Timestamps are stored as a regular cadence when every step is the same, else with pco
/// (which finds the delta encoding). Values are stored as a constant when all have the same
/// bits; else, when some `k` in `0..=9` makes every value exactly `m / 10^k` for an integer
/// `m` (bit for bit: no −0.0, NaN or ∞), as pco over the `m`s; else with pco over the floats.
/// Decimal integers with a common step (the greatest common divisor of their distances) go to
/// pco with that step as its multiplier mode rather than having pco search for one.
/// When a block holds at most half as many distinct values as samples, and they are not
/// integers filling more than 7/8 of their range, a dictionary of them (in numeric order, so
/// that a slowly moving series keeps small index deltas) is encoded as well and kept when it
/// is smaller: values on a sparse set (CPU percentages with two or four
/// decimals, counters of a few request sizes) take the bits of an index instead of those of
/// their range. pco runs at compression level 6. Any timestamp order and every `f64` bit
/// pattern round-trip exactly; the store passes time-sorted samples.
///
/// # Errors
/// [`StoreErrorKind::InvalidInput`] when `ts` and `values` differ in length or hold more than
/// [`MAX_BLOCK_SAMPLES`].
///
/// ```
/// use kelvin_store::{decode_block, encode_block};
///
/// let ts: Vec<i64> = (0..8192).map(|i| 1_700_000_000_000_000_000 + i * 10_000_000_000).collect();
/// let values: Vec<f64> = (0..8192).map(|i| 20.0 + (i % 40) as f64 * 0.5).collect();
/// let bytes = encode_block(&ts, &values)?;
/// assert!(bytes.len() < 8192); // under 1 byte a sample, vs 16 raw
/// assert_eq!(decode_block(&bytes)?, (ts, values));
/// assert!(encode_block(&[1, 2], &[1.0]).is_err());
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn encode_block(ts: &[i64], values: &[f64]) -> Result<Vec<u8>, StoreError> {
    if ts.len() != values.len() {
        return Err(StoreError::new(
            StoreErrorKind::InvalidInput,
            format!(
                "encode_block: {} timestamps but {} values",
                ts.len(),
                values.len()
            ),
        ));
    }
    let n = ts.len();
    if n > MAX_BLOCK_SAMPLES {
        return Err(StoreError::new(
            StoreErrorKind::InvalidInput,
            format!("encode_block: {n} samples, more than the {MAX_BLOCK_SAMPLES} a block holds"),
        ));
    }
    let mut out = Vec::with_capacity(32 + n * 3);
    out.push(FORMAT_V1);
    out.push(0); // tags, set below
    put_varint(&mut out, n as u64);
    if n > 0 {
        let ts_tag = encode_ts(ts, &mut out)?;
        let val_tag = encode_values(values, &mut out)?;
        out[1] = ts_tag | (val_tag << 4);
        if val_tag == VAL_DICT {
            out[0] = BLOCK_FORMAT_VERSION;
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn pco_error(what: &str, e: pco::errors::PcoError) -> StoreError {
    StoreError::new(
        StoreErrorKind::InvalidInput,
        format!("encode_block: pco failed on the {what}: {e}"),
    )
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn encode_ts(ts: &[i64], out: &mut Vec<u8>) -> Result<u8, StoreError> {
    let step = if ts.len() > 1 {
        ts[1].wrapping_sub(ts[0])
    } else {
        0
    };
    if ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == step) {
        out.extend_from_slice(&ts[0].to_le_bytes());
        put_varint(out, zigzag(step));
        return Ok(TS_REGULAR);
    }
    let bytes = simple_compress(ts, &pco_config()).map_err(|e| pco_error("timestamps", e))?;
    put_bytes(out, &bytes);
    Ok(TS_PCO)
}

fn encode_values(values: &[f64], out: &mut Vec<u8>) -> Result<u8, StoreError> {
    let first = values[0].to_bits();
    if values.iter().all(|v| v.to_bits() == first) {
        out.extend_from_slice(&first.to_le_bytes());
        return Ok(VAL_CONST);
    }
    let start = out.len();
    let (tag, sparse) = encode_numbers(values, true, out)?;
    if sparse && let Some(dict) = Dict::of(values) {
        let mut alt = Vec::new();
        dict.encode(&mut alt)?;
        if alt.len() < out.len() - start {
            out.truncate(start);
            out.extend_from_slice(&alt);
            return Ok(VAL_DICT);
        }
    }
    Ok(tag)
}

/// Values as numbers, one per sample: decimal-scaled integers when exact, else floats. Also
/// says whether a dictionary might be smaller: not for integers that fill more than 7/8 of
/// their range (at their common step), where an index would save under 0.2 bits a sample.
/// With `by_step`, integers with a common step are encoded with it (see [`Spread::pco_config`])
/// rather than in the mode pco finds: faster, and as small or smaller on a block's samples, but
/// not on a dictionary's few sorted values.
fn encode_numbers(
    values: &[f64],
    by_step: bool,
    out: &mut Vec<u8>,
) -> Result<(u8, bool), StoreError> {
    // The cheap test: values that scale to integers are stored as integers (as small as pco's
    // own float modes or smaller on the corpus, and one compression instead of two).
    if let Some((k, ints)) = decimal_scale(values) {
        let spread = Spread::of(&ints);
        let config = if by_step {
            spread.pco_config()
        } else {
            pco_config()
        };
        let scaled = simple_compress(&ints, &config).map_err(|e| pco_error("values", e))?;
        out.push(k);
        put_bytes(out, &scaled);
        return Ok((VAL_DECIMAL, !spread.dense(&ints)));
    }
    let floats = simple_compress(values, &pco_config()).map_err(|e| pco_error("values", e))?;
    put_bytes(out, &floats);
    Ok((VAL_PCO, true))
}

/// Exact division by a constant with multiplications (Granlund & Montgomery, "Division by
/// invariant integers using multiplication", PLDI 1994, §9): for `d = o·2^s` with `o` odd, `x`
/// is a multiple of `d` exactly when its low `s` bits are zero and `(x >> s)·o⁻¹ mod 2^64` is
/// at most `⌊(2^64 − 1)/o⌋`, and that product is then `x / d`.
struct ExactDiv {
    shift: u32,
    inverse: u64,
    limit: u64,
}

impl ExactDiv {
    /// For `d > 0`.
    fn new(d: u64) -> ExactDiv {
        let shift = d.trailing_zeros();
        let odd = d >> shift;
        // Newton's iteration for the inverse mod 2^64: `odd` is its own inverse mod 8 (3
        // bits), and each step doubles the correct bits: 6, 12, 24, 48, 96.
        let mut inverse = odd;
        for _ in 0..5 {
            inverse = inverse.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inverse)));
        }
        ExactDiv {
            shift,
            inverse,
            limit: u64::MAX / odd,
        }
    }

    /// `x / d` when `d` divides `x`, else `None`.
    #[inline]
    fn quotient(&self, x: u64) -> Option<u64> {
        if x.trailing_zeros() < self.shift {
            return None;
        }
        let q = (x >> self.shift).wrapping_mul(self.inverse);
        (q <= self.limit).then_some(q)
    }
}

/// The range of a block's decimal-scaled integers and their common step: the greatest common
/// divisor of their distances from the smallest.
struct Spread {
    min: i64,
    /// `max − min`.
    width: u64,
    step: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Spread {
    fn of(ints: &[i64]) -> Spread {
        let min = ints.iter().copied().min().unwrap_or(0);
        let max = ints.iter().copied().max().unwrap_or(0);
        // The gcd of all distances; a distance that the step so far divides (the usual case)
        // costs a multiplication, not a division.
        let mut step = 0u64;
        let mut div: Option<ExactDiv> = None;
        for &m in ints {
            let d = m.abs_diff(min);
            if div.as_ref().is_some_and(|e| e.quotient(d).is_some()) {
                continue;
            }
            step = gcd(d, step);
            if step == 1 {
                break;
            }
            div = (step > 0).then(|| ExactDiv::new(step));
        }
        Spread {
            min,
            width: max.abs_diff(min),
            step,
        }
    }

    /// pco's configuration for these integers: its multiplier mode with the common step when
    /// there is one, so that pco need not search for it (the search costs about a third of
    /// its encoding time); else pco's own choice, which also finds multipliers that hold
    /// only approximately (byte counts of whole pages plus a little).
    fn pco_config(&self) -> ChunkConfig {
        if self.step > 1 {
            pco_config().with_mode_spec(ModeSpec::TryIntMult(self.step))
        } else {
            pco_config()
        }
    }

    /// Whether the distinct integers fill more than 7/8 of the `width / step + 1` values
    /// their range holds at their step (then an index into them would save under 0.2 bits a
    /// sample) (counted with a bitmap when that is at most four per
    /// integer; a wider range holds them sparsely).
    fn dense(&self, ints: &[i64]) -> bool {
        let Some(slots) = (self.width / self.step.max(1)).checked_add(1) else {
            return false;
        };
        if slots > 4 * ints.len() as u64 {
            return false;
        }
        let mut seen = vec![0u64; slots.div_ceil(64) as usize];
        let div = ExactDiv::new(self.step.max(1));
        for &m in ints {
            // Every distance is a multiple of the step, and at most `width`.
            let Some(i) = div.quotient(m.abs_diff(self.min)) else {
                return false;
            };
            if let Some(w) = seen.get_mut((i / 64) as usize) {
                *w |= 1 << (i % 64);
            }
        }
        let distinct: u64 = seen.iter().map(|w| u64::from(w.count_ones())).sum();
        8 * distinct > 7 * slots
    }
}

/// A block's distinct values, in float order (by the key pco orders floats by: `-NaN`s, `-∞`,
/// negatives, `-0.0`, `0.0`, positives, `∞`, `NaN`s), and each sample's index into them. In
/// that order neighbouring values get neighbouring indices, so a slowly moving series keeps its
/// small deltas.
struct Dict {
    distinct: Vec<f64>,
    index: Vec<u32>,
}

/// A total order of `f64` bit patterns that agrees with `<` on numbers.
#[inline]
fn float_key(bits: u64) -> u64 {
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

impl Dict {
    /// The dictionary of `values`, or `None` when it has more than `n / DICT_MIN_REPEAT`
    /// distinct values (or fewer than two samples share one).
    fn of(values: &[f64]) -> Option<Dict> {
        let max = values.len() / DICT_MIN_REPEAT;
        let mut keys: Vec<u64> = values.iter().map(|v| float_key(v.to_bits())).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() || keys.len() > max {
            return None;
        }
        let index = values
            .iter()
            .map(|v| keys.partition_point(|&k| k < float_key(v.to_bits())) as u32)
            .collect();
        let distinct = keys
            .iter()
            .map(|&k| f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k }))
            .collect();
        Some(Dict { distinct, index })
    }

    /// [`VAL_DICT`]'s body.
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), StoreError> {
        put_varint(out, self.distinct.len() as u64);
        let at = out.len();
        out.push(0);
        let (tag, _) = encode_numbers(&self.distinct, false, out)?;
        out[at] = tag;
        let index =
            simple_compress(&self.index, &pco_config()).map_err(|e| pco_error("index", e))?;
        put_bytes(out, &index);
        Ok(())
    }
}

/// The integer nearest `x` (halves away from zero; saturating, NaN to 0), without a call to
/// libm's `round`: adding ±0.5 and truncating is one addition and one conversion. (For the few
/// `x` just under a half where the addition rounds up, the result is one off; the callers
/// check that the integer gives the value back, so that only costs the decimal encoding of a
/// value no telemetry has.)
#[inline]
fn nearest(x: f64) -> i64 {
    (x + 0.5f64.copysign(x)) as i64
}

/// Whether `nearest(v·10^k) / 10^k` gives back `v` bit for bit (the decoder's computation).
#[inline]
fn exact_at(v: f64, p: f64) -> bool {
    ((nearest(v * p)) as f64 / p).to_bits() == v.to_bits()
}

/// The smallest `k` in `0..=9` such that every value is exactly `m / 10^k` for an `i64` `m`,
/// and those `m`s; `None` when there is none.
fn decimal_scale(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    // A value exact at k is exact at every larger k while m stays below 2^53, so raise k only
    // when a value needs it, then check every value once more at the final k.
    let mut k = 0usize;
    for &v in values {
        while !exact_at(v, POW10[k]) {
            k += 1;
            if k == POW10.len() {
                return None;
            }
        }
    }
    let p = POW10[k];
    let mut ints = Vec::with_capacity(values.len());
    for &v in values {
        let m = nearest(v * p);
        if (m as f64 / p).to_bits() != v.to_bits() {
            return None;
        }
        ints.push(m);
    }
    Some((k as u8, ints))
}

/// Decodes a block written by [`encode_block`].
///
/// # Errors
/// [`StoreErrorKind::Corrupt`] (with the byte offset and what is wrong) for bytes that are
/// truncated, fail the checksum or do not decode; [`StoreErrorKind::Unsupported`] for an
/// intact block of an unknown format version. Never panics, whatever the bytes.
///
/// ```
/// use kelvin_store::{StoreErrorKind, decode_block, encode_block};
///
/// let bytes = encode_block(&[5, 7, 12], &[1.0, -0.0, f64::NAN])?;
/// let (ts, values) = decode_block(&bytes)?;
/// assert_eq!(ts, [5, 7, 12]);
/// assert!(values[1].is_sign_negative() && values[2].is_nan());
///
/// let mut damaged = bytes.clone();
/// damaged[3] ^= 0x10;
/// assert_eq!(decode_block(&damaged).unwrap_err().kind(), StoreErrorKind::Corrupt);
/// assert_eq!(decode_block(&bytes[..5]).unwrap_err().kind(), StoreErrorKind::Corrupt);
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn decode_block(bytes: &[u8]) -> Result<(Vec<i64>, Vec<f64>), StoreError> {
    let (mut ts, mut values) = (Vec::new(), Vec::new());
    decode_block_into(bytes, &mut ts, &mut values)?;
    Ok((ts, values))
}

/// Like [`decode_block`], but appends the samples to `ts` and `values` (reusing their
/// allocations) and returns how many it appended. On error both are left as they were.
///
/// # Errors
/// As [`decode_block`].
///
/// ```
/// use kelvin_store::{decode_block_into, encode_block};
///
/// let (mut ts, mut values) = (vec![1], vec![0.5]);
/// let n = decode_block_into(&encode_block(&[2, 3], &[1.5, 2.5])?, &mut ts, &mut values)?;
/// assert_eq!((n, ts, values), (2, vec![1, 2, 3], vec![0.5, 1.5, 2.5]));
/// # Ok::<(), kelvin_store::StoreError>(())
/// ```
pub fn decode_block_into(
    bytes: &[u8],
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<usize, StoreError> {
    let (ts_len, values_len) = (ts.len(), values.len());
    let r = decode_checked(bytes, ts, values);
    if r.is_err() {
        ts.truncate(ts_len);
        values.truncate(values_len);
    }
    r
}

fn corrupt(at: usize, why: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Corrupt,
        format!("block: {why} at byte offset {at}"),
    )
}

fn decode_checked(
    bytes: &[u8],
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<usize, StoreError> {
    // Version, tags, a count and the checksum at the least.
    if bytes.len() < 7 {
        return Err(corrupt(
            bytes.len(),
            &format!("truncated ({} bytes, a block has at least 7)", bytes.len()),
        ));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = crc32fast::hash(body);
    if stored != actual {
        return Err(corrupt(
            body.len(),
            &format!("checksum mismatch (stored {stored:#010x}, computed {actual:#010x})"),
        ));
    }
    let mut r = Get::new(body);
    let version = r.u8().ok_or_else(|| corrupt(0, "missing version"))?;
    if !(FORMAT_V1..=BLOCK_FORMAT_VERSION).contains(&version) {
        return Err(StoreError::new(
            StoreErrorKind::Unsupported,
            format!(
                "block: format version {version}, this build reads {FORMAT_V1} to \
                 {BLOCK_FORMAT_VERSION}"
            ),
        ));
    }
    let tags = r.u8().ok_or_else(|| corrupt(1, "missing encoding tags"))?;
    let at = r.pos();
    let n = r.varint().ok_or_else(|| corrupt(at, "bad sample count"))?;
    if n > MAX_BLOCK_SAMPLES as u64 {
        return Err(corrupt(
            at,
            &format!("sample count {n} over the maximum {MAX_BLOCK_SAMPLES}"),
        ));
    }
    let n = n as usize;
    if n == 0 {
        if tags != 0 || r.remaining() != 0 {
            return Err(corrupt(r.pos(), "unexpected bytes in an empty block"));
        }
        return Ok(0);
    }
    decode_ts(&mut r, tags & 0x0f, n, ts)?;
    let val_tag = tags >> 4;
    if val_tag == VAL_DICT && version >= 2 {
        decode_dict(&mut r, n, values)?;
    } else {
        decode_values(&mut r, val_tag, n, values)?;
    }
    if r.remaining() != 0 {
        return Err(corrupt(
            r.pos(),
            &format!("{} trailing bytes after the values", r.remaining()),
        ));
    }
    Ok(n)
}

/// A varint length and that many bytes.
fn sized<'a>(r: &mut Get<'a>, what: &str) -> Result<&'a [u8], StoreError> {
    let at = r.pos();
    let len = r
        .varint()
        .ok_or_else(|| corrupt(at, &format!("bad {what} length")))?;
    let at = r.pos();
    usize::try_from(len)
        .ok()
        .and_then(|len| r.take(len))
        .ok_or_else(|| corrupt(at, &format!("{what}: {len} bytes announced, fewer remain")))
}

/// Decompresses pco standalone bytes holding exactly `n` numbers onto the end of `out`,
/// chunk by chunk: [`check_chunk`] reads each chunk's header first and refuses a chunk whose
/// dictionary or lookback window (which pco allocates before reading any data) could not
/// belong to a valid block of `n` numbers.
fn pco_into<T: Number>(
    src: &[u8],
    n: usize,
    out: &mut Vec<T>,
    at: usize,
    what: &str,
) -> Result<(), StoreError> {
    let fail = |why: String| corrupt(at, &format!("{what}: pco: {why}"));
    let start = out.len();
    out.resize(start + n, T::default());
    let (file, mut rest) = FileDecompressor::new(src).map_err(|e| fail(e.to_string()))?;
    let major = file.format_version().major;
    let mut done = 0;
    loop {
        check_chunk::<T>(rest, major, n - done).map_err(&fail)?;
        let mut chunk = match file.chunk_decompressor::<T, _>(rest) {
            Ok(DecompressorItem::Chunk(chunk)) => chunk,
            Ok(DecompressorItem::EndOfData(_)) => break,
            Err(e) => return Err(fail(e.to_string())),
        };
        // `check_chunk` has refused a chunk of more than `n - done` numbers; checked again here
        // rather than trusted, so that no header can make the slice below panic.
        let end = done + chunk.n();
        let dst = out
            .get_mut(start + done..start + end)
            .ok_or_else(|| fail(format!("a chunk of {} numbers, past the end", end - done)))?;
        let p = chunk.read(dst).map_err(|e| fail(e.to_string()))?;
        if !p.finished || p.n_processed != end - done {
            return Err(fail(format!(
                "a chunk of {} numbers gave {} (finished: {})",
                end - done,
                p.n_processed,
                p.finished
            )));
        }
        done = end;
        rest = chunk.into_src();
    }
    if done != n {
        return Err(corrupt(
            at,
            &format!("{what}: pco holds {done} numbers, the header says {n}"),
        ));
    }
    Ok(())
}

fn decode_ts(r: &mut Get<'_>, tag: u8, n: usize, ts: &mut Vec<i64>) -> Result<(), StoreError> {
    let at = r.pos();
    match tag {
        TS_REGULAR => {
            let first = r
                .u64()
                .ok_or_else(|| corrupt(at, "truncated first timestamp"))?
                as i64;
            let at = r.pos();
            let step = unzigzag(
                r.varint()
                    .ok_or_else(|| corrupt(at, "bad timestamp step"))?,
            );
            ts.reserve(n);
            let mut t = first;
            for _ in 0..n {
                ts.push(t);
                t = t.wrapping_add(step);
            }
            Ok(())
        }
        TS_PCO => {
            let src = sized(r, "timestamps")?;
            pco_into(src, n, ts, at, "timestamps")
        }
        other => Err(corrupt(1, &format!("unknown timestamp encoding {other}"))),
    }
}

fn decode_values(
    r: &mut Get<'_>,
    tag: u8,
    n: usize,
    values: &mut Vec<f64>,
) -> Result<(), StoreError> {
    let at = r.pos();
    match tag {
        VAL_CONST => {
            let bits = r
                .u64()
                .ok_or_else(|| corrupt(at, "truncated constant value"))?;
            values.resize(values.len() + n, f64::from_bits(bits));
            Ok(())
        }
        VAL_DECIMAL => {
            let k = r.u8().ok_or_else(|| corrupt(at, "missing decimal scale"))?;
            let p = *POW10
                .get(usize::from(k))
                .ok_or_else(|| corrupt(at, &format!("decimal scale {k} over 9")))?;
            let src = sized(r, "values")?;
            let mut ints: Vec<i64> = Vec::new();
            pco_into(src, n, &mut ints, at, "values")?;
            values.extend(ints.iter().map(|&m| m as f64 / p));
            Ok(())
        }
        VAL_PCO => {
            let src = sized(r, "values")?;
            pco_into(src, n, values, at, "values")
        }
        other => Err(corrupt(1, &format!("unknown value encoding {other}"))),
    }
}

/// [`VAL_DICT`]'s body: the distinct values, then each sample's index, checked against them.
fn decode_dict(r: &mut Get<'_>, n: usize, values: &mut Vec<f64>) -> Result<(), StoreError> {
    let at = r.pos();
    let u = r
        .varint()
        .ok_or_else(|| corrupt(at, "bad dictionary length"))?;
    if u == 0 || u > n as u64 {
        return Err(corrupt(
            at,
            &format!("a dictionary of {u} values for {n} samples"),
        ));
    }
    let u = u as usize;
    let at = r.pos();
    let tag = r
        .u8()
        .ok_or_else(|| corrupt(at, "missing dictionary encoding"))?;
    if tag != VAL_DECIMAL && tag != VAL_PCO {
        return Err(corrupt(at, &format!("dictionary encoding {tag}")));
    }
    let mut distinct = Vec::new();
    decode_values(r, tag, u, &mut distinct)?;
    let at = r.pos();
    let src = sized(r, "dictionary index")?;
    let mut index: Vec<u32> = Vec::new();
    pco_into(src, n, &mut index, at, "dictionary index")?;
    if let Some(bad) = index.iter().find(|&&i| i as usize >= u) {
        return Err(corrupt(
            at,
            &format!("dictionary index {bad} past the {u} values"),
        ));
    }
    values.extend(index.iter().map(|&i| distinct[i as usize]));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_scale_finds_the_smallest_k() {
        assert_eq!(decimal_scale(&[1.0, 2.0, -7.0]).map(|d| d.0), Some(0));
        assert_eq!(decimal_scale(&[21.5, -3.25, 1e9]).map(|d| d.0), Some(2));
        assert_eq!(decimal_scale(&[0.1, 0.2, 0.3]).map(|d| d.0), Some(1));
        assert_eq!(decimal_scale(&[0.1 + 0.2]), None);
        assert_eq!(decimal_scale(&[1.0, -0.0]), None);
        assert_eq!(decimal_scale(&[f64::NAN]), None);
        assert_eq!(decimal_scale(&[f64::INFINITY]), None);
        assert_eq!(decimal_scale(&[1e-10]), None);
    }

    #[test]
    fn exact_division_agrees_with_the_remainder() {
        let divisors = [
            1u64,
            2,
            3,
            5,
            6,
            7,
            10,
            12,
            64,
            1000,
            4096,
            1 << 40,
            u64::MAX,
            0x8000_0000_0000_0000,
        ];
        let xs = [
            0u64,
            1,
            2,
            3,
            5,
            10,
            12,
            60,
            1000,
            4096,
            12_288,
            1 << 41,
            3 << 40,
            u64::MAX,
            u64::MAX - 1,
            0x8000_0000_0000_0000,
        ];
        for &d in &divisors {
            let e = ExactDiv::new(d);
            for &x in &xs {
                let want = (x % d == 0).then(|| x / d);
                assert_eq!(e.quotient(x), want, "{x} / {d}");
                if let Some(m) = x.checked_mul(d) {
                    assert_eq!(e.quotient(m), Some(x), "{x} · {d}");
                }
            }
        }
    }

    #[test]
    fn spread_finds_the_common_step_and_the_density() {
        // 0.5 W steps at k = 1: multiples of 5, every slot of 100..=200 used.
        let ints: Vec<i64> = (0..1000).map(|i| 1000 + (i % 201) * 5).collect();
        let s = Spread::of(&ints);
        assert_eq!((s.min, s.width, s.step), (1000, 1000, 5));
        assert!(s.dense(&ints));
        // Two values far apart fill both slots at their step: an index would save nothing.
        let far = [0, 1 << 40, 0, 1 << 40];
        let s = Spread::of(&far);
        assert_eq!(s.step, 1 << 40);
        assert!(s.dense(&far));
        let gaps = [0, 3, 7, 100, 0, 3];
        let s = Spread::of(&gaps);
        assert_eq!(s.step, 1);
        assert!(!s.dense(&gaps), "4 of 101 slots");
        // The extremes of i64 do not overflow.
        let ext = [i64::MIN, i64::MAX, 0];
        let s = Spread::of(&ext);
        assert_eq!((s.width, s.step), (u64::MAX, 1));
        assert!(!s.dense(&ext));
    }
}
