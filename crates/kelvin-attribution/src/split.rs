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
    let mut sum = 0.0;
    for &w in weights {
        if !(w.is_finite() && w >= 0.0) {
            return false;
        }
        sum += w;
    }
    if sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
        return false;
    }
    let fracs = &mut scratch.fracs;
    fracs.clear();
    let mut assigned: u64 = 0;
    let mut eligible = 0usize;
    let t = total as f64;
    let scale = t / sum;
    for (i, &w) in weights.iter().enumerate() {
        let quota = if w == sum { t } else { w * scale };
        // Non-negative, so the saturating cast is the floor (and needs no libm call).
        let floor = (quota as u64).min(total);
        out[i] = floor;
        assigned = assigned.saturating_add(floor);
        // Only positive weights may receive a leftover unit.
        fracs.push(if w > 0.0 {
            eligible += 1;
            (quota - floor as f64).max(0.0)
        } else {
            -1.0
        });
    }
    if assigned == total {
        return true;
    }
    if assigned < total && total - assigned <= eligible as u64 && (total - assigned) <= 16 {
        // The usual case: a few leftover units, one each to the largest remainders, ties
        // to the lower index (a strict `>` scan in index order keeps the first maximum).
        for _ in 0..total - assigned {
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

    proptest! {
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
