//! Power curves for an inventory's hosts, sampled through the
//! [`MarginalPower`](kelvin_model::MarginalPower) capability, and the heuristics that make
//! fitted curves usable ([`sanitize_curves`]).

use kelvin_model::{EntityId, HostLoad, Inventory, MarginalPower, Resources};

/// Samples a host's power curve through the [`MarginalPower`] capability: the eleven SPEC
/// load points as `floor + ΔP(0 → u)` for an awake host, where the floor above sleep power is
/// the per-second slope of the energy of waking it with nothing to run (two durations, so the
/// boot energy cancels). A dip (models fitted on noisy data may have one) is flattened, since a
/// curve must not decrease. `None` when the provider has no model for the host or answers a
/// non-finite number.
///
/// ```
/// use kelvin_model::{EntityId, HostLoad, MarginalPower, Resources};
/// use kelvin_placement::fleet::sample_curve;
///
/// /// 40 W idle above sleep, 5 W per busy core.
/// struct Linear;
/// impl MarginalPower for Linear {
///     fn marginal_power_w(&self, _: &EntityId, added: &Resources) -> Option<f64> {
///         Some(5.0 * added.cpu_cores)
///     }
///     fn marginal_energy_j(&self, h: &EntityId, load: &HostLoad, added: &Resources, t: f64) -> Option<f64> {
///         let floor = if load.awake { 0.0 } else { 40.0 * t + 900.0 };
///         Some(self.marginal_power_w(h, added)? * t + floor)
///     }
/// }
/// let c = sample_curve(&Linear, &EntityId::new("h1")?, 8.0).unwrap();
/// assert_eq!((c[0], c[5], c[10]), (40.0, 60.0, 80.0));
/// # Ok::<(), kelvin_model::ModelError>(())
/// ```
pub fn sample_curve(m: &dyn MarginalPower, host: &EntityId, cores: f64) -> Option<[f64; 11]> {
    let idle = Resources::default();
    let e1 = m.marginal_energy_j(host, &HostLoad::asleep(), &idle, 1_000.0)?;
    let e2 = m.marginal_energy_j(host, &HostLoad::asleep(), &idle, 2_000.0)?;
    let floor = ((e2 - e1) / 1_000.0).max(0.0);
    let mut points = [0.0; 11];
    let mut last = floor;
    for (k, p) in points.iter_mut().enumerate() {
        let added = Resources::new(cores * k as f64 / 10.0, 0);
        let d = m.marginal_energy_j(host, &HostLoad::awake(idle), &added, 1.0)?;
        // Models fitted on noisy data may dip; a curve must not.
        last = last.max(floor + d.max(0.0));
        *p = last;
    }
    points.iter().all(|p| p.is_finite()).then_some(points)
}

/// [`sample_curve`] for every host of `inv`, in inventory order (all `None` without a
/// provider).
pub fn sample_curves(inv: &Inventory, power: Option<&dyn MarginalPower>) -> Vec<Option<[f64; 11]>> {
    inv.hosts
        .iter()
        .map(|h| power.and_then(|m| sample_curve(m, &h.id, h.capacity.cpu_cores)))
        .collect()
}

/// Makes sampled curves usable for placement: one complete curve per host, in the order given
/// (`cores[i]` is host `i`'s CPU capacity).
///
/// A fit is only as good as the load it saw, so three heuristics apply, in this order:
///
/// 1. A curve whose dynamic range per core is more than 4× from the fleet's median (a host
///    whose load never varied fits a flat line; one that saw a narrow range can extrapolate to
///    kilowatts) keeps its floor and takes the median host's dynamic shape, scaled to its
///    cores.
/// 2. A floor under a quarter of the median floor (a fit with no quiet data) is raised to the
///    median, the whole curve with it.
/// 3. A host without a curve gets the mean per-core curve of those with one (all zero when no
///    host has one: the optimizer then packs by stranded capacity and migrations only).
///
/// **Seam.** These are properties of fitted power models, not of placement: they belong with
/// the models (`PowerModels` in `kelvin-attribution`), whose [`MarginalPower`] answers would
/// then be sane already. Until they move there, [`Problem::from_inventory`] applies them here,
/// and this is the one function to take out when they do.
///
/// [`Problem::from_inventory`]: super::Problem::from_inventory
pub fn sanitize_curves(mut sampled: Vec<Option<[f64; 11]>>, cores: &[f64]) -> Vec<[f64; 11]> {
    adopt_median_shape(&mut sampled, cores);
    raise_low_floors(&mut sampled);
    fill_missing(&sampled, cores)
}

