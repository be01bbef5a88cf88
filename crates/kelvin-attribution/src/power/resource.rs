//! [`ResourceModel`]: power linear in resource use, fitted by non-negative least squares.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::Serialize;

use super::Resource;
use crate::AttributionError;
use crate::nnls::nnls;

/// A linear power model `P = idle_w + Σ_r coef_w[r] · usage[r]`, with usage normalized so
/// that 1.0 is the resource fully used; every coefficient and the idle power are ≥ 0.
///
/// ```
/// use kelvin_attribution::power::{Resource, ResourceModel};
/// use ndarray::{Array1, Array2};
///
/// // 60 W idle, 120 W more with every core busy, 20 W more with memory saturated.
/// let n = 50;
/// let usage = Array2::from_shape_fn((n, 2), |(i, r)| {
///     let t = i as f64;
///     if r == 0 { (t * 0.37).sin().abs() } else { (t * 0.11).cos().abs() }
/// });
/// let power = Array1::from_shape_fn(n, |i| 60.0 + 120.0 * usage[[i, 0]] + 20.0 * usage[[i, 1]]);
/// let m = ResourceModel::fit(&[Resource::Cpu, Resource::Memory], usage.view(), power.view())?;
/// assert!((m.idle_w - 60.0).abs() < 1e-6 && (m.coef_w[0] - 120.0).abs() < 1e-6);
/// assert!((m.power_w(&[0.5, 0.0]) - 120.0).abs() < 1e-6);
/// assert!((m.dynamic_w(&[0.5, 1.0]) - 80.0).abs() < 1e-6);
/// # Ok::<(), kelvin_attribution::AttributionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceModel {
    /// The resource of each coefficient (a resource may appear more than once, e.g. one
    /// column per workload).
    pub resources: Vec<Resource>,
    /// Power with nothing in use, watts (0 for [`ResourceModel::fit_dynamic`]).
    pub idle_w: f64,
    /// Watts at full use of each resource, same order as `resources`.
    pub coef_w: Vec<f64>,
    /// Root-mean-square residual over the samples used, watts.
    pub rmse_w: f64,
    /// Coefficient of determination over the samples used (1 for a perfect fit, 0 when the
    /// model explains nothing beyond the mean; can be negative for a constrained fit).
    pub r2: f64,
    /// Samples used.
    pub samples: usize,
    /// Samples left out because a value was NaN or infinite.
    pub skipped: usize,
}

impl ResourceModel {
    /// Fits idle power and one coefficient per resource by non-negative least squares
    /// (`idle_w ≥ 0`, every `coef_w ≥ 0`). `usage` is `samples × resources`; rows with any
    /// non-finite usage or power are skipped and counted in `skipped`.
    ///
    /// # Errors
    /// [`crate::AttributionErrorKind::InvalidInput`] when `usage` does not have one column
    /// per resource and one row per power sample, when fewer than `resources + 2` rows are
    /// usable, or when the solver fails.
    pub fn fit(
        resources: &[Resource],
        usage: ArrayView2<'_, f64>,
        power_w: ArrayView1<'_, f64>,
    ) -> Result<ResourceModel, AttributionError> {
        fit_linear("resource model", resources, usage, power_w, true)
    }

    /// Fits the dynamic coefficients only, with the idle power known (e.g. from
    /// [`calibrate_idle`](super::calibrate_idle)): `dynamic_w` is power minus idle, and the result has `idle_w = 0`.
    /// Same skipping rules and requirements as [`ResourceModel::fit`].
    ///
    /// # Errors
    /// As [`ResourceModel::fit`].
    pub fn fit_dynamic(
        resources: &[Resource],
        usage: ArrayView2<'_, f64>,
        dynamic_w: ArrayView1<'_, f64>,
    ) -> Result<ResourceModel, AttributionError> {
        fit_linear("dynamic resource model", resources, usage, dynamic_w, false)
    }

    /// Predicted power, watts: `idle_w + dynamic_w(usage)`.
    pub fn power_w(&self, usage: &[f64]) -> f64 {
        self.idle_w + self.dynamic_w(usage)
    }

    /// Predicted power above idle, watts: `Σ coef_w[r] · usage[r]` (missing trailing usage
    /// entries count as 0, extra ones are ignored).
    pub fn dynamic_w(&self, usage: &[f64]) -> f64 {
        self.coef_w.iter().zip(usage).map(|(c, u)| c * u).sum()
    }
}

