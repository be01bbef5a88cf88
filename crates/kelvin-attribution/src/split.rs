/// Splits `total` integer units in proportion to non-negative finite `weights`, exactly:
/// the result sums to `total` (Hamilton's largest-remainder method; ties go to the lower index,
/// so the split is deterministic).
///
/// Returns `None` when the weights sum to zero (nothing to split by) or any weight is negative
/// or not finite.
///
/// ```
/// use kelvin_attribution::largest_remainder;
/// assert_eq!(largest_remainder(10, &[1.0, 1.0, 1.0]), Some(vec![4, 3, 3]));
/// assert_eq!(largest_remainder(7, &[0.0, 2.0]), Some(vec![0, 7]));
/// assert_eq!(largest_remainder(7, &[0.0, 0.0]), None);
/// ```
pub fn largest_remainder(total: u64, weights: &[f64]) -> Option<Vec<u64>> {
    let mut parts = vec![0; weights.len()];
    let mut scratch = SplitScratch::default();
    largest_remainder_into(total, weights, &mut parts, &mut scratch).then_some(parts)
}

/// Reusable scratch space for [`largest_remainder_into`].
#[derive(Debug, Clone, Default)]
pub struct SplitScratch {
    /// Remainder of each weight (`-1` once it got its extra unit, or for zero weights).
    fracs: Vec<f64>,
    /// Sort keys for the rare slow path.
    keys: Vec<u128>,
}

/// [`largest_remainder`] without allocating: writes the parts into `out` (same length as
/// `weights`), using `scratch` (reuse it across calls). Returns `false`, leaving `out`
/// unspecified, where [`largest_remainder`] returns `None`.
///
/// ```
/// use kelvin_attribution::{SplitScratch, largest_remainder_into};
/// let (mut out, mut scratch) = ([0u64; 3], SplitScratch::default());
/// assert!(largest_remainder_into(10, &[1.0, 1.0, 1.0], &mut out, &mut scratch));
/// assert_eq!(out, [4, 3, 3]);
/// ```
///
/// # Panics
/// If `out.len() != weights.len()` (a caller bug, not a data error).
pub fn largest_remainder_into(
    total: u64,
    weights: &[f64],
    out: &mut [u64],
    scratch: &mut SplitScratch,
) -> bool {
    assert_eq!(out.len(), weights.len(), "one output per weight");
    // Summed in order; a negative or non-finite weight rejects the split. Checked without a
    // branch per weight (the check is off the sum's dependency chain).
    let mut sum = 0.0;
    let mut valid = true;
    for &w in weights {
        valid &= (0.0..=f64::MAX).contains(&w);
        sum += w;
    }
    if !valid || sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
        return false;
    }
    let fracs = &mut scratch.fracs;
    fracs.clear();
    fracs.resize(weights.len(), -1.0);
    // Below 2^62 every quota (at most `t` and a few ulps) and floor fit an `i64`, whose
    // conversions are one instruction each; the `u64` ones they replace give the same values
    // there.
    let (assigned, eligible) = if total <= 1 << 62 {
        floors::<true>(total, sum, weights, out, fracs)
    } else {
        floors::<false>(total, sum, weights, out, fracs)
    };
    if assigned == total {
        return true;
    }
    if assigned < total && total - assigned <= eligible as u64 && (total - assigned) <= 16 {
        // The usual case: a few leftover units, one each to the largest remainders, ties
        // to the lower index.
        let rest = total - assigned;
        if fracs.len() <= RANK_MAX {
            top_by_rank(fracs, rest, out);
        } else {
            top_by_scan(fracs, rest, out);
        }
        return true;
    }
    // Many leftover units or float error: order by remainder (largest first, then lower
    // index) with explicit keys. The complement of a non-negative float's bits sorts it
    // descending.
    let keys = &mut scratch.keys;
    keys.clear();
    for (i, &f) in fracs.iter().enumerate() {
        if f >= 0.0 {
            keys.push(((!f.to_bits() as u128) << 64) | i as u128);
        }
    }
    keys.sort_unstable();
    let index = |k: u128| k as u64 as usize;
    if assigned < total {
        let mut rest = total - assigned;
        let mut k = 0;
        while rest > 0 {
            out[index(keys[k % keys.len()])] += 1;
            rest -= 1;
            k += 1;
        }
    } else {
        // Floors overshot: take units back from the smallest remainders.
        let mut excess = assigned - total;
        let mut k = 0;
        while excess > 0 {
            let i = index(keys[keys.len() - 1 - (k % keys.len())]);
            if out[i] > 0 {
                out[i] -= 1;
                excess -= 1;
            }
            k += 1;
        }
    }
    true
}

/// Up to this many weights, the leftover units go by rank ([`top_by_rank`]); above it, by
/// repeated scans ([`top_by_scan`]), whose cost grows with the leftover count, not with the
/// square of the weights.
const RANK_MAX: usize = 24;