/// Heuristic 1 of [`sanitize_curves`].
fn adopt_median_shape(sampled: &mut [Option<[f64; 11]>], cores: &[f64]) {
    let per_core_range: Vec<Option<f64>> = sampled
        .iter()
        .zip(cores)
        .map(|(c, n)| c.filter(|_| *n > 0.0).map(|c| (c[10] - c[0]) / n))
        .collect();
    let mut ranges: Vec<f64> = per_core_range.iter().flatten().copied().collect();
    ranges.sort_by(f64::total_cmp);
    let Some(&median) = ranges.get(ranges.len() / 2).filter(|m| **m > 0.0) else {
        return;
    };
    let shape: Option<[f64; 11]> = sampled
        .iter()
        .zip(&per_core_range)
        .zip(cores)
        .find(|((_, r), _)| **r == Some(median))
        .and_then(|((c, _), n)| c.map(|c| c.map(|w| (w - c[0]) / n)));
    let Some(shape) = shape else {
        return;
    };
    for ((c, r), n) in sampled.iter_mut().zip(&per_core_range).zip(cores) {
        if let (Some(curve), Some(r)) = (c.as_mut(), r)
            && (*r < median / 4.0 || *r > median * 4.0)
        {
            let floor = curve[0];
            *curve = shape.map(|d| floor + d * n);
        }
    }
}

/// Heuristic 2 of [`sanitize_curves`].
fn raise_low_floors(sampled: &mut [Option<[f64; 11]>]) {
    let mut floors: Vec<f64> = sampled.iter().flatten().map(|c| c[0]).collect();
    floors.sort_by(f64::total_cmp);
    if let Some(&median) = floors.get(floors.len() / 2) {
        for c in sampled.iter_mut().flatten() {
            if c[0] < median / 4.0 {
                let lift = median - c[0];
                *c = c.map(|w| w + lift);
            }
        }
    }
}

/// Heuristic 3 of [`sanitize_curves`]: every host's curve, the mean per-core one where there
/// is none.
fn fill_missing(sampled: &[Option<[f64; 11]>], cores: &[f64]) -> Vec<[f64; 11]> {
    let known: Vec<(usize, f64)> = sampled
        .iter()
        .zip(cores)
        .enumerate()
        .filter(|(_, (c, n))| c.is_some() && **n > 0.0)
        .map(|(i, (_, n))| (i, *n))
        .collect();
    let mut per_core = [0.0; 11];
    for (i, n) in &known {
        if let Some(c) = sampled[*i] {
            for (acc, w) in per_core.iter_mut().zip(c) {
                *acc += w / n / known.len() as f64;
            }
        }
    }
    sampled
        .iter()
        .zip(cores)
        .map(|(c, n)| c.unwrap_or_else(|| per_core.map(|w| w * n)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(floor: f64, per_core: f64, cores: f64) -> [f64; 11] {
        std::array::from_fn(|k| floor + per_core * cores * k as f64 / 10.0)
    }

    fn assert_close(got: &[f64; 11], want: &[f64; 11]) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn outlying_ranges_take_the_median_shape_and_low_floors_are_raised() {
        let cores = [10.0, 10.0, 10.0, 20.0, 10.0];
        let sampled = vec![
            Some(linear(50.0, 4.0, 10.0)),
            Some(linear(60.0, 5.0, 10.0)),
            Some(linear(55.0, 6.0, 10.0)),
            // Flat: a host whose load never varied.
            Some(linear(70.0, 0.1, 20.0)),
            // No quiet data: a floor of 5 W.
            Some(linear(5.0, 5.0, 10.0)),
        ];
        let got = sanitize_curves(sampled, &cores);
        // The flat one keeps its floor and takes the median shape (5 W per core) on 20 cores.
        assert_close(&got[3], &linear(70.0, 5.0, 20.0));
        // The 5 W floor is under a quarter of the median floor (55 W) and is lifted to it.
        assert_close(&got[4], &linear(55.0, 5.0, 10.0));
        assert_eq!(got[0], linear(50.0, 4.0, 10.0));
    }

    #[test]
    fn hosts_without_a_curve_get_the_mean_per_core_curve() {
        let cores = [10.0, 20.0, 30.0];
        let got = sanitize_curves(
            vec![
                Some(linear(40.0, 4.0, 10.0)),
                Some(linear(80.0, 6.0, 20.0)),
                None,
            ],
            &cores,
        );
        // Per core: idle (4 + 4) / 2 = 4 W, full ((8 + 10) / 2) = 9 W; on 30 cores.
        assert_close(&got[2], &linear(120.0, 5.0, 30.0));
        // Without any curve every host gets zeros.
        assert_eq!(
            sanitize_curves(vec![None, None], &[8.0, 8.0]),
            [[0.0; 11]; 2]
        );
    }
}