fn fit_linear(
    place: &str,
    resources: &[Resource],
    usage: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    intercept: bool,
) -> Result<ResourceModel, AttributionError> {
    let (n, r) = usage.dim();
    if r != resources.len() {
        return Err(AttributionError::invalid(
            place,
            format!("usage has {r} columns for {} resources", resources.len()),
        ));
    }
    if y.len() != n {
        return Err(AttributionError::invalid(
            place,
            format!("usage has {n} rows for {} power samples", y.len()),
        ));
    }
    let rows: Vec<usize> = (0..n)
        .filter(|&i| y[i].is_finite() && usage.row(i).iter().all(|v| v.is_finite()))
        .collect();
    let need = r + 2;
    if rows.len() < need {
        return Err(AttributionError::invalid(
            place,
            format!(
                "{} usable samples ({} skipped), need at least {need}",
                rows.len(),
                n - rows.len()
            ),
        ));
    }
    let k0 = usize::from(intercept);
    let mut a = Array2::zeros((rows.len(), k0 + r));
    let mut b = Array1::zeros(rows.len());
    for (k, &i) in rows.iter().enumerate() {
        if intercept {
            a[[k, 0]] = 1.0;
        }
        for j in 0..r {
            a[[k, k0 + j]] = usage[[i, j]];
        }
        b[k] = y[i];
    }
    let sol = nnls(a.view(), b.view()).map_err(|e| AttributionError::invalid(place, e.reason()))?;
    let idle_w = if intercept { sol.x[0] } else { 0.0 };
    let coef_w = sol.x.iter().skip(k0).copied().collect();
    let m = rows.len() as f64;
    let mean = b.sum() / m;
    let sst: f64 = b.iter().map(|v| (v - mean) * (v - mean)).sum();
    let sse = sol.residual_norm * sol.residual_norm;
    Ok(ResourceModel {
        resources: resources.to_vec(),
        idle_w,
        coef_w,
        rmse_w: (sse / m).sqrt(),
        r2: r_squared(sse, sst),
        samples: rows.len(),
        skipped: n - rows.len(),
    })
}

pub(super) fn r_squared(sse: f64, sst: f64) -> f64 {
    if sst > 0.0 {
        1.0 - sse / sst
    } else if sse <= 1e-24 {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::power::testing::gauss;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    #[test]
    fn fit_recovers_a_noisy_linear_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 2000;
        let res = [Resource::Cpu, Resource::Memory, Resource::Io];
        let truth = [55.0, 140.0, 35.0, 8.0];
        let mut usage = Array2::zeros((n, 3));
        let mut power = Array1::zeros(n);
        for i in 0..n {
            let mut p = truth[0];
            for r in 0..3 {
                let u: f64 = rng.random();
                usage[[i, r]] = u;
                p += truth[r + 1] * u;
            }
            power[i] = p + 2.0 * gauss(&mut rng);
        }
        usage[[5, 1]] = f64::NAN;
        power[9] = f64::INFINITY;
        let m = ResourceModel::fit(&res, usage.view(), power.view()).unwrap();
        assert_eq!((m.samples, m.skipped), (n - 2, 2));
        assert!((m.idle_w - truth[0]).abs() < 0.6, "{m:?}");
        for r in 0..3 {
            assert!((m.coef_w[r] - truth[r + 1]).abs() < 0.8, "{m:?}");
        }
        assert!((m.rmse_w - 2.0).abs() < 0.15 && m.r2 > 0.95, "{m:?}");

        // The same with the idle power known.
        let dynamic = power.mapv(|p| p - truth[0]);
        let d = ResourceModel::fit_dynamic(&res, usage.view(), dynamic.view()).unwrap();
        assert_eq!(d.idle_w, 0.0);
        for r in 0..3 {
            assert!((d.coef_w[r] - truth[r + 1]).abs() < 0.6, "{d:?}");
        }
    }

    #[test]
    fn fit_clamps_a_negative_true_coefficient() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 500;
        let mut usage = Array2::zeros((n, 2));
        let mut power = Array1::zeros(n);
        for i in 0..n {
            let (a, b): (f64, f64) = (rng.random(), rng.random());
            usage[[i, 0]] = a;
            usage[[i, 1]] = b;
            power[i] = 80.0 + 100.0 * a - 10.0 * b + 0.5 * gauss(&mut rng);
        }
        let m =
            ResourceModel::fit(&[Resource::Cpu, Resource::Io], usage.view(), power.view()).unwrap();
        assert_eq!(m.coef_w[1], 0.0);
        // The intercept absorbs the mean of the dropped term: 80 − 10 · 0.5.
        assert!(
            (m.idle_w - 75.0).abs() < 0.5 && (m.coef_w[0] - 100.0).abs() < 1.0,
            "{m:?}"
        );
    }

    #[test]
    fn fit_rejects_bad_shapes_and_too_few_rows() {
        let usage = Array2::from_elem((3, 1), 0.5);
        let power = Array1::from_elem(3, 100.0);
        let r = [Resource::Cpu];
        assert!(ResourceModel::fit(&r, usage.view(), power.view()).is_ok());
        assert!(ResourceModel::fit(&r, usage.view(), Array1::from_elem(2, 100.0).view()).is_err());
        assert!(
            ResourceModel::fit(&[Resource::Cpu, Resource::Io], usage.view(), power.view()).is_err()
        );
        let mut holes = power.clone();
        holes[0] = f64::NAN;
        let e = ResourceModel::fit(&r, usage.view(), holes.view()).unwrap_err();
        assert!(e.reason().contains("need at least 3"), "{e}");
    }
}