/// Writes each weight's floor of its quota `w · total / sum` into `out` and its remainder into
/// `fracs` (left at `-1` for a zero weight, which gets no leftover unit); returns the units
/// assigned and the count of positive weights.
///
/// `SMALL`: `total ≤ 2^62`, converted through `i64`.
#[inline(always)]
fn floors<const SMALL: bool>(
    total: u64,
    sum: f64,
    weights: &[f64],
    out: &mut [u64],
    fracs: &mut [f64],
) -> (u64, usize) {
    let mut assigned: u64 = 0;
    let mut eligible = 0usize;
    let t = total as f64;
    let scale = t / sum;
    for ((&w, o), fr) in weights.iter().zip(out.iter_mut()).zip(fracs.iter_mut()) {
        let quota = if w == sum { t } else { w * scale };
        // Non-negative, so the saturating cast is the floor (and needs no libm call).
        let (floor, floor_f) = if SMALL {
            let f = (quota as i64 as u64).min(total);
            (f, f as i64 as f64)
        } else {
            let f = (quota as u64).min(total);
            (f, f as f64)
        };
        *o = floor;
        assigned = assigned.saturating_add(floor);
        // Only positive weights may receive a leftover unit.
        if w > 0.0 {
            eligible += 1;
            *fr = (quota - floor_f).max(0.0);
        }
    }
    (assigned, eligible)
}

/// One more unit to each of the `k` largest remainders, ties to the lower index: the weight
/// ranked by how many remainders beat it (larger, or equal at a lower index) gets one when
/// fewer than `k` do. Zero weights (`-1`) rank below every positive one and `k` is at most
/// the count of positive ones, so they get none. The same units as [`top_by_scan`], in `n²`
/// independent comparisons (counted without stores, so they vectorize) instead of `k`
/// dependent scans.
#[inline(always)]
fn top_by_rank(fracs: &[f64], k: u64, out: &mut [u64]) {
    debug_assert!(fracs.len() <= RANK_MAX);
    for (i, (&fi, o)) in fracs.iter().zip(out.iter_mut()).enumerate() {
        let before: u32 = fracs[..i].iter().map(|&f| u32::from(f >= fi)).sum();
        let after: u32 = fracs[i + 1..].iter().map(|&f| u32::from(f > fi)).sum();
        *o += u64::from(u64::from(before + after) < k);
    }
}

/// One more unit to each of the `k` largest remainders, ties to the lower index, by `k` scans
/// (a strict `>` scan in index order keeps the first maximum).
fn top_by_scan(fracs: &mut [f64], k: u64, out: &mut [u64]) {
    for _ in 0..k {
        let mut best = 0;
        let mut best_frac = -1.0;
        for (i, &f) in fracs.iter().enumerate() {
            if f > best_frac {
                best = i;
                best_frac = f;
            }
        }
        out[best] += 1;
        fracs[best] = -1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn exact_cases() {
        assert_eq!(largest_remainder(100, &[1.0, 3.0]), Some(vec![25, 75]));
        assert_eq!(largest_remainder(1, &[1.0, 1.0]), Some(vec![1, 0]));
        assert_eq!(largest_remainder(0, &[1.0, 1.0]), Some(vec![0, 0]));
        assert_eq!(largest_remainder(5, &[]), None);
        assert_eq!(largest_remainder(5, &[-1.0, 2.0]), None);
        assert_eq!(largest_remainder(5, &[f64::NAN]), None);
        let big = largest_remainder(u64::MAX / 2, &[1e-300, 1.0, 1e300]).unwrap();
        assert_eq!(big.iter().sum::<u64>(), u64::MAX / 2);
    }

    /// The split before the rank selection and the `i64` conversions, kept as the oracle the
    /// faster one must match unit for unit.
    fn reference(total: u64, weights: &[f64]) -> Option<Vec<u64>> {
        let sum: f64 = weights.iter().sum();
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || !(sum > 0.0 && sum.is_finite())
        {
            return None;
        }
        let t = total as f64;
        let scale = t / sum;
        let mut out = vec![0u64; weights.len()];
        let mut fracs = vec![-1.0; weights.len()];
        let mut assigned = 0u64;
        let mut eligible = 0u64;
        for (i, &w) in weights.iter().enumerate() {
            let quota = if w == sum { t } else { w * scale };
            let floor = (quota as u64).min(total);
            out[i] = floor;
            assigned = assigned.saturating_add(floor);
            if w > 0.0 {
                eligible += 1;
                fracs[i] = (quota - floor as f64).max(0.0);
            }
        }
        if assigned < total && total - assigned <= eligible && total - assigned <= 16 {
            // The old selection: `k` strict-`>` scans, which the rank selection must match.
            top_by_scan(&mut fracs, total - assigned, &mut out);
            return Some(out);
        }
        // The slow path is unchanged; compare only the fast one.
        let mut scratch = SplitScratch::default();
        let mut o = vec![0; weights.len()];
        largest_remainder_into(total, weights, &mut o, &mut scratch).then_some(o)
    }

    proptest! {
        #[test]
        fn matches_the_reference(
            total in prop_oneof![0u64..1_000, 0u64..1u64 << 40, Just(u64::MAX / 3)],
            w in proptest::collection::vec(prop_oneof![Just(0.0), Just(1.0), Just(2.5), 0.0f64..1e6], 1..40),
        ) {
            prop_assert_eq!(largest_remainder(total, &w), reference(total, &w));
        }

        #[test]
        fn conserves_and_is_fair(total in 0u64..1u64 << 50, w in proptest::collection::vec(0.0f64..1e6, 1..20)) {
            if let Some(p) = largest_remainder(total, &w) {
                prop_assert_eq!(p.iter().sum::<u64>(), total);
                let sum: f64 = w.iter().sum();
                for (x, wi) in p.iter().zip(&w) {
                    let quota = total as f64 * wi / sum;
                    // within one unit of the exact quota (plus float slack on huge totals)
                    prop_assert!((*x as f64 - quota).abs() <= 1.0 + quota * 1e-12);
                    if *wi == 0.0 { prop_assert_eq!(*x, 0); }
                }
            } else {
                prop_assert!(w.iter().all(|x| *x == 0.0));
            }
        }
    }
}
