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
    let mut scratch = Vec::new();
    largest_remainder_into(total, weights, &mut parts, &mut scratch).then_some(parts)
}

/// [`largest_remainder`] without allocating: writes the parts into `out` (same length as
/// `weights`) and uses `scratch` for the remainders. Returns `false`, leaving `out`
/// unspecified, where [`largest_remainder`] returns `None`.
///
/// ```
/// use kelvin_attribution::largest_remainder_into;
/// let (mut out, mut scratch) = ([0u64; 3], Vec::new());
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
    scratch: &mut Vec<(f64, usize)>,
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
    scratch.clear();
    let mut assigned: u64 = 0;
    let t = total as f64;
    for (i, &w) in weights.iter().enumerate() {
        let quota = t * (w / sum);
        let floor = quota.floor().clamp(0.0, t) as u64;
        out[i] = floor;
        assigned = assigned.saturating_add(floor);
        let frac = quota - quota.floor();
        if frac > 0.0 || w > 0.0 {
            scratch.push((frac, i));
        }
    }
    if assigned == total {
        return true;
    }
    // Largest fractional part first; ties to the lower index.
    scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    if assigned < total {
        // Float error can make the remainder exceed the number of parts by a few units, so
        // cycle; units only go to parts with positive weight.
        let mut rest = total - assigned;
        scratch.retain(|f| weights[f.1] > 0.0);
        let mut k = 0;
        while rest > 0 {
            out[scratch[k % scratch.len()].1] += 1;
            rest -= 1;
            k += 1;
        }
    } else {
        // Floors overshot through float error: take units back from the smallest fractions.
        let mut excess = assigned - total;
        let mut k = 0;
        while excess > 0 {
            let i = scratch[scratch.len() - 1 - (k % scratch.len())].1;
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
